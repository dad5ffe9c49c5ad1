/*
 * pagemap.h - from an address to the mapping that owns it, in one load.
 *
 * A flat table with one slot per REGION_SIZE of the user address space.  A
 * slot holds the region (or huge block header) whose mapping covers it, or
 * 0.  A region's entry has bit 0 set, so free tells a region from a huge
 * block or an empty slot with one test, without touching the owner's header.  The table lives in .bss: untouched
 * slots cost no memory, and the lookup needs no pointer chase before the
 * first load.
 */
#ifndef STRATA_PAGEMAP_H
#define STRATA_PAGEMAP_H

#include "internal.h"

#define PAGEMAP_SLOTS ((size_t)1 << (ADDRESS_BITS - REGION_SHIFT))

#define PAGEMAP_REGION  ((uintptr_t)1)

extern uintptr_t _strata_pagemap[PAGEMAP_SLOTS] strata_hidden;

/* The raw entry: 0, a region | PAGEMAP_REGION, or a huge header. */
static inline uintptr_t pagemap_entry(const void *p)
{
	uintptr_t slot = (uintptr_t)p >> REGION_SHIFT;
	if (unlikely(slot >= PAGEMAP_SLOTS))
		return 0;
	return __atomic_load_n(&_strata_pagemap[slot], __ATOMIC_RELAXED);
}

/* The owner itself (struct region or struct huge), or NULL. */
static inline void *pagemap_lookup(const void *p)
{
	return (void *)(pagemap_entry(p) & ~PAGEMAP_REGION);
}

static inline bool pagemap_is_region(uintptr_t e)
{
	return e & PAGEMAP_REGION;
}

static inline struct region *pagemap_region(uintptr_t e)
{
	return (struct region *)(e - PAGEMAP_REGION);
}

void pagemap_set(const void *start, size_t size, void *owner);
void pagemap_clear(const void *start, size_t size);

#endif
