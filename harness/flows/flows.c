/* SPDX-License-Identifier: MIT */
/*
 * One thread, one epoll set: a timerfd armed at the earliest absolute
 * deadline (next probe of any flow, oldest in-flight probe's timeout, next
 * scripted phase, curl's own timer, the stop), the phase pipe, the stop fd,
 * curl's sockets (multi socket interface), and each tcp/udp probe's socket
 * and exec probe's pidfd and stdout pipe.
 *
 * A flow's in-flight probes are kept in start order; as they share one
 * timeout, the oldest holds the earliest deadline, so finding the next
 * deadline costs one look per flow, not one per probe.
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "flows/flows.h"
#include "util/units.h"

extern char **environ;

/* How often exec probes without a pidfd are checked for their exit. */
#define FL_EXEC_POLL_NS (5 * 1000 * 1000ULL)

/* What is kept of an answer to search it; the rest is read and dropped. */
#define FL_BODY_MAX  (1u << 20)
#define FL_REPLY_MAX (64u << 10)
/* Of a command's stderr, the end is kept: where its last words (the why) are. */
#define FL_ERR_TAIL 1024

enum watch_type {
	W_TIMER,
	W_PHASE,
	W_STOP,
	W_CURL,
	W_SOCK,
	W_PID,
	W_OUT,
	W_ERR,
};

struct watch {
	enum watch_type type;
	int fd; /* -1 once curl forgot the socket */
	void *ptr;
	struct watch *dead_next;
};

struct loop;

struct flow_rt {
	struct loop *loop;
	size_t index;		 /* flow, or expectation for invariants */
	const struct fl_flow *f; /* NULL for invariants */
	bool invariant;
	enum fl_flow_kind kind;
	const char *command;
	int expect_exit;
	const char *stdout_contains;
	uint64_t timeout_ns;
	uint32_t concurrency;
	int netns_fd;
	bool use_opener;

	uint64_t next_ns;
	uint64_t held_ns; /* > next_ns: the probe due at next_ns waits for a step until then */
	uint64_t seq;
	uint32_t inflight;
	struct probe *head, *tail; /* in flight, start order */
	bool triggered;		   /* invariants: launched */

	struct curl_slist *headers;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	int resolve_error; /* getaddrinfo's EAI_* for a hostname address, 0 = resolved */
};

enum probe_state {
	P_CONNECTING,
	P_SENDING,
	P_READING,
	P_RUNNING, /* exec */
	P_REAPING, /* exec, killed at its timeout: result recorded, waiting for the exit */
};

struct probe {
	struct flow_rt *flow;
	struct probe *prev, *next;
	enum probe_state state;
	uint64_t scheduled_ns, start_ns, deadline_ns;
	uint32_t phase_set;

	CURL *easy;
	int fd;
	struct watch w_fd;
	pid_t pid;
	int pidfd;
	struct watch w_pid;
	int outfd;
	struct watch w_out;
	int errfd;
	struct watch w_err;
	char err[FL_ERR_TAIL]; /* the last bytes the command wrote to stderr */
	size_t err_len;

	char *buf;
	size_t len, cap, limit;
	size_t sent;
	/*
	 * Freed only after the current batch of epoll events: a later event of
	 * the same batch may still point at it.
	 */
	bool dead;
	struct probe *dead_next;
	bool polled; /* no pidfd (old kernel, valgrind): waitpid on a tick instead */
};

struct step_due {
	uint64_t real_ns; /* after the start */
	uint32_t step;
};

struct loop {
	const struct fl_scenario *s;
	const struct fl_flows_options *o;
	struct fl_results *r;
	int epfd, tfd, self_ns, devnull;
	struct watch w_timer, w_phase, w_stop;
	CURLM *multi;
	uint64_t curl_deadline;
	struct flow_rt *flows;
	size_t n_flows;
	struct flow_rt *invs; /* one per invariant expectation (others unused) */
	struct step_due *due; /* the steps by real time after the start; none without phases */
	size_t n_due;
	size_t next_script;
	bool stopping, aborted;
	uint64_t stop_at; /* grace deadline after END */
	struct probe *reaping;
	struct probe *dead_probes;
	struct watch *dead_watches;
	size_t n_polled;  /* exec probes without a pidfd */
	uint64_t poll_at; /* next waitpid round for them */
	int fatal;
	char detail[FL_DETAIL_MAX]; /* the result being recorded (set_detail) */
};

uint64_t fl_flows_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * FL_NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

/* ---- sockets in a flow's namespace ------------------------------------- */

static int open_sock(struct flow_rt *fr, int domain, int type, int protocol)
{
	struct loop *l = fr->loop;
	int fd, e;

	type |= SOCK_NONBLOCK | SOCK_CLOEXEC;
	if (fr->netns_fd < 0) {
		fd = socket(domain, type, protocol);
		return fd < 0 ? -errno : fd;
	}
	if (fr->use_opener)
		return l->o->open_socket(fr->index, domain, type, protocol,
					 l->o->open_socket_userdata);
	if (setns(fr->netns_fd, CLONE_NEWNET) < 0)
		return -errno;
	fd = socket(domain, type, protocol);
	e = errno;
	if (setns(l->self_ns, CLONE_NEWNET) < 0) {
		/* Every later socket would open in the wrong namespace: stop the run. */
		l->fatal = -errno;
		if (fd >= 0)
			close(fd);
		return l->fatal;
	}
	return fd < 0 ? -e : fd;
}

/* ---- recording ---------------------------------------------------------- */

/* Written into the loop's one buffer: each result is recorded (and its detail copied) next. */
static void set_detail(struct loop *l, struct fl_probe_result *res, const char *fmt, ...)
	_printf_(3, 4);
static void set_detail(struct loop *l, struct fl_probe_result *res, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(l->detail, sizeof(l->detail), fmt, ap);
	va_end(ap);
	/* Details may quote what a server sent: keep reports valid JSON, XML and HTML. */
	for (char *c = l->detail; *c; c++)
		if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e)
			*c = '?';
	res->detail = l->detail;
}

static uint64_t find_markers(const struct fl_results *r, size_t flow, const char *buf, size_t len)
{
	const struct fl_flow_markers *m = &r->markers[flow];
	uint64_t bits = 0;

	for (size_t i = 0; i < m->n; i++)
		if (buf && memmem(buf, len, m->text[i], strlen(m->text[i])))
			bits |= 1ULL << i;
	return bits;
}

static void record(struct loop *l, struct probe *p, enum fl_outcome out, int code, uint64_t end_ns,
		   struct fl_probe_result *res)
{
	struct flow_rt *fr = p->flow;
	int k;

	res->flow = (uint32_t)fr->index;
	res->phase_set = p->phase_set;
	res->scheduled_ns = p->scheduled_ns;
	res->start_ns = p->start_ns;
	res->latency_ns = end_ns - p->start_ns;
	res->outcome = out;
	res->code = code;
	if (!fr->invariant)
		res->markers = find_markers(l->r, fr->index, p->buf, p->len);
	k = fr->invariant ? fl_results_add_invariant(l->r, res) : fl_results_add_probe(l->r, res);
	if (k < 0)
		l->fatal = k;
}

static enum fl_outcome outcome_of_errno(int e)
{
	switch (e) {
	case ECONNREFUSED:
		return FL_OUT_REFUSED;
	case ECONNRESET:
	case EPIPE:
	case ECONNABORTED:
		return FL_OUT_RESET;
	case EHOSTUNREACH:
	case ENETUNREACH:
		return FL_OUT_UNREACHABLE;
	case ETIMEDOUT:
		return FL_OUT_TIMEOUT;
	default:
		return FL_OUT_OTHER_ERROR;
	}
}

static void record_errno(struct loop *l, struct probe *p, int e, const char *what, uint64_t now)
{
	struct fl_probe_result res = { 0 };
	enum fl_outcome out = outcome_of_errno(e);

	set_detail(l, &res, "%s: %s", what, strerror(e));
	record(l, p, out, out == FL_OUT_OTHER_ERROR ? e : 0, now, &res);
}

/* ---- probe lifetime ----------------------------------------------------- */

static void unwatch(struct loop *l, int *fd)
{
	if (*fd >= 0) {
		epoll_ctl(l->epfd, EPOLL_CTL_DEL, *fd, NULL);
		close(*fd);
		*fd = -1;
	}
}

static int watch_fd(struct loop *l, struct watch *w, enum watch_type type, int fd, void *ptr,
		    uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = w };

	*w = (struct watch){ .type = type, .fd = fd, .ptr = ptr };
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		if (errno != EEXIST || epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev) < 0)
			return -errno;
	}
	return 0;
}

static int rewatch(struct loop *l, struct watch *w, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = w };

	return epoll_ctl(l->epfd, EPOLL_CTL_MOD, w->fd, &ev) < 0 ? -errno : 0;
}

static void list_remove(struct probe *p)
{
	struct flow_rt *fr = p->flow;

	if (p->prev)
		p->prev->next = p->next;
	else if (fr->head == p)
		fr->head = p->next;
	if (p->next)
		p->next->prev = p->prev;
	else if (fr->tail == p)
		fr->tail = p->prev;
	p->prev = p->next = NULL;
}

static void probe_free(struct loop *l, struct probe *p)
{
	if (!p)
		return;
	if (p->easy) {
		curl_multi_remove_handle(l->multi, p->easy);
		curl_easy_cleanup(p->easy);
	}
	unwatch(l, &p->fd);
	unwatch(l, &p->outfd);
	unwatch(l, &p->errfd);
	unwatch(l, &p->pidfd);
	if (p->polled)
		l->n_polled--;
	free(p->buf);
	p->buf = NULL;
	p->flow->inflight--;
	p->dead = true;
	p->dead_next = l->dead_probes;
	l->dead_probes = p;
}

static void bury(struct loop *l)
{
	while (l->dead_probes) {
		struct probe *p = l->dead_probes;

		l->dead_probes = p->dead_next;
		free(p);
	}
	while (l->dead_watches) {
		struct watch *w = l->dead_watches;

		l->dead_watches = w->dead_next;
		free(w);
	}
}

/* The result is recorded: release the slot, or wait for a killed child first. */
static void probe_done(struct loop *l, struct probe *p)
{
	if (p->state == P_REAPING)
		return;
	list_remove(p);
	if (p->pid > 0) {
		/* Whatever the shell left behind in its group goes too. */
		kill(-p->pid, SIGKILL);
		if (waitpid(p->pid, NULL, WNOHANG) == 0) {
			p->state = P_REAPING;
			unwatch(l, &p->outfd);
			unwatch(l, &p->errfd);
			p->next = l->reaping;
			if (l->reaping)
				l->reaping->prev = p;
			l->reaping = p;
			return;
		}
	}
	probe_free(l, p);
}

static void reaped(struct loop *l, struct probe *p)
{
	if (p->prev)
		p->prev->next = p->next;
	else
		l->reaping = p->next;
	if (p->next)
		p->next->prev = p->prev;
	p->pid = 0;
	probe_free(l, p);
}

static int buf_append(struct probe *p, const void *data, size_t n)
{
	if (p->len + n > p->limit)
		n = p->limit - p->len;
	if (n == 0)
		return 0;
	if (p->len + n + 1 > p->cap) {
		size_t ncap = p->cap ? p->cap : 4096;
		char *nb;

		while (ncap < p->len + n + 1)
			ncap *= 2;
		nb = realloc(p->buf, ncap);
		if (!nb)
			return -ENOMEM;
		p->buf = nb;
		p->cap = ncap;
	}
	memcpy(p->buf + p->len, data, n);
	p->len += n;
	p->buf[p->len] = '\0';
	return 0;
}

static bool buf_has(const struct probe *p, const char *text)
{
	return p->buf && memmem(p->buf, p->len, text, strlen(text));
}

/* ---- http --------------------------------------------------------------- */

static size_t http_write(char *data, size_t size, size_t nmemb, void *userdata)
{
	struct probe *p = userdata;

	return buf_append(p, data, size * nmemb) < 0 ? 0 : size * nmemb;
}

static curl_socket_t http_opensocket(void *clientp, curlsocktype purpose,
				     struct curl_sockaddr *address)
{
	struct flow_rt *fr = clientp;
	int fd = open_sock(fr, address->family, address->socktype, address->protocol);

	return fd < 0 ? CURL_SOCKET_BAD : fd;
}

static int http_start(struct loop *l, struct probe *p)
{
	const struct fl_flow *f = p->flow->f;
	CURL *e;

	e = curl_easy_init();
	if (!e)
		return -ENOMEM;
	p->easy = e;
	p->limit = FL_BODY_MAX;
	curl_easy_setopt(e, CURLOPT_URL, f->url);
	curl_easy_setopt(e, CURLOPT_PRIVATE, p);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	/* A probe measures the path to the service: no proxy from the environment. */
	curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
	/* A fresh connection per probe: a pooled one would hide connect-time faults. */
	curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
	curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, http_write);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, p);
	curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, http_opensocket);
	curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, p->flow);
	if (p->flow->headers)
		curl_easy_setopt(e, CURLOPT_HTTPHEADER, p->flow->headers);
	if (f->method && strcmp(f->method, "HEAD") == 0)
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	else if (f->method && strcmp(f->method, "GET") != 0)
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, f->method);
	if (f->body) {
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, f->body);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(f->body));
		if (!f->method || strcmp(f->method, "POST") != 0)
			curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, f->method ? f->method : "GET");
	}
	if (f->insecure) {
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (f->ca_file)
		curl_easy_setopt(e, CURLOPT_CAINFO, f->ca_file);
	if (curl_multi_add_handle(l->multi, e) != CURLM_OK)
		return -ENOMEM;
	return 0;
}

static bool status_accepted(const struct fl_flow *f, long code)
{
	if (f->n_status == 0)
		return code >= 200 && code <= 399;
	for (size_t i = 0; i < f->n_status; i++)
		if (f->status[i] == code)
			return true;
	return false;
}

static void http_done(struct loop *l, struct probe *p, CURLcode rc, uint64_t now)
{
	const struct fl_flow *f = p->flow->f;
	struct fl_probe_result res = { 0 };
	enum fl_outcome out = FL_OUT_OK;
	long code = 0, os_errno = 0;

	curl_easy_getinfo(p->easy, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_getinfo(p->easy, CURLINFO_OS_ERRNO, &os_errno);
	switch (rc) {
	case CURLE_OK:
		if (!status_accepted(f, code)) {
			out = FL_OUT_HTTP_STATUS;
			set_detail(l, &res, "HTTP %ld", code);
		} else if (f->body_contains && !buf_has(p, f->body_contains)) {
			out = FL_OUT_BODY_MISMATCH;
			set_detail(l, &res, "HTTP %ld, body lacks \"%s\"", code, f->body_contains);
		} else if (f->body_not_contains && buf_has(p, f->body_not_contains)) {
			out = FL_OUT_BODY_MISMATCH;
			set_detail(l, &res, "HTTP %ld, body has \"%s\"", code, f->body_not_contains);
		} else {
			set_detail(l, &res, "HTTP %ld", code);
		}
		record(l, p, out, (int)code, now, &res);
		return;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		out = FL_OUT_DNS_ERROR;
		break;
	case CURLE_OPERATION_TIMEDOUT:
		out = FL_OUT_TIMEOUT;
		break;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
		out = FL_OUT_TLS_ERROR;
		break;
	default:
		out = os_errno ? outcome_of_errno((int)os_errno) : FL_OUT_OTHER_ERROR;
		/* The server closed without a word: what a client sees of a reset mid-request. */
		if (rc == CURLE_GOT_NOTHING || rc == CURLE_RECV_ERROR || rc == CURLE_SEND_ERROR)
			if (out == FL_OUT_OTHER_ERROR && os_errno == 0)
				out = FL_OUT_RESET;
	}
	if (os_errno)
		set_detail(l, &res, "%s (%s)", curl_easy_strerror(rc), strerror((int)os_errno));
	else
		set_detail(l, &res, "%s", curl_easy_strerror(rc));
	record(l, p, out, out == FL_OUT_OTHER_ERROR ? (int)os_errno : (int)code, now, &res);
}

static int curl_socket_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct loop *l = userp;
	struct watch *w = socketp;
	uint32_t events = 0;
	int k;

	if (what == CURL_POLL_REMOVE) {
		if (w) {
			epoll_ctl(l->epfd, EPOLL_CTL_DEL, s, NULL);
			curl_multi_assign(l->multi, s, NULL);
			w->fd = -1;
			w->dead_next = l->dead_watches;
			l->dead_watches = w;
		}
		return 0;
	}
	if (what & CURL_POLL_IN)
		events |= EPOLLIN;
	if (what & CURL_POLL_OUT)
		events |= EPOLLOUT;
	if (!w) {
		w = calloc(1, sizeof(*w));
		if (!w) {
			l->fatal = -ENOMEM;
			return -1;
		}
		curl_multi_assign(l->multi, s, w);
	}
	k = watch_fd(l, w, W_CURL, s, NULL, events);
	if (k < 0) {
		l->fatal = k;
		return -1;
	}
	return 0;
}

static int curl_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct loop *l = userp;

	l->curl_deadline = timeout_ms < 0
				   ? FL_NEVER
				   : fl_flows_now_ns() + (uint64_t)timeout_ms * FL_NSEC_PER_MSEC;
	return 0;
}

static void curl_collect(struct loop *l)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(l->multi, &left))) {
		struct probe *p = NULL;

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&p);
		http_done(l, p, m->data.result, fl_flows_now_ns());
		probe_done(l, p);
	}
}

static void curl_action(struct loop *l, curl_socket_t s, int mask)
{
	int running;

	curl_multi_socket_action(l->multi, s, mask, &running);
	curl_collect(l);
}

/* ---- tcp / udp ---------------------------------------------------------- */

static void sock_finish_read(struct loop *l, struct probe *p, uint64_t now, bool eof)
{
	const struct fl_flow *f = p->flow->f;
	struct fl_probe_result res = { 0 };

	if (!f->expect || buf_has(p, f->expect)) {
		set_detail(l, &res, "%zu bytes", p->len);
		record(l, p, FL_OUT_OK, 0, now, &res);
	} else {
		set_detail(l, &res, "%s without \"%s\" (%zu bytes)", eof ? "closed" : "reply",
			   f->expect, p->len);
		record(l, p, FL_OUT_BODY_MISMATCH, 0, now, &res);
	}
	probe_done(l, p);
}

/* Moves a probe on as far as its socket allows; returns when it must wait. */
static void sock_step(struct loop *l, struct probe *p, uint32_t events)
{
	const struct fl_flow *f = p->flow->f;
	const bool udp = f->kind == FL_FLOW_UDP;
	uint64_t now = fl_flows_now_ns();
	struct fl_probe_result res = { 0 };
	char tmp[4096];
	ssize_t n;
	int e = 0;
	socklen_t el = sizeof(e);

	if (p->state == P_CONNECTING) {
		if (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &e, &el) < 0)
			e = errno;
		if (e) {
			record_errno(l, p, e, "connect", now);
			probe_done(l, p);
			return;
		}
		if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		p->state = f->send ? P_SENDING : P_READING;
		if (!f->send && !f->expect) {
			set_detail(l, &res, "connected");
			record(l, p, FL_OUT_OK, 0, now, &res);
			probe_done(l, p);
			return;
		}
	}
	if (p->state == P_SENDING) {
		size_t total = strlen(f->send);

		while (p->sent < total) {
			n = send(p->fd, f->send + p->sent, total - p->sent, MSG_NOSIGNAL);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && errno == EAGAIN) {
				if (rewatch(l, &p->w_fd, EPOLLOUT) < 0)
					l->fatal = -errno;
				return;
			}
			if (n < 0) {
				record_errno(l, p, errno, "send", now);
				probe_done(l, p);
				return;
			}
			p->sent += (size_t)n;
		}
		if (!f->expect && !udp) {
			set_detail(l, &res, "sent %zu bytes", total);
			record(l, p, FL_OUT_OK, 0, now, &res);
			probe_done(l, p);
			return;
		}
		p->state = P_READING;
		if (rewatch(l, &p->w_fd, EPOLLIN) < 0)
			l->fatal = -errno;
		return;
	}
	/* P_READING */
	for (;;) {
		n = recv(p->fd, tmp, sizeof(tmp), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n < 0) {
			record_errno(l, p, errno, "recv", now);
			probe_done(l, p);
			return;
		}
		if (n == 0 && !udp) {
			sock_finish_read(l, p, now, true);
			return;
		}
		if (buf_append(p, tmp, (size_t)n) < 0) {
			l->fatal = -ENOMEM;
			return;
		}
		/* A datagram is the whole answer; a stream is done once `expect` is seen. */
		if (udp || (f->expect && buf_has(p, f->expect)) || p->len >= p->limit) {
			sock_finish_read(l, p, now, false);
			return;
		}
	}
}

static int sock_start(struct loop *l, struct probe *p)
{
	struct flow_rt *fr = p->flow;
	const bool udp = fr->kind == FL_FLOW_UDP;
	int fd, k;

	fd = open_sock(fr, fr->addr.ss_family, udp ? SOCK_DGRAM : SOCK_STREAM, 0);
	if (fd < 0)
		return fd;
	p->fd = fd;
	p->limit = FL_REPLY_MAX;
	p->state = P_CONNECTING;
	/* A connected UDP socket hears ICMP port unreachable as ECONNREFUSED. */
	if (connect(fd, (struct sockaddr *)&fr->addr, fr->addrlen) < 0 && errno != EINPROGRESS) {
		record_errno(l, p, errno, "connect", fl_flows_now_ns());
		return 1;
	}
	k = watch_fd(l, &p->w_fd, W_SOCK, fd, p, EPOLLOUT);
	if (k < 0)
		return k;
	return 0;
}

/* ---- exec --------------------------------------------------------------- */

/*
 * Without a namespace to enter, posix_spawn: glibc's is a CLONE_VM|CLONE_VFORK
 * clone, so the loop does not stall copying the page tables of a large
 * process. With one, fork, because posix_spawn cannot setns in the child.
 * Either way the child gets an empty signal mask (the caller may block
 * signals for a signalfd) and a process group of its own, killed whole on
 * timeout.
 */
static int exec_spawn(struct loop *l, struct flow_rt *fr, int out, int err, pid_t *ret_pid)
{
	char *argv[] = { "sh", "-c", (char *)fr->command, NULL };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, dfl;
	int k;

	sigemptyset(&none);
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGPIPE);
	sigaddset(&dfl, SIGINT);
	sigaddset(&dfl, SIGTERM);
	sigaddset(&dfl, SIGHUP);
	if (fr->netns_fd < 0) {
		k = posix_spawn_file_actions_init(&fa);
		if (k)
			return -k;
		k = posix_spawnattr_init(&at);
		if (k) {
			posix_spawn_file_actions_destroy(&fa);
			return -k;
		}
		posix_spawn_file_actions_adddup2(&fa, l->devnull, STDIN_FILENO);
		posix_spawn_file_actions_adddup2(&fa, out, STDOUT_FILENO);
		posix_spawn_file_actions_adddup2(&fa, err, STDERR_FILENO);
		posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
						      POSIX_SPAWN_SETSIGDEF);
		posix_spawnattr_setpgroup(&at, 0);
		posix_spawnattr_setsigmask(&at, &none);
		posix_spawnattr_setsigdefault(&at, &dfl);
		k = posix_spawn(ret_pid, "/bin/sh", &fa, &at, argv, environ);
		posix_spawnattr_destroy(&at);
		posix_spawn_file_actions_destroy(&fa);
		return -k;
	}
	*ret_pid = fork();
	if (*ret_pid < 0)
		return -errno;
	if (*ret_pid == 0) {
		/* Only async-signal-safe calls: curl's resolver threads may exist. */
		setpgid(0, 0);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		if (setns(fr->netns_fd, CLONE_NEWNET) < 0)
			_exit(126);
		dup2(l->devnull, STDIN_FILENO);
		dup2(out, STDOUT_FILENO);
		dup2(err, STDERR_FILENO);
		execv("/bin/sh", argv);
		_exit(127);
	}
	return 0;
}

static int exec_start(struct loop *l, struct probe *p)
{
	struct flow_rt *fr = p->flow;
	int pipefd[2], errpipe[2], k;
	pid_t pid;

	if (pipe2(pipefd, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	if (pipe2(errpipe, O_CLOEXEC | O_NONBLOCK) < 0) {
		k = -errno;
		close(pipefd[0]);
		close(pipefd[1]);
		return k;
	}
	k = exec_spawn(l, fr, pipefd[1], errpipe[1], &pid);
	close(pipefd[1]);
	close(errpipe[1]);
	if (k < 0) {
		close(pipefd[0]);
		close(errpipe[0]);
		return k;
	}
	setpgid(pid, pid);
	p->pid = pid;
	p->outfd = pipefd[0];
	p->errfd = errpipe[0];
	p->limit = FL_REPLY_MAX;
	p->state = P_RUNNING;
	p->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (p->pidfd >= 0) {
		k = watch_fd(l, &p->w_pid, W_PID, p->pidfd, p, EPOLLIN);
		if (k < 0)
			return k;
	} else {
		/* No SIGCHLD handler: the library must not own the process's signals. */
		p->polled = true;
		if (l->n_polled++ == 0)
			l->poll_at = fl_flows_now_ns() + FL_EXEC_POLL_NS;
	}
	k = watch_fd(l, &p->w_err, W_ERR, p->errfd, p, EPOLLIN);
	if (k < 0)
		return k;
	return watch_fd(l, &p->w_out, W_OUT, p->outfd, p, EPOLLIN);
}

/* Keeps the last FL_ERR_TAIL bytes of what the command wrote to stderr. */
static void keep_err_tail(struct probe *p, const char *data, size_t n)
{
	if (n >= sizeof(p->err)) {
		memcpy(p->err, data + n - sizeof(p->err), sizeof(p->err));
		p->err_len = sizeof(p->err);
		return;
	}
	if (p->err_len + n > sizeof(p->err)) {
		size_t drop = p->err_len + n - sizeof(p->err);

		memmove(p->err, p->err + drop, p->err_len - drop);
		p->err_len -= drop;
	}
	memcpy(p->err + p->err_len, data, n);
	p->err_len += n;
}

/* Reads what is there of the command's stdout (into buf) or stderr (its tail). */
static void exec_read(struct loop *l, struct probe *p, bool err)
{
	int *fd = err ? &p->errfd : &p->outfd;
	char tmp[4096];
	ssize_t n;

	while (*fd >= 0) {
		n = read(*fd, tmp, sizeof(tmp));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			unwatch(l, fd);
			return;
		}
		if (err)
			keep_err_tail(p, tmp, (size_t)n);
		else if (buf_append(p, tmp, (size_t)n) < 0)
			l->fatal = -ENOMEM;
	}
}

/*
 * The last non-empty line of what a failed command said: of its stderr, else
 * of its stdout. That is where a check's reason usually is (a Python
 * traceback ends with the exception and its message). Empty if it said nothing.
 */
static bool last_line(const char *b, size_t len, char *out, size_t size)
{
	size_t start;

	while (b && len > 0 && (b[len - 1] == '\n' || b[len - 1] == '\r' || b[len - 1] == ' '))
		len--;
	if (!b || len == 0)
		return false;
	start = len;
	while (start > 0 && b[start - 1] != '\n')
		start--;
	snprintf(out, size, ": %.*s", (int)(len - start), b + start);
	return true;
}

static void last_words(const struct probe *p, char *out, size_t size)
{
	out[0] = '\0';
	if (!last_line(p->err, p->err_len, out, size))
		last_line(p->buf, p->len, out, size);
}

static void exec_exited(struct loop *l, struct probe *p)
{
	struct flow_rt *fr = p->flow;
	struct fl_probe_result res = { 0 };
	uint64_t now = fl_flows_now_ns();
	char why[FL_DETAIL_MAX];
	int status, code;

	if (waitpid(p->pid, &status, WNOHANG) <= 0)
		return;
	p->pid = 0;
	if (p->state == P_REAPING) {
		reaped(l, p);
		return;
	}
	/* What the shell wrote before it exited is in the pipes already. */
	exec_read(l, p, false);
	exec_read(l, p, true);
	code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	last_words(p, why, sizeof(why));
	if (code != fr->expect_exit) {
		set_detail(l, &res, "exit %d, expected %d%s", code, fr->expect_exit, why);
		record(l, p, FL_OUT_EXIT_CODE, code, now, &res);
	} else if (fr->stdout_contains && !buf_has(p, fr->stdout_contains)) {
		set_detail(l, &res, "exit %d, stdout lacks \"%s\"%s", code, fr->stdout_contains, why);
		record(l, p, FL_OUT_BODY_MISMATCH, code, now, &res);
	} else {
		set_detail(l, &res, "exit %d", code);
		record(l, p, FL_OUT_OK, code, now, &res);
	}
	probe_done(l, p);
}

/* ---- launching and timing out ------------------------------------------- */

static void launch(struct loop *l, struct flow_rt *fr, uint64_t scheduled, uint64_t now)
{
	struct fl_probe_result res = { 0 };
	struct probe *p;
	int k;

	if (fr->inflight >= fr->concurrency) {
		struct probe tmp = { .flow = fr,
				     .scheduled_ns = scheduled,
				     .start_ns = now,
				     .phase_set = fl_phase_tracker_current(l->r->phases) };

		set_detail(l, &res, "%u probes still in flight", fr->inflight);
		record(l, &tmp, FL_OUT_SKIPPED, 0, now, &res);
		return;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		l->fatal = -ENOMEM;
		return;
	}
	p->flow = fr;
	p->fd = p->pidfd = p->outfd = p->errfd = -1;
	p->scheduled_ns = scheduled;
	p->start_ns = now;
	p->deadline_ns = now + fr->timeout_ns;
	p->phase_set = fl_phase_tracker_current(l->r->phases);
	fr->inflight++;
	p->prev = fr->tail;
	if (fr->tail)
		fr->tail->next = p;
	else
		fr->head = p;
	fr->tail = p;

	if (fr->kind == FL_FLOW_HTTP) {
		k = http_start(l, p);
	} else if (fr->kind == FL_FLOW_EXEC) {
		k = exec_start(l, p);
	} else if (fr->resolve_error) {
		set_detail(l, &res, "%s: %s", fr->f->address.text, gai_strerror(fr->resolve_error));
		record(l, p, FL_OUT_DNS_ERROR, 0, now, &res);
		k = 1;
	} else {
		k = sock_start(l, p);
	}
	if (k < 0) {
		record_errno(l, p, -k, "start", fl_flows_now_ns());
		k = 1;
	}
	if (k > 0)
		probe_done(l, p);
}

static void expire(struct loop *l, struct flow_rt *fr, uint64_t now)
{
	while (fr->head && fr->head->deadline_ns <= now) {
		struct probe *p = fr->head;
		struct fl_probe_result res = { 0 };
		char t[FL_FMT_MAX];

		set_detail(l, &res, "no answer within %s",
			   fl_format_duration_human(fr->timeout_ns, t));
		record(l, p, FL_OUT_TIMEOUT, 0, now, &res);
		probe_done(l, p);
	}
}

/* ---- phases and invariants ---------------------------------------------- */

static void check_invariants(struct loop *l, uint64_t now, bool final)
{
	const struct fl_phase_tracker *t = l->r->phases;

	for (size_t i = 0; i < l->s->n_expects; i++) {
		const struct fl_expect *e = &l->s->expects[i];
		struct flow_rt *fr = &l->invs[i];
		bool due;

		if (!(e->metrics & FL_M_INVARIANT) || fr->triggered)
			continue;
		if (e->window.end)
			due = t->end_ns != FL_NEVER || final;
		else
			due = e->window.step.index < l->s->n_steps &&
			      t->applied_ns[e->window.step.index] != FL_NEVER;
		if (!due)
			continue;
		fr->triggered = true;
		launch(l, fr, now, now);
	}
}

static void after_phase_change(struct loop *l, uint64_t now)
{
	const struct fl_phase_tracker *t = l->r->phases;

	if (t->end_ns != FL_NEVER && l->stop_at == FL_NEVER)
		l->stop_at =
			t->end_ns + (l->o->grace_ns ? l->o->grace_ns : FL_FLOWS_GRACE_DEFAULT_NS);
	if (t->hangup && t->end_ns == FL_NEVER) {
		/* The runner died before its end: what follows would not be under its timeline. */
		l->r->stopped_early = true;
		l->stop_at = now;
	}
	check_invariants(l, now, false);
}

/* ---- setup -------------------------------------------------------------- */

static int resolve(struct flow_rt *fr)
{
	const struct fl_endpoint *a = &fr->f->address;
	struct addrinfo hints = { .ai_socktype =
					  fr->kind == FL_FLOW_UDP ? SOCK_DGRAM : SOCK_STREAM },
			*res = NULL;
	char port[8];
	int k;

	if (!a->hostname) {
		if (a->family == AF_INET) {
			struct sockaddr_in *sin = (struct sockaddr_in *)&fr->addr;

			sin->sin_family = AF_INET;
			sin->sin_addr = a->addr.v4;
			sin->sin_port = htons(a->port_lo);
			fr->addrlen = sizeof(*sin);
		} else {
			struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&fr->addr;

			sin6->sin6_family = AF_INET6;
			sin6->sin6_addr = a->addr.v6;
			sin6->sin6_port = htons(a->port_lo);
			fr->addrlen = sizeof(*sin6);
		}
		return 0;
	}
	/* Once, at setup: a blocking lookup inside the loop would stall every flow. */
	snprintf(port, sizeof(port), "%u", a->port_lo);
	k = getaddrinfo(a->hostname, port, &hints, &res);
	if (k != 0) {
		fr->resolve_error = k;
		return 0;
	}
	memcpy(&fr->addr, res->ai_addr, res->ai_addrlen);
	fr->addrlen = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static int setup_flow(struct loop *l, struct flow_rt *fr, size_t i)
{
	const struct fl_flow *f = &l->s->flows[i];

	fr->loop = l;
	fr->index = i;
	fr->f = f;
	fr->kind = f->kind;
	fr->command = f->command;
	fr->expect_exit = f->expect_exit;
	fr->stdout_contains = f->stdout_contains;
	fr->timeout_ns = f->timeout_ns;
	fr->concurrency = f->concurrency ? f->concurrency : 1;
	fr->netns_fd = l->o->netns_fds ? l->o->netns_fds[i] : -1;
	if (f->netns && fr->netns_fd < 0)
		return -EBADF;
	fr->use_opener = fr->netns_fd >= 0 && l->o->open_socket;
	fr->next_ns = l->r->start_ns;
	if (f->kind == FL_FLOW_HTTP) {
		bool has_expect = false;

		for (size_t h = 0; h < f->n_headers; h++) {
			char *line = NULL;
			struct curl_slist *n;

			if (asprintf(&line, "%s: %s", f->headers[h].name, f->headers[h].value) < 0)
				return -ENOMEM;
			n = curl_slist_append(fr->headers, line);
			free(line);
			if (!n)
				return -ENOMEM;
			fr->headers = n;
			has_expect |= strcasecmp(f->headers[h].name, "Expect") == 0;
		}
		if (f->body && !has_expect) {
			/* No 100-continue round trip: one request, one measured latency. */
			struct curl_slist *n = curl_slist_append(fr->headers, "Expect:");

			if (!n)
				return -ENOMEM;
			fr->headers = n;
		}
	}
	if (f->kind == FL_FLOW_TCP || f->kind == FL_FLOW_UDP)
		return resolve(fr);
	return 0;
}

static void loop_done(struct loop *l)
{
	for (size_t i = 0; i < l->n_flows; i++) {
		while (l->flows[i].head)
			probe_done(l, l->flows[i].head);
		curl_slist_free_all(l->flows[i].headers);
	}
	for (size_t i = 0; l->invs && i < l->s->n_expects; i++)
		while (l->invs[i].head)
			probe_done(l, l->invs[i].head);
	while (l->reaping) {
		struct probe *p = l->reaping;

		/* SIGKILLed already; the wait is for the kernel to finish the exit. */
		waitpid(p->pid, NULL, 0);
		reaped(l, p);
	}
	if (l->multi)
		curl_multi_cleanup(l->multi);
	bury(l);
	free(l->flows);
	free(l->invs);
	free(l->due);
	if (l->epfd >= 0)
		close(l->epfd);
	if (l->tfd >= 0)
		close(l->tfd);
	if (l->self_ns >= 0)
		close(l->self_ns);
	if (l->devnull >= 0)
		close(l->devnull);
}

static int cmp_step_due(const void *a, const void *b)
{
	const struct step_due *x = a, *y = b;

	return x->real_ns < y->real_ns ? -1 : x->real_ns > y->real_ns;
}

/*
 * A probe due at the very instant of a step would race it: sent before the
 * step is in the kernel, it counts in the window before and then meets the
 * fault (or the heal) that window is not about. So it waits until every step
 * of that instant is applied, or until FL_FLOWS_STEP_HOLD_NS after it was due
 * (the runner says when it is late). Returns when it may go at the latest,
 * or 0 if it may go now.
 */
static uint64_t held_until(const struct loop *l, uint64_t due)
{
	const struct fl_phase_tracker *t = l->r->phases;
	size_t lo = 0, hi = l->n_due;
	uint64_t off;

	if (due < l->r->start_ns || t->end_ns != FL_NEVER)
		return 0;
	off = due - l->r->start_ns;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (l->due[mid].real_ns < off)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < l->n_due && l->due[lo].real_ns == off; lo++)
		if (t->applied_ns[l->due[lo].step] == FL_NEVER)
			return due + FL_FLOWS_STEP_HOLD_NS;
	return 0;
}

static int loop_init(struct loop *l)
{
	const struct fl_scenario *s = l->s;
	int k;

	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	l->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	l->devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (l->epfd < 0 || l->tfd < 0 || l->devnull < 0)
		return -errno;
	l->self_ns = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (l->self_ns < 0 && l->o->netns_fds && !l->o->open_socket)
		return -errno;
	l->multi = curl_multi_init();
	if (!l->multi)
		return -ENOMEM;
	curl_multi_setopt(l->multi, CURLMOPT_SOCKETFUNCTION, curl_socket_cb);
	curl_multi_setopt(l->multi, CURLMOPT_SOCKETDATA, l);
	curl_multi_setopt(l->multi, CURLMOPT_TIMERFUNCTION, curl_timer_cb);
	curl_multi_setopt(l->multi, CURLMOPT_TIMERDATA, l);
	l->curl_deadline = FL_NEVER;
	l->stop_at = FL_NEVER;

	if (l->o->phase_fd >= 0 || l->o->n_script) {
		l->due = calloc(s->n_steps ? s->n_steps : 1, sizeof(*l->due));
		if (!l->due)
			return -ENOMEM;
		for (size_t i = 0; i < s->n_steps; i++)
			l->due[i] = (struct step_due){ fl_scenario_real_ns(s, s->steps[i].at_ns),
						       (uint32_t)i };
		l->n_due = s->n_steps;
		qsort(l->due, l->n_due, sizeof(*l->due), cmp_step_due);
	}

	l->n_flows = s->n_flows;
	l->flows = calloc(s->n_flows ? s->n_flows : 1, sizeof(*l->flows));
	l->invs = calloc(s->n_expects ? s->n_expects : 1, sizeof(*l->invs));
	if (!l->flows || !l->invs)
		return -ENOMEM;
	for (size_t i = 0; i < s->n_flows; i++) {
		k = setup_flow(l, &l->flows[i], i);
		if (k < 0)
			return k;
	}
	for (size_t i = 0; i < s->n_expects; i++) {
		struct flow_rt *fr = &l->invs[i];

		*fr = (struct flow_rt){ .loop = l,
					.index = i,
					.invariant = true,
					.kind = FL_FLOW_EXEC,
					.command = s->expects[i].invariant_exec,
					.timeout_ns = l->o->invariant_timeout_ns
							      ? l->o->invariant_timeout_ns
							      : FL_INVARIANT_TIMEOUT_DEFAULT_NS,
					.concurrency = 1,
					.netns_fd = -1 };
	}
	k = watch_fd(l, &l->w_timer, W_TIMER, l->tfd, NULL, EPOLLIN);
	if (k < 0)
		return k;
	if (l->o->phase_fd >= 0) {
		k = watch_fd(l, &l->w_phase, W_PHASE, l->o->phase_fd, NULL, EPOLLIN);
		if (k < 0)
			return k;
	}
	if (l->o->stop_fd >= 0) {
		k = watch_fd(l, &l->w_stop, W_STOP, l->o->stop_fd, NULL, EPOLLIN);
		if (k < 0)
			return k;
	}
	return 0;
}

/* ---- the loop ----------------------------------------------------------- */

static bool busy(const struct loop *l)
{
	for (size_t i = 0; i < l->n_flows; i++)
		if (l->flows[i].inflight)
			return true;
	for (size_t i = 0; i < l->s->n_expects; i++)
		if (l->invs[i].inflight)
			return true;
	return false;
}

static uint64_t next_deadline(const struct loop *l)
{
	uint64_t d = min_u64(l->curl_deadline, l->stop_at);

	if (l->n_polled)
		d = min_u64(d, l->poll_at);

	if (l->o->stop_ns)
		d = min_u64(d, l->o->stop_ns);
	if (l->next_script < l->o->n_script)
		d = min_u64(d, l->o->script[l->next_script].t_ns);
	for (size_t i = 0; i < l->n_flows; i++) {
		if (!l->stopping)
			d = min_u64(d, max_u64(l->flows[i].next_ns, l->flows[i].held_ns));
		if (l->flows[i].head)
			d = min_u64(d, l->flows[i].head->deadline_ns);
	}
	for (size_t i = 0; i < l->s->n_expects; i++)
		if (l->invs[i].head)
			d = min_u64(d, l->invs[i].head->deadline_ns);
	return d;
}

static int arm(struct loop *l, uint64_t deadline)
{
	struct itimerspec its = { 0 };

	if (deadline != FL_NEVER) {
		its.it_value.tv_sec = (time_t)(deadline / FL_NSEC_PER_SEC);
		its.it_value.tv_nsec = (long)(deadline % FL_NSEC_PER_SEC);
		/* 0 would disarm: the deadline is due, fire at once. */
		if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
			its.it_value.tv_nsec = 1;
	}
	return timerfd_settime(l->tfd, TFD_TIMER_ABSTIME, &its, NULL) < 0 ? -errno : 0;
}

static void dispatch(struct loop *l, struct epoll_event *ev)
{
	struct watch *w = ev->data.ptr;
	struct probe *p = w->ptr;
	uint64_t buf;
	int mask = 0, k;

	if (p && p->dead)
		return;
	switch (w->type) {
	case W_TIMER:
		while (read(l->tfd, &buf, sizeof(buf)) > 0)
			;
		break;
	case W_PHASE:
		k = fl_phase_tracker_read(l->r->phases, l->o->phase_fd);
		if (k < 0 && k != -ENOMEM) {
			/* A broken channel is a hang-up: the timeline is no longer known. */
			l->r->phases->hangup = true;
			k = 1;
		}
		if (k == -ENOMEM)
			l->fatal = k;
		if (k == 1)
			epoll_ctl(l->epfd, EPOLL_CTL_DEL, l->o->phase_fd, NULL);
		after_phase_change(l, fl_flows_now_ns());
		break;
	case W_STOP:
		l->stopping = l->aborted = true;
		l->r->stopped_early = true;
		break;
	case W_CURL:
		if (w->fd < 0)
			break;
		if (ev->events & EPOLLIN)
			mask |= CURL_CSELECT_IN;
		if (ev->events & EPOLLOUT)
			mask |= CURL_CSELECT_OUT;
		if (ev->events & EPOLLERR)
			mask |= CURL_CSELECT_ERR;
		curl_action(l, w->fd, mask);
		break;
	case W_SOCK:
		if (p->fd >= 0)
			sock_step(l, p, ev->events);
		break;
	case W_OUT:
	case W_ERR:
		exec_read(l, p, w->type == W_ERR);
		break;
	case W_PID:
		if (p->pidfd >= 0)
			exec_exited(l, p);
		break;
	}
}

static void poll_list(struct loop *l, struct probe *p)
{
	while (p) {
		struct probe *next = p->next;

		if (p->polled && p->pid > 0)
			exec_exited(l, p);
		p = next;
	}
}

/* One waitpid round over the exec probes that have no pidfd. */
static void poll_children(struct loop *l, uint64_t now)
{
	if (l->n_polled == 0 || now < l->poll_at)
		return;
	for (size_t i = 0; i < l->n_flows; i++)
		poll_list(l, l->flows[i].head);
	for (size_t i = 0; i < l->s->n_expects; i++)
		poll_list(l, l->invs[i].head);
	poll_list(l, l->reaping);
	l->poll_at = now + FL_EXEC_POLL_NS;
}

/*
 * A start in the past: the loop is late for the probes due before it could
 * run. Each flow sends only the newest of them, late by less than one
 * period, not a burst: the probe due at the start itself (the runner's START
 * reaches us a few microseconds after its instant) is sent, and a loop that
 * starts long after the timeline does not fire every probe it missed.
 */
static void skip_past(struct loop *l)
{
	uint64_t now = fl_flows_now_ns(), start = l->r->start_ns;

	for (size_t i = 0; i < l->n_flows; i++) {
		struct flow_rt *fr = &l->flows[i];

		if (fr->next_ns >= now)
			continue;
		fr->seq = (now - start) / fr->f->every_ns;
		fr->next_ns = start + fr->seq * fr->f->every_ns;
	}
}

static int run(struct loop *l)
{
	struct epoll_event evs[64];
	const struct fl_flows_options *o = l->o;

	for (;;) {
		uint64_t now = fl_flows_now_ns(), stop;
		int n, k;

		while (l->next_script < o->n_script && o->script[l->next_script].t_ns <= now) {
			fl_phase_tracker_feed(l->r->phases, &o->script[l->next_script++]);
			after_phase_change(l, now);
		}
		/*
		 * Probes due before the stop instant are sent even if the loop is
		 * late for them: how many probes a run has depends on the timeline,
		 * not on how busy the machine was.
		 */
		stop = min_u64(l->stop_at, o->stop_ns ? o->stop_ns : FL_NEVER);
		for (size_t i = 0; i < l->n_flows && !l->stopping; i++) {
			struct flow_rt *fr = &l->flows[i];

			while (fr->next_ns <= now && fr->next_ns < stop && !l->fatal) {
				uint64_t scheduled = fr->next_ns;

				fr->held_ns = held_until(l, scheduled);
				if (fr->held_ns > now)
					break; /* a phase record or the hold's end wakes us */
				fr->held_ns = 0;
				fr->seq++;
				fr->next_ns = l->r->start_ns + fr->seq * fr->f->every_ns;
				launch(l, fr, scheduled, fl_flows_now_ns());
			}
		}
		if (!l->stopping && now >= stop) {
			l->stopping = true;
			l->r->stop_ns = now;
			if (l->r->phases->end_ns == FL_NEVER)
				l->r->stopped_early = true;
			check_invariants(l, now, true);
		}
		if (l->aborted)
			return 0;
		for (size_t i = 0; i < l->n_flows; i++)
			expire(l, &l->flows[i], now);
		for (size_t i = 0; i < l->s->n_expects; i++)
			expire(l, &l->invs[i], now);
		poll_children(l, now);
		if (l->curl_deadline <= now) {
			l->curl_deadline = FL_NEVER;
			curl_action(l, CURL_SOCKET_TIMEOUT, 0);
		}
		if (l->fatal)
			return l->fatal;
		if (l->stopping && !busy(l))
			return 0;

		k = arm(l, next_deadline(l));
		if (k < 0)
			return k;
		n = epoll_wait(l->epfd, evs, (int)ELEMENTSOF(evs), -1);
		if (n < 0 && errno != EINTR)
			return -errno;
		for (int i = 0; i < n && !l->fatal; i++)
			dispatch(l, &evs[i]);
		bury(l);
		if (l->fatal)
			return l->fatal;
	}
}

int fl_flows_run(const struct fl_scenario *s, const struct fl_flows_options *o,
		 struct fl_results **ret_results)
{
	_cleanup_(fl_results_freep) struct fl_results *r = NULL;
	struct loop l = { .s = s, .o = o, .epfd = -1, .tfd = -1, .self_ns = -1, .devnull = -1 };
	int k;

	if (o->phase_fd < 0 && o->n_script == 0 && o->stop_ns == 0)
		return -EINVAL;
	if (o->n_script && !o->script)
		return -EINVAL;
	k = fl_results_new(s, o->start_ns ? o->start_ns : fl_flows_now_ns(), &r);
	if (k < 0)
		return k;
	l.r = r;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return -ENOMEM;
	k = loop_init(&l);
	if (k == 0) {
		skip_past(&l);
		k = run(&l);
	}
	if (r->stop_ns == r->start_ns)
		r->stop_ns = fl_flows_now_ns();
	loop_done(&l);
	curl_global_cleanup();
	if (k < 0)
		return k;
	*ret_results = TAKE_PTR(r);
	return 0;
}
