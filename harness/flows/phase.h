/* SPDX-License-Identifier: MIT */
/*
 * Fault phases: the narrow channel from the privileged runner to the
 * unprivileged harness. The runner writes one fixed-size binary record per
 * timeline event on a pipe; the harness keeps which fault steps are active,
 * so that each probe knows the faults it ran under and the judge knows the
 * real (not scheduled) instants of every window.
 *
 * All times are uint64_t nanoseconds of CLOCK_MONOTONIC. FL_NEVER marks an
 * instant that has not happened (a step never applied, a fault never healed).
 *
 * Records are 16 bytes, host byte order (both ends are the same machine),
 * so one write(2) of a record is atomic on a pipe (< PIPE_BUF): a reader
 * never sees half of one from a single writer, but keeps partial reads
 * anyway in case the fd is a stream socket.
 */
#ifndef FL_HARNESS_PHASE_H
#define FL_HARNESS_PHASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "scenario/model.h"
#include "util/macro.h"

#define FL_NEVER UINT64_MAX

enum fl_phase_kind {
	FL_PHASE_START = 1,	   /* the timeline's origin (scenario time 0); step unused */
	FL_PHASE_STEP_APPLIED = 2, /* steps[step] is in the kernel now (a fault step: active) */
	FL_PHASE_HEAL = 3,	   /* steps[step], a heal step, removed the faults it names */
	FL_PHASE_END = 4,	   /* the end: every fault still active is healed; step unused */
};

struct fl_phase_event {
	uint32_t kind; /* enum fl_phase_kind */
	uint32_t step; /* index into scenario->steps */
	uint64_t t_ns; /* CLOCK_MONOTONIC, when it happened */
};
_Static_assert(sizeof(struct fl_phase_event) == 16, "the wire record is 16 bytes");

/* The faults active from since_ns on: steps[] are indexes of fault steps, ascending. */
struct fl_phase_set {
	uint64_t since_ns;
	uint32_t *steps;
	uint32_t n;
};

/*
 * Read-only for callers except through the functions below. sets[0] is the
 * empty set (before any fault); every change of the active set appends one.
 */
struct fl_phase_tracker {
	const struct fl_scenario *s; /* borrowed */
	uint64_t start_ns;	     /* START, or FL_NEVER */
	uint64_t end_ns;	     /* END, or FL_NEVER */
	uint64_t *applied_ns; /* per step: when applied (fault, heal or end step), or FL_NEVER */
	uint64_t *healed_ns;  /* per fault step: when healed (heal step or END), or FL_NEVER */
	bool *active;	      /* per step */
	struct fl_phase_set *sets;
	size_t n_sets;
	size_t n_rejected; /* events that contradicted the timeline, ignored */
	unsigned char pending[sizeof(struct fl_phase_event)];
	size_t n_pending;
	bool hangup; /* the writer closed its end */
};

int fl_phase_tracker_new(const struct fl_scenario *s, struct fl_phase_tracker **ret_tracker);
void fl_phase_tracker_free(struct fl_phase_tracker *t);
FL_DEFINE_CLEANUP(struct fl_phase_tracker, fl_phase_tracker_free)

/*
 * Applies one event (the no-pipe way in: tests and scripted feeds). A
 * STEP_APPLIED of a heal step counts as its HEAL and one of the end step as
 * END, so a runner may send STEP_APPLIED for every step; healing a fault
 * that is not active is a no-op (heal: all after an early end). Returns 0;
 * -EINVAL for an unknown kind, a step out of range, a step applied twice, a
 * second START or END, or a HEAL naming a step that is not a heal step
 * (counted in n_rejected, state unchanged); -ENOMEM.
 */
int fl_phase_tracker_feed(struct fl_phase_tracker *t, const struct fl_phase_event *ev);

/*
 * Reads every record available on the non-blocking fd and feeds them.
 * Returns 0 (more may come), 1 (the writer hung up; t->hangup is set), or
 * -errno of read(2) / -ENOMEM. Rejected records are counted, not fatal.
 */
int fl_phase_tracker_read(struct fl_phase_tracker *t, int fd);

/* Index of the current set in t->sets. */
uint32_t fl_phase_tracker_current(const struct fl_phase_tracker *t);

/* True if fault step `step` is in set `set`. */
bool fl_phase_set_has(const struct fl_phase_tracker *t, uint32_t set, uint32_t step);

/* For the runner: writes one record, retrying on EINTR. 0 or -errno. */
int fl_phase_send(int fd, enum fl_phase_kind kind, uint32_t step, uint64_t t_ns);

/*
 * For the harness, before its loop: reads one whole record from a blocking
 * fd (the runner's START, whose instant is the origin of every probe).
 * 0 and *ret_ev; -EPIPE if the writer hung up first; -errno of read(2).
 */
int fl_phase_recv(int fd, struct fl_phase_event *ret_ev);

#endif
