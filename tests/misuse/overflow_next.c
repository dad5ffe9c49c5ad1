/* SPDX-License-Identifier: MIT */
/* misuse: overflow a 32-byte block through to the next block's first word, free both, allocate again */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void)
{
	char *volatile a = malloc(32);
	char *volatile b = malloc(32);
	/* Overflow the lower block of the two up to the higher one's first
	 * word, wherever this allocator put them: side by side (slab) or
	 * with a header in between (glibc).  If they are far apart,
	 * overwrite one header's worth past the lower block instead. */
	char  *lo = a < b ? a : b, *hi = a < b ? b : a;
	size_t gap = (size_t)(hi - lo);
	memset(lo, 0x41, gap <= 256 ? gap + 8 : 48);
	free(lo);
	free(hi);
	char *volatile c = malloc(32);
	char *volatile d = malloc(32);
	memset(c, 0x5a, 32);
	memset(d, 0x5a, 32);
	free(c);
	free(d);
	printf("UNDETECTED gap=%zu\n", gap);
	return 0;
}
