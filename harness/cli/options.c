/* SPDX-License-Identifier: MIT */
/*
 * Every option, described once: the parser, --help and the man page read
 * this table.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

const struct fl_cli_option fl_cli_options[] = {
	{ NULL, "help", 'h', NULL, "Show this help and exit." },
	{ "plan", "json", 0, NULL,
	  "Print the plan as one JSON document instead of text (same content, same order)." },
	{ "plan", "kernel", 0, "CAPS",
	  "Plan for a kernel with these features instead of probing this one: 'all' "
	  "(a stock distribution kernel), 'no-netem' (netem missing), or a comma-separated list "
	  "of netem, ifb, clsact, u32, mirred, tbf, nftables, netdev-egress, nfqueue (the xt "
	  "NFQUEUE target through nft_compat), nft-queue (nft's own queue statement). Makes "
	  "plans reproducible across machines." },
	{ "run", "timescale", 0, "N",
	  "Replay speed, overriding the scenario's: 3600 runs one scenario hour per real second." },
	{ "run", "dry-run", 0, NULL,
	  "Keep the timeline and print what would happen when, but change nothing in the kernel." },
	{ "run", "max-duration", 0, "DURATION",
	  "Hard cap: after this much real time everything is reverted, whatever else happens "
	  "(default: the scenario's real end plus 60s)." },
	{ "run", "events", 0, "FILE",
	  "Write one JSON object per event (start, each step with its times, end) to FILE. A "
	  "step's apply_ns runs until it is in effect; tidy_ns is the time then spent deleting "
	  "the IFBs, u32 priorities and clsact qdiscs it ended (tidied: how many), which no "
	  "packet reached any more." },
	{ "run", "run-dir", 0, "DIR", "Where journals and locks live (default /run/faultline)." },
	{ "run", "user", 0, "USER",
	  "Run the flows' probes, user commands and invariants as USER (a name or uid; "
	  "default nobody). Never root: root is refused." },
	{ "run", "report", 0, "DIR",
	  "Write report.json, junit.xml, report.html and the wire observer's wire.json into DIR "
	  "(created, with its parents, if missing)." },
	{ "run", "pcap", 0, "FILE",
	  "Save what the wire observer captured to FILE for Wireshark (then FILE.1, ... at 100 MB "
	  "each, at most 10 files; other namespaces to FILE.nsN)." },
	{ "validate", "quiet", 'q', NULL, "Print nothing for valid files; errors still go to stderr." },
	{ "help", "man", 0, NULL, "Write the faultline(1) man page (roff) to standard output." },
	{ "status", "json", 0, NULL, "Print the status as one JSON document." },
	{ "status", "run-dir", 0, "DIR", "Where the journals are (default /run/faultline)." },
	{ "recover", "run-dir", 0, "DIR", "Where the journals are (default /run/faultline)." },
	{ 0 },
};

int fl_cli_parse_options(const char *command, int argc, char **argv,
			 int (*on_option)(const char *name, const char *arg, void *userdata),
			 void *userdata)
{
	struct option longopts[32];
	const struct fl_cli_option *map[32];
	char shortopts[64] = "";
	size_t n = 0, ns = 0;

	for (const struct fl_cli_option *o = fl_cli_options; o->name && n < 31; o++) {
		if (o->command && strcmp(o->command, command) != 0)
			continue;
		longopts[n] = (struct option){ o->name, o->arg ? required_argument : no_argument,
					       NULL, (int)(256 + n) };
		map[n] = o;
		if (o->short_name && ns < sizeof(shortopts) - 3) {
			shortopts[ns++] = o->short_name;
			if (o->arg)
				shortopts[ns++] = ':';
		}
		n++;
	}
	longopts[n] = (struct option){ 0 };
	shortopts[ns] = '\0';

	optind = 1;
	opterr = 0;
	for (;;) {
		int c = getopt_long(argc, argv, shortopts, longopts, NULL);
		const struct fl_cli_option *o = NULL;

		if (c == -1)
			break;
		if (c == '?' || c == ':') {
			const char *bad = argv[optind - 1];
			if (optopt && optopt < 256)
				fl_cli_usage_error(command, "unknown or incomplete option '-%c'", optopt);
			else
				fl_cli_usage_error(command, "unknown or incomplete option '%s'", bad);
			return -1;
		}
		if (c >= 256)
			o = map[c - 256];
		else
			for (size_t i = 0; i < n; i++)
				if (map[i]->short_name == c)
					o = map[i];
		if (!o)
			return -1;
		if (strcmp(o->name, "help") == 0) {
			fl_cli_print_command_help(stdout, fl_cli_find_command(command));
			exit(FL_EXIT_OK);
		}
		if (on_option(o->name, optarg, userdata) < 0)
			return -1;
	}
	return optind;
}
