/* SPDX-License-Identifier: MIT */
/* harness/judge: verdicts from synthetic probe results and phases. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include "scenario-text.h"
#include "judge/judge.h"

static const char yaml[] = "version: 1\n"
			   "name: judge\n"
			   "services:\n"
			   "  api: { endpoints: [\"127.0.0.1:1\"] }\n"
			   "flows:\n"
			   "  web: { http: { url: \"http://127.0.0.1:1/\" }, every: 100ms }\n"
			   "  other: { tcp: { address: \"127.0.0.1:2\" }, every: 100ms }\n"
			   "timeline:\n"
			   "  - { at: 1s, id: down, fault: partition, services: [api] }\n"
			   "  - { at: 2s, id: up, heal: [down] }\n"
			   "  - { at: 3s, end: true }\n"
			   "expect:\n"
			   "  - { flow: web, before: first-fault, success_rate: \">= 95%\" }\n"
			   "  - { flow: web, during: down, success_rate: \"> 95%\" }\n"
			   "  - { flow: web, during: always, p50: 50ms, p90: \"<= 90ms\", p99: \"< "
			   "99ms\", max_latency: 100ms }\n"
			   "  - { flow: web, during: down, fail_fast: 200ms, errors_are: "
			   "[\"status:503\", \"body:MARKER\"] }\n"
			   "  - { flow: web, after: down, recovers_within: 500ms }\n"
			   "  - { flow: web, during: down, fallback: via-fallback }\n"
			   "  - { flow: other, during: down, success_rate: \"100%\" }\n"
			   "  - { flow: web, during: down, no_retry_storm: { max_ratio: 3 } }\n"
			   "  - { flow: web, during: down, no_retry_storm: { max_ratio: 3 }, "
			   "success_rate: \"100%\" }\n"
			   "  - { name: ledger, invariant: { exec: \"true\" }, at: end }\n"
			   "  - { name: at-up, invariant: { exec: \"true\" }, at: up }\n";

enum { WEB, OTHER };
enum { DOWN, UP, END };
enum {
	E_BASELINE,
	E_DURING_RATE,
	E_LATENCY,
	E_FAIL_FAST,
	E_RECOVERY,
	E_FALLBACK,
	E_OTHER,
	E_STORM,
	E_STORM_AND_RATE,
	E_LEDGER,
	E_AT_UP,
};

#define BASE  (1000 * FL_NSEC_PER_SEC)
#define MS(x) ((uint64_t)(x)*FL_NSEC_PER_MSEC)

struct fixture {
	struct fl_scenario *s;
	struct fl_results *r;
	struct fl_judgements *j;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	f->s = parse_scenario(yaml);
	assert_int_equal(fl_results_new(f->s, BASE, &f->r), 0);
	f->r->stop_ns = BASE + MS(3500);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	fl_judgements_free(f->j);
	fl_results_free(f->r);
	fl_scenario_free(f->s);
	free(f);
	return 0;
}

static void phase(struct fixture *f, uint32_t kind, uint32_t step, uint64_t t_ms)
{
	const struct fl_phase_event ev = { .kind = kind, .step = step, .t_ns = BASE + MS(t_ms) };

	assert_int_equal(fl_phase_tracker_feed(f->r->phases, &ev), 0);
}

/* The timeline as it happened: down at 1 s, healed at 2 s, end at 3 s. */
static void all_phases(struct fixture *f)
{
	phase(f, FL_PHASE_START, 0, 0);
	phase(f, FL_PHASE_STEP_APPLIED, DOWN, 1000);
	phase(f, FL_PHASE_STEP_APPLIED, UP, 2000);
	phase(f, FL_PHASE_END, END, 3000);
}

static void probe_at(struct fixture *f, uint32_t flow, uint64_t start_ns, uint64_t lat_ns,
		     enum fl_outcome out, int code, uint64_t markers)
{
	struct fl_probe_result p = {
		.flow = flow,
		.scheduled_ns = start_ns,
		.start_ns = start_ns,
		.latency_ns = lat_ns,
		.outcome = out,
		.code = code,
		.markers = markers,
		.phase_set = fl_phase_tracker_current(f->r->phases),
	};

	p.detail = fl_outcome_to_string(out);
	assert_int_equal(fl_results_add_probe(f->r, &p), 0);
}

static void probe(struct fixture *f, uint32_t flow, uint64_t t_ms, uint64_t lat_ms,
		  enum fl_outcome out, int code, uint64_t markers)
{
	probe_at(f, flow, BASE + MS(t_ms), MS(lat_ms), out, code, markers);
}

static const struct fl_judgement *judge(struct fixture *f, size_t e)
{
	fl_judgements_free(f->j);
	f->j = NULL;
	assert_int_equal(fl_judge(f->r, &f->j), 0);
	assert_int_equal(f->j->n, f->s->n_expects);
	return &f->j->v[e];
}

static const struct fl_metric_verdict *metric(const struct fl_judgement *j, unsigned bit)
{
	size_t i = 0;

	while (i < j->n_metrics && j->metrics[i].metric != bit)
		i++;
	if (i == j->n_metrics)
		fail_msg("metric %s not judged", fl_metric_to_string(bit));
	return &j->metrics[i < FL_METRICS_MAX ? i : 0];
}

static void test_success_rate_exact(void **state)
{
	struct fixture *f = *state;
	const struct fl_judgement *j;

	all_phases(f);
	for (int i = 0; i < 20; i++)
		probe(f, WEB, 10 + 45 * i, 5, FL_OUT_OK, 200, 0);
	for (int i = 0; i < 19; i++)
		probe(f, WEB, 1000 + 50 * i, 5, FL_OUT_OK, 200, 0);
	probe(f, WEB, 1960, 5, FL_OUT_HTTP_STATUS, 503, 0);

	j = judge(f, E_BASELINE);
	assert_int_equal(j->verdict, FL_VERDICT_PASS);
	assert_int_equal(j->samples, 20);
	assert_u64_equal(j->from_ns, 0);
	assert_u64_equal(j->to_ns, MS(1000));

	/* 19 of 20 is exactly 95 %: "> 95%" fails, without rounding either way. */
	j = judge(f, E_DURING_RATE);
	assert_int_equal(j->verdict, FL_VERDICT_FAIL);
	assert_int_equal(j->samples, 20);
	assert_int_equal(j->ok, 19);
	assert_int_equal(j->failed, 1);
	assert_u64_equal(metric(j, FL_M_SUCCESS_RATE)->value, 950000000);
	assert_contains(j->reason, "success_rate: success rate 95% (19 of 20), expected > 95%");
	assert_int_equal(fl_judgements_exit_status(f->j), 1);
	assert_int_equal(f->j->overall, FL_VERDICT_FAIL);
}

static void test_percentiles(void **state)
{
	struct fixture *f = *state;
	const struct fl_judgement *j;

	all_phases(f);
	/* 1..100 ms, added out of order: nearest rank gives p50 50, p90 90, p99 99. */
	for (int i = 100; i >= 1; i--)
		probe(f, WEB, (uint64_t)i * 30, (uint64_t)i, FL_OUT_OK, 200, 0);
	j = judge(f, E_LATENCY);
	assert_int_equal(j->samples, 100);
	assert_u64_equal(j->p50_ns, MS(50));
	assert_u64_equal(j->p90_ns, MS(90));
	assert_u64_equal(j->p99_ns, MS(99));
	assert_u64_equal(j->max_ns, MS(100));
	assert_int_equal(metric(j, FL_M_P50)->verdict, FL_VERDICT_PASS);
	assert_int_equal(metric(j, FL_M_P90)->verdict, FL_VERDICT_PASS);
	assert_int_equal(metric(j, FL_M_P99)->verdict, FL_VERDICT_FAIL); /* 99 ms is not < 99 ms */
	assert_int_equal(metric(j, FL_M_MAX_LATENCY)->verdict, FL_VERDICT_PASS);
	assert_int_equal(j->verdict, FL_VERDICT_FAIL);
	assert_contains(j->reason, "p99: p99 99ms over 100 probes, expected < 99ms");
	/* Evidence: no failure, so the slowest first. */
	assert_int_equal(j->n_worst, FL_WORST_MAX);
	assert_u64_equal(f->r->probes[j->worst[0]].latency_ns, MS(100));
	assert_u64_equal(f->r->probes[j->worst[4]].latency_ns, MS(96));
}

static void test_window_bounds(void **state)
{
	struct fixture *f = *state;
	const struct fl_judgement *j;

	all_phases(f);
	probe_at(f, WEB, BASE + MS(1000) - 1, 1, FL_OUT_HTTP_STATUS, 500, 0); /* before */
	probe_at(f, WEB, BASE + MS(1000), 1, FL_OUT_OK, 200, 0);	      /* first in */
	probe_at(f, WEB, BASE + MS(2000) - 1, 1, FL_OUT_OK, 200, 0);	      /* last in */
	probe_at(f, WEB, BASE + MS(2000), 1, FL_OUT_HTTP_STATUS, 500, 0);     /* healed */
	j = judge(f, E_DURING_RATE);
	assert_int_equal(j->samples, 2);
	assert_int_equal(j->verdict, FL_VERDICT_PASS);
	assert_u64_equal(j->from_ns, MS(1000));
	assert_u64_equal(j->to_ns, MS(2000));
	/* 2 of 3: 66.66 % for people (truncated, never rounded up to a bound), exact in the value.
	 */
	probe_at(f, WEB, BASE + MS(1500), 1, FL_OUT_TIMEOUT, 0, 0);
	j = judge(f, E_DURING_RATE);
	assert_contains(j->reason, "success rate 66.66% (2 of 3)");
	assert_u64_equal(metric(j, FL_M_SUCCESS_RATE)->value, 666666666);
}

static void test_skipped_are_not_samples(void **state)
{
	struct fixture *f = *state;
	const struct fl_judgement *j;

	all_phases(f);
	for (int i = 0; i < 3; i++)
		probe(f, WEB, 1100 + 100 * i, 5, FL_OUT_OK, 200, 0);
	for (int i = 0; i < 5; i++)
		probe(f, WEB, 1500 + 10 * i, 0, FL_OUT_SKIPPED, 0, 0);
	j = judge(f, E_DURING_RATE);
	assert_int_equal(j->samples, 3);
	assert_int_equal(j->skipped, 5);
	assert_int_equal(j->verdict, FL_VERDICT_PASS);

	/* Only skipped probes: nothing was measured, which is not a pass. */
	j = judge(f, E_OTHER);
	assert_int_equal(j->verdict, FL_VERDICT_FAIL);
}

static void test_zero_samples_fail(void **state)
{
	struct fixture *f = *state;
	const struct fl_judgement *j;

	all_phases(f);
	probe(f, WEB, 1500, 5, FL_OUT_OK, 200, 0);
	probe(f, OTHER, 500, 5, FL_OUT_OK, 0, 0); /* outside the window */
	probe(f, OTHER, 1500, 0, FL_OUT_SKIPPED, 0, 0);
	j = judge(f, E_OTHER);
	assert_int_equal(j->samples, 0);
	assert_int_equal(j->verdict, FL_VERDICT_FAIL);
	assert_str(j->reason, "success_rate: no probe fell in the window (1 skipped)");
	assert_int_equal(j->n_worst, 0);
}

static void test_window_never_opened(void **state)
{
	struct fixture *f = *state;
	const struct fl_judgement *j;

	/* The run stopped before the fault. */
	phase(f, FL_PHASE_START, 0, 0);
	probe(f, WEB, 100, 5, FL_OUT_OK, 200, 0);
	probe(f, WEB, 1500, 5, FL_OUT_OK, 200, 0);
	j = judge(f, E_DURING_RATE);
	assert_int_equal(j->verdict, FL_VERDICT_FAIL);
	assert_false(j->window_known);
	assert_str(j->reason, "success_rate: the window never opened: down was never applied");
	j = judge(f, E_RECOVERY);
	assert_int_equal(j->verdict, FL_VERDICT_FAIL);
	assert_contains(j->reason, "down was never healed");
	/* Before the first fault is the whole run when no fault came. */
	j = judge(f, E_BASELINE);
	assert_int_equal(j->verdict, FL_VERDICT_PASS);
	assert_int_equal(j->samples, 2);
	/* at: end without END: the stop of probing; but nothing ran. */
	j = judge(f, E_LEDGER);
	assert_int_equal(j->verdict, FL_VERDICT_FAIL);
	assert_str(j->reason, "invariant: the invariant was never run");
	j = judge(f, E_AT_UP);
	assert_int_equal(j->verdict, FL_VERDICT_FAIL);
	assert_contains(j->reason, "the instant never came: up was never applied");
}

static void test_fail_fast_and_errors_are(void **state)
{
	struct fixture *f = *state;
	const struct fl_judgement *j;
	int marker = fl_results_marker(f->r, WEB, "MARKER");

	assert_true(marker >= 0);
	all_phases(f);
	probe(f, WEB, 1100, 50, FL_OUT_HTTP_STATUS, 503, 0);
	probe(f, WEB, 1200, 150, FL_OUT_BODY_MISMATCH, 200, 1ULL << marker);
	probe(f, WEB, 1300, 900, FL_OUT_OK, 200, 0); /* slow successes do not count */
	j = judge(f, E_FAIL_FAST);
	assert_int_equal(j->verdict, FL_VERDICT_PASS);
	assert_u64_equal(metric(j, FL_M_FAIL_FAST)->value, MS(150));
	assert_contains(metric(j, FL_M_ERRORS_ARE)->reason, "all 2 failures had an expected shape");

	/* A 502 is not a 503; a timeout is neither shape and hung for 1 s. */
	probe(f, WEB, 1400, 1000, FL_OUT_TIMEOUT, 0, 0);
	probe(f, WEB, 1500, 20, FL_OUT_HTTP_STATUS, 502, 0);
	j = judge(f, E_FAIL_FAST);
	assert_int_equal(j->verdict, FL_VERDICT_FAIL);
	assert_int_equal(metric(j, FL_M_FAIL_FAST)->verdict, FL_VERDICT_FAIL);
	assert_contains(metric(j, FL_M_FAIL_FAST)->reason,
			"1 of 4 failures took longer than 200ms (slowest 1s, timeout at 1.400s)");
	assert_int_equal(metric(j, FL_M_ERRORS_ARE)->verdict, FL_VERDICT_FAIL);
	assert_u64_equal(metric(j, FL_M_ERRORS_ARE)->value, 2);
	assert_contains(metric(j, FL_M_ERRORS_ARE)->reason,
			"2 of 4 failures had another shape, first: timeout");
	/* Failures lead the evidence, slowest first. */
	assert_int_equal(f->r->probes[j->worst[0]].outcome, FL_OUT_TIMEOUT);
	assert_int_equal(f->r->probes[j->worst[1]].outcome, FL_OUT_BODY_MISMATCH);
	assert_int_equal(f->r->probes[j->worst[3]].code, 502);
	assert_int_equal(f->r->probes[j->worst[4]].outcome, FL_OUT_OK);
}

static void test_fallback(void **state)
{
	struct fixture *f = *state;
	const struct fl_judgement *j;
	int marker = fl_results_marker(f->r, WEB, "via-fallback");

	assert_true(marker >= 0);
	all_phases(f);
	probe(f, WEB, 1100, 5, FL_OUT_HTTP_STATUS, 503, 0);
	j = judge(f, E_FALLBACK);
	assert_int_equal(j->verdict, FL_VERDICT_FAIL);
	assert_contains(j->reason, "no successful probe to carry the marker \"via-fallback\"");

	probe(f, WEB, 1200, 5, FL_OUT_OK, 200, 1ULL << marker);
	probe(f, WEB, 1300, 5, FL_OUT_OK, 200, 1ULL << marker);
	j = judge(f, E_FALLBACK);
	assert_int_equal(j->verdict, FL_VERDICT_PASS);

	probe(f, WEB, 1400, 5, FL_OUT_OK, 200, 0);
	j = judge(f, E_FALLBACK);
	assert_int_equal(j->verdict, FL_VERDICT_FAIL);
	assert_contains(j->reason, "2 of 3 successful probes carried \"via-fallback\"");
}

static void test_recovery(void **state)
{
	struct fixture *f = *state;
	const struct fl_judgement *j;

	all_phases(f);
	probe(f, WEB, 1900, 5, FL_OUT_TIMEOUT, 0, 0); /* before the heal: not in the window */
	probe(f, WEB, 2050, 5, FL_OUT_REFUSED, 0, 0);
	probe(f, WEB, 2100, 5, FL_OUT_OK, 200, 0);
	probe(f, WEB, 2150, 5, FL_OUT_RESET, 0, 0);
	for (int i = 0; i < 12; i++)
		probe(f, WEB, 2200 + 100 * i, 5, FL_OUT_OK, 200, 0);
	j = judge(f, E_RECOVERY);
	assert_int_equal(j->verdict, FL_VERDICT_PASS);
	assert_u64_equal(j->from_ns, MS(2000));
	assert_u64_equal(j->to_ns, MS(3500));
	assert_u64_equal(metric(j, FL_M_RECOVERS_WITHIN)->value, MS(200));

	probe(f, WEB, 2650, 5, FL_OUT_TIMEOUT, 0, 0);
	j = judge(f, E_RECOVERY);
	assert_int_equal(j->verdict, FL_VERDICT_FAIL);
	assert_contains(j->reason, "still failing 650ms after the heal: timeout");
}

static void test_recovery_nothing_after(void **state)
{
	struct fixture *f = *state;
	const struct fl_judgement *j;

	all_phases(f);
	probe(f, WEB, 2100, 5, FL_OUT_OK, 200, 0);
	probe(f, WEB, 2400, 5, FL_OUT_OK, 200, 0);
	j = judge(f, E_RECOVERY);
	assert_int_equal(j->verdict, FL_VERDICT_FAIL);
	assert_contains(j->reason, "no probe started later than 500ms after the heal");
}

static void test_retry_storm_never_passes(void **state)
{
	struct fixture *f = *state;
	const struct fl_judgement *j;

	all_phases(f);
	probe(f, WEB, 1100, 5, FL_OUT_OK, 200, 0);
	probe(f, WEB, 1200, 5, FL_OUT_TIMEOUT, 0, 0);
	j = judge(f, E_STORM);
	assert_int_equal(j->verdict, FL_VERDICT_SKIPPED);
	assert_str(j->reason, "no_retry_storm: not judged: needs the wire observer");
	j = judge(f, E_STORM_AND_RATE);
	assert_int_equal(j->verdict, FL_VERDICT_FAIL);
	assert_int_equal(metric(j, FL_M_NO_RETRY_STORM)->verdict, FL_VERDICT_SKIPPED);
	assert_int_equal(f->j->skipped, 1);
}

/* The wire observer's answer, as fl_judge_ex's callback: a fixed ratio or error. */
struct fake_wire {
	int r;
	uint64_t ratio_milli;
	uint64_t from_ns, to_ns; /* what the judge asked */
};

static int fake_ratio(const struct fl_expect *e, uint64_t from_ns, uint64_t to_ns,
		      uint64_t *ret_ratio_milli, char *why, size_t why_len, void *userdata)
{
	struct fake_wire *w = userdata;

	w->from_ns = from_ns;
	w->to_ns = to_ns;
	snprintf(why, why_len, "towards 'x'");
	if (w->r == 0)
		*ret_ratio_milli = w->ratio_milli;
	return w->r;
}

static void test_retry_storm_with_wire(void **state)
{
	struct fixture *f = *state;
	struct fake_wire w = { 0 };
	struct fl_judge_options o = { .retry_ratio = fake_ratio, .userdata = &w };
	const struct fl_judgement *j;

	all_phases(f);
	probe(f, WEB, 1100, 5, FL_OUT_OK, 200, 0);
	/* 3x is allowed (at most), 3.001x is a storm. */
	for (int k = 0; k < 3; k++) {
		fl_judgements_free(f->j);
		f->j = NULL;
		w = (struct fake_wire){ .r = k == 2 ? -ENODATA : 0, .ratio_milli = k ? 3001 : 3000 };
		assert_int_equal(fl_judge_ex(f->r, &o, &f->j), 0);
		j = &f->j->v[E_STORM];
		if (k == 0) {
			assert_int_equal(j->verdict, FL_VERDICT_PASS);
			assert_int_equal(metric(j, FL_M_NO_RETRY_STORM)->value, 3000);
		} else if (k == 1) {
			assert_int_equal(j->verdict, FL_VERDICT_FAIL);
			assert_non_null(strstr(j->reason, "3.001x the baseline's rate towards 'x'"));
		} else {
			/* The wire could not say: never a pass. */
			assert_int_equal(j->verdict, FL_VERDICT_SKIPPED);
			assert_non_null(strstr(j->reason, "not judged: towards 'x'"));
		}
		/* The window asked about is the fault's, in absolute time. */
		assert_true(w.from_ns > f->r->start_ns && w.to_ns > w.from_ns);
	}
}

static void test_invariants(void **state)
{
	struct fixture *f = *state;
	struct fl_probe_result run = { .flow = E_LEDGER,
				       .start_ns = BASE + MS(3000),
				       .latency_ns = MS(3),
				       .outcome = FL_OUT_OK };
	const struct fl_judgement *j;

	all_phases(f);
	assert_int_equal(fl_results_add_invariant(f->r, &run), 0);
	run.flow = E_AT_UP;
	run.outcome = FL_OUT_EXIT_CODE;
	run.code = 1;
	run.detail = "exit 1, expected 0";
	assert_int_equal(fl_results_add_invariant(f->r, &run), 0);
	run.flow = 999;
	assert_int_equal(fl_results_add_invariant(f->r, &run), -EINVAL);

	j = judge(f, E_LEDGER);
	assert_int_equal(j->verdict, FL_VERDICT_PASS);
	assert_u64_equal(j->from_ns, MS(3000));
	assert_int_equal(j->samples, 1);
	j = judge(f, E_AT_UP);
	assert_int_equal(j->verdict, FL_VERDICT_FAIL);
	assert_u64_equal(j->from_ns, MS(2000));
	assert_contains(j->reason, "invariant: exit_code at 3.000s, took ");
	assert_contains(j->reason, " (exit 1, expected 0)");
	assert_u64_equal(metric(j, FL_M_INVARIANT)->value, 1);
}

static void test_overall(void **state)
{
	struct fixture *f = *state;
	_cleanup_(fl_scenario_freep) struct fl_scenario *s = parse_scenario(
		"version: 1\nname: x\nservices: { a: { endpoints: [\"127.0.0.1:1\"] } }\n"
		"flows: { w: { tcp: { address: \"127.0.0.1:1\" }, every: 1s } }\n"
		"timeline: [ { at: 1s, id: d, fault: partition, services: [a] }, { at: 2s, end: "
		"true } ]\n"
		"expect: [ { flow: w, during: d, no_retry_storm: { max_ratio: 2 } } ]\n");
	_cleanup_(fl_results_freep) struct fl_results *r = NULL;
	_cleanup_(fl_judgements_freep) struct fl_judgements *js = NULL;

	(void)f;
	assert_int_equal(fl_results_new(s, BASE, &r), 0);
	assert_int_equal(fl_judge(r, &js), 0);
	/* Only something unjudged: SKIPPED overall, exit 0, never PASS. */
	assert_int_equal(js->overall, FL_VERDICT_SKIPPED);
	assert_int_equal(js->pass, 0);
	assert_int_equal(fl_judgements_exit_status(js), 0);
	fl_judgements_free(NULL);
	fl_results_free(NULL);
}

static void test_result_bounds(void **state)
{
	struct fixture *f = *state;
	struct fl_probe_result p = { .flow = 2 };

	assert_int_equal(fl_results_add_probe(f->r, &p), -EINVAL);
	p.flow = WEB;
	p.phase_set = 7;
	assert_int_equal(fl_results_add_probe(f->r, &p), -EINVAL);
	assert_int_equal(fl_results_marker(f->r, OTHER, "MARKER"), -ENOENT);
	assert_int_equal(fl_results_marker(f->r, 9, "MARKER"), -ENOENT);
}

/*
 * A record's detail is copied, not borrowed: one copy per distinct text
 * (so a record stays 56 bytes), cut at FL_DETAIL_MAX - 1, "" for none.
 */
static void test_result_details(void **state)
{
	struct fixture *f = *state;
	struct fl_probe_result p = { .flow = WEB };
	char buf[FL_DETAIL_MAX + 50];

	assert_int_equal(sizeof(struct fl_probe_result), 56);
	snprintf(buf, sizeof(buf), "HTTP 200");
	p.detail = buf;
	assert_int_equal(fl_results_add_probe(f->r, &p), 0);
	snprintf(buf, sizeof(buf), "HTTP 503");
	assert_int_equal(fl_results_add_probe(f->r, &p), 0);
	p.detail = "HTTP 200";
	assert_int_equal(fl_results_add_invariant(f->r, &(struct fl_probe_result){ .detail = "HTTP 200" }), 0);
	assert_int_equal(fl_results_add_probe(f->r, &p), 0);
	memset(buf, 'x', sizeof(buf) - 1);
	buf[sizeof(buf) - 1] = '\0';
	p.detail = buf;
	assert_int_equal(fl_results_add_probe(f->r, &p), 0);
	p.detail = NULL;
	assert_int_equal(fl_results_add_probe(f->r, &p), 0);
	buf[0] = '\0'; /* the caller's buffer is its own again */

	assert_int_equal(f->r->n_probes, 5);
	assert_string_equal(f->r->probes[0].detail, "HTTP 200");
	assert_string_equal(f->r->probes[1].detail, "HTTP 503");
	assert_ptr_equal(f->r->probes[2].detail, f->r->probes[0].detail);
	assert_ptr_equal(f->r->invariants[0].detail, f->r->probes[0].detail);
	assert_int_equal(strlen(f->r->probes[3].detail), FL_DETAIL_MAX - 1);
	assert_string_equal(f->r->probes[4].detail, "");
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_success_rate_exact, setup, teardown),
		cmocka_unit_test_setup_teardown(test_percentiles, setup, teardown),
		cmocka_unit_test_setup_teardown(test_window_bounds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_skipped_are_not_samples, setup, teardown),
		cmocka_unit_test_setup_teardown(test_zero_samples_fail, setup, teardown),
		cmocka_unit_test_setup_teardown(test_window_never_opened, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fail_fast_and_errors_are, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fallback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recovery, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recovery_nothing_after, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retry_storm_never_passes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retry_storm_with_wire, setup, teardown),
		cmocka_unit_test_setup_teardown(test_invariants, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overall, setup, teardown),
		cmocka_unit_test_setup_teardown(test_result_bounds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_result_details, setup, teardown),
	};

	return fl_unit_run(argc, argv, "harness/judge", tests, ELEMENTSOF(tests), NULL, 0);
}
