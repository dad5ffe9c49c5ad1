#!/bin/sh
# SPDX-License-Identifier: MIT
# Names for a stripped program (tools/strata-symbolize, elfutils' libdw):
# tests/trace_child, built with -g, is split as a distribution splits a
# package: its debug information in leaky.debug beside it (objcopy
# --only-keep-debug), the program stripped of every symbol and pointed at
# the file by .gnu_debuglink.  Run under strata with its leaks kept, its
# sites are named with function and FILE:LINE by strata-ctl's leaks and
# stats (live, by address in the process), by strata-symbolize from the
# JSON report's module and offset (after the fact), and by strata-plot's
# legend; with the debug file gone, or strata-ctl -n, they are not.  The C
# library's frames are named through its build ID when libc6-dbg is
# installed.
name=symbolize
. "$(dirname "$0")/integration/common.sh"
build=${BUILDDIR:-$(pwd)}
src=$(cd "$(dirname "$0")/.." && pwd)
py=/usr/bin/python3
sym="$build/tools/strata-symbolize"
[ -x "$sym" ] || skip "$sym is not built (configure found no libdw: apt-get install libdw-dev)"
export STRATA_SYMBOLIZE="$sym"
for t in objcopy strip; do command -v $t >/dev/null || fail "$t is not installed (binutils)"; done
child="$build/tests/trace_child"
[ -x "$child" ] || fail "$child is not built"
tmp=$(make_tmp)
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
export XDG_RUNTIME_DIR="$tmp/run"
mkdir -m 700 "$XDG_RUNTIME_DIR"
ctl() { timeout 30 "$py" "$src/tools/strata-ctl" "$@"; }

# ---- a stripped program, its debug information beside it ---------------
cp "$child" "$tmp/leaky"
objcopy --only-keep-debug "$tmp/leaky" "$tmp/leaky.debug" || fail "objcopy --only-keep-debug"
strip --strip-all "$tmp/leaky" || fail "strip"
(cd "$tmp" && objcopy --add-gnu-debuglink=leaky.debug leaky) || fail "objcopy --add-gnu-debuglink"
nm "$tmp/leaky" 2>&1 | grep -q leak_sessions && fail "leaky still has its symbols"
# the lines the names must give: the calls of the two leaking functions
line_sessions=$(grep -n 'sessions\[nsessions++\] = filled' "$src/tests/trace_child.c" | cut -d: -f1)
line_buffers=$(grep -n 'buffers\[nbuffers++\] = filled' "$src/tests/trace_child.c" | cut -d: -f1)
[ -n "$line_sessions" ] && [ -n "$line_buffers" ] || fail "the leaking lines are not in tests/trace_child.c"

timeout 120 env LD_PRELOAD="$lib" STRATA_CONTROL=1 STRATA_LEAK=full \
    STRATA_TRACE_FILE="$tmp/trace" STRATA_STATS_INTERVAL=1 \
    "$tmp/leaky" 1 wait > "$tmp/child.out" 2> "$tmp/child.err" &
for i in $(seq 100); do
    pid=$(awk '/^ready/ { print $2 }' "$tmp/child.out")
    [ -n "$pid" ] && [ -S "$XDG_RUNTIME_DIR/strata/$pid.sock" ] && break
    sleep 0.1
done
[ -n "$pid" ] && [ -S "$XDG_RUNTIME_DIR/strata/$pid.sock" ] || fail "leaky did not start: $(cat "$tmp/child.err")"

# ---- strata-ctl leaks: live, by address --------------------------------
ctl "$pid" leaks > "$tmp/leaks.txt" || fail "strata-ctl leaks"
grep -Eq "^    #0 0x[0-9a-f]+ in (filled [^ ]*trace_child\.c:[0-9]+ < )?leak_sessions [^ ]*trace_child\.c:$line_sessions \(" "$tmp/leaks.txt" ||
    fail "leaks does not name leak_sessions at trace_child.c:$line_sessions: $(grep '#0' "$tmp/leaks.txt" | head -5)"
grep -Eq "leak_buffers [^ ]*trace_child\.c:$line_buffers \(" "$tmp/leaks.txt" ||
    fail "leaks does not name leak_buffers at trace_child.c:$line_buffers"
grep -Eq "#1 0x[0-9a-f]+ in main [^ ]*trace_child\.c:[0-9]+ \(" "$tmp/leaks.txt" || fail "leaks does not name main"
# the C library by its build ID, where its debug file is installed
# (libc6-dbg: /usr/lib/debug/.build-id/NN/REST.debug)
libc=$(awk '$6 ~ /\/libc\.so\.6$/ { print $6; exit }' "/proc/$pid/maps")
id=$(readelf -n "$libc" 2>/dev/null | awk '/Build ID:/ { print $3 }')
if [ -n "$id" ] && [ -f "/usr/lib/debug/.build-id/$(echo "$id" | cut -c1-2)/$(echo "$id" | cut -c3-).debug" ]; then
    grep -Eq "#[0-9]+ 0x[0-9a-f]+ in __libc_start_call_main [^ ]+:[0-9]+ \(" "$tmp/leaks.txt" ||
        fail "libc's frames are not named from its build ID's debug file: $(grep 'libc' "$tmp/leaks.txt" | head -2)"
    echo "$name: libc named through its build ID"
fi
ctl -n "$pid" leaks > "$tmp/raw.txt" || fail "strata-ctl -n leaks"
grep -q "trace_child\.c" "$tmp/raw.txt" && fail "strata-ctl -n named lines"
grep -Eq '^    #0 0x[0-9a-f]+ \([^ ]*leaky\+0x[0-9a-f]+\)$' "$tmp/raw.txt" ||
    fail "without names, frames are not MODULE+OFFSET: $(grep '#0' "$tmp/raw.txt" | head -2)"

# ---- strata-ctl stats: a "source" for each frame -----------------------
ctl "$pid" stats > "$tmp/stats.json" || fail "strata-ctl stats"
"$py" - "$tmp/stats.json" "$line_sessions" "$tmp/pairs" <<'PY' || fail "stats' frames have no source"
import json, sys
d = json.load(open(sys.argv[1]))
sources = [f.get("source", "") for s in d["leaks"]["sites"] for f in s["frames"][:1]]
want = "trace_child.c:%s" % sys.argv[2]
assert any("leak_sessions" in s and want in s for s in sources), sources
# the module and offset of each first frame, for the offline names below
with open(sys.argv[3], "w") as out:
    for s in d["leaks"]["sites"]:
        f = s["frames"][0]
        out.write("%s %s\n" % (f["module"], hex(int(f["offset"], 16) - 1)))
PY

# ---- strata-symbolize MODULE OFFSET: after the fact --------------------
"$sym" < "$tmp/pairs" > "$tmp/offline.txt" || fail "strata-symbolize MODULE OFFSET"
grep -Eq "leak_sessions [^ ]*trace_child\.c:$line_sessions$" "$tmp/offline.txt" ||
    fail "offline: $(cat "$tmp/pairs") -> $(cat "$tmp/offline.txt")"
[ "$(wc -l < "$tmp/offline.txt")" = "$(wc -l < "$tmp/pairs")" ] || fail "not one line out per line in"

# ---- strata-plot's legend ----------------------------------------------
if "$py" -c 'import matplotlib' 2>/dev/null; then
    "$py" - "$src/tools/strata-plot" "$tmp/trace" <<'PY' || fail "strata-plot does not name the sites"
import importlib.machinery, importlib.util, json, sys
loader = importlib.machinery.SourceFileLoader("plot", sys.argv[1])
spec = importlib.util.spec_from_loader("plot", loader)
plot = importlib.util.module_from_spec(spec)
loader.exec_module(plot)
samples = plot.load(sys.argv[2])
sites = samples[-1]["leaks"]["sites"]
frames = [(f["module"], f["offset"]) for s in sites for f in s["frames"] if "module" in f]
names = plot.symbolize(frames)
labels = [plot.site_label(s, names) for s in sites]
assert any("leak_sessions" in l and "trace_child.c" in l for l in labels), labels
PY
fi

# ---- without the debug file: no names ----------------------------------
mv "$tmp/leaky.debug" "$tmp/elsewhere.debug"
ctl "$pid" leaks > "$tmp/nodebug.txt" || fail "strata-ctl leaks without debug information"
grep -q "trace_child\.c" "$tmp/nodebug.txt" && fail "names without the debug file"
grep -Eq "^[0-9]+ bytes in [0-9]+ objects allocated from:" "$tmp/nodebug.txt" ||
    fail "the report without names: $(head -4 "$tmp/nodebug.txt")"
kill -TERM "$pid"
echo "$name: ok"
