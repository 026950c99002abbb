#!/usr/bin/env bash
# One replay against the demo system, as a user runs it: a fresh demo, the
# scenario run with its flows for both shops, then the verdicts per
# expectation name in report.json, read by scripts/replay-verdicts as
# scripts/demo reads them: every "resilient: ..." and "messenger: ..."
# expectation must pass; the "fragile: ..." ones must fail exactly as the
# scenario's header predicts (its "# predicted-fail: NAME" lines) and pass
# otherwise; a "# may-fail: NAME" line accepts either verdict, for an
# outcome the header explains is left to chance.
# The "(wire observer)" expectations (no retry storm, from each shop's own
# calls to the provider) are judged like the others. The faults' verdicts
# from the wire, watched on the router's devices: a drop or reject must be
# "ok"; any other kind must at least show an effect; no untargeted traffic
# may be touched.
# Usage: replay.sh FAULTLINE SCENARIO
source "$(dirname "$0")/lib.sh" "$1"
scenario=$2

run_on_fresh_demo "$scenario" 1 "the fragile shop fails"

if ! "$PY" "$(dirname "$0")/../../scripts/replay-verdicts" "$WORK/rep/report.json" "$scenario" \
  > "$WORK/verdicts"; then
  cat "$WORK/verdicts"
  cat "$WORK/run.out"
  for shop in 10.80.0.10 10.80.0.20; do
    for a in money transfers notices rides; do
      http GET "http://$shop:8080/audit/$a" 2>&1 | head -3
    done
  done
  fail "verdicts differ from the prediction in $scenario"
fi

"$FL" demo down > /dev/null || fail "demo down failed"
assert_gone
cat "$WORK/verdicts"
echo "$(basename "$scenario"): as predicted, run took ${took}s"
