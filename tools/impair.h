/* SPDX-License-Identifier: MIT */
/*
 * Network impairment for usnet-fwd: a user-space netem. Pure decisions and
 * bookkeeping, no I/O (like daemon/switch.[ch]): given a frame and the
 * current time it decides loss, duplication, reordering and the time the
 * frame may leave, and holds the frames (opaque pointers it never touches)
 * in a bounded queue until then. One struct impair per direction.
 *
 * Reproducible: every random decision comes from a seeded splitmix64
 * stream, one stream per process (loss, duplication, reordering, jitter),
 * and each frame draws the same number of values from each stream whatever
 * happens to it. So frame k of a direction meets the same fate in every run
 * with the same seed and the same settings, and changing one setting (say
 * --dup) does not change which frames another one (--loss) picks.
 *
 * Order of the decisions for a frame: loss (then nothing else), the time it
 * may leave (rate, delay, jitter), reordering, duplication.
 *
 * - Loss: a Gilbert-Elliott chain (E. N. Gilbert, "Capacity of a burst-noise
 *   channel", 1960; E. O. Elliott, 1963): in the good state a frame is lost
 *   with probability loss_good, in the bad state with loss_bad; after each
 *   frame the chain moves good->bad with probability p, bad->good with r.
 *   The long-run loss rate is (p * loss_bad + r * loss_good) / (p + r).
 *   Independent (Bernoulli) loss is p = r = 0 with loss_good = P;
 *   impair_loss_burst() gives the chain for a rate and a mean burst length.
 * - Delay: each frame leaves delay_ns after it arrived, plus a jitter sample
 *   (uniform in [-jitter, +jitter], or normal with sigma = jitter cut at
 *   +-3 sigma), never before 0. Frames of a direction keep their order
 *   (unlike netem, whose jitter reorders): a frame never leaves before the
 *   one in front of it, so at rates where frames are closer together than
 *   the jitter, the later ones wait for the earlier and the delays bunch
 *   towards delay + jitter. The delay of every frame stays within
 *   [delay - jitter, delay + jitter] (uniform) all the same.
 * - Rate: with rate_bps set, frames are also serialised on a link of that
 *   speed (frame + 24 bytes of preamble, FCS and gap per frame) before the
 *   delay; the queue cap is then the bottleneck's buffer.
 * - Reordering: with probability `reorder` a frame is held back until
 *   reorder_gap later frames of its direction have left, then sent right
 *   behind them (the frame is overtaken by reorder_gap frames); if they do
 *   not come within reorder_max_ns of its own leaving time it goes then
 *   (counted as a reorder timeout). At most IMPAIR_HOLD_MAX frames are held
 *   back at once; a frame picked while that many are is sent in order.
 * - Duplication: with probability dup a copy of the frame leaves right
 *   behind the original in the queue (the caller makes the copy:
 *   impair_push() answers IMPAIR_QUEUED_DUP).
 *
 * The queue holds at most `cap` frames (delayed, held back, copies); a
 * frame that finds it full is refused (IMPAIR_FULL, counted in queue_full).
 */
#ifndef USNET_TOOLS_IMPAIR_H
#define USNET_TOOLS_IMPAIR_H

#include <stdbool.h>
#include <stdint.h>

#define IMPAIR_HOLD_MAX	     64u	/* frames held back for reordering at once */
#define IMPAIR_CAP_MAX	     (1u << 20) /* the largest queue cap */
#define IMPAIR_WIRE_OVERHEAD 24u	/* preamble 8, FCS 4, inter-frame gap 12 */

struct impair_conf {
	/* Loss: a Gilbert-Elliott chain; probabilities in [0, 1]. */
	double loss_p, loss_r, loss_bad, loss_good;
	double dup;		 /* probability a frame is duplicated */
	double reorder;		 /* probability a frame is held back */
	uint32_t reorder_gap;	 /* frames that overtake it, >= 1 */
	uint64_t reorder_max_ns; /* longest hold after its leaving time */
	uint64_t delay_ns, jitter_ns;
	bool jitter_normal; /* normal (sigma = jitter_ns, cut at 3 sigma), else uniform */
	uint64_t rate_bps;  /* 0: no rate limit */
	uint32_t cap;	    /* frames held at most, 1..IMPAIR_CAP_MAX */
	uint64_t seed;
};

struct impair_stats {
	uint64_t in;		   /* frames given to impair_push() */
	uint64_t lost;		   /* dropped by the loss model */
	uint64_t queue_full;	   /* refused: the queue was at its cap */
	uint64_t delayed;	   /* frames (and copies) due later than they arrived */
	uint64_t duplicated;	   /* copies queued */
	uint64_t dup_nobuf;	   /* copies wanted but not queued: none made, or no room */
	uint64_t reordered;	   /* held-back frames that left behind later ones */
	uint64_t reorder_timeouts; /* held-back frames sent on reorder_max_ns */
	uint64_t out;		   /* frames impair_pop() returned */
};

/* A frame in the queue. */
struct impair_slot {
	void *frame;
	uint64_t due_ns; /* leaving time */
	uint64_t serial; /* arrival order */
};

/* A frame held back for reordering. */
struct impair_held {
	void *frame;
	uint64_t due_ns; /* its own leaving time */
	uint64_t serial; /* arrival order: only frames that came later overtake it */
	uint32_t left;	 /* later frames still to overtake it */
	bool overtaken;	 /* at least one has */
};

struct impair {
	struct impair_conf conf;
	uint64_t rng_loss, rng_dup, rng_reorder, rng_jitter;
	bool bad;	       /* the loss chain's state */
	uint64_t last_due_ns;  /* the latest leaving time given so far (order) */
	uint64_t link_free_ns; /* with a rate: when the link is free */
	uint64_t dup_due_ns;   /* leaving time for impair_push_copy() */
	bool dup_pending;
	uint64_t serial;       /* frames queued so far */
	struct impair_slot *q; /* ring of conf.cap slots, due_ns non-decreasing */
	uint32_t head, count;
	struct impair_held held[IMPAIR_HOLD_MAX];
	uint32_t nheld;
	struct impair_stats st;
};

/* Is anything asked of the conf (else forwarding need not queue at all)? */
bool impair_conf_active(const struct impair_conf *c);

/*
 * The chain for a long-run loss rate `rate` in [0, 1) with losses in bursts
 * of `burst` frames on average (>= 1): the simple Gilbert model, all frames
 * lost in the bad state, none in the good one. burst <= 1: independent loss.
 */
void impair_loss_burst(struct impair_conf *c, double rate, double burst);
/* The long-run loss rate of the chain in c. */
double impair_loss_rate(const struct impair_conf *c);

/* 0, -EINVAL (a value out of range) or -ENOMEM. */
int impair_init(struct impair *im, const struct impair_conf *c);
/* Frees the queue; the frames still in it are the caller's (drain first). */
void impair_fini(struct impair *im);

enum impair_verdict {
	IMPAIR_LOST,	   /* the loss model dropped it: the caller frees it */
	IMPAIR_FULL,	   /* the queue is full: the caller frees it */
	IMPAIR_QUEUED,	   /* queued: impair_pop() returns it when it is due */
	IMPAIR_QUEUED_DUP, /* queued, and a copy should follow: impair_push_copy() */
};

/* A frame of len bytes arrived at now_ns. */
enum impair_verdict impair_push(struct impair *im, uint64_t now_ns, void *frame, uint32_t len);
/*
 * After IMPAIR_QUEUED_DUP: queue the copy right behind the original. false:
 * the queue is full (counted in dup_nobuf), the copy stays the caller's.
 */
bool impair_push_copy(struct impair *im, void *copy);
/* After IMPAIR_QUEUED_DUP: no copy could be made (counted in dup_nobuf). */
void impair_copy_failed(struct impair *im);

/*
 * The next frame due at now_ns, or NULL. now_ns = UINT64_MAX drains
 * everything (held-back frames included), in order.
 */
void *impair_pop(struct impair *im, uint64_t now_ns);
/* When impair_pop() may next return a frame; UINT64_MAX: the queue is empty. */
uint64_t impair_next_ns(const struct impair *im);
/* Frames in the queue, held-back ones included. */
static inline uint32_t impair_held_frames(const struct impair *im)
{
	return im->count + im->nheld;
}

#endif
