/* SPDX-License-Identifier: MIT */
/*
 * fl_nl_ack_text(): the kernel's extended-ack message out of an NLMSG_ERROR,
 * whether the request is echoed before the TLVs (the default) or not
 * (NETLINK_CAP_ACK), as both the rtnetlink and the nft_compat sockets get it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>
#include <linux/netlink.h>
#include "engine/nl.h"

/* An NLMSG_ERROR for a request of req_payload bytes, echoed unless capped, then TLVs. */
static size_t build(char *buf, size_t req_payload, bool capped, const char *msg)
{
	struct nlmsghdr *h = (struct nlmsghdr *)(void *)buf;
	struct nlmsgerr *e = (struct nlmsgerr *)(void *)(buf + NLMSG_HDRLEN);
	size_t off = NLMSG_HDRLEN + sizeof(*e);
	struct nlattr *a;

	memset(buf, 0, 512);
	e->error = -22;
	e->msg.nlmsg_len = (uint32_t)(NLMSG_HDRLEN + req_payload);
	if (!capped)
		off += req_payload; /* the request's payload, echoed (here zeros) */
	a = (struct nlattr *)(void *)(buf + off);
	if (msg) {
		a->nla_type = NLMSGERR_ATTR_MSG;
		a->nla_len = (uint16_t)(NLA_HDRLEN + strlen(msg) + 1);
		memcpy(buf + off + NLA_HDRLEN, msg, strlen(msg) + 1);
		off += NLA_ALIGN(a->nla_len);
	}
	h->nlmsg_type = NLMSG_ERROR;
	h->nlmsg_len = (uint32_t)off;
	h->nlmsg_flags = (uint16_t)((msg ? NLM_F_ACK_TLVS : 0) | (capped ? NLM_F_CAPPED : 0));
	return off;
}

static void test_echoed_and_capped(void **state)
{
	char buf[512] __attribute__((aligned(8))), text[64];

	(void)state;
	for (int capped = 0; capped < 2; capped++) {
		build(buf, 40, capped, "Unknown qdisc kind");
		fl_nl_ack_text((struct nlmsghdr *)(void *)buf, text, sizeof(text));
		assert_string_equal(text, "Unknown qdisc kind");
	}
}

static void test_none_and_truncated(void **state)
{
	char buf[512] __attribute__((aligned(8))), text[8];

	(void)state;
	build(buf, 40, false, NULL);
	fl_nl_ack_text((struct nlmsghdr *)(void *)buf, text, sizeof(text));
	assert_string_equal(text, "");
	/* A longer text than the caller's buffer: cut, still terminated. */
	build(buf, 16, true, "a rather long message");
	fl_nl_ack_text((struct nlmsghdr *)(void *)buf, text, sizeof(text));
	assert_string_equal(text, "a rathe");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_echoed_and_capped),
		cmocka_unit_test(test_none_and_truncated),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
