/*
 * large.c - large runs from the buddy, huge blocks straight from the OS.
 *
 * A large run is npages whole pages: its head descriptor is PAGE_LARGE with
 * the length, every other page PAGE_NONE, so a pointer into the middle of a
 * run is recognised as not a block start.  Runs are cut exactly (no rounding
 * to a power of two) and can grow in place when the pages after them are
 * free, and shrink in place by freeing their tail.
 *
 * A huge block is its own mapping, aligned to a region so that the pagemap
 * slots it covers are its own; the first page holds a small header and the
 * user pointer starts a page (or the requested alignment) later.  realloc
 * of a huge block lets the kernel move its page tables (mremap) rather than
 * copy.
 */
#include "large.h"
#include "options.h"
#include "buddy.h"
#include "dlist.h"
#include "os.h"
#include "pagemap.h"

#include <errno.h>
#include <string.h>


static strata_lock_t huge_list_lock = STRATA_LOCK_INIT;
static struct huge *huge_list;

static void huge_link(struct huge *h)
{
	lock_acquire(&huge_list_lock);
	dlist_push(huge_list, h);
	lock_release(&huge_list_lock);
}

static void huge_unlink(struct huge *h)
{
	lock_acquire(&huge_list_lock);
	dlist_del(huge_list, h);
	lock_release(&huge_list_lock);
}

void huge_for_each(void (*fn)(struct huge *h, void *arg), void *arg)
{
	lock_acquire(&huge_list_lock);
	for (struct huge *h = huge_list; h; h = h->next)
		fn(h, arg);
	lock_release(&huge_list_lock);
}

void huge_lock(void)
{
	lock_acquire(&huge_list_lock);
}

void huge_unlock(void)
{
	lock_release(&huge_list_lock);
}

void huge_reinit_lock(void)
{
	lock_reinit(&huge_list_lock);
}

/* ------------------------------------------------------------------------
 * Large runs
 * ---------------------------------------------------------------------- */
static struct page *large_take(struct arena *a, size_t npages, unsigned align_order, bool *dirty)
{
	struct page *pg = buddy_alloc_pages(a, npages, align_order, dirty);
	if (pg == NULL && arena_grow(a))
		pg = buddy_alloc_pages(a, npages, align_order, dirty);
	return pg;
}

void *large_alloc(struct arena *a, size_t size, size_t align, bool zero)
{
	size_t npages = MAX(pages_for(size), 1);   /* size 0 with a big alignment */
	unsigned align_order = align > PAGE_SIZE ? order_for_pages(align >> PAGE_SHIFT) : 0;
	bool dirty = false;
	uint64_t now = os_now_ms();

	lock_acquire(&a->lock);
	arena_maybe_decay(a, now);
	struct page *pg = large_take(a, npages, align_order, &dirty);
	if (pg) {
		pg->state = PAGE_LARGE;
		pg->npages = (uint32_t)npages;
		a->stats.large_pages += npages;
	}
	lock_release(&a->lock);

	if (pg == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	void *p = page_address(pg);
	if (zero && dirty)
		memset(p, 0, npages << PAGE_SHIFT);
	return p;
}

void large_free(struct page *pg)
{
	struct arena *a = page_region(pg)->arena;
	uint64_t now = os_now_ms();
	lock_acquire(&a->lock);
	size_t npages = pg->npages;
	a->stats.large_pages -= npages;
	pg->state = PAGE_NONE;
	buddy_free_range(a, pg, npages, true);
	arena_maybe_decay(a, now);
	lock_release(&a->lock);
}

/* Resize a run where it stands; false when the pages after it are taken. */
bool large_resize(struct page *pg, size_t new_size)
{
	struct arena *a = page_region(pg)->arena;
	size_t old = pg->npages, want = pages_for(new_size);
	bool ok = true;

	if (want == old)
		return true;
	lock_acquire(&a->lock);
	if (want < old)
		buddy_free_range(a, pg + want, old - want, true);
	else
		ok = buddy_claim(a, pg + old, want - old);
	if (ok) {
		pg->npages = (uint32_t)want;
		a->stats.large_pages = a->stats.large_pages - old + want;
	}
	lock_release(&a->lock);
	return ok;
}

/* ------------------------------------------------------------------------
 * Huge blocks
 * ---------------------------------------------------------------------- */
/* Map a huge block as the hugepages option asks: with hugetlb, on 1 GiB
 * pages when asked (hugetlb_1g) and the mapping is that big, else on 2 MiB
 * pages (the size rounded up to them), else advised for THP like the other
 * modes but off.  *map_size grows to the page size used. */
static struct huge *huge_map(size_t *map_size, size_t align, uint8_t *backing)
{
	long mode = strata_option(OPT_HUGEPAGES);
	struct huge *h;
	*backing = BACKING_PAGES;
	if (mode == HUGEPAGES_HUGETLB) {
		if (strata_option(OPT_HUGETLB_1G) && *map_size >= GIGA_PAGE_SIZE) {
			size_t size = ALIGN_UP(*map_size, GIGA_PAGE_SIZE);
			if ((h = os_map_hugetlb(size, MAX(align, GIGA_PAGE_SIZE), GIGA_PAGE_SHIFT))) {
				*map_size = size;
				*backing = BACKING_HUGETLB_1G;
				return h;
			}
		}
		size_t size = ALIGN_UP(*map_size, HUGE_PAGE_SIZE);
		if ((h = os_map_hugetlb(size, MAX(align, HUGE_PAGE_SIZE), HUGE_PAGE_SHIFT))) {
			*map_size = size;
			*backing = BACKING_HUGETLB;
			return h;
		}
		hugetlb_fell_back();
	}
	h = os_map_aligned(*map_size, align);
	if (h && mode != HUGEPAGES_OFF && os_advise_huge(h, *map_size))
		*backing = BACKING_THP;
	return h;
}

void *huge_alloc(size_t size, size_t align, int node)
{
	size = MAX(size, 1);        /* size 0 with a big alignment: one usable byte */
	size_t offset = MAX(PAGE_SIZE, align);
	size_t map_align = MAX(REGION_SIZE, align);
	if (size > SIZE_MAX - offset - PAGE_SIZE) {
		errno = ENOMEM;
		return NULL;
	}
	size_t map_size = ALIGN_UP(offset + size, PAGE_SIZE);
	uint8_t backing;
	struct huge *h = huge_map(&map_size, map_align, &backing);
	if (h == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	nodes_bind(h, map_size, node);      /* before the header is written */
	h->kind = SEG_HUGE;
	h->backing = backing;
	h->map_size = map_size;
	h->offset = offset;
	h->map_align = map_align;
	huge_link(h);
	pagemap_set(h, map_size, h);
	return huge_pointer(h);
}

/* The last few huge blocks freed: their mappings are gone, so a second
 * free of one finds no owner; this ring lets it be called a double free
 * rather than a foreign pointer.  Best effort, no lock: relaxed slots. */
#define HUGE_FREED_RING 64
static uintptr_t huge_freed[HUGE_FREED_RING];
static unsigned huge_freed_next;

bool huge_was_freed(const void *p)
{
	for (unsigned i = 0; i < HUGE_FREED_RING; i++)
		if (__atomic_load_n(&huge_freed[i], __ATOMIC_RELAXED) == (uintptr_t)p)
			return true;
	return false;
}

void huge_free(struct huge *h)
{
	unsigned slot = __atomic_fetch_add(&huge_freed_next, 1, __ATOMIC_RELAXED) % HUGE_FREED_RING;
	__atomic_store_n(&huge_freed[slot], (uintptr_t)huge_pointer(h), __ATOMIC_RELAXED);
	size_t map_size = h->map_size;
	huge_unlink(h);
	pagemap_clear(h, map_size);
	os_unmap(h, map_size);
}

/* Resize with mremap: in place if the kernel can, else moved (not copied)
 * to a new region-aligned place.  NULL with errno ENOMEM when neither. */
void *huge_realloc(struct huge *h, size_t new_size)
{
	size_t old_map = h->map_size;
	if (new_size > SIZE_MAX - h->offset - PAGE_SIZE) {
		errno = ENOMEM;
		return NULL;
	}
	size_t new_map = ALIGN_UP(h->offset + new_size, PAGE_SIZE);
	if (new_map == old_map)
		return huge_pointer(h);

	struct huge *n = h;
	huge_unlink(h);         /* the header may move with the mapping */
	/* Cleared before the kernel may release the old range: once it is
	 * released, another thread may map a region there and set its slots. */
	pagemap_clear(h, old_map);
	if (!os_remap_inplace(h, old_map, new_map)) {
		n = os_remap_aligned(h, old_map, new_map, h->map_align);
		if (n == NULL) {
			pagemap_set(h, old_map, h);
			huge_link(h);
			errno = ENOMEM;
			return NULL;
		}
	}
	n->map_size = new_map;   /* before it is listed: statistics read it */
	huge_link(n);
	pagemap_set(n, new_map, n);
	return huge_pointer(n);
}
