/* SPDX-License-Identifier: MIT */
/*
 * faultline recover: remove everything a run left behind, in every
 * namespace, from the journals and by our reserved names. Idempotent.
 */
#include <errno.h>
#include <string.h>
#include "cli.h"
#include "engine/engine.h"

struct recover_opts {
	const char *run_dir;
	size_t lines;
};

static int on_option(const char *name, const char *arg, void *userdata)
{
	struct recover_opts *o = userdata;

	if (strcmp(name, "run-dir") == 0)
		o->run_dir = arg;
	return 0;
}

static void report(const char *line, void *userdata)
{
	struct recover_opts *o = userdata;

	printf("%s\n", line);
	o->lines++;
}

int fl_cmd_recover(int argc, char **argv)
{
	struct recover_opts o = { .run_dir = FL_RUN_DIR };
	int i = fl_cli_parse_options("recover", argc, argv, on_option, &o), r;

	if (i < 0)
		return FL_EXIT_INPUT;
	if (i < argc)
		return fl_cli_usage_error("recover", "unexpected argument '%s'", argv[i]);
	r = fl_recover(o.run_dir, report, &o);
	if (r < 0) {
		fprintf(stderr, "faultline recover: error: %s%s\n", strerror(-r),
			r == -EPERM ? " (expected to run as root, or with CAP_NET_ADMIN and CAP_SYS_ADMIN)" : "");
		return FL_EXIT_SYSTEM;
	}
	if (o.lines == 0)
		printf("nothing to recover: no journal and no object with faultline's reserved names\n");
	return FL_EXIT_OK;
}
