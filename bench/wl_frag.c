/* SPDX-License-Identifier: MIT */
/*
 * wl_frag.c - fragmenting phases, and how much memory each leaves resident.
 *
 * Owns the fragmentation measurement.  One round is four phases:
 *
 *   1. allocate many small blocks (1M of 64 B: 64 MiB live);
 *   2. free every other one: half the memory is free, but in holes too
 *      small for anything bigger, spread over every page;
 *   3. allocate larger blocks (1 KiB) worth the freed bytes: they cannot go
 *      into the holes, so a good allocator takes fresh memory once;
 *   4. free everything: what stays resident now is what the allocator keeps
 *      for itself (glibc's top-of-heap trim, decay, or nothing).
 *
 * The round is repeated, since an allocator that reuses poorly grows from
 * one round to the next.  RSS is read from /proc/self/statm after each phase
 * of the first round and at the end of the last, the peak from VmHWM;
 * malloc_trim is never called.
 */
#include "wl_common.h"

enum { OPT_SMALL, OPT_COUNT_SMALL, OPT_LARGE, OPT_COUNT_LARGE, OPT_ROUNDS, OPT_COUNT };

static struct wl_opt opts[OPT_COUNT] = {
	[OPT_SMALL] = { "small", 64, "small block, bytes" },
	[OPT_COUNT_SMALL] = { "count", 1000000, "small blocks per round" },
	[OPT_LARGE] = { "large", 1024, "large block, bytes" },
	[OPT_COUNT_LARGE] = { "large_count", 32768,
	                      "large blocks per round (default: the freed bytes)" },
	[OPT_ROUNDS] = { "rounds", 20, "rounds of the four phases" },
};

enum { PHASE_ALLOC_SMALL, PHASE_FREE_HALF, PHASE_ALLOC_LARGE, PHASE_FREE_ALL, PHASES };

static const char *const phase_key[PHASES] = {
	"rss_small_kib",
	"rss_half_kib",
	"rss_large_kib",
	"rss_free_kib",
};

static void *alloc_touched(size_t size)
{
	void *p = malloc(size);

	if (p == NULL) {
		fprintf(stderr, "wl_frag: malloc(%zu) failed\n", size);
		exit(1);
	}
	wl_touch(p, size);
	return p;
}

/* ------------------------------------------------------------------------
 * One round; rss[] gets the resident set after each phase
 * ---------------------------------------------------------------------- */
static void round_once(void **small, void **large, long rss[PHASES])
{
	long ns = opts[OPT_COUNT_SMALL].value, nl = opts[OPT_COUNT_LARGE].value;

	for (long i = 0; i < ns; i++)
		small[i] = alloc_touched((size_t)opts[OPT_SMALL].value);
	rss[PHASE_ALLOC_SMALL] = wl_rss_kib();

	for (long i = 0; i < ns; i += 2)
		free(small[i]);
	rss[PHASE_FREE_HALF] = wl_rss_kib();

	for (long i = 0; i < nl; i++)
		large[i] = alloc_touched((size_t)opts[OPT_LARGE].value);
	rss[PHASE_ALLOC_LARGE] = wl_rss_kib();

	for (long i = 1; i < ns; i += 2)
		free(small[i]);
	for (long i = 0; i < nl; i++)
		free(large[i]);
	rss[PHASE_FREE_ALL] = wl_rss_kib();
}

int main(int argc, char **argv)
{
	long first[PHASES], rss[PHASES];

	wl_allocator();
	wl_parse(argc, argv, opts, OPT_COUNT);
	long ns = opts[OPT_COUNT_SMALL].value, nl = opts[OPT_COUNT_LARGE].value;
	if (ns < 1 || nl < 0 || opts[OPT_SMALL].value < 1 || opts[OPT_LARGE].value < 1
	    || opts[OPT_ROUNDS].value < 1) {
		wl_usage(argv[0], opts, OPT_COUNT);
		return 2;
	}

	void **small = wl_map((size_t)ns * sizeof(void *));
	void **large = wl_map((size_t)(nl ? nl : 1) * sizeof(void *));
	long   rss_start = wl_rss_kib();
	double start = wl_now();
	for (long r = 0; r < opts[OPT_ROUNDS].value; r++) {
		round_once(small, large, r == 0 ? first : rss);
		if (r == 0)
			memcpy(rss, first, sizeof(rss));
	}
	double secs = wl_now() - start;

	long live_kib = (ns * opts[OPT_SMALL].value + nl * opts[OPT_LARGE].value
	                 - ns / 2 * opts[OPT_SMALL].value)
	                / KIB;
	wl_begin("frag");
	wl_put("secs", "%.3f", secs);
	wl_put("rss_start_kib", "%ld", rss_start);
	for (int p = 0; p < PHASES; p++)
		wl_put(phase_key[p], "%ld", first[p]);
	wl_put("rss_large_last_kib", "%ld", rss[PHASE_ALLOC_LARGE]);
	wl_put("rss_end_kib", "%ld", rss[PHASE_FREE_ALL]);
	wl_put("live_at_large_kib", "%ld", live_kib);
	wl_put("peak_rss_kib", "%ld", wl_status_kib("VmHWM"));
	wl_end();
	return 0;
}
