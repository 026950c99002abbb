/* SPDX-License-Identifier: MIT */
/*
 * The command line. One file per subcommand (cmd_*.c); the tables in
 * commands.c and options.c describe every command and option once, and
 * generate --help, `faultline help CMD` and the man page.
 *
 * Exit codes, for every command:
 */
#ifndef FL_CLI_H
#define FL_CLI_H

#include <stdbool.h>
#include <stdio.h>

enum {
	FL_EXIT_OK = 0,       /* ran, and every expectation held */
	FL_EXIT_FAILED = 1,   /* an expectation failed */
	FL_EXIT_INPUT = 2,    /* bad input: usage, scenario file */
	FL_EXIT_SYSTEM = 3,   /* the system could not do it (kernel feature, permissions) */
};

struct fl_cli_command {
	const char *name;
	const char *args;     /* "FILE..." */
	const char *summary;  /* one line */
	const char *description; /* paragraphs for help and the man page */
	int (*run)(int argc, char **argv); /* argv[0] is the command name */
};

struct fl_cli_option {
	const char *command; /* NULL: global */
	const char *name;    /* long name, without "--" */
	char short_name;     /* 0 if none */
	const char *arg;     /* NULL: a flag */
	const char *help;
};

extern const struct fl_cli_command fl_cli_commands[];
extern const struct fl_cli_option fl_cli_options[];
extern const char *fl_cli_program;

const struct fl_cli_command *fl_cli_find_command(const char *name);

/*
 * getopt_long over the options of one command (and the global ones).
 * Calls on_option(id, arg, userdata) with id = the option's long name.
 * Returns the index of the first operand, or -1 after printing a usage error.
 */
int fl_cli_parse_options(const char *command, int argc, char **argv,
			 int (*on_option)(const char *name, const char *arg, void *userdata),
			 void *userdata);

void fl_cli_print_command_help(FILE *f, const struct fl_cli_command *c);
void fl_cli_print_usage(FILE *f);
/* "faultline CMD: error: ..." to stderr; returns FL_EXIT_INPUT. */
int fl_cli_usage_error(const char *command, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

int fl_cmd_validate(int argc, char **argv);
int fl_cmd_plan(int argc, char **argv);
int fl_cmd_help(int argc, char **argv);
int fl_cmd_status(int argc, char **argv);
int fl_cmd_run(int argc, char **argv);
int fl_cmd_recover(int argc, char **argv);
int fl_cmd_demo(int argc, char **argv);

struct fl_scenario;
/* Loads and validates a scenario, printing located errors. Returns 0 or an FL_EXIT_* code. */
int fl_cli_load_scenario(const char *path, struct fl_scenario **ret);

/* Whether stdout is a terminal (colors, in-place progress). */
bool fl_cli_isatty(void);

#endif
