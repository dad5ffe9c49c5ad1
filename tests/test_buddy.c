/* SPDX-License-Identifier: MIT */
/* Tests for src/buddy.c: split and merge by order, exact runs, claims. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "buddy.h"
#include "os.h"

static struct arena A;
static size_t       usable; /* pages a region gives the buddy */

/* Everything in the buddy runs under the arena lock: each test (a process
 * of its own) holds it throughout. */
static void setup(void)
{
	arena_init(&A, 0);
	lock_acquire(&A.lock);
	cr_assert(arena_grow(&A), "cannot map a region");
	usable = REGION_PAGES - A.regions->meta_pages;
}

/* The invariants: every free block is a PAGE_FREE head of its order, aligned
 * to its size, past the descriptors; no two free buddies of one order remain
 * unmerged; the pages add up. */
static void check_free_lists(struct arena *a)
{
	size_t pages = 0, dirty = 0;
	for (unsigned k = 0; k <= BUDDY_MAX_ORDER; k++) {
		size_t n = 0;
		free_area_for_each(&a->free_area[k], pg)
		{
			n++;
			size_t         pfn = page_pfn(pg);
			struct region *r = page_region(pg);
			cr_assert_eq(pg->state, PAGE_FREE);
			cr_assert_eq(pg->order, k);
			cr_assert_eq(pfn & (((size_t)1 << k) - 1), 0, "pfn %zu order %u misaligned",
			             pfn, k);
			cr_assert_geq(pfn, r->meta_pages);
			cr_assert_leq(pfn + ((size_t)1 << k), REGION_PAGES);
			if (k < BUDDY_MAX_ORDER) {
				struct page *b = &r->pages[pfn ^ ((size_t)1 << k)];
				cr_assert(!(b->state == PAGE_FREE && b->order == k),
				          "unmerged buddies at pfn %zu order %u", pfn, k);
			}
			cr_assert(pg[((size_t)1 << k) - 1].flags & PG_FREE_TAIL,
			          "free block at pfn %zu: last page not marked", pfn);
			pages += (size_t)1 << k;
			cr_assert(pg->dirty <= ((size_t)1 << k)
			                  && (pg->dirty == 0 || (pg->flags & PG_DIRTY)),
			          "free block at pfn %zu counts %u dirty pages", pfn, pg->dirty);
			dirty += pg->dirty;
		}
		cr_assert_eq(n, a->free_area[k].nr_free, "order %u count", k);
	}
	cr_assert_eq(pages, a->free_pages);
	cr_assert_eq(dirty, a->dirty_pages, "dirty pages counted %zu, found %zu", a->dirty_pages,
	             dirty);
}

static void snapshot(size_t counts[BUDDY_ORDERS])
{
	for (unsigned k = 0; k < BUDDY_ORDERS; k++)
		counts[k] = A.free_area[k].nr_free;
}

static void assert_same_lists(const size_t before[BUDDY_ORDERS])
{
	for (unsigned k = 0; k < BUDDY_ORDERS; k++)
		cr_assert_eq(A.free_area[k].nr_free, before[k],
		             "order %u: %zu blocks, expected %zu", k, A.free_area[k].nr_free,
		             before[k]);
}

TestSuite(buddy, .init = setup);

Test(buddy, new_region_is_all_free_and_merged)
{
	cr_assert_eq(A.free_pages, usable);
	cr_assert_eq(A.regions->free_pages, usable);
	cr_assert(buddy_region_idle(A.regions));
	check_free_lists(&A);
	cr_assert_eq(A.free_area[BUDDY_MAX_ORDER].nr_free, 1, "upper half is one block");
}

Test(buddy, every_order_splits_and_merges_back)
{
	size_t before[BUDDY_ORDERS];
	snapshot(before);
	for (unsigned k = 0; k <= BUDDY_MAX_ORDER; k++) {
		struct page *pg = buddy_alloc(&A, k);
		cr_assert_not_null(pg, "order %u", k);
		cr_assert_eq(page_pfn(pg) & (((size_t)1 << k) - 1), 0);
		cr_assert_eq(((uintptr_t)page_address(pg)) % (PAGE_SIZE << k), 0,
		             "address aligned to block size");
		cr_assert_eq(A.free_pages, usable - ((size_t)1 << k));
		check_free_lists(&A);
		buddy_free(&A, pg, k, false);
		cr_assert_eq(A.free_pages, usable);
		check_free_lists(&A);
		assert_same_lists(before);
	}
}

Test(buddy, exhaustion_then_random_free_merges_fully)
{
	size_t before[BUDDY_ORDERS];
	snapshot(before);
	struct page **pages = calloc(usable, sizeof(*pages));
	size_t        n = 0;
	struct page  *pg;
	while ((pg = buddy_alloc(&A, 0)) != NULL) {
		cr_assert_lt(n, usable, "more pages than the region has");
		pages[n++] = pg;
	}
	cr_assert_eq(n, usable);
	cr_assert_eq(A.free_pages, 0);
	cr_assert_null(buddy_alloc(&A, 0), "exhausted arena gives NULL");
	srand(42);
	for (size_t i = n - 1; i > 0; i--) {
		size_t       j = (size_t)rand() % (i + 1);
		struct page *t = pages[i];
		pages[i] = pages[j];
		pages[j] = t;
	}
	for (size_t i = 0; i < n; i++)
		buddy_free(&A, pages[i], 0, true);
	check_free_lists(&A);
	assert_same_lists(before);
	cr_assert(buddy_region_idle(A.regions));
	free(pages);
}

Test(buddy, exhaustion_at_every_order)
{
	for (unsigned k = 0; k <= BUDDY_MAX_ORDER; k += 3) {
		size_t       got = 0;
		struct page *first = NULL, *pg;
		while ((pg = buddy_alloc(&A, k)) != NULL) {
			pg->next = first; /* chain them through the descriptors */
			first = pg;
			got += (size_t)1 << k;
		}
		cr_assert_leq(A.free_pages, ((size_t)1 << k) - 1, "order %u: left %zu pages", k,
		              A.free_pages);
		while (first) {
			struct page *next = first->next;
			buddy_free(&A, first, k, false);
			first = next;
		}
		cr_assert_eq(A.free_pages, usable);
		check_free_lists(&A);
	}
}

Test(buddy, exact_runs_give_back_their_tail)
{
	size_t before[BUDDY_ORDERS];
	snapshot(before);
	const size_t sizes[] = { 1, 3, 5, 7, 100, 257, 1000, 1025 };
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		bool         dirty;
		struct page *pg = buddy_alloc_pages(&A, sizes[i], 0, &dirty);
		cr_assert_not_null(pg);
		cr_assert_eq(A.free_pages, usable - sizes[i], "run of %zu pages took %zu", sizes[i],
		             usable - A.free_pages);
		check_free_lists(&A);
		buddy_free_range(&A, pg, sizes[i], false);
		check_free_lists(&A);
		assert_same_lists(before);
	}
}

Test(buddy, aligned_runs)
{
	bool dirty;
	for (unsigned a = 1; a <= 10; a++) {
		struct page *pg = buddy_alloc_pages(&A, 3, a, &dirty);
		cr_assert_not_null(pg);
		cr_assert_eq(page_pfn(pg) % ((size_t)1 << a), 0);
		cr_assert_eq(A.free_pages, usable - 3);
		buddy_free_range(&A, pg, 3, false);
	}
	check_free_lists(&A);
}

Test(buddy, claim_grows_a_run_in_place)
{
	bool         dirty;
	struct page *run = buddy_alloc_pages(&A, 10, 0, &dirty);
	cr_assert_not_null(run);
	cr_assert(buddy_claim(&A, run + 10, 20), "pages after the run are free");
	cr_assert_eq(A.free_pages, usable - 30);
	check_free_lists(&A);

	/* A block in the way makes the claim fail and change nothing. */
	struct page *blocker = buddy_alloc_pages(&A, 1, 0, &dirty);
	cr_assert_not_null(blocker);
	size_t free_before = A.free_pages;
	if (page_pfn(blocker) > page_pfn(run)) {
		size_t gap = page_pfn(blocker) - page_pfn(run) - 30;
		cr_assert_not(buddy_claim(&A, run + 30, gap + 1));
		cr_assert_eq(A.free_pages, free_before);
	}
	check_free_lists(&A);
	buddy_free_range(&A, blocker, 1, false);
	buddy_free_range(&A, run, 30, false);
	cr_assert_eq(A.free_pages, usable);
	check_free_lists(&A);
}

Test(buddy, claim_past_region_end_fails)
{
	struct region *r = A.regions;
	cr_assert_not(buddy_claim(&A, &r->pages[REGION_PAGES - 2], 4));
	cr_assert_eq(A.free_pages, usable);
}

Test(buddy, dirty_blocks_are_purged_once)
{
	struct page *pg = buddy_alloc(&A, 4);
	cr_assert_not_null(pg);
	cr_assert_eq(pg->flags & PG_DIRTY, 0, "fresh memory is clean");
	memset(page_address(pg), 0xab, PAGE_SIZE << 4);
	buddy_free(&A, pg, 4, true);
	cr_assert_eq(A.dirty_pages, 16);
	cr_assert_geq(buddy_purge(&A, 0, 1), PAGE_SIZE << 4);
	cr_assert_eq(A.dirty_pages, 0);
	cr_assert_eq(buddy_purge(&A, 0, 1), 0, "nothing dirty is left");
	pg = buddy_alloc(&A, 4);
	cr_assert_eq(pg->flags & PG_DIRTY, 0);
	cr_assert_eq(((unsigned char *)page_address(pg))[0], 0, "purged pages read as zero");
}

/* Of two free blocks of an order, the dirty one is taken first (its pages
 * are resident: no fault), even when the clean one was freed later. */
Test(buddy, dirty_blocks_are_taken_before_clean_ones)
{
	struct page *a = buddy_alloc(&A, 3), *gap = buddy_alloc(&A, 3), *b = buddy_alloc(&A, 3),
	            *gap2 = buddy_alloc(&A, 3);
	(void)gap, (void)gap2; /* taken: a and b stay blocks of order 3 */
	memset(page_address(a), 1, PAGE_SIZE << 3);
	buddy_free(&A, a, 3, true);
	buddy_free(&A, b, 3, false);
	cr_assert_eq(A.free_area[3].head, a, "the dirty list");
	cr_assert_eq(A.free_area[3].clean, b, "the clean list");
	check_free_lists(&A);
	cr_assert_eq(buddy_alloc(&A, 3), a);
	cr_assert_eq(buddy_alloc(&A, 3), b);
}

/* ... at any order: a dirty block of a higher order is split rather than a
 * clean one of the order asked taken (no fault, no RSS added). */
Test(buddy, a_bigger_dirty_block_is_split_before_a_clean_one)
{
	struct page *clean = buddy_alloc(&A, 3), *gap = buddy_alloc(&A, 3);
	struct page *big = buddy_alloc(&A, 6), *gap2 = buddy_alloc(&A, 3);
	(void)gap, (void)gap2; /* taken: clean and big stay blocks of their orders */
	memset(page_address(big), 1, PAGE_SIZE << 6);
	buddy_free(&A, clean, 3, false);
	buddy_free(&A, big, 6, true);
	check_free_lists(&A);
	struct page *pg = buddy_alloc(&A, 3);
	cr_assert(pg >= big && pg < big + 64, "a piece of the dirty block, not the clean one");
	cr_assert(pg->flags & PG_DIRTY);
	check_free_lists(&A);
}

/* The free run of pages [from, to) of block big, dirty. */
static void free_dirty(struct page *big, size_t from, size_t to)
{
	memset(page_address(big + from), 1, (to - from) * PAGE_SIZE);
	buddy_free_range(&A, big + from, to - from, true);
}

/* A run that no dirty block is big enough for is cut from the start of
 * the smallest run of free blocks around a dirty one that holds it (here
 * 20 pages, dirty and clean, beside one of 24), not from a clean block of
 * its order; the two pages left over stay free. */
Test(buddy, a_run_is_cut_from_the_smallest_free_run_that_holds_it)
{
	bool         dirty;
	struct page *big = buddy_alloc(&A, 8); /* 256 pages, all held but: */
	free_dirty(big, 0, 24);                /* 24 dirty */
	free_dirty(big, 32, 48);               /* 16 dirty and 4 clean: 20 */
	buddy_free_range(&A, big + 48, 4, false);
	for (unsigned k = 5; k <= BUDDY_MAX_ORDER; k++)
		cr_assert_null(A.free_area[k].head, "no dirty block of order %u", k);
	check_free_lists(&A);
	size_t       free_before = A.free_pages;
	struct page *run = buddy_alloc_pages(&A, 18, 0, &dirty);
	cr_assert_eq(run, big + 32, "run at page %td of the block", run - big);
	cr_assert(dirty);
	cr_assert_eq(A.free_pages, free_before - 18);
	cr_assert_eq(big[50].state, PAGE_FREE, "what is left over stays free");
	check_free_lists(&A);
	buddy_free_range(&A, run, 18, true);
	check_free_lists(&A);
}

/* An aligned run cut from a free run starts on its alignment, not on the
 * free run's first page. */
Test(buddy, an_aligned_run_from_a_free_run_starts_on_its_alignment)
{
	bool         dirty;
	struct page *big = buddy_alloc(&A, 8);
	free_dirty(big, 4, 40); /* blocks of 4, 8, 16 and 8 pages */
	check_free_lists(&A);
	struct page *run = buddy_alloc_pages(&A, 17, 3, &dirty);
	cr_assert_eq(run, big + 8, "run at page %td of the block", run - big);
	cr_assert_eq(page_pfn(run) & 7, 0);
	check_free_lists(&A);
}

/* A slab's block comes from a 2 MiB granule that has slabs (here the
 * first, which the descriptors count for), even with a dirty block of its
 * order free in a granule of large runs; the granule's count follows. */
Test(buddy, slab_blocks_are_taken_near_other_slabs)
{
	bool           dirty;
	struct page   *big = buddy_alloc_pages(&A, 1024, 10, &dirty);
	struct region *r = page_region(big);
	buddy_free_range(&A, big + 512, 8, true);
	cr_assert_not_null(A.free_area[3].head, "a dirty block of order 3");
	cr_assert_eq(r->granule_slab_pages[0], r->meta_pages);
	struct page *pg = buddy_alloc(&A, 3);
	cr_assert_lt(page_pfn(pg), 512, "slab block at page %zu, not in the first granule",
	             page_pfn(pg));
	cr_assert_eq(r->granule_slab_pages[0], r->meta_pages + 8);
	buddy_free(&A, pg, 3, true);
	cr_assert_eq(r->granule_slab_pages[0], r->meta_pages);
	check_free_lists(&A);
}

/* A purged block moves to the clean list, and is taken after a dirty one. */
Test(buddy, purged_blocks_move_to_the_clean_list)
{
	struct page *a = buddy_alloc(&A, 4), *gap = buddy_alloc(&A, 4), *b = buddy_alloc(&A, 4),
	            *gap2 = buddy_alloc(&A, 4);
	(void)gap, (void)gap2;
	memset(page_address(a), 1, PAGE_SIZE << 4);
	buddy_free(&A, a, 4, true);
	cr_assert_gt(buddy_purge(&A, 0, 1), 0);
	cr_assert_eq(A.free_area[4].head, NULL);
	cr_assert_eq(A.free_area[4].clean, a);
	memset(page_address(b), 1, PAGE_SIZE << 4);
	buddy_free(&A, b, 4, true);
	check_free_lists(&A);
	cr_assert_eq(buddy_alloc(&A, 4), b, "the dirty one first");
}

/* An aged purge takes only blocks freed before the pass it is given; a
 * block split from an old one is as old. */
Test(buddy, an_aged_purge_leaves_the_blocks_freed_since)
{
	struct page *a = buddy_alloc(&A, 4), *gap = buddy_alloc(&A, 4), *b = buddy_alloc(&A, 4),
	            *gap2 = buddy_alloc(&A, 4);
	(void)gap, (void)gap2; /* taken: a and b stay blocks of order 4 */
	memset(page_address(a), 1, PAGE_SIZE << 4);
	memset(page_address(b), 1, PAGE_SIZE << 4);
	A.decay_pass = 3;
	buddy_free(&A, a, 4, true);
	A.decay_pass = 6;
	buddy_free(&A, b, 4, true);
	cr_assert_eq(a->freed_pass, 3);
	cr_assert_eq(b->freed_pass, 6);
	cr_assert_gt(buddy_purge_aged(&A, 0, 1, 5), 0);
	cr_assert_eq(a->flags & PG_DIRTY, 0, "freed in pass 3: purged");
	cr_assert(b->flags & PG_DIRTY, "freed in pass 6: kept");
	cr_assert_eq(A.dirty_pages, 16);
	check_free_lists(&A);
	A.decay_pass = 9;
	struct page *half = buddy_alloc(&A, 3); /* from b, the dirty one */
	cr_assert_eq(half, b);
	cr_assert_eq(b[8].freed_pass, 6, "the half given back is as old as b");
	cr_assert_eq(buddy_purge_aged(&A, 0, 1, 6), 0, "nothing freed before pass 6");
	cr_assert_gt(buddy_purge(&A, 0, 1), 0);
	cr_assert_eq(A.dirty_pages, 0);
	check_free_lists(&A);
}

Test(buddy, runs_below_the_minimum_stay_dirty)
{
	struct page *keep = buddy_alloc(&A, 2), *pg = buddy_alloc(&A, 2);
	(void)keep; /* its buddy stays taken: no merge */
	memset(page_address(pg), 1, PAGE_SIZE << 2);
	buddy_free(&A, pg, 2, true); /* may merge with a clean buddy */
	size_t dirty = A.dirty_pages;
	cr_assert(dirty >= 4 && dirty < 16, "dirty %zu", dirty);
	cr_assert_eq(buddy_purge(&A, 0, 16), 0, "a few dirty pages are not worth a call");
	cr_assert_eq(A.dirty_pages, dirty);
	cr_assert_gt(buddy_purge(&A, 0, dirty), 0);
	cr_assert_eq(A.dirty_pages, 0);
}

/* A run of 37 pages freed at once is cut into blocks of 1, 4 and 32 pages
 * (the buddy's alignment): none of them alone has 37 dirty pages, so a
 * purge that needs 37 can only take them as one run. */
Test(buddy, adjacent_free_blocks_are_purged_as_one_run)
{
	bool         dirty;
	struct page *big = buddy_alloc_pages(&A, 43, 0, &dirty), *run = big + 3;
	memset(page_address(big), 7, 43 * PAGE_SIZE);
	buddy_free_range(&A, run, 37, true); /* between taken pages */
	cr_assert_geq(A.dirty_pages, 37);
	size_t released = buddy_purge(&A, 0, 37);
	cr_assert_geq(released, 37 * PAGE_SIZE, "purged whole: %zu bytes", released);
	cr_assert_eq(A.dirty_pages, 0);
	check_free_lists(&A);
}

/* The same run, with only 3 pages over the target: the purge stops at the
 * block that gives it those (the run starts with blocks of 1 and 4 pages),
 * and the rest of the run stays resident. */
Test(buddy, a_purge_takes_what_is_over_the_target_not_the_whole_run)
{
	bool         dirty;
	struct page *big = buddy_alloc_pages(&A, 43, 0, &dirty), *run = big + 3;
	memset(page_address(big), 7, 43 * PAGE_SIZE);
	buddy_free_range(&A, run, 37, true);
	size_t before = A.dirty_pages;
	size_t released = buddy_purge(&A, before - 3, 1);
	cr_assert_geq(released, 3 * PAGE_SIZE);
	cr_assert_leq(released, 5 * PAGE_SIZE, "purged %zu bytes", released);
	cr_assert_eq(A.dirty_pages, before - released / PAGE_SIZE);
	check_free_lists(&A);
}

Test(buddy, dirty_pages_follow_merges_splits_and_claims)
{
	bool         dirty;
	struct page *a = buddy_alloc_pages(&A, 37, 0, &dirty);
	struct page *b = buddy_alloc_pages(&A, 5, 0, &dirty);
	buddy_free_range(&A, a, 37, true); /* dirty, merges with clean */
	check_free_lists(&A);
	/* splits a dirty block (aligned to its order: from the buddy's lists) */
	struct page *c = buddy_alloc_pages(&A, 100, 7, &dirty);
	check_free_lists(&A);
	cr_assert(buddy_claim(&A, c + 100, 10));
	check_free_lists(&A);
	buddy_free_range(&A, c, 110, true);
	buddy_free_range(&A, b, 5, false);
	check_free_lists(&A);
	cr_assert_gt(A.dirty_pages, 0);
	buddy_purge(&A, 0, 1);
	cr_assert_eq(A.dirty_pages, 0);
	check_free_lists(&A);
}

Test(buddy, idle_region_detaches)
{
	cr_assert(arena_grow(&A));
	cr_assert_eq(A.nr_regions, 2);
	cr_assert_eq(A.free_pages, 2 * usable);
	buddy_region_detach(&A, A.regions);
	cr_assert_eq(A.free_pages, usable);
	check_free_lists(&A);
}

/* ------------------------------------------------------------------------
 * The assertions of --enable-asserts at the buddy's boundary: each misuse
 * aborts with "strata: assertion failed".
 * ---------------------------------------------------------------------- */
#if STRATA_ASSERT_LEVEL >= 1
Test(buddy, alloc_without_the_lock_asserts, .init = setup, .signal = SIGABRT)
{
	lock_release(&A.lock);
	buddy_alloc(&A, 0);
}

Test(buddy, free_of_a_misaligned_block_asserts, .init = setup, .signal = SIGABRT)
{
	struct page *pg = buddy_alloc(&A, 2);
	cr_assert_not_null(pg);
	buddy_free(&A, pg + 1, 2, false);
}

Test(buddy, free_of_a_free_block_asserts, .init = setup, .signal = SIGABRT)
{
	struct page *a = buddy_alloc(&A, 1); /* a and its buddy a + 1 */
	cr_assert_not_null(a);
	buddy_free(&A, a, 0, false); /* a + 1 stays in use: no merge */
	buddy_free(&A, a, 0, false);
}
#endif
