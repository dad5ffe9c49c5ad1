/* Tests for src/slab.c: the class table, batches, partial lists, release. */
#include <criterion/criterion.h>
#include <signal.h>

#include "slab.h"

static struct arena A;

static void setup(void)
{
	slab_classes_init();
	arena_init(&A, 0);
	strata_ensure_init();   /* the keys; this program mallocs through strata too */
}

TestSuite(slab, .init = setup);

Test(slab, class_table_bounds_waste)
{
	for (unsigned c = 0; c < NUM_CLASSES; c++) {
		const struct size_class *sc = &_strata_classes[c];
		size_t bytes = PAGE_SIZE << sc->order;
		cr_assert_eq(sc->size, class_size_of(c));
		cr_assert_leq(sc->order, SLAB_MAX_ORDER);
		cr_assert_geq(sc->capacity, 2, "class %u holds %u", c, sc->capacity);
		cr_assert_leq((size_t)sc->capacity * sc->size, bytes);
		cr_assert_leq(bytes - (size_t)sc->capacity * sc->size, bytes / 8,
		              "class %u (%u B) wastes %zu of %zu", c, sc->size,
		              bytes - (size_t)sc->capacity * sc->size, bytes);
		if (sc->size <= 2048)
			cr_assert_geq(sc->capacity, SLAB_MIN_OBJECTS, "class %u", c);
	}
}

Test(slab, index_is_exact_on_boundaries_and_huge_elsewhere)
{
	for (unsigned c = 0; c < NUM_CLASSES; c++) {
		size_t size = _strata_classes[c].size;
		size_t bytes = PAGE_SIZE << _strata_classes[c].order;
		for (size_t off = 0; off < bytes; off++) {
			uint32_t idx = slab_index(off, c);
			if (off % size == 0)
				cr_assert_eq(idx, off / size, "class %u offset %zu", c, off);
			else
				cr_assert_geq(idx, _strata_classes[c].capacity, "class %u offset %zu gives %u",
				              c, off, idx);
		}
	}
}

static void *take(unsigned cls, unsigned want, unsigned *got)
{
	void *list;
	lock_acquire(&A.lock);
	*got = slab_alloc_batch(&A, cls, &list, want);
	lock_release(&A.lock);
	return list;
}

Test(slab, batch_gives_distinct_aligned_objects_of_its_class)
{
	for (unsigned c = 0; c < NUM_CLASSES; c += 3) {
		unsigned got;
		void *list = take(c, 100, &got);
		cr_assert_eq(got, 100);
		cr_assert_eq(A.bins[c].objects_out, 100);
		size_t size = class_size(c);
		char *prev = NULL;
		unsigned n = 0;
		for (void **p = list; p; p = link_next(p), n++) {
			cr_assert_eq((uintptr_t)p % 16, 0);
			struct region *r = region_of(p);
			struct page *pg = page_of(r, p);
			cr_assert_eq(pg->state, PAGE_SLAB);
			cr_assert_eq(pg->cls, c);
			cr_assert(slab_object_valid(pg, p));
			cr_assert_eq((uintptr_t)p[1], _strata_free_key, "free objects carry the key");
			cr_assert_neq(p[0], link_next(p), "links are stored mangled");
			if (size > 16)
				cr_assert_not(slab_object_valid(pg, (char *)p + 16), "middle of an object");
			cr_assert_neq((char *)p, prev);
			prev = (char *)p;
		}
		cr_assert_eq(n, 100);
		/* give them back: every slab but one warm empties and is released */
		lock_acquire(&A.lock);
		for (void **p = list, **next; p; p = next) {
			next = link_next(p);
			slab_free_object(&A, p);
		}
		lock_release(&A.lock);
		cr_assert_eq(A.bins[c].objects_out, 0);
		cr_assert_leq(A.bins[c].slabs, 1, "class %u keeps %zu slabs", c, A.bins[c].slabs);
	}
}

Test(slab, full_slabs_leave_the_partial_list_and_come_back)
{
	unsigned c = size_to_class(1024), got;
	unsigned cap = _strata_classes[c].capacity;
	void *list = take(c, cap, &got);
	cr_assert_eq(got, cap);
	cr_assert_eq(A.bins[c].slabs, 1);
	cr_assert_eq(A.bins[c].nr_partial, 0, "a full slab is on no list");
	lock_acquire(&A.lock);
	slab_free_object(&A, list);
	lock_release(&A.lock);
	cr_assert_eq(A.bins[c].nr_partial, 1, "one free object puts it back");
	void *again = take(c, 1, &got);
	cr_assert_eq(again, list, "the freed object is reused first");
}

Test(slab, trim_releases_the_warm_slab)
{
	unsigned c = size_to_class(64), got;
	void **list = take(c, 10, &got);
	lock_acquire(&A.lock);
	for (void **p = list, **next; p; p = next) {
		next = link_next(p);
		slab_free_object(&A, p);
	}
	cr_assert_eq(A.bins[c].slabs, 1);
	size_t released = slab_trim(&A);
	lock_release(&A.lock);
	cr_assert_eq(released, PAGE_SIZE << _strata_classes[c].order);
	cr_assert_eq(A.bins[c].slabs, 0);
	cr_assert_eq(A.free_pages, REGION_PAGES - A.regions->meta_pages);
}

Test(slab, freelist_lookup)
{
	unsigned c = size_to_class(48), got;
	void **list = take(c, 3, &got);
	void **second = link_next(list);
	lock_acquire(&A.lock);
	slab_free_object(&A, second);
	struct page *head = slab_head(page_of(region_of(second), second));
	cr_assert(slab_freelist_contains(head, second));
	cr_assert_not(slab_freelist_contains(head, list));
	lock_release(&A.lock);
}

/* A link overwritten after free is caught when it is followed. */
Test(slab, overwritten_link_aborts, .signal = SIGABRT)
{
	unsigned c = size_to_class(64), got;
	void **list = take(c, 2, &got);
	list[0] = (char *)list[0] + 8;       /* a use after free shifts the link */
	link_next(list);
}

Test(slab, overwritten_key_aborts, .signal = SIGABRT)
{
	unsigned c = size_to_class(64), got;
	void **list = take(c, 2, &got);
	list[1] = NULL;
	link_next(list);
}

/* The slab's own guard against an object freed twice into it. */
Test(slab, second_free_into_the_slab_aborts, .signal = SIGABRT)
{
	unsigned c = size_to_class(32), got;
	void **list = take(c, 2, &got);
	lock_acquire(&A.lock);
	slab_free_object(&A, list);
	slab_free_object(&A, list);
}

/* A link that decodes to an aligned pointer outside the slab (a forged or
 * overwritten link that passes the alignment check) is caught when the
 * slab's freelist is taken from. */
static char elsewhere[64] __attribute__((aligned(16)));

Test(slab, link_out_of_the_slab_aborts, .signal = SIGABRT)
{
	unsigned c = size_to_class(64), got;
	void **list = take(c, 3, &got);
	void *a = list, *b = link_next(list);
	lock_acquire(&A.lock);
	slab_free_object(&A, b);
	slab_free_object(&A, a);            /* freelist: a -> b */
	link_set(elsewhere, NULL);          /* looks like a free object of its own */
	link_set(a, elsewhere);             /* a -> outside the slab, key intact */
	lock_release(&A.lock);
	take(c, 2, &got);
}
