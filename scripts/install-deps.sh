#!/usr/bin/env bash
# Install the Debian 12 packages usnet's build, tests and benchmarks need,
# if any is missing, and make sure apt can resolve the guest kernel package
# the VM tests download. Idempotent; needs root only when something is missing.
set -euo pipefail

PKGS=(build-essential cmake pkg-config libpcap-dev iproute2 tcpdump tshark
      dpdk valgrind qemu-system-x86 busybox-static cpio
      clang libclang-rt-14-dev iputils-ping
      libxdp-dev libbpf-dev llvm xdp-tools) # afxdp: port, its XDP program; xdp-loader (afxdp_veth)

missing=()
for p in "${PKGS[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[[ "$status" == "install ok installed" ]] || missing+=("$p")
done
# tests/vm/get-kernel.sh resolves linux-image-amd64 through apt's lists.
need_lists=0
apt-cache show linux-image-amd64 >/dev/null 2>&1 || need_lists=1
[[ ${#missing[@]} -eq 0 && $need_lists -eq 0 ]] && exit 0

if [[ $(id -u) -ne 0 ]]; then
	echo "install-deps: missing packages: ${missing[*]:-none}; apt lists: $([[ $need_lists -eq 1 ]] && echo missing || echo ok);" \
	     "run as root, or: sudo apt-get update && sudo apt-get install ${missing[*]}" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
[[ ${#missing[@]} -eq 0 ]] && exit 0
echo "install-deps: installing ${missing[*]}"
# tshark asks whether non-root users may capture; answer no, non-interactively.
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
