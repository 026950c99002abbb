/* SPDX-License-Identifier: MIT */
/*
 * One result model (struct fl_judgements, which reaches the results and the
 * scenario), four views: a terminal table, report.json, junit.xml and a
 * self-contained report.html. Nothing here prints: the text views return
 * strings, and fl_report_write() writes files into a directory the caller
 * names. docs/REPORTS.md describes the formats.
 *
 * Times in the files are integer nanoseconds relative to results->start_ns
 * (instants) or spans (latencies); the terminal and HTML views show people
 * seconds and milliseconds.
 *
 * Every function returns 0 and *ret_text (caller frees), or -ENOMEM;
 * ret_text is untouched on failure.
 */
#ifndef FL_HARNESS_REPORT_H
#define FL_HARNESS_REPORT_H

#include <stdbool.h>
#include "judge/judge.h"
#include "util/strbuf.h"

/* A table, one row per expectation (grouped by flow); ANSI colours only if color. */
int fl_report_terminal(const struct fl_judgements *j, bool color, char **ret_text);
/* report.json: every probe, every phase, every verdict (docs/report.schema.json). */
int fl_report_json(const struct fl_judgements *j, char **ret_text);
/* junit.xml: one testsuite for the scenario, one testcase per expectation. */
int fl_report_junit(const struct fl_judgements *j, char **ret_text);
/* report.html: one file, inline CSS, JS and SVG, no network. */
int fl_report_html(const struct fl_judgements *j, char **ret_text);

/*
 * Writes report.json, junit.xml and report.html into dir (which must
 * exist), each through a temporary file renamed into place, so a reader
 * never sees half a report. 0 or -errno.
 */
int fl_report_write(const struct fl_judgements *j, const char *dir);

/* Escapers, shared by the views (and tested on their own). */
/* XML 1.0 text or attribute value: & < > " ' escaped; control characters XML forbids become '?'. */
void fl_report_append_xml(struct fl_strbuf *sb, const char *s);
/*
 * JSON text that is safe inside an HTML <script> element: '<', '>' and '&'
 * become \u003c, \u003e, \u0026 and '/' becomes \/ (they only occur inside
 * JSON strings, where the escapes mean the same), so "</script>" or "<!--"
 * cannot end it, and no URL in the data reads as one in the page.
 */
void fl_report_append_script_json(struct fl_strbuf *sb, const char *json);

#endif
