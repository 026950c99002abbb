/* SPDX-License-Identifier: MIT */
/* harness/report: escaping, and the four views of one synthetic run. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include "scenario-text.h"
#include "report/report.h"

static const char yaml[] =
	"version: 1\n"
	"name: \"a <b> & \\\"c\\\" 'd'\"\n"
	"services:\n"
	"  api: { endpoints: [\"127.0.0.1:1\"] }\n"
	"flows:\n"
	"  web: { http: { url: \"http://127.0.0.1:1/?a=1&b=<2>\" }, every: 100ms }\n"
	"timeline:\n"
	"  - { at: 1s, id: down, fault: partition, services: [api] }\n"
	"  - { at: 2s, end: true }\n"
	"expect:\n"
	"  - { name: \"</script><!-- & <b>\", flow: web, during: down, success_rate: \"100%\" }\n"
	"  - { flow: web, before: first-fault, p99: 1s }\n"
	"  - { flow: web, during: down, no_retry_storm: { max_ratio: 3 } }\n";

#define BASE (5 * FL_NSEC_PER_SEC)

struct fixture {
	struct fl_scenario *s;
	struct fl_results *r;
	struct fl_judgements *j;
};

static void add(struct fl_results *r, uint64_t t_ms, enum fl_outcome out, const char *detail)
{
	struct fl_probe_result p = { .flow = 0,
				     .scheduled_ns = BASE + t_ms * FL_NSEC_PER_MSEC,
				     .start_ns = BASE + t_ms * FL_NSEC_PER_MSEC,
				     .latency_ns = 3 * FL_NSEC_PER_MSEC,
				     .outcome = out,
				     .phase_set = fl_phase_tracker_current(r->phases) };

	p.detail = detail; /* copied by fl_results_add_probe */
	assert_int_equal(fl_results_add_probe(r, &p), 0);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct fl_phase_event ev[] = {
		{ FL_PHASE_START, 0, BASE },
		{ FL_PHASE_STEP_APPLIED, 0, BASE + FL_NSEC_PER_SEC },
		{ FL_PHASE_END, 1, BASE + 2 * FL_NSEC_PER_SEC },
	};

	f->s = parse_scenario(yaml);
	assert_int_equal(fl_results_new(f->s, BASE, &f->r), 0);
	add(f->r, 100, FL_OUT_OK, "HTTP 200");
	assert_int_equal(fl_phase_tracker_feed(f->r->phases, &ev[0]), 0);
	assert_int_equal(fl_phase_tracker_feed(f->r->phases, &ev[1]), 0);
	add(f->r, 1100, FL_OUT_HTTP_STATUS, "said \"no\" \\ <&>");
	add(f->r, 1200, FL_OUT_OK, "HTTP 200");
	assert_int_equal(fl_phase_tracker_feed(f->r->phases, &ev[2]), 0);
	f->r->stop_ns = BASE + 2500 * FL_NSEC_PER_MSEC;
	assert_int_equal(fl_judge(f->r, &f->j), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	fl_judgements_free(f->j);
	fl_results_free(f->r);
	fl_scenario_free(f->s);
	free(f);
	return 0;
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

static void test_xml_escape(void **state)
{
	struct fl_strbuf sb = { 0 };
	_cleanup_free_ char *out = NULL;

	fl_report_append_xml(&sb, "a<b>&\"'\x01\t\x7fz\xc3\xa9");
	fl_report_append_xml(&sb, NULL);
	out = fl_strbuf_steal(&sb);
	assert_str(out, "a&lt;b&gt;&amp;&quot;&apos;?&#9;?z\xc3\xa9");
}

static void test_script_json_escape(void **state)
{
	struct fl_strbuf sb = { 0 };
	_cleanup_free_ char *out = NULL;

	fl_report_append_script_json(&sb, "{\"x\":\"</script><!--&\"}");
	out = fl_strbuf_steal(&sb);
	assert_str(out, "{\"x\":\"\\u003c\\/script\\u003e\\u003c!--\\u0026\"}");
}

static void test_verdicts(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(f->j->v[0].verdict, FL_VERDICT_FAIL);
	assert_int_equal(f->j->v[1].verdict, FL_VERDICT_PASS);
	assert_int_equal(f->j->v[2].verdict, FL_VERDICT_SKIPPED);
	assert_int_equal(f->j->overall, FL_VERDICT_FAIL);
}

static void test_terminal(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *plain = NULL, *tty = NULL;

	assert_int_equal(fl_report_terminal(f->j, false, &plain), 0);
	assert_null(strchr(plain, '\033'));
	assert_contains(plain, "FAIL  success_rate: success rate 50% (1 of 2), expected >= 100%");
	assert_contains(plain, "web before first-fault");
	assert_contains(plain, "SKIPPED  no_retry_storm: not judged: needs the wire observer");
	assert_contains(plain, "3 expectations: 1 passed, 1 failed, 1 skipped: FAIL");
	assert_int_equal(fl_report_terminal(f->j, true, &tty), 0);
	assert_contains(tty, "\033[1;31mFAIL\033[0m");
	assert_contains(tty, "\033[32mPASS\033[0m");
}

static void test_json(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *json = NULL;

	assert_int_equal(fl_report_json(f->j, &json), 0);
	assert_contains(json, "\"name\":\"a <b> & \\\"c\\\" 'd'\"");
	assert_contains(json, "\"detail\":\"said \\\"no\\\" \\\\ <&>\"");
	assert_contains(json, "\"verdict\":\"FAIL\",\"exit_status\":1");
	assert_contains(json, "\"window\":{\"kind\":\"during\",\"step\":\"down\",\"from_ns\":"
			      "1000000000,\"to_ns\":2000000000}");
	assert_contains(json, "\"phase_sets\":[{\"since_ns\":0,\"steps\":[]},{\"since_ns\":"
			      "1000000000,\"steps\":[0]}");
	assert_int_equal(count(json, "\"outcome\":"), 3);
}

static void test_junit(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *xml = NULL;

	assert_int_equal(fl_report_junit(f->j, &xml), 0);
	assert_contains(xml, "<testsuite name=\"a &lt;b&gt; &amp; &quot;c&quot; &apos;d&apos;\" "
			     "tests=\"3\" failures=\"1\" skipped=\"1\"");
	assert_contains(xml, "name=\"&lt;/script&gt;&lt;!-- &amp; &lt;b&gt;\"");
	assert_contains(xml, "<failure type=\"expectation\" message=\"success_rate: success rate "
			     "50% (1 of 2), expected &gt;= 100%\">");
	assert_contains(xml, "said &quot;no&quot; \\ &lt;&amp;&gt;");
	assert_contains(
		xml, "<skipped message=\"no_retry_storm: not judged: needs the wire observer\"/>");
	assert_null(strstr(xml, "<!--"));
}

static void test_html(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *html = NULL;

	assert_int_equal(fl_report_html(f->j, &html), 0);
	/* Only our own two script elements end; the expectation's name cannot. */
	assert_int_equal(count(html, "</script>"), 2);
	assert_null(strstr(html, "<!--"));
	assert_contains(html, "\\u003c\\/script\\u003e\\u003c!-- \\u0026 \\u003cb\\u003e");
	/* Self-contained: nothing is fetched, no URL but the flow's own (in the data). */
	assert_null(strstr(html, "src="));
	assert_null(strstr(html, "href="));
	assert_null(strstr(html, "https://"));
	assert_int_equal(count(html, "http://"), 0);
	assert_contains(html, "\"target\":\"http:\\/\\/127.0.0.1:1\\/?a=1\\u0026b=\\u003c2\\u003e\"");
}

static void test_write(void **state)
{
	struct fixture *f = *state;
	char dir[] = "/tmp/fl-report-XXXXXX";
	const char *names[] = { "report.json", "junit.xml", "report.html" };
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	assert_non_null(mkdtemp(dir));
	assert_int_equal(fl_report_write(f->j, dir), 0);
	d = opendir(dir);
	assert_non_null(d);
	while ((de = readdir(d)))
		if (de->d_name[0] != '.' || (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")))
			n++;
	closedir(d);
	assert_int_equal(n, 3); /* and no temporary file left */
	for (size_t i = 0; i < ELEMENTSOF(names); i++) {
		char path[128];
		struct stat st;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		assert_int_equal(stat(path, &st), 0);
		assert_true(st.st_size > 100);
		assert_int_equal(unlink(path), 0);
	}
	assert_int_equal(rmdir(dir), 0);
	assert_int_equal(fl_report_write(f->j, dir), -ENOENT);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_xml_escape),
		cmocka_unit_test(test_script_json_escape),
		cmocka_unit_test_setup_teardown(test_verdicts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_terminal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_json, setup, teardown),
		cmocka_unit_test_setup_teardown(test_junit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_html, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write, setup, teardown),
	};

	return fl_unit_run(argc, argv, "harness/report", tests, ELEMENTSOF(tests), NULL, 0);
}
