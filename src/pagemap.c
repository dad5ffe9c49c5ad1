/* SPDX-License-Identifier: MIT */
/*
 * pagemap.c - registration of mappings in the address -> owner table.
 *
 * A slot is written when a mapping is created (before any pointer into it is
 * handed out) and cleared when it is unmapped (after the last pointer into it
 * was freed), so readers need no lock: stores are release and loads relaxed
 * atomics, which on x86-64 are plain moves the compiler may not tear.
 */
#include "pagemap.h"

uintptr_t _strata_pagemap[PAGEMAP_SLOTS];

static void pagemap_fill(const void *start, size_t size, uintptr_t entry)
{
	uintptr_t first = (uintptr_t)start >> REGION_SHIFT;
	uintptr_t last = ((uintptr_t)start + size - 1) >> REGION_SHIFT;
	for (uintptr_t s = first; s <= last && s < PAGEMAP_SLOTS; s++)
		__atomic_store_n(&_strata_pagemap[s], entry, __ATOMIC_RELEASE);
}

/* owner starts with its segment kind (struct region or struct huge). */
void pagemap_set(const void *start, size_t size, void *owner)
{
	bool region = *(const uint32_t *)owner == SEG_REGION;
	pagemap_fill(start, size, region ? pagemap_region_entry(owner) : (uintptr_t)owner);
}

void pagemap_clear(const void *start, size_t size)
{
	pagemap_fill(start, size, 0);
}
