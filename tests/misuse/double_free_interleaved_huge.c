/* SPDX-License-Identifier: MIT */
/* misuse: double free of an 8 MiB block with another free in between: free(a); free(b); free(a) */
#include <stdio.h>
#include <stdlib.h>

#define SIZE (8 << 20)

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
