/* SPDX-License-Identifier: MIT */
/*
 * The observer's cost (not a ctest: performance is measured, not asserted;
 * numbers in docs/OBSERVER.md):
 *
 *   bench-observe core [PACKETS]        the analysis core alone: synthetic TCP
 *                                       frames fed to fl_observer_feed() on one core
 *   bench-observe live [PPS] [SECONDS]  root: a paced UDP flood across a veth pair
 *                                       (netns-util.h), captured by fl_observer_run();
 *                                       sent vs captured vs dropped, observer CPU
 *
 * Keep runs short on shared machines: live defaults to 300,000 pps for 2 s.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "netns-util.h"
#include "observe/observe.h"
#include "scenario/parse.h"

static const char yaml[] = "version: 1\n"
			   "name: bench\n"
			   "services:\n"
			   "  api: { endpoints: [\"tcp:10.251.0.2:80\"] }\n"
			   "  sink: { endpoints: [\"udp:10.251.0.2:9\"] }\n"
			   "timeline:\n"
			   "  - { at: 1s, id: f, fault: delay, services: [api], delay: 10ms }\n"
			   "  - { at: 2s, end: true }\n";

static void setup(struct fl_scenario **s, struct fl_plan **p, struct fl_observer **o)
{
	char *dev[] = {(char *)"vc"};
	struct fl_plan_options po = {.caps = {FL_CAP_ALL, "bench"}, .devices = dev, .n_devices = 1};
	struct fl_diag d;

	fl_diag_init(&d, "bench.yaml");
	check(fl_scenario_parse("bench.yaml", yaml, strlen(yaml), NULL, &d, s) == 0, "parse");
	check(fl_plan_build(*s, &po, &d, p) == 0, "plan");
	fl_diag_done(&d);
	check(fl_observer_new(*p, NULL, o) == 0, "observer");
}

static uint64_t cpu_ns(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) * 1000000000ULL +
	       ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) * 1000ULL;
}

/* ---- core ---------------------------------------------------------------------------------- */

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

/* An Ethernet + IPv4 + TCP frame of 1,000 connections' data, as a 128-byte capture. */
static void frame(uint8_t *f, uint32_t conn, uint32_t seq, uint8_t flags, bool to_server)
{
	uint8_t *ip = f + 14, *tcp = ip + 20;
	uint8_t client[4] = {10, 251, (uint8_t)(conn >> 8), (uint8_t)conn};
	uint8_t server[4] = {10, 251, 0, 2};

	memset(f, 0, 128);
	put16(f + 12, 0x0800);
	ip[0] = 0x45;
	put16(ip + 2, 20 + 20 + 1000);
	ip[8] = 64;
	ip[9] = IPPROTO_TCP;
	memcpy(ip + 12, to_server ? client : server, 4);
	memcpy(ip + 16, to_server ? server : client, 4);
	put16(tcp, to_server ? (uint16_t)(40000 + conn % 1000) : 80);
	put16(tcp + 2, to_server ? 80 : (uint16_t)(40000 + conn % 1000));
	put32(tcp + 4, seq);
	tcp[12] = 5 << 4;
	tcp[13] = flags;
}

static int bench_core(uint64_t n)
{
	struct fl_scenario *s = NULL;
	struct fl_plan *p = NULL;
	struct fl_observer *o = NULL;
	struct fl_wire_report *r = NULL;
	uint8_t f[128];
	struct pcap_pkthdr h = {.caplen = 128, .len = 1054};
	uint64_t t, c, wall, cpu;

	setup(&s, &p, &o);
	fl_observer_set_clock(o, 0, 0);
	t = ns_now();
	c = cpu_ns();
	for (uint64_t i = 0; i < n; i++) {
		uint32_t conn = (uint32_t)(i % 1000);
		uint64_t ts = 1000000000ULL + i * 1000; /* 1 Mpps of packet time */

		h.ts.tv_sec = (time_t)(ts / 1000000000ULL);
		h.ts.tv_usec = (suseconds_t)(ts % 1000000000ULL);
		if (i < 1000)
			frame(f, conn, 1, 0x02, true); /* SYN */
		else if (i % 4 == 3)
			frame(f, conn, 1, 0x10, false); /* ACK back */
		else
			frame(f, conn, (uint32_t)(2 + (i / 1000) * 1000), 0x18, true);
		check(fl_observer_feed(o, &h, f, DLT_EN10MB) == 0, "feed");
	}
	wall = ns_now() - t;
	cpu = cpu_ns() - c;
	check(fl_observer_report(o, &r) == 0, "report");
	printf("core: %llu packets in %.3f s wall (%.0f kpps), %.0f ns of CPU per packet "
	       "(%.0f kpps per core), %llu to api\n",
	       (unsigned long long)n, (double)wall / 1e9, (double)n * 1e6 / (double)wall,
	       (double)cpu / (double)n, (double)n * 1e6 / (double)cpu,
	       (unsigned long long)fl_wire_report_stats(r, 0, 0)->dir[0].packets);
	fl_wire_report_free(r);
	fl_observer_free(o);
	fl_plan_free(p);
	fl_scenario_free(s);
	return 0;
}

/* ---- live ---------------------------------------------------------------------------------- */

#define BATCH 32
#define FLOWS 16

/* Paced sendmmsg from FLOWS sockets; the count sent goes to *sent (shared memory). */
static _Noreturn void flood(const struct ns_pair *np, uint64_t pps, uint64_t dur_ns,
			    volatile uint64_t *sent)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(9)};
	struct mmsghdr msgs[BATCH];
	struct iovec iov = {.iov_base = (char *)"faultline-observe", .iov_len = 18};
	int fds[FLOWS];
	uint64_t start, n = 0;

	if (setns(np->client, CLONE_NEWNET) < 0)
		_exit(1);
	inet_pton(AF_INET, NS_SERVER, &sa.sin_addr);
	for (int i = 0; i < FLOWS; i++) {
		fds[i] = socket(AF_INET, SOCK_DGRAM, 0);
		if (fds[i] < 0 || connect(fds[i], (struct sockaddr *)&sa, sizeof(sa)) < 0)
			_exit(2);
	}
	memset(msgs, 0, sizeof(msgs));
	for (int i = 0; i < BATCH; i++) {
		msgs[i].msg_hdr.msg_iov = &iov;
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	start = ns_now();
	for (;;) {
		uint64_t now = ns_now(), due;

		if (now - start >= dur_ns)
			break;
		due = (now - start) * pps / 1000000000ULL;
		if (n >= due) {
			struct timespec ts = {0, 20000};

			nanosleep(&ts, NULL);
			continue;
		}
		int k = sendmmsg(fds[n / BATCH % FLOWS], msgs, BATCH, 0);

		if (k > 0)
			n += (uint64_t)k;
	}
	*sent = n;
	_exit(0);
}

static int bench_live(uint64_t pps, uint64_t seconds)
{
	struct fl_scenario *s = NULL;
	struct fl_plan *p = NULL;
	struct fl_observer *o = NULL;
	struct fl_wire_report *r = NULL;
	struct fl_capture *cap = NULL;
	char errbuf[PCAP_ERRBUF_SIZE] = "", *filter = NULL;
	volatile uint64_t *sent;
	struct ns_pair np;
	uint64_t t, c, cpu, wall;
	pid_t pid;
	int k, sink;

	ns_init("bench-observe", NULL);
	ns_pair(&np);
	/* A sink that is never read: the datagrams arrive, the socket drops them. */
	sink = ns_socket(&np, np.server, SOCK_DGRAM, NS_SERVER, 9);
	sent = mmap(NULL, sizeof(*sent), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	check(sent != MAP_FAILED, "mmap: %m");
	setup(&s, &p, &o);
	check(fl_wire_filter(p, 0, &filter) == 0, "filter");
	k = fl_capture_open("vc", np.client, 0, 0, filter, errbuf, &cap);
	check(k == 0, "fl_capture_open: %s: %s", strerror(-k), errbuf);

	pid = ns_fork();
	if (pid == 0)
		flood(&np, pps, seconds * 1000000000ULL, sent);
	t = ns_now();
	c = cpu_ns();
	k = fl_observer_run(o, &cap, 1, -1, -1, t + seconds * 1000000000ULL + 300000000ULL, NULL);
	wall = ns_now() - t;
	cpu = cpu_ns() - c;
	check(k == 0, "fl_observer_run: %s", strerror(-k));
	check(ns_wait(pid) == 0, "the sender failed");
	check(fl_observer_report(o, &r) == 0, "report");
	printf("live: target %llu pps for %llu s: sent %llu (%.0f pps), captured %llu, "
	       "dropped %llu, if_dropped %llu; observer CPU %.0f%% of one core over %.2f s\n",
	       (unsigned long long)pps, (unsigned long long)seconds, (unsigned long long)*sent,
	       (double)*sent / (double)seconds, (unsigned long long)r->packets,
	       (unsigned long long)r->captures[0].dropped,
	       (unsigned long long)r->captures[0].if_dropped, (double)cpu * 100 / (double)wall,
	       (double)wall / 1e9);
	close(sink);
	fl_wire_report_free(r);
	fl_capture_close(cap);
	fl_observer_free(o);
	fl_plan_free(p);
	fl_scenario_free(s);
	free(filter);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "core") == 0)
		return bench_core(argc > 2 ? strtoull(argv[2], NULL, 10) : 4000000);
	if (argc > 1 && strcmp(argv[1], "live") == 0)
		return bench_live(argc > 2 ? strtoull(argv[2], NULL, 10) : 300000,
				  argc > 3 ? strtoull(argv[3], NULL, 10) : 2);
	fprintf(stderr, "usage: %s core [PACKETS] | live [PPS] [SECONDS]\n", argv[0]);
	return 2;
}
