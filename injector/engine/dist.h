/* SPDX-License-Identifier: MIT */
/*
 * Delay distribution tables, computed here rather than read from
 * the .dist files of iproute2 (which a minimal host may not have). A table maps a
 * uniform random index to a deviation in units of jitter / FL_DIST_SCALE,
 * which is netem's format; the userspace engine samples the same tables, so
 * both paths draw from the same distributions.
 */
#ifndef FL_ENGINE_DIST_H
#define FL_ENGINE_DIST_H

#include <stddef.h>
#include <stdint.h>
#include "scenario/model.h"

#define FL_DIST_SCALE 8192 /* netem's NETEM_DIST_SCALE: 1.0 jitter = 8192 */
#define FL_DIST_SIZE 4096  /* entries per table */

/*
 * Fills out[FL_DIST_SIZE] for normal, pareto or paretonormal. Returns 0, or
 * -EINVAL for uniform/none (netem needs no table for those).
 */
int fl_dist_table(enum fl_distribution d, int16_t out[static FL_DIST_SIZE]);

#endif
