/* SPDX-License-Identifier: MIT */
/* The namespace tests' world: see topo.h. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "topo.h"
#include "util/strbuf.h"

/* One world per process: the atexit teardown and the reaper need to find it. */
static struct topo *the;
static const char *test_name = "integration";
static pid_t owner;	     /* the test's pid: children never tear down */
static int reaper_go = -1;   /* write end: the reaper starts when it closes */
static int reaper_done = -1; /* read end: EOF when the reaper has finished */
static pid_t adopted[64];
static size_t n_adopted;

/* ---- messages ------------------------------------------------------------------ */

static void vlog(const char *prefix, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static void vlog(const char *prefix, const char *fmt, va_list ap)
{
	char line[4096];

	vsnprintf(line, sizeof(line), fmt, ap);
	fprintf(stderr, "%s: %s%s\n", test_name, prefix, line);
}

void it_log(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog("", fmt, ap);
	va_end(ap);
}

_Noreturn void it_fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog("FAIL: ", fmt, ap);
	va_end(ap);
	if (getenv("FL_IT_PAUSE_ON_FAIL") && getpid() == owner) {
		/* Debugging: the world stays up for inspection until this process is killed. */
		it_log("FL_IT_PAUSE_ON_FAIL: pausing; kill %d to clean up", (int)owner);
		pause();
	}
	exit(1);
}

_Noreturn void it_skip(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog("SKIP: ", fmt, ap);
	va_end(ap);
	exit(IT_SKIP);
}

uint64_t it_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void it_sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ---- processes -------------------------------------------------------------------- */

/* In every child: die with the test, and never run the test's atexit teardown. */
static void child_setup(void)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != owner && owner)
		_exit(127); /* the test is already gone */
	if (reaper_go >= 0)
		close(reaper_go);
	if (reaper_done >= 0)
		close(reaper_done);
}

void topo_adopt(pid_t pid)
{
	if (n_adopted < ELEMENTSOF(adopted))
		adopted[n_adopted++] = pid;
}

void topo_forget(pid_t pid)
{
	for (size_t i = 0; i < n_adopted; i++)
		if (adopted[i] == pid) {
			adopted[i] = adopted[--n_adopted];
			return;
		}
}

pid_t topo_spawn(const char *const *argv, int *ret_fd)
{
	int p[2];
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		it_fail("pipe: %m");
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		it_fail("fork: %m");
	if (pid == 0) {
		child_setup();
		dup2(p[1], STDOUT_FILENO);
		execv(argv[0], (char *const *)argv);
		dprintf(STDERR_FILENO, "exec %s: %m\n", argv[0]);
		_exit(127);
	}
	close(p[1]);
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	topo_adopt(pid);
	*ret_fd = p[0];
	return pid;
}

static void kill_wait(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

/*
 * Kills and reaps every child of this process still alive: the ones it never
 * adopted too, such as the userspace engine's children when a failure exits
 * with the engine still open. A forked child holds the write end of the
 * reaper's pipe (fork keeps it, only exec would close it), and the reaper
 * waits for that pipe to close: one stray child would hang the teardown.
 */
static void kill_strays(void)
{
	pid_t me = getpid();
	DIR *d = opendir("/proc");
	struct dirent *de;

	while (d && (de = readdir(d))) {
		char path[300], buf[512], *close_paren;
		pid_t pid = (pid_t)strtol(de->d_name, NULL, 10);
		int ppid = 0;
		FILE *f;

		if (pid <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
		f = fopen(path, "re");
		if (!f)
			continue;
		if (fgets(buf, sizeof(buf), f) && (close_paren = strrchr(buf, ')')) &&
		    sscanf(close_paren + 1, " %*c %d", &ppid) == 1 && ppid == me)
			kill_wait(pid);
		fclose(f);
	}
	if (d)
		closedir(d);
}

/* Reads fd to EOF into a string (never NULL unless out of memory). */
static char *read_all(int fd)
{
	struct fl_strbuf sb = { 0 };
	char buf[65536];

	fl_strbuf_append(&sb, "");
	for (;;) {
		ssize_t k = read(fd, buf, sizeof(buf));
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		fl_strbuf_appendn(&sb, buf, (size_t)k);
	}
	return fl_strbuf_steal(&sb);
}

static int wait_status(pid_t pid)
{
	int st;

	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	return 128 + WTERMSIG(st);
}

static int enter_path(const char *path)
{
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = setns(fd, CLONE_NEWNET) < 0 ? -errno : 0;
	close(fd);
	return r;
}

int topo_sh(const char *ns, char **ret_out, const char *fmt, ...)
{
	_cleanup_free_ char *cmd = NULL;
	int p[2], r;
	va_list ap;
	pid_t pid;

	va_start(ap, fmt);
	r = vasprintf(&cmd, fmt, ap);
	va_end(ap);
	if (r < 0)
		return -ENOMEM;
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		r = -errno;
		close(p[0]);
		close(p[1]);
		return r;
	}
	if (pid == 0) {
		child_setup();
		if (ns && enter_path(ns) < 0) {
			dprintf(p[1], "cannot enter netns %s: %m\n", ns);
			_exit(126);
		}
		dup2(p[1], STDOUT_FILENO);
		dup2(p[1], STDERR_FILENO);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	char *out = read_all(p[0]);
	close(p[0]);
	r = wait_status(pid);
	if (ret_out)
		*ret_out = out;
	else
		free(out);
	return r;
}

void topo_must(const char *ns, const char *fmt, ...)
{
	_cleanup_free_ char *cmd = NULL, *out = NULL;
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&cmd, fmt, ap);
	va_end(ap);
	it_assert(r >= 0, "out of memory");
	r = topo_sh(ns, &out, "%s", cmd);
	it_assert(r == 0, "`%s`%s%s failed (%d): %s", cmd, ns ? " in netns " : "", ns ? ns : "", r,
		  out ? out : "");
}

/* ---- the reaper ------------------------------------------------------------------- */

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

/*
 * What the reaper does once the test is gone. The namespaces need nothing:
 * processes hold them (no /run/netns entry), and those die with the test.
 */
static void reap(const char *dir)
{
	if (dir[0])
		nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void start_reaper(const struct topo *t)
{
	int go[2], done[2];
	pid_t pid;

	if (pipe2(go, O_CLOEXEC) < 0 || pipe2(done, O_CLOEXEC) < 0)
		it_fail("pipe: %m");
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		it_fail("fork: %m");
	if (pid == 0) {
		char c;
		int null;

		close(go[1]);
		close(done[0]);
		setsid();
		if (fork() != 0)
			_exit(0);
		/* Detached: ctest kills a test's process tree, not this. */
		prctl(PR_SET_NAME, "fl-it-reaper");
		null = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (null >= 0) {
			dup2(null, STDIN_FILENO);
			dup2(null, STDOUT_FILENO);
		}
		while (read(go[0], &c, 1) != 0 && errno == EINTR)
			;
		owner = 0; /* our own children are ours now */
		reap(t->dir);
		_exit(0);
	}
	close(go[0]);
	close(done[1]);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	reaper_go = go[1];
	reaper_done = done[0];
}

void topo_teardown(void)
{
	char c;

	if (!the || getpid() != owner)
		return;
	for (size_t i = 0; i < n_adopted; i++)
		kill_wait(adopted[i]);
	n_adopted = 0;
	for (int s = 0; s < IT_N_SERVERS; s++) {
		kill_wait(the->srv[s].pid);
		the->srv[s].pid = 0;
		if (the->srv[s].ns_fd >= 0)
			close(the->srv[s].ns_fd);
		the->srv[s].ns_fd = -1;
	}
	kill_wait(the->client_pid);
	the->client_pid = 0;
	kill_strays();
	if (the->client_fd >= 0)
		close(the->client_fd);
	the->client_fd = -1;
	if (reaper_go >= 0) {
		close(reaper_go);
		reaper_go = -1;
		while (read(reaper_done, &c, 1) != 0 && errno == EINTR)
			;
		close(reaper_done);
		reaper_done = -1;
	}
	the = NULL;
}

/* ---- sockets in namespaces ------------------------------------------------------------ */

int topo_socket(const struct topo *t, int ns_fd, int family, int type, int protocol)
{
	int fd, r = 0;

	if (setns(ns_fd >= 0 ? ns_fd : t->client_fd, CLONE_NEWNET) < 0)
		return -errno;
	fd = socket(family, type | SOCK_CLOEXEC, protocol);
	if (fd < 0)
		r = -errno;
	if (setns(t->host_fd, CLONE_NEWNET) < 0)
		it_fail("cannot return to the test's namespace: %m");
	return fd < 0 ? r : fd;
}

/* ---- setup ------------------------------------------------------------------------- */

static int open_ns(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		it_fail("open %s: %m", path);
	return fd;
}

/*
 * A child in a network namespace of its own, which it holds for as long as
 * it lives (PR_SET_PDEATHSIG: no longer than the test). Then serve, or wait.
 */
static pid_t ns_child(const struct it_server *serve)
{
	int ready[2];
	pid_t pid;

	if (pipe2(ready, O_CLOEXEC) < 0)
		it_fail("pipe: %m");
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		it_fail("fork: %m");
	if (pid == 0) {
		child_setup();
		close(ready[0]);
		if (unshare(CLONE_NEWNET) < 0) {
			dprintf(ready[1], "E%d", errno);
			_exit(1);
		}
		if (serve)
			it_server_main(serve, ready[1]);
		prctl(PR_SET_NAME, "fl-it-client-ns");
		if (write(ready[1], "1", 1) != 1)
			_exit(1);
		close(ready[1]);
		for (;;)
			pause();
	}
	close(ready[1]);
	char buf[16] = "";
	ssize_t k = read(ready[0], buf, sizeof(buf) - 1);
	close(ready[0]);
	if (k != 1 || buf[0] != '1') {
		int err = k > 1 && buf[0] == 'E' ? atoi(buf + 1) : 0;
		kill_wait(pid);
		if (err == EPERM || err == EINVAL || err == ENOSYS)
			it_skip("no network namespaces here: unshare(CLONE_NEWNET): %s",
				strerror(err));
		it_fail("the %s did not start: %s", serve ? "server" : "client namespace",
			err ? strerror(err) : "died");
	}
	return pid;
}

static void start_server(struct topo *t, struct it_server *s)
{
	s->ctr = mmap(NULL, sizeof(*s->ctr), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1,
		      0);
	if (s->ctr == MAP_FAILED)
		it_fail("mmap: %m");
	s->pid = ns_child(s);
	snprintf(s->ns, sizeof(s->ns), "/proc/%d/ns/net", (int)s->pid);
	s->ns_fd = open_ns(s->ns);
	(void)t;
}

/*
 * Until every server answers TCP on both families: a link just brought up
 * may lose the very first packets (IPv6 neighbour discovery, routes being
 * added), and TCP would then wait a whole second to retry.
 */
static void wait_reachable(const struct topo *t)
{
	uint64_t deadline = it_now_us() + 10000000u;

	for (int i = 0; i < IT_N_SERVERS; i++)
		for (int f = 0; f < IT_N_FAMILIES; f++) {
			const struct it_server *s = &t->srv[i];
			struct sockaddr_storage ss = { 0 };
			socklen_t len;

			if (f == IT_V4) {
				struct sockaddr_in *a = (struct sockaddr_in *)&ss;
				a->sin_family = AF_INET;
				a->sin_port = htons(IT_PORT_ECHO);
				inet_pton(AF_INET, s->addr[f], &a->sin_addr);
				len = sizeof(*a);
			} else {
				struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
				a->sin6_family = AF_INET6;
				a->sin6_port = htons(IT_PORT_ECHO);
				inet_pton(AF_INET6, s->addr[f], &a->sin6_addr);
				len = sizeof(*a);
			}
			for (;;) {
				int fd = topo_socket(t, -1, ss.ss_family,
						     SOCK_STREAM | SOCK_NONBLOCK, 0);
				struct pollfd p = { fd, POLLOUT, 0 };
				int err = 0;
				socklen_t l = sizeof(err);

				it_assert(fd >= 0, "socket: %s", strerror(-fd));
				if (connect(fd, (struct sockaddr *)&ss, len) < 0 &&
				    errno != EINPROGRESS)
					err = errno;
				else if (poll(&p, 1, 200) <= 0)
					err = ETIMEDOUT;
				else
					getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l);
				close(fd);
				if (!err)
					break;
				it_assert(it_now_us() < deadline, "server %c (%s) unreachable: %s",
					  s->name, s->addr[f], strerror(err));
				it_sleep_ms(50);
			}
		}
}

struct topo *topo_setup(const char *name)
{
	static struct topo topo;
	struct topo *t = &topo;
	_cleanup_free_ char *out = NULL;
	pid_t pid = getpid();
	int r;

	test_name = name;
	owner = pid;
	if (geteuid() != 0)
		it_skip("needs root (network namespaces, tc, nftables)");
	r = topo_sh(NULL, &out, "ip -V && tc -V && nft -v");
	if (r != 0)
		it_skip("needs ip, tc and nft (%d): %s", r, out);
	signal(SIGPIPE, SIG_IGN);

	*t = (struct topo){ .client_fd = -1, .host_fd = -1 };
	snprintf(t->dir, sizeof(t->dir), "/tmp/fl-test-%d", (int)pid);
	snprintf(t->run_dir, sizeof(t->run_dir), "%.250s/run", t->dir);
	for (int i = 0; i < IT_N_SERVERS; i++) {
		struct it_server *s = &t->srv[i];
		s->name = (char)('a' + i);
		s->ns_fd = -1;
		snprintf(s->dev, sizeof(s->dev), "v%c", s->name);
		snprintf(s->addr[IT_V4], sizeof(s->addr[0]), "10.201.%d.2", i + 1);
		snprintf(s->addr[IT_V6], sizeof(s->addr[0]), "fd00:201:%d::2", i + 1);
		snprintf(s->client_addr[IT_V4], sizeof(s->addr[0]), "10.201.%d.1", i + 1);
		snprintf(s->client_addr[IT_V6], sizeof(s->addr[0]), "fd00:201:%d::1", i + 1);
	}

	/* A stale directory of a dead test with a reused pid: not ours to keep. */
	nftw(t->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	if (mkdir(t->dir, 0700) < 0)
		it_fail("mkdir %s: %m", t->dir);
	the = t;
	start_reaper(t);
	atexit(topo_teardown);

	t->host_fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (t->host_fd < 0)
		it_fail("open /proc/self/ns/net: %m");

	/*
	 * Namespaces held by our children, not named under /run/netns: they die
	 * with the test whatever kills it, and nobody's `faultline recover`
	 * (which sweeps every /run/netns entry) reaches into them mid-test.
	 */
	t->client_pid = ns_child(NULL);
	snprintf(t->client_ns, sizeof(t->client_ns), "/proc/%d/ns/net", (int)t->client_pid);
	t->client_fd = open_ns(t->client_ns);
	snprintf(t->client_scope, sizeof(t->client_scope), "pid:%d", (int)t->client_pid);
	for (int i = 0; i < IT_N_SERVERS; i++)
		start_server(t, &t->srv[i]);

	/* No duplicate address detection: addresses (link-local too) are usable at once. */
	topo_must(t->client_ns,
		  "sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0");
	for (int i = 0; i < IT_N_SERVERS; i++)
		topo_must(t->srv[i].ns, "sysctl -qw net.ipv6.conf.all.accept_dad=0 "
					"net.ipv6.conf.default.accept_dad=0");
	topo_must(t->client_ns, "ip link set lo up");
	for (int i = 0; i < IT_N_SERVERS; i++) {
		const struct it_server *s = &t->srv[i];
		topo_must(t->client_ns, "ip link add %s type veth peer name eth0 netns %d", s->dev,
			  (int)s->pid);
		topo_must(t->client_ns,
			  "ip addr add %s/24 dev %s && ip addr add %s/64 dev %s nodad && ip link "
			  "set %s up",
			  s->client_addr[IT_V4], s->dev, s->client_addr[IT_V6], s->dev, s->dev);
		topo_must(s->ns,
			  "ip link set lo up && ip addr add %s/24 dev eth0 && ip addr add %s/64 "
			  "dev eth0 nodad && ip link set eth0 up",
			  s->addr[IT_V4], s->addr[IT_V6]);
	}

	wait_reachable(t);

	setenv("FL_IT_CLIENT", t->client_scope, 1);
	setenv("FL_IT_A4", t->srv[IT_A].addr[IT_V4], 1);
	setenv("FL_IT_A6", t->srv[IT_A].addr[IT_V6], 1);
	setenv("FL_IT_B4", t->srv[IT_B].addr[IT_V4], 1);
	setenv("FL_IT_B6", t->srv[IT_B].addr[IT_V6], 1);
	it_log("world: client %s, server a %s (%s, %s), server b %s (%s, %s), run dir %s",
	       t->client_scope, t->srv[IT_A].ns, t->srv[IT_A].addr[IT_V4], t->srv[IT_A].addr[IT_V6],
	       t->srv[IT_B].ns, t->srv[IT_B].addr[IT_V4], t->srv[IT_B].addr[IT_V6], t->run_dir);
	return t;
}

/* ---- state ------------------------------------------------------------------------- */

char *topo_dump(const struct topo *t)
{
	char *out = NULL;
	int r;

	r = topo_sh(t->client_ns, &out,
		    "echo '## ip -d link'; ip -d link show\n"
		    "echo '## tc qdisc'; tc qdisc show\n"
		    "for d in $(ip -o link show | awk -F': ' '{ print $2 }' | cut -d@ -f1); do\n"
		    "  echo \"## $d: tc class\"; tc class show dev \"$d\"\n"
		    "  echo \"## $d: tc filter\"; tc filter show dev \"$d\"\n"
		    "  echo \"## $d: tc filter egress\"; tc filter show dev \"$d\" egress\n"
		    "  echo \"## $d: tc filter ingress\"; tc filter show dev \"$d\" ingress\n"
		    "done\n"
		    "echo '## nft list ruleset'; nft list ruleset\n");
	it_assert(r == 0, "dumping the state of %s failed (%d): %s", t->client_ns, r,
		  out ? out : "");
	return out;
}

void topo_assert_same(const struct topo *t, const char *want, const char *got, const char *what)
{
	char a[400], b[400];
	_cleanup_free_ char *diff = NULL;
	FILE *f;

	if (strcmp(want, got) == 0)
		return;
	snprintf(a, sizeof(a), "%s/state-before", t->dir);
	snprintf(b, sizeof(b), "%s/state-after", t->dir);
	if ((f = fopen(a, "we"))) {
		fputs(want, f);
		fclose(f);
	}
	if ((f = fopen(b, "we"))) {
		fputs(got, f);
		fclose(f);
	}
	topo_sh(NULL, &diff, "diff -u '%s' '%s'", a, b);
	it_fail("%s: the client namespace's state differs from before:\n%s", what,
		diff ? diff : "");
}

/* The foreign clsact filters on va, one per hook, at prio 10. */
static const char *const foreign_filters[] = {
	"egress protocol ip prio 10 u32 match ip dst 10.201.1.98/32 flowid :5",
	"ingress protocol ipv6 prio 10 u32 match ip6 src fd00:201:1::98/128 flowid :6",
};

void topo_install_foreign(const struct topo *t)
{
	const char *a = t->srv[IT_A].dev;

	topo_must(t->client_ns,
		  "tc qdisc add dev %s root handle 1: htb default 10 && "
		  "tc class add dev %s parent 1: classid 1:10 htb rate 10gbit quantum 60000 && "
		  "tc filter add dev %s parent 1: protocol ip prio 5 u32 match ip dst "
		  "10.201.1.99/32 flowid 1:10",
		  a, a, a);
	topo_must(
		t->client_ns,
		"tc qdisc add dev %s clsact && tc filter add dev %s %s && tc filter add dev %s %s",
		a, a, foreign_filters[0], a, foreign_filters[1]);
	topo_must(t->client_ns,
		  "nft -f - <<'EOF'\n"
		  "table inet fl_foreign {\n"
		  "  set blocked { type ipv4_addr; elements = { 10.201.9.1, 10.201.9.2 } }\n"
		  "  chain out { type filter hook output priority 0; policy accept; ip daddr "
		  "@blocked drop; }\n"
		  "}\n"
		  "table netdev fl_foreign {\n"
		  "  chain in { type filter hook ingress device %s priority 0; policy accept; ip "
		  "saddr 10.201.9.3 drop; }\n"
		  "}\n"
		  "EOF",
		  a);
}

void topo_reinstall_foreign_filters(const struct topo *t)
{
	const char *a = t->srv[IT_A].dev;

	topo_must(t->client_ns,
		  "tc filter del dev %s egress prio 10 && tc filter del dev %s ingress prio 10 && "
		  "tc filter add dev %s %s && tc filter add dev %s %s",
		  a, a, a, foreign_filters[0], a, foreign_filters[1]);
}

/* ---- faultline, isolated -------------------------------------------------------------- */

static void bind_ns(int fd, const char *name)
{
	char src[64], dst[512];
	int f;

	snprintf(src, sizeof(src), "/proc/self/fd/%d", fd);
	snprintf(dst, sizeof(dst), "/run/netns/%s", name);
	f = open(dst, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
	if (f < 0 || mount(src, dst, NULL, MS_BIND, NULL) < 0) {
		dprintf(STDERR_FILENO, "cannot bind %s: %m\n", dst);
		_exit(125);
	}
	close(f);
}

int topo_faultline(const struct topo *t, const char *binary, char **ret_out,
		   const char *const *args)
{
	const char *argv[16] = { binary };
	size_t n = 1;
	int p[2], r;
	pid_t pid;

	for (size_t i = 0; args[i] && n < ELEMENTSOF(argv) - 1; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		child_setup();
		dup2(p[1], STDOUT_FILENO);
		dup2(p[1], STDERR_FILENO);
		/*
		 * A mount namespace of its own with an empty /run (so not even
		 * /run/faultline is in reach) whose /run/netns lists only ours.
		 */
		if (unshare(CLONE_NEWNS) < 0 ||
		    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
		    mount("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0755") < 0 ||
		    mkdir("/run/netns", 0755) < 0) {
			dprintf(STDERR_FILENO, "cannot isolate /run: %m\n");
			_exit(125);
		}
		char name[64];
		snprintf(name, sizeof(name), "fl-it-%d-client", (int)owner);
		bind_ns(t->client_fd, name);
		for (int i = 0; i < IT_N_SERVERS; i++) {
			snprintf(name, sizeof(name), "fl-it-%d-%c", (int)owner, t->srv[i].name);
			bind_ns(t->srv[i].ns_fd, name);
		}
		/* "This namespace" of recover is then the client's, not the host's. */
		if (setns(t->client_fd, CLONE_NEWNET) < 0) {
			dprintf(STDERR_FILENO, "setns: %m\n");
			_exit(125);
		}
		execv(binary, (char *const *)argv);
		dprintf(STDERR_FILENO, "exec %s: %m\n", binary);
		_exit(127);
	}
	close(p[1]);
	char *out = read_all(p[0]);
	close(p[0]);
	r = wait_status(pid);
	if (ret_out)
		*ret_out = out;
	else
		free(out);
	return r;
}
