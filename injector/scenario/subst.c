/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <errno.h>
#include <string.h>
#include "scenario/subst.h"
#include "util/strbuf.h"

int fl_subst(const char *in, fl_lookup_fn lookup, void *userdata, char **ret, char **ret_name,
	     const char **ret_problem, size_t *ret_offset)
{
	struct fl_strbuf sb = { 0 };
	const char *p = in;
	char *out;

	while (*p) {
		const char *dollar = strchr(p, '$');
		if (!dollar) {
			fl_strbuf_append(&sb, p);
			break;
		}
		fl_strbuf_appendn(&sb, p, (size_t)(dollar - p));
		if (dollar[1] == '$') {
			fl_strbuf_append(&sb, "$");
			p = dollar + 2;
			continue;
		}
		if (dollar[1] != '{') {
			/* A lone "$" is text: prices and regexes need it. */
			fl_strbuf_append(&sb, "$");
			p = dollar + 1;
			continue;
		}
		const char *name = dollar + 2, *q = name;
		if (!(isalpha((unsigned char)*q) || *q == '_'))
			goto bad_name;
		while (isalnum((unsigned char)*q) || *q == '_')
			q++;
		const char *dflt = NULL;
		size_t dflt_len = 0;
		if (q[0] == ':' && q[1] == '-') {
			dflt = q + 2;
			const char *close = strchr(dflt, '}');
			if (!close)
				goto unterminated;
			dflt_len = (size_t)(close - dflt);
			p = close + 1;
		} else if (*q == '}') {
			p = q + 1;
		} else if (*q == '\0') {
			goto unterminated;
		} else {
			goto bad_name;
		}

		char *n = strndup(name, (size_t)(q - name));
		if (!n) {
			fl_strbuf_done(&sb);
			return -ENOMEM;
		}
		const char *v = lookup(n, userdata);
		if (v && (*v || !dflt)) {
			fl_strbuf_append(&sb, v);
			free(n);
		} else if (dflt) {
			fl_strbuf_appendn(&sb, dflt, dflt_len);
			free(n);
		} else {
			fl_strbuf_done(&sb);
			*ret_name = n;
			*ret_offset = (size_t)(dollar - in);
			return -ENOENT;
		}
		continue;
bad_name:
		fl_strbuf_done(&sb);
		*ret_problem = "bad variable name after '${'";
		*ret_offset = (size_t)(dollar - in);
		return -EINVAL;
unterminated:
		fl_strbuf_done(&sb);
		*ret_problem = "unterminated '${'";
		*ret_offset = (size_t)(dollar - in);
		return -EINVAL;
	}
	out = fl_strbuf_steal(&sb);
	if (!out)
		return -ENOMEM;
	*ret = out;
	return 0;
}
