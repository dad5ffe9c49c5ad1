/* SPDX-License-Identifier: MIT */
/* misuse: write 8 bytes past a 24-byte block, then free it */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void)
{
	char *volatile p = malloc(24);
	memset(p + 24, 0x41, 8);
	free(p);
	puts("UNDETECTED");
	return 0;
}
