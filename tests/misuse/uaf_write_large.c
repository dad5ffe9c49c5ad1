/* SPDX-License-Identifier: MIT */
/* misuse: write to the first 16 bytes of a freed 1 MiB block, then malloc twice */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void)
{
	char *volatile p = malloc(1 << 20);
	free(p);
	memset(p, 0x41, 16);
	char *volatile a = malloc(1 << 20);
	char *volatile b = malloc(1 << 20);
	memset(a, 0x5a, 1 << 20);
	memset(b, 0x5a, 1 << 20);
	free(a);
	free(b);
	puts("UNDETECTED");
	return 0;
}
