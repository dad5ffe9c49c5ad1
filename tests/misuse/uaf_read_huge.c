/* SPDX-License-Identifier: MIT */
/* misuse: read a byte of every page of an 8 MiB block after freeing it */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIZE (8 << 20)

int main(void)
{
	char *volatile p = malloc(SIZE);
	memset(p, 0x5a, SIZE);
	free(p);
	volatile unsigned sum = 0;
	/* One byte a page: every byte would take most of a second at -O0. */
	for (size_t i = 0; i < SIZE; i += 4096)
		sum += (unsigned char)p[i];
	puts("UNDETECTED");
	return 0;
}
