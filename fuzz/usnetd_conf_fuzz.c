/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: usnetd's configuration parser (daemon/config.c), the
 * file an administrator writes and `usnetd --check` prints back.
 *
 * The input is the file's text (cut at a NUL byte, which usnetd_conf_load()
 * refuses before parsing). Parsing and the consistency checks must fail
 * with an error or succeed, never crash, and what succeeds must survive a
 * round trip: the configuration usnetd_conf_print() writes is parsed and
 * checked again without error and prints the same text. Anything else
 * aborts (a crash for libFuzzer), besides what ASan/UBSan find.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <usnet/log.h>

#include "../daemon/usnetd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct usnetd_conf conf, again; /* large */

/* The printed form of c, malloc'd. */
static char *print(const struct usnetd_conf *c)
{
	char *text = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&text, &len);

	if (!fp)
		abort();
	usnetd_conf_print(c, fp);
	if (fclose(fp))
		abort();
	return text;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1), *p1, *p2;
	int err;

	if (!text)
		abort();
	memcpy(text, data, size);
	text[size] = '\0';
	usnet_log_set_level(USNET_LOG_ERR);
	usnetd_conf_init(&conf);
	err = usnetd_conf_parse(&conf, text, "fuzz.conf");
	if (!err)
		err = usnetd_conf_finish(&conf);
	free(text);
	if (err) {
		if (err > 0 || !usnet_last_error()[0])
			abort(); /* an error must be -errno and say why */
		return 0;
	}
	p1 = print(&conf);
	usnetd_conf_init(&again);
	if (usnetd_conf_parse(&again, p1, "printed.conf") || usnetd_conf_finish(&again)) {
		fprintf(stderr, "usnetd_conf_fuzz: the printed configuration is refused: %s\n%s",
			usnet_last_error(), p1);
		abort();
	}
	p2 = print(&again);
	if (strcmp(p1, p2)) {
		fprintf(stderr, "usnetd_conf_fuzz: round trip changed it:\n%s---\n%s", p1, p2);
		abort();
	}
	free(p1);
	free(p2);
	return 0;
}
