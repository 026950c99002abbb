/* SPDX-License-Identifier: MIT */
/*
 * Fail open: the engine's death never black-holes the service.
 *   - a rule with no engine behind it (bypass) lets traffic through;
 *   - SIGTERM while packets are held: every held packet is given back, early;
 *   - SIGKILL: the kernel drops what was held (it cannot know), and from then
 *     on traffic flows without delay through the bypass;
 *   - a second engine can bind the queue again afterwards.
 * "Undelayed" is judged as a worst RTT under 50 ms, against the engine's
 * 200 ms: a busy host can add milliseconds of scheduling of its own.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include "engine/userspace.h"
#include "uqtest.h"

#define MS 1000000ull
#define US 1000ull

static int failures;

static pid_t engine(uint64_t delay_ns)
{
	struct fl_uq_opts o = {
		.queue_num = UQT_QUEUE,
		.sched_fifo_priority = 10,
		.params = {.set = FL_P_DELAY, .delay_ns = delay_ns},
		.seed = 7,
	};
	pid_t pid;
	int r = fl_uq_spawn(&o, -1, &pid);

	if (r < 0) {
		fprintf(stderr, "fl_uq_spawn: %s\n", strerror(-r));
		exit(r == -EOPNOTSUPP ? UQT_SKIP : 1);
	}
	uqt_unpin(pid);
	return pid;
}

/* n probes; how many came back and the largest RTT. */
static size_t probe(size_t n, uint64_t interval_ns, uint64_t wait_ns, double *ret_max_ms)
{
	uint64_t *rtt = calloc(n, sizeof(*rtt)), max = 0;
	size_t got = 0;

	uqt_udp_probe(UQT_A4, n, 64, interval_ns, wait_ns, rtt, NULL, NULL);
	for (size_t i = 0; i < n; i++)
		if (rtt[i] != UINT64_MAX) {
			got++;
			max = rtt[i] > max ? rtt[i] : max;
		}
	*ret_max_ms = (double)max / 1e6;
	free(rtt);
	return got;
}

/* Sends n probes to A now, without waiting; returns the socket. */
static int burst(size_t n)
{
	socklen_t sl;
	struct sockaddr_storage ss = uqt_addr(UQT_A4, UQT_UDP_PORT, &sl);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	char buf[64] = {0};
	int rcvbuf = 4 << 20;

	setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf));
	if (fd < 0 || connect(fd, (struct sockaddr *)&ss, sl) < 0)
		exit(1);
	for (size_t i = 0; i < n; i++)
		if (send(fd, buf, sizeof(buf), 0) < 0)
			exit(1);
	return fd;
}

static size_t drain(int fd, uint64_t wait_ns)
{
	uint64_t end = uqt_now_ns() + wait_ns;
	char buf[64];
	size_t got = 0;

	while (uqt_now_ns() < end) {
		struct timeval tv = {0, 10000};
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		if (recv(fd, buf, sizeof(buf), 0) > 0)
			got++;
	}
	close(fd);
	return got;
}

int main(void)
{
	double max_ms;
	size_t got;
	pid_t pid;
	int fd, st;

	uqt_topo();
	uqt_steer(UQT_A4, UQT_QUEUE);

	got = probe(500, 200 * US, 100 * MS, &max_ms);
	UQT_CHECK(got == 500 && max_ms < 50,
		  "no engine yet: %zu/500 through the bypass, max RTT %.2f ms", got, max_ms);

	pid = engine(200 * MS);
	got = probe(200, 500 * US, 400 * MS, &max_ms);
	UQT_CHECK(got == 200 && max_ms > 199,
		  "engine up: %zu/200 replies, held ~200 ms (max %.1f ms)", got, max_ms);

	/* SIGTERM with 300 packets held: all of them come back, well before 200 ms. */
	fd = burst(300);
	usleep(50000);
	{
		uint64_t t = uqt_now_ns();
		UQT_CHECK(fl_uq_kill(pid, 2000 * MS) == 0, "SIGTERM: engine exits 0");
		got = drain(fd, 100 * MS);
		UQT_CHECK(got == 300,
			  "SIGTERM: %zu/300 held packets given back (stop took %.1f ms)", got,
			  (double)(uqt_now_ns() - t) / 1e6);
	}
	got = probe(500, 200 * US, 100 * MS, &max_ms);
	UQT_CHECK(got == 500 && max_ms < 50, "after SIGTERM: %zu/500 through, max RTT %.2f ms", got,
		  max_ms);

	/* SIGKILL with packets held: those are lost; traffic then flows undelayed. */
	pid = engine(200 * MS);
	fd = burst(100);
	usleep(50000);
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	got = drain(fd, 300 * MS);
	printf("SIGKILL: %zu/100 held packets came back (the kernel drops a dead queue's "
	       "packets)\n",
	       got);
	got = probe(1000, 200 * US, 100 * MS, &max_ms);
	UQT_CHECK(got == 1000 && max_ms < 50,
		  "after SIGKILL: %zu/1000 through the bypass, max RTT %.2f ms", got, max_ms);

	/* The queue can be bound again. */
	pid = engine(20 * MS);
	got = probe(200, 500 * US, 200 * MS, &max_ms);
	UQT_CHECK(got == 200 && max_ms > 19, "a new engine binds the queue: %zu/200, max %.1f ms",
		  got, max_ms);
	/* Killed while idle: nothing lost, the next packets pass. */
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	got = probe(500, 200 * US, 100 * MS, &max_ms);
	UQT_CHECK(got == 500 && max_ms < 50, "killed while idle: %zu/500 through, max RTT %.2f ms",
		  got, max_ms);

	printf("%d failure(s)\n", failures);
	return failures ? 1 : 0;
}
