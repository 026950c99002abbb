/* SPDX-License-Identifier: MIT */
/*
 * The timeline clock: applies each plan step at its real time (scenario
 * time / timescale) on CLOCK_MONOTONIC, measured from the start, with
 * absolute deadlines so that errors never accumulate over a long replay.
 *
 * It never reverts: whatever ends the run (the last step, a stop request, a
 * failed step, the hard cap), the caller reverts with fl_engine_revert_all().
 * Progress goes to on_event; the runner itself never prints.
 */
#ifndef FL_RUNNER_RUNNER_H
#define FL_RUNNER_RUNNER_H

#include <stdbool.h>
#include <stdint.h>
#include "engine/engine.h"
#include "plan/plan.h"

enum fl_run_event_kind {
	FL_EV_STEP, /* a step was applied (or failed: error < 0) */
	FL_EV_TICK, /* periodic, for live progress */
};

struct fl_run_event {
	enum fl_run_event_kind kind;
	size_t step;           /* plan step (FL_EV_STEP), or the next one (FL_EV_TICK) */
	uint64_t elapsed_ns;   /* real time since the start, now */
	uint64_t scheduled_ns; /* FL_EV_STEP: when it was due, since the start */
	uint64_t started_ns;   /* FL_EV_STEP: when applying began, since the start */
	uint64_t apply_ns;     /* FL_EV_STEP: how long applying took, until in effect */
	uint64_t tidy_ns;      /* FL_EV_STEP: then deleting the links it ended (fl_engine_tidy) */
	unsigned tidied;       /* FL_EV_STEP: how many links that was */
	int error;             /* 0 or -errno */
	const char *message;   /* the engine's description of a failure */
};

enum fl_run_result {
	FL_RUN_COMPLETED, /* every step applied */
	FL_RUN_STOPPED,   /* stop_fd became readable */
	FL_RUN_FAILED,    /* a step could not be applied */
	FL_RUN_TIMED_OUT, /* the hard cap passed */
};

struct fl_runner_options {
	bool dry_run;             /* keep time, touch nothing */
	uint64_t max_duration_ns; /* hard cap from the start; 0 = none */
	uint64_t tick_ns;         /* FL_EV_TICK period; 0 = none */
	int stop_fd;              /* readable = stop now (e.g. a signalfd); -1 = none */
	void (*on_event)(const struct fl_run_event *ev, void *userdata);
	void *userdata;
};

/* Monotonic now in ns. */
uint64_t fl_now_ns(void);

/*
 * Runs the plan's timeline from start_ns (monotonic). engines[k] applies in
 * the plan's namespace k (p->nss[k]); engines may be NULL for a dry run.
 * Returns 0 and *ret_result, or -errno if the clock itself failed.
 */
int fl_runner_run(const struct fl_plan *p, struct fl_engine_ns *const *engines,
		  const struct fl_runner_options *o, uint64_t start_ns,
		  enum fl_run_result *ret_result);

#endif
