/* SPDX-License-Identifier: MIT */
/*
 * sample.c - which allocations leak tracking records.
 *
 * Modes (option leak): off; full, where every block is recorded and the
 * thread heaps keep no free lists so that every malloc and free reaches a
 * slow path;
 * and sampled, the default, in the manner of tcmalloc's heap sampling: each
 * heap counts down the bytes its slow paths take from its slabs and arenas
 * (a refill of its free list, a large run), and when the count crosses zero the block
 * being allocated is recorded with the weight of the sampling intervals that
 * ended in that refill or run, so the report scales up to estimates.  The
 * fast path does not take part: a refill stands for the batch it brings.
 *
 * A recorded small block must be seen when it is freed, without a test on
 * the fast path: its slab page turns PAGE_SAMPLED and its owner is tagged
 * (slab_mark_sampled), which free's fast path does not accept, and back to
 * PAGE_SLAB when its last recorded block goes.
 * Large runs carry PG_SAMPLED, huge blocks a field in their header; their
 * frees are slow paths anyway.
 *
 * Frames inside strata's own code are dropped from the recorded stacks, so
 * the first frame is the program's call to malloc.
 */
#include "sample.h"
#include "arena.h"
#include "options.h"
#include "os.h"
#include "pagemap.h"
#include "profile.h"
#include "slab.h"
#include "stats.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <link.h>
#include <time.h>
#include <unistd.h>

int _strata_leak_mode;

static const char *const mode_names[] = { "off", "sampled", "full" };

const char *leak_mode_name(int mode)
{
	return mode >= 0 && mode <= LEAK_FULL ? mode_names[mode] : "off";
}

/* ------------------------------------------------------------------------
 * Start-up: where strata's own code lies, for the frame filter
 * ---------------------------------------------------------------------- */
struct text_range {
	uintptr_t base;
	uintptr_t lo;
	uintptr_t hi;
	int       seen;
};

/* dl_iterate_phdr lists the program first: strata found there is linked
 * into the program, whose frames must stay, so nothing is dropped. */
static int find_own_text(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	struct text_range *t = arg;
	if (t->seen++ == 0 && info->dlpi_addr == t->base)
		return 1;
	if (info->dlpi_addr != t->base)
		return 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X)) {
			t->lo = info->dlpi_addr + ph->p_vaddr;
			t->hi = t->lo + ph->p_memsz;
			return 1;
		}
	}
	return 0;
}

/* strata's executable segment, when strata is a shared library of its own;
 * linked statically into a program it cannot be told apart, and no frames
 * are dropped. */
static void own_text_range(uintptr_t *lo, uintptr_t *hi)
{
	Dl_info           self;
	struct text_range t = { 0 };
	*lo = *hi = 0;
	if (!dladdr((void *)own_text_range, &self) || self.dli_fbase == NULL)
		return;
	t.base = (uintptr_t)self.dli_fbase;
	dl_iterate_phdr(find_own_text, &t);
	*lo = t.lo;
	*hi = t.hi;
}

void sample_init(void)
{
	int mode = (int)strata_option(OPT_LEAK);
	if (mode != LEAK_OFF && !leak_init()) {
		if (strata_option(OPT_VERBOSE) > 0)
			_strata_warn("leak tracking off: its tables could not be mapped");
		mode = LEAK_OFF;
	}
	_strata_leak_mode = mode;
}

/* The frame filter is set up at the first record, not at start-up: dladdr
 * and dl_iterate_phdr take the loader's locks, which must not be waited for
 * while strata's init lock is held (a dlopen in another thread may be
 * waiting for it).  Two threads doing it at once compute the same range. */
static void text_range_once(void)
{
	static int done;
	if (__atomic_load_n(&done, __ATOMIC_ACQUIRE))
		return;
	uintptr_t lo, hi;
	own_text_range(&lo, &hi);
	leak_ignore_range(lo, hi);
	__atomic_store_n(&done, 1, __ATOMIC_RELEASE);
}

static bool record(void *p, size_t requested, size_t weight)
{
	text_range_once();
	return leak_record(p, requested, weight, 0);
}

/* An object of a cache or a private heap, recorded exactly (leak=full),
 * with strata's frames dropped like every record's. */
void sample_exact(void *p, size_t size)
{
	if (leak_mode() == LEAK_FULL)
		(void)record(p, size, size);
}

/* ------------------------------------------------------------------------
 * Sampling
 * ---------------------------------------------------------------------- */

/* The next interval: uniform in [1, 2 * mean), so no allocation pattern
 * lines up with a fixed period.  The mean is the option's, times
 * 2^sample_shift while the thread's records are paced (below).  The draws
 * come from the thread's own sequence (a Weyl sequence through a 64-bit
 * mix): one drawn from the countdown and the clock's milliseconds, within
 * a millisecond a function of the countdown alone, could fall into a
 * short cycle whose mean was not the option's (intervals 20% too long in
 * a loop of 20,000 allocations, its records standing for 20% too little). */
static int64_t next_interval(struct heap *tc)
{
	uint64_t mean = (uint64_t)strata_option(OPT_LEAK_SAMPLE) << tc->sample_shift;
	uint64_t x = tc->sample_rng += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	x ^= x >> 31;
	tc->sample_mean = mean;
	return (int64_t)(1 + x % (2 * mean));
}

/* The pace of the records.  A record walks the call stack (a microsecond
 * or two), so a thread that allocates leak_sample bytes faster than that
 * (a loop of 1 MiB blocks it never touches: one record every other call,
 * 0.8 us a malloc+free where the peers take 15-150 ns) would spend most
 * of its time there.  Each thread earns a record every 1 / leak_sample_rate
 * seconds, up to SAMPLE_BURST in reserve; a record made without one
 * doubles the mean of its next intervals, up to 2^SAMPLE_SHIFT_MAX times,
 * and one made with more than half the reserve left halves it again.  The
 * weights stay right: each record stands for the means of the intervals
 * that ended in it, whatever they were. */
#define SAMPLE_BURST     32
#define SAMPLE_SHIFT_MAX 6

static uint64_t sample_period_ns(void)
{
	long rate = strata_option(OPT_LEAK_SAMPLE_RATE);
	return rate > 0 ? 1000000000 / (uint64_t)rate : 0;
}

static void sample_pace(struct heap *tc)
{
	uint64_t period = sample_period_ns();
	if (period == 0)
		return;
	uint64_t now = os_now_ns();
	uint64_t credit = MIN(tc->sample_credit_ns + (now - tc->sample_last_ns),
	                      SAMPLE_BURST * period);
	tc->sample_last_ns = now;
	if (credit >= period) {
		credit -= period;
		if (credit >= SAMPLE_BURST / 2 * period && tc->sample_shift > 0)
			tc->sample_shift--;
	} else if (tc->sample_shift < SAMPLE_SHIFT_MAX) {
		tc->sample_shift++;
	}
	tc->sample_credit_ns = credit;
}

/* A thread's first sample comes after a whole interval too, not at its
 * first allocation; its reserve of records starts full. */
void sample_thread_init(struct heap *tc)
{
	if (leak_mode() != LEAK_SAMPLED)
		return;
	tc->sample_shift = 0;
	tc->sample_credit_ns = SAMPLE_BURST * sample_period_ns();
	tc->sample_last_ns = os_now_ns();
	tc->sample_rng = (uint64_t)(uintptr_t)tc ^ tc->sample_last_ns;
	tc->sample_left = next_interval(tc);
}

/* The usable bytes the allocation of `bytes` just taken from an arena (a
 * refill batch, a large run) stands for when it is recorded, or 0: it is
 * recorded when one or more intervals end within it, and stands for their
 * means.  The countdown carries over what a crossing overshoots, so the
 * intervals tile the thread's stream of bytes and each allocation gets the
 * intervals ending inside it; over a run the volumes add up to the bytes
 * allocated, whatever their sizes: an allocation shorter than an interval
 * is recorded with a probability of about bytes / mean, and then stands for
 * a whole interval or more.  One of two means or more is always recorded
 * (no interval is that long), so it stands for exactly itself.  A thread
 * without a heap (an exited one) is not sampled. */
size_t sample_due(struct heap *tc, size_t bytes)
{
	if (tc == NULL)
		return 0;
	tc->sample_left -= (int64_t)bytes;
	if (tc->sample_left > 0)
		return 0;
	if (tc->sample_mean == 0) /* a heap sample_thread_init did not set up */
		tc->sample_mean = (uint64_t)strata_option(OPT_LEAK_SAMPLE);
	int64_t mean = (int64_t)tc->sample_mean;
	bool    whole = bytes >= 2 * (size_t)mean;
	/* Past two means the count does not matter: no need to draw a 1 GiB
	 * block's thousands of intervals. */
	if (tc->sample_left <= -2 * mean)
		tc->sample_left %= mean;
	sample_pace(tc);
	size_t volume = 0;
	while (tc->sample_left <= 0) {
		volume += tc->sample_mean;
		tc->sample_left += next_interval(tc);
	}
	return whole ? bytes : volume;
}

/* The requested bytes a recorded block of size bytes (usable u) stands
 * for: the volume above, at the block's ratio of requested to usable. */
static size_t sample_weight(size_t size, size_t usable, size_t volume)
{
	return (size_t)((double)volume * (double)MAX(size, 1) / (double)usable);
}

static void page_mark_sampled(struct page *pg)
{
	struct arena *a = page_region(pg)->arena;
	lock_acquire(&a->lock);
	pg->samples++;
	slab_mark_sampled(pg, true);
	lock_release(&a->lock);
}

/* The sampled mode's decision for a block of size bytes (usable bytes
 * usable) handed out by a slow path that took bytes: recorded or not.  The
 * caller marks what it recorded, so that its free is seen. */
bool sample_block(struct heap *tc, void *p, size_t size, size_t usable, size_t bytes)
{
	size_t volume = sample_due(tc, bytes);
	return volume > 0 && record(p, MAX(size, 1), sample_weight(size, usable, volume));
}

void sample_record_small(void *p, size_t size, size_t volume)
{
	struct page *pg = page_of(region_of(p), p);
	if (record(p, MAX(size, 1), sample_weight(size, class_size(pg->cls), volume)))
		page_mark_sampled(pg);
}

/* Usable bytes of p, a large run or a huge block; *huge says which. */
static size_t big_block_usable(void *owner, void *p, bool *huge)
{
	*huge = *(uint32_t *)owner == SEG_HUGE;
	return *huge ? huge_usable(owner) : large_usable(page_of(owner, p));
}

/* Record p, a large run or huge block of size bytes, with the weight of
 * the mode (sampled: the volume it stands for, sample_due), and flag it so
 * that its free forgets it.  With old, p is the block old became by a
 * realloc: the exact mode records it again; the sampled mode moves old's
 * record, stack and all, its weight scaled with the size (volume unused),
 * so that a record that stood for many blocks of its site (a paced
 * thread's, up to 64 intervals) still does. */
static void record_large(void *p, size_t size, size_t volume, void *old)
{
	void  *owner = pagemap_lookup(p);
	bool   huge;
	size_t usable = big_block_usable(owner, p, &huge);
	size_t weight;
	if (leak_mode() == LEAK_FULL) {
		weight = MAX(size, 1);
		if (old != NULL && old != p)
			leak_forget(old);
		if (!record(p, weight, weight))
			return;
	} else if (old != NULL) {
		if ((weight = leak_move(old, p, MAX(size, 1))) == 0)
			return;
	} else {
		weight = sample_weight(size, usable, volume);
		if (!record(p, MAX(size, 1), weight))
			return;
	}
	if (huge)
		((struct huge *)owner)->sampled = weight;
	else
		page_of(owner, p)->flags |= PG_SAMPLED;
}

void sample_large(struct heap *tc, void *p, size_t size)
{
	int mode = leak_mode();
	if (mode == LEAK_OFF)
		return;
	if (mode == LEAK_FULL) {
		record_large(p, size, 0, NULL);
		return;
	}
	bool   huge;
	size_t volume = sample_due(tc, big_block_usable(pagemap_lookup(p), p, &huge));
	if (volume > 0)
		record_large(p, size, volume, NULL);
}

/* realloc resized the block at old to size bytes, now at p (the same
 * address unless a huge block moved with its mapping): a recorded block
 * is recorded again, with its new size, at its new address.  In the
 * sampled mode its record keeps the stack of the call that made the block:
 * a buffer grown by a realloc at a time (a page each, up to 1 MiB) walked
 * the stack at every one of them once recorded, five times the cost of
 * growing it; in the exact mode, every call walks it anyway, and the
 * record takes realloc's. */
void sample_resized(void *old, void *p, size_t size)
{
	if (leak_mode() == LEAK_OFF)
		return;
	uintptr_t e = pagemap_entry(p);
	bool      recorded;
	if (pagemap_is_region(e)) {
		struct page *pg = pagemap_page(e, p);
		if (pg->state != PAGE_LARGE) { /* a small block kept its class */
			if (leak_mode() == LEAK_FULL)
				record(p, MAX(size, 1), MAX(size, 1));
			return;
		}
		recorded = pg->flags & PG_SAMPLED;
	} else {
		recorded = ((struct huge *)e)->sampled != 0;
	}
	if (!recorded)
		return;
	record_large(p, size, 0, old);
}

/* ------------------------------------------------------------------------
 * Frees
 * ---------------------------------------------------------------------- */
void sample_forget_small(struct page *pg, void *p)
{
	if (leak_mode() == LEAK_FULL) {
		leak_forget(p);
		return;
	}
	if (__atomic_load_n(&pg->state, __ATOMIC_RELAXED) != PAGE_SAMPLED || !leak_forget(p))
		return;
	struct arena *a = page_region(pg)->arena;
	lock_acquire(&a->lock);
	if (pg->samples > 0 && --pg->samples == 0)
		slab_mark_sampled(pg, false);
	lock_release(&a->lock);
}

void sample_forget_large(struct page *pg, void *p)
{
	if (!(pg->flags & PG_SAMPLED))
		return;
	pg->flags &= (uint8_t)~PG_SAMPLED;
	leak_forget(p);
}

void sample_forget_huge(struct huge *h, void *p)
{
	if (!h->sampled)
		return;
	h->sampled = 0;
	leak_forget(p);
}

/* ------------------------------------------------------------------------
 * strata's leak calls (include/strata.h)
 * ---------------------------------------------------------------------- */
strata_export uint64_t strata_mark(void)
{
	strata_ensure_init();
	return leak_mode() == LEAK_OFF ? 0 : leak_mark();
}

strata_export size_t strata_leak_sites(struct strata_leak_site *sites, size_t max, uint64_t since)
{
	strata_ensure_init();
	if (leak_mode() == LEAK_OFF)
		return 0;
	return leak_sites(sites, sites ? max : 0, since, NULL, NULL);
}
