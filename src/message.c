/* SPDX-License-Identifier: MIT */
/*
 * message.c - what strata says on stderr: warnings, statistics, fatal errors.
 *
 * Formatting goes to a stack buffer and out with one write(2), so printing
 * never allocates and never interleaves with another thread's line.
 */
#include "internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define MESSAGE_MAX 1024

bool _strata_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

static void vprint_line(const char *prefix, const char *fmt, va_list ap)
{
	char   buf[MESSAGE_MAX];
	int    n = snprintf(buf, sizeof(buf), "%s", prefix);
	int    m = vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);
	size_t len = (size_t)n + (m < 0 ? 0 : MIN((size_t)m, sizeof(buf) - (size_t)n - 2));
	buf[len++] = '\n';
	_strata_write_all(STDERR_FILENO, buf, len);
}

void _strata_print(int fd, const char *fmt, ...)
{
	char    buf[MESSAGE_MAX];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > 0)
		_strata_write_all(fd, buf, MIN((size_t)n, sizeof(buf) - 1));
}

void _strata_warn(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vprint_line("strata: warning: ", fmt, ap);
	va_end(ap);
}

/* What follows a fatal line: the leak tracker's stack printer, set at
 * start-up with the verbose option.  A hook, because the leak layer sits
 * above this one. */
static void (*fatal_hook)(int fd);

void _strata_fatal_set_hook(void (*fn)(int fd))
{
	fatal_hook = fn;
}

/* The hook runs once only, since a heap this broken may fail again while
 * the stack is being unwound. */
void _strata_fatal(const char *fmt, ...)
{
	static int fatal_depth;
	va_list    ap;
	va_start(ap, fmt);
	vprint_line("strata: ", fmt, ap);
	va_end(ap);
	if (fatal_hook && __atomic_fetch_add(&fatal_depth, 1, __ATOMIC_RELAXED) == 0)
		fatal_hook(STDERR_FILENO);
	abort();
}

/* A failed strata_assert: a bug in strata, not in the program. */
void _strata_assert_fail(const char *cond, const char *file, int line, const char *func)
{
	_strata_fatal("assertion failed: %s (%s:%d, %s)", cond, file, line, func);
}

/* A free object's link or key was overwritten: written after it was freed,
 * or freed twice from two threads. */
void _strata_freelist_corrupt(const void *p)
{
	_strata_fatal("corrupted free list at %p (written after free, overflowed into, or freed "
	              "twice)",
	              p);
}
