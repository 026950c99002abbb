/* SPDX-License-Identifier: MIT */
/*
 * harness/observe: the classifier and filter, then the analysis core on
 * the pcap fixtures of gen-fixtures.py, whose docstrings give the known
 * answers asserted here (exact: the fixtures' timestamps are exact).
 *
 *   test-observe [FIXTURE_DIR]          the cmocka tests
 *   test-observe --json FIXTURE_DIR     the delay fixture's report as JSON, on stdout
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>
#include <stdlib.h>
#include <arpa/inet.h>
#include "alloc-fail.h"
#include "scenario-text.h"
#include "observe/observe.h"
#include "plan/plan.h"

#define T0  (1000ULL * 1000000000ULL)
#define MS  1000000ULL
#define SEC 1000000000ULL

static const char *fixtures = FIXTURE_DIR;

/* ---- a scenario, its plan, an observer fed a fixture ------------------------------------- */

struct world {
	struct fl_scenario *s;
	struct fl_plan *p;
	struct fl_observer *o;
	struct fl_wire_report *r;
};

static char *eth0[] = {(char *)"eth0"};

static void world_free(struct world *w)
{
	fl_wire_report_free(w->r);
	fl_observer_free(w->o);
	fl_plan_free(w->p);
	fl_scenario_free(w->s);
	*w = (struct world){0};
}

static void world_new(struct world *w, const char *yaml)
{
	struct fl_plan_options po = {
		.caps = {FL_CAP_ALL, "test"},
		.devices = eth0,
		.n_devices = 1,
	};
	struct fl_diag d;

	*w = (struct world){0};
	w->s = parse_scenario(yaml);
	fl_diag_init(&d, "test.yaml");
	assert_int_equal(fl_plan_build(w->s, &po, &d, &w->p), 0);
	fl_diag_done(&d);
	assert_int_equal(fl_observer_new(w->p, NULL, &w->o), 0);
	/* The fixtures' CLOCK_REALTIME T0 is CLOCK_MONOTONIC T0. */
	fl_observer_set_clock(w->o, T0, T0);
}

static void event(struct world *w, uint32_t kind, uint32_t step, uint64_t t_ns)
{
	const struct fl_phase_event ev = {.kind = kind, .step = step, .t_ns = t_ns};

	assert_int_equal(fl_observer_phase_event(w->o, &ev), 0);
}

static void feed(struct world *w, const char *name)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", fixtures, name);
	assert_int_equal(fl_observer_feed_file(w->o, path, NULL), 0);
	assert_int_equal(fl_observer_report(w->o, &w->r), 0);
}

static const struct fl_wire_stats *st(const struct world *w, size_t phase, size_t svc)
{
	const struct fl_wire_stats *s = fl_wire_report_stats(w->r, phase, svc);

	assert_non_null(s);
	return s;
}

static const struct fl_wire_fault_check *check_of(const struct world *w, uint32_t step)
{
	for (size_t i = 0; i < w->r->n_checks; i++)
		if (w->r->checks[i].step == step)
			return &w->r->checks[i];
	fail_msg("no check for step %u", step);
	return NULL;
}

/* ---- classification and the filter ------------------------------------------------------ */

static const char classify_yaml[] =
	"version: 1\n"
	"name: classify\n"
	"services:\n"
	"  net: { endpoints: [\"10.77.0.0/24\"] }\n"
	"  one: { endpoints: [\"10.77.0.20:8443\", \"[fd77::20]:8443\"] }\n"
	"  dns: { endpoints: [\"udp:10.53.0.1:53\"] }\n"
	"  range: { endpoints: [\"tcp:10.9.0.1:8000-8010\"] }\n"
	"timeline:\n"
	"  - { at: 1s, id: f, fault: partition, services: [net, one, dns, range] }\n"
	"  - { at: 2s, end: true }\n";

static struct fl_wire_endpoint ep(const char *addr, uint8_t proto, uint16_t port)
{
	struct fl_wire_endpoint e = {.proto = proto, .port = port};

	e.family = strchr(addr, ':') ? AF_INET6 : AF_INET;
	assert_int_equal(inet_pton(e.family, addr, &e.addr), 1);
	return e;
}

static void test_classify(void **state)
{
	struct world w;
	struct fl_wire_endpoint c = ep("10.1.1.1", IPPROTO_TCP, 40000);
	struct fl_wire_endpoint a, b;
	int server = -1;

	world_new(&w, classify_yaml);
	/* The most specific target wins: .20:8443 is "one", though "net" contains it. */
	a = ep("10.77.0.20", IPPROTO_TCP, 8443);
	assert_int_equal(fl_wire_classify(w.p, &c, &a, &server), 1);
	assert_int_equal(server, 1);
	assert_int_equal(fl_wire_classify(w.p, &a, &c, &server), 1);
	assert_int_equal(server, 0);
	a = ep("10.77.0.20", IPPROTO_TCP, 80);
	assert_int_equal(fl_wire_classify(w.p, &c, &a, NULL), 0);
	/* Both ends in "net": the lower port serves, whichever way the packet goes. */
	b = ep("10.77.0.1", IPPROTO_TCP, 40000);
	assert_int_equal(fl_wire_classify(w.p, &b, &a, &server), 0);
	assert_int_equal(server, 1);
	assert_int_equal(fl_wire_classify(w.p, &a, &b, &server), 0);
	assert_int_equal(server, 0);
	a = ep("fd77::20", IPPROTO_TCP, 8443);
	b = ep("fd00::1", IPPROTO_TCP, 50000);
	assert_int_equal(fl_wire_classify(w.p, &b, &a, NULL), 1);
	/* udp: only; and ICMP (no port) matches only an address-only target. */
	a = ep("10.53.0.1", IPPROTO_UDP, 53);
	assert_int_equal(fl_wire_classify(w.p, &c, &a, NULL), 2);
	a = ep("10.53.0.1", IPPROTO_TCP, 53);
	assert_int_equal(fl_wire_classify(w.p, &c, &a, NULL), FL_WIRE_OTHER);
	a = ep("10.77.0.5", IPPROTO_ICMP, 0);
	assert_int_equal(fl_wire_classify(w.p, &c, &a, NULL), 0);
	/* Port ranges, inclusive. */
	a = ep("10.9.0.1", IPPROTO_TCP, 8010);
	assert_int_equal(fl_wire_classify(w.p, &c, &a, NULL), 3);
	a = ep("10.9.0.1", IPPROTO_TCP, 8011);
	assert_int_equal(fl_wire_classify(w.p, &c, &a, NULL), FL_WIRE_OTHER);
	world_free(&w);
}

static void compiles(const char *filter)
{
	pcap_t *p =
		pcap_open_dead_with_tstamp_precision(DLT_EN10MB, 128, PCAP_TSTAMP_PRECISION_NANO);
	struct bpf_program prog;

	assert_non_null(p);
	if (pcap_compile(p, &prog, filter, 1, PCAP_NETMASK_UNKNOWN) < 0)
		fail_msg("\"%s\" does not compile: %s", filter, pcap_geterr(p));
	pcap_freecode(&prog);
	pcap_close(p);
}

static void test_filter(void **state)
{
	_cleanup_free_ char *all = NULL, *targets = NULL;
	struct world w;

	world_new(&w, classify_yaml);
	assert_int_equal(fl_wire_filter(w.p, 0, &all), 0);
	assert_str(all, "(ip or ip6) and (tcp or udp or icmp or icmp6)");
	compiles(all);
	assert_int_equal(fl_wire_filter(w.p, FL_WIRE_FILTER_TARGETS_ONLY, &targets), 0);
	assert_contains(targets, "(net 10.77.0.0/24)");
	/* The planner gives a port without a protocol as one target each for tcp and udp. */
	assert_contains(targets, "(net 10.77.0.20/32 and tcp and port 8443)");
	assert_contains(targets, "(net 10.77.0.20/32 and udp and port 8443)");
	assert_contains(targets, "(net fd77::20/128 and tcp and port 8443)");
	assert_contains(targets, "(net 10.53.0.1/32 and udp and port 53)");
	assert_contains(targets, "(net 10.9.0.1/32 and tcp and portrange 8000-8010)");
	compiles(targets);
	world_free(&w);
}

/* ---- delay.pcap: handshake RTT, response gap, delay verification, blast radius ------------ */

static const char delay_yaml[] =
	"version: 1\n"
	"name: delay\n"
	"services:\n"
	"  api: { endpoints: [\"10.0.0.2:80\", \"[fd00::2]:80\"] }\n"
	"timeline:\n"
	"  - { at: 1s, id: api-slow, fault: delay, services: [api], delay: DELAY }\n"
	"  - { at: 2s, heal: [api-slow] }\n"
	"  - { at: 3s, end: true }\n";

static void delay_world(struct world *w, const char *delay)
{
	_cleanup_free_ char *yaml = strdup(delay_yaml);
	char *at = strstr(yaml, "DELAY");
	char buf[sizeof(delay_yaml) + 16];

	*at = '\0';
	snprintf(buf, sizeof(buf), "%s%s%s", yaml, delay, at + 5);
	world_new(w, buf);
	event(w, FL_PHASE_START, 0, T0);
	event(w, FL_PHASE_STEP_APPLIED, 0, T0 + SEC);
	event(w, FL_PHASE_STEP_APPLIED, 1, T0 + 2 * SEC);
	event(w, FL_PHASE_STEP_APPLIED, 2, T0 + 3 * SEC);
	feed(w, "delay.pcap");
}

static void test_delay_stats(void **state)
{
	struct world w;
	const struct fl_wire_stats *b, *d, *o0, *o1;

	delay_world(&w, "50ms");
	assert_int_equal(w.r->n_phases, 3); /* before, api-slow, after */
	assert_int_equal(w.r->phases[1].n, 1);
	assert_int_equal(w.r->phases[1].steps[0], 0);
	assert_u64_equal(w.r->phases[1].since_ns, T0 + SEC);
	assert_u64_equal(w.r->ignored, 0);

	b = st(&w, 0, 0);
	assert_u64_equal(b->syn, 4);
	assert_u64_equal(b->synack, 4);
	assert_u64_equal(b->connections, 4);
	assert_u64_equal(b->handshakes, 4);
	assert_u64_equal(b->handshake_rtt.n, 4);
	assert_u64_equal(b->handshake_rtt.min_ns, 1 * MS);
	assert_u64_equal(b->handshake_rtt.p50_ns, 2 * MS);
	assert_u64_equal(b->handshake_rtt.p90_ns, 4 * MS);
	assert_u64_equal(b->handshake_rtt.max_ns, 4 * MS);
	assert_u64_equal(b->handshake_rtt.mean_ns, 2500 * 1000);
	assert_u64_equal(b->response_gap.n, 4);
	assert_u64_equal(b->response_gap.min_ns, 5 * MS);
	assert_u64_equal(b->response_gap.max_ns, 5 * MS);
	/*
	 * Per connection: 3 segments each way (SYN, data, FIN); the client
	 * sends 5 packets (two bare ACKs too), the service 3.
	 */
	assert_u64_equal(b->dir[FL_WIRE_TO_SERVICE].segments, 12);
	assert_u64_equal(b->dir[FL_WIRE_FROM_SERVICE].segments, 12);
	assert_u64_equal(b->dir[FL_WIRE_TO_SERVICE].packets, 20);
	assert_u64_equal(b->dir[FL_WIRE_FROM_SERVICE].packets, 12);
	/* IP bytes: 40 per bare segment, 140 and 240 with data. */
	assert_u64_equal(b->dir[FL_WIRE_TO_SERVICE].bytes, 4 * (4 * 40 + 140));
	assert_u64_equal(b->dir[FL_WIRE_FROM_SERVICE].bytes, 4 * (2 * 40 + 240));
	assert_u64_equal(b->dir[FL_WIRE_TO_SERVICE].retrans, 0);

	d = st(&w, 1, 0);
	assert_u64_equal(d->handshake_rtt.n, 4);
	assert_u64_equal(d->handshake_rtt.min_ns, 51 * MS);
	assert_u64_equal(d->handshake_rtt.p50_ns, 52 * MS);
	assert_u64_equal(d->handshake_rtt.max_ns, 54 * MS);
	assert_u64_equal(d->response_gap.p50_ns, 55 * MS);

	/* Everything else: one v4 and one v6 connection per phase, 1 ms. */
	o0 = st(&w, 0, 1);
	o1 = st(&w, 1, 1);
	assert_u64_equal(o0->handshakes, 2);
	assert_u64_equal(o1->handshakes, 2);
	assert_u64_equal(o1->handshake_rtt.max_ns, 1 * MS);
	assert_u64_equal(st(&w, 2, 0)->dir[0].packets, 0);
	world_free(&w);
}

static void test_delay_verdicts(void **state)
{
	struct world w;
	const struct fl_wire_fault_check *c;

	delay_world(&w, "50ms");
	c = check_of(&w, 0);
	assert_str(c->metric, "handshake_rtt_delta_ns");
	assert_int_equal(c->asked, 50 * (int64_t)MS);
	assert_int_equal(c->measured, 50 * (int64_t)MS);
	assert_int_equal(c->baseline, 2 * (int64_t)MS);
	assert_int_equal(c->tolerance, 5 * (int64_t)MS);
	assert_int_equal(c->verdict, FL_WIRE_VERDICT_OK);
	/* Untargeted traffic kept its 1 ms: not touched. */
	assert_int_equal(w.r->n_blast, 1);
	assert_false(w.r->blast[0].touched);
	assert_true(w.r->blast[0].has_rtt);
	assert_int_equal(w.r->blast[0].rtt_delta_ns, 0);
	world_free(&w);

	/* Asked 300 ms, got 50: an effect, not the one asked. */
	delay_world(&w, "300ms");
	c = check_of(&w, 0);
	assert_int_equal(c->verdict, FL_WIRE_VERDICT_OUTSIDE);
	world_free(&w);

	/* Asked 55 ms: 50 is within 10%. */
	delay_world(&w, "55ms");
	assert_int_equal(check_of(&w, 0)->verdict, FL_WIRE_VERDICT_OK);
	world_free(&w);
}

/* A delay on a port nobody uses (the planted mistake): its targets saw nothing. */
static void test_wrong_port_no_effect(void **state)
{
	struct world w;
	const struct fl_wire_fault_check *c;

	world_new(&w, "version: 1\n"
		      "name: wrong\n"
		      "services:\n"
		      "  api: { endpoints: [\"10.0.0.2:8080\"] }\n"
		      "timeline:\n"
		      "  - { at: 1s, id: api-slow, fault: delay, services: [api], delay: 50ms }\n"
		      "  - { at: 2s, heal: [api-slow] }\n"
		      "  - { at: 3s, end: true }\n");
	event(&w, FL_PHASE_START, 0, T0);
	event(&w, FL_PHASE_STEP_APPLIED, 0, T0 + SEC);
	event(&w, FL_PHASE_STEP_APPLIED, 1, T0 + 2 * SEC);
	feed(&w, "delay.pcap");
	c = check_of(&w, 0);
	assert_int_equal(c->verdict, FL_WIRE_VERDICT_NO_EFFECT);
	assert_contains(c->evidence, "no traffic");
	/* The real traffic (port 80) is everything else now, and it did slow down. */
	assert_int_equal(w.r->n_blast, 1);
	assert_true(w.r->blast[0].touched);
	assert_contains(w.r->blast[0].why, "RTT");
	world_free(&w);
}

/* ---- retrans.pcap: retransmissions, out of order, Karn, loss ----------------------------- */

static void test_retransmissions(void **state)
{
	struct world w;
	const struct fl_wire_stats *b, *d, *o;
	const struct fl_wire_fault_check *c;

	world_new(&w, "version: 1\n"
		      "name: loss\n"
		      "services:\n"
		      "  api: { endpoints: [\"10.0.0.2:80\"] }\n"
		      "timeline:\n"
		      "  - { at: 1s, id: api-lossy, fault: loss, services: [api], loss: 20% }\n"
		      "  - { at: 5s, end: true }\n");
	event(&w, FL_PHASE_START, 0, T0);
	event(&w, FL_PHASE_STEP_APPLIED, 0, T0 + SEC);
	feed(&w, "retrans.pcap");

	b = st(&w, 0, 0);
	assert_u64_equal(b->syn, 1);
	assert_u64_equal(b->handshake_rtt.n, 1);
	assert_u64_equal(b->handshake_rtt.p50_ns, 1 * MS);
	assert_u64_equal(b->dir[FL_WIRE_TO_SERVICE].segments, 11);
	assert_u64_equal(b->dir[FL_WIRE_TO_SERVICE].retrans, 0);
	assert_u64_equal(b->dir[FL_WIRE_FROM_SERVICE].segments, 1);

	o = st(&w, 0, 1);
	assert_u64_equal(o->dir[FL_WIRE_TO_SERVICE].segments, 22);
	assert_u64_equal(o->dir[FL_WIRE_TO_SERVICE].retrans, 1);
	assert_u64_equal(o->dir[FL_WIRE_TO_SERVICE].out_of_order, 0);

	d = st(&w, 1, 0);
	assert_u64_equal(d->syn, 2);
	assert_u64_equal(d->syn_retrans, 1);
	assert_u64_equal(d->connections, 1);
	assert_u64_equal(d->handshakes, 1);
	assert_u64_equal(d->handshake_rtt.n, 0); /* Karn: the SYN was sent twice */
	assert_u64_equal(d->dir[FL_WIRE_TO_SERVICE].segments, 15);
	assert_u64_equal(d->dir[FL_WIRE_TO_SERVICE].retrans, 4);
	assert_u64_equal(d->dir[FL_WIRE_TO_SERVICE].out_of_order, 1);

	c = check_of(&w, 0);
	assert_str(c->metric, "loss_ppb");
	assert_int_equal(c->asked, 200000000);
	assert_int_equal(c->measured, 333333333); /* (4 + 1) / 15 */
	assert_int_equal(c->baseline, 0);
	assert_int_equal(c->samples, 15);
	assert_int_equal(c->verdict, FL_WIRE_VERDICT_OK);
	world_free(&w);
}

/* ---- reject.pcap: RST and ICMP unreachable ------------------------------------------------ */

static void test_reject(void **state)
{
	struct world w;
	const struct fl_wire_stats *api, *dns, *dns0;
	const struct fl_wire_fault_check *c;

	world_new(&w, "version: 1\n"
		      "name: reject\n"
		      "services:\n"
		      "  api: { endpoints: [\"10.0.0.2:80\", \"[fd00::2]:80\"] }\n"
		      "  dns: { endpoints: [\"udp:10.0.0.3:53\"] }\n"
		      "timeline:\n"
		      "  - { at: 1s, id: api-refuse, fault: reject, services: [api, dns] }\n"
		      "  - { at: 3s, end: true }\n");
	event(&w, FL_PHASE_START, 0, T0);
	event(&w, FL_PHASE_STEP_APPLIED, 0, T0 + SEC);
	event(&w, FL_PHASE_STEP_APPLIED, 1, T0 + 3 * SEC);
	feed(&w, "reject.pcap");

	dns0 = st(&w, 0, 1);
	assert_u64_equal(dns0->udp_requests, 3);
	assert_u64_equal(dns0->udp_answered, 3);
	assert_u64_equal(dns0->udp_gap.n, 3);
	assert_u64_equal(dns0->udp_gap.min_ns, 2 * MS);
	assert_u64_equal(dns0->udp_gap.max_ns, 4 * MS);
	assert_u64_equal(st(&w, 0, 0)->handshakes, 3);
	assert_u64_equal(st(&w, 0, 0)->answers, 2);
	assert_u64_equal(dns0->answers, 2);
	/* Same-socket requests: the late answer pairs with the last request, not the stale ones. */
	assert_u64_equal(st(&w, 0, 2)->udp_requests, 5);
	assert_u64_equal(st(&w, 0, 2)->udp_answered, 2);
	assert_u64_equal(st(&w, 0, 2)->udp_gap.min_ns, 1 * MS);
	assert_u64_equal(st(&w, 0, 2)->udp_gap.max_ns, 2 * MS);

	api = st(&w, 1, 0);
	assert_u64_equal(api->connections, 4);
	assert_u64_equal(api->dir[FL_WIRE_FROM_SERVICE].rst, 4);
	assert_u64_equal(api->dir[FL_WIRE_TO_SERVICE].rst, 0);
	assert_u64_equal(api->icmp_unreach, 1); /* the v6 port unreachable; not "frag needed" */
	assert_u64_equal(api->handshakes, 0);
	assert_u64_equal(api->udp_requests, 1);
	/* Answers in flight when the reject began belong to no phase: not "answered while refused". */
	assert_u64_equal(api->synack, 1);
	assert_u64_equal(api->answers, 0);
	dns = st(&w, 1, 1);
	assert_u64_equal(dns->udp_requests, 2);
	assert_u64_equal(dns->udp_answered, 0);
	assert_u64_equal(dns->icmp_unreach, 2);
	assert_u64_equal(dns->answers, 0);
	assert_u64_equal(st(&w, 1, 2)->icmp_unreach, 0); /* everything else */
	assert_u64_equal(st(&w, 1, 2)->dir[FL_WIRE_TO_SERVICE].packets, 1);

	c = check_of(&w, 0);
	assert_str(c->metric, "rejects");
	assert_int_equal(c->measured, 7);
	assert_int_equal(c->baseline, 0);
	assert_int_equal(c->verdict, FL_WIRE_VERDICT_OK);
	world_free(&w);
}

/* ---- storm.pcap: retry ratios, a blackhole, and untargeted traffic touched ---------------- */

static const char storm_yaml[] = "version: 1\n"
				 "name: storm\n"
				 "services:\n"
				 "  api: { endpoints: [\"10.0.0.2:PORT\"] }\n"
				 "  dns: { endpoints: [\"udp:10.0.0.3:53\"] }\n"
				 "timeline:\n"
				 "  - { at: 2s, id: api-down, fault: blackhole, services: [api] }\n"
				 "  - { at: 4s, heal: [api-down] }\n"
				 "  - { at: 5s, end: true }\n";

/* The storm scenario's observer with its timeline's phases, fed nothing yet. */
static void storm_phases(struct world *w, const char *port)
{
	char buf[sizeof(storm_yaml) + 8];
	const char *at = strstr(storm_yaml, "PORT");

	snprintf(buf, sizeof(buf), "%.*s%s%s", (int)(at - storm_yaml), storm_yaml, port, at + 4);
	world_new(w, buf);
	event(w, FL_PHASE_START, 0, T0);
	event(w, FL_PHASE_STEP_APPLIED, 0, T0 + 2 * SEC);
	event(w, FL_PHASE_STEP_APPLIED, 1, T0 + 4 * SEC);
	event(w, FL_PHASE_STEP_APPLIED, 2, T0 + 5 * SEC);
}

static void storm_world(struct world *w, const char *port, const char *fixture)
{
	storm_phases(w, port);
	feed(w, fixture);
}

static void test_retry_storm(void **state)
{
	struct world w;
	uint64_t ratio = 0;
	size_t svc = 99;

	storm_world(&w, "80", "storm.pcap");
	assert_u64_equal(w.r->n_attempts[0], 110);
	assert_u64_equal(st(&w, 1, 0)->syn, 90);
	assert_u64_equal(st(&w, 1, 0)->syn_retrans, 10);
	assert_u64_equal(st(&w, 1, 0)->connections, 80);

	assert_int_equal(fl_wire_retry_ratio_fault(w.r, 0, NULL, &ratio, &svc), 0);
	assert_u64_equal(ratio, 4000);
	assert_int_equal(svc, 0);
	assert_int_equal(fl_wire_retry_ratio(w.r, 0, NULL, T0 + 2 * SEC, T0 + 3 * SEC, T0,
					     T0 + 2 * SEC, &ratio),
			 0);
	assert_u64_equal(ratio, 4000);
	assert_int_equal(fl_wire_retry_ratio(w.r, 0, NULL, T0 + 4 * SEC, T0 + 5 * SEC, T0,
					     T0 + 2 * SEC, &ratio),
			 0);
	assert_u64_equal(ratio, 1000);
	/* Half a second of 40/s against 10/s: still 4. */
	assert_int_equal(fl_wire_retry_ratio(w.r, 0, NULL, T0 + 2500 * MS, T0 + 3 * SEC, T0,
					     T0 + 2 * SEC, &ratio),
			 0);
	assert_u64_equal(ratio, 4000);
	/* dns never had an attempt: no baseline rate; bad windows. */
	ratio = 7;
	assert_int_equal(fl_wire_retry_ratio(w.r, 1, NULL, T0 + 2 * SEC, T0 + 4 * SEC, T0,
					     T0 + 2 * SEC, &ratio),
			 -ENODATA);
	assert_u64_equal(ratio, 7);
	assert_int_equal(fl_wire_retry_ratio(w.r, 0, NULL, T0, T0, T0, T0 + SEC, &ratio), -EINVAL);
	assert_int_equal(fl_wire_retry_ratio(w.r, 5, NULL, T0, T0 + 1, T0, T0 + SEC, &ratio),
			 -EINVAL);
	assert_int_equal(fl_wire_retry_ratio_fault(w.r, 1, NULL, &ratio, NULL), -EINVAL);

	/* The blackhole: 80 attempts, none answered. */
	assert_int_equal(check_of(&w, 0)->verdict, FL_WIRE_VERDICT_OK);
	assert_str(check_of(&w, 0)->metric, "answered");
	assert_int_equal(check_of(&w, 0)->samples, 80);
	world_free(&w);
}

/*
 * router.pcap: a router captured on both its devices. Each packet counts
 * once, on the client's side; the retry ratio tells the stormy client from
 * the calm one.
 */
static void assert_router_report(struct world *w)
{
	struct fl_wire_endpoint calm = {.family = AF_INET}, storm = {.family = AF_INET},
				stranger = {.family = AF_INET};
	const struct fl_wire_stats *s0;
	uint64_t ratio = 0;
	size_t svc = 99;

	inet_pton(AF_INET, "10.0.1.1", &calm.addr.v4);
	inet_pton(AF_INET, "10.0.1.2", &storm.addr.v4);
	inet_pton(AF_INET, "10.0.1.3", &stranger.addr.v4);

	s0 = st(w, 0, 0);
	assert_u64_equal(s0->connections, 20);
	assert_u64_equal(s0->handshakes, 20);
	assert_u64_equal(s0->synack, 20);
	assert_u64_equal(s0->dir[FL_WIRE_TO_SERVICE].packets, 41);
	assert_u64_equal(s0->dir[FL_WIRE_FROM_SERVICE].packets, 22);
	/* The client's view: SYN in on one side, SYN-ACK out on the same side. */
	assert_u64_equal(s0->handshake_rtt.n, 20);
	assert_u64_equal(s0->handshake_rtt.min_ns, 1010000);
	assert_u64_equal(s0->handshake_rtt.max_ns, 1010000);
	assert_u64_equal(s0->answers, 20 + 1);
	assert_u64_equal(w->r->copies, 64);
	assert_u64_equal(w->r->n_attempts[0], 71);
	assert_int_equal(w->r->n_clients, 2);

	assert_int_equal(fl_wire_retry_ratio_fault(w->r, 0, NULL, &ratio, &svc), 0);
	assert_u64_equal(ratio, 2550);
	assert_int_equal(fl_wire_retry_ratio_fault(w->r, 0, &calm, &ratio, &svc), 0);
	assert_u64_equal(ratio, 1100);
	assert_int_equal(svc, 0);
	assert_int_equal(fl_wire_retry_ratio_fault(w->r, 0, &storm, &ratio, &svc), 0);
	assert_u64_equal(ratio, 4000);
	assert_int_equal(fl_wire_retry_ratio(w->r, 0, &storm, T0 + 2 * SEC, T0 + 4 * SEC, T0,
					     T0 + 2 * SEC, &ratio),
			 0);
	assert_u64_equal(ratio, 4000);
	ratio = 7;
	assert_int_equal(fl_wire_retry_ratio_fault(w->r, 0, &stranger, &ratio, NULL), -ENODATA);
	assert_u64_equal(ratio, 7);

	/*
	 * The blackhole, seen from the client's side: 51 attempts, none answered
	 * while it was active; the SYN resent and answered after the heal is a
	 * handshake of the fault's phase, an answer of neither.
	 */
	assert_u64_equal(st(w, 1, 0)->handshakes, 1);
	assert_u64_equal(st(w, 1, 0)->answers, 0);
	assert_u64_equal(st(w, 2, 0)->synack, 1);
	assert_u64_equal(st(w, 2, 0)->answers, 0);
	assert_str(check_of(w, 0)->metric, "answered");
	assert_int_equal(check_of(w, 0)->samples, 51);
	/* A client resetting its own connection to an untargeted host: not a refusal. */
	assert_u64_equal(st(w, 1, 2)->dir[FL_WIRE_TO_SERVICE].rst, 1);
	assert_int_equal(w->r->n_blast, 1);
	assert_u64_equal(w->r->blast[0].rejects, 0);
	assert_false(w->r->blast[0].touched);
	assert_int_equal(check_of(w, 0)->verdict, FL_WIRE_VERDICT_OK);
}

static void test_router_two_devices(void **state)
{
	struct world w;

	storm_world(&w, "80", "router.pcap");
	assert_router_report(&w);
	world_free(&w);
}

/*
 * The same router as two captures, one per device, merged by fl_observer_run
 * in time order: the client-side file starts first but the api side's
 * packets fall between its own. Each packet must find the phase and the
 * connection state it would in one capture, so the report is the same.
 */
static void test_router_merged_captures(void **state)
{
	char src[512], tmpl[] = "/tmp/fl-merge-XXXXXX", path[2][600];
	const uint32_t ifindex[2] = {3, 2}; /* the api side first: read before the client's */
	struct fl_capture *caps[2] = {NULL, NULL};
	char eb[PCAP_ERRBUF_SIZE];
	enum fl_observer_stop why = FL_OBS_STOP_NONE;
	pcap_dumper_t *d[2];
	struct pcap_pkthdr *hdr;
	const u_char *bytes;
	size_t n[2] = {0, 0};
	struct world w;
	pcap_t *in;

	snprintf(src, sizeof(src), "%s/router.pcap", fixtures);
	assert_non_null(mkdtemp(tmpl));
	in = pcap_open_offline_with_tstamp_precision(src, PCAP_TSTAMP_PRECISION_NANO, eb);
	assert_non_null(in);
	assert_int_equal(pcap_datalink(in), DLT_LINUX_SLL2);
	for (int k = 0; k < 2; k++) {
		snprintf(path[k], sizeof(path[k]), "%s/if%u.pcap", tmpl, ifindex[k]);
		d[k] = pcap_dump_open(in, path[k]);
		assert_non_null(d[k]);
	}
	while (pcap_next_ex(in, &hdr, &bytes) == 1) {
		/* SLL2: protocol (2), reserved (2), interface index (4, big-endian), ... */
		uint32_t ifi = (uint32_t)bytes[4] << 24 | (uint32_t)bytes[5] << 16 |
			       (uint32_t)bytes[6] << 8 | bytes[7];
		int k = ifi == ifindex[0] ? 0 : 1;

		assert_true(ifi == ifindex[0] || ifi == ifindex[1]);
		pcap_dump((u_char *)d[k], hdr, bytes);
		n[k]++;
	}
	pcap_close(in);
	for (int k = 0; k < 2; k++)
		pcap_dump_close(d[k]);
	assert_true(n[0] > 0 && n[1] > 0);

	storm_phases(&w, "80");
	for (int k = 0; k < 2; k++)
		assert_int_equal(fl_capture_open_offline(path[k], NULL, eb, &caps[k]), 0);
	/* A deadline already past: the loop stops at once and reads both files to the end. */
	assert_int_equal(fl_observer_run(w.o, caps, 2, -1, -1, 0, &why), 0);
	assert_int_equal(why, FL_OBS_STOP_DEADLINE);
	assert_int_equal(fl_observer_report(w.o, &w.r), 0);
	assert_int_equal(w.r->n_captures, 2);
	assert_str(w.r->captures[0].dev, "if3.pcap");
	assert_router_report(&w);

	for (int k = 0; k < 2; k++) {
		fl_capture_close(caps[k]);
		assert_int_equal(unlink(path[k]), 0);
	}
	assert_int_equal(rmdir(tmpl), 0);
	world_free(&w);
}

/* The blackhole aimed at the wrong port; what it "did" shows on untargeted traffic. */
static void test_untargeted_touched(void **state)
{
	struct world w;

	storm_world(&w, "8080", "storm.pcap");
	assert_int_equal(check_of(&w, 0)->verdict, FL_WIRE_VERDICT_NO_EFFECT);
	assert_int_equal(w.r->n_blast, 1);
	assert_u64_equal(w.r->blast[0].segments, 90);
	assert_u64_equal(w.r->blast[0].retrans, 10);
	assert_u64_equal(w.r->blast[0].baseline_segments, 20);
	assert_true(w.r->blast[0].touched);
	world_free(&w);
}

/* ---- phases, clock, JSON, errors ------------------------------------------------------------ */

/* A packet lands in the phase of its own time, even if fed before the event that began it. */
static void test_phase_by_timestamp(void **state)
{
	struct world w;
	char path[512];

	world_new(&w, "version: 1\n"
		      "name: late\n"
		      "services:\n"
		      "  api: { endpoints: [\"10.0.0.2:80\"] }\n"
		      "timeline:\n"
		      "  - { at: 1s, id: api-slow, fault: delay, services: [api], delay: 50ms }\n"
		      "  - { at: 3s, end: true }\n");
	snprintf(path, sizeof(path), "%s/delay.pcap", fixtures);
	/* Everything fed before any event: all in phase 0. */
	assert_int_equal(fl_observer_feed_file(w.o, path, NULL), 0);
	assert_int_equal(fl_observer_report(w.o, &w.r), 0);
	assert_int_equal(w.r->n_phases, 1);
	assert_u64_equal(st(&w, 0, 0)->handshakes, 8);
	assert_int_equal(check_of(&w, 0)->verdict, FL_WIRE_VERDICT_UNMEASURED);
	world_free(&w);
}

/* The clock pair: a packet's realtime maps to monotonic through it. */
static void test_clock_offset(void **state)
{
	struct world w;

	delay_world(&w, "50ms");
	fl_wire_report_free(w.r);
	w.r = NULL;
	fl_observer_free(w.o);
	assert_int_equal(fl_observer_new(w.p, NULL, &w.o), 0);
	/* Monotonic runs 500 s behind realtime: the fault at mono T0-500s+1s. */
	fl_observer_set_clock(w.o, T0, T0 - 500 * SEC);
	event(&w, FL_PHASE_START, 0, T0 - 500 * SEC);
	event(&w, FL_PHASE_STEP_APPLIED, 0, T0 - 500 * SEC + SEC);
	event(&w, FL_PHASE_STEP_APPLIED, 1, T0 - 500 * SEC + 2 * SEC);
	feed(&w, "delay.pcap");
	assert_u64_equal(st(&w, 1, 0)->handshake_rtt.p50_ns, 52 * MS);
	assert_u64_equal(w.r->first_ns, T0 - 500 * SEC + 50 * MS);
	assert_int_equal(w.r->clock_offset_ns, 500 * (int64_t)SEC);
	world_free(&w);
}

static void test_json(void **state)
{
	struct world w;
	_cleanup_free_ char *j = NULL;

	delay_world(&w, "50ms");
	j = fl_wire_report_json(w.r);
	assert_non_null(j);
	assert_contains(j, "\"version\":1");
	assert_contains(j, "\"services\":[\"api\"]");
	assert_contains(j, "\"active\":[\"api-slow\"]");
	assert_contains(j, "\"step\":\"api-slow\",\"kind\":\"delay\",\"metric\":\"handshake_rtt_"
			   "delta_ns\",\"asked\":50000000,\"measured\":50000000");
	assert_contains(j, "\"verdict\":\"ok\"");
	assert_contains(j, "\"handshake_rtt\":{\"n\":4,\"min_ns\":1000000,\"p50_ns\":2000000");
	assert_contains(j, "\"untargeted_touched\":false");
	assert_contains(j, "\"first_packet_ns\":50000000");
	/* 4 connections over phase 0's one second, fixed point whatever the locale. */
	assert_contains(j, "\"attempts_per_s\":4.000,");
	world_free(&w);
}

static void test_errors(void **state)
{
	struct world w;
	char path[512];

	world_new(&w, "version: 1\nname: e\nservices:\n  api: { endpoints: [\"10.0.0.2:80\"] }\n"
		      "timeline:\n  - { at: 1s, end: true }\n");
	assert_int_equal(fl_observer_feed_file(w.o, "/nonexistent/x.pcap", NULL), -ENOENT);
	snprintf(path, sizeof(path), "%s/../gen-fixtures.py", fixtures);
	assert_int_equal(fl_observer_feed_file(w.o, path, NULL), -EINVAL);
	snprintf(path, sizeof(path), "%s/delay.pcap", fixtures);
	assert_int_equal(fl_observer_feed_file(w.o, path, "tcp port"), -EINVAL);
	/* The same answers from a file opened as a capture; nothing returned on failure. */
	{
		struct fl_capture *c = NULL;
		char eb[PCAP_ERRBUF_SIZE] = "";

		assert_int_equal(fl_capture_open_offline("/nonexistent/x.pcap", NULL, eb, &c), -ENOENT);
		assert_true(eb[0] != '\0');
		assert_int_equal(fl_capture_open_offline(path, "tcp port", eb, &c), -EINVAL);
		assert_null(c);
		assert_int_equal(fl_capture_open_offline(path, "ip6", eb, &c), 0);
		assert_non_null(c);
		fl_capture_close(c);
		fl_capture_close(NULL);
	}
	snprintf(path, sizeof(path), "%s/../gen-fixtures.py", fixtures);
	{
		struct fl_capture *c = NULL;

		assert_int_equal(fl_capture_open_offline(path, NULL, NULL, &c), -EINVAL);
		assert_null(c);
	}
	snprintf(path, sizeof(path), "%s/delay.pcap", fixtures);
	/* A filter: only the v6 packets. */
	assert_int_equal(fl_observer_feed_file(w.o, path, "ip6"), 0);
	assert_int_equal(fl_observer_report(w.o, &w.r), 0);
	assert_u64_equal(w.r->packets, 2 * 8); /* two v6 connections of 8 packets */
	assert_u64_equal(st(&w, 0, 1)->handshakes, 2);
	/* Not IP: counted and skipped. */
	{
		const u_char arp[42] = {[12] = 0x08, [13] = 0x06};
		struct pcap_pkthdr h = {.caplen = 42, .len = 42};

		assert_int_equal(fl_observer_feed(w.o, &h, arp, DLT_EN10MB), 0);
		assert_int_equal(fl_observer_feed(w.o, &h, arp, DLT_NULL), 0);
	}
	fl_wire_report_free(w.r);
	assert_int_equal(fl_observer_report(w.o, &w.r), 0);
	assert_u64_equal(w.r->ignored, 2);
	/* Destructors take NULL. */
	fl_observer_free(NULL);
	fl_wire_report_free(NULL);
	fl_capture_close(NULL);
	world_free(&w);
}

/*
 * Every allocation of the observer's life failed in turn: each call either
 * succeeds or returns -ENOMEM leaving its out-parameter alone, and nothing
 * leaks (the valgrind run checks that).
 */
static void test_out_of_memory(void **state)
{
	static char opaque; /* struct fl_observer is opaque: any address will do as a sentinel */
	struct fl_observer *const sentinel_o = (struct fl_observer *)(void *)&opaque;
	static struct fl_wire_report sentinel_r;
	struct world w;
	char path[512];
	long n;

	world_new(&w, "version: 1\n"
		      "name: oom\n"
		      "services:\n"
		      "  api: { endpoints: [\"10.0.0.2:80\", \"[fd00::2]:80\"] }\n"
		      "  dns: { endpoints: [\"udp:10.0.0.3:53\"] }\n"
		      "timeline:\n"
		      "  - { at: 1s, id: api-refuse, fault: reject, services: [api, dns] }\n"
		      "  - { at: 3s, end: true }\n");
	snprintf(path, sizeof(path), "%s/reject.pcap", fixtures);
	for (n = 0;; n++) {
		const struct fl_phase_event ev[] = {
			{FL_PHASE_START, 0, T0},
			{FL_PHASE_STEP_APPLIED, 0, T0 + SEC},
			{FL_PHASE_STEP_APPLIED, 1, T0 + 3 * SEC},
		};
		struct fl_observer *o = sentinel_o;
		struct fl_wire_report *r = &sentinel_r;
		char *j = NULL;
		bool failed;
		int k;

		fl_alloc_fail_at(n);
		k = fl_observer_new(w.p, NULL, &o);
		if (k == 0) {
			fl_observer_set_clock(o, T0, T0);
			for (size_t i = 0; k == 0 && i < ELEMENTSOF(ev); i++)
				k = fl_observer_phase_event(o, &ev[i]);
			if (k == 0)
				k = fl_observer_feed_file(o, path, NULL);
			if (k == 0) {
				k = fl_observer_report(o, &r);
				if (k == 0) {
					j = fl_wire_report_json(r);
					if (!j)
						k = -ENOMEM;
				} else {
					assert_ptr_equal(r, &sentinel_r);
				}
			}
		} else {
			assert_ptr_equal(o, sentinel_o);
		}
		failed = fl_alloc_failed();
		fl_alloc_fail_at(-1);
		if (k != 0)
			assert_int_equal(k, -ENOMEM);
		free(j);
		if (r != &sentinel_r)
			fl_wire_report_free(r);
		if (o != sentinel_o)
			fl_observer_free(o);
		if (!failed) {
			/* n is past the last allocation: everything succeeded. */
			assert_int_equal(k, 0);
			break;
		}
	}
	assert_true(n > 20);
	world_free(&w);
}

static uint64_t mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * SEC + (uint64_t)ts.tv_nsec;
}

/*
 * The run loop without captures (no root): it stops at END + grace, at the
 * phase pipe's hang-up + grace, at its deadline, and on stop_fd; a blocking
 * phase pipe is made non-blocking rather than blocking the loop.
 */
static void test_run_loop(void **state)
{
	const struct fl_observer_options opts = {.grace_ns = 50 * MS};
	struct world w;
	enum fl_observer_stop why = FL_OBS_STOP_NONE;
	int ph[2], st[2];
	uint64_t t;

	delay_world(&w, "50ms"); /* for its plan */
	fl_observer_free(w.o);

	/* END, then grace. */
	assert_int_equal(fl_observer_new(w.p, &opts, &w.o), 0);
	assert_int_equal(pipe(ph), 0);
	t = mono();
	assert_int_equal(fl_phase_send(ph[1], FL_PHASE_START, 0, t), 0);
	assert_int_equal(fl_phase_send(ph[1], FL_PHASE_STEP_APPLIED, 0, t), 0);
	assert_int_equal(fl_phase_send(ph[1], FL_PHASE_END, 0, t), 0);
	assert_int_equal(fl_observer_run(w.o, NULL, 0, ph[0], -1, t + 10 * SEC, &why), 0);
	assert_int_equal(why, FL_OBS_STOP_END);
	assert_true(mono() - t >= 50 * MS);
	assert_true(mono() - t < 2 * SEC);
	assert_u64_equal(fl_observer_phases(w.o)->end_ns, t);
	assert_true(fcntl(ph[0], F_GETFL) & O_NONBLOCK);
	close(ph[0]);
	close(ph[1]);
	fl_observer_free(w.o);

	/* The runner goes away without END: its hang-up, then grace. */
	assert_int_equal(fl_observer_new(w.p, &opts, &w.o), 0);
	assert_int_equal(pipe(ph), 0);
	t = mono();
	assert_int_equal(fl_phase_send(ph[1], FL_PHASE_START, 0, t), 0);
	close(ph[1]);
	assert_int_equal(fl_observer_run(w.o, NULL, 0, ph[0], -1, t + 10 * SEC, &why), 0);
	assert_int_equal(why, FL_OBS_STOP_END);
	assert_true(mono() - t >= 50 * MS);
	assert_true(mono() - t < 2 * SEC);
	close(ph[0]);

	/* Its own deadline. */
	t = mono();
	assert_int_equal(fl_observer_run(w.o, NULL, 0, -1, -1, t + 50 * MS, &why), 0);
	assert_int_equal(why, FL_OBS_STOP_DEADLINE);
	assert_true(mono() - t >= 50 * MS);
	assert_true(mono() - t < 2 * SEC);

	/* stop_fd, at once. */
	assert_int_equal(pipe(st), 0);
	assert_int_equal(write(st[1], "x", 1), 1);
	t = mono();
	assert_int_equal(fl_observer_run(w.o, NULL, 0, -1, st[0], FL_NEVER, &why), 0);
	assert_int_equal(why, FL_OBS_STOP_FD);
	assert_true(mono() - t < 2 * SEC);
	close(st[0]);
	close(st[1]);
	world_free(&w);
}

static int print_json(const char *dir)
{
	struct world w;
	char *j;

	fixtures = dir;
	delay_world(&w, "50ms");
	j = fl_wire_report_json(w.r);
	if (!j)
		return 1;
	fputs(j, stdout);
	free(j);
	world_free(&w);
	return 0;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_filter),
		cmocka_unit_test(test_delay_stats),
		cmocka_unit_test(test_delay_verdicts),
		cmocka_unit_test(test_wrong_port_no_effect),
		cmocka_unit_test(test_retransmissions),
		cmocka_unit_test(test_reject),
		cmocka_unit_test(test_retry_storm),
		cmocka_unit_test(test_router_two_devices),
		cmocka_unit_test(test_router_merged_captures),
		cmocka_unit_test(test_untargeted_touched),
		cmocka_unit_test(test_phase_by_timestamp),
		cmocka_unit_test(test_clock_offset),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_out_of_memory),
		cmocka_unit_test(test_run_loop),
	};

	if (argc > 2 && strcmp(argv[1], "--json") == 0)
		return print_json(argv[2]);
	if (argc > 1)
		fixtures = argv[1];
	return cmocka_run_group_tests_name("observe", tests, NULL, NULL);
}
