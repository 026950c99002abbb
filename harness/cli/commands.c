/* SPDX-License-Identifier: MIT */
/*
 * The command table: dispatch, `--help` and the man page all read it.
 */
#include <stdarg.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"

const struct fl_cli_command fl_cli_commands[] = {
	{
		.name = "validate",
		.args = "FILE...",
		.summary = "check scenario files without touching anything",
		.description =
			"Parses and validates each scenario file: YAML syntax, known keys and types, "
			"units, references between services, steps and flows, time order, and faults "
			"that would contradict each other. Prints one summary line per valid file. "
			"Errors are printed as FILE:LINE:COL: error: WHAT (expected ...), several per "
			"file where possible. Needs no privileges and touches nothing.",
		.run = fl_cmd_validate,
	},
	{
		.name = "plan",
		.args = "FILE",
		.summary = "show the timeline and the exact kernel objects each step would create",
		.description =
			"Validates the scenario, resolves hostnames (all A and AAAA records), probes "
			"what this kernel can do (in a throw-away user and network namespace, so "
			"nothing on the host changes) and chooses an engine per fault. Prints the "
			"timeline in scenario and real time (after the timescale) and, for every step, "
			"the kernel objects it creates or deletes as the equivalent tc(8) and nft(8) "
			"commands a person could paste. Needs no privileges and touches nothing.",
		.run = fl_cmd_plan,
	},
	{
		.name = "run",
		.args = "FILE",
		.summary = "run the timeline: apply each step at its time, then revert everything",
		.description =
			"Validates the scenario, takes the namespace's lock, probes the kernel and plans, "
			"all before any change. Then applies each step at its real time (scenario time "
			"divided by the timescale) on a monotonic clock, journal first. Whatever ends "
			"the run (the end, SIGINT/SIGTERM/SIGHUP, a step that fails, the hard cap), "
			"everything is reverted; if this process dies, its guardian reverts within a "
			"second. Prints one line per step with real and scenario time (and a live status "
			"line on a terminal). Meanwhile an unprivileged harness (--user) probes the "
			"scenario's flows from their namespaces and a wire observer captures their "
			"traffic; after a grace period for recovery it judges every expectation and "
			"prints a table of verdicts with their numbers and what the wire showed of each "
			"fault. Exits 0 when the run completed and every expectation held, 1 when one "
			"failed, 2 on bad input, 3 when a step could not be applied or the cap passed, "
			"128+N when stopped by signal N.",
		.run = fl_cmd_run,
	},
	{
		.name = "status",
		.args = "",
		.summary = "list what faultline has in the kernel now, per namespace",
		.description =
			"Reads the journals under the run directory and lists, per network "
			"namespace, the run that owns it (and whether it is still running), its "
			"active faults and its live kernel objects. Exits 1 when a run that is gone "
			"left objects behind: run 'faultline recover'.",
		.run = fl_cmd_status,
	},
	{
		.name = "recover",
		.args = "",
		.summary = "remove every fault a run left behind, in every namespace",
		.description =
			"For every journal, enters its namespace and removes the objects it lists, "
			"newest first; then, in this namespace and every one under /run/netns, "
			"removes what carries faultline's reserved names (nft tables 'faultline', "
			"links flifb*, u32 priorities 0xfffb to 0xfffe) that no journal accounted for. "
			"A clsact qdisc with no journal is left alone: it may not be ours. Safe to run "
			"at any time, and twice. Needs CAP_NET_ADMIN and CAP_SYS_ADMIN.",
		.run = fl_cmd_recover,
	},
	{
		.name = "demo",
		.args = "up|down|status",
		.summary = "bring the demo system (two shops and their provider) up or down",
		.description =
			"up: creates the demo's network namespaces (fl-demo-*), joined through the "
			"router namespace fl-demo-router where scenarios put their faults, and starts "
			"its services: the messenger company's login, pay, in-chat transfer, chat and "
			"business channel, a card acquirer, and two shops that depend on them, one "
			"resilient and one fragile (docs/DEMO.md). Waits until every service answers. "
			"down: stops every demo process and removes the namespaces and "
			"/run/faultline-demo. status: lists the namespaces and services; exits 1 unless "
			"all run. up and down need root and are safe to run twice. The scripts are "
			"found in $FL_DEMO_DIR, else in demo/ above the executable.",
		.run = fl_cmd_demo,
	},
	{
		.name = "help",
		.args = "[COMMAND]",
		.summary = "show help for a command, or write the man page",
		.description = "Without a command, lists the commands. With --man, writes the "
			       "faultline(1) man page in roff to standard output.",
		.run = fl_cmd_help,
	},
	{ 0 },
};

const struct fl_cli_command *fl_cli_find_command(const char *name)
{
	for (const struct fl_cli_command *c = fl_cli_commands; c->name; c++)
		if (strcmp(c->name, name) == 0)
			return c;
	return NULL;
}

/* Prints text wrapped at width columns, each line indented by indent spaces. */
static void wrap(FILE *f, const char *text, int indent, int width)
{
	int col = 0;
	const char *p = text;

	while (*p) {
		const char *w = p;
		while (*w && *w != ' ')
			w++;
		int len = (int)(w - p);
		if (col > indent && col + 1 + len > width) {
			fputc('\n', f);
			col = 0;
		}
		if (col == 0) {
			fprintf(f, "%*s", indent, "");
			col = indent;
		} else {
			fputc(' ', f);
			col++;
		}
		fwrite(p, 1, (size_t)len, f);
		col += len;
		p = *w ? w + 1 : w;
	}
	if (col)
		fputc('\n', f);
}

static void print_options(FILE *f, const char *command)
{
	for (const struct fl_cli_option *o = fl_cli_options; o->name; o++) {
		if ((command == NULL) != (o->command == NULL) ||
		    (command && strcmp(command, o->command) != 0))
			continue;
		char head[80];
		if (o->short_name)
			snprintf(head, sizeof(head), "-%c, --%s%s%s", o->short_name, o->name,
				 o->arg ? " " : "", o->arg ? o->arg : "");
		else
			snprintf(head, sizeof(head), "    --%s%s%s", o->name, o->arg ? " " : "",
				 o->arg ? o->arg : "");
		fprintf(f, "  %s\n", head);
		wrap(f, o->help, 8, 79);
	}
}

void fl_cli_print_usage(FILE *f)
{
	fprintf(f, "Usage: %s COMMAND [OPTIONS] [ARGS]\n\n", fl_cli_program);
	fprintf(f, "Injects network faults on a timeline and judges how user flows degrade.\n\n");
	fprintf(f, "Commands:\n");
	for (const struct fl_cli_command *c = fl_cli_commands; c->name; c++)
		fprintf(f, "  %-10s %s\n", c->name, c->summary);
	fprintf(f, "\nOptions for every command:\n");
	print_options(f, NULL);
	fprintf(f, "\nExit codes: 0 ok, 1 an expectation failed, 2 bad input, 3 the system could not do it.\n");
	fprintf(f, "'%s help COMMAND' shows a command's options.\n", fl_cli_program);
}

void fl_cli_print_command_help(FILE *f, const struct fl_cli_command *c)
{
	fprintf(f, "Usage: %s %s [OPTIONS] %s\n\n", fl_cli_program, c->name, c->args);
	wrap(f, c->description, 0, 79);
	fprintf(f, "\nOptions:\n");
	print_options(f, c->name);
	print_options(f, NULL);
}

int fl_cli_usage_error(const char *command, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s %s: error: ", fl_cli_program, command);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see '%s help %s')\n", fl_cli_program, command);
	return FL_EXIT_INPUT;
}

bool fl_cli_isatty(void)
{
	return isatty(STDOUT_FILENO) == 1;
}
