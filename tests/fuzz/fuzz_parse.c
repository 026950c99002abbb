/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: arbitrary bytes through the parser, the validator, and
 * for every input that is valid, the planner and both renderers. Nothing
 * reaches the network: hostnames resolve through a fake, devices are given.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "plan/plan.h"
#include "scenario/parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Deterministic environment: names starting with A to M are set. */
static const char *fake_getenv(const char *name, void *userdata)
{
	(void)userdata;
	return name[0] >= 'A' && name[0] <= 'M' ? "10" : NULL;
}

static int fake_resolve(const char *host, struct fl_target **ret, size_t *ret_n, void *userdata)
{
	struct fl_target *t;

	(void)userdata;
	if (strlen(host) % 3 == 0)
		return -ENOENT; /* exercise the error path too */
	t = calloc(2, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t[0] = (struct fl_target){ .family = AF_INET, .prefixlen = 32 };
	t[0].addr.v4.s_addr = htonl(0x0a000000u | (uint32_t)strlen(host));
	t[1] = (struct fl_target){ .family = AF_INET6, .prefixlen = 128 };
	t[1].addr.v6.s6_addr[0] = 0xfd;
	t[1].addr.v6.s6_addr[15] = (uint8_t)strlen(host);
	*ret = t;
	*ret_n = 2;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fl_parse_options po = { .getenv = fake_getenv };
	struct fl_scenario *s = NULL;
	struct fl_diag diag;

	fl_diag_init(&diag, "fuzz.yaml");
	if (fl_scenario_parse("fuzz.yaml", (const char *)data, size, &po, &diag, &s) == 0) {
		static char *devs[] = { "eth0", "eth1" };
		struct fl_plan_options opts = {
			.caps = { (size % 2) ? FL_CAP_ALL : FL_CAP_ALL & ~FL_CAP_NETEM, "fuzz" },
			.resolve = fake_resolve,
			.devices = devs,
			.n_devices = 2,
		};
		struct fl_plan *p = NULL;
		struct fl_diag pd;

		fl_diag_init(&pd, "fuzz.yaml");
		if (fl_plan_build(s, &opts, &pd, &p) == 0) {
			free(fl_plan_render(p, false));
			free(fl_plan_render(p, true));
			fl_plan_free(p);
		}
		free(fl_diag_format(&pd));
		fl_diag_done(&pd);
		fl_scenario_free(s);
	}
	free(fl_diag_format(&diag));
	fl_diag_done(&diag);
	return 0;
}
