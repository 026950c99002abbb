/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "flows/flows.h"

static const char *const outcome_names[_FL_OUT_MAX] = {
	[FL_OUT_OK] = "ok",
	[FL_OUT_HTTP_STATUS] = "http_status",
	[FL_OUT_TIMEOUT] = "timeout",
	[FL_OUT_REFUSED] = "refused",
	[FL_OUT_RESET] = "reset",
	[FL_OUT_UNREACHABLE] = "unreachable",
	[FL_OUT_DNS_ERROR] = "dns_error",
	[FL_OUT_TLS_ERROR] = "tls_error",
	[FL_OUT_BODY_MISMATCH] = "body_mismatch",
	[FL_OUT_EXIT_CODE] = "exit_code",
	[FL_OUT_OTHER_ERROR] = "other_error",
	[FL_OUT_SKIPPED] = "skipped",
};

const char *fl_outcome_to_string(enum fl_outcome o)
{
	return (unsigned)o < _FL_OUT_MAX ? outcome_names[o] : "unknown";
}

static int add_marker(struct fl_flow_markers *m, const char *text)
{
	const char **n;

	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->text[i], text) == 0)
			return 0;
	if (m->n == FL_MARKERS_MAX)
		return -E2BIG;
	n = reallocarray(m->text, m->n + 1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	m->text = n;
	m->text[m->n++] = text;
	return 0;
}

/* The texts the judge will ask about, so each probe is searched once, at completion. */
static int collect_markers(struct fl_results *r)
{
	const struct fl_scenario *s = r->s;

	for (size_t i = 0; i < s->n_expects; i++) {
		const struct fl_expect *e = &s->expects[i];
		struct fl_flow_markers *m;
		int k;

		if (!e->flow.name || e->flow.index >= s->n_flows)
			continue;
		m = &r->markers[e->flow.index];
		if (e->metrics & FL_M_FALLBACK) {
			k = add_marker(m, e->fallback);
			if (k < 0)
				return k;
		}
		for (size_t j = 0; j < e->n_errors_are; j++) {
			if (strncmp(e->errors_are[j], "body:", 5) != 0)
				continue;
			k = add_marker(m, e->errors_are[j] + 5);
			if (k < 0)
				return k;
		}
	}
	return 0;
}

int fl_results_new(const struct fl_scenario *s, uint64_t start_ns, struct fl_results **ret_results)
{
	_cleanup_(fl_results_freep) struct fl_results *r = NULL;
	int k;

	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->s = s;
	r->start_ns = start_ns;
	r->stop_ns = start_ns;
	r->markers = calloc(s->n_flows ? s->n_flows : 1, sizeof(*r->markers));
	if (!r->markers)
		return -ENOMEM;
	k = fl_phase_tracker_new(s, &r->phases);
	if (k < 0)
		return k;
	k = collect_markers(r);
	if (k < 0)
		return k;
	*ret_results = TAKE_PTR(r);
	return 0;
}

void fl_results_free(struct fl_results *r)
{
	if (!r)
		return;
	if (r->markers)
		for (size_t i = 0; i < r->s->n_flows; i++)
			free(r->markers[i].text);
	free(r->markers);
	fl_phase_tracker_free(r->phases);
	free(r->probes);
	free(r->invariants);
	tdestroy(r->details, free);
	free(r);
}

static int cmp_text(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* The results' one copy of text (at most FL_DETAIL_MAX - 1 chars), or NULL (-ENOMEM). */
static const char *intern(struct fl_results *r, const char *text)
{
	char key[FL_DETAIL_MAX], *copy;
	void *node;

	snprintf(key, sizeof(key), "%s", text ? text : "");
	node = tfind(key, &r->details, cmp_text);
	if (node)
		return *(const char **)node;
	copy = strdup(key);
	if (!copy)
		return NULL;
	node = tsearch(copy, &r->details, cmp_text);
	if (!node) {
		free(copy);
		return NULL;
	}
	return copy;
}

static int append(struct fl_results *r, struct fl_probe_result **v, size_t *n, size_t *cap,
		  const struct fl_probe_result *p)
{
	const char *detail = intern(r, p->detail);

	if (!detail)
		return -ENOMEM;
	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 256;
		struct fl_probe_result *nv = reallocarray(*v, ncap, sizeof(**v));

		if (!nv)
			return -ENOMEM;
		*v = nv;
		*cap = ncap;
	}
	(*v)[*n] = *p;
	(*v)[(*n)++].detail = detail;
	return 0;
}

int fl_results_add_probe(struct fl_results *r, const struct fl_probe_result *p)
{
	if (p->flow >= r->s->n_flows || p->phase_set >= r->phases->n_sets)
		return -EINVAL;
	return append(r, &r->probes, &r->n_probes, &r->cap_probes, p);
}

int fl_results_add_invariant(struct fl_results *r, const struct fl_probe_result *p)
{
	if (p->flow >= r->s->n_expects || p->phase_set >= r->phases->n_sets)
		return -EINVAL;
	return append(r, &r->invariants, &r->n_invariants, &r->cap_invariants, p);
}

int fl_results_marker(const struct fl_results *r, size_t flow, const char *text)
{
	if (flow >= r->s->n_flows)
		return -ENOENT;
	for (size_t i = 0; i < r->markers[flow].n; i++)
		if (strcmp(r->markers[flow].text[i], text) == 0)
			return (int)i;
	return -ENOENT;
}
