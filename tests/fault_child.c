/* SPDX-License-Identifier: MIT */
/* Run with STRATA_FAULT_MMAP=n by tests/test_faults.c: every allocation
 * that needs a new mapping fails from the n-th mapping on.  Each call must
 * fail cleanly (NULL, errno ENOMEM) and everything that did succeed must
 * stay intact and freeable.  Exit 0 when so. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N 400

int main(void)
{
	static const size_t sizes[] = { 24, 700, 9000, 40000, 300000, 3 << 20, 12 << 20, 64 << 20 };
	static unsigned char *p[N];
	static size_t         len[N];
	int                   failed = 0, ok = 0;
	for (int i = 0; i < N; i++) {
		len[i] = sizes[i % 8] + (size_t)i;
		errno = 0;
		p[i] = malloc(len[i]);
		if (p[i] == NULL) {
			if (errno != ENOMEM) {
				fprintf(stderr, "fault_child: malloc(%zu) NULL with errno %d\n",
				        len[i], errno);
				return 1;
			}
			failed++;
			continue;
		}
		memset(p[i], i & 0xff, len[i]);
		ok++;
	}
	for (int i = 0; i < N; i++) {
		if (p[i] == NULL)
			continue;
		for (size_t j = 0; j < len[i]; j += 4093)
			if (p[i][j] != (unsigned char)(i & 0xff)) {
				fprintf(stderr, "fault_child: block %d corrupted\n", i);
				return 1;
			}
		unsigned char *q = realloc(p[i], len[i] * 2);
		if (q)
			p[i] = q;
		else if (errno != ENOMEM)
			return 1;
		free(p[i]);
	}
	void *again = malloc(100); /* small blocks from the slabs kept */
	free(again);
	printf("fault_child: %d allocations, %d failed cleanly\n", ok, failed);
	return 0;
}
