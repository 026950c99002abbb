# Shared by tests/demo/*.sh: root or skip, one demo at a time on this host,
# and `faultline demo down` on every exit path.
# Usage: source lib.sh FAULTLINE (sets FL, WORK, PY).
set -uo pipefail
FL=$1
[ "$(id -u)" -eq 0 ] || { echo "skip: needs root (network namespaces)"; exit 77; }
ip netns add "fl-probe-$$" 2>/dev/null || { echo "skip: ip netns unusable"; exit 77; }
ip netns del "fl-probe-$$"
# The demo has fixed names and addresses: one user of it at a time, also
# across separate ctest invocations. `demo up` runs with fd 9 closed, so
# that the services it starts do not hold the lock after the test.
exec 9> /run/lock/faultline-demo-test.lock
flock -w 600 9 || { echo "FAIL: another demo test holds the lock"; exit 1; }
PY=$(command -v /usr/bin/python3 || command -v python3)
WORK=$(mktemp -d)

cleanup() {
  "$FL" demo down > /dev/null 2>&1
  "$FL" recover --run-dir "$WORK/run" > /dev/null 2>&1
  rm -rf "$WORK"
}
trap cleanup EXIT

fail() { echo "FAIL: $*"; exit 1; }

# Nothing of the demo is left: namespaces, processes, state, nft tables.
assert_gone() {
  local left
  left=$(ip netns list | awk '{print $1}' | grep '^fl-demo-')
  [ -z "$left" ] || fail "namespaces left: $left"
  left=$(grep -l 'fl-demo-service=' /proc/[0-9]*/cmdline 2>/dev/null)
  [ -z "$left" ] || fail "processes left: $left"
  [ ! -e /run/faultline-demo ] || fail "/run/faultline-demo left"
}

# HTTP from the customers' namespace (HTTP_NS overrides) without curl:
# METHOD URL; prints the body, fails on anything but 2xx.
http() {
  ip netns exec "${HTTP_NS:-fl-demo-users}" "$PY" - "$1" "$2" <<'PY'
import sys, urllib.request, urllib.error
method, url = sys.argv[1], sys.argv[2]
req = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
try:
    sys.stdout.write(urllib.request.urlopen(req, timeout=10).read().decode())
except urllib.error.HTTPError as e:
    sys.stdout.write(e.read().decode())
    sys.exit(1)
PY
}

# The faults' verdicts from the wire, in a run's output ($1) for its
# scenario ($2): a drop or reject must be "ok"; a delay or loss at least
# shows an effect (its measured size moves with the retransmissions of a
# loss beside it: "outside tolerance" is accepted for those kinds); the
# kinds the observer cannot verify say so; no untargeted traffic touched.
check_wire() {
  local faults ok soft unverified
  faults=$(grep -c "^  - .*fault: \|^    fault: " "$2")
  ok=$(grep -cE "^wire: fault '[^']+' \([a-z-]+\): ok: " "$1")
  soft=$(grep -E "^wire: fault '[^']+' \([a-z-]+\): outside tolerance: " "$1" |
    grep -cvE "\((partition|blackhole|reject)\)")
  unverified=$(grep -cE "^wire: fault '[^']+' \((corrupt|reorder|rate)\): not verified: " "$1")
  if [ $((ok + soft + unverified)) -ne "$faults" ] ||
    grep -q "^wire: untargeted traffic touched" "$1"; then
    grep "^wire:" "$1"
    fail "the wire: $((ok + soft + unverified)) of $faults faults as expected, or untargeted traffic touched"
  fi
}

# A scenario ($1) on a fresh demo (empty ledgers), as a user runs it: its
# exit code must be $2 ($3 says why), its faults as expected on the wire,
# its reports written. Leaves the output in $WORK/run.out, the reports in
# $WORK/rep, the run's seconds in $took.
run_on_fresh_demo() {
  local start rc f
  "$FL" demo down > /dev/null 2>&1
  "$FL" demo up > "$WORK/up.out" 2>&1 9>&- || fail "demo up: $(cat "$WORK/up.out")"
  start=$(date +%s)
  "$FL" run --run-dir "$WORK/run" --report "$WORK/rep" "$1" > "$WORK/run.out" 2>&1
  rc=$?
  took=$(($(date +%s) - start))
  if [ $rc -ne "$2" ]; then
    cat "$WORK/run.out"
    fail "expected exit $2 ($3), got $rc"
  fi
  check_wire "$WORK/run.out" "$1"
  for f in report.json junit.xml report.html; do
    [ -s "$WORK/rep/$f" ] || fail "no $f"
  done
}
