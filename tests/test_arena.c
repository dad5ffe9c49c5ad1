/* Tests for src/arena.c: growth, trim, decay of unused memory. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include <criterion/redirect.h>

#include "buddy.h"
#include "strata.h"
#include "options.h"
#include "os.h"

static struct arena A;

static void setup(void)
{
	free(malloc(1));            /* options are read */
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
		for (struct page *pg = a->free_area[k].head; pg; pg = pg->next)
			if (pg->flags & PG_DIRTY)
				n += (size_t)1 << k;
	return n;
}

Test(arena, decay_waits_for_the_period_then_returns_pages_and_regions)
{
	long decay = strata_option(OPT_DECAY_MS);
	cr_assert_eq(decay, 250, "default decay_ms");
	lock_acquire(&A.lock);
	/* a 4 MiB block from each region (pages 1024..2047, whose buddy holds
	 * the descriptors: no merge), touched and freed: 8 MiB dirty, within
	 * the budget */
	struct page *a = buddy_alloc(&A, 10), *b = buddy_alloc(&A, 10);
	cr_assert_neq(page_region(a), page_region(b));
	memset(page_address(a), 1, PAGE_SIZE);
	memset(page_address(b), 1, PAGE_SIZE);
	buddy_free(&A, a, 10, true);
	buddy_free(&A, b, 10, true);
	uint64_t now = os_now_ms();
	cr_assert_eq(dirty_pages(&A), 2 << 10);
	cr_assert_eq(A.dirty_pages, dirty_pages(&A));
	cr_assert_leq(A.dirty_pages, arena_dirty_budget(&A));

	arena_decay(&A, now);
	cr_assert_eq(dirty_pages(&A), 2 << 10, "too young and within budget: kept");
	cr_assert_eq(A.nr_regions, 2, "idle regions with dirty pages are kept");
	cr_assert_geq(A.next_decay_ms, now + decay / 4, "next pass a quarter period later");

	arena_decay(&A, now + (uint64_t)decay + 10);
	cr_assert_eq(dirty_pages(&A), 0, "old enough: decommitted");
	cr_assert_eq(A.nr_regions, 1, "the idle clean region beyond the first is unmapped");
	lock_release(&A.lock);
}

Test(arena, dirty_pages_over_budget_go_back_at_once)
{
	lock_acquire(&A.lock);
	struct page *a = buddy_alloc(&A, BUDDY_MAX_ORDER), *b = buddy_alloc(&A, BUDDY_MAX_ORDER);
	buddy_free(&A, a, BUDDY_MAX_ORDER, true);
	buddy_free(&A, b, BUDDY_MAX_ORDER, true);
	size_t budget = arena_dirty_budget(&A);
	cr_assert_gt(A.dirty_pages, budget);
	arena_maybe_decay(&A, os_now_ms());
	cr_assert_leq(A.dirty_pages, budget, "biggest blocks returned down to the budget");
	cr_assert_eq(A.dirty_pages, dirty_pages(&A));
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
	char line[512];
	bool inside = false, found = false;
	while (f && fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
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
	struct region *second = B.regions, *first = B.regions->next;   /* newest first */
	cr_assert(mapping_has_flag(second, "hg"), "auto: the second region is advised MADV_HUGEPAGE");
	cr_assert_not(mapping_has_flag(first, "hg"), "auto: the first keeps small pages");
}

Test(arena, heap_check_finds_a_broken_count)
{
	free(malloc(100));
	cr_assert_eq(strata_check_heap(), 0, "a sound heap passes");
	struct arena *a = &_strata_arenas[0];
	lock_acquire(&a->lock);
	a->free_pages++;                    /* break one invariant */
	lock_release(&a->lock);
	cr_redirect_stderr();
	cr_assert_eq(strata_check_heap(), -1, "the broken count is found");
	lock_acquire(&a->lock);
	a->free_pages--;
	lock_release(&a->lock);
	cr_assert_eq(strata_check_heap(), 0);
}
