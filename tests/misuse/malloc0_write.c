/* SPDX-License-Identifier: MIT */
/* misuse: write 8 bytes through the pointer malloc(0) returned, then free it */
#include <stdio.h>
#include <stdlib.h>

int main(void)
{
	char *volatile p = malloc(0);
	if (p == NULL) {
		puts("malloc(0) returned NULL: nothing to write");
		return 0;
	}
	for (int i = 0; i < 8; i++)
		p[i] = 0x41;
	free(p);
	puts("UNDETECTED");
	return 0;
}
