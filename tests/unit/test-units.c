/* SPDX-License-Identifier: MIT */
/* injector/util/units.c: parsing and formatting of durations, percentages and rates. */
#include <errno.h>
#include <stdio.h>
#include "unit.h"
#include "util/units.h"

#define SENTINEL64 UINT64_C(0xdeadbeefcafef00d)
#define SENTINEL32 UINT32_C(0xdeadbeef)

/* ---- helpers: parse and check, with the out-parameter behaviour ---------- */

static void duration_ok(const char *s, uint64_t want)
{
	uint64_t v = SENTINEL64;
	int r = fl_parse_duration(s, &v);

	if (r != 0) {
		print_error("fl_parse_duration(\"%s\") = %d, expected 0\n", s, r);
		fail();
	}
	if (v != want) {
		print_error("fl_parse_duration(\"%s\") gave %" PRIu64 ", expected %" PRIu64 "\n", s,
			    v, want);
		fail();
	}
}

static void duration_fails(const char *s, int want)
{
	uint64_t v = SENTINEL64;
	int r = fl_parse_duration(s, &v);

	if (r != want) {
		print_error("fl_parse_duration(\"%s\") = %d, expected %d\n", s, r, want);
		fail();
	}
	if (v != SENTINEL64) {
		print_error("fl_parse_duration(\"%s\") failed but wrote %" PRIu64 "\n", s, v);
		fail();
	}
}

static void percent_ok(const char *s, uint32_t want)
{
	uint32_t v = SENTINEL32;
	int r = fl_parse_percent(s, &v);

	if (r != 0 || v != want) {
		print_error("fl_parse_percent(\"%s\") = %d, %" PRIu32 "; expected 0, %" PRIu32 "\n",
			    s, r, v, want);
		fail();
	}
}

static void percent_fails(const char *s, int want)
{
	uint32_t v = SENTINEL32;
	int r = fl_parse_percent(s, &v);

	if (r != want || v != SENTINEL32) {
		print_error("fl_parse_percent(\"%s\") = %d, out %" PRIu32
			    "; expected %d, out untouched\n",
			    s, r, v, want);
		fail();
	}
}

static void rate_ok(const char *s, uint64_t want)
{
	uint64_t v = SENTINEL64;
	int r = fl_parse_rate(s, &v);

	if (r != 0 || v != want) {
		print_error("fl_parse_rate(\"%s\") = %d, %" PRIu64 "; expected 0, %" PRIu64 "\n", s,
			    r, v, want);
		fail();
	}
}

static void rate_fails(const char *s, int want)
{
	uint64_t v = SENTINEL64;
	int r = fl_parse_rate(s, &v);

	if (r != want || v != SENTINEL64) {
		print_error("fl_parse_rate(\"%s\") = %d, out %" PRIu64
			    "; expected %d, out untouched\n",
			    s, r, v, want);
		fail();
	}
}

static void micros_ok(const char *s, uint64_t want)
{
	uint64_t v = SENTINEL64;
	int r = fl_parse_micros(s, &v);

	if (r != 0 || v != want) {
		print_error("fl_parse_micros(\"%s\") = %d, %" PRIu64 "; expected 0, %" PRIu64 "\n",
			    s, r, v, want);
		fail();
	}
}

static void micros_fails(const char *s, int want)
{
	uint64_t v = SENTINEL64;
	int r = fl_parse_micros(s, &v);

	if (r != want || v != SENTINEL64) {
		print_error("fl_parse_micros(\"%s\") = %d, out %" PRIu64
			    "; expected %d, out untouched\n",
			    s, r, v, want);
		fail();
	}
}

static void u64_ok(const char *s, uint64_t want)
{
	uint64_t v = SENTINEL64;
	int r = fl_parse_u64(s, &v);

	if (r != 0 || v != want) {
		print_error("fl_parse_u64(\"%s\") = %d, %" PRIu64 "; expected 0, %" PRIu64 "\n", s,
			    r, v, want);
		fail();
	}
}

static void u64_fails(const char *s, int want)
{
	uint64_t v = SENTINEL64;
	int r = fl_parse_u64(s, &v);

	if (r != want || v != SENTINEL64) {
		print_error("fl_parse_u64(\"%s\") = %d, out %" PRIu64
			    "; expected %d, out untouched\n",
			    s, r, v, want);
		fail();
	}
}

/* ---- durations ----------------------------------------------------------- */

static void test_duration_units(void **state)
{
	duration_ok("7ns", 7);
	duration_ok("7us", UINT64_C(7000));
	duration_ok("7ms", UINT64_C(7000000));
	duration_ok("7s", UINT64_C(7000000000));
	duration_ok("7m", UINT64_C(420000000000));
	duration_ok("7h", UINT64_C(25200000000000));
	duration_ok("300ms", UINT64_C(300000000));
	duration_ok("50s", UINT64_C(50000000000));
	duration_ok("15h", UINT64_C(54000000000000));
	duration_ok("1000000us", UINT64_C(1000000000));
	duration_ok("007s", UINT64_C(7000000000));
}

static void test_duration_decimals(void **state)
{
	duration_ok("0.1s", UINT64_C(100000000));
	duration_ok("1.5s", UINT64_C(1500000000));
	duration_ok("2.25ms", UINT64_C(2250000));
	duration_ok("0.001us", 1);
	duration_ok("1.001us", UINT64_C(1001));
	duration_ok("0.000000001s", 1);
	duration_ok("0.123456789s", UINT64_C(123456789));
	duration_ok("0.5m", UINT64_C(30000000000));
	duration_ok("0.25h", UINT64_C(900000000000));
	duration_ok("0.0000000001h", UINT64_C(360)); /* 1e-10 h = 360 ns */
	/* Trailing zeros past the unit's resolution are still exact. */
	duration_ok("2.000000000s", UINT64_C(2000000000));
	duration_ok("1.5000000000000s", UINT64_C(1500000000));
	duration_ok("7.0ns", 7);
	/* The documented examples (docs/scenario-format.md). */
	duration_ok("2.5m", UINT64_C(150000000000));
	duration_ok("41.5h", UINT64_C(149400000000000));
	duration_ok(".5s", UINT64_C(500000000));
	duration_ok("5.s", UINT64_C(5000000000));
}

static void test_duration_zero(void **state)
{
	/* Zero is zero in every unit, so it needs none. */
	duration_ok("0", 0);
	duration_ok("00", 0);
	duration_ok("0.0", 0);
	duration_ok("0s", 0);
	duration_ok("0ms", 0);
	duration_ok("0.000h", 0);
}

/* Compound durations: units in decreasing order, each once. */
static void test_duration_compound(void **state)
{
	static const struct {
		const char *text;
		uint64_t ns;
	} ok[] = {
		{ "1h30m", 5400 * FL_NSEC_PER_SEC },
		{ "2m30.5s", 150500 * FL_NSEC_PER_MSEC },
		{ "1h0m", 3600 * FL_NSEC_PER_SEC },
		{ "1s500ms", 1500 * FL_NSEC_PER_MSEC },
		{ "47h30m", 171000 * FL_NSEC_PER_SEC },
	};
	static const char *const bad[] = { "30m1h", "1h1h", "1h30", "1hx", "1s 500ms", "ms" };
	(void)state;
	for (size_t i = 0; i < ELEMENTSOF(ok); i++) {
		uint64_t v = 7;
		assert_int_equal(fl_parse_duration(ok[i].text, &v), 0);
		assert_int_equal(v, ok[i].ns);
	}
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		uint64_t v = 7;
		assert_int_equal(fl_parse_duration(bad[i], &v), -EINVAL);
		assert_int_equal(v, 7);
	}
}

static void test_duration_syntax_errors(void **state)
{
	/* clang-format off */
	static const char *const bad[] = {
		"5",     "5 s",   "5sec",  "-1s",  "+1s",  "",     "s",     " 5s",  "5s ",
		"5S",    "5Ms",   "1.5",   "0.5",  "1e3s", "0x10s", "5ss",  "1..5s", "1.2.3s",
		"5s5",   "5,5s",  "5_000s", ".",   "ms",   "5 ",    "5\n",  "5ns\n", "1d",
		"1w",    "1min",  "1hr",   "1µs",  "1_000s", "1sec",
	};
	/* clang-format on */

	for (size_t i = 0; i < ELEMENTSOF(bad); i++)
		duration_fails(bad[i], -EINVAL);
}

static void test_duration_range(void **state)
{
	/* Exactly the largest value: 18446744073.709551615 s. */
	duration_ok("18446744073.709551615s", UINT64_MAX);
	duration_ok("18446744073s", UINT64_C(18446744073000000000));
	duration_ok("5124095h", UINT64_C(18446742000000000000));
	duration_ok("307445734m", UINT64_C(18446744040000000000));
	duration_ok("18446744073709551609ns", UINT64_C(18446744073709551609));

	duration_fails("18446744073.709551616s", -ERANGE);
	duration_fails("18446744074s", -ERANGE);
	duration_fails("5124096h", -ERANGE);
	duration_fails("307445735m", -ERANGE);
	duration_fails("18446744073709551616ns", -ERANGE);
	duration_fails("99999999999999999999999999s", -ERANGE);
}

static void test_duration_subnanosecond(void **state)
{
	duration_fails("1.5ns", -ERANGE);
	duration_fails("0.1ns", -ERANGE);
	duration_fails("0.0001us", -ERANGE);
	duration_fails("0.0000001ms", -ERANGE);
	duration_fails("0.0000000001s", -ERANGE);
	duration_fails("1.0000000001s", -ERANGE);
	duration_fails("0.00000000000001h", -ERANGE); /* 36 ps */
}

/* ---- percentages --------------------------------------------------------- */

static void test_percent(void **state)
{
	percent_ok("10%", UINT32_C(100000000));
	percent_ok("0%", 0);
	percent_ok("0.0%", 0);
	percent_ok("100%", UINT32_C(1000000000));
	percent_ok("100.0000000%", UINT32_C(1000000000));
	percent_ok("0.0000001%", 1);
	percent_ok("0.25%", UINT32_C(2500000));
	percent_ok("95%", UINT32_C(950000000));
	percent_ok("33.3333333%", UINT32_C(333333333));
	percent_ok("99.9999999%", UINT32_C(999999999));
	percent_ok("1.5%", UINT32_C(15000000));
	percent_ok("0.0000001000%", 1);
	assert_u64_equal(FL_PPB_100, UINT64_C(1000000000));
}

static void test_percent_errors(void **state)
{
	/* clang-format off */
	static const char *const syntax[] = {
		"10",  "%",   "",     "10 %", " 10%", "10%%", "-5%", "+5%", "ten%", "10%x",
		"1e1%", "10pct", "0.1", "%10", "10 ",  "1,5%", ".%",
	};
	/* clang-format on */

	for (size_t i = 0; i < ELEMENTSOF(syntax); i++)
		percent_fails(syntax[i], -EINVAL);

	percent_fails("100.0000001%", -ERANGE);
	percent_fails("101%", -ERANGE);
	percent_fails("1000%", -ERANGE);
	/* Not truncated to 32 bits: 2^32 ppb and multiples would wrap to 0. */
	percent_fails("429.4967296%", -ERANGE);
	percent_fails("858.9934592%", -ERANGE);
	percent_fails("4294967296%", -ERANGE);
	percent_fails("99999999999999999999999%", -ERANGE);
	/* Finer than a part per billion. */
	percent_fails("0.00000001%", -ERANGE);
	percent_fails("10.00000005%", -ERANGE);
}

/* ---- rates --------------------------------------------------------------- */

static void test_rate(void **state)
{
	rate_ok("1bit", 1);
	rate_ok("1kbit", UINT64_C(1000));
	rate_ok("1mbit", UINT64_C(1000000));
	rate_ok("1gbit", UINT64_C(1000000000));
	rate_ok("1tbit", UINT64_C(1000000000000));
	rate_ok("2.5gbit", UINT64_C(2500000000));
	rate_ok("1.5kbit", UINT64_C(1500));
	rate_ok("0.001kbit", 1);
	rate_ok("0.000000000001tbit", 1);
	rate_ok("100mbit", UINT64_C(100000000));
	rate_ok("0", 0);
	rate_ok("0bit", 0);
	rate_ok("18446744tbit", UINT64_C(18446744000000000000));
	rate_ok("18446744.073709551615tbit", UINT64_MAX);
	rate_ok("128kbit", UINT64_C(128000));
	rate_ok("0.5kbit", UINT64_C(500));
}

static void test_rate_errors(void **state)
{
	/* clang-format off */
	static const char *const syntax[] = {
		"100",  "1mbps", "1Mbit", "1 mbit", "mbit", "",   "-1kbit", "1kb",
		"1k",   "1m",    "1.5",   "1mbit ", "1bits", "1kibit", "1e6bit", "1MB",
	};
	/* clang-format on */

	for (size_t i = 0; i < ELEMENTSOF(syntax); i++)
		rate_fails(syntax[i], -EINVAL);
	rate_fails("1.5bit", -ERANGE);
	rate_fails("0.0001kbit", -ERANGE);
	rate_fails("18446745tbit", -ERANGE);
	rate_fails("18446744.073709551616tbit", -ERANGE);
}

/* ---- plain numbers ------------------------------------------------------- */

static void test_micros(void **state)
{
	micros_ok("1", UINT64_C(1000000));
	micros_ok("3600", UINT64_C(3600000000));
	micros_ok("0.5", UINT64_C(500000));
	micros_ok("0.000001", 1);
	micros_ok("2.5", UINT64_C(2500000));
	micros_ok("0", 0);
	micros_ok("1.000000000", UINT64_C(1000000));
	micros_ok("18446744073709.551615", UINT64_MAX);

	micros_fails("0.0000001", -ERANGE);
	micros_fails("18446744073710", -ERANGE);
	micros_fails("18446744073709.551616", -ERANGE);

	static const char *const syntax[] = {"",   "-1", "1s",	"1e3",	"one",
					     " 1", "1 ", "1/2", "0x10", "."};
	for (size_t i = 0; i < ELEMENTSOF(syntax); i++)
		micros_fails(syntax[i], -EINVAL);
}

static void test_u64(void **state)
{
	u64_ok("0", 0);
	u64_ok("42", 42);
	u64_ok("007", 7);
	u64_ok("4294967296", UINT64_C(4294967296));
	u64_ok("18446744073709551609", UINT64_C(18446744073709551609));

	u64_fails("18446744073709551616", -ERANGE);
	u64_fails("99999999999999999999", -ERANGE);
	static const char *const syntax[] = {"", "-1", "+1", "1.0", " 1", "1 ", "0x1", "1e3", "1k"};
	for (size_t i = 0; i < ELEMENTSOF(syntax); i++)
		u64_fails(syntax[i], -EINVAL);
}

/* ---- comparisons --------------------------------------------------------- */

static void split(const char *s, enum fl_cmp dflt, enum fl_cmp want, size_t rest_offset)
{
	enum fl_cmp c = (enum fl_cmp)99;
	const char *rest = NULL;

	fl_split_cmp(s, dflt, &c, &rest);
	if (c != want || rest != s + rest_offset) {
		print_error("fl_split_cmp(\"%s\") = %d, rest \"%s\"; expected %d, rest \"%s\"\n", s,
			    (int)c, rest ? rest : "(null)", (int)want, s + rest_offset);
		fail();
	}
}

static void test_split_cmp(void **state)
{
	split("<1s", FL_CMP_GE, FL_CMP_LT, 1);
	split("<=1s", FL_CMP_GE, FL_CMP_LE, 2);
	split(">1s", FL_CMP_LE, FL_CMP_GT, 1);
	split(">=95%", FL_CMP_LE, FL_CMP_GE, 2);
	split("==3", FL_CMP_LE, FL_CMP_EQ, 2);
	/* Spaces around the operator. */
	split("< 1s", FL_CMP_GE, FL_CMP_LT, 2);
	split("  >=   95%", FL_CMP_LE, FL_CMP_GE, 7);
	split(" <= 300ms", FL_CMP_GE, FL_CMP_LE, 4);
	/* No operator: the default, and the rest is the text after leading spaces. */
	split("95%", FL_CMP_GE, FL_CMP_GE, 0);
	split("95%", FL_CMP_LE, FL_CMP_LE, 0);
	split("1s", FL_CMP_EQ, FL_CMP_EQ, 0);
	split("  1s", FL_CMP_LT, FL_CMP_LT, 2);
	split("", FL_CMP_GT, FL_CMP_GT, 0);
	/* An operator alone leaves an empty rest; unknown operators are not operators. */
	split("<", FL_CMP_GE, FL_CMP_LT, 1);
	split("=<5", FL_CMP_GE, FL_CMP_GE, 0);
	split("=5", FL_CMP_LE, FL_CMP_LE, 0);
	split("< =5", FL_CMP_GE, FL_CMP_LT, 2);
}

static void test_cmp_to_string(void **state)
{
	assert_str(fl_cmp_to_string(FL_CMP_LT), "<");
	assert_str(fl_cmp_to_string(FL_CMP_LE), "<=");
	assert_str(fl_cmp_to_string(FL_CMP_GT), ">");
	assert_str(fl_cmp_to_string(FL_CMP_GE), ">=");
	assert_str(fl_cmp_to_string(FL_CMP_EQ), "==");

	/* Each operator's text splits back into itself. */
	for (int c = FL_CMP_LT; c <= FL_CMP_EQ; c++) {
		char buf[16];
		enum fl_cmp got;
		const char *rest;

		snprintf(buf, sizeof(buf), "%s 5s", fl_cmp_to_string((enum fl_cmp)c));
		fl_split_cmp(buf, c == FL_CMP_EQ ? FL_CMP_LT : FL_CMP_EQ, &got, &rest);
		assert_int_equal(got, c);
		assert_str(rest, "5s");
	}
}

/* ---- formatting ---------------------------------------------------------- */

static void fmt_duration(uint64_t ns, const char *want)
{
	char buf[FL_FMT_MAX];

	assert_ptr_equal(fl_format_duration(ns, buf), buf);
	if (strcmp(buf, want) != 0) {
		print_error("fl_format_duration(%" PRIu64 ") = \"%s\", expected \"%s\"\n", ns, buf,
			    want);
		fail();
	}
}

static void fmt_rate(uint64_t bps, const char *want)
{
	char buf[FL_FMT_MAX];

	assert_ptr_equal(fl_format_rate(bps, buf), buf);
	if (strcmp(buf, want) != 0) {
		print_error("fl_format_rate(%" PRIu64 ") = \"%s\", expected \"%s\"\n", bps, buf,
			    want);
		fail();
	}
}

static void fmt_percent(uint32_t ppb, const char *want)
{
	char buf[FL_FMT_MAX];

	assert_ptr_equal(fl_format_percent(ppb, buf), buf);
	if (strcmp(buf, want) != 0) {
		print_error("fl_format_percent(%" PRIu32 ") = \"%s\", expected \"%s\"\n", ppb, buf,
			    want);
		fail();
	}
}

static void test_format_duration(void **state)
{
	fmt_duration(0, "0ms");
	fmt_duration(1, "1ns");
	fmt_duration(999, "999ns");
	fmt_duration(1000, "1us");
	fmt_duration(1001, "1.001us");
	fmt_duration(1500, "1.5us");
	fmt_duration(UINT64_C(1500000), "1.5ms"); /* 1500us */
	fmt_duration(UINT64_C(300000000), "300ms");
	fmt_duration(UINT64_C(100000000), "100ms"); /* 0.1s */
	fmt_duration(UINT64_C(1000000000), "1s");
	fmt_duration(UINT64_C(1500000000), "1.5s");
	fmt_duration(UINT64_C(1234000000), "1.234s");
	fmt_duration(UINT64_C(1234500000), "1234.5ms");
	fmt_duration(UINT64_C(1234567891), "1234567.891us");
	fmt_duration(UINT64_C(1000001), "1000.001us");
	/* tc(8) has no minutes or hours. */
	fmt_duration(UINT64_C(60000000000), "60s");
	fmt_duration(UINT64_C(3600000000000), "3600s");
	fmt_duration(UINT64_MAX, "18446744073709551.615us");
}

static void test_format_rate(void **state)
{
	fmt_rate(0, "0bit");
	fmt_rate(1, "1bit");
	fmt_rate(999, "999bit");
	fmt_rate(1000, "1kbit");
	fmt_rate(1001, "1.001kbit");
	fmt_rate(1500, "1.5kbit");
	fmt_rate(UINT64_C(1000000), "1mbit");
	fmt_rate(UINT64_C(1500000), "1.5mbit");
	fmt_rate(UINT64_C(2500000000), "2.5gbit");
	fmt_rate(UINT64_C(1000000000000), "1tbit");
	fmt_rate(UINT64_C(1000000000000000), "1000tbit");
	fmt_rate(UINT64_C(1234567), "1234.567kbit");
}

static void test_format_percent(void **state)
{
	fmt_percent(0, "0%");
	fmt_percent(1, "0.0000001%");
	fmt_percent(UINT32_C(2500000), "0.25%");
	fmt_percent(UINT32_C(100000000), "10%");
	fmt_percent(UINT32_C(950000000), "95%");
	fmt_percent(UINT32_C(333333333), "33.3333333%");
	fmt_percent(UINT32_C(1000000000), "100%");
}

/* Canonical texts survive parse -> format unchanged; other spellings normalise. */
static void test_format_of_parse(void **state)
{
	/* clang-format off */
	static const struct {
		const char *in, *out;
	} durations[] = {
		{ "300ms", "300ms" }, { "1500us", "1.5ms" }, { "0.3s", "300ms" },
		{ "1m", "60s" },      { "1h", "3600s" },     { "0", "0ms" },
		{ "1.001us", "1.001us" }, { "2.5s", "2.5s" }, { "1000ms", "1s" },
		{ "0.000001s", "1us" },
	}, rates[] = {
		{ "1mbit", "1mbit" },     { "2.5gbit", "2.5gbit" }, { "1000kbit", "1mbit" },
		{ "0.5mbit", "500kbit" }, { "1500bit", "1.5kbit" }, { "0", "0bit" },
	}, percents[] = {
		{ "10%", "10%" }, { "0.25%", "0.25%" }, { "100.000%", "100%" }, { "0.0000001%", "0.0000001%" },
	};
	/* clang-format on */
	char buf[FL_FMT_MAX];
	uint64_t v;
	uint32_t p;

	for (size_t i = 0; i < ELEMENTSOF(durations); i++) {
		assert_int_equal(fl_parse_duration(durations[i].in, &v), 0);
		assert_str(fl_format_duration(v, buf), durations[i].out);
	}
	for (size_t i = 0; i < ELEMENTSOF(rates); i++) {
		assert_int_equal(fl_parse_rate(rates[i].in, &v), 0);
		assert_str(fl_format_rate(v, buf), rates[i].out);
	}
	for (size_t i = 0; i < ELEMENTSOF(percents); i++) {
		assert_int_equal(fl_parse_percent(percents[i].in, &p), 0);
		assert_str(fl_format_percent(p, buf), percents[i].out);
	}
}

/* A small deterministic generator: values of every magnitude, reproducible. */
static uint64_t next_random(uint64_t *x)
{
	/* splitmix64 */
	uint64_t z = (*x += UINT64_C(0x9e3779b97f4a7c15));
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* Values with trailing zeros in every decimal position, and random ones of every width. */
static uint64_t sample(uint64_t *seed, unsigned i)
{
	uint64_t r = next_random(seed);
	uint64_t v = r >> (r % 64);

	if (i % 3 == 0) {
		/* round to a power of ten, so units above ns are exercised */
		uint64_t p = 1;
		for (unsigned k = (unsigned)(r % 16); k > 0; k--)
			p *= 10;
		v = v / p * p;
	}
	return v;
}

static void test_round_trip_duration(void **state)
{
	static const uint64_t fixed[] = {
		0,
		1,
		9,
		10,
		999,
		1000,
		1001,
		1500,
		999999,
		1000000,
		1500000,
		300000000,
		1000000000,
		1500000000,
		UINT64_C(60000000000),
		UINT64_C(3600000000000),
		UINT64_C(54000000000000),
		UINT64_C(18446744073000000000),
		UINT64_C(18446744073709551000),
		UINT64_C(18446744073709551609),
		UINT64_MAX,
	};
	uint64_t seed = 1;
	char buf[FL_FMT_MAX];

	for (size_t i = 0; i < ELEMENTSOF(fixed) + 20000; i++) {
		uint64_t v = i < ELEMENTSOF(fixed) ? fixed[i] : sample(&seed, (unsigned)i);
		uint64_t back = SENTINEL64;
		int r;

		fl_format_duration(v, buf);
		r = fl_parse_duration(buf, &back);
		if (r != 0 || back != v) {
			print_error("%" PRIu64 " -> \"%s\" -> %d, %" PRIu64 "\n", v, buf, r, back);
			fail();
		}
	}
}

static void test_round_trip_rate(void **state)
{
	uint64_t seed = 2;
	char buf[FL_FMT_MAX];

	for (unsigned i = 0; i < 20000; i++) {
		uint64_t v = sample(&seed, i), back = SENTINEL64;
		int r;

		fl_format_rate(v, buf);
		r = fl_parse_rate(buf, &back);
		if (r != 0 || back != v) {
			print_error("%" PRIu64 " -> \"%s\" -> %d, %" PRIu64 "\n", v, buf, r, back);
			fail();
		}
	}
}

static void test_round_trip_percent(void **state)
{
	uint64_t seed = 3;
	char buf[FL_FMT_MAX];

	for (unsigned i = 0; i < 20000 + 4; i++) {
		uint32_t v, back = SENTINEL32;
		int r;

		switch (i) {
		case 0:
			v = 0;
			break;
		case 1:
			v = 1;
			break;
		case 2:
			v = FL_PPB_100 - 1;
			break;
		case 3:
			v = FL_PPB_100;
			break;
		default:
			v = (uint32_t)(sample(&seed, i) % (FL_PPB_100 + 1ULL));
		}
		fl_format_percent(v, buf);
		r = fl_parse_percent(buf, &back);
		if (r != 0 || back != v) {
			print_error("%" PRIu32 " -> \"%s\" -> %d, %" PRIu32 "\n", v, buf, r, back);
			fail();
		}
	}
}

/* ---- regressions --------------------------------------------------------- */

/*
 * More than 19 fraction digits: only zeros may follow, and the value must
 * still be written (parse_scaled() used to return 0 without a result).
 */
static void test_long_fractions(void **state)
{
	duration_ok("5.00000000000000000000s", UINT64_C(5000000000));
	duration_ok("5.000000000000000000000000000000s", UINT64_C(5000000000));
	rate_ok("1.00000000000000000000mbit", UINT64_C(1000000));
	micros_ok("2.00000000000000000000", UINT64_C(2000000));
	duration_fails("1.000000000000000000001s", -ERANGE);
	duration_fails("1.00000000000000000000000000001s", -ERANGE);
}

/* The largest integers fit (the overflow check used to refuse ...610 to ...615). */
static void test_largest_integers(void **state)
{
	u64_ok("18446744073709551615", UINT64_MAX);
	u64_ok("18446744073709551610", UINT64_C(18446744073709551610));
	duration_ok("18446744073709551615ns", UINT64_MAX);
	rate_ok("18446744073709551615bit", UINT64_MAX);
	u64_fails("18446744073709551616", -ERANGE);
	duration_fails("18446744073709551616ns", -ERANGE);
}

int main(int argc, char **argv)
{
	static const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_duration_units),
		cmocka_unit_test(test_duration_decimals),
		cmocka_unit_test(test_duration_zero),
		cmocka_unit_test(test_duration_syntax_errors),
		cmocka_unit_test(test_duration_compound),
		cmocka_unit_test(test_duration_range),
		cmocka_unit_test(test_duration_subnanosecond),
		cmocka_unit_test(test_percent),
		cmocka_unit_test(test_percent_errors),
		cmocka_unit_test(test_rate),
		cmocka_unit_test(test_rate_errors),
		cmocka_unit_test(test_micros),
		cmocka_unit_test(test_u64),
		cmocka_unit_test(test_split_cmp),
		cmocka_unit_test(test_cmp_to_string),
		cmocka_unit_test(test_format_duration),
		cmocka_unit_test(test_format_rate),
		cmocka_unit_test(test_format_percent),
		cmocka_unit_test(test_format_of_parse),
		cmocka_unit_test(test_round_trip_duration),
		cmocka_unit_test(test_round_trip_rate),
		cmocka_unit_test(test_round_trip_percent),
		cmocka_unit_test(test_long_fractions),
		cmocka_unit_test(test_largest_integers),
	};

	return fl_unit_run(argc, argv, "unit/units", tests, ELEMENTSOF(tests), NULL, 0);
}
