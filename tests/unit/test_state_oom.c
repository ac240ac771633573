/*
 * test_state_oom: an allocation that fails while an event is applied to
 * the state (store/state.c: its thing's history, the running totals, the
 * indexes) must fail the batch, never leave the event out and ack it. The
 * daemon answers a failed batch RETRY_LATER and the adapter sends it
 * again; an event acked but missing from its history stays missing from
 * every figure until `commissionctl rebuild`.
 *
 * state.c and the projections it folds with are compiled into this test
 * with their allocations made to fail one at a time. The scenario day goes
 * through a real store in batches, as ingest sends it; each batch is tried
 * first with none failing (aborted), then with its first, second, ...
 * allocation failing until one run has none fail, which is committed. A
 * run that fails is aborted and the totals loaded again, as the daemon
 * does. A run where an allocation failed and every call said OK must leave
 * the store as the run where none failed leaves it (it is aborted too, so
 * that every allocation is tried).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oom_fixture.h"

#define malloc(n) oom_malloc(n)
#define calloc(n, size) oom_calloc(n, size)
#define realloc(p, n) oom_realloc(p, n)
#define strdup(s) oom_strdup(s)
#include "state.c"
#include "picture.c"
#include "spell.c"
#include "history.c"
#include "tallies.c"
#include "discharges.c"
#include "pbbudget.c"
#include "arena.c"
#undef malloc
#undef calloc
#undef realloc
#undef strdup

#include "config.h"
#include "picture_fixture.h"
#include "store.h"
#include "tmpdir_fixture.h"

#define FROM_MS 1778371200000LL  /* 2026-05-10T00:00Z, the scenario's first event */
#define AS_OF_MS 1778630400000LL /* 2026-05-13T00:00Z, after the scenario day */
#define BATCH_EVENTS 8		 /* events a batch, as ingest groups them */

struct fixture {
	char dir[64];
	char path[96];
	struct store_options opt;
	struct store *store;
	struct tallies *tallies;
	struct arena *scratch;
	bool as_of_stays; /* the batches' as-of stays at FROM_MS */
};

static void
fixture_open(struct fixture *fx, const char *name)
{
	char err[256];
	struct store_batch *batch;
	bool remade;

	memset(fx, 0, sizeof(*fx));
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/test_state_oom.%s.XXXXXX", name);
	assert_non_null(mkdtemp(fx->dir));
	snprintf(fx->path, sizeof(fx->path), "%s/store", fx->dir);
	fx->opt = (struct store_options){
		.path = fx->path,
		.map_size_bytes = 64 << 20,
		.map_max_bytes = 64 << 20,
		.sync_mode = STORE_SYNC_NONE,
		.update_retention = 1000,
		.dead_letter_keep_bytes = 64,
	};
	fx->store = store_open(&fx->opt, err, sizeof(err));
	if (fx->store == NULL)
		fail_msg("store_open: %s", err);
	fx->tallies = tallies_new();
	fx->scratch = arena_new(64 * 1024);
	assert_non_null(fx->tallies);
	assert_non_null(fx->scratch);
	/* As the daemon starts: the new store's derived state made. */
	assert_int_equal(store_batch_begin(fx->store, &batch), STORE_OK);
	assert_int_equal(state_load(batch, fx->tallies, FROM_MS, &remade), STORE_OK);
	assert_int_equal(store_batch_commit(&batch), STORE_OK);
}

static void
fixture_close(struct fixture *fx)
{
	arena_destroy(&fx->scratch);
	tallies_destroy(&fx->tallies);
	store_close(&fx->store);
	remove_tree(fx->dir);
}

/* The totals as the store holds them, into fx->tallies: what the daemon
 * does after a batch failed. */
static void
reload_tallies(struct fixture *fx)
{
	struct store_batch *batch;
	bool remade;

	assert_int_equal(store_batch_begin(fx->store, &batch), STORE_OK);
	assert_int_equal(state_load(batch, fx->tallies, AS_OF_MS, &remade), STORE_OK);
	assert_false(remade);
	store_batch_abort(&batch);
}

/* Events first to first + n of ev as one batch, as ingest applies them,
 * the as-of moving from FROM_MS to AS_OF_MS with the events (so that
 * timers fall due), unless fx->as_of_stays: the first result that is not
 * STORE_OK (the batch is then aborted), or STORE_OK with *batch left open. */
static enum store_result
apply_batch(struct fixture *fx, const struct events *ev, size_t first, size_t n,
    struct store_batch **batch)
{
	struct state_context ctx = { .tallies = fx->tallies, .scratch = fx->scratch };
	int64_t as_of_ms = FROM_MS + (AS_OF_MS - FROM_MS) * (int64_t)(first + n) / (int64_t)ev->n;
	enum store_result r;

	if (fx->as_of_stays)
		as_of_ms = FROM_MS;

	assert_int_equal(store_batch_begin(fx->store, batch), STORE_OK);
	(void)store_batch_fail(*batch, "no error yet"); /* so that a stale one is not read */
	r = state_advance(*batch, fx->tallies, as_of_ms);
	for (size_t i = first; r == STORE_OK && i < first + n; i++) {
		const struct packed *p = &ev->item[i];
		Commissioning__Envelope *env =
		    commissioning__envelope__unpack(NULL, p->len, p->bytes);
		struct state_change change;

		assert_non_null(env);
		r = state_apply(*batch, &ctx, env, p->bytes, p->len, &change);
		commissioning__envelope__free_unpacked(env, NULL);
	}
	if (r == STORE_OK)
		r = state_flush(*batch, fx->tallies);
	if (r != STORE_OK)
		store_batch_abort(batch);
	return r;
}

static int
dump_record(void *arg, const uint8_t *key, size_t keylen, const uint8_t *bytes, size_t len)
{
	char *k = malloc(2 * keylen + 1), *v = malloc(2 * len + 1);

	assert_non_null(k);
	assert_non_null(v);
	for (size_t i = 0; i < keylen; i++)
		snprintf(k + 2 * i, 3, "%02x", key[i]);
	k[2 * keylen] = '\0';
	for (size_t i = 0; i < len; i++)
		snprintf(v + 2 * i, 3, "%02x", bytes[i]);
	v[2 * len] = '\0';
	json_object_set_new(arg, k, json_string(v));
	free(k);
	free(v);
	return 0;
}

/* Every history and every record of the derived state as batch sees
 * them, hex by hex key. */
static json_t *
dump_state(struct store_batch *batch)
{
	json_t *all = json_object(), *histories = json_object(), *derived = json_object();

	assert_int_equal(store_batch_scan_prefix(batch, STORE_HISTORIES, NULL, 0, dump_record,
			     histories),
	    STORE_OK);
	assert_int_equal(store_batch_scan_prefix(batch, STORE_DERIVED, NULL, 0, dump_record,
			     derived),
	    STORE_OK);
	json_object_set_new(all, "histories", histories);
	json_object_set_new(all, "derived", derived);
	return all;
}

static void
add_line(void *arg, const char *line)
{
	events_add_json(arg, line);
}

/* Write what was expected and what was got where a person can compare them,
 * and fail saying so. */
static void
fail_with_difference(json_t *expected, json_t *got, size_t first, long k)
{
	const char *paths[2] = { "/tmp/test_state_oom.expected.json",
		"/tmp/test_state_oom.got.json" };
	json_t *which[2] = { expected, got };

	for (int i = 0; i < 2; i++)
		if (json_dump_file(which[i], paths[i], JSON_SORT_KEYS | JSON_INDENT(1)) < 0)
			print_error("could not write %s\n", paths[i]);
	fail_msg("the batch of events %zu on went on past failed allocation %ld and left the "
		 "state short of what its events make it (compare %s and %s)",
	    first, k, paths[0], paths[1]);
}

static void
a_failed_allocation_never_acks_an_event_left_out_of_the_state(void **state)
{
	struct events ev = { 0 };
	struct fixture fx;
	struct store_batch *batch;
	long runs = 0, refused = 0, went_on = 0;

	(void)state;
	log_set_level(LOG_LEVEL_ERROR);
	envelope_json_each_line(ENVELOPE_JSON_SCENARIO, add_line, &ev);
	assert_true(ev.n > 100);
	fixture_open(&fx, "failing");
	for (size_t first = 0; first < ev.n; first += BATCH_EVENTS) {
		size_t n = ev.n - first < BATCH_EVENTS ? ev.n - first : BATCH_EVENTS;
		json_t *whole;

		assert_int_equal(apply_batch(&fx, &ev, first, n, &batch), STORE_OK);
		whole = dump_state(batch);
		store_batch_abort(&batch);
		reload_tallies(&fx);
		for (long k = 1;; k++) {
			enum store_result r;

			oom_countdown = k;
			oom_failed = false;
			r = apply_batch(&fx, &ev, first, n, &batch);
			oom_countdown = 0;
			runs++;
			if (!oom_failed) {
				/* Every allocation of the batch has failed once. */
				assert_int_equal(r, STORE_OK);
				assert_int_equal(store_batch_commit(&batch), STORE_OK);
				break;
			}
			if (r == STORE_OK) {
				json_t *got = dump_state(batch);

				if (!json_equal(got, whole))
					fail_with_difference(whole, got, first, k);
				json_decref(got);
				store_batch_abort(&batch);
				went_on++;
			} else {
				/* What the daemon logs and answers says why. */
				const char *why = store_error(fx.store);

				if (strncmp(why, "state: out of memory ", 21) != 0)
					fail_msg("allocation %ld failed the batch of events %zu "
						 "on, and the store's error says \"%s\"",
					    k, first, why);
				refused++;
			}
			reload_tallies(&fx);
		}
		json_decref(whole);
	}
	print_message("%ld runs: %ld failed their batch, %ld went on past a failed allocation "
		      "and left the same state\n",
	    runs, refused, went_on);
	assert_true(refused > 100);
	fixture_close(&fx);
	events_free(&ev);
}

/* The daemon loads the totals at start and after every failed batch: one
 * loaded short of a total must not be taken for the stored ones. */
static void
a_failed_allocation_while_the_totals_load_fails_the_load(void **state)
{
	struct events ev = { 0 };
	struct fixture fx;
	struct store_batch *batch;
	long refused = 0;

	(void)state;
	log_set_level(LOG_LEVEL_ERROR);
	envelope_json_each_line(ENVELOPE_JSON_SCENARIO, add_line, &ev);
	fixture_open(&fx, "load");
	for (size_t first = 0; first < ev.n; first += BATCH_EVENTS) {
		size_t n = ev.n - first < BATCH_EVENTS ? ev.n - first : BATCH_EVENTS;

		assert_int_equal(apply_batch(&fx, &ev, first, n, &batch), STORE_OK);
		assert_int_equal(store_batch_commit(&batch), STORE_OK);
	}
	for (long k = 1;; k++) {
		enum store_result r;
		bool remade;

		assert_int_equal(store_batch_begin_read(fx.store, &batch), STORE_OK);
		oom_countdown = k;
		oom_failed = false;
		r = state_load(batch, fx.tallies, AS_OF_MS, &remade);
		oom_countdown = 0;
		store_batch_abort(&batch);
		assert_false(remade);
		if (!oom_failed) {
			assert_int_equal(r, STORE_OK);
			break;
		}
		if (r == STORE_OK)
			fail_msg("allocation %ld of loading the totals failed, and the load "
				 "said OK",
			    k);
		refused++;
	}
	assert_true(refused > 10);
	fixture_close(&fx);
	events_free(&ev);
}

static int
picture_take(void *arg, const uint8_t *key, size_t keylen, const uint8_t *bytes, size_t len)
{
	assert_int_equal(picture_add_history(arg, key, keylen, bytes, len), 0);
	return 0;
}

/* The flow area as the HTTP API reads it as of as_of_ms: a copy of the
 * totals moved on by the timers due. NULL when the reading failed. */
static json_t *
flow_read(struct store_batch *batch, const struct tallies *t, const struct picture *p,
    int64_t as_of_ms)
{
	struct figures fig;
	struct state_reading *reading;
	enum store_result r;
	bool done = false;

	assert_int_equal(figures_begin(&fig, p, as_of_ms), 0);
	r = state_flow_advance_begin(batch, t, &fig, &reading);
	while (r == STORE_OK && !done)
		r = state_reading_step(reading, INFINITY, &done);
	state_reading_end(&reading);
	if (r == STORE_OK)
		return fig.root;
	json_decref(fig.root);
	return NULL;
}

/* The HTTP API's flow area moves a copy of the totals on to its as-of: a
 * copy short of a part must not be read as the figures. */
static void
a_failed_allocation_never_gives_flow_figures_short_of_a_part(void **state)
{
	struct events ev = { 0 };
	struct fixture fx;
	struct store_batch *batch;
	struct picture *p = picture_new();
	json_t *whole, *got;
	long refused = 0;
	int64_t later_ms = AS_OF_MS + 4 * 86400000LL;

	(void)state;
	log_set_level(LOG_LEVEL_ERROR);
	envelope_json_each_line(ENVELOPE_JSON_SCENARIO, add_line, &ev);
	fixture_open(&fx, "flow");
	/* Every admission and discharge after FROM_MS is a timer due by
	 * later_ms, which adds a day the totals do not have yet. */
	fx.as_of_stays = true;
	for (size_t first = 0; first < ev.n; first += BATCH_EVENTS) {
		size_t n = ev.n - first < BATCH_EVENTS ? ev.n - first : BATCH_EVENTS;

		assert_int_equal(apply_batch(&fx, &ev, first, n, &batch), STORE_OK);
		assert_int_equal(store_batch_commit(&batch), STORE_OK);
	}
	assert_non_null(p);
	assert_int_equal(store_batch_begin_read(fx.store, &batch), STORE_OK);
	assert_int_equal(store_batch_scan_prefix(batch, STORE_HISTORIES, NULL, 0, picture_take, p),
	    STORE_OK);
	picture_seal(p);
	whole = flow_read(batch, fx.tallies, p, later_ms);
	assert_non_null(whole);
	for (long k = 1;; k++) {
		oom_countdown = k;
		oom_failed = false;
		got = flow_read(batch, fx.tallies, p, later_ms);
		oom_countdown = 0;
		if (!oom_failed) {
			assert_non_null(got);
			assert_true(json_equal(got, whole));
			json_decref(got);
			break;
		}
		if (got != NULL && !json_equal(got, whole))
			fail_msg("allocation %ld of reading the flow figures failed, and figures "
				 "short of it were given",
			    k);
		refused += got == NULL;
		json_decref(got);
	}
	assert_true(refused > 10);
	/* Totals already short of a part (a batch failed, not yet loaded
	 * again) are not read either, with no timer due or some. */
	fx.tallies->failed = true;
	assert_null(flow_read(batch, fx.tallies, p, tallies_as_of_ms(fx.tallies)));
	assert_null(flow_read(batch, fx.tallies, p, later_ms));
	store_batch_abort(&batch);
	json_decref(whole);
	picture_destroy(&p);
	fixture_close(&fx);
	events_free(&ev);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_failed_allocation_never_acks_an_event_left_out_of_the_state),
		cmocka_unit_test(a_failed_allocation_while_the_totals_load_fails_the_load),
		cmocka_unit_test(a_failed_allocation_never_gives_flow_figures_short_of_a_part),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
