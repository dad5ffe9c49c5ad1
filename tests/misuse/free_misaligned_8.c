/* SPDX-License-Identifier: MIT */
/* misuse: free of p+8 */
#include <stdio.h>
#include <stdlib.h>

int main(void)
{
	/* 8-aligned, so it passes a check that only looks at alignment to
	 * sizeof(void *), but not one to the 16-byte minimum. */
	char *volatile p = malloc(64);
	free(p + 8);
	puts("UNDETECTED");
	return 0;
}
