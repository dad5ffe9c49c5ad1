#!/bin/sh
# SPDX-License-Identifier: MIT
# Integration test: redis-server under strata, watched while
# redis-benchmark drives it (issue 13's whole flow).  The server runs with
# STRATA_CONTROL=1 and STRATA_TRACE_FILE (a sample a second); while the
# benchmark fills it with 100,000 keys, strata-top shows it live (under
# tmux, when installed), and strata-ctl answers stats (JSON, growing),
# mark and profile (gperftools' format, read by google-pprof when
# installed); after a clean SIGTERM, strata-plot draws the recorded run:
# a sample every second, memory that grew, six plots.
#
# Exit: 0 pass, 1 fail, 77 skipped (redis or python3-matplotlib missing).
set -u
name=redis_watch
. "$(dirname "$0")/common.sh"
. "$(dirname "$0")/redis_server.sh"
src=$(cd "$(dirname "$0")/../.." && pwd)
py=/usr/bin/python3
[ -x "$py" ] || skip "no /usr/bin/python3"
"$py" -c 'import matplotlib' 2>/dev/null || skip "python3-matplotlib is not installed (tools/install-deps)"
tmp=$(make_tmp) || fail "mktemp -d failed"
session=strata-watch-$$
bench_pid=
trap 'tmux kill-session -t $session 2>/dev/null; [ -n "$bench_pid" ] && kill $bench_pid 2>/dev/null; stop_server; rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM
export XDG_RUNTIME_DIR="$tmp/run"
mkdir -m 700 "$XDG_RUNTIME_DIR"
ctl() { timeout 30 "$py" "$src/tools/strata-ctl" "$@"; }

# The server's environment (redis-cli and redis-benchmark inherit it too,
# without strata preloaded: it does nothing to them).
export STRATA_CONTROL=1 STRATA_TRACE_FILE="$tmp/trace.%p" STRATA_STATS_INTERVAL=1 \
    STRATA_LEAK_SAMPLE=64k
start_server strata "$lib"
sock="$XDG_RUNTIME_DIR/strata/$pid.sock"
for i in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
[ -S "$sock" ] || fail "redis-server (pid $pid) made no control socket at $sock: $(ls -la "$XDG_RUNTIME_DIR" "$XDG_RUNTIME_DIR/strata" /proc/$pid/fd 2>&1; tail -5 "$tmp/strata.log")"

ctl "$pid" stats > "$tmp/before.json" || fail "strata-ctl stats before the load"
mark=$(ctl "$pid" mark) || fail "strata-ctl mark: $mark"

# ---- the load, watched -------------------------------------------------
timeout 300 "$bench" -h 127.0.0.1 -p "$port" -n 100000 -r 100000 -d 512 -c 20 -q \
    -t set,lpush,get </dev/null >"$tmp/bench.raw" 2>&1 &
bench_pid=$!
have_tmux=no
if command -v tmux >/dev/null; then
    have_tmux=yes
    tmux new-session -d -s "$session" -x 160 -y 50 \
        "XDG_RUNTIME_DIR=$XDG_RUNTIME_DIR $src/tools/strata-top -d 0.5 $pid; sleep 60"
fi
sleep 2
ctl "$pid" stats > "$tmp/during.json" || fail "strata-ctl stats during the load"
ctl "$pid" profile > "$tmp/heap.prof" || fail "strata-ctl profile during the load"
if [ "$have_tmux" = yes ]; then
    for i in $(seq 100); do
        tmux capture-pane -p -t "$session" | grep -q "^PID $pid  RSS" && break
        sleep 0.1
    done
    tmux capture-pane -p -t "$session" > "$tmp/top.txt"
    grep -q "^PID $pid  RSS" "$tmp/top.txt" || fail "strata-top does not show redis-server: $(cat "$tmp/top.txt")"
    grep -q "size classes (by slack)" "$tmp/top.txt" || fail "strata-top shows no size classes"
fi
wait "$bench_pid"
rc=$?
bench_pid=
[ "$rc" = 0 ] || fail "redis-benchmark: $(describe "$rc"): $(tr '\r' '\n' < "$tmp/bench.raw" | tail -3)"
for t in SET LPUSH GET; do
    tr '\r' '\n' < "$tmp/bench.raw" | grep -q "^$t: .*requests per second" ||
        fail "redis-benchmark did not complete $t"
done
[ "$(rcli dbsize)" -gt 30000 ] || fail "the benchmark left $(rcli dbsize) keys"
ctl "$pid" stats > "$tmp/after.json" || fail "strata-ctl stats after the load"
ctl "$pid" leaks since "$mark" > "$tmp/since.txt" || fail "strata-ctl leaks since $mark"
sleep 1.2                                 # a sample of the loaded server

"$py" - "$tmp/before.json" "$tmp/during.json" "$tmp/after.json" "$pid" <<'PY' || fail "stats"
import json, sys
before, during, after = (json.load(open(p)) for p in sys.argv[1:4])
for d in (before, during, after):
    assert d["pid"] == int(sys.argv[4]), d["pid"]
grown = after["totals"]["allocated"] - before["totals"]["allocated"]
assert grown > 10 << 20, "allocated grew by %d bytes only" % grown
assert after["leaks"]["sites_total"] > 0, after["leaks"]
print("redis_watch: allocated %d -> %d bytes, %d call sites"
      % (before["totals"]["allocated"], after["totals"]["allocated"], after["leaks"]["sites_total"]))
PY
head -1 "$tmp/heap.prof" | grep -q "@ heapprofile$" || fail "profile header: $(head -1 "$tmp/heap.prof")"
if pprof=$(command -v google-pprof); then
    "$pprof" --text "$server" "$tmp/heap.prof" > "$tmp/pprof.txt" 2>"$tmp/pprof.err" ||
        fail "google-pprof cannot read the profile: $(tail -3 "$tmp/pprof.err")"
    grep -q "^Total: " "$tmp/pprof.txt" || fail "google-pprof: $(head -3 "$tmp/pprof.txt")"
fi
grep -q "made since mark $mark" "$tmp/since.txt" || fail "leaks since $mark: $(head -2 "$tmp/since.txt")"

stop_server
[ "$server_rc" = 0 ] || fail "redis-server under strata exited with $(describe "$server_rc")"
[ -e "$sock" ] && fail "the socket file outlived the server"

# ---- the recorded run, plotted -----------------------------------------
trace=$(ls "$tmp"/trace.* 2>/dev/null | head -1)
[ -n "$trace" ] || fail "no trace file"
timeout 120 "$py" "$src/tools/strata-plot" -o "$tmp/redis.html" "$trace" > "$tmp/plot.out" 2>&1 ||
    fail "strata-plot: $(cat "$tmp/plot.out")"
"$py" - "$trace" "$tmp/redis.html" <<'PY' || fail "the recorded run"
import json, sys
# A sample is written in pieces: one the writer thread had not finished
# when the server exited is the file's last line, without its newline.
lines = open(sys.argv[1]).read().split("\n")
samples = [json.loads(l) for l in lines[:-1]]
assert len(samples) >= 4, "%d samples" % len(samples)
alloc = [s["totals"]["allocated"] for s in samples]
assert max(alloc) > alloc[0] + (10 << 20), alloc
page = open(sys.argv[2]).read()
for pid in ("memory", "fragmentation", "classes", "arenas", "heapmap", "leaks"):
    assert '<figure id="plot-%s"><img' % pid in page, pid
print("redis_watch: %d samples over %.0f s, allocated up to %d bytes"
      % (len(samples), samples[-1]["time"] - samples[0]["time"], max(alloc)))
PY
echo "$name: ok"
