/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <linux/netlink.h>
#include <string.h>
#include <sys/socket.h>
#include <netlink/attr.h>
#include <netlink/errno.h>
#include <netlink/handlers.h>
#include <netlink/msg.h>
#include "engine/nl.h"

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

void fl_nl_ack_text(const struct nlmsghdr *hdr, char *buf, size_t size)
{
	const struct nlmsgerr *e = (const struct nlmsgerr *)(const void *)((const char *)hdr + NLMSG_HDRLEN);
	size_t off = NLMSG_HDRLEN + sizeof(*e);
	struct nlattr *tb[NLMSGERR_ATTR_MAX + 1];

	buf[0] = '\0';
	if (!(hdr->nlmsg_flags & NLM_F_ACK_TLVS))
		return;
	/* Unless capped (NETLINK_CAP_ACK), the request is echoed before the TLVs. */
	if (!(hdr->nlmsg_flags & NLM_F_CAPPED))
		off += e->msg.nlmsg_len - NLMSG_HDRLEN;
	if (hdr->nlmsg_len <= off)
		return;
	if (nla_parse(tb, NLMSGERR_ATTR_MAX, (struct nlattr *)(void *)((char *)hdr + off),
		      (int)(hdr->nlmsg_len - off), NULL) == 0 &&
	    tb[NLMSGERR_ATTR_MSG])
		nla_strlcpy(buf, tb[NLMSGERR_ATTR_MSG], size);
}

/* Records the kernel's errno and extended-ack message, then lets libnl fail the request. */
static int on_error(struct sockaddr_nl *who, struct nlmsgerr *e, void *arg)
{
	struct fl_nl *nl = arg;

	(void)who;
	nl->kernel_errno = e->error;
	fl_nl_ack_text((struct nlmsghdr *)(void *)((char *)e - NLMSG_HDRLEN), nl->ext_ack,
		       sizeof(nl->ext_ack));
	return NL_STOP;
}

int fl_nl_open(struct fl_nl **ret)
{
	struct fl_nl *nl = calloc(1, sizeof(*nl));
	int one = 1, r;

	if (!nl)
		return -ENOMEM;
	nl->sk = nl_socket_alloc();
	if (!nl->sk) {
		free(nl);
		return -ENOMEM;
	}
	r = nl_connect(nl->sk, NETLINK_ROUTE);
	if (r < 0) {
		r = fl_nl_error(nl, r);
		fl_nl_close(nl);
		return r;
	}
	/* Best effort: kernels before 4.12 have no extended acks; errors still come through. */
	(void)setsockopt(nl_socket_get_fd(nl->sk), SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	(void)setsockopt(nl_socket_get_fd(nl->sk), SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	nl_socket_modify_err_cb(nl->sk, NL_CB_CUSTOM, on_error, nl);
	*ret = nl;
	return 0;
}

void fl_nl_close(struct fl_nl *nl)
{
	if (!nl)
		return;
	nl_socket_free(nl->sk);
	free(nl);
}

void fl_nl_reset(struct fl_nl *nl)
{
	nl->kernel_errno = 0;
	nl->ext_ack[0] = '\0';
}

int fl_nl_error(const struct fl_nl *nl, int nle)
{
	static const struct {
		int nle, err;
	} map[] = {
		{ NLE_NOMEM, ENOMEM },	       { NLE_EXIST, EEXIST },
		{ NLE_OBJ_NOTFOUND, ENOENT },  { NLE_NODEV, ENODEV },
		{ NLE_PERM, EPERM },	       { NLE_BUSY, EBUSY },
		{ NLE_OPNOTSUPP, EOPNOTSUPP }, { NLE_INVAL, EINVAL },
		{ NLE_RANGE, ERANGE },	       { NLE_AGAIN, EAGAIN },
		{ NLE_INTR, EINTR },	       { NLE_NOACCESS, EACCES },
		{ NLE_AF_NOSUPPORT, EAFNOSUPPORT }, { NLE_MSGSIZE, EMSGSIZE },
		{ NLE_MSG_TOOSHORT, EBADMSG }, { NLE_MSG_TRUNC, EBADMSG },
		{ NLE_BAD_SOCK, EBADF },       { NLE_NOATTR, ENODATA },
		{ NLE_MISSING_ATTR, EINVAL },  { NLE_PROTO_MISMATCH, EPROTO },
		{ NLE_IMMUTABLE, EROFS },      { NLE_DUMP_INTR, EINTR },
	};

	if (nle >= 0)
		return 0;
	if (nl && nl->kernel_errno < 0)
		return nl->kernel_errno;
	for (size_t i = 0; i < ELEMENTSOF(map); i++)
		if (-nle == map[i].nle)
			return -map[i].err;
	return -EIO;
}

void fl_nl_forget_links(struct fl_nl *nl)
{
	nl->n_ifcache = 0;
}
