/* SPDX-License-Identifier: MIT */
/*
 * pair.c - N malloc+free pairs in a tight loop, for callgrind.
 *
 * Owns the instruction-count measurement: bench/compare runs it under
 * callgrind with two values of N and divides the difference in instructions
 * by the difference in N, which cancels the start-up (dynamic loading, the
 * allocator's first-call set-up) and leaves the cost of one pair, loop
 * included.  Patterns:
 *
 *	pair     malloc(SIZE) then free it, N times
 *	hot      4 mallocs of SIZE, then their 4 frees, N/4 times
 *	batch    1000 mallocs of SIZE, then their 1000 frees, N/1000 times
 *	random   as hot, with sizes from 16 to SIZE (uniform, a cheap LCG)
 *
 *	usage: pair N SIZE [pair|hot|batch|random]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HOT_LIVE 4
#define BATCH    1000

static void *escape(void *p)
{
	__asm__ volatile("" : : "g"(p) : "memory");
	return p;
}

static void run_pair(long n, size_t size)
{
	for (long i = 0; i < n; i++)
		free(escape(malloc(size)));
}

/* n/batch rounds of batch mallocs, then their frees; size 0: random
 * sizes from 16 to max. */
static void run_rounds(long n, int batch, size_t size, size_t max)
{
	static void *ptrs[BATCH];
	unsigned     x = 12345;
	for (long r = 0; r < n / batch; r++) {
		for (int i = 0; i < batch; i++) {
			size_t s = size;
			if (s == 0) {
				x = x * 1103515245u + 12345u;
				s = 16 + (x >> 8) % (max - 15);
			}
			ptrs[i] = escape(malloc(s));
		}
		for (int i = 0; i < batch; i++)
			free(ptrs[i]);
	}
}

int main(int argc, char **argv)
{
	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: %s N SIZE [pair|hot|batch|random]\n", argv[0]);
		return 2;
	}
	long        n = strtol(argv[1], NULL, 0);
	size_t      size = (size_t)strtoul(argv[2], NULL, 0);
	const char *pattern = argc == 4 ? argv[3] : "pair";

	if (strcmp(pattern, "pair") == 0)
		run_pair(n, size);
	else if (strcmp(pattern, "hot") == 0)
		run_rounds(n, HOT_LIVE, size, 0);
	else if (strcmp(pattern, "batch") == 0)
		run_rounds(n, BATCH, size, 0);
	else if (strcmp(pattern, "random") == 0 && size > 16)
		run_rounds(n, HOT_LIVE, 0, size);
	else {
		fprintf(stderr, "%s: unknown pattern %s (or SIZE <= 16 for random)\n", argv[0],
		        pattern);
		return 2;
	}
	return 0;
}
