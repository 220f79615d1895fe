/* SPDX-License-Identifier: MIT */
/*
 * The VFIO backend: a device bound to vfio-pci, its DMA confined by the
 * IOMMU to what usnet maps. The uAPI is include/uapi/linux/vfio.h; the
 * order of operations is the one in Documentation/driver-api/vfio.rst
 * ("VFIO Usage Example"):
 *
 *   container = open(/dev/vfio/vfio); check API version and type1 support
 *   group = open(/dev/vfio/N); check it is viable; attach it to the container
 *   select the IOMMU model on the container (after the first group)
 *   device = ioctl(group, VFIO_GROUP_GET_DEVICE_FD, "DDDD:BB:DD.F")
 *   regions (BARs, config space) and interrupts through the device fd
 *
 * One container per process: every device opened here joins it, so all of
 * them share one IOVA space. A pool mapped for one NIC is at the same IOVAs
 * for every other, and a packet can move between NICs without a copy. The
 * container, its groups and its mappings are shared state, guarded by one
 * mutex; nothing here is on the fast path.
 *
 * IOVAs are chosen here, not by the kernel: a bump allocator from 1 GiB
 * upwards, 2 MiB aligned (so hugepage mappings can use IOMMU superpages),
 * skipping the holes VFIO_IOMMU_GET_INFO reports (on x86 the MSI window at
 * 0xfee00000). IOVAs are never reused, so a stale IOTLB entry can never
 * point into a later mapping. The top 2 MiB of the aperture are never
 * mapped: usnet_pci_fault_iova() hands them out for the protection test.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/vfio.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <usnet/log.h>

#include "../core/container_of.h"
#include "pci_backend.h"

#define IOVA_START (1ull << 30)
#define IOVA_ALIGN USNET_HUGE_2M
#define MAX_RANGES 16

struct vfio_map {
	struct vfio_map *next;
	void *va;
	size_t len;
	uint64_t iova;
	unsigned refs;
};

struct vfio_group {
	struct vfio_group *next;
	int num;
	int fd;
	unsigned refs;
};

/* A device bound to vfio-pci. Its config space is a region of device_fd
 * (pci.cfg_fd is that fd, pci.cfg_base the region's offset). */
struct vfio_dev {
	struct usnet_pci_dev pci;
	struct vfio_group *group;
	int device_fd;
	uint32_t device_flags;
};

/* DMA memory of one device and the container's mapping behind it. */
struct vfio_mem {
	struct usnet_pci_mem mem;
	struct vfio_map *map;
};

static struct vfio_dev *vfio_of(const struct usnet_pci_dev *dev)
{
	return usnet_container_of(dev, struct vfio_dev, pci);
}

static struct {
	pthread_mutex_t lock;
	int fd;		  /* /dev/vfio/vfio, valid while devices > 0 */
	unsigned devices; /* open devices */
	int iommu_type;	  /* VFIO_TYPE1v2_IOMMU or VFIO_TYPE1_IOMMU */
	bool iommu_set;	  /* VFIO_SET_IOMMU done (needs a group attached) */
	struct vfio_group *groups;
	struct vfio_map *maps;
	uint64_t next_iova;
	uint64_t fault_iova; /* start of the never-mapped top 2 MiB */
	uint64_t pgsize_min; /* smallest IOMMU page (VFIO_IOMMU_GET_INFO iova_pgsizes) */
	unsigned nranges;
	struct {
		uint64_t start, end; /* inclusive */
	} range[MAX_RANGES];
} C = {.lock = PTHREAD_MUTEX_INITIALIZER, .fd = -1};

static uint64_t align_up(uint64_t x, uint64_t a)
{
	return (x + a - 1) & ~(a - 1);
}

/* ---- container ------------------------------------------------------------ */

static int container_get(void)
{
	int fd, v;

	if (C.devices) {
		C.devices++;
		return 0;
	}
	fd = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return usnet_error(ENODEV, "no /dev/vfio/vfio: load the VFIO modules "
						   "(modprobe vfio-pci)");
		return usnet_error(errno, "cannot open /dev/vfio/vfio: %m");
	}
	v = ioctl(fd, VFIO_GET_API_VERSION);
	if (v != VFIO_API_VERSION) {
		close(fd);
		return usnet_error(EPROTO,
				   "VFIO_GET_API_VERSION: the kernel speaks VFIO API %d, "
				   "usnet speaks %d",
				   v, VFIO_API_VERSION);
	}
	/* Type1v2 (unmap semantics that never split a mapping) where the
	 * kernel has it, plain type1 otherwise (vfio.h, VFIO_TYPE1v2_IOMMU). */
	if (ioctl(fd, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) == 1) {
		C.iommu_type = VFIO_TYPE1v2_IOMMU;
	} else if (ioctl(fd, VFIO_CHECK_EXTENSION, VFIO_TYPE1_IOMMU) == 1) {
		C.iommu_type = VFIO_TYPE1_IOMMU;
	} else {
		close(fd);
		return usnet_error(ENOTSUP, "VFIO_CHECK_EXTENSION: no type1 IOMMU support: load "
					    "vfio_iommu_type1 (modprobe vfio_iommu_type1)");
	}
	C.fd = fd;
	C.devices = 1;
	C.iommu_set = false;
	C.next_iova = IOVA_START;
	return 0;
}

static void container_put(void)
{
	if (--C.devices)
		return;
	if (C.maps)
		USNET_WARN("vfio: container closed with DMA mappings left");
	close(C.fd);
	C.fd = -1;
	C.iommu_set = false;
}

/* The IOVA ranges the IOMMU accepts (VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE,
 * Linux 5.4+). Without the capability, assume the smallest aperture Intel
 * IOMMUs have: 39 bits. */
static void read_iova_ranges(void)
{
	struct vfio_iommu_type1_info *info = calloc(1, sizeof(*info));
	uint32_t off;

	C.nranges = 1;
	C.range[0].start = 0;
	C.range[0].end = (1ull << 39) - 1;
	C.pgsize_min = USNET_PAGE_4K;
	if (!info)
		goto out;
	info->argsz = sizeof(*info);
	if (ioctl(C.fd, VFIO_IOMMU_GET_INFO, info))
		goto out;
	/* Bit n set: the IOMMU maps pages of 2^n bytes; a mapping's IOVA,
	 * vaddr and size must be multiples of the smallest (vfio.h,
	 * vfio_iommu_type1_info; vfio_iommu_type1.c, vfio_dma_do_map). */
	if ((info->flags & VFIO_IOMMU_INFO_PGSIZES) && info->iova_pgsizes)
		C.pgsize_min = info->iova_pgsizes & -info->iova_pgsizes;
	if (info->argsz > sizeof(*info)) {
		/* The capabilities do not fit: the kernel said how much does. */
		uint32_t argsz = info->argsz;
		void *bigger = realloc(info, argsz);

		if (!bigger)
			goto out;
		info = bigger;
		memset(info, 0, argsz);
		info->argsz = argsz;
		if (ioctl(C.fd, VFIO_IOMMU_GET_INFO, info))
			goto out;
	}
	if (!(info->flags & VFIO_IOMMU_INFO_CAPS))
		goto out;
	/* Capabilities are only 4-byte aligned in the buffer (vfio_info_cap_add
	 * packs them), so copy each field out instead of dereferencing. */
	for (off = info->cap_offset;
	     off && off + sizeof(struct vfio_info_cap_header) <= info->argsz;) {
		const char *p = (const char *)info + off;
		struct vfio_info_cap_header h;
		struct vfio_iommu_type1_info_cap_iova_range r;

		memcpy(&h, p, sizeof(h));
		if (h.id == VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE &&
		    off + sizeof(r) <= info->argsz) {
			memcpy(&r, p, sizeof(r));
			if (r.nr_iovas > 0 &&
			    off + sizeof(r) + (size_t)r.nr_iovas * sizeof(struct vfio_iova_range) <=
				info->argsz) {
				C.nranges = r.nr_iovas < MAX_RANGES ? r.nr_iovas : MAX_RANGES;
				for (unsigned i = 0; i < C.nranges; i++) {
					struct vfio_iova_range v;

					memcpy(&v, p + sizeof(r) + i * sizeof(v), sizeof(v));
					C.range[i].start = v.start;
					C.range[i].end = v.end;
				}
				break;
			}
		}
		if (h.next <= off)
			break;
		off = h.next;
	}
out:
	free(info);
	/* Never map the top 2 MiB of the highest range; no 64-bit IOMMU
	 * aperture is bigger than 57 bits (5-level paging), so cap there. */
	uint64_t top = C.range[C.nranges - 1].end;

	if (top > (1ull << 57) - 1)
		top = (1ull << 57) - 1;
	C.fault_iova = ((top + 1) & ~(IOVA_ALIGN - 1)) - IOVA_ALIGN;
}

/* Lock held. 0 if the space is exhausted. */
static uint64_t iova_alloc(size_t len)
{
	uint64_t start = align_up(C.next_iova, IOVA_ALIGN);

	for (unsigned i = 0; i < C.nranges; i++) {
		uint64_t s = align_up(C.range[i].start, IOVA_ALIGN);

		if (s < start)
			s = start;
		if (s > C.range[i].end || C.range[i].end - s < len - 1)
			continue;
		if (s + len > C.fault_iova)
			return 0;
		C.next_iova = s + len;
		return s;
	}
	return 0;
}

/* Lock held. */
static int map_dma(struct usnet_pci_dev *dev, void *va, size_t len, struct vfio_map **out)
{
	struct vfio_iommu_type1_dma_map m = {
	    .argsz = sizeof(m),
	    .flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
	    .vaddr = (uintptr_t)va,
	    .size = len,
	};
	struct vfio_map *map;

	/* Checked here so the failure says why, not only EINVAL. */
	if (((uintptr_t)va | len) & (C.pgsize_min - 1))
		return usnet_error(EINVAL,
				   "%s: cannot map %zu bytes at %p for DMA: the IOMMU maps "
				   "pages of %llu bytes at least (VFIO_IOMMU_GET_INFO "
				   "iova_pgsizes), so address and length must be multiples "
				   "of that",
				   dev->name, len, va, (unsigned long long)C.pgsize_min);
	m.iova = iova_alloc(len);
	if (!m.iova)
		return usnet_error(ENOSPC,
				   "%s: no IOVA space left for %zu more bytes of DMA "
				   "memory",
				   dev->name, len);
	map = calloc(1, sizeof(*map));
	if (!map)
		return usnet_error(ENOMEM, "%s: out of memory", dev->name);
	/* The kernel pins the pages and charges them to RLIMIT_MEMLOCK
	 * (vfio_iommu_type1.c, vfio_pin_pages_remote). */
	if (ioctl(C.fd, VFIO_IOMMU_MAP_DMA, &m)) {
		int err = errno;

		free(map);
		if (err == ENOMEM)
			return usnet_error(ENOMEM,
					   "%s: VFIO_IOMMU_MAP_DMA of %zu bytes failed: "
					   "cannot pin the memory: raise the locked-memory "
					   "limit (ulimit -l) or run as root",
					   dev->name, len);
		if (err == ENOSPC)
			return usnet_error(ENOSPC,
					   "%s: VFIO_IOMMU_MAP_DMA: too many DMA mappings "
					   "(vfio_iommu_type1 dma_entry_limit)",
					   dev->name);
		return usnet_error(err, "%s: VFIO_IOMMU_MAP_DMA of %zu bytes at IOVA 0x%llx: %s",
				   dev->name, len, (unsigned long long)m.iova, strerror(err));
	}
	map->va = va;
	map->len = len;
	map->iova = m.iova;
	map->refs = 1;
	map->next = C.maps;
	C.maps = map;
	*out = map;
	return 0;
}

/* Lock held. */
static void unmap_dma(struct vfio_map *map)
{
	struct vfio_iommu_type1_dma_unmap u = {
	    .argsz = sizeof(u),
	    .iova = map->iova,
	    .size = map->len,
	};

	if (ioctl(C.fd, VFIO_IOMMU_UNMAP_DMA, &u) || u.size != map->len)
		USNET_WARN("vfio: VFIO_IOMMU_UNMAP_DMA of IOVA 0x%llx (%zu bytes): %m",
			   (unsigned long long)map->iova, map->len);
	for (struct vfio_map **pp = &C.maps; *pp; pp = &(*pp)->next) {
		if (*pp == map) {
			*pp = map->next;
			break;
		}
	}
	free(map);
}

/* ---- groups --------------------------------------------------------------- */

/* "0000:00:04.0 (e1000), ..." : the group's devices bound to a driver that
 * makes the group not viable (vfio.rst: every device of the group must be
 * bound to a VFIO bus driver, pci-stub, or no driver). */
static void group_culprits(int num, char *out, size_t len)
{
	char dir[PATH_MAX];
	const char *root = usnet_pci_sysfs_root();
	struct dirent *e;
	size_t used = 0;
	DIR *d;

	out[0] = '\0';
	snprintf(dir, sizeof(dir), "%s/kernel/iommu_groups/%d/devices", root, num);
	d = opendir(dir);
	if (!d)
		return;
	while ((e = readdir(d))) {
		char link[PATH_MAX + 300], target[PATH_MAX];
		const char *drv;
		ssize_t n;

		if (e->d_name[0] == '.')
			continue;
		snprintf(link, sizeof(link), "%s/%s/driver", dir, e->d_name);
		n = readlink(link, target, sizeof(target) - 1);
		if (n < 0)
			continue;
		target[n] = '\0';
		drv = strrchr(target, '/') ? strrchr(target, '/') + 1 : target;
		if (!strcmp(drv, "vfio-pci") || !strcmp(drv, "pci-stub") ||
		    !strcmp(drv, "pcieport"))
			continue;
		n = snprintf(out + used, len - used, "%s%s (%s)", used ? ", " : "", e->d_name, drv);
		if (n < 0 || (size_t)n >= len - used)
			break;
		used += (size_t)n;
	}
	closedir(d);
}

/* Lock held. */
static int group_get(struct usnet_pci_dev *dev, struct vfio_group **out)
{
	struct vfio_group_status st = {.argsz = sizeof(st)};
	int num = dev->info.iommu_group;
	struct vfio_group *g;
	char path[32];
	int fd, err;

	for (g = C.groups; g; g = g->next) {
		if (g->num == num) {
			g->refs++;
			*out = g;
			return 0;
		}
	}
	snprintf(path, sizeof(path), "/dev/vfio/%d", num);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return usnet_error(ENODEV,
					   "%s: no %s: is the device bound to vfio-pci? "
					   "run: usnetctl bind %s",
					   dev->name, path, dev->name);
		if (errno == EBUSY)
			return usnet_error(EBUSY,
					   "%s: %s is busy: another process has IOMMU group "
					   "%d open (only one process at a time may)",
					   dev->name, path, num);
		return usnet_error(errno, "%s: cannot open %s: %m", dev->name, path);
	}
	if (ioctl(fd, VFIO_GROUP_GET_STATUS, &st)) {
		err =
		    usnet_error(errno, "%s: VFIO_GROUP_GET_STATUS on group %d: %m", dev->name, num);
		goto err_close;
	}
	if (!(st.flags & VFIO_GROUP_FLAGS_VIABLE)) {
		char culprits[256];

		group_culprits(num, culprits, sizeof(culprits));
		err = usnet_error(EPERM,
				  "%s: IOMMU group %d is not viable: all devices in the "
				  "group must be bound to vfio-pci%s%s (usnetctl bind each)",
				  dev->name, num, *culprits ? "; still bound elsewhere: " : "",
				  culprits);
		goto err_close;
	}
	if (ioctl(fd, VFIO_GROUP_SET_CONTAINER, &C.fd)) {
		err = usnet_error(errno, "%s: VFIO_GROUP_SET_CONTAINER for group %d: %m", dev->name,
				  num);
		goto err_close;
	}
	if (!C.iommu_set) {
		/* vfio_iommu_type1 refuses an IOMMU without interrupt
		 * remapping unless allow_unsafe_interrupts=1. */
		if (ioctl(C.fd, VFIO_SET_IOMMU, C.iommu_type)) {
			err = usnet_error(errno,
					  "%s: failed to select IOMMU type (VFIO_SET_IOMMU: "
					  "%m): is the IOMMU enabled with interrupt "
					  "remapping? intel_iommu=on (amd_iommu=on) on the "
					  "kernel command line; under QEMU -machine "
					  "q35,kernel-irqchip=split -device "
					  "intel-iommu,intremap=on",
					  dev->name);
			goto err_unset;
		}
		C.iommu_set = true;
		read_iova_ranges();
	}
	g = calloc(1, sizeof(*g));
	if (!g) {
		err = usnet_error(ENOMEM, "%s: out of memory", dev->name);
		goto err_unset;
	}
	g->num = num;
	g->fd = fd;
	g->refs = 1;
	g->next = C.groups;
	C.groups = g;
	*out = g;
	return 0;

err_unset:
	ioctl(fd, VFIO_GROUP_UNSET_CONTAINER);
err_close:
	close(fd);
	return err;
}

/* Lock held. */
static void group_put(struct vfio_group *g)
{
	if (--g->refs)
		return;
	for (struct vfio_group **pp = &C.groups; *pp; pp = &(*pp)->next) {
		if (*pp == g) {
			*pp = g->next;
			break;
		}
	}
	ioctl(g->fd, VFIO_GROUP_UNSET_CONTAINER);
	close(g->fd);
	free(g);
	/* The last group gone, the container has no IOMMU model any more
	 * (vfio.rst: the IOMMU is set per container once a group is in). */
	if (!C.groups)
		C.iommu_set = false;
}

/* ---- regions -------------------------------------------------------------- */

static int region_info(struct usnet_pci_dev *dev, uint32_t index, struct vfio_region_info **out)
{
	struct vfio_region_info *ri = calloc(1, sizeof(*ri));

	if (!ri)
		return usnet_error(ENOMEM, "%s: out of memory", dev->name);
	ri->argsz = sizeof(*ri);
	ri->index = index;
	if (ioctl(vfio_of(dev)->device_fd, VFIO_DEVICE_GET_REGION_INFO, ri))
		goto err;
	if (ri->argsz > sizeof(*ri)) {
		uint32_t argsz = ri->argsz;
		void *bigger = realloc(ri, argsz);

		if (!bigger) {
			free(ri);
			return usnet_error(ENOMEM, "%s: out of memory", dev->name);
		}
		ri = bigger;
		memset(ri, 0, argsz);
		ri->argsz = argsz;
		ri->index = index;
		if (ioctl(vfio_of(dev)->device_fd, VFIO_DEVICE_GET_REGION_INFO, ri))
			goto err;
	}
	*out = ri;
	return 0;
err:
	free(ri);
	return usnet_error(errno, "%s: VFIO_DEVICE_GET_REGION_INFO for region %u: %m", dev->name,
			   index);
}

/* The sparse-mmap capability copied out (caps are only 4-byte aligned in
 * the buffer), or NULL if there is none. free() it. */
static struct vfio_region_info_cap_sparse_mmap *sparse_cap(const struct vfio_region_info *ri)
{
	if (!(ri->flags & VFIO_REGION_INFO_FLAG_CAPS))
		return NULL;
	for (uint32_t off = ri->cap_offset;
	     off && off + sizeof(struct vfio_info_cap_header) <= ri->argsz;) {
		const char *p = (const char *)ri + off;
		struct vfio_region_info_cap_sparse_mmap s;
		struct vfio_info_cap_header h;

		memcpy(&h, p, sizeof(h));
		if (h.id == VFIO_REGION_INFO_CAP_SPARSE_MMAP && off + sizeof(s) <= ri->argsz) {
			size_t sz;
			void *copy;

			memcpy(&s, p, sizeof(s));
			sz = sizeof(s) + (size_t)s.nr_areas * sizeof(s.areas[0]);
			if (off + sz > ri->argsz)
				return NULL;
			copy = malloc(sz);
			if (copy)
				memcpy(copy, p, sz);
			return copy;
		}
		if (h.next <= off)
			break;
		off = h.next;
	}
	return NULL;
}

/*
 * Map BAR `bar` if VFIO allows it (VFIO_REGION_INFO_FLAG_MMAP). A sparse
 * capability lists the parts that may be mapped (older kernels keep the
 * MSI-X table out, vfio.h VFIO_REGION_INFO_CAP_SPARSE_MMAP): reserve the
 * whole BAR as PROT_NONE and map those parts over it, so offsets into the
 * BAR stay what the datasheet says.
 */
static int map_bar(struct usnet_pci_dev *dev, unsigned bar)
{
	struct vfio_region_info_cap_sparse_mmap *sp = NULL;
	struct vfio_region_info *ri;
	size_t len;
	void *va;
	int err = region_info(dev, VFIO_PCI_BAR0_REGION_INDEX + bar, &ri);

	if (err)
		return err;
	if (!ri->size || !(ri->flags & VFIO_REGION_INFO_FLAG_MMAP)) {
		free(ri); /* absent, an I/O BAR, or not mappable */
		return 0;
	}
	len = align_up(ri->size, (uint64_t)sysconf(_SC_PAGESIZE));
	sp = sparse_cap(ri);
	if (!sp) {
		va = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, vfio_of(dev)->device_fd,
			  (off_t)ri->offset);
		if (va == MAP_FAILED) {
			err = usnet_error(errno, "%s: mmap of BAR%u (%llu bytes): %m", dev->name,
					  bar, (unsigned long long)ri->size);
			goto out;
		}
	} else {
		va = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (va == MAP_FAILED) {
			err = usnet_error(errno, "%s: reserving %zu bytes for BAR%u: %m", dev->name,
					  len, bar);
			goto out;
		}
		for (uint32_t i = 0; i < sp->nr_areas; i++) {
			const struct vfio_region_sparse_mmap_area *a = &sp->areas[i];

			if (!a->size)
				continue;
			if (a->offset + a->size > len) {
				err = usnet_error(EINVAL,
						  "%s: BAR%u part %u (0x%llx+0x%llx) is "
						  "outside the BAR",
						  dev->name, bar, i, (unsigned long long)a->offset,
						  (unsigned long long)a->size);
				munmap(va, len);
				goto out;
			}
			if (mmap((char *)va + a->offset, a->size, PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_FIXED, vfio_of(dev)->device_fd,
				 (off_t)(ri->offset + a->offset)) == MAP_FAILED) {
				err = usnet_error(errno,
						  "%s: mmap of BAR%u part %u (0x%llx+0x%llx): %m",
						  dev->name, bar, i, (unsigned long long)a->offset,
						  (unsigned long long)a->size);
				munmap(va, len);
				goto out;
			}
		}
	}
	dev->bar[bar].va = va;
	dev->bar[bar].len = len;
	dev->bar[bar].size = ri->size;
out:
	free(sp);
	free(ri);
	return err;
}

static void reset_device(struct usnet_pci_dev *dev, const char *when)
{
	if (!(vfio_of(dev)->device_flags & VFIO_DEVICE_FLAGS_RESET))
		return;
	if (ioctl(vfio_of(dev)->device_fd, VFIO_DEVICE_RESET))
		USNET_WARN("%s: VFIO_DEVICE_RESET on %s: %m (the driver resets the device itself)",
			   dev->name, when);
}

/* ---- open / close --------------------------------------------------------- */

static int vfio_open(struct usnet_pci_dev **out, const struct usnet_pci_info *info)
{
	struct vfio_device_info di = {.argsz = sizeof(di)};
	struct vfio_region_info *cfg;
	struct usnet_pci_dev *dev;
	struct vfio_dev *vd;
	int err;

	vd = calloc(1, sizeof(*vd));
	if (!vd)
		return usnet_error(ENOMEM, "pci: out of memory");
	dev = &vd->pci;
	usnet_pci_dev_init(dev, info, &usnet_vfio_backend);
	vd->device_fd = -1;
	if (dev->info.iommu_group < 0) {
		err = usnet_error(ENODEV,
				  "%s has no IOMMU group: VFIO needs an IOMMU "
				  "(intel_iommu=on on the kernel command line), or bind "
				  "to uio_pci_generic (no DMA protection)",
				  dev->name);
		goto err_free;
	}
	pthread_mutex_lock(&C.lock);
	err = container_get();
	if (err)
		goto err_unlock;
	err = group_get(dev, &vd->group);
	if (err)
		goto err_container;
	vd->device_fd = ioctl(vd->group->fd, VFIO_GROUP_GET_DEVICE_FD, dev->name);
	if (vd->device_fd < 0) {
		if (errno == EBUSY)
			err = usnet_error(EBUSY,
					  "%s: VFIO_GROUP_GET_DEVICE_FD: the device is "
					  "already open (in this process)",
					  dev->name);
		else
			err = usnet_error(errno, "%s: VFIO_GROUP_GET_DEVICE_FD: %m", dev->name);
		goto err_group;
	}
	pthread_mutex_unlock(&C.lock);

	if (ioctl(vd->device_fd, VFIO_DEVICE_GET_INFO, &di)) {
		err = usnet_error(errno, "%s: VFIO_DEVICE_GET_INFO: %m", dev->name);
		goto err_device;
	}
	if (!(di.flags & VFIO_DEVICE_FLAGS_PCI) || di.num_regions <= VFIO_PCI_CONFIG_REGION_INDEX) {
		err = usnet_error(ENODEV,
				  "%s: VFIO_DEVICE_GET_INFO: not a vfio-pci device "
				  "(flags 0x%x, %u regions)",
				  dev->name, di.flags, di.num_regions);
		goto err_device;
	}
	vd->device_flags = di.flags;
	err = region_info(dev, VFIO_PCI_CONFIG_REGION_INDEX, &cfg);
	if (err)
		goto err_device;
	dev->cfg_fd = vd->device_fd;
	dev->cfg_base = cfg->offset;
	dev->cfg_size = cfg->size;
	free(cfg);
	/* A known state before anything else touches the device; also stops
	 * DMA a previous owner that crashed left running. */
	reset_device(dev, "open");
	for (unsigned bar = 0; bar < USNET_PCI_NBARS; bar++) {
		err = map_bar(dev, bar);
		if (err)
			goto err_bars;
	}
	USNET_INFO("%s: VFIO, IOMMU group %d, %s, %s, IOMMU pages from %llu bytes", dev->name,
		   dev->info.iommu_group, C.iommu_type == VFIO_TYPE1v2_IOMMU ? "type1v2" : "type1",
		   di.flags & VFIO_DEVICE_FLAGS_RESET ? "resettable" : "no reset",
		   (unsigned long long)C.pgsize_min);
	*out = dev;
	return 0;

err_bars:
	usnet_pci_bars_unmap(dev);
err_device:
	close(vd->device_fd);
	pthread_mutex_lock(&C.lock);
err_group:
	group_put(vd->group);
err_container:
	container_put();
err_unlock:
	pthread_mutex_unlock(&C.lock);
err_free:
	free(vd);
	return err;
}

/* usnet_pci_close(): bus mastering is off; stop whatever else runs. */
static void vfio_reset(struct usnet_pci_dev *dev)
{
	reset_device(dev, "close");
}

/* usnet_pci_close() has quiesced the device and released its memory. */
static void vfio_close(struct usnet_pci_dev *dev)
{
	struct vfio_dev *vd = vfio_of(dev);

	close(vd->device_fd);
	pthread_mutex_lock(&C.lock);
	group_put(vd->group);
	container_put();
	pthread_mutex_unlock(&C.lock);
	free(vd);
}

int usnet_vfio_device_fd(const struct usnet_pci_dev *dev)
{
	return dev->ops == &usnet_vfio_backend ? vfio_of(dev)->device_fd : -1;
}

/* ---- DMA ------------------------------------------------------------------ */

static int vfio_dma_alloc(struct usnet_pci_dev *dev, size_t len, struct usnet_dma *dma)
{
	struct vfio_mem *m = calloc(1, sizeof(*m));
	size_t page, n = len;
	void *va;
	int err;

	if (!m)
		return usnet_error(ENOMEM, "%s: out of memory", dev->name);
	va = usnet_pci_mmap_dma(&n, true, false, false, &page);
	if (!va) {
		free(m);
		return usnet_error(ENOMEM, "%s: cannot allocate %zu bytes of DMA memory: %m",
				   dev->name, len);
	}
	usnet_pci_log_pages(dev, page);
	pthread_mutex_lock(&C.lock);
	err = map_dma(dev, va, n, &m->map);
	pthread_mutex_unlock(&C.lock);
	if (err) {
		munmap(va, n);
		free(m);
		return err;
	}
	m->mem.va = va;
	m->mem.len = n;
	m->mem.iova = m->map->iova;
	m->mem.owned = true;
	usnet_pci_mem_add(dev, &m->mem);
	dma->va = va;
	dma->iova = m->mem.iova;
	dma->len = n;
	dma->page_size = page;
	return 0;
}

struct pool_xlate {
	const uint8_t *base;
	uint64_t iova;
};

static uint64_t pool_xlate(void *ctx, const void *va)
{
	const struct pool_xlate *x = ctx;

	return x->iova + (uint64_t)((const uint8_t *)va - x->base);
}

static int vfio_dma_map_pool(struct usnet_pci_dev *dev, struct usnet_pool *pool)
{
	struct usnet_pci_mem *have;
	struct vfio_mem *m;
	struct vfio_map *map;
	struct pool_xlate x;
	void *base;
	size_t len;
	int err = 0;

	usnet_pool_region(pool, &base, &len);
	have = usnet_pci_mem_find_pool(dev, pool);
	if (have) {
		x.iova = have->iova; /* mapped already: only refresh the IOVAs */
		goto set_iova;
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		return usnet_error(ENOMEM, "%s: out of memory", dev->name);
	pthread_mutex_lock(&C.lock);
	for (map = C.maps; map; map = map->next) {
		const uint8_t *a = map->va, *b = base;

		if (map->va == base && map->len == len)
			break;
		if (b < a + map->len && a < b + len) {
			err = usnet_error(EEXIST,
					  "%s: pool region %p+%zu overlaps DMA mapping "
					  "%p+%zu",
					  dev->name, base, len, map->va, map->len);
			break;
		}
	}
	if (!err && map)
		map->refs++; /* another device's pool: share its IOVAs */
	else if (!err)
		err = map_dma(dev, base, len, &map);
	pthread_mutex_unlock(&C.lock);
	if (err) {
		free(m);
		return err;
	}
	m->mem.va = base;
	m->mem.len = len;
	m->mem.iova = map->iova;
	m->mem.pool = pool;
	m->map = map;
	usnet_pci_mem_add(dev, &m->mem);
	x.iova = map->iova;
set_iova:
	x.base = base;
	return usnet_pool_set_iova(pool, pool_xlate, &x);
}

/* The IOMMU mapping goes first (the last device to hold it unmaps it),
 * then the memory if it was ours. */
static void vfio_mem_release(struct usnet_pci_dev *dev, struct usnet_pci_mem *mem)
{
	struct vfio_mem *m = usnet_container_of(mem, struct vfio_mem, mem);

	(void)dev;
	pthread_mutex_lock(&C.lock);
	if (--m->map->refs == 0)
		unmap_dma(m->map);
	pthread_mutex_unlock(&C.lock);
	usnet_pci_mem_unmap(&m->mem);
	free(m);
}

static size_t vfio_dma_contig_max(struct usnet_pci_dev *dev)
{
	(void)dev;
	return SIZE_MAX; /* the IOMMU makes any pages contiguous */
}

static uint64_t vfio_fault_iova(const struct usnet_pci_dev *dev)
{
	uint64_t iova;

	(void)dev;
	pthread_mutex_lock(&C.lock);
	iova = C.fault_iova;
	pthread_mutex_unlock(&C.lock);
	return iova;
}

/* ---- interrupts ----------------------------------------------------------- */

static int set_irqs(struct usnet_pci_dev *dev, uint32_t flags, uint32_t index, uint32_t count,
		    const int *fds)
{
	size_t sz = sizeof(struct vfio_irq_set) + (fds ? count * sizeof(int32_t) : 0);
	struct vfio_irq_set *set = calloc(1, sz);
	int ret;

	if (!set)
		return -ENOMEM;
	set->argsz = (uint32_t)sz;
	set->flags = flags;
	set->index = index;
	set->start = 0;
	set->count = count;
	if (fds)
		memcpy(set->data, fds, count * sizeof(int32_t));
	ret = ioctl(vfio_of(dev)->device_fd, VFIO_DEVICE_SET_IRQS, set) ? -errno : 0;
	free(set);
	return ret;
}

static const char *irq_index_name(uint32_t index)
{
	switch (index) {
	case VFIO_PCI_MSIX_IRQ_INDEX:
		return "MSI-X";
	case VFIO_PCI_MSI_IRQ_INDEX:
		return "MSI";
	default:
		return "INTx";
	}
}

/* Try one kind of interrupt with n vectors: n on success, -errno. */
static int try_irqs(struct usnet_pci_dev *dev, uint32_t index, unsigned n)
{
	int fds[USNET_PCI_MAX_IRQS] = {0};
	int err;

	for (unsigned i = 0; i < n; i++) {
		fds[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (fds[i] < 0) {
			err = usnet_error(errno, "%s: eventfd: %m", dev->name);
			while (i--)
				close(fds[i]);
			return err;
		}
	}
	/* vfio.h, VFIO_DEVICE_SET_IRQS: DATA_EVENTFD|ACTION_TRIGGER with
	 * count n enables the index with vector i signalling fds[i]. */
	err = set_irqs(dev, VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER, index, n, fds);
	if (err) {
		for (unsigned i = 0; i < n; i++)
			close(fds[i]);
		return usnet_error(-err, "%s: VFIO_DEVICE_SET_IRQS (%s, %u vectors): %s", dev->name,
				   irq_index_name(index), n, strerror(-err));
	}
	memcpy(dev->irq_fd, fds, n * sizeof(int));
	return (int)n;
}

static int vfio_irq_enable(struct usnet_pci_dev *dev, unsigned nvec)
{
	static const uint32_t order[] = {VFIO_PCI_MSIX_IRQ_INDEX, VFIO_PCI_MSI_IRQ_INDEX,
					 VFIO_PCI_INTX_IRQ_INDEX};
	static const enum usnet_pci_irq_mode mode[] = {USNET_PCI_IRQ_MSIX, USNET_PCI_IRQ_MSI,
						       USNET_PCI_IRQ_INTX};
	char why[256] = "";
	int n = -ENODEV;

	for (unsigned i = 0; i < 3; i++) {
		struct vfio_irq_info ii = {.argsz = sizeof(ii), .index = order[i]};
		unsigned want;

		if (ioctl(vfio_of(dev)->device_fd, VFIO_DEVICE_GET_IRQ_INFO, &ii) ||
		    ii.count == 0 || !(ii.flags & VFIO_IRQ_INFO_EVENTFD))
			continue;
		want = order[i] == VFIO_PCI_INTX_IRQ_INDEX ? 1 : nvec < ii.count ? nvec : ii.count;
		n = try_irqs(dev, order[i], want);
		/* Multi-message MSI may be refused where one message works. */
		if (n < 0 && order[i] == VFIO_PCI_MSI_IRQ_INDEX && want > 1)
			n = try_irqs(dev, order[i], 1);
		if (n > 0) {
			dev->irq_mode = mode[i];
			dev->nirq = (unsigned)n;
			USNET_INFO("%s: %d %s interrupt vector%s", dev->name, n,
				   irq_index_name(order[i]), n > 1 ? "s" : "");
			return n;
		}
		snprintf(why, sizeof(why), "%s", usnet_last_error());
		USNET_WARN("%s; trying the next kind of interrupt", why);
	}
	if (*why)
		return usnet_error(-n, "%s: no interrupt could be enabled (last: %s)", dev->name,
				   why);
	return usnet_error(ENODEV,
			   "%s: VFIO_DEVICE_GET_IRQ_INFO: the device has no MSI-X, MSI "
			   "or INTx interrupt",
			   dev->name);
}

static void vfio_irq_disable(struct usnet_pci_dev *dev)
{
	uint32_t index = dev->irq_mode == USNET_PCI_IRQ_MSIX  ? VFIO_PCI_MSIX_IRQ_INDEX
			 : dev->irq_mode == USNET_PCI_IRQ_MSI ? VFIO_PCI_MSI_IRQ_INDEX
							      : VFIO_PCI_INTX_IRQ_INDEX;
	int err;

	/* DATA_NONE|ACTION_TRIGGER with count 0 disables the whole index. */
	err = set_irqs(dev, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER, index, 0, NULL);
	if (err)
		USNET_WARN("%s: VFIO_DEVICE_SET_IRQS (disable %s): %s", dev->name,
			   irq_index_name(index), strerror(-err));
	for (unsigned i = 0; i < dev->nirq; i++) {
		close(dev->irq_fd[i]);
		dev->irq_fd[i] = -1;
	}
}

static int vfio_irq_unmask(struct usnet_pci_dev *dev)
{
	int err = set_irqs(dev, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_UNMASK,
			   VFIO_PCI_INTX_IRQ_INDEX, 1, NULL);

	if (err)
		return usnet_error(-err, "%s: VFIO_DEVICE_SET_IRQS (unmask INTx): %s", dev->name,
				   strerror(-err));
	return 0;
}

/* eventfd(2): read returns the 8-byte counter and resets it. */
static int vfio_irq_ack(struct usnet_pci_dev *dev, unsigned vec)
{
	uint64_t cnt;
	ssize_t n = read(dev->irq_fd[vec], &cnt, sizeof(cnt));

	if (n < 0)
		return errno == EAGAIN ? 0 : -errno;
	return cnt > INT_MAX ? INT_MAX : (int)cnt;
}

const struct usnet_pci_backend_ops usnet_vfio_backend = {
    .kind = USNET_PCI_VFIO,
    .driver = "vfio-pci",
    .pool_flags = 0,
    .open = vfio_open,
    .reset = vfio_reset,
    .close = vfio_close,
    .dma_alloc = vfio_dma_alloc,
    .dma_map_pool = vfio_dma_map_pool,
    .mem_release = vfio_mem_release,
    .dma_contig_max = vfio_dma_contig_max,
    .irq_enable = vfio_irq_enable,
    .irq_disable = vfio_irq_disable,
    .irq_unmask = vfio_irq_unmask,
    .irq_ack = vfio_irq_ack,
    .fault_iova = vfio_fault_iova,
};
