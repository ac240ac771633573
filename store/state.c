/*
 * state: the one place where the pure projections (thing keys, history
 * insertion, places, the hierarchy) meet the store's write batch.
 */
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "state.h"

#define STATE_PARENTS_MAX 8 /* the hierarchy's depth limit */

/* Registered parents read from the batch, kept until the lookup ends. */
struct state_parents {
	struct store_batch *batch;
	char names[STATE_PARENTS_MAX][THING_KEY_MAX];
	int used;
};

static const char *
state_parent_of(void *arg, const char *code)
{
	struct state_parents *sp = arg;
	struct thing_key key;
	const uint8_t *bytes;
	size_t len, n = strlen(code);

	if (sp->used == STATE_PARENTS_MAX || n + 2 > sizeof(key.bytes))
		return NULL;
	key.bytes[0] = THING_ORGANISATION;
	memcpy(key.bytes + 1, code, n + 1);
	key.len = n + 2;
	if (store_batch_get_history(sp->batch, key.bytes, key.len, &bytes, &len) != STORE_OK ||
	    len == 0 ||
	    !history_organisation_parent(bytes, len, sp->names[sp->used], sizeof(sp->names[0])))
		return NULL;
	return sp->names[sp->used++];
}

static void
state_describe(struct store_batch *batch, const Commissioning__Envelope *env,
    const struct thing_key *key, const uint8_t *history_bytes, size_t history_len,
    struct state_change *change)
{
	Commissioning__History *history = commissioning__history__unpack(NULL, history_len,
	    history_bytes);
	Commissioning__Envelope *scratch = NULL;
	struct place places[PLACES_MAX];
	int n = thing_places(env, history, places, &scratch);

	change->n_places = 0;
	change->key = *key;
	thing_key_text(key, change->thing, sizeof(change->thing));
	for (int i = 0; i < n; i++) {
		struct state_parents sp = { .batch = batch };
		const char *icb = places[i].commissioner
		    ? hierarchy_commissioner_icb(state_parent_of, &sp, places[i].code)
		    : hierarchy_icb_of(state_parent_of, &sp, places[i].code);
		snprintf(change->places[i].area, sizeof(change->places[i].area), "%s", places[i].area);
		snprintf(change->places[i].icb, sizeof(change->places[i].icb), "%s",
		    icb != NULL ? icb : "unmapped");
		snprintf(change->places[i].code, sizeof(change->places[i].code), "%s", places[i].code);
		change->n_places++;
	}
	if (scratch != NULL)
		commissioning__envelope__free_unpacked(scratch, NULL);
	if (history != NULL)
		commissioning__history__free_unpacked(history, NULL);
}

enum store_result
state_apply(struct store_batch *batch, const Commissioning__Envelope *env, const uint8_t *bytes,
    size_t len, struct state_change *change)
{
	struct thing_key key;
	const uint8_t *old;
	size_t old_len;
	uint8_t stack[4096];
	ProtobufCBufferSimple out = PROTOBUF_C_BUFFER_SIMPLE_INIT(stack);
	enum store_result r;

	if (change != NULL)
		change->n_places = 0;
	/* event_check bounds every text, so the key always fits. */
	if (thing_key_of(env, &key) < 0) {
		log_error("state: no projection key for %s/%s", env->source, env->event_id);
		return STORE_OK;
	}
	r = store_batch_get_history(batch, key.bytes, key.len, &old, &old_len);
	if (r != STORE_OK)
		return r;
	if (history_insert(&key, old, old_len, env, bytes, len, &out.base) < 0) {
		/* Written by a build that this one cannot read: keep it as it is
		 * and say so; `commissionctl rebuild` remakes it from the log. */
		log_error("state: unreadable history for %s/%s; not updated", env->source,
		    env->event_id);
		PROTOBUF_C_BUFFER_SIMPLE_CLEAR(&out);
		return STORE_OK;
	}
	r = store_batch_put_history(batch, key.bytes, key.len, out.data, out.len);
	if (r == STORE_OK && change != NULL)
		state_describe(batch, env, &key, out.data, out.len, change);
	PROTOBUF_C_BUFFER_SIMPLE_CLEAR(&out);
	return r;
}
