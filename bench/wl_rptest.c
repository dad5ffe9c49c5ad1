/* SPDX-License-Identifier: MIT */
/*
 * wl_rptest.c - random sizes with random lifetimes, after rpmalloc's rptest.
 *
 * Owns the "general program" churn: several threads each allocate one block
 * per step, of a log-uniform random size, and give it a log-uniform random
 * lifetime in steps; when its time comes the block is freed, by its own
 * thread or, for a fixed share, handed to another thread that frees it.
 *
 * Lifetimes are kept on a timing wheel: bucket (now + lifetime) % WHEEL of
 * a per-thread array, each bucket a list threaded through the blocks
 * themselves (every block has room for its header).  Handed-over blocks go
 * onto the receiver's inbox, a lock-free stack that only its owner empties,
 * and only whole (so the classic ABA problem of a popping stack cannot
 * arise).  The work is fixed, so wall time compares allocators.
 */
#include "wl_common.h"

#include <pthread.h>
#include <stdatomic.h>

enum { OPT_THREADS, OPT_OPS, OPT_MIN, OPT_MAX, OPT_LIFE, OPT_CROSS, OPT_COUNT };

static struct wl_opt opts[OPT_COUNT] = {
	[OPT_THREADS] = { "threads", 4, "threads" },
	[OPT_OPS] = { "ops", 3000000, "allocations per thread" },
	[OPT_MIN] = { "min", 16, "smallest block, bytes (>= 16)" },
	[OPT_MAX] = { "max", 16384, "largest block, bytes" },
	[OPT_LIFE] = { "life", 16384, "longest lifetime, in steps" },
	[OPT_CROSS] = { "cross", 10, "percent of frees done by another thread" },
};

/* How often, in steps, a thread empties its inbox: rarely enough that the
 * atomic exchange is noise, often enough that handed-over memory is reused
 * soon after. */
#define INBOX_PERIOD 64

struct blk {
	struct blk *next;
	size_t      size;
};

struct thread {
	_Alignas(CACHE_LINE) _Atomic(struct blk *) inbox;
	struct wl_rng rng;
	struct blk  **wheel; /* opts[OPT_LIFE] + 1 buckets */
	long          frees_remote;
	pthread_t     tid;
};

static struct thread    *threads;
static pthread_barrier_t done_pushing;
static long              nthreads;

/* ------------------------------------------------------------------------
 * Handing blocks over
 * ---------------------------------------------------------------------- */
static void inbox_push(struct thread *to, struct blk *b)
{
	struct blk *head = atomic_load_explicit(&to->inbox, memory_order_relaxed);

	do
		b->next = head;
	while (!atomic_compare_exchange_weak_explicit(&to->inbox, &head, b, memory_order_release,
	                                              memory_order_relaxed));
}

static void inbox_drain(struct thread *self)
{
	struct blk *b = atomic_exchange_explicit(&self->inbox, NULL, memory_order_acquire);

	while (b) {
		struct blk *next = b->next;
		free(b);
		b = next;
	}
}

/* Free a block whose time has come: here, or by a random other thread. */
static void retire(struct thread *self, struct blk *b)
{
	if (nthreads > 1 && wl_range(&self->rng, 0, 99) < opts[OPT_CROSS].value) {
		long other = (self - threads + wl_range(&self->rng, 1, nthreads - 1)) % nthreads;
		inbox_push(&threads[other], b);
		self->frees_remote++;
		return;
	}
	free(b);
}

/* ------------------------------------------------------------------------
 * One thread's steps
 * ---------------------------------------------------------------------- */
static void retire_bucket(struct thread *self, long bucket)
{
	struct blk *b = self->wheel[bucket];

	self->wheel[bucket] = NULL;
	while (b) {
		struct blk *next = b->next;
		retire(self, b);
		b = next;
	}
}

static void step(struct thread *self, long now, long buckets)
{
	size_t size = (size_t)wl_log_range(&self->rng, opts[OPT_MIN].value, opts[OPT_MAX].value);
	long   life = wl_log_range(&self->rng, 1, opts[OPT_LIFE].value);
	struct blk *b = malloc(size);

	if (b == NULL) {
		fprintf(stderr, "wl_rptest: malloc(%zu) failed\n", size);
		exit(1);
	}
	wl_touch(b, size);
	b->size = size;
	b->next = self->wheel[(now + life) % buckets];
	self->wheel[(now + life) % buckets] = b;
}

static void *worker(void *arg)
{
	struct thread *self = arg;
	long           buckets = opts[OPT_LIFE].value + 1;

	for (long now = 0; now < opts[OPT_OPS].value; now++) {
		retire_bucket(self, now % buckets);
		step(self, now, buckets);
		if (now % INBOX_PERIOD == 0)
			inbox_drain(self);
	}
	for (long i = 0; i < buckets; i++)
		retire_bucket(self, i);
	pthread_barrier_wait(&done_pushing);
	inbox_drain(self);
	return NULL;
}

int main(int argc, char **argv)
{
	wl_allocator();
	wl_parse(argc, argv, opts, OPT_COUNT);
	nthreads = opts[OPT_THREADS].value;
	if (nthreads < 1 || opts[OPT_MIN].value < (long)sizeof(struct blk)
	    || opts[OPT_MAX].value < opts[OPT_MIN].value || opts[OPT_LIFE].value < 1) {
		wl_usage(argv[0], opts, OPT_COUNT);
		return 2;
	}

	size_t wheel_bytes = (size_t)(opts[OPT_LIFE].value + 1) * sizeof(void *);
	threads = wl_map((size_t)nthreads * sizeof(*threads));
	pthread_barrier_init(&done_pushing, NULL, (unsigned)nthreads);
	double start = wl_now();
	for (long i = 0; i < nthreads; i++) {
		wl_seed(&threads[i].rng, (uint64_t)i + 1);
		threads[i].wheel = wl_map(wheel_bytes);
		if (pthread_create(&threads[i].tid, NULL, worker, &threads[i])) {
			fprintf(stderr, "wl_rptest: pthread_create failed\n");
			return 1;
		}
	}
	long remote = 0;
	for (long i = 0; i < nthreads; i++) {
		pthread_join(threads[i].tid, NULL);
		remote += threads[i].frees_remote;
	}
	double secs = wl_now() - start;

	double ops = (double)nthreads * (double)opts[OPT_OPS].value;
	wl_begin("rptest");
	wl_put("threads", "%ld", nthreads);
	wl_put("ops", "%.0f", ops);
	wl_put("secs", "%.3f", secs);
	wl_put("ops_per_s", "%.0f", ops / secs);
	wl_put("remote_frees", "%ld", remote);
	wl_put("peak_rss_kib", "%ld", wl_status_kib("VmHWM"));
	wl_put("rss_end_kib", "%ld", wl_rss_kib());
	wl_end();
	return 0;
}
