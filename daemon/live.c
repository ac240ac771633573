/*
 * live: the daemon's picture of the projections' state, kept in step with
 * the store so that every update can carry its place's figures as of the
 * commit (DOMAIN.md, What the daemon publishes). Owns the picture and, for
 * the batch in hand, each area's figures, worked out at most once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commissiond.h"
#include "dates.h"
#include "log.h"

struct live {
	struct store *store;
	struct picture *picture;
	int64_t as_of_ms;
	json_t *figures;	/* area -> that area's figures, for this batch */
	json_t *alerts_before;	/* conflict alerts before the batch, when asked */
	bool stale;		/* a batch failed: reload before the next */
};

static int
live_load_one(void *arg, const uint8_t *key, size_t keylen, const uint8_t *bytes, size_t len)
{
	if (picture_add_history(arg, key, keylen, bytes, len) < 0)
		log_warning("live: a stored history does not decode; skipped (run commissionctl rebuild)");
	return 0;
}

static int
live_load(struct live *live)
{
	struct picture *picture = picture_new();

	if (picture == NULL || store_scan_histories(live->store, live_load_one, picture) != STORE_OK) {
		picture_destroy(&picture);
		return -1;
	}
	picture_seal(picture);
	picture_destroy(&live->picture);
	live->picture = picture;
	live->stale = false;
	return 0;
}

struct live *
live_new(struct store *store, char *err, size_t errlen)
{
	struct live *live = calloc(1, sizeof(*live));

	if (live == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	live->store = store;
	if (live_load(live) < 0) {
		snprintf(err, errlen, "live: cannot load the state: %s", store_error(store));
		free(live);
		return NULL;
	}
	return live;
}

void
live_destroy(struct live **livep)
{
	struct live *live = *livep;

	if (live == NULL)
		return;
	live_batch_end(live);
	picture_destroy(&live->picture);
	free(live);
	*livep = NULL;
}

void
live_batch_begin(struct live *live, int64_t as_of_ms)
{
	live_batch_end(live);
	if (live->stale && live_load(live) < 0)
		log_error("live: cannot reload the state: %s", store_error(live->store));
	live->as_of_ms = as_of_ms;
	live->figures = json_object();
}

/* The area's figures for the batch in hand, worked out once. */
static json_t *
live_area(struct live *live, const char *area)
{
	json_t *f = json_object_get(live->figures, area);

	if (f == NULL) {
		picture_seal(live->picture);
		f = picture_figures(live->picture, area, live->as_of_ms);
		if (f == NULL)
			return NULL;
		json_object_set_new(live->figures, area, f);
	}
	return f;
}

void
live_note_alerts(struct live *live)
{
	json_t *gov;

	if (live->alerts_before != NULL)
		return;
	gov = live_area(live, "governance");
	live->alerts_before = json_deep_copy(
	    json_object_get(json_object_get(gov, "governance"), "conflict_alerts"));
	if (live->alerts_before == NULL)
		live->alerts_before = json_array();
	/* Figures from here on must see the batch's changes. */
	json_object_clear(live->figures);
}

void
live_set(struct live *live, const struct thing_key *key, const uint8_t *bytes, size_t len)
{
	if (picture_set_history(live->picture, key->bytes, key->len, bytes, len) < 0)
		log_error("live: a history does not decode; its figures are left out");
	json_object_clear(live->figures);
}

/* Items of a that are not in b. */
static json_t *
alerts_minus(json_t *a, json_t *b)
{
	json_t *out = json_array(), *x, *y;
	size_t i, j;

	json_array_foreach(a, i, x) {
		bool found = false;
		json_array_foreach(b, j, y)
			if (json_equal(x, y)) {
				found = true;
				break;
			}
		if (!found)
			json_array_append(out, x);
	}
	return out;
}

/* The alerts of list about the event's contract or declaration. */
static json_t *
alerts_about(json_t *list, const Commissioning__Envelope *env)
{
	const char *field = NULL, *value = NULL;
	json_t *out = json_array(), *x;
	size_t i;

	switch (env->event_case) {
	case COMMISSIONING__ENVELOPE__EVENT_CONTRACT_AWARDED:
		field = "contract_id", value = env->contract_awarded->contract_id;
		break;
	case COMMISSIONING__ENVELOPE__EVENT_CONTRACT_VARIED:
		field = "contract_id", value = env->contract_varied->contract_id;
		break;
	case COMMISSIONING__ENVELOPE__EVENT_INTEREST_DECLARED:
		field = "declaration_id", value = env->interest_declared->declaration_id;
		break;
	case COMMISSIONING__ENVELOPE__EVENT_INTEREST_WITHDRAWN:
		field = "declaration_id", value = env->interest_withdrawn->declaration_id;
		break;
	default:
		return out;
	}
	json_array_foreach(list, i, x) {
		json_t *v = json_object_get(x, field);
		if (json_is_string(v) && strcmp(json_string_value(v), value) == 0)
			json_array_append(out, x);
	}
	return out;
}

char *
live_place_figures(struct live *live, const char *area, const char *icb, const char *code,
    const Commissioning__Envelope *env)
{
	json_t *figures = live_area(live, area), *slice;
	char *text;

	if (figures == NULL)
		return NULL;
	slice = place_figures(figures, area, icb, code, env,
	    dates_london_day_of_ms(env->occurred_at));
	if (strcmp(area, "governance") == 0 && live->alerts_before != NULL) {
		json_t *after = json_object_get(json_object_get(figures, "governance"),
		    "conflict_alerts");
		json_t *raised = alerts_minus(after, live->alerts_before);
		json_t *cleared = alerts_minus(live->alerts_before, after);
		json_object_set_new(slice, "alerts_raised", alerts_about(raised, env));
		json_object_set_new(slice, "alerts_cleared", alerts_about(cleared, env));
		json_decref(raised);
		json_decref(cleared);
	}
	text = json_dumps(slice, JSON_COMPACT);
	json_decref(slice);
	return text;
}

void
live_batch_end(struct live *live)
{
	json_decref(live->figures);
	json_decref(live->alerts_before);
	live->figures = NULL;
	live->alerts_before = NULL;
}

void
live_batch_failed(struct live *live)
{
	/* The picture holds changes that never committed: read it afresh. */
	live->stale = true;
}

json_t *
live_figures(struct live *live, const char *area, int64_t as_of_ms)
{
	/* Between batches the picture is what the store holds, unless the
	 * last batch failed: then it is read afresh first. */
	if (live->stale && live_load(live) < 0) {
		log_error("live: cannot reload the state: %s", store_error(live->store));
		return NULL;
	}
	picture_seal(live->picture);
	return picture_figures(live->picture, area, as_of_ms);
}
