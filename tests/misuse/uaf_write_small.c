/* SPDX-License-Identifier: MIT */
/* misuse: write to the first 16 bytes of a freed 32-byte block, then malloc twice */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void)
{
	/* The first words of a free block are where most allocators keep
	 * their freelist link: the second malloc may hand out 0x4141... */
	char *volatile p = malloc(32);
	free(p);
	memset(p, 0x41, 16);
	char *volatile a = malloc(32);
	char *volatile b = malloc(32);
	memset(a, 0x5a, 32);
	memset(b, 0x5a, 32);
	free(a);
	free(b);
	puts("UNDETECTED");
	return 0;
}
