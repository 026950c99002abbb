/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "servers.h"
#include "flows/flows.h"

static int bind_loopback(bool udp, uint16_t *ret_port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	int fd, one = 1;

	fd = socket(AF_INET, (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || (!udp && listen(fd, 256) < 0) ||
	    getsockname(fd, (struct sockaddr *)&a, &al) < 0) {
		int e = -errno;

		close(fd);
		return e;
	}
	*ret_port = ntohs(a.sin_port);
	return fd;
}

uint16_t unused_port(bool udp)
{
	uint16_t port = 0;
	int fd = bind_loopback(udp, &port);

	if (fd >= 0)
		close(fd);
	return port;
}

/* Waits for fd to be readable, waking every 50 ms to notice a stop. */
static bool wait_readable(struct server *sv, int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	while (!atomic_load(&sv->stop))
		if (poll(&p, 1, 50) > 0)
			return true;
	return false;
}

static void *serve(void *arg)
{
	struct server *sv = arg;

	while (wait_readable(sv, sv->fd)) {
		int conn;

		if (sv->udp) {
			sv->handle(sv, sv->fd);
			continue;
		}
		conn = accept4(sv->fd, NULL, NULL, SOCK_CLOEXEC);
		if (conn < 0)
			continue; /* another thread took it */
		sv->handle(sv, conn);
		close(conn);
	}
	return NULL;
}

static void write_all(int fd, const char *buf, size_t n)
{
	while (n > 0) {
		ssize_t k = send(fd, buf, n, MSG_NOSIGNAL);

		if (k <= 0)
			return;
		buf += k;
		n -= (size_t)k;
	}
}

static void respond(int conn, int code, const char *reason, const char *body, size_t len)
{
	char head[256];
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.1 %d %s\r\nContent-Length: %zu\r\nContent-Type: "
			 "text/plain\r\nConnection: close\r\n\r\n",
			 code, reason, len);

	write_all(conn, head, (size_t)n);
	write_all(conn, body, len);
}

static void handle_http(struct server *sv, int conn)
{
	char req[8192];
	size_t len = 0;
	char *end = NULL, *cl;
	size_t body_len = 0;
	char path[64] = "";

	/* Headers, then as much body as Content-Length says. */
	while (len < sizeof(req) - 1) {
		struct pollfd p = { .fd = conn, .events = POLLIN };
		ssize_t k;

		if (poll(&p, 1, 2000) <= 0)
			return;
		k = recv(conn, req + len, sizeof(req) - 1 - len, 0);
		if (k <= 0)
			return;
		len += (size_t)k;
		req[len] = '\0';
		if (!end && (end = strstr(req, "\r\n\r\n"))) {
			cl = strcasestr(req, "\r\nContent-Length:");
			body_len = cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0;
		}
		if (end && len >= (size_t)(end + 4 - req) + body_len)
			break;
	}
	if (!end)
		return;
	atomic_fetch_add(&sv->requests, 1);
	sscanf(req, "%*s %63s", path);
	if (strcmp(path, "/ok") == 0) {
		respond(conn, 200, "OK", "hello via-fallback", 18);
	} else if (strcmp(path, "/mode") == 0) {
		uint64_t now = fl_flows_now_ns();

		if (now >= sv->fault_from_ns && now < sv->fault_to_ns)
			respond(conn, 503, "Service Unavailable", "down MARKER-503", 15);
		else
			respond(conn, 200, "OK", "hello", 5);
	} else if (strcmp(path, "/slow") == 0) {
		struct timespec ts = { 0, 500 * 1000 * 1000 };

		nanosleep(&ts, NULL);
		respond(conn, 200, "OK", "slow", 4);
	} else if (strcmp(path, "/teapot") == 0) {
		respond(conn, 418, "I'm a teapot", "short and stout", 15);
	} else if (strcmp(path, "/echo") == 0) {
		char *h = strcasestr(req, "\r\nX-Test: yes\r\n");

		if (h && h < end)
			respond(conn, 200, "OK", end + 4, body_len);
		else
			respond(conn, 400, "Bad Request", "no X-Test", 9);
	} else {
		respond(conn, 404, "Not Found", "", 0);
	}
}

static void handle_tcp_echo(struct server *sv, int conn)
{
	char buf[4096];
	struct pollfd p = { .fd = conn, .events = POLLIN };
	ssize_t k;

	if (poll(&p, 1, 2000) <= 0)
		return;
	k = recv(conn, buf, sizeof(buf), 0);
	if (k > 0) {
		atomic_fetch_add(&sv->requests, 1);
		write_all(conn, buf, (size_t)k);
	}
}

static void handle_udp_echo(struct server *sv, int fd)
{
	struct sockaddr_storage from;
	socklen_t fl = sizeof(from);
	char buf[2048];
	ssize_t k = recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from, &fl);

	if (k < 0)
		return;
	atomic_fetch_add(&sv->requests, 1);
	sendto(fd, buf, (size_t)k, 0, (struct sockaddr *)&from, fl);
}

static void handle_udp_silent(struct server *sv, int fd)
{
	char buf[2048];

	if (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) >= 0)
		atomic_fetch_add(&sv->requests, 1);
}

static int start(struct server *sv, bool udp, void (*handle)(struct server *, int), int threads)
{
	int fd = bind_loopback(udp, &sv->port);

	if (fd < 0)
		return fd;
	sv->fd = fd;
	sv->udp = udp;
	sv->handle = handle;
	atomic_store(&sv->stop, false);
	atomic_store(&sv->requests, 0);
	sv->n_threads = 0;
	for (int i = 0; i < threads; i++) {
		if (pthread_create(&sv->threads[i], NULL, serve, sv) != 0) {
			server_stop(sv);
			return -EAGAIN;
		}
		sv->n_threads++;
	}
	return 0;
}

int server_start_http(struct server *sv)
{
	return start(sv, false, handle_http, SERVER_THREADS);
}

int server_start_tcp_echo(struct server *sv)
{
	return start(sv, false, handle_tcp_echo, 2);
}

int server_start_udp_echo(struct server *sv)
{
	return start(sv, true, handle_udp_echo, 1);
}

int server_start_udp_silent(struct server *sv)
{
	return start(sv, true, handle_udp_silent, 1);
}

void server_stop(struct server *sv)
{
	atomic_store(&sv->stop, true);
	for (int i = 0; i < sv->n_threads; i++)
		pthread_join(sv->threads[i], NULL);
	sv->n_threads = 0;
	if (sv->fd >= 0)
		close(sv->fd);
	sv->fd = -1;
}
