/* SPDX-License-Identifier: MIT */
/*
 * The tc engine: plan objects of kind LINK, QDISC and FILTER, applied and
 * removed over rtnetlink with libnl-route, in the namespace the fl_nl socket
 * was opened in. Each function applies exactly one object and returns 0 or
 * a negative errno (the kernel's, via fl_nl_error); the kernel's extended
 * ack, if any, is left in nl->ext_ack.
 */
#ifndef FL_ENGINE_TC_H
#define FL_ENGINE_TC_H

#include <netlink/msg.h>
#include "engine/nl.h"
#include "plan/plan.h"

/* Newer than the kernel headers of some build hosts (Linux 6.3; Debian 12 has 6.1). */
#ifndef TCA_NETEM_PRNG_SEED
#define TCA_NETEM_PRNG_SEED 14
#endif

/*
 * Applies o (ADD or DEL). For an ADD of clsact, *ret_created says whether we
 * made it (false: the device had one, which we share and never delete).
 * For a DEL, a missing object is success: deletion is idempotent.
 */
int fl_tc_apply(struct fl_nl *nl, const struct fl_plan *p, const struct fl_obj *o,
		bool *ret_created);

/*
 * Builds the RTM_NEWQDISC request for a netem root on ifindex, from the
 * fault step's parameters (delay and jitter in ns via LATENCY64/JITTER64,
 * probabilities scaled to u32, our own distribution table, rate, seed).
 * Exposed so unit tests can decode it without a kernel. Returns 0 or -errno.
 */
int fl_tc_netem_msg(const struct fl_step *st, int ifindex, uint32_t handle, uint32_t limit,
		    struct nl_msg **ret);

/* Whether dev already has a clsact qdisc. 0/1, or -errno. */
int fl_tc_has_clsact(struct fl_nl *nl, const char *dev);

/* Whether dev has any filter at prio on a clsact hook. 0/1, or -errno. */
int fl_tc_has_prio(struct fl_nl *nl, const char *dev, bool ingress, uint16_t prio);

/* Parts-per-billion -> netem's u32 probability (0 = never, UINT32_MAX = always). */
uint32_t fl_tc_prob(uint32_t ppb);

#endif
