/* SPDX-License-Identifier: MIT */
/*
 * slab.c - size-class caches, the kernel's slab idea on top of the buddy,
 * with each slab owned by one heap (free-list sharding).
 *
 * A slab is a buddy block of 2^order pages carved into objects of one size
 * class.  Every page of a slab is PAGE_SLAB with the class, slab_off (its
 * byte offset in the slab), bump and the owning heap in its descriptor, so
 * free() finds the class of any object, checks that the pointer starts one,
 * and tells its owner's frees from the others', from that one descriptor.
 *
 * The head descriptor keeps the slab's state:
 *   - bump: objects below it have been carved (handed out at least once);
 *     objects past it are carved lazily, so a new slab touches only the
 *     memory it gives out.  Each tail page keeps its own bump, one past the
 *     last object carved that starts in it, so "was this object ever handed
 *     out" is idx < bump of the page the object starts in;
 *   - local_free: objects the owner freed, linked through themselves (plain
 *     stores: only the owner touches it);
 *   - inuse: carved objects not on local_free (handed to the program, on
 *     the owner's free list, or freed by other threads and not collected
 *     yet), with SLAB_INUSE_FULL while the slab is on the full list;
 *   - remote: objects other threads freed, an atomic list (one
 *     compare-and-swap per free); the owner collects it when it needs
 *     objects, and then counts them off inuse;
 *   - list, next, prev: which of the owner's lists it is on (heap.c).
 *
 * The owner moves whole lists, never single objects: its heap's free list
 * is the slab's local list taken at once (slab_take_local), or a batch just
 * carved.  A slab whose objects have all come back empties, and the owner
 * gives it back to the buddy (or parks it).  The functions that create,
 * release or re-own a slab run under the arena lock; those that touch one
 * slab's lists run in its owner's thread; slab_push_remote in any thread.
 */
#include "slab.h"
#include "debug.h"
#include "dlist.h"
#include "buddy.h"

struct size_class _strata_classes[NUM_CLASSES];
uint64_t          _strata_class_inverse64[NUM_CLASSES];

/* ------------------------------------------------------------------------
 * Class table
 * ---------------------------------------------------------------------- */
static bool slab_order_fits(size_t size, unsigned order, size_t min_objects)
{
	size_t bytes = PAGE_SIZE << order;
	size_t objects = bytes / size;
	return objects >= min_objects && bytes % size <= bytes >> SLAB_WASTE_SHIFT;
}

/* The smallest order up to max_order that holds min_objects with little
 * tail waste; the biggest objects cannot hold that many, they take the
 * order that wastes least, the larger one on a tie (more objects per
 * slab). */
unsigned slab_order_for(size_t size, unsigned max_order, size_t min_objects)
{
	unsigned best = max_order;
	size_t   best_waste = SIZE_MAX;
	for (unsigned o = 0; o <= max_order; o++) {
		size_t bytes = PAGE_SIZE << o;
		if (bytes < size)
			continue;
		if (slab_order_fits(size, o, min_objects))
			return o;
		size_t waste = ((bytes % size) << 10) / bytes; /* in 1/1024ths */
		if (waste <= best_waste) {
			best_waste = waste;
			best = o;
		}
	}
	return best;
}

/* d^-1 modulo 2^64 for odd d, by Newton's iteration (each step doubles the
 * correct low bits; d is its own inverse modulo 8). */
uint64_t odd_inverse64(uint64_t d)
{
	uint64_t x = d;
	for (int i = 0; i < 5; i++) /* 3, 6, 12, 24, 48, 96 bits */
		x *= 2 - d * x;
	return x;
}

/* ... modulo 2^32: the same, its low half. */
uint32_t odd_inverse(uint32_t d)
{
	return (uint32_t)odd_inverse64(d);
}

void slab_classes_init(void)
{
	for (unsigned c = 0; c < NUM_CLASSES; c++) {
		struct size_class *sc = &_strata_classes[c];
		sc->size = (uint32_t)class_size_of(c);
		sc->shift = (uint8_t)__builtin_ctz(sc->size);
		sc->inverse = odd_inverse(sc->size >> sc->shift);
		_strata_class_inverse64[c] = odd_inverse64(sc->size >> sc->shift);
		sc->order = (uint8_t)slab_order_for(sc->size, SLAB_MAX_ORDER,
		                                    slab_min_objects(sc->size));
		sc->capacity = (uint32_t)((PAGE_SIZE << sc->order) / sc->size);
		sc->relist = (uint16_t)MAX(sc->capacity >> SLAB_RELIST_SHIFT, 1);
	}
}

/* ------------------------------------------------------------------------
 * Carving
 * ---------------------------------------------------------------------- */

/* Hand out the next never-used object of a slab of objects of `size`
 * bytes, advancing the slab's bump and that of the page the object starts
 * in. */
void *slab_carve_sized(struct page *head, size_t size)
{
	void *list = NULL;
	slab_carve_onto(head, size, 1, &list);
	return list;
}

/* count never-used objects of `size` bytes, in address order, put in
 * front of *list.  The pages they start in get bump end, past every one of
 * them (a page between those where no object starts is never passed by the
 * object check anyway), and the objects are linked in one tight pass. */
void slab_carve_onto(struct page *head, size_t size, unsigned count, void **list)
{
	uint32_t start = head->bump, end = start + count;
	if (count == 0)
		return;
	size_t first = ((size_t)start * size) >> PAGE_SHIFT;
	size_t last = ((size_t)(end - 1) * size) >> PAGE_SHIFT;
	for (size_t k = first; k <= last; k++)
		__atomic_store_n(&head[k].bump, end, __ATOMIC_RELAXED);
	__atomic_store_n(&head->bump, end, __ATOMIC_RELAXED);
	struct link_keys keys = link_keys();
	char            *base = (char *)page_address(head);
	char            *stop = base + (size_t)start * size; /* the first object */
	char            *p = base + (size_t)(end - 1) * size;
	void            *l = *list;
	for (;; p -= size) { /* bounded by pointers: no counter to keep */
		link_set_with(p, l, keys);
		l = p;
		if (p == stop)
			break;
	}
	*list = l;
}

/* Carve up to max never-used objects into a list (first one first);
 * *n gets how many.  They count as in use from now on. */
void *slab_carve(struct page *head, unsigned max, unsigned *n)
{
	uint32_t left = _strata_classes[head->cls].capacity - head->bump;
	unsigned count = MIN(max, left);
	void    *first = NULL;
	slab_carve_onto(head, class_size(head->cls), count, &first);
	head->inuse += count;
	strata_assert(slab_inuse(head) <= head->bump);
	*n = count;
	return first;
}

/* ------------------------------------------------------------------------
 * Slab creation and release (arena lock held)
 * ---------------------------------------------------------------------- */

/* The debug mode fills a slab (so objects never handed out look freed) and
 * keeps its first object as a guard: every object handed out then has one
 * below it, whose tail shows an underflow (debug.c). */
static void slab_debug_init(struct page *head)
{
	debug_fill(page_address(head), PAGE_SIZE << head->order);
	slab_carve_sized(head, class_size(head->cls));
	head->inuse = 1;
}

uint32_t slab_guard_objects(void)
{
	return debug_mode() ? 1u : 0u;
}

static void slab_pages_init(struct page *head, unsigned cls, unsigned order, void *owner)
{
	size_t npages = (size_t)1 << order;
	for (size_t i = 0; i < npages; i++) {
		struct page *pg = &head[i];
		pg->state = PAGE_SLAB;
		pg->cls = (uint8_t)cls;
		pg->order = (uint8_t)order;
		pg->slab_off = (uint32_t)(i << PAGE_SHIFT);
		pg->inverse = _strata_classes[cls].inverse;
		pg->shift = _strata_classes[cls].shift;
		pg->samples = 0;
		__atomic_store_n(&pg->bump, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&pg->owner, owner, __ATOMIC_RELAXED);
	}
}

struct page *slab_new(struct arena *a, unsigned cls, void *owner)
{
	arena_assert_locked(a);
	strata_assert(cls < NUM_CLASSES);
	unsigned     order = _strata_classes[cls].order;
	struct page *head = buddy_alloc(a, order);
	if (head == NULL) {
		if (!arena_grow(a))
			return NULL;
		head = buddy_alloc(a, order);
		if (head == NULL)
			return NULL;
	}
	slab_pages_init(head, cls, order, owner);
	head->flags = 0;
	head->list = SLAB_UNLISTED;
	head->inuse = 0;
	head->local_free = NULL;
	head->remote = 0;
	head->next = head->prev = NULL;
	a->stats.slab_pages += (size_t)1 << order;
	a->bins[cls].slabs++;
	arena_note_active(a);
	if (unlikely(debug_mode()))
		slab_debug_init(head);
	return head;
}

/* An empty slab, on no list, back to the buddy. */
void slab_release(struct arena *a, struct page *head)
{
	unsigned cls = head->cls, order = head->order;
	size_t   npages = (size_t)1 << order;
	arena_assert_locked(a);
	strata_assert(head->list == SLAB_UNLISTED && slab_empty(head));
	if (unlikely(debug_mode()))
		debug_fill(page_address(head), npages << PAGE_SHIFT); /* links, keys */
	for (size_t i = 0; i < npages; i++) {
		head[i].state = PAGE_NONE;
		__atomic_store_n(&head[i].owner, NULL, __ATOMIC_RELAXED);
	}
	a->stats.slab_pages -= npages;
	a->bins[cls].slabs--;
	buddy_free(a, head, order, true);
}

/* Give the slab to another heap (or to none), keeping each page's sampled
 * tag. */
void slab_set_owner(struct page *head, void *owner)
{
	size_t npages = (size_t)1 << head->order;
	for (size_t i = 0; i < npages; i++) {
		uintptr_t tag = (uintptr_t)page_owner_tag(&head[i]) & OWNER_SAMPLED;
		__atomic_store_n(&head[i].owner, (void *)((uintptr_t)owner | tag),
		                 __ATOMIC_RELAXED);
	}
}

/* A page that holds blocks recorded by leak tracking goes PAGE_SAMPLED and
 * tags its owner, so free's fast path does not take it (sample.c). */
void slab_mark_sampled(struct page *pg, bool sampled)
{
	uintptr_t owner = (uintptr_t)page_owner(pg);
	__atomic_store_n(&pg->owner, (void *)(owner | (sampled ? OWNER_SAMPLED : 0)),
	                 __ATOMIC_RELAXED);
	__atomic_store_n(&pg->state, sampled ? PAGE_SAMPLED : PAGE_SLAB, __ATOMIC_RELAXED);
}

/* ------------------------------------------------------------------------
 * The owner's lists
 * ---------------------------------------------------------------------- */

/* Is q an object this slab has carved?  Every object on a slab's lists is
 * its own, so a link that leads elsewhere was forged. */
bool slab_owns(const struct page *head, const void *q)
{
	size_t off = (size_t)((const char *)q - (const char *)page_address(head));
	return off < (PAGE_SIZE << head->order)
	       && slab_index_by(off, head->inverse, head->shift) < slab_bump(head);
}

/* The length of a free list, for strata_assert_expensive; past limit
 * (a loop) it stops, at limit + 1. */
static size_t free_list_length(void *list, size_t limit)
{
	size_t n = 0;
	for (void *p = list; p && n <= limit; p = link_next(p))
		n++;
	return n;
}

/* Take the whole local list: every object on it counts as in use again.
 * *n gets its length, known without a walk: carved = local + inuse. */
void *slab_take_local(struct page *head, unsigned *n)
{
	void *list = head->local_free;
	*n = head->bump - slab_inuse(head);
	strata_assert(slab_inuse(head) <= head->bump);
	strata_assert_expensive(free_list_length(list, head->bump) == *n);
	head->local_free = NULL;
	head->inuse += *n;
	return list;
}

/* The last object of a remote list, counting and checking each link: a
 * list longer than the objects in use holds one object twice. */
static void *remote_tail(struct page *head, void *list, unsigned *n)
{
	uint32_t limit = slab_inuse(head);
	void    *tail = list;
	*n = 1;
	for (void *q = link_next(tail); q; q = link_next(tail)) {
		if (unlikely(!slab_owns(head, q)))
			_strata_freelist_corrupt(tail);
		if (unlikely(++*n > limit))
			_strata_fatal("double free of an object of the slab at %p (freed by "
			              "another thread)",
			              page_address(head));
		tail = q;
	}
	return tail;
}

/* Move what other threads freed onto the local list; returns how many. */
unsigned slab_collect_remote(struct page *head)
{
	uintptr_t w = __atomic_load_n(&head->remote, __ATOMIC_RELAXED);
	if (w == 0 || w == REMOTE_FULL)
		return 0;
	void    *list = (void *)__atomic_exchange_n(&head->remote, 0, __ATOMIC_ACQUIRE);
	unsigned n;
	void    *tail = remote_tail(head, list, &n);
	link_set(tail, head->local_free);
	head->local_free = list;
	head->inuse -= n;
	return n;
}

/* The slab is exhausted and leaves its heap's free list: mark it full, so
 * that the first free into it (the owner's, through inuse; another
 * thread's, through the remote word) tells the owner.  false, and nothing
 * marked, when other threads' frees arrived meanwhile: collect those.  A
 * remote word that still holds the mark from an earlier time needs no
 * atomic operation: the first other thread to free into the slab takes
 * it, and its object goes to the owner's delayed list either way. */
bool slab_retire_full(struct page *head)
{
	uintptr_t w = __atomic_load_n(&head->remote, __ATOMIC_ACQUIRE);
	if (w != REMOTE_FULL
	    && (w != 0
	        || !__atomic_compare_exchange_n(&head->remote, &w, REMOTE_FULL, false,
	                                        __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)))
		return false;
	head->inuse |= SLAB_INUSE_FULL;
	return true;
}

/* The owner freed into its full slab: no longer full.  The remote word
 * keeps its mark, if no other thread took it: clearing it would cost an
 * atomic operation, which waits for every store before it (the frees'
 * links into cold memory); a later remote free that takes the mark sends
 * its object to the owner's delayed list, where it is freed like any
 * other, and the next retire finds the mark in place. */
void slab_unretire(struct page *head)
{
	head->inuse &= ~SLAB_INUSE_FULL;
}

/* The owner's first free into its full slab (inuse is the capacity less
 * one, marked): start counting the frees down to the class's relist, the
 * full mark of the remote word kept, so that another thread's free still
 * tells the owner (heap.c ends the count then).  false when the class
 * relists at once: then the caller unretires the slab. */
bool slab_refill_start(struct page *head)
{
	uint32_t relist = _strata_classes[head->cls].relist;
	strata_assert(slab_inuse(head) == _strata_classes[head->cls].capacity - 1);
	if (relist <= 1)
		return false;
	head->inuse = relist - 1;
	head->list = SLAB_REFILLING;
	return true;
}

/* Back to a plain count, the remote word's mark gone: the slab may go on
 * the partial list (or be abandoned). */
void slab_refill_end(struct page *head)
{
	strata_assert(head->list == SLAB_REFILLING);
	head->inuse = slab_inuse(head);
	head->list = SLAB_FULL;
	slab_unretire(head);
}

bool slab_freelist_contains(const struct page *head, const void *p)
{
	uint32_t limit = head->bump; /* a longer walk means a corrupt list */
	for (const void *q = head->local_free; q && limit; q = link_next(q), limit--)
		if (q == p)
			return true;
	return false;
}

/* ------------------------------------------------------------------------
 * Other threads' frees
 * ---------------------------------------------------------------------- */

/* Push p on the slab's remote list.  false when the slab was marked full:
 * then p was not pushed, the mark is gone, and the caller hands p to the
 * owner (heap_free_delayed), which must hear that the slab has room. */
bool slab_push_remote(struct page *head, void *p)
{
	uintptr_t old = __atomic_load_n(&head->remote, __ATOMIC_RELAXED);
	for (;;) {
		if (old == REMOTE_FULL) {
			if (__atomic_compare_exchange_n(&head->remote, &old, 0, false,
			                                __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
				return false;
			continue;
		}
		link_set(p, (void *)old);
		if (__atomic_compare_exchange_n(&head->remote, &old, (uintptr_t)p, true,
		                                __ATOMIC_RELEASE, __ATOMIC_RELAXED))
			return true;
	}
}

/* Abandoned slabs have no owner to collect what other threads free into
 * them: the decay does, under the arena lock, and gives back those that
 * emptied, so a program whose threads come and go does not keep their
 * slabs until a heap adopts them.  Called from arena_decay (its reclaim
 * hook). */
void slab_reclaim_abandoned(struct arena *a)
{
	arena_assert_locked(a);
	for (unsigned c = 0; c < NUM_CLASSES; c++) {
		struct slab_bin *bin = &a->bins[c];
		for (struct page *s = bin->abandoned, *next; s; s = next) {
			next = s->next;
			slab_collect_remote(s);
			if (!slab_empty(s))
				continue;
			dlist_del(bin->abandoned, s);
			bin->nr_abandoned--;
			s->list = SLAB_UNLISTED;
			slab_release(a, s);
		}
	}
}
