/* SPDX-License-Identifier: MIT */
/* misuse: read the 4 KiB past an 8 MiB block, one byte at a time, then free it */
#include <stdio.h>
#include <stdlib.h>

#define SIZE (8 << 20)

int main(void)
{
	/* Reaches the next page whatever the block's alignment: a
	 * guard page there stops the read. */
	char *volatile p = malloc(SIZE);
	volatile unsigned sum = 0;
	for (size_t i = 0; i < 4096; i++)
		sum += (unsigned char)p[SIZE + i];
	free(p);
	puts("UNDETECTED");
	return 0;
}
