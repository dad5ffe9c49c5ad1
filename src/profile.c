/* SPDX-License-Identifier: MIT */
/*
 * profile.c - the leak tracker's live blocks as a heap profile in
 * gperftools' text format, for google-pprof and Go's pprof.
 *
 * Owns the format and nothing else: the sites come from leak_sites (one
 * per call stack), the memory map from /proc/self/maps.  The file reads:
 *
 *   heap profile:    320:  1610720 [   320:  1610720] @ heapprofile
 *       20:  1310720 [    20:  1310720] @ 0x55d0c6a0a1b6 0x55d0c6a0a24b ...
 *      300:   300000 [   300:   300000] @ 0x55d0c6a0a17e 0x55d0c6a0a246 ...
 *
 *   MAPPED_LIBRARIES:
 *   (the text of /proc/self/maps)
 *
 * Each line is "live objects: live bytes [allocated objects: allocated
 * bytes] @ call stack", innermost frame first; the header line holds the
 * totals.  strata keeps no count of blocks allocated and freed since
 * start, so the bracketed pair repeats the live one, as tcmalloc's own
 * sampled profiles do (pprof's --alloc_space then shows what is live).
 *
 * "heapprofile", not "heap_v2/RATE", because the figures are already the
 * leak tracker's estimates: in sampled mode each record is weighted by the
 * bytes it stands for (leak.c), and that weight knows the refill batch a
 * sample stood for, which pprof cannot.  heap_v2/N would make pprof scale
 * every line again by 1 / (1 - exp(-size / N)); heap_v2/0 does not mean
 * "do not scale" to google-pprof, which then assumes 1 in 128 KiB.
 * "heapprofile" is what gperftools' own heap profiler writes, and both
 * pprofs take its figures as they are.
 *
 * pprof takes every address but the first for a return address and looks
 * up the byte before it; the first it takes as it is.  All of ours are
 * return addresses, so the first is written one byte back, inside its call
 * instruction, and the rest as they are.
 *
 * Nothing here allocates: it may run at exit, or in a program whose malloc
 * is strata, while another thread holds a malloc lock.  The sites are
 * copied into a scratch mapping, lines are formatted into a buffer on the
 * stack and go out with write(2).
 */
#include "internal.h"
#include "leak.h"
#include "os.h"
#include "profile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

/* ------------------------------------------------------------------------
 * Output: lines gathered in a buffer, written when it fills
 * ---------------------------------------------------------------------- */

/* The longest line: four counts and the "@" (under 100 bytes), then
 * STRATA_LEAK_FRAMES addresses of " 0x" and 16 hex digits (304 bytes). */
#define PROFILE_LINE_MAX 512
/* Eight lines or more per write; a map line is far shorter. */
#define PROFILE_BUFFER 4096

struct profile_out {
	int    fd;
	int    error; /* errno of the first failed write, else 0 */
	size_t len;
	char   buf[PROFILE_BUFFER];
};

static void profile_flush(struct profile_out *o)
{
	errno = 0;
	if (o->error == 0 && !_strata_write_all(o->fd, o->buf, o->len))
		o->error = errno ? errno : EIO; /* a write of 0 bytes sets none */
	o->len = 0;
}

/* Append to the line being built; the caller made room for a whole line. */
__attribute__((format(printf, 2, 3))) static void profile_put(struct profile_out *o,
                                                              const char         *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(o->buf + o->len, sizeof(o->buf) - o->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		o->len = MIN(o->len + (size_t)n, sizeof(o->buf) - 1);
}

static void profile_line_room(struct profile_out *o)
{
	if (sizeof(o->buf) - o->len < PROFILE_LINE_MAX)
		profile_flush(o);
}

/* ------------------------------------------------------------------------
 * The profile
 * ---------------------------------------------------------------------- */
static void put_counts(struct profile_out *o, size_t objects, size_t bytes)
{
	profile_put(o, "%6zu: %8zu [%6zu: %8zu] @", objects, bytes, objects, bytes);
}

static void put_site(struct profile_out *o, const struct strata_leak_site *site)
{
	profile_line_room(o);
	put_counts(o, site->objects, site->bytes);
	for (unsigned i = 0; i < site->nframes; i++) {
		/* the first back into its call: pprof moves only the others */
		uintptr_t pc = (uintptr_t)site->frames[i] - (i == 0);
		profile_put(o, " 0x%zx", (size_t)pc);
	}
	profile_put(o, "\n");
}

/* Blocks from libc's start-up, before stacks could be taken, have none:
 * google-pprof drops a line without addresses, so they are left out of
 * the lines and of the totals alike. */
static void put_header(struct profile_out *o, const struct strata_leak_site *sites, size_t n)
{
	size_t objects = 0, bytes = 0;
	for (size_t i = 0; i < n; i++) {
		if (sites[i].nframes == 0)
			continue;
		objects += sites[i].objects;
		bytes += sites[i].bytes;
	}
	profile_put(o, "heap profile: ");
	put_counts(o, objects, bytes);
	profile_put(o, " heapprofile\n");
}

/* The map lets pprof find, for each address, the program or library
 * and the offset in it, so symbols are looked up in the files. */
static void put_maps(struct profile_out *o)
{
	profile_put(o, "\nMAPPED_LIBRARIES:\n");
	profile_flush(o);
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		o->error = o->error ? o->error : errno;
		return;
	}
	for (;;) {
		ssize_t n = read(fd, o->buf, sizeof(o->buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && o->error == 0)
			o->error = errno;
		if (n <= 0)
			break;
		o->len = (size_t)n;
		profile_flush(o);
	}
	close(fd);
}

#define SITES_BYTES ALIGN_UP(LEAK_SITES_MAX * sizeof(struct strata_leak_site), PAGE_SIZE)

int profile_write(int fd)
{
	struct strata_leak_site *sites = os_map(SITES_BYTES);
	if (sites == NULL) {
		errno = ENOMEM;
		return -1;
	}
	size_t n = MIN(leak_sites(sites, LEAK_SITES_MAX, 0, NULL, NULL), LEAK_SITES_MAX);
	struct profile_out o = { .fd = fd };
	put_header(&o, sites, n);
	for (size_t i = 0; i < n; i++)
		if (sites[i].nframes > 0)
			put_site(&o, &sites[i]);
	os_unmap(sites, SITES_BYTES);
	put_maps(&o);
	if (o.error != 0) {
		errno = o.error;
		return -1;
	}
	return 0;
}

int profile_write_file(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	int rc = profile_write(fd);
	int saved = errno;
	if (close(fd) != 0 && rc == 0)
		return -1;
	errno = saved;
	return rc;
}

/* ------------------------------------------------------------------------
 * strata's call (include/strata.h)
 * ---------------------------------------------------------------------- */
strata_export int strata_profile_write(int fd)
{
	strata_ensure_init();
	return profile_write(fd);
}
