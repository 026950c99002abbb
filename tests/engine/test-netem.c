/* SPDX-License-Identifier: MIT */
/*
 * The netem request the tc engine builds, decoded back twice: by libnl's own
 * qdisc parser (what libnl knows of netem) and attribute by attribute (the
 * 64-bit times, distribution table, rate and seed, which libnl does not
 * decode). No kernel needed: the
 * netem path itself runs for real in the VM tier.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <netlink/attr.h>
#include <netlink/msg.h>
#include <netlink/route/qdisc.h>
#include <netlink/route/qdisc/netem.h>

#include "engine/dist.h"
#include "engine/tc.h"
#include "scenario/parse.h"

#ifndef TCA_NETEM_PRNG_SEED
#define TCA_NETEM_PRNG_SEED 14
#endif

static struct fl_scenario *parse(const char *yaml)
{
	struct fl_scenario *s = NULL;
	struct fl_diag d;

	fl_diag_init(&d, "test.yaml");
	assert_int_equal(fl_scenario_parse("test.yaml", yaml, strlen(yaml), NULL, &d, &s), 0);
	fl_diag_done(&d);
	return s;
}

static const char *const everything =
	"version: 1\nname: t\n"
	"services: { a: { endpoints: [ \"10.0.0.1\" ] } }\n"
	"timeline:\n"
	"  - { at: 1s, id: f, fault: delay, services: [a], delay: 300ms, jitter: 50ms,\n"
	"      correlation: 25%, distribution: normal, loss: 1%, duplicate: 2%, corrupt: 0.5%,\n"
	"      reorder: 10%, gap: 5, rate: 1mbit, seed: 42 }\n"
	"  - { at: 2s, end: true }\n";

static void decode_with_libnl(struct nl_object *obj, void *arg)
{
	struct rtnl_qdisc **out = arg;

	nl_object_get(obj);
	*out = (struct rtnl_qdisc *)obj;
}

static void test_libnl_decodes_every_field(void **state)
{
	struct fl_scenario *s = parse(everything);
	struct nl_msg *msg = NULL;
	struct rtnl_qdisc *q = NULL;
	(void)state;
	assert_int_equal(fl_tc_netem_msg(&s->steps[0], 7, FL_IFB_HANDLE, 12345, &msg), 0);
	nlmsg_set_proto(msg, NETLINK_ROUTE);
	assert_int_equal(nl_msg_parse(msg, decode_with_libnl, &q), 0);
	assert_non_null(q);

	assert_string_equal(rtnl_tc_get_kind(TC_CAST(q)), "netem");
	assert_int_equal(rtnl_tc_get_ifindex(TC_CAST(q)), 7);
	assert_int_equal(rtnl_tc_get_handle(TC_CAST(q)), FL_IFB_HANDLE);
	assert_int_equal(rtnl_tc_get_parent(TC_CAST(q)), TC_H_ROOT);
	assert_int_equal(rtnl_netem_get_limit(q), 12345);
	/* libnl reads the legacy tick fields: microseconds, to within a tick (64 ns). */
	assert_in_range(rtnl_netem_get_delay(q), 299999, 300000);
	assert_in_range(rtnl_netem_get_jitter(q), 49999, 50000);
	assert_int_equal((uint32_t)rtnl_netem_get_loss(q), fl_tc_prob(10000000));
	assert_int_equal((uint32_t)rtnl_netem_get_duplicate(q), fl_tc_prob(20000000));
	assert_int_equal(rtnl_netem_get_gap(q), 5);
	assert_int_equal((uint32_t)rtnl_netem_get_delay_correlation(q), fl_tc_prob(250000000));
	assert_int_equal((uint32_t)rtnl_netem_get_loss_correlation(q), fl_tc_prob(250000000));
	assert_int_equal((uint32_t)rtnl_netem_get_duplicate_correlation(q), fl_tc_prob(250000000));
	assert_int_equal((uint32_t)rtnl_netem_get_reorder_probability(q), fl_tc_prob(100000000));
	assert_int_equal((uint32_t)rtnl_netem_get_reorder_correlation(q), fl_tc_prob(250000000));
	assert_int_equal((uint32_t)rtnl_netem_get_corruption_probability(q), fl_tc_prob(5000000));
	assert_int_equal((uint32_t)rtnl_netem_get_corruption_correlation(q), fl_tc_prob(250000000));

	rtnl_qdisc_put(q);
	nlmsg_free(msg);
	fl_scenario_free(s);
}

/* What libnl does not decode: the 64-bit times, the table, the rate and the seed. */
static void test_raw_attributes(void **state)
{
	struct fl_scenario *s = parse(everything);
	struct nl_msg *msg = NULL;
	struct nlattr *tb[TCA_MAX + 1], *nt[TCA_NETEM_MAX + 1 > 16 ? TCA_NETEM_MAX + 1 : 16];
	struct tc_netem_qopt qopt;

	(void)state;
	assert_int_equal(fl_tc_netem_msg(&s->steps[0], 7, FL_IFB_HANDLE, 999, &msg), 0);
	assert_int_equal(nlmsg_parse(nlmsg_hdr(msg), sizeof(struct tcmsg), tb, TCA_MAX, NULL), 0);
	assert_non_null(tb[TCA_OPTIONS]);
	assert_true((size_t)nla_len(tb[TCA_OPTIONS]) > sizeof(qopt));
	memcpy(&qopt, nla_data(tb[TCA_OPTIONS]), sizeof(qopt));
	assert_int_equal(qopt.limit, 999);

	/* netem's attributes follow its struct inside TCA_OPTIONS. */
	struct nlattr *first = (struct nlattr *)(void *)((char *)nla_data(tb[TCA_OPTIONS]) + NLA_ALIGN(sizeof(qopt)));
	int len = nla_len(tb[TCA_OPTIONS]) - (int)NLA_ALIGN(sizeof(qopt));
	memset(nt, 0, sizeof(nt));
	assert_int_equal(nla_parse(nt, 15, first, len, NULL), 0);
	assert_non_null(nt[TCA_NETEM_LATENCY64]);
	assert_int_equal(nla_get_s64(nt[TCA_NETEM_LATENCY64]), 300000000);
	assert_int_equal(nla_get_s64(nt[TCA_NETEM_JITTER64]), 50000000);
	int16_t want[FL_DIST_SIZE];
	assert_int_equal(fl_dist_table(FL_DIST_NORMAL, want), 0);
	assert_non_null(nt[TCA_NETEM_DELAY_DIST]);
	assert_int_equal(nla_len(nt[TCA_NETEM_DELAY_DIST]), sizeof(want));
	assert_memory_equal(nla_data(nt[TCA_NETEM_DELAY_DIST]), want, sizeof(want));
	assert_non_null(nt[TCA_NETEM_RATE]);
	assert_int_equal(((struct tc_netem_rate *)nla_data(nt[TCA_NETEM_RATE]))->rate, 125000);
	assert_null(nt[TCA_NETEM_RATE64]);
	assert_non_null(nt[TCA_NETEM_PRNG_SEED]);
	assert_int_equal(nla_get_u64(nt[TCA_NETEM_PRNG_SEED]), 42);
	nlmsg_free(msg);
	fl_scenario_free(s);
}

/* Only what the step sets: a plain delay has no tables, correlations or seed. */
static void test_minimal_delay(void **state)
{
	struct fl_scenario *s = parse("version: 1\nname: t\n"
				      "services: { a: { endpoints: [ \"10.0.0.1\" ] } }\n"
				      "timeline:\n"
				      "  - { at: 1s, fault: delay, services: [a], delay: 10ms }\n"
				      "  - { at: 2s, end: true }\n");
	struct nl_msg *msg = NULL;
	struct nlattr *tb[TCA_MAX + 1], *nt[16];
	struct tc_netem_qopt qopt;

	(void)state;
	assert_int_equal(fl_tc_netem_msg(&s->steps[0], 3, FL_IFB_HANDLE, 1000, &msg), 0);
	assert_int_equal(nlmsg_parse(nlmsg_hdr(msg), sizeof(struct tcmsg), tb, TCA_MAX, NULL), 0);
	memcpy(&qopt, nla_data(tb[TCA_OPTIONS]), sizeof(qopt));
	assert_int_equal(qopt.loss, 0);
	assert_int_equal(qopt.duplicate, 0);
	assert_int_equal(qopt.gap, 0);
	struct nlattr *first = (struct nlattr *)(void *)((char *)nla_data(tb[TCA_OPTIONS]) + NLA_ALIGN(sizeof(qopt)));
	memset(nt, 0, sizeof(nt));
	assert_int_equal(nla_parse(nt, 15, first,
				   nla_len(tb[TCA_OPTIONS]) - (int)NLA_ALIGN(sizeof(qopt)), NULL), 0);
	assert_int_equal(nla_get_s64(nt[TCA_NETEM_LATENCY64]), 10000000);
	assert_null(nt[TCA_NETEM_JITTER64]);
	assert_null(nt[TCA_NETEM_CORR]);
	assert_null(nt[TCA_NETEM_DELAY_DIST]);
	assert_null(nt[TCA_NETEM_PRNG_SEED]);
	assert_null(nt[TCA_NETEM_RATE]);
	nlmsg_free(msg);
	fl_scenario_free(s);
}

static void test_prob_scaling(void **state)
{
	(void)state;
	assert_int_equal(fl_tc_prob(0), 0);
	assert_int_equal(fl_tc_prob(FL_PPB_100), UINT32_MAX);
	assert_int_equal(fl_tc_prob(FL_PPB_100 / 2), UINT32_MAX / 2);
	assert_int_equal(fl_tc_prob(FL_PPB_100 / 100), 42949672); /* 1 % */
}

/* The tables are the distributions they claim: sorted, centred, unit spread. */
static void test_distribution_tables(void **state)
{
	int16_t t[FL_DIST_SIZE];

	(void)state;
	assert_int_equal(fl_dist_table(FL_DIST_UNIFORM, t), -EINVAL);

	assert_int_equal(fl_dist_table(FL_DIST_NORMAL, t), 0);
	for (size_t i = 1; i < FL_DIST_SIZE; i++)
		assert_true(t[i] >= t[i - 1]);
	/* Symmetric around zero, and the 84.13th percentile is one sd. */
	for (size_t i = 0; i < FL_DIST_SIZE / 2; i++)
		assert_int_equal(t[i], -t[FL_DIST_SIZE - 1 - i]);
	assert_in_range(t[(size_t)(0.8413 * FL_DIST_SIZE)], FL_DIST_SCALE - 40, FL_DIST_SCALE + 40);
	double sum = 0, sq = 0;
	for (size_t i = 0; i < FL_DIST_SIZE; i++) {
		sum += t[i];
		sq += (double)t[i] * t[i];
	}
	assert_true(sum / FL_DIST_SIZE < 1.0 && sum / FL_DIST_SIZE > -1.0);
	double sd = __builtin_sqrt(sq / FL_DIST_SIZE) / FL_DIST_SCALE;
	assert_true(sd > 0.98 && sd < 1.01);

	assert_int_equal(fl_dist_table(FL_DIST_PARETO, t), 0);
	for (size_t i = 1; i < FL_DIST_SIZE; i++)
		assert_true(t[i] >= t[i - 1]);
	/* Heavy right tail, bounded left: the minimum is (1 - 1.5) * 4/3 = -2/3. */
	assert_in_range(t[0], -(2 * FL_DIST_SCALE) / 3 - 5, -(2 * FL_DIST_SCALE) / 3 + 20);
	assert_true(t[FL_DIST_SIZE - 1] > 3 * FL_DIST_SCALE); /* clamped at int16's top */

	assert_int_equal(fl_dist_table(FL_DIST_PARETONORMAL, t), 0);
	for (size_t i = 1; i < FL_DIST_SIZE; i++)
		assert_true(t[i] >= t[i - 1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_libnl_decodes_every_field),
		cmocka_unit_test(test_raw_attributes),
		cmocka_unit_test(test_minimal_delay),
		cmocka_unit_test(test_prob_scaling),
		cmocka_unit_test(test_distribution_tables),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
