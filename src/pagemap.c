/*
 * pagemap.c - registration of mappings in the address -> owner table.
 *
 * A slot is written when a mapping is created (before any pointer into it is
 * handed out) and cleared when it is unmapped (after the last pointer into it
 * was freed), so readers need no lock: stores are release and loads relaxed
 * atomics, which on x86-64 are plain moves the compiler may not tear.
 */
#include "pagemap.h"

void *_strata_pagemap[PAGEMAP_SLOTS];

static void pagemap_fill(const void *start, size_t size, void *owner)
{
	uintptr_t first = (uintptr_t)start >> REGION_SHIFT;
	uintptr_t last = ((uintptr_t)start + size - 1) >> REGION_SHIFT;
	for (uintptr_t s = first; s <= last && s < PAGEMAP_SLOTS; s++)
		__atomic_store_n(&_strata_pagemap[s], owner, __ATOMIC_RELEASE);
}

void pagemap_set(const void *start, size_t size, void *owner)
{
	pagemap_fill(start, size, owner);
}

void pagemap_clear(const void *start, size_t size)
{
	pagemap_fill(start, size, NULL);
}
