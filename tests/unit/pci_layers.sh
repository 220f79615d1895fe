#!/usr/bin/env bash
# The PCI platform (src/platform/) has no call cycle: each layer calls only
# the layers below it.
#
#   2  pci.c                          top: dispatch, shared shutdown
#   1  vfio.c  uio.c                  back-ends, one ops table each
#   0  pci_sysfs.c pci_dev.c dma.c    lower layer, no back-end knowledge
#
# Calls are read from the compiled objects (nm: which object defines the
# symbols another leaves undefined), includes from the sources. Fails when:
#  - an object uses a symbol of an object in the same or a higher layer
#    (inside layer 0 allowed, but without a cycle: tsort);
#  - pci.c uses anything of a back-end other than its ops table (data);
#  - a layer-0 file includes pci_backend.h or <linux/vfio.h>, or any
#    platform file includes a header of src/drivers/ or src/ports/.
# Before checking the tree it checks itself on a small broken copy (a
# back-end calling pci.c, a lower file including the back-end header), so
# the checker is known to catch both.
#
# usage: pci_layers.sh BUILD_DIR SOURCE_DIR
set -euo pipefail

build=${1:?usage: pci_layers.sh BUILD_DIR SOURCE_DIR}
src=${2:?usage: pci_layers.sh BUILD_DIR SOURCE_DIR}

layer_of() {
    case $1 in
        pci_sysfs | pci_dev | dma) echo 0 ;;
        vfio | uio) echo 1 ;;
        pci) echo 2 ;;
        *) echo "" ;;
    esac
}

# check OBJDIR SRCDIR: prints one line per violation, returns 1 if any.
check() {
    local objdir=$1 srcdir=$2 bad=0 defs edges f base l
    defs=$(mktemp) edges=$(mktemp)
    for f in "$srcdir"/*.c; do
        base=$(basename "$f" .c)
        if [ -z "$(layer_of "$base")" ]; then
            echo "$base.c: a file of no known layer (add it to layer_of in $0)"
            bad=1
            continue
        fi
        if [ ! -f "$objdir/$base.c.o" ]; then
            echo "$base.c: no object $objdir/$base.c.o (build first)"
            bad=1
        fi
    done
    # symbol type object, for every defined global symbol
    for f in "$objdir"/*.c.o; do
        base=$(basename "$f" .c.o)
        nm --defined-only -g "$f" | awk -v o="$base" '{print $3, $2, o}'
    done | sort > "$defs"
    # user symbol, for every undefined symbol
    for f in "$objdir"/*.c.o; do
        base=$(basename "$f" .c.o)
        nm -u "$f" | awk -v o="$base" '{print $2, o}'
    done | sort > "$edges"
    # from to symbol type
    while read -r from to sym type; do
        [ "$from" = "$to" ] && continue
        local lf lt
        lf=$(layer_of "$from") lt=$(layer_of "$to")
        if [ "$lt" -gt "$lf" ]; then
            echo "$from.c (layer $lf) calls up into $to.c (layer $lt): $sym"
            bad=1
        elif [ "$lt" -eq "$lf" ] && [ "$lf" -ne 0 ]; then
            echo "$from.c and $to.c are both layer $lf, yet $from.c uses $sym"
            bad=1
        elif [ "$from" = pci ] && [ "$lt" -eq 1 ] && [ "$type" != R ] && [ "$type" != D ]; then
            echo "pci.c uses $sym of $to.c directly, not through its ops table"
            bad=1
        fi
        echo "$from $to" >> "$edges.pairs"
    done < <(join "$edges" "$defs" | awk '{print $2, $4, $1, $3}')
    # No cycle inside layer 0 (or anywhere: tsort sees every edge).
    if [ -s "$edges.pairs" ] && ! tsort "$edges.pairs" > /dev/null 2> "$edges.loop"; then
        echo "call cycle between: $(grep -v 'input contains a loop' "$edges.loop" |
            sed 's/^tsort: //' | tr '\n' ' ')"
        bad=1
    fi
    for f in "$srcdir"/*.c "$srcdir"/*.h; do
        base=$(basename "$f")
        if grep -nE '#include "\.\./(drivers|ports)/' "$f" > /dev/null; then
            echo "$base includes a header of a layer above the platform:" \
                "$(grep -nE '#include "\.\./(drivers|ports)/' "$f" | head -1)"
            bad=1
        fi
        case $base in
            pci_sysfs.c | pci_dev.c | dma.c | pci_dev.h)
                if grep -nE '#include [<"](pci_backend\.h|linux/vfio\.h|vfio|uio)' "$f" > /dev/null; then
                    echo "$base (layer 0) includes back-end headers:" \
                        "$(grep -nE '#include [<"](pci_backend\.h|linux/vfio\.h|vfio|uio)' "$f" | head -1)"
                    bad=1
                fi
                ;;
        esac
    done
    rm -f "$defs" "$edges" "$edges.pairs" "$edges.loop"
    return $bad
}

# ---- self-test: a broken miniature of the platform must be caught -------
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cc=${CC:-cc}
mkdir -p "$tmp/src" "$tmp/obj"
cat > "$tmp/src/pci_backend.h" << 'EOF'
struct ops { void (*close)(void); };
EOF
cat > "$tmp/src/pci_sysfs.c" << 'EOF'
int sysfs_read(void);
int sysfs_read(void) { return 0; }
EOF
cat > "$tmp/src/pci_dev.c" << 'EOF'
int sysfs_read(void);
int dev_init(void);
int dev_init(void) { return sysfs_read(); }
EOF
cat > "$tmp/src/dma.c" << 'EOF'
#include "pci_backend.h"
int dma_alloc(void);
int dma_alloc(void) { return 0; }
EOF
cat > "$tmp/src/vfio.c" << 'EOF'
#include "pci_backend.h"
void pci_irq_disable(void);
static void vclose(void) { pci_irq_disable(); }
const struct ops vfio_ops = {.close = vclose};
EOF
cat > "$tmp/src/uio.c" << 'EOF'
#include "pci_backend.h"
int dev_init(void);
static void uclose(void) { dev_init(); }
const struct ops uio_ops = {.close = uclose};
EOF
cat > "$tmp/src/pci.c" << 'EOF'
#include "pci_backend.h"
extern const struct ops vfio_ops, uio_ops;
void pci_irq_disable(void);
void pci_irq_disable(void) {}
void pci_close(void);
void pci_close(void) { vfio_ops.close(); uio_ops.close(); }
EOF
for f in "$tmp"/src/*.c; do
    "$cc" -c -o "$tmp/obj/$(basename "$f").o" "$f"
done
out=$(check "$tmp/obj" "$tmp/src" || true)
selftest_ok=1
for want in "vfio.c (layer 1) calls up into pci.c (layer 2): pci_irq_disable" \
            "dma.c (layer 0) includes back-end headers"; do
    if ! grep -qF "$want" <<< "$out"; then
        echo "pci_layers: SELF-TEST FAILED: the broken copy did not report: $want"
        selftest_ok=0
    fi
done
if grep -q "uio.c" <<< "$out"; then
    echo "pci_layers: SELF-TEST FAILED: uio.c, which only calls down, was reported:"
    echo "$out"
    selftest_ok=0
fi
[ "$selftest_ok" = 1 ] || exit 1
echo "pci_layers: self-test: a back-end calling pci.c and a lower file including" \
     "the back-end header are caught"

# ---- the real tree -------------------------------------------------------
if ! check "$build/CMakeFiles/usnet_obj.dir/src/platform" "$src/src/platform"; then
    echo "pci_layers: FAIL: src/platform/ breaks its layering (see above)"
    exit 1
fi
echo "pci_layers: PASS: src/platform/ calls only downwards" \
     "(pci.c -> {vfio.c, uio.c} via ops tables -> {pci_sysfs.c, pci_dev.c, dma.c})"
