/* SPDX-License-Identifier: MIT */
/*
 * zone.h - private heaps (zone.c): what the malloc family needs of them.
 */
#ifndef STRATA_ZONE_H
#define STRATA_ZONE_H

#include "cache.h"
#include "large.h"

/* A cache object's private heap, NULL for typed caches and pools. */
static inline struct zone *zone_of_cache(const struct cache *c)
{
	return c->kind == CACHE_ZONE ? c->zone : NULL;
}

/* Slabs of a reset zone, in the debug mode: kept without access. */
static inline bool cache_is_buried(const struct cache *c)
{
	return c->kind == CACHE_ZONE && c->dead;
}

void  *zone_alloc(struct zone *z, size_t size, size_t align, bool zero);
void  *zone_realloc(struct zone *z, void *p, size_t usable, size_t size);
void   zone_huge_forget(struct huge *hb);
void   zone_figures(struct zone *z, struct strata_cache_stats *st);
size_t zone_leak_sites(struct zone *z, struct strata_leak_site *sites, size_t max, size_t *bytes,
                       size_t *objects);
void   zone_for_each(void (*fn)(struct zone *z, void *arg), void *arg);
void   zone_lock_all(void);
void   zone_unlock_all(void);
void   zone_after_fork_child(void);

#endif
