/* SPDX-License-Identifier: MIT */
/* misuse: write the 1 MiB past an 8 MiB block, one store a byte, then free it */
#include <stdio.h>
#include <stdlib.h>

#define SIZE (8 << 20)

int main(void)
{
	/* Runs over whatever lies above the block: a guard page, an
	 * unmapped gap, or another mapping, which it overwrites. */
	char *volatile p = malloc(SIZE);
	for (size_t i = 0; i < (1 << 20); i++)
		p[SIZE + i] = 0x41;
	free(p);
	puts("UNDETECTED");
	return 0;
}
