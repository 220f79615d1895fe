/* SPDX-License-Identifier: MIT */
/*
 * Guest side of tests/vm/platform.sh: exercises src/platform/ on real
 * (emulated) devices and prints one "VMTEST PASS|FAIL|SKIP name[: reason]"
 * line per check.
 *
 *   pci_probe --tag T --expect vfio|uio ADDR       one device, every check
 *   pci_probe --tag T --shared ADDR ADDR...        VFIO: one container, one
 *                                                  pool mapped for all
 *   pci_probe --port-error SPEC                    print why usnet_port_open(SPEC)
 *                                                  fails (exit 1), or "opened" (0)
 *   pci_probe --bench-map MIB                      time DMA alloc+map of MIB MiB
 *                                                  (USNET_DMA_PAGES=4k for 4 KiB)
 *
 * Exit status: 0 if no check failed.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <linux/vfio.h>
#include <usnet/log.h>
#include <usnet/port.h>

#include "../../src/platform/pci_backend.h"

static const char *tag = "pci";
static int failures;

static void result(bool ok, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void result(bool ok, const char *name, const char *fmt, ...)
{
	char why[512] = "";
	va_list ap;

	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(why, sizeof(why), fmt, ap);
		va_end(ap);
	}
	if (ok) {
		printf("VMTEST PASS %s-%s%s%s\n", tag, name, *why ? " " : "", why);
	} else {
		printf("VMTEST FAIL %s-%s: %s\n", tag, name, why);
		failures++;
	}
	fflush(stdout);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The memory BARs sysfs reports, to compare with what was mapped. */
static unsigned sysfs_bars(const char *bdf, size_t size[USNET_PCI_NBARS])
{
	char path[256], line[128];
	unsigned n = 0;
	FILE *f;

	memset(size, 0, USNET_PCI_NBARS * sizeof(size[0]));
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/resource", bdf);
	f = fopen(path, "r");
	if (!f)
		return 0;
	for (unsigned bar = 0; bar < USNET_PCI_NBARS && fgets(line, sizeof(line), f); bar++) {
		unsigned long long s, e, fl;

		if (sscanf(line, "%llx %llx %llx", &s, &e, &fl) == 3 && (fl & 0x200) && e > s) {
			size[bar] = (size_t)(e - s + 1);
			n++;
		}
	}
	fclose(f);
	return n;
}

/* e1000/e1000e (8254x SDM 13.4.17-21, 82574 datasheet 10.2.4): make the
 * device raise Link Status Change through ICS and wait for the vector. */
#define E1000_ICR	0x00c0
#define E1000_ICS	0x00c8
#define E1000_IMS	0x00d0
#define E1000_IMC	0x00d8
#define E1000_IVAR	0x00e4
#define E1000_ICR_LSC	(1u << 2)
#define E1000_ICR_OTHER (1u << 24) /* 82574 10.2.4.1: MSI-X "other" summary */

static bool is_e1000(const struct usnet_pci_info *in)
{
	return in->vendor == 0x8086 && (in->device == 0x100e || in->device == 0x10d3);
}

static void check_irq(struct usnet_pci_dev *dev)
{
	const struct usnet_pci_info *in = usnet_pci_dev_info(dev);
	static const char *const names[] = {"none", "INTx", "MSI", "MSI-X"};
	volatile void *bar0 = usnet_pci_bar(dev, 0, NULL);
	int efds[USNET_PCI_MAX_IRQS];
	struct pollfd pfd = {.events = POLLIN};
	uint32_t cause;
	int n, got;

	n = usnet_pci_irq_enable(dev, 4, efds);
	if (n < 0) {
		result(false, "irq-enable", "%s", usnet_last_error());
		return;
	}
	result(n >= 1, "irq-enable", "(%d %s vector%s)", n, names[usnet_pci_irq_mode(dev)],
	       n > 1 ? "s" : "");
	if (usnet_pci_backend(dev) == USNET_PCI_VFIO) {
		/* Expected on QEMU: virtio-net and e1000e have MSI-X; the
		 * 82540EM has neither MSI nor MSI-X, so INTx. */
		enum usnet_pci_irq_mode want =
		    in->device == 0x100e ? USNET_PCI_IRQ_INTX : USNET_PCI_IRQ_MSIX;

		result(usnet_pci_irq_mode(dev) == want, "irq-mode", "got %s, expected %s",
		       names[usnet_pci_irq_mode(dev)], names[want]);
	}

	if (is_e1000(in) && bar0) {
		usnet_pci_set_bus_master(dev, true); /* MSI/MSI-X are memory writes */
		usnet_reg_write32(bar0, E1000_IMC, ~0u);
		(void)usnet_reg_read32(bar0, E1000_ICR); /* read to clear */
		while (usnet_pci_irq_ack(dev, 0) > 0)
			;
		usnet_pci_irq_unmask(dev);
		cause = E1000_ICR_LSC;
		if (usnet_pci_irq_mode(dev) == USNET_PCI_IRQ_MSIX) {
			/* 82574 10.2.4.9: "other" causes (LSC) to vector 0, valid;
			 * in MSI-X mode they signal through the Other cause bit. */
			usnet_reg_write32(bar0, E1000_IVAR, 1u << 19);
			cause |= E1000_ICR_OTHER;
		}
		usnet_reg_write32(bar0, E1000_IMS, cause);
		usnet_reg_write32(bar0, E1000_ICS, cause);
		pfd.fd = efds[0];
		got = poll(&pfd, 1, 2000);
		n = got > 0 ? usnet_pci_irq_ack(dev, 0) : 0;
		result(got > 0 && n >= 1, "irq-delivered",
		       got > 0 ? "(%d interrupt(s) on vector 0)" : "no interrupt within 2 s (%d)",
		       got > 0 ? n : got);
		usnet_reg_write32(bar0, E1000_IMC, ~0u);
		(void)usnet_reg_read32(bar0, E1000_ICR);
		usnet_pci_irq_unmask(dev);
		usnet_pci_set_bus_master(dev, false);
	} else if (usnet_pci_backend(dev) == USNET_PCI_VFIO) {
		/* No device-side trigger without a driver: let VFIO signal the
		 * eventfd (VFIO_IRQ_SET_DATA_NONE|ACTION_TRIGGER, vfio.h). */
		struct vfio_irq_set set = {
		    .argsz = sizeof(set),
		    .flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
		    .index = usnet_pci_irq_mode(dev) == USNET_PCI_IRQ_MSIX ? VFIO_PCI_MSIX_IRQ_INDEX
			     : usnet_pci_irq_mode(dev) == USNET_PCI_IRQ_MSI
				 ? VFIO_PCI_MSI_IRQ_INDEX
				 : VFIO_PCI_INTX_IRQ_INDEX,
		    .start = 0,
		    .count = 1,
		};

		if (ioctl(usnet_vfio_device_fd(dev), VFIO_DEVICE_SET_IRQS, &set)) {
			result(false, "irq-delivered", "VFIO loopback trigger: %m");
		} else {
			pfd.fd = efds[0];
			got = poll(&pfd, 1, 2000);
			result(got > 0 && usnet_pci_irq_ack(dev, 0) >= 1, "irq-delivered",
			       "(VFIO loopback trigger)");
		}
	}
	usnet_pci_irq_disable(dev);
	result(usnet_pci_irq_mode(dev) == USNET_PCI_IRQ_NONE, "irq-disable", NULL);
}

static void check_dma(struct usnet_pci_dev *dev)
{
	bool vfio = usnet_pci_backend(dev) == USNET_PCI_VFIO;
	struct usnet_pool_conf pc = {.count = 512, .name = "probe"};
	struct usnet_pool *pool;
	struct usnet_dma d1, d2;
	int err;

	err = usnet_pci_dma_alloc(dev, 64 << 10, &d1);
	if (err) {
		result(false, "dma-alloc", "%s", usnet_last_error());
		return;
	}
	err = usnet_pci_dma_alloc(dev, 4096, &d2);
	if (err) {
		result(false, "dma-alloc", "second: %s", usnet_last_error());
		usnet_pci_dma_free(dev, &d1);
		return;
	}
	memset(d1.va, 0xa5, d1.len);
	result(d1.iova && d2.iova && d1.iova != d2.iova && d1.len >= (64 << 10) &&
		   (!vfio || (d1.iova >= (1ull << 30) && d1.iova % (2u << 20) == 0 &&
			      d2.iova >= d1.iova + d1.len)),
	       "dma-alloc", "(iova 0x%llx and 0x%llx, %zu KiB pages)", (unsigned long long)d1.iova,
	       (unsigned long long)d2.iova, d1.page_size >> 10);
	if (vfio) {
		uint64_t bad;

		setenv("USNET_FAULT_BAD_IOVA", "1", 1);
		bad = usnet_pci_fault_iova(dev);
		unsetenv("USNET_FAULT_BAD_IOVA");
		result(bad && usnet_pci_fault_iova(dev) == 0 &&
			   (bad >= d2.iova + d2.len || bad + 4096 <= d1.iova),
		       "fault-iova", "(0x%llx)", (unsigned long long)bad);
	}
	usnet_pci_dma_free(dev, &d2);
	usnet_pci_dma_free(dev, &d1);

	if (usnet_pool_create(&pool, &pc)) {
		result(false, "dma-pool", "pool: %s", usnet_last_error());
		return;
	}
	err = usnet_pci_dma_map_pool(dev, pool);
	if (err) {
		result(false, "dma-pool", "%s", usnet_last_error());
	} else {
		struct usnet_pkt *p[2];
		void *base;
		size_t len;

		usnet_pool_region(pool, &base, &len);
		p[0] = usnet_pkt_alloc(pool);
		p[1] = usnet_pkt_alloc(pool);
		/* VFIO: one mapping, so IOVA differences equal VA differences. */
		result(p[0] && p[1] && p[0]->iova && p[1]->iova &&
			   (!vfio || (int64_t)(p[1]->iova - p[0]->iova) ==
					 (int64_t)((uint8_t *)p[1] - (uint8_t *)p[0])),
		       "dma-pool", "(%zu KiB region, first buffer at 0x%llx)", len >> 10,
		       p[0] ? (unsigned long long)p[0]->iova : 0ull);
		usnet_pkt_free(p[0]);
		usnet_pkt_free(p[1]);
		usnet_pci_dma_unmap_pool(dev, pool);
	}
	usnet_pool_destroy(pool);

	/* A driver-sized pool spans several hugepages, and 2112-byte buffers
	 * straddle their boundaries: fine with an IOMMU; without one only if
	 * the hugepages happen to be physically adjacent. */
	pc.count = 4096;
	if (usnet_pool_create(&pool, &pc)) {
		result(false, "dma-pool-4096", "pool: %s", usnet_last_error());
		return;
	}
	err = usnet_pci_dma_map_pool(dev, pool);
	if (!err)
		result(true, "dma-pool-4096", NULL);
	else if (vfio)
		result(false, "dma-pool-4096", "%s", usnet_last_error());
	else
		printf("VMTEST SKIP %s-dma-pool-4096: %s\n", tag, usnet_last_error());
	usnet_pci_dma_unmap_pool(dev, pool);
	usnet_pool_destroy(pool);
}

static int probe_one(const char *arg, const char *expect)
{
	struct usnet_pci_dev *dev;
	struct usnet_pci_addr a;
	size_t size[USNET_PCI_NBARS];
	uint16_t vendor, device, cmd;
	bool all = true;
	unsigned nmem, mapped = 0;
	int err;

	if (usnet_pci_addr_parse(arg, &a)) {
		result(false, "open", "%s", usnet_last_error());
		return 1;
	}
	err = usnet_pci_open(&dev, &a);
	if (err) {
		result(false, "open", "%s", usnet_last_error());
		return 1;
	}
	result(usnet_pci_backend(dev) == (strcmp(expect, "uio") ? USNET_PCI_VFIO : USNET_PCI_UIO),
	       "open", "(%s)", usnet_pci_backend(dev) == USNET_PCI_VFIO ? "vfio" : "uio");

	/* Config space through the backend vs the identity sysfs reported. */
	err = usnet_pci_cfg_read(dev, 0, &vendor, 2) || usnet_pci_cfg_read(dev, 2, &device, 2);
	result(!err && vendor == usnet_pci_dev_info(dev)->vendor &&
		   device == usnet_pci_dev_info(dev)->device,
	       "config", "(%04x:%04x, sysfs %04x:%04x)", vendor, device,
	       usnet_pci_dev_info(dev)->vendor, usnet_pci_dev_info(dev)->device);

	usnet_pci_set_bus_master(dev, true);
	usnet_pci_cfg_read(dev, 4, &cmd, 2);
	err = !(cmd & PCI_CMD_MASTER);
	usnet_pci_set_bus_master(dev, false);
	usnet_pci_cfg_read(dev, 4, &cmd, 2);
	result(!err && !(cmd & PCI_CMD_MASTER), "bus-master", NULL);

	nmem = sysfs_bars(dev->name, size);
	for (unsigned bar = 0; bar < USNET_PCI_NBARS; bar++) {
		size_t len = 0;
		volatile void *va = usnet_pci_bar(dev, bar, &len);

		if (!size[bar])
			continue;
		if (!va || len != size[bar])
			all = false;
		else
			mapped++;
	}
	result(nmem && all, "bars", "(%u memory BARs mapped)", mapped);
	if (is_e1000(usnet_pci_dev_info(dev)) && usnet_pci_bar(dev, 0, NULL)) {
		/* STATUS (0x0008) never reads all ones on a live device. */
		uint32_t st = usnet_reg_read32(usnet_pci_bar(dev, 0, NULL), 0x0008);

		result(st != 0xffffffff, "mmio", "(STATUS 0x%08x)", st);
	}

	check_dma(dev);
	check_irq(dev);
	usnet_pci_close(dev);

	/* Opens again after close (reset, fds and mappings released). */
	err = usnet_pci_open(&dev, &a);
	result(!err, "reopen", "%s", err ? usnet_last_error() : "");
	if (!err)
		usnet_pci_close(dev);
	return failures != 0;
}

/* All devices in one container: a pool mapped for each has one IOVA. */
static int probe_shared(int n, char **addrs)
{
	struct usnet_pci_dev *dev[8];
	struct usnet_pool_conf pc = {.count = 256, .name = "shared"};
	struct usnet_pool *pool = NULL;
	struct usnet_pkt *p = NULL;
	uint64_t first = 0;
	bool same = true;
	int opened = 0;

	for (; opened < n && opened < 8; opened++) {
		struct usnet_pci_addr a;

		if (usnet_pci_addr_parse(addrs[opened], &a) || usnet_pci_open(&dev[opened], &a)) {
			result(false, "shared-open", "%s: %s", addrs[opened], usnet_last_error());
			goto out;
		}
	}
	result(true, "shared-open", "(%d devices)", opened);
	if (usnet_pool_create(&pool, &pc)) {
		result(false, "shared-pool", "%s", usnet_last_error());
		goto out;
	}
	p = usnet_pkt_alloc(pool);
	for (int i = 0; i < opened; i++) {
		if (usnet_pci_dma_map_pool(dev[i], pool)) {
			result(false, "shared-pool", "%s", usnet_last_error());
			goto out;
		}
		if (i == 0)
			first = p->iova;
		same &= p->iova == first;
	}
	result(same && first, "shared-pool", "(buffer at IOVA 0x%llx for all)",
	       (unsigned long long)first);
out:
	/* Close in opening order: the pool stays mapped until the last. */
	for (int i = 0; i < opened; i++)
		usnet_pci_close(dev[i]);
	if (p)
		usnet_pkt_free(p);
	usnet_pool_destroy(pool);
	return failures != 0;
}

static int bench_map(unsigned mib)
{
	struct usnet_pci_dev *dev;
	struct usnet_pci_addr a;
	struct usnet_dma d[64];
	const char *addr = getenv("PCI_PROBE_ADDR");
	unsigned n = mib / 2 < 64 ? mib / 2 : 64;
	double t0, t1, t2;
	size_t page;

	if (!addr || usnet_pci_addr_parse(addr, &a) || usnet_pci_open(&dev, &a)) {
		fprintf(stderr, "bench: set PCI_PROBE_ADDR to a vfio-pci device: %s\n",
			usnet_last_error());
		return 1;
	}
	t0 = now_s();
	for (unsigned i = 0; i < n; i++)
		if (usnet_pci_dma_alloc(dev, 2u << 20, &d[i])) {
			fprintf(stderr, "bench: %s\n", usnet_last_error());
			n = i;
			break;
		}
	t1 = now_s();
	page = n ? d[0].page_size : 0;
	for (unsigned i = 0; i < n; i++)
		usnet_pci_dma_free(dev, &d[i]);
	t2 = now_s();
	printf("bench-map: %u x 2 MiB on %zu KiB pages: alloc+map %.1f ms, unmap+free %.1f ms\n", n,
	       page >> 10, (t1 - t0) * 1e3, (t2 - t1) * 1e3);
	usnet_pci_close(dev);
	return 0;
}

int main(int argc, char **argv)
{
	const char *expect = "vfio";
	int i = 1;

	usnet_log_set_level(USNET_LOG_INFO);
	for (; i < argc && !strncmp(argv[i], "--", 2); i++) {
		if (!strcmp(argv[i], "--tag") && i + 1 < argc) {
			tag = argv[++i];
		} else if (!strcmp(argv[i], "--expect") && i + 1 < argc) {
			expect = argv[++i];
		} else if (!strcmp(argv[i], "--shared")) {
			return probe_shared(argc - i - 1, argv + i + 1);
		} else if (!strcmp(argv[i], "--bench-map") && i + 1 < argc) {
			return bench_map((unsigned)atoi(argv[i + 1]));
		} else if (!strcmp(argv[i], "--port-error") && i + 1 < argc) {
			/* The caller matches the message; exit 1 if the open failed. */
			struct usnet_port *port;
			int err = usnet_port_open(&port, argv[i + 1], NULL);

			if (!err)
				usnet_port_close(port);
			printf("%s\n", err ? usnet_last_error() : "opened");
			return err ? 1 : 0;
		} else {
			fprintf(stderr, "pci_probe: bad option %s\n", argv[i]);
			return 2;
		}
	}
	if (i != argc - 1) {
		fprintf(stderr, "usage: pci_probe [--tag T] [--expect vfio|uio] ADDR\n");
		return 2;
	}
	return probe_one(argv[i], expect);
}
