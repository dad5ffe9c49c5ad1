/* SPDX-License-Identifier: MIT */
/* misuse: write one byte before a 16 KiB block, then free it */
#include <stdio.h>
#include <stdlib.h>

#define SIZE (16 << 10)

int main(void)
{
	char *volatile p = malloc(SIZE);
	p[-1] = 0x41;
	free(p);
	puts("UNDETECTED");
	return 0;
}
