#!/bin/bash
# SPDX-License-Identifier: MIT
# An afpacket: port receives what the Linux kernel sends on a veth with its
# DEFAULT offloads: TSO/GSO on, so the kernel's TCP hands the veth segments
# of up to 64 KB, which reach the port's AF_PACKET socket whole. The port
# (gso=on, its default) cuts them back into MTU-sized frames
# (src/proto/gso.c). Before it, every such frame was dropped as too long and
# the transfer never finished.
#
#  1. TSO and GSO are on on the kernel's end (SIOCETHTOOL), or the test
#     fails: it must not pass without super-frames to cut.
#  2. tcp_kpeer (the kernel) sends BYTES to usnet-tcpperf on afpacket: (the
#     default options); SHA-256 equal on both ends; the port counted cut
#     frames (rx_gso_frames > 0), no rx_errors, none dropped whole.
# gso= and its errors: afpacket_basic.sh. VLAN-tagged super-frames:
# tests/unit/test_gso.c (usnet's stack speaks untagged Ethernet).
# Size: BYTES (default 64M, 8M in a sanitizer build: within the test's
# budget on a loaded machine). Speed is not asserted; the throughput is
# logged.
# Usage: afpacket_gso.sh BUILD_DIR     (exit 77 = skipped)
set -u
BUILD=${1:?usage: afpacket_gso.sh BUILD_DIR}
. "$(dirname "$0")/tools_veth_lib.sh"
tv_init afpacket_gso
. "$(dirname "$0")/stack_lib.sh"
. "$(dirname "$0")/tcp_lib.sh"
K=198.18.23.1 U=198.18.23.2
if tcp_sanitized; then BYTES=${BYTES:-8M}; else BYTES=${BYTES:-64M}; fi
N=$(tcp_bytes "$BYTES")
XT=120

st_pair ag "$K"
tv_need_afpacket "$SU" "$UIF"

# --- 1. default offloads ------------------------------------------------------------
# A veth's defaults: TSO and GSO on, GRO off (veth GROs only with XDP or
# threaded NAPI). The sender's TSO/GSO make the super-frames.
offl=$(tv_offloads "$SK" "$KIF" 2>&1)
case $offl in
"tso=1 gso=1 "*) ok "offloads of the kernel's end $KIF: $offl" ;;
*) fail "offloads of the kernel's end $KIF are not the defaults this test needs: $offl" ;;
esac
echo "log: offloads of usnet's end $UIF: $(tv_offloads "$SU" "$UIF" 2>&1)"

# from_kernel LABEL DEST SPEC PORT: tcp_kpeer sends N bytes to usnet-tcpperf on SPEC.
from_kernel() {
	local label=$1 dest=$2 spec=$3 port=$4 rc krc ppid
	tcp_bg $XT "$TMP/p.$port" "$TMP/p.$port.err" "$SU" "$PERF" -p "$spec" \
		--ip "$dest/24" -l "$port" -m recv --sha256 --json --one-off -n "$N"
	ppid=$TV_PID
	tv_wait_line "$TMP/p.$port.err" "server on" || return
	timeout -k 5 $XT ip netns exec "$SK" "$KPEER" --connect "$dest:$port" -n "$N" --sha256 \
		--json -q --timeout 30 >"$TMP/k.$port" 2>"$TMP/k.$port.err"
	krc=$?
	tv_wait "$ppid" 60
	rc=$?
	tcp_json "$TMP/p.$port"
	tcp_json "$TMP/k.$port"
	tv_sane "usnet-tcpperf ($label)" "$rc" "$TMP/p.$port.err"
	sp=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["sha256"][0])' \
		"$TMP/p.$port.json" 2>/dev/null)
	sk=$(tcp_sha "$TMP/k.$port")
	if [ "$rc" -eq 0 ] && [ "$krc" -eq 0 ] && [ -n "$sp" ] && [ "$sp" = "$sk" ]; then
		ok "$label: $N bytes, sha256 equal on both ends ($sp)"
	else
		fail "$label: usnet-tcpperf exit $rc, tcp_kpeer exit $krc, sha256 usnet '$sp' kernel '$sk': $(tail -n 3 "$TMP/p.$port.err" "$TMP/k.$port.err" 2>/dev/null | tr '\n' ' ')"
	fi
	tv_json "$label: the port cut super-frames, dropped none" "$TMP/p.$port.json" \
		"j['port_stats']['rx_gso_frames'] > 0 and j['port_stats']['rx_errors'] == 0 and j['port_stats']['rx_gso_dropped'] == 0"
	echo "log: $label: $(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); p=j["port_stats"]; print("%.3f Gbit/s in %.2f s; port: %d frames, %d super-frames cut, rx_errors %d, rx_nobuf %d, rx_dropped %d" % (j.get("gbps", 0), j.get("seconds", 0), p["rx_packets"], p["rx_gso_frames"], p["rx_errors"], p["rx_nobuf"], p["rx_dropped"]))' "$TMP/p.$port.json" 2>&1)"
}

# --- 2. kernel -> usnet, untagged -----------------------------------------------------
from_kernel "kernel (TSO) -> usnet" "$U" "afpacket:$UIF" 5001

[ "$fails" -eq 0 ] && { echo "PASS"; exit 0; }
echo "FAILED: $fails check(s)"
exit 1
