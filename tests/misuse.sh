#!/bin/sh
# SPDX-License-Identifier: MIT
# The heap-misuse suite (tests/misuse) under glibc, the peer allocators that
# are installed, strata and strata with STRATA_DEBUG=1: strata must detect
# at least as many cases as any peer, fail no conformance check, and with
# the debug mode detect every case but the known gaps listed in
# misuse/DEBUG_GAPS.
name=misuse
. "$(dirname "$0")/integration/common.sh"
command -v gcc >/dev/null || skip "gcc is not installed"
tmp=$(make_tmp)
trap 'rm -rf "$tmp"' EXIT
out="$tmp/table.md"
LIBSTRATA=$lib timeout 600 bash "$(dirname "$0")/misuse/run" -o "$tmp/run" --check strata >"$out" 2>&1
rc=$?
cat "$out"
[ $rc -eq 0 ] || fail "tests/misuse/run --check strata: $(describe $rc)"
# The detected row: | **detected (of N)** | glibc | ... | strata | strata-debug |
row=$(grep '^| \*\*detected (of' "$out") || fail "no detected row in the table"
total=$(echo "$row" | sed 's/.*(of \([0-9]*\)).*/\1/')
debug=$(echo "$row" | awk -F'|' '{gsub(/ /, "", $(NF-1)); print $(NF-1)}')
# strata-debug: every case but the known gaps of misuse/DEBUG_GAPS, and
# none of those (a gap closed must leave the list)
gaps=$(grep -v '^#' "$(dirname "$0")/misuse/DEBUG_GAPS" || true)
awk -F'|' '/^\| [a-z]/ && $2 !~ /program/ {
	name = $2; gsub(/ /, "", name); cell = $(NF-1); gsub(/^ +| +$/, "", cell)
	if (cell !~ /^(pass|FAIL)/) print name, (cell ~ /^detected/ ? "detected" : "missed")
}' "$out" > "$tmp/debug"
dir=$(dirname "$0")/misuse
while read -r prog result; do
	[ -f "$dir/$prog.c" ] || [ -f "$dir/$prog.cc" ] || continue # a summary row
	listed=no
	echo "$gaps" | grep -qx "$prog" && listed=yes
	echo "$gaps" | grep -qx "$prog ?" && listed=maybe # varies from run to run
	[ "$result" = missed ] && [ $listed = no ] && fail "STRATA_DEBUG=1 misses $prog (not a known gap)"
	[ "$result" = detected ] && [ $listed = yes ] && fail "STRATA_DEBUG=1 now detects $prog: take it off misuse/DEBUG_GAPS"
done < "$tmp/debug"
ngaps=$(echo "$gaps" | grep -c . || true)
echo "$name: strata-debug detected $debug of $total; the $ngaps others are the known gaps of misuse/DEBUG_GAPS"
