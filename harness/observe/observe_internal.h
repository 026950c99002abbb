/* SPDX-License-Identifier: MIT */
/* Shared by the observer's files; not part of its interface. */
#ifndef FL_HARNESS_OBSERVE_INTERNAL_H
#define FL_HARNESS_OBSERVE_INTERNAL_H

#include "observe/observe.h"

#define OBS_MAX_FLOWS	 (1u << 20)
#define OBS_MAX_SAMPLES	 (1u << 20)
#define OBS_MAX_ATTEMPTS (1u << 22)
/* (service, client address) pairs whose attempts are kept apart (retry storms per client). */
#define OBS_MAX_CLIENTS (1u << 16)
/* Segments remembered per flow direction to recognise a retransmission exactly. */
#define OBS_SEG_RING 16
/* Requests waiting for an answer per UDP flow (older ones count as unanswered). */
#define OBS_UDP_PENDING 8
/*
 * A UDP request waits for its answer at most 4 times the flow's last answer
 * time (at least 10 ms), or 1 s before the flow's first answer: past that it
 * is lost, so a later answer pairs with a later request (a client that gave
 * up and asked again), not with it.
 */
#define OBS_UDP_WAIT_FACTOR   4
#define OBS_UDP_WAIT_MIN_NS   (10ULL * 1000000ULL)
#define OBS_UDP_WAIT_FIRST_NS (1000ULL * 1000000ULL)
/* A flow idle this long (packet time) may be forgotten when the table is full. */
#define OBS_IDLE_NS (30ULL * 1000000000ULL)

struct obs_vec {
	uint64_t *v;
	size_t n, cap;
	uint64_t dropped; /* past the cap */
};

/* Counters plus the raw samples behind the distributions (filled at report time). */
struct obs_stats {
	struct fl_wire_stats s;
	struct obs_vec rtt, gap, udp_gap;
};

struct obs_seg {
	uint32_t seq, len; /* len counts SYN and FIN as one each, as sequence space does */
};

struct obs_flow_dir {
	struct obs_seg ring[OBS_SEG_RING];
	uint8_t n, head; /* head: the next slot to write; the oldest once full */
	bool have_max;
	uint32_t max_end; /* highest seq + len seen */
};

/*
 * No device in the key: a router forwards a packet through two devices, and
 * both sightings are one flow (struct obs_flow's owner keeps one of them).
 */
struct obs_flow_key {
	uint8_t family, proto;
	uint16_t port[2];
	uint8_t addr[2][16]; /* canonical order: (addr, port)[0] < (addr, port)[1] */
};

struct obs_flow {
	struct obs_flow *next;
	struct obs_flow_key key;
	uint32_t svc;	 /* index into the stats row: n_services for "everything else" */
	uint8_t server;	 /* 0 or 1: which key side is the service (responder) */
	uint32_t client; /* index into fl_observer's clients, or UINT32_MAX */
	uint64_t last_ns;
	/*
	 * The one device (capture index << 24 | ifindex) whose sightings count:
	 * where a packet to the service is seen first, the client's side. There
	 * a router's capture sees the request before any fault and the answer
	 * after every fault, as the client does. fixed: a packet to the service
	 * has been seen there (until then a later one may move it).
	 */
	uint32_t owner;
	bool owner_fixed;

	/* TCP: one incarnation (a new ISN from the client starts another) */
	bool syn_seen, synack_seen;
	uint32_t syn_seq;
	uint32_t n_syn;
	uint64_t syn_ns;
	bool req_seen, resp_seen;
	uint64_t req_ns;
	struct obs_flow_dir dir[2]; /* enum fl_wire_dir */

	/* UDP: requests waiting for an answer, oldest first */
	uint64_t pending[OBS_UDP_PENDING];
	uint8_t n_pending;
	uint64_t udp_gap_ns; /* the last answer's time, 0 before the first */
};

/* Attempts of one client address towards one service. */
struct obs_client {
	uint32_t row;
	uint8_t family;
	uint8_t addr[16];
	struct obs_vec t;
};

struct fl_observer {
	const struct fl_plan *plan;
	size_t n_rows; /* services + 1 ("everything else" last) */
	struct fl_phase_tracker *tracker;
	struct fl_observer_options opts;
	int64_t offset_ns; /* CLOCK_REALTIME - CLOCK_MONOTONIC */

	struct obs_stats *stats; /* [phase * n_rows + row] */
	size_t n_stat_phases;

	struct obs_flow **buckets;
	size_t n_buckets, n_flows;
	uint64_t flows_untracked; /* packets of flows the full table could not hold */

	struct obs_vec *attempts; /* per row */
	struct obs_client *clients;
	size_t n_clients, cap_clients;
	uint32_t *client_slots; /* open addressing: clients index + 1, 0 empty */
	size_t n_client_slots;
	uint64_t clients_untracked; /* attempts of pairs past OBS_MAX_CLIENTS */
	uint64_t copies;	    /* sightings of a packet on a device not its flow's owner */

	uint64_t packets, ignored;
	uint64_t first_ns, last_ns;
	uint32_t link; /* set by the run loop per capture */

	/*
	 * During fl_observer_run(): the phase pipe, read again before any
	 * packet newer than the last read, so no packet is counted in a phase
	 * that an event already waiting in the pipe has ended.
	 */
	int phase_fd;
	uint64_t phase_read_ns; /* CLOCK_MONOTONIC of the last read */
	uint64_t hangup_ns;	/* when the writer hung up, or FL_NEVER */
	int phase_err;		/* a read's -errno, for the run loop */

	struct fl_wire_capture_stats *captures;
	size_t n_captures;
	enum fl_observer_stop stop;
};

/* fl_observer_feed() for packets of capture `link`. */
int obs_feed_link(struct fl_observer *o, uint32_t link, const struct pcap_pkthdr *hdr,
		  const u_char *bytes, int dlt);

/* Reads the phase pipe now (during a run); 0 or -errno. */
int obs_read_phases(struct fl_observer *o);

int obs_vec_push(struct obs_vec *v, uint64_t x, size_t cap);
/* Sorted copy of the samples; n may be 0 (then NULL). */
int obs_vec_sorted(const struct obs_vec *const *vs, size_t n_vs, uint64_t **ret, size_t *ret_n);
void obs_dist(const uint64_t *sorted, size_t n, uint64_t dropped, struct fl_wire_dist *d);

#endif
