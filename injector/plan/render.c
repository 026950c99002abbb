/* SPDX-License-Identifier: MIT */
/*
 * Plan -> text or JSON, through one walk (as iproute2 does with its
 * print_*(PRINT_ANY, key, fmt, value) helpers): every pr_*() call names its
 * JSON key and its text form, so the two views cannot drift apart.
 *
 * The text view is a shell script: comments describe the timeline, and the
 * commands under each step are the tc(8)/nft(8) equivalents of the kernel
 * objects that step creates or deletes.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <linux/if_ether.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "plan/plan.h"
#include "scenario/fault.h"
#include "util/strbuf.h"

struct out {
	struct fl_strbuf sb;
	bool json;
	int depth;
	bool comma[32];
};

/* ---- the print path ---------------------------------------------------------- */

/* The text formats below are string literals at every call site, passed through. */
#pragma GCC diagnostic ignored "-Wformat-nonliteral"

static void j_key(struct out *o, const char *key)
{
	if (o->comma[o->depth])
		fl_strbuf_append(&o->sb, ",");
	o->comma[o->depth] = true;
	if (key) {
		fl_strbuf_append_json(&o->sb, key);
		fl_strbuf_append(&o->sb, ":");
	}
}

static void open_obj(struct out *o, const char *key, char bracket)
{
	if (!o->json)
		return;
	j_key(o, key);
	fl_strbuf_appendn(&o->sb, &bracket, 1);
	if (o->depth < 31)
		o->depth++;
	o->comma[o->depth] = false;
}

static void close_obj(struct out *o, char bracket)
{
	if (!o->json)
		return;
	fl_strbuf_appendn(&o->sb, &bracket, 1);
	if (o->depth > 0)
		o->depth--;
}

/* JSON: "key": "value"; text: fmt with the value, if fmt is given. */
static void pr_str(struct out *o, const char *key, const char *fmt, const char *value)
{
	if (o->json) {
		j_key(o, key);
		if (value)
			fl_strbuf_append_json(&o->sb, value);
		else
			fl_strbuf_append(&o->sb, "null");
	} else if (fmt) {
		fl_strbuf_appendf(&o->sb, fmt, value ? value : "");
	}
}

static void pr_u64(struct out *o, const char *key, const char *fmt, uint64_t v)
{
	if (o->json) {
		j_key(o, key);
		fl_strbuf_appendf(&o->sb, "%" PRIu64, v);
	} else if (fmt) {
		fl_strbuf_appendf(&o->sb, fmt, v);
	}
}

/* A number already formatted as text (e.g. an exact decimal). */
static void pr_num(struct out *o, const char *key, const char *fmt, const char *num)
{
	if (o->json) {
		j_key(o, key);
		fl_strbuf_append(&o->sb, num);
	} else if (fmt) {
		fl_strbuf_appendf(&o->sb, fmt, num);
	}
}

static void pr_bool(struct out *o, const char *key, const char *fmt, bool v)
{
	if (o->json) {
		j_key(o, key);
		fl_strbuf_append(&o->sb, v ? "true" : "false");
	} else if (fmt) {
		fl_strbuf_appendf(&o->sb, fmt, v ? "yes" : "no");
	}
}

/* Text only: headings and layout that JSON carries in its structure. */
static void pr_text(struct out *o, const char *fmt, ...) _printf_(2, 3);
static void pr_text(struct out *o, const char *fmt, ...)
{
	va_list ap;
	char *s;

	if (o->json)
		return;
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		o->sb.oom = true;
	else {
		fl_strbuf_append(&o->sb, s);
		free(s);
	}
	va_end(ap);
}

/* ---- commands -------------------------------------------------------------------- */

static void ns_prefix(struct fl_strbuf *sb, const struct fl_scope *sc)
{
	switch (sc->netns_kind) {
	case FL_NETNS_SELF:
		break;
	case FL_NETNS_NAMED:
		fl_strbuf_append(sb, "ip netns exec ");
		fl_strbuf_append_shell(sb, sc->netns);
		fl_strbuf_append(sb, " ");
		break;
	case FL_NETNS_PATH:
		fl_strbuf_append(sb, "nsenter --net=");
		fl_strbuf_append_shell(sb, sc->netns);
		fl_strbuf_append(sb, " ");
		break;
	case FL_NETNS_PID:
		fl_strbuf_appendf(sb, "nsenter -t %d -n ", sc->pid);
		break;
	}
}

/* A device name as a shell word: quoted if needed; the $DEV placeholder expands. */
static void dev_arg(struct fl_strbuf *sb, const char *dev)
{
	if (strcmp(dev, "$DEV") == 0)
		fl_strbuf_append(sb, "\"$DEV\"");
	else
		fl_strbuf_append_shell(sb, dev);
}

static void u32_keys(struct fl_strbuf *sb, const struct fl_obj *o)
{
	for (size_t i = 0; i < o->n_keys; i++)
		fl_strbuf_appendf(sb, " match u32 0x%08x 0x%08x at %d", ntohl(o->keys[i].val),
				  ntohl(o->keys[i].mask), o->keys[i].off);
}

static void u32_handle_text(struct fl_strbuf *sb, uint32_t h, bool table_only)
{
	uint32_t ht = h >> 20, bucket = (h >> 12) & 0xff, node = h & 0xfff;

	if (table_only)
		fl_strbuf_appendf(sb, "%x:", ht);
	else
		fl_strbuf_appendf(sb, "%x:%x:%x", ht, bucket, node);
}

static void netem_args(struct fl_strbuf *sb, const struct fl_step *st, uint32_t limit)
{
	const struct fl_fault_params *p = &st->params;
	char a[FL_FMT_MAX], b[FL_FMT_MAX], c[FL_FMT_MAX];
	bool corr = p->set & FL_P_CORRELATION;

	fl_strbuf_appendf(sb, " limit %u", limit);
	if (p->set & FL_P_DELAY) {
		fl_strbuf_appendf(sb, " delay %s", fl_format_duration(p->delay_ns, a));
		if (p->set & FL_P_JITTER) {
			fl_strbuf_appendf(sb, " %s", fl_format_duration(p->jitter_ns, b));
			if (corr)
				fl_strbuf_appendf(sb, " %s", fl_format_percent(p->correlation_ppb, c));
		}
		if (p->set & FL_P_DISTRIBUTION)
			fl_strbuf_appendf(sb, " distribution %s",
					  fl_distribution_to_string(p->distribution));
	}
	const struct {
		unsigned bit;
		const char *word;
		uint32_t ppb;
	} probs[] = {
		{ FL_P_LOSS, "loss random", p->loss_ppb },
		{ FL_P_DUPLICATE, "duplicate", p->duplicate_ppb },
		{ FL_P_CORRUPT, "corrupt", p->corrupt_ppb },
		{ FL_P_REORDER, "reorder", p->reorder_ppb },
	};
	for (size_t i = 0; i < ELEMENTSOF(probs); i++)
		if (p->set & probs[i].bit) {
			fl_strbuf_appendf(sb, " %s %s", probs[i].word, fl_format_percent(probs[i].ppb, a));
			if (corr)
				fl_strbuf_appendf(sb, " %s", fl_format_percent(p->correlation_ppb, c));
		}
	if (p->set & FL_P_GAP)
		fl_strbuf_appendf(sb, " gap %u", p->gap);
	if (p->set & FL_P_RATE)
		fl_strbuf_appendf(sb, " rate %s", fl_format_rate(p->rate_bps, a));
	if (st->has_seed)
		fl_strbuf_appendf(sb, " seed %" PRIu64, st->seed);
}

char *fl_obj_to_command(const struct fl_plan *p, const struct fl_obj *o)
{
	const struct fl_plan_ns *ns = &p->nss[o->ns < p->n_nss ? o->ns : 0];
	const struct fl_scope *sc = &ns->scope;
	struct fl_strbuf sb = { 0 };
	const char *add = o->op == FL_OBJ_ADD ? "add" : "del";
	char a[FL_FMT_MAX], b[FL_FMT_MAX];

	ns_prefix(&sb, sc);
	switch (o->kind) {
	case FL_OBJ_NFT:
		/*
		 * Quoted heredoc, unless the device list is the shell's $DEV: our nft
		 * text has no other '$' or '`' (comments are sanitized).
		 */
		fl_strbuf_appendf(&sb, "nft -f - <<%s\n%sEOF", ns->devices_resolved ? "'EOF'" : "EOF",
				  o->nft);
		break;
	case FL_OBJ_NFT_QUEUE:
		/*
		 * nft can list this rule but not add it, and iptables cannot reach an
		 * inet table: the engine sends it through libnftnl. Both lines are
		 * comments, so a pasted plan runs without the fault, never wrongly.
		 */
		fl_strbuf_done(&sb);
		fl_strbuf_appendf(&sb,
				  "# through nft_compat (xt NFQUEUE; nft's queue statement is missing), listed as:\n"
				  "# add rule inet " FL_NFT_TABLE " %s queue num %u bypass",
				  o->chain, o->queue_num);
		break;
	case FL_OBJ_LINK:
		if (o->op == FL_OBJ_ADD) {
			fl_strbuf_appendf(&sb, "ip link add %s type ifb && ", o->dev);
			ns_prefix(&sb, sc);
			fl_strbuf_appendf(&sb, "ip link set %s up", o->dev);
		} else {
			fl_strbuf_appendf(&sb, "ip link del %s", o->dev);
		}
		break;
	case FL_OBJ_QDISC:
		if (strcmp(o->qdisc, "clsact") == 0) {
			/*
			 * Add one only if the device has none; remove it only once no
			 * filter is left on it: someone else's keeps theirs, and stays.
			 * (The engine knows which one it added; a pasted script cannot.)
			 */
			fl_strbuf_done(&sb); /* each tc below carries its own namespace prefix */
			if (o->op == FL_OBJ_ADD) {
				ns_prefix(&sb, sc);
				fl_strbuf_append(&sb, "tc qdisc show dev ");
				dev_arg(&sb, o->dev);
				fl_strbuf_append(&sb, " | grep -q '^qdisc clsact' || ");
				ns_prefix(&sb, sc);
				fl_strbuf_append(&sb, "tc qdisc add dev ");
				dev_arg(&sb, o->dev);
				fl_strbuf_append(&sb, " clsact");
			} else {
				fl_strbuf_append(&sb, "[ -n \"$(");
				for (int h = 0; h < 2; h++) {
					ns_prefix(&sb, sc);
					fl_strbuf_append(&sb, "tc filter show dev ");
					dev_arg(&sb, o->dev);
					fl_strbuf_append(&sb, h ? " ingress" : " egress; ");
				}
				fl_strbuf_append(&sb, ")\" ] || ");
				ns_prefix(&sb, sc);
				fl_strbuf_append(&sb, "tc qdisc del dev ");
				dev_arg(&sb, o->dev);
				fl_strbuf_append(&sb, " clsact");
			}
			break;
		}
		fl_strbuf_appendf(&sb, "tc qdisc %s dev ", add);
		dev_arg(&sb, o->dev);
		fl_strbuf_appendf(&sb, " root handle %x: %s", FL_IFB_HANDLE >> 16, o->qdisc);
		if (o->op == FL_OBJ_DEL)
			break;
		if (strcmp(o->qdisc, "netem") == 0)
			netem_args(&sb, &p->scenario->steps[o->fault], o->netem_limit);
		else
			fl_strbuf_appendf(&sb, " rate %s burst %u latency %s",
					  fl_format_rate(p->scenario->steps[o->fault].params.rate_bps, a),
					  o->tbf_burst, fl_format_duration(o->tbf_latency_ns, b));
		break;
	case FL_OBJ_FILTER:
		fl_strbuf_appendf(&sb, "tc filter %s dev ", add);
		dev_arg(&sb, o->dev);
		fl_strbuf_appendf(&sb, " %s protocol %s prio %u", o->ingress ? "ingress" : "egress",
				  o->protocol == ETH_P_IP ? "ip" : "ipv6", o->prio);
		if (o->op == FL_OBJ_DEL) {
			if (o->handle) {
				fl_strbuf_append(&sb, " handle ");
				u32_handle_text(&sb, o->handle, false);
				fl_strbuf_append(&sb, " u32");
			}
			break;
		}
		switch (o->role) {
		case FL_U32_HASHTABLE:
			fl_strbuf_append(&sb, " handle ");
			u32_handle_text(&sb, o->handle, true);
			fl_strbuf_appendf(&sb, " u32 divisor %u", o->divisor);
			break;
		case FL_U32_HASHLINK:
			/* A root node's handle is the kernel's; a first-level node's, ours. */
			if (o->handle) {
				fl_strbuf_append(&sb, " handle ");
				u32_handle_text(&sb, o->handle, false);
				fl_strbuf_appendf(&sb, " u32 ht %x:%x:", o->handle >> 20,
						  (o->handle >> 12) & 0xff);
			} else {
				fl_strbuf_append(&sb, " u32");
			}
			u32_keys(&sb, o);
			if (o->hashkey.mask)
				fl_strbuf_appendf(&sb, " hashkey mask 0x%08x at %d", ntohl(o->hashkey.mask),
						  o->hashkey.off);
			fl_strbuf_append(&sb, " link ");
			u32_handle_text(&sb, o->link, true);
			break;
		case FL_U32_PASS:
			fl_strbuf_append(&sb, " u32");
			u32_keys(&sb, o);
			fl_strbuf_append(&sb, " flowid :1");
			break;
		case FL_U32_REDIRECT:
		case FL_U32_ACTION:
			fl_strbuf_append(&sb, " handle ");
			u32_handle_text(&sb, o->handle, false);
			fl_strbuf_appendf(&sb, " u32 ht %x:%x:", o->handle >> 20, (o->handle >> 12) & 0xff);
			u32_keys(&sb, o);
			if (o->role == FL_U32_REDIRECT) {
				fl_strbuf_append(&sb, " link ");
				u32_handle_text(&sb, o->link, true);
			} else {
				fl_strbuf_appendf(&sb, " action mirred egress redirect dev %s",
						  o->redirect);
			}
			break;
		}
		break;
	}
	return fl_strbuf_steal(&sb);
}

static const char *obj_kind_name(const struct fl_obj *o)
{
	static const char *const names[] = { [FL_OBJ_NFT] = "nftables", [FL_OBJ_LINK] = "link",
					     [FL_OBJ_QDISC] = "qdisc", [FL_OBJ_FILTER] = "filter",
					     [FL_OBJ_NFT_QUEUE] = "nft-compat" };
	return names[o->kind];
}

/* ---- sections ---------------------------------------------------------------------- */

static void render_header(struct out *o, const struct fl_plan *p)
{
	const struct fl_scenario *s = p->scenario;
	char t[FL_FMT_MAX], r[FL_FMT_MAX];
	char ts[32];

	snprintf(ts, sizeof(ts), "%" PRIu64 ".%06" PRIu64, s->timescale_micro / 1000000,
		 s->timescale_micro % 1000000);
	/* Trim "3600.000000" to "3600", "0.500000" to "0.5". */
	for (char *e = ts + strlen(ts) - 1; *e == '0' || *e == '.'; e--) {
		bool dot = *e == '.';
		*e = '\0';
		if (dot)
			break;
	}

	pr_text(o, "#!/bin/sh\n# faultline plan: ");
	open_obj(o, "scenario", '{');
	pr_str(o, "name", "%s", s->name);
	pr_str(o, "file", " (%s)\n", s->file);
	pr_num(o, "timescale", "# timescale %s", ts);
	pr_text(o, ": real time = scenario time / timescale\n");
	pr_u64(o, "end_ns", NULL, s->end_ns);
	pr_u64(o, "real_end_ns", NULL, fl_scenario_real_ns(s, s->end_ns));
	pr_text(o, "# ends at %s (real %s)\n", fl_format_duration_human(s->end_ns, t),
		fl_format_duration_human(fl_scenario_real_ns(s, s->end_ns), r));
	close_obj(o, '}');

	open_obj(o, "kernel", '{');
	pr_str(o, "source", "# kernel (%s):", p->caps.source ? p->caps.source : "unknown");
	for (unsigned bit = 1; bit & FL_CAP_ALL; bit <<= 1) {
		pr_text(o, " %s=", fl_cap_name(bit));
		pr_bool(o, fl_cap_name(bit), "%s", p->caps.have & bit);
	}
	pr_text(o, "\n");
	close_obj(o, '}');

	/* One namespace per line: the scenario's first, then those of steps' own scopes. */
	open_obj(o, "namespaces", '[');
	for (size_t k = 0; k < p->n_nss; k++) {
		const struct fl_plan_ns *ns = &p->nss[k];
		open_obj(o, NULL, '{');
		pr_str(o, "key", NULL, ns->key);
		pr_str(o, "netns_kind", NULL, fl_netns_kind_to_string(ns->scope.netns_kind));
		pr_str(o, "netns", "# scope: netns %s", ns->scope.netns ? ns->scope.netns : "(this one)");
		pr_bool(o, "devices_resolved", NULL, ns->devices_resolved);
		pr_text(o, "; devices:");
		open_obj(o, "devices", '[');
		for (size_t i = 0; i < ns->n_devices; i++)
			pr_str(o, NULL, " %s", ns->devices[i]);
		close_obj(o, ']');
		if (!ns->devices_resolved)
			pr_text(o, " = every link of the namespace but lo, resolved at apply\n"
				   "# (to paste these commands, set DEV to one of them first: DEV=eth0)");
		pr_text(o, "\n");
		close_obj(o, '}');
	}
	close_obj(o, ']');

	pr_text(o, "# never touched:");
	open_obj(o, "exclude", '[');
	for (size_t i = 0; i < p->n_ssh_ports; i++) {
		char buf[64];
		snprintf(buf, sizeof(buf), "tcp port %u (SSH%s)", p->ssh_ports[i],
			 p->ssh_ports[i] == 22 ? "" : ": this session");
		pr_str(o, NULL, i ? ", %s" : " %s", buf);
	}
	for (size_t i = 0; i < p->n_exclude; i++) {
		char buf[96];
		pr_str(o, NULL, ", %s", fl_target_to_string(&p->exclude[i], buf));
	}
	close_obj(o, ']');
	pr_text(o, "\n# services:\n");

	open_obj(o, "services", '[');
	for (size_t i = 0; i < s->n_services; i++) {
		const struct fl_plan_service *ps = &p->services[i];
		open_obj(o, NULL, '{');
		pr_str(o, "name", "#   %s:", s->services[i].name);
		open_obj(o, "targets", '[');
		for (size_t j = 0; j < ps->n_targets; j++) {
			char buf[96];
			pr_str(o, NULL, j ? ", %s" : " %s", fl_target_to_string(&ps->targets[j], buf));
		}
		close_obj(o, ']');
		pr_text(o, "\n");
		open_obj(o, "resolved", '[');
		for (size_t j = 0; j < ps->n_notes; j++)
			pr_str(o, NULL, "#     resolved: %s\n", ps->notes[j]);
		close_obj(o, ']');
		close_obj(o, '}');
	}
	close_obj(o, ']');
}

static void render_params(struct out *o, const struct fl_step *st)
{
	const struct fl_fault_params *p = &st->params;
	char a[FL_FMT_MAX];

	open_obj(o, "params", '{');
	for (size_t i = 0; i < fl_n_params; i++) {
		const struct fl_param_info *pi = &fl_params[i];
		if (!(p->set & pi->bit))
			continue;
		switch (pi->bit) {
		case FL_P_DELAY:
			pr_u64(o, "delay_ns", NULL, p->delay_ns);
			pr_text(o, " delay %s", fl_format_duration(p->delay_ns, a));
			break;
		case FL_P_JITTER:
			pr_u64(o, "jitter_ns", NULL, p->jitter_ns);
			pr_text(o, " jitter %s", fl_format_duration(p->jitter_ns, a));
			break;
		case FL_P_DISTRIBUTION:
			pr_str(o, "distribution", " distribution %s",
			       fl_distribution_to_string(p->distribution));
			break;
		case FL_P_GAP:
			pr_u64(o, "gap", " gap %" PRIu64, p->gap);
			break;
		case FL_P_RATE:
			pr_u64(o, "rate_bps", NULL, p->rate_bps);
			pr_text(o, " rate %s", fl_format_rate(p->rate_bps, a));
			break;
		default: {
			uint32_t ppb = pi->bit == FL_P_CORRELATION ? p->correlation_ppb
				       : pi->bit == FL_P_LOSS	   ? p->loss_ppb
				       : pi->bit == FL_P_DUPLICATE ? p->duplicate_ppb
				       : pi->bit == FL_P_CORRUPT   ? p->corrupt_ppb
								   : p->reorder_ppb;
			char key[32];
			snprintf(key, sizeof(key), "%s_ppb", pi->key);
			pr_u64(o, key, NULL, ppb);
			pr_text(o, " %s %s", pi->key, fl_format_percent(ppb, a));
		}
		}
	}
	if (st->has_seed)
		pr_u64(o, "seed", " seed %" PRIu64, st->seed);
	close_obj(o, '}');
}

static void render_step(struct out *o, const struct fl_plan *p, const struct fl_plan_step *ps)
{
	const struct fl_scenario *s = p->scenario;
	const struct fl_step *st = &s->steps[ps->step];
	char t[FL_FMT_MAX], r[FL_FMT_MAX];
	static const char *const kinds[] = { [FL_STEP_FAULT] = "fault", [FL_STEP_HEAL] = "heal",
					     [FL_STEP_END] = "end" };

	open_obj(o, NULL, '{');
	pr_text(o, "\n# [%s, real %s] ", fl_format_duration_human(st->at_ns, t),
		fl_format_duration_human(ps->real_ns, r));
	pr_str(o, "id", "%s: ", st->id);
	pr_str(o, "kind", NULL, kinds[st->kind]);
	pr_u64(o, "at_ns", NULL, st->at_ns);
	pr_u64(o, "real_ns", NULL, ps->real_ns);
	if (st->description)
		pr_str(o, "description", NULL, st->description);

	switch (st->kind) {
	case FL_STEP_FAULT: {
		const struct fl_plan_fault *pf = &p->faults[ps->step];
		pr_str(o, "fault", "%s fault", fl_fault_kind_to_string(st->fault));
		if (st->params.set)
			pr_text(o, ":");
		render_params(o, st);
		pr_text(o, "; on");
		open_obj(o, "services", '[');
		for (size_t i = 0; i < st->n_services; i++)
			pr_str(o, NULL, i ? ", %s" : " %s", st->services[i].name);
		close_obj(o, ']');
		pr_str(o, "direction", ", %s", fl_direction_to_string(st->direction));
		pr_str(o, "engine", ", engine %s", fl_engine_to_string(pf->engine));
		if (pf->engine == FL_ENGINE_USERSPACE) {
			pr_u64(o, "queue", " (queue %" PRIu64, pf->queue_num);
			pr_str(o, "steering", ", steered by %s",
			       pf->queue_compat ? "xt-nfqueue" : "nft-queue");
			/* Where it takes packets may differ from the step's direction (plan.c): say it. */
			enum fl_direction d = fl_plan_userspace_direction(st);
			pr_str(o, "acts_on", "; acts on %s)",
			       d == FL_DIR_EGRESS    ? "the packets towards the services"
			       : d == FL_DIR_INGRESS ? "the replies from the services"
						     : "both directions");
		}
		if (st->healed_at_ns < UINT64_MAX)
			pr_u64(o, "healed_at_ns", NULL, st->healed_at_ns);
		break;
	}
	case FL_STEP_HEAL:
		pr_text(o, "heal");
		open_obj(o, "heals", '[');
		if (st->heal_all)
			pr_str(o, NULL, " %s", "all");
		for (size_t i = 0; i < st->n_heals; i++)
			pr_str(o, NULL, i ? ", %s" : " %s", st->heals[i].name);
		close_obj(o, ']');
		break;
	case FL_STEP_END:
		pr_text(o, "end");
		break;
	}
	if (ps->step == s->n_steps - 1 && st->kind != FL_STEP_END)
		pr_text(o, " (last step: the end follows, reverting everything)");
	pr_text(o, "\n");
	if (st->description) {
		/* Every line a comment: a description must never run as shell. */
		const char *d = st->description;
		while (*d) {
			size_t n = strcspn(d, "\n");
			pr_text(o, "#   %.*s\n", (int)n, d);
			d += n + (d[n] == '\n');
		}
	}

	open_obj(o, "objects", '[');
	size_t last_fault = SIZE_MAX - 1; /* of the last entries headed by a comment line */
	for (size_t i = 0; i < ps->n_objs; i++) {
		const struct fl_obj *ob = &ps->objs[i];
		_cleanup_free_ char *cmd = fl_obj_to_command(p, ob);
		char buf[96];

		if (!o->json && ob->fault != last_fault && ob->fault != SIZE_MAX &&
		    ob->kind == FL_OBJ_FILTER && ob->role == FL_U32_REDIRECT) {
			last_fault = ob->fault;
			/* A readable line before the u32 keys of each fault. */
			const struct fl_step *fs = &s->steps[ob->fault];
			pr_text(o, "# %s %s: u32 entries for", ob->op == FL_OBJ_ADD ? "add" : "delete",
				fs->id);
			for (size_t k = 0; k < fs->n_services && k < 4; k++) {
				const struct fl_plan_service *sv = &p->services[fs->services[k].index];
				for (size_t j = 0; j < sv->n_targets && j < 4; j++)
					pr_text(o, " [%s]", fl_target_to_string(&sv->targets[j], buf));
			}
			pr_text(o, "\n");
		}
		/* Text only: why a first-level table appears (plan.h, FL_TC_ONE_LEVEL_MAX). */
		if (ob->kind == FL_OBJ_FILTER && ob->op == FL_OBJ_ADD &&
		    ob->role == FL_U32_HASHTABLE &&
		    ob->handle >> 20 == FL_TC_HTID_L1(ob->ingress, ob->protocol == ETH_P_IPV6))
			pr_text(o,
				"# over %u %s host targets in one fault: two-level u32 hash, %x: "
				"on the %s byte, linking to a table per value on the last\n",
				FL_TC_ONE_LEVEL_MAX, ob->protocol == ETH_P_IPV6 ? "IPv6" : "IPv4",
				ob->handle >> 20,
				ob->protocol == ETH_P_IPV6 ? "next to last" : "third");
		if (ob->tidy && (i == 0 || !ps->objs[i - 1].tidy))
			pr_text(o, "# in effect here; then tidying what no packet reaches any more\n");
		open_obj(o, NULL, '{');
		pr_str(o, "kind", NULL, obj_kind_name(ob));
		pr_str(o, "op", NULL, ob->op == FL_OBJ_ADD ? "add" : "delete");
		if (ob->kind != FL_OBJ_NFT)
			pr_str(o, "dev", NULL, ob->dev);
		if (ob->fault != SIZE_MAX)
			pr_str(o, "fault", NULL, s->steps[ob->fault].id);
		if (ob->tidy)
			pr_bool(o, "tidy", NULL, true);
		if (!cmd)
			o->sb.oom = true;
		pr_str(o, "command", "%s\n", cmd ? cmd : "");
		close_obj(o, '}');
	}
	close_obj(o, ']');
	if (!ps->n_objs)
		pr_text(o, "# (no kernel change)\n");
	close_obj(o, '}');
}

char *fl_plan_render(const struct fl_plan *p, bool json)
{
	struct out o = { .json = json };

	open_obj(&o, NULL, '{');
	pr_u64(&o, "format", NULL, 1);
	render_header(&o, p);
	open_obj(&o, "steps", '[');
	for (size_t i = 0; i < p->n_steps; i++)
		render_step(&o, p, &p->steps[i]);
	close_obj(&o, ']');
	close_obj(&o, '}');
	if (json)
		fl_strbuf_append(&o.sb, "\n");
	return fl_strbuf_steal(&o.sb);
}
