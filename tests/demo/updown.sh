#!/usr/bin/env bash
# `faultline demo up|down|status`: up is fast and idempotent, every service
# answers from the customers' namespace through the router (IPv4 and IPv6),
# the messenger's from its own users' namespace,
# down removes everything and is idempotent, status tells up from down.
# Usage: updown.sh FAULTLINE
source "$(dirname "$0")/lib.sh" "$1"

"$FL" demo down > /dev/null 2>&1
"$FL" demo status > "$WORK/st0" 2>&1 && fail "status says up while down: $(cat "$WORK/st0")"
t0=$(date +%s%N)
"$FL" demo up > "$WORK/up1" 2>&1 9>&- || fail "demo up: $(cat "$WORK/up1")"
ms=$((($(date +%s%N) - t0) / 1000000))
[ $ms -lt 10000 ] || fail "demo up took ${ms} ms (expected seconds)"
pids=$(cat /run/faultline-demo/pid/*.pid | sort | tr '\n' ' ')
"$FL" demo up > "$WORK/up2" 2>&1 9>&- || fail "second demo up: $(cat "$WORK/up2")"
[ "$(cat /run/faultline-demo/pid/*.pid | sort | tr '\n' ' ')" = "$pids" ] ||
  fail "a second up restarted services"
"$FL" demo status > "$WORK/st1" 2>&1 || fail "status after up: $(cat "$WORK/st1")"
[ "$(grep -c '^service .* running (pid' "$WORK/st1")" -eq 9 ] || fail "not 9 services: $(cat "$WORK/st1")"

# Every service through the router, and the shops over IPv6 too; the
# services run unprivileged.
for a in 10.70.0.10 10.70.0.20 10.70.0.21 10.70.0.30 10.70.0.31 10.70.0.32 10.75.0.10 10.80.0.10 \
  10.80.0.20 '[fd80::10]' '[fd80::20]' '[fd70::20]' '[fd70::32]'; do
  http GET "http://$a:8080/health" > /dev/null ||
    fail "no answer from $a"
done
# The messenger's own users (its app) reach chat and media through the router.
for a in 10.70.0.30 '[fd70::30]' 10.70.0.32 '[fd70::32]'; do
  HTTP_NS=fl-demo-app http GET "http://$a:8080/health" > /dev/null ||
    fail "no answer from $a to the messenger's users"
done
for p in $(cat /run/faultline-demo/pid/*.pid); do
  [ "$(stat -c %U "/proc/$p")" = nobody ] || fail "service $p runs as $(stat -c %U "/proc/$p")"
done
# One purchase, one transfer and one ride end to end on each shop, and
# the audits hold.
for shop in 10.80.0.10 10.80.0.20; do
  http POST "http://$shop:8080/checkout" | grep -q paid ||
    fail "checkout on $shop"
  http POST "http://$shop:8080/transfer" | grep -q done ||
    fail "transfer on $shop"
  http POST "http://$shop:8080/ride" | grep -q "ended, fare 6[0-9][0-9]$" ||
    fail "ride on $shop"
done
sleep 6  # the audits leave alone what is younger than 5 s (in flight)
http GET "http://10.70.0.21:8080/audit/receipts" > /dev/null || fail "audit receipts"
for shop in 10.80.0.10 10.80.0.20; do
  for a in money transfers notices rides; do
    http GET "http://$shop:8080/audit/$a" > /dev/null ||
      fail "audit $a on $shop"
  done
done

"$FL" demo down > "$WORK/down1" 2>&1 || fail "demo down: $(cat "$WORK/down1")"
assert_gone
"$FL" demo down > "$WORK/down2" 2>&1 || fail "second demo down: $(cat "$WORK/down2")"
"$FL" demo status > /dev/null 2>&1 && fail "status says up after down"
echo "demo: up in ${ms} ms, idempotent both ways, 9 services answer, nothing left after down"
