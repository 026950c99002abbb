#!/usr/bin/env bash
# One generic scenario of scenarios/ against the demo system, with its
# defaults, as docs/DEMO.md runs it: a fresh demo, the scenario probing the
# resilient shop, and every expectation passes (exit 0): that shop is built
# to degrade gracefully under each of them. The faults' wire verdicts as in
# replay.sh; the reports written; nothing of the demo left after.
# Usage: generic.sh FAULTLINE SCENARIO
source "$(dirname "$0")/lib.sh" "$1"
scenario=$2

"$FL" demo down > /dev/null 2>&1
"$FL" demo up > "$WORK/up.out" 2>&1 9>&- || fail "demo up: $(cat "$WORK/up.out")"
start=$(date +%s)
"$FL" run --run-dir "$WORK/run" --report "$WORK/rep" "$scenario" > "$WORK/run.out" 2>&1
rc=$?
took=$(($(date +%s) - start))
if [ $rc -ne 0 ]; then
  cat "$WORK/run.out"
  fail "expected exit 0 (the resilient shop passes every expectation), got $rc"
fi
check_wire "$WORK/run.out" "$scenario"
for f in report.json junit.xml report.html; do
  [ -s "$WORK/rep/$f" ] || fail "no $f"
done

"$FL" demo down > /dev/null || fail "demo down failed"
assert_gone
echo "$(basename "$scenario"): $(grep -E '^[0-9]+ expectations:' "$WORK/run.out"), run took ${took}s"
