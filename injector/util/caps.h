/* SPDX-License-Identifier: MIT */
#ifndef FL_UTIL_CAPS_H
#define FL_UTIL_CAPS_H

/*
 * Drops every capability but CAP_NET_ADMIN (permitted and effective; the
 * bounding set is left alone). Once a process's sockets are open in their
 * namespaces it needs nothing else: a bug in it can no longer mount, trace
 * or kill anything. 0 or -errno.
 */
int fl_caps_keep_net_admin(void);

#endif
