/* SPDX-License-Identifier: MIT */
/*
 * control_child.c - a program for tests/control.sh, run with strata
 * preloaded and STRATA_CONTROL=1: it keeps blocks from leak_before() and
 * waits; SIGUSR1 makes it keep blocks from leak_after(), SIGUSR2 fork a
 * child that waits the same way, SIGHUP fork a child that exits at once
 * (before strata has made it a socket of its own), SIGTERM return from
 * main (so exit runs strata's destructor).  It says what it did on stdout
 * ("ready PID", "after", "child PID", "reaped") and ends by itself after
 * argv[1] seconds.
 * SIGPIPE keeps its default action: a reply strata sends to a client that
 * hung up must not kill it.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#define BEFORE_BLOCKS 20
#define BEFORE_SIZE   3000
#define AFTER_BLOCKS  30
#define AFTER_SIZE    5000

#define MAX_KEPT (BEFORE_BLOCKS + AFTER_BLOCKS)

static void                 *kept[MAX_KEPT];
static int                   nkept;
static volatile sig_atomic_t want_after, want_fork, want_quick, stop;

static void on_signal(int sig)
{
	if (sig == SIGUSR1)
		want_after = 1;
	else if (sig == SIGUSR2)
		want_fork = 1;
	else if (sig == SIGHUP)
		want_quick = 1;
	else
		stop = 1;
}

/* Inlined, so that the call to malloc sits in leak_before or leak_after
 * and their frames stay (no tail call). */
static inline __attribute__((always_inline)) void keep(int n, size_t size)
{
	for (int i = 0; i < n && nkept < MAX_KEPT; i++) {
		kept[nkept] = malloc(size);
		if (kept[nkept] == NULL)
			exit(3);
		memset(kept[nkept++], 1, size);
	}
}

__attribute__((noinline)) void leak_before(void)
{
	keep(BEFORE_BLOCKS, BEFORE_SIZE);
}

__attribute__((noinline)) void leak_after(void)
{
	keep(AFTER_BLOCKS, AFTER_SIZE);
}

static void say(const char *what, int pid)
{
	char line[64];
	int  n = snprintf(line, sizeof(line), pid ? "%s %d\n" : "%s\n", what, pid);
	if (write(STDOUT_FILENO, line, (size_t)n) != n)
		exit(4);
}

int main(int argc, char **argv)
{
	int              seconds = argc > 1 ? atoi(argv[1]) : 60;
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGUSR2, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	leak_before();
	say("ready", (int)getpid());
	struct timespec tick = { 0, 10 * 1000 * 1000 };
	for (long t = 0; !stop && t < seconds * 100L; t++) {
		nanosleep(&tick, NULL);
		if (want_after) {
			want_after = 0;
			leak_after();
			say("after", 0);
		}
		if (want_fork) {
			want_fork = 0;
			pid_t pid = fork();
			if (pid == 0)
				say("child", (int)getpid());
			else if (pid < 0)
				return 5;
		}
		if (want_quick) {
			want_quick = 0;
			pid_t pid = fork();
			if (pid == 0)
				exit(0);
			if (pid < 0 || waitpid(pid, NULL, 0) != pid)
				return 6;
			say("reaped", 0);
		}
	}
	return 0;
}
