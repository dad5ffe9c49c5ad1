#!/bin/sh
# SPDX-License-Identifier: MIT
# Per-cache call sites: with STRATA_LEAK=full the reports list the live
# objects of each cache, pool and private heap by the function that
# allocated them (text and JSON), a cache destroyed with objects in use
# names their sites, and a pool's object put back in its reserve is not
# reported as the program's leak.  With STRATA_LEAK=sampled the rows show
# the sites of what is kept, with estimates within a factor of 2 of its
# bytes, and not those of what was freed or reset, and a busy destroy
# names the sampled sites.
name=cache_leaks
. "$(dirname "$0")/integration/common.sh"
child=${BUILDDIR:-.}/tests/cache_leak_child
[ -x "$child" ] || skip "$child is not built"
tmp=$(make_tmp)
trap 'rm -rf "$tmp"' EXIT

STRATA_LEAK=full STRATA_REPORT=text timeout 60 "$child" "$tmp/r.json" >"$tmp/out" 2>"$tmp/err"
rc=$?
[ $rc -eq 0 ] || fail "child: $(describe $rc): $(head -5 "$tmp/err")"

# text: the section under the table, a line per cache with its sites
grep -q '^live objects by call site' "$tmp/out" || fail "no 'live objects by call site' section: $(cat "$tmp/out")"
grep -q '^  cache sessions: 1000 bytes in 10 objects from 1 site$' "$tmp/out" ||
    fail "no sites line for cache sessions: $(grep -A3 'by call site' "$tmp/out")"
grep -A1 '^  cache sessions:' "$tmp/out" | grep -q 'make_session+0x' ||
    fail "the sessions cache's site does not name make_session"
grep -A1 '^  heap request:' "$tmp/out" | grep -q 'fill_request+0x' ||
    fail "the request heap's site does not name fill_request: $(grep -A2 'heap request' "$tmp/out")"
grep -q '^  pool buffers:' "$tmp/out" && fail "the pool shows sites with every object back in the reserve"

# JSON: the same in each row of "caches"
/usr/bin/python3 - "$tmp/r.json" <<'PY' || fail "JSON sites wrong (above)"
import json, sys
r = json.load(open(sys.argv[1]))
rows = {c["name"]: c for c in r["caches"]}
s = rows["sessions"]
assert s["sites_total"] == 1 and s["sites"][0]["objects"] == 10, s
assert s["sites"][0]["frames"][0].get("function") == "make_session", s["sites"][0]["frames"][0]
h = rows["request"]
assert h["sites"] and h["sites"][0]["frames"][0].get("function") == "fill_request", h
assert rows["buffers"]["sites_total"] == 0, rows["buffers"]
PY

# the busy destroy names the sites of what is still in use
grep -q 'strata_cache_destroy("sessions"): 10 objects (1000 bytes) still in use; the cache stays for them, allocated from:' "$tmp/err" ||
    fail "no busy-destroy warning with sites: $(head -5 "$tmp/err")"
grep -A3 'allocated from:$' "$tmp/err" | grep -q 'in make_session+0x' ||
    fail "the busy destroy does not name make_session: $(grep -A4 'still in use' "$tmp/err")"

# the exit leak report does not hold the pool's reserve
[ "$(sed -n 's/^reserve_served=//p' "$tmp/out")" = 4 ] || fail "the pool's reserve did not serve its 4 objects: $(head -1 "$tmp/out")"
grep -q 'take_buffer' "$tmp/err" && fail "the pool's reserve objects are reported as leaks: $(grep -B2 -A3 take_buffer "$tmp/err")"

# the sampled mode (a short interval, for enough samples in 22 MB)
STRATA_LEAK=sampled STRATA_LEAK_SAMPLE=64k timeout 60 "$child" sampled "$tmp/s.json" >"$tmp/sout" 2>"$tmp/serr"
rc=$?
[ $rc -eq 0 ] || fail "sampled child: $(describe $rc): $(head -5 "$tmp/serr")"
grep -q '^live objects by call site (sampled: estimates)$' "$tmp/sout" ||
    fail "no sampled 'live objects by call site' section: $(grep -A3 'object caches' "$tmp/sout")"
grep -A1 '^  cache many:' "$tmp/sout" | grep -q 'make_many+0x' ||
    fail "the sampled cache's site does not name make_many: $(grep -A3 'cache many' "$tmp/sout")"
grep -q 'strata_cache_destroy("many"): .* still in use; the cache stays for them, allocated from (sampled: estimates):' "$tmp/serr" ||
    fail "no sampled busy-destroy warning with sites: $(grep 'still in use' "$tmp/serr")"
grep -A3 'allocated from (sampled: estimates):$' "$tmp/serr" | grep -q 'in make_many+0x' ||
    fail "the sampled busy destroy does not name make_many: $(grep -A4 'still in use' "$tmp/serr")"
grep -q 'make_brief\|fill_scratch' "$tmp/sout" &&
    fail "freed or reset objects are reported: $(grep -B1 'make_brief\|fill_scratch' "$tmp/sout")"
/usr/bin/python3 - "$tmp/s.json" <<'PY' || fail "sampled JSON sites wrong (above)"
import json, sys
r = json.load(open(sys.argv[1]))
rows = {c["name"]: c for c in r["caches"]}
for name, function, kept in (("many", "make_many", 100 * 100000), ("kept", "fill_many", 300 * 40000)):
    row = rows[name]
    sites = {s["frames"][0].get("function"): s for s in row["sites"]}
    assert set(sites) == {function}, (name, list(sites))
    est = sites[function]["bytes"]
    assert kept / 2 <= est <= kept * 2, (name, est, kept)
    print("%s: %d bytes kept, estimated %d" % (name, kept, est))
assert rows["scratch"]["sites_total"] == 0, rows["scratch"]
PY
echo "$name: ok"
