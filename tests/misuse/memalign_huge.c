/* SPDX-License-Identifier: MIT */
/* conformance: memalign / posix_memalign with a huge alignment fail cleanly or return an aligned block */
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static int failed;

int main(void)
{
	/* Alignment of half the address space: cannot be met. */
	errno = 0;
	void *volatile p = memalign((size_t)1 << 63, 16);
	int e = errno;
	printf("memalign(1<<63, 16) = %p errno=%d\n", p, e);
	if (p != NULL || (e != ENOMEM && e != EINVAL))
		failed = 1;

	/* Alignment plus size overflow: alignment 2^62, size 2^63. */
	errno = 0;
	p = memalign((size_t)1 << 62, (size_t)1 << 63);
	e = errno;
	printf("memalign(1<<62, 1<<63) = %p errno=%d\n", p, e);
	if (p != NULL || (e != ENOMEM && e != EINVAL))
		failed = 1;

	void *q = NULL;
	int   r = posix_memalign(&q, (size_t)1 << 62, 16);
	printf("posix_memalign(1<<62, 16) = %d\n", r);
	if (r != ENOMEM && r != EINVAL)
		failed = 1;

	/* 1 GiB alignment: may fail with ENOMEM, but a block must be aligned. */
	errno = 0;
	p = memalign((size_t)1 << 30, 64);
	e = errno;
	printf("memalign(1<<30, 64) = %p errno=%d\n", p, e);
	if (p != NULL && (uintptr_t)p % ((size_t)1 << 30) != 0)
		failed = 1;
	if (p == NULL && e != ENOMEM)
		failed = 1;
	free(p);

	puts(failed ? "FAIL" : "PASS");
	return failed;
}
