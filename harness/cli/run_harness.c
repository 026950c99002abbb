/* SPDX-License-Identifier: MIT */
#include <curl/curl.h>
#include <netdb.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "cli.h"
#include "engine/netns.h"
#include "flows/flows.h"
#include "judge/judge.h"
#include "observe/observe.h"
#include "report/report.h"
#include "run_harness.h"
#include "util/caps.h"
#include "util/child.h"
#include "util/units.h"

/* How often run_harness_wait looks at the child. */
#define WAIT_POLL_MS 50
/*
 * How long the harness may take to get ready (namespaces entered, socket
 * factories forked, captures open) before the run gives up on it.
 */
#define READY_TIMEOUT_NS (60 * FL_NSEC_PER_SEC)

static const char *const report_names[4] = {"report.json", "junit.xml", "report.html", "wire.json"};
/* --pcap: each file at most this big, at most this many (FILE, FILE.1, ...). */
#define PCAP_FILE_BYTES (100ull * 1024 * 1024)
#define PCAP_MAX_FILES	10

bool run_harness_needed(const struct fl_scenario *s)
{
	return s->n_flows > 0 || s->n_expects > 0;
}

static int resolve_user(const char *user, uid_t *ret_uid, gid_t *ret_gid)
{
	struct passwd *pw;
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(user, &end, 10);
	pw = *user && !*end ? getpwuid((uid_t)n) : getpwnam(user);
	if (!pw && *user && !*end && errno == 0 && n > 0 && n < 4294967295ul) {
		/* A bare uid with no passwd entry: its own group, as containers often have. */
		*ret_uid = (uid_t)n;
		*ret_gid = (gid_t)n;
		return 0;
	}
	if (!pw)
		return errno ? -errno : -ENOENT;
	*ret_uid = pw->pw_uid;
	*ret_gid = pw->pw_gid;
	return 0;
}

/* mkdir -p: --report out/demo must work where out/ does not exist yet. 0 or -1 (errno). */
static int mkdir_parents(const char *path)
{
	char buf[4096];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(buf)) {
		errno = n ? ENAMETOOLONG : ENOENT;
		return -1;
	}
	memcpy(buf, path, n + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(buf, 0755) < 0 && errno != EEXIST ? -1 : 0;
}

int run_harness_prepare(struct run_harness *h, const struct fl_scenario *s, const char *user,
			const char *report_dir)
{
	size_t best = 0, best_n = 0;
	uint64_t *ino;
	int r;

	*h = (struct run_harness){.s = s,
				  .home_ns = -1,
				  .phase_fd = -1,
				  .phase_fd2 = -1,
				  .report_fd = {-1, -1, -1, -1}};
	r = resolve_user(user, &h->uid, &h->gid);
	if (r < 0) {
		fprintf(stderr,
			"faultline run: error: --user %s: %s (expected a user name or uid)\n", user,
			r == -ENOENT ? "no such user" : strerror(-r));
		return FL_EXIT_INPUT;
	}
	if (h->uid == 0) {
		fprintf(stderr,
			"faultline run: error: --user %s is root (expected an unprivileged user: "
			"probes and user commands never run as root)\n",
			user);
		return FL_EXIT_INPUT;
	}

	h->flow_ns = calloc(s->n_flows ? s->n_flows : 1, sizeof(*h->flow_ns));
	h->flow_ino = ino = calloc(s->n_flows ? s->n_flows : 1, sizeof(*ino));
	for (size_t i = 0; h->flow_ns && i < s->n_flows; i++)
		h->flow_ns[i] = -1; /* before any return: run_harness_done() closes what is >= 0 */
	if (!h->flow_ns || !ino)
		return FL_EXIT_SYSTEM;
	for (size_t i = 0; i < s->n_flows; i++) {
		const struct fl_flow *f = &s->flows[i];
		int fd = fl_netns_open_spec(f->netns);

		if (fd < 0) {
			fprintf(stderr,
				"%s:%u:%u: error: flow '%s': netns '%s': %s (expected a namespace "
				"name under /run/netns, a path, or pid:N of a live process)\n",
				s->file, f->pos.line, f->pos.col, f->name, f->netns ? f->netns : "",
				fd == -EINVAL ? "not a namespace name" : strerror(-fd));
			return FL_EXIT_INPUT;
		}
		h->flow_ns[i] = fd;
		r = fl_netns_inode(fd, &ino[i]);
		if (r < 0) {
			fprintf(stderr, "faultline run: error: flow '%s': %s\n", f->name, strerror(-r));
			return FL_EXIT_SYSTEM;
		}
	}
	/* Home: the namespace most flows use, so most sockets need no factory. */
	for (size_t i = 0; i < s->n_flows; i++) {
		size_t n = 0;
		for (size_t k = 0; k < s->n_flows; k++)
			n += ino[k] == ino[i];
		if (n > best_n) {
			best = i;
			best_n = n;
		}
	}
	if (best_n) {
		h->home_ns = h->flow_ns[best];
		h->home_ino = ino[best];
	}
	for (size_t i = 0; i < s->n_flows; i++) {
		const struct fl_flow *f = &s->flows[i];
		if (f->kind == FL_FLOW_EXEC && ino[i] != ino[best]) {
			fprintf(stderr,
				"%s:%u:%u: error: flow '%s' runs a command in netns '%s', but the "
				"harness lives in the namespace of flow '%s' (expected every exec "
				"flow in the namespace most flows use)\n",
				s->file, f->pos.line, f->pos.col, f->name,
				f->netns ? f->netns : "(the run's own)", s->flows[best].name);
			return FL_EXIT_INPUT;
		}
	}

	if (report_dir) {
		if (mkdir_parents(report_dir) < 0) {
			fprintf(stderr, "faultline run: error: --report %s: %s\n", report_dir,
				strerror(errno));
			return FL_EXIT_INPUT;
		}
		/* Opened now, as the invoking user: the harness writes them as nobody. */
		for (int k = 0; k < 4; k++) {
			char path[4096];
			snprintf(path, sizeof(path), "%s/%s", report_dir, report_names[k]);
			h->report_fd[k] =
				open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
			if (h->report_fd[k] < 0) {
				fprintf(stderr, "faultline run: error: cannot write %s: %s\n", path,
					strerror(errno));
				return FL_EXIT_INPUT;
			}
		}
	}
	return 0;
}

/* ---- the socket factory: one per namespace other than the harness's ---------------- */

struct sock_req {
	int domain, type, protocol;
};

static _Noreturn void factory_main(int ns_fd, int sock, uid_t uid, gid_t gid)
{
	struct sock_req q;

	if (setns(ns_fd, CLONE_NEWNET) < 0 || (geteuid() == 0 && fl_caps_become_user(uid, gid) < 0))
		_exit(3);
	close(ns_fd);
	for (;;) {
		ssize_t n = recv(sock, &q, sizeof(q), 0);
		char ctl[CMSG_SPACE(sizeof(int))] = {0};
		int fd, err = 0;
		struct iovec iov = {.iov_base = &err, .iov_len = sizeof(err)};
		struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};

		if (n == 0)
			_exit(0); /* the harness is done */
		if (n < 0) {
			if (errno == EINTR)
				continue;
			_exit(3);
		}
		if (n != (ssize_t)sizeof(q))
			continue;
		fd = socket(q.domain, q.type, q.protocol);
		if (fd < 0) {
			err = -errno;
		} else {
			struct cmsghdr *c;
			m.msg_control = ctl;
			m.msg_controllen = sizeof(ctl);
			c = CMSG_FIRSTHDR(&m);
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(c), &fd, sizeof(int));
		}
		while (sendmsg(sock, &m, MSG_NOSIGNAL) < 0 && errno == EINTR)
			;
		if (fd >= 0)
			close(fd);
	}
}

/* The harness's end: a socket from flow's factory (userdata: per-flow factory sockets). */
static int factory_socket(size_t flow, int domain, int type, int protocol, void *userdata)
{
	const int *socks = userdata;
	struct sock_req q = {domain, type, protocol};
	char ctl[CMSG_SPACE(sizeof(int))];
	int err = 0, fd = -1;
	struct iovec iov = {.iov_base = &err, .iov_len = sizeof(err)};
	struct msghdr m = {.msg_iov = &iov,
			   .msg_iovlen = 1,
			   .msg_control = ctl,
			   .msg_controllen = sizeof(ctl)};
	ssize_t n;

	if (send(socks[flow], &q, sizeof(q), MSG_NOSIGNAL) != (ssize_t)sizeof(q))
		return -errno;
	do
		n = recvmsg(socks[flow], &m, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n != (ssize_t)sizeof(err))
		return -EPROTO;
	if (err < 0)
		return err;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
			memcpy(&fd, CMSG_DATA(c), sizeof(int));
	return fd >= 0 ? fd : -EPROTO;
}

/* ---- the harness process ----------------------------------------------------------- */

static void write_all(int fd, const char *text)
{
	size_t len = strlen(text), off = 0;

	while (off < len) {
		ssize_t n = write(fd, text + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		off += (size_t)n;
	}
}

/* ---- the wire observer: a thread of the harness, its own copy of the phases ------------- */

struct wire {
	struct fl_observer *o;
	struct fl_capture **caps;
	size_t n_caps;
	bool *plan_ns_captured; /* per plan namespace: captured from inside (faults act there) */
	int phase_fd;
	pthread_t thread;
	bool running;
	int r;
};

/*
 * Opens one capture per device of each namespace of the plan, and its lo
 * (a local reject answers there), while still privileged: never "any",
 * which would also see our IFBs and count each redirected packet twice.
 * Any failure turns the observer off with a warning: the run and its
 * verdicts do not depend on it.
 */
static int wire_capture(struct run_harness *h, struct wire *w, size_t k, const char *dev, int ns,
			const char *filter, char *errbuf)
{
	int r = fl_capture_open(dev, ns, 0, 0, filter, errbuf, &w->caps[w->n_caps]);

	if (r < 0)
		return r;
	if (h->pcap) {
		char path[4096];
		if (w->n_caps == 0)
			snprintf(path, sizeof(path), "%s", h->pcap);
		else
			snprintf(path, sizeof(path), "%s.ns%zu-%s", h->pcap, k, dev);
		r = fl_capture_dump(w->caps[w->n_caps], path, PCAP_FILE_BYTES, PCAP_MAX_FILES);
		if (r < 0) {
			snprintf(errbuf, PCAP_ERRBUF_SIZE, "cannot write %.200s", path);
			fl_capture_close(w->caps[w->n_caps]);
			return r;
		}
	}
	w->n_caps++;
	return 0;
}

static int flow_destination(const struct fl_flow *f, struct fl_wire_endpoint *ret);

/*
 * Where to watch: the namespaces the flows run in, which see what users
 * see (a delay added anywhere on the path shows in their handshakes). A
 * flow namespace that is also one of the plan's is captured on its devices
 * and lo (never "any", which would also see our IFBs and count each
 * redirected packet twice); there, a fault acts before the capture point on
 * the way out and after it on the way in, so only drops and rejects show.
 * Flows that talk to a server that is no service of the scenario (a shop in
 * front of the faulted provider) would show nothing of the faults where
 * they run: for them, the plan's namespaces too, where the server's own
 * calls cross the faults. A packet seen in both counts once, where it is
 * first seen (docs/OBSERVER.md). Any failure turns the observer off with a
 * warning: the run and its verdicts do not depend on it.
 */
static void wire_open(struct run_harness *h, struct wire *w)
{
	const struct fl_plan *p = h->p;
	const struct fl_scenario *s = h->s;
	_cleanup_free_ char *filter = NULL;
	_cleanup_free_ uint64_t *seen = NULL;
	char errbuf[PCAP_ERRBUF_SIZE] = "";
	size_t n = s->n_flows + 1, n_seen = 0;
	int r;

	for (size_t k = 0; k < p->n_nss; k++)
		n += p->nss[k].n_devices + 1;
	w->caps = calloc(n, sizeof(*w->caps));
	seen = calloc(s->n_flows + p->n_nss + 1, sizeof(*seen));
	w->plan_ns_captured = calloc(p->n_nss ? p->n_nss : 1, sizeof(bool));
	r = w->caps && seen && w->plan_ns_captured ? fl_wire_filter(p, 0, &filter) : -ENOMEM;
	if (r == 0) {
		struct fl_observer_options oo = {.grace_ns = FL_FLOWS_GRACE_DEFAULT_NS};
		r = fl_observer_new(p, &oo, &w->o);
	}
	/* An exec flow's destination is unknown: it decides neither way. */
	bool from_flows = false, to_servers = false;
	for (size_t i = 0; i < s->n_flows; i++) {
		struct fl_wire_endpoint dst, none = { .family = AF_INET };
		if (flow_destination(&s->flows[i], &dst) < 0)
			continue;
		if (fl_wire_classify(p, &dst, &none, NULL) != FL_WIRE_OTHER)
			from_flows = true;
		else
			to_servers = true;
	}
	/* Indices below n_from are flows, the rest plan namespaces. */
	size_t n_from = from_flows ? s->n_flows : 0;
	size_t n_where = n_from + (!from_flows || to_servers ? p->n_nss : 0);
	/* The plan's namespaces, each opened once. */
	_cleanup_free_ int *pns = calloc(p->n_nss ? p->n_nss : 1, sizeof(*pns));
	_cleanup_free_ uint64_t *pino = calloc(p->n_nss ? p->n_nss : 1, sizeof(*pino));
	if (r == 0 && (!pns || !pino))
		r = -ENOMEM;
	for (size_t k = 0; pns && k < p->n_nss; k++)
		pns[k] = -1;
	for (size_t k = 0; r == 0 && k < p->n_nss; k++) {
		pns[k] = fl_netns_open(&p->nss[k].scope);
		r = pns[k] < 0 ? pns[k] : fl_netns_inode(pns[k], &pino[k]);
	}
	for (size_t i = 0; r == 0 && i < n_where; i++) {
		int ns = i < n_from ? h->flow_ns[i] : pns[i - n_from];
		uint64_t ino = i < n_from ? h->flow_ino[i] : pino[i - n_from];
		bool dup = false;
		size_t k = 0;

		for (size_t q = 0; q < n_seen; q++)
			dup |= seen[q] == ino;
		if (dup)
			continue;
		seen[n_seen++] = ino;
		while (k < p->n_nss && pino[k] != ino)
			k++;
		if (k == p->n_nss) {
			r = wire_capture(h, w, n_seen - 1, "any", ns, filter, errbuf);
			continue;
		}
		w->plan_ns_captured[k] = true;
		for (size_t d = 0; r == 0 && d < p->nss[k].n_devices && p->nss[k].devices_resolved;
		     d++)
			r = wire_capture(h, w, n_seen - 1, p->nss[k].devices[d], ns, filter, errbuf);
		if (r == 0)
			r = wire_capture(h, w, n_seen - 1, "lo", ns, filter, errbuf);
	}
	for (size_t k = 0; pns && k < p->n_nss; k++)
		if (pns[k] >= 0)
			close(pns[k]);
	if (r < 0) {
		fprintf(stderr, "faultline run: warning: the wire observer is off: %s%s%s\n",
			strerror(-r), *errbuf ? ": " : "", errbuf);
		for (size_t k = 0; k < w->n_caps; k++)
			fl_capture_close(w->caps[k]);
		free(w->caps);
		free(w->plan_ns_captured);
		fl_observer_free(w->o);
		*w = (struct wire){.phase_fd = w->phase_fd};
	}
}

static void *wire_thread(void *userdata)
{
	struct wire *w = userdata;

	w->r = fl_observer_run(w->o, w->caps, w->n_caps, w->phase_fd, -1, FL_NEVER, NULL);
	return NULL;
}

/* Joins the observer and builds its report (NULL if it was off or failed). */
static struct fl_wire_report *wire_finish(struct wire *w)
{
	struct fl_wire_report *rep = NULL;

	if (w->running) {
		pthread_join(w->thread, NULL);
		if (w->r < 0)
			fprintf(stderr, "faultline run: warning: the wire observer failed: %s\n",
				strerror(-w->r));
		else if (fl_observer_report(w->o, &rep) < 0)
			rep = NULL;
	}
	for (size_t k = 0; k < w->n_caps; k++)
		fl_capture_close(w->caps[k]);
	free(w->caps);
	w->caps = NULL;
	fl_observer_free(w->o);
	w->o = NULL;
	return rep;
}

/*
 * What the wire showed of each fault, one line each. Where the capture sat
 * inside the fault's own namespace, a delay (or any kind but drops and
 * rejects) acts outside what the capture can see: "no effect" there says
 * nothing, and is not shown as a verdict.
 */
static void wire_print(const struct fl_wire_report *rep, const struct fl_plan *p,
		       const struct wire *w)
{
	const struct fl_scenario *s = p->scenario;
	const bool *inside = w->plan_ns_captured;

	for (size_t i = 0; i < rep->n_checks; i++) {
		const struct fl_wire_fault_check *c = &rep->checks[i];
		bool drops = c->kind == FL_FAULT_PARTITION || c->kind == FL_FAULT_BLACKHOLE ||
			     c->kind == FL_FAULT_REJECT;
		if (inside && inside[p->faults[c->step].ns] && !drops &&
		    c->verdict == FL_WIRE_VERDICT_NO_EFFECT) {
			printf("wire: fault '%s' (%s): not measurable here: the capture sits "
			       "inside its namespace, after it on the way in and before it on the "
			       "way out (run the flows from another namespace to see it)\n",
			       s->steps[c->step].id, fl_fault_kind_to_string(c->kind));
			continue;
		}
		printf("wire: fault '%s' (%s): %s: %s\n", s->steps[c->step].id,
		       fl_fault_kind_to_string(c->kind), fl_wire_verdict_to_string(c->verdict),
		       c->evidence);
	}
	for (size_t i = 0; i < rep->n_blast; i++)
		if (rep->blast[i].touched)
			printf("wire: untargeted traffic touched: %s\n", rep->blast[i].why);
	for (size_t i = 0; i < rep->n_captures; i++)
		if (rep->captures[i].dropped)
			printf("wire: capture %s dropped %llu packets: its numbers are a lower "
			       "bound\n",
			       rep->captures[i].dev, (unsigned long long)rep->captures[i].dropped);
}

/* ---- no_retry_storm: the wire's count of new attempts towards the flow's service ------- */

/* Where a flow's probes go: host and port of its address or URL (the first address). */
static int flow_destination(const struct fl_flow *f, struct fl_wire_endpoint *ret)
{
	char host[256] = "", port[16] = "";
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
	uint8_t proto = IPPROTO_TCP;

	switch (f->kind) {
	case FL_FLOW_TCP:
	case FL_FLOW_UDP:
		proto = f->kind == FL_FLOW_UDP ? IPPROTO_UDP : IPPROTO_TCP;
		if (f->address.family != AF_UNSPEC) {
			*ret = (struct fl_wire_endpoint){.family = f->address.family,
							 .proto = proto,
							 .port = f->address.port_lo};
			memcpy(&ret->addr, &f->address.addr, sizeof(ret->addr));
			return 0;
		}
		if (!f->address.hostname)
			return -EINVAL;
		snprintf(host, sizeof(host), "%s", f->address.hostname);
		snprintf(port, sizeof(port), "%u", f->address.port_lo);
		break;
	case FL_FLOW_HTTP: {
		CURLU *u = curl_url();
		char *h = NULL, *pt = NULL;
		if (!u)
			return -ENOMEM;
		if (curl_url_set(u, CURLUPART_URL, f->url, 0) == CURLUE_OK &&
		    curl_url_get(u, CURLUPART_HOST, &h, 0) == CURLUE_OK &&
		    curl_url_get(u, CURLUPART_PORT, &pt, CURLU_DEFAULT_PORT) == CURLUE_OK) {
			/* An IPv6 literal comes back in brackets. */
			size_t n = strlen(h);
			if (h[0] == '[' && n > 2)
				snprintf(host, sizeof(host), "%.*s", (int)(n - 2), h + 1);
			else
				snprintf(host, sizeof(host), "%s", h);
			snprintf(port, sizeof(port), "%s", pt);
		}
		curl_free(h);
		curl_free(pt);
		curl_url_cleanup(u);
		if (!*host)
			return -EINVAL;
		break;
	}
	default:
		return -EINVAL; /* exec: nobody knows where it goes */
	}
	if (getaddrinfo(host, port, &hints, &ai) != 0 || !ai)
		return -EHOSTUNREACH;
	*ret = (struct fl_wire_endpoint){.family = ai->ai_family, .proto = proto};
	if (ai->ai_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)ai->ai_addr;
		ret->addr.v4 = sin->sin_addr;
		ret->port = ntohs(sin->sin_port);
	} else {
		const struct sockaddr_in6 *sin6 = (const void *)ai->ai_addr;
		ret->addr.v6 = sin6->sin6_addr;
		ret->port = ntohs(sin6->sin6_port);
	}
	freeaddrinfo(ai);
	return 0;
}

struct storm_ctx {
	const struct fl_plan *p;
	const struct fl_wire_report *rep;
};

static int retry_ratio(const struct fl_expect *e, uint64_t from_ns, uint64_t to_ns,
		       uint64_t *ret_ratio_milli, char *why, size_t why_len, void *userdata)
{
	const struct storm_ctx *c = userdata;
	const struct fl_scenario *s = c->p->scenario;
	const struct fl_flow *f = &s->flows[e->flow.index];
	struct fl_wire_endpoint dst, none = { .family = AF_INET };
	uint64_t base_from, base_to;
	uint32_t svc;
	int r;

	if (!c->rep) {
		snprintf(why, why_len, "the wire observer was off");
		return -ENODATA;
	}
	/*
	 * The flow's service: where its address or URL points. A flow to no
	 * service (a shop in front of the faulted provider) is judged by what
	 * its destination does: that address's attempts towards the services
	 * of the fault its window is during. An exec flow, whose traffic nobody
	 * can name: every client's attempts towards that fault's services.
	 * Either way the step's busiest service by its storm.
	 */
	r = flow_destination(f, &dst);
	svc = r == 0 ? fl_wire_classify(c->p, &dst, &none, NULL) : FL_WIRE_OTHER;
	if (svc == FL_WIRE_OTHER && e->window.kind == FL_WIN_DURING &&
	    s->steps[e->window.step.index].kind == FL_STEP_FAULT) {
		const struct fl_wire_endpoint *client = r == 0 ? &dst : NULL;
		char from[INET6_ADDRSTRLEN + 32] = "";
		size_t busiest;

		if (client) {
			char a[INET6_ADDRSTRLEN] = "";

			inet_ntop(dst.family, &dst.addr, a, sizeof(a));
			snprintf(from, sizeof(from), " from %s (the flow's server)", a);
		}
		r = fl_wire_retry_ratio_fault(c->rep, (uint32_t)e->window.step.index, client,
					      ret_ratio_milli, &busiest);
		if (r == 0)
			snprintf(why, why_len, "towards '%s' (the fault's service)%s",
				 s->services[busiest].name, from);
		else
			snprintf(why, why_len,
				 "no attempt towards the fault's services%s in the baseline", from);
		return r;
	}
	if (r < 0) {
		snprintf(why, why_len,
			 "flow '%s' has no address the wire can attribute (an exec flow): its "
			 "window must be `during:` a fault for the wire to know its service",
			 f->name);
		return -EINVAL;
	}
	if (svc == FL_WIRE_OTHER) {
		snprintf(why, why_len,
			 "flow '%s' talks to no service of the scenario, and its window is not "
			 "`during:` a fault whose services its server's calls could be judged by",
			 f->name);
		return -ENOENT;
	}
	if (fl_wire_baseline(c->rep, &base_from, &base_to) < 0) {
		snprintf(why, why_len, "no baseline before the first fault");
		return -ENODATA;
	}
	r = fl_wire_retry_ratio(c->rep, svc, NULL, from_ns, to_ns, base_from, base_to,
				ret_ratio_milli);
	if (r == -ENODATA)
		snprintf(why, why_len, "no attempt towards '%s' in the baseline to compare with",
			 s->services[svc].name);
	else if (r == 0)
		snprintf(why, why_len, "towards '%s'", s->services[svc].name);
	return r;
}

static int judge_and_report(struct run_harness *h, struct fl_results *res,
			    struct fl_wire_report *rep, const struct wire *w)
{
	_cleanup_(fl_judgements_freep) struct fl_judgements *j = NULL;
	int (*const views[3])(const struct fl_judgements *,
			      char **) = {fl_report_json, fl_report_junit, fl_report_html};
	char *text = NULL;
	int r;

	struct storm_ctx sc = {.p = h->p, .rep = rep};
	struct fl_judge_options jo = {.retry_ratio = retry_ratio, .userdata = &sc};
	r = h->p && rep ? fl_judge_ex(res, &jo, &j) : fl_judge(res, &j);
	if (r < 0) {
		fprintf(stderr, "faultline run: error: cannot judge: %s\n", strerror(-r));
		return FL_EXIT_SYSTEM;
	}
	if (fl_report_terminal(j, fl_cli_isatty(), &text) == 0) {
		fputs(text, stdout);
		free(text);
	}
	if (rep) {
		wire_print(rep, h->p, w);
		if (h->report_fd[3] >= 0) {
			text = fl_wire_report_json(rep);
			if (text)
				write_all(h->report_fd[3], text);
			free(text);
		}
		fl_wire_report_free(rep);
	}
	fflush(stdout);
	for (int k = 0; k < 3; k++) {
		if (h->report_fd[k] < 0)
			continue;
		if (views[k](j, &text) < 0) {
			fprintf(stderr, "faultline run: error: cannot render %s\n",
				report_names[k]);
			return FL_EXIT_SYSTEM;
		}
		write_all(h->report_fd[k], text);
		free(text);
	}
	return fl_judgements_exit_status(j);
}

static _Noreturn void harness_main(struct run_harness *h, pid_t parent, int phase_rfd,
				   int ready_wfd)
{
	struct fl_scenario *s = (struct fl_scenario *)h->s; /* our own copy, after fork */
	int *socks = calloc(s->n_flows ? s->n_flows : 1, sizeof(*socks));
	int *keep = calloc(2 * s->n_flows + 8, sizeof(*keep));
	size_t n_keep = 0;
	sigset_t none;
	int r;

	(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent || !socks || !keep)
		_exit(FL_EXIT_SYSTEM);
	/* The default 50 us timer slack would show as schedule jitter of every probe. */
	(void)prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
	/* The run decides when we stop: not the terminal's ^C. */
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);

	int self = fl_netns_open_spec(NULL);
	uint64_t self_ino = 0;
	if (self >= 0) {
		(void)fl_netns_inode(self, &self_ino);
		close(self);
	}
	if (h->home_ns >= 0 && h->home_ino != self_ino && setns(h->home_ns, CLONE_NEWNET) < 0) {
		fprintf(stderr,
			"faultline run: error: the harness cannot enter its namespace: %s\n",
			strerror(errno));
		_exit(FL_EXIT_SYSTEM);
	}
	/* A factory per other namespace, shared by the flows that name it. */
	for (size_t i = 0; i < s->n_flows; i++) {
		uint64_t ino = h->flow_ino[i];
		socks[i] = -1;
		if (ino == h->home_ino) {
			free(s->flows[i].netns);
			s->flows[i].netns = NULL; /* we are there */
			continue;
		}
		for (size_t k = 0; k < i && socks[i] < 0; k++)
			if (socks[k] >= 0 && h->flow_ino[k] == ino)
				socks[i] = socks[k];
		if (socks[i] >= 0)
			continue;
		int sv[2];
		pid_t pid;
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
			_exit(FL_EXIT_SYSTEM);
		pid = fork();
		if (pid < 0)
			_exit(FL_EXIT_SYSTEM);
		if (pid == 0) {
			int k2[2] = {sv[1], h->flow_ns[i]};
			(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
			fl_child_close_fds(k2, 2);
			factory_main(h->flow_ns[i], sv[1], h->uid, h->gid);
		}
		close(sv[1]);
		socks[i] = sv[0];
		keep[n_keep++] = sv[0];
	}
	keep[n_keep++] = phase_rfd;
	keep[n_keep++] = ready_wfd;
	/* The flows' namespaces: the observer captures there (they confer nothing once we drop). */
	for (size_t i = 0; i < s->n_flows; i++)
		keep[n_keep++] = h->flow_ns[i];
	if (h->phase_fd2 >= 0)
		keep[n_keep++] = h->phase_fd2;
	for (int k = 0; k < 4; k++)
		if (h->report_fd[k] >= 0)
			keep[n_keep++] = h->report_fd[k];
	/* Nothing privileged may reach the harness. */
	fl_child_close_fds(keep, n_keep);

	/* Captures open now, privileged; they keep working once we are not. */
	struct wire w = {.phase_fd = h->phase_fd2};
	if (h->observe && h->p)
		wire_open(h, &w);

	/* An unprivileged invoker (a dry run) is already who the probes run as. */
	r = geteuid() == 0 ? fl_caps_become_user(h->uid, h->gid) : 0;
	if (r < 0) {
		fprintf(stderr, "faultline run: error: the harness cannot become uid %u: %s\n",
			(unsigned)h->uid, strerror(-r));
		_exit(FL_EXIT_SYSTEM);
	}
	if (w.o) {
		r = pthread_create(&w.thread, NULL, wire_thread, &w);
		w.running = r == 0;
		if (r)
			fprintf(stderr, "faultline run: warning: the wire observer is off: %s\n",
				strerror(r));
	}

	/*
	 * Ready: the runner starts its clock only now, and its START is our
	 * origin, so that probe k of a flow is due at scenario time k * every
	 * (not that plus however long the setup above took) and the captures
	 * already run at the timeline's first instant.
	 */
	struct fl_phase_event start;
	if (write(ready_wfd, "r", 1) != 1 || close(ready_wfd) < 0 ||
	    fl_phase_recv(phase_rfd, &start) < 0 || start.kind != FL_PHASE_START)
		_exit(FL_EXIT_SYSTEM); /* the runner gave up before its clock started */
	fcntl(phase_rfd, F_SETFL, fcntl(phase_rfd, F_GETFL) | O_NONBLOCK);

	struct fl_flows_options o = {
		.start_ns = start.t_ns,
		.script = &start, /* the START read above, for the phase tracker */
		.n_script = 1,
		.phase_fd = phase_rfd,
		.netns_fds = socks, /* >= 0 only where a factory serves: no setns ever */
		.open_socket = factory_socket,
		.open_socket_userdata = socks,
		.stop_fd = -1,
	};
	_cleanup_(fl_results_freep) struct fl_results *res = NULL;
	r = fl_flows_run(s, &o, &res);
	struct fl_wire_report *rep = wire_finish(&w);
	if (r < 0) {
		fprintf(stderr, "faultline run: error: the harness failed: %s\n", strerror(-r));
		_exit(FL_EXIT_SYSTEM);
	}
	_exit(judge_and_report(h, res, rep, &w));
}

static void close_pair(int fd[2])
{
	for (int k = 0; k < 2; k++)
		if (fd[k] >= 0)
			close(fd[k]);
}

/* The child's one byte once it is ready; -ECHILD if it died first, -ETIMEDOUT. */
static int wait_ready(int fd)
{
	uint64_t deadline = fl_flows_now_ns() + READY_TIMEOUT_NS;

	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		uint64_t now = fl_flows_now_ns();
		char c;
		int n;

		if (now >= deadline)
			return -ETIMEDOUT;
		n = poll(&p, 1, (int)((deadline - now) / 1000000 + 1));
		if (n < 0 && errno != EINTR)
			return -errno;
		if (n <= 0)
			continue;
		n = (int)read(fd, &c, 1);
		if (n == 1)
			return 0;
		if (n == 0)
			return -ECHILD;
		if (errno != EINTR)
			return -errno;
	}
}

int run_harness_start(struct run_harness *h)
{
	int p[2] = {-1, -1}, p2[2] = {-1, -1}, ready[2] = {-1, -1};
	pid_t pid, parent = getpid();
	int r;

	if (pipe2(p, O_CLOEXEC) < 0 || pipe2(ready, O_CLOEXEC) < 0 ||
	    (h->observe && pipe2(p2, O_CLOEXEC) < 0)) {
		r = -errno;
		close_pair(p);
		close_pair(ready);
		return r;
	}
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		r = -errno;
		close_pair(p);
		close_pair(p2);
		close_pair(ready);
		return r;
	}
	if (pid == 0) {
		close(p[1]);
		close(ready[0]);
		if (p2[1] >= 0)
			close(p2[1]);
		h->phase_fd2 = p2[0];
		harness_main(h, parent, p[0], ready[1]);
	}
	close(p[0]);
	close(ready[1]);
	if (p2[0] >= 0)
		close(p2[0]);
	h->pid = pid;
	h->phase_fd = p[1];
	h->phase_fd2 = p2[1];
	r = wait_ready(ready[0]);
	close(ready[0]);
	return r; /* on failure run_harness_done() kills the child */
}

void run_harness_phase(struct run_harness *h, enum fl_phase_kind kind, uint32_t step, uint64_t t_ns)
{
	if (h->phase_fd < 0)
		return;
	if (kind == FL_PHASE_END || (kind == FL_PHASE_STEP_APPLIED && step < h->s->n_steps &&
				     h->s->steps[step].kind == FL_STEP_END))
		h->sent_end = true;
	/* A dead harness (EPIPE) is noticed at wait. */
	(void)fl_phase_send(h->phase_fd, kind, step, t_ns);
	if (h->phase_fd2 >= 0)
		(void)fl_phase_send(h->phase_fd2, kind, step, t_ns);
}

int run_harness_wait(struct run_harness *h, bool completed, int stop_fd)
{
	int status;

	if (!h->pid)
		return FL_EXIT_SYSTEM;
	if (completed && !h->sent_end)
		run_harness_phase(h, FL_PHASE_END, 0, fl_flows_now_ns());
	close(h->phase_fd);
	h->phase_fd = -1;
	if (h->phase_fd2 >= 0)
		close(h->phase_fd2);
	h->phase_fd2 = -1;
	for (;;) {
		struct pollfd p = {.fd = stop_fd, .events = POLLIN};
		pid_t w = waitpid(h->pid, &status, WNOHANG);

		if (w == h->pid)
			break;
		if (w < 0 && errno != EINTR)
			return FL_EXIT_SYSTEM;
		if (poll(&p, stop_fd >= 0 ? 1 : 0, WAIT_POLL_MS) > 0) {
			kill(h->pid, SIGKILL);
			waitpid(h->pid, &status, 0);
			h->pid = 0;
			return -EINTR;
		}
	}
	h->pid = 0;
	if (WIFEXITED(status) && WEXITSTATUS(status) <= FL_EXIT_SYSTEM &&
	    WEXITSTATUS(status) != FL_EXIT_INPUT)
		return WEXITSTATUS(status);
	return FL_EXIT_SYSTEM;
}

void run_harness_done(struct run_harness *h)
{
	if (h->pid > 0) {
		kill(h->pid, SIGKILL);
		waitpid(h->pid, NULL, 0);
		h->pid = 0;
	}
	if (h->phase_fd >= 0)
		close(h->phase_fd);
	h->phase_fd = -1;
	if (h->phase_fd2 >= 0)
		close(h->phase_fd2);
	h->phase_fd2 = -1;
	for (size_t i = 0; h->flow_ns && h->s && i < h->s->n_flows; i++)
		if (h->flow_ns[i] >= 0)
			close(h->flow_ns[i]);
	free(h->flow_ns);
	h->flow_ns = NULL;
	free(h->flow_ino);
	h->flow_ino = NULL;
	for (int k = 0; k < 4; k++)
		if (h->report_fd[k] >= 0) {
			close(h->report_fd[k]);
			h->report_fd[k] = -1;
		}
}
