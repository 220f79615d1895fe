/* SPDX-License-Identifier: MIT */
/*
 * usnetctl — which PCI network devices there are, and handing them between
 * the kernel's drivers and usnet (vfio-pci or uio_pci_generic).
 *
 * Binding follows the sysfs-bus-pci ABI, as dpdk-devbind does: write the
 * new driver's name to the device's driver_override, unbind it from its
 * current driver, ask the PCI core to probe it again (drivers_probe), then
 * clear driver_override. The driver it had is recorded in
 * /run/usnet/pci-ADDR.driver, so that `usnetctl unbind` can give it back.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <ifaddrs.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <usnet/log.h>

#include "../src/platform/pci.h"
#include "../src/drivers/registry.h"
#include "common.h"
#include "usnetctl_usnetd.h"

#define BIND_WAIT_MS 3000

static const char *sysfs = "/sys";
static const char *run_dir = "/run/usnet";

static const char usage_text[] =
    "usage: usnetctl [OPTIONS] status [--json]\n"
    "       usnetctl [OPTIONS] bind ADDR [vfio-pci|uio_pci_generic] [--force]\n"
    "       usnetctl [OPTIONS] unbind ADDR\n"
    "       usnetctl [OPTIONS] clients|uplinks|stats [--json] [--all] [--socket PATH]\n"
    "\n"
    "PCI network devices and the drivers they are bound to.\n"
    "\n"
    "  status          list every network-class PCI device: address, vendor:device,\n"
    "                  the usnet driver that supports it, the kernel driver bound\n"
    "                  to it, its IOMMU group, and its kernel interface (up or\n"
    "                  down, with its addresses)\n"
    "  bind ADDR [DRV] bind ADDR (0000:00:03.0) to vfio-pci (default; needs an\n"
    "                  IOMMU) or uio_pci_generic (no IOMMU, no DMA protection),\n"
    "                  loading the module if needed; the driver it had is recorded\n"
    "                  under the run directory for unbind\n"
    "  unbind ADDR     give ADDR back to the kernel driver it had before bind\n"
    "  clients         usnetd's client interfaces: id, state, pid, uid, gid, MAC,\n"
    "                  queues, peer name, time up or why the last connection ended\n"
    "  uplinks         usnetd's uplink ports: spec, MAC, link, counters\n"
    "  stats           usnetd itself, then rx/tx/drop counters per uplink and client\n"
    "                  (TX-DROPS: its rings were full; SRC-DROPS: wrong source MAC;\n"
    "                  INVALID: disconnected for invalid descriptors or messages)\n"
    "\n"
    "options:\n"
    "  --json          status, clients, uplinks, stats: one JSON object\n"
    "  --force         bind even if the device's interface is up with addresses\n"
    "                  (IPv6 link-local addresses do not count)\n"
    "  --sysfs DIR     sysfs root (default /sys; tests use a fake tree)\n"
    "  --run-dir DIR   where bind records original drivers (default /run/usnet)\n"
    "  --socket PATH   usnetd's control socket (default " USNETCTL_DFLT_CONTROL ")\n"
    "  --all           clients/stats: every served interface, not just active ones\n"
    "  -h, --help      this text\n"
    "\n"
    "exit status: 0 success, 1 failure, 2 usage error\n";

/* ---- small helpers -------------------------------------------------------- */

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};

	nanosleep(&ts, NULL);
}

static int write_file(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;
	size_t len = strlen(val);

	if (fd < 0) {
		tool_msg("cannot open %s: %s", path, strerror(errno));
		return -errno;
	}
	n = write(fd, val, len);
	if (n < 0 || (size_t)n != len) {
		int err = n < 0 ? errno : EIO;

		close(fd);
		tool_msg("writing '%s' to %s: %s", val, path, strerror(err));
		return -err;
	}
	close(fd);
	return 0;
}

static int dev_write(const char *bdf, const char *attr, const char *val)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/bus/pci/devices/%s/%s", sysfs, bdf, attr);
	return write_file(path, val);
}

static bool driver_loaded(const char *drv)
{
	char path[PATH_MAX];
	struct stat st;

	snprintf(path, sizeof(path), "%s/bus/pci/drivers/%s", sysfs, drv);
	return !stat(path, &st) && S_ISDIR(st.st_mode);
}

/* modprobe NAME unless the PCI driver is there already. */
static int load_driver(const char *drv)
{
	int status;
	pid_t pid;

	if (driver_loaded(drv))
		return 0;
	pid = fork();
	if (pid < 0) {
		tool_msg("fork: %s", strerror(errno));
		return -errno;
	}
	if (pid == 0) {
		execlp("modprobe", "modprobe", drv, (char *)NULL);
		fprintf(stderr, "%s: cannot run modprobe: %s\n", tool_name, strerror(errno));
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0)
		return -errno;
	/* The driver directory appears when the module has registered. */
	for (unsigned ms = 0; ms < BIND_WAIT_MS && !driver_loaded(drv); ms += 50)
		sleep_ms(50);
	if (!driver_loaded(drv)) {
		tool_msg("the %s driver is not available (modprobe %s %s): is the module "
			 "installed?",
			 drv, drv,
			 WIFEXITED(status) ? (WEXITSTATUS(status) ? "failed" : "succeeded")
					   : "was killed");
		return -ENOENT;
	}
	return 0;
}

static int get_info(const char *arg, struct usnet_pci_addr *addr, struct usnet_pci_info *info,
		    char *bdf)
{
	if (usnet_pci_addr_parse(arg, addr))
		tool_usage_error("%s", usnet_last_error());
	usnet_pci_addr_format(addr, bdf, 16);
	if (usnet_pci_info_get(sysfs, addr, info)) {
		tool_msg("%s", usnet_last_error());
		return TOOL_EXIT_FAIL;
	}
	return 0;
}

/* ---- interfaces ----------------------------------------------------------- */

struct ifstate {
	bool exists, up;
	unsigned naddr;	 /* addresses that count (not IPv6 link-local) */
	char addrs[256]; /* all of them, ", "-separated */
};

static unsigned prefix_len(const struct sockaddr *mask)
{
	const uint8_t *b;
	size_t n;
	unsigned bits = 0;

	if (!mask)
		return 0;
	if (mask->sa_family == AF_INET) {
		b = (const uint8_t *)&((const struct sockaddr_in *)(const void *)mask)->sin_addr;
		n = 4;
	} else {
		b = (const uint8_t *)&((const struct sockaddr_in6 *)(const void *)mask)->sin6_addr;
		n = 16;
	}
	for (size_t i = 0; i < n; i++)
		bits += (unsigned)__builtin_popcount(b[i]);
	return bits;
}

static void if_state(const char *ifname, struct ifstate *st)
{
	struct ifaddrs *ifa, *a;
	size_t used = 0;

	memset(st, 0, sizeof(*st));
	if (!*ifname || getifaddrs(&ifa))
		return;
	for (a = ifa; a; a = a->ifa_next) {
		char buf[INET6_ADDRSTRLEN];
		const void *src;
		bool linklocal = false;
		int n;

		if (!a->ifa_name || strcmp(a->ifa_name, ifname))
			continue;
		st->exists = true;
		st->up |= !!(a->ifa_flags & IFF_UP);
		if (!a->ifa_addr)
			continue;
		if (a->ifa_addr->sa_family == AF_INET) {
			src = &((struct sockaddr_in *)(void *)a->ifa_addr)->sin_addr;
		} else if (a->ifa_addr->sa_family == AF_INET6) {
			const struct in6_addr *in6 =
			    &((struct sockaddr_in6 *)(void *)a->ifa_addr)->sin6_addr;

			src = in6;
			linklocal = IN6_IS_ADDR_LINKLOCAL(in6);
		} else {
			continue;
		}
		if (!inet_ntop(a->ifa_addr->sa_family, src, buf, sizeof(buf)))
			continue;
		if (!linklocal)
			st->naddr++;
		n = snprintf(st->addrs + used, sizeof(st->addrs) - used, "%s%s/%u",
			     used ? ", " : "", buf, prefix_len(a->ifa_netmask));
		if (n > 0 && (size_t)n < sizeof(st->addrs) - used)
			used += (size_t)n;
	}
	freeifaddrs(ifa);
}

/* ---- status --------------------------------------------------------------- */

struct status_ctx {
	bool json;
	unsigned count;
	struct tool_json j;
};

static int status_one(void *arg, const struct usnet_pci_info *info)
{
	struct status_ctx *c = arg;
	const char *model = NULL;
	struct ifstate ifs;
	char bdf[16], id[16], group[16];

	if (!usnet_pci_is_network(info->class_code))
		return 0;
	c->count++;
	usnet_pci_addr_format(&info->addr, bdf, sizeof(bdf));
	usnet_pci_find_driver(info->vendor, info->device, &model);
	if_state(info->ifname, &ifs);
	if (c->json) {
		char cls[16];

		snprintf(cls, sizeof(cls), "0x%06x", info->class_code);
		snprintf(id, sizeof(id), "%04x", info->vendor);
		tool_json_open(&c->j, NULL, '{');
		tool_json_str(&c->j, "address", bdf);
		tool_json_str(&c->j, "vendor", id);
		snprintf(id, sizeof(id), "%04x", info->device);
		tool_json_str(&c->j, "device", id);
		tool_json_str(&c->j, "class", cls);
		if (model)
			tool_json_str(&c->j, "usnet_driver", model);
		else
			tool_json_null(&c->j, "usnet_driver");
		if (info->driver[0])
			tool_json_str(&c->j, "kernel_driver", info->driver);
		else
			tool_json_null(&c->j, "kernel_driver");
		if (info->iommu_group >= 0)
			tool_json_u64(&c->j, "iommu_group", (uint64_t)info->iommu_group);
		else
			tool_json_null(&c->j, "iommu_group");
		if (info->ifname[0])
			tool_json_str(&c->j, "interface", info->ifname);
		else
			tool_json_null(&c->j, "interface");
		tool_json_bool(&c->j, "up", ifs.up);
		tool_json_open(&c->j, "addresses", '[');
		for (char *s = ifs.addrs, *tok; (tok = strtok_r(s, ", ", &s));)
			tool_json_str(&c->j, NULL, tok);
		tool_json_close(&c->j, ']');
		tool_json_close(&c->j, '}');
		return 0;
	}
	if (c->count == 1)
		printf("%-13s %-10s %-11s %-16s %-6s %s\n", "ADDRESS", "ID", "USNET", "DRIVER",
		       "IOMMU", "INTERFACE");
	snprintf(id, sizeof(id), "%04x:%04x", info->vendor, info->device);
	if (info->iommu_group >= 0)
		snprintf(group, sizeof(group), "%d", info->iommu_group);
	else
		snprintf(group, sizeof(group), "-");
	printf("%-13s %-10s %-11s %-16s %-6s ", bdf, id, model ? model : "-",
	       info->driver[0] ? info->driver : "-", group);
	if (!info->ifname[0])
		printf("-\n");
	else if (!ifs.exists)
		printf("%s\n", info->ifname);
	else
		printf("%s (%s%s%s)\n", info->ifname, ifs.up ? "up" : "down",
		       ifs.addrs[0] ? ": " : "", ifs.addrs);
	return 0;
}

static int cmd_status(bool json)
{
	struct status_ctx c = {.json = json};
	int err;

	if (json) {
		tool_json_begin(&c.j, stdout);
		tool_json_open(&c.j, "devices", '[');
	}
	err = usnet_pci_scan(sysfs, status_one, &c);
	if (err) {
		if (json)
			printf("\n");
		tool_msg("%s", usnet_last_error());
		return TOOL_EXIT_FAIL;
	}
	if (json) {
		tool_json_close(&c.j, ']');
		tool_json_end(&c.j);
	} else if (!c.count) {
		printf("no PCI network devices\n");
	}
	return fflush(stdout) ? TOOL_EXIT_FAIL : TOOL_EXIT_OK;
}

/* ---- bind / unbind -------------------------------------------------------- */

static void state_path(char *buf, size_t len, const char *bdf)
{
	snprintf(buf, len, "%s/pci-%s.driver", run_dir, bdf);
}

/* The recorded original driver: 1 found (orig may be ""), 0 none, <0 error. */
static int state_read(const char *bdf, char *orig, size_t len)
{
	char path[PATH_MAX];
	FILE *f;

	state_path(path, sizeof(path), bdf);
	f = fopen(path, "re");
	if (!f)
		return errno == ENOENT ? 0 : -errno;
	if (!fgets(orig, (int)len, f))
		orig[0] = '\0';
	fclose(f);
	orig[strcspn(orig, "\n")] = '\0';
	return 1;
}

static int state_write(const char *bdf, const char *orig)
{
	char path[PATH_MAX], tmp[PATH_MAX + 8];
	FILE *f;

	if (mkdir(run_dir, 0755) && errno != EEXIST) {
		tool_msg("cannot create %s: %s", run_dir, strerror(errno));
		return -errno;
	}
	state_path(path, sizeof(path), bdf);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "we");
	if (!f) {
		tool_msg("cannot write %s: %s", tmp, strerror(errno));
		return -errno;
	}
	fprintf(f, "%s\n", orig);
	if (fclose(f) || rename(tmp, path)) {
		tool_msg("cannot write %s: %s", path, strerror(errno));
		unlink(tmp);
		return -errno;
	}
	return 0;
}

/* Wait until the device's driver is `want` ("" = any driver at all). */
static bool wait_bound(const struct usnet_pci_addr *addr, const char *want,
		       struct usnet_pci_info *info)
{
	for (unsigned ms = 0;; ms += 50) {
		if (!usnet_pci_info_get(sysfs, addr, info) &&
		    (*want ? !strcmp(info->driver, want) : info->driver[0] != '\0'))
			return true;
		if (ms >= BIND_WAIT_MS)
			return false;
		sleep_ms(50);
	}
}

/*
 * Move the device to driver `to` ("" = let the kernel choose by id):
 * driver_override, unbind, drivers_probe, clear driver_override
 * (Documentation/ABI/testing/sysfs-bus-pci, driver_override).
 */
static int move_device(const struct usnet_pci_addr *addr, const char *bdf, const char *from,
		       const char *to, struct usnet_pci_info *now)
{
	char path[PATH_MAX];
	bool ok;

	if (dev_write(bdf, "driver_override", *to ? to : "\n"))
		return -1;
	if (*from && dev_write(bdf, "driver/unbind", bdf))
		goto err_override;
	snprintf(path, sizeof(path), "%s/bus/pci/drivers_probe", sysfs);
	/* A probe that finds no driver fails the write; wait_bound() judges. */
	write_file(path, bdf);
	ok = wait_bound(addr, to, now);
	dev_write(bdf, "driver_override", "\n");
	if (!ok && *to) {
		tool_msg("%s did not bind to %s (bound to %s); see dmesg", bdf, to,
			 now->driver[0] ? now->driver : "nothing");
		return -1;
	}
	return 0;

err_override:
	dev_write(bdf, "driver_override", "\n");
	return -1;
}

static bool is_usnet_driver(const char *drv)
{
	return !strcmp(drv, "vfio-pci") || !strcmp(drv, "uio_pci_generic");
}

static int cmd_bind(const char *arg, const char *to, bool force)
{
	struct usnet_pci_info info, now;
	struct usnet_pci_addr addr;
	struct ifstate ifs;
	char bdf[16], orig[64];
	int rc, have;

	if (strcmp(to, "vfio-pci") && strcmp(to, "uio_pci_generic"))
		tool_usage_error("unknown driver '%s': expected vfio-pci or uio_pci_generic", to);
	rc = get_info(arg, &addr, &info, bdf);
	if (rc)
		return rc;
	if (!usnet_pci_is_network(info.class_code)) {
		tool_msg("%s is not a network device (class 0x%06x: %s); refusing to bind it", bdf,
			 info.class_code, usnet_pci_class_name(info.class_code));
		return TOOL_EXIT_FAIL;
	}
	if (!strcmp(info.driver, to)) {
		printf("%s is already bound to %s\n", bdf, to);
		return TOOL_EXIT_OK;
	}
	if_state(info.ifname, &ifs);
	if (ifs.up && ifs.naddr && !force) {
		tool_msg("%s is interface %s, which is up with addresses %s: it may be in use "
			 "(your connection to this machine?). Take it down first (ip link set %s "
			 "down) or use --force",
			 bdf, info.ifname, ifs.addrs, info.ifname);
		return TOOL_EXIT_FAIL;
	}
	if (!strcmp(to, "vfio-pci") && info.iommu_group < 0) {
		tool_msg("%s has no IOMMU group: vfio-pci needs an IOMMU (intel_iommu=on or "
			 "amd_iommu=on on the kernel command line); without one, bind to "
			 "uio_pci_generic (no DMA protection)",
			 bdf);
		return TOOL_EXIT_FAIL;
	}
	if (load_driver(to))
		return TOOL_EXIT_FAIL;
	/* Record the driver before the first bind only: bind vfio-pci, then
	 * uio_pci_generic, then unbind gives the kernel driver back. A device
	 * found on a usnet driver with no record goes back to the kernel's
	 * choice. */
	have = state_read(bdf, orig, sizeof(orig));
	if (have < 0) {
		tool_msg("cannot read the state of %s under %s: %s", bdf, run_dir, strerror(-have));
		return TOOL_EXIT_FAIL;
	}
	if (!have && state_write(bdf, is_usnet_driver(info.driver) ? "" : info.driver))
		return TOOL_EXIT_FAIL;
	if (move_device(&addr, bdf, info.driver, to, &now)) {
		/* Best effort: do not leave the device without a driver. */
		if (info.driver[0] && !move_device(&addr, bdf, "", info.driver, &now))
			tool_msg("%s is back on %s", bdf, info.driver);
		return TOOL_EXIT_FAIL;
	}
	printf("%s: bound to %s (was %s", bdf, to, info.driver[0] ? info.driver : "unbound");
	if (info.ifname[0])
		printf(", interface %s", info.ifname);
	printf(")");
	if (!strcmp(to, "vfio-pci")) {
		char dev[32];
		struct stat st;
		unsigned ms;

		snprintf(dev, sizeof(dev), "/dev/vfio/%d", now.iommu_group);
		for (ms = 0; ms < BIND_WAIT_MS && stat(dev, &st); ms += 50)
			sleep_ms(50);
		printf("; IOMMU group %d: %s%s", now.iommu_group, dev,
		       ms >= BIND_WAIT_MS ? " (missing!)" : "");
	}
	printf("\n");
	return TOOL_EXIT_OK;
}

static int cmd_unbind(const char *arg)
{
	struct usnet_pci_info info, now;
	struct usnet_pci_addr addr;
	char bdf[16], orig[64], path[PATH_MAX];
	int rc, have;

	rc = get_info(arg, &addr, &info, bdf);
	if (rc)
		return rc;
	have = state_read(bdf, orig, sizeof(orig));
	if (have < 0) {
		tool_msg("cannot read the state of %s under %s: %s", bdf, run_dir, strerror(-have));
		return TOOL_EXIT_FAIL;
	}
	state_path(path, sizeof(path), bdf);
	if (!is_usnet_driver(info.driver)) {
		/* Not ours (any more): nothing to give back. */
		if (have)
			unlink(path);
		printf("%s is not bound to vfio-pci or uio_pci_generic (driver: %s); nothing to "
		       "do\n",
		       bdf, info.driver[0] ? info.driver : "none");
		return TOOL_EXIT_OK;
	}
	if (!have) {
		tool_msg("no record of the driver %s had before usnetctl bind (%s); letting the "
			 "kernel choose",
			 bdf, path);
		orig[0] = '\0';
	}
	if (*orig && load_driver(orig))
		return TOOL_EXIT_FAIL;
	if (move_device(&addr, bdf, info.driver, orig, &now))
		return TOOL_EXIT_FAIL;
	if (have)
		unlink(path);
	if (!now.driver[0] && !*orig) {
		printf("%s: unbound from %s; no kernel driver claimed it\n", bdf, info.driver);
		return TOOL_EXIT_OK;
	}
	/* The netdev is registered by the driver's probe, give it a moment. */
	for (unsigned ms = 0; ms < BIND_WAIT_MS && !now.ifname[0]; ms += 50) {
		sleep_ms(50);
		if (usnet_pci_info_get(sysfs, &addr, &now))
			break;
	}
	printf("%s: bound to %s again", bdf, now.driver);
	if (now.ifname[0])
		printf(" (interface %s)", now.ifname);
	printf("\n");
	return TOOL_EXIT_OK;
}

/* ---- main ----------------------------------------------------------------- */

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"help", no_argument, NULL, 'h'},	       {"json", no_argument, NULL, 'j'},
	    {"force", no_argument, NULL, 'f'},	       {"sysfs", required_argument, NULL, 's'},
	    {"run-dir", required_argument, NULL, 'r'}, {"socket", required_argument, NULL, 'S'},
	    {"all", no_argument, NULL, 'a'},	       {NULL, 0, NULL, 0},
	};
	const char *ctl_sock = USNETCTL_DFLT_CONTROL;
	bool json = false, force = false, all = false, sock_set = false;
	const char *cmd;
	int c, nargs;

	tool_init("usnetctl");
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			fputs(usage_text, stdout);
			return TOOL_EXIT_OK;
		case 'j':
			json = true;
			break;
		case 'f':
			force = true;
			break;
		case 's':
			sysfs = optarg;
			break;
		case 'r':
			run_dir = optarg;
			break;
		case 'S':
			ctl_sock = optarg;
			sock_set = true;
			break;
		case 'a':
			all = true;
			break;
		default:
			tool_bad_option(c, argv, opts);
		}
	}
	if (optind >= argc)
		tool_usage_error("no command given: status, bind, unbind, clients, uplinks or "
				 "stats (see --help)");
	cmd = argv[optind++];
	nargs = argc - optind;
	if (!strcmp(cmd, "clients") || !strcmp(cmd, "uplinks") || !strcmp(cmd, "stats")) {
		if (nargs)
			tool_usage_error("%s takes no arguments (got '%s')", cmd, argv[optind]);
		if (force)
			tool_usage_error("--force is for bind");
		if (all && !strcmp(cmd, "uplinks"))
			tool_usage_error("--all is for clients and stats");
		return usnetctl_usnetd(cmd, ctl_sock, json, all);
	}
	/* The rest works on sysfs, not usnetd: an option for usnetd here is a
	 * mistake to point out, not to ignore. */
	if (sock_set)
		tool_usage_error(
		    "--socket is for clients, uplinks and stats (%s does not ask usnetd)", cmd);
	if (all)
		tool_usage_error("--all is for clients and stats");
	if (!strcmp(cmd, "status")) {
		if (nargs)
			tool_usage_error("status takes no arguments (got '%s')", argv[optind]);
		if (force)
			tool_usage_error("--force is for bind");
		return cmd_status(json);
	}
	if (json)
		tool_usage_error("--json is for status, clients, uplinks and stats");
	if (!strcmp(cmd, "bind")) {
		if (nargs < 1 || nargs > 2)
			tool_usage_error("usage: usnetctl bind ADDR [vfio-pci|uio_pci_generic] "
					 "[--force]");
		return cmd_bind(argv[optind], nargs == 2 ? argv[optind + 1] : "vfio-pci", force);
	}
	if (!strcmp(cmd, "unbind")) {
		if (nargs != 1)
			tool_usage_error("usage: usnetctl unbind ADDR");
		if (force)
			tool_usage_error("--force is for bind");
		return cmd_unbind(argv[optind]);
	}
	tool_usage_error("unknown command '%s': status, bind, unbind, clients, uplinks or stats "
			 "(see --help)",
			 cmd);
}
