/* SPDX-License-Identifier: MIT */
/*
 * YAML (libyaml's document API) -> struct fl_scenario.
 *
 * Each mapping is read through a key table (struct key): unknown and
 * duplicate keys are errors, and every handler converts its value once,
 * into the model's units. References between parts (a step's services, a
 * heal's ids, an expectation's flow) are kept as names with positions and
 * resolved by fl_scenario_validate(), because YAML maps have no order: the
 * timeline may come before the services it names.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "scenario/endpoint.h"
#include "scenario/fault.h"
#include "scenario/parse.h"
#include "scenario/subst.h"
#include "util/strbuf.h"

struct ctx {
	yaml_document_t *doc;
	struct fl_diag *diag;
	struct fl_scenario *s;
	bool oom;
	bool *subst_failed; /* per node: ${VAR} substitution failed, already reported */
};

struct key {
	const char *name;
	/* Converts value into obj; reports its own errors. */
	void (*fn)(struct ctx *c, yaml_node_t *value, void *obj);
};

static struct fl_pos pos_of(const yaml_node_t *n)
{
	return (struct fl_pos){ .line = (unsigned)n->start_mark.line + 1,
				.col = (unsigned)n->start_mark.column + 1 };
}

static yaml_node_t *get(struct ctx *c, yaml_node_item_t id)
{
	return yaml_document_get_node(c->doc, id);
}

/* A node whose substitution failed holds "${...}" text: judging it again would only mislead. */
static bool subst_failed(const struct ctx *c, const yaml_node_t *n)
{
	return c->subst_failed && c->subst_failed[n - c->doc->nodes.start];
}

#define err(c, n, ...)                                                                             \
	do {                                                                                       \
		if (!subst_failed((c), (n)))                                                       \
			fl_diag_add((c)->diag, pos_of(n), __VA_ARGS__);                            \
	} while (0)

static const char *scalar(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

static bool is_plain(const yaml_node_t *n)
{
	return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

static const char *type_name(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_MAPPING_NODE:
		return "a mapping";
	case YAML_SEQUENCE_NODE:
		return "a list";
	case YAML_SCALAR_NODE:
		if (is_plain(n) && (scalar(n)[0] == '\0' || strcmp(scalar(n), "~") == 0 ||
				    strcmp(scalar(n), "null") == 0))
			return "nothing";
		return "a scalar";
	default:
		return "nothing";
	}
}

/* Copies what the strdup family returned into *dst, tracking allocation failure. */
static char *xstrdup(struct ctx *c, const char *s)
{
	char *r = strdup(s);

	if (!r)
		c->oom = true;
	return r;
}

static void *xgrow(struct ctx *c, void *arr, size_t n, size_t size)
{
	void *r = reallocarray(arr, n + 1, size);

	if (!r) {
		c->oom = true;
		return NULL;
	}
	memset((char *)r + n * size, 0, size);
	return r;
}

/* ---- typed values ---------------------------------------------------------- */

static bool want_scalar(struct ctx *c, yaml_node_t *n, const char *key, const char *expected)
{
	if (n->type == YAML_SCALAR_NODE && strcmp(type_name(n), "nothing") != 0)
		return true;
	err(c, n, "'%s' is %s (expected %s)", key, type_name(n), expected);
	return false;
}

static bool get_string(struct ctx *c, yaml_node_t *n, const char *key, char **dst)
{
	if (!want_scalar(c, n, key, "a string"))
		return false;
	free(*dst);
	*dst = xstrdup(c, scalar(n));
	return *dst != NULL;
}

static bool get_duration(struct ctx *c, yaml_node_t *n, const char *key, uint64_t *dst)
{
	static const char *const expected = "a number with a unit: ns, us, ms, s, m or h, e.g. 300ms";
	int r;

	if (!want_scalar(c, n, key, expected))
		return false;
	r = fl_parse_duration(scalar(n), dst);
	if (r == -ERANGE)
		err(c, n, "duration '%s' is out of range (expected at most 584 years, in whole nanoseconds)",
		    scalar(n));
	else if (r < 0)
		err(c, n, "bad duration '%s' for '%s' (expected %s)", scalar(n), key, expected);
	return r == 0;
}

static bool get_percent(struct ctx *c, yaml_node_t *n, const char *key, uint32_t *dst)
{
	int r;

	if (!want_scalar(c, n, key, "a percentage such as 10%"))
		return false;
	r = fl_parse_percent(scalar(n), dst);
	if (r == -ERANGE)
		err(c, n, "percentage '%s' is out of range (expected 0%% to 100%%, at most 7 decimals)",
		    scalar(n));
	else if (r < 0)
		err(c, n, "bad percentage '%s' for '%s' (expected a number followed by %%, e.g. 10%%)",
		    scalar(n), key);
	return r == 0;
}

static bool get_u64(struct ctx *c, yaml_node_t *n, const char *key, uint64_t max, uint64_t *dst)
{
	uint64_t v;
	int r = n->type == YAML_SCALAR_NODE ? fl_parse_u64(scalar(n), &v) : -EINVAL;

	if (n->type != YAML_SCALAR_NODE || strcmp(type_name(n), "nothing") == 0) {
		err(c, n, "'%s' is %s (expected a whole number)", key, type_name(n));
		return false;
	}
	if (!is_plain(n) && r != -EINVAL) {
		err(c, n, "'%s' is a quoted string '%s' (expected a whole number without quotes)", key,
		    scalar(n));
		return false;
	}
	if (r == -ERANGE) {
		err(c, n, "'%s' is %s, too large (expected at most %llu)", key, scalar(n),
		    (unsigned long long)max);
		return false;
	}
	if (r < 0) {
		err(c, n, "'%s' is '%s' (expected a whole number)", key, scalar(n));
		return false;
	}
	if (v > max) {
		err(c, n, "'%s' is %llu, too large (expected at most %llu)", key,
		    (unsigned long long)v, (unsigned long long)max);
		return false;
	}
	*dst = v;
	return true;
}

static bool get_bool(struct ctx *c, yaml_node_t *n, const char *key, bool *dst)
{
	if (is_plain(n) && strcmp(scalar(n), "true") == 0) {
		*dst = true;
		return true;
	}
	if (is_plain(n) && strcmp(scalar(n), "false") == 0) {
		*dst = false;
		return true;
	}
	if (n->type == YAML_SCALAR_NODE && !is_plain(n) &&
	    (strcmp(scalar(n), "true") == 0 || strcmp(scalar(n), "false") == 0)) {
		err(c, n, "'%s' is a quoted string '%s' (expected a boolean: true or false without quotes)",
		    key, scalar(n));
		return false;
	}
	err(c, n, "'%s' must be true or false (expected a boolean)", key);
	return false;
}

static bool get_endpoint(struct ctx *c, yaml_node_t *n, const char *key, struct fl_endpoint *dst)
{
	const char *why = NULL;
	int r;

	if (!want_scalar(c, n, key, "an endpoint: " FL_ENDPOINT_SYNTAX))
		return false;
	r = fl_endpoint_parse(scalar(n), dst, &why);
	if (r == -ENOMEM)
		c->oom = true;
	else if (r < 0)
		err(c, n, "%s in endpoint '%s' (expected %s)", why, scalar(n), FL_ENDPOINT_SYNTAX);
	if (r == 0)
		dst->pos = pos_of(n);
	return r == 0;
}

/* Calls fn for each item of a list; a lone scalar is not a list (fail closed). */
static bool for_each_item(struct ctx *c, yaml_node_t *n, const char *key, const char *items,
			  void (*fn)(struct ctx *c, yaml_node_t *item, void *obj), void *obj)
{
	if (n->type != YAML_SEQUENCE_NODE) {
		err(c, n, "'%s' is %s (expected a list of %s)", key, type_name(n), items);
		return false;
	}
	for (yaml_node_item_t *i = n->data.sequence.items.start; i < n->data.sequence.items.top;
	     i++)
		fn(c, get(c, *i), obj);
	return true;
}

static bool valid_name(const char *s)
{
	if (!*s || strlen(s) > 64)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' || *s == '.'))
			return false;
	return true;
}

#define NAME_SYNTAX "1 to 64 letters, digits, '-', '_' or '.'"

/* ---- mappings through key tables ------------------------------------------ */

static char *keys_text(const struct key *keys, size_t n)
{
	struct fl_strbuf sb = { 0 };

	for (size_t i = 0; i < n; i++)
		fl_strbuf_appendf(&sb, "%s%s", i ? ", " : "", keys[i].name);
	return fl_strbuf_steal(&sb);
}

/*
 * Walks a mapping through a key table. Returns a bitmask of the keys seen
 * (bit i = keys[i]); ret_nodes[i], if given, is the value node of keys[i].
 */
static unsigned walk(struct ctx *c, yaml_node_t *map, const char *what, const struct key *keys,
		     size_t n, void *obj, yaml_node_t **ret_nodes)
{
	unsigned seen = 0;

	if (map->type != YAML_MAPPING_NODE) {
		err(c, map, "%s is %s (expected a mapping of key: value)", what, type_name(map));
		return 0;
	}
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = get(c, p->key), *v = get(c, p->value);
		size_t i;

		if (k->type != YAML_SCALAR_NODE) {
			err(c, k, "a key in %s is %s (expected a plain name)", what, type_name(k));
			continue;
		}
		for (i = 0; i < n; i++)
			if (strcmp(scalar(k), keys[i].name) == 0)
				break;
		if (i == n) {
			_cleanup_free_ char *list = keys_text(keys, n);
			err(c, k, "unknown key '%s' in %s (expected one of: %s)", scalar(k), what,
			    list ? list : "?");
			continue;
		}
		if (seen & (1u << i)) {
			err(c, k, "duplicate key '%s' in %s (expected each key once)", scalar(k),
			    what);
			continue;
		}
		seen |= 1u << i;
		if (ret_nodes)
			ret_nodes[i] = v;
		if (keys[i].fn)
			keys[i].fn(c, v, obj);
	}
	return seen;
}

static int key_index(const struct key *keys, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(keys[i].name, name) == 0)
			return (int)i;
	return -1;
}

static void require(struct ctx *c, yaml_node_t *map, const char *what, const struct key *keys,
		    size_t n, unsigned seen, const char *name, const char *expected)
{
	int i = key_index(keys, n, name);

	if (map->type == YAML_MAPPING_NODE && i >= 0 && !(seen & (1u << i)))
		err(c, map, "missing key '%s' in %s (expected %s: %s)", name, what, name, expected);
}

/* ---- scope ----------------------------------------------------------------- */

static void scope_netns(struct ctx *c, yaml_node_t *v, void *obj)
{
	struct fl_scope *sc = obj;
	const char *t;
	uint64_t pid;

	if (!want_scalar(c, v, "netns", "a namespace name, a path, or pid:N"))
		return;
	t = scalar(v);
	if (t[0] == '/') {
		sc->netns_kind = FL_NETNS_PATH;
	} else if (strncmp(t, "pid:", 4) == 0) {
		if (fl_parse_u64(t + 4, &pid) < 0 || pid == 0 || pid > 4194304) {
			err(c, v, "bad process id in netns '%s' (expected pid:N with N a process id)",
			    t);
			return;
		}
		sc->netns_kind = FL_NETNS_PID;
		sc->pid = (int)pid;
	} else if (valid_name(t)) {
		sc->netns_kind = FL_NETNS_NAMED;
	} else {
		err(c, v, "bad netns '%s' (expected a name under /run/netns, an absolute path, or pid:N)",
		    t);
		return;
	}
	free(sc->netns);
	sc->netns = xstrdup(c, t);
}

static void scope_interface(struct ctx *c, yaml_node_t *v, void *obj)
{
	struct fl_scope *sc = obj;
	char **n;

	if (!want_scalar(c, v, "interfaces", "an interface name"))
		return;
	/* Stricter than Linux: these names end up in tc and nft commands, unquoted by people. */
	bool ok = scalar(v)[0] && strlen(scalar(v)) <= 15;
	for (const char *ch = scalar(v); *ch && ok; ch++)
		ok = (*ch >= 'a' && *ch <= 'z') || (*ch >= 'A' && *ch <= 'Z') ||
		     (*ch >= '0' && *ch <= '9') || strchr("-_.@:", *ch);
	if (!ok) {
		err(c, v, "bad interface name '%s' (expected 1 to 15 letters, digits, '-', '_', '.', '@' or ':')",
		    scalar(v));
		return;
	}
	n = xgrow(c, sc->interfaces, sc->n_interfaces, sizeof(char *));
	if (!n)
		return;
	sc->interfaces = n;
	sc->interfaces[sc->n_interfaces] = xstrdup(c, scalar(v));
	if (sc->interfaces[sc->n_interfaces])
		sc->n_interfaces++;
}

static void scope_interfaces(struct ctx *c, yaml_node_t *v, void *obj)
{
	for_each_item(c, v, "interfaces", "interface names", scope_interface, obj);
}

static void exclude_item(struct ctx *c, yaml_node_t *v, void *obj)
{
	struct fl_scenario *s = obj;
	struct fl_endpoint e;
	struct fl_endpoint *n;

	if (!get_endpoint(c, v, "exclude", &e))
		return;
	n = xgrow(c, s->exclude, s->n_exclude, sizeof(*n));
	if (!n) {
		fl_endpoint_done(&e);
		return;
	}
	s->exclude = n;
	s->exclude[s->n_exclude++] = e;
}

static void scope_exclude(struct ctx *c, yaml_node_t *v, void *obj)
{
	(void)obj;
	for_each_item(c, v, "exclude", "endpoints", exclude_item, c->s);
}

static const struct key scope_keys[] = {
	{ "netns", scope_netns },
	{ "exclude", scope_exclude },
	{ "interfaces", scope_interfaces },
};

/* A step's scope may not exclude: exclusions are host-wide safety, set once. */
static const struct key step_scope_keys[] = {
	{ "netns", scope_netns },
	{ "interfaces", scope_interfaces },
};

static void top_scope(struct ctx *c, yaml_node_t *v, void *obj)
{
	(void)obj;
	c->s->scope.pos = pos_of(v);
	walk(c, v, "scope", scope_keys, ELEMENTSOF(scope_keys), &c->s->scope, NULL);
}

/* ---- services -------------------------------------------------------------- */

static void service_endpoint(struct ctx *c, yaml_node_t *v, void *obj)
{
	struct fl_service *sv = obj;
	struct fl_endpoint e, *n;

	if (!get_endpoint(c, v, "endpoints", &e))
		return;
	n = xgrow(c, sv->endpoints, sv->n_endpoints, sizeof(*n));
	if (!n) {
		fl_endpoint_done(&e);
		return;
	}
	sv->endpoints = n;
	sv->endpoints[sv->n_endpoints++] = e;
}

static void service_endpoints(struct ctx *c, yaml_node_t *v, void *obj)
{
	if (for_each_item(c, v, "endpoints", "endpoints", service_endpoint, obj) &&
	    v->data.sequence.items.top == v->data.sequence.items.start)
		err(c, v, "'endpoints' is empty (expected at least one endpoint)");
}

static void service_description(struct ctx *c, yaml_node_t *v, void *obj)
{
	get_string(c, v, "description", &((struct fl_service *)obj)->description);
}

static const struct key service_keys[] = {
	{ "endpoints", service_endpoints },
	{ "description", service_description },
};

static void top_services(struct ctx *c, yaml_node_t *v, void *obj)
{
	struct fl_scenario *s = obj;

	if (v->type != YAML_MAPPING_NODE) {
		err(c, v, "'services' is %s (expected a mapping of service names to {endpoints: [...]})",
		    type_name(v));
		return;
	}
	if (v->data.mapping.pairs.top == v->data.mapping.pairs.start)
		err(c, v, "'services' is empty (expected at least one service)");
	for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top; p++) {
		yaml_node_t *k = get(c, p->key), *sv_node = get(c, p->value);
		struct fl_service *n, *sv;
		char what[100];
		size_t dup;

		if (k->type != YAML_SCALAR_NODE || !valid_name(scalar(k))) {
			err(c, k, "bad service name (expected " NAME_SYNTAX ")");
			continue;
		}
		if (fl_scenario_find_service(s, scalar(k), &dup) == 0) {
			err(c, k, "duplicate service '%s' (expected each service once)", scalar(k));
			continue;
		}
		n = xgrow(c, s->services, s->n_services, sizeof(*n));
		if (!n)
			return;
		s->services = n;
		sv = &s->services[s->n_services];
		sv->name = xstrdup(c, scalar(k));
		if (!sv->name)
			return;
		sv->pos = pos_of(k);
		s->n_services++;
		snprintf(what, sizeof(what), "service '%s'", sv->name);
		unsigned seen = walk(c, sv_node, what, service_keys, ELEMENTSOF(service_keys), sv,
				     NULL);
		require(c, sv_node, what, service_keys, ELEMENTSOF(service_keys), seen,
			"endpoints", "[ADDRESS:PORT, ...]");
	}
}

/* ---- timeline ---------------------------------------------------------------- */

static void add_ref(struct ctx *c, yaml_node_t *v, struct fl_ref **arr, size_t *n,
		    const char *key, const char *expected)
{
	struct fl_ref *g;

	if (!want_scalar(c, v, key, expected))
		return;
	g = xgrow(c, *arr, *n, sizeof(**arr));
	if (!g)
		return;
	*arr = g;
	g[*n] = (struct fl_ref){ .name = xstrdup(c, scalar(v)), .pos = pos_of(v) };
	if (g[*n].name)
		(*n)++;
}

static void step_service(struct ctx *c, yaml_node_t *v, void *obj)
{
	struct fl_step *st = obj;

	add_ref(c, v, &st->services, &st->n_services, "services", "a service name");
}

static void step_services(struct ctx *c, yaml_node_t *v, void *obj)
{
	if (for_each_item(c, v, "services", "service names", step_service, obj) &&
	    v->data.sequence.items.top == v->data.sequence.items.start)
		err(c, v, "'services' is empty (expected at least one service name)");
}

static void step_heal_item(struct ctx *c, yaml_node_t *v, void *obj)
{
	struct fl_step *st = obj;

	add_ref(c, v, &st->heals, &st->n_heals, "heal", "a fault step id");
}

static void step_at(struct ctx *c, yaml_node_t *v, void *obj)
{
	struct fl_step *st = obj;

	st->at_pos = pos_of(v);
	get_duration(c, v, "at", &st->at_ns);
}

static void step_id(struct ctx *c, yaml_node_t *v, void *obj)
{
	struct fl_step *st = obj;

	if (!want_scalar(c, v, "id", "a step id"))
		return;
	if (!valid_name(scalar(v))) {
		err(c, v, "bad step id '%s' (expected " NAME_SYNTAX ")", scalar(v));
		return;
	}
	if (strcmp(scalar(v), "all") == 0 || strcmp(scalar(v), "end") == 0 ||
	    strcmp(scalar(v), "always") == 0 || strcmp(scalar(v), "first-fault") == 0) {
		err(c, v, "step id '%s' is reserved (expected another name)", scalar(v));
		return;
	}
	free(st->id);
	st->id = xstrdup(c, scalar(v));
	st->id_given = true;
	st->id_pos = pos_of(v);
}

static void step_description(struct ctx *c, yaml_node_t *v, void *obj)
{
	get_string(c, v, "description", &((struct fl_step *)obj)->description);
}

/* The step's kind keys: set kind, and complain if a step has two. */
static bool set_kind(struct ctx *c, yaml_node_t *v, struct fl_step *st, enum fl_step_kind k)
{
	if (st->kind_pos.line) {
		err(c, v, "a step takes one of fault, heal or end (expected separate steps)");
		return false;
	}
	st->kind = k;
	st->kind_pos = pos_of(v);
	return true;
}

static void step_fault(struct ctx *c, yaml_node_t *v, void *obj)
{
	struct fl_step *st = obj;
	int k;

	if (!set_kind(c, v, st, FL_STEP_FAULT))
		return;
	if (!want_scalar(c, v, "fault",
			 "partition, blackhole, reject, delay, loss, duplicate, corrupt, reorder or rate"))
		return;
	k = fl_fault_kind_from_string(scalar(v));
	if (k < 0) {
		err(c, v, "unknown fault '%s' (expected partition, blackhole, reject, delay, loss, duplicate, corrupt, reorder or rate)",
		    scalar(v));
		return;
	}
	st->fault = (enum fl_fault_kind)k;
}

static void step_heal(struct ctx *c, yaml_node_t *v, void *obj)
{
	struct fl_step *st = obj;

	if (!set_kind(c, v, st, FL_STEP_HEAL))
		return;
	if (v->type == YAML_SCALAR_NODE && strcmp(scalar(v), "all") == 0) {
		st->heal_all = true;
		return;
	}
	if (v->type == YAML_SCALAR_NODE && strcmp(type_name(v), "nothing") == 0) {
		err(c, v, "'heal' is nothing (expected all, or a list of fault step ids)");
		return;
	}
	if (v->type == YAML_SCALAR_NODE) {
		err(c, v, "'heal' is '%s' (expected all, or a list of fault step ids such as [%s])",
		    scalar(v), scalar(v));
		return;
	}
	if (for_each_item(c, v, "heal", "fault step ids, or all", step_heal_item, st) &&
	    st->n_heals == 0 && v->data.sequence.items.top == v->data.sequence.items.start)
		err(c, v, "'heal' is empty (expected all, or at least one fault step id)");
}

static void step_end(struct ctx *c, yaml_node_t *v, void *obj)
{
	struct fl_step *st = obj;
	bool b;

	if (!set_kind(c, v, st, FL_STEP_END))
		return;
	if (get_bool(c, v, "end", &b) && !b)
		err(c, v, "'end' is false (expected end: true, or no end step)");
}

static void step_direction(struct ctx *c, yaml_node_t *v, void *obj)
{
	struct fl_step *st = obj;
	static const char *const expected = "egress, ingress or both";

	if (!want_scalar(c, v, "direction", expected))
		return;
	st->direction_pos = pos_of(v);
	if (strcmp(scalar(v), "egress") == 0)
		st->direction = FL_DIR_EGRESS;
	else if (strcmp(scalar(v), "ingress") == 0)
		st->direction = FL_DIR_INGRESS;
	else if (strcmp(scalar(v), "both") == 0)
		st->direction = FL_DIR_BOTH;
	else
		err(c, v, "unknown direction '%s' (expected %s)", scalar(v), expected);
}

static void step_engine(struct ctx *c, yaml_node_t *v, void *obj)
{
	struct fl_step *st = obj;
	static const char *const expected = "auto, netem, tc, nftables or userspace";

	if (!want_scalar(c, v, "engine", expected))
		return;
	st->engine_pos = pos_of(v);
	for (int e = 0; e < _FL_ENGINE_MAX; e++)
		if (strcmp(scalar(v), fl_engine_to_string((enum fl_engine)e)) == 0) {
			st->engine = (enum fl_engine)e;
			return;
		}
	err(c, v, "unknown engine '%s' (expected %s)", scalar(v), expected);
}

static void step_seed(struct ctx *c, yaml_node_t *v, void *obj)
{
	struct fl_step *st = obj;

	st->seed_pos = pos_of(v);
	st->has_seed = get_u64(c, v, "seed", UINT64_MAX, &st->seed);
}

static void step_scope(struct ctx *c, yaml_node_t *v, void *obj)
{
	struct fl_step *st = obj;

	if (st->scope)
		return;
	st->scope = calloc(1, sizeof(*st->scope));
	if (!st->scope) {
		c->oom = true;
		return;
	}
	st->scope->pos = pos_of(v);
	walk(c, v, "a step's scope", step_scope_keys, ELEMENTSOF(step_scope_keys), st->scope,
	     NULL);
}

static void set_param(struct fl_step *st, unsigned bit, yaml_node_t *v)
{
	st->params.set |= bit;
	st->param_pos[fl_param_index(bit)] = pos_of(v);
}

static void p_delay(struct ctx *c, yaml_node_t *v, void *obj)
{
	struct fl_step *st = obj;
	if (get_duration(c, v, "delay", &st->params.delay_ns))
		set_param(st, FL_P_DELAY, v);
}

static void p_jitter(struct ctx *c, yaml_node_t *v, void *obj)
{
	struct fl_step *st = obj;
	if (get_duration(c, v, "jitter", &st->params.jitter_ns))
		set_param(st, FL_P_JITTER, v);
}

static void p_correlation(struct ctx *c, yaml_node_t *v, void *obj)
{
	struct fl_step *st = obj;
	if (get_percent(c, v, "correlation", &st->params.correlation_ppb))
		set_param(st, FL_P_CORRELATION, v);
}

static void p_distribution(struct ctx *c, yaml_node_t *v, void *obj)
{
	static const struct {
		const char *name;
		enum fl_distribution d;
	} dists[] = {
		{ "uniform", FL_DIST_UNIFORM },
		{ "normal", FL_DIST_NORMAL },
		{ "pareto", FL_DIST_PARETO },
		{ "paretonormal", FL_DIST_PARETONORMAL },
	};
	struct fl_step *st = obj;

	if (!want_scalar(c, v, "distribution", "normal, pareto, paretonormal or uniform"))
		return;
	for (size_t i = 0; i < ELEMENTSOF(dists); i++)
		if (strcmp(scalar(v), dists[i].name) == 0) {
			st->params.distribution = dists[i].d;
			set_param(st, FL_P_DISTRIBUTION, v);
			return;
		}
	err(c, v, "unknown distribution '%s' (expected normal, pareto, paretonormal or uniform)",
	    scalar(v));
}

#define PERCENT_PARAM(fn, key, field, bit)                                                         \
	static void fn(struct ctx *c, yaml_node_t *v, void *obj)                                   \
	{                                                                                          \
		struct fl_step *st = obj;                                                          \
		if (get_percent(c, v, key, &st->params.field))                                     \
			set_param(st, bit, v);                                                     \
	}
PERCENT_PARAM(p_loss, "loss", loss_ppb, FL_P_LOSS)
PERCENT_PARAM(p_duplicate, "duplicate", duplicate_ppb, FL_P_DUPLICATE)
PERCENT_PARAM(p_corrupt, "corrupt", corrupt_ppb, FL_P_CORRUPT)
PERCENT_PARAM(p_reorder, "reorder", reorder_ppb, FL_P_REORDER)

static void p_gap(struct ctx *c, yaml_node_t *v, void *obj)
{
	struct fl_step *st = obj;
	uint64_t g;

	if (get_u64(c, v, "gap", UINT32_MAX, &g)) {
		st->params.gap = (uint32_t)g;
		set_param(st, FL_P_GAP, v);
	}
}

static void p_rate(struct ctx *c, yaml_node_t *v, void *obj)
{
	struct fl_step *st = obj;
	static const char *const expected = "bits per second with a unit: bit, kbit, mbit, gbit or tbit, e.g. 1mbit";
	int r;

	if (!want_scalar(c, v, "rate", expected))
		return;
	r = fl_parse_rate(scalar(v), &st->params.rate_bps);
	if (r < 0) {
		err(c, v, "bad rate '%s' (expected %s)", scalar(v), expected);
		return;
	}
	set_param(st, FL_P_RATE, v);
}

/* Order: the parameter keys follow the fl_params table (fault.c). */
static const struct key step_keys[] = {
	{ "at", step_at },
	{ "id", step_id },
	{ "description", step_description },
	{ "fault", step_fault },
	{ "heal", step_heal },
	{ "end", step_end },
	{ "services", step_services },
	{ "direction", step_direction },
	{ "engine", step_engine },
	{ "seed", step_seed },
	{ "scope", step_scope },
	{ "delay", p_delay },
	{ "jitter", p_jitter },
	{ "correlation", p_correlation },
	{ "distribution", p_distribution },
	{ "loss", p_loss },
	{ "duplicate", p_duplicate },
	{ "corrupt", p_corrupt },
	{ "reorder", p_reorder },
	{ "gap", p_gap },
	{ "rate", p_rate },
};

static void timeline_step(struct ctx *c, yaml_node_t *v, void *obj)
{
	struct fl_scenario *s = obj;
	struct fl_step *n, *st;
	char what[64];
	unsigned seen;

	n = xgrow(c, s->steps, s->n_steps, sizeof(*n));
	if (!n)
		return;
	s->steps = n;
	st = &s->steps[s->n_steps++];
	st->pos = pos_of(v);
	st->kind = FL_STEP_END;
	st->direction = 0;
	snprintf(what, sizeof(what), "step %zu", s->n_steps);
	seen = walk(c, v, what, step_keys, ELEMENTSOF(step_keys), st, NULL);
	if (v->type != YAML_MAPPING_NODE)
		st->kind_pos = st->pos; /* reported already; keep validation quiet */
	require(c, v, what, step_keys, ELEMENTSOF(step_keys), seen, "at", "DURATION");
	if (v->type == YAML_MAPPING_NODE && !st->kind_pos.line)
		err(c, v, "%s has no action (expected one of fault: KIND, heal: [IDS] or end: true)",
		    what);
	if (!st->id) {
		char id[32];
		snprintf(id, sizeof(id), "step-%zu", s->n_steps);
		st->id = xstrdup(c, id);
	}
}

static void top_timeline(struct ctx *c, yaml_node_t *v, void *obj)
{
	if (for_each_item(c, v, "timeline", "steps", timeline_step, obj) &&
	    v->data.sequence.items.top == v->data.sequence.items.start)
		err(c, v, "'timeline' is empty (expected at least one step)");
}

/* ---- flows ------------------------------------------------------------------- */

static void http_method(struct ctx *c, yaml_node_t *v, void *obj)
{
	struct fl_flow *f = obj;
	static const char *const methods[] = { "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE",
					       "OPTIONS" };

	if (!want_scalar(c, v, "method", "an HTTP method"))
		return;
	for (size_t i = 0; i < ELEMENTSOF(methods); i++)
		if (strcmp(scalar(v), methods[i]) == 0) {
			get_string(c, v, "method", &f->method);
			return;
		}
	err(c, v, "unknown HTTP method '%s' (expected GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS)",
	    scalar(v));
}

static void http_url(struct ctx *c, yaml_node_t *v, void *obj)
{
	struct fl_flow *f = obj;

	if (!want_scalar(c, v, "url", "an http:// or https:// URL"))
		return;
	if (strncmp(scalar(v), "http://", 7) != 0 && strncmp(scalar(v), "https://", 8) != 0) {
		err(c, v, "bad url '%s' (expected an http:// or https:// URL)", scalar(v));
		return;
	}
	get_string(c, v, "url", &f->url);
}

static void http_headers(struct ctx *c, yaml_node_t *v, void *obj)
{
	struct fl_flow *f = obj;

	if (v->type != YAML_MAPPING_NODE) {
		err(c, v, "'headers' is %s (expected a mapping of header names to values)",
		    type_name(v));
		return;
	}
	for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top; p++) {
		yaml_node_t *k = get(c, p->key), *val = get(c, p->value);
		struct fl_header *h;

		if (k->type != YAML_SCALAR_NODE || !scalar(k)[0] || strpbrk(scalar(k), ": \r\n")) {
			err(c, k, "bad header name (expected a token without ':' or spaces)");
			continue;
		}
		if (!want_scalar(c, val, scalar(k), "a header value"))
			continue;
		if (strpbrk(scalar(val), "\r\n")) {
			err(c, val, "header '%s' has a line break (expected one line)", scalar(k));
			continue;
		}
		h = xgrow(c, f->headers, f->n_headers, sizeof(*h));
		if (!h)
			return;
		f->headers = h;
		h[f->n_headers] = (struct fl_header){ xstrdup(c, scalar(k)), xstrdup(c, scalar(val)) };
		f->n_headers++;
	}
}

static void http_body(struct ctx *c, yaml_node_t *v, void *obj)
{
	get_string(c, v, "body", &((struct fl_flow *)obj)->body);
}

static void http_status_item(struct ctx *c, yaml_node_t *v, void *obj)
{
	struct fl_flow *f = obj;
	uint64_t code;
	uint16_t *n;

	if (!get_u64(c, v, "status", 999, &code))
		return;
	if (code < 100) {
		err(c, v, "bad HTTP status %llu (expected 100 to 999)", (unsigned long long)code);
		return;
	}
	n = xgrow(c, f->status, f->n_status, sizeof(*n));
	if (!n)
		return;
	f->status = n;
	f->status[f->n_status++] = (uint16_t)code;
}

static void http_status(struct ctx *c, yaml_node_t *v, void *obj)
{
	for_each_item(c, v, "status", "HTTP status codes", http_status_item, obj);
}

static void http_body_contains(struct ctx *c, yaml_node_t *v, void *obj)
{
	get_string(c, v, "body_contains", &((struct fl_flow *)obj)->body_contains);
}

static void http_body_not_contains(struct ctx *c, yaml_node_t *v, void *obj)
{
	get_string(c, v, "body_not_contains", &((struct fl_flow *)obj)->body_not_contains);
}

static void http_insecure(struct ctx *c, yaml_node_t *v, void *obj)
{
	get_bool(c, v, "insecure", &((struct fl_flow *)obj)->insecure);
}

static void http_ca_file(struct ctx *c, yaml_node_t *v, void *obj)
{
	get_string(c, v, "ca_file", &((struct fl_flow *)obj)->ca_file);
}

static const struct key http_keys[] = {
	{ "method", http_method },
	{ "url", http_url },
	{ "headers", http_headers },
	{ "body", http_body },
	{ "status", http_status },
	{ "body_contains", http_body_contains },
	{ "body_not_contains", http_body_not_contains },
	{ "insecure", http_insecure },
	{ "ca_file", http_ca_file },
};

static void sock_address(struct ctx *c, yaml_node_t *v, void *obj)
{
	struct fl_flow *f = obj;
	struct fl_endpoint e;

	if (!get_endpoint(c, v, "address", &e))
		return;
	if (e.port_lo == 0 || e.port_lo != e.port_hi || (e.family == AF_UNSPEC && !e.hostname) ||
	    (e.family == AF_INET && e.prefixlen != 32) ||
	    (e.family == AF_INET6 && e.prefixlen != 128)) {
		err(c, v, "'address' is '%s' (expected one host and one port, e.g. 10.0.0.1:443)",
		    scalar(v));
		fl_endpoint_done(&e);
		return;
	}
	fl_endpoint_done(&f->address);
	f->address = e;
}

static void sock_send(struct ctx *c, yaml_node_t *v, void *obj)
{
	get_string(c, v, "send", &((struct fl_flow *)obj)->send);
}

static void sock_expect(struct ctx *c, yaml_node_t *v, void *obj)
{
	get_string(c, v, "expect", &((struct fl_flow *)obj)->expect);
}

static const struct key sock_keys[] = {
	{ "address", sock_address },
	{ "send", sock_send },
	{ "expect", sock_expect },
};

static void exec_command(struct ctx *c, yaml_node_t *v, void *obj)
{
	get_string(c, v, "command", &((struct fl_flow *)obj)->command);
}

static void exec_exit(struct ctx *c, yaml_node_t *v, void *obj)
{
	uint64_t code;

	if (get_u64(c, v, "exit", 255, &code))
		((struct fl_flow *)obj)->expect_exit = (int)code;
}

static void exec_stdout_contains(struct ctx *c, yaml_node_t *v, void *obj)
{
	get_string(c, v, "stdout_contains", &((struct fl_flow *)obj)->stdout_contains);
}

static const struct key exec_keys[] = {
	{ "command", exec_command },
	{ "exit", exec_exit },
	{ "stdout_contains", exec_stdout_contains },
};

static void flow_kind(struct ctx *c, yaml_node_t *v, struct fl_flow *f, enum fl_flow_kind k)
{
	char what[100];
	unsigned seen;

	f->kind = k;
	snprintf(what, sizeof(what), "the %s probe of flow '%s'", fl_flow_kind_to_string(k),
		 f->name);
	switch (k) {
	case FL_FLOW_HTTP:
		seen = walk(c, v, what, http_keys, ELEMENTSOF(http_keys), f, NULL);
		require(c, v, what, http_keys, ELEMENTSOF(http_keys), seen, "url", "http://HOST/PATH");
		break;
	case FL_FLOW_TCP:
	case FL_FLOW_UDP:
		seen = walk(c, v, what, sock_keys, ELEMENTSOF(sock_keys), f, NULL);
		require(c, v, what, sock_keys, ELEMENTSOF(sock_keys), seen, "address", "HOST:PORT");
		if (k == FL_FLOW_UDP)
			require(c, v, what, sock_keys, ELEMENTSOF(sock_keys), seen, "send",
				"a datagram's text");
		break;
	case FL_FLOW_EXEC:
		seen = walk(c, v, what, exec_keys, ELEMENTSOF(exec_keys), f, NULL);
		require(c, v, what, exec_keys, ELEMENTSOF(exec_keys), seen, "command",
			"a shell command");
		break;
	}
}

static void flow_http(struct ctx *c, yaml_node_t *v, void *obj)
{
	flow_kind(c, v, obj, FL_FLOW_HTTP);
}

static void flow_tcp(struct ctx *c, yaml_node_t *v, void *obj)
{
	flow_kind(c, v, obj, FL_FLOW_TCP);
}

static void flow_udp(struct ctx *c, yaml_node_t *v, void *obj)
{
	flow_kind(c, v, obj, FL_FLOW_UDP);
}

static void flow_exec(struct ctx *c, yaml_node_t *v, void *obj)
{
	flow_kind(c, v, obj, FL_FLOW_EXEC);
}

static void flow_every(struct ctx *c, yaml_node_t *v, void *obj)
{
	struct fl_flow *f = obj;

	if (get_duration(c, v, "every", &f->every_ns) && f->every_ns == 0)
		err(c, v, "flow '%s' has every: 0 (expected a period above zero)", f->name);
}

static void flow_timeout(struct ctx *c, yaml_node_t *v, void *obj)
{
	struct fl_flow *f = obj;

	if (get_duration(c, v, "timeout", &f->timeout_ns) && f->timeout_ns == 0)
		err(c, v, "flow '%s' has timeout: 0 (expected a timeout above zero)", f->name);
}

static void flow_concurrency(struct ctx *c, yaml_node_t *v, void *obj)
{
	uint64_t n;

	if (!get_u64(c, v, "concurrency", 10000, &n))
		return;
	((struct fl_flow *)obj)->concurrency = (uint32_t)n;
	if (n == 0)
		err(c, v, "flow '%s' has concurrency: 0 (expected at least 1)",
		    ((struct fl_flow *)obj)->name);
}

static void flow_netns(struct ctx *c, yaml_node_t *v, void *obj)
{
	get_string(c, v, "netns", &((struct fl_flow *)obj)->netns);
}

static const struct key flow_keys[] = {
	{ "http", flow_http },       { "tcp", flow_tcp },
	{ "udp", flow_udp },         { "exec", flow_exec },
	{ "every", flow_every },     { "timeout", flow_timeout },
	{ "concurrency", flow_concurrency }, { "netns", flow_netns },
};

/* Default probe timeout when none is given. */
#define FL_FLOW_DEFAULT_TIMEOUT_NS (5 * FL_NSEC_PER_SEC)

static void top_flows(struct ctx *c, yaml_node_t *v, void *obj)
{
	struct fl_scenario *s = obj;

	if (v->type != YAML_MAPPING_NODE) {
		err(c, v, "'flows' is %s (expected a mapping of flow names to probes)", type_name(v));
		return;
	}
	for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top; p++) {
		yaml_node_t *k = get(c, p->key), *fv = get(c, p->value);
		struct fl_flow *n, *f;
		char what[100];
		size_t dup;
		unsigned seen;

		if (k->type != YAML_SCALAR_NODE || !valid_name(scalar(k))) {
			err(c, k, "bad flow name (expected " NAME_SYNTAX ")");
			continue;
		}
		if (fl_scenario_find_flow(s, scalar(k), &dup) == 0) {
			err(c, k, "duplicate flow '%s' (expected each flow once)", scalar(k));
			continue;
		}
		n = xgrow(c, s->flows, s->n_flows, sizeof(*n));
		if (!n)
			return;
		s->flows = n;
		f = &s->flows[s->n_flows];
		f->name = xstrdup(c, scalar(k));
		if (!f->name)
			return;
		f->pos = pos_of(k);
		f->concurrency = 1;
		f->timeout_ns = FL_FLOW_DEFAULT_TIMEOUT_NS;
		s->n_flows++;
		snprintf(what, sizeof(what), "flow '%s'", f->name);
		yaml_node_t *nodes[ELEMENTSOF(flow_keys)] = { 0 };
		seen = walk(c, fv, what, flow_keys, ELEMENTSOF(flow_keys), f, nodes);
		unsigned kinds = seen & 0xfu; /* http, tcp, udp, exec */
		if (fv->type == YAML_MAPPING_NODE && kinds == 0)
			err(c, fv, "%s has no probe (expected one of http, tcp, udp or exec)", what);
		else if (kinds & (kinds - 1))
			err(c, fv, "%s has more than one probe (expected one of http, tcp, udp or exec)",
			    what);
		require(c, fv, what, flow_keys, ELEMENTSOF(flow_keys), seen, "every", "DURATION");
	}
}

/* ---- expectations -------------------------------------------------------------- */

static void set_window(struct ctx *c, yaml_node_t *v, struct fl_expect *e, enum fl_window_kind k)
{
	if (e->window_pos.line) {
		err(c, v, "an expectation takes one window (expected one of during, after, before or at)");
		return;
	}
	e->window_pos = pos_of(v);
	if (!want_scalar(c, v, "window", "a step id"))
		return;
	e->window.kind = k;
	if (k == FL_WIN_DURING && strcmp(scalar(v), "always") == 0) {
		e->window.kind = FL_WIN_ALWAYS;
		return;
	}
	if (k == FL_WIN_BEFORE && strcmp(scalar(v), "first-fault") == 0) {
		e->window.first_fault = true;
		return;
	}
	if (k == FL_WIN_AT && strcmp(scalar(v), "end") == 0) {
		e->window.end = true;
		return;
	}
	e->window.step = (struct fl_ref){ .name = xstrdup(c, scalar(v)), .pos = pos_of(v) };
}

static void ex_during(struct ctx *c, yaml_node_t *v, void *obj)
{
	set_window(c, v, obj, FL_WIN_DURING);
}

static void ex_after(struct ctx *c, yaml_node_t *v, void *obj)
{
	set_window(c, v, obj, FL_WIN_AFTER);
}

static void ex_before(struct ctx *c, yaml_node_t *v, void *obj)
{
	set_window(c, v, obj, FL_WIN_BEFORE);
}

static void ex_at(struct ctx *c, yaml_node_t *v, void *obj)
{
	set_window(c, v, obj, FL_WIN_AT);
}

static void ex_flow(struct ctx *c, yaml_node_t *v, void *obj)
{
	struct fl_expect *e = obj;

	if (want_scalar(c, v, "flow", "a flow name"))
		e->flow = (struct fl_ref){ .name = xstrdup(c, scalar(v)), .pos = pos_of(v) };
}

static void ex_name(struct ctx *c, yaml_node_t *v, void *obj)
{
	get_string(c, v, "name", &((struct fl_expect *)obj)->name);
}

static void ex_success_rate(struct ctx *c, yaml_node_t *v, void *obj)
{
	struct fl_expect *e = obj;
	const char *rest;
	int r;

	if (!want_scalar(c, v, "success_rate", "a comparison such as \">= 95%\""))
		return;
	fl_split_cmp(scalar(v), FL_CMP_GE, &e->success_cmp, &rest);
	r = fl_parse_percent(rest, &e->success_ppb);
	if (r < 0) {
		err(c, v, "bad success_rate '%s' (expected a comparison such as \">= 95%%\")",
		    scalar(v));
		return;
	}
	e->metrics |= FL_M_SUCCESS_RATE;
}

static void latency(struct ctx *c, yaml_node_t *v, struct fl_expect *e, const char *key,
		    struct fl_latency_bound *b, unsigned bit)
{
	const char *rest;
	uint64_t ns;

	if (!want_scalar(c, v, key, "a duration or a comparison such as \"< 1s\""))
		return;
	fl_split_cmp(scalar(v), FL_CMP_LE, &b->cmp, &rest);
	if (fl_parse_duration(rest, &ns) < 0) {
		err(c, v, "bad %s '%s' (expected a duration or a comparison such as \"< 1s\")", key,
		    scalar(v));
		return;
	}
	b->ns = ns;
	e->metrics |= bit;
}

static void ex_p50(struct ctx *c, yaml_node_t *v, void *obj)
{
	struct fl_expect *e = obj;
	latency(c, v, e, "p50", &e->p50, FL_M_P50);
}

static void ex_p90(struct ctx *c, yaml_node_t *v, void *obj)
{
	struct fl_expect *e = obj;
	latency(c, v, e, "p90", &e->p90, FL_M_P90);
}

static void ex_p99(struct ctx *c, yaml_node_t *v, void *obj)
{
	struct fl_expect *e = obj;
	latency(c, v, e, "p99", &e->p99, FL_M_P99);
}

static void ex_max_latency(struct ctx *c, yaml_node_t *v, void *obj)
{
	struct fl_expect *e = obj;
	latency(c, v, e, "max_latency", &e->max_latency, FL_M_MAX_LATENCY);
}

static void ex_fail_fast(struct ctx *c, yaml_node_t *v, void *obj)
{
	struct fl_expect *e = obj;
	if (get_duration(c, v, "fail_fast", &e->fail_fast_ns))
		e->metrics |= FL_M_FAIL_FAST;
}

static bool valid_error_shape(const char *s)
{
	static const char *const words[] = { "refused", "reset", "timeout", "dns", "unreachable",
					     "tls", "exit" };

	if (strncmp(s, "status:", 7) == 0) {
		uint64_t code;
		return fl_parse_u64(s + 7, &code) == 0 && code >= 100 && code <= 999;
	}
	if (strncmp(s, "body:", 5) == 0)
		return s[5] != '\0';
	for (size_t i = 0; i < ELEMENTSOF(words); i++)
		if (strcmp(s, words[i]) == 0)
			return true;
	return false;
}

static void ex_error_item(struct ctx *c, yaml_node_t *v, void *obj)
{
	struct fl_expect *e = obj;
	char **n;

	if (!want_scalar(c, v, "errors_are", "an error shape"))
		return;
	if (!valid_error_shape(scalar(v))) {
		err(c, v, "unknown error shape '%s' (expected status:CODE, body:TEXT, refused, reset, timeout, dns, unreachable, tls or exit)",
		    scalar(v));
		return;
	}
	n = xgrow(c, e->errors_are, e->n_errors_are, sizeof(char *));
	if (!n)
		return;
	e->errors_are = n;
	n[e->n_errors_are] = xstrdup(c, scalar(v));
	if (n[e->n_errors_are])
		e->n_errors_are++;
}

static void ex_errors_are(struct ctx *c, yaml_node_t *v, void *obj)
{
	struct fl_expect *e = obj;

	if (!for_each_item(c, v, "errors_are", "error shapes", ex_error_item, e))
		return;
	if (v->data.sequence.items.top == v->data.sequence.items.start) {
		err(c, v, "'errors_are' is empty (expected at least one error shape, such as status:503)");
		return;
	}
	e->metrics |= FL_M_ERRORS_ARE;
}

static void ex_fallback(struct ctx *c, yaml_node_t *v, void *obj)
{
	struct fl_expect *e = obj;

	if (get_string(c, v, "fallback", &e->fallback))
		e->metrics |= FL_M_FALLBACK;
}

static void ex_recovers_within(struct ctx *c, yaml_node_t *v, void *obj)
{
	struct fl_expect *e = obj;

	if (get_duration(c, v, "recovers_within", &e->recovers_within_ns))
		e->metrics |= FL_M_RECOVERS_WITHIN;
}

static void inv_exec(struct ctx *c, yaml_node_t *v, void *obj)
{
	get_string(c, v, "exec", &((struct fl_expect *)obj)->invariant_exec);
}

static const struct key invariant_keys[] = { { "exec", inv_exec } };

static void ex_invariant(struct ctx *c, yaml_node_t *v, void *obj)
{
	struct fl_expect *e = obj;
	unsigned seen = walk(c, v, "invariant", invariant_keys, 1, e, NULL);

	require(c, v, "invariant", invariant_keys, 1, seen, "exec", "a command");
	if (e->invariant_exec)
		e->metrics |= FL_M_INVARIANT;
}

static void storm_ratio(struct ctx *c, yaml_node_t *v, void *obj)
{
	struct fl_expect *e = obj;
	uint64_t m;

	if (!want_scalar(c, v, "max_ratio", "a number such as 3"))
		return;
	if (fl_parse_micros(scalar(v), &m) < 0 || m < 1000) {
		err(c, v, "bad max_ratio '%s' (expected a number of at least 0.001, such as 3)",
		    scalar(v));
		return;
	}
	e->retry_storm_max_ratio_milli = m / 1000;
	e->metrics |= FL_M_NO_RETRY_STORM;
}

static const struct key storm_keys[] = { { "max_ratio", storm_ratio } };

static void ex_no_retry_storm(struct ctx *c, yaml_node_t *v, void *obj)
{
	unsigned seen = walk(c, v, "no_retry_storm", storm_keys, 1, obj, NULL);

	require(c, v, "no_retry_storm", storm_keys, 1, seen, "max_ratio", "a number such as 3");
}

static const struct key expect_keys[] = {
	{ "flow", ex_flow },
	{ "name", ex_name },
	{ "during", ex_during },
	{ "after", ex_after },
	{ "before", ex_before },
	{ "at", ex_at },
	{ "success_rate", ex_success_rate },
	{ "p50", ex_p50 },
	{ "p90", ex_p90 },
	{ "p99", ex_p99 },
	{ "max_latency", ex_max_latency },
	{ "fail_fast", ex_fail_fast },
	{ "errors_are", ex_errors_are },
	{ "fallback", ex_fallback },
	{ "recovers_within", ex_recovers_within },
	{ "invariant", ex_invariant },
	{ "no_retry_storm", ex_no_retry_storm },
};

static void expect_item(struct ctx *c, yaml_node_t *v, void *obj)
{
	struct fl_scenario *s = obj;
	struct fl_expect *n, *e;
	char what[64];

	n = xgrow(c, s->expects, s->n_expects, sizeof(*n));
	if (!n)
		return;
	s->expects = n;
	e = &s->expects[s->n_expects++];
	e->pos = pos_of(v);
	snprintf(what, sizeof(what), "expectation %zu", s->n_expects);
	walk(c, v, what, expect_keys, ELEMENTSOF(expect_keys), e, NULL);
}

static void top_expect(struct ctx *c, yaml_node_t *v, void *obj)
{
	for_each_item(c, v, "expect", "expectations", expect_item, obj);
}

/* ---- the document ---------------------------------------------------------------- */

static void top_version(struct ctx *c, yaml_node_t *v, void *obj)
{
	uint64_t ver;

	if (!get_u64(c, v, "version", UINT32_MAX, &ver))
		return;
	if (ver != 1) {
		err(c, v, "unsupported version %llu (expected version: 1)", (unsigned long long)ver);
		return;
	}
	((struct fl_scenario *)obj)->version = (uint32_t)ver;
}

static void top_name(struct ctx *c, yaml_node_t *v, void *obj)
{
	struct fl_scenario *s = obj;

	if (!get_string(c, v, "name", &s->name))
		return;
	if (!s->name[0] || strpbrk(s->name, "\r\n"))
		err(c, v, "bad name (expected one non-empty line)");
}

static void top_description(struct ctx *c, yaml_node_t *v, void *obj)
{
	get_string(c, v, "description", &((struct fl_scenario *)obj)->description);
}

static void top_timescale(struct ctx *c, yaml_node_t *v, void *obj)
{
	struct fl_scenario *s = obj;
	uint64_t m;

	if (!is_plain(v) || fl_parse_micros(scalar(v), &m) < 0 || m == 0 ||
	    m > 1000000000ULL * 1000000ULL) {
		err(c, v, "bad timescale (expected a number > 0 and at most 1e9, such as 1 or 3600)");
		return;
	}
	s->timescale_micro = m;
}

static const struct key top_keys[] = {
	{ "version", top_version },       { "name", top_name },
	{ "description", top_description }, { "scope", top_scope },
	{ "timescale", top_timescale },   { "services", top_services },
	{ "timeline", top_timeline },     { "flows", top_flows },
	{ "expect", top_expect },
};

static const char *real_getenv(const char *name, void *userdata)
{
	(void)userdata;
	return getenv(name);
}

/* ${VAR} in every scalar, in place, before anything reads a value. */
static void substitute(struct ctx *c, const struct fl_parse_options *opts)
{
	fl_lookup_fn lookup = opts && opts->getenv ? opts->getenv : real_getenv;
	void *ud = opts ? opts->userdata : NULL;

	for (yaml_node_t *n = c->doc->nodes.start; n < c->doc->nodes.top; n++) {
		char *out = NULL, *name = NULL;
		const char *problem = NULL;
		size_t off = 0;
		int r;

		if (n->type != YAML_SCALAR_NODE || !strchr(scalar(n), '$'))
			continue;
		r = fl_subst(scalar(n), lookup, ud, &out, &name, &problem, &off);
		if (r == -ENOENT) {
			err(c, n, "environment variable %s is not set (expected it set, or ${%s:-DEFAULT})",
			    name, name);
			free(name);
		} else if (r == -EINVAL) {
			err(c, n, "%s in '%s' (expected ${NAME}, ${NAME:-DEFAULT} or $$)", problem,
			    scalar(n));
		} else if (r < 0) {
			c->oom = true;
		} else {
			free(n->data.scalar.value);
			n->data.scalar.value = (yaml_char_t *)out;
			n->data.scalar.length = strlen(out);
		}
		if (r == -ENOENT || r == -EINVAL) {
			if (!c->subst_failed)
				c->subst_failed = calloc((size_t)(c->doc->nodes.top - c->doc->nodes.start),
							 sizeof(bool));
			if (c->subst_failed)
				c->subst_failed[n - c->doc->nodes.start] = true;
			else
				c->oom = true;
		}
	}
}

/* Whether the character at a libyaml mark (0-based line, column in characters) is a tab. */
static bool tab_at(const char *buf, size_t len, const yaml_mark_t *m)
{
	size_t i = 0, line = 0, col = 0;

	while (i < len && line < m->line)
		if (buf[i++] == '\n')
			line++;
	for (; i < len && buf[i] != '\n'; i++) {
		if (((unsigned char)buf[i] & 0xc0) == 0x80)
			continue; /* a UTF-8 continuation byte */
		if (col++ == m->column)
			return buf[i] == '\t';
	}
	return false;
}

/*
 * libyaml reports where it noticed the problem; for an unclosed quote or
 * bracket that is the end of the file, so say where the construct started.
 */
static void yaml_syntax_error(struct ctx *c, const yaml_parser_t *parser, const char *buf,
			      size_t len)
{
	struct fl_pos p = { (unsigned)parser->problem_mark.line + 1,
			    (unsigned)parser->problem_mark.column + 1 };
	char start[64] = "";

	if (parser->context && parser->context_mark.line != parser->problem_mark.line)
		snprintf(start, sizeof(start), " that starts at line %u, column %u",
			 (unsigned)parser->context_mark.line + 1,
			 (unsigned)parser->context_mark.column + 1);
	fl_diag_add(c->diag, p, "YAML syntax: %s%s%s%s (expected %s)",
		    parser->problem ? parser->problem : "malformed input",
		    parser->context ? " " : "", parser->context ? parser->context : "", start,
		    tab_at(buf, len, &parser->problem_mark)
			    ? "spaces: YAML does not allow a tab here"
			    : "well-formed YAML");
}

static int load_document(struct ctx *c, const char *buf, size_t len)
{
	yaml_parser_t parser;
	yaml_document_t extra;
	int r = 0;

	if (!yaml_parser_initialize(&parser))
		return -ENOMEM;
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	if (!yaml_parser_load(&parser, c->doc)) {
		if (parser.error == YAML_MEMORY_ERROR)
			r = -ENOMEM;
		else {
			yaml_syntax_error(c, &parser, buf, len);
			r = -EINVAL;
		}
		yaml_parser_delete(&parser);
		return r;
	}
	if (!yaml_document_get_root_node(c->doc)) {
		fl_diag_add(c->diag, (struct fl_pos){ 1, 1 },
			    "the file is empty (expected a scenario: version, name, services, timeline)");
		r = -EINVAL;
	} else if (yaml_parser_load(&parser, &extra)) {
		if (yaml_document_get_root_node(&extra)) {
			yaml_node_t *root = yaml_document_get_root_node(&extra);
			fl_diag_add(c->diag, pos_of(root),
				    "a second YAML document (expected one scenario per file)");
			r = -EINVAL;
		}
		yaml_document_delete(&extra);
	} else if (parser.error == YAML_MEMORY_ERROR) {
		r = -ENOMEM;
	} else {
		yaml_syntax_error(c, &parser, buf, len);
		r = -EINVAL;
	}
	if (r < 0)
		yaml_document_delete(c->doc);
	yaml_parser_delete(&parser);
	return r;
}

int fl_scenario_parse(const char *file, const char *buf, size_t len,
		      const struct fl_parse_options *opts, struct fl_diag *diag,
		      struct fl_scenario **ret_scenario)
{
	_cleanup_(fl_scenario_freep) struct fl_scenario *s = NULL;
	yaml_document_t doc;
	struct ctx c = { .doc = &doc, .diag = diag };
	yaml_node_t *root;
	unsigned seen;
	int r;

	if (len > FL_SCENARIO_MAX_BYTES) {
		fl_diag_add(diag, (struct fl_pos){ 0 }, "the file has %zu bytes (expected at most %u)",
			    len, FL_SCENARIO_MAX_BYTES);
		return -EINVAL;
	}
	if (memchr(buf, '\0', len)) {
		fl_diag_add(diag, (struct fl_pos){ 0 }, "the file has a NUL byte (expected YAML text)");
		return -EINVAL;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->timescale_micro = 1000000;
	s->file = file ? strdup(file) : NULL;
	if (file && !s->file)
		return -ENOMEM;
	c.s = s;

	r = load_document(&c, buf, len);
	if (r < 0)
		return r;

	substitute(&c, opts);
	root = yaml_document_get_root_node(&doc);
	yaml_node_t *nodes[ELEMENTSOF(top_keys)] = { 0 };
	seen = walk(&c, root, "the scenario", top_keys, ELEMENTSOF(top_keys), s, nodes);
	if (root->type == YAML_MAPPING_NODE) {
		static const struct {
			const char *key, *expected;
		} required[] = {
			{ "version", "1" },
			{ "name", "A NAME" },
			{ "services", "{NAME: {endpoints: [...]}}" },
			{ "timeline", "[{at: DURATION, fault: KIND, ...}]" },
		};
		for (size_t i = 0; i < ELEMENTSOF(required); i++)
			require(&c, root, "the scenario", top_keys, ELEMENTSOF(top_keys), seen,
				required[i].key, required[i].expected);
	}
	yaml_document_delete(&doc);
	free(c.subst_failed);

	if (c.oom)
		return -ENOMEM;
	if (fl_diag_count(diag) > 0)
		return -EINVAL;
	r = fl_scenario_validate(s, diag);
	if (r < 0)
		return r;
	*ret_scenario = TAKE_PTR(s);
	return 0;
}

int fl_scenario_load(const char *path, const struct fl_parse_options *opts, struct fl_diag *diag,
		     struct fl_scenario **ret_scenario)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0, cap = 0;
	struct stat st;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || S_ISDIR(st.st_mode)) {
		r = S_ISDIR(st.st_mode) ? -EISDIR : -errno;
		close(fd);
		return r;
	}
	for (;;) {
		if (len == cap) {
			char *n;
			if (cap > FL_SCENARIO_MAX_BYTES) {
				close(fd);
				fl_diag_add(diag, (struct fl_pos){ 0 },
					    "the file is larger than %u bytes (expected a scenario, not a data set)",
					    FL_SCENARIO_MAX_BYTES);
				return -EINVAL;
			}
			cap = cap ? cap * 2 : 8192;
			n = realloc(buf, cap);
			if (!n) {
				close(fd);
				return -ENOMEM;
			}
			buf = n;
		}
		ssize_t k = read(fd, buf + len, cap - len);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			close(fd);
			return r;
		}
		if (k == 0)
			break;
		len += (size_t)k;
	}
	close(fd);
	return fl_scenario_parse(path, buf ? buf : "", len, opts, diag, ret_scenario);
}
