/* SPDX-License-Identifier: MIT */
/* Run by tests/cache_leaks.sh with STRATA_LEAK=full: objects of a cache and
 * a private heap allocated from named functions, a pool's reserve used and
 * refilled, then the report (JSON to argv[1]), then a cache destroyed with
 * objects still in use.
 * The reports must name each cache's call sites, and a pool object put back
 * in the reserve must no longer count as the program's.
 *
 * With "sampled" first (STRATA_LEAK=sampled): many objects of a cache and
 * many blocks of a private heap kept from one site each, as many allocated
 * and freed (or reset) from others, then the reports.  The kept sites must
 * be in their rows with estimates near their bytes, the others nowhere. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "strata.h"

void *keep[64]; /* extern: the stores into it stay, and so do the frames */

__attribute__((noinline)) void make_session(strata_cache_t *c, int i)
{
	keep[i] = strata_cache_alloc(c);
	memset(keep[i], 1, 100);
}

__attribute__((noinline)) void fill_request(strata_heap_t *h, int i)
{
	keep[32 + i] = strata_heap_malloc(h, 300);
}

__attribute__((noinline)) void *take_buffer(strata_pool_t *p)
{
	void *b = strata_pool_alloc(p);
	if (b != NULL)
		memset(b, 2, 200); /* not a tail call: this frame stays on the stack */
	return b;
}

/* With the address space capped and the arenas used up, the pool serves
 * from its reserve; those objects, freed, go back to the reserve and must
 * leave the leak records.  Returns the objects the reserve served. */
static unsigned long reserve_round(strata_pool_t *buffers)
{
	strata_cache_t *filler = strata_cache_create("filler", 4096, 0, 0);
	FILE           *f = fopen("/proc/self/statm", "r");
	unsigned long   vm_pages = 0;
	struct rlimit   rl, old;
	if (filler == NULL || f == NULL || fscanf(f, "%lu", &vm_pages) != 1)
		exit(10);
	fclose(f);
	getrlimit(RLIMIT_AS, &old);
	rl = old;
	rl.rlim_cur = vm_pages * 4096 + (1 << 20);
	if (setrlimit(RLIMIT_AS, &rl) != 0)
		exit(11);
	/* more than a slab of the pool's class holds: the cache runs dry */
	static void *junk[1 << 20], *got[1024];
	size_t       n = 0, served = 0;
	while (n < (1u << 20) && (junk[n] = strata_cache_alloc(filler)) != NULL)
		n++;
	while (served < 1024 && (got[served] = take_buffer(buffers)) != NULL)
		served++;
	for (size_t i = 0; i < served; i++)
		strata_pool_free(buffers, got[i]);
	setrlimit(RLIMIT_AS, &old);
	struct strata_cache_stats st = { .struct_size = sizeof(st) };
	strata_pool_stats_get(buffers, &st);
	for (size_t i = 0; i < n; i++)
		strata_cache_free(filler, junk[i]);
	return (unsigned long)st.reserve_served;
}

#define MANY_OBJECTS 100000 /* of 100 bytes: 10 MB kept */
#define MANY_BLOCKS  40000  /* of 300 bytes: 12 MB kept */

static void *many[MANY_OBJECTS];

__attribute__((noinline)) void *make_many(strata_cache_t *c)
{
	void *p = strata_cache_alloc(c);
	if (p != NULL)
		memset(p, 3, 100);
	return p;
}

__attribute__((noinline)) void *make_brief(strata_cache_t *c)
{
	void *p = strata_cache_alloc(c);
	if (p != NULL)
		memset(p, 4, 100);
	return p;
}

__attribute__((noinline)) void *fill_many(strata_heap_t *h)
{
	void *p = strata_heap_malloc(h, 300);
	if (p != NULL)
		memset(p, 5, 300);
	return p;
}

__attribute__((noinline)) void *fill_scratch(strata_heap_t *h)
{
	void *p = strata_heap_malloc(h, 300);
	if (p != NULL)
		memset(p, 6, 300);
	return p;
}

static int sampled(const char *json)
{
	strata_cache_t *objects = strata_cache_create("many", 100, 0, 0);
	strata_heap_t  *kept = strata_heap_create("kept");
	strata_heap_t  *scratch = strata_heap_create("scratch");
	if (!objects || !kept || !scratch)
		return 1;
	/* in rounds, so that kept objects reuse the pages of freed ones (a
	 * refill's sample stands for its batch: alternating the two sites
	 * call by call would give one of them every refill) */
	for (int round = 0; round < 10; round++) {
		static void *brief[MANY_OBJECTS / 10];
		for (int i = 0; i < MANY_OBJECTS / 10; i++)
			many[round * (MANY_OBJECTS / 10) + i] = make_many(objects);
		for (int i = 0; i < MANY_OBJECTS / 10; i++)
			brief[i] = make_brief(objects);
		for (int i = 0; i < MANY_OBJECTS / 10; i++)
			strata_cache_free(objects, brief[i]);
	}
	for (int i = 0; i < MANY_BLOCKS; i++)
		if (!fill_many(kept) || !fill_scratch(scratch))
			return 1;
	strata_heap_reset(scratch);
	if (strata_report_file(json, STRATA_FORMAT_JSON, STRATA_REPORT_ALL) != 0)
		return 1;
	strata_report(1, STRATA_FORMAT_TEXT, STRATA_REPORT_ALL);
	/* destroyed busy: the sampled sites of what it still holds */
	if (strata_cache_destroy(objects) == 0)
		return 1;
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "sampled") == 0)
		return sampled(argv[2]);
	if (argc != 2) {
		fprintf(stderr, "usage: cache_leak_child JSON_FILE\n");
		return 2;
	}
	strata_cache_t *sessions = strata_cache_create("sessions", 100, 0, 0);
	strata_heap_t  *request = strata_heap_create("request");
	strata_pool_t  *buffers = strata_pool_create("buffers", 200, 4);
	if (!sessions || !request || !buffers)
		return 1;
	for (int i = 0; i < 10; i++)
		make_session(sessions, i);
	for (int i = 0; i < 5; i++)
		fill_request(request, i);
	printf("reserve_served=%lu\n", reserve_round(buffers));
	if (strata_report_file(argv[1], STRATA_FORMAT_JSON, STRATA_REPORT_ALL) != 0)
		return 1;
	fflush(stdout);
	strata_report(1, STRATA_FORMAT_TEXT, STRATA_REPORT_ALL);
	fflush(stdout);
	if (strata_cache_destroy(sessions) == 0)
		return 3; /* it has live objects: the call must say so */
	return 0;
}
