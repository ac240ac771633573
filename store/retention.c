/*
 * retention: removing the oldest updates and dead letters past their limits
 * (a count, an age), a bounded number a transaction, so that the daemon can
 * run it between batches and ingest never waits for more than one.
 */
#include <stdlib.h>

#include "be64.h"
#include "store_internal.h"

/* The time a stored record was made, read from its field: commit_time of
 * an Update, received_at of a DeadLetter. -1 when it does not decode. */
static int64_t
record_time(const ProtobufCMessageDescriptor *desc, const MDB_val *val)
{
	ProtobufCMessage *msg = protobuf_c_message_unpack(desc, NULL, val->mv_size, val->mv_data);
	int64_t t;

	if (msg == NULL)
		return -1;
	t = desc == &commissioning__update__descriptor
	    ? ((Commissioning__Update *)msg)->commit_time
	    : ((Commissioning__DeadLetter *)msg)->received_at;
	protobuf_c_message_free_unpacked(msg, NULL);
	return t;
}

/* Is the oldest record, numbered first of first..last, past the limits?
 * A record that does not decode is past an age limit: it cannot say. */
static bool
record_is_past(const ProtobufCMessageDescriptor *desc, const MDB_val *val, uint64_t first,
    uint64_t last, uint64_t max_count, int64_t max_age_ms, int64_t now_ms)
{
	if (max_count != 0 && last - first + 1 > max_count)
		return true;
	return max_age_ms != 0 && record_time(desc, val) < now_ms - max_age_ms;
}

uint64_t
store_retention_prune_updates(struct store_batch *batch, const struct store_retention *r,
    int64_t now_ms, uint64_t budget)
{
	struct store_meta *m = &batch->counters;
	uint8_t keybuf[8];
	MDB_val key = { 8, keybuf }, val;
	uint64_t removed = 0;

	while (removed < budget && m->first_update != 0 && m->first_update <= m->last_update) {
		int rc;
		be64_put(keybuf, m->first_update);
		rc = mdb_get(batch->txn, batch->store->updates, &key, &val);
		if (rc == MDB_SUCCESS &&
		    !record_is_past(&commissioning__update__descriptor, &val, m->first_update,
			m->last_update, r->update_max_count, r->update_max_age_ms, now_ms))
			break;
		if (rc == MDB_SUCCESS)
			rc = mdb_del(batch->txn, batch->store->updates, &key, NULL);
		if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND) {
			store_batch_check(batch, rc, "removing an update past retention");
			break;
		}
		m->first_update++;
		removed++;
	}
	return removed;
}

/* Dead letters are numbered 1..dead_letters; the oldest kept is the
 * table's first key. */
static uint64_t
prune_dead_letters(struct store_batch *batch, const struct store_retention *r, int64_t now_ms,
    uint64_t budget)
{
	MDB_cursor *cur;
	MDB_val key, val;
	uint64_t removed = 0, last = batch->counters.dead_letters;
	int rc = mdb_cursor_open(batch->txn, batch->store->dead_letters, &cur);

	if (store_batch_check(batch, rc, "opening a cursor") != STORE_OK)
		return 0;
	while (removed < budget) {
		rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST);
		if (rc == MDB_NOTFOUND)
			break;
		if (rc == MDB_SUCCESS && key.mv_size != 8)
			rc = MDB_CORRUPTED;
		if (rc == MDB_SUCCESS &&
		    !record_is_past(&commissioning__dead_letter__descriptor, &val,
			be64_get(key.mv_data), last, r->dead_letter_max_count,
			r->dead_letter_max_age_ms, now_ms))
			break;
		if (rc == MDB_SUCCESS)
			rc = mdb_cursor_del(cur, 0);
		if (rc != MDB_SUCCESS) {
			store_batch_check(batch, rc, "removing a dead letter past retention");
			break;
		}
		removed++;
	}
	mdb_cursor_close(cur);
	return removed;
}

enum store_result
store_prune(struct store *store, const struct store_retention *retention, int64_t now_ms,
    uint64_t max_removals, struct store_pruned *pruned)
{
	struct store_batch *batch;
	enum store_result r;

	pruned->updates = pruned->dead_letters = 0;
	pruned->more = false;
	r = store_batch_begin(store, &batch);
	if (r != STORE_OK)
		return r;
	pruned->updates = store_retention_prune_updates(batch, retention, now_ms, max_removals);
	pruned->dead_letters = prune_dead_letters(batch, retention, now_ms,
	    max_removals - pruned->updates);
	pruned->more = pruned->updates + pruned->dead_letters == max_removals;
	if (pruned->updates + pruned->dead_letters == 0) {
		/* Nothing past the limits: no commit, no fsync. */
		r = batch->failed;
		store_batch_abort(&batch);
		return r;
	}
	r = store_batch_commit(&batch);
	if (r != STORE_OK)
		pruned->updates = pruned->dead_letters = 0;
	return r;
}
