/* SPDX-License-Identifier: MIT */
/*
 * The observer on a real wire: two network namespaces joined by a veth
 * pair, a capture on the client's end opened the privileged way, then every
 * capability dropped, then real traffic whose counts are known:
 *
 *   client ns: vc 10.251.0.1/24  <---->  server ns: vs 10.251.0.2/24
 *                                         tcp 80 listening (never accepts: the
 *                                         kernel answers the handshake), udp 7 echo,
 *                                         tcp 81 closed (RST)
 *
 * phase 0: 10 connects to :80, 5 UDP echoes; phase 1 (fault step f applied):
 * 10 connects to :80, 5 to :81 (refused). The observer must count exactly
 * those SYNs, SYN-ACKs, RSTs and answered datagrams, drop nothing, stop at
 * END + grace, and stop on its own deadline and on stop_fd when nothing moves.
 *
 * Cleanup on every exit path: see netns-util.h; the --pcap files' scratch
 * directory is removed at exit, or by a detached reaper after a SIGKILL.
 * Exit 77 without root.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/socket.h>
#include <unistd.h>
#include "netns-util.h"
#include "observe/observe.h"
#include "scenario/parse.h"

#define N_OK	  10
#define N_REFUSED 5
#define N_UDP	  5
#define GRACE_NS  (200ULL * 1000000ULL)

static char dump_dir[] = "/tmp/fl-observe-XXXXXX";
static bool have_dump_dir;

static void remove_dumps(void)
{
	char path[sizeof(dump_dir) + 16];

	if (!have_dump_dir)
		return;
	for (int i = 0; i < 8; i++) {
		snprintf(path, sizeof(path), i ? "%s/w.pcap.%d" : "%s/w.pcap", dump_dir, i);
		unlink(path);
	}
	rmdir(dump_dir);
	have_dump_dir = false;
}

/*
 * The scratch directory must go even if the test is SIGKILLed, when no
 * atexit runs: a detached child waits for the test's end of a pipe to
 * close (that is, for the test and its children to be gone), then removes
 * it.
 */
static void start_reaper(void)
{
	int p[2];
	pid_t pid;

	check(pipe2(p, O_CLOEXEC) == 0, "pipe: %m");
	fflush(NULL);
	pid = fork();
	check(pid >= 0, "fork: %m");
	if (pid == 0) {
		char c;

		close(p[1]);
		setsid(); /* outside the test's process group: ctest's kill spares it */
		while (read(p[0], &c, 1) < 0 && errno == EINTR)
			;
		remove_dumps();
		_exit(0);
	}
	close(p[0]); /* p[1] stays open until the test ends */
}

static void udp_echo(int fd)
{
	pid_t pid = ns_fork();

	if (pid != 0) {
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

static int connect_to(const char *addr, uint16_t port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), r;

	inet_pton(AF_INET, addr, &sa.sin_addr);
	r = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 ? 0 : -errno;
	close(fd);
	return r;
}

/* The client's traffic, phases included: runs in the client namespace, waits for go. */
static _Noreturn void traffic(int go, int phase_w)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(7)};
	char c;
	int u;

	if (read(go, &c, 1) != 1)
		_exit(2);
	fl_phase_send(phase_w, FL_PHASE_START, 0, ns_now());
	for (int i = 0; i < N_OK; i++)
		if (connect_to(NS_SERVER, 80) < 0)
			_exit(3);
	inet_pton(AF_INET, NS_SERVER, &sa.sin_addr);
	u = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	for (int i = 0; i < N_UDP; i++) {
		char buf[16];
		struct pollfd p = {.fd = u, .events = POLLIN};

		if (sendto(u, "ping", 4, 0, (struct sockaddr *)&sa, sizeof(sa)) != 4)
			_exit(4);
		if (poll(&p, 1, 2000) != 1 || recv(u, buf, sizeof(buf), 0) != 4)
			_exit(5);
	}
	close(u);
	/* Let the closing FINs and their ACKs reach the wire before the phase changes. */
	ns_sleep_ms(50);
	fl_phase_send(phase_w, FL_PHASE_STEP_APPLIED, 0, ns_now());
	for (int i = 0; i < N_OK; i++)
		if (connect_to(NS_SERVER, 80) < 0)
			_exit(6);
	for (int i = 0; i < N_REFUSED; i++)
		if (connect_to(NS_SERVER, 81) != -ECONNREFUSED)
			_exit(7);
	ns_sleep_ms(50);
	fl_phase_send(phase_w, FL_PHASE_END, 0, ns_now());
	_exit(0);
}

/*
 * The --pcap files: rotated at 2 KiB, capped at 3, everything captured
 * either written or counted, and what was written reads back as a capture.
 */
static void dump_check(const struct fl_plan *p, const struct fl_wire_capture_stats *cs)
{
	struct fl_observer *o2 = NULL;
	struct fl_wire_report *r2 = NULL;
	char path[sizeof(dump_dir) + 16];

	check(cs->dump_packets + cs->dump_dropped == cs->received,
	      "dump: %llu written + %llu not != %llu captured",
	      (unsigned long long)cs->dump_packets, (unsigned long long)cs->dump_dropped,
	      (unsigned long long)cs->received);
	check(cs->dump_dropped > 0, "the 3 x 2 KiB cap never reached");
	check(fl_observer_new(p, NULL, &o2) == 0, "observer");
	for (int i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), i ? "%s/w.pcap.%d" : "%s/w.pcap", dump_dir, i);
		check(fl_observer_feed_file(o2, path, NULL) == 0, "reading %s back", path);
	}
	snprintf(path, sizeof(path), "%s/w.pcap.3", dump_dir);
	check(access(path, F_OK) < 0, "a 4th file despite the cap");
	check(fl_observer_report(o2, &r2) == 0, "report");
	check(r2->packets == cs->dump_packets, "read back %llu packets, wrote %llu",
	      (unsigned long long)r2->packets, (unsigned long long)cs->dump_packets);
	fl_wire_report_free(r2);
	fl_observer_free(o2);
}

static const char yaml[] = "version: 1\n"
			   "name: observe-netns\n"
			   "services:\n"
			   "  api: { endpoints: [\"tcp:10.251.0.2:80\"] }\n"
			   "  echo: { endpoints: [\"udp:10.251.0.2:7\"] }\n"
			   "  closed: { endpoints: [\"tcp:10.251.0.2:81\"] }\n"
			   "timeline:\n"
			   "  - { at: 1s, id: f, fault: reject, services: [closed] }\n"
			   "  - { at: 2s, end: true }\n";

enum { API, ECHO, CLOSED, OTHER };

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
	char dump_path[sizeof(dump_dir) + 16];
	struct ns_pair np;
	int go[2], phase[2], stop[2], k;
	pid_t tr;
	enum fl_observer_stop why;
	const struct fl_wire_stats *st;
	struct fl_diag d;
	uint64_t t, end_seen;

	ns_init("observe/netns", remove_dumps);
	ns_pair(&np);

	/* The server: a listener that never accepts (the kernel does the handshakes), an echo. */
	k = ns_socket(&np, np.server, SOCK_STREAM, NS_SERVER, 80);
	check(listen(k, 64) == 0, "listen: %m");
	udp_echo(ns_socket(&np, np.server, SOCK_DGRAM, NS_SERVER, 7));

	s = NULL;
	fl_diag_init(&d, "netns.yaml");
	check(fl_scenario_parse("netns.yaml", yaml, strlen(yaml), NULL, &d, &s) == 0, "parse");
	check(fl_plan_build(s, &po, &d, &p) == 0, "plan");
	fl_diag_done(&d);
	check(fl_wire_filter(p, 0, &filter) == 0, "filter");
	check(fl_observer_new(p, &(struct fl_observer_options){.grace_ns = GRACE_NS}, &o) == 0,
	      "observer");

	/* The client: forked now, while it may still enter the namespace; it waits for go. */
	check(pipe2(go, O_CLOEXEC) == 0 && pipe2(phase, O_CLOEXEC) == 0 &&
		      pipe2(stop, O_CLOEXEC) == 0,
	      "pipe: %m");
	tr = ns_fork();
	if (tr == 0) {
		close(go[1]);
		close(phase[0]);
		if (setns(np.client, CLONE_NEWNET) < 0)
			_exit(1);
		traffic(go[0], phase[1]);
	}
	close(go[0]);
	close(phase[1]);
	fcntl(phase[0], F_SETFL, O_NONBLOCK);

	/* Privileged: open inside the client namespace; then drop every capability. */
	k = fl_capture_open("vc", np.client, 0, 0, filter, errbuf, &cap);
	check(k == 0, "fl_capture_open: %s: %s", strerror(-k), errbuf);
	/* --pcap: 2 KiB files, at most 3 (w.pcap, w.pcap.1, w.pcap.2), the rest counted. */
	check(mkdtemp(dump_dir) != NULL, "mkdtemp: %m");
	have_dump_dir = true;
	start_reaper();
	snprintf(dump_path, sizeof(dump_path), "%s/w.pcap", dump_dir);
	check(fl_capture_dump(cap, dump_path, 2048, 3) == 0, "fl_capture_dump: %m");
	{
		cap_t none = cap_init();

		check(none && cap_set_proc(none) == 0, "dropping capabilities: %m");
		cap_free(none);
	}
	check(socket(AF_PACKET, SOCK_RAW, 0) < 0 && errno == EPERM,
	      "capabilities still there after the drop");

	check(write(go[1], "g", 1) == 1, "go: %m");
	t = ns_now();
	k = fl_observer_run(o, &cap, 1, phase[0], -1, t + 20ULL * 1000000000ULL, &why);
	end_seen = ns_now();
	check(k == 0, "fl_observer_run: %s", strerror(-k));
	check(why == FL_OBS_STOP_END, "stopped for %d, not END", (int)why);
	k = ns_wait(tr);
	check(k == 0, "traffic failed (%d)", k);
	check(fl_observer_report(o, &r) == 0, "report");
	/* END + grace, give or take a tick (wide margin: a loaded 2-core machine). */
	check(end_seen >= r->end_ns + GRACE_NS && end_seen < r->end_ns + GRACE_NS + 500000000ULL,
	      "stopped %lld ms after END (grace %llu ms)",
	      (long long)(end_seen - r->end_ns) / 1000000, GRACE_NS / 1000000);
	check(r->n_captures == 1 && r->captures[0].dropped == 0 && r->captures[0].if_dropped == 0,
	      "capture drops: %llu", (unsigned long long)r->captures[0].dropped);
	check(r->n_phases == 3, "%zu phases", r->n_phases);

	st = fl_wire_report_stats(r, 0, API);
	check(st->syn == N_OK && st->synack == N_OK && st->handshakes == N_OK &&
		      st->handshake_rtt.n == N_OK && st->syn_retrans == 0,
	      "phase 0 api: syn %llu synack %llu handshakes %llu rtt %llu",
	      (unsigned long long)st->syn, (unsigned long long)st->synack,
	      (unsigned long long)st->handshakes, (unsigned long long)st->handshake_rtt.n);
	check(st->dir[FL_WIRE_FROM_SERVICE].rst == 0, "phase 0 api: RSTs");
	st = fl_wire_report_stats(r, 0, ECHO);
	check(st->udp_requests == N_UDP && st->udp_answered == N_UDP && st->udp_gap.n == N_UDP,
	      "phase 0 echo: %llu requests, %llu answered", (unsigned long long)st->udp_requests,
	      (unsigned long long)st->udp_answered);
	st = fl_wire_report_stats(r, 1, API);
	check(st->syn == N_OK && st->synack == N_OK && st->handshakes == N_OK,
	      "phase 1 api: syn %llu synack %llu", (unsigned long long)st->syn,
	      (unsigned long long)st->synack);
	st = fl_wire_report_stats(r, 1, CLOSED);
	check(st->syn == N_REFUSED && st->synack == 0 &&
		      st->dir[FL_WIRE_FROM_SERVICE].rst == N_REFUSED &&
		      st->connections == N_REFUSED,
	      "phase 1 closed: syn %llu rst %llu", (unsigned long long)st->syn,
	      (unsigned long long)st->dir[FL_WIRE_FROM_SERVICE].rst);
	check(r->checks[0].verdict == FL_WIRE_VERDICT_OK, "the reject's verdict: %s (%s)",
	      fl_wire_verdict_to_string(r->checks[0].verdict), r->checks[0].evidence);
	dump_check(p, &r->captures[0]);
	fl_wire_report_free(r);
	r = NULL;

	/*
	 * Nothing moves and no phase channel: the loop ends on its own
	 * deadline. (A fresh observer: this one has seen END, and would stop
	 * at once.)
	 */
	fl_observer_free(o);
	check(fl_observer_new(p, NULL, &o) == 0, "observer");
	t = ns_now();
	k = fl_observer_run(o, &cap, 1, -1, -1, t + 300000000ULL, &why);
	check(k == 0 && why == FL_OBS_STOP_DEADLINE, "deadline run: %d %d", k, (int)why);
	t = ns_now() - t;
	check(t >= 300000000ULL && t < 1000000000ULL, "deadline run took %llu ms",
	      (unsigned long long)t / 1000000);

	/* ... and on stop_fd at once. */
	check(write(stop[1], "s", 1) == 1, "stop: %m");
	t = ns_now();
	k = fl_observer_run(o, &cap, 1, -1, stop[0], FL_NEVER, &why);
	t = ns_now() - t;
	check(k == 0 && why == FL_OBS_STOP_FD && t < 500000000ULL, "stop_fd run: %d %d, %llu ms", k,
	      (int)why, (unsigned long long)t / 1000000);

	fl_capture_close(cap);
	fl_observer_free(o);
	fl_plan_free(p);
	fl_scenario_free(s);
	free(filter);
	fprintf(stderr, "observe/netns: ok\n");
	return 0;
}
