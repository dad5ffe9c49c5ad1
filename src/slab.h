/* SPDX-License-Identifier: MIT */
/*
 * slab.h - size-class caches: buddy blocks carved into objects of one class,
 * each slab owned by one heap (see slab.c for the lists and the counts).
 */
#ifndef STRATA_SLAB_H
#define STRATA_SLAB_H

#include "arena.h"

/* Slabs are at most 128 KiB: big enough that every class above 8 KiB fits
 * four or more objects with at most 1/8 tail waste (24 KiB needs 128 KiB to
 * waste 8 KiB; eighths of a doubling above 16 KiB would not, sizeclass.h),
 * small enough to be given back soon after it empties. */
#define SLAB_MAX_ORDER 5
/* A slab should hold at least this many objects, so a heap that uses a
 * class goes to the arena for a new slab seldom ... */
#define SLAB_MIN_OBJECTS 8
/* ... and a slab of a class up to SLAB_DENSE_MAX bytes many more: it is
 * SLAB_DENSE_BYTES, 128 objects of 256 bytes, 2,048 of 16.  A refill takes
 * the free objects of one slab, and a program that frees at random has
 * freed about the same share of every slab: the bigger the slab, the more
 * objects a refill takes for the same share of memory waiting in full
 * slabs (bench/wl_phases: 400M -> 291M instructions at 128 objects a
 * slab, its peak RSS unchanged; 4-8 KiB -> 32 KiB for the classes up to
 * 64 bytes, at live_mib=8: 324M -> 312M).  Fewer slabs are made and given
 * back, and fewer frees meet a full one (bench/pair batch 70.6 -> 65.0
 * instructions a pair, wl_frag -3.9%).
 * The untouched tail of a slab costs no memory (refills carve it a batch
 * at a time). */
#define SLAB_DENSE_MAX   256
#define SLAB_DENSE_BYTES ((size_t)32 << 10)
/* ... and one of a class up to SLAB_MID_MAX bytes SLAB_MID_BYTES: 204
 * objects of 320 bytes, 32 of 2 KiB.  A program that keeps a few dozen
 * blocks of each of these classes and replaces them at random (strings,
 * records, nodes) has them in one slab, its class's current one, where
 * slabs of 8 or 16 objects spread them over several and free and malloc
 * went one way or another at random (bench/wl_mixed 0.49 -> 0.32 of
 * glibc's time, its posix_memalign twin 0.29 -> 0.21, budget 0.92 ->
 * 0.74; with free's recent slabs by 32 KiB, heap.h, 1.19 -> 0.07
 * mispredicted branches a step of wl_mixed).  It costs a thread that uses
 * many classes once and exits more (threadchurn's peak RSS 7.4 -> 11.6
 * MiB), wl_phases's peak RSS +4%.
 * The classes above keep small slabs: at 64 objects or more, their slabs
 * held the memory of one phase of a program well into the next
 * (wl_phases's peak RSS 7% higher). */
#define SLAB_MID_MAX   2048
#define SLAB_MID_BYTES ((size_t)64 << 10)
/* ... and leave no more than 1/8 of itself unused at the tail. */
#define SLAB_WASTE_SHIFT 3
/* A full slab goes back to its owner's partial list when 1/8 of it has
 * come back (slab_refill_bias), at the first free in a slab of fewer than
 * 16 objects: no more of it waits unused, and a refill from it feeds as
 * many mallocs at least.  At every free, a program that frees at random
 * over slabs of 16 objects refilled every 2 mallocs or so. */
#define SLAB_RELIST_SHIFT 3

struct size_class {
	uint32_t size;
	uint32_t inverse;  /* of size's odd part, modulo 2^32 */
	uint8_t  shift;    /* size = odd part << shift */
	uint8_t  order;    /* slab order */
	uint16_t relist;   /* owner's frees that take a full slab back (slab.h) */
	uint32_t capacity; /* objects per slab */
};

extern struct size_class _strata_classes[NUM_CLASSES] strata_hidden;
/* Each class's odd part's inverse modulo 2^64, for the object test of
 * free's recent slabs (heap.h), which needs no bounds test of its own. */
extern uint64_t _strata_class_inverse64[NUM_CLASSES] strata_hidden;

static inline size_t class_size(unsigned c)
{
	return _strata_classes[c].size;
}

/* Which of its owner's lists a slab is on (head->list). */
enum slab_list {
	SLAB_UNLISTED = 0,
	SLAB_CURRENT,   /* the slab its heap's free list comes from */
	SLAB_PARTIAL,   /* has free objects, waits its turn */
	SLAB_FULL,      /* every object handed out */
	SLAB_PARKED,    /* empty, kept against a slab ping-pong */
	SLAB_ABANDONED, /* its heap's thread exited: on the arena's list */
	SLAB_REFILLING, /* was full, on the full list until relist frees came back */
};

/* The high bit of a head's inuse: the slab is full, and the next free of
 * one of its objects by the owner must move it to the partial list.  Set,
 * it makes inuse negative as an int32, so free's one test "inuse - 1 > 0"
 * catches both that and the slab emptying. */
#define SLAB_INUSE_FULL 0x80000000u

/* The remote list word of a full slab with no remote frees: the first
 * other thread to free into it takes the mark away and hands its object to
 * the owner's delayed list instead (heap.c), so that the owner hears of a
 * full slab that has room again without scanning its full slabs.  The mark
 * stays when the owner's own free makes the slab not full (slab_unretire),
 * until another thread's free takes it. */
#define REMOTE_FULL ((uintptr_t)1)

/* Object index of byte offset off in a slab whose class has this inverse
 * and shift, when off is a multiple of the size; otherwise a number of at
 * least 2^(32 - s) / d for size d << s (131,072 for 32 KiB, the least of
 * any class), far past any slab's capacity.  This is the exact-division test
 * by multiplication with the modular inverse (Hacker's Delight 10-16/17):
 * for size = d << s with d odd, off * d^-1 mod 2^32 rotated right by s is
 * off / size exactly when size divides off, and large when it does not.  So
 * one compare against the slab's bump checks both "starts an object" and
 * "was handed out". */
static inline uint32_t slab_index_by(size_t off, uint32_t inverse, unsigned s)
{
	uint32_t m = (uint32_t)off * inverse;
	return (m >> s) | (m << ((32 - s) & 31));
}

/* The same modulo 2^64, with the class's 64-bit inverse: exact for any
 * off, so a pointer anywhere in the address space (below the slab too)
 * gives a number of at least 2^(64 - s) / d unless it starts an object. */
static inline uint64_t slab_index_by64(uintptr_t off, uint64_t inverse, unsigned s)
{
	uint64_t m = off * inverse;
	return (m >> s) | (m << ((64 - s) & 63));
}

static inline uint32_t slab_index(size_t off, unsigned c)
{
	return slab_index_by(off, _strata_classes[c].inverse, _strata_classes[c].shift);
}

/* The head descriptor: slab_off pages back, each descriptor 64 bytes, so
 * one shift of the byte offset gives the distance. */
_Static_assert(sizeof(struct page) == 64, "struct page is one cache line");

static inline struct page *slab_head_at(struct page *pg, uint32_t slab_off)
{
	return (struct page *)((char *)pg - (slab_off >> (PAGE_SHIFT - 6)));
}

static inline struct page *slab_head(struct page *pg)
{
	return slab_head_at(pg, pg->slab_off);
}

/* Offset of p from the start of its slab, from p's own page descriptor. */
static inline size_t slab_offset(const struct page *pg, const void *p)
{
	return ((uintptr_t)p & (PAGE_SIZE - 1)) + pg->slab_off;
}

/* A page's bump (see slab.c) only grows while the slab lives and is read
 * by any thread on the free path: any value a thread sees is at least the
 * one that was current when the object it frees was handed out, hence
 * relaxed atomics. */
static inline uint32_t slab_bump(const struct page *pg)
{
	return __atomic_load_n(&pg->bump, __ATOMIC_RELAXED);
}

/* Does byte off of a slab, on its page pg, start an object that the slab
 * has handed out at some time?  Only that page's descriptor is read. */
static inline bool slab_object_valid_off(const struct page *pg, size_t off)
{
	return slab_index_by(off, pg->inverse, pg->shift) < slab_bump(pg);
}

/* The same, by the thread that owns the slab: it alone writes the bumps,
 * so a plain read (which the compiler folds into the compare). */
static inline bool slab_object_valid_own(const struct page *pg, size_t off)
{
	return slab_index_by(off, pg->inverse, pg->shift) < pg->bump;
}

/* The same for p, on page pg, slab_off bytes into its slab. */
static inline bool slab_object_valid_at(const struct page *pg, const void *p, uint32_t slab_off)
{
	return slab_object_valid_off(pg, ((uintptr_t)p & (PAGE_SIZE - 1)) + slab_off);
}

static inline bool slab_object_valid(const struct page *pg, const void *p)
{
	return slab_object_valid_at(pg, p, pg->slab_off);
}

static inline void *slab_object(struct page *head, uint32_t idx)
{
	return (char *)page_address(head) + (size_t)idx * class_size(head->cls);
}

/* A slab's owner, as its pages record it: the owning heap's entry for the
 * class (heap.h says what it is; here it is only compared and stored).  On
 * a page that holds a block recorded by leak tracking the top bit is set,
 * so that no heap's entry matches and its frees take the slow path.
 * Written under the arena lock, read by any thread. */
#define OWNER_SAMPLED ((uintptr_t)1 << 63)

static inline void *page_owner_tag(const struct page *pg)
{
	return __atomic_load_n(&pg->owner, __ATOMIC_RELAXED);
}

static inline void *page_owner(const struct page *pg)
{
	return (void *)((uintptr_t)page_owner_tag(pg) & ~OWNER_SAMPLED);
}

/* A full slab is not put back on the partial list at its first free by
 * the owner but at its class's relist-th: a slab with one free object
 * would feed one malloc per refill, and a program that frees at random
 * (most long-running ones) would take the slow path on nearly every call.
 * Meanwhile the slab is SLAB_REFILLING, still on the full list, and its
 * inuse counts down the frees left, offset by slab_refill_bias, so the
 * fast path's one test "inuse - 1 > 0" says when the last of them came. */
static inline uint32_t slab_refill_bias(unsigned cls)
{
	return _strata_classes[cls].capacity - _strata_classes[cls].relist;
}

/* Objects handed out, without the full mark. */
static inline uint32_t slab_inuse(const struct page *head)
{
	uint32_t n = head->inuse & ~SLAB_INUSE_FULL;
	return head->list == SLAB_REFILLING ? n + slab_refill_bias(head->cls) : n;
}

/* The debug mode keeps each slab's first object as a guard (slab.c). */
uint32_t slab_guard_objects(void);

static inline bool slab_empty(const struct page *head)
{
	return slab_inuse(head) == slab_guard_objects();
}

/* Nothing left to hand out: no object on the local list, none carved. */
static inline bool slab_exhausted(const struct page *head)
{
	return head->local_free == NULL && head->bump == _strata_classes[head->cls].capacity;
}

/* The owner's free of p into its own slab: on the local list, no atomic.
 * true when the slab needs its owner's attention (slab_free_transition):
 * it was full, or it is now empty, or inuse went below zero (a double
 * free). */
static inline bool slab_free_local(struct page *head, void *p)
{
	link_set(p, head->local_free);
	head->local_free = p;
	return unlikely(count_drop((int32_t *)&head->inuse));
}

void     slab_classes_init(void);
uint32_t odd_inverse(uint32_t d);
uint64_t odd_inverse64(uint64_t d);
unsigned slab_order_for(size_t size, unsigned max_order, size_t min_objects);

static inline size_t slab_min_objects(size_t size)
{
	if (size <= SLAB_DENSE_MAX)
		return SLAB_DENSE_BYTES / size;
	return size <= SLAB_MID_MAX ? SLAB_MID_BYTES / size : SLAB_MIN_OBJECTS;
}
void *slab_carve_sized(struct page *head, size_t size);
void  slab_carve_onto(struct page *head, size_t size, unsigned count, void **list);

/* Arena side, with the arena lock held. */
struct page *slab_new(struct arena *a, unsigned cls, void *owner);
void         slab_release(struct arena *a, struct page *head);
void         slab_reclaim_abandoned(struct arena *a);
void         slab_set_owner(struct page *head, void *owner);
void         slab_mark_sampled(struct page *pg, bool sampled);

/* Owner side: no lock, only the owner calls them. */
void    *slab_carve(struct page *head, unsigned max, unsigned *n);
void    *slab_take_local(struct page *head, unsigned *n);
unsigned slab_collect_remote(struct page *head);
bool     slab_retire_full(struct page *head);
void     slab_unretire(struct page *head);
bool     slab_refill_start(struct page *head);
void     slab_refill_end(struct page *head);
bool     slab_freelist_contains(const struct page *head, const void *p);

/* Any thread. */
bool slab_push_remote(struct page *head, void *p);
bool slab_owns(const struct page *head, const void *q);

#endif
