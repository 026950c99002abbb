/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <string.h>
#include "plan/resolve.h"
#include "util/strbuf.h"

static bool same_addr(const struct fl_target *a, const struct fl_target *b)
{
	if (a->family != b->family)
		return false;
	return a->family == AF_INET ? a->addr.v4.s_addr == b->addr.v4.s_addr
				    : memcmp(&a->addr.v6, &b->addr.v6, sizeof(a->addr.v6)) == 0;
}

int fl_resolve_getaddrinfo(const char *host, struct fl_target **ret, size_t *ret_n, void *userdata)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL;
	struct fl_target *t = NULL;
	size_t n = 0;
	int r;

	(void)userdata;
	r = getaddrinfo(host, NULL, &hints, &res);
	if (r == EAI_MEMORY)
		return -ENOMEM;
	if (r != 0)
		return -ENOENT;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		struct fl_target x = { .family = ai->ai_family };
		bool dup = false;

		/* memcpy: ai_addr is only as aligned as struct sockaddr. */
		if (ai->ai_family == AF_INET) {
			struct sockaddr_in sin;
			memcpy(&sin, ai->ai_addr, sizeof(sin));
			x.addr.v4 = sin.sin_addr;
			x.prefixlen = 32;
		} else if (ai->ai_family == AF_INET6) {
			struct sockaddr_in6 sin6;
			memcpy(&sin6, ai->ai_addr, sizeof(sin6));
			x.addr.v6 = sin6.sin6_addr;
			x.prefixlen = 128;
		} else {
			continue;
		}
		for (size_t i = 0; i < n; i++)
			dup |= same_addr(&t[i], &x);
		if (dup)
			continue;
		struct fl_target *g = reallocarray(t, n + 1, sizeof(*t));
		if (!g) {
			free(t);
			freeaddrinfo(res);
			return -ENOMEM;
		}
		t = g;
		t[n++] = x;
	}
	freeaddrinfo(res);
	if (n == 0) {
		free(t);
		return -ENOENT;
	}
	*ret = t;
	*ret_n = n;
	return 0;
}

static int append(struct fl_target **arr, size_t *n, const struct fl_target *t)
{
	struct fl_target *g = reallocarray(*arr, *n + 1, sizeof(**arr));

	if (!g)
		return -ENOMEM;
	*arr = g;
	g[(*n)++] = *t;
	return 0;
}

int fl_resolve_endpoint(const struct fl_endpoint *e, const struct fl_plan_options *opts,
			struct fl_target **arr, size_t *n, char **ret_note)
{
	struct fl_target base = { .proto = e->proto, .port_lo = e->port_lo, .port_hi = e->port_hi };
	int r;

	if (e->family == AF_INET || e->family == AF_INET6) {
		base.family = e->family;
		base.prefixlen = e->prefixlen;
		memcpy(&base.addr, &e->addr, sizeof(base.addr));
		return append(arr, n, &base);
	}
	if (!e->hostname) {
		/* Port only: every address of both families. */
		base.family = AF_INET;
		r = append(arr, n, &base);
		if (r < 0)
			return r;
		base.family = AF_INET6;
		return append(arr, n, &base);
	}

	struct fl_target *addrs = NULL;
	size_t na = 0;
	r = (opts && opts->resolve ? opts->resolve : fl_resolve_getaddrinfo)(
		e->hostname, &addrs, &na, opts ? opts->userdata : NULL);
	if (r < 0)
		return r;

	struct fl_strbuf sb = { 0 };
	fl_strbuf_appendf(&sb, "%s ->", e->hostname);
	for (size_t i = 0; i < na && r == 0; i++) {
		struct fl_target t = addrs[i];
		char a[INET6_ADDRSTRLEN];

		t.proto = base.proto;
		t.port_lo = base.port_lo;
		t.port_hi = base.port_hi;
		inet_ntop(t.family, &t.addr, a, sizeof(a));
		fl_strbuf_appendf(&sb, "%s %s", i ? "," : "", a);
		r = append(arr, n, &t);
	}
	free(addrs);
	if (r < 0) {
		fl_strbuf_done(&sb);
		return r;
	}
	*ret_note = fl_strbuf_steal(&sb);
	return *ret_note ? 0 : -ENOMEM;
}
