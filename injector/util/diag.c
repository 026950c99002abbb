/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "util/diag.h"
#include "util/strbuf.h"

void fl_diag_init(struct fl_diag *d, const char *file)
{
	*d = (struct fl_diag){ .file = file };
}

void fl_diag_add(struct fl_diag *d, struct fl_pos pos, const char *fmt, ...)
{
	va_list ap;
	char *msg;
	int r;

	if (d->n >= FL_DIAG_MAX) {
		d->dropped++;
		return;
	}
	va_start(ap, fmt);
	r = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (r < 0) {
		d->oom = 1;
		d->dropped++;
		return;
	}
	d->entries[d->n++] = (struct fl_diag_entry){ .pos = pos, .message = msg };
}

size_t fl_diag_count(const struct fl_diag *d)
{
	return d->n + d->dropped;
}

void fl_diag_done(struct fl_diag *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n; i++)
		free(d->entries[i].message);
	d->n = 0;
	d->dropped = 0;
}

char *fl_diag_format(const struct fl_diag *d)
{
	struct fl_strbuf sb = { 0 };
	const char *file = d->file ? d->file : "<input>";

	for (size_t i = 0; i < d->n; i++) {
		const struct fl_diag_entry *e = &d->entries[i];
		if (e->pos.line)
			fl_strbuf_appendf(&sb, "%s:%u:%u: error: %s\n", file, e->pos.line,
					  e->pos.col, e->message);
		else
			fl_strbuf_appendf(&sb, "%s: error: %s\n", file, e->message);
	}
	if (d->dropped)
		fl_strbuf_appendf(&sb, "%s: error: %zu more error(s) not shown\n", file,
				  d->dropped);
	return fl_strbuf_steal(&sb);
}
