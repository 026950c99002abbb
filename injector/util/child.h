/* SPDX-License-Identifier: MIT */
/*
 * A function run in a forked child, for work that must not touch this
 * process: trying kernel features or traffic in throw-away namespaces. The
 * child moves wherever it likes and _exits; what it made dies with it.
 */
#ifndef FL_UTIL_CHILD_H
#define FL_UTIL_CHILD_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Runs fn(buf, n, userdata) in a child. fn fills buf and returns how many
 * bytes to send back (0..n). The parent waits at most timeout_ms for them,
 * then kills and reaps the child. Returns the bytes received (0..n: fewer
 * than fn returned means the child died or ran out of time), or -errno.
 * The caller's buf holds the child's bytes.
 */
ssize_t fl_child_run(size_t (*fn)(void *buf, size_t n, void *userdata), void *userdata, void *buf,
		     size_t n, int timeout_ms);

/*
 * In a forked child: closes every descriptor it inherited but stdio and
 * keep[0..n) (-1 entries are ignored). A lock, a journal or a pipe of the
 * parent's held by a child that outlives it would keep a namespace locked,
 * or a reader waiting for EOF; a netlink socket opened with privileges must
 * not reach a process that runs as someone else.
 */
void fl_child_close_fds(const int *keep, size_t n);

#endif
