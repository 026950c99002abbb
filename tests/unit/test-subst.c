/* SPDX-License-Identifier: MIT */
/* injector/scenario/subst.c: ${NAME} substitution, through a fake environment only. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include "unit.h"
#include "alloc-fail.h"
#include "scenario/subst.h"

struct fake_env {
	const char *const *vars; /* NAME, VALUE, NAME, VALUE, ..., NULL */
	unsigned calls;
	char last[64]; /* the name last looked up */
};

/* clang-format off */
static const char *const default_vars[] = {
	"HOST",  "10.0.0.1",
	"PORT",  "8443",
	"EMPTY", "",
	"_x9",   "underscore",
	"META",  "${HOST}", /* a value is not substituted again */
	"DOLLAR", "$$",
	NULL,
};
/* clang-format on */

static const char *fake_lookup(const char *name, void *userdata)
{
	struct fake_env *env = userdata;

	assert_non_null(env);
	env->calls++;
	snprintf(env->last, sizeof(env->last), "%s", name);
	for (size_t i = 0; env->vars[i]; i += 2)
		if (strcmp(env->vars[i], name) == 0)
			return env->vars[i + 1];
	return NULL;
}

static void subst_ok(const char *in, const char *want)
{
	struct fake_env env = {.vars = default_vars};
	char *out = NULL, *name = (char *)"untouched";
	const char *problem = "untouched";
	size_t off = 4242;
	int r;

	r = fl_subst(in, fake_lookup, &env, &out, &name, &problem, &off);
	if (r != 0) {
		print_error("fl_subst(\"%s\") = %d, expected 0\n", in, r);
		fail();
	}
	assert_str(out, want);
	/* Always a fresh copy the caller frees, even when nothing changed. */
	assert_ptr_not_equal(out, in);
	assert_str(name, "untouched");
	assert_str(problem, "untouched");
	assert_int_equal(off, 4242);
	free(out);
}

static void subst_invalid(const char *in, const char *want_problem, size_t want_off)
{
	struct fake_env env = {.vars = default_vars};
	char *out = (char *)"untouched", *name = (char *)"untouched";
	const char *problem = NULL;
	size_t off = 4242;
	int r;

	r = fl_subst(in, fake_lookup, &env, &out, &name, &problem, &off);
	if (r != -EINVAL) {
		print_error("fl_subst(\"%s\") = %d, expected -EINVAL\n", in, r);
		if (r == 0)
			free(out);
		fail();
	}
	assert_str(problem, want_problem);
	if (off != want_off) {
		print_error("fl_subst(\"%s\"): offset %zu, expected %zu\n", in, off, want_off);
		fail();
	}
	assert_str(out, "untouched");
	assert_str(name, "untouched");
}

static void subst_unset(const char *in, const char *want_name, size_t want_off)
{
	struct fake_env env = {.vars = default_vars};
	char *out = (char *)"untouched", *name = NULL;
	const char *problem = "untouched";
	size_t off = 4242;
	int r;

	r = fl_subst(in, fake_lookup, &env, &out, &name, &problem, &off);
	if (r != -ENOENT) {
		print_error("fl_subst(\"%s\") = %d, expected -ENOENT\n", in, r);
		if (r == 0)
			free(out);
		fail();
	}
	assert_str(name, want_name);
	assert_int_equal(off, want_off);
	assert_str(out, "untouched");
	assert_str(problem, "untouched");
	free(name);
}

static void test_plain(void **state)
{
	subst_ok("", "");
	subst_ok("plain text", "plain text");
	subst_ok("{HOST}", "{HOST}");
	subst_ok("}", "}");
}

static void test_variables(void **state)
{
	subst_ok("${HOST}", "10.0.0.1");
	subst_ok("http://${HOST}:${PORT}/x", "http://10.0.0.1:8443/x");
	subst_ok("${HOST}${PORT}", "10.0.0.18443");
	subst_ok("${_x9}", "underscore");
	subst_ok("a${EMPTY}b", "ab"); /* set but empty, no default: empty */
	subst_ok("${META}", "${HOST}");
	subst_ok("${DOLLAR}", "$$");
	subst_ok("${HOST}}", "10.0.0.1}");
}

static void test_defaults(void **state)
{
	subst_ok("${UNSET:-9090}", "9090");
	subst_ok("${PORT:-1}", "8443");
	subst_ok("${EMPTY:-fallback}", "fallback");
	subst_ok("${UNSET:-}", "");
	subst_ok("x${UNSET:-a b c}y", "xa b cy");
	subst_ok("${UNSET:-http://h:80/p}", "http://h:80/p");
	subst_ok("${UNSET:--}", "-");
	subst_ok("${UNSET:-10.0.0.1}:${PORT:-80}", "10.0.0.1:8443");
}

static void test_dollars(void **state)
{
	subst_ok("$$", "$");
	subst_ok("$$$$", "$$");
	subst_ok("$${HOST}", "${HOST}");
	subst_ok("cost: $5", "cost: $5");
	subst_ok("$", "$");
	subst_ok("a$", "a$");
	subst_ok("^a$|b$", "^a$|b$");
	subst_ok("$$$", "$$");
	subst_ok("$HOST", "$HOST"); /* only the braced form substitutes */
	subst_ok("$ {HOST}", "$ {HOST}");
	subst_ok("$$$${HOST}", "$${HOST}");
	subst_ok("$$${HOST}", "$10.0.0.1");
}

static void test_invalid(void **state)
{
	static const char *const bad_name = "bad variable name after '${'";
	static const char *const unterminated = "unterminated '${'";

	subst_invalid("${HOST", unterminated, 0);
	subst_invalid("x${UNSET:-abc", unterminated, 1);
	subst_invalid("ok ${HOST} ${PORT", unterminated, 11);
	subst_invalid("${1A}", bad_name, 0);
	subst_invalid("${}", bad_name, 0);
	subst_invalid("ab${9}", bad_name, 2);
	subst_invalid("${A-B}", bad_name, 0);
	subst_invalid("${A B}", bad_name, 0);
	subst_invalid("${A:B}", bad_name, 0);
	subst_invalid("${A:}", bad_name, 0);
	subst_invalid("${-}", bad_name, 0);
	subst_invalid("${HOST.x}", bad_name, 0);
	subst_invalid("${ HOST}", bad_name, 0);
	subst_invalid("${${HOST}}", bad_name, 0);
	subst_invalid("$${HOST} ${!}", bad_name, 9);
}

static void test_unset(void **state)
{
	subst_unset("${NOPE}", "NOPE", 0);
	subst_unset("x ${NOPE} y", "NOPE", 2);
	subst_unset("${HOST}${NOPE1}${NOPE2}", "NOPE1", 7);
	subst_unset("$$ ${A_B_1}", "A_B_1", 3);
}

static void test_lookup_calls(void **state)
{
	struct fake_env env = {.vars = default_vars};
	char *out = NULL, *name = NULL;
	const char *problem = NULL;
	size_t off = 0;

	/* The lookup sees the bare name (not the default) and our userdata. */
	assert_int_equal(fl_subst("${PORT:-1}", fake_lookup, &env, &out, &name, &problem, &off), 0);
	assert_str(out, "8443");
	assert_str(env.last, "PORT");
	assert_int_equal(env.calls, 1);
	free(out);

	/* Once per reference; none for text without references, or for "$$". */
	env.calls = 0;
	assert_int_equal(fl_subst("${HOST}-${HOST}-${UNSET:-z}", fake_lookup, &env, &out, &name,
				  &problem, &off),
			 0);
	assert_str(out, "10.0.0.1-10.0.0.1-z");
	assert_int_equal(env.calls, 3);
	assert_str(env.last, "UNSET");
	free(out);

	env.calls = 0;
	assert_int_equal(fl_subst("no refs $$ $x", fake_lookup, &env, &out, &name, &problem, &off),
			 0);
	assert_int_equal(env.calls, 0);
	free(out);
}

/* The real environment is never consulted: only the lookup function is. */
static void test_not_the_environment(void **state)
{
	static const char *const none[] = {NULL};
	struct fake_env env = {.vars = none};
	char *out = NULL, *name = NULL;
	const char *problem = NULL;
	size_t off = 0;

	assert_int_equal(setenv("FL_UNIT_SUBST_REAL", "from-the-environment", 1), 0);
	assert_int_equal(
		fl_subst("${FL_UNIT_SUBST_REAL}", fake_lookup, &env, &out, &name, &problem, &off),
		-ENOENT);
	assert_null(out);
	assert_str(name, "FL_UNIT_SUBST_REAL");
	free(name);
	name = NULL;
	assert_int_equal(fl_subst("${FL_UNIT_SUBST_REAL:-d}", fake_lookup, &env, &out, &name,
				  &problem, &off),
			 0);
	assert_str(out, "d");
	free(out);
	unsetenv("FL_UNIT_SUBST_REAL");
}

/* Long inputs and values grow the buffer correctly. */
static void test_long(void **state)
{
	static char big[5000];
	const char *vars[] = {"BIG", big, NULL};
	struct fake_env env = {.vars = vars};
	char *out = NULL, *name = NULL;
	const char *problem = NULL;
	size_t off = 0;
	char in[400];

	memset(big, 'v', sizeof(big) - 1);
	/* 40 references, separated by text */
	in[0] = '\0';
	for (int i = 0; i < 40; i++)
		strcat(in, "ab${BIG}");
	assert_int_equal(fl_subst(in, fake_lookup, &env, &out, &name, &problem, &off), 0);
	assert_int_equal(strlen(out), 40 * (2 + sizeof(big) - 1));
	assert_memory_equal(out, "ab", 2);
	assert_memory_equal(out + 2, big, sizeof(big) - 1);
	assert_str(out + strlen(out) - (sizeof(big) - 1), big);
	free(out);
}

/* Each allocation failing in turn: -ENOMEM, and every output untouched. */
static void test_oom(void **state)
{
	static const char *const inputs[] = {"plain", "", "a${HOST}b${UNSET:-c}$$", "${NOPE}"};

	for (size_t i = 0; i < ELEMENTSOF(inputs); i++) {
		long n;

		for (n = 0;; n++) {
			struct fake_env env = {.vars = default_vars};
			char *out = (char *)"untouched", *name = (char *)"untouched";
			const char *problem = "untouched";
			size_t off = 4242;
			bool failed;
			int r;

			fl_alloc_fail_at(n);
			r = fl_subst(inputs[i], fake_lookup, &env, &out, &name, &problem, &off);
			failed = fl_alloc_failed();
			fl_alloc_fail_at(-1);
			if (!failed) {
				assert_true(r == 0 || r == -ENOENT);
				if (r == 0)
					free(out);
				else
					free(name);
				break;
			}
			if (r == -ENOENT) {
				/* the unset variable is the error that applies; a lost buffer is
				 * moot */
				assert_str(name, "NOPE");
				free(name);
				continue;
			}
			assert_int_equal(r, -ENOMEM);
			assert_str(out, "untouched");
			assert_str(name, "untouched");
			assert_str(problem, "untouched");
			assert_int_equal(off, 4242);
		}
		assert_true(n >= 1);
	}
}

int main(int argc, char **argv)
{
	static const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain),	     cmocka_unit_test(test_variables),
		cmocka_unit_test(test_defaults),     cmocka_unit_test(test_dollars),
		cmocka_unit_test(test_invalid),	     cmocka_unit_test(test_unset),
		cmocka_unit_test(test_lookup_calls), cmocka_unit_test(test_not_the_environment),
		cmocka_unit_test(test_long),	     cmocka_unit_test(test_oom),
	};

	return fl_unit_run(argc, argv, "unit/subst", tests, ELEMENTSOF(tests), NULL, 0);
}
