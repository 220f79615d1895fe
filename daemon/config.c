/* SPDX-License-Identifier: MIT */
/*
 * usnetd configuration: defaults, the config file, command-line settings.
 *
 * The file is lines of `key = value`, `# comment` lines, and sections
 * `[uplink NAME]` and `[interface NAME]` whose keys apply to that uplink or
 * interface; keys before the first section are global. A '#' after a space
 * or tab starts a comment anywhere (so a value cannot contain " #"). docs/usnetd.md and
 * daemon/usnetd.conf.example list every key. The command line is applied
 * after the file and wins.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <usnet/log.h>
#include <usnet/proto.h>

#include "usnetd.h"

#define MAX_FILE (1u << 20)

void usnetd_conf_init(struct usnetd_conf *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->socket_path, sizeof(c->socket_path), "%s", USNETD_DFLT_SOCKET);
	c->socket_mode = 0660;
	c->socket_uid = (uid_t)-1;
	c->socket_gid = (gid_t)-1;
	c->core = -1;
	c->spin_us = 100;
	c->pool_size = 8192;
	c->queues = 4;
	c->mac_prefix[0] = 0x02; /* locally administered, unicast (IEEE 802 clause 8.2.2) */
	c->mac_prefix[1] = 0x75; /* 'u' */
	c->log_level = USNET_LOG_INFO;
}

/* ---- value parsers: 0 or -EINVAL with a reason ---- */

static int parse_bool(const char *key, const char *v, bool *out)
{
	if (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "on") || !strcmp(v, "1")) {
		*out = true;
		return 0;
	}
	if (!strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "off") || !strcmp(v, "0")) {
		*out = false;
		return 0;
	}
	return usnet_error(EINVAL, "%s: '%s' is not yes or no", key, v);
}

static int parse_u32(const char *key, const char *v, int base, uint32_t min, uint32_t max,
		     uint32_t *out)
{
	unsigned long long x;
	char *end;

	if (!*v || *v == '-' || *v == '+' || isspace((unsigned char)*v))
		return usnet_error(EINVAL, "%s: '%s' is not a number", key, v);
	errno = 0;
	x = strtoull(v, &end, base);
	if (errno || *end)
		return usnet_error(EINVAL, "%s: '%s' is not a number", key, v);
	if (x < min || x > max)
		return usnet_error(EINVAL, "%s: %s is not in %u..%u", key, v, min, max);
	*out = (uint32_t)x;
	return 0;
}

static int parse_path(const char *key, const char *v, char *dst)
{
	if (!*v || strlen(v) >= USNETD_PATH_SZ)
		return usnet_error(EINVAL, "%s: path is empty or longer than %d characters", key,
				   USNETD_PATH_SZ - 1);
	snprintf(dst, USNETD_PATH_SZ, "%s", v);
	return 0;
}

static int parse_name(const char *key, const char *v, char *dst)
{
	if (!*v || strlen(v) >= USNETD_NAME_SZ)
		return usnet_error(EINVAL, "%s: name is empty or longer than %d characters", key,
				   USNETD_NAME_SZ - 1);
	for (const char *p = v; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_' && *p != '.')
			return usnet_error(EINVAL, "%s: '%s': use letters, digits, - _ .", key, v);
	snprintf(dst, USNETD_NAME_SZ, "%s", v);
	return 0;
}

static int parse_user(const char *key, const char *v, uid_t *out)
{
	struct passwd pw, *res = NULL;
	char buf[1024];
	uint32_t n;

	if (isdigit((unsigned char)*v))
		return parse_u32(key, v, 10, 0, UINT32_MAX - 1, &n) ? -EINVAL : (*out = n, 0);
	if (getpwnam_r(v, &pw, buf, sizeof(buf), &res) || !res)
		return usnet_error(EINVAL, "%s: no user '%s'", key, v);
	*out = res->pw_uid;
	return 0;
}

static int parse_group(const char *key, const char *v, gid_t *out)
{
	struct group gr, *res = NULL;
	char buf[4096];
	uint32_t n;

	if (isdigit((unsigned char)*v))
		return parse_u32(key, v, 10, 0, UINT32_MAX - 1, &n) ? -EINVAL : (*out = n, 0);
	if (getgrnam_r(v, &gr, buf, sizeof(buf), &res) || !res)
		return usnet_error(EINVAL, "%s: no group '%s'", key, v);
	*out = res->gr_gid;
	return 0;
}

/* "a, b, c" of users (gids false) or groups into out[], replacing what was there. */
static int parse_id_list(const char *key, const char *v, bool gids, uint32_t *out, unsigned *n)
{
	char buf[512], *save = NULL, *tok;
	unsigned k = 0;

	if (strlen(v) >= sizeof(buf))
		return usnet_error(EINVAL, "%s: list too long", key);
	snprintf(buf, sizeof(buf), "%s", v);
	for (char *s = buf; (tok = strtok_r(s, ", \t", &save)); s = NULL) {
		int err;

		if (k == USNETD_MAX_ACL)
			return usnet_error(EINVAL, "%s: more than %d entries", key, USNETD_MAX_ACL);
		err =
		    gids ? parse_group(key, tok, (gid_t *)&out[k]) : parse_user(key, tok, &out[k]);
		if (err)
			return err;
		k++;
	}
	*n = k;
	return 0;
}

/* ---- sections ---- */

static struct usnetd_iface_conf *iface_find(struct usnetd_conf *c, uint32_t id)
{
	for (unsigned i = 0; i < c->nifaces; i++)
		if (c->iface[i].id_set && c->iface[i].id == id)
			return &c->iface[i];
	return NULL;
}

static struct usnetd_iface_conf *iface_new(struct usnetd_conf *c)
{
	struct usnetd_iface_conf *f;

	if (c->nifaces == USNETD_MAX_IFACES) {
		usnet_error(ENOSPC, "more than %d interfaces", USNETD_MAX_IFACES);
		return NULL;
	}
	f = &c->iface[c->nifaces++];
	memset(f, 0, sizeof(*f));
	return f;
}

static struct usnetd_uplink_conf *uplink_new(struct usnetd_conf *c)
{
	struct usnetd_uplink_conf *u;

	if (c->nuplinks == USNETD_MAX_UPLINKS) {
		usnet_error(ENOSPC, "more than %d uplinks", USNETD_MAX_UPLINKS);
		return NULL;
	}
	u = &c->uplink[c->nuplinks++];
	memset(u, 0, sizeof(*u));
	u->rx = true;
	u->promisc = true;
	u->rx_queues = 1;
	return u;
}

static int set_spec(struct usnetd_uplink_conf *u, const char *v)
{
	if (!*v)
		return usnet_error(EINVAL,
				   "uplink: empty spec: expected KIND:NAME, e.g. afpacket:eth0");
	if (strlen(v) >= USNETD_SPEC_SZ - 8)
		return usnet_error(EINVAL,
				   "uplink '%.40s...': a spec is at most %d characters, not %zu", v,
				   USNETD_SPEC_SZ - 9, strlen(v));
	snprintf(u->spec, sizeof(u->spec), "%s", v);
	return 0;
}

static int iface_set(struct usnetd_conf *c, struct usnetd_iface_conf *f, const char *key,
		     const char *v)
{
	uint32_t n;
	int err;

	if (!strcmp(key, "id")) {
		struct usnetd_iface_conf *other;

		if ((err = parse_u32(key, v, 0, 0, UINT32_MAX, &n)))
			return err;
		other = iface_find(c, n);
		if (other && other != f)
			return usnet_error(EEXIST, "id %u: configured twice", n);
		f->id = n;
		f->id_set = true;
		return 0;
	}
	if (!strcmp(key, "name")) {
		/* "[interface 5]" means id 5: a name of digits would print as an id. */
		if (*v && strspn(v, "0123456789") == strlen(v))
			return usnet_error(EINVAL, "name: '%s' is a number; use id = %s", v, v);
		return parse_name(key, v, f->name);
	}
	if (!strcmp(key, "mac")) {
		if (usnet_parse_mac(v, f->mac))
			return usnet_error(EINVAL, "mac: '%s' is not aa:bb:cc:dd:ee:ff", v);
		if (f->mac[0] & 1)
			return usnet_error(EINVAL, "mac: %s is a group (multicast) address", v);
		f->mac_set = true;
		return 0;
	}
	if (!strcmp(key, "uids") || !strcmp(key, "uid"))
		return parse_id_list(key, v, false, f->uids, &f->nuids);
	if (!strcmp(key, "gids") || !strcmp(key, "gid"))
		return parse_id_list(key, v, true, f->gids, &f->ngids);
	if (!strcmp(key, "secret")) {
		if (strlen(v) > MEMIF_SECRET_SZ)
			return usnet_error(EINVAL, "secret: longer than %d characters",
					   MEMIF_SECRET_SZ);
		snprintf(f->secret, sizeof(f->secret), "%s", v);
		return 0;
	}
	if (!strcmp(key, "allow_any_src_mac"))
		return parse_bool(key, v, &f->any_src_mac);
	if (!strcmp(key, "queues")) {
		if ((err = parse_u32(key, v, 10, 1, USNET_MEMIF_MAX_RINGS, &n)))
			return err;
		f->queues = (uint16_t)n;
		return 0;
	}
	if (!strcmp(key, "uplink"))
		return parse_name(key, v, f->uplink);
	return usnet_error(EINVAL, "unknown interface key '%s'", key);
}

static int uplink_set(struct usnetd_uplink_conf *u, const char *key, const char *v)
{
	uint32_t n;
	int err;

	if (!strcmp(key, "spec"))
		return set_spec(u, v);
	if (!strcmp(key, "rx"))
		return parse_bool(key, v, &u->rx);
	if (!strcmp(key, "promisc"))
		return parse_bool(key, v, &u->promisc);
	if (!strcmp(key, "rx_queues")) {
		if ((err = parse_u32(key, v, 10, 1, USNET_MAX_QUEUES, &n)))
			return err;
		u->rx_queues = (uint16_t)n;
		return 0;
	}
	return usnet_error(EINVAL, "unknown uplink key '%s'", key);
}

int usnetd_conf_uplink_arg(struct usnetd_conf *c, const char *spec, bool rx)
{
	struct usnetd_uplink_conf *u = uplink_new(c);
	int err;

	if (!u)
		return -ENOSPC;
	err = set_spec(u, spec);
	if (err) {
		c->nuplinks--;
		return err;
	}
	u->rx = rx;
	return 0;
}

int usnetd_conf_set(struct usnetd_conf *c, const char *key, const char *v)
{
	uint32_t n;
	int err;

	if (!strcmp(key, "socket"))
		return parse_path(key, v, c->socket_path);
	if (!strcmp(key, "control"))
		return parse_path(key, v, c->control_path);
	if (!strcmp(key, "socket_mode")) {
		if ((err = parse_u32(key, v, 8, 0, 0777, &n)))
			return err;
		c->socket_mode = (mode_t)n;
		return 0;
	}
	if (!strcmp(key, "socket_owner"))
		return parse_user(key, v, &c->socket_uid);
	if (!strcmp(key, "socket_group"))
		return parse_group(key, v, &c->socket_gid);
	if (!strcmp(key, "core")) {
		if (!strcmp(v, "none")) {
			c->core = -1;
			return 0;
		}
		if ((err = parse_u32(key, v, 10, 0, 4095, &n)))
			return err;
		c->core = (int)n;
		return 0;
	}
	if (!strcmp(key, "rt_priority")) {
		if ((err = parse_u32(key, v, 10, 0, 99, &n)))
			return err;
		c->rt_priority = (int)n;
		return 0;
	}
	if (!strcmp(key, "spin_us"))
		return parse_u32(key, v, 10, 0, 1000000, &c->spin_us);
	if (!strcmp(key, "pool_size"))
		return parse_u32(key, v, 10, 256, 1u << 20, &c->pool_size);
	if (!strcmp(key, "queues")) {
		if ((err = parse_u32(key, v, 10, 1, USNET_MEMIF_MAX_RINGS, &n)))
			return err;
		c->queues = (uint16_t)n;
		return 0;
	}
	if (!strcmp(key, "mac_prefix")) {
		unsigned a, b;
		char end;

		if (sscanf(v, "%2x:%2x%c", &a, &b, &end) != 2 || (a & 1))
			return usnet_error(EINVAL, "mac_prefix: '%s' is not XX:XX (unicast)", v);
		c->mac_prefix[0] = (uint8_t)a;
		c->mac_prefix[1] = (uint8_t)b;
		return 0;
	}
	if (!strcmp(key, "auto_ids")) {
		const char *dash = strchr(v, '-');
		char lo[16];

		c->auto_ids_set = true;
		if (!strcmp(v, "none")) {
			c->auto_ids = false;
			return 0;
		}
		if (!dash || (size_t)(dash - v) >= sizeof(lo))
			return usnet_error(EINVAL, "auto_ids: '%s' is not LO-HI or none", v);
		snprintf(lo, sizeof(lo), "%.*s", (int)(dash - v), v);
		if ((err = parse_u32(key, lo, 10, 0, UINT32_MAX, &c->auto_lo)) ||
		    (err = parse_u32(key, dash + 1, 10, c->auto_lo, UINT32_MAX, &c->auto_hi)))
			return err;
		if (c->auto_hi - c->auto_lo >= USNETD_MAX_IFACES)
			return usnet_error(EINVAL, "auto_ids: at most %d ids", USNETD_MAX_IFACES);
		c->auto_ids = true;
		return 0;
	}
	if (!strcmp(key, "log")) {
		if (!strcmp(v, "syslog"))
			c->use_syslog = true;
		else if (!strcmp(v, "stderr"))
			c->use_syslog = false;
		else
			return usnet_error(EINVAL, "log: '%s' is not stderr or syslog", v);
		return 0;
	}
	if (!strcmp(key, "log_level")) {
		static const char *const names[] = {"error", "warn", "info", "debug"};

		for (int i = 0; i < 4; i++)
			if (!strcmp(v, names[i])) {
				c->log_level = i;
				return 0;
			}
		return usnet_error(EINVAL, "log_level: '%s' is not error, warn, info or debug", v);
	}
	if (!strcmp(key, "uplink"))
		return usnetd_conf_uplink_arg(c, v, true);
	return usnet_error(EINVAL, "unknown key '%s'", key);
}

int usnetd_conf_iface_arg(struct usnetd_conf *c, const char *arg)
{
	char buf[512], *save = NULL, *tok, *comma;
	struct usnetd_iface_conf *f;
	uint32_t id;
	int err;

	if (strlen(arg) >= sizeof(buf))
		return usnet_error(EINVAL, "-i: too long");
	snprintf(buf, sizeof(buf), "%s", arg);
	comma = strchr(buf, ',');
	if (comma)
		*comma = '\0';
	if ((err = parse_u32("-i", buf, 10, 0, UINT32_MAX, &id)))
		return err;
	f = iface_find(c, id);
	if (f && f->from_cli)
		return usnet_error(EINVAL,
				   "-i %u is given twice: give each interface once, "
				   "with all its keys (-i %u,KEY=VALUE,...)",
				   id, id);
	if (!f) {
		f = iface_new(c);
		if (!f)
			return -ENOSPC;
		f->id = id;
		f->id_set = true;
	}
	f->from_cli = true;
	if (!comma)
		return 0;
	/* uids/gids lists use ':' between entries here, since ',' separates keys. */
	for (char *s = comma + 1; (tok = strtok_r(s, ",", &save)); s = NULL) {
		char *eq = strchr(tok, '=');

		if (!eq)
			return usnet_error(EINVAL, "-i %s: '%s' is not KEY=VALUE", arg, tok);
		*eq = '\0';
		for (char *p = eq + 1; *p; p++)
			if (*p == ':' && (!strcmp(tok, "uids") || !strcmp(tok, "gids")))
				*p = ',';
		if (!strcmp(tok, "id"))
			return usnet_error(EINVAL, "-i %s: the id comes first", arg);
		if ((err = iface_set(c, f, tok, eq + 1)))
			return err;
	}
	return 0;
}

/* ---- the file ---- */

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

int usnetd_conf_parse(struct usnetd_conf *c, const char *text, const char *origin)
{
	struct usnetd_iface_conf *f = NULL;
	struct usnetd_uplink_conf *u = NULL;
	char *copy = strdup(text), *save = NULL, *line;
	unsigned lineno = 0;
	int err = 0;

	if (!copy)
		return usnet_error(ENOMEM, "out of memory");
	/* strtok_r() would skip empty lines and so miscount; walk by hand. */
	for (line = copy; line && !err; line = save) {
		char *eq, *key, *val, *nl = strchr(line, '\n');

		save = nl ? nl + 1 : NULL;
		if (nl)
			*nl = '\0';
		lineno++;
		line = trim(line);
		if (!*line || *line == '#' || *line == ';')
			continue;
		/* A '#' after a space or tab starts a comment, also after a value. */
		for (char *h = strchr(line, '#'); h; h = strchr(h + 1, '#'))
			if (h[-1] == ' ' || h[-1] == '\t') {
				*h = '\0';
				line = trim(line);
				break;
			}
		if (*line == '[') {
			char *end = strchr(line, ']'), *kind, *name;

			if (!end || end[1]) {
				err = usnet_error(EINVAL, "section header needs a closing ]");
				break;
			}
			*end = '\0';
			kind = trim(line + 1);
			name = kind + strcspn(kind, " \t");
			if (*name)
				*name++ = '\0';
			name = trim(name);
			f = NULL;
			u = NULL;
			if (!strcmp(kind, "interface")) {
				f = iface_new(c);
				if (!f)
					err = -ENOSPC;
				else if (*name && strspn(name, "0123456789") == strlen(name))
					err = iface_set(c, f, "id", name); /* [interface 7] */
				else if (*name)
					err = parse_name("interface", name, f->name);
			} else if (!strcmp(kind, "uplink")) {
				u = uplink_new(c);
				if (!u)
					err = -ENOSPC;
				else if (*name)
					err = parse_name("uplink", name, u->name);
			} else {
				err = usnet_error(EINVAL, "unknown section [%s]", kind);
			}
			continue;
		}
		eq = strchr(line, '=');
		if (!eq) {
			err = usnet_error(EINVAL, "'%s' is not key = value", line);
			break;
		}
		*eq = '\0';
		key = trim(line);
		val = trim(eq + 1);
		/* "key =#x" would print back as "key = #x", a comment: refuse it. */
		if (*val == '#') {
			err = usnet_error(EINVAL, "%s: a value cannot start with '#'", key);
			break;
		}
		if (f)
			err = iface_set(c, f, key, val);
		else if (u)
			err = uplink_set(u, key, val);
		else
			err = usnetd_conf_set(c, key, val);
	}
	if (err) {
		char why[256];

		snprintf(why, sizeof(why), "%s", usnet_last_error());
		err = usnet_error(-err, "%s:%u: %s", origin, lineno, why);
	}
	free(copy);
	return err;
}

int usnetd_conf_load(struct usnetd_conf *c, const char *path)
{
	FILE *fp = fopen(path, "re");
	char *text;
	size_t n;
	int err;

	if (!fp)
		return usnet_error(errno, "cannot open %s: %s", path, strerror(errno));
	text = malloc(MAX_FILE + 1);
	if (!text) {
		fclose(fp);
		return usnet_error(ENOMEM, "out of memory");
	}
	errno = 0;
	n = fread(text, 1, MAX_FILE + 1, fp);
	/* fread() keeps read(2)'s errno: EISDIR for a directory. */
	err = ferror(fp) ? usnet_error(errno ? errno : EIO, "cannot read %s: %s", path,
				       strerror(errno ? errno : EIO))
			 : 0;
	fclose(fp);
	if (!err && n > MAX_FILE)
		err = usnet_error(EFBIG, "%s is larger than %u bytes", path, MAX_FILE);
	if (!err) {
		text[n] = '\0';
		if (strlen(text) != n)
			err = usnet_error(EINVAL, "%s contains a NUL byte", path);
	}
	if (!err)
		err = usnetd_conf_parse(c, text, path);
	free(text);
	return err;
}

/* ---- consistency ---- */

int usnetd_conf_finish(struct usnetd_conf *c)
{
	unsigned n_cfg = c->nifaces;

	if (!c->control_path[0]) {
		size_t len = strlen(c->socket_path);
		const char *suffix = ".sock";
		size_t sl = strlen(suffix);

		if (len > sl && !strcmp(c->socket_path + len - sl, suffix))
			len -= sl;
		if (len + 4 >= sizeof(c->control_path))
			return usnet_error(EINVAL,
					   "socket path too long to derive the control path");
		snprintf(c->control_path, sizeof(c->control_path), "%.*s.ctl", (int)len,
			 c->socket_path);
	}
	if (!strcmp(c->control_path, c->socket_path))
		return usnet_error(EINVAL, "the control socket cannot be the memif socket");
	for (unsigned i = 0; i < c->nuplinks; i++) {
		struct usnetd_uplink_conf *u = &c->uplink[i];

		if (!u->spec[0])
			return usnet_error(EINVAL, "uplink %u (%s) has no spec", i, u->name);
		if (!u->name[0])
			snprintf(u->name, sizeof(u->name), "u%u", i);
		if (!strcmp(u->name, "none"))
			return usnet_error(EINVAL, "an uplink cannot be called 'none'");
		for (unsigned j = 0; j < i; j++)
			if (!strcmp(c->uplink[j].name, u->name))
				return usnet_error(EINVAL, "two uplinks named '%s'", u->name);
	}
	for (unsigned i = 0; i < n_cfg; i++)
		if (!c->iface[i].id_set)
			return usnet_error(EINVAL, "interface '%s' has no id", c->iface[i].name);
	/* Nothing configured: serve a few ids to anyone who may open the socket. */
	if (!c->auto_ids_set && n_cfg == 0) {
		c->auto_ids = true;
		c->auto_lo = 0;
		c->auto_hi = 15;
	}
	if (c->auto_ids) {
		for (uint64_t id = c->auto_lo; id <= c->auto_hi; id++) {
			struct usnetd_iface_conf *f;

			if (iface_find(c, (uint32_t)id))
				continue;
			f = iface_new(c);
			if (!f)
				return -ENOSPC;
			f->id = (uint32_t)id;
			f->id_set = true;
			f->auto_made = true;
		}
	}
	for (unsigned i = 0; i < c->nifaces; i++) {
		struct usnetd_iface_conf *f = &c->iface[i];
		bool found = false;

		if (!f->name[0])
			snprintf(f->name, sizeof(f->name), "if%u", f->id);
		if (!f->mac_set)
			usnetd_mac_derive(c->mac_prefix, f->id, f->mac);
		if (!f->queues)
			f->queues = c->queues;
		if (!f->uplink[0])
			snprintf(f->uplink, sizeof(f->uplink), "%s",
				 c->nuplinks ? c->uplink[0].name : "none");
		for (unsigned j = 0; j < c->nuplinks && !found; j++)
			found = !strcmp(c->uplink[j].name, f->uplink);
		if (!found && strcmp(f->uplink, "none"))
			return usnet_error(EINVAL, "interface %u: no uplink named '%s'", f->id,
					   f->uplink);
		for (unsigned j = 0; j < i; j++) {
			char m[18];

			if (!strcmp(c->iface[j].name, f->name))
				return usnet_error(EINVAL, "two interfaces named '%s'", f->name);
			if (!memcmp(c->iface[j].mac, f->mac, 6)) {
				usnetd_mac_format(m, sizeof(m), f->mac);
				return usnet_error(EINVAL, "interfaces %u and %u both have MAC %s",
						   c->iface[j].id, f->id, m);
			}
		}
	}
	return 0;
}

static void print_ids(FILE *fp, const char *key, const uint32_t *ids, unsigned n)
{
	if (!n)
		return;
	fprintf(fp, "%s = ", key);
	for (unsigned i = 0; i < n; i++)
		fprintf(fp, "%s%u", i ? ", " : "", ids[i]);
	fprintf(fp, "\n");
}

void usnetd_conf_print(const struct usnetd_conf *c, void *file)
{
	static const char *const levels[] = {"error", "warn", "info", "debug"};
	FILE *fp = file;
	char mac[18];

	fprintf(fp, "socket = %s\ncontrol = %s\nsocket_mode = %04o\n", c->socket_path,
		c->control_path, (unsigned)c->socket_mode);
	if (c->socket_uid != (uid_t)-1)
		fprintf(fp, "socket_owner = %u\n", (unsigned)c->socket_uid);
	if (c->socket_gid != (gid_t)-1)
		fprintf(fp, "socket_group = %u\n", (unsigned)c->socket_gid);
	if (c->core >= 0)
		fprintf(fp, "core = %d\n", c->core);
	else
		fprintf(fp, "core = none\n");
	if (c->rt_priority)
		fprintf(fp, "rt_priority = %d\n", c->rt_priority);
	fprintf(fp, "spin_us = %u\npool_size = %u\nqueues = %u\nmac_prefix = %02x:%02x\n",
		c->spin_us, c->pool_size, c->queues, c->mac_prefix[0], c->mac_prefix[1]);
	if (c->auto_ids)
		fprintf(fp, "auto_ids = %u-%u\n", c->auto_lo, c->auto_hi);
	else
		fprintf(fp, "auto_ids = none\n");
	fprintf(fp, "log = %s\nlog_level = %s\n", c->use_syslog ? "syslog" : "stderr",
		levels[c->log_level & 3]);
	for (unsigned i = 0; i < c->nuplinks; i++) {
		const struct usnetd_uplink_conf *u = &c->uplink[i];

		fprintf(fp, "\n[uplink %s]\nspec = %s\nrx = %s\npromisc = %s\nrx_queues = %u\n",
			u->name, u->spec, u->rx ? "yes" : "no", u->promisc ? "yes" : "no",
			u->rx_queues);
	}
	for (unsigned i = 0; i < c->nifaces; i++) {
		const struct usnetd_iface_conf *f = &c->iface[i];

		if (f->auto_made)
			continue;
		usnetd_mac_format(mac, sizeof(mac), f->mac);
		fprintf(fp, "\n[interface %s]\nid = %u\nmac = %s\n", f->name, f->id, mac);
		print_ids(fp, "uids", f->uids, f->nuids);
		print_ids(fp, "gids", f->gids, f->ngids);
		if (f->secret[0])
			fprintf(fp, "secret = (set)\n");
		fprintf(fp, "allow_any_src_mac = %s\nqueues = %u\nuplink = %s\n",
			f->any_src_mac ? "yes" : "no", f->queues, f->uplink);
	}
}
