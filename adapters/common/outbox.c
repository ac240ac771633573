/*
 * outbox: owns an adapter's LMDB environment: "pending" (sequence ->
 * packed Envelope), "dead" (sequence -> reason, NUL, packed Envelope) and
 * "meta" (next_seq). Keys are 8-byte big-endian so that byte order is
 * number order.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <lmdb.h>

#include "be64.h"
#include "diskroom.h"
#include "outbox.h"

/* A settlement held for the next commit; reason is NULL unless REJECTED. */
struct outbox_held {
	uint64_t seq;
	char *reason;
};

struct outbox {
	MDB_env *env;
	MDB_dbi pending, dead, meta;
	uint64_t next_seq;
	struct outbox_held *held; /* OUTBOX_SETTLE_HELD_MAX of them */
	size_t n_held;
	struct outbox_stats stats;
	char error[512];
};

static void __attribute__((format(printf, 2, 3)))
outbox_fail(struct outbox *o, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(o->error, sizeof(o->error), fmt, ap);
	va_end(ap);
}

const char *
outbox_error(const struct outbox *o)
{
	return o->error;
}

static enum outbox_result
outbox_result_of(struct outbox *o, int rc, const char *what)
{
	if (rc == MDB_SUCCESS)
		return OUTBOX_OK;
	if (rc == EIO) {
		mdb_filehandle_t fd;
		if (mdb_env_get_fd(o->env, &fd) == MDB_SUCCESS)
			rc = diskroom_errno(fd, rc);
	}
	outbox_fail(o, "outbox: %s: %s", what, mdb_strerror(rc));
	return rc == MDB_MAP_FULL || rc == ENOSPC || rc == EDQUOT ? OUTBOX_FULL : OUTBOX_FAILED;
}

static const char meta_next_seq[] = "next_seq";

static void outbox_drop_held(struct outbox *o);

/* The next sequence is kept in meta and moves with every put, so that a
 * sequence is never reused, even once everything was settled. */
static int
outbox_find_next(struct outbox *o, MDB_txn *txn)
{
	MDB_val k = { sizeof(meta_next_seq) - 1, (void *)meta_next_seq }, v;
	int rc = mdb_get(txn, o->meta, &k, &v);

	o->next_seq = 1;
	if (rc == MDB_NOTFOUND)
		return MDB_SUCCESS;
	if (rc != MDB_SUCCESS)
		return rc;
	if (v.mv_size != 8)
		return MDB_CORRUPTED;
	o->next_seq = be64_get(v.mv_data);
	return MDB_SUCCESS;
}

struct outbox *
outbox_open(const char *path, uint64_t map_bytes, char *err, size_t errlen)
{
	struct outbox *o = calloc(1, sizeof(*o));
	MDB_txn *txn = NULL;
	int rc;

	if (o == NULL || (o->held = calloc(OUTBOX_SETTLE_HELD_MAX, sizeof(*o->held))) == NULL) {
		snprintf(err, errlen, "out of memory");
		free(o);
		return NULL;
	}
	/* What waits in it is the adapter's alone: 0700, its files 0600. */
	if (mkdir(path, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "%s: cannot create the outbox directory: %s", path,
		    strerror(errno));
		free(o->held);
		free(o);
		return NULL;
	}
	if ((rc = mdb_env_create(&o->env)) != MDB_SUCCESS ||
	    (rc = mdb_env_set_maxdbs(o->env, 4)) != MDB_SUCCESS ||
	    (rc = mdb_env_set_mapsize(o->env, map_bytes)) != MDB_SUCCESS ||
	    (rc = mdb_env_open(o->env, path, MDB_NOTLS, 0600)) != MDB_SUCCESS ||
	    (rc = mdb_txn_begin(o->env, NULL, 0, &txn)) != MDB_SUCCESS ||
	    (rc = mdb_dbi_open(txn, "pending", MDB_CREATE, &o->pending)) != MDB_SUCCESS ||
	    (rc = mdb_dbi_open(txn, "dead", MDB_CREATE, &o->dead)) != MDB_SUCCESS ||
	    (rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &o->meta)) != MDB_SUCCESS ||
	    (rc = outbox_find_next(o, txn)) != MDB_SUCCESS ||
	    (rc = mdb_txn_commit(txn)) != MDB_SUCCESS) {
		snprintf(err, errlen, "%s: cannot open the outbox: %s", path, mdb_strerror(rc));
		if (txn != NULL && rc != MDB_SUCCESS)
			mdb_txn_abort(txn);
		mdb_env_close(o->env);
		free(o->held);
		free(o);
		return NULL;
	}
	return o;
}

void
outbox_close(struct outbox **op)
{
	if (*op == NULL)
		return;
	/* Not committed is still safe (sent again, DUPLICATE): no error here. */
	outbox_flush(*op);
	outbox_drop_held(*op);
	mdb_env_close((*op)->env);
	free((*op)->held);
	free(*op);
	*op = NULL;
}

/* Apply the held settlements in txn: remove each (ACCEPTED, DUPLICATE)
 * or move it to the dead letters (REJECTED). */
static int
outbox_apply_held(struct outbox *o, MDB_txn *txn)
{
	uint8_t key[8];
	MDB_val k = { 8, key }, v;
	int rc;

	for (size_t i = 0; i < o->n_held; i++) {
		const char *reason = o->held[i].reason;
		be64_put(key, o->held[i].seq);
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
				}
				free(copy);
			}
		}
		if (rc == MDB_SUCCESS)
			rc = mdb_del(txn, o->pending, &k, NULL);
		if (rc != MDB_SUCCESS)
			return rc;
	}
	return MDB_SUCCESS;
}

static void
outbox_drop_held(struct outbox *o)
{
	for (size_t i = 0; i < o->n_held; i++)
		free(o->held[i].reason);
	o->n_held = 0;
}

/* One write transaction, fsynced by its commit: the held settlements, then
 * items appended (n may be 0). */
static enum outbox_result
outbox_commit(struct outbox *o, const struct outbox_item *items, size_t n, uint64_t *first_seq)
{
	MDB_txn *txn;
	uint8_t key[8];
	MDB_val k = { 8, key };
	uint64_t seq = o->next_seq;
	size_t settled = o->n_held;
	int rc;

	rc = mdb_txn_begin(o->env, NULL, 0, &txn);
	if (rc != MDB_SUCCESS)
		return outbox_result_of(o, rc, "beginning a transaction");
	rc = outbox_apply_held(o, txn);
	if (rc != MDB_SUCCESS) {
		enum outbox_result r = outbox_result_of(o, rc, "settling");
		mdb_txn_abort(txn);
		/* Not settled: they will be sent again and answered DUPLICATE.
		 * The items are stored without them. */
		outbox_drop_held(o);
		return n > 0 ? outbox_commit(o, items, n, first_seq) : r;
	}
	for (size_t i = 0; i < n; i++) {
		MDB_val v = { items[i].len, (void *)items[i].bytes };
		be64_put(key, seq + i);
		rc = mdb_put(txn, o->pending, &k, &v, MDB_APPEND);
		if (rc != MDB_SUCCESS) {
			mdb_txn_abort(txn);
			return outbox_result_of(o, rc, "storing an envelope");
		}
	}
	if (n > 0) {
		uint8_t next[8];
		MDB_val mk = { sizeof(meta_next_seq) - 1, (void *)meta_next_seq }, mv = { 8, next };
		be64_put(next, seq + n);
		rc = mdb_put(txn, o->meta, &mk, &mv, 0);
		if (rc != MDB_SUCCESS) {
			mdb_txn_abort(txn);
			return outbox_result_of(o, rc, "storing the next sequence");
		}
	}
	/* The commit fsyncs: only after it may the source be answered. */
	rc = mdb_txn_commit(txn);
	if (rc != MDB_SUCCESS)
		return outbox_result_of(o, rc, "committing");
	outbox_drop_held(o);
	o->next_seq = seq + n;
	o->stats.commits++;
	o->stats.put += n;
	o->stats.settled += settled;
	if (first_seq != NULL)
		*first_seq = seq;
	return OUTBOX_OK;
}

enum outbox_result
outbox_put(struct outbox *o, const struct outbox_item *items, size_t n, uint64_t *first_seq)
{
	enum outbox_result r = outbox_commit(o, items, n, first_seq);

	/* Full: what the held settlements free, committed alone first, may
	 * make room (LMDB reuses a page only after the commit that freed it). */
	if (r == OUTBOX_FULL && o->n_held > 0 && outbox_flush(o) == OUTBOX_OK)
		r = outbox_commit(o, items, n, first_seq);
	return r;
}

enum outbox_result
outbox_scan(struct outbox *o, uint64_t from, size_t max, outbox_fn fn, void *arg, uint64_t *next)
{
	MDB_txn *txn;
	MDB_cursor *cur;
	uint8_t key[8];
	MDB_val k = { 8, key }, v;
	size_t visited = 0;
	uint64_t at = from;
	int rc;

	rc = mdb_txn_begin(o->env, NULL, MDB_RDONLY, &txn);
	if (rc != MDB_SUCCESS)
		return outbox_result_of(o, rc, "beginning a read");
	rc = mdb_cursor_open(txn, o->pending, &cur);
	if (rc != MDB_SUCCESS) {
		mdb_txn_abort(txn);
		return outbox_result_of(o, rc, "opening a cursor");
	}
	be64_put(key, from);
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == MDB_SUCCESS && visited < max;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		at = be64_get(k.mv_data);
		visited++;
		if (fn(arg, at, v.mv_data, v.mv_size) != 0)
			break;
		at++;
	}
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	if (next != NULL)
		*next = at;
	return OUTBOX_OK;
}

enum outbox_result
outbox_settle(struct outbox *o, const struct outbox_settlement *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct outbox_held *h;
		if (o->n_held == OUTBOX_SETTLE_HELD_MAX) {
			enum outbox_result r = outbox_flush(o);
			if (r != OUTBOX_OK)
				return r;
		}
		h = &o->held[o->n_held];
		h->seq = s[i].seq;
		h->reason = NULL;
		if (s[i].rejected && (h->reason = strdup(s[i].reason ? s[i].reason : "")) == NULL) {
			/* Left pending: sent again after a restart, rejected again. */
			outbox_fail(o, "outbox: out of memory holding a settlement");
			return OUTBOX_FAILED;
		}
		o->n_held++;
	}
	return OUTBOX_OK;
}

enum outbox_result
outbox_flush(struct outbox *o)
{
	if (o->n_held == 0)
		return OUTBOX_OK;
	return outbox_commit(o, NULL, 0, NULL);
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
	int rc;

	rc = mdb_txn_begin(o->env, NULL, MDB_RDONLY, &txn);
	if (rc != MDB_SUCCESS)
		return outbox_result_of(o, rc, "beginning a read");
	rc = mdb_stat(txn, o->pending, &st);
	c->pending = rc == MDB_SUCCESS ? st.ms_entries : 0;
	if (rc == MDB_SUCCESS)
		rc = mdb_stat(txn, o->dead, &st);
	c->dead_letters = rc == MDB_SUCCESS ? st.ms_entries : 0;
	mdb_txn_abort(txn);
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
