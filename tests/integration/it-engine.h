/* SPDX-License-Identifier: MIT */
/*
 * Driving the engine from a test, the way the runner will: load a scenario
 * (${VARS} from the environment topo_setup() filled), open the engine on
 * its scope, plan with the namespace's devices and the probed kernel, apply
 * steps, revert. Any failure fails the test with the engine's own message.
 */
#ifndef FL_TESTS_INTEGRATION_IT_ENGINE_H
#define FL_TESTS_INTEGRATION_IT_ENGINE_H

#include "engine/engine.h"
#include "engine/probe.h"
#include "plan/plan.h"
#include "scenario/parse.h"
#include "topo.h"

struct fl_scenario *it_load_scenario(const char *path);
/* This kernel's features, probed once. */
const struct fl_caps *it_caps(void);

struct it_run {
	struct fl_engine_ns *e;
	struct fl_plan *p;
};
/*
 * Opens the engine in run_dir, builds the plan and starts the userspace
 * engine's children for the faults that use it; fails the test on error.
 */
void it_run_open(const struct topo *t, const struct fl_scenario *s, struct it_run *ret);
void it_run_apply(struct it_run *r, size_t step);
void it_run_revert(struct it_run *r);
/* Closes the engine (which removes its journal when nothing is live) and frees the plan. */
void it_run_close(struct it_run *r);
/* How many roots the journal holds now. */
size_t it_run_live(const struct it_run *r);
/*
 * Whether every live root of the journal exists in the kernel. NULL if so,
 * else a description of the first missing one (static storage). A fault
 * that stops working because its objects vanished was removed by someone
 * else, not healed by us: say so instead of blaming the measurement.
 */
const char *it_run_missing(const struct topo *t, const struct it_run *r);
/* Whether run_dir holds any *.journal file. */
bool it_journal_exists(const struct topo *t);

/* The fault steps a case starts with; its heal and end steps follow them. */
size_t it_leading_faults(const struct fl_scenario *s);

/* What a case measures, for it_cycle(). */
struct it_cycle {
	/* The engine the planner must choose for every fault step; FL_ENGINE_AUTO: any. */
	enum fl_engine engine;
	/* After each leading fault step is applied (may be NULL). */
	void (*applied)(size_t step, enum fl_engine e, void *userdata);
	/* While the faults are on: every check, then (again) the first one only. */
	void (*checks)(struct it_run *run, bool again, void *userdata);
	/* Everything answers as it should with no fault (before, after each pass). */
	void (*baseline)(const char *when, void *userdata);
	void *userdata;
};

/*
 * The two passes of every case: the leading faults applied and checked,
 * then healed by the scenario's own heal and end steps; again, reverted by
 * fl_engine_revert_all() after the first check. After each pass: no live
 * root, the journal gone, no userspace engine child left, and the
 * namespace's state (links, tc, nft) byte-identical to before.
 */
void it_cycle(const struct topo *t, const struct fl_scenario *s, const struct it_cycle *c);

#endif
