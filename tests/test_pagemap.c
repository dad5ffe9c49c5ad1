/* SPDX-License-Identifier: MIT */
/* Tests for src/pagemap.c: address -> owner, and foreign addresses. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "large.h"
#include "pagemap.h"

Test(pagemap, strata_pointers_find_their_owner)
{
	void          *small = malloc(100), *large = malloc(100000), *huge = malloc(8 << 20);
	struct region *r = pagemap_lookup(small);
	cr_assert_not_null(r);
	cr_assert_eq(r->kind, SEG_REGION);
	cr_assert_eq(r, region_of(small));
	cr_assert_eq(((struct region *)pagemap_lookup(large))->kind, SEG_REGION);
	struct huge *h = pagemap_lookup(huge);
	cr_assert_not_null(h);
	cr_assert_eq(h->kind, SEG_HUGE);
	cr_assert_eq(huge_pointer(h), huge);
	cr_assert_eq(pagemap_lookup((char *)huge + (6 << 20)), h, "every slot of a huge block");
	free(huge);
	/* unmapped, or kept for reuse and marked freed */
	struct huge *kept = pagemap_lookup(huge);
	cr_assert(kept == NULL || kept->kind == SEG_HUGE_FREED, "freed: not a live huge block");
	free(small);
	free(large);
}

Test(pagemap, foreign_addresses_are_unknown)
{
	int        on_stack;
	static int in_data;
	void *mapped = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	cr_assert_null(pagemap_lookup(&on_stack));
	cr_assert_null(pagemap_lookup(&in_data));
	cr_assert_null(pagemap_lookup(mapped));
	cr_assert_null(pagemap_lookup((void *)(1UL << 47)));
	cr_assert_null(pagemap_lookup((void *)~0UL));
	munmap(mapped, 4096);
}

Test(pagemap, set_and_clear_cover_partial_slots)
{
	char    *base = (char *)(3UL << 40); /* an address nothing maps */
	uint32_t owner = SEG_HUGE;
	pagemap_set(base, REGION_SIZE + 1, &owner);
	cr_assert_eq(pagemap_lookup(base), &owner);
	cr_assert_eq(pagemap_lookup(base + REGION_SIZE), &owner, "second slot touched by one byte");
	cr_assert_null(pagemap_lookup(base + 2 * REGION_SIZE));
	pagemap_clear(base, REGION_SIZE + 1);
	cr_assert_null(pagemap_lookup(base));
	cr_assert_null(pagemap_lookup(base + REGION_SIZE));
}
