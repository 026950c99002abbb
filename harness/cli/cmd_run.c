/* SPDX-License-Identifier: MIT */
/*
 * faultline run FILE: the timeline, for real. Whatever happens (the end, a
 * signal, a failed step, the hard cap, a crash), the namespace ends as it
 * began: the run reverts, and if it cannot, its guardian does.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>
#include "cli.h"
#include "engine/engine.h"
#include "engine/probe.h"
#include "journal/guardian.h"
#include "flows/phase.h"
#include "run_harness.h"
#include "util/caps.h"
#include "plan/plan.h"
#include "runner/runner.h"
#include "scenario/fault.h"
#include "scenario/model.h"
#include "util/strbuf.h"

/* The hard cap's default: the scenario's real end plus this. */
#define FL_RUN_MARGIN_NS (60 * FL_NSEC_PER_SEC)
#define FL_TICK_NS (100 * FL_NSEC_PER_MSEC)

struct run_opts {
	const char *timescale;
	const char *max_duration;
	const char *events;
	const char *run_dir;
	const char *user;
	const char *report;
	const char *pcap;
	bool dry_run;
};

struct run_state {
	const struct fl_plan *p;
	bool tty;
	bool status_shown;
	bool *active; /* per scenario step: a fault in force */
	FILE *events;
	uint64_t start_ns;
	bool dry_run;
	struct run_harness *harness; /* NULL: no flows or expectations */
};

static int on_option(const char *name, const char *arg, void *userdata)
{
	struct run_opts *o = userdata;

	if (strcmp(name, "timescale") == 0)
		o->timescale = arg;
	else if (strcmp(name, "max-duration") == 0)
		o->max_duration = arg;
	else if (strcmp(name, "events") == 0)
		o->events = arg;
	else if (strcmp(name, "run-dir") == 0)
		o->run_dir = arg;
	else if (strcmp(name, "dry-run") == 0)
		o->dry_run = true;
	else if (strcmp(name, "user") == 0)
		o->user = arg;
	else if (strcmp(name, "report") == 0)
		o->report = arg;
	else if (strcmp(name, "pcap") == 0)
		o->pcap = arg;
	return 0;
}

static void clear_status(struct run_state *rs)
{
	if (rs->tty && rs->status_shown) {
		fputs("\r\033[K", stdout);
		rs->status_shown = false;
	}
}

/* One line of JSON per event, with the wall-clock offset from the start. */
static void event_json(struct run_state *rs, const char *event, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void event_json(struct run_state *rs, const char *event, const char *fmt, ...)
{
	va_list ap;

	if (!rs->events)
		return;
	fprintf(rs->events, "{\"event\":\"%s\",\"t_ns\":%llu", event,
		(unsigned long long)(fl_now_ns() - rs->start_ns));
	if (fmt && *fmt) {
		fputc(',', rs->events);
		va_start(ap, fmt);
		vfprintf(rs->events, fmt, ap);
		va_end(ap);
	}
	fputs("}\n", rs->events);
	fflush(rs->events);
}

static void describe_step(struct fl_strbuf *sb, const struct fl_plan *p, size_t i)
{
	const struct fl_step *st = &p->scenario->steps[p->steps[i].step];

	switch (st->kind) {
	case FL_STEP_FAULT:
		fl_strbuf_appendf(sb, "%s: %s on", st->id, fl_fault_kind_to_string(st->fault));
		for (size_t k = 0; k < st->n_services; k++)
			fl_strbuf_appendf(sb, "%s%s", k ? ", " : " ", st->services[k].name);
		fl_strbuf_appendf(sb, " (%s, %s)", fl_direction_to_string(st->direction),
				  fl_engine_to_string(p->faults[p->steps[i].step].engine));
		break;
	case FL_STEP_HEAL:
		fl_strbuf_appendf(sb, "%s: heal", st->id);
		if (st->heal_all)
			fl_strbuf_append(sb, " all");
		for (size_t k = 0; k < st->n_heals; k++)
			fl_strbuf_appendf(sb, "%s%s", k ? ", " : " ", st->heals[k].name);
		break;
	case FL_STEP_END:
		fl_strbuf_appendf(sb, "%s: end", st->id);
		break;
	}
}

static void on_event(const struct fl_run_event *ev, void *userdata)
{
	struct run_state *rs = userdata;
	const struct fl_plan *p = rs->p;
	const struct fl_scenario *s = p->scenario;
	char a[FL_FMT_MAX], b[FL_FMT_MAX];

	if (ev->kind == FL_EV_TICK) {
		if (!rs->tty)
			return;
		struct fl_strbuf sb = { 0 };
		double el = (double)ev->elapsed_ns / 1e9;
		double end = (double)fl_scenario_real_ns(s, s->end_ns) / 1e9;
		fl_strbuf_appendf(&sb, "\r\033[K  %.1fs / %.1fs  active:", el, end);
		bool any = false;
		for (size_t k = 0; k < s->n_steps; k++)
			if (rs->active[k]) {
				fl_strbuf_appendf(&sb, " %s", s->steps[k].id);
				any = true;
			}
		if (!any)
			fl_strbuf_append(&sb, " none");
		if (ev->step < p->n_steps) {
			double in = (double)p->steps[ev->step].real_ns / 1e9 - el;
			fl_strbuf_appendf(&sb, "  next: %s in %.1fs", s->steps[p->steps[ev->step].step].id,
					  in > 0 ? in : 0);
		}
		_cleanup_free_ char *line = fl_strbuf_steal(&sb);
		if (line) {
			fputs(line, stdout);
			fflush(stdout);
			rs->status_shown = true;
		}
		return;
	}

	const struct fl_step *st = &s->steps[p->steps[ev->step].step];
	struct fl_strbuf sb = { 0 };
	describe_step(&sb, p, ev->step);
	_cleanup_free_ char *what = fl_strbuf_steal(&sb);
	long long late_us = ((long long)ev->started_ns - (long long)ev->scheduled_ns) / 1000;

	clear_status(rs);
	printf("[real %8.3fs | scenario %s] %s %s in %.1f ms (%+lld us from schedule)\n",
	       (double)ev->started_ns / 1e9, fl_format_duration_human(st->at_ns, a), what ? what : "?",
	       ev->error < 0 ? "FAILED" : rs->dry_run ? "due (dry run)" : "applied",
	       (double)ev->apply_ns / 1e6, late_us);
	if (ev->error < 0)
		fprintf(stderr, "faultline run: error: %s\n", ev->message ? ev->message : strerror(-ev->error));
	fflush(stdout);

	if (ev->error == 0) {
		/*
		 * The instant it took effect, not now: the tidy part came after
		 * (up to 160 ms of u32 deletions at 10,000 targets), and traffic
		 * then already met the new phase. A window that began late would
		 * count a healed fault's first answers as answers during it.
		 */
		if (rs->harness)
			run_harness_phase(rs->harness, FL_PHASE_STEP_APPLIED, (uint32_t)p->steps[ev->step].step,
					  rs->start_ns + ev->started_ns + ev->apply_ns);
		if (st->kind == FL_STEP_FAULT)
			rs->active[p->steps[ev->step].step] = true;
		for (size_t k = 0; k < s->n_steps; k++)
			if (rs->active[k] && (st->kind == FL_STEP_END || st->heal_all))
				rs->active[k] = false;
		for (size_t h = 0; h < st->n_heals; h++)
			rs->active[st->heals[h].index] = false;
	}
	if (rs->events) {
		struct fl_strbuf js = { 0 };
		fl_strbuf_append(&js, "\"id\":");
		fl_strbuf_append_json(&js, st->id);
		fl_strbuf_appendf(&js, ",\"scenario_ns\":%llu,\"scheduled_ns\":%llu,\"started_ns\":%llu,\"apply_ns\":%llu,\"tidy_ns\":%llu,\"tidied\":%u,\"ok\":%s",
				  (unsigned long long)st->at_ns, (unsigned long long)ev->scheduled_ns,
				  (unsigned long long)ev->started_ns, (unsigned long long)ev->apply_ns,
				  (unsigned long long)ev->tidy_ns, ev->tidied, ev->error < 0 ? "false" : "true");
		if (ev->error < 0) {
			fl_strbuf_append(&js, ",\"error\":");
			fl_strbuf_append_json(&js, ev->message ? ev->message : strerror(-ev->error));
		}
		_cleanup_free_ char *body = fl_strbuf_steal(&js);
		event_json(rs, "step", "%s", body ? body : "");
	}
	(void)b;
}

/* Which faults the userspace engine carries, and the seed that repeats each. */
static void say_userspace(struct run_state *rs, struct fl_engine_ns *const *engines)
{
	const struct fl_plan *p = rs->p;

	for (size_t i = 0; i < p->scenario->n_steps; i++) {
		const struct fl_step *st = &p->scenario->steps[i];
		const struct fl_plan_fault *pf = &p->faults[i];
		uint64_t seed;

		if (st->kind != FL_STEP_FAULT || pf->engine != FL_ENGINE_USERSPACE ||
		    !fl_engine_userspace_seed(engines[pf->ns], i, &seed))
			continue;
		printf("faultline run: fault '%s': userspace engine on queue %u, seed %llu%s\n", st->id,
		       pf->queue_num, (unsigned long long)seed,
		       st->has_seed ? "" : " (drawn: add it to the step as `seed:` to repeat this run)");
		event_json(rs, "userspace", "\"fault\":\"%s\",\"queue\":%u,\"seed\":%llu", st->id,
			   pf->queue_num, (unsigned long long)seed);
	}
}

/* One engine per namespace the plan acts in, opened (lock, journal) as the planner asks for its devices. */
struct engines {
	struct fl_engine_ns **e;
	char **keys;
	size_t n;
	const char *run_dir, *scenario;
	int holder, err;
	const struct fl_scope *failed;
};

static int engine_for(struct engines *es, const struct fl_scope *sc, struct fl_engine_ns **ret)
{
	_cleanup_free_ char *key = fl_plan_ns_key(sc);
	struct fl_engine_ns *e = NULL;
	int r;

	if (!key)
		return -ENOMEM;
	for (size_t i = 0; i < es->n; i++)
		if (strcmp(es->keys[i], key) == 0) {
			*ret = es->e[i];
			return 0;
		}
	r = fl_engine_open(sc, es->run_dir, es->scenario, &e, &es->holder);
	if (r < 0) {
		es->err = r;
		es->failed = sc;
		return r;
	}
	struct fl_engine_ns **ge = reallocarray(es->e, es->n + 1, sizeof(*ge));
	char **gk = ge ? reallocarray(es->keys, es->n + 1, sizeof(*gk)) : NULL;
	if (ge)
		es->e = ge;
	if (gk)
		es->keys = gk;
	if (!ge || !gk) {
		fl_engine_close(e);
		return -ENOMEM;
	}
	es->e[es->n] = e;
	es->keys[es->n++] = TAKE_PTR(key);
	*ret = e;
	return 0;
}

static int list_devices(const struct fl_scope *sc, char ***ret, size_t *ret_n, void *userdata)
{
	struct fl_engine_ns *e;
	int r = engine_for(userdata, sc, &e);

	return r < 0 ? r : fl_engine_list_devices(e, ret, ret_n);
}

static void engines_close(struct engines *es)
{
	for (size_t i = 0; i < es->n; i++) {
		fl_engine_close(es->e[i]);
		free(es->keys[i]);
	}
	free(es->e);
	free(es->keys);
	*es = (struct engines){ 0 };
}

static int open_error(int r, int holder, const struct fl_scope *sc)
{
	const char *ns = sc->netns ? sc->netns : "this namespace";

	switch (r) {
	case -EBUSY:
		fprintf(stderr, "faultline run: error: netns %s is in use by another faultline run (pid %d) (expected one run per namespace)\n",
			ns, holder);
		return FL_EXIT_SYSTEM;
	case -EUCLEAN:
		fprintf(stderr, "faultline run: error: netns %s still holds faults of a run that died (pid %d) (expected a clean namespace: run 'faultline recover' first)\n",
			ns, holder);
		return FL_EXIT_SYSTEM;
	case -ENOENT:
		fprintf(stderr, "faultline run: error: netns %s does not exist (expected an existing namespace)\n",
			ns);
		return FL_EXIT_SYSTEM;
	case -EPERM:
	case -EACCES:
		fprintf(stderr, "faultline run: error: %s (expected root, or CAP_NET_ADMIN and CAP_SYS_ADMIN; try --dry-run)\n",
			strerror(-r));
		return FL_EXIT_SYSTEM;
	default:
		fprintf(stderr, "faultline run: error: cannot prepare netns %s: %s\n", ns, strerror(-r));
		return FL_EXIT_SYSTEM;
	}
}

/* Everything a run set up, released on every path out of fl_cmd_run. */
struct run {
	struct fl_scenario *s;
	struct fl_plan *p;
	struct engines es;
	struct fl_guardian *guardians; /* one per engine */
	size_t n_guardians;
	struct run_state rs;
	int sfd;
};

static void run_done(struct run *run)
{
	/* Guardians still running here mean a revert failed: they try again as we exit. */
	free(run->guardians);
	if (run->rs.harness)
		run_harness_done(run->rs.harness);
	engines_close(&run->es);
	fl_plan_free(run->p);
	fl_scenario_free(run->s);
	free(run->rs.active);
	if (run->rs.events)
		fclose(run->rs.events);
	if (run->sfd >= 0)
		close(run->sfd);
}

/* Validates, locks, probes and plans: every failure here leaves the kernel untouched. */
static int prepare(struct run *run, const struct run_opts *o, const char *file)
{
	struct fl_plan_options po = { 0 };
	struct fl_diag diag;
	int r;

	if (!o->dry_run) {
		/* Each namespace is opened (lock, journal) as the planner asks for its devices. */
		run->es = (struct engines){ .run_dir = o->run_dir, .scenario = run->s->name };
		po.list_devices = list_devices;
		po.devices_userdata = &run->es;
	}
	r = fl_probe(&po.caps);
	if (r < 0) {
		fprintf(stderr, "faultline run: error: cannot probe the kernel: %s\n", strerror(-r));
		return FL_EXIT_SYSTEM;
	}
	const char *ssh = getenv("SSH_CONNECTION");
	unsigned sport;
	if (ssh && sscanf(ssh, "%*s %*u %*s %u", &sport) == 1 && sport > 0 && sport < 65536)
		po.ssh_ports[po.n_ssh_ports++] = (uint16_t)sport;

	fl_diag_init(&diag, file);
	r = fl_plan_build(run->s, &po, &diag, &run->p);
	if (r == 0 && !o->dry_run) {
		/* Namespaces whose scope named its interfaces were not opened for devices. */
		for (size_t k = 0; k < run->p->n_nss && r == 0; k++) {
			struct fl_engine_ns *e;
			r = engine_for(&run->es, &run->p->nss[k].scope, &e);
		}
	}
	if (r < 0) {
		int code;
		if (run->es.err < 0) {
			code = open_error(run->es.err, run->es.holder, run->es.failed);
		} else {
			_cleanup_free_ char *text = fl_diag_format(&diag);
			fputs(text ? text : "out of memory\n", stderr);
			code = r == -EINVAL ? FL_EXIT_INPUT : FL_EXIT_SYSTEM;
		}
		fl_diag_done(&diag);
		return code;
	}
	fl_diag_done(&diag);
	return FL_EXIT_OK;
}

/* engines in plan order: engines[k] acts in p->nss[k]. */
static int engines_in_plan_order(struct run *run, struct fl_engine_ns ***ret)
{
	struct fl_engine_ns **v = calloc(run->p->n_nss ? run->p->n_nss : 1, sizeof(*v));

	if (!v)
		return -ENOMEM;
	for (size_t k = 0; k < run->p->n_nss; k++) {
		int r = engine_for(&run->es, &run->p->nss[k].scope, &v[k]);
		if (r < 0) {
			free(v);
			return r;
		}
	}
	*ret = v;
	return 0;
}

int fl_cmd_run(int argc, char **argv)
{
	struct run run = { .sfd = -1 };
	struct run_opts o = { .run_dir = FL_RUN_DIR };
	struct fl_engine_ns **engines = NULL;
	enum fl_run_result result = FL_RUN_FAILED;
	sigset_t mask;
	int i, r, code;
	uint64_t cap_ns = 0;
	char t1[FL_FMT_MAX], t2[FL_FMT_MAX];

	i = fl_cli_parse_options("run", argc, argv, on_option, &o);
	if (i < 0)
		return FL_EXIT_INPUT;
	if (argc - i != 1)
		return fl_cli_usage_error("run", "expected exactly one scenario file");
	code = fl_cli_load_scenario(argv[i], &run.s);
	if (code != FL_EXIT_OK)
		return code;
	struct fl_scenario *s = run.s;
	if (o.timescale) {
		uint64_t m;
		if (fl_parse_micros(o.timescale, &m) < 0 || m == 0) {
			run_done(&run);
			return fl_cli_usage_error("run", "bad --timescale '%s' (expected a number > 0)",
						  o.timescale);
		}
		s->timescale_micro = m;
	}
	if (o.max_duration && (fl_parse_duration(o.max_duration, &cap_ns) < 0 || cap_ns == 0)) {
		run_done(&run);
		return fl_cli_usage_error("run", "bad --max-duration '%s' (expected a duration such as 10m)",
					  o.max_duration);
	}
	if (!o.max_duration)
		cap_ns = fl_scenario_real_ns(s, s->end_ns) + FL_RUN_MARGIN_NS;
	struct run_harness harness; /* set by run_harness_prepare(), used only after it */
	if (run_harness_needed(s)) {
		code = run_harness_prepare(&harness, s, o.user ? o.user : "nobody", o.report);
		if (code != FL_EXIT_OK) {
			run_harness_done(&harness);
			run_done(&run);
			return code;
		}
		run.rs.harness = &harness;
	} else if (o.report) {
		fprintf(stderr, "faultline run: warning: --report: the scenario has no flows or expectations; no report is written\n");
	}

	/* Signals arrive as a readable fd, so the clock's wait can see them. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	run.sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (run.sfd < 0) {
		fprintf(stderr, "faultline run: error: signalfd: %s\n", strerror(errno));
		run_done(&run);
		return FL_EXIT_SYSTEM;
	}

	code = prepare(&run, &o, argv[i]);
	if (code != FL_EXIT_OK) {
		run_done(&run);
		return code;
	}
	struct fl_plan *p = run.p;
	struct run_state *rs = &run.rs;
	if (!o.dry_run) {
		/* Before the first fault: SSH must pass even a partition of everything. */
		char *why = NULL;
		r = fl_selftest_exclusions(p, &why);
		if (r < 0) {
			fprintf(stderr, "faultline run: error: the SSH exclusion self-test failed: %s (expected tcp port 22 to pass; nothing was changed)\n",
				why ? why : strerror(-r));
			free(why);
			run_done(&run);
			return FL_EXIT_SYSTEM;
		}
		printf("faultline run: self-test: tcp port 22 passes a partition of everything\n");
		r = engines_in_plan_order(&run, &engines);
		if (r < 0) {
			run_done(&run);
			return FL_EXIT_SYSTEM;
		}
	}

	rs->p = p;
	rs->dry_run = o.dry_run;
	rs->tty = fl_cli_isatty();
	rs->active = calloc(s->n_steps ? s->n_steps : 1, sizeof(bool));
	if (!rs->active) {
		free(engines);
		run_done(&run);
		return FL_EXIT_SYSTEM;
	}
	if (o.events) {
		rs->events = fopen(o.events, "we");
		if (!rs->events) {
			fprintf(stderr, "faultline run: error: cannot write %s: %s\n", o.events, strerror(errno));
			free(engines);
			run_done(&run);
			return FL_EXIT_INPUT;
		}
	}

	printf("faultline run: %s: %zu steps in %zu namespace%s, ends at %s scenario time, %s real%s\n",
	       s->name, s->n_steps, p->n_nss, p->n_nss == 1 ? "" : "s",
	       fl_format_duration_human(s->end_ns, t1),
	       fl_format_duration_human(fl_scenario_real_ns(s, s->end_ns), t2),
	       o.dry_run ? " (dry run: nothing is changed)" : "");
	fflush(stdout);

	if (!o.dry_run) {
		/*
		 * The userspace engine's children first: they enter their namespaces
		 * (still privileged) and bind their queues, which creates no kernel
		 * object that outlives them, and take their time before the clock starts.
		 */
		r = 0;
		for (size_t k = 0; k < p->n_nss && r == 0; k++) {
			r = fl_engine_start_userspace(engines[k], p, k);
			if (r < 0)
				fprintf(stderr, "faultline run: error: netns %s: %s\n", p->nss[k].key,
					fl_engine_error(engines[k]));
		}
		/* Then the guardians (one per namespace's journal): from here on, a crash is covered. */
		uint64_t deadline = fl_now_ns() + cap_ns + FL_NSEC_PER_SEC;
		run.guardians = calloc(p->n_nss, sizeof(*run.guardians));
		if (r == 0 && !run.guardians)
			r = -ENOMEM;
		for (size_t k = 0; k < p->n_nss && r == 0; k++) {
			r = fl_guardian_start(fl_engine_journal(engines[k])->path, deadline,
					      &run.guardians[k]);
			if (r == 0)
				run.n_guardians++;
		}
		/* The harness last: it must enter namespaces, and hold none of the fds above. */
		if (r == 0 && rs->harness) {
			rs->harness->p = p;
			rs->harness->observe = true;
			rs->harness->pcap = o.pcap;
			r = run_harness_start(rs->harness);
		}
		/*
		 * From here on the run needs only CAP_NET_ADMIN: its sockets are open in
		 * the namespaces; the self-test, the guardians, the engine's children
		 * and the harness are behind it.
		 */
		if (r == 0)
			r = fl_caps_keep_net_admin();
		if (r < 0) {
			fprintf(stderr, "faultline run: error: cannot start the userspace engine, the guardians or the harness, or drop capabilities: %s\n",
				strerror(-r));
			for (size_t k = 0; k < p->n_nss; k++)
				(void)fl_engine_revert_all(engines[k]);
			for (size_t k = 0; k < run.n_guardians; k++)
				fl_guardian_release(&run.guardians[k]);
			free(engines);
			run_done(&run);
			return FL_EXIT_SYSTEM;
		}
	}
	if (o.dry_run && rs->harness) {
		r = run_harness_start(rs->harness);
		if (r < 0) {
			fprintf(stderr, "faultline run: error: cannot start the harness: %s\n", strerror(-r));
			run_done(&run);
			return FL_EXIT_SYSTEM;
		}
	}
	rs->start_ns = fl_now_ns();
	if (rs->harness)
		run_harness_phase(rs->harness, FL_PHASE_START, 0, rs->start_ns);
	if (!o.dry_run)
		say_userspace(rs, engines);
	event_json(rs, "start", "\"scenario\":\"%s\",\"steps\":%zu,\"namespaces\":%zu,\"dry_run\":%s",
		   s->name, s->n_steps, p->n_nss, o.dry_run ? "true" : "false");

	struct fl_runner_options ro = {
		.dry_run = o.dry_run,
		.max_duration_ns = cap_ns,
		.tick_ns = rs->tty ? FL_TICK_NS : 0,
		.stop_fd = run.sfd,
		.on_event = on_event,
		.userdata = rs,
	};
	r = fl_runner_run(p, engines, &ro, rs->start_ns, &result);
	uint64_t stop_at = fl_now_ns();
	clear_status(rs);

	struct signalfd_siginfo si = { 0 };
	if (result == FL_RUN_STOPPED && read(run.sfd, &si, sizeof(si)) != (ssize_t)sizeof(si))
		si.ssi_signo = SIGTERM;

	/* Every namespace, even if one fails: each has its own journal and guardian. */
	int revert = 0;
	for (size_t k = 0; engines && k < p->n_nss; k++) {
		int k_r = fl_engine_revert_all(engines[k]);
		if (k_r < 0) {
			fprintf(stderr, "faultline run: error: netns %s: %s (run 'faultline recover')\n",
				p->nss[k].key, fl_engine_error(engines[k]));
			revert = k_r;
		} else if (k < run.n_guardians) {
			fl_guardian_release(&run.guardians[k]);
		}
	}
	uint64_t reverted = fl_now_ns() - stop_at;
	free(engines);

	static const char *const results[] = { "completed", "stopped", "failed", "timed_out" };
	event_json(rs, "end", "\"result\":\"%s\",\"revert_ns\":%llu,\"reverted\":%s",
		   r < 0 ? "error" : results[result], (unsigned long long)reverted,
		   revert == 0 ? "true" : "false");

	const char *done = revert == 0 ? "everything reverted"
				       : "NOT everything reverted: run 'faultline recover'";
	if (r < 0) {
		fprintf(stderr, "faultline run: error: the clock failed: %s\n", strerror(-r));
		code = FL_EXIT_SYSTEM;
	} else {
		switch (result) {
		case FL_RUN_COMPLETED:
			printf("faultline run: completed; %s\n", done);
			code = FL_EXIT_OK;
			break;
		case FL_RUN_STOPPED:
			printf("faultline run: stopped by %s; %s in %.1f ms\n",
			       strsignal((int)si.ssi_signo), done, (double)reverted / 1e6);
			code = 128 + (int)si.ssi_signo;
			break;
		case FL_RUN_FAILED:
			printf("faultline run: a step could not be applied; %s\n", done);
			code = FL_EXIT_SYSTEM;
			break;
		case FL_RUN_TIMED_OUT:
			printf("faultline run: the hard cap (--max-duration %s) passed; %s\n",
			       fl_format_duration(cap_ns, t1), done);
			code = FL_EXIT_SYSTEM;
			break;
		}
	}
	if (revert < 0)
		code = FL_EXIT_SYSTEM;

	/*
	 * After a completed run the harness probes on through its grace period
	 * (recovery after the end), then judges, and its verdict is the exit code.
	 * A run that ended early keeps its own exit code; its harness stops at
	 * once and judges what it saw.
	 */
	if (rs->harness && rs->harness->pid) {
		bool completed = r == 0 && result == FL_RUN_COMPLETED;
		printf(completed ? "faultline run: the harness goes on probing for recovery, then judges\n"
				 : "faultline run: the run ended early: the verdicts cover only what ran\n");
		fflush(stdout);
		int h = run_harness_wait(rs->harness, completed, run.sfd);
		if (h == -EINTR) {
			struct signalfd_siginfo si2 = { 0 };
			if (read(run.sfd, &si2, sizeof(si2)) == (ssize_t)sizeof(si2))
				code = 128 + (int)si2.ssi_signo;
			printf("faultline run: the harness was stopped; nothing judged\n");
		} else if (code == FL_EXIT_OK) {
			code = h;
		}
	}
	run_done(&run);
	return code;
}
