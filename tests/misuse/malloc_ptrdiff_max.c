/* SPDX-License-Identifier: MIT */
/* conformance: malloc(PTRDIFF_MAX + 1) returns NULL with ENOMEM */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static int failed;

static void try(size_t size)
{
	errno = 0;
	void *volatile p = malloc(size);
	int e = errno;
	printf("malloc(%#zx) = %p errno=%d\n", size, p, e);
	if (p != NULL || e != ENOMEM)
		failed = 1;
	free(p);
}

int main(void)
{
	/* No object may be larger than PTRDIFF_MAX: pointer differences
	 * inside it would overflow. */
	try((size_t)PTRDIFF_MAX + 1);
	try((size_t)PTRDIFF_MAX + 4096);
	puts(failed ? "FAIL" : "PASS");
	return failed;
}
