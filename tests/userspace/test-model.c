/* SPDX-License-Identifier: MIT */
/* The seeded decision model of the userspace engine: no kernel, no root. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "engine/userspace.h"

#define MS 1000000ull
#define N  200000

static void same_seed_same_sequence(void **state)
{
	struct fl_fault_params p = {.delay_ns = 50 * MS,
				    .jitter_ns = 10 * MS,
				    .distribution = FL_DIST_PARETONORMAL,
				    .correlation_ppb = 250000000,
				    .loss_ppb = 100000000,
				    .duplicate_ppb = 50000000,
				    .corrupt_ppb = 10000000,
				    .reorder_ppb = 20000000,
				    .gap = 3,
				    .rate_bps = 100000000};
	struct fl_uq_model a, b, c;
	size_t differ = 0;

	assert_int_equal(fl_uq_model_init(&a, &p, 99), 0);
	assert_int_equal(fl_uq_model_init(&b, &p, 99), 0);
	assert_int_equal(fl_uq_model_init(&c, &p, 100), 0);
	for (uint64_t i = 0; i < N; i++) {
		struct fl_uq_decision da, db, dc;
		fl_uq_model_decide(&a, i * 1000, 100 + (uint32_t)(i % 1400), &da);
		fl_uq_model_decide(&b, i * 1000, 100 + (uint32_t)(i % 1400), &db);
		fl_uq_model_decide(&c, i * 1000, 100 + (uint32_t)(i % 1400), &dc);
		assert_memory_equal(&da, &db, sizeof(da));
		differ += da.pkt.due_ns != dc.pkt.due_ns;
	}
	assert_true(differ > N / 2);
}

static void loss_rate(void **state)
{
	struct fl_fault_params p = {.loss_ppb = 100000000};
	struct fl_uq_model m;
	size_t lost = 0;

	assert_int_equal(fl_uq_model_init(&m, &p, 1), 0);
	for (size_t i = 0; i < N; i++) {
		struct fl_uq_decision d;
		fl_uq_model_decide(&m, 0, 100, &d);
		lost += d.pkt.drop;
		assert_false(d.dup);
	}
	/* 99.9 % interval: 20000 +- 3.29 * 134.2 */
	assert_true(fabs((double)lost - 20000) < 3.29 * 134.2);
}

static void normal_delay(void **state)
{
	struct fl_fault_params p = {
		.delay_ns = 50 * MS, .jitter_ns = 10 * MS, .distribution = FL_DIST_NORMAL};
	struct fl_uq_model m;
	double sum = 0, sq = 0;
	size_t below = 0;

	assert_int_equal(fl_uq_model_init(&m, &p, 2), 0);
	for (size_t i = 0; i < N; i++) {
		struct fl_uq_decision d;
		double x;
		fl_uq_model_decide(&m, 0, 100, &d);
		x = (double)d.pkt.due_ns;
		sum += x;
		sq += x * x;
		below += x < 50e6;
	}
	double mean = sum / N, sd = sqrt(sq / N - mean * mean);
	assert_true(fabs(mean - 50e6) < 100e3);
	assert_true(fabs(sd - 10e6) < 0.03 * 10e6);
	assert_true(fabs((double)below / N - 0.5) < 0.01);
}

static void uniform_jitter_and_correlation(void **state)
{
	struct fl_fault_params p = {.delay_ns = 50 * MS, .jitter_ns = 10 * MS};
	struct fl_uq_model m;
	double prev = 0, sxy = 0, sx = 0, sxx = 0;

	assert_int_equal(fl_uq_model_init(&m, &p, 3), 0);
	for (size_t i = 0; i < N; i++) {
		struct fl_uq_decision d;
		fl_uq_model_decide(&m, 0, 100, &d);
		assert_true(d.pkt.due_ns >= 40 * MS && d.pkt.due_ns < 60 * MS);
	}
	/* netem's correlation: next = (1 - c) rand + c last -> lag-1 correlation ~ c. */
	p.correlation_ppb = 500000000;
	assert_int_equal(fl_uq_model_init(&m, &p, 3), 0);
	for (size_t i = 0; i < N; i++) {
		struct fl_uq_decision d;
		double x;
		fl_uq_model_decide(&m, 0, 100, &d);
		x = (double)d.pkt.due_ns / 1e6 - 50;
		if (i) {
			sxy += x * prev;
			sx += x;
			sxx += x * x;
		}
		prev = x;
	}
	double mean = sx / N, var = sxx / N - mean * mean, r = (sxy / N - mean * mean) / var;
	assert_true(fabs(r - 0.5) < 0.05);
}

static void reorder_gap(void **state)
{
	struct fl_fault_params p = {.delay_ns = 10 * MS, .reorder_ppb = 500000000, .gap = 5};
	struct fl_uq_model m;
	size_t since = 0, reordered = 0;

	assert_int_equal(fl_uq_model_init(&m, &p, 4), 0);
	for (size_t i = 0; i < N; i++) {
		struct fl_uq_decision d;
		fl_uq_model_decide(&m, 0, 100, &d);
		if (d.pkt.reordered) {
			/* netem: only after gap - 1 packets that were delayed */
			assert_true(since >= 4);
			assert_int_equal(d.pkt.due_ns, 0);
			since = 0;
			reordered++;
		} else {
			assert_int_equal(d.pkt.due_ns, 10 * MS);
			since++;
		}
	}
	assert_true(reordered > N / 8 && reordered < N / 4);
}

static void rate_spacing(void **state)
{
	struct fl_fault_params p = {.rate_bps = 1000000};
	struct fl_uq_model m;
	uint64_t last = 0;

	assert_int_equal(fl_uq_model_init(&m, &p, 5), 0);
	for (size_t i = 0; i < 100; i++) {
		struct fl_uq_decision d;
		fl_uq_model_decide(&m, 0, 1000, &d);
		/* (1000 + 14) * 8 bits at 1 Mbit/s = 8.112 ms apart */
		assert_int_equal(d.pkt.due_ns - last, 8112000);
		last = d.pkt.due_ns;
	}
	/* Later, after the queue drained: the packet's own time only. */
	struct fl_uq_decision d;
	fl_uq_model_decide(&m, last + 1000 * MS, 1000, &d);
	assert_int_equal(d.pkt.due_ns, last + 1000 * MS + 8112000);
}

static void duplicate_once(void **state)
{
	struct fl_fault_params p = {.duplicate_ppb = 1000000000, .delay_ns = MS};
	struct fl_uq_model m;

	assert_int_equal(fl_uq_model_init(&m, &p, 6), 0);
	for (size_t i = 0; i < 1000; i++) {
		struct fl_uq_decision d;
		fl_uq_model_decide(&m, 0, 100, &d);
		assert_true(d.dup);
		assert_false(d.copy.drop);
		assert_int_equal(d.copy.due_ns, MS);
	}
}

static void corrupt_one_bit(void **state)
{
	uint8_t buf[100], orig[100];
	size_t hits[800] = {0};

	for (uint32_t r = 0; r < 80000; r++) {
		memset(buf, 0, sizeof(buf));
		memcpy(orig, buf, sizeof(buf));
		fl_uq_corrupt(buf, sizeof(buf), r * 53687u);
		size_t flipped = 0;
		for (size_t i = 0; i < sizeof(buf); i++)
			for (int b = 0; b < 8; b++)
				if ((buf[i] ^ orig[i]) & (1 << b)) {
					flipped++;
					hits[i * 8 + (size_t)b]++;
				}
		assert_int_equal(flipped, 1);
	}
	for (size_t i = 0; i < 800; i++)
		assert_true(hits[i] > 50 && hits[i] < 150);
}

static void bad_params(void **state)
{
	struct fl_fault_params p = {.loss_ppb = 1000000001};
	struct fl_uq_model m;

	assert_int_equal(fl_uq_model_init(&m, &p, 0), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(same_seed_same_sequence),
		cmocka_unit_test(loss_rate),
		cmocka_unit_test(normal_delay),
		cmocka_unit_test(uniform_jitter_and_correlation),
		cmocka_unit_test(reorder_gap),
		cmocka_unit_test(rate_spacing),
		cmocka_unit_test(duplicate_once),
		cmocka_unit_test(corrupt_one_bit),
		cmocka_unit_test(bad_params),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
