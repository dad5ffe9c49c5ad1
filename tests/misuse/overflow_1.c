/* SPDX-License-Identifier: MIT */
/* misuse: write one byte past a 24-byte block, then free it */
#include <stdio.h>
#include <stdlib.h>

int main(void)
{
	char *volatile p = malloc(24);
	p[24] = 0x41;
	free(p);
	puts("UNDETECTED");
	return 0;
}
