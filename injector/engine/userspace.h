/* SPDX-License-Identifier: MIT */
/*
 * The userspace fault engine: packets steered into an NFQUEUE queue are held
 * for delay ± jitter (netem's distributions and correlation), dropped,
 * duplicated, corrupted, reordered and rate-limited as netem would, then given
 * back to the kernel. It is the engine for kernels without sch_netem.
 *
 * It does not install the steering rule: the caller does, with the queue's
 * bypass flag, in the hook of the namespace that RECEIVES the traffic to
 * hold (PREROUTING keyed on the service's source address for replies, or
 * FORWARD on a router), never in the sender's OUTPUT hook, where a held
 * packet still counts against the sending socket and TCP stalls.
 *
 * Two layers:
 *   - struct fl_uq_model: the pure, seeded decision for one packet (no
 *     kernel, no clock of its own). The same seed and the same packet
 *     sequence give the same fates; tests replay it to predict the engine.
 *   - struct fl_uq: a queue bound in the current network namespace, its
 *     loop, and a helper that runs it in a forked child (as a run does).
 *
 * Library: libnetfilter_queue's libmnl-based API (nfq_nlmsg_*) on a libmnl
 * socket. libnl-nf's queue API has no setters for NFQA_CFG_FLAGS (fail-open,
 * GSO), acks every verdict unless auto-ack is disabled, and allocates an
 * object per packet; the nfq_nlmsg_* helpers build and parse messages in
 * caller-owned buffers, so a whole batch of verdicts is one send().
 */
#ifndef FL_ENGINE_USERSPACE_H
#define FL_ENGINE_USERSPACE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "engine/dist.h"
#include "scenario/model.h"
#include "util/macro.h"

/*
 * skb mark of the duplicates the engine sends itself (through a raw socket,
 * see userspace.c). A queued packet carrying it is accepted at once, so a
 * duplicate is held and faulted exactly once. A caller may also skip it in
 * the steering rule (`meta mark != 0x0fa17d00`) to save the round trip.
 */
#define FL_UQ_DUP_MARK 0x0fa17d00u

/* Bytes added to each IP packet's length when pacing a rate: Ethernet's header, as netem sees it.
 */
#define FL_UQ_L2_OVERHEAD_BYTES 14u

/* ---- the decision model -------------------------------------------------- */

/* netem's correlated random state: next = (1 - c) * rand + c * last. */
struct fl_uq_crnd {
	uint32_t last;
	uint32_t rho; /* c scaled to 2^32 */
};

struct fl_uq_model {
	uint64_t rng[4]; /* xoshiro256**, seeded through splitmix64 */
	uint64_t delay_ns, jitter_ns, rate_bps;
	uint64_t loss_thr, dup_thr, corrupt_thr, reorder_thr; /* probability * 2^32 */
	uint32_t gap, counter;
	uint64_t last_depart_ns; /* rate: when the last paced packet leaves */
	struct fl_uq_crnd delay_cor, loss_cor, dup_cor, reorder_cor, corrupt_cor;
	bool has_table;
	int16_t table[FL_DIST_SIZE]; /* netem format: deviation in jitter / FL_DIST_SCALE */
};

/* What happens to one copy of a packet. */
struct fl_uq_fate {
	bool drop;
	bool corrupt;	/* flip the bit picked by corrupt_rnd (see fl_uq_corrupt) */
	bool reordered; /* sent at once, ahead of the held ones */
	uint32_t corrupt_rnd;
	uint64_t due_ns; /* when to give it back (>= now_ns) */
};

struct fl_uq_decision {
	struct fl_uq_fate pkt;
	bool dup; /* a second copy exists; its own fate: */
	struct fl_uq_fate copy;
};

/*
 * Prepares m for params p and a seed. The same (p, seed) always gives the
 * same sequence of decisions. -EINVAL if p cannot be honoured (a
 * distribution whose table cannot be built, a probability above 100 %).
 */
int fl_uq_model_init(struct fl_uq_model *m, const struct fl_fault_params *p, uint64_t seed);

/*
 * Decides the fate of the next packet, received at now_ns (CLOCK_MONOTONIC),
 * wire_len_bytes long (IP length; the rate adds FL_UQ_L2_OVERHEAD_BYTES).
 * In netem's order: duplicate, loss, corrupt, then delay or reorder; the
 * duplicate then goes through loss, corrupt and delay itself.
 */
void fl_uq_model_decide(struct fl_uq_model *m, uint64_t now_ns, uint32_t wire_len_bytes,
			struct fl_uq_decision *ret);

/* Flips the bit of buf[0..len) that corrupt_rnd picks (uniformly). No checksum is fixed, like
 * netem. */
void fl_uq_corrupt(uint8_t *buf, uint32_t len, uint32_t corrupt_rnd);

/* ---- the engine ---------------------------------------------------------- */

enum fl_uq_verdict_mode {
	FL_UQ_VERDICT_BATCH,	   /* NFQNL_MSG_VERDICT_BATCH where ids allow; the default */
	FL_UQ_VERDICT_SINGLE,	   /* one verdict message per packet, many per send() */
	FL_UQ_VERDICT_SINGLE_SEND, /* one message and one send() per packet (for the bench) */
};

struct fl_uq_opts {
	uint16_t queue_num;
	struct fl_fault_params params;
	uint64_t seed;	       /* the caller draws one when the scenario gave none */
	uint32_t queue_maxlen; /* packets the kernel holds for us; 0: 65536. Beyond it: bypass */
	uint32_t rcvbuf_bytes; /* netlink receive buffer; 0: 16 MiB. Overflow: bypass */
	enum fl_uq_verdict_mode verdict_mode;
	/*
	 * fl_uq_spawn only: run the child SCHED_FIFO at this priority (0: the
	 * normal scheduler). On a busy host a timer wakeup of a normal task
	 * can be hundreds of microseconds late; a real-time one is not. The
	 * kernel's RT throttling still leaves the host 5 % of each CPU.
	 */
	int sched_fifo_priority;
};

struct fl_uq_stats {
	uint64_t received;   /* packets the kernel gave us */
	uint64_t accepted;   /* given back (NF_ACCEPT), including corrupted ones */
	uint64_t dropped;    /* loss (NF_DROP) */
	uint64_t duplicated; /* copies sent through the raw socket */
	uint64_t corrupted;
	uint64_t reordered;
	uint64_t dup_seen;	/* our own duplicates coming back through the queue */
	uint64_t verdict_msgs;	/* NFQNL_MSG_VERDICT sent */
	uint64_t batch_msgs;	/* NFQNL_MSG_VERDICT_BATCH sent */
	uint64_t sends;		/* send() calls carrying verdicts */
	uint64_t kernel_errors; /* error messages back from the kernel (e.g. unknown id) */
	uint64_t late_ns_max;	/* worst lateness of a release past its due time */
	uint64_t held_max;	/* most packets held at once */
};

struct fl_uq;

/*
 * Binds queue o->queue_num in the calling thread's network namespace and
 * configures it: copy range (64 bytes of headers, or whole packets when corrupt or
 * duplicate needs them), queue length, and the flags FAIL_OPEN (queue full
 * or socket overrun: the packet passes rather than drops) and GSO (no
 * segmentation or checksum work for us in the kernel). From this call on the
 * kernel queues packets for us: call fl_uq_run() soon.
 * Returns 0, -EBUSY (another process has the queue), -EPERM (no
 * CAP_NET_ADMIN), -EOPNOTSUPP (no nfnetlink_queue), -EINVAL (bad params),
 * -ENOMEM, or another -errno. *ret is written only on success.
 */
int fl_uq_new(const struct fl_uq_opts *o, struct fl_uq **ret);

/*
 * Runs the loop until fl_uq_stop() is called, or stop_fd (-1: none) becomes
 * readable or hangs up. Returns 0 when told to stop, or -errno if the socket
 * failed (held packets stay held until fl_uq_free()).
 */
int fl_uq_run(struct fl_uq *uq, int stop_fd);

/* Makes fl_uq_run() return soon. Async-signal-safe; any thread. */
void fl_uq_stop(struct fl_uq *uq);

void fl_uq_get_stats(const struct fl_uq *uq, struct fl_uq_stats *ret);

/*
 * Gives every held packet back (NF_ACCEPT: faults vanish, nothing is lost),
 * closes the queue and frees uq. Accepts NULL. Should the process die
 * instead, the kernel drops what was held and, the queue being unbound,
 * the rule's bypass lets new packets through.
 */
void fl_uq_free(struct fl_uq *uq);
FL_DEFINE_CLEANUP(struct fl_uq, fl_uq_free);

/*
 * Runs the engine in a forked child: it enters netns_fd first (-1: stay in
 * the caller's namespace), binds the queue, and reports back; this returns
 * once the queue is bound (so the caller may install its rule) or with the
 * child's error (fl_uq_new's codes, or sched_setscheduler's; -ECHILD if it
 * died, -ETIMEDOUT if it did not answer in 5 s). The child stops on SIGTERM (and on its parent's
 * death, through PR_SET_PDEATHSIG), ignores SIGINT and SIGHUP (the parent decides), gives held
 * packets back and exits 0. *ret_pid written on success.
 */
int fl_uq_spawn(const struct fl_uq_opts *o, int netns_fd, pid_t *ret_pid);

/*
 * Stops a child from fl_uq_spawn(): SIGTERM, up to timeout_ns for it to
 * exit, then SIGKILL; always reaps it. Returns 0 if it exited cleanly,
 * -ETIMEDOUT if it had to be killed, -EIO if it had failed, -ECHILD if pid is
 * not our child.
 */
int fl_uq_kill(pid_t pid, uint64_t timeout_ns);

#endif
