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
