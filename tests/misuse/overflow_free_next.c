/* SPDX-License-Identifier: MIT */
/* misuse: overflow a 32-byte block into the first word of the freed block after it, then allocate again */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void)
{
	/* The higher block is freed first, so its first word is likely a
	 * freelist link when the overflow lands on it: the next mallocs
	 * follow the forged link unless the allocator checks it. */
	char *volatile a = malloc(32);
	char *volatile b = malloc(32);
	char  *lo = a < b ? a : b, *hi = a < b ? b : a;
	size_t gap = (size_t)(hi - lo);
	free(hi);
	memset(lo, 0x41, gap <= 256 ? gap + 8 : 48);
	char *volatile c = malloc(32);
	char *volatile d = malloc(32);
	memset(c, 0x5a, 32);
	memset(d, 0x5a, 32);
	free(c);
	free(d);
	free(lo);
	printf("UNDETECTED gap=%zu\n", gap);
	return 0;
}
