/* SPDX-License-Identifier: MIT */
/* misuse: write one byte past a 16 KiB block, then free it */
#include <stdio.h>
#include <stdlib.h>

#define SIZE (16 << 10)

int main(void)
{
	char *volatile p = malloc(SIZE);
	p[SIZE] = 0x41;
	free(p);
	puts("UNDETECTED");
	return 0;
}
