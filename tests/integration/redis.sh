#!/bin/sh
# SPDX-License-Identifier: MIT
# Integration test: redis-server running under strata.
#
# redis-server is started with LD_PRELOAD=$LIBSTRATA on 127.0.0.1 and a free
# port, then driven from outside (redis-benchmark and redis-cli run WITHOUT
# strata): a benchmark of set/get/lpush/lpop/incr must complete, a value of
# a few KB must come back byte for byte (also after APPENDs), INFO MEMORY
# must answer, /proc/PID/maps must show strata in the server, and the server
# must shut down cleanly (exit 0) on SIGTERM.
#
# Note: Debian's redis-server is linked with libjemalloc.  strata interposes
# malloc/calloc/realloc/free/malloc_usable_size; redis' few jemalloc-only
# calls (mallctl, nallocx, malloc_stats_print) still reach jemalloc, so the
# allocator_* figures of INFO MEMORY are jemalloc's, not strata's.
#
# Environment:
#   LIBSTRATA  (required) path to libstrata.so
# Exit: 0 pass, 1 fail, 77 skipped (redis-server/redis-cli/redis-benchmark
# not installed).

set -u
name=redis
. "$(dirname "$0")/common.sh"   # fail, skip, $lib, describe, make_tmp

. "$(dirname "$0")/redis_server.sh"   # server, cli, bench, start_server, stop_server, ...
tmp=$(make_tmp) || fail "mktemp -d failed"
trap 'stop_server; rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM
log=$tmp/strata.log
start_server strata "$lib"

# --- strata is in the server ---------------------------------------------------------
grep -qF "$lib" "/proc/$pid/maps" ||
    fail "$lib is not mapped into redis-server (pid $pid): /proc/$pid/maps"

status=0
# --- benchmark -----------------------------------------------------------------------
timeout 300 "$bench" -h 127.0.0.1 -p "$port" -n 200000 -c 20 -q \
    -t set,get,lpush,lpop,incr </dev/null >"$tmp/bench.raw" 2>&1
rc=$?
tr '\r' '\n' <"$tmp/bench.raw" | grep 'requests per second' >"$tmp/bench.out"
if [ "$rc" != 0 ]; then
    echo "$name: redis-benchmark: $(describe "$rc"); its output:" >&2
    tr '\r' '\n' <"$tmp/bench.raw" | tail -n 20 | sed 's/^/    /' >&2
    status=1
fi
for t in SET GET LPUSH LPOP INCR; do
    if ! grep -q "^$t: .*requests per second" "$tmp/bench.out"; then
        echo "$name: redis-benchmark did not complete the $t test" >&2
        status=1
    fi
done
if ! alive "$pid"; then
    show_log "$log"
    pid_was=$pid; stop_server
    fail "redis-server under strata (pid $pid_was) died during the benchmark ($(describe "$server_rc"))"
fi
# what the benchmark left behind (without -r it uses these literal keys)
v=$(rcli get counter:__rand_int__ 2>&1)
[ "$v" = 200000 ] || {
    echo "$name: counter:__rand_int__ after 200000 INCRs is '$v', expected 200000" >&2
    status=1
}
v=$(rcli strlen key:__rand_int__ 2>&1)
[ "$v" = 3 ] || {
    echo "$name: key:__rand_int__ after the SET test has length '$v', expected 3" >&2
    status=1
}
v=$(rcli llen mylist 2>&1)
[ "$v" = 0 ] || {
    echo "$name: mylist after 200000 LPUSH and 200000 LPOP has length '$v', expected 0" >&2
    status=1
}

# --- a value of a few KB, SET then GET, then grown by APPENDs ---------------------------
awk 'BEGIN { for (i = 0; i < 700; i++) printf "%05d:%s|", i, substr("abcdefghijklmnopqrstuvwxyz", i % 26 + 1, 5) }' \
    >"$tmp/value"           # 700 * 12 = 8400 bytes, no newline
size=$(wc -c <"$tmp/value")
out=$(timeout 30 "$cli" -h 127.0.0.1 -p "$port" -x set strata:big <"$tmp/value" 2>&1)
[ "$out" = OK ] || { echo "$name: SET of a $size-byte value answered: $out" >&2; status=1; }
rcli --raw get strata:big >"$tmp/got" 2>"$tmp/got.err"
{ cat "$tmp/value"; echo; } >"$tmp/expect"      # redis-cli adds a newline
if ! cmp -s "$tmp/expect" "$tmp/got"; then
    echo "$name: GET returned something else than the $size bytes SET:" >&2
    cmp "$tmp/expect" "$tmp/got" >&2
    cat "$tmp/got.err" >&2
    status=1
fi
i=0
while [ "$i" -lt 50 ]; do
    timeout 30 "$cli" -h 127.0.0.1 -p "$port" -x append strata:big \
        <"$tmp/value" >/dev/null 2>&1
    i=$((i + 1))
done
len=$(rcli strlen strata:big 2>&1)
[ "$len" = $((size * 51)) ] || {
    echo "$name: STRLEN after 50 APPENDs is '$len', expected $((size * 51))" >&2
    status=1
}
rcli --raw getrange strata:big $((size * 37)) $((size * 38 - 1)) >"$tmp/got" 2>&1
if ! cmp -s "$tmp/expect" "$tmp/got"; then
    echo "$name: GETRANGE of the 38th copy after APPENDs differs:" >&2
    cmp "$tmp/expect" "$tmp/got" >&2
    status=1
fi
[ "$(rcli del strata:big 2>&1)" = 1 ] || {
    echo "$name: DEL strata:big did not answer 1" >&2
    status=1
}

# --- INFO MEMORY -----------------------------------------------------------------------
rcli info memory >"$tmp/info" 2>&1
rc=$?
if [ "$rc" != 0 ] || ! grep -q '^used_memory:[0-9]' "$tmp/info"; then
    echo "$name: INFO MEMORY failed ($(describe "$rc")):" >&2
    head -n 20 "$tmp/info" | sed 's/^/    /' >&2
    status=1
fi

# --- clean shutdown --------------------------------------------------------------------
pid_was=$pid
stop_server
if [ "$server_rc" != 0 ]; then
    show_log "$log"
    echo "$name: redis-server under strata (pid $pid_was) ended with" \
        "$(describe "$server_rc") on SIGTERM, expected exit 0" >&2
    status=1
fi
if grep -q 'BUG REPORT\|crashed by signal\|Assertion\|free(): \|malloc(): ' \
        "$log"; then
    show_log "$log"
    echo "$name: the redis-server log reports a crash or an allocator error" >&2
    status=1
fi

[ "$status" = 0 ] || fail "redis-server under strata misbehaved (see above)"
echo "$name: PASS (port $port; $(tr '\n' ' ' <"$tmp/bench.out" |
    sed 's/ requests per second, p50=[0-9.]* msec/ rps/g; s/ $//'))"
exit 0
