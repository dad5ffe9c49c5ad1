/* SPDX-License-Identifier: MIT */
/*
 * control.c - the control socket: a running process's heap looked into
 * from outside, without a restart (STRATA_CONTROL=1, tools/strata-ctl).
 *
 * Owns the socket's place and permissions, the thread that serves it, and
 * the request line and its commands.  The reports themselves are
 * report.c's, profile.c's, heapmap.c's and leak.c's, written to a
 * descriptor as they are for a file.
 *
 * One unix stream socket per process, $XDG_RUNTIME_DIR/strata/PID.sock
 * (when that directory is the user's own), else /tmp/strata-UID/PID.sock.
 * The directory is made mode 0700 and used only while it is ours and shut
 * to everyone else; the socket is mode 0600, and a peer of another uid
 * (SO_PEERCRED) is refused all the same, root included.
 *
 * A connection carries one request, one line of at most
 * CONTROL_REQUEST_MAX bytes, and one reply, then it is closed: the reply
 * is the command's output, or a single line "error: ..." (a bad, unknown
 * or oversized request, a request that did not come within
 * CONTROL_REQUEST_MS, a refused peer).  The thread serves one client at a
 * time, so a client that sends nothing holds up the next for at most
 * CONTROL_REQUEST_MS, and one that stops reading for at most
 * CONTROL_SEND_TIMEOUT_S per blocked send.
 *
 * A reply is written to a memory file (the spool) first, then sent with
 * MSG_NOSIGNAL: the report writers stay as they are, no strata lock is
 * held while a slow client reads, and a client that hangs up costs an
 * EPIPE here, never a SIGPIPE to the program.  The thread is strata's
 * (leak_thread_start), with every signal blocked so that the
 * program's handlers never run on it, and with leak recording paused, so
 * what it allocates is not reported as the program's.
 *
 * Threads are created only once libc can (strata's constructor; start-up
 * may run before that).  A child of fork gets a thread and a socket of its
 * own, made CONTROL_CHILD_DELAY_MS after the fork: a child that runs exec
 * at once (a shell's) leaves no socket file behind.  The file is removed
 * at exit by the process that made it, never by a child.
 */
#include "control.h"
#include "arena.h"
#include "heapmap.h"
#include "leak.h"
#include "options.h"
#include "os.h"
#include "profile.h"
#include "report.h"
#include "sample.h"
#include "stats.h"
#include "strata.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* The longest request line, without its newline: the longest real one,
 * "leaks since " and a 20-digit mark, is far shorter. */
#define CONTROL_REQUEST_MAX 256
/* A client has this long to send its request, from its connection: one
 * that sends nothing holds up the next client no longer. */
#define CONTROL_REQUEST_MS 1000
/* A send blocked this long (a client that stopped reading) ends the reply. */
#define CONTROL_SEND_TIMEOUT_S 5
/* A forked child waits this long before it makes its socket: a shell's
 * child runs exec within a few milliseconds, and exec would leave the
 * file behind (no destructor runs). */
#define CONTROL_CHILD_DELAY_MS 200
/* After a failed accept (out of descriptors), wait before the next. */
#define CONTROL_RETRY_MS 100
/* Clients that may wait while one is served; past that, connect fails
 * (EAGAIN) until the queue moves. */
#define CONTROL_BACKLOG 16
/* An error line, without "error: " and its newline. */
#define CONTROL_ERROR_MAX 200
/* The spool is sent in pieces of this size. */
#define CONTROL_CHUNK 4096

#define SUN_PATH_MAX sizeof(((struct sockaddr_un *)0)->sun_path)

static int libc_ready;  /* strata's constructor has run */
static int started;     /* a control thread runs in this process */
static int child_delay; /* this process is a child of fork */
static int warned;      /* the socket could not be made: said once */

/* The socket, published once it listens.  A child of fork inherits these:
 * owner, the pid that made the file, tells it the file is not its own. */
static int   listen_fd = -1;
static dev_t listen_dev;
static ino_t listen_ino;
static pid_t owner;
static char  sock_path[SUN_PATH_MAX];

__attribute__((format(printf, 2, 3))) static bool refuse(char *err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, CONTROL_ERROR_MAX, fmt, ap);
	va_end(ap);
	return false;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* ------------------------------------------------------------------------
 * Where the socket lives
 * ---------------------------------------------------------------------- */

/* $XDG_RUNTIME_DIR, if it is a directory of this user's that the user may
 * write (what the XDG spec promises, checked). */
static bool runtime_dir_usable(const char *dir)
{
	struct stat st;
	return dir != NULL && dir[0] == '/' && stat(dir, &st) == 0 && S_ISDIR(st.st_mode)
	       && st.st_uid == geteuid() && (st.st_mode & S_IRWXU) == S_IRWXU;
}

/* The directory and the socket's path in it; false if the path is too
 * long for a socket address. */
static bool path_in(const char *dir_fmt, const char *base, char *dir, char *path)
{
	int n = snprintf(dir, SUN_PATH_MAX, dir_fmt, base, (unsigned)geteuid());
	int m = snprintf(path, SUN_PATH_MAX, "%s/%d.sock", dir, (int)getpid());
	return n > 0 && (size_t)n < SUN_PATH_MAX && m > 0 && (size_t)m < SUN_PATH_MAX;
}

/* $XDG_RUNTIME_DIR as it was when strata started its thread: read then,
 * by the thread that starts it, since a program may rewrite its
 * environment once main runs (redis-server moves it for its process
 * title) while strata's thread would be reading it. */
static char runtime_dir[SUN_PATH_MAX];

static void control_runtime_dir_save(void)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	runtime_dir[0] = '\0';
	if (xdg != NULL && strlen(xdg) < sizeof(runtime_dir))
		memcpy(runtime_dir, xdg, strlen(xdg) + 1);
}

static bool control_path(char *dir, char *path)
{
	if (runtime_dir_usable(runtime_dir) && path_in("%s/strata", runtime_dir, dir, path))
		return true;
	return path_in("%s/strata-%u", "/tmp", dir, path);
}

/* Make the directory if it is missing; NULL if it is fit for the socket,
 * else why not.  Only its owner may enter it: what is inside is reached by
 * no one else, whatever the socket's own mode. */
static const char *dir_private(const char *dir)
{
	struct stat st;
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return "cannot be created";
	if (lstat(dir, &st) != 0)
		return "cannot be read";
	if (!S_ISDIR(st.st_mode))
		return "is not a directory";
	if (st.st_uid != geteuid())
		return "belongs to another user";
	if (st.st_mode & (S_IRWXG | S_IRWXO))
		return "is open to group or others";
	return NULL;
}

/* ------------------------------------------------------------------------
 * The listening socket
 * ---------------------------------------------------------------------- */
static void publish(int fd, const char *path)
{
	struct stat st;
	fstat(fd, &st);
	listen_dev = st.st_dev;
	listen_ino = st.st_ino;
	memcpy(sock_path, path, SUN_PATH_MAX);
	__atomic_store_n(&owner, getpid(), __ATOMIC_RELEASE);
	__atomic_store_n(&listen_fd, fd, __ATOMIC_RELEASE);
}

/* Bind and listen at addr; false (errno set) on failure.  A file at the
 * path is a socket an earlier image of this pid left (exec, or a death by
 * signal), in a directory no one else may write: it goes. */
static bool bind_listen(int fd, const struct sockaddr_un *addr)
{
	unlink(addr->sun_path);
	if (bind(fd, (const struct sockaddr *)addr, sizeof(*addr)) != 0)
		return false;
	if (chmod(addr->sun_path, 0600) == 0 && listen(fd, CONTROL_BACKLOG) == 0)
		return true;
	int saved = errno;
	unlink(addr->sun_path);
	errno = saved;
	return false;
}

static void warn_once(const char *what, const char *path, const char *why)
{
	if (!__atomic_exchange_n(&warned, 1, __ATOMIC_RELAXED))
		_strata_warn("control socket off: %s %s %s", what, path, why);
}

/* The socket, listening; -1 (said once) if it cannot be made. */
static int control_listen(void)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	char               dir[SUN_PATH_MAX];
	if (!control_path(dir, addr.sun_path)) {
		warn_once("the path in", dir, "is too long for a socket");
		return -1;
	}
	const char *why = dir_private(dir);
	if (why != NULL) {
		warn_once("the directory", dir, why);
		return -1;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || !bind_listen(fd, &addr)) {
		warn_once("cannot listen at", addr.sun_path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	publish(fd, addr.sun_path);
	return fd;
}

/* Is fd still the socket made here?  A program may close descriptors it
 * does not know (a daemon's closefrom), and the number may then be one of
 * its own: that is not accepted on. */
static bool still_ours(int fd)
{
	struct stat st;
	return fstat(fd, &st) == 0 && st.st_dev == listen_dev && st.st_ino == listen_ino;
}

/* ------------------------------------------------------------------------
 * Requests and replies
 * ---------------------------------------------------------------------- */

/* Up to room bytes of the request, once the client sends them: the bytes
 * read, 0 at the end of its stream, or -1 with errno (ETIMEDOUT past the
 * deadline). */
static ssize_t request_recv(int c, char *buf, size_t room, uint64_t deadline)
{
	for (;;) {
		uint64_t      now = os_now_ms();
		struct pollfd p = { .fd = c, .events = POLLIN };
		int           r = now < deadline ? poll(&p, 1, (int)(deadline - now)) : 0;
		if (r == 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		ssize_t n = r > 0 ? recv(c, buf, room, MSG_DONTWAIT) : -1;
		if (n >= 0 || (errno != EINTR && errno != EAGAIN))
			return n;
	}
}

/* The request line into line (CONTROL_REQUEST_MAX + 2 bytes), without
 * its newline; false with the reason in err.  The client has
 * CONTROL_REQUEST_MS from now for all of it; no byte past the limit is
 * read. */
static bool request_read(int c, char *line, char *err)
{
	uint64_t deadline = os_now_ms() + CONTROL_REQUEST_MS;
	size_t   len = 0;
	char    *nl;
	while ((nl = memchr(line, '\n', len)) == NULL) {
		if (len > CONTROL_REQUEST_MAX)
			return refuse(err, "request longer than %d bytes", CONTROL_REQUEST_MAX);
		ssize_t n = request_recv(c, line + len, CONTROL_REQUEST_MAX + 1 - len, deadline);
		if (n < 0 && errno == ETIMEDOUT)
			return refuse(err, "no request line within %d ms", CONTROL_REQUEST_MS);
		if (n < 0)
			return refuse(err, "cannot read the request: %s", strerror(errno));
		if (n == 0) { /* the client closed: its last line needs no newline */
			line[len] = '\0';
			return len > 0 || refuse(err, "empty request");
		}
		len += (size_t)n;
	}
	*nl = '\0';
	return true;
}

/* Printable ASCII only: anything else is not a request of ours, and the
 * text may be echoed in an error line. */
static bool request_clean(char *line, char *err)
{
	size_t len = strlen(line);
	if (len > 0 && line[len - 1] == '\r')
		line[--len] = '\0';
	for (size_t i = 0; i < len; i++)
		if (line[i] < 0x20 || line[i] > 0x7e)
			return refuse(err, "malformed request (byte %zu is not printable text)", i);
	return len > 0 || refuse(err, "empty request");
}

/* All of buf to the client.  MSG_NOSIGNAL: a client that hung up gives
 * EPIPE, not a SIGPIPE that would kill the program. */
static bool send_all(int c, const char *buf, size_t len)
{
	for (size_t done = 0; done < len;) {
		ssize_t n = send(c, buf + done, len - done, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		done += (size_t)n;
	}
	return true;
}

static void reply_error(int c, const char *err)
{
	char line[CONTROL_ERROR_MAX + 16];
	int  n = snprintf(line, sizeof(line), "error: %s\n", err);
	send_all(c, line, MIN((size_t)n, sizeof(line) - 1));
}

/* The spool, from its start, to the client. */
static void reply_spool(int c, int spool)
{
	char    buf[CONTROL_CHUNK];
	off_t   off = 0;
	ssize_t n;
	while ((n = pread(spool, buf, sizeof(buf), off)) > 0 && send_all(c, buf, (size_t)n))
		off += n;
}

/* ------------------------------------------------------------------------
 * Commands: each writes its reply to fd, or says why not in err
 * ---------------------------------------------------------------------- */
static bool report_to(int fd, enum strata_format format, char *err)
{
	return report_write(fd, format, STRATA_REPORT_ALL) == 0
	       || refuse(err, "cannot write the report: %s", strerror(errno));
}

static bool cmd_stats(int fd, const char *args, char *err)
{
	(void)args;
	return report_to(fd, STRATA_FORMAT_JSON, err);
}

static bool cmd_report(int fd, const char *args, char *err)
{
	(void)args;
	return report_to(fd, STRATA_FORMAT_TEXT, err);
}

static bool leak_tracking_on(char *err)
{
	return leak_mode() != LEAK_OFF || refuse(err, "leak tracking is off (STRATA_LEAK=off)");
}

static bool cmd_mark(int fd, const char *args, char *err)
{
	(void)args;
	if (!leak_tracking_on(err))
		return false;
	_strata_print(fd, "%llu\n", (unsigned long long)strata_mark());
	return true;
}

/* "" or "since MARK", MARK a decimal number. */
static bool leaks_since(const char *args, uint64_t *since, char *err)
{
	char *end;
	*since = 0;
	if (*args == '\0')
		return true;
	if (strncmp(args, "since ", 6) != 0 || args[6] < '0' || args[6] > '9')
		return refuse(err, "usage: leaks [since MARK]");
	errno = 0;
	*since = strtoull(args + 6, &end, 10);
	return (*end == '\0' && errno == 0) || refuse(err, "usage: leaks [since MARK]");
}

static bool cmd_leaks(int fd, const char *args, char *err)
{
	uint64_t since;
	if (!leaks_since(args, &since, err) || !leak_tracking_on(err))
		return false;
	leak_report(fd, since, 0, leak_mode() != LEAK_FULL);
	return true;
}

static bool cmd_trim(int fd, const char *args, char *err)
{
	(void)args;
	(void)err;
	size_t before = os_rss();
	size_t released = strata_trim();
	_strata_print(fd, "released %zu bytes, rss %zu -> %zu bytes\n", released, before, os_rss());
	return true;
}

static bool cmd_profile(int fd, const char *args, char *err)
{
	(void)args;
	return profile_write(fd) == 0
	       || refuse(err, "cannot write the profile: %s", strerror(errno));
}

static bool cmd_heapmap(int fd, const char *args, char *err)
{
	(void)args;
	if (heapmap_write(fd, 0, 0) != 0)
		return refuse(err, "cannot write the heap map: %s", strerror(errno));
	_strata_print(fd, "\n");
	return true;
}

static bool cmd_help(int fd, const char *args, char *err);

static const struct command {
	const char *name;
	const char *usage; /* its arguments; NULL: it takes none */
	const char *doc;
	bool (*run)(int fd, const char *args, char *err);
} commands[] = {
	{ "stats", NULL, "the report as JSON (STRATA_REPORT=json)", cmd_stats },
	{ "report", NULL, "the report as text (STRATA_REPORT=text)", cmd_report },
	{ "mark", NULL, "a new mark (strata_mark): its number", cmd_mark },
	{ "leaks", "[since MARK]", "live blocks by call stack, all or allocated since MARK",
	  cmd_leaks },
	{ "trim", NULL, "give free memory back (strata_trim): bytes released, rss before and after",
	  cmd_trim },
	{ "profile", NULL, "the heap profile for google-pprof (gperftools' format)", cmd_profile },
	{ "heapmap", NULL, "every arena's regions as runs of pages by state, JSON", cmd_heapmap },
	{ "help", NULL, "this list", cmd_help },
};
#define NUM_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static bool cmd_help(int fd, const char *args, char *err)
{
	(void)args;
	(void)err;
	char synopsis[64];
	for (size_t i = 0; i < NUM_COMMANDS; i++) {
		const struct command *cmd = &commands[i];
		snprintf(synopsis, sizeof(synopsis), "%s %s", cmd->name,
		         cmd->usage ? cmd->usage : "");
		_strata_print(fd, "  %-20s %s\n", synopsis, cmd->doc);
	}
	return true;
}

/* The command the line names, its arguments in *args. */
static const struct command *command_find(const char *line, const char **args, char *err)
{
	size_t len = strcspn(line, " ");
	*args = line + len + strspn(line + len, " ");
	for (size_t i = 0; i < NUM_COMMANDS; i++) {
		const struct command *cmd = &commands[i];
		if (strlen(cmd->name) != len || strncmp(cmd->name, line, len) != 0)
			continue;
		if (cmd->usage == NULL && **args != '\0') {
			refuse(err, "%s takes no arguments", cmd->name);
			return NULL;
		}
		return cmd;
	}
	refuse(err, "unknown command '%.*s' (try help)", (int)MIN(len, (size_t)32), line);
	return NULL;
}

/* Run the command into a spool and send what it wrote. */
static bool request_run(int c, char *line, char *err)
{
	const char           *args;
	const struct command *cmd = command_find(line, &args, err);
	if (cmd == NULL)
		return false;
	int spool = memfd_create("strata-control", MFD_CLOEXEC);
	if (spool < 0)
		return refuse(err, "cannot make a buffer for the reply: %s", strerror(errno));
	bool ok = cmd->run(spool, args, err);
	if (ok)
		reply_spool(c, spool);
	close(spool);
	return ok;
}

/* ------------------------------------------------------------------------
 * The thread
 * ---------------------------------------------------------------------- */
static bool peer_is_us(int c, char *err)
{
	struct ucred cred;
	socklen_t    len = sizeof(cred);
	if (getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
		return refuse(err, "cannot tell who is asking: %s", strerror(errno));
	if (cred.uid != geteuid())
		return refuse(err, "permission denied: uid %u is not this process's (uid %u)",
		              (unsigned)cred.uid, (unsigned)geteuid());
	return true;
}

static void control_serve(int c)
{
	struct timeval tv = { .tv_sec = CONTROL_SEND_TIMEOUT_S };
	char           line[CONTROL_REQUEST_MAX + 2], err[CONTROL_ERROR_MAX];
	setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (!peer_is_us(c, err) || !request_read(c, line, err) || !request_clean(line, err)
	    || !request_run(c, line, err))
		reply_error(c, err);
}

/* Every signal blocked: the program's handlers run on its own threads. */
static void thread_quiet(void)
{
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	leak_pause(true);
}

static void *control_loop(void *arg)
{
	(void)arg;
	thread_quiet();
	if (child_delay)
		sleep_ms(CONTROL_CHILD_DELAY_MS);
	int fd = control_listen();
	while (fd >= 0 && still_ours(fd)) {
		int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0) {
			if (errno != EINTR && errno != ECONNABORTED)
				sleep_ms(CONTROL_RETRY_MS);
			continue;
		}
		control_serve(c);
		/* shutdown, not only close: a child forked meanwhile holds a
		 * copy of c, which must not keep the client waiting */
		shutdown(c, SHUT_RDWR);
		close(c);
	}
	/* closed under us: the number is the program's now, not to be
	 * closed by a child of fork */
	__atomic_compare_exchange_n(&listen_fd, &fd, -1, false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
	return NULL;
}

void control_start(void)
{
	if (!__atomic_load_n(&libc_ready, __ATOMIC_ACQUIRE) || !_strata_initialized
	    || strata_option(OPT_CONTROL) == 0 || __atomic_load_n(&started, __ATOMIC_ACQUIRE))
		return;
	control_runtime_dir_save();
	leak_thread_start_once(&started, control_loop, "the control socket's thread");
}

void control_libc_ready(void)
{
	__atomic_store_n(&libc_ready, 1, __ATOMIC_RELEASE);
	control_start();
}

/* The parent's socket stays the parent's: its descriptor is closed here
 * (if the number is still the socket's: see still_ours), its file is left
 * alone. */
void control_after_fork_child(void)
{
	int fd = __atomic_exchange_n(&listen_fd, -1, __ATOMIC_ACQ_REL);
	if (fd >= 0 && still_ours(fd))
		close(fd);
	started = 0;
	child_delay = 1;
	control_start();
}

void control_at_exit(void)
{
	if (__atomic_load_n(&owner, __ATOMIC_ACQUIRE) == getpid())
		unlink(sock_path);
}
