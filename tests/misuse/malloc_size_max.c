/* SPDX-License-Identifier: MIT */
/* conformance: malloc(SIZE_MAX) and sizes near it return NULL with ENOMEM */
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
	/* Sizes that overflow once a header or a page rounding is added. */
	try(SIZE_MAX);
	try(SIZE_MAX - 15);
	try(SIZE_MAX - 4095);
	try(SIZE_MAX - (2 << 20) + 1);
	puts(failed ? "FAIL" : "PASS");
	return failed;
}
