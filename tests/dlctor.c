/* SPDX-License-Identifier: MIT */
/* A library that allocates in its constructor, for the dlopen test. */
#include <stdlib.h>
#include <string.h>

#define N 1000
static char *blocks[N];

__attribute__((constructor)) static void dlctor_init(void)
{
	for (int i = 0; i < N; i++) {
		blocks[i] = malloc((size_t)(i * 37 % 5000) + 1);
		memset(blocks[i], i & 0xff, (size_t)(i * 37 % 5000) + 1);
	}
	for (int i = 0; i < N; i += 2) {
		free(blocks[i]);
		blocks[i] = NULL;
	}
}

/* 0 when every block kept by the constructor is intact. */
int dlctor_check(void)
{
	int bad = 0;
	for (int i = 1; i < N; i += 2)
		for (size_t j = 0; j < (size_t)(i * 37 % 5000) + 1; j++)
			bad += blocks[i][j] != (char)(i & 0xff);
	return bad;
}

void dlctor_release(void)
{
	for (int i = 1; i < N; i += 2)
		free(blocks[i]);
}
