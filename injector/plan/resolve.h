/* SPDX-License-Identifier: MIT */
/*
 * Endpoints -> targets: addresses as they are, "any address" as both
 * 0.0.0.0/0 and ::/0, hostnames as every A and AAAA record.
 */
#ifndef FL_PLAN_RESOLVE_H
#define FL_PLAN_RESOLVE_H

#include "plan/plan.h"

/* getaddrinfo(3): every distinct A and AAAA record. Returns 0, -ENOENT (no such host) or -errno. */
int fl_resolve_getaddrinfo(const char *host, struct fl_target **ret, size_t *ret_n, void *userdata);

/*
 * Appends the targets of e to *arr (growing it). For a hostname, *ret_note
 * (caller frees) tells what it resolved to. Returns 0, -ENOENT (hostname did
 * not resolve) or -ENOMEM.
 */
int fl_resolve_endpoint(const struct fl_endpoint *e, const struct fl_plan_options *opts,
			struct fl_target **arr, size_t *n, char **ret_note);

#endif
