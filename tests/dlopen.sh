#!/bin/sh
# SPDX-License-Identifier: MIT
# A libstrata.so loaded after start-up (dlopen) works: its initial-exec TLS
# is a word or two, which glibc's static TLS surplus holds.  Python's
# ctypes loads it and calls strata_version() and strata_check_heap(); a
# plugin linked with -lstrata and dlopen'ed by a program that neither links
# nor preloads strata calls the strata_* functions.  Malloc stays the
# process's (glibc's): a dlopen'ed strata serves its strata_* calls only,
# and its blocks go back with strata_free().
name=dlopen
. "$(dirname "$0")/integration/common.sh"
src=$(cd "$(dirname "$0")/.." && pwd)
libdir=$(dirname "$lib")
tmp=$(make_tmp)
trap 'rm -rf "$tmp"' EXIT

tls=$(readelf -lW "$lib" | awk '$1 == "TLS" { print $6 }')
[ -n "$tls" ] || fail "no TLS segment in $lib"
[ $((tls)) -le 16 ] || fail "libstrata.so keeps $((tls)) bytes of TLS; dlopen needs a word or two"

out=$(timeout 60 /usr/bin/python3 - "$lib" <<'PY' 2>&1
import ctypes, sys
lib = ctypes.CDLL(sys.argv[1])
lib.strata_version.restype = ctypes.c_char_p
print(lib.strata_version().decode())
print("check", lib.strata_check_heap())
PY
) || fail "ctypes could not load or call libstrata.so: $out"
echo "$out" | grep -qx "$(sed -n 's/^AC_INIT(\[strata\], \[\([0-9.]*\)\].*/\1/p' "$src/configure.ac")" ||
    fail "strata_version() through ctypes: $out"
echo "$out" | grep -qx "check 0" || fail "strata_check_heap() through ctypes: $out"

cat > "$tmp/plugin.c" <<'C'
#include <stdlib.h>
#include <string.h>
#include "strata.h"
int plugin_run(void)
{
	char *p = strata_alloc_onnode(1000, 0);
	if (p == NULL)
		return 1;
	memset(p, 7, 1000);
	strata_free(p);
	struct strata_stats st = { .struct_size = sizeof(st) };
	if (strata_stats_get(&st) != 0 || strata_version()[0] == '\0')
		return 2;
	strata_thread_flush();
	return strata_check_heap() == 0 ? 0 : 3;
}
C
cat > "$tmp/host.c" <<'C'
#include <dlfcn.h>
#include <stdio.h>
int main(int argc, char **argv)
{
	void *h = dlopen(argv[1], RTLD_NOW);
	if (h == NULL) {
		printf("dlopen: %s\n", dlerror());
		return 10;
	}
	int (*run)(void) = (int (*)(void))dlsym(h, "plugin_run");
	return run ? run() : 11;
}
C
gcc -shared -fPIC -I"$src/include" "$tmp/plugin.c" -o "$tmp/plugin.so" -L"$libdir" -lstrata \
    2>"$tmp/cc.err" || fail "cannot build the plugin: $(head -3 "$tmp/cc.err")"
gcc "$tmp/host.c" -o "$tmp/host" -ldl 2>"$tmp/cc.err" || fail "cannot build the host: $(head -3 "$tmp/cc.err")"
out=$(LD_LIBRARY_PATH="$libdir" timeout 60 "$tmp/host" "$tmp/plugin.so" 2>&1)
rc=$?
[ $rc -eq 0 ] || fail "the dlopen'ed plugin: $(describe $rc): $out"
echo "$name: ok (TLS $((tls)) bytes; ctypes and a dlopen'ed plugin)"
