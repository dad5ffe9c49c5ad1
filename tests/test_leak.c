/* SPDX-License-Identifier: MIT */
/* Tests for src/leak.c: records and forgets, sites by call stack, marks,
 * the tables under load, and the report.
 *
 * Build with -O1 -fno-omit-frame-pointer -g, and link with -rdynamic so
 * that dladdr can name this program's functions.  Pointers are fake
 * addresses: the layer never touches the blocks it records. */
#include "leak.h" /* first: config.h defines _GNU_SOURCE, for dladdr */

#include <criterion/criterion.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FAKE_BASE ((uintptr_t)0x10000000)
#define FAKE(i)   ((void *)(FAKE_BASE + (uintptr_t)(i)*MIN_ALIGN))

/* Stores after a call keep it from being a tail call, so the caller's
 * frame is on the stack when leak_record unwinds. */
static volatile int sink;

static void setup(void)
{
	cr_assert(leak_init(), "cannot map the leak tables");
}

/* These tests own the leak tables: the process's own allocations must not
 * be recorded in them.  The runner sets this before it starts the workers
 * that run the tests, which read it at their first allocation. */
ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
	(void)set;
	setenv("STRATA_LEAK", "off", 1);
}

/* ------------------------------------------------------------------------
 * Call sites: each records from its own place in the code.  Not static, so
 * that they are in the dynamic symbol table where dladdr looks.
 * ---------------------------------------------------------------------- */
unsigned site_a(size_t first, unsigned n, size_t size);
unsigned site_b(size_t first, unsigned n, size_t size);
unsigned site_sampled(size_t first, unsigned n, size_t size, size_t weight);
bool     site_wrapped(void *p, size_t size);

noinline unsigned site_a(size_t first, unsigned n, size_t size)
{
	unsigned ok = 0;
	for (unsigned i = 0; i < n; i++)
		ok += leak_record(FAKE(first + i), size, size, 0);
	sink = (int)ok;
	return ok;
}

noinline unsigned site_b(size_t first, unsigned n, size_t size)
{
	unsigned ok = 0;
	for (unsigned i = 0; i < n; i++)
		ok += leak_record(FAKE(first + i), size, size, 0);
	sink = (int)ok + 1;
	return ok;
}

/* Sampled: each record stands for `weight` bytes. */
noinline unsigned site_sampled(size_t first, unsigned n, size_t size, size_t weight)
{
	unsigned ok = 0;
	for (unsigned i = 0; i < n; i++)
		ok += leak_record(FAKE(first + i), size, weight, 0);
	sink = (int)ok + 2;
	return ok;
}

/* An allocator's entry point: skip = 1 drops its own frame. */
static noinline bool wrapper(void *p, size_t size)
{
	bool ok = leak_record(p, size, size, 1);
	sink = ok;
	return ok;
}

noinline bool site_wrapped(void *p, size_t size)
{
	bool ok = wrapper(p, size);
	sink = ok + 3;
	return ok;
}

/* The frame (a return address) lies inside fn, by the dynamic symbol
 * table, and after fn's entry. */
static void assert_frame_in(void *frame, void *fn, const char *name)
{
	Dl_info info;
	cr_assert_gt((uintptr_t)frame, (uintptr_t)fn, "frame %p before %s %p", frame, name, fn);
	cr_assert(dladdr((char *)frame - 1, &info), "dladdr(%p) failed", frame);
	cr_assert_not_null(info.dli_sname, "no symbol for %p (linked without -rdynamic?)", frame);
	cr_assert_str_eq(info.dli_sname, name);
	cr_assert_eq(info.dli_saddr, fn);
}

static void forget_range(size_t first, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		cr_assert(leak_forget(FAKE(first + i)), "record %zu missing", first + i);
}

/* ------------------------------------------------------------------------
 * Record and forget
 * ---------------------------------------------------------------------- */
Test(leak, before_init_nothing_recorded)
{
	cr_assert_not(leak_record(FAKE(1), 8, 8, 0));
	cr_assert_not(leak_forget(FAKE(1)));
	size_t bytes = 1, objects = 1;
	cr_assert_eq(leak_sites(NULL, 0, 0, &bytes, &objects), 0);
	cr_assert_eq(bytes, 0);
	cr_assert_eq(objects, 0);
}

Test(leak, init_twice, .init = setup)
{
	cr_assert(leak_init());
	cr_assert_eq(site_a(0, 1, 8), 1);
	cr_assert(leak_init());
	cr_assert(leak_forget(FAKE(0)), "a second init must keep the records");
}

Test(leak, record_forget_counts, .init = setup)
{
	size_t bytes, objects, expect = 0;
	for (unsigned i = 0; i < 100; i++) {
		cr_assert(leak_record(FAKE(i), i + 1, i + 1, 0));
		expect += i + 1;
	}
	cr_assert_eq(leak_sites(NULL, 0, 0, &bytes, &objects), 1);
	cr_assert_eq(bytes, expect);
	cr_assert_eq(objects, 100);

	for (unsigned i = 0; i < 40; i++) {
		cr_assert(leak_forget(FAKE(i)));
		expect -= i + 1;
	}
	leak_sites(NULL, 0, 0, &bytes, &objects);
	cr_assert_eq(bytes, expect);
	cr_assert_eq(objects, 60);

	cr_assert_not(leak_forget(FAKE(0)), "forgotten twice");
	cr_assert_not(leak_forget(FAKE(1000)), "never recorded");
	cr_assert_not(leak_forget(NULL));
	cr_assert_not(leak_record(NULL, 8, 8, 0));
}

Test(leak, record_again_replaces, .init = setup)
{
	struct strata_leak_site s[2];
	cr_assert_eq(site_a(7, 1, 100), 1);
	cr_assert_eq(site_b(7, 1, 300), 1);
	cr_assert_eq(leak_sites(s, 2, 0, NULL, NULL), 1, "the first stack must be released");
	cr_assert_eq(s[0].bytes, 300);
	cr_assert_eq(s[0].objects, 1);
	assert_frame_in(s[0].frames[0], (void *)site_b, "site_b");
	cr_assert(leak_forget(FAKE(7)));
	cr_assert_not(leak_forget(FAKE(7)));
}

/* A realloc's move of a sampled record (leak_move): the record goes to the
 * new address with its new size and the current mark, keeps the stack of
 * the call that made it (no walk of the stack) and stands for as many
 * blocks as before (its weight scaled with its size). */
Test(leak, move_keeps_the_stack_and_renews_the_mark, .init = setup)
{
	struct strata_leak_site s[4];
	size_t                  bytes, objects;
	cr_assert_eq(site_sampled(7, 1, 100, 1000), 1); /* stands for 10 blocks */
	cr_assert_eq(site_b(8, 1, 50), 1);
	uint64_t m = leak_mark();
	cr_assert_eq(leak_move(FAKE(7), FAKE(9), 300), 3000, "10 blocks of 300 bytes");
	cr_assert_eq(leak_move(FAKE(7), FAKE(10), 300), 0, "moved twice");
	cr_assert_eq(leak_sites(s, 4, 0, &bytes, &objects), 2);
	cr_assert_eq(bytes, 3050);
	cr_assert_eq(objects, 11);
	cr_assert_eq(s[0].bytes, 3000);
	assert_frame_in(s[0].frames[0], (void *)site_sampled, "site_sampled");
	cr_assert_eq(leak_sites(s, 4, m, &bytes, NULL), 1, "the move renews the mark");
	cr_assert_eq(bytes, 3000);
	cr_assert_eq(leak_move(FAKE(9), FAKE(9), 30), 300, "in place");

	/* the moved record's stack is still referenced: a record from a
	 * third site takes a stack of its own, and the first is intact */
	cr_assert_eq(site_a(11, 1, 70), 1);
	cr_assert_eq(leak_sites(s, 4, 0, &bytes, NULL), 3);
	cr_assert_eq(bytes, 300 + 50 + 70);
	cr_assert_eq(s[0].bytes, 300);
	assert_frame_in(s[0].frames[0], (void *)site_sampled, "site_sampled");

	/* onto a block that has a record of its own: it replaces it */
	cr_assert_eq(leak_move(FAKE(9), FAKE(8), 30), 300);
	cr_assert_eq(leak_sites(s, 4, 0, &bytes, &objects), 2, "site_b's record was replaced");
	cr_assert_eq(bytes, 300 + 70);
	cr_assert_not(leak_forget(FAKE(9)));
	cr_assert(leak_forget(FAKE(8)));
	cr_assert(leak_forget(FAKE(11)));
	cr_assert_eq(leak_sites(s, 4, 0, &bytes, &objects), 0);
}

/* ------------------------------------------------------------------------
 * Sites
 * ---------------------------------------------------------------------- */
Test(leak, two_sites_biggest_first, .init = setup)
{
	struct strata_leak_site s[4];
	size_t                  bytes, objects;
	cr_assert_eq(site_a(0, 5, 100), 5);
	cr_assert_eq(site_b(100, 3, 1000), 3);

	cr_assert_eq(leak_sites(s, 4, 0, &bytes, &objects), 2);
	cr_assert_eq(bytes, 3500);
	cr_assert_eq(objects, 8);
	cr_assert_eq(s[0].struct_size, sizeof(s[0]));
	cr_assert_eq(s[0].bytes, 3000);
	cr_assert_eq(s[0].objects, 3);
	cr_assert_eq(s[0].requested, 3000);
	cr_assert_eq(s[1].bytes, 500);
	cr_assert_eq(s[1].objects, 5);
	cr_assert_gt(s[0].nframes, 1);
	cr_assert_leq(s[0].nframes, STRATA_LEAK_FRAMES);
	assert_frame_in(s[0].frames[0], (void *)site_b, "site_b");
	assert_frame_in(s[1].frames[0], (void *)site_a, "site_a");
	/* Both called from this test: the next frame is in the same function. */
	Dl_info caller0, caller1;
	cr_assert(dladdr((char *)s[0].frames[1] - 1, &caller0));
	cr_assert(dladdr((char *)s[1].frames[1] - 1, &caller1));
	cr_assert_not_null(caller0.dli_saddr);
	cr_assert_eq(caller0.dli_saddr, caller1.dli_saddr);
	cr_assert_neq(s[0].frames[1], s[1].frames[1], "two call sites in it");

	/* max smaller than the number of sites: the biggest, and all the totals */
	memset(s, 0, sizeof(s));
	cr_assert_eq(leak_sites(s, 1, 0, &bytes, &objects), 2);
	cr_assert_eq(s[0].bytes, 3000);
	cr_assert_eq(s[1].bytes, 0, "wrote past max");
	cr_assert_eq(bytes, 3500);

	forget_range(100, 3);
	cr_assert_eq(leak_sites(s, 4, 0, &bytes, &objects), 1);
	cr_assert_eq(s[0].bytes, 500);
	forget_range(0, 5);
	cr_assert_eq(leak_sites(s, 4, 0, &bytes, &objects), 0);
	cr_assert_eq(bytes, 0);
	cr_assert_eq(objects, 0);
}

Test(leak, skip_drops_the_wrapper, .init = setup)
{
	struct strata_leak_site s;
	cr_assert(site_wrapped(FAKE(1), 64));
	cr_assert_eq(leak_sites(&s, 1, 0, NULL, NULL), 1);
	assert_frame_in(s.frames[0], (void *)site_wrapped, "site_wrapped");
}

Test(leak, sampled_estimate, .init = setup)
{
	struct strata_leak_site s[3];
	size_t                  bytes, objects;
	/* 3 samples of 100-byte blocks at a 1000-byte interval: 30 blocks */
	cr_assert_eq(site_sampled(0, 3, 100, 1000), 3);
	/* a sampled block bigger than the interval stands for itself */
	cr_assert_eq(site_a(10, 1, 5000), 1);
	/* weight below the size still counts one block */
	cr_assert_eq(site_b(20, 1, 50), 1);

	cr_assert_eq(leak_sites(s, 3, 0, &bytes, &objects), 3);
	cr_assert_eq(s[0].bytes, 5000);
	cr_assert_eq(s[0].objects, 1);
	cr_assert_eq(s[1].bytes, 3000);
	cr_assert_eq(s[1].objects, 30);
	cr_assert_eq(s[1].requested, 300);
	cr_assert_eq(s[2].objects, 1);
	cr_assert_eq(bytes, 8050);
	cr_assert_eq(objects, 32);
}

Test(leak, sampled_estimate_rounds_per_site, .init = setup)
{
	struct strata_leak_site s;
	/* 1000 / 300 = 3.33 each: 3 records give 10 */
	cr_assert_eq(site_sampled(0, 3, 300, 1000), 3);
	cr_assert_eq(leak_sites(&s, 1, 0, NULL, NULL), 1);
	cr_assert_eq(s.objects, 10);
	cr_assert_eq(s.bytes, 3000);
}

/* ------------------------------------------------------------------------
 * Marks
 * ---------------------------------------------------------------------- */
Test(leak, since_mark, .init = setup)
{
	struct strata_leak_site s[2];
	size_t                  bytes, objects;
	cr_assert_eq(site_a(0, 2, 10), 2);
	uint64_t m = leak_mark();
	cr_assert_eq(m, 1, "marks start at 1");
	cr_assert_eq(site_b(10, 3, 20), 3);
	cr_assert_eq(site_a(20, 1, 10), 1);

	cr_assert_eq(leak_sites(s, 2, m, &bytes, &objects), 2);
	cr_assert_eq(bytes, 70);
	cr_assert_eq(objects, 4);
	cr_assert_eq(s[0].bytes, 60);
	cr_assert_eq(s[1].bytes, 10);
	leak_sites(NULL, 0, 0, &bytes, &objects);
	cr_assert_eq(bytes, 90);
	cr_assert_eq(objects, 6);

	uint64_t m2 = leak_mark();
	cr_assert_eq(m2, m + 1);
	cr_assert_eq(leak_sites(s, 2, m2, &bytes, &objects), 0);
	cr_assert_eq(bytes, 0);
	/* forgetting an old record leaves the later mark's view alone */
	cr_assert(leak_forget(FAKE(0)));
	leak_sites(NULL, 0, m, &bytes, &objects);
	cr_assert_eq(bytes, 70);
}

/* ------------------------------------------------------------------------
 * The tables under load
 * ---------------------------------------------------------------------- */
#define MANY    (1u << 20)
#define TOGGLES (2u << 20)

static uint64_t rng_state = 0x2545f4914f6cdd1dULL;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* 1M records, then 2M random toggles (forget if live, record if not);
 * after that every live pointer is found and every forgotten one is not. */
Test(leak, million_records_and_forgets, .init = setup, .timeout = 120)
{
	uint8_t *live = calloc(MANY, 1);
	size_t   records = 0, forgets = 0, nlive = 0, bytes, objects;
	cr_assert_not_null(live);
	for (size_t i = 0; i < MANY; i++) {
		cr_assert(leak_record(FAKE(i), 16, 16, 0), "record %zu refused", i);
		live[i] = 1;
	}
	records = nlive = MANY;
	for (size_t t = 0; t < TOGGLES; t++) {
		size_t i = rng() % MANY;
		if (live[i]) {
			cr_assert(leak_forget(FAKE(i)), "live %zu not found", i);
			forgets++, nlive--;
		} else {
			cr_assert(leak_record(FAKE(i), 16, 16, 0), "record %zu refused", i);
			records++, nlive++;
		}
		live[i] ^= 1;
	}
	cr_assert_geq(forgets, MANY);
	leak_sites(NULL, 0, 0, &bytes, &objects);
	cr_assert_eq(objects, nlive);
	cr_assert_eq(bytes, nlive * 16);
	for (size_t i = 0; i < MANY; i++)
		cr_assert_eq(leak_forget(FAKE(i)), live[i], "pointer %zu: live %d", i, live[i]);
	leak_sites(NULL, 0, 0, &bytes, &objects);
	cr_assert_eq(objects, 0);
	cr_assert_eq(leak_dropped(), 0);
	free(live);
}

/* Mirrors leak.c's hash, to make records whose home slots are the last and
 * first of the smallest table: one run that wraps around the end. */
#define LEAK_HASH_MUL       0x9e3779b97f4a7c15ULL
#define SMALLEST_TABLE_BITS 12
#define WRAP_EACH           200

static unsigned home_slot(uintptr_t p)
{
	return (unsigned)(((uint64_t)p * LEAK_HASH_MUL) >> (64 - SMALLEST_TABLE_BITS));
}

Test(leak, deletion_across_the_wrap, .init = setup)
{
	void    *p[2 * WRAP_EACH];
	unsigned tail = 0, head = 0;
	for (uintptr_t a = FAKE_BASE; tail + head < 2 * WRAP_EACH; a += MIN_ALIGN) {
		unsigned h = home_slot(a);
		if (h >= (1u << SMALLEST_TABLE_BITS) - 4 && tail < WRAP_EACH)
			p[tail++] = (void *)a;
		else if (h < 4 && head < WRAP_EACH)
			p[WRAP_EACH + head++] = (void *)a;
	}
	for (unsigned i = 0; i < 2 * WRAP_EACH; i++)
		cr_assert(leak_record(p[i], 8, 8, 0));
	/* forget every third, from both ends of the run, then check all */
	for (unsigned i = 0; i < 2 * WRAP_EACH; i += 3)
		cr_assert(leak_forget(p[i]), "%u", i);
	for (unsigned i = 0; i < 2 * WRAP_EACH; i++)
		cr_assert_eq(leak_forget(p[i]), i % 3 != 0, "%u", i);
	cr_assert_eq(leak_sites(NULL, 0, 0, NULL, NULL), 0);
}

/* Call stacks from a ternary tree of calls: the digits of code pick one
 * of three functions at each level, so codes below 3^11 = 177147 give as
 * many distinct stacks, more than the table holds at once.  The walk is
 * deep enough to fill every frame of a record, so the test's own call
 * site is not part of the stack. */
#define WALK_LEVELS (STRATA_LEAK_FRAMES - 1)
#define WALK_STACKS 177147u

static noinline bool walk0(unsigned long code, int level, void *p);
static noinline bool walk1(unsigned long code, int level, void *p);
static noinline bool walk2(unsigned long code, int level, void *p);

static inline __attribute__((always_inline)) bool walk_next(unsigned long code, int level, void *p)
{
	if (level == 0)
		return leak_record(p, 8, 8, 0);
	switch (code % 3) {
	case 0: return walk0(code / 3, level - 1, p);
	case 1: return walk1(code / 3, level - 1, p);
	default: return walk2(code / 3, level - 1, p);
	}
}

static noinline bool walk0(unsigned long code, int level, void *p)
{
	bool ok = walk_next(code, level, p);
	sink = 10;
	return ok;
}

static noinline bool walk1(unsigned long code, int level, void *p)
{
	bool ok = walk_next(code, level, p);
	sink = 11;
	return ok;
}

static noinline bool walk2(unsigned long code, int level, void *p)
{
	bool ok = walk_next(code, level, p);
	sink = 12;
	return ok;
}

Test(leak, stacks_are_recycled, .init = setup, .timeout = 60)
{
	for (unsigned long c = 0; c < WALK_STACKS; c++) {
		cr_assert(walk0(c, WALK_LEVELS, FAKE(c)), "stack %lu refused", c);
		cr_assert(leak_forget(FAKE(c)));
	}
	cr_assert_eq(leak_dropped(), 0);
}

Test(leak, stack_table_full, .init = setup, .timeout = 60)
{
	unsigned long c = 0;
	size_t        objects;
	while (c < WALK_STACKS && walk0(c, WALK_LEVELS, FAKE(c)))
		c++;
	cr_assert_lt(c, WALK_STACKS, "the stack table never filled");
	cr_assert_geq(c, 1u << 16, "full after %lu stacks", c);
	cr_assert_eq(leak_dropped(), 1);
	cr_assert_eq(leak_sites(NULL, 0, 0, NULL, &objects), c);
	cr_assert_eq(objects, c);
	/* a known stack still records; a freed one makes room */
	cr_assert(walk0(0, WALK_LEVELS, FAKE(WALK_STACKS)));
	cr_assert(leak_forget(FAKE(1)));
	cr_assert(walk0(c, WALK_LEVELS, FAKE(c)));
}

#define THREADS    4
#define PER_THREAD 20000u

static void *thread_work(void *arg)
{
	size_t first = (size_t)(uintptr_t)arg * PER_THREAD;
	for (unsigned i = 0; i < PER_THREAD; i++)
		if (!site_a(first + i, 1, 32))
			return (void *)1;
	for (unsigned i = 0; i < PER_THREAD; i += 2)
		if (!leak_forget(FAKE(first + i)))
			return (void *)2;
	return NULL;
}

Test(leak, threads, .init = setup)
{
	pthread_t t[THREADS];
	size_t    bytes, objects;
	for (uintptr_t i = 0; i < THREADS; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, thread_work, (void *)i), 0);
	for (unsigned i = 0; i < THREADS; i++) {
		void *ret;
		pthread_join(t[i], &ret);
		cr_assert_null(ret, "thread %u failed at step %p", i, ret);
	}
	leak_sites(NULL, 0, 0, &bytes, &objects);
	cr_assert_eq(objects, THREADS * PER_THREAD / 2);
	cr_assert_eq(bytes, THREADS * PER_THREAD / 2 * 32);
}

/* ------------------------------------------------------------------------
 * The report
 * ---------------------------------------------------------------------- */
#define REPORT_MAX 65536

/* leak_report's text, read back through a pipe (small enough to fit in
 * the pipe's buffer, so writing first and reading after cannot block). */
static char *report(uint64_t since, size_t max_sites, bool estimated)
{
	static char buf[REPORT_MAX];
	int         fd[2];
	cr_assert_eq(pipe(fd), 0);
	leak_report(fd[1], since, max_sites, estimated);
	close(fd[1]);
	size_t  len = 0;
	ssize_t n;
	while ((n = read(fd[0], buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)n;
	close(fd[0]);
	buf[len] = '\0';
	return buf;
}

/* The rest of a frame line after the function: "+0xOFF (MODULE+0xOFF)". */
static void assert_frame_line(const char *at)
{
	char          module[256];
	unsigned long off, module_off;
	int           end = 0;
	cr_assert_not_null(at);
	int n = sscanf(at, " in site_b+0x%lx (%255[^+]+0x%lx)%n", &off, module, &module_off, &end);
	cr_assert_eq(n, 3, "bad frame line: %.100s", at);
	cr_assert_gt(end, 0);
	cr_assert_eq(at[end], '\n');
	cr_assert_gt(off, 0);
	cr_assert_gt(module_off, off);
}

Test(leak, report_shape, .init = setup)
{
	cr_assert_eq(site_a(0, 5, 100), 5);
	cr_assert_eq(site_b(100, 3, 1000), 3);
	char *r = report(0, 0, false);
	cr_log_info("%s", r);
	cr_assert_not_null(strstr(r, "strata: live allocations by call stack\n"), "%s", r);
	char *big = strstr(r, "3000 bytes in 3 objects allocated from:\n");
	char *small = strstr(r, "500 bytes in 5 objects allocated from:\n");
	cr_assert(big && small && big < small, "sites missing or out of order:\n%s", r);
	cr_assert_not_null(strstr(big, "    #0 0x"), "%s", r);
	cr_assert_not_null(strstr(big, " in site_b+0x"), "%s", r);
	cr_assert_not_null(strstr(small, " in site_a+0x"), "%s", r);
	assert_frame_line(strstr(big, " in site_b+0x"));
	cr_assert_not_null(strstr(r, "\n\nSUMMARY: strata: 3500 bytes leaked in 8 allocations.\n"),
	                   "%s", r);
	cr_assert_null(strstr(r, "estimated"));
	cr_assert_null(strstr(r, "more sites"));
}

Test(leak, report_limits_and_marks, .init = setup)
{
	cr_assert_eq(site_a(0, 5, 100), 5);
	cr_assert_eq(site_b(100, 3, 1000), 3);
	char *r = report(0, 1, true);
	cr_assert_not_null(
	        strstr(r, "3000 bytes in 3 objects allocated from: (estimated, sampled)\n"), "%s",
	        r);
	cr_assert_null(strstr(r, "500 bytes in"), "%s", r);
	cr_assert_not_null(strstr(r, "... and 1 more sites, 500 bytes\n"), "%s", r);
	cr_assert_not_null(strstr(r, "SUMMARY: strata: 3500 bytes leaked in 8 allocations.\n"),
	                   "%s", r);

	uint64_t m = leak_mark();
	cr_assert_eq(site_a(200, 2, 7), 2);
	r = report(m, 0, false);
	cr_assert_not_null(strstr(r, "made since mark 1\n"), "%s", r);
	cr_assert_not_null(strstr(r, "14 bytes in 2 objects allocated from:\n"), "%s", r);
	cr_assert_not_null(strstr(r, "SUMMARY: strata: 14 bytes leaked in 2 allocations.\n"), "%s",
	                   r);

	r = report(leak_mark(), 0, false);
	cr_assert_null(strstr(r, "bytes in"), "%s", r);
	cr_assert_not_null(strstr(r, "SUMMARY: strata: 0 bytes leaked in 0 allocations.\n"), "%s",
	                   r);
}
