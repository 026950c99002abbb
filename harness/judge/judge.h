/* SPDX-License-Identifier: MIT */
/*
 * Expectations -> verdicts, from the probe results inside each
 * expectation's window. Windows come from the phases the runner reported
 * (real CLOCK_MONOTONIC instants), not from the scenario's schedule.
 *
 * Times in a judgement are uint64_t nanoseconds relative to results->start_ns
 * (from_ns/to_ns, worst probes' start) or spans (latencies).
 */
#ifndef FL_HARNESS_JUDGE_H
#define FL_HARNESS_JUDGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "flows/flows.h"

enum fl_verdict {
	FL_VERDICT_PASS,
	FL_VERDICT_FAIL,
	FL_VERDICT_SKIPPED, /* could not be judged (e.g. needs the wire observer); never a pass */
};

const char *fl_verdict_to_string(enum fl_verdict v); /* "PASS", "FAIL", "SKIPPED" */

#define FL_REASON_MAX  200
#define FL_WORST_MAX   5
#define FL_METRICS_MAX 11

struct fl_metric_verdict {
	unsigned metric; /* one FL_M_* bit */
	enum fl_verdict verdict;
	bool has_value;
	uint64_t
		value; /* what was measured: ppb (success_rate), ns (latencies), count, exit code */
	char reason[FL_REASON_MAX];
};

struct fl_judgement {
	size_t expect; /* scenario->expects index */
	enum fl_verdict verdict;
	char reason[FL_REASON_MAX + 32]; /* "metric: " + the first failing (else skipped) metric's
					    reason; "" on PASS */

	bool window_known; /* false: the window's instants never happened */
	uint64_t from_ns;  /* window, relative to start, [from, to) */
	uint64_t to_ns;
	size_t samples; /* probes started in the window, not skipped */
	size_t ok, failed, skipped;
	uint64_t p50_ns, p90_ns, p99_ns, max_ns; /* over the samples (failures included) */
	size_t worst[FL_WORST_MAX]; /* results->probes (invariants: results->invariants) indexes */
	size_t n_worst;

	struct fl_metric_verdict metrics[FL_METRICS_MAX];
	size_t n_metrics;
};

struct fl_judgements {
	const struct fl_results *r; /* borrowed */
	struct fl_judgement *v;	    /* one per scenario->expects, same order */
	size_t n;
	size_t pass, fail, skipped;
	/* FAIL if any failed; else SKIPPED if any was skipped; else PASS (also with none). */
	enum fl_verdict overall;
};

int fl_judge(const struct fl_results *r, struct fl_judgements **ret_judgements);

/*
 * What the wire observer lends the judge: for no_retry_storm, the ratio of
 * the rate of new attempts towards the service during the expectation's
 * window to the baseline's, in thousandths (the window: absolute
 * CLOCK_MONOTONIC [from_ns, to_ns)). Returns 0 and *ret_ratio_milli; any
 * -errno leaves the metric SKIPPED with why (a short text) as its reason.
 */
struct fl_judge_options {
	int (*retry_ratio)(const struct fl_expect *e, uint64_t from_ns, uint64_t to_ns,
			   uint64_t *ret_ratio_milli, char *why, size_t why_len, void *userdata);
	void *userdata;
};

/* fl_judge() with the observer's help (o may be NULL: no_retry_storm stays SKIPPED). */
int fl_judge_ex(const struct fl_results *r, const struct fl_judge_options *o,
		struct fl_judgements **ret_judgements);
void fl_judgements_free(struct fl_judgements *j);
FL_DEFINE_CLEANUP(struct fl_judgements, fl_judgements_free)

/* Exit status for `faultline run`: 0 PASS or SKIPPED, 1 FAIL. */
int fl_judgements_exit_status(const struct fl_judgements *j);

/* "during pay-down", "after step-3", "before first-fault", "at end", "always". */
const char *fl_window_kind_to_string(enum fl_window_kind k);
/* The metric's key as written in a scenario: "success_rate", "p99", ... */
const char *fl_metric_to_string(unsigned metric);

#endif
