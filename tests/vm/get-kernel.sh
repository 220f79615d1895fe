#!/usr/bin/env bash
# Fetch the Debian guest kernel for the VM tests and the modules they need.
#
# usage: get-kernel.sh [CACHE_DIR] [EXTRA_MODULE...]
#
# CACHE_DIR defaults to $USNET_VM_CACHE, else <repo>/build/vm-cache.
# Leaves in CACHE_DIR:
#   vmlinuz            the kernel image
#   kernel-release     e.g. 6.1.0-56-amd64
#   kernel-package     e.g. linux-image-6.1.0-56-amd64_6.1.192-2_amd64.deb
#   modules/*.ko       uncompressed modules (wanted ones + their dependencies)
#   modules/load-order file names, dependencies first, in insmod order
#   modules/status     one line per wanted module: NAME module|builtin|absent
#   debs/*.deb         the downloaded package (kept, so reruns need no network)
#
# The kernel package is the dependency of the linux-image-amd64 metapackage
# (override with USNET_VM_KERNEL_PKG=linux-image-X-amd64). Nothing is
# downloaded when the package is already in debs/, nothing is unpacked when
# the cache already matches. Exit status: 0 ok, 1 error, 2 usage,
# 77 the kernel package could not be obtained (no apt, no mirror).
set -euo pipefail

prog=get-kernel.sh
die() { echo "$prog: error: $*" >&2; exit 1; }
unavailable() { echo "$prog: cannot obtain the guest kernel: $*" >&2; exit 77; }
info() { echo "$prog: $*" >&2; }

# Modules the VM tests load, in load order. Optional ones may be built in or
# gone on other kernels (vfio_virqfd was merged into vfio in Linux 6.2).
# The NIC drivers are there so tests can unbind the devices from them.
WANTED=(irqbypass vfio vfio_iommu_type1 vfio_virqfd vfio_pci_core vfio_pci
        uio uio_pci_generic virtio_pci virtio_net e1000 e1000e)
OPTIONAL=" vfio_virqfd vfio_pci_core virtio_pci virtio_net e1000 e1000e "

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$script_dir/../.." && pwd)

case "${1:-}" in
    -h|--help) sed -n '2,20s/^# \{0,1\}//p' "$0"; exit 0 ;;
    -*) echo "$prog: unknown option $1 (see --help)" >&2; exit 2 ;;
esac
cache=${1:-${USNET_VM_CACHE:-$repo_root/build/vm-cache}}
[ $# -gt 0 ] && shift
WANTED+=("$@")

for tool in dpkg-deb find sort; do
    command -v "$tool" >/dev/null || die "'$tool' not found (Debian host needed)"
done

mkdir -p "$cache/debs" || die "cannot create cache directory $cache"
cache=$(cd "$cache" && pwd)

# Several test scripts may ask for the kernel at once: serialize.
if command -v flock >/dev/null; then
    exec 9>"$cache/.lock"
    flock 9
fi

# --- which package ------------------------------------------------------------
resolve_pkg() {
    local line
    if [ -n "${USNET_VM_KERNEL_PKG:-}" ]; then
        echo "$USNET_VM_KERNEL_PKG"; return 0
    fi
    command -v apt-cache >/dev/null || return 1
    # "  Depends: linux-image-6.1.0-56-amd64" (the candidate version's deps)
    line=$(apt-cache depends linux-image-amd64 2>/dev/null |
           grep -E '^ *\|?Depends: linux-image-[0-9]' | head -n1) || true
    if [ -z "$line" ]; then
        line=$(apt-cache show linux-image-amd64 2>/dev/null |
               sed -n 's/^Depends: *//p' | head -n1 | tr ',' '\n' |
               grep -oE 'linux-image-[0-9][^ ]*' | head -n1) || true
    fi
    line=${line##*: }
    [ -n "$line" ] || return 1
    echo "$line"
}

shopt -s nullglob
if pkg=$(resolve_pkg); then
    debs=("$cache/debs/${pkg}_"*.deb)
else
    pkg=""
    debs=("$cache/debs/linux-image-"*.deb)
    [ ${#debs[@]} -gt 0 ] ||
        unavailable "apt-cache does not know linux-image-amd64 (run 'apt-get update'?) and $cache/debs holds no kernel package"
    info "warning: cannot resolve linux-image-amd64 with apt-cache; using cached ${debs[-1]##*/}"
    debs=("${debs[-1]}")
fi

if [ ${#debs[@]} -eq 0 ]; then
    command -v apt-get >/dev/null || unavailable "apt-get not found"
    info "downloading $pkg with apt-get"
    dl=$(mktemp -d "$cache/debs/.dl.XXXXXX")
    t0=$(date +%s.%N)
    # The _apt sandbox user usually cannot write to the cache: download as
    # the caller (apt would do so anyway, with a warning).
    if ! (cd "$dl" && apt-get download -q -o APT::Sandbox::User="$(id -un)" "$pkg") >"$dl/log" 2>&1; then
        cat "$dl/log" >&2
        rm -rf "$dl"
        unavailable "'apt-get download $pkg' failed (is a Debian mirror reachable?)"
    fi
    got=("$dl/${pkg}_"*.deb)
    [ ${#got[@]} -eq 1 ] || { rm -rf "$dl"; die "apt-get download left no ${pkg}_*.deb"; }
    mv "${got[0]}" "$cache/debs/"
    rm -rf "$dl"
    info "downloaded ${got[0]##*/} in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s"
    debs=("$cache/debs/${got[0]##*/}")
elif [ ${#debs[@]} -gt 1 ]; then
    # Several builds of the same ABI: take the newest version.
    mapfile -t debs < <(printf '%s\n' "${debs[@]}" | sort -V | tail -n1)
fi
deb=${debs[0]}
dpkg-deb -f "$deb" Package >/dev/null 2>&1 || die "$deb is not a valid .deb (delete it and rerun)"

# --- up to date? --------------------------------------------------------------
stamp="deb=${deb##*/} modules=${WANTED[*]} v=1"
if [ -f "$cache/.stamp" ] && [ "$(cat "$cache/.stamp")" = "$stamp" ] &&
   [ -s "$cache/vmlinuz" ] && [ -s "$cache/modules/load-order" ]; then
    info "up to date: $(cat "$cache/kernel-release") in $cache"
    exit 0
fi

# --- unpack -------------------------------------------------------------------
info "unpacking ${deb##*/}"
rm -rf "$cache/.x" "$cache/.new"
mkdir -p "$cache/.x" "$cache/.new/modules"
trap 'rm -rf "$cache/.x" "$cache/.new"' EXIT
dpkg-deb -x "$deb" "$cache/.x" || die "dpkg-deb -x $deb failed"

kimgs=("$cache/.x/boot/vmlinuz-"*)
[ ${#kimgs[@]} -eq 1 ] || die "expected one boot/vmlinuz-* in ${deb##*/}, found ${#kimgs[@]}"
krel=${kimgs[0]##*/vmlinuz-}
mdir=""
for d in "$cache/.x/lib/modules/$krel" "$cache/.x/usr/lib/modules/$krel"; do
    [ -d "$d" ] && mdir=$d
done
[ -n "$mdir" ] || die "no lib/modules/$krel in ${deb##*/}"

# Index: module name (with '-' as '_', as the kernel does) -> file.
declare -A modfile=()
while IFS= read -r -d '' f; do
    base=${f##*/}; base=${base%.ko*}; base=${base//-/_}
    modfile[$base]=$f
done < <(find "$mdir" \( -name '*.ko' -o -name '*.ko.xz' -o -name '*.ko.zst' -o -name '*.ko.gz' \) -print0)
[ ${#modfile[@]} -gt 0 ] || die "no modules found under $mdir"

declare -A builtin=()
if [ -f "$mdir/modules.builtin" ]; then
    while IFS= read -r l; do
        b=${l##*/}; b=${b%.ko}; builtin[${b//-/_}]=1
    done <"$mdir/modules.builtin"
fi

# Copy one module uncompressed (busybox insmod may not decompress).
install_module() { # NAME -> prints the installed file name
    local src=${modfile[$1]} dst="$cache/.new/modules/$1.ko"
    case "$src" in
        *.ko) cp "$src" "$dst" ;;
        *.ko.xz) command -v xz >/dev/null || die "xz needed for $src"; xz -dc "$src" >"$dst" ;;
        *.ko.zst) command -v zstd >/dev/null || die "zstd needed for $src"; zstd -qdc "$src" >"$dst" ;;
        *.ko.gz) gzip -dc "$src" >"$dst" ;;
    esac
    echo "$1.ko"
}

# The "depends=" entry of the module's .modinfo section.
module_deps() { # FILE (uncompressed)
    local sec
    sec=$(mktemp)
    if command -v objcopy >/dev/null &&
       objcopy -O binary --only-section=.modinfo "$1" "$sec" 2>/dev/null; then
        tr '\0' '\n' <"$sec" | sed -n 's/^depends=//p' | tr ',' ' '
    else
        tr '\0' '\n' <"$1" | sed -n 's/^depends=//p' | head -n1 | tr ',' ' '
    fi
    rm -f "$sec"
}

declare -A state=()    # name -> visiting|done
order=()
visit() { # NAME WANTED_BY
    local m=${1//-/_} d f
    case "${state[$m]:-}" in
        done) return 0 ;;
        visiting) die "module dependency cycle at $m" ;;
    esac
    if [ -z "${modfile[$m]:-}" ]; then
        if [ -n "${builtin[$m]:-}" ]; then state[$m]="done"; return 0; fi
        die "module $m (needed by $2) is neither a module nor built into $krel"
    fi
    state[$m]=visiting
    f=$(install_module "$m")
    for d in $(module_deps "$cache/.new/modules/$f"); do
        visit "$d" "$m"
    done
    state[$m]="done"
    order+=("$f")
}

: >"$cache/.new/modules/status"
for m in "${WANTED[@]}"; do
    m=${m//-/_}
    if [ -n "${modfile[$m]:-}" ]; then
        visit "$m" "the VM tests"
        echo "$m module" >>"$cache/.new/modules/status"
    elif [ -n "${builtin[$m]:-}" ]; then
        echo "$m builtin" >>"$cache/.new/modules/status"
    elif [[ "$OPTIONAL" == *" $m "* ]]; then
        info "note: $m is neither a module nor built into $krel; skipping it"
        echo "$m absent" >>"$cache/.new/modules/status"
    else
        die "module $m is neither a module nor built into $krel"
    fi
done
printf '%s\n' "${order[@]}" >"$cache/.new/modules/load-order"
cp "${kimgs[0]}" "$cache/.new/vmlinuz"
echo "$krel" >"$cache/.new/kernel-release"
echo "${deb##*/}" >"$cache/.new/kernel-package"

# Swap in the new files only once everything is there.
rm -rf "$cache/modules"
mv "$cache/.new/modules" "$cache/modules"
mv "$cache/.new/vmlinuz" "$cache/.new/kernel-release" "$cache/.new/kernel-package" "$cache/"
echo "$stamp" >"$cache/.stamp"
info "ready: $krel in $cache ($(wc -l <"$cache/modules/load-order") modules:" \
     "$(grep -c ' module$' "$cache/modules/status" || true) wanted as modules," \
     "$(grep -c ' builtin$' "$cache/modules/status" || true) built in," \
     "$(grep -c ' absent$' "$cache/modules/status" || true) absent)"
