/* SPDX-License-Identifier: MIT */
/* Tests for src/arena.c: growth, trim, decay of unused memory. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/redirect.h>

#include "buddy.h"
#include "large.h"
#include "strata.h"
#include "options.h"
#include "os.h"

static struct arena A;

static void setup(void)
{
	free(malloc(1)); /* options are read */
	arena_init(&A, 0);
	lock_acquire(&A.lock);
	cr_assert(arena_grow(&A));
	cr_assert(arena_grow(&A));
	lock_release(&A.lock);
}

TestSuite(arena, .init = setup);

static size_t dirty_pages(struct arena *a)
{
	size_t n = 0;
	for (unsigned k = 0; k <= BUDDY_MAX_ORDER; k++)
		free_area_for_each(&a->free_area[k], pg) n += pg->dirty;
	return n;
}

/* Large runs of 4 MiB (whose pages are counted in use) taken from A,
 * touched and freed: the arena's pages in use rise and fall. */
static void spike(unsigned runs)
{
	void *p[8];
	for (unsigned i = 0; i < runs; i++) {
		p[i] = large_alloc(&A, LARGE_MAX, PAGE_SIZE, false);
		cr_assert_not_null(p[i]);
		memset(p[i], 1, LARGE_MAX);
	}
	for (unsigned i = 0; i < runs; i++)
		large_free(page_of(region_of(p[i]), p[i]));
}

Test(arena, a_spike_is_kept_within_the_decay_then_given_back)
{
	long decay = strata_option(OPT_DECAY_MS);
	cr_assert_eq(decay, 1000, "default decay_ms");
	spike(2);
	uint64_t now = os_now_ms();
	size_t   spiked = A.dirty_pages;
	cr_assert_geq(spiked, 2 * (LARGE_MAX >> PAGE_SHIFT), "8 MiB freed, dirty");
	lock_acquire(&A.lock);
	A.next_decay_ms = now; /* a pass is due */
	arena_decay(&A, now);
	cr_assert_eq(A.dirty_pages, spiked,
	             "the peak is recent: all of it kept (%zu of %zu, peak %zu)", A.dirty_pages,
	             spiked, A.peak_prev);
	cr_assert_eq(A.dirty_pages, dirty_pages(&A));
	cr_assert_geq(A.next_decay_ms, now + decay / 8, "next pass an eighth of the period later");

	arena_decay(&A, now + (uint64_t)decay / 2 + 10);
	cr_assert_eq(A.dirty_pages, spiked, "the peak's window is the previous one: kept");

	arena_decay(&A, now + (uint64_t)decay + 20);
	cr_assert_leq(A.dirty_pages, arena_dirty_floor(&A),
	              "both windows moved past the peak: given back");
	cr_assert_eq(A.dirty_pages, dirty_pages(&A));
	lock_release(&A.lock);
}

Test(arena, a_heap_that_grows_again_keeps_its_memory)
{
	long decay = strata_option(OPT_DECAY_MS);
	spike(2);
	uint64_t now = os_now_ms();
	lock_acquire(&A.lock);
	A.next_decay_ms = now;
	arena_decay(&A, now + (uint64_t)decay / 4);
	lock_release(&A.lock);
	size_t dirty = A.dirty_pages;
	spike(2); /* the same memory again: no page fault */
	cr_assert_geq(A.dirty_pages, dirty, "reused, and kept again");
	lock_acquire(&A.lock);
	A.next_decay_ms = 0;
	arena_decay(&A, now + (uint64_t)decay * 3 / 4 + 10);
	cr_assert_geq(A.dirty_pages, dirty, "the peak came back in this window: kept");
	lock_release(&A.lock);
}

/* Between passes, the dirty pages go back at once when they pass the cap
 * by more than the margin: a heap whose pages in use never fell. */
Test(arena, dirty_pages_over_the_limit_go_back_at_once)
{
	lock_acquire(&A.lock);
	A.next_decay_ms = UINT64_MAX; /* no pass */
	struct page *a = buddy_alloc(&A, BUDDY_MAX_ORDER), *b = buddy_alloc(&A, BUDDY_MAX_ORDER);
	buddy_free(&A, a, BUDDY_MAX_ORDER, true);
	buddy_free(&A, b, BUDDY_MAX_ORDER, true);
	cr_assert_gt(A.dirty_pages, arena_dirty_limit(&A), "32 MiB dirty, nothing was in use");
	arena_maybe_decay(&A, os_now_ms());
	cr_assert_leq(A.dirty_pages, arena_dirty_cap(&A), "given back down to the cap");
	cr_assert_eq(A.dirty_pages, dirty_pages(&A));
	lock_release(&A.lock);
}

static void setup_decay_0(void)
{
	setup();
	_strata_option_values[OPT_DECAY_MS] = 0; /* as STRATA_DECAY_MS=0 sets it */
}

/* With decay_ms 0 a pass purges down to the cap at once, blocks freed in
 * this very pass included: nothing waits for its age, even with pages in
 * use (whose eighth would otherwise be let wait). */
Test(arena, with_decay_0_what_was_just_freed_goes_back_at_once, .init = setup_decay_0)
{
	cr_assert_eq(strata_option(OPT_DECAY_MS), 0);
	enum { BLOCKS = 64, ORDER = 7 }; /* 128 pages each; every other one freed */
	static struct page *blk[BLOCKS];
	lock_acquire(&A.lock);
	for (int i = 0; i < BLOCKS; i++)
		blk[i] = buddy_alloc(&A, ORDER);
	for (int i = 0; i < BLOCKS; i += 2)
		buddy_free(&A, blk[i], ORDER, true);
	A.stats.large_pages = REGION_PAGES; /* 32 MiB in use, as far as the decay sees */
	A.next_decay_ms = 0;                /* a pass is due */
	arena_decay(&A, os_now_ms());
	cr_assert_leq(A.dirty_pages, arena_dirty_cap(&A), "%zu dirty, cap %zu", A.dirty_pages,
	              arena_dirty_cap(&A));
	cr_assert_eq(A.dirty_pages, dirty_pages(&A));
	A.stats.large_pages = 0;
	lock_release(&A.lock);
}

/* 24 MiB of blocks of 512 KiB freed in A (apart: each is purged alone)
 * while 32 MiB are in use, as far as the decay
 * sees, with the memory limit `limit` (the option, read at once); a pass
 * of the decay, then two more, when all of them have aged.
 * Returns the dirty pages after the first pass; *aged after the second. */
static size_t decay_with_limit(long limit, size_t *aged)
{
	enum { BLOCKS = 96, ORDER = 7 }; /* 512 KiB each; every other one freed */
	static struct page *blk[BLOCKS];
	_strata_option_values[OPT_MEMORY_LIMIT] = limit;
	cr_assert_eq(arena_memory_limit(), (size_t)limit);
	lock_acquire(&A.lock);
	for (int i = 0; i < BLOCKS; i++)
		blk[i] = buddy_alloc(&A, ORDER);
	for (int i = 0; i < BLOCKS; i += 2)
		buddy_free(&A, blk[i], ORDER, true);
	A.stats.large_pages = REGION_PAGES;
	uint64_t now = os_now_ms();
	A.next_decay_ms = 0;
	arena_decay(&A, now);
	size_t dirty = A.dirty_pages;
	for (int pass = 1; pass <= 2; pass++) { /* blocks freed before the previous pass */
		A.next_decay_ms = 0;
		arena_decay(&A, now + (uint64_t)pass);
	}
	*aged = A.dirty_pages;
	cr_assert_eq(A.dirty_pages, dirty_pages(&A));
	A.stats.large_pages = 0;
	lock_release(&A.lock);
	return dirty;
}

/* Far from the memory limit (none, or under a quarter of it) a heap keeps half
 * of its pages in use free, dirty: a program whose live memory stays the
 * same while blocks of every size come and go reuses them. */
Test(arena, far_from_the_memory_limit_half_of_the_pages_in_use_stay_dirty)
{
	size_t aged, dirty = decay_with_limit(1L << 40, &aged);
	size_t freed = 48 * (512 << 10) >> PAGE_SHIFT, half = REGION_PAGES / 2;
	cr_assert_eq(dirty, freed, "24 MiB freed, all kept at the first pass (%zu)", dirty);
	cr_assert_leq(aged, half, "aged, they go down to half of the pages in use");
	cr_assert_geq(aged, half - (512u << 10 >> PAGE_SHIFT), "%zu of %zu kept", aged, half);
}

/* Past a quarter of the limit, an eighth. */
Test(arena, near_the_memory_limit_an_eighth_of_the_pages_in_use_stays_dirty)
{
	size_t aged, dirty = decay_with_limit(1L << 20, &aged);
	cr_assert_leq(dirty, REGION_PAGES / 4, "at once down to the floor and its margin (%zu)",
	              dirty);
	cr_assert_leq(aged, REGION_PAGES / 8, "aged, down to an eighth (%zu)", aged);
}

/* Between passes, far from the memory limit, the dirty pages may pass the
 * cap by as many as the pages in use: a heap whose pages in use swing
 * while it frees and allocates runs of every size reuses them within
 * milliseconds.  Near the limit, by the floor. */
Test(arena, between_passes_far_from_the_limit_the_dirty_pages_pass_the_cap_by_the_pages_in_use)
{
	enum { BLOCKS = 80, ORDER = 7 }; /* 512 KiB each; every other one freed */
	static struct page *blk[BLOCKS];
	size_t              in_use = REGION_PAGES / 2, freed = BLOCKS / 2 << ORDER;
	_strata_option_values[OPT_MEMORY_LIMIT] = 1L << 40;
	lock_acquire(&A.lock);
	A.next_decay_ms = UINT64_MAX; /* no pass */
	for (int i = 0; i < BLOCKS; i++)
		blk[i] = buddy_alloc(&A, ORDER);
	A.stats.large_pages = in_use; /* 16 MiB in use, as far as the decay sees */
	_strata_limit_room = LIMIT_FAR;
	for (int i = 0; i < BLOCKS; i += 2)
		buddy_free(&A, blk[i], ORDER, true);
	cr_assert_gt(freed, arena_dirty_cap(&A) + arena_dirty_floor(&A),
	             "20 MiB freed: over the cap by more than the floor");
	arena_maybe_decay(&A, os_now_ms());
	cr_assert_eq(A.dirty_pages, freed, "all kept far from the limit (%zu of %zu)",
	             A.dirty_pages, freed);
	_strata_limit_room = LIMIT_NEAR;
	arena_maybe_decay(&A, os_now_ms());
	cr_assert_leq(A.dirty_pages, arena_dirty_cap(&A) + arena_dirty_floor(&A),
	              "near it, down to the cap and the floor (%zu)", A.dirty_pages);
	cr_assert_eq(A.dirty_pages, dirty_pages(&A));
	A.stats.large_pages = 0;
	lock_release(&A.lock);
}

/* A file of a fake cgroup tree under root. */
static void put_file(const char *root, const char *rel, const char *text)
{
	char path[512], cmd[600];
	snprintf(path, sizeof(path), "%s/%s", root, rel);
	snprintf(cmd, sizeof(cmd), "mkdir -p \"$(dirname '%s')\"", path);
	cr_assert_eq(system(cmd), 0);
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f, "%s", path);
	fputs(text, f);
	fclose(f);
}

/* The limit is found in a v2 tree (the smallest of memory.max and
 * memory.high of the cgroup and its ancestors) and in a v1 one (the memory
 * hierarchy's line of /proc/self/cgroup), "max" and v1's huge number
 * being no limit. */
Test(arena, the_memory_limit_is_read_from_the_cgroup_tree)
{
	char root[] = "/tmp/strata-cgroup-XXXXXX";
	cr_assert_not_null(mkdtemp(root));
	put_file(root, "a/memory.max", "max\n");
	put_file(root, "a/b/memory.max", "268435456\n");
	put_file(root, "a/b/memory.high", "max\n");
	put_file(root, "a/b/c/memory.max", "max\n");
	put_file(root, "a/b/c/memory.high", "max\n");
	cr_assert_eq(os_cgroup_limit(root, "0::/a/b/c\n"), 268435456, "an ancestor's limit");
	put_file(root, "a/b/c/memory.high", "134217728\n");
	cr_assert_eq(os_cgroup_limit(root, "0::/a/b/c\n"), 134217728, "the smallest");
	cr_assert_eq(os_cgroup_limit(root, "0::/a\n"), 0, "max: none");
	cr_assert_eq(os_cgroup_limit(root, "0::/nowhere\n"), 0, "unreadable: none");
	put_file(root, "memory.max", "1073741824\n"); /* a container's own root */
	cr_assert_eq(os_cgroup_limit(root, "0::/\n"), 1073741824, "the root it sees");
	cr_assert_eq(os_cgroup_limit(root, "0::/a\n"), 1073741824, "below it");

	put_file(root, "memory/x/y/memory.limit_in_bytes", "67108864\n");
	put_file(root, "memory/x/memory.limit_in_bytes", "9223372036854771712\n");
	const char *v1 = "12:pids:/x/y\n5:cpu,cpuacct:/\n4:blkio,memory:/x/y\n0::/\n";
	cr_assert_eq(os_cgroup_limit(root, v1), 67108864, "v1, memory among the controllers");
	cr_assert_eq(os_cgroup_limit(root, "4:memory:/x\n0::/\n"), 0, "v1's unlimited");
	put_file(root, "memory/x/y/z/memory.limit_in_bytes", "9223372036854771712\n");
	cr_assert_eq(os_cgroup_limit(root, "4:memory:/x/y/z\n"), 67108864, "v1, a parent's");
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	cr_assert_eq(system(cmd), 0);
}

Test(arena, trim_releases_everything_unused)
{
	lock_acquire(&A.lock);
	struct page *pg = buddy_alloc(&A, 3);
	buddy_free(&A, pg, 3, true);
	lock_release(&A.lock);
	size_t released = arena_trim(&A);
	cr_assert_geq(released, REGION_SIZE, "the second region, idle, is unmapped");
	cr_assert_eq(A.nr_regions, 1);
	cr_assert_eq(dirty_pages(&A), 0);
}

/* VmFlags of the mapping holding p, from /proc/self/smaps. */
static bool mapping_has_flag(const void *p, const char *flag)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char  line[512];
	bool  inside = false, found = false;
	while (f && fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2
		    && strchr(line, '-') < strchr(line, ' ')) {
			inside = (uintptr_t)p >= lo && (uintptr_t)p < hi;
			continue;
		}
		if (inside && strncmp(line, "VmFlags:", 8) == 0) {
			char want[8];
			snprintf(want, sizeof(want), " %s", flag);
			found = strstr(line, want) != NULL;
			break;
		}
	}
	if (f)
		fclose(f);
	return found;
}

Test(arena, huge_pages_only_when_asked)
{
	cr_assert_eq(strata_option(OPT_HUGEPAGES), HUGEPAGES_OFF, "default hugepages=off");
	cr_assert_not(mapping_has_flag(A.regions, "hg"));
	cr_assert_not(mapping_has_flag(A.regions->next, "hg"));

	static struct arena B;
	_strata_option_values[OPT_HUGEPAGES] = HUGEPAGES_AUTO;
	arena_init(&B, 1);
	lock_acquire(&B.lock);
	cr_assert(arena_grow(&B));
	cr_assert(arena_grow(&B));
	lock_release(&B.lock);
	struct region *second = B.regions, *first = B.regions->next; /* newest first */
	cr_assert(mapping_has_flag(second, "hg"),
	          "auto: the second region is advised MADV_HUGEPAGE");
	cr_assert_not(mapping_has_flag(first, "hg"), "auto: the first keeps small pages");
}

Test(arena, heap_check_finds_a_broken_count)
{
	free(malloc(100));
	cr_assert_eq(strata_check_heap(), 0, "a sound heap passes");
	struct arena *a = &_strata_arenas[0];
	lock_acquire(&a->lock);
	a->free_pages++; /* break one invariant */
	lock_release(&a->lock);
	cr_redirect_stderr();
	cr_assert_eq(strata_check_heap(), -1, "the broken count is found");
	lock_acquire(&a->lock);
	a->free_pages--;
	lock_release(&a->lock);
	cr_assert_eq(strata_check_heap(), 0);
}
