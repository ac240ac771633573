/*
 * verify: reads every table of a store in one read transaction and checks
 * what the store promises: the format, gap-free event and update
 * sequences, every event decoding and matching its dedupe key and content
 * hash, counters that agree with the tables. LMDB checks its own pages as
 * it reads them (a damaged page is MDB_CORRUPTED or MDB_PAGE_NOTFOUND).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "be64.h"
#include "envelope_hash.h"
#include "store_internal.h"

_Static_assert(ENVELOPE_HASH_BYTES == STORE_HASH_BYTES, "one content hash size");

struct verify {
	struct store *store;
	MDB_txn *txn;
	struct store_meta meta;
	store_problem_fn fn;
	void *arg;
	struct store_verify_report *report;
};

static void __attribute__((format(printf, 2, 3)))
problem(struct verify *v, const char *fmt, ...)
{
	char text[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	v->report->problems++;
	v->fn(v->arg, text);
}

/* Walk a table: fn sees each record; an LMDB failure is a problem. */
static void
walk(struct verify *v, MDB_dbi dbi, const char *table,
    void (*fn)(struct verify *v, const MDB_val *key, const MDB_val *val, void *state),
    void *state)
{
	MDB_cursor *cur;
	MDB_val key, val;
	int rc = mdb_cursor_open(v->txn, dbi, &cur);

	if (rc != MDB_SUCCESS) {
		problem(v, "%s: cannot be read: %s", table, mdb_strerror(rc));
		return;
	}
	for (rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST); rc == MDB_SUCCESS;
	     rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT))
		fn(v, &key, &val, state);
	mdb_cursor_close(cur);
	if (rc != MDB_NOTFOUND)
		problem(v, "%s: reading stopped: %s", table, mdb_strerror(rc));
}

/* A sequence-keyed table: 8-byte keys, each one more than the last. */
struct sequence {
	const char *table;
	uint64_t first, last, count;
	bool gaps_allowed;
};

static bool
sequence_next(struct verify *v, struct sequence *s, const MDB_val *key)
{
	uint64_t n;

	if (key->mv_size != 8) {
		problem(v, "%s: a key of %zu bytes (8 expected)", s->table, key->mv_size);
		return false;
	}
	n = be64_get(key->mv_data);
	if (s->count > 0 && n != s->last + 1 && !(s->gaps_allowed && n > s->last))
		problem(v, "%s: %" PRIu64 " follows %" PRIu64 " (%s)", s->table, n, s->last,
		    n <= s->last ? "out of order" : "a gap");
	if (s->count == 0)
		s->first = n;
	s->last = n;
	s->count++;
	return true;
}

static void
check_event(struct verify *v, const MDB_val *key, const MDB_val *val, void *state)
{
	struct sequence *s = state;
	Commissioning__Envelope *env;
	uint8_t hash[STORE_HASH_BYTES], dk[511];
	MDB_val dkey, dval;
	size_t ls, le;
	uint64_t seq;

	if (!sequence_next(v, s, key))
		return;
	seq = s->last;
	env = commissioning__envelope__unpack(NULL, val->mv_size, val->mv_data);
	if (env == NULL) {
		problem(v, "events: event %" PRIu64 " does not decode as an Envelope", seq);
		return;
	}
	ls = strlen(env->source);
	le = strlen(env->event_id);
	if (ls + 1 + le > sizeof(dk)) {
		problem(v, "events: event %" PRIu64 " has a source and id too long for a key", seq);
		goto out;
	}
	memcpy(dk, env->source, ls);
	dk[ls] = '\0';
	memcpy(dk + ls + 1, env->event_id, le);
	dkey.mv_size = ls + 1 + le;
	dkey.mv_data = dk;
	if (mdb_get(v->txn, v->store->dedupe, &dkey, &dval) != MDB_SUCCESS ||
	    dval.mv_size != STORE_DEDUPE_VALUE_BYTES) {
		problem(v, "events: event %" PRIu64 " (%s/%s) has no dedupe key", seq, env->source,
		    env->event_id);
		goto out;
	}
	if (be64_get(dval.mv_data) != seq)
		problem(v, "events: event %" PRIu64 " (%s/%s): its dedupe key names event %" PRIu64,
		    seq, env->source, env->event_id, be64_get(dval.mv_data));
	envelope_content_hash(env, hash);
	if (memcmp(hash, (uint8_t *)dval.mv_data + 8, STORE_HASH_BYTES) != 0)
		problem(v, "events: event %" PRIu64 " (%s/%s): its content does not match the hash "
			   "stored when it was accepted",
		    seq, env->source, env->event_id);
out:
	commissioning__envelope__free_unpacked(env, NULL);
}

static void
check_dedupe(struct verify *v, const MDB_val *key, const MDB_val *val, void *state)
{
	(void)key;
	(void)state;
	v->report->dedupe_keys++;
	if (val->mv_size != STORE_DEDUPE_VALUE_BYTES)
		problem(v, "dedupe: a value of %zu bytes", val->mv_size);
	else if (be64_get(val->mv_data) == 0 || be64_get(val->mv_data) > v->meta.last_event)
		problem(v, "dedupe: a key names event %" PRIu64 ", beyond the log's last %" PRIu64,
		    be64_get(val->mv_data), v->meta.last_event);
}

/* Records of a protobuf message type under sequence keys. */
struct records {
	struct sequence seq;
	const ProtobufCMessageDescriptor *desc;
};

static void
check_record(struct verify *v, const MDB_val *key, const MDB_val *val, void *state)
{
	struct records *r = state;
	ProtobufCMessage *msg;

	if (!sequence_next(v, &r->seq, key))
		return;
	msg = protobuf_c_message_unpack(r->desc, NULL, val->mv_size, val->mv_data);
	if (msg == NULL) {
		problem(v, "%s: %" PRIu64 " does not decode", r->seq.table, r->seq.last);
		return;
	}
	if (r->desc == &commissioning__update__descriptor &&
	    ((Commissioning__Update *)msg)->sequence != r->seq.last)
		problem(v, "updates: %" PRIu64 " carries sequence %" PRIu64, r->seq.last,
		    ((Commissioning__Update *)msg)->sequence);
	protobuf_c_message_free_unpacked(msg, NULL);
}

static void
check_history(struct verify *v, const MDB_val *key, const MDB_val *val, void *state)
{
	Commissioning__History *h = commissioning__history__unpack(NULL, val->mv_size,
	    val->mv_data);

	(void)state;
	v->report->histories++;
	if (h == NULL)
		problem(v, "histories: the history under a key of %zu bytes does not decode",
		    key->mv_size);
	else
		commissioning__history__free_unpacked(h, NULL);
}

static void
check_run(struct verify *v, const MDB_val *key, const MDB_val *val, void *state)
{
	struct sequence *s = state;

	if (!sequence_next(v, s, key))
		return;
	if (val->mv_size != 8)
		problem(v, "received: a value of %zu bytes", val->mv_size);
	if (s->last > v->meta.last_event)
		problem(v, "received: a run starts at %" PRIu64 ", beyond the log's last %" PRIu64,
		    s->last, v->meta.last_event);
}

static void
verify_counters(struct verify *v, const struct sequence *events, const struct records *updates,
    const struct records *dead, const struct sequence *runs)
{
	const struct store_meta *m = &v->meta;

	if (events->count > 0 && events->last != m->last_event)
		problem(v, "events: the log ends at %" PRIu64 " but the counter says %" PRIu64,
		    events->last, m->last_event);
	if (v->report->dedupe_keys != m->last_event)
		problem(v, "dedupe: %" PRIu64 " keys for %" PRIu64 " events accepted",
		    v->report->dedupe_keys, m->last_event);
	if (updates->seq.count > 0 &&
	    (updates->seq.first != m->first_update || updates->seq.last != m->last_update))
		problem(v, "updates: the table holds %" PRIu64 " to %" PRIu64
			   " but the counters say %" PRIu64 " to %" PRIu64,
		    updates->seq.first, updates->seq.last, m->first_update, m->last_update);
	if (dead->seq.count > 0 && dead->seq.last > m->dead_letters)
		problem(v, "dead_letters: %" PRIu64 " is beyond the counter %" PRIu64,
		    dead->seq.last, m->dead_letters);
	if (events->count > 0 && (runs->count == 0 || runs->first > events->first))
		problem(v, "received: no commit time for event %" PRIu64, events->first);
}

enum store_result
store_verify(struct store *store, store_problem_fn fn, void *arg,
    struct store_verify_report *report)
{
	struct verify v = { .store = store, .fn = fn, .arg = arg, .report = report };
	struct sequence events = { .table = "events" },
			runs = { .table = "received", .gaps_allowed = true };
	struct records updates = { { .table = "updates" }, &commissioning__update__descriptor };
	struct records dead = { { .table = "dead_letters", .gaps_allowed = false },
		&commissioning__dead_letter__descriptor };
	int rc;

	memset(report, 0, sizeof(*report));
	rc = store_txn_begin(store, MDB_RDONLY, &v.txn);
	if (rc != MDB_SUCCESS)
		return store_result_of(store, rc, "beginning a read transaction");
	rc = store_meta_load(v.txn, store->meta, &v.meta);
	if (rc != MDB_SUCCESS)
		problem(&v, "meta: the counters cannot be read: %s", mdb_strerror(rc));
	if (store->format_version != STORE_FORMAT_VERSION)
		problem(&v, "meta: store format %" PRIu64 ", not %d: start commissiond once to "
			    "migrate it",
		    store->format_version, STORE_FORMAT_VERSION);
	walk(&v, store->events, "events", check_event, &events);
	walk(&v, store->dedupe, "dedupe", check_dedupe, NULL);
	walk(&v, store->updates, "updates", check_record, &updates);
	walk(&v, store->dead_letters, "dead_letters", check_record, &dead);
	walk(&v, store->histories, "histories", check_history, NULL);
	if (store->has_received)
		walk(&v, store->received, "received", check_run, &runs);
	report->events = events.count;
	report->updates = updates.seq.count;
	report->dead_letters = dead.seq.count;
	if (rc == MDB_SUCCESS)
		verify_counters(&v, &events, &updates, &dead, &runs);
	mdb_txn_abort(v.txn);
	return STORE_OK;
}
