/* SPDX-License-Identifier: MIT */
/* misuse: freed memory not zeroed: a secret written all over a 32-byte block is still there in the block of the same size malloc returns next */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIZE 32

int main(void)
{
	/* Not a bug of the program's: a check of the allocator.  The
	 * secret leaking into the next block is the undetected case
	 * (UNDETECTED, exit 0).  If it is gone (the allocator cleared
	 * or filled the block at free or at malloc, or handed out
	 * another block), the program says so on stderr and exits 1,
	 * which run counts as detected. */
	static const char secret[8] = "s3cr3t!";
	char *volatile p = malloc(SIZE);
	for (size_t i = 0; i < SIZE; i += 8)
		memcpy(p + i, secret, 8);
	free(p);
	char *volatile q = malloc(SIZE);
	size_t found = 0;
	for (size_t i = 0; i < SIZE; i += 8)
		found += memcmp(q + i, secret, 8) == 0;
	const char *block = q == p ? "the same block" : "another block";
	if (found == 0) {
		fprintf(stderr, "secret gone: malloc returned %s, no copy of the secret in it\n",
		        block);
		return 1;
	}
	printf("%zu of %zu copies of the secret in %s\n", found, (size_t)SIZE / 8, block);
	free(q);
	puts("UNDETECTED");
	return 0;
}
