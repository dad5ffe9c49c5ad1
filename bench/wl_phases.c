/* SPDX-License-Identifier: MIT */
/*
 * wl_phases.c - a long churn whose size mix changes in phases.
 *
 * Owns the "does memory follow the program?" measurement.  The program keeps
 * about the same number of live bytes throughout, but in four phases of
 * different sizes: small (16-256 B), medium (256 B-8 KiB), large (8-256 KiB),
 * then small again.  Each phase has as many slots as its mean size needs to
 * hold the live bytes, and replaces random slots with blocks of its own mix,
 * so the previous phase's blocks die off gradually, as a real program's do.
 * An allocator that keeps each size's memory for that size only ends up
 * holding the sum of the phases instead of their maximum.
 *
 * RSS is sampled through each phase; the highest sample per phase and over
 * all is reported, then the RSS once everything is freed, and again after a
 * quiet period and a few small calls (an allocator that returns memory on a
 * timer, or on its next call after one, shows it there).
 */
#include "wl_common.h"

enum { OPT_LIVE, OPT_FACTOR, OPT_QUIET, OPT_COUNT };

static struct wl_opt opts[OPT_COUNT] = {
	[OPT_LIVE] = { "live_mib", 32, "live bytes kept through every phase, MiB" },
	[OPT_FACTOR] = { "factor", 8, "replacements per phase, times its slots" },
	[OPT_QUIET] = { "quiet_ms", 500, "idle time after the last phase, ms" },
};

struct phase {
	const char *key;
	long        min, max; /* block sizes, bytes, log-uniform */
};

static const struct phase phases[] = {
	{ "rss_small_kib", 16, 256 },
	{ "rss_medium_kib", 256, 8 * KIB },
	{ "rss_large_kib", 8 * KIB, 256 * KIB },
	{ "rss_small_again_kib", 16, 256 },
};

#define NPHASES (int)(sizeof(phases) / sizeof(phases[0]))

/* RSS samples per phase: enough to catch a peak in the middle of a phase,
 * few enough that reading /proc costs nothing. */
#define SAMPLES_PER_PHASE 32

/* Draws used to estimate a phase's mean block size. */
#define MEAN_DRAWS 4096

/* The small calls made after the quiet period, each a malloc and a free. */
#define WAKE_UP_CALLS 100
#define WAKE_UP_SIZE  64

struct slot {
	void *p;
};

static struct slot *slots;
static long         nslots; /* slots in use by the current phase */

/* ------------------------------------------------------------------------
 * Slots
 * ---------------------------------------------------------------------- */
static void slot_fill(struct slot *s, size_t size)
{
	s->p = malloc(size);
	if (s->p == NULL) {
		fprintf(stderr, "wl_phases: malloc(%zu) failed\n", size);
		exit(1);
	}
	wl_touch(s->p, size);
}

static void slot_empty(struct slot *s)
{
	free(s->p);
	s->p = NULL;
}

/* Change the number of slots in use; slots beyond the new count die now. */
static void resize_slots(long n)
{
	for (long i = n; i < nslots; i++)
		slot_empty(&slots[i]);
	nslots = n;
}

static long phase_slots(const struct phase *ph, uint64_t seed)
{
	struct wl_rng rng;
	double        sum = 0;

	wl_seed(&rng, seed);
	for (int i = 0; i < MEAN_DRAWS; i++)
		sum += (double)wl_log_range(&rng, ph->min, ph->max);
	return (long)((double)(opts[OPT_LIVE].value * MIB) / (sum / MEAN_DRAWS));
}

/* ------------------------------------------------------------------------
 * One phase; returns its highest RSS sample
 * ---------------------------------------------------------------------- */
static long run_phase(const struct phase *ph, int index)
{
	struct wl_rng rng;
	long          n = phase_slots(ph, (uint64_t)index + 100);
	long          ops = n * opts[OPT_FACTOR].value;
	long          every = ops / SAMPLES_PER_PHASE ? ops / SAMPLES_PER_PHASE : 1;
	long          high = 0;

	resize_slots(n);
	wl_seed(&rng, (uint64_t)index + 1);
	for (long i = 0; i < ops; i++) {
		struct slot *s = &slots[wl_range(&rng, 0, n - 1)];
		slot_empty(s);
		slot_fill(s, (size_t)wl_log_range(&rng, ph->min, ph->max));
		if (i % every == 0 || i == ops - 1) {
			long rss = wl_rss_kib();
			high = rss > high ? rss : high;
		}
	}
	return high;
}

static long max_slots(void)
{
	long most = 0;

	for (int i = 0; i < NPHASES; i++) {
		long n = phase_slots(&phases[i], (uint64_t)i + 100);
		most = n > most ? n : most;
	}
	return most;
}

static void wake_up(void)
{
	for (int i = 0; i < WAKE_UP_CALLS; i++) {
		void *p = malloc(WAKE_UP_SIZE);
		wl_touch(p, WAKE_UP_SIZE);
		free(p);
	}
}

int main(int argc, char **argv)
{
	long high[NPHASES], rss_max = 0;

	wl_allocator();
	wl_parse(argc, argv, opts, OPT_COUNT);
	if (opts[OPT_LIVE].value < 1 || opts[OPT_FACTOR].value < 1 || opts[OPT_QUIET].value < 0) {
		wl_usage(argv[0], opts, OPT_COUNT);
		return 2;
	}

	long most = max_slots();
	slots = wl_map((size_t)most * sizeof(*slots));
	double start = wl_now();
	for (int i = 0; i < NPHASES; i++) {
		high[i] = run_phase(&phases[i], i);
		rss_max = high[i] > rss_max ? high[i] : rss_max;
	}
	double secs = wl_now() - start;
	resize_slots(0);
	long rss_final = wl_rss_kib();
	wl_sleep_ms(opts[OPT_QUIET].value);
	wake_up();
	long rss_quiet = wl_rss_kib();

	wl_begin("phases");
	wl_put("secs", "%.3f", secs);
	wl_put("live_kib", "%ld", opts[OPT_LIVE].value * KIB);
	for (int i = 0; i < NPHASES; i++)
		wl_put(phases[i].key, "%ld", high[i]);
	wl_put("rss_max_kib", "%ld", rss_max);
	wl_put("rss_final_kib", "%ld", rss_final);
	wl_put("rss_after_quiet_kib", "%ld", rss_quiet);
	wl_put("peak_rss_kib", "%ld", wl_status_kib("VmHWM"));
	wl_end();
	return 0;
}
