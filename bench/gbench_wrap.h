/* SPDX-License-Identifier: MIT */
/*
 * gbench_wrap.h - a C interface to google-benchmark.
 *
 * Owns the C view of google-benchmark's registry and State, so that the
 * microbenchmarks can be written in C (bench/micro.c) and compiled with the
 * same flags as the allocator's own code.  gbench_wrap.cc implements it.
 *
 * A benchmark is a function that loops while bench_keep_running() says so:
 *
 *	static void bm_pair(struct bench_state *st)
 *	{
 *		size_t size = (size_t)bench_arg(st, 0);
 *		while (bench_keep_running(st))
 *			free(bench_escape(malloc(size)));
 *		bench_set_items(st, bench_iterations(st));
 *	}
 *
 * and is registered, with its arguments, before bench_run_all():
 *
 *	bench_arg1(bench_register("malloc_free", bm_pair), 64);
 */
#ifndef GBENCH_WRAP_H
#define GBENCH_WRAP_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct bench;       /* a registered benchmark (benchmark::internal::Benchmark) */
struct bench_state; /* one run of it (benchmark::State) */

typedef void (*bench_fn)(struct bench_state *st);

/* ------------------------------------------------------------------------
 * Registration
 * ---------------------------------------------------------------------- */
struct bench *bench_register(const char *name, bench_fn fn);

/* Add one run with one argument, or with two; returns b for chaining. */
struct bench *bench_arg1(struct bench *b, int64_t a);
struct bench *bench_arg2(struct bench *b, int64_t a, int64_t c);

/* Time the benchmark by the wall clock instead of the calling thread's CPU
 * time: needed when other threads do part of the work. */
struct bench *bench_real_time(struct bench *b);

/* Parse google-benchmark's flags (--benchmark_filter, --benchmark_format,
 * --benchmark_min_time, ...), run what was registered; returns 0, or 1 on an
 * unrecognised flag. */
int bench_run_all(int argc, char **argv);

/* ------------------------------------------------------------------------
 * Inside a benchmark
 * ---------------------------------------------------------------------- */
bool    bench_keep_running(struct bench_state *st);
int64_t bench_arg(const struct bench_state *st, int index);
int64_t bench_iterations(const struct bench_state *st);

/* Items done in the whole run; the report turns them into items/s, from
 * which bench/compare derives ns per operation. */
void bench_set_items(struct bench_state *st, int64_t items);
void bench_pause(struct bench_state *st);
void bench_resume(struct bench_state *st);
void bench_fail(struct bench_state *st, const char *why);

/* ------------------------------------------------------------------------
 * Keeping the compiler honest
 * ---------------------------------------------------------------------- */

/* Make p look used and its memory look read and written, so that neither a
 * malloc/free pair nor a store into the block can be optimised away. */
static inline void *bench_escape(void *p)
{
	__asm__ volatile("" : : "g"(p) : "memory");
	return p;
}

#ifdef __cplusplus
}
#endif

#endif
