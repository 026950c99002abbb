/* SPDX-License-Identifier: MIT */
/*
 * The engine: applies a plan's steps to one network namespace, journal
 * first, and reverts everything the journal says is live.
 *
 * Lifetime and errors: fl_engine_open() returns an engine bound to the
 * scope's namespace (its netlink socket and nftables context are opened
 * inside it); every call returns 0 or a negative errno, and on failure
 * fl_engine_error() describes what failed: the step, the equivalent
 * command, and the kernel's own message. A failed step may have applied
 * part of its objects: call fl_engine_revert_all() (the runner always does).
 * fl_engine_close() never reverts; it removes the journal only when nothing
 * is live.
 */
#ifndef FL_ENGINE_ENGINE_H
#define FL_ENGINE_ENGINE_H

#include "journal/journal.h"
#include "plan/plan.h"

struct fl_engine_ns;

/*
 * Opens the engine for scope sc, creating its journal under run_dir.
 * -EBUSY: another run holds the namespace (*ret_holder: its pid);
 * -EUCLEAN: the namespace has leftovers of a run that died (*ret_holder: its
 * pid): `faultline recover` first;
 * -ENOENT: no such namespace; -EPERM: not privileged.
 */
int fl_engine_open(const struct fl_scope *sc, const char *run_dir, const char *scenario_name,
		   struct fl_engine_ns **ret, int *ret_holder);
void fl_engine_close(struct fl_engine_ns *e);
FL_DEFINE_CLEANUP(struct fl_engine_ns, fl_engine_close)

/* The namespace's devices (every link but lo and our IFBs), for fl_plan_options.devices. */
int fl_engine_list_devices(struct fl_engine_ns *e, char ***ret, size_t *ret_n);

/*
 * Starts the userspace engine (engine/userspace.h) of every fault of plan p
 * that uses it and lives in namespace ns (an index into p->nss: the one e
 * was opened for): one child process per fault, entered into the namespace,
 * its queue bound before this returns, so the fault's step only adds the
 * steering rule. Each uses its step's `seed`, or one drawn from getrandom(2)
 * (fl_engine_userspace_seed() says which). Needs CAP_SYS_ADMIN (setns) and
 * CAP_NET_ADMIN: call it before dropping privileges. A child keeps only
 * CAP_NET_ADMIN. It stops, giving back the packets it holds, when its fault
 * is healed, at fl_engine_revert_all() and fl_engine_close(), and when this
 * process dies (PR_SET_PDEATHSIG); with no engine bound, the rule's bypass
 * lets packets pass. Returns 0, or -errno with fl_engine_error() set; then
 * none of them runs.
 */
int fl_engine_start_userspace(struct fl_engine_ns *e, const struct fl_plan *p, size_t ns);

/* The seed of the running userspace engine of fault step `step`; false if none runs. */
bool fl_engine_userspace_seed(const struct fl_engine_ns *e, size_t step, uint64_t *ret);

/*
 * Proves, before the first fault, that this plan's exclusions let SSH
 * through a partition of everything: a real TCP handshake to port 22 (must
 * succeed) and to another port (must time out), in two scratch namespaces
 * joined by a veth pair, with the nftables rules the planner renders.
 * Nothing on the host changes. Returns 0, or -EPROTO with *ret_error
 * (caller frees) saying what failed, or -errno.
 */
int fl_selftest_exclusions(const struct fl_plan *p, char **ret_error);

/*
 * Applies what plan step i does in namespace ns (an index into p->nss: the
 * namespace this engine was opened for). Its devices must be resolved.
 * fl_engine_apply_step() does all of it: fl_engine_apply_effective(), then
 * fl_engine_tidy().
 */
int fl_engine_apply_step(struct fl_engine_ns *e, const struct fl_plan *p, size_t i, size_t ns);

/*
 * The same in two parts. fl_engine_apply_effective() leaves out the
 * deletion of the IFBs the step ends when nothing else in the step comes
 * after it: once their filters are gone no packet reaches them, so the heal
 * or end is in effect, while unregistering a device costs the kernel tens of
 * milliseconds (RCU grace periods). fl_engine_tidy() then deletes them (and
 * journals it); the runner calls it right after, before the next step. Until
 * then they stay in the journal: a crash in between leaves them to the
 * guardian, as any root. p must outlive the pair. fl_engine_tidy() returns
 * how many links it deleted, or -errno with fl_engine_error() set.
 */
int fl_engine_apply_effective(struct fl_engine_ns *e, const struct fl_plan *p, size_t i,
			      size_t ns);
int fl_engine_tidy(struct fl_engine_ns *e);

/*
 * Removes every live root in the journal, newest first, then stops the
 * userspace engine's children. Keeps going past errors.
 */
int fl_engine_revert_all(struct fl_engine_ns *e);

const char *fl_engine_error(const struct fl_engine_ns *e);
const struct fl_journal *fl_engine_journal(const struct fl_engine_ns *e);

/*
 * `faultline recover`: for every journal under run_dir, enters its namespace
 * (if it still exists) and removes its live roots; then, in every namespace
 * it can reach (its own and /run/netns/\*), removes objects with our reserved
 * names (tables "faultline", links flifb*, u32 priorities 0xfffb-0xfffe) that
 * no journal accounted for. Idempotent. Each action is reported through
 * report(line, userdata). Returns 0, or the first error (-errno) after
 * trying everything.
 */
int fl_recover(const char *run_dir, void (*report)(const char *line, void *userdata),
	       void *userdata);

/*
 * The guardian's recovery: only the live roots of one journal file, in its
 * namespace; no scan of other namespaces. Same contract as fl_recover().
 */
int fl_recover_journal(const char *path, void (*report)(const char *line, void *userdata),
		       void *userdata);

#endif
