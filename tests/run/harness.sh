#!/usr/bin/env bash
# `faultline run` with flows and expectations, as a user runs it: the
# harness probes from the namespaces the flows name, as an unprivileged user
# (an exec flow proves its uid and capabilities), a flow in another
# namespace gets its sockets from a factory there, the verdicts decide the
# exit code (1: an expectation failed, 0: all held), and --report writes
# report.json (valid against docs/report.schema.json), junit.xml and
# report.html, creating the report directory's parents as mkdir -p does.
# The report's times share the runner's origin (a step is reported applied
# after the runner began and finished applying it, not before), and a probe
# due at a step's instant starts once that step is in place.
# Bad input about the harness (a flow's missing namespace,
# --user root) exits 2 before the kernel is touched.
# Usage: harness.sh FAULTLINE
source "$(dirname "$0")/lib.sh" "$1"
make_topology
src=$(cd "$(dirname "$0")/../.." && pwd)

# HTTP on the peer, reached from $NS; a TCP listener in $NS2 itself.
ip netns exec "$NS2" python3 -m http.server 8080 --bind 10.66.0.2 >/dev/null 2>&1 &
BG_PIDS+=("$!")
for _ in $(seq 1 50); do ip netns exec "$NS" bash -c 'exec 3<>/dev/tcp/10.66.0.2/8080' 2>/dev/null && break; sleep 0.1; done

scenario() { # $1: success_rate asked of `home` during the cut
  cat <<YAML
version: 1
name: harness-run
scope: { netns: "$NS", interfaces: [veth-a] }
services:
  web: { endpoints: [ "tcp:10.66.0.2:8080" ] }
timeline:
  - { at: 1500ms, id: cut, fault: partition, services: [web] }
  - { at: 3s, heal: [cut] }
  - { at: 4s, end: true }
flows:
  home:
    http: { url: "http://10.66.0.2:8080/" }
    every: 50ms
    timeout: 1s
    concurrency: 8
    netns: "$NS"
  who:
    exec: { command: "echo uid=\$(id -u); grep CapEff /proc/self/status", stdout_contains: "uid=65534" }
    every: 500ms
    netns: "$NS"
  peer-local:
    tcp: { address: "10.66.0.2:8080" }
    every: 100ms
    netns: "$NS2"
expect:
  - { flow: home, before: first-fault, success_rate: ">= 95%" }
  - { flow: home, during: cut, success_rate: "$1" }
  - { flow: home, after: cut, recovers_within: 2s }
  - { flow: who, during: always, success_rate: "100%" }
  - { flow: peer-local, during: cut, success_rate: "100%" }
YAML
}
dump_state > "$WORK/before.txt"

# 1. The partition fails what asks for service during the cut: exit 1.
scenario ">= 90%" > "$WORK/fail.yaml"
"$FL" run --run-dir "$RUN_DIR" --report "$WORK/out/rep" --events "$WORK/events" "$WORK/fail.yaml" > "$WORK/out1" 2>&1
rc=$?
[ $rc -eq 1 ] || fail "expected exit 1 (an expectation failed), got $rc: $(cat "$WORK/out1")"
grep -q "^home .*during cut.*FAIL" "$WORK/out1" || fail "no FAIL for home during cut: $(cat "$WORK/out1")"
grep -q "^who .*PASS" "$WORK/out1" || fail "the exec flow did not run as nobody: $(cat "$WORK/out1")"
grep -q "^peer-local .*PASS" "$WORK/out1" || fail "the flow in $NS2 failed: $(cat "$WORK/out1")"
cmp -s "$WORK/before.txt" <(dump_state) || fail "$NS not restored"
python3 - "$WORK/out/rep" "$src/docs/report.schema.json" "$WORK/events" <<'PY' || fail "bad reports"
import json, sys, xml.etree.ElementTree as ET
import jsonschema
d, schema = sys.argv[1], json.load(open(sys.argv[2]))
doc = json.load(open(d + "/report.json"))
jsonschema.validate(doc, schema)
# One origin: the runner's. Its events count from it too.
events = {e["id"]: e for e in map(json.loads, open(sys.argv[3])) if e["event"] == "step"}
steps = {st["id"]: st for st in doc["steps"]}
for sid, ev in events.items():
    st = steps[sid]
    # applied: the instant it took effect, as the runner measured it
    assert st["applied_ns"] == ev["started_ns"] + ev["apply_ns"], (sid, ev, st)
home = next(i for i, f in enumerate(doc["flows"]) if f["name"] == "home")
at_step = [p for p in doc["probes"] if p["flow"] == home and
           any(p["scheduled_ns"] == st["scheduled_ns"] for st in doc["steps"])]
assert len(at_step) >= 2, at_step  # 1.5 s and 3 s (4 s: after the end, the grace)
for p in at_step:
    st = next(st for st in doc["steps"] if st["scheduled_ns"] == p["scheduled_ns"])
    assert p["start_ns"] >= st["applied_ns"], (p, st)
# The exec flow's probes carry what the command printed: nobody, no capability.
root = ET.parse(d + "/junit.xml").getroot()
cases = root.iter("testcase")
failed = [c.get("name") for c in cases if c.find("failure") is not None]
assert len(failed) == 1 and "home" in failed[0], failed
html = open(d + "/report.html").read()
assert "<script" in html and "http://" not in html.split("<body", 1)[1].split("10.66.0.2")[0], "external reference"
PY

# 2. The same run asking what a partition allows: every expectation holds, exit 0.
# Meanwhile, the harness's processes (nobody's) hold nothing of the run's:
# no journal, no lock, no netlink socket opened with privileges.
scenario "<= 10%" > "$WORK/pass.yaml"
"$FL" run --run-dir "$RUN_DIR" "$WORK/pass.yaml" > "$WORK/out2" 2>&1 &
run=$!
BG_PIDS+=("$run")
for _ in $(seq 1 100); do pgrep -u nobody -f "faultline run" >/dev/null && break; sleep 0.05; done
sleep 0.5
hp=$(pgrep -u nobody -f "faultline run")
[ -n "$hp" ] || fail "no harness process running as nobody"
for p in $hp; do
  links=$(for l in /proc/"$p"/fd/*; do readlink "$l"; done 2>/dev/null)
  echo "$links" | grep -Eq '\.(lock|journal)$' && fail "harness process $p holds the run's journal or lock: $links"
  for i in $(echo "$links" | sed -n 's/^socket:\[\([0-9]*\)\]$/\1/p'); do
    awk -v i="$i" 'NR > 1 && $NF == i { found = 1 } END { exit !found }' /proc/"$p"/net/netlink &&
      fail "harness process $p holds a netlink socket (inode $i)"
  done
done
wait "$run"
rc=$?
[ $rc -eq 0 ] || fail "expected exit 0, got $rc: $(cat "$WORK/out2")"

# 3. Bad input about the harness: exit 2, nothing touched.
sed "s|netns: \"$NS2\"|netns: \"no-such-ns-$$\"|" "$WORK/pass.yaml" > "$WORK/badns.yaml"
"$FL" run --run-dir "$RUN_DIR" "$WORK/badns.yaml" > "$WORK/out3" 2>&1
rc=$?
[ $rc -eq 2 ] || fail "a missing flow namespace: expected exit 2, got $rc"
grep -Eq "badns.yaml:[0-9]+:[0-9]+: error: flow 'peer-local': netns 'no-such-ns-$$'" "$WORK/out3" ||
  fail "no located error: $(cat "$WORK/out3")"
"$FL" run --run-dir "$RUN_DIR" --user root "$WORK/pass.yaml" > "$WORK/out4" 2>&1
rc=$?
[ $rc -eq 2 ] && grep -q "is root" "$WORK/out4" || fail "--user root: expected exit 2, got $rc: $(cat "$WORK/out4")"
cmp -s "$WORK/before.txt" <(dump_state) || fail "$NS changed by a refused run"
echo "harness: verdicts decide the exit code; probes ran as nobody, one through a socket factory; reports valid"
