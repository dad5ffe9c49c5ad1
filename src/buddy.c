/* SPDX-License-Identifier: MIT */
/*
 * buddy.c - the buddy allocator: blocks of pages inside an arena's regions.
 *
 * A region's pages are managed as blocks of 2^order pages, each aligned to
 * its own size (the region base is region-aligned, so the block is aligned in
 * memory too).  A free block is known by its head page descriptor: state
 * PAGE_FREE, order k, linked on the arena's free_area[k].  Only the head page
 * of a block, free or in use, carries a state; the other pages of a block are
 * PAGE_NONE (slab pages excepted, see slab.c).
 *
 * The buddy of the block at page index i of order k is at i ^ (1 << k).
 * Freeing merges: while the buddy is a free block of the same order, take it
 * off its list and continue with the combined block of order k + 1, whose
 * head is the lower of the two.  Allocating takes the smallest free block of
 * order >= k and splits it, giving the upper halves back to the free lists.
 *
 * The lists live in the descriptors, not in the free memory, so a free block
 * can be handed back to the kernel (os_decommit) and its bookkeeping stays.
 * PG_DIRTY on a free head says the block may hold resident pages; merging
 * ORs it, splitting copies it, and the arena counts the pages of its dirty
 * free blocks in dirty_pages; when to give them back is the arena's
 * business (arena.c), how is buddy_purge's.
 *
 * Everything here runs under the arena lock.
 */
#include "buddy.h"
#include "dlist.h"
#include "os.h"

#include <string.h>

/* ------------------------------------------------------------------------
 * Helpers
 * ---------------------------------------------------------------------- */
static inline size_t buddy_pfn(size_t pfn, unsigned order)
{
	return pfn ^ ((size_t)1 << order);
}

static inline bool page_is_buddy(const struct page *pg, unsigned order)
{
	return pg->state == PAGE_FREE && pg->order == order;
}

static inline void set_page_free(struct page *pg, unsigned order, bool dirty, uint32_t count)
{
	pg->state = PAGE_FREE;
	pg->order = (uint8_t)order;
	pg->flags = dirty ? PG_DIRTY : 0;
	pg->dirty = count;
}

static inline void clear_page_state(struct page *pg)
{
	pg->state = PAGE_NONE;
	pg->flags = 0;
}

/* The slab pages of the 2 MiB granule of page pfn (see slab_block_take). */
static inline uint16_t *granule_slab_pages(struct region *r, size_t pfn)
{
	return &r->granule_slab_pages[pfn >> HUGE_ORDER];
}

/* The first block of a free area's dirty list, or of its clean one. */
static inline struct page *free_area_first(const struct free_area *fa, bool clean)
{
	return clean ? fa->clean : fa->head;
}

static inline bool page_dirty(const struct page *pg)
{
	return pg->flags & PG_DIRTY;
}

/* The part of count pages that falls on the first n pages of a block, taken
 * off count.  Where in a block its dirty pages lie is not known after a
 * merge: they are counted as if they came first.  Only the arena's dirty
 * page count, and so the decay, sees this estimate; whether memory must be
 * cleared is told by PG_DIRTY, which every part of a dirty block keeps. */
static inline uint32_t dirty_share(uint32_t *count, size_t n)
{
	uint32_t s = (uint32_t)MIN((size_t)*count, n);
	*count -= s;
	return s;
}

/* A free block's list: by PG_DIRTY, which changes only while the block is
 * off its list or through free_area_clean. */
static inline struct page **free_area_list(struct free_area *fa, const struct page *pg)
{
	return page_dirty(pg) ? &fa->head : &fa->clean;
}

static void free_area_add(struct free_area *fa, struct page *pg)
{
	struct page **list = free_area_list(fa, pg);
	strata_assert_expensive(!dlist_contains(*list, pg));
	dlist_push(*list, pg);
	fa->nr_free++;
}

static void free_area_del(struct free_area *fa, struct page *pg)
{
	struct page **list = free_area_list(fa, pg);
	strata_assert_expensive(dlist_contains(*list, pg));
	strata_assert(fa->nr_free > 0);
	dlist_del(*list, pg);
	fa->nr_free--;
}

/* A free block's pages went back to the kernel: to the clean list. */
static void free_area_clean(struct free_area *fa, struct page *pg)
{
	if (!page_dirty(pg))
		return;
	dlist_del(fa->head, pg);
	pg->flags &= (uint8_t)~PG_DIRTY;
	dlist_push(fa->clean, pg);
}

/* Put a free block on its list and count its dirty pages. */
static void free_block_add(struct arena *a, struct page *pg, unsigned order, bool dirty,
                           uint32_t count)
{
	set_page_free(pg, order, dirty, count);
	pg->freed_pass = a->decay_pass;
	struct page *tail = pg + ((size_t)1 << order) - 1;
	tail->order = (uint8_t)order;
	tail->flags |= PG_FREE_TAIL;
	free_area_add(&a->free_area[order], pg);
	a->dirty_pages += dirty_weight(page_region(pg), order, count);
}

/* Take a free block off its list and its dirty pages off the count. */
static void free_block_del(struct arena *a, struct page *pg)
{
	pg[((size_t)1 << pg->order) - 1].flags &= (uint8_t)~PG_FREE_TAIL;
	free_area_del(&a->free_area[pg->order], pg);
	a->dirty_pages -= dirty_weight(page_region(pg), pg->order, pg->dirty);
}

/* The free blocks that follow one another around a free one: where the
 * run they make starts (the last page of a free block is marked, so the
 * walk back reads one descriptor a block) and where it ends. */
static size_t free_run_start(const struct region *r, size_t pfn)
{
	while (pfn > r->meta_pages && (r->pages[pfn - 1].flags & PG_FREE_TAIL))
		pfn -= (size_t)1 << r->pages[pfn - 1].order;
	return pfn;
}

static size_t free_run_end(const struct region *r, size_t pfn)
{
	while (pfn < REGION_PAGES && r->pages[pfn].state == PAGE_FREE)
		pfn += (size_t)1 << r->pages[pfn].order;
	return pfn;
}

static inline void account_free(struct arena *a, struct region *r, long npages)
{
	a->free_pages += (size_t)npages;
	r->free_pages += (uint32_t)npages;
}

/* ------------------------------------------------------------------------
 * hugetlb regions: backed a chunk at a time
 *
 * A region on hugetlb pages is mapped without a reservation (arena.c), so
 * it takes no page from the pool until one of its 2 MiB chunks is touched.
 * Nothing touches a chunk before the buddy hands out a block in it; then
 * the chunk is faulted in with MADV_POPULATE_WRITE, which fails cleanly
 * when the pool is empty (a touch would be killed by SIGBUS), and then the
 * chunk gets ordinary pages instead.  A purge gives a whole chunk back to
 * the pool and marks it unbacked again.
 * ---------------------------------------------------------------------- */
#define CHUNK_PAGES_SHIFT (HUGE_PAGE_SHIFT - PAGE_SHIFT)
_Static_assert(REGION_SIZE / HUGE_PAGE_SIZE <= 16, "a chunk bitmap is 16 bits");

static noinline void chunk_back(struct region *r, unsigned c)
{
	void *p = (char *)r + ((size_t)c << HUGE_PAGE_SHIFT);
	if (!os_populate(p, HUGE_PAGE_SIZE)) {
		if (!os_map_plain_at(p, HUGE_PAGE_SIZE))
			_strata_fatal("cannot back a chunk of a hugetlb region at %p", p);
		r->chunks_plain |= (uint16_t)(1u << c);
		hugetlb_fell_back();
	}
	r->chunks_backed |= (uint16_t)(1u << c);
}

void buddy_region_back(struct region *r, size_t pfn, size_t npages)
{
	if (likely(r->backing != BACKING_HUGETLB))
		return;
	for (size_t c = pfn >> CHUNK_PAGES_SHIFT; c <= (pfn + npages - 1) >> CHUNK_PAGES_SHIFT; c++)
		if (!(r->chunks_backed & (1u << c)))
			chunk_back(r, (unsigned)c);
}

/* After a purge of [start, end): the hugetlb chunks wholly inside went
 * back to the pool (ordinary ones stay backed: they fault in again). */
static void chunks_purged(struct region *r, size_t start, size_t end)
{
	if (r->backing != BACKING_HUGETLB)
		return;
	size_t first = (start + (1u << CHUNK_PAGES_SHIFT) - 1) >> CHUNK_PAGES_SHIFT;
	for (size_t c = first; (c + 1) << CHUNK_PAGES_SHIFT <= end; c++)
		if (!(r->chunks_plain & (1u << c)))
			r->chunks_backed &= (uint16_t) ~(1u << c);
}

/* ------------------------------------------------------------------------
 * Free
 * ---------------------------------------------------------------------- */

/* Free a block of which count pages may be resident (dirty: any). */
static void buddy_free_counted(struct arena *a, struct page *pg, unsigned order, bool dirty,
                               uint32_t count)
{
	struct region *r = page_region(pg);
	size_t         pfn = page_pfn(pg);
	arena_assert_locked(a);
	strata_assert(order <= BUDDY_MAX_ORDER);
	strata_assert((pfn & (((size_t)1 << order) - 1)) == 0); /* aligned to its order */
	strata_assert(pg->state != PAGE_FREE);
	account_free(a, r, 1L << order);
	clear_page_state(pg);
	while (order < BUDDY_MAX_ORDER) {
		struct page *buddy = &r->pages[buddy_pfn(pfn, order)];
		if (!page_is_buddy(buddy, order))
			break;
		free_block_del(a, buddy);
		dirty |= page_dirty(buddy);
		count += buddy->dirty;
		clear_page_state(buddy);
		pfn &= ~((size_t)1 << order);
		order++;
	}
	free_block_add(a, &r->pages[pfn], order, dirty, count);
}

void buddy_free(struct arena *a, struct page *pg, unsigned order, bool dirty)
{
	uint16_t *slab_pages = granule_slab_pages(page_region(pg), page_pfn(pg));
	strata_assert(*slab_pages >= (1u << order));
	*slab_pages -= (uint16_t)(1u << order);
	buddy_free_counted(a, pg, order, dirty, dirty ? 1u << order : 0);
}

/* Largest order a block starting at pfn may have without passing end. */
static unsigned range_order(size_t pfn, size_t end)
{
	unsigned order = pfn ? (unsigned)__builtin_ctzl(pfn) : BUDDY_MAX_ORDER;
	order = MIN(order, BUDDY_MAX_ORDER);
	while (pfn + ((size_t)1 << order) > end)
		order--;
	return order;
}

/* Free a run of pages that need not be a power of two, count of them
 * dirty (the first ones): cut it into the largest aligned blocks that fit
 * and free each. */
static void buddy_free_range_counted(struct arena *a, struct page *pg, size_t npages, bool dirty,
                                     uint32_t count)
{
	struct region *r = page_region(pg);
	size_t         pfn = page_pfn(pg), end = pfn + npages;

	while (pfn < end) {
		unsigned order = range_order(pfn, end);
		uint32_t part = dirty_share(&count, (size_t)1 << order);
		buddy_free_counted(a, &r->pages[pfn], order, dirty, part);
		pfn += (size_t)1 << order;
	}
}

void buddy_free_range(struct arena *a, struct page *pg, size_t npages, bool dirty)
{
	buddy_free_range_counted(a, pg, npages, dirty, dirty ? (uint32_t)npages : 0);
}

void buddy_region_init(struct arena *a, struct region *r)
{
	for (uint32_t i = 0; i < r->meta_pages; i++)
		r->pages[i].state = PAGE_META;
	memset(r->granule_slab_pages, 0, sizeof(r->granule_slab_pages));
	r->granule_slab_pages[0] = (uint16_t)r->meta_pages;
	buddy_free_range(a, &r->pages[r->meta_pages], REGION_PAGES - r->meta_pages, false);
}

/* ------------------------------------------------------------------------
 * Allocation
 * ---------------------------------------------------------------------- */

/* The smallest order >= order with a dirty free block, or past
 * BUDDY_MAX_ORDER.  Dirty first, at any order: its pages are likely
 * resident, no fault to take and no RSS added, where a clean block of a
 * smaller order would fault in fresh pages while the dirty memory waits
 * for the decay to give it back. */
static unsigned buddy_dirty_order(const struct arena *a, unsigned order)
{
	unsigned k = order;
	while (k <= BUDDY_MAX_ORDER && a->free_area[k].head == NULL)
		k++;
	return k;
}

/* Take free block pg, of order pg->order >= order, down to exactly this
 * order, the upper halves given back.  The head comes back PAGE_NONE with
 * PG_DIRTY telling whether any of it may be dirty, and the count of its
 * pages that may be in dirty.  Its hugetlb chunks are the caller's to back
 * (buddy_region_back): a run backs only its own pages. */
static struct page *buddy_split(struct arena *a, struct page *pg, unsigned order)
{
	struct region *r = page_region(pg);
	unsigned       k = pg->order;
	bool           dirty = page_dirty(pg);
	uint32_t       count = pg->dirty, freed = pg->freed_pass;
	free_block_del(a, pg);
	while (k > order) {
		k--;
		uint32_t lower = dirty_share(&count, (size_t)1 << k);
		free_block_add(a, pg + ((size_t)1 << k), k, dirty, count);
		pg[(size_t)1 << k].freed_pass = freed; /* as old as the block */
		count = lower;
	}
	strata_assert((page_pfn(pg) & (((size_t)1 << order) - 1)) == 0);
	account_free(a, r, -(1L << order));
	pg->state = PAGE_NONE;
	pg->flags = dirty ? PG_DIRTY : 0;
	pg->dirty = count;
	return pg;
}

/* A free block of exactly this order, split from the smallest dirty one
 * that holds it, else the smallest clean one; NULL when the arena has no
 * block big enough. */
static struct page *buddy_take(struct arena *a, unsigned order)
{
	arena_assert_locked(a);
	strata_assert(order <= BUDDY_MAX_ORDER);
	unsigned k = buddy_dirty_order(a, order);
	if (k > BUDDY_MAX_ORDER) {
		k = order;
		while (k <= BUDDY_MAX_ORDER && a->free_area[k].nr_free == 0)
			k++;
		if (k > BUDDY_MAX_ORDER)
			return NULL;
	}
	struct page *pg = a->free_area[k].head ? a->free_area[k].head : a->free_area[k].clean;
	return buddy_split(a, pg, order);
}

/* ------------------------------------------------------------------------
 * Blocks of slabs: kept together
 *
 * Slabs (and object caches' slabs) are blocks of a few pages that live
 * long and come and go one at a time; large runs are long and want long
 * runs of free blocks.  A slab block put wherever the buddy has a free
 * block of its order lands, in time, in the middle of the free runs that
 * large runs leave, and cuts them short: a program of small blocks and
 * runs of a few MiB (bench/compare's budget) had 8 regions in each arena
 * for 36 MiB in use, every one of them with a few hundred pages of slabs
 * spread over it, and no free run of 4 MiB (kept together: 3 regions, and
 * with the decay off, a peak RSS of 123 MiB against 233).  So the region counts the
 * slab pages of each of its 2 MiB granules (the kernel's pageblocks do the
 * same for pages that cannot move), and a slab block comes from a granule
 * that has slabs, then from a whole free granule, and only then from
 * anywhere.  The descriptor pages count as slab pages: a new region's
 * first granule, cut up by them, takes the first slabs.
 * ---------------------------------------------------------------------- */
#define SLAB_BLOCK_TRIES 8

/* A free block of order order to HUGE_ORDER - 1, dirty or clean, in a
 * granule that has slab pages, or NULL. */
static struct page *slab_block_near_slabs(struct arena *a, bool clean, unsigned order)
{
	for (unsigned o = order; o < HUGE_ORDER; o++) {
		struct page *pg = free_area_first(&a->free_area[o], clean);
		for (int i = 0; pg != NULL && i < SLAB_BLOCK_TRIES; pg = pg->next, i++)
			if (*granule_slab_pages(page_region(pg), page_pfn(pg)) != 0)
				return pg;
	}
	return NULL;
}

/* A whole free granule or more, dirty or clean, the smallest, or NULL. */
static struct page *slab_block_whole_granule(struct arena *a, bool clean)
{
	for (unsigned o = HUGE_ORDER; o <= BUDDY_MAX_ORDER; o++) {
		struct page *pg = free_area_first(&a->free_area[o], clean);
		if (pg != NULL)
			return pg;
	}
	return NULL;
}

static struct page *slab_block_take(struct arena *a, unsigned order)
{
	arena_assert_locked(a);
	strata_assert(order <= BUDDY_MAX_ORDER);
	struct page *pg = NULL;
	if (order < HUGE_ORDER) {
		for (int clean = 0; clean < 2 && pg == NULL; clean++)
			pg = slab_block_near_slabs(a, clean, order);
		for (int clean = 0; clean < 2 && pg == NULL; clean++)
			pg = slab_block_whole_granule(a, clean);
	}
	pg = pg ? buddy_split(a, pg, order) : buddy_take(a, order);
	if (pg != NULL)
		*granule_slab_pages(page_region(pg), page_pfn(pg)) += (uint16_t)(1u << order);
	return pg;
}

/* A run of npages cut from the start of the smallest run of free blocks
 * that holds it (a best fit), among the runs around the first free blocks
 * of each order from k - 2 up, where k is the order of npages (every run of
 * free blocks that long holds a block of order k - 2 or more): the dirty
 * blocks first, then the clean ones.  The buddy alone would take a block
 * of order k and cut the run from its start wherever that block lies: in
 * the middle of a longer run of free blocks, it leaves two shorter ones,
 * and a heap of runs of random sizes (buffers of 32 KiB to 1 MiB replaced
 * at random, bench/compare's buffers; a few MiB among small blocks,
 * bench/compare's budget) leaves its freed memory in runs no later
 * request fits: the heap grows with clean blocks while the dirty ones wait
 * for the decay to give them back, and the next runs fault the pages in
 * again (buffers: 3x glibc's time, 14x its page faults).  Cut from the
 * start, what is left stays one run.  FIT_TRIES blocks of each order below
 * k are looked at, FIT_TRIES_WHOLE of each order from k (each of which
 * holds the run alone), and a run with at most an eighth to spare ends the
 * search.  The run is claimed as a run grown in place is (buddy_claim);
 * it is the caller's like buddy_take's, *dirty if any of it may hold old
 * bytes. */
#define FIT_TRIES       16
#define FIT_TRIES_WHOLE 4
#define FIT_SLACK_SHIFT 3

struct fit {
	struct page *at;
	size_t       len; /* of the run of free blocks at is the start of */
};

/* Look at the runs around the first blocks of each order's dirty list, or
 * of its clean one. */
static bool fit_search(struct arena *a, bool clean, size_t npages, unsigned align_order,
                       struct fit *best)
{
	unsigned k = order_for_pages(npages);
	size_t   align = (size_t)1 << align_order;
	/* a block of order o lies in a run of 2^o pages or more: past the
	 * best run found, no order can give a smaller one */
	for (unsigned o = k < 2 ? 0 : k - 2; o <= BUDDY_MAX_ORDER && ((size_t)1 << o) < best->len;
	     o++) {
		struct page *pg = free_area_first(&a->free_area[o], clean);
		int          tries = o < k ? FIT_TRIES : FIT_TRIES_WHOLE;
		for (int i = 0; pg != NULL && i < tries; pg = pg->next, i++) {
			struct region *r = page_region(pg);
			size_t         start = free_run_start(r, page_pfn(pg));
			size_t         end = free_run_end(r, page_pfn(pg));
			size_t         at = ALIGN_UP(start, align);
			if (at + npages > end || end - start >= best->len)
				continue;
			best->at = &r->pages[at];
			best->len = end - start;
			if (best->len - npages <= npages >> FIT_SLACK_SHIFT)
				return true;
		}
	}
	return best->at != NULL;
}

static bool claim_range(struct arena *a, struct page *pg, size_t npages, bool *dirty);

/* The best fit around the dirty lists' first blocks, else (clean_too)
 * around the clean lists', claimed. */
static struct page *buddy_take_fit(struct arena *a, size_t npages, unsigned align_order,
                                   bool clean_too, bool *dirty)
{
	struct fit best = { NULL, SIZE_MAX };
	if (!fit_search(a, false, npages, align_order, &best)
	    && !(clean_too && fit_search(a, true, npages, align_order, &best)))
		return NULL;
	return claim_range(a, best.at, npages, dirty) ? best.at : NULL;
}

/* A run of npages cut from a run of free blocks that holds a dirty one
 * (fit_search over the dirty lists alone; no new region): NULL when none
 * holds it.  *dirty as buddy_alloc_pages'. */
struct page *buddy_alloc_dirty_run(struct arena *a, size_t npages, bool *dirty)
{
	arena_assert_locked(a);
	return buddy_take_fit(a, npages, 0, false, dirty);
}

/* A block for a slab (slab_block_take), with its hugetlb chunks backed. */
struct page *buddy_alloc(struct arena *a, unsigned order)
{
	struct page *pg = slab_block_take(a, order);
	if (pg != NULL)
		buddy_region_back(page_region(pg), page_pfn(pg), (size_t)1 << order);
	return pg;
}

/* A run of exactly npages, aligned to 2^align_order pages: cut from the
 * smallest block that holds it, the tail given back at once (the kernel's
 * alloc_pages_exact), so a run wastes no more than its last page. */
struct page *buddy_alloc_pages(struct arena *a, size_t npages, unsigned align_order, bool *dirty)
{
	arena_assert_locked(a);
	unsigned order = MAX(order_for_pages(npages), align_order);
	if (order > BUDDY_MAX_ORDER)
		return NULL;
	if (order > 0 && align_order < order)
		return buddy_take_fit(a, npages, align_order, true, dirty);
	struct page *pg = buddy_take(a, order);
	if (pg == NULL)
		return NULL;
	buddy_region_back(page_region(pg), page_pfn(pg), npages);
	*dirty = page_dirty(pg);
	size_t   block = (size_t)1 << order;
	uint32_t count = pg->dirty;
	dirty_share(&count, npages);
	if (block > npages)
		buddy_free_range_counted(a, pg + npages, block - npages, *dirty, count);
	pg->flags = 0;
	return pg;
}

/* The free block that contains page pfn, or NULL. */
static struct page *free_block_containing(struct region *r, size_t pfn)
{
	for (unsigned k = 0; k <= BUDDY_MAX_ORDER; k++) {
		struct page *head = &r->pages[pfn & ~(((size_t)1 << k) - 1)];
		if (page_is_buddy(head, k))
			return head;
	}
	return NULL;
}

/* Take the npages pages starting at pg out of the free lists, if all of
 * them are free: how a large run grows in place, and how a best fit takes
 * its run.  The parts of the free blocks that stick out on either side are
 * freed again.  *dirty: whether any of the pages may hold old bytes. */
static bool claim_range(struct arena *a, struct page *pg, size_t npages, bool *dirty)
{
	arena_assert_locked(a);
	struct region *r = page_region(pg);
	size_t         start = page_pfn(pg), end = start + npages;
	if (end > REGION_PAGES)
		return false;

	for (size_t pfn = start; pfn < end;) {
		struct page *blk = free_block_containing(r, pfn);
		if (blk == NULL)
			return false;
		pfn = page_pfn(blk) + ((size_t)1 << blk->order);
	}
	*dirty = false;
	for (size_t pfn = start; pfn < end;) {
		struct page *blk = free_block_containing(r, pfn);
		size_t       bstart = page_pfn(blk), bend = bstart + ((size_t)1 << blk->order);
		bool         blk_dirty = page_dirty(blk);
		uint32_t     count = blk->dirty;
		*dirty |= blk_dirty;
		free_block_del(a, blk);
		account_free(a, r, -(long)(bend - bstart));
		clear_page_state(blk);
		uint32_t left = dirty_share(&count, pfn - bstart);
		if (bstart < pfn)
			buddy_free_range_counted(a, blk, pfn - bstart, blk_dirty, left);
		dirty_share(&count, MIN(bend, end) - pfn); /* the claimed part's */
		if (bend > end)
			buddy_free_range_counted(a, &r->pages[end], bend - end, blk_dirty, count);
		pfn = bend;
	}
	buddy_region_back(r, start, npages);
	return true;
}

bool buddy_claim(struct arena *a, struct page *pg, size_t npages)
{
	bool dirty;
	return claim_range(a, pg, npages, &dirty);
}

/* ------------------------------------------------------------------------
 * Returning memory
 * ---------------------------------------------------------------------- */

/* A free block with pages that may go back to the kernel (dirty_weight). */
static bool decommittable(const struct page *pg)
{
	return dirty_weight(page_region(pg), pg->order, pg->dirty) != 0;
}

/* A free block that may go back to the kernel, dirty or not: part of a
 * run to purge (see dirty_weight). */
static bool purgeable(const struct page *pg, uint32_t before_pass)
{
	return pg->state == PAGE_FREE && dirty_weight(page_region(pg), pg->order, 1) != 0
	       && (pg->dirty == 0 || pg->freed_pass < before_pass);
}

/* Hand the free pages [start, end) of region r back to the kernel with one
 * call, and mark their blocks clean; returns the bytes. */
static size_t purge_run(struct arena *a, struct region *r, size_t start, size_t end)
{
	os_decommit(page_address(&r->pages[start]), (end - start) << PAGE_SHIFT);
	chunks_purged(r, start, end);
	for (size_t pfn = start; pfn < end; pfn += (size_t)1 << r->pages[pfn].order) {
		struct page *pg = &r->pages[pfn];
		a->dirty_pages -= dirty_weight(r, pg->order, pg->dirty);
		pg->dirty = 0;
		free_area_clean(&a->free_area[pg->order], pg);
	}
	return (end - start) << PAGE_SHIFT;
}

/* Purge the runs of adjacent free blocks of region r that hold at least
 * min_dirty dirty pages, while the arena has more than target dirty.  A
 * run is cut short, at a block's end, once it holds what is left to purge:
 * a heap that went a little over its cap gives back a little, not the
 * whole free run beside it (which it would fault in again). */
static size_t region_purge(struct arena *a, struct region *r, size_t target, size_t min_dirty,
                           uint32_t before_pass)
{
	size_t released = 0, start = 0, dirty = 0, pfn = r->meta_pages;
	bool   in_run = false;
	while (pfn <= REGION_PAGES && a->dirty_pages > target) {
		struct page *pg = pfn < REGION_PAGES ? &r->pages[pfn] : NULL;
		size_t       next = pfn + (pg ? block_pages(pg) : 1);
		bool         is_free = pg && purgeable(pg, before_pass);
		if (is_free) {
			if (!in_run)
				start = pfn, dirty = 0, in_run = true;
			dirty += pg->dirty;
		}
		/* A run ends at a block in use, or with the block that gives
		 * it what is left to purge. */
		if (in_run && (!is_free || dirty >= MAX(min_dirty, a->dirty_pages - target))) {
			if (dirty >= min_dirty)
				released += purge_run(a, r, start, is_free ? next : pfn);
			in_run = false;
		}
		pfn = next;
	}
	return released;
}

/* Give dirty free memory back to the kernel until at most target pages are
 * dirty: whole runs of adjacent free blocks, one madvise each, never a run
 * with fewer than min_dirty dirty pages (a few small blocks are not worth a
 * system call and the page faults that follow).  Runs of a huge page or
 * more go first: the most memory per call, and whole huge pages.  Returns
 * the bytes released (some of which may have been clean already). */
size_t buddy_purge_aged(struct arena *a, size_t target, size_t min_dirty, uint32_t before_pass)
{
	arena_assert_locked(a);
	size_t released = 0;
	size_t firsts[2] = { MAX(min_dirty, (size_t)1 << HUGE_ORDER), min_dirty };
	for (unsigned i = 0; i < 2; i++)
		for (struct region *r = a->regions; r && a->dirty_pages > target; r = r->next)
			released += region_purge(a, r, target, firsts[i], before_pass);
	return released;
}

size_t buddy_purge(struct arena *a, size_t target, size_t min_dirty)
{
	return buddy_purge_aged(a, target, min_dirty, UINT32_MAX);
}

bool buddy_region_idle(const struct region *r)
{
	return r->free_pages == REGION_PAGES - r->meta_pages;
}

/* Does an idle region hold no dirty block that the decay would return? */
bool buddy_region_clean(const struct region *r)
{
	size_t pfn = r->meta_pages;
	while (pfn < REGION_PAGES) {
		const struct page *pg = &r->pages[pfn];
		if (decommittable(pg))
			return false;
		pfn += (size_t)1 << pg->order;
	}
	return true;
}

/* Take an idle region's blocks off the free lists before it is unmapped. */
void buddy_region_detach(struct arena *a, struct region *r)
{
	arena_assert_locked(a);
	size_t pfn = r->meta_pages;
	while (pfn < REGION_PAGES) {
		struct page *pg = &r->pages[pfn];
		strata_assert(pg->state == PAGE_FREE);
		free_block_del(a, pg);
		pfn += (size_t)1 << pg->order;
	}
	a->free_pages -= r->free_pages;
	r->free_pages = 0;
}
