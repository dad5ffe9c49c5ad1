/* SPDX-License-Identifier: MIT */
/*
 * fuzz_heap.c - libFuzzer harness: the input is a program of malloc, free,
 * realloc, memalign and calloc calls over many sizes, run by two threads
 * that also hand blocks to each other; every block is filled with its own
 * pattern and checked before it is resized or freed, and the heap's
 * invariants are checked at the end of every input (strata_check_heap).
 *
 * Built by `make fuzz` with clang -fsanitize=fuzzer,address and strata's
 * entry points prefixed (strata_fuzz_*), so AddressSanitizer's own malloc
 * stays out of the way.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CAT2(a, b) a##b
#define CAT(a, b)  CAT2(a, b)
#define S(name)    CAT(STRATA_PREFIX, name)
void                       *S(malloc)(size_t);
void                       *S(calloc)(size_t, size_t);
void                       *S(realloc)(void *, size_t);
void                       *S(memalign)(size_t, size_t);
void                        S(free)(void *);
void                       *S(_Znwm)(size_t);           /* C++ operator new */
void                        S(_ZdlPvm)(void *, size_t); /* C++ sized delete */
int                         strata_check_heap(void);
typedef struct strata_cache strata_cache_t;
typedef struct strata_pool  strata_pool_t;
typedef struct strata_heap  strata_heap_t;
strata_cache_t             *strata_cache_create(const char *, size_t, size_t, unsigned);
void                       *strata_cache_alloc(strata_cache_t *);
strata_pool_t              *strata_pool_create(const char *, size_t, size_t);
void                       *strata_pool_alloc(strata_pool_t *);
strata_heap_t              *strata_heap_create(const char *);
void                       *strata_heap_malloc(strata_heap_t *, size_t);
void                       *strata_heap_memalign(strata_heap_t *, size_t, size_t);
void                        strata_heap_destroy(strata_heap_t *);

/* Objects of a cache and a pool that both threads share, and blocks of
 * each thread's private heap: all freed with free() like the rest. */
#define CACHE_OBJECT 72
#define POOL_OBJECT  200
static strata_cache_t         *shared_cache;
static strata_pool_t          *shared_pool;
static __thread strata_heap_t *own_heap;

#define SLOTS 32

struct block {
	unsigned char *p;
	size_t         size;
	uint8_t        seed;
	bool           in_heap; /* of this thread's private heap: kept here */
	bool           sized;   /* from operator new: freed by a sized delete */
};

struct program {
	const uint8_t *ops;
	size_t         len;
};

static _Atomic(struct block *) exchange;

/* Blocks up to 16 KiB are filled whole; bigger ones at their ends and on
 * every page, which is where a misplaced block would overlap a neighbour,
 * at a cost that keeps the fuzzer fast. */
#define DENSE 16384
#define EDGE  512

static bool covered(size_t i, size_t n)
{
	return n <= DENSE || i < EDGE || i >= n - EDGE || (i & 4095) < 16;
}

static size_t next_index(size_t i, size_t n)
{
	if (n <= DENSE || i < EDGE - 1 || i >= n - EDGE)
		return i + 1;
	size_t page_next = (i & 4095) < 15 ? i + 1 : (i | 4095) + 1;
	return page_next < n - EDGE ? page_next : n - EDGE;
}

static void fill(struct block *b)
{
	for (size_t i = 0; i < b->size; i = next_index(i, b->size))
		if (covered(i, b->size))
			b->p[i] = (uint8_t)(b->seed + i * 7);
}

static void verify(const struct block *b, size_t n)
{
	for (size_t i = 0; i < n; i = next_index(i, b->size))
		if (covered(i, b->size) && b->p[i] != (uint8_t)(b->seed + i * 7)) {
			fprintf(stderr, "fuzz_heap: block %p byte %zu of %zu corrupted\n",
			        (void *)b->p, i, b->size);
			abort();
		}
}

/* Sizes over every kind: tiny, small classes, large runs, huge blocks. */
static size_t pick_size(uint8_t a, uint8_t b)
{
	size_t v = (size_t)a << 8 | b;
	switch (a >> 6) {
	case 0: return v & 255;           /* 0..255 */
	case 1: return v & 0x7fff;        /* up to 32 KiB */
	case 2: return (v & 0x3fff) * 16; /* up to 256 KiB */
	default:                          /* now and then a huge one */
		return (a & 0x3f) == 0x3f ? (size_t)(b & 0x9f) << 15 : (v & 0x3fff) * 64;
	}
}

static void release(struct block *b)
{
	if (b->p == NULL)
		return;
	verify(b, b->size);
	if (b->sized)
		S(_ZdlPvm)(b->p, b->size); /* as C++'s delete does: the size asked for */
	else
		S(free)(b->p);
	b->p = NULL;
}

static void step(struct block *slots, const uint8_t *op)
{
	struct block *b = &slots[op[1] % SLOTS];
	size_t        size = pick_size(op[2], op[3]);
	switch (op[0] % 10) {
	case 0: /* malloc, or operator new (the debug mode checks the kind) */
		release(b);
		b->p = op[1] & 1 ? S(_Znwm)(size) : S(malloc)(size);
		break;
	case 7:
		release(b);
		b->p = strata_cache_alloc(shared_cache);
		size = size < CACHE_OBJECT ? size : CACHE_OBJECT;
		break;
	case 8:
		release(b);
		b->p = strata_pool_alloc(shared_pool);
		size = size < POOL_OBJECT ? size : POOL_OBJECT;
		break;
	case 9:
		release(b);
		b->p = op[3] & 1 ? strata_heap_malloc(own_heap, size)
		                 : strata_heap_memalign(own_heap, (size_t)1 << (op[3] % 22), size);
		break;
	case 1: release(b); return;
	case 2:
		if (b->p && b->sized)
			return; /* new's blocks are not realloc's */
		if (b->p) {
			unsigned char *q = S(realloc)(b->p, size);
			if (q == NULL && size)
				return;
			b->p = q;
			verify(b, size < b->size ? size : b->size);
		} else {
			b->p = S(realloc)(NULL, size);
			b->sized = false; /* a malloc's block */
		}
		break;
	case 3:
		release(b);
		b->p = S(memalign)((size_t)1 << (op[3] % 22), size);
		break;
	case 4:
		release(b);
		b->p = S(calloc)(1, size);
		for (size_t i = 0; b->p && i < size; i = next_index(i, size))
			if (covered(i, size) && b->p[i] != 0)
				abort();
		break;
	case 5: { /* hand a block to the other thread */
		struct block *mine = NULL;
		if (b->in_heap)
			return;
		if (b->p) {
			mine = S(malloc)(sizeof(*mine));
			*mine = *b;
			b->p = NULL;
		}
		struct block *theirs = atomic_exchange(&exchange, mine);
		if (theirs) {
			release(theirs);
			S(free)(theirs);
		}
		return;
	}
	default:
		if (op[2] == 0x5a && strata_check_heap() != 0)
			abort();
		return;
	}
	b->size = b->p ? size : 0;
	b->seed = op[1];
	if (op[0] % 10 != 2)
		b->in_heap = op[0] % 10 == 9;
	if (op[0] % 10 != 2) /* realloc keeps a block's kind (new's never gets one) */
		b->sized = op[0] % 10 == 0 && (op[1] & 1);
	if (b->p)
		fill(b);
}

static void *run(void *arg)
{
	struct program *pr = arg;
	struct block    slots[SLOTS] = { 0 };
	own_heap = strata_heap_create("fuzz");
	for (size_t i = 0; i + 4 <= pr->len; i += 4)
		step(slots, pr->ops + i);
	for (int i = 0; i < SLOTS; i++)
		release(&slots[i]);
	strata_heap_destroy(own_heap);
	return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct program half[2] = { { data, size / 2 }, { data + size / 2, size - size / 2 } };
	if (shared_cache == NULL) {
		shared_cache = strata_cache_create("fuzz", CACHE_OBJECT, 0, 0);
		shared_pool = strata_pool_create("fuzz", POOL_OBJECT, 4);
	}
	pthread_t t;
	pthread_create(&t, NULL, run, &half[1]);
	run(&half[0]);
	pthread_join(t, NULL);
	struct block *left = atomic_exchange(&exchange, NULL);
	if (left) {
		release(left);
		S(free)(left);
	}
	if (strata_check_heap() != 0)
		abort();
	return 0;
}
