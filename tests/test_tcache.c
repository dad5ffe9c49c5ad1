/* Tests for src/tcache.c: refill, push/pop, flush to cap/2, thread exit. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdlib.h>

#include "arena.h"
#include "slab.h"
#include "strata.h"
#include "tcache.h"

static size_t objects_out(unsigned c)
{
	size_t n = 0;
	for (unsigned i = 0; i < _strata_narenas; i++) {
		lock_acquire(&_strata_arenas[i].lock);
		n += _strata_arenas[i].bins[c].objects_out;
		lock_release(&_strata_arenas[i].lock);
	}
	return n;
}

Test(tcache, first_malloc_sets_up_and_refills_a_batch)
{
	struct tcache *tc = &_strata_tcache;
	unsigned c = size_to_class(200);
	free(malloc(1));
	tcache_flush_all(tc);       /* criterion itself may have used this class */
	void *p = malloc(200);
	cr_assert_eq(tc->state, TCACHE_LIVE);
	struct tcache_bin *b = &tc->bins[c];
	cr_assert_gt(b->cap, 0);
	cr_assert_eq(tcache_bin_count(b), b->cap / 2 - 1, "a batch of cap/2, one handed out");
	void *q = malloc(200);
	cr_assert_eq(tcache_bin_count(b), b->cap / 2 - 2, "the second comes from the cache");
	free(q);
	cr_assert_eq(b->head, q, "free pushes on top");
	cr_assert_eq(malloc(200), q, "LIFO: the last freed is the next given");
	free(p);
}

Test(tcache, full_bin_flushes_half_back_to_the_slabs)
{
	struct tcache *tc = &_strata_tcache;
	unsigned c = size_to_class(64);
	free(malloc(64));
	tcache_flush_all(tc);
	struct tcache_bin *b = &tc->bins[c];
	uint32_t cap = b->cap;
	void **ptrs = calloc(2 * cap, sizeof(void *));
	for (uint32_t i = 0; i < 2 * cap; i++)
		ptrs[i] = malloc(64);
	size_t out_before = objects_out(c);
	for (uint32_t i = 0; i < cap; i++)
		free(ptrs[i]);
	cr_assert_leq(tcache_bin_count(b), cap);
	free(ptrs[cap]);
	cr_assert_eq(tcache_bin_count(b), cap / 2 + 1, "flushed to half, then pushed: count %u cap %u", tcache_bin_count(b), cap);
	cr_assert_lt(objects_out(c), out_before, "flushed objects went back to their slabs");
	for (uint32_t i = cap + 1; i < 2 * cap; i++)
		free(ptrs[i]);
	free(ptrs);
}

static void *thread_fill_cache(void *arg)
{
	unsigned n = *(unsigned *)arg;
	void **p = calloc(n, sizeof(void *));
	for (unsigned i = 0; i < n; i++)
		p[i] = malloc(96);
	for (unsigned i = 0; i < n; i++)
		free(p[i]);
	free(p);
	return (void *)(uintptr_t)tcache_bin_count(&_strata_tcache.bins[size_to_class(96)]);
}

Test(tcache, thread_exit_returns_cached_objects)
{
	unsigned c = size_to_class(96), n = 50;
	free(malloc(1));
	size_t before = objects_out(c);
	pthread_t t;
	void *cached;
	pthread_create(&t, NULL, thread_fill_cache, &n);
	pthread_join(t, &cached);
	cr_assert_gt((uintptr_t)cached, 0, "the thread had objects cached");
	cr_assert_eq(objects_out(c), before, "all of them are back in the arena");
}

Test(tcache, a_zero_cap_sends_everything_to_the_arena)
{
	struct tcache *tc = &_strata_tcache;
	unsigned c = size_to_class(32);
	free(malloc(32));
	tcache_flush_all(tc);
	tcache_thread_exit(tc);         /* what thread exit does: caps 0 */
	tc->state = TCACHE_LIVE;
	size_t before = objects_out(c);
	void *p = malloc(32);
	cr_assert_not_null(p);
	cr_assert_eq(objects_out(c), before + 1, "one object, no batch");
	cr_assert_eq(tcache_bin_count(&tc->bins[c]), 0);
	free(p);
	cr_assert_eq(objects_out(c), before, "the free went straight to the slab");
	cr_assert_eq(tcache_bin_count(&tc->bins[c]), 0, "nothing is cached");
}

Test(tcache, calls_are_counted_exactly)
{
	struct tcache *tc = &_strata_tcache;
	unsigned c = size_to_class(500);
	free(malloc(500));
	struct tcache_bin *b = &tc->bins[c];
	uint64_t m = b->pops, f = b->pushes;
	void *p[300];
	for (int i = 0; i < 300; i++)       /* several refills */
		p[i] = malloc(500);
	for (int i = 0; i < 300; i++)       /* several flushes */
		free(p[i]);
	cr_assert_eq(b->pops - m, 300, "mallocs counted: %lu", (unsigned long)(b->pops - m));
	cr_assert_eq(b->pushes - f, 300, "frees counted");
	cr_assert_leq(tcache_bin_count(b), b->cap);
}

Test(tcache, freed_large_runs_are_reused_by_the_thread)
{
	struct tcache *tc = &_strata_tcache;
	strata_thread_flush();          /* criterion may have cached runs */
	void *p = malloc(100000);
	free(p);
	cr_assert_eq(tc->nlarge, 1);
	cr_assert_eq(malloc(100000), p, "same size: the cached run comes back");
	cr_assert_eq(tc->nlarge, 0);
	free(p);
	void *q = malloc(200000);
	cr_assert_neq(q, p, "another size does not take it");
	free(q);

	void *runs[TCACHE_LARGE_SLOTS + 2];
	for (int i = 0; i < TCACHE_LARGE_SLOTS + 2; i++)
		runs[i] = malloc(40000 + 4096 * (size_t)i);
	for (int i = 0; i < TCACHE_LARGE_SLOTS + 2; i++)
		free(runs[i]);
	cr_assert_leq(tc->nlarge, TCACHE_LARGE_SLOTS);
	cr_assert_leq(tc->large_bytes, TCACHE_LARGE_BYTES);
	void *big = malloc(2 << 20);
	free(big);
	cr_assert_neq(tc->large[tc->nlarge - 1], NULL);
	strata_thread_flush();
	cr_assert_eq(tc->nlarge, 0, "flushed");
	cr_assert_eq(tc->large_bytes, 0);
}
