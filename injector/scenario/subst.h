/* SPDX-License-Identifier: MIT */
/*
 * ${NAME} substitution in scenario values, for CI: "${TARGET}",
 * "${PORT:-8443}" (a default when unset or empty), "$$" for a literal "$".
 * NAME is [A-Za-z_][A-Za-z0-9_]*.
 */
#ifndef FL_SCENARIO_SUBST_H
#define FL_SCENARIO_SUBST_H

#include <stddef.h>

typedef const char *(*fl_lookup_fn)(const char *name, void *userdata);

/*
 * Returns 0 and *ret (caller frees; a copy even when nothing changed),
 * -EINVAL with *ret_problem set to a static description and *ret_offset to
 * the byte offset of the offending "$", -ENOENT for an unset variable with
 * *ret_name (caller frees) set, or -ENOMEM. Outputs other than the one that
 * applies are untouched.
 */
int fl_subst(const char *in, fl_lookup_fn lookup, void *userdata, char **ret, char **ret_name,
	     const char **ret_problem, size_t *ret_offset);

#endif
