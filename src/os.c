/* SPDX-License-Identifier: MIT */
/*
 * os.c - the only file that asks the kernel for memory.
 *
 * Owns mmap, munmap, mremap and madvise, the CPU count and the random seed.
 * Keeping them here means a port, a fault-injection hook or a trace touches
 * one file.  Mappings are anonymous and private; alignment beyond the page is
 * obtained by over-mapping and trimming the excess at both ends.
 */
#include "internal.h"
#include "options.h"
#include "os.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <linux/mman.h> /* MAP_HUGE_SHIFT */
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------------
 * Mapping
 * ---------------------------------------------------------------------- */
/* Fault injection for tests (option fault_mmap = n): every mapping from
 * the n-th on fails, as it would when the address space is exhausted. */
static unsigned long maps_made;

static bool os_fault_injected(void)
{
	long n = strata_option(OPT_FAULT_MMAP);
	return n > 0 && __atomic_add_fetch(&maps_made, 1, __ATOMIC_RELAXED) >= (unsigned long)n;
}

void *os_map(size_t size)
{
	if (unlikely(os_fault_injected()))
		return NULL;
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

void os_unmap(void *p, size_t size)
{
	if (munmap(p, size) != 0)
		_strata_fatal("munmap(%p, %zu) failed: errno %d", p, size, errno);
}

/* Where the next aligned mapping is likely to fit: just below the last
 * one, since the kernel hands out addresses top down.  Asking there first
 * usually gets an aligned mapping in one call instead of three. */
static uintptr_t aligned_hint;

static void *os_map_hinted(size_t size, size_t align)
{
	uintptr_t hint = __atomic_load_n(&aligned_hint, __ATOMIC_RELAXED);
	if (hint < size || os_fault_injected())
		return NULL;
	hint -= size;
	void *p = mmap((void *)hint, size, PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	if (((uintptr_t)p & (align - 1)) != 0) {
		munmap(p, size);
		return NULL;
	}
	return p;
}

/* Of the span bytes mapped at raw, keep [aligned, aligned + size) and
 * unmap the excess at both ends. */
static void unmap_around(char *raw, size_t span, char *aligned, size_t size)
{
	size_t head = (size_t)(aligned - raw);
	size_t tail = span - head - size;
	if (head)
		os_unmap(raw, head);
	if (tail)
		os_unmap(aligned + size, tail);
}

/* Map size bytes aligned to align (a power of two >= the page size): at
 * the hint if the kernel agrees, else by over-mapping and trimming the
 * excess at both ends. */
void *os_map_aligned(size_t size, size_t align)
{
	if (align <= PAGE_SIZE)
		return os_map(size);
	if (size + align < size)
		return NULL;
	void *p = os_map_hinted(size, align);
	if (p) {
		__atomic_store_n(&aligned_hint, (uintptr_t)p, __ATOMIC_RELAXED);
		return p;
	}
	size_t span = size + align;
	char  *raw = os_map(span);
	if (raw == NULL)
		return NULL;
	char *aligned = (char *)ALIGN_UP((uintptr_t)raw, align);
	unmap_around(raw, span, aligned, size);
	__atomic_store_n(&aligned_hint, (uintptr_t)aligned, __ATOMIC_RELAXED);
	return aligned;
}

/* Map size bytes of MAP_HUGETLB memory (pages of 1 << page_shift bytes:
 * size and align multiples of it) aligned to align.
 * The kernel reserves the huge pages at mmap time, so a pool too small
 * fails here, cleanly, rather than with SIGBUS at the first touch.  An
 * aligned place is found in a reservation of ordinary address space,
 * which the huge mapping then replaces in part (MAP_FIXED inside our own
 * reservation: nothing else can be there). */
void *os_map_hugetlb(size_t size, size_t align, unsigned page_shift, bool reserve)
{
	if (os_fault_injected())
		return NULL;
	size_t span = size + align;
	char *raw = mmap(NULL, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (raw == MAP_FAILED)
		return NULL;
	char *aligned = (char *)ALIGN_UP((uintptr_t)raw, align);
	void *p = mmap(aligned, size, PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_FIXED
	                       | (reserve ? 0 : MAP_NORESERVE)
	                       | (int)(page_shift << MAP_HUGE_SHIFT),
	               -1, 0);
	if (p == MAP_FAILED) {
		os_unmap(raw, span);
		return NULL;
	}
	unmap_around(raw, span, aligned, size);
	/* A forked child gets a copy instead (os_fork_copy_*). */
	madvise(p, size, MADV_DONTFORK);
	return p;
}

/* Mappings (regions, huge blocks, a region's 2 MiB chunks) that asked for
 * hugetlb pages and got others; said once, with the verbose option. */
uint64_t _strata_hugetlb_fallbacks;

void hugetlb_fell_back(void)
{
	if (__atomic_fetch_add(&_strata_hugetlb_fallbacks, 1, __ATOMIC_RELAXED) == 0
	    && strata_option(OPT_VERBOSE))
		_strata_warn("no hugetlb pages left for a mapping (see /proc/sys/vm/nr_hugepages):"
		             " using ordinary pages (THP where advised)");
}

/* A hugetlb mapping's range backed now (MADV_POPULATE_WRITE): false, and
 * nothing faulted, when the pool has too few pages; a later touch would
 * then be killed by SIGBUS, so the caller must not hand the range out. */
bool os_populate(void *p, size_t size)
{
	return madvise(p, size, MADV_POPULATE_WRITE) == 0;
}

/* Ordinary private pages in place of [p, p + size) of another mapping. */
bool os_map_plain_at(void *p, size_t size)
{
	return mmap(p, size, PROT_READ | PROT_WRITE,
	            MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0)
	       != MAP_FAILED;
}

/* A page without access at p, where nothing is mapped (a guard page after
 * a mapping); false if something is there already.  A kernel older than
 * MAP_FIXED_NOREPLACE takes the address as a hint: a mapping elsewhere is
 * undone. */
bool os_map_guard_at(void *p, size_t size)
{
	void *q = mmap(p, size, PROT_NONE,
	               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
	if (q == MAP_FAILED)
		return false;
	if (q != p) {
		munmap(q, size);
		return false;
	}
	return true;
}

/* Fault every page of a range in now (MAP_POPULATE after the fact), so a
 * reserved heap never waits on the kernel later. */
void os_prefault(void *p, size_t size)
{
	if (madvise(p, size, MADV_POPULATE_WRITE) == 0)
		return;
	volatile char *c = p; /* kernels before 5.14: touch each page, */
	for (size_t off = 0; off < size; off += PAGE_SIZE) /* keeping its byte */
		c[off] = c[off];
}

/* Ask for transparent huge pages on a range (THP in madvise mode). */
bool os_advise_huge(void *p, size_t size)
{
	return madvise(p, size, MADV_HUGEPAGE) == 0;
}

/* Give pages back to the kernel but keep the address range: the next touch
 * faults in a zero page. */
void os_decommit(void *p, size_t size)
{
	if (size)
		madvise(p, size, MADV_DONTNEED);
}

/* Address space only, aligned to align: no access, nothing committed.
 * The debug mode's guarded blocks are opened in it with os_protect. */
void *os_reserve(size_t size, size_t align)
{
	size_t span = size + align;
	char *raw = mmap(NULL, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (raw == MAP_FAILED)
		return NULL;
	char *aligned = (char *)ALIGN_UP((uintptr_t)raw, align);
	unmap_around(raw, span, aligned, size);
	return aligned;
}

/* Open (read and write) or close (no access) whole pages; false when the
 * kernel refuses (out of mappings: vm.max_map_count). */
bool os_protect(void *p, size_t size, bool access)
{
	return size == 0 || mprotect(p, size, access ? PROT_READ | PROT_WRITE : PROT_NONE) == 0;
}

/* Grow or shrink a mapping where it stands. */
bool os_remap_inplace(void *p, size_t old_size, size_t new_size)
{
	return mremap(p, old_size, new_size, 0) != MAP_FAILED;
}

/* Move a mapping to a new aligned place without copying its pages: reserve
 * the destination, then let the kernel move the page tables there. */
void *os_remap_aligned(void *p, size_t old_size, size_t new_size, size_t align)
{
	void *dst = os_map_aligned(new_size, align);
	if (dst == NULL)
		return NULL;
	void *q = os_fault_injected()
	                  ? MAP_FAILED
	                  : mremap(p, old_size, new_size, MREMAP_MAYMOVE | MREMAP_FIXED, dst);
	if (q == MAP_FAILED) {
		os_unmap(dst, new_size);
		return NULL;
	}
	return q;
}

/* Bytes of [p, p + size) resident in RAM, asked with mincore() a chunk at
 * a time into a stack vector. */
#define RESIDENT_CHUNK_PAGES 4096

size_t os_resident(const void *p, size_t size)
{
	unsigned char vec[RESIDENT_CHUNK_PAGES];
	size_t        resident = 0;
	for (size_t off = 0; off < size; off += RESIDENT_CHUNK_PAGES * PAGE_SIZE) {
		size_t len = MIN(size - off, RESIDENT_CHUNK_PAGES * PAGE_SIZE);
		if (mincore((char *)p + off, len, vec) != 0)
			continue;
		for (size_t i = 0; i < (len + PAGE_SIZE - 1) / PAGE_SIZE; i++)
			resident += vec[i] & 1;
	}
	return resident * PAGE_SIZE;
}

/* Read a small file (sysfs, procfs) into buf, NUL-terminated; false if it
 * cannot be read or is empty. */
bool os_read_file(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, buf, size - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	return true;
}

/* The whole process's resident bytes, the kernel's RSS, from
 * /proc/self/statm (0 if unknown): what strata's own figures leave out
 * (the program, its libraries, other allocators' memory). */
size_t os_rss(void)
{
	char          buf[128];
	unsigned long size, resident;
	if (!os_read_file("/proc/self/statm", buf, sizeof(buf))
	    || sscanf(buf, "%lu %lu", &size, &resident) != 2)
		return 0;
	return resident * (size_t)sysconf(_SC_PAGESIZE);
}

/* ------------------------------------------------------------------------
 * The memory limit of the process's cgroup
 *
 * A container's memory is bounded by its cgroup: over the limit, the
 * kernel's OOM killer kills a process, however much the machine has free.
 * The limit is the smallest of memory.max and memory.high (cgroup v2), or
 * of memory.limit_in_bytes (v1's memory hierarchy), of the process's
 * cgroup and its ancestors.  Read once, when the decay first needs it: a few
 * opens of small files.
 * ---------------------------------------------------------------------- */
#define CGROUP_ROOT      "/sys/fs/cgroup"
#define CGROUP_PATH_MAX  512
#define CGROUP_UNLIMITED ((size_t)1 << 62) /* v1 says "none" with a huge number */

/* A limit file's value: a number of bytes, or "max" (none: 0). */
static size_t cgroup_value(const char *dir, const char *file)
{
	char path[2 * CGROUP_PATH_MAX + 64], buf[64];
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, file) >= sizeof(path)
	    || !os_read_file(path, buf, sizeof(buf)))
		return 0;
	char              *end;
	unsigned long long v = strtoull(buf, &end, 10);
	return end == buf || v >= CGROUP_UNLIMITED ? 0 : (size_t)v;
}

static size_t limit_min(size_t a, size_t b)
{
	return a == 0 ? b : b == 0 ? a : MIN(a, b);
}

/* The path of the process's cgroup in /proc/self/cgroup's line for the
 * hierarchy named (v1: "memory" among the controllers; v2: "" for the
 * line "0::/path"), into path; false if there is none. */
static bool cgroup_path(const char *table, const char *controller, char *path, size_t size)
{
	size_t want = strlen(controller);
	for (const char *line = table; *line;) {
		const char *eol = strchr(line, '\n'), *c = strchr(line, ':');
		eol = eol ? eol : line + strlen(line);
		const char *p = c && c < eol ? strchr(c + 1, ':') : NULL;
		if (p != NULL && p < eol) {
			/* the controllers: c + 1 .. p, comma-separated */
			bool match = want == 0 ? p == c + 1 : false;
			for (const char *w = c + 1; want && w < p;) {
				const char *comma = memchr(w, ',', (size_t)(p - w));
				const char *wend = comma ? comma : p;
				match |= (size_t)(wend - w) == want
				         && memcmp(w, controller, want) == 0;
				w = wend + 1;
			}
			size_t len = (size_t)(eol - p - 1);
			if (match && len < size) {
				memcpy(path, p + 1, len);
				path[len] = '\0';
				return true;
			}
		}
		line = *eol ? eol + 1 : eol;
	}
	return false;
}

/* The smallest limit, in the files named, of the cgroup dir (under root)
 * and of each ancestor up to root, the top of the hierarchy this process
 * sees: a parent's limit bounds its children's. */
static size_t cgroup_tree_limit(const char *root, const char *cg, const char *const *files)
{
	char   dir[2 * CGROUP_PATH_MAX];
	size_t limit = 0, root_len = strlen(root);
	if ((size_t)snprintf(dir, sizeof(dir), "%s%s", root, cg) >= sizeof(dir))
		return 0;
	for (size_t len = strlen(dir);;) {
		dir[len] = '\0';
		for (const char *const *f = files; *f; f++)
			limit = limit_min(limit, cgroup_value(dir, *f));
		char *slash = strrchr(dir, '/');
		if (len <= root_len || slash == NULL || (size_t)(slash - dir) < root_len)
			break;
		len = (size_t)(slash - dir);
	}
	return limit;
}

/* The limit of the cgroup /proc/self/cgroup's table names, under the
 * cgroup file system mounted at root (v1's memory hierarchy at
 * root/memory). */
size_t os_cgroup_limit(const char *root, const char *table)
{
	static const char *const v1[] = { "memory.limit_in_bytes", NULL };
	static const char *const v2[] = { "memory.max", "memory.high", NULL };
	char                     cg[CGROUP_PATH_MAX], dir[CGROUP_PATH_MAX + 64];
	if (cgroup_path(table, "memory", cg, sizeof(cg))) {
		if ((size_t)snprintf(dir, sizeof(dir), "%s/memory", root) >= sizeof(dir))
			return 0;
		return cgroup_tree_limit(dir, cg, v1);
	}
	return cgroup_path(table, "", cg, sizeof(cg)) ? cgroup_tree_limit(root, cg, v2) : 0;
}

/* The bytes the process's cgroup may use, 0 if it has no limit (or it
 * cannot be read). */
size_t os_memory_limit(void)
{
	char table[4096]; /* v1: a line per hierarchy, each with the path */
	return os_read_file("/proc/self/cgroup", table, sizeof(table))
	               ? os_cgroup_limit(CGROUP_ROOT, table)
	               : 0;
}

/* ------------------------------------------------------------------------
 * hugetlb memory across fork
 *
 * A forked child shares its parent's private hugetlb pages copy-on-write,
 * and every write by either side to a shared page needs a page from the
 * pool for its copy: with none left the child is killed by SIGBUS, or the
 * parent takes the page back from the child, which then dies when it
 * touches it.  So hugetlb mappings are not inherited at all
 * (MADV_DONTFORK): before fork, the parent copies the resident pages of
 * each one to ordinary memory (os_fork_copy_add, with the fork locks held);
 * the child moves each copy to its mapping's address (os_fork_copy_child)
 * and the parent unmaps them (os_fork_copy_parent).  The cost is a copy of
 * the resident hugetlb memory at each fork(); vfork and posix_spawn run
 * no fork handlers and copy nothing.
 * ---------------------------------------------------------------------- */
struct fork_copy {
	void  *addr;
	void  *copy;
	size_t size;
};

static struct fork_copy *fork_copies;
static size_t            nr_fork_copies, fork_copies_cap;

static bool fork_copies_grow(void)
{
	size_t cap = fork_copies_cap ? fork_copies_cap * 2 : PAGE_SIZE / sizeof(struct fork_copy);
	struct fork_copy *t = os_map(cap * sizeof(*t));
	if (t == NULL)
		return false;
	if (fork_copies) {
		memcpy(t, fork_copies, nr_fork_copies * sizeof(*t));
		os_unmap(fork_copies, fork_copies_cap * sizeof(*t));
	}
	fork_copies = t;
	fork_copies_cap = cap;
	return true;
}

/* The resident part of hugetlb mapping p (of 2 MiB or 1 GiB pages, some of
 * its chunks maybe on ordinary pages) copied for the child, a 2 MiB chunk
 * at a time; chunks with nothing resident are not read (a hugetlb page
 * never faulted in would take a pool page): they were zero, as the copy's
 * are.  When no copy can be made the child inherits the mapping itself, as
 * it would without strata. */
void os_fork_copy_add(void *p, size_t size)
{
	char *copy = NULL;
	if (nr_fork_copies < fork_copies_cap || fork_copies_grow())
		copy = os_map(size);
	if (copy == NULL) {
		madvise(p, size, MADV_DOFORK);
		return;
	}
	for (size_t off = 0; off < size; off += HUGE_PAGE_SIZE)
		if (os_resident((char *)p + off, HUGE_PAGE_SIZE) != 0)
			memcpy(copy + off, (char *)p + off, HUGE_PAGE_SIZE);
	fork_copies[nr_fork_copies++] = (struct fork_copy){ p, copy, size };
}

/* The child: each copy to its place (the address is free: the hugetlb
 * mapping was not inherited). */
void os_fork_copy_child(void)
{
	for (size_t i = 0; i < nr_fork_copies; i++) {
		struct fork_copy *c = &fork_copies[i];
		if (mremap(c->copy, c->size, c->size, MREMAP_MAYMOVE | MREMAP_FIXED, c->addr)
		    == MAP_FAILED)
			_strata_fatal("cannot move a copy of hugetlb memory into place after fork: "
			              "errno %d",
			              errno);
	}
}

/* The child, once its layers have asked os_fork_copied. */
void os_fork_copy_done(void)
{
	nr_fork_copies = 0;
}

void os_fork_copy_parent(void)
{
	for (size_t i = 0; i < nr_fork_copies; i++)
		os_unmap(fork_copies[i].copy, fork_copies[i].size);
	nr_fork_copies = 0;
}

/* Whether the child got a copy of p, on ordinary pages. */
bool os_fork_copied(const void *p)
{
	for (size_t i = 0; i < nr_fork_copies; i++)
		if (fork_copies[i].addr == p)
			return true;
	return false;
}

/* ------------------------------------------------------------------------
 * Machine facts
 * ---------------------------------------------------------------------- */
unsigned os_cpu_count(void)
{
	cpu_set_t set; /* on the stack: sysconf may read files */
	if (sched_getaffinity(0, sizeof(set), &set) == 0) {
		int n = CPU_COUNT(&set);
		if (n > 0)
			return (unsigned)n;
	}
	return 1;
}

/* Milliseconds of a coarse monotonic clock: a vDSO read, no system call,
 * cheap enough for every arena slow path. */
uint64_t os_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Nanoseconds of the fine monotonic clock (a vDSO read too). */
uint64_t os_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000 + (uint64_t)ts.tv_nsec;
}

uint64_t os_random(void)
{
	uint64_t v = 0;
	if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != (ssize_t)sizeof(v)) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		v = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ULL ^ (uint64_t)(uintptr_t)&v;
	}
	return v;
}

/* The keys of the free-object links (internal.h): random per process, set
 * once at start-up; the free key is never 0 and never a pointer, the link
 * key's low bit is 0 (an empty free list's link has it set: heap.h). */
uintptr_t _strata_free_key;
uintptr_t _strata_link_key;

void os_keys_init(void)
{
	_strata_free_key = (uintptr_t)os_random() | 1;
	__atomic_store_n(&_strata_link_key, (uintptr_t)os_random() & ~(uintptr_t)1,
	                 __ATOMIC_RELAXED); /* read by malloc before start-up (internal.h) */
}

/* A detached thread of strata's own (the background decay, the stats-file
 * writer); false if it could not be created. */
bool os_thread_start(void *(*fn)(void *))
{
	pthread_t      t;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	bool ok = pthread_create(&t, &attr, fn, NULL) == 0;
	pthread_attr_destroy(&attr);
	return ok;
}

#if STRATA_ASSERT_LEVEL >= 1
__thread pid_t _strata_lock_tid tls_ie; /* lock_held (internal.h) */
#endif
