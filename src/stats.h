/* SPDX-License-Identifier: MIT */
/*
 * stats.h - a snapshot of the heap's counters, and the report writer.
 */
#ifndef STRATA_STATS_H
#define STRATA_STATS_H

#include "internal.h"
#include "numa.h"
#include "sizeclass.h"
#include "strata.h"
#include "heap.h"

/* Raw counters, summed over arenas, huge blocks and heaps. */
struct heap_snapshot {
	size_t             regions;
	size_t             mapped;   /* regions only */
	size_t             resident; /* regions and huge blocks */
	size_t             free_pages;
	size_t             dirty_pages;
	size_t             large_pages;
	size_t             slab_pages;
	size_t             cache_pages;
	size_t             free_blocks[BUDDY_ORDERS];
	size_t             slabs[NUM_CLASSES];
	size_t             huge_count;
	size_t             huge_mapped;
	size_t             huge_usable;
	size_t             huge_cached; /* freed huge blocks kept for reuse */
	struct heap_totals calls;
	int                leak_mode;
	size_t             leak_requested; /* requested bytes of the live records
	                                   (scaled up when sampled) */
	size_t             hugetlb_mapped;
	size_t             hugetlb_resident;
	size_t             thp_mapped;
	size_t             reserved;
};

void stats_snapshot(struct heap_snapshot *s);
void stats_fill(const struct heap_snapshot *s, struct strata_stats *st);
void stats_class_fill(const struct heap_snapshot *s, unsigned c, struct strata_class_stats *cs);
void stats_arena_fill(unsigned arena, struct strata_arena_stats *as);
void stats_nodes_fill(struct strata_node_stats ns[NUMA_MAX_NODES]);

#endif
