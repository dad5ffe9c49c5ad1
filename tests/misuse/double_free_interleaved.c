/* SPDX-License-Identifier: MIT */
/* misuse: double free with another free in between: free(a); free(b); free(a) */
#include <stdio.h>
#include <stdlib.h>

int main(void)
{
	/* b's free moves a off the head of the freelist, so a check of the
	 * head alone (the cheap one) misses the second free(a). */
	char *volatile a = malloc(32);
	char *volatile b = malloc(32);
	free(a);
	free(b);
	free(a);
	puts("UNDETECTED");
	return 0;
}
