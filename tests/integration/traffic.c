/* SPDX-License-Identifier: MIT */
/* Real traffic from the client namespace, measured: see traffic.h. */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
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

/* Waits for fd to become readable until the monotonic time until_us (at once if past). */
static void wait_readable(int fd, uint64_t until_us)
{
	uint64_t now = it_now_us();
	struct timespec ts = { 0, 0 };
	struct pollfd p = { fd, POLLIN, 0 };

	if (until_us > now) {
		ts.tv_sec = (time_t)((until_us - now) / 1000000u);
		ts.tv_nsec = (long)((until_us - now) % 1000000u) * 1000;
	}
	ppoll(&p, 1, &ts, NULL);
}

/* Reads every pending echo of tag; calls back with its number. Returns recv errors. */
static unsigned drain_echoes(int fd, unsigned tag, unsigned n,
			     void (*got)(unsigned seq, uint64_t now_us, void *userdata),
			     void *userdata, int *first_errno)
{
	unsigned errors = 0;

	for (;;) {
		char buf[128];
		unsigned got_tag, seq;
		ssize_t k = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);

		if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return errors;
		if (k < 0) {
			errors++;
			if (!*first_errno)
				*first_errno = errno;
			continue;
		}
		buf[k] = '\0';
		if (sscanf(buf, "fl-it %x %u", &got_tag, &seq) == 2 && got_tag == tag && seq < n)
			got(seq, it_now_us(), userdata);
	}
}

static bool send_echo(int fd, unsigned tag, unsigned seq, unsigned *sent, unsigned *send_errors,
		      int *first_errno)
{
	char buf[64];
	int len = snprintf(buf, sizeof(buf), "fl-it %08x %u", tag, seq);
	ssize_t k = send(fd, buf, (size_t)len, 0);

	if (k == len) {
		(*sent)++;
		return true;
	}
	(*send_errors)++;
	if (!*first_errno)
		*first_errno = k < 0 ? errno : EMSGSIZE;
	return false;
}

struct rtt_ctx {
	const uint64_t *sent_at;
	uint64_t *rtt_us;
	unsigned echoed;
};

static void rtt_got(unsigned seq, uint64_t now_us, void *userdata)
{
	struct rtt_ctx *c = userdata;

	if (c->rtt_us[seq] != UINT64_MAX || c->sent_at[seq] == 0)
		return; /* a duplicate, or an answer to nothing we sent */
	c->rtt_us[seq] = now_us - c->sent_at[seq];
	c->echoed++;
}

void it_udp_rtts(const struct topo *t, int srv, int fam, unsigned n, unsigned interval_us,
		 unsigned wait_ms, uint64_t *rtt_us, struct it_udp_rtts *ret)
{
	_cleanup_close_ int fd = udp_connected(t, srv, fam);
	_cleanup_free_ uint64_t *sent_at = calloc(n ? n : 1, sizeof(*sent_at));
	uint64_t rx0 = __atomic_load_n(&t->srv[srv].ctr->udp_rx[fam], __ATOMIC_SEQ_CST);
	struct rtt_ctx c = { .sent_at = sent_at, .rtt_us = rtt_us };
	unsigned tag = (unsigned)random(), i = 0;
	uint64_t next = it_now_us(), last = 0;

	it_assert(sent_at, "out of memory");
	*ret = (struct it_udp_rtts){ 0 };
	for (unsigned k = 0; k < n; k++)
		rtt_us[k] = UINT64_MAX;
	for (;;) {
		if (i < n && it_now_us() >= next) {
			/* Stamped before the send: the send itself is part of the round trip. */
			sent_at[i] = it_now_us();
			if (!send_echo(fd, tag, i, &ret->sent, &ret->send_errors,
				       &ret->first_errno))
				sent_at[i] = 0;
			i++;
			next += interval_us;
			if (i == n)
				last = it_now_us();
		}
		ret->recv_errors += drain_echoes(fd, tag, n, rtt_got, &c, &ret->first_errno);
		if (i == n && (c.echoed == ret->sent || it_now_us() >= last + wait_ms * 1000ull))
			break;
		wait_readable(fd, i < n ? next : last + wait_ms * 1000ull);
	}
	ret->echoed = c.echoed;
	ret->server_rx = __atomic_load_n(&t->srv[srv].ctr->udp_rx[fam], __ATOMIC_SEQ_CST) - rx0;
}

struct lockstep_ctx {
	bool *echoed;
	unsigned waiting; /* the echo we wait for */
	unsigned n_echoed, late;
};

static void lockstep_got(unsigned seq, uint64_t now_us, void *userdata)
{
	struct lockstep_ctx *c = userdata;

	(void)now_us;
	if (c->echoed[seq])
		return;
	c->echoed[seq] = true;
	c->n_echoed++;
	if (seq != c->waiting)
		c->late++;
}

void it_udp_lockstep(const struct topo *t, int srv, int fam, unsigned n, unsigned wait_us,
		     unsigned linger_ms, bool *echoed, struct it_udp_lockstep *ret)
{
	_cleanup_close_ int fd = udp_connected(t, srv, fam);
	uint64_t rx0 = __atomic_load_n(&t->srv[srv].ctr->udp_rx[fam], __ATOMIC_SEQ_CST);
	struct lockstep_ctx c = { .echoed = echoed };
	unsigned tag = (unsigned)random();
	uint64_t end;

	*ret = (struct it_udp_lockstep){ 0 };
	memset(echoed, 0, n * sizeof(*echoed));
	for (unsigned i = 0; i < n; i++) {
		uint64_t until;

		c.waiting = i;
		send_echo(fd, tag, i, &ret->sent, &ret->send_errors, &ret->first_errno);
		until = it_now_us() + wait_us;
		for (;;) {
			ret->recv_errors +=
				drain_echoes(fd, tag, n, lockstep_got, &c, &ret->first_errno);
			if (echoed[i] || it_now_us() >= until)
				break;
			wait_readable(fd, until);
		}
	}
	/* Stragglers: late, but they came back (the engine let them through). */
	c.waiting = n;
	end = it_now_us() + linger_ms * 1000ull;
	while (c.n_echoed < ret->sent && it_now_us() < end) {
		wait_readable(fd, end);
		ret->recv_errors += drain_echoes(fd, tag, n, lockstep_got, &c, &ret->first_errno);
	}
	ret->echoed = c.n_echoed;
	ret->late = c.late;
	ret->server_rx = __atomic_load_n(&t->srv[srv].ctr->udp_rx[fam], __ATOMIC_SEQ_CST) - rx0;
}

/* ---- TCP connect times ------------------------------------------------------------------- */

struct done_conn {
	int fd;
	uint64_t at_us;
};

static void reset_close(int fd)
{
	struct linger lg = { 1, 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

void it_tcp_connect_times(const struct topo *t, int srv, int fam, unsigned n, unsigned inflight,
			  unsigned interval_us, unsigned timeout_ms, uint64_t *us,
			  unsigned *ret_failed, int *ret_error)
{
	const uint64_t reset_after_us = 20000;
	struct sockaddr_storage ss;
	socklen_t len = make_addr(fam, t->srv[srv].addr[fam], IT_PORT_ECHO, &ss);
	_cleanup_free_ struct pollfd *p = calloc(inflight, sizeof(*p));
	_cleanup_free_ unsigned *idx = calloc(inflight, sizeof(*idx));
	_cleanup_free_ uint64_t *t0 = calloc(inflight, sizeof(*t0));
	_cleanup_free_ struct done_conn *done = calloc(n ? n : 1, sizeof(*done));
	unsigned next = 0, active = 0, n_done = 0, first_open = 0;
	uint64_t next_start = it_now_us();

	it_assert(p && idx && t0 && done, "out of memory");
	*ret_failed = 0;
	*ret_error = 0;
	for (unsigned k = 0; k < n; k++)
		us[k] = UINT64_MAX;
	for (unsigned s = 0; s < inflight; s++)
		p[s].fd = -1;
	while (next < n || active > 0) {
		uint64_t now = it_now_us();
		int wait_ms = 1000;

		for (unsigned s = 0; s < inflight && next < n && it_now_us() >= next_start; s++) {
			int fd;

			if (p[s].fd >= 0)
				continue;
			/* From now, not from the schedule: a late loop must not start a burst. */
			next_start = it_now_us() + interval_us;
			fd = sock_or_fail(t, -1, fam, SOCK_STREAM | SOCK_NONBLOCK);
			idx[s] = next++;
			t0[s] = it_now_us();
			if (connect(fd, (struct sockaddr *)&ss, len) < 0 && errno != EINPROGRESS) {
				if (!*ret_error)
					*ret_error = errno;
				(*ret_failed)++;
				reset_close(fd);
				continue;
			}
			p[s] = (struct pollfd){ .fd = fd, .events = POLLOUT };
			active++;
		}
		/* Reset what completed long enough ago (see traffic.h). */
		while (first_open < n_done && now >= done[first_open].at_us + reset_after_us)
			reset_close(done[first_open++].fd);
		if (first_open < n_done)
			wait_ms = (int)((done[first_open].at_us + reset_after_us - now) / 1000) + 1;
		if (next < n && active < inflight)
			wait_ms = next_start > now ? (int)((next_start - now + 999) / 1000) : 0;
		if (poll(p, inflight, wait_ms) <= 0) {
			now = it_now_us();
		} else {
			now = it_now_us();
			for (unsigned s = 0; s < inflight; s++) {
				int err = 0;
				socklen_t el = sizeof(err);

				if (p[s].fd < 0 || !p[s].revents)
					continue;
				getsockopt(p[s].fd, SOL_SOCKET, SO_ERROR, &err, &el);
				if (err == 0) {
					us[idx[s]] = now - t0[s];
					done[n_done++] = (struct done_conn){ p[s].fd, now };
				} else {
					if (!*ret_error)
						*ret_error = err;
					(*ret_failed)++;
					reset_close(p[s].fd);
				}
				p[s] = (struct pollfd){ .fd = -1 };
				active--;
			}
		}
		for (unsigned s = 0; s < inflight; s++)
			if (p[s].fd >= 0 && now >= t0[s] + timeout_ms * 1000ull) {
				if (!*ret_error)
					*ret_error = ETIMEDOUT;
				(*ret_failed)++;
				reset_close(p[s].fd);
				p[s] = (struct pollfd){ .fd = -1 };
				active--;
			}
	}
	/* The last ones too get their 20 ms before the reset. */
	while (first_open < n_done) {
		uint64_t now = it_now_us(), at = done[first_open].at_us + reset_after_us;
		if (now < at)
			it_sleep_ms((unsigned)((at - now) / 1000) + 1);
		reset_close(done[first_open++].fd);
	}
}

bool it_probe_realtime(const struct topo *t, bool on)
{
	const pid_t pids[] = { 0, t->srv[IT_A].pid, t->srv[IT_B].pid };
	struct sched_param sp = { .sched_priority = on ? IT_PROBE_RT_PRIORITY : 0 };
	int policy = on ? SCHED_FIFO | SCHED_RESET_ON_FORK : SCHED_OTHER;

	for (size_t i = 0; i < ELEMENTSOF(pids); i++)
		if (sched_setscheduler(pids[i], policy, &sp) < 0) {
			it_assert(on, "back to the normal scheduler: %m");
			sp.sched_priority = 0;
			while (i-- > 0)
				sched_setscheduler(pids[i], SCHED_OTHER, &sp);
			return false;
		}
	return true;
}

bool it_probe_pin(const struct topo *t, bool on)
{
	static cpu_set_t all;
	const pid_t pids[] = { 0, t->srv[IT_A].pid, t->srv[IT_B].pid };
	cpu_set_t one;

	if (!on) {
		for (size_t i = 0; i < ELEMENTSOF(pids); i++)
			sched_setaffinity(pids[i], sizeof(all), &all);
		return true;
	}
	if (sched_getaffinity(0, sizeof(all), &all) < 0)
		return false;
	CPU_ZERO(&one);
	for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
		if (CPU_ISSET(cpu, &all)) {
			CPU_SET(cpu, &one);
			break;
		}
	for (size_t i = 0; i < ELEMENTSOF(pids); i++)
		if (sched_setaffinity(pids[i], sizeof(one), &one) < 0) {
			while (i-- > 0)
				sched_setaffinity(pids[i], sizeof(all), &all);
			return false;
		}
	return true;
}

struct stall_cpu {
	struct it_stall_watch *w;
	pthread_t thread;
	uint64_t worst_us, at_us;
};

/* The control: UDP echoes to B, one a millisecond, their worst round trip. */
struct stall_ping {
	struct it_stall_watch *w;
	pthread_t thread;
	int fd;
	uint64_t sent_at[4096];
	uint64_t worst_us, at_us;
};

struct it_stall_watch {
	bool stop;
	size_t n;
	bool ping_started;
	struct stall_ping ping;
	struct stall_cpu cpu[CPU_SETSIZE];
};

static void next_ms(struct timespec *next)
{
	next->tv_nsec += 1000000;
	if (next->tv_nsec >= 1000000000) {
		next->tv_sec++;
		next->tv_nsec -= 1000000000;
	}
}

static uint64_t ts_us(const struct timespec *ts)
{
	return (uint64_t)ts->tv_sec * 1000000u + (uint64_t)ts->tv_nsec / 1000u;
}

static void *stall_main(void *arg)
{
	struct stall_cpu *c = arg;
	struct timespec next;

	clock_gettime(CLOCK_MONOTONIC, &next);
	while (!__atomic_load_n(&c->w->stop, __ATOMIC_RELAXED)) {
		uint64_t due, now;

		next_ms(&next);
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
		due = ts_us(&next);
		now = it_now_us();
		if (now > due && now - due > c->worst_us) {
			c->worst_us = now - due;
			c->at_us = due;
		}
		if (now > due + 1000) /* after a stall, not a burst of catch-up wakeups */
			clock_gettime(CLOCK_MONOTONIC, &next);
	}
	return NULL;
}

static void *ping_main(void *arg)
{
	struct stall_ping *p = arg;
	unsigned tag = (unsigned)random(), seq = 0;
	struct timespec next;

	clock_gettime(CLOCK_MONOTONIC, &next);
	while (!__atomic_load_n(&p->w->stop, __ATOMIC_RELAXED)) {
		char buf[64];
		int len = snprintf(buf, sizeof(buf), "fl-ctl %08x %u", tag, seq);
		struct pollfd pfd = { p->fd, POLLIN, 0 };
		unsigned got_tag, got;
		ssize_t k;

		p->sent_at[seq % ELEMENTSOF(p->sent_at)] = it_now_us();
		if (send(p->fd, buf, (size_t)len, 0) == len)
			seq++;
		next_ms(&next);
		for (;;) {
			uint64_t now = it_now_us(), due = ts_us(&next);
			struct timespec left = { 0, 0 };

			if (now < due)
				left.tv_nsec = (long)(due - now) * 1000;
			if (now >= due || ppoll(&pfd, 1, &left, NULL) <= 0)
				break;
			while ((k = recv(p->fd, buf, sizeof(buf) - 1, MSG_DONTWAIT)) > 0) {
				uint64_t rtt;
				buf[k] = '\0';
				if (sscanf(buf, "fl-ctl %x %u", &got_tag, &got) != 2 ||
				    got_tag != tag || got >= seq ||
				    seq - got > ELEMENTSOF(p->sent_at))
					continue;
				rtt = it_now_us() - p->sent_at[got % ELEMENTSOF(p->sent_at)];
				if (rtt > p->worst_us) {
					p->worst_us = rtt;
					p->at_us = p->sent_at[got % ELEMENTSOF(p->sent_at)];
				}
			}
		}
		if (it_now_us() > ts_us(&next) + 1000)
			clock_gettime(CLOCK_MONOTONIC, &next);
	}
	return NULL;
}

static int start_thread(pthread_t *th, int cpu, int priority, void *(*fn)(void *), void *arg)
{
	struct sched_param sp = { .sched_priority = priority };
	pthread_attr_t a;
	cpu_set_t one;
	int r;

	pthread_attr_init(&a);
	if (cpu >= 0) {
		CPU_ZERO(&one);
		CPU_SET(cpu, &one);
		pthread_attr_setaffinity_np(&a, sizeof(one), &one);
	}
	pthread_attr_setinheritsched(&a, PTHREAD_EXPLICIT_SCHED);
	pthread_attr_setschedpolicy(&a, SCHED_FIFO);
	pthread_attr_setschedparam(&a, &sp);
	r = pthread_create(th, &a, fn, arg);
	pthread_attr_destroy(&a);
	return r;
}

struct it_stall_watch *it_stall_watch_start(const struct topo *t, int fam)
{
	struct it_stall_watch *w = calloc(1, sizeof(*w));
	cpu_set_t all;

	if (!w || sched_getaffinity(0, sizeof(all), &all) < 0) {
		free(w);
		return NULL;
	}
	for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
		struct stall_cpu *c = &w->cpu[w->n];

		if (!CPU_ISSET(cpu, &all))
			continue;
		c->w = w;
		if (start_thread(&c->thread, cpu, IT_STALL_WATCH_PRIORITY, stall_main, c) != 0) {
			it_stall_watch_stop(w, NULL);
			return NULL;
		}
		w->n++;
	}
	/* The socket from this thread: topo_socket() enters the namespace for it. */
	w->ping.w = w;
	w->ping.fd = udp_connected(t, IT_B, fam);
	if (start_thread(&w->ping.thread, -1, IT_PROBE_RT_PRIORITY, ping_main, &w->ping) != 0) {
		close(w->ping.fd);
		it_stall_watch_stop(w, NULL);
		return NULL;
	}
	w->ping_started = true;
	return w;
}

void it_stall_watch_stop(struct it_stall_watch *w, struct it_stall *ret)
{
	struct it_stall r = { 0 };

	__atomic_store_n(&w->stop, true, __ATOMIC_RELAXED);
	for (size_t i = 0; i < w->n; i++) {
		pthread_join(w->cpu[i].thread, NULL);
		if (w->cpu[i].worst_us > r.host_us) {
			r.host_us = w->cpu[i].worst_us;
			r.host_at_us = w->cpu[i].at_us;
		}
	}
	if (w->ping_started) {
		pthread_join(w->ping.thread, NULL);
		close(w->ping.fd);
		r.b_rtt_us = w->ping.worst_us;
		r.b_at_us = w->ping.at_us;
	}
	free(w);
	if (ret)
		*ret = r;
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
