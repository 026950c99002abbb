/* SPDX-License-Identifier: MIT */
/*
 * A growable NUL-terminated string. The library renders plans and error
 * messages into these; it never prints them itself.
 *
 * Errors: an allocation failure is sticky (sb->oom); the text is then
 * incomplete and fl_strbuf_steal() returns NULL, so callers check once at
 * the end instead of after every append.
 */
#ifndef FL_UTIL_STRBUF_H
#define FL_UTIL_STRBUF_H

#include <stdbool.h>
#include <stddef.h>
#include "util/macro.h"

struct fl_strbuf {
	char *buf;
	size_t len;
	size_t cap;
	bool oom;
};

void fl_strbuf_appendf(struct fl_strbuf *sb, const char *fmt, ...) _printf_(2, 3);
void fl_strbuf_append(struct fl_strbuf *sb, const char *s);
void fl_strbuf_appendn(struct fl_strbuf *sb, const char *s, size_t n);
/* Appends s as a JSON string literal, quotes included. */
void fl_strbuf_append_json(struct fl_strbuf *sb, const char *s);
/* Appends s quoted for a POSIX shell if it needs quoting. */
void fl_strbuf_append_shell(struct fl_strbuf *sb, const char *s);
/* Returns the text (caller frees) and resets sb; NULL after an allocation failure. */
char *fl_strbuf_steal(struct fl_strbuf *sb);
void fl_strbuf_done(struct fl_strbuf *sb);

#endif
