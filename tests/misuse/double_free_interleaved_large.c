/* SPDX-License-Identifier: MIT */
/* misuse: double free of a 512 KiB block with another free in between: free(a); free(b); free(a) */
#include <stdio.h>
#include <stdlib.h>

#define SIZE (512 << 10)

int main(void)
{
	char *volatile a = malloc(SIZE);
	char *volatile b = malloc(SIZE);
	free(a);
	free(b);
	free(a);
	puts("UNDETECTED");
	return 0;
}
