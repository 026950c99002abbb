/* SPDX-License-Identifier: MIT */
/*
 * loss 10 % on the replies from server A, over 20,000 UDP echoes:
 *   - the losses land inside the 99 % binomial interval;
 *   - the same seed gives the same drop sequence twice (compared probe by
 *     probe), and it is the sequence the model predicts for that seed;
 *   - another seed gives another sequence.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "engine/userspace.h"
#include "uqtest.h"

#define N  20000
#define MS 1000000ull
#define US 1000ull

static int failures;

static const struct fl_fault_params params = {
	.set = FL_P_LOSS, .loss_ppb = 100000000, /* 10 % */
};

/* One run: which probes were lost. */
static void run(uint64_t seed, bool *lost, size_t *ret_lost)
{
	struct fl_uq_opts o = {
		.queue_num = UQT_QUEUE, .sched_fifo_priority = 10, .params = params, .seed = seed};
	uint64_t *rtt = calloc(N, sizeof(*rtt));
	size_t k = 0;
	pid_t pid;
	int r = fl_uq_spawn(&o, -1, &pid);

	if (r < 0) {
		fprintf(stderr, "fl_uq_spawn: %s\n", strerror(-r));
		exit(r == -EOPNOTSUPP ? UQT_SKIP : 1);
	}
	uqt_unpin(pid);
	uqt_udp_probe(UQT_A4, N, 64, 50 * US, 300 * MS, rtt, NULL, NULL);
	UQT_CHECK(fl_uq_kill(pid, 2000 * MS) == 0, "seed %llu: engine stops cleanly",
		  (unsigned long long)seed);
	for (size_t i = 0; i < N; i++) {
		lost[i] = rtt[i] == UINT64_MAX;
		k += lost[i];
	}
	*ret_lost = k;
	free(rtt);
}

int main(void)
{
	static bool a[N], b[N], c[N], predicted[N];
	/* 99 % interval of Binomial(20000, 0.1): mean 2000, sd 42.43, z 2.5758. */
	const double lo = 2000 - 2.5758 * 42.4264, hi = 2000 + 2.5758 * 42.4264;
	struct fl_uq_model m;
	size_t na, nb, nc, diff_ab = 0, diff_ap = 0, diff_ac = 0;

	uqt_topo();
	uqt_steer(UQT_A4, UQT_QUEUE);
	run(42, a, &na);
	run(42, b, &nb);
	run(43, c, &nc);

	fl_uq_model_init(&m, &params, 42);
	for (size_t i = 0; i < N; i++) {
		struct fl_uq_decision d;
		fl_uq_model_decide(&m, 0, 64, &d);
		predicted[i] = d.pkt.drop;
		diff_ab += a[i] != b[i];
		diff_ap += a[i] != predicted[i];
		diff_ac += a[i] != c[i];
	}
	UQT_CHECK(na >= lo && na <= hi,
		  "seed 42: %zu of %d lost, inside the 99 %% interval [%.0f, %.0f]", na, N, lo, hi);
	UQT_CHECK(nc >= lo && nc <= hi,
		  "seed 43: %zu of %d lost, inside the 99 %% interval [%.0f, %.0f]", nc, N, lo, hi);
	UQT_CHECK(diff_ab == 0, "seed 42 twice: the same drop sequence (%zu probes differ)",
		  diff_ab);
	UQT_CHECK(diff_ap == 0, "seed 42: the drop sequence the model predicts (%zu probes differ)",
		  diff_ap);
	UQT_CHECK(diff_ac > 1000, "seed 43: another sequence (%zu probes differ from seed 42)",
		  diff_ac);
	printf("%d failure(s)\n", failures);
	return failures ? 1 : 0;
}
