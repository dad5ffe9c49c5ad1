/* SPDX-License-Identifier: MIT */
/* misuse: double free of a 16 KiB block */
#include <stdio.h>
#include <stdlib.h>

#define SIZE (16 << 10)

int main(void)
{
	char *volatile p = malloc(SIZE);
	free(p);
	free(p);
	puts("UNDETECTED");
	return 0;
}
