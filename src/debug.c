/* SPDX-License-Identifier: MIT */
/*
 * debug.c - the debug mode: canaries after blocks, freed memory filled.
 *
 * With STRATA_DEBUG=1 every block is DEBUG_TAIL bytes longer than asked
 * for, and laid out as
 *
 *     | requested bytes | canary bytes (>= 8) ... | size word |
 *
 * where the size word is the requested size xor'ed with the link secret, so
 * that an overflow which reaches it cannot forge a plausible size.  free
 * checks the canary (an overflow by a single byte is caught) and the size
 * word, then fills a small block with DEBUG_FREED_BYTE; when the block is
 * handed out again, the fill is checked (a write after free is caught).
 * malloc_usable_size reports the requested size, so a program that writes
 * up to it does not trip the canary.  Large runs are filled too, and
 * checked page by page when handed out again (a page given back to the
 * kernel meanwhile reads as zeros); huge blocks, unmapped when freed, get
 * the canary only.  Slabs are filled when made and when released, and keep
 * their first object as a guard never handed out, so that every block has
 * a neighbour below it whose tail shows an underflow.
 *
 * In the mode small blocks come from the arenas' shared heaps, so every
 * call takes a slow path,
 * where the hooks are (api.c); the fast paths carry nothing for it.
 */
#include "debug.h"

#include <string.h>

static uintptr_t size_word_key(const void *p)
{
	return _strata_link_key ^ (uintptr_t)p;
}

static uintptr_t *size_word(const void *p, size_t usable)
{
	return (uintptr_t *)((char *)p + usable - sizeof(uintptr_t));
}

/* The first byte of [p + from, p + to) that is not `byte`, or to. */
static size_t first_other(const void *p, size_t from, size_t to, unsigned char byte)
{
	const unsigned char *c = p;
	for (size_t i = from; i < to; i++)
		if (c[i] != byte)
			return i;
	return to;
}

size_t debug_freed_damage(const void *p, size_t usable)
{
	return first_other(p, 2 * sizeof(void *), usable, DEBUG_FREED_BYTE);
}

void debug_fill(void *p, size_t bytes)
{
	memset(p, DEBUG_FREED_BYTE, bytes);
}

/* The size word holds the kind in its top bits: sizes stay below
 * PTRDIFF_MAX. */
#define KIND_SHIFT 62

void debug_block_open(void *p, size_t usable, size_t size, bool filled, unsigned kind)
{
	if (filled) {
		size_t off = debug_freed_damage(p, usable);
		if (off < usable)
			_strata_fatal("write after free to %p (byte %zu of %zu changed since it "
			              "was freed)",
			              p, off, usable);
	}
	memset((char *)p + size, DEBUG_CANARY_BYTE, usable - sizeof(uintptr_t) - size);
	*size_word(p, usable) = (size | (size_t)kind << KIND_SHIFT) ^ size_word_key(p);
}

static size_t size_word_read(const void *p, size_t usable)
{
	return *size_word(p, usable) ^ size_word_key(p);
}

unsigned debug_block_kind(const void *p, size_t usable)
{
	debug_block_size(p, usable);
	return (unsigned)(size_word_read(p, usable) >> KIND_SHIFT);
}

size_t debug_block_size(const void *p, size_t usable)
{
	size_t size = size_word_read(p, usable) & (((size_t)1 << KIND_SHIFT) - 1);
	if (size > usable - DEBUG_TAIL)
		_strata_fatal(
		        "heap overflow past %p, or underflow of the block after it (its size word"
		        " at byte %zu was overwritten)",
		        p, usable - sizeof(uintptr_t));
	return size;
}

void debug_block_close(void *p, size_t usable, bool fill)
{
	size_t size = debug_block_size(p, usable);
	size_t end = usable - sizeof(uintptr_t);
	size_t off = first_other(p, size, end, DEBUG_CANARY_BYTE);
	if (off < end)
		_strata_fatal(
		        "heap overflow past %p (%zu bytes; byte %zu, the canary, was written)", p,
		        size, off);
	if (fill)
		debug_fill(p, usable);
}

/* below is the object right under p in its slab: wholly filled from byte
 * 16 on (free, or handed out and not yet opened) or live with its size word
 * and canary intact; anything else was written by an underflow of p or an
 * overflow of below. */
void debug_check_below(const void *p, const void *below, size_t usable)
{
	if (debug_freed_damage(below, usable) == usable)
		return;
	size_t size = size_word_read(below, usable) & (((size_t)1 << KIND_SHIFT) - 1);
	size_t end = usable - sizeof(uintptr_t);
	if (size > usable - DEBUG_TAIL || first_other(below, size, end, DEBUG_CANARY_BYTE) < end)
		_strata_fatal("heap underflow before %p (or overflow past %p): the tail of %p was "
		              "written",
		              p, below, below);
}

/* A large run about to be handed out: each of its pages was filled when
 * freed, or is zero (never used, or given back to the kernel).  Anything
 * else was written after it was freed. */
void debug_check_reused(const void *p, size_t usable)
{
	const unsigned char *c = p;
	for (size_t page = 0; page < usable; page += PAGE_SIZE) {
		unsigned char byte = c[page] == 0 ? 0 : DEBUG_FREED_BYTE;
		size_t        off = first_other(p, page, page + PAGE_SIZE, byte);
		if (off < page + PAGE_SIZE)
			_strata_fatal(
			        "write after free at %p (freed memory, now handed out again as %p)",
			        (const void *)(c + off), p);
	}
}
