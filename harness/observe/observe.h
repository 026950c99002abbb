/* SPDX-License-Identifier: MIT */
/*
 * The wire observer (issue #7): libpcap watches the wire while a run
 * injects faults, to show that each fault hit what it should and nothing
 * else. docs/OBSERVER.md has the model, the tolerances and the JSON.
 *
 *   classify   a plan's services' targets -> BPF filter text and a packet
 *              classifier (service index, or "everything else")
 *   analyse    fl_observer_feed(): packet by packet, per service x phase
 *              (the set of active faults, from fl_phase_tracker)
 *   capture    fl_capture_open() inside a namespace (privileged), then
 *              fl_observer_run(): poll with its own deadlines (unprivileged)
 *   report     fl_observer_report(): stats, per-fault verification, blast
 *              radius, retry ratios; fl_wire_report_json()
 *
 * Times: uint64_t nanoseconds. Packet timestamps are CLOCK_REALTIME (as the
 * kernel stamps them); the phase channel's are CLOCK_MONOTONIC. The
 * observer maps every packet to CLOCK_MONOTONIC with one offset, measured
 * when it is created (or set with fl_observer_set_clock()), so every time
 * it reports is CLOCK_MONOTONIC, the judge's clock.
 *
 * The library never prints or exits; functions return 0 or a negative errno.
 */
#ifndef FL_HARNESS_OBSERVE_H
#define FL_HARNESS_OBSERVE_H

#include <pcap/pcap.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "flows/phase.h"
#include "plan/plan.h"
#include "util/macro.h"

/* Classifier answer for traffic of no service: "everything else". */
#define FL_WIRE_OTHER UINT32_MAX

/* Defaults of a live capture. */
#define FL_CAPTURE_SNAPLEN    128		  /* bytes: L2 + IPv6 + TCP with options */
#define FL_CAPTURE_RING_BYTES (32u * 1024 * 1024) /* kernel buffer; the minimum we accept */
#define FL_OBSERVER_GRACE_NS  (1000000000ULL)	  /* after END: late replies, RSTs */

/* ---- classification ----------------------------------------------------------------------- */

enum {
	/*
	 * Only the plan's targets (and every ICMP, whose errors about them come
	 * from anywhere): for hosts too busy to capture everything. The blast
	 * radius then sees only other services' targets, no "everything else".
	 */
	FL_WIRE_FILTER_TARGETS_ONLY = 1u << 0,
};

/*
 * BPF filter text (pcap-filter(7)) for a plan: by default every IPv4/IPv6
 * TCP, UDP and ICMP packet, which is what the stats need (untargeted
 * traffic is the blast radius). Returns 0 and *ret (caller frees), -ENOMEM.
 */
int fl_wire_filter(const struct fl_plan *p, unsigned flags, char **ret);

/*
 * One endpoint of a packet as the classifier sees it: family, address,
 * l4 protocol (0 when not TCP/UDP) and port (0 when none).
 */
struct fl_wire_endpoint {
	int family; /* AF_INET or AF_INET6 */
	uint8_t proto;
	uint16_t port;
	union {
		struct in_addr v4;
		struct in6_addr v6;
	} addr;
};

/*
 * Which service a packet between a and b belongs to, in either direction:
 * the service whose target matches one endpoint. With several matches, the
 * most specific target wins (longest prefix, then narrowest port range,
 * then a named protocol, then the first service). Returns the index into
 * plan->services or FL_WIRE_OTHER; *ret_server (may be NULL; untouched for
 * FL_WIRE_OTHER) is 0 if a is the service's side, 1 if b is (a target
 * matching both: the lower port's side, else b).
 */
uint32_t fl_wire_classify(const struct fl_plan *p, const struct fl_wire_endpoint *a,
			  const struct fl_wire_endpoint *b, int *ret_server);

/* ---- the observer --------------------------------------------------------------------------- */

struct fl_observer;

struct fl_observer_options {
	uint64_t grace_ns; /* after the phase END (or the runner hanging up); 0:
			      FL_OBSERVER_GRACE_NS */
	/*
	 * Caps on memory (0: the defaults below). Past them samples are counted
	 * as dropped, never silently lost.
	 */
	size_t max_flows;    /* 0: 1<<20 flows tracked at once (idle ones are evicted first) */
	size_t max_samples;  /* 0: 1<<20 RTT/gap samples per distribution */
	size_t max_attempts; /* 0: 1<<22 attempt instants per service (retry ratios) */
};

/*
 * Creates an observer for plan p (borrowed, and its scenario: both must
 * outlive it). It owns a fl_phase_tracker of p->scenario, fed by
 * fl_observer_phase_event() or, in fl_observer_run(), from the runner's
 * pipe. Measures the CLOCK_REALTIME -> CLOCK_MONOTONIC offset now.
 * opts may be NULL. Returns 0, -EINVAL, -ENOMEM.
 */
int fl_observer_new(const struct fl_plan *p, const struct fl_observer_options *opts,
		    struct fl_observer **ret);
void fl_observer_free(struct fl_observer *o);
FL_DEFINE_CLEANUP(struct fl_observer, fl_observer_free)

/*
 * Sets the clock pair: a packet stamped realtime_ns happened at
 * monotonic_ns (tests and recorded files; fl_observer_new() measured it).
 */
void fl_observer_set_clock(struct fl_observer *o, uint64_t realtime_ns, uint64_t monotonic_ns);

/* The observer's tracker (read-only for callers). */
const struct fl_phase_tracker *fl_observer_phases(const struct fl_observer *o);

/* Feeds one phase event (CLOCK_MONOTONIC); as fl_phase_tracker_feed(). */
int fl_observer_phase_event(struct fl_observer *o, const struct fl_phase_event *ev);

/*
 * Feeds one captured packet. hdr->ts must have nanosecond precision
 * (tv_usec holds nanoseconds: handles opened with
 * PCAP_TSTAMP_PRECISION_NANO, as fl_capture_open() and
 * fl_observer_feed_file() do). dlt: DLT_EN10MB (802.1Q tags skipped),
 * DLT_LINUX_SLL, DLT_LINUX_SLL2, DLT_RAW, DLT_IPV4, DLT_IPV6. Packets that
 * are not IPv4/IPv6 are counted in o's "ignored" and otherwise skipped.
 * Returns 0 or -ENOMEM (the packet is then only partly counted).
 */
int fl_observer_feed(struct fl_observer *o, const struct pcap_pkthdr *hdr, const u_char *bytes,
		     int dlt);

/*
 * Feeds every packet of a pcap/pcapng file (read with nanosecond
 * timestamps), through filter if not NULL. Returns 0, -ENOENT, -EINVAL
 * (not a capture file, bad filter, unsupported link type), -ENOMEM.
 */
int fl_observer_feed_file(struct fl_observer *o, const char *path, const char *filter);

/* ---- live capture ------------------------------------------------------------------------- */

struct fl_capture;

/*
 * Opens a live capture of device dev ("any" for every device) inside the
 * network namespace netns_fd (-1: the caller's own): setns() there, open and
 * activate, setns() back. Needs CAP_SYS_ADMIN (setns) and CAP_NET_RAW; the
 * handle keeps working after the caller drops them. snaplen 0:
 * FL_CAPTURE_SNAPLEN; ring_bytes below FL_CAPTURE_RING_BYTES is raised to
 * it. Immediate mode, nanosecond timestamps, non-blocking, filter (NULL:
 * everything) compiled and set. On failure returns -errno (-EPERM,
 * -ENODEV, -EINVAL for a bad filter, ...) and, if errbuf is not NULL,
 * libpcap's message in errbuf (PCAP_ERRBUF_SIZE bytes).
 */
int fl_capture_open(const char *dev, int netns_fd, int snaplen, size_t ring_bytes,
		    const char *filter, char *errbuf, struct fl_capture **ret);
/*
 * A capture read from a pcap/pcapng file instead of a device, for
 * fl_observer_run() like a live one (nanosecond timestamps; the file's base
 * name is its device name): tests merge several with known timestamps, and
 * a recorded run can be analysed again. A run whose deadline has passed
 * reads the files to the end at once; their packets are fed in time order
 * while at most 65,536 are held (the merge's cap), i.e. exactly for files
 * of that many packets in all. filter as for fl_capture_open().
 * Returns 0, -ENOENT (or another -errno: cannot read), -EINVAL (not a
 * capture file, bad filter), -ENOMEM; libpcap's message in errbuf.
 */
int fl_capture_open_offline(const char *path, const char *filter, char *errbuf,
			    struct fl_capture **ret);
void fl_capture_close(struct fl_capture *c);
FL_DEFINE_CLEANUP(struct fl_capture, fl_capture_close)

/*
 * Also writes every packet captured (as captured: snaplen bytes) to a pcap
 * file for Wireshark: path, then path.1, path.2, ... each at most
 * file_bytes; after max_files files it stops writing and counts what it
 * did not write (the start of a run, the baseline, is kept). Opens path
 * now (before a privilege drop, if any); later files are created in the
 * same directory, by whoever the process is then. 0 or -errno.
 */
int fl_capture_dump(struct fl_capture *c, const char *path, uint64_t file_bytes,
		    unsigned max_files);

/* The libpcap handle (tests, extra settings before the run). */
pcap_t *fl_capture_pcap(struct fl_capture *c);

enum fl_observer_stop {
	FL_OBS_STOP_NONE,
	FL_OBS_STOP_FD,	      /* stop_fd became readable */
	FL_OBS_STOP_DEADLINE, /* stop_ns passed */
	FL_OBS_STOP_END,      /* phase END (or the runner hung up) + grace */
};

/*
 * Captures until stop_fd is readable (-1: never), CLOCK_MONOTONIC stop_ns
 * passes (FL_NEVER: never), or grace after the phase END (or the phase
 * pipe's writer hanging up), reading phase events from phase_fd (-1: none;
 * then only stop_fd and stop_ns end it; made non-blocking if it is not). Never blocks
 * longer than 100 ms in one wait, and never blocks in libpcap (the handles
 * are non-blocking). At the end reads what is left and records each
 * handle's pcap_stats() drops. Runs unprivileged. Returns 0 and the reason
 * in *ret_stop (may be NULL), or -errno of poll/read, -ENOMEM, -EIO (a
 * capture failed: the device went away).
 */
int fl_observer_run(struct fl_observer *o, struct fl_capture *const *captures, size_t n,
		    int phase_fd, int stop_fd, uint64_t stop_ns, enum fl_observer_stop *ret_stop);

/* ---- results ------------------------------------------------------------------------------- */

/* A distribution of samples (ns). */
struct fl_wire_dist {
	uint64_t n;
	uint64_t min_ns, p50_ns, p90_ns, p99_ns, max_ns, mean_ns; /* 0 when n == 0 */
	uint64_t dropped; /* samples past the cap, not in n */
};

enum fl_wire_dir {
	FL_WIRE_TO_SERVICE = 0,	  /* client -> service (for "other": initiator -> responder) */
	FL_WIRE_FROM_SERVICE = 1, /* and back */
};

struct fl_wire_dir_stats {
	uint64_t packets;
	uint64_t bytes;	       /* IP bytes: the IP header's length, whatever was captured */
	uint64_t segments;     /* TCP segments that occupy sequence space (data, SYN, FIN) */
	uint64_t retrans;      /* ... whose seq and length were seen before in this direction */
	uint64_t out_of_order; /* ... below the highest sequence seen, but not seen before */
	uint64_t rst;
};

/* One service (or everything else) in one phase. */
struct fl_wire_stats {
	struct fl_wire_dir_stats dir[2]; /* enum fl_wire_dir */
	uint64_t syn;			 /* SYNs from the client side, retransmissions included */
	uint64_t syn_retrans;		 /* ... of which retransmitted */
	uint64_t synack;       /* SYN-ACKs from the service side, retransmissions included */
	uint64_t connections;  /* new connection attempts: first SYNs (a new ISN) */
	uint64_t handshakes;   /* connections started in this phase that got a SYN-ACK */
	uint64_t icmp_unreach; /* ICMP(v6) destination unreachable about packets to the service */
	uint64_t udp_requests; /* datagrams client -> service */
	uint64_t udp_answered; /* requests of this phase answered by a datagram back */
	/*
	 * Requests of this phase answered while it lasted (SYN-ACKs completing
	 * a handshake, first responses, UDP answers): a drop's verdict must not
	 * count the answer a SYN sent during the fault gets, resent, after the
	 * heal, nor a reject's the answer already in flight when it began.
	 */
	uint64_t answers;
	struct fl_wire_dist handshake_rtt; /* SYN -> SYN-ACK, only handshakes with one SYN (Karn) */
	struct fl_wire_dist response_gap;  /* TCP: first client data -> first service data after */
	struct fl_wire_dist udp_gap;	   /* UDP: request -> the answer */
};

/* A phase: the faults active from since_ns (a copy of the tracker's set). */
struct fl_wire_phase {
	uint64_t since_ns; /* CLOCK_MONOTONIC; 0 for the first (before anything) */
	uint64_t until_ns; /* the next phase's since_ns, or the last packet's time */
	uint32_t *steps;   /* active fault steps */
	uint32_t n;
};

enum fl_wire_verdict {
	FL_WIRE_VERDICT_OK,
	FL_WIRE_VERDICT_OUTSIDE,     /* an effect, but not the one asked (outside tolerance) */
	FL_WIRE_VERDICT_NO_EFFECT,   /* the targets' traffic did not change */
	FL_WIRE_VERDICT_UNMEASURED,  /* no traffic to judge by (or not applied): neither way */
	FL_WIRE_VERDICT_UNSUPPORTED, /* the observer does not verify this fault kind */
};

const char *fl_wire_verdict_to_string(enum fl_wire_verdict v); /* "ok", "outside tolerance", ... */

/*
 * Asked vs measured for one fault step, over every phase it was active in,
 * against the baseline (phase 0: before the first fault) of its services.
 * Units by metric: "handshake_rtt_delta_ns" / "response_gap_delta_ns" /
 * "udp_gap_delta_ns" (ns), "loss_ppb" (ppb), "rejects" (RST + ICMP
 * unreachable count), "answered" (replies to attempts made during it).
 */
struct fl_wire_fault_check {
	uint32_t step;
	enum fl_fault_kind kind;
	const char *metric; /* static */
	int64_t asked;
	int64_t measured;
	int64_t baseline; /* the metric in the baseline, where meaningful */
	int64_t tolerance;
	uint64_t samples; /* the samples or packets the measurement rests on */
	enum fl_wire_verdict verdict;
	char evidence[240];
};

/* Untargeted traffic during one fault phase vs the same traffic in the baseline. */
struct fl_wire_blast {
	uint32_t phase;
	uint64_t packets;
	uint64_t segments, retrans; /* both directions */
	uint64_t baseline_segments, baseline_retrans;
	uint64_t rejects, baseline_rejects; /* RST from the far side + ICMP unreachable */
	bool has_rtt;
	int64_t rtt_delta_ns; /* p50 handshake RTT minus the baseline's */
	bool touched;	      /* evidence that a fault reached untargeted traffic */
	char why[160];
};

struct fl_wire_capture_stats {
	char dev[64];
	uint64_t received, dropped, if_dropped; /* pcap_stats(): ps_recv, ps_drop, ps_ifdrop */
	uint64_t dump_packets, dump_dropped;	/* written to --pcap files, and not (cap) */
};

/* One client address's attempts towards one service (retry storms per client). */
struct fl_wire_client_attempts {
	uint32_t service;
	struct fl_wire_endpoint client; /* family and address; proto and port 0 */
	uint64_t *t;			/* sorted CLOCK_MONOTONIC instants */
	size_t n;
};

struct fl_wire_report {
	const struct fl_plan *plan; /* borrowed */
	size_t n_services;	    /* plan->scenario->n_services; index n_services: "other" */
	struct fl_wire_phase *phases;
	size_t n_phases;
	struct fl_wire_stats *stats; /* [phase * (n_services + 1) + service] */
	struct fl_wire_fault_check *checks;
	size_t n_checks;
	struct fl_wire_blast *blast;
	size_t n_blast;
	struct fl_wire_capture_stats *captures;
	size_t n_captures;
	uint64_t **attempts; /* per service (and other): sorted CLOCK_MONOTONIC instants */
	size_t *n_attempts;
	uint64_t attempts_dropped;
	struct fl_wire_client_attempts *clients; /* per (service, client address) */
	size_t n_clients;
	uint64_t clients_untracked; /* attempts of pairs past the cap (in the service's only) */
	uint64_t copies; /* sightings of a flow's packet on a second device (not counted again) */
	uint64_t packets, ignored;  /* fed; not IP or not decodable */
	uint64_t flows_untracked;   /* packets counted without per-flow state (table full) */
	size_t n_steps;		    /* scenario steps */
	uint64_t *applied_ns;	    /* per step: when the runner applied it, or FL_NEVER */
	uint64_t *healed_ns;	    /* per fault step: when healed, or FL_NEVER */
	uint64_t start_ns, end_ns;  /* the phases START / END, or FL_NEVER */
	uint64_t first_ns, last_ns; /* first and last packet (CLOCK_MONOTONIC), or FL_NEVER */
	int64_t clock_offset_ns;    /* realtime - monotonic used for packets */
	enum fl_observer_stop stop;
};

/* Builds the report from what the observer saw. 0, -ENOMEM. */
int fl_observer_report(const struct fl_observer *o, struct fl_wire_report **ret);
void fl_wire_report_free(struct fl_wire_report *r);
FL_DEFINE_CLEANUP(struct fl_wire_report, fl_wire_report_free)

/* Stats of service (n_services: everything else) in phase. */
const struct fl_wire_stats *fl_wire_report_stats(const struct fl_wire_report *r, size_t phase,
						 size_t service);

/*
 * Retry storm: the rate of new attempts towards service (first SYNs and
 * UDP requests from the client side) during [window_start_ns,
 * window_end_ns) divided by its rate during [baseline_start_ns,
 * baseline_end_ns), all CLOCK_MONOTONIC, in thousandths (3000: three times
 * the baseline), for no_retry_storm { max_ratio } (retry_storm_max_ratio_milli).
 * client (may be NULL: every client) counts only the attempts from that
 * address (family and addr; the rest ignored): of two shops calling one
 * provider, the one that storms. Returns 0 and *ret_ratio_milli; -EINVAL
 * for an empty window or a bad service; -ENODATA when the baseline saw no
 * attempt (from that client) to compare with.
 */
int fl_wire_retry_ratio(const struct fl_wire_report *r, size_t service,
			const struct fl_wire_endpoint *client, uint64_t window_start_ns,
			uint64_t window_end_ns, uint64_t baseline_start_ns,
			uint64_t baseline_end_ns, uint64_t *ret_ratio_milli);

/*
 * The baseline every ratio compares with: from START (else the first
 * packet) to the first fault applied, CLOCK_MONOTONIC. -ENODATA if there is
 * none (no fault applied, or nothing before it).
 */
int fl_wire_baseline(const struct fl_wire_report *r, uint64_t *ret_from, uint64_t *ret_to);

/*
 * The same for a fault step: the window is while it was active (applied ->
 * healed), the baseline from START (else the first packet) to the first
 * fault; the highest ratio over the step's services (*ret_service, may be
 * NULL), from client as above. -ENOENT if the step never became active, -ENODATA as above.
 */
int fl_wire_retry_ratio_fault(const struct fl_wire_report *r, uint32_t step,
			      const struct fl_wire_endpoint *client, uint64_t *ret_ratio_milli,
			      size_t *ret_service);

/* The report as one JSON object (docs/OBSERVER.md); caller frees; NULL on ENOMEM. */
char *fl_wire_report_json(const struct fl_wire_report *r);

#endif
