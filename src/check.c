/*
 * check.c - strata_check_heap(): walk every arena and verify the invariants
 * the other layers rely on.
 *
 * Per region, the pages from the descriptors to the end must tile exactly
 * into blocks: free buddy blocks (aligned to their order, never two free
 * buddies of one order side by side), large runs, and slabs whose every page
 * names the class and its offset.  The free lists must hold exactly the free
 * blocks, the page counts must add up, and each partial slab's freelist,
 * carved objects and never-carved tail must account for its capacity.  The
 * walk takes each arena's lock in turn; it is meant for tests, fuzzing and
 * debugging, not for a hot path.
 */
#include "internal.h"
#include "arena.h"
#include "buddy.h"
#include "debug.h"
#include "slab.h"
#include "strata.h"

/* The first problem found is reported and the walk stops. */
#define CHECK(cond, ...)                                                     \
	do {                                                                 \
		if (!(cond)) {                                               \
			_strata_print(2, "strata: heap check: " __VA_ARGS__);  \
			_strata_print(2, "\n");                                \
			return false;                                        \
		}                                                            \
	} while (0)

/* ------------------------------------------------------------------------
 * Slabs
 * ---------------------------------------------------------------------- */
static bool check_slab(struct page *head)
{
	const struct size_class *sc = &_strata_classes[head->cls];
	size_t npages = (size_t)1 << head->order;
	CHECK(head->order == sc->order, "slab %p of class %u has order %u", (void *)head, head->cls, head->order);
	for (size_t i = 0; i < npages; i++) {
		struct page *pg = head + i;
		CHECK(pg->state == PAGE_SLAB || pg->state == PAGE_SAMPLED,
		      "slab page %zu of %p in state %u", i, page_address(head), pg->state);
		CHECK(pg->cls == head->cls && pg->slab_off == (i << PAGE_SHIFT),
		      "slab page %zu of %p names another slab", i, page_address(head));
	}
	uint32_t bump = head->bump, free_count = 0;
	CHECK(bump <= sc->capacity, "slab %p bump %u over capacity %u", page_address(head), bump, sc->capacity);
	char *start = page_address(head);
	for (void **p = head->freelist; p; p = link_next(p)) {
		size_t off = (size_t)((char *)p - start);
		CHECK(off < npages << PAGE_SHIFT && off % sc->size == 0 && off / sc->size < bump,
		      "slab %p freelist holds %p, not one of its carved objects", (void *)start, (void *)p);
		CHECK((uintptr_t)p[1] == _strata_free_key, "free object %p lost its key", (void *)p);
		CHECK(!debug_mode() || debug_freed_damage(p, sc->size) == sc->size,
		      "free object %p written after free (byte %zu)", (void *)p, debug_freed_damage(p, sc->size));
		CHECK(++free_count <= bump, "slab %p freelist longer than its objects", (void *)start);
	}
	CHECK(head->inuse + free_count == bump, "slab %p: %u in use + %u free != %u carved",
	      (void *)start, head->inuse, free_count, bump);
	bool full = head->freelist == NULL && bump == sc->capacity;
	CHECK(full == !(head->flags & PG_PARTIAL), "slab %p %s the partial list", (void *)start,
	      full ? "full but on" : "not full but off");
	return true;
}

/* ------------------------------------------------------------------------
 * Regions: the pages tile into blocks
 * ---------------------------------------------------------------------- */
static bool check_region(struct region *r, size_t *free_pages, size_t *dirty_pages)
{
	size_t region_free = 0;
	for (uint32_t i = 0; i < r->meta_pages; i++)
		CHECK(r->pages[i].state == PAGE_META, "descriptor page %u of region %p in state %u",
		      i, (void *)r, r->pages[i].state);
	size_t pfn = r->meta_pages;
	while (pfn < REGION_PAGES) {
		struct page *pg = &r->pages[pfn];
		size_t len;
		switch (pg->state) {
		case PAGE_FREE:
			len = (size_t)1 << pg->order;
			CHECK((pfn & (len - 1)) == 0, "free block at page %zu misaligned for order %u", pfn, pg->order);
			if (pg->order < BUDDY_MAX_ORDER) {
				struct page *b = &r->pages[pfn ^ len];
				CHECK(!(b->state == PAGE_FREE && b->order == pg->order),
				      "free buddies of order %u not merged at page %zu", pg->order, pfn);
			}
			region_free += len;
			if (pg->flags & PG_DIRTY)
				*dirty_pages += dirty_weight(r, pg->order);
			break;
		case PAGE_LARGE:
			len = pg->npages;
			CHECK(len > 0, "empty large run at page %zu", pfn);
			break;
		case PAGE_SLAB:
		case PAGE_SAMPLED:
			CHECK(pg->slab_off == 0, "page %zu starts in the middle of a slab", pfn);
			len = (size_t)1 << pg->order;
			if (!check_slab(pg))
				return false;
			break;
		default:
			CHECK(false, "page %zu of region %p starts no block (state %u)", pfn, (void *)r, pg->state);
		}
		for (size_t j = 1; j < len && pg->state == PAGE_LARGE; j++)
			CHECK(pg[j].state == PAGE_NONE, "page %zu inside a large run has state %u", pfn + j, pg[j].state);
		CHECK(pfn + len <= REGION_PAGES, "block at page %zu runs past the region", pfn);
		pfn += len;
	}
	CHECK(region_free == r->free_pages, "region %p counts %u free pages, has %zu",
	      (void *)r, r->free_pages, region_free);
	*free_pages += region_free;
	return true;
}

/* ------------------------------------------------------------------------
 * Arenas
 * ---------------------------------------------------------------------- */
static bool check_lists(struct arena *a)
{
	size_t listed = 0;
	for (unsigned k = 0; k <= BUDDY_MAX_ORDER; k++) {
		size_t n = 0;
		for (struct page *pg = a->free_area[k].head; pg; pg = pg->next, n++) {
			CHECK(pg->state == PAGE_FREE && pg->order == k, "free list %u holds a page in state %u order %u",
			      k, pg->state, pg->order);
			CHECK(page_region(pg)->arena == a, "free list %u holds another arena's page", k);
			listed += (size_t)1 << k;
		}
		CHECK(n == a->free_area[k].nr_free, "free list %u counts %zu, holds %zu", k, a->free_area[k].nr_free, n);
	}
	CHECK(listed == a->free_pages, "arena %u: free lists hold %zu pages, counted %zu", a->index, listed, a->free_pages);
	for (unsigned c = 0; c < NUM_CLASSES; c++) {
		size_t n = 0;
		for (struct page *pg = a->bins[c].partial; pg; pg = pg->next, n++)
			CHECK(pg->cls == c && (pg->flags & PG_PARTIAL), "partial list %u holds a wrong slab", c);
		CHECK(n == a->bins[c].nr_partial, "partial list %u counts %zu, holds %zu", c, a->bins[c].nr_partial, n);
	}
	return true;
}

static bool check_arena(struct arena *a)
{
	size_t free_pages = 0, dirty_pages = 0;
	unsigned regions = 0;
	for (struct region *r = a->regions; r; r = r->next, regions++) {
		CHECK(r->kind == SEG_REGION && r->arena == a, "region %p of arena %u is not its", (void *)r, a->index);
		if (!check_region(r, &free_pages, &dirty_pages))
			return false;
	}
	CHECK(regions == a->nr_regions, "arena %u counts %u regions, has %u", a->index, a->nr_regions, regions);
	CHECK(free_pages == a->free_pages, "arena %u: %zu free pages in regions, counted %zu",
	      a->index, free_pages, a->free_pages);
	CHECK(dirty_pages == a->dirty_pages, "arena %u: %zu dirty pages, counted %zu",
	      a->index, dirty_pages, a->dirty_pages);
	return check_lists(a);
}

strata_export int strata_check_heap(void)
{
	strata_ensure_init();
	for (unsigned i = 0; i < _strata_narenas; i++) {
		struct arena *a = &_strata_arenas[i];
		lock_acquire(&a->lock);
		bool ok = check_arena(a);
		lock_release(&a->lock);
		if (!ok)
			return -1;
	}
	return 0;
}
