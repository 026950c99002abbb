#!/usr/bin/env bash
# The hard cap: a run whose --max-duration passes before its end reverts
# everything and exits 3, whatever else happens.
# Usage: cap.sh FAULTLINE
source "$(dirname "$0")/lib.sh" "$1"
make_topology
write_scenario "$WORK/s.yaml" 2 1   # ends at 3 s real time
dump_state > "$WORK/before.txt"
"$FL" run --run-dir "$RUN_DIR" --events "$WORK/ev.json" --max-duration 1500ms "$WORK/s.yaml" >"$WORK/out" 2>&1
code=$?
# From the timeline's start (setup, probe and self-test come before it) to the end of the revert.
ms=$(python3 -c 'import json,sys; e=[json.loads(l) for l in open(sys.argv[1])][-1]; print(e["t_ns"] // 1000000)' "$WORK/ev.json")
[ "$code" -eq 3 ] || fail "exit $code, expected 3: $(cat "$WORK/out")"
grep -q "hard cap (--max-duration 1.5s) passed; everything reverted" "$WORK/out" || fail "message: $(cat "$WORK/out")"
grep -q "squeeze2:" "$WORK/out" && fail "a step after the cap (squeeze2, at 2 s) was applied"
grep -q "step-4: heal" "$WORK/out" || fail "the step before the cap (at 1 s) was not applied"
[ "$ms" -ge 1500 ] && [ "$ms" -lt 2000 ] || fail "the timeline ended after $ms ms with a 1.5 s cap"
dump_state > "$WORK/after.txt"
cmp -s "$WORK/before.txt" "$WORK/after.txt" || { diff "$WORK/before.txt" "$WORK/after.txt" | head; fail "not restored"; }
echo "cap: stopped at the 1.5 s cap after $ms ms, everything reverted, exit 3"
