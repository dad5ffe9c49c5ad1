/* SPDX-License-Identifier: MIT */
/* Run by test_debug with STRATA_DEBUG=1 and strata preloaded: one heap bug
 * per mode (the test expects the abort and its message), or a clean
 * workload that must not trip the checks. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static char *volatile sink;

/* Runs off the stack: the fault handler's alternate stack still lets the
 * default action kill it. */
static int recurse(int n)
{
	volatile char pad[1024];
	pad[0] = (char)n;
	return recurse(n + 1) + pad[0];
}

static void fill(unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(seed + i * 7);
}

static int verify(const unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != (unsigned char)(seed + i * 7))
			return 0;
	return 1;
}

#define FAIL(...)                             \
	do {                                  \
		fprintf(stderr, __VA_ARGS__); \
		fputc('\n', stderr);          \
		exit(1);                      \
	} while (0)

/* Every block is written to its last requested byte and read back; sizes
 * from 0 to 6 MiB, aligned ones, calloc, realloc chains, two threads. */
static void *clean_worker(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;
	enum { N = 256 };
	static const size_t sizes[] = { 0,    1,    15,    16,    24,     48,      100,    1000,
		                        4096, 5000, 32768, 40000, 100000, 1 << 20, 6 << 20 };
	unsigned char      *p[N] = { 0 };
	size_t              n[N] = { 0 };
	for (unsigned round = 0; round < 4000; round++) {
		unsigned i = (round * 97 + seed) % N;
		if (p[i]) {
			if (!verify(p[i], n[i], i))
				FAIL("block %u lost its contents", i);
			if (round % 3 == 0) {
				size_t         m = sizes[(round / 3 + seed)
                                                 % (sizeof(sizes) / sizeof(sizes[0]) - 1)];
				unsigned char *q = realloc(p[i], m);
				if (m && !q)
					FAIL("realloc failed");
				if (m && !verify(q, m < n[i] ? m : n[i], i))
					FAIL("realloc lost contents");
				p[i] = q;
				n[i] = m;
				if (q) {
					fill(q, m, i);
					if (malloc_usable_size(q) != m)
						FAIL("usable size %zu of a %zu block",
						     malloc_usable_size(q), m);
				}
				continue;
			}
			free(p[i]);
			p[i] = NULL;
			continue;
		}
		size_t m = sizes[(round + seed) % (sizeof(sizes) / sizeof(sizes[0]))];
		switch (round % 4) {
		case 0: p[i] = malloc(m); break;
		case 1:
			p[i] = calloc(1, m);
			for (size_t k = 0; k < m; k++)
				if (p[i][k])
					FAIL("calloc not zero");
			break;
		case 2:
			p[i] = memalign((size_t)64 << (round % 7), m);
			if ((uintptr_t)p[i] % ((size_t)64 << (round % 7)))
				FAIL("misaligned");
			break;
		default: p[i] = aligned_alloc(16, m); break;
		}
		if (!p[i])
			FAIL("allocation of %zu failed", m);
		if (malloc_usable_size(p[i]) != m)
			FAIL("usable size %zu of a %zu block", malloc_usable_size(p[i]), m);
		n[i] = m;
		fill(p[i], m, i);
	}
	for (unsigned i = 0; i < N; i++)
		free(p[i]);
	return NULL;
}

static int clean(void)
{
	pthread_t t[2];
	for (uintptr_t i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, clean_worker, (void *)(i + 1));
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	int (*check)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "strata_check_heap");
	if (!check)
		FAIL("strata_check_heap not found: is strata preloaded?");
	return check() == 0 ? 0 : 1;
}

/* Memory freed in debug mode still goes back: 256 MiB of small blocks,
 * freed, trimmed (each slab's guard object must not pin it). */
static int trim(void)
{
	enum { N = 256 * 1024 };
	static char *p[N];
	for (int i = 0; i < N; i++)
		p[i] = malloc(1000);
	for (int i = 0; i < N; i++)
		free(p[i]);
	malloc_trim(0);
	size_t kib = rss_bytes() >> 10;
	if (kib > 64 * 1024)
		FAIL("RSS %zu KiB after freeing 256 MiB and trimming", kib);
	return 0;
}

/* A block of a private heap used after the heap's destroy: freed (the
 * abort names the heap as gone) or read (the access faults). */
static int heap_after_destroy(int read)
{
	void *(*create)(const char *) = (void *(*)(const char *))dlsym(RTLD_DEFAULT,
	                                                               "strata_heap_create");
	void *(*hmalloc)(void *, size_t) = (void *(*)(void *, size_t))dlsym(RTLD_DEFAULT,
	                                                                    "strata_heap_malloc");
	void (*destroy)(void *) = (void (*)(void *))dlsym(RTLD_DEFAULT, "strata_heap_destroy");
	if (!create || !hmalloc || !destroy)
		FAIL("strata_heap_* not found");
	void *h = create("request");
	char *p = hmalloc(h, 100);
	sink = hmalloc(h, 100);
	destroy(h);
	if (read)
		return p[10];
	free(p);
	return 0;
}

/* Blocks made without the debug layout, used as the calls allow: a
 * private heap's huge block freed with free(), a cache's object grown by
 * realloc() into a large block, which free() then takes. */
static int pools_clean(void)
{
	void *(*create)(const char *) = (void *(*)(const char *))dlsym(RTLD_DEFAULT,
	                                                               "strata_heap_create");
	void *(*hmalloc)(void *, size_t) = (void *(*)(void *, size_t))dlsym(RTLD_DEFAULT,
	                                                                    "strata_heap_malloc");
	void *(*ccreate)(const char *, size_t, size_t, unsigned) =
	        (void *(*)(const char *, size_t, size_t, unsigned))dlsym(RTLD_DEFAULT,
	                                                                 "strata_cache_create");
	void *(*calloc_)(void *) = (void *(*)(void *))dlsym(RTLD_DEFAULT, "strata_cache_alloc");
	if (!create || !hmalloc || !ccreate || !calloc_)
		FAIL("strata_heap_* or strata_cache_* not found");
	void *h = create("big");
	char *big = hmalloc(h, 5u << 20);
	if (big == NULL)
		FAIL("strata_heap_malloc of 5 MiB");
	memset(big, 1, 5u << 20);
	if (malloc_usable_size(big) < (5u << 20))
		FAIL("malloc_usable_size of a private heap's huge block");
	free(big);
	void *c = ccreate("objects", 200, 0, 0);
	char *o = calloc_(c);
	memset(o, 2, 200);
	char *grown = realloc(o, 300000);
	if (grown == NULL || grown[199] != 2)
		FAIL("realloc of a cache's object");
	memset(grown, 3, 300000);
	free(grown);
	return 0;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "clean";
	if (!strcmp(mode, "clean"))
		return clean();
	if (!strcmp(mode, "pools_clean"))
		return pools_clean();
	if (!strcmp(mode, "heap_free_after_destroy") || !strcmp(mode, "heap_read_after_destroy"))
		return heap_after_destroy(mode[5] == 'r');
	if (!strcmp(mode, "trim"))
		return trim();
	char *p = malloc(24), *q;
	if (!strcmp(mode, "overflow_small")) {
		p[24] = 1;
	} else if (!strcmp(mode, "overflow_class")) {
		p = malloc(48); /* exactly a size class */
		p[48] = 1;
	} else if (!strcmp(mode, "overflow_large")) {
		p = malloc(100000);
		p[100000] = 1;
	} else if (!strcmp(mode, "overflow_huge")) {
		p = malloc(6 << 20);
		p[6 << 20] = 1;
	} else if (!strcmp(mode, "overflow_realloc")) {
		p = realloc(p, 500);
		p[500] = 1;
	} else if (!strcmp(mode, "overflow_aligned")) {
		p = aligned_alloc(256, 100);
		p[100] = 1;
	} else if (!strcmp(mode, "underflow")) {
		q = malloc(32);
		p = malloc(32);
		p[-1] = 1;
		sink = q;
	} else if (!strcmp(mode, "uaf_small")) {
		p = malloc(100);
		free(p);
		p[50] = 1;
		sink = malloc(100);
		return 0;
	} else if (!strcmp(mode, "uaf_large")) {
		p = malloc(200000);
		free(p);
		p[5000] = 1;
		sink = malloc(200000);
		return 0;
	} else if (!strcmp(mode, "uaf_read_small")) {
		p = malloc(32);
		free(p);
		return p[3];
	} else if (!strcmp(mode, "malloc0")) {
		p = malloc(0);
		q = malloc(0);
		if (!p || !q || p == q || malloc_usable_size(p) != 0)
			FAIL("malloc(0): %p and %p, usable %zu", (void *)p, (void *)q,
			     malloc_usable_size(p));
		p = realloc(p, 10); /* realloc and free of it work */
		memset(p, 1, 10);
		free(p);
		free(q);
		p = malloc(0);
		return p[0];
	} else if (!strcmp(mode, "quarantine")) {
		/* a freed block is not handed out again at once, whatever its size */
		static const size_t sizes[] = { 32, 4000, 16384, 512 << 10, 8 << 20 };
		for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
			for (int round = 0; round < 8; round++) {
				p = malloc(sizes[k]);
				free(p);
				q = malloc(sizes[k]);
				if (q == p)
					FAIL("a freed block of %zu handed out again at once",
					     sizes[k]);
				free(q);
			}
		}
		return 0;
	} else if (!strcmp(mode, "segv_passes_through")) {
		/* a fault outside strata's memory is the program's: the default
		 * action, no message */
		return *(volatile char *)(uintptr_t)16;
	} else if (!strcmp(mode, "stack_overflow")) {
		return recurse(1);
	} else if (!strcmp(mode, "check_heap")) {
		/* a write after free that no reuse reveals: the heap check does */
		q = malloc(64);
		free(p);
		p[20] = 1;
		int (*check)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "strata_check_heap");
		if (!check)
			FAIL("strata_check_heap not found");
		return check() == -1 ? 0 : 1;
	} else {
		FAIL("unknown mode %s", mode);
	}
	free(p);
	return 0; /* the bug went unnoticed */
}
