/*
 * live: what the daemon keeps in memory so that every update carries its
 * place's figures as of the commit (DOMAIN.md, What the daemon publishes),
 * without folding the whole state for each batch. Owns:
 *   - the tallies of flow and delayed discharges (projections/tallies.h),
 *     kept in step with the store by store/state.c, as events apply;
 *   - the picture of the small kinds of thing (organisations, services,
 *     contracts, budgets, spend, capacity lines, declarations: reference
 *     and commissioners' records, not patients), whose areas are folded
 *     whole, at most once per batch;
 *   - for the batch in hand, the figures and slices already worked out.
 * Spells, ready reports and packages stay in the store. The HTTP API's
 * flow figures come from a copy of the tallies moved to the as-of asked by
 * the timers due by then (or, for an as-of they have passed, a fold of the
 * spells one at a time); its delayed-discharge figures from the ready
 * reports and the indexes by person, never from every spell. Each is read
 * in steps from a snapshot (live_reading), but for flow with few timers
 * due, which is read at once.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commissiond.h"
#include "dates.h"
#include "log.h"
#include "text.h"

/* The kinds of thing the picture in memory holds. */
static const uint8_t live_small_kinds[] = { THING_ORGANISATION, THING_SERVICE, THING_CONTRACT,
	THING_SPEND, THING_BUDGET, THING_CAPACITY, THING_DECLARATION };

/* What the decode arena keeps between events: a spell's or a package's
 * history and its events fit many times over. */
#define LIVE_DECODE_KEEP_BYTES (256u << 10)

/* Flow with no more timers due than this (a few milliseconds of reading)
 * is read at once, not in steps. */
#define LIVE_FLOW_AT_ONCE_TIMERS 256

/* Tallies further behind the clock than this (the daemon was stopped, or
 * had no event for a while) catch up before the next batch, in committed
 * steps of about LIVE_CATCH_UP_TIMERS timers each (live_catch_up). */
#define LIVE_BEHIND_MS (60 * 1000)
#define LIVE_CATCH_UP_TIMERS 1024

struct live {
	struct store *store;
	struct picture *picture; /* the small kinds only */
	struct tallies *tallies;
	uint64_t generation;	 /* of the derived state the tallies were loaded from */
	struct state_context context;
	struct arena *decode; /* the context's scratch: one history decoded at a time */
	struct store_batch *batch; /* the batch in hand, between begin and end */
	json_t *figures;	   /* area -> that area's figures, for this batch */
	json_t *slices;		   /* key -> figures text already cut, for this batch */
	json_t *alerts_before;	   /* conflict alerts before the batch, when asked */
	bool alerts_unknown;	   /* ... and they could not be worked out: none compared */
	char *scratch;		   /* the last figures cut that are not in slices */
	bool stale;		   /* a batch failed: reload before the next */
	bool picture_short;	   /* the batch's picture lacks a history it wrote */
	uint64_t folds;		   /* flow figures folded from every spell */
	uint64_t batches;	   /* batches ended: a fold is kept only if none since */
	/* The last flow fold (before the tallies' as-of), until the next batch:
	 * the tables and the area asked for one as-of fold once. */
	json_t *fold_figures;
	int64_t fold_as_of_ms;
	/* Catching up with the clock: more timers were due than a step
	 * moves; since when (monotonic), and the steps taken before. */
	bool behind;
	double behind_since;
	uint64_t steps_before_behind;
	/* The last step failed: not behind, so that batches move the tallies
	 * themselves (and say what fails), until a step or a batch works. */
	bool catch_up_failed;
	uint64_t catch_up_steps_total; /* steps that moved timers, since start */
};

static bool
live_is_small_kind(uint8_t kind)
{
	return memchr(live_small_kinds, kind, sizeof(live_small_kinds)) != NULL;
}

static const char *
live_parent_of(void *arg, const char *code)
{
	const Commissioning__Organisation *org = picture_organisation(arg, code);

	return org != NULL ? org->parent_code : NULL;
}

static const char *
live_icb_of(void *arg, const char *provider)
{
	return picture_icb_of(arg, provider);
}

/* state_apply tells of each history it writes: the picture follows at
 * once, so the next event's topic sees the organisations it registered.
 * One it could not take for want of memory leaves the picture short: the
 * batch fails (live_batch_flush), as its updates would be cut from it,
 * and the picture is read again from the store (live->stale). */
static void
live_history_changed(void *arg, const struct thing_key *key, const uint8_t *bytes, size_t len)
{
	struct live *live = arg;
	int r;

	if (!live_is_small_kind(key->bytes[0]))
		return;
	r = picture_set_history(live->picture, key->bytes, key->len, bytes, len);
	if (r == THING_VIEW_NO_MEMORY) {
		live->stale = true;
		live->picture_short = true;
	} else if (r < 0) {
		log_error("live: a history does not decode; its figures are left out");
	}
	json_object_clear(live->figures); /* figures from here on see it */
}

/* Loading a picture: a history it could not take for want of memory
 * stops the load (the picture would be short of it). */
struct live_loading {
	struct picture *picture;
	bool no_memory;
};

static int
live_load_one(void *arg, const uint8_t *key, size_t keylen, const uint8_t *bytes, size_t len)
{
	struct live_loading *loading = arg;
	int r = picture_add_history(loading->picture, key, keylen, bytes, len);

	if (r == 0)
		return 0;
	if (r == THING_VIEW_NO_MEMORY) {
		loading->no_memory = true;
		return 1;
	}
	log_warning("live: a stored history does not decode; skipped (run commissionctl rebuild)");
	return 0;
}

/* The small kinds' picture as batch sees them, in *picture; a failure is
 * logged, saying why. */
static enum store_result
live_picture_load(struct live *live, struct store_batch *batch, struct picture **picture)
{
	struct picture *loaded = picture_new();
	struct live_loading loading = { loaded, loaded == NULL };
	enum store_result r = STORE_OK;

	for (size_t i = 0; r == STORE_OK && !loading.no_memory && i < sizeof(live_small_kinds); i++)
		r = store_batch_scan_prefix(batch, STORE_HISTORIES, &live_small_kinds[i], 1,
		    live_load_one, &loading);
	*picture = loaded;
	if (r == STORE_OK && loading.no_memory) /* not the store's: its error says so */
		r = store_batch_fail(batch, "out of memory loading the reference data");
	if (r != STORE_OK) {
		log_error("live: the reference data could not be read: %s",
		    store_error(live->store));
		picture_destroy(picture);
		return r;
	}
	picture_seal(*picture);
	return STORE_OK;
}

/* Load the tallies (remaking the derived state when it does not match the
 * histories) and the small kinds' picture, inside batch. */
static enum store_result
live_load(struct live *live, struct store_batch *batch, int64_t now_ms, bool *remade)
{
	struct picture *picture = NULL;
	enum store_result r = state_load(batch, live->tallies, now_ms, remade);

	if (r == STORE_OK)
		r = live_picture_load(live, batch, &picture);
	if (r != STORE_OK)
		return r;
	picture_destroy(&live->picture);
	live->picture = picture;
	live->context.parent_arg = picture;
	live->generation = state_generation(batch);
	live->stale = false;
	return STORE_OK;
}

/* live_load in a batch of its own, committed only when the derived state
 * was remade (else nothing was written). */
static enum store_result
live_load_afresh(struct live *live)
{
	struct store_batch *batch = NULL;
	enum store_result r = store_batch_begin(live->store, &batch);
	bool remade = false;

	if (r == STORE_OK)
		r = live_load(live, batch, clock_now_ms(), &remade);
	if (r == STORE_OK && remade)
		r = store_batch_commit(&batch);
	else
		store_batch_abort(&batch);
	return r;
}

struct live *
live_new(struct store *store, char *err, size_t errlen)
{
	struct live *live = calloc(1, sizeof(*live));

	if (live == NULL || (live->tallies = tallies_new()) == NULL ||
	    (live->figures = json_object()) == NULL || (live->slices = json_object()) == NULL ||
	    (live->decode = arena_new(LIVE_DECODE_KEEP_BYTES)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	live->store = store;
	live->context.tallies = live->tallies;
	live->context.parent_of = live_parent_of;
	live->context.history_changed = live_history_changed;
	live->context.history_arg = live;
	live->context.scratch = live->decode;
	if (live_load_afresh(live) != STORE_OK) {
		snprintf(err, errlen, "live: cannot load the state: %s", store_error(store));
		goto fail;
	}
	return live;
fail:
	live_destroy(&live);
	return NULL;
}

void
live_destroy(struct live **livep)
{
	struct live *live = *livep;

	if (live == NULL)
		return;
	live_batch_end(live);
	picture_destroy(&live->picture);
	tallies_destroy(&live->tallies);
	json_decref(live->figures);
	json_decref(live->slices);
	arena_destroy(&live->decode);
	free(live);
	*livep = NULL;
}

/* The tallies and the picture as batch sees them: a failed batch left
 * changes that never committed, and commissionctl rebuild may have remade
 * the state meanwhile: read them afresh then. */
static enum store_result
live_load_if_stale(struct live *live, struct store_batch *batch, int64_t as_of_ms,
    bool *remade)
{
	*remade = false;
	if (!live->stale && state_generation(batch) == live->generation)
		return STORE_OK;
	return live_load(live, batch, as_of_ms, remade);
}

enum store_result
live_batch_begin(struct live *live, struct store_batch *batch, int64_t as_of_ms)
{
	enum store_result r;
	bool remade;

	live_batch_end(live);
	r = live_load_if_stale(live, batch, as_of_ms, &remade);
	if (r == STORE_OK)
		r = state_advance(batch, live->tallies, as_of_ms);
	if (r == STORE_OK) {
		live->batch = batch;
		live->catch_up_failed = false;
	}
	else
		live->stale = true;
	return r;
}

bool
live_behind(const struct live *live, int64_t now_ms)
{
	if (live->catch_up_failed)
		return false;
	return live->behind || now_ms - tallies_as_of_ms(live->tallies) > LIVE_BEHIND_MS;
}

/* Say when catching up begins and ends, with what it took. */
static void
live_note_behind(struct live *live, bool behind, int64_t now_ms, int64_t from_ms)
{
	double now = clock_monotonic_seconds();

	/* The step that finds it behind is the first of the catching up. */
	if (behind && !live->behind) {
		live->behind_since = now;
		live->steps_before_behind = live->catch_up_steps_total - 1;
		log_info("live: the running totals are %.1f h behind the clock, with more than "
			 "%d timers due; they catch up a committed step at a time before ingest "
			 "takes more events",
		    (double)(now_ms - from_ms) / 3.6e6, LIVE_CATCH_UP_TIMERS);
	}
	else if (!behind && live->behind)
		log_info("live: the running totals caught up with the clock in %" PRIu64
			 " steps, %.2f s",
		    live->catch_up_steps_total - live->steps_before_behind,
		    now - live->behind_since);
	live->behind = behind;
}

enum store_result
live_catch_up(struct live *live, int64_t now_ms)
{
	struct store_batch *batch = NULL;
	enum store_result r = store_batch_begin(live->store, &batch);
	int64_t from_ms = 0;
	size_t due = 0;
	bool more = false, remade = false;

	if (r == STORE_OK)
		r = live_load_if_stale(live, batch, now_ms, &remade);
	from_ms = tallies_as_of_ms(live->tallies);
	if (r == STORE_OK)
		r = state_advance_step(batch, live->tallies, now_ms, LIVE_CATCH_UP_TIMERS, &due,
		    &more);
	/* No timer due: only the as-of moved, in memory (the next batch's
	 * flush writes it); nothing to commit but a state remade. */
	if (r == STORE_OK && (due > 0 || remade)) {
		r = state_flush(batch, live->tallies);
		if (r == STORE_OK)
			r = store_batch_commit(&batch);
	}
	store_batch_abort(&batch);
	if (r != STORE_OK) {
		if (!live->catch_up_failed)
			log_error("live: the running totals could not move on with the clock: %s; "
				  "the next batch moves them at once",
			    store_error(live->store));
		live->catch_up_failed = true;
		live->behind = false;
		live_batch_failed(live);
		return r;
	}
	if (live->catch_up_failed)
		log_info("live: the running totals move on with the clock again");
	live->catch_up_failed = false;
	/* Between batches there are no figures kept to forget; the fold kept
	 * is of the histories, which a step does not change. */
	if (due > 0) {
		live->catch_up_steps_total++;
		log_debug("live: the running totals moved on %zu timer(s) to %" PRId64 "%s", due,
		    tallies_as_of_ms(live->tallies), more ? "; more due" : "");
	}
	live_note_behind(live, more, now_ms, from_ms);
	return STORE_OK;
}

void
live_running_totals(const struct live *live, int64_t *as_of_ms, uint64_t *steps,
    bool *catching_up)
{
	*as_of_ms = tallies_as_of_ms(live->tallies);
	*steps = live->catch_up_steps_total;
	*catching_up = live->behind;
}

const struct state_context *
live_context(struct live *live)
{
	return &live->context;
}

/* The area's figures for the batch in hand, worked out once; NULL when out
 * of memory (logged). */
static json_t *
live_area(struct live *live, const char *area)
{
	json_t *f = json_object_get(live->figures, area);

	if (f != NULL)
		return f;
	f = picture_figures(live->picture, area, tallies_as_of_ms(live->tallies));
	/* json_object_set_new releases f when it fails. */
	if (f == NULL || json_object_set_new(live->figures, area, f) < 0) {
		log_error("live: out of memory working out the %s figures of a batch", area);
		return NULL;
	}
	return f;
}

/* Out of memory, the alerts before stay unknown for the batch: none is
 * then said raised or cleared (taken as none, every alert of the event's
 * contract would be said raised), nor taken later, after changes. */
void
live_note_alerts(struct live *live)
{
	json_t *gov, *alerts;

	if (live->alerts_before != NULL || live->alerts_unknown)
		return;
	if ((gov = live_area(live, "governance")) != NULL) {
		alerts = json_object_get(json_object_get(gov, "governance"), "conflict_alerts");
		live->alerts_before = alerts != NULL ? json_deep_copy(alerts) : json_array();
	}
	if (live->alerts_before == NULL) {
		log_error("live: out of memory working out the conflict alerts before a batch; "
			  "its updates leave out the alerts raised and cleared");
		live->alerts_unknown = true;
	}
}

/* Items of a that are not in b; NULL when out of memory (never a list
 * short of one). */
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
		if (!found && json_array_append(out, x) < 0) {
			json_decref(out);
			return NULL;
		}
	}
	return out;
}

/* The alerts of list about the event's contract or declaration; NULL when
 * out of memory (list NULL included). */
static json_t *
alerts_about(json_t *list, const Commissioning__Envelope *env)
{
	const char *field = NULL, *value = NULL;
	json_t *out = list != NULL ? json_array() : NULL, *x;
	size_t i;

	if (out == NULL)
		return NULL;
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
		if (json_is_string(v) && strcmp(json_string_value(v), value) == 0 &&
		    json_array_append(out, x) < 0) {
			json_decref(out);
			return NULL;
		}
	}
	return out;
}

/* The figures of a small kind's place, cut from its area's: a new text. */
static char *
live_picture_slice(struct live *live, const char *area, const char *icb, const char *code,
    const Commissioning__Envelope *env)
{
	json_t *figures = live_area(live, area), *slice;
	struct place_cut cut = { live->picture, NULL, 0 };
	char *text;

	if (figures == NULL)
		return NULL;
	slice = place_figures(figures, area, icb, code, env, &cut,
	    dates_london_day_of_ms(env->occurred_at));
	/* Out of memory, the alerts raised and cleared are left out, as when
	 * those before are unknown: a list short of one would say it is not. */
	if (strcmp(area, "governance") == 0 && live->alerts_before != NULL && slice != NULL) {
		json_t *after = json_object_get(json_object_get(figures, "governance"),
		    "conflict_alerts");
		json_t *raised = alerts_minus(after, live->alerts_before);
		json_t *cleared = alerts_minus(live->alerts_before, after);
		json_t *raised_here = alerts_about(raised, env);
		json_t *cleared_here = alerts_about(cleared, env);

		if (raised_here == NULL || cleared_here == NULL ||
		    json_object_set(slice, "alerts_raised", raised_here) < 0 ||
		    json_object_set(slice, "alerts_cleared", cleared_here) < 0) {
			json_object_del(slice, "alerts_raised");
			log_error("live: out of memory listing the conflict alerts an update "
				  "raised and cleared; it leaves them out");
		}
		json_decref(raised);
		json_decref(cleared);
		json_decref(raised_here);
		json_decref(cleared_here);
	}
	text = json_dumps(slice, JSON_COMPACT);
	json_decref(slice);
	return text;
}

/* The text under key in this batch's slices, made by make when not yet
 * there; it lives until the batch ends. NULL when out of memory. */
static const char *
live_cached(struct live *live, const char *key, json_t *(*make)(struct live *, void *), void *arg)
{
	json_t *text = json_object_get(live->slices, key);

	if (text == NULL) {
		json_t *made = make(live, arg);
		char *dumped = made != NULL ? json_dumps(made, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
		json_decref(made);
		if (dumped == NULL)
			return NULL;
		text = json_string_nocheck(dumped); /* jansson wrote it: UTF-8 */
		free(dumped);
		if (text == NULL || json_object_set_new(live->slices, key, text) < 0)
			return NULL;
	}
	return json_string_value(text);
}

struct flow_place {
	const char *code, *icb;
	int32_t day;
};

static json_t *
make_flow(struct live *live, void *arg)
{
	const struct flow_place *fp = arg;

	return tallies_flow_figures(live->tallies, fp->code, fp->icb, fp->day, live_icb_of,
	    live->picture);
}

static json_t *
make_delays_icb(struct live *live, void *arg)
{
	return tallies_delays_icb(live->tallies, arg, live_icb_of, live->picture);
}

static json_t *
make_delays_councils(struct live *live, void *arg)
{
	(void)arg;
	return tallies_delays_councils(live->tallies);
}

/* discharges: the persons' cases (at the provider, but for a care
 * package's), and the roll-ups, each roll-up worked out once per batch: a
 * new text. */
static char *
live_discharges_slice(struct live *live, const char *icb, const char *code,
    const Commissioning__Envelope *env, const char (*persons)[65], int n_persons)
{
	bool anywhere = place_cases_anywhere(env);
	char key[64], *cases_text, *out = NULL;
	const char *icb_text, *councils_text;
	size_t n;

	cases_text = state_persons_cases_text(live->batch, live->tallies, persons, n_persons,
	    anywhere ? NULL : code, live_icb_of, live->picture);
	if (cases_text == NULL)
		return NULL;
	text_join(key, sizeof(key), '.', "discharges", "icb", icb);
	icb_text = live_cached(live, key, make_delays_icb, (void *)icb);
	councils_text = live_cached(live, "discharges.councils", make_delays_councils, NULL);
	if (cases_text != NULL && icb_text != NULL && councils_text != NULL) {
		const char *parts[] = { "{\"cases\":", cases_text, ",\"icb\":", icb_text,
			",\"councils\":", councils_text, "}" };
		size_t at = 0, lens[sizeof(parts) / sizeof(parts[0])];

		n = 1;
		for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
			n += lens[i] = strlen(parts[i]);
		out = malloc(n);
		for (size_t i = 0; out != NULL && i < sizeof(parts) / sizeof(parts[0]); i++) {
			memcpy(out + at, parts[i], lens[i]);
			at += lens[i];
		}
		if (out != NULL)
			out[at] = '\0';
	}
	free(cases_text);
	return out;
}

/* A day number as the decimal text of a key. */
static void
day_text(int32_t day, char out[12])
{
	char digits[12];
	int64_t v = day < 0 ? -(int64_t)day : day;
	size_t n = 0, at = 0;

	do
		digits[n++] = (char)('0' + v % 10);
	while ((v /= 10) > 0);
	if (day < 0)
		out[at++] = '-';
	while (n > 0)
		out[at++] = digits[--n];
	out[at] = '\0';
}

const char *
live_place_figures(struct live *live, const char *area, const char *icb, const char *code,
    const Commissioning__Envelope *env, const char (*persons)[65], int n_persons)
{
	char key[THING_KEY_MAX + 64], day[12];

	if (strcmp(area, "flow") == 0) {
		struct flow_place fp = { code, icb, dates_london_day_of_ms(env->occurred_at) };
		day_text(fp.day, day);
		text_join(key, sizeof(key), '|', icb, code, day); /* '|' is in no code */
		return live_cached(live, key, make_flow, &fp);
	}
	free(live->scratch);
	live->scratch = strcmp(area, "discharges") == 0
	    ? live_discharges_slice(live, icb, code, env, persons, n_persons)
	    : live_picture_slice(live, area, icb, code, env);
	return live->scratch;
}

enum store_result
live_batch_flush(struct live *live)
{
	if (live->picture_short)
		return store_batch_fail(live->batch,
		    "live: out of memory taking a history into the reference data; it is read "
		    "again from the store");
	return state_flush(live->batch, live->tallies);
}

void
live_batch_end(struct live *live)
{
	json_decref(live->fold_figures); /* a batch may move any figure */
	live->fold_figures = NULL;
	live->batches++;
	json_object_clear(live->figures);
	json_object_clear(live->slices);
	json_decref(live->alerts_before);
	live->alerts_before = NULL;
	live->alerts_unknown = false;
	live->picture_short = false;
	free(live->scratch);
	live->scratch = NULL;
	live->batch = NULL;
}

void
live_batch_failed(struct live *live)
{
	/* The picture and the tallies hold changes that never committed:
	 * read them afresh. */
	live->stale = true;
	live_batch_end(live);
}

/* After a failed batch the tallies and the picture hold changes that never
 * committed: read them again before answering from them. */
static enum store_result
live_refresh(struct live *live)
{
	enum store_result r;

	if (!live->stale)
		return STORE_OK;
	r = live_load_afresh(live);
	if (r != STORE_OK)
		live->stale = true;
	return r;
}

static bool
live_fold_cached(const struct live *live, int64_t as_of_ms)
{
	return live->fold_figures != NULL && live->fold_as_of_ms == as_of_ms && !live->stale;
}

bool
live_figures_fold(const struct live *live, const char *area, int64_t as_of_ms)
{
	return strcmp(area, "flow") == 0 && as_of_ms < tallies_as_of_ms(live->tallies) &&
	    !live_fold_cached(live, as_of_ms);
}

uint64_t
live_figures_folds(const struct live *live)
{
	return live->folds;
}

/* How many timers fall due by as_of_ms, up to limit; a failure counts
 * as many (a reading then says what failed). */
static size_t
live_timers_due(struct live *live, int64_t as_of_ms, size_t limit)
{
	struct store_batch *batch = NULL;
	size_t n = limit;

	if (store_batch_begin_read(live->store, &batch) != STORE_OK ||
	    state_timers_due(batch, as_of_ms, limit, &n) != STORE_OK)
		n = limit;
	store_batch_abort(&batch);
	return n;
}

bool
live_figures_in_steps(struct live *live, const char *area, int64_t as_of_ms)
{
	if (strcmp(area, "discharges") == 0)
		return true;
	if (strcmp(area, "flow") != 0 || live_refresh(live) != STORE_OK)
		return false; /* live_figures answers, or says what failed */
	if (as_of_ms < tallies_as_of_ms(live->tallies))
		return !live_fold_cached(live, as_of_ms);
	return live_timers_due(live, as_of_ms, LIVE_FLOW_AT_ONCE_TIMERS + 1) >
	    LIVE_FLOW_AT_ONCE_TIMERS;
}

/*
 * The flow area as of as_of_ms, at once: the fold last kept for an as-of
 * the tallies have passed, or a copy of the tallies moved on by the few
 * timers due by as_of_ms (live_figures_in_steps), read from the store
 * without writing. The daemon's batches run on this thread, so the
 * tallies are those of the store as it stands.
 */
static json_t *
live_flow_from_store(struct live *live, int64_t as_of_ms)
{
	struct store_batch *batch = NULL;
	struct state_reading *reading = NULL;
	struct figures fig;
	enum store_result r;
	bool done = false;

	if (live_refresh(live) != STORE_OK)
		return NULL;
	if (as_of_ms < tallies_as_of_ms(live->tallies)) {
		if (live_fold_cached(live, as_of_ms))
			return json_deep_copy(live->fold_figures);
		log_error("live: flow as of %" PRId64 " is folded in steps (live_reading_begin)",
		    as_of_ms);
		return NULL;
	}
	if (figures_begin(&fig, live->picture, as_of_ms) < 0)
		return NULL;
	r = store_batch_begin_read(live->store, &batch);
	if (r == STORE_OK)
		r = state_flow_advance_begin(batch, live->tallies, &fig, &reading);
	if (r == STORE_OK)
		r = state_reading_step(reading, INFINITY, &done);
	state_reading_end(&reading);
	store_batch_abort(&batch);
	if (r != STORE_OK) {
		log_error("live: the flow figures could not be worked out: %s",
		    store_error(live->store));
		json_decref(fig.root);
		return NULL;
	}
	return fig.root;
}

/* A reading of the discharges area, or of flow (a fold, or an advance):
 * its own snapshot of the store (a read batch) and the small kinds'
 * picture as of that snapshot, so that what ingest commits between its
 * steps changes neither. */
struct live_reading {
	struct live *live;
	struct store_batch *batch;
	struct picture *picture;
	struct figures fig;
	struct state_reading *state;
	uint64_t last_sequence;
	uint64_t batches; /* the live's, as the reading began */
	const char *area; /* "flow" or "discharges" */
	bool fold;	  /* a flow fold: kept by the live when read, if no batch ended meanwhile */
	bool done;
};

enum store_result
live_reading_begin(struct live *live, const char *area, int64_t as_of_ms, state_case_fn case_fn,
    void *arg, struct live_reading **out)
{
	struct live_reading *rd = calloc(1, sizeof(*rd));
	enum store_result r = STORE_FAILED;

	*out = rd;
	if (rd == NULL) {
		log_error("live: out of memory reading the %s figures", area);
		return STORE_FAILED;
	}
	rd->live = live;
	rd->area = strcmp(area, "flow") == 0 ? "flow" : "discharges";
	rd->batches = live->batches;
	/* The tallies an advance copies must be the snapshot's. */
	if ((r = live_refresh(live)) != STORE_OK ||
	    (r = store_batch_begin_read(live->store, &rd->batch)) != STORE_OK) {
		log_error("live: the %s figures could not be read: %s", area,
		    store_error(live->store));
	} else if ((r = live_picture_load(live, rd->batch, &rd->picture)) != STORE_OK) {
		/* logged */
	} else if (figures_begin(&rd->fig, rd->picture, as_of_ms) < 0) {
		log_error("live: out of memory reading the %s figures", area);
		r = STORE_FAILED;
	} else if (strcmp(area, "flow") == 0 && as_of_ms < tallies_as_of_ms(live->tallies)) {
		rd->fold = true;
		live->folds++;
		r = state_flow_fold_begin(rd->batch, &rd->fig, &rd->state);
	} else if (strcmp(area, "flow") == 0) {
		r = state_flow_advance_begin(rd->batch, live->tallies, &rd->fig, &rd->state);
	} else {
		r = state_discharges_begin(rd->batch, &rd->fig, case_fn, arg, &rd->state);
	}
	if (r != STORE_OK) {
		live_reading_end(out);
		return r;
	}
	rd->last_sequence = store_batch_last_event_sequence(rd->batch);
	return STORE_OK;
}

int
live_reading_step(struct live_reading *rd, double until)
{
	enum store_result r;

	if (rd->done)
		return 0;
	r = state_reading_step(rd->state, until, &rd->done);
	if (r != STORE_OK) {
		log_error("live: the %s figures could not be read: %s", rd->area,
		    store_error(rd->live->store));
		return -1;
	}
	return rd->done ? 0 : 1;
}

bool
live_reading_fold(const struct live_reading *rd)
{
	return rd->fold;
}

uint64_t
live_reading_last_sequence(const struct live_reading *rd)
{
	return rd->last_sequence;
}

json_t *
live_reading_figures(struct live_reading *rd)
{
	struct live *live = rd->live;
	json_t *root = rd->fig.root;

	rd->fig.root = NULL;
	/* The store as of the snapshot is the store now: keep the fold. */
	if (rd->fold && root != NULL && live->batches == rd->batches && !live->stale) {
		json_decref(live->fold_figures);
		live->fold_figures = json_deep_copy(root);
		live->fold_as_of_ms = rd->fig.as_of_ms;
	}
	return root;
}

void
live_reading_end(struct live_reading **rdp)
{
	struct live_reading *rd = *rdp;

	if (rd == NULL)
		return;
	state_reading_end(&rd->state);
	store_batch_abort(&rd->batch);
	json_decref(rd->fig.root);
	picture_destroy(&rd->picture);
	free(rd);
	*rdp = NULL;
}

json_t *
live_figures(struct live *live, const char *area, int64_t as_of_ms)
{
	/* Flow needs the spells, which stay in the store (a fold of them is
	 * read in steps: live_reading_begin); so are delayed discharges; every
	 * other area is of the small kinds, in the picture. */
	if (strcmp(area, "flow") == 0)
		return live_flow_from_store(live, as_of_ms);
	if (strcmp(area, "discharges") == 0) {
		log_error("live: the discharges figures are read in steps (live_reading_begin)");
		return NULL;
	}
	if (live_refresh(live) != STORE_OK)
		return NULL;
	return picture_figures(live->picture, area, as_of_ms);
}
