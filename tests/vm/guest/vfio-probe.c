// SPDX-License-Identifier: MIT
/*
 * vfio-probe: guest-side check that VFIO is usable for the given PCI
 * functions, as the usnet pci port will use it. Prints VMTEST lines.
 *
 *   vfio-probe 0000:00:03.0 0000:00:04.0 ...
 *
 * All the functions' groups go into one container (type1v2 IOMMU), one
 * 2 MiB hugetlb buffer is DMA-mapped at a chosen IOVA, then each device
 * is opened and its first memory BAR is mapped and read once. Nothing is written to the
 * devices. Exit status: 0 if every check passed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/vfio.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#define MAX_GROUPS 16
#define DMA_SIZE (2u << 20)
#define DMA_IOVA 0x10000000ull

static int failures;

static void fail(const char *name, const char *fmt, ...)
{
	va_list ap;

	printf("VMTEST FAIL %s: ", name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	failures++;
}

static int group_of(const char *bdf)
{
	char path[PATH_MAX], link[PATH_MAX];
	ssize_t n;
	const char *slash;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/iommu_group", bdf);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return -errno;
	link[n] = '\0';
	slash = strrchr(link, '/');
	return atoi(slash ? slash + 1 : link);
}

static void probe_device(int group_fd, const char *bdf)
{
	char name[64], bars[256] = "";
	struct vfio_device_info info = { .argsz = sizeof(info) };
	struct vfio_irq_info msix = { .argsz = sizeof(msix),
				      .index = VFIO_PCI_MSIX_IRQ_INDEX };
	struct vfio_region_info first = { 0 };
	size_t len = 0;
	uint32_t reg0;
	unsigned int bar;
	void *p;
	int dev;

	snprintf(name, sizeof(name), "vfio-device-%s", bdf);
	dev = ioctl(group_fd, VFIO_GROUP_GET_DEVICE_FD, bdf);
	if (dev < 0) {
		fail(name, "VFIO_GROUP_GET_DEVICE_FD: %s", strerror(errno));
		return;
	}
	if (ioctl(dev, VFIO_DEVICE_GET_INFO, &info) < 0) {
		fail(name, "VFIO_DEVICE_GET_INFO: %s", strerror(errno));
		goto close_dev;
	}
	if (!(info.flags & VFIO_DEVICE_FLAGS_PCI)) {
		fail(name, "not a PCI device (flags 0x%x)", info.flags);
		goto close_dev;
	}
	if (ioctl(dev, VFIO_DEVICE_GET_IRQ_INFO, &msix) < 0)
		msix.count = 0;
	/* Which BARs exist depends on the device: e1000/e1000e have their
	 * registers in BAR0, modern virtio-net its capabilities in BAR4. */
	for (bar = VFIO_PCI_BAR0_REGION_INDEX; bar <= VFIO_PCI_BAR5_REGION_INDEX; bar++) {
		struct vfio_region_info r = { .argsz = sizeof(r), .index = bar };

		if (ioctl(dev, VFIO_DEVICE_GET_REGION_INFO, &r) < 0) {
			fail(name, "BAR%u region info: %s", bar, strerror(errno));
			goto close_dev;
		}
		if (r.size == 0)
			continue;
		len += (size_t)snprintf(bars + len, sizeof(bars) - len, " BAR%u %llu%s%s",
					bar, (unsigned long long)(r.size >= 1024 ? r.size >> 10 : r.size),
					r.size >= 1024 ? " KiB" : " B",
					r.flags & VFIO_REGION_INFO_FLAG_MMAP ? " mmap" : "");
		if (first.size == 0 && (r.flags & VFIO_REGION_INFO_FLAG_MMAP))
			first = r;
	}
	if (first.size == 0) {
		fail(name, "no mappable memory BAR (BARs:%s)", bars);
		goto close_dev;
	}
	p = mmap(NULL, first.size, PROT_READ | PROT_WRITE, MAP_SHARED, dev,
		 (off_t)first.offset);
	if (p == MAP_FAILED) {
		fail(name, "mmap BAR%u (%llu bytes): %s", first.index,
		     (unsigned long long)first.size, strerror(errno));
		goto close_dev;
	}
	reg0 = *(volatile uint32_t *)p;
	munmap(p, first.size);
	printf("vfio-probe: %s: %u regions, %u irqs, %u MSI-X vectors,%s; "
	       "BAR%u[0]=0x%08x\n", bdf, info.num_regions, info.num_irqs,
	       msix.count, bars, first.index, reg0);
	printf("VMTEST PASS %s\n", name);
close_dev:
	close(dev);
}

int main(int argc, char **argv)
{
	int container, i, ngroups = 0;
	int group_ids[MAX_GROUPS], group_fds[MAX_GROUPS];
	int dev_group[MAX_GROUPS];
	void *buf;
	struct vfio_iommu_type1_dma_map map = { .argsz = sizeof(map) };
	struct vfio_iommu_type1_dma_unmap unmap = { .argsz = sizeof(unmap) };

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2 || argc - 1 > MAX_GROUPS) {
		fprintf(stderr, "usage: %s BDF... (at most %d)\n", argv[0], MAX_GROUPS);
		return 2;
	}

	container = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	if (container < 0) {
		fail("vfio-container", "open /dev/vfio/vfio: %s", strerror(errno));
		return 1;
	}
	if (ioctl(container, VFIO_GET_API_VERSION) != VFIO_API_VERSION) {
		fail("vfio-container", "unexpected VFIO API version");
		return 1;
	}
	if (ioctl(container, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) != 1) {
		fail("vfio-container", "no type1v2 IOMMU support");
		return 1;
	}

	for (i = 1; i < argc; i++) {
		int g = group_of(argv[i]), j;
		char path[64];
		struct vfio_group_status st = { .argsz = sizeof(st) };

		if (g < 0) {
			fail("vfio-group", "%s has no IOMMU group: %s", argv[i], strerror(-g));
			return 1;
		}
		for (j = 0; j < ngroups && group_ids[j] != g; j++)
			;
		dev_group[i - 1] = j;
		if (j < ngroups)
			continue;
		snprintf(path, sizeof(path), "/dev/vfio/%d", g);
		group_fds[j] = open(path, O_RDWR | O_CLOEXEC);
		if (group_fds[j] < 0) {
			fail("vfio-group", "open %s: %s", path, strerror(errno));
			return 1;
		}
		group_ids[j] = g;
		ngroups++;
		if (ioctl(group_fds[j], VFIO_GROUP_GET_STATUS, &st) < 0 ||
		    !(st.flags & VFIO_GROUP_FLAGS_VIABLE)) {
			fail("vfio-group", "group %d not viable (every device of it must be bound to vfio-pci)", g);
			return 1;
		}
		if (ioctl(group_fds[j], VFIO_GROUP_SET_CONTAINER, &container) < 0) {
			fail("vfio-group", "VFIO_GROUP_SET_CONTAINER group %d: %s", g, strerror(errno));
			return 1;
		}
		/* The IOMMU type can be set once the first group is attached. */
		if (ngroups == 1 && ioctl(container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU) < 0) {
			fail("vfio-container", "VFIO_SET_IOMMU type1v2: %s "
			     "(no interrupt remapping? needs intel-iommu,intremap=on)", strerror(errno));
			return 1;
		}
	}
	printf("VMTEST PASS vfio-container\n");

	buf = mmap(NULL, DMA_SIZE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
	if (buf == MAP_FAILED) {
		fail("vfio-dma-map", "2 MiB MAP_HUGETLB: %s", strerror(errno));
	} else {
		memset(buf, 0, DMA_SIZE);
		map.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE;
		map.vaddr = (uintptr_t)buf;
		map.iova = DMA_IOVA;
		map.size = DMA_SIZE;
		unmap.iova = DMA_IOVA;
		unmap.size = DMA_SIZE;
		if (ioctl(container, VFIO_IOMMU_MAP_DMA, &map) < 0)
			fail("vfio-dma-map", "VFIO_IOMMU_MAP_DMA: %s", strerror(errno));
		else if (ioctl(container, VFIO_IOMMU_UNMAP_DMA, &unmap) < 0)
			fail("vfio-dma-map", "VFIO_IOMMU_UNMAP_DMA: %s", strerror(errno));
		else
			printf("VMTEST PASS vfio-dma-map\n");
		munmap(buf, DMA_SIZE);
	}

	for (i = 1; i < argc; i++)
		probe_device(group_fds[dev_group[i - 1]], argv[i]);

	for (i = 0; i < ngroups; i++)
		close(group_fds[i]);
	close(container);
	return failures ? 1 : 0;
}
