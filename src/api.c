/* SPDX-License-Identifier: MIT */
/*
 * api.c - the exported malloc family.
 *
 * Owns the C and POSIX entry points and glibc's aligned variants.  The fast
 * paths are here: a small malloc is a class computation and a pop from the
 * thread's heap; a small free is a pagemap load, a descriptor load, a check
 * that the pointer starts an object of a slab the thread owns, and a push
 * on that slab's local list.  Everything else is in the out-of-line
 * *_slow and *_generic functions beside them.
 */
#include "internal.h"
#include "buddy.h"
#include "debug.h"
#include "large.h"
#include "numa.h"
#include "pagemap.h"
#include "sample.h"
#include "slab.h"
#include "heap.h"
#include "zone.h"

#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------
 * What a pointer is
 * ---------------------------------------------------------------------- */
enum block_kind { BLOCK_SMALL, BLOCK_LARGE, BLOCK_HUGE, BLOCK_CACHE, BLOCK_GUARD, BLOCK_ZERO };

struct block {
	enum block_kind kind;
	size_t          usable;
	struct page    *pg; /* small: its page; large: the head */
	struct huge    *huge;
	void           *guard; /* a guarded block's area (debug mode; usable is its size) */
};

static strata_cold void invalid_pointer(const void *p, const char *op, const char *why)
{
	_strata_fatal("invalid pointer %p passed to %s (%s)", p, op, why);
}

/* op: free gets "double free of p", the others "p passed to op was freed". */
static strata_cold void double_free(const void *p, const char *op)
{
	if (op[0] == 'f')
		_strata_fatal("double free of %p", p);
	_strata_fatal("%p passed to %s was already freed", p, op);
}

/* Find out what p is, or abort: every pointer passed to free, realloc or
 * malloc_usable_size goes through here or through free's inline copy. */
static noinline struct block block_lookup(void *p, const char *op)
{
	struct block b = { 0 };
	void        *owner = pagemap_lookup(p);
	if (owner == NULL) {
		if (huge_was_freed(p))
			double_free(p, op);
		invalid_pointer(p, op, "not allocated by strata");
	}
	if (*(uint32_t *)owner == SEG_HUGE) {
		b.kind = BLOCK_HUGE;
		b.huge = owner;
		if (p != huge_pointer(b.huge))
			invalid_pointer(p, op, "not the start of a block");
		b.usable = huge_usable(b.huge);
		return b;
	}
	if (*(uint32_t *)owner == SEG_HUGE_FREED) /* kept for reuse, without access */
		double_free(p, op);
	if (*(uint32_t *)owner == SEG_ZERO) {
		zero_check(p, op);
		b.kind = BLOCK_ZERO;
		return b;
	}
	if (*(uint32_t *)owner == SEG_GUARD) {
		b.kind = BLOCK_GUARD;
		b.guard = owner;
		b.usable = guard_block_size(owner, p, op);
		return b;
	}
	struct region *r = owner;
	struct page   *pg = page_of(r, p);
	switch (__atomic_load_n(&pg->state, __ATOMIC_RELAXED)) { /* sampling flips it */
	case PAGE_SLAB:
	case PAGE_SAMPLED:
		if (!slab_object_valid(pg, p))
			invalid_pointer(p, op, "not the start of a block");
		b.kind = BLOCK_SMALL;
		b.pg = pg;
		b.usable = class_size(pg->cls);
		return b;
	case PAGE_CACHE:
		if (cache_is_buried(page_cache(pg)))
			_strata_fatal("%p passed to %s is a block of a private heap that was reset "
			              "or destroyed",
			              p, op);
		if (!slab_object_valid(pg, p))
			invalid_pointer(p, op, "not the start of a block");
		b.kind = BLOCK_CACHE;
		b.pg = pg;
		b.usable = page_cache(pg)->stride;
		return b;
	case PAGE_LARGE:
		if (((uintptr_t)p & (PAGE_SIZE - 1)) != 0)
			invalid_pointer(p, op, "not the start of a block");
		if (pg->flags & PG_CACHED)
			double_free(p, op);
		b.kind = BLOCK_LARGE;
		b.pg = pg;
		b.usable = large_usable(pg);
		return b;
	case PAGE_FREE:
		if (((uintptr_t)p & (PAGE_SIZE - 1)) == 0)
			double_free(p, op);
		/* fall through */
	default: invalid_pointer(p, op, "not the start of a block");
	}
	__builtin_unreachable();
}

/* ------------------------------------------------------------------------
 * Allocation
 * ---------------------------------------------------------------------- */
static inline void *large_counted(struct heap *h, void *p, size_t size)
{
	if (p != NULL) {
		heap_count_large(false, 1);
		sample_large(h, p, size);
	}
	return p;
}

static void *debug_alloc(size_t size, size_t align, bool zero, unsigned kind);
static void  debug_free(void *p, struct block *b);

static inline unsigned aligned_class(size_t size, size_t align);
static inline void    *alloc_class(unsigned cls, size_t size);

/* A huge block bound to a's node. */
static void *alloc_huge_in(struct heap *h, struct arena *a, size_t size, size_t align, bool zero)
{
	return large_counted(h, huge_alloc(size, align, a->node, zero), size);
}

/* A large run from arena a (above LARGE_MAX, only from a dirty free run:
 * large_alloc_dirty) or a huge block bound to a's node; cached: the
 * thread's large-run cache may serve it (a is the thread's own). */
static void *alloc_large_in(struct heap *h, struct arena *a, size_t size, size_t align, bool zero,
                            bool cached)
{
	if (unlikely(size > PTRDIFF_MAX)) {
		errno = ENOMEM;
		return NULL;
	}
	if (size > LARGE_MAX && size <= LARGE_DIRTY_MAX && align <= PAGE_SIZE) {
		void *p = large_alloc_dirty(a, size, zero);
		if (p != NULL)
			return large_counted(h, p, size);
	}
	if (size > LARGE_MAX || align > LARGE_MAX)
		return alloc_huge_in(h, a, size, align, zero);
	cached = cached && h && align <= PAGE_SIZE;
	struct page *pg = cached ? heap_large_take(h, large_pages_for(size), false) : NULL;
	if (pg == NULL) {
		int   saved = errno;
		void *p = large_alloc(a, size, align, zero);
		if (p != NULL || !cached)
			return large_counted(h, p, size);
		/* out of memory: the run freed last, if it fits */
		if ((pg = heap_large_take(h, large_pages_for(size), true)) == NULL)
			return NULL;
		errno = saved;
	}
	void *p = page_address(pg);
	if (zero)
		memset(p, 0, size);
	large_canary_set(pg, size);
	return large_counted(h, p, size);
}

/* The calling thread's heap and its arena, or the arena a thread without
 * a heap (an exited one) uses. */
static struct arena *local_arena(struct heap *h)
{
	return h ? heap_local_arena(h) : arena_pick();
}

static inline void *alloc_large_block(size_t size, size_t align, bool zero)
{
	struct heap *h = heap_get();
	return alloc_large_in(h, local_arena(h), size, align, zero, true);
}

/* Size 0: an address of malloc(0)'s area, which no byte may be read or
 * written through (guard.c); when that area is full or the alignment is
 * above a page, a block of the smallest size that has it. */
static void *alloc_zero(size_t align)
{
	void *p = zero_alloc(align);
	if (p != NULL)
		return p;
	return align <= PAGE_SIZE ? alloc_class(aligned_class(1, align), 0)
	                          : alloc_large_block(0, align, false);
}

/* Above the small classes, and size 0 (which every caller sends here). */
static noinline void *alloc_large(size_t size, size_t align, bool zero)
{
	strata_ensure_init();
	if (unlikely(debug_mode()))
		return debug_alloc(size, align, zero, DEBUG_KIND_MALLOC);
	if (unlikely(size == 0))
		return alloc_zero(MAX(align, (size_t)MIN_ALIGN));
	return alloc_large_block(size, align, zero);
}

/* The alignment objects of class cls have (they start on page-aligned
 * slabs): the lowest set bit of the size, at most a page. */
static size_t class_alignment(unsigned cls)
{
	size_t size = class_size(cls);
	return MIN(size & -size, PAGE_SIZE);
}

static noinline void *alloc_class_slow(unsigned cls, size_t size)
{
	strata_ensure_init(); /* the options, debug among them */
	if (unlikely(debug_mode()))
		return debug_alloc(size, class_alignment(cls), false, DEBUG_KIND_MALLOC);
	return heap_alloc_slow(cls, size);
}

/* size is only for the slow path's leak sampling. */
static inline void *alloc_class(unsigned cls, size_t size)
{
	void *p = heap_pop(heap_slot(_strata_heap, cls));
	return likely(p != NULL) ? p : alloc_class_slow(cls, size);
}

/* The table's entry for size ran dry: heap_pop_last found nothing.  The
 * slow path, without the fast one again. */
static noinline void *alloc_table_dry(size_t size)
{
	if (size == 0)
		return alloc_large(0, MIN_ALIGN, false);
	return alloc_class_slow(size_to_class(size), size);
}

static noinline void *alloc_foreign_pop(struct heap_fast *f)
{
	return heap_pop_foreign(f, f->foreign);
}

/* What the table's fast path calls, out of line, so that it keeps no
 * register across a call: end when its entry f's list ended (its first
 * object goes to heap_pop_last), above when size is above the table; kind
 * and name are for operator new's. */
typedef void *(*list_end_fn)(struct heap_fast *f, size_t size, unsigned kind, const char *name);
typedef void *(*above_table_fn)(size_t size, unsigned kind, const char *name);

/* The pop from the class entry at byte offset off in the thread's heap
 * (from one of the size tables): the slow path works the class out again
 * from the size. */
static inline __attribute__((always_inline)) void *alloc_entry_pop(size_t off, size_t size,
                                                                   list_end_fn end, unsigned kind,
                                                                   const char *name)
{
	struct heap_fast *f = (struct heap_fast *)((char *)_strata_heap + off);
	void            **p = f->free;
#if defined(__x86_64__)
	__asm__("" : "+a"(p)); /* the return register from the start: no move at the end */
#endif
	uintptr_t delta = link_delta(p);
	if (unlikely(!link_in_window(delta))) {
		/* the foreign list without another call: a thread that frees
		 * what others allocated (larson) serves most of its mallocs
		 * from it */
		if (p == HEAP_LIST_END && f->foreign != NULL)
			return alloc_foreign_pop(f);
		return end(f, size, kind, name);
	}
	return heap_pop_delta(f, p, delta);
}

static inline __attribute__((always_inline)) void *alloc_table_pop(size_t size, list_end_fn end,
                                                                   above_table_fn above,
                                                                   unsigned kind, const char *name)
{
	if (unlikely(size > CLASS_TABLE_MAX))
		return above(size, kind, name);
	return alloc_entry_pop(size_to_class_offset(size), size, end, kind, name);
}

static noinline void *malloc_list_end(struct heap_fast *f, size_t size,
                                      unsigned    kind __attribute__((unused)),
                                      const char *name __attribute__((unused)))
{
	void *q = heap_pop_last(f, f->free);
	return likely(q != NULL) ? q : alloc_table_dry(size);
}

/* Above the table: the small sizes from the second table (sizeclass.h),
 * popped the same way, out of line. */
static noinline void *malloc_above_table(size_t size, unsigned kind __attribute__((unused)),
                                         const char *name __attribute__((unused)))
{
	if (likely(size <= SMALL_MAX))
		return alloc_entry_pop(size_to_class_offset_hi(size), size, malloc_list_end, 0,
		                       NULL);
	return alloc_large(size, MIN_ALIGN, false);
}

/* malloc itself, for the library's own callers: no call through the PLT. */
static inline __attribute__((always_inline)) void *malloc_fast(size_t size)
{
	return alloc_table_pop(size, malloc_list_end, malloc_above_table, 0, NULL);
}

strata_export void *API(malloc)(size_t size)
{
	return malloc_fast(size);
}

strata_export void *API(calloc)(size_t nmemb, size_t size)
{
	size_t total;
	if (unlikely(__builtin_mul_overflow(nmemb, size, &total))) {
		errno = ENOMEM;
		return NULL;
	}
	if (likely(total - 1 < SMALL_MAX)) { /* 0 goes to alloc_large */
		void *p = alloc_class(size_to_class_small(total), total);
		if (likely(p != NULL))
			memset(p, 0, total);
		return p;
	}
	return alloc_large(total, MIN_ALIGN, true);
}

/* ------------------------------------------------------------------------
 * Free
 * ---------------------------------------------------------------------- */

/* Look p up for op and make sure it is not a free small object.  Every
 * free small object holds the free key in its second word, and every path
 * that hands one out clears it: a live block holds the key (a 64-bit
 * secret) only if the program copied it out of freed memory.  So a block
 * holding it was freed, wherever it waits now: on this thread's lists,
 * another thread's, or its slab's remote list. */
static struct block block_lookup_live(void *p, const char *op)
{
	struct block b = block_lookup(p, op);
	if ((b.kind == BLOCK_SMALL || b.kind == BLOCK_CACHE)
	    && ((uintptr_t *)p)[1] == _strata_free_key)
		double_free(p, op);
	return b;
}

/* The private heap a block belongs to, or NULL. */
static struct zone *block_zone(const struct block *b)
{
	if (b->kind == BLOCK_CACHE)
		return zone_of_cache(page_cache(b->pg));
	return b->kind == BLOCK_HUGE ? b->huge->zone : NULL;
}

/* Does the block have the debug mode's canary layout (debug.c)?  Not a
 * cache's object, a private heap's block, a guarded or a malloc(0) block:
 * those are made without it. */
static bool block_debug_layout(const struct block *b)
{
	return b->kind != BLOCK_CACHE && b->kind != BLOCK_GUARD && b->kind != BLOCK_ZERO
	       && block_zone(b) == NULL;
}

static void free_large(struct block *b, void *p)
{
	large_canary_check(b->pg, "free");
	struct heap *h = heap_get();
	heap_count_large(true, 1);
	sample_forget_large(b->pg, p);
	if (!heap_large_keep(h, b->pg))
		large_free(b->pg);
}

static noinline void free_generic(void *p)
{
	if (p == NULL)
		return;
	struct block b = block_lookup_live(p, "free");
	if (b.kind == BLOCK_CACHE) { /* no debug tail: caches keep exact sizes */
		cache_free_block(b.pg, p);
		return;
	}
	if (b.kind == BLOCK_GUARD) {
		guard_free(b.guard, p);
		return;
	}
	if (b.kind == BLOCK_ZERO) {
		zero_free(p);
		return;
	}
	if (unlikely(debug_mode()) && block_debug_layout(&b))
		debug_free(p, &b);
	switch (b.kind) {
	case BLOCK_SMALL:
		if (leak_mode() != LEAK_OFF)
			sample_forget_small(b.pg, p);
		heap_free_small(b.pg, p);
		break;
	case BLOCK_LARGE: free_large(&b, p); break;
	case BLOCK_HUGE:
		heap_count_large(true, 1);
		sample_forget_huge(b.huge, p);
		if (b.huge->zone)
			zone_huge_forget(b.huge);
		huge_free(b.huge);
		break;
	case BLOCK_CACHE:
	case BLOCK_GUARD:
	case BLOCK_ZERO: break;
	}
}

/* Is the owner entry of a page one of heap h's (heap.h)?  Only on a slab
 * page of h's own that holds no block leak tracking recorded; every other
 * page (other heaps' slabs, large runs, free pages) has another owner or
 * none. */
static inline bool owner_is(const void *entry, const struct heap *h)
{
	return (uintptr_t)entry - (uintptr_t)h < sizeof(h->fast);
}

/* p, an object of page pg by the object check, whose owner is not h (the
 * calling thread's heap): on h's foreign list for the class when pg is
 * another heap's slab and p is not free.  With NUMA placement,
 * heap_free_small decides where it goes; a full foreign list, a heap not
 * set up or one that sees every call (exact leak tracking, the debug
 * mode): false, for the general path. */
static inline bool free_foreign(struct heap *h, void *p, struct page *pg)
{
	return likely(__atomic_load_n(&pg->state, __ATOMIC_RELAXED) == PAGE_SLAB
	              && ((uintptr_t *)p)[1] != _strata_free_key && !nodes_active())
	       && heap_push_foreign(heap_slot(h, pg->cls), p);
}

/* A small block of another heap's slab or of a cache, with the fast path's
 * checks; anything else goes to free_generic, which says what is wrong
 * with it. */
static noinline void free_other(void *p, struct page *pg)
{
	/* An object of a cache, a pool or a private heap: its magazine. */
	if (__atomic_load_n(&pg->state, __ATOMIC_RELAXED) == PAGE_CACHE
	    && !cache_is_buried(page_cache(pg)) && slab_object_valid(pg, p)
	    && ((uintptr_t *)p)[1] != _strata_free_key) {
		cache_free_block(pg, p);
		return;
	}
	if (slab_object_valid(pg, p) && free_foreign(_strata_heap, p, pg))
		return;
	free_generic(p);
}

/* heap_defer_free, out of line so that free's own path needs no stack
 * frame. */
static noinline void free_own_deferred(struct heap *h, struct page *head, void *p)
{
	heap_defer_free(h, head, p);
}

/* The owner's free of p into its slab head (whose owner field is entry),
 * p's pointer checked: true when it went to the ring instead (a slab other
 * than the class's current one and than the slab of the last free
 * queued). */
static inline __attribute__((always_inline)) bool free_own_queued(struct heap      *h,
                                                                  struct heap_fast *entry,
                                                                  struct page *head, void *p)
{
	if (likely(head == entry->current || head == h->pending_slab))
		return false;
	free_own_deferred(h, head, p);
	return true;
}

/* ... made at once: false if p is free already. */
static inline __attribute__((always_inline)) bool free_own_push(struct heap_fast *entry,
                                                                struct page *head, void *p)
{
	if (unlikely(((uintptr_t *)p)[1] == _strata_free_key))
		return false;
	heap_free_own_fast(entry, head, p);
	return true;
}

/* p's object index in the slab head of entry r: modulo 2^64
 * (slab_index_by64), any offset gives an index below the slab's bump only
 * at an object the slab has carved, so one compare rules out the rest of
 * the address space, and an entry of another chunk's slab (the entries
 * are shared modulo their number) fails it. */
static inline uint64_t recent_index(const struct heap_recent *r, const void *p)
{
	return slab_index_by64((uintptr_t)p - r->base, r->inverse, r->shift);
}

/* p, of the class's current slab, not free already: onto the class's local
 * list. */
static inline __attribute__((always_inline)) bool free_current_push(struct heap_fast *entry,
                                                                    void             *p)
{
	if (unlikely(((uintptr_t *)p)[1] == _strata_free_key))
		return false;
	heap_free_current(entry, p);
	return true;
}

/* The fast path with p's descriptor pg from the pagemap: the object check,
 * then the owner test (another owner's page: its foreign push, made
 * here); p's slab is remembered in r, p's recent-slab entry, for the next
 * frees there unless the free waits in the ring (a free at random: its
 * slab will not come again soon). */
static inline __attribute__((always_inline)) bool free_own(struct heap *h, struct heap_recent *r,
                                                           void *p, struct page *pg)
{
	struct heap_fast *entry = page_owner_tag(pg);
	uint32_t          soff = pg->slab_off; /* read once: the check and the head */
	size_t            off = ((uintptr_t)p & (PAGE_SIZE - 1)) + soff;
	if (unlikely(!slab_object_valid_off(pg, off)))
		return false;
	if (unlikely(!owner_is(entry, h)))
		return free_foreign(h, p, pg); /* else free_other */
	struct page *head = slab_head_at(pg, soff);
	if (free_own_queued(h, entry, head, p))
		return true;
	heap_recent_set(r, (uintptr_t)p - off, head, heap_recent_limit(entry, head));
	return free_own_push(entry, head, p);
}

/* NULL needs no test of its own: its pagemap slot is always empty (no
 * region-aligned mapping can start at address 0). */
static inline __attribute__((always_inline)) void free_lookup(struct heap *h, struct heap_recent *r,
                                                              void *p)
{
	__builtin_prefetch(p, 1); /* while the descriptors load (never faults) */
	uintptr_t e = pagemap_entry(p);
	if (unlikely(!pagemap_is_region(e))) {
		free_generic(p);
		return;
	}
	struct page *pg = pagemap_page(e, p);
	if (likely(free_own(h, r, p, pg)))
		return;
	free_other(p, pg);
}

/* How far ahead of a free in a row into a slab that is not current the
 * block a later free of the row will read is fetched: such a program
 * (freeing in the order it allocated, long ago) reads each block first at
 * its free, for the double-free test, a miss to memory every time, which
 * the hardware prefetcher of this machine does not hide (bench/wl_frag:
 * 0.42 -> 0.34 s, 2048 bytes 0.36).  A page ahead is 64 frees of 64-byte
 * blocks, 4 of 1 KiB; a prefetch never faults. */
#define FREE_ROW_AHEAD 4096

/* A free into a slab of a recent fast free, r (a program freeing what it
 * allocated in a row, or blocks of a few classes in turn), skips the
 * pagemap and the owner test.  It is made at once, not queued: the
 * ring is for frees at random, and this one follows a free into the same
 * slab (the slab was remembered at a free free_own made at once).  The
 * fast test (idx, p's index, below the entry's limit) takes the class's
 * current slab, onto the class's local list; this, the slow one, any
 * object the slab had handed out when the entry was filled, without
 * reading the slab's head unless it takes p: a slab no longer current
 * gets it on its own list; a current one whose entry's limit was 0 (it
 * became current again) gets its limit back.  false: take the pagemap. */
static inline __attribute__((always_inline)) bool free_on_recent_slab(struct heap_recent *r,
                                                                      void *p, uint64_t idx)
{
	if (!(idx < r->carved && ((uintptr_t *)p)[1] != _strata_free_key))
		return false;
	struct page      *head = r->slab;
	struct heap_fast *f = r->owner;
	if (head != f->current) { /* a slab's frees in a row: what a program
	                             that frees what it made long ago makes */
		__builtin_prefetch((char *)p + FREE_ROW_AHEAD, 1);
		heap_free_local_slab(f, head, p);
		return true;
	}
	r->limit = heap_recent_limit(f, head);
	heap_free_current(f, p);
	return true;
}

static inline __attribute__((always_inline)) void free_fast(void *p)
{
	struct heap        *h = _strata_heap;
	struct heap_recent *r = heap_recent_of(h, p);
	uint64_t            idx = recent_index(r, p);
	if (likely(idx < r->limit && free_current_push(r->owner, p)))
		return;
	if (free_on_recent_slab(r, p, idx))
		return;
	free_lookup(h, r, p);
}

strata_export void API(free)(void *p)
{
	free_fast(p);
}

/* ------------------------------------------------------------------------
 * Aligned allocation
 * ---------------------------------------------------------------------- */

/* The smallest class >= size whose objects all sit on align boundaries
 * (align a power of two up to a page; size at most SMALL_MAX): slabs start
 * on a page, so a class that is a multiple of align works, and the class
 * of size rounded up to align always is one (every class above 2^k bytes
 * is a multiple of 2^(k-3) or more: test_sizeclass checks each
 * alignment).  The class table is a constant: this may be the process's
 * first call. */
static inline unsigned aligned_class(size_t size, size_t align)
{
	return size_to_class_small(ALIGN_UP(size, MAX(align, MIN_ALIGN)));
}

/* align is a power of two. */
static void *alloc_aligned(size_t align, size_t size)
{
	if (align <= MIN_ALIGN)
		return API(malloc)(size);
	if (size - 1 < SMALL_MAX && align <= PAGE_SIZE) /* 0 goes to alloc_large */
		return alloc_class(aligned_class(size, align), size);
	return alloc_large(size, align, false);
}

/* The aligned calls' fast path is for small blocks (else alloc_aligned),
 * from the thread's entry of their class.  Before start-up the thread's
 * heap is the empty one: its entry has no object, and the slow path
 * starts strata. */
static inline bool aligned_small(size_t align, size_t size)
{
	return size - 1 < SMALL_MAX && align <= PAGE_SIZE;
}

/* Entry f's list is at its end (its callers have tried the foreign list):
 * its last object, else the slow path. */
static void *aligned_list_end(struct heap_fast *f, size_t align, size_t size)
{
	void *p = heap_pop_last(f, f->free);
	return p ? p : alloc_aligned(align, size);
}

static bool power_of_two(size_t x)
{
	return x != 0 && (x & (x - 1)) == 0;
}

/* posix_memalign leaves errno as it was: only its slow path may touch it,
 * out of line (f NULL, or at its list's end), so that the fast one saves
 * no register. */
static noinline int posix_memalign_slow(void **out, struct heap_fast *f, size_t align, size_t size)
{
	int   saved = errno;
	void *p = f ? aligned_list_end(f, align, size) : alloc_aligned(align, size);
	errno = saved;
	if (p == NULL)
		return ENOMEM;
	*out = p;
	return 0;
}

static noinline int posix_memalign_foreign(void **out, struct heap_fast *f)
{
	*out = heap_pop_foreign(f, f->foreign);
	return 0;
}

strata_export int API(posix_memalign)(void **out, size_t align, size_t size)
{
	if (unlikely(!power_of_two(align) || align % sizeof(void *) != 0))
		return EINVAL;
	if (unlikely(!aligned_small(align, size)))
		return posix_memalign_slow(out, NULL, align, size);
	struct heap_fast *f = heap_slot(_strata_heap, aligned_class(size, align));
	void            **p = f->free;
	uintptr_t         delta = link_delta(p);
	if (unlikely(!link_in_window(delta))) {
		/* the foreign list without another call, as malloc's */
		if (p == HEAP_LIST_END && f->foreign != NULL)
			return posix_memalign_foreign(out, f);
		return posix_memalign_slow(out, f, align, size);
	}
	*out = heap_pop_delta(f, p, delta);
	return 0;
}

static noinline void *aligned_alloc_slow(struct heap_fast *f, size_t align, size_t size)
{
	return f ? aligned_list_end(f, align, size) : alloc_aligned(align, size);
}

strata_export void *API(aligned_alloc)(size_t align, size_t size)
{
	if (unlikely(!power_of_two(align))) {
		errno = EINVAL;
		return NULL;
	}
	if (unlikely(!aligned_small(align, size)))
		return aligned_alloc_slow(NULL, align, size);
	struct heap_fast *f = heap_slot(_strata_heap, aligned_class(size, align));
	void            **p = f->free;
	uintptr_t         delta = link_delta(p);
	if (unlikely(!link_in_window(delta))) {
		if (p == HEAP_LIST_END && f->foreign != NULL)
			return alloc_foreign_pop(f);
		return aligned_alloc_slow(f, align, size);
	}
	return heap_pop_delta(f, p, delta);
}

/* glibc's memalign: an alignment that is not a power of two is rounded up. */
strata_export void *API(memalign)(size_t align, size_t size)
{
	if (align > SIZE_MAX / 2 + 1) {
		errno = EINVAL;
		return NULL;
	}
	if (!power_of_two(align))
		align = align <= 1 ? 1 : (size_t)1 << (64 - __builtin_clzl(align - 1));
	return alloc_aligned(align, size);
}

strata_export void *API(valloc)(size_t size)
{
	return alloc_aligned(PAGE_SIZE, size);
}

strata_export void *API(pvalloc)(size_t size)
{
	if (size > SIZE_MAX - PAGE_SIZE) {
		errno = ENOMEM;
		return NULL;
	}
	size_t rounded = size ? ALIGN_UP(size, PAGE_SIZE) : PAGE_SIZE;
	return alloc_aligned(PAGE_SIZE, rounded);
}

/* ------------------------------------------------------------------------
 * realloc
 * ---------------------------------------------------------------------- */

/* The descriptor of p's page when p is a live block of a slab, the common
 * case, found from the pagemap with free's checks (it starts an object
 * handed out, it is not free); NULL for the rest (NULL, large and huge
 * blocks, caches' objects, sampled pages, the debug mode, bad pointers),
 * which take the full lookup: it says what is wrong. */
static inline __attribute__((always_inline)) const struct page *slab_block_live(void *p)
{
	uintptr_t e = pagemap_entry(p);
	if (unlikely(!pagemap_is_region(e)))
		return NULL;
	const struct page *pg = pagemap_page(e, p);
	if (likely(__atomic_load_n(&pg->state, __ATOMIC_RELAXED) == PAGE_SLAB
	           && slab_object_valid(pg, p) && ((uintptr_t *)p)[1] != _strata_free_key
	           && !debug_mode()))
		return pg;
	return NULL;
}

/* A small block of class cls resized to size stays where it is unless
 * size is above its class or at most the size two classes below: a block
 * shrunk by a little keeps its place (two class steps of it unused at
 * most), one shrunk by more moves to a class that fits it.  One that grows
 * out of its class moves to the class of the size asked: room for the
 * next growth (the class of an eighth more) saved a buffer grown by
 * appends every other copy (bench/wl_realloc 122.6 -> 114.2 ms, mimalloc
 * 109.2), but a program whose blocks grow by appends and then stay (redis's
 * lists, hashes and strings) kept the eighth on every one of them: redis
 * under bench/servers peaked at 464 MiB instead of 419 (jemalloc 411-421). */
static inline bool realloc_stays(unsigned cls, size_t size)
{
	/* from the class sizes alone (classes increase): no class arithmetic */
	return size <= class_size(cls) && (cls < 2 || size > class_size(cls - 2));
}

/* The class a small block grown to size moves to: the class of size
 * rounded up to a quarter of its doubling.  Outside the eighths that is
 * size's own class; in them (1 to 16 KiB, sizeclass.h) a buffer grown by
 * appends so moves at every quarter, not at every eighth:
 * bench/wl_realloc copied 507 MB where an allocator with quarters copies
 * 287.  A block allocated at its size keeps the eighths. */
static inline unsigned realloc_grown_class(size_t size)
{
	if (size <= CLASS_LINEAR_MAX)
		return size_to_class(size);
	unsigned shift = 63u - (unsigned)__builtin_clzl(size - 1);
	return size_to_class(ALIGN_UP(size, (size_t)1 << (shift - CLASS_STEPS)));
}

/* Can the block stay where it is with new_size bytes? */
static bool resize_in_place(struct block *b, size_t new_size)
{
	switch (b->kind) {
	case BLOCK_SMALL: return new_size <= SMALL_MAX && realloc_stays(b->pg->cls, new_size);
	case BLOCK_LARGE:
		large_canary_check(b->pg, "realloc");
		return new_size > SMALL_MAX && (new_size <= LARGE_MAX || new_size <= b->usable)
		       && large_resize(b->pg, new_size);
	case BLOCK_HUGE:
	case BLOCK_CACHE:
	case BLOCK_GUARD:
	case BLOCK_ZERO: return false;
	}
	return false;
}

/* A large run that grows out of place is cut from a block four times its
 * size, the rest left free right behind it, so that the next two doublings
 * of a growing buffer (the usual realloc pattern) are in place.  The room
 * is free buddy pages, not memory: nothing is committed for it.  It is at
 * most 4 MiB, so that no growth needs a whole half-region of its own. */
#define REALLOC_ROOM 4

static void *realloc_alloc(struct block *b, size_t new_size)
{
	/* the debug mode's blocks come from malloc, with its layout */
	if (new_size <= b->usable || unlikely(debug_mode()))
		return API(malloc)(new_size);
	if (new_size <= SMALL_MAX) /* as realloc_small: a sampled block comes here */
		return alloc_class(realloc_grown_class(new_size), new_size);
	struct heap  *h = heap_get();
	struct arena *a = local_arena(h);
	/* a huge block at once, not a dirty run: its next growth is an
	 * mremap, not a copy */
	if (new_size > LARGE_MAX)
		return alloc_huge_in(h, a, new_size, MIN_ALIGN, false);
	size_t room = PAGE_SIZE << MIN(order_for_pages(REALLOC_ROOM * pages_for(new_size)),
	                               LARGE_MAX_ORDER);
	return alloc_large_in(h, a, new_size, room, false, false);
}

/* A large run left behind by realloc goes straight back to the buddy: its
 * size is the one the program just grew out of, not worth caching. */
static void *realloc_move(void *p, struct block *b, size_t new_size)
{
	void *q = realloc_alloc(b, new_size);
	if (q == NULL)
		return NULL;
	memcpy(q, p, MIN(b->usable, new_size));
	if (b->kind == BLOCK_LARGE) {
		heap_count_large(true, 1);
		sample_forget_large(b->pg, p);
		large_free(b->pg);
	} else {
		API(free)(p);
	}
	return q;
}

/* ------------------------------------------------------------------------
 * Debug mode (debug.c): every block DEBUG_TAIL bytes longer, for the canary
 * and the size; small blocks come from the arenas' shared heaps, so every
 * call comes here.
 * ---------------------------------------------------------------------- */

/* align: what the caller's class or request guarantees, kept.  A guarded
 * block (guard.c) while there is room, else the canary layout. */
static void *debug_alloc(size_t size, size_t align, bool zero, unsigned kind)
{
	if (size > PTRDIFF_MAX - DEBUG_TAIL) {
		errno = ENOMEM;
		return NULL;
	}
	void *g = guard_alloc(size, align, kind);
	if (g) /* fresh pages: already zero */
		return g;
	size_t need = size + DEBUG_TAIL;
	if (need <= SMALL_MAX && align <= PAGE_SIZE) {
		unsigned c = aligned_class(need, align);
		void    *p = heap_alloc_slow(c, size);
		if (p) {
			struct heap *s = heap_shared_of(p);
			lock_acquire(&s->lock);
			debug_block_open(p, class_size(c), size, true, kind);
			lock_release(&s->lock);
		}
		return p;
	}
	void *p = alloc_large_block(need, MAX(align, (size_t)MIN_ALIGN), zero);
	if (p) {
		struct block b = block_lookup(p, "malloc");
		if (b.kind == BLOCK_LARGE && !zero)
			debug_check_reused(p, b.usable);
		debug_block_open(p, b.usable, size, false, kind);
	}
	return p;
}

/* A small block is opened and closed under its shared heap's lock, so
 * that the check of the block below it (an underflow of p lands in its
 * tail) sees that block either live with its canary or wholly filled. */
static void debug_free(void *p, struct block *b)
{
	if (b->kind != BLOCK_SMALL) {
		debug_block_close(p, b->usable, b->kind == BLOCK_LARGE);
		return;
	}
	struct heap *s = heap_shared_of(p);
	lock_acquire(&s->lock);
	if (slab_offset(b->pg, p) >= b->usable)
		debug_check_below(p, (char *)p - b->usable, b->usable);
	debug_block_close(p, b->usable, true);
	lock_release(&s->lock);
}

/* Always a new block: a stale copy of the old pointer then hits the fill. */
static void *debug_realloc(void *p, struct block *b, size_t size)
{
	size_t old = b->kind == BLOCK_GUARD ? b->usable : debug_block_size(p, b->usable);
	void  *q = API(malloc)(size);
	if (q == NULL)
		return NULL;
	memcpy(q, p, MIN(old, size));
	API(free)(p);
	return q;
}

/* A private heap's block stays in its heap (zone_realloc); the old block
 * is freed here when it moved. */
static void *zone_realloc_block(struct zone *z, void *p, struct block *b, size_t size)
{
	void *q = zone_realloc(z, p, b->usable, size);
	if (q != NULL && q != p)
		API(free)(p);
	return q;
}

/* A small block to a small size, checked as free checks it: kept when
 * realloc_stays, else moved with malloc's and free's fast paths.  Not
 * with exact leak tracking, whose record of the block's size is renewed
 * even when it stays (sample_resized). */
static inline __attribute__((always_inline)) void *realloc_small(void *p, size_t size,
                                                                 const struct page *pg)
{
	unsigned cls = pg->cls;
	if (realloc_stays(cls, size))
		return p;
	void *q = size > class_size(cls) ? alloc_class(realloc_grown_class(size), size)
	                                 : malloc_fast(size);
	if (unlikely(q == NULL))
		return NULL;
	memcpy(q, p, MIN(class_size(cls), size));
	free_fast(p);
	return q;
}

static noinline void *realloc_generic(void *p, size_t size);

strata_export void *API(realloc)(void *p, size_t size)
{
	const struct page *pg;
	if (likely(size - 1 < SMALL_MAX && leak_mode() != LEAK_FULL
	           && (pg = slab_block_live(p)) != NULL))
		return realloc_small(p, size, pg);
	return realloc_generic(p, size);
}

static noinline void *realloc_generic(void *p, size_t size)
{
	if (p == NULL)
		return API(malloc)(size);
	if (size == 0) { /* glibc frees and returns NULL */
		API(free)(p);
		return NULL;
	}
	if (size > PTRDIFF_MAX) {
		errno = ENOMEM;
		return NULL;
	}
	struct block b = block_lookup_live(p, "realloc");
	struct zone *z = block_zone(&b);
	if (z != NULL)
		return zone_realloc_block(z, p, &b, size);
	if (b.kind == BLOCK_CACHE) /* a typed cache's object: to malloc's */
		return size <= b.usable ? p : realloc_move(p, &b, size);
	if (unlikely(debug_mode()))
		return debug_realloc(p, &b, size);
	if (resize_in_place(&b, size)) {
		sample_resized(p, p, size);
		return p;
	}
	if (b.kind == BLOCK_HUGE && size > LARGE_MAX && huge_movable(b.huge)) {
		void *q = huge_realloc(b.huge, size); /* the header moves with it */
		if (q)
			sample_resized(p, q, size);
		return q;
	}
	return realloc_move(p, &b, size);
}

strata_export void *API(reallocarray)(void *p, size_t nmemb, size_t size)
{
	size_t total;
	if (__builtin_mul_overflow(nmemb, size, &total)) {
		errno = ENOMEM;
		return NULL;
	}
	return API(realloc)(p, total);
}

static noinline size_t usable_size_generic(void *p)
{
	if (p == NULL)
		return 0;
	struct block b = block_lookup_live(p, "malloc_usable_size");
	if (unlikely(debug_mode()) && block_debug_layout(&b))
		return debug_block_size(p, b.usable);
	return b.usable;
}

/* A program that keeps its own count of memory asks for the size of every
 * block it allocates and frees (redis: about ten calls a request). */
strata_export size_t API(malloc_usable_size)(void *p)
{
	/* first the calling thread's recent slabs: a program that asks a
	 * block's size before it frees it (redis, for its accounting) finds
	 * it there as free does, without the pagemap (free's slow test: any
	 * object the slab has handed out) */
	const struct heap_recent *r = heap_recent_of(_strata_heap, p);
	if (likely(recent_index(r, p) < r->carved && ((uintptr_t *)p)[1] != _strata_free_key))
		return class_size(r->cls);
	const struct page *pg = slab_block_live(p);
	return likely(pg != NULL) ? class_size(pg->cls) : usable_size_generic(p);
}

/* ------------------------------------------------------------------------
 * NUMA: a block on a given node
 * ---------------------------------------------------------------------- */

/* Like numa_alloc_onnode, with size classes: from the thread's cache when
 * the thread runs on that node, else from an arena of the node; freed with
 * free().  With placement off, node 0 is the only node. */
strata_export void *strata_alloc_onnode(size_t size, int node)
{
	strata_ensure_init();
	if (!nodes_valid(node)) {
		errno = EINVAL;
		return NULL;
	}
	struct heap  *h = heap_get();
	struct arena *mine = local_arena(h);
	if (!nodes_active() || mine->node == node || debug_mode())
		return API(malloc)(size);
	struct arena *a = arena_pick_node(node);
	if (size <= SMALL_MAX)
		return heap_alloc_shared(a, h, size_to_class(size), size);
	return alloc_large_in(h, a, size, MIN_ALIGN, false, false);
}

/* free() under a name of strata's own: a program that dlopen()s strata
 * (its malloc stays the process's) frees strata's blocks with it. */
strata_export void strata_free(void *p)
{
	API(free)(p);
}

/* ------------------------------------------------------------------------
 * C++ sized delete
 *
 * libstdc++'s operator new calls malloc, and its sized operator delete
 * (C++14) calls free, dropping the size.  strata defines the two sized
 * deletes so that a size that cannot be the block's is stopped: a delete
 * through a base class without a virtual destructor, a new[] freed with
 * a scalar delete of another size.  The debug mode knows the size asked
 * for and checks it exactly; otherwise a small block's size class must be
 * the size's, a run must be of the size's pages, and a huge block must
 * hold the size.  Objects of caches and private heaps are not checked.
 * ---------------------------------------------------------------------- */
static strata_cold void sized_delete_wrong(const void *p, size_t size, size_t holds)
{
	_strata_fatal("operator delete(%p, %zu): the block is of %zu bytes (a sized delete "
	              "with the wrong size)",
	              p, size, holds);
}

static void kind_check(void *p, const struct block *b, unsigned want);

static void sized_delete_check(void *p, size_t size, unsigned kind)
{
	struct block b = block_lookup_live(p, "operator delete");
	if (b.kind == BLOCK_CACHE)
		return;
	if (unlikely(debug_mode())) {
		size_t asked = block_debug_layout(&b) ? debug_block_size(p, b.usable) : b.usable;
		if (asked != size)
			sized_delete_wrong(p, size, asked);
		kind_check(p, &b, kind);
		return;
	}
	bool fits;
	if (b.kind == BLOCK_SMALL)
		fits = size <= SMALL_MAX && class_size(size_to_class(size)) == b.usable;
	else if (b.kind == BLOCK_LARGE) /* a run of exactly the pages asked for */
		fits = size <= b.usable && size > b.usable - PAGE_SIZE;
	else /* a huge block may be a bigger one reused */
		fits = size <= b.usable;
	if (unlikely(!fits))
		sized_delete_wrong(p, size, b.usable);
}

static noinline void sized_delete_slow(void *p, size_t size, unsigned kind)
{
	if (p != NULL)
		sized_delete_check(p, size, kind);
	API(free)(p);
}

/* The common case is free's fast path with one more test: the object's
 * page names the size's class (from the table of classes up to 2 KiB; the
 * debug mode never takes it: its heaps have no fast path).  Anything else
 * takes the full check, out of line, so that this path needs no stack
 * frame. */
static inline __attribute__((always_inline)) void sized_delete(void *p, size_t size, unsigned kind)
{
	struct heap        *h = _strata_heap;
	struct heap_recent *r = heap_recent_of(h, p);
	if (likely(size <= CLASS_TABLE_MAX)) {
		unsigned cls = size_to_class_table(size);
		uint64_t idx = recent_index(r, p);
		if (likely(idx < r->limit && r->cls == cls && free_current_push(r->owner, p)))
			return;
		if (r->cls == cls && free_on_recent_slab(r, p, idx))
			return;
	}
	uintptr_t e = pagemap_entry(p);
	if (likely(pagemap_is_region(e) && size <= CLASS_TABLE_MAX)) {
		struct page *pg = pagemap_page(e, p);
		/* the owner's only: another's goes through the size check below */
		if (likely(pg->cls == size_to_class_table(size) && owner_is(page_owner_tag(pg), h)
		           && free_own(h, r, p, pg)))
			return;
	}
	sized_delete_slow(p, size, kind);
}

/* operator delete(void *, std::size_t) and operator delete[](void *, std::size_t) */
strata_export void API(_ZdlPvm)(void *p, size_t size)
{
	sized_delete(p, size, DEBUG_KIND_NEW);
}

strata_export void API(_ZdaPvm)(void *p, size_t size)
{
	sized_delete(p, size, DEBUG_KIND_NEW_ARRAY);
}

/* ------------------------------------------------------------------------
 * C++ operator new and delete
 *
 * strata's own, so that the debug mode records which of malloc, new and
 * new[] made a block and stops a delete of another kind: malloc/delete,
 * new/delete[], new[]/delete.  Outside the debug mode new is malloc and
 * delete is free, as libstdc++'s are.  A failed new is handed to the next
 * operator new (libstdc++'s, which runs the new-handler and throws
 * std::bad_alloc: C cannot throw).  The aligned forms stay libstdc++'s
 * (aligned_alloc and free: a malloc block freed as one).
 * ---------------------------------------------------------------------- */
static const char *const kind_names[] = { "malloc", "new", "new[]" };

static strata_cold void kind_mismatch(const void *p, unsigned kind, unsigned want)
{
	const char *made = kind < 3 ? kind_names[kind] : "an unknown call";
	_strata_fatal("operator %s(%p): the block came from %s (a %s/%s mismatch)",
	              want == DEBUG_KIND_NEW ? "delete" : "delete[]", p, made, made,
	              want == DEBUG_KIND_NEW ? "delete" : "delete[]");
}

/* b is p's block, looked up live; the debug mode only. */
static void kind_check(void *p, const struct block *b, unsigned want)
{
	if (b->kind != BLOCK_GUARD && !block_debug_layout(b))
		return; /* made without a kind: a cache's, a private heap's, malloc(0)'s */
	unsigned kind = b->kind == BLOCK_GUARD ? guard_block_kind(b->guard, p)
	                                       : debug_block_kind(p, b->usable);
	if (unlikely(kind != want))
		kind_mismatch(p, kind, want);
}

static strata_cold void *new_failed(size_t size, const char *name)
{
	void *(*next)(size_t) = (void *(*)(size_t))dlsym(RTLD_NEXT, name);
	if (next != NULL)
		return next(size);
	_strata_fatal("%s(%zu): out of memory and no operator new to throw", name, size);
}

static void *debug_new(size_t size, unsigned kind)
{
	size_t align = size <= SMALL_MAX ? class_alignment(size_to_class(size)) : MIN_ALIGN;
	return debug_alloc(size, align, false, kind);
}

/* name: the operator's symbol, whose next definition new_failed calls
 * (the one that throws); NULL for the nothrow forms.  dry: the table's
 * entry for size ran dry (heap_pop_last found nothing), else size is
 * above the small classes. */
static inline __attribute__((always_inline)) void *cxx_new_other(size_t size, unsigned kind,
                                                                 const char *name, bool dry)
{
	strata_ensure_init(); /* the debug option */
	void *p = unlikely(debug_mode()) ? debug_new(size, kind)
	          : dry                  ? alloc_table_dry(size)
	                                 : alloc_large(size, MIN_ALIGN, false);
	return likely(p != NULL) || name == NULL ? p : new_failed(size, name);
}

static void *cxx_list_end(struct heap_fast *f, size_t size, unsigned kind, const char *name);

/* Above the table: as malloc's. */
static noinline void *cxx_new_slow(size_t size, unsigned kind, const char *name)
{
	if (likely(size <= SMALL_MAX))
		return alloc_entry_pop(size_to_class_offset_hi(size), size, cxx_list_end, kind,
		                       name);
	return cxx_new_other(size, kind, name, false);
}

static noinline void *cxx_new_dry(size_t size, unsigned kind, const char *name)
{
	return cxx_new_other(size, kind, name, true);
}

/* The table's entry for size ran dry. */
static noinline void *cxx_list_end(struct heap_fast *f, size_t size, unsigned kind,
                                   const char *name)
{
	void *q = heap_pop_last(f, f->free);
	return likely(q != NULL) ? q : cxx_new_dry(size, kind, name);
}

/* malloc's fast path, inline: the debug mode, which must know a block of
 * new from one of new[] or malloc, never takes it (its heaps' lists are
 * always empty, and so is a thread's heap before start-up). */
static inline __attribute__((always_inline)) void *cxx_new(size_t size, unsigned kind,
                                                           const char *name)
{
	return alloc_table_pop(size, cxx_list_end, cxx_new_slow, kind, name);
}

static noinline void cxx_delete_debug(void *p, unsigned kind)
{
	if (p != NULL) {
		struct block b = block_lookup_live(p, "operator delete");
		kind_check(p, &b, kind);
	}
	API(free)(p);
}

/* free's fast path, inline, once the debug mode is ruled out. */
static inline __attribute__((always_inline)) void cxx_delete(void *p, unsigned kind)
{
	if (unlikely(debug_mode())) {
		cxx_delete_debug(p, kind);
		return;
	}
	free_fast(p);
}

/* operator new(std::size_t), operator new[](std::size_t) */
strata_export void *API(_Znwm)(size_t size)
{
	return cxx_new(size, DEBUG_KIND_NEW, "_Znwm");
}

strata_export void *API(_Znam)(size_t size)
{
	return cxx_new(size, DEBUG_KIND_NEW_ARRAY, "_Znam");
}

/* The nothrow forms: NULL on failure. */
strata_export void *API(_ZnwmRKSt9nothrow_t)(size_t size, const void *nothrow)
{
	(void)nothrow;
	return cxx_new(size, DEBUG_KIND_NEW, NULL);
}

strata_export void *API(_ZnamRKSt9nothrow_t)(size_t size, const void *nothrow)
{
	(void)nothrow;
	return cxx_new(size, DEBUG_KIND_NEW_ARRAY, NULL);
}

/* operator delete(void *), operator delete[](void *) */
strata_export void API(_ZdlPv)(void *p)
{
	cxx_delete(p, DEBUG_KIND_NEW);
}

strata_export void API(_ZdaPv)(void *p)
{
	cxx_delete(p, DEBUG_KIND_NEW_ARRAY);
}

/* A private heap's realloc (zone.c's strata_heap_*): a block of the heap
 * stays in it, through realloc. */
strata_export void *strata_heap_realloc(strata_heap_t *heap, void *p, size_t size)
{
	if (p == NULL)
		return strata_heap_malloc(heap, size);
	return API(realloc)(p, size);
}
