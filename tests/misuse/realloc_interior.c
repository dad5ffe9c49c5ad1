/* SPDX-License-Identifier: MIT */
/* misuse: realloc of a pointer 16 bytes into a block */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void)
{
	char *volatile p = malloc(64);
	char *volatile q = realloc(p + 16, 128);
	if (q)
		memset(q, 0x5a, 128);
	free(q);
	puts("UNDETECTED");
	return 0;
}
