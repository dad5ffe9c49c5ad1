/* SPDX-License-Identifier: MIT */
/*
 * numa_probe: checks that the machine it runs on has the two-node layout
 * that run-vm sets up (cpus 0-1 on node 0, cpus 2-3 on node 1) and that
 * memory really lands on the node asked for.  It validates the VM harness
 * before anything else relies on it.
 *
 * For each node it runs a thread pinned to a cpu of that node and checks:
 *   - pages first touched there with the default policy are on that node;
 *   - pages of a mapping bound to the node (mbind MPOL_BIND) are on it,
 *     as reported by both move_pages() and get_mempolicy(MPOL_F_ADDR).
 *
 * Build: gcc -O2 -static -pthread numa_probe.c -o numa_probe -lnuma
 * Exit status: 0 if everything is as expected, 1 otherwise.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <numa.h>
#include <numaif.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define NPAGES 64

static int failures;

#define FAIL(...)                             \
	do {                                  \
		printf("FAIL: " __VA_ARGS__); \
		putchar('\n');                \
		failures++;                   \
	} while (0)

struct job {
	int node; /* node under test */
	int cpu;  /* cpu of that node to run on */
};

/* Node of each page according to move_pages (query mode: nodes == NULL). */
static int check_move_pages(const char *what, char *buf, long psz, int node)
{
	void *pages[NPAGES];
	int   status[NPAGES];
	int   bad = 0;

	for (int i = 0; i < NPAGES; i++) {
		pages[i] = buf + i * psz;
		status[i] = -12345;
	}
	if (move_pages(0, NPAGES, pages, NULL, status, 0) != 0) {
		FAIL("%s: move_pages: %s", what, strerror(errno));
		return 1;
	}
	for (int i = 0; i < NPAGES; i++)
		if (status[i] != node) {
			if (bad++ < 4)
				FAIL("%s: move_pages says page %d is on node %d, want %d", what, i,
				     status[i], node);
		}
	printf("  %s: move_pages: %d/%d pages on node %d\n", what, NPAGES - bad, NPAGES, node);
	return bad != 0;
}

/* Same question through get_mempolicy(MPOL_F_NODE | MPOL_F_ADDR). */
static int check_get_mempolicy(const char *what, char *buf, long psz, int node)
{
	int bad = 0;

	for (int i = 0; i < NPAGES; i++) {
		int n = -1;
		if (get_mempolicy(&n, NULL, 0, buf + i * psz, MPOL_F_NODE | MPOL_F_ADDR) != 0) {
			FAIL("%s: get_mempolicy: %s", what, strerror(errno));
			return 1;
		}
		if (n != node && bad++ < 4)
			FAIL("%s: get_mempolicy says page %d is on node %d, want %d", what, i, n,
			     node);
	}
	printf("  %s: get_mempolicy: %d/%d pages on node %d\n", what, NPAGES - bad, NPAGES, node);
	return bad != 0;
}

static void *run_job(void *arg)
{
	struct job *j = arg;
	long        psz = sysconf(_SC_PAGESIZE);
	size_t      len = (size_t)NPAGES * psz;
	cpu_set_t   set;
	int         err;

	CPU_ZERO(&set);
	CPU_SET(j->cpu, &set);
	err = pthread_setaffinity_np(pthread_self(), sizeof set, &set);
	if (err) {
		FAIL("node %d: pthread_setaffinity_np(cpu %d): %s", j->node, j->cpu, strerror(err));
		return NULL;
	}
	int cpu = sched_getcpu();
	printf("node %d: thread on cpu %d (node %d)\n", j->node, cpu, numa_node_of_cpu(cpu));
	if (cpu != j->cpu)
		FAIL("node %d: thread runs on cpu %d, pinned to %d", j->node, cpu, j->cpu);

	/* Default (local) policy: first touch from this cpu places the pages. */
	char *local = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (local == MAP_FAILED) {
		FAIL("node %d: mmap: %s", j->node, strerror(errno));
		return NULL;
	}
	memset(local, 0x5a, len);
	check_move_pages("first touch", local, psz, j->node);
	munmap(local, len);

	/* Explicit binding: the pages must be on the node whatever cpu touches them. */
	char *bound = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (bound == MAP_FAILED) {
		FAIL("node %d: mmap: %s", j->node, strerror(errno));
		return NULL;
	}
	unsigned long mask = 1UL << j->node;
	if (mbind(bound, len, MPOL_BIND, &mask, sizeof mask * 8, 0) != 0) {
		FAIL("node %d: mbind(MPOL_BIND): %s", j->node, strerror(errno));
	} else {
		memset(bound, 0xa5, len);
		check_move_pages("mbind", bound, psz, j->node);
		check_get_mempolicy("mbind", bound, psz, j->node);
	}
	munmap(bound, len);
	return NULL;
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);

	int avail = numa_available();
	printf("numa_available: %d\n", avail);
	if (avail < 0) {
		printf("FAIL: libnuma reports no NUMA support\n");
		return 1;
	}

	int nodes = numa_max_node() + 1;
	int cpus = numa_num_configured_cpus();
	printf("nodes: %d, configured cpus: %d\n", nodes, cpus);
	if (nodes != 2)
		FAIL("expected 2 nodes, found %d", nodes);
	if (cpus != 4)
		FAIL("expected 4 cpus, found %d", cpus);

	for (int node = 0; node < nodes; node++) {
		long long freemem;
		long long size = numa_node_size64(node, &freemem);
		printf("node %d: %lld MiB, %lld MiB free\n", node, size >> 20, freemem >> 20);
	}

	for (int cpu = 0; cpu < cpus; cpu++) {
		int node = numa_node_of_cpu(cpu);
		int want = cpu < 2 ? 0 : 1;
		printf("cpu %d: node %d\n", cpu, node);
		if (cpus == 4 && node != want)
			FAIL("cpu %d is on node %d, want %d", cpu, node, want);
	}

	if (failures == 0) {
		/* Node 1 first: a broken setup most often puts everything on node 0. */
		struct job jobs[] = { { 1, 2 }, { 0, 0 } };
		for (size_t i = 0; i < sizeof jobs / sizeof jobs[0]; i++) {
			pthread_t t;
			int       err = pthread_create(&t, NULL, run_job, &jobs[i]);
			if (err) {
				FAIL("pthread_create: %s", strerror(err));
				continue;
			}
			pthread_join(t, NULL);
		}
	}

	if (failures) {
		printf("numa_probe: %d check(s) failed\n", failures);
		return 1;
	}
	printf("numa_probe: all checks passed\n");
	return 0;
}
