#!/bin/sh
# SPDX-License-Identifier: MIT
# Every C and C++ source is formatted as .clang-format says and carries its
# SPDX line (tools/format --check).
name=format
. "$(dirname "$0")/integration/common.sh"
src=$(cd "$(dirname "$0")/.." && pwd)
command -v clang-format >/dev/null || fail "clang-format not installed (tools/install-deps)"
[ -f "$src/.clang-format" ] || skip "no .clang-format in $src"
"$src/tools/format" --check || fail "sources not formatted (above): run tools/format"
echo "$name: ok"
