/* SPDX-License-Identifier: MIT */
/*
 * wl_batch.c - a thousand mallocs of one size, then their thousand frees.
 *
 * Owns the "does a run of frees overflow something?" measurement.  One
 * thread does rounds of BATCH mallocs and BATCH frees (in the order of
 * the mallocs), the size cycling through 16, 32, 64, 128 and 256 bytes
 * from round to round (or fixed with size=N).  An allocator whose per-
 * thread cache holds fewer objects than a batch flushes and refills it in
 * every round; one that frees into the objects' own slabs does not.
 */
#include "wl_common.h"

enum { OPT_ROUNDS, OPT_BATCH, OPT_SIZE, OPT_COUNT };

static struct wl_opt opts[OPT_COUNT] = {
	[OPT_ROUNDS] = { "rounds", 40000, "rounds of mallocs then frees" },
	[OPT_BATCH] = { "batch", 1000, "blocks per round (<= 65536)" },
	[OPT_SIZE] = { "size", 0, "block size, bytes; 0: cycle 16..256" },
};

#define BATCH_MAX 65536
static const size_t cycle[] = { 16, 32, 64, 128, 256 };

int main(int argc, char **argv)
{
	wl_allocator();
	wl_parse(argc, argv, opts, OPT_COUNT);
	long rounds = opts[OPT_ROUNDS].value, batch = opts[OPT_BATCH].value;
	if (rounds < 1 || batch < 1 || batch > BATCH_MAX || opts[OPT_SIZE].value < 0) {
		wl_usage(argv[0], opts, OPT_COUNT);
		return 2;
	}
	unsigned char **p = wl_map((size_t)batch * sizeof(*p));
	double          begin = wl_now();
	for (long r = 0; r < rounds; r++) {
		size_t size = opts[OPT_SIZE].value
		                      ? (size_t)opts[OPT_SIZE].value
		                      : cycle[r % (long)(sizeof(cycle) / sizeof(cycle[0]))];
		for (long i = 0; i < batch; i++) {
			if ((p[i] = malloc(size)) == NULL) {
				fprintf(stderr, "wl_batch: malloc failed\n");
				return 1;
			}
			p[i][0] = (unsigned char)i;
		}
		for (long i = 0; i < batch; i++) {
			if (p[i][0] != (unsigned char)i) {
				fprintf(stderr, "wl_batch: block %p corrupted\n", (void *)p[i]);
				return 1;
			}
			free(p[i]);
		}
	}
	double secs = wl_now() - begin;

	wl_begin("batch");
	wl_put("rounds", "%ld", rounds);
	wl_put("secs", "%.3f", secs);
	wl_put("ops_per_s", "%.0f", (double)rounds * (double)batch / secs);
	wl_put("peak_rss_kib", "%ld", wl_status_kib("VmHWM"));
	wl_end();
	return 0;
}
