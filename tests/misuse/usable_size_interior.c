/* SPDX-License-Identifier: MIT */
/* misuse: malloc_usable_size of a pointer 16 bytes into a block */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>

int main(void)
{
	char *volatile p = malloc(64);
	size_t n = malloc_usable_size(p + 16);
	printf("UNDETECTED usable=%zu\n", n);
	return 0;
}
