/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "engine/engine.h"
#include "journal/guardian.h"

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void log_line(const char *line, void *userdata)
{
	FILE *f = userdata;

	if (f) {
		fprintf(f, "%s\n", line);
		fflush(f);
	}
}

static void guard(int rfd, pid_t run, const char *journal_path, uint64_t deadline_ns)
{
	char logpath[4096];
	FILE *log;
	char c;

	for (;;) {
		struct pollfd p = { .fd = rfd, .events = POLLIN };
		int timeout = -1;

		if (deadline_ns) {
			uint64_t now = now_ns();
			if (now >= deadline_ns) {
				/* The hard cap: whatever the run is doing, it ends now. */
				kill(run, SIGKILL);
				deadline_ns = 0;
				continue;
			}
			timeout = (int)((deadline_ns - now) / 1000000ULL) + 1;
		}
		if (poll(&p, 1, timeout) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (!(p.revents & (POLLIN | POLLHUP)))
			continue;
		ssize_t n = read(rfd, &c, 1);
		if (n == 1 && c == 'd')
			return; /* released: the run reverted everything itself */
		if (n == 0 || (n < 0 && errno != EINTR))
			break; /* the run is gone without releasing us */
	}
	snprintf(logpath, sizeof(logpath), "%s.guardian", journal_path);
	log = fopen(logpath, "ae");
	log_line("the run ended without reverting: removing what its journal lists", log);
	(void)fl_recover_journal(journal_path, log_line, log);
	if (log)
		fclose(log);
	/* We still hold the run's namespace lock (a shared descriptor): release it as the run would. */
	size_t n = strlen(journal_path);
	if (n > 8 && strcmp(journal_path + n - 8, ".journal") == 0) {
		snprintf(logpath, sizeof(logpath), "%.*s.lock", (int)(n - 8), journal_path);
		unlink(logpath);
	}
}

int fl_guardian_start(const char *journal_path, uint64_t deadline_ns, struct fl_guardian *ret)
{
	int p[2];
	pid_t run = getpid(), pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		int r = -errno;
		close(p[0]);
		close(p[1]);
		return r;
	}
	if (pid == 0) {
		sigset_t all;

		/* Its own session: a Ctrl-C or a hangup of the run's terminal does not reach it. */
		setsid();
		signal(SIGINT, SIG_IGN);
		signal(SIGTERM, SIG_IGN);
		signal(SIGHUP, SIG_IGN);
		signal(SIGPIPE, SIG_IGN);
		sigemptyset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL);
		close(p[1]);
		guard(p[0], run, journal_path, deadline_ns);
		_exit(0);
	}
	close(p[0]);
	*ret = (struct fl_guardian){ .pid = pid, .fd = p[1] };
	return 0;
}

int fl_guardian_release(struct fl_guardian *g)
{
	int r = 0;

	if (g->pid <= 0)
		return 0;
	if (write(g->fd, "d", 1) != 1)
		r = -errno;
	close(g->fd);
	while (waitpid(g->pid, NULL, 0) < 0 && errno == EINTR)
		;
	g->pid = 0;
	return r;
}
