#!/bin/sh
# SPDX-License-Identifier: MIT
# Every entry point of the malloc family (and operator new, aligned new,
# strata_alloc_onnode) as the very first call of a fresh process, of a new
# thread and of a forked child (forked cold, or after the parent allocated),
# in every mode: each block aligned as promised, at least as big as asked,
# zeroed by calloc, keeping what is written to it (tests/first_call_child.c).
name=first_call
. "$(dirname "$0")/integration/common.sh"
build=${BUILDDIR:-$(cd "$(dirname "$0")/.." && pwd)/build}
# The programs themselves, not libtool's wrapper scripts (a shell per run).
c_child=$build/tests/.libs/first_call_child
cxx_child=$build/tests/.libs/first_call_cxx
[ -x "$c_child" ] && [ -x "$cxx_child" ] || fail "$c_child or $cxx_child not built"
LD_LIBRARY_PATH=$(dirname "$lib")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export LD_LIBRARY_PATH

# CALL SIZE ALIGN, one per line; sizes cover small, large and huge blocks.
c_calls="malloc 1 0
malloc 200000 0
malloc 6000000 0
calloc 100 0
calloc 70000 0
realloc 24 0
reallocarray 3000 0
posix_memalign 10 4096
posix_memalign 100 64
posix_memalign 5000 65536
aligned_alloc 64 64
aligned_alloc 8192 2097152
memalign 1 4096
memalign 30 256
memalign 3 8388608
valloc 1 0
valloc 70000 0
pvalloc 1 0
onnode 100 0
onnode 300000 0"
cxx_calls="new 1 0
new[] 5000 0
new-nothrow 40 0
new-aligned 10 4096
new[]-aligned 100 64
new-aligned-nothrow 70000 8192"

modes="STRATA_LEAK=sampled
STRATA_LEAK=off
STRATA_LEAK=full
STRATA_DEBUG=1
STRATA_TCACHE=0
STRATA_HUGEPAGES=thp
STRATA_HUGEPAGES=hugetlb"

runs=0
run_all() { # CHILD CALLS
    echo "$2" | while read -r call size align; do
        for where in process thread fork fork-warm; do
            echo "$modes" | while read -r mode; do
                out=$(env "$mode" timeout 30 "$1" "$call" "$size" "$align" "$where" 2>&1)
                rc=$?
                [ $rc -eq 0 ] || { echo "$mode $call $size $align $where: $(describe $rc): $out"; exit 1; }
            done || exit 1
        done || exit 1
    done
}
errs=$(run_all "$c_child" "$c_calls"; run_all "$cxx_child" "$cxx_calls")
[ -z "$errs" ] || fail "$errs"
echo "$name: ok ($(echo "$c_calls" | wc -l) C calls and $(echo "$cxx_calls" | wc -l) C++ calls x 4 places x $(echo "$modes" | wc -l) modes)"
