/* SPDX-License-Identifier: MIT */
/*
 * check.c - strata_check_heap(): walk every arena and verify the invariants
 * the other layers rely on.
 *
 * Per region, the pages from the descriptors to the end must tile exactly
 * into blocks: free buddy blocks (aligned to their order, never two free
 * buddies of one order side by side), large runs, and slabs whose every page
 * names the class, its offset and the owner.  The free lists must hold
 * exactly the free blocks and the page counts must add up.  The slabs whose
 * lists the calling thread may read (its own heap's, the shared heaps',
 * the abandoned ones) must account for every carved object, and the heaps'
 * lists hold what they say.  Other threads' slabs change under the walk:
 * only their pages are checked.  The walk takes the shared heaps' locks and
 * each arena's in turn; it is meant for tests, fuzzing and debugging, not
 * for a hot path.
 */
#include "internal.h"
#include "arena.h"
#include "heap.h"
#include "buddy.h"
#include "debug.h"
#include "slab.h"
#include "zone.h"
#include "strata.h"

/* The first problem found is reported and the walk stops. */
#define CHECK(cond, ...)                                                      \
	do {                                                                  \
		if (!(cond)) {                                                \
			_strata_print(2, "strata: heap check: " __VA_ARGS__); \
			_strata_print(2, "\n");                               \
			return false;                                         \
		}                                                             \
	} while (0)

/* ------------------------------------------------------------------------
 * Slabs
 * ---------------------------------------------------------------------- */

/* Walk one of a slab's lists (local, remote, or its heap's free list):
 * every object carved by the slab, holding the key, filled in the debug
 * mode, and no more of them than the slab has carved.  *count gets the
 * length. */
static bool check_free_objects(struct page *head, void *list, const char *what, uint32_t *count)
{
	const struct size_class *sc = &_strata_classes[head->cls];
	uint32_t                 n = 0;
	for (void **p = list; p; p = link_next(p)) {
		CHECK(slab_owns(head, p), "slab %p: its %s holds %p, not one of its carved objects",
		      page_address(head), what, (void *)p);
		CHECK((uintptr_t)p[1] == _strata_free_key, "free object %p lost its key",
		      (void *)p);
		CHECK(!debug_mode() || debug_freed_damage(p, sc->size) == sc->size,
		      "free object %p written after free (byte %zu)", (void *)p,
		      debug_freed_damage(p, sc->size));
		CHECK(++n <= head->bump, "slab %p: its %s is longer than its objects",
		      page_address(head), what);
	}
	*count = n;
	return true;
}

/* An object cache's slab: pages that name it and its cache, a bump within
 * the cache's capacity, and a free list of its own objects as long as the
 * objects carved and not in use. */
static bool check_cache_slab_lists(struct page *head, const struct cache *c);

static bool check_cache_slab(struct page *head)
{
	const struct cache *c = page_cache(head);
	size_t              npages = (size_t)1 << head->order;
	for (size_t i = 0; i < npages; i++) {
		struct page *pg = head + i;
		CHECK(pg->state == PAGE_CACHE && page_cache(pg) == c
		              && pg->slab_off == (i << PAGE_SHIFT),
		      "cache slab page %zu of %p names another slab", i, page_address(head));
	}
	/* Its lists change under the cache's lock, taken before an arena's:
	 * a cache busy now is checked another time. */
	if (cache_is_buried(c) || !lock_try((strata_lock_t *)&c->lock))
		return true;
	bool sound = check_cache_slab_lists(head, c);
	lock_release((strata_lock_t *)&c->lock);
	return sound;
}

static bool check_cache_slab_lists(struct page *head, const struct cache *c)
{
	CHECK(head->order == c->order && head->bump <= c->capacity,
	      "cache slab %p of \"%s\": order %u, bump %u", page_address(head), c->name,
	      head->order, head->bump);
	uint32_t n = 0;
	for (const void *q = head->local_free; q; q = cache_link_next(q)) {
		CHECK(slab_owns(head, q), "cache slab %p of \"%s\": its free list leads to %p",
		      page_address(head), c->name, q);
		CHECK(++n <= head->bump, "cache slab %p of \"%s\": its free list loops",
		      page_address(head), c->name);
	}
	CHECK(n + head->inuse == head->bump,
	      "cache slab %p of \"%s\": %u free and %u in use of %u carved", page_address(head),
	      c->name, n, head->inuse, head->bump);
	return true;
}

/* What every slab must be, whoever owns it: pages that name it. */
static bool check_slab_pages(struct page *head)
{
	const struct size_class *sc = &_strata_classes[head->cls];
	size_t                   npages = (size_t)1 << head->order;
	CHECK(head->order == sc->order, "slab %p of class %u has order %u", (void *)head, head->cls,
	      head->order);
	for (size_t i = 0; i < npages; i++) {
		struct page *pg = head + i;
		CHECK(pg->state == PAGE_SLAB || pg->state == PAGE_SAMPLED,
		      "slab page %zu of %p in state %u", i, page_address(head), pg->state);
		CHECK(pg->cls == head->cls && pg->slab_off == (i << PAGE_SHIFT),
		      "slab page %zu of %p names another slab", i, page_address(head));
		CHECK(slab_heap(pg) == slab_heap(head), "slab page %zu of %p names another owner",
		      i, page_address(head));
		CHECK((pg->state == PAGE_SAMPLED)
		              == (((uintptr_t)page_owner_tag(pg) & OWNER_SAMPLED) != 0),
		      "slab page %zu of %p: sampled state and owner tag differ", i,
		      page_address(head));
	}
	CHECK(head->bump <= sc->capacity, "slab %p bump %u over capacity %u", page_address(head),
	      head->bump, sc->capacity);
	return true;
}

/* The counts of a slab whose lists this thread may read: its own, an
 * abandoned one or a shared heap's (their locks are held).  free_list is
 * its heap's free list when it is current. */
static bool check_slab_counts(struct page *head, const struct heap_fast *f)
{
	uint32_t  local, remote = 0, listed = 0, freed = 0, aside = 0;
	uintptr_t w = __atomic_load_n(&head->remote, __ATOMIC_ACQUIRE);
	if (!check_free_objects(head, head->local_free, "local list", &local))
		return false;
	if (w != REMOTE_FULL && !check_free_objects(head, (void *)w, "remote list", &remote))
		return false;
	if (f
	    && !(check_free_objects(head, heap_free_list(f), "heap's free list", &listed)
	         && check_free_objects(head, f->local, "heap's local list", &freed)
	         && check_free_objects(head, f->aside, "heap's free list set aside", &aside)))
		return false;
	listed += freed + aside;
	CHECK(slab_inuse(head) + local == head->bump, "slab %p: %u in use + %u free != %u carved",
	      page_address(head), slab_inuse(head), local, head->bump);
	CHECK(remote + listed <= slab_inuse(head), "slab %p: %u remote + %u listed > %u in use",
	      page_address(head), remote, listed, slab_inuse(head));
	CHECK(!(head->inuse & SLAB_INUSE_FULL) || head->list == SLAB_FULL
	              || head->list == SLAB_ABANDONED,
	      "slab %p marked full off the full list", page_address(head));
	return true;
}

/* May this thread read the lists of a slab owned by h? */
static bool slab_readable(const struct heap *h)
{
	return h == NULL || h == _strata_heap || h->state == HEAP_SHARED;
}

static bool check_slab(struct page *head)
{
	if (!check_slab_pages(head))
		return false;
	struct heap *h = slab_heap(head);
	if (!slab_readable(h))
		return true;
	CHECK(h != NULL || head->list == SLAB_ABANDONED,
	      "slab %p has no owner and is not abandoned", page_address(head));
	bool current = h && head->list == SLAB_CURRENT;
	CHECK(!current || h->fast[head->cls].current == head,
	      "slab %p is current but not its heap's", page_address(head));
	return check_slab_counts(head, current ? &h->fast[head->cls] : NULL);
}

/* ------------------------------------------------------------------------
 * Regions: the pages tile into blocks
 * ---------------------------------------------------------------------- */
static bool check_region(struct region *r, size_t *free_pages, size_t *dirty_pages)
{
	size_t   region_free = 0;
	uint32_t slab_pages[REGION_GRANULES] = { r->meta_pages };
	for (uint32_t i = 0; i < r->meta_pages; i++)
		CHECK(r->pages[i].state == PAGE_META, "descriptor page %u of region %p in state %u",
		      i, (void *)r, r->pages[i].state);
	size_t pfn = r->meta_pages;
	while (pfn < REGION_PAGES) {
		struct page *pg = &r->pages[pfn];
		size_t       len;
		switch (pg->state) {
		case PAGE_FREE:
			len = (size_t)1 << pg->order;
			CHECK((pfn & (len - 1)) == 0,
			      "free block at page %zu misaligned for order %u", pfn, pg->order);
			if (pg->order < BUDDY_MAX_ORDER) {
				struct page *b = &r->pages[pfn ^ len];
				CHECK(!(b->state == PAGE_FREE && b->order == pg->order),
				      "free buddies of order %u not merged at page %zu", pg->order,
				      pfn);
			}
			CHECK(pfn + len <= REGION_PAGES && (pg[len - 1].flags & PG_FREE_TAIL)
			              && pg[len - 1].order == pg->order,
			      "free block at page %zu: its last page is not marked", pfn);
			region_free += len;
			CHECK(pg->dirty <= len && (pg->dirty == 0 || (pg->flags & PG_DIRTY)),
			      "free block at page %zu counts %u dirty pages", pfn, pg->dirty);
			*dirty_pages += dirty_weight(r, pg->order, pg->dirty);
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
			slab_pages[pfn >> HUGE_ORDER] += (uint32_t)len;
			break;
		case PAGE_CACHE:
			CHECK(pg->slab_off == 0, "page %zu starts in the middle of a cache slab",
			      pfn);
			len = (size_t)1 << pg->order;
			if (!check_cache_slab(pg))
				return false;
			slab_pages[pfn >> HUGE_ORDER] += (uint32_t)len;
			break;
		default:
			CHECK(false, "page %zu of region %p starts no block (state %u)", pfn,
			      (void *)r, pg->state);
		}
		for (size_t j = 1; j < len && pg->state == PAGE_LARGE; j++)
			CHECK(pg[j].state == PAGE_NONE && !(pg[j].flags & PG_FREE_TAIL),
			      "page %zu inside a large run has state %u", pfn + j, pg[j].state);
		CHECK(pfn + len <= REGION_PAGES, "block at page %zu runs past the region", pfn);
		pfn += len;
	}
	CHECK(region_free == r->free_pages, "region %p counts %u free pages, has %zu", (void *)r,
	      r->free_pages, region_free);
	for (unsigned g = 0; g < REGION_GRANULES; g++)
		CHECK(slab_pages[g] == r->granule_slab_pages[g],
		      "region %p: granule %u counts %u slab pages, has %u", (void *)r, g,
		      r->granule_slab_pages[g], slab_pages[g]);
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
		size_t       n = 0;
		struct page *lists[2] = { a->free_area[k].head, a->free_area[k].clean };
		for (unsigned l = 0; l < 2; l++)
			for (struct page *pg = lists[l]; pg; pg = pg->next, n++) {
				CHECK(pg->state == PAGE_FREE && pg->order == k,
				      "free list %u holds a page in state %u order %u", k,
				      pg->state, pg->order);
				CHECK(((pg->flags & PG_DIRTY) != 0) == (l == 0),
				      "free list %u: a %s block on the %s list", k,
				      l ? "dirty" : "clean", l ? "clean" : "dirty");
				CHECK(page_region(pg)->arena == a,
				      "free list %u holds another arena's page", k);
				listed += (size_t)1 << k;
			}
		CHECK(n == a->free_area[k].nr_free, "free list %u counts %zu, holds %zu", k,
		      a->free_area[k].nr_free, n);
	}
	CHECK(listed == a->free_pages, "arena %u: free lists hold %zu pages, counted %zu", a->index,
	      listed, a->free_pages);
	for (unsigned c = 0; c < NUM_CLASSES; c++) {
		size_t n = 0;
		for (struct page *pg = a->bins[c].abandoned; pg; pg = pg->next, n++)
			CHECK(pg->cls == c && pg->list == SLAB_ABANDONED && slab_heap(pg) == NULL,
			      "abandoned list %u holds a wrong slab", c);
		CHECK(n == a->bins[c].nr_abandoned, "abandoned list %u counts %zu, holds %zu", c,
		      a->bins[c].nr_abandoned, n);
	}
	return true;
}

static bool check_arena(struct arena *a)
{
	size_t   free_pages = 0, dirty_pages = 0;
	unsigned regions = 0;
	for (struct region *r = a->regions; r; r = r->next, regions++) {
		CHECK(r->kind == SEG_REGION && r->arena == a, "region %p of arena %u is not its",
		      (void *)r, a->index);
		if (!check_region(r, &free_pages, &dirty_pages))
			return false;
	}
	CHECK(regions == a->nr_regions, "arena %u counts %u regions, has %u", a->index,
	      a->nr_regions, regions);
	CHECK(free_pages == a->free_pages, "arena %u: %zu free pages in regions, counted %zu",
	      a->index, free_pages, a->free_pages);
	CHECK(dirty_pages == a->dirty_pages, "arena %u: %zu dirty pages, counted %zu", a->index,
	      dirty_pages, a->dirty_pages);
	return check_lists(a);
}

/* The lists of a heap this thread may read: each slab on the one its
 * list field names, of the class, the full ones marked. */
static bool check_heap_lists(struct heap *h)
{
	for (unsigned c = 0; c < NUM_CLASSES; c++) {
		struct heap_class *hc = &h->cls[c];
		struct page       *cur = h->fast[c].current;
		CHECK(!cur || (cur->list == SLAB_CURRENT && cur->cls == c && slab_heap(cur) == h),
		      "class %u: current slab is not marked current", c);
		CHECK((heap_free_list(&h->fast[c]) == NULL && h->fast[c].local == NULL
		       && h->fast[c].aside == NULL)
		              || cur,
		      "class %u: a free list with no current slab", c);
		struct page *last = NULL;
		for (struct page *s = hc->partial; s; last = s, s = s->next)
			CHECK(s->list == SLAB_PARTIAL && s->cls == c && slab_heap(s) == h,
			      "class %u: partial list holds a wrong slab", c);
		CHECK(hc->partial_last == last, "class %u: partial list's last slab is wrong", c);
		for (struct page *s = hc->full; s; s = s->next)
			CHECK(((s->list == SLAB_FULL && (s->inuse & SLAB_INUSE_FULL))
			       || s->list == SLAB_REFILLING)
			              && s->cls == c && slab_heap(s) == h,
			      "class %u: full list holds a wrong slab", c);
		for (struct page *s = hc->parked; s; s = s->next)
			CHECK(s->list == SLAB_PARKED && s->cls == c && slab_empty(s)
			              && slab_heap(s) == h,
			      "class %u: parked list holds a wrong slab", c);
	}
	return true;
}

/* free's recent slabs (api.c): each a live slab of the heap's own, of its
 * class; one the fast test takes (a limit) is its class's current slab,
 * whose local list that free pushes on, and has carved that many. */
static bool check_heap_recent(struct heap *h)
{
	for (unsigned i = 0; i < HEAP_RECENT_SLOTS; i++) {
		const struct heap_recent *r = &h->recent[i];
		const struct page        *s = r->slab;
		if (r->base == 0 && r->limit == 0)
			continue;
		CHECK(s->state == PAGE_SLAB && slab_heap(s) == h
		              && r->base == (uintptr_t)page_address(s) && r->shift == s->shift
		              && r->cls == s->cls && r->owner == &h->fast[s->cls]
		              && r->inverse == _strata_class_inverse64[s->cls],
		      "recent slab %u: not a slab of its heap's own as its entry says", i);
		CHECK(r->carved <= s->bump, "recent slab %u: past its slab's bump", i);
		CHECK(r->limit == 0 || (h->fast[s->cls].current == s && r->limit <= s->bump),
		      "recent slab %u: taken by the fast test, not current or past its bump", i);
	}
	return true;
}

static bool check_all_heaps(void)
{
	if (_strata_heap->state == HEAP_LIVE
	    && !(check_heap_lists(_strata_heap) && check_heap_recent(_strata_heap)))
		return false;
	for (unsigned i = 0; i < _strata_narenas; i++)
		if (!check_heap_lists(heap_shared(i)))
			return false;
	for (unsigned i = 0; i < _strata_narenas; i++) {
		struct arena *a = &_strata_arenas[i];
		lock_acquire(&a->lock);
		bool ok = check_arena(a);
		lock_release(&a->lock);
		if (!ok)
			return false;
	}
	return true;
}

/* The shared heaps' locks first, then each arena's: the order their slow
 * paths take them in. */
strata_export int strata_check_heap(void)
{
	strata_ensure_init();
	heap_free_pending_self();
	heap_registry_lock();
	bool ok = check_all_heaps();
	heap_registry_unlock();
	return ok ? 0 : -1;
}
