/* SPDX-License-Identifier: MIT */
/*
 * One netlink (rtnetlink) socket bound to one network namespace, with the
 * kernel's extended acks turned on. Every libnl call in the engine goes
 * through here, and so does every error: fl_nl_error() is the one place
 * that turns libnl's -NLE_* codes into negative errno values.
 */
#ifndef FL_ENGINE_NL_H
#define FL_ENGINE_NL_H

#include <netlink/netlink.h>
#include "util/macro.h"

#define FL_NL_IFCACHE 8

struct fl_nl {
	struct nl_sock *sk;
	int kernel_errno;   /* the last NLMSG_ERROR's errno (negative), 0 if none */
	char ext_ack[256];  /* the kernel's extended ack text for that error, or "" */
	/*
	 * Device name -> ifindex, for the few devices one step touches: a step
	 * of N u32 entries would otherwise ask the kernel 2N times. Forgotten at
	 * each step and whenever we add or delete a link.
	 */
	struct {
		char name[16];
		int ifindex;
	} ifcache[FL_NL_IFCACHE];
	size_t n_ifcache;
};

/* Opens a socket in the caller's current network namespace. Returns 0 or -errno. */
int fl_nl_open(struct fl_nl **ret);
void fl_nl_close(struct fl_nl *nl);
FL_DEFINE_CLEANUP(struct fl_nl, fl_nl_close)

/*
 * The extended ack's text of an NLMSG_ERROR message hdr (any netlink family:
 * the nft_compat socket uses it too), or "" when the kernel sent none.
 */
void fl_nl_ack_text(const struct nlmsghdr *hdr, char *buf, size_t size);

/* Forgets the cached ifindexes (see struct fl_nl). */
void fl_nl_forget_links(struct fl_nl *nl);

/* Clears the last error; call before each request. */
void fl_nl_reset(struct fl_nl *nl);

/*
 * Maps the result of a libnl call (0, or -NLE_*) to 0 or a negative errno,
 * preferring the errno the kernel itself sent when there was one.
 */
int fl_nl_error(const struct fl_nl *nl, int nle);

#endif
