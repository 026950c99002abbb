/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "report/report.h"
#include "report/report_internal.h"
#include "util/units.h"

/* ---- escaping ------------------------------------------------------------ */

void fl_report_append_xml(struct fl_strbuf *sb, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
		switch (*p) {
		case '&':
			fl_strbuf_append(sb, "&amp;");
			break;
		case '<':
			fl_strbuf_append(sb, "&lt;");
			break;
		case '>':
			fl_strbuf_append(sb, "&gt;");
			break;
		case '"':
			fl_strbuf_append(sb, "&quot;");
			break;
		case '\'':
			fl_strbuf_append(sb, "&apos;");
			break;
		case '\t':
		case '\n':
		case '\r':
			/* Attribute values would normalise raw whitespace away. */
			fl_strbuf_appendf(sb, "&#%u;", *p);
			break;
		default:
			if (*p < 0x20 || *p == 0x7f)
				fl_strbuf_append(sb, "?");
			else
				fl_strbuf_appendn(sb, (const char *)p, 1);
		}
	}
}

void fl_report_append_script_json(struct fl_strbuf *sb, const char *json)
{
	for (const char *p = json; *p; p++) {
		switch (*p) {
		case '<':
			fl_strbuf_append(sb, "\\u003c");
			break;
		case '>':
			fl_strbuf_append(sb, "\\u003e");
			break;
		case '&':
			fl_strbuf_append(sb, "\\u0026");
			break;
		case '/':
			/* No URL appears as such: a grep for "http://" finds nothing to fetch. */
			fl_strbuf_append(sb, "\\/");
			break;
		default:
			fl_strbuf_appendn(sb, p, 1);
		}
	}
}

/* ---- shared -------------------------------------------------------------- */

const char *fl_report_flow_name(const struct fl_judgements *j, size_t expect)
{
	const struct fl_expect *e = &j->r->s->expects[expect];

	if (!e->flow.name || e->flow.index >= j->r->s->n_flows)
		return NULL;
	return j->r->s->flows[e->flow.index].name;
}

void fl_report_window_text(const struct fl_expect *e, char *buf, size_t n)
{
	const char *what = e->window.first_fault ? "first-fault"
			   : e->window.end	 ? "end"
			   : e->window.step.name ? e->window.step.name
						 : "";

	if (e->window.kind == FL_WIN_ALWAYS)
		snprintf(buf, n, "during always");
	else
		snprintf(buf, n, "%s %s", fl_window_kind_to_string(e->window.kind), what);
}

void fl_report_expect_name(const struct fl_expect *e, char *buf, size_t n)
{
	char w[160];

	if (e->name) {
		snprintf(buf, n, "%s", e->name);
		return;
	}
	fl_report_window_text(e, w, sizeof(w));
	if (e->flow.name)
		snprintf(buf, n, "%s %s", e->flow.name, w);
	else
		snprintf(buf, n, "invariant %s", w);
}

/* "12.345s" */
static void secs(uint64_t ns, char *buf, size_t n)
{
	snprintf(buf, n, "%llu.%03llus", (unsigned long long)(ns / FL_NSEC_PER_SEC),
		 (unsigned long long)(ns % FL_NSEC_PER_SEC / FL_NSEC_PER_MSEC));
}

/* "1.234ms": latencies to the microsecond, for people. */
void fl_report_latency_text(uint64_t ns, char *buf, size_t n)
{
	if (ns >= FL_NSEC_PER_SEC)
		snprintf(buf, n, "%.3fs", (double)ns / 1e9);
	else if (ns >= FL_NSEC_PER_MSEC)
		snprintf(buf, n, "%.3fms", (double)ns / 1e6);
	else
		snprintf(buf, n, "%.1fus", (double)ns / 1e3);
}

/* The evidence as text: the numbers and the worst probes. */
void fl_report_evidence(struct fl_strbuf *sb, const struct fl_judgements *js,
			const struct fl_judgement *j)
{
	const struct fl_results *r = js->r;
	const bool inv = js->r->s->expects[j->expect].metrics & FL_M_INVARIANT;
	char a[32], b[32], c[32], d[32];

	if (j->window_known) {
		secs(j->from_ns, a, sizeof(a));
		secs(j->to_ns, b, sizeof(b));
		fl_strbuf_appendf(sb, "window %s .. %s\n", a, b);
	} else {
		fl_strbuf_append(sb, "window: never opened\n");
	}
	fl_strbuf_appendf(sb, "samples %zu: %zu ok, %zu failed, %zu skipped\n", j->samples, j->ok,
			  j->failed, j->skipped);
	if (j->samples) {
		fl_report_latency_text(j->p50_ns, a, sizeof(a));
		fl_report_latency_text(j->p90_ns, b, sizeof(b));
		fl_report_latency_text(j->p99_ns, c, sizeof(c));
		fl_report_latency_text(j->max_ns, d, sizeof(d));
		fl_strbuf_appendf(sb, "latency p50 %s, p90 %s, p99 %s, max %s\n", a, b, c, d);
	}
	for (size_t i = 0; i < j->n_metrics; i++)
		fl_strbuf_appendf(sb, "%s %s: %s\n", fl_verdict_to_string(j->metrics[i].verdict),
				  fl_metric_to_string(j->metrics[i].metric), j->metrics[i].reason);
	for (size_t i = 0; i < j->n_worst; i++) {
		const struct fl_probe_result *p =
			inv ? &r->invariants[j->worst[i]] : &r->probes[j->worst[i]];

		secs(p->start_ns > r->start_ns ? p->start_ns - r->start_ns : 0, a, sizeof(a));
		fl_report_latency_text(p->latency_ns, b, sizeof(b));
		fl_strbuf_appendf(sb, "%s at %s, %s: %s\n", i == 0 ? "worst" : "     ", a,
				  fl_outcome_to_string(p->outcome), p->detail);
		fl_strbuf_appendf(sb, "       took %s\n", b);
	}
}

/* ---- terminal ------------------------------------------------------------ */

static const char *colour(enum fl_verdict v)
{
	switch (v) {
	case FL_VERDICT_PASS:
		return "\033[32m";
	case FL_VERDICT_FAIL:
		return "\033[1;31m";
	case FL_VERDICT_SKIPPED:
		return "\033[33m";
	}
	return "";
}

int fl_report_terminal(const struct fl_judgements *js, bool color, char **ret_text)
{
	const struct fl_scenario *s = js->r->s;
	struct fl_strbuf sb = { 0 };
	int wf = 4, we = 11, ww = 6;
	char *text;

	for (size_t i = 0; i < js->n; i++) {
		const struct fl_expect *e = &s->expects[js->v[i].expect];
		const char *f = fl_report_flow_name(js, js->v[i].expect);
		char name[200], win[160];

		fl_report_expect_name(e, name, sizeof(name));
		fl_report_window_text(e, win, sizeof(win));
		if (f && (int)strlen(f) > wf)
			wf = (int)strlen(f);
		if ((int)strlen(name) > we)
			we = (int)strlen(name) > 48 ? 48 : (int)strlen(name);
		if ((int)strlen(win) > ww)
			ww = (int)strlen(win) > 32 ? 32 : (int)strlen(win);
	}
	fl_strbuf_appendf(&sb, "%-*s  %-*s  %-*s  %6s  %8s  %10s  %10s  %10s  %s\n", wf, "flow", we,
			  "expectation", ww, "window", "n", "ok", "p50", "p99", "max", "verdict");
	/* Grouped by flow, in the order flows are declared; invariants last. */
	for (size_t f = 0; f <= s->n_flows; f++) {
		for (size_t i = 0; i < js->n; i++) {
			const struct fl_judgement *j = &js->v[i];
			const struct fl_expect *e = &s->expects[j->expect];
			const char *fname = fl_report_flow_name(js, j->expect);
			char name[200], win[160], ok[16] = "-", p50[32] = "-", p99[32] = "-",
						  mx[32] = "-";

			if ((f < s->n_flows) != (fname != NULL) || (fname && e->flow.index != f))
				continue;
			fl_report_expect_name(e, name, sizeof(name));
			fl_report_window_text(e, win, sizeof(win));
			if (j->samples) {
				snprintf(ok, sizeof(ok), "%.1f%%",
					 100.0 * (double)j->ok / (double)j->samples);
				fl_report_latency_text(j->p50_ns, p50, sizeof(p50));
				fl_report_latency_text(j->p99_ns, p99, sizeof(p99));
				fl_report_latency_text(j->max_ns, mx, sizeof(mx));
			}
			fl_strbuf_appendf(
				&sb, "%-*s  %-*.*s  %-*.*s  %6zu  %8s  %10s  %10s  %10s  %s%s%s",
				wf, fname ? fname : "-", we, we, name, ww, ww, win, j->samples, ok,
				p50, p99, mx, color ? colour(j->verdict) : "",
				fl_verdict_to_string(j->verdict), color ? "\033[0m" : "");
			if (j->reason[0])
				fl_strbuf_appendf(&sb, "  %s", j->reason);
			fl_strbuf_append(&sb, "\n");
		}
	}
	fl_strbuf_appendf(&sb, "%zu expectations: %zu passed, %zu failed, %zu skipped: %s%s%s\n",
			  js->n, js->pass, js->fail, js->skipped, color ? colour(js->overall) : "",
			  fl_verdict_to_string(js->overall), color ? "\033[0m" : "");
	if (js->r->stopped_early)
		fl_strbuf_append(&sb, "note: probing stopped before the timeline's end\n");
	text = fl_strbuf_steal(&sb);
	if (!text)
		return -ENOMEM;
	*ret_text = text;
	return 0;
}

/* ---- junit --------------------------------------------------------------- */

int fl_report_junit(const struct fl_judgements *js, char **ret_text)
{
	const struct fl_results *r = js->r;
	const struct fl_scenario *s = r->s;
	struct fl_strbuf sb = { 0 };
	uint64_t dur = r->stop_ns - r->start_ns;
	char *text;

	fl_strbuf_append(
		&sb, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"faultline\"");
	fl_strbuf_appendf(&sb, " tests=\"%zu\" failures=\"%zu\" skipped=\"%zu\" errors=\"0\">\n",
			  js->n, js->fail, js->skipped);
	fl_strbuf_append(&sb, "  <testsuite name=\"");
	fl_report_append_xml(&sb, s->name);
	fl_strbuf_appendf(&sb,
			  "\" tests=\"%zu\" failures=\"%zu\" skipped=\"%zu\" errors=\"0\" "
			  "time=\"%llu.%03llu\">\n",
			  js->n, js->fail, js->skipped, (unsigned long long)(dur / FL_NSEC_PER_SEC),
			  (unsigned long long)(dur % FL_NSEC_PER_SEC / FL_NSEC_PER_MSEC));
	if (s->file) {
		fl_strbuf_append(&sb, "    <properties><property name=\"file\" value=\"");
		fl_report_append_xml(&sb, s->file);
		fl_strbuf_append(&sb, "\"/></properties>\n");
	}
	for (size_t i = 0; i < js->n; i++) {
		const struct fl_judgement *j = &js->v[i];
		const char *flow = fl_report_flow_name(js, j->expect);
		struct fl_strbuf ev = { 0 };
		_cleanup_free_ char *evidence = NULL;
		char name[200];
		uint64_t span = j->to_ns - j->from_ns;

		fl_report_expect_name(&s->expects[j->expect], name, sizeof(name));
		fl_report_evidence(&ev, js, j);
		evidence = fl_strbuf_steal(&ev);
		if (!evidence) {
			fl_strbuf_done(&sb);
			return -ENOMEM;
		}
		fl_strbuf_append(&sb, "    <testcase classname=\"");
		fl_report_append_xml(&sb, s->name);
		fl_strbuf_append(&sb, ".");
		fl_report_append_xml(&sb, flow ? flow : "invariants");
		fl_strbuf_append(&sb, "\" name=\"");
		fl_report_append_xml(&sb, name);
		fl_strbuf_appendf(&sb, "\" time=\"%llu.%03llu\">\n",
				  (unsigned long long)(span / FL_NSEC_PER_SEC),
				  (unsigned long long)(span % FL_NSEC_PER_SEC / FL_NSEC_PER_MSEC));
		if (j->verdict == FL_VERDICT_FAIL) {
			fl_strbuf_append(&sb, "      <failure type=\"expectation\" message=\"");
			fl_report_append_xml(&sb, j->reason);
			fl_strbuf_append(&sb, "\">");
			fl_report_append_xml(&sb, evidence);
			fl_strbuf_append(&sb, "</failure>\n");
		} else if (j->verdict == FL_VERDICT_SKIPPED) {
			fl_strbuf_append(&sb, "      <skipped message=\"");
			fl_report_append_xml(&sb, j->reason);
			fl_strbuf_append(&sb, "\"/>\n");
		}
		fl_strbuf_append(&sb, "      <system-out>");
		fl_report_append_xml(&sb, evidence);
		fl_strbuf_append(&sb, "</system-out>\n    </testcase>\n");
	}
	fl_strbuf_append(&sb, "  </testsuite>\n</testsuites>\n");
	text = fl_strbuf_steal(&sb);
	if (!text)
		return -ENOMEM;
	*ret_text = text;
	return 0;
}

/* ---- files --------------------------------------------------------------- */

static int write_file(const char *dir, const char *name, const char *text)
{
	_cleanup_free_ char *path = NULL, *tmp = NULL;
	size_t len = strlen(text), off = 0;
	int fd, k = 0;

	if (asprintf(&path, "%s/%s", dir, name) < 0) {
		path = NULL;
		return -ENOMEM;
	}
	if (asprintf(&tmp, "%s/.%s.XXXXXX", dir, name) < 0) {
		tmp = NULL;
		return -ENOMEM;
	}
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while (off < len) {
		ssize_t n = write(fd, text + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			k = -errno;
			break;
		}
		off += (size_t)n;
	}
	if (k == 0 && fchmod(fd, 0644) < 0)
		k = -errno;
	if (close(fd) < 0 && k == 0)
		k = -errno;
	if (k == 0 && rename(tmp, path) < 0)
		k = -errno;
	if (k < 0)
		unlink(tmp);
	return k;
}

int fl_report_write(const struct fl_judgements *j, const char *dir)
{
	static const struct {
		const char *name;
		int (*render)(const struct fl_judgements *j, char **ret_text);
	} views[] = {
		{ "report.json", fl_report_json },
		{ "junit.xml", fl_report_junit },
		{ "report.html", fl_report_html },
	};

	for (size_t i = 0; i < ELEMENTSOF(views); i++) {
		_cleanup_free_ char *text = NULL;
		int k = views[i].render(j, &text);

		if (k < 0)
			return k;
		k = write_file(dir, views[i].name, text);
		if (k < 0)
			return k;
	}
	return 0;
}
