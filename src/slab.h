/*
 * slab.h - size-class caches: buddy blocks carved into objects of one class.
 */
#ifndef STRATA_SLAB_H
#define STRATA_SLAB_H

#include "arena.h"

/* Slabs are at most 128 KiB: big enough that every class above 8 KiB fits
 * four or more objects with at most 1/8 tail waste (24 KiB needs 128 KiB to
 * waste 8 KiB), small enough to be given back soon after it empties. */
#define SLAB_MAX_ORDER     5
/* A slab should hold at least this many objects, so a refill of a thread
 * cache touches few slabs ... */
#define SLAB_MIN_OBJECTS   8
/* ... and leave no more than 1/8 of itself unused at the tail. */
#define SLAB_WASTE_SHIFT   3

struct size_class {
	uint32_t size;
	uint32_t inverse;    /* of size's odd part, modulo 2^32 */
	uint8_t  shift;      /* size = odd part << shift */
	uint8_t  order;      /* slab order */
	uint32_t capacity;   /* objects per slab */
};

extern struct size_class _strata_classes[NUM_CLASSES] strata_hidden;

static inline size_t class_size(unsigned c)
{
	return _strata_classes[c].size;
}

/* Object index of byte offset off in a slab whose class has this inverse
 * and shift, when off is a multiple of the size; otherwise a number above
 * 2^32 / 7, far past any slab's capacity.  This is the exact-division test
 * by multiplication with the modular inverse (Hacker's Delight 10-16/17):
 * for size = d << s with d odd, off * d^-1 mod 2^32 rotated right by s is
 * off / size exactly when size divides off, and large when it does not.  So
 * one compare against the slab's bump checks both "starts an object" and
 * "was handed out". */
static inline uint32_t slab_index_by(size_t off, uint32_t inverse, unsigned s)
{
	uint32_t m = (uint32_t)off * inverse;
	return (m >> s) | (m << ((32 - s) & 31));
}

static inline uint32_t slab_index(size_t off, unsigned c)
{
	return slab_index_by(off, _strata_classes[c].inverse, _strata_classes[c].shift);
}

static inline struct page *slab_head(struct page *pg)
{
	return pg - (pg->slab_off >> PAGE_SHIFT);
}

/* Offset of p from the start of its slab, from p's own page descriptor. */
static inline size_t slab_offset(const struct page *pg, const void *p)
{
	return ((uintptr_t)p & (PAGE_SIZE - 1)) + pg->slab_off;
}

/* A page's bump (see slab.c) only grows while the slab lives and is read
 * without the arena lock on the free path: any value a thread sees is at
 * least the one that was current when the object it frees was handed out,
 * hence relaxed atomics. */
static inline uint32_t slab_bump(const struct page *pg)
{
	return __atomic_load_n(&pg->bump, __ATOMIC_RELAXED);
}

/* Is p the start of an object that this slab has handed out at some time?
 * Only p's own page descriptor is read. */
static inline bool slab_object_valid(const struct page *pg, const void *p)
{
	return slab_index_by(slab_offset(pg, p), pg->inverse, pg->shift) < slab_bump(pg);
}

static inline void *slab_object(struct page *head, uint32_t idx)
{
	return (char *)page_address(head) + (size_t)idx * class_size(head->cls);
}

void     slab_classes_init(void);
unsigned slab_alloc_batch(struct arena *a, unsigned cls, void **list, unsigned want);
void     slab_free_object(struct arena *a, void *p);
size_t   slab_trim(struct arena *a);
bool     slab_freelist_contains(struct page *head, const void *p);

#endif
