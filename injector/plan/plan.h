/* SPDX-License-Identifier: MIT */
/*
 * Model -> plan: the resolved timeline (real times after the timescale) and,
 * per step, the exact kernel objects to create or delete, in order. The
 * engine applies these objects and the journal records them; `faultline
 * plan` renders them as tc(8)/nft(8) commands. One list serves all three, so
 * what the plan shows is what runs (the engine adds one thing to a priority's
 * removal: our u32 tables and the links into them, see tc.c delete_prio).
 *
 * Kernel layout (docs/ARCHITECTURE.md has the why):
 *   drops (partition, blackhole, loss without netem)
 *       nftables table "netdev faultline": ingress/egress chains on the scope's
 *       devices, verdict maps keyed by address . protocol . port (hashed,
 *       intervals), one chain per fault (f<N>) holding its verdict.
 *   reject
 *       nftables table "inet faultline": output/input/forward chains, the same
 *       maps, a chain per fault with "reject with tcp reset" / icmpx.
 *   netem kinds, and rate without netem
 *       an IFB of ours per fault (flifb<N>) whose root qdisc is netem (or tbf);
 *       on each scope device, clsact + u32 at reserved priorities: exclusions
 *       first (pass), then a hash table keyed on the address's last byte whose
 *       entries redirect (mirred) to the fault's IFB (for large host sets, a
 *       table keyed on the third byte linking to tables keyed on the last).
 *   userspace engine
 *       an NFQUEUE rule in table "inet faultline" feeding our engine.
 *
 * Lifetime: a plan borrows its scenario (which must outlive it) and owns
 * everything else; fl_plan_free() accepts NULL.
 */
#ifndef FL_PLAN_PLAN_H
#define FL_PLAN_PLAN_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "engine/probe.h"
#include "scenario/model.h"
#include "util/diag.h"

/* Reserved names and numbers: everything with these is ours (recover relies on it). */
#define FL_NFT_TABLE "faultline"
#define FL_IFB_PREFIX "flifb"
/* The userspace engine's NFQUEUE numbers: one per fault, the last 4096 there are. */
#define FL_NFQUEUE_BASE 61440
#define FL_NFQUEUE_MAX 4096u
/*
 * u32 priorities: the last ones tc allows, so every other owner's filters
 * run first (an exclusion's pass ends classification for what follows).
 */
#define FL_TC_PRIO_PASS4 0xfffb /* exclusions, IPv4: matched first, pass untouched */
#define FL_TC_PRIO_PASS6 0xfffc
#define FL_TC_PRIO_HASH4 0xfffd /* targets, IPv4 */
#define FL_TC_PRIO_HASH6 0xfffe
/*
 * u32 table ids (12 bits). The kernel keeps them per qdisc, and clsact's
 * egress and ingress hooks share one, so each (hook, family) has its own
 * pair: hosts hash on their address's last byte into the hash table;
 * prefixes sit in a one-bucket table. A root node (kernel-chosen handle)
 * jumps into the gate, the gate into these; every per-fault entry has an
 * explicit handle in one of our tables, so it can be deleted alone. Below
 * 0x800: the kernel gives ids from 0x800 up to its own root tables, and on
 * this kernel an explicit id of 0x800 or more cannot be created again once
 * deleted.
 *   egress: 7e4 (v4 hosts) 7e5 (v4 prefixes) 7e6 (v6 hosts) 7e7 (v6 prefixes)
 *   ingress: 7f4 7f5 7f6 7f7
 * Every table of ours lives at one of our priorities (a table belongs to the
 * priority that created it), and fl_tc_our_htid() knows them all.
 */
#define FL_TC_HTID(ingress, v6, prefixes) (0x7e4u + ((ingress) ? 0x10u : 0) + ((v6) ? 2u : 0) + ((prefixes) ? 1u : 0))
/*
 * Large host sets (a fault with more than FL_TC_ONE_LEVEL_MAX hosts of a
 * family) hash twice, so an untargeted packet walks one link node and the
 * few entries sharing its address's last two bytes, not N/256 entries:
 * a first-level table per (hook, family) keyed on the third byte of an
 * IPv4 address (the byte before the last of an IPv6 one), whose bucket B
 * holds one link node (handle l1:B:1) into second-level table B of that
 * (hook, family), keyed on the last byte. Second-level ids are fixed by
 * (hook, family, B), so faults share them and none can take another's:
 *   first level: egress 7ec (v4) 7ee (v6), ingress 7fc 7fe
 *   second level: 3e4 + 0x100 * (2 * ingress + v6) + B, i.e. 3e4..7e3
 * Up to FL_TC_ONE_LEVEL_MAX hosts, the one-level table above walks at most
 * as many entries on average (one per bucket) and creates no more objects.
 */
#define FL_TC_ONE_LEVEL_MAX 256
#define FL_TC_HTID_L1(ingress, v6) (FL_TC_HTID(ingress, v6, false) + 8u)
#define FL_TC_HTID_L2_BASE 0x3e4u
#define FL_TC_HTID_L2(ingress, v6, b)                                                              \
	(FL_TC_HTID_L2_BASE + 0x100u * (((ingress) ? 2u : 0) + ((v6) ? 1u : 0)) + (b))
#define FL_TC_HTID_L2_LAST (FL_TC_HTID_L2_BASE + 0x3ffu)
/*
 * The gate of a (hook, family): a one-bucket table with the only root node
 * of our hash priority linking into it, and one node per table above
 * linking on (handles gate:0:1, gate:0:2, ... in the order they are made).
 * Root nodes get kernel-chosen handles in a kernel-numbered root table, so
 * deleting them takes a dump of every filter on the hook (20,000 at 10,000
 * targets); the gate's nodes have handles the plan knows. An end deletes
 * them first, one request each, and is in effect: no packet enters our
 * tables any more. Freeing the tables can wait (fl_obj.tidy).
 *   egress: 7e8 (v4) 7ea (v6), ingress: 7f8 7fa
 */
#define FL_TC_HTID_GATE(ingress, v6) (FL_TC_HTID(ingress, v6, false) + 4u)
/*
 * A fault's table, per hook and family: one bucket holding its one mirred
 * redirect (handle T:0:N); each of its entries matches a target and links
 * there. A heal deletes that one node and is in effect: the entries, which
 * then link to an empty table and match nothing, go after (tidy), and the
 * table stays for a later fault of that hook and family (a table a link
 * held is freed by the kernel only after an RCU grace period). Ids below
 * the second level, allocated by the plan per namespace: 995 until the end
 * (a plan asking for more fails, exit 2), a healed fault's reused by a later
 * fault of the same hook and family.
 */
#define FL_TC_HTID_FAULT_FIRST 0x001u
#define FL_TC_HTID_FAULT_LAST (FL_TC_HTID_L2_BASE - 1u)
#define FL_TC_MAX_NODE 0xfff /* node ids are 12 bits */

/* Whether a u32 table id (12 bits) is the gate of one of our (hook, family) pairs. */
static inline bool fl_tc_gate_htid(uint32_t htid)
{
	for (unsigned ing = 0; ing < 2; ing++)
		for (unsigned v6 = 0; v6 < 2; v6++)
			if (htid == FL_TC_HTID_GATE(ing, v6))
				return true;
	return false;
}

/* Whether a u32 table id (12 bits) is one of ours. */
static inline bool fl_tc_our_htid(uint32_t htid)
{
	if (htid >= FL_TC_HTID_FAULT_FIRST && htid <= FL_TC_HTID_L2_LAST)
		return true; /* fault tables, then the second level */
	if (fl_tc_gate_htid(htid))
		return true;
	for (unsigned ing = 0; ing < 2; ing++)
		for (unsigned v6 = 0; v6 < 2; v6++)
			if (htid == FL_TC_HTID(ing, v6, false) ||
			    htid == FL_TC_HTID(ing, v6, true) || htid == FL_TC_HTID_L1(ing, v6))
				return true;
	return false;
}
#define FL_TC_DIVISOR 256
#define FL_IFB_HANDLE 0xfa000000u /* root qdisc handle on our IFBs: fa00: */
#define FL_NFT_PRIO (-500)      /* our base chains run before most others */
#define FL_NFT_NETDEV 1u        /* table netdev faultline */
#define FL_NFT_INET 2u          /* table inet faultline */

/* Line rate assumed when sizing netem's queue for a fault without `rate`. */
#define FL_ASSUMED_LINE_BPS 10000000000ULL
#define FL_MIN_WIRE_BYTES 84 /* smallest Ethernet frame plus preamble and gap */

/* One resolved match: an address block, protocol and port range. */
struct fl_target {
	int family; /* AF_INET or AF_INET6 */
	uint8_t prefixlen;
	uint8_t proto;   /* 0 = any */
	uint16_t port_lo; /* 0 = any */
	uint16_t port_hi;
	union {
		struct in_addr v4;
		struct in6_addr v6;
	} addr;
};

struct fl_plan_service {
	struct fl_target *targets;
	size_t n_targets;
	char **notes; /* "db.example -> 10.0.0.5, fd00::5" for resolved hostnames */
	size_t n_notes;
};

enum fl_obj_kind {
	FL_OBJ_NFT,    /* an nftables batch (nft -f text), applied atomically */
	FL_OBJ_LINK,   /* an IFB link of ours, brought up */
	FL_OBJ_QDISC,  /* clsact on a scope device, or the root qdisc of our IFB */
	FL_OBJ_FILTER, /* a u32 filter on a clsact hook */
	/*
	 * The userspace engine's steering rule where nft has no queue statement:
	 * the xt NFQUEUE target, appended through nft_compat to chain f<N> of
	 * table inet faultline (which the step's FL_OBJ_NFT, before it, creates).
	 */
	FL_OBJ_NFT_QUEUE,
};

enum fl_obj_op {
	FL_OBJ_ADD,
	FL_OBJ_DEL,
};

enum fl_u32_role {
	FL_U32_HASHTABLE, /* an empty table of ours (handle htid:, divisor); DEL with handle 0: the whole prio */
	FL_U32_HASHLINK,  /* jump into one of our tables, hashing hashkey if its mask is set: a root
			     node (handle 0), or the node of a first-level bucket (its handle) */
	FL_U32_PASS,      /* an exclusion: match, no action, so the packet passes */
	FL_U32_REDIRECT,  /* a target: match, link into its fault's table (link; redirect: the IFB) */
	FL_U32_ACTION,    /* a fault's table's node: mirred redirect to the fault's IFB */
};

/* A 32-bit match at a byte offset from the network header, as u32 keys are. */
struct fl_u32_key {
	uint32_t val; /* network byte order, as the kernel compares */
	uint32_t mask;
	int32_t off;
};

#define FL_U32_MAX_KEYS 8

struct fl_obj {
	enum fl_obj_kind kind;
	enum fl_obj_op op;
	char dev[IFNAMSIZ + 2]; /* a scope device, "$DEV" (resolved at apply), or our IFB */
	size_t fault;           /* index of the fault step it serves; SIZE_MAX: shared */

	/* FL_OBJ_QDISC */
	char qdisc[12]; /* "clsact", "netem", "tbf" */
	uint32_t netem_limit;  /* packets */
	uint32_t tbf_burst;    /* bytes */
	uint64_t tbf_latency_ns;

	/* FL_OBJ_FILTER */
	bool ingress;       /* clsact hook */
	uint16_t protocol;  /* ETH_P_IP or ETH_P_IPV6 (host order) */
	uint16_t prio;
	uint32_t handle;    /* u32 handle htid:bucket:node, a table's htid<<20, or 0: the kernel picks */
	uint32_t divisor;   /* HASHTABLE */
	enum fl_u32_role role;
	struct fl_u32_key keys[FL_U32_MAX_KEYS];
	size_t n_keys;
	struct fl_u32_key hashkey; /* HASHLINK: the word hashed */
	uint32_t link;             /* HASHLINK: table jumped to (htid<<20) */
	char redirect[IFNAMSIZ];   /* ACTION: our IFB, where the fault's table's one node sends */

	size_t ns; /* index into plan->nss: the namespace it lives in */
	/*
	 * A deletion no packet's fate depends on any more, so the step is in
	 * effect before it: an IFB nothing redirects to; a healed fault's u32
	 * entries (its table's one redirect is gone) or its nft elements and
	 * chain, one batch (the chain is already flushed); a priority or clsact
	 * whose gates are gone. Tidy objects come last in a step.
	 */
	bool tidy;

	/* FL_OBJ_NFT_QUEUE */
	char chain[16];     /* f<N> */
	uint16_t queue_num; /* NFQUEUE number */

	/* FL_OBJ_NFT */
	char *nft;               /* owned */
	unsigned nft_tables_add; /* FL_NFT_NETDEV | FL_NFT_INET: tables this batch creates */
	unsigned nft_tables_del; /* ... and deletes */
};

struct fl_plan_step {
	size_t step; /* index into scenario->steps */
	uint64_t real_ns;
	struct fl_obj *objs;
	size_t n_objs;
};

/* Per scenario step; meaningful for fault steps only. */
struct fl_plan_fault {
	size_t ns;                 /* index into plan->nss */
	struct fl_target *targets; /* its services' targets, duplicates and contained ones removed */
	size_t n_targets;
	enum fl_engine engine; /* chosen: never AUTO */
	char ifb[IFNAMSIZ];    /* tc engines */
	char chain[16];        /* nftables: f<N> */
	uint32_t netem_limit;
	uint16_t queue_num;    /* userspace: its NFQUEUE number (FL_NFQUEUE_BASE + k) */
	bool queue_compat;     /* userspace: steered by the xt target (no nft queue statement) */
};

/*
 * Where the userspace engine takes the packets of fault step st: the
 * replies (FL_DIR_INGRESS) for a fault that holds packets (delay, jitter,
 * rate, reorder), else the step's own direction. See plan.c.
 */
enum fl_direction fl_plan_userspace_direction(const struct fl_step *st);

struct fl_plan_options {
	struct fl_caps caps;
	/* Extra TCP ports to exclude: the current SSH session's (from SSH_CONNECTION). */
	uint16_t ssh_ports[4];
	size_t n_ssh_ports;
	/* Resolves a hostname into addresses; NULL: getaddrinfo(3). Returns 0 or -errno. */
	int (*resolve)(const char *host, struct fl_target **ret, size_t *ret_n, void *userdata);
	void *userdata;
	/*
	 * The devices of a namespace whose scope names none: list_devices(scope)
	 * if set (the run opens each namespace and asks the kernel), else
	 * devices for every namespace (tests), else the links of this namespace
	 * when the scope is ours, else the placeholder "$DEV".
	 */
	int (*list_devices)(const struct fl_scope *sc, char ***ret, size_t *ret_n, void *userdata);
	void *devices_userdata;
	char **devices;
	size_t n_devices;
};

/*
 * A namespace the plan acts in: the scenario's scope is always the first;
 * a step's own scope adds one (its netns, or the scenario's, with its
 * interfaces). Each has its own tables, IFBs, journal and lock.
 */
struct fl_plan_ns {
	struct fl_scope scope; /* shallow copy; strings borrowed from the scenario */
	char *key;             /* "self", "named shop", "path /x", "pid 12": one per namespace */
	char **devices;        /* owned */
	size_t n_devices;
	bool devices_resolved; /* false: "$DEV" stands for every link but lo, at apply */
};

struct fl_plan {
	const struct fl_scenario *scenario; /* borrowed */
	struct fl_caps caps;
	struct fl_plan_service *services;   /* parallel to scenario->services */
	struct fl_plan_fault *faults;       /* parallel to scenario->steps */
	struct fl_target *exclude;          /* scope.exclude, resolved (SSH: see ssh_ports) */
	size_t n_exclude;
	uint16_t ssh_ports[5]; /* tcp ports never touched: 22 and the session's */
	size_t n_ssh_ports;
	struct fl_plan_ns *nss; /* [0] is the scenario's scope */
	size_t n_nss;
	struct fl_plan_step *steps; /* parallel to scenario->steps */
	size_t n_steps;
};

/*
 * Builds the plan. Returns 0 and *ret_plan, or -EINVAL with located errors
 * in diag (a hostname does not resolve, an endpoint overlap only visible
 * after resolution), -EOPNOTSUPP with errors in diag naming the missing
 * kernel feature and its fix, or -ENOMEM. Touches nothing.
 */
int fl_plan_build(const struct fl_scenario *s, const struct fl_plan_options *opts,
		  struct fl_diag *diag, struct fl_plan **ret_plan);
void fl_plan_free(struct fl_plan *p);
FL_DEFINE_CLEANUP(struct fl_plan, fl_plan_free)

/* "self", "named shop", "path /x", "pid 12": the key of the namespace a scope names; caller frees. */
char *fl_plan_ns_key(const struct fl_scope *sc);

/* Target -> "10.77.0.20/32 tcp 8443" style text for messages; buf of 96 bytes. */
char *fl_target_to_string(const struct fl_target *t, char buf[static 96]);

/*
 * Renders the plan as text (paste-able commands under a commented
 * timeline) or as one JSON document; both walk the plan once, in the same
 * order. Returns an allocated string, or NULL on allocation failure.
 */
char *fl_plan_render(const struct fl_plan *p, bool json);

/* One object as the equivalent command (tc ... / nft -f - <<EOF ...); caller frees. */
char *fl_obj_to_command(const struct fl_plan *p, const struct fl_obj *o);

#endif
