/* SPDX-License-Identifier: MIT */
/*
 * Model -> plan. Walks the validated timeline once, keeping the state the
 * kernel will be in (which tables, hash tables, IFBs exist) so that each
 * step lists exactly the objects it adds or deletes, in an order that is
 * always safe to apply: shared structures before the entries that use
 * them, entries removed before the devices they point at.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <stdio.h>
#include <string.h>
#include "plan/plan.h"
#include "plan/resolve.h"
#include "scenario/endpoint.h"
#include "scenario/fault.h"
#include "util/strbuf.h"

/* Rate faults without netem: TBF's queue holds this long before it drops. */
#define FL_TBF_LATENCY_NS (200 * FL_NSEC_PER_MSEC)

enum hook {
	HOOK_EGRESS,
	HOOK_INGRESS,
	_HOOK_MAX,
};

enum fam {
	FAM4,
	FAM6,
	_FAM_MAX,
};

/* What exists in the kernel at this point of the walk. */
struct tc_tables {
	bool created;                      /* exclusions, the prefix table and its link */
	bool hosts;                        /* the one-level host table and its link */
	bool two_level;                    /* the first-level table (third byte) and its link */
	uint16_t next_node[FL_TC_DIVISOR]; /* per bucket of the one-level host table */
	uint16_t next_pfx;                 /* in the prefix table */
	uint8_t l2_made[FL_TC_DIVISOR / 8]; /* second-level tables, by first-level bucket */
	uint16_t *l2_used; /* entries per second-level bucket [first * 256 + last byte] */
	uint16_t next_gate; /* the gate's next node; 1 .. next_gate - 1 exist */
	uint16_t *ft_free;  /* fault tables of this hook and family no fault holds */
	size_t n_ft_free;
};

struct state {
	bool nft_netdev, nft_inet;
	bool clsact;
	struct tc_tables tables[_HOOK_MAX][_FAM_MAX]; /* per hook and family, same on every device */
	uint16_t ft_next;                              /* the next fault table id never made */
	uint16_t ft_node[FL_TC_HTID_FAULT_LAST + 1];    /* per fault table: the last node id used */
};

/* The table a fault holds on a hook and family (0: none), and its node there. */
struct fault_table {
	uint16_t id, node;
};

struct builder {
	const struct fl_scenario *s;
	const struct fl_plan_options *opts;
	struct fl_plan *p;
	struct fl_diag *diag;
	struct state *nst; /* per namespace */
	size_t ns;         /* the namespace being written */
	struct fl_plan_step *cur;
	struct fault_table (*ft)[_HOOK_MAX][_FAM_MAX]; /* per scenario step */
	int r; /* first error */
};

/* ---- small helpers --------------------------------------------------------- */

/* The namespace being written, and what exists in it. */
#define NS(b) (&(b)->p->nss[(b)->ns])
#define ST(b) (&(b)->nst[(b)->ns])

static int normalize_targets(struct fl_target *t, size_t *n, const struct fl_target **ret_a,
			     const struct fl_target **ret_b);

char *fl_target_to_string(const struct fl_target *t, char buf[static 96])
{
	char a[INET6_ADDRSTRLEN];
	int n;

	inet_ntop(t->family, &t->addr, a, sizeof(a));
	n = snprintf(buf, 96, "%s/%u", a, t->prefixlen);
	if (t->proto)
		n += snprintf(buf + n, (size_t)(96 - n), " %s", t->proto == IPPROTO_TCP ? "tcp" : "udp");
	if (t->port_lo == t->port_hi && t->port_lo)
		snprintf(buf + n, (size_t)(96 - n), " port %u", t->port_lo);
	else if (t->port_lo)
		snprintf(buf + n, (size_t)(96 - n), " ports %u-%u", t->port_lo, t->port_hi);
	return buf;
}

static struct fl_obj *new_obj(struct builder *b, enum fl_obj_kind kind, enum fl_obj_op op,
			      const char *dev, size_t fault)
{
	struct fl_plan_step *ps = b->cur;
	struct fl_obj *g;

	if (b->r < 0)
		return NULL;
	g = reallocarray(ps->objs, ps->n_objs + 1, sizeof(*g));
	if (!g) {
		b->r = -ENOMEM;
		return NULL;
	}
	ps->objs = g;
	g = &ps->objs[ps->n_objs++];
	*g = (struct fl_obj){ .kind = kind, .op = op, .fault = fault, .ns = b->ns };
	snprintf(g->dev, sizeof(g->dev), "%s", dev ? dev : "");
	return g;
}

/*
 * Every nftables change of a step goes into one batch per namespace:
 * libnftables applies a batch as one kernel transaction, so a step is all or
 * nothing. A step's tidy part (what no packet reaches once it is in effect)
 * is a second batch, run after it.
 */
static void add_nft(struct builder *b, size_t fault, struct fl_strbuf *text, unsigned tables_add,
		    unsigned tables_del, bool tidy)
{
	struct fl_plan_step *ps = b->cur;
	struct fl_obj *o = NULL;
	char *t = fl_strbuf_steal(text);

	if (!t) {
		b->r = b->r < 0 ? b->r : -ENOMEM;
		return;
	}
	for (size_t i = 0; i < ps->n_objs; i++)
		if (ps->objs[i].kind == FL_OBJ_NFT && ps->objs[i].ns == b->ns &&
		    ps->objs[i].tidy == tidy)
			o = &ps->objs[i];
	if (o) {
		char *joined;
		if (asprintf(&joined, "%s%s", o->nft, t) < 0) {
			free(t);
			b->r = -ENOMEM;
			return;
		}
		free(o->nft);
		free(t);
		o->nft = joined;
		o->nft_tables_add |= tables_add;
		o->nft_tables_del |= tables_del;
		if (o->fault != fault)
			o->fault = SIZE_MAX;
		return;
	}
	o = new_obj(b, FL_OBJ_NFT, FL_OBJ_ADD, NULL, fault);
	if (!o) {
		free(t);
		return;
	}
	o->nft = t;
	o->nft_tables_add = tables_add;
	o->nft_tables_del = tables_del;
	o->tidy = tidy;
}

static bool is_host(const struct fl_target *t)
{
	return t->prefixlen == (t->family == AF_INET ? 32 : 128);
}

/* ---- nftables text ----------------------------------------------------------- */

static void nft_addr(struct fl_strbuf *sb, const struct fl_target *t)
{
	char a[INET6_ADDRSTRLEN];

	inet_ntop(t->family, &t->addr, a, sizeof(a));
	if (is_host(t))
		fl_strbuf_append(sb, a);
	else
		fl_strbuf_appendf(sb, "%s/%u", a, t->prefixlen);
}

/* "10.77.0.20 . tcp . 8443": the key of our address . protocol . port maps. */
static void nft_element(struct fl_strbuf *sb, const struct fl_target *t)
{
	nft_addr(sb, t);
	if (t->proto)
		fl_strbuf_appendf(sb, " . %s", t->proto == IPPROTO_TCP ? "tcp" : "udp");
	else
		fl_strbuf_append(sb, " . 0-255");
	if (!t->port_lo)
		fl_strbuf_append(sb, " . 0-65535");
	else if (t->port_lo == t->port_hi)
		fl_strbuf_appendf(sb, " . %u", t->port_lo);
	else
		fl_strbuf_appendf(sb, " . %u-%u", t->port_lo, t->port_hi);
}

static void nft_devices(struct builder *b, struct fl_strbuf *sb)
{
	fl_strbuf_append(sb, "{ ");
	for (size_t i = 0; i < NS(b)->n_devices; i++) {
		/* Quoted: Linux allows device names nft would read as syntax. */
		if (NS(b)->devices_resolved)
			fl_strbuf_appendf(sb, "%s\"%s\"", i ? ", " : "", NS(b)->devices[i]);
		else
			fl_strbuf_appendf(sb, "%s%s", i ? ", " : "", NS(b)->devices[i]);
	}
	fl_strbuf_append(sb, " }");
}

static void nft_table_comment(struct builder *b, struct fl_strbuf *sb)
{
	/* nft comments are quoted strings: keep the name printable and quote-free. */
	fl_strbuf_append(sb, " { comment \"faultline: ");
	for (const char *c = b->s->name; *c; c++)
		fl_strbuf_appendn(sb,
				  (*c == '"' || *c == '\\' || *c == '$' || *c == '`' ||
				   (unsigned char)*c < 0x20)
					  ? "_"
					  : c,
				  1);
	fl_strbuf_append(sb, "\"; }\n");
}

/*
 * Three maps per hook and family: NAMEx (a plain hash: one host, one
 * protocol, one port, the common case), NAMEp (a plain hash without the
 * protocol: one host and port for both TCP and UDP, what `host:port` says,
 * one element where NAMEx would need two) and NAME (flags interval:
 * prefixes, port ranges, any protocol or port). Elements of a hash map are
 * added and deleted in linear time; nft 1.0.6 deletes interval elements in
 * quadratic time (10,000 took 20 s), and a heal deletes elements. Each
 * element costs libnftables ~6 us to parse and the kernel to insert: a
 * target in NAMEp halves that.
 */
enum nft_map_kind { MAP_EXACT, MAP_PAIR, MAP_INTERVAL, _MAP_MAX };

static const char nft_map_suffix[_MAP_MAX][2] = { "x", "p", "" };

static bool nft_exact(const struct fl_target *t)
{
	return is_host(t) && t->proto && t->port_lo && t->port_lo == t->port_hi;
}

static void nft_maps(struct fl_strbuf *sb, const char *family, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const char *addr = names[i][1] == '6' ? "ipv6_addr" : "ipv4_addr";
		fl_strbuf_appendf(sb,
				  "add map %s " FL_NFT_TABLE " %s { type %s . inet_proto . inet_service : verdict; flags interval; }\n"
				  "add map %s " FL_NFT_TABLE " %sx { type %s . inet_proto . inet_service : verdict; }\n"
				  "add map %s " FL_NFT_TABLE " %sp { type %s . inet_service : verdict; }\n",
				  family, names[i], addr, family, names[i], addr, family, names[i], addr);
	}
}

/*
 * Exclusions first in every base chain: SSH (tcp 22 and the session's own
 * port) and scope.exclude, both as destination and as source, so neither our
 * outgoing SSH nor a local sshd's replies are ever touched.
 */
static void nft_exclusions(struct builder *b, struct fl_strbuf *sb, const char *family,
			   const char *chain, bool netdev)
{
	const char *p4 = netdev ? "meta protocol ip " : "meta nfproto ipv4 ";
	const char *p6 = netdev ? "meta protocol ip6 " : "meta nfproto ipv6 ";

	/*
	 * IPv6 neighbour discovery is IPv6's ARP: a fault on a prefix would
	 * otherwise cut resolution of every address in it, excluded ones (SSH)
	 * included. ARP itself is not IP and never matches.
	 */
	fl_strbuf_appendf(sb,
			  "add rule %s " FL_NFT_TABLE " %s %sicmpv6 type { nd-router-solicit, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert, nd-redirect } accept\n",
			  family, chain, p6);

	for (int dir = 0; dir < 2; dir++) {
		fl_strbuf_appendf(sb, "add rule %s " FL_NFT_TABLE " %s tcp %s { ", family, chain,
				  dir ? "sport" : "dport");
		for (size_t i = 0; i < b->p->n_ssh_ports; i++)
			fl_strbuf_appendf(sb, "%s%u", i ? ", " : "", b->p->ssh_ports[i]);
		fl_strbuf_append(sb, " } accept\n");
	}
	/*
	 * scope.exclude: one rule per entry and side, not a set: entries may
	 * overlap (10.9.0.0/16 and tcp port 2222), which an interval set refuses.
	 */
	for (size_t i = 0; i < b->p->n_exclude; i++) {
		const struct fl_target *t = &b->p->exclude[i];
		for (int side = 0; side < 2; side++) {
			const char *d = side ? "s" : "d";
			fl_strbuf_appendf(sb, "add rule %s " FL_NFT_TABLE " %s %s", family, chain,
					  t->family == AF_INET6 ? p6 : p4);
			if (t->prefixlen) {
				fl_strbuf_appendf(sb, "%s %saddr ", t->family == AF_INET6 ? "ip6" : "ip", d);
				nft_addr(sb, t);
				fl_strbuf_append(sb, " ");
			}
			if (t->proto)
				fl_strbuf_appendf(sb, "meta l4proto %s ", t->proto == IPPROTO_TCP ? "tcp" : "udp");
			if (t->port_lo == t->port_hi && t->port_lo)
				fl_strbuf_appendf(sb, "th %sport %u ", d, t->port_lo);
			else if (t->port_lo)
				fl_strbuf_appendf(sb, "th %sport %u-%u ", d, t->port_lo, t->port_hi);
			fl_strbuf_append(sb, "accept\n");
		}
	}
}

static void nft_vmap_rule(struct fl_strbuf *sb, const char *family, const char *chain, bool netdev,
			  bool src, const char *map)
{
	bool v6 = map[1] == '6';
	const char *proto = netdev ? (v6 ? "meta protocol ip6 " : "meta protocol ip ")
				   : (v6 ? "meta nfproto ipv6 " : "meta nfproto ipv4 ");

	for (int m = 0; m < _MAP_MAX; m++)
		fl_strbuf_appendf(sb,
				  "add rule %s " FL_NFT_TABLE " %s %s%s%s %saddr . %sth %sport vmap @%s%s\n",
				  family, chain, proto, m == MAP_PAIR ? "meta l4proto { tcp, udp } " : "",
				  v6 ? "ip6" : "ip", src ? "s" : "d", m == MAP_PAIR ? "" : "meta l4proto . ",
				  src ? "s" : "d", map, nft_map_suffix[m]);
}

/* Table netdev faultline: silent drops where the wire would drop, on the scope's devices. */
static void nft_create_netdev(struct builder *b, struct fl_strbuf *sb)
{
	static const char *const maps[] = { "e4", "e6", "i4", "i6" };

	fl_strbuf_append(sb, "add table netdev " FL_NFT_TABLE);
	nft_table_comment(b, sb);
	nft_maps(sb, "netdev", maps, ELEMENTSOF(maps));
	for (int h = 0; h < _HOOK_MAX; h++) {
		const char *chain = h == HOOK_EGRESS ? "egress" : "ingress";
		fl_strbuf_appendf(sb, "add chain netdev " FL_NFT_TABLE " %s { type filter hook %s devices = ",
				  chain, chain);
		nft_devices(b, sb);
		fl_strbuf_appendf(sb, " priority %d; }\n", FL_NFT_PRIO);
		nft_exclusions(b, sb, "netdev", chain, true);
		nft_vmap_rule(sb, "netdev", chain, true, h == HOOK_INGRESS, h == HOOK_EGRESS ? "e4" : "i4");
		nft_vmap_rule(sb, "netdev", chain, true, h == HOOK_INGRESS, h == HOOK_EGRESS ? "e6" : "i6");
	}
}

/*
 * Table inet faultline: rejects (they answer the sender, so they live in the
 * IP stack) and the userspace engine's queue. Packets to a service leave
 * through output (local) or forward (routed); packets from it arrive in
 * input or forward. The queue takes packets from the service in prerouting
 * (q maps), on their way in, where holding them throttles no sender's
 * socket; packets towards it in output and forward (o maps), only for
 * faults that hold nothing (fl_plan_userspace_direction).
 */
static void nft_create_inet(struct builder *b, struct fl_strbuf *sb)
{
	static const char *const maps[] = { "e4", "e6", "i4", "i6", "q4", "q6", "o4", "o6" };
	static const struct {
		const char *chain;
		bool dst, src, queue, queue_out;
	} chains[] = {
		{ "output", true, false, false, true },
		{ "input", false, true, false, false },
		{ "forward", true, true, false, true },
		{ "prerouting", false, false, true, false },
	};

	fl_strbuf_append(sb, "add table inet " FL_NFT_TABLE);
	nft_table_comment(b, sb);
	nft_maps(sb, "inet", maps, ELEMENTSOF(maps));
	for (size_t i = 0; i < ELEMENTSOF(chains); i++) {
		fl_strbuf_appendf(sb, "add chain inet " FL_NFT_TABLE " %s { type filter hook %s priority %d; }\n",
				  chains[i].chain, chains[i].chain, FL_NFT_PRIO);
		nft_exclusions(b, sb, "inet", chains[i].chain, false);
		if (chains[i].dst) {
			nft_vmap_rule(sb, "inet", chains[i].chain, false, false, "e4");
			nft_vmap_rule(sb, "inet", chains[i].chain, false, false, "e6");
		}
		if (chains[i].src) {
			nft_vmap_rule(sb, "inet", chains[i].chain, false, true, "i4");
			nft_vmap_rule(sb, "inet", chains[i].chain, false, true, "i6");
		}
		if (chains[i].queue) {
			nft_vmap_rule(sb, "inet", chains[i].chain, false, true, "q4");
			nft_vmap_rule(sb, "inet", chains[i].chain, false, true, "q6");
		}
		if (chains[i].queue_out) {
			nft_vmap_rule(sb, "inet", chains[i].chain, false, false, "o4");
			nft_vmap_rule(sb, "inet", chains[i].chain, false, false, "o6");
		}
	}
}

/* Every target of a fault (its services', without duplicates). */
#define for_each_fault_target(b, st, t)                                                            \
	for (const struct fl_target *t = (b)->p->faults[(st) - (b)->s->steps].targets;          \
	     t < (b)->p->faults[(st) - (b)->s->steps].targets +                                 \
			 (b)->p->faults[(st) - (b)->s->steps].n_targets;                         \
	     t++)

/*
 * Where the userspace engine takes a fault's packets. A fault that holds
 * packets (delay, jitter, rate, reorder) takes them where the scope receives
 * them: the replies, in prerouting (q maps), so no sender's socket counts
 * the held packets against itself (TCP would stall); the round trip grows
 * by the asked delay either way. One that only drops, duplicates or
 * corrupts holds nothing, and goes where the step says: towards the services
 * in output and forward (o maps), from them in prerouting.
 */
enum fl_direction fl_plan_userspace_direction(const struct fl_step *st)
{
	const unsigned holds = FL_P_DELAY | FL_P_JITTER | FL_P_RATE | FL_P_REORDER;

	return st->params.set & holds ? FL_DIR_INGRESS : st->direction;
}

/* Host targets with one port, ordered by family, address, port, then protocol. */
static int cmp_exact(const void *x, const void *y, void *arg)
{
	const struct fl_target *ts = arg, *a = &ts[*(const size_t *)x], *b = &ts[*(const size_t *)y];
	int c = a->family - b->family;

	if (c == 0)
		c = memcmp(&a->addr, &b->addr, a->family == AF_INET ? 4 : 16);
	if (c == 0)
		c = (int)a->port_lo - (int)b->port_lo;
	return c ? c : (int)a->proto - (int)b->proto;
}

/*
 * The map of each of a fault's targets (enum nft_map_kind): the TCP half of
 * a host:port that also has its UDP half goes to NAMEp for both, and the
 * UDP half nowhere (_MAP_MAX). *ret (caller frees, n_targets entries).
 */
static int nft_target_maps(const struct fl_plan_fault *pf, uint8_t **ret)
{
	_cleanup_free_ size_t *idx = calloc(pf->n_targets ? pf->n_targets : 1, sizeof(*idx));
	uint8_t *map = calloc(pf->n_targets ? pf->n_targets : 1, 1);
	size_t n = 0;

	if (!idx || !map) {
		free(map);
		return -ENOMEM;
	}
	for (size_t i = 0; i < pf->n_targets; i++) {
		map[i] = nft_exact(&pf->targets[i]) ? MAP_EXACT : MAP_INTERVAL;
		if (map[i] == MAP_EXACT)
			idx[n++] = i;
	}
	qsort_r(idx, n, sizeof(*idx), cmp_exact, pf->targets);
	for (size_t k = 0; k + 1 < n; k++) {
		const struct fl_target *a = &pf->targets[idx[k]], *c = &pf->targets[idx[k + 1]];

		if (a->family == c->family && a->port_lo == c->port_lo &&
		    memcmp(&a->addr, &c->addr, a->family == AF_INET ? 4 : 16) == 0 &&
		    a->proto == IPPROTO_TCP && c->proto == IPPROTO_UDP) {
			map[idx[k]] = MAP_PAIR;
			map[idx[k + 1]] = _MAP_MAX;
			k++;
		}
	}
	*ret = map;
	return 0;
}

/* Elements of one fault: into the egress and/or ingress maps (or the queue maps). */
static void nft_fault_elements(struct builder *b, struct fl_strbuf *sb, const char *family,
			       const struct fl_step *st, const char *chain, bool add, bool queue)
{
	const struct fl_plan_fault *pf = &b->p->faults[st - b->s->steps];
	enum fl_direction dirs = queue ? fl_plan_userspace_direction(st) : st->direction;
	_cleanup_free_ uint8_t *maps = NULL;
	int r = nft_target_maps(pf, &maps);

	if (r < 0) {
		b->r = r;
		return;
	}
	for (int dir = 0; dir < 2; dir++) {
		enum fl_direction want = dir == 0 ? FL_DIR_EGRESS : FL_DIR_INGRESS;
		char kind = queue ? (dir == 0 ? 'o' : 'q') : (dir == 0 ? 'e' : 'i');
		if (!(dirs & want))
			continue;
		for (int f = 0; f < _FAM_MAX; f++)
			for (int m = 0; m < _MAP_MAX; m++) {
				bool any = false;
				char map[4] = { kind, f == FAM6 ? '6' : '4', nft_map_suffix[m][0], 0 };

				for (size_t i = 0; i < pf->n_targets; i++) {
					const struct fl_target *t = &pf->targets[i];

					if ((t->family == AF_INET6) != (f == FAM6) || maps[i] != m)
						continue;
					if (!any)
						fl_strbuf_appendf(sb, "%s element %s " FL_NFT_TABLE " %s { ",
								  add ? "add" : "delete", family, map);
					else
						fl_strbuf_append(sb, ", ");
					if (m == MAP_PAIR) {
						nft_addr(sb, t);
						fl_strbuf_appendf(sb, " . %u", t->port_lo);
					} else {
						nft_element(sb, t);
					}
					if (add)
						fl_strbuf_appendf(sb, " : goto %s", chain);
					any = true;
				}
				if (any)
					fl_strbuf_append(sb, " }\n");
			}
	}
}

static void nft_fault(struct builder *b, size_t idx, bool add)
{
	const struct fl_step *st = &b->s->steps[idx];
	const struct fl_plan_fault *pf = &b->p->faults[idx];
	bool queue = pf->engine == FL_ENGINE_USERSPACE;
	bool inet = queue || st->fault == FL_FAULT_REJECT;
	const char *family = inet ? "inet" : "netdev";
	struct fl_strbuf sb = { 0 };
	unsigned created = 0;

	if (add && inet && !ST(b)->nft_inet) {
		nft_create_inet(b, &sb);
		ST(b)->nft_inet = true;
		created |= FL_NFT_INET;
	}
	if (add && !inet && !ST(b)->nft_netdev) {
		nft_create_netdev(b, &sb);
		ST(b)->nft_netdev = true;
		created |= FL_NFT_NETDEV;
	}
	if (add) {
		fl_strbuf_appendf(&sb, "add chain %s " FL_NFT_TABLE " %s { comment \"%s\"; }\n", family,
				  pf->chain, st->id);
		if (queue) {
			/* Else the xt target follows (FL_OBJ_NFT_QUEUE): nft cannot say it. */
			if (!pf->queue_compat)
				fl_strbuf_appendf(&sb,
						  "add rule %s " FL_NFT_TABLE " %s queue num %u bypass\n",
						  family, pf->chain, pf->queue_num);
		} else if (st->fault == FL_FAULT_REJECT)
			/*
			 * A reset cannot be answered; and with direction both, the reset our
			 * output rule sends the local socket comes in looking like the
			 * service: it must pass, or the connect times out instead.
			 */
			fl_strbuf_appendf(&sb,
					  "add rule %s " FL_NFT_TABLE " %s tcp flags rst accept\n"
					  "add rule %s " FL_NFT_TABLE " %s meta l4proto tcp reject with tcp reset\n"
					  "add rule %s " FL_NFT_TABLE " %s reject with icmpx port-unreachable\n",
					  family, pf->chain, family, pf->chain, family, pf->chain);
		else if (st->fault == FL_FAULT_LOSS)
			fl_strbuf_appendf(&sb,
					  "add rule %s " FL_NFT_TABLE " %s numgen random mod %u < %u drop\n",
					  family, pf->chain, FL_PPB_100, st->params.loss_ppb);
		else
			fl_strbuf_appendf(&sb, "add rule %s " FL_NFT_TABLE " %s drop\n", family,
					  pf->chain);
		nft_fault_elements(b, &sb, family, st, pf->chain, true, queue);
	} else {
		/*
		 * In effect: f<N> empty, which is how it began (an element whose
		 * chain gives no verdict ends in the base chain's accept), one rule
		 * for every target at once. Then, tidy: the elements, which a chain
		 * still jumped to needs gone first, and the chain (the xt rule in it
		 * too): 40 ms at 10,000 targets that are no longer time the fault is on.
		 */
		fl_strbuf_appendf(&sb, "flush chain %s " FL_NFT_TABLE " %s\n", family, pf->chain);
		add_nft(b, idx, &sb, 0, 0, false);
		nft_fault_elements(b, &sb, family, st, pf->chain, false, queue);
		fl_strbuf_appendf(&sb, "delete chain %s " FL_NFT_TABLE " %s\n", family, pf->chain);
		add_nft(b, idx, &sb, 0, 0, true);
		return;
	}
	add_nft(b, idx, &sb, created, 0, false);
	/*
	 * The elements already jump to f<N>, still empty: until this rule lands
	 * the fault is not on at all, and from then on, for every target at once.
	 */
	if (add && queue && pf->queue_compat) {
		struct fl_obj *o = new_obj(b, FL_OBJ_NFT_QUEUE, FL_OBJ_ADD, NULL, idx);
		if (o) {
			snprintf(o->chain, sizeof(o->chain), "%s", pf->chain);
			o->queue_num = pf->queue_num;
		}
	}
}

/* ---- tc: u32 on clsact, mirred to our IFBs ------------------------------------- */

static uint32_t u32_handle(uint32_t ht, uint32_t bucket, uint32_t node)
{
	return ht << 20 | bucket << 12 | node;
}

static void add_key(struct fl_obj *o, uint32_t val, uint32_t mask, int32_t off)
{
	if (o->n_keys < FL_U32_MAX_KEYS)
		o->keys[o->n_keys++] = (struct fl_u32_key){ htonl(val & mask), htonl(mask), off };
}

static uint32_t prefix_mask(unsigned bits)
{
	return bits == 0 ? 0 : bits >= 32 ? 0xffffffffu : ~((1u << (32 - bits)) - 1);
}

/*
 * Address, protocol and port keys for one target and port block. Offsets
 * assume no IPv4 options and no IPv6 extension headers, as tc's own
 * "ip dport" / "ip6 dport" matches do; such packets are not classified.
 */
static void target_keys(struct fl_obj *o, const struct fl_target *t, bool src, uint16_t port,
			uint16_t port_mask)
{
	if (t->family == AF_INET) {
		if (t->prefixlen)
			add_key(o, ntohl(t->addr.v4.s_addr), prefix_mask(t->prefixlen), src ? 12 : 16);
		if (t->proto)
			add_key(o, (uint32_t)t->proto << 16, 0x00ff0000u, 8);
		if (port_mask)
			add_key(o, src ? (uint32_t)port << 16 : port,
				src ? (uint32_t)port_mask << 16 : port_mask, 20);
	} else {
		for (unsigned w = 0; w < 4; w++) {
			unsigned bits = t->prefixlen > w * 32 ? t->prefixlen - w * 32 : 0;
			uint32_t word;
			if (!bits)
				break;
			memcpy(&word, &t->addr.v6.s6_addr[w * 4], 4);
			add_key(o, ntohl(word), prefix_mask(bits), (int32_t)((src ? 8 : 24) + w * 4));
		}
		if (t->proto)
			add_key(o, (uint32_t)t->proto << 8, 0x0000ff00u, 4);
		if (port_mask)
			add_key(o, src ? (uint32_t)port << 16 : port,
				src ? (uint32_t)port_mask << 16 : port_mask, 40);
	}
	if (o->n_keys == 0)
		add_key(o, 0, 0, 0); /* any address: u32 needs one key; this one always matches */
}

/*
 * A port range as aligned (port, mask) blocks, the only ranges u32 can
 * match: 5000-5010 is 5000/13, 5008/15, 5010/16. No port: one block, mask 0.
 */
struct port_block {
	uint32_t next, hi;
	bool any, done;
	uint16_t port, mask;
};

static void port_blocks_init(struct port_block *blk, const struct fl_target *t)
{
	*blk = (struct port_block){ .next = t->port_lo, .hi = t->port_hi, .any = !t->port_lo };
}

static bool port_blocks_next(struct port_block *blk)
{
	uint32_t size = 1;

	if (blk->done)
		return false;
	if (blk->any) {
		blk->port = blk->mask = 0;
		blk->done = true;
		return true;
	}
	if (blk->next > blk->hi)
		return false;
	while ((blk->next & (size * 2 - 1)) == 0 && blk->next + size * 2 - 1 <= blk->hi &&
	       size < 65536)
		size *= 2;
	blk->port = (uint16_t)blk->next;
	blk->mask = (uint16_t)~(size - 1);
	blk->next += size;
	return true;
}

static void tc_filter_common(struct fl_obj *o, int hook, int fam, uint16_t prio)
{
	o->ingress = hook == HOOK_INGRESS;
	o->protocol = fam == FAM4 ? ETH_P_IP : ETH_P_IPV6;
	o->prio = prio;
}

static struct fl_obj *pass_filter(struct builder *b, const char *dev, int hook, int fam)
{
	struct fl_obj *o = new_obj(b, FL_OBJ_FILTER, FL_OBJ_ADD, dev, SIZE_MAX);

	if (o) {
		tc_filter_common(o, hook, fam, fam == FAM4 ? FL_TC_PRIO_PASS4 : FL_TC_PRIO_PASS6);
		o->role = FL_U32_PASS;
	}
	return o;
}

/* A filter at the family's hash priority, where all our tables and whatever is in them live. */
static struct fl_obj *hash_filter(struct builder *b, enum fl_obj_op op, const char *dev,
				  size_t fault, int hook, int fam)
{
	struct fl_obj *o = new_obj(b, FL_OBJ_FILTER, op, dev, fault);

	if (o)
		tc_filter_common(o, hook, fam, fam == FAM4 ? FL_TC_PRIO_HASH4 : FL_TC_PRIO_HASH6);
	return o;
}

/* Offset of the 32-bit word that ends a packet's address (source on ingress). */
static int32_t last_word_off(int fam, bool src)
{
	return fam == FAM4 ? (src ? 12 : 16) : (src ? 20 : 36);
}

/* A host's address byte: 0 the last, 1 the one before (an IPv4 address's third). */
static unsigned host_byte(const struct fl_target *t, unsigned from_end)
{
	return t->family == AF_INET ? (ntohl(t->addr.v4.s_addr) >> (8 * from_end)) & 0xff
				    : t->addr.v6.s6_addr[15 - from_end];
}

/* An empty table of ours: handle table:, divisor buckets. */
static struct fl_obj *tc_table(struct builder *b, const char *dev, int hook, int fam,
			       uint32_t table, uint32_t divisor)
{
	struct fl_obj *o = hash_filter(b, FL_OBJ_ADD, dev, SIZE_MAX, hook, fam);

	if (o) {
		o->role = FL_U32_HASHTABLE;
		o->handle = table << 20;
		o->divisor = divisor;
	}
	return o;
}

/*
 * A node every packet follows into table, hashing the address byte that
 * hash_mask selects in the address's last word (no mask: a one-bucket
 * table). handle 0: a root node (the kernel picks its handle); else its
 * place in a table of ours.
 */
static struct fl_obj *tc_link(struct builder *b, const char *dev, int hook, int fam,
			      uint32_t handle, uint32_t table, uint32_t hash_mask)
{
	struct fl_obj *o = hash_filter(b, FL_OBJ_ADD, dev, SIZE_MAX, hook, fam);

	if (o) {
		o->role = FL_U32_HASHLINK;
		o->handle = handle;
		o->link = table << 20;
		add_key(o, 0, 0, 0); /* every packet follows the link */
		if (hash_mask)
			o->hashkey = (struct fl_u32_key){ 0, htonl(hash_mask),
							  last_word_off(fam, hook == HOOK_INGRESS) };
	}
	return o;
}

/*
 * Exclusions (pass), then our tables, the gate's nodes that jump into them
 * and the root node that jumps into the gate: the prefix table, and for
 * hosts the one-level table (hashed on the last byte) or, for a large set,
 * the first level of the two-level layout (hashed on the byte before it).
 */
static void tc_create_tables(struct builder *b, int hook, int fam, bool two_level)
{
	struct tc_tables *tt = &ST(b)->tables[hook][fam];
	bool ing = hook == HOOK_INGRESS, v6 = fam == FAM6;
	const struct {
		uint32_t table, divisor, hash_mask;
	} tables[] = {
		{ FL_TC_HTID(ing, v6, true), 1, 0 },
		{ two_level ? FL_TC_HTID_L1(ing, v6) : FL_TC_HTID(ing, v6, false), FL_TC_DIVISOR,
		  two_level ? 0xff00 : 0xff },
	};

	/* SSH (tcp 22 and the session's port), as source and as destination. */
	const uint16_t *ssh = b->p->ssh_ports;
	size_t n_ssh = b->p->n_ssh_ports;

	for (size_t d = 0; d < NS(b)->n_devices; d++) {
		const char *dev = NS(b)->devices[d];
		struct fl_obj *o;

		for (size_t i = 0; i < n_ssh; i++)
			for (int as_src = 0; as_src < 2; as_src++) {
				struct fl_target any = { .family = fam == FAM4 ? AF_INET : AF_INET6,
							 .proto = IPPROTO_TCP };
				o = pass_filter(b, dev, hook, fam);
				if (!o)
					return;
				target_keys(o, &any, as_src, ssh[i], 0xffff);
			}
		for (size_t i = 0; i < b->p->n_exclude; i++) {
			const struct fl_target *t = &b->p->exclude[i];
			if ((t->family == AF_INET6) != (fam == FAM6))
				continue;
			for (int as_src = 0; as_src < 2; as_src++) {
				struct port_block blk;
				for (port_blocks_init(&blk, t); port_blocks_next(&blk);) {
					o = pass_filter(b, dev, hook, fam);
					if (!o)
						return;
					target_keys(o, t, as_src, blk.port, blk.mask);
				}
			}
		}

		for (size_t i = 0; i < ELEMENTSOF(tables); i++)
			if (!tc_table(b, dev, hook, fam, tables[i].table, tables[i].divisor))
				return;
		if (!tc_table(b, dev, hook, fam, FL_TC_HTID_GATE(ing, v6), 1))
			return;
		for (size_t i = 0; i < ELEMENTSOF(tables); i++)
			if (!tc_link(b, dev, hook, fam,
				     u32_handle(FL_TC_HTID_GATE(ing, v6), 0, (uint32_t)i + 1),
				     tables[i].table, tables[i].hash_mask))
				return;
		if (!tc_link(b, dev, hook, fam, 0, FL_TC_HTID_GATE(ing, v6), 0))
			return;
	}
	free(tt->l2_used);
	memset(tt, 0, sizeof(*tt));
	tt->created = true;
	tt->hosts = !two_level;
	tt->two_level = two_level;
	for (size_t i = 0; i < FL_TC_DIVISOR; i++)
		tt->next_node[i] = 1;
	tt->next_pfx = 1;
	tt->next_gate = ELEMENTSOF(tables) + 1;
}

/* The host table a fault needs, and its gate node, where the tables exist without it. */
static void tc_host_table(struct builder *b, int hook, int fam, bool two_level)
{
	struct tc_tables *tt = &ST(b)->tables[hook][fam];
	bool ing = hook == HOOK_INGRESS, v6 = fam == FAM6;
	uint32_t table = two_level ? FL_TC_HTID_L1(ing, v6) : FL_TC_HTID(ing, v6, false);

	if (two_level ? tt->two_level : tt->hosts)
		return;
	for (size_t d = 0; d < NS(b)->n_devices; d++)
		if (!tc_table(b, NS(b)->devices[d], hook, fam, table, FL_TC_DIVISOR) ||
		    !tc_link(b, NS(b)->devices[d], hook, fam,
			     u32_handle(FL_TC_HTID_GATE(ing, v6), 0, tt->next_gate), table,
			     two_level ? 0xff00 : 0xff))
			return;
	tt->next_gate++;
	if (two_level)
		tt->two_level = true;
	else
		tt->hosts = true;
}

/*
 * Second-level table `first` (the hosts whose third byte, or IPv6 byte
 * before the last, is `first`) and the node of first-level bucket `first`
 * that links to it, hashing on the last byte.
 */
static void tc_second_level(struct builder *b, int hook, int fam, unsigned first)
{
	struct tc_tables *tt = &ST(b)->tables[hook][fam];
	bool ing = hook == HOOK_INGRESS, v6 = fam == FAM6;
	uint32_t l1 = FL_TC_HTID_L1(ing, v6), l2 = FL_TC_HTID_L2(ing, v6, first);

	if (tt->l2_made[first / 8] & (1u << (first % 8)))
		return;
	if (!tt->l2_used) {
		tt->l2_used = calloc(FL_TC_DIVISOR * FL_TC_DIVISOR, sizeof(*tt->l2_used));
		if (!tt->l2_used) {
			b->r = b->r < 0 ? b->r : -ENOMEM;
			return;
		}
	}
	for (size_t d = 0; d < NS(b)->n_devices; d++)
		if (!tc_table(b, NS(b)->devices[d], hook, fam, l2, FL_TC_DIVISOR) ||
		    !tc_link(b, NS(b)->devices[d], hook, fam, u32_handle(l1, first, 1), l2, 0xff))
			return;
	tt->l2_made[first / 8] |= (uint8_t)(1u << (first % 8));
}

/*
 * The fault's table on a hook and family: one no fault holds, else a new
 * one on every device. False (b->r set) when none is left.
 */
static bool tc_fault_table(struct builder *b, size_t idx, int hook, int fam)
{
	struct tc_tables *tt = &ST(b)->tables[hook][fam];
	const struct fl_step *st = &b->s->steps[idx];
	uint16_t id;

	if (tt->n_ft_free) {
		id = tt->ft_free[--tt->n_ft_free];
	} else {
		if (!ST(b)->ft_next)
			ST(b)->ft_next = FL_TC_HTID_FAULT_FIRST;
		if (ST(b)->ft_next > FL_TC_HTID_FAULT_LAST) {
			fl_diag_add(b->diag, st->pos,
				    "fault '%s': more than %u tc fault tables in one namespace before the end: each tc fault takes one per hook and family it acts on, and a healed fault's is reused only by the same hook and family (expected fewer tc faults, or an end between them)",
				    st->id, FL_TC_HTID_FAULT_LAST - FL_TC_HTID_FAULT_FIRST + 1);
			b->r = -EINVAL;
			return false;
		}
		id = ST(b)->ft_next++;
		for (size_t d = 0; d < NS(b)->n_devices; d++)
			if (!tc_table(b, NS(b)->devices[d], hook, fam, id, 1))
				return false;
	}
	b->ft[idx][hook][fam].id = id;
	return true;
}

/* The fault's one redirect, the node of its table: added (a fresh node id) or deleted. */
static void tc_fault_action(struct builder *b, size_t idx, int hook, int fam, bool add)
{
	struct fault_table *f = &b->ft[idx][hook][fam];

	if (add)
		f->node = ++ST(b)->ft_node[f->id];
	for (size_t d = 0; d < NS(b)->n_devices; d++) {
		struct fl_obj *o = hash_filter(b, add ? FL_OBJ_ADD : FL_OBJ_DEL, NS(b)->devices[d],
					       idx, hook, fam);
		if (!o)
			return;
		o->role = FL_U32_ACTION;
		o->handle = u32_handle(f->id, 0, f->node);
		snprintf(o->redirect, sizeof(o->redirect), "%s", b->p->faults[idx].ifb);
		add_key(o, 0, 0, 0); /* every packet an entry links here */
	}
}

/* Redirect entries for one fault on one hook: add them, or delete them by handle. */
static void tc_fault_entries(struct builder *b, size_t idx, int hook, bool add)
{
	const struct fl_step *st = &b->s->steps[idx];
	bool src = hook == HOOK_INGRESS;

	if (!add) {
		/* In effect: the fault's one redirect per family goes. */
		for (int fam = 0; fam < _FAM_MAX; fam++)
			if (b->ft[idx][hook][fam].id)
				tc_fault_action(b, idx, hook, fam, false);
		/*
		 * Tidy: replay what the add made, same objects, same handles, in
		 * reverse. The fault's own step made them all (plan step idx).
		 */
		const struct fl_plan_step *ps = &b->p->steps[idx];
		for (size_t i = ps->n_objs; i-- > 0;) {
			const struct fl_obj *a = &ps->objs[i];
			struct fl_obj *o;
			if (a->kind != FL_OBJ_FILTER || a->fault != idx || a->op != FL_OBJ_ADD ||
			    a->role != FL_U32_REDIRECT || a->ingress != src)
				continue;
			o = new_obj(b, FL_OBJ_FILTER, FL_OBJ_DEL, a->dev, idx);
			if (!o)
				return;
			*o = *a; /* a is in an earlier step: this one's growth does not move it */
			o->op = FL_OBJ_DEL;
			o->nft = NULL;
			o->tidy = true;
		}
		/* Its tables stay, for later faults: they empty once the entries go. */
		for (int fam = 0; fam < _FAM_MAX; fam++) {
			struct tc_tables *tt = &ST(b)->tables[hook][fam];
			uint16_t *f;
			if (!b->ft[idx][hook][fam].id)
				continue;
			f = reallocarray(tt->ft_free, tt->n_ft_free + 1, sizeof(*f));
			if (!f) {
				b->r = b->r < 0 ? b->r : -ENOMEM;
				return;
			}
			tt->ft_free = f;
			tt->ft_free[tt->n_ft_free++] = b->ft[idx][hook][fam].id;
			b->ft[idx][hook][fam].id = 0;
		}
		return;
	}

	for (int fam = 0; fam < _FAM_MAX; fam++) {
		bool need = false, two_level;
		size_t n_hosts = 0;
		for_each_fault_target(b, st, t)
		{
			if ((t->family == AF_INET6) != (fam == FAM6))
				continue;
			need = true;
			n_hosts += is_host(t);
		}
		if (!need)
			continue;
		/* Decided per fault: its hosts go into one layout or the other, never both. */
		two_level = n_hosts > FL_TC_ONE_LEVEL_MAX;
		struct tc_tables *tt = &ST(b)->tables[hook][fam];
		if (!tt->created)
			tc_create_tables(b, hook, fam, two_level);
		else if (n_hosts)
			tc_host_table(b, hook, fam, two_level);
		/* Shared structure before the entries in it. */
		if (two_level)
			for_each_fault_target(b, st, t)
			{
				if ((t->family == AF_INET6) == (fam == FAM6) && is_host(t))
					tc_second_level(b, hook, fam, host_byte(t, 1));
			}
		if (b->r < 0)
			return;
		bool ing = hook == HOOK_INGRESS, v6 = fam == FAM6;

		if (!tc_fault_table(b, idx, hook, fam))
			return;
		tc_fault_action(b, idx, hook, fam, true);
		uint32_t ft = (uint32_t)b->ft[idx][hook][fam].id << 20;

		for_each_fault_target(b, st, t)
		{
			struct port_block blk;

			if ((t->family == AF_INET6) != (fam == FAM6))
				continue;
			for (port_blocks_init(&blk, t); port_blocks_next(&blk);) {
				/*
				 * Hosts hash on their last byte (two levels: into the table of
				 * the byte before it); prefixes go to the one-bucket table.
				 */
				uint32_t bucket = 0, node, table;
				if (is_host(t) && two_level) {
					unsigned first = host_byte(t, 1);
					bucket = host_byte(t, 0);
					node = ++tt->l2_used[first * FL_TC_DIVISOR + bucket];
					table = FL_TC_HTID_L2(ing, v6, first);
				} else if (is_host(t)) {
					bucket = host_byte(t, 0);
					node = tt->next_node[bucket]++;
					table = FL_TC_HTID(ing, v6, false);
				} else {
					node = tt->next_pfx++;
					table = FL_TC_HTID(ing, v6, true);
				}
				if (node > FL_TC_MAX_NODE) {
					fl_diag_add(b->diag, st->pos,
						    "fault '%s' needs more than %u u32 entries in one table bucket (expected fewer targets sharing an address's %s, or fewer prefixes)",
						    st->id, FL_TC_MAX_NODE,
						    two_level ? "last two bytes" : "last byte");
					b->r = -EINVAL;
					return;
				}
				for (size_t d = 0; d < NS(b)->n_devices; d++) {
					struct fl_obj *o = hash_filter(
						b, FL_OBJ_ADD, NS(b)->devices[d], idx, hook, fam);
					if (!o)
						return;
					o->role = FL_U32_REDIRECT;
					o->handle = u32_handle(table, bucket, node);
					o->link = ft;
					target_keys(o, t, src, blk.port, blk.mask);
				}
			}
		}
	}
}

static uint32_t netem_limit(const struct fl_step *st)
{
	const struct fl_fault_params *p = &st->params;
	uint64_t bps = (p->set & FL_P_RATE) ? p->rate_bps : FL_ASSUMED_LINE_BPS;
	/* Whatever can be in flight while held: rate x (delay + a wide jitter margin). */
	unsigned __int128 held_ns = (unsigned __int128)p->delay_ns + 4 * (unsigned __int128)p->jitter_ns;
	unsigned __int128 pkts = (unsigned __int128)bps * held_ns / 8 / FL_NSEC_PER_SEC / FL_MIN_WIRE_BYTES;

	if (p->set & FL_P_RATE) {
		/* A rate limit queues by design: hold a second's worth beyond the delay. */
		pkts += bps / 8 / FL_MIN_WIRE_BYTES;
	}
	if (pkts < 1000)
		pkts = 1000;
	if (pkts > 0x7fffffff)
		pkts = 0x7fffffff;
	return (uint32_t)pkts;
}

static void tc_fault(struct builder *b, size_t idx, bool add)
{
	const struct fl_step *st = &b->s->steps[idx];
	struct fl_plan_fault *pf = &b->p->faults[idx];
	struct fl_obj *o;

	if (add) {
		if (!ST(b)->clsact) {
			for (size_t d = 0; d < NS(b)->n_devices; d++) {
				o = new_obj(b, FL_OBJ_QDISC, FL_OBJ_ADD, NS(b)->devices[d], SIZE_MAX);
				if (!o)
					return;
				snprintf(o->qdisc, sizeof(o->qdisc), "clsact");
			}
			ST(b)->clsact = true;
		}
		o = new_obj(b, FL_OBJ_LINK, FL_OBJ_ADD, pf->ifb, idx);
		if (!o)
			return;
		o = new_obj(b, FL_OBJ_QDISC, FL_OBJ_ADD, pf->ifb, idx);
		if (!o)
			return;
		if (pf->engine == FL_ENGINE_NETEM) {
			snprintf(o->qdisc, sizeof(o->qdisc), "netem");
			o->netem_limit = pf->netem_limit;
		} else {
			uint64_t burst = st->params.rate_bps / 8 / 100; /* 10 ms worth */
			snprintf(o->qdisc, sizeof(o->qdisc), "tbf");
			o->tbf_burst = (uint32_t)(burst < 3028 ? 3028 : burst > (1u << 30) ? (1u << 30) : burst);
			o->tbf_latency_ns = FL_TBF_LATENCY_NS;
		}
		/* Entries last: nothing is redirected before its IFB can take it. */
		for (int h = 0; h < _HOOK_MAX; h++)
			if (st->direction & (h == HOOK_EGRESS ? FL_DIR_EGRESS : FL_DIR_INGRESS))
				tc_fault_entries(b, idx, h, true);
	} else {
		/* Entries first: a redirect to a deleted device would drop packets. */
		for (int h = 0; h < _HOOK_MAX; h++)
			if (st->direction & (h == HOOK_EGRESS ? FL_DIR_EGRESS : FL_DIR_INGRESS))
				tc_fault_entries(b, idx, h, false);
		o = new_obj(b, FL_OBJ_LINK, FL_OBJ_DEL, pf->ifb, idx);
		if (o)
			o->tidy = true; /* nothing redirects to it any more */
	}
}

static void apply_fault(struct builder *b, size_t idx, bool add)
{
	b->ns = b->p->faults[idx].ns;
	switch (b->p->faults[idx].engine) {
	case FL_ENGINE_NETEM:
	case FL_ENGINE_TC:
		tc_fault(b, idx, add);
		break;
	case FL_ENGINE_NFTABLES:
	case FL_ENGINE_USERSPACE:
		nft_fault(b, idx, add);
		break;
	default:
		break;
	}
}

/* At the end: shared structures, after every fault is gone, in every namespace. */
static void teardown_ns(struct builder *b);
static void teardown(struct builder *b)
{
	for (b->ns = 0; b->ns < b->p->n_nss; b->ns++)
		teardown_ns(b);
}

/*
 * The end removes whatever is left without healing fault by fault: deleting
 * our tables takes every chain, map element and rule with them, and deleting
 * our u32 priorities every entry, in one request each. Per-target deletes
 * would cost one netlink request per u32 entry and, for nft interval maps,
 * time quadratic in the elements (20 s for 10,000 targets with nft 1.0.6).
 * Safe order: the priorities (no more redirects) before the IFBs.
 */
static void end_faults(struct builder *b, bool *active)
{
	teardown(b);
	for (size_t j = 0; j < b->s->n_steps; j++) {
		const struct fl_plan_fault *pf = &b->p->faults[j];
		if (!active[j])
			continue;
		active[j] = false;
		if (pf->engine != FL_ENGINE_NETEM && pf->engine != FL_ENGINE_TC)
			continue;
		b->ns = pf->ns;
		struct fl_obj *o = new_obj(b, FL_OBJ_LINK, FL_OBJ_DEL, pf->ifb, j);
		if (o)
			o->tidy = true;
	}
}

/*
 * What the end's deletions take along in the namespace: a heal in the same
 * step would otherwise tidy its nft elements and chain, or its u32 entries
 * one request each, just before their table or priority goes whole.
 */
static void drop_taken_along(struct builder *b)
{
	struct fl_plan_step *ps = b->cur;
	size_t k = 0;

	for (size_t i = 0; i < ps->n_objs; i++) {
		struct fl_obj *o = &ps->objs[i];
		bool taken = o->tidy && o->ns == b->ns &&
			     (o->kind == FL_OBJ_NFT ||
			      (o->kind == FL_OBJ_FILTER && o->op == FL_OBJ_DEL &&
			       o->role == FL_U32_REDIRECT));
		if (taken) {
			free(o->nft);
			continue;
		}
		ps->objs[k++] = *o;
	}
	ps->n_objs = k;
}

static void teardown_ns(struct builder *b)
{
	drop_taken_along(b);
	/* In effect first: the gates' nodes (no packet enters our tables), nft's tables. */
	for (int hook = 0; hook < _HOOK_MAX; hook++)
		for (int fam = 0; fam < _FAM_MAX; fam++) {
			const struct tc_tables *tt = &ST(b)->tables[hook][fam];
			if (!tt->created)
				continue;
			for (size_t d = 0; d < NS(b)->n_devices; d++)
				for (uint32_t node = 1; node < tt->next_gate; node++) {
					struct fl_obj *o =
						hash_filter(b, FL_OBJ_DEL, NS(b)->devices[d],
							    SIZE_MAX, hook, fam);
					if (!o)
						return;
					o->role = FL_U32_HASHLINK;
					o->handle = u32_handle(
						FL_TC_HTID_GATE(hook == HOOK_INGRESS, fam == FAM6), 0, node);
				}
		}
	if (ST(b)->nft_netdev || ST(b)->nft_inet) {
		struct fl_strbuf sb = { 0 };
		if (ST(b)->nft_netdev)
			fl_strbuf_append(&sb, "delete table netdev " FL_NFT_TABLE "\n");
		if (ST(b)->nft_inet)
			fl_strbuf_append(&sb, "delete table inet " FL_NFT_TABLE "\n");
		add_nft(b, SIZE_MAX, &sb, 0,
			(ST(b)->nft_netdev ? FL_NFT_NETDEV : 0) | (ST(b)->nft_inet ? FL_NFT_INET : 0),
			false);
		ST(b)->nft_netdev = ST(b)->nft_inet = false;
	}
	/* Then, tidy: our priorities with every table and entry in them, our clsact. */
	for (int hook = 0; hook < _HOOK_MAX; hook++)
		for (int fam = 0; fam < _FAM_MAX; fam++) {
			if (!ST(b)->tables[hook][fam].created)
				continue;
			for (size_t d = 0; d < NS(b)->n_devices; d++) {
				/* Deleting a priority deletes every filter in it: ours only. */
				const uint16_t prios[] = {
					fam == FAM4 ? FL_TC_PRIO_HASH4 : FL_TC_PRIO_HASH6,
					fam == FAM4 ? FL_TC_PRIO_PASS4 : FL_TC_PRIO_PASS6,
				};
				for (size_t i = 0; i < ELEMENTSOF(prios); i++) {
					struct fl_obj *o = new_obj(b, FL_OBJ_FILTER, FL_OBJ_DEL,
								   NS(b)->devices[d], SIZE_MAX);
					if (!o)
						return;
					tc_filter_common(o, hook, fam, prios[i]);
					o->role = FL_U32_HASHTABLE;
					o->handle = 0; /* the whole priority */
					o->tidy = true;
				}
			}
			free(ST(b)->tables[hook][fam].l2_used);
			free(ST(b)->tables[hook][fam].ft_free);
			memset(&ST(b)->tables[hook][fam], 0, sizeof(ST(b)->tables[hook][fam]));
		}
	/* The priorities take the fault tables along. */
	ST(b)->ft_next = 0;
	memset(ST(b)->ft_node, 0, sizeof(ST(b)->ft_node));
	if (ST(b)->clsact) {
		for (size_t d = 0; d < NS(b)->n_devices; d++) {
			struct fl_obj *o = new_obj(b, FL_OBJ_QDISC, FL_OBJ_DEL, NS(b)->devices[d], SIZE_MAX);
			if (!o)
				return;
			snprintf(o->qdisc, sizeof(o->qdisc), "clsact");
			o->tidy = true;
		}
		ST(b)->clsact = false;
	}
}

/*
 * A step's tidy objects after all the others, each group in its order:
 * the step is in effect before the first of them (fl_engine_apply_effective).
 */
static int tidy_last(struct fl_plan_step *ps)
{
	struct fl_obj *sorted;
	size_t n = 0;

	if (ps->n_objs < 2)
		return 0;
	sorted = malloc(ps->n_objs * sizeof(*sorted));
	if (!sorted)
		return -ENOMEM;
	for (int tidy = 0; tidy < 2; tidy++)
		for (size_t k = 0; k < ps->n_objs; k++)
			if (ps->objs[k].tidy == (bool)tidy)
				sorted[n++] = ps->objs[k];
	memcpy(ps->objs, sorted, n * sizeof(*sorted));
	free(sorted);
	return 0;
}

/* ---- engines --------------------------------------------------------------------- */

static unsigned engine_needs(enum fl_engine e, const struct fl_step *st, unsigned have)
{
	switch (e) {
	case FL_ENGINE_NETEM:
		/* A seed needs a netem that takes one: older ones drop it without a word. */
		return FL_CAP_NETEM | FL_CAP_IFB | FL_CAP_CLSACT | FL_CAP_U32 | FL_CAP_MIRRED |
		       (st->has_seed ? FL_CAP_NETEM_SEED : 0);
	case FL_ENGINE_TC:
		return FL_CAP_TBF | FL_CAP_IFB | FL_CAP_CLSACT | FL_CAP_U32 | FL_CAP_MIRRED;
	case FL_ENGINE_NFTABLES:
		return st->fault == FL_FAULT_REJECT ? FL_CAP_NFTABLES
						    : FL_CAP_NFTABLES | FL_CAP_NETDEV_EGRESS;
	case FL_ENGINE_USERSPACE:
		/* Either way of steering will do: nft's own statement first. */
		return FL_CAP_NFTABLES | (have & FL_CAP_NFT_QUEUE ? FL_CAP_NFT_QUEUE : FL_CAP_NFQUEUE);
	default:
		return 0;
	}
}

/* Whether engine e can carry exactly what this step asks. */
static bool engine_fits(enum fl_engine e, const struct fl_step *st)
{
	if (e == FL_ENGINE_NFTABLES && st->fault == FL_FAULT_LOSS)
		/* numgen drops only, and cannot be seeded. */
		return st->params.set == FL_P_LOSS && !st->has_seed;
	if (e == FL_ENGINE_TC)
		return st->params.set == FL_P_RATE;
	return true;
}

static void missing_text(struct fl_strbuf *sb, unsigned missing)
{
	bool first = true;

	for (unsigned bit = 1; bit & FL_CAP_ALL; bit <<= 1)
		if (missing & bit) {
			fl_strbuf_appendf(sb, "%s%s (%s)", first ? "" : ", ", fl_cap_name(bit),
					  fl_cap_fix(bit));
			first = false;
		}
}

static int choose_engines(struct builder *b)
{
	unsigned queues = 0;
	int r = 0;

	for (size_t i = 0; i < b->s->n_steps; i++) {
		const struct fl_step *st = &b->s->steps[i];
		const struct fl_fault_info *fi;
		struct fl_plan_fault *pf = &b->p->faults[i];
		unsigned have = b->p->caps.have;

		if (st->kind != FL_STEP_FAULT)
			continue;
		fi = fl_fault_info(st->fault);
		if (st->engine != FL_ENGINE_AUTO) {
			unsigned missing = engine_needs(st->engine, st, have) & ~have;
			if (missing) {
				struct fl_strbuf sb = { 0 };
				missing_text(&sb, missing);
				_cleanup_free_ char *m = fl_strbuf_steal(&sb);
				fl_diag_add(b->diag, st->engine_pos,
					    "engine %s for fault '%s' needs what this kernel lacks: %s (expected those features, or engine: auto)",
					    fl_engine_to_string(st->engine), st->id, m ? m : "?");
				r = -EOPNOTSUPP;
				continue;
			}
			pf->engine = st->engine;
		} else {
			unsigned first_missing = 0;
			for (size_t k = 0; k < ELEMENTSOF(fi->engines) && fi->engines[k]; k++) {
				enum fl_engine e = fi->engines[k];
				unsigned missing = engine_needs(e, st, have) & ~have;
				if (!engine_fits(e, st))
					continue;
				if (!missing) {
					pf->engine = e;
					break;
				}
				if (!first_missing)
					first_missing = missing;
			}
			if (!pf->engine) {
				struct fl_strbuf sb = { 0 };
				missing_text(&sb, first_missing);
				_cleanup_free_ char *m = fl_strbuf_steal(&sb);
				fl_diag_add(b->diag, st->kind_pos,
					    "fault '%s' (%s) cannot run on this kernel: it lacks %s (expected those features)",
					    st->id, fi->name, m ? m : "?");
				r = -EOPNOTSUPP;
				continue;
			}
		}
		/* Steps are capped (FL_MAX_STEPS), so these names always fit. */
		char name[32];
		snprintf(name, sizeof(name), "f%zu", i + 1);
		snprintf(pf->chain, sizeof(pf->chain), "%.15s", name);
		snprintf(name, sizeof(name), FL_IFB_PREFIX "%zu", i + 1);
		snprintf(pf->ifb, sizeof(pf->ifb), "%.15s", name);
		if (pf->engine == FL_ENGINE_NETEM)
			pf->netem_limit = netem_limit(st);
		if (pf->engine == FL_ENGINE_USERSPACE) {
			if (queues == FL_NFQUEUE_MAX) {
				fl_diag_add(b->diag, st->kind_pos,
					    "fault '%s' needs one more userspace-engine queue (expected at most %u faults on the userspace engine in one scenario)",
					    st->id, FL_NFQUEUE_MAX);
				r = -EINVAL;
				continue;
			}
			pf->queue_num = (uint16_t)(FL_NFQUEUE_BASE + queues++);
			pf->queue_compat = !(have & FL_CAP_NFT_QUEUE);
		}
	}
	return r;
}

/* ---- resolution ------------------------------------------------------------------ */

/* A port without a protocol means both TCP and UDP: split so maps and u32 keys stay exact. */
static int add_targets(struct fl_target **arr, size_t *n, struct fl_target *src, size_t n_src)
{
	for (size_t i = 0; i < n_src; i++) {
		int copies = src[i].port_lo && !src[i].proto ? 2 : 1;
		for (int c = 0; c < copies; c++) {
			struct fl_target *g = reallocarray(*arr, *n + 1, sizeof(**arr));
			if (!g)
				return -ENOMEM;
			*arr = g;
			g[*n] = src[i];
			if (copies == 2)
				g[*n].proto = c == 0 ? IPPROTO_TCP : IPPROTO_UDP;
			(*n)++;
		}
	}
	return 0;
}

static int resolve_all(struct builder *b)
{
	const struct fl_scenario *s = b->s;
	int r = 0;

	for (size_t i = 0; i < s->n_services; i++) {
		const struct fl_service *sv = &s->services[i];
		struct fl_plan_service *ps = &b->p->services[i];

		for (size_t j = 0; j < sv->n_endpoints; j++) {
			struct fl_target *raw = NULL;
			size_t n_raw = 0;
			char *note = NULL;
			int k = fl_resolve_endpoint(&sv->endpoints[j], b->opts, &raw, &n_raw, &note);

			if (k == -ENOMEM)
				return k;
			if (k < 0) {
				fl_diag_add(b->diag, sv->endpoints[j].pos,
					    "hostname '%s' of service '%s' does not resolve (expected a name with A or AAAA records, or an address)",
					    sv->endpoints[j].hostname, sv->name);
				r = -EINVAL;
				continue;
			}
			k = add_targets(&ps->targets, &ps->n_targets, raw, n_raw);
			free(raw);
			if (k == 0 && note) {
				char **g = reallocarray(ps->notes, ps->n_notes + 1, sizeof(char *));
				if (!g)
					k = -ENOMEM;
				else {
					ps->notes = g;
					g[ps->n_notes++] = TAKE_PTR(note);
				}
			}
			free(note);
			if (k < 0)
				return k;
		}
	}

	for (size_t i = 0; i < s->n_exclude; i++) {
		struct fl_target *raw = NULL;
		size_t n_raw = 0;
		char *note = NULL;
		int k = fl_resolve_endpoint(&s->exclude[i], b->opts, &raw, &n_raw, &note);
		free(note);
		if (k < 0)
			return k == -ENOMEM ? k : -EINVAL;
		/* SSH on tcp port 22 is excluded always; do not list it twice. */
		size_t n_kept = 0;
		for (size_t j = 0; j < n_raw; j++)
			if (!(raw[j].prefixlen == 0 && raw[j].proto == IPPROTO_TCP &&
			      raw[j].port_lo == 22 && raw[j].port_hi == 22))
				raw[n_kept++] = raw[j];
		k = add_targets(&b->p->exclude, &b->p->n_exclude, raw, n_kept);
		free(raw);
		if (k < 0)
			return k;
	}
	/* Exclusions are rules, not set elements: overlaps in part are fine, duplicates go. */
	const struct fl_target *x = NULL, *y = NULL;
	if (normalize_targets(b->p->exclude, &b->p->n_exclude, &x, &y) == -ENOMEM)
		return -ENOMEM;

	/* SSH: port 22 always, and the port of the session we may be running in. */
	b->p->ssh_ports[b->p->n_ssh_ports++] = 22;
	for (size_t i = 0; i < b->opts->n_ssh_ports; i++) {
		bool dup = false;
		for (size_t j = 0; j < b->p->n_ssh_ports; j++)
			dup |= b->p->ssh_ports[j] == b->opts->ssh_ports[i];
		if (!dup && b->p->n_ssh_ports < ELEMENTSOF(b->p->ssh_ports))
			b->p->ssh_ports[b->p->n_ssh_ports++] = b->opts->ssh_ports[i];
	}
	return r;
}

static bool targets_overlap(const struct fl_target *a, const struct fl_target *b)
{
	struct fl_endpoint ea = { .family = a->family, .prefixlen = a->prefixlen, .proto = a->proto,
				  .port_lo = a->port_lo, .port_hi = a->port_hi };
	struct fl_endpoint eb = { .family = b->family, .prefixlen = b->prefixlen, .proto = b->proto,
				  .port_lo = b->port_lo, .port_hi = b->port_hi };

	memcpy(&ea.addr, &a->addr, sizeof(ea.addr));
	memcpy(&eb.addr, &b->addr, sizeof(eb.addr));
	return fl_endpoint_overlaps(&ea, &eb);
}

/* Whether every packet b matches, a matches too. */
static bool target_contains(const struct fl_target *a, const struct fl_target *b)
{
	struct fl_target wide = *a;

	if (a->family != b->family || a->prefixlen > b->prefixlen)
		return false;
	if (a->proto && a->proto != b->proto)
		return false;
	if (a->port_lo && (!b->port_lo || b->port_lo < a->port_lo || b->port_hi > a->port_hi))
		return false;
	/* Same network at a's prefix length. */
	wide.prefixlen = a->prefixlen;
	struct fl_target nb = *b;
	nb.prefixlen = a->prefixlen;
	nb.proto = a->proto;
	nb.port_lo = a->port_lo;
	nb.port_hi = a->port_hi;
	return targets_overlap(&wide, &nb);
}

/*
 * A target's prefix as a range of addresses, to find the pairs whose
 * prefixes nest without comparing every pair: two prefixes either nest or
 * are disjoint, so in order of first address (then length), the prefixes
 * that contain one are a chain of those before it, kept on a stack.
 */
struct target_range {
	uint8_t lo[16], hi[16]; /* first and last address; IPv4 in the first 4 bytes */
	int family;
	uint8_t prefixlen;
	size_t i; /* the target's index */
};

static void target_range(const struct fl_target *t, size_t i, struct target_range *ret)
{
	size_t len = t->family == AF_INET ? 4 : 16;
	const uint8_t *a = t->family == AF_INET ? (const uint8_t *)&t->addr.v4 : t->addr.v6.s6_addr;

	*ret = (struct target_range){.family = t->family, .prefixlen = t->prefixlen, .i = i};
	for (size_t k = 0; k < len; k++) {
		unsigned bits = t->prefixlen > 8 * k ? t->prefixlen - 8 * k : 0;
		uint8_t mask = bits >= 8 ? 0xff : (uint8_t)(0xff00u >> bits);

		ret->lo[k] = a[k] & mask;
		ret->hi[k] = a[k] | (uint8_t)~mask;
	}
}

static int target_range_cmp(const void *x, const void *y)
{
	const struct target_range *a = x, *b = y;
	int c;

	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	c = memcmp(a->lo, b->lo, sizeof(a->lo));
	if (c)
		return c;
	if (a->prefixlen != b->prefixlen)
		return a->prefixlen < b->prefixlen ? -1 : 1;
	return (a->i > b->i) - (a->i < b->i);
}

/*
 * Calls fn(a, b, userdata) for each pair of targets whose prefixes nest (a's
 * contains b's; of equal ones, a is the first listed) until fn returns true.
 * 1 when fn stopped it, 0 when every pair was seen, -ENOMEM. O(n log n) and
 * the pairs: n distinct hosts make none.
 */
static int nested_pairs(const struct fl_target *t, size_t n,
			bool (*fn)(size_t a, size_t b, void *userdata), void *userdata)
{
	_cleanup_free_ struct target_range *r = calloc(n ? n : 1, sizeof(*r));
	_cleanup_free_ size_t *stack = calloc(n ? n : 1, sizeof(*stack));
	size_t depth = 0;

	if (!r || !stack)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		target_range(&t[i], i, &r[i]);
	qsort(r, n, sizeof(*r), target_range_cmp);
	for (size_t i = 0; i < n; i++) {
		while (depth && (r[stack[depth - 1]].family != r[i].family ||
				 memcmp(r[stack[depth - 1]].hi, r[i].lo, sizeof(r[i].lo)) < 0))
			depth--;
		for (size_t k = 0; k < depth; k++)
			if (fn(r[stack[k]].i, r[i].i, userdata))
				return 1;
		stack[depth++] = i;
	}
	return 0;
}

struct drop_contained {
	const struct fl_target *t;
	bool *drop;
};

/* Of two equal targets keep the first; otherwise drop the contained one. */
static bool drop_contained(size_t a, size_t b, void *userdata)
{
	struct drop_contained *c = userdata;
	bool ab = target_contains(&c->t[a], &c->t[b]), ba = target_contains(&c->t[b], &c->t[a]);

	if (ab && (!ba || a < b))
		c->drop[b] = true;
	if (ba && (!ab || b < a))
		c->drop[a] = true;
	return false;
}

static bool overlap_found(size_t a, size_t b, void *userdata)
{
	const struct fl_target *t = userdata;

	return targets_overlap(&t[a], &t[b]);
}

/*
 * A set of targets as nftables' interval maps and u32 can hold it: no
 * duplicates, nothing contained in another (the container already matches
 * it), and no partial overlap (which an interval map refuses). *ret_a and
 * *ret_b name the first partial overlap in the targets' order, if there is
 * one: -EINVAL. Or -ENOMEM.
 */
static int normalize_targets(struct fl_target *t, size_t *n, const struct fl_target **ret_a,
			     const struct fl_target **ret_b)
{
	_cleanup_free_ bool *drop = calloc(*n ? *n : 1, sizeof(*drop));
	struct drop_contained c = {.t = t, .drop = drop};
	size_t kept = 0;
	int r;

	if (!drop)
		return -ENOMEM;
	r = nested_pairs(t, *n, drop_contained, &c);
	if (r < 0)
		return r;
	for (size_t i = 0; i < *n; i++)
		if (!drop[i])
			t[kept++] = t[i];
	*n = kept;
	r = nested_pairs(t, kept, overlap_found, t);
	if (r <= 0)
		return r;
	/* Rare, and an error: name the same pair whatever the sort did. */
	for (size_t i = 0; i < kept; i++)
		for (size_t j = i + 1; j < kept; j++)
			if (targets_overlap(&t[i], &t[j])) {
				*ret_a = &t[i];
				*ret_b = &t[j];
				return -EINVAL;
			}
	return -EINVAL; /* not reached: nested_pairs found one */
}

static int fault_targets(struct builder *b)
{
	const struct fl_scenario *s = b->s;
	int r = 0;

	for (size_t i = 0; i < s->n_steps; i++) {
		const struct fl_step *st = &s->steps[i];
		struct fl_plan_fault *pf = &b->p->faults[i];
		const struct fl_target *x = NULL, *y = NULL;

		if (st->kind != FL_STEP_FAULT)
			continue;
		for (size_t k = 0; k < st->n_services; k++) {
			const struct fl_plan_service *ps = &b->p->services[st->services[k].index];
			struct fl_target *g = reallocarray(pf->targets, pf->n_targets + ps->n_targets + 1,
							   sizeof(*g));
			if (!g)
				return -ENOMEM;
			pf->targets = g;
			memcpy(g + pf->n_targets, ps->targets, ps->n_targets * sizeof(*g));
			pf->n_targets += ps->n_targets;
		}
		int k = normalize_targets(pf->targets, &pf->n_targets, &x, &y);
		if (k == -ENOMEM)
			return k;
		if (k < 0) {
			char a[96], c[96];
			fl_diag_add(b->diag, st->kind_pos,
				    "fault '%s' has targets that overlap in part: %s and %s (expected targets that are disjoint or contain one another)",
				    st->id, fl_target_to_string(x, a), fl_target_to_string(y, c));
			r = -EINVAL;
		}
	}
	return r;
}

/*
 * A userspace fault that holds packets acts on the replies whatever the step
 * says, while the round trip changes as if it were where the step says:
 * count it both ways.
 */
static enum fl_direction effective_direction(const struct builder *b, size_t i)
{
	const struct fl_step *st = &b->s->steps[i];

	if (b->p->faults[i].engine != FL_ENGINE_USERSPACE)
		return st->direction;
	return fl_plan_userspace_direction(st) == st->direction ? st->direction : FL_DIR_BOTH;
}

struct cross_overlap {
	const struct fl_target *t;
	size_t n_a; /* targets below this index are the first fault's */
};

static bool cross_overlap_found(size_t a, size_t b, void *userdata)
{
	const struct cross_overlap *c = userdata;

	return (a < c->n_a) != (b < c->n_a) && targets_overlap(&c->t[a], &c->t[b]);
}

/* Whether a target of one fault overlaps one of the other's: 0, or -ENOMEM. */
static int faults_overlap(const struct fl_plan_fault *a, const struct fl_plan_fault *b, bool *ret)
{
	size_t n = a->n_targets + b->n_targets;
	_cleanup_free_ struct fl_target *t = malloc((n ? n : 1) * sizeof(*t));
	struct cross_overlap c = {.t = t, .n_a = a->n_targets};
	int r;

	if (!t)
		return -ENOMEM;
	if (a->n_targets)
		memcpy(t, a->targets, a->n_targets * sizeof(*t));
	if (b->n_targets)
		memcpy(t + a->n_targets, b->targets, b->n_targets * sizeof(*t));
	r = nested_pairs(t, n, cross_overlap_found, &c);
	if (r < 0)
		return r;
	*ret = r == 1;
	return 0;
}

/*
 * The validator compared endpoints as written; after resolution a hostname
 * may land on another fault's address. Same rule, on resolved targets.
 */
static int check_resolved_overlaps(struct builder *b)
{
	const struct fl_scenario *s = b->s;
	int r = 0;

	for (size_t i = 0; i < s->n_steps; i++) {
		const struct fl_step *a = &s->steps[i];
		const struct fl_plan_fault *pa = &b->p->faults[i];
		if (a->kind != FL_STEP_FAULT)
			continue;
		for (size_t j = i + 1; j < s->n_steps; j++) {
			const struct fl_step *c = &s->steps[j];
			const struct fl_plan_fault *pc = &b->p->faults[j];
			bool hit = false;
			if (c->kind != FL_STEP_FAULT || c->at_ns >= a->healed_at_ns ||
			    !(effective_direction(b, i) & effective_direction(b, j)))
				continue;
			int k = faults_overlap(pa, pc, &hit);
			if (k < 0)
				return k;
			if (hit) {
				fl_diag_add(b->diag, c->kind_pos,
					    "fault '%s' overlaps fault '%s' once hostnames are resolved or engines chosen (expected one fault per address and direction at a time; the userspace engine acts on both directions)",
					    c->id, a->id);
				r = -EINVAL;
			}
		}
	}
	return r;
}

/* One key per namespace, whichever way the scope names it. */
char *fl_plan_ns_key(const struct fl_scope *sc)
{
	char *k = NULL;
	int r = -1;
	const char *rn = "/run/netns/";

	switch (sc->netns_kind) {
	case FL_NETNS_SELF:
		r = asprintf(&k, "self");
		break;
	case FL_NETNS_NAMED:
		r = asprintf(&k, "named %s", sc->netns);
		break;
	case FL_NETNS_PATH:
		/* /run/netns/NAME is the named namespace NAME. */
		if (strncmp(sc->netns, rn, strlen(rn)) == 0 && !strchr(sc->netns + strlen(rn), '/'))
			r = asprintf(&k, "named %s", sc->netns + strlen(rn));
		else
			r = asprintf(&k, "path %s", sc->netns);
		break;
	case FL_NETNS_PID:
		r = asprintf(&k, "pid %d", sc->pid);
		break;
	}
	return r < 0 ? NULL : k;
}

static bool same_strv(char **a, size_t na, char **b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (strcmp(a[i], b[i]) != 0)
			return false;
	return true;
}

/* The namespace a scope names: found, or added. *ret_index. */
static int ns_add(struct builder *b, const struct fl_scope *sc, struct fl_pos pos, size_t *ret_index)
{
	_cleanup_free_ char *key = fl_plan_ns_key(sc);
	struct fl_plan_ns *g;

	if (!key)
		return -ENOMEM;
	for (size_t i = 0; i < b->p->n_nss; i++) {
		struct fl_plan_ns *n = &b->p->nss[i];
		if (strcmp(n->key, key) != 0)
			continue;
		if (!same_strv(n->scope.interfaces, n->scope.n_interfaces, sc->interfaces,
			       sc->n_interfaces)) {
			fl_diag_add(b->diag, pos,
				    "two scopes of netns %s name different interfaces (expected one set of interfaces per namespace)",
				    key + (key[0] == 'n' ? 6 : 0));
			return -EINVAL;
		}
		*ret_index = i;
		return 0;
	}
	g = reallocarray(b->p->nss, b->p->n_nss + 1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	b->p->nss = g;
	g[b->p->n_nss] = (struct fl_plan_ns){ .scope = *sc, .key = TAKE_PTR(key) };
	*ret_index = b->p->n_nss++;
	return 0;
}

/*
 * The namespaces: the scenario's scope first, then each fault step's own. A
 * step's scope takes the scenario's netns when it names none, and its
 * interfaces when it names none in the same namespace.
 */
static int collect_namespaces(struct builder *b)
{
	const struct fl_scenario *s = b->s;
	size_t idx;
	int r;

	r = ns_add(b, &s->scope, s->scope.pos, &idx);
	if (r < 0)
		return r;
	for (size_t i = 0; i < s->n_steps; i++) {
		const struct fl_step *st = &s->steps[i];
		struct fl_scope sc;

		if (st->kind != FL_STEP_FAULT)
			continue;
		if (!st->scope) {
			b->p->faults[i].ns = 0;
			continue;
		}
		sc = *st->scope;
		if (!st->scope->netns) {
			sc.netns_kind = s->scope.netns_kind;
			sc.netns = s->scope.netns;
			sc.pid = s->scope.pid;
		}
		if (!sc.n_interfaces) {
			_cleanup_free_ char *a = fl_plan_ns_key(&sc), *c = fl_plan_ns_key(&s->scope);
			if (!a || !c)
				return -ENOMEM;
			if (strcmp(a, c) == 0) {
				sc.interfaces = s->scope.interfaces;
				sc.n_interfaces = s->scope.n_interfaces;
			}
		}
		r = ns_add(b, &sc, st->scope->pos, &b->p->faults[i].ns);
		if (r < 0)
			return r;
	}
	return 0;
}

static int strv_copy(char **src, size_t n, struct fl_plan_ns *ns)
{
	ns->devices = calloc(n ? n : 1, sizeof(char *));
	if (!ns->devices)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		ns->devices[i] = strdup(src[i]);
		if (!ns->devices[i])
			return -ENOMEM;
		ns->n_devices++;
	}
	return 0;
}

static int resolve_devices(struct builder *b)
{
	for (size_t k = 0; k < b->p->n_nss; k++) {
		struct fl_plan_ns *ns = &b->p->nss[k];
		const struct fl_scope *sc = &ns->scope;
		int r;

		ns->devices_resolved = true;
		if (sc->n_interfaces) {
			r = strv_copy(sc->interfaces, sc->n_interfaces, ns);
		} else if (b->opts->list_devices) {
			char **names = NULL;
			size_t n = 0;
			r = b->opts->list_devices(sc, &names, &n, b->opts->devices_userdata);
			if (r < 0) {
				fl_diag_add(b->diag, sc->pos, "cannot list the devices of netns %s: %s", ns->key,
					    strerror(-r));
				return r == -ENOMEM ? r : -EOPNOTSUPP;
			}
			ns->devices = names;
			ns->n_devices = n;
		} else if (b->opts->n_devices) {
			r = strv_copy(b->opts->devices, b->opts->n_devices, ns);
		} else if (sc->netns_kind == FL_NETNS_SELF) {
			/* Our own namespace can be read without privileges. */
			struct if_nameindex *ifs = if_nameindex();
			char *names[256];
			size_t n = 0;
			for (struct if_nameindex *i = ifs; i && i->if_index && n < ELEMENTSOF(names); i++)
				if (strcmp(i->if_name, "lo") != 0 &&
				    strncmp(i->if_name, FL_IFB_PREFIX, strlen(FL_IFB_PREFIX)) != 0)
					names[n++] = i->if_name;
			r = strv_copy(names, n, ns);
			if (ifs)
				if_freenameindex(ifs);
		} else {
			char *placeholder[] = { "$DEV" };
			r = strv_copy(placeholder, 1, ns);
			ns->devices_resolved = false;
		}
		if (r < 0)
			return r;
	}
	return 0;
}

/* ---- the walk --------------------------------------------------------------------- */

static int walk_timeline(struct builder *b)
{
	const struct fl_scenario *s = b->s;
	bool *active = calloc(s->n_steps ? s->n_steps : 1, sizeof(bool));

	if (!active)
		return -ENOMEM;
	for (size_t i = 0; i < s->n_steps && b->r == 0; i++) {
		const struct fl_step *st = &s->steps[i];
		struct fl_plan_step *ps = &b->p->steps[i];

		ps->step = i;
		ps->real_ns = fl_scenario_real_ns(s, st->at_ns);
		b->cur = ps;
		b->p->n_steps = i + 1;
		switch (st->kind) {
		case FL_STEP_FAULT:
			apply_fault(b, i, true);
			active[i] = true;
			break;
		case FL_STEP_HEAL:
			for (size_t j = 0; j < i; j++) {
				bool heal = false;
				if (!active[j])
					continue;
				if (st->heal_all)
					heal = true;
				for (size_t h = 0; h < st->n_heals; h++)
					heal |= st->heals[h].index == j;
				if (heal) {
					apply_fault(b, j, false);
					active[j] = false;
				}
			}
			break;
		case FL_STEP_END:
			break;
		}
		if (i == s->n_steps - 1)
			end_faults(b, active);
		if (b->r == 0)
			b->r = tidy_last(ps);
	}
	free(active);
	return b->r;
}

static void free_states(struct builder *b)
{
	for (size_t k = 0; b->nst && k < b->p->n_nss; k++)
		for (int hook = 0; hook < _HOOK_MAX; hook++)
			for (int fam = 0; fam < _FAM_MAX; fam++) {
				free(b->nst[k].tables[hook][fam].l2_used);
				free(b->nst[k].tables[hook][fam].ft_free);
			}
	free(b->nst);
	b->nst = NULL;
	free(b->ft);
	b->ft = NULL;
}

int fl_plan_build(const struct fl_scenario *s, const struct fl_plan_options *opts,
		  struct fl_diag *diag, struct fl_plan **ret_plan)
{
	_cleanup_(fl_plan_freep) struct fl_plan *p = NULL;
	struct fl_plan_options none = { 0 };
	struct builder b = { .s = s, .opts = opts ? opts : &none, .diag = diag };
	int r;

	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->scenario = s;
	p->caps = b.opts->caps;
	p->services = calloc(s->n_services ? s->n_services : 1, sizeof(*p->services));
	p->faults = calloc(s->n_steps ? s->n_steps : 1, sizeof(*p->faults));
	p->steps = calloc(s->n_steps ? s->n_steps : 1, sizeof(*p->steps));
	if (!p->services || !p->faults || !p->steps)
		return -ENOMEM;
	b.p = p;

	r = resolve_all(&b);
	if (r < 0)
		return r;
	r = fault_targets(&b);
	if (r < 0)
		return r;
	r = collect_namespaces(&b);
	if (r < 0)
		return r;
	b.nst = calloc(p->n_nss, sizeof(*b.nst));
	b.ft = calloc(s->n_steps ? s->n_steps : 1, sizeof(*b.ft));
	if (!b.nst || !b.ft) {
		free_states(&b);
		return -ENOMEM;
	}
	r = resolve_devices(&b);
	if (r == 0)
		r = choose_engines(&b);
	if (r == 0)
		r = check_resolved_overlaps(&b);
	if (r == 0)
		r = walk_timeline(&b);
	free_states(&b);
	if (r < 0)
		return r;
	*ret_plan = TAKE_PTR(p);
	return 0;
}

void fl_plan_free(struct fl_plan *p)
{
	if (!p)
		return;
	if (p->services)
		for (size_t i = 0; i < p->scenario->n_services; i++) {
			free(p->services[i].targets);
			for (size_t j = 0; j < p->services[i].n_notes; j++)
				free(p->services[i].notes[j]);
			free(p->services[i].notes);
		}
	free(p->services);
	if (p->faults)
		for (size_t i = 0; i < p->scenario->n_steps; i++)
			free(p->faults[i].targets);
	free(p->faults);
	free(p->exclude);
	for (size_t k = 0; k < p->n_nss; k++) {
		for (size_t i = 0; i < p->nss[k].n_devices; i++)
			free(p->nss[k].devices[i]);
		free(p->nss[k].devices);
		free(p->nss[k].key);
	}
	free(p->nss);
	if (p->steps)
		for (size_t i = 0; i < p->n_steps; i++) {
			for (size_t j = 0; j < p->steps[i].n_objs; j++)
				free(p->steps[i].objs[j].nft);
			free(p->steps[i].objs);
		}
	free(p->steps);
	free(p);
}
