/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/file.h>
#include <sys/random.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "engine/engine.h"
#include "engine/netns.h"
#include "engine/nft.h"
#include "engine/nft_compat.h"
#include "engine/nl.h"
#include "engine/tc.h"
#include "engine/userspace.h"
#include <netlink/route/link.h>

struct fl_engine_ns {
	int ns_fd;
	int lock_fd;
	char *run_dir;
	uint64_t ino;
	struct fl_nl *nl;
	struct fl_nft *nft;
	struct fl_nft_compat *compat; /* NULL if this kernel has no nfnetlink */
	struct fl_journal *j;
	char *error;
	/* The userspace engine's children, per scenario step (0: none). */
	pid_t *uq_pids;
	uint64_t *uq_seeds;
	size_t n_uq;
	/* fl_engine_tidy()'s work: plan step tidy_step's objects from tidy_from on. */
	const struct fl_plan *tidy_plan;
	size_t tidy_step, tidy_ns, tidy_from;
};

static void set_error(struct fl_engine_ns *e, const char *fmt, ...) _printf_(2, 3);
static void set_error(struct fl_engine_ns *e, const char *fmt, ...)
{
	va_list ap;

	free(e->error);
	e->error = NULL;
	va_start(ap, fmt);
	if (vasprintf(&e->error, fmt, ap) < 0)
		e->error = NULL;
	va_end(ap);
}

const char *fl_engine_error(const struct fl_engine_ns *e)
{
	return e->error ? e->error : "";
}

const struct fl_journal *fl_engine_journal(const struct fl_engine_ns *e)
{
	return e->j;
}

/*
 * Opens the netlink socket and nftables contexts inside the namespace ns_fd.
 * The nft_compat socket is optional: only a userspace fault on a kernel
 * without nft's queue statement needs it, and then its absence is reported.
 */
static int open_in_ns(int ns_fd, struct fl_nl **ret_nl, struct fl_nft **ret_nft,
		      struct fl_nft_compat **ret_compat)
{
	int saved, r, k;

	r = fl_netns_enter(ns_fd, &saved);
	if (r < 0)
		return r;
	r = fl_nl_open(ret_nl);
	if (r == 0) {
		r = fl_nft_open(ret_nft);
		if (r < 0) {
			fl_nl_close(*ret_nl);
			*ret_nl = NULL;
		}
	}
	if (r == 0 && ret_compat && fl_nft_compat_open(ret_compat) < 0)
		*ret_compat = NULL;
	k = fl_netns_leave(saved);
	return r < 0 ? r : k;
}

int fl_engine_open(const struct fl_scope *sc, const char *run_dir, const char *scenario_name,
		   struct fl_engine_ns **ret, int *ret_holder)
{
	_cleanup_(fl_engine_closep) struct fl_engine_ns *e = calloc(1, sizeof(*e));
	_cleanup_free_ char *ref = NULL;
	int r;

	if (!e)
		return -ENOMEM;
	e->lock_fd = -1;
	e->run_dir = strdup(run_dir);
	if (!e->run_dir)
		return -ENOMEM;
	e->ns_fd = fl_netns_open(sc);
	if (e->ns_fd < 0)
		return e->ns_fd;
	r = fl_netns_inode(e->ns_fd, &e->ino);
	if (r < 0)
		return r;
	r = open_in_ns(e->ns_fd, &e->nl, &e->nft, &e->compat);
	if (r < 0)
		return r;
	/* One run per namespace: the lock first, then the journal it protects. */
	e->lock_fd = fl_journal_lock(run_dir, e->ino, ret_holder);
	if (e->lock_fd < 0)
		return e->lock_fd;
	ref = fl_journal_netns_ref(sc);
	if (!ref)
		return -ENOMEM;
	r = fl_journal_create(run_dir, e->ino, ref, scenario_name, &e->j, ret_holder);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(e);
	return 0;
}

static void stop_userspace(struct fl_engine_ns *e, size_t step);

void fl_engine_close(struct fl_engine_ns *e)
{
	if (!e)
		return;
	for (size_t i = 0; i < e->n_uq; i++)
		stop_userspace(e, i);
	free(e->uq_pids);
	free(e->uq_seeds);
	fl_nft_compat_close(e->compat);
	fl_journal_close(e->j);
	e->j = NULL;
	fl_nft_close(e->nft);
	fl_nl_close(e->nl);
	if (e->ns_fd >= 0)
		close(e->ns_fd);
	/* The journal first: the lock guards it, and goes last. */
	fl_journal_unlock(e->run_dir, e->ino, e->lock_fd);
	free(e->run_dir);
	free(e->error);
	free(e);
}

int fl_engine_list_devices(struct fl_engine_ns *e, char ***ret, size_t *ret_n)
{
	return fl_netns_list_devices(e->nl, ret, ret_n);
}

/* ---- roots ------------------------------------------------------------------- */

static struct fl_root root_of(enum fl_root_kind kind, const char *name)
{
	struct fl_root r = { .kind = kind };

	snprintf(r.name, sizeof(r.name), "%s", name);
	return r;
}

static struct fl_root prio_root(const struct fl_obj *o)
{
	struct fl_root r = root_of(FL_ROOT_PRIO, o->dev);

	r.ingress = o->ingress;
	r.prio = o->prio;
	return r;
}

/* The roots an ADD object creates (at most two: nft tables of both families). */
static size_t roots_created(const struct fl_obj *o, struct fl_root out[2])
{
	size_t n = 0;

	if (o->op != FL_OBJ_ADD)
		return 0;
	switch (o->kind) {
	case FL_OBJ_NFT:
		if (o->nft_tables_add & FL_NFT_NETDEV)
			out[n++] = root_of(FL_ROOT_NFT, "netdev");
		if (o->nft_tables_add & FL_NFT_INET)
			out[n++] = root_of(FL_ROOT_NFT, "inet");
		break;
	case FL_OBJ_LINK:
		out[n++] = root_of(FL_ROOT_LINK, o->dev);
		break;
	case FL_OBJ_QDISC:
		if (strcmp(o->qdisc, "clsact") == 0)
			out[n++] = root_of(FL_ROOT_CLSACT, o->dev);
		break;
	case FL_OBJ_FILTER:
		out[n++] = prio_root(o);
		break;
	case FL_OBJ_NFT_QUEUE:
		break; /* a rule in our inet table: that table is the root */
	}
	return n;
}

static int apply_obj(struct fl_engine_ns *e, const struct fl_plan *p, const struct fl_obj *o,
		     char **ret_msg)
{
	int r;

	if (o->kind == FL_OBJ_NFT)
		return fl_nft_run(e->nft, o->nft, ret_msg);
	if (o->kind == FL_OBJ_NFT_QUEUE)
		return e->compat ? fl_nft_compat_add_queue(e->compat, "inet", FL_NFT_TABLE, o->chain,
							   o->queue_num, ret_msg)
				 : -EOPNOTSUPP;
	if (o->kind == FL_OBJ_QDISC && strcmp(o->qdisc, "clsact") == 0) {
		/* Only a clsact we created is ever deleted; a shared one has no root. */
		struct fl_root root = root_of(FL_ROOT_CLSACT, o->dev);
		if (!fl_journal_has(e->j, &root))
			return 0;
	}
	r = fl_tc_apply(e->nl, p, o, NULL);
	if (r < 0 && e->nl->ext_ack[0])
		*ret_msg = strdup(e->nl->ext_ack);
	return r;
}

/* The journal roots of device dev of one kind. */
static void forget_dev_roots(struct fl_engine_ns *e, enum fl_root_kind kind, const char *dev)
{
	for (size_t k = e->j->n_roots; k-- > 0;) {
		struct fl_root root = e->j->roots[k];
		if (root.kind == kind && strcmp(root.name, dev) == 0)
			(void)fl_journal_remove(e->j, &root);
	}
}

/* Journal lines for what a successful DEL ended. */
static int note_deleted(struct fl_engine_ns *e, const struct fl_obj *o)
{
	struct fl_root roots[2];
	size_t n = 0;
	int r = 0;

	if (o->op == FL_OBJ_DEL && o->kind == FL_OBJ_LINK)
		roots[n++] = root_of(FL_ROOT_LINK, o->dev);
	else if (o->op == FL_OBJ_DEL && o->kind == FL_OBJ_FILTER && o->handle == 0)
		roots[n++] = prio_root(o);
	else if (o->op == FL_OBJ_DEL && o->kind == FL_OBJ_QDISC && strcmp(o->qdisc, "clsact") == 0) {
		roots[n++] = root_of(FL_ROOT_CLSACT, o->dev);
		/* Ours: its filters went with it, the priorities we left to it included. */
		if (fl_journal_has(e->j, &roots[0]))
			forget_dev_roots(e, FL_ROOT_PRIO, o->dev);
	}
	else if (o->kind == FL_OBJ_NFT) {
		if (o->nft_tables_del & FL_NFT_NETDEV)
			roots[n++] = root_of(FL_ROOT_NFT, "netdev");
		if (o->nft_tables_del & FL_NFT_INET)
			roots[n++] = root_of(FL_ROOT_NFT, "inet");
	}
	for (size_t i = 0; i < n && r == 0; i++)
		if (fl_journal_has(e->j, &roots[i]))
			r = fl_journal_remove(e->j, &roots[i]);
	return r;
}

/* ---- the userspace engine's children ------------------------------------------ */

/* Real-time priority of the engine's children: a timer wakeup of a normal task can be late. */
#define FL_UQ_SCHED_PRIORITY 10
/* How long a child has to give its held packets back and exit before SIGKILL. */
#define FL_UQ_STOP_TIMEOUT_NS (1000 * FL_NSEC_PER_MSEC)

static void stop_userspace(struct fl_engine_ns *e, size_t step)
{
	if (step >= e->n_uq || e->uq_pids[step] <= 0)
		return;
	(void)fl_uq_kill(e->uq_pids[step], FL_UQ_STOP_TIMEOUT_NS);
	e->uq_pids[step] = 0;
}

int fl_engine_start_userspace(struct fl_engine_ns *e, const struct fl_plan *p, size_t ns)
{
	size_t n = p->scenario->n_steps;
	int r = 0;

	if (!e->uq_pids) {
		e->uq_pids = calloc(n ? n : 1, sizeof(*e->uq_pids));
		e->uq_seeds = calloc(n ? n : 1, sizeof(*e->uq_seeds));
		if (!e->uq_pids || !e->uq_seeds)
			return -ENOMEM;
		e->n_uq = n;
	}
	for (size_t i = 0; i < n && r == 0; i++) {
		const struct fl_step *st = &p->scenario->steps[i];
		const struct fl_plan_fault *pf = &p->faults[i];
		struct fl_uq_opts o;
		uint64_t seed = st->seed;

		if (st->kind != FL_STEP_FAULT || pf->engine != FL_ENGINE_USERSPACE || pf->ns != ns ||
		    e->uq_pids[i] > 0)
			continue;
		if (!st->has_seed && getrandom(&seed, sizeof(seed), 0) != (ssize_t)sizeof(seed)) {
			r = -errno;
			set_error(e, "fault '%s': cannot draw a seed: %s", st->id, strerror(-r));
			break;
		}
		o = (struct fl_uq_opts){ .queue_num = pf->queue_num,
					 .params = st->params,
					 .seed = seed,
					 .sched_fifo_priority = FL_UQ_SCHED_PRIORITY };
		r = fl_uq_spawn(&o, e->ns_fd, &e->uq_pids[i]);
		if (r == -EPERM) {
			/* No real-time scheduling here (a container, RT throttled to 0): run anyway. */
			o.sched_fifo_priority = 0;
			r = fl_uq_spawn(&o, e->ns_fd, &e->uq_pids[i]);
		}
		if (r < 0) {
			e->uq_pids[i] = 0;
			set_error(e, "fault '%s': cannot start the userspace engine on queue %u: %s%s",
				  st->id, pf->queue_num, strerror(-r),
				  r == -EBUSY ? " (another process has bound that queue)" : "");
			break;
		}
		e->uq_seeds[i] = seed;
	}
	if (r < 0)
		for (size_t i = 0; i < e->n_uq; i++)
			stop_userspace(e, i);
	return r;
}

bool fl_engine_userspace_seed(const struct fl_engine_ns *e, size_t step, uint64_t *ret)
{
	if (step >= e->n_uq || e->uq_pids[step] <= 0)
		return false;
	*ret = e->uq_seeds[step];
	return true;
}

/*
 * Whether o, a whole u32 priority to delete, can be left to the deletion of
 * our own clsact later in the same step: deleting the qdisc deletes every
 * filter and u32 table on it in one request, where deleting a priority takes
 * a dump, a request per table and waits for the kernel to drop references
 * (milliseconds each).
 */
static bool clsact_goes(struct fl_engine_ns *e, const struct fl_plan_step *ps, size_t ns,
			const struct fl_obj *o)
{
	struct fl_root root;

	if (o->kind != FL_OBJ_FILTER || o->op != FL_OBJ_DEL || o->handle != 0)
		return false;
	root = root_of(FL_ROOT_CLSACT, o->dev);
	if (!fl_journal_has(e->j, &root))
		return false;
	for (const struct fl_obj *q = o + 1; q < ps->objs + ps->n_objs; q++)
		if (q->ns == ns && q->kind == FL_OBJ_QDISC && q->op == FL_OBJ_DEL &&
		    strcmp(q->qdisc, "clsact") == 0 && strcmp(q->dev, o->dev) == 0)
			return true;
	return false;
}

static int apply_objs(struct fl_engine_ns *e, const struct fl_plan *p, size_t i, size_t ns,
		      size_t from, size_t to)
{
	const struct fl_plan_step *ps = &p->steps[i];
	const struct fl_step *st = &p->scenario->steps[ps->step];
	int r;

	for (size_t k2 = from; k2 < to; k2++) {
		const struct fl_obj *o = &ps->objs[k2];
		char *msg = NULL;

		if (o->ns != ns)
			continue;

		if (o->kind == FL_OBJ_QDISC && o->op == FL_OBJ_ADD && strcmp(o->qdisc, "clsact") == 0) {
			struct fl_root root = root_of(FL_ROOT_CLSACT, o->dev);
			if (!fl_journal_has(e->j, &root))
				continue; /* shared */
		}
		if (clsact_goes(e, ps, ns, o))
			continue; /* our clsact, deleted later in this step, takes the priority along */
		r = apply_obj(e, p, o, &msg);
		if (r < 0) {
			_cleanup_free_ char *cmd = fl_obj_to_command(p, o);
			set_error(e, "step '%s': %s: %s%s%s", st->id, cmd ? cmd : "?", strerror(-r),
				  msg ? ": " : "", msg ? msg : "");
			free(msg);
			return r;
		}
		free(msg);
		r = note_deleted(e, o);
		if (r < 0) {
			set_error(e, "step '%s': cannot write the journal: %s", st->id, strerror(-r));
			return r;
		}
	}
	return 0;
}

int fl_engine_tidy(struct fl_engine_ns *e)
{
	const struct fl_plan *p = e->tidy_plan;
	const struct fl_plan_step *ps;
	int n = 0, r;

	if (!p)
		return 0;
	e->tidy_plan = NULL;
	ps = &p->steps[e->tidy_step];
	r = apply_objs(e, p, e->tidy_step, e->tidy_ns, e->tidy_from, ps->n_objs);
	if (r < 0)
		return r;
	for (size_t k = e->tidy_from; k < ps->n_objs; k++)
		n += ps->objs[k].ns == e->tidy_ns;
	return n;
}

int fl_engine_apply_step(struct fl_engine_ns *e, const struct fl_plan *p, size_t i, size_t ns)
{
	int r = fl_engine_apply_effective(e, p, i, ns);

	if (r == 0)
		r = fl_engine_tidy(e);
	return r < 0 ? r : 0;
}

int fl_engine_apply_effective(struct fl_engine_ns *e, const struct fl_plan *p, size_t i, size_t ns)
{
	const struct fl_plan_step *ps = &p->steps[i];
	const struct fl_step *st = &p->scenario->steps[ps->step];
	struct fl_root *roots = NULL;
	size_t n_roots = 0, tidy_from;
	int r;

	if (ns >= p->n_nss || !p->nss[ns].devices_resolved) {
		set_error(e, "step '%s': the plan's devices are not resolved", st->id);
		return -EINVAL;
	}
	/* A previous step's tidying the caller skipped comes first: steps stay in order. */
	r = fl_engine_tidy(e);
	if (r < 0)
		return r;
	r = 0;
	/* The sockets were opened inside the namespace: no need to enter it (no CAP_SYS_ADMIN). */
	fl_nl_forget_links(e->nl);

	/* Journal first: every root this step creates, in one write and one fsync. */
	roots = calloc(ps->n_objs * 2 + 1, sizeof(*roots));
	if (!roots) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t k2 = 0; k2 < ps->n_objs; k2++) {
		const struct fl_obj *o = &ps->objs[k2];
		if (o->ns != ns)
			continue;
		if (o->kind == FL_OBJ_QDISC && o->op == FL_OBJ_ADD && strcmp(o->qdisc, "clsact") == 0) {
			int has = fl_tc_has_clsact(e->nl, o->dev);
			if (has < 0) {
				r = has;
				set_error(e, "step '%s': cannot read the qdiscs of %s: %s", st->id, o->dev,
					  strerror(-r));
				goto out;
			}
			if (has)
				continue; /* someone else's: shared, no root, never deleted */
		}
		n_roots += roots_created(o, roots + n_roots);
	}
	r = fl_journal_add(e->j, roots, n_roots);
	if (r < 0) {
		set_error(e, "step '%s': cannot write the journal %s: %s", st->id, e->j->path,
			  strerror(-r));
		goto out;
	}

	/* The step's trailing tidy deletions (plan.h) are left to fl_engine_tidy(). */
	tidy_from = ps->n_objs;
	while (tidy_from > 0 &&
	       (ps->objs[tidy_from - 1].ns != ns || ps->objs[tidy_from - 1].tidy))
		tidy_from--;
	r = apply_objs(e, p, i, ns, 0, tidy_from);
	if (r < 0)
		goto out;
	e->tidy_plan = p;
	e->tidy_step = i;
	e->tidy_ns = ns;
	e->tidy_from = tidy_from;

	if (st->kind == FL_STEP_FAULT && p->faults[ps->step].ns == ns)
		r = fl_journal_fault(e->j, st->id, true);
	for (size_t j = 0; r == 0 && j < ps->step; j++)
		if (fl_step_heals(p->scenario, ps->step, j) && p->faults[j].ns == ns) {
			/* Its rule is gone: the engine gives back what it holds, and goes. */
			stop_userspace(e, j);
			r = fl_journal_fault(e->j, p->scenario->steps[j].id, false);
		}
out:
	free(roots);
	return r;
}

/* ---- reverting roots --------------------------------------------------------------- */

/* Deletes one root in the current namespace with nl/nft. */
static int delete_root(struct fl_nl *nl, struct fl_nft *nft, const struct fl_root *root,
		       char **ret_msg)
{
	struct fl_obj o = { .op = FL_OBJ_DEL, .fault = SIZE_MAX };

	snprintf(o.dev, sizeof(o.dev), "%.15s", root->name);
	switch (root->kind) {
	case FL_ROOT_NFT:
		return fl_nft_delete_table(nft, root->name, ret_msg);
	case FL_ROOT_LINK:
		o.kind = FL_OBJ_LINK;
		break;
	case FL_ROOT_CLSACT:
		o.kind = FL_OBJ_QDISC;
		snprintf(o.qdisc, sizeof(o.qdisc), "clsact");
		break;
	case FL_ROOT_PRIO:
		o.kind = FL_OBJ_FILTER;
		o.ingress = root->ingress;
		o.prio = root->prio;
		break;
	}
	return fl_tc_apply(nl, NULL, &o, NULL);
}

static int revert_roots(struct fl_nl *nl, struct fl_nft *nft, struct fl_journal *j,
			void (*report)(const char *, void *), void *ud)
{
	int first = 0;

	fl_nl_forget_links(nl);
	/* Newest first: filters go before the IFBs they redirect to. */
	while (j->n_roots > 0) {
		struct fl_root root = j->roots[j->n_roots - 1];
		char *msg = NULL, buf[64], line[256];
		int r = delete_root(nl, nft, &root, &msg);

		if (report) {
			snprintf(line, sizeof(line), "%s %s%s%s", r < 0 ? "could not remove" : "removed",
				 fl_root_to_string(&root, buf), r < 0 ? ": " : "",
				 r < 0 ? (msg ? msg : strerror(-r)) : "");
			report(line, ud);
		}
		free(msg);
		if (r < 0 && !first)
			first = r;
		/* Forget it either way, or one stuck root would stall the rest. */
		if (j->fd >= 0) {
			int k = fl_journal_remove(j, &root);
			if (k < 0 && !first)
				first = k;
		} else {
			j->n_roots--;
		}
	}
	return first;
}

int fl_engine_revert_all(struct fl_engine_ns *e)
{
	int r;

	e->tidy_plan = NULL; /* its links are roots in the journal: reverted with the rest */
	r = revert_roots(e->nl, e->nft, e->j, NULL, NULL);

	for (size_t i = 0; i < e->n_uq; i++)
		stop_userspace(e, i);

	if (r < 0)
		set_error(e, "revert: could not remove everything: %s", strerror(-r));
	for (size_t i = 0; i < e->j->n_faults; i++)
		if (e->j->faults[i].on)
			(void)fl_journal_fault(e->j, e->j->faults[i].id, false);
	return r;
}

/* ---- recover ----------------------------------------------------------------------- */

static void say(void (*report)(const char *, void *), void *ud, const char *fmt, ...)
	_printf_(3, 4);
static void say(void (*report)(const char *, void *), void *ud, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	if (!report)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	report(line, ud);
}

/* Finds the namespace a journal names, checking it is the same one (inode). -ENOENT if gone. */
static int open_journal_ns(const struct fl_journal *j)
{
	char path[4096] = "";
	uint64_t ino;
	int fd;

	if (!j->netns)
		return -ENOENT;
	if (strcmp(j->netns, "self") == 0)
		snprintf(path, sizeof(path), "/proc/self/ns/net");
	else if (strncmp(j->netns, "named ", 6) == 0)
		snprintf(path, sizeof(path), "/run/netns/%s", j->netns + 6);
	else if (strncmp(j->netns, "path ", 5) == 0)
		snprintf(path, sizeof(path), "%s", j->netns + 5);
	else if (strncmp(j->netns, "pid ", 4) == 0)
		snprintf(path, sizeof(path), "/proc/%s/ns/net", j->netns + 4);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0 && fl_netns_inode(fd, &ino) == 0 && ino == j->ino)
		return fd;
	if (fd >= 0)
		close(fd);

	/* The name moved or the process is gone: look for the namespace by inode. */
	DIR *d = opendir("/run/netns");
	struct dirent *de;
	fd = -ENOENT;
	while (d && (de = readdir(d))) {
		int f;
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/run/netns/%s", de->d_name);
		f = open(path, O_RDONLY | O_CLOEXEC);
		if (f >= 0 && fl_netns_inode(f, &ino) == 0 && ino == j->ino) {
			fd = f;
			break;
		}
		if (f >= 0)
			close(f);
	}
	if (d)
		closedir(d);
	if (fd < 0) {
		int f = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
		if (f >= 0 && fl_netns_inode(f, &ino) == 0 && ino == j->ino)
			fd = f;
		else if (f >= 0)
			close(f);
	}
	return fd;
}

static void scratch_add(struct fl_journal *scratch, const struct fl_root *root)
{
	struct fl_root *g;

	if (fl_journal_has(scratch, root))
		return;
	g = reallocarray(scratch->roots, scratch->n_roots + 1, sizeof(*g));
	if (!g)
		return; /* best effort: recover again finds the rest */
	scratch->roots = g;
	g[scratch->n_roots++] = *root;
}

/*
 * Objects with our reserved names in the current namespace, which no journal
 * listed (a lost journal, or a run killed before it could write one line).
 * A clsact qdisc cannot be told apart from someone else's, so it stays.
 */
static int scan_reserved(struct fl_nl *nl, struct fl_nft *nft, const char *where,
			 void (*report)(const char *, void *), void *ud)
{
	static const char *const families[] = { "netdev", "inet" };
	struct fl_journal scratch = { .fd = -1 };
	struct nl_cache *cache = NULL;
	char **devs = NULL;
	size_t n_devs = 0;
	int r;

	for (size_t i = 0; i < ELEMENTSOF(families); i++) {
		char cmd[96];
		snprintf(cmd, sizeof(cmd), "list table %s " FL_NFT_TABLE "\n", families[i]);
		if (fl_nft_run(nft, cmd, NULL) == 0) {
			struct fl_root root = root_of(FL_ROOT_NFT, families[i]);
			scratch_add(&scratch, &root);
		}
	}
	if (rtnl_link_alloc_cache(nl->sk, AF_UNSPEC, &cache) == 0) {
		for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
			const char *name = rtnl_link_get_name((struct rtnl_link *)o);
			if (name && strncmp(name, FL_IFB_PREFIX, strlen(FL_IFB_PREFIX)) == 0) {
				struct fl_root root = root_of(FL_ROOT_LINK, name);
				scratch_add(&scratch, &root);
			}
		}
		nl_cache_free(cache);
	}
	if (fl_netns_list_devices(nl, &devs, &n_devs) == 0) {
		for (size_t d = 0; d < n_devs; d++) {
			for (int ing = 0; ing < 2; ing++)
				for (unsigned prio = FL_TC_PRIO_PASS4; prio <= FL_TC_PRIO_HASH6; prio++) {
					struct fl_root root = root_of(FL_ROOT_PRIO, devs[d]);
					root.ingress = ing;
					root.prio = (uint16_t)prio;
					if (fl_tc_has_prio(nl, devs[d], ing, (uint16_t)prio) > 0)
						scratch_add(&scratch, &root);
				}
			free(devs[d]);
		}
		free(devs);
	}
	/* Filters first, then links, then tables: the order they depend on each other. */
	struct fl_journal ordered = { .fd = -1 };
	for (int pass = 0; pass < 3; pass++)
		for (size_t i = 0; i < scratch.n_roots; i++) {
			enum fl_root_kind k = scratch.roots[i].kind;
			if ((pass == 2 && k == FL_ROOT_PRIO) || (pass == 1 && k == FL_ROOT_LINK) ||
			    (pass == 0 && k == FL_ROOT_NFT))
				scratch_add(&ordered, &scratch.roots[i]);
		}
	free(scratch.roots);
	if (ordered.n_roots)
		say(report, ud, "%s: %zu object(s) with faultline's reserved names and no journal",
		    where, ordered.n_roots);
	r = revert_roots(nl, nft, &ordered, report, ud);
	free(ordered.roots);
	return r;
}

static int recover_in(int ns_fd, const char *where, struct fl_journal *j, bool scan,
		      void (*report)(const char *, void *), void *ud)
{
	_cleanup_(fl_nl_closep) struct fl_nl *nl = NULL;
	_cleanup_(fl_nft_closep) struct fl_nft *nft = NULL;
	int saved, r, k;

	r = open_in_ns(ns_fd, &nl, &nft, NULL);
	if (r < 0)
		return r;
	r = fl_netns_enter(ns_fd, &saved);
	if (r < 0)
		return r;
	if (j)
		r = revert_roots(nl, nft, j, report, ud);
	if (scan) {
		k = scan_reserved(nl, nft, where, report, ud);
		if (r == 0)
			r = k;
	}
	k = fl_netns_leave(saved);
	return r < 0 ? r : k;
}

/*
 * One journal: enter its namespace and remove its live roots. *ret_ino is
 * the namespace it covers (also when skipped), so the reserved-name scan
 * leaves that namespace to its owner.
 */
static int recover_one(const char *path, bool guardian, void (*report)(const char *, void *),
		       void *userdata, uint64_t *ret_ino)
{
	struct fl_journal *j = NULL;
	int fd, r;

	r = fl_journal_load(path, &j);
	if (r < 0) {
		say(report, userdata, "%s: unreadable journal: %s", path, strerror(-r));
		return r;
	}
	*ret_ino = j->ino;
	/* The guardian knows its run is gone (its pipe closed), whatever ps says. */
	if (!guardian && j->pid != (int)getpid() && fl_pid_alive(j->pid) && j->n_roots) {
		say(report, userdata, "%s: run %d is still active; stop it first", path, j->pid);
		fl_journal_free(j);
		return -EBUSY;
	}
	fd = open_journal_ns(j);
	if (fd < 0) {
		say(report, userdata, "%s: namespace %s is gone, and its objects with it", path,
		    j->netns ? j->netns : "?");
		unlink(path);
		fl_journal_free(j);
		return 0;
	}
	j->fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (j->n_roots)
		say(report, userdata, "%s: %zu live object(s) of scenario '%s' (run %d) in netns %s", path,
		    j->n_roots, j->scenario ? j->scenario : "?", j->pid, j->netns ? j->netns : "?");
	r = recover_in(fd, j->netns ? j->netns : "?", j, !guardian, report, userdata);
	close(fd);
	if (j->n_roots == 0)
		unlink(path);
	fl_journal_free(j);
	return r;
}

/*
 * The pid of another live process holding a namespace lock of ours
 * (net-<inode>.lock, in any run directory), or 0: /proc/locks lists every
 * flock with its holder, and the holder's fds name the file.
 */
static int other_run_alive(void)
{
	FILE *f = fopen("/proc/locks", "re");
	char line[256];
	int found = 0;

	while (f && !found && fgets(line, sizeof(line), f)) {
		char type[16], path[64], target[4096];
		int pid;
		DIR *d;
		struct dirent *de;

		if (sscanf(line, "%*d: %15s %*s %*s %d", type, &pid) != 2 || strcmp(type, "FLOCK") != 0 ||
		    pid <= 0 || pid == (int)getpid())
			continue;
		snprintf(path, sizeof(path), "/proc/%d/fd", pid);
		d = opendir(path);
		while (d && !found && (de = readdir(d))) {
			char fdpath[600];
			ssize_t n;
			snprintf(fdpath, sizeof(fdpath), "%s/%s", path, de->d_name);
			n = readlink(fdpath, target, sizeof(target) - 1);
			if (n <= 0)
				continue;
			target[n] = '\0';
			const char *base = strrchr(target, '/');
			base = base ? base + 1 : target;
			size_t len = strlen(base);
			if (strncmp(base, "net-", 4) == 0 && len > 5 && strcmp(base + len - 5, ".lock") == 0 &&
			    fl_pid_alive(pid))
				found = pid;
		}
		if (d)
			closedir(d);
	}
	if (f)
		fclose(f);
	return found;
}

int fl_recover_journal(const char *path, void (*report)(const char *line, void *userdata),
		       void *userdata)
{
	uint64_t ino;

	return recover_one(path, true, report, userdata, &ino);
}

int fl_recover(const char *run_dir, void (*report)(const char *line, void *userdata),
	       void *userdata)
{
	char path[4096];
	DIR *d;
	struct dirent *de;
	int first = 0, r;
	uint64_t done[256];
	size_t n_done = 0;

	d = opendir(run_dir);
	while (d && (de = readdir(d))) {
		size_t len = strlen(de->d_name);
		uint64_t ino = 0;

		if (len > 9 && strcmp(de->d_name + len - 9, ".guardian") == 0) {
			/* What a guardian did after a run died: tell, then tidy. */
			char line[512];
			FILE *f;
			snprintf(path, sizeof(path), "%s/%s", run_dir, de->d_name);
			f = fopen(path, "re");
			say(report, userdata, "%s: a guardian cleaned up after a run that died:", path);
			while (f && fgets(line, sizeof(line), f)) {
				line[strcspn(line, "\n")] = '\0';
				say(report, userdata, "  %s", line);
			}
			if (f)
				fclose(f);
			unlink(path);
			continue;
		}
		if (len > 5 && strcmp(de->d_name + len - 5, ".lock") == 0) {
			/* A lock nobody holds is left by a run that died before its guardian: tidy. */
			snprintf(path, sizeof(path), "%s/%s", run_dir, de->d_name);
			int fd = open(path, O_RDWR | O_CLOEXEC);
			if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0)
				unlink(path);
			if (fd >= 0)
				close(fd);
			continue;
		}
		if (len < 9 || strcmp(de->d_name + len - 8, ".journal") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", run_dir, de->d_name);
		r = recover_one(path, false, report, userdata, &ino);
		if (r < 0 && !first)
			first = r;
		if (ino && n_done < ELEMENTSOF(done))
			done[n_done++] = ino;
	}
	if (d)
		closedir(d);

	/*
	 * No journal, or a lost one: our reserved names, in every namespace we
	 * can reach. Not while another run is alive: its journal may live in
	 * another run directory, and its objects are not ours to sweep.
	 */
	int live = other_run_alive();
	if (live > 0) {
		say(report, userdata,
		    "faultline run %d is active (it holds a namespace lock): objects no journal here accounts for were left alone",
		    live);
		return first;
	}
	struct {
		const char *path, *name;
	} places[512];
	size_t n_places = 0;
	static char names[512][300];
	places[n_places++] = (typeof(places[0])){ "/proc/self/ns/net", "this namespace" };
	d = opendir("/run/netns");
	while (d && (de = readdir(d)) && n_places < ELEMENTSOF(places)) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(names[n_places], sizeof(names[0]), "/run/netns/%s", de->d_name);
		places[n_places] = (typeof(places[0])){ names[n_places], names[n_places] + 11 };
		n_places++;
	}
	if (d)
		closedir(d);
	for (size_t i = 0; i < n_places; i++) {
		uint64_t ino;
		bool seen = false;
		int fd = open(places[i].path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (fl_netns_inode(fd, &ino) == 0)
			for (size_t k = 0; k < n_done; k++)
				seen |= done[k] == ino;
		if (!seen) {
			r = recover_in(fd, places[i].name, NULL, true, report, userdata);
			if (r < 0 && !first)
				first = r;
			if (n_done < ELEMENTSOF(done) && fl_netns_inode(fd, &ino) == 0)
				done[n_done++] = ino;
		}
		close(fd);
	}
	return first;
}
