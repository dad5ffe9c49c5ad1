/* SPDX-License-Identifier: MIT */
/* misuse: malloc_usable_size of a stack address */
#include <malloc.h>
#include <stdio.h>

int main(void)
{
	char buf[64] = { 0 };
	char *volatile p = buf + 16;
	size_t n = malloc_usable_size(p);
	printf("UNDETECTED usable=%zu\n", n);
	return 0;
}
