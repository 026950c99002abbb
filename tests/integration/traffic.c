/* SPDX-License-Identifier: MIT */
/* Real traffic from the client namespace, measured: see traffic.h. */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "traffic.h"

const char *it_fam_name(int fam)
{
	return fam == IT_V4 ? "IPv4" : "IPv6";
}

static int family_of(int fam)
{
	return fam == IT_V4 ? AF_INET : AF_INET6;
}

static socklen_t make_addr(int fam, const char *ip, uint16_t port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (fam == IT_V4) {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;
		a->sin_family = AF_INET;
		a->sin_port = htons(port);
		if (ip && inet_pton(AF_INET, ip, &a->sin_addr) != 1)
			it_fail("bad address %s", ip);
		return sizeof(*a);
	}
	struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
	a->sin6_family = AF_INET6;
	a->sin6_port = htons(port);
	if (ip && inet_pton(AF_INET6, ip, &a->sin6_addr) != 1)
		it_fail("bad address %s", ip);
	return sizeof(*a);
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}
#define _cleanup_close_ _cleanup_(close_fd)

static int sock_or_fail(const struct topo *t, int ns_fd, int fam, int type)
{
	int fd = topo_socket(t, ns_fd, family_of(fam), type, 0);

	if (fd < 0)
		it_fail("socket in a test namespace: %s", strerror(-fd));
	return fd;
}

static int ms_left(uint64_t deadline_us)
{
	uint64_t now = it_now_us();

	return now >= deadline_us ? 0 : (int)((deadline_us - now + 999) / 1000);
}

/* ---- TCP connect ------------------------------------------------------------------ */

/* A non-blocking connect; on success returns the fd (still non-blocking). */
static int connect_fd(const struct topo *t, int srv, int fam, uint16_t port, unsigned timeout_ms,
		      struct it_connect *ret)
{
	struct sockaddr_storage ss;
	socklen_t len = make_addr(fam, t->srv[srv].addr[fam], port, &ss);
	int fd = sock_or_fail(t, -1, fam, SOCK_STREAM | SOCK_NONBLOCK);
	uint64_t start = it_now_us();

	*ret = (struct it_connect){ 0 };
	if (connect(fd, (struct sockaddr *)&ss, len) == 0)
		goto done;
	if (errno != EINPROGRESS) {
		ret->error = errno;
		ret->immediate = true;
		goto done;
	}
	struct pollfd p = { fd, POLLOUT, 0 };
	int r;
	do
		r = poll(&p, 1, ms_left(start + timeout_ms * 1000ull));
	while (r < 0 && errno == EINTR);
	if (r == 0) {
		ret->error = ETIMEDOUT;
	} else {
		int err = 0;
		socklen_t l = sizeof(err);
		getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l);
		ret->error = err;
	}
done:
	ret->elapsed_us = it_now_us() - start;
	if (ret->error) {
		close(fd);
		return -ret->error;
	}
	return fd;
}

void it_tcp_connect(const struct topo *t, int srv, int fam, uint16_t port, unsigned timeout_ms,
		    struct it_connect *ret)
{
	int fd = connect_fd(t, srv, fam, port, timeout_ms, ret);

	if (fd >= 0)
		close(fd);
}

/* ---- UDP ---------------------------------------------------------------------------- */

static int udp_connected(const struct topo *t, int srv, int fam)
{
	struct sockaddr_storage ss;
	socklen_t len = make_addr(fam, t->srv[srv].addr[fam], IT_PORT_ECHO, &ss);
	int fd = sock_or_fail(t, -1, fam, SOCK_DGRAM);

	if (connect(fd, (struct sockaddr *)&ss, len) < 0)
		it_fail("UDP connect to %s: %m", t->srv[srv].addr[fam]);
	return fd;
}

void it_udp_ask(const struct topo *t, int srv, int fam, unsigned timeout_ms, struct it_udp_ask *ret)
{
	_cleanup_close_ int fd = udp_connected(t, srv, fam);
	uint64_t start = it_now_us();
	struct pollfd p = { fd, POLLIN, 0 };
	char buf[64];
	int r;

	*ret = (struct it_udp_ask){ 0 };
	if (send(fd, "ask", 3, 0) < 0)
		ret->send_error = errno;
	/* Whatever send(2) said, the ICMP error may still arrive. */
	do
		r = poll(&p, 1, ms_left(start + timeout_ms * 1000ull));
	while (r < 0 && errno == EINTR);
	if (r == 0)
		ret->error = ETIMEDOUT;
	else
		ret->error = recv(fd, buf, sizeof(buf), MSG_DONTWAIT) < 0 ? errno : 0;
	ret->elapsed_us = it_now_us() - start;
}

void it_udp_sample(const struct topo *t, int srv, int fam, unsigned n, struct it_udp_sample *ret)
{
	_cleanup_close_ int fd = udp_connected(t, srv, fam);
	_cleanup_free_ uint8_t *seen = calloc(n ? n : 1, 1);
	const uint64_t interval_us = 250, wait_us = 500000;
	uint64_t rx0 = __atomic_load_n(&t->srv[srv].ctr->udp_rx[fam], __ATOMIC_SEQ_CST);
	unsigned tag = (unsigned)random(), i = 0;
	uint64_t next = it_now_us(), last = 0;

	it_assert(seen, "out of memory");
	*ret = (struct it_udp_sample){ .n = n };
	for (;;) {
		uint64_t now = it_now_us();
		char buf[128];
		ssize_t k;

		if (i < n && now >= next) {
			int len = snprintf(buf, sizeof(buf), "fl-it %08x %u", tag, i);
			k = send(fd, buf, (size_t)len, 0);
			if (k == len) {
				ret->sent++;
			} else {
				ret->send_errors++;
				if (!ret->first_errno)
					ret->first_errno = k < 0 ? errno : EMSGSIZE;
			}
			i++;
			next += interval_us;
			if (i == n)
				last = it_now_us();
		}
		for (;;) {
			unsigned got_tag, seq;
			k = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
			if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
				break;
			if (k < 0) {
				ret->recv_errors++;
				if (!ret->first_errno)
					ret->first_errno = errno;
				continue;
			}
			buf[k] = '\0';
			if (sscanf(buf, "fl-it %x %u", &got_tag, &seq) == 2 && got_tag == tag &&
			    seq < n && !seen[seq]) {
				seen[seq] = 1;
				ret->echoed++;
			}
		}
		if (i == n && (ret->echoed == n || it_now_us() >= last + wait_us))
			break;

		uint64_t until = i < n ? next : last + wait_us;
		now = it_now_us();
		struct timespec ts = { 0, 0 };
		if (until > now) {
			ts.tv_sec = (time_t)((until - now) / 1000000u);
			ts.tv_nsec = (long)((until - now) % 1000000u) * 1000;
		}
		struct pollfd p = { fd, POLLIN, 0 };
		ppoll(&p, 1, &ts, NULL);
	}
	ret->server_rx = __atomic_load_n(&t->srv[srv].ctr->udp_rx[fam], __ATOMIC_SEQ_CST) - rx0;
}

unsigned it_udp_reverse(const struct topo *t, int srv, int fam, unsigned n, unsigned wait_ms)
{
	const struct it_server *s = &t->srv[srv];
	struct sockaddr_storage ss;
	socklen_t len = make_addr(fam, NULL, IT_PORT_REVERSE, &ss);
	_cleanup_close_ int rx = sock_or_fail(t, -1, fam, SOCK_DGRAM | SOCK_NONBLOCK);
	_cleanup_close_ int tx = sock_or_fail(t, s->ns_fd, fam, SOCK_DGRAM);
	unsigned got = 0;
	int one = 1;

	if (fam == IT_V6)
		setsockopt(rx, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	setsockopt(rx, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(rx, (struct sockaddr *)&ss, len) < 0)
		it_fail("bind port %u in the client namespace: %m", IT_PORT_REVERSE);
	len = make_addr(fam, s->client_addr[fam], IT_PORT_REVERSE, &ss);
	for (unsigned i = 0; i < n; i++) {
		if (sendto(tx, "rev", 3, 0, (struct sockaddr *)&ss, len) < 0)
			it_fail("server %c: sendto %s: %m", s->name, s->client_addr[fam]);
		it_sleep_ms(1);
	}
	uint64_t deadline = it_now_us() + wait_ms * 1000ull;
	for (;;) {
		char buf[16];
		struct pollfd p = { rx, POLLIN, 0 };
		while (recv(rx, buf, sizeof(buf), 0) >= 0)
			got++;
		if (got >= n || poll(&p, 1, ms_left(deadline)) <= 0)
			break;
	}
	return got;
}

/* ---- HTTP --------------------------------------------------------------------------- */

struct http_ctx {
	const struct topo *t;
	char body[256];
	size_t len;
};

static curl_socket_t open_socket(void *userdata, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct http_ctx *c = userdata;
	int fd = topo_socket(c->t, -1, a->family, a->socktype, a->protocol);

	(void)purpose;
	return fd < 0 ? CURL_SOCKET_BAD : fd;
}

static size_t on_body(char *p, size_t size, size_t n, void *userdata)
{
	struct http_ctx *c = userdata;
	size_t k = size * n, room = sizeof(c->body) - 1 - c->len;

	memcpy(c->body + c->len, p, k < room ? k : room);
	c->len += k < room ? k : room;
	c->body[c->len] = '\0';
	return k;
}

int it_http_get(const struct topo *t, int srv, int fam, unsigned timeout_ms, long *ret_status,
		uint64_t *ret_us)
{
	static bool init;
	struct http_ctx c = { .t = t };
	char url[128], want[64];
	uint64_t start = it_now_us();
	CURL *h;
	CURLcode r;

	if (!init) {
		curl_global_init(CURL_GLOBAL_DEFAULT);
		init = true;
	}
	h = curl_easy_init();
	it_assert(h, "curl_easy_init failed");
	snprintf(url, sizeof(url), fam == IT_V4 ? "http://%s/" : "http://[%s]/",
		 t->srv[srv].addr[fam]);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_PROXY, ""); /* never a proxy from the environment */
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, open_socket);
	curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, &c);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &c);
	r = curl_easy_perform(h);
	*ret_status = 0;
	if (r == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, ret_status);
	curl_easy_cleanup(h);
	if (ret_us)
		*ret_us = it_now_us() - start;
	snprintf(want, sizeof(want), "faultline-it server %c", t->srv[srv].name);
	if (r == CURLE_OK && !strstr(c.body, want))
		*ret_status = -1; /* someone else answered */
	return (int)r;
}

/* ---- bulk TCP ----------------------------------------------------------------------- */

double it_upload_bps(const struct topo *t, int srv, int fam, unsigned warm_ms, unsigned meas_ms)
{
	static char chunk[65536];
	struct it_connect c;
	_cleanup_close_ int fd = connect_fd(t, srv, fam, IT_PORT_SINK, 2000, &c);
	char head[64], report[128];
	size_t head_len, head_off = 0, rep_len = 0;
	uint64_t deadline = it_now_us() + (warm_ms + meas_ms + 10000) * 1000ull;
	unsigned long long bytes, usec;

	if (fd < 0)
		return -c.error;
	memset(chunk, 'u', sizeof(chunk));
	head_len = (size_t)snprintf(head, sizeof(head), "%u %u\n", warm_ms, meas_ms);
	for (;;) {
		struct pollfd p = { fd, POLLIN | POLLOUT, 0 };
		int left = ms_left(deadline);
		if (!left || poll(&p, 1, left) < 0)
			return -ETIMEDOUT;
		if (p.revents & POLLIN) {
			ssize_t k = read(fd, report + rep_len, sizeof(report) - 1 - rep_len);
			if (k <= 0)
				return -EPIPE;
			rep_len += (size_t)k;
			report[rep_len] = '\0';
			if (strchr(report, '\n'))
				break;
		}
		if (p.revents & POLLOUT) {
			if (head_off < head_len) {
				ssize_t k = send(fd, head + head_off, head_len - head_off,
						 MSG_NOSIGNAL);
				if (k > 0)
					head_off += (size_t)k;
			} else {
				(void)send(fd, chunk, sizeof(chunk), MSG_NOSIGNAL);
			}
		}
		if (p.revents & (POLLERR | POLLHUP) && !(p.revents & POLLIN))
			return -EPIPE;
	}
	if (sscanf(report, "%llu %llu", &bytes, &usec) != 2 || usec == 0)
		return -EBADMSG;
	return (double)bytes * 8e6 / (double)usec;
}

double it_download_bps(const struct topo *t, int srv, int fam, unsigned warm_ms, unsigned meas_ms)
{
	static char buf[65536];
	struct it_connect c;
	_cleanup_close_ int fd = connect_fd(t, srv, fam, IT_PORT_SOURCE, 2000, &c);
	uint64_t t0 = 0, mark_t = 0, total = 0, mark_bytes = 0, now;
	uint64_t deadline = it_now_us() + (warm_ms + meas_ms + 10000) * 1000ull;

	if (fd < 0)
		return -c.error;
	for (;;) {
		struct pollfd p = { fd, POLLIN, 0 };
		int timeout = ms_left(deadline);
		if (t0 && !mark_t)
			timeout = ms_left(t0 + warm_ms * 1000ull);
		else if (mark_t)
			timeout = ms_left(mark_t + meas_ms * 1000ull);
		int r = poll(&p, 1, timeout);
		now = it_now_us();
		if (t0 && !mark_t && now >= t0 + warm_ms * 1000ull) {
			mark_t = now;
			mark_bytes = total;
		}
		if (mark_t && now >= mark_t + meas_ms * 1000ull)
			break;
		if (now >= deadline)
			return -ETIMEDOUT;
		if (r > 0) {
			ssize_t k = read(fd, buf, sizeof(buf));
			if (k <= 0)
				return -EPIPE;
			total += (uint64_t)k;
			if (!t0)
				t0 = now;
		}
	}
	return (double)(total - mark_bytes) * 8e6 / (double)(now - mark_t);
}

/* ---- statistics ----------------------------------------------------------------------- */

void it_binomial_interval(unsigned n, double p, double alpha, unsigned *ret_lo, unsigned *ret_hi)
{
	double cdf = 0, lf = lgamma(n + 1.0);
	bool have_lo = false;

	*ret_lo = 0;
	*ret_hi = n;
	for (unsigned k = 0; k <= n; k++) {
		double lp = lf - lgamma(k + 1.0) - lgamma(n - k + 1.0) + k * log(p) +
			    (n - k) * log1p(-p);
		cdf += exp(lp);
		if (!have_lo && cdf > alpha / 2) {
			*ret_lo = k;
			have_lo = true;
		}
		if (cdf >= 1 - alpha / 2) {
			*ret_hi = k;
			return;
		}
	}
}
