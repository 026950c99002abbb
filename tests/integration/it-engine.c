/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "it-engine.h"
#include "scenario/fault.h"

struct fl_scenario *it_load_scenario(const char *path)
{
	struct fl_scenario *s = NULL;
	struct fl_diag d;
	int r;

	fl_diag_init(&d, path);
	r = fl_scenario_load(path, NULL, &d, &s);
	if (r < 0) {
		_cleanup_free_ char *msg = fl_diag_format(&d);
		it_fail("scenario %s: %s\n%s", path, strerror(-r), msg ? msg : "");
	}
	fl_diag_done(&d);
	return s;
}

const struct fl_caps *it_caps(void)
{
	static struct fl_caps caps;
	static bool done;

	if (!done) {
		it_assert(fl_probe(&caps) == 0, "probe failed");
		done = true;
	}
	return &caps;
}

void it_run_open(const struct topo *t, const struct fl_scenario *s, struct it_run *ret)
{
	struct fl_plan_options po = { .caps = *it_caps() };
	char **devs = NULL;
	size_t n = 0;
	struct fl_diag d;
	int holder = 0, r;

	*ret = (struct it_run){ 0 };
	r = fl_engine_open(&s->scope, t->run_dir, s->name, &ret->e, &holder);
	it_assert(r == 0, "fl_engine_open: %s (holder %d)", strerror(-r), holder);
	r = fl_engine_list_devices(ret->e, &devs, &n);
	it_assert(r == 0, "fl_engine_list_devices: %s", strerror(-r));
	po.devices = devs;
	po.n_devices = n;
	fl_diag_init(&d, "plan");
	r = fl_plan_build(s, &po, &d, &ret->p);
	for (size_t i = 0; i < n; i++)
		free(devs[i]);
	free(devs);
	if (r < 0) {
		_cleanup_free_ char *msg = fl_diag_format(&d);
		it_fail("fl_plan_build: %s\n%s", strerror(-r), msg ? msg : "");
	}
	fl_diag_done(&d);
	/*
	 * As the runner does: the userspace engine's children (one per fault
	 * the planner gave it) are bound to their queues now, before any step,
	 * so applying a step only adds its steering rule. Nothing runs for a
	 * plan without such a fault.
	 */
	r = fl_engine_start_userspace(ret->e, ret->p, 0);
	it_assert(r == 0, "fl_engine_start_userspace: %s: %s", strerror(-r),
		  fl_engine_error(ret->e));
}

void it_run_apply(struct it_run *r, size_t step)
{
	int k = fl_engine_apply_step(r->e, r->p, step, 0);

	it_assert(k == 0, "apply step %zu (%s): %s: %s", step, r->p->scenario->steps[step].id,
		  strerror(-k), fl_engine_error(r->e));
}

void it_run_revert(struct it_run *r)
{
	int k = fl_engine_revert_all(r->e);

	it_assert(k == 0, "revert: %s: %s", strerror(-k), fl_engine_error(r->e));
}

void it_run_close(struct it_run *r)
{
	fl_engine_close(r->e);
	fl_plan_free(r->p);
	*r = (struct it_run){ 0 };
}

size_t it_run_live(const struct it_run *r)
{
	return fl_engine_journal(r->e)->n_roots;
}

bool it_journal_exists(const struct topo *t)
{
	DIR *d = opendir(t->run_dir);
	struct dirent *de;
	bool found = false;

	while (d && (de = readdir(d)))
		if (strstr(de->d_name, ".journal"))
			found = true;
	if (d)
		closedir(d);
	return found;
}

const char *it_run_missing(const struct topo *t, const struct it_run *r)
{
	const struct fl_journal *j = fl_engine_journal(r->e);
	static char what[160];

	for (size_t i = 0; i < j->n_roots; i++) {
		const struct fl_root *root = &j->roots[i];
		_cleanup_free_ char *out = NULL;
		char buf[64];
		int k = 0;

		switch (root->kind) {
		case FL_ROOT_NFT:
			k = topo_sh(t->client_ns, NULL,
				    "nft list table %s " FL_NFT_TABLE " >/dev/null", root->name);
			break;
		case FL_ROOT_LINK:
			k = topo_sh(t->client_ns, NULL, "ip link show dev %s >/dev/null",
				    root->name);
			break;
		case FL_ROOT_PRIO:
			k = topo_sh(t->client_ns, &out, "tc filter show dev %s %s prio %u",
				    root->name, root->ingress ? "ingress" : "egress", root->prio);
			k = k == 0 && out && *out ? 0 : 1;
			break;
		case FL_ROOT_CLSACT:
			k = topo_sh(t->client_ns, &out, "tc qdisc show dev %s clsact", root->name);
			k = k == 0 && out && strstr(out, "clsact") ? 0 : 1;
			break;
		}
		if (k != 0) {
			snprintf(what, sizeof(what), "%s", fl_root_to_string(root, buf));
			return what;
		}
	}
	return NULL;
}

size_t it_leading_faults(const struct fl_scenario *s)
{
	size_t n = 0;

	while (n < s->n_steps && s->steps[n].kind == FL_STEP_FAULT)
		n++;
	return n;
}

static void apply_leading(struct it_run *run, const struct it_cycle *c)
{
	const struct fl_scenario *s = run->p->scenario;

	for (size_t i = 0; i < it_leading_faults(s); i++) {
		enum fl_engine e = run->p->faults[i].engine;
		it_log("step %zu: %s fault '%s', engine %s", i,
		       fl_fault_info(s->steps[i].fault)->name, s->steps[i].id,
		       fl_engine_to_string(e));
		it_assert(c->engine == FL_ENGINE_AUTO || e == c->engine,
			  "fault '%s': the planner chose engine %s, expected %s", s->steps[i].id,
			  fl_engine_to_string(e), fl_engine_to_string(c->engine));
		it_run_apply(run, i);
		if (c->applied)
			c->applied(i, e, c->userdata);
	}
	it_assert(it_run_live(run) > 0, "the journal lists no live object after the fault");
}

/* The end of a pass: nothing live, no journal, no engine child, the state as before. */
static void assert_clean(const struct topo *t, struct it_run *run, const char *before,
			 const char *when)
{
	for (size_t i = 0; i < run->p->scenario->n_steps; i++) {
		uint64_t seed;
		it_assert(!fl_engine_userspace_seed(run->e, i, &seed),
			  "%s: the userspace engine of step %zu ('%s') still runs", when, i,
			  run->p->scenario->steps[i].id);
	}
	it_assert(it_run_live(run) == 0, "%s: the journal still lists %zu roots", when,
		  it_run_live(run));
	it_run_close(run);
	it_assert(!it_journal_exists(t), "%s: the journal is still there", when);
	_cleanup_free_ char *after = topo_dump(t);
	topo_assert_same(t, before, after, when);
}

void it_cycle(const struct topo *t, const struct fl_scenario *s, const struct it_cycle *c)
{
	size_t n = it_leading_faults(s);
	struct it_run run;

	it_assert(n > 0 && n < s->n_steps, "%s: expected fault steps first, then heals", s->file);
	_cleanup_free_ char *before = topo_dump(t);
	c->baseline("before", c->userdata);

	/* 1. every check; healed by the scenario's own steps. */
	it_run_open(t, s, &run);
	apply_leading(&run, c);
	it_log("fault on (%zu live journal roots); checks:", it_run_live(&run));
	c->checks(&run, false, c->userdata);
	for (size_t i = n; i < s->n_steps; i++)
		it_run_apply(&run, i);
	assert_clean(t, &run, before, "after the scenario's heal and end steps");
	c->baseline("after heal", c->userdata);

	/* 2. again, the first check only, then fl_engine_revert_all() (the crash path). */
	it_run_open(t, s, &run);
	apply_leading(&run, c);
	it_log("fault on again; first check only, then revert_all:");
	c->checks(&run, true, c->userdata);
	it_run_revert(&run);
	assert_clean(t, &run, before, "after fl_engine_revert_all()");
	c->baseline("after revert", c->userdata);
	it_log("PASS");
}
