/*
 * tcache.h - per-thread caches of free objects: the lock-free fast path.
 *
 * One bounded stack per size class, linked through the objects themselves
 * (first word: the mangled link to the next; second word: the free key,
 * which marks an object as free so that a double free is noticed; see
 * "Free-object links" in internal.h).  malloc pops, free pushes; no lock,
 * no atomic, no call.
 */
#ifndef STRATA_TCACHE_H
#define STRATA_TCACHE_H

#include "internal.h"
#include "sizeclass.h"

enum tcache_state { TCACHE_UNINIT = 0, TCACHE_LIVE, TCACHE_DEAD };

/* The stack keeps exact call counts for the statistics at no cost to the
 * fast path: pops counts the mallocs it served and pushes the frees it took,
 * and room, not a count, bounds the stack: a push is allowed while
 * pushes - pops < room.  Refills and flushes move objects without calls, so
 * they move room instead (see tcache_bin_count). */
struct tcache_bin {
	void    *head;
	uint64_t pushes;
	uint64_t pops;
	int64_t  room;
	uint32_t cap;     /* 0 until the cache is set up, and after thread exit */
	uint32_t _pad;
};

static inline uint32_t tcache_bin_count(const struct tcache_bin *b)
{
	return (uint32_t)((int64_t)(b->pushes - b->pops) + (int64_t)b->cap - b->room);
}

/* Recently freed large runs, reused by the same thread without a lock:
 * up to TCACHE_LARGE_SLOTS runs of at most TCACHE_LARGE_MAX_PAGES pages and
 * TCACHE_LARGE_BYTES in all, so a thread that frees and allocates buffers
 * of the same size skips the buddy (and its lock) each time. */
#define TCACHE_LARGE_SLOTS      8
#define TCACHE_LARGE_MAX_PAGES  256                 /* 1 MiB */
#define TCACHE_LARGE_BYTES      ((size_t)2 << 20)

struct tcache {
	struct tcache_bin bins[NUM_CLASSES];
	struct arena     *arena;
	int               state;
	uint64_t          large_mallocs;    /* large and huge calls, */
	uint64_t          large_frees;      /* counted on their slow paths */
	int64_t           sample_left;      /* bytes to allocate before the next leak sample */
	struct tcache    *next;             /* the registry of live caches */
	struct tcache    *prev;
	uint32_t          nlarge;
	size_t            large_bytes;
	struct page      *large[TCACHE_LARGE_SLOTS];   /* oldest first */
};

extern __thread struct tcache _strata_tcache tls_ie strata_hidden;

static inline void *tcache_pop(struct tcache_bin *b)
{
	void **p = b->head;
	if (likely(p != NULL)) {
		b->head = link_next(p);
		b->pops++;
		p[1] = NULL;        /* no longer free: clear the key */
	}
	return p;
}

static inline bool tcache_push(struct tcache_bin *b, void *p)
{
	if (unlikely((int64_t)(b->pushes - b->pops) >= b->room))
		return false;
	link_set(p, b->head);
	b->head = p;
	b->pushes++;
	return true;
}

void         *tcache_alloc_slow(struct tcache *tc, unsigned cls, size_t size);
void         *tcache_alloc_one(struct tcache *tc, struct arena *a, unsigned cls, size_t size);
struct page  *tcache_large_take(struct tcache *tc, size_t npages);
bool          tcache_large_keep(struct tcache *tc, struct page *pg);
void          tcache_free_slow(struct tcache *tc, unsigned cls, void *p);
void          tcache_flush_all(struct tcache *tc);
struct arena *tcache_arena(struct tcache *tc);
struct arena *tcache_local_arena(struct tcache *tc);
bool          tcache_contains(const struct tcache *tc, unsigned cls, const void *p);
void          tcache_thread_exit(void *arg);

/* Call counts and cached objects summed over every thread, live or gone. */
struct tcache_totals {
	uint64_t nmalloc[NUM_CLASSES];
	uint64_t nfree[NUM_CLASSES];
	uint64_t cached[NUM_CLASSES];      /* objects */
	uint64_t large_mallocs;
	uint64_t large_frees;
	uint64_t large_cached_bytes;
};
void          tcache_totals(struct tcache_totals *t);
void          tcache_registry_lock(void);
void          tcache_registry_unlock(void);
void          tcache_registry_after_fork_child(void);

#endif
