/*
 * test_store_upkeep: what the store does besides the write batch: retention
 * by count and age in bounded transactions, which events an archive takes
 * by their commit times, removing them and putting them back, the lock file.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commissioning.pb-c.h"
#include "config.h"
#include "envelope_hash.h"
#include "store.h"

#define DAY_MS (24LL * 3600 * 1000)
#define T0 1778371200000LL

struct fixture {
	char dir[64];
	struct store *store;
};

static int
setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	struct store_options opt = {
		.map_size_bytes = 1 << 22,
		.map_max_bytes = 1 << 22,
		.sync_mode = STORE_SYNC_NONE,
		.update_retention = 1000,
		.dead_letter_keep_bytes = 64,
	};
	char err[512];

	strcpy(fx->dir, "/tmp/test_upkeep.XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	opt.path = fx->dir;
	fx->store = store_open(&opt, err, sizeof(err));
	assert_non_null(fx->store);
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *fx = *state;
	static const char *const files[] = { "data.mdb", "lock.mdb", "commissiond.lock" };
	char path[128];

	store_close(&fx->store);
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", fx->dir, files[i]);
		unlink(path);
	}
	rmdir(fx->dir);
	free(fx);
	return 0;
}

static struct store_counts
counts(struct store *store)
{
	struct store_counts c;

	assert_int_equal(store_read_counts(store, &c), STORE_OK);
	return c;
}

/* Event id's Envelope packed into buf (its length returned), and its
 * content hash: what ingest stores. */
static size_t
envelope(const char *source, const char *id, uint8_t *buf, uint8_t hash[STORE_HASH_BYTES])
{
	Commissioning__Envelope env = COMMISSIONING__ENVELOPE__INIT;

	env.source = (char *)source;
	env.event_id = (char *)id;
	assert_true(commissioning__envelope__get_packed_size(&env) <= 64);
	envelope_content_hash(&env, hash);
	return commissioning__envelope__pack(&env, buf);
}

/* One batch: n events (ids from first_id) committed at at_ms, each with an
 * update made then and a dead letter received then. */
static void
commit(struct store *store, int first_id, int n, int64_t at_ms)
{
	struct store_batch *batch;
	uint8_t hash[STORE_HASH_BYTES];

	assert_int_equal(store_batch_begin(store, &batch), STORE_OK);
	store_batch_set_received_at(batch, at_ms);
	for (int i = 0; i < n; i++) {
		Commissioning__Update u = COMMISSIONING__UPDATE__INIT;
		Commissioning__DeadLetter d = COMMISSIONING__DEAD_LETTER__INIT;
		char id[32];
		uint8_t body[64];
		size_t len;
		uint64_t seq;
		snprintf(id, sizeof(id), "e%d", first_id + i);
		len = envelope("test", id, body, hash);
		assert_int_equal(store_batch_append_event(batch, "test", id, hash, body, len, &seq),
		    STORE_OK);
		u.topic = "t";
		u.commit_time = at_ms;
		assert_int_equal(store_batch_append_update(batch, &u), STORE_OK);
		d.received_at = at_ms;
		d.source = d.event_id = d.field = d.reason = "";
		assert_int_equal(store_batch_append_dead_letter(batch, &d), STORE_OK);
	}
	assert_int_equal(store_batch_commit(&batch), STORE_OK);
}

static void
test_updates_and_dead_letters_go_by_age(void **state)
{
	struct fixture *fx = *state;
	struct store_retention r = { .update_max_age_ms = DAY_MS, .dead_letter_max_age_ms = 2 * DAY_MS };
	struct store_pruned p;

	commit(fx->store, 1, 3, T0);
	commit(fx->store, 4, 2, T0 + DAY_MS);
	commit(fx->store, 6, 1, T0 + 3 * DAY_MS);
	/* As of T0 + 3 days: updates older than T0 + 2 days go (5), dead
	 * letters older than T0 + 1 day (3). */
	assert_int_equal(store_prune(fx->store, &r, T0 + 3 * DAY_MS, 100, &p), STORE_OK);
	assert_int_equal(p.updates, 5);
	assert_int_equal(p.dead_letters, 3);
	assert_false(p.more);
	assert_int_equal(counts(fx->store).first_update_sequence, 6);
	assert_int_equal(counts(fx->store).first_dead_letter, 4);
	/* Events are never retention's. */
	assert_int_equal(counts(fx->store).first_event_sequence, 1);
}

static void
test_dead_letters_go_by_count_a_bounded_number_a_transaction(void **state)
{
	struct fixture *fx = *state;
	struct store_retention r = { .dead_letter_max_count = 4 };
	struct store_pruned p;

	commit(fx->store, 1, 10, T0);
	assert_int_equal(store_prune(fx->store, &r, T0, 4, &p), STORE_OK);
	assert_int_equal(p.dead_letters, 4);
	assert_true(p.more);
	assert_int_equal(store_prune(fx->store, &r, T0, 4, &p), STORE_OK);
	assert_int_equal(p.dead_letters, 2);
	assert_false(p.more);
	assert_int_equal(counts(fx->store).first_dead_letter, 7);
	assert_int_equal(counts(fx->store).dead_letters, 10);
	/* Nothing past the limits: nothing removed, nothing written. */
	assert_int_equal(store_prune(fx->store, &r, T0, 4, &p), STORE_OK);
	assert_int_equal(p.dead_letters + p.updates, 0);
}

struct seen {
	uint64_t seqs[16];
	int64_t times[16];
	uint8_t bytes[16][64];
	size_t lens[16];
	size_t n;
};

static int
see(void *arg, uint64_t seq, int64_t ms, const uint8_t *bytes, size_t len)
{
	struct seen *s = arg;

	assert_true(len <= sizeof(s->bytes[0]));
	memcpy(s->bytes[s->n], bytes, len);
	s->lens[s->n] = len;
	s->seqs[s->n] = seq;
	s->times[s->n++] = ms;
	return 0;
}

static void
test_archive_takes_the_oldest_by_commit_time_and_load_puts_them_back(void **state)
{
	struct fixture *fx = *state;
	struct seen s = { .n = 0 };
	struct store_batch *batch;
	uint64_t first, last, removed;
	uint8_t other[64], other_hash[STORE_HASH_BYTES];
	size_t other_len;

	commit(fx->store, 1, 3, T0);
	commit(fx->store, 4, 2, T0 + 1000);
	commit(fx->store, 6, 2, T0 + 2000);
	assert_int_equal(store_events_before(fx->store, T0 + 1500, &first, &last), STORE_OK);
	assert_int_equal(first, 1);
	assert_int_equal(last, 5);
	assert_int_equal(store_scan_events_received(fx->store, 1, 5, see, &s), STORE_OK);
	assert_int_equal(s.n, 5);
	assert_int_equal(s.times[2], T0);
	assert_int_equal(s.times[3], T0 + 1000);
	/* Two a transaction, through 5. */
	assert_int_equal(store_remove_events(fx->store, 5, 2, &removed), STORE_OK);
	assert_int_equal(removed, 5);
	assert_int_equal(counts(fx->store).first_event_sequence, 6);
	assert_int_equal(store_events_before(fx->store, T0 + 1500, &first, &last), STORE_OK);
	assert_true(last < first);
	/* Back, with their times. */
	assert_int_equal(store_batch_begin(fx->store, &batch), STORE_OK);
	for (size_t i = 0; i < s.n; i++)
		assert_int_equal(store_batch_put_archived_event(batch, s.seqs[i], s.times[i],
				     s.bytes[i], s.lens[i]),
		    STORE_OK);
	assert_int_equal(store_batch_put_archived_event(batch, 6, T0, s.bytes[0], s.lens[0]),
	    STORE_FAILED);
	store_batch_abort(&batch);
	/* Only the events this store accepted under those sequences: not
	 * another store's, nor one of its own under another sequence. */
	assert_int_equal(store_batch_begin(fx->store, &batch), STORE_OK);
	other_len = envelope("test", "elsewhere", other, other_hash);
	assert_int_equal(store_batch_put_archived_event(batch, 1, T0, other, other_len),
	    STORE_FAILED);
	assert_non_null(strstr(store_error(fx->store), "event 1 of the archive (test/elsewhere) "
						       "was never accepted by this store"));
	store_batch_abort(&batch);
	assert_int_equal(store_batch_begin(fx->store, &batch), STORE_OK);
	assert_int_equal(store_batch_put_archived_event(batch, 1, T0, s.bytes[1], s.lens[1]),
	    STORE_FAILED);
	assert_non_null(strstr(store_error(fx->store), "is not the one this store accepted as 2"));
	store_batch_abort(&batch);
	assert_int_equal(store_batch_begin(fx->store, &batch), STORE_OK);
	for (size_t i = 0; i < s.n; i++)
		assert_int_equal(store_batch_put_archived_event(batch, s.seqs[i], s.times[i],
				     s.bytes[i], s.lens[i]),
		    STORE_OK);
	assert_int_equal(store_batch_commit(&batch), STORE_OK);
	assert_int_equal(counts(fx->store).first_event_sequence, 1);
	s.n = 0;
	assert_int_equal(store_scan_events_received(fx->store, 1, 7, see, &s), STORE_OK);
	assert_int_equal(s.n, 7);
	assert_int_equal(s.times[0], T0);
	assert_int_equal(s.times[4], T0 + 1000);
	assert_int_equal(s.times[5], T0 + 2000);
}

static void
test_the_lock_is_held_by_one(void **state)
{
	struct fixture *fx = *state;
	char err[512];
	struct store_lock *a = store_lock_take(fx->dir, "first", err, sizeof(err));
	struct store_lock *b;

	assert_non_null(a);
	b = store_lock_take(fx->dir, "second", err, sizeof(err));
	assert_null(b);
	assert_non_null(strstr(err, "in use by first (pid"));
	store_lock_release(&a);
	assert_null(a);
	b = store_lock_take(fx->dir, "second", err, sizeof(err));
	assert_non_null(b);
	store_lock_release(&b);
}

#define TEST(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		TEST(test_updates_and_dead_letters_go_by_age),
		TEST(test_dead_letters_go_by_count_a_bounded_number_a_transaction),
		TEST(test_archive_takes_the_oldest_by_commit_time_and_load_puts_them_back),
		TEST(test_the_lock_is_held_by_one),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
