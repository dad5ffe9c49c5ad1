/*
 * pagemap.h - from an address to the mapping that owns it, in one load.
 *
 * A flat table with one slot per REGION_SIZE of the user address space.  A
 * slot holds the region (or huge block header) whose mapping covers it, or
 * NULL.  The table lives in .bss: untouched slots cost no memory, and the
 * lookup needs no pointer chase before the first load.
 */
#ifndef STRATA_PAGEMAP_H
#define STRATA_PAGEMAP_H

#include "internal.h"

#define PAGEMAP_SLOTS ((size_t)1 << (ADDRESS_BITS - REGION_SHIFT))

extern void *_strata_pagemap[PAGEMAP_SLOTS];

static inline void *pagemap_lookup(const void *p)
{
	uintptr_t slot = (uintptr_t)p >> REGION_SHIFT;
	if (unlikely(slot >= PAGEMAP_SLOTS))
		return NULL;
	return __atomic_load_n(&_strata_pagemap[slot], __ATOMIC_RELAXED);
}

void pagemap_set(const void *start, size_t size, void *owner);
void pagemap_clear(const void *start, size_t size);

#endif
