/* SPDX-License-Identifier: MIT */
/*
 * The probe engine's rate and schedule accuracy (a bench, not a ctest:
 * numbers in docs/BENCHMARKS.md, run by bench/harness):
 *
 *   harness_bench [PROBES_PER_SECOND] [SECONDS] [KIND]
 *
 * Drives 20 flows of KIND (tcp: connect to a loopback echo server; http: GET
 * from a loopback HTTP server; default tcp), each every 20/PPS seconds, for
 * SECONDS, and reports: probes done vs due, the engine thread's CPU time per
 * probe and per core (probes/s if it had a core to itself), and the schedule
 * jitter (start - due) p50/p99/max. The servers run on threads of their own
 * in this process, so the engine's cost is its own thread's CPU time.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/prctl.h>
#include "flows/flows.h"
#include "scenario/parse.h"
#include "servers.h"

#define N_FLOWS 20

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	unsigned pps = argc > 1 ? (unsigned)atoi(argv[1]) : 1000;
	unsigned secs = argc > 2 ? (unsigned)atoi(argv[2]) : 10;
	bool http = argc > 3 && strcmp(argv[3], "http") == 0;
	struct server sv = { 0 };
	char yaml[8192], every[32];
	size_t off;
	struct fl_scenario *s = NULL;
	struct fl_results *res = NULL;
	struct fl_diag d;
	uint64_t cpu0, cpu1, t0, *jit;
	size_t n = 0, ok = 0;
	int r;

	if (pps < N_FLOWS || secs == 0) {
		fprintf(stderr, "usage: harness_bench [PROBES_PER_SECOND >= %d] [SECONDS] [tcp|http]\n",
			N_FLOWS);
		return 2;
	}
	r = http ? server_start_http(&sv) : server_start_tcp_echo(&sv);
	if (r < 0) {
		fprintf(stderr, "server: %s\n", strerror(-r));
		return 1;
	}
	snprintf(every, sizeof(every), "%uus", 1000000u * N_FLOWS / pps);
	off = (size_t)snprintf(yaml, sizeof(yaml),
			       "version: 1\nname: bench\nservices:\n  s: { endpoints: [\"127.0.0.1\"] }\n"
			       "timeline:\n  - { at: 0s, end: true }\nflows:\n");
	for (int i = 0; i < N_FLOWS; i++)
		off += (size_t)snprintf(yaml + off, sizeof(yaml) - off,
					http ? "  f%d: { http: { url: \"http://127.0.0.1:%u/ok\" }, every: %s, timeout: 1s }\n"
					     : "  f%d: { tcp: { address: \"127.0.0.1:%u\" }, every: %s, timeout: 1s }\n",
					i, sv.port, every);
	fl_diag_init(&d, "bench.yaml");
	r = fl_scenario_parse("bench.yaml", yaml, strlen(yaml), NULL, &d, &s);
	fl_diag_done(&d);
	if (r < 0) {
		fprintf(stderr, "scenario: %s\n", strerror(-r));
		return 1;
	}

	(void)prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL); /* as faultline run's harness does */
	t0 = fl_flows_now_ns();
	struct fl_flows_options o = { .start_ns = t0, .stop_ns = t0 + (uint64_t)secs * 1000000000ull,
				      .phase_fd = -1, .stop_fd = -1 };
	cpu0 = thread_cpu_ns();
	r = fl_flows_run(s, &o, &res);
	cpu1 = thread_cpu_ns();
	server_stop(&sv);
	if (r < 0) {
		fprintf(stderr, "fl_flows_run: %s\n", strerror(-r));
		return 1;
	}
	jit = calloc(res->n_probes ? res->n_probes : 1, sizeof(*jit));
	for (size_t i = 0; jit && i < res->n_probes; i++) {
		const struct fl_probe_result *p = &res->probes[i];
		if (p->outcome == FL_OUT_SKIPPED)
			continue;
		ok += p->outcome == FL_OUT_OK;
		jit[n++] = p->start_ns > p->scheduled_ns ? p->start_ns - p->scheduled_ns : 0;
	}
	qsort(jit, n, sizeof(*jit), cmp_u64);
	double per = n ? (double)(cpu1 - cpu0) / (double)n : 0;
	printf("| %s | %u/s for %u s | %zu sent (%zu ok) of %" PRIu64 " due | %.1f us | %.0f/s | %.1f us | %.1f us | %.1f us |\n",
	       http ? "http" : "tcp", pps, secs, n, ok, (uint64_t)pps * secs, per / 1e3,
	       per > 0 ? 1e9 / per : 0, n ? (double)jit[n / 2] / 1e3 : 0,
	       n ? (double)jit[n * 99 / 100] / 1e3 : 0, n ? (double)jit[n - 1] / 1e3 : 0);
	free(jit);
	fl_results_free(res);
	fl_scenario_free(s);
	return 0;
}
