/* SPDX-License-Identifier: MIT */
/*
 * pools.c - object caches, pools and private heaps against malloc, in one
 * run (bench/pools-run interleaves the rounds and writes the table).
 *
 *   pools cache-pair N       N alloc+free pairs of a 72-byte struct, cache
 *   pools malloc-pair N      ... with malloc and free
 *   pools cache-batch N      N objects in batches of 1000 allocs then frees
 *   pools malloc-batch N
 *   pools heap-pair N        N strata_heap_malloc(72)+free pairs in a private heap
 *   pools heap-destroy N     N blocks of 16..512 bytes, then one destroy
 *   pools malloc-frees N     ... then N frees
 *   pools heap-request N     N requests: 200 blocks of 16..2000 bytes each,
 *   pools malloc-request N   a third freed early, the rest at the request's end
 *   pools isolation-on N     two types interleaved, then every object of one
 *   pools isolation-off N    type freed: RSS after, caches vs malloc
 *
 * Prints "MODE seconds rss_kib".  Linked with strata (strata_* calls).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "strata.h"

struct session {
	uint64_t id;
	char     peer[40];
	uint32_t flags;
	uint32_t state;
	void    *next;
	uint64_t seen;
}; /* 72 bytes */

static uint64_t rng = 88172645463325252ull;

static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static long rss_kib(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	long  size = 0, resident = 0;
	if (f) {
		if (fscanf(f, "%ld %ld", &size, &resident) != 2)
			resident = 0;
		fclose(f);
	}
	return resident * 4;
}

static void *sink;

static void pair(long n, strata_cache_t *c)
{
	for (long i = 0; i < n; i++) {
		struct session *s = c ? strata_cache_alloc(c) : malloc(sizeof(*s));
		s->id = (uint64_t)i;
		sink = s;
		if (c)
			strata_cache_free(c, s);
		else
			free(s);
	}
}

static void heap_pair(long n)
{
	strata_heap_t *h = strata_heap_create("pair");
	for (long i = 0; i < n; i++) {
		struct session *s = strata_heap_malloc(h, sizeof(*s));
		s->id = (uint64_t)i;
		sink = s;
		free(s);
	}
	strata_heap_destroy(h);
}

static void batch(long n, strata_cache_t *c)
{
	static void *v[1000];
	for (long done = 0; done < n; done += 1000) {
		for (int i = 0; i < 1000; i++)
			v[i] = c ? strata_cache_alloc(c) : malloc(sizeof(struct session));
		for (int i = 0; i < 1000; i++) {
			if (c)
				strata_cache_free(c, v[i]);
			else
				free(v[i]);
		}
	}
}

static void heap_blocks(long n, int use_heap)
{
	void         **v = use_heap ? NULL : malloc((size_t)n * sizeof(void *));
	strata_heap_t *h = use_heap ? strata_heap_create("bench") : NULL;
	for (long i = 0; i < n; i++) {
		size_t size = 16 + next_rand() % 497;
		char  *p = h ? strata_heap_malloc(h, size) : malloc(size);
		p[0] = 1;
		if (v)
			v[i] = p;
	}
	if (h) {
		strata_heap_destroy(h);
		return;
	}
	for (long i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void requests(long n, int use_heap)
{
	enum { BLOCKS = 200 };
	static void   *v[BLOCKS];
	strata_heap_t *h = use_heap ? strata_heap_create("request") : NULL;
	for (long r = 0; r < n; r++) {
		for (int i = 0; i < BLOCKS; i++) {
			size_t size = 16 + next_rand() % 1985;
			v[i] = h ? strata_heap_malloc(h, size) : malloc(size);
			memset(v[i], i, 16);
			if (i % 3 == 0) {
				free(v[i]);
				v[i] = NULL;
			}
		}
		if (h) {
			strata_heap_reset(h);
			continue;
		}
		for (int i = 0; i < BLOCKS; i++)
			free(v[i]);
	}
	if (h)
		strata_heap_destroy(h);
}

/* Two object types allocated interleaved (sessions of 72 bytes, buffers of
 * 80), then every session freed: with caches the sessions' slabs empty and
 * go back; with malloc they share slabs with the buffers. */
static void isolation(long n, int caches)
{
	strata_cache_t *a = caches ? strata_cache_create("sessions", 72, 8, 0) : NULL;
	strata_cache_t *b = caches ? strata_cache_create("buffers", 80, 8, 0) : NULL;
	void **sa = malloc((size_t)n * sizeof(void *)), **sb = malloc((size_t)n * sizeof(void *));
	for (long i = 0; i < n; i++) {
		sa[i] = a ? strata_cache_alloc(a) : malloc(72);
		sb[i] = b ? strata_cache_alloc(b) : malloc(80);
		memset(sa[i], 1, 72);
		memset(sb[i], 2, 80);
	}
	for (long i = 0; i < n; i++) {
		if (a)
			strata_cache_free(a, sa[i]);
		else
			free(sa[i]);
	}
	strata_trim();
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: pools MODE N\n");
		return 2;
	}
	const char     *mode = argv[1];
	long            n = atol(argv[2]);
	strata_cache_t *c = strata_cache_create("session", sizeof(struct session), 8, 0);
	double          t0 = now();
	if (!strcmp(mode, "cache-pair"))
		pair(n, c);
	else if (!strcmp(mode, "malloc-pair"))
		pair(n, NULL);
	else if (!strcmp(mode, "heap-pair"))
		heap_pair(n);
	else if (!strcmp(mode, "cache-batch"))
		batch(n, c);
	else if (!strcmp(mode, "malloc-batch"))
		batch(n, NULL);
	else if (!strcmp(mode, "heap-destroy"))
		heap_blocks(n, 1);
	else if (!strcmp(mode, "malloc-frees"))
		heap_blocks(n, 0);
	else if (!strcmp(mode, "heap-request"))
		requests(n, 1);
	else if (!strcmp(mode, "malloc-request"))
		requests(n, 0);
	else if (!strcmp(mode, "isolation-on"))
		isolation(n, 1);
	else if (!strcmp(mode, "isolation-off"))
		isolation(n, 0);
	else {
		fprintf(stderr, "pools: unknown mode %s\n", mode);
		return 2;
	}
	printf("%s %.4f %ld\n", mode, now() - t0, rss_kib());
	return 0;
}
