/* SPDX-License-Identifier: MIT */
/*
 * wl_buffers.c - buffers of 32 KiB to 1 MiB, replaced at random.
 *
 * Owns the measurement of the large runs under churn: a program that keeps
 * a few hundred I/O or image buffers alive, each written whole, and keeps
 * replacing one at random by a buffer of another size.  Its live memory
 * stays about the same while the sizes move, so the freed runs are rarely
 * the size of the next one: an allocator that gives back what was freed
 * before the program could reuse it makes it fault the pages in again (see
 * minflt).  Each buffer's first and last bytes are checked when it is
 * freed: an allocator that hands out overlapping runs shows up as errors=N
 * and exit status 1.
 */
#include "wl_common.h"

enum { OPT_SLOTS, OPT_OPS, OPT_MIN, OPT_MAX, OPT_COUNT };

static struct wl_opt opts[OPT_COUNT] = {
	[OPT_SLOTS] = { "slots", 256, "buffers alive at once" },
	[OPT_OPS] = { "ops", 40000, "buffers replaced" },
	[OPT_MIN] = { "min", 32 << 10, "smallest buffer, bytes (>= 16)" },
	[OPT_MAX] = { "max", 1 << 20, "largest buffer, bytes" },
};

struct buffer {
	unsigned char *data;
	size_t         size;
};

static long errors;

static void buffer_drop(struct buffer *b)
{
	if (b->data == NULL)
		return;
	if (b->data[0] != (unsigned char)b->size || b->data[b->size - 1] != (unsigned char)b->size)
		errors++;
	free(b->data);
	b->data = NULL;
}

int main(int argc, char **argv)
{
	wl_allocator();
	wl_parse(argc, argv, opts, OPT_COUNT);
	long nslots = opts[OPT_SLOTS].value;
	if (nslots < 1 || opts[OPT_OPS].value < 1 || opts[OPT_MIN].value < 16
	    || opts[OPT_MAX].value < opts[OPT_MIN].value) {
		wl_usage(argv[0], opts, OPT_COUNT);
		return 2;
	}
	struct buffer *bufs = wl_map((size_t)nslots * sizeof(*bufs));
	struct wl_rng  rng;

	wl_seed(&rng, 1);
	double begin = wl_now();
	for (long i = 0; i < opts[OPT_OPS].value; i++) {
		struct buffer *b = &bufs[wl_range(&rng, 0, nslots - 1)];
		buffer_drop(b);
		b->size = (size_t)wl_range(&rng, opts[OPT_MIN].value, opts[OPT_MAX].value);
		if ((b->data = malloc(b->size)) == NULL) {
			fprintf(stderr, "wl_buffers: malloc(%zu) failed\n", b->size);
			return 1;
		}
		memset(b->data, (unsigned char)b->size, b->size);
	}
	double secs = wl_now() - begin;
	for (long k = 0; k < nslots; k++)
		buffer_drop(&bufs[k]);

	wl_begin("buffers");
	wl_put("ops", "%ld", opts[OPT_OPS].value);
	wl_put("secs", "%.3f", secs);
	wl_put("ops_per_s", "%.0f", (double)opts[OPT_OPS].value / secs);
	wl_put("minflt", "%ld", wl_minflt());
	wl_put("peak_rss_kib", "%ld", wl_status_kib("VmHWM"));
	wl_put("errors", "%ld", errors);
	wl_end();
	return errors ? 1 : 0;
}
