/* SPDX-License-Identifier: MIT */
/*
 * stress.c - several threads, random sizes from 1 B to 1 MiB, random malloc,
 * free and realloc, blocks handed between threads and freed by another one;
 * and producers that hand every block they allocate to consumers and exit
 * while their blocks are still being freed.  Every block is filled with a
 * pattern made from its own seed and checked completely before it is
 * resized or freed.
 *
 * With -DSTRATA_PREFIX=strata_tsan_ it calls strata's prefixed entry points,
 * so ThreadSanitizer (which brings its own malloc) can watch strata's code.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stress.h"

#ifdef STRATA_PREFIX
#define CAT2(a, b) a##b
#define CAT(a, b)  CAT2(a, b)
#define S(name)    CAT(STRATA_PREFIX, name)
void *S(malloc)(size_t);
void *S(realloc)(void *, size_t);
void  S(free)(void *);
#else
#define S(name) name
#endif

#define LOCAL_SLOTS    256
#define EXCHANGE_SLOTS 64

struct block {
	unsigned char *p;
	size_t         size;
	uint32_t       seed;
};

/* A block handed to another thread carries its size and seed in a header. */
struct header {
	uint64_t size;
	uint32_t seed;
	uint32_t magic;
};
#define HEADER_MAGIC 0x57a7a5u

static _Atomic(struct header *) exchange[EXCHANGE_SLOTS];
static atomic_long              errors;

static uint32_t next_random(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* Mostly small, some medium, a few up to 1 MiB: the shape of real heaps. */
static size_t random_size(uint32_t *s)
{
	uint32_t r = next_random(s) % 1000;
	if (r < 900)
		return next_random(s) % 512 + 1;
	if (r < 990)
		return next_random(s) % 65536 + 1;
	return next_random(s) % (1 << 20) + 1;
}

static unsigned char pattern(uint32_t seed, size_t i)
{
	return (unsigned char)(seed + i * 131 + (i >> 8));
}

static void fill(unsigned char *p, size_t from, size_t to, uint32_t seed)
{
	for (size_t i = from; i < to; i++)
		p[i] = pattern(seed, i);
}

static void check_range(const unsigned char *p, size_t from, size_t n, uint32_t seed)
{
	for (size_t i = from; i < n; i++) {
		if (p[i] != pattern(seed, i)) {
			fprintf(stderr, "stress: block %p byte %zu of %zu corrupted\n", (void *)p,
			        i, n);
			atomic_fetch_add(&errors, 1);
			return;
		}
	}
}

static void check(const unsigned char *p, size_t n, uint32_t seed)
{
	check_range(p, 0, n, seed);
}

static void block_new(struct block *b, uint32_t *s)
{
	b->size = random_size(s);
	b->seed = next_random(s);
	b->p = S(malloc)(b->size);
	if (b->p == NULL) {
		atomic_fetch_add(&errors, 1);
		return;
	}
	fill(b->p, 0, b->size, b->seed);
}

static void block_free(struct block *b)
{
	check(b->p, b->size, b->seed);
	S(free)(b->p);
	b->p = NULL;
}

static void block_realloc(struct block *b, uint32_t *s)
{
	size_t         n = random_size(s);
	unsigned char *q = S(realloc)(b->p, n);
	if (q == NULL) {
		atomic_fetch_add(&errors, 1);
		return;
	}
	check(q, n < b->size ? n : b->size, b->seed);
	fill(q, 0, n, b->seed);
	b->p = q;
	b->size = n;
}

/* Turn a local block into one with a header and swap it into the exchange;
 * what comes out was allocated by some thread, and is freed here. */
static void block_exchange(struct block *b, uint32_t *s)
{
	if (b->size < sizeof(struct header)) {
		block_free(b);
		return;
	}
	check(b->p, b->size, b->seed);
	struct header *h = (struct header *)b->p;
	h->size = b->size;
	h->seed = b->seed;
	h->magic = HEADER_MAGIC;
	b->p = NULL;
	struct header *old = atomic_exchange(&exchange[next_random(s) % EXCHANGE_SLOTS], h);
	if (old) {
		if (old->magic != HEADER_MAGIC) {
			atomic_fetch_add(&errors, 1);
			return;
		}
		check_range((unsigned char *)old, sizeof(*old), old->size, old->seed);
		S(free)(old);
	}
}

struct worker {
	long     ops;
	uint32_t seed;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct block   local[LOCAL_SLOTS] = { 0 };
	uint32_t       s = w->seed;
	for (long i = 0; i < w->ops; i++) {
		struct block *b = &local[next_random(&s) % LOCAL_SLOTS];
		uint32_t      op = next_random(&s) % 10;
		if (b->p == NULL)
			block_new(b, &s);
		else if (op < 5)
			block_free(b);
		else if (op < 8)
			block_realloc(b, &s);
		else
			block_exchange(b, &s);
	}
	for (int i = 0; i < LOCAL_SLOTS; i++)
		if (local[i].p)
			block_free(&local[i]);
	return NULL;
}

long stress_run(int threads, long ops, unsigned seed)
{
	pthread_t     t[64];
	struct worker w[64];
	atomic_store(&errors, 0);
	if (threads > 64)
		threads = 64;
	for (int i = 0; i < threads; i++) {
		w[i].ops = ops;
		w[i].seed = seed * 2654435761u + (uint32_t)i + 1;
		pthread_create(&t[i], NULL, worker_main, &w[i]);
	}
	for (int i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < EXCHANGE_SLOTS; i++) {
		struct header *h = atomic_exchange(&exchange[i], NULL);
		if (h)
			S(free)(h);
	}
	return atomic_load(&errors);
}

/* ------------------------------------------------------------------------
 * Hand-off: producers allocate small blocks and put each in a free slot of
 * a ring; consumers take blocks out of the ring and free them.  Producers
 * fill their slabs, which the consumers' frees make partial again (the
 * owner is told through its delayed list), and exit while consumers still
 * free their blocks (their slabs are abandoned, then adopted or released).
 * ---------------------------------------------------------------------- */
#define RING_SLOTS 1024

static _Atomic(struct header *) ring[RING_SLOTS];
static atomic_int               producers_left;

struct producer {
	long     blocks;
	uint32_t seed;
};

static void *producer_main(void *arg)
{
	struct producer *pr = arg;
	uint32_t         s = pr->seed;
	for (long i = 0; i < pr->blocks; i++) {
		size_t         size = sizeof(struct header) + next_random(&s) % 200;
		struct header *h = S(malloc)(size);
		if (h == NULL) {
			atomic_fetch_add(&errors, 1);
			break;
		}
		h->size = size;
		h->seed = next_random(&s);
		h->magic = HEADER_MAGIC;
		fill((unsigned char *)h, sizeof(*h), size, h->seed);
		for (unsigned slot = next_random(&s) % RING_SLOTS;;
		     slot = (slot + 1) % RING_SLOTS) {
			struct header *empty = NULL;
			if (atomic_compare_exchange_weak(&ring[slot], &empty, h))
				break;
		}
	}
	atomic_fetch_sub(&producers_left, 1);
	return NULL;
}

static void consume(struct header *h)
{
	if (h->magic != HEADER_MAGIC) {
		atomic_fetch_add(&errors, 1);
		return;
	}
	check_range((unsigned char *)h, sizeof(*h), h->size, h->seed);
	S(free)(h);
}

static void *consumer_main(void *arg)
{
	(void)arg;
	for (;;) {
		int  left = atomic_load(&producers_left);
		long taken = 0;
		for (int i = 0; i < RING_SLOTS; i++) {
			struct header *h = atomic_exchange(&ring[i], NULL);
			if (h) {
				consume(h);
				taken++;
			}
		}
		if (left == 0 && taken == 0)
			return NULL;
	}
}

long stress_handoff(int rounds, int producers, int consumers, long blocks)
{
	pthread_t       p[16], c[16];
	struct producer pr[16];
	atomic_store(&errors, 0);
	producers = producers > 16 ? 16 : producers;
	consumers = consumers > 16 ? 16 : consumers;
	for (int r = 0; r < rounds; r++) {
		atomic_store(&producers_left, producers);
		for (int i = 0; i < consumers; i++)
			pthread_create(&c[i], NULL, consumer_main, NULL);
		for (int i = 0; i < producers; i++) {
			pr[i].blocks = blocks;
			pr[i].seed = (uint32_t)(r * 131 + i) * 2654435761u + 1;
			pthread_create(&p[i], NULL, producer_main, &pr[i]);
		}
		for (int i = 0; i < producers; i++)
			pthread_join(p[i], NULL);
		for (int i = 0; i < consumers; i++)
			pthread_join(c[i], NULL);
	}
	return atomic_load(&errors);
}
