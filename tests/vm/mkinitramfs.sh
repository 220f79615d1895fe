#!/usr/bin/env bash
# Build the initramfs of a usnet test VM.
#
# usage: mkinitramfs.sh OUT.cpio.gz --script GUEST_SCRIPT [options]
#   --script FILE      the guest test (busybox sh), run as /test.sh; it may
#                      source /lib/vmtest.sh and prints VMTEST lines
#   --bin FILE...      executables: installed at their host path (so RPATH
#                      and $ORIGIN keep working), linked into /usr/local/bin,
#                      with every library ldd lists and the dynamic loader
#   --lib FILE...      extra shared objects (dlopen'd plugins such as DPDK
#                      PMDs) at their host path, with their libraries
#   --file SRC[=DST]...  any other file (DST defaults to SRC's absolute path)
#   --modules DIR      kernel modules + load-order from get-kernel.sh
#                      (default $USNET_VM_CACHE/modules, else
#                      <repo>/build/vm-cache/modules)
#   --no-modules       load no modules
#   --hugepages N      2 MiB pages /init reserves (default 64; the kernel
#                      command line usnet.hugepages=N overrides it)
# Options taking FILE... consume arguments up to the next one starting
# with "--". The guest gets busybox-static with all applet links.
set -euo pipefail

prog=mkinitramfs.sh
die() { echo "$prog: error: $*" >&2; exit 1; }
usage() { echo "$prog: $*" >&2; echo "see: $prog --help" >&2; exit 2; }

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$script_dir/../.." && pwd)

out="" script="" hugepages=64 use_modules=1
moddir="${USNET_VM_CACHE:-$repo_root/build/vm-cache}/modules"
bins=() libs=() files=()
list=""
while [ $# -gt 0 ]; do
    case "$1" in
        -h|--help) sed -n '2,20s/^# \{0,1\}//p' "$0"; exit 0 ;;
        --bin) list=bins ;;
        --lib) list=libs ;;
        --file) list=files ;;
        --script) [ $# -ge 2 ] || usage "--script needs a file"; script=$2; shift; list="" ;;
        --modules) [ $# -ge 2 ] || usage "--modules needs a directory"; moddir=$2; shift; list="" ;;
        --no-modules) use_modules=0; list="" ;;
        --hugepages)
            [[ $# -ge 2 && "$2" =~ ^[0-9]+$ ]] || usage "--hugepages needs a number"
            hugepages=$2; shift; list="" ;;
        --*) usage "unknown option $1" ;;
        *)
            case "$list" in
                bins) bins+=("$1") ;;
                libs) libs+=("$1") ;;
                files) files+=("$1") ;;
                *) [ -z "$out" ] || usage "more than one output file ($out, $1)"; out=$1 ;;
            esac ;;
    esac
    shift
done
[ -n "$out" ] || usage "no output file given"
[ -n "$script" ] || usage "no --script given"
[ -f "$script" ] || die "guest script $script not found"

for tool in cpio gzip ldd find sort; do
    command -v "$tool" >/dev/null || die "'$tool' not found (apt-get install cpio gzip libc-bin findutils)"
done
busybox=""
for b in /bin/busybox /usr/bin/busybox; do [ -x "$b" ] && { busybox=$b; break; }; done
[ -n "$busybox" ] || die "busybox not found (apt-get install busybox-static)"
if ldd "$busybox" >/dev/null 2>&1; then
    die "$busybox is dynamically linked: the guest needs busybox-static (apt-get install busybox-static)"
fi
if [ "$use_modules" = 1 ]; then
    [ -f "$moddir/load-order" ] ||
        die "no $moddir/load-order: run tests/vm/get-kernel.sh first (or pass --modules DIR / --no-modules)"
fi

stage=$(mktemp -d "${TMPDIR:-/tmp}/usnet-initramfs.XXXXXX")
trap 'rm -rf "$stage"' EXIT

# Same /bin, /lib, ... layout as the host (merged /usr or not), so every
# path ldd reports is valid in the guest as it is.
mkdir -p "$stage/usr/bin" "$stage/usr/sbin" "$stage/usr/lib" "$stage/usr/local/bin" \
         "$stage/etc" "$stage/root"
for d in bin sbin lib lib64 lib32 libx32; do
    if [ -L "/$d" ]; then
        # usr/lib, as a relative link, so nothing points out of the stage
        target=$(readlink "/$d"); target=${target#/}
        mkdir -p "$stage/$target"
        ln -sfn "$target" "$stage/$d"
    elif [ -d "/$d" ]; then
        mkdir -p "$stage/$d"
    fi
done
mkdir -p "$stage/lib/modules/usnet"

# busybox and its applets
install -m 0755 "$busybox" "$stage/bin/busybox"
while IFS= read -r applet; do
    [ -n "$applet" ] || continue
    [ -e "$stage/$applet" ] || [ -L "$stage/$applet" ] || ln -s /bin/busybox "$stage/$applet"
done < <("$busybox" --list-full)

# copy_file SRC DST: DST is an absolute guest path; parents are created
# (resolving the merged-/usr links in the stage).
copy_file() {
    local src=$1 dst=$2
    [ -e "$src" ] || die "$src not found"
    mkdir -p "$stage$(dirname "$dst")"
    rm -f "$stage$dst"
    cp -L --preserve=mode "$src" "$stage$dst" || die "cannot copy $src"
}

declare -A have_lib=()
# add_libs FILE: the libraries and loader ldd lists for FILE.
add_libs() {
    local f=$1 out line path
    if ! out=$(ldd "$f" 2>&1); then
        case "$out" in
            *"not a dynamic executable"*|*"statically linked"*) return 0 ;;
        esac
        die "ldd $f failed: $out"
    fi
    case "$out" in *"statically linked"*) return 0 ;; esac
    while IFS= read -r line; do
        case "$line" in
            *"=> not found"*) line=${line//[[:space:]]/}; die "$f needs ${line%%=>*} (ldd: not found)" ;;
            *" => /"*) path=${line#*=> }; path=${path% (0x*} ;;
            *"=>"*) continue ;;                 # linux-vdso etc. (no file)
            [[:space:]]/*) path=${line#"${line%%/*}"}; path=${path% (0x*} ;;
            *) continue ;;
        esac
        [ -n "${have_lib[$path]:-}" ] && continue
        have_lib[$path]=1
        copy_file "$path" "$path"
    done <<<"$out"
}

# /init mounts over these.
check_dst() {
    case "$1" in
        /proc/*|/sys/*|/dev/*) die "$1: files under /proc, /sys or /dev would be hidden in the guest" ;;
    esac
}
for b in "${bins[@]+"${bins[@]}"}"; do
    [ -f "$b" ] || die "--bin $b: not found"
    [ -x "$b" ] || die "--bin $b: not executable"
    real=$(realpath "$b")
    check_dst "$real"
    copy_file "$real" "$real"
    chmod 0755 "$stage$real"
    name=${b##*/}
    [ "$real" = "/usr/local/bin/$name" ] || ln -sfn "$real" "$stage/usr/local/bin/$name"
    add_libs "$real"
done
for l in "${libs[@]+"${libs[@]}"}"; do
    [ -f "$l" ] || die "--lib $l: not found"
    real=$(realpath -s "$l")
    check_dst "$real"
    copy_file "$real" "$real"
    add_libs "$real"
done
# glibc dlopens libgcc_s for pthread_cancel/exit and backtraces; it is
# never in ldd's list, and missing it aborts the program.
if [ ${#have_lib[@]} -gt 0 ]; then
    for g in /lib/x86_64-linux-gnu/libgcc_s.so.1 /usr/lib/x86_64-linux-gnu/libgcc_s.so.1; do
        if [ -f "$g" ]; then
            copy_file "$g" "$g"
            break
        fi
    done
fi
for spec in "${files[@]+"${files[@]}"}"; do
    src=${spec%%=*}
    if [[ "$spec" == *=* ]]; then dst=${spec#*=}; else dst=$(realpath -s "$src"); fi
    [[ "$dst" == /* ]] || die "--file $spec: destination must be an absolute path"
    [ -f "$src" ] || die "--file $src: not found"
    check_dst "$dst"
    copy_file "$src" "$dst"
done
# A loader cache for the libraries copied, whatever directories they are in.
if [ ${#have_lib[@]} -gt 0 ] && command -v ldconfig >/dev/null; then
    for p in "${!have_lib[@]}"; do dirname "$p"; done | sort -u >"$stage/etc/ld.so.conf"
    ldconfig -r "$stage" 2>/dev/null || echo "$prog: warning: ldconfig -r failed; relying on default library paths" >&2
fi

# kernel modules
if [ "$use_modules" = 1 ]; then
    while IFS= read -r ko; do
        [ -n "$ko" ] || continue
        [ -f "$moddir/$ko" ] || die "$moddir/$ko (listed in load-order) is missing: rerun get-kernel.sh"
        cp "$moddir/$ko" "$stage/lib/modules/usnet/"
    done <"$moddir/load-order"
    cp "$moddir/load-order" "$stage/lib/modules/usnet/"
fi

# init, helpers, the test
sed "s/@HUGEPAGES@/$hugepages/g" "$script_dir/guest/init" >"$stage/init"
chmod 0755 "$stage/init"
install -m 0644 "$script_dir/guest/vmtest.sh" "$stage/lib/vmtest.sh"
install -m 0755 "$script" "$stage/test.sh"
echo "root:x:0:0:root:/root:/bin/sh" >"$stage/etc/passwd"
echo "root:x:0:" >"$stage/etc/group"
echo usnet-vm >"$stage/etc/hostname"

mkdir -p "$(dirname "$out")"
tmp_out="$out.tmp.$$"
# "." too: its mode becomes the mode of the guest's / (else world-writable,
# which DPDK's plugin loader refuses).
chmod 0755 "$stage"
mkdir -p "$stage/tmp"
chmod 1777 "$stage/tmp"
(cd "$stage" && find . | LC_ALL=C sort |
    cpio -o -H newc -R 0:0 --quiet) | gzip -1 >"$tmp_out" ||
    { rm -f "$tmp_out"; die "cpio/gzip failed writing $out"; }
mv -f "$tmp_out" "$out"
echo "$prog: wrote $out ($(du -k "$out" | cut -f1) KiB, ${#bins[@]} binaries, ${#have_lib[@]} libraries)" >&2
