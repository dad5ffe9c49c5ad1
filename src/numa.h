/* SPDX-License-Identifier: MIT */
/*
 * numa.h - the machine's NUMA topology, and binding memory to a node.
 */
#ifndef STRATA_NUMA_H
#define STRATA_NUMA_H

#include "internal.h"

#define NUMA_MAX_NODES 64
#define NUMA_MAX_CPUS  1024

struct numa_topology {
	unsigned nnodes;                    /* online nodes */
	uint64_t online;                    /* bit n: node n is online */
	unsigned node_cpus[NUMA_MAX_NODES]; /* CPUs of each node */
	int16_t  cpu_node[NUMA_MAX_CPUS];   /* node of each CPU, -1 if unknown */
};

extern struct numa_topology _strata_numa strata_hidden;
extern bool                 _strata_numa_active strata_hidden;

/* Read the topology from <sysfs>/devices/system/node (sysfs is "/sys" but
 * for tests).  false, t left as one node holding every CPU, when it cannot
 * be read. */
bool nodes_read_topology(const char *sysfs, struct numa_topology *t);

/* Start-up: read /sys, decide whether NUMA placement is on (numa option,
 * more than one node). */
void nodes_init(void);

/* The node the calling thread runs on now (0 when placement is off). */
int nodes_current(void);

static inline bool nodes_active(void)
{
	return _strata_numa_active;
}

static inline bool nodes_valid(int node)
{
	return node >= 0 && node < NUMA_MAX_NODES && (_strata_numa.online >> node & 1);
}

/* Bind [p, p + size) to node with the numa option's policy, before the
 * first touch.  Nothing when placement is off. */
void nodes_bind(void *p, size_t size, int node);

/* Bytes of [p, p + size) resident on each node, added to per_node. */
void nodes_resident(const void *p, size_t size, size_t per_node[NUMA_MAX_NODES]);

#endif
