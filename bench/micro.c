/* SPDX-License-Identifier: MIT */
/*
 * micro.c - microbenchmarks of the malloc family, on google-benchmark.
 *
 * Owns the single-call measurements: a malloc/free pair per size, batches
 * freed in LIFO and in FIFO order, calloc, realloc growth, posix_memalign,
 * and a producer thread whose blocks a consumer thread frees.  The program
 * is linked against glibc only; the allocator under test is the one
 * LD_PRELOAD brings in, so one binary measures them all.  It is compiled
 * with -fno-builtin-malloc and friends, and every block goes through
 * bench_escape(), so the compiler cannot drop a pair it can see through.
 *
 * Each benchmark reports items (one item = one allocation and its free), so
 * the report's items_per_second gives nanoseconds per operation whatever
 * the batch size.
 */
#include "gbench_wrap.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define KIB 1024
#define MIB (1024 * 1024)

/* The sizes a malloc/free pair is timed at: both ends of the small classes,
 * a page, the usual small/large boundaries (32 and 64 KiB) and 1 MiB, which
 * most allocators map directly. */
static const int64_t pair_sizes[] = {
	16, 64, 256, KIB, 4 * KIB, 32 * KIB, 64 * KIB, MIB,
};

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Blocks per batch: enough to drain and refill a thread cache several times
 * over (strata keeps at most 128 per class), small enough to stay in L2. */
#define BATCH_COUNT 1000

/* The biggest batch the batch benchmarks accept. */
#define BATCH_MAX 4096

/* Store one byte into a block: an allocator that hands out memory it never
 * mapped, or maps lazily, pays for it here as a program would. */
static void touch(void *p)
{
	*(volatile char *)p = 1;
}

/* ------------------------------------------------------------------------
 * malloc/free pairs, calloc, posix_memalign
 * ---------------------------------------------------------------------- */
static void bm_malloc_free(struct bench_state *st)
{
	size_t size = (size_t)bench_arg(st, 0);

	while (bench_keep_running(st)) {
		void *p = bench_escape(malloc(size));
		touch(p);
		free(p);
	}
	bench_set_items(st, bench_iterations(st));
}

static void bm_calloc_free(struct bench_state *st)
{
	size_t size = (size_t)bench_arg(st, 0);

	while (bench_keep_running(st)) {
		void *p = bench_escape(calloc(1, size));
		touch(p);
		free(p);
	}
	bench_set_items(st, bench_iterations(st));
}

static void bm_memalign_free(struct bench_state *st)
{
	size_t align = (size_t)bench_arg(st, 0);
	size_t size = (size_t)bench_arg(st, 1);

	while (bench_keep_running(st)) {
		void *p = NULL;
		if (posix_memalign(&p, align, size) != 0) {
			bench_fail(st, "posix_memalign failed");
			break;
		}
		touch(bench_escape(p));
		free(p);
	}
	bench_set_items(st, bench_iterations(st));
}

/* ------------------------------------------------------------------------
 * Batches: allocate N, then free them newest first (LIFO) or oldest first
 * (FIFO).  LIFO is what a thread cache is built for; FIFO walks it the other
 * way and mixes the order in which blocks return to their slabs.
 * ---------------------------------------------------------------------- */
static void batch_alloc(void **blocks, int n, size_t size)
{
	for (int i = 0; i < n; i++) {
		blocks[i] = bench_escape(malloc(size));
		touch(blocks[i]);
	}
}

static void bm_lifo_batch(struct bench_state *st)
{
	void  *blocks[BATCH_MAX];
	int    n = (int)bench_arg(st, 0);
	size_t size = (size_t)bench_arg(st, 1);

	while (bench_keep_running(st)) {
		batch_alloc(blocks, n, size);
		for (int i = n - 1; i >= 0; i--)
			free(blocks[i]);
	}
	bench_set_items(st, bench_iterations(st) * n);
}

static void bm_fifo_batch(struct bench_state *st)
{
	void  *blocks[BATCH_MAX];
	int    n = (int)bench_arg(st, 0);
	size_t size = (size_t)bench_arg(st, 1);

	while (bench_keep_running(st)) {
		batch_alloc(blocks, n, size);
		for (int i = 0; i < n; i++)
			free(blocks[i]);
	}
	bench_set_items(st, bench_iterations(st) * n);
}

/* ------------------------------------------------------------------------
 * realloc growth: one block grown from 16 bytes to 1 MiB, by a fixed step
 * (argument > 0) or by doubling (argument 0).  One item is one realloc.
 * ---------------------------------------------------------------------- */
#define GROW_FROM 16
#define GROW_TO   MIB

static size_t grow_next(size_t size, size_t step)
{
	return step ? size + step : size * 2;
}

static void bm_realloc_grow(struct bench_state *st)
{
	size_t  step = (size_t)bench_arg(st, 0);
	int64_t reallocs = 0;

	while (bench_keep_running(st)) {
		char *p = malloc(GROW_FROM);
		touch(p);
		for (size_t size = grow_next(GROW_FROM, step); size <= GROW_TO;
		     size = grow_next(size, step)) {
			p = bench_escape(realloc(p, size));
			p[size - 1] = 1;
			reallocs++;
		}
		free(p);
	}
	bench_set_items(st, reallocs);
}

/* ------------------------------------------------------------------------
 * Producer/consumer: this thread allocates, a second thread frees, through
 * a bounded single-producer single-consumer ring.  Every free is remote.
 * ---------------------------------------------------------------------- */

/* Ring slots: a power of two, large enough that the two threads rarely wait
 * for each other, small enough that the blocks in flight stay in cache. */
#define RING_SLOTS 1024
#define CACHE_LINE 64

/* Spins before a waiting side yields the CPU: on a loaded machine the other
 * side may not be running at all. */
#define SPINS_BEFORE_YIELD 64

struct ring {
	_Alignas(CACHE_LINE) _Atomic uint64_t head; /* next slot to fill */
	_Alignas(CACHE_LINE) _Atomic uint64_t tail; /* next slot to empty */
	_Alignas(CACHE_LINE) void *slot[RING_SLOTS];
};

static void wait_a_little(unsigned *spins)
{
	if (++*spins % SPINS_BEFORE_YIELD == 0)
		sched_yield();
}

static void ring_push(struct ring *r, void *p)
{
	uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	unsigned spins = 0;

	while (head - atomic_load_explicit(&r->tail, memory_order_acquire) == RING_SLOTS)
		wait_a_little(&spins);
	r->slot[head % RING_SLOTS] = p;
	atomic_store_explicit(&r->head, head + 1, memory_order_release);
}

static void *ring_pop(struct ring *r)
{
	uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	unsigned spins = 0;

	while (atomic_load_explicit(&r->head, memory_order_acquire) == tail)
		wait_a_little(&spins);
	void *p = r->slot[tail % RING_SLOTS];
	atomic_store_explicit(&r->tail, tail + 1, memory_order_release);
	return p;
}

/* The consumer frees until it pops NULL, the producer's last word. */
static void *consumer(void *arg)
{
	struct ring *r = arg;
	void        *p;

	while ((p = ring_pop(r)) != NULL)
		free(p);
	return NULL;
}

static void bm_prodcons(struct bench_state *st)
{
	static struct ring ring;
	size_t             size = (size_t)bench_arg(st, 0);
	pthread_t          tid;

	atomic_store(&ring.head, 0);
	atomic_store(&ring.tail, 0);
	if (pthread_create(&tid, NULL, consumer, &ring) != 0) {
		bench_fail(st, "pthread_create failed");
		while (bench_keep_running(st))
			;
		return;
	}
	while (bench_keep_running(st)) {
		void *p = bench_escape(malloc(size));
		touch(p);
		ring_push(&ring, p);
	}
	ring_push(&ring, NULL);
	pthread_join(tid, NULL);
	bench_set_items(st, bench_iterations(st));
}

/* ------------------------------------------------------------------------
 * Registration
 * ---------------------------------------------------------------------- */
static void register_pairs(void)
{
	struct bench *b = bench_register("malloc_free", bm_malloc_free);

	for (size_t i = 0; i < ARRAY_LEN(pair_sizes); i++)
		bench_arg1(b, pair_sizes[i]);

	b = bench_register("calloc_free", bm_calloc_free);
	bench_arg1(bench_arg1(bench_arg1(b, 64), 4 * KIB), MIB);

	b = bench_register("memalign_free", bm_memalign_free);
	bench_arg2(bench_arg2(b, 64, 64), 64, 1000);
	bench_arg2(bench_arg2(b, 4 * KIB, 100), 4 * KIB, 4 * KIB);
}

static void register_batches(void)
{
	static const int64_t sizes[] = { 16, 256, 4 * KIB };
	struct bench        *lifo = bench_register("lifo_batch", bm_lifo_batch);
	struct bench        *fifo = bench_register("fifo_batch", bm_fifo_batch);

	for (size_t i = 0; i < ARRAY_LEN(sizes); i++) {
		bench_arg2(lifo, BATCH_COUNT, sizes[i]);
		bench_arg2(fifo, BATCH_COUNT, sizes[i]);
	}
}

static void register_others(void)
{
	struct bench *b = bench_register("realloc_grow", bm_realloc_grow);

	bench_arg1(bench_arg1(bench_arg1(b, 0), 4 * KIB), 64 * KIB);

	b = bench_register("prodcons", bm_prodcons);
	bench_real_time(bench_arg1(bench_arg1(b, 64), KIB));
}

int main(int argc, char **argv)
{
	register_pairs();
	register_batches();
	register_others();
	return bench_run_all(argc, argv);
}
