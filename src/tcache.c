/*
 * tcache.c - the slow paths of the per-thread caches.
 *
 * An empty stack refills a batch from the thread's arena under one lock; a
 * full one flushes its older half back to the slabs that own the objects,
 * whichever arena they belong to.  A thread's cache is flushed when the
 * thread exits (a pthread key destructor); after that the cache is dead and
 * the thread's remaining mallocs and frees go straight to the arenas, since
 * libc still frees thread-local data after the destructors have run.
 */
#include "tcache.h"
#include "arena.h"
#include "debug.h"
#include "dlist.h"
#include "options.h"
#include "os.h"
#include "large.h"
#include "sample.h"
#include "slab.h"

#include <errno.h>
#include <string.h>

__thread struct tcache _strata_tcache tls_ie;

extern pthread_key_t _strata_tcache_key;

/* ------------------------------------------------------------------------
 * Registry: the live caches, so statistics can sum their counters, and the
 * counters of the threads that have exited.
 * ---------------------------------------------------------------------- */
static strata_lock_t registry_lock = STRATA_LOCK_INIT;
static struct tcache *registry;
static struct tcache_totals gone;

static void registry_add(struct tcache *tc)
{
	lock_acquire(&registry_lock);
	dlist_push(registry, tc);
	lock_release(&registry_lock);
}

/* Add one cache's counters to t; relaxed reads, the owner may be running. */
static void tcache_add_counts(const struct tcache *tc, struct tcache_totals *t)
{
	for (unsigned c = 0; c < NUM_CLASSES; c++) {
		const struct tcache_bin *b = &tc->bins[c];
		t->nmalloc[c] += __atomic_load_n(&b->pops, __ATOMIC_RELAXED);
		t->nfree[c] += __atomic_load_n(&b->pushes, __ATOMIC_RELAXED);
		t->cached[c] += tcache_bin_count(b);
	}
	t->large_mallocs += tc->large_mallocs;
	t->large_frees += tc->large_frees;
	t->large_cached_bytes += tc->large_bytes;
}

static void registry_remove(struct tcache *tc)
{
	lock_acquire(&registry_lock);
	dlist_del(registry, tc);
	tcache_add_counts(tc, &gone);
	memset(tc->bins, 0, sizeof(tc->bins));   /* counted in gone now */
	tc->large_mallocs = tc->large_frees = 0;
	lock_release(&registry_lock);
}

void tcache_totals(struct tcache_totals *t)
{
	lock_acquire(&registry_lock);
	*t = gone;
	for (struct tcache *tc = registry; tc; tc = tc->next)
		tcache_add_counts(tc, t);
	lock_release(&registry_lock);
}

void tcache_registry_lock(void)
{
	lock_acquire(&registry_lock);
}

void tcache_registry_unlock(void)
{
	lock_release(&registry_lock);
}

/* In a child of fork only the calling thread lives on: the other caches'
 * counts become history, and their objects are lost to the child. */
void tcache_registry_after_fork_child(void)
{
	lock_reinit(&registry_lock);
	struct tcache *self = &_strata_tcache;
	for (struct tcache *tc = registry; tc; tc = tc->next)
		if (tc != self)
			tcache_add_counts(tc, &gone);
	registry = NULL;
	if (self->state == TCACHE_LIVE)
		dlist_push(registry, self);
}

/* ------------------------------------------------------------------------
 * Set-up
 * ---------------------------------------------------------------------- */

/* A bin holds about 64 KiB of its class, but at least 4 objects so the
 * biggest classes still batch; the tcache_max option caps the count. */
#define TCACHE_BIN_BYTES  (64 * 1024)
#define TCACHE_BIN_MIN    4

static uint32_t tcache_bin_cap(unsigned cls)
{
	size_t cap = MAX(TCACHE_BIN_BYTES / class_size(cls), TCACHE_BIN_MIN);
	return (uint32_t)MIN(cap, (size_t)strata_option(OPT_TCACHE_MAX));
}

/* Exact leak tracking and the debug mode see every call: no caching. */
static bool tcache_wanted(void)
{
	return strata_option(OPT_TCACHE) && leak_mode() != LEAK_FULL && !debug_mode();
}

static void tcache_init(struct tcache *tc)
{
	strata_ensure_init();
	if (tc->state != TCACHE_UNINIT)
		return;         /* set up by an allocation nested in start-up */
	tc->arena = arena_pick();
	tc->state = TCACHE_LIVE;
	/* With the cache off the caps stay 0 and every call takes the slow
	 * path; the counters still count, so the cache is registered. */
	if (tcache_wanted()) {
		for (unsigned c = 0; c < NUM_CLASSES; c++) {
			tc->bins[c].cap = tcache_bin_cap(c);
			tc->bins[c].room += tc->bins[c].cap;
		}
	}
	sample_thread_init(tc);
	registry_add(tc);
	pthread_setspecific(_strata_tcache_key, tc);
	stats_file_start();
	arena_background_start();
}

struct arena *tcache_arena(struct tcache *tc)
{
	if (unlikely(tc->state == TCACHE_UNINIT))
		tcache_init(tc);
	return tc->arena;
}

/* ------------------------------------------------------------------------
 * Refill
 * ---------------------------------------------------------------------- */
static unsigned arena_take(struct arena *a, unsigned cls, void **list, unsigned want)
{
	uint64_t now = os_now_ms();
	lock_acquire(&a->lock);
	arena_maybe_decay(a, now);
	unsigned got = slab_alloc_batch(a, cls, list, want);
	lock_release(&a->lock);
	return got;
}

/* The thread may have been moved to another node since it picked its
 * arena: checked on each refill (a vDSO call), never on the fast path. */
static struct arena *tcache_rebind(struct tcache *tc)
{
	int node = nodes_current();
	if (tc->arena->node != node)
		tc->arena = arena_pick_node(node);
	return tc->arena;
}

struct arena *tcache_local_arena(struct tcache *tc)
{
	struct arena *a = tcache_arena(tc);
	return unlikely(nodes_active()) ? tcache_rebind(tc) : a;
}

/* Take up to want objects of class cls from arena a: the first serves
 * this malloc (counted as a pop), the rest go into the bin, which must be
 * empty when want > 1. */
static void *bin_refill(struct tcache *tc, struct arena *a, unsigned cls, size_t size, unsigned want)
{
	void *list;
	unsigned got = arena_take(a, cls, &list, want);
	if (unlikely(got == 0)) {
		errno = ENOMEM;
		return NULL;
	}
	struct tcache_bin *b = &tc->bins[cls];
	void **p = list;
	if (got > 1)
		b->head = link_next(p);
	b->pops++;              /* the malloc this call serves */
	b->room -= got;         /* the other got - 1 objects are now cached */
	p[1] = NULL;
	sample_small(tc, p, size, (size_t)got * class_size(cls));
	return p;
}

void *tcache_alloc_slow(struct tcache *tc, unsigned cls, size_t size)
{
	struct arena *a = tcache_local_arena(tc);
	struct tcache_bin *b = &tc->bins[cls];
	/* Setting the cache up may allocate (pthread_create of the stats
	 * writer, glibc's TSD arrays) and refill this very bin: use that. */
	void *nested = tcache_pop(b);
	if (nested)
		return nested;
	return bin_refill(tc, a, cls, size, b->cap ? MAX(b->cap / 2, 1u) : 1u);
}

/* One object of class cls from arena a, outside the cache: counted as a
 * malloc of the thread, nothing cached (strata_alloc_onnode). */
void *tcache_alloc_one(struct tcache *tc, struct arena *a, unsigned cls, size_t size)
{
	return bin_refill(tc, a, cls, size, 1);
}

/* ------------------------------------------------------------------------
 * Flush
 * ---------------------------------------------------------------------- */

/* Frees are when dirty memory piles up: check the decay before letting go. */
static void arena_unlock_after_free(struct arena *a, uint64_t now)
{
	arena_maybe_decay(a, now);
	lock_release(&a->lock);
}

/* Return a list of objects to their slabs, taking each owner's lock once
 * per run of objects from the same arena; node is the releasing thread's,
 * for the local and remote free counts. */
static void tcache_release_list(void *list, int node)
{
	uint64_t now = os_now_ms(), run = 0;
	struct arena *held = NULL;
	while (list) {
		void *p = list;
		list = link_next(p);
		struct arena *a = arena_of(p);
		if (a != held) {
			if (held) {
				arena_count_frees(held, node, run);
				arena_unlock_after_free(held, now);
			}
			lock_acquire(&a->lock);
			held = a;
			run = 0;
		}
		slab_free_object(a, p);
		run++;
	}
	if (held) {
		arena_count_frees(held, node, run);
		arena_unlock_after_free(held, now);
	}
}

static int tcache_node(const struct tcache *tc)
{
	return tc->arena ? tc->arena->node : 0;
}

/* Keep the keep most recently freed objects (the warm ones), release the rest. */
static void tcache_flush(struct tcache *tc, struct tcache_bin *b, uint32_t keep)
{
	uint32_t count = tcache_bin_count(b);
	if (count <= keep)
		return;
	void *rest;
	if (keep == 0) {
		rest = b->head;
		b->head = NULL;
	} else {
		void *last = b->head;
		for (uint32_t i = 1; i < keep; i++)
			last = link_next(last);
		rest = link_next(last);
		link_set(last, NULL);
	}
	b->room += count - keep;
	tcache_release_list(rest, tcache_node(tc));
}

void tcache_free_slow(struct tcache *tc, unsigned cls, void *p)
{
	if (tc->state == TCACHE_UNINIT) {
		tcache_init(tc);
		if (tcache_push(&tc->bins[cls], p))
			return;
	}
	struct tcache_bin *b = &tc->bins[cls];
	if (b->cap == 0) {      /* cache off or thread exiting */
		struct arena *a = arena_of(p);
		lock_acquire(&a->lock);
		slab_free_object(a, p);
		lock_release(&a->lock);
		arena_count_frees(a, tcache_node(tc), 1);
		b->pushes++;    /* counted as a free, */
		b->room++;      /* but nothing is cached */
		return;
	}
	tcache_flush(tc, b, b->cap / 2);
	tcache_push(b, p);
}

/* ------------------------------------------------------------------------
 * Large runs
 * ---------------------------------------------------------------------- */

/* A cached run of exactly npages, or NULL. */
struct page *tcache_large_take(struct tcache *tc, size_t npages)
{
	for (uint32_t i = tc->nlarge; i-- > 0;) {
		struct page *pg = tc->large[i];
		if (pg->npages != npages)
			continue;
		for (uint32_t j = i + 1; j < tc->nlarge; j++)
			tc->large[j - 1] = tc->large[j];
		tc->nlarge--;
		tc->large_bytes -= npages << PAGE_SHIFT;
		pg->flags &= (uint8_t)~PG_CACHED;
		return pg;
	}
	return NULL;
}

static void tcache_large_evict(struct tcache *tc)
{
	struct page *pg = tc->large[0];
	for (uint32_t j = 1; j < tc->nlarge; j++)
		tc->large[j - 1] = tc->large[j];
	tc->nlarge--;
	tc->large_bytes -= (size_t)pg->npages << PAGE_SHIFT;
	pg->flags &= (uint8_t)~PG_CACHED;
	large_free(pg);
}

/* Keep a freed run for reuse; false when it is not worth caching. */
bool tcache_large_keep(struct tcache *tc, struct page *pg)
{
	size_t bytes = (size_t)pg->npages << PAGE_SHIFT;
	if (tc->state != TCACHE_LIVE || !tcache_wanted() || pg->npages > TCACHE_LARGE_MAX_PAGES)
		return false;
	while (tc->nlarge > 0 && (tc->nlarge == TCACHE_LARGE_SLOTS
	                          || tc->large_bytes + bytes > TCACHE_LARGE_BYTES))
		tcache_large_evict(tc);
	pg->flags |= PG_CACHED;
	tc->large[tc->nlarge++] = pg;
	tc->large_bytes += bytes;
	return true;
}

void tcache_flush_all(struct tcache *tc)
{
	for (unsigned c = 0; c < NUM_CLASSES; c++)
		tcache_flush(tc, &tc->bins[c], 0);
	while (tc->nlarge > 0)
		tcache_large_evict(tc);
}

void tcache_thread_exit(void *arg)
{
	struct tcache *tc = arg;
	tcache_flush_all(tc);
	for (unsigned c = 0; c < NUM_CLASSES; c++) {
		struct tcache_bin *b = &tc->bins[c];
		b->room -= b->cap;      /* count stays 0, every push fails */
		b->cap = 0;
	}
	tc->state = TCACHE_DEAD;
	registry_remove(tc);
}

bool tcache_contains(const struct tcache *tc, unsigned cls, const void *p)
{
	const struct tcache_bin *b = &tc->bins[cls];
	uint32_t n = tcache_bin_count(b);
	for (const void *q = b->head; q && n; q = link_next(q), n--)
		if (q == p)
			return true;
	return false;
}
