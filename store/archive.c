/*
 * archive (store side): which events an archive takes (the oldest, by the
 * commit times of the received table), reading them with their times,
 * removing them from the log in small transactions, and putting them back.
 * Dedupe keys and the projections' state are never touched: a repeat of
 * an archived event is still answered DUPLICATE.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "be64.h"
#include "envelope_hash.h"
#include "store_internal.h"

static enum store_result
need_received(struct store *store)
{
	if (store->has_received)
		return STORE_OK;
	store_set_error(store, "%s: store format %" PRIu64 " keeps no commit times: start "
			       "commissiond once (it migrates the store to format %d) and try again",
	    store->path, store->format_version, STORE_FORMAT_VERSION);
	return STORE_FAILED;
}

/* A read transaction on a store that keeps commit times. */
static enum store_result
read_begin(struct store *store, MDB_txn **txn)
{
	int rc;

	if (need_received(store) != STORE_OK)
		return STORE_FAILED;
	rc = store_txn_begin(store, MDB_RDONLY, txn);
	return store_result_of(store, rc, "beginning a read transaction");
}

enum store_result
store_events_before(struct store *store, int64_t before_ms, uint64_t *first, uint64_t *last)
{
	uint8_t keybuf[8];
	MDB_val key = { 8, keybuf }, val;
	MDB_txn *txn;
	MDB_cursor *cur = NULL;
	uint64_t last_event = 0;
	int rc;

	if (read_begin(store, &txn) != STORE_OK)
		return STORE_FAILED;
	rc = store_meta_get_u64(txn, store->meta, "last_event_sequence", &last_event);
	if (rc == MDB_NOTFOUND)
		rc = MDB_SUCCESS;
	if (rc == MDB_SUCCESS)
		rc = store_first_key(txn, store->events, first);
	if (rc != MDB_SUCCESS)
		goto done;
	if (*first == 0) { /* nothing in the log */
		*first = last_event + 1;
		*last = last_event;
		goto done;
	}
	*last = *first - 1;
	rc = mdb_cursor_open(txn, store->received, &cur);
	if (rc != MDB_SUCCESS)
		goto done;
	/* From the run holding the first event, run by run, up to the first
	 * committed at or after before_ms. */
	be64_put(keybuf, *first);
	rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
	if (rc == MDB_NOTFOUND || (rc == MDB_SUCCESS && be64_get(key.mv_data) > *first)) {
		int back = mdb_cursor_get(cur, &key, &val, rc == MDB_NOTFOUND ? MDB_LAST : MDB_PREV);
		if (back == MDB_SUCCESS)
			rc = MDB_SUCCESS;
		else if (rc == MDB_SUCCESS) /* no run before: from the first after */
			rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
	}
	for (; rc == MDB_SUCCESS; rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
		uint64_t run = be64_get(key.mv_data);
		if ((int64_t)be64_get(val.mv_data) >= before_ms) {
			*last = run > *first ? run - 1 : *first - 1;
			rc = MDB_SUCCESS;
			goto done;
		}
	}
	if (rc == MDB_NOTFOUND) {
		*last = last_event;
		rc = MDB_SUCCESS;
	}
done:
	if (cur != NULL)
		mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	return store_result_of(store, rc, "finding the events to archive");
}

enum store_result
store_scan_events_received(struct store *store, uint64_t first, uint64_t last,
    store_event_fn fn, void *arg)
{
	uint8_t keybuf[8];
	MDB_val key = { 8, keybuf }, val, rkey, rval;
	MDB_txn *txn;
	MDB_cursor *events = NULL, *runs = NULL;
	uint64_t next_run = UINT64_MAX, expect = first;
	int64_t time_ms = 0;
	bool stopped = false;
	int rc;

	if (read_begin(store, &txn) != STORE_OK)
		return STORE_FAILED;
	rc = store_received_at(txn, store->received, first, &time_ms);
	if (rc == MDB_SUCCESS)
		rc = mdb_cursor_open(txn, store->events, &events);
	if (rc == MDB_SUCCESS)
		rc = mdb_cursor_open(txn, store->received, &runs);
	if (rc != MDB_SUCCESS)
		goto done;
	/* The run after the one holding first. */
	be64_put(keybuf, first + 1);
	rkey = key;
	rc = mdb_cursor_get(runs, &rkey, &rval, MDB_SET_RANGE);
	if (rc == MDB_SUCCESS)
		next_run = be64_get(rkey.mv_data);
	else if (rc != MDB_NOTFOUND)
		goto done;
	be64_put(keybuf, first);
	for (rc = mdb_cursor_get(events, &key, &val, MDB_SET_RANGE); rc == MDB_SUCCESS;
	     rc = mdb_cursor_get(events, &key, &val, MDB_NEXT)) {
		uint64_t seq = be64_get(key.mv_data);
		if (seq > last)
			break;
		if (seq != expect)
			break; /* a hole: said below */
		while (seq >= next_run) {
			time_ms = (int64_t)be64_get(rval.mv_data);
			rc = mdb_cursor_get(runs, &rkey, &rval, MDB_NEXT);
			next_run = rc == MDB_SUCCESS ? be64_get(rkey.mv_data) : UINT64_MAX;
			if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND)
				goto done;
		}
		if (fn(arg, seq, time_ms, val.mv_data, val.mv_size) != 0) {
			stopped = true;
			break;
		}
		expect++;
	}
	if (rc == MDB_NOTFOUND || rc == MDB_SUCCESS)
		rc = stopped || expect > last ? MDB_SUCCESS : MDB_NOTFOUND;
done:
	if (events != NULL)
		mdb_cursor_close(events);
	if (runs != NULL)
		mdb_cursor_close(runs);
	mdb_txn_abort(txn);
	if (rc == MDB_NOTFOUND) {
		store_set_error(store, "the event log has no event %" PRIu64, expect);
		return STORE_FAILED;
	}
	return store_result_of(store, rc, "reading the event log");
}

/* One transaction of store_remove_events: the oldest events up to through,
 * at most max, then the received table made to start at the new first. */
static enum store_result
remove_some(struct store *store, uint64_t through, uint64_t max, uint64_t *removed, bool *more)
{
	struct store_batch *batch;
	MDB_cursor *cur;
	MDB_val key, val;
	uint8_t kbuf[8], vbuf[8];
	MDB_val k = { 8, kbuf }, v = { 8, vbuf };
	uint64_t n = 0, first_kept = 0;
	int64_t first_kept_ms = 0;
	enum store_result r;
	int rc;

	*more = false;
	r = store_batch_begin(store, &batch);
	if (r != STORE_OK)
		return r;
	rc = mdb_cursor_open(batch->txn, store->events, &cur);
	if (store_batch_check(batch, rc, "opening a cursor") != STORE_OK)
		goto out;
	while (n < max && (rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST)) == MDB_SUCCESS &&
	    be64_get(key.mv_data) <= through) {
		if ((rc = mdb_cursor_del(cur, 0)) != MDB_SUCCESS)
			break;
		n++;
	}
	if (rc == MDB_SUCCESS && n == max)
		rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST);
	if (rc == MDB_SUCCESS) {
		first_kept = be64_get(key.mv_data);
		*more = first_kept <= through;
	} else if (rc == MDB_NOTFOUND) {
		rc = MDB_SUCCESS;
	}
	mdb_cursor_close(cur);
	if (store_batch_check(batch, rc, "removing archived events") != STORE_OK)
		goto out;
	/* The received table: runs before the first event kept go; the run
	 * holding it is keyed by it from now on. */
	if (first_kept != 0)
		rc = store_received_at(batch->txn, store->received, first_kept, &first_kept_ms);
	if (rc == MDB_SUCCESS)
		rc = mdb_cursor_open(batch->txn, store->received, &cur);
	if (store_batch_check(batch, rc, "reading commit times") != STORE_OK)
		goto out;
	while ((rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST)) == MDB_SUCCESS &&
	    (first_kept == 0 || be64_get(key.mv_data) < first_kept))
		if ((rc = mdb_cursor_del(cur, 0)) != MDB_SUCCESS)
			break;
	mdb_cursor_close(cur);
	if (rc == MDB_NOTFOUND)
		rc = MDB_SUCCESS;
	if (rc == MDB_SUCCESS && first_kept != 0) {
		be64_put(kbuf, first_kept);
		be64_put(vbuf, (uint64_t)first_kept_ms);
		rc = mdb_put(batch->txn, store->received, &k, &v, 0);
	}
	store_batch_check(batch, rc, "moving commit times");
out:
	if (batch->failed != STORE_OK) {
		r = batch->failed;
		store_batch_abort(&batch);
		return r;
	}
	r = store_batch_commit(&batch);
	if (r == STORE_OK)
		*removed += n;
	return r;
}

enum store_result
store_remove_events(struct store *store, uint64_t through, uint64_t max_per_txn,
    uint64_t *removed)
{
	enum store_result r;
	bool more = true;

	*removed = 0;
	if (need_received(store) != STORE_OK)
		return STORE_FAILED;
	while (more) {
		r = remove_some(store, through, max_per_txn, removed, &more);
		if (r != STORE_OK)
			return r;
	}
	return STORE_OK;
}

enum store_result
store_batch_check_archived_event(struct store_batch *batch, uint64_t seq, const uint8_t *bytes,
    size_t len)
{
	Commissioning__Envelope *env = commissioning__envelope__unpack(NULL, len, bytes);
	uint8_t hash[STORE_HASH_BYTES], stored_hash[STORE_HASH_BYTES];
	uint64_t stored_seq = 0;
	enum store_result rc = STORE_FAILED;

	if (env == NULL) {
		store_set_error(batch->store, "event %" PRIu64 " of the archive does not decode as "
					      "an Envelope",
		    seq);
		return STORE_FAILED;
	}
	envelope_content_hash(env, hash);
	if (!store_batch_find_event(batch, env->source, env->event_id, &stored_seq, stored_hash))
		store_set_error(batch->store, "event %" PRIu64 " of the archive (%s/%s) was never "
					      "accepted by this store: an archive loads only into "
					      "the store it came from, or a backup of it",
		    seq, env->source, env->event_id);
	else if (stored_seq != seq || memcmp(hash, stored_hash, sizeof(hash)) != 0)
		store_set_error(batch->store, "event %" PRIu64 " of the archive (%s/%s) is not the "
					      "one this store accepted as %" PRIu64 "%s: an archive "
					      "loads only into the store it came from, or a backup "
					      "of it",
		    seq, env->source, env->event_id, stored_seq,
		    stored_seq == seq ? " (its content differs)" : "");
	else
		rc = STORE_OK;
	commissioning__envelope__free_unpacked(env, NULL);
	return rc;
}

enum store_result
store_batch_put_archived_event(struct store_batch *batch, uint64_t seq, int64_t received_ms,
    const uint8_t *bytes, size_t len)
{
	struct store *store = batch->store;
	uint8_t kbuf[8], vbuf[8];
	MDB_val key = { 8, kbuf }, val = { len, (void *)bytes }, tval = { 8, vbuf };
	int64_t run_ms = 0;
	bool held = false;
	int rc;

	if (batch->failed != STORE_OK)
		return batch->failed;
	if (seq == 0 || seq > batch->counters.last_event) {
		store_set_error(store, "event %" PRIu64 " was never in this store's log (it ends "
				       "at %" PRIu64 "): an archive loads only into the store it "
				       "came from, or a backup of it",
		    seq, batch->counters.last_event);
		return batch->failed = STORE_FAILED;
	}
	if (store_batch_check_archived_event(batch, seq, bytes, len) != STORE_OK)
		return batch->failed = STORE_FAILED;
	be64_put(kbuf, seq);
	rc = mdb_put(batch->txn, store->events, &key, &val, MDB_NOOVERWRITE);
	if (rc == MDB_KEYEXIST) {
		store_set_error(store, "event %" PRIu64 " is already in the log", seq);
		return batch->failed = STORE_FAILED;
	}
	if (store_batch_check(batch, rc, "putting an archived event back") != STORE_OK)
		return batch->failed;
	/* Events go back in sequence order: a new run starts where the time
	 * differs from the run the event falls in, or where it falls in none
	 * (events of a migrated store whose time was lost are archived at 0,
	 * and need a run at 0 all the same). */
	rc = store_run_holding(batch->txn, store->received, seq, &held, &run_ms);
	if (rc == MDB_SUCCESS && (!held || run_ms != received_ms)) {
		be64_put(vbuf, (uint64_t)received_ms);
		rc = mdb_put(batch->txn, store->received, &key, &tval, 0);
	}
	return store_batch_check(batch, rc, "putting a commit time back");
}
