/* SPDX-License-Identifier: MIT */
/* Run by tests/cgroup.sh inside a memory-limited cgroup:
 *
 *     cgroup_child LIVE_MIB TOTAL_MIB THREADS
 *
 * THREADS threads together keep at most LIVE_MIB MiB of blocks live (a third
 * in small blocks of 16 B to 32 KiB, two thirds in large and huge blocks of
 * 32 KiB to a few MiB) and allocate and free TOTAL_MIB MiB over the run, with
 * malloc, calloc, realloc and aligned_alloc, and hand some small blocks to
 * other threads to free.  Every byte of every block is written with a
 * pattern and checked before the block is freed or after it is moved by
 * realloc; calloc'd blocks must read zero first.
 *
 * The live set is an exact bound (each pool frees random blocks before an
 * allocation would go over its budget), so when LIVE_MIB fits the cgroup's
 * limit, the process stays under it only if the allocator gives freed memory
 * back to the kernel as it goes.
 *
 * Exit: 0 all done and verified, 2 a block's contents were wrong (message
 * "cgroup_child: CORRUPTION ..." on stderr), 3 an allocation returned NULL,
 * 1 bad arguments or no thread. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#define MIB         ((size_t)1 << 20)
#define SMALL_MAX   32768 /* the small pool: 16 B to 32 KiB */
#define SMALL_SLOTS 16384
#define LARGE_SLOTS 1024
#define XCHG_SLOTS  64 /* blocks handed between threads */

struct block {
	unsigned char *p;
	size_t         size;
	uint64_t       key;
};

struct pool {
	struct block *b; /* b[0..n) are live */
	size_t        n, cap;
	size_t        live, budget; /* bytes */
	size_t        allocated;    /* bytes allocated over the run */
};

struct worker {
	pthread_t     tid;
	int           id;
	uint64_t      rng;
	size_t        target; /* bytes to allocate over the run */
	struct pool   small, large;
	unsigned long allocs, callocs, reallocs, aligned, exchanged;
};

static struct block    xchg[XCHG_SLOTS];
static pthread_mutex_t xchg_lock = PTHREAD_MUTEX_INITIALIZER;

static uint64_t next(uint64_t *s) /* xorshift64* */
{
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1DULL;
}

static size_t range(uint64_t *s, size_t lo, size_t hi) /* [lo, hi] */
{
	return lo + (size_t)(next(s) % (hi - lo + 1));
}

/* The pattern is the byte stream of the words w(key, 0), w(key, 1), ...
 * cut at the block's size, so the first bytes of a block keep their
 * pattern whatever its size: realloc must preserve min(old, new) of them. */
static inline uint64_t word(uint64_t key, size_t i)
{
	return key ^ ((uint64_t)i * 0x9E3779B97F4A7C15ULL);
}

static void fill(unsigned char *p, size_t n, uint64_t key)
{
	size_t words = n / 8, i;
	for (i = 0; i < words; i++) {
		uint64_t w = word(key, i);
		memcpy(p + 8 * i, &w, 8);
	}
	if (n % 8) {
		uint64_t w = word(key, words);
		memcpy(p + 8 * words, &w, n % 8);
	}
}

static void corrupt(const char *what, const unsigned char *p, size_t n, size_t at)
{
	fprintf(stderr,
	        "cgroup_child: CORRUPTION %s: block %p of %zu bytes "
	        "differs at offset %zu\n",
	        what, (const void *)p, n, at);
	fflush(stderr);
	exit(2);
}

static void check(const char *what, const unsigned char *p, size_t n, uint64_t key)
{
	size_t words = n / 8, i;
	for (i = 0; i < words; i++) {
		uint64_t w;
		memcpy(&w, p + 8 * i, 8);
		if (w != word(key, i))
			corrupt(what, p, n, 8 * i);
	}
	if (n % 8) {
		uint64_t w = word(key, words);
		if (memcmp(p + 8 * words, &w, n % 8) != 0)
			corrupt(what, p, n, 8 * words);
	}
}

static void check_zero(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != 0)
			corrupt("calloc not zeroed", p, n, i);
}

static void out_of_memory(const char *fn, size_t n)
{
	fprintf(stderr, "cgroup_child: %s(%zu) returned NULL\n", fn, n);
	fflush(stderr);
	exit(3);
}

static void drop(struct pool *pl, size_t i)
{
	struct block *b = &pl->b[i];
	check("before free", b->p, b->size, b->key);
	free(b->p);
	pl->live -= b->size;
	pl->b[i] = pl->b[--pl->n];
}

/* Free random blocks until `need` more bytes and one more slot fit. */
static void make_room(struct worker *w, struct pool *pl, size_t need)
{
	while (pl->n > 0 && (pl->live + need > pl->budget || pl->n == pl->cap))
		drop(pl, next(&w->rng) % pl->n);
}

static size_t small_size(uint64_t *s)
{
	unsigned r = next(s) % 10;
	if (r < 5)
		return range(s, 16, 256);
	if (r < 8)
		return range(s, 257, 4096);
	return range(s, 4097, SMALL_MAX);
}

static size_t large_size(uint64_t *s, size_t budget)
{
	unsigned r = next(s) % 100;
	size_t   huge_max = budget / 4 * 3; /* a block must fit the budget */
	if (r < 4 && huge_max > 4 * MIB + 65536)
		return range(s, 4 * MIB + 1, huge_max); /* mapped directly */
	if (r < 20)
		return range(s, 512 * 1024 + 1, 4 * MIB);
	return range(s, SMALL_MAX + 1, 512 * 1024);
}

/* A new block of n bytes at p: filled with its pattern and counted. */
static void pool_add(struct worker *w, struct pool *pl, unsigned char *p, size_t n, uint64_t key)
{
	fill(p, n, key);
	pl->b[pl->n++] = (struct block){ p, n, key };
	pl->live += n;
	pl->allocated += n;
	w->allocs++;
}

static void alloc_small(struct worker *w)
{
	struct pool   *pl = &w->small;
	size_t         n = small_size(&w->rng);
	uint64_t       key = next(&w->rng);
	unsigned char *p;

	make_room(w, pl, n);
	if (next(&w->rng) % 10 == 0) {
		p = calloc(1, n);
		if (!p)
			out_of_memory("calloc", n);
		check_zero(p, n);
		w->callocs++;
	} else {
		p = malloc(n);
		if (!p)
			out_of_memory("malloc", n);
	}
	pool_add(w, pl, p, n, key);
}

static void alloc_large(struct worker *w)
{
	struct pool   *pl = &w->large;
	size_t         n = large_size(&w->rng, pl->budget);
	uint64_t       key = next(&w->rng);
	unsigned char *p;

	make_room(w, pl, n);
	if (next(&w->rng) % 20 == 0) {
		size_t align = (size_t)4096 << (next(&w->rng) % 5); /* 4 to 64 KiB */
		n = (n + align - 1) / align * align;                /* C11: a multiple */
		make_room(w, pl, n);
		p = aligned_alloc(align, n);
		if (!p)
			out_of_memory("aligned_alloc", n);
		if ((uintptr_t)p % align) {
			fprintf(stderr,
			        "cgroup_child: aligned_alloc(%zu, %zu) "
			        "gave %p\n",
			        align, n, (void *)p);
			exit(2);
		}
		w->aligned++;
	} else {
		p = malloc(n);
		if (!p)
			out_of_memory("malloc", n);
	}
	pool_add(w, pl, p, n, key);
}

/* Grow or shrink a random block of the pool in place or by a move; the
 * bytes both sizes share must come through. */
static void resize(struct worker *w, struct pool *pl, int small)
{
	if (pl->n == 0)
		return;
	size_t       i = next(&w->rng) % pl->n;
	size_t       n = small ? small_size(&w->rng) : large_size(&w->rng, pl->budget);
	struct block b = pl->b[i];

	/* take it out of the pool so that make_room cannot free it */
	pl->b[i] = pl->b[--pl->n];
	pl->live -= b.size;
	make_room(w, pl, n);

	unsigned char *p = realloc(b.p, n);
	if (!p)
		out_of_memory("realloc", n);
	check("after realloc", p, n < b.size ? n : b.size, b.key);
	fill(p, n, b.key);
	pl->b[pl->n++] = (struct block){ p, n, b.key };
	pl->live += n;
	if (n > b.size)
		pl->allocated += n - b.size;
	w->reallocs++;
}

/* Swap one of our small blocks with a block some thread left in the
 * exchange, which we will check and free later. */
static void exchange(struct worker *w)
{
	struct pool *pl = &w->small;
	if (pl->n == 0)
		return;
	size_t       i = next(&w->rng) % pl->n;
	size_t       j = next(&w->rng) % XCHG_SLOTS;
	struct block mine = pl->b[i], theirs;

	pthread_mutex_lock(&xchg_lock);
	theirs = xchg[j];
	xchg[j] = mine;
	pthread_mutex_unlock(&xchg_lock);

	pl->live -= mine.size;
	if (theirs.p) {
		check("handed over by another thread", theirs.p, theirs.size, theirs.key);
		pl->b[i] = theirs;
		pl->live += theirs.size;
		make_room(w, pl, 0);
	} else {
		pl->b[i] = pl->b[--pl->n];
	}
	w->exchanged++;
}

static void *run(void *arg)
{
	struct worker *w = arg;

	while (w->small.allocated + w->large.allocated < w->target) {
		/* as many bytes through each pool */
		int          small = w->small.allocated <= w->large.allocated;
		unsigned     r = next(&w->rng) % 100;
		struct pool *pl = small ? &w->small : &w->large;
		if (r < 8)
			resize(w, pl, small);
		else if (small && r < 10)
			exchange(w);
		else if (small)
			alloc_small(w);
		else
			alloc_large(w);
	}
	while (w->small.n)
		drop(&w->small, w->small.n - 1);
	while (w->large.n)
		drop(&w->large, w->large.n - 1);
	return NULL;
}

static int pool_init(struct pool *pl, size_t cap, size_t budget)
{
	pl->b = calloc(cap, sizeof *pl->b);
	pl->cap = cap;
	pl->budget = budget;
	return pl->b != NULL;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: cgroup_child LIVE_MIB TOTAL_MIB THREADS\n");
		return 1;
	}
	size_t live = strtoul(argv[1], NULL, 10) * MIB;
	size_t total = strtoul(argv[2], NULL, 10) * MIB;
	int    threads = atoi(argv[3]);
	if (threads < 1 || threads > 64 || live / (size_t)threads < MIB || total < live) {
		fprintf(stderr, "cgroup_child: bad arguments\n");
		return 1;
	}

	struct worker *ws = calloc((size_t)threads, sizeof *ws);
	if (!ws)
		out_of_memory("calloc", threads * sizeof *ws);
	for (int t = 0; t < threads; t++) {
		struct worker *w = &ws[t];
		size_t         share = live / (size_t)threads;
		w->id = t;
		w->rng = 0x9E3779B97F4A7C15ULL * (uint64_t)(t + 1) + 12345;
		w->target = total / (size_t)threads;
		/* the exchange holds up to XCHG_SLOTS * 32 KiB beyond the pools */
		if (!pool_init(&w->small, SMALL_SLOTS, share / 3)
		    || !pool_init(&w->large, LARGE_SLOTS, share - share / 3))
			out_of_memory("calloc", SMALL_SLOTS * sizeof(struct block));
	}
	for (int t = 0; t < threads; t++)
		if (pthread_create(&ws[t].tid, NULL, run, &ws[t]) != 0) {
			fprintf(stderr, "cgroup_child: pthread_create failed\n");
			return 1;
		}

	unsigned long allocs = 0, callocs = 0, reallocs = 0, aligned = 0, exchanged = 0;
	size_t        allocated = 0;
	for (int t = 0; t < threads; t++) {
		struct worker *w = &ws[t];
		pthread_join(w->tid, NULL);
		allocs += w->allocs;
		callocs += w->callocs;
		reallocs += w->reallocs;
		aligned += w->aligned;
		exchanged += w->exchanged;
		allocated += w->small.allocated + w->large.allocated;
		free(w->small.b);
		free(w->large.b);
	}
	for (int j = 0; j < XCHG_SLOTS; j++)
		if (xchg[j].p) {
			check("left in the exchange", xchg[j].p, xchg[j].size, xchg[j].key);
			free(xchg[j].p);
		}
	free(ws);

	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	printf("cgroup_child: ok: %d threads, live <= %zu MiB, %zu MiB "
	       "allocated in %lu blocks (%lu calloc, %lu aligned, %lu realloc, "
	       "%lu handed between threads), all verified; max RSS %ld MiB\n",
	       threads, live / MIB, allocated / MIB, allocs, callocs, aligned, reallocs, exchanged,
	       ru.ru_maxrss / 1024);
	return 0;
}
