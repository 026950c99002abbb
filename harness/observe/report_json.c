/* SPDX-License-Identifier: MIT */
/* The wire report as JSON (docs/OBSERVER.md describes every key). */
#include <arpa/inet.h>
#include <inttypes.h>
#include "observe/observe.h"
#include "util/strbuf.h"

#define OBS_JSON_VERSION 1

static const char *stop_name(enum fl_observer_stop s)
{
	switch (s) {
	case FL_OBS_STOP_FD:
		return "stop_fd";
	case FL_OBS_STOP_DEADLINE:
		return "deadline";
	case FL_OBS_STOP_END:
		return "end";
	case FL_OBS_STOP_NONE:
		break;
	}
	return "none";
}

/* Instants are relative to t0 (the phase START, else the first packet), signed: before is negative.
 */
static void instant(struct fl_strbuf *sb, uint64_t t0, uint64_t t)
{
	if (t == FL_NEVER || t0 == FL_NEVER)
		fl_strbuf_append(sb, "null");
	else
		fl_strbuf_appendf(sb, "%" PRId64, (int64_t)(t - t0));
}

static void dist(struct fl_strbuf *sb, const char *key, const struct fl_wire_dist *d)
{
	fl_strbuf_appendf(sb,
			  ",\"%s\":{\"n\":%" PRIu64 ",\"min_ns\":%" PRIu64 ",\"p50_ns\":%" PRIu64
			  ",\"p90_ns\":%" PRIu64 ",\"p99_ns\":%" PRIu64 ",\"max_ns\":%" PRIu64
			  ",\"mean_ns\":%" PRIu64 ",\"dropped\":%" PRIu64 "}",
			  key, d->n, d->min_ns, d->p50_ns, d->p90_ns, d->p99_ns, d->max_ns,
			  d->mean_ns, d->dropped);
}

static void dir_stats(struct fl_strbuf *sb, const char *key, const struct fl_wire_dir_stats *d)
{
	fl_strbuf_appendf(
		sb,
		",\"%s\":{\"packets\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"segments\":%" PRIu64
		",\"retrans\":%" PRIu64 ",\"out_of_order\":%" PRIu64 ",\"rst\":%" PRIu64 "}",
		key, d->packets, d->bytes, d->segments, d->retrans, d->out_of_order, d->rst);
}

static void service_name(struct fl_strbuf *sb, const struct fl_wire_report *r, size_t svc)
{
	if (svc < r->n_services)
		fl_strbuf_append_json(sb, r->plan->scenario->services[svc].name);
	else
		fl_strbuf_append(sb, "null");
}

static void step_name(struct fl_strbuf *sb, const struct fl_wire_report *r, uint32_t step)
{
	fl_strbuf_append_json(sb, r->plan->scenario->steps[step].id);
}

/* Attempts (first SYNs and UDP requests) per second over the phase's span, or null. */
static void attempt_rate(struct fl_strbuf *sb, const struct fl_wire_report *r, size_t p,
			 const struct fl_wire_stats *s)
{
	uint64_t from = r->phases[p].since_ns, to = r->phases[p].until_ns;

	if (p == 0) /* from the beginning of what is known: START or the first packet */
		from = r->start_ns < r->first_ns ? r->start_ns : r->first_ns;
	if (from == FL_NEVER || to == FL_NEVER || to <= from) {
		fl_strbuf_append(sb, "null");
		return;
	}
	/* Fixed point by hand: printf's %f would follow the locale's decimal comma. */
	{
		unsigned __int128 milli = (unsigned __int128)(s->connections + s->udp_requests) *
					  1000000000000ULL / (to - from);

		fl_strbuf_appendf(sb, "%" PRIu64 ".%03u", (uint64_t)(milli / 1000),
				  (unsigned)(milli % 1000));
	}
}

static void stats_row(struct fl_strbuf *sb, const struct fl_wire_report *r, size_t p, size_t w,
		      bool *first)
{
	const struct fl_wire_stats *s = fl_wire_report_stats(r, p, w);

	if (s->dir[0].packets + s->dir[1].packets == 0 && s->icmp_unreach == 0)
		return; /* rows without traffic are left out */
	fl_strbuf_appendf(sb, "%s{\"phase\":%zu,\"service\":", *first ? "" : ",", p);
	*first = false;
	service_name(sb, r, w);
	dir_stats(sb, "to_service", &s->dir[FL_WIRE_TO_SERVICE]);
	dir_stats(sb, "from_service", &s->dir[FL_WIRE_FROM_SERVICE]);
	fl_strbuf_appendf(sb,
			  ",\"syn\":%" PRIu64 ",\"syn_retrans\":%" PRIu64 ",\"synack\":%" PRIu64
			  ",\"connections\":%" PRIu64 ",\"handshakes\":%" PRIu64
			  ",\"icmp_unreach\":%" PRIu64 ",\"udp_requests\":%" PRIu64
			  ",\"udp_answered\":%" PRIu64 ",\"answers\":%" PRIu64,
			  s->syn, s->syn_retrans, s->synack, s->connections, s->handshakes,
			  s->icmp_unreach, s->udp_requests, s->udp_answered, s->answers);
	fl_strbuf_append(sb, ",\"attempts_per_s\":");
	attempt_rate(sb, r, p, s);
	dist(sb, "handshake_rtt", &s->handshake_rtt);
	dist(sb, "response_gap", &s->response_gap);
	dist(sb, "udp_gap", &s->udp_gap);
	fl_strbuf_append(sb, "}");
}

char *fl_wire_report_json(const struct fl_wire_report *r)
{
	struct fl_strbuf sb = {0};
	uint64_t t0 = r->start_ns != FL_NEVER ? r->start_ns : r->first_ns;
	bool first = true, touched = false;

	fl_strbuf_appendf(&sb, "{\"version\":%d,\"t0_ns\":", OBS_JSON_VERSION);
	if (t0 == FL_NEVER)
		fl_strbuf_append(&sb, "null");
	else
		fl_strbuf_appendf(&sb, "%" PRIu64, t0);
	fl_strbuf_appendf(&sb,
			  ",\"clock_offset_ns\":%" PRId64 ",\"start_ns\":", r->clock_offset_ns);
	instant(&sb, t0, r->start_ns);
	fl_strbuf_append(&sb, ",\"end_ns\":");
	instant(&sb, t0, r->end_ns);
	fl_strbuf_append(&sb, ",\"first_packet_ns\":");
	instant(&sb, t0, r->first_ns);
	fl_strbuf_append(&sb, ",\"last_packet_ns\":");
	instant(&sb, t0, r->last_ns);
	fl_strbuf_appendf(&sb,
			  ",\"stop\":\"%s\",\"packets\":%" PRIu64 ",\"ignored\":%" PRIu64
			  ",\"flows_untracked\":%" PRIu64 ",\"attempts_dropped\":%" PRIu64
			  ",\"copies\":%" PRIu64 ",\"clients_untracked\":%" PRIu64,
			  stop_name(r->stop), r->packets, r->ignored, r->flows_untracked,
			  r->attempts_dropped, r->copies, r->clients_untracked);

	fl_strbuf_append(&sb, ",\"captures\":[");
	for (size_t i = 0; i < r->n_captures; i++) {
		const struct fl_wire_capture_stats *c = &r->captures[i];

		fl_strbuf_append(&sb, i ? ",{\"dev\":" : "{\"dev\":");
		fl_strbuf_append_json(&sb, c->dev);
		fl_strbuf_appendf(
			&sb,
			",\"received\":%" PRIu64 ",\"dropped\":%" PRIu64 ",\"if_dropped\":%" PRIu64
			",\"dump_packets\":%" PRIu64 ",\"dump_dropped\":%" PRIu64 "}",
			c->received, c->dropped, c->if_dropped, c->dump_packets, c->dump_dropped);
	}

	fl_strbuf_append(&sb, "],\"services\":[");
	for (size_t i = 0; i < r->n_services; i++) {
		if (i)
			fl_strbuf_append(&sb, ",");
		service_name(&sb, r, i);
	}

	fl_strbuf_append(&sb, "],\"clients\":[");
	for (size_t i = 0; i < r->n_clients; i++) {
		const struct fl_wire_client_attempts *c = &r->clients[i];
		char a[INET6_ADDRSTRLEN] = "";

		inet_ntop(c->client.family, &c->client.addr, a, sizeof(a));
		fl_strbuf_append(&sb, i ? ",{\"service\":" : "{\"service\":");
		service_name(&sb, r, c->service);
		fl_strbuf_appendf(&sb, ",\"address\":\"%s\",\"attempts\":%zu}", a, c->n);
	}

	fl_strbuf_append(&sb, "],\"phases\":[");
	for (size_t p = 0; p < r->n_phases; p++) {
		const struct fl_wire_phase *ph = &r->phases[p];

		fl_strbuf_appendf(&sb, "%s{\"phase\":%zu,\"since_ns\":", p ? "," : "", p);
		instant(&sb, t0, p ? ph->since_ns : FL_NEVER);
		fl_strbuf_append(&sb, ",\"until_ns\":");
		instant(&sb, t0, ph->until_ns);
		fl_strbuf_append(&sb, ",\"active\":[");
		for (uint32_t i = 0; i < ph->n; i++) {
			if (i)
				fl_strbuf_append(&sb, ",");
			step_name(&sb, r, ph->steps[i]);
		}
		fl_strbuf_append(&sb, "]}");
	}

	fl_strbuf_append(&sb, "],\"stats\":[");
	for (size_t p = 0; p < r->n_phases; p++)
		for (size_t w = 0; w <= r->n_services; w++)
			stats_row(&sb, r, p, w, &first);

	fl_strbuf_append(&sb, "],\"faults\":[");
	for (size_t i = 0; i < r->n_checks; i++) {
		const struct fl_wire_fault_check *c = &r->checks[i];
		uint64_t ratio;
		size_t svc;

		fl_strbuf_append(&sb, i ? ",{\"step\":" : "{\"step\":");
		step_name(&sb, r, c->step);
		fl_strbuf_appendf(&sb,
				  ",\"kind\":\"%s\",\"metric\":\"%s\",\"asked\":%" PRId64
				  ",\"measured\":%" PRId64 ",\"baseline\":%" PRId64
				  ",\"tolerance\":%" PRId64 ",\"samples\":%" PRIu64
				  ",\"verdict\":\"%s\",\"evidence\":",
				  fl_fault_kind_to_string(c->kind), c->metric, c->asked,
				  c->measured, c->baseline, c->tolerance, c->samples,
				  fl_wire_verdict_to_string(c->verdict));
		fl_strbuf_append_json(&sb, c->evidence);
		fl_strbuf_append(&sb, ",\"retry_ratio_milli\":");
		if (fl_wire_retry_ratio_fault(r, c->step, NULL, &ratio, &svc) == 0) {
			fl_strbuf_appendf(&sb, "%" PRIu64 ",\"retry_service\":", ratio);
			service_name(&sb, r, svc);
		} else {
			fl_strbuf_append(&sb, "null,\"retry_service\":null");
		}
		fl_strbuf_append(&sb, "}");
	}

	fl_strbuf_append(&sb, "],\"blast_radius\":[");
	for (size_t i = 0; i < r->n_blast; i++) {
		const struct fl_wire_blast *b = &r->blast[i];

		touched |= b->touched;
		fl_strbuf_appendf(
			&sb,
			"%s{\"phase\":%" PRIu32 ",\"packets\":%" PRIu64 ",\"segments\":%" PRIu64
			",\"retrans\":%" PRIu64 ",\"baseline_segments\":%" PRIu64
			",\"baseline_retrans\":%" PRIu64 ",\"rejects\":%" PRIu64
			",\"baseline_rejects\":%" PRIu64 ",\"rtt_delta_ns\":",
			i ? "," : "", b->phase, b->packets, b->segments, b->retrans,
			b->baseline_segments, b->baseline_retrans, b->rejects, b->baseline_rejects);
		if (b->has_rtt)
			fl_strbuf_appendf(&sb, "%" PRId64, b->rtt_delta_ns);
		else
			fl_strbuf_append(&sb, "null");
		fl_strbuf_appendf(&sb, ",\"touched\":%s,\"why\":", b->touched ? "true" : "false");
		fl_strbuf_append_json(&sb, b->why);
		fl_strbuf_append(&sb, "}");
	}
	fl_strbuf_appendf(&sb, "],\"untargeted_touched\":%s}\n", touched ? "true" : "false");
	return fl_strbuf_steal(&sb);
}
