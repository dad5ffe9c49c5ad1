/* SPDX-License-Identifier: MIT */
/*
 * sizeclass.h - the size classes and the size -> class map.
 *
 * Classes step by 16 bytes up to 128, then four per doubling (each doubling
 * split in quarters), so rounding wastes under 25% of the class, except
 * from 1 to 16 KiB: eight per doubling there (under 12.5%).  The sizes
 * programs ask for most there are a power of two and a small header
 * (sqlite3's page cache: 4,104 and 1,032 bytes), which quarters round up by
 * nearly a quarter (5,120) and eighths by an eighth (4,608).  Above 16 KiB
 * eighths would leave more than an eighth of some slabs unused (slab.h).
 * Every class is a multiple of 16, which gives every small block glibc's
 * 16-byte alignment.
 */
#ifndef STRATA_SIZECLASS_H
#define STRATA_SIZECLASS_H

#include "internal.h"

#define CLASS_LINEAR_MAX   128 /* classes 16, 32, ... 128 */
#define CLASS_LINEAR_COUNT (CLASS_LINEAR_MAX / MIN_ALIGN)
#define CLASS_LINEAR_SHIFT 7 /* log2(CLASS_LINEAR_MAX) */
/* Above it, the doubling (2^shift, 2^(shift+1)] has 2^2 classes, or 2^3
 * when CLASS_FINE_SHIFT <= shift < CLASS_FINE_END. */
#define CLASS_STEPS      2
#define CLASS_FINE_SHIFT 10
#define CLASS_FINE_END   14
#define SMALL_MAX_SHIFT  15
#define SMALL_MAX        ((size_t)1 << SMALL_MAX_SHIFT) /* 32 KiB */
#define NUM_CLASSES      class_group_first(SMALL_MAX_SHIFT)

/* Classes per doubling above 128 bytes, as a power of two. */
static inline unsigned class_group_steps(unsigned shift)
{
	return CLASS_STEPS + (shift >= CLASS_FINE_SHIFT && shift < CLASS_FINE_END);
}

/* The first class of the doubling above 2^shift (a constant expression
 * for a constant shift: NUM_CLASSES). */
#define class_group_first(shift)                                            \
	(CLASS_LINEAR_COUNT + (((shift)-CLASS_LINEAR_SHIFT) << CLASS_STEPS) \
	 + (((shift) < CLASS_FINE_SHIFT ? 0                                 \
	     : (shift) > CLASS_FINE_END ? CLASS_FINE_END - CLASS_FINE_SHIFT \
	                                : (shift)-CLASS_FINE_SHIFT)         \
	    << CLASS_STEPS))

/* Size of class c, computed (the table in slab.c is built from this). */
static inline size_t class_size_of(unsigned c)
{
	if (c < CLASS_LINEAR_COUNT)
		return (size_t)(c + 1) * MIN_ALIGN;
	unsigned shift = CLASS_LINEAR_SHIFT;
	while (c >= class_group_first(shift + 1))
		shift++;
	unsigned steps = class_group_steps(shift);
	unsigned q = c - class_group_first(shift);
	return ((size_t)1 << shift) + ((size_t)(q + 1) << (shift - steps));
}

/* Smallest class that holds n bytes; n <= SMALL_MAX.  A handful of
 * arithmetic instructions, no table. */
static inline unsigned size_to_class(size_t n)
{
	if (n <= CLASS_LINEAR_MAX)
		return n ? (unsigned)((n - 1) >> 4) : 0;
	unsigned shift = 63u - (unsigned)__builtin_clzl(n - 1); /* n-1 in [2^shift, 2^(shift+1)) */
	unsigned steps = class_group_steps(shift);
	unsigned q = (unsigned)(((n - 1) >> (shift - steps)) & ((1u << steps) - 1));
	return (unsigned)class_group_first(shift) + q;
}

/* Sizes up to 2 KiB, the bulk of most programs' requests, map through a
 * table indexed by the size itself: one load (4 KiB of table, where one
 * by 16-byte steps would take 260 bytes and an add and a shift on every
 * malloc).  2 KiB and not 1: the test of the table's end is a branch on
 * every malloc, which sizes that straddle it at random mispredict every
 * other call.  The table holds the offset of the class's entry in a heap
 * (heap.h), which is the class times the entry's size: the fast path adds
 * it to the heap.  Size 0 maps to NUM_CLASSES, an entry that is always
 * empty (heap.h). */
#define CLASS_TABLE_MAX    2048
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

/* Above the table, up to SMALL_MAX, every class's size is a multiple of
 * 256 bytes (eighths of a doubling from 2 KiB to 16 KiB, quarters above):
 * a second table of the same offsets, indexed by (n - 1) / 256, serves
 * malloc's and operator new's sizes there (heap.c) with the same inline
 * pop as the first, where the class arithmetic (a bit scan, shifts, a
 * branch on the doubling) and a call to the generic pop took 30
 * instructions more (bench/bin/pair of 4 KiB: 90.6 -> 60.6 a malloc+free
 * pair; tcmalloc 79).  Its first CLASS_TABLE_MAX / 256 entries are
 * unused. */
#define CLASS_HI_SHIFT 8
extern const uint16_t _strata_class_offset_hi[(SMALL_MAX >> CLASS_HI_SHIFT)] strata_hidden;

static inline size_t size_to_class_offset_hi(size_t n)
{
	return _strata_class_offset_hi[(n - 1) >> CLASS_HI_SHIFT];
}

/* size_to_class for 1 <= n <= SMALL_MAX, from the tables. */
static inline unsigned size_to_class_small(size_t n)
{
	size_t off = n <= CLASS_TABLE_MAX ? size_to_class_offset(n) : size_to_class_offset_hi(n);
	return (unsigned)(off >> CLASS_OFFSET_SHIFT);
}

#endif
