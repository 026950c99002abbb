/* SPDX-License-Identifier: MIT */
/*
 * The userspace fault engine (see userspace.h for the contract).
 *
 * Library: libnetfilter_queue's libmnl-based helpers (nfq_nlmsg_put,
 * nfq_nlmsg_cfg_put_*, nfq_nlmsg_verdict_put*, nfq_nlmsg_parse) over a libmnl
 * socket, plus its pktbuff checksum helpers for duplicates. Not libnl-nf: its
 * queue object has no setter for NFQA_CFG_FLAGS (we must set FAIL_OPEN and
 * GSO), it waits for an ACK per verdict unless auto-ack is turned off, and
 * it allocates objects per packet. Here verdicts are built into one buffer
 * with libmnl's batch helper and leave in a single send().
 *
 * Shape of the loop: recvmmsg() takes up to RECV_BATCH queue messages per
 * system call; each packet gets its fate from the model at once (drops and
 * zero-delay packets are released right away); held packets wait in a binary
 * min-heap keyed on their due time (CLOCK_MONOTONIC); one timerfd, armed at
 * an absolute time (hrtimer, no poll slack), wakes the loop for the earliest.
 *
 * Verdicts: NFQNL_MSG_VERDICT_BATCH accepts every queued packet with an id up
 * to N, so it is used only for the part of a release that is a contiguous
 * prefix of the packets still held (ids are given in arrival order; a ring
 * indexed by arrival order tracks which are still held). Drops and mangled
 * (corrupted) packets, and packets released out of order (jitter, reorder),
 * get individual NFQNL_MSG_VERDICT messages, placed before the batch verdict
 * in the same buffer so it never covers them.
 *
 * Duplicates: NF_REPEAT cannot make a copy (it re-runs the same hook with the
 * same skb, once), and a verdict answers one packet id once. So the original
 * is accepted and the copy is sent through a raw IP socket (IP_HDRINCL) with
 * skb mark FL_UQ_DUP_MARK: for a packet to this host it loops back through
 * lo into PREROUTING, where the caller's rule queues it again and we accept
 * it at once; on a router it leaves by the output path. The copy's L4
 * checksum is completed first when the kernel handed it over unfinished
 * (NFQA_SKB_CSUMNOTREADY, which the GSO flag allows).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip6.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <libmnl/libmnl.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <libnetfilter_queue/libnetfilter_queue_ipv4.h>
#include <libnetfilter_queue/libnetfilter_queue_ipv6.h>
#include <libnetfilter_queue/libnetfilter_queue_tcp.h>
#include <libnetfilter_queue/libnetfilter_queue_udp.h>
#include <libnetfilter_queue/pktbuff.h>
#include "engine/userspace.h"
#include "util/caps.h"
#include "util/child.h"
#include "util/heap.h"

#define NSEC_PER_SEC 1000000000ull
#define PPB_ONE	     1000000000u

#define RECV_BATCH	       64   /* messages per recvmmsg() */
#define RECV_ROUNDS	       8    /* recvmmsg() calls before due packets get a turn */
#define META_SLOT_BYTES	       2048 /* one queue message with at most HEAD_COPY_RANGE of payload */
#define FULL_COPY_RANGE	       0xffff	     /* NFQA_PAYLOAD is limited by nla_len (u16) */
#define HEAD_COPY_RANGE	       64	     /* enough for the IP and L4 headers */
#define SEND_LIMIT_BYTES       (128u * 1024) /* verdict buffer: flush past this ... */
#define SEND_BUF_BYTES	       (2 * SEND_LIMIT_BYTES + 2 * FULL_COPY_RANGE) /* ... so one more fits */
#define DEFAULT_QUEUE_MAXLEN   65536u
#define DEFAULT_RCVBUF_BYTES   (16u * 1024 * 1024)
#define SPAWN_READY_TIMEOUT_MS 5000
#define CFG_BUF_BYTES	       8192 /* configuration messages and their acks */

/* ---- PRNG: xoshiro256** (Blackman & Vigna), seeded with splitmix64 -------- */

static uint64_t rotl64(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t xoshiro_next(uint64_t s[4])
{
	uint64_t r = rotl64(s[1] * 5, 7) * 9, t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl64(s[3], 45);
	return r;
}

static uint32_t rnd32(struct fl_uq_model *m)
{
	return (uint32_t)(xoshiro_next(m->rng) >> 32);
}

/* netem's get_crandom(): with rho = c * 2^32, answer = (value * (1 - c) + last * c). */
static uint32_t crandom(struct fl_uq_model *m, struct fl_uq_crnd *c)
{
	uint64_t value = rnd32(m), rho;
	uint32_t answer;

	if (c->rho == 0)
		return (uint32_t)value;
	rho = (uint64_t)c->rho + 1;
	answer = (uint32_t)((value * ((1ull << 32) - rho) + (uint64_t)c->last * rho) >> 32);
	c->last = answer;
	return answer;
}

/* ppb -> threshold on a 32-bit random: P(rnd < thr) = ppb / 1e9 exactly, 1e9 -> always. */
static uint64_t prob_thr(uint32_t ppb)
{
	return ((uint64_t)ppb << 32) / PPB_ONE;
}

static bool chance(struct fl_uq_model *m, uint64_t thr, struct fl_uq_crnd *c)
{
	return thr && crandom(m, c) < thr;
}

int fl_uq_model_init(struct fl_uq_model *m, const struct fl_fault_params *p, uint64_t seed)
{
	uint32_t rho;

	if (p->loss_ppb > PPB_ONE || p->duplicate_ppb > PPB_ONE || p->corrupt_ppb > PPB_ONE ||
	    p->reorder_ppb > PPB_ONE || p->correlation_ppb > PPB_ONE ||
	    p->jitter_ns > (uint64_t)INT64_MAX / 4 || p->delay_ns > (uint64_t)INT64_MAX / 4)
		return -EINVAL;
	memset(m, 0, sizeof(*m));
	for (int i = 0; i < 4; i++)
		m->rng[i] = splitmix64(&seed);
	m->delay_ns = p->delay_ns;
	m->jitter_ns = p->jitter_ns;
	m->rate_bps = p->rate_bps;
	m->loss_thr = prob_thr(p->loss_ppb);
	m->dup_thr = prob_thr(p->duplicate_ppb);
	m->corrupt_thr = prob_thr(p->corrupt_ppb);
	m->reorder_thr = prob_thr(p->reorder_ppb);
	/* As tc does for netem: a reorder without a gap means gap 1 (any packet may go early). */
	m->gap = p->gap ? p->gap : (p->reorder_ppb ? 1 : 0);
	rho = (uint32_t)(prob_thr(p->correlation_ppb) > UINT32_MAX ? UINT32_MAX
								   : prob_thr(p->correlation_ppb));
	m->delay_cor.rho = m->loss_cor.rho = m->dup_cor.rho = m->reorder_cor.rho =
		m->corrupt_cor.rho = rho;
	if (p->distribution != FL_DIST_NONE && p->distribution != FL_DIST_UNIFORM) {
		if (fl_dist_table(p->distribution, m->table) < 0)
			return -EINVAL;
		m->has_table = true;
	}
	return 0;
}

/*
 * netem's tabledist(): mu + sigma * table[rnd] / FL_DIST_SCALE, split so the
 * product cannot overflow; uniform in [mu - sigma, mu + sigma) without a
 * table. Unlike netem (rnd % size), the index is taken from rnd's top bits,
 * where a correlated rnd keeps its correlation; either way it is uniform.
 */
static int64_t tabledist(struct fl_uq_model *m, int64_t mu, int64_t sigma)
{
	uint32_t rnd;
	int64_t t, x;

	if (sigma == 0)
		return mu;
	rnd = crandom(m, &m->delay_cor);
	if (!m->has_table)
		return mu - sigma +
		       (int64_t)(((unsigned __int128)rnd * (uint64_t)(2 * sigma)) >> 32);
	t = m->table[((uint64_t)rnd * FL_DIST_SIZE) >> 32];
	x = (sigma % FL_DIST_SCALE) * t;
	x += x >= 0 ? FL_DIST_SCALE / 2 : -FL_DIST_SCALE / 2;
	return x / FL_DIST_SCALE + (sigma / FL_DIST_SCALE) * t + mu;
}

static uint64_t tx_time_ns(const struct fl_uq_model *m, uint32_t wire_len_bytes)
{
	uint64_t bits = ((uint64_t)wire_len_bytes + FL_UQ_L2_OVERHEAD_BYTES) * 8;

	return (uint64_t)(((unsigned __int128)bits * NSEC_PER_SEC + m->rate_bps - 1) / m->rate_bps);
}

/* One pass of netem_enqueue() for one copy; returns whether a duplicate was drawn. */
static bool decide_one(struct fl_uq_model *m, uint64_t now_ns, uint32_t len, bool allow_dup,
		       struct fl_uq_fate *f)
{
	int count = 1;
	bool dup;

	memset(f, 0, sizeof(*f));
	if (allow_dup && chance(m, m->dup_thr, &m->dup_cor))
		count++;
	if (chance(m, m->loss_thr, &m->loss_cor))
		count--;
	if (count == 0) {
		f->drop = true;
		f->due_ns = now_ns;
		return false;
	}
	dup = count > 1;
	if (chance(m, m->corrupt_thr, &m->corrupt_cor)) {
		f->corrupt = true;
		f->corrupt_rnd = rnd32(m);
	}
	if (m->gap == 0 || m->counter < m->gap - 1 || !chance(m, m->reorder_thr, &m->reorder_cor)) {
		int64_t delay = tabledist(m, (int64_t)m->delay_ns, (int64_t)m->jitter_ns);
		uint64_t t0 = now_ns;

		if (delay < 0)
			delay = 0;
		if (m->rate_bps) {
			/* netem: the last queued packet is the reference; leave after it. */
			if (m->last_depart_ns > now_ns) {
				uint64_t ahead = m->last_depart_ns - now_ns;
				delay = (uint64_t)delay > ahead ? delay - (int64_t)ahead : 0;
				t0 = m->last_depart_ns;
			}
			delay += (int64_t)tx_time_ns(m, len);
		}
		f->due_ns = t0 + (uint64_t)delay;
		if (m->rate_bps)
			m->last_depart_ns = f->due_ns;
		m->counter++;
	} else {
		f->reordered = true;
		f->due_ns = now_ns;
		m->counter = 0;
	}
	return dup;
}

void fl_uq_model_decide(struct fl_uq_model *m, uint64_t now_ns, uint32_t wire_len_bytes,
			struct fl_uq_decision *ret)
{
	ret->dup = decide_one(m, now_ns, wire_len_bytes, true, &ret->pkt);
	if (ret->dup)
		decide_one(m, now_ns, wire_len_bytes, false, &ret->copy);
	else
		memset(&ret->copy, 0, sizeof(ret->copy));
}

void fl_uq_corrupt(uint8_t *buf, uint32_t len, uint32_t corrupt_rnd)
{
	uint64_t bit;

	if (len == 0)
		return;
	bit = ((uint64_t)corrupt_rnd * ((uint64_t)len * 8)) >> 32;
	buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
}

/* ---- the engine ---------------------------------------------------------- */

enum held_kind {
	HELD_VERDICT, /* a queued packet: NF_ACCEPT at due time (with data: mangled) */
	HELD_COPY,    /* a duplicate to send through the raw socket at due time */
};

struct held {
	uint64_t due_ns;
	uint64_t order; /* tie-break: first in, first out among equal due times */
	uint64_t seq;	/* HELD_VERDICT: arrival index in the ring */
	uint32_t id;
	uint32_t len;
	uint8_t *data; /* owned: mangled payload or the copy; NULL for plain */
	enum held_kind kind;
};

/* A packet given back in this round. */
struct release {
	uint64_t seq;
	uint32_t id;
	uint32_t verdict;
	uint32_t len;
	uint8_t *data; /* owned: payload to hand back instead of the original */
};

/* Per arrival, in arrival (= id) order: is it still queued in the kernel? */
struct slot {
	uint32_t id;
	bool done;
};

struct fl_uq {
	struct fl_uq_opts o;
	struct fl_uq_model model;
	struct mnl_socket *nl;
	int nl_fd, timer_fd, stop_fd, raw4_fd, raw6_fd;
	uint32_t portid;
	bool want_payload;

	/* receive */
	size_t slot_bytes;
	uint8_t *rx;
	struct mmsghdr *mmsg;
	struct iovec *iov;

	/* held packets: a min-heap of struct held on (due_ns, order) */
	struct fl_heap heap;
	uint64_t next_order;
	uint64_t armed_ns; /* 0: timer disarmed */

	/* arrivals still queued in the kernel: ring[seq & mask], head..tail */
	struct slot *ring;
	uint64_t ring_mask, head, tail;
	bool any_id;
	uint32_t max_id; /* newest id received */

	/* this round's releases and the verdict buffer */
	struct release *rel;
	size_t n_rel, cap_rel;
	char *txbuf;

	struct fl_uq_stats st;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

static bool held_before(const struct held *a, const struct held *b)
{
	return a->due_ns < b->due_ns || (a->due_ns == b->due_ns && a->order < b->order);
}

static bool held_before_v(const void *a, const void *b)
{
	return held_before(a, b);
}

static int heap_push(struct fl_uq *uq, const struct held *h)
{
	int r = fl_heap_push(&uq->heap, h);

	if (r == 0 && uq->heap.n > uq->st.held_max)
		uq->st.held_max = uq->heap.n;
	return r;
}

static const struct held *heap_top(const struct fl_uq *uq)
{
	return fl_heap_top(&uq->heap);
}

static int ring_push(struct fl_uq *uq, uint32_t id, uint64_t *ret_seq)
{
	if (uq->tail - uq->head > uq->ring_mask) {
		uint64_t size = (uq->ring_mask + 1) * 2;
		struct slot *n = calloc(size, sizeof(*n));
		if (!n)
			return -ENOMEM;
		for (uint64_t s = uq->head; s < uq->tail; s++)
			n[s & (size - 1)] = uq->ring[s & uq->ring_mask];
		free(uq->ring);
		uq->ring = n;
		uq->ring_mask = size - 1;
	}
	uq->ring[uq->tail & uq->ring_mask] = (struct slot){.id = id};
	*ret_seq = uq->tail++;
	uq->max_id = id;
	uq->any_id = true;
	return 0;
}

static int release_add(struct fl_uq *uq, uint64_t seq, uint32_t id, uint32_t verdict, uint8_t *data,
		       uint32_t len)
{
	if (uq->n_rel == uq->cap_rel) {
		size_t cap = uq->cap_rel ? uq->cap_rel * 2 : 256;
		struct release *n = reallocarray(uq->rel, cap, sizeof(*n));
		if (!n)
			return -ENOMEM;
		uq->rel = n;
		uq->cap_rel = cap;
	}
	uq->rel[uq->n_rel++] = (struct release){
		.seq = seq, .id = id, .verdict = verdict, .data = data, .len = len};
	if (verdict == NF_DROP)
		uq->st.dropped++;
	else
		uq->st.accepted++;
	return 0;
}

static int tx_send(struct fl_uq *uq, struct mnl_nlmsg_batch *b)
{
	size_t len = mnl_nlmsg_batch_size(b);

	if (len > 0) {
		uq->st.sends++;
		while (mnl_socket_sendto(uq->nl, mnl_nlmsg_batch_head(b), len) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
	}
	/* After an overflow, this moves the message that did not fit to the front. */
	mnl_nlmsg_batch_reset(b);
	return 0;
}

/* Appends one verdict message; sends the buffer first when it is full. */
static int tx_verdict(struct fl_uq *uq, struct mnl_nlmsg_batch *b, int type, uint32_t id,
		      uint32_t verdict, const uint8_t *data, uint32_t len)
{
	struct nlmsghdr *nlh = nfq_nlmsg_put(mnl_nlmsg_batch_current(b), type, uq->o.queue_num);
	int r;

	nfq_nlmsg_verdict_put(nlh, (int)id, (int)verdict);
	if (data)
		nfq_nlmsg_verdict_put_pkt(nlh, data, len);
	if (type == NFQNL_MSG_VERDICT_BATCH)
		uq->st.batch_msgs++;
	else
		uq->st.verdict_msgs++;
	/* Past the limit, the message just written is kept for the next buffer. */
	if (!mnl_nlmsg_batch_next(b) || uq->o.verdict_mode == FL_UQ_VERDICT_SINGLE_SEND) {
		r = tx_send(uq, b);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Sends this round's verdicts: individual ones first, then one batch verdict for the prefix. */
static int flush_releases(struct fl_uq *uq)
{
	struct mnl_nlmsg_batch *b;
	uint64_t old_head = uq->head;
	uint32_t batch_id = 0;
	bool covered = false;
	int r = 0;

	if (uq->n_rel == 0)
		return 0;
	for (size_t i = 0; i < uq->n_rel; i++)
		uq->ring[uq->rel[i].seq & uq->ring_mask].done = true;
	while (uq->head < uq->tail && uq->ring[uq->head & uq->ring_mask].done)
		uq->head++;
	if (uq->head > old_head)
		batch_id = uq->ring[(uq->head - 1) & uq->ring_mask].id;

	b = mnl_nlmsg_batch_start(uq->txbuf, SEND_LIMIT_BYTES);
	if (!b)
		return -ENOMEM;
	for (size_t i = 0; i < uq->n_rel; i++) {
		struct release *x = &uq->rel[i];

		if (r == 0 && uq->o.verdict_mode == FL_UQ_VERDICT_BATCH &&
		    x->verdict == NF_ACCEPT && !x->data && x->seq < uq->head) {
			covered = true;
			continue;
		}
		if (r == 0)
			r = tx_verdict(uq, b, NFQNL_MSG_VERDICT, x->id, x->verdict, x->data,
				       x->len);
		free(x->data);
		x->data = NULL;
	}
	if (r == 0 && covered)
		r = tx_verdict(uq, b, NFQNL_MSG_VERDICT_BATCH, batch_id, NF_ACCEPT, NULL, 0);
	if (r == 0)
		r = tx_send(uq, b);
	mnl_nlmsg_batch_stop(b);
	uq->n_rel = 0;
	return r;
}

/* Completes a TCP/UDP checksum the kernel left partial (CHECKSUM_PARTIAL under the GSO flag). */
static void finish_checksum(uint8_t *data, uint32_t len)
{
	struct pkt_buff *pb;
	uint8_t version = data[0] >> 4;

	pb = pktb_alloc(version == 6 ? AF_INET6 : AF_INET, data, len, 0);
	if (!pb)
		return;
	if (version == 4) {
		struct iphdr *iph = nfq_ip_get_hdr(pb);
		if (iph && nfq_ip_set_transport_header(pb, iph) == 0) {
			if (iph->protocol == IPPROTO_TCP) {
				struct tcphdr *th = nfq_tcp_get_hdr(pb);
				if (th)
					nfq_tcp_compute_checksum_ipv4(th, iph);
			} else if (iph->protocol == IPPROTO_UDP) {
				struct udphdr *uh = nfq_udp_get_hdr(pb);
				if (uh)
					nfq_udp_compute_checksum_ipv4(uh, iph);
			}
		}
	} else if (version == 6) {
		struct ip6_hdr *ip6h = nfq_ip6_get_hdr(pb);
		/*
		 * Only TCP/UDP right after the fixed header: libnetfilter_queue
		 * 1.0.5's nfq_ip6_set_transport_header() never returns when
		 * asked for a header the packet does not have. It returns 1
		 * when found (the IPv4 one returns 0 on success).
		 */
		uint8_t nxt = ip6h ? ip6h->ip6_nxt : 0;
		if (nxt == IPPROTO_TCP && nfq_ip6_set_transport_header(pb, ip6h, nxt) > 0) {
			struct tcphdr *th = nfq_tcp_get_hdr(pb);
			if (th)
				nfq_tcp_compute_checksum_ipv6(th, ip6h);
		} else if (nxt == IPPROTO_UDP && nfq_ip6_set_transport_header(pb, ip6h, nxt) > 0) {
			struct udphdr *uh = nfq_udp_get_hdr(pb);
			if (uh)
				nfq_udp_compute_checksum_ipv6(uh, ip6h);
		}
	}
	memcpy(data, pktb_data(pb), len);
	pktb_free(pb);
}

static int raw_socket(int family)
{
	uint32_t mark = FL_UQ_DUP_MARK;
	int fd = socket(family, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, IPPROTO_RAW);

	if (fd < 0)
		return -errno;
	/* IPPROTO_RAW implies a header we write ourselves, in both families. */
	if (setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

/* Sends a duplicate; failures only count (a duplicate is best effort, as in netem). */
static void send_copy(struct fl_uq *uq, const uint8_t *data, uint32_t len)
{
	struct sockaddr_storage ss = {0};
	socklen_t sl;
	int fd;

	if (len >= sizeof(struct iphdr) && data[0] >> 4 == 4) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, data + offsetof(struct iphdr, daddr), 4);
		sl = sizeof(*sin);
		fd = uq->raw4_fd;
	} else if (len >= sizeof(struct ip6_hdr) && data[0] >> 4 == 6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, data + offsetof(struct ip6_hdr, ip6_dst), 16);
		sl = sizeof(*sin6);
		fd = uq->raw6_fd;
	} else {
		return;
	}
	if (fd >= 0 && sendto(fd, data, len, 0, (struct sockaddr *)&ss, sl) == (ssize_t)len)
		uq->st.duplicated++;
}

static int handle_packet(struct fl_uq *uq, const struct nlmsghdr *nlh, uint64_t now)
{
	struct nlattr *attr[NFQA_MAX + 1] = {0};
	const struct nfqnl_msg_packet_hdr *ph;
	struct fl_uq_decision d;
	const uint8_t *payload = NULL;
	uint32_t id, plen = 0, wire_len, mark = 0, skbinfo = 0;
	uint8_t *data = NULL;
	uint64_t seq;
	int r;

	if (nfq_nlmsg_parse(nlh, attr) < 0 || !attr[NFQA_PACKET_HDR])
		return 0;
	ph = mnl_attr_get_payload(attr[NFQA_PACKET_HDR]);
	id = ntohl(ph->packet_id);
	if (attr[NFQA_PAYLOAD]) {
		payload = mnl_attr_get_payload(attr[NFQA_PAYLOAD]);
		plen = mnl_attr_get_payload_len(attr[NFQA_PAYLOAD]);
	}
	wire_len = attr[NFQA_CAP_LEN] ? ntohl(mnl_attr_get_u32(attr[NFQA_CAP_LEN])) : plen;
	if (attr[NFQA_MARK])
		mark = ntohl(mnl_attr_get_u32(attr[NFQA_MARK]));
	if (attr[NFQA_SKB_INFO])
		skbinfo = ntohl(mnl_attr_get_u32(attr[NFQA_SKB_INFO]));
	uq->st.received++;

	r = ring_push(uq, id, &seq);
	if (r < 0)
		return r;
	if (mark == FL_UQ_DUP_MARK) {
		uq->st.dup_seen++;
		return release_add(uq, seq, id, NF_ACCEPT, NULL, 0);
	}

	fl_uq_model_decide(&uq->model, now, wire_len, &d);

	if (d.dup && !d.copy.drop && payload && plen == wire_len) {
		uint8_t *copy = malloc(plen);
		if (!copy)
			return -ENOMEM;
		memcpy(copy, payload, plen);
		if (skbinfo & NFQA_SKB_CSUMNOTREADY)
			finish_checksum(copy, plen);
		if (d.copy.corrupt) {
			fl_uq_corrupt(copy, plen, d.copy.corrupt_rnd);
			uq->st.corrupted++;
		}
		r = heap_push(uq, &(struct held){.due_ns = d.copy.due_ns,
						 .order = uq->next_order++,
						 .len = plen,
						 .data = copy,
						 .kind = HELD_COPY});
		if (r < 0) {
			free(copy);
			return r;
		}
	}

	if (d.pkt.drop)
		return release_add(uq, seq, id, NF_DROP, NULL, 0);
	/* A payload cut short by the copy range cannot be handed back: leave it intact. */
	if (d.pkt.corrupt && payload && plen == wire_len) {
		data = malloc(plen);
		if (!data)
			return -ENOMEM;
		memcpy(data, payload, plen);
		fl_uq_corrupt(data, plen, d.pkt.corrupt_rnd);
		uq->st.corrupted++;
	}
	if (d.pkt.reordered)
		uq->st.reordered++;
	if (d.pkt.due_ns <= now)
		return release_add(uq, seq, id, NF_ACCEPT, data, data ? plen : 0);
	r = heap_push(uq, &(struct held){.due_ns = d.pkt.due_ns,
					 .order = uq->next_order++,
					 .seq = seq,
					 .id = id,
					 .len = data ? plen : 0,
					 .data = data,
					 .kind = HELD_VERDICT});
	if (r < 0)
		free(data);
	return r;
}

static int handle_message_buf(struct fl_uq *uq, const void *buf, size_t len, uint64_t now)
{
	const struct nlmsghdr *nlh = buf;
	int n = (int)len, r;

	for (; mnl_nlmsg_ok(nlh, n); nlh = mnl_nlmsg_next(nlh, &n)) {
		if (nlh->nlmsg_type == NLMSG_ERROR) {
			const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
			if (e->error != 0)
				uq->st.kernel_errors++;
			continue;
		}
		if ((nlh->nlmsg_type & 0xff) != NFQNL_MSG_PACKET ||
		    (nlh->nlmsg_type >> 8) != NFNL_SUBSYS_QUEUE)
			continue;
		r = handle_packet(uq, nlh, now);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Reads what the socket has (a bounded number of rounds), deciding each packet. */
static int receive(struct fl_uq *uq)
{
	for (int round = 0; round < RECV_ROUNDS; round++) {
		uint64_t now;
		int n, r;

		for (int i = 0; i < RECV_BATCH; i++) {
			uq->iov[i] = (struct iovec){.iov_base = uq->rx + (size_t)i * uq->slot_bytes,
						    .iov_len = uq->slot_bytes};
			uq->mmsg[i].msg_hdr =
				(struct msghdr){.msg_iov = &uq->iov[i], .msg_iovlen = 1};
		}
		n = recvmmsg(uq->nl_fd, uq->mmsg, RECV_BATCH, MSG_DONTWAIT, NULL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			if (errno == EINTR || errno == ENOBUFS)
				continue;
			return -errno;
		}
		now = now_ns();
		for (int i = 0; i < n; i++) {
			r = handle_message_buf(uq, uq->iov[i].iov_base, uq->mmsg[i].msg_len, now);
			if (r < 0)
				return r;
		}
		r = flush_releases(uq);
		if (r < 0)
			return r;
		if (n < RECV_BATCH)
			return 0;
	}
	return 0;
}

/* Releases everything due by now; sends duplicates due by now. */
static int release_due(struct fl_uq *uq)
{
	uint64_t now = now_ns();

	while (heap_top(uq) && heap_top(uq)->due_ns <= now) {
		struct held h;
		int r;

		fl_heap_pop(&uq->heap, &h);
		if (now - h.due_ns > uq->st.late_ns_max)
			uq->st.late_ns_max = now - h.due_ns;
		if (h.kind == HELD_COPY) {
			send_copy(uq, h.data, h.len);
			free(h.data);
			continue;
		}
		r = release_add(uq, h.seq, h.id, NF_ACCEPT, h.data, h.len);
		if (r < 0) {
			free(h.data);
			return r;
		}
	}
	return flush_releases(uq);
}

static int arm_timer(struct fl_uq *uq)
{
	uint64_t due = heap_top(uq) ? heap_top(uq)->due_ns : 0;
	struct itimerspec its = {0};

	if (due == uq->armed_ns)
		return 0;
	its.it_value.tv_sec = (time_t)(due / NSEC_PER_SEC);
	its.it_value.tv_nsec = (long)(due % NSEC_PER_SEC);
	if (timerfd_settime(uq->timer_fd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
		return -errno;
	uq->armed_ns = due;
	return 0;
}

int fl_uq_run(struct fl_uq *uq, int stop_fd)
{
	struct pollfd p[4] = {
		{.fd = uq->nl_fd, .events = POLLIN},
		{.fd = uq->timer_fd, .events = POLLIN},
		{.fd = uq->stop_fd, .events = POLLIN},
		{.fd = stop_fd, .events = POLLIN},
	};
	int r;

	for (;;) {
		r = release_due(uq);
		if (r < 0)
			return r;
		r = arm_timer(uq);
		if (r < 0)
			return r;
		if (poll(p, stop_fd >= 0 ? 4 : 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (p[2].revents || (stop_fd >= 0 && p[3].revents))
			return 0;
		if (p[1].revents & POLLIN) {
			uint64_t ticks;
			/* The timer was consumed; re-arm even for the same time next round. */
			if (read(uq->timer_fd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
				return -errno;
			uq->armed_ns = 0;
		}
		if (p[0].revents & (POLLERR | POLLNVAL))
			return -EIO;
		if (p[0].revents & POLLIN) {
			r = release_due(uq);
			if (r < 0)
				return r;
			r = receive(uq);
			if (r < 0)
				return r;
		}
	}
}

void fl_uq_stop(struct fl_uq *uq)
{
	uint64_t one = 1;
	ssize_t _unused_ w;

	w = write(uq->stop_fd, &one, sizeof(one));
}

void fl_uq_get_stats(const struct fl_uq *uq, struct fl_uq_stats *ret)
{
	*ret = uq->st;
}

/* Sends one configuration message and waits for its ACK: -errno from the kernel, or 0. */
static int config_request(struct fl_uq *uq, struct nlmsghdr *nlh)
{
	char buf[CFG_BUF_BYTES];
	uint32_t seq = (uint32_t)now_ns();
	ssize_t n;

	nlh->nlmsg_flags |= NLM_F_ACK;
	nlh->nlmsg_seq = seq;
	if (mnl_socket_sendto(uq->nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	for (;;) {
		n = mnl_socket_recvfrom(uq->nl, buf, sizeof(buf));
		if (n < 0)
			return errno == EINTR ? -EINTR : -errno;
		n = mnl_cb_run(buf, (size_t)n, seq, uq->portid, NULL, NULL);
		if (n <= MNL_CB_STOP)
			return n < 0 ? -errno : 0;
	}
}

static int configure(struct fl_uq *uq)
{
	char buf[CFG_BUF_BYTES];
	struct nlmsghdr *nlh;
	uint32_t flags = NFQA_CFG_F_FAIL_OPEN | NFQA_CFG_F_GSO;
	int r;

	nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, uq->o.queue_num);
	nfq_nlmsg_cfg_put_cmd(nlh, AF_UNSPEC, NFQNL_CFG_CMD_BIND);
	r = config_request(uq, nlh);
	if (r < 0)
		return r;

	nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, uq->o.queue_num);
	/*
	 * Whole packets only when a fault needs the bytes; else the first
	 * HEAD_COPY_RANGE bytes, because only a copy range makes the kernel
	 * send NFQA_CAP_LEN (the length the rate needs), COPY_META does not.
	 */
	nfq_nlmsg_cfg_put_params(nlh, NFQNL_COPY_PACKET,
				 uq->want_payload ? FULL_COPY_RANGE : HEAD_COPY_RANGE);
	nfq_nlmsg_cfg_put_qmaxlen(nlh,
				  uq->o.queue_maxlen ? uq->o.queue_maxlen : DEFAULT_QUEUE_MAXLEN);
	/*
	 * Set explicitly: FAIL_OPEN so a full queue or an overrun socket
	 * passes packets instead of dropping them; GSO so large segments come
	 * whole (no segmentation or checksum work on the way to us).
	 */
	mnl_attr_put_u32(nlh, NFQA_CFG_FLAGS, htonl(flags));
	mnl_attr_put_u32(nlh, NFQA_CFG_MASK, htonl(flags));
	return config_request(uq, nlh);
}

int fl_uq_new(const struct fl_uq_opts *o, struct fl_uq **ret)
{
	_cleanup_(fl_uq_freep) struct fl_uq *uq = NULL;
	uint32_t rcvbuf;
	int one = 1, r;

	uq = calloc(1, sizeof(*uq));
	if (!uq)
		return -ENOMEM;
	uq->nl_fd = uq->timer_fd = uq->stop_fd = uq->raw4_fd = uq->raw6_fd = -1;
	uq->heap = FL_HEAP_INIT(struct held, held_before_v);
	uq->o = *o;
	r = fl_uq_model_init(&uq->model, &o->params, o->seed);
	if (r < 0)
		return r;
	uq->want_payload = o->params.corrupt_ppb > 0 || o->params.duplicate_ppb > 0;
	uq->slot_bytes = uq->want_payload ? FULL_COPY_RANGE + META_SLOT_BYTES : META_SLOT_BYTES;

	uq->rx = malloc(uq->slot_bytes * RECV_BATCH);
	uq->mmsg = calloc(RECV_BATCH, sizeof(*uq->mmsg));
	uq->iov = calloc(RECV_BATCH, sizeof(*uq->iov));
	uq->txbuf = malloc(SEND_BUF_BYTES);
	uq->ring = calloc(4096, sizeof(*uq->ring));
	uq->ring_mask = 4095;
	if (!uq->rx || !uq->mmsg || !uq->iov || !uq->txbuf || !uq->ring)
		return -ENOMEM;

	uq->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	uq->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (uq->timer_fd < 0 || uq->stop_fd < 0)
		return -errno;

	uq->nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	if (!uq->nl)
		return errno == EPROTONOSUPPORT ? -EOPNOTSUPP : -errno;
	if (mnl_socket_bind(uq->nl, 0, MNL_SOCKET_AUTOPID) < 0)
		return -errno;
	uq->nl_fd = mnl_socket_get_fd(uq->nl);
	uq->portid = mnl_socket_get_portid(uq->nl);
	/* Overruns pass packets (fail-open); do not make every later recv report ENOBUFS. */
	(void)mnl_socket_setsockopt(uq->nl, NETLINK_NO_ENOBUFS, &one, sizeof(one));
	rcvbuf = o->rcvbuf_bytes ? o->rcvbuf_bytes : DEFAULT_RCVBUF_BYTES;
	if (setsockopt(uq->nl_fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0)
		(void)setsockopt(uq->nl_fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));

	r = configure(uq);
	if (r < 0)
		return r;
	if (o->params.duplicate_ppb > 0) {
		uq->raw4_fd = raw_socket(AF_INET);
		uq->raw6_fd = raw_socket(AF_INET6);
		if (uq->raw4_fd < 0 && uq->raw6_fd < 0)
			return uq->raw4_fd;
	}
	/* Only now: the socket must not be non-blocking for the acks above. */
	if (fcntl(uq->nl_fd, F_SETFL, fcntl(uq->nl_fd, F_GETFL) | O_NONBLOCK) < 0)
		return -errno;
	*ret = TAKE_PTR(uq);
	return 0;
}

/* Accepts every packet still queued with one batch verdict (unmangled: faults vanish). */
static void release_all(struct fl_uq *uq)
{
	char buf[CFG_BUF_BYTES];
	struct nlmsghdr *nlh;

	if (!uq->nl || !uq->any_id || uq->head == uq->tail)
		return;
	nlh = nfq_nlmsg_put(buf, NFQNL_MSG_VERDICT_BATCH, uq->o.queue_num);
	nfq_nlmsg_verdict_put(nlh, (int)uq->max_id, NF_ACCEPT);
	(void)mnl_socket_sendto(uq->nl, nlh, nlh->nlmsg_len);
}

void fl_uq_free(struct fl_uq *uq)
{
	if (!uq)
		return;
	release_all(uq);
	while (heap_top(uq)) {
		struct held h;

		fl_heap_pop(&uq->heap, &h);
		free(h.data);
	}
	for (size_t i = 0; i < uq->n_rel; i++)
		free(uq->rel[i].data);
	if (uq->nl)
		mnl_socket_close(uq->nl);
	if (uq->timer_fd >= 0)
		close(uq->timer_fd);
	if (uq->stop_fd >= 0)
		close(uq->stop_fd);
	if (uq->raw4_fd >= 0)
		close(uq->raw4_fd);
	if (uq->raw6_fd >= 0)
		close(uq->raw6_fd);
	fl_heap_done(&uq->heap);
	free(uq->ring);
	free(uq->rel);
	free(uq->rx);
	free(uq->mmsg);
	free(uq->iov);
	free(uq->txbuf);
	free(uq);
}

/* ---- the engine in a child process -------------------------------------- */

static struct fl_uq *child_uq;

static void child_on_term(int sig)
{
	if (child_uq)
		fl_uq_stop(child_uq);
}

static _Noreturn void child_main(const struct fl_uq_opts *o, int netns_fd, pid_t parent, int fd)
{
	struct sigaction sa = {.sa_handler = child_on_term};
	struct fl_uq *uq = NULL;
	sigset_t set;
	int r;

	(void)prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)
		_exit(1);
	/* The parent decides when we stop: not the terminal. */
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_UNBLOCK, &set, NULL); /* the parent may block it for its signalfd */

	fl_child_close_fds((const int[]){ fd, netns_fd }, 2);
	r = netns_fd >= 0 && setns(netns_fd, CLONE_NEWNET) < 0 ? -errno : 0;
	if (r == 0 && o->sched_fifo_priority > 0) {
		struct sched_param sp = {.sched_priority = o->sched_fifo_priority};
		r = sched_setscheduler(0, SCHED_FIFO, &sp) < 0 ? -errno : 0;
	}
	if (r == 0)
		r = fl_uq_new(o, &uq);
	/* Bound, and the raw socket for duplicates open: verdicts need only CAP_NET_ADMIN. */
	if (r == 0 && geteuid() == 0)
		r = fl_caps_keep_net_admin();
	while (write(fd, &r, sizeof(r)) < 0 && errno == EINTR)
		;
	close(fd);
	if (r < 0)
		_exit(1);
	child_uq = uq;
	r = fl_uq_run(uq, -1);
	child_uq = NULL;
	fl_uq_free(uq);
	_exit(r < 0 ? 1 : 0);
}

static int wait_exit(pid_t pid, uint64_t timeout_ns, int *ret_status)
{
	uint64_t deadline = now_ns() + timeout_ns;

	for (;;) {
		pid_t w = waitpid(pid, ret_status, WNOHANG);
		struct timespec ts = {.tv_nsec = 1000000};

		if (w == pid)
			return 0;
		if (w < 0 && errno != EINTR)
			return -errno;
		if (now_ns() >= deadline)
			return -ETIMEDOUT;
		nanosleep(&ts, NULL);
	}
}

int fl_uq_spawn(const struct fl_uq_opts *o, int netns_fd, pid_t *ret_pid)
{
	pid_t parent = getpid(), pid;
	struct pollfd p;
	int fds[2], r = -ECHILD, status;
	ssize_t n;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		r = -errno;
		close(fds[0]);
		close(fds[1]);
		return r;
	}
	if (pid == 0) {
		close(fds[0]);
		child_main(o, netns_fd, parent, fds[1]);
	}
	close(fds[1]);
	p = (struct pollfd){.fd = fds[0], .events = POLLIN};
	do
		n = poll(&p, 1, SPAWN_READY_TIMEOUT_MS);
	while (n < 0 && errno == EINTR);
	if (n == 0)
		r = -ETIMEDOUT;
	else if (n > 0 && read(fds[0], &r, sizeof(r)) != sizeof(r))
		r = -ECHILD;
	close(fds[0]);
	if (r < 0) {
		kill(pid, SIGKILL);
		(void)wait_exit(pid, 5 * NSEC_PER_SEC, &status);
		return r;
	}
	*ret_pid = pid;
	return 0;
}

int fl_uq_kill(pid_t pid, uint64_t timeout_ns)
{
	int status = 0, r;

	if (kill(pid, SIGTERM) < 0 && errno != ESRCH)
		return -errno;
	r = wait_exit(pid, timeout_ns, &status);
	if (r == -ETIMEDOUT) {
		kill(pid, SIGKILL);
		r = wait_exit(pid, 5 * NSEC_PER_SEC, &status);
		return r < 0 ? r : -ETIMEDOUT;
	}
	if (r < 0)
		return r;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}
