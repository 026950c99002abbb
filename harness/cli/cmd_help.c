/* SPDX-License-Identifier: MIT */
/*
 * `faultline help [COMMAND]` and `faultline help --man`: both from the
 * command and option tables.
 */
#include <string.h>
#include "cli.h"

static void roff_escape(FILE *f, const char *s)
{
	if (*s == '.' || *s == '\'')
		fputs("\\&", f);
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\e", f);
		else if (*s == '-')
			fputs("\\-", f);
		else
			fputc(*s, f);
	}
}

static void man_options(FILE *f, const char *command)
{
	for (const struct fl_cli_option *o = fl_cli_options; o->name; o++) {
		if ((command == NULL) != (o->command == NULL) ||
		    (command && strcmp(command, o->command) != 0))
			continue;
		fputs(".TP\n", f);
		if (o->short_name)
			fprintf(f, "\\fB\\-%c\\fR, ", o->short_name);
		fputs("\\fB\\-\\-", f);
		roff_escape(f, o->name);
		fputs("\\fR", f);
		if (o->arg) {
			fputs(" \\fI", f);
			roff_escape(f, o->arg);
			fputs("\\fR", f);
		}
		fputc('\n', f);
		roff_escape(f, o->help);
		fputc('\n', f);
	}
}

static void man(FILE *f)
{
	fprintf(f, ".TH FAULTLINE 1 \"\" \"faultline %s\" \"User Commands\"\n", FL_VERSION);
	fputs(".SH NAME\nfaultline \\- inject network faults on a timeline and judge how user flows degrade\n",
	      f);
	fputs(".SH SYNOPSIS\n\\fBfaultline\\fR \\fICOMMAND\\fR [\\fIOPTIONS\\fR] [\\fIARGS\\fR]\n", f);
	fputs(".SH COMMANDS\n", f);
	for (const struct fl_cli_command *c = fl_cli_commands; c->name; c++) {
		fprintf(f, ".SS \"faultline %s %s\"\n", c->name, c->args);
		roff_escape(f, c->description);
		fputc('\n', f);
		{
			bool any = false;
			for (const struct fl_cli_option *o = fl_cli_options; o->name; o++)
				any |= o->command && strcmp(o->command, c->name) == 0;
			if (any) {
				fputs(".PP\nOptions:\n", f);
				man_options(f, c->name);
			}
		}
	}
	fputs(".SH OPTIONS FOR EVERY COMMAND\n", f);
	man_options(f, NULL);
	fputs(".SH EXIT STATUS\n.TP\n0\nran, and every expectation held\n.TP\n1\nan expectation failed\n"
	      ".TP\n2\nbad input: usage or scenario file; nothing was changed\n"
	      ".TP\n3\nthe system could not do it (a kernel feature or permission is missing); nothing is left behind\n",
	      f);
	fputs(".SH FILES\n.TP\n/run/faultline/\njournal of every kernel object faultline creates\n", f);
	fputs(".SH SEE ALSO\n\\fBtc\\fR(8), \\fBtc\\-netem\\fR(8), \\fBnft\\fR(8)\n", f);
}

struct help_opts {
	bool man;
};

static int on_option(const char *name, const char *arg, void *userdata)
{
	struct help_opts *o = userdata;

	(void)arg;
	if (strcmp(name, "man") == 0)
		o->man = true;
	return 0;
}

int fl_cmd_help(int argc, char **argv)
{
	struct help_opts o = { 0 };
	const struct fl_cli_command *c;
	int i = fl_cli_parse_options("help", argc, argv, on_option, &o);

	if (i < 0)
		return FL_EXIT_INPUT;
	if (o.man) {
		man(stdout);
		return FL_EXIT_OK;
	}
	if (i >= argc) {
		fl_cli_print_usage(stdout);
		return FL_EXIT_OK;
	}
	c = fl_cli_find_command(argv[i]);
	if (!c)
		return fl_cli_usage_error("help", "unknown command '%s'", argv[i]);
	fl_cli_print_command_help(stdout, c);
	return FL_EXIT_OK;
}
