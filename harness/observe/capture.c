/* SPDX-License-Identifier: MIT */
/* Live capture inside a namespace, the run loop, and the --pcap files. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "observe/observe_internal.h"
#include "util/heap.h"

/* The longest one wait may last: deadlines are checked at least this often. */
#define RUN_TICK_NS (100ULL * 1000000ULL)
/* Packets per pcap_dispatch() call, and calls per handle per wake (then the phases again). */
#define DISPATCH_BATCH	512
#define DISPATCH_ROUNDS 64

struct fl_capture {
	pcap_t *p;
	int fd;
	int dlt;
	char dev[64];

	/* --pcap */
	pcap_dumper_t *dumper;
	char *path;
	uint64_t file_bytes, cur_bytes;
	unsigned max_files, file_index;
	uint64_t dump_packets, dump_dropped;
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t real_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void set_err(char *errbuf, const char *msg)
{
	if (errbuf)
		snprintf(errbuf, PCAP_ERRBUF_SIZE, "%s", msg);
}

static int pcap_errno(int k)
{
	switch (k) {
	case PCAP_ERROR_PERM_DENIED:
		return -EPERM;
	case PCAP_ERROR_NO_SUCH_DEVICE:
		return -ENODEV;
	case PCAP_ERROR_IFACE_NOT_UP:
		return -ENETDOWN;
	default:
		return -EIO;
	}
}

/* Compiles and sets a capture filter on p (NULL: none); 0 or -EINVAL, pcap_geterr(p) says why. */
static int pcap_filter(pcap_t *p, const char *filter)
{
	struct bpf_program prog;
	int k;

	if (!filter)
		return 0;
	if (pcap_compile(p, &prog, filter, 1, PCAP_NETMASK_UNKNOWN) < 0)
		return -EINVAL;
	k = pcap_setfilter(p, &prog);
	pcap_freecode(&prog);
	return k < 0 ? -EINVAL : 0;
}

/* Everything fl_capture_open() does once inside the namespace. */
static int open_here(struct fl_capture *c, const char *dev, int snaplen, size_t ring_bytes,
		     const char *filter, char *errbuf)
{
	char eb[PCAP_ERRBUF_SIZE] = "";
	int k;

	c->p = pcap_create(dev, eb);
	if (!c->p) {
		set_err(errbuf, eb);
		return -ENOMEM;
	}
	if (pcap_set_snaplen(c->p, snaplen) < 0 || pcap_set_promisc(c->p, 0) < 0 ||
	    pcap_set_immediate_mode(c->p, 1) < 0 ||
	    pcap_set_buffer_size(c->p, (int)(ring_bytes > INT32_MAX ? INT32_MAX : ring_bytes)) <
		    0 ||
	    pcap_set_tstamp_precision(c->p, PCAP_TSTAMP_PRECISION_NANO) < 0) {
		set_err(errbuf, pcap_geterr(c->p));
		return -EINVAL;
	}
	k = pcap_activate(c->p);
	if (k < 0) {
		set_err(errbuf, pcap_geterr(c->p));
		return pcap_errno(k);
	}
	c->dlt = pcap_datalink(c->p);
	k = pcap_filter(c->p, filter);
	if (k < 0) {
		set_err(errbuf, pcap_geterr(c->p));
		return k;
	}
	if (pcap_setnonblock(c->p, 1, eb) < 0) {
		set_err(errbuf, eb);
		return -EIO;
	}
	c->fd = pcap_get_selectable_fd(c->p);
	if (c->fd < 0) {
		set_err(errbuf, "no selectable descriptor");
		return -EOPNOTSUPP;
	}
	return 0;
}

int fl_capture_open(const char *dev, int netns_fd, int snaplen, size_t ring_bytes,
		    const char *filter, char *errbuf, struct fl_capture **ret)
{
	_cleanup_(fl_capture_closep) struct fl_capture *c = NULL;
	int self = -1, r;

	if (!dev || snaplen < 0)
		return -EINVAL;
	if (snaplen == 0)
		snaplen = FL_CAPTURE_SNAPLEN;
	if (ring_bytes < FL_CAPTURE_RING_BYTES)
		ring_bytes = FL_CAPTURE_RING_BYTES;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->fd = -1;
	snprintf(c->dev, sizeof(c->dev), "%s", dev);

	if (netns_fd >= 0) {
		self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
		if (self < 0)
			return -errno;
		if (setns(netns_fd, CLONE_NEWNET) < 0) {
			r = -errno;
			close(self);
			set_err(errbuf, "setns into the capture's namespace failed");
			return r;
		}
	}
	/* The packet socket belongs to the namespace it is created in, for good. */
	r = open_here(c, dev, snaplen, ring_bytes, filter, errbuf);
	if (self >= 0) {
		int back = setns(self, CLONE_NEWNET) < 0 ? -errno : 0;

		close(self);
		if (back < 0) {
			set_err(errbuf, "cannot return to the caller's namespace");
			return back;
		}
	}
	if (r < 0)
		return r;
	*ret = TAKE_PTR(c);
	return 0;
}

int fl_capture_open_offline(const char *path, const char *filter, char *errbuf,
			    struct fl_capture **ret)
{
	_cleanup_(fl_capture_closep) struct fl_capture *c = NULL;
	char eb[PCAP_ERRBUF_SIZE] = "";
	const char *base;
	int r;

	if (!path)
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->fd = -1;
	base = strrchr(path, '/');
	snprintf(c->dev, sizeof(c->dev), "%s", base ? base + 1 : path);
	c->p = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_NANO, eb);
	if (!c->p) {
		set_err(errbuf, eb);
		return access(path, R_OK) < 0 ? -errno : -EINVAL;
	}
	c->dlt = pcap_datalink(c->p);
	r = pcap_filter(c->p, filter);
	if (r < 0) {
		set_err(errbuf, pcap_geterr(c->p));
		return r;
	}
	/* A file's descriptor: always readable, and a read at its end returns 0 packets. */
	c->fd = pcap_get_selectable_fd(c->p);
	if (c->fd < 0) {
		set_err(errbuf, "no selectable descriptor");
		return -EOPNOTSUPP;
	}
	*ret = TAKE_PTR(c);
	return 0;
}

void fl_capture_close(struct fl_capture *c)
{
	if (!c)
		return;
	if (c->dumper)
		pcap_dump_close(c->dumper);
	if (c->p)
		pcap_close(c->p);
	free(c->path);
	free(c);
}

pcap_t *fl_capture_pcap(struct fl_capture *c)
{
	return c->p;
}

/* pcap file header; each record adds 16 bytes of its own header. */
#define PCAP_FILE_HEADER   24u
#define PCAP_RECORD_HEADER 16u

int fl_capture_dump(struct fl_capture *c, const char *path, uint64_t file_bytes, unsigned max_files)
{
	_cleanup_free_ char *copy = NULL;
	pcap_dumper_t *d;

	if (!path || max_files == 0 || file_bytes <= PCAP_FILE_HEADER || c->dumper)
		return -EINVAL;
	copy = strdup(path);
	if (!copy)
		return -ENOMEM;
	d = pcap_dump_open(c->p, path);
	if (!d)
		return errno ? -errno : -EIO;
	c->dumper = d;
	c->path = TAKE_PTR(copy);
	c->file_bytes = file_bytes;
	c->max_files = max_files;
	c->file_index = 0;
	c->cur_bytes = PCAP_FILE_HEADER;
	return 0;
}

/* Moves to path.N when the current file is full; false when every file is used. */
static bool dump_rotate(struct fl_capture *c)
{
	char *name;

	pcap_dump_close(c->dumper);
	c->dumper = NULL;
	if (c->file_index + 1 >= c->max_files)
		return false;
	c->file_index++;
	if (asprintf(&name, "%s.%u", c->path, c->file_index) < 0)
		return false;
	c->dumper = pcap_dump_open(c->p, name);
	free(name);
	c->cur_bytes = PCAP_FILE_HEADER;
	return c->dumper != NULL;
}

static void dump_packet(struct fl_capture *c, const struct pcap_pkthdr *hdr, const u_char *bytes)
{
	uint64_t rec = PCAP_RECORD_HEADER + hdr->caplen;

	if (!c->path)
		return;
	/* Full: the next file; none left (or it could not be made): stop writing. */
	if (c->dumper && c->cur_bytes + rec > c->file_bytes && c->cur_bytes > PCAP_FILE_HEADER)
		dump_rotate(c);
	if (!c->dumper) {
		c->dump_dropped++;
		return;
	}
	pcap_dump((u_char *)c->dumper, hdr, bytes);
	c->cur_bytes += rec;
	c->dump_packets++;
}

/*
 * With several captures, packets are fed in time order across them: a flow
 * belongs to the device its first packet to the service is seen on (a
 * router's way in from the client), so that sighting must come first even
 * when another handle is read first. A packet is held until every handle
 * has been read past its time (plus MERGE_HOLD_NS for a tap still being
 * written on the other CPU); at most MERGE_MAX are held.
 */
#define MERGE_HOLD_NS (2ULL * 1000000ULL)
#define MERGE_MAX     (1u << 16)

struct held {
	uint64_t ts;  /* CLOCK_REALTIME, as stamped */
	uint64_t seq; /* order of reading: ties keep it */
	uint32_t link;
	int dlt;
	struct pcap_pkthdr hdr;
	u_char bytes[];
};

struct merge {
	struct fl_heap heap; /* of struct held *, on (ts, seq) */
	uint64_t seq;
};

static bool held_before(const void *a, const void *b)
{
	const struct held *x = *(struct held *const *)a, *y = *(struct held *const *)b;

	return x->ts != y->ts ? x->ts < y->ts : x->seq < y->seq;
}

static const struct held *merge_top(const struct merge *m)
{
	struct held *const *top = fl_heap_top(&m->heap);

	return top ? *top : NULL;
}

/* Feeds the first held packet. */
static int merge_feed_one(struct fl_observer *o, struct merge *m)
{
	struct held *h;
	int r;

	fl_heap_pop(&m->heap, &h);
	r = obs_feed_link(o, h->link, &h->hdr, h->bytes, h->dlt);
	free(h);
	return r;
}

/* Feeds the held packets stamped before `before` (CLOCK_REALTIME; UINT64_MAX: all). */
static int merge_flush(struct fl_observer *o, struct merge *m, uint64_t before)
{
	while (merge_top(m) && merge_top(m)->ts < before) {
		int r = merge_feed_one(o, m);

		if (r < 0)
			return r;
	}
	return 0;
}

static int merge_push(struct fl_observer *o, struct merge *m, uint32_t link, int dlt,
		      const struct pcap_pkthdr *hdr, const u_char *bytes)
{
	struct held *h;
	int r;

	if (m->heap.n >= MERGE_MAX) {
		/* Full: the oldest goes now. */
		r = merge_feed_one(o, m);
		if (r < 0)
			return r;
	}
	h = malloc(sizeof(*h) + hdr->caplen);
	if (!h)
		return -ENOMEM;
	*h = (struct held){
		.ts = (uint64_t)hdr->ts.tv_sec * 1000000000ULL + (uint64_t)hdr->ts.tv_usec,
		.seq = m->seq++,
		.link = link,
		.dlt = dlt,
		.hdr = *hdr,
	};
	memcpy(h->bytes, bytes, hdr->caplen);
	r = fl_heap_push(&m->heap, &h);
	if (r < 0)
		free(h);
	return r;
}

static void merge_free(struct merge *m)
{
	while (merge_top(m)) {
		struct held *h;

		fl_heap_pop(&m->heap, &h);
		free(h);
	}
	fl_heap_done(&m->heap);
}

struct dispatch_ctx {
	struct fl_observer *o;
	struct fl_capture *c;
	struct merge *m; /* NULL: one capture, fed at once */
	uint32_t link;
	int r;
};

static void on_packet(u_char *user, const struct pcap_pkthdr *hdr, const u_char *bytes)
{
	struct dispatch_ctx *ctx = (struct dispatch_ctx *)(void *)user;
	int r;

	dump_packet(ctx->c, hdr, bytes);
	if (ctx->m)
		r = merge_push(ctx->o, ctx->m, ctx->link, ctx->c->dlt, hdr, bytes);
	else
		r = obs_feed_link(ctx->o, ctx->link, hdr, bytes, ctx->c->dlt);
	if (r < 0 && ctx->r == 0)
		ctx->r = r;
}

/* Reads what is there, without blocking: at most rounds batches. */
static int drain(struct fl_observer *o, struct merge *m, struct fl_capture *c, uint32_t link,
		 int rounds)
{
	struct dispatch_ctx ctx = {.o = o, .c = c, .m = m, .link = link};

	for (int i = 0; i < rounds; i++) {
		int k = pcap_dispatch(c->p, DISPATCH_BATCH, on_packet, (u_char *)&ctx);

		if (ctx.r < 0)
			return ctx.r;
		if (k == PCAP_ERROR)
			return -EIO;
		if (k < DISPATCH_BATCH)
			break; /* nothing more for now (0), or a break (PCAP_ERROR_BREAK) */
	}
	return 0;
}

static int record_stats(struct fl_observer *o, struct fl_capture *const *captures, size_t n)
{
	struct fl_wire_capture_stats *cs = calloc(n ? n : 1, sizeof(*cs));

	if (!cs)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct pcap_stat ps;

		snprintf(cs[i].dev, sizeof(cs[i].dev), "%s", captures[i]->dev);
		if (pcap_stats(captures[i]->p, &ps) == 0) {
			cs[i].received = ps.ps_recv;
			cs[i].dropped = ps.ps_drop;
			cs[i].if_dropped = ps.ps_ifdrop;
		}
		cs[i].dump_packets = captures[i]->dump_packets;
		cs[i].dump_dropped = captures[i]->dump_dropped;
		if (captures[i]->dumper)
			pcap_dump_flush(captures[i]->dumper);
	}
	free(o->captures);
	o->captures = cs;
	o->n_captures = n;
	return 0;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/*
 * Waits and reads until a stop condition; the phase pipe is read before
 * the packets of each wake (and again inside, see obs_feed_link()).
 */
static int run_loop(struct fl_observer *o, struct merge *m, struct fl_capture *const *captures,
		    size_t n, struct pollfd *pfd, uint64_t stop_ns, enum fl_observer_stop *ret_stop)
{
	size_t i_phase = n, i_stop = n + 1;

	while (*ret_stop == FL_OBS_STOP_NONE) {
		const struct fl_phase_tracker *t = o->tracker;
		uint64_t now = mono_ns(), end = FL_NEVER, wait;
		int k;

		if (t->end_ns != FL_NEVER)
			end = t->end_ns + o->opts.grace_ns;
		else if (o->hangup_ns != FL_NEVER)
			end = o->hangup_ns + o->opts.grace_ns;
		if (stop_ns != FL_NEVER && now >= stop_ns) {
			*ret_stop = FL_OBS_STOP_DEADLINE;
			break;
		}
		if (end != FL_NEVER && now >= end) {
			*ret_stop = FL_OBS_STOP_END;
			break;
		}
		wait = RUN_TICK_NS;
		if (stop_ns != FL_NEVER)
			wait = min_u64(wait, stop_ns - now);
		if (end != FL_NEVER)
			wait = min_u64(wait, end - now);

		pfd[i_phase].fd = o->phase_fd; /* -1 once the writer hung up */
		k = poll(pfd, n + 2, (int)((wait + 999999) / 1000000));
		if (k < 0 && errno != EINTR)
			return -errno;
		if (k > 0 && pfd[i_stop].fd >= 0 && pfd[i_stop].revents)
			*ret_stop = FL_OBS_STOP_FD;
		/* Phases before packets, so a packet finds the phase it was in. */
		if (o->phase_fd >= 0 && pfd[i_phase].revents) {
			k = obs_read_phases(o);
			if (k < 0)
				return k;
		}
		/*
		 * Every handle, ready or not: non-blocking reads cost nothing when
		 * empty, and a TPACKET_V3 block that is not handed over yet is
		 * picked up at the next tick rather than waited for.
		 */
		uint64_t read_at = real_ns();

		for (size_t i = 0; i < n; i++) {
			int r = drain(o, m, captures[i], (uint32_t)i, DISPATCH_ROUNDS);

			if (r < 0)
				return r;
			if (o->phase_err < 0)
				return o->phase_err;
		}
		if (m) {
			int r = merge_flush(o, m, read_at - MERGE_HOLD_NS);

			if (r < 0)
				return r;
			if (o->phase_err < 0)
				return o->phase_err;
		}
	}
	return 0;
}

int fl_observer_run(struct fl_observer *o, struct fl_capture *const *captures, size_t n,
		    int phase_fd, int stop_fd, uint64_t stop_ns, enum fl_observer_stop *ret_stop)
{
	_cleanup_free_ struct pollfd *pfd = NULL;
	enum fl_observer_stop stop = FL_OBS_STOP_NONE;
	size_t i_phase = n, i_stop = n + 1;
	struct merge m = {.heap = FL_HEAP_INIT(struct held *, held_before)};
	int r = 0;

	if (n > 0xff)
		return -EINVAL; /* the capture index has 8 bits in a flow's owner */
	pfd = calloc(n + 2, sizeof(*pfd));
	if (!pfd)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		pfd[i] = (struct pollfd){.fd = captures[i]->fd, .events = POLLIN};
	pfd[i_phase] = (struct pollfd){.fd = phase_fd, .events = POLLIN};
	pfd[i_stop] = (struct pollfd){.fd = stop_fd, .events = POLLIN};
	if (phase_fd >= 0) {
		/* A blocking read would stall the loop; the read end is ours alone. */
		int fl = fcntl(phase_fd, F_GETFL);

		if (fl < 0 || (!(fl & O_NONBLOCK) && fcntl(phase_fd, F_SETFL, fl | O_NONBLOCK) < 0))
			return -errno;
	}
	o->phase_fd = phase_fd;
	o->phase_read_ns = 0;
	o->hangup_ns = FL_NEVER;
	o->phase_err = 0;
	r = run_loop(o, n > 1 ? &m : NULL, captures, n, pfd, stop_ns, &stop);
	/* What is left: the last events, then the last packets. */
	if (r == 0 && o->phase_fd >= 0)
		r = obs_read_phases(o);
	for (size_t i = 0; r == 0 && i < n; i++) {
		r = drain(o, n > 1 ? &m : NULL, captures[i], (uint32_t)i, 4096);
		if (r == 0)
			r = o->phase_err;
	}
	if (r == 0)
		r = merge_flush(o, &m, UINT64_MAX);
	if (r == 0)
		r = o->phase_err;
	merge_free(&m);
	o->phase_fd = -1;
	if (r < 0)
		return r;
	r = record_stats(o, captures, n);
	if (r < 0)
		return r;
	o->stop = stop;
	if (ret_stop)
		*ret_stop = stop;
	return 0;
}
