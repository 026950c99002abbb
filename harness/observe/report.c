/* SPDX-License-Identifier: MIT */
/*
 * What the observer saw -> the wire report: stats per service x phase, each
 * fault's asked vs measured effect, the blast radius, retry ratios.
 * Tolerances are documented in docs/OBSERVER.md; keep the two in step.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "observe/observe_internal.h"

#define MS  1000000LL
#define PPB 1000000000.0
/* Delay: the smallest difference told apart from none, and the relative slack. */
#define DELAY_FLOOR_NS (1 * MS)
#define DELAY_REL_PCT  10
/* Loss-like fractions: absolute slack on top of three binomial standard deviations. */
#define FRACTION_SLACK 0.01
/* Partition: answered at least this share (per mille) of the baseline's rate: no effect. */
#define ANSWERED_SAME_PERMILLE 900
/* Blast radius: RTT growth that counts as touched (above DELAY_FLOOR_NS), in percent of the
 * baseline. */
#define BLAST_RTT_PCT 20

const char *fl_wire_verdict_to_string(enum fl_wire_verdict v)
{
	switch (v) {
	case FL_WIRE_VERDICT_OK:
		return "ok";
	case FL_WIRE_VERDICT_OUTSIDE:
		return "outside tolerance";
	case FL_WIRE_VERDICT_NO_EFFECT:
		return "no effect";
	case FL_WIRE_VERDICT_UNMEASURED:
		return "unmeasured";
	case FL_WIRE_VERDICT_UNSUPPORTED:
		return "not verified";
	}
	return "unknown";
}

/* ---- aggregation over phases and rows ----------------------------------------------------- */

struct agg {
	struct fl_wire_stats s; /* counters summed; dists of the merged samples */
	uint64_t *rtt, *gap, *udp_gap;
	size_t n_rtt, n_gap, n_udp_gap;
};

static void agg_done(struct agg *a)
{
	free(a->rtt);
	free(a->gap);
	free(a->udp_gap);
	*a = (struct agg){0};
}

static void add_counters(struct fl_wire_stats *d, const struct fl_wire_stats *s)
{
	for (int i = 0; i < 2; i++) {
		d->dir[i].packets += s->dir[i].packets;
		d->dir[i].bytes += s->dir[i].bytes;
		d->dir[i].segments += s->dir[i].segments;
		d->dir[i].retrans += s->dir[i].retrans;
		d->dir[i].out_of_order += s->dir[i].out_of_order;
		d->dir[i].rst += s->dir[i].rst;
	}
	d->syn += s->syn;
	d->syn_retrans += s->syn_retrans;
	d->synack += s->synack;
	d->connections += s->connections;
	d->handshakes += s->handshakes;
	d->icmp_unreach += s->icmp_unreach;
	d->udp_requests += s->udp_requests;
	d->udp_answered += s->udp_answered;
	d->answers += s->answers;
}

/* Sums the rows selected in rows[] over the phases selected in phases[] (NULL: none). */
static int aggregate(const struct fl_observer *o, const bool *phases, const bool *rows,
		     struct agg *a)
{
	size_t cap = o->n_stat_phases * o->n_rows, n = 0;
	_cleanup_free_ const struct obs_vec **rtt = calloc(cap ? cap : 1, sizeof(*rtt));
	_cleanup_free_ const struct obs_vec **gap = calloc(cap ? cap : 1, sizeof(*gap));
	_cleanup_free_ const struct obs_vec **udp = calloc(cap ? cap : 1, sizeof(*udp));
	int r;

	*a = (struct agg){0};
	if (!rtt || !gap || !udp)
		return -ENOMEM;
	for (size_t p = 0; p < o->n_stat_phases; p++) {
		if (!phases[p])
			continue;
		for (size_t w = 0; w < o->n_rows; w++) {
			const struct obs_stats *st = &o->stats[p * o->n_rows + w];

			if (!rows[w])
				continue;
			add_counters(&a->s, &st->s);
			rtt[n] = &st->rtt;
			gap[n] = &st->gap;
			udp[n] = &st->udp_gap;
			n++;
		}
	}
	r = obs_vec_sorted(rtt, n, &a->rtt, &a->n_rtt);
	if (r == 0)
		r = obs_vec_sorted(gap, n, &a->gap, &a->n_gap);
	if (r == 0)
		r = obs_vec_sorted(udp, n, &a->udp_gap, &a->n_udp_gap);
	if (r < 0) {
		agg_done(a);
		return r;
	}
	obs_dist(a->rtt, a->n_rtt, 0, &a->s.handshake_rtt);
	obs_dist(a->gap, a->n_gap, 0, &a->s.response_gap);
	obs_dist(a->udp_gap, a->n_udp_gap, 0, &a->s.udp_gap);
	return 0;
}

/* The same rows in the baseline and during a fault: both, or neither (freed). */
static int aggregate_both(const struct fl_observer *o, const bool *base_phases,
			  const bool *phases, const bool *rows, struct agg *ret_base,
			  struct agg *ret_during)
{
	int r = aggregate(o, base_phases, rows, ret_base);

	if (r < 0)
		return r;
	r = aggregate(o, phases, rows, ret_during);
	if (r < 0)
		agg_done(ret_base);
	return r;
}

static uint64_t packets_of(const struct fl_wire_stats *s)
{
	return s->dir[0].packets + s->dir[1].packets;
}

static uint64_t rejects_of(const struct fl_wire_stats *s)
{
	return s->dir[0].rst + s->dir[1].rst + s->icmp_unreach;
}

/* ---- fault verification ------------------------------------------------------------------- */

__attribute__((format(printf, 2, 3))) static void evidence(struct fl_wire_fault_check *c,
							   const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->evidence, sizeof(c->evidence), fmt, ap);
	va_end(ap);
}

static int64_t abs64(int64_t x)
{
	return x < 0 ? -x : x;
}

static void check_delay(const struct fl_step *st, const struct fl_plan_fault *pf,
			const struct agg *base, const struct agg *dur,
			struct fl_wire_fault_check *c)
{
	/*
	 * netem delays each direction it is given; the userspace engine holds
	 * the service's replies once whatever direction says (ARCHITECTURE.md).
	 */
	int64_t mult = st->direction == FL_DIR_BOTH && pf->engine != FL_ENGINE_USERSPACE ? 2 : 1;
	int64_t asked = (int64_t)st->params.delay_ns * mult;
	int64_t floor = asked / 100 * DELAY_REL_PCT;
	const struct fl_wire_dist *b, *d;

	if (floor < DELAY_FLOOR_NS)
		floor = DELAY_FLOOR_NS;
	c->asked = asked;
	c->tolerance = floor + (int64_t)st->params.jitter_ns * mult;
	if (base->s.handshake_rtt.n && dur->s.handshake_rtt.n) {
		c->metric = "handshake_rtt_delta_ns";
		b = &base->s.handshake_rtt;
		d = &dur->s.handshake_rtt;
	} else if (base->s.response_gap.n && dur->s.response_gap.n) {
		c->metric = "response_gap_delta_ns";
		b = &base->s.response_gap;
		d = &dur->s.response_gap;
	} else if (base->s.udp_gap.n && dur->s.udp_gap.n) {
		c->metric = "udp_gap_delta_ns";
		b = &base->s.udp_gap;
		d = &dur->s.udp_gap;
	} else {
		c->metric = "handshake_rtt_delta_ns";
		c->verdict = FL_WIRE_VERDICT_UNMEASURED;
		evidence(c,
			 "no round trip measured both before the first fault (%" PRIu64
			 " handshakes) and during it (%" PRIu64 ")",
			 base->s.handshake_rtt.n, dur->s.handshake_rtt.n);
		return;
	}
	c->baseline = (int64_t)b->p50_ns;
	c->measured = (int64_t)d->p50_ns - (int64_t)b->p50_ns;
	c->samples = d->n;
	if (abs64(c->measured - asked) <= c->tolerance)
		c->verdict = FL_WIRE_VERDICT_OK;
	else if (abs64(c->measured) <= floor)
		c->verdict = FL_WIRE_VERDICT_NO_EFFECT;
	else
		c->verdict = FL_WIRE_VERDICT_OUTSIDE;
	evidence(c,
		 "p50 %" PRIu64 " us over %" PRIu64 " samples vs %" PRIu64
		 " us before: %+.3f ms, asked %+.3f ms +- %.3f",
		 d->p50_ns / 1000, d->n, b->p50_ns / 1000, (double)c->measured / 1e6,
		 (double)asked / 1e6, (double)c->tolerance / 1e6);
}

/* Directions a fault's drops show in (the userspace engine acts on replies). */
static void fault_dirs(const struct fl_step *st, const struct fl_plan_fault *pf, bool dirs[2])
{
	if (pf->engine == FL_ENGINE_USERSPACE) {
		dirs[FL_WIRE_TO_SERVICE] = false;
		dirs[FL_WIRE_FROM_SERVICE] = true;
		return;
	}
	dirs[FL_WIRE_TO_SERVICE] = st->direction & FL_DIR_EGRESS;
	dirs[FL_WIRE_FROM_SERVICE] = st->direction & FL_DIR_INGRESS;
}

/* Loss and duplicate: a fraction of segments (or UDP requests), in ppb. */
static void check_fraction(const struct fl_step *st, const struct fl_plan_fault *pf,
			   const struct agg *base, const struct agg *dur,
			   struct fl_wire_fault_check *c)
{
	bool dup = st->fault == FL_FAULT_DUPLICATE, dirs[2];
	double p = (double)(dup ? st->params.duplicate_ppb : st->params.loss_ppb) / PPB;
	uint64_t seg_d = 0, bad_d = 0, seg_b = 0, bad_b = 0;
	double m, mb, sigma, tol;
	uint64_t n;

	fault_dirs(st, pf, dirs);
	for (int i = 0; i < 2; i++) {
		if (!dirs[i])
			continue;
		seg_d += dur->s.dir[i].segments;
		seg_b += base->s.dir[i].segments;
		/*
		 * A drop before the capture point leaves only the resend, which
		 * arrives below the highest sequence seen: out of order.
		 */
		bad_d += dur->s.dir[i].retrans + (dup ? 0 : dur->s.dir[i].out_of_order);
		bad_b += base->s.dir[i].retrans + (dup ? 0 : base->s.dir[i].out_of_order);
	}
	if (seg_d > 0) {
		c->metric = dup ? "duplicate_ppb" : "loss_ppb";
		n = seg_d;
		m = (double)bad_d / (double)seg_d;
		mb = seg_b ? (double)bad_b / (double)seg_b : 0;
		evidence(c,
			 "%" PRIu64 " of %" PRIu64 " TCP segments seen again%s (before: %" PRIu64
			 " of %" PRIu64 ")",
			 bad_d, seg_d, dup ? "" : " or late", bad_b, seg_b);
	} else if (!dup && dur->s.udp_requests > 0) {
		c->metric = "loss_ppb";
		n = dur->s.udp_requests;
		m = 1.0 - (double)dur->s.udp_answered / (double)n;
		mb = base->s.udp_requests
			     ? 1.0 - (double)base->s.udp_answered / (double)base->s.udp_requests
			     : 0;
		/* A UDP exchange crosses the fault once each way when it acts on both. */
		if (dirs[0] && dirs[1])
			p = 1.0 - (1.0 - p) * (1.0 - p);
		evidence(c,
			 "%" PRIu64 " of %" PRIu64 " UDP requests unanswered (before: %" PRIu64
			 " of %" PRIu64 ")",
			 n - dur->s.udp_answered, n, base->s.udp_requests - base->s.udp_answered,
			 base->s.udp_requests);
	} else {
		c->metric = dup ? "duplicate_ppb" : "loss_ppb";
		c->asked = (int64_t)(p * PPB);
		c->verdict = FL_WIRE_VERDICT_UNMEASURED;
		evidence(c, "no TCP segments%s in the fault's direction while it was active",
			 dup ? "" : " or UDP requests");
		return;
	}
	m -= mb;
	sigma = sqrt(p * (1.0 - p) / (double)n);
	tol = 3.0 * sigma + FRACTION_SLACK;
	c->asked = (int64_t)llround(p * PPB);
	c->measured = (int64_t)llround(m * PPB);
	c->baseline = (int64_t)llround(mb * PPB);
	c->tolerance = (int64_t)llround(tol * PPB);
	c->samples = n;
	if (fabs(m - p) <= tol)
		c->verdict = FL_WIRE_VERDICT_OK;
	else if (fabs(m) <= tol)
		c->verdict = FL_WIRE_VERDICT_NO_EFFECT;
	else
		c->verdict = FL_WIRE_VERDICT_OUTSIDE;
}

static void check_reject(const struct fl_step *st, const struct agg *base, const struct agg *dur,
			 struct fl_wire_fault_check *c)
{
	uint64_t rejects = rejects_of(&dur->s);
	uint64_t answered = dur->s.answers;
	uint64_t attempts = dur->s.connections + dur->s.udp_requests;

	c->metric = "rejects";
	c->asked = 1; /* at least one refusal, and (towards the service) no answer */
	c->measured = (int64_t)rejects;
	c->baseline = (int64_t)rejects_of(&base->s);
	c->samples = attempts + rejects;
	if (rejects > 0 && st->direction == FL_DIR_EGRESS && answered > 0)
		c->verdict = FL_WIRE_VERDICT_OUTSIDE;
	else if (rejects > 0)
		c->verdict = FL_WIRE_VERDICT_OK;
	else if (answered > 0)
		c->verdict = FL_WIRE_VERDICT_NO_EFFECT;
	else if (attempts > 0)
		c->verdict = FL_WIRE_VERDICT_OUTSIDE; /* silence: dropped, not refused */
	else
		c->verdict = FL_WIRE_VERDICT_UNMEASURED;
	evidence(c,
		 "%" PRIu64 " RST and %" PRIu64 " ICMP unreachable; %" PRIu64 " of %" PRIu64
		 " attempts answered",
		 dur->s.dir[0].rst + dur->s.dir[1].rst, dur->s.icmp_unreach, answered, attempts);
}

static void check_drop(const struct agg *base, const struct agg *dur, struct fl_wire_fault_check *c)
{
	uint64_t answered = dur->s.answers;
	uint64_t attempts = dur->s.connections + dur->s.udp_requests;
	uint64_t b_answered = base->s.answers;
	uint64_t b_attempts = base->s.connections + base->s.udp_requests;

	c->metric = "answered";
	c->asked = 0;
	c->measured = (int64_t)answered;
	c->baseline = (int64_t)b_answered;
	c->samples = attempts;
	if (answered == 0 && attempts > 0) {
		c->verdict = FL_WIRE_VERDICT_OK;
		evidence(c,
			 "none of %" PRIu64 " attempts answered (before: %" PRIu64 " of %" PRIu64
			 ")",
			 attempts, b_answered, b_attempts);
	} else if (answered == 0 && packets_of(&base->s) > 0) {
		/* Dropped before the capture point: nothing of the service at all. */
		c->verdict = FL_WIRE_VERDICT_OK;
		evidence(c,
			 "silence: %" PRIu64 " packets of the services while active, %" PRIu64
			 " before",
			 packets_of(&dur->s), packets_of(&base->s));
	} else if (answered == 0) {
		c->verdict = FL_WIRE_VERDICT_UNMEASURED;
		evidence(c, "no traffic of the services before or during the fault");
	} else {
		/* Answered as often as before: the drop missed the traffic. */
		bool same = attempts && b_attempts &&
			    answered * b_attempts * 1000 >=
				    b_answered * attempts * ANSWERED_SAME_PERMILLE;

		c->verdict = same ? FL_WIRE_VERDICT_NO_EFFECT : FL_WIRE_VERDICT_OUTSIDE;
		evidence(c,
			 "%" PRIu64 " answers to %" PRIu64 " attempts (before: %" PRIu64
			 " of %" PRIu64 ")",
			 answered, attempts, b_answered, b_attempts);
	}
}

static int check_fault(const struct fl_observer *o, uint32_t k, const bool *base_phase,
		       struct fl_wire_fault_check *c)
{
	const struct fl_scenario *s = o->plan->scenario;
	const struct fl_step *st = &s->steps[k];
	const struct fl_plan_fault *pf = &o->plan->faults[k];
	_cleanup_free_ bool *phases = calloc(o->n_stat_phases ? o->n_stat_phases : 1, 1);
	_cleanup_free_ bool *rows = calloc(o->n_rows, 1);
	struct agg base, dur;
	bool active = false;
	int r;

	*c = (struct fl_wire_fault_check){.step = k, .kind = st->fault, .metric = "none"};
	if (!phases || !rows)
		return -ENOMEM;
	for (size_t p = 0; p < o->tracker->n_sets; p++)
		if (fl_phase_set_has(o->tracker, (uint32_t)p, k)) {
			active = true;
			if (p < o->n_stat_phases)
				phases[p] = true;
		}
	if (!active) {
		c->verdict = FL_WIRE_VERDICT_UNMEASURED;
		evidence(c, "never active (no phase event applied it)");
		return 0;
	}
	for (size_t i = 0; i < st->n_services; i++)
		if (st->services[i].index < o->n_rows - 1)
			rows[st->services[i].index] = true;
	r = aggregate_both(o, base_phase, phases, rows, &base, &dur);
	if (r < 0)
		return r;
	if (packets_of(&base.s) + packets_of(&dur.s) + base.s.icmp_unreach + dur.s.icmp_unreach ==
	    0) {
		/*
		 * Not one packet of its services, before or during: whatever it
		 * did, it touched nothing the run sent (a wrong address or port
		 * is the usual cause; so is a capture on the wrong device).
		 */
		c->metric = "packets";
		c->verdict = FL_WIRE_VERDICT_NO_EFFECT;
		evidence(c, "no traffic to its targets at all, before or during it (wrong address "
			    "or port?)");
		agg_done(&base);
		agg_done(&dur);
		return 0;
	}
	switch (st->fault) {
	case FL_FAULT_DELAY:
		check_delay(st, pf, &base, &dur, c);
		break;
	case FL_FAULT_LOSS:
	case FL_FAULT_DUPLICATE:
		check_fraction(st, pf, &base, &dur, c);
		break;
	case FL_FAULT_REJECT:
		check_reject(st, &base, &dur, c);
		break;
	case FL_FAULT_PARTITION:
	case FL_FAULT_BLACKHOLE:
		check_drop(&base, &dur, c);
		break;
	default:
		c->verdict = FL_WIRE_VERDICT_UNSUPPORTED;
		evidence(c, "the observer does not verify %s (see docs/OBSERVER.md)",
			 fl_fault_kind_to_string(st->fault));
		break;
	}
	agg_done(&base);
	agg_done(&dur);
	return 0;
}

/* ---- blast radius ------------------------------------------------------------------------- */

static int check_blast(const struct fl_observer *o, uint32_t phase, const bool *base_phase,
		       struct fl_wire_blast *b)
{
	const struct fl_scenario *s = o->plan->scenario;
	const struct fl_phase_set *set = &o->tracker->sets[phase];
	_cleanup_free_ bool *phases = calloc(o->n_stat_phases, 1);
	_cleanup_free_ bool *rows = malloc(o->n_rows);
	struct agg base, dur;
	double fd, fb, tol;
	int r;

	*b = (struct fl_wire_blast){.phase = phase};
	if (!phases || !rows)
		return -ENOMEM;
	phases[phase] = true;
	memset(rows, 1, o->n_rows);
	for (uint32_t i = 0; i < set->n; i++) {
		const struct fl_step *st = &s->steps[set->steps[i]];

		for (size_t k = 0; k < st->n_services; k++)
			if (st->services[k].index < o->n_rows - 1)
				rows[st->services[k].index] = false;
	}
	r = aggregate_both(o, base_phase, phases, rows, &base, &dur);
	if (r < 0)
		return r;
	b->packets = packets_of(&dur.s);
	for (int i = 0; i < 2; i++) {
		b->segments += dur.s.dir[i].segments;
		b->retrans += dur.s.dir[i].retrans + dur.s.dir[i].out_of_order;
		b->baseline_segments += base.s.dir[i].segments;
		b->baseline_retrans += base.s.dir[i].retrans + base.s.dir[i].out_of_order;
	}
	/*
	 * Refusals from the far side only: a client that gives up on a hung
	 * request resets its own connection, which is the fault's cascade
	 * (judged by the flows), not the fault touching this traffic.
	 */
	b->rejects = dur.s.dir[FL_WIRE_FROM_SERVICE].rst + dur.s.icmp_unreach;
	b->baseline_rejects = base.s.dir[FL_WIRE_FROM_SERVICE].rst + base.s.icmp_unreach;
	if (dur.s.handshake_rtt.n && base.s.handshake_rtt.n) {
		b->has_rtt = true;
		b->rtt_delta_ns =
			(int64_t)dur.s.handshake_rtt.p50_ns - (int64_t)base.s.handshake_rtt.p50_ns;
	}
	fd = b->segments ? (double)b->retrans / (double)b->segments : 0;
	fb = b->baseline_segments ? (double)b->baseline_retrans / (double)b->baseline_segments : 0;
	tol = b->segments
		      ? 3.0 * sqrt((fb * (1 - fb) + 1e-9) / (double)b->segments) + FRACTION_SLACK
		      : 1;
	if (b->segments && fd - fb > tol) {
		b->touched = true;
		snprintf(b->why, sizeof(b->why), "resends %.2f%% vs %.2f%% before", fd * 100,
			 fb * 100);
	} else if (b->has_rtt && b->rtt_delta_ns > DELAY_FLOOR_NS &&
		   b->rtt_delta_ns * 100 > (int64_t)base.s.handshake_rtt.p50_ns * BLAST_RTT_PCT) {
		b->touched = true;
		snprintf(b->why, sizeof(b->why), "handshake RTT p50 up %.3f ms",
			 (double)b->rtt_delta_ns / 1e6);
	} else if (b->rejects > 0 && b->baseline_rejects == 0) {
		b->touched = true;
		snprintf(b->why, sizeof(b->why), "%" PRIu64 " resets/unreachables, none before",
			 b->rejects);
	}
	agg_done(&base);
	agg_done(&dur);
	return 0;
}

/* ---- the report --------------------------------------------------------------------------- */

void fl_wire_report_free(struct fl_wire_report *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n_phases; i++)
		free(r->phases[i].steps);
	free(r->phases);
	free(r->stats);
	free(r->checks);
	free(r->blast);
	free(r->captures);
	if (r->attempts)
		for (size_t i = 0; i <= r->n_services; i++)
			free(r->attempts[i]);
	free(r->attempts);
	free(r->n_attempts);
	for (size_t i = 0; i < r->n_clients; i++)
		free(r->clients[i].t);
	free(r->clients);
	free(r->applied_ns);
	free(r->healed_ns);
	free(r);
}

const struct fl_wire_stats *fl_wire_report_stats(const struct fl_wire_report *r, size_t phase,
						 size_t service)
{
	if (phase >= r->n_phases || service > r->n_services)
		return NULL;
	return &r->stats[phase * (r->n_services + 1) + service];
}

static int copy_stats(const struct fl_observer *o, struct fl_wire_report *r)
{
	size_t rows = o->n_rows;

	r->stats = calloc(r->n_phases * rows, sizeof(*r->stats));
	if (!r->stats)
		return -ENOMEM;
	for (size_t p = 0; p < r->n_phases && p < o->n_stat_phases; p++)
		for (size_t w = 0; w < rows; w++) {
			const struct obs_stats *st = &o->stats[p * rows + w];
			const struct obs_vec *v[3] = {&st->rtt, &st->gap, &st->udp_gap};
			struct fl_wire_dist *d[3];
			struct fl_wire_stats *out = &r->stats[p * rows + w];

			*out = st->s;
			d[0] = &out->handshake_rtt;
			d[1] = &out->response_gap;
			d[2] = &out->udp_gap;
			for (int i = 0; i < 3; i++) {
				_cleanup_free_ uint64_t *sorted = NULL;
				size_t n;
				int k = obs_vec_sorted(&v[i], 1, &sorted, &n);

				if (k < 0)
					return k;
				obs_dist(sorted, n, v[i]->dropped, d[i]);
			}
		}
	return 0;
}

int fl_observer_report(const struct fl_observer *o, struct fl_wire_report **ret)
{
	_cleanup_(fl_wire_report_freep) struct fl_wire_report *r = NULL;
	const struct fl_phase_tracker *t = o->tracker;
	const struct fl_scenario *s = o->plan->scenario;
	_cleanup_free_ bool *base_phase = NULL;
	size_t n_faults = 0;
	int k;

	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->plan = o->plan;
	r->n_services = s->n_services;
	r->packets = o->packets;
	r->ignored = o->ignored;
	r->flows_untracked = o->flows_untracked;
	r->start_ns = t->start_ns;
	r->end_ns = t->end_ns;
	r->first_ns = o->first_ns;
	r->last_ns = o->last_ns;
	r->clock_offset_ns = o->offset_ns;
	r->stop = o->stop;

	r->phases = calloc(t->n_sets, sizeof(*r->phases));
	if (!r->phases)
		return -ENOMEM;
	r->n_phases = t->n_sets;
	for (size_t i = 0; i < r->n_phases; i++) {
		struct fl_wire_phase *ph = &r->phases[i];

		ph->since_ns = t->sets[i].since_ns;
		/* The last phase runs to END or the last packet (grace), whichever is later. */
		ph->until_ns = ph->since_ns;
		if (i + 1 < t->n_sets) {
			ph->until_ns = t->sets[i + 1].since_ns;
		} else {
			if (t->end_ns != FL_NEVER && t->end_ns > ph->until_ns)
				ph->until_ns = t->end_ns;
			if (o->last_ns != FL_NEVER && o->last_ns > ph->until_ns)
				ph->until_ns = o->last_ns;
		}
		if (t->sets[i].n) {
			ph->steps = malloc(t->sets[i].n * sizeof(*ph->steps));
			if (!ph->steps)
				return -ENOMEM;
			memcpy(ph->steps, t->sets[i].steps, t->sets[i].n * sizeof(*ph->steps));
			ph->n = t->sets[i].n;
		}
	}
	k = copy_stats(o, r);
	if (k < 0)
		return k;

	r->n_steps = s->n_steps;
	r->applied_ns = malloc((s->n_steps ? s->n_steps : 1) * sizeof(uint64_t));
	r->healed_ns = malloc((s->n_steps ? s->n_steps : 1) * sizeof(uint64_t));
	if (!r->applied_ns || !r->healed_ns)
		return -ENOMEM;
	memcpy(r->applied_ns, t->applied_ns, s->n_steps * sizeof(uint64_t));
	memcpy(r->healed_ns, t->healed_ns, s->n_steps * sizeof(uint64_t));

	r->attempts = calloc(o->n_rows, sizeof(*r->attempts));
	r->n_attempts = calloc(o->n_rows, sizeof(*r->n_attempts));
	if (!r->attempts || !r->n_attempts)
		return -ENOMEM;
	for (size_t w = 0; w < o->n_rows; w++) {
		const struct obs_vec *v = &o->attempts[w];

		k = obs_vec_sorted(&v, 1, &r->attempts[w], &r->n_attempts[w]);
		if (k < 0)
			return k;
		r->attempts_dropped += v->dropped;
	}
	r->clients = calloc(o->n_clients ? o->n_clients : 1, sizeof(*r->clients));
	if (!r->clients)
		return -ENOMEM;
	for (size_t i = 0; i < o->n_clients; i++) {
		const struct obs_client *c = &o->clients[i];
		const struct obs_vec *v = &c->t;
		struct fl_wire_client_attempts *out = &r->clients[r->n_clients++];

		out->service = c->row;
		out->client.family = c->family;
		memcpy(&out->client.addr, c->addr,
		       c->family == AF_INET ? sizeof(struct in_addr) : sizeof(struct in6_addr));
		k = obs_vec_sorted(&v, 1, &out->t, &out->n);
		if (k < 0)
			return k;
	}
	r->clients_untracked = o->clients_untracked;
	r->copies = o->copies;

	if (o->n_captures) {
		r->captures = malloc(o->n_captures * sizeof(*r->captures));
		if (!r->captures)
			return -ENOMEM;
		memcpy(r->captures, o->captures, o->n_captures * sizeof(*r->captures));
		r->n_captures = o->n_captures;
	}

	base_phase = calloc(o->n_stat_phases ? o->n_stat_phases : 1, 1);
	if (!base_phase)
		return -ENOMEM;
	base_phase[0] = o->n_stat_phases > 0;

	for (size_t i = 0; i < s->n_steps; i++)
		n_faults += s->steps[i].kind == FL_STEP_FAULT;
	r->checks = calloc(n_faults ? n_faults : 1, sizeof(*r->checks));
	if (!r->checks)
		return -ENOMEM;
	for (size_t i = 0; i < s->n_steps; i++) {
		if (s->steps[i].kind != FL_STEP_FAULT)
			continue;
		k = check_fault(o, (uint32_t)i, base_phase, &r->checks[r->n_checks]);
		if (k < 0)
			return k;
		r->n_checks++;
	}

	r->blast = calloc(r->n_phases, sizeof(*r->blast));
	if (!r->blast)
		return -ENOMEM;
	for (size_t p = 1; p < r->n_phases && p < o->n_stat_phases; p++) {
		if (t->sets[p].n == 0)
			continue;
		k = check_blast(o, (uint32_t)p, base_phase, &r->blast[r->n_blast]);
		if (k < 0)
			return k;
		r->n_blast++;
	}
	*ret = TAKE_PTR(r);
	return 0;
}

/* ---- retry storms ------------------------------------------------------------------------- */

static size_t lower_bound(const uint64_t *v, size_t n, uint64_t x)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (v[mid] < x)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static bool same_address(const struct fl_wire_endpoint *a, const struct fl_wire_endpoint *b)
{
	if (a->family != b->family)
		return false;
	return a->family == AF_INET ? a->addr.v4.s_addr == b->addr.v4.s_addr
				    : memcmp(&a->addr.v6, &b->addr.v6, sizeof(a->addr.v6)) == 0;
}

/* Attempts towards row (from client, if not NULL) in [from, to). */
static uint64_t count_in(const struct fl_wire_report *r, size_t row,
			 const struct fl_wire_endpoint *client, uint64_t from, uint64_t to)
{
	const uint64_t *t = r->attempts[row];
	size_t n = r->n_attempts[row];

	if (client) {
		size_t i = 0;

		while (i < r->n_clients && (r->clients[i].service != row ||
					    !same_address(&r->clients[i].client, client)))
			i++;
		if (i == r->n_clients)
			return 0;
		t = r->clients[i].t;
		n = r->clients[i].n;
	}
	return lower_bound(t, n, to) - lower_bound(t, n, from);
}

int fl_wire_retry_ratio(const struct fl_wire_report *r, size_t service,
			const struct fl_wire_endpoint *client, uint64_t window_start_ns,
			uint64_t window_end_ns, uint64_t baseline_start_ns,
			uint64_t baseline_end_ns, uint64_t *ret_ratio_milli)
{
	uint64_t cw, cb;
	unsigned __int128 num, den;

	if (service > r->n_services || window_start_ns >= window_end_ns ||
	    baseline_start_ns >= baseline_end_ns)
		return -EINVAL;
	cb = count_in(r, service, client, baseline_start_ns, baseline_end_ns);
	if (cb == 0)
		return -ENODATA;
	cw = count_in(r, service, client, window_start_ns, window_end_ns);
	/* (cw / window) / (cb / baseline) * 1000, rounded to the nearest. */
	num = (unsigned __int128)cw * (baseline_end_ns - baseline_start_ns) * 1000;
	den = (unsigned __int128)cb * (window_end_ns - window_start_ns);
	*ret_ratio_milli = (uint64_t)((num + den / 2) / den);
	return 0;
}

/* [start, end) of the baseline: START (else the first packet) to the first fault applied. */
int fl_wire_baseline(const struct fl_wire_report *r, uint64_t *ret_from, uint64_t *ret_to)
{
	const struct fl_scenario *s = r->plan->scenario;
	uint64_t from = r->start_ns != FL_NEVER ? r->start_ns : r->first_ns, to = FL_NEVER;

	for (size_t i = 0; i < s->n_steps; i++)
		if (s->steps[i].kind == FL_STEP_FAULT && r->applied_ns[i] < to)
			to = r->applied_ns[i];
	if (from == FL_NEVER || to == FL_NEVER || from >= to)
		return -ENODATA;
	*ret_from = from;
	*ret_to = to;
	return 0;
}

int fl_wire_retry_ratio_fault(const struct fl_wire_report *r, uint32_t step,
			      const struct fl_wire_endpoint *client, uint64_t *ret_ratio_milli,
			      size_t *ret_service)
{
	const struct fl_scenario *s = r->plan->scenario;
	const struct fl_step *st;
	uint64_t from, to, bfrom, bto, best = 0;
	size_t best_svc = SIZE_MAX;
	int k;

	if (step >= s->n_steps || s->steps[step].kind != FL_STEP_FAULT)
		return -EINVAL;
	st = &s->steps[step];
	from = r->applied_ns[step];
	if (from == FL_NEVER)
		return -ENOENT;
	to = r->healed_ns[step] != FL_NEVER ? r->healed_ns[step]
	     : r->end_ns != FL_NEVER	    ? r->end_ns
					    : r->last_ns;
	if (to == FL_NEVER || to <= from)
		return -ENODATA;
	k = fl_wire_baseline(r, &bfrom, &bto);
	if (k < 0)
		return k;
	for (size_t i = 0; i < st->n_services; i++) {
		uint64_t ratio;

		k = fl_wire_retry_ratio(r, st->services[i].index, client, from, to, bfrom, bto,
					&ratio);
		if (k == -ENODATA)
			continue; /* no baseline rate for this one: nothing to compare */
		if (k < 0)
			return k;
		if (best_svc == SIZE_MAX || ratio > best) {
			best = ratio;
			best_svc = st->services[i].index;
		}
	}
	if (best_svc == SIZE_MAX)
		return -ENODATA;
	*ret_ratio_milli = best;
	if (ret_service)
		*ret_service = best_svc;
	return 0;
}
