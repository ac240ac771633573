/*
 * migrate: bringing a store written by an older release to this release's
 * format, inside the transaction that opens it, so that a failed migration
 * leaves the store as it was. One function a step, in the table below.
 *
 * The derived table (running totals and indexes, store/state.c) is not
 * migrated here: it is remade from the histories by the one code that
 * keeps it (state_load, at the daemon's start) whenever its format
 * ("Mformat") or the last event it includes ("Mevents") differs. A step
 * that moves only the event log's tables, as 1 to 2 does, leaves it as it
 * is (tests/e2e/test_http_figures.py, StoreOperations).
 */
#include <inttypes.h>

#include "be64.h"
#include "log.h"
#include "store_internal.h"

/*
 * Format 1 to 2: the received table, the commit time of each run of
 * events. The stored updates still say when each event they carry was
 * committed (its event.accepted update); the events older than the
 * oldest update kept have no known time and are recorded as committed at
 * 0, the epoch: `archive --before` takes them with any date.
 */
static int
migrate_1_to_2(struct store *store, MDB_txn *txn)
{
	MDB_cursor *cur;
	MDB_val key, val;
	uint8_t kbuf[8], vbuf[8];
	MDB_val k = { 8, kbuf }, v = { 8, vbuf };
	int64_t last_time = -1;
	uint64_t first_known = 0, last_event = 0, runs = 0;
	int rc;

	rc = store_meta_get_u64(txn, store->meta, "last_event_sequence", &last_event);
	if (rc == MDB_NOTFOUND)
		rc = MDB_SUCCESS;
	if (rc == MDB_SUCCESS)
		rc = mdb_cursor_open(txn, store->updates, &cur);
	if (rc != MDB_SUCCESS)
		return rc;
	for (rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST); rc == MDB_SUCCESS;
	     rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
		Commissioning__Update *u = commissioning__update__unpack(NULL, val.mv_size,
		    val.mv_data);
		if (u != NULL && u->body_case == COMMISSIONING__UPDATE__BODY_EVENT_ACCEPTED &&
		    u->event_sequence > 0 && u->commit_time != last_time) {
			be64_put(kbuf, u->event_sequence);
			be64_put(vbuf, (uint64_t)u->commit_time);
			rc = mdb_put(txn, store->received, &k, &v, 0);
			last_time = u->commit_time;
			if (first_known == 0)
				first_known = u->event_sequence;
			runs++;
		}
		if (u != NULL)
			commissioning__update__free_unpacked(u, NULL);
		if (rc != MDB_SUCCESS)
			break;
	}
	mdb_cursor_close(cur);
	if (rc != MDB_NOTFOUND && rc != MDB_SUCCESS)
		return rc;
	if (last_event > 0 && first_known != 1) {
		be64_put(kbuf, 1);
		be64_put(vbuf, 0);
		rc = mdb_put(txn, store->received, &k, &v, 0);
		if (rc != MDB_SUCCESS)
			return rc;
	}
	if (last_event > 0 && first_known != 1)
		log_info("store: migration 1 to 2: commit times of %" PRIu64 " run(s) of events "
			 "recovered from the updates; events 1 to %" PRIu64
			 " have none (taken as 0)",
		    runs, first_known > 0 ? first_known - 1 : last_event);
	else
		log_info("store: migration 1 to 2: commit times of %" PRIu64 " run(s) of events "
			 "recovered from the updates, every event's",
		    runs);
	return MDB_SUCCESS;
}

static const struct migration {
	uint64_t from;
	int (*run)(struct store *store, MDB_txn *txn);
} migrations[] = {
	{ 1, migrate_1_to_2 },
};

int
store_migrate(struct store *store, MDB_txn *txn, uint64_t from)
{
	for (uint64_t v = from; v < STORE_FORMAT_VERSION; v++) {
		const struct migration *m = NULL;
		int rc;
		for (size_t i = 0; i < sizeof(migrations) / sizeof(migrations[0]); i++)
			if (migrations[i].from == v)
				m = &migrations[i];
		if (m == NULL) {
			store_set_error(store, "%s: no migration from store format %" PRIu64
					       " in this commissiond: restore a backup, or start "
					       "the release that wrote it",
			    store->path, v);
			return -1;
		}
		rc = m->run(store, txn);
		if (rc == MDB_SUCCESS)
			rc = store_meta_put_u64(txn, store->meta, "format_version", v + 1);
		if (rc != MDB_SUCCESS) {
			store_set_error(store, "%s: migrating the store from format %" PRIu64
					       " to %" PRIu64 " failed: %s; the store is unchanged",
			    store->path, v, v + 1, mdb_strerror(rc));
			return -1;
		}
		log_info("store: %s migrated from format %" PRIu64 " to %" PRIu64, store->path, v,
		    v + 1);
	}
	return 0;
}
