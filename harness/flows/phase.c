/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "flows/phase.h"

static int push_set(struct fl_phase_tracker *t, uint64_t since_ns)
{
	const size_t n_steps = t->s->n_steps;
	struct fl_phase_set *sets, *set;
	uint32_t n = 0;

	sets = reallocarray(t->sets, t->n_sets + 1, sizeof(*sets));
	if (!sets)
		return -ENOMEM;
	t->sets = sets;
	set = &sets[t->n_sets];
	*set = (struct fl_phase_set){ .since_ns = since_ns };
	for (size_t i = 0; i < n_steps; i++)
		n += t->active[i];
	if (n > 0) {
		set->steps = calloc(n, sizeof(*set->steps));
		if (!set->steps)
			return -ENOMEM;
		for (size_t i = 0; i < n_steps; i++)
			if (t->active[i])
				set->steps[set->n++] = (uint32_t)i;
	}
	t->n_sets++;
	return 0;
}

int fl_phase_tracker_new(const struct fl_scenario *s, struct fl_phase_tracker **ret_tracker)
{
	_cleanup_(fl_phase_tracker_freep) struct fl_phase_tracker *t = NULL;
	size_t n = s->n_steps ? s->n_steps : 1;
	int r;

	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->s = s;
	t->start_ns = FL_NEVER;
	t->end_ns = FL_NEVER;
	t->applied_ns = malloc(n * sizeof(*t->applied_ns));
	t->healed_ns = malloc(n * sizeof(*t->healed_ns));
	t->active = calloc(n, sizeof(*t->active));
	if (!t->applied_ns || !t->healed_ns || !t->active)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		t->applied_ns[i] = t->healed_ns[i] = FL_NEVER;
	r = push_set(t, 0);
	if (r < 0)
		return r;
	*ret_tracker = TAKE_PTR(t);
	return 0;
}

void fl_phase_tracker_free(struct fl_phase_tracker *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n_sets; i++)
		free(t->sets[i].steps);
	free(t->sets);
	free(t->applied_ns);
	free(t->healed_ns);
	free(t->active);
	free(t);
}

static int reject(struct fl_phase_tracker *t)
{
	t->n_rejected++;
	return -EINVAL;
}

static int heal(struct fl_phase_tracker *t, size_t fault, uint64_t t_ns, bool *changed)
{
	if (!t->active[fault])
		return 0;
	t->active[fault] = false;
	t->healed_ns[fault] = t_ns;
	*changed = true;
	return 0;
}

static int do_end(struct fl_phase_tracker *t, uint64_t t_ns, bool *changed)
{
	if (t->end_ns != FL_NEVER)
		return reject(t);
	t->end_ns = t_ns;
	for (size_t i = 0; i < t->s->n_steps; i++)
		heal(t, i, t_ns, changed);
	return 0;
}

static int do_heal(struct fl_phase_tracker *t, const struct fl_step *st, uint64_t t_ns,
		   bool *changed)
{
	if (st->heal_all) {
		for (size_t i = 0; i < t->s->n_steps; i++)
			heal(t, i, t_ns, changed);
		return 0;
	}
	for (size_t i = 0; i < st->n_heals; i++) {
		size_t k = st->heals[i].index;

		if (k >= t->s->n_steps || t->s->steps[k].kind != FL_STEP_FAULT)
			return reject(t);
	}
	for (size_t i = 0; i < st->n_heals; i++)
		heal(t, st->heals[i].index, t_ns, changed);
	return 0;
}

int fl_phase_tracker_feed(struct fl_phase_tracker *t, const struct fl_phase_event *ev)
{
	bool changed = false;
	const struct fl_step *st;
	int r;

	switch (ev->kind) {
	case FL_PHASE_START:
		if (t->start_ns != FL_NEVER)
			return reject(t);
		t->start_ns = ev->t_ns;
		return 0;
	case FL_PHASE_END:
		r = do_end(t, ev->t_ns, &changed);
		break;
	case FL_PHASE_STEP_APPLIED:
	case FL_PHASE_HEAL:
		if (ev->step >= t->s->n_steps)
			return reject(t);
		st = &t->s->steps[ev->step];
		if (ev->kind == FL_PHASE_HEAL && st->kind != FL_STEP_HEAL)
			return reject(t);
		if (st->kind == FL_STEP_FAULT) {
			if (t->applied_ns[ev->step] != FL_NEVER)
				return reject(t);
			t->active[ev->step] = true;
			changed = true;
			r = 0;
		} else if (st->kind == FL_STEP_HEAL) {
			if (t->applied_ns[ev->step] != FL_NEVER)
				return reject(t);
			r = do_heal(t, st, ev->t_ns, &changed);
		} else {
			r = do_end(t, ev->t_ns, &changed);
		}
		if (r == 0)
			t->applied_ns[ev->step] = ev->t_ns;
		break;
	default:
		return reject(t);
	}
	if (r < 0 || !changed)
		return r;
	return push_set(t, ev->t_ns);
}

int fl_phase_tracker_read(struct fl_phase_tracker *t, int fd)
{
	for (;;) {
		struct fl_phase_event ev;
		ssize_t n;
		int r;

		n = read(fd, t->pending + t->n_pending, sizeof(t->pending) - t->n_pending);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 0;
			return -errno;
		}
		if (n == 0) {
			t->hangup = true;
			return 1;
		}
		t->n_pending += (size_t)n;
		if (t->n_pending < sizeof(ev))
			continue;
		memcpy(&ev, t->pending, sizeof(ev));
		t->n_pending = 0;
		r = fl_phase_tracker_feed(t, &ev);
		if (r == -ENOMEM)
			return r;
	}
}

uint32_t fl_phase_tracker_current(const struct fl_phase_tracker *t)
{
	return (uint32_t)(t->n_sets - 1);
}

bool fl_phase_set_has(const struct fl_phase_tracker *t, uint32_t set, uint32_t step)
{
	if (set >= t->n_sets)
		return false;
	for (uint32_t i = 0; i < t->sets[set].n; i++)
		if (t->sets[set].steps[i] == step)
			return true;
	return false;
}

int fl_phase_send(int fd, enum fl_phase_kind kind, uint32_t step, uint64_t t_ns)
{
	const struct fl_phase_event ev = { .kind = kind, .step = step, .t_ns = t_ns };
	ssize_t n;

	do
		n = write(fd, &ev, sizeof(ev));
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return n == (ssize_t)sizeof(ev) ? 0 : -EIO;
}

int fl_phase_recv(int fd, struct fl_phase_event *ret_ev)
{
	struct fl_phase_event ev;
	size_t got = 0;

	while (got < sizeof(ev)) {
		ssize_t n = read(fd, (char *)&ev + got, sizeof(ev) - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EPIPE;
		got += (size_t)n;
	}
	*ret_ev = ev;
	return 0;
}
