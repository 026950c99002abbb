/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "judge/judge.h"
#include "util/units.h"

static const struct {
	unsigned bit;
	const char *name;
} metric_names[] = {
	{FL_M_SUCCESS_RATE, "success_rate"},
	{FL_M_P50, "p50"},
	{FL_M_P90, "p90"},
	{FL_M_P99, "p99"},
	{FL_M_MAX_LATENCY, "max_latency"},
	{FL_M_FAIL_FAST, "fail_fast"},
	{FL_M_ERRORS_ARE, "errors_are"},
	{FL_M_FALLBACK, "fallback"},
	{FL_M_RECOVERS_WITHIN, "recovers_within"},
	{FL_M_INVARIANT, "invariant"},
	{FL_M_NO_RETRY_STORM, "no_retry_storm"},
};

const char *fl_metric_to_string(unsigned metric)
{
	for (size_t i = 0; i < ELEMENTSOF(metric_names); i++)
		if (metric_names[i].bit == metric)
			return metric_names[i].name;
	return "unknown";
}

const char *fl_verdict_to_string(enum fl_verdict v)
{
	switch (v) {
	case FL_VERDICT_PASS:
		return "PASS";
	case FL_VERDICT_FAIL:
		return "FAIL";
	case FL_VERDICT_SKIPPED:
		return "SKIPPED";
	}
	return "unknown";
}

const char *fl_window_kind_to_string(enum fl_window_kind k)
{
	switch (k) {
	case FL_WIN_ALWAYS:
		return "always";
	case FL_WIN_DURING:
		return "during";
	case FL_WIN_AFTER:
		return "after";
	case FL_WIN_BEFORE:
		return "before";
	case FL_WIN_AT:
		return "at";
	}
	return "unknown";
}

/* ---- windows ------------------------------------------------------------ */

struct window {
	bool known;
	uint64_t from, to; /* absolute, [from, to) */
	char why[FL_REASON_MAX];
};

static void window_of(const struct fl_results *r, const struct fl_expect *e, struct window *w)
{
	const struct fl_phase_tracker *t = r->phases;
	const struct fl_scenario *s = r->s;
	size_t k = e->window.step.index;
	const char *id = e->window.step.name;

	*w = (struct window){.known = true, .from = r->start_ns, .to = r->stop_ns};
	switch (e->window.kind) {
	case FL_WIN_ALWAYS:
		return;
	case FL_WIN_BEFORE:
		if (e->window.first_fault) {
			for (size_t i = 0; i < s->n_steps; i++)
				if (s->steps[i].kind == FL_STEP_FAULT && t->applied_ns[i] < w->to)
					w->to = t->applied_ns[i];
			return;
		}
		if (k < s->n_steps && t->applied_ns[k] < w->to)
			w->to = t->applied_ns[k];
		return;
	case FL_WIN_DURING:
		if (k >= s->n_steps || t->applied_ns[k] == FL_NEVER) {
			w->known = false;
			snprintf(w->why, sizeof(w->why),
				 "the window never opened: %s was never applied",
				 id ? id : "the step");
			return;
		}
		w->from = t->applied_ns[k];
		if (t->healed_ns[k] < w->to)
			w->to = t->healed_ns[k];
		return;
	case FL_WIN_AFTER:
		if (k < s->n_steps && s->steps[k].kind == FL_STEP_FAULT) {
			w->from = t->healed_ns[k];
			if (w->from == FL_NEVER)
				snprintf(w->why, sizeof(w->why),
					 "the window never opened: %s was never healed", id);
		} else {
			w->from = k < s->n_steps ? t->applied_ns[k] : FL_NEVER;
			if (w->from == FL_NEVER)
				snprintf(w->why, sizeof(w->why),
					 "the window never opened: %s was never applied",
					 id ? id : "the step");
		}
		w->known = w->from != FL_NEVER;
		return;
	case FL_WIN_AT:
		w->from =
			e->window.end ? t->end_ns : (k < s->n_steps ? t->applied_ns[k] : FL_NEVER);
		if (e->window.end && w->from == FL_NEVER)
			w->from = r->stop_ns; /* no END: the invariant ran when probing stopped */
		w->known = w->from != FL_NEVER;
		if (!w->known)
			snprintf(w->why, sizeof(w->why),
				 "the instant never came: %s was never applied",
				 id ? id : "the step");
		w->to = w->from;
		return;
	}
}

/* ---- helpers ------------------------------------------------------------- */

static bool cmp_holds(uint64_t a, enum fl_cmp c, uint64_t b)
{
	switch (c) {
	case FL_CMP_LT:
		return a < b;
	case FL_CMP_LE:
		return a <= b;
	case FL_CMP_GT:
		return a > b;
	case FL_CMP_GE:
		return a >= b;
	case FL_CMP_EQ:
		return a == b;
	}
	return false;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest rank: the smallest sample with at least pct % of samples at or below it. */
static uint64_t percentile(const uint64_t *sorted, size_t n, unsigned pct)
{
	size_t rank = (n * pct + 99) / 100;

	return sorted[rank ? rank - 1 : 0];
}

static int by_start(const void *a, const void *b, void *userdata)
{
	const struct fl_probe_result *v = userdata;
	uint64_t x = v[*(const size_t *)a].start_ns, y = v[*(const size_t *)b].start_ns;

	return x < y ? -1 : x > y;
}

static int worse(const void *a, const void *b, void *userdata)
{
	const struct fl_probe_result *v = userdata;
	const struct fl_probe_result *x = &v[*(const size_t *)a], *y = &v[*(const size_t *)b];
	bool fx = fl_outcome_failed(x->outcome), fy = fl_outcome_failed(y->outcome);

	if (fx != fy)
		return fx ? -1 : 1;
	if (x->latency_ns != y->latency_ns)
		return x->latency_ns > y->latency_ns ? -1 : 1;
	return x->start_ns < y->start_ns ? -1 : x->start_ns > y->start_ns;
}

static struct fl_metric_verdict *add_metric(struct fl_judgement *j, unsigned metric,
					    enum fl_verdict v, const char *fmt, ...) _printf_(4, 5);
static struct fl_metric_verdict *add_metric(struct fl_judgement *j, unsigned metric,
					    enum fl_verdict v, const char *fmt, ...)
{
	struct fl_metric_verdict *m = &j->metrics[j->n_metrics++];
	va_list ap;

	m->metric = metric;
	m->verdict = v;
	va_start(ap, fmt);
	vsnprintf(m->reason, sizeof(m->reason), fmt, ap);
	va_end(ap);
	return m;
}

static void set_value(struct fl_metric_verdict *m, uint64_t v)
{
	m->has_value = true;
	m->value = v;
}

static bool shape_matches(const struct fl_results *r, const struct fl_probe_result *p,
			  const char *shape)
{
	static const struct {
		const char *word;
		enum fl_outcome out;
	} words[] = {
		{"refused", FL_OUT_REFUSED},	     {"reset", FL_OUT_RESET},
		{"timeout", FL_OUT_TIMEOUT},	     {"dns", FL_OUT_DNS_ERROR},
		{"unreachable", FL_OUT_UNREACHABLE}, {"tls", FL_OUT_TLS_ERROR},
		{"exit", FL_OUT_EXIT_CODE},
	};
	int k;

	if (strncmp(shape, "status:", 7) == 0)
		return p->outcome == FL_OUT_HTTP_STATUS && p->code == atoi(shape + 7);
	if (strncmp(shape, "body:", 5) == 0) {
		k = fl_results_marker(r, p->flow, shape + 5);
		return k >= 0 && (p->markers & (1ULL << k));
	}
	for (size_t i = 0; i < ELEMENTSOF(words); i++)
		if (strcmp(shape, words[i].word) == 0)
			return p->outcome == words[i].out;
	return false;
}

/*
 * A measured span for people: at most three decimals of the largest unit
 * that fits, trailing zeros dropped ("5.22ms", "1s", "628.9us"). Bounds the
 * user wrote are exact already and fit this too ("500ms").
 */
static const char *dur(uint64_t ns, char buf[static FL_FMT_MAX])
{
	const char *unit = "s";
	double v = (double)ns / 1e9;
	int decimals = 3;
	char *p;

	if (ns < FL_NSEC_PER_MSEC) {
		v = (double)ns / 1e3;
		unit = "us";
		decimals = 1;
	} else if (ns < FL_NSEC_PER_SEC) {
		v = (double)ns / 1e6;
		unit = "ms";
	}
	snprintf(buf, FL_FMT_MAX, "%.*f", decimals, v);
	p = buf + strlen(buf) - 1;
	while (*p == '0')
		*p-- = '\0';
	if (*p == '.')
		*p = '\0';
	strcat(buf, unit);
	return buf;
}

/* "12.345s": a probe's time from the start, to the millisecond, for people. */
static const char *rel(const struct fl_results *r, uint64_t t, char buf[static FL_FMT_MAX])
{
	uint64_t ms = (t > r->start_ns ? t - r->start_ns : 0) / FL_NSEC_PER_MSEC;

	snprintf(buf, FL_FMT_MAX, "%llu.%03llus", (unsigned long long)(ms / 1000),
		 (unsigned long long)(ms % 1000));
	return buf;
}

/* ---- metrics ------------------------------------------------------------- */

struct sample_set {
	const struct fl_probe_result *v;
	size_t *idx; /* probes in the window, not skipped, in start order */
	size_t n;
	uint64_t *lat; /* sorted latencies */
};

static void judge_latency(struct fl_judgement *j, unsigned metric, const char *name,
			  const struct fl_latency_bound *b, uint64_t value)
{
	char v[FL_FMT_MAX], w[FL_FMT_MAX];
	bool ok = cmp_holds(value, b->cmp, b->ns);

	set_value(add_metric(j, metric, ok ? FL_VERDICT_PASS : FL_VERDICT_FAIL,
			     "%s %s over %zu probes, expected %s %s", name, dur(value, v),
			     j->samples, fl_cmp_to_string(b->cmp), dur(b->ns, w)),
		  value);
}

static void judge_success(struct fl_judgement *j, const struct fl_expect *e)
{
	char v[FL_FMT_MAX], w[FL_FMT_MAX];
	unsigned __int128 lhs = (unsigned __int128)j->ok * FL_PPB_100;
	unsigned __int128 rhs = (unsigned __int128)e->success_ppb * j->samples;
	uint64_t ppb = (uint64_t)(lhs / j->samples);
	bool ok;

	/* Compared as ok/samples against ppb/1e9 without rounding. */
	switch (e->success_cmp) {
	case FL_CMP_LT:
		ok = lhs < rhs;
		break;
	case FL_CMP_LE:
		ok = lhs <= rhs;
		break;
	case FL_CMP_GT:
		ok = lhs > rhs;
		break;
	case FL_CMP_EQ:
		ok = lhs == rhs;
		break;
	default:
		ok = lhs >= rhs;
	}
	/*
	 * For people: two decimals, truncated, so a rate just short of a bound
	 * never prints as the bound itself; the counts beside it are exact.
	 */
	snprintf(v, sizeof(v), "%llu.%02llu", (unsigned long long)(ppb / 10000000),
		 (unsigned long long)(ppb / 100000 % 100));
	if (strcmp(v + strlen(v) - 3, ".00") == 0)
		v[strlen(v) - 3] = '\0';
	else if (v[strlen(v) - 1] == '0')
		v[strlen(v) - 1] = '\0';
	set_value(add_metric(j, FL_M_SUCCESS_RATE, ok ? FL_VERDICT_PASS : FL_VERDICT_FAIL,
			     "success rate %s%% (%zu of %zu), expected %s %s", v, j->ok, j->samples,
			     fl_cmp_to_string(e->success_cmp),
			     fl_format_percent(e->success_ppb, w)),
		  ppb);
}

static void judge_fail_fast(struct fl_judgement *j, const struct fl_results *r,
			    const struct sample_set *ss, const struct fl_expect *e)
{
	char v[FL_FMT_MAX], w[FL_FMT_MAX], at[FL_FMT_MAX];
	const struct fl_probe_result *slow = NULL;
	size_t over = 0;

	for (size_t i = 0; i < ss->n; i++) {
		const struct fl_probe_result *p = &ss->v[ss->idx[i]];

		if (!fl_outcome_failed(p->outcome))
			continue;
		if (!slow || p->latency_ns > slow->latency_ns)
			slow = p;
		over += p->latency_ns > e->fail_fast_ns;
	}
	if (!slow) {
		set_value(add_metric(j, FL_M_FAIL_FAST, FL_VERDICT_PASS, "no probe failed"), 0);
		return;
	}
	if (over == 0) {
		set_value(add_metric(j, FL_M_FAIL_FAST, FL_VERDICT_PASS,
				     "the slowest of %zu failures took %s, within %s", j->failed,
				     dur(slow->latency_ns, v), dur(e->fail_fast_ns, w)),
			  slow->latency_ns);
		return;
	}
	set_value(add_metric(j, FL_M_FAIL_FAST, FL_VERDICT_FAIL,
			     "%zu of %zu failures took longer than %s (slowest %s, %s at %s)", over,
			     j->failed, dur(e->fail_fast_ns, w), dur(slow->latency_ns, v),
			     fl_outcome_to_string(slow->outcome), rel(r, slow->start_ns, at)),
		  slow->latency_ns);
}

static void judge_errors_are(struct fl_judgement *j, const struct fl_results *r,
			     const struct sample_set *ss, const struct fl_expect *e)
{
	const struct fl_probe_result *first = NULL;
	char at[FL_FMT_MAX];
	size_t bad = 0;

	for (size_t i = 0; i < ss->n; i++) {
		const struct fl_probe_result *p = &ss->v[ss->idx[i]];
		bool match = false;

		if (!fl_outcome_failed(p->outcome))
			continue;
		for (size_t k = 0; k < e->n_errors_are && !match; k++)
			match = shape_matches(r, p, e->errors_are[k]);
		if (!match && !bad++)
			first = p;
	}
	if (bad == 0) {
		set_value(add_metric(j, FL_M_ERRORS_ARE, FL_VERDICT_PASS,
				     j->failed ? "all %zu failures had an expected shape"
					       : "no probe failed (%zu)",
				     j->failed),
			  0);
		return;
	}
	set_value(add_metric(j, FL_M_ERRORS_ARE, FL_VERDICT_FAIL,
			     "%zu of %zu failures had another shape, first: %s (%s) at %s", bad,
			     j->failed, fl_outcome_to_string(first->outcome), first->detail,
			     rel(r, first->start_ns, at)),
		  bad);
}

static void judge_fallback(struct fl_judgement *j, const struct fl_results *r,
			   const struct sample_set *ss, const struct fl_expect *e)
{
	int k = fl_results_marker(r, e->flow.index, e->fallback);
	size_t without = 0;

	if (j->ok == 0) {
		add_metric(j, FL_M_FALLBACK, FL_VERDICT_FAIL,
			   "no successful probe to carry the marker \"%s\"", e->fallback);
		return;
	}
	for (size_t i = 0; i < ss->n; i++) {
		const struct fl_probe_result *p = &ss->v[ss->idx[i]];

		if (p->outcome == FL_OUT_OK && (k < 0 || !(p->markers & (1ULL << k))))
			without++;
	}
	set_value(add_metric(j, FL_M_FALLBACK, without ? FL_VERDICT_FAIL : FL_VERDICT_PASS,
			     "%zu of %zu successful probes carried \"%s\"", j->ok - without, j->ok,
			     e->fallback),
		  without);
}

static void judge_recovery(struct fl_judgement *j, const struct fl_results *r,
			   const struct sample_set *ss, const struct fl_expect *e, uint64_t heal)
{
	const uint64_t by = heal + e->recovers_within_ns;
	char v[FL_FMT_MAX], w[FL_FMT_MAX], at[FL_FMT_MAX];
	const struct fl_probe_result *bad = NULL;
	size_t after = 0, recovered = SIZE_MAX;

	for (size_t i = 0; i < ss->n; i++) {
		const struct fl_probe_result *p = &ss->v[ss->idx[i]];

		if (p->outcome != FL_OUT_OK)
			recovered = SIZE_MAX;
		else if (recovered == SIZE_MAX)
			recovered = i;
		if (p->start_ns < by)
			continue;
		after++;
		if (p->outcome != FL_OUT_OK && !bad)
			bad = p;
	}
	if (after == 0) {
		add_metric(j, FL_M_RECOVERS_WITHIN, FL_VERDICT_FAIL,
			   "no probe started later than %s after the heal",
			   dur(e->recovers_within_ns, w));
		return;
	}
	if (bad) {
		set_value(add_metric(j, FL_M_RECOVERS_WITHIN, FL_VERDICT_FAIL,
				     "still failing %s after the heal: %s (%s) at %s",
				     dur(bad->start_ns - heal, v),
				     fl_outcome_to_string(bad->outcome), bad->detail,
				     rel(r, bad->start_ns, at)),
			  bad->start_ns - heal);
		return;
	}
	/* Every probe from heal + within on succeeded, so a last good run exists. */
	uint64_t t = ss->v[ss->idx[recovered]].start_ns - heal;

	set_value(add_metric(j, FL_M_RECOVERS_WITHIN, FL_VERDICT_PASS,
			     "recovered %s after the heal (every probe from then on succeeded), "
			     "within %s",
			     dur(t, v), dur(e->recovers_within_ns, w)),
		  t);
}

static void judge_invariant(struct fl_judgement *j, const struct fl_results *r)
{
	const struct fl_probe_result *run = NULL;
	char v[FL_FMT_MAX], at[FL_FMT_MAX];

	for (size_t i = 0; i < r->n_invariants; i++)
		if (r->invariants[i].flow == j->expect) {
			run = &r->invariants[i];
			j->worst[0] = i;
			j->n_worst = 1;
			break;
		}
	if (!run) {
		add_metric(j, FL_M_INVARIANT, FL_VERDICT_FAIL, "the invariant was never run");
		return;
	}
	j->samples = 1;
	j->ok = run->outcome == FL_OUT_OK;
	j->failed = !j->ok;
	j->p50_ns = j->p90_ns = j->p99_ns = j->max_ns = run->latency_ns;
	set_value(add_metric(j, FL_M_INVARIANT, j->ok ? FL_VERDICT_PASS : FL_VERDICT_FAIL,
			     /* the detail last: a long one (a command's last words) loses its end */
			     "%s at %s, took %s (%s)", fl_outcome_to_string(run->outcome),
			     rel(r, run->start_ns, at), dur(run->latency_ns, v), run->detail),
		  (uint64_t)run->code);
}

/* ---- one expectation ----------------------------------------------------- */

static void judge_retry_storm(struct fl_judgement *j, const struct fl_expect *e,
			      const struct window *w, const struct fl_judge_options *o)
{
	char why[FL_REASON_MAX] = "";
	uint64_t ratio = 0;
	int r;

	if (!o || !o->retry_ratio) {
		add_metric(j, FL_M_NO_RETRY_STORM, FL_VERDICT_SKIPPED,
			   "not judged: needs the wire observer");
		return;
	}
	if (!w->known) {
		add_metric(j, FL_M_NO_RETRY_STORM, FL_VERDICT_FAIL, "%s", w->why);
		return;
	}
	r = o->retry_ratio(e, w->from, w->to, &ratio, why, sizeof(why), o->userdata);
	if (r < 0) {
		add_metric(j, FL_M_NO_RETRY_STORM, FL_VERDICT_SKIPPED, "not judged: %s",
			   *why ? why : strerror(-r));
		return;
	}
	struct fl_metric_verdict *m = add_metric(
		j, FL_M_NO_RETRY_STORM,
		ratio <= e->retry_storm_max_ratio_milli ? FL_VERDICT_PASS : FL_VERDICT_FAIL,
		"new attempts at %" PRIu64 ".%03" PRIu64
		"x the baseline's rate%s%s, expected at most %" PRIu64 ".%03" PRIu64 "x",
		ratio / 1000, ratio % 1000, *why ? " " : "", why,
		e->retry_storm_max_ratio_milli / 1000, e->retry_storm_max_ratio_milli % 1000);
	if (m) {
		m->has_value = true;
		m->value = ratio;
	}
}

static int judge_one(const struct fl_results *r, size_t ei, struct fl_judgement *j,
		     const struct fl_judge_options *o)
{
	const struct fl_expect *e = &r->s->expects[ei];
	_cleanup_free_ size_t *idx = NULL;
	_cleanup_free_ uint64_t *lat = NULL;
	struct sample_set ss = {.v = r->probes};
	struct window w;

	j->expect = ei;
	window_of(r, e, &w);
	j->window_known = w.known;
	if (w.known) {
		j->from_ns = w.from > r->start_ns ? w.from - r->start_ns : 0;
		j->to_ns = w.to > r->start_ns ? w.to - r->start_ns : 0;
	}

	if (e->metrics & FL_M_INVARIANT) {
		if (!w.known)
			add_metric(j, FL_M_INVARIANT, FL_VERDICT_FAIL, "%s", w.why);
		else
			judge_invariant(j, r);
		return 0;
	}

	idx = malloc((r->n_probes ? r->n_probes : 1) * sizeof(*idx));
	if (!idx)
		return -ENOMEM;
	for (size_t i = 0; w.known && i < r->n_probes; i++) {
		const struct fl_probe_result *p = &r->probes[i];

		/* A skipped probe was never sent: it belongs where it was due. */
		uint64_t t = p->outcome == FL_OUT_SKIPPED ? p->scheduled_ns : p->start_ns;

		if (p->flow != e->flow.index || t < w.from || t >= w.to)
			continue;
		if (p->outcome == FL_OUT_SKIPPED) {
			j->skipped++;
			continue;
		}
		idx[ss.n++] = i;
		if (p->outcome == FL_OUT_OK)
			j->ok++;
		else
			j->failed++;
	}
	j->samples = ss.n;
	ss.idx = idx;
	/* Probes are stored as they completed; recovery reads them as they started. */
	qsort_r(idx, ss.n, sizeof(*idx), by_start, (void *)r->probes);
	if (ss.n) {
		lat = malloc(ss.n * sizeof(*lat));
		if (!lat)
			return -ENOMEM;
		for (size_t i = 0; i < ss.n; i++)
			lat[i] = r->probes[idx[i]].latency_ns;
		qsort(lat, ss.n, sizeof(*lat), cmp_u64);
		j->p50_ns = percentile(lat, ss.n, 50);
		j->p90_ns = percentile(lat, ss.n, 90);
		j->p99_ns = percentile(lat, ss.n, 99);
		j->max_ns = lat[ss.n - 1];
		ss.lat = lat;
	}

	for (size_t m = 0; m < ELEMENTSOF(metric_names); m++) {
		unsigned bit = metric_names[m].bit;

		if (!(e->metrics & bit))
			continue;
		if (bit == FL_M_NO_RETRY_STORM) {
			judge_retry_storm(j, e, &w, o);
			continue;
		}
		if (!w.known) {
			add_metric(j, bit, FL_VERDICT_FAIL, "%s", w.why);
			continue;
		}
		if (ss.n == 0) {
			add_metric(j, bit, FL_VERDICT_FAIL,
				   "no probe fell in the window (%zu skipped)", j->skipped);
			continue;
		}
		switch (bit) {
		case FL_M_SUCCESS_RATE:
			judge_success(j, e);
			break;
		case FL_M_P50:
			judge_latency(j, bit, "p50", &e->p50, j->p50_ns);
			break;
		case FL_M_P90:
			judge_latency(j, bit, "p90", &e->p90, j->p90_ns);
			break;
		case FL_M_P99:
			judge_latency(j, bit, "p99", &e->p99, j->p99_ns);
			break;
		case FL_M_MAX_LATENCY:
			judge_latency(j, bit, "max latency", &e->max_latency, j->max_ns);
			break;
		case FL_M_FAIL_FAST:
			judge_fail_fast(j, r, &ss, e);
			break;
		case FL_M_ERRORS_ARE:
			judge_errors_are(j, r, &ss, e);
			break;
		case FL_M_FALLBACK:
			judge_fallback(j, r, &ss, e);
			break;
		case FL_M_RECOVERS_WITHIN:
			judge_recovery(j, r, &ss, e, w.from);
			break;
		}
	}

	/* Evidence: failures first, then the slowest. */
	qsort_r(idx, ss.n, sizeof(*idx), worse, (void *)r->probes);
	j->n_worst = ss.n < FL_WORST_MAX ? ss.n : FL_WORST_MAX;
	memcpy(j->worst, idx, j->n_worst * sizeof(*idx));
	return 0;
}

static void conclude(struct fl_judgement *j)
{
	const struct fl_metric_verdict *first_skip = NULL;

	j->verdict = FL_VERDICT_PASS;
	for (size_t i = 0; i < j->n_metrics; i++) {
		const struct fl_metric_verdict *m = &j->metrics[i];

		if (m->verdict == FL_VERDICT_FAIL) {
			j->verdict = FL_VERDICT_FAIL;
			snprintf(j->reason, sizeof(j->reason), "%s: %s",
				 fl_metric_to_string(m->metric), m->reason);
			return;
		}
		if (m->verdict == FL_VERDICT_SKIPPED && !first_skip)
			first_skip = m;
	}
	if (first_skip) {
		j->verdict = FL_VERDICT_SKIPPED;
		snprintf(j->reason, sizeof(j->reason), "%s: %s",
			 fl_metric_to_string(first_skip->metric), first_skip->reason);
	}
}

int fl_judge(const struct fl_results *r, struct fl_judgements **ret_judgements)
{
	return fl_judge_ex(r, NULL, ret_judgements);
}

int fl_judge_ex(const struct fl_results *r, const struct fl_judge_options *o,
		struct fl_judgements **ret_judgements)
{
	_cleanup_(fl_judgements_freep) struct fl_judgements *js = NULL;
	int k;

	js = calloc(1, sizeof(*js));
	if (!js)
		return -ENOMEM;
	js->r = r;
	js->n = r->s->n_expects;
	js->v = calloc(js->n ? js->n : 1, sizeof(*js->v));
	if (!js->v)
		return -ENOMEM;
	for (size_t i = 0; i < js->n; i++) {
		k = judge_one(r, i, &js->v[i], o);
		if (k < 0)
			return k;
		conclude(&js->v[i]);
		switch (js->v[i].verdict) {
		case FL_VERDICT_PASS:
			js->pass++;
			break;
		case FL_VERDICT_FAIL:
			js->fail++;
			break;
		case FL_VERDICT_SKIPPED:
			js->skipped++;
			break;
		}
	}
	js->overall = js->fail	    ? FL_VERDICT_FAIL
		      : js->skipped ? FL_VERDICT_SKIPPED
				    : FL_VERDICT_PASS;
	*ret_judgements = TAKE_PTR(js);
	return 0;
}

void fl_judgements_free(struct fl_judgements *j)
{
	if (!j)
		return;
	free(j->v);
	free(j);
}

int fl_judgements_exit_status(const struct fl_judgements *j)
{
	return j->overall == FL_VERDICT_FAIL ? 1 : 0;
}
