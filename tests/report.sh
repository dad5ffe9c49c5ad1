#!/bin/sh
# SPDX-License-Identifier: MIT
# The three report formats: JSON parses, the Prometheus output passes a
# strict parser and agrees with the API, strata-run prints a report for a
# real program, STRATA_STATS_FILE is written while a program runs, and
# strata-run refuses bad options and missing programs.
set -u
here=$(cd "$(dirname "$0")" && pwd)
build=${BUILDDIR:-$(pwd)}
lib=${LIBSTRATA:?LIBSTRATA must name libstrata.so}
run="$build/tools/strata-run"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "report: FAIL: $*" >&2; exit 1; }

# 1. the API and the files written at the same moment agree
"$build/tests/report_check" "$tmp/m.prom" "$tmp/m.json" > "$tmp/api.txt" || fail "report_check failed"
python3 -m json.tool "$tmp/m.json" > /dev/null || fail "JSON report does not parse"
python3 "$here/promcheck.py" "$tmp/m.prom" || fail "Prometheus report rejected"
python3 - "$tmp/m.prom" "$tmp/api.txt" "$tmp/m.json" <<'PY' || fail "figures disagree"
import json, subprocess, sys
prom = {}
for line in open(sys.argv[1]):
    if line.startswith("#"):
        continue
    name, value = line.rsplit(" ", 1)
    prom[name] = float(value)
api = dict(line.split() for line in open(sys.argv[2]))
for key, value in api.items():
    got = prom.get("strata_" + key)
    assert got is not None, f"strata_{key} missing"
    assert got == float(value), f"strata_{key}: file {got}, API {value}"
j = json.load(open(sys.argv[3]))
assert j["totals"]["allocated"] == int(api["allocated_bytes"]), "JSON allocated"
assert j["totals"]["nmalloc"] == int(api["mallocs_total"]), "JSON nmalloc"
assert len(j["classes"]) == 56 and len(j["fragmentation"]["buddyinfo"]) == 13
print("report: API, JSON and Prometheus agree on", len(api), "figures")
PY

# 2. strata-run on a real program prints the report (and a leak report)
"$run" -l full -- sqlite3 :memory: "create table t(a); insert into t values (1);" \
	2> "$tmp/text.txt" > /dev/null || fail "strata-run sqlite3 failed"
grep -q "^strata .* heap report" "$tmp/text.txt" || fail "no heap report from strata-run"
grep -q "bytes in .* objects allocated from:" "$tmp/text.txt" || fail "no leak report"
grep -q "^SUMMARY: strata:" "$tmp/text.txt" || fail "no leak summary"
"$run" -- sqlite3 :memory: "select 1;" 2> "$tmp/default.txt" > /dev/null || fail "strata-run failed"
grep -q "requested .* bytes (exact)" "$tmp/default.txt" || fail "strata-run does not track leaks exactly by default"
STRATA_LEAK=sampled "$run" -- sqlite3 :memory: "select 1;" 2> "$tmp/env.txt" > /dev/null
grep -q "requested .* bytes (estimate)" "$tmp/env.txt" || fail "strata-run overrode STRATA_LEAK from the environment"
"$run" -r json -o "$tmp/run.json" -- sqlite3 :memory: "select 1;" > /dev/null || fail "strata-run -o failed"
python3 -m json.tool "$tmp/run.json" > /dev/null || fail "strata-run JSON does not parse"
"$run" -r prometheus -o "$tmp/run.prom" -- sqlite3 :memory: "select 1;" > /dev/null
python3 "$here/promcheck.py" "$tmp/run.prom" || fail "strata-run Prometheus rejected"

# 2b. the memory limit the decay follows, set by the option: in every format
STRATA_MEMORY_LIMIT=64m "$run" -- sqlite3 :memory: "select 1;" 2> "$tmp/limit.txt" > /dev/null
grep -q "^  memory limit  *67108864 bytes (memory_limit)" "$tmp/limit.txt" ||
	fail "the text report does not name the memory limit set: $(grep 'memory limit' "$tmp/limit.txt")"
STRATA_MEMORY_LIMIT=64m "$run" -r json -o "$tmp/limit.json" -- sqlite3 :memory: "select 1;" > /dev/null
python3 -c 'import json, sys; assert json.load(open(sys.argv[1]))["totals"]["memory_limit"] == 67108864' \
	"$tmp/limit.json" || fail "the JSON report's memory_limit is not the limit set"
STRATA_MEMORY_LIMIT=64m "$run" -r prometheus -o "$tmp/limit.prom" -- sqlite3 :memory: "select 1;" > /dev/null
grep -q "^strata_memory_limit_bytes 67108864$" "$tmp/limit.prom" ||
	fail "the Prometheus report's strata_memory_limit_bytes is not the limit set"
STRATA_MEMORY_LIMIT=0 "$run" -- sqlite3 :memory: "select 1;" 2> "$tmp/nolimit.txt" > /dev/null
grep -q "^  memory limit  *0 bytes (none)" "$tmp/nolimit.txt" || fail "memory_limit=0 is not reported as none"

# 3. the stats file is rewritten while the program runs
"$run" -r off -f "$tmp/live.prom" -i 1 -- python3 -c "import time; time.sleep(2.5)" \
	|| fail "strata-run with a stats file failed"
python3 "$here/promcheck.py" "$tmp/live.prom" || fail "stats file missing or invalid"

# 3b. --debug: the debug mode catches an overflow by one byte, with a stack
if [ -x "$build/tests/debug_child" ]; then
	"$run" -d -r off -- "$build/tests/debug_child" overflow_small 2> "$tmp/debug.txt" \
		&& fail "strata-run -d let an overflow by one byte pass"
	grep -q "^strata: heap overflow past" "$tmp/debug.txt" || fail "strata-run -d: $(head -3 "$tmp/debug.txt")"
	grep -q "^    #0 " "$tmp/debug.txt" || fail "strata-run -d printed no call stack"
fi

# 4. bad input: a clear message and a non-zero exit
"$run" --bogus -- true 2> "$tmp/err" && fail "a bad option was accepted"
grep -q "unknown option" "$tmp/err" || fail "no message for a bad option"
"$run" -- /no/such/program 2> "$tmp/err" && fail "a missing program was accepted"
grep -q "program not found" "$tmp/err" || fail "no message for a missing program"
"$run" -r xml -- true 2> /dev/null && fail "a bad format was accepted"
"$run" --help | grep -q "Usage: strata-run" || fail "no --help"
echo "report: all checks passed"
