#!/usr/bin/env bash
# One run per namespace: a second run is refused, naming the holder's pid;
# leftovers of a run that died (run and guardian both killed) are refused
# until `faultline recover`; then a run works again.
# Usage: lock.sh FAULTLINE
source "$(dirname "$0")/lib.sh" "$1"
make_topology
write_scenario "$WORK/s.yaml" 1 0.2
dump_state > "$WORK/before.txt"

"$FL" run --run-dir "$RUN_DIR" "$WORK/s.yaml" >"$WORK/a.out" 2>&1 &
a=$!
BG_PIDS=("$a")
for _ in $(seq 1 100); do grep -q "applied" "$WORK/a.out" && break; sleep 0.02; done
"$FL" run --run-dir "$RUN_DIR" "$WORK/s.yaml" >"$WORK/b.out" 2>&1
code=$?
[ "$code" -eq 3 ] || fail "second run: exit $code, expected 3"
grep -q "in use by another faultline run (pid $a)" "$WORK/b.out" || fail "second run's message: $(cat "$WORK/b.out")"
kill -INT "$a"; wait "$a"

# Leftovers: kill the run and its guardian together, mid-run.
"$FL" run --run-dir "$RUN_DIR" "$WORK/s.yaml" >"$WORK/c.out" 2>&1 &
c=$!
BG_PIDS=("$c")
for _ in $(seq 1 100); do grep -q "applied" "$WORK/c.out" && break; sleep 0.02; done
g=$(pgrep -f "faultline run --run-dir $RUN_DIR" | grep -v "^$c\$" | head -1)
[ -n "$g" ] || fail "no guardian process found"
kill -9 "$g" "$c"; wait "$c" 2>/dev/null
"$FL" status --run-dir "$RUN_DIR" >"$WORK/st.out"; code=$?
[ "$code" -eq 1 ] || fail "status after a dead run: exit $code, expected 1"
grep -q "gone: run 'faultline recover'" "$WORK/st.out" || fail "status: $(cat "$WORK/st.out")"
"$FL" run --run-dir "$RUN_DIR" "$WORK/s.yaml" >"$WORK/d.out" 2>&1; code=$?
[ "$code" -eq 3 ] || fail "run over leftovers: exit $code, expected 3"
grep -q "run 'faultline recover' first" "$WORK/d.out" || fail "leftover message: $(cat "$WORK/d.out")"
cmp -s "$WORK/before.txt" <(dump_state) && fail "the leftovers vanished by themselves?"
"$FL" recover --run-dir "$RUN_DIR" >"$WORK/r.out" || fail "recover failed: $(cat "$WORK/r.out")"
wait_restored "$WORK/before.txt" 1 || fail "recover did not restore the namespace"
"$FL" recover --run-dir "$RUN_DIR" | grep -q "nothing to recover" || fail "recover is not idempotent"
"$FL" run --run-dir "$RUN_DIR" "$WORK/s.yaml" >"$WORK/e.out" 2>&1 || fail "run after recover: $(cat "$WORK/e.out")"
wait_restored "$WORK/before.txt" 1 || fail "not restored after the last run"
echo "lock: second run refused with the holder's pid; leftovers refused until recover"
