/* SPDX-License-Identifier: MIT */
/* The stack's counters by name, from the one list in <usnet/stack.h>. */
#include <stddef.h>
#include <string.h>

#include "stack_impl.h"

static const struct {
	const char *name, *desc;
	size_t off;
} counters[] = {
#define ENTRY(n, d) {#n, d, offsetof(struct usnet_stack_counters, n)},
    USNET_STACK_COUNTERS(ENTRY)
#undef ENTRY
};

#define NCOUNTERS (sizeof(counters) / sizeof(counters[0]))

void usnet_stack_counters(const struct usnet_stack *st, struct usnet_stack_counters *c)
{
	*c = st->c;
}

unsigned usnet_stack_counter_count(void)
{
	return NCOUNTERS;
}

const char *usnet_stack_counter_name(unsigned i)
{
	return i < NCOUNTERS ? counters[i].name : NULL;
}

const char *usnet_stack_counter_desc(unsigned i)
{
	return i < NCOUNTERS ? counters[i].desc : NULL;
}

uint64_t usnet_stack_counter_value(const struct usnet_stack_counters *c, unsigned i)
{
	uint64_t v;

	if (i >= NCOUNTERS)
		return 0;
	memcpy(&v, (const char *)c + counters[i].off, sizeof(v));
	return v;
}

int usnet_stack_counters_print(const struct usnet_stack_counters *c, FILE *f, bool nonzero_only)
{
	int lines = 0;

	for (unsigned i = 0; i < NCOUNTERS; i++) {
		uint64_t v = usnet_stack_counter_value(c, i);

		if (nonzero_only && !v)
			continue;
		fprintf(f, "%-24s %llu\n", counters[i].name, (unsigned long long)v);
		lines++;
	}
	return lines;
}
