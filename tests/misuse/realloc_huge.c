/* SPDX-License-Identifier: MIT */
/* conformance: realloc to SIZE_MAX or PTRDIFF_MAX + 1 returns NULL with ENOMEM and keeps the block */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failed;

static void try(char *p, size_t size)
{
	errno = 0;
	void *volatile q = realloc(p, size);
	int e = errno;
	printf("realloc(%p, %#zx) = %p errno=%d\n", (void *)p, size, q, e);
	if (q != NULL || e != ENOMEM)
		failed = 1;
	if (q == NULL && p != NULL && memcmp(p, "keep", 5) != 0) {
		puts("old block changed");
		failed = 1;
	}
}

int main(void)
{
	char *volatile p = malloc(64);
	strcpy(p, "keep");
	try(p, SIZE_MAX);
	try(p, (size_t)PTRDIFF_MAX + 1);
	try(NULL, SIZE_MAX);
	free(p);
	puts(failed ? "FAIL" : "PASS");
	return failed;
}
