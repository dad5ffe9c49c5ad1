#!/bin/bash
# SPDX-License-Identifier: MIT
# Soak test: redis-server under strata through changing phases for a fixed
# time, watching its resident memory.  Not part of `make check` (it runs for
# minutes); run it by hand or with `make soak`.
#
# redis-server (save "", appendonly no, 127.0.0.1, a free port) runs with
# LD_PRELOAD=$LIBSTRATA.  Cycles of four phases repeat until SOAK_SECONDS are
# up (a new cycle starts only if one fits in the time left; at least one runs):
#
#   small  SET of 64-byte values on up to 200000 keys        (redis-benchmark)
#   large  SET of 4000-byte values on 50000 of the same keys (frees the small)
#   mixed  LPUSH onto 20000 lists and HSET into 20000 hashes, then LPOP
#   idle   FLUSHALL (samples labelled c<cycle>-flush), then SOAK_IDLE
#          seconds with no requests
#
# A sampler writes VmRSS every second, with the phase, to rss-strata.csv
# (time_s,phase,rss_kib; phases are named c<cycle>-<phase>, plus start and
# end); the end of every phase adds a sample of its own, and phases-strata.csv
# has the RSS and redis' used_memory at the end of each phase.  summary.md
# has every phase's peak and floor per cycle and the verdicts:
#
#   - the server is alive at the end and answers PING (and exits 0 on SIGTERM);
#   - RSS (every sample, and VmHWM) stays under SOAK_RSS_MAX_MIB;
#   - the first FLUSHALL+idle phase gives most memory back: its floor is
#     within max(32 MiB, 10% of the cycle's peak) of the RSS at start;
#   - after every FLUSHALL+idle phase, RSS goes back near the first idle floor:
#     within max(16 MiB, 20%) of it;
#   - no growth across cycles: the last cycle's peak is within
#     SOAK_GROWTH_PCT percent of the first's (needs two cycles).
#
# Debian's redis-server is linked with jemalloc: strata interposes malloc and
# free, and without the preload the server uses jemalloc, not glibc.
# SOAK_COMPARE=1 runs the same soak again without strata (for as long) and
# puts both in the summary; only the strata run is judged.
#
# Environment:
#   LIBSTRATA         (required) path to libstrata.so
#   SOAK_SECONDS      run time, default 240 (per run with SOAK_COMPARE=1)
#   SOAK_OUT          output directory, default ./soak-results
#   SOAK_RSS_MAX_MIB  RSS bound, default 400 (about 1.5 times the cycle peak
#                     of 270 MiB measured with Debian 12's redis 7.0.15)
#   SOAK_GROWTH_PCT   allowed growth of the cycle peak, default 15
#   SOAK_IDLE         seconds of the idle phase, default 5
#   SOAK_COMPARE      1: also run without strata
# Exit: 0 pass, 1 fail, 77 skipped (redis-server or redis-tools missing).

# make runs recipes with /bin/sh: this script needs bash
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"

set -u
export LC_ALL=C     # a dot in $EPOCHREALTIME and in awk's numbers
name=soak
. "$(dirname "$0")/integration/common.sh"   # fail, skip, $lib, describe, make_tmp

seconds=${SOAK_SECONDS:-240}
out=${SOAK_OUT:-./soak-results}
rss_max_mib=${SOAK_RSS_MAX_MIB:-400}
growth_pct=${SOAK_GROWTH_PCT:-15}
idle=${SOAK_IDLE:-5}
compare=${SOAK_COMPARE:-0}
whole() { case $2 in ''|*[!0-9]*) fail "$1 must be a whole number, not '$2'" ;; esac; }
whole SOAK_SECONDS "$seconds"
whole SOAK_RSS_MAX_MIB "$rss_max_mib"
whole SOAK_GROWTH_PCT "$growth_pct"
whole SOAK_IDLE "$idle"
[ "$idle" -ge 2 ] || fail "SOAK_IDLE must be at least 2 s (strata's decay is 250 ms)"

. "$(dirname "$0")/integration/redis_server.sh"   # server, cli, bench, start_server, ...
version=$("$server" --version 2>/dev/null)
own_malloc=$(echo "$version" | sed -n 's/.*malloc=\([a-z]*\).*/\1/p')
[ -n "$own_malloc" ] || own_malloc=builtin

mkdir -p "$out" || fail "cannot create $out"
out=$(cd "$out" && pwd)
tmp=$(make_tmp) || fail "mktemp -d failed"
sampler=

stop_sampler() {
    [ -n "$sampler" ] || return 0
    kill "$sampler" 2>/dev/null
    wait "$sampler" 2>/dev/null
    sampler=
}
trap 'stop_sampler; stop_server; rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM

now_us() { echo "${EPOCHREALTIME/./}"; }
# VmRSS of PID in KiB.  The file is read whole, in one read(): bash's `read`
# takes it a piece at a time, and /proc regenerates the text for each piece,
# so a line could come out garbled while the figures change.
rss_kib() {
    local st
    st=$(cat "/proc/$1/status" 2>/dev/null) || return 1
    [[ $st =~ VmRSS:[[:space:]]*([0-9]+) ]] || return 1
    echo "${BASH_REMATCH[1]}"
}
# sample PHASE: one CSV line, appended in one write so that the sampler's and
# the phase ends' lines do not mix; leaves the time in s_time, RSS in s_rss
sample() {
    local t
    s_rss=$(rss_kib "$pid") || return 1
    t=$(( $(now_us) - t0 ))
    s_time=$(printf '%d.%d' $((t / 1000000)) $((t / 100000 % 10)))
    echo "$s_time,$1,$s_rss" >>"$csv"
}
set_phase() {
    echo "$1" >"$tmp/phase.new" && mv -f "$tmp/phase.new" "$tmp/phase"
}
# the sampler: every second on the second (from t0), the current phase
run_sampler() {
    local n=1 ph wait_us
    while alive "$pid"; do
        wait_us=$(( t0 + n * 1000000 - $(now_us) ))
        [ "$wait_us" -gt 0 ] && sleep "$(printf '%d.%06d' $((wait_us / 1000000)) $((wait_us % 1000000)))"
        n=$((n + 1))
        read -r ph <"$tmp/phase" 2>/dev/null || ph=?
        sample "$ph"
    done
}

# bench LOG ARGS...: one redis-benchmark run; fails the soak if it does not complete
bench() {
    local log=$1 rc
    shift
    timeout 300 "$bench" -h 127.0.0.1 -p "$port" -c 20 -q "$@" </dev/null >"$log.raw" 2>&1
    rc=$?
    tr '\r' '\n' <"$log.raw" | grep 'requests per second' >>"$log"
    if [ "$rc" != 0 ] || ! tr '\r' '\n' <"$log.raw" | grep -q 'requests per second'; then
        echo "$name: redis-benchmark $* ($(describe "$rc")):" >&2
        tr '\r' '\n' <"$log.raw" | tail -n 10 | sed 's/^/    /' >&2
        alive "$pid" || { show_log "$tmp/$label.log"; fail "redis-server ($label) died during the $phase phase"; }
        fail "redis-benchmark failed in the $phase phase of cycle $cycle ($label)"
    fi
}

# end_phase: a sample at the phase's end, and the phase's line in phases-LABEL.csv
end_phase() {
    local used
    sample "c$cycle-$phase" || return 0
    used=$(rcli info memory 2>/dev/null | tr -d '\r' | sed -n 's/^used_memory:\([0-9]*\)$/\1/p')
    echo "$cycle,$phase,$s_time,$s_rss,$(( ${used:-0} / 1024 ))" >>"$phases"
}

v64=$(printf '%064d' 0)
v100=$(printf 'v%099d' 0)

# one_cycle: the four phases of cycle $cycle
one_cycle() {
    local b=$tmp/$label.bench
    phase=small; set_phase "c$cycle-$phase"
    bench "$b" -t set -d 64 -r 200000 -n 400000
    end_phase
    phase=large; set_phase "c$cycle-$phase"
    bench "$b" -t set -d 4000 -r 50000 -n 100000
    end_phase
    phase=mixed; set_phase "c$cycle-$phase"
    bench "$b" -r 20000 -n 200000 lpush 'list:__rand_int__' "$v100"
    bench "$b" -r 20000 -n 200000 hset 'hash:__rand_int__' 'f:__rand_int__' "$v64"
    bench "$b" -r 20000 -n 100000 lpop 'list:__rand_int__'
    end_phase
    # the FLUSHALL itself is labelled apart, so that the idle phase's samples
    # start with an empty database
    set_phase "c$cycle-flush"
    [ "$(rcli flushall 2>&1)" = OK ] || fail "FLUSHALL did not answer OK in cycle $cycle ($label)"
    phase=idle; set_phase "c$cycle-$phase"
    sleep "$idle"
    end_phase
}

# soak LABEL PRELOAD: a whole run; leaves rss-LABEL.csv, phases-LABEL.csv and
# the figures in $tmp/LABEL.*
soak() {
    label=$1
    local preload=$2 start_us elapsed cycle_s=0 last=0
    csv=$out/rss-$label.csv
    phases=$out/phases-$label.csv
    echo "time_s,phase,rss_kib" >"$csv"
    echo "cycle,phase,time_s,rss_kib,used_memory_kib" >"$phases"
    start_server "$label" "$preload"
    if [ -n "$preload" ]; then
        grep -qF "$preload" "/proc/$pid/maps" ||
            fail "$preload is not mapped into redis-server (pid $pid)"
    fi
    echo "$name: $label: redis-server pid $pid, port $port, $seconds s" >&2
    t0=$(now_us)
    set_phase start
    run_sampler &
    sampler=$!
    sleep 2
    cycle=0
    start_us=$(now_us)
    while :; do
        cycle=$((cycle + 1))
        one_cycle
        elapsed=$(( ($(now_us) - start_us) / 1000000 ))
        # another cycle only if the longest so far fits in the time left
        [ $((elapsed - last)) -gt "$cycle_s" ] && cycle_s=$((elapsed - last))
        last=$elapsed
        echo "$name: $label: cycle $cycle done at ${elapsed} s" >&2
        [ $((elapsed + cycle_s)) -le "$seconds" ] || break
    done
    set_phase end
    sleep 2
    stop_sampler
    echo "$cycle" >"$tmp/$label.cycles"
    sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$pid/status" >"$tmp/$label.hwm"
    echo "$(rcli ping 2>&1)" >"$tmp/$label.ping"
    alive "$pid" && echo yes >"$tmp/$label.alive" || echo no >"$tmp/$label.alive"
    local was=$pid
    stop_server
    echo "$server_rc" >"$tmp/$label.rc"
    cp "$tmp/$label.log" "$out/server-$label.log"
    [ "$server_rc" = 0 ] || echo "$name: $label: redis-server (pid $was) ended with $(describe "$server_rc") on SIGTERM" >&2
}

# stats LABEL: "phase peak_kib floor_kib samples" per phase, in order
stats() {
    awk -F, 'NR > 1 {
        if (!($2 in peak)) { order[n++] = $2; peak[$2] = $3; floor[$2] = $3 }
        if ($3 > peak[$2]) peak[$2] = $3
        if ($3 < floor[$2]) floor[$2] = $3
        cnt[$2]++
    } END { for (i = 0; i < n; i++) print order[i], peak[order[i]], floor[order[i]], cnt[order[i]] }' \
        "$out/rss-$1.csv"
}
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

# table LABEL: the markdown table of a run's cycles
table() {
    local st=$tmp/$1.stats c cycles p pk fl
    stats "$1" >"$st"
    cycles=$(cat "$tmp/$1.cycles")
    echo "| cycle | small peak / floor | large peak / floor | mixed peak / floor | idle peak / floor | cycle peak | used_memory after mixed |"
    echo "|---:|---:|---:|---:|---:|---:|---:|"
    for ((c = 1; c <= cycles; c++)); do
        printf '| %d ' "$c"
        for p in small large mixed idle; do
            read -r pk fl <<<"$(awk -v ph="c$c-$p" '$1 == ph { print $2, $3 }' "$st")"
            printf '| %s / %s ' "$(mib "${pk:-0}")" "$(mib "${fl:-0}")"
        done
        printf '| %s | %s |\n' "$(mib "$(cycle_peak "$1" "$c")")" \
            "$(mib "$(awk -F, -v c="$c" '$1 == c && $2 == "mixed" { print $5 }' "$out/phases-$1.csv")")"
    done
    echo
    read -r _ pk fl _ <<<"$(awk '$1 == "start"' "$st")"
    printf 'Start (before the first phase): %s MiB.  ' "$(mib "${fl:-0}")"
    read -r _ pk fl _ <<<"$(awk '$1 == "end"' "$st")"
    printf 'End (after the last idle phase): %s MiB.  ' "$(mib "${fl:-0}")"
    printf 'VmHWM: %s MiB.  %s cycle(s), %s samples.\n' "$(mib "$(cat "$tmp/$1.hwm")")" \
        "$cycles" "$(($(wc -l <"$out/rss-$1.csv") - 1))"
}

# cycle_peak LABEL C / idle_floor LABEL C, in KiB
cycle_peak() {
    awk -v c="c$2-" 'index($1, c) == 1 && $2 > m { m = $2 } END { print m + 0 }' "$tmp/$1.stats"
}
idle_floor() {
    awk -v ph="c$2-idle" '$1 == ph { print $3 }' "$tmp/$1.stats"
}

# --- the runs --------------------------------------------------------------------------
soak strata "$lib"
if [ "$compare" = 1 ]; then
    soak "$own_malloc" ""
fi

# --- verdicts on the strata run ------------------------------------------------------------
summary=$out/summary.md
verdicts=$tmp/verdicts
: >"$verdicts"
status=0
verdict() {     # verdict ok|FAIL TEXT
    echo "- **$1**: $2" >>"$verdicts"
    if [ "$1" != ok ]; then
        echo "$name: FAIL: $2" >&2
        status=1
    fi
}

table strata >"$tmp/strata.table"
cycles=$(cat "$tmp/strata.cycles")

if [ "$(cat "$tmp/strata.alive")" = yes ] && [ "$(cat "$tmp/strata.ping")" = PONG ]; then
    verdict ok "the server was alive at the end and answered PING"
else
    show_log "$out/server-strata.log"
    verdict FAIL "the server at the end: alive $(cat "$tmp/strata.alive"), PING answered '$(cat "$tmp/strata.ping")'"
fi
rc=$(cat "$tmp/strata.rc")
if [ "$rc" = 0 ]; then
    verdict ok "the server exited 0 on SIGTERM"
else
    verdict FAIL "the server ended with $(describe "$rc") on SIGTERM"
fi
if grep -q 'BUG REPORT\|crashed by signal\|^strata:\|free(): \|malloc(): ' "$out/server-strata.log"; then
    show_log "$out/server-strata.log"
    verdict FAIL "the server log reports a crash or an allocator error"
fi

max=$(awk 'NR > 1 && $3 > m { m = $3 } END { print m + 0 }' FS=, "$out/rss-strata.csv")
hwm=$(cat "$tmp/strata.hwm")
[ "${hwm:-0}" -gt "$max" ] && max=$hwm
if [ "$max" -le $((rss_max_mib * 1024)) ]; then
    verdict ok "RSS stayed under ${rss_max_mib} MiB: highest $(mib "$max") MiB (samples and VmHWM)"
else
    verdict FAIL "RSS reached $(mib "$max") MiB, above the bound of ${rss_max_mib} MiB"
fi

# the first FLUSHALL must give most of the memory back: compared with the
# RSS before any request (the later idle floors are compared with this one)
f1=$(idle_floor strata 1)
s0=$(awk '$1 == "start" { print $3 }' "$tmp/strata.stats")
p1=$(cycle_peak strata 1)
room=$((p1 / 10))
[ "$room" -lt 32768 ] && room=32768
if [ "$f1" -le $((s0 + room)) ]; then
    verdict ok "the first idle floor $(mib "$f1") MiB is within $(mib "$room") MiB of the RSS at start, $(mib "$s0") MiB (cycle peak $(mib "$p1") MiB)"
else
    verdict FAIL "the first FLUSHALL gave too little back: idle floor $(mib "$f1") MiB, RSS at start $(mib "$s0") MiB, allowed $(mib "$room") MiB more (cycle peak $(mib "$p1") MiB)"
fi
slack=$((f1 / 5))
[ "$slack" -lt 16384 ] && slack=16384
worst=0 worst_c=1 bad_cycles=
for ((c = 1; c <= cycles; c++)); do
    f=$(idle_floor strata "$c")
    [ "$f" -gt "$worst" ] && { worst=$f; worst_c=$c; }
    [ "$f" -le $((f1 + slack)) ] || bad_cycles="$bad_cycles $c ($(mib "$f") MiB)"
done
if [ -z "$bad_cycles" ]; then
    verdict ok "every idle phase went back within $(mib "$slack") MiB of the first idle floor of $(mib "$f1") MiB (highest: $(mib "$worst") MiB, cycle $worst_c)"
else
    verdict FAIL "idle floors more than $(mib "$slack") MiB above the first one ($(mib "$f1") MiB) in cycle(s)$bad_cycles"
fi

if [ "$cycles" -ge 2 ]; then
    p1=$(cycle_peak strata 1)
    pn=$(cycle_peak strata "$cycles")
    pct=$(awk -v a="$p1" -v b="$pn" 'BEGIN { printf "%+.1f", (b - a) * 100 / a }')
    if [ $((pn * 100)) -le $((p1 * (100 + growth_pct))) ]; then
        verdict ok "no growth: the last cycle's peak $(mib "$pn") MiB is ${pct}% from the first's $(mib "$p1") MiB (bound +${growth_pct}%)"
    else
        verdict FAIL "growth: the last cycle's peak $(mib "$pn") MiB is ${pct}% above the first's $(mib "$p1") MiB (bound +${growth_pct}%)"
    fi
else
    echo "- growth not checked: only one cycle fitted in ${seconds} s" >>"$verdicts"
fi

# --- summary -------------------------------------------------------------------------------
{
    echo "# strata soak: redis-server"
    echo
    echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -r), $(nproc) CPUs; $version."
    echo "strata: \`$lib\`; SOAK_SECONDS=$seconds, idle phases of ${idle} s."
    echo
    echo "Phases of a cycle: small = 400000 SET of 64 B on 200000 keys; large = 100000 SET"
    echo "of 4000 B on 50000 of them; mixed = 200000 LPUSH of 100 B on 20000 lists, 200000"
    echo "HSET of 64 B into 20000 hashes, 100000 LPOP; idle = FLUSHALL and ${idle} s without"
    echo "requests.  RSS in MiB, sampled every second and at the end of each phase"
    echo "(rss-*.csv); used_memory is redis' own count of its data (phases-*.csv)."
    echo
    echo "## strata (LD_PRELOAD)"
    echo
    cat "$tmp/strata.table"
    echo
    echo "## Verdicts"
    echo
    cat "$verdicts"
    if [ "$compare" = 1 ]; then
        echo
        echo "## $own_malloc (no preload: redis' own allocator), for comparison"
        echo
        table "$own_malloc"
        echo
        echo "Cycle peak and idle floor, strata against $own_malloc (MiB):"
        echo
        echo "| cycle | strata peak | $own_malloc peak | strata idle floor | $own_malloc idle floor |"
        echo "|---:|---:|---:|---:|---:|"
        oc=$(cat "$tmp/$own_malloc.cycles")
        for ((c = 1; c <= (cycles > oc ? cycles : oc); c++)); do
            a=- b=- x=- y=-
            [ "$c" -le "$cycles" ] && { a=$(mib "$(cycle_peak strata "$c")"); x=$(mib "$(idle_floor strata "$c")"); }
            [ "$c" -le "$oc" ] && { b=$(mib "$(cycle_peak "$own_malloc" "$c")"); y=$(mib "$(idle_floor "$own_malloc" "$c")"); }
            echo "| $c | $a | $b | $x | $y |"
        done
    fi
} >"$summary"

cat "$summary"
echo
[ "$status" = 0 ] || fail "see $summary"
echo "$name: PASS ($cycles cycle(s) in ${seconds} s; results in $out)"
exit 0
