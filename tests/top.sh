#!/bin/sh
# SPDX-License-Identifier: MIT
# tools/strata-top as a user sees it, in a terminal under tmux: a process
# with the control socket shows its figures, size classes and call sites;
# the keys sort, mark (a site allocated after the mark shows as grown),
# trim and quit.
name=top
. "$(dirname "$0")/integration/common.sh"
command -v tmux >/dev/null || skip "tmux is not installed"
src=$(cd "$(dirname "$0")/.." && pwd)
child=${BUILDDIR:-.}/tests/control_child
[ -x "$child" ] || skip "$child is not built"
tmp=$(make_tmp)
session=strata-top-test-$$
export XDG_RUNTIME_DIR="$tmp/run"
mkdir -m 700 "$XDG_RUNTIME_DIR"
timeout 120 env STRATA_CONTROL=1 STRATA_LEAK=full LD_PRELOAD="$lib" "$child" 100 >"$tmp/child.out" 2>&1 &
trap 'tmux kill-session -t $session 2>/dev/null; [ -n "$pid" ] && kill $pid 2>/dev/null; rm -rf "$tmp"' EXIT
for i in $(seq 50); do
    pid=$(awk '/^ready/ { print $2 }' "$tmp/child.out")
    [ -n "$pid" ] && [ -S "$XDG_RUNTIME_DIR/strata/$pid.sock" ] && break
    sleep 0.1
done
[ -S "$XDG_RUNTIME_DIR/strata/$pid.sock" ] || fail "the child made no socket"

screen() { tmux capture-pane -p -t "$session"; }
# wait_for TEXT: until the screen shows TEXT (10 s at most)
wait_for() {
    for i in $(seq 100); do
        screen | grep -qF -- "$1" && return 0
        sleep 0.1
    done
    screen >&2
    fail "strata-top never showed '$1'"
}
tmux new-session -d -s "$session" -x 160 -y 50 \
    "XDG_RUNTIME_DIR=$XDG_RUNTIME_DIR $src/tools/strata-top -d 0.5 $pid; echo strata-top exited \$?; sleep 30"
wait_for "PID $pid  RSS"
wait_for "size classes (by slack)"
screen | grep -qE '^ +3072 +20 ' || fail "the 3072-byte class with leak_before's 20 blocks is not shown: $(screen)"
wait_for "call sites grown since the start (leak tracking: full)"

tmux send-keys -t "$session" m
wait_for "mark 1"
wait_for "call sites grown since mark 1"
kill -USR1 "$pid"                # the child keeps 30 blocks of 5000 bytes
wait_for "+150000 bytes       30 objects  "
# named by dladdr (leak_after+0x2a), or from debug information by
# strata-symbolize (keep control_child.c:N < leak_after control_child.c:M)
screen | grep -Eq '\+150000 bytes +30 objects .*leak_after[+ ]' || fail "the grown site is not leak_after: $(screen)"
screen | grep -q 'leak_before' && fail "a site from before the mark shows as grown"

tmux send-keys -t "$session" s
wait_for "size classes (by bytes)"
screen | grep -A2 'live bytes' | grep -qE '^ +5120 +30 ' || fail "sorted by bytes, the 5120 class is not first: $(screen)"

tmux send-keys -t "$session" t
wait_for "trim: released"

tmux send-keys -t "$session" q
wait_for "strata-top exited 0"
echo "$name: ok"
