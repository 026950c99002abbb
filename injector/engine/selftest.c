/* SPDX-License-Identifier: MIT */
/*
 * The exclusion self-test: before the first fault of a run, prove with a
 * real TCP handshake that the exclusions faultline renders let SSH through
 * a partition of everything. It runs in a child process, in two scratch
 * network namespaces joined by a veth pair, with the same planner and the
 * same nftables text a run uses; the host is never touched, and the scratch
 * namespaces vanish with the child.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>

#include "engine/engine.h"
#include "engine/nft.h"
#include "engine/nl.h"
#include "scenario/parse.h"
#include "util/child.h"

#define ST_DEV "flst0"
#define ST_PEER "flst1"
#define ST_LOCAL "10.255.255.1"
#define ST_REMOTE "10.255.255.2"
#define ST_TIMEOUT_MS 5000

static const char *const selftest_yaml =
	"version: 1\n"
	"name: faultline exclusion self-test\n"
	"scope: { interfaces: [" ST_DEV "] }\n"
	"services: { everything: { endpoints: [ \"0.0.0.0/0\", \"::/0\" ] } }\n"
	"timeline:\n"
	"  - { at: 0s, id: cut, fault: partition, services: [everything] }\n"
	"  - { at: 1s, end: true }\n";

static int link_up_addr(struct nl_sock *sk, const char *dev, const char *addr)
{
	struct rtnl_link *got = NULL, *change = rtnl_link_alloc();
	struct rtnl_addr *a = rtnl_addr_alloc();
	struct nl_addr *local = NULL;
	int r = -NLE_NOMEM;

	if (!change || !a)
		goto out;
	r = rtnl_link_get_kernel(sk, 0, dev, &got);
	if (r < 0)
		goto out;
	rtnl_link_set_flags(change, IFF_UP);
	r = rtnl_link_change(sk, got, change, 0);
	if (r < 0)
		goto out;
	r = nl_addr_parse(addr, AF_INET, &local);
	if (r < 0)
		goto out;
	nl_addr_set_prefixlen(local, 30);
	rtnl_addr_set_ifindex(a, rtnl_link_get_ifindex(got));
	rtnl_addr_set_local(a, local);
	r = rtnl_addr_add(sk, a, 0);
out:
	if (local)
		nl_addr_put(local);
	if (a)
		rtnl_addr_put(a);
	if (change)
		rtnl_link_put(change);
	if (got)
		rtnl_link_put(got);
	return r;
}

/* A TCP connect from here: 1 connected, 0 timed out, -errno refused or failed. */
static int try_connect(uint16_t port, int timeout_ms)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), r, err = 0;
	socklen_t len = sizeof(err);

	if (fd < 0)
		return -errno;
	inet_pton(AF_INET, ST_REMOTE, &sin.sin_addr);
	r = connect(fd, (struct sockaddr *)&sin, sizeof(sin));
	if (r < 0 && errno != EINPROGRESS) {
		r = -errno;
		close(fd);
		return r;
	}
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	r = poll(&p, 1, timeout_ms);
	if (r == 0) {
		close(fd);
		return 0;
	}
	getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
	close(fd);
	return err ? -err : 1;
}

static int listener(uint16_t port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(fd, 8) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

/* In the child: returns 0 when SSH passed and the other port was cut, or writes why not. */
static int run_test(const struct fl_plan *p, char *why, size_t n)
{
	struct fl_plan_options po = { .caps = { FL_CAP_NFTABLES | FL_CAP_NETDEV_EGRESS, "self-test" } };
	struct fl_scenario *s = NULL;
	struct fl_plan *sp = NULL;
	struct fl_diag d;
	struct fl_nft *nft = NULL;
	struct nl_sock *sk = NULL;
	struct rtnl_link *veth = NULL;
	char *devs[] = { ST_DEV }, *err = NULL;
	uint16_t other = 80;
	int fd_a = -1, fd_b = -1, l22 = -1, lother = -1, r;

	/* The run's own SSH ports; the cut port is one that is not among them. */
	for (size_t i = 0; i < p->n_ssh_ports && po.n_ssh_ports < ELEMENTSOF(po.ssh_ports); i++)
		po.ssh_ports[po.n_ssh_ports++] = p->ssh_ports[i];
	for (size_t i = 0; i < p->n_ssh_ports; i++)
		if (p->ssh_ports[i] == other)
			other = 81;
	po.devices = devs;
	po.n_devices = 1;

	fl_diag_init(&d, "self-test");
	r = fl_scenario_parse("self-test", selftest_yaml, strlen(selftest_yaml), NULL, &d, &s);
	if (r == 0)
		r = fl_plan_build(s, &po, &d, &sp);
	fl_diag_done(&d);
	if (r < 0) {
		snprintf(why, n, "cannot plan the self-test: %s", strerror(-r));
		goto out;
	}

	/* Namespace A (ours, with the rules) and B (the far end, listening). */
	if (unshare(CLONE_NEWNET) < 0 || (fd_a = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC)) < 0 ||
	    unshare(CLONE_NEWNET) < 0 || (fd_b = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC)) < 0) {
		r = -errno;
		snprintf(why, n, "cannot make scratch namespaces: %s", strerror(errno));
		goto out;
	}
	l22 = listener(22);
	lother = listener(other);
	sk = nl_socket_alloc();
	if (l22 < 0 || lother < 0 || !sk || nl_connect(sk, NETLINK_ROUTE) < 0) {
		r = -EIO;
		snprintf(why, n, "cannot listen in the scratch namespace");
		goto out;
	}
	if (setns(fd_a, CLONE_NEWNET) < 0) {
		r = -errno;
		goto out;
	}
	/* The veth is made from A with its peer born in B; B's socket (sk) configures B. */
	struct nl_sock *ska = nl_socket_alloc();
	if (!ska || nl_connect(ska, NETLINK_ROUTE) < 0) {
		nl_socket_free(ska);
		r = -EIO;
		goto out;
	}
	veth = rtnl_link_veth_alloc();
	if (!veth) {
		nl_socket_free(ska);
		r = -ENOMEM;
		goto out;
	}
	rtnl_link_set_name(veth, ST_DEV);
	rtnl_link_set_name(rtnl_link_veth_get_peer(veth), ST_PEER);
	rtnl_link_set_ns_fd(rtnl_link_veth_get_peer(veth), fd_b);
	r = rtnl_link_add(ska, veth, NLM_F_CREATE | NLM_F_EXCL);
	if (r == 0)
		r = link_up_addr(ska, ST_DEV, ST_LOCAL);
	if (r == 0)
		r = link_up_addr(sk, ST_PEER, ST_REMOTE);
	nl_socket_free(ska);
	if (r < 0) {
		snprintf(why, n, "cannot set up the scratch veth: %s", nl_geterror(r));
		r = -EIO;
		goto out;
	}

	/*
	 * Before the rules: both ports answer, or the test proves nothing. A new
	 * veth carries nothing until linkwatch activates its qdisc (up to a
	 * second later), so retry quickly rather than wait for TCP's 1 s RTO.
	 */
	int up = 0;
	for (int tries = 0; tries < 30 && up != 1; tries++)
		up = try_connect(22, 100);
	if (up != 1 || try_connect(other, 1000) != 1) {
		snprintf(why, n, "the scratch link does not carry traffic");
		r = -EIO;
		goto out;
	}
	r = fl_nft_open(&nft);
	if (r == 0)
		r = fl_nft_run(nft, sp->steps[0].objs[0].nft, &err);
	if (r < 0) {
		snprintf(why, n, "nftables refused the rules: %s", err ? err : strerror(-r));
		goto out;
	}
	int ssh = try_connect(22, 1000), cut = try_connect(other, 300);
	if (ssh != 1) {
		snprintf(why, n, "tcp port 22 did not pass a partition of everything (%s)",
			 ssh == 0 ? "timed out" : strerror(-ssh));
		r = -EPROTO;
	} else if (cut != 0) {
		snprintf(why, n, "the partition did not cut tcp port %u (%s)", other,
			 cut == 1 ? "connected" : strerror(-cut));
		r = -EPROTO;
	}
out:
	free(err);
	fl_nft_close(nft);
	if (veth)
		rtnl_link_put(veth);
	nl_socket_free(sk);
	if (l22 >= 0)
		close(l22);
	if (lother >= 0)
		close(lother);
	if (fd_a >= 0)
		close(fd_a);
	if (fd_b >= 0)
		close(fd_b);
	fl_plan_free(sp);
	fl_scenario_free(s);
	return r;
}

/* The child's report: 'P' (passed), or 'F' and why not. */
static size_t selftest_child(void *buf, size_t n, void *userdata)
{
	char *out = buf;

	if (run_test(userdata, out + 1, n - 1) == 0) {
		out[0] = 'P';
		return 1;
	}
	out[0] = 'F';
	return 1 + strnlen(out + 1, n - 1);
}

int fl_selftest_exclusions(const struct fl_plan *p, char **ret_error)
{
	char report[512] = "";
	ssize_t k;

	k = fl_child_run(selftest_child, (void *)p, report, sizeof(report) - 1, ST_TIMEOUT_MS);
	if (k < 0)
		return (int)k;
	if (k >= 1 && report[0] == 'P')
		return 0;
	report[k > 0 ? k : 0] = '\0';
	if (ret_error)
		*ret_error = strdup(k > 1 ? report + 1 : "the self-test did not finish");
	return -EPROTO;
}
