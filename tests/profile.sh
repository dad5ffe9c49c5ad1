#!/bin/sh
# SPDX-License-Identifier: MIT
# Heap profiles for google-pprof: a program with two leaking functions runs
# under STRATA_PROFILE_FILE=.../prof.%p, and google-pprof, reading the file
# named with the program's pid, names both functions with the bytes they
# leaked: exactly (within 10%) with STRATA_LEAK=full, within 25% with
# STRATA_LEAK=sampled.  strata_profile_write() on a descriptor writes the
# same profile while the program runs.
name=profile
. "$(dirname "$0")/integration/common.sh"
pprof=$(command -v google-pprof) || skip "google-pprof is not installed (Debian: google-perftools)"
tmp=$(make_tmp)
trap 'rm -rf "$tmp"' EXIT

# leak N blocks of SIZE bytes from each function, then write the profile
# through the API to argv[5] and exit (the exit writes the other one).
cat > "$tmp/leaky.c" <<'C'
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void *kept[1 << 16];
static int nkept;

static void keep(size_t size)
{
	void *p = malloc(size);
	if (p == NULL)
		exit(3);
	memset(p, 1, size);
	kept[nkept++] = p;
}

void leak_sessions(int n, size_t size)
{
	for (int i = 0; i < n; i++)
		keep(size);
}

void leak_buffers(int n, size_t size)
{
	for (int i = 0; i < n; i++)
		keep(size);
}

int main(int argc, char **argv)
{
	if (argc != 6)
		return 2;
	leak_sessions(atoi(argv[1]), (size_t)atol(argv[2]));
	leak_buffers(atoi(argv[3]), (size_t)atol(argv[4]));
	int (*profile_write)(int) = (int (*)(int))dlsym(RTLD_DEFAULT, "strata_profile_write");
	int fd = open(argv[5], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (profile_write == NULL || fd < 0 || profile_write(fd) != 0)
		return 4;
	close(fd);
	printf("%d\n", (int)getpid());
	return 0;
}
C
gcc -g -O0 -fno-omit-frame-pointer -fno-inline "$tmp/leaky.c" -o "$tmp/leaky" -ldl \
    2>"$tmp/cc.err" || fail "cannot build the program: $(head -3 "$tmp/cc.err")"

# The bytes google-pprof puts under function $2 in profile $1 (cumulative:
# both call keep(), which calls malloc).
pprof_bytes() {
    "$pprof" --text --show_bytes "$tmp/leaky" "$1" 2>"$tmp/pprof.err" |
        awk -v f="$2" '$6 == f { print $4 }'
}

# Is $1 within $3 percent of $2?
near() {
    [ -n "$1" ] && awk -v got="$1" -v want="$2" -v pct="$3" \
        'BEGIN { d = got - want; if (d < 0) d = -d; exit !(d * 100 <= want * pct) }'
}

# run MODE PCT N1 SIZE1 N2 SIZE2 [VARIABLE=VALUE ...]
run() {
    mode=$1 pct=$2 n1=$3 s1=$4 n2=$5 s2=$6
    shift 6
    rm -f "$tmp"/prof.*
    pid=$(timeout 120 env LD_PRELOAD="$lib" STRATA_LEAK="$mode" STRATA_PROFILE_FILE="$tmp/prof.%p" "$@" \
        "$tmp/leaky" "$n1" "$s1" "$n2" "$s2" "$tmp/api.prof" 2>"$tmp/run.err")
    rc=$?
    [ $rc -eq 0 ] || fail "$mode: the program: $(describe $rc): $(head -3 "$tmp/run.err")"
    prof="$tmp/prof.$pid"
    [ -s "$prof" ] || fail "$mode: no profile at $prof: $(ls "$tmp")"
    head -1 "$prof" | grep -Eq '^heap profile: +[0-9]+: +[0-9]+ \[ *[0-9]+: +[0-9]+\] @ heapprofile$' ||
        fail "$mode: header: $(head -1 "$prof")"
    grep -qx 'MAPPED_LIBRARIES:' "$prof" || fail "$mode: no MAPPED_LIBRARIES section"
    for f in "$prof" "$tmp/api.prof"; do
        sessions=$(pprof_bytes "$f" leak_sessions)
        buffers=$(pprof_bytes "$f" leak_buffers)
        near "$sessions" $((n1 * s1)) "$pct" && near "$buffers" $((n2 * s2)) "$pct" ||
            fail "$mode: $f: google-pprof gives leak_sessions '$sessions' and leak_buffers" \
                 "'$buffers' bytes, leaked $((n1 * s1)) and $((n2 * s2)): $(head -3 "$tmp/pprof.err")"
    done
    echo "$mode: leak_sessions $sessions of $((n1 * s1)) bytes, leak_buffers $buffers of $((n2 * s2))"
}

full=$(run full 10 300 1000 20 65536) || exit 1
# 100 MB at one sample per 64 KiB on average: some 1600 samples.
sampled=$(run sampled 25 3200 16384 800 65536 STRATA_LEAK_SAMPLE=65536) || exit 1
echo "$name: ok ($full; $sampled)"
