/* SPDX-License-Identifier: MIT */
/* Heap misuse aborts with one "strata: ..." line naming the pointer. */
#include <criterion/criterion.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "strata.h"
#include "testutil.h"

static char printed[64]; /* the pointer as the child will print it */

static void expect_abort(void (*fn)(void *), void *arg, const char *what)
{
	struct child_result r;
	run_child(fn, arg, 20, &r);
	cr_assert_eq(child_signal(&r), SIGABRT, "%s: child status %#x, stderr: %s", what, r.status,
	             r.err);
	cr_assert_eq(strncmp(r.err, "strata: ", 8), 0, "%s: stderr was: %s", what, r.err);
	cr_assert_not_null(strstr(r.err, what), "expected '%s' in: %s", what, r.err);
	cr_assert_not_null(strstr(r.err, printed), "pointer %s not named in: %s", printed, r.err);
	char *nl = strchr(r.err, '\n');
	cr_assert(nl && nl[1] == '\0', "one line: %s", r.err);
}

static void *name(void *p)
{
	snprintf(printed, sizeof(printed), "%p", p);
	return p;
}

/* ------------------------------------------------------------------------ */
static void double_free_small(void *arg)
{
	(void)arg;
	void *p = name(malloc(40));
	free(p);
	free(p);
}

static void double_free_small_after_flush(void *arg)
{
	(void)arg;
	void *keep = malloc(40); /* keeps the slab from being released */
	void *p = name(malloc(40));
	free(p);
	strata_thread_flush(); /* p now sits on its slab's freelist */
	free(p);
	free(keep);
}

static void double_free_large(void *arg)
{
	(void)arg;
	void *p = name(malloc(200000));
	free(p);
	free(p);
}

static void double_free_huge(void *arg)
{
	(void)arg;
	void *p = name(malloc(20 << 20));
	free(p);
	free(p);
}

Test(misuse, double_free_small)
{
	expect_abort(double_free_small, NULL, "double free of");
}
Test(misuse, double_free_small_after_flush)
{
	expect_abort(double_free_small_after_flush, NULL, "double free of");
}
Test(misuse, double_free_large)
{
	expect_abort(double_free_large, NULL, "double free of");
}
Test(misuse, double_free_huge)
{
	expect_abort(double_free_huge, NULL, "double free of");
}

/* ------------------------------------------------------------------------ */
static void free_stack(void *arg)
{
	(void)arg;
	char buf[64];
	free(name(buf));
}

static void free_middle_small(void *arg)
{
	(void)arg;
	char *p = malloc(100);
	free(name(p + 16));
}

static void free_middle_large(void *arg)
{
	(void)arg;
	char *p = malloc(300000);
	free(name(p + 8192));
}

static void free_middle_huge(void *arg)
{
	(void)arg;
	char *p = malloc(10 << 20);
	free(name(p + 4096));
}

static void free_foreign_mapping(void *arg)
{
	(void)arg;
	void *m = mmap(NULL, 1 << 16, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	free(name((char *)m + 64));
}

static char static_buffer[256];

static void free_static(void *arg)
{
	(void)arg;
	free(name(static_buffer + 16));
}

static void free_unallocated_slot(void *arg)
{
	(void)arg;
	/* The first malloc of this class carves 8 of the slab's 21 objects of
	 * 3 KiB and returns the first; the tenth was never handed out. */
	char *p = malloc(3000);
	free(name(p + 9 * 3072));
}

static void realloc_foreign(void *arg)
{
	(void)arg;
	char  buf[64];
	void *r = realloc(name(buf), 100);
	(void)r;
}

static void usable_size_foreign(void *arg)
{
	(void)arg;
	char buf[64];
	(void)malloc_usable_size(name(buf));
}

Test(misuse, free_of_stack_address)
{
	expect_abort(free_stack, NULL, "invalid pointer");
}
Test(misuse, free_of_middle_of_small_block)
{
	expect_abort(free_middle_small, NULL, "not the start of a block");
}
Test(misuse, free_of_middle_of_large_block)
{
	expect_abort(free_middle_large, NULL, "invalid pointer");
}
Test(misuse, free_of_middle_of_huge_block)
{
	expect_abort(free_middle_huge, NULL, "not the start of a block");
}
Test(misuse, free_of_another_mapping)
{
	expect_abort(free_foreign_mapping, NULL, "not allocated by strata");
}
Test(misuse, free_of_static_data)
{
	expect_abort(free_static, NULL, "not allocated by strata");
}
Test(misuse, free_of_a_slot_never_handed_out)
{
	expect_abort(free_unallocated_slot, NULL, "invalid pointer");
}
Test(misuse, realloc_of_foreign_pointer)
{
	expect_abort(realloc_foreign, NULL, "passed to realloc");
}
Test(misuse, usable_size_of_foreign_pointer)
{
	expect_abort(usable_size_foreign, NULL, "passed to malloc_usable_size");
}

/* ------------------------------------------------------------------------
 * Free-list links: a write after free is caught when the list is followed
 * ---------------------------------------------------------------------- */
static void uaf_write_link(void *arg)
{
	(void)arg;
	char *p = name(malloc(64));
	free(p);
	((volatile char *)p)[0] ^= 0x08; /* the link now decodes misaligned (an
	                                       arbitrary write does 15 times in 16) */
	void *a = malloc(64);
	(void)a;
}

static void uaf_write_key(void *arg)
{
	(void)arg;
	char *p = name(malloc(64));
	free(p);
	((volatile uintptr_t *)p)[1] = 0; /* the key only; the link stays valid */
	void *a = malloc(64);
	(void)a;
}

static void uaf_write_on_slab_freelist(void *arg)
{
	(void)arg;
	void *keep = malloc(200);
	char *p = name(malloc(200));
	free(p);
	strata_thread_flush(); /* p is on its slab's freelist */
	memset(p, 0, 16);
	for (int i = 0; i < 64; i++) /* the refill walks the freelist */
		(void)malloc(200);
	free(keep);
}

/* Thread A holds p in its cache while this thread frees it again and takes
 * it back: A's next malloc finds the key cleared. */
static pthread_barrier_t gate;

static void *free_then_malloc(void *p)
{
	free(p);
	pthread_barrier_wait(&gate);
	pthread_barrier_wait(&gate);
	void *again = malloc(48);
	return again;
}

static void cross_thread_double_free(void *arg)
{
	(void)arg;
	pthread_barrier_init(&gate, NULL, 2);
	void     *p = name(malloc(48));
	pthread_t t;
	pthread_create(&t, NULL, free_then_malloc, p);
	pthread_barrier_wait(&gate);
	free(p);                 /* not in this heap: on the other's foreign list */
	void *mine = malloc(48); /* p again */
	(void)mine;
	pthread_barrier_wait(&gate);
	pthread_join(t, NULL);
}

static void realloc_of_freed(void *arg)
{
	(void)arg;
	void *p = name(malloc(40));
	free(p);
	void *r = realloc(p, 80);
	(void)r;
}

Test(misuse, write_after_free_to_a_cached_link)
{
	expect_abort(uaf_write_link, NULL, "corrupted free list at");
}
Test(misuse, write_after_free_to_a_cached_key)
{
	expect_abort(uaf_write_key, NULL, "corrupted free list at");
}
Test(misuse, write_after_free_on_the_slab_freelist)
{
	expect_abort(uaf_write_on_slab_freelist, NULL, "corrupted free list at");
}
Test(misuse, double_free_from_two_threads)
{
	expect_abort(cross_thread_double_free, NULL, "double free of");
}
Test(misuse, realloc_of_a_freed_block)
{
	expect_abort(realloc_of_freed, NULL, "passed to realloc was already freed");
}
