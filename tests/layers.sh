#!/bin/sh
# SPDX-License-Identifier: MIT
# Every call between strata's files goes down the layer table of
# doc/architecture.md (tools/check-layers says how it is read).
name=layers
. "$(dirname "$0")/integration/common.sh"
src=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILDDIR:-$src/build}
ls "$build"/src/libstrata_core_la-*.o >/dev/null 2>&1 || skip "no objects in $build/src"
"$src/tools/check-layers" "$src/doc/architecture.md" "$build/src" || fail "calls up the layers (above)"
echo "$name: ok"
