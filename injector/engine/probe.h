/* SPDX-License-Identifier: MIT */
/*
 * What this kernel can do. The probe tries each feature for real in a
 * throw-away network namespace (and a user namespace when unprivileged), so
 * it changes nothing on the host and needs no privileges where user
 * namespaces are allowed.
 */
#ifndef FL_ENGINE_PROBE_H
#define FL_ENGINE_PROBE_H

#include <stdbool.h>

enum {
	FL_CAP_NETEM = 1u << 0,         /* sch_netem */
	FL_CAP_IFB = 1u << 1,           /* ifb links */
	FL_CAP_CLSACT = 1u << 2,        /* sch_ingress's clsact */
	FL_CAP_U32 = 1u << 3,           /* cls_u32 */
	FL_CAP_MIRRED = 1u << 4,        /* act_mirred */
	FL_CAP_TBF = 1u << 5,           /* sch_tbf */
	FL_CAP_NFTABLES = 1u << 6,      /* nf_tables with inet tables and reject */
	FL_CAP_NETDEV_EGRESS = 1u << 7, /* nf_tables netdev family, ingress and egress hooks */
	FL_CAP_NFQUEUE = 1u << 8,       /* nfnetlink_queue, steered by the xt NFQUEUE target (nft_compat) */
	FL_CAP_NFT_QUEUE = 1u << 9,     /* nfnetlink_queue, steered by nft's own queue statement */
	FL_CAP_NETEM_SEED = 1u << 10,   /* netem takes a PRNG seed (Linux 6.3+) */
	FL_CAP_ALL = (1u << 11) - 1,
};

struct fl_caps {
	unsigned have;
	/* How we know: "probed", "modules list", "assumed", "--kernel". Static storage. */
	const char *source;
};

/* Name of one FL_CAP_* bit, as --kernel and the JSON plan spell it. */
const char *fl_cap_name(unsigned bit);
/* What a user does to get a missing feature, e.g. "modprobe sch_netem". */
const char *fl_cap_fix(unsigned bit);

/*
 * Probes this kernel. Always fills *ret_caps: when no namespace can be
 * made, falls back to the kernel's module lists, then to assuming a stock
 * kernel, and says so in ret_caps->source. Returns 0 or -ENOMEM.
 */
int fl_probe(struct fl_caps *ret_caps);

/* Parses --kernel CAPS: "all", "no-netem" or "netem,ifb,...". -EINVAL on unknown names. */
int fl_caps_parse(const char *text, struct fl_caps *ret_caps);

#endif
