/* SPDX-License-Identifier: MIT */
/*
 * large.h - blocks above the largest size class.
 *
 * Large: up to LARGE_MAX, a run of whole pages from the arena's buddy, and
 * up to LARGE_DIRTY_MAX where a dirty free run of the arena holds it.
 * Huge: above, a mapping of its own, with a header page in front.
 */
#ifndef STRATA_LARGE_H
#define STRATA_LARGE_H

#include "arena.h"
#include "debug.h"

struct huge {
	uint32_t     kind;    /* SEG_HUGE: shares the first word with struct region */
	uint8_t      backing; /* enum region_backing */
	uint8_t      guard;   /* the page after the mapping is the block's, without access */
	uint8_t      _pad[2];
	int          node;         /* the NUMA node it is bound to */
	uint64_t     freed_ms;     /* in the cache of freed blocks: when it was freed, */
	size_t       used_at_free; /* ... and the arenas' recent peak (near the memory
	                              limit: bytes in use) then */
	size_t       map_size;     /* bytes mapped, header included */
	size_t       offset;       /* user pointer - mapping base */
	size_t       map_align;    /* alignment of the mapping */
	size_t       sampled;      /* leak tracking: the weight it was recorded with, or 0 */
	struct huge *next;         /* every live huge block, for the statistics */
	struct huge *prev;
	struct zone *zone;  /* the private heap it belongs to (zone.c), or NULL */
	struct huge *znext; /* ... on that heap's list */
	struct huge *zprev;
};

/* Visit every live huge block under the huge-list lock. */
void huge_for_each(void (*fn)(struct huge *h, void *arg), void *arg);
void huge_lock(void);
void huge_unlock(void);
void huge_reinit_lock(void);
void huge_fork_copy_hugetlb(void);
void huge_fork_copied_child(void);

static inline size_t pages_for(size_t size)
{
	return (size + PAGE_SIZE - 1) >> PAGE_SHIFT;
}

/* A large block's canary: LARGE_CANARY bytes right after its usable bytes,
 * written at malloc and checked at free and realloc, so an overflow past
 * the end (by one byte, a page, a memcpy) stops the program.  It goes in
 * the run's slack when there is room.  A run with none gets one more page
 * for it when it has LARGE_CANARY_MIN_PAGES or more (the page costs at
 * most 1/32 of the block) and the page does not take it past a power of
 * two: the buddy cuts a run from a block of the next power of two, so a
 * 2^k-page run made 2^k + 1 would take a block twice as big and leave a
 * tail no such run fits, doubling the address space of a program of 1 MiB
 * buffers.  Those runs have no canary. */
#define LARGE_CANARY           16
#define LARGE_CANARY_MIN_PAGES 32

static inline size_t large_pages_for(size_t size)
{
	size_t npages = MAX(pages_for(size), 1); /* size 0 with a big alignment */
	if ((npages << PAGE_SHIFT) - ALIGN_UP(size, MIN_ALIGN) < LARGE_CANARY
	    && npages >= LARGE_CANARY_MIN_PAGES && (npages & (npages - 1)) != 0)
		npages++;
	return npages;
}

/* The bytes the program may use of the run at pg. */
static inline size_t large_usable(const struct page *pg)
{
	return pg->guarded ? pg->guarded : (size_t)pg->npages << PAGE_SHIFT;
}

void large_canary_set(struct page *pg, size_t size);
void large_canary_check(struct page *pg, const char *op);

void *large_alloc(struct arena *a, size_t size, size_t align, bool zero);
void *large_alloc_dirty(struct arena *a, size_t size, bool zero);
void  large_free(struct page *pg);
bool  large_resize(struct page *pg, size_t new_size);

void  *huge_alloc(size_t size, size_t align, int node, bool zero);
void   huge_free(struct huge *h);
void   huge_cache_decay(uint64_t now_ms);
void   huge_cache_verify(void);
size_t huge_cache_trim(void);
void   huge_cache_follow(void);
size_t huge_mapped_bytes(void);
void   huge_for_each_cached(void (*fn)(struct huge *h, void *arg), void *arg);

/* A hugetlb mapping cannot be moved by mremap: realloc copies it. */
static inline bool huge_movable(const struct huge *h)
{
	return h->backing != BACKING_HUGETLB && h->backing != BACKING_HUGETLB_1G;
}
bool huge_was_freed(const void *p);
/* For the fault handler (debug.h): the huge block x strayed from. */
bool  huge_fault_lookup(uintptr_t x, struct fault_block *b);
void *huge_realloc(struct huge *h, size_t new_size);

static inline void *huge_pointer(const struct huge *h)
{
	return (char *)h + h->offset;
}

static inline size_t huge_usable(const struct huge *h)
{
	return h->map_size - h->offset;
}

#endif
