/* SPDX-License-Identifier: MIT */
/*
 * faultline validate FILE...
 */
#include <errno.h>
#include <string.h>
#include "cli.h"
#include "scenario/parse.h"

struct validate_opts {
	bool quiet;
};

static int on_option(const char *name, const char *arg, void *userdata)
{
	struct validate_opts *o = userdata;

	(void)arg;
	if (strcmp(name, "quiet") == 0)
		o->quiet = true;
	return 0;
}

int fl_cli_load_scenario(const char *path, struct fl_scenario **ret)
{
	struct fl_diag diag;
	int r, code;

	fl_diag_init(&diag, path);
	r = fl_scenario_load(path, NULL, &diag, ret);
	if (r == -EINVAL) {
		_cleanup_free_ char *text = fl_diag_format(&diag);
		fputs(text ? text : "out of memory\n", stderr);
		code = FL_EXIT_INPUT;
	} else if (r == -ENOMEM) {
		fprintf(stderr, "%s: error: out of memory\n", path);
		code = FL_EXIT_SYSTEM;
	} else if (r < 0) {
		fprintf(stderr, "%s: error: cannot read: %s (expected a readable scenario file)\n",
			path, strerror(-r));
		code = FL_EXIT_INPUT;
	} else {
		code = FL_EXIT_OK;
	}
	fl_diag_done(&diag);
	return code;
}

int fl_cmd_validate(int argc, char **argv)
{
	struct validate_opts o = { 0 };
	int i = fl_cli_parse_options("validate", argc, argv, on_option, &o);
	int worst = FL_EXIT_OK;

	if (i < 0)
		return FL_EXIT_INPUT;
	if (i >= argc)
		return fl_cli_usage_error("validate", "no scenario file given");
	for (; i < argc; i++) {
		_cleanup_(fl_scenario_freep) struct fl_scenario *s = NULL;
		int code = fl_cli_load_scenario(argv[i], &s);
		size_t faults = 0;
		char end[FL_FMT_MAX], real[FL_FMT_MAX];

		if (code != FL_EXIT_OK) {
			if (code > worst)
				worst = code;
			continue;
		}
		if (o.quiet)
			continue;
		for (size_t k = 0; k < s->n_steps; k++)
			faults += s->steps[k].kind == FL_STEP_FAULT;
		printf("%s: ok: %s: %zu service%s, %zu fault%s in %zu step%s, %zu flow%s, %zu expectation%s; ends at %s (real %s)\n",
		       argv[i], s->name, s->n_services, s->n_services == 1 ? "" : "s", faults,
		       faults == 1 ? "" : "s", s->n_steps, s->n_steps == 1 ? "" : "s", s->n_flows,
		       s->n_flows == 1 ? "" : "s", s->n_expects, s->n_expects == 1 ? "" : "s",
		       fl_format_duration_human(s->end_ns, end),
		       fl_format_duration_human(fl_scenario_real_ns(s, s->end_ns), real));
	}
	return worst;
}
