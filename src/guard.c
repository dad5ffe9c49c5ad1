/* SPDX-License-Identifier: MIT */
/*
 * guard.c - the blocks of malloc(0), the debug mode's guarded blocks and
 * their quarantine, and the fault handler that names what a stray access
 * hit.
 *
 * In every mode a block of size 0 is a distinct 16-byte address in an
 * area reserved without access (see "Blocks of size 0"), and the fault
 * handler (option fault_handler) names an access to it, to a huge block's
 * guard page or to a freed huge block kept for reuse (large.c, through the
 * lookup init sets).  The rest is the debug mode's:
 *
 * With STRATA_DEBUG=1 a block is served, while there is room (the guard
 * option), from an area of address space of its own order: a slot of
 * order k is a data area of 1 << k pages followed by one guard page,
 *
 *     | guard | data area of slot 0 | guard | data area of slot 1 | guard | ...
 *                    ...| block |          ...| block |
 *
 * and the block sits at the end of its data area, so that its last byte
 * touches the guard: a read or write past the end faults at once.  Only
 * the block's own pages are opened; the rest of the data area stays
 * without access, so an underflow beyond the block's first page faults
 * too.  The bytes between the block and its page edges (alignment slack)
 * hold canary bytes, checked at free.  A malloc(0) block is the address of
 * the guard itself: a distinct pointer, and any access through it faults.
 *
 * A freed block is closed (no access) and its pages given back at once,
 * then kept in a FIFO quarantine of at most `quarantine` bytes of address
 * space before its slot can be used again: a read or write after free
 * faults, and the next malloc of the same size gets another block.  The
 * quarantine costs address space and mappings, no memory.
 *
 * The state of each slot (live, quarantined, free; the block's address,
 * size and kind) is in a table beside the area, not in the slot, so a
 * stray write cannot forge it and the fault handler can read it.  The
 * areas are reserved at their first block and registered in the pagemap
 * (SEG_GUARD), so free finds a guarded block with the lookup it does for
 * any pointer.  Every block a guard slot does not take (no room, an
 * alignment above a page, more than GUARD_MAX bytes) gets the canary
 * layout of debug.c.
 */
#include "debug.h"
#include "os.h"
#include "pagemap.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>
#include <unistd.h>

/* ------------------------------------------------------------------------
 * Areas and slots
 * ---------------------------------------------------------------------- */

/* Orders 0 (one page: every block up to a page) to 18 (1 GiB); a bigger
 * block gets the canary layout in a mapping of its own. */
#define GUARD_ORDERS 19
#define GUARD_MAX    ((size_t)PAGE_SIZE << (GUARD_ORDERS - 1))
/* Address space of one order's area: 16 GiB, room for two million slots
 * of order 0 and fifteen of 1 GiB; reserved, never committed. */
#define GUARD_AREA ((size_t)1 << 34)
/* A slot reference in a list: order in the top bits, slot number below. */
#define REF_SHIFT 27
#define REF_NONE  UINT32_MAX

enum slot_state { SLOT_FREE, SLOT_LIVE, SLOT_QUARANTINED };

struct guard_slot {
	uintptr_t ptr;  /* the block */
	size_t    size; /* asked for */
	uint32_t  next; /* the free list of its area, or the quarantine */
	uint8_t   state;
	uint8_t   kind; /* enum debug_kind */
};

struct guard_area {
	uint32_t           kind; /* SEG_GUARD: the pagemap's owner */
	unsigned           order;
	char              *base;
	size_t             data;   /* bytes of a slot's data area */
	size_t             stride; /* data area and guard */
	struct guard_slot *slots;
	uint32_t           nslots, used, free_head;
};

static struct guard_area areas[GUARD_ORDERS];
static strata_lock_t     guard_lock = STRATA_LOCK_INIT;
static size_t            live_small, live_big; /* blocks under a page, the others */
static uint32_t          quarantine_head = REF_NONE, quarantine_tail = REF_NONE;
static size_t            quarantine_bytes;

static unsigned guard_order(size_t size)
{
	size_t pages = size <= PAGE_SIZE ? 1 : ALIGN_UP(size, PAGE_SIZE) >> PAGE_SHIFT;
	return pages == 1 ? 0 : 64 - (unsigned)__builtin_clzl(pages - 1);
}

static char *slot_data(const struct guard_area *a, uint32_t i)
{
	return a->base + PAGE_SIZE + (size_t)i * a->stride;
}

static struct guard_slot *slot_of_ref(uint32_t ref)
{
	return &areas[ref >> REF_SHIFT].slots[ref & ((1u << REF_SHIFT) - 1)];
}

/* The area of order k, reserved and registered at its first use. */
static struct guard_area *area_get(unsigned order)
{
	struct guard_area *a = &areas[order];
	if (a->base)
		return a;
	size_t data = PAGE_SIZE << order, stride = data + PAGE_SIZE;
	size_t nslots = MIN((GUARD_AREA - PAGE_SIZE) / stride, (size_t)1 << REF_SHIFT);
	size_t table = ALIGN_UP(nslots * sizeof(struct guard_slot), PAGE_SIZE);
	void  *slots = os_map(table);
	char  *base = slots ? os_reserve(GUARD_AREA, REGION_SIZE) : NULL;
	if (base == NULL) {
		if (slots)
			os_unmap(slots, table);
		return NULL;
	}
	*a = (struct guard_area){ .kind = SEG_GUARD,
		                  .order = order,
		                  .base = base,
		                  .data = data,
		                  .stride = stride,
		                  .slots = slots,
		                  .nslots = (uint32_t)nslots,
		                  .free_head = REF_NONE };
	pagemap_set(base, GUARD_AREA, a);
	return a;
}

static uint32_t slot_take(struct guard_area *a)
{
	if (a->free_head != REF_NONE) {
		uint32_t i = a->free_head & ((1u << REF_SHIFT) - 1);
		a->free_head = a->slots[i].next;
		return i;
	}
	return a->used < a->nslots ? a->used++ : REF_NONE;
}

/* The pages of the slot's data area that hold the block: the last ones. */
static char *block_pages(const struct guard_slot *s)
{
	return (char *)(s->ptr & ~(uintptr_t)(PAGE_SIZE - 1));
}

static size_t block_pages_size(const struct guard_slot *s)
{
	return s->size ? ALIGN_UP(s->ptr + s->size, PAGE_SIZE) - (uintptr_t)block_pages(s) : 0;
}

/* ------------------------------------------------------------------------
 * Allocation
 * ---------------------------------------------------------------------- */

/* Room for one more guarded block of this size: the guard option caps
 * the live ones (each costs two mappings), half of it for small ones. */
static bool guard_room(size_t size)
{
	size_t cap = (size_t)strata_option(OPT_GUARD);
	if (size < PAGE_SIZE)
		return live_small < cap / 2 && live_small + live_big < cap;
	return live_small + live_big < cap;
}

static void *slot_open(struct guard_area *a, uint32_t i, size_t size, size_t align, unsigned kind)
{
	char              *end = slot_data(a, i) + a->data;
	struct guard_slot *s = &a->slots[i];
	*s = (struct guard_slot){ .ptr = (uintptr_t)end - ALIGN_UP(size, MAX(align, MIN_ALIGN)),
		                  .size = size,
		                  .state = SLOT_LIVE,
		                  .kind = (uint8_t)kind };
	char  *first = block_pages(s);
	size_t bytes = block_pages_size(s);
	if (!os_protect(first, bytes, true))
		return NULL;
	/* Fresh pages read as zeros (every closed block was given back). */
	memset(first, DEBUG_CANARY_BYTE, s->ptr - (uintptr_t)first);
	memset((char *)s->ptr + size, DEBUG_CANARY_BYTE, (size_t)(end - (char *)s->ptr) - size);
	if (size < PAGE_SIZE)
		live_small++;
	else
		live_big++;
	return (void *)s->ptr;
}

void *guard_alloc(size_t size, size_t align, unsigned kind)
{
	if (size > GUARD_MAX || align > PAGE_SIZE || strata_option(OPT_GUARD) == 0)
		return NULL;
	unsigned order = guard_order(size);
	void    *p = NULL;
	lock_acquire(&guard_lock);
	struct guard_area *a = guard_room(size) ? area_get(order) : NULL;
	uint32_t           i = a ? slot_take(a) : REF_NONE;
	if (i != REF_NONE) {
		p = slot_open(a, i, size, align, kind);
		if (p == NULL) { /* out of mappings: the canary layout instead */
			a->slots[i] = (struct guard_slot){ .next = a->free_head };
			a->free_head = i;
		}
	}
	lock_release(&guard_lock);
	return p;
}

/* ------------------------------------------------------------------------
 * Lookup and free
 * ---------------------------------------------------------------------- */

/* The slot whose data area or following guard holds address x, or NULL
 * (the area's first guard page, or beyond its last slot). */
static struct guard_slot *slot_at(const struct guard_area *a, uintptr_t x, uint32_t *index)
{
	uintptr_t first = (uintptr_t)a->base + PAGE_SIZE;
	if (x < first)
		return NULL;
	uintptr_t i = (x - first) / a->stride;
	if (i >= a->used)
		return NULL;
	if (index)
		*index = (uint32_t)i;
	return &a->slots[i];
}

static strata_cold void guard_invalid(const void *p, const char *op, const char *why)
{
	_strata_fatal("invalid pointer %p passed to %s (%s)", p, op, why);
}

/* The live block p of area owner, or abort: freed (double free), or not a
 * block's start. */
static struct guard_slot *slot_live(void *owner, const void *p, const char *op)
{
	struct guard_slot *s = slot_at(owner, (uintptr_t)p, NULL);
	if (s == NULL || s->ptr != (uintptr_t)p || s->state == SLOT_FREE)
		guard_invalid(p, op, "not the start of a block");
	if (s->state == SLOT_QUARANTINED) {
		if (op[0] == 'f')
			_strata_fatal("double free of %p", p);
		_strata_fatal("%p passed to %s was already freed", p, op);
	}
	return s;
}

size_t guard_block_size(void *owner, const void *p, const char *op)
{
	return slot_live(owner, p, op)->size;
}

unsigned guard_block_kind(void *owner, const void *p)
{
	return slot_live(owner, p, "operator delete")->kind;
}

/* The canary bytes between the block and its page edges. */
static void slot_check(const struct guard_slot *s, const struct guard_area *a, uint32_t i)
{
	const unsigned char *c = (const unsigned char *)s->ptr;
	const unsigned char *end = (const unsigned char *)slot_data(a, i) + a->data;
	for (const unsigned char *q = c + s->size; q < end; q++)
		if (*q != DEBUG_CANARY_BYTE)
			_strata_fatal("heap overflow past %p (%zu bytes; byte %zu, the canary, was "
			              "written)",
			              (void *)c, s->size, (size_t)(q - c));
	for (const unsigned char *q = (const unsigned char *)block_pages(s); q < c; q++)
		if (*q != DEBUG_CANARY_BYTE)
			_strata_fatal("heap underflow before %p (byte %zu before it was written)",
			              (void *)c, (size_t)(c - q));
}

static void quarantine_push(uint32_t ref)
{
	slot_of_ref(ref)->next = REF_NONE;
	if (quarantine_tail == REF_NONE)
		quarantine_head = ref;
	else
		slot_of_ref(quarantine_tail)->next = ref;
	quarantine_tail = ref;
	quarantine_bytes += areas[ref >> REF_SHIFT].stride;
}

/* The oldest quarantined blocks leave: their slots may be used again. */
static void quarantine_trim(size_t cap)
{
	while (quarantine_bytes > cap && quarantine_head != REF_NONE) {
		uint32_t           ref = quarantine_head;
		struct guard_slot *s = slot_of_ref(ref);
		struct guard_area *a = &areas[ref >> REF_SHIFT];
		quarantine_head = s->next;
		if (quarantine_head == REF_NONE)
			quarantine_tail = REF_NONE;
		quarantine_bytes -= a->stride;
		s->state = SLOT_FREE;
		s->next = a->free_head;
		a->free_head = ref & ((1u << REF_SHIFT) - 1);
	}
}

void guard_free(void *owner, void *p)
{
	struct guard_area *a = owner;
	lock_acquire(&guard_lock);
	struct guard_slot *s = slot_live(owner, p, "free");
	uint32_t           i = (uint32_t)(s - a->slots);
	slot_check(s, a, i);
	char  *first = block_pages(s);
	size_t bytes = block_pages_size(s);
	if (!os_protect(first, bytes, false))
		_strata_fatal("guarded block %p could not be closed (out of mappings)", p);
	os_decommit(first, bytes);
	if (s->size < PAGE_SIZE)
		live_small--;
	else
		live_big--;
	s->state = SLOT_QUARANTINED;
	quarantine_push(a->order << REF_SHIFT | i);
	quarantine_trim((size_t)strata_option(OPT_QUARANTINE));
	lock_release(&guard_lock);
}

/* ------------------------------------------------------------------------
 * Blocks of size 0 (every mode)
 *
 * malloc(0) returns a distinct pointer that no byte may be read or written
 * through: one 16-byte step of an area reserved without access, so any
 * access faults.  Which steps are live is a bitmap beside the area, out of
 * the program's reach; the search for a free one goes on from where the
 * last one was found (next fit), so a freed address is not handed out again
 * before the others, and a second free of it finds its bit clear.  The
 * area is one pagemap slot (SEG_ZERO): free finds it with the lookup it
 * does for any pointer.  When the area is full (two million blocks of size
 * 0 live) or cannot be reserved, size 0 gets an ordinary smallest block.
 * ---------------------------------------------------------------------- */
#define ZERO_AREA   REGION_SIZE
#define ZERO_BLOCKS (ZERO_AREA / MIN_ALIGN)
#define ZERO_WORDS  (ZERO_BLOCKS / 64)

struct zero_area {
	uint32_t  kind; /* SEG_ZERO: the pagemap's owner */
	char     *base;
	uint64_t *live; /* one bit a block */
	size_t    next; /* the block the next search starts at */
	size_t    nlive;
	bool      failed; /* could not be reserved: never again */
};

static struct zero_area zero = { .kind = SEG_ZERO };
static strata_lock_t    zero_lock = STRATA_LOCK_INIT;

static bool zero_reserve(void)
{
	if (zero.base || zero.failed)
		return zero.base != NULL;
	uint64_t *live = os_map(ZERO_WORDS * sizeof(uint64_t));
	char     *base = live ? os_reserve(ZERO_AREA, REGION_SIZE) : NULL;
	if (base == NULL) {
		if (live)
			os_unmap(live, ZERO_WORDS * sizeof(uint64_t));
		zero.failed = true;
		return false;
	}
	zero.live = live;
	zero.base = base;
	pagemap_set(base, ZERO_AREA, &zero);
	return true;
}

/* A clear bit at a multiple of step (a power of two) blocks, from block
 * zero.next on, wrapping: its block number, or ZERO_BLOCKS.  The first
 * word is searched from zero.next's bit, and again whole at the end. */
static size_t zero_find(size_t step)
{
	size_t   wstep = step < 64 ? 1 : step / 64;
	uint64_t bits = step < 64 ? ~(uint64_t)0 / ((~(uint64_t)0) >> (64 - step)) : 1;
	size_t   w = ALIGN_UP(zero.next / 64, wstep) % ZERO_WORDS;
	uint64_t from = w == zero.next / 64 ? ~(uint64_t)0 << (zero.next % 64) : ~(uint64_t)0;
	for (size_t n = 0; n <= ZERO_WORDS; n += wstep, w = (w + wstep) % ZERO_WORDS) {
		uint64_t open = ~zero.live[w] & bits & from;
		from = ~(uint64_t)0;
		if (open) {
			size_t i = w * 64 + (size_t)__builtin_ctzll(open);
			zero.next = (i + 1) % ZERO_BLOCKS;
			return i;
		}
	}
	return ZERO_BLOCKS;
}

void *zero_alloc(size_t align)
{
	if (align > PAGE_SIZE)
		return NULL;
	void *p = NULL;
	lock_acquire(&zero_lock);
	if (zero.nlive < ZERO_BLOCKS && zero_reserve()) {
		size_t i = zero_find(MAX(align, (size_t)MIN_ALIGN) / MIN_ALIGN);
		if (i < ZERO_BLOCKS) {
			zero.live[i / 64] |= (uint64_t)1 << (i % 64);
			zero.nlive++;
			p = zero.base + i * MIN_ALIGN;
		}
	}
	lock_release(&zero_lock);
	return p;
}

/* The bit of block p, or abort: not a block's start, or not live. */
static size_t zero_live_bit(const void *p, const char *op)
{
	uintptr_t off = (uintptr_t)p - (uintptr_t)zero.base;
	if (off % MIN_ALIGN != 0)
		guard_invalid(p, op, "not the start of a block");
	size_t i = off / MIN_ALIGN;
	if (!(__atomic_load_n(&zero.live[i / 64], __ATOMIC_RELAXED) & ((uint64_t)1 << (i % 64)))) {
		if (op[0] == 'f')
			_strata_fatal("double free of %p (a block of 0 bytes)", p);
		_strata_fatal("%p passed to %s was already freed (a block of 0 bytes)", p, op);
	}
	return i;
}

void zero_check(const void *p, const char *op)
{
	zero_live_bit(p, op);
}

void zero_free(void *p)
{
	lock_acquire(&zero_lock);
	size_t i = zero_live_bit(p, "free");
	zero.live[i / 64] &= ~((uint64_t)1 << (i % 64));
	zero.nlive--;
	lock_release(&zero_lock);
}

static bool zero_holds(uintptr_t x)
{
	return zero.base && x - (uintptr_t)zero.base < ZERO_AREA;
}

/* ------------------------------------------------------------------------
 * The fault handler
 *
 * A SIGSEGV or SIGBUS at an address of a guard area, of the area of
 * malloc(0)'s blocks, or that the lookup set by init (large.c: a huge
 * block's guard page or the slot past its end, a freed huge block kept
 * without access) knows, is a bug of the program's that strata can name:
 * one line, then abort.  Any other fault goes to the handler the program
 * had before (or the default action, by returning to the faulting
 * instruction with it restored).  Only async-signal-safe calls: the line
 * is formatted by hand and written with write(2); the slot table and the
 * bitmap of the zero blocks are read without the lock (the faulting thread
 * may hold it; it is not changed under a live block).
 * ---------------------------------------------------------------------- */
struct line {
	char   buf[256];
	size_t len;
};

static void put_str(struct line *l, const char *s)
{
	while (*s && l->len < sizeof(l->buf) - 1)
		l->buf[l->len++] = *s++;
}

static void put_num(struct line *l, uintptr_t v, unsigned base)
{
	char     digits[24];
	unsigned n = 0;
	if (base == 16)
		put_str(l, "0x");
	do {
		digits[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	while (n && l->len < sizeof(l->buf) - 1)
		l->buf[l->len++] = digits[--n];
}

static struct sigaction old_segv, old_bus;

/* The slot whose block the access at x most likely strayed from: the one
 * whose data area or following guard holds x, except in a guard's upper
 * half (or the area's first page), which is the next block's underflow
 * when that block is live. */
static const struct guard_slot *slot_near(const struct guard_area *a, uintptr_t x)
{
	uintptr_t first = (uintptr_t)a->base + PAGE_SIZE;
	if (x < first)
		return a->used ? &a->slots[0] : NULL;
	uint32_t                 i;
	const struct guard_slot *s = slot_at(a, x, &i);
	uintptr_t                end = s ? (uintptr_t)slot_data(a, i) + a->data : 0;
	if (s && x >= end + PAGE_SIZE / 2 && i + 1 < a->used && a->slots[i + 1].state == SLOT_LIVE)
		return &a->slots[i + 1];
	return s;
}

static const struct guard_area *area_of(uintptr_t x)
{
	for (unsigned k = 0; k < GUARD_ORDERS; k++) {
		const struct guard_area *a = &areas[k];
		if (a->base && x - (uintptr_t)a->base < GUARD_AREA)
			return a;
	}
	return NULL;
}

static fault_lookup_fn fault_lookup;

void guard_set_fault_lookup(fault_lookup_fn fn)
{
	fault_lookup = fn;
}

/* An access through a block of 0 bytes (malloc(0)'s), live or freed. */
static void describe_empty(struct line *l, uintptr_t x, const char *access, bool live)
{
	put_str(l, access);
	put_str(l, live ? " through malloc(0)'s pointer at " : " after free at ");
	put_num(l, x, 16);
	put_str(l, live ? " (a block of 0 bytes)" : " (a block of 0 bytes, freed)");
}

/* An access to malloc(0)'s area: through a live block's pointer, or a
 * freed one's. */
static void describe_zero(struct line *l, uintptr_t x, const char *access)
{
	size_t i = (x - (uintptr_t)zero.base) / MIN_ALIGN;
	bool   live = __atomic_load_n(&zero.live[i / 64], __ATOMIC_RELAXED)
	            & ((uint64_t)1 << (i % 64));
	describe_empty(l, x, access, live);
}

/* What the lookup found at x: a block's guard page or what lies past its
 * end, or a freed block. */
static void describe_block(struct line *l, const struct fault_block *b, uintptr_t x,
                           const char *access)
{
	if (b->freed) {
		put_str(l, access);
		put_str(l, " after free at ");
		put_num(l, x, 16);
		put_str(l, " (the block ");
		put_num(l, b->ptr, 16);
		put_str(l, " of ");
		put_num(l, b->size, 10);
		put_str(l, " bytes, freed)");
		return;
	}
	bool past = x >= b->ptr + b->size;
	put_str(l, past ? "heap overflow: " : "heap underflow: ");
	put_str(l, access);
	put_str(l, past ? " past the end at " : " before the start at ");
	put_num(l, x, 16);
	put_str(l, " = ");
	put_num(l, b->ptr, 16);
	put_str(l, past ? " + " : " - ");
	put_num(l, past ? x - b->ptr : b->ptr - x, 10);
	put_str(l, " (a block of ");
	put_num(l, b->size, 10);
	put_str(l, b->guard ? " bytes; a guard page)" : " bytes)");
}

/* An access in a guard area: the slot it falls in (or the live one whose
 * guard page it is), described as any block is. */
static void describe_slot(struct line *l, const struct guard_area *a, uintptr_t x,
                          const char *access)
{
	const struct guard_slot *s = slot_near(a, x);
	if (s == NULL || s->state == SLOT_FREE) {
		put_str(l, access);
		put_str(l, " after free at ");
		put_num(l, x, 16);
		put_str(l, " (a guarded block freed before the ones in quarantine)");
		return;
	}
	bool freed = s->state == SLOT_QUARANTINED;
	if (!freed && s->size == 0) {
		describe_empty(l, x, access, true);
		return;
	}
	struct fault_block b = { .ptr = s->ptr, .size = s->size, .freed = freed, .guard = true };
	describe_block(l, &b, x, access);
}

/* Not strata's: the program's handler, or the default action. */
static void fault_pass_on(int sig, siginfo_t *info, void *context)
{
	const struct sigaction *old = sig == SIGBUS ? &old_bus : &old_segv;
	if (old->sa_flags & SA_SIGINFO) {
		old->sa_sigaction(sig, info, context);
		return;
	}
	if (old->sa_handler != SIG_DFL && old->sa_handler != SIG_IGN) {
		old->sa_handler(sig);
		return;
	}
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	sigaction(sig, &dfl, NULL); /* the access runs again and kills */
}

static void guard_fault(int sig, siginfo_t *info, void *context)
{
	uintptr_t                x = (uintptr_t)info->si_addr;
	const struct guard_area *a = area_of(x);
	struct fault_block       b;
	bool                     zero_area = zero_holds(x);
	bool                     known = !a && !zero_area && fault_lookup && fault_lookup(x, &b);
	if (!a && !zero_area && !known) {
		fault_pass_on(sig, info, context);
		return;
	}
	const char *access = "read";
#if defined(__x86_64__)
	/* The page fault's error code: bit 1 is set for a write. */
	if (((ucontext_t *)context)->uc_mcontext.gregs[REG_ERR] & 2)
		access = "write";
#endif
	struct line l = { .len = 0 };
	put_str(&l, "strata: ");
	if (zero_area) {
		describe_zero(&l, x, access);
	} else if (known) {
		describe_block(&l, &b, x, access);
	} else {
		describe_slot(&l, a, x, access);
	}
	l.buf[l.len++] = '\n';
	_strata_write_all(STDERR_FILENO, l.buf, l.len);
	abort();
}

/* The alternate stack of the thread that starts strata (usually the main
 * thread), so that a stack overflow still reaches the handler there and
 * its default action; other threads overflow as they would without it.
 * Only the debug mode sets it: outside it strata leaves the program's
 * stacks as they are (an overflow then kills as it would without strata). */
static char guard_altstack[64 << 10];

void guard_start(bool altstack)
{
	stack_t old;
	if (altstack && sigaltstack(NULL, &old) == 0 && (old.ss_flags & SS_DISABLE)) {
		stack_t ss = { .ss_sp = guard_altstack, .ss_size = sizeof(guard_altstack) };
		sigaltstack(&ss, NULL);
	}
	struct sigaction sa = { .sa_sigaction = guard_fault, .sa_flags = SA_SIGINFO | SA_ONSTACK };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGSEGV, &sa, &old_segv);
	sigaction(SIGBUS, &sa, &old_bus);
}

/* ------------------------------------------------------------------------
 * fork
 * ---------------------------------------------------------------------- */
void guard_lock_all(void)
{
	lock_acquire(&guard_lock);
	lock_acquire(&zero_lock);
}

void guard_unlock_all(void)
{
	lock_release(&zero_lock);
	lock_release(&guard_lock);
}

void guard_reinit_lock(void)
{
	lock_reinit(&guard_lock);
	lock_reinit(&zero_lock);
}
