/* SPDX-License-Identifier: MIT */
/*
 * wl_threadchurn.c - many short-lived threads, a few alive at a time.
 *
 * Owns the cost of a thread's birth and death to the allocator: the first
 * allocation of a new thread (cache set-up, arena choice) and the exit of a
 * thread that still caches blocks.  Threads are started one after another,
 * never more than a few at once; each makes some allocations, frees about
 * half of them as it goes, and at exit frees the blocks the previous thread
 * left behind, leaves a few of its own for the next one and frees the rest.
 * So some memory always outlives the thread that allocated it.
 *
 * Reports the time and the RSS at the end: an allocator that leaks a dead
 * thread's cache grows with the number of threads.
 */
#include "wl_common.h"

#include <pthread.h>

enum { OPT_THREADS, OPT_CONCURRENT, OPT_ALLOCS, OPT_MIN, OPT_MAX, OPT_LEAVE, OPT_COUNT };

static struct wl_opt opts[OPT_COUNT] = {
	[OPT_THREADS] = { "threads", 8000, "threads started in all" },
	[OPT_CONCURRENT] = { "concurrent", 4, "threads alive at once" },
	[OPT_ALLOCS] = { "allocs", 1000, "allocations per thread (<= 65536)" },
	[OPT_MIN] = { "min", 16, "smallest block, bytes" },
	[OPT_MAX] = { "max", 2048, "largest block, bytes" },
	[OPT_LEAVE] = { "leave", 16, "blocks each thread leaves to the next" },
};

/* The most allocations a thread's on-stack array holds. */
#define ALLOCS_MAX 65536

/* Blocks left behind by exited threads, for a later thread to free. */
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static void           *pool[ALLOCS_MAX];
static long            pool_count;

/* ------------------------------------------------------------------------
 * One thread's life
 * ---------------------------------------------------------------------- */
static void live(struct wl_rng *rng, void **mine, long n)
{
	for (long i = 0; i < n; i++) {
		size_t size = (size_t)wl_log_range(rng, opts[OPT_MIN].value, opts[OPT_MAX].value);
		mine[i] = malloc(size);
		if (mine[i] == NULL) {
			fprintf(stderr, "wl_threadchurn: malloc failed\n");
			exit(1);
		}
		wl_touch(mine[i], size);
		if (wl_next(rng) & 1) {
			long victim = wl_range(rng, 0, i);
			free(mine[victim]);
			mine[victim] = NULL;
		}
	}
}

/* Free what the previous threads left, leave some of ours, free the rest. */
static void die(void **mine, long n)
{
	long left = 0;

	pthread_mutex_lock(&pool_lock);
	for (long i = 0; i < pool_count; i++)
		free(pool[i]);
	pool_count = 0;
	for (long i = 0; i < n && left < opts[OPT_LEAVE].value; i++) {
		if (mine[i]) {
			pool[pool_count++] = mine[i];
			mine[i] = NULL;
			left++;
		}
	}
	pthread_mutex_unlock(&pool_lock);
	for (long i = 0; i < n; i++)
		free(mine[i]);
}

/* The thread's blocks live in an array on its stack (at most 512 KiB of
 * the default 8 MiB): a thread-local array would be cleared by glibc at
 * every thread's start, a cost that has nothing to do with the allocator. */
static void *worker(void *arg)
{
	long          n = opts[OPT_ALLOCS].value;
	void         *mine[n];
	struct wl_rng rng;

	wl_seed(&rng, (uint64_t)(uintptr_t)arg);
	live(&rng, mine, n);
	die(mine, n);
	return NULL;
}

/* ------------------------------------------------------------------------
 * Starting them: a rolling window of `concurrent` threads, the oldest
 * joined before the next is started.
 * ---------------------------------------------------------------------- */
static void start(pthread_t *tid, long i)
{
	if (pthread_create(tid, NULL, worker, (void *)(uintptr_t)(i + 1)) != 0) {
		fprintf(stderr, "wl_threadchurn: pthread_create failed\n");
		exit(1);
	}
}

int main(int argc, char **argv)
{
	wl_allocator();
	wl_parse(argc, argv, opts, OPT_COUNT);
	long total = opts[OPT_THREADS].value, window = opts[OPT_CONCURRENT].value;
	if (total < 1 || window < 1 || opts[OPT_ALLOCS].value < 1
	    || opts[OPT_ALLOCS].value > ALLOCS_MAX || opts[OPT_MIN].value < 1
	    || opts[OPT_MAX].value < opts[OPT_MIN].value || opts[OPT_LEAVE].value < 0
	    || opts[OPT_LEAVE].value > ALLOCS_MAX) {
		wl_usage(argv[0], opts, OPT_COUNT);
		return 2;
	}

	pthread_t *tid = wl_map((size_t)window * sizeof(pthread_t));
	double     begin = wl_now();
	for (long i = 0; i < total; i++) {
		if (i >= window)
			pthread_join(tid[i % window], NULL);
		start(&tid[i % window], i);
	}
	for (long i = total > window ? total - window : 0; i < total; i++)
		pthread_join(tid[i % window], NULL);
	double secs = wl_now() - begin;
	long   rss = wl_rss_kib();
	for (long i = 0; i < pool_count; i++)
		free(pool[i]);

	wl_begin("threadchurn");
	wl_put("threads", "%ld", total);
	wl_put("secs", "%.3f", secs);
	wl_put("threads_per_s", "%.0f", (double)total / secs);
	wl_put("rss_end_kib", "%ld", rss);
	wl_put("peak_rss_kib", "%ld", wl_status_kib("VmHWM"));
	wl_end();
	return 0;
}
