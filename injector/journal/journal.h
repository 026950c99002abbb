/* SPDX-License-Identifier: MIT */
/*
 * The write-ahead journal: before the engine creates a kernel object that
 * owns others (an nft table, an IFB link, a u32 priority, a clsact qdisc we
 * added), it appends a "+" line and fsyncs; after deleting one, a "-" line.
 * Whatever is "+" without "-" is live. The guardian, `faultline recover` and
 * a crashed run's successor read it to remove exactly what we left.
 *
 * One file per network namespace: FL_RUN_DIR/net-<inode>.journal. Lines:
 *   faultline-journal 1
 *   netns <self|named NAME|path PATH|pid N> <inode>
 *   pid <pid of the run>
 *   scenario <name>
 *   + nft <netdev|inet>
 *   + link <name>
 *   + prio <dev> <egress|ingress> <prio>
 *   + clsact <dev>
 *   - <same as a "+" line>
 *   fault <id> on|off
 * Per-fault entries (u32 entries, nft elements and chains) live inside these
 * roots and die with them, so they need no line of their own: one fsync per
 * step, not per target.
 */
#ifndef FL_JOURNAL_JOURNAL_H
#define FL_JOURNAL_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "scenario/model.h"
#include "util/macro.h"

#define FL_RUN_DIR "/run/faultline"

enum fl_root_kind {
	FL_ROOT_NFT,    /* name: "netdev" or "inet" */
	FL_ROOT_LINK,   /* name: the link */
	FL_ROOT_PRIO,   /* name: the device; ingress, prio */
	FL_ROOT_CLSACT, /* name: the device */
};

struct fl_root {
	enum fl_root_kind kind;
	char name[32];
	bool ingress;
	uint16_t prio;
};

struct fl_fault_note {
	char id[72];
	bool on;
};

struct fl_journal {
	int fd;       /* -1 when loaded read-only */
	char *path;
	char *netns;  /* "self", "named shop", "path /x", "pid 12" */
	uint64_t ino; /* the namespace's inode */
	int pid;      /* the run that wrote it */
	char *scenario;
	struct fl_root *roots; /* live, in creation order */
	size_t n_roots;
	struct fl_fault_note *faults;
	size_t n_faults;
};

/* "self", "named NAME", "path PATH", "pid N": how to find the namespace again. */
char *fl_journal_netns_ref(const struct fl_scope *sc);

/*
 * Opens the journal of namespace ino for a new run. -EUCLEAN with
 * *ret_holder set if a journal with live roots exists (a crashed run:
 * recover first), -errno otherwise. The caller holds the namespace lock
 * (fl_journal_lock), so no live run can own that journal.
 */
int fl_journal_create(const char *dir, uint64_t ino, const char *netns_ref, const char *scenario,
		      struct fl_journal **ret, int *ret_holder);
/*
 * Takes the lock of namespace ino (FL_RUN_DIR/net-<ino>.lock, flock, with
 * our pid inside). Returns the lock fd (keep it open while running; a
 * forked guardian shares it), or -EBUSY with *ret_holder = the pid that
 * holds it, or -errno.
 */
int fl_journal_lock(const char *dir, uint64_t ino, int *ret_holder);
/* Removes the lock file and lets go of the lock. fd < 0 is a no-op. */
void fl_journal_unlock(const char *dir, uint64_t ino, int fd);

/* Reads a journal file (for status and recover). */
int fl_journal_load(const char *path, struct fl_journal **ret);
void fl_journal_free(struct fl_journal *j);
FL_DEFINE_CLEANUP(struct fl_journal, fl_journal_free)

/* Appends "+" lines for roots (skipping ones already live) and fsyncs. 0 or -errno. */
int fl_journal_add(struct fl_journal *j, const struct fl_root *roots, size_t n);
/* Appends a "-" line and fsyncs. */
int fl_journal_remove(struct fl_journal *j, const struct fl_root *r);
int fl_journal_fault(struct fl_journal *j, const char *id, bool on);
bool fl_journal_has(const struct fl_journal *j, const struct fl_root *r);
/* Closes; deletes the file when nothing is live (a clean end). */
void fl_journal_close(struct fl_journal *j);
/* Whether pid is a live process (a zombie is not: a killed run is one until reaped). */
bool fl_pid_alive(int pid);
/* Text of a root, as in the file ("prio eth0 egress 49154"). buf of 64. */
const char *fl_root_to_string(const struct fl_root *r, char buf[static 64]);

#endif
