/* SPDX-License-Identifier: MIT */
/* misuse: write the 4 KiB past a 512 KiB block, one store a byte, then free it */
#include <stdio.h>
#include <stdlib.h>

#define SIZE (512 << 10)

int main(void)
{
	/* A guard page after the block stops the first store. */
	char *volatile p = malloc(SIZE);
	for (size_t i = 0; i < 4096; i++)
		p[SIZE + i] = 0x41;
	free(p);
	puts("UNDETECTED");
	return 0;
}
