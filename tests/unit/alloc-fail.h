/* SPDX-License-Identifier: MIT */
/*
 * Allocation failure injection for the unit tests. Executables linked with
 * FL_UNIT_WRAP_ALLOC (CMakeLists.txt) send the library's calls to malloc,
 * calloc, realloc, reallocarray, strdup, strndup and vasprintf through
 * wrappers that fail the n-th call (0-based) after fl_alloc_fail_at(n).
 * Calls from inside libc or shared libraries (libyaml) are not affected.
 */
#ifndef FL_TESTS_ALLOC_FAIL_H
#define FL_TESTS_ALLOC_FAIL_H

#include <stdbool.h>

/* Fail the n-th allocation from now (and only that one); n < 0: never. */
void fl_alloc_fail_at(long n);
/* Whether an allocation was failed since the last fl_alloc_fail_at(). */
bool fl_alloc_failed(void);

#endif
