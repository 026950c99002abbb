/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include "util/macro.h"
#include "util/units.h"

struct unit {
	const char *name;
	uint64_t factor;
};

static const struct unit duration_units[] = {
	{ "ns", 1 },
	{ "us", FL_NSEC_PER_USEC },
	{ "ms", FL_NSEC_PER_MSEC },
	{ "s", FL_NSEC_PER_SEC },
	{ "m", 60 * FL_NSEC_PER_SEC },
	{ "h", 3600 * FL_NSEC_PER_SEC },
};

static const struct unit rate_units[] = {
	{ "bit", 1 },
	{ "kbit", 1000ULL },
	{ "mbit", 1000000ULL },
	{ "gbit", 1000000000ULL },
	{ "tbit", 1000000000000ULL },
};

/*
 * Parses "123.456" followed by a suffix; value = number * factor, computed
 * exactly. Fraction digits beyond what factor can represent must be zero.
 */
static int parse_scaled(const char *s, const struct unit *units, size_t n_units, bool unit_required,
			uint64_t *ret)
{
	const char *p = s, *frac = NULL, *end;
	size_t nint = 0, nfrac = 0;

	while (*p >= '0' && *p <= '9') {
		p++;
		nint++;
	}
	if (*p == '.') {
		frac = ++p;
		while (*p >= '0' && *p <= '9') {
			p++;
			nfrac++;
		}
	}
	if (nint == 0 && nfrac == 0)
		return -EINVAL;
	end = p;

	uint64_t factor = 0;
	if (*end == '\0') {
		if (unit_required) {
			/* Zero needs no unit: "0" is zero in every unit. */
			for (const char *q = s; q < end; q++)
				if (*q != '0' && *q != '.')
					return -EINVAL;
		}
		factor = units ? units[0].factor : 1;
	} else {
		for (size_t i = 0; i < n_units; i++)
			if (strcmp(end, units[i].name) == 0)
				factor = units[i].factor;
		if (factor == 0)
			return -EINVAL;
	}

	uint64_t v = 0;
	for (const char *q = s; q < s + nint; q++) {
		unsigned d = (unsigned)(*q - '0');
		if (v > UINT64_MAX / 10 || (v == UINT64_MAX / 10 && d > UINT64_MAX % 10))
			return -ERANGE;
		v = v * 10 + d;
	}
	if (factor && v > UINT64_MAX / factor)
		return -ERANGE;
	v *= factor;

	/* Fraction: digit i contributes digit * factor / 10^(i+1), which must be whole. */
	uint64_t div = 1;
	for (size_t i = 0; i < nfrac; i++) {
		unsigned d = (unsigned)(frac[i] - '0');
		if (div > UINT64_MAX / 10) {
			/* Past 19 digits nothing is representable: only zeros may follow. */
			if (d)
				return -ERANGE;
			continue;
		}
		div *= 10;
		if (d == 0)
			continue;
		if (factor % div != 0)
			return -ERANGE; /* finer than the unit's resolution */
		uint64_t add = d * (factor / div);
		if (v > UINT64_MAX - add)
			return -ERANGE;
		v += add;
	}
	*ret = v;
	return 0;
}

static uint64_t unit_factor(const char *u, size_t n)
{
	for (size_t i = 0; i < ELEMENTSOF(duration_units); i++)
		if (strlen(duration_units[i].name) == n && strncmp(u, duration_units[i].name, n) == 0)
			return duration_units[i].factor;
	return 0;
}

/* "300ms", and compounds with units in decreasing order: "1h30m", "2m30.5s". */
int fl_parse_duration(const char *s, uint64_t *ret_ns)
{
	uint64_t total = 0, last_factor = UINT64_MAX;
	const char *p = s;
	size_t parts = 0;

	if (!*s)
		return -EINVAL;
	while (*p) {
		const char *num = p, *unit;
		char part[64];
		uint64_t v, f;
		int r;

		while ((*p >= '0' && *p <= '9') || *p == '.')
			p++;
		unit = p;
		while ((*p >= 'a' && *p <= 'z'))
			p++;
		if (p == num || (size_t)(p - num) >= sizeof(part))
			return -EINVAL;
		f = unit_factor(unit, (size_t)(p - unit));
		if (unit == p) {
			/* A bare number: only "0", and only alone. */
			if (parts || *p)
				return -EINVAL;
		} else if (!f || f >= last_factor) {
			return -EINVAL;
		}
		memcpy(part, num, (size_t)(p - num));
		part[p - num] = '\0';
		r = parse_scaled(part, duration_units, ELEMENTSOF(duration_units), true, &v);
		if (r < 0)
			return r;
		if (v > UINT64_MAX - total)
			return -ERANGE;
		total += v;
		last_factor = f ? f : 1;
		parts++;
	}
	*ret_ns = total;
	return 0;
}

int fl_parse_rate(const char *s, uint64_t *ret_bps)
{
	uint64_t v;
	int r = parse_scaled(s, rate_units, ELEMENTSOF(rate_units), true, &v);

	if (r < 0)
		return r;
	*ret_bps = v;
	return 0;
}

int fl_parse_percent(const char *s, uint32_t *ret_ppb)
{
	static const struct unit pct[] = { { "%", FL_PPB_100 / 100 } };
	uint64_t v;
	size_t n = strlen(s);
	int r;

	if (n == 0 || s[n - 1] != '%')
		return -EINVAL;
	r = parse_scaled(s, pct, 1, false, &v);
	if (r < 0)
		return r;
	if (v > FL_PPB_100)
		return -ERANGE;
	*ret_ppb = (uint32_t)v;
	return 0;
}

int fl_parse_micros(const char *s, uint64_t *ret_micro)
{
	static const struct unit one[] = { { "", 1000000ULL } };

	return parse_scaled(s, one, 1, false, ret_micro);
}

int fl_parse_u64(const char *s, uint64_t *ret)
{
	uint64_t v = 0;

	if (!*s)
		return -EINVAL;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		unsigned d = (unsigned)(*p - '0');
		if (v > UINT64_MAX / 10 || (v == UINT64_MAX / 10 && d > UINT64_MAX % 10))
			return -ERANGE;
		v = v * 10 + d;
	}
	*ret = v;
	return 0;
}

void fl_split_cmp(const char *s, enum fl_cmp dflt, enum fl_cmp *ret_cmp, const char **ret_rest)
{
	static const struct {
		const char *op;
		enum fl_cmp cmp;
	} ops[] = {
		/* Two-character operators first, so "<=" is not read as "<". */
		{ "<=", FL_CMP_LE }, { ">=", FL_CMP_GE }, { "==", FL_CMP_EQ },
		{ "<", FL_CMP_LT },  { ">", FL_CMP_GT },
	};

	while (*s == ' ')
		s++;
	for (size_t i = 0; i < ELEMENTSOF(ops); i++) {
		size_t n = strlen(ops[i].op);
		if (strncmp(s, ops[i].op, n) == 0) {
			s += n;
			while (*s == ' ')
				s++;
			*ret_cmp = ops[i].cmp;
			*ret_rest = s;
			return;
		}
	}
	*ret_cmp = dflt;
	*ret_rest = s;
}

const char *fl_cmp_to_string(enum fl_cmp c)
{
	static const char *const names[] = {
		[FL_CMP_LT] = "<", [FL_CMP_LE] = "<=", [FL_CMP_GT] = ">",
		[FL_CMP_GE] = ">=", [FL_CMP_EQ] = "==",
	};
	return names[c];
}

/* value / factor as an exact decimal; returns false if it is not exact within 9 digits. */
static bool format_exact(uint64_t v, uint64_t factor, const char *unit, char *buf)
{
	uint64_t ip = v / factor, rem = v % factor;
	char frac[24] = "";
	size_t n = 0;

	while (rem && n < 9) {
		rem *= 10;
		frac[n++] = (char)('0' + rem / factor);
		rem %= factor;
	}
	if (rem)
		return false;
	frac[n] = '\0';
	snprintf(buf, FL_FMT_MAX, "%llu%s%s%s", (unsigned long long)ip, n ? "." : "", frac, unit);
	return true;
}

static char *format_units(uint64_t v, const struct unit *units, size_t n, char *buf)
{
	/* Largest unit in which the value has at most three fraction digits. */
	for (size_t i = n; i-- > 0;) {
		uint64_t f = units[i].factor;
		if (v >= f && (v % f == 0 || (f >= 1000 && v % (f / 1000) == 0)))
			if (format_exact(v, f, units[i].name, buf))
				return buf;
	}
	format_exact(v, units[0].factor, units[0].name, buf);
	return buf;
}

char *fl_format_duration(uint64_t ns, char buf[static FL_FMT_MAX])
{
	/* tc(8) has no minutes or hours: stay within s/ms/us/ns. */
	if (ns == 0) {
		snprintf(buf, FL_FMT_MAX, "0ms");
		return buf;
	}
	return format_units(ns, duration_units, 4, buf);
}

char *fl_format_rate(uint64_t bps, char buf[static FL_FMT_MAX])
{
	return format_units(bps, rate_units, ELEMENTSOF(rate_units), buf);
}

char *fl_format_percent(uint32_t ppb, char buf[static FL_FMT_MAX])
{
	format_exact(ppb, FL_PPB_100 / 100, "%", buf);
	return buf;
}

char *fl_format_duration_human(uint64_t ns, char buf[static FL_FMT_MAX])
{
	uint64_t h = ns / (3600 * FL_NSEC_PER_SEC), m = ns / (60 * FL_NSEC_PER_SEC) % 60;
	uint64_t rest = ns % (60 * FL_NSEC_PER_SEC);
	char sec[FL_FMT_MAX];
	int n = 0;

	if (ns < 60 * FL_NSEC_PER_SEC)
		return ns ? fl_format_duration(ns, buf) : strcpy(buf, "0s");
	if (h)
		n += snprintf(buf + n, FL_FMT_MAX - (size_t)n, "%lluh", (unsigned long long)h);
	if (m)
		n += snprintf(buf + n, FL_FMT_MAX - (size_t)n, "%llum", (unsigned long long)m);
	if (rest) {
		format_exact(rest, FL_NSEC_PER_SEC, "s", sec);
		snprintf(buf + n, FL_FMT_MAX - (size_t)n, "%s", sec);
	}
	return buf;
}
