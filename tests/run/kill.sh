#!/usr/bin/env bash
# SIGKILL `faultline run` at random moments (applying, holding, reverting);
# after each, within 1 s and without anyone running recover, the namespace
# must be exactly as before: the guardian reverts.
# Usage: kill.sh FAULTLINE [ITERATIONS]
source "$(dirname "$0")/lib.sh" "$1"
iterations=${2:-50}
make_topology
write_scenario "$WORK/s.yaml" 1500 4
dump_state > "$WORK/before.txt"
"$FL" plan --kernel all "$WORK/s.yaml" >/dev/null || fail "scenario does not plan"

for i in $(seq 1 "$iterations"); do
  "$FL" run --run-dir "$RUN_DIR" "$WORK/s.yaml" >"$WORK/run.out" 2>&1 &
  pid=$!
  BG_PIDS=("$pid")
  # Anywhere in the run's ~0.8 s, including before the first step and during the end.
  sleep "0.$(printf '%03d' $((RANDOM % 900)))"
  kill -9 "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  wait_restored "$WORK/before.txt" 1 || fail "iteration $i: namespace not restored within 1 s of SIGKILL"
  # The guardian also releases the lock: the next run may start at once.
  for _ in $(seq 1 20); do [ -e "$RUN_DIR"/net-*.lock ] || break; sleep 0.05; done
done
"$FL" status --run-dir "$RUN_DIR" | grep -q "no faults" || fail "status is not empty after the runs"
echo "kill: $iterations SIGKILLs, the namespace restored each time"
