/* SPDX-License-Identifier: MIT */
/* A plan's targets -> BPF filter text, and packets -> services. */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include "observe/observe.h"
#include "util/strbuf.h"

static bool prefix_match(const struct fl_target *t, const struct fl_wire_endpoint *e)
{
	const uint8_t *a, *b;
	unsigned bits = t->prefixlen, full, rest;

	if (t->family != e->family)
		return false;
	if (t->family == AF_INET) {
		a = (const uint8_t *)&t->addr.v4;
		b = (const uint8_t *)&e->addr.v4;
		if (bits > 32)
			bits = 32;
	} else {
		a = t->addr.v6.s6_addr;
		b = e->addr.v6.s6_addr;
		if (bits > 128)
			bits = 128;
	}
	full = bits / 8;
	rest = bits % 8;
	if (memcmp(a, b, full) != 0)
		return false;
	if (rest) {
		uint8_t mask = (uint8_t)(0xff << (8 - rest));

		if ((a[full] & mask) != (b[full] & mask))
			return false;
	}
	return true;
}

/* Does target t name endpoint e as the service's side? */
static bool target_match(const struct fl_target *t, const struct fl_wire_endpoint *e)
{
	if (t->proto && t->proto != e->proto)
		return false;
	if (t->port_lo || t->port_hi) {
		/* A port range says nothing about ICMP or fragments: no match. */
		if (!e->port || e->port < t->port_lo || e->port > t->port_hi)
			return false;
	}
	return prefix_match(t, e);
}

/* Larger is more specific: prefix first, then a narrower port range, then a protocol. */
static uint64_t specificity(const struct fl_target *t)
{
	uint32_t width = (t->port_lo || t->port_hi) ? (uint32_t)(t->port_hi - t->port_lo) : 65536u;

	return ((uint64_t)t->prefixlen << 24) | ((uint64_t)(65536u - width) << 1) | (t->proto != 0);
}

uint32_t fl_wire_classify(const struct fl_plan *p, const struct fl_wire_endpoint *a,
			  const struct fl_wire_endpoint *b, int *ret_server)
{
	const size_t n_services = p->scenario->n_services;
	uint32_t best = FL_WIRE_OTHER;
	uint64_t best_spec = 0;
	int server = 0;

	for (size_t i = 0; i < n_services; i++) {
		const struct fl_plan_service *ps = &p->services[i];

		for (size_t k = 0; k < ps->n_targets; k++) {
			const struct fl_target *t = &ps->targets[k];
			uint64_t spec = specificity(t) + 1;

			bool ma = target_match(t, a), mb = target_match(t, b);
			int side;

			if (!ma && !mb)
				continue;
			/*
			 * Both ends inside one prefix (a client in the service's
			 * subnet): the lower port serves, else the destination.
			 */
			if (ma && mb)
				side = a->port && b->port && a->port < b->port ? 0 : 1;
			else
				side = ma ? 0 : 1;
			if (best == FL_WIRE_OTHER || spec > best_spec) {
				best = (uint32_t)i;
				best_spec = spec;
				server = side;
			}
		}
	}
	if (ret_server && best != FL_WIRE_OTHER)
		*ret_server = server;
	return best;
}

static void append_target(struct fl_strbuf *sb, const struct fl_target *t)
{
	char addr[INET6_ADDRSTRLEN];
	bool any_addr = t->prefixlen == 0;
	bool ports = t->port_lo || t->port_hi;

	fl_strbuf_append(sb, "(");
	if (any_addr) {
		fl_strbuf_append(sb, t->family == AF_INET ? "ip" : "ip6");
	} else {
		inet_ntop(t->family, &t->addr, addr, sizeof(addr));
		fl_strbuf_appendf(sb, "net %s/%u", addr, t->prefixlen);
	}
	if (t->proto == IPPROTO_TCP)
		fl_strbuf_append(sb, " and tcp");
	else if (t->proto == IPPROTO_UDP)
		fl_strbuf_append(sb, " and udp");
	else if (ports)
		fl_strbuf_append(sb, " and (tcp or udp)");
	if (ports) {
		if (t->port_lo == t->port_hi)
			fl_strbuf_appendf(sb, " and port %u", t->port_lo);
		else
			fl_strbuf_appendf(sb, " and portrange %u-%u", t->port_lo, t->port_hi);
	}
	fl_strbuf_append(sb, ")");
}

int fl_wire_filter(const struct fl_plan *p, unsigned flags, char **ret)
{
	struct fl_strbuf sb = {0};
	char *s;

	/*
	 * Everything the stats count: the blast radius is measured on
	 * untargeted traffic, so by default nothing IP is excluded.
	 * icmp/icmp6 carry the unreachables that show a reject.
	 */
	if (!(flags & FL_WIRE_FILTER_TARGETS_ONLY)) {
		fl_strbuf_append(&sb, "(ip or ip6) and (tcp or udp or icmp or icmp6)");
	} else {
		fl_strbuf_append(&sb, "icmp or icmp6");
		for (size_t i = 0; i < p->scenario->n_services; i++)
			for (size_t k = 0; k < p->services[i].n_targets; k++) {
				fl_strbuf_append(&sb, " or ");
				append_target(&sb, &p->services[i].targets[k]);
			}
	}
	s = fl_strbuf_steal(&sb);
	if (!s)
		return -ENOMEM;
	*ret = s;
	return 0;
}
