/*
 * strata.h - the public interface of the strata allocator.
 *
 * strata replaces the malloc family (malloc, free, calloc, realloc, ...);
 * those keep their standard declarations in <stdlib.h> and <malloc.h>.  This
 * header adds strata's own calls: statistics, fragmentation figures, leak
 * reports, and a few controls.  Every call is safe from any thread, and
 * none of them allocates through malloc.
 *
 * Versioning: every structure starts with struct_size, which the caller
 * sets to sizeof() of the structure it was compiled with.  strata fills the
 * fields both sides know and leaves the rest alone, so a program built
 * against an older header keeps working with a newer library.  A
 * struct_size smaller than the first version's is refused with EINVAL.
 */
#ifndef STRATA_H
#define STRATA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define STRATA_VERSION_MAJOR 0
#define STRATA_VERSION_MINOR 3
#define STRATA_VERSION_PATCH 0
#define STRATA_API_VERSION   1

/* Buddy orders: a free block of order k is 4 KiB << k. */
#define STRATA_ORDERS        13
/* Return addresses kept per leak call stack, innermost first. */
#define STRATA_LEAK_FRAMES   16

/* ------------------------------------------------------------------------
 * Totals
 * ---------------------------------------------------------------------- */
struct strata_stats {
	size_t   struct_size;         /* in: sizeof(struct strata_stats) */
	unsigned api_version;         /* STRATA_API_VERSION of the library */
	unsigned narenas;
	unsigned nclasses;
	unsigned nnodes;

	/* live memory, in bytes */
	size_t   requested;           /* asked for by the live blocks (see requested_exact) */
	int      requested_exact;     /* 1: exact (STRATA_LEAK=full); 0: an estimate
	                                 from the samples (0 when leak tracking is off) */
	size_t   allocated;           /* live blocks, rounded up to their class or pages */
	size_t   cached;              /* free blocks held on heaps' lists, kept large
	                                 runs and kept huge blocks */
	size_t   active;              /* pages holding slabs, large runs and huge blocks */
	size_t   resident;            /* strata's mappings resident in RAM (mincore) */
	size_t   mapped;              /* address space strata has mapped */
	size_t   metadata;            /* descriptors, headers and tables */
	uint64_t nmalloc;             /* calls that returned a block, since start */
	uint64_t nfree;               /* calls that freed one */

	/* fragmentation, in bytes unless said otherwise */
	size_t   internal;            /* allocated - requested: rounding waste
	                                 (0 when requested is not known) */
	size_t   slab_slack;          /* free object slots inside slabs */
	size_t   free_bytes;          /* in free buddy blocks */
	size_t   dirty_bytes;         /* of free_bytes, what may still be resident */
	size_t   free_blocks[STRATA_ORDERS];     /* free buddy blocks per order,
	                                            like /proc/buddyinfo */
	double   unusable_index[STRATA_ORDERS];  /* share of free memory that cannot
	                                            serve a block of this order (the
	                                            kernel's unusable free space index) */
	double   resident_ratio;      /* resident / requested (or / allocated when
	                                 requested is not known); 1.0 is no overhead */
	int      leak_mode;           /* 0 off, 1 sampled, 2 full (STRATA_LEAK) */

	/* huge pages (STRATA_HUGEPAGES) and the reserve (STRATA_RESERVE) */
	size_t   hugetlb_mapped;      /* regions on MAP_HUGETLB 2 MiB pages */
	size_t   hugetlb_resident;    /* of those, in huge pages faulted in */
	size_t   thp_mapped;          /* regions advised MADV_HUGEPAGE (the kernel
	                                 decides which of their pages become huge) */
	uint64_t hugetlb_fallbacks;   /* regions that asked for hugetlb pages and
	                                 got transparent or 4 KiB pages instead */
	size_t   reserved;            /* regions mapped and faulted in at start */
};

/* Fill *st.  0, or -1 with errno EINVAL when st is NULL or too small. */
int strata_stats_get(struct strata_stats *st);

/* ------------------------------------------------------------------------
 * Per size class, per arena, per NUMA node
 * ---------------------------------------------------------------------- */
struct strata_class_stats {
	size_t   struct_size;         /* in: sizeof(struct strata_class_stats) */
	size_t   size;                /* bytes per object */
	size_t   objects_live;        /* handed to the program */
	size_t   objects_cached;      /* free on heaps' lists */
	size_t   slabs;
	size_t   slab_bytes;          /* bytes of those slabs */
	size_t   slack_bytes;         /* free slots in them */
	uint64_t nmalloc;
	uint64_t nfree;
};

/* Class cls of 0 .. nclasses-1.  0, or -1 with errno EINVAL. */
int strata_class_stats_get(unsigned cls, struct strata_class_stats *st);

struct strata_arena_stats {
	size_t   struct_size;         /* in: sizeof(struct strata_arena_stats) */
	unsigned index;
	int      node;                /* NUMA node, or -1 */
	size_t   regions;
	size_t   mapped;
	size_t   active;
	size_t   free_bytes;
	size_t   dirty_bytes;
	size_t   free_blocks[STRATA_ORDERS];
};

int strata_arena_stats_get(unsigned arena, struct strata_arena_stats *st);

struct strata_node_stats {
	size_t   struct_size;         /* in: sizeof(struct strata_node_stats) */
	int      node;
	size_t   mapped;              /* of the arenas bound to this node */
	size_t   active;
	unsigned narenas;             /* arenas bound to this node */
	unsigned ncpus;               /* CPUs of the node */
	size_t   resident;            /* strata's pages resident on this node,
	                                 whatever arena they belong to (move_pages) */
	uint64_t frees_local;         /* objects of this node's arenas returned by
	                                 threads running on this node */
	uint64_t frees_remote;        /* ... by threads on another node */
};

int strata_node_stats_get(unsigned node, struct strata_node_stats *st);

/* ------------------------------------------------------------------------
 * Leaks: live blocks grouped by the call stack that allocated them.
 * Tracking is chosen at start with STRATA_LEAK=off|sampled|full (sampled by
 * default: about one block per STRATA_LEAK_SAMPLE bytes is recorded and the
 * figures are scaled up as estimates; full records every block).
 * ---------------------------------------------------------------------- */
struct strata_leak_site {
	size_t   struct_size;         /* set by strata */
	size_t   bytes;               /* live bytes from this call stack */
	size_t   objects;             /* live blocks (an estimate when sampled) */
	size_t   requested;           /* bytes requested by the recorded blocks */
	unsigned nframes;
	void    *frames[STRATA_LEAK_FRAMES];   /* return addresses, innermost first */
};

/* A mark: blocks allocated after it can be asked for alone. */
uint64_t strata_mark(void);

/* Live sites allocated after mark since (0: all), biggest first: up to max
 * into sites; returns how many sites there are in all. */
size_t strata_leak_sites(struct strata_leak_site *sites, size_t max, uint64_t since);

/* ------------------------------------------------------------------------
 * Reports
 * ---------------------------------------------------------------------- */
enum strata_format {
	STRATA_FORMAT_TEXT = 0,        /* for people */
	STRATA_FORMAT_JSON = 1,        /* for tools */
	STRATA_FORMAT_PROMETHEUS = 2,  /* text exposition format, metrics strata_* */
};

#define STRATA_REPORT_CLASSES  0x1   /* per size class */
#define STRATA_REPORT_ARENAS   0x2   /* per arena and node */
#define STRATA_REPORT_LEAKS    0x4   /* live blocks by call stack */
#define STRATA_REPORT_ALL      0x7

/* Write a report to fd.  0, or -1 with errno set (EINVAL: bad format). */
int strata_report(int fd, enum strata_format format, unsigned what);

/* Write a report to path atomically (a temporary file renamed over it). */
int strata_report_file(const char *path, enum strata_format format, unsigned what);

/* ------------------------------------------------------------------------
 * NUMA
 * ---------------------------------------------------------------------- */

/* size bytes on NUMA node `node` (its pages bound there, MPOL_PREFERRED,
 * or MPOL_BIND with STRATA_NUMA=strict), like numa_alloc_onnode but with
 * size classes, from the thread's heap when the calling thread runs on that
 * node; freed with free().  NULL with errno EINVAL for a node that is not
 * online, ENOMEM when out of memory.  With one node, or STRATA_NUMA=off,
 * node 0 is the only valid node and this is malloc. */
void *strata_alloc_onnode(size_t size, int node);

/* free() of a block strata allocated, under strata's own name: where strata
 * is loaded with dlopen() rather than preloaded or linked, the process's
 * free() is another allocator's, and strata's blocks go back here. */
void strata_free(void *p);

/* ------------------------------------------------------------------------
 * Controls
 * ---------------------------------------------------------------------- */

/* The library's version as "MAJOR.MINOR.PATCH". */
const char *strata_version(void);

/* Give back what the calling thread's heap holds and does not use: its
 * free lists and other threads' objects go back to their slabs, its empty
 * slabs and kept large runs to the arenas. */
void strata_thread_flush(void);

/* Walk every arena and verify the heap's invariants (free lists, block
 * tiling, slab accounting).  0 when sound; -1 after printing the first
 * problem on stderr as "strata: heap check: ...".  Takes each arena's lock
 * in turn: for tests and debugging. */
int strata_check_heap(void);

/* strata_thread_flush, then give every arena's unused memory (and the kept
 * huge blocks) back to the operating system; other threads' heaps keep
 * their few parked slabs.  Returns the bytes of address space unmapped and
 * of pages decommitted. */
size_t strata_trim(void);

#ifdef __cplusplus
}
#endif

#endif
