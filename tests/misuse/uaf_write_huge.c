/* SPDX-License-Identifier: MIT */
/* misuse: write to the first 16 bytes of a freed 8 MiB block, then malloc twice */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIZE (8 << 20)

int main(void)
{
	char *volatile p = malloc(SIZE);
	free(p);
	memset(p, 0x41, 16);
	char *volatile a = malloc(SIZE);
	char *volatile b = malloc(SIZE);
	memset(a, 0x5a, SIZE);
	memset(b, 0x5a, SIZE);
	free(a);
	free(b);
	puts("UNDETECTED");
	return 0;
}
