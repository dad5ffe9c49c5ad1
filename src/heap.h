/* SPDX-License-Identifier: MIT */
/*
 * heap.h - per-thread heaps: the slabs a thread owns, and the fast path.
 *
 * A thread's heap owns slabs (slab.c).  Per size class it has a free list,
 * the objects of one slab (its current slab) taken at once; malloc pops
 * from it: no lock, no atomic, no call.  free of an object of one of the
 * thread's own slabs pushes it on that slab's local list, with plain
 * stores too; an object of another thread's slab goes on that slab's
 * remote list with one compare-and-swap.  Nothing is bounded, so nothing
 * overflows: a thousand frees in a row cost what one does.
 *
 * The thread's own initial-exec TLS is one pointer, _strata_heap, which
 * starts at an empty heap whose free lists are all empty, so the first
 * malloc of a thread takes the slow path and sets its heap up.
 */
#ifndef STRATA_HEAP_H
#define STRATA_HEAP_H

#include "internal.h"
#include "numa.h"
#include "sizeclass.h"
#include "slab.h"

enum heap_state {
	HEAP_UNINIT = 0, /* the empty heap of a thread not yet set up */
	HEAP_LIVE,       /* a thread's own */
	HEAP_SHARED,     /* an arena's, used under its lock (heap.c) */
	HEAP_DEAD,       /* the empty heap of a thread that has exited */
};

/* What the fast paths read of a class, in one cache line: the free list,
 * the slab its objects come from, the list its objects go back on when
 * freed (taken as the free list when that runs dry: a block just freed is
 * not the next one handed out, so a write through its stale pointer lands
 * in a free object, whose link and key are checked, rather than in the
 * next live block, and the next block does not hold what the freed one
 * did), and the calls they served. */
struct heap_fast {
	void        *free;
	struct page *current;
	void        *local; /* the current slab's objects freed since */
	uint64_t     nmalloc;
	uint64_t     nfree_listed; /* frees that went on the local list */
	uint64_t     nfree_other;  /* frees kept on the foreign list */
	void        *foreign;      /* other heaps' objects freed here (heap.c) */
	uint32_t     nforeign;
	uint32_t     foreign_cap; /* 0: such frees take the slow path */
	/* second line: what only the slower paths touch */
	uint64_t nfree_local; /* frees that went on a slab's local list */
	void    *aside;       /* the free list, set aside while the foreign
	                         list serves (heap_push_foreign) */
} __attribute__((aligned(64)));

/* The other slabs a heap owns of one class, by the list they are on. */
struct heap_class {
	struct page *partial; /* with free objects: the slab relisted
	                                 longest ago first, it has had the most
	                                 frees since (a FIFO) */
	struct page *partial_last;
	struct page *full;            /* with none, marked (slab.h) */
	struct page *parked;          /* empty, kept (heap.c) */
	uint64_t     taken;           /* objects a refill put on the free list, ever */
	uint64_t     nfree_remote;    /* other heaps' objects sent straight back */
	uint64_t     foreign_flushed; /* objects the foreign list gave back */
};

/* Recently freed large runs, reused by the same thread without a lock:
 * up to HEAP_LARGE_SLOTS runs of at most HEAP_LARGE_MAX_PAGES pages and
 * HEAP_LARGE_BYTES in all, so a thread that frees and allocates buffers
 * of the same size skips the buddy (and its lock) each time.  Runs of
 * random sizes seldom meet one of their size there, and what waits is
 * resident memory no other run can use: 1 MiB and not 2 (bench/compare's
 * budget, 4 threads: -7% peak RSS and -10% time; buffers unchanged). */
#define HEAP_LARGE_SLOTS     8
#define HEAP_LARGE_MAX_PAGES 256 /* 1 MiB */
#define HEAP_LARGE_BYTES     ((size_t)1 << 20)

/* The owner's frees into its slabs other than a class's current one wait
 * in a ring of HEAP_PENDING before they are made (heap_defer_free). */
#define HEAP_PENDING 8

struct heap_pending {
	void        *p;
	struct page *head; /* p's slab */
};

/* free's memory of the slabs it freed into at once: one entry per
 * HEAP_RECENT_SHIFT-aligned chunk of the address space, modulo
 * HEAP_RECENT_SLOTS, holding the slab it last freed into there.  A program
 * that frees blocks of a few classes in turn (each class's current slab)
 * finds each slab in its own entry; one that frees in a row finds the
 * same entry.  A chunk is the smallest slab (32 KiB): 64 entries span
 * 2 MiB, a dozen classes' current slabs of 64 KiB with room to spare,
 * where chunks of 8 KiB spanned 512 KiB and such slabs took each other's
 * entries (bench/wl_mixed 80 -> 41 ms). */
#define HEAP_RECENT_SLOTS 64
#define HEAP_RECENT_SHIFT 15

struct heap_recent {
	uintptr_t    base;    /* the slab's address */
	struct page *slab;    /* its head */
	uint64_t     inverse; /* its class's, modulo 2^64 (slab_index_by64) */
	uint64_t     limit;   /* while the slab is its class's current one,
	                         its bump when the entry was filled (objects
	                         carved since fail both tests and take the
	                         pagemap, which fills the entry again); else
	                         0 */
	uint64_t     carved;  /* its bump when the entry was filled: the slow
	                    test's limit (a slab that is not current is not
	                    carved, so its bump stays as it was) */
	/* what the fast free reads of the slab, here: one line, no load
	   waiting on another but the entry's */
	struct heap_fast *owner; /* its class's entry (the slab's owner) */
	uint8_t           shift; /* its class's */
	uint8_t           cls;
} __attribute__((aligned(64)));

struct arena;
struct cache_mag;

/* A slab's owner field (slab.h) is its heap's fast entry for the class:
 * free compares it with the calling thread's heap by one subtraction and
 * one compare, and has the entry it pushes on at once. */
struct heap {
	struct heap_fast    fast[NUM_CLASSES];     /* first: see slab_heap */
	struct heap_fast    zero;                  /* size 0's entry in the class table: always
	                           empty, so malloc(0) leaves the fast path */
	struct heap_pending pending[HEAP_PENDING]; /* heap_defer_free */
	uint32_t            pending_off;           /* of the next slot, in bytes */
	struct page        *pending_slab;          /* of the last free queued */
	/* The slabs of recent frees made by the fast path, by address
	 * (heap_recent_of): a free into one of them skips the pagemap and the
	 * owner test.  So each is a slab of the heap's own, which never holds
	 * a block recorded by leak tracking (heap_sample): forgotten before a
	 * slab of the heap goes back (its region may be unmapped).  An empty
	 * entry has limit 0 (no valid object). */
	struct heap_recent recent[HEAP_RECENT_SLOTS];
	int                state;
	bool               nocache; /* exact leak tracking or the debug mode:
	                                small blocks come from the arenas'
	                                shared heaps, every call a slow path */
	struct arena      *arena;   /* where its slabs and large runs come from */
	uintptr_t          delayed; /* objects other threads freed into its full
	                                slabs: an atomic list (heap.c) */
	strata_lock_t      lock;    /* HEAP_SHARED only */
	size_t             parked_bytes;
	uint64_t           large_mallocs;
	uint64_t           large_frees;
	uint64_t           frees_xnode;                   /* of other nodes' objects */
	uint64_t           frees_to_node[NUMA_MAX_NODES]; /* ... by their node */
	int64_t            sample_left;      /* bytes to allocate before the next leak sample */
	uint64_t           sample_mean;      /* the mean of the interval counting down */
	uint64_t           sample_credit_ns; /* the pace of the records (sample.c) */
	uint64_t           sample_last_ns;
	uint64_t           sample_rng;   /* the intervals' random sequence */
	unsigned           sample_shift; /* the interval's mean: leak_sample << this */
	struct heap       *next;         /* the registry, or the pool of free heaps */
	struct heap       *prev;
	struct cache_mag  *cmags; /* object caches' magazines, by id (cache.h) */
	struct cache_mag  *mags;  /* what the caches' fast paths read: cmags once
	                            set up, else heap_no_mags (never NULL) */
	uint32_t           nlarge;
	size_t             large_bytes;
	struct page       *large[HEAP_LARGE_SLOTS]; /* oldest first */
	struct heap_class  cls[NUM_CLASSES];
};

extern __thread struct heap *_strata_heap tls_ie strata_hidden;
/* A table of empty magazines (generation 0, which no cache has) for the
 * heaps that have none: the caches' fast paths fail on it without a test
 * of their own.  Sized here, checked against struct cache_mag by cache.c. */
#define HEAP_NO_MAGS_BYTES ((size_t)4096 * 64)
extern char _strata_heap_no_mags[HEAP_NO_MAGS_BYTES] strata_hidden;
/* The key whose destructor runs heap_thread_exit (created at start-up). */
extern pthread_key_t _strata_heap_key strata_hidden;

static inline struct heap_fast *heap_slot(struct heap *h, unsigned cls)
{
	return &h->fast[cls];
}

/* The heap that owns the slab of pg, from its owner field; NULL when the
 * slab is abandoned. */
static inline struct heap *slab_heap(const struct page *pg)
{
	char *entry = page_owner(pg);
	return entry ? (struct heap *)(entry - pg->cls * sizeof(struct heap_fast)) : NULL;
}

/* A free list holds the objects of one slab, which lies in one aligned
 * window of SLAB_WINDOW bytes (a buddy block is aligned to its size): a
 * link that decodes to a pointer outside its object's window, or one not
 * 16-aligned, was written after the free, or forged.  One test for both. */
#define SLAB_WINDOW      (PAGE_SIZE << SLAB_MAX_ORDER)
#define LINK_WINDOW_MASK (~(uintptr_t)(SLAB_WINDOW - 1) | (MIN_ALIGN - 1))

/* The entry's byte offset in the table straight from p (one shift, one
 * mask): the compiler scales an index after masking it. */
#define HEAP_RECENT_ORDER 6
_Static_assert(sizeof(struct heap_recent) == 1u << HEAP_RECENT_ORDER, "a recent entry's size");

static inline struct heap_recent *heap_recent_of(struct heap *h, const void *p)
{
	uintptr_t off = ((uintptr_t)p >> (HEAP_RECENT_SHIFT - HEAP_RECENT_ORDER))
	                & ((uintptr_t)(HEAP_RECENT_SLOTS - 1) << HEAP_RECENT_ORDER);
	return (struct heap_recent *)((char *)h->recent + off);
}

/* A slab spans at most 4 chunks: one leaving current demotes at most 4
 * entries (heap_recent_demote). */
_Static_assert((PAGE_SIZE << SLAB_MAX_ORDER) <= (4u << HEAP_RECENT_SHIFT),
               "a slab spans at most 4 recent entries");

/* The limit of slab head's entry: its bump while it is current (the fast
 * test takes it), else 0. */
static inline uint64_t heap_recent_limit(const struct heap_fast *f, const struct page *head)
{
	return head == f->current ? head->bump : 0;
}

/* Entry r now holds slab head, at base, of the calling thread's heap, with
 * limit (see above). */
static inline void heap_recent_set(struct heap_recent *r, uintptr_t base, struct page *head,
                                   uint64_t limit)
{
	r->limit = limit;
	r->carved = head->bump;
	r->base = base;
	r->slab = head;
	r->inverse = _strata_class_inverse64[head->cls];
	r->owner = page_owner_tag(head);
	r->shift = head->shift;
	r->cls = head->cls;
}

/* An empty free list is not NULL but heap_list_end, whose link fails
 * malloc's window test (its word's low bit is set, the link key's is not):
 * the fast path has no test for an empty list, and heap_pop_last tells
 * the end from a list's last object. */
extern const uintptr_t _strata_heap_list_end[2] strata_hidden;
#define HEAP_LIST_END ((void *)_strata_heap_list_end)

/* The class's free list, NULL when empty. */
static inline void *heap_free_list(const struct heap_fast *f)
{
	return f->free == HEAP_LIST_END ? NULL : f->free;
}

static inline void heap_set_free_list(struct heap_fast *f, void *list)
{
	f->free = list ? list : HEAP_LIST_END;
}

void *heap_pop_last(struct heap_fast *f, void **p);

/* malloc's fast path: the first object p of the class's free list (f->free,
 * read by the caller).  The objects on it count as in use in their slab,
 * so neither malloc nor free touches the slab's descriptor for them.  The
 * end of the list (a NULL link) and an empty list (heap_list_end) fail the
 * window test and take heap_pop_last, NULL for an empty list: its callers
 * pop the foreign list first (heap_pop, and malloc's alloc_foreign_pop).  The
 * link is checked, not the key: a write to the key alone harms nothing
 * here (free's double-free test only reads it).  It is found while the
 * block stays free (the lists' checks at a flush or at exit); the pop
 * clears it. */
static inline bool link_in_window(uintptr_t delta)
{
	return (delta & LINK_WINDOW_MASK) == 0;
}

/* ... p's link, whose delta passed it. */
static inline void *heap_pop_delta(struct heap_fast *f, void **p, uintptr_t delta)
{
	uintptr_t next = delta ^ (uintptr_t)p;
	__builtin_prefetch((void *)next, 1); /* the next malloc's object */
	f->free = (void *)next;
	f->nmalloc++;
	p[1] = NULL; /* no longer free: clear the key */
	return p;
}

static inline void *heap_pop_first(struct heap_fast *f, void **p)
{
	uintptr_t delta = link_delta(p);
	if (unlikely(!link_in_window(delta)))
		return heap_pop_last(f, p);
	return heap_pop_delta(f, p, delta);
}

/* The free list is empty: the first of the other heaps' objects this
 * thread freed, p, not NULL (a list of many slabs: the link is checked for
 * its alignment and key only). */
static inline void *heap_pop_foreign(struct heap_fast *f, void **p)
{
	f->foreign = link_next(p);
	f->nforeign--;
	f->nmalloc++;
	p[1] = NULL;
	return p;
}

/* The same, with the empty list told apart inline: for the paths other
 * than malloc's own, which find the list empty more often (the slow path,
 * the classes above the size table). */
static inline void *heap_pop(struct heap_fast *f)
{
	void **p = f->free;
	if (likely(p != HEAP_LIST_END))
		return heap_pop_first(f, p);
	p = f->foreign;
	return p ? heap_pop_foreign(f, p) : NULL;
}

/* A thread that frees other heaps' objects serves its next mallocs of
 * the class from them, not from its free list: the free list waits, set
 * aside, until the foreign list runs dry (heap_pop_last, heap_refill).
 * Mallocs that took from one list and the other in turn (a worker that
 * replaces the blocks another thread made, larson) made malloc's window
 * test and free's current-slab tests go both ways by turns:
 * bench/wl_larson with one worker 0.476 -> 0.391 s, four workers, whose
 * foreign lists run dry every few calls, 3% slower (doc/performance.md).
 * An object set aside counts as one on the free list everywhere
 * (statistics, flushes, checks). */
static inline void heap_set_aside(struct heap_fast *f)
{
	if (f->free != HEAP_LIST_END && f->aside == NULL) {
		f->aside = f->free;
		f->free = HEAP_LIST_END;
	}
}

/* Another heap's object p, of class entry f of the calling thread's heap:
 * false when the foreign list is full or not for this thread (its heap
 * is not set up, exited, or sees every call). */
static inline bool heap_push_foreign(struct heap_fast *f, void *p)
{
	if (unlikely(f->nforeign >= f->foreign_cap))
		return false;
	heap_set_aside(f);
	link_set(p, f->foreign);
	f->foreign = p;
	f->nforeign++;
	f->nfree_other++;
	return true;
}

struct heap  *heap_get(void);
void          heaps_init(void);
struct heap  *heap_shared(unsigned arena);
struct arena *heap_local_arena(struct heap *h);
void         *heap_alloc_slow(unsigned cls, size_t size);
void         *heap_alloc_shared(struct arena *a, struct heap *h, unsigned cls, size_t size);
void          heap_free_small(struct page *pg, void *p);

void heap_free_transition(struct heap *h, struct page *head, void *p);

/* The owner's free of p, of slab head, whose class entry is f, a slab other
 * than the class's current one: onto the slab's local list. */
static inline void heap_free_local_slab(struct heap_fast *f, struct page *head, void *p)
{
	f->nfree_local++;
	if (unlikely(slab_free_local(head, p)))
		heap_free_transition(slab_heap(head), head, p);
}

/* ... of the current slab's object p. */
static inline void heap_free_current(struct heap_fast *f, void *p)
{
	link_set(p, f->local);
	f->local = p;
	f->nfree_listed++;
}

static inline void heap_free_own_fast(struct heap_fast *f, struct page *head, void *p)
{
	if (likely(head == f->current)) {
		heap_free_current(f, p);
		return;
	}
	heap_free_local_slab(f, head, p);
}

void heap_queued_corrupt(const void *p) __attribute__((__noreturn__, __cold__));

/* A free that waited in the ring: its block must still hold the queued
 * mark and not the free key (which a second free of it, made at once,
 * wrote), then the push (its slab may have become current meanwhile).
 * The slab's owner field is the class's entry. */
static inline void heap_free_queued(struct page *head, void *p)
{
	const uintptr_t *w = p;
	if (unlikely((w[0] ^ _strata_free_key) | (w[1] == _strata_free_key)))
		heap_queued_corrupt(p);
	heap_free_own_fast(page_owner(head), head, p);
}

/* The owner's free of p into head, one of its slabs other than the
 * class's current one and than the slab of the last free queued, its
 * pointer checked.  A program that frees at random frees such blocks, long
 * cold, and the free-key check has to read the block: a miss to memory on
 * every free.  So p waits in the ring (free has prefetched it) and the
 * free made is the one that waited HEAP_PENDING frees, whose block is in
 * the cache by now (bench/wl_phases: 0.7 of the time).  Frees into the
 * slab of the last one queued, or of the last one free_own made at once,
 * are made at once (api.c): a program that frees its blocks in a row (in
 * the order it allocated them, or by address) has them in the cache, or
 * has the hardware prefetch them.  A queued block is marked with the free
 * key in its first word (a store, no read), where a free block holds its
 * link: a second free of it, made at once, writes the link and the key
 * over it, and a second free of a block already free overwrites its
 * link, which malloc then finds corrupt; the ring finds either when it
 * makes the queued free, that many frees later or when it is emptied
 * (heap_free_pending: statistics, checks, flushes, thread exit), and in
 * both before the block could be handed out twice. */
static inline void heap_defer_free(struct heap *h, struct page *head, void *p)
{
	((uintptr_t *)p)[0] = _strata_free_key; /* the queued mark: a store, no wait */
	h->pending_slab = head;
	uint32_t             off = h->pending_off;
	struct heap_pending *q = (struct heap_pending *)((char *)h->pending + off);
	struct heap_pending  old = *q;
	h->pending_off = (off + sizeof(*q)) & (sizeof(h->pending) - 1);
	q->p = p;
	q->head = head;
	if (old.p)
		heap_free_queued(old.head, old.p);
}

void         heap_forget_recent(struct heap *h, const struct page *s);
void         heap_recent_demote(struct heap *h, const struct page *s);
void         heap_free_pending(struct heap *h);
void         heap_free_pending_self(void);
struct heap *heap_shared_of(const void *p);
void         heap_flush(struct heap *h);
void         heap_set_flush_hook(void (*fn)(struct heap *h));
void         heap_set_start_hook(void (*fn)(void));
void         heap_for_each(void (*fn)(struct heap *h, void *arg), void *arg);
void         heap_thread_exit(void *arg);
void         heap_verify(void);

/* Large and huge calls, counted by the calling thread's heap. */
void heap_count_large(bool is_free, int64_t n);

/* Large runs (heap.c). */
struct page *heap_large_take(struct heap *h, size_t npages, bool last_too);
bool         heap_large_keep(struct heap *h, struct page *pg);

/* Call counts and free-list objects summed over every heap, live or gone. */
struct heap_totals {
	uint64_t nmalloc[NUM_CLASSES];
	uint64_t nfree[NUM_CLASSES];
	uint64_t cached[NUM_CLASSES]; /* objects on free lists */
	uint64_t large_mallocs;
	uint64_t large_frees;
	uint64_t large_cached_bytes;
	uint64_t frees_local[NUMA_MAX_NODES];  /* by threads on the object's node */
	uint64_t frees_remote[NUMA_MAX_NODES]; /* ... on another */
};
void heap_totals(struct heap_totals *t);
void heap_registry_lock(void);
void heap_registry_unlock(void);
void heap_registry_after_fork_child(void);

#endif
