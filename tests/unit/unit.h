/* SPDX-License-Identifier: MIT */
/*
 * Shared by the cmocka unit tests: includes in the order cmocka needs, and
 * assertions that print 64-bit values in decimal (cmocka prints hex).
 *
 * Each test program runs its regular group. With --known-bugs it runs
 * instead the tests that pin down reported library bugs: those fail until
 * the bug is fixed, and ctest runs them as unit/<module>/known-bugs with the
 * label known-bug (ctest -LE known-bug skips them).
 */
#ifndef FL_TESTS_UNIT_H
#define FL_TESTS_UNIT_H

#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "util/macro.h"

#define assert_u64_equal(a, b)                                                                     \
	do {                                                                                       \
		uint64_t _a = (uint64_t)(a), _b = (uint64_t)(b);                                   \
		if (_a != _b) {                                                                    \
			print_error("%s is %" PRIu64 ", expected %" PRIu64 " (%s)\n", #a, _a, _b,  \
				    #b);                                                           \
			fail();                                                                    \
		}                                                                                  \
	} while (0)

/* Strings, NULL-safe, naming the expression on failure. */
#define assert_str(a, b)                                                                           \
	do {                                                                                       \
		const char *_a = (a), *_b = (b);                                                   \
		if (!_a || !_b || strcmp(_a, _b) != 0) {                                           \
			print_error("%s is \"%s\", expected \"%s\"\n", #a, _a ? _a : "(null)",     \
				    _b ? _b : "(null)");                                           \
			fail();                                                                    \
		}                                                                                  \
	} while (0)

#define assert_contains(haystack, needle)                                                          \
	do {                                                                                       \
		const char *_h = (haystack), *_n = (needle);                                       \
		if (!_h || !strstr(_h, _n)) {                                                      \
			print_error("%s is \"%s\", expected it to contain \"%s\"\n", #haystack,    \
				    _h ? _h : "(null)", _n);                                       \
			fail();                                                                    \
		}                                                                                  \
	} while (0)

static inline int fl_unit_run(int argc, char **argv, const char *name,
			      const struct CMUnitTest *tests, size_t n_tests,
			      const struct CMUnitTest *bugs, size_t n_bugs)
{
	if (argc > 1 && strcmp(argv[1], "--known-bugs") == 0)
		return _cmocka_run_group_tests("known bugs", bugs, n_bugs, NULL, NULL);
	return _cmocka_run_group_tests(name, tests, n_tests, NULL, NULL);
}

#endif
