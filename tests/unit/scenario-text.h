/* SPDX-License-Identifier: MIT */
/*
 * Shared by the cmocka tests that start from scenario text: parse it (with
 * ${VARS} from a NAME, VALUE, ..., NULL list), failing the test with the
 * located diagnostics when it does not parse.
 */
#ifndef FL_TESTS_SCENARIO_TEXT_H
#define FL_TESTS_SCENARIO_TEXT_H

#include "unit.h"
#include "scenario/parse.h"

struct test_env {
	const char *const *vars; /* NAME, VALUE, ..., NULL */
	unsigned calls;          /* how many lookups the parser made */
};

static inline const char *test_getenv(const char *name, void *userdata)
{
	struct test_env *env = userdata;

	if (env)
		env->calls++;
	for (size_t i = 0; env && env->vars && env->vars[i]; i += 2)
		if (strcmp(env->vars[i], name) == 0)
			return env->vars[i + 1];
	return NULL;
}

static inline void print_diag(const struct fl_diag *d)
{
	for (size_t i = 0; i < d->n; i++)
		print_error("  %u:%u: %s\n", d->entries[i].pos.line, d->entries[i].pos.col,
			    d->entries[i].message);
}

static inline struct fl_scenario *parse_scenario_env(const char *yaml, const char *const *vars)
{
	struct test_env env = { .vars = vars };
	struct fl_parse_options opts = { .getenv = test_getenv, .userdata = &env };
	struct fl_scenario *s = NULL;
	struct fl_diag d;
	int r;

	fl_diag_init(&d, "test.yaml");
	r = fl_scenario_parse("test.yaml", yaml, strlen(yaml), &opts, &d, &s);
	if (r != 0) {
		print_diag(&d);
		fl_diag_done(&d);
		fail_msg("fl_scenario_parse() = %d", r);
	}
	if (fl_diag_count(&d) != 0) {
		print_diag(&d);
		fl_diag_done(&d);
		fail_msg("fl_scenario_parse() succeeded with diagnostics");
	}
	fl_diag_done(&d);
	assert_non_null(s);
	return s;
}

static inline struct fl_scenario *parse_scenario(const char *yaml)
{
	return parse_scenario_env(yaml, NULL);
}

#endif
