#!/bin/sh
# SPDX-License-Identifier: MIT
# The control socket (STRATA_CONTROL=1) and tools/strata-ctl, on a running
# program (tests/control_child, STRATA_LEAK=full): the socket's place and
# modes; stats, report, mark and leaks since the mark, trim, profile (read
# by google-pprof) and heapmap; a peer of another uid refused (as root); a
# malformed, an oversized and a silent request answered with an error while
# the program lives on and serves the next client; clients that hang up
# (no SIGPIPE); a forked child's own socket, and a child that exits at
# once leaving its parent's alone; the file gone at exit; a
# directory open to others refused with one warning; Python under strata
# with the /tmp fallback; strata-run's default and --no-control.
name=control
. "$(dirname "$0")/integration/common.sh"
build=${BUILDDIR:-$(pwd)}
py=/usr/bin/python3
[ -x "$py" ] || skip "no /usr/bin/python3"
ctl_script="$(cd "$(dirname "$0")/.." && pwd)/tools/strata-ctl"
child="$build/tests/control_child"
[ -x "$child" ] || fail "$child is not built"
tmp=$(make_tmp)
pids=""
cleanup() {
    for p in $pids; do kill -TERM "$p" 2>/dev/null; done
    sleep 0.3
    for p in $pids; do kill -KILL "$p" 2>/dev/null; done
    chmod -R u+rwx "$tmp" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

# A runtime directory of this test's own, so that nothing else is touched.
run="$tmp/run"
mkdir -m 700 "$run"
export XDG_RUNTIME_DIR="$run"

ctl() { timeout 20 "$py" "$ctl_script" "$@"; }

# wait_for FILE TENTHS / wait_gone FILE TENTHS / wait_line FILE REGEX TENTHS
wait_for() {
    i=0
    while [ ! -e "$1" ]; do
        i=$((i + 1)); [ $i -gt "$2" ] && return 1; sleep 0.1
    done
}
wait_gone() {
    i=0
    while [ -e "$1" ]; do
        i=$((i + 1)); [ $i -gt "$2" ] && return 1; sleep 0.1
    done
}
wait_line() {
    i=0
    while ! grep -Eq "$2" "$1" 2>/dev/null; do
        i=$((i + 1)); [ $i -gt "$3" ] && return 1; sleep 0.1
    done
}
# wait_exit PID TENTHS: the process (a child of this shell) ended; its status
wait_exit() {
    i=0
    while kill -0 "$1" 2>/dev/null; do
        i=$((i + 1)); [ $i -gt "$2" ] && return 1; sleep 0.1
    done
    wait "$1"
}
alive() { kill -0 "$1" 2>/dev/null || fail "$2: the program died: $(tail -3 "$tmp/child.err")"; }

# ---- the program -------------------------------------------------------
env LD_PRELOAD="$lib" STRATA_CONTROL=1 STRATA_LEAK=full "$child" 120 \
    > "$tmp/child.out" 2> "$tmp/child.err" &
main=$!
pids="$main"
wait_line "$tmp/child.out" "^ready $main\$" 100 || fail "the program did not start: $(cat "$tmp/child.err")"
sock="$run/strata/$main.sock"
wait_for "$sock" 50 || fail "no socket at $sock: $(ls -la "$run" "$run/strata" 2>&1)"
[ -S "$sock" ] || fail "$sock is not a socket"
[ "$(stat -c %a "$run/strata")" = 700 ] || fail "directory mode $(stat -c %a "$run/strata"), not 700"
[ "$(stat -c %a "$sock")" = 600 ] || fail "socket mode $(stat -c %a "$sock"), not 600"

# ---- stats, report -----------------------------------------------------
ctl "$main" stats > "$tmp/stats.json" || fail "stats: $(head -3 "$tmp/stats.json")"
"$py" - "$tmp/stats.json" "$main" <<'PY' || fail "stats is not the JSON report"
import json, sys
d = json.load(open(sys.argv[1]))
for key in ("version", "api_version", "pid", "totals", "fragmentation", "huge_pages",
            "classes", "caches", "arenas", "nodes", "leaks"):
    assert key in d, "no key " + key
assert d["pid"] == int(sys.argv[2]), d["pid"]
assert d["totals"]["allocated"] >= 60000, d["totals"]
assert d["leaks"]["mode"] == "full", d["leaks"]["mode"]
PY
ctl "$main" report > "$tmp/report.txt" || fail "report failed"
head -1 "$tmp/report.txt" | grep -Eq "^strata [0-9.]+ heap report \(pid $main\)\$" ||
    fail "report header: $(head -1 "$tmp/report.txt")"
grep -q "^SUMMARY: strata:" "$tmp/report.txt" || fail "the text report has no leak summary"

# ---- mark, then leaks since the mark -----------------------------------
mark=$(ctl "$main" mark) || fail "mark failed: $mark"
case $mark in ''|*[!0-9]*) fail "mark replied '$mark', not a number" ;; esac
kill -USR1 "$main"
wait_line "$tmp/child.out" "^after\$" 50 || fail "the program did not allocate after the mark"
ctl "$main" leaks since "$mark" > "$tmp/since.txt" || fail "leaks since $mark failed"
grep -q "made since mark $mark" "$tmp/since.txt" || fail "leaks since: $(head -1 "$tmp/since.txt")"
grep -Eq " leak_after[+ ]" "$tmp/since.txt" || fail "leaks since $mark lacks leak_after: $(head -12 "$tmp/since.txt")"
grep -Eq " leak_before[+ ]" "$tmp/since.txt" && fail "leaks since $mark lists leak_before, allocated before the mark"
grep -q "^150000 bytes in 30 objects allocated from:" "$tmp/since.txt" ||
    fail "leaks since $mark: not 30 blocks of 5000 bytes: $(grep 'allocated from' "$tmp/since.txt")"
ctl "$main" leaks > "$tmp/all.txt" || fail "leaks failed"
grep -Eq " leak_before[+ ]" "$tmp/all.txt" && grep -Eq " leak_after[+ ]" "$tmp/all.txt" ||
    fail "leaks lacks a site: $(grep -c 'allocated from' "$tmp/all.txt") sites"

# ---- trim, profile, heapmap --------------------------------------------
ctl "$main" trim > "$tmp/trim.txt" || fail "trim failed"
grep -Eq '^released [0-9]+ bytes, rss [0-9]+ -> [0-9]+ bytes$' "$tmp/trim.txt" || fail "trim: $(cat "$tmp/trim.txt")"
ctl "$main" profile > "$tmp/heap.prof" || fail "profile failed"
head -1 "$tmp/heap.prof" | grep -q "@ heapprofile$" || fail "profile header: $(head -1 "$tmp/heap.prof")"
pprof_note="google-pprof not installed: profile not read"
if pprof=$(command -v google-pprof); then
    after=$("$pprof" --text --show_bytes "$child" "$tmp/heap.prof" 2>"$tmp/pprof.err" |
        awk '$6 == "leak_after" { print $4 }')
    [ "$after" = 150000 ] ||
        fail "google-pprof gives leak_after '$after' bytes, not 150000: $(head -3 "$tmp/pprof.err")"
    pprof_note="google-pprof reads the profile"
fi
ctl "$main" heapmap > "$tmp/heapmap.json" || fail "heapmap failed"
"$py" - "$tmp/heapmap.json" <<'PY' || fail "heapmap is wrong"
import json, sys
d = json.load(open(sys.argv[1]))
states = {"meta", "slab", "large", "free", "dirty", "decommitted"}
slab = 0
for a in d["arenas"]:
    free = 0
    for r in a["regions"]:
        assert sum(n for _, n in r["runs"]) == d["region_pages"], "runs do not tile a region"
        for state, n in r["runs"]:
            assert state in states, state
            free += n if state in ("free", "dirty", "decommitted") else 0
            slab += n if state == "slab" else 0
    assert free == a["free_pages"], (a["arena"], free, a["free_pages"])
assert slab > 0, "no slab pages"
print("heapmap: %d arenas, %d regions" % (len(d["arenas"]), sum(len(a["regions"]) for a in d["arenas"])))
PY

# ---- another uid (as root only) ----------------------------------------
# The directory (0700) already keeps other users out; it and the socket are
# opened up for a moment so that only the peer check stands in the way.
other_note="not root: the other-uid check skipped"
peer_client='
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
try:
    s.connect(sys.argv[1])
except OSError as e:
    print("OSError", e.errno)
    sys.exit(0)
try:
    s.sendall(b"stats\n")
except OSError:
    pass                        # refused before the request was read
print(s.recv(4096).decode(errors="replace"), end="")
'
if [ "$(id -u)" = 0 ] && command -v setpriv > /dev/null; then
    as_nobody() { timeout 20 setpriv --reuid=65534 --regid=65534 --clear-groups "$py" -c "$peer_client" "$sock"; }
    as_nobody > "$tmp/closed.txt" 2>&1
    grep -q "^OSError 13" "$tmp/closed.txt" || fail "uid 65534 reached the socket in its 0700 directory: $(head -2 "$tmp/closed.txt")"
    chmod 711 "$tmp" "$run" "$run/strata"
    chmod 666 "$sock"
    as_nobody > "$tmp/other.txt" 2>&1
    chmod 700 "$tmp" "$run" "$run/strata"
    chmod 600 "$sock"
    if grep -q "^OSError" "$tmp/other.txt"; then
        other_note="uid 65534 cannot reach $tmp at all ($(head -1 "$tmp/other.txt")): the peer check not reached"
    else
        grep -q "^error: permission denied: uid 65534" "$tmp/other.txt" ||
            fail "uid 65534 was not refused: $(head -c 200 "$tmp/other.txt")"
        other_note="uid 65534 refused"
    fi
fi
alive "$main" "other uid"

# ---- bad requests, silent and impatient clients ------------------------
"$py" - "$sock" <<'PY' || fail "bad requests"
import socket, sys, time
path = sys.argv[1]
def connect():
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(path)
    return s
def reply(s):
    out = b""
    try:
        while True:
            d = s.recv(65536)
            if not d:
                return out
            out += d
    except ConnectionResetError:      # the server closed with our bytes unread
        return out
def ask(request):
    s = connect()
    try:
        s.sendall(request)
    except OSError:
        pass
    r = reply(s)
    s.close()
    return r
for request, want in ((b"st\x01ats\n", b"error: malformed request"),
                      (b"frobnicate\n", b"error: unknown command 'frobnicate'"),
                      (b"stats now\n", b"error: stats takes no arguments"),
                      (b"leaks since x\n", b"error: usage: leaks [since MARK]"),
                      (b"\n", b"error: empty request"),
                      (b"x" * 100000, b"error: request longer than 256 bytes")):
    got = ask(request)
    assert got.startswith(want) and got.count(b"\n") == 1, (request[:20], got[:100])
# a silent client: the next one is served within a few seconds
start = time.monotonic()
idle = connect()
got = ask(b"help\n")
took = time.monotonic() - start
assert got.startswith(b"  stats") and took < 3, (got[:40], took)
assert reply(idle).startswith(b"error: no request line within"), "the silent client got no error"
# clients that hang up before the reply (SIGPIPE is the program's default)
for i in range(10):
    s = connect()
    s.sendall(b"report\n")
    s.close()
    time.sleep(0.05)
print("bad requests: errors; silent client held the next one %.1f s" % took)
PY
alive "$main" "after bad requests"
ctl "$main" stats | "$py" -c "import json, sys; json.load(sys.stdin)" || fail "no stats after the bad requests"
ctl "$main" frobnicate 2> "$tmp/err.txt" > /dev/null
rc=$?
[ $rc -eq 1 ] && grep -q "unknown command" "$tmp/err.txt" || fail "strata-ctl on an error reply: exit $rc, $(cat "$tmp/err.txt")"

# ---- a forked child ----------------------------------------------------
kill -HUP "$main"
wait_line "$tmp/child.out" "^reaped\$" 50 || fail "the program did not fork a quick child"
[ -S "$sock" ] || fail "a child that exited at once removed its parent's socket"
kill -USR2 "$main"
wait_line "$tmp/child.out" "^child [0-9]+\$" 50 || fail "the program did not fork"
cpid=$(sed -n 's/^child //p' "$tmp/child.out")
pids="$pids $cpid"
csock="$run/strata/$cpid.sock"
wait_for "$csock" 50 || fail "the forked child $cpid has no socket"
ctl "$cpid" stats > "$tmp/cstats.json" || fail "the child's stats failed"
"$py" -c "import json, sys; assert json.load(open(sys.argv[1]))['pid'] == int(sys.argv[2])" \
    "$tmp/cstats.json" "$cpid" || fail "the child's socket is not the child's"
kill -TERM "$cpid"
wait_gone "$csock" 50 || fail "the child's socket stays after its exit"
[ -S "$sock" ] || fail "the child removed its parent's socket"
ctl "$main" mark > /dev/null || fail "the parent does not answer after its child's exit"

# ---- exit ---------------------------------------------------------------
kill -TERM "$main"
wait_exit "$main" 100
rc=$?
[ $rc -eq 0 ] || fail "the program: $(describe $rc): $(tail -3 "$tmp/child.err")"
[ -e "$sock" ] && fail "the socket file stays after the program's exit"
[ -s "$tmp/child.err" ] && fail "the program said: $(head -3 "$tmp/child.err")"

# ---- a directory open to others: refused, with one warning -------------
mkdir -m 700 "$tmp/open" && mkdir -m 755 "$tmp/open/strata"
env XDG_RUNTIME_DIR="$tmp/open" LD_PRELOAD="$lib" STRATA_CONTROL=1 "$child" 1 > /dev/null 2> "$tmp/open.err"
rc=$?
[ $rc -eq 0 ] || fail "with an open directory the program failed: $(describe $rc)"
[ "$(wc -l < "$tmp/open.err")" -eq 1 ] &&
    grep -q "^strata: warning: control socket off: the directory $tmp/open/strata is open to group or others\$" \
        "$tmp/open.err" || fail "open directory: $(cat "$tmp/open.err")"
[ -z "$(ls "$tmp/open/strata")" ] || fail "a socket was made in an open directory"

# ---- Python, with the /tmp fallback; a stale socket --------------------
tsock_dir="/tmp/strata-$(id -u)"
env -u XDG_RUNTIME_DIR LD_PRELOAD="$lib" STRATA_CONTROL=1 "$py" -c '
import time
kept = [bytes(200) * (i % 7 + 1) for i in range(50000)]
time.sleep(3)
' 2> "$tmp/py.err" &
pyp=$!
pids="$pids $pyp"
wait_for "$tsock_dir/$pyp.sock" 50 || fail "python: no socket at $tsock_dir/$pyp.sock"
[ "$(stat -c %a "$tsock_dir")" = 700 ] || fail "$tsock_dir has mode $(stat -c %a "$tsock_dir")"
env -u XDG_RUNTIME_DIR timeout 20 "$py" "$ctl_script" "$pyp" heapmap > "$tmp/py.json" || fail "python: heapmap failed"
"$py" -c "import json, sys; json.load(open(sys.argv[1]))" "$tmp/py.json" || fail "python: heapmap is not JSON"
wait_exit "$pyp" 100
rc=$?
[ $rc -eq 0 ] || fail "python: $(describe $rc): $(tail -3 "$tmp/py.err")"
[ -e "$tsock_dir/$pyp.sock" ] && fail "python: the socket stays after exit"
env LD_PRELOAD="$lib" STRATA_CONTROL=1 "$child" 30 > "$tmp/killed.out" 2>&1 &
killed=$!
pids="$pids $killed"
wait_for "$run/strata/$killed.sock" 50 || fail "no socket for the program to kill"
kill -KILL "$killed"
wait "$killed" 2>/dev/null
ctl "$killed" stats > /dev/null 2> "$tmp/stale.txt" && fail "strata-ctl answered for a dead process"
grep -q "removed its stale socket" "$tmp/stale.txt" && [ ! -e "$run/strata/$killed.sock" ] ||
    fail "stale socket: $(cat "$tmp/stale.txt")"
ctl 2147483646 stats 2> "$tmp/nopid.txt" > /dev/null
[ $? -eq 2 ] || fail "strata-ctl for no process: $(cat "$tmp/nopid.txt")"

# ---- strata-run: on by default, --no-control ---------------------------
srun="$build/tools/strata-run"
on=$(env -u STRATA_CONTROL "$srun" -r off -- sh -c 'echo $STRATA_CONTROL') || fail "strata-run failed"
off=$("$srun" -r off --no-control -- sh -c 'echo $STRATA_CONTROL') || fail "strata-run --no-control failed"
[ "$on" = 1 ] && [ "$off" = 0 ] || fail "strata-run sets STRATA_CONTROL to '$on', with --no-control '$off'"

echo "$name: ok ($other_note; $pprof_note)"
