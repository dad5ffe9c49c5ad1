/* SPDX-License-Identifier: MIT */
/* conformance: calloc whose nmemb * size overflows returns NULL with ENOMEM */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static int failed;

static void try(size_t n, size_t size)
{
	errno = 0;
	void *volatile p = calloc(n, size);
	int e = errno;
	printf("calloc(%#zx, %#zx) = %p errno=%d\n", n, size, p, e);
	if (p != NULL || e != ENOMEM)
		failed = 1;
	free(p);
}

int main(void)
{
	try(SIZE_MAX, SIZE_MAX);
	try(SIZE_MAX / 2 + 1, 2);       /* wraps to 0 */
	try((SIZE_MAX / 2 + 1) + 8, 2); /* wraps to 16: a naive product succeeds */
	try(((size_t)1 << 32) + 1, ((size_t)1 << 32) + 1); /* wraps to 2^33 + 1 */
	puts(failed ? "FAIL" : "PASS");
	return failed;
}
