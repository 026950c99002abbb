#!/usr/bin/env bash
# The injector never runs tc, ip, nft, iptables or a shell: an strace of a
# whole run (probe, self-test, guardian, every step, the revert) shows one
# execve, its own.
# Usage: noexec.sh FAULTLINE
source "$(dirname "$0")/lib.sh" "$1"
command -v strace >/dev/null || { echo "skip: strace missing"; exit 77; }
make_topology
write_scenario "$WORK/s.yaml" 20 4
# LeakSanitizer stops the world with ptrace, which strace holds: no leak check here.
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
strace -f -qq -e trace=execve,execveat -o "$WORK/trace" "$FL" run --run-dir "$RUN_DIR" "$WORK/s.yaml" >"$WORK/out" 2>&1 \
  || fail "run failed: $(cat "$WORK/out")"
n=$(grep -c 'execve' "$WORK/trace")
[ "$n" -eq 1 ] || { cat "$WORK/trace"; fail "$n execve calls, expected 1 (faultline itself)"; }
grep -q "completed" "$WORK/out" || fail "run did not complete: $(cat "$WORK/out")"
echo "noexec: a whole run made one execve (its own)"
