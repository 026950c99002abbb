/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "util/child.h"

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

ssize_t fl_child_run(size_t (*fn)(void *buf, size_t n, void *userdata), void *userdata, void *buf,
		     size_t n, int timeout_ms)
{
	long long deadline = now_ms() + timeout_ms;
	size_t got = 0;
	int pfd[2];
	pid_t pid;

	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		int r = -errno;
		close(pfd[0]);
		close(pfd[1]);
		return r;
	}
	if (pid == 0) {
		size_t k, off = 0;

		close(pfd[0]);
		k = fn(buf, n, userdata);
		while (off < k) {
			ssize_t w = write(pfd[1], (char *)buf + off, k - off);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				_exit(1);
			off += (size_t)w;
		}
		_exit(0);
	}
	close(pfd[1]);
	while (got < n) {
		long long left = deadline - now_ms();
		struct pollfd p = { .fd = pfd[0], .events = POLLIN };
		ssize_t k;

		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			break;
		k = read(pfd[0], (char *)buf + got, n - got);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break; /* EOF: the child is done */
		got += (size_t)k;
	}
	close(pfd[0]);
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	return (ssize_t)got;
}

void fl_child_close_fds(const int *keep, size_t n)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		int fd;
		bool kept;

		if (de->d_name[0] == '.')
			continue;
		fd = atoi(de->d_name);
		kept = fd <= 2 || fd == dirfd(d);
		for (size_t i = 0; i < n && !kept; i++)
			kept = keep[i] == fd;
		if (!kept)
			close(fd);
	}
	closedir(d);
}
