/* SPDX-License-Identifier: MIT */
/* Tests for src/sizeclass.h: the size -> class map. */
#include <criterion/criterion.h>

#include "sizeclass.h"

Test(sizeclass, every_size_maps_to_the_smallest_class_that_fits)
{
	for (size_t n = 0; n <= SMALL_MAX; n++) {
		unsigned c = size_to_class(n);
		cr_assert_lt(c, NUM_CLASSES, "size %zu", n);
		cr_assert_geq(class_size_of(c), n, "size %zu -> class %u too small", n, c);
		if (c > 0)
			cr_assert_lt(class_size_of(c - 1), n, "size %zu: class %u would fit", n,
			             c - 1);
	}
}

Test(sizeclass, table_matches_the_arithmetic)
{
	for (size_t n = 1; n <= CLASS_TABLE_MAX; n++)
		cr_assert_eq(size_to_class_table(n), size_to_class(n), "size %zu", n);
}

/* The second table, above the first up to SMALL_MAX, and both through
 * size_to_class_small. */
Test(sizeclass, the_table_above_the_first_matches_the_arithmetic)
{
	for (size_t n = CLASS_TABLE_MAX + 1; n <= SMALL_MAX; n++)
		cr_assert_eq(size_to_class_offset_hi(n) >> CLASS_OFFSET_SHIFT, size_to_class(n),
		             "size %zu", n);
	for (size_t n = 1; n <= SMALL_MAX; n++)
		cr_assert_eq(size_to_class_small(n), size_to_class(n), "size %zu", n);
}

/* posix_memalign's class (api.c: aligned_class) is the class of the size
 * rounded up to the alignment, with no search: for every alignment up to a
 * page, that class is a multiple of it. */
Test(sizeclass, a_size_rounded_up_to_an_alignment_has_a_class_of_that_alignment)
{
	for (size_t align = 16; align <= 4096; align <<= 1)
		for (size_t n = 1; n <= SMALL_MAX; n++) {
			size_t up = (n + align - 1) & ~(align - 1);
			cr_assert_eq(class_size_of(size_to_class(up)) % align, 0,
			             "align %zu size %zu: class of %zu bytes", align, n,
			             class_size_of(size_to_class(up)));
		}
}

Test(sizeclass, size_zero_maps_to_the_empty_entry)
{
	cr_assert_eq(size_to_class_table(0), NUM_CLASSES, "malloc(0) leaves the fast path");
}

Test(sizeclass, classes_are_increasing_multiples_of_16)
{
	cr_assert_eq(NUM_CLASSES, 56);
	cr_assert_eq(class_size_of(0), 16);
	cr_assert_eq(class_size_of(NUM_CLASSES - 1), SMALL_MAX);
	for (unsigned c = 0; c < NUM_CLASSES; c++) {
		cr_assert_eq(class_size_of(c) % 16, 0, "class %u", c);
		if (c > 0)
			cr_assert_gt(class_size_of(c), class_size_of(c - 1));
	}
}

Test(sizeclass, rounding_waste_under_a_quarter_and_from_1_to_16_kib_an_eighth)
{
	for (size_t n = 129; n <= SMALL_MAX; n++) {
		size_t s = class_size_of(size_to_class(n));
		bool   fine = n > 1024 && n <= 16384;
		cr_assert_lt((s - n) * (fine ? 8 : 4), s, "size %zu rounds to %zu", n, s);
	}
	cr_assert_eq(class_size_of(size_to_class(16385)), 20480, "quarters above 16 KiB");
	cr_assert_eq(class_size_of(size_to_class(4104)), 4608, "a page and a small header");
	cr_assert_eq(class_size_of(size_to_class(1032)), 1152);
	cr_assert_eq(class_size_of(size_to_class(1024)), 1024);
}
