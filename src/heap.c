/* SPDX-License-Identifier: MIT */
/*
 * heap.c - per-thread heaps: the slabs a thread owns, their lists, and the
 * slow paths of malloc and free.
 *
 * A heap owns slabs, per class on one of four lists: current (the slab its
 * free list comes from), partial (slabs with free objects), full (slabs
 * with none, marked so the first free tells the owner) and parked (one
 * empty slab kept against ping-pong).  A slab moves between them only when
 * its state changes, never by a scan:
 *
 *   - malloc finds the free list empty: the current slab gives its whole
 *     local list, or the objects other threads freed into it, or a batch
 *     carved from its untouched tail; when it has nothing, it goes to the
 *     full list and the next partial (or parked, or adopted, or new) slab
 *     takes its place;
 *   - the owner frees into a full slab: it goes to the partial list;
 *     another thread frees into a full slab: its object goes to the
 *     owner's delayed list (an atomic list of the heap), which the owner
 *     frees like its own frees on its next refill;
 *   - the owner frees the last object of a slab that is not current: the
 *     slab is parked, or goes back to its arena.
 *
 * When a thread exits, its free lists go back to their slabs and its slabs
 * are abandoned to their arenas (slab_bin.abandoned), where heaps that need
 * a slab of the class adopt them before making new ones.
 *
 * Threads without a heap of their own (with exact leak tracking or the
 * debug mode, every call is a slow path; and threads that have exited, as
 * libc frees their last blocks) use their arena's shared heap, the same
 * structure under a lock.  Heap structures come from mappings of their own
 * and are reused, never unmapped, so a thread that reads a slab's owner
 * may always touch that heap.
 */
#include "heap.h"
#include "arena.h"
#include "debug.h"
#include "dlist.h"
#include "large.h"
#include "options.h"
#include "os.h"
#include "sample.h"
#include "slab.h"

#include <errno.h>
#include <string.h>

/* Another thread's heap may be read while its thread exits: its state
 * through relaxed atomics. */
static inline bool heap_is_shared(const struct heap *h)
{
	return __atomic_load_n(&h->state, __ATOMIC_RELAXED) == HEAP_SHARED;
}

/* The empty heaps: a thread's TLS points at one until it has a heap of its
 * own, and after it exits.  Their free lists stay empty. */
char _strata_heap_no_mags[HEAP_NO_MAGS_BYTES] __attribute__((aligned(64)));
/* The slab free's recent-slab test meets in an entry no fast free has
 * filled: its limit is 0, no object in it is valid, so the free takes the
 * pagemap. */
static struct page heap_no_page;
const uintptr_t    _strata_heap_list_end[2] __attribute__((aligned(16))) = { 1, 0 };
#define HEAP_FAST_EMPTY                                            \
	{                                                          \
		[0 ... NUM_CLASSES - 1] = {.free = HEAP_LIST_END } \
	}
#define HEAP_RECENT_NONE                                                 \
	{                                                                \
		[0 ... HEAP_RECENT_SLOTS - 1] = {.slab = &heap_no_page } \
	}
static struct heap heap_empty = { .fast = HEAP_FAST_EMPTY,
	                          .zero = { .free = HEAP_LIST_END },
	                          .state = HEAP_UNINIT,
	                          .mags = (struct cache_mag *)_strata_heap_no_mags,
	                          .recent = HEAP_RECENT_NONE };
static struct heap heap_dead = { .fast = HEAP_FAST_EMPTY,
	                         .zero = { .free = HEAP_LIST_END },
	                         .state = HEAP_DEAD,
	                         .mags = (struct cache_mag *)_strata_heap_no_mags,
	                         .recent = HEAP_RECENT_NONE };

__thread struct heap *_strata_heap tls_ie = &heap_empty;

/* Each arena's shared heap: for the threads that have no heap of their
 * own (exact leak tracking, the debug mode, exited threads), used under
 * its lock. */
static struct heap shared_heaps[MAX_ARENAS];

pthread_key_t _strata_heap_key;

/* size_to_class(n) for n = 0..2048, as offsets of the class's entry
 * (sizeclass.h); tests/test_sizeclass.c checks it against the arithmetic
 * for every size.  Size 0 maps to the heap's zero entry, whose lists are
 * always empty: malloc(0) takes the slow path, which hands out a block of
 * malloc(0)'s area (guard.c), at no cost to the fast path. */
_Static_assert(sizeof(struct heap_fast) == (1u << CLASS_OFFSET_SHIFT), "class offsets");
_Static_assert(offsetof(struct heap, zero) == (NUM_CLASSES << CLASS_OFFSET_SHIFT), "zero entry");
#define O(c) ((c) << CLASS_OFFSET_SHIFT)
const uint16_t _strata_class_offset[CLASS_TABLE_MAX + 1] = {
	[0] = O(NUM_CLASSES),    [1 ... 16] = O(0),       [17 ... 32] = O(1),
	[33 ... 48] = O(2),      [49 ... 64] = O(3),      [65 ... 80] = O(4),
	[81 ... 96] = O(5),      [97 ... 112] = O(6),     [113 ... 128] = O(7),
	[129 ... 160] = O(8),    [161 ... 192] = O(9),    [193 ... 224] = O(10),
	[225 ... 256] = O(11),   [257 ... 320] = O(12),   [321 ... 384] = O(13),
	[385 ... 448] = O(14),   [449 ... 512] = O(15),   [513 ... 640] = O(16),
	[641 ... 768] = O(17),   [769 ... 896] = O(18),   [897 ... 1024] = O(19),
	[1025 ... 1152] = O(20), [1153 ... 1280] = O(21), [1281 ... 1408] = O(22),
	[1409 ... 1536] = O(23), [1537 ... 1664] = O(24), [1665 ... 1792] = O(25),
	[1793 ... 1920] = O(26), [1921 ... 2048] = O(27),
};
/* ... and for n = 2049..SMALL_MAX, by (n - 1) / 256: eighths of 2-4 KiB
 * (an entry each), of 4-8 KiB (two), of 8-16 KiB (four), quarters of
 * 16-32 KiB (sixteen); tests/test_sizeclass.c checks every size. */
const uint16_t _strata_class_offset_hi[SMALL_MAX >> CLASS_HI_SHIFT] = {
	[8] = O(28),         [9] = O(29),         [10] = O(30),         [11] = O(31),
	[12] = O(32),        [13] = O(33),        [14] = O(34),         [15] = O(35),
	[16 ... 17] = O(36), [18 ... 19] = O(37), [20 ... 21] = O(38),  [22 ... 23] = O(39),
	[24 ... 25] = O(40), [26 ... 27] = O(41), [28 ... 29] = O(42),  [30 ... 31] = O(43),
	[32 ... 35] = O(44), [36 ... 39] = O(45), [40 ... 43] = O(46),  [44 ... 47] = O(47),
	[48 ... 51] = O(48), [52 ... 55] = O(49), [56 ... 59] = O(50),  [60 ... 63] = O(51),
	[64 ... 79] = O(52), [80 ... 95] = O(53), [96 ... 111] = O(54), [112 ... 127] = O(55),
};
_Static_assert(NUM_CLASSES == 56, "the tables above list every class");
#undef O

/* A carve hands out a page's worth of objects at a time, at least this
 * many: the memory touched grows with what the program takes. */
#define CARVE_MIN_OBJECTS 8

/* Empty slabs a heap keeps, in bytes, beside its current slabs: enough for
 * a program that frees and allocates a few slabs' worth over and over, not
 * so much that an idle thread holds memory the decay cannot reach. */
#define HEAP_PARKED_MAX ((size_t)256 << 10)

/* Heaps are mapped this many at a time. */
#define HEAP_CHUNK_BYTES ((size_t)256 << 10)

/* ------------------------------------------------------------------------
 * Registry: the live heaps, so statistics can sum their counters; the
 * counters of exited threads; and the pool of heap structures to reuse.
 * ---------------------------------------------------------------------- */
static strata_lock_t      registry_lock = STRATA_LOCK_INIT;
static struct heap       *registry;
static struct heap       *pool;
static struct heap_totals gone;

/* Frees by threads without a heap (exited ones), counted here. */
static uint64_t heapless_nfree[NUM_CLASSES];
static uint64_t heapless_large[2];

static void totals_add_nodes(const struct heap *h, struct heap_totals *t, uint64_t frees)
{
	int node = h->arena ? h->arena->node : 0;
	t->frees_local[node] += frees - h->frees_xnode;
	for (unsigned n = 0; n < NUMA_MAX_NODES; n++)
		t->frees_remote[n] += h->frees_to_node[n];
}

/* Add one heap's counters to t; relaxed reads, the owner may be running.
 * The free-list length is what went on it (refills, frees) less what
 * mallocs took off it; the foreign list's is counted as it goes. */
static void heap_add_counts(const struct heap *h, struct heap_totals *t)
{
	uint64_t frees = 0;
	for (unsigned c = 0; c < NUM_CLASSES; c++) {
		uint64_t m = __atomic_load_n(&h->fast[c].nmalloc, __ATOMIC_RELAXED);
		uint64_t listed = __atomic_load_n(&h->fast[c].nfree_listed, __ATOMIC_RELAXED);
		uint64_t kept = __atomic_load_n(&h->fast[c].nfree_other, __ATOMIC_RELAXED);
		uint64_t f = listed + __atomic_load_n(&h->fast[c].nfree_local, __ATOMIC_RELAXED)
		             + kept + __atomic_load_n(&h->cls[c].nfree_remote, __ATOMIC_RELAXED);
		uint64_t nforeign = __atomic_load_n(&h->fast[c].nforeign, __ATOMIC_RELAXED);
		/* mallocs served by the foreign list: what went on it less what
		 * is there and what it gave back */
		uint64_t out = kept - nforeign
		               - __atomic_load_n(&h->cls[c].foreign_flushed, __ATOMIC_RELAXED);
		uint64_t in = __atomic_load_n(&h->cls[c].taken, __ATOMIC_RELAXED) + listed + out;
		t->nmalloc[c] += m;
		t->nfree[c] += f;
		t->cached[c] += (in > m ? in - m : 0) + nforeign;
		frees += f;
	}
	t->large_mallocs += h->large_mallocs;
	t->large_frees += h->large_frees;
	t->large_cached_bytes += h->large_bytes;
	totals_add_nodes(h, t, frees + h->large_frees);
}

void heap_totals(struct heap_totals *t)
{
	heap_free_pending_self();
	lock_acquire(&registry_lock);
	*t = gone;
	for (struct heap *h = registry; h; h = h->next)
		heap_add_counts(h, t);
	lock_release(&registry_lock);
	for (unsigned i = 0; i < _strata_narenas; i++) {
		struct heap *s = &shared_heaps[i];
		lock_acquire(&s->lock);
		heap_add_counts(s, t);
		lock_release(&s->lock);
	}
	for (unsigned c = 0; c < NUM_CLASSES; c++)
		t->nfree[c] += __atomic_load_n(&heapless_nfree[c], __ATOMIC_RELAXED);
	t->large_mallocs += __atomic_load_n(&heapless_large[0], __ATOMIC_RELAXED);
	t->large_frees += __atomic_load_n(&heapless_large[1], __ATOMIC_RELAXED);
}

void heap_registry_lock(void)
{
	lock_acquire(&registry_lock);
	for (unsigned i = 0; i < _strata_narenas; i++)
		lock_acquire(&shared_heaps[i].lock);
}

void heap_registry_unlock(void)
{
	for (unsigned i = _strata_narenas; i-- > 0;)
		lock_release(&shared_heaps[i].lock);
	lock_release(&registry_lock);
}

/* In a child of fork only the calling thread lives on: the other heaps'
 * counts become history, and their slabs stay theirs (lost to the child:
 * their state may be halfway through a change). */
void heap_registry_after_fork_child(void)
{
	lock_reinit(&registry_lock);
	for (unsigned i = 0; i < _strata_narenas; i++)
		lock_reinit(&shared_heaps[i].lock);
	struct heap *self = _strata_heap;
	for (struct heap *h = registry; h; h = h->next)
		if (h != self)
			heap_add_counts(h, &gone);
	registry = NULL;
	if (self->state == HEAP_LIVE)
		dlist_push(registry, self);
}

static void         heap_release_delayed(struct heap *h);
static struct page *heap_large_remove(struct heap *h, uint32_t i);

/* A heap structure from the pool, or from a new mapping; NULL if none. */
static struct heap *heap_pool_get(void)
{
	lock_acquire(&registry_lock);
	struct heap *h = pool;
	if (h == NULL) {
		char  *chunk = os_map(HEAP_CHUNK_BYTES);
		size_t stride = ALIGN_UP(sizeof(struct heap), 64);
		for (size_t off = 0; chunk && off + stride <= HEAP_CHUNK_BYTES; off += stride) {
			struct heap *n = (struct heap *)(chunk + off);
			n->next = pool;
			pool = n;
		}
		h = pool;
	}
	if (h)
		pool = h->next;
	lock_release(&registry_lock);
	if (h)
		heap_release_delayed(h); /* left by a free that raced an exit */
	return h;
}

static void heap_pool_put(struct heap *h)
{
	lock_acquire(&registry_lock);
	dlist_del(registry, h);
	heap_add_counts(h, &gone);
	__atomic_store_n(&h->state, HEAP_DEAD, __ATOMIC_RELAXED); /* read by freeing threads */
	h->next = pool;
	pool = h;
	lock_release(&registry_lock);
}

/* ------------------------------------------------------------------------
 * Set-up
 * ---------------------------------------------------------------------- */

/* Exact leak tracking and the debug mode see every call: no free lists. */
static bool heap_cache_wanted(void)
{
	return strata_option(OPT_TCACHE) && leak_mode() != LEAK_FULL && !debug_mode();
}

static const struct heap_recent heap_recent_none = { .slab = &heap_no_page };

/* The entries of h's recent slabs that hold s, forgotten or demoted.  Only
 * the entries of the chunks s spans can hold it (free_own fills p's). */
static void heap_recent_clear(struct heap *h, const struct page *s, bool forget)
{
	uintptr_t start = (uintptr_t)page_address(s);
	uintptr_t end = start + (PAGE_SIZE << s->order);
	for (uintptr_t a = start; a < end; a += (uintptr_t)1 << HEAP_RECENT_SHIFT) {
		struct heap_recent *r = heap_recent_of(h, (void *)a);
		if (r->slab != s)
			continue;
		if (forget)
			*r = heap_recent_none;
		else
			r->limit = 0;
	}
}

/* free's recent-slab tests (api.c) must no longer take slab s of h (every
 * slab: NULL): before s goes back to its arena or to no owner (its region
 * may be unmapped, its pages reused). */
void heap_forget_recent(struct heap *h, const struct page *s)
{
	if (s != NULL) {
		heap_recent_clear(h, s, true);
		return;
	}
	for (int i = 0; i < HEAP_RECENT_SLOTS; i++)
		h->recent[i] = heap_recent_none;
}

/* Slab s of h is no longer its class's current one: free's fast test
 * (which pushes on the class's local list) must no longer take it; its
 * slow one still does. */
void heap_recent_demote(struct heap *h, const struct page *s)
{
	heap_recent_clear(h, s, false);
}

/* Everything but the delayed list, which a racing free may be using. */
static void heap_clear(struct heap *h)
{
	uintptr_t         delayed = __atomic_load_n(&h->delayed, __ATOMIC_RELAXED);
	struct cache_mag *cmags = h->cmags; /* empty since its thread's exit */
	memset(h, 0, sizeof(*h));
	for (unsigned c = 0; c < NUM_CLASSES; c++)
		heap_set_free_list(&h->fast[c], NULL);
	heap_set_free_list(&h->zero, NULL);
	__atomic_store_n(&h->delayed, delayed, __ATOMIC_RELAXED);
	h->cmags = cmags;
	h->mags = (struct cache_mag *)_strata_heap_no_mags; /* until a cache sets it */
	heap_forget_recent(h, NULL);
}

/* What the upper layers start once a thread has a heap, with no lock held
 * (the stats-file writer): a hook, set at start-up. */
static void (*heap_start_hook)(void);

void heap_set_start_hook(void (*fn)(void))
{
	heap_start_hook = fn;
}

static uint32_t heap_foreign_cap(unsigned cls);

static struct heap *heap_create(void)
{
	struct heap *h = heap_pool_get();
	if (h == NULL)
		return NULL;
	heap_clear(h);
	__atomic_store_n(&h->state, HEAP_LIVE, __ATOMIC_RELAXED);
	h->nocache = !heap_cache_wanted();
	h->arena = arena_pick();
	for (unsigned c = 0; c < NUM_CLASSES && !h->nocache; c++)
		h->fast[c].foreign_cap = heap_foreign_cap(c);
	sample_thread_init(h);
	lock_acquire(&registry_lock);
	dlist_push(registry, h);
	lock_release(&registry_lock);
	/* Set before anything below can allocate (creating a thread does):
	 * such a call finds its heap ready. */
	_strata_heap = h;
	pthread_setspecific(_strata_heap_key, h);
	if (heap_start_hook)
		heap_start_hook();
	return h;
}

/* The calling thread's heap, set up on its first call; NULL for a thread
 * that has exited (or whose heap could not be mapped). */
struct heap *heap_get(void)
{
	struct heap *h = _strata_heap;
	if (likely(h->state == HEAP_LIVE))
		return h;
	if (h->state != HEAP_UNINIT)
		return NULL;
	strata_ensure_init();
	h = _strata_heap; /* start-up itself may have allocated */
	return h->state == HEAP_LIVE ? h : heap_create();
}

/* Start-up, after the arenas: their shared heaps. */
void heaps_init(void)
{
	for (unsigned i = 0; i < _strata_narenas; i++) {
		struct heap *h = &shared_heaps[i];
		heap_clear(h);
		h->state = HEAP_SHARED;
		h->arena = &_strata_arenas[i];
		lock_reinit(&h->lock);
		sample_thread_init(h);
	}
}

struct heap *heap_shared(unsigned arena)
{
	return &shared_heaps[arena];
}

/* The thread may have been moved to another node since it picked its
 * arena: checked on each refill (a vDSO call), never on the fast path. */
struct arena *heap_local_arena(struct heap *h)
{
	if (unlikely(nodes_active()) && h->state == HEAP_LIVE) {
		int node = nodes_current();
		if (h->arena->node != node)
			h->arena = arena_pick_node(node);
	}
	return h->arena;
}

/* ------------------------------------------------------------------------
 * Slabs: where the next one comes from, and where one goes
 * ---------------------------------------------------------------------- */

/* Take an abandoned slab of the class (its objects come with it), or make
 * one, under the arena's lock; h becomes its owner. */
static struct page *heap_adopt_or_new(struct heap *h, unsigned cls)
{
	struct arena *a = heap_local_arena(h);
	uint64_t      now = os_now_ms();
	lock_acquire(&a->lock);
	arena_maybe_decay(a, now);
	struct page *s = a->bins[cls].abandoned;
	if (s) {
		dlist_del(a->bins[cls].abandoned, s);
		a->bins[cls].nr_abandoned--;
		slab_set_owner(s, heap_slot(h, cls));
	} else {
		s = slab_new(a, cls, heap_slot(h, cls));
	}
	lock_release(&a->lock);
	if (s && (s->inuse & SLAB_INUSE_FULL))
		slab_unretire(s); /* abandoned full: ours to watch now */
	return s;
}

static void heap_unpark(struct heap *h, struct page *s)
{
	dlist_del(h->cls[s->cls].parked, s);
	h->parked_bytes -= PAGE_SIZE << s->order;
}

/* The slab the class's free list comes from next. */
static struct page *heap_next_slab(struct heap *h, unsigned cls)
{
	struct heap_class *hc = &h->cls[cls];
	struct page       *s = hc->partial;
	if (s)
		dlist_del_tail(hc->partial, hc->partial_last, s);
	else if ((s = hc->parked))
		heap_unpark(h, s);
	else if ((s = heap_adopt_or_new(h, cls)) == NULL)
		return NULL;
	strata_assert(s->cls == cls && s->list != SLAB_CURRENT && s->list != SLAB_FULL);
	s->list = SLAB_CURRENT;
	h->fast[cls].current = s;
	return s;
}

/* Back to the buddy, under the arena's lock; frees are when dirty memory
 * piles up, so the decay is checked too. */
static void heap_slab_release(struct heap *h, struct page *s)
{
	struct arena *a = page_region(s)->arena;
	heap_forget_recent(h, s);
	uint64_t now = os_now_ms();
	lock_acquire(&a->lock);
	slab_release(a, s);
	arena_maybe_decay(a, now);
	lock_release(&a->lock);
}

/* Take s off whichever of h's lists it is on. */
static void heap_unlist(struct heap *h, struct page *s)
{
	struct heap_class *hc = &h->cls[s->cls];
	strata_assert_expensive(s->list != SLAB_PARTIAL || dlist_contains(hc->partial, s));
	strata_assert_expensive(s->list != SLAB_FULL || dlist_contains(hc->full, s));
	strata_assert_expensive(s->list != SLAB_PARKED || dlist_contains(hc->parked, s));
	strata_assert(s->list != SLAB_CURRENT || h->fast[s->cls].current == s);
	strata_assert(s->list != SLAB_REFILLING); /* slab_refill_end first */
	switch (s->list) {
	case SLAB_CURRENT:
		h->fast[s->cls].current = NULL;
		heap_recent_demote(h, s);
		break;
	case SLAB_PARTIAL: dlist_del_tail(hc->partial, hc->partial_last, s); break;
	case SLAB_FULL: dlist_del(hc->full, s); break;
	case SLAB_PARKED: heap_unpark(h, s); break;
	default: break;
	}
	s->list = SLAB_UNLISTED;
}

/* s emptied and is not current: parked while the heap's parked slabs fit
 * HEAP_PARKED_MAX, else released. */
static void heap_slab_emptied(struct heap *h, struct page *s)
{
	size_t bytes = PAGE_SIZE << s->order;
	heap_unlist(h, s);
	if (h->parked_bytes + bytes <= HEAP_PARKED_MAX) {
		dlist_push(h->cls[s->cls].parked, s);
		h->parked_bytes += bytes;
		s->list = SLAB_PARKED;
		return;
	}
	heap_slab_release(h, s);
}

/* ------------------------------------------------------------------------
 * Allocation: the free list ran dry
 * ---------------------------------------------------------------------- */

/* The free list set aside (heap.h) back in place, if there is one: true
 * if it was. */
static bool heap_restore_aside(struct heap_fast *f)
{
	void *list = f->aside;
	if (list == NULL)
		return false;
	f->aside = NULL;
	heap_set_free_list(f, list);
	return true;
}

/* The fast path's window test failed: the list is empty (every caller
 * has tried the foreign list first: the list set aside comes back, else
 * NULL), or p is its last object (its link is NULL), or the list is
 * corrupt.  The local list becomes the free list. */
void *heap_pop_last(struct heap_fast *f, void **p)
{
	if (p == HEAP_LIST_END)
		return heap_restore_aside(f) ? heap_pop(f) : NULL;
	link_check_end(p);
	heap_set_free_list(f, f->local);
	f->local = NULL;
	f->nmalloc++;
	p[1] = NULL;
	return p;
}
static void heap_drain_delayed(struct heap *h);
static void heap_put_own(struct heap *h, struct page *head, void *p);

/* A list of freed objects, the one freed last first, with its first two
 * swapped: the block freed last is not the next one malloc returns (a use
 * after free meets another block), unless it is alone. */
static void *list_swap_first(void **first)
{
	void **second = link_next(first);
	if (second == NULL)
		return first;
	link_set(first, link_next(second));
	link_set(second, first);
	return second;
}

/* Objects for the free list from slab s: its local list, else what other
 * threads freed into it, else a batch carved from its tail; NULL when it
 * has nothing left. */
static void *heap_slab_objects(struct page *s, unsigned *n)
{
	if (s->local_free == NULL)
		slab_collect_remote(s);
	if (s->local_free)
		return list_swap_first(slab_take_local(s, n));
	if (s->bump == _strata_classes[s->cls].capacity)
		return NULL;
	size_t size = class_size(s->cls);
	return slab_carve(s, MAX(PAGE_SIZE / size, (size_t)CARVE_MIN_OBJECTS), n);
}

/* The local list becomes the free list, whose first object is handed out. */
static void *heap_take_local(struct heap_fast *f)
{
	f->free = list_swap_first(f->local);
	f->local = NULL;
	return heap_pop(f);
}

/* list, objects from a slab, with the local list's one object second. */
static void *heap_join_local(struct heap_fast *f, void **list)
{
	void **last = f->local;
	if (last == NULL)
		return list;
	f->local = NULL;
	link_set(last, list);
	return list_swap_first(last);
}

/* Hand out the first of n objects, the rest becoming the free list. */
static void *heap_fill(struct heap *h, unsigned cls, void **p, unsigned n)
{
	heap_set_free_list(&h->fast[cls], link_next(p));
	h->fast[cls].nmalloc++;
	h->cls[cls].taken += n;
	p[1] = NULL;
	return p;
}

/* The current slab s has nothing left: to the full list, marked, unless
 * other threads' frees arrived meanwhile (then it stays current). */
static inline bool heap_retire_full(struct heap *h, struct page *s)
{
	strata_assert(s->list == SLAB_CURRENT && h->fast[s->cls].current == s);
	if (!slab_retire_full(s))
		return false;
	h->fast[s->cls].current = NULL;
	heap_recent_demote(h, s);
	s->list = SLAB_FULL;
	dlist_push(h->cls[s->cls].full, s);
	return true;
}

/* ... and the local list's object, if any, goes back to it. */
static void heap_retire(struct heap *h, struct page *s)
{
	struct heap_fast *f = heap_slot(h, s->cls);
	if (!heap_retire_full(h, s) || f->local == NULL)
		return;
	/* The local list's one object, freed last, goes back to s as a free
	 * into a slab that is not current, once the next slab is: its objects
	 * are handed out first.  Without one, s is next again. */
	void *last = f->local;
	f->local = NULL;
	f->nfree_listed--; /* a free into its slab now, no longer cached */
	f->nfree_local++;
	heap_next_slab(h, s->cls);
	heap_put_own(h, s, last);
}

/* The free list of class cls is empty: fill it, and return its first
 * object; *bytes gets what the refill took from the slabs, for leak
 * sampling (which its callers do, outside any lock: the unwinder may
 * allocate). */
static void *heap_refill(struct heap *h, unsigned cls, size_t *bytes)
{
	struct heap_fast *f = heap_slot(h, cls);
	*bytes = 0; /* the local list's are counted when freed */
	if (heap_restore_aside(f))
		return heap_pop(f);
	if (f->local && link_next(f->local))
		return heap_take_local(f);
	if (__atomic_load_n(&h->delayed, __ATOMIC_RELAXED))
		heap_drain_delayed(h);
	for (;;) {
		struct page *s = h->fast[cls].current;
		if (s == NULL && (s = heap_next_slab(h, cls)) == NULL) {
			errno = ENOMEM;
			return NULL;
		}
		unsigned n;
		void    *list = heap_slab_objects(s, &n);
		if (list) {
			*bytes = (size_t)n * class_size(cls);
			return heap_fill(h, cls, heap_join_local(f, list), n);
		}
		heap_retire(h, s);
	}
}
/* The shared heap of a thread without one of its own: its arena's. */
static struct arena *heapless_arena(struct heap *h)
{
	return h ? heap_local_arena(h) : arena_pick();
}

/* One object of class cls from arena a's shared heap, under its lock. */
static void *heap_shared_pop(struct arena *a, unsigned cls)
{
	struct heap *s = &shared_heaps[a->index];
	size_t       bytes;
	lock_acquire(&s->lock);
	void *p = heap_pop(heap_slot(s, cls));
	if (p == NULL)
		p = heap_refill(s, cls, &bytes);
	lock_release(&s->lock);
	return p;
}

/* ... for a thread whose heap is h (NULL: an exited thread).  Each call
 * counts its own bytes towards h's next leak sample: every call of such a
 * thread comes here. */
void *heap_alloc_shared(struct arena *a, struct heap *h, unsigned cls, size_t size)
{
	void *p = heap_shared_pop(a, cls);
	arena_background_start(); /* no lock held: creating a thread allocates */
	if (p)
		sample_small(h, p, size, class_size(cls));
	return p;
}

/* p, the object heap_fill has just handed out, back in front of the free
 * list it came from. */
static void heap_unpop(struct heap_fast *f, void *p)
{
	link_set(p, heap_free_list(f));
	f->free = p;
	f->nmalloc--;
}

/* Leak sampling of a refill of h that took bytes from its slabs and hands
 * out p.  When a sampling interval ends in it, the block recorded comes
 * from the arena's shared heap instead, and p goes back: no slab of a
 * thread heap holds a recorded block (whose page free's fast path must
 * not take: sample.c marks it), so the fast path takes any object of a
 * slab of the thread's recent frees without a test of the page. */
static void *heap_sample(struct heap *h, unsigned cls, void *p, size_t size, size_t bytes)
{
	size_t volume = sample_count(h, bytes);
	if (volume == 0)
		return p;
	int   saved = errno;
	void *q = heap_shared_pop(heap_local_arena(h), cls);
	if (q == NULL) {
		errno = saved; /* out of memory: this interval goes unrecorded */
		return p;
	}
	heap_unpop(heap_slot(h, cls), p);
	sample_record_small(q, size, volume);
	return q;
}

void *heap_alloc_slow(unsigned cls, size_t size)
{
	struct heap *h = heap_get();
	if (h == NULL || h->nocache)
		return heap_alloc_shared(heapless_arena(h), h, cls, size);
	/* Setting the heap up may allocate (pthread_create of the stats
	 * writer, glibc's TSD arrays) and fill this very list: use that. */
	void *p = heap_pop(heap_slot(h, cls));
	if (p)
		return p;
	size_t bytes;
	p = heap_refill(h, cls, &bytes);
	if (p && leak_mode() == LEAK_SAMPLED)
		p = heap_sample(h, cls, p, size, bytes);
	/* no lock held, and the free list whole again (heap_sample's unpop):
	 * creating a thread allocates */
	arena_background_start();
	return p;
}

/* ------------------------------------------------------------------------
 * Free
 * ---------------------------------------------------------------------- */

/* A slab of the full list that has room again, onto the partial list. */
static void heap_slab_relist(struct heap *h, struct page *head)
{
	struct heap_class *hc = &h->cls[head->cls];
	strata_assert_expensive(dlist_contains(hc->full, head));
	dlist_del(hc->full, head);
	dlist_append(hc->partial, hc->partial_last, head);
	head->list = SLAB_PARTIAL;
}

/* The owner's free gave s, a slab of the full list, room again while its
 * class has nothing left to hand out (free, local and foreign lists empty,
 * the current slab exhausted): the next malloc would refill, so s is taken
 * now instead, its objects the free list, and that malloc needs none.  A
 * program that frees at random into full slabs (redis overwriting the
 * values of a big hash) refilled on nearly every malloc of the class.
 * Slabs on the partial list wait meanwhile, and gather more frees: taken
 * only when s is not richer than the first of them, or only when there is
 * none, the promotions helped redis less or cost wl_phases more
 * (doc/performance.md).  Leak sampling counts the bytes a refill takes
 * (heap_sample): a promotion counts them too, and is not made when a
 * sampling interval would end in them (the refill records it then).  Only
 * a thread's own fast-path frees come here, never the shared heaps'.
 * false: s goes to the partial list. */
static noinline bool heap_slab_take(struct heap *h, struct page *s)
{
	unsigned          cls = s->cls;
	struct heap_fast *f = heap_slot(h, cls);
	struct page      *c = f->current;
	unsigned          n = s->bump - slab_inuse(s);
	int64_t           bytes = (int64_t)n * (int64_t)class_size(cls);
	bool              sampled = leak_mode() == LEAK_SAMPLED;
	strata_assert(!heap_is_shared(h));
	if ((c && !slab_exhausted(c)) || (sampled && h->sample_left <= bytes))
		return false;
	if (c && !heap_retire_full(h, c)) /* other threads' frees came */
		return false;
	if (sampled)
		h->sample_left -= bytes;
	dlist_del(h->cls[cls].full, s);
	s->list = SLAB_CURRENT;
	f->current = s;
	heap_set_free_list(f, list_swap_first(slab_take_local(s, &n)));
	h->cls[cls].taken += n;
	return true;
}

static inline bool heap_slab_promote(struct heap *h, struct page *s)
{
	const struct heap_fast *f = heap_slot(h, s->cls);
	return heap_free_list(f) == NULL && f->local == NULL && f->foreign == NULL
	       && f->aside == NULL && heap_slab_take(h, s);
}

/* Slab s of the full list has room again: current at once when promote
 * and its class ran dry, else on the partial list. */
static inline void heap_slab_reopen(struct heap *h, struct page *s, bool promote)
{
	if (!(promote && heap_slab_promote(h, s)))
		heap_slab_relist(h, s);
}

/* The owner's free made slab_free_local ask: the slab was full, or it is
 * empty now, or more objects came back than were handed out, or a
 * refilling slab got the last of its frees.  promote: a slab that has
 * room again may become current (heap_slab_promote); not for the slow
 * paths' frees, which a refill makes (heap_retire, the delayed list) while
 * it fills the free list itself. */
static inline __attribute__((always_inline)) void heap_slab_transition(struct heap *h,
                                                                       struct page *head, void *p,
                                                                       bool promote)
{
	if (unlikely(head->inuse == UINT32_MAX))
		_strata_fatal("double free of %p", p);
	if (head->inuse & SLAB_INUSE_FULL) {
		strata_assert(head->list == SLAB_FULL);
		if (slab_refill_start(head))
			return;
		slab_unretire(head);
		heap_slab_reopen(h, head, promote);
	} else if (head->list == SLAB_REFILLING) {
		slab_refill_end(head);
		heap_slab_reopen(h, head, promote);
		return;
	}
	if (slab_empty(head) && head->list != SLAB_CURRENT)
		heap_slab_emptied(h, head);
}

void heap_free_transition(struct heap *h, struct page *head, void *p)
{
	heap_slab_transition(h, head, p, true);
}

/* Put p, of h's slab head, back, from a slow path (the shared heaps'
 * frees, the debug mode's, blocks recorded by leak tracking, objects that
 * came back through the delayed list or a foreign list): on the free list
 * when the slab is current (counted in taken, so the free list's length
 * stays known), else on the slab's local list.  The free itself was
 * counted when it was made.  The debug mode's guard object keeps a slab's
 * inuse at one when it empties. */
static void heap_put_own(struct heap *h, struct page *head, void *p)
{
	unsigned          cls = head->cls;
	struct heap_fast *f = heap_slot(h, cls);
	if (head == f->current) {
		/* second on the free list, if it has a first: the block freed
		 * last is not the next one handed out */
		link_set(p, heap_free_list(f));
		f->free = list_swap_first(p);
		h->cls[cls].taken++;
		return;
	}
	if (slab_free_local(head, p) || unlikely(slab_inuse(head) <= slab_guard_objects()))
		heap_slab_transition(h, head, p, false);
	/* Not counted down: another thread's free may have taken the
	 * remote word's mark, and no later one would tell the owner. */
	if (head->list == SLAB_REFILLING) {
		slab_refill_end(head);
		heap_slab_relist(h, head);
	}
}

/* Push p on h's delayed list. */
static void heap_delayed_push(struct heap *h, void *p)
{
	uintptr_t old = __atomic_load_n(&h->delayed, __ATOMIC_RELAXED);
	do
		link_set(p, (void *)old);
	while (!__atomic_compare_exchange_n(&h->delayed, &old, (uintptr_t)p, true, __ATOMIC_RELEASE,
	                                    __ATOMIC_RELAXED));
}

/* p, of another heap's slab, was freed by this thread.  The slab may be
 * released as soon as p is on one of its lists: nothing of it is touched
 * after the push. */
static void heap_free_remote(struct page *head, void *p)
{
	while (!slab_push_remote(head, p)) {
		/* The slab was full: its owner must hear it has room. */
		struct heap *owner = slab_heap(head);
		if (owner && __atomic_load_n(&owner->state, __ATOMIC_RELAXED) == HEAP_LIVE) {
			heap_delayed_push(owner, p);
			return;
		}
		/* abandoned meanwhile: the plain push goes through now */
	}
}

/* Count a free by the calling thread of an object of node obj_node. */
static void heap_count_free(struct heap *h, unsigned cls, struct page *head)
{
	if (h == NULL) {
		__atomic_fetch_add(&heapless_nfree[cls], 1, __ATOMIC_RELAXED);
		return;
	}
	h->cls[cls].nfree_remote++;
	int node = page_region(head)->arena->node;
	if (unlikely(nodes_active()) && node != h->arena->node) {
		h->frees_xnode++;
		h->frees_to_node[node]++;
	}
}

/* Free p, of slab head, to whoever owns it: h (the calling thread's heap,
 * or NULL), a shared heap, or another thread's heap.  counted: the free
 * was counted already (by the thread that made it); else the owner counts
 * it, or, for another thread's heap, h does. */
static void heap_free_to_owner(struct heap *h, struct page *head, void *p, bool counted)
{
	struct heap *owner = slab_heap(head);
	if (owner && (owner == h || heap_is_shared(owner))) {
		bool shared = owner != h;
		if (!counted && shared)
			heap_count_free(h, head->cls, head); /* the thread's, by node */
		else if (!counted)
			owner->fast[head->cls].nfree_local++;
		if (shared)
			lock_acquire(&owner->lock);
		heap_put_own(owner, head, p);
		if (shared)
			lock_release(&owner->lock);
		return;
	}
	if (!counted)
		heap_count_free(h, head->cls, head);
	heap_free_remote(head, p);
}

/* ------------------------------------------------------------------------
 * Other heaps' objects freed by this thread: a short list per class, like
 * a thread cache, that this thread's mallocs of the class take from before
 * refilling.  A program whose threads pass objects around (a server's
 * request buffers) reuses them where they were freed, warm, and pays no
 * atomic operation for them; when the list is full its older half goes
 * back to the owners' slabs.  It is bounded (the tcache_max option, and
 * about 64 KiB per class), so the owners get their memory back.
 * ---------------------------------------------------------------------- */
#define FOREIGN_BYTES (64 * 1024)
#define FOREIGN_MIN   4

static uint32_t heap_foreign_cap(unsigned cls)
{
	size_t cap = MAX(FOREIGN_BYTES / class_size(cls), (size_t)FOREIGN_MIN);
	return (uint32_t)MIN(cap, (size_t)strata_option(OPT_TCACHE_MAX));
}

/* Keep the keep most recently freed foreign objects, give the rest back. */
static void heap_foreign_flush(struct heap *h, unsigned cls, uint32_t keep)
{
	struct heap_fast *f = heap_slot(h, cls);
	if (f->nforeign <= keep)
		return;
	void *rest;
	if (keep == 0) {
		rest = f->foreign;
		f->foreign = NULL;
	} else {
		void *last = f->foreign;
		for (uint32_t i = 1; i < keep; i++)
			last = link_next(last);
		rest = link_next(last);
		link_set(last, NULL);
	}
	h->cls[cls].foreign_flushed += f->nforeign - keep;
	f->nforeign = keep;
	while (rest) {
		void *p = rest;
		rest = link_next(p);
		heap_free_to_owner(h, slab_head(page_of(region_of(p), p)), p, true);
	}
}

/* Does p, of another node's memory, belong on this thread's foreign list?
 * Not when NUMA placement is on: it goes home. */
static bool heap_keeps_foreign(const struct heap *h, const struct page *head)
{
	return !nodes_active() || page_region(head)->arena->node == h->arena->node;
}

/* Free of a small block from a slow path: the fast path's checks are done.
 * A shared heap's block (one leak tracking recorded, heap_sample) goes
 * back to it, not onto the foreign list, whose mallocs would hand it out
 * again and again outside the slabs the fast paths know. */
void heap_free_small(struct page *pg, void *p)
{
	struct heap *h = heap_get();
	struct page *head = slab_head(pg);
	struct heap *owner = slab_heap(pg);
	if (owner != h && h && !h->nocache && !(owner && heap_is_shared(owner))
	    && heap_keeps_foreign(h, head)) {
		struct heap_fast *f = heap_slot(h, pg->cls);
		if (f->nforeign >= f->foreign_cap)
			heap_foreign_flush(h, pg->cls, f->foreign_cap / 2);
		heap_push_foreign(f, p);
		return;
	}
	heap_free_to_owner(h, head, p, false);
}

/* Free what other threads sent: each object is this heap's to free, unless
 * its slab changed hands since (a free that raced an exit). */
static void heap_free_delayed_list(struct heap *h, void *list)
{
	while (list) {
		void *p = list;
		list = link_next(p);
		struct page *head = slab_head(page_of(region_of(p), p));
		if (h && slab_heap(head) == h)
			heap_put_own(h, head, p);
		else
			heap_free_remote(head, p);
	}
}

static void heap_drain_delayed(struct heap *h)
{
	void *list = (void *)__atomic_exchange_n(&h->delayed, 0, __ATOMIC_ACQUIRE);
	heap_free_delayed_list(h, list);
}

/* A heap with no owner thread: its delayed objects go to their slabs'
 * remote lists. */
static void heap_release_delayed(struct heap *h)
{
	if (__atomic_load_n(&h->delayed, __ATOMIC_RELAXED))
		heap_free_delayed_list(
		        NULL, (void *)__atomic_exchange_n(&h->delayed, 0, __ATOMIC_ACQUIRE));
}

/* The shared heap that owns the slab of p (debug mode), or NULL. */
struct heap *heap_shared_of(const void *p)
{
	struct heap *owner = slab_heap(page_of(region_of(p), p));
	return owner && heap_is_shared(owner) ? owner : NULL;
}

/* ------------------------------------------------------------------------
 * Flush and exit
 * ---------------------------------------------------------------------- */

/* One of the class's lists back onto its current slab's local list; each
 * object's link and key are checked on the way (link_next), so a write
 * after free that no malloc met is found when the thread exits. */
static void heap_return_list(struct heap *h, unsigned cls, void *list)
{
	struct page *s = h->fast[cls].current;
	if (list == NULL)
		return;
	uint32_t cap = _strata_classes[cls].capacity; /* longer: a loop, a corrupt link */
	unsigned n = 1;
	void    *tail = list;
	for (void *q = link_next(tail); q; q = link_next(tail), n++) {
		if (unlikely(!slab_owns(s, q) || n >= cap))
			_strata_freelist_corrupt(tail);
		tail = q;
	}
	link_set(tail, s->local_free);
	s->local_free = list;
	s->inuse -= n;
	h->cls[cls].taken -= n;
}

/* The class's free and local lists back onto their slab. */
static void heap_return_free_list(struct heap *h, unsigned cls)
{
	struct heap_fast *f = heap_slot(h, cls);
	void             *free = heap_free_list(f), *local = f->local, *aside = f->aside;
	heap_set_free_list(f, NULL);
	f->local = NULL;
	f->aside = NULL;
	heap_return_list(h, cls, free);
	heap_return_list(h, cls, local);
	heap_return_list(h, cls, aside);
}

/* Collect s's remote frees, and give it back if that empties it. */
static void heap_release_if_empty(struct heap *h, struct page *s)
{
	slab_collect_remote(s);
	if (!slab_empty(s))
		return;
	heap_unlist(h, s);
	heap_slab_release(h, s);
}

static void heap_release_empty_list(struct heap *h, struct page *list)
{
	while (list) {
		struct page *next = list->next;
		heap_release_if_empty(h, list);
		list = next;
	}
}

/* Give back what h holds and does not use: free lists, delayed objects,
 * empty slabs (parked or not), cached large runs.  Its other slabs stay. */
/* The layers above that keep objects per thread (object caches' magazines)
 * give them back when a heap is flushed. */
static void (*heap_flush_hook)(struct heap *h);

void heap_set_flush_hook(void (*fn)(struct heap *h))
{
	__atomic_store_n(&heap_flush_hook, fn, __ATOMIC_RELEASE);
}

void heap_for_each(void (*fn)(struct heap *h, void *arg), void *arg)
{
	lock_acquire(&registry_lock);
	for (struct heap *h = registry; h; h = h->next)
		fn(h, arg);
	lock_release(&registry_lock);
}

void heap_queued_corrupt(const void *p)
{
	if (((const uintptr_t *)p)[1] == _strata_free_key)
		_strata_fatal("double free of %p", p);
	_strata_fatal("%p was written to after it was freed", p);
}

/* Make the frees waiting in h's ring (heap_defer_free), oldest first. */
void heap_free_pending(struct heap *h)
{
	uint32_t first = h->pending_off / sizeof(struct heap_pending);
	for (uint32_t i = 0; i < HEAP_PENDING; i++) {
		struct heap_pending *q = &h->pending[(first + i) % HEAP_PENDING];
		struct heap_pending  old = *q;
		q->p = NULL;
		if (old.p)
			heap_free_queued(old.head, old.p);
	}
	h->pending_slab = NULL;
}

/* The calling thread's ring, before anything reads figures or lists that
 * its frees change; no lock held. */
void heap_free_pending_self(void)
{
	struct heap *h = _strata_heap;
	if (h->state == HEAP_LIVE)
		heap_free_pending(h);
}

void heap_flush(struct heap *h)
{
	heap_free_pending(h);
	void (*hook)(struct heap *) = __atomic_load_n(&heap_flush_hook, __ATOMIC_ACQUIRE);
	if (hook && h->cmags)
		hook(h);
	heap_drain_delayed(h);
	for (unsigned c = 0; c < NUM_CLASSES; c++) {
		heap_foreign_flush(h, c, 0);
		heap_return_free_list(h, c);
		if (h->fast[c].current)
			heap_release_if_empty(h, h->fast[c].current);
		heap_release_empty_list(h, h->cls[c].partial);
		heap_release_empty_list(h, h->cls[c].parked);
	}
	while (h->nlarge > 0)
		large_free(heap_large_remove(h, 0));
}

/* A slab of an exiting thread: released if empty, else left to its arena
 * for another heap to adopt. */
static void heap_abandon_slab(struct heap *h, struct page *s)
{
	if (s->list == SLAB_REFILLING)
		slab_refill_end(s);
	heap_unlist(h, s);
	heap_forget_recent(h, s);
	slab_collect_remote(s);
	struct arena *a = page_region(s)->arena;
	lock_acquire(&a->lock);
	if (slab_empty(s)) {
		slab_release(a, s);
	} else {
		slab_set_owner(s, NULL);
		s->list = SLAB_ABANDONED;
		dlist_push(a->bins[s->cls].abandoned, s);
		a->bins[s->cls].nr_abandoned++;
	}
	lock_release(&a->lock);
}

static void heap_abandon_list(struct heap *h, struct page *list)
{
	while (list) {
		struct page *next = list->next;
		heap_abandon_slab(h, list);
		list = next;
	}
}

/* The pthread key's destructor: the thread is exiting.  What libc frees
 * after this goes through the shared heaps. */
void heap_thread_exit(void *arg)
{
	struct heap *h = arg;
	heap_flush(h);
	for (unsigned c = 0; c < NUM_CLASSES; c++) {
		if (h->fast[c].current)
			heap_abandon_slab(h, h->fast[c].current);
		heap_abandon_list(h, h->cls[c].partial);
		heap_abandon_list(h, h->cls[c].full);
	}
	_strata_heap = &heap_dead;
	heap_release_delayed(h); /* frees that raced the abandon */
	heap_pool_put(h);
}

static void heap_large_check(struct page *pg);

/* The first object of list, of slab s (NULL: of any slab), whose link or
 * key was written after its free, or that is not s's, or past its max
 * objects (a link overwritten so that it still decodes to a free object of
 * the slab can make a loop, which the count stops); NULL if none. */
static void *heap_verify_list(const struct page *s, void *list, uint32_t max)
{
	uint32_t n = 0;
	void    *next;
	for (void *q = list; q; q = next)
		if (unlikely((s && !slab_owns(s, q)) || ++n > max || !link_try_next(q, &next)))
			return q;
	return NULL;
}

/* The local lists of the slabs on a list of h's. */
static void *heap_verify_slabs(const struct page *s)
{
	void *bad = NULL;
	for (; s && !bad; s = s->next)
		bad = heap_verify_list(s, s->local_free, _strata_classes[s->cls].capacity);
	return bad;
}

/* h's lists of class c; for a shared heap, also the local lists of its
 * other slabs (few: its blocks are the recorded ones and those of threads
 * without a heap).  The first bad object, or NULL. */
static void *heap_verify_class(struct heap *h, unsigned c)
{
	struct heap_fast *f = heap_slot(h, c);
	uint32_t          cap = _strata_classes[c].capacity;
	void             *bad;
	if (f->current
	    && ((bad = heap_verify_list(f->current, heap_free_list(f), cap))
	        || (bad = heap_verify_list(f->current, f->local, cap))
	        || (bad = heap_verify_list(f->current, f->aside, cap))
	        || (bad = heap_verify_list(f->current, f->current->local_free, cap))))
		return bad;
	if ((bad = heap_verify_list(NULL, f->foreign, f->nforeign)))
		return bad;
	if (!heap_is_shared(h))
		return NULL;
	if ((bad = heap_verify_slabs(h->cls[c].partial)))
		return bad;
	return heap_verify_slabs(h->cls[c].full);
}

static void *heap_verify_classes(struct heap *h)
{
	void *bad = NULL;
	for (unsigned c = 0; c < NUM_CLASSES && !bad; c++)
		bad = heap_verify_class(h, c);
	return bad;
}

/* At exit: the lists the calling thread's heap keeps of each class (the
 * free list, the local list and the current slab's, the other heaps'
 * objects) hold free objects with their links and keys intact, and so do
 * its kept large runs: a write after free, or an overflow into the next
 * free object, that no malloc met stops the program here rather than going
 * unnoticed.  A few thousand objects a class at most (one slab's, and the
 * foreign list's cap).  The same for the shared heaps, under their locks:
 * the blocks leak tracking recorded go back to them (heap_sample). */
void heap_verify(void)
{
	for (unsigned i = 0; i < _strata_narenas; i++) {
		struct heap *s = &shared_heaps[i];
		lock_acquire(&s->lock);
		void *bad = heap_verify_classes(s);
		lock_release(&s->lock);
		if (bad) /* reported unlocked: the message may allocate */
			_strata_freelist_corrupt(bad);
	}
	struct heap *h = _strata_heap;
	if (h->state != HEAP_LIVE)
		return;
	void *bad = heap_verify_classes(h);
	if (bad)
		_strata_freelist_corrupt(bad);
	for (uint32_t i = 0; i < h->nlarge; i++)
		heap_large_check(h->large[i]);
}

/* ------------------------------------------------------------------------
 * Large runs and large call counts
 * ---------------------------------------------------------------------- */
void heap_count_large(bool is_free, int64_t n)
{
	struct heap *h = heap_get();
	if (h == NULL) {
		__atomic_fetch_add(&heapless_large[is_free], (uint64_t)n, __ATOMIC_RELAXED);
		return;
	}
	if (is_free)
		h->large_frees += (uint64_t)n;
	else
		h->large_mallocs += (uint64_t)n;
}

/* A kept run's first 16 bytes hold a free list's end (link and key) from
 * its keep to its reuse or release: a write after free through its
 * pointer shows there. */
static void heap_large_check(struct page *pg)
{
	link_check_end(page_address(pg));
}

static struct page *heap_large_remove(struct heap *h, uint32_t i)
{
	struct page *pg = h->large[i];
	heap_large_check(pg);
	for (uint32_t j = i + 1; j < h->nlarge; j++)
		h->large[j - 1] = h->large[j];
	h->nlarge--;
	h->large_bytes -= (size_t)pg->npages << PAGE_SHIFT;
	pg->flags &= (uint8_t)~PG_CACHED;
	return pg;
}

/* A cached run of exactly npages, or NULL.  Unless last_too (the arena has
 * none), the run freed last waits while the cache could keep it beside the
 * new one (as kept huge blocks do): a write through the pointer just freed
 * lands in a kept run, whose mark is checked, rather than in the next
 * block of its size, which does not hold what the freed one held.  A loop
 * that frees and allocates a buffer then alternates between two runs. */
struct page *heap_large_take(struct heap *h, size_t npages, bool last_too)
{
	uint32_t n = h->nlarge;
	if (n > 0 && !last_too && h->large_bytes + (npages << PAGE_SHIFT) <= HEAP_LARGE_BYTES)
		n--;
	for (uint32_t i = n; i-- > 0;)
		if (h->large[i]->npages == npages)
			return heap_large_remove(h, i);
	return NULL;
}

/* Keep a freed run for reuse; false when it is not worth caching. */
bool heap_large_keep(struct heap *h, struct page *pg)
{
	size_t bytes = (size_t)pg->npages << PAGE_SHIFT;
	if (h == NULL || h->state != HEAP_LIVE || h->nocache
	    || large_usable(pg) > ((size_t)HEAP_LARGE_MAX_PAGES << PAGE_SHIFT))
		return false;
	link_set(page_address(pg), NULL);
	while (h->nlarge > 0
	       && (h->nlarge == HEAP_LARGE_SLOTS || h->large_bytes + bytes > HEAP_LARGE_BYTES))
		large_free(heap_large_remove(h, 0));
	pg->flags |= PG_CACHED;
	h->large[h->nlarge++] = pg;
	h->large_bytes += bytes;
	return true;
}
