/* SPDX-License-Identifier: MIT */
/*
 * pair:NAME and loop: — in-process wires, for tests and pipelines.
 *
 * The first open of pair:NAME gets one end, the second open the other; a
 * frame sent on queue q of one end arrives on queue q of the other. loop:
 * is a single end wired to itself. The ends may run on different threads.
 *
 * Like a real wire the frame is copied: the receiver copies it into a
 * buffer of its own pool and hands the sender's buffer back on a return
 * ring, so every pool is only ever touched by its owner. All rings are
 * single-producer/single-consumer.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <usnet/ring.h>

#include "port_impl.h"

struct pair_queue {
	struct usnet_ring *wire; /* frames sent towards this end's RX queue */
	struct usnet_ring *back; /* buffers this end received, back to the sender */
	uint32_t outstanding;	 /* sender's buffers on wire or back; sender-only */
	int wake_fd;		 /* eventfd the sender writes while the receiver sleeps */
	_Atomic bool sleeping;
};

struct pair_end {
	struct usnet_port port;
	struct pair_end *peer; /* the other end; itself for loop: */
	struct pair_queue q[USNET_MAX_QUEUES];
	_Atomic bool connected; /* cleared by the peer's close, on its thread */
	bool closed;		/* under waiting_lock */
};

/* Ends waiting for their peer, by name. Only open and close touch it. */
static pthread_mutex_t waiting_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pair_end *waiting[16];

static void reclaim(struct pair_queue *q)
{
	struct usnet_pkt *done[64];
	uint32_t n;

	while ((n = usnet_ring_dequeue_burst(q->back, (void **)done, 64)) > 0) {
		usnet_pkt_free_bulk(done, n);
		q->outstanding -= n;
	}
}

static uint16_t pair_tx_burst(struct usnet_port *port, uint16_t queue, struct usnet_pkt **pkts,
			      uint16_t n)
{
	struct pair_end *end = usnet_container_of(port, struct pair_end, port);
	struct pair_queue *rq;
	uint16_t sent;

	if (!atomic_load_explicit(&end->connected, memory_order_relaxed))
		return 0;
	/* Our buffers come back on the peer's return ring for this queue. */
	rq = &end->peer->q[queue];
	reclaim(rq);
	/* At most one ring's worth of our buffers on wire and back together,
	 * so the receiver can always return what it takes, even after we stop
	 * sending (and reclaiming). */
	if (n > rq->wire->mask + 1 - rq->outstanding)
		n = (uint16_t)(rq->wire->mask + 1 - rq->outstanding);
	sent = (uint16_t)usnet_ring_enqueue_burst(rq->wire, (void *const *)pkts, n);
	rq->outstanding += sent;
	/* seq_cst pairs with the one in pair_arm(): either the receiver sees
	 * our frames before sleeping, or we see it sleeping and wake it. */
	atomic_thread_fence(memory_order_seq_cst);
	if (sent && atomic_load_explicit(&rq->sleeping, memory_order_relaxed)) {
		uint64_t one = 1;

		atomic_store_explicit(&rq->sleeping, false, memory_order_relaxed);
		if (write(rq->wake_fd, &one, sizeof(one)) < 0)
			port->stats[queue].tx_errors++; /* cannot happen with a sane eventfd */
	}
	return sent;
}

static uint16_t pair_rx_burst(struct usnet_port *port, uint16_t queue, struct usnet_pkt **pkts,
			      uint16_t n)
{
	struct pair_end *end = usnet_container_of(port, struct pair_end, port);
	struct pair_queue *q = &end->q[queue];
	struct usnet_pkt *in[USNET_MAX_BURST];
	uint16_t got, i;

	n = (uint16_t)usnet_pool_alloc_bulk(port->pool[queue], pkts, n);
	got = (uint16_t)usnet_ring_dequeue_burst(q->wire, (void **)in, n);
	for (i = 0; i < got; i++) {
		uint16_t len = in[i]->len;

		if (len > usnet_pkt_tailroom(pkts[i])) {
			/* Longer than our buffers: a real wire would drop it too. */
			len = 0;
			port->stats[queue].rx_errors++;
		}
		memcpy(usnet_pkt_data(pkts[i]), usnet_pkt_data(in[i]), len);
		pkts[i]->len = len;
	}
	/* Always fits: the sender keeps at most one ring's worth outstanding. */
	usnet_ring_enqueue_burst(q->back, (void *const *)in, got);
	usnet_pkt_free_bulk(pkts + got, (uint32_t)(n - got));
	return got;
}

static bool pair_arm(struct usnet_port *port, uint16_t queue)
{
	struct pair_queue *q = &usnet_container_of(port, struct pair_end, port)->q[queue];
	uint64_t count;

	/* Consume an old wake-up so that poll() waits for a new one. */
	if (read(q->wake_fd, &count, sizeof(count)) < 0 && errno != EAGAIN)
		return true;
	atomic_store_explicit(&q->sleeping, true, memory_order_relaxed);
	/* Pairs with the fence in pair_tx_burst(). */
	atomic_thread_fence(memory_order_seq_cst);
	return usnet_ring_count(q->wire) != 0;
}

static int pair_queue_fd(struct usnet_port *port, uint16_t queue)
{
	return usnet_container_of(port, struct pair_end, port)->q[queue].wake_fd;
}

static int pair_link(struct usnet_port *port, struct usnet_link *link)
{
	link->up = atomic_load_explicit(&usnet_container_of(port, struct pair_end, port)->connected,
				       memory_order_relaxed);
	link->speed_mbps = 0;
	return 0;
}

static void free_end(struct pair_end *end)
{
	for (unsigned i = 0; i < USNET_MAX_QUEUES; i++) {
		struct pair_queue *q = &end->q[i];

		if (q->wake_fd >= 0)
			close(q->wake_fd);
		usnet_ring_destroy(q->wire);
		usnet_ring_destroy(q->back);
	}
	usnet_port_teardown(&end->port);
	free(end);
}

/* Frames still on a wire go back to their sender's pools, and buffers on
 * the return rings to ours; both ends are closed, so no thread runs them. */
static void release_both(struct pair_end *a, struct pair_end *b)
{
	struct pair_end *ends[2] = {a, b};
	struct usnet_pkt *in[64];
	uint32_t n;

	for (int e = 0; e < 2; e++)
		for (uint16_t i = 0; i < ends[e]->port.info.rx_queues; i++)
			while ((n = usnet_ring_dequeue_burst(ends[e]->q[i].wire, (void **)in, 64)))
				usnet_pkt_free_bulk(in, n);
	for (int e = 0; e < 2; e++)
		for (uint16_t i = 0; i < ends[e]->port.info.rx_queues; i++)
			reclaim(&ends[e]->q[i]);
	free_end(a);
	if (b != a)
		free_end(b);
}

/*
 * Closing one end takes the link down for the other; memory goes when the
 * second end closes, because the survivor's rings still point into ours.
 * Close an end from the thread that ran it, or after that thread stopped.
 */
static void pair_close(struct usnet_port *port)
{
	struct pair_end *end = usnet_container_of(port, struct pair_end, port);
	struct pair_end *peer;

	pthread_mutex_lock(&waiting_lock);
	for (unsigned i = 0; i < 16; i++)
		if (waiting[i] == end)
			waiting[i] = NULL;
	peer = end->peer;
	end->closed = true;
	atomic_store_explicit(&end->connected, false, memory_order_relaxed);
	if (peer && peer != end && !peer->closed) {
		atomic_store_explicit(&peer->connected, false, memory_order_relaxed);
		pthread_mutex_unlock(&waiting_lock);
		return;
	}
	pthread_mutex_unlock(&waiting_lock);
	release_both(end, peer ? peer : end);
}

static int create_end(struct pair_end **out, const struct usnet_port_ops *ops,
		      struct usnet_spec *spec, const struct usnet_port_conf *conf)
{
	struct pair_end *end = calloc(1, sizeof(*end));
	uint32_t ring;
	int err;

	if (!end)
		return usnet_error(ENOMEM, "%s: out of memory", spec->kind);
	for (uint16_t i = 0; i < USNET_MAX_QUEUES; i++)
		end->q[i].wake_fd = -1;
	err = usnet_port_setup(&end->port, ops, spec, conf, USNET_MAX_QUEUES, 4096);
	if (err) {
		free(end);
		return err;
	}
	ring = end->port.conf.rx_ring_size ? end->port.conf.rx_ring_size : 1024;
	if (ring & (ring - 1)) {
		free_end(end);
		return usnet_error(EINVAL, "%s: ring size %u is not a power of two", spec->kind,
				   ring);
	}
	for (uint16_t i = 0; i < end->port.info.rx_queues; i++) {
		struct pair_queue *q = &end->q[i];

		if ((err = usnet_ring_create(&q->wire, ring)) != 0 ||
		    (err = usnet_ring_create(&q->back, ring)) != 0) {
			free_end(end);
			return err;
		}
		q->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (q->wake_fd < 0) {
			err = usnet_error(errno, "%s: eventfd failed", spec->kind);
			free_end(end);
			return err;
		}
	}
	usnet_mac_from_name(end->port.info.mac, spec->kind, spec->name);
	*out = end;
	return 0;
}

static int loop_open(struct usnet_port **out, struct usnet_spec *spec,
		     const struct usnet_port_conf *conf)
{
	struct pair_end *end;
	int err = create_end(&end, &usnet_loop_ops, spec, conf);

	if (err)
		return err;
	if (end->port.info.rx_queues != end->port.info.tx_queues) {
		free_end(end);
		return usnet_error(EINVAL, "loop: needs as many RX as TX queues");
	}
	end->peer = end;
	atomic_init(&end->connected, true);
	*out = &end->port;
	return 0;
}

static int pair_open(struct usnet_port **out, struct usnet_spec *spec,
		     const struct usnet_port_conf *conf)
{
	struct pair_end *end, *peer = NULL;
	unsigned i, slot = 16;
	int err;

	if (!spec->name[0])
		return usnet_error(EINVAL, "pair: needs a name, e.g. pair:wire0");
	err = create_end(&end, &usnet_pair_ops, spec, conf);
	if (err)
		return err;
	pthread_mutex_lock(&waiting_lock);
	for (i = 0; i < 16; i++) {
		if (waiting[i] && !strcmp(waiting[i]->port.info.name, spec->name))
			peer = waiting[i];
		else if (!waiting[i] && slot == 16)
			slot = i;
	}
	if (peer) {
		if (peer->port.info.rx_queues != end->port.info.tx_queues ||
		    peer->port.info.tx_queues != end->port.info.rx_queues) {
			pthread_mutex_unlock(&waiting_lock);
			free_end(end);
			return usnet_error(EINVAL, "pair:%s: ends disagree on queue counts",
					   spec->name);
		}
		for (i = 0; i < 16; i++)
			if (waiting[i] == peer)
				waiting[i] = NULL;
		end->peer = peer;
		peer->peer = end;
		atomic_store_explicit(&end->connected, true, memory_order_relaxed);
		atomic_store_explicit(&peer->connected, true, memory_order_relaxed);
	} else if (slot < 16) {
		waiting[slot] = end;
	}
	pthread_mutex_unlock(&waiting_lock);
	if (!peer && slot == 16) {
		free_end(end);
		return usnet_error(EBUSY, "pair:%s: too many unconnected pairs", spec->name);
	}
	*out = &end->port;
	return 0;
}

const struct usnet_port_ops usnet_pair_ops = {
	.kind = "pair",
	.usage = "pair:NAME               in-process wire: two opens of one NAME are its two ends",
	.open = pair_open,
	.close = pair_close,
	.rx_burst = pair_rx_burst,
	.tx_burst = pair_tx_burst,
	.queue_fd = pair_queue_fd,
	.arm = pair_arm,
	.link = pair_link,
};

const struct usnet_port_ops usnet_loop_ops = {
	.kind = "loop",
	.usage = "loop:                   frames sent on queue q come back on RX queue q",
	.open = loop_open,
	.close = pair_close,
	.rx_burst = pair_rx_burst,
	.tx_burst = pair_tx_burst,
	.queue_fd = pair_queue_fd,
	.arm = pair_arm,
	.link = pair_link,
};
