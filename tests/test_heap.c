/* SPDX-License-Identifier: MIT */
/* Tests for src/heap.c: the free lists, the owner's and other threads'
 * frees, full and empty slabs, thread exit and adoption, large runs. */
#include <criterion/criterion.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "heap.h"
#include "options.h"
#include "sample.h"
#include "slab.h"
#include "strata.h"

/* The calling thread's heap, set up.  No leak sample is due in these
 * tests unless one asks for it (sample_left = 0): a recorded block comes
 * from the shared heap, not from the slab a test watches. */
static struct heap *me(void)
{
	free(malloc(1));
	_strata_heap->sample_left = INT64_MAX / 2;
	return _strata_heap;
}

static struct page *slab_of(void *p)
{
	return slab_head(page_of(region_of(p), p));
}

/* A free made now: one into a slab other than the current one waits in
 * the heap's ring otherwise (heap_defer_free). */
static void free_now(void *p)
{
	free(p);
	heap_free_pending_self();
}

static unsigned list_length(void *list)
{
	unsigned n = 0;
	for (void *q = list; q; q = link_next(q))
		n++;
	return n;
}

Test(heap, the_first_malloc_sets_up_the_heap_and_a_free_list)
{
	void        *p = malloc(200);
	struct heap *h = _strata_heap;
	unsigned     c = size_to_class(200);
	cr_assert_eq(h->state, HEAP_LIVE);
	cr_assert_eq(h->fast[c].current, slab_of(p), "the object comes from the current slab");
	cr_assert_not_null(heap_free_list(&h->fast[c]), "the rest of a carve is on the free list");
	cr_assert_eq(slab_heap(page_of(region_of(p), p)), h, "the slab is the heap's");
	void *next = heap_free_list(&h->fast[c]);
	free(p);
	cr_assert_eq(h->fast[c].local, p,
	             "a free of the current slab's object goes on the local list");
	cr_assert_eq(heap_free_list(&h->fast[c]), next, "and leaves the free list as it was");
	void *q = malloc(200);
	cr_assert_eq(q, next,
	             "the next malloc takes the free list's first, not the block just freed");
	free(q);
	cr_assert_eq(h->fast[c].local, q);
	cr_assert_eq(link_next(q), p, "LIFO on the local list");
}

/* Whatever the state of the class's lists (the free list at its end, or
 * empty, one or two objects on the local list, the current slab used up),
 * the block freed last is not the next one malloc returns.  (It can be in
 * classes of slabs of fewer than 32 objects, which go back to the partial
 * list at their first free: such a slab with it alone may come next.) */
Test(heap, the_block_freed_last_is_not_the_next)
{
	static void *kept[3000];
	for (size_t size = 32; size <= 256; size *= 2)
		for (int i = 0; i < 3000; i++) {
			kept[i] = malloc(size); /* moves the free list on by one */
			void *a = malloc(size);
			free(a);
			void *b = malloc(size);
			cr_assert_neq(b, a, "%zu bytes, step %d: one freed", size, i);
			void *c = malloc(size);
			free(b);
			free(c);
			void *d = malloc(size);
			cr_assert_neq(d, c, "%zu bytes, step %d: two freed", size, i);
			free(d);
			if (i % 7 == 0) /* and frees between */
				free(kept[i / 2]), kept[i / 2] = NULL;
		}
}

/* A few dozen blocks of a class of a few hundred bytes, replaced at
 * random, live in one slab, the class's current one: after the first
 * replacements, nearly every free goes to the current slab's local list,
 * not to other slabs' lists nor the foreign list (slab.h, SLAB_MID_BYTES). */
Test(heap, a_few_dozen_blocks_replaced_at_random_stay_in_the_current_slab)
{
	struct heap *h = me();
	unsigned     c = size_to_class(500);
	enum { LIVE = 40, WARM = 4000, OPS = 20000 };
	static void *p[LIVE];
	strata_thread_flush();
	for (int i = 0; i < LIVE; i++)
		p[i] = malloc(500);
	unsigned          x = 1;
	struct heap_fast *f = &h->fast[c];
	uint64_t          other = 0, listed = 0;
	for (int i = 0; i < WARM + OPS; i++) {
		if (i == WARM) {
			heap_free_pending_self();
			other = f->nfree_local + f->nfree_other;
			listed = f->nfree_listed;
		}
		x = x * 1103515245u + 12345u;
		unsigned k = (x >> 8) % LIVE;
		free(p[k]);
		p[k] = malloc(500);
	}
	heap_free_pending_self();
	other = f->nfree_local + f->nfree_other - other;
	listed = f->nfree_listed - listed;
	cr_assert_lt(other, OPS / 50, "%lu of %d frees into other slabs or the foreign list",
	             (unsigned long)other, OPS);
	cr_assert_gt(listed, OPS - OPS / 50, "%lu frees into the current slab",
	             (unsigned long)listed);
	for (int i = 0; i < LIVE; i++)
		free(p[i]);
	cr_assert_eq(strata_check_heap(), 0);
}

Test(heap, a_thousand_frees_in_a_row_need_no_bound)
{
	struct heap *h = me();
	unsigned     c = size_to_class(64);
	static void *p[1000];
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 1000; i++)
			p[i] = malloc(64);
		for (int i = 0; i < 1000; i++)
			free(p[i]);
		cr_assert_eq(strata_check_heap(), 0);
	}
	cr_assert_not_null(h->cls[c].parked, "slabs that emptied are parked for the next round");
	cr_assert_leq(h->parked_bytes, (size_t)256 << 10);
}

Test(heap, emptied_slabs_beyond_the_budget_go_back_to_the_arena)
{
	me();
	unsigned      c = size_to_class(4000);
	struct arena *a = _strata_heap->arena;
	size_t        slabs_before = a->bins[c].slabs;
	enum { N = 2000 }; /* 8 MB, far past the parking budget */
	static void *p[N];
	for (int i = 0; i < N; i++)
		p[i] = malloc(4000);
	size_t slabs_full = a->bins[c].slabs;
	cr_assert_gt(slabs_full, slabs_before + 100);
	for (int i = 0; i < N; i++)
		free(p[i]);
	cr_assert_lt(a->bins[c].slabs, slabs_before + 20, "%zu slabs left of %zu", a->bins[c].slabs,
	             slabs_full);
	cr_assert_eq(strata_check_heap(), 0);
}

Test(heap, calls_and_free_list_objects_are_counted_exactly)
{
	struct heap              *h = me();
	unsigned                  c = size_to_class(500);
	struct strata_class_stats before = { .struct_size = sizeof(before) }, after = before;
	strata_class_stats_get(c, &before);
	void *p[300];
	for (int i = 0; i < 300; i++) /* several refills and slabs */
		p[i] = malloc(500);
	for (int i = 0; i < 300; i++)
		free(p[i]);
	strata_class_stats_get(c, &after);
	cr_assert_eq(after.nmalloc - before.nmalloc, 300);
	cr_assert_eq(after.nfree - before.nfree, 300);
	cr_assert_eq(after.objects_cached,
	             list_length(heap_free_list(&h->fast[c])) + list_length(h->fast[c].local)
	                     + list_length(h->fast[c].foreign),
	             "cached = free list + local list + foreign list");
	strata_thread_flush();
	strata_class_stats_get(c, &after);
	cr_assert_eq(after.objects_cached, 0, "a flush empties the free lists");
	cr_assert_null(heap_free_list(&h->fast[c]));
	cr_assert_null(h->fast[c].local);
}

/* Other threads' frees: onto the slab's remote list, collected by the
 * owner when it needs objects. */
struct remote_job {
	void **objs;
	int    n;
};

static void *free_all(void *arg)
{
	struct remote_job *j = arg;
	for (int i = 0; i < j->n; i++)
		free(j->objs[i]);
	return NULL;
}

static void free_in_thread(void **objs, int n)
{
	struct remote_job j = { objs, n };
	pthread_t         t;
	pthread_create(&t, NULL, free_all, &j);
	pthread_join(t, NULL);
}

Test(heap, remote_frees_wait_on_the_slab_for_its_owner)
{
	me();
	void *objs[20];
	for (int i = 0; i < 20; i++)
		objs[i] = malloc(96);
	struct page *s = slab_of(objs[0]);
	uint32_t     inuse = slab_inuse(s);
	free_in_thread(objs, 10);
	cr_assert_eq(slab_inuse(s), inuse, "not collected yet");
	cr_assert_neq(__atomic_load_n(&s->remote, __ATOMIC_RELAXED), 0, "on the remote list");
	cr_assert_eq(slab_collect_remote(s), 10);
	cr_assert_eq(slab_inuse(s), inuse - 10);
	for (int i = 10; i < 20; i++)
		free(objs[i]);
	cr_assert_eq(strata_check_heap(), 0);
}

/* A full slab: the first free into it from another thread goes to the
 * owner's delayed list, so the owner hears of it without a scan. */
Test(heap, a_remote_free_into_a_full_slab_tells_the_owner)
{
	struct heap *h = me();
	unsigned     c = size_to_class(1024);
	unsigned     cap = _strata_classes[c].capacity;
	void       **objs = calloc(4 * cap, sizeof(void *));
	int          n = 0;
	struct page *first = NULL;
	while (n < 4 * (int)cap) { /* until a slab of ours is full */
		objs[n++] = malloc(1024);
		if (first == NULL)
			first = slab_of(objs[0]);
		if (first->list == SLAB_FULL)
			break;
	}
	cr_assert_eq(first->list, SLAB_FULL);
	cr_assert(first->inuse & SLAB_INUSE_FULL);
	free_in_thread(&objs[0], 1);
	cr_assert_neq(__atomic_load_n(&h->delayed, __ATOMIC_RELAXED), 0, "on the delayed list");
	strata_thread_flush(); /* drains it */
	cr_assert_eq(first->list, SLAB_PARTIAL, "the slab has room again");
	for (int i = 1; i < n; i++)
		free(objs[i]);
	free(objs);
	cr_assert_eq(strata_check_heap(), 0);
}

/* A full slab of objects of size, and the objects malloc gave (*n of
 * them, objs[0] in the slab). */
static struct page *fill_a_slab(size_t size, void **objs, int max, int *n)
{
	struct page *first = NULL;
	*n = 0;
	while (*n < max) {
		objs[(*n)++] = malloc(size);
		first = first ? first : slab_of(objs[0]);
		if (first->list == SLAB_FULL)
			break;
	}
	cr_assert_eq(first->list, SLAB_FULL);
	return first;
}

/* The owner's frees into a full slab: it waits for its class's relist
 * count on the full list, then goes to the partial list with that many
 * free objects, so each refill from it feeds more than one malloc. */
Test(heap, a_full_slab_goes_back_to_partial_after_the_relist_count)
{
	me();
	unsigned     c = size_to_class(64);
	unsigned     cap = _strata_classes[c].capacity, relist = _strata_classes[c].relist;
	void       **objs = calloc(4 * cap, sizeof(void *));
	int          n;
	struct page *first = fill_a_slab(64, objs, 4 * (int)cap, &n);
	cr_assert_gt(relist, 1, "a class of many objects waits for more than one");
	for (unsigned i = 0; i + 1 < relist; i++) {
		free_now(objs[i]);
		cr_assert_eq(first->list, SLAB_REFILLING, "free %u of %u", i + 1, relist);
		cr_assert_eq(slab_inuse(first), cap - 1 - i);
		cr_assert_eq(strata_check_heap(), 0);
	}
	cr_assert_eq(first->remote, REMOTE_FULL, "other threads' frees still tell the owner");
	free_now(objs[relist - 1]);
	cr_assert_eq(first->list, SLAB_PARTIAL);
	cr_assert_eq(slab_inuse(first), cap - relist);
	cr_assert_eq(first->remote, REMOTE_FULL, "no remote object, the mark kept");
	for (int i = (int)relist; i < n; i++)
		free(objs[i]);
	free(objs);
	cr_assert_eq(strata_check_heap(), 0);
}

/* Free the first relist objects of slab s among objs[0..n). */
static void relist_slab(struct page *s, void **objs, int n)
{
	unsigned relist = _strata_classes[s->cls].relist, done = 0;
	for (int i = 0; i < n && done < relist; i++)
		if (objs[i] && slab_of(objs[i]) == s) {
			free_now(objs[i]);
			objs[i] = NULL;
			done++;
		}
	cr_assert_eq(s->list, SLAB_PARTIAL);
}

/* The partial list is a FIFO: of two slabs relisted, the first is taken
 * first, since it has had the most time to get objects back. */
Test(heap, the_slab_relisted_first_is_taken_first)
{
	me();
	unsigned     cap = _strata_classes[size_to_class(64)].capacity;
	int          max = 8 * (int)cap, na, nb, n;
	void       **objs = calloc((size_t)max, sizeof(void *));
	struct page *a = fill_a_slab(64, objs, max / 2, &na);
	struct page *b = fill_a_slab(64, objs + na, max / 2, &nb);
	n = na + nb;
	cr_assert_neq(a, b);
	relist_slab(a, objs, n);
	relist_slab(b, objs, n);
	struct page *next = NULL;
	while (n < max && next != a && next != b) {
		objs[n] = malloc(64);
		next = slab_of(objs[n++]);
	}
	cr_assert_eq(next, a, "the slab relisted last came first");
	for (int i = 0; i < n; i++)
		free(objs[i]);
	free(objs);
	cr_assert_eq(strata_check_heap(), 0);
}

/* The owner's frees into slabs other than the current one wait in a ring
 * of HEAP_PENDING, but not one into the slab of the last free queued, and
 * the ring is emptied before the heap is checked. */
Test(heap, frees_into_other_slabs_wait_in_a_ring)
{
	struct heap *h = me();
	unsigned     cap = _strata_classes[size_to_class(64)].capacity;
	int          n = (int)cap * (HEAP_PENDING + 3);
	void       **b = calloc((size_t)n, sizeof(void *));
	for (int i = 0; i < n; i++)
		b[i] = malloc(64);
	struct page *s = slab_of(b[0]);
	cr_assert_neq(s, h->fast[size_to_class(64)].current);
	uint32_t inuse = slab_inuse(s);
	heap_forget_recent(h, NULL); /* the slabs earlier calls freed into */
	free(b[0]);
	cr_assert_eq(slab_inuse(s), inuse, "waiting in the ring");
	free(b[1]);
	cr_assert_eq(slab_inuse(s), inuse - 1, "the same slab: made at once");
	/* one free into each of HEAP_PENDING other slabs: the last pushes b[0]
	 * out of the ring */
	int          freed = 0;
	struct page *last = s;
	for (int i = 2; i < n && freed < HEAP_PENDING; i++) {
		struct page *t = slab_of(b[i]);
		if (t == s || t == last || t == h->fast[size_to_class(64)].current)
			continue;
		free(b[i]);
		b[i] = NULL;
		last = t;
		freed++;
		cr_assert_eq(slab_inuse(s), inuse - (freed < HEAP_PENDING ? 1 : 2), "after %d",
		             freed);
	}
	cr_assert_eq(freed, HEAP_PENDING);
	cr_assert_eq(strata_check_heap(), 0);
	for (int i = 2; i < n; i++)
		free(b[i]);
	free(b);
	cr_assert_eq(strata_check_heap(), 0);
}

/* A free into the slab of the last free made is made at once, though a
 * free into another slab was queued since: a run of frees in the order
 * of the mallocs does not wait in the ring for a block now and then freed
 * elsewhere. */
Test(heap, a_free_into_the_slab_of_the_last_free_made_is_made_at_once)
{
	struct heap *h = me();
	unsigned     c = size_to_class(64), cap = _strata_classes[c].capacity;
	int          n = (int)cap * 4;
	void       **b = calloc((size_t)n, sizeof(void *));
	for (int i = 0; i < n; i++)
		b[i] = malloc(64);
	struct page *s = slab_of(b[0]), *t = NULL;
	int          other = -1;
	for (int i = 0; i < n && other < 0; i++)
		if (slab_of(b[i]) != s && slab_of(b[i]) != h->fast[c].current) {
			other = i;
			t = slab_of(b[i]);
		}
	cr_assert(other > 2 && s != h->fast[c].current, "three slabs of 64 B");
	cr_assert_eq(slab_of(b[2]), s);
	free(b[0]); /* queued */
	free(b[1]); /* the slab of the last one queued: made, remembered */
	cr_assert_eq(heap_recent_of(h, b[1])->slab, s);
	free(b[other]); /* queued: t is now the slab of the last one queued */
	cr_assert_eq(h->pending_slab, t);
	uint32_t inuse = slab_inuse(s);
	free(b[2]);
	cr_assert_eq(slab_inuse(s), inuse - 1, "made at once, not queued");
	b[0] = b[1] = b[2] = b[other] = NULL;
	cr_assert_eq(strata_check_heap(), 0);
	for (int i = 0; i < n; i++)
		free(b[i]);
	free(b);
	cr_assert_eq(strata_check_heap(), 0);
}

/* A block on the same page as another: the first of a few mallocs. */
static void *malloc_on_page_of(const void *p, size_t size)
{
	for (int i = 0; i < 64; i++) {
		void *q = malloc(size);
		if (((uintptr_t)q ^ (uintptr_t)p) < PAGE_SIZE)
			return q;
	}
	cr_assert_fail("no block of %zu bytes on the page of %p", size, p);
	return NULL;
}

/* free remembers the slab of a fast free in the entry of its chunk; the
 * next free into that slab there takes its head from the entry, with
 * every check made. */
Test(heap, free_remembers_the_slab_of_its_last_free)
{
	struct heap *h = me();
	unsigned     c = size_to_class(80);
	void        *a = malloc(80), *b = malloc_on_page_of(a, 80);
	struct page *pg = page_of(region_of(a), a);
	cr_assert_eq(slab_of(a), h->fast[c].current);
	free(a);
	struct heap_recent *r = heap_recent_of(h, a);
	cr_assert_eq(r->slab, slab_of(a));
	cr_assert_eq(r->base, (uintptr_t)a - slab_offset(pg, a));
	cr_assert_eq(heap_recent_of(h, b), r, "one page, one entry");
	uint64_t listed = h->fast[c].nfree_listed;
	free(b);
	cr_assert_eq(h->fast[c].local, b, "on the current slab's local list");
	cr_assert_eq(h->fast[c].nfree_listed, listed + 1);
	cr_assert_eq(strata_check_heap(), 0);
}

void _ZdlPvm(void *p, size_t size); /* C++'s sized delete, strata's */

/* The entry of a slab that is no longer its class's current one is left to
 * free's slow recent test: its fast test pushes on the class's local list,
 * which is the current slab's.  A free there goes on the slab's own list,
 * at once, without the pagemap (which would queue it in the ring), and so
 * does a sized delete. */
Test(heap, a_slab_no_longer_current_leaves_the_fast_test)
{
	struct heap *h = me();
	unsigned     c = size_to_class(80);
	void        *a = malloc(80), *b = malloc_on_page_of(a, 80), *d = malloc_on_page_of(a, 80);
	struct page *s = slab_of(a);
	cr_assert_eq(s, h->fast[c].current);
	free(a);
	struct heap_recent *r = heap_recent_of(h, b);
	cr_assert_eq(r->slab, s);
	cr_assert_gt(r->limit, 0, "the current slab's entry: the fast test takes it");
	enum { MAX = 100000 };
	void **more = malloc(MAX * sizeof(void *));
	int    n = 0;
	while (h->fast[c].current == s && n < MAX)
		more[n++] = malloc(80);
	cr_assert_neq(h->fast[c].current, s, "the slab ran dry");
	cr_assert_eq(r->slab, s);
	cr_assert_eq(r->limit, 0, "demoted");
	cr_assert_eq(strata_check_heap(), 0);
	uint64_t local = h->fast[c].nfree_local;
	free(b);
	cr_assert_eq(s->local_free, b, "onto its slab's list at once");
	cr_assert_eq(h->fast[c].nfree_local, local + 1);
	_ZdlPvm(d, 80);
	cr_assert_eq(s->local_free, d, "a sized delete too");
	cr_assert_eq(h->fast[c].nfree_local, local + 2);
	cr_assert_eq(strata_check_heap(), 0);
	while (n > 0)
		free(more[--n]);
	free(more);
	cr_assert_eq(strata_check_heap(), 0);
}

/* An empty free list is heap_list_end, whose link fails malloc's window
 * test whatever the key: a flush leaves every class's so, and the next
 * malloc refills. */
Test(heap, an_empty_free_list_is_the_list_end)
{
	struct heap *h = me();
	unsigned     c = size_to_class(64);
	free(malloc(64));
	strata_thread_flush();
	for (unsigned k = 0; k < NUM_CLASSES; k++)
		cr_assert_eq(h->fast[k].free, HEAP_LIST_END, "class %u", k);
	cr_assert_eq(h->zero.free, HEAP_LIST_END);
	cr_assert_eq(_strata_link_key & 1, 0);
	cr_assert(!link_in_window(link_delta(HEAP_LIST_END)));
	void *p = malloc(64);
	cr_assert_not_null(p);
	cr_assert_eq(slab_of(p), h->fast[c].current);
	cr_assert_neq(h->fast[c].free, HEAP_LIST_END, "the refill's other objects");
	void *z = malloc(0);
	cr_assert_not_null(z);
	free(z);
	free(p);
	cr_assert_eq(strata_check_heap(), 0);
}

/* malloc_usable_size finds a block of a recent slab there: the class's
 * size, and the entry unchanged. */
Test(heap, usable_size_of_a_block_of_a_recent_slab)
{
	struct heap *h = me();
	void        *q = malloc(100), *p = malloc_on_page_of(q, 100);
	free(q);
	struct heap_recent *r = heap_recent_of(h, p);
	cr_assert_eq(r->slab, slab_of(p));
	cr_assert_eq(malloc_usable_size(p), class_size(size_to_class(100)));
	cr_assert_eq(r->slab, slab_of(p));
	free(p);
}

/* Blocks of two classes freed in turn (a program's few sizes) each find
 * their slab in their own entry: neither free forgets the other's. */
Test(heap, frees_of_two_classes_in_turn_keep_both_slabs)
{
	struct heap *h = me();
	void        *a = malloc(80), *b = NULL;
	void        *spare[64];
	int          n = 0;
	/* a block of 1000 B whose entry is not a's (entries are shared
	 * modulo their number) */
	while (n < 64 && heap_recent_of(h, b = malloc(1000)) == heap_recent_of(h, a))
		spare[n++] = b;
	cr_assert_neq(heap_recent_of(h, b), heap_recent_of(h, a));
	void *a2 = malloc_on_page_of(a, 80), *b2 = malloc_on_page_of(b, 1000);
	free(a);
	free(b);
	cr_assert_eq(heap_recent_of(h, a)->slab, slab_of(a));
	cr_assert_eq(heap_recent_of(h, b)->slab, slab_of(b));
	free(a2);
	free(b2);
	cr_assert_eq(heap_recent_of(h, a)->slab, slab_of(a));
	cr_assert_eq(heap_recent_of(h, b)->slab, slab_of(b));
	while (n > 0)
		free(spare[--n]);
	cr_assert_eq(strata_check_heap(), 0);
}

/* The recent-slab test takes no block of another slab: with the entry of
 * a block holding another slab of the class at a lower address within
 * SLAB_WINDOW (as when an entry is shared by chunks far apart, or a
 * slab spans more than one), the block, at a multiple of the same size
 * from it, goes to its own slab (a block on the wrong slab's list fails
 * the heap check). */
Test(heap, the_slab_test_takes_no_block_of_the_next_slab)
{
	struct heap *h = me();
	unsigned     cap = _strata_classes[size_to_class(64)].capacity;
	enum { SLABS = 8 };
	int          n = SLABS * (int)cap, nslabs = 0, near = 0;
	void       **b = calloc((size_t)n, sizeof(void *));
	struct page *slabs[SLABS + 1];
	for (int i = 0; i < n; i++) {
		b[i] = malloc(64);
		struct page *s = slab_of(b[i]);
		if (nslabs == 0 || (slabs[nslabs - 1] != s && nslabs <= SLABS))
			slabs[nslabs++] = s;
	}
	for (int i = 0; i < n; i++) {
		struct page *own = slab_of(b[i]);
		for (int j = 0; j < nslabs; j++) {
			uintptr_t base = (uintptr_t)page_address(slabs[j]);
			if (slabs[j] == own || (uintptr_t)b[i] - base >= SLAB_WINDOW)
				continue;
			heap_recent_set(heap_recent_of(h, b[i]), base, slabs[j], slabs[j]->bump);
			free_now(b[i]);
			/* that entry is not of a chunk slabs[j] spans: its
			 * release would not find it */
			heap_forget_recent(h, NULL);
			b[i] = NULL;
			near++;
			cr_assert_eq(strata_check_heap(), 0);
			break;
		}
	}
	cr_assert_gt(near, 0, "no block within reach of another slab's test");
	for (int i = 0; i < n; i++)
		free(b[i]);
	free(b);
	cr_assert_eq(strata_check_heap(), 0);
}

/* The current slabs of the sixteen classes of 320 B to 2 KiB, each freed
 * into in turn, keep an entry each in the recent slabs: each free after
 * the first of its slab finds it there (heap.h, HEAP_RECENT_SHIFT). */
Test(heap, sixteen_classes_current_slabs_keep_their_recent_entries)
{
	struct heap *h = me();
	enum { N = 16 };
	unsigned first = size_to_class(320);
	void    *a[N], *b[N];
	strata_thread_flush();
	for (int i = 0; i < N; i++) {
		a[i] = malloc(class_size(first + i));
		b[i] = malloc(class_size(first + i));
	}
	for (int i = 0; i < N; i++)
		free(a[i]);
	for (int i = 0; i < N; i++) {
		struct heap_recent *r = heap_recent_of(h, b[i]);
		cr_assert_eq(r->slab, slab_of(b[i]),
		             "class of %u bytes: its entry holds another slab",
		             class_size(first + i));
		cr_assert_gt(r->limit, 0, "class of %u bytes: not taken by the fast test",
		             class_size(first + i));
	}
	for (int i = 0; i < N; i++)
		free(b[i]);
	cr_assert_eq(strata_check_heap(), 0);
}

/* A slab given back to its arena is forgotten first: its pages may be
 * reused, its region unmapped. */
Test(heap, a_slab_given_back_is_no_longer_a_recent_slab)
{
	struct heap *h = me();
	enum { N = 2000 }; /* 8 MB, far past the parking budget */
	static void *p[N];
	for (int i = 0; i < N; i++)
		p[i] = malloc(4000);
	/* last, the first slab's blocks: its last free (or the ring's) empties
	 * it, and the budget is spent by then */
	for (int i = N - 1; i >= 0; i--)
		free(p[i]);
	heap_free_pending_self();
	for (int i = 0; i < HEAP_RECENT_SLOTS; i++) {
		struct page *s = h->recent[i].slab;
		cr_assert(h->recent[i].base == 0
		                  || (s->state == PAGE_SLAB && slab_heap(s) == h && s->bump > 0),
		          "entry %d, slab at %#lx: its head is state %u, bump %u", i,
		          (unsigned long)h->recent[i].base, s->state, s->bump);
	}
	cr_assert_eq(strata_check_heap(), 0);
}

/* A block leak tracking records comes from the arena's shared heap, never
 * from a slab of the thread's own, whose frees free's slab test takes
 * without a look at the page: the refill's own first block goes back on
 * the free list, and the recorded one's free, which forgets the record,
 * goes back to the shared heap (not onto the foreign list, whose mallocs
 * would hand it out again). */
Test(heap, a_recorded_block_comes_from_the_shared_heap)
{
	struct heap *h = me();
	if (leak_mode() != LEAK_SAMPLED)
		cr_skip_test("leak tracking is not sampled");
	unsigned c = size_to_class(96);
	void    *keep = malloc(96); /* the slab stays */
	for (int i = 0; i < 20; i++) {
		strata_thread_flush(); /* the lists go back: the next malloc refills */
		h->sample_left = 0;    /* its block is recorded */
		void        *b = malloc(96);
		struct page *pg = page_of(region_of(b), b);
		cr_assert_eq(pg->state, PAGE_SAMPLED);
		cr_assert_neq(slab_heap(pg), h, "a recorded block in a slab of the thread's own");
		cr_assert_eq(slab_heap(pg)->state, HEAP_SHARED);
		void *next = heap_free_list(&h->fast[c]);
		cr_assert_not_null(next, "the refill's first block is back on the free list");
		cr_assert_eq(slab_heap(page_of(region_of(next), next)), h);
		uint32_t foreign = h->fast[c].nforeign;
		free(b);
		cr_assert_eq(pg->state, PAGE_SLAB, "the free forgot the record");
		cr_assert_eq(h->fast[c].nforeign, foreign, "onto the foreign list");
		cr_assert_eq(malloc(96), next);
		free(next);
	}
	free(keep);
	cr_assert_eq(strata_check_heap(), 0);
}

/* A stream of allocations of half the sampling interval each, as fast as
 * the loop goes, through a heap of its own; returns the records made and
 * adds what they stand for to *volume. */
static unsigned sample_stream(struct heap *tc, unsigned calls, size_t bytes, size_t *volume)
{
	unsigned records = 0;
	for (unsigned i = 0; i < calls; i++) {
		size_t v = sample_due(tc, bytes);
		records += v > 0;
		*volume += v;
	}
	return records;
}

/* A record walks the call stack: a thread that allocates the sampling
 * interval's bytes far faster than leak_sample_rate records a second has
 * its interval doubled, up to 64 times, so it makes far fewer records;
 * each stands for the means of the intervals that ended in it, so they
 * still add up to the bytes allocated.  When it slows down (a second
 * without a record here), the interval halves again.  With the rate 0,
 * every interval is the option's. */
Test(heap, a_thread_that_records_too_fast_gets_longer_intervals_and_right_weights)
{
	me();
	static struct heap tc;
	int                saved = _strata_leak_mode;
	size_t             mean = (size_t)strata_option(OPT_LEAK_SAMPLE), volume = 0;
	enum { CALLS = 20000 };
	_strata_leak_mode = LEAK_SAMPLED;
	sample_thread_init(&tc);
	unsigned records = sample_stream(&tc, CALLS, mean / 2, &volume);
	double   bytes = (double)CALLS * (double)(mean / 2);
	cr_assert_gt(tc.sample_shift, 0, "the interval grew");
	cr_assert_lt(records, CALLS / 2 / 8, "%u records, unpaced about %u", records, CALLS / 2);
	cr_assert(volume > bytes * 0.8 && volume < bytes * 1.2,
	          "records stand for %zu of %.0f bytes", volume, bytes);

	unsigned shift = tc.sample_shift;
	tc.sample_last_ns -= 1000000000; /* a second went by */
	tc.sample_left = 0;
	cr_assert_gt(sample_due(&tc, 1), 0);
	cr_assert_eq(tc.sample_shift, shift - 1, "slower: the interval halves");

	_strata_option_values[OPT_LEAK_SAMPLE_RATE] = 0;
	sample_thread_init(&tc);
	volume = 0;
	records = sample_stream(&tc, CALLS, mean / 2, &volume);
	cr_assert_eq(tc.sample_shift, 0);
	cr_assert_gt(records, CALLS / 2 * 8 / 10, "unpaced: %u records", records);
	_strata_leak_mode = saved;
}

static void *made_from, *grown_from;

static noinline void *make_block(size_t size)
{
	made_from = __builtin_return_address(0);
	void *p = malloc(size);
	__asm__ volatile("" ::"r"(p) : "memory"); /* no tail call */
	return p;
}

static noinline void *grow_block(void *p, size_t size)
{
	grown_from = __builtin_return_address(0);
	void *q = realloc(p, size);
	__asm__ volatile("" ::"r"(q) : "memory");
	return q;
}

/* A recorded large block that realloc grows keeps its record's call stack
 * (sampled mode): the stack of the call that made it, not a new walk of
 * the stack at every realloc; its figures are the new size's. */
Test(heap, a_recorded_block_grown_by_realloc_keeps_the_stack_that_made_it)
{
	struct heap *h = me();
	if (leak_mode() != LEAK_SAMPLED)
		cr_skip_test("leak tracking is not sampled");
	h->sample_left = 0; /* the next large run is recorded */
	char *p = make_block(100000);
	h->sample_left = INT64_MAX / 2;
	struct strata_leak_site sites[16];
	size_t                  n = MIN(strata_leak_sites(sites, 16, 0), (size_t)16), found = 0;
	double                  weight = 0; /* what the record stands for, in bytes */
	for (size_t i = 0; i < n; i++)
		if (sites[i].requested == 100000)
			weight = (double)sites[i].bytes;
	cr_assert_gt(weight, 100000, "one interval or more: %.0f", weight);
	size_t last = 200000 - (200000 - 104096) % 4096;
	for (size_t size = 104096; size <= 200000; size += 4096)
		p = grow_block(p, size);
	n = MIN(strata_leak_sites(sites, 16, 0), (size_t)16);
	for (size_t i = 0; i < n; i++) {
		if (sites[i].requested != last)
			continue;
		found++;
		double want = weight * (double)last / 100000;
		cr_assert((double)sites[i].bytes > want - 32 && (double)sites[i].bytes < want + 32,
		          "it stands for as many blocks: %zu bytes, %.0f wanted", sites[i].bytes,
		          want);
		bool made = false, grown = false; /* strata's own frames come first here */
		for (unsigned f = 0; f < sites[i].nframes; f++) {
			made |= sites[i].frames[f] == made_from;
			grown |= sites[i].frames[f] == grown_from;
		}
		cr_assert(made && !grown, "the stack of the malloc, not of a realloc");
	}
	cr_assert_eq(found, 1, "one record with the last size");
	free(p);
}

/* A recorded block goes back to the shared heap when freed: a write after
 * that free, which no malloc of the thread meets, is found by the check at
 * exit, which walks the shared heaps' lists too. */
Test(heap, a_write_after_free_of_a_recorded_block_is_found_at_exit, .signal = SIGABRT)
{
	struct heap *h = me();
	if (leak_mode() != LEAK_SAMPLED)
		abort(); /* the signal the test expects: nothing to check */
	strata_thread_flush();
	h->sample_left = 0;
	char *b = malloc(96);
	cr_assert_eq(slab_heap(page_of(region_of(b), b))->state, HEAP_SHARED);
	free(b);
	memset(b, 0x41, 16);
	heap_verify();
	cr_assert_fail("heap_verify did not find the write");
}

/* Another thread's free into a refilling slab takes the remote mark; no
 * later one would tell the owner, so the owner relists it at once. */
Test(heap, a_remote_free_ends_a_refilling_slab_wait)
{
	me();
	unsigned     c = size_to_class(64);
	unsigned     cap = _strata_classes[c].capacity;
	void       **objs = calloc(4 * cap, sizeof(void *));
	int          n;
	struct page *first = fill_a_slab(64, objs, 4 * (int)cap, &n);
	free_now(objs[0]);
	cr_assert_eq(first->list, SLAB_REFILLING);
	free_in_thread(&objs[1], 1);
	strata_thread_flush(); /* drains the delayed list */
	cr_assert_eq(first->list, SLAB_PARTIAL);
	cr_assert_eq(slab_inuse(first), cap - 2);
	for (int i = 2; i < n; i++)
		free(objs[i]);
	free(objs);
	cr_assert_eq(strata_check_heap(), 0);
}

/* A class whose slabs hold few objects relists at the first free. */
Test(heap, the_owner_freeing_into_a_full_slab_moves_it_to_partial)
{
	me();
	unsigned c = NUM_CLASSES - 1;
	while (_strata_classes[c].relist > 1)
		c--;
	size_t       size = class_size(c);
	unsigned     cap = _strata_classes[c].capacity;
	void       **objs = calloc(4 * cap, sizeof(void *));
	int          n;
	struct page *first = fill_a_slab(size, objs, 4 * (int)cap, &n);
	free_now(objs[0]);
	cr_assert_eq(first->list, SLAB_PARTIAL);
	cr_assert_not(first->inuse & SLAB_INUSE_FULL);
	cr_assert_eq(first->remote, REMOTE_FULL, "no remote object, the mark kept");
	for (int i = 1; i < n; i++)
		free(objs[i]);
	free(objs);
	cr_assert_eq(strata_check_heap(), 0);
}

/* The largest class whose full slabs are relisted at their first free. */
static unsigned class_of_one_free_relists(void)
{
	unsigned c = NUM_CLASSES - 1;
	while (_strata_classes[c].relist > 1)
		c--;
	return c;
}

/* Objects of class c (objs, *n of them) until the class has nothing left
 * to hand out: its free list empty, its current slab exhausted, and
 * objs[0] in a full slab before it. */
static void run_a_class_dry(struct heap *h, unsigned c, void **objs, int max, int *n)
{
	struct heap_fast *f = &h->fast[c];
	*n = 0;
	do
		objs[(*n)++] = malloc(class_size(c));
	while (*n < max
	       && !(heap_free_list(f) == NULL && f->local == NULL && f->current
	            && slab_exhausted(f->current) && slab_of(objs[0]) != f->current));
	cr_assert_lt(*n, max, "the class ran dry");
	cr_assert_eq(slab_of(objs[0])->list, SLAB_FULL);
}

/* The owner's free into a full slab while its class has nothing left:
 * the next malloc would refill, so that slab becomes current at once, its
 * object the free list, and the slab that ran dry goes to the full list;
 * the next malloc takes the object without a refill. */
Test(heap, a_free_into_a_full_slab_when_the_class_ran_dry_makes_it_current)
{
	struct heap *h = me();
	void       **objs = calloc(512, sizeof(void *));
	int          n;
	unsigned     c = class_of_one_free_relists();
	run_a_class_dry(h, c, objs, 512, &n);
	struct page *dry = h->fast[c].current, *s = slab_of(objs[0]);
	uint64_t     taken = h->cls[c].taken;
	void        *p = objs[0];
	free_now(p);
	cr_assert_eq(h->fast[c].current, s, "the slab freed into is current");
	cr_assert_eq(s->list, SLAB_CURRENT);
	cr_assert_eq(dry->list, SLAB_FULL, "the slab that ran dry is retired");
	cr_assert(dry->inuse & SLAB_INUSE_FULL);
	cr_assert_eq(heap_free_list(&h->fast[c]), p);
	cr_assert_eq(h->cls[c].taken, taken + 1, "its object counted as taken");
	cr_assert_eq(strata_check_heap(), 0);
	objs[0] = malloc(class_size(c));
	cr_assert_eq(objs[0], p);
	cr_assert_eq(h->cls[c].taken, taken + 1, "no refill");
	for (int i = 0; i < n; i++)
		free(objs[i]);
	free(objs);
	cr_assert_eq(strata_check_heap(), 0);
}

/* ... and a slab that waits for its class's relist count, at the last
 * free of the count, with that many objects. */
Test(heap, a_refilling_slab_becomes_current_at_its_count_when_the_class_ran_dry)
{
	struct heap *h = me();
	unsigned     c = size_to_class(64), relist = _strata_classes[c].relist;
	void       **objs = calloc(1024, sizeof(void *));
	int          n;
	cr_assert_gt(relist, 1);
	run_a_class_dry(h, c, objs, 1024, &n);
	struct page *dry = h->fast[c].current, *s = slab_of(objs[0]);
	uint64_t     taken = h->cls[c].taken;
	unsigned     done = 0;
	for (int i = 0; i < n && done < relist; i++) {
		if (slab_of(objs[i]) != s)
			continue;
		cr_assert_eq(s->list, done == 0 ? SLAB_FULL : SLAB_REFILLING);
		free_now(objs[i]);
		objs[i] = NULL;
		done++;
	}
	cr_assert_eq(done, relist);
	cr_assert_eq(h->fast[c].current, s, "current at the count's last free");
	cr_assert_eq(s->list, SLAB_CURRENT);
	cr_assert_eq(dry->list, SLAB_FULL);
	cr_assert_eq(h->cls[c].taken, taken + relist, "the count's objects on the free list");
	cr_assert_eq(strata_check_heap(), 0);
	for (int i = 0; i < n; i++)
		free(objs[i]);
	free(objs);
	cr_assert_eq(strata_check_heap(), 0);
}

/* ... but not when a leak sampling interval would end in its objects: the
 * slab goes to the partial list and the next malloc's refill records the
 * sample. */
Test(heap, a_slab_is_not_made_current_by_a_free_when_a_sample_falls_in_it)
{
	struct heap *h = me();
	if (leak_mode() != LEAK_SAMPLED)
		cr_skip_test("leak sampling is off");
	void   **objs = calloc(512, sizeof(void *));
	int      n;
	unsigned c = class_of_one_free_relists();
	run_a_class_dry(h, c, objs, 512, &n);
	struct page *dry = h->fast[c].current, *s = slab_of(objs[0]);
	h->sample_left = 1;
	free_now(objs[0]);
	cr_assert_eq(s->list, SLAB_PARTIAL);
	cr_assert_eq(h->fast[c].current, dry);
	h->sample_left = INT64_MAX / 2;
	for (int i = 1; i < n; i++)
		free(objs[i]);
	free(objs);
	cr_assert_eq(strata_check_heap(), 0);
}

/* A thread that exits abandons its slabs that hold live objects; they are
 * adopted by a heap that needs a slab of the class. */
static void *allocate_and_exit(void *arg)
{
	void **objs = arg;
	for (int i = 0; i < 50; i++)
		objs[i] = malloc(160);
	return _strata_heap;
}

Test(heap, slabs_of_an_exited_thread_are_abandoned_then_adopted)
{
	me();
	unsigned  c = size_to_class(160);
	void     *objs[50];
	pthread_t t;
	void     *gone;
	pthread_create(&t, NULL, allocate_and_exit, objs);
	pthread_join(t, &gone);
	struct page *s = slab_of(objs[0]);
	cr_assert_eq(s->list, SLAB_ABANDONED);
	cr_assert_null(page_owner(s));
	struct arena *a = page_region(s)->arena;
	cr_assert_geq(a->bins[c].nr_abandoned, 1);
	for (int i = 0; i < 50; i++)
		free(objs[i]); /* remote frees into an abandoned slab */
	cr_assert_eq(strata_check_heap(), 0);
	strata_trim(); /* the arena collects them, and releases it */
	cr_assert_eq(a->bins[c].nr_abandoned, 0);
}

Test(heap, a_heap_adopts_an_abandoned_slab_before_making_one)
{
	me();
	unsigned  c = size_to_class(150);
	void     *objs[50];
	pthread_t t;
	pthread_create(&t, NULL, allocate_and_exit, objs);
	pthread_join(t, NULL);
	cr_assert_eq(size_to_class(160), c, "150 and 160 B share a class");
	struct page  *s = slab_of(objs[0]);
	struct arena *a = page_region(s)->arena;
	size_t        slabs = a->bins[c].slabs;
	struct heap  *h = _strata_heap;
	h->arena = a;
	void *mine[200];
	int   n = 0;
	while (s->list == SLAB_ABANDONED && n < 200)
		mine[n++] = malloc(150);
	cr_assert_eq(slab_heap(s), h, "adopted");
	cr_assert_leq(a->bins[c].slabs, slabs + 1);
	for (int i = 0; i < 50; i++)
		free(objs[i]); /* now the owner's own frees */
	for (int i = 0; i < n; i++)
		free(mine[i]);
	cr_assert_eq(strata_check_heap(), 0);
}

Test(heap, freed_large_runs_are_reused_by_the_thread)
{
	struct heap *h = me();
	strata_thread_flush(); /* criterion may have cached runs */
	void *p = malloc(100000);
	free(p);
	cr_assert_eq(h->nlarge, 1);
	void *p2 = malloc(100000);
	cr_assert_neq(p2, p, "the run freed last waits while the cache has room for both");
	free(p2);
	cr_assert_eq(h->nlarge, 2);
	cr_assert_eq(malloc(100000), p, "same size: the cached run comes back");
	cr_assert_eq(h->nlarge, 1);
	free(p);
	cr_assert_eq(malloc(100000), p2, "then the other: a loop alternates between two runs");
	void *r = malloc(100000);
	cr_assert_neq(r, p, "the run freed last still waits");
	free(r);
	free(p2);
	void *q = malloc(200000);
	cr_assert_neq(q, p, "another size does not take it");
	cr_assert_neq(q, p2);
	free(q);

	void *runs[HEAP_LARGE_SLOTS + 2];
	for (int i = 0; i < HEAP_LARGE_SLOTS + 2; i++)
		runs[i] = malloc(40000 + 4096 * (size_t)i);
	for (int i = 0; i < HEAP_LARGE_SLOTS + 2; i++)
		free(runs[i]);
	cr_assert_leq(h->nlarge, HEAP_LARGE_SLOTS);
	cr_assert_leq(h->large_bytes, HEAP_LARGE_BYTES);
	strata_thread_flush();
	cr_assert_eq(h->nlarge, 0, "flushed");
	cr_assert_eq(h->large_bytes, 0);
}

/* The objects of class c on free and foreign lists, by the statistics. */
static size_t class_cached(unsigned c)
{
	struct strata_class_stats st = { .struct_size = sizeof(st) };
	strata_class_stats_get(c, &st);
	return st.objects_cached;
}

/* 20 objects of class 700, from a thread of their own.  No leak sample in
 * it either: a recorded block's refill would leave objects of the class
 * cached in the shared heap. */
static void *allocate_some(void *arg)
{
	void **objs = arg;
	me();
	for (int i = 0; i < 20; i++)
		objs[i] = malloc(700);
	return NULL;
}

/* Other threads' objects freed here wait on the foreign list, are handed
 * out again by this thread's mallocs, and are counted as cached while they
 * wait. */
Test(heap, other_threads_objects_are_reused_here_and_counted)
{
	struct heap *h = me();
	unsigned     c = size_to_class(700);
	void        *objs[20];
	pthread_t    t;
	pthread_create(&t, NULL, allocate_some, objs);
	pthread_join(t, NULL);
	strata_thread_flush();
	for (int i = 0; i < 20; i++)
		free(objs[i]);
	cr_assert_eq(h->fast[c].nforeign, 20, "kept on the foreign list");
	cr_assert_eq(class_cached(c), 20);
	void *again[5];
	for (int i = 0; i < 5; i++)
		again[i] = malloc(700);
	cr_assert_eq(again[0], objs[19], "the last freed comes back first");
	size_t cached = class_cached(c);
	cr_assert_eq(cached, 15 + list_length(heap_free_list(&h->fast[c])), "cached %zu", cached);
	for (int i = 0; i < 5; i++)
		free(again[i]);
	strata_thread_flush();
	cr_assert_eq(class_cached(c), 0, "flushed back to their slabs");
	cr_assert_eq(strata_check_heap(), 0);
}

/* 20 objects of class 700 made by a thread that has exited, in objs; the
 * calling thread's heap flushed, then a refill of the class: its free list
 * holds objects of its own slab.  The class's entry. */
static struct heap_fast *foreign_objects_and_a_free_list(void **objs)
{
	struct heap_fast *f = heap_slot(me(), size_to_class(700));
	pthread_t         t;
	pthread_create(&t, NULL, allocate_some, objs);
	pthread_join(t, NULL);
	strata_thread_flush();
	free(malloc(700));
	return f;
}

/* Frees of other heaps' objects set the free list aside: the mallocs that
 * follow take those objects until they run out, then the free list comes
 * back whole, and meanwhile its objects count as cached and are checked
 * and flushed like the rest. */
Test(heap, the_free_list_waits_aside_while_other_threads_objects_serve)
{
	void             *objs[20];
	struct heap_fast *f = foreign_objects_and_a_free_list(objs);
	unsigned          c = size_to_class(700);
	void             *own = heap_free_list(f);
	unsigned          listed = list_length(own);
	cr_assert_gt(listed, 1);
	for (int i = 0; i < 20; i++)
		free(objs[i]);
	cr_assert_null(heap_free_list(f), "the free list is set aside");
	cr_assert_eq(f->aside, own);
	size_t cached = class_cached(c);
	cr_assert_eq(cached, 20 + listed + list_length(f->local), "cached %zu", cached);
	cr_assert_eq(strata_check_heap(), 0);
	void *again[21];
	for (int i = 0; i < 20; i++) {
		again[i] = malloc(700);
		cr_assert_eq(again[i], objs[19 - i], "the foreign list serves first");
	}
	again[20] = malloc(700);
	cr_assert_eq(again[20], own, "then the free list set aside, from its start");
	cr_assert_null(f->aside);
	cr_assert_eq(list_length(heap_free_list(f)), listed - 1);
	for (int i = 0; i < 21; i++)
		free(again[i]);
	strata_thread_flush();
	cr_assert_eq(class_cached(c), 0);
	cr_assert_eq(strata_check_heap(), 0);
}

/* ... and a flush gives it back to its slab. */
Test(heap, a_flush_gives_back_the_free_list_set_aside)
{
	void             *objs[20];
	struct heap_fast *f = foreign_objects_and_a_free_list(objs);
	free(objs[0]);
	cr_assert_not_null(f->aside);
	strata_thread_flush();
	cr_assert_null(f->aside);
	cr_assert_eq(class_cached(size_to_class(700)), 0);
	cr_assert_eq(strata_check_heap(), 0);
	for (int i = 1; i < 20; i++)
		free(objs[i]);
}

/* A link overwritten so that it still decodes to a free object of the
 * slab (an aligned pointer, the key intact: a one-byte overflow does this
 * once in 16 or so) can make a list loop.  The walks of the exit check and
 * of a flush stop at the slab's capacity and abort instead of spinning. */
static void loop_the_free_list(void)
{
	free(malloc(48)); /* a refill of the class */
	struct heap_fast *f = heap_slot(_strata_heap, size_to_class(48));
	cr_assert_not_null(heap_free_list(f), "the refill left objects on the free list");
	link_set(f->free, f->free); /* its first object leads to itself */
}

Test(heap, a_looping_free_list_aborts_the_exit_check, .signal = SIGABRT, .timeout = 20)
{
	loop_the_free_list();
	heap_verify();
}

Test(heap, a_looping_free_list_aborts_a_flush, .signal = SIGABRT, .timeout = 20)
{
	loop_the_free_list();
	heap_flush(_strata_heap);
}

/* malloc_usable_size reads a slab's block from its page descriptor: the
 * class's size, for any size up to SMALL_MAX, whichever thread asks. */
static void *usable_sizes_elsewhere(void *arg)
{
	void **blocks = arg;
	for (size_t i = 0; i < SMALL_MAX / 16; i++)
		blocks[i] = malloc(16 * i + 1);
	return NULL;
}

Test(heap, usable_size_is_the_class_size)
{
	static void *theirs[SMALL_MAX / 16];
	pthread_t    t;
	pthread_create(&t, NULL, usable_sizes_elsewhere, theirs);
	pthread_join(t, NULL);
	for (size_t i = 0; i < SMALL_MAX / 16; i++) {
		size_t size = 16 * i + 1, want = class_size(size_to_class(size));
		void  *mine = malloc(size);
		cr_assert_eq(malloc_usable_size(mine), want, "%zu", size);
		cr_assert_eq(malloc_usable_size(theirs[i]), want, "%zu", size);
		free(mine);
		free(theirs[i]);
	}
}
