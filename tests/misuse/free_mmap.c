/* SPDX-License-Identifier: MIT */
/* misuse: free of a page from mmap, never from malloc */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

int main(void)
{
	char *volatile p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
	                        0);
	if (p == MAP_FAILED)
		return 2;
	free(p);
	puts("UNDETECTED");
	return 0;
}
