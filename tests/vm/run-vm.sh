#!/usr/bin/env bash
# Boot the usnet test VM and turn its VMTEST lines into an exit status.
#
# usage: run-vm.sh --initrd FILE [options] [-- extra qemu args]
#   --initrd FILE      initramfs from mkinitramfs.sh (required)
#   --kernel FILE      default $USNET_VM_CACHE/vmlinuz, else
#                      <repo>/build/vm-cache/vmlinuz (get-kernel.sh)
#   --timeout S        hard limit for the whole run, qemu is killed after it
#                      (default 90); the guest stops its test 10 s earlier
#   --log FILE         console log (default: a new file under $TMPDIR)
#   --net-virtio SPEC, --net-e1000 SPEC, --net-e1000e SPEC
#                      host side of each NIC (default "udp"):
#        udp             UDP socket on a free 127.0.0.1 port, sending to
#                        127.0.0.1:9 (discard): a peer that always accepts
#        udp:RPORT[:LPORT]  send to 127.0.0.1:RPORT, receive on LPORT
#        loop            UDP socket sending to itself: the NIC receives
#                        what it sends
#        hub:N           hubport on hub N (put two NICs on one hub to wire
#                        them together; a NIC alone on a hub has no peer)
#        tap:IFNAME      TAP device IFNAME (script=no)
#        raw:OPTS        -netdev OPTS,id=... as given
#        none            no such NIC
#   --pcap DIR         record each NIC's traffic to DIR/<nic>.pcap
#   --ports FILE       write "nic local_port remote_port" lines for udp NICs
#   --append ARGS      more kernel command line
#   --hugepages N      2 MiB pages the guest reserves
#   --cpu MODEL        qemu CPU model (default max: SSE4.2/AVX2 for DPDK)
#   --expect "NAME..." checks that must each PASS (space-separated, may be
#                      repeated): one missing, skipped or failed fails the run
#   --debug            keep kernel messages on the console during the test
#   -v, --verbose      copy the console to stderr while it runs
#   -- ARGS...         anything else for qemu (other single-dash options
#                      and their arguments go there too, e.g. -device ...)
#
# The NICs are at fixed addresses with fixed MACs:
#   virtio-net 0000:00:03.0 52:54:00:12:34:01 (1af4:1041)
#   e1000      0000:00:04.0 52:54:00:12:34:02 (8086:100e)
#   e1000e     0000:00:05.0 52:54:00:12:34:03 (8086:10d3)
#
# Exit status: 0 "VMTEST DONE" seen, no FAIL, at least one PASS, and every
# --expect check PASSed; 77 only SKIPs and no --expect (or qemu/TCG
# missing); 1 a FAIL, an expected check not PASSed, or DONE without results;
# 3 the guest stopped without DONE (panic?); 124 timeout; 2 usage/setup.
set -euo pipefail

prog=run-vm.sh
die() { echo "$prog: error: $*" >&2; exit 2; }
skip() { echo "SKIP: $*"; exit 77; }

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$script_dir/../.." && pwd)
cache=${USNET_VM_CACHE:-$repo_root/build/vm-cache}

initrd="" kernel="$cache/vmlinuz" timeout=90 log="" pcap="" ports_file=""
append="" cpu=max verbose=0 debug=0 hugepages="" expect=""
declare -A net=([virtio]=udp [e1000]=udp [e1000e]=udp)
qemu_extra=()
need() { [ $# -ge 2 ] || die "$1 needs an argument"; }
while [ $# -gt 0 ]; do
    case "$1" in
        -h|--help) sed -n '2,45s/^# \{0,1\}//p' "$0"; exit 0 ;;
        --initrd) need "$@"; initrd=$2; shift ;;
        --kernel) need "$@"; kernel=$2; shift ;;
        --timeout) need "$@"; timeout=$2; shift ;;
        --log) need "$@"; log=$2; shift ;;
        --net-virtio|--net-e1000|--net-e1000e) need "$@"; net[${1#--net-}]=$2; shift ;;
        --pcap) need "$@"; pcap=$2; shift ;;
        --ports) need "$@"; ports_file=$2; shift ;;
        --append) need "$@"; append="$append $2"; shift ;;
        --hugepages) need "$@"; hugepages=$2; shift ;;
        --cpu) need "$@"; cpu=$2; shift ;;
        --expect) need "$@"; expect="$expect $2"; shift ;;
        --debug) debug=1 ;;
        -v|--verbose) verbose=1 ;;
        --) shift; qemu_extra+=("$@"); break ;;
        --*) die "unknown option $1 (qemu options take one dash; see --help)" ;;
        *) qemu_extra+=("$1") ;;
    esac
    shift
done
[ -n "$initrd" ] || die "--initrd is required (build one with mkinitramfs.sh)"
[ -f "$initrd" ] || die "initrd $initrd not found"
[ -f "$kernel" ] || die "kernel $kernel not found (run tests/vm/get-kernel.sh)"
[[ "$timeout" =~ ^[0-9]+$ && "$timeout" -ge 10 ]] || die "--timeout must be a number of seconds >= 10"
[ -z "$hugepages" ] || [[ "$hugepages" =~ ^[0-9]+$ ]] || die "--hugepages needs a number"

qemu=${QEMU:-qemu-system-x86_64}
command -v "$qemu" >/dev/null || skip "$qemu not found (apt-get install qemu-system-x86)"
"$qemu" -accel help 2>/dev/null | grep -qx tcg || skip "$qemu has no TCG accelerator"
command -v timeout >/dev/null || die "'timeout' (coreutils) not found"

if [ -z "$log" ]; then
    log=$(mktemp "${TMPDIR:-/tmp}/usnet-vm.XXXXXX.log")
else
    mkdir -p "$(dirname "$log")"
fi
[ -z "$pcap" ] || mkdir -p "$pcap"

# --- host side of the NICs ----------------------------------------------------
declare -A used_port=()
port=""
free_udp_port() { # sets $port
    local busy p
    busy=" $( (ss -Hlun 2>/dev/null || true) | awk '{n = split($4, a, ":"); printf "%s ", a[n]}') "
    for _ in $(seq 1 200); do
        p=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
        [[ "$busy" == *" $p "* ]] && continue
        [ -n "${used_port[$p]:-}" ] && continue
        used_port[$p]=1
        port=$p
        return 0
    done
    die "no free UDP port found"
}

declare -A model=([virtio]="virtio-net-pci,disable-legacy=on,iommu_platform=on"
                  [e1000]=e1000 [e1000e]=e1000e)
declare -A slot=([virtio]=3 [e1000]=4 [e1000e]=5)
declare -A mac=([virtio]=52:54:00:12:34:01 [e1000]=52:54:00:12:34:02 [e1000e]=52:54:00:12:34:03)
net_args=()
ports_lines=""
build_net_args() {
    local nic spec id lp rp
    net_args=() ports_lines="" used_port=()
    for nic in virtio e1000 e1000e; do
        spec=${net[$nic]} id=net-$nic lp="" rp=""
        case "$spec" in
            none) continue ;;
            udp) free_udp_port; lp=$port rp=9 ;;
            loop) free_udp_port; lp=$port rp=$port ;;
            udp:*)
                rp=${spec#udp:}; lp=${rp#*:}; rp=${rp%%:*}
                [ "$lp" != "${spec#udp:}" ] || { free_udp_port; lp=$port; }
                [[ "$rp" =~ ^[0-9]+$ && "$lp" =~ ^[0-9]+$ ]] || die "bad --net-$nic $spec (udp:RPORT[:LPORT])" ;;
            hub:*)
                [[ "${spec#hub:}" =~ ^[0-9]+$ ]] || die "bad --net-$nic $spec (hub:N)"
                net_args+=(-netdev "hubport,id=$id,hubid=${spec#hub:}") ;;
            tap:*) net_args+=(-netdev "tap,id=$id,ifname=${spec#tap:},script=no,downscript=no") ;;
            raw:*) net_args+=(-netdev "${spec#raw:},id=$id") ;;
            *) die "bad --net-$nic '$spec' (udp, udp:R[:L], loop, hub:N, tap:IF, raw:OPTS, none)" ;;
        esac
        if [ -n "$lp" ]; then
            net_args+=(-netdev "socket,id=$id,udp=127.0.0.1:$rp,localaddr=127.0.0.1:$lp")
            ports_lines+="$nic $lp $rp"$'\n'
        fi
        net_args+=(-device "${model[$nic]},netdev=$id,id=nic-$nic,bus=pcie.0,addr=0x${slot[$nic]}.0,mac=${mac[$nic]},romfile=")
        [ -z "$pcap" ] || net_args+=(-object "filter-dump,id=dump-$nic,netdev=$id,file=$pcap/$nic.pcap")
    done
}

guest_timeout=$((timeout - 10))
# no_timer_check: under TCG on a busy host the guest's early check that the
# IO-APIC timer works through interrupt remapping can fail and panic the
# boot (seen about once in ten boots); the timer works once booted.
# tsc=reliable: the guest's TSC is the host's (TCG), but its boot-time
# check finds the vCPUs' TSCs out of sync and falls back to the HPET; then
# the scheduler's clock only advances with timer ticks. Seen in the e1000
# test (about one run in five, always with two ASan tools exiting at once):
# the guest's ticks stopped while both vCPUs ran LeakSanitizer's exit-time
# loop (sched_yield until its tracer thread finishes), so the scheduler
# clock stood still, the tracer never ran, and the guest hung.
# unknown_nmi_panic, panic_print=0x40: when the guest stops answering (host
# timeout), the NMI sent through QEMU's monitor makes it panic with every
# vCPU's backtrace.
cmdline="console=ttyS0 intel_iommu=on quiet panic=-1 no_timer_check tsc=reliable"
cmdline+=" unknown_nmi_panic panic_print=0x40 usnet.timeout=$guest_timeout"
[ -z "$hugepages" ] || cmdline+=" usnet.hugepages=$hugepages"
[ "$debug" = 0 ] || cmdline+=" usnet.debug=1"
cmdline+="$append"

qpid="" tpid="" mondir=""
cleanup() {
    [ -z "$qpid" ] || kill -TERM "$qpid" 2>/dev/null || true
    [ -z "$tpid" ] || kill "$tpid" 2>/dev/null || true
    [ -z "$mondir" ] || rm -rf "$mondir"
}
trap cleanup EXIT
trap 'cleanup; echo "$prog: interrupted" >&2; exit 130' INT TERM

# frozen_diagnose SOCKET: each vCPU's RIP from QEMU's monitor, then an NMI
# to every vCPU (the guest panics with their backtraces: unknown_nmi_panic)
# and 5 s for that output. (Debian's System.map is a stub: the backtraces,
# not the RIPs, name the functions.)
frozen_diagnose() {
    echo "$prog: the guest did not finish within ${timeout}s; its vCPUs:"
    python3 - "$1" <<'PY'
import re, socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
s.connect(sys.argv[1])
def cmd(c):
    s.sendall(c.encode() + b"\n")
    out, end = b"", time.time() + 5
    while time.time() < end and not out.endswith(b"(qemu) "):
        try:
            out += s.recv(65536)
        except socket.timeout:
            break
    return out.decode(errors="replace")
cmd("")
for cpu, rip in re.findall(r"CPU#(\d+).*?RIP=([0-9a-f]+)", cmd("info registers -a"), re.S):
    print(f"  vCPU {cpu}: RIP {rip}")
cmd("nmi")
PY
    sleep 5
}

t0=$(date +%s.%N)
for _ in 1 2 3; do
    build_net_args
    # intel-iommu must come before the devices it translates for.
    # shellcheck disable=SC2054 # commas belong to qemu's option syntax
    cmd=("$qemu" -accel tcg,thread=multi -cpu "$cpu" -smp 2 -m 1G
         -machine q35,kernel-irqchip=split
         -device intel-iommu,intremap=on
         -nographic -no-reboot -vga none -nic none
         -kernel "$kernel" -initrd "$initrd" -append "$cmdline"
         "${net_args[@]}" "${qemu_extra[@]+"${qemu_extra[@]}"}")
    {
        printf '%s: ' "$prog"; printf '%q ' "${cmd[@]}"; echo
    } >"$log"
    # The monitor socket: a short path (sun_path holds 108 bytes).
    mondir=$(mktemp -d "${TMPDIR:-/tmp}/usnet-vm.XXXXXX")
    "${cmd[@]}" -monitor "unix:$mondir/mon,server=on,wait=off" </dev/null >>"$log" 2>&1 &
    qpid=$!
    if [ "$verbose" = 1 ]; then
        tail -n +2 -f --pid="$qpid" "$log" >&2 &
        tpid=$!
    fi
    rc=0
    deadline=$(($(date +%s) + timeout))
    while kill -0 "$qpid" 2>/dev/null && [ "$(date +%s)" -lt "$deadline" ]; do
        sleep 0.2
    done
    if kill -0 "$qpid" 2>/dev/null; then
        # The guest's own timeout (guest_timeout) did not end it: the guest
        # stopped running. Record where its CPUs are, then make it panic
        # with backtraces (unknown_nmi_panic), then stop QEMU.
        frozen_diagnose "$mondir/mon" >>"$log" 2>&1 || true
        kill -TERM "$qpid" 2>/dev/null
        for _ in $(seq 1 25); do kill -0 "$qpid" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$qpid" 2>/dev/null || true
        wait "$qpid" 2>/dev/null || true
        rc=124
    else
        wait "$qpid" || rc=$?
    fi
    qpid=""
    rm -rf "$mondir"; mondir=""
    if [ -n "$tpid" ]; then wait "$tpid" 2>/dev/null || true; tpid=""; fi
    # Another run took one of our auto-picked ports between check and bind.
    retry=0
    if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && ! grep -q '^vm-init:' "$log"; then
        for p in "${!used_port[@]}"; do
            grep -q "localaddr=127.0.0.1:$p: can't bind" "$log" && retry=1
        done
    fi
    [ "$retry" = 1 ] || break
    echo "$prog: an automatically chosen UDP port was taken meanwhile; retrying" >&2
done
elapsed=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')
[ -z "$ports_file" ] || printf '%s' "$ports_lines" >"$ports_file"

# --- results ------------------------------------------------------------------
results=$(tr -d '\r' <"$log" | grep -o 'VMTEST \(PASS\|FAIL\|SKIP\|DONE\).*' || true)
[ -z "$results" ] || printf '%s\n' "$results"
count() { printf '%s\n' "$results" | grep -c "^VMTEST $1" || true; }
npass=$(count PASS) nfail=$(count FAIL) nskip=$(count SKIP) ndone=$(count DONE)
summary="$npass passed, $nfail failed, $nskip skipped in ${elapsed} s (log: $log)"
show_tail() { [ "$verbose" = 1 ] || { echo "--- last lines of $log:"; tail -n 30 "$log" | tr -d '\r'; echo "---"; } >&2; }

if [ "$rc" -eq 124 ]; then
    echo "$prog: TIMEOUT: qemu killed after ${timeout}s; $summary" >&2
    show_tail; exit 124
fi
if [ "$rc" -ne 0 ] && ! grep -q '^vm-init:' "$log"; then
    echo "$prog: ERROR: qemu failed (status $rc) before the guest started" >&2
    { echo "--- $log:"; tail -n 10 "$log"; echo "---"; } >&2
    exit 2
fi
if [ "$ndone" -eq 0 ]; then
    echo "$prog: ERROR: the guest stopped without 'VMTEST DONE' (qemu status $rc); $summary" >&2
    show_tail; exit 3
fi
if [ "$nfail" -gt 0 ]; then
    echo "$prog: FAIL: $summary" >&2
    show_tail; exit 1
fi
# Each expected check must have PASSed: a SKIP in CI means a facility is
# missing, and a check that never ran means the script went wrong.
missing=""
for name in $expect; do
    # "VMTEST PASS NAME" alone or followed by its details ("(3 devices)").
    printf '%s\n' "$results" |
        awk -v n="$name" '$1 == "VMTEST" && $2 == "PASS" && $3 == n { f = 1 } END { exit !f }' &&
        continue
    got=$(printf '%s\n' "$results" | grep -E "^VMTEST (FAIL|SKIP) $name(:|\$)" | head -n 1 |
        cut -d' ' -f2 || true)
    missing+=" $name(${got:-absent})"
done
if [ -n "$missing" ]; then
    echo "$prog: FAIL: expected checks not passed:$missing; $summary" >&2
    show_tail; exit 1
fi
if [ "$npass" -eq 0 ] && [ "$nskip" -eq 0 ]; then
    echo "$prog: FAIL: no test results; $summary" >&2
    show_tail; exit 1
fi
if [ "$npass" -eq 0 ]; then
    echo "$prog: SKIP: $summary" >&2; exit 77
fi
echo "$prog: OK: $summary" >&2
