#!/bin/sh
# harness/reports: the real flows run writes its three reports, then
#   report.json   validates against docs/report.schema.json, and its indexes hold
#   junit.xml     is well-formed XML with one testcase per expectation
#   report.html   renders in headless Chromium: a screenshot, and the DOM after
#                 the scripts ran has one plot per flow, fault windows, points,
#                 one verdict per expectation, and the script's success marker
# Usage: check-reports.sh HARNESS_TEST_FLOWS SCHEMA OUTDIR
# Exit 77 (skip) only when Chromium is not installed.
set -eu

flows=$1 schema=$2 out=$3
py=/usr/bin/python3
[ -x "$py" ] || py=python3

rm -rf "$out"
mkdir -p "$out"
"$flows" --write "$out"

"$py" - "$schema" "$out" <<'PY'
import json, sys, xml.etree.ElementTree as ET
import jsonschema

schema_path, out = sys.argv[1], sys.argv[2]
schema = json.load(open(schema_path))
report = json.load(open(out + "/report.json"))
jsonschema.Draft7Validator.check_schema(schema)
jsonschema.validate(report, schema, cls=jsonschema.Draft7Validator)

nf, ns, nx = len(report["flows"]), len(report["phase_sets"]), len(report["expectations"])
assert nf == 15 and nx == 21, (nf, nx)
assert len(report["probes"]) > 200, len(report["probes"])
for p in report["probes"]:
    assert p["flow"] < nf and p["phase_set"] < ns, p
    assert p["start_ns"] >= p["scheduled_ns"], p
    assert p["scheduled_ns"] % report["flows"][p["flow"]]["every_ns"] == 0, p
for r in report["invariants"]:
    assert r["expectation"] < nx, r
for x in report["expectations"]:
    pool = report["probes"] if x["worst"]["in"] == "probes" else report["invariants"]
    assert all(i < len(pool) for i in x["worst"]["index"]), x
    assert x["samples"] == x["ok"] + x["failed"], x
verdicts = [x["verdict"] for x in report["expectations"]]
assert verdicts.count("FAIL") == 2 and verdicts.count("SKIPPED") == 1, verdicts
assert report["verdict"] == "FAIL" and report["exit_status"] == 1
assert report["counts"] == {"pass": 18, "fail": 2, "skipped": 1}, report["counts"]

tree = ET.parse(out + "/junit.xml")
root = tree.getroot()
assert root.tag == "testsuites", root.tag
suites = root.findall("testsuite")
assert len(suites) == 1 and suites[0].get("name") == report["scenario"]["name"]
cases = suites[0].findall("testcase")
assert len(cases) == nx, len(cases)
assert len(suites[0].findall("testcase/failure")) == int(suites[0].get("failures")) == 2
assert len(suites[0].findall("testcase/skipped")) == int(suites[0].get("skipped")) == 1
for c, x in zip(cases, report["expectations"]):
    assert c.get("name") == x["name"], (c.get("name"), x["name"])
    f = c.find("failure")
    assert (f is not None) == (x["verdict"] == "FAIL")
    if f is not None:
        assert f.get("message") == x["reason"] and "window" in f.text
print("report.json valid (%d probes), junit.xml well-formed (%d testcases)" % (len(report["probes"]), len(cases)))
PY

browser=""
for b in chromium chromium-browser google-chrome; do
	if command -v "$b" >/dev/null 2>&1; then
		browser=$b
		break
	fi
done
if [ -z "$browser" ]; then
	echo "check-reports: no chromium: report.html not rendered (apt-get install chromium)"
	exit 77
fi

url="file://$(cd "$out" && pwd)/report.html"
run_browser() {
	# A profile of our own: nothing from (or to) the user's browser.
	"$browser" --headless --no-sandbox --disable-gpu --no-first-run --disable-extensions \
		--user-data-dir="$out/profile" --window-size=1200,900 --virtual-time-budget=5000 \
		"$@" "$url" 2>"$out/chromium.log"
}
run_browser --screenshot="$out/report.png" >/dev/null
[ -s "$out/report.png" ] || { echo "check-reports: no screenshot"; cat "$out/chromium.log"; exit 1; }
run_browser --dump-dom >"$out/dom.html"

"$py" - "$out" <<'PY'
import json, re, sys
out = sys.argv[1]
dom = open(out + "/dom.html").read()
report = json.load(open(out + "/report.json"))
body = re.search(r"<body[^>]*>", dom)
assert body, "no <body> in the DOM dump"
assert 'data-fl-error' not in body.group(0), body.group(0)
assert 'data-fl-done="ok"' in body.group(0), "the report's script did not finish: " + body.group(0)
plots = re.findall(r'<svg class="fl-plot"[^>]*data-flow="([^"]+)"', dom)
assert plots == [f["name"] for f in report["flows"]], plots
faults = re.findall(r'<rect class="fl-fault"[^>]*data-step="api-down"', dom)
assert len(faults) == len(plots), len(faults)
labels = re.findall(r'<text class="fl-fault-label"[^>]*>([^<]*)<', dom)
assert labels == ["api-down"] * len(plots), labels
points = dom.count('<circle class="fl-point')
assert points >= len(report["probes"]) - sum(p["outcome"] == "skipped" for p in report["probes"]), points
assert dom.count('class="fl-rate"') >= 10
verdicts = re.findall(r'data-verdict="(PASS|FAIL|SKIPPED)"', dom)
assert verdicts.count("FAIL") == 2 and len(verdicts) == len(report["expectations"]), verdicts
assert "latency (log)" in dom and "time since start (s)" in dom
print("report.html drawn: %d plots, %d points, %d verdicts" % (len(plots), points, len(verdicts)))
PY
