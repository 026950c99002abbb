/* SPDX-License-Identifier: MIT */
/*
 * Real traffic from the client namespace to a server, measured. Every
 * function opens its sockets in the client namespace (topo_socket) and
 * talks only to the servers of topo.h.
 */
#ifndef FL_TESTS_INTEGRATION_TRAFFIC_H
#define FL_TESTS_INTEGRATION_TRAFFIC_H

#include <stdbool.h>
#include <stdint.h>
#include "topo.h"

/* One TCP connect with a deadline (non-blocking connect + poll). */
struct it_connect {
	int error;	/* 0 connected, an errno (ECONNREFUSED, ...), or ETIMEDOUT: the deadline */
	bool immediate; /* connect(2) itself failed (as a local drop would, with EPERM) */
	uint64_t elapsed_us;
};
void it_tcp_connect(const struct topo *t, int srv, int fam, uint16_t port, unsigned timeout_ms,
		    struct it_connect *ret);

/*
 * A connected UDP socket sends one datagram to the echo port and waits up
 * to timeout_ms for the answer or an error.
 */
struct it_udp_ask {
	int send_error; /* send(2) failed with this errno (no real network does that) */
	int error;	/* then: 0 echoed, an errno from recv (ECONNREFUSED: the ICMP came back),
			   ETIMEDOUT */
	uint64_t elapsed_us;
};
void it_udp_ask(const struct topo *t, int srv, int fam, unsigned timeout_ms,
		struct it_udp_ask *ret);

/* n numbered UDP echoes, paced, over one connected socket. */
struct it_udp_sample {
	unsigned n;
	unsigned sent;	      /* send(2) returned the full length */
	unsigned send_errors; /* send(2) failed */
	int first_errno;
	unsigned echoed;      /* distinct numbers that came back */
	unsigned recv_errors; /* recv(2) errors (an ICMP error on the connected socket) */
	uint64_t server_rx;   /* datagrams the server counted meanwhile */
};
void it_udp_sample(const struct topo *t, int srv, int fam, unsigned n, struct it_udp_sample *ret);

/*
 * Round trips of n numbered UDP echoes over one connected socket, one sent
 * every interval_us whatever came back (pipelined: a 50 ms delay does not
 * make the sample take n x 50 ms). rtt_us[i]: echo i's round trip, or
 * UINT64_MAX if it was not back wait_ms after the last send.
 */
struct it_udp_rtts {
	unsigned sent, send_errors, recv_errors;
	int first_errno;
	unsigned echoed;
	uint64_t server_rx; /* datagrams the server counted meanwhile */
};
void it_udp_rtts(const struct topo *t, int srv, int fam, unsigned n, unsigned interval_us,
		 unsigned wait_ms, uint64_t *rtt_us, struct it_udp_rtts *ret);

/*
 * n numbered UDP echoes strictly one after the other: echo i+1 leaves only
 * once echo i is back or wait_us has passed. Every reply then reaches the
 * client's hooks in the order of the requests, which a replay of the
 * userspace engine's per-packet model relies on. An echo back after its
 * wait (the next one had left) still counts: echoed[i] says whether echo i
 * came back at all (within linger_ms after the last send), late how many
 * came after their wait.
 */
struct it_udp_lockstep {
	unsigned sent, send_errors, recv_errors;
	int first_errno;
	unsigned echoed, late;
	uint64_t server_rx;
};
void it_udp_lockstep(const struct topo *t, int srv, int fam, unsigned n, unsigned wait_us,
		     unsigned linger_ms, bool *echoed, struct it_udp_lockstep *ret);

/*
 * n TCP connects to the echo port, up to inflight of them at once and one
 * started every interval_us at most (the server forks a handler per
 * connection: faster, its accept queue fills and it drops SYNs);
 * us[i]: how long connect i took to complete, or UINT64_MAX if it failed
 * or did not complete within timeout_ms (*ret_failed counts them, the first
 * error in *ret_error). Each socket is reset (SO_LINGER 0: no TIME_WAIT)
 * 20 ms after its handshake, not at once: the handshake's last ACK leaves
 * from whichever CPU handed the SYN-ACK in, and a reset from ours could
 * overtake it.
 */
void it_tcp_connect_times(const struct topo *t, int srv, int fam, unsigned n, unsigned inflight,
			  unsigned interval_us, unsigned timeout_ms, uint64_t *us,
			  unsigned *ret_failed, int *ret_error);

/*
 * Puts the prober (this process) and both servers' main loops on SCHED_FIFO
 * at priority IT_PROBE_RT_PRIORITY, below the userspace engine's (10), with
 * SCHED_RESET_ON_FORK (handlers forked meanwhile stay normal); or back to
 * the normal scheduler. For delay measurements only: see README.md. Returns
 * false if the kernel refused (then nothing changed).
 */
#define IT_PROBE_RT_PRIORITY 5
bool it_probe_realtime(const struct topo *t, bool on);

/*
 * Pins the prober (this process) and both servers' main loops to one CPU
 * (on), or gives them back every CPU they had (off). veth hands a packet to
 * the backlog of the CPU that sent it; with everyone on one CPU there is one
 * backlog, and packets cannot overtake each other even when ksoftirqd, not
 * the sender, ends up processing them. Returns false if the kernel refused.
 */
bool it_probe_pin(const struct topo *t, bool on);

/*
 * A watch on the host and the path while a delay is measured:
 *   - one SCHED_FIFO thread per CPU at IT_STALL_WATCH_PRIORITY, above the
 *     userspace engine's (10) and the probes', wakes every millisecond and
 *     notes how late it was. The test and the engine could delay it only by
 *     exhausting the real-time share of a CPU (95 %), which they are far
 *     from (about a quarter of the two, seen): a stall it sees is the
 *     host's (a higher real-time task, interrupt work, the hypervisor
 *     taking the vCPU away);
 *   - the control: UDP echoes to B (family fam) every millisecond from a
 *     thread at the probes' priority. B's path is A's without the engine:
 *     the same client, kernel, veth and kind of server. A slow round trip
 *     there is the path's or the host's (a backlog left to ksoftirqd,
 *     a starved wakeup), not the engine's.
 * NULL if real-time threads are refused.
 */
#define IT_STALL_WATCH_PRIORITY 11
struct it_stall {
	uint64_t host_us, host_at_us; /* worst lateness of a watch thread, and when */
	uint64_t b_rtt_us, b_at_us;   /* worst round trip to B, and when it was sent */
};
struct it_stall_watch;
struct it_stall_watch *it_stall_watch_start(const struct topo *t, int fam);
/* Stops and frees w; times on CLOCK_MONOTONIC, in us. ret may be NULL. */
void it_stall_watch_stop(struct it_stall_watch *w, struct it_stall *ret);

/*
 * The server sends n datagrams to the client (port IT_PORT_REVERSE) from
 * its own namespace; returns how many arrived within wait_ms.
 */
unsigned it_udp_reverse(const struct topo *t, int srv, int fam, unsigned n, unsigned wait_ms);

/* GET http://SERVER/ with libcurl (its socket in the client namespace). 0 or a CURLcode. */
int it_http_get(const struct topo *t, int srv, int fam, unsigned timeout_ms, long *ret_status,
		uint64_t *ret_us);

/*
 * Bulk TCP: upload to the sink (the server counts what arrives) or
 * download from the source (we count), for meas_ms after warm_ms.
 * Returns bits per second of payload, or a negative errno.
 */
double it_upload_bps(const struct topo *t, int srv, int fam, unsigned warm_ms, unsigned meas_ms);
double it_download_bps(const struct topo *t, int srv, int fam, unsigned warm_ms, unsigned meas_ms);

/*
 * The acceptance interval of Binomial(n, p) at confidence 1 - alpha: the
 * exact alpha/2 and 1 - alpha/2 quantiles, so that P(X < lo) <= alpha/2
 * and P(X > hi) <= alpha/2.
 */
void it_binomial_interval(unsigned n, double p, double alpha, unsigned *ret_lo, unsigned *ret_hi);

const char *it_fam_name(int fam);

#endif
