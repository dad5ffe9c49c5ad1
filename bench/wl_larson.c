/* SPDX-License-Identifier: MIT */
/*
 * wl_larson.c - a server-like workload after Larson and Krishnan's benchmark.
 *
 * Owns the cross-thread churn: a shared array of slots, each holding one
 * block; every thread repeatedly picks a random slot, swaps a fresh block of
 * random size into it and frees the block it took out, which some other
 * thread usually allocated.  So most frees are remote, the memory a thread
 * allocates drifts to the others, and a thread cache that never hands blocks
 * back to their owner would grow without bound.
 *
 * The work is fixed (ops per thread), so the process's wall time compares
 * allocators; ops/s is printed as well.  Each block carries its size at both
 * ends, checked when it is freed: an allocator that hands the same memory to
 * two threads shows up as errors=N and exit status 1.
 *
 * With own=1 each worker first fills its share of the slots itself; with
 * one thread that is a program replacing its own blocks at random (a cache
 * with random eviction): every free is the owner's, of a block allocated
 * long ago, in no order.
 */
#include "wl_common.h"

#include <pthread.h>
#include <stdatomic.h>

enum { OPT_THREADS, OPT_SLOTS, OPT_OPS, OPT_MIN, OPT_MAX, OPT_OWN, OPT_COUNT };

static struct wl_opt opts[OPT_COUNT] = {
	[OPT_THREADS] = { "threads", 4, "threads swapping blocks" },
	[OPT_SLOTS] = { "slots", 10000, "blocks alive at any time (shared)" },
	[OPT_OPS] = { "ops", 10000000, "swaps per thread" },
	[OPT_MIN] = { "min", 16, "smallest block, bytes (>= 16)" },
	[OPT_MAX] = { "max", 512, "largest block, bytes" },
	[OPT_OWN] = { "own", 0,
	              "1: each worker fills its share of the slots (else the main thread fills "
	              "them all)" },
};

static _Atomic(size_t *) *slots;
static atomic_long        errors;

/* ------------------------------------------------------------------------
 * Blocks: the size at the start and its low byte at the end
 * ---------------------------------------------------------------------- */
static size_t *block_new(size_t size)
{
	size_t *b = malloc(size);

	if (b == NULL) {
		fprintf(stderr, "wl_larson: malloc(%zu) failed\n", size);
		exit(1);
	}
	b[0] = size;
	((unsigned char *)b)[size - 1] = (unsigned char)size;
	return b;
}

static void block_free(size_t *b)
{
	if (b == NULL)
		return;
	size_t size = b[0];
	if (size < sizeof(size_t) || ((unsigned char *)b)[size - 1] != (unsigned char)size)
		atomic_fetch_add(&errors, 1);
	free(b);
}

/* ------------------------------------------------------------------------
 * The threads
 * ---------------------------------------------------------------------- */
/* Slots [first, end), each with a new block. */
static void fill_slots(struct wl_rng *rng, long first, long end)
{
	for (long i = first; i < end; i++)
		atomic_store(&slots[i], block_new((size_t)wl_range(rng, opts[OPT_MIN].value,
		                                                   opts[OPT_MAX].value)));
}

static void *worker(void *arg)
{
	struct wl_rng rng;
	long          nslots = opts[OPT_SLOTS].value;

	wl_seed(&rng, (uint64_t)(uintptr_t)arg);
	if (opts[OPT_OWN].value) { /* its share, slots [first, end) */
		long n = opts[OPT_THREADS].value, k = (long)(uintptr_t)arg - 1;
		fill_slots(&rng, nslots * k / n, nslots * (k + 1) / n);
	}
	for (long i = 0; i < opts[OPT_OPS].value; i++) {
		long   slot = wl_range(&rng, 0, nslots - 1);
		size_t size = (size_t)wl_range(&rng, opts[OPT_MIN].value, opts[OPT_MAX].value);
		block_free(atomic_exchange(&slots[slot], block_new(size)));
	}
	return NULL;
}

static void empty_slots(void)
{
	for (long i = 0; i < opts[OPT_SLOTS].value; i++)
		block_free(atomic_exchange(&slots[i], NULL));
}

static double run_threads(int n)
{
	pthread_t tid[n];
	double    start = wl_now();

	for (int i = 0; i < n; i++) {
		if (pthread_create(&tid[i], NULL, worker, (void *)(uintptr_t)(i + 1)) != 0) {
			fprintf(stderr, "wl_larson: pthread_create failed\n");
			exit(1);
		}
	}
	for (int i = 0; i < n; i++)
		pthread_join(tid[i], NULL);
	return wl_now() - start;
}

int main(int argc, char **argv)
{
	wl_allocator();
	wl_parse(argc, argv, opts, OPT_COUNT);
	int threads = (int)opts[OPT_THREADS].value;
	if (threads < 1 || opts[OPT_SLOTS].value < 1 || opts[OPT_MIN].value < (long)sizeof(size_t)
	    || opts[OPT_MAX].value < opts[OPT_MIN].value) {
		wl_usage(argv[0], opts, OPT_COUNT);
		return 2;
	}

	slots = wl_map((size_t)opts[OPT_SLOTS].value * sizeof(*slots));
	if (!opts[OPT_OWN].value) {
		struct wl_rng rng;
		wl_seed(&rng, 0);
		fill_slots(&rng, 0, opts[OPT_SLOTS].value);
	}
	double secs = run_threads(threads);
	long   rss = wl_rss_kib();
	empty_slots();

	double ops = (double)threads * (double)opts[OPT_OPS].value;
	wl_begin("larson");
	wl_put("threads", "%d", threads);
	wl_put("ops", "%.0f", ops);
	wl_put("secs", "%.3f", secs);
	wl_put("ops_per_s", "%.0f", ops / secs);
	wl_put("rss_kib", "%ld", rss);
	wl_put("errors", "%ld", atomic_load(&errors));
	wl_end();
	return atomic_load(&errors) ? 1 : 0;
}
