#!/bin/sh
# SPDX-License-Identifier: MIT
#
# One case of the malformed-scenario corpus: `faultline validate` on
# tests/invalid/CASE_NAME.yaml, run from the repository root so that messages
# read "tests/invalid/CASE_NAME.yaml:LINE:COL: error: ...", must
#   - exit with 2 (invalid input),
#   - print nothing on standard output,
#   - print exactly tests/invalid/CASE_NAME.expected on standard error.
#
# Usage: check.sh FAULTLINE_BINARY REPO_ROOT CASE_NAME
#
# A new case's .expected is the stderr of
#   faultline validate tests/invalid/CASE_NAME.yaml 2>tests/invalid/CASE_NAME.expected
# run from the repository root, read line by line before it is committed.
set -u

if [ $# -ne 3 ]; then
	echo "usage: $0 FAULTLINE_BINARY REPO_ROOT CASE_NAME" >&2
	exit 2
fi
bin=$1
root=$2
name=$3
case $bin in
/*) ;;
*) bin=$(pwd)/$bin ;;
esac

cd "$root" || exit 1
yaml=tests/invalid/$name.yaml
expected=tests/invalid/$name.expected
if [ ! -f "$yaml" ]; then
	echo "$name: $yaml does not exist"
	exit 1
fi
if [ ! -f "$expected" ]; then
	echo "$name: $expected does not exist (expected the exact stderr of: faultline validate $yaml)"
	exit 1
fi

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
# The corpus relies on this variable being unset.
unset FL_TEST_SURELY_UNSET_VAR

"$bin" validate "$yaml" >"$tmp/stdout" 2>"$tmp/stderr"
rc=$?

fail=0
if [ "$rc" -ne 2 ]; then
	echo "$name: exit code $rc (expected 2)"
	fail=1
fi
if [ -s "$tmp/stdout" ]; then
	echo "$name: unexpected output on stdout (expected none):"
	cat "$tmp/stdout"
	fail=1
fi
if ! cmp -s "$expected" "$tmp/stderr"; then
	echo "$name: stderr differs from $expected:"
	diff -u --label "$expected" --label "stderr of faultline validate $yaml" \
		"$expected" "$tmp/stderr"
	fail=1
fi
exit $fail
