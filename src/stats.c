/*
 * stats.c - heap totals and glibc's reporting calls: mallinfo2, mallinfo,
 * malloc_stats, malloc_info, plus malloc_trim and mallopt.
 *
 * Totals are read from the arenas under their locks, one at a time, so they
 * are consistent per arena; objects held in thread caches count as
 * allocated (the arena has handed them out).
 */
#include "internal.h"
#include "arena.h"
#include "large.h"
#include "slab.h"
#include "stats.h"
#include "strata.h"
#include "tcache.h"

#include <limits.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------------------
 * Totals
 * ---------------------------------------------------------------------- */
static void arena_totals(struct arena *a, struct heap_totals *t)
{
	lock_acquire(&a->lock);
	t->mapped += a->stats.mapped;
	t->regions += a->nr_regions;
	t->free_pages += a->free_pages;
	t->allocated += a->stats.large_pages << PAGE_SHIFT;
	for (unsigned k = 0; k < BUDDY_ORDERS; k++)
		t->free_blocks += a->free_area[k].nr_free;
	for (unsigned c = 0; c < NUM_CLASSES; c++) {
		struct slab_bin *bin = &a->bins[c];
		size_t slots = bin->slabs * _strata_classes[c].capacity;
		t->allocated += bin->objects_out * class_size(c);
		t->slab_slack += (slots - bin->objects_out) * class_size(c);
	}
	lock_release(&a->lock);
}

void stats_totals(struct heap_totals *t)
{
	memset(t, 0, sizeof(*t));
	strata_ensure_init();
	for (unsigned i = 0; i < _strata_narenas; i++)
		arena_totals(&_strata_arenas[i], t);
	t->huge_count = __atomic_load_n(&_strata_huge_stats.count, __ATOMIC_RELAXED);
	t->huge_mapped = __atomic_load_n(&_strata_huge_stats.mapped, __ATOMIC_RELAXED);
	t->mapped += t->huge_mapped;
	t->allocated += t->huge_mapped;
}

void stats_print(int fd)
{
	struct heap_totals t;
	stats_totals(&t);
	_strata_print(fd,
	    "strata %s: %u arenas, %zu regions, %zu huge blocks\n"
	    "strata: mapped     %12zu bytes\n"
	    "strata: allocated  %12zu bytes\n"
	    "strata: slab slack %12zu bytes\n"
	    "strata: free pages %12zu bytes in %zu blocks\n",
	    PACKAGE_VERSION, _strata_narenas, t.regions, t.huge_count,
	    t.mapped, t.allocated, t.slab_slack,
	    t.free_pages << PAGE_SHIFT, t.free_blocks);
}

/* ------------------------------------------------------------------------
 * glibc's calls
 * ---------------------------------------------------------------------- */
strata_export struct mallinfo2 API(mallinfo2)(void)
{
	struct heap_totals t;
	struct mallinfo2 mi;
	stats_totals(&t);
	memset(&mi, 0, sizeof(mi));
	mi.arena = t.mapped - t.huge_mapped;
	mi.ordblks = t.free_blocks;
	mi.hblks = t.huge_count;
	mi.hblkhd = t.huge_mapped;
	mi.uordblks = t.allocated;
	mi.fordblks = (t.free_pages << PAGE_SHIFT) + t.slab_slack;
	return mi;
}

static int clamp_int(size_t v)
{
	return v > INT_MAX ? INT_MAX : (int)v;
}

strata_export struct mallinfo API(mallinfo)(void)
{
	struct mallinfo2 m2 = API(mallinfo2)();
	struct mallinfo mi;
	memset(&mi, 0, sizeof(mi));
	mi.arena = clamp_int(m2.arena);
	mi.ordblks = clamp_int(m2.ordblks);
	mi.hblks = clamp_int(m2.hblks);
	mi.hblkhd = clamp_int(m2.hblkhd);
	mi.uordblks = clamp_int(m2.uordblks);
	mi.fordblks = clamp_int(m2.fordblks);
	return mi;
}

strata_export void API(malloc_stats)(void)
{
	stats_print(2);
}

strata_export int API(malloc_info)(int options, FILE *fp)
{
	struct heap_totals t;
	if (options != 0 || fp == NULL)
		return -1;
	stats_totals(&t);
	fprintf(fp, "<malloc version=\"strata-%s\">\n"
	            "<total type=\"mapped\" size=\"%zu\"/>\n"
	            "<total type=\"allocated\" size=\"%zu\"/>\n"
	            "<total type=\"slab_slack\" size=\"%zu\"/>\n"
	            "<total type=\"free_pages\" count=\"%zu\" size=\"%zu\"/>\n"
	            "<total type=\"mmap\" count=\"%zu\" size=\"%zu\"/>\n"
	            "</malloc>\n",
	        PACKAGE_VERSION, t.mapped, t.allocated, t.slab_slack,
	        t.free_blocks, t.free_pages << PAGE_SHIFT, t.huge_count, t.huge_mapped);
	return 0;
}

/* Flush the caller's cache and give back every arena's unused memory.
 * Returns 1 when memory was released, as glibc does. */
strata_export int API(malloc_trim)(size_t pad)
{
	(void)pad;
	return strata_trim() > 0;
}

/* glibc's tunables do not apply to strata's design; accepted and ignored
 * (glibc returns 1 for success). */
strata_export int API(mallopt)(int param, int value)
{
	(void)param;
	(void)value;
	return 1;
}

/* ------------------------------------------------------------------------
 * strata's own calls (include/strata.h)
 * ---------------------------------------------------------------------- */
strata_export const char *strata_version(void)
{
	return PACKAGE_VERSION;
}

strata_export void strata_thread_flush(void)
{
	struct tcache *tc = &_strata_tcache;
	if (tc->state == TCACHE_LIVE)
		tcache_flush_all(tc);
}

strata_export size_t strata_trim(void)
{
	strata_ensure_init();
	strata_thread_flush();
	size_t released = 0;
	for (unsigned i = 0; i < _strata_narenas; i++)
		released += arena_trim(&_strata_arenas[i]);
	return released;
}
