/*
 * outbox: owns an adapter's LMDB environment: "pending" (sequence ->
 * packed Envelope), "dead" (sequence -> reason, NUL, packed Envelope) and
 * "meta" (next_seq: the sequence after the last one in the table). Keys
 * are 8-byte big-endian so that byte order is number order.
 *
 * In front of the table is the log, a file of OUTBOX_LOG_BYTES written
 * with zeros once: a put appends its envelopes there as records and
 * fdatasyncs, which costs one flush of a few contiguous pages where an
 * LMDB commit costs two and copies its B-tree's pages. Answered envelopes
 * wait in memory (the kept list) and are moved into the table, with the
 * held settlements, in one fsynced commit now and then (outbox_move_due);
 * after that commit the log starts again from its beginning. Opening the
 * outbox moves into the table whatever the log holds past meta's next_seq.
 *
 * Owns also the commit threads (lanes): every write (log append,
 * transaction) runs on one, so that a caller's loop may go on while it
 * fsyncs (outbox_put_start); readers run in the caller's thread, beside
 * them (LMDB's one writer, many readers). Up to OUTBOX_PIPELINE batches are
 * in flight, each on a lane: appends are written to the log one after
 * another in the order the batches started (the write turn), and each
 * lane then fdatasyncs through a descriptor of its own. Syncs from many
 * threads overlap where one thread's follow one another: the kernel
 * gathers them into the disk's flushes. A descriptor of its own, because
 * a write-back error is reported once per open file: each lane learns of
 * every error since its last sync. A transaction (a move, a direct put, a
 * commit of settlements) is in flight alone: it starts only when no batch
 * is, and none starts while it runs.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lmdb.h>
#include <sodium.h>

#include "be64.h"
#include "clock.h"
#include "diskroom.h"
#include "outbox.h"
#include "tailcache.h"

/* The log's size and its records: a head (magic, sequence, length, a
 * 16-byte BLAKE2b of the three and the envelope), the envelope, zeros to
 * the next multiple of 8. A record that does not check ends the log. */
#define OUTBOX_LOG_FILE "log"
#define OUTBOX_LOG_BYTES ((size_t)4 << 20)
#define LOG_MAGIC "obxlog1\n"
#define LOG_CHECK_BYTES 16
#define LOG_CHECKED_BYTES (8 + 8 + 8) /* magic, sequence, length */
#define LOG_HEAD_BYTES (LOG_CHECKED_BYTES + LOG_CHECK_BYTES)

/* When the kept envelopes are moved into the table: once they hold
 * OUTBOX_MOVE_BYTES (or a 256th of the map, for a small one), or the
 * oldest was answered OUTBOX_MOVE_AFTER_MS ago; and at every flush. */
#define OUTBOX_MOVE_BYTES ((size_t)1 << 20)
#define OUTBOX_MOVE_AFTER_MS 100

/* Once the table's file reaches half the map, every put goes into the
 * table straight, with the held settlements, as one commit, and the log is
 * not used: near full, LMDB may lack even the pages a deletion copies, and
 * a move of many envelopes could take the last of them. */
#define OUTBOX_TABLE_HALF(table_pages, map_pages) ((table_pages) * 2 >= (map_pages))
/* (The file's pages are LMDB's high-water mark: a store that once grew to
 * half its map stays in this mode; outbox_map_size is the way out.) */

/* A settlement held for the next commit; reason is NULL unless REJECTED.
 * committed: by the batch it was handed to (else it is held again). */
struct outbox_held {
	uint64_t seq;
	char *reason;
	bool committed;
};

/* Envelopes answered from the log and not yet in the table: their bytes
 * one after another, and where each is. */
struct outbox_kept_one {
	uint64_t seq;
	size_t at, len;
};

struct outbox_kept {
	uint8_t *bytes;
	size_t used, cap;
	struct outbox_kept_one *ones;
	size_t n, ones_cap;
	int64_t since_ms; /* when the first was answered */
};

/* One batch: what a lane is given and answers. The caller's thread fills
 * it before it starts, the lane then owns it until done. */
struct outbox_batch {
	struct outbox_held *held;
	size_t n_held, held_cap;
	struct outbox_kept move; /* to move into the table first */
	bool table;		 /* a transaction: move and held */
	bool direct;		 /* items into the table too, not the log */
	const struct outbox_item *items;
	size_t n;
	uint64_t first_seq;
	enum outbox_result result;
	bool moved;	  /* move (and direct items) committed */
	size_t settled;	  /* of held, committed */
	unsigned commits; /* fsynced writes that succeeded */
	uint8_t *log_buf; /* the records being appended */
	size_t log_cap;
	size_t bytes;	  /* the items' envelope bytes */
	size_t log_at;	  /* where they were written */
	uint64_t no;	  /* batches started before it: its write turn */
	bool done;	  /* answered (under lock) */
	char error[512];
};

/* A lane: a commit thread and its own descriptor of the log. */
struct outbox_lane {
	struct outbox *o;
	pthread_t thread;
	int fd;
};

struct outbox {
	MDB_env *env;
	MDB_dbi pending, dead, meta;
	uint64_t next_seq;
	size_t move_bytes; /* the kept bytes that make a move due */
	int64_t move_after_ms; /* the age of the oldest kept that makes one due */
	uint64_t map_pages, table_pages; /* the map's and the file's, in pages
					  * (the caller's, read after a commit) */
	/* Settlements held for the next commit (the caller's thread), and
	 * how many make outbox_settle commit them. */
	struct outbox_held *held;
	size_t n_held, held_cap, held_commit_at;
	/* Answered from the log, not in the table (the caller's thread). */
	struct outbox_kept kept;
	struct outbox_stats stats;
	char error[512];
	/* The log: written by the lanes only, after open, in their write
	 * turns; log_at (its bytes in use) is read by the caller only while
	 * no batch is in flight. log_end is the caller's: where the batches
	 * in flight will have taken it. */
	int log_fd;
	size_t log_at, log_end;
	/* The batches in flight, oldest first from head: the caller's. */
	struct outbox_batch batches[OUTBOX_PIPELINE];
	size_t head, n_flight;
	size_t flight_n, flight_bytes; /* their items bound for the kept list */
	uint64_t flight_seq;	       /* the next batch's first sequence */
	bool table_in_flight;	       /* a transaction: alone in flight */
	bool failing;		       /* one failed: so do those behind it */
	size_t rewind_to;	       /* the log's end before the first failed */
	/* The lanes. Under lock: started, claimed (batches ever started, and
	 * taken by a lane), written (write turns over), pipe_failed (an
	 * append failed: those after it do not write), each batch's done.
	 * done_fd (an eventfd) is written whenever a batch is done. */
	struct outbox_lane lanes[OUTBOX_PIPELINE];
	size_t n_lanes;
	pthread_mutex_t lock;
	pthread_cond_t work, turn, done;
	uint64_t started, claimed, written;
	bool pipe_failed, quit;
	bool sync_made; /* lock, tail_lock and the conditions */
	int done_fd;
	struct tailcache tail; /* the lanes', under tail_lock, once started */
	pthread_mutex_t tail_lock;
};

static void __attribute__((format(printf, 2, 3)))
outbox_fail(char error[512], const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(error, 512, fmt, ap);
	va_end(ap);
}

const char *
outbox_error(const struct outbox *o)
{
	return o->error;
}

/* A failure that more room would mend (map or disk full) is OUTBOX_FULL:
 * the source is told to send again later. */
static enum outbox_result
outbox_full_or_failed(int rc)
{
	return rc == MDB_MAP_FULL || rc == ENOSPC || rc == EDQUOT ? OUTBOX_FULL : OUTBOX_FAILED;
}

/* The result of an LMDB call, its sentence written to error (o->error in
 * the caller's thread, the batch's in the commit thread). */
static enum outbox_result
outbox_result_to(const struct outbox *o, char error[512], int rc, const char *what)
{
	if (rc == MDB_SUCCESS)
		return OUTBOX_OK;
	if (rc == EIO) {
		mdb_filehandle_t fd;
		if (mdb_env_get_fd(o->env, &fd) == MDB_SUCCESS)
			rc = diskroom_errno(fd, rc);
	}
	outbox_fail(error, "outbox: %s: %s", what, mdb_strerror(rc));
	return outbox_full_or_failed(rc);
}

static enum outbox_result
outbox_result_of(struct outbox *o, int rc, const char *what)
{
	return outbox_result_to(o, o->error, rc, what);
}

/* ---- the kept list */

/* Room for n more envelopes of bytes in all, made before they are
 * appended to the log: once answered from it, keeping them cannot fail (a
 * kept envelope lost track of would be written over when the log starts
 * again). */
static bool
kept_reserve(struct outbox_kept *k, size_t n, size_t bytes)
{
	if (k->used + bytes > k->cap) {
		size_t cap = k->cap ? k->cap : 64 * 1024;
		while (cap < k->used + bytes)
			cap *= 2;
		uint8_t *grown = realloc(k->bytes, cap);
		if (grown == NULL)
			return false;
		k->bytes = grown;
		k->cap = cap;
	}
	if (k->n + n > k->ones_cap) {
		size_t cap = k->ones_cap ? k->ones_cap : 256;
		while (cap < k->n + n)
			cap *= 2;
		struct outbox_kept_one *grown = realloc(k->ones, cap * sizeof(*grown));
		if (grown == NULL)
			return false;
		k->ones = grown;
		k->ones_cap = cap;
	}
	return true;
}

/* Keep one envelope, in room kept_reserve made. */
static void
kept_add(struct outbox_kept *k, uint64_t seq, const uint8_t *bytes, size_t len)
{
	if (k->n == 0)
		k->since_ms = clock_monotonic_ms();
	if (len > 0)
		memcpy(k->bytes + k->used, bytes, len);
	k->ones[k->n++] = (struct outbox_kept_one){ seq, k->used, len };
	k->used += len;
}

static void
kept_clear(struct outbox_kept *k)
{
	k->used = 0;
	k->n = 0;
}

static void
kept_free(struct outbox_kept *k)
{
	free(k->bytes);
	free(k->ones);
	*k = (struct outbox_kept){ 0 };
}

static void
kept_swap(struct outbox_kept *a, struct outbox_kept *b)
{
	struct outbox_kept t = *a;

	*a = *b;
	*b = t;
}

/* ---- the log's records */

static size_t
log_record_bytes(size_t len)
{
	return LOG_HEAD_BYTES + ((len + 7) & ~(size_t)7);
}

static void
log_check(uint8_t out[LOG_CHECK_BYTES], const uint8_t *head, const uint8_t *bytes, size_t len)
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, LOG_CHECK_BYTES);
	crypto_generichash_update(&st, head, LOG_CHECKED_BYTES);
	crypto_generichash_update(&st, bytes, len);
	crypto_generichash_final(&st, out, LOG_CHECK_BYTES);
}

/* Write one record at out (log_record_bytes(len) bytes). */
static void
log_record_put(uint8_t *out, uint64_t seq, const uint8_t *bytes, size_t len)
{
	size_t padded = log_record_bytes(len) - LOG_HEAD_BYTES;

	memcpy(out, LOG_MAGIC, 8);
	be64_put(out + 8, seq);
	be64_put(out + 16, len);
	memcpy(out + LOG_HEAD_BYTES, bytes, len);
	memset(out + LOG_HEAD_BYTES + len, 0, padded - len);
	log_check(out + LOG_CHECKED_BYTES, out, bytes, len);
}

/* The record at log[at] of size bytes, if one is there and checks: its
 * sequence, envelope and length; 0 when none. */
static size_t
log_record_get(const uint8_t *log, size_t at, size_t size, uint64_t *seq, const uint8_t **bytes,
    size_t *len)
{
	uint8_t check[LOG_CHECK_BYTES];
	uint64_t n;

	if (at >= size || size - at < LOG_HEAD_BYTES || memcmp(log + at, LOG_MAGIC, 8) != 0)
		return 0;
	n = be64_get(log + at + 16);
	if (n > size - at - LOG_HEAD_BYTES)
		return 0;
	log_check(check, log + at, log + at + LOG_HEAD_BYTES, (size_t)n);
	if (memcmp(check, log + at + LOG_CHECKED_BYTES, LOG_CHECK_BYTES) != 0)
		return 0;
	*seq = be64_get(log + at + 8);
	*bytes = log + at + LOG_HEAD_BYTES;
	*len = (size_t)n;
	return log_record_bytes((size_t)n);
}

static const char meta_next_seq[] = "next_seq";

/* The table's next_seq as txn sees it, kept in meta: the sequence after
 * the last envelope ever put into the table (moved, or put straight), so
 * that a sequence is never reused, even once everything was settled. Below
 * it the table has every envelope still pending; from it on they are in
 * memory (kept, or being moved). */
static int
outbox_table_next(struct outbox *o, MDB_txn *txn, uint64_t *next)
{
	MDB_val k = { sizeof(meta_next_seq) - 1, (void *)meta_next_seq }, v;
	int rc = mdb_get(txn, o->meta, &k, &v);

	*next = 1;
	if (rc == MDB_NOTFOUND)
		return MDB_SUCCESS;
	if (rc == MDB_SUCCESS && v.mv_size != 8)
		return MDB_CORRUPTED;
	if (rc == MDB_SUCCESS)
		*next = be64_get(v.mv_data);
	return rc;
}

/* Remove the oldest dead letters past OUTBOX_DEAD_LETTERS_MAX. */
static int
outbox_dead_trim(struct outbox *o, MDB_txn *txn)
{
	MDB_cursor *cur;
	MDB_stat st;
	MDB_val k, v;
	int rc = mdb_stat(txn, o->dead, &st);

	if (rc != MDB_SUCCESS || st.ms_entries <= OUTBOX_DEAD_LETTERS_MAX)
		return rc;
	if ((rc = mdb_cursor_open(txn, o->dead, &cur)) != MDB_SUCCESS)
		return rc;
	for (size_t n = st.ms_entries - OUTBOX_DEAD_LETTERS_MAX; rc == MDB_SUCCESS && n > 0; n--) {
		rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
		if (rc == MDB_SUCCESS)
			rc = mdb_cursor_del(cur, 0);
	}
	mdb_cursor_close(cur);
	return rc;
}

/* Apply held settlements in txn: remove each (ACCEPTED, DUPLICATE) or move
 * it to the dead letters (REJECTED), of which the newest
 * OUTBOX_DEAD_LETTERS_MAX are kept. */
static int
outbox_apply_held(struct outbox *o, MDB_txn *txn, const struct outbox_held *held, size_t n)
{
	uint8_t key[8];
	MDB_val k = { 8, key }, v;
	bool dead = false;
	int rc;

	for (size_t i = 0; i < n; i++) {
		const char *reason = held[i].reason;
		be64_put(key, held[i].seq);
		rc = mdb_get(txn, o->pending, &k, &v);
		if (rc == MDB_NOTFOUND)
			continue; /* settled already (a repeated ack) */
		if (rc == MDB_SUCCESS && reason != NULL) {
			size_t rlen = strlen(reason) + 1;
			MDB_val dv = { rlen + v.mv_size, NULL };
			uint8_t *copy = malloc(v.mv_size ? v.mv_size : 1);
			if (copy == NULL) {
				rc = ENOMEM;
			} else {
				memcpy(copy, v.mv_data, v.mv_size);
				rc = mdb_put(txn, o->dead, &k, &dv, MDB_RESERVE);
				if (rc == MDB_SUCCESS) {
					memcpy(dv.mv_data, reason, rlen);
					memcpy((uint8_t *)dv.mv_data + rlen, copy, v.mv_size);
					dead = true;
				}
				free(copy);
			}
		}
		if (rc == MDB_SUCCESS)
			rc = mdb_del(txn, o->pending, &k, NULL);
		if (rc != MDB_SUCCESS)
			return rc;
	}
	return dead ? outbox_dead_trim(o, txn) : MDB_SUCCESS;
}

/* The pages the table's file uses (its high-water mark), 0 if unknown. */
static uint64_t
outbox_file_pages(struct outbox *o)
{
	MDB_envinfo info;

	return mdb_env_info(o->env, &info) == MDB_SUCCESS ? (uint64_t)info.me_last_pgno + 1 : 0;
}

/* Put n envelopes into the table from seq on (after every key in it). */
static int
outbox_table_put(struct outbox *o, MDB_txn *txn, uint64_t seq, const struct outbox_item *items,
    size_t n)
{
	uint8_t key[8];
	MDB_val k = { 8, key };
	int rc = MDB_SUCCESS;

	for (size_t i = 0; i < n && rc == MDB_SUCCESS; i++) {
		MDB_val v = { items[i].len, (void *)items[i].bytes };
		be64_put(key, seq + i);
		rc = mdb_put(txn, o->pending, &k, &v, MDB_APPEND);
	}
	return rc;
}

static int
outbox_table_put_kept(struct outbox *o, MDB_txn *txn, const struct outbox_kept *kept)
{
	int rc = MDB_SUCCESS;

	for (size_t i = 0; i < kept->n && rc == MDB_SUCCESS; i++) {
		struct outbox_item item = { kept->bytes + kept->ones[i].at, kept->ones[i].len };
		rc = outbox_table_put(o, txn, kept->ones[i].seq, &item, 1);
	}
	return rc;
}

static int
outbox_table_set_next(struct outbox *o, MDB_txn *txn, uint64_t next_seq)
{
	uint8_t next[8];
	MDB_val mk = { sizeof(meta_next_seq) - 1, (void *)meta_next_seq }, mv = { 8, next };

	be64_put(next, next_seq);
	return mdb_put(txn, o->meta, &mk, &mv, 0);
}

/* One write transaction, fsynced by its commit: n_held settlements from
 * held, after the kept envelopes to move and the batch's items when direct
 * (puts). Touches only the environment and b: it runs in the commit
 * thread. */
static enum outbox_result
outbox_commit_once(struct outbox *o, struct outbox_batch *b, const struct outbox_held *held,
    size_t n_held, bool puts)
{
	MDB_txn *txn;
	size_t n = puts && b->direct ? b->n : 0;
	int rc;

	rc = mdb_txn_begin(o->env, NULL, 0, &txn);
	if (rc != MDB_SUCCESS)
		return outbox_result_to(o, b->error, rc, "beginning a transaction");
	if (puts) {
		rc = outbox_table_put_kept(o, txn, &b->move);
		if (rc == MDB_SUCCESS)
			rc = outbox_table_put(o, txn, b->first_seq, b->items, n);
		if (rc == MDB_SUCCESS && (b->move.n > 0 || n > 0))
			rc = outbox_table_set_next(o, txn,
			    n > 0 ? b->first_seq + n : b->move.ones[b->move.n - 1].seq + 1);
		if (rc != MDB_SUCCESS) {
			mdb_txn_abort(txn);
			return outbox_result_to(o, b->error, rc, "storing an envelope");
		}
	}
	/* After the puts: a settlement may be of an envelope just moved. */
	rc = outbox_apply_held(o, txn, held, n_held);
	if (rc != MDB_SUCCESS) {
		mdb_txn_abort(txn);
		return outbox_result_to(o, b->error, rc, "settling");
	}
	/* The commit fsyncs: only after it may the source be answered. */
	rc = mdb_txn_commit(txn);
	return outbox_result_to(o, b->error, rc, "committing");
}

/* Put the held settlements of envelopes the table has (below the first
 * one being moved) first; return how many they are. */
static size_t
outbox_held_of_table(struct outbox_held *held, size_t n, const struct outbox_kept *move)
{
	size_t k = 0;

	if (move->n == 0)
		return n;
	for (size_t i = 0; i < n; i++) {
		if (held[i].seq < move->ones[0].seq) {
			struct outbox_held t = held[k];
			held[k++] = held[i];
			held[i] = t;
		}
	}
	return k;
}

/* Commit n held settlements alone. Should the map or the disk be full,
 * in halves down to OUTBOX_SETTLE_SPLIT_MIN, so that some go through
 * where all cannot: on a full map even a deletion copies pages, and each
 * commit frees pages the later ones may use (LMDB reuses a freed page
 * once no snapshot can read it, two commits after the one that freed
 * it); when none of the first half goes, not the second either. The
 * first error, or OUTBOX_OK when every one was committed. */
#define OUTBOX_SETTLE_SPLIT_MIN 16
static enum outbox_result
outbox_commit_held(struct outbox *o, struct outbox_batch *b, struct outbox_held *held, size_t n)
{
	enum outbox_result r, r2;
	size_t settled;

	if (n == 0)
		return OUTBOX_OK;
	r = outbox_commit_once(o, b, held, n, false);
	if (r == OUTBOX_OK) {
		for (size_t i = 0; i < n; i++)
			held[i].committed = true;
		b->settled += n;
		b->commits++;
		return OUTBOX_OK;
	}
	if (r != OUTBOX_FULL || n <= OUTBOX_SETTLE_SPLIT_MIN)
		return r;
	settled = b->settled;
	r = outbox_commit_held(o, b, held, n / 2);
	if (b->settled == settled)
		return r; /* none of the first half: the rest waits too */
	r2 = outbox_commit_held(o, b, held + n / 2, n - n / 2);
	return r != OUTBOX_OK ? r : r2;
}

/* The batch's transaction: the moved envelopes (and direct items) and the
 * settlements in one commit. Should that fail, the settlements of what the
 * table has alone (outbox_commit_held: what they free may make room), then
 * the puts with the settlements of what they move. Settlements not
 * committed are held again for the next commit (outbox_put_finish): the
 * client has let their flights go, and nothing would send them again
 * before a restart. */
static enum outbox_result
outbox_commit_table(struct outbox *o, struct outbox_batch *b)
{
	bool puts = b->move.n > 0 || (b->direct && b->n > 0);
	enum outbox_result r;
	size_t k;

	if (!puts)
		return outbox_commit_held(o, b, b->held, b->n_held);
	r = outbox_commit_once(o, b, b->held, b->n_held, true);
	if (r == OUTBOX_OK) {
		for (size_t i = 0; i < b->n_held; i++)
			b->held[i].committed = true;
		b->settled = b->n_held;
		b->moved = true;
		b->commits++;
		return OUTBOX_OK;
	}
	if (b->n_held == 0)
		return r;
	k = outbox_held_of_table(b->held, b->n_held, &b->move);
	(void)outbox_commit_held(o, b, b->held, k); /* the puts' result is the batch's */
	r = outbox_commit_once(o, b, b->held + k, b->n_held - k, true);
	if (r == OUTBOX_OK) {
		for (size_t i = k; i < b->n_held; i++)
			b->held[i].committed = true;
		b->settled += b->n_held - k;
		b->moved = true;
		b->commits++;
	}
	return r;
}

/* Wait for the batch's write turn: once every batch started before it
 * has written (or will not write), so that the log's records follow the
 * order of their sequences. A batch alone in flight has it at once.
 * Whether an append before it failed: then it must not write. */
static bool
outbox_turn_wait(struct outbox *o, const struct outbox_batch *b)
{
	bool failed;

	pthread_mutex_lock(&o->lock);
	while (o->written != b->no)
		pthread_cond_wait(&o->turn, &o->lock);
	failed = o->pipe_failed;
	pthread_mutex_unlock(&o->lock);
	return failed;
}

/* The batch's write turn is over, written or not; failed marks an append
 * that failed, so that no batch after it writes until every one in
 * flight is finished (outbox_put_finish starts the log again there). */
static void
outbox_turn_pass(struct outbox *o, struct outbox_batch *b, bool failed)
{
	pthread_mutex_lock(&o->lock);
	o->written = b->no + 1;
	o->pipe_failed = o->pipe_failed || failed;
	pthread_cond_broadcast(&o->turn);
	pthread_mutex_unlock(&o->lock);
}

/* Append the batch's items to the log at log_at in its write turn, and
 * fdatasync through fd (the lane's). */
static enum outbox_result
outbox_log_append(struct outbox *o, struct outbox_batch *b, int fd)
{
	enum outbox_result r = OUTBOX_OK;
	size_t need = 0, end;

	/* The records first, outside the turn: they do not depend on where
	 * they go. After them, a zero head where there is room: a record of
	 * an earlier round (or of an append that failed) behind them can
	 * never read as their continuation. */
	for (size_t i = 0; i < b->n; i++)
		need += log_record_bytes(b->items[i].len);
	end = need + LOG_HEAD_BYTES;
	if (end > b->log_cap) {
		uint8_t *grown = realloc(b->log_buf, end);
		if (grown == NULL) {
			outbox_fail(b->error, "outbox: out of memory writing its log");
			r = OUTBOX_FAILED;
		} else {
			b->log_buf = grown;
			b->log_cap = end;
		}
	}
	for (size_t i = 0, at = 0; r == OUTBOX_OK && i < b->n; i++) {
		const struct outbox_item *it = &b->items[i];
		log_record_put(b->log_buf + at, b->first_seq + i, it->bytes, it->len);
		at += log_record_bytes(it->len);
	}
	if (r == OUTBOX_OK)
		memset(b->log_buf + need, 0, end - need);
	if (outbox_turn_wait(o, b) && r == OUTBOX_OK) {
		outbox_fail(b->error, "outbox: a write of its log before this one failed");
		r = OUTBOX_FAILED;
	}
	b->log_at = o->log_at;
	if (r == OUTBOX_OK && need > OUTBOX_LOG_BYTES - o->log_at) {
		/* Only when the kept envelopes could not be moved. */
		outbox_fail(b->error, "outbox: its log is full until what it holds is moved");
		r = OUTBOX_FULL;
	}
	if (end > OUTBOX_LOG_BYTES - o->log_at)
		end = need;
	for (size_t done = 0; r == OUTBOX_OK && done < end;) {
		ssize_t w = pwrite(fd, b->log_buf + done, end - done, (off_t)(o->log_at + done));
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			int e = w < 0 ? errno : ENOSPC;
			outbox_fail(b->error, "outbox: writing its log: %s", strerror(e));
			r = outbox_full_or_failed(e);
			break;
		}
		done += (size_t)w;
	}
	if (r != OUTBOX_OK) {
		outbox_turn_pass(o, b, true);
		return r;
	}
	o->log_at += need;
	outbox_turn_pass(o, b, false);
	/* The file was written whole when made: no size or block to sync. */
	if (fdatasync(fd) < 0) {
		int e = diskroom_errno(fd, errno);
		outbox_fail(b->error, "outbox: syncing its log: %s", strerror(e));
		pthread_mutex_lock(&o->lock);
		o->pipe_failed = true;
		pthread_mutex_unlock(&o->lock);
		return outbox_full_or_failed(e);
	}
	b->commits++;
	return OUTBOX_OK;
}

/* A batch, on a lane: the transaction first (moving what the log kept,
 * and the items themselves when direct), after which the log starts again
 * from its beginning; then the items into the log. */
static void
outbox_commit_batch(struct outbox *o, struct outbox_batch *b, int fd)
{
	b->settled = 0;
	b->commits = 0;
	b->moved = false;
	b->result = OUTBOX_OK;
	if (b->table) {
		/* Between the file-size care of lib/tailcache.h, which runs
		 * after a transaction's answer. */
		pthread_mutex_lock(&o->tail_lock);
		b->result = outbox_commit_table(o, b);
		pthread_mutex_unlock(&o->tail_lock);
		if (b->moved)
			o->log_at = 0;
		/* Alone in flight: should its append fail, the log goes on
		 * from here. */
		b->log_at = o->log_at;
		if (b->direct)
			return;
		/* Not moved (the kept ones stay in the log): no room, or the
		 * disk failed. The items are not taken, unless settlements
		 * were committed: what they freed, the next move may use
		 * (LMDB reuses a page two commits after the one that freed
		 * it). */
		if (b->result != OUTBOX_OK && !(b->result == OUTBOX_FULL && b->settled > 0))
			return;
	}
	if (b->n > 0)
		b->result = outbox_log_append(o, b, fd);
}

static void *
outbox_lane_main(void *arg)
{
	struct outbox_lane *lane = arg;
	struct outbox *o = lane->o;
	struct outbox_batch *b;
	uint64_t one = 1;
	bool table;

	pthread_mutex_lock(&o->lock);
	for (;;) {
		while (o->claimed == o->started && !o->quit)
			pthread_cond_wait(&o->work, &o->lock);
		if (o->quit)
			break;
		b = &o->batches[o->claimed++ % OUTBOX_PIPELINE];
		table = b->table;
		pthread_mutex_unlock(&o->lock);
		outbox_commit_batch(o, b, lane->fd);
		pthread_mutex_lock(&o->lock);
		/* A transaction that appended nothing: alone in flight, its
		 * turn is its own to end. */
		if (o->written == b->no) {
			o->written = b->no + 1;
			pthread_cond_broadcast(&o->turn);
		}
		b->done = true;
		pthread_cond_broadcast(&o->done);
		/* Wake the caller's loop; an eventfd write of 1 cannot fail
		 * short of a bug, and finish waits on done, not on the fd. */
		if (write(o->done_fd, &one, sizeof(one)) < 0) {
			/* nothing to do: outbox_put_finish does not need it */
		}
		/* Answered: after a transaction, the file's next pages
		 * (lib/tailcache.h), before the next one. */
		if (table) {
			pthread_mutex_unlock(&o->lock);
			pthread_mutex_lock(&o->tail_lock);
			tailcache_follow_env(&o->tail, o->env);
			pthread_mutex_unlock(&o->tail_lock);
			pthread_mutex_lock(&o->lock);
		}
	}
	pthread_mutex_unlock(&o->lock);
	return NULL;
}

static void
outbox_free(struct outbox *o)
{
	if (o->n_lanes > 0) {
		pthread_mutex_lock(&o->lock);
		o->quit = true;
		pthread_cond_broadcast(&o->work);
		pthread_mutex_unlock(&o->lock);
		for (size_t i = 0; i < o->n_lanes; i++)
			pthread_join(o->lanes[i].thread, NULL);
	}
	if (o->sync_made) {
		pthread_cond_destroy(&o->work);
		pthread_cond_destroy(&o->turn);
		pthread_cond_destroy(&o->done);
		pthread_mutex_destroy(&o->lock);
		pthread_mutex_destroy(&o->tail_lock);
	}
	if (o->done_fd >= 0)
		close(o->done_fd);
	for (size_t i = 0; i < OUTBOX_PIPELINE; i++) {
		struct outbox_batch *b = &o->batches[i];
		if (o->lanes[i].fd >= 0)
			close(o->lanes[i].fd);
		free(b->held);
		free(b->log_buf);
		kept_free(&b->move);
	}
	if (o->log_fd >= 0)
		close(o->log_fd);
	if (o->env != NULL)
		mdb_env_close(o->env);
	free(o->held);
	kept_free(&o->kept);
	free(o);
}

/* Open the log at dir/log, making it (written whole with zeros) when it is
 * missing or short, and sync it and its name in the directory: every
 * time, as a run killed while making it may have synced neither. */
static int
outbox_log_open(struct outbox *o, const char *dir, char *err, size_t errlen)
{
	char path[4096];
	static const uint8_t zeros[64 * 1024];
	struct stat st;
	int dfd;

	if (snprintf(path, sizeof(path), "%s/" OUTBOX_LOG_FILE, dir) >= (int)sizeof(path)) {
		snprintf(err, errlen, "%s: the outbox path is too long", dir);
		return -1;
	}
	o->log_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (o->log_fd < 0 || fstat(o->log_fd, &st) < 0) {
		snprintf(err, errlen, "%s: cannot open the outbox's log: %s", path,
		    strerror(errno));
		return -1;
	}
	/* One writer: a second would write over the first's records. */
	if (flock(o->log_fd, LOCK_EX | LOCK_NB) < 0) {
		snprintf(err, errlen, "%s: the outbox is in use by another process (%s)", dir,
		    errno == EWOULDBLOCK ? "is a second adapter running with this outbox?"
					 : strerror(errno));
		return -1;
	}
	for (off_t at = st.st_size; at < (off_t)OUTBOX_LOG_BYTES; at += (off_t)sizeof(zeros)) {
		size_t len = OUTBOX_LOG_BYTES - (size_t)at < sizeof(zeros)
		    ? OUTBOX_LOG_BYTES - (size_t)at : sizeof(zeros);
		errno = 0;
		if (pwrite(o->log_fd, zeros, len, at) != (ssize_t)len) {
			snprintf(err, errlen, "%s: cannot write the outbox's log: %s", path,
			    strerror(errno ? errno : ENOSPC));
			return -1;
		}
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fsync(o->log_fd) < 0 || dfd < 0 || fsync(dfd) < 0) {
		snprintf(err, errlen, "%s: cannot sync the outbox's log: %s", path,
		    strerror(errno));
		if (dfd >= 0)
			close(dfd);
		return -1;
	}
	close(dfd);
	/* Each lane's own open file: a write-back error is reported once to
	 * each open file that syncs. */
	for (size_t i = 0; i < OUTBOX_PIPELINE; i++) {
		o->lanes[i].fd = open(path, O_RDWR | O_CLOEXEC);
		if (o->lanes[i].fd < 0) {
			snprintf(err, errlen, "%s: cannot open the outbox's log: %s", path,
			    strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* Move into the table what the log holds from the table's next_seq on:
 * envelopes answered before a stop or a crash and not yet moved. The log
 * is read from its beginning while its records check and follow each
 * other; older ones (below next_seq) were moved already. Should the table
 * have no room for them, they are kept, as if just answered, so that the
 * adapter starts, delivers them and settles what makes room. */
static int
outbox_log_recover(struct outbox *o, const char *dir, char *err, size_t errlen)
{
	uint8_t *log = malloc(OUTBOX_LOG_BYTES);
	size_t at = 0, size, step;
	uint64_t seq, prev = 0, first;
	const uint8_t *bytes;
	size_t len;
	MDB_txn *txn = NULL;
	int rc = MDB_SUCCESS;

	if (log == NULL) {
		snprintf(err, errlen, "out of memory reading the outbox's log");
		return -1;
	}
	for (size = 0; size < OUTBOX_LOG_BYTES;) {
		ssize_t r = pread(o->log_fd, log + size, OUTBOX_LOG_BYTES - size, (off_t)size);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			/* Not read whole, not started over: what is past the
			 * gap may be answered envelopes. */
			snprintf(err, errlen, "%s: cannot read the outbox's log: %s", dir,
			    r < 0 ? strerror(errno) : "shorter than it was made");
			free(log);
			return -1;
		}
		size += (size_t)r;
	}
	while ((step = log_record_get(log, at, size, &seq, &bytes, &len)) > 0) {
		if (at > 0 && seq != prev + 1)
			break;
		prev = seq;
		at += step;
		if (seq < o->next_seq)
			continue;
		if (!kept_reserve(&o->kept, 1, len)) {
			snprintf(err, errlen, "out of memory reading the outbox's log");
			free(log);
			return -1;
		}
		kept_add(&o->kept, seq, bytes, len);
	}
	free(log);
	if (o->kept.n == 0)
		return 0;
	first = o->kept.ones[0].seq;
	o->next_seq = prev + 1;
	rc = mdb_txn_begin(o->env, NULL, 0, &txn);
	if (rc == MDB_SUCCESS) {
		rc = outbox_table_put_kept(o, txn, &o->kept);
		if (rc == MDB_SUCCESS)
			rc = outbox_table_set_next(o, txn, o->next_seq);
		if (rc == MDB_SUCCESS)
			rc = mdb_txn_commit(txn);
		else
			mdb_txn_abort(txn);
	}
	if (rc == MDB_SUCCESS) {
		kept_clear(&o->kept); /* moved: the log starts over */
		return 0;
	}
	if (outbox_full_or_failed(rc) == OUTBOX_FULL) {
		/* No room in the table now: they stay kept, delivered from
		 * memory and moved later, and the log goes on after them. */
		o->log_at = at;
		return 0;
	}
	snprintf(err, errlen,
	    "%s: cannot move the envelopes its log holds (from sequence %" PRIu64
	    ") into the outbox: %s",
	    dir, first, mdb_strerror(rc));
	return -1;
}

/* The lanes, their lock and signals. */
static int
outbox_lanes_start(struct outbox *o, const char *path, char *err, size_t errlen)
{
	int rc;

	o->done_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (o->done_fd < 0) {
		snprintf(err, errlen, "%s: cannot make the commit threads' signal: %s", path,
		    strerror(errno));
		return -1;
	}
	if (pthread_mutex_init(&o->lock, NULL) != 0 ||
	    pthread_mutex_init(&o->tail_lock, NULL) != 0 ||
	    pthread_cond_init(&o->work, NULL) != 0 || pthread_cond_init(&o->turn, NULL) != 0 ||
	    pthread_cond_init(&o->done, NULL) != 0) {
		/* Only where memory has run out: nothing to undo on Linux. */
		snprintf(err, errlen, "%s: cannot make the commit threads' signals", path);
		return -1;
	}
	o->sync_made = true;
	for (size_t i = 0; i < OUTBOX_PIPELINE; i++) {
		o->lanes[i].o = o;
		rc = pthread_create(&o->lanes[i].thread, NULL, outbox_lane_main, &o->lanes[i]);
		if (rc != 0) {
			snprintf(err, errlen, "%s: cannot start a commit thread: %s", path,
			    strerror(rc));
			return -1;
		}
		o->n_lanes++;
	}
	return 0;
}

struct outbox *
outbox_open(const char *path, uint64_t map_bytes, char *err, size_t errlen)
{
	struct outbox *o = calloc(1, sizeof(*o));
	MDB_txn *txn = NULL;
	bool held_made;
	int rc;

	if (o == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	o->done_fd = -1;
	o->log_fd = -1;
	for (size_t i = 0; i < OUTBOX_PIPELINE; i++)
		o->lanes[i].fd = -1;
	o->move_bytes = map_bytes / 256 < OUTBOX_MOVE_BYTES ? (size_t)(map_bytes / 256)
							   : OUTBOX_MOVE_BYTES;
	o->move_after_ms = OUTBOX_MOVE_AFTER_MS;
	/* Every batch's held list as large as the outbox's: a transaction in
	 * any slot swaps its list in, and outbox_settle grows it by doubling. */
	o->held_cap = OUTBOX_SETTLE_HELD_MAX;
	o->held_commit_at = OUTBOX_SETTLE_HELD_MAX;
	o->held = calloc(o->held_cap, sizeof(*o->held));
	held_made = o->held != NULL;
	for (size_t i = 0; i < OUTBOX_PIPELINE; i++) {
		o->batches[i].held_cap = OUTBOX_SETTLE_HELD_MAX;
		o->batches[i].held = calloc(OUTBOX_SETTLE_HELD_MAX, sizeof(*o->held));
		held_made = held_made && o->batches[i].held != NULL;
	}
	if (!held_made || sodium_init() < 0) {
		snprintf(err, errlen, "out of memory");
		outbox_free(o);
		return NULL;
	}
	/* What waits in it is the adapter's alone: 0700, its files 0600. */
	if (mkdir(path, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "%s: cannot create the outbox directory: %s", path,
		    strerror(errno));
		outbox_free(o);
		return NULL;
	}
	/* The log first: its lock keeps a second process (or a second open
	 * in this one, which LMDB forbids) away from the environment too. */
	if (outbox_log_open(o, path, err, errlen) < 0) {
		outbox_free(o);
		return NULL;
	}
	/* MDB_NOTLS: read transactions are not tied to a thread, the write
	 * ones run in the commit thread. */
	if ((rc = mdb_env_create(&o->env)) != MDB_SUCCESS ||
	    (rc = mdb_env_set_maxdbs(o->env, 4)) != MDB_SUCCESS ||
	    (rc = mdb_env_set_mapsize(o->env, map_bytes)) != MDB_SUCCESS ||
	    (rc = mdb_env_open(o->env, path, MDB_NOTLS, 0600)) != MDB_SUCCESS ||
	    (rc = mdb_txn_begin(o->env, NULL, 0, &txn)) != MDB_SUCCESS ||
	    (rc = mdb_dbi_open(txn, "pending", MDB_CREATE, &o->pending)) != MDB_SUCCESS ||
	    (rc = mdb_dbi_open(txn, "dead", MDB_CREATE, &o->dead)) != MDB_SUCCESS ||
	    (rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &o->meta)) != MDB_SUCCESS ||
	    (rc = outbox_table_next(o, txn, &o->next_seq)) != MDB_SUCCESS ||
	    (rc = mdb_txn_commit(txn)) != MDB_SUCCESS) {
		snprintf(err, errlen, "%s: cannot open the outbox: %s", path, mdb_strerror(rc));
		if (txn != NULL && rc != MDB_SUCCESS)
			mdb_txn_abort(txn);
		outbox_free(o);
		return NULL;
	}
	if (outbox_log_recover(o, path, err, errlen) < 0) {
		outbox_free(o);
		return NULL;
	}
	{
		MDB_stat st;
		if (mdb_env_stat(o->env, &st) == MDB_SUCCESS && st.ms_psize > 0)
			o->map_pages = map_bytes / st.ms_psize;
		o->table_pages = outbox_file_pages(o);
	}
	tailcache_follow_env(&o->tail, o->env);
	o->log_end = o->log_at;
	o->flight_seq = o->next_seq;
	if (outbox_lanes_start(o, path, err, errlen) < 0) {
		outbox_free(o);
		return NULL;
	}
	return o;
}

static void
outbox_drop_held(struct outbox_held *held, size_t *n)
{
	for (size_t i = 0; i < *n; i++)
		free(held[i].reason);
	*n = 0;
}

/* Room for one more held settlement (the list doubles). */
static bool
outbox_held_room(struct outbox *o)
{
	struct outbox_held *grown;

	if (o->n_held < o->held_cap)
		return true;
	grown = realloc(o->held, 2 * o->held_cap * sizeof(*grown));
	if (grown == NULL)
		return false;
	o->held = grown;
	o->held_cap *= 2;
	return true;
}

/* Hold again the settlements of batch b its commits did not take, for
 * the next commit: once answered, an envelope is not sent again before a
 * restart, so one let go here would stay pending (and take room) for the
 * rest of the run. Out of memory, the rest are let go. */
static void
outbox_hold_again(struct outbox *o, struct outbox_batch *b)
{
	for (size_t i = 0; i < b->n_held; i++) {
		if (b->held[i].committed)
			continue;
		if (!outbox_held_room(o))
			return;
		o->held[o->n_held++] = b->held[i];
		b->held[i].reason = NULL;
	}
}

/* Whether the kept envelopes go into the table with the next batch, more
 * bytes (more_log in the log) to come. */
static bool
outbox_move_due(const struct outbox *o, size_t more, size_t more_log)
{
	return o->kept.n > 0 &&
	    (o->kept.used + more >= o->move_bytes ||
		o->log_end + more_log > OUTBOX_LOG_BYTES / 2 ||
		clock_monotonic_ms() - o->kept.since_ms >= o->move_after_ms);
}

void
outbox_set_move_after(struct outbox *o, int64_t ms)
{
	o->move_after_ms = ms;
}

/* Hand the held settlements and the kept envelopes to batch b (whose
 * lists are empty), or take them back from a batch not started. */
static void
outbox_swap_with_batch(struct outbox *o, struct outbox_batch *b)
{
	struct outbox_held *held = o->held;
	size_t cap = o->held_cap, n = o->n_held;

	o->held = b->held;
	o->held_cap = b->held_cap;
	o->n_held = b->n_held;
	b->held = held;
	b->held_cap = cap;
	b->n_held = n;
	kept_swap(&o->kept, &b->move);
}

bool
outbox_put_room(const struct outbox *o)
{
	return o->n_flight == 0 ||
	    (o->n_flight < OUTBOX_PIPELINE && !o->table_in_flight && !o->failing &&
		!outbox_move_due(o, 0, 0));
}

enum outbox_result
outbox_put_start(struct outbox *o, const struct outbox_item *items, size_t n)
{
	struct outbox_batch *b;
	size_t bytes = 0, need = 0;
	bool table, direct;

	if (!outbox_put_room(o)) {
		outbox_fail(o->error, "outbox: no room for another put until one in flight is "
				      "finished");
		return OUTBOX_BUSY;
	}
	for (size_t i = 0; i < n; i++) {
		bytes += items[i].len;
		need += log_record_bytes(items[i].len);
	}
	table = n == 0 || outbox_move_due(o, bytes, need);
	/* Into the table straight, as one commit, when the log has no room
	 * for them or they would be more than a move may hold. */
	direct = n > 0 &&
	    (bytes > o->move_bytes || OUTBOX_TABLE_HALF(o->table_pages, o->map_pages) ||
		need > OUTBOX_LOG_BYTES - (table ? 0 : o->log_end));
	table = table || direct;
	/* A transaction is in flight alone. */
	if (table && o->n_flight > 0) {
		outbox_fail(o->error, "outbox: this put waits until every put in flight is "
				      "finished");
		return OUTBOX_BUSY;
	}
	b = &o->batches[(o->head + o->n_flight) % OUTBOX_PIPELINE];
	b->table = table;
	b->direct = direct;
	/* The held settlements and the kept envelopes go with a commit of
	 * the table; new ones are held (and kept) apart. */
	b->n_held = 0;
	kept_clear(&b->move);
	if (table)
		outbox_swap_with_batch(o, b);
	/* Room for the items (and those of the batches in flight) in the
	 * kept list they will join: this one, or, should the move fail, the
	 * one handed to it. */
	if (n > 0 && !direct &&
	    (!kept_reserve(&o->kept, o->flight_n + n, o->flight_bytes + bytes) ||
		(table && !kept_reserve(&b->move, n, bytes)))) {
		/* Nothing started: what was handed over goes back. */
		if (table)
			outbox_swap_with_batch(o, b);
		outbox_fail(o->error, "outbox: out of memory keeping envelopes");
		return OUTBOX_FAILED;
	}
	b->items = items;
	b->n = n;
	b->first_seq = o->flight_seq;
	b->bytes = bytes;
	b->done = false;
	o->flight_seq += n;
	o->n_flight++;
	o->table_in_flight = table;
	if (!direct) {
		o->flight_n += n;
		o->flight_bytes += bytes;
		o->log_end += table ? 0 : need;
	}
	pthread_mutex_lock(&o->lock);
	b->no = o->started++;
	pthread_cond_signal(&o->work);
	pthread_mutex_unlock(&o->lock);
	return OUTBOX_OK;
}

bool
outbox_put_busy(const struct outbox *o)
{
	return o->n_flight > 0;
}

int
outbox_put_fd(const struct outbox *o)
{
	return o->done_fd;
}

/* Empty done_fd (under lock, where the lanes write it): a caller with
 * puts in flight asks again after each, so no end goes unseen. */
static void
outbox_done_fd_empty(struct outbox *o)
{
	uint64_t count;

	if (read(o->done_fd, &count, sizeof(count)) < 0) {
		/* EAGAIN only: nothing was left to read */
	}
}

bool
outbox_put_ready(struct outbox *o)
{
	bool ready;

	pthread_mutex_lock(&o->lock);
	outbox_done_fd_empty(o);
	ready = o->n_flight > 0 && o->batches[o->head].done;
	pthread_mutex_unlock(&o->lock);
	return ready;
}

/* After a failed append: a zero head where the first failed one began, so
 * that neither it nor those behind it (which may have synced) read as the
 * log's continuation, should a move start the log over before an append
 * writes there; and a sync through every lane's file, so that each has
 * been told of a write-back error now rather than at its next put. Best
 * effort: an append after this finds a disk that still fails. */
static void
outbox_log_cut(struct outbox *o, size_t at)
{
	static const uint8_t zeros[LOG_HEAD_BYTES];

	if (OUTBOX_LOG_BYTES - at >= sizeof(zeros) &&
	    pwrite(o->log_fd, zeros, sizeof(zeros), (off_t)at) < 0) {
		/* the next append reports the disk */
	}
	for (size_t i = 0; i < OUTBOX_PIPELINE; i++)
		if (fdatasync(o->lanes[i].fd) < 0) {
			/* told now: this lane's next sync is its own */
		}
}

/* Every batch in flight is finished: the lanes are idle, the caller's
 * view of the log and the sequences is theirs again; after a failure the
 * log goes on from before the first that failed. */
static void
outbox_put_drained(struct outbox *o)
{
	if (o->failing)
		outbox_log_cut(o, o->rewind_to);
	pthread_mutex_lock(&o->lock);
	if (o->failing)
		o->log_at = o->rewind_to;
	o->pipe_failed = false;
	o->log_end = o->log_at;
	pthread_mutex_unlock(&o->lock);
	o->failing = false;
	o->table_in_flight = false;
	o->flight_seq = o->next_seq;
	o->flight_n = o->flight_bytes = 0;
}

enum outbox_result
outbox_put_finish(struct outbox *o, uint64_t *first_seq)
{
	struct outbox_batch *b;
	enum outbox_result r;
	bool logged;

	if (o->n_flight == 0) {
		outbox_fail(o->error, "outbox: no put is committing");
		return OUTBOX_FAILED;
	}
	b = &o->batches[o->head];
	pthread_mutex_lock(&o->lock);
	while (!b->done)
		pthread_cond_wait(&o->done, &o->lock);
	/* Not readable for a put finished here. */
	outbox_done_fd_empty(o);
	pthread_mutex_unlock(&o->lock);
	o->head = (o->head + 1) % OUTBOX_PIPELINE;
	o->n_flight--;
	logged = b->n > 0 && !b->direct;
	if (logged) {
		o->flight_n -= b->n;
		o->flight_bytes -= b->bytes;
	}
	o->stats.settled += b->settled;
	o->stats.commits += b->commits;
	if (b->table)
		o->table_pages = outbox_file_pages(o);
	if (b->table) {
		outbox_hold_again(o, b);
		o->held_commit_at = o->n_held + OUTBOX_SETTLE_HELD_MAX;
	}
	outbox_drop_held(b->held, &b->n_held);
	if (b->moved) {
		kept_clear(&b->move);
	} else if (b->table) {
		/* Not moved: they are still the kept ones, and the first. */
		kept_swap(&o->kept, &b->move);
	}
	r = b->result;
	if (r == OUTBOX_OK && o->failing) {
		/* Synced, but behind a record that may not be: recovery
		 * would stop before it. o->error says why. */
		r = OUTBOX_FAILED;
	} else if (r != OUTBOX_OK) {
		memcpy(o->error, b->error, sizeof(o->error));
		if (!o->failing) {
			/* The log goes on from here once the rest are done. */
			o->failing = true;
			o->rewind_to = b->log_at;
		}
	}
	if (r == OUTBOX_OK) {
		for (size_t i = 0; logged && i < b->n; i++)
			kept_add(&o->kept, b->first_seq + i, b->items[i].bytes, b->items[i].len);
		o->stats.put += b->n;
		o->stats.put_commits += b->n > 0;
		o->next_seq = b->first_seq + b->n;
		if (first_seq != NULL)
			*first_seq = b->first_seq;
	}
	if (o->n_flight == 0)
		outbox_put_drained(o);
	return r;
}

enum outbox_result
outbox_put(struct outbox *o, const struct outbox_item *items, size_t n, uint64_t *first_seq)
{
	enum outbox_result r;

	if (o->n_flight > 0) {
		outbox_fail(o->error, "outbox: a put is already committing");
		return OUTBOX_FAILED;
	}
	r = outbox_put_start(o, items, n);

	return r == OUTBOX_OK ? outbox_put_finish(o, first_seq) : r;
}

void
outbox_close(struct outbox **op)
{
	struct outbox *o = *op;

	if (o == NULL)
		return;
	while (o->n_flight > 0)
		outbox_put_finish(o, NULL);
	/* Not committed is still safe (sent again, DUPLICATE; the log's
	 * envelopes moved at the next open): no error here. */
	outbox_flush(o);
	outbox_drop_held(o->held, &o->n_held);
	outbox_free(o);
	*op = NULL;
}

/* Visit the kept envelopes of k from seq from on, up to *visited == max. */
static bool
outbox_scan_kept(const struct outbox_kept *k, uint64_t from, size_t max, outbox_fn fn, void *arg,
    size_t *visited, uint64_t *at)
{
	for (size_t i = 0; i < k->n && *visited < max; i++) {
		const struct outbox_kept_one *one = &k->ones[i];
		if (one->seq < from)
			continue;
		*at = one->seq;
		(*visited)++;
		if (fn(arg, one->seq, k->bytes + one->at, one->len) != 0)
			return false;
		*at = one->seq + 1;
	}
	return true;
}

enum outbox_result
outbox_scan(struct outbox *o, uint64_t from, size_t max, outbox_fn fn, void *arg, uint64_t *next)
{
	MDB_txn *txn;
	MDB_cursor *cur;
	uint8_t key[8];
	MDB_val k = { 8, key }, v;
	size_t visited = 0;
	uint64_t at = from, boundary;
	bool go_on = true;
	int rc;

	rc = mdb_txn_begin(o->env, NULL, MDB_RDONLY, &txn);
	if (rc != MDB_SUCCESS)
		return outbox_result_of(o, rc, "beginning a read");
	rc = outbox_table_next(o, txn, &boundary);
	if (rc == MDB_SUCCESS)
		rc = mdb_cursor_open(txn, o->pending, &cur);
	if (rc != MDB_SUCCESS) {
		mdb_txn_abort(txn);
		return outbox_result_of(o, rc, "opening a cursor");
	}
	be64_put(key, from);
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == MDB_SUCCESS && visited < max;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		at = be64_get(k.mv_data);
		if (at >= boundary)
			break;
		visited++;
		if (fn(arg, at, v.mv_data, v.mv_size) != 0) {
			go_on = false;
			break;
		}
		at++;
	}
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	/* A table that fails to read midway is not its end: what follows
	 * would go unsent, unsaid. */
	if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND)
		return outbox_result_of(o, rc, "reading the pending envelopes");
	/* Then the envelopes the table did not have when read: those being
	 * moved (only read by the commit thread) and the kept ones. */
	if (from < boundary)
		from = boundary;
	if (go_on && o->table_in_flight)
		go_on = outbox_scan_kept(&o->batches[o->head].move, from, max, fn, arg, &visited,
		    &at);
	if (go_on)
		outbox_scan_kept(&o->kept, from, max, fn, arg, &visited, &at);
	if (next != NULL)
		*next = at;
	return OUTBOX_OK;
}

enum outbox_result
outbox_settle(struct outbox *o, const struct outbox_settlement *s, size_t n)
{
	enum outbox_result flushed = OUTBOX_OK;

	for (size_t i = 0; i < n; i++) {
		struct outbox_held *h;
		/* Should the commit fail, the held ones stay held (for the
		 * next commit), and so do these: the next try here is once
		 * OUTBOX_SETTLE_HELD_MAX more are held. */
		if (o->n_held >= o->held_commit_at && o->n_flight == 0)
			flushed = outbox_flush(o);
		if (!outbox_held_room(o)) {
			/* A commit runs: hold more until it is done. */
			outbox_fail(o->error, "outbox: out of memory holding a settlement");
			return OUTBOX_FAILED;
		}
		h = &o->held[o->n_held];
		h->seq = s[i].seq;
		h->reason = NULL;
		h->committed = false;
		if (s[i].rejected && (h->reason = strdup(s[i].reason ? s[i].reason : "")) == NULL) {
			/* Left pending: sent again after a restart, rejected again. */
			outbox_fail(o->error, "outbox: out of memory holding a settlement");
			return OUTBOX_FAILED;
		}
		o->n_held++;
	}
	if (flushed != OUTBOX_OK) {
		char why[sizeof(o->error)];
		memcpy(why, o->error, sizeof(why));
		outbox_fail(o->error, "%.400s (%zu settlements held for the next commit)", why,
		    o->n_held);
	}
	return flushed;
}

enum outbox_result
outbox_flush(struct outbox *o)
{
	/* While puts are in flight, the held ones go with the next. */
	if ((o->n_held == 0 && o->kept.n == 0) || o->n_flight > 0)
		return OUTBOX_OK;
	return outbox_put(o, NULL, 0, NULL);
}

void
outbox_get_stats(const struct outbox *o, struct outbox_stats *stats)
{
	*stats = o->stats;
}

enum outbox_result
outbox_counts(struct outbox *o, struct outbox_counts *c)
{
	MDB_txn *txn;
	MDB_stat st;
	uint64_t boundary = 1;
	int rc;

	rc = mdb_txn_begin(o->env, NULL, MDB_RDONLY, &txn);
	if (rc != MDB_SUCCESS)
		return outbox_result_of(o, rc, "beginning a read");
	rc = mdb_stat(txn, o->pending, &st);
	c->pending = rc == MDB_SUCCESS ? st.ms_entries : 0;
	if (rc == MDB_SUCCESS)
		rc = outbox_table_next(o, txn, &boundary);
	if (rc == MDB_SUCCESS)
		rc = mdb_stat(txn, o->dead, &st);
	c->dead_letters = rc == MDB_SUCCESS ? st.ms_entries : 0;
	mdb_txn_abort(txn);
	/* And those only the log has, as the scan visits them. */
	if (o->table_in_flight) {
		const struct outbox_kept *move = &o->batches[o->head].move;
		for (size_t i = 0; i < move->n; i++)
			c->pending += move->ones[i].seq >= boundary;
	}
	c->pending += o->kept.n;
	return outbox_result_of(o, rc, "counting");
}

enum outbox_result
outbox_scan_dead(struct outbox *o, outbox_dead_fn fn, void *arg)
{
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k, v;
	int rc;

	rc = mdb_txn_begin(o->env, NULL, MDB_RDONLY, &txn);
	if (rc != MDB_SUCCESS)
		return outbox_result_of(o, rc, "beginning a read");
	rc = mdb_cursor_open(txn, o->dead, &cur);
	if (rc != MDB_SUCCESS) {
		mdb_txn_abort(txn);
		return outbox_result_of(o, rc, "opening a cursor");
	}
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == MDB_SUCCESS;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		const char *reason = v.mv_data;
		size_t rlen = strnlen(reason, v.mv_size);
		if (rlen == v.mv_size)
			continue; /* not a dead letter of ours */
		if (fn(arg, be64_get(k.mv_data), reason, (const uint8_t *)v.mv_data + rlen + 1,
			v.mv_size - rlen - 1) != 0)
			break;
	}
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	return OUTBOX_OK;
}
