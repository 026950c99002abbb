/* SPDX-License-Identifier: MIT */
/*
 * The victim of integration/recover: opens the engine on SCENARIO's scope
 * with its journal in RUN_DIR, applies every step but the last (the end)
 * and waits to be killed. Progress goes to stdout, one line each, unbuffered:
 *   open PID / step I / applied / error ...
 * Usage: integration_apply_helper SCENARIO RUN_DIR
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "engine/engine.h"
#include "engine/probe.h"
#include "scenario/parse.h"

int main(int argc, char **argv)
{
	struct fl_scenario *s = NULL;
	struct fl_engine_ns *e = NULL;
	struct fl_plan *p = NULL;
	struct fl_plan_options po = { 0 };
	struct fl_diag d;
	int holder = 0, r;

	if (argc != 3) {
		fprintf(stderr, "usage: %s SCENARIO RUN_DIR\n", argv[0]);
		return 2;
	}
	setvbuf(stdout, NULL, _IONBF, 0);
	fl_diag_init(&d, argv[1]);
	r = fl_scenario_load(argv[1], NULL, &d, &s);
	if (r < 0) {
		char *m = fl_diag_format(&d);
		printf("error scenario: %s %s\n", strerror(-r), m ? m : "");
		return 1;
	}
	r = fl_probe(&po.caps);
	if (r == 0)
		r = fl_engine_open(&s->scope, argv[2], s->name, &e, &holder);
	if (r < 0) {
		printf("error open: %s (holder %d)\n", strerror(-r), holder);
		return 1;
	}
	printf("open %d\n", (int)getpid());
	r = fl_engine_list_devices(e, &po.devices, &po.n_devices);
	if (r == 0)
		r = fl_plan_build(s, &po, &d, &p);
	if (r < 0) {
		char *m = fl_diag_format(&d);
		printf("error plan: %s %s\n", strerror(-r), m ? m : "");
		return 1;
	}
	for (size_t i = 0; i + 1 < p->n_steps; i++) {
		printf("step %zu\n", i);
		r = fl_engine_apply_step(e, p, i, 0);
		if (r < 0) {
			printf("error step %zu: %s: %s\n", i, strerror(-r), fl_engine_error(e));
			return 1; /* leave everything for recover */
		}
	}
	printf("applied\n");
	for (;;)
		pause();
}
