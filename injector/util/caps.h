/* SPDX-License-Identifier: MIT */
#ifndef FL_UTIL_CAPS_H
#define FL_UTIL_CAPS_H

#include <sys/types.h>

/*
 * Drops every capability but CAP_NET_ADMIN (permitted and effective; the
 * bounding set is left alone). Once a process's sockets are open in their
 * namespaces it needs nothing else: a bug in it can no longer mount, trace
 * or kill anything. 0 or -errno.
 */
int fl_caps_keep_net_admin(void);

/*
 * Becomes uid:gid for good: no supplementary groups, real, effective and
 * saved ids all set (so every capability goes), and PR_SET_NO_NEW_PRIVS (no
 * setuid binary a probe runs can get them back). Refuses uid 0 (-EPERM):
 * probes and user commands never run as root. 0 or -errno; on failure the
 * process may be half-dropped and must exit.
 */
int fl_caps_become_user(uid_t uid, gid_t gid);

#endif
