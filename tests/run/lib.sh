# Shared by the tests/run/*.sh scripts: a namespace of the test's own with a
# veth pair, state dumps to compare, and cleanup on every exit path.
# Usage: source lib.sh FAULTLINE_BINARY (sets FL, NS, RUN_DIR, WORK).
set -uo pipefail
FL=$1
[ "$(id -u)" -eq 0 ] || { echo "skip: needs root (network namespaces)"; exit 77; }
ip netns add "fl-probe-$$" 2>/dev/null || { echo "skip: ip netns unusable"; exit 77; }
ip netns del "fl-probe-$$"

NS="flrun-$$-$RANDOM"
NS2="$NS-peer"
WORK=$(mktemp -d)
RUN_DIR="$WORK/run"
declare -a BG_PIDS=()

cleanup() {
  for p in "${BG_PIDS[@]:-}"; do [ -n "$p" ] && kill -9 "$p" 2>/dev/null; done
  # Guardians of killed runs may still be reverting: give them a moment, then recover.
  sleep 0.2
  "$FL" recover --run-dir "$RUN_DIR" >/dev/null 2>&1
  ip netns pids "$NS" 2>/dev/null | xargs -r kill -9 2>/dev/null
  ip netns pids "$NS2" 2>/dev/null | xargs -r kill -9 2>/dev/null
  ip netns del "$NS" 2>/dev/null
  ip netns del "$NS2" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

# A namespace with one veth to a peer namespace, IPv4 and IPv6, and a
# non-default root qdisc that must survive every run untouched.
make_topology() {
  ip netns add "$NS"
  ip netns add "$NS2"
  ip link add veth-a netns "$NS" type veth peer name veth-b netns "$NS2"
  ip -n "$NS" addr add 10.66.0.1/24 dev veth-a
  ip -n "$NS2" addr add 10.66.0.2/24 dev veth-b
  ip -n "$NS" addr add fd66::1/64 dev veth-a nodad
  ip -n "$NS2" addr add fd66::2/64 dev veth-b nodad
  for n in "$NS" "$NS2"; do ip -n "$n" link set lo up; done
  ip -n "$NS" link set veth-a up
  ip -n "$NS2" link set veth-b up
  tc -n "$NS" qdisc add dev veth-a root handle 1: htb default 10
  tc -n "$NS" class add dev veth-a parent 1: classid 1:10 htb rate 10gbit
}

# Everything faultline could change in the namespace, without counters.
dump_state() {
  {
    ip -n "$NS" -d link show | sed -E 's/ (promiscuity|minmtu|maxmtu|numtxqueues|numrxqueues|gso_max_size|gso_max_segs|gro_max_size|tso_max_size|tso_max_segs|gso_ipv4_max_size|gro_ipv4_max_size|parentbus|parentdev) [^ ]+//g'
    tc -n "$NS" qdisc show
    tc -n "$NS" class show dev veth-a
    for hook in egress ingress; do
      echo "filters $hook:"
      tc -n "$NS" filter show dev veth-a "$hook" 2>/dev/null
    done
    ip netns exec "$NS" nft list ruleset
  } 2>&1
}

# Polls until the namespace's state equals $1 (a file), for up to $2 seconds.
wait_restored() {
  local want=$1 secs=$2 t=0
  while [ "$t" -lt $((secs * 20)) ]; do
    dump_state > "$WORK/now.txt"
    cmp -s "$want" "$WORK/now.txt" && return 0
    sleep 0.05
    t=$((t + 1))
  done
  diff "$want" "$WORK/now.txt" | head -20
  return 1
}

fail() { echo "FAIL: $*"; exit 1; }

# The runs' scenario: faults of three engines on many targets, so applying
# takes a while and a SIGKILL can land anywhere (applying, holding, reverting).
# Usage: write_scenario FILE N_TARGETS TIMESCALE
write_scenario() {
  local targets
  targets=$(python3 -c "print(', '.join('\"10.%d.%d.%d\"' % (100 + i // 65536, (i // 256) % 256, i % 256) for i in range(1, $2 + 1)))")
  cat > "$1" <<YAML
version: 1
name: run-test
scope: { netns: "$NS", interfaces: [veth-a] }
timescale: $3
services:
  many:   { endpoints: [ $targets ] }
  peer:   { endpoints: [ "10.66.0.2:80", "[fd66::2]:80" ] }
  refuse: { endpoints: [ "tcp:10.66.0.2:81" ] }
timeline:
  - { at: 0s, id: cut, fault: partition, services: [many] }
  - { at: 0s, id: squeeze, fault: rate, rate: 10mbit, services: [peer], direction: both }
  - { at: 0s, id: refuse, fault: reject, services: [refuse] }
  - { at: 1s, heal: [squeeze] }
  - { at: 2s, id: squeeze2, fault: rate, rate: 5mbit, services: [peer] }
  - { at: 3s, end: true }
YAML
}
