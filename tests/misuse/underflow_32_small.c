/* SPDX-License-Identifier: MIT */
/* misuse: write the 32 bytes before a 32-byte block, one store a byte, then free it */
#include <stdio.h>
#include <stdlib.h>

#define SIZE 32

int main(void)
{
	char *volatile p = malloc(SIZE);
	for (int i = 1; i <= 32; i++)
		p[-i] = 0x41;
	free(p);
	puts("UNDETECTED");
	return 0;
}
