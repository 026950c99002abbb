/* SPDX-License-Identifier: MIT */
/*
 * Units, converted once at parse time (as iproute2's q_netem does):
 *   durations    -> uint64_t nanoseconds      ("300ms", "1.5s", "2h")
 *   percentages  -> uint32_t parts per billion ("10%", "0.25%"); 1e9 = 100 %
 *   rates        -> uint64_t bits per second   ("1mbit", "2.5gbit")
 * Decimal fractions are parsed exactly (no floating point), so "0.1s" is
 * exactly 100000000 ns.
 *
 * Parsers return 0, or -EINVAL (syntax), -ERANGE (overflow / out of range);
 * ret_ is written only on success.
 */
#ifndef FL_UTIL_UNITS_H
#define FL_UTIL_UNITS_H

#include <stddef.h>
#include <stdint.h>

#define FL_NSEC_PER_USEC 1000ULL
#define FL_NSEC_PER_MSEC 1000000ULL
#define FL_NSEC_PER_SEC 1000000000ULL
#define FL_PPB_100 1000000000U /* 100 % in parts per billion */

int fl_parse_duration(const char *s, uint64_t *ret_ns);
int fl_parse_percent(const char *s, uint32_t *ret_ppb);
int fl_parse_rate(const char *s, uint64_t *ret_bps);
/* A plain non-negative decimal number, e.g. a timescale: 3600 or 0.5, as value * 1e6. */
int fl_parse_micros(const char *s, uint64_t *ret_micro);
int fl_parse_u64(const char *s, uint64_t *ret);

/* Comparison operators of expectations: "< 1s", ">= 95%". */
enum fl_cmp {
	FL_CMP_LT,
	FL_CMP_LE,
	FL_CMP_GT,
	FL_CMP_GE,
	FL_CMP_EQ,
};
/* Splits a leading operator off s; *ret_rest points into s. No operator -> dflt. */
void fl_split_cmp(const char *s, enum fl_cmp dflt, enum fl_cmp *ret_cmp, const char **ret_rest);
const char *fl_cmp_to_string(enum fl_cmp c);

/*
 * Formatting: the shortest exact text in the largest unit that divides the
 * value, in the syntax tc(8) and our own parser accept ("300ms", "1500us").
 * buf must hold FL_FMT_MAX bytes; returns buf.
 */
#define FL_FMT_MAX 32
char *fl_format_duration(uint64_t ns, char buf[static FL_FMT_MAX]);
char *fl_format_percent(uint32_t ppb, char buf[static FL_FMT_MAX]);
char *fl_format_rate(uint64_t bps, char buf[static FL_FMT_MAX]);
/* For people, not for tc: "47h30m", "1m30.5s", "300ms", "0s". */
char *fl_format_duration_human(uint64_t ns, char buf[static FL_FMT_MAX]);

#endif
