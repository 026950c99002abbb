/* SPDX-License-Identifier: MIT */
/*
 * The observer's verdicts on real faults (netns-util.h's two namespaces):
 * nftables rules in the server namespace stand in for the engine, applied
 * and removed on the timeline by the client process, which sends the phase
 * events the runner would. The capture is on the client's end (vc), opened
 * privileged, then every capability of the observer dropped.
 *
 *   phase 0  baseline: 5 rounds of (connect :80, UDP echo :7), 100 ms apart
 *   phase 1  api-refused (reject tcp 80 with a reset): 5 rounds, connects refused
 *   phase 2  healed
 *   phase 3  echo-dark (drop udp 7): 20 rounds 25 ms apart, echoes unanswered
 *            (a client retrying 4 times as fast: a retry storm of ~4x)
 *   phase 4  healed, END
 *
 * Checks: api-refused "ok" (RSTs, nothing answered), echo-dark "ok" (none of
 * its requests answered), the retry ratio of echo-dark about 4 (timing on a
 * shared machine: 2 to 8 is asserted), and the untargeted traffic of each
 * fault phase (echo, then api) not touched. Exit 77 without root or nft.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/socket.h>
#include <unistd.h>
#include "netns-util.h"
#include "observe/observe.h"
#include "scenario/parse.h"

static const char yaml[] = "version: 1\n"
			   "name: observe-faults\n"
			   "services:\n"
			   "  api: { endpoints: [\"tcp:10.251.0.2:80\"] }\n"
			   "  echo: { endpoints: [\"udp:10.251.0.2:7\"] }\n"
			   "timeline:\n"
			   "  - { at: 1s, id: api-refused, fault: reject, services: [api] }\n"
			   "  - { at: 2s, heal: [api-refused] }\n"
			   "  - { at: 3s, id: echo-dark, fault: blackhole, services: [echo] }\n"
			   "  - { at: 4s, heal: [echo-dark] }\n"
			   "  - { at: 5s, end: true }\n";

enum { API_REFUSED, HEAL_1, ECHO_DARK, HEAL_2, END };
enum { API, ECHO };

static struct ns_pair np;

static void udp_echo(int fd)
{
	if (ns_fork() != 0) {
		close(fd);
		return;
	}
	for (;;) {
		char buf[512];
		struct sockaddr_in from;
		socklen_t len = sizeof(from);
		ssize_t n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &len);

		if (n > 0)
			sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&from, len);
	}
}

static int connect_api(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(80)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), r;

	inet_pton(AF_INET, NS_SERVER, &sa.sin_addr);
	r = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 ? 0 : -errno;
	close(fd);
	return r;
}

/* One echo request; whether it was answered within wait_ms. */
static bool echo(int u, int wait_ms)
{
	struct pollfd p = {.fd = u, .events = POLLIN};
	char buf[16];

	if (send(u, "ping", 4, 0) != 4)
		_exit(10);
	return poll(&p, 1, wait_ms) == 1 && recv(u, buf, sizeof(buf), 0) == 4;
}

/* The client and the runner's part: traffic, faults, phase events. */
static _Noreturn void client(int go, int ph)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(7)};
	char c;
	int u;

	if (read(go, &c, 1) != 1 || setns(np.client, CLONE_NEWNET) < 0)
		_exit(2);
	inet_pton(AF_INET, NS_SERVER, &sa.sin_addr);
	u = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (u < 0 || connect(u, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		_exit(3);

	fl_phase_send(ph, FL_PHASE_START, 0, ns_now());
	for (int i = 0; i < 5; i++) {
		if (connect_api() != 0 || !echo(u, 1000))
			_exit(4);
		ns_sleep_ms(100);
	}

	/* The server's "fault": a table of ours in its namespace, as the engine's would be. */
	ns_must(np.server, (const char *const[]){"nft", "add", "table", "inet", "flobs", NULL});
	ns_must(np.server,
		(const char *const[]){"nft", "add", "chain", "inet", "flobs", "in", "{", "type",
				      "filter", "hook", "input", "priority", "0", ";", "}", NULL});
	ns_must(np.server,
		(const char *const[]){"nft", "add", "rule", "inet", "flobs", "in", "tcp", "dport",
				      "80", "reject", "with", "tcp", "reset", NULL});
	fl_phase_send(ph, FL_PHASE_STEP_APPLIED, API_REFUSED, ns_now());
	for (int i = 0; i < 5; i++) {
		if (connect_api() != -ECONNREFUSED || !echo(u, 1000))
			_exit(5);
		ns_sleep_ms(100);
	}
	ns_must(np.server,
		(const char *const[]){"nft", "flush", "chain", "inet", "flobs", "in", NULL});
	fl_phase_send(ph, FL_PHASE_STEP_APPLIED, HEAL_1, ns_now());

	ns_must(np.server, (const char *const[]){"nft", "add", "rule", "inet", "flobs", "in", "udp",
						 "dport", "7", "drop", NULL});
	fl_phase_send(ph, FL_PHASE_STEP_APPLIED, ECHO_DARK, ns_now());
	for (int i = 0; i < 20; i++) {
		if (connect_api() != 0 || echo(u, 20))
			_exit(6);
		ns_sleep_ms(5);
	}
	ns_must(np.server, (const char *const[]){"nft", "delete", "table", "inet", "flobs", NULL});
	fl_phase_send(ph, FL_PHASE_STEP_APPLIED, HEAL_2, ns_now());
	if (connect_api() != 0 || !echo(u, 1000))
		_exit(7);
	ns_sleep_ms(50);
	fl_phase_send(ph, FL_PHASE_STEP_APPLIED, END, ns_now());
	_exit(0);
}

int main(void)
{
	char *veth[] = {(char *)"vc"};
	struct fl_plan_options po = {.caps = {FL_CAP_ALL, "test"}, .devices = veth, .n_devices = 1};
	struct fl_scenario *s = NULL;
	struct fl_plan *p = NULL;
	struct fl_observer *o = NULL;
	struct fl_wire_report *r = NULL;
	struct fl_capture *cap = NULL;
	char errbuf[PCAP_ERRBUF_SIZE] = "", *filter = NULL;
	const struct fl_wire_fault_check *c;
	enum fl_observer_stop why;
	int go[2], ph[2], k;
	uint64_t ratio = 0;
	struct fl_diag d;
	pid_t pid;

	ns_init("observe/netns-faults", NULL);
	if (ns_run(-1, (const char *const[]){"nft", "--version", NULL}) != 0)
		ns_skip("no nft(8)");
	ns_pair(&np);
	k = ns_socket(&np, np.server, SOCK_STREAM, NS_SERVER, 80);
	check(listen(k, 64) == 0, "listen: %m");
	udp_echo(ns_socket(&np, np.server, SOCK_DGRAM, NS_SERVER, 7));

	fl_diag_init(&d, "faults.yaml");
	check(fl_scenario_parse("faults.yaml", yaml, strlen(yaml), NULL, &d, &s) == 0, "parse");
	check(fl_plan_build(s, &po, &d, &p) == 0, "plan");
	fl_diag_done(&d);
	check(fl_wire_filter(p, 0, &filter) == 0, "filter");
	check(fl_observer_new(p, &(struct fl_observer_options){.grace_ns = 200000000ULL}, &o) == 0,
	      "observer");

	check(pipe2(go, O_CLOEXEC) == 0 && pipe2(ph, O_CLOEXEC) == 0, "pipe: %m");
	pid = ns_fork();
	if (pid == 0) {
		close(go[1]);
		close(ph[0]);
		client(go[0], ph[1]);
	}
	close(go[0]);
	close(ph[1]);

	k = fl_capture_open("vc", np.client, 0, 0, filter, errbuf, &cap);
	check(k == 0, "fl_capture_open: %s: %s", strerror(-k), errbuf);
	{
		cap_t none = cap_init();

		check(none && cap_set_proc(none) == 0, "dropping capabilities: %m");
		cap_free(none);
	}
	check(write(go[1], "g", 1) == 1, "go: %m");
	k = fl_observer_run(o, &cap, 1, ph[0], -1, ns_now() + 30ULL * 1000000000ULL, &why);
	check(k == 0 && why == FL_OBS_STOP_END, "run: %d, stop %d", k, (int)why);
	k = ns_wait(pid);
	check(k == 0, "the client failed (%d)", k);
	check(fl_observer_report(o, &r) == 0, "report");
	check(r->n_phases == 5, "%zu phases", r->n_phases);
	check(r->captures[0].dropped == 0, "capture drops");

	c = &r->checks[0];
	check(c->step == API_REFUSED && c->verdict == FL_WIRE_VERDICT_OK, "api-refused: %s (%s)",
	      fl_wire_verdict_to_string(c->verdict), c->evidence);
	check(fl_wire_report_stats(r, 1, API)->dir[FL_WIRE_FROM_SERVICE].rst == 5 &&
		      fl_wire_report_stats(r, 1, API)->handshakes == 0,
	      "api-refused: 5 RSTs and no handshake expected");
	c = &r->checks[1];
	check(c->step == ECHO_DARK && c->verdict == FL_WIRE_VERDICT_OK, "echo-dark: %s (%s)",
	      fl_wire_verdict_to_string(c->verdict), c->evidence);
	check(fl_wire_report_stats(r, 3, ECHO)->udp_requests == 20 &&
		      fl_wire_report_stats(r, 3, ECHO)->udp_answered == 0,
	      "echo-dark: 20 requests, none answered expected");

	k = fl_wire_retry_ratio_fault(r, ECHO_DARK, NULL, &ratio, NULL);
	check(k == 0 && ratio > 2000 && ratio < 8000, "echo-dark retry ratio %llu.%03llu (%d)",
	      (unsigned long long)ratio / 1000, (unsigned long long)ratio % 1000, k);

	check(r->n_blast == 2, "%zu blast radius entries", r->n_blast);
	for (size_t i = 0; i < r->n_blast; i++)
		check(!r->blast[i].touched, "phase %u: untargeted traffic touched: %s",
		      r->blast[i].phase, r->blast[i].why);

	fprintf(stderr, "observe/netns-faults: ok (retry ratio %llu.%03llu)\n",
		(unsigned long long)ratio / 1000, (unsigned long long)ratio % 1000);
	fl_wire_report_free(r);
	fl_capture_close(cap);
	fl_observer_free(o);
	fl_plan_free(p);
	fl_scenario_free(s);
	free(filter);
	return 0;
}
