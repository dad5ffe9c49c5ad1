/*
 * arena.c - arenas: a buddy heap of regions, its slab bins, its lock.
 *
 * There are several arenas (one per CPU by default) so threads rarely wait
 * on the same lock; a thread is bound to one when its cache is set up, round
 * robin.  An object always returns to the arena that owns its region,
 * whichever thread frees it.  An arena grows a region at a time and gives
 * idle regions back on trim, keeping one.
 */
#include "arena.h"
#include "buddy.h"
#include "options.h"
#include "os.h"
#include "pagemap.h"
#include "slab.h"

#include <string.h>

struct arena _strata_arenas[MAX_ARENAS];
unsigned _strata_narenas = 1;

static unsigned arena_next;

void arena_init(struct arena *a, unsigned index)
{
	memset(a, 0, sizeof(*a));
	lock_reinit(&a->lock);
	a->index = index;
}

struct arena *arena_pick(void)
{
	unsigned n = __atomic_fetch_add(&arena_next, 1, __ATOMIC_RELAXED);
	return &_strata_arenas[n % _strata_narenas];
}

/* ------------------------------------------------------------------------
 * Regions
 * ---------------------------------------------------------------------- */
static void region_link(struct arena *a, struct region *r)
{
	r->prev = NULL;
	r->next = a->regions;
	if (a->regions)
		a->regions->prev = r;
	a->regions = r;
	a->nr_regions++;
	a->stats.mapped += REGION_SIZE;
}

static void region_unlink(struct arena *a, struct region *r)
{
	if (r->prev)
		r->prev->next = r->next;
	else
		a->regions = r->next;
	if (r->next)
		r->next->prev = r->prev;
	a->nr_regions--;
	a->stats.mapped -= REGION_SIZE;
}

/* Transparent huge pages (hugepages option, off by default): with auto, an
 * arena's first region keeps 4 KiB pages and the regions of a heap that
 * grows beyond it get huge pages: far fewer page faults when freed memory
 * comes back, and fewer TLB misses.  Off by default because khugepaged
 * collapses sparsely used ranges into whole huge pages: a threaded Python
 * workload went from 61 to 355 MiB resident with auto. */
static bool region_wants_thp(const struct arena *a)
{
	long mode = strata_option(OPT_HUGEPAGES);
	return mode == HUGEPAGES_THP || (mode == HUGEPAGES_AUTO && a->nr_regions > 0);
}

/* Map one more region into the arena.  Called with the arena lock held. */
bool arena_grow(struct arena *a)
{
	struct region *r = os_map_aligned(REGION_SIZE, REGION_SIZE);
	if (r == NULL)
		return false;
	if (region_wants_thp(a))
		os_advise_huge(r, REGION_SIZE);
	r->kind = SEG_REGION;
	r->meta_pages = REGION_META_PAGES;
	r->arena = a;
	region_link(a, r);
	pagemap_set(r, REGION_SIZE, r);
	buddy_region_init(a, r);
	return true;
}

static void region_release(struct arena *a, struct region *r)
{
	buddy_region_detach(a, r);
	region_unlink(a, r);
	pagemap_clear(r, REGION_SIZE);
	os_unmap(r, REGION_SIZE);
}

/* ------------------------------------------------------------------------
 * Decay: memory a program freed goes back to the kernel once it has been
 * unused for decay_ms, without a malloc_trim.  A pass runs from the arena
 * slow paths (refill, flush, large runs) at most four times per decay_ms:
 * dirty free blocks older than decay_ms are decommitted, and idle regions
 * beyond the first are unmapped.  Between passes, an arena whose dirty free
 * pages exceed its budget (arena.h) decommits its biggest dirty blocks at
 * once, down to the budget.  A program that makes no allocator call at
 * all keeps what it has until it calls again.
 * ---------------------------------------------------------------------- */
#define DECAY_PASSES_PER_PERIOD 4

/* Unmap idle regions while the arena keeps at least one; with aged_only,
 * only those whose free blocks have all decayed (idle for decay_ms), so a
 * region that empties and fills again quickly is not remapped each time. */
static void arena_release_idle(struct arena *a, bool aged_only)
{
	struct region *r = a->regions;
	while (r && a->nr_regions > 1) {
		struct region *next = r->next;
		if (buddy_region_idle(r) && (!aged_only || buddy_region_clean(r))) {
			region_release(a, r);
			if (aged_only)
				return;   /* one per pass: a heap that shrinks and grows
				             again does not unmap and remap all at once */
		}
		r = next;
	}
}

/* Called with the arena lock held, when next_decay_ms has passed. */
void arena_decay(struct arena *a, uint64_t now_ms)
{
	long decay = strata_option(OPT_DECAY_MS);
	if (decay < 0) {
		a->next_decay_ms = UINT64_MAX;
		return;
	}
	size_t budget = arena_dirty_budget(a);
	if (a->dirty_pages > budget)
		buddy_decommit_to(a, budget);
	if (now_ms >= a->next_decay_ms) {
		buddy_decommit(a, now_ms, (uint32_t)decay);
		a->next_decay_ms = now_ms + (uint64_t)MAX(decay / DECAY_PASSES_PER_PERIOD, 1);
	}
	arena_release_idle(a, true);
}

/* Give back what the arena holds and does not use: the empty slabs kept
 * warm, the idle regions (as long as the arena keeps one region), and the
 * pages of dirty free blocks.  Returns the bytes of address space unmapped
 * plus the bytes decommitted (not all of which were resident). */
size_t arena_trim(struct arena *a)
{
	lock_acquire(&a->lock);
	slab_trim(a);
	size_t regions = a->nr_regions;
	arena_release_idle(a, false);
	size_t released = (regions - a->nr_regions) * REGION_SIZE;
	released += buddy_decommit(a, 0, 0);
	lock_release(&a->lock);
	return released;
}

/* ------------------------------------------------------------------------
 * fork: every arena lock is taken before and released (or re-made in the
 * child, where its owner thread may not exist) after.
 * ---------------------------------------------------------------------- */
void arena_lock_all(void)
{
	for (unsigned i = 0; i < _strata_narenas; i++)
		lock_acquire(&_strata_arenas[i].lock);
}

void arena_unlock_all(void)
{
	for (unsigned i = _strata_narenas; i-- > 0;)
		lock_release(&_strata_arenas[i].lock);
}

void arena_reinit_locks(void)
{
	for (unsigned i = 0; i < _strata_narenas; i++)
		lock_reinit(&_strata_arenas[i].lock);
}
