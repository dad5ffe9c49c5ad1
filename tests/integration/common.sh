# SPDX-License-Identifier: MIT
# Shared by the integration tests; sourced after `name=...` is set.
# Gives fail and skip (automake's exit 77), checks LIBSTRATA and sets $lib
# to its absolute path, describe for an exit status, and make_tmp.

fail() { echo "$name: FAIL: $*" >&2; exit 1; }
skip() { echo "$name: SKIP: $*" >&2; exit 77; }
unset LD_PRELOAD

[ -n "${LIBSTRATA:-}" ] ||
    fail "LIBSTRATA is not set; export LIBSTRATA=/path/to/libstrata.so"
[ -f "$LIBSTRATA" ] || fail "LIBSTRATA=$LIBSTRATA: no such file"
[ -r "$LIBSTRATA" ] || fail "LIBSTRATA=$LIBSTRATA: not readable"
lib=$(readlink -f -- "$LIBSTRATA") || fail "cannot resolve $LIBSTRATA"

# Describe an exit status (timeout(1) gives 124 on timeout, 128+N on signal N).
describe() {
    case $1 in
        0) echo "exit 0" ;;
        124) echo "exit 124 (timed out)" ;;
        1[3-9][0-9]|2[0-5][0-9])
            echo "exit $1 (killed by signal $(($1 - 128)):" \
                "$(kill -l $(($1 - 128)) 2>/dev/null))" ;;
        *) echo "exit $1" ;;
    esac
}

# A temporary directory of this test's own.
make_tmp() {
    mktemp -d "${TMPDIR:-/tmp}/strata-$name.XXXXXX"
}

# static_lib: this build's libstrata.a, or the test is skipped.
need_static_lib() {
    static_lib=${BUILDDIR:-$(cd "$(dirname "$0")/.." && pwd)/build}/.libs/libstrata.a
    [ -f "$static_lib" ] || skip "$static_lib not built (configure without --disable-static)"
}
