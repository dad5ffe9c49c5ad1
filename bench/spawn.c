/* SPDX-License-Identifier: MIT */
/*
 * spawn.c - run one program; report its wall time, peak RSS and how it ended.
 *
 * Owns the measurement of one benchmark process for bench/compare.  The
 * kernel carries a process's peak RSS across exec, so a program started
 * straight from Python reports at least the Python interpreter's RSS as its
 * ru_maxrss.  This small program forks afresh, so the floor is its own RSS
 * (about a megabyte); it sets LD_PRELOAD for the child only, so the
 * allocator under test never runs in here.
 *
 *	usage: spawn [-p PRELOAD] -o REPORT -- PROGRAM [ARG]...
 *
 * REPORT gets one line: status=exit|signal code=N wall_s=S maxrss_kib=K
 * minflt=F (the child's minor page faults).
 * spawn exits with the child's status, or 128 + the signal that ended it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* What the child exits with when exec itself fails, as the shells do. */
#define EXIT_EXEC_FAILED 127

struct run {
	int           status;
	double        wall_s;
	struct rusage usage;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void child(const char *preload, char **argv)
{
	if (preload)
		setenv("LD_PRELOAD", preload, 1);
	else
		unsetenv("LD_PRELOAD");
	execvp(argv[0], argv);
	fprintf(stderr, "spawn: cannot run %s: %s\n", argv[0], strerror(errno));
	_exit(EXIT_EXEC_FAILED);
}

static int run_child(const char *preload, char **argv, struct run *r)
{
	double start = now();
	pid_t  pid = fork();

	if (pid < 0)
		return -1;
	if (pid == 0)
		child(preload, argv);
	while (wait4(pid, &r->status, 0, &r->usage) < 0)
		if (errno != EINTR)
			return -1;
	r->wall_s = now() - start;
	return 0;
}

static int write_report(const char *path, const struct run *r)
{
	FILE *f = fopen(path, "w");
	int   signalled = WIFSIGNALED(r->status);

	if (f == NULL)
		return -1;
	fprintf(f, "status=%s code=%d wall_s=%.6f maxrss_kib=%ld minflt=%ld\n",
	        signalled ? "signal" : "exit",
	        signalled ? WTERMSIG(r->status) : WEXITSTATUS(r->status), r->wall_s,
	        r->usage.ru_maxrss, r->usage.ru_minflt);
	return fclose(f);
}

int main(int argc, char **argv)
{
	const char *preload = NULL, *report = NULL;
	struct run  r;
	int         opt;

	while ((opt = getopt(argc, argv, "+p:o:")) != -1) {
		if (opt == 'p')
			preload = optarg;
		else if (opt == 'o')
			report = optarg;
		else
			return 2;
	}
	if (report == NULL || optind >= argc) {
		fprintf(stderr, "usage: spawn [-p PRELOAD] -o REPORT -- "
		                "PROGRAM [ARG]...\n");
		return 2;
	}
	if (run_child(preload, argv + optind, &r) != 0) {
		perror("spawn");
		return EXIT_EXEC_FAILED;
	}
	if (write_report(report, &r) != 0) {
		perror("spawn: report");
		return 2;
	}
	if (WIFSIGNALED(r.status))
		return 128 + WTERMSIG(r.status);
	return WEXITSTATUS(r.status);
}
