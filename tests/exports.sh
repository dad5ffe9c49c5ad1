#!/bin/sh
# SPDX-License-Identifier: MIT
# libstrata.so exports the malloc family, the two C++ sized deletes
# (operator delete(void *, size_t) and delete[]) and strata_*, nothing else.
lib=${LIBSTRATA:?LIBSTRATA must name libstrata.so}
[ -f "$lib" ] || { echo "exports: $lib not found" >&2; exit 1; }
allowed="aligned_alloc calloc free mallinfo mallinfo2 malloc malloc_info malloc_stats
malloc_trim malloc_usable_size mallopt memalign posix_memalign pvalloc realloc
reallocarray valloc _ZdlPvm _ZdaPvm"
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
[ $status -eq 0 ] && echo "exports: only the malloc family, the sized deletes and strata_* are exported"
exit $status
