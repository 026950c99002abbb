/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "util/strbuf.h"

static bool reserve(struct fl_strbuf *sb, size_t extra)
{
	size_t need;
	char *n;

	if (sb->oom)
		return false;
	need = sb->len + extra + 1;
	if (need <= sb->cap)
		return true;
	size_t cap = sb->cap ? sb->cap : 64;
	while (cap < need)
		cap *= 2;
	n = realloc(sb->buf, cap);
	if (!n) {
		sb->oom = true;
		return false;
	}
	sb->buf = n;
	sb->cap = cap;
	return true;
}

void fl_strbuf_appendn(struct fl_strbuf *sb, const char *s, size_t n)
{
	if (!reserve(sb, n))
		return;
	memcpy(sb->buf + sb->len, s, n);
	sb->len += n;
	sb->buf[sb->len] = '\0';
}

void fl_strbuf_append(struct fl_strbuf *sb, const char *s)
{
	fl_strbuf_appendn(sb, s, strlen(s));
}

void fl_strbuf_appendf(struct fl_strbuf *sb, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		sb->oom = true;
		return;
	}
	if (!reserve(sb, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(sb->buf + sb->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	sb->len += (size_t)n;
}

void fl_strbuf_append_json(struct fl_strbuf *sb, const char *s)
{
	fl_strbuf_append(sb, "\"");
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"':
			fl_strbuf_append(sb, "\\\"");
			break;
		case '\\':
			fl_strbuf_append(sb, "\\\\");
			break;
		case '\n':
			fl_strbuf_append(sb, "\\n");
			break;
		case '\t':
			fl_strbuf_append(sb, "\\t");
			break;
		case '\r':
			fl_strbuf_append(sb, "\\r");
			break;
		default:
			if (*p < 0x20)
				fl_strbuf_appendf(sb, "\\u%04x", *p);
			else
				fl_strbuf_appendn(sb, (const char *)p, 1);
		}
	}
	fl_strbuf_append(sb, "\"");
}

void fl_strbuf_append_shell(struct fl_strbuf *sb, const char *s)
{
	bool plain = *s != '\0';

	for (const char *p = s; *p && plain; p++)
		plain = strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
			       "@%+=:,./_-",
			       *p) != NULL;
	if (plain) {
		fl_strbuf_append(sb, s);
		return;
	}
	fl_strbuf_append(sb, "'");
	for (const char *p = s; *p; p++) {
		if (*p == '\'')
			fl_strbuf_append(sb, "'\\''");
		else
			fl_strbuf_appendn(sb, p, 1);
	}
	fl_strbuf_append(sb, "'");
}

char *fl_strbuf_steal(struct fl_strbuf *sb)
{
	char *r;

	if (sb->oom) {
		fl_strbuf_done(sb);
		return NULL;
	}
	r = sb->buf ? sb->buf : strdup("");
	*sb = (struct fl_strbuf){ 0 };
	return r;
}

void fl_strbuf_done(struct fl_strbuf *sb)
{
	free(sb->buf);
	*sb = (struct fl_strbuf){ 0 };
}
