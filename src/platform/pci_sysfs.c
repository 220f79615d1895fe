/* SPDX-License-Identifier: MIT */
/*
 * PCI addresses and discovery through sysfs (the lower layer: nothing here
 * knows of VFIO or UIO, see pci_dev.h).
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
#include <sys/stat.h>
#include <unistd.h>

#include <usnet/log.h>

#include "pci_dev.h"

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
