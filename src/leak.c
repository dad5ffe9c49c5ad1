/* SPDX-License-Identifier: MIT */
/*
 * leak.c - live allocations by call stack, for LeakSanitizer-style reports.
 *
 * Owns two hash tables and the report made from them.  Both run inside
 * malloc and free, so nothing here allocates: the tables live in one
 * anonymous NORESERVE mapping made by leak_init, the sums of a report in a
 * scratch mapping, the call stack comes from _Unwind_Backtrace (never
 * backtrace(), which dlopens libgcc_s and mallocs), symbols from dladdr, and
 * text goes out through _strata_print.
 *
 * The record table maps a block's address to one record: requested bytes,
 * weight (the bytes the record stands for: the size itself in exact mode,
 * the sampling interval in sampled mode), the mark current when it was made,
 * and the index of its call stack.  It is open addressing with linear
 * probing; a block's home slot is the high bits of its address times a
 * 64-bit odd constant.  The invariant: every record sits in the run of
 * occupied slots that starts at its home, so a lookup stops at the first
 * empty slot.  Deletion keeps it by backward shift, with no tombstones:
 * the hole left behind is filled by the next record of the run that may
 * move back to it (one whose home is not after the hole), the hole moves to
 * where that record was, until an empty slot ends the run.
 *
 * The table is reserved at its largest size but used as a power-of-two
 * prefix that doubles when the load passes 1/2: the hash spreads records
 * over every slot, so a table used at full size would make nearly all of its
 * pages resident after some hundred thousand records.
 *
 * The stack table holds each distinct call stack once, in an array whose
 * index the records keep; a second open-addressing table of indices, keyed
 * by a hash of the frames, finds a stack.  A stack counts the records that
 * use it and goes back on a free list when the last one goes, so the limit
 * is on stacks live at once, not on stacks ever seen.
 *
 * A report sums the records per stack into a scratch array (not counters
 * kept by record and forget: a report can ask for the records since any
 * mark, and record/forget stay a probe and a store).  The lock is held only
 * while the records are scanned; sorting and writing happen after it.
 *
 * Locking: one lock for both tables.  The unwinder runs before it is taken,
 * so a slow unwind never holds up other threads' mallocs.
 *
 * Cost (x86-64, measured): 337 MiB of address space and nothing resident at
 * start; 80 to 160 bytes resident per live record (40-byte records at a
 * load between 1/4 and 1/2), 144 per live call stack, at most 512 KiB for
 * the stack index.  The resident pages stay at the high-water mark.  A
 * record costs 1 to 2 us (a shallow stack to 16 frames), nearly all of it
 * the unwind; a forget 0.1 us.  A doubling holds the lock while it
 * rehashes: some 65 ms when passing 512K records, 220 ms at 2M.
 */
#include "internal.h"
#include "leak.h"
#include "os.h"

#include <dlfcn.h>
#include <string.h>
#include <unistd.h>
#include <unwind.h>

/* ------------------------------------------------------------------------
 * Sizes
 * ---------------------------------------------------------------------- */

/* 4M live records: an exact-mode heap of a few million blocks fits; beyond
 * that, tracking is meant to be sampled.  The load stays at most 1/2, where
 * a linear-probing miss costs 2.5 probes on average, so 8M slots are
 * reserved: 320 MiB of address space, resident only as the table grows. */
#define RECORD_MAX       ((size_t)1 << 22)
#define RECORD_SLOTS_MAX (2 * RECORD_MAX)

/* The first size: 4096 slots, 160 KiB, enough for a sampled heap of a
 * typical process without a single doubling. */
#define RECORD_SLOTS_MIN_BITS 12

/* 64K call stacks live at once: far more distinct allocation sites than a
 * large server has, yet only 10 MiB reserved.  The index has twice as many
 * slots, so its load also stays at most 1/2. */
#define STACK_MAX       ((uint32_t)LEAK_SITES_MAX)
#define STACK_SLOT_BITS 17
#define STACK_SLOTS     ((size_t)1 << STACK_SLOT_BITS)

/* Fibonacci hashing: odd, bits well mixed, so the high bits of key * it
 * depend on every bit of an (aligned) address. */
#define HASH_MUL 0x9e3779b97f4a7c15ULL

/* Frames of this file on the stack when the unwinder reports its first:
 * capture_stack and leak_record. */
#define LEAK_OWN_FRAMES 2

/* ------------------------------------------------------------------------
 * Tables
 * ---------------------------------------------------------------------- */
struct leak_record {
	void    *ptr; /* NULL: an empty slot */
	size_t   requested;
	size_t   weight;
	uint64_t mark;
	uint32_t stack; /* index into stacks[] */
	uint32_t _pad;
};

struct leak_stack {
	uint64_t hash;
	uint32_t nframes;
	union {
		uint32_t refs;      /* records using it */
		uint32_t next_free; /* when refs fell to 0: next free index + 1 */
	};
	void *frames[STRATA_LEAK_FRAMES];
};

#define STACK_NONE UINT32_MAX

static strata_lock_t table_lock = STRATA_LOCK_INIT;
static bool          ready;

static struct leak_record *records;      /* RECORD_SLOTS_MAX reserved */
static size_t              record_slots; /* in use: 1 << record_bits */
static unsigned            record_bits;
static size_t              record_count;

static struct leak_stack *stacks;      /* STACK_MAX */
static uint32_t          *stack_slots; /* STACK_SLOTS: stack index + 1, 0 empty */
static uint32_t           stacks_used; /* indices below it have been handed out */
static uint32_t           stack_free;  /* free list head: index + 1, 0 empty */

static uint64_t mark_now;
static size_t   dropped;

/* Set while this thread is inside leak_record: should the unwinder
 * allocate, the nested leak_record returns at once.  Also set while
 * strata itself allocates through libc (leak_pause). */
static __thread bool recording tls_ie;

bool leak_pause(bool pause)
{
	bool was = recording;
	recording = pause;
	return was;
}

bool leak_thread_start(void *(*fn)(void *))
{
	bool paused = leak_pause(true);
	bool ok = os_thread_start(fn);
	leak_pause(paused);
	return ok;
}

void leak_thread_start_once(int *started, void *(*fn)(void *), const char *what)
{
	/* A load first: callers poll this from slow paths on every thread,
	 * and an exchange each time would bounce the flag's cache line. */
	if (__atomic_load_n(started, __ATOMIC_RELAXED)
	    || __atomic_exchange_n(started, 1, __ATOMIC_ACQ_REL))
		return;
	if (!leak_thread_start(fn))
		_strata_warn("cannot start %s", what);
}

/* ------------------------------------------------------------------------
 * Start-up
 * ---------------------------------------------------------------------- */
static size_t part_size(size_t bytes)
{
	return ALIGN_UP(bytes, PAGE_SIZE);
}

/* One mapping for the three tables, each part starting on a page. */
static bool tables_map(void)
{
	size_t slot_bytes = part_size(STACK_SLOTS * sizeof(*stack_slots));
	size_t stack_bytes = part_size(STACK_MAX * sizeof(*stacks));
	size_t record_bytes = part_size(RECORD_SLOTS_MAX * sizeof(*records));
	char  *m = os_map(slot_bytes + stack_bytes + record_bytes);
	if (m == NULL)
		return false;
	stack_slots = (uint32_t *)m;
	stacks = (struct leak_stack *)(m + slot_bytes);
	records = (struct leak_record *)(m + slot_bytes + stack_bytes);
	record_bits = RECORD_SLOTS_MIN_BITS;
	record_slots = (size_t)1 << record_bits;
	return true;
}

bool leak_init(void)
{
	lock_acquire(&table_lock);
	bool ok = ready || tables_map();
	if (ok)
		__atomic_store_n(&ready, true, __ATOMIC_RELEASE);
	lock_release(&table_lock);
	return ok;
}

static bool is_ready(void)
{
	return __atomic_load_n(&ready, __ATOMIC_ACQUIRE);
}

/* ------------------------------------------------------------------------
 * Call stacks: capture
 * ---------------------------------------------------------------------- */
struct unwind_state {
	void   **frames;
	unsigned n;
	unsigned skip;
};

/* Frames in [ignore_lo, ignore_hi) before the first one outside it are
 * dropped: strata's own code, whatever its inlining made of the depth. */
static uintptr_t ignore_lo, ignore_hi;

void leak_ignore_range(uintptr_t lo, uintptr_t hi)
{
	ignore_lo = lo;
	ignore_hi = hi;
}

static _Unwind_Reason_Code unwind_step(struct _Unwind_Context *ctx, void *arg)
{
	struct unwind_state *st = arg;
	uintptr_t            ip = _Unwind_GetIP(ctx);
	if (ip == 0)
		return _URC_END_OF_STACK;
	if (st->skip > 0) {
		st->skip--;
		return _URC_NO_REASON;
	}
	if (st->n == 0 && ip >= ignore_lo && ip < ignore_hi)
		return _URC_NO_REASON;
	st->frames[st->n++] = (void *)ip;
	/* Any answer but _URC_NO_REASON ends the walk. */
	return st->n == STRATA_LEAK_FRAMES ? _URC_END_OF_STACK : _URC_NO_REASON;
}

/* The unwinder may not run before libc has set itself up: in a static
 * program the first mallocs come from libc's own start-up
 * (_dl_non_dynamic_init), where _Unwind_Backtrace cannot find the
 * program's unwind tables yet and aborts.  Stacks are taken from the time
 * strata's constructor runs (init.c); blocks recorded before that keep an
 * empty stack. */
static bool unwind_ready;

void leak_stacks_ready(void)
{
	__atomic_store_n(&unwind_ready, true, __ATOMIC_RELEASE);
}

/* noinline, and work after the call so it is no tail call: the frame count
 * LEAK_OWN_FRAMES depends on this function having a frame of its own. */
static noinline unsigned capture_stack(void **frames, unsigned skip)
{
	if (!__atomic_load_n(&unwind_ready, __ATOMIC_ACQUIRE))
		return 0;
	struct unwind_state st = { frames, 0, skip + LEAK_OWN_FRAMES };
	_Unwind_Backtrace(unwind_step, &st);
	return st.n;
}

/* ------------------------------------------------------------------------
 * Call stacks: the table
 * ---------------------------------------------------------------------- */
/* Each step multiplies, so the high bits, which pick the home slot,
 * depend on every bit of every frame. */
static uint64_t stack_hash(void *const *frames, unsigned n)
{
	uint64_t h = n;
	for (unsigned i = 0; i < n; i++)
		h = (h ^ (uintptr_t)frames[i]) * HASH_MUL;
	return h;
}

static size_t stack_home(uint64_t hash)
{
	return (size_t)(hash >> (64 - STACK_SLOT_BITS));
}

static bool stack_equal(const struct leak_stack *s, uint64_t hash, void *const *frames, unsigned n)
{
	return s->hash == hash && s->nframes == n
	       && memcmp(s->frames, frames, n * sizeof(*frames)) == 0;
}

static uint32_t stack_new_index(void)
{
	if (stack_free != 0) {
		uint32_t id = stack_free - 1;
		stack_free = stacks[id].next_free;
		return id;
	}
	return stacks_used < STACK_MAX ? stacks_used++ : STACK_NONE;
}

/* The tables are probed, so a page's first access would be a read: the
 * kernel maps its shared zero page, and the write that follows replaces
 * it, which flushes the TLB of every CPU running one of the process's
 * threads: an interprocessor interrupt that waits for them all, under a
 * hypervisor for virtual CPUs that may not be running, while the lock is
 * held (bench/wl_shortthreads: records of 1 to 3 ms, its other threads
 * waiting on the lock).  So each probe's first access is a write, which
 * maps a page of its own at once: an atomic add of 0, which changes
 * nothing (as an instruction of its own: a compiler may turn an add of 0
 * into a load).  Elsewhere the first read may still map the zero page. */
static inline void table_touch(void *slot)
{
#if defined(__x86_64__) && !defined(STRATA_TSAN)
	__asm__ volatile("lock addl $0, %0" : "+m"(*(uint32_t *)slot));
#else
	(void)slot;
#endif
}

/* The index of this call stack, added if it is new; STACK_NONE if the
 * table is full.  The caller counts its reference. */
static uint32_t stack_intern(void *const *frames, unsigned n)
{
	uint64_t hash = stack_hash(frames, n);
	size_t   mask = STACK_SLOTS - 1;
	size_t   i = stack_home(hash);
	table_touch(&stack_slots[i]);
	for (; stack_slots[i] != 0; i = (i + 1) & mask) {
		uint32_t id = stack_slots[i] - 1;
		if (stack_equal(&stacks[id], hash, frames, n))
			return id;
	}
	uint32_t id = stack_new_index();
	if (id == STACK_NONE)
		return STACK_NONE;
	struct leak_stack *s = &stacks[id];
	s->hash = hash;
	s->nframes = n;
	s->refs = 0;
	memcpy(s->frames, frames, n * sizeof(*frames));
	stack_slots[i] = id + 1;
	return id;
}

/* Backward-shift deletion from the index (see the header comment). */
static void stack_unindex(uint32_t id)
{
	size_t mask = STACK_SLOTS - 1;
	size_t hole = stack_home(stacks[id].hash);
	while (stack_slots[hole] != id + 1)
		hole = (hole + 1) & mask;
	for (size_t j = (hole + 1) & mask; stack_slots[j] != 0; j = (j + 1) & mask) {
		size_t home = stack_home(stacks[stack_slots[j] - 1].hash);
		if (((j - home) & mask) >= ((j - hole) & mask)) {
			stack_slots[hole] = stack_slots[j];
			hole = j;
		}
	}
	stack_slots[hole] = 0;
}

static void stack_release(uint32_t id)
{
	struct leak_stack *s = &stacks[id];
	if (--s->refs > 0)
		return;
	stack_unindex(id);
	s->next_free = stack_free;
	stack_free = id + 1;
}

/* ------------------------------------------------------------------------
 * Records: the table
 * ---------------------------------------------------------------------- */
static size_t record_home(const void *p)
{
	return (size_t)(((uint64_t)(uintptr_t)p * HASH_MUL) >> (64 - record_bits));
}

/* The slot holding p, or the empty slot where it would go. */
static size_t record_find(const void *p)
{
	size_t mask = record_slots - 1;
	size_t i = record_home(p);
	while (records[i].ptr != NULL && records[i].ptr != p)
		i = (i + 1) & mask;
	return i;
}

/* Backward-shift deletion (see the header comment): a record at j may
 * fill the hole when its home is at or before the hole, i.e. it is at
 * least as far from its home as from the hole.  The record's stack
 * reference is the caller's to release or keep. */
static void record_delete(size_t hole)
{
	record_count--;
	size_t mask = record_slots - 1;
	for (size_t j = (hole + 1) & mask; records[j].ptr != NULL; j = (j + 1) & mask) {
		size_t home = record_home(records[j].ptr);
		if (((j - home) & mask) >= ((j - hole) & mask)) {
			records[hole] = records[j];
			hole = j;
		}
	}
	records[hole].ptr = NULL;
}

/* Double the slots in use: the records are copied out to a scratch
 * mapping and put back at their new homes.  Rare (log2 of the record
 * count times in a run), and amortised over the inserts that caused it. */
static strata_cold bool records_grow(void)
{
	if (record_slots >= RECORD_SLOTS_MAX)
		return false;
	size_t              old_slots = record_slots;
	size_t              old_bytes = old_slots * sizeof(*records);
	struct leak_record *old = os_map(old_bytes);
	if (old == NULL)
		return false;
	memcpy(old, records, old_bytes);
	memset(records, 0, old_bytes);
	record_bits++;
	record_slots = (size_t)1 << record_bits;
	for (size_t i = 0; i < old_slots; i++)
		if (old[i].ptr != NULL)
			records[record_find(old[i].ptr)] = old[i];
	os_unmap(old, old_bytes);
	return true;
}

static bool records_have_room(void)
{
	return 2 * (record_count + 1) <= record_slots || records_grow();
}

/* Under the lock: a record of p holding a reference to stack id, made
 * with the current mark (a record of p already there is replaced). */
static void record_put(void *p, size_t requested, size_t weight, uint32_t id)
{
	table_touch(&records[record_home(p)]);
	size_t i = record_find(p);
	if (records[i].ptr != NULL)
		stack_release(records[i].stack);
	else
		record_count++;
	records[i] = (struct leak_record){
		.ptr = p,
		.requested = requested,
		.weight = weight,
		.mark = __atomic_load_n(&mark_now, __ATOMIC_RELAXED),
		.stack = id,
	};
}

/* Under the lock: p's record with the stack of frames. */
static bool record_insert(void *p, size_t requested, size_t weight, void *const *frames,
                          unsigned nframes)
{
	if (!records_have_room())
		return false;
	uint32_t id = stack_intern(frames, nframes);
	if (id == STACK_NONE)
		return false;
	stacks[id].refs++;
	record_put(p, requested, weight, id);
	return true;
}

/* ------------------------------------------------------------------------
 * Record and forget
 * ---------------------------------------------------------------------- */
bool leak_record(void *p, size_t requested, size_t weight, unsigned skip)
{
	if (unlikely(recording) || p == NULL || !is_ready())
		return false;
	recording = true;
	void    *frames[STRATA_LEAK_FRAMES];
	unsigned n = capture_stack(frames, skip);
	lock_acquire(&table_lock);
	bool ok = record_insert(p, requested, weight, frames, n);
	if (!ok)
		__atomic_add_fetch(&dropped, 1, __ATOMIC_RELAXED);
	lock_release(&table_lock);
	recording = false;
	return ok;
}

bool leak_forget(void *p)
{
	if (p == NULL || !is_ready())
		return false;
	lock_acquire(&table_lock);
	size_t i = record_find(p);
	bool   found = records[i].ptr != NULL;
	if (found) {
		stack_release(records[i].stack);
		record_delete(i);
	}
	lock_release(&table_lock);
	return found;
}

size_t leak_move(void *old, void *p, size_t requested)
{
	if (p == NULL || !is_ready())
		return 0;
	size_t weight = 0;
	lock_acquire(&table_lock);
	size_t i = record_find(old);
	if (records[i].ptr != NULL) {
		struct leak_record r = records[i]; /* its stack reference goes with it */
		weight = (size_t)((double)r.weight * (double)requested
		                  / (double)MAX(r.requested, 1));
		weight = MAX(weight, 1);
		record_delete(i);
		record_put(p, requested, weight, r.stack);
	}
	lock_release(&table_lock);
	return weight;
}

uint64_t leak_mark(void)
{
	return __atomic_add_fetch(&mark_now, 1, __ATOMIC_RELAXED);
}

size_t leak_dropped(void)
{
	return __atomic_load_n(&dropped, __ATOMIC_RELAXED);
}

/* ------------------------------------------------------------------------
 * Sums per call stack
 * ---------------------------------------------------------------------- */
struct site_sum {
	struct strata_leak_site site;
	double                  objects; /* rounded into site.objects when done */
	uint32_t                stack;
};

struct leak_summary {
	struct site_sum *sums; /* nsites of them, biggest first */
	size_t           nsites;
	size_t           bytes;
	size_t           objects;
};

/* Indexed by stack index while summing, so room for every stack. */
#define SUMS_BYTES part_size(STACK_MAX * sizeof(struct site_sum))

/* The objects one record stands for: weight / requested, at least one.
 * Exact mode (weight == requested) counts one; a sample of a 100-byte
 * block at a 512 KiB interval stands for ~5243 such blocks. */
static double record_objects(const struct leak_record *r)
{
	if (r->requested == 0 || r->weight <= r->requested)
		return 1.0;
	return (double)r->weight / (double)r->requested;
}

static void sum_start(struct site_sum *sum, uint32_t id)
{
	const struct leak_stack *s = &stacks[id];
	sum->site.struct_size = sizeof(sum->site);
	sum->site.nframes = s->nframes;
	memcpy(sum->site.frames, s->frames, s->nframes * sizeof(s->frames[0]));
	sum->stack = id;
}

/* Under the lock: every live record made at or after mark `since`. */
static void sum_records(struct site_sum *sums, uint64_t since, const struct leak_filter *only)
{
	for (size_t i = 0; i < record_slots; i++) {
		const struct leak_record *r = &records[i];
		if (r->ptr == NULL || r->mark < since)
			continue;
		if (only != NULL && !only->keep(r->ptr, only->arg))
			continue;
		struct site_sum *sum = &sums[r->stack];
		if (sum->site.struct_size == 0)
			sum_start(sum, r->stack);
		sum->site.bytes += r->weight;
		sum->site.requested += r->requested;
		sum->objects += record_objects(r);
	}
}

/* Move the stacks that have records to the front, round their object
 * counts, and add up the totals. */
static void summary_compact(struct leak_summary *s, uint32_t nstacks)
{
	for (uint32_t id = 0; id < nstacks; id++) {
		struct site_sum *sum = &s->sums[id];
		if (sum->site.struct_size == 0)
			continue;
		sum->site.objects = (size_t)(sum->objects + 0.5);
		s->bytes += sum->site.bytes;
		s->objects += sum->site.objects;
		if (s->nsites != id)
			s->sums[s->nsites] = *sum;
		s->nsites++;
	}
}

/* ------------------------------------------------------------------------
 * Sorting, biggest first (heap sort: qsort may allocate)
 * ---------------------------------------------------------------------- */
static bool sum_before(const struct site_sum *a, const struct site_sum *b)
{
	if (a->site.bytes != b->site.bytes)
		return a->site.bytes > b->site.bytes;
	if (a->site.objects != b->site.objects)
		return a->site.objects > b->site.objects;
	return a->stack < b->stack;
}

static void sum_swap(struct site_sum *a, struct site_sum *b)
{
	struct site_sum t = *a;
	*a = *b;
	*b = t;
}

/* The heap keeps, at each node, the sum that goes last of its subtree. */
static void sift_down(struct site_sum *v, size_t root, size_t n)
{
	for (size_t child; (child = 2 * root + 1) < n; root = child) {
		if (child + 1 < n && sum_before(&v[child], &v[child + 1]))
			child++;
		if (!sum_before(&v[root], &v[child]))
			return;
		sum_swap(&v[root], &v[child]);
	}
}

static void sums_sort(struct site_sum *v, size_t n)
{
	for (size_t i = n / 2; i-- > 0;)
		sift_down(v, i, n);
	for (size_t end = n; end-- > 1;) {
		sum_swap(&v[0], &v[end]);
		sift_down(v, 0, end);
	}
}

/* The sites since mark `since`, sorted, in a scratch mapping that
 * summary_free gives back.  false if it cannot be mapped. */
static bool summary_collect(struct leak_summary *s, uint64_t since, const struct leak_filter *only)
{
	*s = (struct leak_summary){ 0 };
	if (!is_ready())
		return true;
	s->sums = os_map(SUMS_BYTES);
	if (s->sums == NULL)
		return false;
	lock_acquire(&table_lock);
	sum_records(s->sums, since, only);
	uint32_t nstacks = stacks_used;
	lock_release(&table_lock);
	summary_compact(s, nstacks);
	sums_sort(s->sums, s->nsites);
	return true;
}

static void summary_free(struct leak_summary *s)
{
	if (s->sums != NULL)
		os_unmap(s->sums, SUMS_BYTES);
}

size_t leak_sites(struct strata_leak_site *sites, size_t max, uint64_t since, size_t *total_bytes,
                  size_t *total_objects)
{
	return leak_sites_of(sites, max, since, NULL, total_bytes, total_objects);
}

size_t leak_sites_of(struct strata_leak_site *sites, size_t max, uint64_t since,
                     const struct leak_filter *only, size_t *total_bytes, size_t *total_objects)
{
	struct leak_summary s;
	(void)summary_collect(&s, since, only); /* on failure: no sites */
	for (size_t i = 0; i < MIN(max, s.nsites); i++)
		sites[i] = s.sums[i].site;
	if (total_bytes != NULL)
		*total_bytes = s.bytes;
	if (total_objects != NULL)
		*total_objects = s.objects;
	summary_free(&s);
	return s.nsites;
}

/* ------------------------------------------------------------------------
 * The report
 * ---------------------------------------------------------------------- */

/* The frames are return addresses; one byte back is inside the call
 * instruction, so the symbol and line are the call's (as LeakSanitizer
 * prints them), even when the call is the last instruction of a function. */
static uintptr_t call_site(const void *ret)
{
	return (uintptr_t)ret - 1;
}

static void report_frame(int fd, unsigned n, const void *ret)
{
	uintptr_t pc = call_site(ret);
	Dl_info   info;
	if (dladdr((void *)pc, &info) == 0 || info.dli_fname == NULL || info.dli_fname[0] == '\0') {
		_strata_print(fd, "    #%u 0x%zx (<unknown module>)\n", n, (size_t)pc);
		return;
	}
	size_t module_off = pc - (uintptr_t)info.dli_fbase;
	if (info.dli_sname != NULL && info.dli_saddr != NULL)
		_strata_print(fd, "    #%u 0x%zx in %s+0x%zx (%s+0x%zx)\n", n, (size_t)pc,
		              info.dli_sname, (size_t)(pc - (uintptr_t)info.dli_saddr),
		              info.dli_fname, module_off);
	else
		_strata_print(fd, "    #%u 0x%zx (%s+0x%zx)\n", n, (size_t)pc, info.dli_fname,
		              module_off);
}

void leak_print_stack(int fd)
{
	void    *frames[STRATA_LEAK_FRAMES];
	unsigned n = capture_stack(frames, 0);
	for (unsigned i = 0; i < n; i++)
		report_frame(fd, i, frames[i]);
}

static void report_site(int fd, const struct strata_leak_site *site, bool estimated)
{
	_strata_print(fd, "%zu bytes in %zu objects allocated from:%s\n", site->bytes,
	              site->objects, estimated ? " (estimated, sampled)" : "");
	for (unsigned i = 0; i < site->nframes; i++)
		report_frame(fd, i, site->frames[i]);
	if (site->nframes == 0)
		_strata_print(fd, "    (no stack: allocated while the C library was starting)\n");
	_strata_print(fd, "\n");
}

static void report_header(int fd, uint64_t since)
{
	int pid = (int)getpid();
	if (since == 0)
		_strata_print(fd, "==%d==strata: live allocations by call stack\n\n", pid);
	else
		_strata_print(
		        fd,
		        "==%d==strata: live allocations by call stack, made since mark %llu\n\n",
		        pid, (unsigned long long)since);
	size_t lost = leak_dropped();
	if (lost > 0)
		_strata_print(
		        fd, "==%d==strata: %zu allocations were not tracked (leak table full)\n\n",
		        pid, lost);
}

void leak_report(int fd, uint64_t since, size_t max_sites, bool estimated)
{
	struct leak_summary s;
	if (!summary_collect(&s, since, NULL)) {
		_strata_print(fd, "strata: leak report: cannot map %zu bytes of scratch\n",
		              (size_t)SUMS_BYTES);
		return;
	}
	report_header(fd, since);
	size_t shown = max_sites == 0 ? s.nsites : MIN(max_sites, s.nsites);
	size_t shown_bytes = 0;
	for (size_t i = 0; i < shown; i++) {
		report_site(fd, &s.sums[i].site, estimated);
		shown_bytes += s.sums[i].site.bytes;
	}
	if (shown < s.nsites)
		_strata_print(fd, "... and %zu more sites, %zu bytes\n\n", s.nsites - shown,
		              s.bytes - shown_bytes);
	_strata_print(fd, "SUMMARY: strata: %zu bytes leaked in %zu allocations.\n", s.bytes,
	              s.objects);
	summary_free(&s);
}

/* The sites of the records `only` keeps (the live objects of one cache),
 * at most max_sites of them, in the report's shape, with no header. */
void leak_report_of(int fd, const struct leak_filter *only, size_t max_sites)
{
	struct leak_summary s;
	if (!summary_collect(&s, 0, only))
		return;
	size_t shown = MIN(max_sites, s.nsites);
	for (size_t i = 0; i < shown; i++)
		report_site(fd, &s.sums[i].site, false);
	if (shown < s.nsites)
		_strata_print(fd, "... and %zu more sites\n", s.nsites - shown);
	summary_free(&s);
}

/* ------------------------------------------------------------------------
 * fork
 * ---------------------------------------------------------------------- */
void leak_lock(void)
{
	lock_acquire(&table_lock);
}

void leak_unlock(void)
{
	lock_release(&table_lock);
}

void leak_reinit_lock(void)
{
	lock_reinit(&table_lock);
}
