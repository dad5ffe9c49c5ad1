#!/bin/sh
# SPDX-License-Identifier: MIT
# Integration test: gcc -O2 compiling and linking a large generated C program
# under strata.
#
# A deterministic awk generator writes a C file of NFUNCS functions (loops,
# switches, structs).  It is compiled with `gcc -O2 -c` and linked twice:
# once without strata (the reference) and once with LD_PRELOAD=$LIBSTRATA
# set for gcc (inherited by cc1, as, collect2 and ld: intended).  The object
# files and the executables must be byte-identical, and the program built
# under strata must print the same output as the reference program.  A small
# compile through `gcc -wrapper` first proves that strata is mapped into the
# processes gcc starts.
#
# Environment:
#   LIBSTRATA  (required) path to libstrata.so
# Exit: 0 pass, 1 fail, 77 skipped (gcc not installed).

set -u
name=gcc
NFUNCS=2000     # ~25 s per -O2 compile on a 2-core CI machine, ~330 MB
. "$(dirname "$0")/common.sh"   # fail, skip, $lib, describe, make_tmp

# --- programs ----------------------------------------------------------------
gcc=$(command -v gcc 2>/dev/null) || skip "gcc is not installed"
command -v timeout >/dev/null 2>&1 || fail "timeout(1) is required"
command -v awk >/dev/null 2>&1 || fail "awk is required"

# --- temporary directory -----------------------------------------------------
tmp=$(make_tmp) || fail "mktemp -d failed"
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM


# --- the generator ---------------------------------------------------------------
cat >"$tmp/gen.awk" <<'EOF'
function rnd() { seed = (seed * 69069 + 1) % 4294967296; return int(seed / 2) }
BEGIN {
    seed = 42; nf = nfuncs + 0; ns = 40
    print "#include <stdio.h>"
    print "#include <string.h>"
    print "typedef unsigned long u64;"
    for (s = 0; s < ns; s++) {
        printf "struct s%d { u64 a; unsigned int b[%d]; unsigned char c[16]; u64 d; };\n", s, 2 + s % 7
    }
    for (k = 0; k < nf; k++) {
        s = k % ns; nb = 2 + s % 7
        printf "static u64 f%d(u64 x);\n", k
    }
    for (k = 0; k < nf; k++) {
        s = k % ns; nb = 2 + s % 7
        printf "static u64 f%d(u64 x)\n{\n", k
        printf "    struct s%d st;\n", s
        printf "    memset(&st, 0, sizeof st);\n"
        printf "    st.a = x ^ %dUL; st.d = %dUL;\n", rnd(), rnd()
        printf "    for (unsigned i = 0; i < %d; i++) {\n", 4 + rnd() % 29
        printf "        switch ((st.a + i) %% %d) {\n", 3 + k % 3
        nc = 3 + k % 3
        for (c = 0; c < nc; c++) {
            op = rnd() % 8
            printf "        case %d: ", c
            if (op == 0) printf "st.a = st.a * %dUL + i; break;\n", rnd() % 1000 + 3
            else if (op == 1) printf "st.a ^= st.a >> %d; st.b[i %% %d] += (unsigned)st.a; break;\n", 1 + rnd() % 31, nb
            else if (op == 2) printf "st.c[(i + %d) & 15] ^= (unsigned char)(st.a >> %d); st.a += st.c[i & 15]; break;\n", rnd() % 16, rnd() % 56
            else if (op == 3) printf "st.d = (st.d << %d) | (st.d >> %d); st.a += st.d; break;\n", 1 + (c % 63), 63 - (c % 63)
            else if (op == 4) printf "if (st.a & %dUL) st.a -= %dUL; else st.a += st.b[0]; break;\n", rnd(), rnd()
            else if (op == 5) printf "for (unsigned j = 0; j < %d; j++) st.b[j] = st.b[j] * 33u + (unsigned)(st.a >> j); break;\n", nb
            else if (op == 6) printf "st.a = st.a %% %dUL + st.d; break;\n", rnd() % 100000 + 7
            else printf "st.d ^= st.a * 0x9e3779b97f4a7c15UL; st.a = st.d >> %d; break;\n", 1 + rnd() % 60
        }
        printf "        default: st.a = ~st.a; break;\n"
        printf "        }\n    }\n"
        printf "    u64 r = st.a ^ st.d;\n"
        printf "    for (unsigned j = 0; j < %d; j++) r = r * 131u + st.b[j];\n", nb
        printf "    for (unsigned j = 0; j < 16; j++) r = r * 31u + st.c[j];\n"
        if (k > 0) printf "    if ((x & 3) == %d) r ^= f%d(x >> 2);\n", k % 4, int(k / 2)
        printf "    return r;\n}\n"
    }
    printf "static u64 (*const table[%d])(u64) = {\n", nf
    for (k = 0; k < nf; k++) printf "    f%d,\n", k
    print "};"
    print "int main(void)"
    print "{"
    print "    u64 sum = 0;"
    printf "    for (unsigned k = 0; k < %d; k++) {\n", nf
    print "        sum = sum * 1000003u ^ table[k](k * 2654435761u + sum);"
    print "        if (k % 500 == 499) printf(\"%u %016lx\\n\", k + 1, sum);"
    print "    }"
    print "    printf(\"total %016lx\\n\", sum);"
    print "    return 0;"
    print "}"
}
EOF
(cd "$tmp" && awk -v nfuncs="$NFUNCS" -f gen.awk >prog.c) ||
    fail "the C generator (awk) failed"
[ "$(grep -c '^static u64 f[0-9]*(u64 x)$' "$tmp/prog.c")" = "$NFUNCS" ] ||
    fail "the generated prog.c does not hold $NFUNCS functions"

# build LABEL [ENV=VALUE...]: compile prog.c to LABEL.o, link LABEL.bin, with
# logs in $tmp/LABEL.{cc,ld}.err; returns non-zero after printing why on failure
build() {
    label=$1; shift
    (cd "$tmp" && timeout 120 env -u LIBSTRATA "$@" "$gcc" -O2 -c prog.c \
        -o "$label.o" </dev/null >"$label.cc.err" 2>&1)
    rc=$?
    if [ "$rc" != 0 ]; then
        echo "$name: $label: gcc -O2 -c prog.c: $(describe "$rc"):" >&2
        tail -n 30 "$tmp/$label.cc.err" | sed 's/^/    /' >&2
        return 1
    fi
    (cd "$tmp" && timeout 60 env -u LIBSTRATA "$@" "$gcc" "$label.o" \
        -o "$label.bin" </dev/null >"$label.ld.err" 2>&1)
    rc=$?
    if [ "$rc" != 0 ]; then
        echo "$name: $label: gcc $label.o -o $label.bin (link): $(describe "$rc"):" >&2
        tail -n 30 "$tmp/$label.ld.err" | sed 's/^/    /' >&2
        return 1
    fi
    return 0
}

# --- strata is really loaded into what gcc runs ------------------------------------
cat >"$tmp/wrap.sh" <<EOF
#!/bin/sh
# gcc -wrapper: record whether strata is mapped, then run the real tool.
if grep -qF '$lib' /proc/\$\$/maps; then m=mapped; else m=missing; fi
echo "\${1##*/} \$m" >>'$tmp/wrap.log'
exec "\$@"
EOF
chmod +x "$tmp/wrap.sh"
printf 'int main(void) { return 0; }\n' >"$tmp/small.c"
(cd "$tmp" && timeout 60 env -u LIBSTRATA LD_PRELOAD="$lib" "$gcc" -O2 \
    -wrapper "$tmp/wrap.sh" small.c -o small </dev/null >small.err 2>&1)
rc=$?
if [ "$rc" != 0 ]; then
    sed 's/^/    /' "$tmp/small.err" >&2
    fail "gcc with LD_PRELOAD could not build a one-line program ($(describe "$rc"))"
fi
for tool in cc1 as collect2; do
    grep -q "^$tool mapped\$" "$tmp/wrap.log" || {
        sed 's/^/    /' "$tmp/wrap.log" >&2
        fail "$lib is not mapped into $tool started by gcc with LD_PRELOAD"
    }
done

# --- reference build (no strata) ------------------------------------------------
build ref || fail "reference build WITHOUT strata failed; test is broken, not strata"
timeout 30 "$tmp/ref.bin" >"$tmp/ref.out" 2>&1 </dev/null
rc=$?
[ "$rc" = 0 ] || fail "reference program failed ($(describe "$rc")); test is broken"
grep -q '^total [0-9a-f]\{16\}$' "$tmp/ref.out" ||
    fail "reference program printed no total line"

# --- strata build -------------------------------------------------------------------
build strata LD_PRELOAD="$lib" ||
    fail "gcc with LD_PRELOAD=$lib failed to build the program (see above)"
status=0
for f in cc.err ld.err; do
    if ! cmp -s "$tmp/ref.$f" "$tmp/strata.$f"; then
        echo "$name: gcc's messages differ under strata ($f):" >&2
        diff -u "$tmp/ref.$f" "$tmp/strata.$f" | head -30 >&2
        status=1
    fi
done
if ! cmp "$tmp/ref.o" "$tmp/strata.o" >&2; then
    echo "$name: prog.o compiled under strata differs from the one compiled without" >&2
    status=1
fi
if ! cmp "$tmp/ref.bin" "$tmp/strata.bin" >&2; then
    echo "$name: the executable linked under strata differs from the one linked without" >&2
    status=1
fi
timeout 30 "$tmp/strata.bin" >"$tmp/strata.out" 2>&1 </dev/null
rc=$?
if [ "$rc" != 0 ]; then
    echo "$name: the program built under strata failed: $(describe "$rc")" >&2
    status=1
elif ! cmp -s "$tmp/ref.out" "$tmp/strata.out"; then
    echo "$name: the program built under strata prints something else:" >&2
    diff -u "$tmp/ref.out" "$tmp/strata.out" | head -30 >&2
    status=1
fi

[ "$status" = 0 ] || fail "gcc under strata misbehaved (see above)"
echo "$name: PASS ($NFUNCS functions; .o and executable identical; $(tail -n 1 "$tmp/ref.out"))"
exit 0
