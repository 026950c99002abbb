/* SPDX-License-Identifier: MIT */
/*
 * The unprivileged half of `faultline run`: one process that drives the
 * scenario's flows, judges its expectations and writes the reports, as an
 * unprivileged user, never root. The privileged run talks to it through one
 * narrow channel: a pipe of 16-byte phase records (flows/phase.h). Nothing of
 * it crosses the network, so no fault can cut the run off from its harness.
 *
 * Namespaces: the harness process lives in the namespace most flows name
 * (their sockets and commands are simply there). Sockets of flows in other
 * namespaces come from a socket factory per namespace: a process that
 * entered it while privileged, then became the same unprivileged user, and
 * hands out sockets over SCM_RIGHTS. An `exec` flow runs its command in the
 * harness's namespace, so it must name that one (checked before any change).
 *
 * Lifetime: prepared before the engine touches anything (bad input exits 2
 * with nothing changed), started while the run is still privileged, fed
 * phases as steps apply, and waited for after the run reverted: it goes on
 * probing a grace period after the end (recovery), then judges and exits 0
 * (every expectation held), 1 (one failed) or 3 (it could not run). It dies
 * with the run (PR_SET_PDEATHSIG).
 */
#ifndef FL_CLI_RUN_HARNESS_H
#define FL_CLI_RUN_HARNESS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "flows/phase.h"
#include "plan/plan.h"
#include "scenario/model.h"

struct run_harness {
	const struct fl_scenario *s; /* borrowed */
	const struct fl_plan *p;     /* borrowed; set before start */
	bool observe;                /* run the wire observer (needs privileges at start) */
	const char *pcap;            /* --pcap FILE, or NULL */
	uid_t uid;
	gid_t gid;
	int *flow_ns;        /* per flow: an fd of its namespace (the run's own if none named) */
	uint64_t *flow_ino;  /* ... and its inode: which flows share a namespace */
	int home_ns;         /* the namespace the harness lives in, or -1 (no flows) */
	uint64_t home_ino;
	int report_fd[4]; /* report.json, junit.xml, report.html, wire.json; -1 without --report */
	pid_t pid;        /* 0 before start / after wait */
	int phase_fd;     /* write end; -1 when closed */
	int phase_fd2;    /* the observer's copy of the phases; -1 without it */
	bool sent_end;
};

/*
 * Resolves user (a name or a uid; root refused), opens every flow's
 * namespace and the report files in report_dir (NULL: none; created if
 * missing). Prints what is wrong and returns the exit code (2 bad input or
 * user, 3 system), or 0.
 */
int run_harness_prepare(struct run_harness *h, const struct fl_scenario *s, const char *user,
			const char *report_dir);

/* Whether the scenario has anything for a harness to do (flows or expectations). */
bool run_harness_needed(const struct fl_scenario *s);

/*
 * Forks the harness (call while still privileged) and waits until it is
 * ready to probe: the caller's next phase must be START, whose instant is
 * the origin of every probe. 0, or -errno (-ECHILD: it died getting ready;
 * -ETIMEDOUT); on failure run_harness_done() kills it.
 */
int run_harness_start(struct run_harness *h);

/* Tells the harness a phase began at t_ns (CLOCK_MONOTONIC). Ignores a dead harness. */
void run_harness_phase(struct run_harness *h, enum fl_phase_kind kind, uint32_t step, uint64_t t_ns);

/*
 * Ends the phases and waits for the verdict. A completed run sends END
 * (unless its end step did): the harness probes on through its grace period.
 * Otherwise the pipe just closes, and a hangup before END stops the harness
 * at once, judging what it has. Polls stop_fd (-1: none) meanwhile: if it
 * becomes readable, the harness is killed and -EINTR returned. Returns the
 * harness's exit code (0, 1 or 3), or 3 if it died otherwise.
 */
int run_harness_wait(struct run_harness *h, bool completed, int stop_fd);

/* Closes every fd; kills a harness still running. Accepts a zeroed struct. */
void run_harness_done(struct run_harness *h);

#endif
