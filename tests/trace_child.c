/* SPDX-License-Identifier: MIT */
/*
 * trace_child.c - a program whose heap has a shape to draw, for
 * tests/plot.sh (STRATA_TRACE_FILE, tools/strata-plot) and
 * tests/symbolize.sh (names from debug information): over argv[1]
 * seconds it keeps sessions (leak_sessions, 20 KB each), builds and
 * drops caches of small objects (churn), keeps large buffers
 * (leak_buffers, 256 KiB each) and frees every other one, so that the
 * trace shows growth, slack, free pages and two call sites that grow.
 * With argv[2] "wait" it then says "ready PID" and waits for SIGTERM,
 * the blocks still live, for strata-ctl.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define STEPS         50
#define SESSION_SIZE  20000
#define BUFFER_SIZE   (256 * 1024)
#define CHURN_OBJECTS 4000
#define MAX_KEPT      (2 * STEPS)

static void *sessions[MAX_KEPT], *buffers[MAX_KEPT];
static int   nsessions, nbuffers;

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

/* Inlined, so that the call to malloc sits in the function that keeps
 * the block. */
static inline __attribute__((always_inline)) void *filled(size_t size)
{
	void *p = malloc(size);
	if (p == NULL)
		exit(3);
	memset(p, 0x5a, size);
	return p;
}

__attribute__((noinline)) void leak_sessions(int n)
{
	for (int i = 0; i < n && nsessions < MAX_KEPT; i++)
		sessions[nsessions++] = filled(SESSION_SIZE);
}

__attribute__((noinline)) void leak_buffers(int n)
{
	for (int i = 0; i < n && nbuffers < MAX_KEPT; i++)
		buffers[nbuffers++] = filled(BUFFER_SIZE);
}

/* Small objects of mixed sizes, every other one kept until the next
 * step: slabs half full. */
__attribute__((noinline)) void churn(int step)
{
	static void *objects[CHURN_OBJECTS];
	for (int i = 1; i < CHURN_OBJECTS; i += 2)
		free(objects[i]);
	for (int i = 0; i < CHURN_OBJECTS; i++)
		objects[i] = filled((size_t)(16 + (i * 37 + step * 11) % 1500));
	for (int i = 0; i < CHURN_OBJECTS; i += 2)
		free(objects[i]);
}

int main(int argc, char **argv)
{
	int             seconds = argc > 1 ? atoi(argv[1]) : 5;
	struct timespec pause = { 0, seconds * 1000000000L / STEPS };
	signal(SIGTERM, on_term);
	for (int step = 0; step < STEPS; step++) {
		leak_sessions(2);
		if (step % 3 == 0)
			leak_buffers(2);
		if (step % 10 == 5)
			for (int i = 0; i < nbuffers; i += 2)
				free(buffers[i]), buffers[i] = NULL;
		churn(step);
		nanosleep(&pause, NULL);
	}
	if (argc > 2 && strcmp(argv[2], "wait") == 0) {
		printf("ready %d\n", (int)getpid());
		fflush(stdout);
		while (!stop)
			sleep(1);
	}
	return 0;
}
