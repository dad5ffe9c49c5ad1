#!/bin/sh
# SPDX-License-Identifier: MIT
# Every extern symbol of libstrata.a is public (the malloc family, the C++
# operators, strata_*) or carries the reserved prefix _strata_: a program
# linked statically may define its own os_map or report_write.
name=symbols
. "$(dirname "$0")/integration/common.sh"
src=$(cd "$(dirname "$0")/.." && pwd)
need_static_lib
"$src/tools/gen-namespace" --check "$static_lib" || fail "unprefixed extern symbols (above)"
n=$(nm -g --defined-only "$static_lib" | awk 'NF == 3' | grep -c ' _strata_')
[ "$n" -gt 100 ] || fail "only $n _strata_ symbols: is src/namespace.h included?"
echo "$name: ok ($n internal symbols prefixed)"
