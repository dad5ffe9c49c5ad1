/* SPDX-License-Identifier: MIT */
/* misuse: free of a stack address */
#include <stdio.h>
#include <stdlib.h>

int main(void)
{
	char buf[64];
	char *volatile p = buf;
	free(p);
	puts("UNDETECTED");
	return 0;
}
