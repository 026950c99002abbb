/* SPDX-License-Identifier: MIT */
/*
 * Located diagnostics. The parser and validator append one entry per error
 * and keep going where they can, so a user sees several mistakes in one
 * pass; the CLI prints them as "file:line:col: error: message".
 *
 * Positions are 1-based (line and column), as editors count them. A message
 * names what is wrong and, in parentheses, what was expected.
 */
#ifndef FL_UTIL_DIAG_H
#define FL_UTIL_DIAG_H

#include <stddef.h>
#include "util/macro.h"

/* Errors past this many are counted but not kept: the first ones matter. */
#define FL_DIAG_MAX 50

struct fl_pos {
	unsigned line; /* 1-based; 0 = no position (e.g. the file as a whole) */
	unsigned col;  /* 1-based */
};

struct fl_diag_entry {
	struct fl_pos pos;
	char *message;
};

struct fl_diag {
	const char *file; /* borrowed; as given by the user */
	struct fl_diag_entry entries[FL_DIAG_MAX];
	size_t n;       /* entries kept */
	size_t dropped; /* errors past FL_DIAG_MAX */
	int oom;        /* an allocation failed while recording */
};

void fl_diag_init(struct fl_diag *d, const char *file);
void fl_diag_add(struct fl_diag *d, struct fl_pos pos, const char *fmt, ...) _printf_(3, 4);
size_t fl_diag_count(const struct fl_diag *d);
void fl_diag_done(struct fl_diag *d);
/* Renders all entries as "file:line:col: error: msg\n" lines; caller frees. */
char *fl_diag_format(const struct fl_diag *d);

#endif
