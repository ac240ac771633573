/*
 * load: prepares a large store for the restart benchmark without feeding
 * millions of events through the daemon one batch at a time. It writes
 * what the daemon's ingest writes for each accepted event, through the
 * same modules: the event and its dedupe key (store/store.c), the thing's
 * history and the derived state beside it (store/state.c, the daemon's
 * own code for them, kept batch by batch as ingest keeps them: which
 * places an event changes can depend on it), and the updates under the
 * daemon's topics, event.<kind>.<source> with the envelope and
 * <area>.<icb>.<code> per place the event changes. One difference, said
 * wherever these stores are used: a state_changed update's figures are
 * "{}", because working them out needs the whole picture in memory.
 *
 *   bench-load --store DIR [--batch N] < EVENTS.jsonl
 *
 * Every event must be accepted as the daemon would (event_check, no
 * repeated id): a corpus with a bad event is an error, not a dead letter.
 * Prints {"events", "updates", "seconds", "events_per_second"}.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "bench.h"
#include "clock.h"
#include "config.h"
#include "envelope_hash.h"
#include "event_check.h"
#include "state.h"
#include "tallies.h"
#include "store.h"

#define PROG "bench-load"
#define LOAD_TOPIC_MAX 320
#define LOAD_GROW_ATTEMPTS 8

static enum store_result
append_update(
    struct store_batch *batch, Commissioning__Update *update, char *topic, uint64_t *updates)
{
	update->topic = topic;
	(*updates)++;
	return store_batch_append_update(batch, update);
}

/* One accepted event: the event, its state, its updates. */
static enum store_result
load_event(struct store_batch *batch, const struct state_context *ctx, const uint8_t *bytes,
    size_t len, int64_t now_ms, uint64_t *updates)
{
	Commissioning__Envelope *env = commissioning__envelope__unpack(NULL, len, bytes);
	Commissioning__Update update = COMMISSIONING__UPDATE__INIT;
	Commissioning__EventAccepted accepted = COMMISSIONING__EVENT_ACCEPTED__INIT;
	struct state_change change;
	struct check_error why;
	uint8_t hash[STORE_HASH_BYTES], stored[STORE_HASH_BYTES];
	char topic[LOAD_TOPIC_MAX];
	uint64_t sequence;
	enum store_result r;

	if (env == NULL)
		bench_fail(PROG, "an envelope that does not decode");
	if (event_check(env, &why) < 0)
		bench_fail(PROG, "%s/%s would be rejected: %s: %s", env->source, env->event_id,
		    why.field, why.reason);
	envelope_content_hash(env, hash);
	if (store_batch_find_event(batch, env->source, env->event_id, &sequence, stored))
		bench_fail(PROG, "%s/%s is stored already", env->source, env->event_id);
	r = store_batch_append_event(
	    batch, env->source, env->event_id, hash, bytes, len, &sequence);
	if (r == STORE_OK)
		r = state_apply(batch, ctx, env, bytes, len, &change);
	update.commit_time = now_ms;
	update.event_sequence = sequence;
	update.body_case = COMMISSIONING__UPDATE__BODY_EVENT_ACCEPTED;
	accepted.envelope = env;
	update.event_accepted = &accepted;
	snprintf(topic, sizeof(topic), "event.%s.%s", event_kind_name(env), env->source);
	if (r == STORE_OK)
		r = append_update(batch, &update, topic, updates);
	for (int i = 0; r == STORE_OK && i < change.n_places; i++) {
		Commissioning__StateChanged changed = COMMISSIONING__STATE_CHANGED__INIT;
		changed.area = change.places[i].area;
		changed.icb = change.places[i].icb;
		changed.code = change.places[i].code;
		changed.thing = change.thing;
		changed.figures = "{}";
		update.body_case = COMMISSIONING__UPDATE__BODY_STATE_CHANGED;
		update.state_changed = &changed;
		snprintf(topic, sizeof(topic), "%s.%s.%s", changed.area, changed.icb, changed.code);
		r = append_update(batch, &update, topic, updates);
	}
	commissioning__envelope__free_unpacked(env, NULL);
	return r;
}

/* The corpus's envelopes as one transaction, grown and done again when
 * the map is full, as the daemon does: with the derived state kept as the
 * daemon keeps it (the tallies moved to the batch's time and flushed with
 * it; loaded again after a batch that failed), so that the places, and so
 * the updates, are the daemon's. */
static void
load_batch(struct store *store, struct tallies *tallies, bool *loaded, const struct corpus *c,
    uint64_t *updates)
{
	for (int attempt = 0;; attempt++) {
		struct store_batch *batch = NULL;
		enum store_result r = store_batch_begin(store, &batch);
		struct state_context ctx = { .tallies = tallies };
		uint64_t counted = *updates;
		int64_t now_ms = clock_now_ms();
		bool remade;

		if (r == STORE_OK)
			r = *loaded ? state_advance(batch, tallies, now_ms)
				    : state_load(batch, tallies, now_ms, &remade);
		*loaded = r == STORE_OK;
		for (size_t i = 0; r == STORE_OK && i < c->n; i++)
			r = load_event(batch, &ctx, c->bytes[i], c->len[i], now_ms, &counted);
		if (r == STORE_OK)
			r = state_flush(batch, tallies);
		if (r == STORE_OK) {
			r = store_batch_commit(&batch);
		} else if (batch != NULL) {
			store_batch_abort(&batch);
		}
		if (r == STORE_OK) {
			*updates = counted;
			return;
		}
		*loaded = false; /* the tallies hold what did not commit */
		if (r != STORE_MAP_FULL || attempt == LOAD_GROW_ATTEMPTS ||
		    store_grow(store) != STORE_OK)
			bench_fail(PROG, "store: %s", store_error(store));
	}
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"store", required_argument, NULL, 's'},
	    {"batch", required_argument, NULL, 'b'},
	    {NULL, 0, NULL, 0},
	};
	struct config cfg;
	struct store_options opt;
	struct store *store;
	struct store_counts counts;
	struct corpus c = {0};
	struct tallies *tallies;
	bool loaded = false;
	uint64_t batch_size = 10000, events = 0, updates = 0, start;
	size_t lineno = 0;
	char err[768];
	int ch, got;

	config_defaults(&cfg);
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 's':
			snprintf(cfg.store_path, sizeof(cfg.store_path), "%s", optarg);
			break;
		case 'b':
			batch_size = bench_parse_u64(PROG, "--batch", optarg);
			break;
		default:
			fprintf(stderr, "usage: " PROG " --store DIR [--batch N] < EVENTS.jsonl\n");
			return 2;
		}
	}
	if (optind != argc || batch_size == 0) {
		fprintf(stderr, "usage: " PROG " --store DIR [--batch N] < EVENTS.jsonl\n");
		return 2;
	}
	if (sodium_init() < 0)
		bench_fail(PROG, "libsodium failed to initialise");
	opt = (struct store_options){
	    .path = cfg.store_path,
	    .map_size_bytes = cfg.store_map_size_bytes,
	    /* Room for ten million events and their updates. */
	    .map_max_bytes = 64ULL << 30,
	    /* Nothing here needs to survive a crash: the driver syncs the
	     * finished store, and an unfinished one is thrown away. */
	    .sync_mode = STORE_SYNC_NONE,
	    .update_retention = cfg.store_update_retention,
	    .dead_letter_keep_bytes = cfg.store_dead_letter_keep_bytes,
	};
	store = store_open(&opt, err, sizeof(err));
	if (store == NULL)
		bench_fail(PROG, "%s", err);
	if (store_read_counts(store, &counts) != STORE_OK || counts.last_event_sequence != 0)
		bench_fail(PROG, "%s: the store must be new", cfg.store_path);

	if ((tallies = tallies_new()) == NULL)
		bench_fail(PROG, "out of memory");
	start = bench_now_ns();
	while ((got = corpus_read_lines(&c, stdin, batch_size, &lineno, err, sizeof(err))) > 0) {
		load_batch(store, tallies, &loaded, &c, &updates);
		events += c.n;
		corpus_free(&c);
	}
	if (got < 0)
		bench_fail(PROG, "stdin: %s", err);
	tallies_destroy(&tallies);
	store_close(&store);

	double seconds = (double)(bench_now_ns() - start) / 1e9;
	bench_print(json_pack("{s:I, s:I, s:f, s:f}", "events", (json_int_t)events, "updates",
	    (json_int_t)updates, "seconds", seconds, "events_per_second",
	    seconds > 0 ? (double)events / seconds : 0.0));
	return 0;
}
