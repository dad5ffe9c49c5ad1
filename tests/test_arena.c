/* SPDX-License-Identifier: MIT */
/* Tests for src/arena.c: growth, trim, decay of unused memory. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include <criterion/redirect.h>

#include "buddy.h"
#include "large.h"
#include "strata.h"
#include "options.h"
#include "os.h"

static struct arena A;

static void setup(void)
{
	free(malloc(1)); /* options are read */
	arena_init(&A, 0);
	lock_acquire(&A.lock);
	cr_assert(arena_grow(&A));
	cr_assert(arena_grow(&A));
	lock_release(&A.lock);
}

TestSuite(arena, .init = setup);

static size_t dirty_pages(struct arena *a)
{
	size_t n = 0;
	for (unsigned k = 0; k <= BUDDY_MAX_ORDER; k++)
		free_area_for_each(&a->free_area[k], pg) n += pg->dirty;
	return n;
}

/* Large runs of 4 MiB (whose pages are counted in use) taken from A,
 * touched and freed: the arena's pages in use rise and fall. */
static void spike(unsigned runs)
{
	void *p[8];
	for (unsigned i = 0; i < runs; i++) {
		p[i] = large_alloc(&A, LARGE_MAX, PAGE_SIZE, false);
		cr_assert_not_null(p[i]);
		memset(p[i], 1, LARGE_MAX);
	}
	for (unsigned i = 0; i < runs; i++)
		large_free(page_of(region_of(p[i]), p[i]));
}

Test(arena, a_spike_is_kept_within_the_decay_then_given_back)
{
	long decay = strata_option(OPT_DECAY_MS);
	cr_assert_eq(decay, 1000, "default decay_ms");
	spike(2);
	uint64_t now = os_now_ms();
	size_t   spiked = A.dirty_pages;
	cr_assert_geq(spiked, 2 * (LARGE_MAX >> PAGE_SHIFT), "8 MiB freed, dirty");
	lock_acquire(&A.lock);
	A.next_decay_ms = now; /* a pass is due */
	arena_decay(&A, now);
	cr_assert_eq(A.dirty_pages, spiked,
	             "the peak is recent: all of it kept (%zu of %zu, peak %zu)", A.dirty_pages,
	             spiked, A.peak_prev);
	cr_assert_eq(A.dirty_pages, dirty_pages(&A));
	cr_assert_geq(A.next_decay_ms, now + decay / 8, "next pass an eighth of the period later");

	arena_decay(&A, now + (uint64_t)decay / 2 + 10);
	cr_assert_eq(A.dirty_pages, spiked, "the peak's window is the previous one: kept");

	arena_decay(&A, now + (uint64_t)decay + 20);
	cr_assert_leq(A.dirty_pages, arena_dirty_floor(&A),
	              "both windows moved past the peak: given back");
	cr_assert_eq(A.dirty_pages, dirty_pages(&A));
	lock_release(&A.lock);
}

Test(arena, a_heap_that_grows_again_keeps_its_memory)
{
	long decay = strata_option(OPT_DECAY_MS);
	spike(2);
	uint64_t now = os_now_ms();
	lock_acquire(&A.lock);
	A.next_decay_ms = now;
	arena_decay(&A, now + (uint64_t)decay / 4);
	lock_release(&A.lock);
	size_t dirty = A.dirty_pages;
	spike(2); /* the same memory again: no page fault */
	cr_assert_geq(A.dirty_pages, dirty, "reused, and kept again");
	lock_acquire(&A.lock);
	A.next_decay_ms = 0;
	arena_decay(&A, now + (uint64_t)decay * 3 / 4 + 10);
	cr_assert_geq(A.dirty_pages, dirty, "the peak came back in this window: kept");
	lock_release(&A.lock);
}

/* Between passes, the dirty pages go back at once when they pass the cap
 * by more than the margin: a heap whose pages in use never fell. */
Test(arena, dirty_pages_over_the_limit_go_back_at_once)
{
	lock_acquire(&A.lock);
	A.next_decay_ms = UINT64_MAX; /* no pass */
	struct page *a = buddy_alloc(&A, BUDDY_MAX_ORDER), *b = buddy_alloc(&A, BUDDY_MAX_ORDER);
	buddy_free(&A, a, BUDDY_MAX_ORDER, true);
	buddy_free(&A, b, BUDDY_MAX_ORDER, true);
	cr_assert_gt(A.dirty_pages, arena_dirty_limit(&A), "32 MiB dirty, nothing was in use");
	arena_maybe_decay(&A, os_now_ms());
	cr_assert_leq(A.dirty_pages, arena_dirty_cap(&A), "given back down to the cap");
	cr_assert_eq(A.dirty_pages, dirty_pages(&A));
	lock_release(&A.lock);
}

static void setup_decay_0(void)
{
	setup();
	_strata_option_values[OPT_DECAY_MS] = 0; /* as STRATA_DECAY_MS=0 sets it */
}

/* With decay_ms 0 a pass purges down to the cap at once, blocks freed in
 * this very pass included: nothing waits for its age, even with pages in
 * use (whose eighth would otherwise be let wait). */
Test(arena, with_decay_0_what_was_just_freed_goes_back_at_once, .init = setup_decay_0)
{
	cr_assert_eq(strata_option(OPT_DECAY_MS), 0);
	enum { BLOCKS = 64, ORDER = 7 }; /* 128 pages each; every other one freed */
	static struct page *blk[BLOCKS];
	lock_acquire(&A.lock);
	for (int i = 0; i < BLOCKS; i++)
		blk[i] = buddy_alloc(&A, ORDER);
	for (int i = 0; i < BLOCKS; i += 2)
		buddy_free(&A, blk[i], ORDER, true);
	A.stats.large_pages = REGION_PAGES; /* 32 MiB in use, as far as the decay sees */
	A.next_decay_ms = 0;                /* a pass is due */
	arena_decay(&A, os_now_ms());
	cr_assert_leq(A.dirty_pages, arena_dirty_cap(&A), "%zu dirty, cap %zu", A.dirty_pages,
	              arena_dirty_cap(&A));
	cr_assert_eq(A.dirty_pages, dirty_pages(&A));
	A.stats.large_pages = 0;
	lock_release(&A.lock);
}

Test(arena, trim_releases_everything_unused)
{
	lock_acquire(&A.lock);
	struct page *pg = buddy_alloc(&A, 3);
	buddy_free(&A, pg, 3, true);
	lock_release(&A.lock);
	size_t released = arena_trim(&A);
	cr_assert_geq(released, REGION_SIZE, "the second region, idle, is unmapped");
	cr_assert_eq(A.nr_regions, 1);
	cr_assert_eq(dirty_pages(&A), 0);
}

/* VmFlags of the mapping holding p, from /proc/self/smaps. */
static bool mapping_has_flag(const void *p, const char *flag)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char  line[512];
	bool  inside = false, found = false;
	while (f && fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2
		    && strchr(line, '-') < strchr(line, ' ')) {
			inside = (uintptr_t)p >= lo && (uintptr_t)p < hi;
			continue;
		}
		if (inside && strncmp(line, "VmFlags:", 8) == 0) {
			char want[8];
			snprintf(want, sizeof(want), " %s", flag);
			found = strstr(line, want) != NULL;
			break;
		}
	}
	if (f)
		fclose(f);
	return found;
}

Test(arena, huge_pages_only_when_asked)
{
	cr_assert_eq(strata_option(OPT_HUGEPAGES), HUGEPAGES_OFF, "default hugepages=off");
	cr_assert_not(mapping_has_flag(A.regions, "hg"));
	cr_assert_not(mapping_has_flag(A.regions->next, "hg"));

	static struct arena B;
	_strata_option_values[OPT_HUGEPAGES] = HUGEPAGES_AUTO;
	arena_init(&B, 1);
	lock_acquire(&B.lock);
	cr_assert(arena_grow(&B));
	cr_assert(arena_grow(&B));
	lock_release(&B.lock);
	struct region *second = B.regions, *first = B.regions->next; /* newest first */
	cr_assert(mapping_has_flag(second, "hg"),
	          "auto: the second region is advised MADV_HUGEPAGE");
	cr_assert_not(mapping_has_flag(first, "hg"), "auto: the first keeps small pages");
}

Test(arena, heap_check_finds_a_broken_count)
{
	free(malloc(100));
	cr_assert_eq(strata_check_heap(), 0, "a sound heap passes");
	struct arena *a = &_strata_arenas[0];
	lock_acquire(&a->lock);
	a->free_pages++; /* break one invariant */
	lock_release(&a->lock);
	cr_redirect_stderr();
	cr_assert_eq(strata_check_heap(), -1, "the broken count is found");
	lock_acquire(&a->lock);
	a->free_pages--;
	lock_release(&a->lock);
	cr_assert_eq(strata_check_heap(), 0);
}
