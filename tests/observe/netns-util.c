/* SPDX-License-Identifier: MIT */
/* Shared by the observer's namespace programs: see netns-util.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "netns-util.h"

static pid_t children[16];
static size_t n_children;
static pid_t owner;
static const char *prog = "observe";
static void (*extra_cleanup)(void);

static void cleanup(void)
{
	if (getpid() != owner)
		return;
	for (size_t i = 0; i < n_children; i++) {
		kill(children[i], SIGKILL);
		while (waitpid(children[i], NULL, 0) < 0 && errno == EINTR)
			;
	}
	n_children = 0;
	if (extra_cleanup)
		extra_cleanup();
}

void ns_init(const char *name, void (*more_cleanup)(void))
{
	prog = name;
	owner = getpid();
	extra_cleanup = more_cleanup;
	atexit(cleanup);
	if (geteuid() != 0)
		ns_skip("needs root (network namespaces, packet capture)");
	if (ns_run(-1, (const char *const[]){"ip", "-V", NULL}) != 0)
		ns_skip("no ip(8)");
}

_Noreturn void ns_fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "%s: FAIL: ", prog);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

_Noreturn void ns_skip(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "%s: SKIP: ", prog);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(NS_SKIP);
}

uint64_t ns_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

void ns_sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

pid_t ns_fork(void)
{
	pid_t pid;

	pid_t parent = getpid();

	check(n_children < sizeof(children) / sizeof(children[0]), "too many children");
	fflush(NULL);
	pid = fork();
	check(pid >= 0, "fork: %m");
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127); /* the parent died before the line above */
		return 0;
	}
	children[n_children++] = pid;
	return pid;
}

int ns_wait(pid_t pid)
{
	int st;

	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -errno;
	for (size_t i = 0; i < n_children; i++)
		if (children[i] == pid) {
			children[i] = children[--n_children];
			break;
		}
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int ns_new(pid_t *ret_pid)
{
	int ready[2], fd;
	char c, path[64];
	pid_t pid;

	check(pipe2(ready, O_CLOEXEC) == 0, "pipe: %m");
	pid = ns_fork();
	if (pid == 0) {
		close(ready[0]);
		c = unshare(CLONE_NEWNET) == 0 ? 'y' : 'n';
		if (write(ready[1], &c, 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(ready[1]);
	if (read(ready[0], &c, 1) != 1 || c != 'y')
		ns_skip("cannot create a network namespace");
	close(ready[0]);
	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	check(fd >= 0, "open %s: %m", path);
	*ret_pid = pid;
	return fd;
}

int ns_run(int ns_fd, const char *const *argv)
{
	pid_t pid = ns_fork();

	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		if (ns_fd >= 0 && setns(ns_fd, CLONE_NEWNET) < 0)
			_exit(126);
		if (null >= 0)
			dup2(null, STDOUT_FILENO);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	return ns_wait(pid);
}

void ns_must(int ns_fd, const char *const *argv)
{
	int r = ns_run(ns_fd, argv);

	check(r == 0, "`%s %s %s ...` failed (%d)", argv[0], argv[1], argv[2], r);
}

void ns_pair(struct ns_pair *p)
{
	char pids[2][16];

	p->self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	check(p->self >= 0, "open own netns: %m");
	p->client = ns_new(&p->client_pid);
	p->server = ns_new(&p->server_pid);
	snprintf(pids[0], sizeof(pids[0]), "%d", (int)p->client_pid);
	snprintf(pids[1], sizeof(pids[1]), "%d", (int)p->server_pid);
	/* Created inside the namespaces: the host never holds either end. */
	ns_must(-1, (const char *const[]){"ip", "link", "add", "vc", "netns", pids[0], "type",
					  "veth", "peer", "name", "vs", "netns", pids[1], NULL});
	ns_must(p->client,
		(const char *const[]){"ip", "addr", "add", NS_CLIENT "/24", "dev", "vc", NULL});
	ns_must(p->server,
		(const char *const[]){"ip", "addr", "add", NS_SERVER "/24", "dev", "vs", NULL});
	ns_must(p->client, (const char *const[]){"ip", "link", "set", "vc", "up", NULL});
	ns_must(p->server, (const char *const[]){"ip", "link", "set", "vs", "up", NULL});
}

int ns_socket(const struct ns_pair *p, int ns_fd, int type, const char *addr, uint16_t port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	int fd;

	check(setns(ns_fd, CLONE_NEWNET) == 0, "setns: %m");
	fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
	check(fd >= 0, "socket: %m");
	check(setns(p->self, CLONE_NEWNET) == 0, "setns back: %m");
	if (port) {
		inet_pton(AF_INET, addr, &sa.sin_addr);
		check(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "bind %s:%u: %m", addr,
		      port);
	}
	return fd;
}
