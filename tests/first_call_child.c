/* SPDX-License-Identifier: MIT */
/*
 * first_call_child.c - one allocation call as the very first call of the
 * malloc family in a fresh process, a new thread or a forked child, then
 * checked: alignment, usable size, zeroing, contents.
 *
 *     first_call_child CALL SIZE ALIGN WHERE
 *
 * CALL: malloc calloc realloc reallocarray posix_memalign aligned_alloc
 * memalign valloc pvalloc onnode (strata_alloc_onnode on node 0); built as
 * C++ (tests/first_call_cxx.cc) also new new[] new-nothrow new-aligned
 * new[]-aligned new-aligned-nothrow.
 * WHERE: process (nothing allocated before), thread (the first call of a
 * new thread), fork (a child forked before any allocation), fork-warm (a
 * child forked after the parent filled a few classes).  Exits 0 when every
 * check holds; else prints "first_call: ..." and exits 1.  Run by
 * tests/first_call.sh in every mode.
 */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "strata.h"

#ifdef __cplusplus
#include <new>

/* operator new and its variants; NULL when the call is not one of them. */
static void *new_call(const char *call, size_t size, size_t align, size_t *want_align)
{
	std::align_val_t al = static_cast<std::align_val_t>(align);
	*want_align = strstr(call, "aligned") ? align : 16;
	if (strcmp(call, "new") == 0)
		return ::operator new(size);
	if (strcmp(call, "new[]") == 0)
		return ::operator new[](size);
	if (strcmp(call, "new-nothrow") == 0)
		return ::operator new(size, std::nothrow);
	if (strcmp(call, "new-aligned") == 0)
		return ::operator new(size, al);
	if (strcmp(call, "new[]-aligned") == 0)
		return ::operator new[](size, al);
	if (strcmp(call, "new-aligned-nothrow") == 0)
		return ::operator new(size, al, std::nothrow);
	return NULL;
}
#endif

struct spec {
	const char *call;
	size_t      size;
	size_t      align;
};

static struct spec want;
static char        failure[256];

#define FAIL(...) (snprintf(failure, sizeof(failure), __VA_ARGS__), 0)

/* The call itself; *align gets the alignment the call promises. */
static void *do_call(const struct spec *s, size_t *align, int *zeroed)
{
	void *p = NULL;
	*align = 16;
	*zeroed = 0;
#ifdef __cplusplus
	if (strncmp(s->call, "new", 3) == 0)
		return new_call(s->call, s->size, s->align, align);
#endif
	if (strcmp(s->call, "malloc") == 0)
		return malloc(s->size);
	if (strcmp(s->call, "calloc") == 0) {
		*zeroed = 1;
		return calloc(1, s->size);
	}
	if (strcmp(s->call, "realloc") == 0)
		return realloc(NULL, s->size);
	if (strcmp(s->call, "reallocarray") == 0)
		return reallocarray(NULL, 1, s->size);
	if (strcmp(s->call, "onnode") == 0)
		return strata_alloc_onnode(s->size, 0);
	*align = s->align;
	if (strcmp(s->call, "posix_memalign") == 0)
		return posix_memalign(&p, s->align, s->size) == 0 ? p : NULL;
	if (strcmp(s->call, "aligned_alloc") == 0)
		return aligned_alloc(s->align, s->size);
	if (strcmp(s->call, "memalign") == 0)
		return memalign(s->align, s->size);
	*align = 4096;
	if (strcmp(s->call, "valloc") == 0)
		return valloc(s->size);
	if (strcmp(s->call, "pvalloc") == 0)
		return pvalloc(s->size);
	fprintf(stderr, "first_call: unknown call %s\n", s->call);
	exit(2);
}

static int check_block(const struct spec *s, void *p, size_t align, int zeroed)
{
	if (p == NULL)
		return FAIL("%s(%zu, align %zu) returned NULL (errno %d)", s->call, s->size,
		            s->align, errno);
	if ((uintptr_t)p % align != 0)
		return FAIL("%s(%zu, align %zu) = %p, not aligned to %zu", s->call, s->size,
		            s->align, p, align);
	size_t usable = malloc_usable_size(p);
	size_t need = strcmp(s->call, "pvalloc") == 0 ? (s->size + 4095) / 4096 * 4096 : s->size;
	if (usable < need)
		return FAIL("%s(%zu, align %zu) = %p: usable size %zu < %zu", s->call, s->size,
		            s->align, p, usable, need);
	unsigned char *b = (unsigned char *)p;
	for (size_t i = 0; zeroed && i < need; i++)
		if (b[i] != 0)
			return FAIL("%s(%zu) = %p: byte %zu is %#x, not zero", s->call, s->size, p,
			            i, b[i]);
	for (size_t i = 0; i < usable; i++)
		b[i] = (unsigned char)(i * 7 + 3);
	for (size_t i = 0; i < usable; i++)
		if (b[i] != (unsigned char)(i * 7 + 3))
			return FAIL("%s(%zu) = %p: byte %zu did not keep what was written", s->call,
			            s->size, p, i);
	return 1;
}

/* The first call, a second one of the same kind, then ordinary traffic:
 * the blocks must not overlap and the heap must stay sound. */
static int run_checks(void)
{
	size_t align;
	int    zeroed;
	void  *p = do_call(&want, &align, &zeroed);
	if (!check_block(&want, p, align, zeroed))
		return 0;
	void *q = do_call(&want, &align, &zeroed);
	if (!check_block(&want, q, align, zeroed))
		return 0;
	size_t up = malloc_usable_size(p), uq = malloc_usable_size(q);
	if ((char *)p < (char *)q + uq && (char *)q < (char *)p + up)
		return FAIL("%s: the first two blocks %p and %p overlap", want.call, p, q);
	unsigned char *b = (unsigned char *)p;
	for (size_t i = 0; i < up; i++)
		if (b[i] != (unsigned char)(i * 7 + 3))
			return FAIL("%s: the first block changed under the second", want.call);
	void *more[64];
	for (int i = 0; i < 64; i++)
		memset(more[i] = malloc((size_t)(i * 97 % 5000) + 1), 0x5a,
		       (size_t)(i * 97 % 5000) + 1);
	for (int i = 0; i < 64; i++)
		free(more[i]);
	free(q);
	free(p);
	if (strata_check_heap() != 0)
		return FAIL("%s: strata_check_heap failed", want.call);
	return 1;
}

static void *thread_main(void *arg)
{
	(void)arg;
	return (void *)(intptr_t)run_checks();
}

/* A few classes and a large block taken before the fork. */
static void warm_up(void)
{
	static void *keep[32];
	for (int i = 0; i < 32; i++)
		keep[i] = malloc((size_t)(16 << (i % 10)));
	free(keep[3]);
	keep[3] = NULL;
}

static int run_forked(int warm)
{
	if (warm)
		warm_up();
	pid_t pid = fork();
	if (pid < 0)
		return FAIL("fork: %s", strerror(errno));
	if (pid == 0) {
		int ok = run_checks();
		if (!ok)
			fprintf(stderr, "first_call: %s (in the forked child)\n", failure);
		_exit(ok ? 0 : 1);
	}
	int status;
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return FAIL("the forked child did not exit 0 (status %#x)", status);
	return 1;
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: first_call_child CALL SIZE ALIGN WHERE\n");
		return 2;
	}
	want.call = argv[1];
	want.size = strtoull(argv[2], NULL, 0);
	want.align = strtoull(argv[3], NULL, 0);
	const char *where = argv[4];
	int         ok;
	if (strcmp(where, "process") == 0) {
		ok = run_checks();
	} else if (strcmp(where, "thread") == 0) {
		pthread_t t;
		void     *res = NULL;
		if (pthread_create(&t, NULL, thread_main, NULL) != 0 || pthread_join(t, &res) != 0)
			ok = FAIL("cannot run a thread");
		else
			ok = (int)(intptr_t)res;
	} else if (strcmp(where, "fork") == 0 || strcmp(where, "fork-warm") == 0) {
		ok = run_forked(where[4] == '-');
	} else {
		fprintf(stderr, "first_call: unknown place %s\n", where);
		return 2;
	}
	if (!ok) {
		fprintf(stderr, "first_call: %s\n", failure);
		return 1;
	}
	return 0;
}
