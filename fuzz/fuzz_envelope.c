/*
 * fuzz_envelope: what the daemon's ingest does with frames from the
 * network, apart from the socket and LMDB. Each frame is decoded and checked
 * as ingest does it (envelope_decode_frame, with the shipped size limit)
 * and hashed; an accepted one goes through the projections' write side as
 * state.c takes it (the thing's key, its history, its places and their
 * ICBs) over an in-memory table of histories standing in for the store, and
 * the picture's figures for each place are worked out as live.c does.
 *
 * Input: one or more frames separated by FUZZ_FRAME_SEPARATOR, as if they
 * came in one batch.
 *
 * Invariants checked (each a promise of the code, not of this file):
 * - an accepted event always has a thing key (state.c relies on it);
 * - repacking an accepted envelope does not change its content hash;
 * - putting the same event into a history twice changes nothing, and the
 *   same events give the same history bytes in any arrival order
 *   (projections.h);
 * - every history written decodes, into the picture too.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "dates.h"
#include "envelope.h"
#include "envelope_hash.h"
#include "fuzz.h"
#include "projections.h"

#define FUZZ_FRAME_SEPARATOR "#FRAME#"
#define FUZZ_FRAMES_MAX 16

/* One thing's history, as the store's table of histories would hold it. */
struct fuzz_history {
	struct thing_key key;
	uint8_t *bytes;
	size_t len;
};

/* One accepted event: its frame, decoded, and the thing it went into. */
struct fuzz_accepted {
	const uint8_t *frame;
	size_t len;
	Commissioning__Envelope *env;
	uint8_t hash[ENVELOPE_HASH_BYTES];
	size_t history; /* index into the batch's histories */
};

struct fuzz_batch {
	struct fuzz_history histories[FUZZ_FRAMES_MAX];
	size_t n_histories;
	struct fuzz_accepted accepted[FUZZ_FRAMES_MAX];
	size_t n_accepted;
	struct picture *picture;
};

static struct fuzz_history *
batch_history(struct fuzz_batch *b, const struct thing_key *key)
{
	for (size_t i = 0; i < b->n_histories; i++)
		if (b->histories[i].key.len == key->len &&
		    memcmp(b->histories[i].key.bytes, key->bytes, key->len) == 0)
			return &b->histories[i];
	return NULL;
}

/* The registered parents, looked up as state.c does in the store. */
struct fuzz_parents {
	struct fuzz_batch *batch;
	char names[8][THING_KEY_MAX];
	int used;
};

static const char *
fuzz_parent_of(void *arg, const char *code)
{
	struct fuzz_parents *fp = arg;
	struct thing_key key;
	const struct fuzz_history *h;
	size_t n = strlen(code);

	if (fp->used == 8 || n + 2 > sizeof(key.bytes))
		return NULL;
	key.bytes[0] = THING_ORGANISATION;
	memcpy(key.bytes + 1, code, n + 1);
	key.len = n + 2;
	h = batch_history(fp->batch, &key);
	if (h == NULL || !history_organisation_parent(
	                     h->bytes, h->len, fp->names[fp->used], sizeof(fp->names[0])))
		return NULL;
	return fp->names[fp->used++];
}

/* history_insert into a new malloc'd buffer. */
static uint8_t *
insert(const struct thing_key *key, const uint8_t *old, size_t old_len,
    const struct fuzz_accepted *a, size_t *len)
{
	uint8_t stack[4096];
	ProtobufCBufferSimple out = PROTOBUF_C_BUFFER_SIMPLE_INIT(stack);
	uint8_t *bytes;

	FUZZ_ASSERT(history_insert(key, old, old_len, a->env, a->frame, a->len, &out.base) == 0,
	    "a history this batch wrote decodes again");
	bytes = malloc(out.len ? out.len : 1);
	FUZZ_ASSERT(bytes != NULL, "memory for a history");
	memcpy(bytes, out.data, out.len);
	*len = out.len;
	PROTOBUF_C_BUFFER_SIMPLE_CLEAR(&out);
	return bytes;
}

/* What state_apply and ingest_add_updates do with an accepted event. */
static void
apply(struct fuzz_batch *b, struct fuzz_accepted *a)
{
	struct thing_key key;
	struct fuzz_history *h;
	Commissioning__History *history;
	Commissioning__Envelope *scratch = NULL;
	struct place places[PLACES_MAX];
	char text[THING_KEY_MAX + 64];
	uint8_t *bytes, *again;
	size_t len, again_len;
	int n;

	FUZZ_ASSERT(thing_key_of(a->env, &key) == 0, "an accepted event has a thing key");
	h = batch_history(b, &key);
	if (h == NULL) {
		h = &b->histories[b->n_histories++];
		h->key = key;
		h->bytes = NULL;
		h->len = 0;
	}
	a->history = (size_t)(h - b->histories);
	bytes = insert(&key, h->bytes, h->len, a, &len);
	again = insert(&key, bytes, len, a, &again_len);
	FUZZ_ASSERT(again_len == len && memcmp(again, bytes, len) == 0,
	    "an event put into its history twice is there once");
	free(again);
	free(h->bytes);
	h->bytes = bytes;
	h->len = len;

	thing_key_text(&key, text, sizeof(text));
	FUZZ_ASSERT(picture_set_history(b->picture, key.bytes, key.len, bytes, len) == 0,
	    "the picture reads every history written");
	picture_seal(b->picture);

	history = commissioning__history__unpack(NULL, len, bytes);
	FUZZ_ASSERT(history != NULL, "a history written decodes");
	n = thing_places(a->env, history, places, &scratch);
	for (int i = 0; i < n; i++) {
		struct fuzz_parents fp = {.batch = b};
		const char *icb =
		    places[i].commissioner
		        ? hierarchy_commissioner_icb(fuzz_parent_of, &fp, places[i].code)
		        : hierarchy_icb_of(fuzz_parent_of, &fp, places[i].code);
		json_t *figures = picture_figures(b->picture, places[i].area, a->env->occurred_at);
		char person[1][65];
		struct place_cut cut = { b->picture, (const char (*)[65])person,
			place_event_person(a->env, person[0]) ? 1 : 0 };
		json_t *slice;

		FUZZ_ASSERT(figures != NULL, "thing_places names an area of the picture");
		slice = place_figures(figures, places[i].area, icb != NULL ? icb : "unmapped",
		    places[i].code, a->env, &cut, dates_london_day_of_ms(a->env->occurred_at));
		free(json_dumps(slice, JSON_COMPACT));
		json_decref(slice);
		json_decref(figures);
	}
	if (scratch != NULL)
		commissioning__envelope__free_unpacked(scratch, NULL);
	commissioning__history__free_unpacked(history, NULL);
}

/* The same events, put in last to first, make the same history bytes. */
static void
check_order_free(const struct fuzz_batch *b)
{
	for (size_t k = 0; k < b->n_histories; k++) {
		const struct fuzz_history *h = &b->histories[k];
		uint8_t *bytes = NULL;
		size_t len = 0;

		for (size_t i = b->n_accepted; i-- > 0;) {
			uint8_t *next;
			if (b->accepted[i].history != k)
				continue;
			next = insert(&h->key, bytes, len, &b->accepted[i], &len);
			free(bytes);
			bytes = next;
		}
		FUZZ_ASSERT(len == h->len && memcmp(bytes, h->bytes, len) == 0,
		    "the same events make the same history in any arrival order");
		free(bytes);
	}
}

/* The first separator in [at, end), or NULL. */
static const uint8_t *
find_separator(const uint8_t *at, const uint8_t *end)
{
	static const size_t n = sizeof(FUZZ_FRAME_SEPARATOR) - 1;

	for (; (size_t)(end - at) >= n; at++)
		if (memcmp(at, FUZZ_FRAME_SEPARATOR, n) == 0)
			return at;
	return NULL;
}

/* The decision of ingest_decide for one frame. */
static void
decide(struct fuzz_batch *b, const uint8_t *frame, size_t len)
{
	Commissioning__Envelope *env = NULL;
	struct fuzz_accepted *a;
	struct check_error why;
	uint8_t again[ENVELOPE_HASH_BYTES];

	if (envelope_decode_frame(
	        frame, len, fuzz_config()->ingest_max_envelope_bytes, &env, &why) < 0) {
		FUZZ_ASSERT(why.field[0] != '\0' && why.reason[0] != '\0',
		    "a refused frame says which field and why");
		if (env != NULL) {
			(void)event_kind_name(env); /* echoed in the Ack */
			commissioning__envelope__free_unpacked(env, NULL);
		}
		return;
	}
	a = &b->accepted[b->n_accepted];
	a->frame = frame;
	a->len = len;
	a->env = env;
	envelope_content_hash(env, a->hash);
	/* The store's dedupe: the same (source, event id) is a duplicate or
	 * a reused id, and is not applied again. */
	for (size_t i = 0; i < b->n_accepted; i++) {
		if (strcmp(b->accepted[i].env->source, env->source) == 0 &&
		    strcmp(b->accepted[i].env->event_id, env->event_id) == 0) {
			commissioning__envelope__free_unpacked(env, NULL);
			return;
		}
	}
	env->schema_version ^= 1;
	envelope_content_hash(env, again);
	env->schema_version ^= 1;
	FUZZ_ASSERT(memcmp(again, a->hash, sizeof(again)) == 0,
	    "the schema version is not part of the content hash");
	b->n_accepted++;
	apply(b, a);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t sep_len = sizeof(FUZZ_FRAME_SEPARATOR) - 1;
	struct fuzz_batch b = {.picture = picture_new()};
	const uint8_t *at = data, *end = data + size;
	size_t n_frames = 0;

	FUZZ_ASSERT(b.picture != NULL, "memory for a picture");
	while (n_frames < FUZZ_FRAMES_MAX) {
		const uint8_t *next = find_separator(at, end);
		size_t len = next != NULL ? (size_t)(next - at) : (size_t)(end - at);

		decide(&b, at, len);
		n_frames++;
		if (next == NULL)
			break;
		at = next + sep_len;
	}
	check_order_free(&b);
	for (size_t i = 0; i < b.n_accepted; i++)
		commissioning__envelope__free_unpacked(b.accepted[i].env, NULL);
	for (size_t i = 0; i < b.n_histories; i++)
		free(b.histories[i].bytes);
	picture_destroy(&b.picture);
	return 0;
}
