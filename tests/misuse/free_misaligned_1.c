/* SPDX-License-Identifier: MIT */
/* misuse: free of p+1 */
#include <stdio.h>
#include <stdlib.h>

int main(void)
{
	char *volatile p = malloc(64);
	free(p + 1);
	puts("UNDETECTED");
	return 0;
}
