/* main() of the ThreadSanitizer build of the stress workload. */
#include <stdio.h>
#include <stdlib.h>

#include "stress.h"

int main(int argc, char **argv)
{
	int threads = argc > 1 ? atoi(argv[1]) : 4;
	long ops = argc > 2 ? atol(argv[2]) : 20000;
	long errors = stress_run(threads, ops, 3);
	printf("stress (tsan): %d threads x %ld ops: %ld corrupted blocks\n", threads, ops, errors);
	long handed = stress_handoff(3, 2, 2, ops / 4);
	printf("stress (tsan): hand-off, 3 rounds of 2 producers x %ld blocks: %ld corrupted blocks\n",
	       ops / 4, handed);
	return errors == 0 && handed == 0 ? 0 : 1;
}
