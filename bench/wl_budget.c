/* SPDX-License-Identifier: MIT */
/*
 * wl_budget.c - threads that keep their blocks within a byte budget.
 *
 * Owns the measurement of a program whose live memory stays the same
 * while blocks of every kind come and go: each thread keeps at most
 * live_mib / threads of blocks alive, a third in small ones (16 B to
 * 32 KiB, most of them under 4 KiB) and two thirds in large and huge ones
 * (32 KiB to 512 KiB mostly, up to 4 MiB, and a few above, mapped by most
 * allocators on their own), and before each allocation that would go over
 * the budget it frees blocks at random until the new one fits.  Some calls
 * resize a block with realloc.  Every page of a block is written.
 *
 * The same shape as tests/cgroup_child (which checks every byte, inside a
 * memory-limited cgroup): an allocator that gives memory back too eagerly
 * makes the program fault it in again (minflt, and system time), one that
 * keeps too much shows in peak RSS.
 */
#include "wl_common.h"

#include <pthread.h>

enum { OPT_THREADS, OPT_LIVE, OPT_TOTAL, OPT_HUGE, OPT_COUNT };

static struct wl_opt opts[OPT_COUNT] = {
	[OPT_THREADS] = { "threads", 4, "threads" },
	[OPT_LIVE] = { "live_mib", 48, "live blocks of all threads, MiB" },
	[OPT_TOTAL] = { "total_mib", 49152, "bytes allocated over the run, MiB" },
	[OPT_HUGE] = { "huge_pct", 4, "percent of large blocks above 4 MiB" },
};

#define SMALL_MAX   32768
#define SMALL_SLOTS 16384
#define LARGE_SLOTS 1024
#define RESIZE_PCT  8

struct block {
	char  *p;
	size_t size;
};

struct pool {
	struct block *b; /* b[0..n) live */
	size_t        n, cap;
	size_t        live, budget, allocated;
};

struct worker {
	_Alignas(CACHE_LINE) struct wl_rng rng;
	struct pool small, large;
	size_t      target;
	long        calls;
	pthread_t   tid;
};

static void pool_drop(struct pool *pl, size_t i)
{
	free(pl->b[i].p);
	pl->live -= pl->b[i].size;
	pl->b[i] = pl->b[--pl->n];
}

/* Free random blocks until need more bytes and one more slot fit. */
static void pool_make_room(struct worker *w, struct pool *pl, size_t need)
{
	while (pl->n > 0 && (pl->live + need > pl->budget || pl->n == pl->cap))
		pool_drop(pl, (size_t)wl_range(&w->rng, 0, (long)pl->n - 1));
}

static void pool_add(struct pool *pl, char *p, size_t size)
{
	if (p == NULL) {
		fprintf(stderr, "wl_budget: out of memory for %zu bytes\n", size);
		exit(1);
	}
	wl_touch(p, size);
	pl->b[pl->n++] = (struct block){ p, size };
	pl->live += size;
	pl->allocated += size;
}

static size_t small_size(struct wl_rng *r)
{
	long k = wl_range(r, 0, 9);
	if (k < 5)
		return (size_t)wl_range(r, 16, 256);
	if (k < 8)
		return (size_t)wl_range(r, 257, 4096);
	return (size_t)wl_range(r, 4097, SMALL_MAX);
}

static size_t large_size(struct wl_rng *r, size_t budget)
{
	long   k = wl_range(r, 0, 99);
	size_t huge_max = budget / 4 * 3; /* a block must fit the budget */
	if (k < opts[OPT_HUGE].value && huge_max > 4 * MIB + 65536)
		return (size_t)wl_range(r, 4 * MIB + 1, (long)huge_max);
	if (k < 20)
		return (size_t)wl_range(r, 512 * KIB + 1, 4 * MIB);
	return (size_t)wl_range(r, SMALL_MAX + 1, 512 * KIB);
}

/* A random block of the pool grows or shrinks to a new size. */
static void pool_resize(struct worker *w, struct pool *pl, size_t size)
{
	if (pl->n == 0)
		return;
	size_t       i = (size_t)wl_range(&w->rng, 0, (long)pl->n - 1);
	struct block b = pl->b[i];
	pl->b[i] = pl->b[--pl->n]; /* out of the pool: make_room cannot free it */
	pl->live -= b.size;
	pool_make_room(w, pl, size);
	pool_add(pl, realloc(b.p, size), size);
}

static void *worker(void *arg)
{
	struct worker *w = arg;
	while (w->small.allocated + w->large.allocated < w->target) {
		/* as many bytes through each pool */
		int          small = w->small.allocated <= w->large.allocated;
		struct pool *pl = small ? &w->small : &w->large;
		size_t size = small ? small_size(&w->rng) : large_size(&w->rng, w->large.budget);
		if (wl_range(&w->rng, 0, 99) < RESIZE_PCT) {
			pool_resize(w, pl, size);
		} else {
			pool_make_room(w, pl, size);
			pool_add(pl, malloc(size), size);
		}
		w->calls++;
	}
	while (w->small.n)
		pool_drop(&w->small, w->small.n - 1);
	while (w->large.n)
		pool_drop(&w->large, w->large.n - 1);
	return NULL;
}

static void pool_init(struct pool *pl, size_t cap, size_t budget)
{
	pl->b = wl_map(cap * sizeof(*pl->b));
	pl->cap = cap;
	pl->budget = budget;
}

int main(int argc, char **argv)
{
	wl_allocator();
	wl_parse(argc, argv, opts, OPT_COUNT);
	long   nthreads = opts[OPT_THREADS].value;
	size_t live = (size_t)opts[OPT_LIVE].value * MIB;
	size_t total = (size_t)opts[OPT_TOTAL].value * MIB;
	if (nthreads < 1 || live / (size_t)nthreads < MIB || total < live
	    || opts[OPT_HUGE].value < 0 || opts[OPT_HUGE].value > 100) {
		wl_usage(argv[0], opts, OPT_COUNT);
		return 2;
	}

	struct worker *ws = wl_map((size_t)nthreads * sizeof(*ws));
	long           start_flt = wl_minflt();
	double         start = wl_now();
	for (long i = 0; i < nthreads; i++) {
		size_t share = live / (size_t)nthreads;
		wl_seed(&ws[i].rng, (uint64_t)i + 1);
		ws[i].target = total / (size_t)nthreads;
		pool_init(&ws[i].small, SMALL_SLOTS, share / 3);
		pool_init(&ws[i].large, LARGE_SLOTS, share - share / 3);
		if (pthread_create(&ws[i].tid, NULL, worker, &ws[i])) {
			fprintf(stderr, "wl_budget: pthread_create failed\n");
			return 1;
		}
	}
	long calls = 0;
	for (long i = 0; i < nthreads; i++) {
		pthread_join(ws[i].tid, NULL);
		calls += ws[i].calls;
	}
	double secs = wl_now() - start;

	wl_begin("budget");
	wl_put("threads", "%ld", nthreads);
	wl_put("calls", "%ld", calls);
	wl_put("secs", "%.3f", secs);
	wl_put("calls_per_s", "%.0f", (double)calls / secs);
	wl_put("minflt", "%ld", wl_minflt() - start_flt);
	wl_put("peak_rss_kib", "%ld", wl_status_kib("VmHWM"));
	wl_end();
	return 0;
}
