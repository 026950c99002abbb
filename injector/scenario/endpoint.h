/* SPDX-License-Identifier: MIT */
/*
 * Endpoint text <-> struct fl_endpoint (see model.h for the grammar).
 */
#ifndef FL_SCENARIO_ENDPOINT_H
#define FL_SCENARIO_ENDPOINT_H

#include <stdbool.h>
#include "scenario/model.h"

#define FL_ENDPOINT_SYNTAX "[tcp:|udp:]ADDRESS[/PREFIX][:PORT[-PORT]], [IPV6]:PORT or [tcp:|udp:]PORT"

/*
 * Parses text into *ret (text and hostname are allocated copies). On -EINVAL,
 * *ret_why (if not NULL) names the problem; *ret is untouched.
 */
int fl_endpoint_parse(const char *text, struct fl_endpoint *ret, const char **ret_why);
void fl_endpoint_done(struct fl_endpoint *e);
/* Deep copy; -ENOMEM. */
int fl_endpoint_copy(const struct fl_endpoint *src, struct fl_endpoint *ret);

/* Canonical text, e.g. "tcp:10.77.0.20/32:8443" or "[fd77::20]:8443"; caller frees. */
char *fl_endpoint_to_string(const struct fl_endpoint *e);

/* Whether the address parts of a and b intersect (ignores ports). */
bool fl_endpoint_addr_overlaps(const struct fl_endpoint *a, const struct fl_endpoint *b);
/* Whether a and b can match one packet: addresses, protocols and ports all intersect. */
bool fl_endpoint_overlaps(const struct fl_endpoint *a, const struct fl_endpoint *b);

#endif
