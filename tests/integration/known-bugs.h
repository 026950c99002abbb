/* SPDX-License-Identifier: MIT */
/*
 * Engine bugs these tests found and reported (README.md has the details).
 * By default a test that meets one says "KNOWN BUG <name>: ..." and carries
 * on with what it can still check; with --known-bugs it fails there, so
 * integration/.../known-bugs (DISABLED unless -DFL_IT_KNOWN_BUGS=ON) pin the
 * bugs down until they are fixed. A bug that no longer shows is not
 * tolerated anywhere: the strict check runs.
 */
#ifndef FL_TESTS_INTEGRATION_KNOWN_BUGS_H
#define FL_TESTS_INTEGRATION_KNOWN_BUGS_H

#include <stdbool.h>
#include "topo.h"

enum it_bug {
	IT_BUG_REJECT_UDP_EPERM, /* reject: a local UDP sender's send(2) fails with EPERM */
	IT_BUG_U32_HASHMASK, /* tc: the u32 hash link hashes the word's first byte, not its last */
	IT_BUG_U32_NOT_TERMINAL, /* tc: our u32 redirects and exclusions lack TC_U32_TERMINAL: both
				    are no-ops */
	IT_BUG_U32_TABLE_LEAK, /* tc: our u32 hash tables outlive their priority in a shared clsact
				*/
	IT_BUG_RECOVER_SWEEPS_LIVE, /* recover removes a live run's objects by their reserved names
				     */
	_IT_BUG_MAX,
};

/* --known-bugs given: known bugs fail the test. */
extern bool it_strict;
/*
 * Which known bugs this test may meet (a case's `known-bug NAME` lines);
 * meeting any other fails the test in every mode.
 */
void it_allow_known_bug(enum it_bug b);
/* NAME -> bug; -EINVAL for an unknown name. */
int it_known_bug_from_name(const char *name, enum it_bug *ret);
/* Parses and removes a trailing --known-bugs from argv. */
void it_known_bugs_args(int *argc, char **argv);

/* The bug showed itself: fails in strict mode, else logs it (once per call) and returns. */
void it_known_bug(enum it_bug b, const char *fmt, ...) _printf_(2, 3);

/*
 * IT_BUG_U32_HASHMASK: whether some hash link in the client namespace
 * hashes another byte than the last of the address word. *where: e.g.
 * "va egress: hash mask ff000000 at 16".
 */
bool it_bug_hashmask_present(const struct topo *t, char *where, size_t len);

/*
 * IT_BUG_U32_NOT_TERMINAL: whether one of our u32 knodes that must end
 * classification (a redirect entry in our tables, an exclusion at our pass
 * priorities) is not terminal: tc(8) prints "terminal" or "*flowid" for
 * terminal ones. *where: which, and its line.
 */
bool it_bug_not_terminal_present(const struct topo *t, char *where, size_t len);

/*
 * IT_BUG_U32_TABLE_LEAK: u32 hash tables with our ids (fl_tc_our_htid) that no
 * priority shows any more, on device dev (they live on in the qdisc while
 * someone else's u32 filters keep it alive). Found by adding a throw-away
 * filter at each of our priorities, whose dump lists the tables of that
 * priority, and deleting it again. Returns how many.
 */
unsigned it_leaked_u32_tables(const struct topo *t, const char *dev, char *where, size_t len);

#endif
