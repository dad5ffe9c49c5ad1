/* SPDX-License-Identifier: MIT */
/*
 * wl_prodcons.c - producers allocate, consumers free: every free is of
 * another thread's block.
 *
 * Owns the one-way cross-thread measurement.  Each pair is a producer that
 * allocates blocks of 16 B to 1 KiB (log-uniform), writes them and puts
 * them in a single-producer single-consumer ring, and a consumer that
 * takes them out, checks them and frees them.  An allocator must get the
 * consumer's frees back to the producer's memory without a lock per free
 * and without letting them pile up.  Reports blocks per second.
 */
#include "wl_common.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

enum { OPT_PAIRS, OPT_BLOCKS, OPT_RING, OPT_COUNT };

static struct wl_opt opts[OPT_COUNT] = {
	[OPT_PAIRS] = { "pairs", 1, "producer/consumer pairs (<= 8)" },
	[OPT_BLOCKS] = { "blocks", 3000000, "blocks per producer" },
	[OPT_RING] = { "ring", 4096, "ring slots (a power of two)" },
};

#define PAIRS_MAX 8

struct ring {
	_Atomic long    head; /* next slot the producer fills */
	char            pad1[CACHE_LINE - sizeof(long)];
	_Atomic long    tail; /* next slot the consumer empties */
	char            pad2[CACHE_LINE - sizeof(long)];
	unsigned char **slot;
	long            mask;
	pthread_t       producer, consumer;
	long            errors;
};

static struct ring rings[PAIRS_MAX];

static void *produce(void *arg)
{
	struct ring  *q = arg;
	struct wl_rng rng;
	wl_seed(&rng, (uint64_t)(q - rings) + 1);
	for (long i = 0; i < opts[OPT_BLOCKS].value; i++) {
		size_t         size = (size_t)wl_log_range(&rng, 16, 1024);
		unsigned char *p = malloc(size);
		if (p == NULL) {
			fprintf(stderr, "wl_prodcons: malloc failed\n");
			exit(1);
		}
		p[0] = (unsigned char)size;
		p[1] = (unsigned char)(size >> 8);
		p[size - 1] = (unsigned char)i;
		long head = atomic_load_explicit(&q->head, memory_order_relaxed);
		while (head - atomic_load_explicit(&q->tail, memory_order_acquire) > q->mask)
			sched_yield();
		q->slot[head & q->mask] = p;
		atomic_store_explicit(&q->head, head + 1, memory_order_release);
	}
	return NULL;
}

static void *consume(void *arg)
{
	struct ring *q = arg;
	for (long i = 0; i < opts[OPT_BLOCKS].value; i++) {
		long tail = atomic_load_explicit(&q->tail, memory_order_relaxed);
		while (atomic_load_explicit(&q->head, memory_order_acquire) == tail)
			sched_yield();
		unsigned char *p = q->slot[tail & q->mask];
		atomic_store_explicit(&q->tail, tail + 1, memory_order_release);
		size_t size = (size_t)p[0] | (size_t)p[1] << 8;
		if (size < 16 || size > 1024 || p[size - 1] != (unsigned char)i)
			q->errors++;
		free(p);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	wl_allocator();
	wl_parse(argc, argv, opts, OPT_COUNT);
	long pairs = opts[OPT_PAIRS].value, ring = opts[OPT_RING].value;
	if (pairs < 1 || pairs > PAIRS_MAX || opts[OPT_BLOCKS].value < 1 || ring < 2
	    || (ring & (ring - 1)) != 0) {
		wl_usage(argv[0], opts, OPT_COUNT);
		return 2;
	}
	double begin = wl_now();
	for (long i = 0; i < pairs; i++) {
		rings[i].slot = wl_map((size_t)ring * sizeof(*rings[i].slot));
		rings[i].mask = ring - 1;
		if (pthread_create(&rings[i].consumer, NULL, consume, &rings[i]) != 0
		    || pthread_create(&rings[i].producer, NULL, produce, &rings[i]) != 0) {
			fprintf(stderr, "wl_prodcons: pthread_create failed\n");
			return 1;
		}
	}
	long errors = 0;
	for (long i = 0; i < pairs; i++) {
		pthread_join(rings[i].producer, NULL);
		pthread_join(rings[i].consumer, NULL);
		errors += rings[i].errors;
	}
	double secs = wl_now() - begin;
	if (errors) {
		fprintf(stderr, "wl_prodcons: %ld blocks corrupted\n", errors);
		return 1;
	}

	wl_begin("prodcons");
	wl_put("blocks", "%ld", pairs * opts[OPT_BLOCKS].value);
	wl_put("secs", "%.3f", secs);
	wl_put("ops_per_s", "%.0f", (double)(pairs * opts[OPT_BLOCKS].value) / secs);
	wl_put("peak_rss_kib", "%ld", wl_status_kib("VmHWM"));
	wl_end();
	return 0;
}
