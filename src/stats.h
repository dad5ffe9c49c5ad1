/*
 * stats.h - totals gathered from the arenas, for glibc's reporting calls.
 */
#ifndef STRATA_STATS_H
#define STRATA_STATS_H

#include <stddef.h>

struct heap_totals {
	size_t mapped;        /* bytes of regions and huge mappings */
	size_t allocated;     /* bytes of objects and runs handed out (class-rounded) */
	size_t free_pages;    /* pages in free buddy blocks */
	size_t free_blocks;   /* free buddy blocks */
	size_t slab_slack;    /* bytes of free objects inside slabs */
	size_t huge_count;
	size_t huge_mapped;
	size_t regions;
};

void stats_totals(struct heap_totals *t);
void stats_print(int fd);

#endif
