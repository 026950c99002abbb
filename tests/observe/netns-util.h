/* SPDX-License-Identifier: MIT */
/*
 * The observer's namespace programs (test-netns, bench-observe): a client
 * and a server namespace joined by a veth pair,
 *
 *   client ns: vc 10.251.0.1/24  <---->  server ns: vs 10.251.0.2/24
 *
 * Cleanup on every exit path: the namespaces have no name; each is held by
 * a child that dies with the program (PR_SET_PDEATHSIG), and the veth pair
 * is created directly inside them, so when the program ends, however it
 * ends, the kernel removes both namespaces and the link. Every child is
 * killed and reaped at exit.
 */
#ifndef FL_TESTS_OBSERVE_NETNS_UTIL_H
#define FL_TESTS_OBSERVE_NETNS_UTIL_H

#include <stdint.h>
#include <sys/types.h>

#define NS_SKIP	  77
#define NS_CLIENT "10.251.0.1"
#define NS_SERVER "10.251.0.2"

struct ns_pair {
	int self;   /* the program's own namespace */
	int client; /* fds of the namespaces */
	int server;
	pid_t client_pid, server_pid;
};

/* Messages prefixed with name; exits 77 without root or ip(8). more_cleanup runs at exit. */
void ns_init(const char *name, void (*more_cleanup)(void));
_Noreturn void ns_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void ns_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#define check(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond))                                                                       \
			ns_fail(__VA_ARGS__);                                                      \
	} while (0)

uint64_t ns_now(void); /* CLOCK_MONOTONIC ns */
void ns_sleep_ms(unsigned ms);
/*
 * fork(): the child dies with its parent and is killed at the program's
 * exit (a child may call it too: its children die with it).
 */
pid_t ns_fork(void);
/* Reaps a child of ns_fork(); its exit status (128 + N: signal N). */
int ns_wait(pid_t pid);
/* A namespace held by a child; returns an fd of it. */
int ns_new(pid_t *ret_pid);
/* Runs argv inside ns_fd (-1: here), stdout to /dev/null; its exit status. */
int ns_run(int ns_fd, const char *const *argv);
void ns_must(int ns_fd, const char *const *argv);
/* The two namespaces and the veth pair, addresses up. */
void ns_pair(struct ns_pair *p);
/* An AF_INET socket made in namespace ns_fd, bound to addr:port if port != 0. */
int ns_socket(const struct ns_pair *p, int ns_fd, int type, const char *addr, uint16_t port);

#endif
