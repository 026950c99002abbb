/* SPDX-License-Identifier: MIT */
/* Shared by the report views; not part of the harness's interface. */
#ifndef FL_HARNESS_REPORT_INTERNAL_H
#define FL_HARNESS_REPORT_INTERNAL_H

#include <stddef.h>
#include "judge/judge.h"
#include "util/strbuf.h"

/* The expectation's flow name, or NULL for invariants. */
const char *fl_report_flow_name(const struct fl_judgements *j, size_t expect);
/* "during pay-down", "before first-fault", "at end", "during always". */
void fl_report_window_text(const struct fl_expect *e, char *buf, size_t n);
/* The given name, or the derived one: "checkout during pay-down". */
void fl_report_expect_name(const struct fl_expect *e, char *buf, size_t n);
void fl_report_latency_text(uint64_t ns, char *buf, size_t n);
void fl_report_evidence(struct fl_strbuf *sb, const struct fl_judgements *js,
			const struct fl_judgement *j);

#endif
