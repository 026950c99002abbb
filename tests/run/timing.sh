#!/usr/bin/env bash
# A 15-hour timeline at timescale 3600 runs in 15 s, each step within
# +-5 ms of its schedule (dry run: the clock, not the kernel, is under test).
# Usage: timing.sh FAULTLINE
set -uo pipefail
FL=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
{
  echo "version: 1"
  echo "name: fifteen-hours"
  echo "timescale: 3600"
  echo "services: { s: { endpoints: [ \"10.99.0.1\" ] } }"
  echo "timeline:"
  for h in $(seq 0 14); do
    echo "  - { at: ${h}h, id: f$h, fault: blackhole, services: [s] }"
    echo "  - { at: ${h}h30m, heal: [f$h] }"
  done
  echo "  - { at: 15h, end: true }"
} > "$work/s.yaml"
start=$(date +%s%N)
"$FL" run --dry-run --events "$work/ev.json" "$work/s.yaml" >"$work/out" || { cat "$work/out"; exit 1; }
wall=$((($(date +%s%N) - start) / 1000000))
python3 - "$work/ev.json" "$wall" <<'PY'
import json, sys
steps = [e for e in map(json.loads, open(sys.argv[1])) if e["event"] == "step"]
assert len(steps) == 31, f"{len(steps)} steps"
errs = [(e["started_ns"] - e["scheduled_ns"]) / 1e6 for e in steps]
worst = max(abs(x) for x in errs)
print(f"timing: 31 steps over 15 h at timescale 3600 in {int(sys.argv[2])} ms; schedule error max {worst:.3f} ms")
assert all(e["scheduled_ns"] == e["scenario_ns"] // 3600 for e in steps)
assert worst <= 5.0, f"a step {worst:.3f} ms off schedule"
assert 15000 <= int(sys.argv[2]) < 16500, "wall time"
PY
