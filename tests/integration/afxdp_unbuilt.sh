#!/bin/bash
# SPDX-License-Identifier: MIT
# In a build without libxdp (-DUSNET_AFXDP=OFF, or libxdp-dev missing) the
# afxdp kind is still known: opening it fails with one line that says it is
# not built in and how to get it; everything else works as before.
# Usage: afxdp_unbuilt.sh BUILD_DIR
set -u
BUILD=${1:?usage: afxdp_unbuilt.sh BUILD_DIR}
T=$BUILD/tools
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }

out=$("$T/usnet-sink" -p afxdp:lo -t 0.1 -q 2>&1)
status=$?
if [ $status -ne 0 ] && grep -q "the afxdp kind is not built in: this usnet was built without libxdp" <<<"$out"; then
	ok "afxdp: says it is not built in: $out"
else
	fail "afxdp: expected a 'not built in' error, got status $status: $out"
fi
"$T/usnet-sink" --help 2>&1 | grep -q "afxdp:IFNAME .*not built in" &&
	ok "--help lists afxdp as not built in" || fail "--help does not say afxdp is not built in"
if nm -D "$BUILD/libusnet.so" 2>/dev/null | grep -qi "xsk_\|xdp_program"; then
	fail "libusnet.so refers to libxdp symbols"
else
	ok "libusnet.so does not need libxdp"
fi
out=$("$T/usnet-pktgen" -p null: -n 1000 --json -q 2>&1)
grep -q '"sent":1000' <<<"$out" && ok "the rest works: pktgen on null: sent 1000" ||
	fail "pktgen on null: $out"
echo "afxdp_unbuilt: $fails failed"
[ $fails -eq 0 ]
