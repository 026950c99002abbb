#!/usr/bin/env bash
# The wire observer in a whole run, where users would put it: a client
# namespace (the flows), a router namespace (the scope: the faults) and a
# server. The capture, in the client's namespace, must show the asked delay
# in the handshakes (a 50 ms delay on the userspace engine: "ok", within its
# tolerance), measure a 20 % loss on UDP requests and answers ("ok"), report
# a fault planted on a port nobody uses as "no effect",
# judge no_retry_storm (a client that reconnects in a tight loop fails it, one
# with exponential backoff passes), and keep a capture file with --pcap.
# Usage: observe.sh FAULTLINE
source "$(dirname "$0")/lib.sh" "$1"
NSC="$NS-c"; NSR="$NS-r"; NSS="$NS-s"
trap 'for n in "$NSC" "$NSR" "$NSS"; do ip netns pids "$n" 2>/dev/null | xargs -r kill -9 2>/dev/null; ip netns del "$n" 2>/dev/null; done; cleanup' EXIT
for n in "$NSC" "$NSR" "$NSS"; do ip netns add "$n"; ip -n "$n" link set lo up; done
ip link add c0 netns "$NSC" type veth peer name rc netns "$NSR"
ip link add s0 netns "$NSS" type veth peer name rs netns "$NSR"
ip -n "$NSC" addr add 10.69.1.2/24 dev c0
ip -n "$NSR" addr add 10.69.1.1/24 dev rc
ip -n "$NSR" addr add 10.69.2.1/24 dev rs
ip -n "$NSS" addr add 10.69.2.2/24 dev s0
ip -n "$NSC" link set c0 up; ip -n "$NSR" link set rc up; ip -n "$NSR" link set rs up; ip -n "$NSS" link set s0 up
ip -n "$NSC" route add default via 10.69.1.1
ip -n "$NSS" route add default via 10.69.2.1
ip netns exec "$NSR" sysctl -qw net.ipv4.ip_forward=1
ip netns exec "$NSS" python3 -m http.server 8080 --bind 10.69.2.2 >/dev/null 2>&1 &
BG_PIDS+=("$!")
ip netns exec "$NSS" python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("10.69.2.2", 7007))
while True:
    d, a = s.recvfrom(2048)
    s.sendto(d, a)
' &
BG_PIDS+=("$!")
for port in 7000 7001; do
  ip netns exec "$NSS" python3 -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.69.2.2", int(sys.argv[1]))); s.listen(512)
while True:
    c, _ = s.accept(); c.close()
' "$port" &
  BG_PIDS+=("$!")
done
for _ in $(seq 1 50); do ip netns exec "$NSC" bash -c 'exec 3<>/dev/tcp/10.69.2.2/8080' 2>/dev/null && break; sleep 0.1; done

# Two clients, run as flows each second (as nobody: the script must be
# readable): each tries to connect for up to 0.9 s; the naive one retries at
# once, the careful one backs off (500 ms, then 1 s: past its budget; two tries). Each has its own
# service, and each service its own fault.
chmod 755 "$WORK"
cat > "$WORK/client.py" <<'PY'
import socket, sys, time
port, backoff = int(sys.argv[1]), sys.argv[2] == "backoff"
t0, wait = time.monotonic(), 0.5
while time.monotonic() - t0 < 0.9:
    try:
        socket.create_connection(("10.69.2.2", port), timeout=0.05).close()
        sys.exit(0)
    except OSError:
        if backoff:
            time.sleep(wait)
            wait *= 2
sys.exit(1)
PY
chmod 644 "$WORK/client.py"
cat > "$WORK/s.yaml" <<YAML
version: 1
name: observe-run
scope: { netns: "$NSR", interfaces: [rc, rs] }
services:
  web: { endpoints: [ "tcp:10.69.2.2:8080" ] }
  api-n: { endpoints: [ "tcp:10.69.2.2:7000" ] }
  api-c: { endpoints: [ "tcp:10.69.2.2:7001" ] }
  nobody-uses: { endpoints: [ "tcp:10.69.2.2:9999" ] }
  echo: { endpoints: [ "udp:10.69.2.2:7007" ] }
timeline:
  - { at: 3s, id: slow, fault: delay, delay: 50ms, services: [web] }
  - { at: 6s, heal: [slow] }
  - { at: 6s, id: misplaced, fault: blackhole, services: [nobody-uses] }
  - { at: 8s, heal: [misplaced] }
  - { at: 8s, id: naive-down, fault: reject, services: [api-n] }
  - { at: 8s, id: careful-down, fault: reject, services: [api-c] }
  - { at: 12s, heal: [naive-down, careful-down] }
  - { at: 12s, id: lossy, fault: loss, loss: 20%, seed: 1, services: [echo] }
  - { at: 15s, heal: [lossy] }
  - { at: 16s, end: true }
flows:
  home: { http: { url: "http://10.69.2.2:8080/" }, every: 100ms, timeout: 1s, netns: "$NSC" }
  naive: { exec: { command: "python3 $WORK/client.py 7000 naive" }, every: 1s, timeout: 2s, netns: "$NSC" }
  careful: { exec: { command: "python3 $WORK/client.py 7001 backoff" }, every: 1s, timeout: 2s, netns: "$NSC" }
  ping: { udp: { address: "10.69.2.2:7007", send: "ping", expect: "ping" }, every: 10ms, timeout: 200ms, concurrency: 4, netns: "$NSC" }
expect:
  - { name: naive-storm, flow: naive, during: naive-down, no_retry_storm: { max_ratio: 3 } }
  - { name: careful-calm, flow: careful, during: careful-down, no_retry_storm: { max_ratio: 3 } }
YAML
"$FL" validate "$WORK/s.yaml" >/dev/null || fail "scenario: $("$FL" validate "$WORK/s.yaml" 2>&1)"
"$FL" run --run-dir "$RUN_DIR" --report "$WORK/rep" --pcap "$WORK/cap.pcap" "$WORK/s.yaml" > "$WORK/out" 2>&1
rc=$?
cat "$WORK/out"
grep -q "^wire: fault 'slow' (delay): ok: " "$WORK/out" || fail "the delay is not seen on the wire"
grep -q "^wire: fault 'misplaced' (blackhole): no effect" "$WORK/out" || fail "the misplaced fault is not reported as no effect"
grep -q "^wire: fault 'lossy' (loss): ok: " "$WORK/out" || fail "the 20 % loss is not measured on the wire within tolerance"
grep -Eq "^naive +naive-storm .*FAIL" "$WORK/out" || fail "the naive client passed no_retry_storm"
grep -Eq "^careful +careful-calm .*PASS" "$WORK/out" || fail "the careful client failed no_retry_storm"
[ $rc -eq 1 ] || fail "expected exit 1 (the naive client's expectation failed), got $rc"
python3 - "$WORK/rep/wire.json" "$WORK/cap.pcap" <<'PY' || fail "bad wire.json or capture file"
import json, struct, sys
w = json.load(open(sys.argv[1]))
assert isinstance(w, dict) and w, "empty wire.json"
magic = struct.unpack("<I", open(sys.argv[2], "rb").read(4))[0]
assert magic in (0xa1b2c3d4, 0xa1b23c4d), hex(magic)
PY
echo "observe: delay and loss seen on the wire, a misplaced fault reported as no effect, a retry storm caught, a capture kept"
