/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <poll.h>
#include <sys/prctl.h>
#include <string.h>
#include <time.h>
#include "runner/runner.h"

uint64_t fl_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* Waits at most this long in one go near the deadline. */
#define FL_RUNNER_FINE_NS (5 * 1000000ULL)

static void emit(const struct fl_runner_options *o, const struct fl_run_event *ev)
{
	if (o->on_event)
		o->on_event(ev, o->userdata);
}

/*
 * Waits until the absolute time due (monotonic), waking for ticks and
 * returning early when stop_fd is readable. Returns 1 when due, 0 when
 * stopped, -errno on failure.
 */
static int wait_until(const struct fl_runner_options *o, uint64_t start, uint64_t due,
		      size_t next, uint64_t *next_tick)
{
	for (;;) {
		uint64_t now = fl_now_ns(), until = due;
		struct pollfd p = { .fd = o->stop_fd, .events = POLLIN };
		struct timespec ts;

		if (o->tick_ns && now >= *next_tick) {
			struct fl_run_event ev = { .kind = FL_EV_TICK, .step = next,
						   .elapsed_ns = now - start };
			emit(o, &ev);
			while (*next_tick <= now)
				*next_tick += o->tick_ns;
		}
		if (now >= due)
			return 1;
		if (o->tick_ns && *next_tick < until)
			until = *next_tick;
		/*
		 * poll's timer slack grows with the timeout (0.1 %: 23 ms on a 23 s
		 * wait), whatever PR_SET_TIMERSLACK says. Halve long waits so the last
		 * one is short and lands within microseconds.
		 */
		if (until - now > FL_RUNNER_FINE_NS)
			until = now + ((until - now) / 2 > FL_RUNNER_FINE_NS ? (until - now) / 2
										: FL_RUNNER_FINE_NS);
		ts.tv_sec = (time_t)((until - now) / 1000000000ULL);
		ts.tv_nsec = (long)((until - now) % 1000000000ULL);
		int r = ppoll(&p, o->stop_fd >= 0 ? 1 : 0, &ts, NULL);
		if (r < 0 && errno != EINTR)
			return -errno;
		if (r > 0)
			return 0;
	}
}

int fl_runner_run(const struct fl_plan *p, struct fl_engine_ns *const *engines,
		  const struct fl_runner_options *o, uint64_t start_ns,
		  enum fl_run_result *ret_result)
{
	uint64_t next_tick = start_ns, cap = o->max_duration_ns ? start_ns + o->max_duration_ns : 0;

	/* The default 50 us timer slack shows up as schedule error: ask for 1 ns. */
	(void)prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);

	for (size_t i = 0; i < p->n_steps; i++) {
		uint64_t due = start_ns + p->steps[i].real_ns;
		int r;

		if (cap && due > cap) {
			r = wait_until(o, start_ns, cap, i, &next_tick);
			if (r < 0)
				return r;
			*ret_result = r ? FL_RUN_TIMED_OUT : FL_RUN_STOPPED;
			return 0;
		}
		r = wait_until(o, start_ns, due, i, &next_tick);
		if (r < 0)
			return r;
		if (r == 0) {
			*ret_result = FL_RUN_STOPPED;
			return 0;
		}

		struct fl_run_event ev = { .kind = FL_EV_STEP, .step = i,
					   .scheduled_ns = p->steps[i].real_ns };
		uint64_t t0 = fl_now_ns();
		ev.started_ns = t0 - start_ns;
		for (size_t k = 0; !o->dry_run && engines && k < p->n_nss && ev.error == 0; k++) {
			ev.error = fl_engine_apply_effective(engines[k], p, i, k);
			if (ev.error < 0)
				ev.message = fl_engine_error(engines[k]);
		}
		uint64_t t1 = fl_now_ns();
		/* In effect everywhere: now the links no packet reaches any more. */
		for (size_t k = 0; !o->dry_run && engines && k < p->n_nss && ev.error == 0; k++) {
			int n = fl_engine_tidy(engines[k]);

			if (n < 0) {
				ev.error = n;
				ev.message = fl_engine_error(engines[k]);
			} else {
				ev.tidied += (unsigned)n;
			}
		}
		ev.apply_ns = t1 - t0;
		ev.tidy_ns = fl_now_ns() - t1;
		ev.elapsed_ns = t1 - start_ns;
		emit(o, &ev);
		if (ev.error < 0) {
			*ret_result = FL_RUN_FAILED;
			return 0;
		}
	}
	*ret_result = FL_RUN_COMPLETED;
	return 0;
}
