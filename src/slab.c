/*
 * slab.c - size-class caches, the kernel's slab idea on top of the buddy.
 *
 * A slab is a buddy block of 2^order pages carved into objects of one size
 * class.  Every page of a slab is PAGE_SLAB with the class in its descriptor
 * and slab_off, its byte offset in the slab, so free() finds the class of any
 * object, and checks that the pointer starts one, from that one descriptor.
 * The head descriptor keeps the slab's state: inuse (objects handed out), a
 * freelist of returned objects linked through their first word, and bump,
 * the index below which objects have been handed out at least once; objects
 * past bump are carved lazily, so a new slab touches only the memory it
 * gives out.  Each tail page keeps its own bump: one past the last object
 * carved that starts in it, so that "was this object ever handed out" is
 * idx < bump of the page the object starts in (the head's bump is at least
 * that for the head page).
 *
 * Per arena and class, slabs with a free object sit on the bin's partial
 * list; full slabs are on no list; a slab that empties goes back to the buddy
 * unless it is the last partial one of its class (kept warm against
 * ping-pong).  Everything here runs under the arena lock.
 */
#include "slab.h"
#include "debug.h"
#include "dlist.h"
#include "buddy.h"

struct size_class _strata_classes[NUM_CLASSES];

/* size_to_class(16 * i) for i = 0..64; tests/test_sizeclass.c checks it
 * against the arithmetic for every size. */
const uint8_t _strata_class_table[CLASS_TABLE_MAX / MIN_ALIGN + 1] = {
	0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 8, 9, 9, 10, 10, 11,
	11, 12, 12, 12, 12, 13, 13, 13, 13, 14, 14, 14, 14, 15, 15, 15,
	15, 16, 16, 16, 16, 16, 16, 16, 16, 17, 17, 17, 17, 17, 17, 17,
	17, 18, 18, 18, 18, 18, 18, 18, 18, 19, 19, 19, 19, 19, 19, 19,
	19,
};

/* ------------------------------------------------------------------------
 * Class table
 * ---------------------------------------------------------------------- */
static bool slab_order_fits(size_t size, unsigned order)
{
	size_t bytes = PAGE_SIZE << order;
	size_t objects = bytes / size;
	return objects >= SLAB_MIN_OBJECTS && bytes % size <= bytes >> SLAB_WASTE_SHIFT;
}

/* The smallest order that holds enough objects with little tail waste; the
 * biggest classes cannot hold SLAB_MIN_OBJECTS, they take the order that
 * wastes least, the larger one on a tie (more objects per slab). */
static unsigned slab_order_for(size_t size)
{
	unsigned best = SLAB_MAX_ORDER;
	size_t best_waste = SIZE_MAX;
	for (unsigned o = 0; o <= SLAB_MAX_ORDER; o++) {
		size_t bytes = PAGE_SIZE << o;
		if (bytes < size)
			continue;
		if (slab_order_fits(size, o))
			return o;
		size_t waste = ((bytes % size) << 10) / bytes;   /* in 1/1024ths */
		if (waste <= best_waste) {
			best_waste = waste;
			best = o;
		}
	}
	return best;
}

/* d^-1 modulo 2^32 for odd d, by Newton's iteration (each step doubles the
 * correct low bits; d is its own inverse modulo 8). */
static uint32_t odd_inverse(uint32_t d)
{
	uint32_t x = d;
	for (int i = 0; i < 4; i++)
		x *= 2 - d * x;
	return x;
}

void slab_classes_init(void)
{
	for (unsigned c = 0; c < NUM_CLASSES; c++) {
		struct size_class *sc = &_strata_classes[c];
		sc->size = (uint32_t)class_size_of(c);
		sc->shift = (uint8_t)__builtin_ctz(sc->size);
		sc->inverse = odd_inverse(sc->size >> sc->shift);
		sc->order = (uint8_t)slab_order_for(sc->size);
		sc->capacity = (uint32_t)((PAGE_SIZE << sc->order) / sc->size);
	}
}

/* ------------------------------------------------------------------------
 * Partial lists
 * ---------------------------------------------------------------------- */
static void partial_add(struct slab_bin *bin, struct page *head)
{
	dlist_push(bin->partial, head);
	bin->nr_partial++;
	head->flags |= PG_PARTIAL;
}

static void partial_del(struct slab_bin *bin, struct page *head)
{
	dlist_del(bin->partial, head);
	bin->nr_partial--;
	head->flags &= (uint8_t)~PG_PARTIAL;
}

/* ------------------------------------------------------------------------
 * Slab creation and release
 * ---------------------------------------------------------------------- */
static void *slab_carve(struct page *head);

/* The debug mode fills a slab (so objects never handed out look freed) and
 * keeps its first object as a guard: every object handed out then has one
 * below it, whose tail shows an underflow (debug.c). */
static void slab_debug_init(struct page *head)
{
	debug_fill(page_address(head), PAGE_SIZE << head->order);
	slab_carve(head);
	head->inuse = 1;
}

/* A slab with no object handed out: inuse counts the debug mode's guard. */
static bool slab_empty(const struct page *head)
{
	return head->inuse == (debug_mode() ? 1u : 0u);
}

static struct page *slab_new(struct arena *a, unsigned cls)
{
	unsigned order = _strata_classes[cls].order;
	struct page *head = buddy_alloc(a, order);
	if (head == NULL) {
		if (!arena_grow(a))
			return NULL;
		head = buddy_alloc(a, order);
		if (head == NULL)
			return NULL;
	}
	size_t npages = (size_t)1 << order;
	for (size_t i = 0; i < npages; i++) {
		head[i].state = PAGE_SLAB;
		head[i].cls = (uint8_t)cls;
		head[i].order = (uint8_t)order;
		head[i].slab_off = (uint32_t)(i << PAGE_SHIFT);
		head[i].inverse = _strata_classes[cls].inverse;
		head[i].shift = _strata_classes[cls].shift;
		head[i].samples = 0;
		__atomic_store_n(&head[i].bump, 0, __ATOMIC_RELAXED);
	}
	head->flags = 0;
	head->inuse = 0;
	head->freelist = NULL;
	a->stats.slab_pages += npages;
	if (unlikely(debug_mode()))
		slab_debug_init(head);
	a->bins[cls].slabs++;
	partial_add(&a->bins[cls], head);
	return head;
}

static void slab_release(struct arena *a, struct page *head)
{
	unsigned cls = head->cls, order = head->order;
	size_t npages = (size_t)1 << order;
	partial_del(&a->bins[cls], head);
	if (unlikely(debug_mode()))
		debug_fill(page_address(head), npages << PAGE_SHIFT);   /* links, keys */
	for (size_t i = 1; i < npages; i++)
		head[i].state = PAGE_NONE;
	a->stats.slab_pages -= npages;
	a->bins[cls].slabs--;
	buddy_free(a, head, order, true);
}

/* ------------------------------------------------------------------------
 * Allocation: a batch of objects for a thread cache
 * ---------------------------------------------------------------------- */

/* Hand out the next never-used object, advancing the slab's bump and that
 * of the page the object starts in. */
static void *slab_carve(struct page *head)
{
	uint32_t idx = head->bump;
	char *p = slab_object(head, idx);
	struct page *pg = head + (((size_t)idx * class_size(head->cls)) >> PAGE_SHIFT);
	__atomic_store_n(&head->bump, idx + 1, __ATOMIC_RELAXED);
	if (pg != head)
		__atomic_store_n(&pg->bump, idx + 1, __ATOMIC_RELAXED);
	return p;
}

/* Next free object of a partial slab: a returned one first (it is warm),
 * else the next never-used one. */
/* Is q an object this slab has carved?  Every object on a slab's freelist
 * is its own, so a link that leads elsewhere was forged. */
static bool slab_owns(const struct page *head, const void *q)
{
	size_t off = (size_t)((const char *)q - (const char *)page_address(head));
	return off < (PAGE_SIZE << head->order)
	       && slab_index_by(off, head->inverse, head->shift) < slab_bump(head);
}

static void *slab_take(struct page *head)
{
	void *p = head->freelist;
	if (p) {
		void *next = link_next(p);
		if (unlikely(next != NULL && !slab_owns(head, next)))
			_strata_freelist_corrupt(p);
		head->freelist = next;
	} else {
		p = slab_carve(head);
	}
	head->inuse++;
	return p;
}

static bool slab_full(const struct page *head)
{
	return head->freelist == NULL && slab_bump(head) == _strata_classes[head->cls].capacity;
}

/* Take up to want objects of class cls and link them into *list (first word
 * the next pointer, second word the free key).  Returns how many. */
unsigned slab_alloc_batch(struct arena *a, unsigned cls, void **list, unsigned want)
{
	struct slab_bin *bin = &a->bins[cls];
	void *first = NULL;
	unsigned got = 0;

	while (got < want) {
		struct page *head = bin->partial;
		if (head == NULL && (head = slab_new(a, cls)) == NULL)
			break;
		while (got < want && !slab_full(head)) {
			void *p = slab_take(head);
			link_set(p, first);
			first = p;
			got++;
		}
		if (slab_full(head))
			partial_del(bin, head);
	}
	bin->objects_out += got;
	*list = first;
	return got;
}

/* ------------------------------------------------------------------------
 * Free
 * ---------------------------------------------------------------------- */
void slab_free_object(struct arena *a, void *p)
{
	struct region *r = region_of(p);
	struct page *head = slab_head(page_of(r, p));
	unsigned cls = head->cls;
	struct slab_bin *bin = &a->bins[cls];

	/* The last line against a double free the free path could not see
	 * (the first copy sat in another thread's cache): cheap, not complete;
	 * the duplicate that gets past is caught by its key when taken. */
	if (unlikely(slab_empty(head) || head->freelist == p))
		_strata_fatal("double free of %p", p);
	link_set(p, head->freelist);
	head->freelist = p;
	head->inuse--;
	bin->objects_out--;
	if (!(head->flags & PG_PARTIAL))
		partial_add(bin, head);
	else if (slab_empty(head) && bin->nr_partial > 1)
		slab_release(a, head);
}

/* Give back the empty slabs kept warm on the partial lists. */
size_t slab_trim(struct arena *a)
{
	size_t released = 0;
	for (unsigned c = 0; c < NUM_CLASSES; c++) {
		struct page *head = a->bins[c].partial;
		while (head) {
			struct page *next = head->next;
			if (slab_empty(head)) {
				released += PAGE_SIZE << head->order;
				slab_release(a, head);
			}
			head = next;
		}
	}
	return released;
}

bool slab_freelist_contains(struct page *head, const void *p)
{
	uint32_t limit = head->bump;   /* a longer walk means a corrupt list */
	for (const void *q = head->freelist; q && limit; q = link_next(q), limit--)
		if (q == p)
			return true;
	return false;
}
