/* SPDX-License-Identifier: MIT */
/* misuse: double free of a 16 MiB block */
#include <stdio.h>
#include <stdlib.h>

int main(void)
{
	char *volatile p = malloc(16 << 20);
	free(p);
	free(p);
	puts("UNDETECTED");
	return 0;
}
