/* SPDX-License-Identifier: MIT */
/*
 * heapmap.c - the heap map: each arena's regions, page by page, by state.
 *
 * A region's blocks tile it (the buddy's invariant), so one walk over its
 * page descriptors, block by block, under the arena's lock, gives every
 * page a state.  Two forms of the same walk: runs of pages of one state
 * (the control socket's heapmap, exact), and a fixed number of cells per
 * region, each the state holding most of its pages (the trace file's
 * samples, bounded whatever the heap's shape).
 *
 * Output goes through stdio on a buffer of this stack's: nothing is
 * allocated while an arena lock is held, and the descriptor gets a write
 * per buffer, not per run.
 */
#include "heapmap.h"
#include "arena.h"
#include "buddy.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The stdio buffer of one map. */
#define HEAPMAP_BUFFER 4096

enum map_state { MAP_META, MAP_SLAB, MAP_LARGE, MAP_FREE, MAP_DIRTY, MAP_DECOMMITTED, MAP_OTHER };
#define MAP_STATES (MAP_OTHER + 1)

static const char *const map_names[MAP_STATES] = {
	"meta", "slab", "large", "free", "dirty", "decommitted", "other",
};

/* The letters of the cells form, in the order of map_names. */
static const char map_letters[MAP_STATES] = { 'm', 's', 'l', 'f', 'd', 'x', 'o' };

static const char *const backing_names[] = { "pages", "thp", "hugetlb", "hugetlb_1g" };

/* The run being gathered (runs form), or the cell being filled (cells
 * form), written when a page of another run or cell comes. */
struct map_out {
	FILE          *f;
	unsigned       cell_pages;        /* 0: runs */
	enum map_state state;             /* runs: the state of the run */
	size_t         pages;             /* runs: its length; cells: pages of the cell seen */
	size_t         count[MAP_STATES]; /* cells: pages of the cell by state */
	bool           written;           /* runs: a run of this region is out */
};

static void run_flush(struct map_out *m)
{
	if (m->pages == 0)
		return;
	fprintf(m->f, "%s[\"%s\",%zu]", m->written ? "," : "", map_names[m->state], m->pages);
	m->written = true;
	m->pages = 0;
}

static void cell_flush(struct map_out *m)
{
	unsigned best = 0;
	for (unsigned s = 1; s < MAP_STATES; s++)
		if (m->count[s] > m->count[best])
			best = s;
	fputc(map_letters[best], m->f);
	memset(m->count, 0, sizeof(m->count));
	m->pages = 0;
}

static void cells_add(struct map_out *m, enum map_state state, size_t pages)
{
	while (pages > 0) {
		size_t take = MIN(pages, m->cell_pages - m->pages);
		m->count[state] += take;
		m->pages += take;
		pages -= take;
		if (m->pages == m->cell_pages)
			cell_flush(m);
	}
}

static void map_add(struct map_out *m, enum map_state state, size_t pages)
{
	if (m->cell_pages) {
		cells_add(m, state, pages);
		return;
	}
	if (m->pages > 0 && m->state != state)
		run_flush(m);
	m->state = state;
	m->pages += pages;
}

/* A block's pages by state.  A dirty free block's count of pages that may
 * be resident is taken as its first pages (as buddy.c counts them); the
 * rest of it is free and most likely clean.  A free block without
 * PG_DIRTY has no memory behind it: never touched, or given back. */
static void map_block(struct map_out *m, const struct page *pg, size_t len)
{
	switch (pg->state) {
	case PAGE_META: map_add(m, MAP_META, len); break;
	case PAGE_SLAB:
	case PAGE_SAMPLED:
	case PAGE_CACHE: map_add(m, MAP_SLAB, len); break;
	case PAGE_LARGE: map_add(m, MAP_LARGE, len); break;
	case PAGE_FREE:
		if (!(pg->flags & PG_DIRTY)) {
			map_add(m, MAP_DECOMMITTED, len);
			break;
		}
		map_add(m, MAP_DIRTY, MIN((size_t)pg->dirty, len));
		map_add(m, MAP_FREE, len - MIN((size_t)pg->dirty, len));
		break;
	default: map_add(m, MAP_OTHER, len);
	}
}

/* Called with the arena lock held: the blocks tile the region. */
static void map_region(FILE *f, unsigned cell_pages, struct region *r)
{
	struct map_out m = { .f = f, .cell_pages = cell_pages };
	fprintf(f, "{\"base\":\"%p\",\"backing\":\"%s\",\"reserved\":%s,", (void *)r,
	        backing_names[r->backing & 3], r->reserved ? "true" : "false");
	fputs(cell_pages ? "\"cells\":\"" : "\"runs\":[", f);
	for (size_t pfn = 0; pfn < REGION_PAGES;) {
		const struct page *pg = &r->pages[pfn];
		size_t             len = MIN(MAX(block_pages(pg), (size_t)1), REGION_PAGES - pfn);
		map_block(&m, pg, len);
		pfn += len;
	}
	if (!cell_pages)
		run_flush(&m);
	else if (m.pages > 0)
		cell_flush(&m);
	fputs(cell_pages ? "\"}" : "]}", f);
}

/* One arena's regions, newest first, while *room lasts (SIZE_MAX: all). */
static void map_arena(FILE *f, unsigned cell_pages, struct arena *a, size_t *room)
{
	size_t total = 0, written = 0;
	lock_acquire(&a->lock);
	fprintf(f, "{\"arena\":%u,\"node\":%d,\"free_pages\":%zu,\"dirty_pages\":%zu,\"regions\":[",
	        a->index, a->node, a->free_pages, a->dirty_pages);
	for (struct region *r = a->regions; r != NULL; r = r->next, total++) {
		if (written == *room)
			continue;
		if (written++ > 0)
			fputc(',', f);
		map_region(f, cell_pages, r);
	}
	lock_release(&a->lock);
	*room -= written;
	fprintf(f, "]");
	if (written < total)
		fprintf(f, ",\"regions_total\":%zu", total);
	fprintf(f, "}");
}

int heapmap_write(int fd, size_t max_regions, unsigned cells)
{
	char   buf[HEAPMAP_BUFFER];
	size_t room = max_regions ? max_regions : SIZE_MAX;
	cells = cells ? MIN(cells, (unsigned)REGION_PAGES) : 0;
	int   copy = dup(fd);
	FILE *f = copy >= 0 ? fdopen(copy, "w") : NULL;
	if (f == NULL) {
		if (copy >= 0)
			close(copy);
		return -1;
	}
	setvbuf(f, buf, _IOFBF, sizeof(buf));
	fprintf(f, "{\"pid\":%d,\"page_size\":%zu,\"region_pages\":%zu,", (int)getpid(), PAGE_SIZE,
	        (size_t)REGION_PAGES);
	if (cells)
		fprintf(f, "\"cell_pages\":%zu,", REGION_PAGES / cells);
	fprintf(f, "\"arenas\":[");
	for (unsigned i = 0; i < _strata_narenas; i++) {
		if (i > 0)
			fputc(',', f);
		map_arena(f, cells ? (unsigned)(REGION_PAGES / cells) : 0, &_strata_arenas[i],
		          &room);
	}
	fprintf(f, "]}");
	return fclose(f) == 0 ? 0 : -1;
}
