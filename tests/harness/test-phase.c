/* SPDX-License-Identifier: MIT */
/* harness/flows/phase.c: the tracker, fed directly and through a pipe. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>
#include "scenario-text.h"
#include "flows/phase.h"

static const char yaml[] =
	"version: 1\n"
	"name: phases\n"
	"services:\n"
	"  api: { endpoints: [\"127.0.0.1:1\"] }\n"
	"  db: { endpoints: [\"127.0.0.2:1\"] }\n"
	"timeline:\n"
	"  - { at: 1s, id: api-down, fault: partition, services: [api] }\n"
	"  - { at: 2s, id: db-slow, fault: delay, services: [db], delay: 100ms }\n"
	"  - { at: 3s, id: heal-api, heal: [api-down] }\n"
	"  - { at: 4s, id: heal-rest, heal: all }\n"
	"  - { at: 5s, end: true }\n";

enum { API_DOWN, DB_SLOW, HEAL_API, HEAL_REST, END };

static int feed(struct fl_phase_tracker *t, uint32_t kind, uint32_t step, uint64_t t_ns)
{
	const struct fl_phase_event ev = { .kind = kind, .step = step, .t_ns = t_ns };

	return fl_phase_tracker_feed(t, &ev);
}

static void test_timeline(void **state)
{
	_cleanup_(fl_scenario_freep) struct fl_scenario *s = parse_scenario(yaml);
	_cleanup_(fl_phase_tracker_freep) struct fl_phase_tracker *t = NULL;

	assert_int_equal(fl_phase_tracker_new(s, &t), 0);
	assert_int_equal(fl_phase_tracker_current(t), 0);
	assert_int_equal(t->sets[0].n, 0);

	assert_int_equal(feed(t, FL_PHASE_START, 0, 100), 0);
	assert_u64_equal(t->start_ns, 100);
	assert_int_equal(feed(t, FL_PHASE_STEP_APPLIED, API_DOWN, 1100), 0);
	assert_int_equal(feed(t, FL_PHASE_STEP_APPLIED, DB_SLOW, 2100), 0);
	assert_int_equal(fl_phase_tracker_current(t), 2);
	assert_int_equal(t->sets[2].n, 2);
	assert_true(fl_phase_set_has(t, 2, API_DOWN));
	assert_true(fl_phase_set_has(t, 2, DB_SLOW));
	assert_false(fl_phase_set_has(t, 1, DB_SLOW));
	assert_false(fl_phase_set_has(t, 99, API_DOWN));

	assert_int_equal(feed(t, FL_PHASE_HEAL, HEAL_API, 3100), 0);
	assert_u64_equal(t->healed_ns[API_DOWN], 3100);
	assert_u64_equal(t->healed_ns[DB_SLOW], FL_NEVER);
	assert_false(t->active[API_DOWN]);
	assert_true(t->active[DB_SLOW]);
	assert_u64_equal(t->sets[3].since_ns, 3100);
	assert_int_equal(t->sets[3].n, 1);
	assert_int_equal(t->sets[3].steps[0], DB_SLOW);

	/* heal: all, sent as STEP_APPLIED: the same as HEAL. */
	assert_int_equal(feed(t, FL_PHASE_STEP_APPLIED, HEAL_REST, 4100), 0);
	assert_u64_equal(t->healed_ns[DB_SLOW], 4100);
	assert_u64_equal(t->applied_ns[HEAL_REST], 4100);
	assert_int_equal(t->sets[fl_phase_tracker_current(t)].n, 0);

	/* Nothing is active: END changes no set, but is recorded. */
	assert_int_equal(feed(t, FL_PHASE_END, 0, 5100), 0);
	assert_u64_equal(t->end_ns, 5100);
	assert_int_equal(fl_phase_tracker_current(t), 4);
	assert_int_equal(t->n_rejected, 0);
}

static void test_end_heals_everything(void **state)
{
	_cleanup_(fl_scenario_freep) struct fl_scenario *s = parse_scenario(yaml);
	_cleanup_(fl_phase_tracker_freep) struct fl_phase_tracker *t = NULL;

	assert_int_equal(fl_phase_tracker_new(s, &t), 0);
	assert_int_equal(feed(t, FL_PHASE_STEP_APPLIED, API_DOWN, 10), 0);
	assert_int_equal(feed(t, FL_PHASE_STEP_APPLIED, DB_SLOW, 20), 0);
	/* The end step's STEP_APPLIED is END. */
	assert_int_equal(feed(t, FL_PHASE_STEP_APPLIED, END, 30), 0);
	assert_u64_equal(t->end_ns, 30);
	assert_u64_equal(t->healed_ns[API_DOWN], 30);
	assert_u64_equal(t->healed_ns[DB_SLOW], 30);
	assert_int_equal(t->sets[fl_phase_tracker_current(t)].n, 0);
	/* A second end contradicts the timeline. */
	assert_int_equal(feed(t, FL_PHASE_END, 0, 40), -EINVAL);
	assert_u64_equal(t->end_ns, 30);
	assert_int_equal(t->n_rejected, 1);
}

static void test_rejects(void **state)
{
	_cleanup_(fl_scenario_freep) struct fl_scenario *s = parse_scenario(yaml);
	_cleanup_(fl_phase_tracker_freep) struct fl_phase_tracker *t = NULL;

	assert_int_equal(fl_phase_tracker_new(s, &t), 0);
	assert_int_equal(feed(t, 0, 0, 1), -EINVAL);
	assert_int_equal(feed(t, 99, 0, 1), -EINVAL);
	assert_int_equal(feed(t, FL_PHASE_STEP_APPLIED, 5, 1), -EINVAL);
	assert_int_equal(feed(t, FL_PHASE_HEAL, 1000, 1), -EINVAL);
	assert_int_equal(feed(t, FL_PHASE_HEAL, API_DOWN, 1), -EINVAL); /* not a heal step */
	assert_int_equal(feed(t, FL_PHASE_START, 0, 1), 0);
	assert_int_equal(feed(t, FL_PHASE_START, 0, 2), -EINVAL);
	assert_int_equal(feed(t, FL_PHASE_STEP_APPLIED, API_DOWN, 3), 0);
	assert_int_equal(feed(t, FL_PHASE_STEP_APPLIED, API_DOWN, 4), -EINVAL);
	assert_u64_equal(t->applied_ns[API_DOWN], 3);
	assert_u64_equal(t->start_ns, 1);
	assert_int_equal(t->n_rejected, 7);
	assert_int_equal(fl_phase_tracker_current(t), 1);
	/* Healing what is not active is not an error (heal: all after an early end). */
	assert_int_equal(feed(t, FL_PHASE_HEAL, HEAL_REST, 5), 0);
	assert_int_equal(feed(t, FL_PHASE_HEAL, HEAL_API, 6), 0);
	assert_u64_equal(t->healed_ns[API_DOWN], 5);
}

static void test_pipe(void **state)
{
	_cleanup_(fl_scenario_freep) struct fl_scenario *s = parse_scenario(yaml);
	_cleanup_(fl_phase_tracker_freep) struct fl_phase_tracker *t = NULL;
	struct fl_phase_event ev = { .kind = FL_PHASE_STEP_APPLIED, .step = DB_SLOW, .t_ns = 77 };
	int p[2];

	assert_int_equal(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
	assert_int_equal(fl_phase_tracker_new(s, &t), 0);
	assert_int_equal(fl_phase_tracker_read(t, p[0]), 0); /* nothing yet */
	assert_int_equal(fl_phase_send(p[1], FL_PHASE_START, 0, 5), 0);
	assert_int_equal(fl_phase_send(p[1], FL_PHASE_STEP_APPLIED, API_DOWN, 50), 0);
	/* Half a record: kept until the rest arrives. */
	assert_int_equal(write(p[1], &ev, 8), 8);
	assert_int_equal(fl_phase_tracker_read(t, p[0]), 0);
	assert_u64_equal(t->start_ns, 5);
	assert_u64_equal(t->applied_ns[API_DOWN], 50);
	assert_u64_equal(t->applied_ns[DB_SLOW], FL_NEVER);
	assert_int_equal(t->n_pending, 8);
	assert_int_equal(write(p[1], (char *)&ev + 8, 8), 8);
	assert_int_equal(fl_phase_tracker_read(t, p[0]), 0);
	assert_u64_equal(t->applied_ns[DB_SLOW], 77);
	/* A bad record is counted and skipped; the stream goes on. */
	assert_int_equal(fl_phase_send(p[1], 42, 0, 1), 0);
	assert_int_equal(fl_phase_send(p[1], FL_PHASE_END, 0, 99), 0);
	close(p[1]);
	assert_int_equal(fl_phase_tracker_read(t, p[0]), 1);
	assert_true(t->hangup);
	assert_int_equal(t->n_rejected, 1);
	assert_u64_equal(t->end_ns, 99);
	assert_u64_equal(t->healed_ns[API_DOWN], 99);
	close(p[0]);
	assert_int_equal(fl_phase_tracker_read(t, p[0]), -EBADF);
	assert_int_equal(fl_phase_send(p[1], FL_PHASE_END, 0, 1), -EBADF);
}

static void test_free_null(void **state)
{
	fl_phase_tracker_free(NULL);
}

int main(int argc, char **argv)
{
	/* clang-format off: one test a line */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_timeline),  cmocka_unit_test(test_end_heals_everything),
		cmocka_unit_test(test_rejects),	  cmocka_unit_test(test_pipe),
		cmocka_unit_test(test_free_null),
	};
	/* clang-format on */

	return fl_unit_run(argc, argv, "harness/phase", tests, ELEMENTSOF(tests), NULL, 0);
}
