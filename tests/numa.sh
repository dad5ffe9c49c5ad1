#!/bin/sh
# SPDX-License-Identifier: MIT
# NUMA placement on a real kernel with two nodes: this machine may have one,
# so a small VM is booted under qemu (tests/vm: two nodes of 2 CPUs and
# 512 MiB) and tests/numa_child.c, linked statically with strata, checks
# with move_pages and get_mempolicy where each thread's memory lands, for
# STRATA_NUMA=preferred, strict and off.  Skipped, saying why, when qemu,
# busybox-static, libnuma.a or a kernel to boot are not available.
name=numa
. "$(dirname "$0")/integration/common.sh"
src=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILDDIR:-$src/build}
static_lib=$build/.libs/libstrata.a
command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 not installed (package qemu-system-x86)"
[ -x /bin/busybox ] || skip "/bin/busybox not installed (package busybox-static)"
command -v cpio >/dev/null || skip "cpio not installed"
[ -f "$static_lib" ] || skip "$static_lib not built (configure without --disable-static)"
ls /usr/lib/*/libnuma.a >/dev/null 2>&1 || skip "libnuma.a not installed (package libnuma-dev)"

vmdir=$build/vm       # the kernel is kept here between runs
mkdir -p "$vmdir"
"$src/tests/vm/fetch-kernel" "$vmdir" || skip "no kernel to boot (tests/vm/fetch-kernel failed)"
tmp=$(make_tmp)
trap 'rm -rf "$tmp"' EXIT

gcc -O1 -static -pthread -I"$src/include" "$src/tests/numa_child.c" "$static_lib" \
    -o "$tmp/numa_child" -lnuma -lpthread -ldl 2>"$tmp/cc.err" ||
    fail "cannot link the static test program: $(grep -v 'statically linked' "$tmp/cc.err" | head -5)"

"$src/tests/vm/run-vm" -t 600 "$vmdir/vmlinuz" "$tmp/work" "$tmp/numa_child" all >"$tmp/out"
rc=$?
cat "$tmp/out"
# A stack printed on SIGABRT: resolve it while the binary is still here.
if grep -q 'SIGABRT, stack' "$tmp/out"; then
    grep -o '\[0x[0-9a-f]*\]' "$tmp/out" | tr -d '[]' | addr2line -f -i -e "$tmp/numa_child" 2>&1 | paste - - | head -40
fi
case $rc in
    0) echo "$name: ok (preferred, strict, off)" ;;
    77) skip "the VM did not show two nodes" ;;
    *) fail "in the VM: $(describe $rc); the end of its console:$(tail -15 "$tmp/work/console.log")" ;;
esac
