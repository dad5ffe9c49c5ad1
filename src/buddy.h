/* SPDX-License-Identifier: MIT */
/*
 * buddy.h - page blocks of 2^order pages inside an arena's regions.
 * All functions are called with the arena lock held.
 */
#ifndef STRATA_BUDDY_H
#define STRATA_BUDDY_H

#include "arena.h"

static inline unsigned order_for_pages(size_t npages)
{
	return npages <= 1 ? 0 : 64u - (unsigned)__builtin_clzl(npages - 1);
}

/* The pages a free block of this order, count of whose pages may be
 * resident, counts for in the arena's dirty_pages: all of those, except
 * where giving them back would cost more than keeping them.  In a region
 * on huge pages, a block smaller than a huge page cannot be returned
 * without splitting one (THP) or at all (hugetlb): it stays dirty,
 * uncounted and kept, until its buddies merge into a whole huge page.  A
 * reserved region keeps everything. */
static inline size_t dirty_weight(const struct region *r, unsigned order, uint32_t count)
{
	if (r->reserved || (r->backing != BACKING_PAGES && order < HUGE_ORDER))
		return 0;
	return count;
}

/* The pages of the block whose head descriptor is pg (a descriptor page
 * counts for one). */
static inline size_t block_pages(const struct page *pg)
{
	switch (pg->state) {
	case PAGE_LARGE: return pg->npages;
	case PAGE_FREE:
	case PAGE_SLAB:
	case PAGE_SAMPLED:
	case PAGE_CACHE: return (size_t)1 << pg->order;
	default: return 1;
	}
}

void         buddy_region_init(struct arena *a, struct region *r);
struct page *buddy_alloc(struct arena *a, unsigned order);
void         buddy_free(struct arena *a, struct page *pg, unsigned order, bool dirty);
void         buddy_free_range(struct arena *a, struct page *pg, size_t npages, bool dirty);
struct page *buddy_alloc_dirty_run(struct arena *a, size_t npages, bool *dirty);
struct page *buddy_alloc_pages(struct arena *a, size_t npages, unsigned align_order, bool *dirty);
bool         buddy_claim(struct arena *a, struct page *pg, size_t npages);
size_t       buddy_purge(struct arena *a, size_t target, size_t min_dirty);
size_t buddy_purge_aged(struct arena *a, size_t target, size_t min_dirty, uint32_t before_pass);
bool   buddy_region_idle(const struct region *r);
bool   buddy_region_clean(const struct region *r);
void   buddy_region_detach(struct arena *a, struct region *r);

/* The hugetlb chunks under [pfn, pfn + npages) of r faulted in (or put on
 * ordinary pages), before anything touches them; a no-op for other regions. */
void buddy_region_back(struct region *r, size_t pfn, size_t npages);

#endif
