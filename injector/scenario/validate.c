/* SPDX-License-Identifier: MIT */
/*
 * Semantic checks, after the parser has typed every value: references
 * resolve, the timeline runs forward, each fault's parameters fit its kind,
 * and no two faults claim the same packets at the same time (the kernel
 * could only honour one of them, so we refuse rather than guess).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "scenario/endpoint.h"
#include "scenario/fault.h"
#include "scenario/parse.h"

#define err(d, pos, ...) fl_diag_add((d), (pos), __VA_ARGS__)

static void resolve_services(struct fl_scenario *s, struct fl_step *st, struct fl_diag *d)
{
	for (size_t i = 0; i < st->n_services; i++) {
		struct fl_ref *r = &st->services[i];
		if (fl_scenario_find_service(s, r->name, &r->index) < 0) {
			err(d, r->pos, "unknown service '%s' (expected one of the names under services:)",
			    r->name);
			r->index = SIZE_MAX;
			continue;
		}
		for (size_t j = 0; j < i; j++)
			if (st->services[j].index == r->index)
				err(d, r->pos, "service '%s' is listed twice (expected each once)",
				    r->name);
	}
}

static void check_params(struct fl_step *st, struct fl_diag *d)
{
	const struct fl_fault_info *fi = fl_fault_info(st->fault);
	const struct fl_fault_params *p = &st->params;
	unsigned extra = p->set & ~fi->allowed, missing = fi->required & ~p->set;

	for (size_t i = 0; i < fl_n_params; i++) {
		const struct fl_param_info *pi = &fl_params[i];
		struct fl_pos pos = st->param_pos[fl_param_index(pi->bit)];

		if (extra & pi->bit) {
			_cleanup_free_ char *keys = fl_fault_keys_text(st->fault);
			err(d, pos, "'%s' does not apply to a %s fault (expected only: %s)", pi->key,
			    fi->name, keys ? keys : "?");
		}
		if (missing & pi->bit)
			err(d, st->kind_pos, "a %s fault needs '%s' (expected %s: %s)", fi->name,
			    pi->key, pi->key, pi->type);
	}
	if (extra || missing)
		return;

	/* Dependencies between netem parameters, as netem itself defines them. */
	struct {
		unsigned bit, needs;
		const char *why;
	} deps[] = {
		{ FL_P_JITTER, FL_P_DELAY, "jitter varies a delay" },
		{ FL_P_DISTRIBUTION, FL_P_JITTER, "a distribution shapes the jitter" },
		{ FL_P_GAP, FL_P_REORDER, "gap says which packets reorder sends early" },
		{ FL_P_REORDER, FL_P_DELAY, "reordered packets overtake delayed ones" },
		{ FL_P_CORRELATION,
		  FL_P_JITTER | FL_P_LOSS | FL_P_DUPLICATE | FL_P_CORRUPT | FL_P_REORDER,
		  "correlation applies to jitter, loss, duplicate, corrupt or reorder" },
	};
	for (size_t i = 0; i < ELEMENTSOF(deps); i++)
		if ((p->set & deps[i].bit) && !(p->set & deps[i].needs)) {
			const struct fl_param_info *pi = fl_param_by_bit(deps[i].bit);
			const struct fl_param_info *ni = fl_param_by_bit(deps[i].needs);
			if (ni)
				err(d, st->param_pos[fl_param_index(deps[i].bit)],
				    "'%s' without '%s': %s (expected '%s' too)", pi->key, ni->key,
				    deps[i].why, ni->key);
			else
				err(d, st->param_pos[fl_param_index(deps[i].bit)],
				    "'%s' alone: %s (expected one of them too)", pi->key, deps[i].why);
		}

	struct {
		unsigned bit;
		bool zero;
	} zeros[] = {
		{ FL_P_DELAY, p->delay_ns == 0 },       { FL_P_LOSS, p->loss_ppb == 0 },
		{ FL_P_DUPLICATE, p->duplicate_ppb == 0 }, { FL_P_CORRUPT, p->corrupt_ppb == 0 },
		{ FL_P_REORDER, p->reorder_ppb == 0 },  { FL_P_RATE, p->rate_bps == 0 },
	};
	for (size_t i = 0; i < ELEMENTSOF(zeros); i++)
		if ((p->set & zeros[i].bit) && zeros[i].zero)
			err(d, st->param_pos[fl_param_index(zeros[i].bit)],
			    "'%s' is zero: the fault would do nothing (expected a value above zero)",
			    fl_param_by_bit(zeros[i].bit)->key);
	/* Past an hour no client waits: that is a blackhole, and should say so. */
	if ((p->set & FL_P_DELAY) && (p->delay_ns > 3600 * FL_NSEC_PER_SEC ||
				      p->jitter_ns > 3600 * FL_NSEC_PER_SEC - p->delay_ns))
		err(d, st->param_pos[fl_param_index(FL_P_DELAY)],
		    "delay plus jitter exceeds 1h (expected at most 1h: a longer delay is a blackhole)");
}

static void check_fault(struct fl_scenario *s, struct fl_step *st, struct fl_diag *d)
{
	const struct fl_fault_info *fi = fl_fault_info(st->fault);

	resolve_services(s, st, d);
	if (st->n_services == 0)
		err(d, st->kind_pos, "a %s fault needs services (expected services: [NAME, ...])",
		    fi->name);
	if (fi->both_only && st->direction)
		err(d, st->direction_pos,
		    "a partition always cuts both directions (expected no 'direction'; use blackhole for one direction)");
	if (!st->direction)
		st->direction = fi->default_direction;
	if (!fl_fault_engine_allowed(st->fault, st->engine)) {
		_cleanup_free_ char *engines = fl_fault_engines_text(st->fault);
		err(d, st->engine_pos, "engine '%s' cannot carry a %s fault (expected %s)",
		    fl_engine_to_string(st->engine), fi->name, engines ? engines : "auto");
	}
	if (st->has_seed && !fi->seeded)
		err(d, st->seed_pos, "a %s fault is not random: 'seed' does not apply (expected no seed)",
		    fi->name);
	check_params(st, d);
	if (st->engine == FL_ENGINE_NFTABLES && st->fault == FL_FAULT_LOSS &&
	    (st->params.set & ~FL_P_LOSS))
		err(d, st->engine_pos,
		    "engine nftables drops packets only: it cannot also delay, correlate or shape (expected engine: netem, userspace or auto)");
	if (st->engine == FL_ENGINE_TC && st->fault == FL_FAULT_RATE &&
	    (st->params.set & ~FL_P_RATE))
		err(d, st->engine_pos,
		    "engine tc only limits the rate (expected engine: netem, userspace or auto)");
}

/* Keys that only a fault step takes, on a heal or end step. */
static void check_not_fault(const struct fl_step *st, struct fl_diag *d)
{
	const char *kind = st->kind == FL_STEP_HEAL ? "heal" : "end";
	const char *a = st->kind == FL_STEP_HEAL ? "a" : "an";
	const struct {
		bool set;
		const char *key;
		struct fl_pos pos;
	} keys[] = {
		{ st->n_services > 0, "services", st->n_services ? st->services[0].pos : st->pos },
		{ st->direction_pos.line > 0, "direction", st->direction_pos },
		{ st->engine_pos.line > 0, "engine", st->engine_pos },
		{ st->has_seed, "seed", st->seed_pos },
		{ st->scope != NULL, "scope", st->scope ? st->scope->pos : st->pos },
	};

	for (size_t i = 0; i < ELEMENTSOF(keys); i++)
		if (keys[i].set)
			err(d, keys[i].pos,
			    "'%s' does not apply to %s %s step (expected only: at, id, description, %s)",
			    keys[i].key, a, kind, kind);
	for (size_t i = 0; i < fl_n_params; i++)
		if (st->params.set & fl_params[i].bit)
			err(d, st->param_pos[fl_param_index(fl_params[i].bit)],
			    "'%s' does not apply to %s %s step (expected only: at, id, description, %s)",
			    fl_params[i].key, a, kind, kind);
}

static bool same_scope(const struct fl_scenario *s, const struct fl_step *a,
		       const struct fl_step *b)
{
	const struct fl_scope *sa = a->scope ? a->scope : &s->scope;
	const struct fl_scope *sb = b->scope ? b->scope : &s->scope;

	if (sa->netns_kind != sb->netns_kind)
		return false;
	if (sa->netns_kind == FL_NETNS_PID)
		return sa->pid == sb->pid;
	return !sa->netns || strcmp(sa->netns, sb->netns) == 0;
}

/* Two active faults conflict when some packet could match both in a shared direction. */
static const struct fl_endpoint *conflict(const struct fl_scenario *s, const struct fl_step *a,
					  const struct fl_step *b, const char **ret_service)
{
	if (!(a->direction & b->direction) || !same_scope(s, a, b))
		return NULL;
	for (size_t i = 0; i < a->n_services; i++)
		for (size_t j = 0; j < b->n_services; j++) {
			if (a->services[i].index == SIZE_MAX || b->services[j].index == SIZE_MAX)
				continue;
			const struct fl_service *sa = &s->services[a->services[i].index];
			const struct fl_service *sb = &s->services[b->services[j].index];
			for (size_t x = 0; x < sa->n_endpoints; x++)
				for (size_t y = 0; y < sb->n_endpoints; y++)
					if (fl_endpoint_overlaps(&sa->endpoints[x],
								 &sb->endpoints[y])) {
						*ret_service = sa->name;
						return &sa->endpoints[x];
					}
		}
	return NULL;
}

static void check_timeline(struct fl_scenario *s, struct fl_diag *d)
{
	bool *active = calloc(s->n_steps ? s->n_steps : 1, sizeof(bool));
	uint64_t prev = 0;
	size_t end_index = SIZE_MAX;

	if (!active) {
		d->oom = 1;
		return;
	}
	if (s->n_steps > FL_MAX_STEPS)
		err(d, s->steps[FL_MAX_STEPS].pos,
		    "the timeline has %zu steps (expected at most %u)", s->n_steps, FL_MAX_STEPS);
	for (size_t i = 0; i < s->n_steps; i++) {
		struct fl_step *st = &s->steps[i];

		for (size_t j = 0; j < i; j++)
			if (strcmp(s->steps[j].id, st->id) == 0)
				err(d, st->id_given ? st->id_pos : st->pos,
				    "duplicate step id '%s' (expected unique ids)", st->id);
		if (st->at_ns < prev) {
			char a[FL_FMT_MAX], b[FL_FMT_MAX];
			err(d, st->at_pos,
			    "step '%s' at %s comes before the previous step at %s (expected steps in time order)",
			    st->id, fl_format_duration(st->at_ns, a), fl_format_duration(prev, b));
		}
		prev = st->at_ns > prev ? st->at_ns : prev;
		if (end_index != SIZE_MAX) {
			err(d, st->pos, "step '%s' comes after end (expected end to be the last step)",
			    st->id);
			continue;
		}

		switch (st->kind) {
		case FL_STEP_FAULT:
			check_fault(s, st, d);
			for (size_t j = 0; j < i; j++) {
				const char *svc = NULL;
				const struct fl_endpoint *e;
				if (!active[j])
					continue;
				e = conflict(s, st, &s->steps[j], &svc);
				if (e) {
					char t[FL_FMT_MAX];
					err(d, st->kind_pos,
					    "fault '%s' overlaps fault '%s' (active since %s) on %s of service '%s' (expected one fault per endpoint and direction at a time: heal '%s' first, or combine parameters in one step)",
					    st->id, s->steps[j].id,
					    fl_format_duration(s->steps[j].at_ns, t), e->text, svc,
					    s->steps[j].id);
					break;
				}
			}
			active[i] = true;
			st->healed_at_ns = UINT64_MAX;
			break;
		case FL_STEP_HEAL: {
			bool any = false;
			check_not_fault(st, d);
			if (st->heal_all) {
				for (size_t j = 0; j < i; j++)
					if (active[j]) {
						active[j] = false;
						s->steps[j].healed_at_ns = st->at_ns;
						any = true;
					}
				if (!any)
					err(d, st->kind_pos,
					    "heal: all with no fault active at %s (expected an active fault)",
					    st->id);
				break;
			}
			for (size_t h = 0; h < st->n_heals; h++) {
				struct fl_ref *r = &st->heals[h];
				if (fl_scenario_find_step(s, r->name, &r->index) < 0 ||
				    r->index >= s->n_steps) {
					err(d, r->pos, "heal names unknown step '%s' (expected the id of an earlier fault step)",
					    r->name);
				} else if (r->index >= i) {
					err(d, r->pos, "heal names step '%s', which has not started yet (expected an earlier fault step)",
					    r->name);
				} else if (s->steps[r->index].kind != FL_STEP_FAULT) {
					err(d, r->pos, "heal names step '%s', which is not a fault (expected a fault step id)",
					    r->name);
				} else if (!active[r->index]) {
					err(d, r->pos, "fault '%s' is already healed (expected an active fault)",
					    r->name);
				} else {
					active[r->index] = false;
					s->steps[r->index].healed_at_ns = st->at_ns;
				}
			}
			break;
		}
		case FL_STEP_END:
			check_not_fault(st, d);
			end_index = i;
			break;
		}
	}
	s->end_ns = prev;
	for (size_t i = 0; i < s->n_steps; i++) {
		if (!active[i])
			continue;
		s->steps[i].healed_at_ns = s->end_ns; /* end heals whatever is left */
		if (s->steps[i].at_ns == s->end_ns)
			err(d, s->steps[i].kind_pos,
			    "fault '%s' starts when the timeline ends, so it would never act (expected a later heal or end step)",
			    s->steps[i].id);
	}
	free(active);
}

static void check_flows(struct fl_scenario *s, struct fl_diag *d)
{
	for (size_t i = 0; i < s->n_flows; i++) {
		struct fl_flow *f = &s->flows[i];
		if (f->every_ns == 0)
			err(d, f->pos, "flow '%s' has every: 0 (expected a period above zero)", f->name);
		if (f->timeout_ns == 0)
			err(d, f->pos, "flow '%s' has timeout: 0 (expected a timeout above zero)",
			    f->name);
		if (f->concurrency == 0)
			err(d, f->pos, "flow '%s' has concurrency: 0 (expected at least 1)", f->name);
	}
}

static void check_expects(struct fl_scenario *s, struct fl_diag *d)
{
	for (size_t i = 0; i < s->n_expects; i++) {
		struct fl_expect *e = &s->expects[i];
		bool invariant = e->metrics & FL_M_INVARIANT;

		if (!e->metrics) {
			err(d, e->pos, "expectation %zu checks nothing (expected success_rate, p50, p90, p99, max_latency, fail_fast, errors_are, fallback, recovers_within, invariant or no_retry_storm)",
			    i + 1);
			continue;
		}
		if (invariant && (e->metrics & ~FL_M_INVARIANT))
			err(d, e->pos, "an invariant stands alone (expected a separate expectation for flow metrics)");
		if (invariant && e->flow.name)
			err(d, e->flow.pos, "an invariant is not about one flow (expected no 'flow')");
		if (!invariant && !e->flow.name)
			err(d, e->pos, "expectation %zu names no flow (expected flow: NAME)", i + 1);
		if (e->flow.name && fl_scenario_find_flow(s, e->flow.name, &e->flow.index) < 0)
			err(d, e->flow.pos, "unknown flow '%s' (expected one of the names under flows:)",
			    e->flow.name);
		if (!e->window_pos.line) {
			err(d, e->pos, "expectation %zu has no window (expected %s)", i + 1,
			    invariant ? "at: end or at: STEP" : "one of during, after, before or at");
			continue;
		}
		if (invariant != (e->window.kind == FL_WIN_AT))
			err(d, e->window_pos,
			    invariant ? "an invariant is checked at an instant (expected at: end or at: STEP)"
				      : "'at' is for invariants (expected during, after or before)");

		struct fl_ref *r = &e->window.step;
		if (r->name) {
			if (fl_scenario_find_step(s, r->name, &r->index) < 0) {
				err(d, r->pos, "unknown step '%s' (expected a step id from the timeline)",
				    r->name);
				continue;
			}
			if (e->window.kind == FL_WIN_DURING &&
			    s->steps[r->index].kind != FL_STEP_FAULT)
				err(d, r->pos, "during: '%s' is not a fault (expected a fault step id or always)",
				    r->name);
		}
		if (e->metrics & FL_M_RECOVERS_WITHIN) {
			if (e->window.kind != FL_WIN_AFTER)
				err(d, e->window_pos, "recovers_within is measured after a heal (expected after: FAULT)");
			else if (r->name && s->steps[r->index].kind == FL_STEP_FAULT &&
				 s->steps[r->index].healed_at_ns >= s->end_ns)
				err(d, r->pos, "fault '%s' is never healed before the end, so nothing can recover (expected a heal step before end)",
				    r->name);
		}
		if ((e->metrics & FL_M_NO_RETRY_STORM) && e->window.kind != FL_WIN_DURING)
			err(d, e->window_pos, "no_retry_storm compares a fault with the baseline (expected during: FAULT)");
		if (!e->name) {
			char buf[200];
			const char *w = e->window.kind == FL_WIN_ALWAYS    ? "always"
					: e->window.kind == FL_WIN_DURING  ? "during"
					: e->window.kind == FL_WIN_AFTER   ? "after"
					: e->window.kind == FL_WIN_BEFORE  ? "before"
									   : "at";
			const char *what = e->window.kind == FL_WIN_ALWAYS ? ""
					   : r->name			   ? r->name
					   : e->window.first_fault	   ? "first-fault"
									   : "end";
			snprintf(buf, sizeof(buf), "%s %s%s%s", e->flow.name ? e->flow.name : "invariant",
				 w, *what ? " " : "", what);
			e->name = strdup(buf);
			if (!e->name)
				d->oom = 1;
		}
	}
}

static void check_scope(struct fl_scenario *s, struct fl_diag *d)
{
	for (size_t i = 0; i < s->n_exclude; i++)
		if (s->exclude[i].hostname)
			err(d, s->exclude[i].pos,
			    "exclude takes addresses, not hostnames: '%s' (expected an address, CIDR or port)",
			    s->exclude[i].text);
}

int fl_scenario_validate(struct fl_scenario *s, struct fl_diag *d)
{
	check_scope(s, d);
	check_timeline(s, d);
	check_flows(s, d);
	check_expects(s, d);
	if (d->oom)
		return -ENOMEM;
	return fl_diag_count(d) ? -EINVAL : 0;
}
