/* SPDX-License-Identifier: MIT */
/*
 * cache.c - object caches (cache.h): their slabs, the threads' magazines,
 * the registry, and the strata_cache_* calls.
 *
 * A cache's slabs are buddy blocks whose pages are PAGE_CACHE with the
 * cache as owner, and slab_off, inverse, shift and bump as on a size
 * class's slab, so that free() and the object-start check work the same
 * way.  The head keeps local_free (the free objects) and inuse (the carved
 * objects not on it); slabs move between the cache's partial, full and
 * empty lists under the cache's lock.  Objects leave the slabs in batches
 * into the threads' magazines, and come back in batches when a magazine
 * holds too many or its thread exits.
 *
 * Lock order: a cache's lock, then an arena's.  No cache lock is held while
 * the heap registry's is taken.
 */
#include "cache.h"
#include "arena.h"
#include "buddy.h"
#include "debug.h"
#include "dlist.h"
#include "heap.h"
#include "leak.h"
#include "os.h"
#include "pagemap.h"
#include "sample.h"

#include <errno.h>
#include <string.h>

#define CACHE_MAX_ORDER 9 /* slabs up to 2 MiB */
/* A cache's slab holds at least this many objects (128 up to
 * SLAB_DENSE_MAX bytes, like the heaps' before their small classes took
 * 32 KiB): a private heap keeps a slab per size it uses, and a reset
 * keeps some (RESET_KEEP_*), so its small slabs stay small. */
#define CACHE_DENSE_MIN_OBJECTS 128
#define MAG_BYTES               ((size_t)128 << 10) /* a magazine holds up to this */
#define MAG_MAX                 1024
#define MAG_FIRST_BATCH         4 /* then twice as many each refill, up to half */
/* A local list this long becomes the free list as it is, without a refill
 * under it: a program that frees what it allocates keeps cycling through
 * this many objects (in L1), not through a growing refill's worth. */
#define MAG_HANDOVER 32

static strata_lock_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cache *registry;
static struct cache *by_id[CACHE_MAX];
static uint32_t      id_limit; /* ids below it may be in use */
static uint32_t      next_gen = 1;

/* Generations are never reused (in 2^32 creations, destroys and resets),
 * so that a magazine's says whose objects it holds. */
static uint32_t gen_new(void)
{
	uint32_t gen = __atomic_fetch_add(&next_gen, 1, __ATOMIC_RELAXED);
	/* 0 is the empty magazines' (mags_none): no cache may have it */
	return gen != 0 ? gen : __atomic_fetch_add(&next_gen, 1, __ATOMIC_RELAXED);
}
static struct cache descriptors; /* the cache the caches come from */

void cache_misuse(const void *p, const char *op, const char *why)
{
	_strata_fatal("%s(%p): %s", op, p, why);
}

/* ------------------------------------------------------------------------
 * Geometry
 * ---------------------------------------------------------------------- */

bool cache_setup(struct cache *c, const char *name, size_t size, size_t align, enum cache_kind kind,
                 unsigned flags)
{
	if (align == 0)
		align = sizeof(void *);
	if ((align & (align - 1)) != 0 || align > PAGE_SIZE || size > CACHE_OBJECT_MAX)
		return false;
	memset(c, 0, sizeof(*c));
	lock_reinit(&c->lock);
	c->id = CACHE_NO_ID;
	c->size = (uint32_t)MAX(size, 1);
	c->align = (uint32_t)MAX(align, sizeof(void *));
	c->stride = (uint32_t)ALIGN_UP(MAX(size, 2 * sizeof(void *)), c->align);
	c->shift = (uint8_t)__builtin_ctz(c->stride);
	c->inverse = odd_inverse(c->stride >> c->shift);
	c->order = (uint8_t)slab_order_for(c->stride, CACHE_MAX_ORDER,
	                                   c->stride <= SLAB_DENSE_MAX ? CACHE_DENSE_MIN_OBJECTS
	                                                               : SLAB_MIN_OBJECTS);
	c->capacity = (uint32_t)((PAGE_SIZE << c->order) / c->stride);
	c->mag_cap = MAX(2, MIN(MAG_MAX, MAG_BYTES / c->stride));
	c->kind = (uint8_t)kind;
	c->flags = flags;
	strncpy(c->name, name ? name : "(unnamed)", CACHE_NAME_MAX - 1);
	return true;
}

/* ------------------------------------------------------------------------
 * Slabs (the cache's lock held)
 * ---------------------------------------------------------------------- */
static void cache_pages_init(struct cache *c, struct page *head)
{
	size_t npages = (size_t)1 << c->order;
	for (size_t i = 0; i < npages; i++) {
		struct page *pg = &head[i];
		pg->order = c->order;
		pg->cls = 0;
		pg->flags = 0;
		pg->slab_off = (uint32_t)(i << PAGE_SHIFT);
		pg->inverse = c->inverse;
		pg->shift = c->shift;
		pg->samples = 0;
		__atomic_store_n(&pg->bump, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&pg->owner, c, __ATOMIC_RELAXED);
		__atomic_store_n(&pg->state, PAGE_CACHE, __ATOMIC_RELAXED);
	}
	head->list = SLAB_UNLISTED;
	head->inuse = 0;
	head->local_free = NULL;
	head->remote = 0;
	head->next = head->prev = NULL;
}

/* The calling thread's arena; one is picked for a thread with no heap. */
static struct arena *cache_arena(void)
{
	struct heap *h = _strata_heap;
	return h->state == HEAP_LIVE || h->state == HEAP_SHARED ? heap_local_arena(h)
	                                                        : arena_pick();
}

static struct page *cache_slab_new(struct cache *c)
{
	struct arena *a = cache_arena();
	lock_acquire(&a->lock);
	arena_maybe_decay(a, os_now_ms());
	struct page *head = buddy_alloc(a, c->order);
	if (head == NULL && arena_grow(a))
		head = buddy_alloc(a, c->order);
	if (head != NULL) {
		cache_pages_init(c, head); /* under the lock: the purge walks the states */
		a->stats.cache_pages += (size_t)1 << c->order;
		arena_note_active(a);
	}
	lock_release(&a->lock);
	if (head == NULL)
		return NULL;
	c->nslabs++;
	c->slabs_made++;
	return head;
}

static void cache_slab_release(struct cache *c, struct page *head)
{
	struct arena *a = page_region(head)->arena;
	size_t        npages = (size_t)1 << head->order;
	if (unlikely(debug_mode()))
		debug_fill(page_address(head), npages << PAGE_SHIFT);
	lock_acquire(&a->lock);
	for (size_t i = 0; i < npages; i++) {
		__atomic_store_n(&head[i].state, PAGE_NONE, __ATOMIC_RELAXED);
		__atomic_store_n(&head[i].owner, NULL, __ATOMIC_RELAXED);
	}
	a->stats.cache_pages -= npages;
	buddy_free(a, head, head->order, true);
	lock_release(&a->lock);
	c->nslabs--;
}

static struct page **cache_list(struct cache *c, unsigned list)
{
	return list == SLAB_FULL ? &c->full : list == SLAB_PARKED ? &c->empty : &c->partial;
}

static void cache_move(struct cache *c, struct page *head, unsigned to)
{
	struct page **from = cache_list(c, head->list);
	if (head->list != SLAB_UNLISTED)
		dlist_del(*from, head);
	struct page **dest = cache_list(c, to);
	dlist_push(*dest, head);
	head->list = (uint8_t)to;
}

/* Up to max objects of slab s onto *list, its free objects first, then
 * never-used ones; returns how many. */
static unsigned cache_slab_take(struct cache *c, struct page *s, void **list, unsigned max)
{
	unsigned n = 0;
	for (; n < max && s->local_free; n++) {
		void *p = s->local_free;
		s->local_free = cache_link_next(p);
		link_set(p, *list);
		*list = p;
	}
	unsigned carve = MIN(max - n, c->capacity - s->bump);
	slab_carve_onto(s, c->stride, carve, list);
	n += carve;
	s->inuse += n;
	return n;
}

/* Up to max objects pushed on list, which is returned; *n gets how many
 * (0: out of memory). */
static void *cache_take(struct cache *c, void *list, unsigned max, unsigned *n)
{
	unsigned got = 0;
	while (got < max) {
		struct page *s = c->partial;
		if (s == NULL) {
			s = c->empty;
			if (s != NULL)
				c->nempty--;
			else if ((s = cache_slab_new(c)) == NULL)
				break;
			cache_move(c, s, SLAB_PARTIAL);
		}
		got += cache_slab_take(c, s, &list, max - got);
		if (s->local_free == NULL && s->bump == c->capacity)
			cache_move(c, s, SLAB_FULL);
	}
	c->out += got;
	*n = got;
	return list;
}

/* A cache keeps one empty slab (two for big caches) against a slab
 * ping-pong; the others go back to the buddy. */
static void cache_slab_emptied(struct cache *c, struct page *head)
{
	if (c->nempty < 1 + (c->nslabs >> 4)) {
		cache_move(c, head, SLAB_PARKED);
		c->nempty++;
		return;
	}
	dlist_del(*cache_list(c, head->list), head);
	head->list = SLAB_UNLISTED;
	cache_slab_release(c, head);
}

void cache_free_locked(struct cache *c, struct page *pg, void *p)
{
	struct page *head = slab_head(pg);
	strata_assert(lock_held(&c->lock));
	if (unlikely(head->inuse == 0))
		_strata_fatal("double free of %p (cache %s)", p, c->name);
	link_set(p, head->local_free);
	head->local_free = p;
	c->out--;
	if (--head->inuse == 0)
		cache_slab_emptied(c, head);
	else if (head->list == SLAB_FULL)
		cache_move(c, head, SLAB_PARTIAL);
}

void *cache_alloc_locked(struct cache *c)
{
	unsigned n;
	strata_assert(lock_held(&c->lock));
	void *p = cache_take(c, NULL, 1, &n);
	if (p == NULL)
		return NULL;
	((void **)p)[1] = NULL;
	return p;
}

/* A slab whose objects are all gone at once, as new: empty and carved
 * from its start again, so that no pointer into it passes for an object
 * until it is handed out anew. */
static void cache_slab_renew(struct cache *c, struct page *s)
{
	size_t carved = ((size_t)s->bump * c->stride + PAGE_SIZE - 1) >> PAGE_SHIFT;
	for (size_t i = 0; i < carved; i++) /* the pages past it kept 0 */
		__atomic_store_n(&s[i].bump, 0, __ATOMIC_RELAXED);
	s->inuse = 0;
	s->local_free = NULL;
}

/* A reset keeps this much of a cache's slabs for the next use (a private
 * heap reset between requests needs them again at once). */
#define RESET_KEEP_BYTES ((size_t)256 << 10)
#define RESET_KEEP_SLABS 4

/* The objects are gone at once: the slabs are kept, emptied, up to
 * RESET_KEEP_*, the others go back to the buddy. */
/* Any slab of c, taken off its list; NULL when c has none listed.  The
 * objects are gone at once: the callers empty every list. */
struct page *cache_slab_unlist(struct cache *c)
{
	struct page *s = c->partial ? c->partial : c->full ? c->full : c->empty;
	if (s != NULL) {
		dlist_del(*cache_list(c, s->list), s);
		s->list = SLAB_UNLISTED;
	}
	return s;
}

void cache_empty_all(struct cache *c)
{
	size_t       keep = MAX(RESET_KEEP_SLABS, RESET_KEEP_BYTES / (PAGE_SIZE << c->order));
	struct page *s;
	/* the empty list stays as it is: its slabs hold no object */
	while ((s = c->partial ? c->partial : c->full) != NULL) {
		dlist_del(*cache_list(c, s->list), s);
		if (c->nempty < keep) {
			cache_slab_renew(c, s);
			s->list = SLAB_PARKED;
			dlist_push(c->empty, s);
			c->nempty++;
		} else {
			s->list = SLAB_UNLISTED;
			cache_slab_release(c, s);
		}
	}
	c->out = 0;
}

/* Every slab back to the buddy: the objects are gone at once (private
 * heaps' reset, the destroy of an empty cache). */
void cache_release_all(struct cache *c)
{
	struct page *s;
	while ((s = cache_slab_unlist(c)) != NULL)
		cache_slab_release(c, s);
	c->nempty = 0;
	c->out = 0;
}

/* Exact leak tracking forgets c's live objects, which go at once (a
 * private heap's reset): every carved object that does not hold the free
 * key. */
void cache_forget_live(struct cache *c)
{
	struct page *lists[] = { c->partial, c->full };
	for (unsigned i = 0; i < 2; i++)
		for (struct page *s = lists[i]; s; s = s->next)
			for (uint32_t idx = 0; idx < s->bump; idx++) {
				uintptr_t *p = (uintptr_t *)((char *)page_address(s)
				                             + (size_t)idx * c->stride);
				if (p[1] != _strata_free_key)
					leak_forget(p);
			}
}

/* ------------------------------------------------------------------------
 * Magazines
 * ---------------------------------------------------------------------- */

/* The calling thread's magazine table, read by the fast paths through its
 * heap (h->mags; the TLS holds only the heap pointer, so that a dlopen'ed
 * strata fits glibc's static TLS surplus): the heap's table (h->cmags) once
 * a slow path has set it up, and until then, after its heap is flushed, and
 * for a thread whose every call must be seen, a table of empty magazines of
 * generation 0, which no cache has, so that the fast paths fail on it
 * without a test of their own. */
#define mags_none ((struct cache_mag *)_strata_heap_no_mags)
_Static_assert(CACHE_MAX * sizeof(struct cache_mag) <= HEAP_NO_MAGS_BYTES,
               "heap_no_mags holds every cache's magazine");

/* The calling thread's magazine of c (of any generation; mags_none's when
 * it has none). */
static inline __attribute__((always_inline)) struct cache_mag *mag_mine(const struct cache *c)
{
	return (struct cache_mag *)((char *)_strata_heap->mags + c->mag_off);
}

/* A magazine's counts are written by its thread only and read by the
 * figures (mag_add) with relaxed loads: a plain add, one instruction; the
 * ThreadSanitizer build stores them atomically, to see those reads. */
static inline __attribute__((always_inline)) void mag_count(uint64_t *x, int64_t delta)
{
#ifdef STRATA_TSAN
	__atomic_store_n(x, *x + (uint64_t)delta, __ATOMIC_RELAXED);
#else
	*x += (uint64_t)delta;
#endif
}

/* The calling thread's magazine of c, set to c's generation, NULL when it
 * has none: no heap of its own, exact leak tracking or the debug mode
 * (every call is seen), or a cache without an id. */
static struct cache_mag *cache_mag(struct heap *h, struct cache *c)
{
	if (h == NULL || h->nocache || c->id == CACHE_NO_ID
	    || __atomic_load_n(&c->dead, __ATOMIC_RELAXED))
		return NULL;
	if (h->cmags == NULL) {
		/* published for the figures' readers (mag_add) */
		struct cache_mag *t = os_map(CACHE_MAX * sizeof(struct cache_mag));
		if (t == NULL)
			return NULL;
		__atomic_store_n(&h->cmags, t, __ATOMIC_RELEASE);
	}
	h->mags = h->cmags;
	struct cache_mag *m = &h->cmags[c->id];
	if (m->gen != cache_gen(c)) { /* of a destroyed or reset cache: its slabs are gone */
		uint64_t key = __atomic_load_n(&c->mag_key, __ATOMIC_RELAXED);
		m->free = NULL;
		m->local = NULL;
		__atomic_store_n(&m->atag, key, __ATOMIC_RELAXED);
		__atomic_store_n(&m->tag, key, __ATOMIC_RELAXED);
		__atomic_store_n(&m->nalloc, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&m->nfree, 0, __ATOMIC_RELAXED);
		/* a reset's new generation keeps the size of the refills it learnt */
		m->batch = m->batch ? (uint32_t)MIN(m->batch, MAX(1, c->mag_cap / 2))
		                    : MAG_FIRST_BATCH;
	}
	return m;
}

/* m's counts into c's (c's lock held); m keeps its objects, and counts
 * from zero again (struct cache_mag: nalloc - avail and nfree + n). */
static void mag_merge(struct cache *c, struct cache_mag *m)
{
	c->nalloc += m->nalloc - m->avail;
	c->nfree += m->nfree + m->n;
	__atomic_store_n(&m->nalloc, (uint64_t)m->avail, __ATOMIC_RELAXED);
	__atomic_store_n(&m->nfree, -(uint64_t)m->n, __ATOMIC_RELAXED);
}

/* count objects off the front of m's local list: its frees stay counted. */
static void mag_local_drop(struct cache_mag *m, uint32_t count)
{
	mag_count(&m->nfree, count);
	mag_count(&m->tag, -(int64_t)count);
}

/* list, count objects, is m's free list, which was empty. */
static void mag_fill(struct cache_mag *m, void *list, uint32_t count)
{
	m->free = list;
	mag_count(&m->nalloc, count);
	mag_count(&m->atag, count);
}

/* m's local list becomes its free list, which is empty: no lock. */
static void mag_hand_over(struct cache_mag *m)
{
	uint32_t n = m->n;
	mag_fill(m, m->local, n);
	m->local = NULL;
	mag_local_drop(m, n);
}

/* count objects off *list back to c's slabs (c's lock held). */
static void mag_give_back(struct cache *c, void **list, uint32_t count)
{
	for (uint32_t i = 0; i < count && *list; i++) {
		void *p = *list;
		*list = cache_link_next(p);
		cache_free_locked(c, page_of(region_of(p), p), p);
	}
}

/* count objects of m's local list back to c's slabs. */
static void mag_flush(struct cache *c, struct cache_mag *m, uint32_t count)
{
	lock_acquire(&c->lock);
	mag_merge(c, m);
	mag_give_back(c, &m->local, count);
	mag_local_drop(m, count);
	lock_release(&c->lock);
}

/* Every object of m back to c's slabs, neither allocated nor freed. */
static void mag_empty(struct cache *c, struct cache_mag *m)
{
	lock_acquire(&c->lock);
	mag_merge(c, m);
	mag_give_back(c, &m->local, m->n);
	mag_give_back(c, &m->free, m->avail);
	__atomic_store_n(&m->avail, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&m->n, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&m->nalloc, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&m->nfree, 0, __ATOMIC_RELAXED);
	lock_release(&c->lock);
}

/* The first object p of m's free list. */
static inline __attribute__((always_inline)) void *mag_pop(struct cache_mag *m, void **p)
{
	m->free = cache_link_next(p);
	mag_count(&m->atag, -1); /* avail, the low half, is at least 1 */
	p[1] = NULL;
	return p;
}

static inline __attribute__((always_inline)) void mag_push(struct cache_mag *m, void *p)
{
	link_set(p, m->local);
	m->local = p;
	mag_count(&m->tag, 1);
}

/* A heap is flushed (its thread exits, or strata_thread_flush): every
 * magazine back to its cache, or dropped if the cache is gone. */
static void cache_heap_flush(struct heap *h)
{
	lock_acquire(&registry_lock);
	for (uint32_t id = 0; id < id_limit; id++) {
		struct cache_mag *m = &h->cmags[id];
		struct cache     *c = by_id[id];
		if (c != NULL && cache_gen(c) == m->gen && !c->dead)
			mag_empty(c, m);
		m->free = NULL;
		m->local = NULL;
		__atomic_store_n(&m->avail, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&m->n, 0, __ATOMIC_RELAXED);
	}
	lock_release(&registry_lock);
	/* the thread may be exiting, and the table go to another thread's heap */
	h->mags = mags_none;
}

/* ------------------------------------------------------------------------
 * Leak tracking
 * ---------------------------------------------------------------------- */
/* With exact leak tracking (STRATA_LEAK=full) every object is recorded with
 * its call stack, so a cache's live objects can be told by call site. */
void cache_leak_record(struct cache *c, void *p)
{
	sample_exact(p, c->size);
}

/* In the sampled mode, objects are sampled as malloc's small blocks are:
 * the slow paths count down the thread's sample_left by the bytes they
 * take (a refill's batch, or one object without a magazine), and the
 * object handed out when it crosses zero is recorded.  Its page's owner is
 * tagged (OWNER_SAMPLED) and counts the recorded objects that start in it,
 * under the cache's lock, so that the fast paths' compare of the owner
 * with the cache fails and their frees come here to be forgotten. */
static void cache_sample(struct cache *c, void *p, size_t size, size_t bytes)
{
	if (leak_mode() != LEAK_SAMPLED || !sample_block(heap_get(), p, size, c->stride, bytes))
		return;
	struct page *pg = page_of(region_of(p), p);
	lock_acquire(&c->lock);
	pg->samples++;
	__atomic_store_n(&pg->owner, (void *)((uintptr_t)c | OWNER_SAMPLED), __ATOMIC_RELAXED);
	lock_release(&c->lock);
}

/* p, an object of c's on page pg, is no longer the program's (freed, or
 * put back in a pool's reserve): forget its record, if it has one. */
void cache_leak_forget(struct cache *c, struct page *pg, void *p)
{
	if (leak_mode() == LEAK_FULL) {
		leak_forget(p);
		return;
	}
	if (page_owner_tag(pg) == c || !leak_forget(p))
		return;
	lock_acquire(&c->lock);
	if (pg->samples > 0 && --pg->samples == 0)
		__atomic_store_n(&pg->owner, c, __ATOMIC_RELAXED);
	lock_release(&c->lock);
}

/* The sampled objects of c go at once (a private heap's reset): their
 * records are forgotten, their pages untagged.  The cache's lock held. */
static void cache_forget_sampled(struct cache *c)
{
	struct page *lists[] = { c->partial, c->full };
	for (unsigned i = 0; i < 2; i++)
		for (struct page *s = lists[i]; s; s = s->next)
			for (size_t k = 0; k < ((size_t)1 << s->order); k++) {
				struct page *pg = &s[k];
				if (page_owner_tag(pg) == c)
					continue;
				/* every object that starts in the page */
				size_t first = ((k << PAGE_SHIFT) + c->stride - 1) / c->stride;
				size_t end = (((k + 1) << PAGE_SHIFT) + c->stride - 1) / c->stride;
				for (size_t idx = first; idx < MIN(end, (size_t)s->bump); idx++)
					leak_forget((char *)page_address(s) + idx * c->stride);
				pg->samples = 0;
				__atomic_store_n(&pg->owner, c, __ATOMIC_RELAXED);
			}
}

/* Whether block p is a live object of cache arg: the leak filter of a
 * cache's sites. */
static bool cache_keeps(const void *p, void *arg)
{
	return cache_live_page(arg, p) != NULL;
}

size_t cache_leak_sites(struct cache *c, struct strata_leak_site *sites, size_t max, size_t *bytes,
                        size_t *objects)
{
	struct leak_filter only = { cache_keeps, c };
	return leak_sites_of(sites, max, 0, &only, bytes, objects);
}

/* ------------------------------------------------------------------------
 * Allocation
 * ---------------------------------------------------------------------- */

/* One object under c's lock, for a thread without a magazine. */
static void *cache_alloc_one(struct cache *c, size_t size)
{
	lock_acquire(&c->lock);
	void *p = cache_alloc_locked(c);
	if (p)
		c->nalloc++;
	lock_release(&c->lock);
	if (p == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	sample_exact(p, size);
	cache_sample(c, p, size, c->stride);
	return p;
}

/* m's free list from c's slabs, with its local list under the objects
 * taken; returns how many were taken (0: out of memory). */
static unsigned mag_refill(struct cache *c, struct cache_mag *m)
{
	unsigned n, local = m->n;
	lock_acquire(&c->lock);
	mag_merge(c, m);
	void *list = cache_take(c, m->local, m->batch - local, &n);
	m->batch = (uint32_t)MIN(2 * m->batch, MAX(1, c->mag_cap / 2));
	lock_release(&c->lock);
	m->local = NULL;
	mag_local_drop(m, local);
	mag_fill(m, list, n + local);
	return n;
}

/* An empty free list, or no magazine: the local list when it holds a
 * refill's worth or MAG_HANDOVER objects (no lock), else a refill with the
 * local list under it, or one object under the lock.
 * size is what the caller asked for (leak tracking's weight). */
static noinline void *cache_alloc_slow(struct cache *c, size_t size)
{
	struct cache_mag *m = cache_mag(heap_get(), c);
	if (m == NULL)
		return cache_alloc_one(c, size);
	if (m->n >= MIN(m->batch, MAG_HANDOVER)) {
		mag_hand_over(m);
		return mag_pop(m, m->free);
	}
	unsigned n = mag_refill(c, m);
	if (m->free == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	void *p = mag_pop(m, m->free);
	cache_sample(c, p, size, (size_t)n * c->stride);
	return p;
}

/* The magazine's first object; the slow path fills it.  A magazine of
 * another generation than c's (mags_none's among them) is empty.  size is
 * for the slow path's leak sampling. */
static inline __attribute__((always_inline)) void *cache_alloc_fast(struct cache *c, size_t size)
{
	struct cache_mag *m = mag_mine(c);
	void            **p = m->free;
	if (likely(p != NULL && m->agen == cache_gen(c)))
		return mag_pop(m, p);
	return cache_alloc_slow(c, size);
}

/* For pools and private heaps; strata_cache_alloc has the fast path inline. */
void *cache_alloc(struct cache *c, size_t size)
{
	return cache_alloc_fast(c, size);
}

/* ------------------------------------------------------------------------
 * Free
 * ---------------------------------------------------------------------- */

/* A full magazine, one of another generation, or none; or p was sampled. */
static noinline void cache_free_slow(struct cache *c, struct page *pg, void *p)
{
	if (leak_mode() != LEAK_OFF)
		cache_leak_forget(c, pg, p);
	if (unlikely(debug_mode()) && c->stride > 2 * sizeof(void *))
		debug_fill((char *)p + 2 * sizeof(void *), c->stride - 2 * sizeof(void *));
	struct cache_mag *m = cache_mag(heap_get(), c);
	if (m != NULL) {
		if (m->n >= c->mag_cap) {
			if (m->free == NULL)
				mag_hand_over(m);
			else
				mag_flush(c, m, (uint32_t)(c->mag_cap / 2));
		}
		mag_push(m, p);
		return;
	}
	lock_acquire(&c->lock);
	c->nfree++;
	cache_free_locked(c, pg, p);
	lock_release(&c->lock);
}

/* p, known to be an object of c's slabs on page pg, not free, not
 * sampled.  The magazine takes it when it is of c's generation and not
 * full: tag - mag_key is n then, and huge otherwise. */
static inline __attribute__((always_inline)) void cache_free_object(struct cache *c,
                                                                    struct page *pg, void *p)
{
	struct cache_mag *m = mag_mine(c);
	if (likely(m->tag - c->mag_key < c->mag_cap)) {
		mag_push(m, p);
		return;
	}
	cache_free_slow(c, pg, p);
}

/* What is wrong with p, passed to op for cache c: it is not an object of
 * c's.  Aborts with the reason. */
static strata_cold void cache_free_invalid(struct cache *c, void *p, const char *op)
{
	uintptr_t e = pagemap_entry(p);
	if (!pagemap_is_region(e))
		cache_misuse(p, op, "not an object of a strata cache");
	struct page *pg = pagemap_page(e, p);
	unsigned     state = __atomic_load_n(&pg->state, __ATOMIC_RELAXED);
	if (state == PAGE_CACHE && page_cache(pg) != c) {
		struct cache *other = page_cache(pg);
		_strata_fatal("%s(%p): an object of %s \"%s\", not of %s \"%s\"", op, p,
		              other->kind == CACHE_POOL   ? "pool"
		              : other->kind == CACHE_ZONE ? "heap"
		                                          : "cache",
		              other->kind == CACHE_ZONE ? "" : other->name,
		              c->kind == CACHE_POOL ? "pool" : "cache", c->name);
	}
	if (state == PAGE_CACHE && ((uintptr_t *)p)[1] == _strata_free_key)
		_strata_fatal("double free of %p (%s \"%s\")", p,
		              c->kind == CACHE_POOL ? "pool" : "cache", c->name);
	if (state == PAGE_CACHE)
		cache_misuse(p, op, "not the start of an object");
	cache_misuse(p, op, "not an object of a strata cache");
}

/* Anything the fast path did not take: NULL, an object on a page with a
 * sampled one, or a misuse. */
static noinline void cache_free_generic(struct cache *c, void *p)
{
	if (p == NULL)
		return;
	struct page *pg = cache_live_page(c, p);
	if (pg == NULL)
		cache_free_invalid(
		        c, p, c->kind == CACHE_POOL ? "strata_pool_free" : "strata_cache_free");
	cache_free_slow(c, pg, p);
}

/* The checks free() makes, at the price of one compare for the cache:
 * the page's owner is c (so it is a page of c's, and holds no sampled
 * object), p starts an object carved from it, and p does not hold the
 * free key that every free object holds (a double free). */
static inline __attribute__((always_inline)) void cache_free_fast(struct cache *c, void *p)
{
	uintptr_t e = pagemap_entry(p);
	if (likely(pagemap_is_region(e))) {
		struct page *pg = pagemap_page(e, p);
		if (likely(page_owner_tag(pg) == c && slab_object_valid(pg, p)
		           && ((uintptr_t *)p)[1] != _strata_free_key)) {
			cache_free_object(c, pg, p);
			return;
		}
	}
	cache_free_generic(c, p);
}

void cache_free(struct cache *c, void *p)
{
	cache_free_fast(c, p);
}

/* free() of an object of any cache (the checks are done). */
void cache_free_block(struct page *pg, void *p)
{
	struct cache *c = page_cache(pg);
	if (unlikely(page_owner_tag(pg) != c)) {
		cache_free_slow(c, pg, p);
		return;
	}
	cache_free_object(c, pg, p);
}

/* Every object of c gone at once (a private heap's reset): the slabs are
 * emptied (cache_empty_all), or go to dispose, and every thread's magazine of c is
 * dropped with them (a new generation).  The counts stay whole: all that
 * was allocated is freed. */
void cache_reset(struct cache *c, void (*dispose)(struct cache *c))
{
	struct heap      *h = _strata_heap;
	struct cache_mag *mine = h->cmags && c->id != CACHE_NO_ID ? &h->cmags[c->id] : NULL;
	lock_acquire(&c->lock);
	if (mine != NULL && mine->gen == cache_gen(c)) {
		mag_merge(c, mine);  /* other threads' counts go with their magazines */
		if (mine->avail > 0) /* the last refill took more than the round used */
			mine->batch = MAX(MAG_FIRST_BATCH, mine->batch / 4);
	}
	cache_set_gen(c, gen_new());
	if (leak_mode() == LEAK_FULL)
		cache_forget_live(c);
	else if (leak_mode() == LEAK_SAMPLED)
		cache_forget_sampled(c);
	c->nfree = c->nalloc;
	if (dispose)
		dispose(c);
	else
		cache_empty_all(c);
	lock_release(&c->lock);
}

/* ------------------------------------------------------------------------
 * Figures
 * ---------------------------------------------------------------------- */
struct mag_sum {
	uint32_t id;
	uint32_t gen;
	uint64_t n, nalloc, nfree;
};

static void mag_add(struct heap *h, void *arg)
{
	struct mag_sum   *s = arg;
	struct cache_mag *t = __atomic_load_n(&h->cmags, __ATOMIC_ACQUIRE);
	if (t == NULL)
		return;
	struct cache_mag *m = &t[s->id];
	if (__atomic_load_n(&m->gen, __ATOMIC_RELAXED) != s->gen)
		return;
	/* read while its thread moves objects and counts between the lists:
	 * a figure off by a refill at most, never below 0 */
	uint32_t avail = __atomic_load_n(&m->avail, __ATOMIC_ACQUIRE);
	uint32_t n = __atomic_load_n(&m->n, __ATOMIC_ACQUIRE);
	int64_t  nalloc = (int64_t)(__atomic_load_n(&m->nalloc, __ATOMIC_RELAXED) - avail);
	int64_t  nfree = (int64_t)(__atomic_load_n(&m->nfree, __ATOMIC_RELAXED) + n);
	s->n += (uint64_t)avail + n;
	s->nalloc += (uint64_t)MAX(nalloc, 0);
	s->nfree += (uint64_t)MAX(nfree, 0);
}

/* c's figures with every thread's magazine; takes the heap registry's lock,
 * then c's. */
void cache_figures(struct cache *c, struct cache_figures *f)
{
	struct mag_sum s = { .id = c->id, .gen = cache_gen(c) };
	if (c->id != CACHE_NO_ID)
		heap_for_each(mag_add, &s);
	lock_acquire(&c->lock);
	f->cached = MIN(s.n, c->out);
	f->live = c->out - f->cached - MIN(c->nreserve, c->out - f->cached);
	f->total = (uint64_t)c->nslabs * c->capacity;
	f->slabs = c->nslabs;
	f->slab_bytes = (uint64_t)c->nslabs * (PAGE_SIZE << c->order);
	f->slack = f->slab_bytes - f->live * c->size;
	f->nalloc = c->nalloc + s.nalloc;
	f->nfree = c->nfree + s.nfree;
	lock_release(&c->lock);
}

/* ------------------------------------------------------------------------
 * Registry
 * ---------------------------------------------------------------------- */
void cache_registry_lock(void)
{
	lock_acquire(&registry_lock);
	for (struct cache *c = registry; c; c = c->next)
		lock_acquire(&c->lock);
	lock_acquire(&descriptors.lock);
}

void cache_registry_unlock(void)
{
	lock_release(&descriptors.lock);
	for (struct cache *c = registry; c; c = c->next)
		lock_release(&c->lock);
	lock_release(&registry_lock);
}

void cache_after_fork_child(void)
{
	lock_reinit(&descriptors.lock);
	for (struct cache *c = registry; c; c = c->next)
		lock_reinit(&c->lock);
	lock_reinit(&registry_lock);
}

void cache_for_each(void (*fn)(struct cache *c, void *arg), void *arg)
{
	lock_acquire(&registry_lock);
	for (struct cache *c = registry; c; c = c->next)
		fn(c, arg);
	lock_release(&registry_lock);
}

/* A free id, registry lock held; CACHE_NO_ID when all are taken. */
static uint32_t cache_id_new(struct cache *c)
{
	for (uint32_t id = 0; id < CACHE_MAX; id++) {
		if (by_id[id] == NULL) {
			by_id[id] = c;
			id_limit = MAX(id_limit, id + 1);
			c->mag_off = id * sizeof(struct cache_mag);
			return id;
		}
	}
	return CACHE_NO_ID;
}

/* An object of a cache of strata's own structures (unregistered, no
 * magazines), under its lock; and its free. */
void *cache_meta_alloc(struct cache *meta)
{
	lock_acquire(&meta->lock);
	void *p = cache_alloc_locked(meta);
	lock_release(&meta->lock);
	return p;
}

void cache_meta_free(struct cache *meta, void *p)
{
	lock_acquire(&meta->lock);
	cache_free_locked(meta, page_of(region_of(p), p), p);
	lock_release(&meta->lock);
}

static struct cache *descriptor_alloc(void)
{
	lock_acquire(&registry_lock);
	if (descriptors.stride == 0)
		cache_setup(&descriptors, "strata.caches", sizeof(struct cache), 64, CACHE_ZONE, 0);
	lock_release(&registry_lock);
	return cache_meta_alloc(&descriptors);
}

/* A new cache, registered; typed caches and pools get an id.  NULL with
 * errno EINVAL (bad size or alignment) or ENOMEM. */
struct cache *cache_new(const char *name, size_t size, size_t align, enum cache_kind kind,
                        unsigned flags)
{
	strata_ensure_init();
	heap_set_flush_hook(cache_heap_flush);
	struct cache tmp;
	if (!cache_setup(&tmp, name, size, align, kind, flags)) {
		errno = EINVAL;
		return NULL;
	}
	struct cache *c = descriptor_alloc();
	if (c == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	memcpy(c, &tmp, sizeof(tmp));
	lock_reinit(&c->lock);
	lock_acquire(&registry_lock);
	cache_set_gen(c, gen_new());
	/* a private heap's cache does without magazines when the ids run out */
	if ((c->id = cache_id_new(c)) == CACHE_NO_ID && kind != CACHE_ZONE) {
		lock_release(&registry_lock);
		cache_meta_free(&descriptors, c);
		errno = ENOMEM;
		return NULL;
	}
	dlist_push(registry, c);
	lock_release(&registry_lock);
	return c;
}

/* The calling thread's magazine of c back to c, so that its objects count
 * as free for the destroy. */
static void cache_flush_mine(struct cache *c)
{
	struct heap *h = _strata_heap;
	if (h->cmags != NULL && c->id != CACHE_NO_ID && h->cmags[c->id].gen == cache_gen(c))
		mag_empty(c, &h->cmags[c->id]);
}

/* The call sites of a cache's objects still in use when it is destroyed,
 * on stderr: every object's with exact leak tracking, the sampled ones'
 * (with their estimates) in the sampled mode. */
#define BUSY_SITES_MAX 5

static void cache_busy_sites(struct cache *c)
{
	if (leak_mode() == LEAK_OFF)
		return;
	struct leak_filter only = { cache_keeps, c };
	leak_report_of(STDERR_FILENO, &only, BUSY_SITES_MAX);
}

/* Destroy c: true when it held no live object and is gone.  Otherwise the
 * live objects are reported (what, by the name of the call), c stays, dead,
 * for them to be freed, and false.  Other threads' magazines of c are
 * dropped with the slabs. */
bool cache_delete(struct cache *c, const char *what)
{
	cache_flush_mine(c);
	struct cache_figures f;
	cache_figures(c, &f);
	lock_acquire(&registry_lock);
	lock_acquire(&c->lock);
	cache_set_gen(c, gen_new()); /* every magazine of it is now empty */
	if (f.live > 0) {
		__atomic_store_n(&c->dead, true, __ATOMIC_RELAXED);
		lock_release(&c->lock);
		lock_release(&registry_lock);
		_strata_warn("%s(\"%s\"): %llu objects (%llu bytes) still in use; the cache stays "
		             "for them%s",
		             what, c->name, (unsigned long long)f.live,
		             (unsigned long long)(f.live * c->size),
		             leak_mode() == LEAK_FULL ? ", allocated from:"
		             : leak_mode() == LEAK_SAMPLED
		                     ? ", allocated from (sampled: estimates):"
		                     : " (STRATA_LEAK names their call sites)");
		cache_busy_sites(c);
		return false;
	}
	cache_release_all(c);
	if (c->id != CACHE_NO_ID)
		by_id[c->id] = NULL;
	dlist_del(registry, c);
	lock_release(&c->lock);
	lock_release(&registry_lock);
	cache_meta_free(&descriptors, c);
	return true;
}

/* ------------------------------------------------------------------------
 * strata_cache_*
 * ---------------------------------------------------------------------- */
strata_export strata_cache_t *strata_cache_create(const char *name, size_t size, size_t align,
                                                  unsigned flags)
{
	if (flags & ~(unsigned)STRATA_CACHE_FLAGS) {
		errno = EINVAL;
		return NULL;
	}
	return (strata_cache_t *)cache_new(name, size, align, CACHE_TYPED, flags);
}

/* An empty magazine, one of another generation, or a cache that zeroes
 * its objects (whose alloc_gen no magazine has). */
static noinline void *cache_alloc_generic(struct cache *c)
{
	void *p = cache_alloc_fast(c, c->size);
	if (unlikely(c->flags & STRATA_CACHE_ZERO) && p != NULL)
		memset(p, 0, c->size);
	return p;
}

strata_export void *strata_cache_alloc(strata_cache_t *cache)
{
	struct cache     *c = (struct cache *)cache;
	struct cache_mag *m = mag_mine(c);
	void            **p = m->free;
	if (unlikely(p == NULL || m->agen != __atomic_load_n(&c->alloc_gen, __ATOMIC_RELAXED)))
		return cache_alloc_generic(c);
	return mag_pop(m, p);
}

strata_export void strata_cache_free(strata_cache_t *cache, void *p)
{
	cache_free_fast((struct cache *)cache, p);
}

strata_export int strata_cache_destroy(strata_cache_t *cache)
{
	if (cache == NULL)
		return 0;
	if (cache_delete((struct cache *)cache, "strata_cache_destroy"))
		return 0;
	errno = EBUSY;
	return -1;
}

/* ------------------------------------------------------------------------
 * Statistics
 * ---------------------------------------------------------------------- */
void cache_stats_fill(struct cache *c, struct strata_cache_stats *st)
{
	struct cache_figures f;
	cache_figures(c, &f);
	memcpy(st->name, c->name, sizeof(st->name));
	st->object_size = c->size;
	st->stride = c->stride;
	st->live = f.live;
	st->live_bytes = f.live * c->size;
	st->total = f.total;
	st->slabs = f.slabs;
	st->slab_bytes = f.slab_bytes;
	st->slack = f.slack;
	st->mallocs = f.nalloc;
	st->frees = f.nfree;
	st->cached = f.cached;
	lock_acquire(&c->lock);
	st->reserve = c->nreserve;
	st->reserve_min = c->reserve_min;
	st->reserve_served = c->reserve_served;
	lock_release(&c->lock);
}

/* The fields both sides know (strata.h's versioning). */
int cache_stats_copy(const struct strata_cache_stats *full, struct strata_cache_stats *st)
{
	if (st == NULL || st->struct_size < offsetof(struct strata_cache_stats, resets)) {
		errno = EINVAL;
		return -1;
	}
	size_t n = MIN(st->struct_size, sizeof(*full));
	memcpy((char *)st + sizeof(st->struct_size), (const char *)full + sizeof(full->struct_size),
	       n - sizeof(st->struct_size));
	return 0;
}

static int cache_stats_get(struct cache *c, struct strata_cache_stats *st)
{
	struct strata_cache_stats full = { .struct_size = sizeof(full) };
	if (c == NULL) {
		errno = EINVAL;
		return -1;
	}
	cache_stats_fill(c, &full);
	return cache_stats_copy(&full, st);
}

strata_export int strata_cache_stats_get(strata_cache_t *cache, struct strata_cache_stats *st)
{
	return cache_stats_get((struct cache *)cache, st);
}

strata_export int strata_pool_stats_get(strata_pool_t *pool, struct strata_cache_stats *st)
{
	return cache_stats_get((struct cache *)pool, st);
}
