#!/usr/bin/env bash
# A scenario that partitions everything still lets SSH (tcp 22) through,
# asserted with real traffic: port 22 connects, port 80 on the same host
# times out silently.
# Usage: ssh.sh FAULTLINE
source "$(dirname "$0")/lib.sh" "$1"
make_topology
cat > "$WORK/s.yaml" <<YAML
version: 1
name: partition-everything
scope: { netns: "$NS", interfaces: [veth-a] }
services:
  world: { endpoints: [ "0.0.0.0/0", "::/0" ] }
timeline:
  - { at: 0s, id: cut, fault: partition, services: [world] }
  - { at: 3s, end: true }
YAML
# Listeners on 22 and 80 in the peer namespace.
for port in 22 80; do
  ip netns exec "$NS2" python3 -c "
import socket, sys
s = socket.socket(socket.AF_INET6); s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('::', $port)); s.listen(16)
while True: c, _ = s.accept(); c.close()
" &
  BG_PIDS+=("$!")
done
sleep 0.3
probe() { # probe ADDR PORT -> prints ok / timeout / refused
  ip netns exec "$NS" python3 -c "
import socket, sys
fam = socket.AF_INET6 if ':' in '$1' else socket.AF_INET
s = socket.socket(fam); s.settimeout(0.5)
try: s.connect(('$1', $2)); print('ok')
except socket.timeout: print('timeout')
except OSError as e: print('error', e.errno)
"
}
[ "$(probe 10.66.0.2 80)" = ok ] || fail "baseline: port 80 unreachable"
"$FL" run --run-dir "$RUN_DIR" "$WORK/s.yaml" >"$WORK/out" 2>&1 &
BG_PIDS+=("$!")
for _ in $(seq 1 100); do grep -q "applied" "$WORK/out" && break; sleep 0.02; done
for addr in 10.66.0.2 fd66::2; do
  r22=$(probe $addr 22); r80=$(probe $addr 80)
  [ "$r22" = ok ] || fail "SSH to $addr during a total partition: $r22"
  [ "$r80" = timeout ] || fail "port 80 on $addr during the partition: $r80 (expected a silent timeout)"
done
echo "ssh: tcp 22 passes a partition of everything (IPv4 and IPv6); port 80 times out"
