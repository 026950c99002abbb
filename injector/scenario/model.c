/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>
#include "scenario/endpoint.h"
#include "scenario/fault.h"
#include "scenario/model.h"

static void refs_free(struct fl_ref *r, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(r[i].name);
	free(r);
}

static void strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void scope_done(struct fl_scope *s)
{
	free(s->netns);
	strv_free(s->interfaces, s->n_interfaces);
}

void fl_scenario_free(struct fl_scenario *s)
{
	if (!s)
		return;
	free(s->file);
	free(s->name);
	free(s->description);
	scope_done(&s->scope);
	for (size_t i = 0; i < s->n_exclude; i++)
		fl_endpoint_done(&s->exclude[i]);
	free(s->exclude);

	for (size_t i = 0; i < s->n_services; i++) {
		struct fl_service *sv = &s->services[i];
		free(sv->name);
		free(sv->description);
		for (size_t j = 0; j < sv->n_endpoints; j++)
			fl_endpoint_done(&sv->endpoints[j]);
		free(sv->endpoints);
	}
	free(s->services);

	for (size_t i = 0; i < s->n_steps; i++) {
		struct fl_step *st = &s->steps[i];
		free(st->id);
		free(st->description);
		refs_free(st->services, st->n_services);
		refs_free(st->heals, st->n_heals);
		if (st->scope) {
			scope_done(st->scope);
			free(st->scope);
		}
	}
	free(s->steps);

	for (size_t i = 0; i < s->n_flows; i++) {
		struct fl_flow *f = &s->flows[i];
		free(f->name);
		free(f->netns);
		free(f->method);
		free(f->url);
		for (size_t j = 0; j < f->n_headers; j++) {
			free(f->headers[j].name);
			free(f->headers[j].value);
		}
		free(f->headers);
		free(f->body);
		free(f->status);
		free(f->body_contains);
		free(f->body_not_contains);
		free(f->ca_file);
		fl_endpoint_done(&f->address);
		free(f->send);
		free(f->expect);
		free(f->command);
		free(f->stdout_contains);
	}
	free(s->flows);

	for (size_t i = 0; i < s->n_expects; i++) {
		struct fl_expect *e = &s->expects[i];
		free(e->name);
		free(e->flow.name);
		free(e->window.step.name);
		strv_free(e->errors_are, e->n_errors_are);
		free(e->fallback);
		free(e->invariant_exec);
	}
	free(s->expects);
	free(s);
}

static bool names_fault(const struct fl_step *st, size_t fault)
{
	if (st->kind != FL_STEP_HEAL)
		return false;
	if (st->heal_all)
		return true;
	for (size_t h = 0; h < st->n_heals; h++)
		if (st->heals[h].index == fault)
			return true;
	return false;
}

bool fl_step_heals(const struct fl_scenario *s, size_t heal, size_t fault)
{
	if (heal >= s->n_steps || fault >= heal || s->steps[fault].kind != FL_STEP_FAULT ||
	    !names_fault(&s->steps[heal], fault))
		return false;
	for (size_t k = fault + 1; k < heal; k++)
		if (names_fault(&s->steps[k], fault))
			return false;
	return true;
}

const char *fl_fault_kind_to_string(enum fl_fault_kind k)
{
	return k < _FL_FAULT_MAX ? fl_fault_info(k)->name : NULL;
}

int fl_fault_kind_from_string(const char *s)
{
	for (int k = 0; k < _FL_FAULT_MAX; k++)
		if (strcmp(s, fl_fault_info((enum fl_fault_kind)k)->name) == 0)
			return k;
	return -EINVAL;
}

const char *fl_direction_to_string(enum fl_direction d)
{
	switch (d) {
	case FL_DIR_EGRESS:
		return "egress";
	case FL_DIR_INGRESS:
		return "ingress";
	case FL_DIR_BOTH:
		return "both";
	}
	return NULL;
}

const char *fl_distribution_to_string(enum fl_distribution d)
{
	static const char *const names[] = {
		[FL_DIST_NONE] = "uniform", [FL_DIST_UNIFORM] = "uniform",
		[FL_DIST_NORMAL] = "normal", [FL_DIST_PARETO] = "pareto",
		[FL_DIST_PARETONORMAL] = "paretonormal",
	};
	return names[d];
}

const char *fl_engine_to_string(enum fl_engine e)
{
	static const char *const names[_FL_ENGINE_MAX] = {
		[FL_ENGINE_AUTO] = "auto",         [FL_ENGINE_NETEM] = "netem",
		[FL_ENGINE_TC] = "tc",             [FL_ENGINE_NFTABLES] = "nftables",
		[FL_ENGINE_USERSPACE] = "userspace",
	};
	return e < _FL_ENGINE_MAX ? names[e] : NULL;
}

const char *fl_flow_kind_to_string(enum fl_flow_kind k)
{
	static const char *const names[] = {
		[FL_FLOW_HTTP] = "http", [FL_FLOW_TCP] = "tcp",
		[FL_FLOW_UDP] = "udp",   [FL_FLOW_EXEC] = "exec",
	};
	return names[k];
}

const char *fl_netns_kind_to_string(enum fl_netns_kind k)
{
	static const char *const names[] = {
		[FL_NETNS_SELF] = "self", [FL_NETNS_NAMED] = "named",
		[FL_NETNS_PATH] = "path", [FL_NETNS_PID] = "pid",
	};
	return names[k];
}

uint64_t fl_scenario_real_ns(const struct fl_scenario *s, uint64_t scenario_ns)
{
	/* 128-bit intermediate: 15 h of nanoseconds times 1e6 overflows 64 bits. */
	unsigned __int128 v = (unsigned __int128)scenario_ns * 1000000u;

	return (uint64_t)(v / s->timescale_micro);
}

int fl_scenario_find_service(const struct fl_scenario *s, const char *name, size_t *ret_index)
{
	for (size_t i = 0; i < s->n_services; i++)
		if (strcmp(s->services[i].name, name) == 0) {
			*ret_index = i;
			return 0;
		}
	return -ENOENT;
}

int fl_scenario_find_step(const struct fl_scenario *s, const char *id, size_t *ret_index)
{
	for (size_t i = 0; i < s->n_steps; i++)
		if (strcmp(s->steps[i].id, id) == 0) {
			*ret_index = i;
			return 0;
		}
	return -ENOENT;
}

int fl_scenario_find_flow(const struct fl_scenario *s, const char *name, size_t *ret_index)
{
	for (size_t i = 0; i < s->n_flows; i++)
		if (strcmp(s->flows[i].name, name) == 0) {
			*ret_index = i;
			return 0;
		}
	return -ENOENT;
}
