/* SPDX-License-Identifier: MIT */
/*
 * cache.h - object caches: slabs of one object size that belong to one
 * cache, the kernel's kmem_cache in user space.
 *
 * A cache carves its own slabs (PAGE_CACHE pages of the buddy) into objects
 * of its exact size, so an overflow of one type's object meets only objects
 * of the same type.  Three users: typed caches (strata_cache_*), reserved
 * pools (pool.c) and the per-class caches of private heaps (zone.c).
 *
 * Every cache with an id (typed caches, pools, private heaps' caches while
 * ids last) has a magazine per thread: two lists of a bounded number of
 * objects, popped and pushed without a lock.  A cache without one is used
 * under its lock.
 */
#ifndef STRATA_CACHE_H
#define STRATA_CACHE_H

#include "internal.h"
#include "pagemap.h"
#include "slab.h"
#include "strata.h"

#define CACHE_MAX        4096 /* caches with magazines at once */
#define CACHE_NO_ID      UINT32_MAX
#define CACHE_NAME_MAX   48
#define CACHE_OBJECT_MAX ((size_t)1 << 20) /* largest object of a cache */

enum cache_kind { CACHE_TYPED, CACHE_POOL, CACHE_ZONE };

/* A thread's magazine of one cache, in two lists as a slab's own free
 * list and local list (slab.h): allocation pops free, free pushes local,
 * so that neither waits on the other's stores; local becomes free when
 * free runs dry.  Both hold objects linked as on every free list
 * (internal.h), for the cache of generation gen (an id is reused after a
 * destroy: a magazine of another generation is empty).  Only local is
 * bounded (n of them at most the cache's mag_cap); free holds what one
 * refill or hand-over gave it.  n and gen also read as one word,
 * tag = gen << 32 | n, so that free tests "this generation and not full"
 * with one subtraction and one compare against the cache's mag_key
 * (cache_free_fast); agen is gen again, next to avail, for allocation's
 * test.  The counts are kept without a store per call of their own:
 * allocations are nalloc - avail (a fill adds what it puts on free) and
 * frees nfree + n (a hand-over or flush of local adds its n). */
struct cache_mag {
	void *free;
	union {
		uint64_t atag;
		struct {
			uint32_t avail; /* objects on free; the low half */
			uint32_t agen;
		};
	};
	void *local;
	union {
		uint64_t tag;
		struct {
			uint32_t n; /* objects on local; the low half */
			uint32_t gen;
		};
	};
	uint64_t nalloc; /* since the last merge into the cache: see above */
	uint64_t nfree;
	uint32_t batch; /* objects the next refill takes */
	uint32_t _pad[3];
};

struct zone;

/* The fields the fast paths read come first, in the descriptor's first
 * cache line. */
struct cache {
	size_t        mag_off; /* byte offset of its magazine in a thread's table */
	uint64_t      mag_key; /* (uint64_t)gen << 32: see struct cache_mag */
	uint64_t      mag_cap; /* most objects a thread's magazine holds */
	uint32_t      gen;
	uint32_t      alloc_gen; /* what strata_cache_alloc's fast path matches a
	                            magazine's with: gen, or 0 (no magazine's)
	                            when it zeroes objects, so that one compare
	                            sends those calls to the slow path */
	unsigned      flags;
	strata_lock_t lock;
	uint32_t      id;     /* magazine index, or CACHE_NO_ID */
	uint32_t      size;   /* the object size asked for */
	uint32_t      stride; /* size rounded up to the alignment */
	uint32_t      align;
	uint32_t      capacity; /* objects per slab */
	uint32_t      inverse;  /* of stride's odd part (slab.h) */
	uint8_t       shift;
	uint8_t       order;   /* slab order */
	uint8_t       kind;    /* enum cache_kind */
	bool          dead;    /* destroyed with live objects: goes when they do */
	struct page  *partial; /* slabs with free objects */
	struct page  *full;
	struct page  *empty; /* kept, at most a few */
	size_t        nslabs;
	size_t        nempty;
	uint64_t      out;    /* objects out of the slabs: used or in magazines */
	uint64_t      nalloc; /* merged counts (magazines add theirs) */
	uint64_t      nfree;
	uint64_t      slabs_made;
	void         *reserve; /* CACHE_POOL: objects kept aside, linked */
	uint64_t      nreserve;
	uint64_t      reserve_min;
	uint64_t      reserve_served; /* allocations the reserve served */
	struct zone  *zone;           /* CACHE_ZONE: its private heap */
	struct cache *next;           /* the registry */
	struct cache *prev;
	char          name[CACHE_NAME_MAX];
};

/* The figures of a cache, magazines included (cache_stats). */
struct cache_figures {
	uint64_t live;  /* objects with the program */
	uint64_t total; /* objects the slabs hold */
	uint64_t slabs;
	uint64_t slab_bytes;
	uint64_t slack; /* slab bytes not in live objects' requested size */
	uint64_t nalloc;
	uint64_t nfree;
	uint64_t cached; /* in magazines */
};

/* Is pg a page of cache c's slabs?  Read by any thread.  The owner field
 * is a cache only on its PAGE_CACHE pages (a released slab's pages get
 * NULL), so the fast paths compare the owner alone; it is tagged
 * (OWNER_SAMPLED, slab.h) on a page where leak tracking sampled an object,
 * and such a page's frees take the slow path. */
static inline bool page_of_cache(const struct page *pg, const struct cache *c)
{
	return __atomic_load_n(&pg->state, __ATOMIC_RELAXED) == PAGE_CACHE && page_owner(pg) == c;
}

/* A cache's generation, read by any thread (a reset or destroy changes it
 * under the cache's lock). */
static inline uint32_t cache_gen(const struct cache *c)
{
	return __atomic_load_n(&c->gen, __ATOMIC_RELAXED);
}

static inline struct cache *page_cache(const struct page *pg)
{
	return page_owner(pg);
}

/* A new generation: every magazine of c's is empty from now on (the
 * cache's lock held, or c not yet seen by other threads). */
static inline void cache_set_gen(struct cache *c, uint32_t gen)
{
	__atomic_store_n(&c->mag_key, (uint64_t)gen << 32, __ATOMIC_RELAXED);
	__atomic_store_n(&c->gen, gen, __ATOMIC_RELAXED);
	__atomic_store_n(&c->alloc_gen, (c->flags & STRATA_CACHE_ZERO) ? 0 : gen, __ATOMIC_RELAXED);
}

/* p's page if p is an object of c's that is in use, else NULL: the check
 * of the free calls' fast paths. */
static inline struct page *cache_live_page(const struct cache *c, const void *p)
{
	uintptr_t e = pagemap_entry(p);
	if (!pagemap_is_region(e))
		return NULL;
	struct page *pg = pagemap_page(e, p);
	if (page_of_cache(pg, c) && slab_object_valid(pg, p)
	    && ((const uintptr_t *)p)[1] != _strata_free_key)
		return pg;
	return NULL;
}

/* The free object after p, as link_next (internal.h), for objects that may
 * be 8-aligned. */
static inline void *cache_link_next(const void *p)
{
	const uintptr_t *w = p;
	uintptr_t        next = w[0] ^ link_mask(p);
	if (unlikely((next & (sizeof(void *) - 1)) | (w[1] ^ _strata_free_key)))
		_strata_freelist_corrupt(p);
	return (void *)next;
}

bool cache_setup(struct cache *c, const char *name, size_t size, size_t align, enum cache_kind kind,
                 unsigned flags);
struct cache *cache_new(const char *name, size_t size, size_t align, enum cache_kind kind,
                        unsigned flags);
bool          cache_delete(struct cache *c, const char *what);
void         *cache_alloc(struct cache *c, size_t size);
void          cache_free(struct cache *c, void *p);
void         *cache_alloc_locked(struct cache *c);
void         *cache_meta_alloc(struct cache *meta);
void          cache_meta_free(struct cache *meta, void *p);
void          cache_free_locked(struct cache *c, struct page *pg, void *p);
struct page  *cache_slab_unlist(struct cache *c);
void          cache_release_all(struct cache *c);
void          cache_reset(struct cache *c, void (*dispose)(struct cache *c));
void          cache_free_block(struct page *pg, void *p);
void          cache_figures(struct cache *c, struct cache_figures *f);
void          cache_registry_lock(void);
void          cache_registry_unlock(void);
void          cache_for_each(void (*fn)(struct cache *c, void *arg), void *arg);
void          cache_after_fork_child(void);
void          cache_forget_live(struct cache *c);
void          cache_stats_fill(struct cache *c, struct strata_cache_stats *st);
void          cache_leak_record(struct cache *c, void *p);
void          cache_leak_forget(struct cache *c, struct page *pg, void *p);
size_t cache_leak_sites(struct cache *c, struct strata_leak_site *sites, size_t max, size_t *bytes,
                        size_t *objects);
int    cache_stats_copy(const struct strata_cache_stats *full, struct strata_cache_stats *st);
void   cache_misuse(const void *p, const char *op, const char *why)
        __attribute__((__noreturn__, __cold__));

#endif
