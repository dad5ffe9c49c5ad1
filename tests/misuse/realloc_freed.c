/* SPDX-License-Identifier: MIT */
/* misuse: realloc of a freed pointer */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void)
{
	char *volatile p = malloc(32);
	free(p);
	char *volatile q = realloc(p, 64);
	if (q)
		memset(q, 0x5a, 64);
	free(q);
	puts("UNDETECTED");
	return 0;
}
