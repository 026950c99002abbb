/* SPDX-License-Identifier: MIT */
/*
 * Shared by the userspace-engine tests: a private topology and probes.
 *
 * The test process moves itself into a fresh network namespace (the client:
 * it RECEIVES the replies, so the steering rule goes in its PREROUTING) and
 * forks a server whose own fresh namespace holds two servers, A and B, on
 * one veth. Both namespaces are anonymous: they die with their processes,
 * and the server dies with the test (PR_SET_PDEATHSIG), so every exit path,
 * SIGKILL included, leaves nothing behind on the host. Neighbours are
 * static, so no ARP/ND packet ever enters the queue: the k-th packet the
 * engine sees is the k-th reply, and the engine's model can be replayed.
 */
#ifndef FL_TESTS_UQTEST_H
#define FL_TESTS_UQTEST_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#define UQT_SKIP 77

#define UQT_CLIENT4  "10.231.0.1"
#define UQT_A4	     "10.231.0.2"
#define UQT_B4	     "10.231.0.3"
#define UQT_CLIENT6  "fd00:231::1"
#define UQT_A6	     "fd00:231::2"
#define UQT_B6	     "fd00:231::3"
#define UQT_UDP_PORT 7007  /* echo */
#define UQT_TCP_PORT 7008  /* accepts, never closes: no packet from it but the SYN-ACK */
#define UQT_QUEUE    61440 /* the run's first userspace queue number */

/* Exits 77 unless root with namespaces, iptables-nft and the NFQUEUE target. */
void uqt_require(void);
/* Builds the topology (see above). Exits 77/1 on failure. */
void uqt_topo(void);
/* Lets pid (an engine) run on every CPU again: uqt_topo pins the test and its children to one. */
void uqt_unpin(pid_t pid);
/* Runs a command through sh; returns its exit status, or -1. */
int uqt_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Steers packets from addr (v4 or v6) into queue q in PREROUTING (raw), with bypass. */
void uqt_steer(const char *addr, unsigned q);
void uqt_unsteer(const char *addr, unsigned q);

struct sockaddr_storage uqt_addr(const char *ip, uint16_t port, socklen_t *ret_len);

uint64_t uqt_now_ns(void);

/*
 * UDP echo probes: n datagrams of payload_bytes (>= 16) to ip, one every
 * interval_ns, then waits wait_ns for stragglers. rtt_ns[i] is the round trip
 * of probe i (UINT64_MAX: lost); copies[i] counts replies (duplicates);
 * corrupt[i] counts replies whose payload differed (may be NULL).
 */
int uqt_udp_probe(const char *ip, size_t n, size_t payload_bytes, uint64_t interval_ns,
		  uint64_t wait_ns, uint64_t *rtt_ns, unsigned *copies, unsigned *corrupt);
/* The same; arrive_ns[i] is when the first reply to probe i came (CLOCK_MONOTONIC). */
int uqt_udp_probe_at(const char *ip, size_t n, size_t payload_bytes, uint64_t interval_ns,
		     uint64_t wait_ns, uint64_t *rtt_ns, unsigned *copies, unsigned *corrupt,
		     uint64_t *arrive_ns);
/* TCP connect times to ip:UQT_TCP_PORT, `inflight` at once, in SYN order. */
int uqt_tcp_probe(const char *ip, size_t n, size_t inflight, uint64_t *rtt_ns);

/* Statistics over the non-UINT64_MAX entries. */
size_t uqt_valid(const uint64_t *v, size_t n, double *out);
double uqt_median(double *v, size_t n);		    /* sorts v */
double uqt_quantile(double *v, size_t n, double q); /* v sorted */
double uqt_mean(const double *v, size_t n);
double uqt_stdev(const double *v, size_t n);

#define UQT_CHECK(cond, ...)                                                                       \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                       \
			fprintf(stderr, __VA_ARGS__);                                              \
			fprintf(stderr, "\n");                                                     \
			failures++;                                                                \
		} else {                                                                           \
			printf("ok: ");                                                            \
			printf(__VA_ARGS__);                                                       \
			printf("\n");                                                              \
		}                                                                                  \
	} while (0)

#endif
