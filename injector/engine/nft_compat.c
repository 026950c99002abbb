/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <netinet/in.h> /* before <linux/netfilter.h>: glibc's, then the kernel's, agree */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <libmnl/libmnl.h>
#include <libnftnl/batch.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/xt_NFQUEUE.h>
#include <linux/netlink.h>
#include "engine/nft_compat.h"
#include "engine/nl.h"

/* One rule, or the largest reply (MNL_SOCKET_BUFFER_SIZE is at most 8 KiB): fits. */
#define FL_NFTC_BUF 16384

struct fl_nft_compat {
	struct mnl_socket *sk;
	uint32_t seq;
};

int fl_nft_compat_open(struct fl_nft_compat **ret)
{
	struct fl_nft_compat *c = calloc(1, sizeof(*c));
	int one = 1;

	if (!c)
		return -ENOMEM;
	c->sk = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	if (!c->sk || mnl_socket_bind(c->sk, 0, MNL_SOCKET_AUTOPID) < 0) {
		int r = -errno;
		fl_nft_compat_close(c);
		return r;
	}
	/* The kernel says why, not only that: worth having when a rule is refused. */
	(void)mnl_socket_setsockopt(c->sk, NETLINK_EXT_ACK, &one, sizeof(one));
	c->seq = (uint32_t)time(NULL);
	*ret = c;
	return 0;
}

void fl_nft_compat_close(struct fl_nft_compat *c)
{
	if (!c)
		return;
	if (c->sk)
		mnl_socket_close(c->sk);
	free(c);
}

/* Reads replies until the one to seq arrives: its errno (0 = acked). */
static int wait_ack(struct fl_nft_compat *c, uint32_t seq, char **ret_msg)
{
	char buf[FL_NFTC_BUF];

	for (;;) {
		ssize_t n = mnl_socket_recvfrom(c->sk, buf, sizeof(buf));
		const struct nlmsghdr *nlh = (const struct nlmsghdr *)buf;
		int len = (int)n;

		if (n < 0)
			return errno == EINTR ? -EINTR : -errno;
		for (; mnl_nlmsg_ok(nlh, len); nlh = mnl_nlmsg_next(nlh, &len)) {
			const struct nlmsgerr *err;

			if (nlh->nlmsg_type != NLMSG_ERROR)
				continue;
			err = mnl_nlmsg_get_payload(nlh);
			if (err->error == 0 && nlh->nlmsg_seq != seq)
				continue; /* another message's ack */
			if (err->error != 0 && ret_msg) {
				char text[256];
				fl_nl_ack_text(nlh, text, sizeof(text));
				*ret_msg = *text ? strdup(text) : NULL;
			}
			if (err->error != 0 || nlh->nlmsg_seq == seq)
				return err->error;
		}
	}
}

int fl_nft_compat_add_queue(struct fl_nft_compat *c, const char *family, const char *table,
			    const char *chain, uint16_t queue_num, char **ret_msg)
{
	int nfproto = strcmp(family, "inet") == 0  ? NFPROTO_INET
		      : strcmp(family, "ip") == 0  ? NFPROTO_IPV4
		      : strcmp(family, "ip6") == 0 ? NFPROTO_IPV6
						   : -1;
	struct xt_NFQ_info_v3 *info;
	char buf[FL_NFTC_BUF];
	struct mnl_nlmsg_batch *batch;
	struct nftnl_rule *rule;
	struct nftnl_expr *e;
	struct nlmsghdr *nlh;
	uint32_t rule_seq;
	int r = 0;

	if (nfproto < 0)
		return -EINVAL;
	rule = nftnl_rule_alloc();
	e = nftnl_expr_alloc("target");
	/* libnftnl takes the target's info block and frees it with the expression. */
	info = calloc(1, sizeof(*info));
	if (!rule || !e || !info) {
		nftnl_rule_free(rule);
		nftnl_expr_free(e);
		free(info);
		return -ENOMEM;
	}
	*info = (struct xt_NFQ_info_v3){
		.queuenum = queue_num, .queues_total = 1, .flags = NFQ_FLAG_BYPASS};
	nftnl_rule_set_u32(rule, NFTNL_RULE_FAMILY, (uint32_t)nfproto);
	if (nftnl_rule_set_str(rule, NFTNL_RULE_TABLE, table) < 0 ||
	    nftnl_rule_set_str(rule, NFTNL_RULE_CHAIN, chain) < 0 ||
	    nftnl_expr_set_str(e, NFTNL_EXPR_TG_NAME, "NFQUEUE") < 0 ||
	    nftnl_expr_set(e, NFTNL_EXPR_TG_INFO, info, sizeof(*info)) < 0) {
		nftnl_rule_free(rule);
		nftnl_expr_free(e);
		return -ENOMEM;
	}
	/* Revision 3: the one with the bypass flag in flags (revision 1 had a bool). */
	nftnl_expr_set_u32(e, NFTNL_EXPR_TG_REV, 3);
	nftnl_rule_add_expr(rule, e); /* the rule owns e from here */

	batch = mnl_nlmsg_batch_start(buf, sizeof(buf));
	nftnl_batch_begin(mnl_nlmsg_batch_current(batch), c->seq++);
	mnl_nlmsg_batch_next(batch);
	rule_seq = c->seq++;
	nlh = nftnl_rule_nlmsg_build_hdr(mnl_nlmsg_batch_current(batch), NFT_MSG_NEWRULE,
					 (uint16_t)nfproto, NLM_F_APPEND | NLM_F_CREATE | NLM_F_ACK,
					 rule_seq);
	nftnl_rule_nlmsg_build_payload(nlh, rule);
	nftnl_rule_free(rule);
	mnl_nlmsg_batch_next(batch);
	nftnl_batch_end(mnl_nlmsg_batch_current(batch), c->seq++);
	mnl_nlmsg_batch_next(batch);

	if (mnl_socket_sendto(c->sk, mnl_nlmsg_batch_head(batch), mnl_nlmsg_batch_size(batch)) < 0)
		r = -errno;
	mnl_nlmsg_batch_stop(batch);
	if (r < 0)
		return r;
	return wait_ack(c, rule_seq, ret_msg);
}
