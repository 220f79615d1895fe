#!/usr/bin/env bash
# Check that everything the test suite calls is installed, so that a missing
# tool fails here, loudly, instead of turning a test into a SKIP.
# scripts/install-deps.sh (test mode, the default) runs it after installing.
#
# It checks every `command -v NAME` found in tests/ (so a new test's guard
# is checked without editing this file) plus the commands in NEEDS below,
# which tests call without such a guard. Exit 0: all there; 1: some missing.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

# command → Debian package that provides it (scripts/install-deps.sh).
declare -A NEEDS=(
	[cc]=build-essential [c++]=g++ [nm]=binutils [objcopy]=binutils
	[cmake]=cmake [pkg-config]=pkg-config [ldd]=libc-bin [ldconfig]=libc-bin
	[timeout]=coreutils [od]=coreutils [realpath]=coreutils
	[flock]=util-linux [setpriv]=util-linux [su]=util-linux
	[ip]=iproute2 [ss]=iproute2 [nstat]=iproute2 [ping]=iputils-ping
	[sysctl]=procps [pgrep]=procps [python3]=python3
	[tcpdump]=tcpdump [tshark]=tshark [dpdk-testpmd]=dpdk-dev [valgrind]=valgrind
	[qemu-system-x86_64]=qemu-system-x86 [busybox]=busybox-static [cpio]=cpio
	[gzip]=gzip [xz]=xz-utils [zstd]=zstd [dpkg-deb]=dpkg
	[apt-get]=apt [apt-cache]=apt
	[clang]=clang [llc]=llvm [xdp-loader]=xdp-tools
	[sockperf]=sockperf [iperf3]=iperf3 [wrk]=wrk [nginx]=nginx-light
	[curl]=curl [nc]=netcat-openbsd [man]=man-db [groff]=groff-base [mandoc]=mandoc
)

# Every `command -v NAME` in the tests (not `command -v "$var"`), except in
# tests/vm/guest/, which runs inside the VM guest.
mapfile -t guarded < <(grep -rhoE --exclude-dir=guest 'command -v [A-Za-z0-9_.+-]+' "$root/tests" |
	awk '{print $3}' | sort -u)

mapfile -t cmds < <(printf '%s\n' "${!NEEDS[@]}" "${guarded[@]}" | sort -u)
bad=0
for c in "${cmds[@]}"; do
	# A user's PATH may lack the sbin directories that root's has.
	command -v "$c" >/dev/null || [[ -x /usr/sbin/$c || -x /sbin/$c ]] && continue
	pkg=${NEEDS[$c]:-}
	if [[ -n $pkg ]]; then
		echo "check-test-deps: MISSING command '$c' (Debian package $pkg)" >&2
	else
		echo "check-test-deps: MISSING command '$c', which a test looks for;" \
			"add its package to scripts/install-deps.sh and it to NEEDS in $0" >&2
	fi
	bad=1
done

# Facilities that are not commands.
if ! python3 -c 'import scapy.all' 2>/dev/null; then
	if /usr/bin/python3 -c 'import scapy.all' 2>/dev/null; then
		echo "check-test-deps: WARNING: $(command -v python3) (first python3 on PATH) lacks scapy;" \
			"/usr/bin/python3 has it" >&2
	else
		echo "check-test-deps: MISSING python3 module scapy (python3-scapy)" >&2
		bad=1
	fi
fi
for lib in libxdp libbpf libpcap; do
	pkg-config --exists "$lib" 2>/dev/null ||
		{ echo "check-test-deps: MISSING pkg-config module $lib (${lib}-dev)" >&2; bad=1; }
done
# fuzz/CMakeLists.txt quietly falls back to a replay harness without libFuzzer.
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n);\n%s\n' \
	'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return d && n; }' >"$probe/f.c"
clang -fsanitize=fuzzer,address,undefined "$probe/f.c" -o "$probe/f" 2>/dev/null ||
	{ echo "check-test-deps: MISSING clang's libFuzzer (libfuzzer-14-dev, libclang-rt-14-dev)" >&2; bad=1; }
id nobody >/dev/null 2>&1 ||
	{ echo "check-test-deps: MISSING user 'nobody' (usnetd_acl, afpacket_basic)" >&2; bad=1; }

if [[ $bad -ne 0 ]]; then
	echo "check-test-deps: the tests above would SKIP or fail; run scripts/install-deps.sh as root" >&2
	exit 1
fi
echo "check-test-deps: all ${#cmds[@]} commands the tests need are installed"
