/* SPDX-License-Identifier: MIT */
/*
 * wl_hugeloop.c - a loop of huge blocks: malloc 5-25 MB, touch every page,
 * free, again.
 *
 * Owns the "are big buffers reused?" measurement.  One block is live at a
 * time; each is written page by page and checked at both ends before it
 * is freed.  An allocator that maps and unmaps every block faults every
 * page in again; one that keeps freed memory (glibc's heap once its mmap
 * threshold has risen, a cache of freed mappings) does not.  Reports the
 * time and the process's minor page faults.
 */
#include "wl_common.h"

enum { OPT_ITERS, OPT_MIN, OPT_MAX, OPT_COUNT };

static struct wl_opt opts[OPT_COUNT] = {
	[OPT_ITERS] = { "iters", 400, "blocks allocated, touched and freed" },
	[OPT_MIN] = { "min_mb", 5, "smallest block, MB" },
	[OPT_MAX] = { "max_mb", 25, "largest block, MB" },
};

int main(int argc, char **argv)
{
	wl_allocator();
	wl_parse(argc, argv, opts, OPT_COUNT);
	long lo = opts[OPT_MIN].value * 1000000L, hi = opts[OPT_MAX].value * 1000000L;
	if (opts[OPT_ITERS].value < 1 || lo < 1 || hi < lo) {
		wl_usage(argv[0], opts, OPT_COUNT);
		return 2;
	}
	struct wl_rng rng;
	wl_seed(&rng, 1);
	long   faults = wl_minflt();
	double begin = wl_now();
	for (long i = 0; i < opts[OPT_ITERS].value; i++) {
		size_t         size = (size_t)wl_range(&rng, lo, hi);
		unsigned char *p = malloc(size);
		if (p == NULL) {
			fprintf(stderr, "wl_hugeloop: malloc(%zu) failed\n", size);
			return 1;
		}
		wl_touch(p, size);
		p[0] = (unsigned char)i;
		p[size - 1] = (unsigned char)(i + 1);
		if (p[0] != (unsigned char)i || p[size - 1] != (unsigned char)(i + 1)) {
			fprintf(stderr, "wl_hugeloop: block %p corrupted\n", (void *)p);
			return 1;
		}
		free(p);
	}
	double secs = wl_now() - begin;

	wl_begin("hugeloop");
	wl_put("iters", "%ld", opts[OPT_ITERS].value);
	wl_put("secs", "%.3f", secs);
	wl_put("minflt", "%ld", wl_minflt() - faults);
	wl_put("peak_rss_kib", "%ld", wl_status_kib("VmHWM"));
	wl_end();
	return 0;
}
