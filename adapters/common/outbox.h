/*
 * outbox: an adapter's store-and-forward queue, its own small store: an
 * append-only log in front of an LMDB table (outbox.c says how). What an
 * adapter takes from a source is put here (fdatasync) before the source is
 * answered, and stays until commissiond acknowledges it: then it is
 * removed (ACCEPTED, DUPLICATE) or kept as a dead letter (REJECTED).
 */
#ifndef OUTBOX_H
#define OUTBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum outbox_result {
	OUTBOX_OK = 0,
	OUTBOX_FULL = -1,   /* map or disk full: tell the source to resend later */
	OUTBOX_FAILED = -2, /* anything else; outbox_error says what */
	OUTBOX_BUSY = -3,   /* outbox_put_start: not now; start it again once a
			     * put in flight is finished */
};

/* At most this many puts in flight at once (outbox_put_start). */
#define OUTBOX_PIPELINE 8

struct outbox;

struct outbox_item {
	const uint8_t *bytes; /* a packed Envelope */
	size_t len;
};

/* What became of one envelope the daemon answered. */
struct outbox_settlement {
	uint64_t seq;
	bool rejected;	    /* REJECTED: kept as a dead letter */
	const char *reason; /* the daemon's reason, when rejected */
};

/* Open (creating) the outbox in directory path, map_bytes large. */
struct outbox *outbox_open(const char *path, uint64_t map_bytes, char *err, size_t errlen);
/* Close, finishing a put that commits and committing held settlements
 * first (outbox_flush). */
void outbox_close(struct outbox **outbox);
const char *outbox_error(const struct outbox *outbox);

/* Make items durable, all or none: appended to the log with one
 * fdatasync (or, when the log has no room or the table is half full, put
 * into the table in one transaction with the held settlements); the first
 * one's sequence number in *first_seq (the rest follow it). A move of what
 * the log holds into the table, with the held settlements, may go first.
 * Waits for the write: outbox_put_start and outbox_put_finish are the
 * same in two halves. OUTBOX_FAILED while puts started are in flight. */
enum outbox_result outbox_put(struct outbox *outbox, const struct outbox_item *items, size_t n,
    uint64_t *first_seq);

/*
 * Start outbox_put on the outbox's threads and return at once, so that the
 * caller's loop goes on (taking the next group) while it fsyncs. Up to
 * OUTBOX_PIPELINE puts may be in flight: each is appended to the log in
 * the order started and synced by a thread (and a file descriptor) of its
 * own, so that their fdatasyncs overlap; they finish in the order started.
 * OUTBOX_BUSY when this one cannot start now (outbox_put_room): it needs
 * the table, which waits for every put in flight. items and the bytes
 * they point to must stay untouched until its outbox_put_finish.
 * outbox_put_fd (an eventfd) is readable whenever a put has finished
 * syncing; outbox_put_ready says whether the oldest has.
 */
enum outbox_result outbox_put_start(struct outbox *outbox, const struct outbox_item *items,
    size_t n);
/* Whether any put is in flight. */
bool outbox_put_busy(const struct outbox *outbox);
/* Whether another put may start now: fewer than OUTBOX_PIPELINE in flight,
 * none of them a transaction, none failed, and no move of the log into the
 * table due (which waits until every put in flight is finished). */
bool outbox_put_room(const struct outbox *outbox);
int outbox_put_fd(const struct outbox *outbox);
/* Whether the oldest put in flight is done, so that outbox_put_finish
 * will not wait; empties outbox_put_fd. */
bool outbox_put_ready(struct outbox *outbox);
/* The result of the oldest put in flight (waiting for it if it is not
 * done yet); only after OUTBOX_OK may its source be answered. Once one
 * fails, every put in flight behind it fails too, and the next started
 * takes its sequence numbers and its place in the log again. */
enum outbox_result outbox_put_finish(struct outbox *outbox, uint64_t *first_seq);

/* Visit pending envelopes from sequence from on, at most max, those in the
 * table and those only the log holds alike; *next gets the sequence after
 * the last visited. fn must not put, settle or flush. */
typedef int (*outbox_fn)(void *arg, uint64_t seq, const uint8_t *bytes, size_t len);
enum outbox_result outbox_scan(struct outbox *outbox, uint64_t from, size_t max, outbox_fn fn,
    void *arg, uint64_t *next);

/*
 * Settle answered envelopes: they are held and committed with the next
 * move of the log into the table (outbox_put), or by outbox_flush (the
 * caller's timer), or here once OUTBOX_SETTLE_HELD_MAX are held, so that
 * settling costs no fsync of its own while sources keep putting. Until committed an envelope is still
 * pending on disk: after a crash it is sent again and commissiond answers
 * DUPLICATE. Scans still visit held ones. On a full map or disk a
 * commit of settlements is made in parts, and what it could not commit
 * stays held for the next one; so for the one made here, whose error is
 * then returned with every settlement given held all the same (the next
 * try here once OUTBOX_SETTLE_HELD_MAX more are held). Only out of memory
 * is a settlement let go (OUTBOX_FAILED): its envelope stays pending
 * until a restart sends it again.
 */
#define OUTBOX_SETTLE_HELD_MAX 4096
enum outbox_result outbox_settle(struct outbox *outbox, const struct outbox_settlement *s,
    size_t n);

/* Move what the log holds into the table and commit the held settlements
 * now (nothing to do when there is neither, or while puts are in flight:
 * they go with the next). */
enum outbox_result outbox_flush(struct outbox *outbox);

/* How long the oldest answered envelope stays in the log before the next
 * put moves the log into the table (100 ms from open; the kept bytes and
 * the log's size make a move due too). Set by the tests, to say when a
 * move is due without depending on how fast the machine runs. */
void outbox_set_move_after(struct outbox *outbox, int64_t ms);

/* Counts since open: an operator's view of group commit. */
struct outbox_stats {
	uint64_t commits;     /* fsynced writes (log appends, transactions), in all */
	uint64_t put_commits; /* of them, those that made envelopes durable */
	uint64_t put;	      /* envelopes made durable */
	uint64_t settled;     /* settlements committed */
};
void outbox_get_stats(const struct outbox *outbox, struct outbox_stats *stats);

struct outbox_counts {
	uint64_t pending;
	uint64_t dead_letters;
};
enum outbox_result outbox_counts(struct outbox *outbox, struct outbox_counts *counts);

/* Dead letters kept at most: the newest; commissiond keeps every
 * rejection itself (commissionctl deadletters), and nothing else removes
 * them from the outbox, whose room they would take for good. */
#define OUTBOX_DEAD_LETTERS_MAX 1000

/* Visit dead letters: fn(arg, seq, reason, envelope bytes, len). */
typedef int (*outbox_dead_fn)(void *arg, uint64_t seq, const char *reason, const uint8_t *bytes,
    size_t len);
enum outbox_result outbox_scan_dead(struct outbox *outbox, outbox_dead_fn fn, void *arg);

#endif
