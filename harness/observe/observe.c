/* SPDX-License-Identifier: MIT */
/* The analysis core: packets -> per service x phase statistics. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "observe/observe_internal.h"

/* ---- small helpers ------------------------------------------------------------------------- */

static uint16_t be16(const u_char *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t be32(const u_char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Sequence-space comparison (RFC 1982 style): a before b. */
static bool seq_lt(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) < 0;
}

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

int obs_vec_push(struct obs_vec *v, uint64_t x, size_t cap)
{
	if (v->n >= cap) {
		v->dropped++;
		return 0;
	}
	if (v->n == v->cap) {
		size_t ncap = v->cap ? v->cap * 2 : 16;
		uint64_t *nv;

		if (ncap > cap)
			ncap = cap;
		nv = reallocarray(v->v, ncap, sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		v->v = nv;
		v->cap = ncap;
	}
	v->v[v->n++] = x;
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int obs_vec_sorted(const struct obs_vec *const *vs, size_t n_vs, uint64_t **ret, size_t *ret_n)
{
	size_t n = 0, k = 0;
	uint64_t *all;

	for (size_t i = 0; i < n_vs; i++)
		n += vs[i]->n;
	if (n == 0) {
		*ret = NULL;
		*ret_n = 0;
		return 0;
	}
	all = malloc(n * sizeof(*all));
	if (!all)
		return -ENOMEM;
	for (size_t i = 0; i < n_vs; i++) {
		if (vs[i]->n == 0)
			continue; /* v may be NULL: memcpy() must not see it, even for 0 bytes */
		memcpy(all + k, vs[i]->v, vs[i]->n * sizeof(*all));
		k += vs[i]->n;
	}
	qsort(all, n, sizeof(*all), cmp_u64);
	*ret = all;
	*ret_n = n;
	return 0;
}

/* Nearest-rank percentile: the smallest sample with at least pct% of samples at or below it. */
static uint64_t rank(const uint64_t *v, size_t n, unsigned pct)
{
	size_t k = (n * pct + 99) / 100;

	return v[k ? k - 1 : 0];
}

void obs_dist(const uint64_t *sorted, size_t n, uint64_t dropped, struct fl_wire_dist *d)
{
	unsigned __int128 sum = 0;

	*d = (struct fl_wire_dist){.n = n, .dropped = dropped};
	if (n == 0)
		return;
	for (size_t i = 0; i < n; i++)
		sum += sorted[i];
	d->min_ns = sorted[0];
	d->max_ns = sorted[n - 1];
	d->p50_ns = rank(sorted, n, 50);
	d->p90_ns = rank(sorted, n, 90);
	d->p99_ns = rank(sorted, n, 99);
	d->mean_ns = (uint64_t)(sum / n);
}

/* ---- lifetime ------------------------------------------------------------------------------ */

/*
 * The realtime - monotonic offset, from the tightest of a few monotonic
 * sandwiches around one realtime reading: error below a microsecond.
 */
static int64_t measure_offset(void)
{
	uint64_t best_gap = UINT64_MAX;
	int64_t off = 0;

	for (int i = 0; i < 5; i++) {
		uint64_t m1 = clock_ns(CLOCK_MONOTONIC);
		uint64_t rt = clock_ns(CLOCK_REALTIME);
		uint64_t m2 = clock_ns(CLOCK_MONOTONIC);

		if (m2 - m1 < best_gap) {
			best_gap = m2 - m1;
			off = (int64_t)(rt - (m1 + (m2 - m1) / 2));
		}
	}
	return off;
}

int fl_observer_new(const struct fl_plan *p, const struct fl_observer_options *opts,
		    struct fl_observer **ret)
{
	_cleanup_(fl_observer_freep) struct fl_observer *o = NULL;
	int r;

	if (!p || !p->scenario)
		return -EINVAL;
	o = calloc(1, sizeof(*o));
	if (!o)
		return -ENOMEM;
	o->plan = p;
	o->n_rows = p->scenario->n_services + 1;
	if (opts)
		o->opts = *opts;
	if (!o->opts.grace_ns)
		o->opts.grace_ns = FL_OBSERVER_GRACE_NS;
	if (!o->opts.max_flows)
		o->opts.max_flows = OBS_MAX_FLOWS;
	if (!o->opts.max_samples)
		o->opts.max_samples = OBS_MAX_SAMPLES;
	if (!o->opts.max_attempts)
		o->opts.max_attempts = OBS_MAX_ATTEMPTS;
	o->first_ns = o->last_ns = FL_NEVER;
	o->phase_fd = -1;
	o->hangup_ns = FL_NEVER;
	o->offset_ns = measure_offset();
	r = fl_phase_tracker_new(p->scenario, &o->tracker);
	if (r < 0)
		return r;
	o->attempts = calloc(o->n_rows, sizeof(*o->attempts));
	o->n_buckets = 1024;
	o->buckets = calloc(o->n_buckets, sizeof(*o->buckets));
	if (!o->attempts || !o->buckets)
		return -ENOMEM;
	*ret = TAKE_PTR(o);
	return 0;
}

static void free_flows(struct fl_observer *o)
{
	for (size_t i = 0; i < o->n_buckets; i++)
		for (struct obs_flow *f = o->buckets[i], *next; f; f = next) {
			next = f->next;
			free(f);
		}
}

void fl_observer_free(struct fl_observer *o)
{
	if (!o)
		return;
	if (o->buckets)
		free_flows(o);
	free(o->buckets);
	for (size_t i = 0; i < o->n_stat_phases * o->n_rows; i++) {
		free(o->stats[i].rtt.v);
		free(o->stats[i].gap.v);
		free(o->stats[i].udp_gap.v);
	}
	free(o->stats);
	if (o->attempts)
		for (size_t i = 0; i < o->n_rows; i++)
			free(o->attempts[i].v);
	free(o->attempts);
	for (size_t i = 0; i < o->n_clients; i++)
		free(o->clients[i].t.v);
	free(o->clients);
	free(o->client_slots);
	free(o->captures);
	fl_phase_tracker_free(o->tracker);
	free(o);
}

void fl_observer_set_clock(struct fl_observer *o, uint64_t realtime_ns, uint64_t monotonic_ns)
{
	o->offset_ns = (int64_t)(realtime_ns - monotonic_ns);
}

const struct fl_phase_tracker *fl_observer_phases(const struct fl_observer *o)
{
	return o->tracker;
}

int fl_observer_phase_event(struct fl_observer *o, const struct fl_phase_event *ev)
{
	return fl_phase_tracker_feed(o->tracker, ev);
}

int obs_read_phases(struct fl_observer *o)
{
	int k;

	o->phase_read_ns = clock_ns(CLOCK_MONOTONIC);
	k = fl_phase_tracker_read(o->tracker, o->phase_fd);
	if (k == 1) {
		o->phase_fd = -1;
		o->hangup_ns = o->phase_read_ns;
	}
	return k < 0 ? k : 0;
}

/* ---- phases -------------------------------------------------------------------------------- */

/* Grows the stats to one row set per tracker phase. */
static int ensure_phases(struct fl_observer *o)
{
	size_t want = o->tracker->n_sets;
	struct obs_stats *s;

	if (want <= o->n_stat_phases)
		return 0;
	s = reallocarray(o->stats, want * o->n_rows, sizeof(*s));
	if (!s)
		return -ENOMEM;
	memset(s + o->n_stat_phases * o->n_rows, 0,
	       (want - o->n_stat_phases) * o->n_rows * sizeof(*s));
	o->stats = s;
	o->n_stat_phases = want;
	return 0;
}

/*
 * The phase a packet belongs to, by its own time: the last set that began
 * at or before it. Packets read late (kernel buffer) still land in the
 * phase they were on the wire in.
 */
static size_t phase_of(const struct fl_observer *o, uint64_t t)
{
	const struct fl_phase_tracker *tr = o->tracker;
	size_t lo = 0, hi = tr->n_sets; /* sets[0].since_ns == 0 <= t */

	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (tr->sets[mid].since_ns <= t)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

static struct obs_stats *stats_at(struct fl_observer *o, size_t phase, uint32_t row)
{
	return &o->stats[phase * o->n_rows + row];
}

/* ---- decoding ------------------------------------------------------------------------------ */

struct pkt {
	uint64_t t; /* CLOCK_MONOTONIC */
	uint32_t ifindex;
	int family;
	uint8_t proto;
	bool ports; /* sport/dport valid (TCP/UDP, first fragment) */
	uint8_t src[16], dst[16];
	uint16_t sport, dport;
	uint32_t iplen;
	uint32_t l4len; /* bytes after the IP headers, from the IP lengths */
	/* TCP */
	bool tcp;
	uint8_t flags;
	uint32_t seq, ack;
	uint32_t data; /* payload bytes */
	/* ICMP destination unreachable, and the packet it quotes */
	bool unreach;
	struct pkt *quoted;
};

enum {
	TH_FIN = 0x01,
	TH_SYN = 0x02,
	TH_RST = 0x04,
	TH_ACK = 0x10,
};

/* The L4 header of p at l4, cap bytes of it captured. */
static void decode_l4(struct pkt *p, const u_char *l4, size_t cap, struct pkt *quoted_buf);

static bool decode_ip(struct pkt *p, const u_char *b, size_t cap, struct pkt *quoted_buf)
{
	size_t hl;

	if (cap < 1)
		return false;
	if ((b[0] >> 4) == 4) {
		uint16_t frag;

		if (cap < 20)
			return false;
		hl = (size_t)(b[0] & 0x0f) * 4;
		if (hl < 20)
			return false;
		p->family = AF_INET;
		p->iplen = be16(b + 2);
		p->proto = b[9];
		memset(p->src, 0, sizeof(p->src));
		memset(p->dst, 0, sizeof(p->dst));
		memcpy(p->src, b + 12, 4);
		memcpy(p->dst, b + 16, 4);
		p->l4len = p->iplen > hl ? p->iplen - (uint32_t)hl : 0;
		frag = be16(b + 6) & 0x1fff;
		if (frag != 0 || cap <= hl)
			return true; /* a later fragment: addresses only */
		decode_l4(p, b + hl, cap - hl, quoted_buf);
		return true;
	}
	if ((b[0] >> 4) == 6) {
		uint8_t nh;
		size_t off = 40;

		if (cap < 40)
			return false;
		p->family = AF_INET6;
		p->iplen = 40u + be16(b + 4);
		memcpy(p->src, b + 8, 16);
		memcpy(p->dst, b + 24, 16);
		nh = b[6];
		/* Extension headers: hop-by-hop, routing, fragment, destination options, AH. */
		for (int i = 0; i < 8; i++) {
			size_t len;

			if (nh != 0 && nh != 43 && nh != 44 && nh != 60 && nh != 51)
				break;
			if (cap < off + 8) {
				p->proto = nh;
				return true;
			}
			if (nh == 44) {
				if ((be16(b + off + 2) & 0xfff8) != 0) {
					p->proto = b[off];
					p->l4len = 0;
					return true; /* a later fragment */
				}
				len = 8;
			} else if (nh == 51) {
				len = ((size_t)b[off + 1] + 2) * 4;
			} else {
				len = ((size_t)b[off + 1] + 1) * 8;
			}
			nh = b[off];
			off += len;
		}
		p->proto = nh;
		p->l4len = p->iplen > off ? p->iplen - (uint32_t)off : 0;
		if (cap > off)
			decode_l4(p, b + off, cap - off, quoted_buf);
		return true;
	}
	return false;
}

static void decode_l4(struct pkt *p, const u_char *l4, size_t cap, struct pkt *quoted_buf)
{
	switch (p->proto) {
	case IPPROTO_TCP:
		if (cap < 4)
			return;
		p->sport = be16(l4);
		p->dport = be16(l4 + 2);
		p->ports = true;
		if (cap < 14)
			return; /* ports only (a quoted header has 8 bytes) */
		p->tcp = true;
		p->seq = be32(l4 + 4);
		p->ack = be32(l4 + 8);
		p->flags = l4[13];
		{
			uint32_t doff = (uint32_t)(l4[12] >> 4) * 4;

			p->data = p->l4len > doff ? p->l4len - doff : 0;
		}
		return;
	case IPPROTO_UDP:
		if (cap < 4)
			return;
		p->sport = be16(l4);
		p->dport = be16(l4 + 2);
		p->ports = true;
		return;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		if (cap < 8 || !quoted_buf)
			return;
		/*
		 * Destination unreachable: v4 type 3 (but not code 4,
		 * "fragmentation needed", which is path MTU discovery), v6
		 * type 1. The quoted packet names the flow it refuses.
		 */
		if ((p->proto == IPPROTO_ICMP && l4[0] == 3 && l4[1] != 4) ||
		    (p->proto == IPPROTO_ICMPV6 && l4[0] == 1)) {
			p->unreach = true;
			*quoted_buf = (struct pkt){0};
			if (decode_ip(quoted_buf, l4 + 8, cap - 8, NULL))
				p->quoted = quoted_buf;
		}
		return;
	default:
		return;
	}
}

/* Link layer -> the IP header; false if not IP. */
static bool decode_link(int dlt, const u_char *b, size_t cap, const u_char **ret_ip,
			size_t *ret_cap, uint32_t *ret_ifindex)
{
	size_t off;
	uint16_t type;

	*ret_ifindex = 0;
	switch (dlt) {
	case DLT_EN10MB:
		if (cap < 14)
			return false;
		type = be16(b + 12);
		off = 14;
		while ((type == 0x8100 || type == 0x88a8) && cap >= off + 4) {
			type = be16(b + off + 2);
			off += 4;
		}
		break;
	case DLT_LINUX_SLL:
		if (cap < 16)
			return false;
		type = be16(b + 14);
		off = 16;
		break;
	case DLT_LINUX_SLL2:
		if (cap < 20)
			return false;
		type = be16(b);
		*ret_ifindex = be32(b + 4);
		off = 20;
		break;
	case DLT_RAW:
	case DLT_IPV4:
	case DLT_IPV6:
		*ret_ip = b;
		*ret_cap = cap;
		return true;
	default:
		return false;
	}
	if (type != 0x0800 && type != 0x86dd)
		return false;
	*ret_ip = b + off;
	*ret_cap = cap - off;
	return true;
}

/* ---- flows --------------------------------------------------------------------------------- */

static size_t addr_len(int family)
{
	return family == AF_INET ? 4 : 16;
}

static void endpoint_of(const struct pkt *p, bool dst, struct fl_wire_endpoint *e)
{
	*e = (struct fl_wire_endpoint){
		.family = p->family,
		.proto = p->proto,
		.port = p->ports ? (dst ? p->dport : p->sport) : 0,
	};
	memcpy(&e->addr, dst ? p->dst : p->src, addr_len(p->family));
}

static uint64_t key_hash(const struct obs_flow_key *k)
{
	/* FNV-1a over the key's bytes: the struct has no padding holes left uninitialised. */
	const uint8_t *b = (const uint8_t *)k;
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < sizeof(*k); i++) {
		h ^= b[i];
		h *= 1099511628211ULL;
	}
	return h;
}

/* The flow key of p, and whether p's source is side 0 of it. */
static void make_key(const struct pkt *p, struct obs_flow_key *k, bool *src_is_0)
{
	size_t al = addr_len(p->family);
	int c;

	memset(k, 0, sizeof(*k));
	k->family = (uint8_t)p->family;
	k->proto = p->proto;
	c = memcmp(p->src, p->dst, al);
	if (c == 0)
		c = p->sport < p->dport ? -1 : p->sport > p->dport;
	*src_is_0 = c <= 0;
	memcpy(k->addr[0], *src_is_0 ? p->src : p->dst, al);
	memcpy(k->addr[1], *src_is_0 ? p->dst : p->src, al);
	k->port[0] = *src_is_0 ? p->sport : p->dport;
	k->port[1] = *src_is_0 ? p->dport : p->sport;
}

static int grow_buckets(struct fl_observer *o)
{
	size_t n = o->n_buckets * 2;
	struct obs_flow **b = calloc(n, sizeof(*b));

	if (!b)
		return -ENOMEM;
	for (size_t i = 0; i < o->n_buckets; i++)
		for (struct obs_flow *f = o->buckets[i], *next; f; f = next) {
			size_t h = key_hash(&f->key) & (n - 1);

			next = f->next;
			f->next = b[h];
			b[h] = f;
		}
	free(o->buckets);
	o->buckets = b;
	o->n_buckets = n;
	return 0;
}

/* Forgets flows idle since before `before` (packet time). */
static void evict(struct fl_observer *o, uint64_t before)
{
	for (size_t i = 0; i < o->n_buckets; i++) {
		struct obs_flow **pp = &o->buckets[i];

		while (*pp) {
			struct obs_flow *f = *pp;

			if (f->last_ns < before) {
				*pp = f->next;
				free(f);
				o->n_flows--;
			} else {
				pp = &f->next;
			}
		}
	}
}

/*
 * Finds or creates p's flow. NULL with *r = 0: the table is full of live
 * flows (the packet is still counted, without per-flow state).
 */
static struct obs_flow *flow_get(struct fl_observer *o, const struct pkt *p, bool *src_is_0, int *r)
{
	struct obs_flow_key k;
	struct obs_flow *f;
	size_t h;

	*r = 0;
	make_key(p, &k, src_is_0);
	h = key_hash(&k) & (o->n_buckets - 1);
	for (f = o->buckets[h]; f; f = f->next)
		if (memcmp(&f->key, &k, sizeof(k)) == 0)
			return f;
	if (o->n_flows >= o->opts.max_flows) {
		evict(o, p->t > OBS_IDLE_NS ? p->t - OBS_IDLE_NS : 0);
		if (o->n_flows >= o->opts.max_flows) {
			/* Still full: keep the last second's flows only. */
			evict(o, p->t > 1000000000ULL ? p->t - 1000000000ULL : 0);
			if (o->n_flows >= o->opts.max_flows) {
				o->flows_untracked++;
				return NULL;
			}
		}
	}
	if (o->n_flows >= o->n_buckets) {
		*r = grow_buckets(o);
		if (*r < 0)
			return NULL;
		h = key_hash(&k) & (o->n_buckets - 1);
	}
	f = calloc(1, sizeof(*f));
	if (!f) {
		*r = -ENOMEM;
		return NULL;
	}
	f->key = k;
	f->next = o->buckets[h];
	o->buckets[h] = f;
	o->n_flows++;
	return f;
}

/* A new TCP incarnation on the same addresses and ports: forget the old one's state. */
static void tcp_reset(struct obs_flow *f)
{
	f->syn_seen = f->synack_seen = false;
	f->n_syn = 0;
	f->req_seen = f->resp_seen = false;
	memset(f->dir, 0, sizeof(f->dir));
}

/*
 * Records a segment occupying sequence space in direction d. Returns 1 if
 * it was seen before (same seq and length: a retransmission), 2 if it is
 * new but below what was seen (out of order), 0 otherwise.
 */
static int seg_record(struct obs_flow_dir *fd, uint32_t seq, uint32_t len)
{
	uint32_t end = seq + len;
	bool full = fd->n == OBS_SEG_RING;

	for (unsigned i = 0; i < fd->n; i++)
		if (fd->ring[i].seq == seq && fd->ring[i].len == len)
			return 1;
	if (fd->have_max && !seq_lt(fd->max_end, end)) {
		/*
		 * Entirely below the highest sequence seen and not among the
		 * last OBS_SEG_RING segments: if it is older than all of them,
		 * it was (almost certainly) sent before, and this is a
		 * retransmission of something the ring has forgotten;
		 * otherwise it is new and late (reordered, or its original was
		 * lost before the capture point).
		 */
		if (full && seq_lt(seq, fd->ring[fd->head].seq))
			return 1;
		return 2;
	}
	fd->ring[fd->head] = (struct obs_seg){seq, len};
	fd->head = (uint8_t)((fd->head + 1) % OBS_SEG_RING);
	if (!full)
		fd->n++;
	if (!fd->have_max || seq_lt(fd->max_end, end)) {
		fd->max_end = end;
		fd->have_max = true;
	}
	return 0;
}

static uint64_t client_hash(uint32_t row, uint8_t family, const uint8_t *addr)
{
	uint64_t h = 1469598103934665603ULL ^ row ^ (uint64_t)family << 32;

	for (size_t i = 0; i < 16; i++) {
		h ^= addr[i];
		h *= 1099511628211ULL;
	}
	return h;
}

static int grow_client_slots(struct fl_observer *o)
{
	size_t n = o->n_client_slots ? o->n_client_slots * 2 : 64;
	uint32_t *slots = calloc(n, sizeof(*slots));

	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i < o->n_clients; i++) {
		const struct obs_client *c = &o->clients[i];
		size_t h = client_hash(c->row, c->family, c->addr) & (n - 1);

		while (slots[h])
			h = (h + 1) & (n - 1);
		slots[h] = (uint32_t)i + 1;
	}
	free(o->client_slots);
	o->client_slots = slots;
	o->n_client_slots = n;
	return 0;
}

/*
 * The index of (row, client address) in o->clients, added if new; UINT32_MAX
 * past OBS_MAX_CLIENTS pairs (its attempts then count for the service only).
 */
static int client_of(struct fl_observer *o, uint32_t row, uint8_t family, const uint8_t *addr,
		     uint32_t *ret)
{
	size_t h;
	int r;

	if (o->n_clients * 2 >= o->n_client_slots) {
		r = grow_client_slots(o);
		if (r < 0)
			return r;
	}
	for (h = client_hash(row, family, addr) & (o->n_client_slots - 1); o->client_slots[h];
	     h = (h + 1) & (o->n_client_slots - 1)) {
		const struct obs_client *c = &o->clients[o->client_slots[h] - 1];

		if (c->row == row && c->family == family && memcmp(c->addr, addr, 16) == 0) {
			*ret = o->client_slots[h] - 1;
			return 0;
		}
	}
	if (o->n_clients >= OBS_MAX_CLIENTS) {
		*ret = UINT32_MAX;
		return 0;
	}
	if (o->n_clients == o->cap_clients) {
		size_t ncap = o->cap_clients ? o->cap_clients * 2 : 16;
		struct obs_client *nc = reallocarray(o->clients, ncap, sizeof(*nc));

		if (!nc)
			return -ENOMEM;
		o->clients = nc;
		o->cap_clients = ncap;
	}
	o->clients[o->n_clients] = (struct obs_client){.row = row, .family = family};
	memcpy(o->clients[o->n_clients].addr, addr, 16);
	o->client_slots[h] = (uint32_t)++o->n_clients;
	*ret = o->n_clients - 1;
	return 0;
}

/* A new attempt of f's client towards f's service (and in the service's total). */
static int attempt(struct fl_observer *o, const struct obs_flow *f, uint64_t t)
{
	int r = obs_vec_push(&o->attempts[f->svc], t, o->opts.max_attempts);

	if (r < 0)
		return r;
	if (f->client == UINT32_MAX) {
		o->clients_untracked += f->svc != o->n_rows - 1;
		return 0;
	}
	return obs_vec_push(&o->clients[f->client].t, t, o->opts.max_attempts);
}

static int tcp_packet(struct fl_observer *o, struct obs_flow *f, const struct pkt *p, int d,
		      size_t phase)
{
	const size_t cap = o->opts.max_samples;
	struct obs_stats *st = stats_at(o, phase, f->svc);
	bool syn = p->flags & TH_SYN, ack = p->flags & TH_ACK;
	uint32_t len = p->data + (syn ? 1 : 0) + ((p->flags & TH_FIN) ? 1 : 0);
	bool retrans = false;
	int r;

	if (p->flags & TH_RST)
		st->s.dir[d].rst++;
	if (syn && !ack && d == FL_WIRE_TO_SERVICE) {
		if (f->syn_seen && p->seq != f->syn_seq)
			tcp_reset(f); /* the port was reused: a new connection */
		if (!f->syn_seen) {
			f->syn_seen = true;
			f->syn_seq = p->seq;
			f->syn_ns = p->t;
			st->s.connections++;
			r = attempt(o, f, p->t);
			if (r < 0)
				return r;
		}
		f->n_syn++;
		st->s.syn++;
	}
	if (len > 0) {
		int k = seg_record(&f->dir[d], p->seq, len);

		st->s.dir[d].segments++;
		if (k == 1) {
			st->s.dir[d].retrans++;
			retrans = true;
		} else if (k == 2) {
			st->s.dir[d].out_of_order++;
		}
	}
	if (syn && !ack && d == FL_WIRE_TO_SERVICE && retrans)
		st->s.syn_retrans++;
	if (syn && ack && d == FL_WIRE_FROM_SERVICE) {
		st->s.synack++;
		if (f->syn_seen && !f->synack_seen && p->ack == f->syn_seq + 1) {
			struct obs_stats *at = stats_at(o, phase_of(o, f->syn_ns), f->svc);

			f->synack_seen = true;
			at->s.handshakes++;
			if (at == st)
				st->s.answers++;
			/* Karn: a retransmitted SYN makes the sample ambiguous. */
			if (f->n_syn == 1 && p->t >= f->syn_ns) {
				r = obs_vec_push(&at->rtt, p->t - f->syn_ns, cap);
				if (r < 0)
					return r;
			}
		}
	}
	if (p->data > 0 && !retrans) {
		if (d == FL_WIRE_TO_SERVICE && !f->req_seen) {
			f->req_seen = true;
			f->req_ns = p->t;
		} else if (d == FL_WIRE_FROM_SERVICE && f->req_seen && !f->resp_seen &&
			   p->t >= f->req_ns) {
			struct obs_stats *at = stats_at(o, phase_of(o, f->req_ns), f->svc);

			f->resp_seen = true;
			if (at == st)
				st->s.answers++;
			r = obs_vec_push(&at->gap, p->t - f->req_ns, cap);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

static int udp_packet(struct fl_observer *o, struct obs_flow *f, const struct pkt *p, int d,
		      size_t phase)
{
	struct obs_stats *st = stats_at(o, phase, f->svc);
	int r;

	if (d == FL_WIRE_TO_SERVICE) {
		st->s.udp_requests++;
		if (f->n_pending == OBS_UDP_PENDING) {
			/* The oldest stays unanswered for good. */
			memmove(f->pending, f->pending + 1,
				(OBS_UDP_PENDING - 1) * sizeof(uint64_t));
			f->n_pending--;
		}
		f->pending[f->n_pending++] = p->t;
		return attempt(o, f, p->t);
	}
	{
		uint64_t wait =
			f->udp_gap_ns ? f->udp_gap_ns * OBS_UDP_WAIT_FACTOR : OBS_UDP_WAIT_FIRST_NS;
		uint8_t lost = 0;

		if (wait < OBS_UDP_WAIT_MIN_NS)
			wait = OBS_UDP_WAIT_MIN_NS;
		/* Requests that waited too long are lost: this answer is not theirs. */
		while (lost < f->n_pending && p->t > f->pending[lost] + wait)
			lost++;
		if (lost) {
			memmove(f->pending, f->pending + lost,
				(size_t)(f->n_pending - lost) * sizeof(uint64_t));
			f->n_pending = (uint8_t)(f->n_pending - lost);
		}
	}
	if (f->n_pending > 0 && p->t >= f->pending[0]) {
		uint64_t req = f->pending[0];
		struct obs_stats *at = stats_at(o, phase_of(o, req), f->svc);

		memmove(f->pending, f->pending + 1, (size_t)(f->n_pending - 1) * sizeof(uint64_t));
		f->n_pending--;
		at->s.udp_answered++;
		if (at == st)
			st->s.answers++;
		f->udp_gap_ns = p->t - req;
		r = obs_vec_push(&at->udp_gap, p->t - req, o->opts.max_samples);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Which side of a new flow serves: the service's, else TCP's responder, else the lower port. */
static uint8_t pick_server(const struct pkt *p, bool src_is_0, uint32_t svc, int svc_server)
{
	bool dst_serves;

	if (svc != FL_WIRE_OTHER)
		dst_serves = svc_server == 1;
	else if (p->tcp && (p->flags & TH_SYN))
		dst_serves = !(p->flags & TH_ACK);
	else if (p->sport != p->dport)
		dst_serves = p->dport < p->sport;
	else
		dst_serves = true;
	/* Side 0 of the key is the source iff src_is_0. */
	return (uint8_t)(dst_serves == src_is_0);
}

static int process(struct fl_observer *o, struct pkt *p)
{
	struct fl_wire_endpoint a, b;
	size_t phase;
	uint32_t svc;
	int server = 0, r;

	r = ensure_phases(o);
	if (r < 0)
		return r;
	phase = phase_of(o, p->t);

	if (p->unreach && p->quoted) {
		/* Counted for the service the refused packet was going to. */
		struct pkt *q = p->quoted;
		struct obs_stats *st;

		endpoint_of(q, false, &a);
		endpoint_of(q, true, &b);
		svc = fl_wire_classify(o->plan, &a, &b, NULL);
		st = stats_at(o, phase, svc == FL_WIRE_OTHER ? (uint32_t)o->n_rows - 1 : svc);
		st->s.dir[FL_WIRE_FROM_SERVICE].packets++;
		st->s.dir[FL_WIRE_FROM_SERVICE].bytes += p->iplen;
		st->s.icmp_unreach++;
		return 0;
	}

	if (p->ports && (p->proto == IPPROTO_TCP || p->proto == IPPROTO_UDP)) {
		bool src_is_0;
		struct obs_flow *f = flow_get(o, p, &src_is_0, &r);

		if (f) {
			struct obs_stats *st;
			int d;

			uint32_t link = o->link << 24 | (p->ifindex & 0xffffff);

			if (f->last_ns == 0) {
				/* New: classified once, for all its packets. */
				endpoint_of(p, false, &a);
				endpoint_of(p, true, &b);
				svc = fl_wire_classify(o->plan, &a, &b, &server);
				f->svc = svc == FL_WIRE_OTHER ? (uint32_t)o->n_rows - 1 : svc;
				f->server = pick_server(p, src_is_0, svc, server);
				f->owner = link;
				f->client = UINT32_MAX;
				if (svc != FL_WIRE_OTHER) {
					r = client_of(o, f->svc, f->key.family,
						      f->key.addr[!f->server], &f->client);
					if (r < 0)
						return r;
				}
			}
			f->last_ns = p->t ? p->t : 1;
			d = (f->server == 0) == src_is_0 ? FL_WIRE_FROM_SERVICE
							 : FL_WIRE_TO_SERVICE;
			if (link != f->owner) {
				/*
				 * The same packet on a second device (a router's way
				 * out), unless the flow was first seen mid-way on the
				 * far side: its first packet to the service moves it.
				 */
				if (d != FL_WIRE_TO_SERVICE || f->owner_fixed) {
					o->copies++;
					return 0;
				}
				f->owner = link;
			}
			if (d == FL_WIRE_TO_SERVICE)
				f->owner_fixed = true;
			st = stats_at(o, phase, f->svc);
			st->s.dir[d].packets++;
			st->s.dir[d].bytes += p->iplen;
			if (p->tcp)
				return tcp_packet(o, f, p, d, phase);
			if (p->proto == IPPROTO_UDP)
				return udp_packet(o, f, p, d, phase);
			return 0;
		}
		if (r < 0)
			return r;
	}
	/* No flow: ICMP, other protocols, fragments, or a full table. */
	endpoint_of(p, false, &a);
	endpoint_of(p, true, &b);
	svc = fl_wire_classify(o->plan, &a, &b, &server);
	{
		uint32_t row = svc == FL_WIRE_OTHER ? (uint32_t)o->n_rows - 1 : svc;
		int d = svc != FL_WIRE_OTHER && server == 0 ? FL_WIRE_FROM_SERVICE
							    : FL_WIRE_TO_SERVICE;
		struct obs_stats *st = stats_at(o, phase, row);

		st->s.dir[d].packets++;
		st->s.dir[d].bytes += p->iplen;
	}
	return 0;
}

int obs_feed_link(struct fl_observer *o, uint32_t link, const struct pcap_pkthdr *hdr,
		  const u_char *bytes, int dlt)
{
	struct pkt p = {0}, quoted;
	const u_char *ip;
	size_t cap;
	uint64_t rt = (uint64_t)hdr->ts.tv_sec * 1000000000ULL + (uint64_t)hdr->ts.tv_usec;

	o->packets++;
	if (!decode_link(dlt, bytes, hdr->caplen, &ip, &cap, &p.ifindex) ||
	    !decode_ip(&p, ip, cap, &quoted)) {
		o->ignored++;
		return 0;
	}
	p.t = (uint64_t)((int64_t)rt - o->offset_ns);
	if (o->first_ns == FL_NEVER || p.t < o->first_ns)
		o->first_ns = p.t;
	if (o->last_ns == FL_NEVER || p.t > o->last_ns)
		o->last_ns = p.t;
	o->link = link;
	if (o->phase_fd >= 0 && p.t >= o->phase_read_ns) {
		int r = obs_read_phases(o);

		if (r < 0 && o->phase_err == 0)
			o->phase_err = r;
	}
	return process(o, &p);
}

int fl_observer_feed(struct fl_observer *o, const struct pcap_pkthdr *hdr, const u_char *bytes,
		     int dlt)
{
	return obs_feed_link(o, 0, hdr, bytes, dlt);
}

int fl_observer_feed_file(struct fl_observer *o, const char *path, const char *filter)
{
	_cleanup_(fl_capture_closep) struct fl_capture *c = NULL;
	struct pcap_pkthdr *hdr;
	const u_char *bytes;
	pcap_t *p;
	int dlt, r, k;

	r = fl_capture_open_offline(path, filter, NULL, &c);
	if (r < 0)
		return r;
	p = fl_capture_pcap(c);
	dlt = pcap_datalink(p);
	while ((k = pcap_next_ex(p, &hdr, &bytes)) == 1) {
		r = fl_observer_feed(o, hdr, bytes, dlt);
		if (r < 0)
			return r;
	}
	return k == PCAP_ERROR ? -EIO : 0;
}
