/* SPDX-License-Identifier: MIT */
/* Tests for src/slab.c: the class table, carving, the local and remote
 * lists, the full mark, release. */
#include <criterion/criterion.h>
#include <signal.h>

#include "buddy.h"
#include "slab.h"

static struct arena A;
/* Slabs are owned by a heap's class entry; here any address stands for one. */
static char owner_entry[64] __attribute__((aligned(64)));

static void setup(void)
{
	slab_classes_init();
	arena_init(&A, 0);
	strata_ensure_init(); /* the keys; this program mallocs through strata too */
}

TestSuite(slab, .init = setup);

static struct page *new_slab(unsigned cls)
{
	lock_acquire(&A.lock);
	struct page *s = slab_new(&A, cls, owner_entry);
	lock_release(&A.lock);
	cr_assert_not_null(s);
	return s;
}

static void release(struct page *s)
{
	lock_acquire(&A.lock);
	slab_release(&A, s);
	lock_release(&A.lock);
}

/* Carve every object of s into an array; returns how many. */
static unsigned carve_all(struct page *s, void **out)
{
	unsigned total = 0, n;
	void    *list;
	while ((list = slab_carve(s, 7, &n)) != NULL)
		for (void *p = list; p; p = link_next(p))
			out[total++] = p;
	return total;
}

Test(slab, class_table_bounds_waste)
{
	for (unsigned c = 0; c < NUM_CLASSES; c++) {
		const struct size_class *sc = &_strata_classes[c];
		size_t                   bytes = PAGE_SIZE << sc->order;
		cr_assert_eq(sc->size, class_size_of(c));
		cr_assert_leq(sc->order, SLAB_MAX_ORDER);
		cr_assert_geq(sc->capacity, 2, "class %u holds %u", c, sc->capacity);
		cr_assert_leq((size_t)sc->capacity * sc->size, bytes);
		cr_assert_leq(bytes - (size_t)sc->capacity * sc->size, bytes / 8,
		              "class %u (%u B) wastes %zu of %zu", c, sc->size,
		              bytes - (size_t)sc->capacity * sc->size, bytes);
		if (sc->size <= 2048)
			cr_assert_geq(sc->capacity, slab_min_objects(sc->size), "class %u", c);
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
				cr_assert_geq(idx, _strata_classes[c].capacity,
				              "class %u offset %zu gives %u", c, off, idx);
		}
	}
}

/* The 64-bit index free's recent slabs test (no bounds test of their own):
 * exact on every object of a slab, past any capacity at every other offset
 * within and around it, and at the same offsets 4 GiB and more away and
 * below the slab, where the 32-bit index repeats. */
Test(slab, index64_is_exact_anywhere_in_the_address_space)
{
	static const uintptr_t far[] = { 0, (uintptr_t)1 << 32, (uintptr_t)3 << 40,
		                         -((uintptr_t)1 << 32),
		                         -((uintptr_t)PAGE_SIZE << SLAB_MAX_ORDER) };
	for (unsigned c = 0; c < NUM_CLASSES; c++) {
		const struct size_class *sc = &_strata_classes[c];
		uint64_t                 inv = _strata_class_inverse64[c];
		size_t                   bytes = PAGE_SIZE << sc->order;
		for (size_t i = 0; i < sizeof(far) / sizeof(far[0]); i++)
			for (size_t off = 0; off < bytes; off += 8) {
				uint64_t idx = slab_index_by64(far[i] + off, inv, sc->shift);
				if (far[i] == 0 && off % sc->size == 0)
					cr_assert_eq(idx, off / sc->size, "class %u offset %zu", c,
					             off);
				else
					cr_assert_geq(idx, sc->capacity,
					              "class %u offset %#lx + %zu gives %lu", c,
					              (unsigned long)far[i], off,
					              (unsigned long)idx);
			}
	}
}

Test(slab, a_new_slab_names_its_class_and_owner_on_every_page)
{
	for (unsigned c = 0; c < NUM_CLASSES; c += 5) {
		struct page *s = new_slab(c);
		for (size_t i = 0; i < ((size_t)1 << s->order); i++) {
			cr_assert_eq(s[i].state, PAGE_SLAB);
			cr_assert_eq(s[i].cls, c);
			cr_assert_eq(page_owner(&s[i]), owner_entry);
			cr_assert_eq(slab_head(&s[i]), s, "page %zu finds its head", i);
		}
		cr_assert(slab_empty(s));
		cr_assert_eq(A.bins[c].slabs, 1);
		release(s);
		cr_assert_eq(A.bins[c].slabs, 0);
	}
}

Test(slab, carving_gives_distinct_aligned_objects_of_its_class)
{
	for (unsigned c = 0; c < NUM_CLASSES; c += 3) {
		struct page *s = new_slab(c);
		static void *objs[8192];
		unsigned     n = carve_all(s, objs);
		cr_assert_eq(n, _strata_classes[c].capacity);
		cr_assert_eq(slab_inuse(s), n, "carved objects count as in use");
		cr_assert(slab_exhausted(s));
		size_t size = class_size(c);
		for (unsigned i = 0; i < n; i++) {
			void **p = objs[i];
			cr_assert_eq((uintptr_t)p % 16, 0);
			struct page *pg = page_of(region_of(p), p);
			cr_assert_eq(pg->state, PAGE_SLAB);
			cr_assert_eq(pg->cls, c);
			cr_assert(slab_object_valid(pg, p));
			cr_assert(slab_owns(s, p));
			cr_assert_eq((uintptr_t)p[1], _strata_free_key,
			             "carved objects carry the key");
			if (size > 16)
				cr_assert_not(slab_object_valid(pg, (char *)p + 16),
				              "middle of an object");
			if (i > 0)
				cr_assert_eq((char *)p - (char *)objs[i - 1], (ptrdiff_t)size);
		}
		for (unsigned i = 0; i < n; i++)
			cr_assert_not(slab_free_local(s, objs[i]) && i + 1 < n,
			              "only the last free of the slab asks for attention");
		cr_assert(slab_empty(s));
		release(s);
	}
}

Test(slab, objects_past_the_bump_are_not_valid)
{
	unsigned     c = size_to_class(64), n;
	struct page *s = new_slab(c);
	void       **first = slab_carve(s, 3, &n);
	cr_assert_eq(n, 3);
	cr_assert(slab_object_valid(s, first));
	cr_assert_not(slab_object_valid(s, (char *)first + 3 * 64), "never handed out");
}

Test(slab, the_local_list_is_taken_whole_with_its_length)
{
	unsigned     c = size_to_class(48), n;
	struct page *s = new_slab(c);
	static void *objs[8192];
	unsigned     total = carve_all(s, objs);
	for (unsigned i = 0; i < 10; i++)
		slab_free_local(s, objs[i]);
	cr_assert_eq(slab_inuse(s), total - 10);
	void *list = slab_take_local(s, &n);
	cr_assert_eq(n, 10, "the length is known without a walk");
	cr_assert_eq(slab_inuse(s), total);
	cr_assert_null(s->local_free);
	unsigned walked = 0;
	for (void *p = list; p; p = link_next(p))
		walked++;
	cr_assert_eq(walked, 10);
	cr_assert_eq(list, objs[9], "the last freed comes first");
}

Test(slab, remote_frees_are_collected_onto_the_local_list)
{
	unsigned     c = size_to_class(96);
	struct page *s = new_slab(c);
	static void *objs[8192];
	unsigned     total = carve_all(s, objs);
	for (unsigned i = 0; i < 5; i++)
		cr_assert(slab_push_remote(s, objs[i]));
	cr_assert_eq(slab_inuse(s), total, "remote frees count as in use until collected");
	cr_assert_eq(slab_collect_remote(s), 5);
	cr_assert_eq(slab_inuse(s), total - 5);
	cr_assert(slab_freelist_contains(s, objs[2]));
	cr_assert_eq(slab_collect_remote(s), 0, "nothing twice");
}

Test(slab, a_full_slab_hands_its_mark_to_the_first_remote_free)
{
	unsigned     c = size_to_class(256);
	struct page *s = new_slab(c);
	static void *objs[8192];
	carve_all(s, objs);
	cr_assert(slab_retire_full(s));
	cr_assert(s->inuse & SLAB_INUSE_FULL);
	cr_assert_eq(s->remote, REMOTE_FULL);
	cr_assert_not(slab_push_remote(s, objs[0]), "the first free takes the mark");
	cr_assert_eq(s->remote, 0);
	cr_assert(slab_push_remote(s, objs[1]), "the next one is pushed");
	cr_assert_eq(slab_collect_remote(s), 1);
}

Test(slab, retiring_fails_when_remote_frees_arrived)
{
	unsigned     c = size_to_class(256);
	struct page *s = new_slab(c);
	static void *objs[8192];
	carve_all(s, objs);
	slab_push_remote(s, objs[3]);
	cr_assert_not(slab_retire_full(s));
	cr_assert_not(s->inuse & SLAB_INUSE_FULL);
}

Test(slab, the_owner_freeing_into_a_full_slab_is_told)
{
	unsigned     c = size_to_class(512);
	struct page *s = new_slab(c);
	static void *objs[8192];
	carve_all(s, objs);
	cr_assert(slab_retire_full(s));
	cr_assert(slab_free_local(s, objs[0]), "a full slab asks for attention");
	slab_unretire(s);
	cr_assert_not(s->inuse & SLAB_INUSE_FULL);
	cr_assert_eq(s->remote, REMOTE_FULL, "the mark stays for another thread's free");
	cr_assert_eq(slab_inuse(s), _strata_classes[c].capacity - 1);
	/* retired again without an atomic operation: the mark is in place */
	cr_assert(slab_retire_full(s));
	cr_assert(s->inuse & SLAB_INUSE_FULL);
	cr_assert_not(slab_push_remote(s, objs[1]), "another thread's free still takes the mark");
	cr_assert_eq(s->remote, 0);
}

Test(slab, sampled_pages_tag_their_owner)
{
	struct page *s = new_slab(size_to_class(32));
	lock_acquire(&A.lock);
	slab_mark_sampled(s, true);
	cr_assert_eq(s->state, PAGE_SAMPLED);
	cr_assert_neq(page_owner_tag(s), owner_entry, "free's fast path does not match it");
	cr_assert_eq(page_owner(s), owner_entry);
	slab_set_owner(s, NULL);
	cr_assert_null(page_owner(s));
	cr_assert_neq(page_owner_tag(s), NULL, "the tag stays with a new owner");
	slab_set_owner(s, owner_entry);
	slab_mark_sampled(s, false);
	cr_assert_eq(page_owner_tag(s), owner_entry);
	cr_assert_eq(s->state, PAGE_SLAB);
	lock_release(&A.lock);
}

Test(slab, an_empty_slab_goes_back_to_the_buddy)
{
	struct page *s = new_slab(size_to_class(2048));
	size_t       free_before = A.free_pages;
	release(s);
	cr_assert_eq(A.free_pages,
	             free_before + ((size_t)1 << _strata_classes[size_to_class(2048)].order));
	cr_assert_null(page_owner(s), "a released page has no owner");
	cr_assert_eq(A.free_pages, REGION_PAGES - A.regions->meta_pages);
}

/* A link overwritten after free is caught when it is followed. */
Test(slab, overwritten_link_aborts, .signal = SIGABRT)
{
	unsigned n;
	void   **list = slab_carve(new_slab(size_to_class(64)), 2, &n);
	list[0] = (char *)list[0] + 8; /* a use after free shifts the link */
	link_next(list);
}

Test(slab, overwritten_key_aborts, .signal = SIGABRT)
{
	unsigned n;
	void   **list = slab_carve(new_slab(size_to_class(64)), 2, &n);
	list[1] = NULL;
	link_next(list);
}

/* An object freed twice by other threads is on the remote list twice:
 * the owner's collection finds the list longer than the objects out. */
Test(slab, a_remote_double_free_aborts_at_collection, .signal = SIGABRT)
{
	unsigned     n;
	struct page *s = new_slab(size_to_class(32));
	void       **list = slab_carve(s, 2, &n);
	void        *a = list, *b = link_next(list);
	slab_push_remote(s, a);
	slab_push_remote(s, b);
	slab_push_remote(s, a); /* a -> b -> a: a cycle */
	slab_collect_remote(s);
}

/* A link that decodes to an aligned pointer outside the slab (a forged or
 * overwritten link that passes the alignment check) is caught when the
 * owner collects the list. */
static char elsewhere[64] __attribute__((aligned(16)));

Test(slab, link_out_of_the_slab_aborts, .signal = SIGABRT)
{
	unsigned     n;
	struct page *s = new_slab(size_to_class(64));
	void       **list = slab_carve(s, 3, &n);
	void        *a = list, *b = link_next(list);
	slab_push_remote(s, b);
	slab_push_remote(s, a);    /* remote list: a -> b */
	link_set(elsewhere, NULL); /* looks like a free object of its own */
	link_set(a, elsewhere);    /* a -> outside the slab, key intact */
	slab_collect_remote(s);
}

/* ------------------------------------------------------------------------
 * The assertions of --enable-asserts at the slab layer's boundary.
 * ---------------------------------------------------------------------- */
#if STRATA_ASSERT_LEVEL >= 1
Test(slab, releasing_a_slab_with_objects_out_asserts, .signal = SIGABRT)
{
	struct page *s = new_slab(size_to_class(64));
	unsigned     n;
	cr_assert_not_null(slab_carve(s, 1, &n));
	release(s);
}

Test(slab, a_new_slab_without_the_lock_asserts, .signal = SIGABRT)
{
	slab_new(&A, size_to_class(64), owner_entry);
}
#endif

#if STRATA_ASSERT_LEVEL >= 2
/* The expensive level walks the local list: a length that disagrees with
 * the slab's counts (an object lost from the list) is caught. */
Test(slab, a_local_list_shorter_than_its_count_asserts, .signal = SIGABRT)
{
	struct page *s = new_slab(size_to_class(64));
	void        *objs[4096];
	unsigned     total = carve_all(s, objs);
	cr_assert_geq(total, 3);
	slab_free_local(s, objs[0]);
	slab_free_local(s, objs[1]);
	link_set(objs[1], NULL); /* objs[0] drops off the list */
	unsigned n;
	slab_take_local(s, &n);
}
#endif
