/* SPDX-License-Identifier: MIT */
/*
 * wl_mixed.c - a few hundred blocks of random sizes, replaced at random.
 *
 * Owns the measurement of a working set that stays the same size while
 * its blocks' sizes move: a program that keeps a few hundred blocks alive
 * and keeps replacing one at random by another of another size.
 *
 *  - By default, strings, records or nodes of 256 B to 2 KiB (only their
 *    ends written): each class then holds only a few live blocks, spread
 *    over its slabs (or spans, or bins), and an allocator that serves a
 *    class from one slab at a time switches slabs often.
 *  - With align=N the blocks come from posix_memalign, each with a random
 *    power-of-two alignment from 16 to N (buffers for SIMD or I/O).
 *  - With fill=1 min=32768 max=1048576, I/O or image buffers written whole
 *    (bench/compare's buffers): the freed runs are rarely the size of the
 *    next one, and an allocator that gives back what was freed before the
 *    program could reuse it makes it fault the pages in again (minflt).
 *
 * Each block's first and last bytes are checked when it is freed: an
 * allocator that hands out overlapping blocks shows up as errors=N and
 * exit status 1.
 */
#include "wl_common.h"

enum { OPT_SLOTS, OPT_OPS, OPT_MIN, OPT_MAX, OPT_ALIGN, OPT_FILL, OPT_COUNT };

static struct wl_opt opts[OPT_COUNT] = {
	[OPT_SLOTS] = { "slots", 256, "blocks alive at once" },
	[OPT_OPS] = { "ops", 20000000, "blocks replaced" },
	[OPT_MIN] = { "min", 256, "smallest block, bytes (>= 16)" },
	[OPT_MAX] = { "max", 2048, "largest block, bytes" },
	[OPT_ALIGN] = { "align", 0, "0: malloc; else posix_memalign, alignments 16..align" },
	[OPT_FILL] = { "fill", 0, "1: write every byte of a block, 0: its two ends" },
};

struct block {
	unsigned char *data;
	size_t         size;
};

static long errors;

static void block_drop(struct block *b)
{
	if (b->data == NULL)
		return;
	if (b->data[0] != (unsigned char)b->size || b->data[b->size - 1] != (unsigned char)b->size)
		errors++;
	free(b->data);
	b->data = NULL;
}

static unsigned char *block_new(struct wl_rng *rng, size_t size, long align_max)
{
	if (align_max == 0)
		return malloc(size);
	long  shifts = __builtin_ctzl((unsigned long)align_max) - 4; /* 16 = 1 << 4 */
	void *p = NULL;
	if (posix_memalign(&p, (size_t)16 << wl_range(rng, 0, shifts), size) != 0)
		return NULL;
	return p;
}

int main(int argc, char **argv)
{
	wl_allocator();
	wl_parse(argc, argv, opts, OPT_COUNT);
	long nslots = opts[OPT_SLOTS].value, align = opts[OPT_ALIGN].value;
	if (nslots < 1 || opts[OPT_OPS].value < 1 || opts[OPT_MIN].value < 16
	    || opts[OPT_MAX].value < opts[OPT_MIN].value
	    || (align != 0 && (align < 16 || (align & (align - 1)) != 0))) {
		wl_usage(argv[0], opts, OPT_COUNT);
		return 2;
	}
	struct block *blocks = wl_map((size_t)nslots * sizeof(*blocks));
	struct wl_rng rng;

	wl_seed(&rng, 1);
	double begin = wl_now();
	for (long i = 0; i < opts[OPT_OPS].value; i++) {
		struct block *b = &blocks[wl_range(&rng, 0, nslots - 1)];
		block_drop(b);
		b->size = (size_t)wl_range(&rng, opts[OPT_MIN].value, opts[OPT_MAX].value);
		if ((b->data = block_new(&rng, b->size, align)) == NULL) {
			fprintf(stderr, "wl_mixed: allocation of %zu failed\n", b->size);
			return 1;
		}
		if (align && ((uintptr_t)b->data & 15) != 0)
			errors++;
		if (opts[OPT_FILL].value)
			memset(b->data, (unsigned char)b->size, b->size);
		else
			b->data[0] = b->data[b->size - 1] = (unsigned char)b->size;
	}
	double secs = wl_now() - begin;
	for (long k = 0; k < nslots; k++)
		block_drop(&blocks[k]);

	wl_begin(align ? "aligned" : "mixed");
	wl_put("ops", "%ld", opts[OPT_OPS].value);
	wl_put("secs", "%.3f", secs);
	wl_put("ops_per_s", "%.0f", (double)opts[OPT_OPS].value / secs);
	wl_put("minflt", "%ld", wl_minflt());
	wl_put("peak_rss_kib", "%ld", wl_status_kib("VmHWM"));
	wl_put("errors", "%ld", errors);
	wl_end();
	return errors ? 1 : 0;
}
