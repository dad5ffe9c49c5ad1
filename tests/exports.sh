#!/bin/sh
# SPDX-License-Identifier: MIT
# libstrata.so exports the malloc family, C++'s operator new and new[]
# (plain and nothrow) and delete and delete[] (plain and sized), and
# strata_*, nothing else.
lib=${LIBSTRATA:?LIBSTRATA must name libstrata.so}
[ -f "$lib" ] || { echo "exports: $lib not found" >&2; exit 1; }
allowed="aligned_alloc calloc free mallinfo mallinfo2 malloc malloc_info malloc_stats
malloc_trim malloc_usable_size mallopt memalign posix_memalign pvalloc realloc
reallocarray valloc _ZdlPvm _ZdaPvm _ZdlPv _ZdaPv _Znwm _Znam _ZnwmRKSt9nothrow_t
_ZnamRKSt9nothrow_t"
status=0
for sym in $(nm -D --defined-only "$lib" | awk '{print $3}'); do
	case "$sym" in
	strata_*) continue ;;
	esac
	if ! echo " $(echo $allowed) " | grep -q " $sym "; then
		echo "exports: unexpected exported symbol: $sym" >&2
		status=1
	fi
done
for sym in $allowed strata_version strata_trim strata_thread_flush; do
	nm -D --defined-only "$lib" | awk '{print $3}' | grep -qx "$sym" || {
		echo "exports: missing symbol: $sym" >&2
		status=1
	}
done
[ $status -eq 0 ] && echo "exports: only the malloc family, operator new and delete and strata_* are exported"
exit $status
