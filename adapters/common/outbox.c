/*
 * outbox: owns an adapter's LMDB environment: "pending" (sequence ->
 * packed Envelope), "dead" (sequence -> reason, NUL, packed Envelope) and
 * "meta" (next_seq). Keys are 8-byte big-endian so that byte order is
 * number order. Owns also the commit thread: every write transaction runs
 * there, one at a time, so that a caller's loop may go on while it
 * fsyncs (outbox_put_start); readers run in the caller's thread, beside it
 * (LMDB's one writer, many readers).
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lmdb.h>

#include "be64.h"
#include "diskroom.h"
#include "outbox.h"
#include "tailcache.h"

/* A settlement held for the next commit; reason is NULL unless REJECTED. */
struct outbox_held {
	uint64_t seq;
	char *reason;
};

/* One write transaction: what the commit thread is given and answers.
 * The caller's thread fills it only while no commit runs. */
struct outbox_batch {
	struct outbox_held *held;
	size_t n_held, held_cap;
	const struct outbox_item *items;
	size_t n;
	uint64_t first_seq;
	enum outbox_result result;
	size_t settled; /* of held, committed */
	unsigned commits; /* that succeeded */
	char error[512];
};

struct outbox {
	MDB_env *env;
	MDB_dbi pending, dead, meta;
	uint64_t next_seq;
	/* Settlements held for the next commit (the caller's thread). */
	struct outbox_held *held;
	size_t n_held, held_cap;
	struct outbox_stats stats;
	char error[512];
	/* The commit thread: started (under lock) when busy, done when it
	 * has answered; done_fd (an eventfd) is readable from then until
	 * outbox_put_finish. */
	pthread_t thread;
	bool thread_started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool busy, started, done, quit;
	int done_fd;
	struct outbox_batch batch;
	struct tailcache tail; /* the commit thread's, once started */
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
	return rc == MDB_MAP_FULL || rc == ENOSPC || rc == EDQUOT ? OUTBOX_FULL : OUTBOX_FAILED;
}

static enum outbox_result
outbox_result_of(struct outbox *o, int rc, const char *what)
{
	return outbox_result_to(o, o->error, rc, what);
}

static const char meta_next_seq[] = "next_seq";

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

/* Apply held settlements in txn: remove each (ACCEPTED, DUPLICATE) or move
 * it to the dead letters (REJECTED). */
static int
outbox_apply_held(struct outbox *o, MDB_txn *txn, const struct outbox_held *held, size_t n)
{
	uint8_t key[8];
	MDB_val k = { 8, key }, v;
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

/* One write transaction, fsynced by its commit: n_held settlements, then
 * items (n may be 0) from b->first_seq on. Touches only the environment
 * and b: it runs in the commit thread. */
static enum outbox_result
outbox_commit_once(struct outbox *o, struct outbox_batch *b, size_t n_held, size_t n)
{
	MDB_txn *txn;
	uint8_t key[8];
	MDB_val k = { 8, key };
	int rc;

	rc = mdb_txn_begin(o->env, NULL, 0, &txn);
	if (rc != MDB_SUCCESS)
		return outbox_result_to(o, b->error, rc, "beginning a transaction");
	rc = outbox_apply_held(o, txn, b->held, n_held);
	if (rc != MDB_SUCCESS) {
		mdb_txn_abort(txn);
		return outbox_result_to(o, b->error, rc, "settling");
	}
	for (size_t i = 0; i < n; i++) {
		MDB_val v = { b->items[i].len, (void *)b->items[i].bytes };
		be64_put(key, b->first_seq + i);
		rc = mdb_put(txn, o->pending, &k, &v, MDB_APPEND);
		if (rc != MDB_SUCCESS) {
			mdb_txn_abort(txn);
			return outbox_result_to(o, b->error, rc, "storing an envelope");
		}
	}
	if (n > 0) {
		uint8_t next[8];
		MDB_val mk = { sizeof(meta_next_seq) - 1, (void *)meta_next_seq }, mv = { 8, next };
		be64_put(next, b->first_seq + n);
		rc = mdb_put(txn, o->meta, &mk, &mv, 0);
		if (rc != MDB_SUCCESS) {
			mdb_txn_abort(txn);
			return outbox_result_to(o, b->error, rc, "storing the next sequence");
		}
	}
	/* The commit fsyncs: only after it may the source be answered. */
	rc = mdb_txn_commit(txn);
	return outbox_result_to(o, b->error, rc, "committing");
}

/* The batch: settlements and items in one commit. Should that fail, the
 * settlements alone (what they free may make room: LMDB reuses a page only
 * after the commit that freed it), then the items alone. Settlements not
 * committed are let go: their envelopes stay pending, are sent again after
 * a restart and answered DUPLICATE. */
static void
outbox_commit_batch(struct outbox *o, struct outbox_batch *b)
{
	b->settled = 0;
	b->commits = 0;
	b->result = outbox_commit_once(o, b, b->n_held, b->n);
	if (b->result == OUTBOX_OK) {
		b->settled = b->n_held;
		b->commits++;
		return;
	}
	if (b->n_held == 0 || b->n == 0)
		return;
	if (outbox_commit_once(o, b, b->n_held, 0) == OUTBOX_OK) {
		b->settled = b->n_held;
		b->commits++;
	}
	b->result = outbox_commit_once(o, b, 0, b->n);
	b->commits += b->result == OUTBOX_OK;
}

static void *
outbox_thread_main(void *arg)
{
	struct outbox *o = arg;
	uint64_t one = 1;

	pthread_mutex_lock(&o->lock);
	for (;;) {
		while (!o->started && !o->quit)
			pthread_cond_wait(&o->cond, &o->lock);
		if (o->quit)
			break;
		o->started = false;
		pthread_mutex_unlock(&o->lock);
		outbox_commit_batch(o, &o->batch);
		pthread_mutex_lock(&o->lock);
		o->done = true;
		pthread_cond_broadcast(&o->cond);
		/* Wake the caller's loop; an eventfd write of 1 cannot fail
		 * short of a bug, and finish waits on done, not on the fd. */
		if (write(o->done_fd, &one, sizeof(one)) < 0) {
			/* nothing to do: outbox_put_finish does not need it */
		}
		/* Answered: the file's next pages (lib/tailcache.h), before
		 * the next batch's transaction. */
		pthread_mutex_unlock(&o->lock);
		tailcache_follow_env(&o->tail, o->env);
		pthread_mutex_lock(&o->lock);
	}
	pthread_mutex_unlock(&o->lock);
	return NULL;
}

static void
outbox_free(struct outbox *o)
{
	if (o->thread_started) {
		pthread_mutex_lock(&o->lock);
		o->quit = true;
		pthread_cond_broadcast(&o->cond);
		pthread_mutex_unlock(&o->lock);
		pthread_join(o->thread, NULL);
		pthread_mutex_destroy(&o->lock);
		pthread_cond_destroy(&o->cond);
	}
	if (o->done_fd >= 0)
		close(o->done_fd);
	if (o->env != NULL)
		mdb_env_close(o->env);
	free(o->held);
	free(o->batch.held);
	free(o);
}

struct outbox *
outbox_open(const char *path, uint64_t map_bytes, char *err, size_t errlen)
{
	struct outbox *o = calloc(1, sizeof(*o));
	MDB_txn *txn = NULL;
	int rc;

	if (o == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	o->done_fd = -1;
	o->held_cap = o->batch.held_cap = OUTBOX_SETTLE_HELD_MAX;
	o->held = calloc(o->held_cap, sizeof(*o->held));
	o->batch.held = calloc(o->batch.held_cap, sizeof(*o->batch.held));
	if (o->held == NULL || o->batch.held == NULL) {
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
	    (rc = outbox_find_next(o, txn)) != MDB_SUCCESS ||
	    (rc = mdb_txn_commit(txn)) != MDB_SUCCESS) {
		snprintf(err, errlen, "%s: cannot open the outbox: %s", path, mdb_strerror(rc));
		if (txn != NULL && rc != MDB_SUCCESS)
			mdb_txn_abort(txn);
		outbox_free(o);
		return NULL;
	}
	tailcache_follow_env(&o->tail, o->env);
	o->done_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (o->done_fd < 0 || pthread_mutex_init(&o->lock, NULL) != 0) {
		snprintf(err, errlen, "%s: cannot make the commit thread's signal: %s", path,
		    strerror(errno));
		outbox_free(o);
		return NULL;
	}
	if (pthread_cond_init(&o->cond, NULL) != 0) {
		snprintf(err, errlen, "%s: cannot make the commit thread's signal", path);
		pthread_mutex_destroy(&o->lock);
		outbox_free(o);
		return NULL;
	}
	if ((rc = pthread_create(&o->thread, NULL, outbox_thread_main, o)) != 0) {
		snprintf(err, errlen, "%s: cannot start the commit thread: %s", path, strerror(rc));
		pthread_cond_destroy(&o->cond);
		pthread_mutex_destroy(&o->lock);
		outbox_free(o);
		return NULL;
	}
	o->thread_started = true;
	return o;
}

static void
outbox_drop_held(struct outbox_held *held, size_t *n)
{
	for (size_t i = 0; i < *n; i++)
		free(held[i].reason);
	*n = 0;
}

enum outbox_result
outbox_put_start(struct outbox *o, const struct outbox_item *items, size_t n)
{
	struct outbox_held *swap = o->batch.held;
	size_t swap_cap = o->batch.held_cap;

	if (o->busy) {
		outbox_fail(o->error, "outbox: a put is already committing");
		return OUTBOX_FAILED;
	}
	/* The held settlements go with this commit; new ones are held apart. */
	o->batch.held = o->held;
	o->batch.held_cap = o->held_cap;
	o->batch.n_held = o->n_held;
	o->held = swap;
	o->held_cap = swap_cap;
	o->n_held = 0;
	o->batch.items = items;
	o->batch.n = n;
	o->batch.first_seq = o->next_seq;
	o->busy = true;
	pthread_mutex_lock(&o->lock);
	o->done = false;
	o->started = true;
	pthread_cond_broadcast(&o->cond);
	pthread_mutex_unlock(&o->lock);
	return OUTBOX_OK;
}

bool
outbox_put_busy(const struct outbox *o)
{
	return o->busy;
}

int
outbox_put_fd(const struct outbox *o)
{
	return o->done_fd;
}

enum outbox_result
outbox_put_finish(struct outbox *o, uint64_t *first_seq)
{
	struct outbox_batch *b = &o->batch;
	uint64_t count;

	if (!o->busy) {
		outbox_fail(o->error, "outbox: no put is committing");
		return OUTBOX_FAILED;
	}
	pthread_mutex_lock(&o->lock);
	while (!o->done)
		pthread_cond_wait(&o->cond, &o->lock);
	if (read(o->done_fd, &count, sizeof(count)) < 0) {
		/* EAGAIN only: nothing was left to read */
	}
	pthread_mutex_unlock(&o->lock);
	o->busy = false;
	o->stats.settled += b->settled;
	o->stats.commits += b->commits;
	outbox_drop_held(b->held, &b->n_held);
	if (b->result != OUTBOX_OK) {
		memcpy(o->error, b->error, sizeof(o->error));
		return b->result;
	}
	o->stats.put += b->n;
	o->stats.put_commits += b->n > 0;
	o->next_seq = b->first_seq + b->n;
	if (first_seq != NULL)
		*first_seq = b->first_seq;
	return OUTBOX_OK;
}

enum outbox_result
outbox_put(struct outbox *o, const struct outbox_item *items, size_t n, uint64_t *first_seq)
{
	enum outbox_result r = outbox_put_start(o, items, n);

	return r == OUTBOX_OK ? outbox_put_finish(o, first_seq) : r;
}

void
outbox_close(struct outbox **op)
{
	struct outbox *o = *op;

	if (o == NULL)
		return;
	if (o->busy)
		outbox_put_finish(o, NULL);
	/* Not committed is still safe (sent again, DUPLICATE): no error here. */
	outbox_flush(o);
	outbox_drop_held(o->held, &o->n_held);
	outbox_free(o);
	*op = NULL;
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
		if (o->n_held >= OUTBOX_SETTLE_HELD_MAX && !o->busy) {
			enum outbox_result r = outbox_flush(o);
			if (r != OUTBOX_OK)
				return r;
		}
		if (o->n_held == o->held_cap) {
			/* A commit runs: hold more until it is done. */
			struct outbox_held *grown = realloc(o->held, 2 * o->held_cap * sizeof(*grown));
			if (grown == NULL) {
				outbox_fail(o->error, "outbox: out of memory holding a settlement");
				return OUTBOX_FAILED;
			}
			o->held = grown;
			o->held_cap *= 2;
		}
		h = &o->held[o->n_held];
		h->seq = s[i].seq;
		h->reason = NULL;
		if (s[i].rejected && (h->reason = strdup(s[i].reason ? s[i].reason : "")) == NULL) {
			/* Left pending: sent again after a restart, rejected again. */
			outbox_fail(o->error, "outbox: out of memory holding a settlement");
			return OUTBOX_FAILED;
		}
		o->n_held++;
	}
	return OUTBOX_OK;
}

enum outbox_result
outbox_flush(struct outbox *o)
{
	/* While a put commits, the held ones go with the next. */
	if (o->n_held == 0 || o->busy)
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
