#!/usr/bin/env bash
# README command 1, as written: scripts/demo installs what is missing,
# builds build/ (nothing to do when it is current), brings the demo up,
# replays the data-center fire, prints the verdict table and where the
# HTML report is, takes the demo down, and says the outcome is the
# predicted one (exit 0). Under two minutes, and nothing of the demo left.
# Usage: quickstart.sh FAULTLINE SOURCE_DIR
source "$(dirname "$0")/lib.sh" "$1"
src=$2

start=$(date +%s)
FL_DEMO_OUT="$WORK/out" "$src/scripts/demo" > "$WORK/demo.out" 2>&1
rc=$?
took=$(($(date +%s) - start))
[ $rc -eq 0 ] || { cat "$WORK/demo.out"; fail "scripts/demo exited $rc"; }
grep -qE "^[0-9]+ expectations: [0-9]+ passed, [0-9]+ failed" "$WORK/demo.out" &&
  grep -q "^resilient-checkout .* PASS" "$WORK/demo.out" ||
  { cat "$WORK/demo.out"; fail "no verdict table"; }
grep -qx "HTML report: $WORK/out/report.html" "$WORK/demo.out" ||
  { cat "$WORK/demo.out"; fail "no report path"; }
[ -s "$WORK/out/report.html" ] || fail "report.html missing"
grep -qx "as predicted: yes" "$WORK/demo.out" || { cat "$WORK/demo.out"; fail "not as predicted"; }
grep -q "^demo down: " "$WORK/demo.out" || fail "the demo was not taken down"
assert_gone
[ $took -lt 120 ] || fail "took ${took}s, more than the two minutes README promises"
echo "scripts/demo: as predicted, ${took}s with the build current"
