/* SPDX-License-Identifier: MIT */
/* Semantics of the malloc family as C and glibc users expect them. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "strata.h"

#define KiB (1UL << 10)
#define MiB (1UL << 20)
#define GiB (1UL << 30)

static const size_t sizes[] = {
	0,     1,      7,       8,           15,      16,          17,      24,       31,
	32,    33,     48,      100,         128,     129,         255,     256,      1000,
	1024,  2047,   4095,    4096,        4097,    10000,       32767,   32768,    32769,
	65536, 100000, 1 * MiB, 4 * MiB - 1, 4 * MiB, 4 * MiB + 1, 5 * MiB, 33 * MiB,
};
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))

Test(api, every_block_is_16_byte_aligned_and_writable)
{
	void *p[NSIZES];
	for (size_t i = 0; i < NSIZES; i++) {
		p[i] = malloc(sizes[i]);
		cr_assert_not_null(p[i], "malloc(%zu)", sizes[i]);
		cr_assert_eq((uintptr_t)p[i] % 16, 0, "malloc(%zu) = %p", sizes[i], p[i]);
		memset(p[i], (int)i, sizes[i]);
	}
	for (size_t i = 0; i < NSIZES; i++) {
		for (size_t j = 0; j < sizes[i]; j += 997)
			cr_assert_eq(((unsigned char *)p[i])[j], (unsigned char)i,
			             "block %zu byte %zu", i, j);
		free(p[i]);
	}
}

Test(api, malloc_zero_is_unique_and_freeable)
{
	void *a = malloc(0), *b = malloc(0);
	cr_assert_not_null(a);
	cr_assert_not_null(b);
	cr_assert_neq(a, b);
	cr_assert_eq(malloc_usable_size(a), 0, "no byte of malloc(0)'s block may be used");
	free(a);
	free(b);
}

Test(api, zero_blocks_are_distinct_and_reused_late)
{
	void *a = malloc(0), *b = calloc(0, 8), *c = aligned_alloc(64, 0);
	cr_assert(a && b && c);
	cr_assert(a != b && b != c && a != c);
	cr_assert_eq((uintptr_t)c % 64, 0);
	free(a);
	void *d = malloc(0);
	cr_assert_neq(d, a, "a freed block of size 0 is not handed out again at once");
	void *e = realloc(d, 32);
	cr_assert_not_null(e);
	memset(e, 1, 32);
	free(e);
	free(b);
	free(c);
}

Test(api, calloc_is_zero_even_when_memory_is_reused)
{
	for (size_t i = 0; i < NSIZES; i++) {
		size_t n = sizes[i];
		for (int round = 0; round < 3; round++) {
			unsigned char *d = malloc(n);
			memset(d, 0xa5, n);
			free(d);
			unsigned char *z = calloc(1, n);
			cr_assert_not_null(z);
			for (size_t j = 0; j < n; j++)
				if (z[j] != 0)
					cr_assert_fail("calloc(1, %zu) byte %zu is %#x", n, j,
					               z[j]);
			free(z);
		}
	}
}

Test(api, overflow_and_oversized_requests_fail_with_enomem)
{
	const size_t bad[] = { SIZE_MAX, SIZE_MAX - 4096, (size_t)PTRDIFF_MAX + 1 };
	for (size_t i = 0; i < 3; i++) {
		errno = 0;
		cr_assert_null(malloc(bad[i]), "malloc(%zu)", bad[i]);
		cr_assert_eq(errno, ENOMEM);
		errno = 0;
		cr_assert_null(calloc(1, bad[i]));
		cr_assert_eq(errno, ENOMEM);
		errno = 0;
		cr_assert_null(aligned_alloc(64, bad[i]));
		cr_assert_eq(errno, ENOMEM);
		errno = 0;
		cr_assert_null(memalign(1 << 20, bad[i]));
		cr_assert_eq(errno, ENOMEM);
		errno = 0;
		cr_assert_null(pvalloc(bad[i]));
		cr_assert_eq(errno, ENOMEM);
		void *q = (void *)1;
		cr_assert_eq(posix_memalign(&q, 64, bad[i]), ENOMEM);
		cr_assert_eq(q, (void *)1, "output untouched on failure");
	}
	errno = 0;
	cr_assert_null(calloc(SIZE_MAX / 2, 3));
	cr_assert_eq(errno, ENOMEM);
	errno = 0;
	cr_assert_null(calloc((size_t)1 << 33, (size_t)1 << 33));
	cr_assert_eq(errno, ENOMEM);

	char *p = malloc(100);
	memset(p, 'x', 100);
	errno = 0;
	cr_assert_null(realloc(p, SIZE_MAX));
	cr_assert_eq(errno, ENOMEM);
	errno = 0;
	cr_assert_null(reallocarray(p, SIZE_MAX / 2, 3));
	cr_assert_eq(errno, ENOMEM);
	for (int i = 0; i < 100; i++)
		cr_assert_eq(p[i], 'x', "the old block is intact");
	free(p);
}

Test(api, posix_memalign_rejects_bad_alignment)
{
	const size_t bad[] = { 0, 1, 2, 3, 4, 12, 24, 48, 100, 4095, 4097 };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		void *p = (void *)1;
		cr_assert_eq(posix_memalign(&p, bad[i], 16), EINVAL, "alignment %zu", bad[i]);
		cr_assert_eq(p, (void *)1);
	}
	errno = 0;
	cr_assert_null(aligned_alloc(24, 48));
	cr_assert_eq(errno, EINVAL);
}

Test(api, every_power_of_two_alignment_up_to_1_gib)
{
	const size_t lens[] = { 1, 24, 100, 5000, 40000, 300000 };
	for (size_t align = 8; align <= GiB; align <<= 1) {
		for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
			void *p = NULL;
			cr_assert_eq(posix_memalign(&p, align, lens[i]), 0, "align %zu len %zu",
			             align, lens[i]);
			cr_assert_eq((uintptr_t)p % align, 0, "align %zu len %zu: %p", align,
			             lens[i], p);
			cr_assert_geq(malloc_usable_size(p), lens[i]);
			memset(p, 0x5a, lens[i]);
			free(p);
		}
	}
}

/* The smallest class of len bytes or more whose size is a multiple of
 * align, found through malloc. */
static size_t smallest_aligned_class(size_t len, size_t align)
{
	for (size_t s = len;;) {
		void  *q = malloc(s);
		size_t u = malloc_usable_size(q);
		free(q);
		if (u % align == 0)
			return u;
		s = u + 1;
	}
}

/* Both calls, each block freed before the next: the second of a class
 * comes from the thread's list (the fast path), the first from a refill. */
Test(api, aligned_blocks_take_the_smallest_class_that_fits)
{
	for (size_t align = 8; align <= 4096; align <<= 1)
		for (size_t len = 1; len <= 33000; len += len < 8192 ? 37 : 1021)
			for (int call = 0; call < 2; call++) {
				void *p = NULL;
				if (call == 0)
					cr_assert_eq(posix_memalign(&p, align, len), 0);
				else
					p = aligned_alloc(align, len);
				cr_assert_eq((uintptr_t)p % align, 0, "align %zu len %zu: %p",
				             align, len, p);
				size_t want = smallest_aligned_class(len, align < 16 ? 16 : align);
				cr_assert_eq(malloc_usable_size(p), want, "align %zu len %zu",
				             align, len);
				free(p);
			}
}

Test(api, zero_size_with_every_alignment)
{
	void *blocks[64];
	int   n = 0;
	for (size_t align = 8; align <= 64 * MiB; align <<= 1) {
		void *p = NULL;
		cr_assert_eq(posix_memalign(&p, align, 0), 0, "align %zu", align);
		cr_assert_eq((uintptr_t)p % align, 0);
		blocks[n++] = p;
	}
	for (int i = 0; i < n; i++)
		for (int j = i + 1; j < n; j++)
			cr_assert_neq(blocks[i], blocks[j], "distinct blocks");
	for (int i = 0; i < n; i++)
		free(blocks[i]);
}

Test(api, other_aligned_calls)
{
	for (size_t align = 1; align <= 8 * MiB; align <<= 1) {
		void *a = aligned_alloc(align, 3 * align);
		void *m = memalign(align, 100);
		cr_assert_eq((uintptr_t)a % align, 0);
		cr_assert_eq((uintptr_t)m % align, 0);
		free(a);
		free(m);
	}
	void *m = memalign(48, 10); /* glibc rounds up to 64 */
	cr_assert_eq((uintptr_t)m % 64, 0);
	free(m);
	void *v = valloc(10);
	cr_assert_eq((uintptr_t)v % 4096, 0);
	free(v);
	void *pv = pvalloc(10);
	cr_assert_eq((uintptr_t)pv % 4096, 0);
	cr_assert_geq(malloc_usable_size(pv), 4096);
	memset(pv, 1, 4096);
	free(pv);
	pv = pvalloc(0);
	cr_assert_geq(malloc_usable_size(pv), 4096);
	free(pv);
}

static void fill(unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(i * 31 + seed);
}

static void check(const unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != (unsigned char)(i * 31 + seed))
			cr_assert_fail("byte %zu lost (%zu kept)", i, n);
}

Test(api, realloc_keeps_contents_growing_and_shrinking)
{
	/* walk up and down through small, large and huge */
	const size_t steps[] = { 1,        20,      100,     1000,  33000, 70000, 1 * MiB, 6 * MiB,
		                 40 * MiB, 5 * MiB, 2 * MiB, 50000, 4000,  17,    1 };
	size_t       n = 1;
	unsigned char *p = malloc(n);
	fill(p, n, 7);
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		size_t m = steps[i];
		p = realloc(p, m);
		cr_assert_not_null(p, "realloc to %zu", m);
		check(p, m < n ? m : n, 7);
		fill(p, m, 7);
		n = m;
	}
	free(p);
	cr_assert_null(realloc(malloc(10), 0), "realloc(p, 0) frees, as glibc does");
	p = realloc(NULL, 50);
	cr_assert_not_null(p);
	free(p);
}

/* The small classes' sizes, from malloc_usable_size (every class is a
 * multiple of 16): n of them, ascending. */
static size_t small_classes(size_t *cls, size_t max)
{
	size_t n = 0;
	for (size_t s = 16; s <= 32768 && n < max; s += 16) {
		void  *p = malloc(s);
		size_t u = malloc_usable_size(p);
		free(p);
		if (u == s)
			cls[n++] = s;
	}
	return n;
}

/* The index of the class of size (the smallest class >= size). */
static size_t class_index(const size_t *cls, size_t n, size_t size)
{
	size_t i = 0;
	while (i < n && cls[i] < size)
		i++;
	return i;
}

/* The index of the class a block grown to size moves to: the class of
 * size, except from 1 to 16 KiB, where the classes step by eighths of a
 * doubling and a grown block takes the smallest class >= size that is a
 * multiple of a quarter (api.c: realloc_grown_class). */
static size_t grown_index(const size_t *cls, size_t n, size_t size)
{
	size_t i = class_index(cls, n, size);
	if (size <= 1024 || size > 16384)
		return i;
	size_t quarter = 1;
	while (quarter * 8 < size)
		quarter *= 2; /* a quarter of the power of two below size */
	while (i < n && cls[i] % quarter != 0)
		i++;
	return i;
}

/* A small block resized within its class, or shrunk to above the size two
 * classes below, stays where it is; shrunk further, it moves to the class
 * of the new size, grown out of its class to grown_index's (api.c:
 * realloc_stays).  Its bytes go with it (realloc's inline path). */
Test(api, realloc_of_small_blocks_keeps_its_place_or_moves_with_its_bytes)
{
	static size_t cls[64];
	size_t        n = small_classes(cls, 64);
	cr_assert_gt(n, 40);
	for (size_t a = 1; a <= 4096; a += 61) {
		for (size_t b = 1; b <= 4096; b += 97) {
			unsigned char *p = malloc(a);
			size_t         ca = class_index(cls, n, malloc_usable_size(p));
			fill(p, a, 3);
			unsigned char *q = realloc(p, b);
			cr_assert_not_null(q);
			bool stays = b <= cls[ca] && (ca < 2 || b > cls[ca - 2]);
			if (stays) {
				cr_assert_eq(q, p, "%zu -> %zu stays", a, b);
			} else {
				cr_assert_neq(q, p, "%zu -> %zu moves", a, b);
				size_t k = b > cls[ca] ? grown_index(cls, n, b)
				                       : class_index(cls, n, b);
				cr_assert_eq(malloc_usable_size(q), cls[k],
				             "%zu -> %zu: the class %zu", a, b, cls[k]);
			}
			check(q, a < b ? a : b, 3);
			free(q);
		}
	}
}

/* A buffer grown by appends of 16 bytes from 1 to 16 KiB moves four times
 * a doubling (the quarters), not eight (the classes there), and keeps its
 * bytes. */
Test(api, realloc_grown_by_appends_moves_four_times_a_doubling)
{
	unsigned char *p = malloc(1024);
	fill(p, 1024, 7);
	unsigned moves = 0;
	for (size_t len = 1024 + 16; len <= 16384; len += 16) {
		unsigned char *q = realloc(p, len);
		cr_assert_not_null(q);
		moves += q != p;
		p = q;
		for (size_t i = len - 16; i < len; i++)
			p[i] = (unsigned char)(i * 31 + 7); /* as fill() */
	}
	cr_assert_eq(moves, 16, "%u moves from 1 to 16 KiB", moves);
	check(p, 16384, 7);
	free(p);
}

/* At every class's edge, up to the largest small class: its largest size
 * stays, one byte more moves up to the next class (from 1 to 16 KiB the
 * next of a quarter: grown_index), and down again: above the size two
 * classes below that class it stays, at it it moves. */
Test(api, realloc_at_every_class_edge_stays_or_moves)
{
	static size_t cls[64];
	size_t        n = small_classes(cls, 64);
	cr_assert_gt(n, 40, "only %zu classes found", n);
	for (size_t i = 2; i + 1 < n; i++) {
		size_t         u = cls[i];
		unsigned char *p = malloc(u);
		fill(p, u, 5);
		cr_assert_eq(realloc(p, u), p, "%zu stays", u);
		unsigned char *q = realloc(p, u + 1);
		cr_assert_not_null(q);
		cr_assert_neq(q, p, "%zu -> %zu moves up", u, u + 1);
		size_t j = grown_index(cls, n, u + 1);
		cr_assert(j == i + 1 || (u >= 1024 && u < 16384 && j == i + 2));
		cr_assert_eq(malloc_usable_size(q), cls[j], "%zu -> %zu: class %zu", u, u + 1,
		             cls[j]);
		check(q, u, 5);
		if (j >= 2) {
			cr_assert_eq(realloc(q, cls[j - 2] + 1), q, "%zu -> %zu stays", cls[j],
			             cls[j - 2] + 1);
			unsigned char *r = realloc(q, cls[j - 2]);
			cr_assert_neq(r, q, "%zu -> %zu moves down", cls[j], cls[j - 2]);
			cr_assert_eq(malloc_usable_size(r), cls[j - 2]);
			check(r, cls[j - 2] < u ? cls[j - 2] : u, 5);
			q = r;
		}
		free(q);
	}
}

Test(api, realloc_grows_large_blocks_in_place)
{
	/* a run of 257 pages is cut from a 512-page block; the rest is free */
	unsigned char *p = malloc(MiB + 1);
	fill(p, MiB + 1, 3);
	unsigned char *q = realloc(p, MiB + MiB / 2);
	cr_assert_eq(q, p, "grown in place");
	check(q, MiB + 1, 3);
	unsigned char *s = realloc(q, 100 * KiB);
	cr_assert_eq(s, q, "shrunk in place");
	check(s, 100 * KiB, 3);
	free(s);

	/* huge blocks move with mremap, keeping their contents */
	p = malloc(8 * MiB);
	fill(p, 8 * MiB, 9);
	q = realloc(p, 64 * MiB);
	check(q, 8 * MiB, 9);
	free(q);
}

Test(api, usable_size_is_writable_in_full)
{
	for (size_t i = 0; i < NSIZES; i++) {
		unsigned char *a = malloc(sizes[i]), *b = malloc(sizes[i]), *c = malloc(sizes[i]);
		size_t         ua = malloc_usable_size(a), ub = malloc_usable_size(b),
		       uc = malloc_usable_size(c);
		cr_assert_geq(ub, sizes[i]);
		memset(a, 0x11, ua);
		memset(c, 0x33, uc);
		memset(b, 0x22, ub); /* all of it: must not reach a or c */
		for (size_t j = 0; j < ua; j++)
			if (a[j] != 0x11)
				cr_assert_fail("size %zu: neighbour a overwritten at %zu", sizes[i],
				               j);
		for (size_t j = 0; j < uc; j++)
			if (c[j] != 0x33)
				cr_assert_fail("size %zu: neighbour c overwritten at %zu", sizes[i],
				               j);
		free(a);
		free(b);
		free(c);
	}
	cr_assert_eq(malloc_usable_size(NULL), 0);
}

Test(api, glibc_extensions)
{
	void            *p = malloc(1000), *h = malloc(10 * MiB);
	struct mallinfo2 mi = mallinfo2();
	cr_assert_geq(mi.uordblks, 1000 + 10 * MiB, "uordblks %zu arena %zu hblkhd %zu",
	              mi.uordblks, mi.arena, mi.hblkhd);
	cr_assert_eq(mi.hblks, 1);
	cr_assert_geq(mi.hblkhd, 10 * MiB);
	cr_assert_gt(mi.arena, 0);
	cr_assert_eq(mallopt(M_ARENA_MAX, 2), 1, "accepted and ignored");
	free(h);
	free(p);
	mi = mallinfo2();
	cr_assert_eq(mi.hblks, 0);
	char want[32];
	snprintf(want, sizeof(want), "%d.%d.%d", STRATA_VERSION_MAJOR, STRATA_VERSION_MINOR,
	         STRATA_VERSION_PATCH);
	cr_assert_str_eq(strata_version(), want);
}

Test(api, many_sizes_many_blocks_no_overlap)
{
	enum { N = 20000 };
	unsigned char **p = malloc(N * sizeof(*p));
	size_t         *n = malloc(N * sizeof(*n));
	srand(1);
	for (int i = 0; i < N; i++) {
		n[i] = (size_t)rand() % (i % 100 == 0 ? 200000 : 600);
		p[i] = malloc(n[i]);
		memset(p[i], i & 0xff, n[i]);
	}
	for (int i = 0; i < N; i += 2) {
		free(p[i]);
		p[i] = NULL;
	}
	for (int i = 1; i < N; i += 2)
		for (size_t j = 0; j < n[i]; j++)
			if (p[i][j] != (unsigned char)(i & 0xff))
				cr_assert_fail("block %d corrupted at %zu", i, j);
	for (int i = 1; i < N; i += 2)
		free(p[i]);
	free(p);
	free(n);
}
