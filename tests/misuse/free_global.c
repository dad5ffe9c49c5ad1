/* SPDX-License-Identifier: MIT */
/* misuse: free of a global array */
#include <stdio.h>
#include <stdlib.h>

char global[64];

int main(void)
{
	char *volatile p = global;
	free(p);
	puts("UNDETECTED");
	return 0;
}
