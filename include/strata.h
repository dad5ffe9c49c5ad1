/* SPDX-License-Identifier: MIT */
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
#define STRATA_ORDERS 13
/* Return addresses kept per leak call stack, innermost first. */
#define STRATA_LEAK_FRAMES 16

/* ------------------------------------------------------------------------
 * Totals
 * ---------------------------------------------------------------------- */
struct strata_stats {
	size_t   struct_size; /* in: sizeof(struct strata_stats) */
	unsigned api_version; /* STRATA_API_VERSION of the library */
	unsigned narenas;
	unsigned nclasses;
	unsigned nnodes;

	/* live memory, in bytes */
	size_t   requested;       /* asked for by the live blocks (see requested_exact) */
	int      requested_exact; /* 1: exact (STRATA_LEAK=full); 0: an estimate
	                                 from the samples (0 when leak tracking is off) */
	size_t   allocated;       /* live blocks, rounded up to their class or pages */
	size_t   cached;          /* free blocks held on heaps' lists, kept large
	                                 runs and kept huge blocks */
	size_t   active;          /* pages holding slabs, large runs and huge blocks */
	size_t   resident;        /* strata's mappings resident in RAM (mincore) */
	size_t   mapped;          /* address space strata has mapped */
	size_t   metadata;        /* descriptors, headers and tables */
	uint64_t nmalloc;         /* calls that returned a block, since start */
	uint64_t nfree;           /* calls that freed one */

	/* fragmentation, in bytes unless said otherwise */
	size_t internal;                      /* allocated - requested: rounding waste
	                                 (0 when requested is not known) */
	size_t slab_slack;                    /* free object slots inside slabs */
	size_t free_bytes;                    /* in free buddy blocks */
	size_t dirty_bytes;                   /* of free_bytes, what may still be resident */
	size_t free_blocks[STRATA_ORDERS];    /* free buddy blocks per order,
	                                            like /proc/buddyinfo */
	double unusable_index[STRATA_ORDERS]; /* share of free memory that cannot
	                                            serve a block of this order (the
	                                            kernel's unusable free space index) */
	double resident_ratio;                /* resident / requested (or / allocated when
	                                 requested is not known); 1.0 is no overhead */
	int    leak_mode;                     /* 0 off, 1 sampled, 2 full (STRATA_LEAK) */

	/* huge pages (STRATA_HUGEPAGES) and the reserve (STRATA_RESERVE) */
	size_t   hugetlb_mapped;    /* regions on MAP_HUGETLB 2 MiB pages */
	size_t   hugetlb_resident;  /* of those, in huge pages faulted in */
	size_t   thp_mapped;        /* regions advised MADV_HUGEPAGE (the kernel
	                                 decides which of their pages become huge) */
	uint64_t hugetlb_fallbacks; /* regions that asked for hugetlb pages and
	                                 got transparent or 4 KiB pages instead */
	size_t   reserved;          /* regions mapped and faulted in at start */
};

/* Fill *st.  0, or -1 with errno EINVAL when st is NULL or too small. */
int strata_stats_get(struct strata_stats *st);

/* ------------------------------------------------------------------------
 * Per size class, per arena, per NUMA node
 * ---------------------------------------------------------------------- */
struct strata_class_stats {
	size_t   struct_size;    /* in: sizeof(struct strata_class_stats) */
	size_t   size;           /* bytes per object */
	size_t   objects_live;   /* handed to the program */
	size_t   objects_cached; /* free on heaps' lists */
	size_t   slabs;
	size_t   slab_bytes;  /* bytes of those slabs */
	size_t   slack_bytes; /* free slots in them */
	uint64_t nmalloc;
	uint64_t nfree;
};

/* Class cls of 0 .. nclasses-1.  0, or -1 with errno EINVAL. */
int strata_class_stats_get(unsigned cls, struct strata_class_stats *st);

struct strata_arena_stats {
	size_t   struct_size; /* in: sizeof(struct strata_arena_stats) */
	unsigned index;
	int      node; /* NUMA node, or -1 */
	size_t   regions;
	size_t   mapped;
	size_t   active;
	size_t   free_bytes;
	size_t   dirty_bytes;
	size_t   free_blocks[STRATA_ORDERS];
};

int strata_arena_stats_get(unsigned arena, struct strata_arena_stats *st);

struct strata_node_stats {
	size_t   struct_size; /* in: sizeof(struct strata_node_stats) */
	int      node;
	size_t   mapped; /* of the arenas bound to this node */
	size_t   active;
	unsigned narenas;      /* arenas bound to this node */
	unsigned ncpus;        /* CPUs of the node */
	size_t   resident;     /* strata's pages resident on this node,
	                                 whatever arena they belong to (move_pages) */
	uint64_t frees_local;  /* objects of this node's arenas returned by
	                                 threads running on this node */
	uint64_t frees_remote; /* ... by threads on another node */
};

int strata_node_stats_get(unsigned node, struct strata_node_stats *st);

/* ------------------------------------------------------------------------
 * Leaks: live blocks grouped by the call stack that allocated them.
 * Tracking is chosen at start with STRATA_LEAK=off|sampled|full (sampled by
 * default: about one block per STRATA_LEAK_SAMPLE bytes is recorded and the
 * figures are scaled up as estimates; full records every block).
 * ---------------------------------------------------------------------- */
struct strata_leak_site {
	size_t   struct_size; /* set by strata */
	size_t   bytes;       /* live bytes from this call stack */
	size_t   objects;     /* live blocks (an estimate when sampled) */
	size_t   requested;   /* bytes requested by the recorded blocks */
	unsigned nframes;
	void    *frames[STRATA_LEAK_FRAMES]; /* return addresses, innermost first */
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
	STRATA_FORMAT_TEXT = 0,       /* for people */
	STRATA_FORMAT_JSON = 1,       /* for tools */
	STRATA_FORMAT_PROMETHEUS = 2, /* text exposition format, metrics strata_* */
};

#define STRATA_REPORT_CLASSES 0x1 /* per size class */
#define STRATA_REPORT_ARENAS  0x2 /* per arena and node */
#define STRATA_REPORT_LEAKS   0x4 /* live blocks by call stack */
#define STRATA_REPORT_ALL     0x7

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

/* Write the live blocks by call stack (as strata_leak_sites) to fd as a
 * heap profile in gperftools' text format, for google-pprof: the figures
 * are estimates when STRATA_LEAK=sampled, and the profile is empty when it
 * is off.  The same is written at exit with STRATA_PROFILE_FILE.  0, or -1
 * with errno set (ENOMEM: no scratch memory; otherwise write's). */
int strata_profile_write(int fd);

/* ------------------------------------------------------------------------
 * Object caches, reserved pools and private heaps
 *
 * A cache holds objects of one size on slabs of its own (an overflow of
 * one type's object cannot reach another type's), with a per-thread fast
 * path.  A pool is a cache that keeps min_reserved objects aside, so that
 * its allocations succeed when the operating system refuses memory.  A
 * private heap holds blocks of any size that go away together (reset,
 * destroy).  Objects and blocks of all three may also be passed to free()
 * and realloc(); objects of a cache or pool to its own free call only.
 * ---------------------------------------------------------------------- */
typedef struct strata_cache strata_cache_t;
typedef struct strata_pool  strata_pool_t;
typedef struct strata_heap  strata_heap_t;

#define STRATA_CACHE_ZERO  0x1 /* strata_cache_alloc returns zeroed objects */
#define STRATA_CACHE_FLAGS 0x1

/* A cache of objects of size bytes (up to 1 MiB), aligned to align (a
 * power of two up to 4096; 0: the size of a pointer), named for the
 * reports (the first 47 bytes are kept).  NULL with errno EINVAL for a bad
 * size, alignment or flag, ENOMEM when out of memory or caches (4096 caches,
 * pools and private heaps' size classes at once). */
strata_cache_t *strata_cache_create(const char *name, size_t size, size_t align, unsigned flags);
/* An object, or NULL with errno ENOMEM. */
void *strata_cache_alloc(strata_cache_t *cache);
/* p back to cache (NULL: nothing).  An object of another cache, or a
 * pointer that is no object, aborts with a "strata: " message. */
void strata_cache_free(strata_cache_t *cache, void *p);
/* 0 when the cache held no live object and is gone.  Otherwise its live
 * objects are reported on stderr, the cache stays for them (free them with
 * free()), and -1 with errno EBUSY. */
int strata_cache_destroy(strata_cache_t *cache);

/* A pool of objects of size bytes that keeps min_reserved of them aside:
 * strata_pool_alloc takes one of those when the operating system refuses
 * memory, and strata_pool_free puts objects back in the reserve until it
 * is full again.  NULL with errno EINVAL or ENOMEM (the reserve could not
 * be filled). */
strata_pool_t *strata_pool_create(const char *name, size_t size, size_t min_reserved);
/* An object; NULL with errno ENOMEM only when memory is refused and the
 * reserve is empty. */
void *strata_pool_alloc(strata_pool_t *pool);
void  strata_pool_free(strata_pool_t *pool, void *obj);
/* Frees the reserve; live objects are reported as by strata_cache_destroy
 * and stay valid. */
void strata_pool_destroy(strata_pool_t *pool);

/* A private heap.  NULL with errno ENOMEM. */
strata_heap_t *strata_heap_create(const char *name);
/* As malloc, calloc, realloc and memalign, from heap.  realloc of a block of
 * the heap stays in the heap; NULL p allocates there. */
void *strata_heap_malloc(strata_heap_t *heap, size_t size);
void *strata_heap_calloc(strata_heap_t *heap, size_t nmemb, size_t size);
void *strata_heap_realloc(strata_heap_t *heap, void *p, size_t size);
void *strata_heap_memalign(strata_heap_t *heap, size_t align, size_t size);
/* Free every block of the heap at once, and keep the heap. */
void strata_heap_reset(strata_heap_t *heap);
/* Free every block of the heap at once, and the heap. */
void strata_heap_destroy(strata_heap_t *heap);

struct strata_cache_stats {
	size_t   struct_size; /* in: sizeof(struct strata_cache_stats) */
	char     name[48];
	size_t   object_size; /* caches and pools: as created; heaps: 0 */
	size_t   stride;      /* ... rounded up to the alignment */
	uint64_t live;        /* objects (blocks) in use */
	uint64_t live_bytes;  /* their bytes (heaps: of their size classes) */
	uint64_t total;       /* objects the slabs hold */
	uint64_t slabs;
	uint64_t slab_bytes;
	uint64_t slack; /* slab bytes not holding live objects' bytes */
	uint64_t mallocs;
	uint64_t frees;
	uint64_t cached;         /* free objects kept per thread */
	uint64_t reserve;        /* pools: objects in the reserve now */
	uint64_t reserve_min;    /* pools: min_reserved */
	uint64_t reserve_served; /* pools: allocations the reserve served */
	uint64_t resets;         /* heaps: strata_heap_reset calls */
};
int strata_cache_stats_get(strata_cache_t *cache, struct strata_cache_stats *st);
int strata_pool_stats_get(strata_pool_t *pool, struct strata_cache_stats *st);
int strata_heap_stats_get(strata_heap_t *heap, struct strata_cache_stats *st);

#ifdef __cplusplus
}
#endif

#endif
