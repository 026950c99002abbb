/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <linux/tc_act/tc_mirred.h>
#include <net/if.h>
#include <string.h>
#include <unistd.h>

#include <netlink/attr.h>
#include <netlink/route/act/mirred.h>
#include <netlink/route/classifier.h>
#include <netlink/route/cls/u32.h>
#include <netlink/route/link.h>
#include <netlink/route/qdisc.h>
#include <netlink/route/qdisc/tbf.h>

#include "engine/dist.h"
#include "engine/tc.h"

uint32_t fl_tc_prob(uint32_t ppb)
{
	return ppb >= FL_PPB_100 ? UINT32_MAX
				 : (uint32_t)(((uint64_t)ppb * UINT32_MAX) / FL_PPB_100);
}

/*
 * By name, over the socket's own namespace: the engine never needs to be
 * inside the namespace it changes (if_nametoindex would), so it can drop
 * CAP_SYS_ADMIN once its sockets are open.
 */
static int ifindex_of(struct fl_nl *nl, const char *dev)
{
	struct rtnl_link *link = NULL;
	int r, idx;

	for (size_t i = 0; i < nl->n_ifcache; i++)
		if (strcmp(nl->ifcache[i].name, dev) == 0)
			return nl->ifcache[i].ifindex;
	r = rtnl_link_get_kernel(nl->sk, 0, dev, &link);
	if (r < 0) {
		r = fl_nl_error(nl, r);
		fl_nl_reset(nl);
		return r == -ENOENT || r == -ENODEV ? -ENODEV : r;
	}
	idx = rtnl_link_get_ifindex(link);
	rtnl_link_put(link);
	if (nl->n_ifcache < FL_NL_IFCACHE && strlen(dev) < sizeof(nl->ifcache[0].name)) {
		snprintf(nl->ifcache[nl->n_ifcache].name, sizeof(nl->ifcache[0].name), "%s", dev);
		nl->ifcache[nl->n_ifcache++].ifindex = idx;
	}
	return idx;
}

/* ---- links ------------------------------------------------------------------- */

static int link_apply(struct fl_nl *nl, const struct fl_obj *o)
{
	struct rtnl_link *link = rtnl_link_alloc(), *got = NULL, *change = NULL;
	int r;

	fl_nl_forget_links(nl);
	if (!link)
		return -ENOMEM;
	rtnl_link_set_name(link, o->dev);
	if (o->op == FL_OBJ_DEL) {
		r = fl_nl_error(nl, rtnl_link_delete(nl->sk, link));
		rtnl_link_put(link);
		return r == -ENODEV || r == -ENOENT ? 0 : r;
	}
	r = rtnl_link_set_type(link, "ifb");
	if (r == 0)
		r = rtnl_link_add(nl->sk, link, NLM_F_CREATE | NLM_F_EXCL);
	if (r == 0)
		r = rtnl_link_get_kernel(nl->sk, 0, o->dev, &got);
	if (r == 0) {
		change = rtnl_link_alloc();
		if (!change)
			r = -NLE_NOMEM;
		else {
			rtnl_link_set_flags(change, IFF_UP);
			r = rtnl_link_change(nl->sk, got, change, 0);
		}
	}
	r = fl_nl_error(nl, r);
	if (change)
		rtnl_link_put(change);
	if (got)
		rtnl_link_put(got);
	rtnl_link_put(link);
	return r;
}

/* ---- qdiscs ------------------------------------------------------------------- */

/* Appends attributes to the nested-compat TCA_OPTIONS that netem uses. */
int fl_tc_netem_msg(const struct fl_step *st, int ifindex, uint32_t handle, uint32_t limit,
		    struct nl_msg **ret)
{
	const struct fl_fault_params *p = &st->params;
	struct tcmsg tcm = { .tcm_family = AF_UNSPEC, .tcm_ifindex = ifindex,
			     .tcm_handle = handle, .tcm_parent = TC_H_ROOT };
	struct tc_netem_qopt qopt = { .limit = limit };
	struct nl_msg *msg;
	struct nlattr *opts;
	int r = -ENOMEM;

	/* Room for the distribution table (8 KiB) beyond libnl's default page. */
	msg = nlmsg_alloc_size(4096 + sizeof(int16_t) * FL_DIST_SIZE);
	if (!msg)
		return -ENOMEM;
	if (!nlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, RTM_NEWQDISC, 0, NLM_F_CREATE | NLM_F_EXCL))
		goto fail;
	if (nlmsg_append(msg, &tcm, sizeof(tcm), NLMSG_ALIGNTO) < 0 ||
	    nla_put_string(msg, TCA_KIND, "netem") < 0)
		goto fail;

	/*
	 * The legacy fields hold latency and jitter in psched ticks (64 ns); the
	 * kernel prefers the 64-bit ns attributes below, but older readers
	 * (libnl, old iproute2) only see these.
	 */
	if (p->set & FL_P_DELAY) {
		uint64_t t = p->delay_ns >> 6, j = p->jitter_ns >> 6;
		qopt.latency = t > UINT32_MAX ? UINT32_MAX : (uint32_t)t;
		qopt.jitter = j > UINT32_MAX ? UINT32_MAX : (uint32_t)j;
	}
	if (p->set & FL_P_LOSS)
		qopt.loss = fl_tc_prob(p->loss_ppb);
	if (p->set & FL_P_DUPLICATE)
		qopt.duplicate = fl_tc_prob(p->duplicate_ppb);
	if (p->set & FL_P_GAP)
		qopt.gap = p->gap;
	else if (p->set & FL_P_REORDER)
		qopt.gap = 1; /* netem reorders only with a gap; 1 = any packet may go early */

	/* netem's options are a struct followed by attributes, all inside TCA_OPTIONS. */
	opts = (struct nlattr *)nlmsg_tail(nlmsg_hdr(msg));
	if (nla_put(msg, TCA_OPTIONS, sizeof(qopt), &qopt) < 0)
		goto fail;

	if (p->set & FL_P_CORRELATION) {
		uint32_t c = fl_tc_prob(p->correlation_ppb);
		struct tc_netem_corr corr = {
			.delay_corr = (p->set & FL_P_JITTER) ? c : 0,
			.loss_corr = (p->set & FL_P_LOSS) ? c : 0,
			.dup_corr = (p->set & FL_P_DUPLICATE) ? c : 0,
		};
		if (nla_put(msg, TCA_NETEM_CORR, sizeof(corr), &corr) < 0)
			goto fail;
	}
	if (p->set & FL_P_REORDER) {
		struct tc_netem_reorder ro = {
			.probability = fl_tc_prob(p->reorder_ppb),
			.correlation = (p->set & FL_P_CORRELATION) ? fl_tc_prob(p->correlation_ppb) : 0,
		};
		if (nla_put(msg, TCA_NETEM_REORDER, sizeof(ro), &ro) < 0)
			goto fail;
	}
	if (p->set & FL_P_CORRUPT) {
		struct tc_netem_corrupt co = {
			.probability = fl_tc_prob(p->corrupt_ppb),
			.correlation = (p->set & FL_P_CORRELATION) ? fl_tc_prob(p->correlation_ppb) : 0,
		};
		if (nla_put(msg, TCA_NETEM_CORRUPT, sizeof(co), &co) < 0)
			goto fail;
	}
	if (p->set & FL_P_DELAY) {
		int64_t lat = (int64_t)p->delay_ns, jit = (int64_t)p->jitter_ns;
		if (nla_put(msg, TCA_NETEM_LATENCY64, sizeof(lat), &lat) < 0 ||
		    ((p->set & FL_P_JITTER) && nla_put(msg, TCA_NETEM_JITTER64, sizeof(jit), &jit) < 0))
			goto fail;
	}
	if (p->set & FL_P_DISTRIBUTION && p->distribution != FL_DIST_UNIFORM) {
		int16_t table[FL_DIST_SIZE];
		if (fl_dist_table(p->distribution, table) < 0 ||
		    nla_put(msg, TCA_NETEM_DELAY_DIST, sizeof(table), table) < 0)
			goto fail;
	}
	if (p->set & FL_P_RATE) {
		uint64_t bytes = p->rate_bps / 8;
		struct tc_netem_rate rate = { .rate = bytes > UINT32_MAX ? UINT32_MAX : (uint32_t)bytes };
		if (nla_put(msg, TCA_NETEM_RATE, sizeof(rate), &rate) < 0 ||
		    (bytes > UINT32_MAX && nla_put_u64(msg, TCA_NETEM_RATE64, bytes) < 0))
			goto fail;
	}
	if (st->has_seed && nla_put_u64(msg, TCA_NETEM_PRNG_SEED, st->seed) < 0)
		goto fail;

	/* Stretch TCA_OPTIONS over the attributes that follow its struct. */
	opts->nla_len = (uint16_t)((char *)nlmsg_tail(nlmsg_hdr(msg)) - (char *)opts);
	*ret = msg;
	return 0;
fail:
	nlmsg_free(msg);
	return r;
}

static int qdisc_apply(struct fl_nl *nl, const struct fl_plan *p, const struct fl_obj *o,
		       bool *ret_created)
{
	struct rtnl_qdisc *q;
	int ifindex = ifindex_of(nl, o->dev), r;
	bool clsact = strcmp(o->qdisc, "clsact") == 0;

	if (ifindex < 0)
		return o->op == FL_OBJ_DEL ? 0 : ifindex;
	if (!clsact && o->op == FL_OBJ_ADD && strcmp(o->qdisc, "netem") == 0) {
		struct nl_msg *msg = NULL;
		r = fl_tc_netem_msg(&p->scenario->steps[o->fault], ifindex, FL_IFB_HANDLE,
				    o->netem_limit, &msg);
		if (r < 0)
			return r;
		r = fl_nl_error(nl, nl_send_sync(nl->sk, msg)); /* frees msg */
		return r;
	}

	q = rtnl_qdisc_alloc();
	if (!q)
		return -ENOMEM;
	rtnl_tc_set_ifindex(TC_CAST(q), ifindex);
	if (clsact) {
		rtnl_tc_set_parent(TC_CAST(q), TC_H_CLSACT);
		rtnl_tc_set_handle(TC_CAST(q), TC_H_MAKE(TC_H_CLSACT, 0));
	} else {
		rtnl_tc_set_parent(TC_CAST(q), TC_H_ROOT);
		rtnl_tc_set_handle(TC_CAST(q), FL_IFB_HANDLE);
	}
	r = rtnl_tc_set_kind(TC_CAST(q), o->qdisc);
	if (r < 0) {
		rtnl_qdisc_put(q);
		return fl_nl_error(nl, r);
	}
	if (o->op == FL_OBJ_DEL) {
		r = fl_nl_error(nl, rtnl_qdisc_delete(nl->sk, q));
		rtnl_qdisc_put(q);
		return r == -ENOENT || r == -EINVAL ? 0 : r;
	}
	if (!clsact) {
		/* TBF: rate in bytes/s, the burst, and a queue that holds latency's worth. */
		uint64_t bytes = p->scenario->steps[o->fault].params.rate_bps / 8;
		rtnl_qdisc_tbf_set_rate(q, bytes > INT32_MAX ? INT32_MAX : (int)bytes,
					(int)o->tbf_burst, 0);
		rtnl_qdisc_tbf_set_limit_by_latency(q, (int)(o->tbf_latency_ns / 1000));
	}
	r = fl_nl_error(nl, rtnl_qdisc_add(nl->sk, q, NLM_F_CREATE | NLM_F_EXCL));
	rtnl_qdisc_put(q);
	if (clsact && ret_created) {
		*ret_created = r == 0;
		if (r == -EEXIST)
			return 0; /* someone else's clsact: share it, never delete it */
	}
	return r;
}

/* ---- u32 filters ---------------------------------------------------------------- */

static int delete_handle(struct fl_nl *nl, int ifindex, uint32_t parent, uint16_t prio,
			 uint32_t handle)
{
	struct rtnl_cls *cls = rtnl_cls_alloc();
	int r;

	if (!cls)
		return -ENOMEM;
	rtnl_tc_set_ifindex(TC_CAST(cls), ifindex);
	rtnl_tc_set_parent(TC_CAST(cls), parent);
	rtnl_cls_set_prio(cls, prio);
	/* 0 = any protocol; left unset, libnl would send ETH_P_ALL, which matches none of ours. */
	rtnl_cls_set_protocol(cls, 0);
	rtnl_tc_set_kind(TC_CAST(cls), "u32");
	rtnl_tc_set_handle(TC_CAST(cls), handle);
	fl_nl_reset(nl);
	r = fl_nl_error(nl, rtnl_cls_delete(nl->sk, cls, 0));
	rtnl_cls_put(cls);
	return r == -ENOENT || r == -EINVAL ? 0 : r;
}

/*
 * Which of our tables goes first: a table's links hold the tables they
 * jump to (EBUSY), so the gate, then the tables it links to, then the
 * second level, then the fault tables the entries link to.
 */
static int table_rank(uint32_t htid)
{
	if (htid >= FL_TC_HTID_FAULT_FIRST && htid <= FL_TC_HTID_FAULT_LAST)
		return 3;
	if (htid >= FL_TC_HTID_L2_BASE && htid <= FL_TC_HTID_L2_LAST)
		return 2;
	if (fl_tc_gate_htid(htid))
		return 0;
	return 1;
}

/*
 * A whole priority of ours. Deleting the priority alone is not enough: u32
 * keeps explicit hash tables per qdisc, shared with every other u32 filter
 * on the device, so where someone else has u32 filters ours would outlive
 * the priority (and the next run could not create them). So: the root's
 * links into our tables, then our tables with whatever entries they still
 * hold (EBUSY while the kernel still drops a link's reference), in
 * table_rank() order, then the priority itself.
 */
static int delete_prio(struct fl_nl *nl, int ifindex, bool ingress, uint16_t prio)
{
	uint32_t parent = TC_H_MAKE(TC_H_CLSACT, ingress ? TC_H_MIN_INGRESS : TC_H_MIN_EGRESS);
	/* Per priority: the gate, 3 tables of one level, 256 of the second, the fault tables. */
	uint32_t tables[4 + FL_TC_DIVISOR + FL_TC_HTID_FAULT_LAST], nodes[64];
	size_t n_tables = 0, n_nodes = 0;
	struct nl_cache *cache = NULL;
	int r;

	fl_nl_reset(nl);
	r = rtnl_cls_alloc_cache(nl->sk, ifindex, parent, &cache);
	if (r < 0) {
		r = fl_nl_error(nl, r);
		return r == -EINVAL || r == -ENOENT ? 0 : r; /* no clsact: nothing of ours */
	}
	for (struct nl_object *ob = nl_cache_get_first(cache); ob; ob = nl_cache_get_next(ob)) {
		struct rtnl_cls *c = (struct rtnl_cls *)ob;
		uint32_t h = rtnl_tc_get_handle(TC_CAST(c)), ht = TC_U32_USERHTID(h);
		if (rtnl_cls_get_prio(c) != prio || !rtnl_tc_get_kind(TC_CAST(c)) ||
		    strcmp(rtnl_tc_get_kind(TC_CAST(c)), "u32") != 0)
			continue;
		/* Root nodes only (the links); a table takes its own entries with it. */
		if (TC_U32_NODE(h) && !fl_tc_our_htid(ht) && n_nodes < ELEMENTSOF(nodes))
			nodes[n_nodes++] = h;
		else if (!TC_U32_NODE(h) && fl_tc_our_htid(ht) && n_tables < ELEMENTSOF(tables)) {
			size_t k = n_tables++;

			/* Insertion by rank: few tables rank below the second level. */
			for (; k > 0 && table_rank(TC_U32_USERHTID(tables[k - 1])) > table_rank(ht); k--)
				tables[k] = tables[k - 1];
			tables[k] = h;
		}
	}
	nl_cache_free(cache);

	for (size_t i = 0; n_tables && i < n_nodes; i++) {
		r = delete_handle(nl, ifindex, parent, prio, nodes[i]);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < n_tables; i++) {
		for (int tries = 0; tries < 50; tries++) {
			r = delete_handle(nl, ifindex, parent, prio, tables[i]);
			if (r != -EBUSY)
				break;
			usleep(1000);
		}
		if (r < 0)
			return r;
	}
	return delete_handle(nl, ifindex, parent, prio, 0);
}

static int filter_apply(struct fl_nl *nl, const struct fl_obj *o)
{
	struct rtnl_cls *cls = rtnl_cls_alloc();
	struct rtnl_act *act = NULL;
	int ifindex = ifindex_of(nl, o->dev), r = 0;

	if (!cls)
		return -ENOMEM;
	if (ifindex < 0) {
		rtnl_cls_put(cls);
		return o->op == FL_OBJ_DEL ? 0 : ifindex;
	}
	rtnl_tc_set_ifindex(TC_CAST(cls), ifindex);
	rtnl_tc_set_parent(TC_CAST(cls),
			   TC_H_MAKE(TC_H_CLSACT, o->ingress ? TC_H_MIN_INGRESS : TC_H_MIN_EGRESS));
	rtnl_cls_set_protocol(cls, o->protocol);
	rtnl_cls_set_prio(cls, o->prio);
	r = rtnl_tc_set_kind(TC_CAST(cls), "u32");
	if (r < 0)
		goto out;
	if (o->handle)
		rtnl_tc_set_handle(TC_CAST(cls), o->handle);

	if (o->op == FL_OBJ_DEL) {
		if (o->handle == 0) {
			rtnl_cls_put(cls);
			return delete_prio(nl, ifindex, o->ingress, o->prio);
		}
		r = rtnl_cls_delete(nl->sk, cls, 0);
		r = fl_nl_error(nl, r);
		if (r == -ENOENT || r == -EINVAL)
			r = 0; /* already gone */
		rtnl_cls_put(cls);
		return r;
	}

	switch (o->role) {
	case FL_U32_HASHTABLE:
		r = rtnl_u32_set_divisor(cls, o->divisor);
		break;
	case FL_U32_HASHLINK:
	case FL_U32_PASS:
	case FL_U32_REDIRECT:
	case FL_U32_ACTION:
		for (size_t i = 0; i < o->n_keys && r == 0; i++)
			r = rtnl_u32_add_key(cls, o->keys[i].val, o->keys[i].mask, o->keys[i].off, 0);
		if (r < 0)
			break;
		if (o->role == FL_U32_REDIRECT) {
			/* Into the fault's table: no action of its own, so not terminal. */
			r = rtnl_u32_set_hashtable(cls, o->handle & 0xfffff000u);
			if (r == 0)
				r = rtnl_u32_set_link(cls, o->link);
		} else if (o->role == FL_U32_HASHLINK) {
			/* In a bucket of our first-level table (else a root node). */
			if (o->handle)
				r = rtnl_u32_set_hashtable(cls, o->handle & 0xfffff000u);
			if (r == 0)
				r = rtnl_u32_set_link(cls, o->link);
			/* libnl takes the hash mask in host order (it converts); our keys are in network order. */
			if (r == 0 && o->hashkey.mask)
				r = rtnl_u32_set_hashmask(cls, ntohl(o->hashkey.mask),
							  (uint32_t)o->hashkey.off);
		} else if (o->role == FL_U32_PASS) {
			/*
			 * Terminal, with a classid and no action: a match ends
			 * classification and the packet passes. Without the terminal
			 * flag (which tc(8) sets for any classid or action) the kernel
			 * matches the node and moves on.
			 */
			r = rtnl_u32_set_classid(cls, TC_H_MAKE(0, 1));
			if (r == 0)
				r = rtnl_u32_set_cls_terminal(cls);
		} else {
			int target = ifindex_of(nl, o->redirect);
			if (target < 0) {
				r = -NLE_NODEV;
				break;
			}
			r = rtnl_u32_set_hashtable(cls, o->handle & 0xfffff000u);
			act = rtnl_act_alloc();
			if (!act) {
				r = -NLE_NOMEM;
				break;
			}
			if (r == 0)
				r = rtnl_tc_set_kind(TC_CAST(act), "mirred");
			if (r == 0) {
				rtnl_mirred_set_action(act, TCA_EGRESS_REDIR);
				rtnl_mirred_set_policy(act, TC_ACT_STOLEN);
				rtnl_mirred_set_ifindex(act, (uint32_t)target);
				r = rtnl_u32_add_action(cls, act);
			}
			if (r == 0)
				r = rtnl_u32_set_cls_terminal(cls);
		}
		break;
	}
	if (r == 0)
		r = rtnl_cls_add(nl->sk, cls, NLM_F_CREATE | NLM_F_EXCL);
out:
	r = fl_nl_error(nl, r);
	if (act)
		rtnl_act_put(act);
	rtnl_cls_put(cls);
	return r;
}

int fl_tc_has_clsact(struct fl_nl *nl, const char *dev)
{
	struct nl_cache *cache = NULL;
	struct rtnl_qdisc *q;
	int ifindex = ifindex_of(nl, dev), r;

	if (ifindex < 0)
		return ifindex;
	fl_nl_reset(nl);
	r = rtnl_qdisc_alloc_cache(nl->sk, &cache);
	if (r < 0)
		return fl_nl_error(nl, r);
	q = rtnl_qdisc_get_by_parent(cache, ifindex, TC_H_CLSACT);
	r = q != NULL;
	if (q)
		rtnl_qdisc_put(q);
	nl_cache_free(cache);
	return r;
}

int fl_tc_has_prio(struct fl_nl *nl, const char *dev, bool ingress, uint16_t prio)
{
	struct nl_cache *cache = NULL;
	int ifindex = ifindex_of(nl, dev), r, found = 0;

	if (ifindex < 0)
		return ifindex;
	fl_nl_reset(nl);
	r = rtnl_cls_alloc_cache(nl->sk, ifindex,
				 TC_H_MAKE(TC_H_CLSACT, ingress ? TC_H_MIN_INGRESS : TC_H_MIN_EGRESS),
				 &cache);
	if (r < 0) {
		r = fl_nl_error(nl, r);
		/* No clsact, no filters. */
		return r == -EINVAL || r == -ENOENT ? 0 : r;
	}
	for (struct nl_object *o = nl_cache_get_first(cache); o && !found; o = nl_cache_get_next(o))
		found = rtnl_cls_get_prio((struct rtnl_cls *)o) == prio;
	nl_cache_free(cache);
	return found;
}

int fl_tc_apply(struct fl_nl *nl, const struct fl_plan *p, const struct fl_obj *o,
		bool *ret_created)
{
	fl_nl_reset(nl);
	switch (o->kind) {
	case FL_OBJ_LINK:
		return link_apply(nl, o);
	case FL_OBJ_QDISC:
		return qdisc_apply(nl, p, o, ret_created);
	case FL_OBJ_FILTER:
		return filter_apply(nl, o);
	default:
		return -EINVAL;
	}
}
