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
 * ORs it, splitting copies it.  A dirty block also carries freed_ms, when
 * it (or the most recent of its merged parts) was freed, for the decay, and
 * the arena counts the pages of its dirty free blocks in dirty_pages.
 *
 * Everything here runs under the arena lock.
 */
#include "buddy.h"
#include "dlist.h"
#include "os.h"

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

static inline void set_page_free(struct page *pg, unsigned order, bool dirty, uint32_t freed_ms)
{
	pg->state = PAGE_FREE;
	pg->order = (uint8_t)order;
	pg->flags = dirty ? PG_DIRTY : 0;
	pg->freed_ms = freed_ms;
}

/* The later of two wrapping millisecond times. */
static inline uint32_t ms_later(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) >= 0 ? a : b;
}

static inline void clear_page_state(struct page *pg)
{
	pg->state = PAGE_NONE;
	pg->flags = 0;
}

static inline bool page_dirty(const struct page *pg)
{
	return pg->flags & PG_DIRTY;
}

static void free_area_add(struct free_area *fa, struct page *pg)
{
	dlist_push(fa->head, pg);
	fa->nr_free++;
}

static void free_area_del(struct free_area *fa, struct page *pg)
{
	dlist_del(fa->head, pg);
	fa->nr_free--;
}

static inline void account_free(struct arena *a, struct region *r, long npages)
{
	a->free_pages += (size_t)npages;
	r->free_pages += (uint32_t)npages;
}

/* ------------------------------------------------------------------------
 * Free
 * ---------------------------------------------------------------------- */
void buddy_free(struct arena *a, struct page *pg, unsigned order, bool dirty)
{
	struct region *r = page_region(pg);
	size_t pfn = page_pfn(pg);
	uint32_t freed_ms = dirty ? (uint32_t)os_now_ms() : 0;

	account_free(a, r, 1L << order);
	clear_page_state(pg);
	while (order < BUDDY_MAX_ORDER) {
		struct page *buddy = &r->pages[buddy_pfn(pfn, order)];
		if (!page_is_buddy(buddy, order))
			break;
		free_area_del(&a->free_area[order], buddy);
		if (page_dirty(buddy)) {
			a->dirty_pages -= dirty_weight(r, order);   /* counted again merged */
			freed_ms = dirty ? ms_later(freed_ms, buddy->freed_ms) : buddy->freed_ms;
			dirty = true;
		}
		clear_page_state(buddy);
		pfn &= ~((size_t)1 << order);
		order++;
	}
	set_page_free(&r->pages[pfn], order, dirty, freed_ms);
	if (dirty)
		a->dirty_pages += dirty_weight(r, order);
	free_area_add(&a->free_area[order], &r->pages[pfn]);
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

/* Free a run of pages that need not be a power of two: cut it into the
 * largest aligned blocks that fit and free each. */
void buddy_free_range(struct arena *a, struct page *pg, size_t npages, bool dirty)
{
	struct region *r = page_region(pg);
	size_t pfn = page_pfn(pg), end = pfn + npages;

	while (pfn < end) {
		unsigned order = range_order(pfn, end);
		buddy_free(a, &r->pages[pfn], order, dirty);
		pfn += (size_t)1 << order;
	}
}

void buddy_region_init(struct arena *a, struct region *r)
{
	for (uint32_t i = 0; i < r->meta_pages; i++)
		r->pages[i].state = PAGE_META;
	buddy_free_range(a, &r->pages[r->meta_pages], REGION_PAGES - r->meta_pages, false);
}

/* ------------------------------------------------------------------------
 * Allocation
 * ---------------------------------------------------------------------- */

/* Take a free block of exactly this order, splitting a larger one if need
 * be.  The head comes back PAGE_NONE with PG_DIRTY telling whether any of
 * it may be dirty; NULL when the arena has no block big enough. */
struct page *buddy_alloc(struct arena *a, unsigned order)
{
	unsigned k = order;
	while (k <= BUDDY_MAX_ORDER && a->free_area[k].head == NULL)
		k++;
	if (k > BUDDY_MAX_ORDER)
		return NULL;

	struct page *pg = a->free_area[k].head;
	struct region *r = page_region(pg);
	bool dirty = page_dirty(pg);
	uint32_t freed_ms = pg->freed_ms;
	free_area_del(&a->free_area[k], pg);
	if (dirty)
		a->dirty_pages -= dirty_weight(r, k);
	while (k > order) {
		k--;
		struct page *half = pg + ((size_t)1 << k);
		set_page_free(half, k, dirty, freed_ms);
		free_area_add(&a->free_area[k], half);
		if (dirty)
			a->dirty_pages += dirty_weight(r, k);
	}
	account_free(a, r, -(1L << order));
	pg->state = PAGE_NONE;
	pg->flags = dirty ? PG_DIRTY : 0;
	return pg;
}

/* A run of exactly npages, aligned to 2^align_order pages: cut from the
 * smallest block that holds it, the tail given back at once (the kernel's
 * alloc_pages_exact), so a run wastes no more than its last page. */
struct page *buddy_alloc_pages(struct arena *a, size_t npages, unsigned align_order, bool *dirty)
{
	unsigned order = MAX(order_for_pages(npages), align_order);
	if (order > BUDDY_MAX_ORDER)
		return NULL;
	struct page *pg = buddy_alloc(a, order);
	if (pg == NULL)
		return NULL;
	*dirty = page_dirty(pg);
	size_t block = (size_t)1 << order;
	if (block > npages)
		buddy_free_range(a, pg + npages, block - npages, *dirty);
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
 * them are free: how a large run grows in place.  The parts of the free
 * blocks that stick out on either side are freed again. */
bool buddy_claim(struct arena *a, struct page *pg, size_t npages)
{
	struct region *r = page_region(pg);
	size_t start = page_pfn(pg), end = start + npages;
	if (end > REGION_PAGES)
		return false;

	for (size_t pfn = start; pfn < end;) {
		struct page *blk = free_block_containing(r, pfn);
		if (blk == NULL)
			return false;
		pfn = page_pfn(blk) + ((size_t)1 << blk->order);
	}
	for (size_t pfn = start; pfn < end;) {
		struct page *blk = free_block_containing(r, pfn);
		size_t bstart = page_pfn(blk), bend = bstart + ((size_t)1 << blk->order);
		bool dirty = page_dirty(blk);
		free_area_del(&a->free_area[blk->order], blk);
		account_free(a, r, -(long)(bend - bstart));
		if (dirty)
			a->dirty_pages -= dirty_weight(r, blk->order);
		clear_page_state(blk);
		if (bstart < pfn)
			buddy_free_range(a, blk, pfn - bstart, dirty);
		if (bend > end)
			buddy_free_range(a, &r->pages[end], bend - end, dirty);
		pfn = bend;
	}
	return true;
}

/* ------------------------------------------------------------------------
 * Returning memory
 * ---------------------------------------------------------------------- */

/* Hand one dirty free block of order k back to the kernel; its bytes. */
/* A dirty free block that may go back to the kernel (see dirty_weight). */
static bool decommittable(const struct page *pg, unsigned k)
{
	return page_dirty(pg) && dirty_weight(page_region(pg), k) != 0;
}

/* Hand one dirty free block of order k back to the kernel; its bytes. */
static size_t decommit_block(struct arena *a, struct page *pg, unsigned k)
{
	os_decommit(page_address(pg), PAGE_SIZE << k);
	pg->flags &= (uint8_t)~PG_DIRTY;
	a->dirty_pages -= dirty_weight(page_region(pg), k);
	return PAGE_SIZE << k;
}

/* Hand back to the kernel every dirty free block freed at least min_age_ms
 * before now_ms (0: all of them); returns the bytes released. */
size_t buddy_decommit(struct arena *a, uint64_t now_ms, uint32_t min_age_ms)
{
	size_t released = 0;
	for (unsigned k = 0; k <= BUDDY_MAX_ORDER; k++)
		for (struct page *pg = a->free_area[k].head; pg; pg = pg->next)
			if (decommittable(pg, k) && (uint32_t)now_ms - pg->freed_ms >= min_age_ms)
				released += decommit_block(a, pg, k);
	return released;
}

/* Decommit dirty free blocks, largest first, until at most target pages
 * are dirty: the big blocks hold the most memory per system call. */
size_t buddy_decommit_to(struct arena *a, size_t target)
{
	size_t released = 0;
	for (unsigned k = BUDDY_MAX_ORDER + 1; k-- > 0 && a->dirty_pages > target;)
		for (struct page *pg = a->free_area[k].head; pg && a->dirty_pages > target; pg = pg->next)
			if (decommittable(pg, k))
				released += decommit_block(a, pg, k);
	return released;
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
		if (decommittable(pg, pg->order))
			return false;
		pfn += (size_t)1 << pg->order;
	}
	return true;
}

/* Take an idle region's blocks off the free lists before it is unmapped. */
void buddy_region_detach(struct arena *a, struct region *r)
{
	size_t pfn = r->meta_pages;
	while (pfn < REGION_PAGES) {
		struct page *pg = &r->pages[pfn];
		strata_assert(pg->state == PAGE_FREE);
		free_area_del(&a->free_area[pg->order], pg);
		if (page_dirty(pg))
			a->dirty_pages -= dirty_weight(r, pg->order);
		pfn += (size_t)1 << pg->order;
	}
	a->free_pages -= r->free_pages;
	r->free_pages = 0;
}
