/* SPDX-License-Identifier: MIT */
/*
 * The fault table: one row per fault kind says which parameters it takes,
 * which directions make sense, and which engines can carry it, in order of
 * preference. The parser, the validator, the planner and the docs read this
 * table; nothing else lists fault kinds.
 */
#ifndef FL_SCENARIO_FAULT_H
#define FL_SCENARIO_FAULT_H

#include <stdbool.h>
#include "scenario/model.h"

struct fl_param_info {
	unsigned bit;     /* FL_P_* */
	const char *key;  /* YAML key */
	const char *type; /* for messages: "a duration", "a percentage", ... */
};

struct fl_fault_info {
	const char *name;
	const char *summary;
	unsigned required; /* FL_P_* that must be given */
	unsigned allowed;  /* FL_P_* that may be given (required included) */
	bool both_only;    /* direction is always both (partition) */
	enum fl_direction default_direction;
	bool drops; /* discards every matching packet: partition, blackhole, reject */
	bool seeded; /* probabilistic: takes a seed */
	enum fl_engine engines[4]; /* candidates in order of preference, FL_ENGINE_AUTO-terminated */
};

extern const struct fl_param_info fl_params[];
extern const size_t fl_n_params;

const struct fl_fault_info *fl_fault_info(enum fl_fault_kind k);
const struct fl_param_info *fl_param_by_bit(unsigned bit);
/* Index of a FL_P_* bit (for struct fl_step.param_pos). */
unsigned fl_param_index(unsigned bit);
/* Whether the fault kind can be carried by engine e (AUTO: always). */
bool fl_fault_engine_allowed(enum fl_fault_kind k, enum fl_engine e);
/* "auto, netem, userspace": the engines a kind accepts, for messages; caller frees. */
char *fl_fault_engines_text(enum fl_fault_kind k);
/* "services, direction, delay, ...": keys a fault step of this kind accepts; caller frees. */
char *fl_fault_keys_text(enum fl_fault_kind k);

#endif
