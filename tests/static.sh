#!/bin/sh
# SPDX-License-Identifier: MIT
# A C program linked statically with libstrata.a: it starts, allocates,
# reports and exits cleanly with every leak mode.  In a static program the
# C library mallocs during its own start-up, before the unwinder can run:
# the first call stacks must wait (leak.c), or the program aborts.
name=static
. "$(dirname "$0")/integration/common.sh"
src=$(cd "$(dirname "$0")/.." && pwd)
need_static_lib
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

# The program's own functions named like strata's internal ones (before the
# _strata_ prefix): it must link and call its own.
cat > "$tmp/clash.c" <<'PROG'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int os_map(int x) { return x + 1; }
int buddy_alloc(int x) { return x * 2; }
int report_write(int x) { return x - 3; }
int options_init(void) { return 7; }
int debug_fill(int x) { return x + 100; }
int heap_get(void) { return 11; }
int main(void)
{
	char *p = malloc(100);
	strcpy(p, "ok");
	int sum = os_map(1) + buddy_alloc(2) + report_write(3) + options_init()
	        + debug_fill(0) + heap_get();
	printf("%s %d\n", p, sum);
	free(p);
	return 0;
}
PROG
gcc -O1 -static -pthread "$tmp/clash.c" "$static_lib" -o "$tmp/clash" -lpthread -ldl \
    2>"$tmp/cc.err" || fail "a program with its own os_map, buddy_alloc, ... does not link: $(grep -v 'statically linked' "$tmp/cc.err" | head -3)"
out=$(timeout 60 "$tmp/clash") || fail "clash program: $(describe $?)"
[ "$out" = "ok 124" ] || fail "clash program printed '$out', not 'ok 124'"
echo "$name: ok"
