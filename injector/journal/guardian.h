/* SPDX-License-Identifier: MIT */
/*
 * The guardian: a process forked before the first fault, in its own
 * session, that outlives the run if it must. It waits on a pipe whose write
 * end only the run holds:
 *   - the run releases it (fl_guardian_release): it exits, doing nothing;
 *   - the run dies in any way, SIGKILL included (EOF, within milliseconds):
 *     it removes every live object of the run's journal, then exits;
 *   - the hard cap passes with the run still alive: it SIGKILLs the run and
 *     then does the same.
 * It shares the run's namespace lock, so no other run can start in that
 * namespace until it has cleaned up. What it did goes to <journal>.guardian.
 */
#ifndef FL_JOURNAL_GUARDIAN_H
#define FL_JOURNAL_GUARDIAN_H

#include <stdint.h>
#include <sys/types.h>

struct fl_guardian {
	pid_t pid;
	int fd; /* write end of the pipe */
};

/*
 * Starts the guardian for journal_path. deadline_ns is an absolute
 * CLOCK_MONOTONIC time (0: no cap). Returns 0 or -errno.
 */
int fl_guardian_start(const char *journal_path, uint64_t deadline_ns, struct fl_guardian *ret);
/* The run ended cleanly and reverted: the guardian exits without acting; waits for it. */
int fl_guardian_release(struct fl_guardian *g);

#endif
