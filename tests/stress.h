/* SPDX-License-Identifier: MIT */
/* The multithreaded stress workload, shared by the criterion test and the
 * ThreadSanitizer build. */
#ifndef STRATA_STRESS_H
#define STRATA_STRESS_H

/* Run `threads` threads for `ops` operations each; returns the number of
 * corrupted blocks found (0 is a pass). */
long stress_run(int threads, long ops, unsigned seed);

/* `rounds` rounds of `producers` threads handing `blocks` blocks each to
 * `consumers` threads that free them; returns the corrupted blocks. */
long stress_handoff(int rounds, int producers, int consumers, long blocks);

#endif
