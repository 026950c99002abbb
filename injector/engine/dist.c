/* SPDX-License-Identifier: MIT */
/*
 * Each entry i is the deviation, in jitter units, at the quantile
 * p = (i + 0.5) / FL_DIST_SIZE of the distribution:
 *   normal        the standard normal's quantile (mean 0, sd 1);
 *   pareto        shape 3, shifted and scaled to mean 0, sd ~1 like the
 *                 classic netem table: (1 / (1 - p)^(1/3) - 1.5) * 4/3;
 *   paretonormal  a quarter normal plus three quarters pareto.
 * Entries are sorted ascending, so sampling a uniform index draws from the
 * distribution. Values are clamped to int16, as netem stores them.
 */
#include <errno.h>
#include <math.h>
#include "engine/dist.h"

/* Standard normal quantile: Newton's method on erfc, from a good start. */
static double normal_quantile(double p)
{
	double x = 0.0;

	for (int i = 0; i < 60; i++) {
		double cdf = 0.5 * erfc(-x / M_SQRT2);
		double pdf = exp(-0.5 * x * x) / sqrt(2.0 * M_PI);
		double step = (cdf - p) / (pdf > 1e-300 ? pdf : 1e-300);
		if (step > 1.0)
			step = 1.0;
		if (step < -1.0)
			step = -1.0;
		x -= step;
		if (fabs(step) < 1e-12)
			break;
	}
	return x;
}

static double pareto_quantile(double p)
{
	const double shape = 3.0;

	return (1.0 / pow(1.0 - p, 1.0 / shape) - 1.5) * (4.0 / 3.0);
}

static int16_t clamp16(double v)
{
	double r = rint(v * FL_DIST_SCALE);

	if (r > INT16_MAX)
		return INT16_MAX;
	if (r < INT16_MIN)
		return INT16_MIN;
	return (int16_t)r;
}

int fl_dist_table(enum fl_distribution d, int16_t out[static FL_DIST_SIZE])
{
	for (size_t i = 0; i < FL_DIST_SIZE; i++) {
		double p = ((double)i + 0.5) / FL_DIST_SIZE;
		switch (d) {
		case FL_DIST_NORMAL:
			out[i] = clamp16(normal_quantile(p));
			break;
		case FL_DIST_PARETO:
			out[i] = clamp16(pareto_quantile(p));
			break;
		case FL_DIST_PARETONORMAL:
			out[i] = clamp16(0.25 * normal_quantile(p) + 0.75 * pareto_quantile(p));
			break;
		default:
			return -EINVAL;
		}
	}
	return 0;
}
