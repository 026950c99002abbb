/* SPDX-License-Identifier: MIT */
/*
 * The other faults, end to end on the replies from server A:
 *   duplicate  50 % over IPv6 (copies sent through the raw socket, their
 *              checksum completed, each faulted once) and IPv4;
 *   corrupt    100 % over IPv4 with UDP checksums off: one bit flipped per
 *              reply, most of them in the payload;
 *   reorder    50 % with 20 ms delay: half come back at once, in the 99 %
 *              interval; the others after 20 ms;
 *   rate       5 Mbit/s: 300 back-to-back 1,000-byte replies are spread at
 *              (1028 + 14) * 8 / 5e6 s each.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "engine/userspace.h"
#include "uqtest.h"

#define MS 1000000ull
#define US 1000ull

static int failures;

static pid_t engine(struct fl_fault_params p, uint64_t seed)
{
	struct fl_uq_opts o = {
		.queue_num = UQT_QUEUE, .sched_fifo_priority = 10, .params = p, .seed = seed};
	pid_t pid;
	int r = fl_uq_spawn(&o, -1, &pid);

	if (r < 0) {
		fprintf(stderr, "fl_uq_spawn: %s\n", strerror(-r));
		exit(r == -EOPNOTSUPP ? UQT_SKIP : 1);
	}
	uqt_unpin(pid);
	return pid;
}

/* Inside the 99 % interval of Binomial(n, p)? */
static bool binomial_ok(size_t k, size_t n, double p)
{
	double sd = sqrt((double)n * p * (1 - p));

	return fabs((double)k - (double)n * p) <= 2.5758 * sd;
}

static void duplicate(const char *ip)
{
	struct fl_fault_params p = {.set = FL_P_DUPLICATE, .duplicate_ppb = 500000000};
	const size_t n = 4000;
	uint64_t *rtt = calloc(n, sizeof(*rtt));
	unsigned *copies = calloc(n, sizeof(*copies));
	size_t twice = 0, more = 0, none = 0;
	pid_t pid = engine(p, 11);

	uqt_udp_probe(ip, n, 200, 250 * US, 200 * MS, rtt, copies, NULL);
	fl_uq_kill(pid, 2000 * MS);
	for (size_t i = 0; i < n; i++) {
		twice += copies[i] == 2;
		more += copies[i] > 2;
		none += copies[i] == 0;
	}
	UQT_CHECK(binomial_ok(twice, n, 0.5) && more == 0 && none == 0,
		  "duplicate 50 %% (%s): %zu of %zu replies came twice, %zu more than twice, %zu "
		  "lost",
		  ip, twice, n, more, none);
	free(rtt);
	free(copies);
}

static void corrupt(void)
{
	struct fl_fault_params p = {.set = FL_P_CORRUPT, .corrupt_ppb = 1000000000};
	const size_t n = 2000;
	uint64_t *rtt = calloc(n, sizeof(*rtt));
	unsigned *bad = calloc(n, sizeof(*bad)), *copies = calloc(n, sizeof(*copies));
	size_t got = 0, damaged = 0;
	pid_t pid = engine(p, 12);

	/* 1,000-byte payloads: 97 % of the bits of each packet are payload. */
	uqt_udp_probe(UQT_A4, n, 1000, 500 * US, 200 * MS, rtt, copies, bad);
	fl_uq_kill(pid, 2000 * MS);
	for (size_t i = 0; i < n; i++) {
		got += copies[i] > 0;
		damaged += bad[i] > 0;
	}
	/*
	 * A flip in the IP header is not caught (the kernel checked that
	 * checksum before PREROUTING); one in an address or a length loses the
	 * reply; a TTL or ID flip arrives with its payload intact.
	 */
	UQT_CHECK(
		got > n * 9 / 10 && damaged >= got * 95 / 100,
		"corrupt 100 %%: %zu of %zu replies arrived (header hits may be lost), %zu with a "
		"damaged payload",
		got, n, damaged);
	free(rtt);
	free(bad);
	free(copies);
}

static void reorder(void)
{
	struct fl_fault_params p = {
		.set = FL_P_DELAY | FL_P_REORDER, .delay_ns = 20 * MS, .reorder_ppb = 500000000};
	const size_t n = 2000;
	uint64_t *rtt = calloc(n, sizeof(*rtt));
	size_t early = 0, held = 0;
	pid_t pid = engine(p, 13);

	uqt_udp_probe(UQT_A4, n, 64, 1000 * US, 200 * MS, rtt, NULL, NULL);
	fl_uq_kill(pid, 2000 * MS);
	for (size_t i = 0; i < n; i++) {
		early += rtt[i] < 10 * MS;
		held += rtt[i] != UINT64_MAX && rtt[i] >= 20 * MS;
		if (rtt[i] == UINT64_MAX || (rtt[i] >= 10 * MS && rtt[i] < 20 * MS))
			printf("reorder: probe %zu: rtt %.3f ms\n", i,
			       rtt[i] == UINT64_MAX ? -1.0 : (double)rtt[i] / 1e6);
	}
	UQT_CHECK(binomial_ok(early, n, 0.5) && early + held == n,
		  "reorder 50 %%, delay 20 ms: %zu of %zu at once, %zu after >= 20 ms", early, n,
		  held);
	free(rtt);
}

static void rate(void)
{
	struct fl_fault_params p = {.set = FL_P_RATE, .rate_bps = 5000000};
	const size_t n = 300;
	uint64_t *rtt = calloc(n, sizeof(*rtt)), *at = calloc(n, sizeof(*at));
	uint64_t first = UINT64_MAX, last = 0;
	/* IP length of a 1000-byte UDP payload: 1028; plus 14 of Ethernet per netem. */
	const double per_pkt_ns = (1028.0 + 14) * 8 / 5e6 * 1e9;
	double spread;
	size_t got = 0;
	pid_t pid = engine(p, 14);

	/* All sent within ~3 ms; the rate spreads the replies over ~0.5 s. */
	uqt_udp_probe_at(UQT_A4, n, 1000, 10 * US, 1000 * MS, rtt, NULL, NULL, at);
	fl_uq_kill(pid, 2000 * MS);
	for (size_t i = 0; i < n; i++) {
		if (rtt[i] == UINT64_MAX)
			continue;
		got++;
		first = at[i] < first ? at[i] : first;
		last = at[i] > last ? at[i] : last;
	}
	spread = (double)(last - first);
	UQT_CHECK(got == n && fabs(spread - (double)(n - 1) * per_pkt_ns) <
				      0.05 * (double)(n - 1) * per_pkt_ns,
		  "rate 5 Mbit/s: %zu/%zu replies over %.1f ms (expected %.1f ms)", got, n,
		  spread / 1e6, (double)(n - 1) * per_pkt_ns / 1e6);
	free(rtt);
	free(at);
}

int main(void)
{
	uqt_topo();
	uqt_steer(UQT_A4, UQT_QUEUE);
	uqt_steer(UQT_A6, UQT_QUEUE);
	duplicate(UQT_A6);
	duplicate(UQT_A4);
	corrupt();
	reorder();
	rate();
	printf("%d failure(s)\n", failures);
	return failures ? 1 : 0;
}
