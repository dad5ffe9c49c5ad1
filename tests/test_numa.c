/* SPDX-License-Identifier: MIT */
/* Tests for src/numa.c and the arena layout over a topology: sysfs trees
 * made up in a temporary directory, as the kernel lays them out. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arena.h"
#include "numa.h"

static char root[64];

static void put(const char *rel, const char *text)
{
	char path[256], dir[256];
	snprintf(path, sizeof(path), "%s/devices/system/node/%s", root, rel);
	snprintf(dir, sizeof(dir), "%s", path);
	for (char *s = dir + strlen(root) + 1; (s = strchr(s, '/')); s++) {
		*s = '\0';
		mkdir(dir, 0755);
		*s = '/';
	}
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f, "%s", path);
	fputs(text, f);
	fclose(f);
}

static void setup(void)
{
	snprintf(root, sizeof(root), "/tmp/strata-numa.XXXXXX");
	cr_assert_not_null(mkdtemp(root));
}

static void teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	cr_assert_eq(system(cmd), 0);
}

TestSuite(numa, .init = setup, .fini = teardown);

Test(numa, two_nodes_like_the_vm)
{
	put("online", "0-1\n");
	put("node0/cpulist", "0-1\n");
	put("node1/cpulist", "2-3\n");
	struct numa_topology t;
	cr_assert(nodes_read_topology(root, &t));
	cr_assert_eq(t.nnodes, 2);
	cr_assert_eq(t.online, 3);
	cr_assert_eq(t.node_cpus[0], 2);
	cr_assert_eq(t.node_cpus[1], 2);
	cr_assert_eq(t.cpu_node[0], 0);
	cr_assert_eq(t.cpu_node[1], 0);
	cr_assert_eq(t.cpu_node[2], 1);
	cr_assert_eq(t.cpu_node[3], 1);
	cr_assert_eq(t.cpu_node[4], -1, "a CPU no node lists");
}

Test(numa, sparse_nodes_and_ranges)
{
	put("online", "0,2\n");
	put("node0/cpulist", "0-3,8-11\n");
	put("node2/cpulist", "4-7,12\n");
	struct numa_topology t;
	cr_assert(nodes_read_topology(root, &t));
	cr_assert_eq(t.nnodes, 2);
	cr_assert_eq(t.online, 5);
	cr_assert_eq(t.node_cpus[0], 8);
	cr_assert_eq(t.node_cpus[2], 5);
	cr_assert_eq(t.cpu_node[9], 0);
	cr_assert_eq(t.cpu_node[12], 2);
	cr_assert_eq(t.cpu_node[13], -1);
}

Test(numa, memory_only_node)
{
	put("online", "0-1\n");
	put("node0/cpulist", "0-3\n");
	put("node1/cpulist", "\n"); /* CXL-style: memory, no CPUs */
	struct numa_topology t;
	cr_assert(nodes_read_topology(root, &t));
	cr_assert_eq(t.nnodes, 2);
	cr_assert_eq(t.node_cpus[1], 0);
}

Test(numa, unreadable_or_malformed_is_one_node)
{
	struct numa_topology t;
	cr_assert_not(nodes_read_topology("/nonexistent", &t));
	cr_assert_eq(t.nnodes, 1);
	cr_assert_eq(t.online, 1);
	cr_assert_eq(t.cpu_node[5], 0, "every CPU on node 0");
	put("online", "0-x\n");
	cr_assert_not(nodes_read_topology(root, &t));
	cr_assert_eq(t.nnodes, 1);
}

/* ------------------------------------------------------------------------
 * Arena layout over a topology
 * ---------------------------------------------------------------------- */
static struct numa_topology topo(unsigned cpus0, unsigned cpus1)
{
	struct numa_topology t = { 0 };
	t.nnodes = 2;
	t.online = 3;
	t.node_cpus[0] = cpus0;
	t.node_cpus[1] = cpus1;
	return t;
}

Test(numa, arenas_follow_the_cpus_of_each_node)
{
	unsigned             first[NUMA_MAX_NODES], count[NUMA_MAX_NODES];
	struct numa_topology t = topo(6, 2);
	cr_assert_eq(arenas_layout(&t, true, 8, first, count), 8);
	cr_assert_eq(count[0], 6);
	cr_assert_eq(count[1], 2);
	cr_assert_eq(first[0], 0);
	cr_assert_eq(first[1], 6, "a node's arenas are consecutive");
}

Test(numa, every_node_gets_an_arena)
{
	unsigned             first[NUMA_MAX_NODES], count[NUMA_MAX_NODES];
	struct numa_topology t = topo(15, 1);
	unsigned             n = arenas_layout(&t, true, 2, first, count);
	cr_assert_eq(count[1], 1, "the small node still has its arena");
	cr_assert_geq(count[0], 1);
	cr_assert_eq(n, count[0] + count[1]);
	struct numa_topology m = topo(4, 0); /* memory-only node 1 */
	arenas_layout(&m, true, 4, first, count);
	cr_assert_eq(count[1], 1, "a node without CPUs still gets one (strata_alloc_onnode)");
}

Test(numa, off_puts_everything_on_node_0)
{
	unsigned             first[NUMA_MAX_NODES], count[NUMA_MAX_NODES];
	struct numa_topology t = topo(2, 2);
	cr_assert_eq(arenas_layout(&t, false, 3, first, count), 3);
	cr_assert_eq(count[0], 3);
	cr_assert_eq(count[1], 0);
}

Test(numa, never_more_than_max_arenas)
{
	unsigned             first[NUMA_MAX_NODES], count[NUMA_MAX_NODES];
	struct numa_topology t = { 0 };
	t.nnodes = 64;
	t.online = ~0ULL;
	for (unsigned n = 0; n < 64; n++)
		t.node_cpus[n] = 4;
	cr_assert_eq(arenas_layout(&t, true, 256, first, count), MAX_ARENAS);
	for (unsigned n = 0; n < 64; n++)
		cr_assert_leq(first[n] + count[n], MAX_ARENAS);
}

/* This machine: placement is off with one node, and node 0 is the answer. */
Test(numa, one_node_machine_costs_nothing)
{
	strata_ensure_init();
	if (_strata_numa.nnodes > 1)
		cr_skip_test("this machine has %u nodes", _strata_numa.nnodes);
	cr_assert_not(nodes_active());
	cr_assert_eq(nodes_current(), 0);
	cr_assert(nodes_valid(0));
	cr_assert_not(nodes_valid(1));
	for (unsigned i = 0; i < _strata_narenas; i++)
		cr_assert_eq(_strata_arenas[i].node, 0);
}
