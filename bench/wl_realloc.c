/* SPDX-License-Identifier: MIT */
/*
 * wl_realloc.c - buffers grown a little at a time, as strings are built.
 *
 * Owns the realloc measurement.  One thread keeps many buffers and, over
 * and over, picks one at random and appends a few bytes to it with
 * realloc, the way a program builds strings, JSON or a reply buffer by
 * appending to it; a buffer that passes the cap is freed and starts again,
 * and every round some are dropped at random, so the sizes sweep the small
 * classes and the large runs above them.  Most calls stay within the
 * block's size class (an allocator answers them in place); the rest move
 * or grow a run.  Every byte appended is written, and each buffer's
 * contents are checked before it is freed: an allocator that loses a
 * byte in a move shows up as errors=N and exit status 1.
 */
#include "wl_common.h"

enum { OPT_BUFFERS, OPT_APPENDS, OPT_MAX_ADD, OPT_CAP, OPT_ROUNDS, OPT_COUNT };

static struct wl_opt opts[OPT_COUNT] = {
	[OPT_BUFFERS] = { "buffers", 1000, "buffers grown at once" },
	[OPT_APPENDS] = { "appends", 100000, "appends per round" },
	[OPT_MAX_ADD] = { "max_add", 24, "most bytes one append adds (>= 1)" },
	[OPT_CAP] = { "cap", 200000, "a buffer past this many bytes starts again" },
	[OPT_ROUNDS] = { "rounds", 40, "rounds (each ends by dropping a quarter)" },
};

struct buffer {
	unsigned char *data;
	size_t         len;
	unsigned char  seed; /* byte i holds seed + i */
};

static long errors;

static void buffer_drop(struct buffer *b)
{
	for (size_t i = 0; i < b->len; i++)
		if (b->data[i] != (unsigned char)(b->seed + i)) {
			errors++;
			break;
		}
	free(b->data);
	b->data = NULL;
	b->len = 0;
}

static void buffer_append(struct buffer *b, size_t add)
{
	unsigned char *q = realloc(b->data, b->len + add);
	if (q == NULL) {
		fprintf(stderr, "wl_realloc: realloc(%zu) failed\n", b->len + add);
		exit(1);
	}
	if (b->data == NULL)
		b->seed = (unsigned char)(uintptr_t)q;
	for (size_t i = b->len; i < b->len + add; i++)
		q[i] = (unsigned char)(b->seed + i);
	b->data = q;
	b->len += add;
}

int main(int argc, char **argv)
{
	wl_allocator();
	wl_parse(argc, argv, opts, OPT_COUNT);
	long nbuf = opts[OPT_BUFFERS].value, max_add = opts[OPT_MAX_ADD].value;
	if (nbuf < 1 || max_add < 1 || opts[OPT_APPENDS].value < 1 || opts[OPT_ROUNDS].value < 1
	    || opts[OPT_CAP].value < max_add) {
		wl_usage(argv[0], opts, OPT_COUNT);
		return 2;
	}
	struct buffer *bufs = wl_map((size_t)nbuf * sizeof(*bufs));
	struct wl_rng  rng;
	size_t         cap = (size_t)opts[OPT_CAP].value;
	long           calls = 0;

	wl_seed(&rng, 1);
	double begin = wl_now();
	for (long r = 0; r < opts[OPT_ROUNDS].value; r++) {
		for (long i = 0; i < opts[OPT_APPENDS].value; i++) {
			struct buffer *b = &bufs[wl_range(&rng, 0, nbuf - 1)];
			if (b->len > cap)
				buffer_drop(b);
			buffer_append(b, (size_t)wl_range(&rng, 1, max_add));
			calls++;
		}
		for (long k = 0; k < nbuf; k++)
			if (wl_range(&rng, 0, 3) == 0)
				buffer_drop(&bufs[k]);
	}
	double secs = wl_now() - begin;
	for (long k = 0; k < nbuf; k++)
		buffer_drop(&bufs[k]);

	wl_begin("realloc");
	wl_put("calls", "%ld", calls);
	wl_put("secs", "%.3f", secs);
	wl_put("calls_per_s", "%.0f", (double)calls / secs);
	wl_put("peak_rss_kib", "%ld", wl_status_kib("VmHWM"));
	wl_put("errors", "%ld", errors);
	wl_end();
	return errors ? 1 : 0;
}
