/* SPDX-License-Identifier: MIT */
/*
 * wl_rounds.c - threads that work in rounds and wait in between, as a
 * server does between bursts of requests.
 *
 * Owns the "does the allocator fight the program's pauses?" measurement.
 * Each of the threads, in each round, allocates a batch of blocks of 8 B
 * to 16 KiB (log-uniform), writes them, frees most of them and hands a
 * share to the next thread, which frees them at the start of its next
 * round; then it sleeps wait_ms.  Memory freed in a round is needed again
 * in the next one: an allocator that gives it back to the kernel during
 * every wait (block by block) faults it all in again.  Reports allocations
 * per CPU-second (user + system time of the process: the waits cost
 * nothing), the wall time, the minor page faults and the peak RSS.
 */
#include "wl_common.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/resource.h>

enum { OPT_THREADS, OPT_ROUNDS, OPT_BLOCKS, OPT_HAND, OPT_WAIT, OPT_COUNT };

static struct wl_opt opts[OPT_COUNT] = {
	[OPT_THREADS] = { "threads", 2, "threads (<= 16)" },
	[OPT_ROUNDS] = { "rounds", 60, "rounds per thread" },
	[OPT_BLOCKS] = { "blocks", 10000, "blocks allocated per round (<= 1M)" },
	[OPT_HAND] = { "hand", 10, "percent of a round's blocks handed to the next thread" },
	[OPT_WAIT] = { "wait_ms", 20, "sleep between rounds, ms" },
};

#define THREADS_MAX 16
#define BLOCKS_MAX  (1L << 20)
#define MIN_BLOCK   8
#define MAX_BLOCK   16384

/* A handed block: its first word links the receiver's inbox, its last
 * byte is the check. */
struct inbox {
	_Atomic(void *) head;
	char            pad[CACHE_LINE - sizeof(void *)];
};

static struct inbox inboxes[THREADS_MAX];
static atomic_long  errors;

static unsigned char mark(size_t size)
{
	return (unsigned char)(size * 31 + 7);
}

/* A block carries its size in its first word (until it is handed over)
 * and mark(size) in its last byte. */
static void *block_new(struct wl_rng *rng)
{
	size_t         size = (size_t)wl_log_range(rng, MIN_BLOCK, MAX_BLOCK);
	unsigned char *p = malloc(size);
	if (p == NULL) {
		fprintf(stderr, "wl_rounds: malloc(%zu) failed\n", size);
		exit(1);
	}
	wl_touch(p, size);
	if (size > sizeof(size))
		p[size - 1] = mark(size);
	memcpy(p, &size, sizeof(size));
	return p;
}

static size_t block_size(const unsigned char *p)
{
	size_t size;
	memcpy(&size, p, sizeof(size));
	return size;
}

/* An 8-byte block is all size word: its check is that the size reads
 * back as one a block can have. */
static bool block_ok(const unsigned char *p, size_t size)
{
	if (size < MIN_BLOCK || size > MAX_BLOCK)
		return false;
	return size == sizeof(size) || p[size - 1] == mark(size);
}

static void block_free(unsigned char *p, size_t size)
{
	if (!block_ok(p, size))
		atomic_fetch_add(&errors, 1);
	free(p);
}

/* Hand p (of size bytes) to thread to: the size moves to the second word
 * when there is one, the first links the inbox. */
static void hand(int to, unsigned char *p)
{
	void *old = atomic_load(&inboxes[to].head);
	do
		memcpy(p, &old, sizeof(old));
	while (!atomic_compare_exchange_weak(&inboxes[to].head, &old, p));
}

static void drain(int self)
{
	unsigned char *p = atomic_exchange(&inboxes[self].head, NULL);
	while (p) {
		unsigned char *next;
		memcpy(&next, p, sizeof(next));
		free(p); /* its check byte went with its size */
		p = next;
	}
}

struct worker {
	pthread_t tid;
	int       id;
	long      allocs;
};

static void *worker(void *arg)
{
	struct worker  *w = arg;
	long            n = opts[OPT_BLOCKS].value, nthreads = opts[OPT_THREADS].value;
	unsigned char **b = wl_map((size_t)n * sizeof(*b));
	struct wl_rng   rng;
	wl_seed(&rng, (uint64_t)w->id + 1);
	for (long r = 0; r < opts[OPT_ROUNDS].value; r++) {
		drain(w->id);
		for (long i = 0; i < n; i++)
			b[i] = block_new(&rng);
		w->allocs += n;
		for (long i = 0; i < n; i++) {
			size_t size = block_size(b[i]);
			if (wl_range(&rng, 0, 99) < opts[OPT_HAND].value && block_ok(b[i], size))
				hand((int)((w->id + 1) % nthreads), b[i]);
			else
				block_free(b[i], size);
		}
		wl_sleep_ms(opts[OPT_WAIT].value);
	}
	wl_unmap(b, (size_t)n * sizeof(*b));
	return NULL;
}

int main(int argc, char **argv)
{
	wl_allocator();
	wl_parse(argc, argv, opts, OPT_COUNT);
	long nthreads = opts[OPT_THREADS].value;
	if (nthreads < 1 || nthreads > THREADS_MAX || opts[OPT_ROUNDS].value < 1
	    || opts[OPT_BLOCKS].value < 1 || opts[OPT_BLOCKS].value > BLOCKS_MAX
	    || opts[OPT_HAND].value < 0 || opts[OPT_HAND].value > 100 || opts[OPT_WAIT].value < 0) {
		wl_usage(argv[0], opts, OPT_COUNT);
		return 2;
	}
	struct worker w[THREADS_MAX];
	double        begin = wl_now();
	for (int i = 0; i < nthreads; i++) {
		w[i].id = i;
		w[i].allocs = 0;
		if (pthread_create(&w[i].tid, NULL, worker, &w[i]) != 0) {
			fprintf(stderr, "wl_rounds: pthread_create failed\n");
			return 1;
		}
	}
	long allocs = 0;
	for (int i = 0; i < nthreads; i++) {
		pthread_join(w[i].tid, NULL);
		allocs += w[i].allocs;
	}
	for (int i = 0; i < nthreads; i++)
		drain(i);
	double        secs = wl_now() - begin;
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6
	             + (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
	if (atomic_load(&errors)) {
		fprintf(stderr, "wl_rounds: %ld blocks corrupted\n", atomic_load(&errors));
		return 1;
	}

	wl_begin("rounds");
	wl_put("allocs", "%ld", allocs);
	wl_put("secs", "%.3f", secs);
	wl_put("cpu_secs", "%.3f", cpu);
	wl_put("allocs_per_cpu_s", "%.0f", (double)allocs / cpu);
	wl_put("minflt", "%ld", ru.ru_minflt);
	wl_put("peak_rss_kib", "%ld", wl_status_kib("VmHWM"));
	wl_end();
	return 0;
}
