#!/bin/sh
# `faultline run` on a netem delay, SIGKILLed while the fault is on: within
# the bound and without anyone running recover, the guardian has reverted
# everything (state byte-identical to before, the round trip back to the
# link's own, the lock released, `status` empty). The shell is dash: the
# host's tests/run/*.sh need bash and python3, which the guest has not.
# Usage: run-kill.sh FAULTLINE [ITERATIONS]   (FL_VM_KILL_BOUND_MS, default 1000)
set -u
FL=$1
iterations=${2:-3}
bound_ms=${FL_VM_KILL_BOUND_MS:-1000}
NS=flvm-$$
NS2=flvm-$$-peer
WORK=$(mktemp -d)
RUN_DIR=$WORK/run
pid=

cleanup() {
	[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
	sleep 0.2
	"$FL" recover --run-dir "$RUN_DIR" >/dev/null 2>&1
	ip netns del "$NS" 2>/dev/null
	ip netns del "$NS2" 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT
fail() {
	echo "run-kill: FAIL: $*"
	exit 1
}
now_ms() { awk '{ printf "%d\n", $1 * 1000 }' /proc/uptime; }

ip netns add "$NS" && ip netns add "$NS2" || fail "ip netns add"
ip link add veth-a netns "$NS" type veth peer name veth-b netns "$NS2"
ip -n "$NS" addr add 10.66.0.1/24 dev veth-a
ip -n "$NS2" addr add 10.66.0.2/24 dev veth-b
ip -n "$NS" addr add fd66::1/64 dev veth-a nodad
ip -n "$NS2" addr add fd66::2/64 dev veth-b nodad
for n in "$NS" "$NS2"; do ip -n "$n" link set lo up; done
ip -n "$NS" link set veth-a up
ip -n "$NS2" link set veth-b up
# Someone else's root qdisc, which must come through untouched.
tc -n "$NS" qdisc add dev veth-a root handle 1: htb default 10
tc -n "$NS" class add dev veth-a parent 1: classid 1:10 htb rate 10gbit

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

# The smallest of N pings' round trips, in whole ms (busybox ping).
min_rtt() {
	ip netns exec "$NS" ping -q -c "$2" -i 0.2 -W 2 "$1" 2>&1 |
		sed -n 's|.*min/avg/max = \([0-9.]*\)/.*|\1|p' | cut -d. -f1
}

cat >"$WORK/s.yaml" <<YAML
version: 1
name: vm-run-kill
scope: { netns: "$NS", interfaces: [veth-a] }
services:
  peer: { endpoints: [ "10.66.0.2", "fd66::2" ] }
timeline:
  - { at: 0s, id: slow, fault: delay, delay: 200ms, services: [peer], engine: netem }
  - { at: 60s, end: true }
YAML
dump_state >"$WORK/before.txt"
base4=$(min_rtt 10.66.0.2 3)
[ -n "$base4" ] && [ "$base4" -lt 100 ] || fail "no baseline: ping 10.66.0.2 gives '$base4' ms"
"$FL" plan "$WORK/s.yaml" | grep -q netem || fail "the plan does not use netem: $("$FL" plan "$WORK/s.yaml" 2>&1)"

i=0
while [ "$i" -lt "$iterations" ]; do
	i=$((i + 1))
	"$FL" run --run-dir "$RUN_DIR" "$WORK/s.yaml" >"$WORK/run.out" 2>&1 &
	pid=$!
	# Until the fault is on: its IFB exists with a netem root.
	t=0
	until tc -n "$NS" qdisc show 2>/dev/null | grep -q "netem fa00:.*delay 200ms"; do
		t=$((t + 1))
		[ "$t" -le 300 ] || fail "iteration $i: no netem qdisc after 30 s: $(cat "$WORK/run.out")"
		kill -0 "$pid" 2>/dev/null || fail "iteration $i: faultline run exited: $(cat "$WORK/run.out")"
		sleep 0.1
	done
	on4=$(min_rtt 10.66.0.2 3)
	on6=$(min_rtt fd66::2 3)
	[ -n "$on4" ] && [ "$on4" -ge 200 ] && [ -n "$on6" ] && [ "$on6" -ge 200 ] ||
		fail "iteration $i: fault on, but the round trip is ${on4:-?} ms (IPv4), ${on6:-?} ms (IPv6): expected 200 ms more"
	lock=$(ls "$RUN_DIR"/net-*.lock 2>/dev/null | head -1)
	[ -n "$lock" ] || fail "iteration $i: no lock file in $RUN_DIR while the run holds the namespace"
	kill -9 "$pid"
	killed=$(now_ms)
	wait "$pid" 2>/dev/null
	pid=
	# The guardian unlinks the run's lock once it has reverted everything
	# (guardian.c): polled with the shell's own test, not a dump, whose
	# ip/tc/nft processes take a while each in an emulated guest.
	restored=
	while [ $(($(now_ms) - killed)) -le $((bound_ms * 5)) ]; do
		if [ ! -e "$lock" ]; then
			restored=$(($(now_ms) - killed))
			break
		fi
		sleep 0.01
	done
	[ -n "$restored" ] || fail "iteration $i: the guardian had not finished $((bound_ms * 5)) ms after SIGKILL"
	dump_state >"$WORK/now.txt"
	cmp -s "$WORK/before.txt" "$WORK/now.txt" || { diff "$WORK/before.txt" "$WORK/now.txt" | head -20; fail "iteration $i: the guardian finished, but the state differs from before"; }
	[ "$restored" -le "$bound_ms" ] || fail "iteration $i: restored only $restored ms after SIGKILL (bound $bound_ms ms)"
	after=$(min_rtt 10.66.0.2 3)
	[ -n "$after" ] && [ "$after" -lt 100 ] || fail "iteration $i: round trip still ${after:-?} ms after the restore"
	echo "run-kill: iteration $i: delay on (min round trip ${on4} ms IPv4, ${on6} ms IPv6; ${base4} ms before), SIGKILL, the guardian done within ${restored} ms, state byte-identical, round trip ${after} ms after"
done
"$FL" status --run-dir "$RUN_DIR" | grep -q "no faults" || fail "status is not empty: $("$FL" status --run-dir "$RUN_DIR" 2>&1)"
echo "run-kill: PASS ($iterations SIGKILLs mid-fault, each restored by the guardian)"
