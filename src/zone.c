/* SPDX-License-Identifier: MIT */
/*
 * zone.c - private heaps (strata_heap_*): blocks of any size that go away
 * together, for request-scoped memory.
 *
 * A private heap (a zone, to tell it from the threads' heaps) has a cache
 * (cache.c) per size class, made when first used: the size classes up to
 * 32 KiB, then powers of two up to 1 MiB, one slab per cache kind of its
 * own, so its blocks share no slab with malloc's or another zone's.  Blocks
 * above 1 MiB are huge blocks on the zone's list.  A reset gives every slab
 * back to the buddy at once, and unmaps the huge blocks: the cost is per
 * slab, not per block.  Its caches have the threads' magazines like typed
 * caches (a reset starts a new generation, which empties every magazine of
 * them), so a call is a magazine pop or push, no lock.
 *
 * free() and realloc() of a zone's block work: the pagemap leads to the
 * cache, the cache to the zone.  In the debug mode a reset keeps the zone's
 * slabs mapped without access, so a block used after its zone's reset or
 * destroy faults at once.
 */
#include "cache.h"
#include "arena.h"
#include "debug.h"
#include "dlist.h"
#include "heap.h"
#include "large.h"
#include "leak.h"
#include "os.h"
#include "pagemap.h"
#include "sample.h"
#include "zone.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define ZONE_BIG_MIN_SHIFT 16 /* 64 KiB */
#define ZONE_BIG_MAX_SHIFT 20 /* 1 MiB */
#define ZONE_CLASSES       (NUM_CLASSES + ZONE_BIG_MAX_SHIFT - ZONE_BIG_MIN_SHIFT + 1)

struct zone {
	strata_lock_t lock; /* class caches' creation, the huge list */
	struct cache *cls[ZONE_CLASSES];
	struct huge  *huge;
	uint64_t      huge_live;
	uint64_t      huge_bytes;
	uint64_t      huge_nalloc;
	uint64_t      huge_nfree;
	uint64_t      resets;
	struct zone  *next;
	struct zone  *prev;
	char          name[CACHE_NAME_MAX];
};

static strata_lock_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct zone  *registry;
static struct cache  descriptors; /* the cache zones come from */
static struct cache  graveyard;   /* owner of a debug-mode zone's old slabs */

/* ------------------------------------------------------------------------
 * Classes
 * ---------------------------------------------------------------------- */

/* The class of a block of size bytes aligned to align, or -1 for a huge
 * block.  A size class serves an alignment that divides its size (slabs
 * start on a page); a power of two serves any alignment up to itself. */
static int zone_class(size_t size, size_t align)
{
	if (likely(size <= SMALL_MAX && align <= MIN_ALIGN))
		return (int)size_to_class(size);
	if (size <= SMALL_MAX && align <= PAGE_SIZE) {
		for (unsigned c = size_to_class(size); c < NUM_CLASSES; c++)
			if ((class_size_of(c) & (align - 1)) == 0)
				return (int)c;
	}
	size_t   need = MAX(size, align);
	unsigned shift = need <= 1 ? 0 : 64u - (unsigned)__builtin_clzl(need - 1);
	if (shift > ZONE_BIG_MAX_SHIFT)
		return -1;
	return NUM_CLASSES + (int)(MAX(shift, ZONE_BIG_MIN_SHIFT) - ZONE_BIG_MIN_SHIFT);
}

static size_t zone_class_size(unsigned i)
{
	return i < NUM_CLASSES ? class_size_of(i)
	                       : (size_t)1 << (ZONE_BIG_MIN_SHIFT + i - NUM_CLASSES);
}

static struct cache *zone_cache(struct zone *z, unsigned i)
{
	struct cache *c = __atomic_load_n(&z->cls[i], __ATOMIC_ACQUIRE);
	if (likely(c != NULL))
		return c;
	lock_acquire(&z->lock);
	c = z->cls[i];
	if (c == NULL
	    && (c = cache_new(z->name, zone_class_size(i), MIN_ALIGN, CACHE_ZONE, 0)) != NULL) {
		c->zone = z;
		__atomic_store_n(&z->cls[i], c, __ATOMIC_RELEASE);
	}
	lock_release(&z->lock);
	return c;
}

/* ------------------------------------------------------------------------
 * Blocks
 * ---------------------------------------------------------------------- */
static void *zone_huge(struct zone *z, size_t size, size_t align, bool zero)
{
	struct heap  *h = heap_get();
	struct arena *a = h ? heap_local_arena(h) : arena_pick();
	void         *p = huge_alloc(size, MAX(align, MIN_ALIGN), a->node, zero);
	if (p == NULL)
		return NULL;
	struct huge *hb = pagemap_lookup(p);
	lock_acquire(&z->lock);
	hb->zone = z;
	hb->zprev = NULL;
	hb->znext = z->huge;
	if (z->huge)
		z->huge->zprev = hb;
	z->huge = hb;
	z->huge_live++;
	z->huge_nalloc++;
	z->huge_bytes += huge_usable(hb);
	lock_release(&z->lock);
	return p;
}

void *zone_alloc(struct zone *z, size_t size, size_t align, bool zero)
{
	if (unlikely(size > PTRDIFF_MAX)) {
		errno = ENOMEM;
		return NULL;
	}
	int i = zone_class(size, align);
	if (i < 0)
		return zone_huge(z, size, align, zero);
	struct cache *c = zone_cache(z, (unsigned)i);
	void         *p = c ? cache_alloc(c, size) : NULL;
	if (p == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	if (zero)
		memset(p, 0, size);
	return p;
}

/* A huge block of z freed by free(): off the zone's list. */
void zone_huge_forget(struct huge *hb)
{
	struct zone *z = hb->zone;
	lock_acquire(&z->lock);
	if (hb->zprev)
		hb->zprev->znext = hb->znext;
	else
		z->huge = hb->znext;
	if (hb->znext)
		hb->znext->zprev = hb->zprev;
	z->huge_live--;
	z->huge_nfree++;
	z->huge_bytes -= huge_usable(hb);
	lock_release(&z->lock);
	hb->zone = NULL;
}

/* realloc of a zone's block p (usable bytes now): it stays in the zone.
 * A new block q has p's bytes; the caller (realloc) frees p. */
void *zone_realloc(struct zone *z, void *p, size_t usable, size_t size)
{
	if (size <= usable && size > usable / 2)
		return p;
	void *q = zone_alloc(z, size, MIN_ALIGN, false);
	if (q != NULL)
		memcpy(q, p, MIN(usable, size));
	return q;
}

/* ------------------------------------------------------------------------
 * Reset
 * ---------------------------------------------------------------------- */

/* The debug mode: the slabs stay mapped, unreachable, owned by the
 * graveyard, so that a later access faults and a later free() names the
 * block's heap as destroyed. */
static void zone_bury(struct cache *c)
{
	struct page *s;
	while ((s = cache_slab_unlist(c)) != NULL) {
		for (size_t k = 0; k < ((size_t)1 << s->order); k++)
			__atomic_store_n(&s[k].owner, &graveyard, __ATOMIC_RELAXED);
		void  *base = page_address(s);
		size_t bytes = PAGE_SIZE << s->order;
		os_decommit(base, bytes);
		mprotect(base, bytes, PROT_NONE);
	}
	c->nslabs = c->nempty = 0;
	c->out = 0;
}

static void zone_reset_cache(struct cache *c)
{
	cache_reset(c, unlikely(debug_mode()) ? zone_bury : NULL);
}

static void zone_reset_huge(struct zone *z)
{
	lock_acquire(&z->lock);
	struct huge *list = z->huge;
	z->huge = NULL;
	z->huge_nfree += z->huge_live;
	z->huge_live = 0;
	z->huge_bytes = 0;
	lock_release(&z->lock);
	while (list != NULL) {
		struct huge *hb = list;
		list = hb->znext;
		hb->zone = NULL;
		sample_forget_huge(hb, huge_pointer(hb));
		huge_free(hb);
	}
}

static void zone_reset(struct zone *z)
{
	for (unsigned i = 0; i < ZONE_CLASSES; i++) {
		struct cache *c = __atomic_load_n(&z->cls[i], __ATOMIC_ACQUIRE);
		if (c != NULL)
			zone_reset_cache(c);
	}
	zone_reset_huge(z);
	lock_acquire(&z->lock);
	z->resets++;
	lock_release(&z->lock);
}

/* Whether block p is one of private heap arg's: on a slab of one of its
 * caches, or a huge block on its list.  The leak filter of its sites. */
static bool zone_keeps(const void *p, void *arg)
{
	uintptr_t e = pagemap_entry(p);
	if (e == 0)
		return false;
	if (!pagemap_is_region(e))
		return ((const struct huge *)e)->zone == arg;
	const struct page *pg = pagemap_page(e, p);
	if (__atomic_load_n(&pg->state, __ATOMIC_RELAXED) != PAGE_CACHE)
		return false;
	const struct cache *c = page_owner(pg);
	return c->kind == CACHE_ZONE && c->zone == arg;
}

size_t zone_leak_sites(struct zone *z, struct strata_leak_site *sites, size_t max, size_t *bytes,
                       size_t *objects)
{
	struct leak_filter only = { zone_keeps, z };
	return leak_sites_of(sites, max, 0, &only, bytes, objects);
}

/* ------------------------------------------------------------------------
 * Figures and the registry
 * ---------------------------------------------------------------------- */
void zone_figures(struct zone *z, struct strata_cache_stats *st)
{
	memcpy(st->name, z->name, sizeof(st->name));
	for (unsigned i = 0; i < ZONE_CLASSES; i++) {
		struct cache *c = __atomic_load_n(&z->cls[i], __ATOMIC_ACQUIRE);
		if (c == NULL)
			continue;
		struct cache_figures f;
		cache_figures(c, &f);
		st->live += f.live;
		st->live_bytes += f.live * c->stride;
		st->total += f.total;
		st->slabs += f.slabs;
		st->slab_bytes += f.slab_bytes;
		st->slack += f.slab_bytes - f.live * c->stride;
		st->mallocs += f.nalloc;
		st->frees += f.nfree;
	}
	lock_acquire(&z->lock);
	st->live += z->huge_live;
	st->live_bytes += z->huge_bytes;
	st->mallocs += z->huge_nalloc;
	st->frees += z->huge_nfree;
	st->resets = z->resets;
	lock_release(&z->lock);
}

void zone_for_each(void (*fn)(struct zone *z, void *arg), void *arg)
{
	lock_acquire(&registry_lock);
	for (struct zone *z = registry; z; z = z->next)
		fn(z, arg);
	lock_release(&registry_lock);
}

void zone_lock_all(void)
{
	lock_acquire(&registry_lock);
	for (struct zone *z = registry; z; z = z->next)
		lock_acquire(&z->lock);
	lock_acquire(&descriptors.lock);
}

void zone_unlock_all(void)
{
	lock_release(&descriptors.lock);
	for (struct zone *z = registry; z; z = z->next)
		lock_release(&z->lock);
	lock_release(&registry_lock);
}

void zone_after_fork_child(void)
{
	lock_reinit(&descriptors.lock);
	for (struct zone *z = registry; z; z = z->next)
		lock_reinit(&z->lock);
	lock_reinit(&registry_lock);
}

/* ------------------------------------------------------------------------
 * strata_heap_*
 * ---------------------------------------------------------------------- */
strata_export strata_heap_t *strata_heap_create(const char *name)
{
	strata_ensure_init();
	lock_acquire(&registry_lock);
	if (descriptors.stride == 0) {
		cache_setup(&descriptors, "strata.heaps", sizeof(struct zone), 64, CACHE_ZONE, 0);
		cache_setup(&graveyard, "(destroyed)", MIN_ALIGN, 0, CACHE_ZONE, 0);
		graveyard.dead = true;
	}
	struct zone *z = cache_meta_alloc(&descriptors);
	if (z == NULL) {
		lock_release(&registry_lock);
		errno = ENOMEM;
		return NULL;
	}
	memset(z, 0, sizeof(*z));
	lock_reinit(&z->lock);
	strncpy(z->name, name ? name : "(unnamed)", CACHE_NAME_MAX - 1);
	dlist_push(registry, z);
	lock_release(&registry_lock);
	return (strata_heap_t *)z;
}

/* A size class's block from the class's cache, once made: its magazine
 * pop without zone_alloc's general sizes and alignments. */
strata_export void *strata_heap_malloc(strata_heap_t *heap, size_t size)
{
	struct zone *z = (struct zone *)heap;
	if (likely(size - 1 < SMALL_MAX)) { /* not 0: zone_alloc */
		unsigned      cls = size_to_class_small(size);
		struct cache *c = __atomic_load_n(&z->cls[cls], __ATOMIC_ACQUIRE);
		if (likely(c != NULL))
			return cache_alloc(c, size);
	}
	return zone_alloc(z, size, MIN_ALIGN, false);
}

strata_export void *strata_heap_calloc(strata_heap_t *heap, size_t nmemb, size_t size)
{
	size_t total;
	if (__builtin_mul_overflow(nmemb, size, &total)) {
		errno = ENOMEM;
		return NULL;
	}
	return zone_alloc((struct zone *)heap, total, MIN_ALIGN, true);
}

strata_export void *strata_heap_memalign(strata_heap_t *heap, size_t align, size_t size)
{
	if (align == 0 || (align & (align - 1)) != 0) {
		errno = EINVAL;
		return NULL;
	}
	return zone_alloc((struct zone *)heap, size, MAX(align, MIN_ALIGN), false);
}

strata_export void strata_heap_reset(strata_heap_t *heap)
{
	if (heap != NULL)
		zone_reset((struct zone *)heap);
}

strata_export void strata_heap_destroy(strata_heap_t *heap)
{
	struct zone *z = (struct zone *)heap;
	if (z == NULL)
		return;
	zone_reset(z);
	for (unsigned i = 0; i < ZONE_CLASSES; i++)
		if (z->cls[i] != NULL)
			(void)cache_delete(z->cls[i], "strata_heap_destroy");
	lock_acquire(&registry_lock);
	dlist_del(registry, z);
	cache_meta_free(&descriptors, z);
	lock_release(&registry_lock);
}

strata_export int strata_heap_stats_get(strata_heap_t *heap, struct strata_cache_stats *st)
{
	struct strata_cache_stats full = { .struct_size = sizeof(full) };
	if (heap == NULL) {
		errno = EINVAL;
		return -1;
	}
	zone_figures((struct zone *)heap, &full);
	return cache_stats_copy(&full, st);
}
