/* SPDX-License-Identifier: MIT */
/*
 * Servers on 127.0.0.1 for the flows test, each on threads of its own so
 * the probe engine under test can block in its loop: an HTTP/1.1 server
 * (one request per connection), a TCP echo, a UDP echo, and a UDP socket
 * that never answers. Ports are chosen by the kernel.
 */
#ifndef FL_TESTS_HARNESS_SERVERS_H
#define FL_TESTS_HARNESS_SERVERS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define SERVER_THREADS 8

/*
 * HTTP paths:
 *   /ok        200 "hello via-fallback"
 *   /mode      503 "down MARKER-503" while t is in [fault_from_ns, fault_to_ns), else 200 "hello"
 *   /slow      200 after 500 ms
 *   /teapot    418 "short and stout"
 *   /echo      200 echoing the request body, "X-Test: yes" required (else 400)
 */
struct server {
	int fd;
	uint16_t port;
	bool udp;
	void (*handle)(struct server *sv, int conn);
	atomic_bool stop;
	atomic_uint requests;
	uint64_t fault_from_ns, fault_to_ns; /* CLOCK_MONOTONIC */
	pthread_t threads[SERVER_THREADS];
	int n_threads;
};

int server_start_http(struct server *sv);
int server_start_tcp_echo(struct server *sv);
int server_start_udp_echo(struct server *sv);
/* A bound UDP socket nobody reads: datagrams to it get no answer. */
int server_start_udp_silent(struct server *sv);
void server_stop(struct server *sv);
/* A loopback port with nothing listening (bound, then closed). */
uint16_t unused_port(bool udp);

#endif
