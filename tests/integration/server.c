/* SPDX-License-Identifier: MIT */
/*
 * The servers of the namespace tests: one process per server namespace
 * polls its listeners; UDP echo is answered inline, each TCP connection
 * gets a forked handler. Everything dies with the test (PR_SET_PDEATHSIG).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include "topo.h"

static const uint16_t tcp_ports[] = { IT_PORT_ECHO, IT_PORT_SINK, IT_PORT_SOURCE, IT_PORT_HTTP };

static int listener(int family, int type, uint16_t port)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t len;
	int fd, one = 1;

	fd = socket(family, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		a->sin6_family = AF_INET6;
		a->sin6_port = htons(port);
		len = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		a->sin_family = AF_INET;
		a->sin_port = htons(port);
		len = sizeof(*a);
	}
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 ||
	    (type == SOCK_STREAM && listen(fd, 256) < 0)) {
		close(fd);
		return -1;
	}
	return fd;
}

static void set_timeout(int fd, int opt, unsigned ms)
{
	struct timeval tv = { ms / 1000, (long)(ms % 1000) * 1000 };

	setsockopt(fd, SOL_SOCKET, opt, &tv, sizeof(tv));
}

static bool write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;

	while (n) {
		ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return false;
		p += k;
		n -= (size_t)k;
	}
	return true;
}

/* Reads until the peer closes (or the receive timeout), so our close sends no reset. */
static void drain(int fd)
{
	char buf[65536];

	set_timeout(fd, SO_RCVTIMEO, 5000);
	while (read(fd, buf, sizeof(buf)) > 0)
		;
}

static void handle_echo(int fd)
{
	char buf[65536];
	ssize_t k;

	set_timeout(fd, SO_RCVTIMEO, 30000);
	while ((k = read(fd, buf, sizeof(buf))) > 0)
		if (!write_all(fd, buf, (size_t)k))
			return;
}

static void handle_http(int fd, char name)
{
	char req[4096], body[64], head[256];
	size_t n = 0;

	set_timeout(fd, SO_RCVTIMEO, 5000);
	while (n < sizeof(req) - 1) {
		ssize_t k = read(fd, req + n, sizeof(req) - 1 - n);
		if (k <= 0)
			return;
		n += (size_t)k;
		req[n] = '\0';
		if (strstr(req, "\r\n\r\n"))
			break;
	}
	snprintf(body, sizeof(body), "faultline-it server %c\n", name);
	snprintf(head, sizeof(head),
		 "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: "
		 "%zu\r\nConnection: close\r\n\r\n",
		 strlen(body));
	if (write_all(fd, head, strlen(head)) && write_all(fd, body, strlen(body))) {
		shutdown(fd, SHUT_WR);
		drain(fd);
	}
}

/*
 * The sink: "WARM_MS MEASURE_MS\n", then data. Counts the bytes that arrive
 * in the MEASURE_MS after the first WARM_MS of data and answers
 * "BYTES USEC\n" at once: the receiver's count, not the sender's buffer.
 */
static void handle_sink(int fd)
{
	char buf[65536], line[64];
	size_t n = 0;
	unsigned warm_ms, meas_ms;
	uint64_t total = 0, t0 = 0, mark_t = 0, mark_bytes = 0, now;
	char *nl;

	set_timeout(fd, SO_RCVTIMEO, 10000);
	for (;;) {
		ssize_t k = read(fd, buf + n, sizeof(buf) - n);
		if (k <= 0)
			return;
		n += (size_t)k;
		nl = memchr(buf, '\n', n);
		if (nl)
			break;
		if (n >= 64)
			return;
	}
	*nl = '\0';
	if (sscanf(buf, "%u %u", &warm_ms, &meas_ms) != 2)
		return;
	total = n - (size_t)(nl + 1 - buf);
	if (total)
		t0 = it_now_us();

	for (;;) {
		struct pollfd p = { fd, POLLIN, 0 };
		int timeout = 10000;

		now = it_now_us();
		if (t0 && !mark_t)
			timeout = (int)((t0 + warm_ms * 1000ull > now ? t0 + warm_ms * 1000ull - now
								      : 0) /
					1000) +
				  1;
		else if (mark_t)
			timeout = (int)((mark_t + meas_ms * 1000ull > now
						 ? mark_t + meas_ms * 1000ull - now
						 : 0) /
					1000) +
				  1;
		int r = poll(&p, 1, timeout);
		now = it_now_us();
		if (t0 && !mark_t && now >= t0 + warm_ms * 1000ull) {
			mark_t = now;
			mark_bytes = total;
		}
		if (mark_t && now >= mark_t + meas_ms * 1000ull)
			break;
		if (r == 0 && !t0)
			break; /* nothing ever came */
		if (r > 0) {
			ssize_t k = read(fd, buf, sizeof(buf));
			if (k <= 0)
				break;
			total += (uint64_t)k;
			if (!t0)
				t0 = now;
		}
	}
	snprintf(line, sizeof(line), "%" PRIu64 " %" PRIu64 "\n", mark_t ? total - mark_bytes : 0,
		 mark_t ? now - mark_t : 0);
	if (write_all(fd, line, strlen(line))) {
		shutdown(fd, SHUT_WR);
		drain(fd);
	}
}

static void handle_source(int fd)
{
	static char buf[65536];

	memset(buf, 'x', sizeof(buf));
	set_timeout(fd, SO_SNDTIMEO, 30000);
	while (write_all(fd, buf, sizeof(buf)))
		;
}

static void handle(int fd, uint16_t port, char name)
{
	switch (port) {
	case IT_PORT_ECHO:
		handle_echo(fd);
		break;
	case IT_PORT_HTTP:
		handle_http(fd, name);
		break;
	case IT_PORT_SINK:
		handle_sink(fd);
		break;
	case IT_PORT_SOURCE:
		handle_source(fd);
		break;
	}
}

_Noreturn void it_server_main(const struct it_server *s, int ready_fd)
{
	struct pollfd pfd[IT_N_FAMILIES * (ELEMENTSOF(tcp_ports) + 1)];
	uint16_t port[ELEMENTSOF(pfd)];
	int fam[ELEMENTSOF(pfd)];
	bool udp[ELEMENTSOF(pfd)];
	size_t n = 0;
	pid_t me = getpid();

	signal(SIGCHLD, SIG_IGN); /* handlers reap themselves */
	prctl(PR_SET_NAME, s->name == 'a' ? "fl-it-server-a" : "fl-it-server-b");
	for (int f = 0; f < IT_N_FAMILIES; f++) {
		int family = f == IT_V4 ? AF_INET : AF_INET6;
		for (size_t i = 0; i <= ELEMENTSOF(tcp_ports); i++) {
			bool is_udp = i == ELEMENTSOF(tcp_ports);
			uint16_t p = is_udp ? IT_PORT_ECHO : tcp_ports[i];
			int fd = listener(family, is_udp ? SOCK_DGRAM : SOCK_STREAM, p);
			if (fd < 0) {
				dprintf(STDERR_FILENO,
					"server %c: cannot listen on %s port %u: %m\n", s->name,
					is_udp ? "udp" : "tcp", p);
				_exit(1);
			}
			pfd[n] = (struct pollfd){ fd, POLLIN, 0 };
			port[n] = p;
			fam[n] = f;
			udp[n++] = is_udp;
		}
	}
	if (write(ready_fd, "1", 1) != 1)
		_exit(1);
	close(ready_fd);

	for (;;) {
		if (poll(pfd, n, -1) < 0)
			continue;
		for (size_t i = 0; i < n; i++) {
			if (!(pfd[i].revents & POLLIN))
				continue;
			if (udp[i]) {
				char buf[65536];
				struct sockaddr_storage from;
				socklen_t len;
				ssize_t k;
				for (;;) {
					len = sizeof(from);
					k = recvfrom(pfd[i].fd, buf, sizeof(buf), 0,
						     (struct sockaddr *)&from, &len);
					if (k < 0)
						break;
					__atomic_add_fetch(&s->ctr->udp_rx[fam[i]], 1,
							   __ATOMIC_SEQ_CST);
					sendto(pfd[i].fd, buf, (size_t)k, 0,
					       (struct sockaddr *)&from, len);
				}
				continue;
			}
			int c = accept4(pfd[i].fd, NULL, NULL, SOCK_CLOEXEC);
			if (c < 0)
				continue;
			__atomic_add_fetch(&s->ctr->tcp_accepted[fam[i]], 1, __ATOMIC_SEQ_CST);
			pid_t pid = fork();
			if (pid == 0) {
				prctl(PR_SET_PDEATHSIG, SIGKILL);
				if (getppid() != me)
					_exit(0);
				for (size_t j = 0; j < n; j++)
					close(pfd[j].fd);
				handle(c, port[i], s->name);
				close(c);
				_exit(0);
			}
			close(c);
		}
	}
}
