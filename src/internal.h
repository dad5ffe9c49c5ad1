/* SPDX-License-Identifier: MIT */
/*
 * internal.h - the shared vocabulary of strata's layers.
 *
 * Owns the constants that fix the geometry of the heap (page, region, orders),
 * the per-page descriptor, the region and arena structures, branch hints, the
 * lock wrapper and the fatal-error helpers.  Every layer includes it; the only
 * public header is include/strata.h.
 *
 * Geometry.  Memory is reserved from the OS in regions of REGION_SIZE bytes,
 * aligned to their size, so the region of any pointer is one mask away.  The
 * first pages of a region hold its header and one descriptor per page (like
 * the kernel's struct page); the rest is managed by the buddy allocator.
 */
#ifndef STRATA_INTERNAL_H
#define STRATA_INTERNAL_H

#include "config.h"    /* first: it defines _GNU_SOURCE */
#include "namespace.h" /* every extern name gets the _strata_ prefix */

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h> /* gettid, for lock_held */

/* ------------------------------------------------------------------------
 * Compiler helpers
 * ---------------------------------------------------------------------- */
#define likely(x)     __builtin_expect(!!(x), 1)
#define unlikely(x)   __builtin_expect(!!(x), 0)
#define noinline      __attribute__((__noinline__))
#define strata_cold   __attribute__((__cold__, __noinline__))
#define strata_export __attribute__((visibility("default")))
/* On extern data used by the fast paths: a hidden declaration is reached
 * PC-relative, not through the GOT (-fvisibility only covers definitions). */
#define strata_hidden __attribute__((visibility("hidden")))
#define tls_ie        __attribute__((tls_model("initial-exec")))

/* The malloc family's names.  A test build may give them a prefix
 * (-DSTRATA_PREFIX=strata_tsan_) to run strata beside another allocator,
 * such as ThreadSanitizer's own. */
#ifndef STRATA_PREFIX
#define STRATA_PREFIX
#endif
#define STRATA_CAT2(a, b) a##b
#define STRATA_CAT(a, b)  STRATA_CAT2(a, b)
#define API(name)         STRATA_CAT(STRATA_PREFIX, name)

#define MIN(a, b)      ((a) < (b) ? (a) : (b))
#define MAX(a, b)      ((a) > (b) ? (a) : (b))
#define ALIGN_UP(x, a) (((x) + ((a)-1)) & ~((uintptr_t)(a)-1))

/* Internal assertions, graded like the kernel's VM_BUG_ON and mimalloc's
 * debug levels, chosen at configure time (--enable-asserts=LEVEL):
 *   strata_assert            level 1: cheap checks at the layer boundaries
 *                            (orders, alignment, counts, a lock held);
 *   strata_assert_expensive  level 2: checks that walk a list.
 * Release builds (level 0) carry none; the condition is still compiled
 * (sizeof), so it cannot rot. */
#ifndef STRATA_ASSERT_LEVEL
#define STRATA_ASSERT_LEVEL 0
#endif
#define STRATA_ASSERT_CHECK(c) \
	(likely(c) ? (void)0 : _strata_assert_fail(#c, __FILE__, __LINE__, __func__))
#if STRATA_ASSERT_LEVEL >= 1
#define strata_assert(c) STRATA_ASSERT_CHECK(c)
#else
#define strata_assert(c) ((void)sizeof(!(c)))
#endif
#if STRATA_ASSERT_LEVEL >= 2
#define strata_assert_expensive(c) STRATA_ASSERT_CHECK(c)
#else
#define strata_assert_expensive(c) ((void)sizeof(!(c)))
#endif

/* ------------------------------------------------------------------------
 * Geometry
 * ---------------------------------------------------------------------- */
#define PAGE_SHIFT 12
#define PAGE_SIZE  ((size_t)1 << PAGE_SHIFT)

/* 32 MiB regions: big enough that a busy arena maps few of them (few mmap
 * calls, little mmap_lock contention), small enough that an idle one can be
 * given back whole. */
#define REGION_SHIFT 25
#define REGION_SIZE  ((size_t)1 << REGION_SHIFT)
#define REGION_MASK  (REGION_SIZE - 1)
#define REGION_PAGES (REGION_SIZE >> PAGE_SHIFT)

/* The largest buddy block is half a region: the lower half starts with the
 * descriptors, so a whole-region block can never form. */
#define BUDDY_MAX_ORDER (REGION_SHIFT - PAGE_SHIFT - 1)
#define BUDDY_ORDERS    (BUDDY_MAX_ORDER + 1)

/* Requests above 4 MiB (the kernel's largest buddy block) are mapped
 * directly: they are rare, and a region would be mostly slack around them. */
#define LARGE_MAX_ORDER 10
#define LARGE_MAX       (PAGE_SIZE << LARGE_MAX_ORDER)

/* ... except where an arena already holds a dirty free run that fits, up to
 * the largest buddy block (large.c, large_alloc_dirty). */
#define LARGE_DIRTY_MAX (PAGE_SIZE << BUDDY_MAX_ORDER)

/* Every block is aligned to at least this, as glibc's malloc does on x86-64. */
#define MIN_ALIGN 16

/* Addresses above 2^47 are not handed out by the kernel without a hint. */
#define ADDRESS_BITS 47

/* ------------------------------------------------------------------------
 * Page descriptors
 * ---------------------------------------------------------------------- */
enum page_state {
	PAGE_NONE = 0, /* inside a block, or never used */
	PAGE_META,     /* holds the region header and descriptors */
	PAGE_FREE,     /* head of a free buddy block (order = its order) */
	PAGE_LARGE,    /* head of a large run (npages = its length) */
	PAGE_SLAB,     /* head or tail page of a slab (cls, slab_off, bump) */
	PAGE_SAMPLED,  /* a slab page holding blocks leak tracking recorded:
	                   as PAGE_SLAB, but free takes the slow path */
	PAGE_CACHE,    /* a page of an object cache's slab (cache.h): as
	                   PAGE_SLAB, with the cache as owner and no class */
};

#define PG_DIRTY     0x01 /* free block may hold resident pages */
#define PG_FREE_TAIL 0x02 /* last page of a free block, its order in order */
#define PG_CACHED    0x04 /* large run held free in a thread's heap */
#define PG_SAMPLED   0x08 /* large run recorded by leak tracking */

struct heap;

/* One descriptor per page, 64 bytes: one cache line each, so the owner of
 * one slab and a thread freeing into its neighbour never share a line.
 * The fields a slab needs on every page (state, cls, slab_off, inverse,
 * shift, bump, owner) let free check a pointer from its own page's
 * descriptor; the slab's lists live in its head page's (see slab.c). */
struct page {
	uint8_t  state;
	uint8_t  order; /* PAGE_FREE: block order; PAGE_SLAB: slab order */
	uint8_t  cls;   /* PAGE_SLAB: size class, on every page of the slab */
	uint8_t  flags;
	uint32_t slab_off; /* PAGE_SLAB: byte offset of this page in its slab */
	union {
		uint32_t npages;  /* PAGE_LARGE: length of the run in pages */
		uint32_t inverse; /* PAGE_SLAB: the class's inverse and shift, */
	};                        /* here so free reads one descriptor */
	union {
		uint32_t inuse; /* slab head: objects not on local_free (slab.c) */
		uint32_t dirty; /* PAGE_FREE: of its pages, how many may be resident */
	};
	union {
		uint32_t bump;       /* PAGE_SLAB: see slab.c */
		uint32_t guarded;    /* PAGE_LARGE: usable bytes, a canary after them; 0: none */
		uint32_t freed_pass; /* PAGE_FREE: the arena's decay pass it was freed in */
	};
	uint8_t      shift;
	uint8_t      list;       /* slab head: enum slab_list (slab.h) */
	uint16_t     samples;    /* PAGE_SAMPLED: recorded blocks starting here */
	void        *owner;      /* PAGE_SLAB: the owning heap's entry for the class
	                            (heap.h), on every page; tagged on a
	                            PAGE_SAMPLED page (slab.h) */
	void        *local_free; /* slab head: objects freed by the owner */
	uintptr_t    remote;     /* slab head: objects freed by other threads, an
	                            atomic list (slab.c) */
	struct page *next;       /* free_area list, or the heap's slab lists */
	struct page *prev;
} __attribute__((aligned(64)));

/* The first word of every mapping the pagemap knows, so a lookup can tell a
 * buddy region from a directly mapped huge block (live, or freed and kept
 * for reuse), the area of malloc(0)'s blocks or, in the debug mode, an area
 * of guarded blocks (guard.c). */
enum segment_kind {
	SEG_REGION = 1,
	SEG_HUGE = 2,
	SEG_GUARD = 3,
	SEG_HUGE_FREED = 4,
	SEG_ZERO = 5,
};

struct arena;

/* What a region's memory sits on (the hugepages option). */
enum region_backing {
	BACKING_PAGES = 0,  /* 4 KiB pages */
	BACKING_THP,        /* advised MADV_HUGEPAGE: the kernel decides */
	BACKING_HUGETLB,    /* MAP_HUGETLB: 2 MiB pages from the reserved pool */
	BACKING_HUGETLB_1G, /* MAP_HUGETLB 1 GiB pages (huge blocks only) */
};

/* A huge page is 2 MiB: a buddy block of this order is one or more whole
 * huge pages, since blocks are aligned to their size. */
#define HUGE_PAGE_SHIFT 21
#define HUGE_PAGE_SIZE  ((size_t)1 << HUGE_PAGE_SHIFT)
#define HUGE_ORDER      (HUGE_PAGE_SHIFT - PAGE_SHIFT)
#define GIGA_PAGE_SHIFT 30
#define GIGA_PAGE_SIZE  ((size_t)1 << GIGA_PAGE_SHIFT)

/* A region's 2 MiB granules, in which slabs are kept together (buddy.c);
 * page pfn is in granule pfn >> HUGE_ORDER. */
#define REGION_GRANULES (REGION_SIZE >> HUGE_PAGE_SHIFT)

struct region {
	uint32_t       kind;          /* SEG_REGION */
	uint32_t       meta_pages;    /* pages [0, meta_pages) hold this header */
	uint32_t       free_pages;    /* pages in free buddy blocks */
	uint8_t        backing;       /* enum region_backing */
	uint8_t        reserved;      /* pre-faulted at start: never given back */
	uint16_t       chunks_backed; /* BACKING_HUGETLB: 2 MiB chunks faulted in (buddy.c) */
	uint16_t       chunks_plain;  /* ... of them, on ordinary pages: the pool had none */
	uint16_t       _pad[3];
	uint16_t       granule_slab_pages[REGION_GRANULES]; /* buddy.c */
	struct arena  *arena;
	struct region *next; /* the arena's regions */
	struct region *prev;
	struct page    pages[REGION_PAGES];
};

#define REGION_META_PAGES ((uint32_t)((sizeof(struct region) + PAGE_SIZE - 1) >> PAGE_SHIFT))

static inline struct region *region_of(const void *p)
{
	return (struct region *)((uintptr_t)p & ~(uintptr_t)REGION_MASK);
}

static inline size_t page_index(const struct region *r, const void *p)
{
	return ((uintptr_t)p - (uintptr_t)r) >> PAGE_SHIFT;
}

static inline struct page *page_of(struct region *r, const void *p)
{
	return &r->pages[page_index(r, p)];
}

static inline struct region *page_region(const struct page *pg)
{
	return region_of(pg); /* descriptors live inside their region */
}

static inline size_t page_pfn(const struct page *pg)
{
	return (size_t)(pg - page_region(pg)->pages);
}

static inline void *page_address(const struct page *pg)
{
	return (char *)page_region(pg) + (page_pfn(pg) << PAGE_SHIFT);
}

/* ------------------------------------------------------------------------
 * Locks
 * ---------------------------------------------------------------------- */
typedef pthread_mutex_t strata_lock_t;
#define STRATA_LOCK_INIT PTHREAD_MUTEX_INITIALIZER

static inline void lock_acquire(strata_lock_t *l)
{
	pthread_mutex_lock(l);
}
static inline void lock_release(strata_lock_t *l)
{
	pthread_mutex_unlock(l);
}
static inline void lock_reinit(strata_lock_t *l)
{
	pthread_mutex_init(l, NULL);
}
static inline bool lock_try(strata_lock_t *l)
{
	return pthread_mutex_trylock(l) == 0;
}

/* Whether the calling thread holds l, for assertions ("arena lock held"):
 * glibc records the owner's thread id in every mutex it locks, the one of
 * its thread descriptor.  That is the id a thread had when it first asked
 * (cached, os.c), not gettid(): a vfork child runs on its parent's
 * descriptor and locks under the parent's id.  A fork child forgets it. */
#if STRATA_ASSERT_LEVEL >= 1
extern __thread pid_t _strata_lock_tid tls_ie strata_hidden;
static inline bool    lock_held(strata_lock_t *l)
{
	if (_strata_lock_tid == 0)
		_strata_lock_tid = gettid();
	return l->__data.__owner == _strata_lock_tid;
}
static inline void lock_owner_forget(void)
{
	_strata_lock_tid = 0;
}
#else
static inline bool lock_held(strata_lock_t *l)
{
	(void)l;
	return true;
}
static inline void lock_owner_forget(void)
{
}
#endif

/* ------------------------------------------------------------------------
 * Messages (message.c)
 * ---------------------------------------------------------------------- */
void _strata_fatal(const char *fmt, ...)
        __attribute__((__noreturn__, __cold__, __format__(printf, 1, 2)));
void _strata_fatal_set_hook(void (*fn)(int fd));
void _strata_assert_fail(const char *cond, const char *file, int line, const char *func)
        __attribute__((__noreturn__, __cold__));
void _strata_warn(const char *fmt, ...) __attribute__((__cold__, __format__(printf, 1, 2)));
void _strata_print(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* All of buf to fd, across short writes and EINTR; false on an error. */
bool _strata_write_all(int fd, const void *buf, size_t len);

/* ------------------------------------------------------------------------
 * Start-up (init.c)
 * ---------------------------------------------------------------------- */
extern int _strata_initialized strata_hidden;
void       _strata_init_slow(void);

static inline void strata_ensure_init(void)
{
	if (unlikely(!__atomic_load_n(&_strata_initialized, __ATOMIC_ACQUIRE)))
		_strata_init_slow();
}

/* ------------------------------------------------------------------------
 * Free-object links (heaps' free lists, slabs' local and remote lists)
 *
 * A free object holds two words: its link to the next free object and the
 * free key, a secret that marks it as free so that a second free of it is
 * noticed.  Both are where a use after free writes first, so the link is
 * stored mangled, as glibc's safe-linking does, with the address it is
 * stored at and a second secret of strata's own (ASLR leaves only a few
 * unknown bits in a heap address): an overwritten link no longer decodes
 * to an aligned pointer, and an overwritten key no longer matches.  Both
 * are checked whenever a link is followed, so a corrupt list aborts instead
 * of handing out an address an attacker chose.  Both secrets come from
 * getrandom at start (init.c).
 * ---------------------------------------------------------------------- */
extern uintptr_t _strata_free_key strata_hidden;
extern uintptr_t _strata_link_key strata_hidden;

void _strata_freelist_corrupt(const void *p) __attribute__((__noreturn__, __cold__));

static inline uintptr_t link_mask(const void *slot)
{
	return (uintptr_t)slot ^ _strata_link_key;
}

/* The ThreadSanitizer build: it sees no access that inline assembly
 * makes, and a few counters are stored atomically there for it. */
#if defined(__SANITIZE_THREAD__)
#define STRATA_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define STRATA_TSAN 1
#endif
#endif

/* --*n <= 0, as one subtraction in memory whose flags the branch reads:
 * GCC loads, subtracts, stores and tests again, two more instructions
 * on every free into a slab other than the current one. */
static inline bool count_drop(int32_t *n)
{
#if defined(__x86_64__) && defined(__GCC_ASM_FLAG_OUTPUTS__) && !defined(STRATA_TSAN)
	bool le;
	__asm__("subl $1, %0" : "+m"(*n), "=@ccle"(le));
	return le;
#else
	return --*n <= 0;
#endif
}

/* The link of free object p decoded, xor p: the bits in which the next
 * object's address differs from p's (zero above the window when both lie
 * in one slab).  A test of the window needs no more than this, and the
 * address is one xor away. */
static inline uintptr_t link_delta(void *const *p)
{
#ifdef STRATA_TSAN
	/* malloc of a thread whose heap is not set up decodes the empty
	 * list's word (heap.h) while start-up may be writing the key: any key
	 * fails it, and the read is one aligned word; atomic for TSan. */
	return (uintptr_t)p[0] ^ __atomic_load_n(&_strata_link_key, __ATOMIC_RELAXED);
#else
	return (uintptr_t)p[0] ^ _strata_link_key;
#endif
}

/* Both secrets, loaded once for a run of link_set_with: the stores of
 * link_set could alias them, so it loads them again each time. */
struct link_keys {
	uintptr_t link, free;
};

static inline struct link_keys link_keys(void)
{
	return (struct link_keys){ _strata_link_key, _strata_free_key };
}

static inline void link_set_with(void *p, const void *next, struct link_keys k)
{
	((uintptr_t *)p)[0] = (uintptr_t)next ^ ((uintptr_t)p ^ k.link); /* link_mask(p) */
	((uintptr_t *)p)[1] = k.free;
}

/* Make the free object p point to next (NULL ends a list) and mark it free. */
static inline void link_set(void *p, const void *next)
{
	link_set_with(p, next, link_keys());
}

/* The free object after p, in *next: false if p's two words were
 * overwritten (the link misaligned or the key gone).  One branch for both
 * checks: the fast path pays about five instructions. */
static inline bool link_try_next(const void *p, void **next)
{
	const uintptr_t *w = p;
	uintptr_t        n = w[0] ^ link_mask(p);
	*next = (void *)n;
	return !((n & (MIN_ALIGN - 1)) | (w[1] ^ _strata_free_key));
}

/* The free object after p, or abort if p's two words were overwritten;
 * link_try_next for a caller that reports after it lets go of a lock. */
static inline void *link_next(const void *p)
{
	void *next;
	if (unlikely(!link_try_next(p, &next)))
		_strata_freelist_corrupt(p);
	return next;
}

/* Abort unless the free object p ends a list: its key in place and its
 * link NULL (a list's last object, a kept run's or huge block's mark). */
static inline void link_check_end(const void *p)
{
	if (link_next(p) != NULL)
		_strata_freelist_corrupt(p);
}

#endif
