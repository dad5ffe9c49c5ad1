#!/bin/bash
# SPDX-License-Identifier: MIT
# Integration test: strata in a memory-limited cgroup.
#
# The kernel does not make mmap fail in a memory cgroup: the mapping
# succeeds, and when a page fault would take the cgroup over its limit (and
# nothing can be reclaimed) the OOM killer kills a process of the cgroup.
# So what can be asserted is:
#
#  1. tests/cgroup_child keeping a live set that fits the limit (48 MiB in
#     a 128 MiB cgroup, small and large blocks, 4 threads) while it allocates
#     and frees 4 GiB runs to completion under strata, exit 0, every block's
#     contents checked; the cgroup's peak usage stays under the limit (and
#     v2's memory.events "max" stays 0: the limit was never reached), i.e. strata
#     gives freed memory back to the kernel while the program runs, and it
#     found the cgroup's limit (its report at exit names it): near the
#     limit its decay keeps less freed memory than it does without one.  The same
#     run without strata (glibc) is reported for comparison, not judged.
#  2. the same with a live set above the limit (192 MiB) is killed by the
#     kernel's OOM killer (SIGKILL, the cgroup's oom_kill counter goes up),
#     not stopped by strata or by a corruption.
#
# cgroup v2 (memory.max, memory.swap.max, memory.peak) is used when its
# memory controller is available, else v1 (memory.limit_in_bytes,
# memory.memsw.limit_in_bytes, memory.max_usage_in_bytes).  The test cgroups
# are created under the one this script runs in (v1) or under the nearest
# ancestor that delegates the memory controller (v2), and removed on exit.
#
# Environment:
#   LIBSTRATA  (required) path to libstrata.so
#   BUILDDIR   the build directory holding tests/cgroup_child
# Exit: 0 pass, 1 fail, 77 skipped (no usable memory cgroup, not allowed to
# create one, no cgroup_child, too little free memory).

# make check runs the tests with $(SHELL), i.e. /bin/sh: this one needs bash
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"

set -u
name=cgroup
. "$(dirname "$0")/integration/common.sh"   # fail, skip, $lib, describe, make_tmp

limit_mib=128
fit_mib=48          # live set of case 1
over_mib=192        # live set of case 2
total_mib=4096      # allocated and freed over the run of case 1
threads=4
run_timeout=15      # seconds per run; a run takes 2 to 5 s on 2 cores

MiB=1048576
limit=$((limit_mib * MiB))

# --- the child program ---------------------------------------------------------
[ -n "${BUILDDIR:-}" ] || skip "BUILDDIR is not set (run under make check, or export BUILDDIR)"
child=$BUILDDIR/tests/cgroup_child
[ -x "$child" ] || skip "$child is not built"
command -v timeout >/dev/null 2>&1 || fail "timeout(1) is required"

avail_kib=$(awk '/^MemAvailable:/ { print $2 }' /proc/meminfo)
[ "${avail_kib:-0}" -ge $(( (limit_mib * 3 + 256) * 1024 )) ] ||
    skip "only ${avail_kib:-?} KiB of memory available"

# --- find a memory cgroup hierarchy we may create groups in ----------------------
ver=
base=
v2_mnt=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/self/mounts)
if [ -n "$v2_mnt" ] && grep -qw memory "$v2_mnt/cgroup.controllers" 2>/dev/null; then
    # a v2 group may get memory.max only if its parent lists memory in
    # cgroup.subtree_control; a group holding processes (ours) cannot, so
    # climb from ours to the nearest ancestor that does
    rel=$(sed -n 's/^0:://p' /proc/self/cgroup)
    dir=$v2_mnt${rel%/}
    while :; do
        if grep -qw memory "$dir/cgroup.subtree_control" 2>/dev/null; then
            ver=2; base=$dir; break
        fi
        [ "$dir" = "$v2_mnt" ] && break
        dir=$(dirname "$dir")
    done
fi
if [ -z "$ver" ]; then
    v1_mnt=$(awk '$3 == "cgroup" && ("," $4 ",") ~ /,memory,/ { print $2; exit }' /proc/self/mounts)
    if [ -n "$v1_mnt" ] && [ -f "$v1_mnt/memory.limit_in_bytes" ]; then
        rel=$(awk -F: '("," $2 ",") ~ /,memory,/ { print $3; exit }' /proc/self/cgroup)
        base=$v1_mnt${rel%/}
        [ -d "$base" ] || base=$v1_mnt
        ver=1
    fi
fi
[ -n "$ver" ] || skip "no memory cgroup controller (v2 with memory delegated, or v1) is mounted"

# the groups above ours must leave room for the test's limit and more
if [ "$ver" = 1 ]; then
    hier=$(awk '$1 == "hierarchical_memory_limit" { print $2 }' "$base/memory.stat" 2>/dev/null)
    [ -z "$hier" ] || [ "$hier" -ge $((limit * 2)) ] 2>/dev/null ||
        skip "the enclosing memory cgroup is limited to $hier bytes"
else
    dir=$base
    while [ "${#dir}" -gt "${#v2_mnt}" ]; do
        m=$(cat "$dir/memory.max" 2>/dev/null)
        case $m in
            ''|max) ;;
            *) [ "$m" -ge $((limit * 2)) ] ||
                   skip "the enclosing cgroup $dir is limited to $m bytes" ;;
        esac
        dir=$(dirname "$dir")
    done
fi

# a swap the cgroup cannot forbid (no swap accounting) would let case 2 swap
# instead of running out of memory
swap_kib=$(awk '/^SwapTotal:/ { print $2 }' /proc/meminfo)
if [ "$ver" = 2 ]; then swapctl=memory.swap.max; else swapctl=memory.memsw.limit_in_bytes; fi

# --- the test's groups, always removed -------------------------------------------
tmp=$(make_tmp) || fail "mktemp -d failed"
groups=()
sampler=

rm_group() {
    local cg=$1 n=0 p
    [ -d "$cg" ] || return 0
    # a run that outlived its timeout (should not happen): kill what is left
    for p in $(cat "$cg/cgroup.procs" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
    while ! rmdir "$cg" 2>/dev/null; do
        n=$((n + 1))
        if [ "$n" -ge 50 ]; then
            echo "$name: could not remove $cg" >&2
            return 1
        fi
        sleep 0.1
    done
}
cleanup() {
    [ -n "$sampler" ] && kill "$sampler" 2>/dev/null
    local cg
    for cg in "${groups[@]}"; do rm_group "$cg"; done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

# new_group LABEL: create a group limited to $limit (no swap), name in $cg
new_group() {
    cg=$base/strata-test-$$-$1
    rm_group "$cg"
    mkdir "$cg" 2>/dev/null || skip "cannot create a cgroup under $base (not root, or not delegated)"
    groups+=("$cg")
    swap_ok=yes
    [ "${swap_kib:-0}" -eq 0 ] || [ -f "$cg/$swapctl" ] || swap_ok=no
    if [ "$ver" = 2 ]; then
        echo "$limit" >"$cg/memory.max" 2>/dev/null ||
            skip "cannot set memory.max in $cg"
        [ -f "$cg/memory.swap.max" ] && echo 0 >"$cg/memory.swap.max"
    else
        echo "$limit" >"$cg/memory.limit_in_bytes" 2>/dev/null ||
            skip "cannot set memory.limit_in_bytes in $cg"
        # memsw (memory + swap) must be at least the memory limit: set it after
        [ -f "$cg/memory.memsw.limit_in_bytes" ] &&
            echo "$limit" >"$cg/memory.memsw.limit_in_bytes"
        echo 0 >"$cg/memory.oom_control" 2>/dev/null   # OOM killer enabled
    fi
    return 0
}

# counter FILE KEY: the value of "KEY N" in a flat-keyed cgroup file
counter() {
    awk -v k="$2" '$1 == k { print $2; f = 1 } END { if (!f) print "?" }' "$cg/$1" 2>/dev/null
}
oom_kills() {
    if [ "$ver" = 2 ]; then counter memory.events oom_kill; else counter memory.oom_control oom_kill; fi
}
# how many times usage reached the limit (v2 only: v1's memory.failcnt stays
# 0 on recent kernels even across an OOM kill; there a peak equal to the
# limit tells the same)
limit_hits() {
    if [ "$ver" = 2 ]; then counter memory.events max; else echo '?'; fi
}

# run_in LABEL ARGS...: run ARGS in the group, output to $tmp/LABEL.{out,err};
# sets rc, peak (bytes; "?" if unknown), peak_how, ooms, hits
run_in() {
    local label=$1 kind=file
    shift
    peak_how=memory.peak
    [ "$ver" = 1 ] && peak_how=memory.max_usage_in_bytes
    if [ ! -f "$cg/$peak_how" ]; then
        # kernels before 5.19 have no memory.peak: sample memory.current
        peak_how="memory.current sampled every 20 ms"
        kind=sampled
        (m=0; while :; do
             c=$(cat "$cg/memory.current" 2>/dev/null) || exit 0
             [ "${c:-0}" -gt "$m" ] && { m=$c; echo "$m" >"$tmp/$label.peak"; }
             sleep 0.02
         done) &
        sampler=$!
    fi
    # The shell moves itself into the group, then becomes the program.  The
    # subshell keeps bash's "Killed" notice (timeout re-raises the child's
    # SIGKILL on itself) out of the output.
    (timeout -k 2 "$run_timeout" sh -c \
        'echo $$ >"$0/cgroup.procs" 2>/dev/null || exit 125; exec "$@"' \
        "$cg" "$@" </dev/null >"$tmp/$label.out" 2>"$tmp/$label.err"
     r=$?; exit $r) 2>/dev/null
    rc=$?
    if [ "$kind" = sampled ]; then
        kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null; sampler=
        peak=$(cat "$tmp/$label.peak" 2>/dev/null || echo '?')
    else
        peak=$(cat "$cg/$peak_how")
    fi
    ooms=$(oom_kills)
    hits=$(limit_hits)
    [ "$rc" = 125 ] && skip "cannot move a process into $cg"
    return 0
}

mib() { case $1 in *[!0-9]*|'') echo "$1" ;; *) awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }' ;; esac; }

show() {
    echo "$name: $1: stdout:" >&2; sed 's/^/    /' "$tmp/$1.out" >&2
    echo "$name: $1: stderr:" >&2; head -n 30 "$tmp/$1.err" | sed 's/^/    /' >&2
}

status=0
bad() { echo "$name: FAIL: $*" >&2; status=1; }

# --- case 1: live set within the limit, under strata ------------------------------
new_group fit
run_in fit env LD_PRELOAD="$lib" STRATA_REPORT=text "$child" "$fit_mib" "$total_mib" "$threads"
fit_rc=$rc fit_peak=$peak fit_ooms=$ooms fit_hits=$hits
if grep -q 'cannot be preloaded' "$tmp/fit.err"; then
    show fit; fail "strata was not loaded into the child"
fi
if [ "$fit_rc" != 0 ] || ! grep -q '^cgroup_child: ok:' "$tmp/fit.out"; then
    show fit
    bad "a live set of $fit_mib MiB in a $limit_mib MiB cgroup did not run to completion" \
        "under strata: $(describe "$fit_rc"), oom_kill $fit_ooms"
fi
grep -q '^strata:\|CORRUPTION' "$tmp/fit.err" && { show fit; bad "strata or the child reported an error (above)"; }
# the report at exit names the limit the decay followed: the cgroup's
grep -q "^  memory limit  *$limit bytes (cgroup)" "$tmp/fit.err" ||
    { show fit; bad "strata did not find the cgroup's memory limit ($limit bytes)"; }
case $fit_peak in
    *[!0-9]*|'') echo "$name: the peak usage of the cgroup is unknown" >&2 ;;
    *) [ "$fit_peak" -lt "$limit" ] ||
           bad "the cgroup's peak usage under strata reached the limit ($(mib "$fit_peak") MiB)" ;;
esac
[ "$fit_hits" = 0 ] || [ "$fit_hits" = '?' ] ||
    bad "the cgroup hit its $limit_mib MiB limit $fit_hits times under strata (peak $(mib "$fit_peak") MiB):" \
        "freed memory did not go back to the kernel soon enough"
rm_group "$cg"

# --- the same without strata, for comparison only ---------------------------------
new_group glibc
run_in glibc "$child" "$fit_mib" "$total_mib" "$threads"
glibc_rc=$rc glibc_peak=$peak glibc_ooms=$ooms glibc_hits=$hits
rm_group "$cg"

# --- case 2: live set above the limit, under strata --------------------------------
over=skipped
new_group over
if [ "$swap_ok" = no ]; then
    echo "$name: case 2 skipped: swap is on and $swapctl is missing, so the" \
        "cgroup could swap instead of running out of memory" >&2
else
    run_in over env LD_PRELOAD="$lib" "$child" "$over_mib" 1024 "$threads"
    over_rc=$rc
    over="$(describe "$over_rc"), oom_kill $ooms, peak $(mib "$peak") MiB"
    if [ "$over_rc" = 137 ]; then
        case $ooms in
            '?') echo "$name: no oom_kill counter in this kernel: SIGKILL taken as the OOM killer's" >&2 ;;
            0) show over; bad "case 2 was killed by SIGKILL but the cgroup counts no OOM kill" ;;
        esac
    elif [ "$over_rc" = 0 ]; then
        show over
        bad "a live set of $over_mib MiB ran to completion in a $limit_mib MiB cgroup: is the limit enforced?"
    else
        show over
        bad "a live set of $over_mib MiB in a $limit_mib MiB cgroup: $(describe "$over_rc")," \
            "expected the OOM killer's SIGKILL"
    fi
    grep -q '^strata:\|CORRUPTION' "$tmp/over.err" &&
        { show over; bad "strata or the child reported an error before the OOM kill"; }
fi
rm_group "$cg"

[ "$status" = 0 ] || fail "strata misbehaved in a memory cgroup (see above)"
echo "$name: PASS (cgroup v$ver, limit $limit_mib MiB, live $fit_mib MiB, $total_mib MiB" \
    "allocated, $threads threads; peak ($peak_how) strata $(mib "$fit_peak") MiB," \
    "glibc $(mib "$glibc_peak") MiB ($(describe "$glibc_rc"), oom_kill $glibc_ooms$(
    [ "$glibc_hits" = '?' ] || echo ", limit reached $glibc_hits times")); live $over_mib MiB under strata: $over)"
exit 0
