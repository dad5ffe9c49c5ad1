/* SPDX-License-Identifier: MIT */
/*
 * wl_shortthreads.c - a short program: start a few threads, let each
 * allocate a little, join them, exit.
 *
 * Owns the cost of the allocator's start-up to a program that runs for a
 * few tens of milliseconds: its tables, its first regions, helper
 * threads, each new thread's set-up.  The whole program is the workload;
 * bench/compare times the process from outside (a fresh fork) and reads
 * its peak RSS.  Each thread allocates blocks of 16 B to 4 KiB, frees
 * most of them as it goes and leaves the rest for main to free.
 */
#include "wl_common.h"

#include <pthread.h>
#include <sys/resource.h>

enum { OPT_THREADS, OPT_ALLOCS, OPT_COUNT };

static struct wl_opt opts[OPT_COUNT] = {
	[OPT_THREADS] = { "threads", 4, "threads (<= 64)" },
	[OPT_ALLOCS] = { "allocs", 20000, "allocations per thread (<= 1M)" },
};

#define THREADS_MAX 64
#define KEEP_EVERY  8 /* one block in this many outlives its thread */

struct worker {
	pthread_t       tid;
	unsigned char **kept;
	long            nkept;
};

static void *worker(void *arg)
{
	struct worker *w = arg;
	struct wl_rng  rng;
	wl_seed(&rng, (uint64_t)(uintptr_t)w);
	for (long i = 0; i < opts[OPT_ALLOCS].value; i++) {
		size_t         size = (size_t)wl_log_range(&rng, 16, 4096);
		unsigned char *p = malloc(size);
		if (p == NULL) {
			fprintf(stderr, "wl_shortthreads: malloc failed\n");
			exit(1);
		}
		p[0] = (unsigned char)i;
		p[size - 1] = (unsigned char)i;
		if (i % KEEP_EVERY == 0)
			w->kept[w->nkept++] = p;
		else
			free(p);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	double begin = wl_now();
	wl_parse(argc, argv, opts, OPT_COUNT);
	long n = opts[OPT_THREADS].value, allocs = opts[OPT_ALLOCS].value;
	if (n < 1 || n > THREADS_MAX || allocs < 1 || allocs > (1L << 20)) {
		wl_usage(argv[0], opts, OPT_COUNT);
		return 2;
	}
	struct worker w[THREADS_MAX];
	for (long i = 0; i < n; i++) {
		w[i].kept = wl_map((size_t)(allocs / KEEP_EVERY + 1) * sizeof(*w[i].kept));
		w[i].nkept = 0;
		if (pthread_create(&w[i].tid, NULL, worker, &w[i]) != 0) {
			fprintf(stderr, "wl_shortthreads: pthread_create failed\n");
			return 1;
		}
	}
	for (long i = 0; i < n; i++)
		pthread_join(w[i].tid, NULL);
	for (long i = 0; i < n; i++)
		for (long j = 0; j < w[i].nkept; j++) {
			if (w[i].kept[j][0] != (unsigned char)(j * KEEP_EVERY)) {
				fprintf(stderr, "wl_shortthreads: block corrupted\n");
				return 1;
			}
			free(w[i].kept[j]);
		}
	double        secs = wl_now() - begin;
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);

	/* the allocator is named last: reading /proc/self/maps first would be
	 * part of the measured start-up */
	wl_begin("shortthreads");
	wl_put("threads", "%ld", n);
	wl_put("secs", "%.4f", secs);
	wl_put("minflt", "%ld", ru.ru_minflt);
	wl_put("peak_rss_kib", "%ld", wl_status_kib("VmHWM"));
	wl_end();
	return 0;
}
