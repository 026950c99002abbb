/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <netlink/route/link.h>
#include "engine/netns.h"
#include "engine/nl.h"
#include "plan/plan.h"

int fl_netns_open(const struct fl_scope *sc)
{
	char path[4096];
	int fd;

	switch (sc->netns_kind) {
	case FL_NETNS_SELF:
		snprintf(path, sizeof(path), "/proc/self/ns/net");
		break;
	case FL_NETNS_NAMED:
		snprintf(path, sizeof(path), "/run/netns/%s", sc->netns);
		break;
	case FL_NETNS_PATH:
		snprintf(path, sizeof(path), "%s", sc->netns);
		break;
	case FL_NETNS_PID:
		snprintf(path, sizeof(path), "/proc/%d/ns/net", sc->pid);
		break;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int fl_netns_open_spec(const char *spec)
{
	struct fl_scope sc = { .netns_kind = FL_NETNS_NAMED, .netns = (char *)spec };
	char *end;

	if (!spec)
		sc.netns_kind = FL_NETNS_SELF;
	else if (!*spec)
		return -EINVAL;
	else if (spec[0] == '/') {
		sc.netns_kind = FL_NETNS_PATH;
	} else if (strncmp(spec, "pid:", 4) == 0) {
		long pid;
		errno = 0;
		pid = strtol(spec + 4, &end, 10);
		if (errno || *end || pid <= 0 || pid > 4194304)
			return -EINVAL;
		sc.netns_kind = FL_NETNS_PID;
		sc.pid = (int)pid;
	} else if (strchr(spec, '/') || strcmp(spec, ".") == 0 || strcmp(spec, "..") == 0) {
		return -EINVAL;
	}
	return fl_netns_open(&sc);
}

int fl_netns_enter(int fd, int *ret_saved)
{
	int saved = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);

	if (saved < 0)
		return -errno;
	if (setns(fd, CLONE_NEWNET) < 0) {
		int r = -errno;
		close(saved);
		return r;
	}
	*ret_saved = saved;
	return 0;
}

int fl_netns_leave(int saved)
{
	int r = setns(saved, CLONE_NEWNET) < 0 ? -errno : 0;

	close(saved);
	return r;
}

int fl_netns_inode(int fd, uint64_t *ret_ino)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	*ret_ino = (uint64_t)st.st_ino;
	return 0;
}

int fl_netns_list_devices(struct fl_nl *nl, char ***ret, size_t *ret_n)
{
	struct nl_cache *cache = NULL;
	char **names = NULL;
	size_t n = 0;
	int r;

	r = rtnl_link_alloc_cache(nl->sk, AF_UNSPEC, &cache);
	if (r < 0)
		return fl_nl_error(nl, r);
	for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
		const char *name = rtnl_link_get_name((struct rtnl_link *)o);
		char **g;
		if (!name || strcmp(name, "lo") == 0 ||
		    strncmp(name, FL_IFB_PREFIX, strlen(FL_IFB_PREFIX)) == 0)
			continue;
		g = reallocarray(names, n + 1, sizeof(char *));
		if (!g || !(g[n] = strdup(name))) {
			if (g)
				names = g;
			r = -ENOMEM;
			break;
		}
		names = g;
		n++;
	}
	nl_cache_free(cache);
	if (r < 0) {
		for (size_t i = 0; i < n; i++)
			free(names[i]);
		free(names);
		return r;
	}
	*ret = names;
	*ret_n = n;
	return 0;
}
