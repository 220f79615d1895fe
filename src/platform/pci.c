/* SPDX-License-Identifier: MIT */
/*
 * PCI devices from user space: addresses, discovery through sysfs, and the
 * backend-independent half of the device handle (dispatch to vfio.c or
 * uio.c, config space helpers, DMA bookkeeping, interrupt acks).
 *
 * sysfs layout used here (Documentation/ABI/testing/sysfs-bus-pci):
 *   /sys/bus/pci/devices/DDDD:BB:DD.F/{vendor,device,class}  "0x8086\n"
 *   .../driver -> ../../../bus/pci/drivers/NAME               bound driver
 *   .../iommu_group -> ../../../kernel/iommu_groups/N         IOMMU group
 *   .../net/IFNAME  or  .../virtioN/net/IFNAME                kernel netdev
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <usnet/log.h>

#include "pci_impl.h"

#ifndef MAP_HUGE_SHIFT
#define MAP_HUGE_SHIFT 26
#endif
#ifndef MAP_HUGE_2MB
#define MAP_HUGE_2MB (21 << MAP_HUGE_SHIFT)
#endif

/* ---- addresses ----------------------------------------------------------- */

static int hexdigit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Exactly n hex digits at s. */
static bool hex_exact(const char *s, size_t n, unsigned *out)
{
	unsigned v = 0;

	for (size_t i = 0; i < n; i++) {
		int d = hexdigit(s[i]);

		if (d < 0)
			return false;
		v = v << 4 | (unsigned)d;
	}
	*out = v;
	return true;
}

enum addr_problem { ADDR_OK, ADDR_SYNTAX, ADDR_DEV, ADDR_FN };

/*
 * The forms sysfs and lspci print, and nothing else: "DDDD:BB:DD.F" or
 * "BB:DD.F", hex, fixed widths (Linux: "%04x:%02x:%02x.%d"). A device number
 * is 5 bits and a function 3 (PCI Local Bus 3.0, 3.2.2.3.1).
 */
static enum addr_problem addr_parse(const char *s, struct usnet_pci_addr *a)
{
	unsigned dom = 0, bus, dev, fn;
	size_t n = strlen(s);

	if (n == 12) {
		if (s[4] != ':' || !hex_exact(s, 4, &dom))
			return ADDR_SYNTAX;
		s += 5;
	} else if (n != 7) {
		return ADDR_SYNTAX;
	}
	if (s[2] != ':' || s[5] != '.' || !hex_exact(s, 2, &bus) || !hex_exact(s + 3, 2, &dev) ||
	    !hex_exact(s + 6, 1, &fn))
		return ADDR_SYNTAX;
	if (dev > 0x1f)
		return ADDR_DEV;
	if (fn > 7)
		return ADDR_FN;
	a->domain = (uint16_t)dom;
	a->bus = (uint8_t)bus;
	a->dev = (uint8_t)dev;
	a->fn = (uint8_t)fn;
	return ADDR_OK;
}

int usnet_pci_addr_parse(const char *s, struct usnet_pci_addr *addr)
{
	struct usnet_pci_addr a;

	if (!s || !*s)
		return usnet_error(EINVAL, "empty PCI address: expected DOMAIN:BUS:DEV.FN, "
					   "e.g. 0000:00:03.0");
	switch (addr_parse(s, &a)) {
	case ADDR_OK:
		*addr = a;
		return 0;
	case ADDR_DEV:
		return usnet_error(EINVAL,
				   "PCI address '%s': device %.2s is out of range "
				   "(00-1f)",
				   s, s + strlen(s) - 4);
	case ADDR_FN:
		return usnet_error(EINVAL, "PCI address '%s': function %c is out of range (0-7)", s,
				   s[strlen(s) - 1]);
	case ADDR_SYNTAX:
		break;
	}
	return usnet_error(EINVAL,
			   "'%.40s%s' is not a PCI address: expected DOMAIN:BUS:DEV.FN "
			   "in hex, e.g. 0000:00:03.0 (see usnetctl status)",
			   s, strlen(s) > 40 ? "..." : "");
}

void usnet_pci_addr_format(const struct usnet_pci_addr *addr, char *buf, size_t len)
{
	snprintf(buf, len, "%04x:%02x:%02x.%x", addr->domain, addr->bus, addr->dev & 0x1f,
		 addr->fn & 7);
}

/* ---- sysfs ---------------------------------------------------------------- */

const char *usnet_pci_sysfs_root(void)
{
	const char *r = getenv("USNET_SYSFS_ROOT");

	return r && *r ? r : "/sys";
}

const char *usnet_pci_dev_root(void)
{
	const char *r = getenv("USNET_DEV_ROOT");

	return r && *r ? r : "/dev";
}

static int dev_path(char *buf, size_t len, const char *root, const char *bdf, const char *attr)
{
	int n = snprintf(buf, len, "%s/bus/pci/devices/%s%s%s", root, bdf, attr ? "/" : "",
			 attr ? attr : "");

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int usnet_pci_sysfs_read(const char *root, const char *bdf, const char *attr, char *buf, size_t len)
{
	char path[PATH_MAX];
	ssize_t n;
	int fd, err;

	if (dev_path(path, sizeof(path), root, bdf, attr))
		return usnet_error(ENAMETOOLONG, "sysfs path for %s/%s is too long", bdf, attr);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return usnet_error(errno, "cannot open %s: %m", path);
	n = read(fd, buf, len - 1);
	err = errno;
	close(fd);
	if (n < 0)
		return usnet_error(err, "cannot read %s: %s", path, strerror(err));
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	return 0;
}

/* "0x8086" with at most `digits` hex digits. */
static int read_hex_attr(const char *root, const char *bdf, const char *attr, unsigned digits,
			 uint32_t *out)
{
	char buf[32];
	unsigned v = 0;
	size_t n;
	int err = usnet_pci_sysfs_read(root, bdf, attr, buf, sizeof(buf));

	if (err)
		return err;
	n = strlen(buf);
	if (n < 3 || n > 2 + digits || buf[0] != '0' || (buf[1] != 'x' && buf[1] != 'X') ||
	    !hex_exact(buf + 2, n - 2, &v))
		return usnet_error(EIO,
				   "%s/bus/pci/devices/%s/%s: '%s' is not a %u-digit hex "
				   "number",
				   root, bdf, attr, buf, digits);
	*out = v;
	return 0;
}

/* The last path component of a symlink's target, "" if there is no link. */
static int link_basename(const char *root, const char *bdf, const char *attr, char *out, size_t len)
{
	char path[PATH_MAX], target[PATH_MAX];
	const char *base;
	ssize_t n;

	out[0] = '\0';
	if (dev_path(path, sizeof(path), root, bdf, attr))
		return -ENAMETOOLONG;
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return errno == ENOENT ? 0 : usnet_error(errno, "cannot read link %s: %m", path);
	target[n] = '\0';
	base = strrchr(target, '/');
	base = base ? base + 1 : target;
	if (strlen(base) >= len)
		return usnet_error(ENAMETOOLONG, "%s -> %s: name too long", path, target);
	memcpy(out, base, strlen(base) + 1);
	return 0;
}

/* The first entry of dir (other than . and ..), "" if none. */
static void first_entry(const char *dir, char *out, size_t len)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	out[0] = '\0';
	if (!d)
		return;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.' || strlen(e->d_name) >= len)
			continue;
		memcpy(out, e->d_name, strlen(e->d_name) + 1);
		break;
	}
	closedir(d);
}

/* A netdev sits in net/ of the PCI device, or for virtio in virtioN/net/
 * (the virtio device is a child of the PCI function). */
static void find_ifname(const char *root, const char *bdf, char *out, size_t len)
{
	char path[PATH_MAX], sub[PATH_MAX];
	struct dirent *e;
	DIR *d;

	out[0] = '\0';
	if (dev_path(path, sizeof(path), root, bdf, "net"))
		return;
	first_entry(path, out, len);
	if (*out || dev_path(path, sizeof(path), root, bdf, NULL))
		return;
	d = opendir(path);
	if (!d)
		return;
	while (!*out && (e = readdir(d))) {
		if (strncmp(e->d_name, "virtio", 6) || !e->d_name[6])
			continue;
		if (snprintf(sub, sizeof(sub), "%s/%s/net", path, e->d_name) >= (int)sizeof(sub))
			continue;
		first_entry(sub, out, len);
	}
	closedir(d);
}

int usnet_pci_info_get(const char *sysfs_root, const struct usnet_pci_addr *addr,
		       struct usnet_pci_info *info)
{
	char bdf[16], path[PATH_MAX], group[16];
	uint32_t v;
	struct stat st;
	int err;

	memset(info, 0, sizeof(*info));
	info->addr = *addr;
	info->iommu_group = -1;
	usnet_pci_addr_format(addr, bdf, sizeof(bdf));
	if (dev_path(path, sizeof(path), sysfs_root, bdf, NULL))
		return usnet_error(ENAMETOOLONG, "sysfs root '%s' is too long", sysfs_root);
	if (stat(path, &st) || !S_ISDIR(st.st_mode))
		return usnet_error(ENODEV,
				   "no PCI device %s (%s does not exist; usnetctl status "
				   "lists the network devices)",
				   bdf, path);
	err = read_hex_attr(sysfs_root, bdf, "vendor", 4, &v);
	if (err)
		return err;
	info->vendor = (uint16_t)v;
	err = read_hex_attr(sysfs_root, bdf, "device", 4, &v);
	if (err)
		return err;
	info->device = (uint16_t)v;
	err = read_hex_attr(sysfs_root, bdf, "class", 6, &info->class_code);
	if (err)
		return err;
	err = link_basename(sysfs_root, bdf, "driver", info->driver, sizeof(info->driver));
	if (err)
		return err;
	err = link_basename(sysfs_root, bdf, "iommu_group", group, sizeof(group));
	if (err)
		return err;
	if (*group) {
		char *end;
		long g = strtol(group, &end, 10);

		if (*end || end == group || g < 0 || g > INT_MAX)
			return usnet_error(EIO, "%s: iommu_group link ends in '%s', not a number",
					   path, group);
		info->iommu_group = (int)g;
	}
	find_ifname(sysfs_root, bdf, info->ifname, sizeof(info->ifname));
	return 0;
}

static int only_dirs(const struct dirent *e)
{
	return e->d_name[0] != '.';
}

int usnet_pci_scan(const char *sysfs_root, int (*fn)(void *ctx, const struct usnet_pci_info *info),
		   void *ctx)
{
	char path[PATH_MAX];
	struct dirent **names;
	int n, ret = 0;

	if (snprintf(path, sizeof(path), "%s/bus/pci/devices", sysfs_root) >= (int)sizeof(path))
		return usnet_error(ENAMETOOLONG, "sysfs root '%s' is too long", sysfs_root);
	n = scandir(path, &names, only_dirs, alphasort);
	if (n < 0)
		return usnet_error(errno, "cannot list %s: %m (is sysfs mounted?)", path);
	for (int i = 0; i < n; i++) {
		struct usnet_pci_addr a;
		struct usnet_pci_info info;

		/* Names we cannot represent (32-bit VMD domains) are skipped,
		 * as are devices that vanish while we look (hot unplug). */
		if (!ret && addr_parse(names[i]->d_name, &a) == ADDR_OK &&
		    !usnet_pci_info_get(sysfs_root, &a, &info))
			ret = fn(ctx, &info);
		free(names[i]);
	}
	free(names);
	return ret;
}

/* ---- the device handle ---------------------------------------------------- */

int usnet_pci_open(struct usnet_pci_dev **out, const struct usnet_pci_addr *addr)
{
	struct usnet_pci_dev *dev = calloc(1, sizeof(*dev));
	int err;

	if (!dev)
		return usnet_error(ENOMEM, "pci: out of memory");
	dev->device_fd = dev->uio_fd = dev->cfg_fd = -1;
	for (unsigned i = 0; i < USNET_PCI_MAX_IRQS; i++)
		dev->irq_fd[i] = -1;
	usnet_pci_addr_format(addr, dev->name, sizeof(dev->name));
	err = usnet_pci_info_get(usnet_pci_sysfs_root(), addr, &dev->info);
	if (err)
		goto err_free;
	if (!strcmp(dev->info.driver, "vfio-pci")) {
		dev->backend = USNET_PCI_VFIO;
		err = usnet_vfio_open(dev);
	} else if (!strcmp(dev->info.driver, "uio_pci_generic")) {
		dev->backend = USNET_PCI_UIO;
		err = usnet_uio_open(dev);
	} else if (!dev->info.driver[0]) {
		err = usnet_error(ENODEV, "%s is not bound to any driver; run: usnetctl bind %s",
				  dev->name, dev->name);
	} else {
		err = usnet_error(EBUSY, "%s is bound to %s; run: usnetctl bind %s", dev->name,
				  dev->info.driver, dev->name);
	}
	if (err)
		goto err_free;
	*out = dev;
	return 0;

err_free:
	free(dev);
	return err;
}

void usnet_pci_close(struct usnet_pci_dev *dev)
{
	if (!dev)
		return;
	if (dev->backend == USNET_PCI_VFIO)
		usnet_vfio_close(dev);
	else
		usnet_uio_close(dev);
	free(dev);
}

enum usnet_pci_backend usnet_pci_backend(const struct usnet_pci_dev *dev)
{
	return dev->backend;
}

const struct usnet_pci_info *usnet_pci_dev_info(const struct usnet_pci_dev *dev)
{
	return &dev->info;
}

volatile void *usnet_pci_bar(struct usnet_pci_dev *dev, unsigned bar, size_t *len)
{
	if (bar >= USNET_PCI_NBARS || !dev->bar[bar].va)
		return NULL;
	if (len)
		*len = dev->bar[bar].size;
	return dev->bar[bar].va;
}

static int cfg_access(struct usnet_pci_dev *dev, uint32_t off, void *buf, size_t len, bool write)
{
	int fd = dev->backend == USNET_PCI_VFIO ? dev->device_fd : dev->cfg_fd;
	uint64_t base = dev->backend == USNET_PCI_VFIO ? dev->cfg_offset : 0;
	ssize_t n;

	if (len == 0 || off >= dev->cfg_size || len > dev->cfg_size - off)
		return usnet_error(EINVAL,
				   "%s: config access of %zu bytes at 0x%x is outside the "
				   "%llu-byte config space",
				   dev->name, len, off, (unsigned long long)dev->cfg_size);
	/* One pread/pwrite of 1, 2 or 4 bytes at a matching offset is one
	 * config cycle of that size (vfio_pci_config_rw, pci_read_config). */
	if (write)
		n = pwrite(fd, buf, len, (off_t)(base + off));
	else
		n = pread(fd, buf, len, (off_t)(base + off));
	if (n < 0)
		return usnet_error(errno, "%s: config %s at 0x%x: %m", dev->name,
				   write ? "write" : "read", off);
	if ((size_t)n != len)
		return usnet_error(EIO, "%s: config %s at 0x%x: %zd of %zu bytes", dev->name,
				   write ? "write" : "read", off, n, len);
	return 0;
}

int usnet_pci_cfg_read(struct usnet_pci_dev *dev, uint32_t off, void *buf, size_t len)
{
	return cfg_access(dev, off, buf, len, false);
}

int usnet_pci_cfg_write(struct usnet_pci_dev *dev, uint32_t off, const void *buf, size_t len)
{
	return cfg_access(dev, off, (void *)buf, len, true);
}

int usnet_pci_set_bus_master(struct usnet_pci_dev *dev, bool enable)
{
	uint16_t cmd;
	int err = usnet_pci_cfg_read(dev, PCI_CFG_COMMAND, &cmd, sizeof(cmd));

	if (err)
		return err;
	/* Memory Space must be on too for the driver's MMIO (6.2.2). */
	cmd = (uint16_t)(enable ? cmd | PCI_CMD_MASTER | PCI_CMD_MEMORY : cmd & ~PCI_CMD_MASTER);
	return usnet_pci_cfg_write(dev, PCI_CFG_COMMAND, &cmd, sizeof(cmd));
}

/* ---- DMA memory ----------------------------------------------------------- */

void *usnet_pci_mmap_dma(size_t *len, bool huge_allowed, bool huge_only, bool lock,
			 size_t *page_size)
{
	const char *force = getenv("USNET_DMA_PAGES");
	int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE | (lock ? MAP_LOCKED : 0);
	size_t n;
	void *p;

	/* USNET_DMA_PAGES=4k: measure what hugepages are worth. */
	if (force && !strcmp(force, "4k") && !huge_only)
		huge_allowed = false;
	if (huge_allowed) {
		n = (*len + USNET_HUGE_2M - 1) & ~(USNET_HUGE_2M - 1);
		/* MAP_HUGE_2MB: the default hugepage size may be 1 GiB. A
		 * hugetlb mapping reserves its pages at mmap() time, so this
		 * fails here, not with SIGBUS later (hugetlbpage.rst). */
		p = mmap(NULL, n, PROT_READ | PROT_WRITE, flags | MAP_HUGETLB | MAP_HUGE_2MB, -1,
			 0);
		if (p != MAP_FAILED) {
			*len = n;
			*page_size = USNET_HUGE_2M;
			return p;
		}
		if (huge_only)
			return NULL;
	}
	n = (*len + USNET_PAGE_4K - 1) & ~(USNET_PAGE_4K - 1);
	if (lock) {
		/* Memory the device reaches by physical address (UIO): no
		 * transparent hugepage may replace these pages later (khugepaged
		 * copies into a new page), so say so before they exist, then
		 * lock them in (which also faults them in). */
		p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return NULL;
		madvise(p, n, MADV_NOHUGEPAGE);
		if (mlock(p, n)) {
			int err = errno;

			munmap(p, n);
			errno = err;
			return NULL;
		}
	} else {
		p = mmap(NULL, n, PROT_READ | PROT_WRITE, flags, -1, 0);
		if (p == MAP_FAILED)
			return NULL;
	}
	*len = n;
	*page_size = USNET_PAGE_4K;
	return p;
}

void usnet_pci_log_pages(struct usnet_pci_dev *dev, size_t page_size)
{
	if (page_size == USNET_HUGE_2M && !dev->logged_huge) {
		dev->logged_huge = true;
		USNET_INFO("%s: DMA memory on 2 MiB hugepages", dev->name);
	} else if (page_size != USNET_HUGE_2M && !dev->logged_small) {
		const char *force = getenv("USNET_DMA_PAGES");

		dev->logged_small = true;
		if (force && !strcmp(force, "4k"))
			USNET_INFO("%s: DMA memory on 4 KiB pages (USNET_DMA_PAGES=4k)", dev->name);
		else
			USNET_INFO("%s: DMA memory on 4 KiB pages (no free 2 MiB hugepages; "
				   "reserve some with: echo 64 > "
				   "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages)",
				   dev->name);
	}
}

void usnet_pci_mem_add(struct usnet_pci_dev *dev, struct usnet_pci_mem *m)
{
	m->next = dev->mem;
	dev->mem = m;
}

const struct usnet_pkt *usnet_pci_pkt_of(const void *data)
{
	return (const struct usnet_pkt *)((const uint8_t *)data - offsetof(struct usnet_pkt, data));
}

int usnet_pci_dma_alloc(struct usnet_pci_dev *dev, size_t len, struct usnet_dma *dma)
{
	memset(dma, 0, sizeof(*dma));
	if (len == 0)
		return usnet_error(EINVAL, "%s: DMA allocation of 0 bytes", dev->name);
	if (dev->backend == USNET_PCI_VFIO)
		return usnet_vfio_dma_alloc(dev, len, dma);
	return usnet_uio_dma_alloc(dev, len, dma);
}

static void mem_release(struct usnet_pci_dev *dev, struct usnet_pci_mem *m)
{
	if (dev->backend == USNET_PCI_VFIO)
		usnet_vfio_mem_release(dev, m);
	if (m->owned)
		munmap(m->va, m->len);
	free(m);
}

/* Unlink the first entry matching va or pool and release it. */
static bool mem_remove(struct usnet_pci_dev *dev, const void *va, const struct usnet_pool *pool)
{
	for (struct usnet_pci_mem **pp = &dev->mem; *pp; pp = &(*pp)->next) {
		struct usnet_pci_mem *m = *pp;

		if ((va && m->owned && m->va == va) || (pool && m->pool == pool)) {
			*pp = m->next;
			mem_release(dev, m);
			return true;
		}
	}
	return false;
}

void usnet_pci_dma_free(struct usnet_pci_dev *dev, struct usnet_dma *dma)
{
	if (!dma->va)
		return;
	if (!mem_remove(dev, dma->va, NULL))
		USNET_WARN("%s: usnet_pci_dma_free of %p, which this device did not allocate",
			   dev->name, dma->va);
	memset(dma, 0, sizeof(*dma));
}

size_t usnet_pci_dma_contig_max(struct usnet_pci_dev *dev)
{
	size_t len = USNET_HUGE_2M, page;
	void *p;

	if (dev->backend == USNET_PCI_VFIO)
		return SIZE_MAX; /* the IOMMU makes any pages contiguous */
	/* UIO: one hugepage if there is a free one (a hugetlb mmap reserves
	 * its page at mmap time, so this is a real test), else 4 KiB. */
	p = usnet_pci_mmap_dma(&len, true, true, false, &page);
	if (!p)
		return USNET_PAGE_4K;
	munmap(p, len);
	return USNET_HUGE_2M;
}

uint32_t usnet_pci_pool_flags(const struct usnet_pci_dev *dev)
{
	return dev->backend == USNET_PCI_UIO ? USNET_POOL_F_PAGE_LOCAL : 0;
}

int usnet_pci_dma_map_pool(struct usnet_pci_dev *dev, struct usnet_pool *pool)
{
	if (dev->backend == USNET_PCI_VFIO)
		return usnet_vfio_dma_map_pool(dev, pool);
	return usnet_uio_dma_map_pool(dev, pool);
}

void usnet_pci_dma_unmap_pool(struct usnet_pci_dev *dev, struct usnet_pool *pool)
{
	mem_remove(dev, NULL, pool);
}

/* Called by the backends' close, after bus mastering is off: the device
 * can no longer reach the memory when it goes. */
void usnet_pci_mem_release_all(struct usnet_pci_dev *dev)
{
	while (dev->mem) {
		struct usnet_pci_mem *m = dev->mem;

		dev->mem = m->next;
		mem_release(dev, m);
	}
}

/* ---- interrupts ----------------------------------------------------------- */

int usnet_pci_irq_enable(struct usnet_pci_dev *dev, unsigned nvec, int *efds)
{
	int n;

	if (nvec == 0)
		return usnet_error(EINVAL, "%s: asked for 0 interrupt vectors", dev->name);
	if (nvec > USNET_PCI_MAX_IRQS)
		nvec = USNET_PCI_MAX_IRQS;
	usnet_pci_irq_disable(dev);
	n = dev->backend == USNET_PCI_VFIO ? usnet_vfio_irq_enable(dev, nvec)
					   : usnet_uio_irq_enable(dev, nvec);
	if (n < 0)
		return n;
	for (int i = 0; i < n; i++)
		efds[i] = dev->irq_fd[i];
	return n;
}

void usnet_pci_irq_disable(struct usnet_pci_dev *dev)
{
	if (dev->irq_mode == USNET_PCI_IRQ_NONE)
		return;
	if (dev->backend == USNET_PCI_VFIO)
		usnet_vfio_irq_disable(dev);
	else
		usnet_uio_irq_disable(dev);
	dev->irq_mode = USNET_PCI_IRQ_NONE;
	dev->nirq = 0;
}

int usnet_pci_irq_unmask(struct usnet_pci_dev *dev)
{
	if (dev->irq_mode != USNET_PCI_IRQ_INTX)
		return 0;
	if (dev->backend == USNET_PCI_VFIO)
		return usnet_vfio_irq_unmask(dev);
	return usnet_uio_irq_unmask(dev);
}

int usnet_pci_irq_ack(struct usnet_pci_dev *dev, unsigned vec)
{
	if (vec >= dev->nirq)
		return usnet_error(EINVAL, "%s: interrupt vector %u is not enabled (%u are)",
				   dev->name, vec, dev->nirq);
	if (dev->backend == USNET_PCI_UIO) {
		/* uio read(): the total interrupt count as a 32-bit int, once
		 * per new interrupt; EAGAIN (O_NONBLOCK) if none since. */
		uint32_t total;
		ssize_t n = read(dev->irq_fd[vec], &total, sizeof(total));
		int ret;

		if (n < 0)
			return errno == EAGAIN ? 0 : -errno;
		if (n != sizeof(total))
			return -EIO;
		ret = dev->uio_count_valid ? (int)(uint32_t)(total - dev->uio_count) : 1;
		dev->uio_count = total;
		dev->uio_count_valid = true;
		return ret;
	}
	/* eventfd(2): read returns the 8-byte counter and resets it. */
	uint64_t cnt;
	ssize_t n = read(dev->irq_fd[vec], &cnt, sizeof(cnt));

	if (n < 0)
		return errno == EAGAIN ? 0 : -errno;
	return cnt > INT_MAX ? INT_MAX : (int)cnt;
}

enum usnet_pci_irq_mode usnet_pci_irq_mode(const struct usnet_pci_dev *dev)
{
	return dev->irq_mode;
}

/* ---- fault injection ------------------------------------------------------ */

uint64_t usnet_pci_fault_iova(const struct usnet_pci_dev *dev)
{
	const char *e = getenv("USNET_FAULT_BAD_IOVA");

	if (!e || strcmp(e, "1"))
		return 0;
	if (dev->backend != USNET_PCI_VFIO) {
		/* Without an IOMMU a bad address is a real physical address:
		 * the device would write over whatever lives there. */
		USNET_WARN("%s: USNET_FAULT_BAD_IOVA ignored: with uio_pci_generic nothing would "
			   "stop the stray DMA",
			   dev->name);
		return 0;
	}
	return usnet_vfio_fault_iova(dev);
}
