/* SPDX-License-Identifier: MIT */
/* main() of the ThreadSanitizer build of the stress workload, and a stress
 * of the object caches, pools and private heaps: objects of a shared cache
 * and pool freed by other threads than their allocator, private heaps
 * reset while another thread reads every figure. */
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "strata.h"
#include "stress.h"

#define CAT2(a, b) a##b
#define CAT(a, b)  CAT2(a, b)
#define S(name)    CAT(STRATA_PREFIX, name)
void S(free)(void *);

#define OBJ_THREADS 4
#define OBJ_SLOTS   256

static strata_cache_t *shared_cache;
static strata_pool_t  *shared_pool;
static _Atomic(void *) slots[OBJ_SLOTS];
static atomic_int      running;
static atomic_long     obj_errors;

static void object_step(unsigned i, unsigned seed)
{
	unsigned char *p = (seed & 1) ? strata_cache_alloc(shared_cache)
	                              : strata_pool_alloc(shared_pool);
	memset(p, (int)(seed & 0xff), 64);
	p[0] = (unsigned char)(seed & 1);
	unsigned char *old = atomic_exchange(&slots[i % OBJ_SLOTS], p);
	if (old == NULL)
		return;
	for (int k = 1; k < 64; k++)
		if (old[k] != old[1])
			atomic_fetch_add(&obj_errors, 1);
	if (old[0] == 0)
		strata_pool_free(shared_pool, old);
	else if (seed & 2)
		strata_cache_free(shared_cache, old);
	else
		S(free)(old);
}

static void *object_worker(void *arg)
{
	unsigned       seed = (unsigned)(uintptr_t)arg;
	strata_heap_t *h = strata_heap_create("tsan");
	for (unsigned r = 0; r < 4; r++) {
		for (unsigned i = 0; i < 500; i++) {
			seed = seed * 1103515245u + 12345u;
			object_step(seed >> 8, seed >> 4);
			char *b = strata_heap_malloc(h, 16 + (seed >> 20) % 3000);
			b[0] = 1;
			if (seed & 8)
				S(free)(b);
		}
		strata_heap_reset(h);
	}
	strata_heap_destroy(h);
	return NULL;
}

static void *object_reader(void *arg)
{
	(void)arg;
	while (atomic_load(&running)) {
		struct strata_cache_stats st = { .struct_size = sizeof(st) };
		strata_cache_stats_get(shared_cache, &st);
		strata_pool_stats_get(shared_pool, &st);
		usleep(1000);
	}
	strata_report(-1, STRATA_FORMAT_JSON, STRATA_REPORT_CLASSES);
	return NULL;
}

static long object_stress(void)
{
	shared_cache = strata_cache_create("tsan-cache", 64, 0, 0);
	shared_pool = strata_pool_create("tsan-pool", 64, 8);
	pthread_t t[OBJ_THREADS], reader;
	atomic_store(&running, 1);
	pthread_create(&reader, NULL, object_reader, NULL);
	for (int i = 0; i < OBJ_THREADS; i++)
		pthread_create(&t[i], NULL, object_worker, (void *)(uintptr_t)(i + 1));
	for (int i = 0; i < OBJ_THREADS; i++)
		pthread_join(t[i], NULL);
	atomic_store(&running, 0);
	pthread_join(reader, NULL);
	for (int i = 0; i < OBJ_SLOTS; i++) {
		unsigned char *p = atomic_exchange(&slots[i], NULL);
		if (p)
			S(free)(p);
	}
	struct strata_cache_stats st = { .struct_size = sizeof(st) };
	strata_cache_stats_get(shared_cache, &st);
	long errors = atomic_load(&obj_errors) + (st.live != 0);
	strata_pool_stats_get(shared_pool, &st);
	errors += st.live != 0;
	return errors;
}

int main(int argc, char **argv)
{
	int  threads = argc > 1 ? atoi(argv[1]) : 4;
	long ops = argc > 2 ? atol(argv[2]) : 20000;
	long errors = stress_run(threads, ops, 3);
	printf("stress (tsan): %d threads x %ld ops: %ld corrupted blocks\n", threads, ops, errors);
	long handed = stress_handoff(3, 2, 2, ops / 4);
	printf("stress (tsan): hand-off, 3 rounds of 2 producers x %ld blocks: %ld corrupted "
	       "blocks\n",
	       ops / 4, handed);
	long objects = object_stress();
	printf("stress (tsan): caches, pools and private heaps, %d threads: %ld errors\n",
	       OBJ_THREADS, objects);
	return errors == 0 && handed == 0 && objects == 0 ? 0 : 1;
}
