#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# usnet's TCP through a bad network, against the Linux kernel's through the
# same one: tests/integration/tcp_impair.sh with every transfer BYTES long
# (default 256M, the issue's size) and, after each usnet run, the same
# transfer kernel to kernel through usnet-fwd with the same impairment and
# seed (IMPAIR_KREF). Prints the log and a table: per profile and direction,
# usnet's Mbit/s and the sender's retransmissions, the kernel's, and the
# ratio usnet / kernel.
#
#   cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
#   cmake --build build -j2
#   sudo bench/tcp_impair.sh build
#
# Environment: BYTES (256M), PROFILES (all five: loss1 reorder5 dup05
# delay20j5 loss1d20), DIRS ("to from"), XT (a transfer's bound, 3600 s).
# 1 % loss with 20 ms each way allows a few Mbit/s (Linux's TCP too), so
# 256 MiB of loss1d20 takes minutes per run; PROFILES and BYTES select less.
# Needs root, usnet-tcpperf and tcp_kpeer in BUILD, python3.
set -uo pipefail

BUILD=${1:?usage: $0 BUILD_DIR}
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=$(mktemp /tmp/usnet-tcp-impair.XXXXXX)
trap 'rm -f "$OUT"' EXIT

btype=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$BUILD/CMakeCache.txt" 2>/dev/null)
[[ $btype == Release ]] ||
	echo "warning: $BUILD is a '$btype' build; numbers are meant for Release" >&2

IMPAIR_BYTES=${BYTES:-256M} IMPAIR_FULL=1 IMPAIR_KREF=1 IMPAIR_XT=${XT:-3600} \
	IMPAIR_PROFILES=${PROFILES:-loss1 reorder5 dup05 delay20j5 loss1d20} \
	IMPAIR_DIRS=${DIRS:-to from} \
	bash "$HERE/../tests/integration/tcp_impair.sh" "$BUILD" 2>&1 | tee "$OUT"
status=${PIPESTATUS[0]}

echo
echo "######## usnet TCP vs Linux TCP through usnet-fwd's impairment ($(uname -r), $(nproc) CPUs)"
python3 - "$OUT" <<'EOF'
import re, sys
runs = {}
for line in open(sys.argv[1]):
    if not line.startswith("RESULT "):
        continue
    kv = dict(re.findall(r"(\w+)=(\S+)", line))
    runs.setdefault((kv["profile"], kv["dir"]), {})[kv["peer"]] = kv
names = {"loss1": "1 % loss", "reorder5": "5 % reordering", "dup05": "0.5 % duplication",
         "delay20j5": "20 ms +- 5 ms each way", "loss1d20": "1 % loss + 20 ms each way"}
# retrans: the sender's (usnet-tcpperf's for usnet -> kernel, the kernel's
# for kernel -> usnet and for the reference).
print("| profile | direction | MiB | usnet: Mbit/s | usnet: sender retrans | kernel-kernel: Mbit/s | kernel-kernel: retrans | usnet/kernel |")
print("|---|---|---|---|---|---|---|---|")
for (prof, d), r in runs.items():
    u, k = r.get("usnet", {}), r.get("kernel", {})
    mib = int(u.get("bytes", k.get("bytes", 0))) >> 20
    um, km = u.get("mbps"), k.get("mbps")
    ratio = "%.2f" % (float(um) / float(km)) if um and km and float(km) else "-"
    print("| %s | %s | %d | %s | %s | %s | %s | %s |" % (
        names.get(prof, prof), "usnet -> kernel" if d == "to" else "kernel -> usnet", mib,
        um or "failed", u.get("retrans", "-"), km or "failed", k.get("retrans", "-"), ratio))
EOF
exit "$status"
