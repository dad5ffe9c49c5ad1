/* SPDX-License-Identifier: MIT */
/*
 * numa.c - the NUMA layer: the topology, the current node, mbind.
 *
 * The topology comes from sysfs (/sys/devices/system/node: the online
 * nodes and each node's cpulist), the current node from sched_getcpu (a
 * vDSO call), placement from the mbind, and the per-node figures from the
 * move_pages system calls: the same kernel interfaces libnuma wraps.
 * strata calls them directly because it runs inside malloc, before and
 * while anything else is set up: libnuma would have to be loaded (dlopen
 * allocates) and allocates itself, and a static program may have no
 * libnuma at all.  Everything here reads into stack buffers.
 *
 * Placement is on when the numa option is not off and more than one node
 * is online; with one node nothing here is called after start-up.
 */
#include "numa.h"
#include "options.h"
#include "os.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

struct numa_topology _strata_numa;
bool                 _strata_numa_active;

/* Kernel ABI (linux/mempolicy.h), so no header from libnuma is needed. */
#define STRATA_MPOL_PREFERRED 1
#define STRATA_MPOL_BIND      2

/* ------------------------------------------------------------------------
 * Topology
 * ---------------------------------------------------------------------- */

/* Parse a kernel list ("0-3,8,10-11") and call set(arg, i) for each i
 * below limit.  false on a malformed list. */
static bool parse_list(const char *s, unsigned limit, void (*set)(void *, unsigned), void *arg)
{
	while (*s && *s != '\n') {
		char         *end;
		unsigned long lo = strtoul(s, &end, 10), hi = lo;
		if (end == s)
			return false;
		s = end;
		if (*s == '-') {
			hi = strtoul(s + 1, &end, 10);
			if (end == s + 1 || hi < lo)
				return false;
			s = end;
		}
		for (unsigned long i = lo; i <= hi && i < limit; i++)
			set(arg, (unsigned)i);
		if (*s == ',')
			s++;
		else if (*s && *s != '\n')
			return false;
	}
	return true;
}

static void set_online(void *arg, unsigned node)
{
	((struct numa_topology *)arg)->online |= (uint64_t)1 << node;
}

struct cpu_setter {
	struct numa_topology *t;
	unsigned              node;
};

static void set_cpu(void *arg, unsigned cpu)
{
	struct cpu_setter *cs = arg;
	cs->t->cpu_node[cpu] = (int16_t)cs->node;
	cs->t->node_cpus[cs->node]++;
}

static void topology_single(struct numa_topology *t)
{
	memset(t, 0, sizeof(*t));
	t->nnodes = 1;
	t->online = 1;
	t->node_cpus[0] = os_cpu_count();
	for (unsigned c = 0; c < NUMA_MAX_CPUS; c++)
		t->cpu_node[c] = 0;
}

bool nodes_read_topology(const char *sysfs, struct numa_topology *t)
{
	char path[256], buf[1024];
	memset(t, 0, sizeof(*t));
	for (unsigned c = 0; c < NUMA_MAX_CPUS; c++)
		t->cpu_node[c] = -1;
	snprintf(path, sizeof(path), "%s/devices/system/node/online", sysfs);
	if (!os_read_file(path, buf, sizeof(buf)) || !parse_list(buf, NUMA_MAX_NODES, set_online, t)
	    || t->online == 0) {
		topology_single(t);
		return false;
	}
	for (unsigned n = 0; n < NUMA_MAX_NODES; n++) {
		if (!(t->online >> n & 1))
			continue;
		t->nnodes++;
		struct cpu_setter cs = { t, n };
		snprintf(path, sizeof(path), "%s/devices/system/node/node%u/cpulist", sysfs, n);
		if (os_read_file(path, buf, sizeof(buf)))
			parse_list(buf, NUMA_MAX_CPUS, set_cpu, &cs);
	}
	return true;
}

void nodes_init(void)
{
	nodes_read_topology("/sys", &_strata_numa);
	_strata_numa_active = strata_option(OPT_NUMA) != NUMA_OFF && _strata_numa.nnodes > 1;
}

int nodes_current(void)
{
	if (!nodes_active())
		return 0;
	int cpu = sched_getcpu();
	if (cpu < 0 || cpu >= NUMA_MAX_CPUS || _strata_numa.cpu_node[cpu] < 0)
		return 0;
	return _strata_numa.cpu_node[cpu];
}

/* ------------------------------------------------------------------------
 * Placement
 * ---------------------------------------------------------------------- */
void nodes_bind(void *p, size_t size, int node)
{
	if (!nodes_active() || !nodes_valid(node))
		return;
	unsigned long mask = 1UL << node;
	int           mode = strata_option(OPT_NUMA) == NUMA_STRICT ? STRATA_MPOL_BIND
	                                                            : STRATA_MPOL_PREFERRED;
	/* maxnode counts the bits the kernel reads, plus one */
	if (syscall(SYS_mbind, p, size, mode, &mask, sizeof(mask) * 8 + 1, 0) != 0)
		_strata_warn("mbind of %zu bytes to node %d failed: errno %d", size, node, errno);
}

/* move_pages with no target nodes only reports where each page is. */
#define RESIDENT_BATCH 512

void nodes_resident(const void *p, size_t size, size_t per_node[NUMA_MAX_NODES])
{
	void *pages[RESIDENT_BATCH];
	int   status[RESIDENT_BATCH];
	for (size_t off = 0; off < size; off += RESIDENT_BATCH * PAGE_SIZE) {
		size_t n = MIN((size - off) / PAGE_SIZE, (size_t)RESIDENT_BATCH);
		for (size_t i = 0; i < n; i++)
			pages[i] = (char *)p + off + i * PAGE_SIZE;
		if (syscall(SYS_move_pages, 0, n, pages, NULL, status, 0) != 0)
			continue;
		for (size_t i = 0; i < n; i++)
			if (status[i] >= 0 && status[i] < NUMA_MAX_NODES)
				per_node[status[i]] += PAGE_SIZE;
	}
}
