/*
 * test_store: the LMDB store through its intent-level calls: sequences,
 * dedupe keys, updates and their retention, dead letters, a full map and
 * growing it, reopening, read-only handles, the format version, backups.
 * Raw mdb_* calls appear here only to forge a store from a newer version.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <lmdb.h>

#include "be64.h"
#include "commissioning.pb-c.h"
#include "config.h"
#include "store.h"
#include "tailcache.h"
#include "tmpdir_fixture.h"

/* One temporary directory per test; the store lives in dir/store. */
struct fixture {
	char dir[64];
	char path[128];
	struct store_options opt;
};


static int
fixture_setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	if (fx == NULL)
		return -1;
	strcpy(fx->dir, "/tmp/test_store.XXXXXX");
	if (mkdtemp(fx->dir) == NULL) {
		free(fx);
		return -1;
	}
	snprintf(fx->path, sizeof(fx->path), "%s/store", fx->dir);
	fx->opt = (struct store_options){
	    .path = fx->path,
	    .map_size_bytes = 1 << 20,
	    .map_max_bytes = 1 << 20,
	    .sync_mode = STORE_SYNC_NONE,
	    .read_only = false,
	    .update_retention = 1000,
	    .dead_letter_keep_bytes = 64,
	};
	*state = fx;
	return 0;
}

static int
fixture_teardown(void **state)
{
	struct fixture *fx = *state;

	remove_tree(fx->dir);
	free(fx);
	return 0;
}

static struct store *
store_open_or_fail(const struct store_options *opt)
{
	char err[512] = "";
	struct store *store = store_open(opt, err, sizeof(err));

	if (store == NULL)
		fail_msg("store_open %s: %s", opt->path, err);
	return store;
}

static struct store_counts
counts_of(struct store *store)
{
	struct store_counts c;

	assert_int_equal(store_read_counts(store, &c), STORE_OK);
	return c;
}

/* The content hash a test gives an event: its number in every byte. */
static void
hash_for(uint8_t hash[STORE_HASH_BYTES], unsigned n)
{
	memset(hash, (int)(n & 0xff), STORE_HASH_BYTES);
}

/* Append event "e<n>" from source "test" with body "body <n>". */
static enum store_result
append_numbered_event(struct store_batch *batch, unsigned n, uint64_t *sequence)
{
	char event_id[32], body[32];
	uint8_t hash[STORE_HASH_BYTES];

	snprintf(event_id, sizeof(event_id), "e%u", n);
	snprintf(body, sizeof(body), "body %u", n);
	hash_for(hash, n);
	return store_batch_append_event(
	    batch, "test", event_id, hash, (const uint8_t *)body, strlen(body), sequence);
}

/* Commit a batch of events first..last; their sequences must run on from expect_first. */
static void
commit_numbered_events(struct store *store, unsigned first, unsigned last, uint64_t expect_first)
{
	struct store_batch *batch;

	assert_int_equal(store_batch_begin(store, &batch), STORE_OK);
	for (unsigned n = first; n <= last; n++) {
		uint64_t seq = 0;
		assert_int_equal(append_numbered_event(batch, n, &seq), STORE_OK);
		assert_int_equal(seq, expect_first + (n - first));
	}
	assert_int_equal(store_batch_commit(&batch), STORE_OK);
	assert_null(batch);
}

static void
commit_updates(struct store *store, unsigned n, const char *topic)
{
	struct store_batch *batch;

	assert_int_equal(store_batch_begin(store, &batch), STORE_OK);
	for (unsigned i = 0; i < n; i++) {
		Commissioning__Update update = COMMISSIONING__UPDATE__INIT;
		update.topic = (char *)topic;
		update.commit_time = 1778371200000LL;
		assert_int_equal(store_batch_append_update(batch, &update), STORE_OK);
	}
	assert_int_equal(store_batch_commit(&batch), STORE_OK);
}

/* What a scan saw: keys in order, and the bodies of events. */
struct seen {
	uint64_t keys[64];
	char bodies[64][32];
	size_t n;
	size_t stop_after; /* 0: never stop */
};

static int
seen_record(void *arg, uint64_t key, const uint8_t *bytes, size_t len)
{
	struct seen *s = arg;

	if (s->n < sizeof(s->keys) / sizeof(s->keys[0])) {
		s->keys[s->n] = key;
		if (len < sizeof(s->bodies[0])) {
			memcpy(s->bodies[s->n], bytes, len);
			s->bodies[s->n][len] = '\0';
		}
	}
	s->n++;
	return s->stop_after != 0 && s->n >= s->stop_after;
}

/* ------------------------------------------------------------ events */

static void
test_open_creates_an_empty_store(void **state)
{
	struct fixture *fx = *state;
	struct stat st;
	struct store *store;
	struct store_counts c;

	assert_int_equal(stat(fx->path, &st), -1);
	store = store_open_or_fail(&fx->opt);
	assert_int_equal(stat(fx->path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	c = counts_of(store);
	assert_int_equal(c.last_event_sequence, 0);
	assert_int_equal(c.last_update_sequence, 0);
	assert_int_equal(c.first_update_sequence, 0);
	assert_int_equal(c.duplicates, 0);
	assert_int_equal(c.rejected, 0);
	assert_int_equal(c.dead_letters, 0);
	assert_int_equal(c.map_size_bytes, 1 << 20);
	assert_true(c.used_bytes > 0 && c.used_bytes <= c.map_size_bytes);
	store_close(&store);
	assert_null(store);
	store_close(&store); /* closing nothing is harmless */
}

static void
test_committed_events_are_counted_from_sequence_1(void **state)
{
	struct fixture *fx = *state;
	struct store *store = store_open_or_fail(&fx->opt);
	struct seen seen = {.n = 0};
	uint64_t next = 0;

	commit_numbered_events(store, 1, 3, 1);
	assert_int_equal(counts_of(store).last_event_sequence, 3);
	assert_int_equal(store_scan_events(store, 1, 100, seen_record, &seen, &next), STORE_OK);
	assert_int_equal(seen.n, 3);
	for (size_t i = 0; i < 3; i++) {
		char want[32];
		snprintf(want, sizeof(want), "body %zu", i + 1);
		assert_int_equal(seen.keys[i], i + 1);
		assert_string_equal(seen.bodies[i], want);
	}
	assert_int_equal(next, 4);
	store_close(&store);
}

/* lib/tailcache.h: the file is kept longer than its data, sparsely, as
 * far as the map lets it, and a store so extended opens again with
 * everything in it. */
static void
test_the_file_is_prepared_ahead_of_the_writer(void **state)
{
	struct fixture *fx = *state;
	struct store *store;
	char path[PATH_MAX];
	struct stat st;
	uint64_t used;

	fx->opt.map_size_bytes = 64u << 20;
	store = store_open_or_fail(&fx->opt);
	commit_numbered_events(store, 1, 50, 1);
	store_cache_ahead(store);
	used = counts_of(store).used_bytes;
	snprintf(path, sizeof(path), "%s/data.mdb", fx->opt.path);
	assert_int_equal(stat(path, &st), 0);
	assert_true((uint64_t)st.st_size + TAILCACHE_STEP_BYTES >= used + TAILCACHE_AHEAD_BYTES);
	assert_true((uint64_t)st.st_size <= used + TAILCACHE_AHEAD_BYTES);
	assert_true((uint64_t)st.st_blocks * 512 < used + TAILCACHE_STEP_BYTES);
	store_close(&store);

	/* Opened again with a map smaller than the file: all there, and the
	 * file is never shortened. */
	fx->opt.map_size_bytes = 1u << 20;
	store = store_open_or_fail(&fx->opt);
	assert_int_equal(counts_of(store).last_event_sequence, 50);
	assert_int_equal(counts_of(store).used_bytes, used);
	commit_numbered_events(store, 51, 60, 51);
	store_cache_ahead(store);
	assert_int_equal(counts_of(store).last_event_sequence, 60);
	assert_int_equal(stat(path, &st), 0);
	assert_true((uint64_t)st.st_size >= used + TAILCACHE_AHEAD_BYTES - TAILCACHE_STEP_BYTES);
	store_close(&store);
}

static void
test_event_sequences_are_gap_free_across_batches(void **state)
{
	struct fixture *fx = *state;
	struct store *store = store_open_or_fail(&fx->opt);
	struct seen seen = {.n = 0};
	uint64_t next = 0;

	commit_numbered_events(store, 1, 4, 1);
	commit_numbered_events(store, 5, 5, 5);
	commit_numbered_events(store, 6, 12, 6);
	assert_int_equal(counts_of(store).last_event_sequence, 12);
	assert_int_equal(store_scan_events(store, 0, 100, seen_record, &seen, &next), STORE_OK);
	assert_int_equal(seen.n, 12);
	for (size_t i = 0; i < seen.n; i++)
		assert_int_equal(seen.keys[i], i + 1);
	assert_int_equal(next, 13);
	store_close(&store);
}

static void
test_scan_visits_at_most_max_and_stops_when_asked(void **state)
{
	struct fixture *fx = *state;
	struct store *store = store_open_or_fail(&fx->opt);
	struct seen seen = {.n = 0};
	uint64_t next = 0;

	commit_numbered_events(store, 1, 10, 1);
	assert_int_equal(store_scan_events(store, 4, 3, seen_record, &seen, &next), STORE_OK);
	assert_int_equal(seen.n, 3);
	assert_int_equal(seen.keys[0], 4);
	assert_int_equal(seen.keys[2], 6);
	assert_int_equal(next, 7);

	memset(&seen, 0, sizeof(seen));
	seen.stop_after = 2;
	assert_int_equal(store_scan_events(store, 9, 100, seen_record, &seen, &next), STORE_OK);
	assert_int_equal(seen.n, 2);
	assert_int_equal(next, 11);

	/* Past the end: nothing visited, next stays where it was asked. */
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(store_scan_events(store, 11, 100, seen_record, &seen, &next), STORE_OK);
	assert_int_equal(seen.n, 0);
	assert_int_equal(next, 11);
	store_close(&store);
}

static void
test_find_event_returns_sequence_and_hash(void **state)
{
	struct fixture *fx = *state;
	struct store *store = store_open_or_fail(&fx->opt);
	struct store_batch *batch;
	uint8_t hash[STORE_HASH_BYTES], want[STORE_HASH_BYTES];
	uint64_t seq = 0;

	commit_numbered_events(store, 1, 5, 1);
	assert_int_equal(store_batch_begin(store, &batch), STORE_OK);
	assert_true(store_batch_find_event(batch, "test", "e4", &seq, hash));
	assert_int_equal(seq, 4);
	hash_for(want, 4);
	assert_memory_equal(hash, want, STORE_HASH_BYTES);
	/* The key is (source, event_id): neither alone matches. */
	assert_false(store_batch_find_event(batch, "other", "e4", &seq, hash));
	assert_false(store_batch_find_event(batch, "test", "e6", &seq, hash));
	assert_false(store_batch_find_event(batch, "teste", "4", &seq, hash));
	/* An event appended in this batch is found before the commit. */
	assert_int_equal(append_numbered_event(batch, 6, &seq), STORE_OK);
	assert_int_equal(seq, 6);
	assert_true(store_batch_find_event(batch, "test", "e6", &seq, hash));
	assert_int_equal(seq, 6);
	hash_for(want, 6);
	assert_memory_equal(hash, want, STORE_HASH_BYTES);
	assert_int_equal(store_batch_commit(&batch), STORE_OK);

	assert_int_equal(store_batch_begin(store, &batch), STORE_OK);
	assert_true(store_batch_find_event(batch, "test", "e6", &seq, hash));
	assert_int_equal(seq, 6);
	store_batch_abort(&batch);
	assert_null(batch);
	store_close(&store);
}

/* Appends event_id (body as its text) with append_new_event and checks what
 * it gives back: whether it was stored already, the sequence and, for one
 * stored already, its stored hash (want_hash NULL for a new one). */
static void
append_new_event_expect(struct store_batch *batch, const char *event_id,
    const uint8_t hash[STORE_HASH_BYTES], const char *body, bool want_stored,
    uint64_t want_seq, const uint8_t want_hash[STORE_HASH_BYTES])
{
	uint8_t got[STORE_HASH_BYTES];
	uint64_t seq = 0;
	bool stored = !want_stored;

	assert_int_equal(store_batch_append_new_event(batch, "test", event_id, hash,
	                     (const uint8_t *)body, strlen(body), &seq, &stored, got),
	    STORE_OK);
	assert_int_equal(stored, want_stored);
	assert_int_equal(seq, want_seq);
	if (want_hash != NULL)
		assert_memory_equal(got, want_hash, STORE_HASH_BYTES);
}

/* append_new_event stores a new (source, event_id) and appends it; one
 * already stored (before this batch or in it) is given back untouched. */
static void
test_append_new_event_finds_one_already_stored(void **state)
{
	struct fixture *fx = *state;
	struct store *store = store_open_or_fail(&fx->opt);
	struct store_batch *batch;
	uint8_t hash[STORE_HASH_BYTES], other[STORE_HASH_BYTES], got[STORE_HASH_BYTES];
	uint64_t seq = 0;

	commit_numbered_events(store, 1, 3, 1);
	hash_for(hash, 2);
	hash_for(other, 99);
	assert_int_equal(store_batch_begin(store, &batch), STORE_OK);
	/* Stored before the batch: its sequence and hash, nothing appended. */
	append_new_event_expect(batch, "e2", other, "x", true, 2, hash);
	/* New: appended under the next sequence and found after. */
	hash_for(hash, 4);
	append_new_event_expect(batch, "e4", hash, "body 4", false, 4, NULL);
	assert_true(store_batch_find_event(batch, "test", "e4", &seq, got));
	assert_int_equal(seq, 4);
	assert_memory_equal(got, hash, STORE_HASH_BYTES);
	/* The same again in this batch: the first stands, the stored hash. */
	append_new_event_expect(batch, "e4", other, "y", true, 4, hash);
	/* The next new one follows on: nothing was appended for the repeat. */
	hash_for(hash, 5);
	append_new_event_expect(batch, "e5", hash, "body 5", false, 5, NULL);
	assert_int_equal(store_batch_commit(&batch), STORE_OK);
	assert_int_equal(store_batch_begin(store, &batch), STORE_OK);
	assert_true(store_batch_find_event(batch, "test", "e5", &seq, got));
	assert_int_equal(seq, 5);
	store_batch_abort(&batch);
	store_close(&store);
}

static void
test_aborted_batch_leaves_nothing(void **state)
{
	struct fixture *fx = *state;
	struct store *store = store_open_or_fail(&fx->opt);
	struct store_batch *batch;
	struct store_counts before, after;
	struct seen seen = {.n = 0};
	Commissioning__Update update = COMMISSIONING__UPDATE__INIT;
	Commissioning__DeadLetter dead = COMMISSIONING__DEAD_LETTER__INIT;
	uint8_t hash[STORE_HASH_BYTES];
	uint64_t seq = 0;

	commit_numbered_events(store, 1, 2, 1);
	commit_updates(store, 2, "t");
	before = counts_of(store);

	assert_int_equal(store_batch_begin(store, &batch), STORE_OK);
	assert_int_equal(append_numbered_event(batch, 3, &seq), STORE_OK);
	assert_int_equal(seq, 3);
	assert_int_equal(store_batch_append_update(batch, &update), STORE_OK);
	assert_int_equal(update.sequence, 3);
	assert_int_equal(store_batch_append_dead_letter(batch, &dead), STORE_OK);
	store_batch_count_duplicate(batch);
	store_batch_abort(&batch);
	assert_null(batch);
	store_batch_abort(&batch); /* aborting nothing is harmless */

	after = counts_of(store);
	assert_int_equal(after.last_event_sequence, before.last_event_sequence);
	assert_int_equal(after.last_update_sequence, before.last_update_sequence);
	assert_int_equal(after.first_update_sequence, before.first_update_sequence);
	assert_int_equal(after.duplicates, 0);
	assert_int_equal(after.rejected, 0);
	assert_int_equal(after.dead_letters, 0);
	assert_int_equal(store_scan_events(store, 3, 100, seen_record, &seen, NULL), STORE_OK);
	assert_int_equal(seen.n, 0);
	assert_int_equal(store_scan_updates(store, 3, 100, seen_record, &seen, NULL), STORE_OK);
	assert_int_equal(seen.n, 0);
	assert_int_equal(
	    store_scan_dead_letters(store, 0, 100, seen_record, &seen, NULL), STORE_OK);
	assert_int_equal(seen.n, 0);

	/* The next batch reuses the sequence the aborted one had taken. */
	assert_int_equal(store_batch_begin(store, &batch), STORE_OK);
	assert_false(store_batch_find_event(batch, "test", "e3", &seq, hash));
	assert_int_equal(append_numbered_event(batch, 30, &seq), STORE_OK);
	assert_int_equal(seq, 3);
	assert_int_equal(store_batch_commit(&batch), STORE_OK);
	store_close(&store);
}

static void
test_updates_get_their_own_gap_free_sequence(void **state)
{
	struct fixture *fx = *state;
	struct store *store = store_open_or_fail(&fx->opt);
	struct store_batch *batch;
	struct seen seen = {.n = 0};
	uint64_t seq = 0, next = 0;

	commit_numbered_events(store, 1, 5, 1);
	assert_int_equal(store_batch_begin(store, &batch), STORE_OK);
	for (unsigned i = 0; i < 3; i++) {
		Commissioning__Update update = COMMISSIONING__UPDATE__INIT;
		assert_int_equal(append_numbered_event(batch, 6 + i, &seq), STORE_OK);
		update.topic = "contract";
		update.event_sequence = seq;
		assert_int_equal(store_batch_append_update(batch, &update), STORE_OK);
		assert_int_equal(update.sequence, i + 1);
	}
	assert_int_equal(store_batch_commit(&batch), STORE_OK);
	commit_updates(store, 2, "budget");

	assert_int_equal(counts_of(store).last_event_sequence, 8);
	assert_int_equal(counts_of(store).last_update_sequence, 5);
	assert_int_equal(counts_of(store).first_update_sequence, 1);
	assert_int_equal(store_scan_updates(store, 1, 100, seen_record, &seen, &next), STORE_OK);
	assert_int_equal(seen.n, 5);
	assert_int_equal(next, 6);
	for (size_t i = 0; i < seen.n; i++)
		assert_int_equal(seen.keys[i], i + 1);
	store_close(&store);
}

static int
check_update_record(void *arg, uint64_t key, const uint8_t *bytes, size_t len)
{
	Commissioning__Update *update = commissioning__update__unpack(NULL, len, bytes);
	int *count = arg;

	assert_non_null(update);
	assert_int_equal(update->sequence, key);
	assert_int_equal(update->event_sequence, key + 5);
	assert_string_equal(update->topic, "contract");
	commissioning__update__free_unpacked(update, NULL);
	(*count)++;
	return 0;
}

static void
test_stored_update_carries_its_sequence(void **state)
{
	struct fixture *fx = *state;
	struct store *store = store_open_or_fail(&fx->opt);
	struct store_batch *batch;
	int count = 0;

	assert_int_equal(store_batch_begin(store, &batch), STORE_OK);
	for (unsigned i = 0; i < 4; i++) {
		Commissioning__Update update = COMMISSIONING__UPDATE__INIT;
		update.topic = "contract";
		update.event_sequence = i + 6;
		assert_int_equal(store_batch_append_update(batch, &update), STORE_OK);
	}
	assert_int_equal(store_batch_commit(&batch), STORE_OK);
	assert_int_equal(
	    store_scan_updates(store, 1, 100, check_update_record, &count, NULL), STORE_OK);
	assert_int_equal(count, 4);
	store_close(&store);
}

/* ------------------------------------------------------------ dead letters */

struct dead_letters_seen {
	Commissioning__DeadLetter *dead[8];
	size_t n;
};

static int
keep_dead_letter(void *arg, uint64_t key, const uint8_t *bytes, size_t len)
{
	struct dead_letters_seen *s = arg;
	Commissioning__DeadLetter *dead = commissioning__dead_letter__unpack(NULL, len, bytes);

	assert_non_null(dead);
	assert_int_equal(dead->id, key);
	assert_true(s->n < 8);
	s->dead[s->n++] = dead;
	return 0;
}

static void
test_dead_letter_keeps_at_most_keep_bytes_of_raw_and_its_full_size(void **state)
{
	struct fixture *fx = *state;
	struct store *store = store_open_or_fail(&fx->opt);
	struct store_batch *batch;
	struct dead_letters_seen seen = {.n = 0};
	Commissioning__DeadLetter big = COMMISSIONING__DEAD_LETTER__INIT;
	Commissioning__DeadLetter small = COMMISSIONING__DEAD_LETTER__INIT;
	uint8_t raw[200];
	struct store_counts c;

	for (size_t i = 0; i < sizeof(raw); i++)
		raw[i] = (uint8_t)(i * 7 + 1);
	big.received_at = 1778371200000LL;
	big.source = "hl7-adt";
	big.event_id = "A01-9";
	big.field = "patient_pseudonym";
	big.reason = "must be 32 bytes";
	big.raw.data = raw;
	big.raw.len = sizeof(raw);
	small.source = "contracts";
	small.raw.data = raw;
	small.raw.len = 64; /* exactly the limit: kept whole */

	assert_int_equal(store_batch_begin(store, &batch), STORE_OK);
	assert_int_equal(store_batch_append_dead_letter(batch, &big), STORE_OK);
	assert_int_equal(store_batch_append_dead_letter(batch, &small), STORE_OK);
	assert_int_equal(store_batch_commit(&batch), STORE_OK);
	/* The caller's message is left as it gave it, with id and size filled. */
	assert_int_equal(big.id, 1);
	assert_int_equal(big.raw.len, sizeof(raw));
	assert_int_equal(big.raw_size, sizeof(raw));
	assert_int_equal(small.id, 2);

	c = counts_of(store);
	assert_int_equal(c.dead_letters, 2);
	assert_int_equal(c.rejected, 2);
	assert_int_equal(c.last_event_sequence, 0);

	assert_int_equal(
	    store_scan_dead_letters(store, 1, 100, keep_dead_letter, &seen, NULL), STORE_OK);
	assert_int_equal(seen.n, 2);
	assert_int_equal(seen.dead[0]->id, 1);
	assert_int_equal(seen.dead[0]->received_at, 1778371200000LL);
	assert_string_equal(seen.dead[0]->source, "hl7-adt");
	assert_string_equal(seen.dead[0]->event_id, "A01-9");
	assert_string_equal(seen.dead[0]->field, "patient_pseudonym");
	assert_string_equal(seen.dead[0]->reason, "must be 32 bytes");
	assert_int_equal(seen.dead[0]->raw.len, 64);
	assert_memory_equal(seen.dead[0]->raw.data, raw, 64);
	assert_int_equal(seen.dead[0]->raw_size, sizeof(raw));
	assert_int_equal(seen.dead[1]->id, 2);
	assert_int_equal(seen.dead[1]->raw.len, 64);
	assert_int_equal(seen.dead[1]->raw_size, 64);
	for (size_t i = 0; i < seen.n; i++)
		commissioning__dead_letter__free_unpacked(seen.dead[i], NULL);
	store_close(&store);
}

static void
test_duplicates_are_counted_on_commit(void **state)
{
	struct fixture *fx = *state;
	struct store *store = store_open_or_fail(&fx->opt);
	struct store_batch *batch;

	for (int round = 0; round < 2; round++) {
		assert_int_equal(store_batch_begin(store, &batch), STORE_OK);
		store_batch_count_duplicate(batch);
		store_batch_count_duplicate(batch);
		/* Not counted until the commit. */
		assert_int_equal(counts_of(store).duplicates, (uint64_t)round * 2);
		assert_int_equal(store_batch_commit(&batch), STORE_OK);
	}
	assert_int_equal(counts_of(store).duplicates, 4);
	assert_int_equal(counts_of(store).last_event_sequence, 0);
	store_close(&store);
}

/* A put copies its leaf page and the branch pages above it even when the
 * value does not change: a batch that moves no counter saves none, and
 * writes no page at all; one that moves one saves it. */
static void
test_a_batch_that_moves_no_counter_writes_no_page(void **state)
{
	struct fixture *fx = *state;
	struct store *store = store_open_or_fail(&fx->opt);
	struct store_batch *batch;
	uint64_t written;

	commit_numbered_events(store, 1, 3, 1);
	commit_updates(store, 2, "t");
	written = store_last_write(store);
	assert_true(written > 0);

	assert_int_equal(store_batch_begin(store, &batch), STORE_OK);
	assert_int_equal(store_batch_commit(&batch), STORE_OK);
	assert_int_equal(store_last_write(store), written);

	assert_int_equal(store_batch_begin(store, &batch), STORE_OK);
	store_batch_count_duplicate(batch);
	assert_int_equal(store_batch_commit(&batch), STORE_OK);
	assert_true(store_last_write(store) > written);
	store_close(&store);

	/* The counters not saved again are all there when opened again. */
	store = store_open_or_fail(&fx->opt);
	assert_int_equal(counts_of(store).duplicates, 1);
	assert_int_equal(counts_of(store).last_event_sequence, 3);
	assert_int_equal(counts_of(store).last_update_sequence, 2);
	assert_int_equal(counts_of(store).first_update_sequence, 1);
	store_close(&store);
}

static void
test_too_long_dedupe_key_fails_the_batch(void **state)
{
	struct fixture *fx = *state;
	struct store *store = store_open_or_fail(&fx->opt);
	struct store_batch *batch;
	uint8_t hash[STORE_HASH_BYTES] = {0};
	char long_id[600];
	uint64_t seq = 0;

	memset(long_id, 'x', sizeof(long_id) - 1);
	long_id[sizeof(long_id) - 1] = '\0';
	assert_int_equal(store_batch_begin(store, &batch), STORE_OK);
	assert_int_equal(
	    store_batch_append_event(batch, "test", long_id, hash, (const uint8_t *)"b", 1, &seq),
	    STORE_FAILED);
	assert_non_null(strstr(store_error(store), "too long"));
	assert_false(store_batch_find_event(batch, "test", long_id, &seq, hash));
	assert_int_equal(store_batch_commit(&batch), STORE_FAILED);
	assert_null(batch);
	assert_int_equal(counts_of(store).last_event_sequence, 0);
	store_close(&store);
}

/* ------------------------------------------------------------ retention */

static void
test_update_retention_keeps_only_the_newest(void **state)
{
	static const unsigned batch_sizes[] = {1, 2, 3, 4, 5, 5};
	struct fixture *fx = *state;
	struct store *store;
	struct seen seen = {.n = 0};
	struct store_counts c;
	uint64_t next = 0;

	fx->opt.update_retention = 5;
	store = store_open_or_fail(&fx->opt);
	for (size_t i = 0; i < sizeof(batch_sizes) / sizeof(batch_sizes[0]); i++)
		commit_updates(store, batch_sizes[i], "t");
	c = counts_of(store);
	assert_int_equal(c.last_update_sequence, 20);
	assert_int_equal(c.first_update_sequence, 16);

	assert_int_equal(store_scan_updates(store, 1, 100, seen_record, &seen, &next), STORE_OK);
	assert_int_equal(seen.n, 5);
	for (size_t i = 0; i < seen.n; i++)
		assert_int_equal(seen.keys[i], 16 + i);
	assert_int_equal(next, 21);
	store_close(&store);
}

static void
test_update_retention_prunes_one_large_batch(void **state)
{
	struct fixture *fx = *state;
	struct store *store;
	struct seen seen = {.n = 0};

	fx->opt.update_retention = 5;
	store = store_open_or_fail(&fx->opt);
	commit_updates(store, 20, "t");
	assert_int_equal(counts_of(store).first_update_sequence, 16);
	assert_int_equal(store_scan_updates(store, 0, 100, seen_record, &seen, NULL), STORE_OK);
	assert_int_equal(seen.n, 5);
	assert_int_equal(seen.keys[0], 16);
	store_close(&store);
}

static void
test_lowered_retention_catches_up_two_per_appended_update(void **state)
{
	struct fixture *fx = *state;
	struct store *store = store_open_or_fail(&fx->opt);
	struct seen seen = {.n = 0};

	commit_updates(store, 20, "t");
	assert_int_equal(counts_of(store).first_update_sequence, 1);
	store_close(&store);

	/* A batch removes at most twice what it added, so no commit stalls. */
	fx->opt.update_retention = 5;
	store = store_open_or_fail(&fx->opt);
	commit_updates(store, 1, "t");
	assert_int_equal(counts_of(store).first_update_sequence, 3);
	commit_updates(store, 3, "t");
	assert_int_equal(counts_of(store).first_update_sequence, 9);
	commit_updates(store, 1, "t");
	assert_int_equal(counts_of(store).first_update_sequence, 11);
	assert_int_equal(store_scan_updates(store, 1, 100, seen_record, &seen, NULL), STORE_OK);
	assert_int_equal(seen.n, 25 - 11 + 1);
	assert_int_equal(seen.keys[0], 11);
	/* Batches without updates prune nothing. */
	commit_numbered_events(store, 1, 1, 1);
	assert_int_equal(counts_of(store).first_update_sequence, 11);
	store_close(&store);
}

/* ------------------------------------------------------------ a full map */

/*
 * Commit batches of four 2000-byte events until one is refused: returns the
 * sequence the first event of the refused batch was to have. Counts stay
 * those of the last committed batch.
 */
static unsigned
fill_until_map_full(struct store *store)
{
	static uint8_t body[2000];
	uint8_t hash[STORE_HASH_BYTES] = {0};

	for (int round = 0; round < 1000; round++) {
		struct store_batch *batch;
		enum store_result r = STORE_OK;
		uint64_t before = counts_of(store).last_event_sequence;

		assert_int_equal(store_batch_begin(store, &batch), STORE_OK);
		for (unsigned k = 0; k < 4 && r == STORE_OK; k++) {
			char id[32];
			uint64_t seq;
			snprintf(id, sizeof(id), "big-%u", (unsigned)before + 1 + k);
			r = store_batch_append_event(
			    batch, "test", id, hash, body, sizeof(body), &seq);
		}
		if (r != STORE_OK) {
			assert_int_equal(r, STORE_MAP_FULL);
			/* Once spoilt, the batch stays spoilt and commit says why. */
			assert_int_equal(store_batch_commit(&batch), STORE_MAP_FULL);
		} else {
			r = store_batch_commit(&batch);
		}
		assert_null(batch);
		if (r == STORE_MAP_FULL) {
			assert_int_equal(counts_of(store).last_event_sequence, before);
			assert_non_null(strstr(store_error(store), "MDB_MAP_FULL"));
			return (unsigned)before + 1;
		}
		assert_int_equal(r, STORE_OK);
	}
	fail_msg("the map never filled");
	return 0;
}

static enum store_result
commit_four_big_events(struct store *store, unsigned first)
{
	static uint8_t body[2000];
	uint8_t hash[STORE_HASH_BYTES] = {0};
	struct store_batch *batch;
	enum store_result r = STORE_OK;

	assert_int_equal(store_batch_begin(store, &batch), STORE_OK);
	for (unsigned k = 0; k < 4 && r == STORE_OK; k++) {
		char id[32];
		uint64_t seq;
		snprintf(id, sizeof(id), "big-%u", first + k);
		r = store_batch_append_event(batch, "test", id, hash, body, sizeof(body), &seq);
		if (r == STORE_OK)
			assert_int_equal(seq, first + k);
	}
	if (r != STORE_OK) {
		store_batch_abort(&batch);
		return r;
	}
	return store_batch_commit(&batch);
}

static void
test_full_map_at_its_limit_is_map_full_and_cannot_grow(void **state)
{
	struct fixture *fx = *state;
	struct store *store;
	unsigned refused;

	fx->opt.map_size_bytes = 65536;
	fx->opt.map_max_bytes = 65536;
	store = store_open_or_fail(&fx->opt);
	assert_int_equal(counts_of(store).map_size_bytes, 65536);
	refused = fill_until_map_full(store);
	assert_true(refused > 1);
	assert_int_equal(store_grow(store), STORE_MAP_FULL);
	assert_non_null(strstr(store_error(store), "map_max"));
	assert_int_equal(counts_of(store).map_size_bytes, 65536);
	/* Still full, still consistent. */
	assert_int_equal(commit_four_big_events(store, refused), STORE_MAP_FULL);
	assert_int_equal(counts_of(store).last_event_sequence, refused - 1);
	store_close(&store);
}

static void
test_grow_lets_the_refused_batch_commit(void **state)
{
	struct fixture *fx = *state;
	struct store *store;
	struct seen seen = {.n = 0};
	unsigned refused;

	fx->opt.map_size_bytes = 65536;
	fx->opt.map_max_bytes = 65536 * 3; /* one doubling, then clamped */
	store = store_open_or_fail(&fx->opt);
	refused = fill_until_map_full(store);
	assert_int_equal(store_grow(store), STORE_OK);
	assert_int_equal(counts_of(store).map_size_bytes, 65536 * 2);
	assert_int_equal(commit_four_big_events(store, refused), STORE_OK);
	assert_int_equal(counts_of(store).last_event_sequence, refused + 3);
	assert_int_equal(
	    store_scan_events(store, refused, 100, seen_record, &seen, NULL), STORE_OK);
	assert_int_equal(seen.n, 4);
	assert_int_equal(seen.keys[0], refused);

	/* The next doubling stops at map_max; after that, no more. */
	(void)fill_until_map_full(store);
	assert_int_equal(store_grow(store), STORE_OK);
	assert_int_equal(counts_of(store).map_size_bytes, 65536 * 3);
	(void)fill_until_map_full(store);
	assert_int_equal(store_grow(store), STORE_MAP_FULL);
	store_close(&store);
}

/* ------------------------------------------------------------ read batches */

/* A read batch sees the store as it began, whatever commits after; it may
 * stay open across them, and ends with abort. */
static void
test_a_read_batch_is_a_snapshot_across_commits(void **state)
{
	struct fixture *fx = *state;
	struct store *store = store_open_or_fail(&fx->opt);
	struct store_batch *reader, *writer;
	static const uint8_t key[] = { 'k', 1 };
	const uint8_t *bytes;
	size_t len;

	commit_numbered_events(store, 1, 3, 1);
	assert_int_equal(store_batch_begin_read(store, &reader), STORE_OK);
	assert_int_equal(store_batch_last_event_sequence(reader), 3);

	assert_int_equal(store_batch_begin(store, &writer), STORE_OK);
	assert_int_equal(store_batch_put_history(writer, key, sizeof(key),
			     (const uint8_t *)"history", 7),
	    STORE_OK);
	assert_int_equal(store_batch_commit(&writer), STORE_OK);
	commit_numbered_events(store, 4, 5, 4);

	assert_int_equal(store_batch_last_event_sequence(reader), 3);
	assert_int_equal(store_batch_get_history(reader, key, sizeof(key), &bytes, &len), STORE_OK);
	assert_int_equal(len, 0);
	/* Nothing can be written through it. */
	assert_int_not_equal(store_batch_put_history(reader, key, sizeof(key),
				 (const uint8_t *)"x", 1),
	    STORE_OK);
	store_batch_abort(&reader);
	assert_null(reader);

	assert_int_equal(store_batch_begin_read(store, &reader), STORE_OK);
	assert_int_equal(store_batch_last_event_sequence(reader), 5);
	assert_int_equal(store_batch_get_history(reader, key, sizeof(key), &bytes, &len), STORE_OK);
	assert_int_equal(len, 7);
	assert_memory_equal(bytes, "history", 7);
	store_batch_abort(&reader);
	store_close(&store);
}

static void
end_reader(void *arg)
{
	struct store_batch **reader = arg;

	store_batch_abort(reader);
}

/* The map cannot move under a read batch: store_grow has the hook end
 * them first; without a hook, it refuses to grow and says why. */
static void
test_grow_ends_the_read_batches_first(void **state)
{
	struct fixture *fx = *state;
	struct store *store;
	struct store_batch *reader;
	unsigned refused;

	fx->opt.map_size_bytes = 65536;
	fx->opt.map_max_bytes = 65536 * 4;
	store = store_open_or_fail(&fx->opt);
	refused = fill_until_map_full(store);

	assert_int_equal(store_batch_begin_read(store, &reader), STORE_OK);
	assert_int_equal(store_grow(store), STORE_FAILED);
	assert_non_null(strstr(store_error(store), "read batch"));
	assert_int_equal(counts_of(store).map_size_bytes, 65536);

	store_on_remap(store, end_reader, &reader);
	assert_int_equal(store_grow(store), STORE_OK);
	assert_null(reader);
	assert_int_equal(counts_of(store).map_size_bytes, 65536 * 2);
	assert_int_equal(commit_four_big_events(store, refused), STORE_OK);

	/* A read batch committed is ended too, committing nothing: with none
	 * open, no hook is needed. */
	(void)fill_until_map_full(store);
	store_on_remap(store, NULL, NULL);
	assert_int_equal(store_batch_begin_read(store, &reader), STORE_OK);
	assert_int_equal(store_batch_commit(&reader), STORE_OK);
	assert_null(reader);
	assert_int_equal(store_grow(store), STORE_OK);
	store_close(&store);
}

/* ------------------------------------------------------------ reopening */

static void
test_reopen_keeps_everything(void **state)
{
	struct fixture *fx = *state;
	struct store *store = store_open_or_fail(&fx->opt);
	struct store_batch *batch;
	Commissioning__DeadLetter dead = COMMISSIONING__DEAD_LETTER__INIT;
	struct seen seen = {.n = 0};
	struct store_counts c;
	uint8_t hash[STORE_HASH_BYTES], want[STORE_HASH_BYTES];
	uint64_t seq = 0;

	commit_numbered_events(store, 1, 7, 1);
	commit_updates(store, 3, "t");
	assert_int_equal(store_batch_begin(store, &batch), STORE_OK);
	store_batch_count_duplicate(batch);
	assert_int_equal(store_batch_append_dead_letter(batch, &dead), STORE_OK);
	assert_int_equal(store_batch_commit(&batch), STORE_OK);
	store_close(&store);

	store = store_open_or_fail(&fx->opt);
	c = counts_of(store);
	assert_int_equal(c.last_event_sequence, 7);
	assert_int_equal(c.last_update_sequence, 3);
	assert_int_equal(c.first_update_sequence, 1);
	assert_int_equal(c.duplicates, 1);
	assert_int_equal(c.rejected, 1);
	assert_int_equal(c.dead_letters, 1);
	assert_int_equal(store_scan_events(store, 1, 100, seen_record, &seen, NULL), STORE_OK);
	assert_int_equal(seen.n, 7);
	assert_string_equal(seen.bodies[6], "body 7");

	/* Dedupe keys survive, and sequences go on from where they were. */
	assert_int_equal(store_batch_begin(store, &batch), STORE_OK);
	assert_true(store_batch_find_event(batch, "test", "e2", &seq, hash));
	assert_int_equal(seq, 2);
	hash_for(want, 2);
	assert_memory_equal(hash, want, STORE_HASH_BYTES);
	assert_int_equal(append_numbered_event(batch, 8, &seq), STORE_OK);
	assert_int_equal(seq, 8);
	assert_int_equal(store_batch_commit(&batch), STORE_OK);
	commit_updates(store, 1, "t");
	assert_int_equal(counts_of(store).last_update_sequence, 4);
	store_close(&store);
}

static void
test_read_only_open_of_a_missing_store_names_the_path(void **state)
{
	struct fixture *fx = *state;
	struct store_options opt = fx->opt;
	char err[512] = "";
	struct stat st;

	opt.read_only = true;
	assert_null(store_open(&opt, err, sizeof(err)));
	assert_non_null(strstr(err, fx->path));
	/* A reader creates nothing. */
	assert_int_equal(stat(fx->path, &st), -1);
	assert_int_equal(errno, ENOENT);

	/* An empty directory is no store either. */
	assert_int_equal(mkdir(fx->path, 0750), 0);
	err[0] = '\0';
	assert_null(store_open(&opt, err, sizeof(err)));
	assert_non_null(strstr(err, fx->path));
}

static void
test_open_makes_every_missing_directory_of_the_path(void **state)
{
	struct fixture *fx = *state;
	struct store_options opt = fx->opt;
	static const char *const levels[] = { "var", "var/lib", "var/lib/store" };
	char deep[192], level[192], err[512] = "";
	struct stat st;
	struct store *store;
	FILE *f;

	/* commissiond(8)'s example: the default var/store in a fresh directory. */
	snprintf(deep, sizeof(deep), "%s/var/lib/store", fx->dir);
	opt.path = deep;
	store = store_open_or_fail(&opt);
	store_close(&store);
	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
		snprintf(level, sizeof(level), "%s/%s", fx->dir, levels[i]);
		assert_int_equal(stat(level, &st), 0);
		assert_true(S_ISDIR(st.st_mode));
		assert_int_equal(st.st_mode & 0777, 0700);
	}
	/* A level that is a file is named, and nothing is made beneath. */
	snprintf(level, sizeof(level), "%s/file", fx->dir);
	assert_non_null(f = fopen(level, "w"));
	fclose(f);
	snprintf(deep, sizeof(deep), "%s/file/store", fx->dir);
	assert_null(store_open(&opt, err, sizeof(err)));
	assert_non_null(strstr(err, deep));
	snprintf(level, sizeof(level), "%s/file is not a directory", fx->dir);
	assert_non_null(strstr(err, level));
	/* The lock, taken first by commissiond, makes them the same way. */
	snprintf(deep, sizeof(deep), "%s/other/store", fx->dir);
	{
		struct store_lock *lock = store_lock_take(deep, "test", err, sizeof(err));
		assert_non_null(lock);
		store_lock_release(&lock);
	}
	assert_int_equal(stat(deep, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
}

static void
test_a_writer_that_must_exist_makes_no_store(void **state)
{
	struct fixture *fx = *state;
	struct store_options opt = fx->opt;
	char err[512] = "", data[192];
	struct stat st;
	struct store *store;

	opt.must_exist = true;
	assert_null(store_open(&opt, err, sizeof(err)));
	assert_non_null(strstr(err, fx->path));
	assert_non_null(strstr(err, "no store there"));
	assert_int_equal(stat(fx->path, &st), -1);
	/* An empty directory is no store either, and stays empty. */
	assert_int_equal(mkdir(fx->path, 0700), 0);
	err[0] = '\0';
	assert_null(store_open(&opt, err, sizeof(err)));
	assert_non_null(strstr(err, "no store there"));
	snprintf(data, sizeof(data), "%s/data.mdb", fx->path);
	assert_int_equal(stat(data, &st), -1);
	/* A store that is there opens. */
	store = store_open_or_fail(&fx->opt);
	store_close(&store);
	store = store_open_or_fail(&opt);
	store_close(&store);
}

static void
test_a_store_cut_short_is_refused_not_a_crash(void **state)
{
	struct fixture *fx = *state;
	struct store_options ro = fx->opt;
	struct store *store = store_open_or_fail(&fx->opt);
	struct store_batch *batch = NULL;
	char file[PATH_MAX], err[512] = "";
	uint64_t seq;
	struct stat st;

	/* Enough events that the tables' pages lie well past the metas. */
	assert_int_equal(store_batch_begin(store, &batch), STORE_OK);
	for (unsigned n = 1; n <= 2000; n++)
		assert_int_equal(append_numbered_event(batch, n, &seq), STORE_OK);
	assert_int_equal(store_batch_commit(&batch), STORE_OK);
	store_close(&store);
	snprintf(file, sizeof(file), "%s/data.mdb", fx->path);
	assert_int_equal(stat(file, &st), 0);
	/* The file may run on past the last page (the tail kept ahead):
	 * cut it to a few pages, well inside what the tables use. */
	assert_true(st.st_size > 16 * 4096);
	assert_int_equal(truncate(file, 4 * 4096), 0);

	/* Opening would read a page past the end: SIGBUS, before the check. */
	ro.read_only = true;
	assert_null(store_open(&ro, err, sizeof(err)));
	assert_non_null(strstr(err, "the store is cut short: data.mdb has"));
	assert_non_null(strstr(err, fx->path));
	err[0] = '\0';
	assert_null(store_open(&fx->opt, err, sizeof(err)));
	assert_non_null(strstr(err, "restore a backup"));
}

static void
test_read_only_handle_reads_what_the_writer_committed(void **state)
{
	struct fixture *fx = *state;
	struct store_options opt = fx->opt;
	struct store *store = store_open_or_fail(&fx->opt);
	struct store_batch *batch = NULL;
	struct seen seen = {.n = 0};
	struct store_counts c;

	commit_numbered_events(store, 1, 3, 1);
	commit_updates(store, 2, "t");
	store_close(&store);

	opt.read_only = true;
	opt.map_size_bytes = 0; /* a reader takes the size the store has */
	store = store_open_or_fail(&opt);
	c = counts_of(store);
	assert_int_equal(c.last_event_sequence, 3);
	assert_int_equal(c.last_update_sequence, 2);
	assert_int_equal(c.map_size_bytes, 1 << 20);
	assert_int_equal(store_scan_events(store, 1, 100, seen_record, &seen, NULL), STORE_OK);
	assert_int_equal(seen.n, 3);
	assert_string_equal(seen.bodies[0], "body 1");
	/* A reader never writes. */
	assert_int_not_equal(store_batch_begin(store, &batch), STORE_OK);
	assert_null(batch);
	store_close(&store);
}

/*
 * The child process opens the store read-only while the parent's writer is
 * open (LMDB allows one environment per process) and exits 0 when it sees
 * the expected counts, or a small number saying what went wrong.
 */
static int
child_read_counts(const char *path, uint64_t want_events, uint64_t want_updates)
{
	struct store_options opt = {
	    .path = path,
	    .read_only = true,
	    .update_retention = 1,
	    .dead_letter_keep_bytes = 1,
	};
	char err[512];
	struct store *store = store_open(&opt, err, sizeof(err));
	struct store_counts c;
	int rc = 0;

	if (store == NULL) {
		fprintf(stderr, "child: %s\n", err);
		return 2;
	}
	if (store_read_counts(store, &c) != STORE_OK)
		rc = 3;
	else if (c.last_event_sequence != want_events || c.last_update_sequence != want_updates)
		rc = 4;
	store_close(&store);
	return rc;
}

static int
run_reader_child(const char *path, uint64_t want_events, uint64_t want_updates)
{
	int status = 0;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(child_read_counts(path, want_events, want_updates));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static void
test_read_only_open_in_another_process_beside_the_writer(void **state)
{
	struct fixture *fx = *state;
	struct store *store = store_open_or_fail(&fx->opt);
	struct store_batch *batch;
	uint64_t seq;

	commit_numbered_events(store, 1, 4, 1);
	commit_updates(store, 1, "t");
	assert_int_equal(run_reader_child(fx->path, 4, 1), 0);

	/* What is not committed is not seen, even while the batch is open. */
	assert_int_equal(store_batch_begin(store, &batch), STORE_OK);
	assert_int_equal(append_numbered_event(batch, 5, &seq), STORE_OK);
	assert_int_equal(run_reader_child(fx->path, 4, 1), 0);
	assert_int_equal(store_batch_commit(&batch), STORE_OK);
	assert_int_equal(run_reader_child(fx->path, 5, 1), 0);

	/* A reader sees what was written past the map the store began with. */
	store_close(&store);
	fx->opt.map_max_bytes = 4 << 20;
	store = store_open_or_fail(&fx->opt);
	assert_int_equal(store_grow(store), STORE_OK);
	commit_numbered_events(store, 6, 6, 6);
	assert_int_equal(counts_of(store).map_size_bytes, 2 << 20);
	assert_int_equal(run_reader_child(fx->path, 6, 1), 0);
	store_close(&store);
}

/*
 * The child opens the store read-only, says so on ready, waits on go for
 * the number of events the parent has committed since (after growing the
 * map past the child's), and exits 0 when it reads them all.
 */
static int
child_reads_after_growth(const char *path, int ready, int go)
{
	struct store_options opt = {
	    .path = path,
	    .read_only = true,
	    .update_retention = 1,
	    .dead_letter_keep_bytes = 1,
	};
	char err[512];
	struct store *store = store_open(&opt, err, sizeof(err));
	struct store_counts before, after;
	struct seen seen = {.n = 0};
	uint64_t want = 0, next = 0;
	int rc = 0;

	if (store == NULL)
		return 2;
	if (store_read_counts(store, &before) != STORE_OK)
		rc = 3;
	if (rc == 0 && write(ready, "r", 1) != 1)
		rc = 4;
	if (rc == 0 && read(go, &want, sizeof(want)) != (ssize_t)sizeof(want))
		rc = 5;
	if (rc == 0 && store_read_counts(store, &after) != STORE_OK)
		rc = 6;
	if (rc == 0 &&
	    (after.last_event_sequence != want || after.map_size_bytes <= before.map_size_bytes))
		rc = 7;
	/* The newest event lies past the map the child opened with. */
	if (rc == 0 && (store_scan_events(store, want, 10, seen_record, &seen, &next) != STORE_OK ||
	                   seen.n != 1 || seen.keys[0] != want))
		rc = 8;
	store_close(&store);
	return rc;
}

static void
test_reader_open_before_the_map_grew_adopts_the_new_size(void **state)
{
	struct fixture *fx = *state;
	struct store *store;
	int ready[2], go[2], status = 0;
	uint64_t last;
	char byte;
	pid_t pid;

	fx->opt.map_size_bytes = 65536;
	fx->opt.map_max_bytes = 4 << 20;
	store = store_open_or_fail(&fx->opt);
	commit_numbered_events(store, 1, 1, 1);
	assert_int_equal(pipe(ready), 0);
	assert_int_equal(pipe(go), 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(ready[0]);
		close(go[1]);
		_exit(child_reads_after_growth(fx->path, ready[1], go[0]));
	}
	close(ready[1]);
	close(go[0]);
	assert_int_equal(read(ready[0], &byte, 1), 1);

	/* Fill the first map, grow, and write well past it. */
	last = fill_until_map_full(store) - 1;
	for (int round = 0; round < 100 && counts_of(store).used_bytes <= 2 * 65536; round++) {
		enum store_result r = commit_four_big_events(store, (unsigned)last + 1);
		if (r == STORE_MAP_FULL) {
			assert_int_equal(store_grow(store), STORE_OK);
			continue;
		}
		assert_int_equal(r, STORE_OK);
		last += 4;
	}
	assert_true(counts_of(store).used_bytes > 2 * 65536);
	assert_int_equal(counts_of(store).last_event_sequence, last);
	assert_int_equal(write(go[1], &last, sizeof(last)), sizeof(last));

	assert_int_equal(waitpid(pid, &status, 0), pid);
	close(ready[0]);
	close(go[1]);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	store_close(&store);
}

/* Another writer (commissionctl rebuild beside the daemon) grows the map
 * and writes past the one this process has: the child's part. */
static int
child_grows_the_store(const struct store_options *parent_opt)
{
	struct store_options opt = *parent_opt;
	char err[512];
	struct store *store = store_open(&opt, err, sizeof(err));
	uint64_t last;
	struct store_counts c;

	if (store == NULL || store_read_counts(store, &c) != STORE_OK)
		return 2;
	last = c.last_event_sequence;
	for (int round = 0; round < 200; round++) {
		enum store_result r;
		if (store_read_counts(store, &c) != STORE_OK)
			return 3;
		if (c.used_bytes > 4 * 65536)
			break;
		r = commit_four_big_events(store, (unsigned)last + 1);
		if (r == STORE_MAP_FULL && store_grow(store) == STORE_OK)
			continue;
		if (r != STORE_OK)
			return 4;
		last += 4;
	}
	store_close(&store);
	return c.used_bytes > 4 * 65536 ? 0 : 5;
}

static void
test_a_writer_whose_map_another_grew_adopts_it_and_grows_from_it(void **state)
{
	struct fixture *fx = *state;
	struct store *store;
	struct store_batch *batch;
	uint64_t last, adopted;
	int status = 0;
	pid_t pid;

	fx->opt.map_size_bytes = 65536;
	fx->opt.map_max_bytes = 8 << 20;
	store = store_open_or_fail(&fx->opt);
	commit_numbered_events(store, 1, 1, 1);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(child_grows_the_store(&fx->opt));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);

	/* The next batch begins, not refused for a map too small
	 * (MDB_MAP_RESIZED), and is written. */
	assert_int_equal(store_batch_begin(store, &batch), STORE_OK);
	store_batch_abort(&batch);
	last = counts_of(store).last_event_sequence;
	assert_true(last > 1);
	assert_int_equal(commit_four_big_events(store, (unsigned)last + 1), STORE_OK);
	adopted = counts_of(store).map_size_bytes;
	assert_true(adopted > 4 * 65536);
	/* Growing doubles the map adopted, never shrinks it to the data. */
	assert_int_equal(store_grow(store), STORE_OK);
	assert_int_equal(counts_of(store).map_size_bytes, 2 * adopted);
	assert_int_equal(commit_four_big_events(store, (unsigned)last + 5), STORE_OK);
	store_close(&store);
}

/* ------------------------------------------------------------ format version */

/* Overwrite meta.format_version of the closed store at path, straight through LMDB. */
static void
forge_format_version(const char *path, uint64_t version)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	uint8_t buf[8];
	MDB_val key = {strlen("format_version"), (void *)"format_version"};
	MDB_val val = {sizeof(buf), buf};

	for (int i = 7; i >= 0; i--) {
		buf[i] = (uint8_t)version;
		version >>= 8;
	}
	assert_int_equal(mdb_env_create(&env), MDB_SUCCESS);
	assert_int_equal(mdb_env_set_maxdbs(env, 16), MDB_SUCCESS);
	assert_int_equal(mdb_env_open(env, path, 0, 0640), MDB_SUCCESS);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), MDB_SUCCESS);
	assert_int_equal(mdb_dbi_open(txn, "meta", 0, &dbi), MDB_SUCCESS);
	assert_int_equal(mdb_put(txn, dbi, &key, &val, 0), MDB_SUCCESS);
	assert_int_equal(mdb_txn_commit(txn), MDB_SUCCESS);
	mdb_env_close(env);
}

/* Delete meta.format_version of the closed store at path, as damage would. */
static void
forge_missing_format_version(const char *path)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val key = {strlen("format_version"), (void *)"format_version"};

	assert_int_equal(mdb_env_create(&env), MDB_SUCCESS);
	assert_int_equal(mdb_env_set_maxdbs(env, 16), MDB_SUCCESS);
	assert_int_equal(mdb_env_open(env, path, 0, 0640), MDB_SUCCESS);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), MDB_SUCCESS);
	assert_int_equal(mdb_dbi_open(txn, "meta", 0, &dbi), MDB_SUCCESS);
	assert_int_equal(mdb_del(txn, dbi, &key, NULL), MDB_SUCCESS);
	assert_int_equal(mdb_txn_commit(txn), MDB_SUCCESS);
	mdb_env_close(env);
}

static void
test_a_store_without_its_format_key_is_refused_not_stamped(void **state)
{
	struct fixture *fx = *state;
	struct store_options ro = fx->opt;
	struct store *store = store_open_or_fail(&fx->opt);
	char err[512] = "";

	/* A new store is stamped with this release's format. */
	ro.read_only = true;
	store_close(&store);
	store = store_open_or_fail(&ro);
	assert_int_equal(counts_of(store).format_version, STORE_FORMAT_VERSION);
	store_close(&store);

	store = store_open_or_fail(&fx->opt);
	commit_numbered_events(store, 1, 3, 1);
	store_close(&store);
	forge_missing_format_version(fx->path);
	/* Every release wrote the key: holding events without it is damage. */
	assert_null(store_open(&fx->opt, err, sizeof(err)));
	assert_non_null(strstr(err, fx->path));
	assert_non_null(strstr(err, "format key"));
	assert_non_null(strstr(err, "is missing"));
	assert_non_null(strstr(err, "3 event(s)"));
	/* The writer stamped nothing: a reader is refused the same way. */
	err[0] = '\0';
	assert_null(store_open(&ro, err, sizeof(err)));
	assert_non_null(strstr(err, "format key"));
}

static void
test_store_from_a_newer_format_is_refused(void **state)
{
	struct fixture *fx = *state;
	struct store_options ro = fx->opt;
	struct store *store = store_open_or_fail(&fx->opt);
	char err[512] = "";

	commit_numbered_events(store, 1, 2, 1);
	store_close(&store);

	/* The forgery itself does no harm: the current version opens. */
	forge_format_version(fx->path, STORE_FORMAT_VERSION);
	store = store_open_or_fail(&fx->opt);
	assert_int_equal(counts_of(store).last_event_sequence, 2);
	store_close(&store);

	forge_format_version(fx->path, 99);
	assert_null(store_open(&fx->opt, err, sizeof(err)));
	assert_non_null(strstr(err, fx->path));
	assert_non_null(strstr(err, "version 99"));
	assert_non_null(strstr(err, "newer commissiond"));

	/* commissionctl's read-only open is refused the same way. */
	err[0] = '\0';
	ro.read_only = true;
	assert_null(store_open(&ro, err, sizeof(err)));
	assert_non_null(strstr(err, fx->path));
	assert_non_null(strstr(err, "newer commissiond"));
}

/* ------------------------------------------------------------ backups */

static void
test_backup_opens_with_the_same_counts(void **state)
{
	struct fixture *fx = *state;
	struct store *store = store_open_or_fail(&fx->opt);
	struct store_batch *batch;
	struct store_options copy_opt = fx->opt;
	struct store *copy;
	struct store_counts a, b;
	struct seen seen = {.n = 0};
	char copy_path[160];
	uint8_t hash[STORE_HASH_BYTES];
	uint64_t seq = 0;

	commit_numbered_events(store, 1, 9, 1);
	commit_updates(store, 4, "t");
	assert_int_equal(store_batch_begin(store, &batch), STORE_OK);
	store_batch_count_duplicate(batch);
	assert_int_equal(store_batch_commit(&batch), STORE_OK);

	snprintf(copy_path, sizeof(copy_path), "%s/backup", fx->dir);
	assert_int_equal(store_backup(store, copy_path), STORE_OK);
	/* The writer goes on after the backup; the copy does not see that. */
	commit_numbered_events(store, 10, 10, 10);
	a = counts_of(store);
	store_close(&store);

	copy_opt.path = copy_path;
	copy = store_open_or_fail(&copy_opt);
	b = counts_of(copy);
	assert_int_equal(b.last_event_sequence, 9);
	assert_int_equal(a.last_event_sequence, 10);
	assert_int_equal(b.last_update_sequence, a.last_update_sequence);
	assert_int_equal(b.first_update_sequence, a.first_update_sequence);
	assert_int_equal(b.duplicates, a.duplicates);
	assert_int_equal(b.rejected, a.rejected);
	assert_int_equal(b.dead_letters, a.dead_letters);
	assert_int_equal(store_scan_events(copy, 1, 100, seen_record, &seen, NULL), STORE_OK);
	assert_int_equal(seen.n, 9);
	assert_string_equal(seen.bodies[8], "body 9");
	assert_int_equal(store_batch_begin(copy, &batch), STORE_OK);
	assert_true(store_batch_find_event(batch, "test", "e9", &seq, hash));
	assert_int_equal(seq, 9);
	store_batch_abort(&batch);
	store_close(&copy);
}

static void
test_backup_into_a_directory_holding_a_store_fails(void **state)
{
	struct fixture *fx = *state;
	struct store *store = store_open_or_fail(&fx->opt);
	char copy_path[160];

	commit_numbered_events(store, 1, 2, 1);
	snprintf(copy_path, sizeof(copy_path), "%s/backup", fx->dir);
	assert_int_equal(store_backup(store, copy_path), STORE_OK);
	assert_int_equal(store_backup(store, copy_path), STORE_FAILED);
	assert_non_null(strstr(store_error(store), copy_path));
	assert_non_null(strstr(store_error(store), "already holds a store"));
	/* Nor into the store's own directory. */
	assert_int_equal(store_backup(store, fx->path), STORE_FAILED);
	store_close(&store);
}

static void
test_backup_into_a_directory_that_cannot_be_made_fails(void **state)
{
	struct fixture *fx = *state;
	struct store *store = store_open_or_fail(&fx->opt);
	char copy_path[160];

	snprintf(copy_path, sizeof(copy_path), "%s/no/such/parent", fx->dir);
	assert_int_equal(store_backup(store, copy_path), STORE_FAILED);
	assert_non_null(strstr(store_error(store), copy_path));
	store_close(&store);
}

/* Letting go of the mapped pages loses nothing: what was read before is
 * read again, whole, and a batch goes on committing after it. */
static void
test_mapped_pages_let_go_are_read_again(void **state)
{
	struct fixture *fx = *state;
	struct store *store = store_open_or_fail(&fx->opt);
	struct seen before = {.n = 0}, after = {.n = 0};

	commit_numbered_events(store, 1, 20, 1);
	assert_int_equal(store_scan_events(store, 1, 64, seen_record, &before, NULL), STORE_OK);
	assert_int_equal(store_unmap_cached_pages(store), STORE_OK);
	assert_int_equal(store_scan_events(store, 1, 64, seen_record, &after, NULL), STORE_OK);
	assert_int_equal(after.n, 20);
	assert_memory_equal(&before, &after, sizeof(before));
	assert_int_equal(store_unmap_cached_pages(store), STORE_OK);
	commit_numbered_events(store, 21, 22, 21);
	assert_int_equal(counts_of(store).last_event_sequence, 22);
	store_close(&store);
}

/* RssFile of this process in bytes (/proc/self/status). */
static uint64_t
rss_file_bytes(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	unsigned long long kib = 0;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "RssFile: %llu kB", &kib) == 1)
			break;
	fclose(f);
	return (uint64_t)kib * 1024;
}

static int
touch_update(void *arg, uint64_t key, const uint8_t *bytes, size_t len)
{
	uint64_t *sum = arg;

	(void)key;
	for (size_t i = 0; i < len; i += 512)
		*sum += bytes[i];
	return 0;
}

/* Reading 48 MiB of the store maps its pages into the process; bounding
 * lets them go, so that the RSS does not grow with what was read. */
static void
test_bound_mapped_lets_go_of_what_a_big_read_mapped(void **state)
{
	struct fixture *fx = *state;
	struct store *store;
	struct store_batch *batch;
	size_t big = 64 * 1024;
	char *topic = malloc(big + 1);
	uint64_t sum = 0, next = 0, before, after;

	fx->opt.map_size_bytes = 128u << 20;
	fx->opt.map_max_bytes = 128u << 20;
	store = store_open_or_fail(&fx->opt);
	assert_non_null(topic);
	memset(topic, 't', big);
	topic[big] = '\0';
	assert_int_equal(store_batch_begin(store, &batch), STORE_OK);
	for (unsigned i = 0; i < 768; i++) {
		Commissioning__Update update = COMMISSIONING__UPDATE__INIT;
		update.topic = topic;
		assert_int_equal(store_batch_append_update(batch, &update), STORE_OK);
	}
	assert_int_equal(store_batch_commit(&batch), STORE_OK);
	free(topic);
	/* Nothing of the store mapped to start with, then all of it read. */
	assert_int_equal(store_unmap_cached_pages(store), STORE_OK);
	assert_int_equal(store_scan_updates(store, 1, 768, touch_update, &sum, &next), STORE_OK);
	assert_int_equal(next, 769);
	before = rss_file_bytes();
	assert_int_equal(store_bound_mapped(store), STORE_OK);
	after = rss_file_bytes();
	assert_true(sum > 0);
	assert_true(before > after + (32u << 20));
	store_close(&store);
}

/* A scan that touches each history's pages, noting the most RssFile seen. */
struct touch_scan {
	uint64_t sum, most_rss_file;
	unsigned n;
};

static int
touch_history(void *arg, const uint8_t *key, size_t keylen, const uint8_t *bytes, size_t len)
{
	struct touch_scan *ts = arg;
	uint64_t rss;

	(void)key;
	(void)keylen;
	for (size_t i = 0; i < len; i += 512)
		ts->sum += bytes[i];
	if (++ts->n % 32 == 0 && (rss = rss_file_bytes()) > ts->most_rss_file)
		ts->most_rss_file = rss;
	return 0;
}

/* A store of 256 MiB map holding count histories of len bytes, keyed 'A'
 * and a big-endian number from 0, none of its pages mapped. */
static struct store *
store_of_histories(struct fixture *fx, unsigned count, size_t len)
{
	struct store *store;
	struct store_batch *batch;
	uint8_t *value = malloc(len), key[9] = { 'A' };

	fx->opt.map_size_bytes = 256u << 20;
	fx->opt.map_max_bytes = 256u << 20;
	store = store_open_or_fail(&fx->opt);
	assert_non_null(value);
	memset(value, 'h', len);
	assert_int_equal(store_batch_begin(store, &batch), STORE_OK);
	for (unsigned i = 0; i < count; i++) {
		be64_put(key + 1, i);
		assert_int_equal(store_batch_put_history(batch, key, sizeof(key), value, len),
		    STORE_OK);
	}
	assert_int_equal(store_batch_commit(&batch), STORE_OK);
	free(value);
	assert_int_equal(store_unmap_cached_pages(store), STORE_OK);
	return store;
}

/* One long read keeps the bound too: a scan of 96 MiB of histories lets
 * go of the pages it mapped as it goes, not only at its end. */
static void
test_a_long_scan_keeps_the_mapped_bound(void **state)
{
	unsigned count = 1536;
	struct store *store = store_of_histories(*state, count, 64 * 1024);
	uint8_t key[1] = { 'A' };
	struct touch_scan ts = { 0 };

	assert_int_equal(store_scan_prefix(store, STORE_HISTORIES, key, 1, touch_history, &ts),
	    STORE_OK);
	assert_int_equal(ts.n, count);
	assert_true(ts.sum > 0);
	/* Without the bound within the scan, the RssFile grows to the 96 MiB
	 * read; with it, to the bound and what a few hundred records map. */
	assert_true(ts.most_rss_file < (64u << 20));
	store_close(&store);
}

/* Reads at random keep the bound closely: each maps more than the page it
 * reads (the kernel maps the cached pages around a fault too, 64 KiB by
 * default), so the store checks often enough that a few dozen reads, not
 * a few hundred, are all it maps past the bound. */
static void
test_random_reads_keep_the_mapped_bound_closely(void **state)
{
	size_t len = 3000; /* a page each */
	unsigned count = 24576, reads = 8192;
	struct store *store = store_of_histories(*state, count, len);
	struct store_batch *batch;
	uint8_t key[9] = { 'A' };
	uint64_t base, most = 0, rss, sum = 0, x = 2026;
	const uint8_t *bytes;
	size_t got;

	base = rss_file_bytes(); /* the program's own files */
	assert_int_equal(store_batch_begin_read(store, &batch), STORE_OK);
	for (unsigned i = 0; i < reads; i++) {
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		be64_put(key + 1, (x >> 33) % count);
		assert_int_equal(store_batch_get_history(batch, key, sizeof(key), &bytes, &got),
		    STORE_OK);
		assert_int_equal(got, len);
		sum += bytes[got / 2];
		if ((rss = rss_file_bytes()) > most)
			most = rss;
	}
	store_batch_abort(&batch);
	assert_true(sum > 0);
	/* The bound counts the program's own files too. Checked every 256
	 * reads, the map grew to about 16 MiB past it. */
	assert_true(most < base + STORE_MAPPED_MAX_BYTES + (8u << 20));
	store_close(&store);
}

#define STORE_TEST(f) cmocka_unit_test_setup_teardown(f, fixture_setup, fixture_teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    STORE_TEST(test_open_creates_an_empty_store),
	    STORE_TEST(test_committed_events_are_counted_from_sequence_1),
	    STORE_TEST(test_event_sequences_are_gap_free_across_batches),
	    STORE_TEST(test_the_file_is_prepared_ahead_of_the_writer),
	    STORE_TEST(test_scan_visits_at_most_max_and_stops_when_asked),
	    STORE_TEST(test_find_event_returns_sequence_and_hash),
	    STORE_TEST(test_append_new_event_finds_one_already_stored),
	    STORE_TEST(test_aborted_batch_leaves_nothing),
	    STORE_TEST(test_updates_get_their_own_gap_free_sequence),
	    STORE_TEST(test_stored_update_carries_its_sequence),
	    STORE_TEST(test_dead_letter_keeps_at_most_keep_bytes_of_raw_and_its_full_size),
	    STORE_TEST(test_duplicates_are_counted_on_commit),
	    STORE_TEST(test_a_batch_that_moves_no_counter_writes_no_page),
	    STORE_TEST(test_too_long_dedupe_key_fails_the_batch),
	    STORE_TEST(test_update_retention_keeps_only_the_newest),
	    STORE_TEST(test_update_retention_prunes_one_large_batch),
	    STORE_TEST(test_lowered_retention_catches_up_two_per_appended_update),
	    STORE_TEST(test_full_map_at_its_limit_is_map_full_and_cannot_grow),
	    STORE_TEST(test_grow_lets_the_refused_batch_commit),
	    STORE_TEST(test_a_read_batch_is_a_snapshot_across_commits),
	    STORE_TEST(test_grow_ends_the_read_batches_first),
	    STORE_TEST(test_reopen_keeps_everything),
	    STORE_TEST(test_read_only_open_of_a_missing_store_names_the_path),
	    STORE_TEST(test_open_makes_every_missing_directory_of_the_path),
	    STORE_TEST(test_a_writer_that_must_exist_makes_no_store),
	    STORE_TEST(test_a_store_cut_short_is_refused_not_a_crash),
	    STORE_TEST(test_read_only_handle_reads_what_the_writer_committed),
	    STORE_TEST(test_read_only_open_in_another_process_beside_the_writer),
	    STORE_TEST(test_reader_open_before_the_map_grew_adopts_the_new_size),
	    STORE_TEST(test_a_writer_whose_map_another_grew_adopts_it_and_grows_from_it),
	    STORE_TEST(test_store_from_a_newer_format_is_refused),
	    STORE_TEST(test_a_store_without_its_format_key_is_refused_not_stamped),
	    STORE_TEST(test_backup_opens_with_the_same_counts),
	    STORE_TEST(test_backup_into_a_directory_holding_a_store_fails),
	    STORE_TEST(test_backup_into_a_directory_that_cannot_be_made_fails),
	    STORE_TEST(test_mapped_pages_let_go_are_read_again),
	    STORE_TEST(test_bound_mapped_lets_go_of_what_a_big_read_mapped),
	    STORE_TEST(test_a_long_scan_keeps_the_mapped_bound),
	    STORE_TEST(test_random_reads_keep_the_mapped_bound_closely),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
