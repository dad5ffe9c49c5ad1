/* SPDX-License-Identifier: MIT */
/* misuse: free of a page-aligned pointer 4 KiB into a 1 MiB block */
#include <stdio.h>
#include <stdlib.h>

int main(void)
{
	/* Page-aligned on purpose: a page-granular allocator can only tell
	 * it from a block start by looking up the block's real start. */
	char *volatile p = malloc(1 << 20);
	free(p + 4096);
	puts("UNDETECTED");
	return 0;
}
