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

#endif
