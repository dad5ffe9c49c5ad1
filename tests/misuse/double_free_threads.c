/* SPDX-License-Identifier: MIT */
/* misuse: double free from two threads: thread A frees p, then thread B frees p */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static void *do_free(void *p)
{
	free(p);
	return NULL;
}

int main(void)
{
	/* Joined in turn, so each free lands in a different thread's cache:
	 * a check local to one thread's cache sees each free only once. */
	char *volatile p = malloc(48);
	pthread_t a, b;
	pthread_create(&a, NULL, do_free, p);
	pthread_join(a, NULL);
	pthread_create(&b, NULL, do_free, p);
	pthread_join(b, NULL);
	puts("UNDETECTED");
	return 0;
}
