/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include "journal/journal.h"
#include "util/strbuf.h"

static const char *const kind_names[] = {
	[FL_ROOT_NFT] = "nft",
	[FL_ROOT_LINK] = "link",
	[FL_ROOT_PRIO] = "prio",
	[FL_ROOT_CLSACT] = "clsact",
};

const char *fl_root_to_string(const struct fl_root *r, char buf[static 64])
{
	if (r->kind == FL_ROOT_PRIO)
		snprintf(buf, 64, "prio %.31s %s %u", r->name, r->ingress ? "ingress" : "egress",
			 r->prio);
	else
		snprintf(buf, 64, "%s %.31s", kind_names[r->kind], r->name);
	return buf;
}

static bool same_root(const struct fl_root *a, const struct fl_root *b)
{
	return a->kind == b->kind && strcmp(a->name, b->name) == 0 &&
	       (a->kind != FL_ROOT_PRIO || (a->ingress == b->ingress && a->prio == b->prio));
}

bool fl_journal_has(const struct fl_journal *j, const struct fl_root *r)
{
	for (size_t i = 0; i < j->n_roots; i++)
		if (same_root(&j->roots[i], r))
			return true;
	return false;
}

static int parse_root(const char *s, struct fl_root *ret)
{
	char kind[16], name[32], hook[16];
	unsigned prio;
	struct fl_root r = { 0 };
	size_t k;

	if (sscanf(s, "%15s %31s", kind, name) != 2)
		return -EINVAL;
	for (k = 0; k < ELEMENTSOF(kind_names); k++)
		if (strcmp(kind, kind_names[k]) == 0)
			break;
	if (k == ELEMENTSOF(kind_names))
		return -EINVAL;
	r.kind = (enum fl_root_kind)k;
	snprintf(r.name, sizeof(r.name), "%s", name);
	if (r.kind == FL_ROOT_PRIO) {
		if (sscanf(s, "%*s %*s %15s %u", hook, &prio) != 2 || prio > 0xffff)
			return -EINVAL;
		r.ingress = strcmp(hook, "ingress") == 0;
		r.prio = (uint16_t)prio;
	}
	*ret = r;
	return 0;
}

static int track(struct fl_journal *j, const struct fl_root *r, bool add)
{
	if (add) {
		struct fl_root *g;
		if (fl_journal_has(j, r))
			return 0;
		g = reallocarray(j->roots, j->n_roots + 1, sizeof(*g));
		if (!g)
			return -ENOMEM;
		j->roots = g;
		g[j->n_roots++] = *r;
		return 0;
	}
	for (size_t i = 0; i < j->n_roots; i++)
		if (same_root(&j->roots[i], r)) {
			memmove(&j->roots[i], &j->roots[i + 1], (j->n_roots - i - 1) * sizeof(*r));
			j->n_roots--;
			break;
		}
	return 0;
}

static int track_fault(struct fl_journal *j, const char *id, bool on)
{
	for (size_t i = 0; i < j->n_faults; i++)
		if (strcmp(j->faults[i].id, id) == 0) {
			j->faults[i].on = on;
			return 0;
		}
	struct fl_fault_note *g = reallocarray(j->faults, j->n_faults + 1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	j->faults = g;
	snprintf(g[j->n_faults].id, sizeof(g[j->n_faults].id), "%s", id);
	g[j->n_faults++].on = on;
	return 0;
}

/* Alive, and not a zombie: a killed run stays a zombie until its parent reaps it. */
bool fl_pid_alive(int pid)
{
	char path[64], buf[256];
	FILE *f;
	bool alive = true;

	if (pid <= 0 || (kill(pid, 0) < 0 && errno != EPERM))
		return false;
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "re");
	if (!f)
		return true;
	if (fgets(buf, sizeof(buf), f)) {
		const char *rp = strrchr(buf, ')');
		if (rp && (rp[2] == 'Z' || rp[2] == 'X'))
			alive = false;
	}
	fclose(f);
	return alive;
}

int fl_journal_load(const char *path, struct fl_journal **ret)
{
	_cleanup_(fl_journal_freep) struct fl_journal *j = calloc(1, sizeof(*j));
	char line[512];
	FILE *f;
	int r = 0;

	if (!j)
		return -ENOMEM;
	j->fd = -1;
	j->path = strdup(path);
	if (!j->path)
		return -ENOMEM;
	f = fopen(path, "re");
	if (!f)
		return -errno;
	if (!fgets(line, sizeof(line), f) || strncmp(line, "faultline-journal 1", 19) != 0) {
		fclose(f);
		return -EBADMSG;
	}
	while (r == 0 && fgets(line, sizeof(line), f)) {
		struct fl_root root;
		char a[256], b[256];
		line[strcspn(line, "\n")] = '\0';
		if ((line[0] == '+' || line[0] == '-') && line[1] == ' ') {
			/* A torn last line (crash mid-write) parses as garbage: skip it. */
			if (parse_root(line + 2, &root) == 0)
				r = track(j, &root, line[0] == '+');
		} else if (sscanf(line, "netns %255[^\n]", a) == 1) {
			char *sp = strrchr(a, ' ');
			if (sp) {
				*sp = '\0';
				j->ino = strtoull(sp + 1, NULL, 10);
			}
			free(j->netns);
			j->netns = strdup(a);
		} else if (sscanf(line, "pid %d", &j->pid) == 1) {
			continue;
		} else if (strncmp(line, "scenario ", 9) == 0) {
			free(j->scenario);
			j->scenario = strdup(line + 9);
		} else if (sscanf(line, "fault %255s %255s", a, b) == 2) {
			r = track_fault(j, a, strcmp(b, "on") == 0);
		}
	}
	fclose(f);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(j);
	return 0;
}

char *fl_journal_netns_ref(const struct fl_scope *sc)
{
	char *s = NULL;
	int r = -1;

	switch (sc->netns_kind) {
	case FL_NETNS_SELF:
		r = asprintf(&s, "self");
		break;
	case FL_NETNS_NAMED:
		r = asprintf(&s, "named %s", sc->netns);
		break;
	case FL_NETNS_PATH:
		r = asprintf(&s, "path %s", sc->netns);
		break;
	case FL_NETNS_PID:
		r = asprintf(&s, "pid %d", sc->pid);
		break;
	}
	return r < 0 ? NULL : s;
}

static int write_all(int fd, const char *s)
{
	size_t n = strlen(s);

	while (n) {
		ssize_t k = write(fd, s, n);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		s += k;
		n -= (size_t)k;
	}
	return 0;
}

static int append_sync(struct fl_journal *j, const char *text)
{
	int r = write_all(j->fd, text);

	if (r == 0 && fsync(j->fd) < 0)
		r = -errno;
	return r;
}

static void lock_path(char *buf, size_t n, const char *dir, uint64_t ino)
{
	snprintf(buf, n, "%s/net-%" PRIu64 ".lock", dir, ino);
}

int fl_journal_lock(const char *dir, uint64_t ino, int *ret_holder)
{
	char path[4096], pid[32];
	struct stat a, b;
	int fd, r;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	lock_path(path, sizeof(path), dir, ino);
	for (;;) {
		fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (fd < 0)
			return -errno;
		if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
			r = errno == EWOULDBLOCK ? -EBUSY : -errno;
			if (ret_holder) {
				ssize_t n = pread(fd, pid, sizeof(pid) - 1, 0);
				pid[n > 0 ? n : 0] = '\0';
				*ret_holder = atoi(pid);
			}
			close(fd);
			return r;
		}
		/* The holder unlinks the file as it lets go: make sure ours is still the one. */
		if (fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_ino == b.st_ino &&
		    a.st_dev == b.st_dev)
			break;
		close(fd);
	}
	snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, strlen(pid), 0) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

void fl_journal_unlock(const char *dir, uint64_t ino, int fd)
{
	char path[4096];

	if (fd < 0)
		return;
	lock_path(path, sizeof(path), dir, ino);
	unlink(path); /* while still holding it: see fl_journal_lock */
	close(fd);
	(void)rmdir(dir); /* only if nothing else is there */
}

int fl_journal_create(const char *dir, uint64_t ino, const char *netns_ref, const char *scenario,
		      struct fl_journal **ret, int *ret_holder)
{
	_cleanup_(fl_journal_freep) struct fl_journal *j = NULL;
	char *path = NULL, *head = NULL;
	int r;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	if (asprintf(&path, "%s/net-%" PRIu64 ".journal", dir, ino) < 0)
		return -ENOMEM;

	/* Leftovers of a crashed run: refuse until recovered. */
	struct fl_journal *old = NULL;
	if (fl_journal_load(path, &old) == 0) {
		bool live = old->n_roots > 0;
		if (ret_holder)
			*ret_holder = old->pid;
		fl_journal_free(old);
		if (live) {
			free(path);
			return -EUCLEAN;
		}
	}

	j = calloc(1, sizeof(*j));
	if (!j) {
		free(path);
		return -ENOMEM;
	}
	j->fd = -1;
	j->path = path;
	j->ino = ino;
	j->pid = (int)getpid();
	j->netns = strdup(netns_ref);
	j->scenario = strdup(scenario ? scenario : "");
	if (!j->netns || !j->scenario)
		return -ENOMEM;
	j->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_APPEND, 0600);
	if (j->fd < 0)
		return -errno;
	if (asprintf(&head, "faultline-journal 1\nnetns %s %" PRIu64 "\npid %d\nscenario %s\n",
		     netns_ref, ino, j->pid, j->scenario) < 0)
		return -ENOMEM;
	r = append_sync(j, head);
	free(head);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(j);
	return 0;
}

int fl_journal_add(struct fl_journal *j, const struct fl_root *roots, size_t n)
{
	struct fl_strbuf sb = { 0 };
	size_t added = 0;
	int r;

	for (size_t i = 0; i < n; i++) {
		char buf[64];
		bool dup = fl_journal_has(j, &roots[i]);
		for (size_t k = 0; k < i && !dup; k++)
			dup = same_root(&roots[k], &roots[i]);
		if (dup)
			continue;
		fl_strbuf_appendf(&sb, "+ %s\n", fl_root_to_string(&roots[i], buf));
		added++;
	}
	if (!added)
		return 0;
	_cleanup_free_ char *text = fl_strbuf_steal(&sb);
	if (!text)
		return -ENOMEM;
	r = append_sync(j, text);
	for (size_t i = 0; r == 0 && i < n; i++)
		r = track(j, &roots[i], true);
	return r;
}

int fl_journal_remove(struct fl_journal *j, const struct fl_root *root)
{
	char buf[64], line[80];
	int r;

	snprintf(line, sizeof(line), "- %s\n", fl_root_to_string(root, buf));
	/*
	 * No fsync: only a `+` must be on disk before its object exists. A `-`
	 * lost in a crash makes recovery delete something already gone, which
	 * every delete treats as done; an fsync per deletion made a revert of a
	 * few roots take milliseconds longer.
	 */
	r = write_all(j->fd, line);
	if (r == 0)
		r = track(j, root, false);
	return r;
}

int fl_journal_fault(struct fl_journal *j, const char *id, bool on)
{
	char line[128];
	int r;

	snprintf(line, sizeof(line), "fault %.64s %s\n", id, on ? "on" : "off");
	r = write_all(j->fd, line);
	return r < 0 ? r : track_fault(j, id, on);
}

void fl_journal_free(struct fl_journal *j)
{
	if (!j)
		return;
	if (j->fd >= 0)
		close(j->fd);
	free(j->path);
	free(j->netns);
	free(j->scenario);
	free(j->roots);
	free(j->faults);
	free(j);
}

void fl_journal_close(struct fl_journal *j)
{
	if (!j)
		return;
	if (j->fd >= 0 && j->n_roots == 0)
		unlink(j->path);
	fl_journal_free(j);
}
