/* SPDX-License-Identifier: MIT */
/*
 * wl_common.h - what every workload program (bench/wl_*.c) shares.
 *
 * Owns the workloads' command line (name=value arguments over a table of
 * defaults), their random numbers (a seeded xorshift, so every run of a
 * workload does the same work), the clock, the memory readings from /proc
 * and the one line of key=value results each program prints.
 *
 * Everything is static inline: each workload stays one .c file that builds
 * on its own, with no object of this header to link.  None of it calls
 * malloc, so the readings never disturb the heap they measure.
 */
#ifndef WL_COMMON_H
#define WL_COMMON_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define KIB        1024L
#define MIB        (1024L * 1024L)
#define CACHE_LINE 64

/* The page size of x86-64 and of most 64-bit Linux: touching one byte per
 * stride makes every page of a block resident (a larger real page is only
 * touched more often than needed). */
#define TOUCH_STRIDE 4096

/* ------------------------------------------------------------------------
 * Arguments: each program lists its options with their defaults; the
 * command line overrides them as name=value.
 * ---------------------------------------------------------------------- */
struct wl_opt {
	const char *name;
	long        value;
	const char *help;
};

static inline void wl_usage(const char *prog, const struct wl_opt *opt, int n)
{
	fprintf(stderr, "usage: %s [name=value]...\n", prog);
	for (int i = 0; i < n; i++)
		fprintf(stderr, "  %-12s %-10ld %s\n", opt[i].name, opt[i].value, opt[i].help);
}

static inline int wl_set_opt(struct wl_opt *opt, int n, const char *arg)
{
	const char *eq = strchr(arg, '=');
	char       *end;

	if (eq == NULL)
		return -1;
	for (int i = 0; i < n; i++) {
		if (strlen(opt[i].name) != (size_t)(eq - arg)
		    || strncmp(opt[i].name, arg, (size_t)(eq - arg)) != 0)
			continue;
		errno = 0;
		opt[i].value = strtol(eq + 1, &end, 0);
		return (errno || *end || end == eq + 1) ? -1 : 0;
	}
	return -1;
}

/* Parse argv into opt; print the usage and exit 2 on anything unknown. */
static inline void wl_parse(int argc, char **argv, struct wl_opt *opt, int n)
{
	for (int i = 1; i < argc; i++) {
		if (wl_set_opt(opt, n, argv[i]) != 0) {
			wl_usage(argv[0], opt, n);
			exit(2);
		}
	}
}

/* ------------------------------------------------------------------------
 * Random numbers: xorshift64*, one generator per thread, seeded from the
 * thread's index so that every run draws the same sequence.
 * ---------------------------------------------------------------------- */
struct wl_rng {
	uint64_t s;
};

static inline void wl_seed(struct wl_rng *r, uint64_t seed)
{
	/* splitmix64 spreads neighbouring seeds apart; zero is not a state */
	uint64_t z = seed + 0x9e3779b97f4a7c15ULL;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	r->s = (z ^ (z >> 31)) | 1;
}

static inline uint64_t wl_next(struct wl_rng *r)
{
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return r->s * 0x2545f4914f6cdd1dULL;
}

/* Uniform in [lo, hi]. */
static inline long wl_range(struct wl_rng *r, long lo, long hi)
{
	return lo + (long)(wl_next(r) % (uint64_t)(hi - lo + 1));
}

/* Log-uniform in [lo, hi]: as many blocks between 16 and 32 bytes as
 * between 16 and 32 KiB, the way real programs skew towards small. */
static inline long wl_log_range(struct wl_rng *r, long lo, long hi)
{
	int  lo_bits = 63 - __builtin_clzl((unsigned long)lo);
	int  hi_bits = 63 - __builtin_clzl((unsigned long)hi);
	int  bits = (int)wl_range(r, lo_bits, hi_bits);
	long a = 1L << bits, b = (2L << bits) - 1;

	if (a < lo)
		a = lo;
	if (b > hi)
		b = hi;
	return wl_range(r, a, b);
}

/* ------------------------------------------------------------------------
 * Time
 * ---------------------------------------------------------------------- */
static inline double wl_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline void wl_sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* ------------------------------------------------------------------------
 * Memory readings, in KiB, straight from /proc with read(2) (stdio's FILE
 * would allocate).
 * ---------------------------------------------------------------------- */
#define PROC_BUF 4096

static inline long wl_read_proc(const char *path, char *buf, size_t len)
{
	int  fd = open(path, O_RDONLY | O_CLOEXEC);
	long n, got = 0;

	if (fd < 0)
		return -1;
	/* /proc files come a page or a record at a time: read to the end */
	while ((size_t)got < len - 1 && (n = read(fd, buf + got, len - 1 - (size_t)got)) > 0)
		got += n;
	close(fd);
	buf[got] = '\0';
	return got;
}

/* Resident set now: the second field of /proc/self/statm, in pages. */
static inline long wl_rss_kib(void)
{
	char buf[PROC_BUF];
	long size, resident;

	if (wl_read_proc("/proc/self/statm", buf, sizeof(buf)) < 0
	    || sscanf(buf, "%ld %ld", &size, &resident) != 2)
		return -1;
	return resident * (sysconf(_SC_PAGESIZE) / KIB);
}

/* The process's minor page faults so far. */
static inline long wl_minflt(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

/* A "Name:   value kB" line of /proc/self/status (VmHWM is the peak RSS). */
static inline long wl_status_kib(const char *name)
{
	char   buf[PROC_BUF * 2];
	char  *line;
	size_t len = strlen(name);

	if (wl_read_proc("/proc/self/status", buf, sizeof(buf)) < 0)
		return -1;
	for (line = buf; line; line = strchr(line, '\n')) {
		if (*line == '\n')
			line++;
		if (strncmp(line, name, len) == 0 && line[len] == ':')
			return strtol(line + len + 1, NULL, 10);
	}
	return -1;
}

/* Which allocator the process really runs on: the first known one mapped,
 * else glibc.  Catches an LD_PRELOAD that silently did not load.  The first
 * call reads /proc/self/maps, which is short only at start-up: every
 * workload calls it first thing, and the output reuses the answer. */
static inline const char *wl_allocator(void)
{
	static const char *const known[] = {
		"libstrata",
		"libjemalloc",
		"libmimalloc",
		"libtcmalloc",
	};
	static char        buf[1 << 16];
	static const char *found;

	if (found)
		return found;
	found = "glibc";
	if (wl_read_proc("/proc/self/maps", buf, sizeof(buf)) <= 0)
		return found;
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		if (strstr(buf, known[i])) {
			found = known[i] + 3;
			break;
		}
	}
	return found;
}

/* ------------------------------------------------------------------------
 * Bookkeeping memory straight from the kernel, so the workloads' own arrays
 * neither come from nor fragment the heap under test.
 * ---------------------------------------------------------------------- */
static inline void *wl_map(size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	return p;
}

static inline void wl_unmap(void *p, size_t bytes)
{
	munmap(p, bytes);
}

/* ------------------------------------------------------------------------
 * Output: one line of key=value pairs, opened by the workload's name and
 * the allocator found, closed by wl_end().
 * ---------------------------------------------------------------------- */
static inline void wl_begin(const char *workload)
{
	printf("workload=%s alloc=%s", workload, wl_allocator());
}

static inline void wl_put(const char *key, const char *fmt, ...)
{
	va_list ap;

	printf(" %s=", key);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
}

static inline void wl_end(void)
{
	printf("\n");
	fflush(stdout);
}

/* Write the first cache line of a block, one byte in every further page and
 * its last byte: the memory is then resident, as in a program that uses it,
 * at a cost that does not grow with the block. */
static inline void wl_touch(void *p, size_t size)
{
	char *c = (char *)p;

	memset(c, 0x5a, size < CACHE_LINE ? size : CACHE_LINE);
	for (size_t off = TOUCH_STRIDE; off < size; off += TOUCH_STRIDE)
		c[off] = 0x5a;
	c[size - 1] = 0x5a;
}

#endif
