/* SPDX-License-Identifier: MIT */
/*
 * gbench_wrap.cc - google-benchmark behind the C interface of gbench_wrap.h.
 *
 * Owns the only C++ in the benchmarks.  struct bench is a
 * benchmark::internal::Benchmark and struct bench_state a benchmark::State,
 * cast at the boundary; nothing else of google-benchmark leaks into C.
 * Every call from C is a real (non-inlined) call, so bench_keep_running()
 * costs a few nanoseconds more per iteration than the C++ loop would: the
 * same for every allocator, which is what the comparison needs.
 */
#include "gbench_wrap.h"

#include <benchmark/benchmark.h>

static benchmark::internal::Benchmark *to_cc(struct bench *b)
{
	return reinterpret_cast<benchmark::internal::Benchmark *>(b);
}

static struct bench *to_c(benchmark::internal::Benchmark *b)
{
	return reinterpret_cast<struct bench *>(b);
}

static benchmark::State &state_of(struct bench_state *st)
{
	return *reinterpret_cast<benchmark::State *>(st);
}

static const benchmark::State &state_of(const struct bench_state *st)
{
	return *reinterpret_cast<const benchmark::State *>(st);
}

/* ------------------------------------------------------------------------
 * Registration
 * ---------------------------------------------------------------------- */
extern "C" struct bench *bench_register(const char *name, bench_fn fn)
{
	auto call = [fn](benchmark::State &st) { fn(reinterpret_cast<struct bench_state *>(&st)); };
	return to_c(benchmark::RegisterBenchmark(name, call));
}

extern "C" struct bench *bench_arg1(struct bench *b, int64_t a)
{
	to_cc(b)->Arg(a);
	return b;
}

extern "C" struct bench *bench_arg2(struct bench *b, int64_t a, int64_t c)
{
	to_cc(b)->Args({ a, c });
	return b;
}

extern "C" struct bench *bench_real_time(struct bench *b)
{
	to_cc(b)->UseRealTime();
	return b;
}

extern "C" int bench_run_all(int argc, char **argv)
{
	benchmark::Initialize(&argc, argv);
	if (benchmark::ReportUnrecognizedArguments(argc, argv))
		return 1;
	benchmark::RunSpecifiedBenchmarks();
	benchmark::Shutdown();
	return 0;
}

/* ------------------------------------------------------------------------
 * Inside a benchmark
 * ---------------------------------------------------------------------- */
extern "C" bool bench_keep_running(struct bench_state *st)
{
	return state_of(st).KeepRunning();
}

extern "C" int64_t bench_arg(const struct bench_state *st, int index)
{
	return state_of(st).range(static_cast<std::size_t>(index));
}

extern "C" int64_t bench_iterations(const struct bench_state *st)
{
	return static_cast<int64_t>(state_of(st).iterations());
}

extern "C" void bench_set_items(struct bench_state *st, int64_t items)
{
	state_of(st).SetItemsProcessed(items);
}

extern "C" void bench_pause(struct bench_state *st)
{
	state_of(st).PauseTiming();
}

extern "C" void bench_resume(struct bench_state *st)
{
	state_of(st).ResumeTiming();
}

extern "C" void bench_fail(struct bench_state *st, const char *why)
{
	state_of(st).SkipWithError(why);
}
