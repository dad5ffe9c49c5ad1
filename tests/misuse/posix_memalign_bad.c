/* SPDX-License-Identifier: MIT */
/* conformance: posix_memalign with an alignment that is not a power of two times sizeof(void *) returns EINVAL */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

static int failed;

static void try(size_t align)
{
	void *p = (void *)0x1234;
	errno = 0;
	int r = posix_memalign(&p, align, 64);
	printf("posix_memalign(%zu) = %d p=%p errno=%d\n", align, r, p, errno);
	if (r != EINVAL)
		failed = 1;
	/* POSIX.1-2008 TC2: memptr is not modified on failure. */
	if (r != 0 && p != (void *)0x1234) {
		puts("memptr modified on failure");
		failed = 1;
	}
	if (r == 0)
		free(p);
}

int main(void)
{
	try(0);
	try(3);
	try(4);  /* a power of two, but below sizeof(void *) */
	try(24); /* a multiple of sizeof(void *), not a power of two */
	try(4097);
	puts(failed ? "FAIL" : "PASS");
	return failed;
}
