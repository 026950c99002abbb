#!/usr/bin/env bash
# The command line's contract: dispatch, exit codes, help and the man page
# generated from the same tables. Usage: cli.sh FAULTLINE REPO_ROOT
set -uo pipefail
fl=$1
cd "$2"
fails=0
check() { # check NAME EXPECTED_EXIT COMMAND...
  local name=$1 want=$2; shift 2
  "$@" >/tmp/fl-cli.$$.out 2>/tmp/fl-cli.$$.err
  local got=$?
  if [ "$got" != "$want" ]; then
    echo "FAIL $name: exit $got, expected $want"; cat /tmp/fl-cli.$$.err; fails=$((fails+1))
  fi
}
contains() { # contains NAME FILE TEXT
  grep -qF -- "$3" "$2" || { echo "FAIL $1: '$3' missing"; fails=$((fails+1)); }
}

check help 0 "$fl" --help
contains help /tmp/fl-cli.$$.out "validate"
contains help /tmp/fl-cli.$$.out "plan"
check no-args 2 "$fl"
check unknown-command 2 "$fl" frobnicate
contains unknown-command /tmp/fl-cli.$$.err "unknown command 'frobnicate'"
check unknown-option 2 "$fl" validate --frobnicate scenarios/checkout-payment-partition.yaml
check validate-no-file 2 "$fl" validate
check validate-missing-file 2 "$fl" validate /nonexistent/scenario.yaml
contains validate-missing-file /tmp/fl-cli.$$.err "cannot read"
check validate-ok 0 "$fl" validate scenarios/checkout-payment-partition.yaml
contains validate-ok /tmp/fl-cli.$$.out ": ok: checkout-during-payment-partition"
check validate-quiet 0 "$fl" validate -q scenarios/checkout-payment-partition.yaml
[ -s /tmp/fl-cli.$$.out ] && { echo "FAIL validate-quiet printed"; fails=$((fails+1)); }
check plan-two-files 2 "$fl" plan a.yaml b.yaml
check plan-bad-kernel 2 "$fl" plan --kernel warp-drive scenarios/checkout-payment-partition.yaml
check plan-ok 0 "$fl" plan --kernel all scenarios/checkout-payment-partition.yaml
contains plan-ok /tmp/fl-cli.$$.out "netem limit"
check plan-no-netem-no-queue 3 "$fl" plan --kernel ifb,clsact,u32,mirred,tbf,nftables,netdev-egress scenarios/checkout-payment-partition.yaml
contains plan-no-netem-no-queue /tmp/fl-cli.$$.err "cannot run on this kernel"
contains plan-no-netem-no-queue /tmp/fl-cli.$$.err "modprobe sch_netem"
check plan-json 0 "$fl" plan --json --kernel all scenarios/checkout-payment-partition.yaml
python3 -m json.tool /tmp/fl-cli.$$.out >/dev/null || { echo "FAIL plan-json: not JSON"; fails=$((fails+1)); }

# Every command and option in --help is in the man page, and the page is well-formed roff.
check man 0 "$fl" help --man
cp /tmp/fl-cli.$$.out /tmp/fl-cli.$$.man
for c in validate plan help; do
  contains "man-$c" /tmp/fl-cli.$$.man "faultline $c"
  check "help-$c" 0 "$fl" help "$c"
  for o in $(grep -oE -- '--[a-z-]+' /tmp/fl-cli.$$.out | sort -u); do
    contains "man-$c$o" /tmp/fl-cli.$$.man "\\-\\-${o#--}"
  done
done
head -1 /tmp/fl-cli.$$.man | grep -q '^\.TH FAULTLINE 1' || { echo "FAIL man: no .TH"; fails=$((fails+1)); }

rm -f /tmp/fl-cli.$$.*
[ $fails -eq 0 ] && echo "cli: all checks passed" || exit 1
