/* SPDX-License-Identifier: MIT */
/*
 * wl_tlb.c - dependent random reads over a large heap: the TLB as bottleneck.
 *
 * Owns the "what do the heap's pages cost?" measurement.  Each thread
 * mallocs its share of a large heap (heap_mib in all) as blocks of
 * 64 KiB..1 MiB, log-uniform, with small objects of 64-256 B mixed in
 * (small_pct of the bytes), and touches every page of it as it goes, so the
 * pages are placed (first touch) by the thread that allocated them.  Then it
 * threads one cyclic chain through the heap: one node per 4 KiB of heap, at
 * a random cache line of each 4 KiB of every block and in every small object
 * that ends a 4 KiB stretch of them, linked in a random order.  Walking the
 * chain is a run of dependent 8-byte loads (each address is the previous
 * load's value), to a new random page each time: neither out-of-order
 * execution nor the prefetchers can overlap the misses, and with 4 KiB pages
 * nearly every load also misses the TLB and waits for a page walk.  With
 * 2 MiB pages the TLB covers far more of the heap and the walks get short,
 * so ns_per_access tells 4 KiB from huge pages.
 *
 * Only the walk is timed, in the walking thread's CPU time; the wall time
 * and the fastest tenth of the walk (ns_per_access_best) are printed too.
 * Thread i walks the chain through the memory thread i allocated, or with
 * shared=1 that of thread (i+1)%threads: with pin=1 (threads spread over
 * the CPUs the process may use, before they allocate) on a NUMA machine
 * that is local memory against remote.
 *
 * rss_kib, anon_huge_kib (AnonHugePages) and hugetlb_kib (Private_Hugetlb)
 * are read once the heap is touched, the last two summed over
 * /proc/self/smaps: they show whether the heap really sat on huge pages.
 * hugetlbfs pages are not counted in the RSS.
 */
#include "wl_common.h"

#include <pthread.h>
#include <sched.h>

enum { OPT_HEAP, OPT_ACCESSES, OPT_THREADS, OPT_SHARED, OPT_PIN, OPT_SMALL, OPT_COUNT };

static struct wl_opt opts[OPT_COUNT] = {
	[OPT_HEAP] = { "heap_mib", 1024, "heap allocated in all, MiB" },
	[OPT_ACCESSES] = { "accesses", 20000000, "dependent reads per thread" },
	[OPT_THREADS] = { "threads", 1, "threads, each allocating heap/threads" },
	[OPT_SHARED] = { "shared", 0, "1: thread i walks thread (i+1)%n's memory" },
	[OPT_PIN] = { "pin", 0, "1: pin the threads, spread over the CPUs" },
	[OPT_SMALL] = { "small_pct", 10, "share of the heap in 64-256 B objects, %" },
};

/* Block sizes: larger than any allocator's small classes, so they come
 * from its page-level heap or from mmap, the memory a program's bulk data
 * sits on. */
#define BLOCK_MIN (64 * KIB)
#define BLOCK_MAX (1 * MIB)
#define SMALL_MIN 64
#define SMALL_MAX 256

/* The walk is timed in slices as well: on a machine shared with other
 * work, the fastest slice is the one least disturbed by it. */
#define WALK_SLICES 10

/* Heap bytes per chain node: one node per base page, so that every access
 * lands on a different 4 KiB page whatever the page size. */
#define NODE_SPACING 4096

struct thread {
	pthread_t tid;
	int       index;
	void    **node; /* the chain's nodes, in chain order */
	long      nodes, cap;
	double    walk_secs, walk_cpu_secs;
	double    best_slice_ns; /* the fastest of the walk's slices */
	void     *end;           /* where the walk stopped: stored, so the loads stay */
};

static struct thread    *threads;
static int               nthreads;
static pthread_barrier_t touched, go;
static double            setup_start, setup_secs;
static long              rss_kib, anon_huge_kib, hugetlb_kib;

/* ------------------------------------------------------------------------
 * Set-up: allocate and touch a thread's share, then build its chain
 * ---------------------------------------------------------------------- */
static void *alloc_touched(size_t size)
{
	void *p = malloc(size);

	if (p == NULL) {
		fprintf(stderr, "wl_tlb: malloc(%zu) failed\n", size);
		exit(1);
	}
	wl_touch(p, size);
	return p;
}

static void add_node(struct thread *t, void *p)
{
	if (t->nodes == t->cap) {
		fprintf(stderr, "wl_tlb: more chain nodes than %ld\n", t->cap);
		exit(1);
	}
	t->node[t->nodes++] = p;
}

/* A node in each 4 KiB of the block, at a random cache line of it (the
 * same line of every page would map them all to a few cache sets). */
static void block_nodes(struct thread *t, struct wl_rng *rng, char *b, size_t size)
{
	for (size_t off = 0; off + sizeof(void *) <= size; off += NODE_SPACING) {
		size_t room = size - off < NODE_SPACING ? size - off : NODE_SPACING;
		long   lines = (long)((room - sizeof(void *)) / CACHE_LINE);
		add_node(t, b + off + (size_t)wl_range(rng, 0, lines) * CACHE_LINE);
	}
}

/* Blocks and small objects in turns, so that the small ones are spread
 * through the set-up as in a program that builds both at once. */
static void fill_share(struct thread *t, struct wl_rng *rng, size_t share)
{
	size_t small_goal = share / 100 * (size_t)opts[OPT_SMALL].value;
	size_t big_goal = share - small_goal;
	size_t big = 0, small = 0, since_node = 0;

	while (big < big_goal || small < small_goal) {
		if (big < big_goal
		    && (small_goal == 0
		        || (double)big / (double)big_goal <= (double)small / (double)small_goal)) {
			size_t size = (size_t)wl_log_range(rng, BLOCK_MIN, BLOCK_MAX);
			block_nodes(t, rng, alloc_touched(size), size);
			big += size;
		} else {
			size_t size = (size_t)wl_range(rng, SMALL_MIN, SMALL_MAX);
			void  *p = alloc_touched(size);
			small += size;
			since_node += size;
			if (since_node >= NODE_SPACING) {
				since_node -= NODE_SPACING;
				add_node(t, p);
			}
		}
	}
}

/* Shuffle the nodes, then link each to the next and the last to the first:
 * a single cycle through all of them in random order. */
static void link_chain(struct thread *t, struct wl_rng *rng)
{
	for (long i = t->nodes - 1; i > 0; i--) {
		long  j = wl_range(rng, 0, i);
		void *tmp = t->node[i];
		t->node[i] = t->node[j];
		t->node[j] = tmp;
	}
	for (long i = 0; i < t->nodes; i++)
		*(void **)t->node[i] = t->node[(i + 1) % t->nodes];
}

/* ------------------------------------------------------------------------
 * Huge pages: AnonHugePages and Private_Hugetlb summed over every mapping
 * of /proc/self/smaps.  The file runs to megabytes with one mapping per
 * block (glibc maps each large block apart), so it is read in pieces.
 * ---------------------------------------------------------------------- */
static void smaps_line(const char *line, long *anon_huge, long *hugetlb)
{
	static const char anon[] = "AnonHugePages:", priv[] = "Private_Hugetlb:";

	if (strncmp(line, anon, sizeof(anon) - 1) == 0)
		*anon_huge += strtol(line + sizeof(anon) - 1, NULL, 10);
	else if (strncmp(line, priv, sizeof(priv) - 1) == 0)
		*hugetlb += strtol(line + sizeof(priv) - 1, NULL, 10);
}

static void smaps_huge_kib(long *anon_huge, long *hugetlb)
{
	static char buf[1 << 16];
	int         fd = open("/proc/self/smaps", O_RDONLY | O_CLOEXEC);
	size_t      have = 0;
	ssize_t     n;

	*anon_huge = *hugetlb = -1;
	if (fd < 0)
		return;
	*anon_huge = *hugetlb = 0;
	while ((n = read(fd, buf + have, sizeof(buf) - 1 - have)) > 0) {
		char *line = buf, *nl;

		have += (size_t)n;
		buf[have] = '\0';
		while ((nl = strchr(line, '\n')) != NULL) {
			*nl = '\0';
			smaps_line(line, anon_huge, hugetlb);
			line = nl + 1;
		}
		/* keep the unfinished line for the next read */
		have -= (size_t)(line - buf);
		memmove(buf, line, have);
		if (have == sizeof(buf) - 1)
			have = 0; /* a line this long is none we look for */
	}
	close(fd);
}

/* ------------------------------------------------------------------------
 * The walk: each load's address is the previous load's value
 * ---------------------------------------------------------------------- */
static void *walk(void *start, long n)
{
	void **p = start;

	for (long i = 0; i < n; i++)
		p = *p;
	return p;
}

/* The walking thread's own CPU time: on a machine shared with other work
 * the wall time also counts the slices the thread spent waiting for a CPU,
 * which say nothing about its pages. */
static double thread_cpu(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Thread i of n on the (i * cpus / n)-th CPU the process may use: CPUs are
 * numbered node by node, so the threads land on different nodes when there
 * are as many nodes as threads. */
static void pin(int index)
{
	cpu_set_t allowed, one;
	int       cpus, want, seen = 0;

	if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0)
		return;
	cpus = CPU_COUNT(&allowed);
	want = (int)((long)index * cpus / nthreads);
	for (int c = 0; c < CPU_SETSIZE; c++) {
		if (!CPU_ISSET(c, &allowed) || seen++ != want)
			continue;
		CPU_ZERO(&one);
		CPU_SET(c, &one);
		if (pthread_setaffinity_np(pthread_self(), sizeof(one), &one) != 0)
			fprintf(stderr, "wl_tlb: could not pin thread %d\n", index);
		return;
	}
}

/* Thread 0 is the main thread, so that a single-threaded run allocates as a
 * plain program does (glibc, for one, serves the main thread from its brk
 * heap and other threads from arenas it maps).  It also takes the readings
 * of the touched heap, while the others wait at the second barrier. */
static void *worker(void *arg)
{
	struct thread *t = arg;
	struct wl_rng  rng;
	size_t         share = (size_t)opts[OPT_HEAP].value * MIB / (size_t)nthreads;

	if (opts[OPT_PIN].value)
		pin(t->index);
	wl_seed(&rng, (uint64_t)t->index + 1);
	fill_share(t, &rng, share);
	link_chain(t, &rng);
	pthread_barrier_wait(&touched);
	if (t->index == 0) {
		setup_secs = wl_now() - setup_start;
		rss_kib = wl_rss_kib();
		smaps_huge_kib(&anon_huge_kib, &hugetlb_kib);
	}
	pthread_barrier_wait(&go);

	struct thread *own =
	        &threads[opts[OPT_SHARED].value ? (t->index + 1) % nthreads : t->index];
	long   accesses = opts[OPT_ACCESSES].value;
	void  *p = own->node[0];
	double start = wl_now(), cpu_start = thread_cpu(), cpu = cpu_start;
	t->best_slice_ns = 0;
	for (int k = 0; k < WALK_SLICES; k++) {
		long n = accesses / WALK_SLICES + (k < accesses % WALK_SLICES);
		if (n == 0)
			continue;
		p = walk(p, n);
		double now = thread_cpu(), ns = (now - cpu) * 1e9 / (double)n;
		if (t->best_slice_ns == 0 || ns < t->best_slice_ns)
			t->best_slice_ns = ns;
		cpu = now;
	}
	t->walk_cpu_secs = cpu - cpu_start;
	t->walk_secs = wl_now() - start;
	t->end = p;
	return NULL;
}

int main(int argc, char **argv)
{
	wl_allocator();
	wl_parse(argc, argv, opts, OPT_COUNT);
	nthreads = (int)opts[OPT_THREADS].value;
	if (opts[OPT_HEAP].value < 1 || opts[OPT_ACCESSES].value < 1 || nthreads < 1
	    || opts[OPT_SHARED].value < 0 || opts[OPT_SHARED].value > 1 || opts[OPT_PIN].value < 0
	    || opts[OPT_PIN].value > 1 || opts[OPT_SMALL].value < 0 || opts[OPT_SMALL].value > 100
	    || (size_t)opts[OPT_HEAP].value * MIB / (size_t)nthreads < BLOCK_MAX) {
		wl_usage(argv[0], opts, OPT_COUNT);
		return 2;
	}

	size_t share = (size_t)opts[OPT_HEAP].value * MIB / (size_t)nthreads;
	threads = wl_map((size_t)nthreads * sizeof(*threads));
	pthread_barrier_init(&touched, NULL, (unsigned)nthreads);
	pthread_barrier_init(&go, NULL, (unsigned)nthreads);
	setup_start = wl_now();
	for (int i = 0; i < nthreads; i++) {
		struct thread *t = &threads[i];
		/* a node per 4 KiB, plus one for each block's partial last page;
		 * the last block may overshoot the share by up to BLOCK_MAX */
		t->cap = (long)((share + 2 * BLOCK_MAX) / NODE_SPACING
		                + (share + BLOCK_MAX) / BLOCK_MIN)
		         + 16;
		t->node = wl_map((size_t)t->cap * sizeof(void *));
		t->index = i;
		if (i > 0 && pthread_create(&t->tid, NULL, worker, t) != 0) {
			fprintf(stderr, "wl_tlb: pthread_create failed\n");
			return 1;
		}
	}
	worker(&threads[0]);

	double ns = 0, ns_wall = 0, ns_best = 0;
	long   nodes = 0;
	for (int i = 0; i < nthreads; i++) {
		if (i > 0)
			pthread_join(threads[i].tid, NULL);
		ns += threads[i].walk_cpu_secs * 1e9 / (double)opts[OPT_ACCESSES].value;
		ns_wall += threads[i].walk_secs * 1e9 / (double)opts[OPT_ACCESSES].value;
		ns_best += threads[i].best_slice_ns;
		nodes += threads[i].nodes;
	}
	/* The heap is left to the exit: freeing a GiB block by block would
	 * only add time nobody measures. */

	wl_begin("tlb");
	wl_put("ns_per_access", "%.2f", ns / nthreads);
	wl_put("ns_per_access_wall", "%.2f", ns_wall / nthreads);
	wl_put("ns_per_access_best", "%.2f", ns_best / nthreads);
	wl_put("heap_mib", "%ld", opts[OPT_HEAP].value);
	wl_put("accesses", "%ld", opts[OPT_ACCESSES].value);
	wl_put("threads", "%d", nthreads);
	wl_put("shared", "%ld", opts[OPT_SHARED].value);
	wl_put("pin", "%ld", opts[OPT_PIN].value);
	wl_put("nodes", "%ld", nodes);
	wl_put("setup_s", "%.3f", setup_secs);
	wl_put("rss_kib", "%ld", rss_kib);
	wl_put("anon_huge_kib", "%ld", anon_huge_kib);
	wl_put("hugetlb_kib", "%ld", hugetlb_kib);
	wl_end();
	return 0;
}
