/* SPDX-License-Identifier: MIT */
/* misuse: double free of a 64-byte block */
#include <stdio.h>
#include <stdlib.h>

int main(void)
{
	char *volatile p = malloc(64);
	free(p);
	free(p);
	puts("UNDETECTED");
	return 0;
}
