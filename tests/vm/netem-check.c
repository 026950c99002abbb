/* SPDX-License-Identifier: MIT */
/*
 * The netem kinds integration_fault has no check for, measured with real
 * traffic in the namespaces of tests/integration (topo.h), on a kernel with
 * sch_netem (the VM tier, docs/VM-TIER.md). Usage:
 *
 *   vm_netem_check CASE [--known-bugs]     CASE.yaml + CASE.check
 *
 * The cycle is integration_fault's: baseline; the engine applies the leading
 * fault steps; every check runs against server A and its control against B;
 * the scenario's heal and end steps; the journal is empty and gone and the
 * client namespace's state is byte-identical to before; then once more, the
 * first check only (on a quarter of the sample, but for seed-repeat,
 * delay-corr and rate-queue), healed by fl_engine_revert_all().
 *
 * Paced for an emulated guest on a shared host (docs/VM-TIER.md): echoes
 * 0.5-5 ms apart, long waits for stragglers, B measured at the same moments
 * as A where timing matters.
 *
 * Every statistical part (a 99% interval, a range of a simulated model, the
 * DKW band) that misses is logged, and one fresh sample (a new measurement
 * with new traffic) decides alone: a miss in it fails (resampled() and
 * held() below). A check made once would fail by chance about once in 100
 * runs; a real defect misses twice. What must hold exactly (nothing lost,
 * one flipped bit, B untouched, the seed's repeat) is asserted in every
 * sample and never resampled.
 *
 * CASE.check lines (F: 4, 6 or 4,6; `#` starts a comment):
 *   engine E                       the planner chose engine E for every fault
 *   known-bug NAME                 this case may meet that bug (bugs[]): it is
 *                                  logged as KNOWN BUG; --known-bugs fails on
 *                                  it; a declared bug that is gone fails
 *   F delay-dist N D J DIST        N echoes to A and to B in pairs, B's replies
 *                                  through a plain netem of delay D: A's round
 *                                  trips follow netem's D +- J with DIST
 *                                  (uniform: no table; else the engine's table,
 *                                  drawn as tabledist() does) on top of B's,
 *                                  within the DKW band at alpha 0.001
 *   F loss N P towards|from        N echoes 1 ms apart: the lost ones inside the
 *                                  99% binomial interval of P; A received
 *                                  exactly the echoed ones (towards) or all
 *                                  (from): integration_fault's udp-loss paced
 *                                  for a guest whose server may read its
 *                                  backlog long after that check's 500 ms
 *   F duplicate N P                A receives N + d datagrams, d inside the 99%
 *                                  binomial interval of P; every copy is echoed
 *   F corrupt N P                  frames captured on A's eth0 (AF_PACKET): the
 *                                  damaged ones inside the 99% interval of P,
 *                                  each exactly one flipped bit where that can
 *                                  be told; B's frames all intact
 *   F reorder N P D                pairs 5 ms apart: A's echoes not delayed by D
 *                                  (against B's at the same moment) inside the
 *                                  99% interval of P; the rest D late; some
 *                                  overtake earlier ones
 *   F loss-burst N P C             loss P with correlation C, echoes one at a
 *                                  time: the loss count and the count of losses
 *                                  right after a loss inside the 0.1..99.9%
 *                                  range of netem's correlated model, simulated
 *   F seed-repeat N P              loss P with the step's seed: both passes
 *                                  lose the same echoes, exactly; the loss
 *                                  count inside the 99% interval of P (must be
 *                                  the first check)
 *   F delay-corr N D J C           delay D +- J (normal) with correlation C:
 *                                  the lag-1 autocorrelation of A's added
 *                                  delays is at least half what C gives when
 *                                  the table index keeps the correlated bits
 *   F rate-queue MS                while a bulk upload fills the rate fault on
 *                                  A's sink, a new connection to it completes
 *                                  within MS (the queue holds no more than that)
 * Exits 77 without root or network namespaces.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <math.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include "engine/dist.h"
#include "it-engine.h"
#include "scenario/fault.h"
#include "traffic.h"
#include "util/units.h"

enum kind { K_DIST, K_DUP, K_CORRUPT, K_REORDER, K_BURST, K_SEED, K_QUEUE, K_DCORR, K_LOSS };

static const struct {
	const char *name;
	unsigned n_args; /* after N */
} kinds[] = {
	[K_DIST] = {"delay-dist", 3},  [K_DUP] = {"duplicate", 1},    [K_CORRUPT] = {"corrupt", 1},
	[K_REORDER] = {"reorder", 2},  [K_BURST] = {"loss-burst", 2}, [K_SEED] = {"seed-repeat", 1},
	[K_QUEUE] = {"rate-queue", 0}, [K_DCORR] = {"delay-corr", 3}, [K_LOSS] = {"loss", 2},
};

/*
 * Engine bugs a case may declare: the check logs KNOWN BUG and goes on;
 * with --known-bugs it fails instead. A declared bug that does not show
 * is not tolerated anywhere else.
 */
enum bug { BUG_NETEM_SEED, BUG_NETEM_DELAY_CORR, BUG_PROBE_TBF, _BUG_MAX };
static const char *const bugs[] = {
	/* TCA_NETEM_PRNG_SEED is newer than this kernel, which ignores it silently. */
	[BUG_NETEM_SEED] = "netem-seed-ignored",
	/* netem indexes its table with rnd % size: the correlated bits are thrown away. */
	[BUG_NETEM_DELAY_CORR] = "netem-delay-correlation",
	/*
	 * probe.c tries tbf on the root netem just took, with the same handle:
	 * the kernel takes that as a change of the netem, refuses the kind.
	 */
	[BUG_PROBE_TBF] = "probe-tbf-after-netem",
};
static bool allowed[_BUG_MAX], strict;

struct check {
	enum kind kind;
	unsigned fams;
	unsigned n;
	double p, c;	     /* probabilities (P, C) */
	uint64_t d_ns, j_ns; /* D, J */
	enum fl_distribution dist;
	bool from; /* loss: on packets from A (ingress) */
	char text[160];
};

static struct {
	enum fl_engine engine;
	bool have_engine;
	struct check checks[16];
	size_t n_checks;
} X;

static const struct topo *T;
static struct it_run *RUN;
static const struct fl_scenario *S;

static void known_bug(enum bug b, const char *what)
{
	if (!allowed[b] || strict)
		it_fail("%s (engine bug %s)", what, bugs[b]);
	it_log("KNOWN BUG %s: %s", bugs[b], what);
}

/* ---- the .check file --------------------------------------------------------------- */

static void parse_check(const char *path)
{
	FILE *f = fopen(path, "re");
	char line[512];
	unsigned no = 0;

	it_assert(f, "cannot read %s: %m", path);
	while (fgets(line, sizeof(line), f)) {
		char *tok[8], *save = NULL;
		size_t n = 0, k;
		uint32_t ppb;

		no++;
		line[strcspn(line, "#\n")] = '\0';
		for (char *s = strtok_r(line, " \t", &save); s && n < ELEMENTSOF(tok);
		     s = strtok_r(NULL, " \t", &save))
			tok[n++] = s;
		if (n == 0)
			continue;
		if (strcmp(tok[0], "engine") == 0) {
			it_assert(n == 2, "%s:%u: engine NAME", path, no);
			for (X.engine = FL_ENGINE_AUTO; X.engine < _FL_ENGINE_MAX; X.engine++)
				if (strcmp(fl_engine_to_string(X.engine), tok[1]) == 0)
					break;
			it_assert(X.engine < _FL_ENGINE_MAX, "%s:%u: unknown engine", path, no);
			X.have_engine = true;
			continue;
		}
		if (strcmp(tok[0], "known-bug") == 0) {
			for (k = 0; k < _BUG_MAX; k++)
				if (n == 2 && strcmp(bugs[k], tok[1]) == 0)
					allowed[k] = true;
			continue;
		}
		it_assert(n >= 3 && X.n_checks < ELEMENTSOF(X.checks),
			  "%s:%u: expected FAMILIES CHECK N ...", path, no);
		struct check *c = &X.checks[X.n_checks++];
		*c = (struct check){0};
		for (const char *s = tok[0]; *s; s++)
			if (*s == '4' || *s == '6')
				c->fams |= 1u << (*s == '4' ? IT_V4 : IT_V6);
			else
				it_assert(*s == ',', "%s:%u: families are 4, 6 or 4,6", path, no);
		for (k = 0; k < ELEMENTSOF(kinds); k++)
			if (strcmp(kinds[k].name, tok[1]) == 0)
				break;
		it_assert(k < ELEMENTSOF(kinds), "%s:%u: unknown check %s", path, no, tok[1]);
		c->kind = (enum kind)k;
		it_assert(n == 3 + kinds[k].n_args, "%s:%u: %s takes %u arguments after N", path,
			  no, tok[1], kinds[k].n_args);
		c->n = (unsigned)strtoul(tok[2], NULL, 10);
		it_assert(c->n >= 100, "%s:%u: N (MS for rate-queue) must be at least 100", path,
			  no);
		snprintf(c->text, sizeof(c->text), "%s %s", tok[1], tok[2]);
		for (size_t a = 3; a < n; a++) {
			size_t len = strlen(c->text);
			snprintf(c->text + len, sizeof(c->text) - len, " %s", tok[a]);
		}
		switch (c->kind) {
		case K_DIST:
			it_assert(fl_parse_duration(tok[3], &c->d_ns) == 0 &&
					  fl_parse_duration(tok[4], &c->j_ns) == 0 && c->j_ns > 0,
				  "%s:%u: delay-dist N DELAY JITTER DIST", path, no);
			for (c->dist = FL_DIST_UNIFORM; c->dist <= FL_DIST_PARETONORMAL; c->dist++)
				if (strcmp(fl_distribution_to_string(c->dist), tok[5]) == 0)
					break;
			it_assert(c->dist <= FL_DIST_PARETONORMAL, "%s:%u: unknown distribution",
				  path, no);
			break;
		case K_REORDER:
			it_assert(fl_parse_duration(tok[4], &c->d_ns) == 0, "%s:%u: bad delay",
				  path, no);
			/* fall through */
		case K_DUP:
		case K_CORRUPT:
		case K_SEED:
			it_assert(fl_parse_percent(tok[3], &ppb) == 0, "%s:%u: bad percentage",
				  path, no);
			c->p = ppb / 1e9;
			break;
		case K_QUEUE:
			break;
		case K_LOSS:
			it_assert(fl_parse_percent(tok[3], &ppb) == 0 &&
					  (strcmp(tok[4], "from") == 0 ||
					   strcmp(tok[4], "towards") == 0),
				  "%s:%u: loss N P towards|from", path, no);
			c->p = ppb / 1e9;
			c->from = strcmp(tok[4], "from") == 0;
			break;
		case K_DCORR:
			it_assert(fl_parse_duration(tok[3], &c->d_ns) == 0 &&
					  fl_parse_duration(tok[4], &c->j_ns) == 0 &&
					  fl_parse_percent(tok[5], &ppb) == 0,
				  "%s:%u: delay-corr N DELAY JITTER CORRELATION", path, no);
			c->c = ppb / 1e9;
			break;
		case K_BURST:
			it_assert(fl_parse_percent(tok[3], &ppb) == 0, "%s:%u: bad percentage",
				  path, no);
			c->p = ppb / 1e9;
			it_assert(fl_parse_percent(tok[4], &ppb) == 0, "%s:%u: bad percentage",
				  path, no);
			c->c = ppb / 1e9;
			break;
		}
		it_assert(c->kind != K_SEED || X.n_checks == 1,
			  "%s:%u: seed-repeat must be the first check", path, no);
	}
	fclose(f);
	it_assert(X.n_checks > 0, "%s: no checks", path);
}

/* ---- traffic of our own ------------------------------------------------------------- */

static socklen_t addr_of(int fam, const char *ip, uint16_t port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (fam == IT_V4) {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;
		a->sin_family = AF_INET;
		a->sin_port = htons(port);
		it_assert(inet_pton(AF_INET, ip, &a->sin_addr) == 1, "bad address %s", ip);
		return sizeof(*a);
	}
	struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
	a->sin6_family = AF_INET6;
	a->sin6_port = htons(port);
	it_assert(inet_pton(AF_INET6, ip, &a->sin6_addr) == 1, "bad address %s", ip);
	return sizeof(*a);
}

static int udp_to(int srv, int fam)
{
	struct sockaddr_storage ss;
	socklen_t len = addr_of(fam, T->srv[srv].addr[fam], IT_PORT_ECHO, &ss);
	int fd = topo_socket(T, -1, fam == IT_V4 ? AF_INET : AF_INET6, SOCK_DGRAM, 0);

	it_assert(fd >= 0, "socket: %s", strerror(-fd));
	it_assert(connect(fd, (struct sockaddr *)&ss, len) == 0, "connect: %m");
	return fd;
}

/*
 * Payloads that check themselves: the sequence number, then bytes that
 * follow from it, so a flipped bit anywhere in them is seen without the
 * UDP checksum (which a packet socket may see before it is filled in).
 */
#define PAYLOAD 200
static void payload(uint32_t tag, uint32_t seq, uint8_t *buf)
{
	uint64_t x = ((uint64_t)tag << 32 | seq) * 0x9e3779b97f4a7c15ull + 1;

	memcpy(buf, &tag, 4);
	memcpy(buf + 4, &seq, 4);
	for (size_t i = 8; i < PAYLOAD; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		buf[i] = (uint8_t)x;
	}
}

struct burst {
	unsigned sent, echoes, distinct;
	uint64_t server_rx;
	uint8_t *copies; /* per seq: echoes that came back */
};

/*
 * n datagrams of PAYLOAD bytes, one every interval_us, counting every echo
 * (a duplicate's too); waits linger_ms after the last for stragglers. If cap_fd
 * >= 0 (a packet socket), on_frame() is fed what it captures meanwhile.
 */
static void udp_burst(int srv, int fam, unsigned n, unsigned interval_us, unsigned linger_ms,
		      uint32_t tag, struct burst *b, int cap_fd,
		      void (*on_frame)(const uint8_t *f, size_t len, int pkttype, void *u), void *u)
{
	int fd = udp_to(srv, fam);
	uint64_t rx0 = __atomic_load_n(&T->srv[srv].ctr->udp_rx[fam], __ATOMIC_SEQ_CST);
	uint64_t next = it_now_us(), end = UINT64_MAX;
	uint8_t buf[2048];
	unsigned i = 0;

	*b = (struct burst){.copies = calloc(n, 1)};
	it_assert(b->copies, "out of memory");
	while (it_now_us() < end) {
		if (i < n && it_now_us() >= next) {
			payload(tag, i, buf);
			if (send(fd, buf, PAYLOAD, 0) == PAYLOAD)
				b->sent++;
			next += interval_us;
			if (++i == n)
				end = it_now_us() + linger_ms * 1000ull;
		}
		for (;;) {
			ssize_t k = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
			uint32_t t, seq;
			if (k < 0)
				break;
			if (k != PAYLOAD)
				continue;
			memcpy(&t, buf, 4);
			memcpy(&seq, buf + 4, 4);
			if (t == tag && seq < n) {
				b->echoes++;
				b->distinct += b->copies[seq] == 0;
				if (b->copies[seq] < UINT8_MAX)
					b->copies[seq]++;
			}
		}
		while (cap_fd >= 0) {
			struct sockaddr_ll from;
			socklen_t fl = sizeof(from);
			ssize_t k = recvfrom(cap_fd, buf, sizeof(buf), MSG_DONTWAIT,
					     (struct sockaddr *)&from, &fl);
			if (k < 0)
				break;
			on_frame(buf, (size_t)k, from.sll_pkttype, u);
		}
		struct pollfd p[2] = {{fd, POLLIN, 0}, {cap_fd, POLLIN, 0}};
		poll(p, cap_fd >= 0 ? 2 : 1, 1);
	}
	close(fd);
	b->server_rx = __atomic_load_n(&T->srv[srv].ctr->udp_rx[fam], __ATOMIC_SEQ_CST) - rx0;
}

/* ---- statistical checks: a miss, then one fresh sample that decides ------------------ */

/*
 * A 99% interval misses by chance once in 100 samples; a check made once
 * would fail that often. Every statistical check is therefore a sample():
 * one measurement with traffic of its own, which asserts what must hold
 * exactly and judges its statistical part with held(). resampled() calls
 * it with last false; if that sample misses, once more with last true: that
 * fresh sample alone decides, and a miss in it fails (held() asserts). A
 * wrong rate, or none at all, misses both. u: the check's own state.
 */
typedef bool sample_fn(const struct check *c, int fam, bool last, void *u);

static void resampled(sample_fn *sample, const struct check *c, int fam, void *u)
{
	if (!sample(c, fam, false, u))
		sample(c, fam, true, u);
}

/*
 * The statistical part of a sample: true if ok. Else fmt says how A's
 * measurement missed: in the first sample that is logged and false
 * returned (take the fresh one), in the last it fails, "twice in a row".
 */
static bool held(const struct check *c, int fam, bool last, bool ok, const char *fmt, ...)
	_printf_(5, 6);
static bool held(const struct check *c, int fam, bool last, bool ok, const char *fmt, ...)
{
	char what[512];
	va_list ap;

	if (ok)
		return true;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	it_assert(!last, "%s %s: %s, twice in a row", c->text, it_fam_name(fam), what);
	it_log("  A %s: %s: %s: one fresh sample decides", it_fam_name(fam), c->text, what);
	return false;
}

/* ---- delay distributions ---------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double quantile(const double *v, size_t n, double q)
{
	double pos = q * (double)(n - 1);
	size_t i = (size_t)pos;

	return i + 1 < n ? v[i] + (pos - (double)i) * (v[i + 1] - v[i]) : v[n - 1];
}

/*
 * Round trips to A and B at the same time: echo i goes to A and to B
 * together, one pair every interval_us, so both see the same moments of this
 * (emulated, shared) machine. B's are the noise A's carry on top of what
 * netem adds. Every echo must come back: no loss is asked.
 */
#define PAIR_INTERVAL_US 5000
static void rtt_pair(const struct check *c, int fam, unsigned n, double *a_us, double *b_us)
{
	const uint64_t wait_us = (c->d_ns + 5 * c->j_ns) / 1000 + 2000000;
	double *out[IT_N_SERVERS] = {a_us, b_us};
	_cleanup_free_ uint64_t *sent_at = calloc(n, sizeof(uint64_t));
	int fd[IT_N_SERVERS];
	unsigned got[IT_N_SERVERS] = {0}, i = 0;
	uint32_t tag = (uint32_t)random();
	uint64_t next = it_now_us(), end = UINT64_MAX;

	it_assert(sent_at, "out of memory");
	for (int srv = 0; srv < IT_N_SERVERS; srv++) {
		fd[srv] = udp_to(srv, fam);
		for (unsigned k = 0; k < n; k++)
			out[srv][k] = -1;
	}
	while ((got[IT_A] < n || got[IT_B] < n) && it_now_us() < end) {
		if (i < n && it_now_us() >= next) {
			uint32_t msg[2] = {tag, i};
			sent_at[i] = it_now_us();
			for (int srv = 0; srv < IT_N_SERVERS; srv++)
				it_assert(send(fd[srv], msg, sizeof(msg), 0) == sizeof(msg),
					  "%s %s: send to %c: %m", c->text, it_fam_name(fam),
					  T->srv[srv].name);
			next += PAIR_INTERVAL_US;
			if (++i == n)
				end = it_now_us() + wait_us;
		}
		struct pollfd p[IT_N_SERVERS] = {{fd[IT_A], POLLIN, 0}, {fd[IT_B], POLLIN, 0}};
		uint64_t now = it_now_us(), until = i < n ? next : end;
		poll(p, IT_N_SERVERS, until > now ? (int)((until - now) / 1000) : 0);
		now = it_now_us();
		for (int srv = 0; srv < IT_N_SERVERS; srv++) {
			uint32_t msg[2];
			while (recv(fd[srv], msg, sizeof(msg), MSG_DONTWAIT) == sizeof(msg))
				if (msg[0] == tag && msg[1] < i && out[srv][msg[1]] < 0) {
					out[srv][msg[1]] = (double)(now - sent_at[msg[1]]);
					got[srv]++;
				}
		}
	}
	for (int srv = 0; srv < IT_N_SERVERS; srv++)
		close(fd[srv]);
	it_assert(got[IT_A] == n && got[IT_B] == n,
		  "%s %s: %u of %u echoes from A and %u from B came back: no echo may be lost "
		  "(no loss asked)",
		  c->text, it_fam_name(fam), got[IT_A], n, got[IT_B]);
}

/* netem's tabledist() for one table entry t (sch_netem.c), in ns. */
static double netem_value(double mu, int64_t sigma, int16_t t)
{
	int64_t x = (sigma % FL_DIST_SCALE) * t;

	x += x >= 0 ? FL_DIST_SCALE / 2 : -FL_DIST_SCALE / 2;
	return (double)(x / FL_DIST_SCALE + (sigma / FL_DIST_SCALE) * t) + mu;
}

/* P(added delay <= x us) as netem draws it. */
struct dist {
	enum fl_distribution d;
	double mu_us, sigma_us;
	double values[FL_DIST_SIZE]; /* us, sorted */
};

static double dist_cdf(const struct dist *D, double x)
{
	if (D->d == FL_DIST_UNIFORM) {
		double f = (x - (D->mu_us - D->sigma_us)) / (2 * D->sigma_us);
		return f < 0 ? 0 : f > 1 ? 1 : f;
	}
	size_t lo = 0, hi = FL_DIST_SIZE;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (D->values[mid] <= x)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (double)lo / FL_DIST_SIZE;
}

/* netem's own q-quantile of the added delay, in us (for the log). */
static double dist_quantile(const struct dist *D, double q)
{
	if (D->d == FL_DIST_UNIFORM)
		return D->mu_us - D->sigma_us + 2 * q * D->sigma_us;
	return D->values[(size_t)(q * (FL_DIST_SIZE - 1))];
}

/*
 * What A's round trips should look like: netem's delay plus the noise B's
 * round trips (through a jitter-free netem of the same mean) show at the
 * same moments, F(x) = mean_j P(D <= x - b_j + mean). A's
 * empirical CDF must stay within eps of it everywhere: eps is the
 * Dvoretzky-Kiefer-Wolfowitz bound for A's sample at alpha 0.001, plus
 * 4 standard errors of the mean over B's sample at that point. A wrong
 * distribution misses in both samples; timing noise of this emulated guest
 * that B's round trips did not show (a host busy elsewhere) rarely spoils
 * two in a row.
 */
static bool dist_sample(const struct check *c, int fam, bool last, void *u)
{
	const unsigned n = c->n;
	_cleanup_free_ double *a = calloc(n, sizeof(double));
	_cleanup_free_ double *b = calloc(n, sizeof(double));
	const double eps_a = sqrt(log(2 / 0.001) / (2.0 * n));
	struct dist D = {.d = c->dist, .mu_us = c->d_ns / 1e3, .sigma_us = c->j_ns / 1e3};
	double worst = 0, worst_x = 0, worst_eps = 0, b_med, b_iqr;

	(void)u;
	it_assert(a && b, "out of memory");
	if (c->dist != FL_DIST_UNIFORM) {
		int16_t table[FL_DIST_SIZE];
		it_assert(fl_dist_table(c->dist, table) == 0, "no table for %s",
			  fl_distribution_to_string(c->dist));
		for (size_t i = 0; i < FL_DIST_SIZE; i++)
			D.values[i] =
				netem_value((double)c->d_ns, (int64_t)c->j_ns, table[i]) / 1e3;
		qsort(D.values, FL_DIST_SIZE, sizeof(double), cmp_double);
	}
	/*
	 * B's replies wait in a plain netem of the same delay, without jitter,
	 * in B's namespace: B's round trips then carry what a netem-held packet
	 * meets besides the delay (a late timer in a guest whose emulated CPUs
	 * wait for the host), and A's must be netem's distribution on top of
	 * them, around the same mean.
	 */
	topo_must(T->srv[IT_B].ns, "tc qdisc add dev eth0 root handle 1: netem delay %lluus",
		  (unsigned long long)(c->d_ns / 1000));
	rtt_pair(c, fam, n, a, b);
	topo_must(T->srv[IT_B].ns, "tc qdisc del dev eth0 root");
	qsort(a, n, sizeof(double), cmp_double);
	qsort(b, n, sizeof(double), cmp_double);
	b_med = quantile(b, n, 0.5);
	b_iqr = quantile(b, n, 0.75) - quantile(b, n, 0.25);
	for (unsigned k = 0; k < n; k++) {
		double sum = 0, sq = 0, f, sd, eps, miss;
		for (unsigned j = 0; j < n; j++) {
			double v = dist_cdf(&D, a[k] - b[j] + D.mu_us);
			sum += v;
			sq += v * v;
		}
		f = sum / n;
		sd = sqrt(fmax(0, sq / n - f * f));
		eps = eps_a + 4 * sd / sqrt((double)n);
		/* The empirical CDF jumps at a[k]: from k/n just before to (k+1)/n. */
		miss = fmax(fabs((double)(k + 1) / n - f), fabs((double)k / n - f)) - eps;
		if (miss > worst) {
			worst = miss;
			worst_x = a[k] - b_med + D.mu_us;
			worst_eps = eps;
		}
	}
	it_log("  A %s: %s: n=%u; A's round trip minus B's median plus the delay: p5 %.2f p25 "
	       "%.2f p50 %.2f p75 %.2f p95 %.2f ms; netem's own p5 %.2f p25 %.2f p50 %.2f "
	       "p75 %.2f p95 %.2f ms; B (plain netem, no jitter): median %.3f ms, IQR %.3f ms; "
	       "band eps %.4f + B's",
	       it_fam_name(fam), c->text, n, (quantile(a, n, .05) - b_med + D.mu_us) / 1e3,
	       (quantile(a, n, .25) - b_med + D.mu_us) / 1e3,
	       (quantile(a, n, .5) - b_med + D.mu_us) / 1e3,
	       (quantile(a, n, .75) - b_med + D.mu_us) / 1e3,
	       (quantile(a, n, .95) - b_med + D.mu_us) / 1e3, dist_quantile(&D, .05) / 1e3,
	       dist_quantile(&D, .25) / 1e3, dist_quantile(&D, .5) / 1e3,
	       dist_quantile(&D, .75) / 1e3, dist_quantile(&D, .95) / 1e3, b_med / 1e3, b_iqr / 1e3,
	       eps_a);
	/* B is untargeted: only its own reference netem delays it, not the fault too. */
	it_assert(b_med < 1.5 * D.mu_us, "%s %s: B (untargeted) median %.3f ms: delayed twice?",
		  c->text, it_fam_name(fam), b_med / 1e3);
	if (!held(c, fam, last, worst == 0,
		  "A's round trips leave the band of netem's %s delay plus B's noise by %.4f (of "
		  "probability; band %.4f) at %.3f ms added",
		  fl_distribution_to_string(c->dist), worst, worst_eps, worst_x / 1e3))
		return false;
	it_log("  B %s: median %.3f ms: its own reference delay only", it_fam_name(fam),
	       b_med / 1e3);
	return true;
}

/* ---- duplicate ---------------------------------------------------------------------- */

/* A receives N + d datagrams, d inside the 99% interval; every copy is echoed back. */
static bool dup_sample(const struct check *c, int fam, bool last, void *u)
{
	struct burst b;
	unsigned lo, hi;
	uint64_t dups;

	(void)u;
	it_binomial_interval(c->n, c->p, 0.01, &lo, &hi);
	udp_burst(IT_A, fam, c->n, 500, 300, (uint32_t)random(), &b, -1, NULL, NULL);
	free(b.copies);
	it_assert(b.sent == c->n && b.distinct == c->n && b.server_rx >= c->n,
		  "%s %s: %u sent, %u distinct echoes, A received %llu: nothing may be lost",
		  c->text, it_fam_name(fam), b.sent, b.distinct, (unsigned long long)b.server_rx);
	dups = b.server_rx - c->n;
	it_log("  A %s: %s: A received %llu for %u sent: %llu duplicates (99%% interval %u..%u); "
	       "%u echoes came back",
	       it_fam_name(fam), c->text, (unsigned long long)b.server_rx, c->n,
	       (unsigned long long)dups, lo, hi, b.echoes);
	it_assert(b.echoes == b.server_rx,
		  "%s %s: A echoed %llu datagrams, %u came back: every copy travels back", c->text,
		  it_fam_name(fam), (unsigned long long)b.server_rx, b.echoes);
	return held(c, fam, last, dups >= lo && dups <= hi,
		    "%llu duplicates of %u, outside the 99%% binomial interval %u..%u",
		    (unsigned long long)dups, c->n, lo, hi);
}

static void check_dup(const struct check *c, int fam)
{
	struct burst b;

	resampled(dup_sample, c, fam, NULL);
	udp_burst(IT_B, fam, c->n, 500, 300, (uint32_t)random(), &b, -1, NULL, NULL);
	free(b.copies);
	it_assert(b.server_rx == c->n && b.echoes == c->n,
		  "%s %s: B (untargeted) received %llu and echoed back %u of %u: expected no "
		  "duplicate",
		  c->text, it_fam_name(fam), (unsigned long long)b.server_rx, b.echoes, c->n);
	it_log("  B %s: %u sent, %u received, none twice", it_fam_name(fam), c->n, c->n);
}

/* ---- loss --------------------------------------------------------------------------------- */

static bool loss_sample(const struct check *c, int fam, bool last, void *u)
{
	struct burst b;
	unsigned lo, hi, lost;

	(void)u;
	udp_burst(IT_A, fam, c->n, 1000, 1000, (uint32_t)random(), &b, -1, NULL, NULL);
	free(b.copies);
	it_assert(b.sent == c->n, "%s %s: %u of %u sent", c->text, it_fam_name(fam), b.sent, c->n);
	lost = c->n - b.distinct;
	it_binomial_interval(c->n, c->p, 0.01, &lo, &hi);
	it_log("  A %s: %s: lost %u of %u (99%% interval %u..%u), A received %llu",
	       it_fam_name(fam), c->text, lost, c->n, lo, hi, (unsigned long long)b.server_rx);
	it_assert(b.server_rx == (c->from ? c->n : b.distinct),
		  "%s %s: A received %llu with %u echoed: the loss is on the wrong side (expected "
		  "%s)",
		  c->text, it_fam_name(fam), (unsigned long long)b.server_rx, b.distinct,
		  c->from ? "every request arrives, answers are lost"
			  : "lost requests, every arrived one answered");
	return held(c, fam, last, lost >= lo && lost <= hi,
		    "lost %u of %u, outside the 99%% binomial interval %u..%u", lost, c->n, lo, hi);
}

static void check_loss(const struct check *c, int fam)
{
	struct burst b;

	resampled(loss_sample, c, fam, NULL);
	udp_burst(IT_B, fam, c->n, 1000, 1000, (uint32_t)random(), &b, -1, NULL, NULL);
	free(b.copies);
	it_assert(b.distinct == c->n && b.server_rx == c->n,
		  "%s %s: B (untargeted): %u of %u echoed, B received %llu", c->text,
		  it_fam_name(fam), b.distinct, c->n, (unsigned long long)b.server_rx);
	it_log("  B %s: %u/%u echoed, none lost", it_fam_name(fam), b.distinct, c->n);
}

/* ---- corrupt ------------------------------------------------------------------------------ */

struct capture {
	int fam;
	uint32_t tag;
	unsigned n;
	size_t len; /* frame length of our datagrams */
	uint8_t (*frames)[320];
	size_t n_frames, cap;
};

static void on_frame(const uint8_t *f, size_t len, int pkttype, void *u)
{
	struct capture *c = u;

	/* Corruption changes no length: every frame of our length that came in is a candidate. */
	if (pkttype == PACKET_OUTGOING || len != c->len || c->n_frames == c->cap)
		return;
	memcpy(c->frames[c->n_frames++], f, len);
}

static uint16_t ip_csum(const uint8_t *p, size_t len)
{
	uint32_t s = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		s += (uint32_t)p[i] << 8 | p[i + 1];
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

/* Bits of p (a payload as received) that differ from what its tag and sequence number make. */
static unsigned payload_diff(const uint8_t *p, uint32_t tag, uint32_t seq, uint8_t *want)
{
	unsigned bits = 0;

	payload(tag, seq, want);
	for (size_t i = 0; i < PAYLOAD; i++)
		bits += (unsigned)__builtin_popcount(p[i] ^ want[i]);
	return bits;
}

/*
 * The bits flipped in a payload: against the payload its own tag and number
 * make, or, if that is far off, against each one a single flipped bit of
 * the tag or the number would have come from (a flip there changes which
 * payload is expected).
 */
static unsigned payload_bits(const uint8_t *p, uint32_t tag, uint32_t seq, uint8_t *want)
{
	unsigned bits = payload_diff(p, tag, seq, want);

	for (unsigned b = 0; b < 64 && bits > 1; b++) {
		uint32_t t = b < 32 ? tag ^ (1u << b) : tag,
			 q = b < 32 ? seq : seq ^ (1u << (b - 32));
		if (payload_diff(p, t, q, want) == 1)
			return 1;
	}
	return bits;
}

/*
 * Counts the damaged frames of a capture: the header bytes all our frames
 * share (the value most frames have at each position where at least 95% agree)
 * must be that value; the IPv4 header checksum must hold (it covers the
 * identification, which changes per datagram); the payload must be the one
 * its sequence number makes. The UDP checksum field is not checked (a packet
 * socket may see it before it is filled in), so a flip there goes unseen:
 * *ret_blind says how many of the frame's bits that is.
 */
/*
 * IPv4's identification and header checksum change from datagram to
 * datagram. A byte of them can still look fixed (the identification's high
 * byte over a few hundred datagrams) and then differ by several bits in the
 * frames after it rolls over: only the header checksum can tell a flip there
 * (`hidden` below), never a byte-by-byte comparison.
 */
static bool ipv4_counter(int fam, size_t off)
{
	return fam == IT_V4 && ((off >= 4 && off < 6) || (off >= 10 && off < 12));
}

static unsigned damaged(struct capture *c, unsigned *ret_one_bit, unsigned *ret_multi,
			unsigned *ret_blind)
{
	const size_t l3 = ETH_HLEN, l4 = l3 + (c->fam == IT_V4 ? 20 : 40), pl = l4 + 8;
	uint8_t tmpl[320], want[PAYLOAD];
	bool fixed[320];
	unsigned bad = 0;

	*ret_one_bit = *ret_multi = 0;
	*ret_blind = 16;
	for (size_t i = 0; i < l4 + 8; i++) {
		unsigned count[256] = {0}, best = 0;
		for (size_t k = 0; k < c->n_frames; k++)
			count[c->frames[k][i]]++;
		for (unsigned v = 0; v < 256; v++)
			if (count[v] > count[best])
				best = v;
		tmpl[i] = (uint8_t)best;
		fixed[i] = count[best] * 100 >= c->n_frames * 95;
	}
	for (size_t k = 0; k < c->n_frames; k++) {
		const uint8_t *f = c->frames[k];
		unsigned bits = 0;
		bool hidden = false;
		uint32_t tag, seq;

		for (size_t i = 0; i < l4 + 8; i++)
			if (fixed[i] && !(i >= l4 + 6 && i < l4 + 8) &&
			    !ipv4_counter(c->fam, i - l3))
				bits += (unsigned)__builtin_popcount(f[i] ^ tmpl[i]);
		if (c->fam == IT_V4 && ip_csum(f + l3, 20) != 0)
			hidden = true; /* a flip in the identification or the checksum */
		memcpy(&tag, f + pl, 4);
		memcpy(&seq, f + pl + 4, 4);
		bits += payload_bits(f + pl, tag, seq, want);
		if (bits == 0 && !hidden)
			continue;
		bad++;
		if (bits == 1)
			(*ret_one_bit)++;
		else if (bits > 1)
			(*ret_multi)++;
	}
	return bad;
}

static void corrupt_run(const struct check *c, int srv, int fam, unsigned *ret_bad,
			unsigned *ret_frames, unsigned *ret_one, unsigned *ret_multi,
			unsigned *ret_blind, size_t *ret_len)
{
	struct capture cap = {.fam = fam, .tag = (uint32_t)random(), .n = c->n};
	struct sockaddr_ll ll = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL)};
	int fd, big = 16 << 20;
	struct burst b;

	cap.len = ETH_HLEN + (fam == IT_V4 ? 20 : 40) + 8 + PAYLOAD;
	cap.cap = c->n * 2;
	cap.frames = calloc(cap.cap, sizeof(*cap.frames));
	it_assert(cap.frames, "out of memory");
	/* In the server's namespace, on its end of the link: what arrives, before IP looks at it.
	 */
	fd = topo_socket(T, T->srv[srv].ns_fd, AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
	it_assert(fd >= 0, "packet socket: %s", strerror(-fd));
	setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
	{
		/* Asked inside the server's namespace: ifindex numbering is per namespace. */
		_cleanup_free_ char *out = NULL;
		int r = topo_sh(T->srv[srv].ns, &out, "ip -o link show dev eth0");
		it_assert(r == 0 && out && atoi(out) > 0, "eth0's ifindex in %c: %s",
			  T->srv[srv].name, out ? out : "");
		ll.sll_ifindex = atoi(out);
	}
	it_assert(bind(fd, (struct sockaddr *)&ll, sizeof(ll)) == 0, "bind packet socket: %m");
	/* 1 ms apart: an emulated guest's backlog (netdev_max_backlog) must not overflow. */
	udp_burst(srv, fam, c->n, 1000, 300, cap.tag, &b, fd, on_frame, &cap);
	close(fd);
	free(b.copies);
	it_assert(b.sent == c->n, "%s %s: %u of %u sent", c->text, it_fam_name(fam), b.sent, c->n);
	it_assert(cap.n_frames * 100 >= c->n * 95 && cap.n_frames < cap.cap,
		  "%s %s: captured %zu frames of %zu bytes on %c's eth0 for %u sent", c->text,
		  it_fam_name(fam), cap.n_frames, cap.len, T->srv[srv].name, c->n);
	*ret_frames = (unsigned)cap.n_frames;
	*ret_len = cap.len;
	*ret_bad = damaged(&cap, ret_one, ret_multi, ret_blind);
	free(cap.frames);
}

static bool corrupt_sample(const struct check *c, int fam, bool last, void *u)
{
	unsigned bad, frames, one, multi, blind, lo, hi;
	size_t len;
	double p_seen;

	(void)u;
	corrupt_run(c, IT_A, fam, &bad, &frames, &one, &multi, &blind, &len);
	/* netem flips one bit anywhere in the frame; the blind bits go unseen. */
	p_seen = c->p * (double)(len * 8 - blind) / (double)(len * 8);
	/*
	 * Out of the frames captured: one lost on the way (a full backlog) is
	 * lost whether or not netem damaged it.
	 */
	it_binomial_interval(frames, p_seen, 0.01, &lo, &hi);
	it_log("  A %s: %s: %u frames of %zu bytes captured on A's eth0, %u damaged (%u by one "
	       "bit, %u by more, %u where only a checksum tells; 99%% interval %u..%u for "
	       "p=%.4f seen)",
	       it_fam_name(fam), c->text, frames, len, bad, one, multi, bad - one - multi, lo, hi,
	       p_seen);
	it_assert(multi == 0, "%s %s: %u frames with more than one bit flipped: netem flips one",
		  c->text, it_fam_name(fam), multi);
	return held(c, fam, last, bad >= lo && bad <= hi,
		    "%u damaged frames of %u, outside the 99%% binomial interval %u..%u", bad,
		    frames, lo, hi);
}

static void check_corrupt(const struct check *c, int fam)
{
	unsigned bad, frames, one, multi, blind;
	size_t len;

	resampled(corrupt_sample, c, fam, NULL);
	corrupt_run(c, IT_B, fam, &bad, &frames, &one, &multi, &blind, &len);
	it_assert(bad == 0, "%s %s: B (untargeted): %u damaged frames of %u", c->text,
		  it_fam_name(fam), bad, frames);
	it_log("  B %s: %u frames captured on B's eth0, none damaged", it_fam_name(fam), frames);
}

/* ---- reorder ------------------------------------------------------------------------------ */

/*
 * Pairs to A and B: A's echoes sent at once (not delayed by D against B's
 * at the same moment) inside the 99% interval of P, which decides whether a
 * fresh sample is taken; in the sample that counts, the rest are D late and
 * some overtake earlier ones. B is never delayed, in any sample.
 */
static bool reorder_sample(const struct check *c, int fam, bool last, void *u)
{
	_cleanup_free_ double *a = calloc(c->n, sizeof(double));
	_cleanup_free_ double *b = calloc(c->n, sizeof(double));
	_cleanup_free_ double *late = calloc(c->n, sizeof(double));
	unsigned early = 0, n_late = 0, overtakes = 0, lo, hi;
	double b_med, cut, added, arrived_max = 0;
	const double d_us = c->d_ns / 1e3;

	(void)u;
	it_assert(a && b && late, "out of memory");
	rtt_pair(c, fam, c->n, a, b);
	for (unsigned i = 0; i < c->n; i++) {
		/* Pairs leave PAIR_INTERVAL_US apart: echo i arrives then plus its round trip. */
		double arrived = i * (double)PAIR_INTERVAL_US + a[i];
		/* A's own noise is B's at the same moment: a packet sent at once is as fast. */
		if (a[i] - b[i] < d_us / 2)
			early++;
		else
			late[n_late++] = a[i] - b[i];
		if (arrived < arrived_max)
			overtakes++;
		if (arrived > arrived_max)
			arrived_max = arrived;
	}
	qsort(b, c->n, sizeof(double), cmp_double);
	b_med = quantile(b, c->n, 0.5);
	cut = d_us / 2;
	it_binomial_interval(c->n, c->p, 0.01, &lo, &hi);
	qsort(late, n_late, sizeof(double), cmp_double);
	added = n_late ? quantile(late, n_late, 0.5) : 0;
	it_log("  A %s: %s: %u of %u sent at once (99%% interval %u..%u; A's round trip under B's "
	       "+ %.0f ms), the rest delayed by a median %.3f ms; %u arrived before one sent "
	       "earlier; B's median %.3f ms",
	       it_fam_name(fam), c->text, early, c->n, lo, hi, cut / 1e3, added / 1e3, overtakes,
	       b_med / 1e3);
	it_assert(b_med < cut, "%s %s: B (untargeted) median %.3f ms: it must not be delayed",
		  c->text, it_fam_name(fam), b_med / 1e3);
	if (!held(c, fam, last, early >= lo && early <= hi,
		  "%u of %u not delayed, outside the 99%% binomial interval %u..%u", early, c->n,
		  lo, hi))
		return false;
	it_assert(fabs(added - d_us) < d_us / 10,
		  "%s %s: the delayed ones waited a median %.3f ms more than B's, expected %.3f ms",
		  c->text, it_fam_name(fam), added / 1e3, d_us / 1e3);
	it_assert(overtakes > 0, "%s %s: nothing overtook an earlier packet: no reordering",
		  c->text, it_fam_name(fam));
	return true;
}

/* ---- correlated loss: netem's model, simulated -------------------------------------------- */

static uint64_t xs(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

/*
 * sch_netem.c: loss_event() drops when q->loss >= get_crandom(&q->loss_cor),
 * and get_crandom() mixes each fresh 32-bit random with the last answer:
 * answer = (value * (2^32 - rho) + last * rho) >> 32, rho = correlation + 1.
 * Not a Markov chain of the asked rate: the mixed value is no longer
 * uniform, so the loss rate itself moves away from P (VM-TIER.md).
 */
static void netem_loss(double p, double corr, unsigned n, uint64_t *rng, unsigned *ret_lost,
		       unsigned *ret_after)
{
	const uint64_t thr = (uint64_t)(p * 4294967295.0),
		       rho = corr > 0 ? (uint64_t)(corr * 4294967295.0) + 1 : 0;
	uint64_t last = 0;
	bool prev = false;

	*ret_lost = *ret_after = 0;
	for (unsigned i = 0; i < n; i++) {
		uint64_t v = xs(rng) >> 32, a = v;
		bool lost;
		if (rho) {
			a = (v * ((1ull << 32) - rho) + last * rho) >> 32;
			last = a;
		}
		lost = thr >= a;
		*ret_lost += lost;
		*ret_after += lost && prev;
		prev = lost;
	}
}

static int cmp_unsigned(const void *a, const void *b)
{
	unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;

	return x < y ? -1 : x > y;
}

static void lockstep(const struct check *c, int fam, bool *echoed, struct it_udp_lockstep *u)
{
	it_udp_lockstep(T, IT_A, fam, c->n, 3000, 300, echoed, u);
	it_assert(u->sent == c->n, "%s %s: %u of %u sent (%s)", c->text, it_fam_name(fam), u->sent,
		  c->n, strerror(u->first_errno));
	it_assert(u->server_rx == u->echoed,
		  "%s %s: A received %llu, %u echoed: the loss must be on the way to A", c->text,
		  it_fam_name(fam), (unsigned long long)u->server_rx, u->echoed);
}

/* What netem's correlated model gives for N echoes: the 0.1..99.9% range of each count. */
struct burst_model {
	unsigned lost_lo, lost_hi, after_lo, after_hi;
};

static bool burst_sample(const struct check *c, int fam, bool last, void *u)
{
	const struct burst_model *m = u;
	_cleanup_free_ bool *echoed = calloc(c->n, sizeof(bool));
	struct it_udp_lockstep ls;
	unsigned lost = 0, after = 0;

	it_assert(echoed, "out of memory");
	lockstep(c, fam, echoed, &ls);
	for (unsigned i = 0; i < c->n; i++) {
		lost += !echoed[i];
		after += i > 0 && !echoed[i] && !echoed[i - 1];
	}
	it_log("  A %s: %s: %u of %u lost, %u right after a loss", it_fam_name(fam), c->text, lost,
	       c->n, after);
	return held(c, fam, last, lost >= m->lost_lo && lost <= m->lost_hi,
		    "%u lost: outside what netem's correlated loss gives (%u..%u)", lost,
		    m->lost_lo, m->lost_hi) &&
	       held(c, fam, last, after >= m->after_lo && after <= m->after_hi,
		    "%u losses right after a loss: outside netem's model (%u..%u)", after,
		    m->after_lo, m->after_hi);
}

static void check_burst(const struct check *c, int fam)
{
	enum { RUNS = 2000 };
	_cleanup_free_ bool *echoed = calloc(c->n, sizeof(bool));
	_cleanup_free_ unsigned *sim_lost = calloc(RUNS, sizeof(unsigned));
	_cleanup_free_ unsigned *sim_after = calloc(RUNS, sizeof(unsigned));
	struct it_udp_lockstep u;
	struct burst_model m;
	uint64_t rng = 0x5eed5eed5eedull;
	unsigned ulo, uhi;

	it_assert(echoed && sim_lost && sim_after, "out of memory");
	for (unsigned r = 0; r < RUNS; r++)
		netem_loss(c->p, c->c, c->n, &rng, &sim_lost[r], &sim_after[r]);
	qsort(sim_lost, RUNS, sizeof(unsigned), cmp_unsigned);
	qsort(sim_after, RUNS, sizeof(unsigned), cmp_unsigned);
	m = (struct burst_model){sim_lost[RUNS / 1000], sim_lost[RUNS - 1 - RUNS / 1000],
				 sim_after[RUNS / 1000], sim_after[RUNS - 1 - RUNS / 1000]};
	it_binomial_interval(c->n, c->p, 0.01, &ulo, &uhi);
	it_log("  A %s: %s: netem's model (%d runs): lost %u..%u (median %u), after a loss "
	       "%u..%u (median %u); without correlation the 99%% interval would be %u..%u",
	       it_fam_name(fam), c->text, RUNS, m.lost_lo, m.lost_hi, sim_lost[RUNS / 2],
	       m.after_lo, m.after_hi, sim_after[RUNS / 2], ulo, uhi);
	resampled(burst_sample, c, fam, &m);
	it_udp_lockstep(T, IT_B, fam, c->n, 3000, 300, echoed, &u);
	it_assert(u.echoed == c->n, "%s %s: B (untargeted): %u of %u echoed", c->text,
		  it_fam_name(fam), u.echoed, c->n);
	it_log("  B %s: %u/%u echoed", it_fam_name(fam), u.echoed, c->n);
}

/* ---- seeded loss: the same echoes lost in both passes ------------------------------------- */

static bool *FIRST[IT_N_FAMILIES];

/*
 * The first sample of each pass against the first pass's: the same seed
 * must lose the same echoes. Exact: never resampled.
 */
static void seed_repeats(const struct check *c, int fam, bool **echoed, unsigned lost)
{
	unsigned differ = 0;
	char what[512];

	if (!FIRST[fam]) {
		FIRST[fam] = *echoed;
		*echoed = NULL;
		return;
	}
	for (unsigned i = 0; i < c->n; i++)
		differ += FIRST[fam][i] != (*echoed)[i];
	if (differ) {
		snprintf(what, sizeof(what),
			 "%s %s: the same seed lost other echoes than in the first pass (%u of %u "
			 "differ): the kernel did not take the seed",
			 c->text, it_fam_name(fam), differ, c->n);
		known_bug(BUG_NETEM_SEED, what);
		return;
	}
	it_assert(!allowed[BUG_NETEM_SEED],
		  "%s %s: the seed repeats: known bug %s is gone, drop it from the case", c->text,
		  it_fam_name(fam), bugs[BUG_NETEM_SEED]);
	it_log("  A %s: the same %u echoes lost as in the first pass", it_fam_name(fam), lost);
}

/*
 * N echoes one at a time under the seeded loss. The first sample of a pass
 * (last false) is the one both passes must lose identically (seed_repeats(),
 * before anything else). Only the loss count's 99% interval is statistical:
 * a miss takes a fresh sample, the next N echoes under the same fault,
 * further along the seeded stream (the seed taken, the second pass meets
 * the same miss and takes the same fresh sample).
 */
static bool seed_sample(const struct check *c, int fam, bool last, void *u)
{
	_cleanup_free_ bool *echoed = calloc(c->n, sizeof(bool));
	struct it_udp_lockstep ls;
	unsigned lost = 0, lo, hi;

	(void)u;
	it_assert(echoed, "out of memory");
	lockstep(c, fam, echoed, &ls);
	for (unsigned i = 0; i < c->n; i++)
		lost += !echoed[i];
	it_binomial_interval(c->n, c->p, 0.01, &lo, &hi);
	it_log("  A %s: %s: %u of %u lost (99%% interval %u..%u)%s", it_fam_name(fam), c->text,
	       lost, c->n, lo, hi, last ? ": the fresh sample, for the interval only" : "");
	if (!last)
		seed_repeats(c, fam, &echoed, lost);
	return held(c, fam, last, lost >= lo && lost <= hi,
		    "%u of %u lost, outside the 99%% binomial interval %u..%u", lost, c->n, lo, hi);
}

/* ---- delay correlation ------------------------------------------------------------------ */

static double lag1(const double *v, unsigned n)
{
	double mean = 0, num = 0, den = 0;

	for (unsigned i = 0; i < n; i++)
		mean += v[i] / n;
	for (unsigned i = 0; i < n; i++) {
		den += (v[i] - mean) * (v[i] - mean);
		if (i)
			num += (v[i] - mean) * (v[i - 1] - mean);
	}
	return den > 0 ? num / den : 0;
}

/*
 * What correlation C means for consecutive delays when the table index
 * keeps get_crandom()'s correlated bits (the top ones, as the userspace
 * engine takes them): simulated, the lag-1 autocorrelation of the values.
 */
static double model_lag1(double corr, unsigned n)
{
	int16_t table[FL_DIST_SIZE];
	_cleanup_free_ double *v = calloc(n, sizeof(double));
	uint64_t rng = 0xc044e1a7edull, last = 0, rho = (uint64_t)(corr * 4294967295.0) + 1;

	it_assert(v && fl_dist_table(FL_DIST_NORMAL, table) == 0, "out of memory");
	for (unsigned i = 0; i < n; i++) {
		uint64_t a = ((xs(&rng) >> 32) * ((1ull << 32) - rho) + last * rho) >> 32;
		last = a;
		v[i] = table[(a * FL_DIST_SIZE) >> 32];
	}
	return lag1(v, n);
}

static void check_dcorr(const struct check *c, int fam)
{
	_cleanup_free_ double *a = calloc(c->n, sizeof(double));
	_cleanup_free_ double *b = calloc(c->n, sizeof(double));
	const double want = c->c > 0 ? model_lag1(c->c, 100000) : 0;
	const double r_noise = 4 / sqrt((double)c->n);
	double r, rb;
	char what[512];

	it_assert(a && b, "out of memory");
	/*
	 * B's replies through a plain netem of the same delay, as for
	 * delay-dist: a netem timer that fires late for a while (the guest's
	 * CPUs waiting for the host) delays runs of consecutive packets of
	 * both, and must not pass for correlation.
	 */
	topo_must(T->srv[IT_B].ns, "tc qdisc add dev eth0 root handle 1: netem delay %lluus",
		  (unsigned long long)(c->d_ns / 1000));
	rtt_pair(c, fam, c->n, a, b);
	topo_must(T->srv[IT_B].ns, "tc qdisc del dev eth0 root");
	rb = lag1(b, c->n);
	for (unsigned i = 0; i < c->n; i++)
		a[i] -= b[i];
	r = lag1(a, c->n);
	it_log("  A %s: %s: lag-1 autocorrelation of the added delays %.3f (B's own round trips: "
	       "%.3f); correlation %.0f %% gives %.3f when the index keeps the correlated bits, "
	       "independent delays 0 +- %.3f",
	       it_fam_name(fam), c->text, r, rb, c->c * 100, want, r_noise);
	if (want <= r_noise) {
		/* No correlation asked: consecutive delays must be independent. */
		it_assert(fabs(r) <= r_noise,
			  "%s %s: consecutive delays correlate by %.3f with no correlation asked: "
			  "the measurement, not netem",
			  c->text, it_fam_name(fam), r);
		return;
	}
	if (r < want / 2) {
		snprintf(what, sizeof(what),
			 "%s %s: consecutive delays correlate by %.3f, not the %.3f correlation "
			 "%.0f "
			 "%% gives: netem draws them independently",
			 c->text, it_fam_name(fam), r, want, c->c * 100);
		known_bug(BUG_NETEM_DELAY_CORR, what);
		return;
	}
	it_assert(!allowed[BUG_NETEM_DELAY_CORR],
		  "%s %s: delays correlate by %.3f: known bug %s is gone, drop it from the case",
		  c->text, it_fam_name(fam), r, bugs[BUG_NETEM_DELAY_CORR]);
}

/* ---- how long a rate fault queues ---------------------------------------------------- */

/*
 * A bulk upload to A's sink (a child, as a second user of the service)
 * keeps the fault's queue as full as the qdisc lets it; 3 s in, one new
 * connection to the sink: its SYN waits behind whatever the queue holds.
 */
static void check_queue(const struct check *c, int fam)
{
	struct it_connect r;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	it_assert(pid >= 0, "fork: %m");
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		it_upload_bps(T, IT_A, fam, 1000, 8000);
		_exit(0);
	}
	topo_adopt(pid);
	it_sleep_ms(3000);
	it_tcp_connect(T, IT_A, fam, IT_PORT_SINK, 30000, &r);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	topo_forget(pid);
	it_log("  A %s: %s: a new connection to the sink behind a bulk upload: %s after %.3f s",
	       it_fam_name(fam), c->text, r.error ? strerror(r.error) : "connected",
	       r.elapsed_us / 1e6);
	it_assert(r.error == 0, "%s %s: no connection to A's sink within 30 s: %s", c->text,
		  it_fam_name(fam), strerror(r.error));
	it_assert(r.elapsed_us <= c->n * 1000ull,
		  "%s %s: the SYN waited %.3f s behind the fault's queue (bound %u ms)", c->text,
		  it_fam_name(fam), r.elapsed_us / 1e6, c->n);
}

/* ---- the cycles ---------------------------------------------------------------------------- */

/*
 * Pass 2 only shows that the reverted fault was on: a quarter of the
 * sample, whose intervals are computed for that size (seed-repeat needs
 * the same sample as pass 1).
 */
static void run_check(const struct check *full, bool short_pass)
{
	struct check reduced = *full, *c = &reduced;

	if (short_pass && c->kind != K_SEED && c->kind != K_QUEUE && c->kind != K_DCORR)
		c->n = c->n / 4 > 200 ? c->n / 4 : 200;
	for (int fam = 0; fam < IT_N_FAMILIES; fam++) {
		if (!(c->fams & (1u << fam)))
			continue;
		switch (c->kind) {
		case K_DIST:
			resampled(dist_sample, c, fam, NULL);
			break;
		case K_DUP:
			check_dup(c, fam);
			break;
		case K_CORRUPT:
			check_corrupt(c, fam);
			break;
		case K_REORDER:
			resampled(reorder_sample, c, fam, NULL);
			break;
		case K_BURST:
			check_burst(c, fam);
			break;
		case K_SEED:
			resampled(seed_sample, c, fam, NULL);
			break;
		case K_QUEUE:
			check_queue(c, fam);
			break;
		case K_DCORR:
			check_dcorr(c, fam);
			break;
		case K_LOSS:
			check_loss(c, fam);
			break;
		}
	}
}

static void on_checks(struct it_run *run, bool again, void *userdata)
{
	(void)userdata;
	RUN = run;
	for (size_t i = 0; i < (again ? 1 : X.n_checks); i++)
		run_check(&X.checks[i], again);
	RUN = NULL;
}

/* A answers again, on both families, nothing lost. */
static void answers(const char *why)
{
	for (int srv = 0; srv < IT_N_SERVERS; srv++)
		for (int fam = 0; fam < IT_N_FAMILIES; fam++) {
			struct it_udp_sample u;
			it_udp_sample(T, srv, fam, 200, &u);
			it_assert(u.echoed == 200 && u.server_rx == 200,
				  "%s: %c %s: %u of 200 echoed, server got %llu", why,
				  T->srv[srv].name, it_fam_name(fam), u.echoed,
				  (unsigned long long)u.server_rx);
		}
	it_log("%s: A and B echo 200/200 UDP datagrams on IPv4 and IPv6, exactly once", why);
}

static void on_baseline(const char *when, void *userdata)
{
	(void)userdata;
	answers(when);
}

int main(int argc, char **argv)
{
	char yaml[4096], check[4096];
	static char name[160];
	const char *base;

	if (argc == 3 && strcmp(argv[2], "--known-bugs") == 0) {
		strict = true;
		argc--;
	}
	if (argc != 2) {
		fprintf(stderr, "usage: %s CASE [--known-bugs] (CASE.yaml and CASE.check)\n",
			argv[0]);
		return 2;
	}
	base = strrchr(argv[1], '/');
	snprintf(name, sizeof(name), "vm/%s", base ? base + 1 : argv[1]);
	snprintf(yaml, sizeof(yaml), "%s.yaml", argv[1]);
	snprintf(check, sizeof(check), "%s.check", argv[1]);
	srandom((unsigned)getpid());

	T = topo_setup(name);
	parse_check(check);
	_cleanup_(fl_scenario_freep) struct fl_scenario *s = it_load_scenario(yaml);
	S = s;
	if (X.have_engine && X.engine == FL_ENGINE_TC && !(it_caps()->have & FL_CAP_TBF)) {
		/* The probe says no TBF: see whether the kernel agrees, with tc itself. */
		_cleanup_free_ char *out = NULL;
		int r = topo_sh(T->client_ns, &out,
				"tc qdisc add dev lo root handle fa00: tbf rate 1mbit burst 3028 "
				"latency 200ms && tc qdisc del dev lo root");
		char what[512];
		it_assert(r == 0, "the probe finds no TBF, and neither does tc: %s",
			  out ? out : "");
		snprintf(what, sizeof(what),
			 "the probe reports no tbf (caps 0x%x, netem %s) though `tc qdisc add ... "
			 "tbf` "
			 "works here: every fault forced onto engine tc is refused",
			 it_caps()->have, it_caps()->have & FL_CAP_NETEM ? "found" : "missing");
		known_bug(BUG_PROBE_TBF, what);
		it_log("PASS (with a known bug: the case cannot run)");
		return 0;
	}
	it_assert(!(X.have_engine && X.engine == FL_ENGINE_TC) || !allowed[BUG_PROBE_TBF],
		  "the probe finds TBF: known bug %s is gone, drop it from the case",
		  bugs[BUG_PROBE_TBF]);
	if (X.have_engine && X.engine == FL_ENGINE_NETEM &&
	    !(it_caps()->have & FL_CAP_NETEM_SEED)) {
		/*
		 * A seed forced onto a netem that would drop it without a word: the
		 * plan must refuse, naming the feature, before anything is touched.
		 */
		bool seeded = false;
		for (size_t i = 0; i < s->n_steps; i++)
			seeded |= s->steps[i].kind == FL_STEP_FAULT && s->steps[i].has_seed;
		if (seeded) {
			struct fl_plan_options po = {.caps = *it_caps()};
			struct fl_plan *p = NULL;
			struct fl_diag d;
			fl_diag_init(&d, yaml);
			int r = fl_plan_build(s, &po, &d, &p);
			_cleanup_free_ char *msg = fl_diag_format(&d);
			fl_diag_done(&d);
			fl_plan_free(p);
			it_assert(r == -EOPNOTSUPP && msg && strstr(msg, "netem-seed"),
				  "a seed forced onto a netem without seeds: plan returned %d "
				  "(%s), expected a refusal naming netem-seed",
				  r, msg ? msg : "");
			it_log("PASS: this kernel's netem takes no seed, and the plan refuses: %s",
			       msg);
			return 0;
		}
	}

	const struct it_cycle cycle = {
		.engine = X.have_engine ? X.engine : FL_ENGINE_AUTO,
		.checks = on_checks,
		.baseline = on_baseline,
	};
	it_cycle(T, s, &cycle);
	return 0;
}
