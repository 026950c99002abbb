#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Applies the text plan of one scenario for real, step by step, in a
# throw-away network namespace, and checks that the namespace ends exactly as
# it began:
#
#   apply.sh FAULTLINE tests/data/plan/exec/NAME.yaml    (ctest plan/apply/NAME)
#
# Needs root and a working `ip netns`; exits 77 (skip) otherwise.
#
# The scenario names its namespace `netns: ${FL_TEST_NETNS}` and its devices
# in scope.interfaces. This script makes a uniquely named namespace (NS) and a
# peer namespace (PEER), joined by one veth pair per device, both ends named
# after the device: in NS, device i has 10.99.i.1/24 and fd99:i::1/64; in
# PEER, 10.99.i.2 and fd99:i::2. The plan comes from a plain `faultline plan`,
# which probes this kernel, so the engines are the ones this machine would
# use; scenarios use only kinds whose text runs on stock kernels (partition,
# blackhole, reject, loss alone, rate alone).
#
# Two passes over the same plan:
#   pristine  NS as created: the plan text runs verbatim with `sh -e`.
#   foreign   NS also holds state that is not ours and must survive untouched:
#             an HTB root qdisc with a class, a clsact with u32 filters on
#             both hooks, and nft tables (inet and netdev) of another owner.
#             The plan annotates its clsact commands ("unless it has one: then
#             it is shared, and never removed", "only if faultline added it");
#             the text cannot express that condition, so this pass runs those
#             two lines as annotated and everything else verbatim.
# In each pass, after every step: each fault added in that step has its
# objects (nft chain f<N> and its map elements; IFB flifb<N> with its root
# qdisc and each u32 redirect entry), each fault healed has none left, and
# after the last step nothing of ours remains and a dump of NS (ip -d link,
# addresses, routes, tc qdiscs/classes/filters of every device and hook, nft
# ruleset; no counters) equals the dump taken before the first step, byte for
# byte.
#
# FL_APPLY_VERBOSE=1 prints each dump taken before a pass.
#
# Traffic, where the scenario asks for it with comment lines:
#   # listen: PORT                                  a TCP listener in PEER
#   # expect after STEP: connect HOST PORT = open|refused|timeout
# run from NS after step STEP (an id; "start" is before the first step), in
# the pristine pass. Needs python3 (listener) and bash (/dev/tcp); skipped
# without them.
set -u

if [ $# -ne 2 ]; then
	echo "usage: apply.sh FAULTLINE SCENARIO.yaml" >&2
	exit 2
fi
faultline=$1
scenario=$2

if [ "$(id -u)" != 0 ]; then
	echo "SKIP: needs root (network namespaces, tc, nft)"
	exit 77
fi
for tool in ip tc nft awk; do
	command -v $tool >/dev/null || {
		echo "SKIP: $tool missing"
		exit 77
	}
done

suffix=$$-$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')
NS=fl-apply-$suffix
PEER=fl-peer-$suffix
tmp=$(mktemp -d "${TMPDIR:-/tmp}/fl-apply.XXXXXX") || exit 1
pids=

cleanup() {
	for p in $pids; do
		kill "$p" 2>/dev/null
	done
	ip netns del "$NS" 2>/dev/null
	ip netns del "$PEER" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

if ! ip netns add "$NS" 2>"$tmp/err"; then
	echo "SKIP: ip netns add does not work here: $(cat "$tmp/err")"
	exit 77
fi
ip netns add "$PEER" || exit 1

fail() {
	echo "FAIL: $*"
	exit 1
}

in_ns() {
	ip netns exec "$NS" "$@"
}

# ---- the plan -----------------------------------------------------------------------------

export FL_TEST_NETNS="$NS"
env -u SSH_CONNECTION "$faultline" plan "$scenario" >"$tmp/plan.sh" 2>"$tmp/err" ||
	fail "faultline plan $scenario: $(cat "$tmp/err")"
grep -q "^# scope: netns $NS;" "$tmp/plan.sh" ||
	fail "the scenario must say netns: \${FL_TEST_NETNS}"
devices=$(sed -n 's/^# scope: netns [^;]*; devices: //p' "$tmp/plan.sh")
case $devices in
'' | *'$DEV'*) fail "the scenario must list its devices in scope.interfaces" ;;
esac
echo "namespace $NS, devices: $devices"
sed -n 's/^# kernel/kernel/p' "$tmp/plan.sh"

# Step files: plan.sh split at each "# [" line; step N (1-based) is scenario step N.
awk -v dir="$tmp" '
	/^# \[/ { n++ }
	n > 0 { print > (dir "/step-" n ".sh") }
	END { print n > (dir "/n-steps") }
' "$tmp/plan.sh"
n_steps=$(cat "$tmp/n-steps")
[ "$n_steps" -gt 0 ] || fail "no steps in the plan"

# ---- the namespaces ---------------------------------------------------------------------------

# No duplicate address detection: no address may change state while we compare dumps.
for ns in "$NS" "$PEER"; do
	ip netns exec "$ns" sh -c 'echo 0 >/proc/sys/net/ipv6/conf/all/accept_dad &&
		echo 0 >/proc/sys/net/ipv6/conf/default/accept_dad' || fail "cannot turn off DAD in $ns"
done
i=0
for dev in $devices; do
	ip -n "$NS" link add "$dev" type veth peer name "$dev" netns "$PEER" ||
		fail "cannot make veth $dev"
	ip -n "$NS" addr add 10.99.$i.1/24 dev "$dev"
	ip -n "$NS" addr add fd99:$i::1/64 dev "$dev" nodad
	ip -n "$PEER" addr add 10.99.$i.2/24 dev "$dev"
	ip -n "$PEER" addr add fd99:$i::2/64 dev "$dev" nodad
	ip -n "$NS" link set "$dev" up
	ip -n "$PEER" link set "$dev" up
	i=$((i + 1))
done
ip -n "$NS" link set lo up
ip -n "$PEER" link set lo up

# State not ours, which the plan must leave exactly as it is.
add_foreign_state() {
	for dev in $devices; do
		in_ns tc qdisc add dev "$dev" root handle 1: htb default 10 &&
			in_ns tc class add dev "$dev" parent 1: classid 1:10 htb rate 1gbit quantum 1514 &&
			in_ns tc qdisc add dev "$dev" clsact &&
			in_ns tc filter add dev "$dev" ingress protocol ip prio 1 u32 \
				match ip dst 192.0.2.1/32 flowid 1:10 &&
			in_ns tc filter add dev "$dev" egress protocol ipv6 prio 7 u32 \
				match ip6 dst 2001:db8::1/128 flowid 1:10 ||
			fail "cannot add foreign tc state on $dev"
	done
	first=${devices%% *}
	in_ns nft -f - <<EOF || fail "cannot add foreign nft state"
table inet foreign {
	set blocked { type ipv4_addr; elements = { 192.0.2.1 } }
	chain out { type filter hook output priority 0; ip daddr @blocked drop; }
}
table netdev foreign {
	chain in { type filter hook ingress device "$first" priority -500; ip saddr 192.0.2.1 drop; }
}
EOF
}

# Everything about NS that a plan could change, without counters.
dump() {
	in_ns sh -c '
		ip -d link show
		ip addr show
		ip route show table all
		for dev in $(ls /sys/class/net | sort); do
			echo "== $dev"
			tc -d qdisc show dev "$dev"
			tc -d class show dev "$dev"
			tc -d filter show dev "$dev"
			tc -d filter show dev "$dev" ingress
			tc -d filter show dev "$dev" egress
		done
		nft -s list ruleset
	' 2>&1
}

# ---- traffic ------------------------------------------------------------------------------------

traffic=1
if ! command -v python3 >/dev/null || ! command -v bash >/dev/null; then
	echo "note: no python3 or bash: traffic checks skipped"
	traffic=0
fi

start_listeners() {
	for port in $(sed -n 's/^# listen: *\([0-9][0-9]*\).*/\1/p' "$scenario"); do
		ip netns exec "$PEER" python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.bind(("::", int(sys.argv[1])))
s.listen(64)
while True:
    c, _ = s.accept()
    c.close()
' "$port" &
		pids="$pids $!"
	done
	# Wait until each one accepts (an unfaulted connect from NS).
	for port in $(sed -n 's/^# listen: *\([0-9][0-9]*\).*/\1/p' "$scenario"); do
		tries=0
		until [ "$(connect 10.99.0.2 "$port")" = open ]; do
			tries=$((tries + 1))
			[ $tries -lt 50 ] || fail "listener on port $port did not start"
			sleep 0.1
		done
	done
}

# connect HOST PORT: prints open, refused or timeout, as seen from NS.
connect() {
	out=$(in_ns timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' sh "$1" "$2" 2>&1)
	case $? in
	0) echo open ;;
	124) echo timeout ;;
	*) case $out in
		*refused*) echo refused ;;
		*) echo "error: $out" ;;
		esac ;;
	esac
}

expectations() {
	[ $traffic -eq 1 ] && [ "$pass" = pristine ] || return 0
	sed -n "s/^# expect after $1: *//p" "$scenario" | while read -r what host port eq want; do
		[ "$what" = connect ] && [ "$eq" = "=" ] || fail "bad expectation: $what $host $port $eq $want"
		got=$(connect "$host" "$port")
		if [ "$got" != "$want" ]; then
			echo "FAIL: after $1: connect $host $port: $got, expected $want"
			exit 1
		fi
		echo "  after $1: connect $host $port = $got"
	done || exit 1
}

# ---- checks after each step ------------------------------------------------------------------------

# Faults still in force, as "id:N:engine" words.
active=

# A u32 handle as tc(8) prints it: bucket 0 is left out ("f05:0:1" is "f05::1").
tc_handle() {
	echo "$1" | sed 's/^\([0-9a-f]*\):0:/\1::/'
}

# The objects a fault step added, from its own commands: nft chain and elements, IFB, u32 entries.
check_present() { # STEP-FILE N ENGINE
	cp_file=$1 fn=$2 engine=$3
	case $engine in
	nftables | userspace)
		fam=$(sed -n "s/^add chain \([a-z]*\) faultline f$fn .*/\1/p" "$cp_file")
		[ -n "$fam" ] || fail "step $fn: no chain f$fn in the plan"
		in_ns nft list chain "$fam" faultline "f$fn" >/dev/null 2>&1 ||
			fail "step $fn: chain $fam faultline f$fn missing"
		for map in $(sed -n "s/^add element $fam faultline \([a-z0-9]*\) .*goto f$fn.*/\1/p" "$cp_file"); do
			in_ns nft list map "$fam" faultline "$map" | grep -Eq "goto f$fn([^0-9]|$)" ||
				fail "step $fn: map $fam $map has no element for f$fn"
		done
		;;
	*)
		in_ns ip link show "flifb$fn" | grep -q "state UNKNOWN\|,UP" ||
			fail "step $fn: flifb$fn missing or down"
		in_ns tc qdisc show dev "flifb$fn" | grep -q "^qdisc [a-z]* fa00: root" ||
			fail "step $fn: flifb$fn has no root qdisc of ours"
		grep "tc filter add dev .* handle [0-9a-f]*:[0-9a-f]*:[0-9a-f]* .*redirect dev flifb$fn\$" "$cp_file" |
			sed 's/.*tc filter add dev \([^ ]*\) \([a-z]*\) protocol [a-z0-9]* prio \([0-9]*\) handle \([^ ]*\) .*/\1 \2 \3 \4/' |
			sort -u >"$tmp/handles-$fn"
		[ -s "$tmp/handles-$fn" ] || fail "step $fn: no u32 entries in the plan"
		while read -r dev hook prio h; do
			h=$(tc_handle "$h")
			in_ns tc filter show dev "$dev" "$hook" | grep -q "pref $prio u32 chain 0 fh $h " ||
				fail "step $fn: no u32 entry $h at prio $prio on $dev $hook"
		done <"$tmp/handles-$fn"
		;;
	esac
}

check_absent() { # N ENGINE
	fn=$1 engine=$2
	case $engine in
	nftables | userspace)
		for fam in netdev inet; do
			! in_ns nft list chain $fam faultline "f$fn" >/dev/null 2>&1 ||
				fail "chain $fam faultline f$fn still there after its heal"
			in_ns nft list table $fam faultline 2>/dev/null | grep -Eq "goto f$fn([^0-9]|$)" &&
				fail "an element still jumps to f$fn after its heal"
		done
		;;
	*)
		! in_ns ip link show "flifb$fn" >/dev/null 2>&1 || fail "flifb$fn still there after its heal"
		while read -r dev hook prio h; do
			h=$(tc_handle "$h")
			in_ns tc filter show dev "$dev" "$hook" | grep -q "fh $h " &&
				fail "u32 entry $h on $dev $hook still there after its heal"
		done <"$tmp/handles-$fn"
		;;
	esac
	return 0
}

check_nothing_left() {
	in_ns nft list tables | grep -q " faultline$" && fail "an nft table faultline is left"
	in_ns ip -o link show | grep -q "flifb" && fail "an IFB of ours is left"
	for dev in $devices; do
		for hook in ingress egress; do
			in_ns tc filter show dev "$dev" $hook | grep -q "pref 4915[2-5] " &&
				fail "a filter at one of our priorities is left on $dev $hook"
		done
	done
	return 0
}

run_pass() {
	pass=$1
	echo "== pass $pass"
	dump >"$tmp/before-$pass"
	if [ -n "${FL_APPLY_VERBOSE:-}" ]; then
		echo "-- the namespace before the plan:"
		cat "$tmp/before-$pass"
	fi
	active=
	expectations start
	n=1
	while [ $n -le "$n_steps" ]; do
		f=$tmp/step-$n.sh
		header=$(head -n 1 "$f")
		id=$(echo "$header" | sed 's/^# \[[^]]*\] \([^:]*\):.*/\1/')
		run=$f
		if [ "$pass" = foreign ]; then
			# The clsact lines as the plan annotates them: it is shared, so kept.
			run=$tmp/run-$n.sh
			sed -e 's/^\(.*\)tc qdisc add dev \([^ ]*\) clsact  # unless it has one.*/\1tc qdisc show dev \2 | grep -q "^qdisc clsact" || \1tc qdisc add dev \2 clsact/' \
				-e '/tc qdisc del dev [^ ]* clsact  # only if faultline added it$/d' "$f" >"$run"
		fi
		echo "step $n: ${header#\# }"
		sh -e "$run" >"$tmp/out" 2>&1 || {
			cat "$tmp/out"
			fail "step $n ($id) did not apply"
		}

		case $header in
		*" fault"*"engine "*)
			engine=${header##*engine }
			engine=${engine%% *}
			check_present "$f" "$n" "$engine"
			active="$active $id:$n:$engine"
			;;
		*": heal "*)
			healed=${header#*: heal }
			healed=${healed% (last step*}
			still=
			for a in $active; do
				aid=${a%%:*}
				case ", $healed, " in
				*", $aid, "* | ", all, ") check_absent "$(echo "$a" | cut -d: -f2)" "${a##*:}" ;;
				*) still="$still $a" ;;
				esac
			done
			active=$still
			;;
		esac
		if [ $n -eq "$n_steps" ]; then
			for a in $active; do
				check_absent "$(echo "$a" | cut -d: -f2)" "${a##*:}"
			done
			active=
			check_nothing_left
		fi
		expectations "$id"
		n=$((n + 1))
	done

	dump >"$tmp/after-$pass"
	if ! cmp -s "$tmp/before-$pass" "$tmp/after-$pass"; then
		echo "FAIL: pass $pass: the namespace differs from before the plan (- before, + after):"
		diff -u "$tmp/before-$pass" "$tmp/after-$pass"
		exit 1
	fi
	echo "pass $pass: the namespace is as it was"
}

[ $traffic -eq 1 ] && start_listeners
run_pass pristine
add_foreign_state
run_pass foreign
echo "PASS"
exit 0
