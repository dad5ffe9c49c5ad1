/* SPDX-License-Identifier: MIT */
/* Run by test_robust with strata preloaded: frees 48 MiB, then stays idle
 * (no allocator call) for 1.5 s and prints the dirty bytes strata still
 * holds, on stderr: with STRATA_BACKGROUND=1 the decay thread should have returned
 * them; without it nothing runs the decay while the program is idle. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "strata.h"

int main(void)
{
	enum { N = 768 };
	static char *p[N];
	for (int i = 0; i < N; i++) {
		p[i] = malloc(64 << 10);
		memset(p[i], 1, 64 << 10);
	}
	for (int i = 0; i < N; i++)
		free(p[i]);
	struct timespec ts = { 1, 500000000 };
	nanosleep(&ts, NULL);
	int (*get)(struct strata_stats *) = (int (*)(struct strata_stats *))dlsym(
	        RTLD_DEFAULT, "strata_stats_get");
	struct strata_stats st = { .struct_size = sizeof(st) };
	if (!get || get(&st) != 0)
		return 2;
	fprintf(stderr, "%zu\n", st.dirty_bytes >> 10);
	return 0;
}
