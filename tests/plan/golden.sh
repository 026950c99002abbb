#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Golden plans: `faultline plan` of tests/data/plan/NAME.yaml must print
# exactly NAME.all.txt (text, --kernel all), NAME.no-netem.json (JSON,
# --kernel no-netem: nft's queue statement steers the userspace engine) and
# NAME.xt.txt (text, a kernel like CI's: no netem, no nft queue statement, so
# the xt NFQUEUE target through nft_compat steers it). Also: the JSON parses,
# and for each kernel each JSON object's "command" equals the command the
# text view prints for it, step by step, in order.
#
#   golden.sh FAULTLINE DATADIR NAME...            compare (ctest plan/golden/NAME)
#   golden.sh --update FAULTLINE DATADIR [NAME...] rewrite the golden files
#                                                  (every NAME.yaml when none given)
#
# To regenerate after an intended change to the planner or the renderer:
#   sh tests/plan/golden.sh --update build/harness/faultline tests/data/plan
# then review `git diff tests/data/plan` before committing.
#
# Output must not depend on the machine: scenarios name their interfaces
# (scope.interfaces), the plan runs without SSH_CONNECTION, and the file is
# given relative to DATADIR. The one exception is a hostname: a scenario may
# use `localhost`, whose addresses come from this machine's resolver; when they
# differ from those recorded in the golden text, the test is skipped (77).
set -u

update=0
if [ "${1:-}" = "--update" ]; then
	update=1
	shift
fi
if [ $# -lt 2 ]; then
	echo "usage: golden.sh [--update] FAULTLINE DATADIR NAME..." >&2
	exit 2
fi
faultline=$1
datadir=$2
shift 2
case $faultline in
/*) ;;
*) faultline=$(pwd)/$faultline ;;
esac
cd "$datadir" || exit 1
if [ $# -eq 0 ]; then
	if [ $update -eq 0 ]; then
		echo "golden.sh: name the scenarios to compare" >&2
		exit 2
	fi
	for y in *.yaml; do
		set -- "$@" "${y%.yaml}"
	done
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/fl-golden.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

plan() {
	env -u SSH_CONNECTION "$faultline" plan "$@"
}
xt_kernel=ifb,clsact,u32,mirred,tbf,nftables,netdev-egress,nfqueue

# "127.0.0.1, ::1": what getaddrinfo(3) gives for localhost here, in order, as the plan lists it.
localhost_here() {
	getent ahosts localhost 2>/dev/null | awk '$2 == "STREAM" && !seen[$1]++ { printf "%s%s", n++ ? ", " : "", $1 }'
}

# Compares JSON $1 with text $2 (same kernel): same steps, same commands in the same order.
same_commands() {
	python3 - "$1" "$2" <<'EOF'
import json, sys

with open(sys.argv[1]) as f:
    doc = json.load(f)
with open(sys.argv[2]) as f:
    lines = f.read().split("\n")

# Text: a "# [" comment opens each step; other lines are comments, blank, or
# commands, an "nft -f - <<'EOF'" command running to its "EOF" line.
steps, cur, i = [], None, 0
while i < len(lines):
    line = lines[i]
    if line.startswith("# ["):
        cur = {"header": line, "commands": []}
        steps.append(cur)
    elif line.startswith("# through nft_compat") and cur is not None and i + 1 < len(lines):
        # The xt steering rule: a command nft cannot run, printed as two comment lines.
        cur["commands"].append(line + "\n" + lines[i + 1])
        i += 1
    elif line and not line.startswith("#"):
        if cur is None:
            sys.exit("command before the first step: %r" % line)
        cmd = [line]
        if line.endswith("<<'EOF'"):
            while True:
                i += 1
                if i >= len(lines):
                    sys.exit("unterminated here-document: %r" % line)
                cmd.append(lines[i])
                if lines[i] == "EOF":
                    break
        cur["commands"].append("\n".join(cmd))
    i += 1

bad = 0
if len(steps) != len(doc["steps"]):
    sys.exit("text has %d steps, JSON %d" % (len(steps), len(doc["steps"])))
for n, (t, j) in enumerate(zip(steps, doc["steps"])):
    if " %s: " % j["id"] not in t["header"]:
        print("step %d: JSON id %r, text %r" % (n, j["id"], t["header"]))
        bad = 1
    jc = [o["command"] for o in j["objects"]]
    if jc != t["commands"]:
        print("step %d (%s): commands differ" % (n, j["id"]))
        for k in range(max(len(jc), len(t["commands"]))):
            a = jc[k] if k < len(jc) else None
            b = t["commands"][k] if k < len(t["commands"]) else None
            if a != b:
                print("  #%d json: %r\n  #%d text: %r" % (k, a, k, b))
                break
        bad = 1
sys.exit(bad)
EOF
}

status=0
skipped=0
for name in "$@"; do
	if [ ! -f "$name.yaml" ]; then
		echo "$name: no $datadir/$name.yaml" >&2
		status=1
		continue
	fi
	plan --kernel all "$name.yaml" >"$tmp/$name.all.txt" || {
		echo "$name: faultline plan --kernel all failed" >&2
		status=1
		continue
	}
	plan --json --kernel no-netem "$name.yaml" >"$tmp/$name.no-netem.json" || {
		echo "$name: faultline plan --json --kernel no-netem failed" >&2
		status=1
		continue
	}

	plan --kernel "$xt_kernel" "$name.yaml" >"$tmp/$name.xt.txt" || {
		echo "$name: faultline plan --kernel $xt_kernel failed" >&2
		status=1
		continue
	}

	if [ $update -eq 1 ]; then
		cp "$tmp/$name.all.txt" "$name.all.txt" &&
			cp "$tmp/$name.no-netem.json" "$name.no-netem.json" &&
			cp "$tmp/$name.xt.txt" "$name.xt.txt" || status=1
		echo "updated $datadir/$name.all.txt, $name.no-netem.json and $name.xt.txt"
		continue
	fi

	# A hostname's addresses are this machine's: skip, rather than fail, where they differ.
	want=$(sed -n 's/^#     resolved: localhost -> //p' "$name.all.txt" 2>/dev/null | head -n 1)
	if [ -n "$want" ] && command -v getent >/dev/null; then
		have=$(localhost_here)
		if [ "$have" != "$want" ]; then
			echo "$name: SKIP: localhost is '$have' here, the golden files were made where it is '$want'"
			skipped=$((skipped + 1))
			continue
		fi
	fi

	for kind in all.txt no-netem.json xt.txt; do
		if [ ! -f "$name.$kind" ]; then
			echo "$name: no $datadir/$name.$kind (create it with golden.sh --update)" >&2
			status=1
		elif ! cmp -s "$name.$kind" "$tmp/$name.$kind"; then
			echo "$name: the plan differs from $datadir/$name.$kind (- expected, + actual):"
			diff -u "$name.$kind" "$tmp/$name.$kind" | sed "s|$tmp/||"
			status=1
		fi
	done

	if ! command -v python3 >/dev/null; then
		echo "$name: python3 missing: JSON checks skipped"
		continue
	fi
	if ! python3 -m json.tool "$tmp/$name.no-netem.json" >/dev/null; then
		echo "$name: the JSON plan does not parse"
		status=1
		continue
	fi
	# Both views of both kernels: the same objects, the same commands.
	plan --kernel no-netem "$name.yaml" >"$tmp/$name.no-netem.txt" &&
		plan --json --kernel all "$name.yaml" >"$tmp/$name.all.json" || {
		echo "$name: faultline plan failed" >&2
		status=1
		continue
	}
	same_commands "$tmp/$name.no-netem.json" "$tmp/$name.no-netem.txt" || {
		echo "$name: --kernel no-netem: JSON commands differ from the text"
		status=1
	}
	same_commands "$tmp/$name.all.json" "$tmp/$name.all.txt" || {
		echo "$name: --kernel all: JSON commands differ from the text"
		status=1
	}
	plan --json --kernel "$xt_kernel" "$name.yaml" >"$tmp/$name.xt.json" &&
		same_commands "$tmp/$name.xt.json" "$tmp/$name.xt.txt" || {
		echo "$name: --kernel $xt_kernel: JSON commands differ from the text"
		status=1
	}
done
if [ $status -eq 0 ] && [ $skipped -eq $# ]; then
	exit 77
fi
exit $status
