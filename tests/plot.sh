#!/bin/sh
# SPDX-License-Identifier: MIT
# STRATA_TRACE_FILE and tools/strata-plot: tests/trace_child runs 4 s under
# strata-run -T with a sample a second; every line of the trace is a sample (the
# JSON report's keys, the RSS, at most 8 leak sites, a heap map of 256
# cells a region); strata-plot makes one HTML page with the six plots as
# PNG data: URIs; headless Chromium renders it: the screenshot is not
# blank, and each plot's image decoded (its width in the DOM after load).
# Skipped only when Chromium is not installed.
name=plot
. "$(dirname "$0")/integration/common.sh"
build=${BUILDDIR:-$(pwd)}
src=$(cd "$(dirname "$0")/.." && pwd)
py=/usr/bin/python3
[ -x "$py" ] || fail "no /usr/bin/python3 (tools/install-deps)"
"$py" -c 'import matplotlib, PIL' 2>/dev/null || fail "python3-matplotlib is not installed (tools/install-deps)"
child="$build/tests/trace_child"
[ -x "$child" ] || fail "$child is not built"
tmp=$(make_tmp)
trap 'rm -rf "$tmp"' EXIT

# ---- the trace ---------------------------------------------------------
# through strata-run's --trace and --interval
timeout 60 "$build/tools/strata-run" -L "$lib" -r off -l full -n -T "$tmp/trace.%p" -i 1 -- \
    "$child" 4 > "$tmp/child.out" 2>&1 ||
    fail "trace_child: $(cat "$tmp/child.out")"
trace=$(ls "$tmp"/trace.* 2>/dev/null)
[ -n "$trace" ] && [ "$(echo "$trace" | wc -l)" = 1 ] || fail "no trace.PID file (%p): $(ls "$tmp")"
"$py" - "$trace" <<'PY' || fail "the trace's samples"
import json, sys
lines = open(sys.argv[1]).read().splitlines()
assert len(lines) >= 4, "%d samples in 4 s at 1 s" % len(lines)
prev = 0
for line in lines:
    d = json.loads(line)
    for key in ("time", "interval", "rss", "version", "pid", "totals", "fragmentation",
                "classes", "caches", "arenas", "leaks", "heapmap"):
        assert key in d, "no key " + key
    assert d["time"] > prev, "time goes back"
    prev = d["time"]
    assert d["interval"] == 1 and d["rss"] > 0, (d["interval"], d["rss"])
    assert len(d["classes"]) == 56, len(d["classes"])
    assert len(d["leaks"]["sites"]) <= 8, len(d["leaks"]["sites"])
    hm = d["heapmap"]
    assert hm["cell_pages"] * 256 == hm["region_pages"], hm["cell_pages"]
    regions = [r for a in hm["arenas"] for r in a["regions"]]
    assert regions and all(len(r["cells"]) == 256 for r in regions)
    assert set("".join(r["cells"] for r in regions)) <= set("msldfxo")
last = json.loads(lines[-1])
assert last["totals"]["allocated"] > 4 << 20, last["totals"]
assert last["leaks"]["sites_total"] >= 3, last["leaks"]["sites_total"]
assert "s" in "".join(r["cells"] for a in last["heapmap"]["arenas"] for r in a["regions"])
PY
# a last line being written is left out by strata-plot
printf '{"time": 1' >> "$trace"

# ---- the page ----------------------------------------------------------
plots="plot-memory plot-fragmentation plot-classes plot-arenas plot-heapmap plot-leaks"
timeout 120 "$py" "$src/tools/strata-plot" -o "$tmp/page.html" --png "$tmp/png" "$trace" \
    > "$tmp/plot.out" 2>&1 || fail "strata-plot: $(cat "$tmp/plot.out")"
for id in $plots; do
    grep -q "<figure id=\"$id\"><img alt=\"[^\"]*\" src=\"data:image/png;base64,iVBOR" "$tmp/page.html" ||
        fail "the page has no PNG for $id"
    [ -s "$tmp/png/${id#plot-}.png" ] || fail "--png wrote no ${id#plot-}.png"
done
grep -q 'src="http\|src="file\|<script' "$tmp/page.html" && fail "the page is not self-contained"

# ---- rendered ----------------------------------------------------------
browser=$(command -v chromium || command -v chromium-browser) || skip "chromium is not installed"
export HOME="$tmp"        # chromium's profile and caches, not the user's
chrome() {
    timeout 120 "$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars \
        --no-first-run --user-data-dir="$tmp/profile" "$@" 2>>"$tmp/chromium.err"
}
chrome --screenshot="$tmp/shot.png" --window-size=1200,4200 "file://$tmp/page.html" \
    > /dev/null || fail "chromium --screenshot: $(tail -3 "$tmp/chromium.err")"
"$py" - "$tmp/shot.png" <<'PY' || fail "the screenshot is blank"
import sys
from PIL import Image
im = Image.open(sys.argv[1]).convert("RGB")
colours = im.getcolors(1 << 24)
inked = sum(n for n, c in colours if c != (255, 255, 255))
share = inked / float(im.size[0] * im.size[1])
print("plot: screenshot %dx%d, %d colours, %.0f%% not white" % (im.size + (len(colours), 100 * share)))
assert len(colours) > 100 and share > 0.1, (len(colours), share)
PY
# each image's size once the page has loaded, written into the DOM
sed 's|</body>|<script>onload=function(){for(const f of document.querySelectorAll("figure")){const i=f.querySelector("img");f.setAttribute("data-decoded",i.complete\&\&i.naturalWidth>0?i.naturalWidth+"x"+i.naturalHeight:"no")}}</script></body>|' \
    "$tmp/page.html" > "$tmp/probe.html"
chrome --virtual-time-budget=10000 --dump-dom "file://$tmp/probe.html" > "$tmp/dom.html" ||
    fail "chromium --dump-dom: $(tail -3 "$tmp/chromium.err")"
for id in $plots; do
    grep -Eq "<figure id=\"$id\" data-decoded=\"[0-9]+x[0-9]+\"" "$tmp/dom.html" ||
        fail "$id did not decode: $(grep -o "<figure id=\"$id\"[^>]*>" "$tmp/dom.html")"
done
echo "$name: ok"
