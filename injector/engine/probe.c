/* SPDX-License-Identifier: MIT */
/*
 * The capability probe. Each feature is tried for real, with the same
 * libraries the engine uses, inside a child process that first moves into
 * fresh namespaces: whatever it creates dies with the namespace, and the
 * host is never touched. Where no namespace can be made (unprivileged user
 * namespaces disabled), the kernel's module lists say what could be loaded.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/tc_act/tc_mirred.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <netlink/netlink.h>
#include <netlink/msg.h>
#include <netlink/attr.h>
#include <netlink/route/act/mirred.h>
#include <netlink/route/classifier.h>
#include <netlink/route/cls/u32.h>
#include <netlink/route/link.h>
#include <netlink/route/qdisc.h>
#include <netlink/route/qdisc/netem.h>
#include <netlink/route/qdisc/tbf.h>
#include <nftables/libnftables.h>

#include "engine/nft_compat.h"
#include "engine/tc.h"
#include "engine/probe.h"
#include "util/child.h"
#include "util/macro.h"

#define PROBE_TIMEOUT_MS 5000
#define PROBE_IFB "flprobe0"

static const struct {
	unsigned bit;
	const char *name, *fix, *module;
} caps[] = {
	{ FL_CAP_NETEM, "netem", "modprobe sch_netem (Debian/Ubuntu: linux-modules-extra or the stock kernel)", "sch_netem" },
	{ FL_CAP_IFB, "ifb", "modprobe ifb", "ifb" },
	{ FL_CAP_CLSACT, "clsact", "modprobe sch_ingress", "sch_ingress" },
	{ FL_CAP_U32, "u32", "modprobe cls_u32", "cls_u32" },
	{ FL_CAP_MIRRED, "mirred", "modprobe act_mirred", "act_mirred" },
	{ FL_CAP_TBF, "tbf", "modprobe sch_tbf", "sch_tbf" },
	{ FL_CAP_NFTABLES, "nftables", "modprobe nf_tables nft_reject_inet", "nf_tables" },
	{ FL_CAP_NETDEV_EGRESS, "netdev-egress", "a kernel >= 5.16 with CONFIG_NETFILTER_EGRESS", NULL },
	{ FL_CAP_NFQUEUE, "nfqueue", "modprobe nfnetlink_queue xt_NFQUEUE nft_compat", "xt_NFQUEUE" },
	{ FL_CAP_NFT_QUEUE, "nft-queue", "modprobe nfnetlink_queue nft_queue", "nft_queue" },
	/* No module to look for: the fallback cannot know, and assumes none. */
	{ FL_CAP_NETEM_SEED, "netem-seed", "a kernel >= 6.3 (netem's TCA_NETEM_PRNG_SEED)", NULL },
};

const char *fl_cap_name(unsigned bit)
{
	for (size_t i = 0; i < ELEMENTSOF(caps); i++)
		if (caps[i].bit == bit)
			return caps[i].name;
	return "?";
}

const char *fl_cap_fix(unsigned bit)
{
	for (size_t i = 0; i < ELEMENTSOF(caps); i++)
		if (caps[i].bit == bit)
			return caps[i].fix;
	return "?";
}

int fl_caps_parse(const char *text, struct fl_caps *ret_caps)
{
	unsigned have = 0;
	char *copy, *save = NULL;

	if (strcmp(text, "all") == 0) {
		*ret_caps = (struct fl_caps){ FL_CAP_ALL, "--kernel" };
		return 0;
	}
	if (strcmp(text, "no-netem") == 0) {
		*ret_caps = (struct fl_caps){ FL_CAP_ALL & ~FL_CAP_NETEM, "--kernel" };
		return 0;
	}
	copy = strdup(text);
	if (!copy)
		return -ENOMEM;
	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		size_t i;
		for (i = 0; i < ELEMENTSOF(caps); i++)
			if (strcmp(tok, caps[i].name) == 0)
				break;
		if (i == ELEMENTSOF(caps)) {
			free(copy);
			return -EINVAL;
		}
		have |= caps[i].bit;
	}
	free(copy);
	*ret_caps = (struct fl_caps){ have, "--kernel" };
	return 0;
}

/* ---- the child: try each feature in fresh namespaces ------------------------ */

static bool qdisc_try(struct nl_sock *sk, const char *kind, uint32_t parent, uint32_t handle,
		      int (*setup)(struct rtnl_qdisc *q))
{
	struct rtnl_qdisc *q = rtnl_qdisc_alloc();
	bool ok;

	if (!q)
		return false;
	rtnl_tc_set_ifindex(TC_CAST(q), 1); /* lo is 1 in a new namespace */
	rtnl_tc_set_parent(TC_CAST(q), parent);
	rtnl_tc_set_handle(TC_CAST(q), handle);
	ok = rtnl_tc_set_kind(TC_CAST(q), kind) == 0 && (!setup || setup(q) == 0) &&
	     rtnl_qdisc_add(sk, q, NLM_F_CREATE | NLM_F_REPLACE) == 0;
	rtnl_qdisc_put(q);
	return ok;
}

static int netem_setup(struct rtnl_qdisc *q)
{
	rtnl_netem_set_delay(q, 1000);
	rtnl_netem_set_limit(q, 1000);
	return 0;
}

static int tbf_setup(struct rtnl_qdisc *q)
{
	rtnl_qdisc_tbf_set_limit(q, 10000);
	rtnl_qdisc_tbf_set_rate(q, 125000, 5000, 0);
	return 0;
}

/*
 * Netem's dump carries TCA_NETEM_PRNG_SEED where netem takes one; an older
 * kernel ignores the attribute in a request without an error, so the dump is
 * the only way to know.
 */
struct seed_seen {
	bool seen;
};

static int seed_parse(struct nl_msg *msg, void *arg)
{
	struct seed_seen *ss = arg;
	/* Not TCA_NETEM_MAX: this system's headers may predate the seed. */
	struct nlattr *tb[TCA_MAX + 1], *opt[TCA_NETEM_PRNG_SEED + 2];
	struct nlmsghdr *nlh = nlmsg_hdr(msg);
	int off = NLA_ALIGN((int)sizeof(struct tc_netem_qopt)), len;

	if (nlmsg_parse(nlh, sizeof(struct tcmsg), tb, TCA_MAX, NULL) < 0 || !tb[TCA_KIND] ||
	    !tb[TCA_OPTIONS] || strcmp(nla_get_string(tb[TCA_KIND]), "netem") != 0)
		return NL_OK;
	/* Netem's options: a struct tc_netem_qopt, then attributes. */
	len = nla_len(tb[TCA_OPTIONS]) - off;
	if (len > 0 &&
	    nla_parse(opt, TCA_NETEM_PRNG_SEED + 1,
		      (struct nlattr *)(void *)((char *)nla_data(tb[TCA_OPTIONS]) + off), len, NULL) == 0 &&
	    opt[TCA_NETEM_PRNG_SEED])
		ss->seen = true;
	return NL_OK;
}

static bool netem_seed_try(struct nl_sock *sk)
{
	struct tcmsg t = { .tcm_family = AF_UNSPEC };
	struct seed_seen ss = { false };
	struct nl_cb *cb = nl_cb_alloc(NL_CB_DEFAULT);
	bool ok;

	if (!cb)
		return false;
	nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, seed_parse, &ss);
	ok = nl_send_simple(sk, RTM_GETQDISC, NLM_F_DUMP, &t, sizeof(t)) >= 0 &&
	     nl_recvmsgs(sk, cb) >= 0;
	nl_cb_put(cb);
	return ok && ss.seen;
}

static bool u32_try(struct nl_sock *sk, int redirect_ifindex)
{
	struct rtnl_cls *cls = rtnl_cls_alloc();
	struct rtnl_act *act = NULL;
	bool ok = false;

	if (!cls)
		return false;
	rtnl_tc_set_ifindex(TC_CAST(cls), 1);
	rtnl_tc_set_parent(TC_CAST(cls), TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_EGRESS));
	rtnl_cls_set_protocol(cls, ETH_P_IP);
	rtnl_cls_set_prio(cls, redirect_ifindex ? 2 : 1);
	if (rtnl_tc_set_kind(TC_CAST(cls), "u32") < 0 ||
	    rtnl_u32_add_key_uint32(cls, 0, 0, 0, 0) < 0)
		goto out;
	if (redirect_ifindex) {
		act = rtnl_act_alloc();
		if (!act || rtnl_tc_set_kind(TC_CAST(act), "mirred") < 0)
			goto out;
		rtnl_mirred_set_action(act, TCA_EGRESS_REDIR);
		rtnl_mirred_set_policy(act, TC_ACT_STOLEN);
		rtnl_mirred_set_ifindex(act, (uint32_t)redirect_ifindex);
		if (rtnl_u32_add_action(cls, act) < 0)
			goto out;
	} else {
		rtnl_u32_set_classid(cls, TC_H_MAKE(0, 1));
	}
	ok = rtnl_cls_add(sk, cls, NLM_F_CREATE | NLM_F_EXCL) == 0;
out:
	if (act)
		rtnl_act_put(act);
	rtnl_cls_put(cls);
	return ok;
}

static int ifb_try(struct nl_sock *sk)
{
	struct rtnl_link *link = rtnl_link_alloc(), *got = NULL;
	int ifindex = 0;

	if (!link)
		return 0;
	rtnl_link_set_name(link, PROBE_IFB);
	if (rtnl_link_set_type(link, "ifb") == 0 && rtnl_link_add(sk, link, NLM_F_CREATE) == 0 &&
	    rtnl_link_get_kernel(sk, 0, PROBE_IFB, &got) == 0) {
		ifindex = rtnl_link_get_ifindex(got);
		rtnl_link_put(got);
	}
	rtnl_link_put(link);
	return ifindex;
}

static bool nft_try(const char *cmds)
{
	struct nft_ctx *nft = nft_ctx_new(NFT_CTX_DEFAULT);
	bool ok;

	if (!nft)
		return false;
	/* Keep libnftables quiet: its messages go to buffers we drop. */
	nft_ctx_buffer_output(nft);
	nft_ctx_buffer_error(nft);
	ok = nft_run_cmd_from_buffer(nft, cmds) == 0;
	nft_ctx_free(nft);
	return ok;
}

static unsigned probe_here(void)
{
	struct nl_sock *sk = nl_socket_alloc();
	unsigned have = 0;
	int ifb;

	if (!sk || nl_connect(sk, NETLINK_ROUTE) < 0)
		return 0;
	if (qdisc_try(sk, "clsact", TC_H_CLSACT, TC_H_MAKE(TC_H_CLSACT, 0), NULL))
		have |= FL_CAP_CLSACT;
	ifb = ifb_try(sk);
	if (ifb > 0) {
		have |= FL_CAP_IFB;
		if (qdisc_try(sk, "netem", TC_H_ROOT, TC_H_MAKE(0xfa000000u, 0), netem_setup)) {
			have |= FL_CAP_NETEM;
			if (netem_seed_try(sk))
				have |= FL_CAP_NETEM_SEED;
		}
		/*
		 * Another handle: with netem's, the kernel would take this for a change
		 * of that qdisc, refuse the other kind, and TBF would look missing.
		 */
		if (qdisc_try(sk, "tbf", TC_H_ROOT, TC_H_MAKE(0xfb000000u, 0), tbf_setup))
			have |= FL_CAP_TBF;
	}
	if ((have & FL_CAP_CLSACT) && u32_try(sk, 0))
		have |= FL_CAP_U32;
	if ((have & FL_CAP_U32) && ifb > 0 && u32_try(sk, ifb))
		have |= FL_CAP_MIRRED;
	nl_socket_free(sk);

	if (nft_try("add table inet flprobe\n"
		    "add chain inet flprobe c { type filter hook output priority 0; }\n"
		    "add rule inet flprobe c meta l4proto tcp reject with tcp reset\n"))
		have |= FL_CAP_NFTABLES;
	if (nft_try("add table netdev flprobe\n"
		    "add chain netdev flprobe e { type filter hook egress device lo priority 0; }\n"
		    "add rule netdev flprobe e numgen random mod 100 < 10 drop\n"))
		have |= FL_CAP_NETDEV_EGRESS;
	/*
	 * Queueing to userspace: nfnetlink_queue (it registers this file per
	 * namespace) and a way to steer packets into it, each tried for real:
	 * nft's own queue statement, and the xt NFQUEUE target through
	 * nft_compat, built the way the engine builds it.
	 */
	if (access("/proc/net/netfilter/nfnetlink_queue", F_OK) == 0 &&
	    nft_try("add table inet flprobeq\n"
		    "add chain inet flprobeq c { type filter hook prerouting priority 0; }\n")) {
		struct fl_nft_compat *c = NULL;
		if (nft_try("add rule inet flprobeq c queue num 0 bypass\n"))
			have |= FL_CAP_NFT_QUEUE;
		if (fl_nft_compat_open(&c) == 0 &&
		    fl_nft_compat_add_queue(c, "inet", "flprobeq", "c", 0, NULL) == 0)
			have |= FL_CAP_NFQUEUE;
		fl_nft_compat_close(c);
	}
	return have;
}

static bool enter_namespaces(void)
{
	if (geteuid() == 0 && unshare(CLONE_NEWNET) == 0)
		return true;
	/* Unprivileged: a user namespace grants CAP_NET_ADMIN over its own network namespace. */
	return unshare(CLONE_NEWUSER | CLONE_NEWNET) == 0;
}

/* ---- fallback: what the kernel could load --------------------------------------- */

static unsigned from_module_lists(void)
{
	struct utsname u;
	char path[512];
	unsigned have = 0;

	if (uname(&u) < 0)
		return 0;
	for (size_t i = 0; i < ELEMENTSOF(caps); i++) {
		char word[64];
		if (!caps[i].module)
			continue;
		for (int f = 0; f < 2; f++) {
			FILE *fp;
			char line[512];
			snprintf(path, sizeof(path), "/lib/modules/%s/%s", u.release,
				 f ? "modules.dep" : "modules.builtin");
			snprintf(word, sizeof(word), "/%s.ko", caps[i].module);
			fp = fopen(path, "re");
			if (!fp)
				continue;
			while (fgets(line, sizeof(line), fp)) {
				char *colon = strchr(line, ':');
				if (colon)
					*colon = '\0';
				line[strcspn(line, "\n")] = '\0';
				if (strstr(line, word)) {
					have |= caps[i].bit;
					break;
				}
			}
			fclose(fp);
		}
	}
	/* The egress hook is built in or not; kernels since 5.16 build it by default. */
	if (have & FL_CAP_NFTABLES)
		have |= FL_CAP_NETDEV_EGRESS;
	return have;
}

struct probe_result {
	uint8_t in_namespace;
	unsigned have;
};

static size_t probe_child(void *buf, size_t n, void *userdata)
{
	struct probe_result *res = buf;

	(void)n;
	(void)userdata;
	res->in_namespace = enter_namespaces();
	res->have = res->in_namespace ? probe_here() : 0;
	return sizeof(*res);
}

int fl_probe(struct fl_caps *ret_caps)
{
	struct probe_result res = { 0 };
	unsigned have = 0;
	bool got = false;
	ssize_t k;

	k = fl_child_run(probe_child, NULL, &res, sizeof(res), PROBE_TIMEOUT_MS);
	if (k < 0)
		return (int)k;
	if (k == (ssize_t)sizeof(res) && res.in_namespace) {
		have = res.have;
		got = true;
	}

	if (got) {
		*ret_caps = (struct fl_caps){ have, "probed" };
		return 0;
	}
	have = from_module_lists();
	if (have) {
		*ret_caps = (struct fl_caps){ have, "module lists" };
		return 0;
	}
	*ret_caps = (struct fl_caps){ FL_CAP_ALL, "assumed (no namespace and no module lists to probe)" };
	return 0;
}
