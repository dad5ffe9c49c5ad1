/* SPDX-License-Identifier: MIT */
/*
 * stats.c - the figures of include/strata.h, gathered on demand.
 *
 * Nothing is counted twice and nothing shared is touched on the fast path:
 * each arena keeps its own counters (read under its lock, one arena at a
 * time, so each is consistent with itself), each heap its call counts
 * (summed through the registry, heap.c), huge blocks their list
 * (large.c), and the leak table the requested sizes (leak.c).  Resident
 * memory is asked of the kernel with mincore() over strata's own mappings.
 * glibc's mallinfo2 and mallinfo report the same numbers (malloc_stats and
 * malloc_info print them: report.c); malloc_trim and mallopt live here too.
 */
#include "internal.h"
#include "arena.h"
#include "large.h"
#include "numa.h"
#include "sample.h"
#include "os.h"
#include "slab.h"
#include "report.h"
#include "stats.h"
#include "strata.h"
#include "heap.h"

#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>

/* The first version's struct sizes: a caller's struct_size below them is
 * refused, anything above is filled up to what strata knows. */
#define MIN_STATS_SIZE offsetof(struct strata_stats, resident_ratio)

/* ------------------------------------------------------------------------
 * Collection
 * ---------------------------------------------------------------------- */
/* A region or huge block: what of it is resident, and on which pages. */
static void mapping_collect(struct heap_snapshot *s, const void *p, size_t size, uint8_t backing)
{
	size_t resident = os_resident(p, size);
	s->resident += resident;
	if (backing == BACKING_HUGETLB || backing == BACKING_HUGETLB_1G) {
		s->hugetlb_mapped += size;
		s->hugetlb_resident += resident;
	} else if (backing == BACKING_THP) {
		s->thp_mapped += size;
	}
}

/* A hugetlb region whose pool ran dry has chunks on ordinary pages
 * (buddy.c): those count as ordinary memory. */
static void region_collect(struct heap_snapshot *s, struct region *r)
{
	if (r->backing != BACKING_HUGETLB || r->chunks_plain == 0) {
		mapping_collect(s, r, REGION_SIZE, r->backing);
		return;
	}
	for (unsigned c = 0; c < REGION_SIZE / HUGE_PAGE_SIZE; c++)
		mapping_collect(s, (char *)r + ((size_t)c << HUGE_PAGE_SHIFT), HUGE_PAGE_SIZE,
		                r->chunks_plain & (1u << c) ? BACKING_PAGES : BACKING_HUGETLB);
}

static void arena_collect(struct arena *a, struct heap_snapshot *s)
{
	lock_acquire(&a->lock);
	s->regions += a->nr_regions;
	s->mapped += a->stats.mapped;
	s->free_pages += a->free_pages;
	s->dirty_pages += a->dirty_pages;
	s->large_pages += a->stats.large_pages;
	s->slab_pages += a->stats.slab_pages;
	s->cache_pages += a->stats.cache_pages;
	for (unsigned k = 0; k < BUDDY_ORDERS; k++)
		s->free_blocks[k] += a->free_area[k].nr_free;
	for (unsigned c = 0; c < NUM_CLASSES; c++)
		s->slabs[c] += a->bins[c].slabs;
	for (struct region *r = a->regions; r; r = r->next) {
		region_collect(s, r);
		if (r->reserved)
			s->reserved += REGION_SIZE;
	}
	lock_release(&a->lock);
}

static void huge_cached_collect(struct huge *h, void *arg)
{
	struct heap_snapshot *s = arg;
	s->huge_cached += h->map_size;
	mapping_collect(s, h, h->map_size, h->backing);
}

static void huge_collect(struct huge *h, void *arg)
{
	struct heap_snapshot *s = arg;
	s->huge_count++;
	s->huge_mapped += h->map_size;
	s->huge_usable += huge_usable(h);
	mapping_collect(s, h, h->map_size, h->backing);
}

void stats_snapshot(struct heap_snapshot *s)
{
	memset(s, 0, sizeof(*s));
	strata_ensure_init();
	for (unsigned i = 0; i < _strata_narenas; i++)
		arena_collect(&_strata_arenas[i], s);
	huge_for_each(huge_collect, s);
	huge_for_each_cached(huge_cached_collect, s);
	heap_totals(&s->calls);
	s->leak_mode = leak_mode();
	if (s->leak_mode != LEAK_OFF) {
		size_t objects;
		leak_sites(NULL, 0, 0, &s->leak_requested, &objects);
	}
}

/* ------------------------------------------------------------------------
 * Derived figures
 * ---------------------------------------------------------------------- */
/* Objects handed to the program and not freed; counted by different
 * threads, so a snapshot taken while they run may be off by a few. */
static size_t class_live(const struct heap_snapshot *s, unsigned c)
{
	uint64_t m = s->calls.nmalloc[c], f = s->calls.nfree[c];
	return m > f ? (size_t)(m - f) : 0;
}

/* Free slots of the class's slabs, on their lists, the heaps' free lists
 * or never carved. */
static size_t class_slack(const struct heap_snapshot *s, unsigned c)
{
	size_t slots = s->slabs[c] * _strata_classes[c].capacity, live = class_live(s, c);
	return slots > live ? slots - live : 0;
}

/* The kernel's unusable free space index for order k: the share of free
 * pages that lie in blocks too small to serve an order-k request. */
static double unusable_index(const size_t free_blocks[BUDDY_ORDERS], size_t free_pages, unsigned k)
{
	if (free_pages == 0)
		return 1.0; /* as the kernel: nothing free, nothing usable */
	size_t usable = 0;
	for (unsigned j = k; j < BUDDY_ORDERS; j++)
		usable += free_blocks[j] << j;
	return (double)(free_pages - usable) / (double)free_pages;
}

void stats_fill(const struct heap_snapshot *s, struct strata_stats *st)
{
	size_t allocated = (s->large_pages << PAGE_SHIFT) + s->huge_usable
	                   - (size_t)s->calls.large_cached_bytes;
	size_t   cached = (size_t)s->calls.large_cached_bytes + s->huge_cached, slack = 0;
	uint64_t nmalloc = s->calls.large_mallocs, nfree = s->calls.large_frees;
	for (unsigned c = 0; c < NUM_CLASSES; c++) {
		allocated += class_live(s, c) * class_size(c);
		cached += (size_t)s->calls.cached[c] * class_size(c);
		slack += class_slack(s, c) * class_size(c);
		nmalloc += s->calls.nmalloc[c];
		nfree += s->calls.nfree[c];
	}
	memset((char *)st + sizeof(st->struct_size), 0, sizeof(*st) - sizeof(st->struct_size));
	st->api_version = STRATA_API_VERSION;
	st->narenas = _strata_narenas;
	st->nclasses = NUM_CLASSES;
	st->nnodes = nodes_active() ? _strata_numa.nnodes : 1;
	st->requested_exact = s->leak_mode == LEAK_FULL;
	st->requested = s->leak_mode == LEAK_OFF ? 0 : s->leak_requested;
	st->allocated = allocated;
	st->cached = cached;
	st->active = ((s->slab_pages + s->large_pages + s->cache_pages) << PAGE_SHIFT)
	             + s->huge_mapped;
	st->resident = s->resident;
	st->mapped = s->mapped + s->huge_mapped + s->huge_cached;
	st->metadata = s->regions * ((size_t)REGION_META_PAGES << PAGE_SHIFT)
	               + s->huge_count * PAGE_SIZE;
	st->nmalloc = nmalloc;
	st->nfree = nfree;
	st->internal = st->requested && allocated > st->requested ? allocated - st->requested : 0;
	st->hugetlb_mapped = s->hugetlb_mapped;
	st->hugetlb_resident = s->hugetlb_resident;
	st->thp_mapped = s->thp_mapped;
	st->hugetlb_fallbacks = __atomic_load_n(&_strata_hugetlb_fallbacks, __ATOMIC_RELAXED);
	st->reserved = s->reserved;
	st->slab_slack = slack;
	st->free_bytes = s->free_pages << PAGE_SHIFT;
	st->dirty_bytes = s->dirty_pages << PAGE_SHIFT;
	for (unsigned k = 0; k < BUDDY_ORDERS && k < STRATA_ORDERS; k++) {
		st->free_blocks[k] = s->free_blocks[k];
		st->unusable_index[k] = unusable_index(s->free_blocks, s->free_pages, k);
	}
	size_t base = st->requested ? st->requested : allocated;
	st->resident_ratio = base ? (double)st->resident / (double)base : 0.0;
	st->leak_mode = s->leak_mode;
}

void stats_class_fill(const struct heap_snapshot *s, unsigned c, struct strata_class_stats *cs)
{
	memset((char *)cs + sizeof(cs->struct_size), 0, sizeof(*cs) - sizeof(cs->struct_size));
	size_t size = class_size(c);
	cs->size = size;
	cs->objects_live = class_live(s, c);
	cs->objects_cached = (size_t)s->calls.cached[c];
	cs->slabs = s->slabs[c];
	cs->slab_bytes = s->slabs[c] * (PAGE_SIZE << _strata_classes[c].order);
	cs->slack_bytes = class_slack(s, c) * size;
	cs->nmalloc = s->calls.nmalloc[c];
	cs->nfree = s->calls.nfree[c];
}

void stats_arena_fill(unsigned i, struct strata_arena_stats *as)
{
	struct arena *a = &_strata_arenas[i];
	memset((char *)as + sizeof(as->struct_size), 0, sizeof(*as) - sizeof(as->struct_size));
	lock_acquire(&a->lock);
	as->index = i;
	as->node = a->node;
	as->regions = a->nr_regions;
	as->mapped = a->stats.mapped;
	as->active = arena_active_pages(a) << PAGE_SHIFT;
	as->free_bytes = a->free_pages << PAGE_SHIFT;
	as->dirty_bytes = a->dirty_pages << PAGE_SHIFT;
	for (unsigned k = 0; k < BUDDY_ORDERS && k < STRATA_ORDERS; k++)
		as->free_blocks[k] = a->free_area[k].nr_free;
	lock_release(&a->lock);
}

/* ------------------------------------------------------------------------
 * strata's calls (include/strata.h)
 * ---------------------------------------------------------------------- */

/* Is a caller's struct of `size` bytes one strata can fill? */
static bool struct_ok(const void *st, size_t size, size_t min)
{
	if (st == NULL || size < min) {
		errno = EINVAL;
		return false;
	}
	return true;
}

/* Fill the caller's copy up to the smaller of the two sizes. */
static void struct_copy(void *dst, const void *src, size_t full)
{
	size_t size = *(const size_t *)dst;
	memcpy((char *)dst + sizeof(size_t), (const char *)src + sizeof(size_t),
	       MIN(size, full) - sizeof(size_t));
}

strata_export int strata_stats_get(struct strata_stats *st)
{
	if (!struct_ok(st, st ? st->struct_size : 0, MIN_STATS_SIZE))
		return -1;
	struct heap_snapshot s;
	struct strata_stats  full = { .struct_size = sizeof(full) };
	stats_snapshot(&s);
	stats_fill(&s, &full);
	struct_copy(st, &full, sizeof(full));
	return 0;
}

strata_export int strata_class_stats_get(unsigned cls, struct strata_class_stats *cs)
{
	if (!struct_ok(cs, cs ? cs->struct_size : 0, sizeof(*cs)) || cls >= NUM_CLASSES) {
		errno = EINVAL;
		return -1;
	}
	struct heap_snapshot      s;
	struct strata_class_stats full = { .struct_size = sizeof(full) };
	stats_snapshot(&s);
	stats_class_fill(&s, cls, &full);
	struct_copy(cs, &full, sizeof(full));
	return 0;
}

strata_export int strata_arena_stats_get(unsigned arena, struct strata_arena_stats *as)
{
	strata_ensure_init();
	if (!struct_ok(as, as ? as->struct_size : 0, sizeof(*as)) || arena >= _strata_narenas) {
		errno = EINVAL;
		return -1;
	}
	struct strata_arena_stats full = { .struct_size = sizeof(full) };
	stats_arena_fill(arena, &full);
	struct_copy(as, &full, sizeof(full));
	return 0;
}

static void huge_resident_by_node(struct huge *h, void *arg)
{
	nodes_resident(h, h->map_size, arg);
}

/* Is node reported (online; node 0 only with placement off)? */
static bool node_reported(unsigned node)
{
	return nodes_active() ? nodes_valid((int)node) : node == 0;
}

/* Node figures, numastat's way, for every node in one walk: the arenas
 * bound to each node (mapped, active, frees) and where the kernel put
 * strata's pages (resident, one move_pages pass over the heap for all
 * nodes).  A node not reported gets node = -1.  With placement off, node 0
 * holds everything. */
void stats_nodes_fill(struct strata_node_stats ns[NUMA_MAX_NODES])
{
	strata_ensure_init();
	size_t              resident[NUMA_MAX_NODES] = { 0 };
	struct heap_totals *calls = os_map(sizeof(*calls)); /* too big for some stacks */
	for (unsigned n = 0; n < NUMA_MAX_NODES; n++) {
		memset(&ns[n], 0, sizeof(ns[n]));
		ns[n].struct_size = sizeof(ns[n]);
		ns[n].node = node_reported(n) ? (int)n : -1;
		ns[n].ncpus = nodes_active() ? _strata_numa.node_cpus[n] : os_cpu_count();
	}
	for (unsigned i = 0; i < _strata_narenas; i++) {
		struct arena             *a = &_strata_arenas[i];
		struct strata_node_stats *mine = &ns[a->node];
		lock_acquire(&a->lock);
		for (struct region *r = a->regions; r; r = r->next)
			nodes_resident(r, REGION_SIZE, resident);
		mine->narenas++;
		mine->mapped += a->stats.mapped;
		mine->active += arena_active_pages(a) << PAGE_SHIFT;
		lock_release(&a->lock);
	}
	huge_for_each(huge_resident_by_node, resident);
	if (calls)
		heap_totals(calls);
	for (unsigned n = 0; n < NUMA_MAX_NODES; n++) {
		ns[n].resident = resident[n];
		ns[n].frees_local = calls ? calls->frees_local[n] : 0;
		ns[n].frees_remote = calls ? calls->frees_remote[n] : 0;
	}
	if (calls)
		os_unmap(calls, sizeof(*calls));
}

strata_export int strata_node_stats_get(unsigned node, struct strata_node_stats *ns)
{
	strata_ensure_init(); /* whether placement is on */
	if (!struct_ok(ns, ns ? ns->struct_size : 0, offsetof(struct strata_node_stats, narenas))
	    || node >= NUMA_MAX_NODES || !node_reported(node)) {
		errno = EINVAL;
		return -1;
	}
	struct strata_node_stats all[NUMA_MAX_NODES];
	stats_nodes_fill(all);
	struct_copy(ns, &all[node], sizeof(all[node]));
	return 0;
}

strata_export const char *strata_version(void)
{
	return PACKAGE_VERSION;
}

strata_export void strata_thread_flush(void)
{
	struct heap *h = _strata_heap;
	if (h->state == HEAP_LIVE)
		heap_flush(h);
}

/* The calling thread's heap and the shared ones give back their empty
 * slabs; other threads' heaps keep theirs (at most HEAP_PARKED_MAX each). */
strata_export size_t strata_trim(void)
{
	strata_ensure_init();
	strata_thread_flush();
	size_t released = 0;
	for (unsigned i = 0; i < _strata_narenas; i++) {
		struct heap *s = heap_shared(i);
		lock_acquire(&s->lock);
		heap_flush(s);
		lock_release(&s->lock);
	}
	for (unsigned i = 0; i < _strata_narenas; i++)
		released += arena_trim(&_strata_arenas[i]);
	released += huge_cache_trim();
	return released;
}

/* ------------------------------------------------------------------------
 * glibc's calls
 * ---------------------------------------------------------------------- */
strata_export struct mallinfo2 API(mallinfo2)(void)
{
	struct heap_snapshot s;
	struct strata_stats  st = { .struct_size = sizeof(st) };
	struct mallinfo2     mi;
	stats_snapshot(&s);
	stats_fill(&s, &st);
	memset(&mi, 0, sizeof(mi));
	mi.arena = s.mapped;
	mi.ordblks = 0;
	for (unsigned k = 0; k < BUDDY_ORDERS; k++)
		mi.ordblks += s.free_blocks[k];
	mi.hblks = s.huge_count;
	mi.hblkhd = s.huge_mapped;
	mi.uordblks = st.allocated;
	/* slab slack holds the small objects on heaps' lists already */
	mi.fordblks = st.free_bytes + st.slab_slack + (size_t)s.calls.large_cached_bytes
	              + s.huge_cached;
	mi.keepcost = st.dirty_bytes;
	return mi;
}

static int clamp_int(size_t v)
{
	return v > INT_MAX ? INT_MAX : (int)v;
}

strata_export struct mallinfo API(mallinfo)(void)
{
	struct mallinfo2 m2 = API(mallinfo2)();
	struct mallinfo  mi;
	memset(&mi, 0, sizeof(mi));
	mi.arena = clamp_int(m2.arena);
	mi.ordblks = clamp_int(m2.ordblks);
	mi.hblks = clamp_int(m2.hblks);
	mi.hblkhd = clamp_int(m2.hblkhd);
	mi.uordblks = clamp_int(m2.uordblks);
	mi.fordblks = clamp_int(m2.fordblks);
	mi.keepcost = clamp_int(m2.keepcost);
	return mi;
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
