#!/bin/sh
# SPDX-License-Identifier: MIT
# The heap-misuse suite (tests/misuse) under glibc, the peer allocators that
# are installed, strata and strata with STRATA_DEBUG=1: strata must detect
# at least as many cases as any peer, fail no conformance check, and with
# the debug mode detect every case.
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
[ "$debug" = "$total" ] || fail "STRATA_DEBUG=1 detected $debug of $total cases"
echo "$name: strata-debug detected $debug of $total"
