/* SPDX-License-Identifier: MIT */
/*
 * harness/flows for real: http, tcp, udp and exec probes against servers
 * this test starts on 127.0.0.1, a synthetic phase feed (scripted, then a
 * real pipe), the judge on what came back, and the reports.
 *
 *   harness_test_flows               the cmocka tests
 *   harness_test_flows --write DIR   the main run only, reports into DIR,
 *                                    the terminal table on stdout (for
 *                                    check-reports.sh)
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "scenario-text.h"
#include "servers.h"
#include "flows/flows.h"
#include "judge/judge.h"
#include "report/report.h"

#define MS(x) ((uint64_t)(x)*FL_NSEC_PER_MSEC)

/*
 * --relaxed (the valgrind run): the machine is too slow for the timing of
 * the main run to mean anything, so only what does not depend on it is
 * asserted (structure, counts, reaping, that judging and reporting work).
 */
static bool relaxed;

static const char main_yaml[] =
	"version: 1\n"
	"name: harness end to end\n"
	"services:\n"
	"  api: { endpoints: [\"127.0.0.1:9\"] }\n"
	"flows:\n"
	"  web: { http: { url: \"http://127.0.0.1:${HTTP}/mode\", body_contains: hello }, every: "
	"100ms, timeout: 1s }\n"
	"  fallback: { http: { url: \"http://127.0.0.1:${HTTP}/ok\" }, every: 100ms }\n"
	"  echo: { http: { method: POST, url: \"http://127.0.0.1:${HTTP}/echo\", headers: { "
	"X-Test: \"yes\" }, body: ping-body, body_contains: ping-body }, every: 100ms }\n"
	"  teapot: { http: { url: \"http://127.0.0.1:${HTTP}/teapot\", status: [418] }, every: "
	"200ms }\n"
	"  slow: { http: { url: \"http://127.0.0.1:${HTTP}/slow\" }, every: 100ms, timeout: 200ms, "
	"concurrency: 1 }\n"
	"  closed: { http: { url: \"http://127.0.0.1:${CLOSED}/\" }, every: 200ms }\n"
	"  tcp: { tcp: { address: \"127.0.0.1:${TCP}\", send: \"hello tcp\", expect: \"hello tcp\" "
	"}, every: 100ms }\n"
	"  tcpconn: { tcp: { address: \"127.0.0.1:${TCP}\" }, every: 200ms }\n"
	"  tcpclosed: { tcp: { address: \"127.0.0.1:${CLOSED}\" }, every: 200ms }\n"
	"  udp: { udp: { address: \"127.0.0.1:${UDP}\", send: \"hello udp\", expect: \"hello udp\" "
	"}, every: 100ms }\n"
	"  udpsilent: { udp: { address: \"127.0.0.1:${SILENT}\", send: \"anyone?\" }, every: "
	"200ms, timeout: 150ms }\n"
	"  udpclosed: { udp: { address: \"127.0.0.1:${CLOSEDU}\", send: x }, every: 200ms, "
	"timeout: 500ms }\n"
	"  ledger: { exec: { command: \"echo balanced\", stdout_contains: balanced }, every: 250ms "
	"}\n"
	"  exit3: { exec: { command: \"exit 3\" }, every: 500ms }\n"
	"  hang: { exec: { command: \"sleep 10\" }, every: 1s, timeout: 200ms }\n"
	"timeline:\n"
	"  - { at: 1s, id: api-down, fault: partition, services: [api] }\n"
	"  - { at: 2s, id: api-up, heal: [api-down] }\n"
	"  - { at: 2500ms, end: true }\n"
	"expect:\n"
	"  - { flow: web, before: first-fault, success_rate: \">= 90%\", p99: 500ms }\n"
	"  - { flow: web, during: api-down, success_rate: \"<= 10%\", fail_fast: 500ms, "
	"errors_are: [\"status:503\", \"body:MARKER-503\"] }\n"
	"  - { flow: web, after: api-down, recovers_within: 300ms }\n"
	"  - { flow: fallback, during: always, success_rate: \"100%\", fallback: via-fallback }\n"
	"  - { flow: echo, during: always, success_rate: \"100%\" }\n"
	"  - { flow: teapot, during: always, success_rate: \"100%\" }\n"
	"  - { flow: slow, during: always, errors_are: [timeout], fail_fast: 400ms }\n"
	"  - { flow: closed, during: always, errors_are: [refused] }\n"
	"  - { flow: tcp, during: always, success_rate: \"100%\" }\n"
	"  - { flow: tcpconn, during: always, success_rate: \"100%\" }\n"
	"  - { flow: tcpclosed, during: always, errors_are: [refused] }\n"
	"  - { flow: udp, during: always, success_rate: \"100%\" }\n"
	"  - { flow: udpsilent, during: always, errors_are: [timeout] }\n"
	"  - { flow: udpclosed, during: always, errors_are: [refused] }\n"
	"  - { flow: ledger, during: always, success_rate: \"100%\" }\n"
	"  - { flow: exit3, during: always, errors_are: [exit] }\n"
	"  - { flow: hang, during: always, errors_are: [timeout], max_latency: 400ms }\n"
	"  - { flow: web, during: api-down, no_retry_storm: { max_ratio: 3 } }\n"
	"  - { name: meant to fail, flow: web, during: api-down, success_rate: \"100%\" }\n"
	"  - { name: ledger balanced, invariant: { exec: \"test -n balanced\" }, at: end }\n"
	"  - { name: broken invariant, invariant: { exec: \"exit 4\" }, at: api-up }\n";

enum {
	F_WEB,
	F_FALLBACK,
	F_ECHO,
	F_TEAPOT,
	F_SLOW,
	F_CLOSED,
	F_TCP,
	F_TCPCONN,
	F_TCPCLOSED,
	F_UDP,
	F_UDPSILENT,
	F_UDPCLOSED,
	F_LEDGER,
	F_EXIT3,
	F_HANG,
	N_FLOWS
};

static const enum fl_verdict expected[] = {
	FL_VERDICT_PASS, FL_VERDICT_PASS, FL_VERDICT_PASS,    FL_VERDICT_PASS, FL_VERDICT_PASS,
	FL_VERDICT_PASS, FL_VERDICT_PASS, FL_VERDICT_PASS,    FL_VERDICT_PASS, FL_VERDICT_PASS,
	FL_VERDICT_PASS, FL_VERDICT_PASS, FL_VERDICT_PASS,    FL_VERDICT_PASS, FL_VERDICT_PASS,
	FL_VERDICT_PASS, FL_VERDICT_PASS, FL_VERDICT_SKIPPED, FL_VERDICT_FAIL, FL_VERDICT_PASS,
	FL_VERDICT_FAIL,
};

struct main_run {
	struct server http, tcp, udp, silent;
	struct fl_scenario *s;
	struct fl_results *r;
	struct fl_judgements *j;
	uint64_t t0;
};

static void main_run_start(struct main_run *m)
{
	char http[8], tcp[8], udp[8], silent[8], closed[8], closedu[8];
	const char *vars[] = { "HTTP", http,	 "TCP",	 tcp,	    "UDP",   udp, "SILENT",
			       silent, "CLOSED", closed, "CLOSEDU", closedu, NULL };
	struct fl_phase_event script[4];
	struct fl_flows_options o = { .phase_fd = -1, .stop_fd = -1, .grace_ns = MS(500) };

	/* Started and timed before the servers' clock is set, so the window is exact. */
	m->t0 = fl_flows_now_ns() + MS(300);
	m->http.fault_from_ns = m->t0 + MS(950);
	m->http.fault_to_ns = m->t0 + MS(1950);
	assert_int_equal(server_start_http(&m->http), 0);
	assert_int_equal(server_start_tcp_echo(&m->tcp), 0);
	assert_int_equal(server_start_udp_echo(&m->udp), 0);
	assert_int_equal(server_start_udp_silent(&m->silent), 0);
	snprintf(http, sizeof(http), "%u", m->http.port);
	snprintf(tcp, sizeof(tcp), "%u", m->tcp.port);
	snprintf(udp, sizeof(udp), "%u", m->udp.port);
	snprintf(silent, sizeof(silent), "%u", m->silent.port);
	snprintf(closed, sizeof(closed), "%u", unused_port(false));
	snprintf(closedu, sizeof(closedu), "%u", unused_port(true));
	m->s = parse_scenario_env(main_yaml, vars);
	assert_int_equal(m->s->n_flows, N_FLOWS);
	assert_int_equal(m->s->n_expects, ELEMENTSOF(expected));

	script[0] = (struct fl_phase_event){ FL_PHASE_START, 0, m->t0 };
	script[1] = (struct fl_phase_event){ FL_PHASE_STEP_APPLIED, 0, m->t0 + MS(1000) };
	script[2] = (struct fl_phase_event){ FL_PHASE_HEAL, 1, m->t0 + MS(2000) };
	script[3] = (struct fl_phase_event){ FL_PHASE_END, 2, m->t0 + MS(2500) };
	o.start_ns = m->t0;
	o.script = script;
	o.n_script = ELEMENTSOF(script);
	assert_int_equal(fl_flows_run(m->s, &o, &m->r), 0);
	server_stop(&m->http);
	server_stop(&m->tcp);
	server_stop(&m->udp);
	server_stop(&m->silent);
	assert_int_equal(fl_judge(m->r, &m->j), 0);
}

static void main_run_done(struct main_run *m)
{
	fl_judgements_free(m->j);
	fl_results_free(m->r);
	fl_scenario_free(m->s);
}

static size_t count(const struct fl_results *r, uint32_t flow, enum fl_outcome out)
{
	size_t n = 0;

	for (size_t i = 0; i < r->n_probes; i++)
		n += r->probes[i].flow == flow && r->probes[i].outcome == out;
	return n;
}

static size_t count_flow(const struct fl_results *r, uint32_t flow)
{
	size_t n = 0;

	for (size_t i = 0; i < r->n_probes; i++)
		n += r->probes[i].flow == flow;
	return n;
}

/*
 * Every probe of flow that was sent came back as out; else names the first
 * that did not. (On a loaded machine a probe may outlast its period, and the
 * next one is skipped: that is the engine working, not the server failing.)
 */
static void all_are(const struct fl_results *r, uint32_t flow, enum fl_outcome out)
{
	for (size_t i = 0; i < r->n_probes; i++) {
		const struct fl_probe_result *p = &r->probes[i];

		if (p->flow == flow && p->outcome != out && p->outcome != FL_OUT_SKIPPED)
			fail_msg("flow %s: a probe at +%" PRIu64 " ms is %s (%s), expected %s",
				 r->s->flows[flow].name,
				 (p->start_ns - r->start_ns) / FL_NSEC_PER_MSEC,
				 fl_outcome_to_string(p->outcome), p->detail,
				 fl_outcome_to_string(out));
	}
	assert_true(count_flow(r, flow) > count(r, flow, FL_OUT_SKIPPED));
}

static const struct fl_probe_result *first(const struct fl_results *r, uint32_t flow,
					   enum fl_outcome out)
{
	for (size_t i = 0; i < r->n_probes; i++)
		if (r->probes[i].flow == flow && r->probes[i].outcome == out)
			return &r->probes[i];
	fail_msg("no %s probe for flow %u", fl_outcome_to_string(out), flow);
	return &r->probes[0];
}

/* What holds however slow the machine: each flow produced probes of its kind. */
static void outcomes_basic(const struct fl_results *r)
{
	for (uint32_t f = 0; f < N_FLOWS; f++)
		assert_true(count_flow(r, f) > count(r, f, FL_OUT_SKIPPED));
	assert_true(count(r, F_EXIT3, FL_OUT_EXIT_CODE) + count(r, F_EXIT3, FL_OUT_TIMEOUT) > 0);
	assert_int_equal(count(r, F_HANG, FL_OUT_OK), 0);
	assert_int_equal(count(r, F_CLOSED, FL_OUT_OK), 0);
}

static void test_main_run(void **state)
{
	struct main_run m = { 0 };
	const struct fl_results *r;
	const struct fl_probe_result *p;
	_cleanup_free_ char *table = NULL;

	main_run_start(&m);
	r = m.r;
	assert_int_equal(fl_report_terminal(m.j, false, &table), 0);
	fputs(table, stdout);

	/* The phases arrived when scripted; stop = END + grace. */
	assert_u64_equal(r->phases->applied_ns[0], m.t0 + MS(1000));
	assert_u64_equal(r->phases->healed_ns[0], m.t0 + MS(2000));
	assert_u64_equal(r->phases->end_ns, m.t0 + MS(2500));
	assert_true(r->stop_ns >= m.t0 + MS(3000));
	assert_false(r->stopped_early);

	/* No drift: every probe was due at start + k * every, k = 0.. */
	for (size_t i = 0; i < r->n_probes; i++) {
		const struct fl_probe_result *q = &r->probes[i];
		uint64_t every = m.s->flows[q->flow].every_ns;

		assert_true(q->scheduled_ns >= m.t0);
		assert_u64_equal((q->scheduled_ns - m.t0) % every, 0);
		assert_true(q->start_ns >= q->scheduled_ns);
		assert_true(q->scheduled_ns < m.t0 + MS(3000));
	}
	/* 0, 100ms, .. 2.9s: everything due before the stop, however late. */
	if (!relaxed) {
		assert_in_range(count_flow(r, F_WEB), 30, 30);
		assert_in_range(count_flow(r, F_HANG), 3, 3);
	}

	if (relaxed) {
		outcomes_basic(r);
	} else {
		/* Each probe kind, each outcome. */
		p = first(r, F_WEB, FL_OUT_HTTP_STATUS);
		assert_int_equal(p->code, 503);
		assert_true(p->markers & 1); /* MARKER-503, the flow's only marker */
		/* Each probe knows the faults active when it started (50 ms for a late loop). */
		for (size_t i = 0; i < r->n_probes; i++) {
			const struct fl_probe_result *q = &r->probes[i];
			bool active = fl_phase_set_has(r->phases, q->phase_set, 0);

			if (q->start_ns < m.t0 + MS(1000) || q->start_ns >= m.t0 + MS(2000))
				assert_false(active);
			else if (q->start_ns >= m.t0 + MS(1050))
				assert_true(active);
		}
		assert_int_equal(first(r, F_WEB, FL_OUT_OK)->code, 200);
		all_are(r, F_ECHO, FL_OUT_OK);
		assert_int_equal(first(r, F_TEAPOT, FL_OUT_OK)->code, 418);
		assert_true(count(r, F_SLOW, FL_OUT_TIMEOUT) >= 5);
		assert_true(count(r, F_SLOW, FL_OUT_SKIPPED) >= 5);
		p = first(r, F_SLOW, FL_OUT_TIMEOUT);
		assert_in_range(p->latency_ns, MS(200), MS(400));
		all_are(r, F_CLOSED, FL_OUT_REFUSED);
		assert_contains(first(r, F_TCP, FL_OUT_OK)->detail, "9 bytes");
		assert_str(first(r, F_TCPCONN, FL_OUT_OK)->detail, "connected");
		all_are(r, F_TCPCLOSED, FL_OUT_REFUSED);
		all_are(r, F_UDP, FL_OUT_OK);
		all_are(r, F_UDPSILENT, FL_OUT_TIMEOUT);
		all_are(r, F_UDPCLOSED, FL_OUT_REFUSED);
		assert_true(atomic_load(&m.silent.requests) >=
			    count_flow(r, F_UDPSILENT) - count(r, F_UDPSILENT, FL_OUT_SKIPPED) - 1);
		all_are(r, F_LEDGER, FL_OUT_OK);
		p = first(r, F_EXIT3, FL_OUT_EXIT_CODE);
		assert_int_equal(p->code, 3);
		assert_str(p->detail, "exit 3, expected 0");
		p = first(r, F_HANG, FL_OUT_TIMEOUT);
		assert_in_range(p->latency_ns, MS(200), MS(400));
	}
	/* Killed at the timeout, and reaped: no child is left behind. */
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);

	/* The invariants ran at their instants. */
	assert_int_equal(r->n_invariants, 2);
	for (size_t i = 0; i < r->n_invariants; i++) {
		const struct fl_probe_result *q = &r->invariants[i];

		if (q->flow == 19)
			assert_true(q->start_ns >= m.t0 + MS(2500));
		else
			assert_true(q->start_ns >= m.t0 + MS(2000) &&
				    q->outcome == FL_OUT_EXIT_CODE);
	}

	for (size_t i = 0; i < m.j->n && !relaxed; i++) {
		if (m.j->v[i].verdict != expected[i])
			fail_msg("expectation %zu is %s, expected %s: %s", i,
				 fl_verdict_to_string(m.j->v[i].verdict),
				 fl_verdict_to_string(expected[i]), m.j->v[i].reason);
	}
	assert_true(relaxed || m.j->v[1].samples >= 8);
	assert_int_equal(fl_judgements_exit_status(m.j), 1); /* "meant to fail" fails anyway */
	main_run_done(&m);
}

/* ---- the phase pipe ------------------------------------------------------- */

static const char small_yaml[] = "version: 1\n"
				 "name: pipe\n"
				 "services:\n"
				 "  api: { endpoints: [\"127.0.0.1:9\"] }\n"
				 "flows:\n"
				 "  tcp: { tcp: { address: \"127.0.0.1:${TCP}\" }, every: 50ms }\n"
				 "timeline:\n"
				 "  - { at: 200ms, id: down, fault: partition, services: [api] }\n"
				 "  - { at: 400ms, end: true }\n"
				 "expect:\n"
				 "  - { flow: tcp, during: down, success_rate: \"100%\" }\n";

struct writer {
	int fd;
	bool hang_up_early;
	uint64_t t0;
	pthread_t thread;
};

static void sleep_until(uint64_t t)
{
	struct timespec ts = { .tv_sec = (time_t)(t / FL_NSEC_PER_SEC),
			       .tv_nsec = (long)(t % FL_NSEC_PER_SEC) };

	clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
}

static void *write_phases(void *arg)
{
	struct writer *w = arg;

	fl_phase_send(w->fd, FL_PHASE_START, 0, w->t0);
	if (!w->hang_up_early) {
		sleep_until(w->t0 + MS(200));
		fl_phase_send(w->fd, FL_PHASE_STEP_APPLIED, 0, fl_flows_now_ns());
		sleep_until(w->t0 + MS(400));
		fl_phase_send(w->fd, FL_PHASE_STEP_APPLIED, 1, fl_flows_now_ns());
		/* Held open past the grace: the stop must come from the grace. */
		sleep_until(w->t0 + MS(1500));
	}
	close(w->fd);
	return NULL;
}

static struct fl_results *run_small(struct server *tcp, bool hang_up_early, struct fl_scenario **s)
{
	char port[8];
	const char *vars[] = { "TCP", port, NULL };
	struct writer w = { .hang_up_early = hang_up_early };
	struct fl_flows_options o = { .stop_fd = -1, .grace_ns = MS(300) };
	struct fl_results *r = NULL;
	int p[2];

	snprintf(port, sizeof(port), "%u", tcp->port);
	*s = parse_scenario_env(small_yaml, vars);
	assert_int_equal(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
	w.fd = p[1];
	w.t0 = fl_flows_now_ns();
	o.start_ns = w.t0;
	o.phase_fd = p[0];
	assert_int_equal(pthread_create(&w.thread, NULL, write_phases, &w), 0);
	assert_int_equal(fl_flows_run(*s, &o, &r), 0);
	pthread_join(w.thread, NULL);
	close(p[0]);
	return r;
}

static void test_phase_pipe(void **state)
{
	struct server tcp = { 0 };
	_cleanup_(fl_scenario_freep) struct fl_scenario *s = NULL;
	_cleanup_(fl_results_freep) struct fl_results *r = NULL;
	_cleanup_(fl_judgements_freep) struct fl_judgements *j = NULL;

	assert_int_equal(server_start_tcp_echo(&tcp), 0);
	r = run_small(&tcp, false, &s);
	server_stop(&tcp);
	assert_u64_equal(r->phases->start_ns, r->start_ns);
	assert_true(r->phases->applied_ns[0] >= r->start_ns + MS(200));
	assert_true(r->phases->end_ns >= r->start_ns + MS(400));
	assert_true(r->stop_ns >= r->phases->end_ns + MS(300));
	assert_true(r->stop_ns < r->start_ns + MS(1400)); /* not the writer's hang-up */
	assert_false(r->stopped_early);
	assert_int_equal(fl_judge(r, &j), 0);
	assert_int_equal(j->v[0].verdict, FL_VERDICT_PASS);
	assert_in_range(j->v[0].samples, 3, 5);
	/* Probe 0 is due at START, which reached the loop a little after it: sent all the same. */
	assert_true(r->n_probes >= 1);
	assert_u64_equal(r->probes[0].scheduled_ns, r->start_ns);
	assert_int_not_equal(r->probes[0].outcome, FL_OUT_SKIPPED);
}

static void test_hangup_before_end(void **state)
{
	struct server tcp = { 0 };
	_cleanup_(fl_scenario_freep) struct fl_scenario *s = NULL;
	_cleanup_(fl_results_freep) struct fl_results *r = NULL;

	assert_int_equal(server_start_tcp_echo(&tcp), 0);
	r = run_small(&tcp, true, &s);
	server_stop(&tcp);
	assert_true(r->phases->hangup);
	assert_true(r->stopped_early);
	assert_u64_equal(r->phases->end_ns, FL_NEVER);
	assert_true(r->stop_ns < r->start_ns + MS(150));
}

/* ---- stop, bad input ------------------------------------------------------ */

static void test_stop_fd(void **state)
{
	_cleanup_(fl_scenario_freep) struct fl_scenario *s = NULL;
	_cleanup_(fl_results_freep) struct fl_results *r = NULL;
	const char *vars[] = { "TCP", "9", NULL };
	int efd = eventfd(1, EFD_CLOEXEC | EFD_NONBLOCK);
	uint64_t t0 = fl_flows_now_ns();
	struct fl_flows_options o = { .phase_fd = -1, .stop_fd = efd, .stop_ns = t0 + MS(5000) };

	s = parse_scenario_env(small_yaml, vars);
	assert_int_equal(fl_flows_run(s, &o, &r), 0);
	assert_true(r->stopped_early);
	assert_true(fl_flows_now_ns() - t0 < MS(1000));
	close(efd);
}

static void test_start_in_past(void **state)
{
	struct server tcp = { 0 };
	_cleanup_(fl_scenario_freep) struct fl_scenario *s = NULL;
	_cleanup_(fl_results_freep) struct fl_results *r = NULL;
	char port[8];
	const char *vars[] = { "TCP", port, NULL };
	uint64_t now = fl_flows_now_ns();
	struct fl_flows_options o = {
		.phase_fd = -1, .stop_fd = -1, .start_ns = now - MS(1000), .stop_ns = now + MS(300)
	};

	assert_int_equal(server_start_tcp_echo(&tcp), 0);
	snprintf(port, sizeof(port), "%u", tcp.port);
	s = parse_scenario_env(small_yaml, vars);
	assert_int_equal(fl_flows_run(s, &o, &r), 0);
	server_stop(&tcp);
	/*
	 * Of the 20 probes due before the call, only the newest was sent (late
	 * by less than the 50 ms period), none recorded as skipped; the grid holds.
	 */
	assert_true(r->n_probes >= 1);
	assert_true(r->probes[0].scheduled_ns > now - MS(50));
	for (size_t i = 0; i < r->n_probes; i++) {
		assert_true(i == 0 || r->probes[i].scheduled_ns >= now);
		assert_u64_equal((r->probes[i].scheduled_ns - o.start_ns) % MS(50), 0);
		assert_int_not_equal(r->probes[i].outcome, FL_OUT_SKIPPED);
	}
	if (!relaxed)
		assert_in_range(r->n_probes, 6, 8);
}

/*
 * A probe due at a step's instant waits for the step (applied 40 ms late
 * here) and runs under it; one due at an instant without a step does not
 * wait; and a step that never comes holds it FL_FLOWS_STEP_HOLD_NS at most.
 */
static void test_probe_at_step_waits(void **state)
{
	_cleanup_(fl_scenario_freep) struct fl_scenario *s = NULL;
	_cleanup_(fl_results_freep) struct fl_results *r = NULL;
	uint64_t t0 = fl_flows_now_ns() + MS(50);
	struct fl_phase_event script[] = {
		{ FL_PHASE_START, 0, t0 },
		{ FL_PHASE_STEP_APPLIED, 0, t0 + MS(340) },
		{ FL_PHASE_HEAL, 1, t0 + MS(600) },
		/* the end step (700 ms) never comes: the runner is gone */
	};
	struct fl_flows_options o = { .phase_fd = -1, .stop_fd = -1, .start_ns = t0,
				      .script = script, .n_script = ELEMENTSOF(script),
				      .stop_ns = t0 + MS(2000) };
	bool seen[3] = { false };

	s = parse_scenario_env("version: 1\nname: hold\n"
			       "services: { a: { endpoints: [\"127.0.0.1:9\"] } }\n"
			       "flows: { f: { exec: { command: \"true\" }, every: 100ms } }\n"
			       "timeline:\n"
			       "  - { at: 300ms, id: cut, fault: partition, services: [a] }\n"
			       "  - { at: 600ms, heal: [cut] }\n"
			       "  - { at: 700ms, end: true }\n",
			       NULL);
	assert_int_equal(fl_flows_run(s, &o, &r), 0);
	for (size_t i = 0; i < r->n_probes; i++) {
		const struct fl_probe_result *p = &r->probes[i];

		if (p->scheduled_ns == t0 + MS(300)) {
			assert_true(p->start_ns >= t0 + MS(340));
			assert_true(fl_phase_set_has(r->phases, p->phase_set, 0));
			seen[0] = true;
		} else if (p->scheduled_ns == t0 + MS(200)) {
			assert_false(fl_phase_set_has(r->phases, p->phase_set, 0));
		} else if (p->scheduled_ns == t0 + MS(700)) {
			assert_true(p->start_ns >= t0 + MS(700) + FL_FLOWS_STEP_HOLD_NS);
			seen[1] = true;
		} else if (p->scheduled_ns == t0 + MS(400)) {
			if (!relaxed) /* no step then: not held */
				assert_true(p->start_ns < t0 + MS(420));
			seen[2] = true;
		}
	}
	assert_true(seen[0] && seen[1] && seen[2]);
}

/* A failed command's detail ends with its last words: stderr's last line, else stdout's. */
static void test_exec_last_words(void **state)
{
	_cleanup_(fl_scenario_freep) struct fl_scenario *s = NULL;
	_cleanup_(fl_results_freep) struct fl_results *r = NULL;
	struct fl_flows_options o = { .phase_fd = -1, .stop_fd = -1 };
	static const char *const want[] = {
		"exit 3, expected 0: the reason",
		"exit 2, expected 0: out-only",
		"exit 0, stdout lacks \"yes\": err-why",
		"exit 1, expected 0: final",
		"exit 0",
		"exit 5, expected 0: out-why",
	};
	bool seen[ELEMENTSOF(want)] = { false };

	s = parse_scenario_env(
		"version: 1\nname: words\nservices: { a: { endpoints: [\"127.0.0.1:9\"] } }\n"
		"flows:\n"
		"  a: { exec: { command: \"echo first >&2; echo 'the reason  ' >&2; exit 3\" }, every: 1s }\n"
		"  b: { exec: { command: \"echo out-only; echo; exit 2\" }, every: 1s }\n"
		"  c: { exec: { command: \"echo nope; echo err-why >&2\", stdout_contains: \"yes\" }, every: 1s }\n"
		"  d: { exec: { command: \"head -c 5000 /dev/zero | tr '\\\\000' x >&2; echo >&2; echo final >&2; exit 1\" }, every: 1s }\n"
		"  e: { exec: { command: \"echo fine >&2\" }, every: 1s }\n"
		"  f: { exec: { command: \"echo out-why; echo ' ' >&2; exit 5\" }, every: 1s }\n"
		"timeline: [ { at: 1s, end: true } ]\n",
		NULL);
	o.start_ns = fl_flows_now_ns() + MS(20);
	o.stop_ns = o.start_ns + MS(300);
	assert_int_equal(fl_flows_run(s, &o, &r), 0);
	for (size_t i = 0; i < r->n_probes; i++) {
		const struct fl_probe_result *p = &r->probes[i];

		if (p->outcome == FL_OUT_SKIPPED)
			continue;
		assert_string_equal(p->detail, want[p->flow]);
		seen[p->flow] = true;
	}
	for (size_t i = 0; i < ELEMENTSOF(want); i++)
		assert_true(seen[i]);
}

/* TLS spoken to a plain HTTP server: the handshake fails, and says so. */
static void test_tls_error(void **state)
{
	struct server http = { 0 };
	_cleanup_(fl_scenario_freep) struct fl_scenario *s = NULL;
	_cleanup_(fl_results_freep) struct fl_results *r = NULL;
	char port[8];
	const char *vars[] = { "HTTP", port, NULL };
	struct fl_flows_options o = { .phase_fd = -1, .stop_fd = -1 };

	assert_int_equal(server_start_http(&http), 0);
	snprintf(port, sizeof(port), "%u", http.port);
	s = parse_scenario_env(
		"version: 1\nname: tls\nservices: { a: { endpoints: [\"127.0.0.1:9\"] } }\n"
		"flows:\n"
		"  tls: { http: { url: \"https://127.0.0.1:${HTTP}/ok\", insecure: true }, every: "
		"100ms }\n"
		"timeline: [ { at: 1s, end: true } ]\n",
		vars);
	o.start_ns = fl_flows_now_ns() + MS(20);
	o.stop_ns = o.start_ns + MS(250);
	assert_int_equal(fl_flows_run(s, &o, &r), 0);
	server_stop(&http);
	all_are(r, 0, FL_OUT_TLS_ERROR);
}

static void test_bad_options(void **state)
{
	_cleanup_(fl_scenario_freep) struct fl_scenario *s = NULL;
	struct fl_results *r = (void *)&r; /* must stay untouched */
	const char *vars[] = { "TCP", "9", NULL };
	struct fl_flows_options o = { .phase_fd = -1, .stop_fd = -1 };

	s = parse_scenario_env(small_yaml, vars);
	/* No way to know when to stop. */
	assert_int_equal(fl_flows_run(s, &o, &r), -EINVAL);
	assert_ptr_equal(r, (void *)&r);
}

/* ---- namespaces ------------------------------------------------------------ */

static const char netns_yaml[] =
	"version: 1\n"
	"name: netns\n"
	"services:\n"
	"  api: { endpoints: [\"127.0.0.1:9\"] }\n"
	"flows:\n"
	"  tcp: { tcp: { address: \"127.0.0.1:${TCP}\" }, every: 50ms, netns: /proc/self/ns/net }\n"
	"  web: { http: { url: \"http://127.0.0.1:${HTTP}/ok\" }, every: 50ms, netns: "
	"/proc/self/ns/net }\n"
	"  plain: { tcp: { address: \"127.0.0.1:${TCP}\" }, every: 50ms }\n"
	"timeline:\n"
	"  - { at: 300ms, end: true }\n";

struct opener {
	unsigned calls[3];
};

static int count_opens(size_t flow, int domain, int type, int protocol, void *userdata)
{
	struct opener *op = userdata;
	int fd;

	op->calls[flow]++;
	fd = socket(domain, type, protocol);
	return fd < 0 ? -errno : fd;
}

static struct fl_results *run_netns(struct fl_scenario **s, const int *fds, struct opener *op,
				    int *ret)
{
	static struct server tcp, http;
	char tport[8], hport[8];
	const char *vars[] = { "TCP", tport, "HTTP", hport, NULL };
	struct fl_flows_options o = { .phase_fd = -1, .stop_fd = -1, .netns_fds = fds };
	struct fl_results *r = NULL;

	if (op) {
		o.open_socket = count_opens;
		o.open_socket_userdata = op;
	}
	assert_int_equal(server_start_tcp_echo(&tcp), 0);
	assert_int_equal(server_start_http(&http), 0);
	snprintf(tport, sizeof(tport), "%u", tcp.port);
	snprintf(hport, sizeof(hport), "%u", http.port);
	*s = parse_scenario_env(netns_yaml, vars);
	/* 50 ms ahead: the first probe is not already due when the engine starts. */
	o.start_ns = fl_flows_now_ns() + MS(50);
	o.stop_ns = o.start_ns + MS(300);
	*ret = fl_flows_run(*s, &o, &r);
	server_stop(&tcp);
	server_stop(&http);
	return r;
}

static void test_netns_opener(void **state)
{
	_cleanup_(fl_scenario_freep) struct fl_scenario *s = NULL;
	_cleanup_(fl_results_freep) struct fl_results *r = NULL;
	struct opener op = { { 0 } };
	const int fds[] = { 0, 0, -1 }; /* any fd: the opener decides */
	int k;

	r = run_netns(&s, fds, &op, &k);
	assert_int_equal(k, 0);
	for (uint32_t f = 0; f < 3; f++)
		all_are(r, f, FL_OUT_OK);
	/* Every socket of a flow with a namespace came from the opener, none of the others'. */
	assert_int_equal(op.calls[0], count_flow(r, 0) - count(r, 0, FL_OUT_SKIPPED));
	assert_true(op.calls[1] >= count_flow(r, 1) - count(r, 1, FL_OUT_SKIPPED));
	assert_int_equal(op.calls[2], 0);
	assert_true(op.calls[0] >= 1 && op.calls[1] >= 1);
}

static void test_netns_setns(void **state)
{
	_cleanup_(fl_scenario_freep) struct fl_scenario *s = NULL;
	_cleanup_(fl_results_freep) struct fl_results *r = NULL;
	int self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	int fds[3] = { self, self, -1 };
	int k;

	assert_true(self >= 0);
	if (geteuid() != 0) {
		close(self);
		skip(); /* setns needs CAP_SYS_ADMIN */
	}
	r = run_netns(&s, fds, NULL, &k);
	close(self);
	assert_int_equal(k, 0);
	for (uint32_t f = 0; f < 3; f++) {
		if (!relaxed)
			assert_in_range(count_flow(r, f), 6, 6); /* 0, 50, .. 250 ms */
		all_are(r, f, FL_OUT_OK);
	}
}

static void test_netns_without_fd(void **state)
{
	_cleanup_(fl_scenario_freep) struct fl_scenario *s = NULL;
	_cleanup_(fl_results_freep) struct fl_results *r = NULL;
	int k;

	/* The engine never opens a namespace by name itself. */
	r = run_netns(&s, NULL, NULL, &k);
	assert_int_equal(k, -EBADF);
	assert_null(r);
}

/* ---- --write DIR ------------------------------------------------------------ */

static int write_reports(const char *dir)
{
	struct main_run m = { 0 };
	_cleanup_free_ char *table = NULL;
	int k;

	main_run_start(&m);
	k = fl_report_write(m.j, dir);
	if (k < 0) {
		fprintf(stderr, "fl_report_write(%s): %s\n", dir, strerror(-k));
		main_run_done(&m);
		return 1;
	}
	if (fl_report_terminal(m.j, isatty(STDOUT_FILENO), &table) == 0)
		fputs(table, stdout);
	for (size_t i = 0; i < m.j->n; i++)
		if (m.j->v[i].verdict != expected[i]) {
			fprintf(stderr, "expectation %zu is %s, expected %s\n", i,
				fl_verdict_to_string(m.j->v[i].verdict),
				fl_verdict_to_string(expected[i]));
			k = -1;
		}
	main_run_done(&m);
	return k < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
	/* clang-format off: one test a line */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_main_run),	  cmocka_unit_test(test_phase_pipe),
		cmocka_unit_test(test_hangup_before_end), cmocka_unit_test(test_stop_fd),
		cmocka_unit_test(test_start_in_past),	  cmocka_unit_test(test_probe_at_step_waits),
		cmocka_unit_test(test_exec_last_words),	  cmocka_unit_test(test_tls_error),
		cmocka_unit_test(test_bad_options),	  cmocka_unit_test(test_netns_opener),
		cmocka_unit_test(test_netns_setns),	  cmocka_unit_test(test_netns_without_fd),
	};
	/* clang-format on */

	if (argc == 3 && strcmp(argv[1], "--write") == 0)
		return write_reports(argv[2]);
	if (argc == 2 && strcmp(argv[1], "--relaxed") == 0) {
		relaxed = true;
		argc = 1;
	}
	return fl_unit_run(argc, argv, "harness/flows", tests, ELEMENTSOF(tests), NULL, 0);
}
