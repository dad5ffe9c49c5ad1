/* SPDX-License-Identifier: MIT */
/* Object caches, reserved pools and private heaps (strata_cache_*,
 * strata_pool_*, strata_heap_*): their objects, figures, threads, misuse
 * and the reserve's guarantee. */
#include <criterion/criterion.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "strata.h"
#include "testutil.h"

static struct strata_cache_stats cache_stats(strata_cache_t *c)
{
	struct strata_cache_stats st = { .struct_size = sizeof(st) };
	cr_assert_eq(strata_cache_stats_get(c, &st), 0);
	return st;
}

static int by_address(const void *a, const void *b)
{
	uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
	return x < y ? -1 : x > y;
}

/* ------------------------------------------------------------------------
 * Caches
 * ---------------------------------------------------------------------- */
Test(cache, objects_have_the_exact_size_and_alignment)
{
	strata_cache_t *c = strata_cache_create("exact24", 24, 0, 0);
	cr_assert_not_null(c);
	enum { N = 200 };
	uintptr_t v[N];
	for (int i = 0; i < N; i++) {
		v[i] = (uintptr_t)strata_cache_alloc(c);
		cr_assert_neq(v[i], 0);
		cr_assert_eq(v[i] % 8, 0);
		memset((void *)v[i], i, 24);
	}
	qsort(v, N, sizeof(v[0]), by_address);
	uintptr_t closest = UINTPTR_MAX;
	for (int i = 1; i < N; i++)
		closest = v[i] - v[i - 1] < closest ? v[i] - v[i - 1] : closest;
	cr_assert_eq(closest, 24, "objects of 24 bytes are %zu apart", (size_t)closest);
	cr_assert_eq(malloc_usable_size((void *)v[0]), 24);
	for (int i = 0; i < N; i++)
		strata_cache_free(c, (void *)v[i]);
	cr_assert_eq(strata_cache_destroy(c), 0);

	strata_cache_t *a = strata_cache_create("aligned", 100, 256, 0);
	for (int i = 0; i < 50; i++) {
		void *p = strata_cache_alloc(a);
		cr_assert_eq((uintptr_t)p % 256, 0, "%p not 256-aligned", p);
	}
	cr_assert_eq(strata_check_heap(), 0);
}

/* A cache's slabs of small objects hold 128 of them (a page for 32
 * bytes), not the 32 KiB of malloc's small classes: a private heap keeps
 * a slab for each size it uses. */
Test(cache, small_objects_take_small_slabs)
{
	strata_cache_t *c = strata_cache_create("small", 32, 0, 0);
	cr_assert_not_null(c);
	void *p = strata_cache_alloc(c);
	cr_assert_not_null(p);
	cr_assert_eq(cache_stats(c).slab_bytes, 4096);
	strata_cache_free(c, p);
	cr_assert_eq(strata_cache_destroy(c), 0);
}

Test(cache, bad_arguments_are_refused)
{
	errno = 0;
	cr_assert_null(strata_cache_create("x", 64, 3, 0));
	cr_assert_eq(errno, EINVAL);
	errno = 0;
	cr_assert_null(strata_cache_create("x", 64, 8192, 0));
	cr_assert_eq(errno, EINVAL);
	errno = 0;
	cr_assert_null(strata_cache_create("x", (size_t)2 << 20, 0, 0));
	cr_assert_eq(errno, EINVAL);
	errno = 0;
	cr_assert_null(strata_cache_create("x", 64, 0, 0x100));
	cr_assert_eq(errno, EINVAL);
	cr_assert_eq(strata_cache_destroy(NULL), 0);
	strata_cache_free(strata_cache_create("null", 64, 0, 0), NULL);
}

Test(cache, zero_flag_zeroes)
{
	strata_cache_t *c = strata_cache_create("zeroed", 200, 0, STRATA_CACHE_ZERO);
	for (int i = 0; i < 100; i++) {
		unsigned char *p = strata_cache_alloc(c);
		for (int k = 0; k < 200; k++)
			cr_assert_eq(p[k], 0);
		memset(p, 0xab, 200);
		strata_cache_free(c, p);
	}
}

/* Type isolation: no page holds objects of two caches, or of a cache and
 * malloc. */
Test(cache, caches_share_no_page)
{
	strata_cache_t *a = strata_cache_create("typeA", 64, 0, 0);
	strata_cache_t *b = strata_cache_create("typeB", 64, 0, 0);
	enum { N = 3000 };
	static uintptr_t pages[3 * N];
	static char      owner[3 * N];
	for (int i = 0; i < N; i++) {
		pages[i] = (uintptr_t)strata_cache_alloc(a) >> 12;
		pages[N + i] = (uintptr_t)strata_cache_alloc(b) >> 12;
		pages[2 * N + i] = (uintptr_t)malloc(64) >> 12;
	}
	/* tag each entry by who made it, then sort (page, tag) pairs */
	for (int i = 0; i < 3 * N; i++)
		pages[i] = pages[i] << 2 | (uintptr_t)(i / N);
	qsort(pages, 3 * N, sizeof(pages[0]), by_address);
	for (int i = 1; i < 3 * N; i++)
		cr_assert(!(pages[i] >> 2 == pages[i - 1] >> 2
		            && (pages[i] & 3) != (pages[i - 1] & 3)),
		          "page %#zx holds objects of two kinds", (size_t)(pages[i] >> 2 << 12));
	(void)owner;
}

Test(cache, figures_count_every_call)
{
	strata_cache_t *c = strata_cache_create("counted", 72, 8, 0);
	static void    *v[1000];
	for (int i = 0; i < 1000; i++)
		v[i] = strata_cache_alloc(c);
	for (int i = 0; i < 400; i++)
		strata_cache_free(c, v[i]);
	struct strata_cache_stats st = cache_stats(c);
	cr_assert_str_eq(st.name, "counted");
	cr_assert_eq(st.object_size, 72);
	cr_assert_eq(st.stride, 72);
	cr_assert_eq(st.live, 600);
	cr_assert_eq(st.live_bytes, 600 * 72);
	cr_assert_eq(st.mallocs, 1000);
	cr_assert_eq(st.frees, 400);
	cr_assert_geq(st.total, 600);
	cr_assert_eq(st.slab_bytes, st.slack + st.live_bytes);
	for (int i = 400; i < 1000; i++)
		free(v[i]); /* plain free() works */
	st = cache_stats(c);
	cr_assert_eq(st.live, 0);
	cr_assert_eq(st.frees, 1000);
	cr_assert_eq(strata_cache_destroy(c), 0);
}

/* Random runs of allocs and frees, longer than a magazine holds, so that
 * objects move through both of its lists, hand-overs, refills and
 * flushes: every live object is distinct and keeps its bytes, and the
 * figures are exact after every run. */
Test(cache, figures_stay_exact_through_the_magazine)
{
	enum { MAX_LIVE = 6000 };
	strata_cache_t  *c = strata_cache_create("moving", 72, 8, 0);
	static uint64_t *live[MAX_LIVE];
	size_t           nlive = 0;
	uint64_t         mallocs = 0, frees = 0, rng = 12345;
	for (int run = 0; run < 60; run++) {
		rng = rng * 6364136223846793005ull + 1442695040888963407ull;
		size_t count = (rng >> 33) % 3000;
		bool   alloc = (rng >> 20) & 1 ? nlive < MAX_LIVE / 2 : nlive + count < MAX_LIVE;
		for (size_t i = 0; i < count; i++) {
			if (alloc && nlive < MAX_LIVE) {
				uint64_t *p = strata_cache_alloc(c);
				cr_assert_not_null(p);
				p[0] = p[1] = p[8] = (uintptr_t)p ^ 0x5a5a;
				live[nlive++] = p;
				mallocs++;
			} else if (!alloc && nlive > 0) {
				size_t    k = (rng >> (i % 29)) % nlive; /* not in order */
				uint64_t *p = live[k];
				cr_assert_eq(p[0], (uintptr_t)p ^ 0x5a5a);
				cr_assert_eq(p[8], (uintptr_t)p ^ 0x5a5a);
				live[k] = live[--nlive];
				strata_cache_free(c, p);
				frees++;
			}
		}
		struct strata_cache_stats st = cache_stats(c);
		cr_assert_eq(st.mallocs, mallocs, "run %d", run);
		cr_assert_eq(st.frees, frees, "run %d", run);
		cr_assert_eq(st.live, nlive, "run %d", run);
		cr_assert_eq(st.slab_bytes, st.slack + st.live_bytes);
		static uint64_t *sorted[MAX_LIVE];
		memcpy(sorted, live, nlive * sizeof(*live));
		qsort(sorted, nlive, sizeof(*sorted), by_address);
		for (size_t i = 1; i < nlive; i++)
			cr_assert_neq(sorted[i - 1], sorted[i], "an object handed out twice");
	}
	while (nlive > 0)
		strata_cache_free(c, live[--nlive]);
	cr_assert_eq(cache_stats(c).live, 0);
	cr_assert_eq(strata_cache_destroy(c), 0);
}

Test(cache, realloc_of_an_object_keeps_its_bytes)
{
	strata_cache_t *c = strata_cache_create("grown", 40, 0, 0);
	char           *p = strata_cache_alloc(c);
	memcpy(p, "0123456789012345678901234567890123456789", 40);
	cr_assert_eq(realloc(p, 30), p);
	char *q = realloc(p, 5000);
	cr_assert_not_null(q);
	cr_assert_eq(memcmp(q, "0123456789012345678901234567890123456789", 40), 0);
	cr_assert_eq(cache_stats(c).live, 0);
	free(q);
}

static void destroy_busy(void *arg)
{
	(void)arg;
	strata_cache_t *c = strata_cache_create("busy", 128, 0, 0);
	void           *p = strata_cache_alloc(c);
	strata_cache_alloc(c);
	errno = 0;
	if (strata_cache_destroy(c) != -1 || errno != EBUSY)
		_exit(3);
	memset(p, 1, 128); /* still valid */
	free(p);
	_exit(0);
}

Test(cache, destroying_a_busy_cache_reports_and_keeps_it)
{
	struct child_result r;
	run_child(destroy_busy, NULL, 20, &r);
	cr_assert(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0, "status %#x: %s", r.status,
	          r.err);
	cr_assert_not_null(strstr(r.err, "strata: "), "%s", r.err);
	cr_assert_not_null(strstr(r.err, "\"busy\""), "%s", r.err);
	cr_assert_not_null(strstr(r.err, "2 objects"), "%s", r.err);
}

/* Objects freed by other threads than their allocator's. */
#define XT_THREADS 4
#define XT_OBJECTS 20000
static strata_cache_t *xt_cache;
static void           *xt_objects[XT_THREADS][XT_OBJECTS];

static void *xt_alloc(void *arg)
{
	void **v = arg;
	for (int i = 0; i < XT_OBJECTS; i++) {
		v[i] = strata_cache_alloc(xt_cache);
		memset(v[i], 0x5a, 48);
	}
	return NULL;
}

static void *xt_free(void *arg)
{
	void **v = arg;
	for (int i = 0; i < XT_OBJECTS; i++) {
		if (i & 1)
			strata_cache_free(xt_cache, v[i]);
		else
			free(v[i]);
	}
	return NULL;
}

Test(cache, objects_freed_by_other_threads)
{
	xt_cache = strata_cache_create("crossing", 48, 16, 0);
	for (int round = 0; round < 3; round++) {
		pthread_t t[XT_THREADS];
		for (int i = 0; i < XT_THREADS; i++)
			pthread_create(&t[i], NULL, xt_alloc, xt_objects[i]);
		for (int i = 0; i < XT_THREADS; i++)
			pthread_join(t[i], NULL);
		for (int i = 0; i < XT_THREADS; i++) /* thread i frees what i+1 made */
			pthread_create(&t[i], NULL, xt_free, xt_objects[(i + 1) % XT_THREADS]);
		for (int i = 0; i < XT_THREADS; i++)
			pthread_join(t[i], NULL);
	}
	struct strata_cache_stats st = cache_stats(xt_cache);
	cr_assert_eq(st.live, 0, "live %llu", (unsigned long long)st.live);
	cr_assert_eq(st.mallocs, 3ull * XT_THREADS * XT_OBJECTS);
	cr_assert_eq(st.frees, st.mallocs);
	cr_assert_eq(strata_check_heap(), 0);
	cr_assert_eq(strata_cache_destroy(xt_cache), 0);
}

/* ------------------------------------------------------------------------
 * Misuse
 * ---------------------------------------------------------------------- */
static void expect_abort(void (*fn)(void *), const char *what)
{
	struct child_result r;
	run_child(fn, NULL, 20, &r);
	cr_assert_eq(child_signal(&r), SIGABRT, "%s: status %#x, stderr: %s", what, r.status,
	             r.err);
	cr_assert_eq(strncmp(r.err, "strata: ", 8), 0, "stderr: %s", r.err);
	cr_assert_not_null(strstr(r.err, what), "expected '%s' in: %s", what, r.err);
	char *nl = strchr(r.err, '\n');
	cr_assert(nl && nl[1] == '\0', "one line: %s", r.err);
}

static void wrong_cache(void *arg)
{
	(void)arg;
	strata_cache_t *a = strata_cache_create("apples", 64, 0, 0);
	strata_cache_t *b = strata_cache_create("pears", 64, 0, 0);
	strata_cache_free(b, strata_cache_alloc(a));
}

static void cache_double_free(void *arg)
{
	(void)arg;
	strata_cache_t *a = strata_cache_create("twice", 64, 0, 0);
	void           *keep = strata_cache_alloc(a);
	void           *p = strata_cache_alloc(a);
	strata_cache_free(a, p);
	strata_cache_free(a, p);
	(void)keep;
}

static void malloc_block_to_cache(void *arg)
{
	(void)arg;
	strata_cache_t *a = strata_cache_create("strict", 64, 0, 0);
	strata_cache_free(a, malloc(64));
}

static void wrong_pool(void *arg)
{
	(void)arg;
	strata_pool_t *a = strata_pool_create("reds", 100, 4);
	strata_pool_t *b = strata_pool_create("blues", 100, 4);
	strata_pool_free(b, strata_pool_alloc(a));
}

static void pool_double_free(void *arg)
{
	(void)arg;
	strata_pool_t *a = strata_pool_create("again", 100, 4);
	void          *p = strata_pool_alloc(a);
	strata_pool_free(a, p);
	strata_pool_free(a, p);
}

static void heap_block_after_destroy(void *arg)
{
	(void)arg;
	strata_heap_t *h = strata_heap_create("gone");
	void          *keep = strata_heap_malloc(h, 100);
	void          *p = strata_heap_malloc(h, 100);
	strata_heap_destroy(h);
	free(p);
	(void)keep;
}

Test(misuse, object_freed_into_another_cache)
{
	expect_abort(wrong_cache, "not of cache \"pears\"");
}

Test(misuse, cache_double_free)
{
	expect_abort(cache_double_free, "double free");
}

Test(misuse, malloc_block_freed_into_a_cache)
{
	expect_abort(malloc_block_to_cache, "strata_cache_free");
}

Test(misuse, object_freed_into_another_pool)
{
	expect_abort(wrong_pool, "not of pool \"blues\"");
}

Test(misuse, pool_double_free)
{
	expect_abort(pool_double_free, "double free");
}

Test(misuse, heap_block_freed_after_destroy)
{
	struct child_result r;
	run_child(heap_block_after_destroy, NULL, 20, &r);
	cr_assert_eq(child_signal(&r), SIGABRT, "status %#x, stderr: %s", r.status, r.err);
	cr_assert_eq(strncmp(r.err, "strata: ", 8), 0, "stderr: %s", r.err);
}

/* ------------------------------------------------------------------------
 * Pools
 * ---------------------------------------------------------------------- */
static struct strata_cache_stats pool_stats(strata_pool_t *p)
{
	struct strata_cache_stats st = { .struct_size = sizeof(st) };
	cr_assert_eq(strata_pool_stats_get(p, &st), 0);
	return st;
}

Test(pool, reserve_is_kept_and_refilled)
{
	strata_pool_t *p = strata_pool_create("sessions", 300, 16);
	cr_assert_not_null(p);
	struct strata_cache_stats st = pool_stats(p);
	cr_assert_eq(st.reserve, 16);
	cr_assert_eq(st.reserve_min, 16);
	cr_assert_eq(st.live, 0);
	void *v[100];
	for (int i = 0; i < 100; i++) {
		v[i] = strata_pool_alloc(p);
		cr_assert_not_null(v[i]);
		cr_assert_eq((uintptr_t)v[i] % 16, 0);
		memset(v[i], i, 300);
	}
	st = pool_stats(p);
	cr_assert_eq(st.live, 100);
	cr_assert_eq(st.reserve, 16);
	cr_assert_eq(st.reserve_served, 0);
	for (int i = 0; i < 100; i++)
		strata_pool_free(p, v[i]);
	cr_assert_eq(pool_stats(p).live, 0);
	strata_pool_destroy(p);
	cr_assert_eq(strata_check_heap(), 0);
}

/* The guarantee: with the address space capped so that no new memory can
 * be mapped, a pool still hands out min_reserved objects, and refills its
 * reserve from frees. */
static void pool_under_rlimit(void *arg)
{
	(void)arg;
	enum { MIN = 32 };
	strata_pool_t  *p = strata_pool_create("critical", 4096, MIN);
	strata_cache_t *filler = strata_cache_create("filler", 4096, 0, 0);
	if (p == NULL || filler == NULL)
		_exit(10);
	struct rlimit rl;
	FILE         *f = fopen("/proc/self/statm", "r");
	unsigned long vm_pages = 0;
	if (f == NULL || fscanf(f, "%lu", &vm_pages) != 1)
		_exit(11);
	fclose(f);
	rl.rlim_cur = rl.rlim_max = vm_pages * 4096 + (1 << 20);
	if (setrlimit(RLIMIT_AS, &rl) != 0)
		_exit(12);
	/* use up what the arenas have mapped: from then on memory is refused */
	static void *junk[1 << 20];
	size_t       n = 0;
	while (n < (1u << 20) && (junk[n] = strata_cache_alloc(filler)) != NULL)
		n++;
	if (n == 1u << 20)
		_exit(13);
	static void *got[4096];
	size_t       served = 0;
	while (served < 4096 && (got[served] = strata_pool_alloc(p)) != NULL)
		served++;
	if (errno != ENOMEM)
		_exit(14);
	struct strata_cache_stats st = { .struct_size = sizeof(st) };
	strata_pool_stats_get(p, &st);
	if (served < MIN || st.reserve_served != MIN || st.reserve != 0)
		_exit(15);
	for (size_t i = 0; i < 8; i++)
		memset(got[served - 1 - i], 7, 4096); /* the reserve's objects work */
	for (size_t i = 0; i < 40; i++)
		strata_pool_free(p, got[i]);
	strata_pool_stats_get(p, &st);
	if (st.reserve != MIN)
		_exit(16);
	for (size_t i = 0; i < MIN; i++) /* and serve again */
		if (strata_pool_alloc(p) == NULL)
			_exit(17);
	_exit(0);
}

Test(pool, reserve_serves_when_memory_is_refused)
{
	struct child_result r;
	run_child(pool_under_rlimit, NULL, 60, &r);
	cr_assert(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0, "status %#x (exit %d): %s",
	          r.status, WEXITSTATUS(r.status), r.err);
}

/* ------------------------------------------------------------------------
 * Private heaps
 * ---------------------------------------------------------------------- */
static struct strata_cache_stats heap_stats(strata_heap_t *h)
{
	struct strata_cache_stats st = { .struct_size = sizeof(st) };
	cr_assert_eq(strata_heap_stats_get(h, &st), 0);
	return st;
}

Test(heap, blocks_of_every_size)
{
	strata_heap_t *h = strata_heap_create("request");
	cr_assert_not_null(h);
	size_t sizes[] = { 0,     1,     16,     17,      100,           1000,   4096,
		           30000, 40000, 300000, 1 << 20, (1 << 20) + 1, 5 << 20 };
	enum { NS = sizeof(sizes) / sizeof(sizes[0]) };
	unsigned char *v[NS];
	for (int i = 0; i < NS; i++) {
		v[i] = strata_heap_malloc(h, sizes[i]);
		cr_assert_not_null(v[i]);
		cr_assert_eq((uintptr_t)v[i] % 16, 0);
		cr_assert_geq(malloc_usable_size(v[i]), sizes[i]);
		memset(v[i], i, sizes[i]);
	}
	for (int i = 0; i < NS; i++)
		for (size_t k = 0; k < sizes[i]; k += 997)
			cr_assert_eq(v[i][k], i);
	cr_assert_eq(heap_stats(h).live, NS);
	size_t aligns[] = { 32, 64, 256, 4096, 65536, 1 << 20, 4 << 20 };
	for (unsigned i = 0; i < sizeof(aligns) / sizeof(aligns[0]); i++) {
		void *p = strata_heap_memalign(h, aligns[i], 100);
		cr_assert_eq((uintptr_t)p % aligns[i], 0, "%p not aligned to %zu", p, aligns[i]);
	}
	errno = 0;
	cr_assert_null(strata_heap_memalign(h, 48, 100));
	cr_assert_eq(errno, EINVAL);
	unsigned char *z = strata_heap_calloc(h, 100, 30);
	for (int k = 0; k < 3000; k++)
		cr_assert_eq(z[k], 0);
	errno = 0;
	cr_assert_null(strata_heap_calloc(h, SIZE_MAX / 2, 3));
	cr_assert_eq(errno, ENOMEM);
	cr_assert_eq(strata_check_heap(), 0);
	strata_heap_destroy(h);
	cr_assert_eq(strata_check_heap(), 0);
}

Test(heap, free_and_realloc_of_its_blocks)
{
	strata_heap_t *h = strata_heap_create("mixed");
	char          *a = strata_heap_malloc(h, 50);
	strcpy(a, "hello");
	char *b = realloc(a, 100000); /* stays in the heap */
	cr_assert_str_eq(b, "hello");
	char *c = strata_heap_realloc(h, b, 3 << 20);
	cr_assert_str_eq(c, "hello");
	char *d = strata_heap_realloc(h, NULL, 10);
	cr_assert_not_null(d);
	struct strata_cache_stats st = heap_stats(h);
	cr_assert_eq(st.live, 2, "live %llu", (unsigned long long)st.live);
	free(c);
	free(d);
	st = heap_stats(h);
	cr_assert_eq(st.live, 0);
	cr_assert_eq(st.mallocs, st.frees);
	strata_heap_destroy(h);
}

Test(heap, reset_frees_everything_and_keeps_the_heap)
{
	strata_heap_t *h = strata_heap_create("per-request");
	uint64_t       kept = 0;
	for (int round = 0; round < 5; round++) {
		for (int i = 0; i < 20000; i++) {
			char *p = strata_heap_malloc(h, 1 + (size_t)(i * 37) % 2000);
			p[0] = 1;
			if (i % 5 == 0)
				free(p);
		}
		strata_heap_malloc(h, 3 << 20);
		struct strata_cache_stats st = heap_stats(h);
		cr_assert_eq(st.live, 16001);
		strata_heap_reset(h);
		st = heap_stats(h);
		cr_assert_eq(st.live, 0);
		cr_assert_eq(st.mallocs, st.frees);
		cr_assert_eq(st.resets, (uint64_t)round + 1);
		if (round == 0) /* the slabs kept for the next round are reused */
			kept = st.slab_bytes;
		cr_assert_leq(st.slab_bytes, kept + kept / 4,
		              "round %d keeps %llu bytes, the first %llu", round,
		              (unsigned long long)st.slab_bytes, (unsigned long long)kept);
		cr_assert_eq(strata_check_heap(), 0);
	}
	strata_heap_destroy(h);
}

static void *heap_thread(void *arg)
{
	strata_heap_t *h = strata_heap_create("threaded");
	void         **give = arg;
	for (int i = 0; i < 5000; i++) {
		char *p = strata_heap_malloc(h, 64);
		memset(p, 1, 64);
		if (i < 1000)
			give[i] = p;
	}
	return h;
}

/* Blocks of one thread's heap freed by another; each thread's heap
 * destroyed by the main thread. */
Test(heap, threads)
{
	enum { T = 4 };
	static void *given[T][1000];
	pthread_t    t[T];
	for (int i = 0; i < T; i++)
		pthread_create(&t[i], NULL, heap_thread, given[i]);
	strata_heap_t *heaps[T];
	for (int i = 0; i < T; i++)
		pthread_join(t[i], (void **)&heaps[i]);
	for (int i = 0; i < T; i++)
		for (int k = 0; k < 1000; k++)
			free(given[i][k]);
	for (int i = 0; i < T; i++) {
		cr_assert_eq(heap_stats(heaps[i]).live, 4000);
		strata_heap_destroy(heaps[i]);
	}
	cr_assert_eq(strata_check_heap(), 0);
}

/* ------------------------------------------------------------------------
 * Reports
 * ---------------------------------------------------------------------- */
Test(report, names_every_cache_pool_and_heap)
{
	strata_cache_t *c = strata_cache_create("report-cache", 72, 0, 0);
	strata_pool_t  *p = strata_pool_create("report-pool", 100, 3);
	strata_heap_t  *h = strata_heap_create("report-heap");
	strata_cache_alloc(c);
	strata_pool_alloc(p);
	strata_heap_malloc(h, 10);
	char path[] = "/tmp/strata-pools-XXXXXX";
	int  fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	const char *want[3][3] = {
		{ "cache report-cache", "pool  report-pool", "heap  report-heap" },
		{ "\"kind\": \"cache\", \"name\": \"report-cache\"",
		  "\"kind\": \"pool\", \"name\": \"report-pool\"",
		  "\"kind\": \"heap\", \"name\": \"report-heap\"" },
		{ "strata_object_live{cache=\"report-cache\"} 1",
		  "strata_object_reserve{pool=\"report-pool\"} 3",
		  "strata_object_mallocs_total{heap=\"report-heap\"} 1" },
	};
	static char buf[1 << 20];
	for (int form = 0; form < 3; form++) {
		cr_assert_eq(ftruncate(fd, 0), 0);
		lseek(fd, 0, SEEK_SET);
		cr_assert_eq(strata_report(fd, (enum strata_format)form, STRATA_REPORT_CLASSES), 0);
		ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
		cr_assert_gt(n, 0);
		buf[n] = '\0';
		for (int k = 0; k < 3; k++)
			cr_assert_not_null(strstr(buf, want[form][k]), "format %d lacks '%s'", form,
			                   want[form][k]);
	}
	/* counters end in _total, as Prometheus names them */
	cr_assert_not_null(strstr(buf, "# TYPE strata_object_frees_total counter"),
	                   "the Prometheus report (the last) names counters without _total");
	close(fd);
	unlink(path);
}
