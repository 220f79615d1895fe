#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# usnetd's throughput against DPDK's, measured so that the machine's moods
# cannot decide the ratio.
#
# The same two set-ups as usnetd_throughput.sh (64-byte frames, ring 1024,
# burst 32, sender on cpu 0, forwarder on cpu 1):
#   usnet: usnet-pktgen (memif client) -> usnetd -U null: (memif server + switch)
#   DPDK:  dpdk-testpmd txonly (net_memif client) -> dpdk-testpmd io
#          (net_memif server + net_null)
# but both set-ups are started once and then take turns: every process of
# the side that is not measured is stopped (SIGSTOP), so each slice has the
# two cores to itself. SLICES slices per side, SECS seconds each, in the
# order A B A B ... Before every slice, with everything stopped, xcore_probe
# measures how fast the machine streams cache lines from cpu 0 to cpu 1 at
# that moment (this machine moves between modes that differ by 3x or more).
#
# A slice's rate: the forwarder's counter (usnetd's uplink tx_frames through
# usnetctl; testpmd's RX-packets of its memif port) read with the sender
# stopped, before the sender is continued and after it is stopped again, over
# the time between SIGCONT and SIGSTOP. Frames in flight at the end are
# counted (the forwarder drains them before the second read), at most one
# ring (1024 frames) against millions.
#
# Modes: slices are split at the largest gap (on a log scale) in the sorted
# probe rates if that gap is a factor > MODE_GAP (1.4); otherwise they are
# one mode. usnet and DPDK are compared only within a mode: the ratio of
# their medians, and the median of the ratios of adjacent usnet/DPDK slices
# whose probes fell in the same mode.
#
#   bench/usnetd_sliced.sh BUILD_DIR
#
# Slices in which the forwarder had less than MIN_SHARE (80) % of its core,
# or the probe's threads barely ran (< 1 Mslots/s), are starved: listed,
# and left out (on a saturated machine they measure the other tenants).
#
# Before a slice whose probe is below QUIET_PROBE (50) Mslots/s, the probe is
# repeated every 0.5 s, at most QUIET_TRIES (20) times, until it is not: on
# a saturated machine the slice then starts in a moment when the probe's
# threads got their cores (the rate recorded is the last probe's).
#
# Environment: SECS (1.5), SLICES (16 per side), MODE_GAP (1.4), MIN_SHARE
# (80), QUIET_PROBE (50), QUIET_TRIES (20), KEEP=1.
# Output: one line per slice, then a table per mode and "RESULT" lines.
# Not a test: needs root (testpmd), exits 1 only if nothing could be measured.
set -euo pipefail

BUILD=${1:?usage: $0 BUILD_DIR}
BUILD=$(cd "$BUILD" && pwd)
SECS=${SECS:-1.5}
SLICES=${SLICES:-16}
MODE_GAP=${MODE_GAP:-1.4}
MIN_SHARE=${MIN_SHARE:-80}
QUIET_PROBE=${QUIET_PROBE:-50}
QUIET_TRIES=${QUIET_TRIES:-20}
USNETD=$BUILD/daemon/usnetd
PKTGEN=$BUILD/tools/usnet-pktgen
CTL=$BUILD/tools/usnetctl
PROBE=$BUILD/bench/xcore_probe
PREFIX=usnetdsliced$$
WORK=$(mktemp -d /tmp/usnetd-sliced.XXXXXX)
pids=()

cleanup() {
	local p
	for p in "${pids[@]+"${pids[@]}"}"; do kill -CONT "$p" 2>/dev/null || true; done
	for p in "${pids[@]+"${pids[@]}"}"; do kill -INT "$p" 2>/dev/null || true; done
	exec 3>&- 2>/dev/null || true
	sleep 0.5
	for p in "${pids[@]+"${pids[@]}"}"; do kill -KILL "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
	rm -rf "/var/run/dpdk/${PREFIX}"*
	if [[ ${KEEP:-0} == 1 ]]; then echo "work directory kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
die() {
	echo "usnetd_sliced: $*" >&2
	for f in "$WORK"/*.log; do [[ -f $f ]] && { echo "== $f" >&2; tail -n 15 "$f" >&2; }; done
	exit 1
}

for b in "$USNETD" "$PKTGEN" "$CTL" "$PROBE"; do [[ -x $b ]] || die "$b not built"; done
command -v dpdk-testpmd >/dev/null || die "dpdk-testpmd not installed (apt-get install dpdk-dev)"
mkdir -p /var/run/dpdk 2>/dev/null || true
[[ -w /var/run/dpdk ]] || die "/var/run/dpdk is not writable (testpmd needs it): run as root"

now_ns() { date +%s%N; }
runtime_ns() { awk '{ print $1 }' "$1/schedstat" 2>/dev/null || echo 0; }
# task_of PATTERN COMM: the task directory of thread COMM of the
# dpdk-testpmd whose command line has PATTERN.
task_of() {
	local p t
	for p in $(pgrep -f -- "$1" || true); do
		[[ $(cat "/proc/$p/comm" 2>/dev/null) == dpdk-testpmd ]] || continue
		for t in /proc/"$p"/task/*; do
			[[ $(cat "$t/comm" 2>/dev/null) == "$2" ]] && { echo "$t"; return 0; }
		done
	done
	return 0
}

# ---- usnet side: usnetd on cpu 1, pktgen on cpu 0, for as long as we need.
total=$(awk -v s="$SECS" -v n="$SLICES" -v q="$QUIET_TRIES" 'BEGIN { printf "%d", 2 * n * (s + 1 + 0.7 * q) + 120 }')
sock=$WORK/u.sock uctl=$WORK/u.ctl
"$USNETD" -s "$sock" -C "$uctl" -c 1 -U null: -i 1 --auto-ids none -q 2>"$WORK/usnetd.log" &
u_fwd=$!
pids+=("$u_fwd")
for _ in $(seq 100); do [[ -S $uctl ]] && break; sleep 0.05; done
[[ -S $uctl ]] || die "usnetd did not start"
taskset -c 0 "$PKTGEN" -p "memif:$sock,id=1" -s 64 -t "$total" --src-mac 02:75:00:00:00:01 -q \
	2>"$WORK/pktgen.log" &
u_snd=$!
pids+=("$u_snd")
usnet_count() {
	"$CTL" --socket "$uctl" uplinks --json |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["uplinks"][0]["tx_frames"])'
}
for _ in $(seq 100); do
	c=$(usnet_count 2>/dev/null || echo 0)
	[[ $c -gt 0 ]] && break
	sleep 0.05
done
[[ $c -gt 0 ]] || die "usnet: no frame reached usnetd's uplink"
kill -STOP "$u_snd"
sleep 0.1
kill -STOP "$u_fwd"

# ---- DPDK side: the io server reads its commands from a FIFO.
dsock=$WORK/d.sock dlog=$WORK/dpdk-server.log
mkfifo "$WORK/cmd"
stdbuf -oL dpdk-testpmd --no-huge -m 256 --no-pci -l 0-1 --main-lcore 0 --file-prefix "${PREFIX}s" \
	--log-level=lib.eal:error \
	--vdev="net_memif0,role=server,id=0,socket=$dsock,socket-abstract=no" \
	--vdev=net_null0,no-rx=1 -- -i --forward-mode=io --port-topology=paired --nb-cores=1 \
	--burst=32 --total-num-mbufs=16384 <"$WORK/cmd" >"$dlog" 2>&1 &
d_fwd=$!
pids+=("$d_fwd")
exec 3>"$WORK/cmd"
for _ in $(seq 300); do grep -q "testpmd>" "$dlog" 2>/dev/null && break; sleep 0.1; done
grep -q "testpmd>" "$dlog" || die "testpmd (server) did not start"
echo start >&3
sleep "$total" | dpdk-testpmd --no-huge -m 256 --no-pci -l 0-1 --main-lcore 1 \
	--file-prefix "${PREFIX}c" --log-level=lib.eal:error \
	--vdev="net_memif0,role=client,id=0,socket=$dsock,socket-abstract=no" -- \
	--forward-mode=txonly --txpkts=64 --nb-cores=1 --burst=32 --total-num-mbufs=16384 \
	--disable-link-check >"$WORK/dpdk-client.log" 2>&1 &
d_snd=$!
pids+=("$d_snd")
# dpdk_count: RX-packets of the server's memif port (port 0).
nstats=0
dpdk_count() {
	nstats=$((nstats + 1))
	echo "show port stats 0" >&3
	local i
	for i in $(seq 200); do
		[[ $(grep -c "RX-packets:" "$dlog") -ge $nstats ]] && break
		sleep 0.01
	done
	awk '/RX-packets:/ { r = $2 } END { print r + 0 }' "$dlog"
}
for _ in $(seq 100); do
	c=$(dpdk_count)
	[[ $c -gt 0 ]] && break
	sleep 0.05
done
[[ $c -gt 0 ]] || die "DPDK: no frame reached testpmd's memif port"
kill -STOP "$d_snd"
sleep 0.1
d_task=$(task_of "--file-prefix ${PREFIX}s" rte-worker-1)
[[ -n $d_task ]] || die "cannot find testpmd's forwarding thread"
kill -STOP "$d_fwd"

# slice WHO: run one slice; prints "MPPS FORWARDER_SHARE%".
slice() {
	local who=$1 fwd snd task c0 c1 t0 t1 r0 r1
	if [[ $who == usnet ]]; then fwd=$u_fwd snd=$u_snd task=/proc/$u_fwd; else fwd=$d_fwd snd=$d_snd task=$d_task; fi
	kill -CONT "$fwd"
	sleep 0.05
	if [[ $who == usnet ]]; then c0=$(usnet_count); else c0=$(dpdk_count); fi
	r0=$(runtime_ns "$task") t0=$(now_ns)
	kill -CONT "$snd"
	sleep "$SECS"
	kill -STOP "$snd"
	t1=$(now_ns) r1=$(runtime_ns "$task")
	sleep 0.05
	if [[ $who == usnet ]]; then c1=$(usnet_count); else c1=$(dpdk_count); fi
	kill -STOP "$fwd"
	awk -v f="$((c1 - c0))" -v t="$((t1 - t0))" -v r="$((r1 - r0))" \
		'BEGIN { printf "%.3f %.0f\n", f * 1000 / t, 100 * r / t }'
}

probe() { "$PROBE" -t 100 | awk -F= '/RESULT xcore mslots/ { print $2 }'; }

echo "== usnetd sliced throughput: memif client -> forwarder -> null, 64-byte frames"
echo "   $SLICES slices per side of $SECS s, alternating; the other side SIGSTOPped;"
echo "   probe = xcore_probe -t 100 (million 64-byte slots/s cpu 0 -> cpu 1) before each slice"
printf "   %5s %-6s %8s %8s %6s\n" slice who probe Mpps "fwd%"
: >"$WORK/slices"
for i in $(seq 1 $((2 * SLICES))); do
	if ((i % 2)); then who=usnet; else who=dpdk; fi
	p=$(probe)
	# On a saturated machine, wait (bounded) for a moment when the probe's
	# threads get their cores, so that slices are not all starved.
	for _ in $(seq 1 "$QUIET_TRIES"); do
		awk -v p="$p" -v m="$QUIET_PROBE" 'BEGIN { exit !(p >= m) }' && break
		sleep 0.5
		p=$(probe)
	done
	read -r m s < <(slice "$who")
	printf "   %5d %-6s %8s %8s %6s\n" "$i" "$who" "$p" "$m" "$s"
	echo "$i $who $p $m $s" >>"$WORK/slices"
done

# ---- analysis (python3: modes, medians, paired ratios).
python3 - "$WORK/slices" "$MODE_GAP" "$MIN_SHARE" <<'EOF'
import math, statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
gap_min = float(sys.argv[2])
min_share = float(sys.argv[3])
sl = [dict(i=int(r[0]), who=r[1], probe=float(r[2]), mpps=float(r[3]), share=float(r[4]))
      for r in rows]
# A slice whose forwarder got less than MIN_SHARE % of its core, or whose
# probe ran at < 1 Mslots/s (its threads barely ran), measured the other
# tenants, not usnet or DPDK: reported, left out of every comparison.
starved = [s for s in sl if s["share"] < min_share or s["probe"] < 1.0]
for s in starved:
    print("   slice %d (%s) starved: forwarder %.0f%%, probe %.1f: left out" % (s["i"], s["who"],
          s["share"], s["probe"]))
sl = [s for s in sl if s not in starved]
if not sl:
    print("usnetd_sliced: every slice starved (the machine is saturated)", file=sys.stderr)
    print("RESULT usnetd_sliced starved=%d" % len(starved))
    sys.exit(1)
probes = sorted(s["probe"] for s in sl)
best_gap, cut = 1.0, None
for a, b in zip(probes, probes[1:]):
    if a > 0 and b / a > best_gap:
        best_gap, cut = b / a, math.sqrt(a * b)
if best_gap < gap_min:
    cut = None
for s in sl:
    s["mode"] = "one" if cut is None else ("fast" if s["probe"] > cut else "slow")
print("   modes: " + ("one (largest probe gap %.2fx < %.2fx)" % (best_gap, gap_min) if cut is None
      else "slow < %.0f Mslots/s < fast (gap %.2fx)" % (cut, best_gap)))
print("   %-5s %6s %6s %12s %12s %10s %10s %8s %8s" % ("mode", "usnet", "dpdk", "usnet Mpps",
      "dpdk Mpps", "usnet/CPU", "dpdk/CPU", "ratio", "paired"))
for mode in ("one", "slow", "fast"):
    u = [s for s in sl if s["mode"] == mode and s["who"] == "usnet"]
    d = [s for s in sl if s["mode"] == mode and s["who"] == "dpdk"]
    if not u and not d:
        continue
    by_i = {x["i"]: x for x in sl}
    pairs = [by_i[i]["mpps"] / by_i[i + 1]["mpps"] for i in by_i
             if i % 2 == 1 and i + 1 in by_i and by_i[i]["mode"] == mode
             and by_i[i + 1]["mode"] == mode and by_i[i + 1]["mpps"] > 0]
    def med(xs, k):
        return statistics.median([x[k] for x in xs]) if xs else 0.0
    def med_cpu(xs):
        v = [x["mpps"] * 100 / x["share"] for x in xs if x["share"] > 0]
        return statistics.median(v) if v else 0.0
    um, dm = med(u, "mpps"), med(d, "mpps")
    ratio = um / dm if dm > 0 and um > 0 else 0.0
    paired = statistics.median(pairs) if pairs else 0.0
    print("   %-5s %6d %6d %12.2f %12.2f %10.2f %10.2f %8.2f %8.2f" % (mode, len(u), len(d), um, dm,
          med_cpu(u), med_cpu(d), ratio, paired))
    print("RESULT usnetd_sliced mode=%s usnet=%.2f dpdk=%.2f ratio=%.2f paired=%.2f n=%d/%d/%d starved=%d"
          % (mode, um, dm, ratio, paired, len(u), len(d), len(pairs), len(starved)))
EOF
