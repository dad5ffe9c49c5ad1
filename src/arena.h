/* SPDX-License-Identifier: MIT */
/*
 * arena.h - an arena: one buddy heap, its slab bins, its lock, its counters.
 */
#ifndef STRATA_ARENA_H
#define STRATA_ARENA_H

#include "internal.h"
#include "sizeclass.h"
#include "numa.h"

#define MAX_ARENAS 64

/* A list of free buddy blocks of one order, linked through their head pages. */
/* The free blocks of one order: those that may hold resident pages first
 * (head), the clean ones apart, so that allocation reuses memory already
 * faulted in before it touches memory the kernel took back (buddy.c). */
struct free_area {
	struct page *head;
	struct page *clean;
	size_t       nr_free;
};

/* Every block of a free area, the dirty ones first. */
#define free_area_for_each(fa, pg)                                        \
	for (struct page *pg = (fa)->head ? (fa)->head : (fa)->clean; pg; \
	     pg = pg->next                 ? pg->next                     \
	          : (pg->flags & PG_DIRTY) ? (fa)->clean                  \
	                                   : NULL)

/* The slabs of one size class the arena holds no heap for: those whose
 * heap's thread exited, waiting to be adopted by a heap that needs one of
 * the class (heap.c), and the count of all its slabs of the class. */
struct slab_bin {
	struct page *abandoned;
	size_t       nr_abandoned;
	size_t       slabs; /* slabs of this class, whoever owns them */
};

struct arena_stats {
	size_t mapped;      /* bytes of regions */
	size_t large_pages; /* pages in large runs */
	size_t slab_pages;  /* pages in slabs of the size classes */
	size_t cache_pages; /* pages in slabs of object caches (cache.c) */
};

struct arena {
	strata_lock_t      lock;
	unsigned           index;
	int                node; /* NUMA node its regions are bound to */
	unsigned           nr_regions;
	struct region     *regions;
	size_t             free_pages;
	size_t             dirty_pages;     /* of free_pages, those that may be resident */
	size_t             peak_pages;      /* most pages in use in this window (arena.c) */
	size_t             peak_prev;       /* ... and in the window before */
	size_t             footprint_pages; /* in use and dirty at its last pass or
	                                       peak, for the others (arena.c) */
	uint64_t           window_ms;       /* when this window began */
	size_t             dirty_stuck;     /* dirty pages the last purge left above the cap */
	uint64_t           next_decay_ms;   /* when the next decay pass is due */
	uint32_t           decay_pass;      /* passes so far (buddy.c's freed_pass) */
	struct free_area   free_area[BUDDY_ORDERS];
	struct slab_bin    bins[NUM_CLASSES];
	struct arena_stats stats;
} __attribute__((aligned(64)));

extern struct arena _strata_arenas[MAX_ARENAS] strata_hidden;
extern unsigned     _strata_narenas strata_hidden;

static inline struct arena *arena_of(const void *p)
{
	return region_of(p)->arena;
}

/* At the top of every function that needs the arena's lock: the buddy,
 * slab creation and release, growth, decay.  A macro, so that a failure
 * names the function. */
#define arena_assert_locked(a) strata_assert(lock_held(&(a)->lock))

void          arena_init(struct arena *a, unsigned index);
void          arenas_setup(void);
unsigned      arenas_layout(const struct numa_topology *t, bool active, unsigned want,
                            unsigned first[NUMA_MAX_NODES], unsigned count[NUMA_MAX_NODES]);
void          arenas_reserve(size_t bytes);
struct arena *arena_pick(void);
struct arena *arena_pick_node(int node);
bool          arena_grow(struct arena *a);
size_t        arena_trim(struct arena *a);
void          arena_decay(struct arena *a, uint64_t now_ms);
void          arena_background_start(void);
void          arena_lock_all(void);

static inline size_t arena_active_pages(const struct arena *a)
{
	return a->stats.slab_pages + a->stats.large_pages + a->stats.cache_pages;
}

void arena_peak_rise(struct arena *a, size_t active);

/* The pages in use grew: the decay's peak follows (arena.c). */
static inline void arena_note_active(struct arena *a)
{
	size_t active = arena_active_pages(a);
	if (active > a->peak_pages)
		arena_peak_rise(a, active);
}

/* The dirty pages the arena may keep, now: as many as its pages in use have
 * fallen below their peak over the last two windows, or a floor (arena.c):
 * 4 MiB, or a share of the pages in use, the free memory a heap of runs
 * of random sizes needs to place the next ones without faulting in fresh
 * pages.  Half of them while the heap is far from the memory limit (none,
 * or under a quarter of it: DIRTY_FLOOR_SHIFT_ROOMY), an eighth near it
 * (bench/compare's buffers: at a sixteenth, 3.9 times the page faults and
 * 1.5 times the time for 2% less peak RSS; budget, see arena.c). */
#define DIRTY_FLOOR_MIN_PAGES   ((size_t)(4u << 20) >> PAGE_SHIFT)
#define DIRTY_FLOOR_SHIFT       3
#define DIRTY_FLOOR_SHIFT_ROOMY 1

/* Where the heap stands against the memory limit (arena.c sets it). */
enum limit_room {
	LIMIT_UNREAD, /* not read yet: the heap is small */
	LIMIT_FAR,    /* none, or the heap holds under a quarter of it */
	LIMIT_NEAR,   /* the heap holds a quarter of it or more */
};
extern int _strata_limit_room strata_hidden;

static inline int arena_limit_room(void)
{
	return __atomic_load_n(&_strata_limit_room, __ATOMIC_RELAXED);
}

/* The floor's share of the pages in use, as a shift: half far from the
 * limit, an eighth near it or before it is read. */
static inline unsigned arena_dirty_floor_shift(void)
{
	return arena_limit_room() == LIMIT_FAR ? DIRTY_FLOOR_SHIFT_ROOMY : DIRTY_FLOOR_SHIFT;
}

/* Is the heap near the memory limit?  The huge block cache keeps less
 * then (large.c). */
static inline bool arena_near_limit(void)
{
	return arena_limit_room() == LIMIT_NEAR;
}

static inline size_t arena_dirty_floor(const struct arena *a)
{
	return MAX(DIRTY_FLOOR_MIN_PAGES, arena_active_pages(a) >> arena_dirty_floor_shift());
}

static inline size_t arena_dirty_cap(const struct arena *a)
{
	size_t active = arena_active_pages(a);
	size_t peak = MAX(a->peak_pages, a->peak_prev);
	return MAX(peak - MIN(active, peak), arena_dirty_floor(a));
}

/* What the dirty pages may pass the cap by between two passes (arena.c):
 * as many as the pages in use while the heap is far from the memory limit,
 * the floor near it.  What the last purge left above the cap comes on top
 * (dirty_stuck), so they may reach the cap and about twice this. */
static inline size_t arena_dirty_margin(const struct arena *a)
{
	if (arena_limit_room() != LIMIT_FAR)
		return arena_dirty_floor(a);
	return MAX(DIRTY_FLOOR_MIN_PAGES, arena_active_pages(a));
}

/* Over this, the dirty pages are purged at once, between passes: the cap
 * and the margin, or an eighth of the cap if more (the buddy's rounding
 * makes the footprint move a little even when the program's does not),
 * and what the last purge left above the cap. */
static inline size_t arena_dirty_limit(const struct arena *a)
{
	size_t cap = arena_dirty_cap(a);
	return cap + MAX(cap >> 3, arena_dirty_margin(a)) + a->dirty_stuck;
}

/* The decay check of the arena slow paths, with the arena lock held: a
 * pass is due a few times per decay_ms, and at once when the dirty pages
 * went over the limit (arena.c). */
static inline void arena_maybe_decay(struct arena *a, uint64_t now_ms)
{
	if (unlikely(now_ms >= a->next_decay_ms || a->dirty_pages > arena_dirty_limit(a)))
		arena_decay(a, now_ms);
}

void   arena_background_after_fork_child(void);
void   arena_background_request(void);
void   arena_set_background_hook(void (*fn)(uint64_t now_ms));
void   arena_set_reclaim_hook(void (*fn)(struct arena *a));
void   arena_set_peak_hook(void (*fn)(void));
void   arena_set_outside_hook(size_t (*fn)(void));
size_t arena_memory_limit(void);
void   arena_fork_copy_hugetlb(void);
void   arena_fork_copied_child(void);
void   arena_unlock_all(void);
void   arena_reinit_locks(void);

#endif
