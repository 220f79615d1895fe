/* SPDX-License-Identifier: MIT */
/*
 * PCI platform without hardware: address parsing and formatting, sysfs
 * discovery against a fake sysfs tree built here, the pci: port kind's
 * refusals (each message names the problem and the fix), and the UIO
 * backend against a fake device (resource0/config/uio0 are plain files).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <usnet/log.h>
#include <usnet/port.h>

#include "../../src/platform/pci_dev.h"
#include "../../src/drivers/registry.h"
#include "check.h"

static char root[256];

static void quiet_log(void *ctx, enum usnet_log_level level, const char *msg)
{
	(void)ctx;
	(void)level;
	(void)msg;
}

static void mkpath(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void mkpath(const char *fmt, ...)
{
	char path[512], *p;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(path, sizeof(path), fmt, ap);
	va_end(ap);
	for (p = path + 1; *p; p++) {
		if (*p == '/') {
			*p = '\0';
			mkdir(path, 0755);
			*p = '/';
		}
	}
	mkdir(path, 0755);
}

static void put(const char *bdf, const char *attr, const char *val)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/bus/pci/devices/%s/%s", root, bdf, attr);
	f = fopen(path, "w");
	if (!f) {
		perror(path);
		exit(1);
	}
	fputs(val, f);
	fclose(f);
}

static void link_to(const char *bdf, const char *attr, const char *target)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/bus/pci/devices/%s/%s", root, bdf, attr);
	if (symlink(target, path)) {
		perror(path);
		exit(1);
	}
}

static void write_file(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (fd < 0 || write(fd, buf, len) != (ssize_t)len) {
		perror(path);
		exit(1);
	}
	close(fd);
}

/* A device as the kernel shows it; driver/group NULL for none. */
static void fake_dev(const char *bdf, const char *vendor, const char *device, const char *cls,
		     const char *driver, int group)
{
	char target[256];

	mkpath("%s/bus/pci/devices/%s", root, bdf);
	put(bdf, "vendor", vendor);
	put(bdf, "device", device);
	put(bdf, "class", cls);
	if (driver) {
		snprintf(target, sizeof(target), "../../../bus/pci/drivers/%s", driver);
		link_to(bdf, "driver", target);
	}
	if (group >= 0) {
		snprintf(target, sizeof(target), "../../../kernel/iommu_groups/%d", group);
		link_to(bdf, "iommu_group", target);
	}
}

static void build_tree(void)
{
	snprintf(root, sizeof(root), "%s/usnet-test-pci.XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(root)) {
		perror("mkdtemp");
		exit(1);
	}
	fake_dev("0000:00:00.0", "0x8086\n", "0x29c0\n", "0x060000\n", NULL, 0);
	/* virtio: the netdev hangs below the virtio device */
	fake_dev("0000:00:03.0", "0x1af4\n", "0x1041\n", "0x020000\n", "virtio-pci", 3);
	mkpath("%s/bus/pci/devices/0000:00:03.0/virtio0/net/eth0", root);
	fake_dev("0000:00:04.0", "0x8086\n", "0x100e\n", "0x020000\n", "e1000", 4);
	mkpath("%s/bus/pci/devices/0000:00:04.0/net/eth1", root);
	fake_dev("0000:00:05.0", "0x8086\n", "0x10d3\n", "0x020000\n", NULL, -1);
	fake_dev("0000:00:06.0", "garbage\n", "0x10d3\n", "0x020000\n", NULL, -1);
	fake_dev("0000:00:07.0", "0x8086\n", "0x1234\n", "0x020000\n", "igb", 7);
	fake_dev("0000:00:08.0", "0x8086\n", "0x100e\n", "0x020000\n", "vfio-pci", -1);
	fake_dev("0000:00:09.0", "0x8086\n", "0x100e\n", "0x020000\n", "vfio-pci", 424242);
	fake_dev("0000:00:0a.0", "0x8086\n", "0x100e\n", "0x020000\n", "uio_pci_generic", -1);
	/* uio_pci_generic behind a translating IOMMU domain (intel_iommu=on
	 * without iommu=pt): UIO's physical addresses would not get through. */
	fake_dev("0000:00:0e.0", "0x8086\n", "0x100e\n", "0x020000\n", "uio_pci_generic", 15);
	mkpath("%s/kernel/iommu_groups/15", root);
	{
		char type[300];

		snprintf(type, sizeof(type), "%s/kernel/iommu_groups/15/type", root);
		write_file(type, "DMA-FQ\n", 7);
	}
	fake_dev("0000:00:0b.0", "0x1af4\n", "0x1000\n", "0x020000\n", NULL, 11);
	fake_dev("0001:02:1f.7", "0x8086\n", "0x10d3\n", "0x020000\n", NULL, 12);
	mkpath("%s/bus/pci/devices/not-an-address", root); /* scan skips it */
}

static void rm_tree(void)
{
	char cmd[320];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	if (system(cmd))
		fprintf(stderr, "could not remove %s\n", root);
}

static void test_addr(void)
{
	static const char *const bad[] = {
	    "",
	    "0000:00:03",
	    "0000:00:03.",
	    "000:00:03.0",
	    "00000:00:03.0",
	    "0000-00:03.0",
	    "0000:00-03.0",
	    "0000:00:03-0",
	    "0000:00:03.0 ",
	    " 0000:00:03.0",
	    "0000:00:3.0",
	    "0000:0:03.0",
	    "0000:0g:03.0",
	    "0000:00:03.0.0",
	    "+000:00:03.0",
	    "0x00:03.0",
	    "00:03",
	    "eth0",
	    "0000:00:03.00",
	    "0000::00:03.0",
	    "0000:00:03.0\n",
	    "00:03.0\t",
	    ":00:03.0",
	    "-1:00:03.0",
	    "00:0 3.0",
	};
	struct usnet_pci_addr a;
	char buf[16];

	CHECK_EQ(usnet_pci_addr_parse("0000:00:03.0", &a), 0);
	CHECK(a.domain == 0 && a.bus == 0 && a.dev == 3 && a.fn == 0);
	CHECK_EQ(usnet_pci_addr_parse("00:1f.7", &a), 0);
	CHECK(a.domain == 0 && a.bus == 0 && a.dev == 0x1f && a.fn == 7);
	CHECK_EQ(usnet_pci_addr_parse("FFFF:Ab:1F.7", &a), 0);
	CHECK(a.domain == 0xffff && a.bus == 0xab && a.dev == 0x1f && a.fn == 7);
	usnet_pci_addr_format(&a, buf, sizeof(buf));
	CHECK(!strcmp(buf, "ffff:ab:1f.7"));
	a = (struct usnet_pci_addr){.domain = 1, .bus = 2, .dev = 3, .fn = 4};
	usnet_pci_addr_format(&a, buf, sizeof(buf));
	CHECK(!strcmp(buf, "0001:02:03.4"));
	/* format -> parse round trip */
	for (unsigned d = 0; d < 32; d += 7) {
		struct usnet_pci_addr in = {.domain = 0xbeef,
					    .bus = 0x42,
					    .dev = (uint8_t)d,
					    .fn = (uint8_t)(d % 8)},
				      out;

		usnet_pci_addr_format(&in, buf, sizeof(buf));
		CHECK_EQ(usnet_pci_addr_parse(buf, &out), 0);
		CHECK(in.domain == out.domain && in.bus == out.bus && in.dev == out.dev &&
		      in.fn == out.fn);
	}

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		a = (struct usnet_pci_addr){.domain = 7, .bus = 7, .dev = 7, .fn = 7};
		usnet_clear_error();
		CHECK_EQ(usnet_pci_addr_parse(bad[i], &a), -EINVAL);
		CHECK(a.domain == 7 && a.bus == 7 && a.dev == 7 && a.fn == 7); /* untouched */
		CHECK(strlen(usnet_last_error()) > 10);
		if (bad[i][0] && !strstr(usnet_last_error(), "0000:00:03.0"))
			fprintf(stderr, "no example address in: %s\n", usnet_last_error());
	}
	CHECK_EQ(usnet_pci_addr_parse(NULL, &a), -EINVAL);
	CHECK(strstr(usnet_last_error(), "empty PCI address") != NULL);
	CHECK_EQ(usnet_pci_addr_parse("0000:00:20.0", &a), -EINVAL);
	CHECK(strstr(usnet_last_error(), "device 20 is out of range") != NULL);
	CHECK_EQ(usnet_pci_addr_parse("00:03.8", &a), -EINVAL);
	CHECK(strstr(usnet_last_error(), "function 8 is out of range") != NULL);
	CHECK_EQ(usnet_pci_addr_parse("0000:00:0x.0", &a), -EINVAL);
	CHECK(strstr(usnet_last_error(), "is not a PCI address") != NULL);
}

static void test_info(void)
{
	struct usnet_pci_info info;
	struct usnet_pci_addr a;

	usnet_pci_addr_parse("0000:00:03.0", &a);
	CHECK_EQ(usnet_pci_info_get(root, &a, &info), 0);
	CHECK_EQ(info.vendor, 0x1af4);
	CHECK_EQ(info.device, 0x1041);
	CHECK_EQ(info.class_code, 0x020000);
	CHECK(usnet_pci_is_network(info.class_code));
	CHECK(!strcmp(info.driver, "virtio-pci"));
	CHECK_EQ(info.iommu_group, 3);
	CHECK(!strcmp(info.ifname, "eth0"));
	CHECK(info.addr.domain == a.domain && info.addr.bus == a.bus && info.addr.dev == a.dev &&
	      info.addr.fn == a.fn);

	usnet_pci_addr_parse("00:04.0", &a);
	CHECK_EQ(usnet_pci_info_get(root, &a, &info), 0);
	CHECK(!strcmp(info.driver, "e1000") && info.iommu_group == 4);
	CHECK(!strcmp(info.ifname, "eth1"));

	usnet_pci_addr_parse("00:05.0", &a);
	CHECK_EQ(usnet_pci_info_get(root, &a, &info), 0);
	CHECK(info.driver[0] == '\0' && info.iommu_group == -1 && info.ifname[0] == '\0');

	usnet_pci_addr_parse("00:00.0", &a);
	CHECK_EQ(usnet_pci_info_get(root, &a, &info), 0);
	CHECK_EQ(info.class_code, 0x060000);
	CHECK(!usnet_pci_is_network(info.class_code));
	CHECK(!strcmp(usnet_pci_class_name(info.class_code), "bridge"));

	usnet_pci_addr_parse("0001:02:1f.7", &a);
	CHECK_EQ(usnet_pci_info_get(root, &a, &info), 0);
	CHECK_EQ(info.iommu_group, 12);

	usnet_pci_addr_parse("00:06.0", &a); /* vendor file is garbage */
	CHECK_EQ(usnet_pci_info_get(root, &a, &info), -EIO);
	CHECK(strstr(usnet_last_error(), "'garbage' is not a 4-digit hex number") != NULL);

	usnet_pci_addr_parse("00:1e.0", &a);
	CHECK_EQ(usnet_pci_info_get(root, &a, &info), -ENODEV);
	CHECK(strstr(usnet_last_error(), "no PCI device 0000:00:1e.0") != NULL);
	CHECK_EQ(usnet_pci_info_get("/nonexistent-sysfs", &a, &info), -ENODEV);
}

struct scan_ctx {
	unsigned n, stop_at;
	char seen[16][16];
};

static int scan_cb(void *arg, const struct usnet_pci_info *info)
{
	struct scan_ctx *c = arg;

	if (c->n < 16)
		usnet_pci_addr_format(&info->addr, c->seen[c->n], sizeof(c->seen[0]));
	c->n++;
	return c->stop_at && c->n == c->stop_at ? 42 : 0;
}

static void test_scan(void)
{
	struct scan_ctx c = {0};

	/* 13 devices, one unreadable (00:06.0), one bad name: 11 reported, sorted. */
	CHECK_EQ(usnet_pci_scan(root, scan_cb, &c), 0);
	CHECK_EQ(c.n, 11);
	CHECK(!strcmp(c.seen[0], "0000:00:00.0"));
	CHECK(!strcmp(c.seen[1], "0000:00:03.0"));
	CHECK(!strcmp(c.seen[4], "0000:00:07.0")); /* 06.0 skipped */
	CHECK(!strcmp(c.seen[9], "0000:00:0e.0"));
	CHECK(!strcmp(c.seen[10], "0001:02:1f.7"));

	memset(&c, 0, sizeof(c));
	c.stop_at = 2;
	CHECK_EQ(usnet_pci_scan(root, scan_cb, &c), 42);
	CHECK_EQ(c.n, 2);

	CHECK(usnet_pci_scan("/nonexistent-sysfs", scan_cb, &c) < 0);
	CHECK(strstr(usnet_last_error(), "is sysfs mounted?") != NULL);
}

/* usnet_port_open("pci:...") fails with err and a message containing want. */
static void port_refuses(const char *spec, int err, const char *want)
{
	struct usnet_port *port = NULL;
	int got = usnet_port_open(&port, spec, NULL);

	CHECK_EQ(got, -err);
	CHECK(port == NULL);
	if (!strstr(usnet_last_error(), want)) {
		check_failed++;
		fprintf(stderr, "%s: error '%s' lacks '%s'\n", spec, usnet_last_error(), want);
	} else {
		check_passed++;
	}
	printf("  %-22s -> %s\n", spec, usnet_last_error());
}

static void test_port_kind(void)
{
	char list[160];
	const char *model;

	CHECK(usnet_pci_find_driver(0x8086, 0x10d3, &model) != NULL);
	CHECK(!strcmp(model, "e1000e"));
	CHECK(usnet_pci_find_driver(0x1af4, 0x1041, &model) != NULL);
	CHECK(!strcmp(model, "virtio-net"));
	CHECK(usnet_pci_find_driver(0x8086, 0x1234, &model) == NULL && model == NULL);
	usnet_pci_supported_list(list, sizeof(list));
	CHECK(!strcmp(list, "virtio-net 1af4:1041, e1000 8086:100e, e1000e 8086:10d3"));

	setenv("USNET_SYSFS_ROOT", root, 1);
	CHECK(!strcmp(usnet_pci_sysfs_root(), root));
	printf("pci: port errors against the fake sysfs:\n");
	port_refuses("pci:0000:00:1e.0", ENODEV, "no PCI device 0000:00:1e.0");
	port_refuses("pci:0000:00:00.0", ENODEV,
		     "0000:00:00.0 is not a network device (class 0x060000: bridge)");
	port_refuses("pci:0000:00:07.0", ENOTSUP,
		     "8086:1234 at 0000:00:07.0 is not supported (supported: virtio-net "
		     "1af4:1041, e1000 8086:100e, e1000e 8086:10d3)");
	port_refuses("pci:0000:00:0b.0", ENOTSUP, "disable-legacy=on");
	port_refuses("pci:00:04.0", EBUSY,
		     "0000:00:04.0 is bound to e1000; run: usnetctl bind 0000:00:04.0");
	port_refuses("pci:0000:00:05.0", ENODEV,
		     "0000:00:05.0 is not bound to any driver; run: usnetctl bind 0000:00:05.0");
	port_refuses("pci:0000:00:08.0", ENODEV, "0000:00:08.0 has no IOMMU group");
	/* A group that cannot exist: no /dev/vfio/vfio here, or no /dev/vfio/424242. */
	port_refuses("pci:0000:00:09.0", ENODEV, "/dev/vfio/");
	port_refuses("pci:0000:00:0a.0", ENODEV, "is uio_pci_generic really bound?");
	port_refuses("pci:0000:00:06.0", EIO, "not a 4-digit hex number");
	port_refuses("pci:eth0", EINVAL, "'eth0' is not a PCI address");
	port_refuses("pci:0000:00:03.0,bogus=1", EBUSY, "bound to virtio-pci");
	port_refuses("pci:0000:00:0e.0", EPERM, "IOMMU group 15 translates DMA (type DMA-FQ)");
	port_refuses("pci:0000:00:0e.0", EPERM,
		     "use vfio-pci (usnetctl bind 0000:00:0e.0) or boot with iommu=pt");
	unsetenv("USNET_SYSFS_ROOT");
	CHECK(!strcmp(usnet_pci_sysfs_root(), "/sys"));
}

/* ---- what this machine allows, found independently of the code under test */

/* Does /proc/self/pagemap show page frame numbers (CAP_SYS_ADMIN)? */
static bool pfns_visible(void)
{
	static volatile uint8_t page[4096] __attribute__((aligned(4096)));
	uint64_t e = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY);

	page[0] = 1;
	if (fd < 0)
		return false;
	if (pread(fd, &e, 8, (off_t)((uintptr_t)page / 4096 * 8)) != 8)
		e = 0;
	close(fd);
	return (e & ((1ull << 55) - 1)) != 0;
}

/* May locked 4 KiB pages be moved by compaction (the file's default 1)? */
static bool compaction_moves_locked(void)
{
	FILE *f = fopen("/proc/sys/vm/compact_unevictable_allowed", "r");
	int v = 0;

	if (!f)
		return false;
	if (fscanf(f, "%d", &v) != 1)
		v = 1;
	fclose(f);
	return v != 0;
}

static bool hugepage_free(void)
{
	void *p = mmap(NULL, 2u << 20, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);

	if (p == MAP_FAILED)
		return false;
	munmap(p, 2u << 20);
	return true;
}

/* As root without a free hugepage, reserve one for the test and give it
 * back after (restore_hugepages). */
static long hugepages_before = -1;
static const char nr_huge[] = "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages";

static bool get_hugepage(void)
{
	FILE *f;
	long n;

	if (hugepage_free())
		return true;
	f = fopen(nr_huge, "r");
	if (!f)
		return false;
	if (fscanf(f, "%ld", &n) != 1)
		n = -1;
	fclose(f);
	f = n >= 0 ? fopen(nr_huge, "w") : NULL;
	if (!f)
		return false;
	fprintf(f, "%ld\n", n + 1);
	if (fclose(f) == 0)
		hugepages_before = n;
	return hugepage_free();
}

static void restore_hugepages(void)
{
	FILE *f;

	if (hugepages_before < 0)
		return;
	f = fopen(nr_huge, "w");
	if (f) {
		fprintf(f, "%ld\n", hugepages_before);
		fclose(f);
	}
	hugepages_before = -1;
}

static bool pool_contiguous(struct usnet_pool *pool, bool *ok)
{
	/* Would every buffer's data room be physically contiguous? */
	struct usnet_pkt *pkts[1000];
	uint32_t n = usnet_pool_alloc_bulk(pool, pkts, 1000);
	int fd = open("/proc/self/pagemap", O_RDONLY);
	bool contig = true;

	*ok = fd >= 0;
	for (uint32_t i = 0; fd >= 0 && i < n; i++) {
		uintptr_t b = (uintptr_t)pkts[i]->data, v;
		uint64_t e0, e;

		if (pread(fd, &e0, 8, (off_t)(b / 4096 * 8)) != 8)
			*ok = false;
		for (v = (b | 4095) + 1; v < b + pkts[i]->room; v += 4096) {
			if (pread(fd, &e, 8, (off_t)(v / 4096 * 8)) != 8)
				*ok = false;
			if ((e & ((1ull << 55) - 1)) !=
			    (e0 & ((1ull << 55) - 1)) + (v / 4096 - b / 4096))
				contig = false;
		}
	}
	if (fd >= 0)
		close(fd);
	usnet_pkt_free_bulk(pkts, n);
	return contig;
}

/*
 * DMA memory of the UIO backend, each case asserting the one outcome this
 * machine must give: hugepages (reserved for the test when root has none),
 * 4 KiB pages (USNET_DMA_PAGES=4k), and pools on 4 KiB pages.
 */
static void test_uio_dma(struct usnet_pci_dev *dev)
{
	bool cap = pfns_visible(), compact = compaction_moves_locked();
	struct usnet_dma dma;
	struct usnet_pool *pool;
	int err;

	printf("  uio dma: PFNs %s, compaction %s locked pages\n", cap ? "visible" : "hidden",
	       compact ? "moves" : "leaves");
	CHECK_EQ(usnet_pci_dma_alloc(dev, 4u << 20, &dma), -EINVAL); /* > one hugepage */
	CHECK(strstr(usnet_last_error(), "at most one 2 MiB hugepage") != NULL);

	/* A hugepage: physically contiguous by construction. */
	if (get_hugepage()) {
		CHECK_EQ(usnet_pci_dma_contig_max(dev), 2u << 20);
		err = usnet_pci_dma_alloc(dev, 4096, &dma);
		if (cap) {
			CHECK_EQ(err, 0);
			CHECK_EQ(dma.page_size, 2u << 20);
			CHECK_EQ(dma.len, 2u << 20);
			CHECK(dma.iova != 0 && dma.iova % (2u << 20) == 0);
			CHECK(dma.va && ((uint8_t *)dma.va)[100] == 0);
			usnet_pci_dma_free(dev, &dma);
			CHECK(dma.va == NULL);
		} else {
			CHECK_EQ(err, -EPERM);
			CHECK(strstr(usnet_last_error(), "CAP_SYS_ADMIN") != NULL);
		}
		restore_hugepages();
	} else {
		printf("  uio dma: no hugepage to be had (not root): hugepage case not run\n");
	}

	/* 4 KiB pages: refused while compaction may move them. */
	setenv("USNET_DMA_PAGES", "4k", 1);
	CHECK_EQ(usnet_pci_dma_contig_max(dev), 4096);
	err = usnet_pci_dma_alloc(dev, 4096, &dma);
	if (compact) {
		CHECK_EQ(err, -EPERM);
		CHECK(strstr(usnet_last_error(), "vm.compact_unevictable_allowed=0") != NULL);
	} else if (!cap) {
		CHECK_EQ(err, -EPERM);
		CHECK(strstr(usnet_last_error(), "CAP_SYS_ADMIN") != NULL);
	} else {
		CHECK_EQ(err, 0);
		CHECK_EQ(dma.page_size, 4096);
		CHECK_EQ(dma.len, 4096);
		CHECK(dma.iova != 0 && dma.iova % 4096 == 0);
		usnet_pci_dma_free(dev, &dma);
	}

	/* A page-local pool maps whenever 4 KiB DMA memory is allowed. */
	{
		struct usnet_pool_conf pc = {
		    .count = 1000, .name = "t", .flags = USNET_POOL_F_PAGE_LOCAL};
		bool ok;

		CHECK_EQ(usnet_pool_create(&pool, &pc), 0);
		err = usnet_pci_dma_map_pool(dev, pool);
		printf("  uio map_pool, page-local: %s\n", err ? usnet_last_error() : "mapped");
		if (compact) {
			CHECK_EQ(err, -EPERM);
			CHECK(strstr(usnet_last_error(), "compact_unevictable") != NULL);
		} else if (!cap) {
			CHECK_EQ(err, -EPERM);
			CHECK(strstr(usnet_last_error(), "CAP_SYS_ADMIN") != NULL);
		} else {
			struct usnet_pkt *pkt = usnet_pkt_alloc(pool);

			CHECK_EQ(err, 0);
			CHECK(pkt && pkt->iova != 0 && pkt->iova % 4096 == 64);
			usnet_pkt_free(pkt);
		}
		usnet_pci_dma_unmap_pool(dev, pool);
		usnet_pool_destroy(pool);

		/* A dense pool maps only if its straddling buffers happen to
		 * sit on adjacent pages: whatever pagemap says here. */
		pc.flags = 0;
		CHECK_EQ(usnet_pool_create(&pool, &pc), 0);
		err = usnet_pci_dma_map_pool(dev, pool);
		printf("  uio map_pool, dense: %s\n", err ? usnet_last_error() : "mapped");
		if (compact || !cap) {
			CHECK_EQ(err, -EPERM);
		} else if (pool_contiguous(pool, &ok)) {
			CHECK(ok);
			CHECK_EQ(err, 0);
		} else {
			CHECK(ok);
			CHECK_EQ(err, -EFAULT);
			CHECK(strstr(usnet_last_error(), "USNET_POOL_F_PAGE_LOCAL") != NULL);
		}
		usnet_pci_dma_unmap_pool(dev, pool);
		usnet_pool_destroy(pool);
	}
	unsetenv("USNET_DMA_PAGES");
}

/* The UIO backend on a fake device: sysfs files are plain files, and so is
 * "/dev/uio0" (USNET_DEV_ROOT). Only what does not need a kernel is tested
 * here; tests/vm/platform.sh runs the real thing. */
static void test_uio_fake(void)
{
	const char *bdf = "0000:00:0c.0";
	char path[512], devroot[300];
	uint8_t cfg[256] = {0}, reg[4];
	static uint8_t bar0[128 << 10];
	struct usnet_pci_addr a;
	struct usnet_pci_dev *dev;
	size_t len = 0;
	uint16_t v16;
	int efd = -1, err, fd;
	volatile void *bar;

	/* Behind an IOMMU in passthrough (iommu=pt): UIO may open it. */
	fake_dev(bdf, "0x8086\n", "0x100e\n", "0x020000\n", "uio_pci_generic", 14);
	mkpath("%s/kernel/iommu_groups/14", root);
	snprintf(path, sizeof(path), "%s/kernel/iommu_groups/14/type", root);
	write_file(path, "identity\n", 9);
	mkpath("%s/bus/pci/devices/%s/uio/uio0", root, bdf);
	put(bdf, "resource",
	    "0x00000000febc0000 0x00000000febdffff 0x0000000000040200\n"
	    "0x000000000000c000 0x000000000000c03f 0x0000000000040101\n"
	    "0x0000000000000000 0x0000000000000000 0x0000000000000000\n"
	    "0x0000000000000000 0x0000000000000000 0x0000000000000000\n"
	    "0x0000000000000000 0x0000000000000000 0x0000000000000000\n"
	    "0x0000000000000000 0x0000000000000000 0x0000000000000000\n"
	    "0x0000000000000000 0x0000000000000000 0x0000000000000000\n");
	snprintf(path, sizeof(path), "%s/bus/pci/devices/%s/resource0", root, bdf);
	write_file(path, bar0, sizeof(bar0));
	cfg[0] = 0x86, cfg[1] = 0x80, cfg[2] = 0x0e, cfg[3] = 0x10;
	cfg[4] = 0x03; /* I/O + memory space on, bus master off */
	cfg[0x3d] = 1; /* INTA# */
	snprintf(path, sizeof(path), "%s/bus/pci/devices/%s/config", root, bdf);
	write_file(path, cfg, sizeof(cfg));
	snprintf(devroot, sizeof(devroot), "%s/dev", root);
	mkpath("%s", devroot);
	snprintf(path, sizeof(path), "%s/uio0", devroot);
	write_file(path, "", 0);

	setenv("USNET_SYSFS_ROOT", root, 1);
	setenv("USNET_DEV_ROOT", devroot, 1);
	usnet_pci_addr_parse(bdf, &a);
	err = usnet_pci_open(&dev, &a);
	CHECK_EQ(err, 0);
	if (err) {
		fprintf(stderr, "uio open: %s\n", usnet_last_error());
		goto out;
	}
	CHECK(usnet_pci_backend(dev) == USNET_PCI_UIO);
	CHECK_EQ(usnet_pci_dev_info(dev)->device, 0x100e);
	bar = usnet_pci_bar(dev, 0, &len);
	CHECK(bar != NULL);
	CHECK_EQ(len, 128 << 10);
	CHECK(usnet_pci_bar(dev, 1, &len) == NULL); /* I/O ports are not mapped */
	CHECK(usnet_pci_bar(dev, 2, &len) == NULL);
	CHECK(usnet_pci_bar(dev, 6, &len) == NULL);
	if (bar)
		usnet_reg_write32(bar, 0x5400, 0x12345678); /* lands in resource0 */

	CHECK_EQ(usnet_pci_cfg_read(dev, 0, &v16, 2), 0);
	CHECK_EQ(v16, 0x8086);
	CHECK_EQ(usnet_pci_cfg_read(dev, 2, &v16, 2), 0);
	CHECK_EQ(v16, 0x100e);
	CHECK_EQ(usnet_pci_cfg_read(dev, 255, &v16, 2), -EINVAL);
	CHECK_EQ(usnet_pci_cfg_read(dev, 256, &v16, 1), -EINVAL);
	CHECK_EQ(usnet_pci_cfg_write(dev, 0x1000, &v16, 2), -EINVAL);
	CHECK_EQ(usnet_pci_set_bus_master(dev, true), 0);
	CHECK_EQ(usnet_pci_cfg_read(dev, 4, &v16, 2), 0);
	CHECK_EQ(v16, 0x0007);

	/* INTx only, enabled by clearing Interrupt Disable (Command bit 10). */
	v16 = 0x0407;
	CHECK_EQ(usnet_pci_cfg_write(dev, 4, &v16, 2), 0);
	CHECK_EQ(usnet_pci_irq_enable(dev, 4, &efd), 1);
	CHECK(efd >= 0);
	CHECK_EQ(usnet_pci_cfg_read(dev, 4, &v16, 2), 0);
	CHECK_EQ(v16, 0x0007);
	CHECK(usnet_pci_irq_mode(dev) == USNET_PCI_IRQ_INTX);
	CHECK_EQ(usnet_pci_irq_ack(dev, 1), -EINVAL);
	CHECK_EQ(usnet_pci_fault_iova(dev), 0); /* never without an IOMMU */

	test_uio_dma(dev);
	usnet_pci_close(dev); /* clears bus master, sets Interrupt Disable */

	snprintf(path, sizeof(path), "%s/bus/pci/devices/%s/config", root, bdf);
	fd = open(path, O_RDONLY);
	CHECK(fd >= 0 && pread(fd, &v16, 2, 4) == 2);
	CHECK_EQ(v16, 0x0403); /* Bus Master Enable off, INTx masked again */
	close(fd);
	snprintf(path, sizeof(path), "%s/bus/pci/devices/%s/resource0", root, bdf);
	fd = open(path, O_RDONLY);
	CHECK(fd >= 0 && pread(fd, reg, 4, 0x5400) == 4);
	CHECK(reg[0] == 0x78 && reg[1] == 0x56 && reg[2] == 0x34 && reg[3] == 0x12);
	close(fd);
out:
	unsetenv("USNET_SYSFS_ROOT");
	unsetenv("USNET_DEV_ROOT");
}

static void test_dma_pages(void)
{
	/* USNET_DMA_PAGES=4k: 4 KiB pages even where hugepages exist. */
	size_t len = 5000, page = 0;
	void *p;

	setenv("USNET_DMA_PAGES", "4k", 1);
	p = usnet_pci_mmap_dma(&len, true, false, false, &page);
	CHECK(p != NULL);
	CHECK_EQ(page, 4096);
	CHECK_EQ(len, 8192);
	CHECK(p && ((uint8_t *)p)[8191] == 0);
	if (p)
		CHECK_EQ(munmap(p, len), 0);
	unsetenv("USNET_DMA_PAGES");
	/* Huge-only: a hugepage exactly when this machine has a free one. */
	len = 100;
	if (get_hugepage()) {
		p = usnet_pci_mmap_dma(&len, true, true, false, &page);
		CHECK(p != NULL);
		CHECK_EQ(page, 2u << 20);
		CHECK_EQ(len, 2u << 20);
		if (p)
			munmap(p, len);
		restore_hugepages();
	}
	if (!hugepage_free()) {
		len = 100;
		p = usnet_pci_mmap_dma(&len, true, true, false, &page);
		CHECK(p == NULL);
		CHECK_EQ(len, 100); /* untouched on failure */
		if (p)
			munmap(p, len);
	}
}

int main(void)
{
	usnet_log_set_handler(quiet_log, NULL);
	build_tree();
	test_addr();
	test_info();
	test_scan();
	test_port_kind();
	test_uio_fake();
	test_dma_pages();
	rm_tree();
	return check_done("test_pci");
}
