/* SPDX-License-Identifier: MIT */
#include <string.h>
#include "scenario/fault.h"
#include "util/strbuf.h"

/* Parameters netem understands; any netem-carried fault may combine them. */
#define NETEM_PARAMS                                                                               \
	(FL_P_DELAY | FL_P_JITTER | FL_P_CORRELATION | FL_P_DISTRIBUTION | FL_P_LOSS |             \
	 FL_P_DUPLICATE | FL_P_CORRUPT | FL_P_REORDER | FL_P_GAP | FL_P_RATE)

const struct fl_param_info fl_params[] = {
	{ FL_P_DELAY, "delay", "a duration" },
	{ FL_P_JITTER, "jitter", "a duration" },
	{ FL_P_CORRELATION, "correlation", "a percentage" },
	{ FL_P_DISTRIBUTION, "distribution", "normal, pareto, paretonormal or uniform" },
	{ FL_P_LOSS, "loss", "a percentage" },
	{ FL_P_DUPLICATE, "duplicate", "a percentage" },
	{ FL_P_CORRUPT, "corrupt", "a percentage" },
	{ FL_P_REORDER, "reorder", "a percentage" },
	{ FL_P_GAP, "gap", "a packet count" },
	{ FL_P_RATE, "rate", "a rate such as 1mbit" },
};
const size_t fl_n_params = ELEMENTSOF(fl_params);

static const struct fl_fault_info faults[_FL_FAULT_MAX] = {
	[FL_FAULT_PARTITION] = {
		.name = "partition",
		.summary = "silently drop all traffic to and from the services (a cut link)",
		.both_only = true, .default_direction = FL_DIR_BOTH, .drops = true,
		.engines = { FL_ENGINE_NFTABLES },
	},
	[FL_FAULT_BLACKHOLE] = {
		.name = "blackhole",
		.summary = "silently drop traffic in one direction (connections time out)",
		.default_direction = FL_DIR_EGRESS, .drops = true,
		.engines = { FL_ENGINE_NFTABLES },
	},
	[FL_FAULT_REJECT] = {
		.name = "reject",
		.summary = "refuse traffic: TCP reset, ICMP unreachable otherwise (fast, clear failure)",
		.default_direction = FL_DIR_EGRESS, .drops = true,
		.engines = { FL_ENGINE_NFTABLES },
	},
	[FL_FAULT_DELAY] = {
		.name = "delay",
		.summary = "add latency, with optional jitter, correlation and distribution",
		.required = FL_P_DELAY, .allowed = NETEM_PARAMS,
		.default_direction = FL_DIR_EGRESS, .seeded = true,
		.engines = { FL_ENGINE_NETEM, FL_ENGINE_USERSPACE },
	},
	[FL_FAULT_LOSS] = {
		.name = "loss",
		.summary = "drop a fraction of packets, silently",
		.required = FL_P_LOSS, .allowed = NETEM_PARAMS,
		.default_direction = FL_DIR_EGRESS, .seeded = true,
		.engines = { FL_ENGINE_NETEM, FL_ENGINE_NFTABLES, FL_ENGINE_USERSPACE },
	},
	[FL_FAULT_DUPLICATE] = {
		.name = "duplicate",
		.summary = "send a fraction of packets twice",
		.required = FL_P_DUPLICATE, .allowed = NETEM_PARAMS,
		.default_direction = FL_DIR_EGRESS, .seeded = true,
		.engines = { FL_ENGINE_NETEM, FL_ENGINE_USERSPACE },
	},
	[FL_FAULT_CORRUPT] = {
		.name = "corrupt",
		.summary = "flip a random bit in a fraction of packets",
		.required = FL_P_CORRUPT, .allowed = NETEM_PARAMS,
		.default_direction = FL_DIR_EGRESS, .seeded = true,
		.engines = { FL_ENGINE_NETEM, FL_ENGINE_USERSPACE },
	},
	[FL_FAULT_REORDER] = {
		.name = "reorder",
		.summary = "send a fraction of packets at once while the rest wait `delay`",
		.required = FL_P_REORDER | FL_P_DELAY, .allowed = NETEM_PARAMS,
		.default_direction = FL_DIR_EGRESS, .seeded = true,
		.engines = { FL_ENGINE_NETEM, FL_ENGINE_USERSPACE },
	},
	[FL_FAULT_RATE] = {
		.name = "rate",
		.summary = "cap the bandwidth (bits per second); packets queue, then drop",
		.required = FL_P_RATE, .allowed = NETEM_PARAMS,
		.default_direction = FL_DIR_EGRESS, .seeded = true,
		.engines = { FL_ENGINE_NETEM, FL_ENGINE_TC, FL_ENGINE_USERSPACE },
	},
};

const struct fl_fault_info *fl_fault_info(enum fl_fault_kind k)
{
	return &faults[k];
}

const struct fl_param_info *fl_param_by_bit(unsigned bit)
{
	for (size_t i = 0; i < fl_n_params; i++)
		if (fl_params[i].bit == bit)
			return &fl_params[i];
	return NULL;
}

unsigned fl_param_index(unsigned bit)
{
	return (unsigned)__builtin_ctz(bit);
}

bool fl_fault_engine_allowed(enum fl_fault_kind k, enum fl_engine e)
{
	if (e == FL_ENGINE_AUTO)
		return true;
	for (size_t i = 0; i < ELEMENTSOF(faults[k].engines) && faults[k].engines[i]; i++)
		if (faults[k].engines[i] == e)
			return true;
	return false;
}

char *fl_fault_engines_text(enum fl_fault_kind k)
{
	struct fl_strbuf sb = { 0 };

	fl_strbuf_append(&sb, "auto");
	for (size_t i = 0; i < ELEMENTSOF(faults[k].engines) && faults[k].engines[i]; i++)
		fl_strbuf_appendf(&sb, ", %s", fl_engine_to_string(faults[k].engines[i]));
	return fl_strbuf_steal(&sb);
}

char *fl_fault_keys_text(enum fl_fault_kind k)
{
	struct fl_strbuf sb = { 0 };
	const struct fl_fault_info *f = &faults[k];

	fl_strbuf_append(&sb, "services");
	if (!f->both_only)
		fl_strbuf_append(&sb, ", direction");
	if (f->seeded)
		fl_strbuf_append(&sb, ", seed");
	for (size_t i = 0; i < fl_n_params; i++)
		if (f->allowed & fl_params[i].bit)
			fl_strbuf_appendf(&sb, ", %s", fl_params[i].key);
	fl_strbuf_append(&sb, ", engine, scope, id, description");
	return fl_strbuf_steal(&sb);
}
