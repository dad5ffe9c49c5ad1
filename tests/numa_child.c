/* SPDX-License-Identifier: MIT */
/* Runs inside the two-node VM (tests/numa.sh), linked statically with
 * strata and libnuma: checks with move_pages and get_mempolicy that each
 * thread's memory sits on the node the thread runs on, that a thread moved
 * to the other node gets memory there, that strata_alloc_onnode places
 * where it is told, that frees from the other node are counted remote, and
 * that STRATA_NUMA=off binds nothing.  `numa_child all` runs itself once
 * per mode (preferred, strict, off) and fails if any run does. */
#define _GNU_SOURCE
#include <errno.h>
#include <numa.h>
#include <numaif.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "strata.h"

#include <execinfo.h>
#include <signal.h>

/* An abort with no message would leave nothing to go on inside the VM:
 * print the raw stack (numa.sh resolves it with addr2line). */
static void on_abort(int sig)
{
	void             *frames[48];
	int               n = backtrace(frames, 48);
	static const char head[] = "numa_child: SIGABRT, stack:\n";
	if (write(1, head, sizeof(head) - 1) < 0)
		_exit(98);
	backtrace_symbols_fd(frames, n, 1);
	signal(sig, SIG_DFL);
	raise(sig);
}

static int         failures;
static const char *mode = "preferred";

#define CHECK(cond, ...)                             \
	do {                                         \
		if (!(cond)) {                       \
			printf("FAIL [%s]: ", mode); \
			printf(__VA_ARGS__);         \
			printf("\n");                \
			failures++;                  \
		}                                    \
	} while (0)

static void pin(int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) != 0) {
		perror("sched_setaffinity");
		exit(2);
	}
	while (sched_getcpu() != cpu)
		sched_yield();
}

/* How many of the pages of [p, p + size) are on `node` (after touching). */
static size_t pages_on(const void *p, size_t size, int node, size_t *total)
{
	enum { MAX = 4096 };
	static void *pages[MAX];
	static int   status[MAX];
	uintptr_t    start = ((uintptr_t)p + 4095) & ~4095UL, end = ((uintptr_t)p + size) & ~4095UL;
	size_t       n = 0, on = 0;
	for (uintptr_t a = start; a < end && n < MAX; a += 4096)
		pages[n++] = (void *)a;
	if (n == 0)
		return *total = 0;
	if (move_pages(0, n, pages, NULL, status, 0) != 0) {
		perror("move_pages");
		exit(2);
	}
	for (size_t i = 0; i < n; i++)
		on += status[i] == node;
	*total = n;
	return on;
}

static int policy_of(void *p, unsigned long *mask)
{
	int pol = -1;
	*mask = 0;
	if (get_mempolicy(&pol, mask, sizeof(*mask) * 8, p, MPOL_F_ADDR) != 0) {
		perror("get_mempolicy");
		exit(2);
	}
	return pol;
}

struct job {
	int   cpu, node;
	char *small[2000];
	char *large[16];
	char *huge;
};

/* Allocate and touch small (1 KiB), large (256 KiB) and huge (8 MiB) blocks. */
static void *allocate(void *arg)
{
	struct job *j = arg;
	pin(j->cpu);
	for (int i = 0; i < 2000; i++) {
		j->small[i] = malloc(1024);
		memset(j->small[i], 1, 1024);
	}
	for (int i = 0; i < 16; i++) {
		j->large[i] = malloc(256 << 10);
		memset(j->large[i], 2, 256 << 10);
	}
	j->huge = malloc(8 << 20);
	memset(j->huge, 3, 8 << 20);
	return NULL;
}

static void check_local(struct job *j, int expect_node)
{
	size_t total, on;
	size_t s_on = 0, s_total = 0;
	for (int i = 0; i < 2000; i += 50) {
		s_on += pages_on(j->small[i], 4096 + 1024, expect_node, &total); /* its page(s) */
		s_total += total;
	}
	on = pages_on(j->large[3], 256 << 10, expect_node, &total);
	CHECK(on == total && total > 0, "cpu %d: large block %zu of %zu pages on node %d", j->cpu,
	      on, total, expect_node);
	on = pages_on(j->huge, 8 << 20, expect_node, &total);
	CHECK(on == total && total > 0, "cpu %d: huge block %zu of %zu pages on node %d", j->cpu,
	      on, total, expect_node);
	CHECK(s_on == s_total, "cpu %d: small blocks %zu of %zu pages on node %d", j->cpu, s_on,
	      s_total, expect_node);
	printf("[%s] cpu %d: small, large and huge blocks on node %d\n", mode, j->cpu, expect_node);
}

static void check_policy(struct job *j)
{
	unsigned long mask;
	void         *blocks[] = { j->small[7], j->large[1], j->huge };
	for (int i = 0; i < 3; i++) {
		int pol = policy_of(blocks[i], &mask);
		if (!strcmp(mode, "off"))
			CHECK(pol == MPOL_DEFAULT,
			      "block %d of cpu %d has policy %d with STRATA_NUMA=off", i, j->cpu,
			      pol);
		else
			CHECK(pol == (!strcmp(mode, "strict") ? MPOL_BIND : MPOL_PREFERRED)
			              && mask == 1UL << j->node,
			      "block %d of cpu %d: policy %d mask %#lx", i, j->cpu, pol, mask);
	}
	printf("[%s] cpu %d: policy of its blocks checked\n", mode, j->cpu);
}

/* A thread that starts on node 0 and is moved to node 1 gets node-1
 * memory once it refills. */
static void *moved(void *arg)
{
	char **out = arg;
	pin(0);
	for (int i = 0; i < 1000; i++)
		free(malloc(512));
	pin(2);
	for (int i = 0; i < 400; i++) { /* past the cached objects */
		out[i] = malloc(512);
		memset(out[i], 4, 512);
	}
	return NULL;
}

static void *onnode(void *arg)
{
	char **out = arg;
	pin(0);
	out[0] = strata_alloc_onnode(1 << 20, 1);
	out[1] = strata_alloc_onnode(200, 1);
	out[2] = strata_alloc_onnode(64, 0);
	errno = 0;
	out[3] = strata_alloc_onnode(64, 7);
	out[4] = (char *)(long)errno;
	if (out[0])
		memset(out[0], 5, 1 << 20); /* first touch on node 0 */
	if (out[1])
		memset(out[1], 5, 200);
	return NULL;
}

static void *free_all(void *arg)
{
	struct job *j = arg;
	pin(2);
	for (int i = 0; i < 2000; i++)
		free(j->small[i]);
	strata_thread_flush();
	return NULL;
}

static void run_thread(void *(*fn)(void *), void *arg)
{
	pthread_t t;
	pthread_create(&t, NULL, fn, arg);
	pthread_join(t, NULL);
}

static int one_mode(void)
{
	struct strata_stats st = { .struct_size = sizeof(st) };
	strata_stats_get(&st);
	int off = !strcmp(mode, "off");
	CHECK(st.nnodes == (off ? 1u : 2u), "strata sees %u nodes", st.nnodes);
	static struct job j0 = { .cpu = 0, .node = 0 }, j1 = { .cpu = 2, .node = 1 };
	run_thread(allocate, &j0);
	run_thread(allocate, &j1);
	check_policy(&j0);
	check_policy(&j1);
	if (off)
		return failures;
	check_local(&j0, 0);
	check_local(&j1, 1);

	static char *m[400];
	run_thread(moved, m);
	size_t total, on = 0, all = 0;
	for (int i = 200; i < 400; i++) {
		on += pages_on(m[i], 512, 1, &total);
		all += total;
	}
	on = 0, all = 0;
	for (int i = 200; i < 400; i += 8) {
		size_t t2;
		on += pages_on((char *)((uintptr_t)m[i] & ~4095UL), 4096, 1, &t2);
		all += t2;
	}
	CHECK(on == all && all > 0, "moved thread: %zu of %zu pages on node 1", on, all);
	printf("[%s] a thread moved to node 1 allocates there\n", mode);

	static char *o[5];
	run_thread(onnode, o);
	CHECK(o[0] && o[1] && o[2], "strata_alloc_onnode failed");
	if (o[0]) {
		on = pages_on(o[0], 1 << 20, 1, &total);
		CHECK(on == total, "strata_alloc_onnode(1 MiB, 1): %zu of %zu pages on node 1", on,
		      total);
	}
	if (o[1]) {
		on = pages_on((char *)((uintptr_t)o[1] & ~4095UL), 4096, 1, &total);
		CHECK(on == total, "strata_alloc_onnode(200, 1): not on node 1");
	}
	CHECK(o[3] == NULL && (long)o[4] == EINVAL, "node 7 not refused with EINVAL");
	printf("[%s] strata_alloc_onnode places on the node asked\n", mode);
	free(o[0]);
	free(o[1]);
	free(o[2]);

	struct strata_node_stats before = { .struct_size = sizeof(before) }, after = before,
	                         n1 = before;
	strata_node_stats_get(0, &before);
	run_thread(free_all, &j0);
	strata_node_stats_get(0, &after);
	strata_node_stats_get(1, &n1);
	CHECK(after.frees_remote >= before.frees_remote + 2000,
	      "node 0 remote frees %llu -> %llu after 2000 frees from node 1",
	      (unsigned long long)before.frees_remote, (unsigned long long)after.frees_remote);
	CHECK(after.resident > 0 && n1.resident > 0, "resident per node: %zu, %zu", after.resident,
	      n1.resident);
	CHECK(after.narenas >= 1 && n1.narenas >= 1 && after.ncpus == 2 && n1.ncpus == 2,
	      "node stats: arenas %u/%u cpus %u/%u", after.narenas, n1.narenas, after.ncpus,
	      n1.ncpus);
	printf("[%s] node 0: %u arenas, resident %zu KiB, frees local %llu remote %llu; node 1: "
	       "resident %zu KiB\n",
	       mode, after.narenas, after.resident >> 10, (unsigned long long)after.frees_local,
	       (unsigned long long)after.frees_remote, n1.resident >> 10);
	strata_report(1, STRATA_FORMAT_TEXT, STRATA_REPORT_ARENAS);
	return failures;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGABRT, on_abort);
	if (numa_available() < 0 || numa_max_node() < 1) {
		printf("SKIP: needs two NUMA nodes (numa_max_node %d)\n", numa_max_node());
		return 77;
	}
	if (argc > 1 && !strcmp(argv[1], "all")) {
		static const char *modes[] = { "preferred", "strict", "off" };
		int                bad = 0;
		for (int i = 0; i < 3; i++) {
			fflush(stdout);
			pid_t pid = fork();
			if (pid == 0) {
				setenv("STRATA_NUMA", modes[i], 1);
				execl("/proc/self/exe", argv[0], modes[i], (char *)NULL);
				_exit(3);
			}
			int status;
			waitpid(pid, &status, 0);
			if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
				printf("mode %s: ok\n", modes[i]);
			else if (WIFSIGNALED(status))
				printf("mode %s: FAILED (killed by signal %d)\n", modes[i],
				       WTERMSIG(status));
			else
				printf("mode %s: FAILED (exit %d)\n", modes[i],
				       WEXITSTATUS(status));
			bad |= !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		}
		return bad;
	}
	if (argc > 1)
		mode = argv[1];
	return one_mode() ? 1 : 0;
}
