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

/* Blocks of the first of several slabs: frees into it wait in the heap's
 * ring (the slab is not the current one). */
#define RING_BLOCKS 600
static void **blocks_of_many_slabs(void)
{
	static void *b[RING_BLOCKS];
	for (int i = 0; i < RING_BLOCKS; i++)
		b[i] = malloc(64);
	return b;
}

/* The first free waits in the ring, the second is made at once. */
static void double_free_queued(void *arg)
{
	(void)arg;
	void **b = blocks_of_many_slabs();
	void  *p = name(b[0]);
	free(p);
	free(p);
	strata_check_heap(); /* empties the ring */
}

Test(misuse, double_free_of_a_block_waiting_in_the_ring)
{
	expect_abort(double_free_queued, NULL, "double free of");
}

/* The first free is made at once (its slab is the last one queued into),
 * the second waits in the ring. */
static void double_free_then_queued(void *arg)
{
	(void)arg;
	void **b = blocks_of_many_slabs();
	void  *p = name(b[1]);
	free(b[0]);               /* queued: its slab is the last queued into */
	free(p);                  /* made at once */
	free(b[RING_BLOCKS / 2]); /* queued: another slab */
	free(p);                  /* queued */
	strata_check_heap();
}

Test(misuse, double_free_of_a_free_block_into_the_ring)
{
	expect_abort(double_free_then_queued, NULL, "double free of");
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

/* The same, on the page of the thread's last free (free's page test). */
static void free_middle_after_a_free(void *arg)
{
	(void)arg;
	char *a = malloc(100), *b = malloc(100);
	for (int i = 0; i < 64 && ((uintptr_t)a ^ (uintptr_t)b) >= 4096; i++)
		b = malloc(100); /* b on a's page */
	free(a);
	free(name(b + 16));
}

/* The first object of the first slab of 3 KiB objects: the first refill
 * carves 8 of its 21 and hands out the first, so the tenth was never
 * handed out.  Of three mallocs, the lowest of two 3072 bytes apart: a
 * leak sample hands out a block of the shared heap instead, and the
 * first object next. */
static char *first_of_a_3k_slab(void)
{
	char *b[3] = { malloc(3000), malloc(3000), malloc(3000) }, *first = NULL;
	for (int i = 0; i < 3; i++)
		for (int j = 0; j < 3; j++)
			if (b[j] == b[i] + 3072 && (first == NULL || b[i] < first))
				first = b[i];
	if (first == NULL)
		abort();
	return first;
}

/* The same on another page of the slab of the thread's last free (free's
 * slab test, which skips the page's descriptor). */
static void free_middle_in_the_last_slab(void *arg)
{
	(void)arg;
	char *a = malloc(100), *b = malloc(100);
	for (int i = 0; i < 256 && ((uintptr_t)a ^ (uintptr_t)b) < 4096; i++)
		b = malloc(100); /* b on another page than a's, of a's slab */
	free(a);
	free(name(b + 16));
}

/* A slot past the slab's bump (never handed out), after a free into the
 * slab: the slab test finds it as the pagemap does. */
static void free_unallocated_slot_in_the_last_slab(void *arg)
{
	(void)arg;
	char *p = first_of_a_3k_slab();
	free(p + 3072);
	free(name(p + 9 * 3072));
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
	free(name(first_of_a_3k_slab() + 9 * 3072));
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

/* malloc_usable_size's fast path (a slab's block) makes free's checks. */
static void usable_size_middle_small(void *arg)
{
	(void)arg;
	char *p = malloc(100);
	(void)malloc_usable_size(name(p + 16));
}

/* ... and so does its look-up in the slabs of the thread's recent frees:
 * q's free puts its slab there, p's is the same. */
static void usable_size_middle_recent(void *arg)
{
	(void)arg;
	char *q = malloc(100), *p = malloc(100);
	free(q);
	(void)malloc_usable_size(name(p + 16));
}

static void usable_size_freed_small(void *arg)
{
	(void)arg;
	char *p = malloc(100);
	free(p);
	(void)malloc_usable_size(name(p));
}

static void usable_size_unallocated_slot(void *arg)
{
	(void)arg;
	(void)malloc_usable_size(name(first_of_a_3k_slab() + 9 * 3072));
}

static void realloc_middle_small(void *arg)
{
	(void)arg;
	char *p = malloc(100);
	void *r = realloc(name(p + 16), 40);
	(void)r;
}

Test(misuse, realloc_of_middle_of_small_block)
{
	expect_abort(realloc_middle_small, NULL, "passed to realloc (not the start of a block)");
}
Test(misuse, usable_size_of_middle_of_small_block)
{
	expect_abort(usable_size_middle_small, NULL,
	             "passed to malloc_usable_size (not the start of a block)");
}
Test(misuse, usable_size_of_middle_of_a_block_of_a_recent_slab)
{
	expect_abort(usable_size_middle_recent, NULL,
	             "passed to malloc_usable_size (not the start of a block)");
}
Test(misuse, usable_size_of_freed_small_block)
{
	expect_abort(usable_size_freed_small, NULL,
	             "passed to malloc_usable_size was already freed");
}
Test(misuse, usable_size_of_a_slot_never_handed_out)
{
	expect_abort(usable_size_unallocated_slot, NULL,
	             "passed to malloc_usable_size (not the start of a block)");
}

Test(misuse, free_of_stack_address)
{
	expect_abort(free_stack, NULL, "invalid pointer");
}
Test(misuse, free_of_middle_of_small_block)
{
	expect_abort(free_middle_small, NULL, "not the start of a block");
}
Test(misuse, free_of_middle_of_small_block_on_the_page_just_freed_into)
{
	expect_abort(free_middle_after_a_free, NULL, "not the start of a block");
}
Test(misuse, free_of_middle_of_small_block_in_the_slab_just_freed_into)
{
	expect_abort(free_middle_in_the_last_slab, NULL, "not the start of a block");
}

Test(misuse, free_of_a_slot_never_handed_out_in_the_slab_just_freed_into)
{
	expect_abort(free_unallocated_slot_in_the_last_slab, NULL, "not the start of a block");
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
/* A block just freed waits on its class's local list (the next malloc
 * hands out another): a write to it is found when the free list runs dry
 * and takes the local list, or when the lists are checked (the thread
 * flushes or exits; tests/misuse has the exit's check). */
static void uaf_write_link(void *arg)
{
	(void)arg;
	char *p = name(malloc(64));
	free(p);
	((volatile char *)p)[0] ^= 0x08; /* the link now decodes misaligned (an
	                                       arbitrary write does 15 times in 16) */
	for (int i = 0; i < 100000; i++) /* a slab's worth and more */
		if (malloc(64) == NULL)
			break;
}

static void uaf_write_key(void *arg)
{
	(void)arg;
	char *p = name(malloc(64));
	free(p);
	((volatile uintptr_t *)p)[1] = 0; /* the key only; the link stays valid */
	void *a = malloc(64);
	(void)a;
	strata_thread_flush(); /* the lists go back to the slab, checked */
}

/* An overflow by one byte into the next object, free, found when the
 * thread's lists are checked (its link's first byte). */
static void overflow_into_free_object(void *arg)
{
	(void)arg;
	char *o[64];
	for (int i = 0; i < 64; i++)
		o[i] = malloc(48);
	for (int i = 0; i < 64; i++)
		for (int j = 0; j < 64; j++)
			if (o[j] == o[i] + 48) { /* side by side */
				free(o[j]);
				((char *)name(o[i]))[48] ^= 0x08;
				strata_thread_flush();
				_exit(0);
			}
	_exit(3);
}

/* The block malloc hands out after a free of one of its size is not the
 * one just freed: what the freed block held is not in the next one.  arg:
 * the size.  Exit 3 if it is. */
static void fresh_block_after_free(void *arg)
{
	size_t size = (size_t)(uintptr_t)arg;
	char  *p = malloc(size);
	memset(p, 0x5a, size);
	free(p);
	char *q = malloc(size);
	_exit(q == p ? 3 : 0);
}

static void expect_fresh_block(size_t size)
{
	struct child_result r;
	run_child(fresh_block_after_free, (void *)(uintptr_t)size, 10, &r);
	cr_assert(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0,
	          "%zu bytes: status %#x (exit 3: malloc returned the block just freed)", size,
	          r.status);
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
Test(misuse, overflow_into_a_free_object_is_found_by_a_flush)
{
	expect_abort(overflow_into_free_object, NULL, "corrupted free list at");
}
Test(misuse, the_block_just_freed_is_not_the_next_one)
{
	expect_fresh_block(96);
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

/* Large blocks end at a canary: an overflow by one byte past a 384 KiB
 * block (a whole number of pages, not a power of two: the canary gets a
 * page of its own) or one with slack is stopped by free, and by realloc. */
static void large_overflow_free(void *arg)
{
	size_t size = (size_t)(uintptr_t)arg;
	char  *p = name(malloc(size));
	p[size] = 0x41;
	free(p);
}

/* A string's terminator one past the end, the commonest overflow: the
 * canary's first byte is never NUL, so every run stops it. */
static void large_overflow_nul(void *arg)
{
	(void)arg;
	char *p = name(malloc(70000)); /* the canary in the last page's slack */
	memset(p, 'x', 70000);
	p[70000] = '\0';
	free(p);
}

static void large_overflow_realloc(void *arg)
{
	(void)arg;
	char *p = name(malloc(200 << 10));
	memset(p, 0x41, (200 << 10) + 8);
	p = realloc(p, 300 << 10);
}

Test(misuse, overflow_past_a_large_block_by_one_byte)
{
	expect_abort(large_overflow_free, (void *)(uintptr_t)(384 << 10), "heap overflow past");
	expect_abort(large_overflow_free, (void *)(uintptr_t)((100 << 10) + 48),
	             "heap overflow past");
	expect_abort(large_overflow_realloc, NULL, "heap overflow past");
	for (int i = 0; i < 8; i++) /* each run a new secret */
		expect_abort(large_overflow_nul, NULL, "heap overflow past");
}

/* A huge block's canary is the word below it, whose top byte (the one just
 * below the block) has its high bit set: an underflow by one byte of any
 * value below 0x80 is stopped by free in every run, not 255 in 256. */
static void huge_underflow_byte(void *arg)
{
	char *p = name(malloc(8 << 20));
	p[-1] = (char)(uintptr_t)arg;
	free(p);
}

Test(misuse, underflow_before_a_huge_block_by_one_byte)
{
	unsigned char *p = malloc(8 << 20);
	cr_assert(p[-1] & 0x80, "the byte below a huge block is %#x", p[-1]);
	free(p);
	const unsigned char bytes[] = { 0, '\n', ' ', 'A', 0x7f };
	for (unsigned i = 0; i < sizeof(bytes); i++)
		expect_abort(huge_underflow_byte, (void *)(uintptr_t)bytes[i],
		             "heap underflow before");
}

/* No false alarm: every byte malloc_usable_size gives may be written, through
 * realloc's growth and shrinking in place and the thread's reuse of runs. */
Test(misuse, large_blocks_may_be_written_to_their_usable_size)
{
	static const size_t sizes[] = { (32 << 10) + 1,     36 << 10, (64 << 10) - 8, 128 << 10,
		                        (512 << 10) + 4080, 1 << 20,  (4 << 20) - 16 };
	for (int round = 0; round < 2; round++)
		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			char  *p = malloc(sizes[i]);
			size_t u = malloc_usable_size(p);
			cr_assert_geq(u, sizes[i]);
			memset(p, 0x5a, u);
			p = realloc(p, sizes[i] + 5000);
			memset(p, 0x5b, malloc_usable_size(p));
			p = realloc(p, sizes[i] - 3000);
			memset(p, 0x5c, malloc_usable_size(p));
			free(p);
		}
}

/* A large run freed waits in its thread's cache while the next one of its
 * size comes from elsewhere; a write to it there is found when it leaves
 * the cache (here a flush), or at exit. */
static void uaf_write_kept_run(void *arg)
{
	(void)arg;
	char *p = name(malloc(300 << 10));
	free(p);
	memset(p, 0x41, 16);
	strata_thread_flush();
}

Test(misuse, the_run_just_freed_is_not_the_next_one)
{
	expect_fresh_block(300 << 10);
}

Test(misuse, write_after_free_to_a_kept_large_run)
{
	expect_abort(uaf_write_kept_run, NULL, "corrupted free list at");
}
