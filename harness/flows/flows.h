/* SPDX-License-Identifier: MIT */
/*
 * The probe engine: drives every flow of a scenario (http through libcurl's
 * multi interface, tcp, udp, exec) on one thread and one epoll loop, each
 * flow at its own period on CLOCK_MONOTONIC with absolute deadlines, and
 * records one struct fl_probe_result per probe. It never prints.
 *
 * Times: uint64_t nanoseconds. Absolute instants (fields ending in _ns
 * below unless said otherwise) are CLOCK_MONOTONIC; latency_ns is a span.
 *
 * Privileges: the engine needs none. A flow's `netns` is honoured through
 * an fd the caller opened (netns_fds[flow]); sockets are created inside it
 * with setns(2) around socket(2), which needs CAP_SYS_ADMIN at that moment.
 * A caller that has none supplies open_socket instead (e.g. a privileged
 * helper passing sockets over SCM_RIGHTS), and the engine calls it for
 * every socket of a flow with a namespace.
 */
#ifndef FL_HARNESS_FLOWS_H
#define FL_HARNESS_FLOWS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "flows/phase.h"
#include "scenario/model.h"
#include "util/macro.h"

enum fl_outcome {
	FL_OUT_OK,
	FL_OUT_HTTP_STATUS,   /* an unaccepted status; code = the status */
	FL_OUT_TIMEOUT,	      /* no answer within the flow's timeout */
	FL_OUT_REFUSED,	      /* ECONNREFUSED (TCP RST to a SYN, ICMP port unreachable) */
	FL_OUT_RESET,	      /* ECONNRESET / EPIPE after connecting */
	FL_OUT_UNREACHABLE,   /* EHOSTUNREACH / ENETUNREACH */
	FL_OUT_DNS_ERROR,     /* the name did not resolve */
	FL_OUT_TLS_ERROR,     /* handshake or certificate */
	FL_OUT_BODY_MISMATCH, /* answered, but body/reply/stdout conditions failed */
	FL_OUT_EXIT_CODE,     /* exec: code = exit status, or 128 + signal */
	FL_OUT_OTHER_ERROR,   /* code = errno when there is one, else 0 */
	FL_OUT_SKIPPED,	      /* every slot (concurrency) was busy: not sent */
	_FL_OUT_MAX,
};

const char *fl_outcome_to_string(enum fl_outcome o);
/* A failure is anything but OK and SKIPPED. */
static inline bool fl_outcome_failed(enum fl_outcome o)
{
	return o != FL_OUT_OK && o != FL_OUT_SKIPPED;
}

/* Room for a failed command's last words (flows.c: last_words), NUL included. */
#define FL_DETAIL_MAX 200

struct fl_probe_result {
	uint32_t flow;	       /* scenario->flows index (invariant runs: scenario->expects index) */
	uint32_t phase_set;    /* results->phases->sets index: the faults active at start */
	uint64_t scheduled_ns; /* when it was due */
	uint64_t start_ns;     /* when it was sent (SKIPPED: when it was refused) */
	uint64_t latency_ns;   /* start to outcome; 0 for SKIPPED */
	uint64_t markers;      /* bit i: results->markers[flow][i] found in what came back */
	int code;	       /* see enum fl_outcome; HTTP: the status whenever one arrived */
	enum fl_outcome outcome;
	/*
	 * Printable ASCII, NUL-terminated, at most FL_DETAIL_MAX - 1 chars.
	 * Handed to fl_results_add_*(): borrowed for the call (NULL: none). In
	 * results: owned by them, one copy per distinct text ("HTTP 200",
	 * "connected"), so a record is 56 bytes whatever its detail.
	 */
	const char *detail;
};

/*
 * Texts searched in every answer of a flow (HTTP body, TCP/UDP reply, exec
 * stdout), taken from the expectations: `fallback` markers and `body:TEXT`
 * error shapes. At most FL_MARKERS_MAX per flow.
 */
#define FL_MARKERS_MAX 64

struct fl_flow_markers {
	const char **text; /* borrowed from the scenario */
	size_t n;
};

struct fl_results {
	const struct fl_scenario *s; /* borrowed */
	uint64_t start_ns;	     /* origin of every relative time in reports */
	uint64_t stop_ns;	     /* when probing stopped */
	struct fl_phase_tracker *phases;
	struct fl_flow_markers *markers; /* per flow */
	struct fl_probe_result *probes;	 /* in order of completion */
	size_t n_probes, cap_probes;
	struct fl_probe_result *invariants; /* runs of invariant expectations */
	size_t n_invariants, cap_invariants;
	void *details; /* tsearch(3) tree: the distinct detail texts the records point to */
	bool stopped_early; /* stop_fd, the hard stop, or the phase fd failed before END */
};

/* Empty results for s starting at start_ns (tests build synthetic ones with these). */
int fl_results_new(const struct fl_scenario *s, uint64_t start_ns, struct fl_results **ret_results);
void fl_results_free(struct fl_results *r);
FL_DEFINE_CLEANUP(struct fl_results, fl_results_free)
/* Copy p (and its detail, shared with equal ones) into r: 0, -EINVAL (bad index), -ENOMEM. */
int fl_results_add_probe(struct fl_results *r, const struct fl_probe_result *p);
int fl_results_add_invariant(struct fl_results *r, const struct fl_probe_result *p);
/* Index of text among flow's markers, or -ENOENT. */
int fl_results_marker(const struct fl_results *r, size_t flow, const char *text);

#define FL_FLOWS_GRACE_DEFAULT_NS	(5 * 1000000000ULL)
#define FL_INVARIANT_TIMEOUT_DEFAULT_NS (30 * 1000000000ULL)
/* A probe due at a step's instant waits at most this long for the step (see fl_flows_run). */
#define FL_FLOWS_STEP_HOLD_NS		(1000000000ULL)

/*
 * Opens a socket for flow `flow` in its namespace, like socket(2) (the
 * engine adds SOCK_NONBLOCK|SOCK_CLOEXEC to type). Returns an fd or -errno.
 */
typedef int (*fl_open_socket_fn)(size_t flow, int domain, int type, int protocol, void *userdata);

struct fl_flows_options {
	uint64_t start_ns; /* first probes and relative times; 0 = now */
	uint64_t stop_ns;  /* hard stop (absolute); 0 = none */
	uint64_t grace_ns; /* probing goes on this long after END; 0 = FL_FLOWS_GRACE_DEFAULT_NS */
	uint64_t invariant_timeout_ns; /* 0 = FL_INVARIANT_TIMEOUT_DEFAULT_NS */
	int phase_fd;		       /* non-blocking read end of the runner's pipe; -1 = none */
	/* A synthetic feed: each event is applied when CLOCK_MONOTONIC reaches its t_ns. */
	const struct fl_phase_event *script;
	size_t n_script;
	/*
	 * netns_fds[i]: namespace fd for flow i, or -1 for the current one;
	 * NULL = all current. A flow with `netns` and no fd is an error (-EBADF):
	 * the engine never opens namespaces by name itself.
	 */
	const int *netns_fds;
	fl_open_socket_fn open_socket; /* replaces setns for flows with a namespace */
	void *open_socket_userdata;
	int stop_fd; /* readable = stop now (e.g. a signalfd); -1 = none */
};

/*
 * Runs every flow from o->start_ns until grace_ns after END, the phase fd
 * hanging up (after END: grace; before: at once), stop_fd, or stop_ns.
 * Without phase_fd and script, a stop_ns is required (-EINVAL). Probe k of
 * a flow is due at start_ns + k * every; of those due before the call only
 * the newest is sent, late by less than one period (a start in the past
 * causes no burst; the probe due at start_ns is sent), those due before the
 * stop are sent however late the loop is. One due at the very instant of a step
 * (start_ns + the step's real time) waits until every step of that instant
 * is applied (at most FL_FLOWS_STEP_HOLD_NS): it belongs to the phase the
 * timeline gives that instant, not to a race with the runner. Invariant
 * expectations (`at: end`, `at: STEP`) are run when their instant arrives.
 * Returns 0 and *ret_results, or -errno if the loop itself failed (a probe
 * that fails is a result, not an error).
 */
int fl_flows_run(const struct fl_scenario *s, const struct fl_flows_options *o,
		 struct fl_results **ret_results);

uint64_t fl_flows_now_ns(void);

#endif
