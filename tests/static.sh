#!/bin/sh
# SPDX-License-Identifier: MIT
# A C program linked statically with libstrata.a: it starts, allocates,
# reports and exits cleanly with every leak mode.  In a static program the
# C library mallocs during its own start-up, before the unwinder can run:
# the first call stacks must wait (leak.c), or the program aborts.
name=static
. "$(dirname "$0")/integration/common.sh"
src=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILDDIR:-$src/build}
static_lib=$build/.libs/libstrata.a
[ -f "$static_lib" ] || skip "$static_lib not built (configure without --disable-static)"
tmp=$(make_tmp)
trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/prog.c" <<'PROG'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "strata.h"
static void *keep;
int main(void)
{
	for (int i = 0; i < 10000; i++) {
		char *p = malloc((size_t)(i % 3000) + 1);
		memset(p, 1, (size_t)(i % 3000) + 1);
		if (i % 1000 == 0)
			keep = p;        /* a leak, reported at exit */
		else
			free(p);
	}
	printf("%s\n", strata_version());
	return 0;
}
PROG
gcc -O1 -static -pthread -I"$src/include" "$tmp/prog.c" "$static_lib" -o "$tmp/prog" -lpthread -ldl \
    2>"$tmp/cc.err" || fail "cannot link statically: $(grep -v 'statically linked' "$tmp/cc.err" | head -3)"
for mode in off sampled full; do
    STRATA_LEAK=$mode STRATA_REPORT=text timeout 60 "$tmp/prog" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    [ $rc -eq 0 ] || fail "STRATA_LEAK=$mode: $(describe $rc): $(head -3 "$tmp/err")"
    grep -q "^strata .* heap report" "$tmp/err" || fail "STRATA_LEAK=$mode: no report"
done
grep -q "bytes in .* objects allocated from" "$tmp/err" || fail "no leak report with STRATA_LEAK=full"
echo "$name: ok"
