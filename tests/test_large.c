/* SPDX-License-Identifier: MIT */
/* Tests for src/large.c: exact runs, in-place resize, huge mappings. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "large.h"
#include "os.h"
#include "options.h"
#include "pagemap.h"

static struct arena A;

static void setup(void)
{
	free(malloc(1)); /* the options: the decay keeps freed huge blocks */
	arena_init(&A, 0);
}

TestSuite(large, .init = setup);

Test(large, runs_are_exact_and_page_aligned)
{
	char *p = large_alloc(&A, 40000, 0, false);
	cr_assert_not_null(p);
	cr_assert_eq((uintptr_t)p % PAGE_SIZE, 0);
	struct page *pg = page_of(region_of(p), p);
	cr_assert_eq(pg->state, PAGE_LARGE);
	cr_assert_eq(pg->npages, 10);
	cr_assert_eq(A.stats.large_pages, 10);
	size_t usable = REGION_PAGES - A.regions->meta_pages;
	cr_assert_eq(A.free_pages, usable - 10, "no rounding to a power of two");
	large_free(pg);
	cr_assert_eq(A.free_pages, usable);
	cr_assert_eq(A.stats.large_pages, 0);
}

Test(large, calloc_of_fresh_memory_is_zero_and_reused_memory_is_cleared)
{
	unsigned char *p = large_alloc(&A, 100000, 0, true);
	for (size_t i = 0; i < 100000; i++)
		cr_assert_eq(p[i], 0);
	memset(p, 0xff, 100000);
	large_free(page_of(region_of(p), p));
	unsigned char *q = large_alloc(&A, 100000, 0, true);
	cr_assert_eq(q, p, "the same run comes back");
	for (size_t i = 0; i < 100000; i++)
		if (q[i] != 0)
			cr_assert_fail("byte %zu not cleared", i);
}

Test(large, resize_in_place_grows_into_free_pages_and_shrinks)
{
	char        *p = large_alloc(&A, 5 * PAGE_SIZE, 0, false);
	struct page *pg = page_of(region_of(p), p);
	cr_assert(large_resize(pg, 30 * PAGE_SIZE));
	cr_assert_eq(pg->npages, 30);
	cr_assert_eq(A.stats.large_pages, 30);
	cr_assert(large_resize(pg, 2 * PAGE_SIZE + 1));
	cr_assert_eq(pg->npages, 3);
	/* a neighbour in the way stops growth */
	char *q = large_alloc(&A, PAGE_SIZE, 0, false);
	if (q == p + 3 * PAGE_SIZE)
		cr_assert_not(large_resize(pg, 10 * PAGE_SIZE));
	large_free(page_of(region_of(q), q));
	large_free(pg);
	cr_assert_eq(A.stats.large_pages, 0);
}

Test(large, aligned_runs)
{
	for (size_t align = 2 * PAGE_SIZE; align <= LARGE_MAX; align <<= 1) {
		char *p = large_alloc(&A, 3 * PAGE_SIZE, align, false);
		cr_assert_not_null(p);
		cr_assert_eq((uintptr_t)p % align, 0, "align %zu", align);
		large_free(page_of(region_of(p), p));
	}
}

Test(large, huge_blocks_have_their_own_mapping)
{
	char *p = huge_alloc(10 << 20, 0, 0, false);
	cr_assert_not_null(p);
	struct huge *h = pagemap_lookup(p);
	cr_assert_eq(h->kind, SEG_HUGE);
	cr_assert_eq(huge_pointer(h), p);
	cr_assert_geq(huge_usable(h), 10 << 20);
	memset(p, 7, 10 << 20);
	char *q = huge_realloc(h, 100 << 20);
	cr_assert_not_null(q);
	struct huge *hq = pagemap_lookup(q);
	cr_assert_eq(huge_pointer(hq), q);
	cr_assert_eq(q[(10 << 20) - 1], 7, "contents moved");
	cr_assert_eq(pagemap_lookup(q + (90 << 20)), hq);
	q = huge_realloc(hq, 6 << 20);
	hq = pagemap_lookup(q);
	cr_assert_null(pagemap_lookup(q + (50 << 20)), "slots past a shrunk block are cleared");
	huge_free(hq);
	struct huge *kept = pagemap_lookup(q);
	cr_assert(kept == NULL || kept->kind == SEG_HUGE_FREED, "unmapped, or kept marked freed");
}

Test(large, huge_blocks_end_at_a_guard_page)
{
	size_t sizes[] = { 8 << 20, (8 << 20) + 100, (5 << 20) + 4095 };
	for (unsigned i = 0; i < 3; i++) {
		char        *p = huge_alloc(sizes[i], 0, 0, false);
		struct huge *h = pagemap_lookup(p);
		cr_assert(h->guard, "a guard page after the mapping");
		cr_assert_eq((uintptr_t)p % 16, 0);
		cr_assert_eq((char *)h + h->map_size - (p + ALIGN_UP(sizes[i], 16)), 0,
		             "the block ends at the guard (size %zu)", sizes[i]);
		struct fault_block b;
		cr_assert(huge_fault_lookup((uintptr_t)h + h->map_size, &b));
		cr_assert(b.guard && !b.freed && b.ptr == (uintptr_t)p);
		cr_assert_not(huge_fault_lookup((uintptr_t)p, &b), "inside a live block: not ours");
		huge_free(h);
	}
}

Test(large, huge_alignment_up_to_1_gib)
{
	char *p = huge_alloc(5 << 20, 1UL << 30, 0, false);
	cr_assert_not_null(p);
	cr_assert_eq((uintptr_t)p % (1UL << 30), 0);
	huge_free(pagemap_lookup(p));
}

/* A freed huge block is kept: the next one that fits takes its mapping,
 * grown or shrunk in place or moved, with the pages it keeps resident. */
Test(large, freed_huge_blocks_are_reused)
{
	char *p = huge_alloc(20 << 20, 0, 0, false);
	memset(p, 5, 20 << 20);
	struct huge *h = pagemap_lookup(p);
	huge_free(h);
	cr_assert_eq(((struct huge *)pagemap_lookup(p))->kind, SEG_HUGE_FREED,
	             "kept, marked freed: a second free is caught");
	cr_assert(huge_was_freed(p));
	struct fault_block b;
	cr_assert(huge_fault_lookup((uintptr_t)p, &b) && b.freed, "the fault handler names it");
	char *r = huge_alloc(6 << 20, 0, 0, false);
	cr_assert_neq(pagemap_lookup(r), h, "the block freed last is not handed out at once");
	huge_free(pagemap_lookup(r));
	char *q = huge_alloc(12 << 20, 0, 0, false);
	cr_assert_eq(pagemap_lookup(q), h, "the kept mapping serves a smaller block");
	cr_assert_eq(q[(12 << 20) - 1], 5, "its pages were kept, not faulted in again");
	char *z = huge_alloc(12 << 20, 0, 0, true);
	cr_assert_neq(z, q);
	huge_free(pagemap_lookup(q));
	huge_free(pagemap_lookup(z));
	char *c = huge_alloc(12 << 20, 0, 0, true);
	for (size_t i = 0; i < (12 << 20); i += 4096)
		cr_assert_eq(c[i], 0, "calloc of a kept block is zeroed (byte %zu)", i);
	char *g = huge_alloc(30 << 20, 0, 0, false);
	cr_assert_not_null(g);
	memset(g, 1, 30 << 20);
	huge_free(pagemap_lookup(c));
	huge_free(pagemap_lookup(g));
	cr_assert_geq(huge_cache_trim(), 30 << 20, "trim unmaps what was kept");
	cr_assert_eq(huge_cache_trim(), 0, "and nothing is left");
}

/* The huge block at p is freed and kept for reuse: still in the pagemap,
 * marked freed. */
static bool huge_kept(const void *p)
{
	const struct huge *h = pagemap_lookup(p);
	return h != NULL && h->kind == SEG_HUGE_FREED;
}

/* Small blocks of size bytes, total bytes of them at least, listed
 * through their first word. */
static void **small_blocks(size_t size, size_t total, void **list)
{
	for (size_t done = 0; done < total; done += size) {
		void **b = malloc(size);
		cr_assert_not_null(b);
		memset(b, 1, size);
		*b = list;
		list = b;
	}
	return list;
}

static void small_blocks_free(void **list)
{
	while (list) {
		void **next = *list;
		free(list);
		list = next;
	}
}

/* A kept block goes once the arenas' pages in use have grown by half its
 * size (the program moved on to smaller blocks), and not before... */
Test(large, a_kept_huge_block_goes_when_the_heap_grows_past_half_its_size)
{
	char *p = huge_alloc(16 << 20, 0, 0, false);
	memset(p, 5, 16 << 20);
	huge_free(pagemap_lookup(p));
	cr_assert(huge_kept(p));
	void **list = small_blocks(1000, 3 << 20, NULL);
	cr_assert(huge_kept(p), "3 MiB more in use: still kept");
	list = small_blocks(1000, 6 << 20, list);
	cr_assert_null(pagemap_lookup(p), "9 MiB more in use: unmapped");
	cr_assert_eq(huge_cache_trim(), 0, "nothing is kept");
	small_blocks_free(list);
}

/* With 40 MiB of large runs live throughout and the memory limit `limit`
 * (read once the heap holds 16 MiB): a swing of 20 MiB more, freed, then a
 * kept 8 MiB block, then the heap grows again by 6 MiB and by 20 more.
 * The hook runs at each new peak of an arena (called here).  Whether the
 * block was kept after the first growth; it is gone after the second
 * either way. */
static bool kept_after_a_swing(long limit)
{
	_strata_option_values[OPT_MEMORY_LIMIT] = limit;
	void **base = small_blocks(256 << 10, 40 << 20, NULL);
	void **swing = small_blocks(256 << 10, 20 << 20, NULL);
	small_blocks_free(swing); /* the peak stays */
	cr_assert_eq(arena_near_limit(), limit != 0, "the limit was read");
	char *p = huge_alloc(8 << 20, 0, 0, false);
	memset(p, 5, 8 << 20);
	huge_free(pagemap_lookup(p));
	cr_assert(huge_kept(p), "a quarter of the memory in use holds it");
	void **list = small_blocks(256 << 10, 6 << 20, NULL);
	huge_cache_follow();
	bool kept = huge_kept(p);
	list = small_blocks(256 << 10, 20 << 20, list);
	huge_cache_follow();
	cr_assert_null(pagemap_lookup(p), "26 MiB more in use: past the peak by 6, unmapped");
	small_blocks_free(list);
	small_blocks_free(base);
	return kept;
}

/* ... far from the memory limit, grown past the arenas' recent peak at its
 * free, not past their pages in use then: a heap that swings below its
 * peak keeps the block. */
Test(large, far_from_the_memory_limit_a_kept_huge_block_stays_while_the_heap_swings_below_its_peak)
{
	cr_assert(kept_after_a_swing(0), "6 MiB more in use than at the free, below the peak");
}

/* Near it, from the pages in use at its free: the block goes sooner. */
Test(large, near_the_memory_limit_a_kept_huge_block_goes_when_the_heap_grows_by_half_its_size)
{
	cr_assert_not(kept_after_a_swing(64 << 20), "6 MiB more in use than at the free");
}

/* Near it, the cache holds a quarter of the memory in use, with no 32 MiB
 * minimum: a block bigger than that is not kept. */
Test(large, near_the_memory_limit_the_huge_cache_has_no_minimum)
{
	_strata_option_values[OPT_MEMORY_LIMIT] = 64 << 20;
	void **base = small_blocks(256 << 10, 20 << 20, NULL);
	cr_assert(arena_near_limit());
	char *p = huge_alloc(8 << 20, 0, 0, false);
	memset(p, 5, 8 << 20);
	huge_free(pagemap_lookup(p));
	cr_assert_null(pagemap_lookup(p), "8 MiB: over a quarter of the 20 MiB in use, unmapped");
	small_blocks_free(base);
}

/* A decay pass whose clock was read before a block's free (the background
 * thread reads it once for every arena's pass) keeps that block. */
Test(large, a_decay_pass_with_a_clock_older_than_a_free_keeps_the_block)
{
	uint64_t before = os_now_ms();
	char    *p = huge_alloc(8 << 20, 0, 0, false);
	p[0] = 1;
	huge_free(pagemap_lookup(p));
	huge_cache_decay(before - 1);
	cr_assert(huge_kept(p));
	cr_assert_geq(huge_cache_trim(), 8 << 20);
}

/* Four runs of 2 MiB of arena A, written and freed: 8 MiB of dirty pages
 * in one free run (the decay keeps them for a while). */
static void dirty_eight_mib(void)
{
	char *r[4];
	for (int i = 0; i < 4; i++) {
		r[i] = large_alloc(&A, 2 << 20, 0, false);
		memset(r[i], 1, 2 << 20);
	}
	for (int i = 0; i < 4; i++)
		large_free(page_of(region_of(r[i]), r[i]));
}

Test(large, a_block_above_large_max_takes_a_dirty_run_that_fits)
{
	dirty_eight_mib();
	size_t dirty = A.dirty_pages;
	cr_assert_geq(dirty, (8 << 20) >> PAGE_SHIFT);
	char *p = large_alloc_dirty(&A, 6 << 20, false);
	cr_assert_not_null(p);
	struct page *pg = page_of(region_of(p), p);
	cr_assert_eq(pg->state, PAGE_LARGE);
	cr_assert_eq(pg->npages, large_pages_for(6 << 20));
	cr_assert_eq(A.dirty_pages, dirty - pg->npages, "its pages were dirty ones");
	large_free(pg);
}

Test(large, without_a_dirty_run_a_block_above_large_max_takes_nothing_of_the_arena)
{
	size_t   free_pages = A.free_pages;
	unsigned regions = A.nr_regions;
	cr_assert_null(large_alloc_dirty(&A, 6 << 20, false));
	cr_assert_eq(A.free_pages, free_pages, "no clean run taken");
	cr_assert_eq(A.nr_regions, regions, "no new region");
}

/* Through malloc and realloc: a dirty run of the thread's arena serves a
 * block of 6 MiB; realloc shrinks it in place, and grows it into a
 * mapping of its own (whose next growth is an mremap). */
Test(large, malloc_above_large_max_reuses_dirty_pages_and_realloc_maps_its_growth)
{
	char *r[4];
	for (int i = 0; i < 4; i++) {
		r[i] = malloc(2 << 20);
		memset(r[i], 1, 2 << 20);
	}
	for (int i = 0; i < 4; i++)
		free(r[i]);
	char *p = malloc(6 << 20);
	cr_assert_not_null(p);
	struct huge *seg = pagemap_lookup(p);
	cr_assert_eq(seg->kind, SEG_REGION, "a run of an arena's region");
	memset(p, 7, 6 << 20);
	char *q = realloc(p, 5 << 20);
	cr_assert_eq(q, p, "shrunk in place");
	q = realloc(p, 12 << 20);
	cr_assert_not_null(q);
	seg = pagemap_lookup(q);
	cr_assert_eq(seg->kind, SEG_HUGE, "grown into a mapping of its own");
	cr_assert_eq(q[(5 << 20) - 1], 7, "contents moved");
	free(q);
}
