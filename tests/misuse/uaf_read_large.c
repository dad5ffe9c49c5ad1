/* SPDX-License-Identifier: MIT */
/* misuse: read every byte of a 512 KiB block after freeing it */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIZE (512 << 10)

int main(void)
{
	char *volatile p = malloc(SIZE);
	memset(p, 0x5a, SIZE);
	free(p);
	volatile unsigned sum = 0;
	for (size_t i = 0; i < SIZE; i++)
		sum += (unsigned char)p[i];
	puts("UNDETECTED");
	return 0;
}
