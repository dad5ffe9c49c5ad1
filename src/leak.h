/* SPDX-License-Identifier: MIT */
/*
 * leak.h - the leak-tracking layer: live allocations recorded with their
 * call stack, grouped by call stack for a report in LeakSanitizer's shape.
 *
 * Every call here may run inside malloc or free: none of them allocates.
 * The tables live in one NORESERVE mapping made by leak_init (see leak.c for
 * their layout and cost).
 */
#ifndef STRATA_LEAK_H
#define STRATA_LEAK_H

#include "internal.h"
#include "strata.h"

/* Set up the tables (os_map).  Called once at start-up when leak tracking
 * is on; a second call does nothing.  false if mapping failed. */
bool leak_init(void);

/* Record block p: `requested` bytes asked for, `weight` bytes this record
 * stands for (== requested in exact mode; the sampling interval in sampled
 * mode), `skip` innermost frames dropped besides leak_record's own.  A p
 * already recorded is replaced.  false, and nothing recorded, when the
 * tables are full, leak_init has not run, or the call is nested in another
 * leak_record of the same thread (the unwinder allocating). */
bool leak_record(void *p, size_t requested, size_t weight, unsigned skip);

/* While paused, this thread's allocations are not recorded: strata's own,
 * made through libc (the threads it starts).  Returns the previous state,
 * to restore. */
bool leak_pause(bool pause);

/* A detached thread of strata's own (os_thread_start) whose start-up
 * allocations in libc are strata's, not the program's: not recorded. */
bool leak_thread_start(void *(*fn)(void *));

/* leak_thread_start once: *started is the flag (a child of fork clears it
 * to start again); what names the thread in the warning when it cannot be
 * started. */
void leak_thread_start_once(int *started, void *(*fn)(void *), const char *what);

/* Forget p if it is recorded; true if it was. */
bool leak_forget(void *p);

/* The record of old, if any, now of p (the same address or not) with the
 * size requested and the current mark, its call stack kept (no walk of the
 * stack) and its weight scaled with its size: it stands for as many blocks
 * as before.  Returns the new weight, 0 if old had no record. */
size_t leak_move(void *old, void *p, size_t requested);

/* A new mark, 1 for the first: records made after this call carry it, and
 * leak_sites/leak_report with since = it list only them.  0 means all. */
uint64_t leak_mark(void);

/* The most call stacks live at once: leak_sites never has more sites. */
#define LEAK_SITES_MAX ((size_t)1 << 16)

/* Live records made after mark `since` (0: all), one site per call stack,
 * biggest bytes first.  Fills up to max sites and returns how many exist;
 * *total_bytes and *total_objects (either may be NULL) get the sums over all
 * of them.  bytes sums the weights; objects sums, per record, weight /
 * requested but at least 1 (so exactly the number of records in exact mode,
 * the estimated count in sampled mode), rounded per site; requested sums the
 * requested sizes.  frames are return addresses.  0 and zero totals if the
 * scratch mapping for the sums cannot be made. */
size_t leak_sites(struct strata_leak_site *sites, size_t max, uint64_t since, size_t *total_bytes,
                  size_t *total_objects);

/* Which records a summary takes: those whose block keep(p, arg) says; a
 * NULL filter takes all.  keep runs under the leak table's lock. */
struct leak_filter {
	bool (*keep)(const void *p, void *arg);
	void *arg;
};
size_t leak_sites_of(struct strata_leak_site *sites, size_t max, uint64_t since,
                     const struct leak_filter *only, size_t *total_bytes, size_t *total_objects);
void   leak_report_of(int fd, const struct leak_filter *only, size_t max_sites);

/* The report on fd, in LeakSanitizer's shape: at most max_sites sites
 * (0: all), the rest summed in one line, then the SUMMARY line.  estimated
 * marks the figures "(estimated, sampled)". */
void leak_report(int fd, uint64_t since, size_t max_sites, bool estimated);

/* From now on call stacks may be taken (strata's constructor; see leak.c). */
void leak_stacks_ready(void);

/* The caller's call stack on fd, one frame per line, as in the report. */
void leak_print_stack(int fd);

/* Leading frames with a return address in [lo, hi) are not recorded (the
 * allocator's own code); 0, 0 drops none. */
void leak_ignore_range(uintptr_t lo, uintptr_t hi);

/* Records refused since start-up because a table was full. */
size_t leak_dropped(void);

/* fork handlers: take / release / re-initialise the internal lock. */
void leak_lock(void);
void leak_unlock(void);
void leak_reinit_lock(void);

#endif
