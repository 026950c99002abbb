/* SPDX-License-Identifier: MIT */
/*
 * Throughput and timing of the userspace engine (injector/engine/userspace.c).
 *
 * In a private network namespace (gone when this exits), UDP to 127.0.0.1:9
 * is steered into NFQUEUE 0 in PREROUTING (xt NFQUEUE, bypass). Threads: a
 * sender (sendmmsg, paced or flat out), the engine (fl_uq_run), a receiver.
 *   - throughput: flat-out offer; packets the engine gave back per second of
 *     wall time and per second of the engine thread's CPU time (the kernel
 *     work of its verdicts, reinjection and delivery included). Offered
 *     packets beyond what it takes pass through the bypass (fail-open) and
 *     are not counted.
 *   - timing: constant delay 10 ms at 1k, 20k and 100k pps; error = one-way
 *     time (sender's clock before sendmmsg to receiver's clock after
 *     recvmmsg, both CLOCK_MONOTONIC) minus 10 ms. The same path without the
 *     engine is printed as the floor.
 * Usage: uq-bench [SECONDS_PER_RUN] (default 3). Needs root.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include "engine/userspace.h"

#define PORT	9
#define QUEUE	0
#define BURST	32
#define PAYLOAD 64
#define MS	1000000ull

static atomic_bool stop_rx;
static double run_seconds = 3;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int sh(const char *cmd)
{
	int st = system(cmd);

	return st == -1 || !WIFEXITED(st) ? -1 : WEXITSTATUS(st);
}

static struct sockaddr_in dst(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(PORT)};

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return a;
}

struct rx {
	int fd;
	bool record;
	uint64_t *lat; /* one-way ns */
	size_t n, cap, got;
};

static void *rx_main(void *arg)
{
	struct rx *r = arg;
	struct mmsghdr m[BURST];
	struct iovec iov[BURST];
	static char bufs[BURST][PAYLOAD];
	struct timeval tv = {0, 20000};

	setsockopt(r->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	while (!atomic_load(&stop_rx)) {
		int n;
		uint64_t t;

		for (int i = 0; i < BURST; i++) {
			iov[i] = (struct iovec){bufs[i], PAYLOAD};
			m[i].msg_hdr = (struct msghdr){.msg_iov = &iov[i], .msg_iovlen = 1};
		}
		n = recvmmsg(r->fd, m, BURST, MSG_WAITFORONE, NULL);
		if (n <= 0)
			continue;
		t = now_ns();
		r->got += (size_t)n;
		for (int i = 0; i < n && r->record; i++) {
			uint64_t sent;
			memcpy(&sent, bufs[i], sizeof(sent));
			if (r->n < r->cap)
				r->lat[r->n++] = t - sent;
		}
	}
	return NULL;
}

struct eng {
	struct fl_uq *uq;
	pthread_t th;
	int ret;
};

static void *eng_main(void *arg)
{
	struct eng *e = arg;

	e->ret = fl_uq_run(e->uq, -1);
	return NULL;
}

static double thread_cpu_s(pthread_t th)
{
	clockid_t c;
	struct timespec ts;

	if (pthread_getcpuclockid(th, &c) != 0 || clock_gettime(c, &ts) != 0)
		return 0;
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Sends for run_seconds at pps (0: flat out). Returns packets sent. */
static uint64_t send_for(uint64_t pps)
{
	struct sockaddr_in a = dst();
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), buf = 8 << 20;
	struct mmsghdr m[BURST];
	struct iovec iov[BURST];
	char bufs[BURST][PAYLOAD];
	uint64_t start = now_ns(), end = start + (uint64_t)(run_seconds * 1e9), sent = 0;

	setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof(buf));
	connect(fd, (struct sockaddr *)&a, sizeof(a));
	memset(bufs, 0, sizeof(bufs));
	for (;;) {
		uint64_t t = now_ns(), due;
		unsigned k;

		if (t >= end)
			break;
		if (pps) {
			due = (uint64_t)((double)(t - start) * (double)pps / 1e9) + 1;
			if (due <= sent) {
				uint64_t next =
					start + (uint64_t)((double)(sent + 1) * 1e9 / (double)pps);
				struct timespec ts = {(time_t)(next / 1000000000ull),
						      (long)(next % 1000000000ull)};
				clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
				continue;
			}
			k = due - sent > BURST ? BURST : (unsigned)(due - sent);
		} else {
			k = BURST;
		}
		t = now_ns();
		for (unsigned i = 0; i < k; i++) {
			memcpy(bufs[i], &t, sizeof(t));
			iov[i] = (struct iovec){bufs[i], PAYLOAD};
			m[i].msg_hdr = (struct msghdr){.msg_iov = &iov[i], .msg_iovlen = 1};
		}
		int n = sendmmsg(fd, m, k, 0);
		if (n > 0)
			sent += (uint64_t)n;
	}
	close(fd);
	return sent;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

struct result {
	double wall_kpps, core_kpps, cpu_pct, err_p50_us, err_p99_us, msgs_per_send;
	uint64_t offered, through, bypassed;
};

/* One run: engine with delay_ns and mode (or none), offer pps (0 = flat out). */
static int run(bool with_engine, uint64_t delay_ns, enum fl_uq_verdict_mode mode, uint64_t pps,
	       bool record, bool rt, struct result *res)
{
	struct fl_uq_opts o = {.queue_num = QUEUE,
			       .seed = 1,
			       .verdict_mode = mode,
			       .params = {.set = FL_P_DELAY, .delay_ns = delay_ns}};
	struct sockaddr_in a = dst();
	struct rx r = {.record = record};
	struct eng e = {0};
	struct fl_uq_stats st = {0};
	pthread_t rth;
	double cpu0 = 0, cpu1 = 0, t0, t1;
	int buf = 32 << 20, one = 1;

	memset(res, 0, sizeof(*res));
	r.fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	setsockopt(r.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(r.fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof(buf));
	if (bind(r.fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		return -errno;
	if (record) {
		r.cap = (size_t)(run_seconds * (double)(pps ? pps : 1000000)) + 1024;
		r.lat = malloc(r.cap * sizeof(*r.lat));
	}
	if (with_engine) {
		int k = fl_uq_new(&o, &e.uq);
		if (k < 0)
			return k;
		pthread_create(&e.th, NULL, eng_main, &e);
		if (rt) {
			struct sched_param sp = {.sched_priority = 10};
			pthread_setschedparam(e.th, SCHED_FIFO, &sp);
		}
		cpu0 = thread_cpu_s(e.th);
	}
	atomic_store(&stop_rx, false);
	pthread_create(&rth, NULL, rx_main, &r);
	t0 = (double)now_ns() / 1e9;
	res->offered = send_for(pps);
	usleep((useconds_t)((delay_ns + 50 * MS) / 1000));
	t1 = (double)now_ns() / 1e9;
	if (with_engine) {
		cpu1 = thread_cpu_s(e.th);
		fl_uq_get_stats(e.uq, &st);
		fl_uq_stop(e.uq);
		pthread_join(e.th, NULL);
		fl_uq_free(e.uq);
	}
	atomic_store(&stop_rx, true);
	pthread_join(rth, NULL);
	close(r.fd);

	res->through = with_engine ? st.accepted : r.got;
	res->bypassed = with_engine && res->offered > st.received ? res->offered - st.received : 0;
	res->wall_kpps = (double)res->through / (t1 - t0 - (double)delay_ns / 1e9 - 0.05) / 1e3;
	res->cpu_pct = 100.0 * (cpu1 - cpu0) / (t1 - t0);
	res->core_kpps = cpu1 > cpu0 ? (double)res->through / (cpu1 - cpu0) / 1e3 : 0;
	res->msgs_per_send =
		st.sends ? (double)(st.verdict_msgs + st.batch_msgs) / (double)st.sends : 0;
	if (record && r.n) {
		qsort(r.lat, r.n, sizeof(*r.lat), cmp_u64);
		res->err_p50_us = ((double)r.lat[r.n / 2] - (double)delay_ns) / 1e3;
		res->err_p99_us = ((double)r.lat[r.n * 99 / 100] - (double)delay_ns) / 1e3;
	}
	free(r.lat);
	return 0;
}

static const char *mode_name(enum fl_uq_verdict_mode m)
{
	return m == FL_UQ_VERDICT_BATCH	   ? "batch"
	       : m == FL_UQ_VERDICT_SINGLE ? "single (1 msg/pkt, 1 send/round)"
					   : "single-send (1 msg + 1 send/pkt)";
}

int main(int argc, char **argv)
{
	static const enum fl_uq_verdict_mode modes[] = {FL_UQ_VERDICT_BATCH, FL_UQ_VERDICT_SINGLE,
							FL_UQ_VERDICT_SINGLE_SEND};
	static const uint64_t rates[] = {1000, 20000, 100000};
	struct result res;
	int r;

	if (argc > 1)
		run_seconds = atof(argv[1]);
	if (geteuid() != 0) {
		fprintf(stderr, "uq-bench: needs root\n");
		return 77;
	}
	prctl(PR_SET_TIMERSLACK, 1);
	if (unshare(CLONE_NEWNET) < 0 || sh("ip link set lo up") != 0 ||
	    sh("iptables-nft -t raw -A PREROUTING -i lo -p udp --dport 9 -j NFQUEUE "
	       "--queue-num 0 --queue-bypass") != 0) {
		fprintf(stderr, "uq-bench: cannot set up the namespace and the NFQUEUE rule\n");
		return 77;
	}
	printf("userspace engine, %ld CPUs, %.0f s per run, %d-byte UDP over lo\n\n",
	       sysconf(_SC_NPROCESSORS_ONLN), run_seconds, PAYLOAD);

	printf("Throughput, offered flat out (what the engine does not take passes by bypass)\n");
	printf("| delay | verdicts | offered kpps | through kpps | engine CPU %% | kpps per engine "
	       "core | msgs/send |\n");
	printf("|---|---|---|---|---|---|---|\n");
	for (int d = 0; d < 2; d++)
		for (size_t i = 0; i < 3; i++) {
			uint64_t delay = d ? 10 * MS : 0;
			r = run(true, delay, modes[i], 0, false, false, &res);
			if (r < 0) {
				fprintf(stderr, "uq-bench: %s\n", strerror(-r));
				return 1;
			}
			printf("| %s | %s | %.0f | %.0f | %.0f | %.0f | %.1f |\n",
			       d ? "10 ms" : "0", mode_name(modes[i]),
			       (double)res.offered / run_seconds / 1e3, res.wall_kpps, res.cpu_pct,
			       res.core_kpps, res.msgs_per_send);
			fflush(stdout);
		}

	printf("\nDelay error (one-way time - 10 ms), constant delay 10 ms\n");
	printf("| rate | verdicts | through kpps | p50 us | p99 us | floor p50 / p99 us (no "
	       "engine) |\n");
	printf("|---|---|---|---|---|---|\n");
	for (size_t i = 0; i < 3; i++)
		for (size_t k = 0; k < 3; k++) {
			/* k = 2: batch again, the engine thread SCHED_FIFO (as a run can ask) */
			enum fl_uq_verdict_mode mode = k == 2 ? FL_UQ_VERDICT_BATCH : modes[k];
			struct result floor;
			sh("iptables-nft -t raw -F PREROUTING");
			run(false, 0, FL_UQ_VERDICT_BATCH, rates[i], true, false, &floor);
			sh("iptables-nft -t raw -A PREROUTING -i lo -p udp --dport 9 -j NFQUEUE "
			   "--queue-num 0 --queue-bypass");
			r = run(true, 10 * MS, mode, rates[i], true, k == 2, &res);
			if (r < 0)
				return 1;
			printf("| %llu pps | %s | %.1f | %.1f | %.1f | %.1f / %.1f |\n",
			       (unsigned long long)rates[i],
			       k == 2 ? "batch, SCHED_FIFO 10" : mode_name(mode), res.wall_kpps,
			       res.err_p50_us, res.err_p99_us, floor.err_p50_us + 0.0,
			       floor.err_p99_us);
			fflush(stdout);
		}
	return 0;
}
