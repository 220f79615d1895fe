#!/usr/bin/env bash
# usnetctl against a fake sysfs tree (--sysfs): status (text and JSON), and
# the refusals and usage errors of bind/unbind, with their exit statuses.
# Binding for real needs a VM: tests/vm/platform.sh.
# usage: usnetctl.sh BUILD_DIR
set -euo pipefail

build=${1:?usage: usnetctl.sh BUILD_DIR}
ctl=$build/tools/usnetctl
[ -x "$ctl" ] || { echo "FAIL: $ctl not built"; exit 1; }
command -v python3 >/dev/null || { echo "SKIP: python3 not found (JSON check)"; exit 77; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/usnetctl-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
sys=$tmp/sys run=$tmp/run
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

dev() { # BDF VENDOR DEVICE CLASS DRIVER|- GROUP|-
    local d=$sys/bus/pci/devices/$1
    mkdir -p "$d"
    echo "0x$2" >"$d/vendor"; echo "0x$3" >"$d/device"; echo "0x$4" >"$d/class"
    [ "$5" = - ] || { mkdir -p "$sys/bus/pci/drivers/$5"; ln -s "../../../bus/pci/drivers/$5" "$d/driver"; }
    [ "$6" = - ] || ln -s "../../../kernel/iommu_groups/$6" "$d/iommu_group"
}
dev 0000:00:00.0 8086 29c0 060000 - -
dev 0000:00:03.0 1af4 1041 020000 virtio-pci 3
mkdir -p "$sys/bus/pci/devices/0000:00:03.0/virtio0/net/usnetctltest0"
dev 0000:00:04.0 8086 100e 020000 vfio-pci 4
dev 0000:00:05.0 8086 10d3 020000 - -
dev 0000:00:06.0 8086 1234 020000 igb 6

# expect STATUS PATTERN CMD...: exit status and a line of output matching.
expect() {
    local want=$1 pat=$2 out rc=0
    shift 2
    out=$("$@" 2>&1) || rc=$?
    if [ "$rc" -ne "$want" ]; then
        fail "'$*' exited $rc, expected $want: $out"
    elif ! grep -qE -- "$pat" <<<"$out"; then
        fail "'$*' output lacks /$pat/: $out"
    else
        echo "ok: $* -> $(head -n 1 <<<"$out")"
    fi
}

c=("$ctl" --sysfs "$sys" --run-dir "$run")
out=$("${c[@]}" status)
echo "$out"
[ "$(wc -l <<<"$out")" -eq 5 ] || fail "status: expected a header and 4 devices"
grep -q '^0000:00:00.0' <<<"$out" && fail "status lists the host bridge"
grep -qE '^0000:00:03.0 +1af4:1041 +virtio-net +virtio-pci +3 +usnetctltest0$' <<<"$out" ||
    fail "status: virtio line wrong"
grep -qE '^0000:00:04.0 +8086:100e +e1000 +vfio-pci +4 +-$' <<<"$out" || fail "status: e1000 line wrong"
grep -qE '^0000:00:05.0 +8086:10d3 +e1000e +- +- +-$' <<<"$out" || fail "status: e1000e line wrong"
grep -qE '^0000:00:06.0 +8086:1234 +- +igb +6 +-$' <<<"$out" || fail "status: igb line wrong"

"${c[@]}" status --json | python3 -c '
import json, sys
d = json.load(sys.stdin)["devices"]
assert [x["address"] for x in d] == ["0000:00:03.0", "0000:00:04.0", "0000:00:05.0", "0000:00:06.0"], d
v = d[0]
assert (v["vendor"], v["device"], v["class"]) == ("1af4", "1041", "0x020000"), v
assert v["usnet_driver"] == "virtio-net" and v["kernel_driver"] == "virtio-pci", v
assert v["iommu_group"] == 3 and v["interface"] == "usnetctltest0", v
assert v["up"] is False and v["addresses"] == [], v
assert d[2]["kernel_driver"] is None and d[2]["iommu_group"] is None, d[2]
assert d[3]["usnet_driver"] is None, d[3]
' || fail "status --json"

expect 0 'usage: usnetctl' "$ctl" --help
expect 2 'no command given' "$ctl"
expect 2 "unknown command 'frob'" "$ctl" frob
expect 2 "unknown option '--frob'" "$ctl" --frob status
expect 2 'status takes no arguments' "${c[@]}" status extra
expect 2 '--json is for status' "${c[@]}" bind 0000:00:05.0 --json
expect 2 '--force is for bind' "${c[@]}" unbind 0000:00:05.0 --force
expect 2 'usage: usnetctl bind' "${c[@]}" bind
expect 2 'usage: usnetctl unbind' "${c[@]}" unbind
expect 2 "'0000:00:05' is not a PCI address" "${c[@]}" bind 0000:00:05
expect 2 'device 20 is out of range' "${c[@]}" bind 0000:00:20.0
expect 2 "unknown driver 'e1000'" "${c[@]}" bind 0000:00:05.0 e1000
expect 1 'no PCI device 0000:00:1e.0' "${c[@]}" bind 0000:00:1e.0
expect 1 'not a network device \(class 0x060000: bridge\); refusing' "${c[@]}" bind 0000:00:00.0
expect 0 'already bound to vfio-pci' "${c[@]}" bind 0000:00:04.0
expect 1 'has no IOMMU group: vfio-pci needs an IOMMU' "${c[@]}" bind 0000:00:05.0 vfio-pci
expect 0 'not bound to vfio-pci or uio_pci_generic \(driver: igb\); nothing to do' \
    "${c[@]}" unbind 0000:00:06.0
expect 1 'no PCI device' "${c[@]}" --sysfs "$tmp/none" unbind 0000:00:04.0
[ ! -e "$run" ] || fail "a refused command created $run"

if [ "$fails" -ne 0 ]; then
    echo "usnetctl: $fails failure(s)"
    exit 1
fi
echo "usnetctl: PASS"
