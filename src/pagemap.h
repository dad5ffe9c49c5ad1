/* SPDX-License-Identifier: MIT */
/*
 * pagemap.h - from an address to the mapping that owns it, in one load.
 *
 * A flat table with one slot per REGION_SIZE of the user address space.  A
 * slot holds the region (or huge block header) whose mapping covers it, or
 * 0.  A region's entry has bit 0 set, so free tells a region from a huge
 * block or an empty slot with one test, without touching the owner's
 * header; and it is not the region's address but the base its descriptor
 * array would have if page numbers counted from address 0, so the
 * descriptor of p is entry + (p >> PAGE_SHIFT): no subtraction.  The table lives in .bss: untouched
 * slots cost no memory, and the lookup needs no pointer chase before the
 * first load.
 */
#ifndef STRATA_PAGEMAP_H
#define STRATA_PAGEMAP_H

#include "internal.h"

#define PAGEMAP_SLOTS ((size_t)1 << (ADDRESS_BITS - REGION_SHIFT))

#define PAGEMAP_REGION ((uintptr_t)1)

extern uintptr_t _strata_pagemap[PAGEMAP_SLOTS] strata_hidden;

/* The raw entry: 0, a region | PAGEMAP_REGION, or a huge header. */
static inline uintptr_t pagemap_entry(const void *p)
{
	uintptr_t slot = (uintptr_t)p >> REGION_SHIFT;
	if (unlikely(slot >= PAGEMAP_SLOTS))
		return 0;
	return __atomic_load_n(&_strata_pagemap[slot], __ATOMIC_RELAXED);
}

static inline bool pagemap_is_region(uintptr_t e)
{
	return e & PAGEMAP_REGION;
}

/* The entry of region r. */
static inline uintptr_t pagemap_region_entry(const struct region *r)
{
	return ((uintptr_t)r->pages - ((uintptr_t)r >> PAGE_SHIFT) * sizeof(struct page))
	       | PAGEMAP_REGION;
}

/* The descriptor of p, which lies in the region whose entry is e. */
static inline struct page *pagemap_page(uintptr_t e, const void *p)
{
	return (struct page *)(e - PAGEMAP_REGION
	                       + ((uintptr_t)p >> PAGE_SHIFT) * sizeof(struct page));
}

/* The owner itself (struct region or struct huge), or NULL. */
static inline void *pagemap_lookup(const void *p)
{
	uintptr_t e = pagemap_entry(p);
	return pagemap_is_region(e) ? (void *)region_of(p) : (void *)e;
}

void pagemap_set(const void *start, size_t size, void *owner);
void pagemap_clear(const void *start, size_t size);

#endif
