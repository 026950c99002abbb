#!/usr/bin/env bash
# One generic scenario of scenarios/ against the demo system, with its
# defaults, as docs/DEMO.md runs it: a fresh demo, the scenario probing the
# resilient shop, and every expectation passes (exit 0): that shop is built
# to degrade gracefully under each of them. The faults' wire verdicts as in
# replay.sh; the reports written; nothing of the demo left after.
# Usage: generic.sh FAULTLINE SCENARIO
source "$(dirname "$0")/lib.sh" "$1"
scenario=$2

run_on_fresh_demo "$scenario" 0 "the resilient shop passes every expectation"

"$FL" demo down > /dev/null || fail "demo down failed"
assert_gone
echo "$(basename "$scenario"): $(grep -E '^[0-9]+ expectations:' "$WORK/run.out"), run took ${took}s"
