#!/usr/bin/env bash
# SIGINT, SIGTERM and SIGHUP in the middle of a run: everything reverted
# before the process exits, exit code 128+N, the revert time is reported;
# and while faults hold, the run has dropped every capability but
# CAP_NET_ADMIN.
# Usage: signals.sh FAULTLINE
source "$(dirname "$0")/lib.sh" "$1"
make_topology
write_scenario "$WORK/s.yaml" 2 0.5
dump_state > "$WORK/before.txt"
for sig in INT TERM HUP; do
  "$FL" run --run-dir "$RUN_DIR" --events "$WORK/ev.json" "$WORK/s.yaml" >"$WORK/out" 2>&1 &
  pid=$!
  BG_PIDS=("$pid")
  # Wait until the faults are in (the first step printed), then signal.
  for _ in $(seq 1 100); do grep -q "applied" "$WORK/out" && break; sleep 0.02; done
  grep -q "applied" "$WORK/out" || fail "run never applied a step: $(cat "$WORK/out")"
  # While faults hold, the run keeps only CAP_NET_ADMIN (bit 12).
  caps=$(awk '/^CapEff:/ {print $2}' "/proc/$pid/status")
  [ "$caps" = "0000000000001000" ] || fail "the run's effective capabilities are $caps, expected CAP_NET_ADMIN only"
  kill -"$sig" "$pid"
  wait "$pid"
  code=$?
  want=$((128 + $(kill -l "$sig")))
  [ "$code" -eq "$want" ] || fail "SIG$sig: exit $code, expected $want: $(cat "$WORK/out")"
  # At exit, not later: no guardian involved.
  dump_state > "$WORK/after.txt"
  cmp -s "$WORK/before.txt" "$WORK/after.txt" || { diff "$WORK/before.txt" "$WORK/after.txt" | head; fail "SIG$sig: not restored at exit"; }
  grep -o '"revert_ns":[0-9]*' "$WORK/ev.json" | tail -1
  grep "stopped by" "$WORK/out"
done
echo "signals: SIGINT, SIGTERM and SIGHUP each reverted everything before exit"
