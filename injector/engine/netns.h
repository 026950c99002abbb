/* SPDX-License-Identifier: MIT */
/*
 * Network namespaces named by a scope. The engine opens its netlink socket
 * and runs libnftables inside the target namespace, then returns to its own:
 * sockets stay bound to the namespace they were opened in.
 */
#ifndef FL_ENGINE_NETNS_H
#define FL_ENGINE_NETNS_H

#include <stdint.h>
#include "scenario/model.h"

/* Opens the namespace: O_RDONLY|O_CLOEXEC fd, or -errno (-ENOENT: no such namespace). */
int fl_netns_open(const struct fl_scope *sc);
/*
 * The same for a namespace as a scenario writes it: NAME (/run/netns/NAME),
 * /path, or pid:N; NULL: the caller's own. -EINVAL for anything else.
 */
int fl_netns_open_spec(const char *spec);
/* Moves the calling thread into fd; *ret_saved is an fd of where it was. -errno on failure. */
int fl_netns_enter(int fd, int *ret_saved);
/* Returns to saved (and closes it). */
int fl_netns_leave(int saved);
/* The namespace's inode: the same namespace has the same id, whatever path reached it. */
int fl_netns_inode(int fd, uint64_t *ret_ino);

struct fl_nl;
/*
 * The links a fault may use in nl's namespace: every link but lo and our
 * own IFBs, by name (caller frees each and the array). -errno on failure.
 */
int fl_netns_list_devices(struct fl_nl *nl, char ***ret, size_t *ret_n);

#endif
