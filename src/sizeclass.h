/* SPDX-License-Identifier: MIT */
/*
 * sizeclass.h - the size classes and the size -> class map.
 *
 * Classes step by 16 bytes up to 128, then four per doubling (each doubling
 * split in quarters), so above 128 bytes rounding wastes under 25% of the
 * class (about 10% on average over uniformly spread sizes).  Every class is
 * a multiple of 16, which gives every small block glibc's 16-byte
 * alignment.
 */
#ifndef STRATA_SIZECLASS_H
#define STRATA_SIZECLASS_H

#include "internal.h"

#define CLASS_LINEAR_MAX   128 /* classes 16, 32, ... 128 */
#define CLASS_LINEAR_COUNT (CLASS_LINEAR_MAX / MIN_ALIGN)
#define CLASS_STEPS_LOG2   2 /* four classes per doubling */
#define CLASS_LINEAR_SHIFT 7 /* log2(CLASS_LINEAR_MAX) */
#define SMALL_MAX_SHIFT    15
#define SMALL_MAX          ((size_t)1 << SMALL_MAX_SHIFT) /* 32 KiB */
#define NUM_CLASSES \
	(CLASS_LINEAR_COUNT + ((SMALL_MAX_SHIFT - CLASS_LINEAR_SHIFT) << CLASS_STEPS_LOG2))

/* Size of class c, computed (the table in slab.c is built from this). */
static inline size_t class_size_of(unsigned c)
{
	if (c < CLASS_LINEAR_COUNT)
		return (size_t)(c + 1) * MIN_ALIGN;
	unsigned g = (c - CLASS_LINEAR_COUNT) >> CLASS_STEPS_LOG2;
	unsigned q = (c - CLASS_LINEAR_COUNT) & ((1u << CLASS_STEPS_LOG2) - 1);
	unsigned shift = CLASS_LINEAR_SHIFT + g;
	return ((size_t)1 << shift) + ((size_t)(q + 1) << (shift - CLASS_STEPS_LOG2));
}

/* Smallest class that holds n bytes; n <= SMALL_MAX.  A handful of
 * arithmetic instructions, no table. */
static inline unsigned size_to_class(size_t n)
{
	if (n <= CLASS_LINEAR_MAX)
		return n ? (unsigned)((n - 1) >> 4) : 0;
	unsigned shift = 63u - (unsigned)__builtin_clzl(n - 1); /* n-1 in [2^shift, 2^(shift+1)) */
	unsigned q = (unsigned)(((n - 1) >> (shift - CLASS_STEPS_LOG2))
	                        & ((1u << CLASS_STEPS_LOG2) - 1));
	return CLASS_LINEAR_COUNT + ((shift - CLASS_LINEAR_SHIFT) << CLASS_STEPS_LOG2) + q;
}

/* Sizes up to 1 KiB, the bulk of most programs' requests, map through a
 * table indexed by the size itself: one load (2 KiB of table, where one
 * by 16-byte steps would take 130 bytes and an add and a shift on every
 * malloc).  The table holds the offset of the class's entry in a heap
 * (heap.h), which is the class times the entry's size: the fast path adds
 * it to the heap.  Size 0 maps to NUM_CLASSES, an entry that is always
 * empty (heap.h). */
#define CLASS_TABLE_MAX    1024
#define CLASS_OFFSET_SHIFT 7
extern const uint16_t _strata_class_offset[CLASS_TABLE_MAX + 1] strata_hidden;

static inline size_t size_to_class_offset(size_t n)
{
	return _strata_class_offset[n];
}

static inline unsigned size_to_class_table(size_t n)
{
	return (unsigned)(size_to_class_offset(n) >> CLASS_OFFSET_SHIFT);
}

#endif
