/* SPDX-License-Identifier: MIT */
/* conformance: reallocarray whose nmemb * size overflows returns NULL with ENOMEM and keeps the block */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failed;

static void try(char *p, size_t n, size_t size)
{
	errno = 0;
	void *volatile q = reallocarray(p, n, size);
	int e = errno;
	printf("reallocarray(%p, %#zx, %#zx) = %p errno=%d\n", (void *)p, n, size, q, e);
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
	try(p, (SIZE_MAX / 2 + 1) + 8, 2); /* wraps to 16 */
	try(p, SIZE_MAX, SIZE_MAX);
	try(NULL, ((size_t)1 << 32) + 1, ((size_t)1 << 32) + 1);
	free(p);
	puts(failed ? "FAIL" : "PASS");
	return failed;
}
