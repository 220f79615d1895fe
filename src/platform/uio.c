/* SPDX-License-Identifier: MIT */
/*
 * The UIO backend: a device bound to uio_pci_generic, for machines without
 * an IOMMU. Nothing confines the device's DMA: it is given physical
 * addresses and can write anywhere in memory. Hence the warning on open.
 *
 * - BARs: mmap of /sys/bus/pci/devices/X/resourceN (sysfs-bus-pci ABI).
 * - Config space: pread/pwrite of /sys/bus/pci/devices/X/config.
 * - Interrupts: INTx only (Documentation/driver-api/uio-howto.rst,
 *   "Generic PCI UIO driver"). uio_pci_generic's handler masks the
 *   interrupt by setting Interrupt Disable in the Command register (PCI 3.0
 *   6.2.2, bit 10) and wakes /dev/uioN, whose read() returns the 32-bit
 *   total count. It has no irqcontrol (writing to /dev/uioN fails with
 *   ENOSYS), so user space enables and re-enables INTx by clearing that bit
 *   through the config file, as the HOWTO describes.
 * - DMA memory: 2 MiB hugepages, locked, one page per allocation at most,
 *   so each allocation is physically contiguous; physical addresses from
 *   /proc/self/pagemap (Documentation/admin-guide/mm/pagemap.rst: bits
 *   0-54 PFN, bit 63 present; the PFN reads as 0 without CAP_SYS_ADMIN).
 *   Hugetlb pages are not swapped, and MAP_LOCKED keeps them resident.
 *   Without free hugepages: locked 4 KiB pages, which the kernel may still
 *   migrate (compaction moves locked pages unless
 *   vm.compact_unevictable_allowed is 0, Documentation/admin-guide/sysctl/
 *   vm.rst), so they are refused unless it is 0; an allocation over 4 KiB
 *   must happen to be physically contiguous (checked), and a pool must
 *   keep each buffer inside one page (USNET_POOL_F_PAGE_LOCAL).
 * - The IOMMU: uio_pci_generic knows nothing of it. If the device's IOMMU
 *   group translates DMA (sysfs iommu_groups/N/type "DMA" or "DMA-FQ",
 *   Documentation/ABI/testing/sysfs-kernel-iommu_groups), the physical
 *   addresses given to the device mean nothing to it and DMA silently
 *   fails (or faults); only "identity" (iommu=pt) passes them through. The
 *   open is refused otherwise.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <usnet/log.h>

#include "../core/container_of.h"
#include "pci_backend.h"

#define IORESOURCE_IO	 0x100 /* include/linux/ioport.h */
#define IORESOURCE_MEM	 0x200
#define PAGEMAP_PRESENT	 (1ull << 63)
#define PAGEMAP_PFN_MASK ((1ull << 55) - 1)

/* A device bound to uio_pci_generic. Its config space is the sysfs config
 * file (pci.cfg_fd, ours to close). */
struct uio_dev {
	struct usnet_pci_dev pci;
	int uio_fd;	/* /dev/uioN: the INTx count */
	uint32_t count; /* interrupt total read last from uio_fd */
	bool count_valid;
};

static struct uio_dev *uio_of(struct usnet_pci_dev *dev)
{
	return usnet_container_of(dev, struct uio_dev, pci);
}

static int dev_file(char *buf, size_t len, const struct usnet_pci_dev *dev, const char *name)
{
	int n =
	    snprintf(buf, len, "%s/bus/pci/devices/%s/%s", usnet_pci_sysfs_root(), dev->name, name);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* /sys/bus/pci/devices/X/uio/uioN -> N */
static int find_uio(struct usnet_pci_dev *dev, int *num)
{
	char path[PATH_MAX];
	struct dirent *e;
	DIR *d;

	if (dev_file(path, sizeof(path), dev, "uio"))
		return usnet_error(ENAMETOOLONG, "%s: sysfs path too long", dev->name);
	d = opendir(path);
	if (!d)
		return usnet_error(ENODEV,
				   "%s: no %s: is uio_pci_generic really bound? run: "
				   "usnetctl bind %s uio_pci_generic",
				   dev->name, path, dev->name);
	*num = -1;
	while ((e = readdir(d))) {
		char *end;
		long n;

		if (strncmp(e->d_name, "uio", 3))
			continue;
		n = strtol(e->d_name + 3, &end, 10);
		if (end != e->d_name + 3 && !*end && n >= 0 && n < INT_MAX) {
			*num = (int)n;
			break;
		}
	}
	closedir(d);
	if (*num < 0)
		return usnet_error(ENODEV, "%s: %s lists no uioN device", dev->name, path);
	return 0;
}

static int map_bars(struct usnet_pci_dev *dev)
{
	char path[PATH_MAX], line[128];
	long page = sysconf(_SC_PAGESIZE);
	FILE *f;
	int err = 0;

	if (dev_file(path, sizeof(path), dev, "resource"))
		return usnet_error(ENAMETOOLONG, "%s: sysfs path too long", dev->name);
	f = fopen(path, "re");
	if (!f)
		return usnet_error(errno, "%s: cannot open %s: %m", dev->name, path);
	/* One "start end flags" line per resource; the first six are BARs. */
	for (unsigned bar = 0; bar < USNET_PCI_NBARS && fgets(line, sizeof(line), f); bar++) {
		unsigned long long start, end, flags;
		char res[16];
		size_t size, len;
		void *va;
		int fd;

		if (sscanf(line, "%llx %llx %llx", &start, &end, &flags) != 3) {
			err = usnet_error(EIO, "%s: %s: cannot parse '%s'", dev->name, path, line);
			break;
		}
		if (!(flags & IORESOURCE_MEM) || end <= start)
			continue; /* absent or I/O ports */
		size = (size_t)(end - start + 1);
		len = (size + (size_t)page - 1) & ~((size_t)page - 1);
		snprintf(res, sizeof(res), "resource%u", bar);
		if (dev_file(path, sizeof(path), dev, res)) {
			err = usnet_error(ENAMETOOLONG, "%s: sysfs path too long", dev->name);
			break;
		}
		fd = open(path, O_RDWR | O_SYNC | O_CLOEXEC);
		if (fd < 0) {
			err = usnet_error(errno, "%s: cannot open %s: %m", dev->name, path);
			break;
		}
		va = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		close(fd);
		if (va == MAP_FAILED) {
			err = usnet_error(errno, "%s: mmap of %s (%zu bytes): %m", dev->name, path,
					  size);
			break;
		}
		dev->bar[bar].va = va;
		dev->bar[bar].len = len;
		dev->bar[bar].size = size;
	}
	fclose(f);
	return err;
}

/*
 * A device behind an IOMMU works with UIO only if its group's domain passes
 * DMA through untranslated ("identity"): UIO gives it physical addresses.
 */
static int check_iommu_domain(struct usnet_pci_dev *dev)
{
	char path[PATH_MAX], type[32] = "";
	int g = dev->info.iommu_group;
	FILE *f;

	if (g < 0)
		return 0; /* no IOMMU: physical addresses are bus addresses */
	snprintf(path, sizeof(path), "%s/kernel/iommu_groups/%d/type", usnet_pci_sysfs_root(), g);
	f = fopen(path, "re");
	if (!f || !fgets(type, sizeof(type), f)) {
		if (f)
			fclose(f);
		USNET_WARN("%s: cannot read %s (%m): if the IOMMU translates this device's "
			   "DMA, no packet will move with uio_pci_generic; use vfio-pci",
			   dev->name, path);
		return 0;
	}
	fclose(f);
	type[strcspn(type, "\n")] = '\0';
	if (!strcmp(type, "identity"))
		return 0;
	return usnet_error(EPERM,
			   "%s: IOMMU group %d translates DMA (type %s), so the physical "
			   "addresses UIO gives the device do not reach memory: use vfio-pci "
			   "(usnetctl bind %s) or boot with iommu=pt",
			   dev->name, g, type, dev->name);
}

static int uio_open(struct usnet_pci_dev **out, const struct usnet_pci_info *info)
{
	static atomic_bool warned;
	struct uio_dev *ud = calloc(1, sizeof(*ud));
	struct usnet_pci_dev *dev;
	char path[PATH_MAX];
	struct stat st;
	int num, err;

	if (!ud)
		return usnet_error(ENOMEM, "pci: out of memory");
	dev = &ud->pci;
	usnet_pci_dev_init(dev, info, &usnet_uio_backend);
	ud->uio_fd = -1;
	err = check_iommu_domain(dev);
	if (err)
		goto err_free;
	if (!atomic_exchange_explicit(&warned, true, memory_order_relaxed))
		USNET_WARN("DMA is not IOMMU-protected with uio_pci_generic: the device can write "
			   "anywhere in memory");
	err = find_uio(dev, &num);
	if (err)
		goto err_free;
	snprintf(path, sizeof(path), "%s/uio%d", usnet_pci_dev_root(), num);
	/* O_NONBLOCK: usnet_pci_irq_ack() must not block (uio read() does
	 * otherwise, uio.c uio_read). */
	ud->uio_fd = open(path, O_RDWR | O_CLOEXEC | O_NONBLOCK);
	if (ud->uio_fd < 0) {
		err = usnet_error(errno, "%s: cannot open %s: %m", dev->name, path);
		goto err_free;
	}
	if (dev_file(path, sizeof(path), dev, "config")) {
		err = usnet_error(ENAMETOOLONG, "%s: sysfs path too long", dev->name);
		goto err_uio;
	}
	dev->cfg_fd = open(path, O_RDWR | O_CLOEXEC);
	if (dev->cfg_fd < 0) {
		err = usnet_error(errno, "%s: cannot open %s: %m", dev->name, path);
		goto err_uio;
	}
	/* The file is 256 bytes for PCI, 4096 for PCIe extended config. */
	if (fstat(dev->cfg_fd, &st) || st.st_size < 64) {
		err = usnet_error(EIO, "%s: %s is not a config space", dev->name, path);
		goto err_cfg;
	}
	dev->cfg_base = 0;
	dev->cfg_size = (uint64_t)st.st_size;
	err = map_bars(dev);
	if (err)
		goto err_bars;
	USNET_INFO("%s: uio_pci_generic (/dev/uio%d), %s", dev->name, num,
		   dev->info.iommu_group < 0 ? "no IOMMU" : "IOMMU domain in passthrough");
	*out = dev;
	return 0;

err_bars:
	usnet_pci_bars_unmap(dev);
err_cfg:
	close(dev->cfg_fd);
err_uio:
	close(ud->uio_fd);
err_free:
	free(ud);
	return err;
}

/* usnet_pci_close() has quiesced the device and released its memory. */
static void uio_close(struct usnet_pci_dev *dev)
{
	struct uio_dev *ud = uio_of(dev);

	close(dev->cfg_fd);
	close(ud->uio_fd);
	free(ud);
}

/* ---- physical addresses --------------------------------------------------- */

static int pagemap_open(struct usnet_pci_dev *dev)
{
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return usnet_error(errno, "%s: cannot open /proc/self/pagemap: %m", dev->name);
	return fd;
}

/* Physical address of va: 0, -EFAULT (not present), -EPERM (PFN hidden). */
static int virt2phys(int fd, const void *va, uint64_t *pa)
{
	uint64_t v = (uintptr_t)va, e;

	if (pread(fd, &e, sizeof(e), (off_t)(v / USNET_PAGE_4K * sizeof(e))) != sizeof(e))
		return -EIO;
	if (!(e & PAGEMAP_PRESENT))
		return -EFAULT;
	if (!(e & PAGEMAP_PFN_MASK))
		return -EPERM;
	*pa = (e & PAGEMAP_PFN_MASK) * USNET_PAGE_4K + v % USNET_PAGE_4K;
	return 0;
}

static int phys_error(struct usnet_pci_dev *dev, int err, const void *va)
{
	if (err == -EPERM)
		return usnet_error(EPERM,
				   "%s: /proc/self/pagemap shows no physical addresses: "
				   "UIO needs CAP_SYS_ADMIN (run as root)",
				   dev->name);
	if (err == -EFAULT)
		return usnet_error(EFAULT, "%s: page at %p is not present: no physical address",
				   dev->name, va);
	return usnet_error(-err, "%s: reading /proc/self/pagemap for %p: %s", dev->name, va,
			   strerror(-err));
}

/*
 * 4 KiB pages stay where they are only if compaction leaves locked pages
 * alone (vm.compact_unevictable_allowed = 0); no such file: no compaction.
 */
static int check_small_pages(struct usnet_pci_dev *dev)
{
	FILE *f = fopen("/proc/sys/vm/compact_unevictable_allowed", "re");
	int v = 0;

	if (!f)
		return 0;
	if (fscanf(f, "%d", &v) != 1)
		v = 1;
	fclose(f);
	if (v == 0)
		return 0;
	return usnet_error(EPERM,
			   "%s: UIO on 4 KiB pages (no free hugepages) needs "
			   "vm.compact_unevictable_allowed=0, else the kernel may move locked "
			   "pages under DMA: sysctl -w vm.compact_unevictable_allowed=0, reserve "
			   "hugepages, or use vfio-pci",
			   dev->name);
}

/* Physical address of [va, va + len) if it is physically contiguous. */
static int phys_range(struct usnet_pci_dev *dev, int fd, const void *va, size_t len, uint64_t *pa)
{
	uintptr_t b = (uintptr_t)va;
	uint64_t pa0, p;
	int err = virt2phys(fd, va, &pa0);

	if (err)
		return phys_error(dev, err, va);
	for (uintptr_t v = (b | (USNET_PAGE_4K - 1)) + 1; v < b + len; v += USNET_PAGE_4K) {
		err = virt2phys(fd, (const void *)v, &p);
		if (err)
			return phys_error(dev, err, (const void *)v);
		if (p != pa0 + (v - b))
			return usnet_error(EFAULT,
					   "%s: %zu bytes of DMA memory on 4 KiB pages are not "
					   "physically contiguous (no free hugepages, no IOMMU): "
					   "use rings of 4 KiB at most (e1000: rxd + txd <= 256), "
					   "reserve hugepages, or use vfio-pci",
					   dev->name, len);
	}
	*pa = pa0;
	return 0;
}

static int uio_dma_alloc(struct usnet_pci_dev *dev, size_t len, struct usnet_dma *dma)
{
	struct usnet_pci_mem *m;
	size_t page, n = len;
	uint64_t pa = 0;
	void *va;
	int fd, err;

	if (len > USNET_HUGE_2M)
		return usnet_error(EINVAL,
				   "%s: UIO DMA allocations are at most one 2 MiB hugepage "
				   "(asked %zu bytes): without an IOMMU, memory must be "
				   "physically contiguous",
				   dev->name, len);
	m = calloc(1, sizeof(*m));
	if (!m)
		return usnet_error(ENOMEM, "%s: out of memory", dev->name);
	va = usnet_pci_mmap_dma(&n, true, false, true, &page);
	if (!va) {
		err = usnet_error(ENOMEM,
				  "%s: cannot allocate %zu bytes of locked DMA memory (%m): "
				  "raise the locked-memory limit (ulimit -l) or run as root",
				  dev->name, len);
		goto err_free;
	}
	if (page != USNET_HUGE_2M) {
		err = check_small_pages(dev);
		if (err)
			goto err_unmap;
	}
	usnet_pci_log_pages(dev, page);
	fd = pagemap_open(dev);
	if (fd < 0) {
		err = fd;
		goto err_unmap;
	}
	err = phys_range(dev, fd, va, len, &pa);
	close(fd);
	if (err)
		goto err_unmap;
	m->va = va;
	m->len = n;
	m->iova = pa;
	m->owned = true;
	usnet_pci_mem_add(dev, m);
	dma->va = va;
	dma->iova = pa;
	dma->len = n;
	dma->page_size = page;
	return 0;

err_unmap:
	munmap(va, n);
err_free:
	free(m);
	return err;
}

struct phys_xlate {
	int fd;
	int err;	    /* first failure: -errno */
	const void *bad_va; /* where it happened */
	bool discontig;	    /* a buffer spans non-adjacent physical pages */
	bool at_huge_edge;  /* ... at a 2 MiB boundary: two hugepages */
};

/* pkt->data's physical address, after checking the buffer's data room is
 * physically contiguous (the device is given one address per buffer). */
static uint64_t phys_xlate(void *ctx, const void *va)
{
	struct phys_xlate *x = ctx;
	const uint8_t *b = va;
	uint16_t room = usnet_pci_pkt_of(va)->room;
	uint64_t pa0, pa;
	int err;

	err = virt2phys(x->fd, b, &pa0);
	if (err)
		goto fail;
	/* Every later 4 KiB page of the buffer must follow the first. */
	for (uintptr_t p = ((uintptr_t)b | (USNET_PAGE_4K - 1)) + 1; p < (uintptr_t)b + room;
	     p += USNET_PAGE_4K) {
		err = virt2phys(x->fd, (const void *)p, &pa);
		if (err)
			goto fail;
		if (pa != pa0 + (p - (uintptr_t)b)) {
			x->discontig = true;
			x->at_huge_edge = p % USNET_HUGE_2M == 0;
			x->bad_va = b;
			return 0;
		}
	}
	return pa0;
fail:
	x->err = err;
	x->bad_va = b;
	return 0;
}

static int uio_dma_map_pool(struct usnet_pci_dev *dev, struct usnet_pool *pool)
{
	struct phys_xlate x = {0};
	struct usnet_pci_mem *m;
	void *base;
	size_t len;
	int err;

	usnet_pool_region(pool, &base, &len);
	if (usnet_pool_page_size(pool) != USNET_HUGE_2M) {
		/* As usnet_pci_mmap_dma() does for its own 4 KiB pages: no
		 * khugepaged collapse, resident, not moved by compaction. */
		err = check_small_pages(dev);
		if (err)
			return err;
		madvise(base, len, MADV_NOHUGEPAGE);
		if (usnet_pci_mlock(base, len))
			return usnet_error(errno,
					   "%s: cannot lock the %zu-byte pool %p (%m): raise the "
					   "locked-memory limit (ulimit -l) or run as root",
					   dev->name, len, base);
	}
	x.fd = pagemap_open(dev);
	if (x.fd < 0)
		return x.fd;
	err = usnet_pool_set_iova(pool, phys_xlate, &x);
	close(x.fd);
	if (err && x.err)
		return phys_error(dev, x.err, x.bad_va);
	if (err && x.discontig && x.at_huge_edge)
		return usnet_error(EFAULT,
				   "%s: packet buffer %p straddles two hugepages that "
				   "are not physically adjacent: without an IOMMU a buffer "
				   "must be physically contiguous; use vfio-pci, or a "
				   "smaller pool (one that fits in one 2 MiB page)",
				   dev->name, x.bad_va);
	if (err && x.discontig)
		return usnet_error(EFAULT,
				   "%s: packet buffer %p spans physically non-adjacent "
				   "4 KiB pages: without an IOMMU a pool on 4 KiB pages "
				   "needs USNET_POOL_F_PAGE_LOCAL (or hugepages)",
				   dev->name, x.bad_va);
	if (err)
		return err;
	if (usnet_pci_mem_find_pool(dev, pool))
		return 0;
	m = calloc(1, sizeof(*m));
	if (!m)
		return usnet_error(ENOMEM, "%s: out of memory", dev->name);
	m->va = base;
	m->len = len;
	m->pool = pool;
	usnet_pci_mem_add(dev, m);
	return 0;
}

static void uio_mem_release(struct usnet_pci_dev *dev, struct usnet_pci_mem *m)
{
	(void)dev; /* nothing to unmap: the device had physical addresses */
	usnet_pci_mem_unmap(m);
	free(m);
}

/* One hugepage if there is a free one, else one 4 KiB page. */
static size_t uio_dma_contig_max(struct usnet_pci_dev *dev)
{
	(void)dev;
	return usnet_pci_hugepage_free() ? USNET_HUGE_2M : USNET_PAGE_4K;
}

/* ---- interrupts ----------------------------------------------------------- */

/* Interrupt Disable off (on = true) or on, read-modify-write. The kernel's
 * handler writes the same register from interrupt context; it only ever
 * sets the bit, and only when this function has cleared it. */
static int uio_irq_control(struct usnet_pci_dev *dev, bool on)
{
	uint16_t cmd;
	int err = usnet_pci_cfg_read(dev, PCI_CFG_COMMAND, &cmd, sizeof(cmd));

	if (err)
		return err;
	cmd = (uint16_t)(on ? cmd & ~PCI_CMD_INTX_DISABLE : cmd | PCI_CMD_INTX_DISABLE);
	return usnet_pci_cfg_write(dev, PCI_CFG_COMMAND, &cmd, sizeof(cmd));
}

static int uio_irq_enable(struct usnet_pci_dev *dev, unsigned nvec)
{
	uint8_t pin;
	int err;

	(void)nvec; /* uio_pci_generic has one interrupt: INTx */
	err = usnet_pci_cfg_read(dev, PCI_CFG_INTERRUPT_PIN, &pin, 1);
	if (err)
		return err;
	if (!pin)
		return usnet_error(ENOTSUP,
				   "%s has no INTx pin, and uio_pci_generic offers no "
				   "MSI/MSI-X: use vfio-pci for interrupts",
				   dev->name);
	err = uio_irq_control(dev, true);
	if (err)
		return err;
	dev->irq_fd[0] = uio_of(dev)->uio_fd;
	dev->irq_mode = USNET_PCI_IRQ_INTX;
	dev->nirq = 1;
	return 1;
}

static void uio_irq_disable(struct usnet_pci_dev *dev)
{
	if (uio_irq_control(dev, false))
		USNET_WARN("%s: could not mask INTx: %s", dev->name, usnet_last_error());
	dev->irq_fd[0] = -1; /* the uio fd itself: closed with the device */
}

static int uio_irq_unmask(struct usnet_pci_dev *dev)
{
	return uio_irq_control(dev, true);
}

/* uio read(): the total interrupt count as a 32-bit int, once per new
 * interrupt; EAGAIN (O_NONBLOCK) if none since. */
static int uio_irq_ack(struct usnet_pci_dev *dev, unsigned vec)
{
	struct uio_dev *ud = uio_of(dev);
	uint32_t total;
	ssize_t n = read(dev->irq_fd[vec], &total, sizeof(total));
	int ret;

	if (n < 0)
		return errno == EAGAIN ? 0 : -errno;
	if (n != sizeof(total))
		return -EIO;
	ret = ud->count_valid ? (int)(uint32_t)(total - ud->count) : 1;
	ud->count = total;
	ud->count_valid = true;
	return ret;
}

const struct usnet_pci_backend_ops usnet_uio_backend = {
    .kind = USNET_PCI_UIO,
    .driver = "uio_pci_generic",
    .pool_flags = USNET_POOL_F_PAGE_LOCAL, /* no IOMMU to join 4 KiB pages */
    .open = uio_open,
    .close = uio_close,
    .dma_alloc = uio_dma_alloc,
    .dma_map_pool = uio_dma_map_pool,
    .mem_release = uio_mem_release,
    .dma_contig_max = uio_dma_contig_max,
    .irq_enable = uio_irq_enable,
    .irq_disable = uio_irq_disable,
    .irq_unmask = uio_irq_unmask,
    .irq_ack = uio_irq_ack,
    .fault_iova = NULL, /* physical addresses: nothing would stop a stray DMA */
};
