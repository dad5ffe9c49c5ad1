/*
 * pair.c - N malloc+free pairs of one size in a tight loop, for callgrind.
 *
 * Owns the instruction-count measurement: bench/compare runs it under
 * callgrind with two values of N and divides the difference in instructions
 * by the difference in N, which cancels the start-up (dynamic loading, the
 * allocator's first-call set-up) and leaves the cost of one pair.
 *
 *	usage: pair N SIZE
 */
#include <stdio.h>
#include <stdlib.h>

static void *escape(void *p)
{
	__asm__ volatile("" : : "g"(p) : "memory");
	return p;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s N SIZE\n", argv[0]);
		return 2;
	}
	long n = strtol(argv[1], NULL, 0);
	size_t size = (size_t)strtoul(argv[2], NULL, 0);

	for (long i = 0; i < n; i++)
		free(escape(malloc(size)));
	return 0;
}
