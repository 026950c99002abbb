/* SPDX-License-Identifier: MIT */
#include <string.h>
#include "cli.h"

const char *fl_cli_program = "faultline";

int main(int argc, char **argv)
{
	const struct fl_cli_command *c;

	if (argc < 2) {
		fl_cli_print_usage(stderr);
		return FL_EXIT_INPUT;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fl_cli_print_usage(stdout);
		return FL_EXIT_OK;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("faultline %s\n", FL_VERSION);
		return FL_EXIT_OK;
	}
	c = fl_cli_find_command(argv[1]);
	if (!c) {
		fprintf(stderr, "%s: error: unknown command '%s' (expected one of the commands in '%s --help')\n",
			fl_cli_program, argv[1], fl_cli_program);
		return FL_EXIT_INPUT;
	}
	return c->run(argc - 1, argv + 1);
}
