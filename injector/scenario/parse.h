/* SPDX-License-Identifier: MIT */
/*
 * Scenario text -> model. Parsing (YAML structure, types, units) and
 * validation (references, time order, contradictory faults) both report
 * located errors into a struct fl_diag and keep going, so one pass shows
 * many mistakes. Nothing here touches the network or resolves hostnames.
 *
 * Returns 0 and *ret_scenario (caller frees with fl_scenario_free), or:
 *   -EINVAL  the input is invalid; diag holds at least one located error;
 *   -ENOMEM;
 *   -errno   the file could not be read (fl_scenario_load only).
 * *ret_scenario is untouched on failure.
 */
#ifndef FL_SCENARIO_PARSE_H
#define FL_SCENARIO_PARSE_H

#include <stddef.h>
#include "scenario/model.h"
#include "util/diag.h"

/* Scenario files larger than this are refused: a scenario is a page, not a data set. */
#define FL_SCENARIO_MAX_BYTES (16u << 20)

struct fl_parse_options {
	/*
	 * Looks up ${NAME} for substitution; NULL means getenv(3). Returns NULL
	 * for an unset variable.
	 */
	const char *(*getenv)(const char *name, void *userdata);
	void *userdata;
};

int fl_scenario_parse(const char *file, const char *buf, size_t len,
		      const struct fl_parse_options *opts, struct fl_diag *diag,
		      struct fl_scenario **ret_scenario);
int fl_scenario_load(const char *path, const struct fl_parse_options *opts, struct fl_diag *diag,
		     struct fl_scenario **ret_scenario);

/* Semantic checks on a parsed model (called by fl_scenario_parse). */
int fl_scenario_validate(struct fl_scenario *s, struct fl_diag *diag);

#endif
