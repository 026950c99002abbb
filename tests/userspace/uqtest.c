/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include "uqtest.h"

#define MAC_C	    "02:00:0a:e7:00:01"
#define MAC_S	    "02:00:0a:e7:00:02"
#define PROBE_MAGIC 0x75717470u

uint64_t uqt_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int uqt_sh(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	st = system(cmd);
	if (st == -1 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

static void must(const char *what, int st)
{
	if (st != 0) {
		fprintf(stderr, "setup failed: %s (status %d)\n", what, st);
		exit(1);
	}
}

void uqt_require(void)
{
	if (geteuid() != 0) {
		printf("SKIP: needs root (namespaces, NFQUEUE)\n");
		exit(UQT_SKIP);
	}
	if (access("/usr/sbin/iptables-nft", X_OK) != 0 &&
	    uqt_sh("command -v iptables-nft >/dev/null") != 0) {
		printf("SKIP: iptables-nft missing (the test steers with the xt NFQUEUE target)\n");
		exit(UQT_SKIP);
	}
}

struct sockaddr_storage uqt_addr(const char *ip, uint16_t port, socklen_t *ret_len)
{
	struct sockaddr_storage ss = {0};

	if (strchr(ip, ':')) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		inet_pton(AF_INET6, ip, &s6->sin6_addr);
		*ret_len = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		inet_pton(AF_INET, ip, &s4->sin_addr);
		*ret_len = sizeof(*s4);
	}
	return ss;
}

static int bound_socket(const char *ip, uint16_t port, int type)
{
	socklen_t sl;
	struct sockaddr_storage ss = uqt_addr(ip, port, &sl);
	int fd = socket(ss.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;
	int buf = 8 << 20;

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof(buf));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof(buf));
	/* IPv4 UDP without a checksum: a corrupted payload reaches the client, as it would with
	 * netem. */
	if (type == SOCK_DGRAM && ss.ss_family == AF_INET)
		setsockopt(fd, SOL_SOCKET, SO_NO_CHECK, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0)
		return -1;
	if (type == SOCK_STREAM && listen(fd, 65535) < 0)
		return -1;
	return fd;
}

static _Noreturn void server_main(int up, int down)
{
	const char *ips[] = {UQT_A4, UQT_B4, UQT_A6, UQT_B6};
	struct pollfd p[8];
	char c;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (unshare(CLONE_NEWNET) < 0)
		_exit(1);
	if (write(up, "u", 1) != 1 || read(down, &c, 1) != 1)
		_exit(1);
	if (uqt_sh("ip link set lo up && ip addr add " UQT_A4 "/24 dev uqs && "
		   "ip addr add " UQT_B4 "/24 dev uqs && "
		   "ip -6 addr add " UQT_A6 "/64 dev uqs nodad && "
		   "ip -6 addr add " UQT_B6 "/64 dev uqs nodad && ip link set uqs up && "
		   "ip neigh replace " UQT_CLIENT4 " lladdr " MAC_C " dev uqs nud permanent && "
		   "ip -6 neigh replace " UQT_CLIENT6 " lladdr " MAC_C " dev uqs nud permanent && "
		   "sysctl -qw net.core.somaxconn=65535") != 0)
		_exit(1);
	for (int i = 0; i < 4; i++) {
		p[i] = (struct pollfd){.fd = bound_socket(ips[i], UQT_UDP_PORT, SOCK_DGRAM),
				       .events = POLLIN};
		p[4 + i] = (struct pollfd){.fd = bound_socket(ips[i], UQT_TCP_PORT, SOCK_STREAM),
					   .events = POLLIN};
		if (p[i].fd < 0 || p[4 + i].fd < 0)
			_exit(1);
	}
	if (write(up, "r", 1) != 1)
		_exit(1);
	for (;;) {
		if (poll(p, 8, -1) < 0)
			continue;
		/*
		 * Accepts and never closes (the client resets): the only packet
		 * a connection sends is its SYN-ACK, and a full accept queue never
		 * makes the server retransmit one.
		 */
		for (int i = 4; i < 8; i++)
			while ((p[i].revents & POLLIN) &&
			       accept4(p[i].fd, NULL, NULL, SOCK_CLOEXEC) >= 0)
				;
		for (int i = 0; i < 4; i++) {
			struct mmsghdr m[64];
			struct iovec iov[64];
			struct sockaddr_storage from[64];
			static char bufs[64][2048];
			int n;

			if (!(p[i].revents & POLLIN))
				continue;
			for (int k = 0; k < 64; k++) {
				iov[k] = (struct iovec){.iov_base = bufs[k],
							.iov_len = sizeof(bufs[k])};
				m[k].msg_hdr = (struct msghdr){.msg_name = &from[k],
							       .msg_namelen = sizeof(from[k]),
							       .msg_iov = &iov[k],
							       .msg_iovlen = 1};
			}
			n = recvmmsg(p[i].fd, m, 64, MSG_DONTWAIT, NULL);
			for (int k = 0; k < n; k++)
				iov[k].iov_len = m[k].msg_len;
			if (n > 0)
				sendmmsg(p[i].fd, m, (unsigned)n, 0);
		}
	}
}

static cpu_set_t all_cpus;

void uqt_unpin(pid_t pid)
{
	sched_setaffinity(pid, sizeof(all_cpus), &all_cpus);
}

void uqt_topo(void)
{
	int up[2], down[2];
	struct rlimit rl = {65536, 65536};
	pid_t pid;
	char c;

	uqt_require();
	setrlimit(RLIMIT_NOFILE, &rl);
	/*
	 * veth hands packets to the backlog of the CPU that sent them: a
	 * sender migrating between CPUs can reorder its own packets. The
	 * client and the server stay on one CPU so the engine sees replies in
	 * the order the probes left (the model replay relies on it).
	 */
	if (sched_getaffinity(0, sizeof(all_cpus), &all_cpus) == 0) {
		cpu_set_t one;
		CPU_ZERO(&one);
		for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
			if (CPU_ISSET(cpu, &all_cpus)) {
				CPU_SET(cpu, &one);
				break;
			}
		sched_setaffinity(0, sizeof(one), &one);
	}
	prctl(PR_SET_TIMERSLACK, 1); /* pacing probes at tens of microseconds */
	if (unshare(CLONE_NEWNET) < 0) {
		printf("SKIP: cannot create a network namespace: %s\n", strerror(errno));
		exit(UQT_SKIP);
	}
	if (pipe(up) < 0 || pipe(down) < 0)
		exit(1);
	pid = fork();
	if (pid < 0)
		exit(1);
	if (pid == 0)
		server_main(up[1], down[0]);
	if (read(up[0], &c, 1) != 1)
		must("server namespace", -1);
	must("veth", uqt_sh("ip link set lo up && ip link add uqc address " MAC_C
			    " type veth peer name uqs address " MAC_S " netns %d",
			    (int)pid));
	must("client addresses",
	     uqt_sh("ip addr add " UQT_CLIENT4 "/24 dev uqc && "
		    "ip -6 addr add " UQT_CLIENT6 "/64 dev uqc nodad && ip link set uqc up && "
		    "for a in " UQT_A4 " " UQT_B4 " " UQT_A6 " " UQT_B6 "; do "
		    "ip neigh replace $a lladdr " MAC_S " dev uqc nud permanent || exit 1; done"));
	if (write(down[1], "g", 1) != 1 || read(up[0], &c, 1) != 1 || c != 'r')
		must("server", -1);
	/* The xt NFQUEUE target must be there (nft's own queue is not, on this kernel). */
	if (uqt_sh("iptables-nft -t raw -A PREROUTING -s 10.231.0.250 -j NFQUEUE --queue-num 1 "
		   "--queue-bypass 2>/dev/null && "
		   "iptables-nft -t raw -D PREROUTING -s 10.231.0.250 -j NFQUEUE --queue-num 1 "
		   "--queue-bypass") != 0) {
		printf("SKIP: the xt NFQUEUE target is not available\n");
		exit(UQT_SKIP);
	}
}

void uqt_steer(const char *addr, unsigned q)
{
	must("steering rule",
	     uqt_sh("%s -t raw -A PREROUTING -s %s -j NFQUEUE --queue-num %u --queue-bypass",
		    strchr(addr, ':') ? "ip6tables-nft" : "iptables-nft", addr, q));
}

void uqt_unsteer(const char *addr, unsigned q)
{
	must("steering rule removal",
	     uqt_sh("%s -t raw -D PREROUTING -s %s -j NFQUEUE --queue-num %u --queue-bypass",
		    strchr(addr, ':') ? "ip6tables-nft" : "iptables-nft", addr, q));
}

static uint8_t pattern(uint32_t seq, size_t i)
{
	return (uint8_t)(seq * 131u + i * 7u);
}

int uqt_udp_probe(const char *ip, size_t n, size_t payload_bytes, uint64_t interval_ns,
		  uint64_t wait_ns, uint64_t *rtt_ns, unsigned *copies, unsigned *corrupt)
{
	return uqt_udp_probe_at(ip, n, payload_bytes, interval_ns, wait_ns, rtt_ns, copies, corrupt,
				NULL);
}

int uqt_udp_probe_at(const char *ip, size_t n, size_t payload_bytes, uint64_t interval_ns,
		     uint64_t wait_ns, uint64_t *rtt_ns, unsigned *copies, unsigned *corrupt,
		     uint64_t *arrive_ns)
{
	socklen_t sl;
	struct sockaddr_storage ss = uqt_addr(ip, UQT_UDP_PORT, &sl);
	int fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int buf = 16 << 20;
	uint64_t *sent = calloc(n, sizeof(*sent)), start, deadline = 0;
	uint8_t pkt[2048], in[2048];
	size_t i = 0;

	if (fd < 0 || !sent || payload_bytes < 16 || payload_bytes > sizeof(pkt))
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof(buf));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof(buf));
	if (connect(fd, (struct sockaddr *)&ss, sl) < 0)
		return -1;
	for (size_t k = 0; k < n; k++) {
		rtt_ns[k] = UINT64_MAX;
		if (copies)
			copies[k] = 0;
		if (corrupt)
			corrupt[k] = 0;
	}
	start = uqt_now_ns();
	for (;;) {
		uint64_t now = uqt_now_ns(), next;
		struct pollfd p = {.fd = fd, .events = POLLIN};
		struct timespec to;
		ssize_t k;

		while (i < n && now >= start + i * interval_ns) {
			uint32_t seq = (uint32_t)i, magic = PROBE_MAGIC;
			memcpy(pkt, &seq, 4);
			memcpy(pkt + 4, &magic, 4);
			for (size_t j = 8; j < payload_bytes; j++)
				pkt[j] = pattern(seq, j);
			sent[i] = uqt_now_ns();
			if (send(fd, pkt, payload_bytes, 0) < 0 && errno != EAGAIN)
				return -1;
			i++;
		}
		if (i == n && deadline == 0)
			deadline = now + wait_ns;
		if (deadline && now >= deadline)
			break;
		next = i < n ? start + i * interval_ns : deadline;
		to = (struct timespec){.tv_sec = (time_t)((next - now) / 1000000000ull),
				       .tv_nsec = (long)((next - now) % 1000000000ull)};
		if (ppoll(&p, 1, &to, NULL) <= 0)
			continue;
		while ((k = recv(fd, in, sizeof(in), MSG_DONTWAIT)) > 0) {
			uint64_t t = uqt_now_ns();
			uint32_t seq, magic;
			bool bad = (size_t)k != payload_bytes;

			if (k < 8)
				continue;
			memcpy(&seq, in, 4);
			memcpy(&magic, in + 4, 4);
			if (magic != PROBE_MAGIC || seq >= n)
				continue; /* a corrupted header: cannot tell whose */
			for (size_t j = 8; j < (size_t)k && !bad; j++)
				bad = in[j] != pattern(seq, j);
			if (copies)
				copies[seq]++;
			if (corrupt && bad)
				corrupt[seq]++;
			if (rtt_ns[seq] == UINT64_MAX) {
				rtt_ns[seq] = t - sent[seq];
				if (arrive_ns)
					arrive_ns[seq] = t;
			}
		}
	}
	free(sent);
	close(fd);
	return 0;
}

int uqt_tcp_probe(const char *ip, size_t n, size_t inflight, uint64_t *rtt_ns)
{
	socklen_t sl;
	struct sockaddr_storage ss = uqt_addr(ip, UQT_TCP_PORT, &sl);
	struct pollfd *p = calloc(inflight, sizeof(*p));
	size_t *idx = calloc(inflight, sizeof(*idx));
	uint64_t *t0 = calloc(inflight, sizeof(*t0)), deadline;
	int *held = malloc(n * sizeof(*held));
	size_t next = 0, active = 0;

	if (!p || !idx || !t0 || !held)
		return -1;
	for (size_t k = 0; k < n; k++)
		held[k] = -1;
	for (size_t k = 0; k < n; k++)
		rtt_ns[k] = UINT64_MAX;
	for (size_t s = 0; s < inflight; s++)
		p[s].fd = -1;
	deadline = uqt_now_ns() + 120ull * 1000000000ull;
	while ((next < n || active > 0) && uqt_now_ns() < deadline) {
		for (size_t s = 0; s < inflight && next < n; s++) {
			struct linger lg = {1, 0}; /* close with RST: no TIME_WAIT, no FIN */
			int fd;

			if (p[s].fd >= 0)
				continue;
			fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
			if (fd < 0)
				return -1;
			setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
			idx[s] = next++;
			t0[s] = uqt_now_ns();
			if (connect(fd, (struct sockaddr *)&ss, sl) < 0 && errno != EINPROGRESS) {
				close(fd);
				continue;
			}
			p[s] = (struct pollfd){.fd = fd, .events = POLLOUT};
			active++;
		}
		if (poll(p, (nfds_t)inflight, 1000) <= 0)
			continue;
		for (size_t s = 0; s < inflight; s++) {
			uint64_t t;
			int err = 0;
			socklen_t el = sizeof(err);

			if (p[s].fd < 0 || !p[s].revents)
				continue;
			t = uqt_now_ns();
			getsockopt(p[s].fd, SOL_SOCKET, SO_ERROR, &err, &el);
			if (err == 0)
				rtt_ns[idx[s]] = t - t0[s];
			/*
			 * Reset only at the end: the handshake's last ACK leaves
			 * from the CPU that released the SYN-ACK (the engine's),
			 * a RST now from ours could overtake it, and the server
			 * would answer the late ACK with a RST of its own.
			 */
			held[idx[s]] = p[s].fd;
			p[s].fd = -1;
			p[s].revents = 0;
			active--;
		}
	}
	for (size_t k = 0; k < n; k++)
		if (held[k] >= 0)
			close(held[k]);
	for (size_t s = 0; s < inflight; s++)
		if (p[s].fd >= 0)
			close(p[s].fd);
	free(held);
	free(p);
	free(idx);
	free(t0);
	return 0;
}

size_t uqt_valid(const uint64_t *v, size_t n, double *out)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		if (v[i] != UINT64_MAX)
			out[k++] = (double)v[i];
	return k;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

double uqt_quantile(double *v, size_t n, double q)
{
	double pos;
	size_t lo;

	if (n == 0)
		return NAN;
	pos = q * (double)(n - 1);
	lo = (size_t)pos;
	if (lo + 1 >= n)
		return v[n - 1];
	return v[lo] + (pos - (double)lo) * (v[lo + 1] - v[lo]);
}

double uqt_median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return uqt_quantile(v, n, 0.5);
}

double uqt_mean(const double *v, size_t n)
{
	double s = 0;

	for (size_t i = 0; i < n; i++)
		s += v[i];
	return n ? s / (double)n : NAN;
}

double uqt_stdev(const double *v, size_t n)
{
	double m = uqt_mean(v, n), s = 0;

	for (size_t i = 0; i < n; i++)
		s += (v[i] - m) * (v[i] - m);
	return n > 1 ? sqrt(s / (double)(n - 1)) : NAN;
}
