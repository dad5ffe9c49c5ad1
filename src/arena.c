/* SPDX-License-Identifier: MIT */
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
#include "dlist.h"
#include "leak.h"
#include "options.h"
#include "os.h"
#include "pagemap.h"
#include "slab.h"

#include <string.h>
#include <time.h>

struct arena _strata_arenas[MAX_ARENAS];
unsigned     _strata_narenas = 1;

/* The arenas of each node are consecutive: [node_first, + node_count). */
static unsigned node_first[NUMA_MAX_NODES], node_count[NUMA_MAX_NODES];
static unsigned node_next[NUMA_MAX_NODES];

void arena_init(struct arena *a, unsigned index)
{
	memset(a, 0, sizeof(*a));
	lock_reinit(&a->lock);
	a->index = index;
}

/* How many arenas: the arenas option, or one per CPU the process may run
 * on; at most MAX_ARENAS. */
static unsigned arenas_wanted(void)
{
	long n = strata_option(OPT_ARENAS);
	if (n == 0)
		n = os_cpu_count();
	return (unsigned)MIN(MAX(n, 1), MAX_ARENAS);
}

/* Lay out `want` arenas over the nodes of t, each node's share in
 * proportion to its CPUs and at least one, consecutive per node; with
 * placement off (active false) all on node 0.  Fills first[] and count[]
 * per node and returns the number of arenas (at most MAX_ARENAS). */
unsigned arenas_layout(const struct numa_topology *t, bool active, unsigned want,
                       unsigned first[NUMA_MAX_NODES], unsigned count[NUMA_MAX_NODES])
{
	unsigned cpus = 0, n = 0;
	for (unsigned node = 0; node < NUMA_MAX_NODES; node++) {
		first[node] = count[node] = 0;
		if (t->online >> node & 1)
			cpus += t->node_cpus[node];
	}
	for (unsigned node = 0; node < NUMA_MAX_NODES && n < MAX_ARENAS; node++) {
		if (active ? !(t->online >> node & 1) : node != 0)
			continue;
		unsigned c = !active || cpus == 0
		                     ? want
		                     : MAX(1u, (want * t->node_cpus[node] + cpus / 2) / cpus);
		first[node] = n;
		count[node] = MIN(c, MAX_ARENAS - n);
		n += count[node];
	}
	return n;
}

void arenas_setup(void)
{
	_strata_narenas = arenas_layout(&_strata_numa, nodes_active(), arenas_wanted(), node_first,
	                                node_count);
	for (unsigned node = 0; node < NUMA_MAX_NODES; node++)
		for (unsigned i = node_first[node]; i < node_first[node] + node_count[node]; i++) {
			arena_init(&_strata_arenas[i], i);
			_strata_arenas[i].node = (int)node;
		}
}

/* An arena of this node, round robin among them. */
struct arena *arena_pick_node(int node)
{
	if (!nodes_valid(node) || node_count[node] == 0)
		node = 0;
	unsigned k = __atomic_fetch_add(&node_next[node], 1, __ATOMIC_RELAXED);
	return &_strata_arenas[node_first[node] + k % node_count[node]];
}

/* An arena of the node the calling thread runs on. */
struct arena *arena_pick(void)
{
	return arena_pick_node(nodes_current());
}

/* ------------------------------------------------------------------------
 * Regions
 * ---------------------------------------------------------------------- */
static void region_link(struct arena *a, struct region *r)
{
	dlist_push(a->regions, r);
	a->nr_regions++;
	a->stats.mapped += REGION_SIZE;
}

static void region_unlink(struct arena *a, struct region *r)
{
	dlist_del(a->regions, r);
	a->nr_regions--;
	a->stats.mapped -= REGION_SIZE;
}

/* Huge pages (hugepages option, off by default).  thp advises every
 * region MADV_HUGEPAGE; auto leaves an arena's first region on 4 KiB pages
 * and advises the regions of a heap that grows beyond it: far fewer page
 * faults when freed memory comes back, and fewer TLB misses.  hugetlb maps
 * regions with MAP_HUGETLB from the pool reserved in
 * /proc/sys/vm/nr_hugepages, and falls back to THP, then to 4 KiB pages,
 * when the pool is empty (counted; said once with verbose).  Off by
 * default because khugepaged collapses sparsely used ranges into whole
 * huge pages: a threaded Python workload went from 61 to 355 MiB resident
 * with auto. */
static bool region_wants_thp(const struct arena *a, long mode)
{
	return mode == HUGEPAGES_THP || mode == HUGEPAGES_HUGETLB
	       || (mode == HUGEPAGES_AUTO && a->nr_regions > 0);
}

/* Map a region, on the backing the hugepages option asks for or the next
 * best, bound to the arena's node before anything touches it. */
static struct region *region_map(struct arena *a, uint8_t *backing)
{
	long           mode = strata_option(OPT_HUGEPAGES);
	struct region *r = NULL;
	*backing = BACKING_PAGES;
	if (mode == HUGEPAGES_HUGETLB) {
		/* no reservation: the pool's pages are taken a 2 MiB chunk at a
		 * time (buddy_region_back), the header's chunk now */
		r = os_map_hugetlb(REGION_SIZE, REGION_SIZE, HUGE_PAGE_SHIFT, false);
		if (r && !os_populate(r, HUGE_PAGE_SIZE)) {
			os_unmap(r, REGION_SIZE);
			r = NULL;
		}
		if (r)
			*backing = BACKING_HUGETLB;
		else
			hugetlb_fell_back();
	}
	if (r == NULL && (r = os_map_aligned(REGION_SIZE, REGION_SIZE)) == NULL)
		return NULL;
	nodes_bind(r, REGION_SIZE, a->node);
	if (*backing == BACKING_PAGES && region_wants_thp(a, mode)
	    && os_advise_huge(r, REGION_SIZE))
		*backing = BACKING_THP;
	return r;
}

/* Map one more region into the arena.  Called with the arena lock held. */
bool arena_grow(struct arena *a)
{
	arena_assert_locked(a);
	uint8_t        backing;
	struct region *r = region_map(a, &backing);
	if (r == NULL)
		return false;
	r->backing = backing;
	r->chunks_backed = 1; /* the header's: faulted in (hugetlb) */
	r->chunks_plain = 0;
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
 * Decay: memory a program freed goes back to the kernel when the program
 * has shown it does not need it, without a malloc_trim, and never by the
 * small block.
 *
 * The arena may keep as many dirty pages as its pages in use have fallen
 * below their peak, or a small floor, whichever is more.  The peak is the
 * most pages in use over the current and the previous window of half of
 * decay_ms each.  A program that frees and allocates again within that
 * time (a loop over a data set, a server between requests) keeps its
 * memory and pays no page faults; one whose heap shrank for good, or that
 * went idle, gives it back within decay_ms, when the windows have moved
 * past its peak; one whose live memory stays the same while it churns
 * (phases of different sizes) keeps only the floor, so memory freed by
 * one phase does not stay beside the next.  Purging is done by whole runs
 * of adjacent free blocks (buddy_purge), huge-page-sized runs first, never
 * a run of less than PURGE_MIN_BYTES.
 *
 * Down to the cap, only blocks that stayed free since before the previous
 * pass go (an eighth of decay_ms or more: AGE_PASSES); the rest, up to the
 * margin over the cap (arena_dirty_margin), waits for the next pass
 * (decay_ms 0: nothing waits).  A
 * program whose live memory stays the same while blocks of every size come
 * and go (bench/compare's budget) reuses most of what it frees within
 * milliseconds, and what the cap took back at once it faulted in again:
 * 0.56 -> 0.42 s (8 GiB allocated), 339,000 -> 237,000 minor faults, for
 * 5.6 MiB more peak RSS in tests/cgroup_child (115.1 -> 120.7 MiB).
 *
 * How much stays dirty depends on how far the heap is from the memory
 * limit (option memory_limit; by default its cgroup's, read when the heap
 * first passes LIMIT_READ_BYTES): with none, or under a quarter of it, the
 * floor is half of the pages in use and the margin all of them; past a
 * quarter, both an eighth.  A quarter, as the floor and the margin together
 * let the heap's footprint double or more before the next pass (tests/cgroup.sh,
 * switching at half, reached its limit once in a dozen runs).
 * bench/compare's budget (48 MiB live, blocks of every size replaced at
 * random, 48 GiB allocated) with an eighth: 1.9 s, 1.08M page faults, 120
 * MiB peak RSS; with half: 0.41 s, 129,000 faults, 148 MiB (jemalloc 129,
 * tcmalloc 130 MiB, which never give it back).  The same program in a
 * cgroup of 128 MiB (tests/cgroup.sh) needs the eighth: with half it
 * reaches the limit.  The margin at half as well, budget's pages in use
 * swung by a third around 25 MiB an arena, its free memory in runs too
 * short for the next big block, and purges between passes (each a whole
 * free run of 2 MiB or more) took back 200-400 MiB over the run that it
 * faulted in again: with the margin at all of them, 92,000-160,000 ->
 * 44,000 page faults, 0.40-0.51 -> 0.31-0.32 s (tcmalloc 37,000 and 0.25
 * s), peak RSS 151-158 -> 158-163 MiB.
 *
 * A pass runs DECAY_PASSES times per decay_ms, from the arena slow paths
 * (new slabs, slabs given back, large runs), or from the background thread
 * when one runs (arena_background_start): by default it starts once the
 * heap has grown past BACKGROUND_AUTO_BYTES, so a small program never has
 * it, and a big one that goes idle still gives memory back.
 * ---------------------------------------------------------------------- */
#define DECAY_PASSES          8
#define AGE_PASSES            1
#define PURGE_MIN_BYTES       ((size_t)64 << 10)
#define BACKGROUND_AUTO_BYTES ((size_t)32 << 20)
#define LIMIT_READ_BYTES      ((size_t)16 << 20)
#define LIMIT_ROOM_SHARE      4 /* far from the limit: under a quarter of it */

static int background_wanted;
static void (*background_hook)(uint64_t now_ms);

/* A pass: move the peak's window on when half of decay_ms has gone by. */
static void arena_window_advance(struct arena *a, uint64_t now_ms, uint64_t decay)
{
	if (now_ms - a->window_ms < decay / 2)
		return;
	/* stores the huge cache reads without the lock (large.c) */
	__atomic_store_n(&a->peak_prev, a->peak_pages, __ATOMIC_RELAXED);
	__atomic_store_n(&a->peak_pages, arena_active_pages(a), __ATOMIC_RELAXED);
	a->window_ms = now_ms;
}

/* Unmap idle regions while the arena keeps at least one; with aged_only,
 * only those whose free blocks have all decayed (idle for decay_ms), so a
 * region that empties and fills again quickly is not remapped each time. */
static void arena_release_idle(struct arena *a, bool aged_only)
{
	struct region *r = a->regions;
	while (r && a->nr_regions > 1) {
		struct region *next = r->next;
		if (!r->reserved && buddy_region_idle(r) && (!aged_only || buddy_region_clean(r))) {
			region_release(a, r);
			if (aged_only)
				return; /* one per pass: a heap that shrinks and grows
				             again does not unmap and remap all at once */
		}
		r = next;
	}
}

/* The slab layer's pass over the abandoned slabs (slab_reclaim_abandoned),
 * run with each decay pass: a hook, since the slab layer sits above this
 * one. */
static void (*reclaim_hook)(struct arena *a);

void arena_set_reclaim_hook(void (*fn)(struct arena *a))
{
	reclaim_hook = fn;
}

/* What the upper layers give back when an arena's pages in use pass their
 * peak (the freed huge blocks kept for reuse that the program has moved on
 * from, large.c): a hook, set at start-up. */
static void (*peak_hook)(void);

void arena_set_peak_hook(void (*fn)(void))
{
	peak_hook = fn;
}

/* ------------------------------------------------------------------------
 * The memory limit: how much the decay lets the heap keep (see above).
 * ---------------------------------------------------------------------- */
int _strata_limit_room = LIMIT_UNREAD;

static size_t memory_limit;     /* bytes; 0: none */
static int    memory_limit_set; /* read (or set by the option) */

/* The bytes the heap holds outside the arenas (huge blocks, live and kept
 * for reuse): a hook, the large layer sits above this one. */
static size_t (*outside_hook)(void);

void arena_set_outside_hook(size_t (*fn)(void))
{
	outside_hook = fn;
}

/* The memory strata may have resident: the arenas' pages in use and
 * dirty ones, and the huge blocks.  Arena a's own are read under its lock
 * and published; the others' as each published them at its last pass or
 * peak. */
static size_t heap_footprint(struct arena *a)
{
	__atomic_store_n(&a->footprint_pages, arena_active_pages(a) + a->dirty_pages,
	                 __ATOMIC_RELAXED);
	size_t pages = 0;
	for (unsigned i = 0; i < _strata_narenas; i++)
		pages += __atomic_load_n(&_strata_arenas[i].footprint_pages, __ATOMIC_RELAXED);
	return (pages << PAGE_SHIFT) + (outside_hook ? outside_hook() : 0);
}

/* The limit in bytes, 0 for none: the option's, or the cgroup's (auto).
 * Two threads may read it at once: they store the same value. */
size_t arena_memory_limit(void)
{
	if (!__atomic_load_n(&memory_limit_set, __ATOMIC_ACQUIRE)) {
		long opt = strata_option(OPT_MEMORY_LIMIT);
		__atomic_store_n(&memory_limit, opt < 0 ? os_memory_limit() : (size_t)opt,
		                 __ATOMIC_RELAXED);
		__atomic_store_n(&memory_limit_set, 1, __ATOMIC_RELEASE);
	}
	return __atomic_load_n(&memory_limit, __ATOMIC_RELAXED);
}

/* At each pass and each new peak: a floor of half of the pages in use while
 * the heap is under a quarter of the limit, else an eighth.  The cgroup is read
 * once the heap is big enough for the floors to differ much. */
static void arena_room_update(struct arena *a)
{
	bool read = __atomic_load_n(&memory_limit_set, __ATOMIC_ACQUIRE);
	if (read && arena_memory_limit() == 0 && arena_limit_room() == LIMIT_FAR)
		return; /* no limit: far for good, nothing to measure */
	size_t footprint = heap_footprint(a);
	if (!read && footprint < LIMIT_READ_BYTES)
		return;
	size_t limit = arena_memory_limit();
	int    room = limit != 0 && footprint >= limit / LIMIT_ROOM_SHARE ? LIMIT_NEAR : LIMIT_FAR;
	if (arena_limit_room() != room)
		__atomic_store_n(&_strata_limit_room, room, __ATOMIC_RELAXED);
}

/* With the arena lock held: its pages in use are at a new peak.  Past
 * BACKGROUND_AUTO_BYTES the background thread is wanted at once, not at
 * the next decay pass: a program that allocates that much between two
 * passes, frees it and then runs on its heaps' caches alone (no arena
 * call, so no pass) would keep it all. */
void arena_peak_rise(struct arena *a, size_t active)
{
	arena_assert_locked(a);
	__atomic_store_n(&a->peak_pages, active, __ATOMIC_RELAXED);
	arena_room_update(a);
	if ((active << PAGE_SHIFT) > BACKGROUND_AUTO_BYTES)
		__atomic_store_n(&background_wanted, 1, __ATOMIC_RELAXED);
	if (peak_hook)
		peak_hook();
}

/* Called with the arena lock held, when next_decay_ms has passed (a pass
 * of the decay), or when the arena's dirty pages went an eighth over its
 * cap between two passes (then they go down to the cap: the margin keeps
 * the frees that follow from purging again at once). */
void arena_decay(struct arena *a, uint64_t now_ms)
{
	arena_assert_locked(a);
	long decay = strata_option(OPT_DECAY_MS);
	if (decay < 0) {
		a->next_decay_ms = UINT64_MAX;
		a->dirty_stuck = SIZE_MAX / 2;
		return;
	}
	bool pass = now_ms >= a->next_decay_ms;
	if (pass) {
		arena_window_advance(a, now_ms, (uint64_t)decay);
		arena_room_update(a);
	}
	size_t target = arena_dirty_cap(a);
	if (!pass && a->dirty_pages <= arena_dirty_limit(a))
		return;
	if (a->dirty_pages > target) {
		/* decay_ms 0: at once, whatever the age */
		uint32_t before = decay == 0                   ? UINT32_MAX
		                  : a->decay_pass > AGE_PASSES ? a->decay_pass - AGE_PASSES
		                                               : 0;
		buddy_purge_aged(a, target, PURGE_MIN_BYTES >> PAGE_SHIFT, before);
		size_t hard = target + arena_dirty_margin(a);
		if (a->dirty_pages > hard)
			buddy_purge(a, hard, PURGE_MIN_BYTES >> PAGE_SHIFT);
	}
	/* what the purge left above the cap (young blocks waiting for their
	 * age, runs too short to purge): not worth trying again until the
	 * next pass.  Counting only what is above the margin too, budget's
	 * purges came back: 58,000-130,000 page faults against 45,000 */
	a->dirty_stuck = a->dirty_pages > target ? a->dirty_pages - target : 0;
	if (!pass)
		return;
	if (reclaim_hook)
		reclaim_hook(a);
	arena_release_idle(a, true);
	a->next_decay_ms = now_ms + (uint64_t)MAX(decay / DECAY_PASSES, 1);
	a->decay_pass++;
	if ((arena_active_pages(a) << PAGE_SHIFT) > BACKGROUND_AUTO_BYTES)
		__atomic_store_n(&background_wanted, 1, __ATOMIC_RELAXED);
}

/* The background thread runs each arena's decay pass DECAY_PASSES times
 * per decay_ms, so a program that goes idle, or whose calls are all served
 * by its heaps' free lists, still gives back what it freed.  An arena busy
 * at that moment is skipped (trylock): it decays on its own slow paths. */
static void *arena_background_loop(void *arg)
{
	(void)arg;
	long            period = MAX(strata_option(OPT_DECAY_MS) / DECAY_PASSES, 10L);
	struct timespec ts = { period / 1000, (period % 1000) * 1000000L };
	for (;;) {
		nanosleep(&ts, NULL);
		uint64_t now = os_now_ms();
		for (unsigned i = 0; i < _strata_narenas; i++) {
			struct arena *a = &_strata_arenas[i];
			if (lock_try(&a->lock)) {
				arena_maybe_decay(a, now);
				lock_release(&a->lock);
			}
		}
		if (background_hook)
			background_hook(now);
	}
	return NULL;
}

static int background_started;

/* What the upper layers want done on each background pass (the kept huge
 * blocks' expiry, large.c), set once at start-up. */
void arena_set_background_hook(void (*fn)(uint64_t now_ms))
{
	background_hook = fn;
}

/* Start the background thread if the background option wants one now:
 * on, or auto once an arena has used BACKGROUND_AUTO_BYTES.  Called from
 * slow paths with no lock held (creating a thread allocates), never from
 * start-up itself. */
void arena_background_start(void)
{
	if (__atomic_load_n(&background_started, __ATOMIC_RELAXED))
		return; /* the common case, on every refill of a big program */
	long mode = strata_option(OPT_BACKGROUND);
	if (mode == BACKGROUND_OFF || strata_option(OPT_DECAY_MS) < 0
	    || (mode == BACKGROUND_AUTO && !__atomic_load_n(&background_wanted, __ATOMIC_RELAXED)))
		return;
	leak_thread_start_once(&background_started, arena_background_loop,
	                       "the background decay thread");
}

/* An upper layer holds memory only the decay gives back (kept huge
 * blocks): the background thread is wanted in auto mode too.  No lock
 * may be held. */
void arena_background_request(void)
{
	__atomic_store_n(&background_wanted, 1, __ATOMIC_RELAXED);
	arena_background_start();
}

/* In a child of fork the thread is gone: started again when wanted. */
void arena_background_after_fork_child(void)
{
	background_started = 0;
}

/* Give back what the arena holds and does not use: the abandoned slabs
 * that emptied, the idle regions (as long as the arena keeps one region),
 * and the pages of dirty free blocks, however small their runs.  Returns
 * the bytes of address space unmapped plus the bytes decommitted (not all
 * of which were resident). */
size_t arena_trim(struct arena *a)
{
	lock_acquire(&a->lock);
	if (reclaim_hook)
		reclaim_hook(a);
	size_t regions = a->nr_regions;
	arena_release_idle(a, false);
	size_t released = (regions - a->nr_regions) * REGION_SIZE;
	released += buddy_purge(a, 0, 1);
	__atomic_store_n(&a->peak_pages, arena_active_pages(a), __ATOMIC_RELAXED);
	__atomic_store_n(&a->peak_prev, 0, __ATOMIC_RELAXED);
	lock_release(&a->lock);
	return released;
}

/* The reserve option: whole regions mapped at start, spread over the
 * arenas (so over the nodes), faulted in at once and never given back, so
 * that a critical service does not wait on the kernel later. */
void arenas_reserve(size_t bytes)
{
	size_t regions = (bytes + REGION_SIZE - 1) / REGION_SIZE;
	for (size_t i = 0; i < regions; i++) {
		struct arena *a = &_strata_arenas[i % _strata_narenas];
		lock_acquire(&a->lock);
		bool grown = arena_grow(a);
		if (grown) {
			struct region *r = a->regions; /* linked first */
			r->reserved = 1;
			buddy_region_back(r, 0, REGION_PAGES); /* hugetlb: chunk by chunk */
			os_prefault((char *)r + ((size_t)r->meta_pages << PAGE_SHIFT),
			            REGION_SIZE - ((size_t)r->meta_pages << PAGE_SHIFT));
		}
		lock_release(&a->lock);
		if (!grown) {
			_strata_warn("reserve: only %zu of %zu bytes could be mapped",
			             i * REGION_SIZE, bytes);
			return;
		}
	}
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

/* fork: the hugetlb regions copied for the child (os.c says why), with
 * the arena locks held. */
void arena_fork_copy_hugetlb(void)
{
	for (unsigned i = 0; i < _strata_narenas; i++)
		for (struct region *r = _strata_arenas[i].regions; r; r = r->next)
			if (r->backing == BACKING_HUGETLB)
				os_fork_copy_add(r, REGION_SIZE);
}

/* The child: the regions it got as copies are on ordinary pages now. */
void arena_fork_copied_child(void)
{
	for (unsigned i = 0; i < _strata_narenas; i++)
		for (struct region *r = _strata_arenas[i].regions; r; r = r->next)
			if (r->backing == BACKING_HUGETLB && os_fork_copied(r))
				r->backing = BACKING_PAGES;
}
