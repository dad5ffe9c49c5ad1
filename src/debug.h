/* SPDX-License-Identifier: MIT */
/*
 * debug.h - the debug mode (STRATA_DEBUG=1): canaries and freed-memory fill.
 */
#ifndef STRATA_DEBUG_H
#define STRATA_DEBUG_H

#include "internal.h"
#include "options.h"

/* Each block carries DEBUG_TAIL more bytes than asked for: at least 8
 * canary bytes right after the last requested byte, and the requested size
 * (mangled) in the block's last word. */
#define DEBUG_TAIL        16
#define DEBUG_CANARY_BYTE 0xcb
#define DEBUG_FREED_BYTE  0xdf

/* Where a block came from, kept with it in the debug mode so that a
 * delete of another kind is stopped (C++'s operator new and new[] are
 * strata's, api.c). */
enum debug_kind { DEBUG_KIND_MALLOC = 0, DEBUG_KIND_NEW = 1, DEBUG_KIND_NEW_ARRAY = 2 };

/* Read once at start like every option; the debug mode turns the thread
 * caches off, so the fast paths never see a debug block. */
static inline bool debug_mode(void)
{
	return strata_option(OPT_DEBUG) != 0;
}

/* A block of `usable` bytes is handed out for `size` bytes: check, when
 * `filled`, that nothing wrote to it since it was freed (bytes from 16 on;
 * the first 16 held the free-list link), then lay out the canary. */
void debug_block_open(void *p, size_t usable, size_t size, bool filled, unsigned kind);

/* The kind the block was allocated as (enum debug_kind). */
unsigned debug_block_kind(const void *p, size_t usable);

/* The block is being freed: check its canary and size word, then, with
 * fill, fill it with DEBUG_FREED_BYTE so later writes are seen. */
void debug_block_close(void *p, size_t usable, bool fill);

/* Free of p: the block below it in its slab must be intact. */
void debug_check_below(const void *p, const void *below, size_t usable);

/* The size the block was asked for (checked against usable). */
size_t debug_block_size(const void *p, size_t usable);

/* The first byte of the free object p (of `usable` bytes) that differs from
 * the fill, as an offset, or usable if none: for strata_check_heap. */
size_t debug_freed_damage(const void *p, size_t usable);

/* A large run being handed out again: abort if freed memory was written. */
void debug_check_reused(const void *p, size_t usable);

/* A new slab's memory, filled so that objects never handed out look freed. */
void debug_fill(void *p, size_t bytes);

/* Guarded blocks (guard.c): a block at the end of its own pages, a guard
 * page after it, closed and quarantined when freed.  guard_alloc returns
 * NULL when it does not take the block (no room, alignment above a page,
 * too big): the caller gives it the canary layout. */
void *guard_alloc(size_t size, size_t align, unsigned kind);
/* owner is the pagemap's (a guard area); both abort on a pointer that is
 * not a live guarded block's start. */
size_t   guard_block_size(void *owner, const void *p, const char *op);
unsigned guard_block_kind(void *owner, const void *p);
void     guard_free(void *owner, void *p);
/* Blocks of size 0, in every mode: a distinct address aligned to align
 * (at most a page; else NULL) in an area without access; NULL when the
 * area is full.  zero_check and zero_free abort on a pointer that is not
 * a live one (a double free). */
void *zero_alloc(size_t align);
void  zero_check(const void *p, const char *op);
void  zero_free(void *p);

/* What a layer above knows of a faulting address (large.c: huge blocks):
 * the block it strayed from, its size, whether it was freed, and whether
 * the address is the guard page right after it. */
struct fault_block {
	uintptr_t ptr;
	size_t    size;
	bool      freed;
	bool      guard;
};
typedef bool (*fault_lookup_fn)(uintptr_t x, struct fault_block *b);
void guard_set_fault_lookup(fault_lookup_fn fn);

/* The fault handler that names a guard page's or a freed block's access;
 * altstack: an alternate signal stack for the calling thread too. */
void guard_start(bool altstack);
void guard_lock_all(void);
void guard_unlock_all(void);
void guard_reinit_lock(void);

#endif
