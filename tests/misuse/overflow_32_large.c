/* SPDX-License-Identifier: MIT */
/* misuse: write the 32 bytes past a 512 KiB block, one store a byte, then free it */
#include <stdio.h>
#include <stdlib.h>

#define SIZE (512 << 10)

int main(void)
{
	char *volatile p = malloc(SIZE);
	for (size_t i = 0; i < 32; i++)
		p[SIZE + i] = 0x41;
	free(p);
	puts("UNDETECTED");
	return 0;
}
