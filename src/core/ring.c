/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <usnet/log.h>
#include <usnet/ring.h>

int usnet_ring_create(struct usnet_ring **out, uint32_t size)
{
	struct usnet_ring *r;
	size_t bytes;

	if (size < 2 || size > (1u << 31) || (size & (size - 1)))
		return usnet_error(EINVAL, "ring size %u is not a power of two in [2, 2^31]", size);
	bytes = sizeof(*r) + (size_t)size * sizeof(r->slot[0]);
	r = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
	if (!r)
		return usnet_error(ENOMEM, "no memory for a ring of %u slots", size);
	memset(r, 0, sizeof(*r));
	r->mask = size - 1;
	r->cmask = size - 1;
	atomic_init(&r->head, 0);
	atomic_init(&r->tail, 0);
	*out = r;
	return 0;
}

void usnet_ring_destroy(struct usnet_ring *r)
{
	free(r);
}
