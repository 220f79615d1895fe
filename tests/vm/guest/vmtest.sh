# Helpers for guest test scripts (busybox sh). Installed as /lib/vmtest.sh;
# use it with:  . /lib/vmtest.sh
#
# Result lines, one per check, NAME without spaces:
#   VMTEST PASS name
#   VMTEST FAIL name: reason
#   VMTEST SKIP name: reason
# /init prints the final "VMTEST DONE" after the script returns.

# Reasons go on one line: the host parses line by line.
vmtest__oneline() { printf '%s' "$*" | tr '\n\r' '  '; }
vmtest_pass() { echo "VMTEST PASS $1"; }
vmtest_fail() { _n=$1; shift; echo "VMTEST FAIL $_n: $(vmtest__oneline "$@")"; }
vmtest_skip() { _n=$1; shift; echo "VMTEST SKIP $_n: $(vmtest__oneline "$@")"; }

# vmtest_check NAME CMD [ARG...]: PASS if CMD succeeds, else FAIL with the
# last lines of its output. Returns CMD's status.
vmtest_check() {
    _n=$1; shift
    if _out=$("$@" 2>&1); then
        vmtest_pass "$_n"; return 0
    else
        _rc=$?
        vmtest_fail "$_n" "'$*' exited $_rc: $(printf '%s\n' "$_out" | tail -n 3)"
        return "$_rc"
    fi
}

# vmtest_pci_find VENDOR DEVICE: print the addresses (0000:00:03.0) of the
# PCI functions with that id (hex without 0x, e.g. 8086 100e).
vmtest_pci_find() {
    for _d in /sys/bus/pci/devices/*; do
        [ "$(cat "$_d/vendor")" = "0x$1" ] && [ "$(cat "$_d/device")" = "0x$2" ] &&
            echo "${_d##*/}"
    done
    return 0
}

# vmtest_pci_driver BDF: print the bound driver's name, nothing if none.
vmtest_pci_driver() {
    [ -e "/sys/bus/pci/devices/$1/driver" ] || return 0
    _l=$(readlink "/sys/bus/pci/devices/$1/driver")
    echo "${_l##*/}"
}

# vmtest_pci_iommu_group BDF: print the IOMMU group number, fail if none.
vmtest_pci_iommu_group() {
    [ -e "/sys/bus/pci/devices/$1/iommu_group" ] || return 1
    _l=$(readlink "/sys/bus/pci/devices/$1/iommu_group")
    echo "${_l##*/}"
}

vmtest_pci_unbind() {
    [ -e "/sys/bus/pci/devices/$1/driver" ] || return 0
    echo "$1" >"/sys/bus/pci/devices/$1/driver/unbind"
}

# vmtest_pci_bind BDF DRIVER: bind this one function to DRIVER (any
# current driver is unbound first) with driver_override, so other functions
# with the same id stay where they are. DRIVER "" returns it to the kernel.
vmtest_pci_bind() {
    vmtest_pci_unbind "$1" || return 1
    echo "$2" >"/sys/bus/pci/devices/$1/driver_override" || return 1
    echo "$1" >/sys/bus/pci/drivers_probe 2>/dev/null
    [ -z "$2" ] || [ "$(vmtest_pci_driver "$1")" = "$2" ]
}

# vmtest_wait_for PATH [TENTHS]: wait until PATH exists (default 3 s).
vmtest_wait_for() {
    _i=0
    while [ ! -e "$1" ]; do
        [ "$_i" -ge "${2:-30}" ] && return 1
        usleep 100000
        _i=$((_i + 1))
    done
}

# vmtest_wait_text FILE REGEX TENTHS: until REGEX shows up in FILE (grep);
# 1 after TENTHS tenths of a second.
vmtest_wait_text() {
    _i=0
    while ! grep -q "$2" "$1" 2>/dev/null; do
        [ "$_i" -ge "$3" ] && return 1
        usleep 100000
        _i=$((_i + 1))
    done
}

# vmtest_json_get FILE KEY: the value of KEY (a number or a string without
# quotes or commas) in the first JSON line of FILE holding it; the tools'
# --json lines are flat.
vmtest_json_get() {
    sed -n "s/.*\"$2\":\"\{0,1\}\([^,\"}]*\).*/\1/p" "$1" | head -n 1
}

# vmtest_now: seconds since boot (/proc/uptime, 10 ms steps).
vmtest_now() { cut -d' ' -f1 /proc/uptime; }

# vmtest_elapsed T0: seconds since vmtest_now printed T0, two decimals.
vmtest_elapsed() { awk -v a="$1" -v b="$(vmtest_now)" 'BEGIN { printf "%.2f", b - a }'; }

# vmtest_wait_pid PID SECONDS: wait for the child PID; its exit status, or
# 124 after SECONDS (then it is killed).
vmtest_wait_pid() {
    _i=0
    while kill -0 "$1" 2>/dev/null; do
        if [ "$_i" -ge $(($2 * 10)) ]; then
            kill -KILL "$1" 2>/dev/null
            wait "$1" 2>/dev/null
            return 124
        fi
        usleep 100000
        _i=$((_i + 1))
    done
    wait "$1"
}
