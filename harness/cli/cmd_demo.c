/* SPDX-License-Identifier: MIT */
/*
 * faultline demo up|down|status: the demo system (docs/DEMO.md), a
 * miniature of the replayed outages in network namespaces on this host.
 *
 * The topology and the services live in demo/ as a shell script and small
 * Python programs, so that a reader can follow every step with ip(8); this
 * command finds that script and runs it. Where: $FL_DEMO_DIR, else a demo/
 * directory next to or above this executable (a build tree inside the
 * source tree), else PREFIX/share/faultline/demo.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"

#define DEMO_SCRIPT "fl-demo"

static bool script_in(const char *dir, char *out, size_t len)
{
	if ((size_t)snprintf(out, len, "%s/%s", dir, DEMO_SCRIPT) >= len)
		return false;
	return access(out, R_OK) == 0;
}

/* Fills out with the path of demo/fl-demo; false if there is none. */
static bool find_script(char *out, size_t len)
{
	const char *env = getenv("FL_DEMO_DIR");
	char exe[PATH_MAX], dir[PATH_MAX + 32];
	ssize_t n;

	if (env && *env)
		return script_in(env, out, len);
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return false;
	exe[n] = '\0';
	/* build/harness/faultline -> build/harness -> build -> the source tree. */
	for (int up = 0; up < 4; up++) {
		char *slash = strrchr(exe, '/');

		if (!slash || slash == exe)
			break;
		*slash = '\0';
		snprintf(dir, sizeof(dir), "%s/demo", exe);
		if (script_in(dir, out, len))
			return true;
		if (up == 0) { /* PREFIX/bin/faultline */
			snprintf(dir, sizeof(dir), "%s/../share/faultline/demo", exe);
			if (script_in(dir, out, len))
				return true;
		}
	}
	return false;
}

static int on_option(const char *name, const char *arg, void *userdata)
{
	(void)name;
	(void)arg;
	(void)userdata;
	return 0;
}

int fl_cmd_demo(int argc, char **argv)
{
	char script[PATH_MAX];
	int i = fl_cli_parse_options("demo", argc, argv, on_option, NULL);
	const char *action;

	if (i < 0)
		return FL_EXIT_INPUT;
	if (i >= argc)
		return fl_cli_usage_error("demo", "missing action (expected up, down or status)");
	action = argv[i];
	if (strcmp(action, "up") != 0 && strcmp(action, "down") != 0 &&
	    strcmp(action, "status") != 0)
		return fl_cli_usage_error(
			"demo", "unknown action '%s' (expected up, down or status)", action);
	if (i + 1 < argc)
		return fl_cli_usage_error("demo", "unexpected argument '%s'", argv[i + 1]);
	if (strcmp(action, "status") != 0 && geteuid() != 0) {
		fprintf(stderr,
			"%s demo: error: '%s' needs root: it creates and removes network "
			"namespaces (try sudo)\n",
			fl_cli_program, action);
		return FL_EXIT_SYSTEM;
	}
	if (!find_script(script, sizeof(script))) {
		fprintf(stderr,
			"%s demo: error: cannot find demo/%s (expected FL_DEMO_DIR set to "
			"the source tree's demo/ directory)\n",
			fl_cli_program, DEMO_SCRIPT);
		return FL_EXIT_SYSTEM;
	}
	fflush(NULL);
	/* The script's exit code is the command's: 0 ok, 1 (status) not all up, 3 failed. */
	execl("/bin/bash", "bash", script, action, (char *)NULL);
	fprintf(stderr, "%s demo: error: cannot run /bin/bash %s: %s\n", fl_cli_program, script,
		strerror(errno));
	return FL_EXIT_SYSTEM;
}
