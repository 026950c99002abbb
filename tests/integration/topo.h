/* SPDX-License-Identifier: MIT */
/*
 * The world of the namespace tests: a client namespace with one veth to
 * each of two server namespaces, A (the one faults target) and B (the
 * bystander), IPv4 and IPv6 on both links, and in each server a forked
 * server: TCP and UDP echo, a tiny HTTP responder, a sink and a source for
 * bulk TCP.
 *
 *   client ns                                    server ns "a"
 *     va  10.201.1.1/24  fd00:201:1::1/64 ------ eth0  10.201.1.2  fd00:201:1::2
 *     vb  10.201.2.1/24  fd00:201:2::1/64 ------ eth0  10.201.2.2  fd00:201:2::2
 *                                                server ns "b"
 *
 * The faults act in the client namespace (the scenario's scope). Traffic
 * flows only between these namespaces.
 *
 * Cleanup: the namespaces have no name under /run/netns: each is held by a
 * child of the test (the client's by a process that only waits, the
 * servers' by the servers), and every child dies with the test
 * (PR_SET_PDEATHSIG), so the kernel removes the namespaces, and with them
 * every link, qdisc, filter and nft table in them, however the test ends,
 * SIGKILL included. Nobody's `faultline recover`, which sweeps every
 * /run/netns entry, can reach into them mid-test either. Files live in
 * /tmp/fl-test-<pid> (journals in its run/); a reaper process, detached so
 * that it outlives even SIGKILL, removes the directory once the test's
 * process is gone. At a normal exit topo_teardown() (atexit) kills the
 * children and waits for the reaper, so nothing is left when the test
 * returns.
 */
#ifndef FL_TESTS_INTEGRATION_TOPO_H
#define FL_TESTS_INTEGRATION_TOPO_H

#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "util/macro.h"

#define IT_SKIP 77

/* Ports of the servers (the same in both, on IPv4 and IPv6). */
enum {
	IT_PORT_ECHO = 7, /* TCP and UDP echo */
	IT_PORT_SINK = 9, /* TCP: reads "WARM_MS MEASURE_MS\n", reports "BYTES USEC\n" received */
	IT_PORT_SOURCE = 19,	/* TCP: writes as fast as it can until the peer goes */
	IT_PORT_HTTP = 80,	/* HTTP/1.0: 200 and "faultline-it server X" */
	IT_PORT_REVERSE = 5000, /* UDP on the client: datagrams the servers send to it */
};

enum { IT_A, IT_B, IT_N_SERVERS };
enum { IT_V4, IT_V6, IT_N_FAMILIES };

/* Shared with a server process (MAP_SHARED): what reached it. */
struct it_counters {
	uint64_t udp_rx[IT_N_FAMILIES];
	uint64_t tcp_accepted[IT_N_FAMILIES];
};

struct it_server {
	char name;   /* 'a' or 'b' */
	char ns[64]; /* /proc/PID/ns/net of its server process, which holds it */
	int ns_fd;
	char addr[IT_N_FAMILIES][48];	     /* the server's addresses */
	char client_addr[IT_N_FAMILIES][48]; /* the client's, on this link */
	char dev[IFNAMSIZ];		     /* the client's device towards it */
	pid_t pid;
	struct it_counters *ctr;
};

struct topo {
	char client_ns[64];    /* /proc/PID/ns/net */
	char client_scope[32]; /* "pid:PID": the scenarios' scope (FL_IT_CLIENT) */
	pid_t client_pid;      /* the child that holds the client namespace */
	int client_fd;	       /* the client namespace */
	int host_fd;	       /* where the test runs */
	char dir[256];	       /* /tmp/fl-test-<pid>: scratch files */
	char run_dir[300];     /* dir/run: journals (never /run/faultline) */
	struct it_server srv[IT_N_SERVERS];
};

/* Messages: every line is prefixed with the test's name. */
void it_log(const char *fmt, ...) _printf_(1, 2);
/* Prints "FAIL: ..." and exits 1 (teardown runs from atexit). */
_Noreturn void it_fail(const char *fmt, ...) _printf_(1, 2);
/* Prints "SKIP: ..." and exits 77. */
_Noreturn void it_skip(const char *fmt, ...) _printf_(1, 2);
#define it_assert(cond, ...)                                                                       \
	do {                                                                                       \
		if (!(cond))                                                                       \
			it_fail(__VA_ARGS__);                                                      \
	} while (0)

/*
 * Builds the world, or exits: 77 without root, ip/tc/nft or network
 * namespaces, 1 on any other failure. Sets FL_IT_CLIENT ("pid:N", the
 * client namespace as a scope), FL_IT_A4, FL_IT_A6, FL_IT_B4, FL_IT_B6 (for
 * ${VARS} in scenarios) and registers the teardown. One per process.
 */
struct topo *topo_setup(const char *test_name);
/* Kills servers and helpers, deletes namespaces and files; idempotent. */
void topo_teardown(void);

/*
 * Starts argv[0] (a path) as a child that dies with the test; its stdout is
 * a non-blocking pipe (*ret_fd), its stderr the test's. Adopted: killed at
 * teardown unless forgotten.
 */
pid_t topo_spawn(const char *const *argv, int *ret_fd);

/* Registers a child process to be SIGKILLed at teardown (a helper). */
void topo_adopt(pid_t pid);
void topo_forget(pid_t pid);

/* A socket in namespace ns_fd (-1: the client's). -errno on failure. */
int topo_socket(const struct topo *t, int ns_fd, int family, int type, int protocol);

/*
 * Runs "sh -c CMD" inside namespace ns (a path such as t->client_ns; NULL:
 * the test's own), stdout and
 * stderr captured together into *ret_out (may be NULL). Returns the exit
 * status (0-255), or -errno.
 */
int topo_sh(const char *ns, char **ret_out, const char *fmt, ...) _printf_(3, 4);
/* topo_sh() that must exit 0. */
void topo_must(const char *ns, const char *fmt, ...) _printf_(2, 3);

/*
 * Everything the engine could touch in the client namespace, as text:
 * `ip -d link`, `tc qdisc show`, per device `tc class show`, `tc filter show`
 * (root, egress, ingress), and `nft list ruleset`.
 */
char *topo_dump(const struct topo *t);
/* Fails the test with a unified diff when two dumps differ. */
void topo_assert_same(const struct topo *t, const char *want, const char *got, const char *what);

/*
 * State that is not ours and must survive every apply, revert and recover:
 *   va: root HTB 1: with class 1:10 and a root filter; clsact with a u32
 *       filter at prio 10 on egress and on ingress;
 *   vb: nothing (so the engine creates its own clsact there, and removes it);
 *   nft: table inet fl_foreign with a set and an output chain, and table
 *        netdev fl_foreign with an ingress chain on va.
 */
void topo_install_foreign(const struct topo *t);
/*
 * Deletes and re-adds the foreign clsact filters: with the last u32 filter
 * gone the kernel frees the qdisc's u32 state (hash tables included). Same
 * handles, same dump afterwards.
 */
void topo_reinstall_foreign_filters(const struct topo *t);

/*
 * Runs faultline (the real binary) as `faultline ARGS...` in a private mount
 * namespace with an empty /run whose /run/netns holds only this test's
 * namespaces (bound as
 * fl-it-PID-client, -a, -b), from inside the client namespace: `recover`
 * sweeps every namespace it can reach, and a test must not touch the host's
 * or a parallel test's. Returns the exit status; *ret_out gets stdout and
 * stderr.
 */
int topo_faultline(const struct topo *t, const char *binary, char **ret_out,
		   const char *const *args);

/* The server of namespace s (server.c), already inside it; signals ready_fd once listening. */
_Noreturn void it_server_main(const struct it_server *s, int ready_fd);

/* Monotonic clock, in microseconds. */
uint64_t it_now_us(void);
/* Waits ms milliseconds. */
void it_sleep_ms(unsigned ms);

#endif
