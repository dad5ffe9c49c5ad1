/* SPDX-License-Identifier: MIT */
/* misuse: write through a pointer to a 512 KiB block freed before the next malloc of its size (which may hand the block out again) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIZE (512 << 10)

int main(void)
{
	/* If q is p's block, the write lands in a live block: only an
	 * allocator that did not hand p's block out again at once (and
	 * checks or protects it) can stop it.  The line before
	 * UNDETECTED says what became of q. */
	char *volatile p = malloc(SIZE);
	free(p);
	char *volatile q = malloc(SIZE);
	memset(q, 0x5a, SIZE);
	memset(p, 0x41, 16);
	int changed = 0;
	for (size_t i = 0; i < SIZE; i++)
		changed |= q[i] != 0x5a;
	printf("%s, q %s\n", q == p ? "same block" : "another block",
	       changed ? "changed" : "intact");
	free(q);
	puts("UNDETECTED");
	return 0;
}
