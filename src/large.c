/* SPDX-License-Identifier: MIT */
/*
 * large.c - large runs from the buddy, huge blocks straight from the OS.
 *
 * A large run is npages whole pages: its head descriptor is PAGE_LARGE with
 * the length, every other page PAGE_NONE, so a pointer into the middle of a
 * run is recognised as not a block start.  Runs are cut exactly (no rounding
 * to a power of two) and can grow in place when the pages after them are
 * free, and shrink in place by freeing their tail.
 *
 * A huge block is its own mapping, aligned to a region so that the pagemap
 * slots it covers are its own; the first page holds a small header, and
 * the page after the mapping is a guard page (no access).  The user pointer
 * starts at least a page (or the requested alignment) in, placed so that
 * the block ends where the mapping does (to 16 bytes): an overflow faults
 * on the guard.  The word below the pointer holds a canary, checked at
 * free, for an underflow.  realloc of a huge block lets the kernel move its
 * page tables (mremap) rather than copy, and a freed one is kept a while
 * for the next, without access (see "Freed huge blocks kept for reuse").
 */
#include "large.h"
#include "debug.h"
#include "options.h"
#include "buddy.h"
#include "dlist.h"
#include "os.h"
#include "pagemap.h"

#include <errno.h>
#include <string.h>

static strata_lock_t huge_list_lock = STRATA_LOCK_INIT;
static struct huge  *huge_list;

static size_t huge_live_bytes; /* of the live huge blocks */

static void huge_link(struct huge *h)
{
	lock_acquire(&huge_list_lock);
	dlist_push(huge_list, h);
	huge_live_bytes += h->map_size;
	lock_release(&huge_list_lock);
}

static void huge_unlink(struct huge *h)
{
	lock_acquire(&huge_list_lock);
	dlist_del(huge_list, h);
	huge_live_bytes -= h->map_size;
	lock_release(&huge_list_lock);
}

void huge_for_each(void (*fn)(struct huge *h, void *arg), void *arg)
{
	lock_acquire(&huge_list_lock);
	for (struct huge *h = huge_list; h; h = h->next)
		fn(h, arg);
	lock_release(&huge_list_lock);
}

void huge_lock(void)
{
	lock_acquire(&huge_list_lock);
}

void huge_unlock(void)
{
	lock_release(&huge_list_lock);
}

void huge_reinit_lock(void)
{
	lock_reinit(&huge_list_lock);
}

/* fork: the huge blocks on hugetlb pages copied for the child, as the
 * arenas' regions are (arena_fork_copy_hugetlb), with huge_list_lock held. */
void huge_fork_copy_hugetlb(void)
{
	for (struct huge *h = huge_list; h; h = h->next)
		if (!huge_movable(h))
			os_fork_copy_add(h, h->map_size);
}

void huge_fork_copied_child(void)
{
	for (struct huge *h = huge_list; h; h = h->next)
		if (!huge_movable(h) && os_fork_copied(h))
			h->backing = BACKING_PAGES;
}

/* ------------------------------------------------------------------------
 * Large runs
 * ---------------------------------------------------------------------- */
static struct page *large_take(struct arena *a, size_t npages, unsigned align_order, bool *dirty)
{
	struct page *pg = buddy_alloc_pages(a, npages, align_order, dirty);
	if (pg == NULL && arena_grow(a))
		pg = buddy_alloc_pages(a, npages, align_order, dirty);
	return pg;
}

/* The canary's two words, from their address and a secret: a copy of
 * another block's canary does not fit.  Its first byte, the one an
 * overflow by one byte writes, is fixed and neither a NUL (a string's
 * terminator one past the end is the commonest overflow) nor text: a
 * secret byte would equal the value written once in 256. */
#define LARGE_CANARY_FIRST 0xa5

static inline uintptr_t large_canary_word(const uintptr_t *w, unsigned i)
{
	uintptr_t v = (uintptr_t)&w[i] ^ _strata_link_key ^ 0x5a5a5a5a5a5a5a5aull;
	return i == 0 ? (v & ~(uintptr_t)0xff) | LARGE_CANARY_FIRST : v;
}

/* Give the run at pg, handed out for size bytes, its canary when it has
 * room for one (not in the debug mode, whose blocks have their own). */
void large_canary_set(struct page *pg, size_t size)
{
	size_t usable = ALIGN_UP(size, MIN_ALIGN);
	pg->guarded = 0;
	if (debug_mode() || usable + LARGE_CANARY > ((size_t)pg->npages << PAGE_SHIFT))
		return;
	uintptr_t *w = (uintptr_t *)((char *)page_address(pg) + usable);
	w[0] = large_canary_word(w, 0);
	w[1] = large_canary_word(w, 1);
	pg->guarded = (uint32_t)usable;
}

void large_canary_check(struct page *pg, const char *op)
{
	if (pg->guarded == 0)
		return;
	char      *p = page_address(pg);
	uintptr_t *w = (uintptr_t *)(p + pg->guarded);
	uintptr_t  want[2] = { large_canary_word(w, 0), large_canary_word(w, 1) };
	if (likely(w[0] == want[0] && w[1] == want[1]))
		return;
	unsigned byte = 0;
	while (((unsigned char *)w)[byte] == ((unsigned char *)want)[byte])
		byte++;
	_strata_fatal("heap overflow past %p (%u bytes; byte %u, the canary, was written; "
	              "found by %s)",
	              (void *)p, pg->guarded, pg->guarded + byte, op);
}

/* A run for size bytes made a large run under a's lock: any that fits
 * (the arena grows for it), or with dirty_only one cut from the free runs
 * around dirty blocks; NULL if there is none. */
static void *large_run(struct arena *a, size_t size, unsigned align_order, bool zero,
                       bool dirty_only)
{
	size_t   npages = large_pages_for(size);
	bool     dirty = false;
	uint64_t now = os_now_ms();

	lock_acquire(&a->lock);
	arena_maybe_decay(a, now);
	struct page *pg = dirty_only ? buddy_alloc_dirty_run(a, npages, &dirty)
	                             : large_take(a, npages, align_order, &dirty);
	if (pg) {
		pg->state = PAGE_LARGE;
		pg->npages = (uint32_t)npages;
		a->stats.large_pages += npages;
		arena_note_active(a);
	}
	lock_release(&a->lock);
	arena_background_start();
	if (pg == NULL)
		return NULL;
	void *p = page_address(pg);
	if (zero && dirty)
		memset(p, 0, npages << PAGE_SHIFT);
	large_canary_set(pg, size);
	return p;
}

void *large_alloc(struct arena *a, size_t size, size_t align, bool zero)
{
	unsigned align_order = align > PAGE_SIZE ? order_for_pages(align >> PAGE_SHIFT) : 0;
	void    *p = large_run(a, size, align_order, zero, false);
	if (p == NULL)
		errno = ENOMEM;
	return p;
}

/* A block above LARGE_MAX (up to LARGE_DIRTY_MAX) from a free run of the
 * arena that holds dirty blocks (the clean ones beside them may be taken
 * with them), when one holds it; else NULL, and the caller maps a huge
 * block.  The arenas' freed memory stays resident until the decay gives it
 * back, and a program whose blocks of every size come and go keeps much of
 * it in runs of megabytes; a huge block mapped beside them faults in every
 * page again and adds its own to the peak.  bench/compare's budget (4
 * threads, 48 MiB live, blocks up to 9 MiB): peak RSS 158.4 -> 150.6 MiB,
 * 0.404 -> 0.388 s.  Runs of clean blocks alone and new regions are not
 * taken: a region would be mostly slack around such a block. */
void *large_alloc_dirty(struct arena *a, size_t size, bool zero)
{
	return large_run(a, size, 0, zero, true);
}

void large_free(struct page *pg)
{
	struct arena *a = page_region(pg)->arena;
	uint64_t      now = os_now_ms();
	lock_acquire(&a->lock);
	size_t npages = pg->npages;
	a->stats.large_pages -= npages;
	pg->state = PAGE_NONE;
	buddy_free_range(a, pg, npages, true);
	arena_maybe_decay(a, now);
	lock_release(&a->lock);
	arena_background_start();
}

/* Resize a run where it stands; false when the pages after it are taken. */
bool large_resize(struct page *pg, size_t new_size)
{
	struct arena *a = page_region(pg)->arena;
	size_t        old = pg->npages, want = large_pages_for(new_size);
	bool          ok = true;

	if (want == old) {
		large_canary_set(pg, new_size);
		return true;
	}
	lock_acquire(&a->lock);
	if (want < old)
		buddy_free_range(a, pg + want, old - want, true);
	else
		ok = buddy_claim(a, pg + old, want - old);
	if (ok) {
		pg->npages = (uint32_t)want;
		a->stats.large_pages = a->stats.large_pages - old + want;
		arena_note_active(a);
	}
	lock_release(&a->lock);
	if (ok)
		large_canary_set(pg, new_size);
	return ok;
}

/* ------------------------------------------------------------------------
 * Huge blocks
 * ---------------------------------------------------------------------- */
/* Map a huge block as the hugepages option asks: with hugetlb, on 1 GiB
 * pages when asked (hugetlb_1g) and the mapping is that big, else on 2 MiB
 * pages (the size rounded up to them), else advised for THP like the other
 * modes but off.  *map_size grows to the page size used. */
static struct huge *huge_map(size_t *map_size, size_t align, uint8_t *backing)
{
	long         mode = strata_option(OPT_HUGEPAGES);
	struct huge *h;
	*backing = BACKING_PAGES;
	if (mode == HUGEPAGES_HUGETLB) {
		if (strata_option(OPT_HUGETLB_1G) && *map_size >= GIGA_PAGE_SIZE) {
			size_t size = ALIGN_UP(*map_size, GIGA_PAGE_SIZE);
			if ((h = os_map_hugetlb(size, MAX(align, GIGA_PAGE_SIZE), GIGA_PAGE_SHIFT,
			                        true))) {
				*map_size = size;
				*backing = BACKING_HUGETLB_1G;
				return h;
			}
		}
		size_t size = ALIGN_UP(*map_size, HUGE_PAGE_SIZE);
		/* reserved at mmap: the program touches every page of it */
		if ((h = os_map_hugetlb(size, MAX(align, HUGE_PAGE_SIZE), HUGE_PAGE_SHIFT, true))) {
			*map_size = size;
			*backing = BACKING_HUGETLB;
			return h;
		}
		hugetlb_fell_back();
	}
	h = os_map_aligned(*map_size + PAGE_SIZE, align); /* and the guard page */
	if (h == NULL)
		return NULL;
	os_protect((char *)h + *map_size, PAGE_SIZE, false); /* else just a spare page */
	if (mode != HUGEPAGES_OFF && os_advise_huge(h, *map_size))
		*backing = BACKING_THP;
	return h;
}

/* A guard page after h's mapping again, after a resize (where nothing else
 * took the place); h->guard says whether it is there. */
static void huge_guard_add(struct huge *h)
{
	h->guard = huge_movable(h) && os_map_guard_at((char *)h + h->map_size, PAGE_SIZE);
}

/* Before a resize: the guard page would stand in mremap's way. */
static void huge_guard_drop(struct huge *h)
{
	if (h->guard)
		os_unmap((char *)h + h->map_size, PAGE_SIZE);
	h->guard = 0;
}

/* ------------------------------------------------------------------------
 * Freed huge blocks kept for reuse
 *
 * A program that allocates and frees big buffers in a loop would otherwise
 * map, fault in and unmap every one of them.  A freed huge block is kept
 * mapped instead, its pages resident, in a small cache.  The next huge
 * block of a size that fits takes it, grown or shrunk with mremap (which
 * moves page tables, not pages), and pays no page fault for the pages it
 * keeps.  A kept block is unmapped decay_ms after it was freed, when the
 * cache would pass its budget (below), or when the arenas' pages in use
 * have grown by half its size past their recent peak at its free (the
 * decay's windows): the program has moved on from blocks of its size to
 * smaller ones, and its resident pages would only add to the new peak
 * (sqlite3 frees a 16 MiB array, then its page cache grows: peak RSS 78.7
 * -> 67.5 MiB).  From the peak, not from the pages in use at the free,
 * while the heap is far from the memory limit (arena.c): a heap whose pages
 * in use swing below their peak while it frees and allocates huge blocks
 * among others (bench/compare's budget) kept losing them and mapping them
 * again (12% of its time).  Near the limit, from the pages in use at the
 * free, and the cache's budget has no minimum: the same program in a 128
 * MiB cgroup (tests/cgroup.sh) peaked at 108-120 MiB without these, 109-117
 * with them (a run of a dozen reached the limit before the decay's switch
 * moved from half of the limit to a quarter).  hugetlb blocks are not kept (their
 * pool pages are for others), nor anything in the debug mode, where a use
 * after free must fault.
 *
 * A kept block stays in the pagemap, marked SEG_HUGE_FREED, so a second
 * free names it; with the option huge_close the page its pointer starts
 * is closed (mprotect, no access; opened again when it is reused): a read
 * or write through a stale pointer from the block's start faults, and the
 * fault handler (guard.c) names it.  The block freed last is not handed out while the cache
 * could keep it beside the new block (the budget allows both): a write
 * through the pointer just freed then faults rather than landing in the
 * next block of its size.
 * ---------------------------------------------------------------------- */
#define HUGE_CACHE_SLOTS     8
#define HUGE_CACHE_MIN_BYTES ((size_t)32 << 20)
#define HUGE_CACHE_SHIFT     2
/* A kept block serves a smaller request as it is while it is at most this
 * many times bigger, else it is shrunk first. */
#define HUGE_REUSE_SLACK 8

static struct huge *huge_cache[HUGE_CACHE_SLOTS]; /* oldest first */
static unsigned     huge_ncached;
static size_t       huge_cached_bytes;
/* The arenas' bytes in use at which the first kept block goes (see
 * huge_moved_on): the new-peak hook's test before it takes the lock. */
static size_t huge_follow_at = SIZE_MAX;

/* A kept block goes once the arenas' bytes in use grew by this share of
 * its size since its free (see above). */
#define HUGE_MOVED_ON_SHIFT 1

/* The arenas' bytes in use; read without their locks. */
static size_t arenas_used_bytes(void)
{
	size_t used = 0;
	for (unsigned i = 0; i < _strata_narenas; i++)
		used += arena_active_pages(&_strata_arenas[i]) << PAGE_SHIFT;
	return used;
}

/* The bytes of the huge blocks, live and kept: the decay's measure of
 * the heap (arena.c) counts them. */
size_t huge_mapped_bytes(void)
{
	return __atomic_load_n(&huge_live_bytes, __ATOMIC_RELAXED)
	       + __atomic_load_n(&huge_cached_bytes, __ATOMIC_RELAXED);
}

/* The arenas' recent peak of bytes in use (the decay's windows).  Read
 * without their locks. */
static size_t arenas_peak_bytes(void)
{
	size_t peak = 0;
	for (unsigned i = 0; i < _strata_narenas; i++) {
		const struct arena *a = &_strata_arenas[i];
		peak += MAX(__atomic_load_n(&a->peak_pages, __ATOMIC_RELAXED),
		            __atomic_load_n(&a->peak_prev, __ATOMIC_RELAXED))
		        << PAGE_SHIFT;
	}
	return peak;
}

/* What the cache may hold (see above). */
static size_t huge_cache_budget(void)
{
	size_t used = __atomic_load_n(&huge_live_bytes, __ATOMIC_RELAXED) + arenas_used_bytes();
	/* near the memory limit, no minimum */
	return arena_near_limit() ? used >> HUGE_CACHE_SHIFT
	                          : MAX(HUGE_CACHE_MIN_BYTES, used >> HUGE_CACHE_SHIFT);
}

/* Out of the pagemap, then unmapped with its guard page. */
static void huge_unmap(struct huge *h)
{
	pagemap_clear(h, h->map_size);
	os_unmap(h, h->map_size + (h->guard ? PAGE_SIZE : 0));
}

/* With the option huge_close, a kept block's first page, where its
 * pointer lies: closed while it waits.  Only that page, and not by
 * default: on a virtual machine with shadow page tables each mprotect
 * costs the next accesses traps to the hypervisor (closing whole 15 MB
 * blocks made bench/wl_hugeloop 15 times slower, closing one page 0.14 ->
 * 0.18 s for 1,000 blocks). */
#define HUGE_CLOSED_BYTES PAGE_SIZE

static bool huge_protect(struct huge *h, bool access)
{
	if (!strata_option(OPT_HUGE_CLOSE))
		return true;
	uintptr_t first = (uintptr_t)huge_pointer(h) & ~(uintptr_t)(PAGE_SIZE - 1);
	size_t    bytes = MIN(HUGE_CLOSED_BYTES, (uintptr_t)h + h->map_size - first);
	return os_protect((void *)first, bytes, access);
}

/* The arenas' bytes in use past which the program has moved on from kept
 * block h: half its size more than their peak (or, near the memory limit,
 * their bytes in use) at its free. */
static size_t huge_moved_on_at(const struct huge *h)
{
	return h->used_at_free + (h->map_size >> HUGE_MOVED_ON_SHIFT);
}

/* With huge_list_lock held, after the cache changed. */
static void huge_follow_update(void)
{
	size_t at = SIZE_MAX;
	for (unsigned i = 0; i < huge_ncached; i++)
		at = MIN(at, huge_moved_on_at(huge_cache[i]));
	__atomic_store_n(&huge_follow_at, at, __ATOMIC_RELAXED);
}

/* With huge_list_lock held: take entry i out of the cache. */
static struct huge *huge_cache_remove(unsigned i)
{
	struct huge *h = huge_cache[i];
	for (unsigned j = i + 1; j < huge_ncached; j++)
		huge_cache[j - 1] = huge_cache[j];
	huge_ncached--;
	huge_cached_bytes -= h->map_size;
	huge_follow_update();
	return h;
}

static bool huge_cacheable(const struct huge *h, size_t budget)
{
	return huge_movable(h) && !debug_mode() && strata_option(OPT_DECAY_MS) != 0
	       && h->map_size <= budget;
}

/* Keep a freed block (unlinked, still in the pagemap), closed, or unmap it. */
static void huge_cache_put(struct huge *h)
{
	size_t budget = huge_cache_budget();
	if (huge_cacheable(h, budget))
		link_set(huge_pointer(h), NULL); /* the freed mark: see huge_mark_check */
	if (!huge_cacheable(h, budget) || !huge_protect(h, false)) {
		huge_unmap(h);
		return;
	}
	struct huge *evicted[HUGE_CACHE_SLOTS];
	unsigned     n = 0;
	__atomic_store_n(&h->kind, SEG_HUGE_FREED, __ATOMIC_RELEASE);
	h->freed_ms = os_now_ms();
	h->used_at_free = arena_near_limit() ? arenas_used_bytes() : arenas_peak_bytes();
	lock_acquire(&huge_list_lock);
	while (huge_ncached > 0
	       && (huge_ncached == HUGE_CACHE_SLOTS || huge_cached_bytes + h->map_size > budget))
		evicted[n++] = huge_cache_remove(0);
	huge_cache[huge_ncached++] = h;
	huge_cached_bytes += h->map_size;
	huge_follow_update();
	lock_release(&huge_list_lock);
	while (n > 0)
		huge_unmap(evicted[--n]); /* munmap outside the lock: it is slow */
	arena_background_request();       /* so an idle program unmaps it in time */
}

/* May kept block h serve a request aligned to map_align for node? */
static bool huge_cache_fits(const struct huge *h, size_t map_align, int node)
{
	return h->map_align >= map_align && h->node == node;
}

/* Is h a better choice than best for map_size bytes: the smallest block
 * big enough, else the biggest one, to grow? */
static bool huge_better(const struct huge *h, const struct huge *best, size_t map_size)
{
	if (best == NULL)
		return true;
	if (h->map_size >= map_size)
		return best->map_size < map_size || h->map_size < best->map_size;
	return best->map_size < map_size && h->map_size > best->map_size;
}

static struct huge *huge_cache_take(size_t map_size, size_t map_align, int node)
{
	size_t       budget = huge_cache_budget();
	struct huge *best = NULL;
	unsigned     at = 0;
	lock_acquire(&huge_list_lock);
	/* The block freed last waits while the cache can keep it and the new one. */
	unsigned n = huge_ncached;
	if (n > 0 && huge_cached_bytes + map_size <= budget)
		n--;
	for (unsigned i = 0; i < n; i++) {
		struct huge *h = huge_cache[i];
		if (huge_cache_fits(h, map_align, node) && huge_better(h, best, map_size)) {
			best = h;
			at = i;
		}
	}
	if (best)
		huge_cache_remove(at);
	lock_release(&huge_list_lock);
	return best;
}

/* A kept block's first 16 bytes hold a free list's end (link and key,
 * internal.h) from its free on: a write through a stale pointer to the
 * block's start that the closed page (huge_close) did not stop shows
 * there, when the block is reused or at exit. */
static void huge_mark_check(struct huge *h)
{
	link_check_end(huge_pointer(h));
}

/* At exit: the kept blocks' marks, unless their first pages are closed. */
void huge_cache_verify(void)
{
	if (strata_option(OPT_HUGE_CLOSE))
		return;
	lock_acquire(&huge_list_lock);
	for (unsigned i = 0; i < huge_ncached; i++)
		huge_mark_check(huge_cache[i]);
	lock_release(&huge_list_lock);
}

/* Make a kept block map_size bytes long and usable again; NULL (and the
 * block unmapped) when the kernel will not. */
static struct huge *huge_reuse(struct huge *h, size_t map_size)
{
	size_t old = h->map_size;
	if (!huge_protect(h, true)) {
		huge_unmap(h);
		return NULL;
	}
	huge_mark_check(h);
	if (old >= map_size && old <= HUGE_REUSE_SLACK * map_size)
		return h;
	/* Cleared before the kernel may release the old range (huge_realloc). */
	pagemap_clear(h, old);
	huge_guard_drop(h);
	if (!os_remap_inplace(h, old, map_size)) {
		struct huge *n = old > map_size ? NULL
		                                : os_remap_aligned(h, old, map_size, h->map_align);
		if (n == NULL) {
			huge_unmap(h);
			return NULL;
		}
		h = n;
	}
	h->map_size = map_size;
	huge_guard_add(h);
	return h;
}

/* Unmap the kept blocks for which gone(block, arg) holds; returns the
 * bytes unmapped.  Without wait, nothing when the cache's lock is busy. */
static size_t huge_cache_evict(bool (*gone)(const struct huge *h, uint64_t arg), uint64_t arg,
                               bool wait)
{
	struct huge *evicted[HUGE_CACHE_SLOTS];
	unsigned     n = 0;
	size_t       bytes = 0;
	if (wait)
		lock_acquire(&huge_list_lock);
	else if (!lock_try(&huge_list_lock))
		return 0;
	for (unsigned i = 0; i < huge_ncached;) {
		if (gone(huge_cache[i], arg))
			evicted[n++] = huge_cache_remove(i);
		else
			i++;
	}
	lock_release(&huge_list_lock);
	while (n > 0) {
		bytes += evicted[--n]->map_size;
		huge_unmap(evicted[n]);
	}
	return bytes;
}

/* Freed decay_ms or more before now_ms (every block, with now_ms
 * UINT64_MAX).  A caller's now_ms may be older than a block freed since
 * it was read: not expired. */
static bool huge_expired(const struct huge *h, uint64_t now_ms)
{
	long decay = strata_option(OPT_DECAY_MS);
	return now_ms == UINT64_MAX
	       || (decay >= 0 && now_ms >= h->freed_ms && now_ms - h->freed_ms >= (uint64_t)decay);
}

static bool huge_moved_on(const struct huge *h, uint64_t used)
{
	return used >= huge_moved_on_at(h);
}

void huge_cache_decay(uint64_t now_ms)
{
	if (__atomic_load_n(&huge_ncached, __ATOMIC_RELAXED))
		huge_cache_evict(huge_expired, now_ms, true);
}

size_t huge_cache_trim(void)
{
	return huge_cache_evict(huge_expired, UINT64_MAX, true);
}

/* An arena's pages in use passed their peak (arena.c), its lock held.
 * fork's preparation takes the cache's lock before the arenas' (init.c):
 * a try, so that neither waits for the other; a later peak tries again.
 * The unmap is made under the arena's lock: once per kept block at most,
 * and left to a later pass the block would stay resident on the new peak
 * it is unmapped to avoid. */
void huge_cache_follow(void)
{
	if (!__atomic_load_n(&huge_ncached, __ATOMIC_RELAXED))
		return;
	size_t used = arenas_used_bytes();
	if (used >= __atomic_load_n(&huge_follow_at, __ATOMIC_RELAXED))
		huge_cache_evict(huge_moved_on, used, false);
}

/* Visit every kept block under the huge-list lock. */
void huge_for_each_cached(void (*fn)(struct huge *h, void *arg), void *arg)
{
	lock_acquire(&huge_list_lock);
	for (unsigned i = 0; i < huge_ncached; i++)
		fn(huge_cache[i], arg);
	lock_release(&huge_list_lock);
}

/* ------------------------------------------------------------------------
 * Huge blocks: allocation and free
 * ---------------------------------------------------------------------- */

/* A block of map_size bytes: a kept one if one fits, else a new mapping
 * bound to node before anything touches it.  *reused says which. */
static struct huge *huge_get(size_t *map_size, size_t map_align, int node, bool *reused)
{
	struct huge *h = NULL;
	*reused = false;
	if (strata_option(OPT_HUGEPAGES) != HUGEPAGES_HUGETLB) {
		huge_cache_decay(os_now_ms());
		h = huge_cache_take(*map_size, map_align, node);
		if (h && (h = huge_reuse(h, *map_size)) != NULL) {
			*reused = true;
			*map_size = h->map_size;
			return h;
		}
	}
	uint8_t backing;
	h = huge_map(map_size, map_align, &backing);
	if (h == NULL)
		return NULL;
	nodes_bind(h, *map_size, node); /* before the header is written */
	h->backing = backing;
	h->guard = huge_movable(h);
	h->node = node;
	return h;
}

/* The canary in the word below a huge block's pointer: a secret drawn at
 * the first huge block, so a program cannot write it by chance.  Its top
 * byte, the one just below the block, has its high bit set: an underflow
 * by one byte of a character or a small number (below 0x80) never leaves
 * it whole, where a random byte would match one such write in 256. */
#define HUGE_CANARY_TOP ((uintptr_t)0x80 << 56)

static uintptr_t huge_canary_key;

static uintptr_t huge_canary(void)
{
	uintptr_t key = __atomic_load_n(&huge_canary_key, __ATOMIC_RELAXED);
	if (unlikely(key == 0)) {
		uintptr_t fresh = (uintptr_t)os_random() | HUGE_CANARY_TOP | 1;
		if (!__atomic_compare_exchange_n(&huge_canary_key, &key, fresh, false,
		                                 __ATOMIC_RELAXED, __ATOMIC_RELAXED))
			return key; /* another thread drew it first */
		key = fresh;
	}
	return key;
}

static uintptr_t *huge_canary_word(const struct huge *h)
{
	return (uintptr_t *)huge_pointer(h) - 1;
}

static void huge_canary_check(const struct huge *h)
{
	if (unlikely(*huge_canary_word(h) != huge_canary()))
		_strata_fatal("heap underflow before %p (a huge block of %zu bytes: the word "
		              "before it was written)",
		              huge_pointer(h), huge_usable(h));
}

/* Where the pointer of a block of size bytes goes in a mapping of map_size
 * bytes: at least a page (or align) in, and, with a guard page after the
 * mapping, as far up as align allows, so the block ends at the guard. */
static size_t huge_offset(const struct huge *h, size_t map_size, size_t size, size_t align)
{
	if (!h->guard)
		return MAX(PAGE_SIZE, align);
	return (map_size - size) & ~(MAX(align, (size_t)MIN_ALIGN) - 1);
}

void *huge_alloc(size_t size, size_t align, int node, bool zero)
{
	size = MAX(size, 1); /* size 0 with a big alignment: one usable byte */
	size_t offset = MAX(PAGE_SIZE, align);
	size_t map_align = MAX(REGION_SIZE, align);
	if (size > SIZE_MAX - offset - PAGE_SIZE) {
		errno = ENOMEM;
		return NULL;
	}
	size_t       map_size = ALIGN_UP(offset + size, PAGE_SIZE);
	bool         reused;
	struct huge *h = huge_get(&map_size, map_align, node, &reused);
	if (h == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	h->kind = SEG_HUGE;
	h->map_size = map_size;
	h->offset = huge_offset(h, map_size, size, align);
	h->map_align = map_align;
	h->sampled = 0;
	h->zone = NULL;
	*huge_canary_word(h) = huge_canary();
	huge_link(h);
	pagemap_set(h, map_size, h);
	if (zero && reused)
		memset(huge_pointer(h), 0, size);
	return huge_pointer(h);
}

/* The last few huge blocks freed: their mappings are gone, so a second
 * free of one finds no owner; this ring lets it be called a double free
 * rather than a foreign pointer.  Best effort, no lock: relaxed slots. */
#define HUGE_FREED_RING 64
static uintptr_t huge_freed[HUGE_FREED_RING];
static unsigned  huge_freed_next;

bool huge_was_freed(const void *p)
{
	for (unsigned i = 0; i < HUGE_FREED_RING; i++)
		if (__atomic_load_n(&huge_freed[i], __ATOMIC_RELAXED) == (uintptr_t)p)
			return true;
	return false;
}

void huge_free(struct huge *h)
{
	huge_canary_check(h);
	unsigned slot = __atomic_fetch_add(&huge_freed_next, 1, __ATOMIC_RELAXED) % HUGE_FREED_RING;
	__atomic_store_n(&huge_freed[slot], (uintptr_t)huge_pointer(h), __ATOMIC_RELAXED);
	huge_unlink(h);
	huge_cache_put(h); /* kept, or out of the pagemap and unmapped */
}

/* The huge block whose mapping, guard page or the rest of whose last
 * pagemap slot holds x.  For the fault handler: no lock, only loads. */
static const struct huge *huge_near(uintptr_t x)
{
	const struct huge *h = pagemap_lookup((void *)x);
	if (h == NULL || (h->kind != SEG_HUGE && h->kind != SEG_HUGE_FREED))
		h = pagemap_lookup((void *)(x - PAGE_SIZE)); /* a guard page in the next slot */
	if (h == NULL || (h->kind != SEG_HUGE && h->kind != SEG_HUGE_FREED))
		return NULL;
	return h;
}

bool huge_fault_lookup(uintptr_t x, struct fault_block *b)
{
	const struct huge *h = huge_near(x);
	if (h == NULL)
		return false;
	uintptr_t end = (uintptr_t)h + h->map_size;
	*b = (struct fault_block){ .ptr = (uintptr_t)huge_pointer(h),
		                   .size = huge_usable(h),
		                   .freed = h->kind == SEG_HUGE_FREED && x < end,
		                   .guard = h->guard && x >= end && x < end + PAGE_SIZE };
	return b->freed || x >= end;
}

/* Resize with mremap: in place if the kernel can, else moved (not copied)
 * to a new region-aligned place.  NULL with errno ENOMEM when neither. */
void *huge_realloc(struct huge *h, size_t new_size)
{
	size_t old_map = h->map_size;
	if (new_size > SIZE_MAX - h->offset - PAGE_SIZE) {
		errno = ENOMEM;
		return NULL;
	}
	size_t new_map = ALIGN_UP(h->offset + new_size, PAGE_SIZE);
	huge_canary_check(h);
	if (new_map == old_map)
		return huge_pointer(h);

	struct huge *n = h;
	huge_unlink(h); /* the header may move with the mapping */
	/* Cleared before the kernel may release the old range: once it is
	 * released, another thread may map a region there and set its slots. */
	pagemap_clear(h, old_map);
	huge_guard_drop(h);
	if (!os_remap_inplace(h, old_map, new_map)) {
		n = os_remap_aligned(h, old_map, new_map, h->map_align);
		if (n == NULL) {
			huge_guard_add(h);
			pagemap_set(h, old_map, h);
			huge_link(h);
			errno = ENOMEM;
			return NULL;
		}
	}
	n->map_size = new_map; /* before it is listed: statistics read it */
	huge_guard_add(n);
	huge_link(n);
	pagemap_set(n, new_map, n);
	return huge_pointer(n);
}
