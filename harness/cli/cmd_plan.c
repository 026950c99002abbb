/* SPDX-License-Identifier: MIT */
/*
 * faultline plan FILE [--json] [--kernel CAPS]
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "engine/probe.h"
#include "plan/plan.h"
#include "scenario/model.h"

struct plan_opts {
	bool json;
	const char *kernel;
};

static int on_option(const char *name, const char *arg, void *userdata)
{
	struct plan_opts *o = userdata;

	if (strcmp(name, "json") == 0)
		o->json = true;
	else if (strcmp(name, "kernel") == 0)
		o->kernel = arg;
	return 0;
}

/* SSH_CONNECTION is "client-ip client-port server-ip server-port": keep the server port. */
static void ssh_session_port(struct fl_plan_options *po)
{
	const char *c = getenv("SSH_CONNECTION");
	char ip1[64], ip2[64];
	unsigned cport, sport;

	if (c && sscanf(c, "%63s %u %63s %u", ip1, &cport, ip2, &sport) == 4 && sport > 0 &&
	    sport < 65536)
		po->ssh_ports[po->n_ssh_ports++] = (uint16_t)sport;
}

int fl_cmd_plan(int argc, char **argv)
{
	_cleanup_(fl_scenario_freep) struct fl_scenario *s = NULL;
	_cleanup_(fl_plan_freep) struct fl_plan *p = NULL;
	struct plan_opts o = { 0 };
	struct fl_plan_options po = { 0 };
	struct fl_diag diag;
	int i, r, code;

	i = fl_cli_parse_options("plan", argc, argv, on_option, &o);
	if (i < 0)
		return FL_EXIT_INPUT;
	if (argc - i != 1)
		return fl_cli_usage_error("plan", "expected exactly one scenario file");
	if (o.kernel) {
		r = fl_caps_parse(o.kernel, &po.caps);
		if (r < 0)
			return fl_cli_usage_error("plan", "bad --kernel '%s' (expected all, no-netem, or a list of netem, ifb, clsact, u32, mirred, tbf, nftables, netdev-egress, nfqueue, nft-queue)",
						  o.kernel);
	}

	code = fl_cli_load_scenario(argv[i], &s);
	if (code != FL_EXIT_OK)
		return code;
	if (!o.kernel) {
		r = fl_probe(&po.caps);
		if (r < 0) {
			fprintf(stderr, "%s: error: cannot probe the kernel: %s\n", argv[i], strerror(-r));
			return FL_EXIT_SYSTEM;
		}
	}
	ssh_session_port(&po);

	fl_diag_init(&diag, argv[i]);
	r = fl_plan_build(s, &po, &diag, &p);
	if (r < 0) {
		_cleanup_free_ char *text = fl_diag_format(&diag);
		if (r == -ENOMEM)
			fprintf(stderr, "%s: error: out of memory\n", argv[i]);
		else
			fputs(text ? text : "", stderr);
		fl_diag_done(&diag);
		return r == -EINVAL ? FL_EXIT_INPUT : FL_EXIT_SYSTEM;
	}
	fl_diag_done(&diag);

	_cleanup_free_ char *out = fl_plan_render(p, o.json);
	if (!out) {
		fprintf(stderr, "%s: error: out of memory\n", argv[i]);
		return FL_EXIT_SYSTEM;
	}
	fputs(out, stdout);
	return FL_EXIT_OK;
}
