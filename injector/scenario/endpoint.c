/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "scenario/endpoint.h"
#include "util/strbuf.h"

static int parse_port(const char *s, size_t n, uint16_t *ret)
{
	unsigned v = 0;

	if (n == 0 || n > 5)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -EINVAL;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v == 0 || v > 65535)
		return -ERANGE;
	*ret = (uint16_t)v;
	return 0;
}

static int parse_ports(const char *s, uint16_t *ret_lo, uint16_t *ret_hi, const char **why)
{
	const char *dash = strchr(s, '-');
	uint16_t lo, hi;

	int r = parse_port(s, dash ? (size_t)(dash - s) : strlen(s), &lo);

	if (r == 0 && dash)
		r = parse_port(dash + 1, strlen(dash + 1), &hi);
	if (r < 0) {
		*why = r == -ERANGE ? "port outside 1 to 65535" : "bad port";
		return -EINVAL;
	}
	if (!dash)
		hi = lo;
	if (hi < lo) {
		*why = "port range is reversed";
		return -EINVAL;
	}
	*ret_lo = lo;
	*ret_hi = hi;
	return 0;
}

static bool all_port_chars(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s) && *s != '-')
			return false;
	return true;
}

static bool valid_hostname(const char *s)
{
	bool letter = false;
	size_t n = strlen(s);

	if (n == 0 || n > 253 || s[0] == '-' || s[0] == '.')
		return false;
	for (; *s; s++) {
		if (isalpha((unsigned char)*s))
			letter = true;
		else if (!isdigit((unsigned char)*s) && *s != '-' && *s != '.')
			return false;
	}
	return letter;
}

static bool host_bits_clear(const struct fl_endpoint *e)
{
	const uint8_t *b = e->family == AF_INET ? (const uint8_t *)&e->addr.v4 : e->addr.v6.s6_addr;
	unsigned bits = e->family == AF_INET ? 32 : 128;

	for (unsigned i = e->prefixlen; i < bits; i++)
		if (b[i / 8] & (0x80 >> (i % 8)))
			return false;
	return true;
}

/* ADDR[/PREFIX] or hostname into e; host is a NUL-terminated copy we may modify. */
static int parse_host(char *host, struct fl_endpoint *e, const char **why)
{
	char *slash = strchr(host, '/');
	unsigned maxlen;

	if (slash)
		*slash = '\0';
	if (inet_pton(AF_INET, host, &e->addr.v4) == 1) {
		e->family = AF_INET;
		maxlen = 32;
	} else if (inet_pton(AF_INET6, host, &e->addr.v6) == 1) {
		e->family = AF_INET6;
		maxlen = 128;
	} else if (!slash && valid_hostname(host)) {
		e->family = AF_UNSPEC;
		e->hostname = strdup(host);
		if (!e->hostname)
			return -ENOMEM;
		return 0;
	} else {
		*why = slash ? "bad address before the prefix length" : "bad address";
		return -EINVAL;
	}
	e->prefixlen = (uint8_t)maxlen;
	if (slash) {
		uint64_t v = 0;
		const char *p = slash + 1;
		if (!*p || strlen(p) > 3) {
			*why = "bad prefix length";
			return -EINVAL;
		}
		for (; *p; p++) {
			if (!isdigit((unsigned char)*p)) {
				*why = "bad prefix length";
				return -EINVAL;
			}
			v = v * 10 + (uint64_t)(*p - '0');
		}
		if (v > maxlen) {
			*why = "prefix length too long for the address family";
			return -EINVAL;
		}
		e->prefixlen = (uint8_t)v;
		if (!host_bits_clear(e)) {
			*why = "address has bits set beyond its prefix length";
			return -EINVAL;
		}
	}
	return 0;
}

int fl_endpoint_parse(const char *text, struct fl_endpoint *ret, const char **ret_why)
{
	struct fl_endpoint e = { .family = AF_UNSPEC };
	const char *why = "bad endpoint", *rest = text;
	_cleanup_free_ char *host = NULL;
	const char *ports = NULL;
	int r;

	if (strncmp(rest, "tcp:", 4) == 0) {
		e.proto = IPPROTO_TCP;
		rest += 4;
	} else if (strncmp(rest, "udp:", 4) == 0) {
		e.proto = IPPROTO_UDP;
		rest += 4;
	}

	if (rest[0] == '[') {
		const char *close = strchr(rest, ']');
		if (!close) {
			why = "missing ']'";
			goto fail;
		}
		host = strndup(rest + 1, (size_t)(close - rest - 1));
		if (close[1] == ':')
			ports = close + 2;
		else if (close[1] != '\0') {
			why = "expected ':PORT' after ']'";
			goto fail;
		}
	} else if (all_port_chars(rest)) {
		ports = rest;
	} else if (strchr(rest, ':') && strchr(rest, ':') != strrchr(rest, ':')) {
		host = strdup(rest); /* a bare IPv6 address: no port without brackets */
	} else {
		const char *colon = strrchr(rest, ':');
		host = colon ? strndup(rest, (size_t)(colon - rest)) : strdup(rest);
		if (colon)
			ports = colon + 1;
	}
	/* Every branch but the port-only one copies the host: a NULL here is out of memory. */
	if (!host && ports != rest)
		return -ENOMEM;

	if (ports) {
		r = parse_ports(ports, &e.port_lo, &e.port_hi, &why);
		if (r < 0)
			goto fail;
	}
	if (host) {
		r = parse_host(host, &e, &why);
		if (r == -ENOMEM)
			return r;
		if (r < 0)
			goto fail;
		if (e.hostname && !ports && e.proto) {
			/* "tcp:foo" is neither a port nor a useful endpoint. */
			why = "bad port";
			goto fail;
		}
	}
	e.text = strdup(text);
	if (!e.text) {
		free(e.hostname);
		return -ENOMEM;
	}
	*ret = e;
	return 0;
fail:
	free(e.hostname);
	if (ret_why)
		*ret_why = why;
	return -EINVAL;
}

void fl_endpoint_done(struct fl_endpoint *e)
{
	if (!e)
		return;
	free(e->hostname);
	free(e->text);
	e->hostname = e->text = NULL;
}

int fl_endpoint_copy(const struct fl_endpoint *src, struct fl_endpoint *ret)
{
	struct fl_endpoint e = *src;

	e.hostname = src->hostname ? strdup(src->hostname) : NULL;
	e.text = src->text ? strdup(src->text) : NULL;
	if ((src->hostname && !e.hostname) || (src->text && !e.text)) {
		fl_endpoint_done(&e);
		return -ENOMEM;
	}
	*ret = e;
	return 0;
}

char *fl_endpoint_to_string(const struct fl_endpoint *e)
{
	struct fl_strbuf sb = { 0 };
	char a[INET6_ADDRSTRLEN];

	if (e->proto)
		fl_strbuf_append(&sb, e->proto == IPPROTO_TCP ? "tcp:" : "udp:");
	if (e->family == AF_INET) {
		inet_ntop(AF_INET, &e->addr.v4, a, sizeof(a));
		fl_strbuf_appendf(&sb, "%s/%u", a, e->prefixlen);
	} else if (e->family == AF_INET6) {
		inet_ntop(AF_INET6, &e->addr.v6, a, sizeof(a));
		fl_strbuf_appendf(&sb, "[%s/%u]", a, e->prefixlen);
	} else if (e->hostname) {
		fl_strbuf_append(&sb, e->hostname);
	}
	if (e->port_lo) {
		bool addr = e->family != AF_UNSPEC || e->hostname;
		fl_strbuf_appendf(&sb, "%s%u", addr ? ":" : "", e->port_lo);
		if (e->port_hi != e->port_lo)
			fl_strbuf_appendf(&sb, "-%u", e->port_hi);
	}
	return fl_strbuf_steal(&sb);
}

static bool prefix_overlap(const uint8_t *a, const uint8_t *b, unsigned plen)
{
	for (unsigned i = 0; i < plen; i++) {
		uint8_t m = 0x80 >> (i % 8);
		if ((a[i / 8] & m) != (b[i / 8] & m))
			return false;
	}
	return true;
}

bool fl_endpoint_addr_overlaps(const struct fl_endpoint *a, const struct fl_endpoint *b)
{
	if (a->family == AF_UNSPEC || b->family == AF_UNSPEC) {
		/* An unresolved hostname overlaps only itself; "any address" overlaps all. */
		if (a->hostname && b->hostname)
			return strcmp(a->hostname, b->hostname) == 0;
		return !(a->hostname || b->hostname) || (!a->hostname && a->family == AF_UNSPEC) ||
		       (!b->hostname && b->family == AF_UNSPEC);
	}
	if (a->family != b->family)
		return false;
	unsigned plen = a->prefixlen < b->prefixlen ? a->prefixlen : b->prefixlen;
	if (a->family == AF_INET)
		return prefix_overlap((const uint8_t *)&a->addr.v4, (const uint8_t *)&b->addr.v4,
				      plen);
	return prefix_overlap(a->addr.v6.s6_addr, b->addr.v6.s6_addr, plen);
}

bool fl_endpoint_overlaps(const struct fl_endpoint *a, const struct fl_endpoint *b)
{
	if (a->proto && b->proto && a->proto != b->proto)
		return false;
	if (a->port_lo && b->port_lo && (a->port_hi < b->port_lo || b->port_hi < a->port_lo))
		return false;
	return fl_endpoint_addr_overlaps(a, b);
}
