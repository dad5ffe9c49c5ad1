/* SPDX-License-Identifier: MIT */
/*
 * sample.h - which allocations leak tracking records.
 */
#ifndef STRATA_SAMPLE_H
#define STRATA_SAMPLE_H

#include "internal.h"
#include "large.h"
#include "leak.h"
#include "heap.h"

enum leak_mode_id { LEAK_OFF = 0, LEAK_SAMPLED = 1, LEAK_FULL = 2 };

extern int _strata_leak_mode strata_hidden;

static inline int leak_mode(void)
{
	return _strata_leak_mode;
}

const char *leak_mode_name(int mode);
void        sample_init(void);
void        sample_thread_init(struct heap *tc);

/* Allocation hooks, on the slow paths: bytes is what this call took from
 * the arena (a refill batch, a large run). */
size_t sample_due(struct heap *tc, size_t bytes);
/* Record p, a small block of size bytes handed out by a refill that stands
 * for volume bytes (sample_due), and mark its page so that its free takes
 * the slow path, which forgets it. */
void sample_record_small(void *p, size_t size, size_t volume);
void sample_exact(void *p, size_t size);

/* What bytes a thread heap's refill took stand for when a sampling
 * interval ends in them (the sampled mode), else 0: most end none, a
 * subtraction and no call. */
static inline size_t sample_count(struct heap *tc, size_t bytes)
{
	if (tc->sample_left > (int64_t)bytes) {
		tc->sample_left -= (int64_t)bytes;
		return 0;
	}
	return sample_due(tc, bytes);
}

/* A small block p handed out by a shared heap for a thread whose heap is
 * tc (NULL: none, not sampled): recorded exactly (leak=full), or when a
 * sampling interval ends in it. */
static inline void sample_small(struct heap *tc, void *p, size_t size, size_t bytes)
{
	if (leak_mode() == LEAK_FULL) {
		sample_exact(p, MAX(size, 1));
		return;
	}
	if (leak_mode() != LEAK_SAMPLED || tc == NULL)
		return;
	size_t volume = sample_count(tc, bytes);
	if (volume > 0)
		sample_record_small(p, size, volume);
}
void sample_large(struct heap *tc, void *p, size_t size);
void sample_resized(void *old, void *p, size_t size);
bool sample_block(struct heap *tc, void *p, size_t size, size_t usable, size_t bytes);

/* Free hooks: forget p if it was recorded. */
void sample_forget_small(struct page *pg, void *p);
void sample_forget_large(struct page *pg, void *p);
void sample_forget_huge(struct huge *h, void *p);

#endif
