/* SPDX-License-Identifier: MIT */
/*
 * heapmap.h - every arena's regions as runs of pages by state (slab,
 * large, free, dirty, decommitted), for the control socket's heapmap
 * command and the samples of the trace file.
 */
#ifndef STRATA_HEAPMAP_H
#define STRATA_HEAPMAP_H

#include "internal.h"

/* The map as one JSON object on fd (no newline); 0, or -1 with errno.
 * max_regions: at most this many regions in all (0: every one).  cells:
 * 0 writes each region's pages as runs of one state; otherwise each
 * region is a string of cells letters, one per REGION_PAGES / cells pages
 * (a power of two up to REGION_PAGES): the state that holds most of them,
 * so that the size is bounded whatever the heap's shape. */
int heapmap_write(int fd, size_t max_regions, unsigned cells);

#endif
