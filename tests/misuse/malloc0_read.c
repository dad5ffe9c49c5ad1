/* SPDX-License-Identifier: MIT */
/* misuse: read 8 bytes through the pointer malloc(0) returned, then free it */
#include <stdio.h>
#include <stdlib.h>

int main(void)
{
	char *volatile p = malloc(0);
	if (p == NULL) {
		puts("malloc(0) returned NULL: nothing to read");
		return 0;
	}
	volatile unsigned sum = 0;
	for (int i = 0; i < 8; i++)
		sum += (unsigned char)p[i];
	free(p);
	puts("UNDETECTED");
	return 0;
}
