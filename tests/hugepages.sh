#!/bin/sh
# SPDX-License-Identifier: MIT
# Huge pages on the real kernel: with pages reserved in the hugetlb pool,
# STRATA_HUGEPAGES=hugetlb puts the heap on 2 MiB pages (/proc/self/smaps
# says so, and strata's statistics agree) and gives them back to the pool;
# with none reserved it falls back cleanly, counted and said once; thp and
# the reserve do what they say.  Needs root to size the pool; puts it back.
name=hugepages
. "$(dirname "$0")/integration/common.sh"
child=${BUILDDIR:-.}/tests/hugepage_child
[ -x "$child" ] || skip "$child is not built"
pool=/proc/sys/vm/nr_hugepages
[ -w "$pool" ] || skip "cannot size the hugetlb pool ($pool not writable: not root?)"
old=$(cat "$pool")
trap 'echo "$old" > "$pool"' EXIT

field() {   # field LINE-LABEL NAME < output
    awk -v l="$1" -v f="$2" '$1 == l { for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == f) print kv[2] } }'
}
free_pages() { awk '/^HugePages_Free/ { print $2 }' /proc/meminfo; }
run() {    # run ENV... : the child with strata preloaded, output in $out
    # strata in the child only: timeout(1) would take a region of the pool too
    out=$(timeout 60 env "$@" LD_PRELOAD="$lib" STRATA_LEAK=off "$child" 48 2>"$tmp/err")
    rc=$?
    [ $rc -eq 0 ] || fail "$*: $(describe $rc): $(cat "$tmp/err")"
}
tmp=$(make_tmp)
trap 'echo "$old" > "$pool"; rm -rf "$tmp"' EXIT

# --- hugetlb with a pool of 40 pages (80 MiB; the heap needs 64 MiB of regions)
echo 40 > "$pool"
[ "$(free_pages)" -ge 40 ] || skip "the kernel gave only $(free_pages) of 40 huge pages"
before=$(free_pages)
run STRATA_HUGEPAGES=hugetlb
echo "hugetlb:"; echo "$out"
mapped=$(echo "$out" | field full hugetlb_mapped_kib)
resident=$(echo "$out" | field full hugetlb_resident_kib)
smaps=$(echo "$out" | field full smaps_hugetlb_kib)
vma=$(echo "$out" | field full smaps_huge_vma_kib)
[ "$mapped" -ge 65536 ] || fail "hugetlb_mapped ${mapped} KiB, expected the heap's regions (>= 64 MiB)"
[ "$resident" -ge 49152 ] || fail "hugetlb_resident ${resident} KiB for a 48 MiB heap"
diff=$((resident > smaps ? resident - smaps : smaps - resident))
[ "$diff" -le 2048 ] || fail "strata says $resident KiB on hugetlb pages, smaps says $smaps"
[ "$vma" -ge "$mapped" ] || fail "smaps shows $vma KiB with KernelPageSize 2048 kB, strata $mapped"
[ "$(echo "$out" | field full fallbacks)" = 0 ] || fail "fell back with pages in the pool"
# What stays is the live data's pages: the child's 800 KB array of pointers
# (a large run, which may straddle two 2 MiB pages, by where the buddy put
# it) and a few small blocks (stdio's buffer, the other array) on a third
freed=$(echo "$out" | field freed hugetlb_resident_kib)
[ "$freed" -le 6144 ] || fail "after free and trim, $freed KiB still on hugetlb pages"
[ "$(free_pages)" -eq "$before" ] || fail "pool has $(free_pages) free pages after exit, had $before"

# --- the reserve: regions faulted in at start, on huge pages, kept
run STRATA_HUGEPAGES=hugetlb STRATA_RESERVE=64m
echo "hugetlb + reserve:"; echo "$out"
[ "$(echo "$out" | field start reserved_kib)" = 65536 ] || fail "reserved is not 64 MiB at start"
[ "$(echo "$out" | field start smaps_hugetlb_kib)" -ge 65536 ] || fail "the reserve is not faulted in at start"
[ "$(echo "$out" | field freed hugetlb_resident_kib)" -ge 65536 ] || fail "the reserve was given back"

# --- a huge block (above 4 MiB) on 2 MiB pages; realloc copies it
out=$(timeout 60 env STRATA_HUGEPAGES=hugetlb LD_PRELOAD="$lib" STRATA_LEAK=off "$child" 10 block 2>"$tmp/err") ||
    fail "huge block: $(cat "$tmp/err")"
echo "hugetlb, a 10 MiB block:"; echo "$out"
[ "$(echo "$out" | field block hugetlb_mapped_kib)" -ge 10240 ] || fail "the 10 MiB block is not on hugetlb pages"
[ "$(echo "$out" | field block smaps_hugetlb_kib)" -ge 10240 ] || fail "smaps does not show the block on hugetlb pages"

# --- a pool smaller than a region (4 pages): the region takes its pages a
# 2 MiB chunk at a time as the heap grows, and the chunks the pool cannot
# back get ordinary pages (no SIGBUS, no reservation of 16 pages at once)
echo 4 > "$pool"
if [ "$(free_pages)" -ge 4 ]; then
    run STRATA_HUGEPAGES=hugetlb
    echo "hugetlb, a 4-page pool:"; echo "$out"
    [ "$(echo "$out" | field full smaps_hugetlb_kib)" -eq 8192 ] || fail "small pool: the heap does not use the pool's 4 pages"
    [ "$(echo "$out" | field full hugetlb_resident_kib)" -eq 8192 ] || fail "small pool: strata counts $(echo "$out" | field full hugetlb_resident_kib) KiB on hugetlb pages, the kernel 8192"
    [ "$(echo "$out" | field full fallbacks)" -gt 0 ] || fail "small pool: the chunks on ordinary pages are not counted as fallbacks"
    [ "$(free_pages)" -eq 4 ] || fail "small pool: $(free_pages) of 4 pages free after exit"
else
    echo "small pool: the kernel gave only $(free_pages) of 4 huge pages; that part is skipped"
fi

# --- fork: the parent holds the whole pool (20 pages: its region's chunks,
# an 8 MiB block, and 40 MiB more of blocks so that the pool runs dry); its
# child writes every inherited block and allocates.  Each such write would
# need a pool page for its copy (SIGBUS with none): the child moves its
# hugetlb memory to ordinary pages at fork.
echo 20 > "$pool"
if [ "$(free_pages)" -ge 20 ]; then
    out=$(timeout 60 env STRATA_HUGEPAGES=hugetlb LD_PRELOAD="$lib" STRATA_LEAK=off "$child" 0 fork 2>"$tmp/err") ||
        fail "fork: the parent failed: $(cat "$tmp/err")"
    echo "hugetlb, fork with the pool held by the parent:"; echo "$out"
    [ "$(echo "$out" | field parent smaps_hugetlb_kib)" -eq 40960 ] || fail "fork: the parent does not hold the whole pool"
    [ "$(echo "$out" | field parent fallbacks)" -gt 0 ] || fail "fork: the pool did not run dry in the parent"
    [ "$(free_pages)" -eq 20 ] || fail "fork: the pool has $(free_pages) of 20 pages free after the programs exited"
    [ "$(echo "$out" | field fork status)" = 0 ] || fail "fork: the child died: wait status $(echo "$out" | field fork status) ($(cat "$tmp/err"))"
    [ "$(echo "$out" | field child hugetlb_mapped_kib)" = 0 ] || fail "fork: the child still maps hugetlb pages"

    # a shell pipeline of forking processes, each taking a region of a
    # small pool (the later ones fall back), every subshell writing
    out=$(timeout 60 env STRATA_HUGEPAGES=hugetlb LD_PRELOAD="$lib" STRATA_LEAK=off \
          bash -c 'for i in 1 2 3 4 5 6; do (x=$(seq 1 2000); echo "$x" | sort -n | tail -1) | cat; done' 2>"$tmp/err")
    rc=$?
    [ $rc -eq 0 ] || fail "bash pipeline under hugetlb: $(describe $rc): $(head -3 "$tmp/err")"
    [ "$(echo "$out" | grep -c '^2000$')" = 6 ] || fail "bash pipeline under hugetlb printed: $out"
    echo "hugetlb, a bash pipeline with a 20-page pool: ok"
else
    echo "fork: the kernel gave only $(free_pages) of 20 huge pages; that part is skipped"
fi

# --- 1 GiB pages, where the kernel can reserve one
giga=/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages
if [ -w "$giga" ]; then
    old_giga=$(cat "$giga")
    trap 'echo "$old" > "$pool"; echo "$old_giga" > "$giga"; rm -rf "$tmp"' EXIT
    echo 1 > "$giga"
    if [ "$(cat "$giga")" -ge 1 ]; then
        out=$(timeout 120 env STRATA_HUGEPAGES=hugetlb STRATA_HUGETLB_1G=1 LD_PRELOAD="$lib" STRATA_LEAK=off \
              "$child" 1024 block 2>"$tmp/err") || fail "1 GiB block: $(cat "$tmp/err")"
        echo "hugetlb_1g, a 1 GiB block:"; echo "$out"
        [ "$(echo "$out" | field block smaps_giga_vma_kib)" -ge 1048576 ] || fail "the 1 GiB block is not on a 1 GiB page"
        [ "$(echo "$out" | field block hugetlb_resident_kib)" -ge 1048576 ] || fail "strata does not count the 1 GiB page"
    else
        echo "1 GiB pages: the kernel could not reserve one; that part is skipped"
    fi
    echo "$old_giga" > "$giga"
fi

# --- no pages in the pool: the same program runs, on THP, and says so once
echo 0 > "$pool"
run STRATA_HUGEPAGES=hugetlb STRATA_VERBOSE=1
echo "hugetlb, empty pool:"; echo "$out"
[ "$(echo "$out" | field full fallbacks)" -ge 1 ] || fail "fallback not counted"
[ "$(echo "$out" | field full hugetlb_mapped_kib)" = 0 ] || fail "hugetlb regions with an empty pool?"
[ "$(echo "$out" | field full thp_mapped_kib)" -ge 65536 ] || fail "fell back to 4 KiB pages, not THP"
n=$(grep -c "no hugetlb pages" "$tmp/err")
[ "$n" = 1 ] || fail "the fallback was said $n times: $(cat "$tmp/err")"

# --- thp: regions advised; with THP in madvise or always mode they get huge pages
run STRATA_HUGEPAGES=thp
echo "thp:"; echo "$out"
[ "$(echo "$out" | field full thp_mapped_kib)" -ge 65536 ] || fail "regions not advised"
if grep -q '\[madvise\]\|\[always\]' /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null; then
    [ "$(echo "$out" | field full smaps_anon_huge_kib)" -gt 0 ] || fail "no AnonHugePages with thp"
fi

# --- off: nothing on huge pages
run STRATA_HUGEPAGES=off
[ "$(echo "$out" | field full thp_mapped_kib)" = 0 ] || fail "off advised regions"
[ "$(echo "$out" | field full hugetlb_mapped_kib)" = 0 ] || fail "off mapped hugetlb regions"
echo "$name: ok"
