#!/bin/sh
# SPDX-License-Identifier: MIT
# The heap-misuse suite (tests/misuse) under glibc, the peer allocators that
# are installed, strata and strata with STRATA_DEBUG=1: strata must detect
# at least as many cases as any peer, fail no conformance check, and detect
# every case but the known gaps listed in misuse/DEFAULT_GAPS (by default)
# and misuse/DEBUG_GAPS (with the debug mode).
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
# Each strata column detects every case but the known gaps of its list
# (misuse/DEFAULT_GAPS for strata, misuse/DEBUG_GAPS for strata-debug), and
# none of those: a gap closed must leave its list.  A name followed by " ?"
# may go either way from run to run.
dir=$(dirname "$0")/misuse
# check_gaps FIELD LIST COLUMN: FIELD counts from the row's end (1: the last
# column, strata-debug; 2: strata)
check_gaps() {
	gaps=$(grep -v '^#' "$dir/$2" || true)
	awk -F'|' -v f="$1" '/^$/ && seen { exit } /^\| [a-z]/ && $2 !~ /program/ { seen = 1
		name = $2; gsub(/ /, "", name); cell = $(NF-f); gsub(/^ +| +$/, "", cell)
		if (cell !~ /^(pass|FAIL)/) print name, (cell ~ /^detected/ ? "detected" : "missed")
	}' "$out" > "$tmp/gaps.$1"
	while read -r prog result; do
		[ -f "$dir/$prog.c" ] || [ -f "$dir/$prog.cc" ] || continue # a summary row
		listed=no
		echo "$gaps" | grep -qx "$prog" && listed=yes
		echo "$gaps" | grep -qx "$prog ?" && listed=maybe
		[ "$result" = missed ] && [ $listed = no ] && fail "$3 misses $prog (not a known gap)"
		[ "$result" = detected ] && [ $listed = yes ] && fail "$3 now detects $prog: take it off misuse/$2"
	done < "$tmp/gaps.$1"
	echo "$gaps" | grep -v ' ?$' | grep -c . || true
}
nstrata=$(check_gaps 2 DEFAULT_GAPS strata) || exit 1
ndebug=$(check_gaps 1 DEBUG_GAPS "STRATA_DEBUG=1") || exit 1
strata=$(echo "$row" | awk -F'|' '{gsub(/ /, "", $(NF-2)); print $(NF-2)}')
echo "$name: strata detected $strata of $total ($nstrata known gaps: misuse/DEFAULT_GAPS), strata-debug $debug ($ndebug known gaps: misuse/DEBUG_GAPS)"
