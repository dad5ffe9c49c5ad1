/* SPDX-License-Identifier: MIT */
/* misuse: memcpy 512 KiB + one byte into a 512 KiB block (one byte past its end), then free it */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIZE (512 << 10)

static char src[SIZE + 1];

int main(void)
{
	char *volatile p = malloc(SIZE);
	memset(src, 0x41, sizeof(src));
	memcpy(p, src, sizeof(src));
	free(p);
	puts("UNDETECTED");
	return 0;
}
