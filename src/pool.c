/* SPDX-License-Identifier: MIT */
/*
 * pool.c - reserved pools, the kernel's mempool in user space: a cache
 * (cache.c) that keeps min_reserved objects aside.
 *
 * Allocation asks the cache first, and takes from the reserve only when
 * the cache cannot get memory from the operating system; a free refills
 * the reserve before anything goes back to the cache, and so does an
 * allocation that succeeds while the reserve is short.  The reserve is a
 * list of free objects (linked and keyed like every free list) under the
 * cache's lock; its objects are faulted in at creation, so that taking one
 * never needs a page the kernel could refuse.
 */
#include "cache.h"
#include "sample.h"

#include <errno.h>
#include <string.h>

#define POOL_ALIGN 16 /* malloc's alignment */

static void reserve_push(struct cache *c, void *p)
{
	link_set(p, c->reserve);
	c->reserve = p;
	__atomic_store_n(&c->nreserve, c->nreserve + 1, __ATOMIC_RELAXED);
}

static void *reserve_pop(struct cache *c)
{
	void **p = c->reserve;
	c->reserve = link_next(p);
	__atomic_store_n(&c->nreserve, c->nreserve - 1, __ATOMIC_RELAXED);
	p[1] = NULL;
	return p;
}

/* Fill the reserve up to its minimum from the cache's slabs, the cache's
 * lock held; false if memory ran out first. */
static bool reserve_fill(struct cache *c)
{
	while (c->nreserve < c->reserve_min) {
		void *p = cache_alloc_locked(c);
		if (p == NULL)
			return false;
		memset(p, 0, c->stride); /* fault it in now */
		reserve_push(c, p);
	}
	return true;
}

strata_export strata_pool_t *strata_pool_create(const char *name, size_t size, size_t min_reserved)
{
	struct cache *c = cache_new(name, size, POOL_ALIGN, CACHE_POOL, 0);
	if (c == NULL)
		return NULL;
	lock_acquire(&c->lock);
	c->reserve_min = min_reserved;
	bool filled = reserve_fill(c);
	lock_release(&c->lock);
	if (!filled) {
		strata_pool_destroy((strata_pool_t *)c);
		errno = ENOMEM;
		return NULL;
	}
	return (strata_pool_t *)c;
}

static noinline void *pool_alloc_slow(struct cache *c, void *p)
{
	lock_acquire(&c->lock);
	bool served = false;
	if (p != NULL) {
		(void)reserve_fill(c); /* memory came back */
	} else if (c->reserve != NULL) {
		p = reserve_pop(c);
		c->reserve_served++;
		c->nalloc++;
		served = true;
	}
	lock_release(&c->lock);
	if (served)
		cache_leak_record(c, p); /* the program's now */
	return p;
}

strata_export void *strata_pool_alloc(strata_pool_t *pool)
{
	struct cache *c = (struct cache *)pool;
	int           saved = errno;
	void         *p = cache_alloc(c, c->size);
	if (likely(p != NULL && __atomic_load_n(&c->nreserve, __ATOMIC_RELAXED) >= c->reserve_min))
		return p;
	p = pool_alloc_slow(c, p);
	if (p != NULL)
		errno = saved;
	return p;
}

strata_export void strata_pool_free(strata_pool_t *pool, void *obj)
{
	struct cache *c = (struct cache *)pool;
	if (likely(__atomic_load_n(&c->nreserve, __ATOMIC_RELAXED) >= c->reserve_min)
	    || obj == NULL) {
		cache_free(c, obj);
		return;
	}
	struct page *pg = cache_live_page(c, obj);
	if (pg == NULL) {
		cache_free(c, obj); /* says what is wrong with it */
		return;
	}
	/* the reserve's now, or freed: no longer the program's either way */
	if (leak_mode() != LEAK_OFF)
		cache_leak_forget(c, pg, obj);
	lock_acquire(&c->lock);
	if (c->nreserve < c->reserve_min) {
		reserve_push(c, obj);
		c->nfree++;
		obj = NULL;
	}
	lock_release(&c->lock);
	if (obj != NULL)
		cache_free(c, obj);
}

strata_export void strata_pool_destroy(strata_pool_t *pool)
{
	struct cache *c = (struct cache *)pool;
	if (c == NULL)
		return;
	lock_acquire(&c->lock);
	while (c->reserve != NULL) {
		void *p = reserve_pop(c);
		cache_free_locked(c, page_of(region_of(p), p), p);
	}
	c->reserve_min = 0;
	lock_release(&c->lock);
	(void)cache_delete(c, "strata_pool_destroy");
}
