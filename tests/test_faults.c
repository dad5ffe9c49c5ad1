/* SPDX-License-Identifier: MIT */
/* Faults and limits: failed mappings at every point, an address-space
 * limit, many threads, cancelled threads, fork in a loop. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "strata.h"
#include "testutil.h"

extern char **environ;

/* ------------------------------------------------------------------------
 * mmap fails from the n-th call on, for every n up to past the last one
 * ---------------------------------------------------------------------- */
static int run_fault_child(int n)
{
	char var[64], lib[4096];
	snprintf(var, sizeof(var), "STRATA_FAULT_MMAP=%d", n);
	snprintf(lib, sizeof(lib), "LD_PRELOAD=%s", getenv("LIBSTRATA") ? getenv("LIBSTRATA") : "");
	char *argv[] = { FAULT_CHILD_PATH, NULL };
	char *envp[] = { var, lib, "STRATA_LEAK=off", NULL };
	pid_t pid;
	if (posix_spawn(&pid, FAULT_CHILD_PATH, NULL, NULL, argv, envp) != 0)
		return -1;
	int status;
	waitpid(pid, &status, 0);
	return status;
}

Test(faults, failed_mappings_fail_cleanly_at_every_call, .timeout = 240)
{
	cr_assert_not_null(getenv("LIBSTRATA"), "LIBSTRATA must name libstrata.so");
	for (int n = 1; n <= 40; n++) {
		int status = run_fault_child(n);
		cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		          "STRATA_FAULT_MMAP=%d: child status %#x", n, status);
	}
}

/* ------------------------------------------------------------------------
 * RLIMIT_AS: allocation fails with ENOMEM, the program frees and goes on
 * ---------------------------------------------------------------------- */
static size_t address_space_now(void)
{
	FILE         *f = fopen("/proc/self/statm", "r");
	unsigned long pages = 0;
	if (f) {
		if (fscanf(f, "%lu", &pages) != 1)
			pages = 0;
		fclose(f);
	}
	return pages * 4096;
}

static void oom_child(void *arg)
{
	(void)arg;
	struct rlimit rl = { .rlim_cur = address_space_now() + (300 << 20),
		             .rlim_max = RLIM_INFINITY };
	if (setrlimit(RLIMIT_AS, &rl) != 0)
		_exit(3);
	enum { MAX = 20000 };
	static void *blocks[MAX];
	int          n = 0;
	errno = 0;
	while (n < MAX && (blocks[n] = malloc(1 << 20)) != NULL)
		memset(blocks[n++], 1, 4096);
	if (n == MAX || errno != ENOMEM)
		_exit(4); /* the limit never hit, or a bad errno */
	void *small = NULL;
	for (int i = 0; i < 100000 && (small = malloc(64)) != NULL; i++)
		;
	for (int i = 0; i < n; i += 2)
		free(blocks[i]);
	for (int i = 0; i < n; i += 2) /* room again: it works again */
		if ((blocks[i] = malloc(1 << 20)) == NULL)
			_exit(5);
	for (int i = 0; i < n; i++)
		free(blocks[i]);
	_exit(0);
}

Test(faults, address_space_limit_gives_enomem_and_recovers)
{
	struct child_result r;
	run_child(oom_child, NULL, 60, &r);
	cr_assert(WIFEXITED(r.status), "child killed: %#x, stderr: %s", r.status, r.err);
	cr_assert_eq(WEXITSTATUS(r.status), 0, "child exit %d, stderr: %s", WEXITSTATUS(r.status),
	             r.err);
}

/* ------------------------------------------------------------------------
 * Threads: a thousand come and go; cancelled ones leave a sound heap
 * ---------------------------------------------------------------------- */
static void *short_life(void *arg)
{
	(void)arg;
	void *p[64];
	for (int i = 0; i < 64; i++)
		p[i] = malloc((size_t)(i * 97 % 4000) + 1);
	for (int i = 0; i < 64; i += 2)
		free(p[i]);
	for (int i = 1; i < 64; i += 2)
		free(p[i]);
	return NULL;
}

static size_t cached_now(void)
{
	struct strata_stats st = { .struct_size = sizeof(st) };
	cr_assert_eq(strata_stats_get(&st), 0);
	return st.cached;
}

Test(faults, a_thousand_threads_leave_rss_bounded)
{
	size_t before = rss_bytes(), cached_before = cached_now();
	for (int round = 0; round < 20; round++) {
		pthread_t t[50];
		for (int i = 0; i < 50; i++)
			cr_assert_eq(pthread_create(&t[i], NULL, short_life, NULL), 0);
		for (int i = 0; i < 50; i++)
			pthread_join(t[i], NULL);
	}
	/* the main thread may have refilled a batch or two for pthread_create;
	 * a thousand exited caches would hold over 50 MiB */
	cr_assert_leq(cached_now(), cached_before + (1 << 20),
	              "exited threads keep no cached blocks");
	cr_assert_lt(rss_bytes(), before + (64 << 20), "RSS grew by %zu MiB",
	             (rss_bytes() - before) >> 20);
}

static void *cancelled_worker(void *arg)
{
	atomic_int *started = arg;
	void       *slots[32] = { 0 };
	atomic_fetch_add(started, 1);
	for (unsigned i = 0;; i++) {
		unsigned k = i % 32;
		free(slots[k]);
		slots[k] = malloc((i * 7919) % 20000 + 1);
		pthread_testcancel(); /* cancelled between two calls */
	}
	return NULL;
}

Test(faults, cancelled_threads_leave_a_sound_heap)
{
	for (int round = 0; round < 20; round++) {
		atomic_int started = 0;
		pthread_t  t[4];
		for (int i = 0; i < 4; i++)
			pthread_create(&t[i], NULL, cancelled_worker, &started);
		while (atomic_load(&started) < 4)
			sched_yield();
		usleep(2000);
		for (int i = 0; i < 4; i++)
			pthread_cancel(t[i]);
		for (int i = 0; i < 4; i++)
			pthread_join(t[i], NULL);
	}
	/* the heap still works: allocate, fill, check, free */
	unsigned char *p[1000];
	for (int i = 0; i < 1000; i++) {
		p[i] = malloc(333);
		memset(p[i], i & 0xff, 333);
	}
	for (int i = 0; i < 1000; i++) {
		cr_assert_eq(p[i][332], (unsigned char)(i & 0xff));
		free(p[i]);
	}
}

/* ------------------------------------------------------------------------
 * fork in a loop from a threaded process, the child allocating at once
 * ---------------------------------------------------------------------- */
static atomic_int stop_churn;

static void *churn(void *arg)
{
	(void)arg;
	void *slots[16] = { 0 };
	for (unsigned i = 0; !atomic_load(&stop_churn); i++) {
		free(slots[i % 16]);
		slots[i % 16] = malloc(i % 5000 + 1);
	}
	for (int i = 0; i < 16; i++)
		free(slots[i]);
	return NULL;
}

Test(faults, fork_in_a_loop, .timeout = 120)
{
	pthread_t t[3];
	atomic_store(&stop_churn, 0);
	for (int i = 0; i < 3; i++)
		pthread_create(&t[i], NULL, churn, NULL);
	for (int round = 0; round < 200; round++) {
		pid_t pid = fork();
		if (pid == 0) {
			alarm(10);
			void *p = malloc(100), *q = malloc(100000), *h = malloc(5 << 20);
			free(p);
			free(q);
			free(h);
			_exit(p && q && h ? 0 : 1);
		}
		int status;
		waitpid(pid, &status, 0);
		cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "round %d: status %#x",
		          round, status);
	}
	atomic_store(&stop_churn, 1);
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
}
