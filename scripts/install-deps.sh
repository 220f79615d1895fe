#!/usr/bin/env bash
# Install the Debian 12 packages usnet needs, if any is missing.
#
# usage: install-deps.sh [build|test]
#   build   what compiling (`make all`) and scripts/demo.sh need: BUILD_PKGS
#   test    (default) BUILD_PKGS and PKGS, everything the test suite and the
#           benchmarks run (`make test`); make sure apt can resolve the guest
#           kernel package the VM tests download; then scripts/check-test-deps.sh
#           checks that every command the tests call is there, so that a
#           missing one fails here instead of turning a test into a SKIP.
# Idempotent; needs root only when something is missing.
set -euo pipefail
mode=${1:-test}
case $mode in
build | test) ;;
*) echo "usage: $0 [build|test]" >&2; exit 2 ;;
esac

BUILD_PKGS=(build-essential cmake pkg-config libpcap-dev
	iproute2 procps python3) # scripts/demo.sh: ip, sysctl, its summary

# Everything else the tests (and bench/) need; one package per line, with
# what uses it. A test that needs a new package adds a line here, and the
# command it calls to scripts/check-test-deps.sh.
PKGS=(
	g++                # tests/integration/headers.sh: the public headers from C++
	iproute2           # ip, ss: namespaces, veth pairs, TAP devices (also in BUILD_PKGS)
	iputils-ping       # ping: echo_tap, vm.ping, fwd_impair
	procps             # sysctl, pgrep (also in BUILD_PKGS)
	python3            # JSON checks in the integration tests (also in BUILD_PKGS)
	python3-scapy      # the stack's hostile-input tests
	tcpdump            # capture_veth, tools_cli, vm.virtio
	tshark             # capture_veth, tools_cli, vm.e1000, vm.virtio
	dpdk               # DPDK's PMDs (net_memif, net_null ...)
	dpdk-dev           # dpdk-testpmd: memif_dpdk, usnetd_dpdk, vm.virtio, bench
	valgrind           # usnetd_valgrind
	qemu-system-x86    # vm.*
	busybox-static     # vm.*: the guest's userland
	cpio               # vm.*: the guest's initramfs
	xz-utils           # tests/vm/get-kernel.sh: kernel modules
	zstd               # tests/vm/get-kernel.sh: kernel modules
	clang              # fuzz/: libFuzzer targets; BPF programs (clang -target bpf)
	llvm               # BPF programs: llvm-objdump, llvm-strip
	libclang-rt-14-dev # libFuzzer and sanitizer runtimes for clang
	libfuzzer-14-dev   # libFuzzer
	libxdp-dev         # the afxdp: port
	libbpf-dev         # the afxdp: port
	xdp-tools          # xdp-loader: the afxdp: port's tests
	sockperf           # stack latency tests and benchmarks
	iperf3             # stack throughput tests and benchmarks
	wrk                # HTTP load against the stack
	nginx-light        # HTTP server peer for the stack
	curl               # HTTP client peer for the stack
	netcat-openbsd     # nc: TCP/UDP peer for the stack
	groff-base         # tests/integration/man_pages.sh: groff -ww renders each man page
	mandoc             # tests/integration/man_pages.sh: mandoc -T lint checks each man page
	man-db             # man: integration.install looks the installed man pages up
)

want=("${BUILD_PKGS[@]}")
[[ $mode == test ]] && want+=("${PKGS[@]}")
missing=()
for p in "${want[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[[ "$status" == "install ok installed" ]] || missing+=("$p")
done
# tests/vm/get-kernel.sh resolves linux-image-amd64 through apt's lists.
need_lists=0
if [[ $mode == test ]]; then
	apt-cache show linux-image-amd64 >/dev/null 2>&1 || need_lists=1
fi

if [[ ${#missing[@]} -gt 0 || $need_lists -eq 1 ]]; then
	if [[ $(id -u) -ne 0 ]]; then
		echo "install-deps: missing packages: ${missing[*]:-none}; apt lists: $([[ $need_lists -eq 1 ]] && echo missing || echo ok);" \
			"run as root, or: sudo apt-get update && sudo apt-get install ${missing[*]}" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	if [[ ${#missing[@]} -gt 0 ]]; then
		echo "install-deps: installing ${missing[*]}"
		# tshark asks whether non-root users may capture; answer no, non-interactively.
		echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
		apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
		echo "install-deps: done"
	fi
fi
[[ $mode == test ]] && exec "$(dirname "$0")/check-test-deps.sh"
exit 0
