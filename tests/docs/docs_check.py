#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""
Keeps docs/scenario.schema.json and docs/scenario-format.md honest against
the parser (injector/scenario/). Run by ctest (tests/docs/CMakeLists.txt);
needs Debian's python3-yaml and python3-jsonschema, so run it with
/usr/bin/python3.

  docs_check.py --source-dir DIR --faultline BIN CHECK

CHECK is one of:
  scenarios     every scenario under scenarios/ (recursively) passes both
                `faultline validate` (with no variables set: ${VAR} needs a
                default) and the schema
  keys          every key of every key table in parse.c is in the schema (at
                the right place, and nothing more) and in the reference
  faults        fault kinds, parameters, directions, seeds and engines in the
                schema and the reference's fault table match fault.c
  rejects       tests/docs/every-key.yaml uses every key and passes both;
                copies of it with an unknown key in any mapping, or a bad
                value, fail both
  fault-table   print the reference's fault table, generated from fault.c
"""
import argparse
import copy
import json
import os
import re
import subprocess
import sys
import tempfile

try:
    import jsonschema
    import yaml
except ImportError as e:  # pragma: no cover
    sys.exit("docs_check: %s: install python3-yaml and python3-jsonschema (apt-get install -y "
             "python3-yaml python3-jsonschema) and run with /usr/bin/python3" % e)

SCHEMA = "docs/scenario.schema.json"
REFERENCE = "docs/scenario-format.md"
PARSE_C = "injector/scenario/parse.c"
FAULT_C = "injector/scenario/fault.c"
MODEL_C = "injector/scenario/model.c"
FIXTURE = "tests/docs/every-key.yaml"

# Each key table of parse.c: where its keys live in the schema (JSON pointers to
# "properties" objects) and in the reference (the section, by its heading, that
# must mention each key in backquotes). A new table must be added here.
TABLES = {
    "top_keys": (["/properties"], "## Top level"),
    "scope_keys": (["/definitions/scope/properties"], "## `scope`"),
    "step_scope_keys": (["/definitions/step_scope/properties"], "## `scope`"),
    "service_keys": (["/definitions/service/properties"], "## `services`"),
    "step_keys": (["/definitions/step/properties"], "## `timeline`"),
    "http_keys": (["/definitions/http/properties"], "### `http`"),
    "sock_keys": (["/definitions/tcp/properties", "/definitions/udp/properties"],
                  "### `tcp` and `udp`"),
    "exec_keys": (["/definitions/exec/properties"], "### `exec`"),
    "flow_keys": (["/definitions/flow/properties"], "## `flows`"),
    "invariant_keys": (["/definitions/invariant/properties"], "### Metrics"),
    "storm_keys": (["/definitions/no_retry_storm/properties"], "### Metrics"),
    "expect_keys": (["/definitions/expectation/properties"], "## `expect`"),
}

FAULT_TABLE_BEGIN = "<!-- BEGIN fault-table: generated from injector/scenario/fault.c by tests/docs/docs_check.py fault-table -->"
FAULT_TABLE_END = "<!-- END fault-table -->"


class Failures:
    def __init__(self):
        self.items = []

    def add(self, msg):
        self.items.append(msg)

    def finish(self, what):
        for m in self.items:
            print("FAIL: " + m)
        if self.items:
            print("%s: %d failure(s)" % (what, len(self.items)))
            return 1
        print("%s: ok" % what)
        return 0


# ---- reading the C sources --------------------------------------------------------

def read(src, rel):
    with open(os.path.join(src, rel), encoding="utf-8") as f:
        return f.read()


def strip_comments(c):
    c = re.sub(r"/\*.*?\*/", " ", c, flags=re.S)
    return re.sub(r"//[^\n]*", " ", c)


def key_tables(src):
    """{table name: [keys]} from the `static const struct key NAME[] = {...};` arrays."""
    c = strip_comments(read(src, PARSE_C))
    tables = {}
    for m in re.finditer(r"static\s+const\s+struct\s+key\s+(\w+)\s*\[\s*\]\s*=\s*\{(.*?)\}\s*;",
                         c, flags=re.S):
        tables[m.group(1)] = re.findall(r"\{\s*\"([^\"]+)\"\s*,\s*\w+\s*\}", m.group(2))
    if len(tables) < 10 or any(not v for v in tables.values()):
        raise SystemExit("docs_check: could not read the key tables of %s (found %r); "
                         "update key_tables()" % (PARSE_C, tables))
    return tables


def fault_table(src):
    """The fault table of fault.c as a list of dicts, in enum order."""
    c = strip_comments(read(src, FAULT_C))
    params = re.findall(r"\{\s*(FL_P_\w+)\s*,\s*\"(\w+)\"\s*,\s*\"([^\"]*)\"\s*\}", c)
    bit_key = {bit: key for bit, key, _ in params}
    macros = {}
    for m in re.finditer(r"#define\s+(\w+)\s*((?:[^\n]*\\\n)*[^\n]*)", c):
        macros[m.group(1)] = m.group(2).replace("\\\n", " ")

    def bits(expr):
        out = []
        for tok in re.findall(r"\w+", expr):
            if tok in macros:
                out += bits(macros[tok])
            elif tok in bit_key:
                out.append(bit_key[tok])
            else:
                raise SystemExit("docs_check: unknown parameter bit %s in %s" % (tok, FAULT_C))
        return out

    m_model = strip_comments(read(src, MODEL_C))
    engine_names = dict(re.findall(r"\[(FL_ENGINE_\w+)\]\s*=\s*\"(\w+)\"", m_model))
    faults = []
    for m in re.finditer(r"\[FL_FAULT_(\w+)\]\s*=\s*\{(.*?)\n\t\}\s*,", c, flags=re.S):
        body = m.group(2)

        def field(name, default=None):
            fm = re.search(r"\.%s\s*=\s*((?:\{[^}]*\})|(?:\"(?:[^\"\\]|\\.)*\")|[^,\n]+)" % name, body)
            return fm.group(1).strip() if fm else default

        order = [k for _, k, _ in params]
        allowed = set(bits(field("allowed", "")))
        required = set(bits(field("required", "")))
        engines = re.findall(r"FL_ENGINE_\w+", field("engines", ""))
        faults.append({
            "name": json.loads(field("name")),
            "summary": json.loads(field("summary")),
            "required": [k for k in order if k in required],
            "allowed": [k for k in order if k in allowed | required],
            "both_only": field("both_only", "false") == "true",
            "default_direction": field("default_direction").replace("FL_DIR_", "").lower(),
            "seeded": field("seeded", "false") == "true",
            "engines": [engine_names[e] for e in engines if e != "FL_ENGINE_AUTO"],
        })
    if len(faults) < 9:
        raise SystemExit("docs_check: could not read the fault table of %s" % FAULT_C)
    return faults, [k for _, k, _ in params], params, engine_names


def fault_step_keys(f, param_order):
    """The keys a fault step of this kind accepts (fl_fault_keys_text() plus at and fault)."""
    keys = ["at", "id", "description", "fault", "services"]
    if not f["both_only"]:
        keys.append("direction")
    if f["seeded"]:
        keys.append("seed")
    keys += [p for p in param_order if p in f["allowed"]]
    return keys + ["engine", "scope"]


def render_fault_table(src):
    faults, order, params, _ = fault_table(src)
    lines = [FAULT_TABLE_BEGIN,
             "| kind | what it does | parameters (**required**) | direction | `seed` | engines, preferred first |",
             "|---|---|---|---|---|---|"]
    for f in faults:
        ps = ", ".join(("**`%s`**" if p in f["required"] else "`%s`") % p for p in f["allowed"]) or "none"
        if f["both_only"]:
            d = "always both (no `direction` key)"
        else:
            others = [x for x in ("egress", "ingress", "both") if x != f["default_direction"]]
            d = "**%s** (default), %s" % (f["default_direction"], ", ".join(others))
        lines.append("| `%s` | %s | %s | %s | %s | %s |" % (
            f["name"], f["summary"].replace("|", "\\|"), ps, d, "yes" if f["seeded"] else "no",
            ", ".join("`%s`" % e for e in f["engines"])))
    lines.append(FAULT_TABLE_END)
    return "\n".join(lines) + "\n"


# ---- YAML as editors read it ------------------------------------------------------

class Loader(yaml.SafeLoader):
    """PyYAML's SafeLoader, closer to YAML 1.2 (what yaml-language-server uses): only
    true/false are booleans, and dates stay strings, as the parser reads them."""


Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp")]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                             list("tTfF"))


def load_yaml(path):
    with open(path, encoding="utf-8") as f:
        return yaml.load(f, Loader=Loader)


def load_schema(src):
    with open(os.path.join(src, SCHEMA), encoding="utf-8") as f:
        schema = json.load(f)
    jsonschema.Draft7Validator.check_schema(schema)
    return schema


def schema_errors(validator, doc):
    return ["%s: %s" % (e.json_path, e.message[:300])
            for e in sorted(validator.iter_errors(doc), key=lambda e: list(e.path))]


def pointer(schema, ptr):
    node = schema
    for part in ptr.strip("/").split("/"):
        node = node[part]
    return node


def run_validate(faultline, files, cwd=None):
    """Runs `faultline validate -q` on files; returns {file: [error lines]} and the exit code."""
    # No other variables: a scenario must not depend on the caller's environment.
    env = {k: v for k, v in os.environ.items() if k.startswith(("ASAN_", "UBSAN_", "LSAN_"))}
    env.update(PATH=os.environ.get("PATH", "/usr/bin:/bin"), LC_ALL="C")
    p = subprocess.run([faultline, "validate", "-q"] + files, capture_output=True, text=True, env=env,
                       cwd=cwd)
    if p.returncode not in (0, 2):
        raise SystemExit("docs_check: %s validate failed (exit %d):\n%s" % (faultline, p.returncode, p.stderr))
    errs = {f: [] for f in files}
    for line in p.stderr.splitlines():
        for f in files:
            if line.startswith(f + ":"):
                errs[f].append(line)
                break
        else:
            errs.setdefault("?", []).append(line)
    return errs, p.returncode


# ---- checks --------------------------------------------------------------------------

def check_scenarios(args):
    fails = Failures()
    validator = jsonschema.Draft7Validator(load_schema(args.source_dir))
    root = os.path.join(args.source_dir, "scenarios")
    files = sorted(os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs
                   if f.endswith((".yaml", ".yml")))
    if not files:
        fails.add("no scenarios under %s" % root)
    errs, code = run_validate(args.faultline, files)
    for f in files:
        rel = os.path.relpath(f, args.source_dir)
        for line in errs.get(f, []):
            fails.add("faultline validate: " + line)
        try:
            doc = load_yaml(f)
        except yaml.YAMLError as e:
            fails.add("%s: not YAML: %s" % (rel, e))
            continue
        for e in schema_errors(validator, doc):
            fails.add("%s: schema: %s" % (rel, e))
        print("checked %s" % rel)
    if code != 0 and not any(errs.values()):
        fails.add("faultline validate exited %d without errors" % code)
    for line in errs.get("?", []):
        fails.add("faultline validate: " + line)
    return fails.finish("scenarios (%d files)" % len(files))


def doc_section(text, heading):
    """The text under a heading, up to the next heading of the same or a higher level."""
    level = len(heading) - len(heading.lstrip("#"))
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.strip() == heading:
            out = []
            for nxt in lines[i + 1:]:
                m = re.match(r"^(#+) ", nxt)
                if m and len(m.group(1)) <= level and not in_fence(out):
                    break
                out.append(nxt)
            return "\n".join(out)
    return None


def in_fence(lines):
    return sum(1 for l in lines if l.lstrip().startswith("```")) % 2 == 1


def check_keys(args):
    fails = Failures()
    tables = key_tables(args.source_dir)
    schema = load_schema(args.source_dir)
    with open(os.path.join(args.source_dir, REFERENCE), encoding="utf-8") as f:
        doc = f.read()
    for name in sorted(set(tables) - set(TABLES)):
        fails.add("%s has a new key table '%s' (%s): map it in TABLES in %s" %
                  (PARSE_C, name, ", ".join(tables[name]), os.path.relpath(__file__, args.source_dir)))
    for name, (ptrs, heading) in sorted(TABLES.items()):
        if name not in tables:
            fails.add("key table '%s' is gone from %s: update TABLES in docs_check.py" % (name, PARSE_C))
            continue
        keys = tables[name]
        for ptr in ptrs:
            try:
                props = set(pointer(schema, ptr))
            except (KeyError, TypeError):
                fails.add("%s: no %s in the schema (for %s)" % (SCHEMA, ptr, name))
                continue
            for k in keys:
                if k not in props:
                    fails.add("key '%s' (%s in %s) is missing from the schema at %s" % (k, name, PARSE_C, ptr))
            for k in sorted(props - set(keys)):
                fails.add("the schema allows '%s' at %s, but the parser (%s) rejects it" % (k, ptr, name))
        section = doc_section(doc, heading)
        if section is None:
            fails.add("%s has no section '%s' (for %s)" % (REFERENCE, heading, name))
            continue
        for k in keys:
            if not re.search(r"`%s(?=[`:\s\[{])" % re.escape(k), section):
                fails.add("key '%s' (%s in %s) is missing from %s, section '%s'" %
                          (k, name, PARSE_C, REFERENCE, heading))
    print("key tables: " + ", ".join("%s (%d)" % (n, len(k)) for n, k in sorted(tables.items())))
    return fails.finish("keys")


def check_faults(args):
    fails = Failures()
    faults, order, params, engine_names = fault_table(args.source_dir)
    schema = load_schema(args.source_dir)
    step = schema["definitions"]["step"]
    names = [f["name"] for f in faults]
    if step["properties"]["fault"].get("enum") != names:
        fails.add("schema step.fault enum %r != fault.c %r" % (step["properties"]["fault"].get("enum"), names))
    engines = [engine_names[e] for e in sorted(engine_names, key=lambda e: list(engine_names).index(e))]
    if sorted(step["properties"]["engine"]["enum"]) != sorted(engines):
        fails.add("schema engine enum %r != model.c %r" % (step["properties"]["engine"]["enum"], engines))
    parse_c = strip_comments(read(args.source_dir, PARSE_C))
    dists = re.findall(r"\{\s*\"(\w+)\"\s*,\s*FL_DIST_\w+\s*\}", parse_c)
    sch_dists = step["properties"]["distribution"]["anyOf"][0]["enum"]
    if sorted(dists) != sorted(sch_dists):
        fails.add("schema distributions %r != parse.c %r" % (sch_dists, dists))
    rules = {}
    for r in step.get("allOf", []):
        const = r.get("if", {}).get("properties", {}).get("fault", {}).get("const")
        if const:
            rules[const] = r["then"]
    for f in faults:
        then = rules.get(f["name"])
        if then is None:
            fails.add("schema has no if/then rule for fault '%s'" % f["name"])
            continue
        want = fault_step_keys(f, order)
        got = then.get("propertyNames", {}).get("enum", [])
        if sorted(got) != sorted(want):
            fails.add("schema keys of a %s step: %s; fault.c says: %s" % (f["name"], sorted(got), sorted(want)))
        if sorted(then.get("required", [])) != sorted(["services"] + f["required"]):
            fails.add("schema requires %r for %s; fault.c: services + %r" %
                      (then.get("required"), f["name"], f["required"]))
        got_e = then.get("properties", {}).get("engine", {}).get("enum")
        if got_e != ["auto"] + f["engines"]:
            fails.add("schema engines of %s: %r; fault.c: %r" % (f["name"], got_e, ["auto"] + f["engines"]))
    for k, _ in [(k, t) for _, k, t in params]:
        if k not in step["properties"]:
            fails.add("parameter '%s' (fault.c fl_params) is not a step key in the schema" % k)
    with open(os.path.join(args.source_dir, REFERENCE), encoding="utf-8") as fh:
        doc = fh.read()
    m = re.search(re.escape(FAULT_TABLE_BEGIN) + r".*?" + re.escape(FAULT_TABLE_END) + r"\n?", doc, flags=re.S)
    want_table = render_fault_table(args.source_dir)
    if not m:
        fails.add("%s has no generated fault table (markers missing)" % REFERENCE)
    elif m.group(0).rstrip("\n") != want_table.rstrip("\n"):
        fails.add("the fault table in %s is out of date with %s; regenerate it with:\n"
                  "  /usr/bin/python3 tests/docs/docs_check.py --source-dir . fault-table\n"
                  "and paste it between the markers. Expected:\n%s" % (REFERENCE, FAULT_C, want_table))
    return fails.finish("faults (%d kinds)" % len(faults))


# Mappings of the fixture whose keys are names, not keys of a table.
NAME_MAPS = {("services",), ("flows",)}


def walk_maps(node, path=()):
    """Yields (path, dict) for every mapping in a loaded scenario."""
    if isinstance(node, dict):
        yield path, node
        for k, v in node.items():
            yield from walk_maps(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from walk_maps(v, path + (i,))


def table_of(path):
    """Which key table reads the mapping at path (None: a name map or free-form)."""
    p = tuple("[]" if isinstance(x, int) else x for x in path)
    if p == ():
        return "top_keys"
    if p in NAME_MAPS or p[-1:] == ("headers",):
        return None
    rules = [
        (("scope",), "scope_keys"),
        (("services", "*"), "service_keys"),
        (("timeline", "[]"), "step_keys"),
        (("timeline", "[]", "scope"), "step_scope_keys"),
        (("flows", "*"), "flow_keys"),
        (("flows", "*", "http"), "http_keys"),
        (("flows", "*", "tcp"), "sock_keys"),
        (("flows", "*", "udp"), "sock_keys"),
        (("flows", "*", "exec"), "exec_keys"),
        (("expect", "[]"), "expect_keys"),
        (("expect", "[]", "invariant"), "invariant_keys"),
        (("expect", "[]", "no_retry_storm"), "storm_keys"),
    ]
    for pat, name in rules:
        if len(pat) == len(p) and all(a == "*" or a == b for a, b in zip(pat, p)):
            return name
    raise SystemExit("docs_check: no key table known for the mapping at %r" % (path,))


def set_at(doc, path, value):
    node = doc
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value


# (path in the fixture, bad value, why). Each copy must fail both checks, except
# the ones marked PARSER_ONLY: rules a JSON Schema cannot express.
PARSER_ONLY = "parser only"
BAD_VALUES = [
    (("version",), 2, "unsupported version"),
    (("version",), "1", "a quoted version"),
    (("name",), "", "an empty name"),
    (("timescale",), 0, "timescale zero"),
    (("timescale",), "fast", "timescale not a number"),
    (("scope", "netns"), "pid:0", "pid 0"),
    (("scope", "interfaces"), ["a/b"], "interface with a slash"),
    (("scope", "exclude"), ["host.example:22"], "exclude with a hostname"),
    (("scope", "exclude"), "tcp:22", "exclude not a list"),
    (("services", "api", "endpoints"), [], "no endpoints"),
    (("services", "api", "endpoints"), ["10.99.0.10/24"], "host bits past the prefix", PARSER_ONLY),
    (("services", "api", "endpoints"), ["10.99.0.10:70000"], "port out of range"),
    (("services", "api", "endpoints"), ["tcp:api.example"], "protocol and hostname without a port"),
    (("services", "api", "endpoints"), ["10.99.0.10:90-80"], "reversed port range", PARSER_ONLY),
    (("services", "api", "endpoints"), ["my_host:80"], "underscore in a hostname"),
    (("timeline", 0, "at"), "1min", "unknown duration unit"),
    (("timeline", 0, "at"), "30m1h", "units out of order"),
    (("timeline", 0, "at"), "1 s", "space before the unit"),
    (("timeline", 0, "at"), 5, "a duration without a unit"),
    (("timeline", 0, "at"), "1.5ns", "a fraction of a nanosecond"),
    (("timeline", 0, "delay"), "1.0000000001s", "finer than a nanosecond"),
    (("timeline", 0, "fault"), "jitter", "unknown fault kind"),
    (("timeline", 0, "direction"), "out", "unknown direction"),
    (("timeline", 0, "engine"), "ebpf", "unknown engine"),
    (("timeline", 0, "engine"), "nftables", "an engine the kind does not support"),
    (("timeline", 0, "distribution"), "gaussian", "unknown distribution"),
    (("timeline", 0, "loss"), "101%", "over 100%"),
    (("timeline", 0, "loss"), "5", "a percentage without %"),
    (("timeline", 0, "loss"), "0.00000001%", "finer than 7 decimals"),
    (("timeline", 0, "seed"), -1, "negative seed"),
    (("timeline", 0, "id"), "all", "reserved step id"),
    (("timeline", 0, "id"), "has space", "bad step id"),
    (("timeline", 0, "services"), [], "no services"),
    (("timeline", 0, "services"), "api", "services not a list"),
    (("timeline", 1, "gap"), "5", "a quoted whole number"),
    (("timeline", 2, "rate"), "1Mbit", "upper-case rate unit"),
    (("timeline", 2, "rate"), "1mbps", "unknown rate unit"),
    (("timeline", 2, "rate"), "100", "a rate without a unit"),
    (("timeline", 3, "seed"), 1, "a seed on a reject fault"),
    (("timeline", 2, "scope", "exclude"), ["tcp:22"], "exclude in a step's scope"),
    (("timeline", 3, "delay"), "10ms", "a parameter a reject fault does not take"),
    (("timeline", 4, "services"), ["api"], "services on a heal step"),
    (("timeline", 6, "delay"), "1s", "a fault parameter on a heal step"),
    (("timeline", 7, "seed"), 1, "seed on an end step"),
    (("timeline", 4, "heal"), "api-slow", "heal not a list"),
    (("timeline", 4, "heal"), [], "heal with no ids"),
    (("timeline", 5, "direction"), "egress", "a partition with a direction"),
    (("timeline", 7, "end"), False, "end: false"),
    (("timeline", 7, "end"), "yes", "end: yes"),
    (("flows", "page", "every"), "fast", "bad period"),
    (("flows", "page", "concurrency"), 10001, "concurrency over 10000"),
    (("flows", "page", "http", "method"), "get", "lower-case method"),
    (("flows", "page", "http", "url"), "ftp://x/", "not an http URL"),
    (("flows", "page", "http", "status"), [99], "status below 100"),
    (("flows", "page", "http", "status"), 200, "status not a list"),
    (("flows", "page", "http", "insecure"), "no", "insecure: no"),
    (("flows", "page", "http", "headers"), {"Bad Name": "x"}, "header name with a space"),
    (("flows", "db-port", "tcp", "address"), "10.99.0.0/24:5432", "a CIDR as a flow address"),
    (("flows", "db-port", "tcp", "address"), "10.99.0.20:1-2", "a port range as a flow address"),
    (("flows", "db-port", "tcp", "address"), "10.99.0.20", "a flow address without a port"),
    (("flows", "ledger", "exec", "exit"), 256, "exit over 255"),
    (("expect", 0, "success_rate"), "95", "a success rate without %"),
    (("expect", 0, "success_rate"), "=> 95%", "a bad operator"),
    (("expect", 0, "p99"), "< 1 s", "a bad latency"),
    (("expect", 3, "errors_are"), ["nope"], "unknown error shape"),
    (("expect", 3, "errors_are"), ["body:"], "empty body shape"),
    (("expect", 3, "errors_are"), ["status:99"], "status shape below 100"),
    (("expect", 4, "no_retry_storm"), {"max_ratio": 0.0001}, "max_ratio below 0.001"),
    (("expect", 4, "no_retry_storm"), {}, "no_retry_storm without max_ratio"),
    (("expect", 6, "invariant"), {}, "invariant without exec"),
]


def check_rejects(args):
    fails = Failures()
    schema = load_schema(args.source_dir)
    validator = jsonschema.Draft7Validator(schema)
    tables = key_tables(args.source_dir)
    fixture = os.path.join(args.source_dir, FIXTURE)
    base = load_yaml(fixture)

    # The fixture itself passes both...
    errs, code = run_validate(args.faultline, [fixture])
    for line in errs[fixture] + errs.get("?", []):
        fails.add("fixture: faultline validate: " + line)
    for e in schema_errors(validator, base):
        fails.add("fixture: schema: " + e)
    # ...and uses every key of every table where that table reads it.
    used = {}
    for path, m in walk_maps(base):
        t = table_of(path)
        if t:
            used.setdefault(t, set()).update(m)
    for t, keys in sorted(tables.items()):
        for k in keys:
            if k not in used.get(t, set()):
                fails.add("%s does not use key '%s' of %s: add it, so the checks below cover it" %
                          (FIXTURE, k, t))
    if fails.items:
        return fails.finish("rejects")

    cases = []
    for path, m in walk_maps(base):
        if table_of(path):
            doc = copy.deepcopy(base)
            node = doc
            for part in path:
                node = node[part]
            node["not_a_key"] = 1
            cases.append(("unknown key in the mapping at /%s" % "/".join(map(str, path)), doc,
                          "unknown key 'not_a_key'", False))
    for path, value, why, *only in BAD_VALUES:
        doc = copy.deepcopy(base)
        set_at(doc, path, value)
        cases.append(("%s (/%s: %r)" % (why, "/".join(map(str, path)), value), doc, None, bool(only)))

    with tempfile.TemporaryDirectory(prefix="fl-docs-") as tmp:
        files = []
        for i, (_, doc, _, _) in enumerate(cases):
            fn = os.path.join(tmp, "case-%03d.yaml" % i)
            with open(fn, "w", encoding="utf-8") as f:
                yaml.safe_dump(doc, f, sort_keys=False, allow_unicode=True)
            files.append(fn)
        errs, _ = run_validate(args.faultline, files)
        for line in errs.get("?", []):
            fails.add("faultline validate: " + line)
        for (what, doc, expect_msg, parser_only), fn in zip(cases, files):
            if not errs.get(fn):
                fails.add("faultline validate accepts: " + what)
            elif expect_msg and not any(expect_msg in line for line in errs[fn]):
                fails.add("faultline validate rejects %s, but not with %r: %s" % (what, expect_msg, errs[fn]))
            if not parser_only and validator.is_valid(doc):
                fails.add("the schema accepts: " + what)
    return fails.finish("rejects (%d broken copies of %s)" % (len(cases), FIXTURE))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--source-dir", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    ap.add_argument("--faultline", help="the faultline binary")
    ap.add_argument("check", choices=["scenarios", "keys", "faults", "rejects", "fault-table"])
    args = ap.parse_args()
    args.source_dir = os.path.abspath(args.source_dir)
    if args.check in ("scenarios", "rejects") and not args.faultline:
        ap.error("--faultline BIN is needed for " + args.check)
    if args.check == "fault-table":
        sys.stdout.write(render_fault_table(args.source_dir))
        return 0
    return {"scenarios": check_scenarios, "keys": check_keys, "faults": check_faults,
            "rejects": check_rejects}[args.check](args)


if __name__ == "__main__":
    sys.exit(main())
