/* SPDX-License-Identifier: MIT */
/* misuse: free of a pointer 16 bytes into a 64-byte block */
#include <stdio.h>
#include <stdlib.h>

int main(void)
{
	char *volatile p = malloc(64);
	free(p + 16);
	puts("UNDETECTED");
	return 0;
}
