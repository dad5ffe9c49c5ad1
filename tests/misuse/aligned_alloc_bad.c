/* SPDX-License-Identifier: MIT */
/* conformance: aligned_alloc with alignment 0 or not a power of two returns NULL with EINVAL (C17 7.22.3.1) */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static int failed;

static void try(size_t align, size_t size)
{
	errno = 0;
	void *volatile p = aligned_alloc(align, size);
	int e = errno;
	printf("aligned_alloc(%zu, %zu) = %p errno=%d\n", align, size, p, e);
	if (p != NULL || e != EINVAL)
		failed = 1;
	free(p);
}

int main(void)
{
	try(0, 16);
	try(3, 48);
	try(24, 48);
	try(48, 96);
	/* A valid alignment with a size that is not a multiple of it must
	 * work since C17 (DR 460). */
	void *volatile q = aligned_alloc(64, 100);
	printf("aligned_alloc(64, 100) = %p\n", q);
	if (q == NULL || (uintptr_t)q % 64 != 0)
		failed = 1;
	free(q);
	puts(failed ? "FAIL" : "PASS");
	return failed;
}
