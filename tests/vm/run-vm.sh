#!/usr/bin/env bash
# The VM tier (docs/VM-TIER.md): the netem path for real, in Debian's stock
# kernel under qemu. This host's kernel has no sch_netem; users' kernels do.
#
#   1. Debian's linux-image-amd64, resolved to the real linux-image-6.x
#      package, downloaded once and unpacked with dpkg-deb -x (no install
#      hooks) into CACHE (kept: a second run needs no network);
#   2. an initramfs (cpio newc, gzip): busybox, the kernel modules the
#      engine uses with their dependencies in load order, the test binaries,
#      faultline, ip, tc and nft, each with the shared libraries ldd names,
#      the cases and guest/init;
#   3. qemu (KVM if it can boot this kernel, else TCG) with a hard timeout;
#      the guest prints one line per test and a final marker carrying the
#      exit status on its serial console, then powers off.
#
# Usage: run-vm.sh --cache DIR --work DIR --bin NAME=PATH... [--only REGEX]
# Exit: 0 all passed, 1 a test failed or the VM broke, 77 no qemu or no
# kernel package to be had (no network and nothing cached).
# Environment: FL_VM_TIMEOUT (seconds, default 600), FL_VM_ACCEL (kvm|tcg:
# skip the probe), FL_VM_REFRESH=1 (resolve and download the kernel again),
# FL_VM_KEEP=1 (keep the work directory's root tree for inspection),
# FL_VM_TESTS (another list than guest/tests, for debugging).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache="" work="" only="" bins=()
while [ $# -gt 0 ]; do
	case $1 in
	--cache) cache=$2; shift 2 ;;
	--work) work=$2; shift 2 ;;
	--bin) bins+=("$2"); shift 2 ;;
	--only) only=$2; shift 2 ;;
	*) echo "usage: $0 --cache DIR --work DIR --bin NAME=PATH... [--only REGEX]" >&2; exit 2 ;;
	esac
done
[ -n "$cache" ] && [ -n "$work" ] || { echo "run-vm: --cache and --work are required" >&2; exit 2; }

log() { printf 'vm: %s\n' "$*" >&2; }
skip() { log "SKIP: $*"; exit 77; }
die() { log "FAIL: $*"; exit 1; }
t0=$(date +%s.%N)
elapsed() { awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

qemu=$(command -v qemu-system-x86_64 || true)
[ -n "$qemu" ] || skip "qemu-system-x86_64 not installed (scripts/install-deps: qemu-system-x86)"
for tool in busybox cpio gzip dpkg-deb ldd; do
	command -v "$tool" >/dev/null || die "$tool not installed (scripts/install-deps)"
done
# A dynamically linked busybox would need its libraries too; Debian's
# busybox-static is what install-deps installs.
busybox=$(command -v busybox)
if ldd "$busybox" >/dev/null 2>&1; then
	[ -x /bin/busybox ] && ! ldd /bin/busybox >/dev/null 2>&1 && busybox=/bin/busybox ||
		die "$busybox is dynamically linked: install busybox-static"
fi

mkdir -p "$cache" "$work"

# ---- 1. the kernel ------------------------------------------------------------------
#
# The cache holds one kernel: kernel.deb, its tree under kernel/, and
# kernel.name (the package), written last, so a half-done download is
# never taken for a cached one.
kdir=$cache/kernel
apt_private=(-o "Dir::State::Lists=$cache/apt/lists" -o "Dir::Cache=$cache/apt/cache"
	-o "Dir::Cache::archives=$cache/apt/archives" -o "APT::Sandbox::User=root")
# Resolves linux-image-amd64 (a metapackage) to the image package it depends
# on, with the host's package lists, else with lists of our own in the cache:
# the host's apt state is never changed.
resolve_kernel() {
	local pkg
	pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
		awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }')
	if [ -z "$pkg" ]; then
		mkdir -p "$cache/apt/lists/partial" "$cache/apt/archives/partial"
		apt-get "${apt_private[@]}" -q update >&2 || return 1
		pkg=$(apt-cache "${apt_private[@]}" depends linux-image-amd64 2>/dev/null |
			awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }')
		[ -n "$pkg" ] && echo private >"$cache/apt/used"
	fi
	[ -n "$pkg" ] && echo "$pkg"
}

fetch_kernel() {
	local pkg dl extra=()
	pkg=$(resolve_kernel) || return 1
	[ -n "$pkg" ] || return 1
	[ -e "$cache/apt/used" ] && extra=("${apt_private[@]}")
	log "kernel package: $pkg (linux-image-amd64), downloading"
	rm -rf "$kdir" "$cache/kernel.name" "$cache"/dl
	mkdir -p "$cache/dl"
	# apt's download sandbox user cannot write into a root-owned build tree.
	(cd "$cache/dl" && apt-get "${extra[@]}" -o APT::Sandbox::User=root -q download "$pkg" >&2) ||
		return 1
	dl=$(ls "$cache"/dl/"$pkg"_*.deb 2>/dev/null | head -1)
	[ -n "$dl" ] || return 1
	mv "$dl" "$cache/kernel.deb"
	rmdir "$cache/dl"
	mkdir -p "$kdir"
	# dpkg-deb -x: the files only; no maintainer scripts, no initramfs-tools.
	dpkg-deb -x "$cache/kernel.deb" "$kdir"
	echo "$pkg" >"$cache/kernel.name"
}

if [ "${FL_VM_REFRESH:-0}" = 1 ] || [ ! -s "$cache/kernel.name" ]; then
	fetch_kernel || skip "cannot get Debian's linux-image-amd64 (no package lists or no mirror?), and nothing cached in $cache"
	log "kernel fetched and unpacked in $(elapsed) s"
fi
kpkg=$(cat "$cache/kernel.name")
vmlinuz=$(ls "$kdir"/boot/vmlinuz-* | head -1)
kver=${vmlinuz##*/vmlinuz-}
kmod=$kdir/lib/modules/$kver
[ -f "$vmlinuz" ] && [ -d "$kmod" ] || die "the cached kernel in $kdir is incomplete: delete $cache and run again"
log "kernel $kver from $kpkg ($(dpkg-deb -f "$cache/kernel.deb" Version))"

# ---- 2. the initramfs -----------------------------------------------------------------
root=$work/root
rm -rf "$root"
mkdir -p "$root"/{usr/bin,usr/sbin,usr/lib/modules,usr/lib64,proc,sys,dev,tmp,run,etc,root,vm/cases}
# Merged /usr, as on Debian: ldd's /lib/... paths land in usr/lib.
for d in bin sbin lib lib64; do ln -s "usr/$d" "$root/$d"; done

# Busybox applets, except ip and tc: the tests need iproute2's own (the
# state dumps compare their output, and busybox's tc knows no clsact).
cp "$busybox" "$root/usr/bin/busybox"
for applet in $("$busybox" --list); do
	case $applet in ip | tc | sh | busybox | init | linuxrc) continue ;; esac
	[ -e "$root/usr/bin/$applet" ] || ln -s busybox "$root/usr/bin/$applet"
done

# A binary and every library ldd names, at the paths the loader looks in.
add_elf() {
	local src=$1 dst=$2 lib
	mkdir -p "$root$(dirname "$dst")"
	cp -L "$src" "$root$dst"
	for lib in $(ldd "$src" | awk '/=> \// { print $3 } /^\t\/[^ ]+ \(/ { print $1 }'); do
		[ -e "$root$lib" ] || { mkdir -p "$root$(dirname "$lib")" && cp -L "$lib" "$root$lib"; }
	done
}
# /bin/sh is dash, as on Debian: Debian's busybox sh runs its own applets
# before PATH (so `tc` in a script would be busybox's).
command -v dash >/dev/null || die "dash not installed"
add_elf "$(command -v dash)" /usr/bin/sh
for tool in ip tc nft; do
	path=$(PATH=/usr/sbin:/sbin:/usr/bin:/bin command -v "$tool") ||
		die "$tool not installed (scripts/install-deps: iproute2, nftables)"
	add_elf "$path" "/usr/sbin/$tool"
done
for b in "${bins[@]}"; do
	name=${b%%=*} path=${b#*=}
	[ -x "$path" ] || die "no binary $path (build first)"
	add_elf "$path" "/vm/$name"
done
cp "$here"/cases/* "$root/vm/cases/"
cp "$here/guest/init" "$root/init"
cp "${FL_VM_TESTS:-$here/guest/tests}" "$root/vm/tests"
cp "$here"/guest/*.sh "$root/vm/" 2>/dev/null || true
chmod 755 "$root/init"
[ -n "$only" ] && printf '%s\n' "$only" >"$root/vm/only"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
printf 'root:x:0:\n' >"$root/etc/group"
: >"$root/etc/nsswitch.conf"
printf '127.0.0.1 localhost\n::1 localhost\n' >"$root/etc/hosts"

# Modules: what the engine and the tests use (tc: netem, TBF, clsact, u32,
# mirred, IFB; nftables for the exclusion self-test and the state dumps;
# veth for the topology), closed over modules.dep, dependencies first. The
# kernel package ships no modules.dep (its postinst runs depmod): busybox's
# depmod writes one into the cached tree, once.
# crc32c_generic: libcrc32c's softdep (its init asks the crypto API for
# crc32c, which would otherwise need a modprobe to load it).
want_mods="crc32c_generic veth ifb sch_netem sch_tbf sch_htb sch_ingress cls_u32 act_mirred act_gact
nf_tables nft_numgen nft_reject_inet nft_reject_ipv4 nft_reject_ipv6 nft_ct nft_queue
nfnetlink_queue nft_compat xt_NFQUEUE"
if [ ! -s "$kmod/modules.dep" ]; then
	"$busybox" depmod -b "$kdir" "$kver" || die "depmod failed on $kmod"
fi
: >"$root/vm/modules"
declare -A seen=()
add_mod() { # NAME: its dependencies first, then itself
	local name=$1 path deps d
	[ -n "${seen[$name]:-}" ] && return 0
	seen[$name]=1
	path=$(awk -F: -v n="$name" '{ f = $1; sub(/.*\//, "", f); sub(/\.ko.*/, "", f); gsub(/-/, "_", f); if (f == n) { print; exit } }' "$kmod/modules.dep")
	[ -n "$path" ] || die "module $name not in $kpkg"
	deps=${path#*:}
	path=${path%%:*}
	for d in $deps; do
		d=${d##*/}
		d=${d%%.ko*}
		add_mod "${d//-/_}"
	done
	mkdir -p "$root/usr/lib/modules/$kver/$(dirname "$path")"
	case $path in
	*.ko) cp "$kmod/$path" "$root/usr/lib/modules/$kver/$path" ;;
	*.ko.xz) xz -dc "$kmod/$path" >"$root/usr/lib/modules/$kver/${path%.xz}" ;;
	*.ko.zst) zstd -qdc "$kmod/$path" >"$root/usr/lib/modules/$kver/${path%.zst}" ;;
	*) die "unknown module format: $path" ;;
	esac
	echo "/lib/modules/$kver/${path%.ko*}.ko" >>"$root/vm/modules"
}
for m in $want_mods; do add_mod "$m"; done

initrd=$work/initrd.gz
(cd "$root" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet) | gzip -1 >"$initrd"
log "initramfs: $(du -h "$initrd" | cut -f1) ($(wc -l <"$root/vm/modules") modules) in $(elapsed) s"
[ "${FL_VM_KEEP:-0}" = 1 ] || rm -rf "$root"

# ---- 3. boot ----------------------------------------------------------------------------
# KVM here may be paravirtual and unable to run a stock kernel (it hangs or
# faults early): a short boot that only prints a line decides, once per host
# kernel, and TCG is the fallback. The answer is cached.
accel=${FL_VM_ACCEL:-}
if [ -z "$accel" ]; then
	probe_file=$cache/accel.$(uname -r)
	if [ -s "$probe_file" ]; then
		accel=$(cat "$probe_file")
	else
		accel=tcg
		if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
			pdir=$work/kvm-probe
			rm -rf "$pdir" && mkdir -p "$pdir/bin"
			cp "$busybox" "$pdir/bin/busybox"
			printf '#!/bin/busybox sh\n/bin/busybox echo FL-KVM-PROBE-OK\n/bin/busybox poweroff -f\n' >"$pdir/init"
			chmod 755 "$pdir/init"
			(cd "$pdir" && find . | cpio -o -H newc --quiet) | gzip -1 >"$pdir.gz"
			if timeout -k 2 20 nice -n 10 "$qemu" -accel kvm -cpu host -m 256 -nodefaults \
				-display none -no-reboot -serial stdio -kernel "$vmlinuz" -initrd "$pdir.gz" \
				-append "console=ttyS0 panic=-1 quiet" </dev/null 2>&1 | tr -d '\r' |
				grep -q FL-KVM-PROBE-OK; then
				accel=kvm
			fi
			rm -rf "$pdir" "$pdir.gz"
		fi
		echo "$accel" >"$probe_file"
		log "accelerator probe: $accel (cached in $probe_file)"
	fi
fi
# Emulated, the plainest x86-64: with `max`, glibc picks AVX2/AVX-512 string
# functions that TCG runs many times slower than SSE2 ones.
cpu=${FL_VM_CPU:-qemu64}
[ "$accel" = kvm ] && cpu=host

# Emulated, every page-table switch and clock read is dear: no speculation
# mitigations (page-table isolation flushes the emulated TLB at each
# syscall), and the TSC as clock (the HPET would be an emulated device read
# per timestamp; netem takes one per packet). Nothing tested depends on either.
speed="mitigations=off clocksource=tsc tsc=reliable"
[ "$accel" = kvm ] && speed=
vm_timeout=${FL_VM_TIMEOUT:-600}
console=$work/console.log
log "booting $kver under $accel, 2 vCPUs, 1 GiB, timeout ${vm_timeout} s; console: $console"
tb=$(date +%s.%N)
set +e
# nice: this machine's other tests measure timing. -no-reboot + panic=-1:
# a guest panic ends qemu instead of looping.
timeout -k 5 "$vm_timeout" nice -n 10 "$qemu" -accel "$accel" -cpu "$cpu" -smp 2 -m 1024 \
	-nodefaults -display none -no-reboot -serial stdio \
	-kernel "$vmlinuz" -initrd "$initrd" \
	-append "console=ttyS0 panic=-1 quiet loglevel=4 rdinit=/init $speed fl.accel=$accel" \
	</dev/null 2>&1 | sed -u 's/\r$//' | tee "$console"
qrc=${PIPESTATUS[0]}
set -e
boot_s=$(awk -v a="$tb" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')

marker=$(grep -a '^FL-VM-DONE ' "$console" | tail -1 || true)
if [ -z "$marker" ]; then
	[ "$qrc" = 124 ] || [ "$qrc" = 137 ] && die "the VM ran past ${vm_timeout} s without its final marker (qemu killed)"
	die "qemu exited ($qrc) after $boot_s s without the final marker (see $console)"
fi
status=${marker#*status=}
status=${status%% *}
log "VM done in $boot_s s (total $(elapsed) s): $marker"
grep -a '^FL-VM-RESULT ' "$console" | sed 's/^/vm: /' >&2 || true
case $status in
0) exit 0 ;;
*) exit 1 ;;
esac
