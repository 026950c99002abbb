/* SPDX-License-Identifier: MIT */
/*
 * The scenario model: what a scenario file says, validated, with units
 * converted (times in uint64_t nanoseconds of *scenario* time, percentages in
 * parts per billion, rates in bits per second). The parser builds it; the
 * planner reads it and never changes it.
 *
 * Lifetime: a struct fl_scenario owns every string and array below it and is
 * released with fl_scenario_free() (NULL is fine). Each element keeps the
 * position of the YAML node it came from, so later stages (planner, runner)
 * can still point at the line a problem came from.
 */
#ifndef FL_SCENARIO_MODEL_H
#define FL_SCENARIO_MODEL_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "util/diag.h"
#include "util/units.h"

/* ---- endpoints ---------------------------------------------------------- */

/*
 * "[tcp:|udp:]ADDR[/PREFIX][:PORT[-PORT]]", "[V6ADDR]:PORT", "tcp:22" (any
 * address), or a hostname (resolved at plan time into A and AAAA records).
 */
struct fl_endpoint {
	int family;        /* AF_INET, AF_INET6, or AF_UNSPEC: any address, or a hostname */
	uint8_t prefixlen; /* 0..32 / 0..128 */
	uint8_t proto;     /* 0 = any, IPPROTO_TCP, IPPROTO_UDP */
	uint16_t port_lo;  /* 0 and 0 = any port */
	uint16_t port_hi;
	union {
		struct in_addr v4;
		struct in6_addr v6;
	} addr;
	char *hostname; /* set when given by name; family is AF_UNSPEC until resolved */
	char *text;     /* as written, for messages */
	struct fl_pos pos;
};

/* A name that refers to another part of the scenario, resolved after parsing. */
struct fl_ref {
	char *name;
	struct fl_pos pos;
	size_t index; /* into the referenced array, once resolved */
};

/* ---- scope: where the injector acts -------------------------------------- */

enum fl_netns_kind {
	FL_NETNS_SELF,  /* the injector's own namespace */
	FL_NETNS_NAMED, /* a name under /run/netns */
	FL_NETNS_PATH,  /* a path to a namespace file */
	FL_NETNS_PID,   /* the namespace of a process */
};

struct fl_scope {
	enum fl_netns_kind netns_kind;
	char *netns; /* name or path as written; NULL for SELF */
	int pid;     /* FL_NETNS_PID */
	char **interfaces;
	size_t n_interfaces; /* 0 = every link but lo and our own, resolved at apply */
	struct fl_pos pos;
};

/* ---- services ------------------------------------------------------------- */

struct fl_service {
	char *name;
	char *description;
	struct fl_endpoint *endpoints;
	size_t n_endpoints;
	struct fl_pos pos;
};

/* ---- faults and timeline ------------------------------------------------- */

/* Order matters: it is the order of the fault table (plan/fault.c). */
enum fl_fault_kind {
	FL_FAULT_PARTITION,
	FL_FAULT_BLACKHOLE,
	FL_FAULT_REJECT,
	FL_FAULT_DELAY,
	FL_FAULT_LOSS,
	FL_FAULT_DUPLICATE,
	FL_FAULT_CORRUPT,
	FL_FAULT_REORDER,
	FL_FAULT_RATE,
	_FL_FAULT_MAX,
};

enum fl_direction {
	FL_DIR_EGRESS = 1,  /* packets towards the service */
	FL_DIR_INGRESS = 2, /* packets from the service */
	FL_DIR_BOTH = 3,
};

enum fl_distribution {
	FL_DIST_NONE, /* netem's default: uniform jitter */
	FL_DIST_UNIFORM,
	FL_DIST_NORMAL,
	FL_DIST_PARETO,
	FL_DIST_PARETONORMAL,
};

/* Which mechanism carries a fault; AUTO lets the planner choose from the probe. */
enum fl_engine {
	FL_ENGINE_AUTO,
	FL_ENGINE_NETEM,     /* tc: clsact + mirred -> IFB with a netem root */
	FL_ENGINE_TC,        /* tc without netem: TBF on the IFB (rate) */
	FL_ENGINE_NFTABLES,  /* nftables: netdev drops, inet rejects, numgen loss */
	FL_ENGINE_USERSPACE, /* our NFQUEUE engine */
	_FL_ENGINE_MAX,
};

/* Parameter bits: which of struct fl_fault_params a step set. */
enum {
	FL_P_DELAY = 1u << 0,
	FL_P_JITTER = 1u << 1,
	FL_P_CORRELATION = 1u << 2,
	FL_P_DISTRIBUTION = 1u << 3,
	FL_P_LOSS = 1u << 4,
	FL_P_DUPLICATE = 1u << 5,
	FL_P_CORRUPT = 1u << 6,
	FL_P_REORDER = 1u << 7,
	FL_P_GAP = 1u << 8,
	FL_P_RATE = 1u << 9,
};

struct fl_fault_params {
	unsigned set; /* FL_P_* bits */
	uint64_t delay_ns;
	uint64_t jitter_ns;
	uint32_t correlation_ppb;
	enum fl_distribution distribution;
	uint32_t loss_ppb;
	uint32_t duplicate_ppb;
	uint32_t corrupt_ppb;
	uint32_t reorder_ppb;
	uint32_t gap; /* packets */
	uint64_t rate_bps;
};

enum fl_step_kind {
	FL_STEP_FAULT,
	FL_STEP_HEAL,
	FL_STEP_END,
};

struct fl_step {
	enum fl_step_kind kind;
	uint64_t at_ns; /* scenario time */
	char *id;       /* always set: given, or "step-N" (1-based, in file order) */
	bool id_given;
	char *description;

	/* FL_STEP_FAULT */
	enum fl_fault_kind fault;
	struct fl_ref *services; /* into scenario->services */
	size_t n_services;
	enum fl_direction direction;
	enum fl_engine engine;
	bool has_seed;
	uint64_t seed;
	struct fl_fault_params params;
	struct fl_pos param_pos[16]; /* per FL_P_* bit, where it was set */
	struct fl_scope *scope;      /* NULL: the scenario's scope */

	/* FL_STEP_HEAL */
	bool heal_all;
	struct fl_ref *heals; /* into scenario->steps (fault steps) */
	size_t n_heals;
	uint64_t healed_at_ns; /* FL_STEP_FAULT: when healed (a heal step or the end) */

	struct fl_pos pos;     /* the step's mapping */
	struct fl_pos at_pos;  /* its `at` value */
	struct fl_pos kind_pos; /* its fault/heal/end key */
	struct fl_pos direction_pos, engine_pos, seed_pos, id_pos;
};

/* ---- flows (the harness drives these; see harness/) ---------------------- */

enum fl_flow_kind {
	FL_FLOW_HTTP,
	FL_FLOW_TCP,
	FL_FLOW_UDP,
	FL_FLOW_EXEC,
};

struct fl_header {
	char *name;
	char *value;
};

struct fl_flow {
	char *name;
	enum fl_flow_kind kind;
	uint64_t every_ns;
	uint64_t timeout_ns;
	uint32_t concurrency;
	char *netns; /* where the probe runs; NULL = the runner's namespace */

	/* http */
	char *method;
	char *url;
	struct fl_header *headers;
	size_t n_headers;
	char *body;
	uint16_t *status; /* accepted status codes; none = 200..399 */
	size_t n_status;
	char *body_contains;
	char *body_not_contains;
	bool insecure;
	char *ca_file;

	/* tcp / udp */
	struct fl_endpoint address;
	char *send;
	char *expect;

	/* exec */
	char *command;
	int expect_exit;
	char *stdout_contains;

	struct fl_pos pos;
};

/* ---- expectations --------------------------------------------------------- */

enum fl_window_kind {
	FL_WIN_ALWAYS, /* during: always */
	FL_WIN_DURING, /* during: STEP (while that fault is active) */
	FL_WIN_AFTER,  /* after: STEP (after its heal, or after the step) */
	FL_WIN_BEFORE, /* before: first-fault | STEP */
	FL_WIN_AT,     /* at: end | STEP (instant; invariants) */
};

struct fl_window {
	enum fl_window_kind kind;
	struct fl_ref step; /* unused for ALWAYS, before: first-fault and at: end */
	bool first_fault;   /* before: first-fault */
	bool end;           /* at: end */
};

/* Metric bits of an expectation. */
enum {
	FL_M_SUCCESS_RATE = 1u << 0,
	FL_M_P50 = 1u << 1,
	FL_M_P90 = 1u << 2,
	FL_M_P99 = 1u << 3,
	FL_M_MAX_LATENCY = 1u << 4,
	FL_M_FAIL_FAST = 1u << 5,
	FL_M_ERRORS_ARE = 1u << 6,
	FL_M_FALLBACK = 1u << 7,
	FL_M_RECOVERS_WITHIN = 1u << 8,
	FL_M_INVARIANT = 1u << 9,
	FL_M_NO_RETRY_STORM = 1u << 10,
};

struct fl_latency_bound {
	enum fl_cmp cmp;
	uint64_t ns;
};

struct fl_expect {
	char *name;  /* given, or derived: "checkout during pay-down" */
	struct fl_ref flow; /* name NULL for invariants */
	struct fl_window window;
	unsigned metrics; /* FL_M_* */

	enum fl_cmp success_cmp;
	uint32_t success_ppb;
	struct fl_latency_bound p50, p90, p99, max_latency;
	uint64_t fail_fast_ns;
	char **errors_are; /* "status:503", "body:MARKER", "refused", "reset", "timeout", ... */
	size_t n_errors_are;
	char *fallback; /* a marker the fallback's responses carry */
	uint64_t recovers_within_ns;
	char *invariant_exec;
	uint64_t retry_storm_max_ratio_milli; /* 3 -> 3000 */

	struct fl_pos pos;
	struct fl_pos window_pos;
};

/* A timeline longer than this is a data set, not a scenario (and names like flifb<N> must fit). */
#define FL_MAX_STEPS 10000

/* ---- the scenario --------------------------------------------------------- */

struct fl_scenario {
	char *file; /* as given */
	uint32_t version;
	char *name;
	char *description;
	struct fl_scope scope;
	uint64_t timescale_micro; /* 1 = 1000000; real time = scenario time / timescale */
	struct fl_endpoint *exclude; /* scope.exclude, SSH not included (the planner adds it) */
	size_t n_exclude;

	struct fl_service *services;
	size_t n_services;
	struct fl_step *steps; /* in time order (validated) */
	size_t n_steps;
	struct fl_flow *flows;
	size_t n_flows;
	struct fl_expect *expects;
	size_t n_expects;

	uint64_t end_ns; /* scenario time of `end`, or of the last step without one */
};

void fl_scenario_free(struct fl_scenario *s);
FL_DEFINE_CLEANUP(struct fl_scenario, fl_scenario_free)

const char *fl_fault_kind_to_string(enum fl_fault_kind k);
int fl_fault_kind_from_string(const char *s); /* -EINVAL if unknown */
const char *fl_direction_to_string(enum fl_direction d);
const char *fl_distribution_to_string(enum fl_distribution d);
const char *fl_engine_to_string(enum fl_engine e);
const char *fl_flow_kind_to_string(enum fl_flow_kind k);
const char *fl_netns_kind_to_string(enum fl_netns_kind k);

/*
 * Whether step `heal` (a heal step) heals fault step `fault`: it names it,
 * or says `heal: all`, and no heal step between them healed it first.
 * Every module that follows the timeline (planner, engine, runner, phase
 * tracker) asks this, so `heal: all` means the same everywhere.
 */
bool fl_step_heals(const struct fl_scenario *s, size_t heal, size_t fault);

/* Scenario time -> real time, after the timescale. */
uint64_t fl_scenario_real_ns(const struct fl_scenario *s, uint64_t scenario_ns);

/* Finds a service / step by name; -ENOENT if none. */
int fl_scenario_find_service(const struct fl_scenario *s, const char *name, size_t *ret_index);
int fl_scenario_find_step(const struct fl_scenario *s, const char *id, size_t *ret_index);
int fl_scenario_find_flow(const struct fl_scenario *s, const char *name, size_t *ret_index);

#endif
