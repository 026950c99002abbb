/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include "report/report.h"
#include "report/report_internal.h"

static const char *step_kind(enum fl_step_kind k)
{
	return k == FL_STEP_FAULT ? "fault" : k == FL_STEP_HEAL ? "heal" : "end";
}

static const char *flow_target(const struct fl_flow *f)
{
	switch (f->kind) {
	case FL_FLOW_HTTP:
		return f->url;
	case FL_FLOW_TCP:
	case FL_FLOW_UDP:
		return f->address.text;
	case FL_FLOW_EXEC:
		return f->command;
	}
	return "";
}

static void str_or_null(struct fl_strbuf *sb, const char *s)
{
	if (s)
		fl_strbuf_append_json(sb, s);
	else
		fl_strbuf_append(sb, "null");
}

/* An instant relative to the start, or null if it never happened. */
static void rel_or_null(struct fl_strbuf *sb, const struct fl_results *r, uint64_t t)
{
	if (t == FL_NEVER)
		fl_strbuf_append(sb, "null");
	else
		fl_strbuf_appendf(sb, "%" PRIu64, t > r->start_ns ? t - r->start_ns : 0);
}

static void probe_json(struct fl_strbuf *sb, const struct fl_results *r,
		       const struct fl_probe_result *p, const char *owner)
{
	fl_strbuf_appendf(sb, "{\"%s\":%" PRIu32 ",\"scheduled_ns\":", owner, p->flow);
	rel_or_null(sb, r, p->scheduled_ns);
	fl_strbuf_append(sb, ",\"start_ns\":");
	rel_or_null(sb, r, p->start_ns);
	fl_strbuf_appendf(sb,
			  ",\"latency_ns\":%" PRIu64 ",\"outcome\":\"%s\",\"code\":%d,\"detail\":",
			  p->latency_ns, fl_outcome_to_string(p->outcome), p->code);
	fl_strbuf_append_json(sb, p->detail);
	fl_strbuf_appendf(sb, ",\"phase_set\":%" PRIu32 ",\"markers\":[", p->phase_set);
	for (unsigned b = 0, first = 1; b < 64; b++)
		if (p->markers & (1ULL << b)) {
			fl_strbuf_appendf(sb, "%s%u", first ? "" : ",", b);
			first = 0;
		}
	fl_strbuf_append(sb, "]}");
}

static void expectation_json(struct fl_strbuf *sb, const struct fl_judgements *js,
			     const struct fl_judgement *j)
{
	const struct fl_results *r = js->r;
	const struct fl_expect *e = &r->s->expects[j->expect];
	const bool inv = e->metrics & FL_M_INVARIANT;
	char name[200];

	fl_report_expect_name(e, name, sizeof(name));
	fl_strbuf_append(sb, "{\"name\":");
	fl_strbuf_append_json(sb, name);
	fl_strbuf_append(sb, ",\"flow\":");
	str_or_null(sb, fl_report_flow_name(js, j->expect));
	fl_strbuf_appendf(sb, ",\"line\":%u,\"window\":{\"kind\":\"%s\",\"step\":", e->pos.line,
			  fl_window_kind_to_string(e->window.kind));
	str_or_null(sb, e->window.first_fault ? "first-fault"
			: e->window.end	      ? "end"
					      : e->window.step.name);
	if (j->window_known)
		fl_strbuf_appendf(sb, ",\"from_ns\":%" PRIu64 ",\"to_ns\":%" PRIu64 "}", j->from_ns,
				  j->to_ns);
	else
		fl_strbuf_append(sb, ",\"from_ns\":null,\"to_ns\":null}");
	fl_strbuf_appendf(sb, ",\"verdict\":\"%s\",\"reason\":", fl_verdict_to_string(j->verdict));
	fl_strbuf_append_json(sb, j->reason);
	fl_strbuf_appendf(sb,
			  ",\"samples\":%zu,\"ok\":%zu,\"failed\":%zu,\"skipped\":%zu,\"latency\":",
			  j->samples, j->ok, j->failed, j->skipped);
	if (j->samples)
		fl_strbuf_appendf(sb,
				  "{\"p50_ns\":%" PRIu64 ",\"p90_ns\":%" PRIu64
				  ",\"p99_ns\":%" PRIu64 ",\"max_ns\":%" PRIu64 "}",
				  j->p50_ns, j->p90_ns, j->p99_ns, j->max_ns);
	else
		fl_strbuf_append(sb, "null");
	fl_strbuf_append(sb, ",\"metrics\":[");
	for (size_t i = 0; i < j->n_metrics; i++) {
		const struct fl_metric_verdict *m = &j->metrics[i];

		fl_strbuf_appendf(
			sb, "%s{\"metric\":\"%s\",\"verdict\":\"%s\",\"value\":", i ? "," : "",
			fl_metric_to_string(m->metric), fl_verdict_to_string(m->verdict));
		if (m->has_value)
			fl_strbuf_appendf(sb, "%" PRIu64, m->value);
		else
			fl_strbuf_append(sb, "null");
		fl_strbuf_append(sb, ",\"reason\":");
		fl_strbuf_append_json(sb, m->reason);
		fl_strbuf_append(sb, "}");
	}
	fl_strbuf_appendf(sb, "],\"worst\":{\"in\":\"%s\",\"index\":[",
			  inv ? "invariants" : "probes");
	for (size_t i = 0; i < j->n_worst; i++)
		fl_strbuf_appendf(sb, "%s%zu", i ? "," : "", j->worst[i]);
	fl_strbuf_append(sb, "]}}");
}

int fl_report_json(const struct fl_judgements *js, char **ret_text)
{
	const struct fl_results *r = js->r;
	const struct fl_scenario *s = r->s;
	const struct fl_phase_tracker *t = r->phases;
	struct fl_strbuf sb = { 0 };
	char *text;

	fl_strbuf_append(&sb,
			 "{\"format\":\"faultline-report\",\"version\":1,\"scenario\":{\"name\":");
	fl_strbuf_append_json(&sb, s->name);
	fl_strbuf_append(&sb, ",\"file\":");
	str_or_null(&sb, s->file);
	fl_strbuf_appendf(&sb, ",\"timescale_micro\":%" PRIu64 "}", s->timescale_micro);
	fl_strbuf_appendf(&sb,
			  ",\"verdict\":\"%s\",\"exit_status\":%d,\"counts\":{\"pass\":%zu,"
			  "\"fail\":%zu,\"skipped\":%zu}",
			  fl_verdict_to_string(js->overall), fl_judgements_exit_status(js),
			  js->pass, js->fail, js->skipped);
	fl_strbuf_appendf(&sb,
			  ",\"start_monotonic_ns\":%" PRIu64 ",\"duration_ns\":%" PRIu64
			  ",\"stopped_early\":%s,\"timeline_start_ns\":",
			  r->start_ns, r->stop_ns - r->start_ns,
			  r->stopped_early ? "true" : "false");
	rel_or_null(&sb, r, t->start_ns);
	fl_strbuf_append(&sb, ",\"timeline_end_ns\":");
	rel_or_null(&sb, r, t->end_ns);
	fl_strbuf_appendf(&sb, ",\"phase_events_rejected\":%zu", t->n_rejected);

	fl_strbuf_append(&sb, ",\"steps\":[");
	for (size_t i = 0; i < s->n_steps; i++) {
		const struct fl_step *st = &s->steps[i];

		fl_strbuf_appendf(&sb, "%s{\"index\":%zu,\"id\":", i ? "," : "", i);
		fl_strbuf_append_json(&sb, st->id);
		fl_strbuf_appendf(&sb, ",\"kind\":\"%s\",\"fault\":", step_kind(st->kind));
		str_or_null(&sb,
			    st->kind == FL_STEP_FAULT ? fl_fault_kind_to_string(st->fault) : NULL);
		fl_strbuf_appendf(&sb, ",\"scheduled_ns\":%" PRIu64 ",\"applied_ns\":",
				  fl_scenario_real_ns(s, st->at_ns));
		rel_or_null(&sb, r, t->applied_ns[i]);
		fl_strbuf_append(&sb, ",\"healed_ns\":");
		rel_or_null(&sb, r, st->kind == FL_STEP_FAULT ? t->healed_ns[i] : FL_NEVER);
		fl_strbuf_append(&sb, "}");
	}
	fl_strbuf_append(&sb, "],\"phase_sets\":[");
	for (size_t i = 0; i < t->n_sets; i++) {
		fl_strbuf_appendf(&sb, "%s{\"since_ns\":", i ? "," : "");
		rel_or_null(&sb, r, i ? t->sets[i].since_ns : r->start_ns);
		fl_strbuf_append(&sb, ",\"steps\":[");
		for (uint32_t k = 0; k < t->sets[i].n; k++)
			fl_strbuf_appendf(&sb, "%s%" PRIu32, k ? "," : "", t->sets[i].steps[k]);
		fl_strbuf_append(&sb, "]}");
	}
	fl_strbuf_append(&sb, "],\"flows\":[");
	for (size_t i = 0; i < s->n_flows; i++) {
		const struct fl_flow *f = &s->flows[i];

		fl_strbuf_appendf(&sb, "%s{\"name\":", i ? "," : "");
		fl_strbuf_append_json(&sb, f->name);
		fl_strbuf_appendf(&sb,
				  ",\"kind\":\"%s\",\"target\":", fl_flow_kind_to_string(f->kind));
		fl_strbuf_append_json(&sb, flow_target(f));
		fl_strbuf_appendf(&sb,
				  ",\"every_ns\":%" PRIu64 ",\"timeout_ns\":%" PRIu64
				  ",\"concurrency\":%" PRIu32 ",\"netns\":",
				  f->every_ns, f->timeout_ns, f->concurrency);
		str_or_null(&sb, f->netns);
		fl_strbuf_append(&sb, ",\"markers\":[");
		for (size_t m = 0; m < r->markers[i].n; m++) {
			fl_strbuf_append(&sb, m ? "," : "");
			fl_strbuf_append_json(&sb, r->markers[i].text[m]);
		}
		fl_strbuf_append(&sb, "]}");
	}
	fl_strbuf_append(&sb, "],\"probes\":[");
	for (size_t i = 0; i < r->n_probes; i++) {
		fl_strbuf_append(&sb, i ? ",\n" : "\n");
		probe_json(&sb, r, &r->probes[i], "flow");
	}
	fl_strbuf_append(&sb, "],\"invariants\":[");
	for (size_t i = 0; i < r->n_invariants; i++) {
		fl_strbuf_append(&sb, i ? ",\n" : "\n");
		probe_json(&sb, r, &r->invariants[i], "expectation");
	}
	fl_strbuf_append(&sb, "],\"expectations\":[");
	for (size_t i = 0; i < js->n; i++) {
		fl_strbuf_append(&sb, i ? ",\n" : "\n");
		expectation_json(&sb, js, &js->v[i]);
	}
	fl_strbuf_append(&sb, "]}\n");
	text = fl_strbuf_steal(&sb);
	if (!text)
		return -ENOMEM;
	*ret_text = text;
	return 0;
}
