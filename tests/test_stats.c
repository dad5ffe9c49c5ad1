/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE /* dladdr */
/* The figures of include/strata.h against known workloads, with leak
 * tracking exact (STRATA_LEAK=full, set before the test workers start). */
#include <criterion/criterion.h>
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "strata.h"

ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
	(void)set;
	setenv("STRATA_LEAK", "full", 1);
}

#define S  200
#define N  1000
#define K  600
#define L1 37
#define L2 11

static void *kept[N];
static void *leaked_a[L1], *leaked_b[L2];

__attribute__((noinline)) void stats_site_one(int i)
{
	leaked_a[i] = malloc(300);
	__asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) void stats_site_two(int i)
{
	leaked_b[i] = malloc(5000);
	__asm__ volatile("" ::: "memory");
}

static void totals(struct strata_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->struct_size = sizeof(*st);
	cr_assert_eq(strata_stats_get(st), 0);
}

Test(stats, exact_counts_for_a_known_workload)
{
	struct strata_stats before, after;
	uint64_t            mark = strata_mark();
	totals(&before);
	cr_assert_eq(before.requested_exact, 1, "STRATA_LEAK=full gives exact figures");
	for (int i = 0; i < N; i++)
		kept[i] = malloc(S);
	for (int i = 0; i < K; i++)
		free(kept[i]);
	for (int i = 0; i < L1; i++)
		stats_site_one(i);
	for (int i = 0; i < L2; i++)
		stats_site_two(i);
	totals(&after);
	cr_assert_eq(after.nmalloc - before.nmalloc, N + L1 + L2, "mallocs");
	cr_assert_eq(after.nfree - before.nfree, K, "frees");
	cr_assert_eq(after.requested - before.requested, (N - K) * S + L1 * 300 + L2 * 5000,
	             "requested grew by %zu", after.requested - before.requested);
	/* 200 -> class 224, 300 -> 320, 5000 -> 5120 */
	cr_assert_eq(after.allocated - before.allocated, (N - K) * 224 + L1 * 320 + L2 * 5120,
	             "allocated grew by %zu", after.allocated - before.allocated);
	cr_assert_eq(after.internal - before.internal, (N - K) * 24 + L1 * 20 + L2 * 120);

	/* since the mark: three sites, the biggest first */
	struct strata_leak_site sites[8];
	size_t                  n = strata_leak_sites(sites, 8, mark);
	cr_assert_eq(n, 3, "sites since the mark: %zu", n);
	cr_assert_eq(sites[0].bytes, (N - K) * S);
	cr_assert_eq(sites[0].objects, N - K);
	cr_assert_eq(sites[1].bytes, L2 * 5000);
	cr_assert_eq(sites[1].objects, L2);
	cr_assert_eq(sites[2].bytes, L1 * 300);
	cr_assert_eq(sites[2].objects, L1);
	Dl_info info;
	cr_assert(dladdr(sites[1].frames[0], &info) && info.dli_sname);
	cr_assert_str_eq(info.dli_sname, "stats_site_two", "first frame: %s", info.dli_sname);
	cr_assert(dladdr(sites[2].frames[0], &info) && info.dli_sname);
	cr_assert_str_eq(info.dli_sname, "stats_site_one");

	for (int i = K; i < N; i++)
		free(kept[i]);
	cr_assert_eq(strata_leak_sites(sites, 8, mark), 2, "freed blocks leave the report");
}

Test(stats, per_class_counts)
{
	struct strata_class_stats before = { .struct_size = sizeof(before) }, after = before;
	unsigned                  cls = 0;
	for (unsigned c = 0;; c++) {
		struct strata_class_stats cs = { .struct_size = sizeof(cs) };
		cr_assert_eq(strata_class_stats_get(c, &cs), 0);
		if (cs.size >= 1100) {
			cls = c;
			break;
		}
	}
	cr_assert_eq(strata_class_stats_get(cls, &before), 0);
	void *p[50];
	for (int i = 0; i < 50; i++)
		p[i] = malloc(1100);
	cr_assert_eq(strata_class_stats_get(cls, &after), 0);
	cr_assert_eq(after.size, 1152);
	cr_assert_eq(after.objects_live - before.objects_live, 50);
	cr_assert_eq(after.nmalloc - before.nmalloc, 50);
	for (int i = 0; i < 50; i++)
		free(p[i]);
	cr_assert_eq(strata_class_stats_get(cls, &after), 0);
	cr_assert_eq(after.objects_live, before.objects_live);
	cr_assert_eq(after.nfree - before.nfree, 50);
	struct strata_class_stats bad = { .struct_size = sizeof(bad) };
	cr_assert_eq(strata_class_stats_get(9999, &bad), -1);
}

Test(stats, fragmentation_moves_buddyinfo_and_the_unusable_index)
{
	struct strata_stats st;
	enum { RUNS = 600 };
	static void *run[RUNS];
	/* 64 KiB runs aligned to their size are whole order-4 blocks (an
	 * unaligned run is cut from the start of a free run, buddy.c);
	 * consecutive ones are buddies */
	for (int i = 0; i < RUNS; i++)
		run[i] = aligned_alloc(65536, 65536);
	totals(&st);
	double before = st.unusable_index[5];
	size_t order4_before = st.free_blocks[4];
	for (int i = 0; i < RUNS; i += 2) /* every other one: holes whose buddy is taken */
		free(run[i]);
	strata_thread_flush(); /* out of the thread cache */
	totals(&st);
	cr_assert_geq(st.free_blocks[4], order4_before + RUNS / 2 - 10,
	              "holes show up as order-4 blocks: %zu -> %zu", order4_before,
	              st.free_blocks[4]);
	cr_assert_gt(st.unusable_index[5], before,
	             "more free memory is unusable for 128 KiB blocks: %.3f -> %.3f", before,
	             st.unusable_index[5]);
	for (int i = 0; i < 13; i++) {
		cr_assert_geq(st.unusable_index[i], 0.0);
		cr_assert_leq(st.unusable_index[i], 1.0);
		if (i > 0)
			cr_assert_geq(st.unusable_index[i], st.unusable_index[i - 1],
			              "non-decreasing in order");
	}
	for (int i = 1; i < RUNS; i += 2)
		free(run[i]);
}

Test(stats, struct_size_is_checked)
{
	struct strata_stats st;
	st.struct_size = 8;
	cr_assert_eq(strata_stats_get(&st), -1);
	cr_assert_eq(strata_stats_get(NULL), -1);
	/* an older, shorter struct gets only what it has room for */
	struct {
		size_t   struct_size;
		unsigned api_version, narenas, nclasses, nnodes;
		size_t   requested;
		int      requested_exact;
		size_t   allocated, cached, active, resident, mapped, metadata;
		uint64_t nmalloc, nfree;
		size_t   internal, slab_slack, free_bytes, dirty_bytes, free_blocks[13];
		double   unusable_index[13];
		size_t   canary;
	} older;
	older.struct_size = offsetof(struct strata_stats, resident_ratio);
	older.canary = 0xabcdef;
	cr_assert_eq(strata_stats_get((struct strata_stats *)&older), 0);
	cr_assert_eq(older.api_version, STRATA_API_VERSION);
	cr_assert_eq(older.nclasses, 56);
	cr_assert_eq(older.canary, 0xabcdef, "nothing written past struct_size");
}

Test(stats, resident_and_mapped_follow_a_big_block)
{
	struct strata_stats a, b;
	totals(&a);
	char *p = malloc(64 << 20);
	memset(p, 1, 64 << 20);
	totals(&b);
	cr_assert_geq(b.mapped - a.mapped, 64 << 20);
	cr_assert_geq(b.resident - a.resident, 60 << 20, "resident grew by %zu",
	              b.resident - a.resident);
	free(p);
}

Test(stats, realloc_renews_exact_records)
{
	struct strata_stats before, after;
	totals(&before);
	char *a = malloc(40000), *h = malloc(6 << 20), *s = malloc(100), *g = malloc(1000);
	a = realloc(a, 100000);   /* a large run, in place or moved */
	h = realloc(h, 40 << 20); /* a huge block, moved by mremap */
	s = realloc(s, 110);      /* a small block keeping its class */
	g = realloc(g, 3000);     /* one moved to a bigger class, the size asked */
	totals(&after);
	cr_assert_eq(after.requested - before.requested, 100000 + (40 << 20) + 110 + 3000,
	             "requested grew by %zu", after.requested - before.requested);
	free(a);
	free(h);
	free(s);
	free(g);
	totals(&after);
	cr_assert_eq(after.requested, before.requested, "freed blocks leave no record (%zd left)",
	             (ssize_t)(after.requested - before.requested));
}
