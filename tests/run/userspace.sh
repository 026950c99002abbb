#!/usr/bin/env bash
# `faultline run` on the userspace engine, as a user runs it on a kernel
# without netem: the plan picks the engine, the run starts its child (queue
# bound, capabilities dropped to CAP_NET_ADMIN), the step installs the xt
# NFQUEUE rule, replies from the service are held for the asked delay, the
# heal stops the child, and the namespace ends byte-identical. Then the same
# with a SIGKILL while the fault holds: the child goes with the run (its
# queue unbound, the rule's bypass lets traffic pass), the guardian removes
# the rule within 1 s. Delay accuracy itself is measured by
# integration/fault/delay-userspace; this proves the wiring.
# Usage: userspace.sh FAULTLINE
source "$(dirname "$0")/lib.sh" "$1"
make_topology
ip netns exec "$NS" true
[ -e /proc/net/netfilter/nfnetlink_queue ] || ip netns exec "$NS" test -e /proc/net/netfilter/nfnetlink_queue ||
  { echo "skip: no nfnetlink_queue"; exit 77; }

# A UDP echo server on the peer; the client measures round trips from $NS.
ip netns exec "$NS2" python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("10.66.0.2", 7007))
while True:
    d, a = s.recvfrom(2048)
    s.sendto(d, a)
' &
BG_PIDS+=("$!")
# Median RTT in ms of N echoes, one at a time (a lost one counts as 1 s).
rtt_ms() {
  ip netns exec "$NS" python3 - "$1" <<'PY'
import socket, sys, time
n = int(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(1.0)
v = []
for i in range(n):
    t = time.monotonic()
    s.sendto(str(i).encode(), ("10.66.0.2", 7007))
    try:
        while s.recv(64) != str(i).encode():
            pass
        v.append(time.monotonic() - t)
    except socket.timeout:
        v.append(1.0)
v.sort()
print("%.3f" % (v[len(v) // 2] * 1000))
PY
}
base=$(rtt_ms 50)
awk -v b="$base" 'BEGIN { exit !(b < 5) }' || fail "baseline RTT $base ms (expected a fast veth)"

cat > "$WORK/s.yaml" <<YAML
version: 1
name: userspace-run
scope: { netns: "$NS", interfaces: [veth-a] }
services:
  peer: { endpoints: [ "udp:10.66.0.2:7007" ] }
timeline:
  - { at: 0s, id: slow, fault: delay, delay: 50ms, jitter: 5ms, services: [peer], engine: userspace, seed: 7 }
  - { at: 4s, heal: [slow] }
  - { at: 5s, end: true }
YAML
dump_state > "$WORK/before.txt"
queue_bound() { ip netns exec "$NS" awk '$1 == 61440 { found = 1 } END { exit !found }' /proc/net/netfilter/nfnetlink_queue; }

"$FL" run --run-dir "$RUN_DIR" "$WORK/s.yaml" >"$WORK/out" 2>&1 &
pid=$!; BG_PIDS+=("$pid")
for _ in $(seq 1 500); do grep -q "slow:.*applied" "$WORK/out" && break; sleep 0.02; done
grep -q "slow:.*applied" "$WORK/out" || fail "the fault was not applied within 10 s: $(cat "$WORK/out")"
grep -q "fault 'slow': userspace engine on queue 61440, seed 7$" "$WORK/out" || fail "no userspace engine line: $(cat "$WORK/out")"
queue_bound || fail "queue 61440 is not bound in $NS while the fault holds"
ip netns exec "$NS" nft list chain inet faultline f1 2>/dev/null | grep -q "queue num 61440 bypass" ||
  fail "no steering rule in chain f1: $(ip netns exec "$NS" nft list table inet faultline 2>&1)"
# The engine's child keeps CAP_NET_ADMIN only (bit 12).
child=$(ip netns exec "$NS" awk '$1 == 61440 { print $2 }' /proc/net/netfilter/nfnetlink_queue)
capeff=$(awk '/^CapEff/ { print $2 }' "/proc/$child/status" 2>/dev/null)
[ "$capeff" = "0000000000001000" ] || fail "the engine (pid $child) has capabilities $capeff (expected only CAP_NET_ADMIN)"
during=$(rtt_ms 40)
awk -v d="$during" -v b="$base" 'BEGIN { exit !(d - b > 45 && d - b < 56) }' ||
  fail "RTT during the fault $during ms, baseline $base ms (expected about 50 ms more)"
wait "$pid" || fail "run failed: $(cat "$WORK/out")"
queue_bound && fail "queue 61440 still bound after the run"
cmp -s "$WORK/before.txt" <(dump_state) || fail "$NS not restored: $(diff "$WORK/before.txt" <(dump_state) | head)"
after=$(rtt_ms 20)
awk -v a="$after" 'BEGIN { exit !(a < 5) }' || fail "RTT after the run $after ms"

# SIGKILL while the fault holds: traffic flows again and the rule is gone within 1 s.
"$FL" run --run-dir "$RUN_DIR" "$WORK/s.yaml" >"$WORK/out2" 2>&1 &
pid=$!; BG_PIDS+=("$pid")
for _ in $(seq 1 500); do grep -q "slow:.*applied" "$WORK/out2" && break; sleep 0.02; done
queue_bound || fail "queue 61440 not bound in the second run"
kill -9 "$pid"; wait "$pid" 2>/dev/null
for _ in $(seq 1 20); do queue_bound || break; sleep 0.05; done
queue_bound && fail "the engine outlived the run by more than 1 s"
wait_restored "$WORK/before.txt" 1 || fail "$NS not restored within 1 s of SIGKILL"
after=$(rtt_ms 20)
awk -v a="$after" 'BEGIN { exit !(a < 5) }' || fail "RTT after the SIGKILL $after ms"
echo "userspace: delay $(awk -v d="$during" -v b="$base" 'BEGIN { printf "%.1f", d - b }') ms added (asked 50 ms); restored after the end and after SIGKILL"
