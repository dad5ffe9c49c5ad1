/* SPDX-License-Identifier: MIT */
/*
 * wl_falseshare.c - active false sharing, after Hoard's cache-scratch test.
 *
 * Owns the question "does the allocator put two threads' small objects in
 * one cache line?".  Two threads take turns allocating small objects (turns,
 * so that an allocator with one shared heap would hand them neighbouring
 * addresses), then each writes its own objects hard in a loop.  Objects of
 * different threads that share a 64-byte line make the line bounce between
 * the cores, and the write loop slows down by an order of magnitude.
 *
 * Reports the write loop's time and the number of cache lines holding
 * objects of both threads (shared_lines, 0 for a thread-aware allocator).
 */
#include "wl_common.h"

#include <pthread.h>
#include <stdatomic.h>

enum { OPT_OBJECTS, OPT_SIZE, OPT_WRITES, OPT_COUNT };

static struct wl_opt opts[OPT_COUNT] = {
	[OPT_OBJECTS] = { "objects", 64, "objects per thread" },
	[OPT_SIZE] = { "size", 8, "bytes per object (>= 1)" },
	[OPT_WRITES] = { "writes", 30000000, "write passes over the objects" },
};

#define NTHREADS 2

/* Spins before a thread waiting for its turn yields: on a loaded machine
 * the other thread may not be running. */
#define SPINS_BEFORE_YIELD 64

struct thread {
	int             index;
	unsigned char **obj; /* opts[OPT_OBJECTS] objects */
	double          write_secs;
	pthread_t       tid;
};

static atomic_long       turn; /* allocation number whose turn it is */
static pthread_barrier_t start_writing;

/* ------------------------------------------------------------------------
 * Allocating in turns
 * ---------------------------------------------------------------------- */
static void wait_turn(long n)
{
	unsigned spins = 0;

	while (atomic_load_explicit(&turn, memory_order_acquire) != n)
		if (++spins % SPINS_BEFORE_YIELD == 0)
			sched_yield();
}

static void allocate_in_turns(struct thread *self)
{
	size_t size = (size_t)opts[OPT_SIZE].value;

	for (long i = 0; i < opts[OPT_OBJECTS].value; i++) {
		long n = i * NTHREADS + self->index;
		wait_turn(n);
		self->obj[i] = malloc(size);
		if (self->obj[i] == NULL) {
			fprintf(stderr, "wl_falseshare: malloc failed\n");
			exit(1);
		}
		memset(self->obj[i], 0, size);
		atomic_store_explicit(&turn, n + 1, memory_order_release);
	}
}

/* ------------------------------------------------------------------------
 * Writing hard: a store to every object per pass, through volatile so that
 * the stores reach the cache and are not folded into one.
 * ---------------------------------------------------------------------- */
static void write_objects(struct thread *self)
{
	long n = opts[OPT_OBJECTS].value;

	for (long pass = 0; pass < opts[OPT_WRITES].value; pass++)
		for (long i = 0; i < n; i++)
			(*(volatile unsigned char *)self->obj[i])++;
}

static void *worker(void *arg)
{
	struct thread *self = arg;

	allocate_in_turns(self);
	pthread_barrier_wait(&start_writing);
	double start = wl_now();
	write_objects(self);
	self->write_secs = wl_now() - start;
	return NULL;
}

/* ------------------------------------------------------------------------
 * Counting shared lines: mark each line an object touches with its owner's
 * bit, in a sorted list of (line, owner) pairs.
 * ---------------------------------------------------------------------- */
struct mark {
	uintptr_t line;
	int       owner;
};

static int mark_cmp(const void *a, const void *b)
{
	const struct mark *x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return x->owner - y->owner;
}

static long count_shared_lines(struct thread *t, long n, size_t size)
{
	long         lines_per_obj = (long)((size + CACHE_LINE - 1) / CACHE_LINE) + 1;
	struct mark *m = wl_map((size_t)(NTHREADS * n * lines_per_obj) * sizeof(*m));
	long         count = 0, shared = 0;

	for (int k = 0; k < NTHREADS; k++) {
		for (long i = 0; i < n; i++) {
			uintptr_t first = (uintptr_t)t[k].obj[i] / CACHE_LINE;
			uintptr_t last = ((uintptr_t)t[k].obj[i] + size - 1) / CACHE_LINE;
			for (uintptr_t l = first; l <= last; l++)
				m[count++] = (struct mark){ l, k };
		}
	}
	qsort(m, (size_t)count, sizeof(*m), mark_cmp);
	for (long i = 1; i < count; i++)
		if (m[i].line == m[i - 1].line && m[i].owner != m[i - 1].owner)
			shared++;
	wl_unmap(m, (size_t)(NTHREADS * n * lines_per_obj) * sizeof(*m));
	return shared;
}

int main(int argc, char **argv)
{
	struct thread t[NTHREADS];

	wl_allocator();
	wl_parse(argc, argv, opts, OPT_COUNT);
	long n = opts[OPT_OBJECTS].value;
	if (n < 1 || opts[OPT_SIZE].value < 1 || opts[OPT_WRITES].value < 0) {
		wl_usage(argv[0], opts, OPT_COUNT);
		return 2;
	}

	pthread_barrier_init(&start_writing, NULL, NTHREADS);
	for (int k = 0; k < NTHREADS; k++) {
		t[k].index = k;
		t[k].obj = wl_map((size_t)n * sizeof(void *));
		if (pthread_create(&t[k].tid, NULL, worker, &t[k]) != 0) {
			fprintf(stderr, "wl_falseshare: pthread_create failed\n");
			return 1;
		}
	}
	double slowest = 0;
	for (int k = 0; k < NTHREADS; k++) {
		pthread_join(t[k].tid, NULL);
		if (t[k].write_secs > slowest)
			slowest = t[k].write_secs;
	}
	long shared = count_shared_lines(t, n, (size_t)opts[OPT_SIZE].value);
	for (int k = 0; k < NTHREADS; k++)
		for (long i = 0; i < n; i++)
			free(t[k].obj[i]);

	wl_begin("falseshare");
	wl_put("objects", "%ld", n * NTHREADS);
	wl_put("size", "%ld", opts[OPT_SIZE].value);
	wl_put("write_secs", "%.3f", slowest);
	wl_put("shared_lines", "%ld", shared);
	wl_end();
	return 0;
}
