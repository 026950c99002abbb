#!/usr/bin/env bash
# One run, two namespaces (two "containers" on one host): the scenario's
# scope and a step's own scope. Each gets its faults, its journal and its
# guardian; afterwards both are exactly as before, also after a SIGKILL.
# Usage: multi.sh FAULTLINE
source "$(dirname "$0")/lib.sh" "$1"
make_topology
NSB="$NS-b"
NSB2="$NS-b2"
ip netns add "$NSB"; ip netns add "$NSB2"
ip link add veth-c netns "$NSB" type veth peer name veth-d netns "$NSB2"
ip -n "$NSB" addr add 10.67.0.1/24 dev veth-c
ip -n "$NSB2" addr add 10.67.0.2/24 dev veth-d
ip -n "$NSB" link set veth-c up; ip -n "$NSB2" link set veth-d up
trap 'ip netns del "$NSB" 2>/dev/null; ip netns del "$NSB2" 2>/dev/null; cleanup' EXIT
dump_b() { ip -n "$NSB" -d link show | sed -E 's/ (promiscuity|minmtu|maxmtu|numtxqueues|numrxqueues|gso_max_size|gso_max_segs|gro_max_size|tso_max_size|tso_max_segs|gso_ipv4_max_size|gro_ipv4_max_size|parentbus|parentdev) [^ ]+//g'; tc -n "$NSB" qdisc show; ip netns exec "$NSB" nft list ruleset; }

cat > "$WORK/s.yaml" <<YAML
version: 1
name: two-containers
scope: { netns: "$NS", interfaces: [veth-a] }
services:
  a: { endpoints: [ "10.66.0.2:80" ] }
  b: { endpoints: [ "10.67.0.2:80" ] }
timeline:
  - { at: 0s, id: cut-a, fault: partition, services: [a] }
  - { at: 0s, id: slow-b, fault: rate, rate: 1mbit, services: [b], scope: { netns: "/run/netns/$NSB" } }
  - { at: 1s, id: b-back, heal: [slow-b] }
  - { at: 2s, end: true }
YAML
dump_state > "$WORK/before-a.txt"; dump_b > "$WORK/before-b.txt"
"$FL" plan "$WORK/s.yaml" > "$WORK/plan.txt" || fail "plan: $(cat "$WORK/plan.txt")"
grep -q "nsenter --net=/run/netns/$NSB tc qdisc add dev flifb2" "$WORK/plan.txt" || fail "the step's scope is not in the plan"

"$FL" run --run-dir "$RUN_DIR" --events "$WORK/ev.json" "$WORK/s.yaml" >"$WORK/out" 2>&1 &
pid=$!; BG_PIDS=("$pid")
for _ in $(seq 1 100); do grep -q "slow-b.*applied" "$WORK/out" && break; sleep 0.02; done
ip netns exec "$NS" nft list tables | grep -q "netdev faultline" || fail "no partition table in $NS"
ip -n "$NSB" link show flifb2 >/dev/null 2>&1 || fail "no IFB in $NSB"
[ "$(ls "$RUN_DIR"/*.journal | wc -l)" -eq 2 ] || fail "expected two journals: $(ls "$RUN_DIR")"
# The heal is in effect once its fault's node is gone; its entries and IFB are deleted right
# after (tidy_ns), before the step is reported: gone by the time it is.
for _ in $(seq 1 150); do grep -q "b-back.*applied" "$WORK/out" && break; sleep 0.02; done
grep -q "b-back.*applied" "$WORK/out" || fail "the heal was not reported: $(cat "$WORK/out")"
! ip -n "$NSB" link show flifb2 >/dev/null 2>&1 || fail "the healed fault's IFB is still there"
wait "$pid" || fail "run failed: $(cat "$WORK/out")"
python3 - "$WORK/ev.json" <<'PY' || fail "events: $(cat "$WORK/ev.json")"
import json, sys
st = {e["id"]: e for e in map(json.loads, open(sys.argv[1])) if e["event"] == "step"}
# The heal was in effect once its fault's node was gone; then it deleted
# its entries (TCP and UDP to b) and its IFB; the end, once b's gate was
# closed and a's table gone, b's two priorities (hash and pass) and its
# clsact; the faults nothing.
assert st["b-back"]["tidied"] == 3, st["b-back"]
assert st["step-4"]["tidied"] == 3, st["step-4"]
assert all(e["tidied"] == 0 for k, e in st.items() if k not in ("b-back", "step-4")), st
PY
cmp -s "$WORK/before-a.txt" <(dump_state) || fail "$NS not restored"
cmp -s "$WORK/before-b.txt" <(dump_b) || fail "$NSB not restored"

# Killed mid-run: both guardians restore their namespace.
"$FL" run --run-dir "$RUN_DIR" "$WORK/s.yaml" >"$WORK/out2" 2>&1 &
pid=$!; BG_PIDS=("$pid")
for _ in $(seq 1 100); do grep -q "slow-b.*applied" "$WORK/out2" && break; sleep 0.02; done
kill -9 "$pid"; wait "$pid" 2>/dev/null
wait_restored "$WORK/before-a.txt" 1 || fail "$NS not restored within 1 s of SIGKILL"
for _ in $(seq 1 20); do cmp -s "$WORK/before-b.txt" <(dump_b) && break; sleep 0.05; done
cmp -s "$WORK/before-b.txt" <(dump_b) || fail "$NSB not restored within 1 s of SIGKILL"
echo "multi: two namespaces faulted in one run and restored, also after SIGKILL"
