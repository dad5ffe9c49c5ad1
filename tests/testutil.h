/* SPDX-License-Identifier: MIT */
/*
 * testutil.h - helpers shared by strata's tests: running a function in a
 * child process with its stderr captured, and reading the resident set.
 */
#ifndef STRATA_TESTUTIL_H
#define STRATA_TESTUTIL_H

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

struct child_result {
	int  status;    /* as from waitpid */
	char err[4096]; /* what the child wrote on stderr */
};

/* Run fn(arg) in a child with stderr on a pipe; the child gets `seconds` to
 * finish (SIGALRM ends a hang).  The child exits 0 if fn returns. */
static inline void run_child(void (*fn)(void *), void *arg, unsigned seconds,
                             struct child_result *res)
{
	int fds[2];
	memset(res, 0, sizeof(*res));
	if (pipe(fds) != 0)
		abort();
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		close(fds[0]);
		dup2(fds[1], STDERR_FILENO);
		alarm(seconds);
		fn(arg);
		_exit(0);
	}
	close(fds[1]);
	size_t  len = 0;
	ssize_t n;
	while ((n = read(fds[0], res->err + len, sizeof(res->err) - 1 - len)) > 0)
		len += (size_t)n;
	res->err[len] = '\0';
	close(fds[0]);
	waitpid(pid, &res->status, 0);
}

struct exec_args {
	char *const *argv;
	char *const *envp;
};

static inline void exec_program(void *arg)
{
	const struct exec_args *e = arg;
	execve(e->argv[0], e->argv, e->envp);
	_exit(127);
}

/* Run program argv[0] with environment envp, stderr captured in res, as
 * run_child does (the alarm survives execve). */
static inline void spawn_child(char *const argv[], char *const envp[], unsigned seconds,
                               struct child_result *res)
{
	struct exec_args e = { argv, envp };
	run_child(exec_program, &e, seconds, res);
}

static inline int child_signal(const struct child_result *r)
{
	return WIFSIGNALED(r->status) ? WTERMSIG(r->status) : 0;
}

/* Resident set size of this process, in bytes. */
static inline size_t rss_bytes(void)
{
	FILE         *f = fopen("/proc/self/statm", "r");
	unsigned long size = 0, resident = 0;
	if (f) {
		if (fscanf(f, "%lu %lu", &size, &resident) != 2)
			resident = 0;
		fclose(f);
	}
	return resident * (size_t)sysconf(_SC_PAGESIZE);
}

#endif
