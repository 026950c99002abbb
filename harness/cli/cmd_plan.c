/* SPDX-License-Identifier: MIT */
#include "cli.h"
int fl_cmd_plan(int argc, char **argv)
{
	(void)argc; (void)argv;
	return FL_EXIT_SYSTEM;
}
