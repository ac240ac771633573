/*
 * state: applies an accepted event to the projections' state inside a
 * write batch: the history of the thing it concerns (projections.h), where
 * in the picture that change shows, and the derived state kept beside the
 * histories (the tallies of flow and delayed discharges, and what keeps
 * them: indexes by person, timers). Shared by the daemon's ingest and
 * commissionctl rebuild, so both build state the same way.
 */
#ifndef STATE_H
#define STATE_H

#include "arena.h"
#include "projections.h"
#include "store.h"
#include "tallies.h"

/* Where one applied event shows: the topics of its updates. */
struct state_change {
	int n_places;
	struct {
		char area[16];
		char icb[16];	/* "unmapped" when not known */
		char code[260];
	} places[PLACES_MAX];
	char thing[THING_KEY_MAX + 32]; /* the thing whose history changed, as text */
	/* The persons whose delayed-discharge cases its "discharges" place
	 * carries (64 hex): a ready report's or a care package's person, or
	 * those whose cases at the provider a spell's change moved (an
	 * inpatient discharge came, went or moved). */
	int n_persons;
	char persons[2][65];
};

/* What state_apply keeps beside the histories, and where it looks up the
 * topics' ICBs. */
struct state_context {
	struct tallies *tallies; /* kept as of their as-of (state_advance first) */
	parent_of_fn parent_of;	 /* registered parents; NULL: read from the batch */
	void *parent_arg;
	/* Told of each history written, before the change is described:
	 * whoever serves parent_of keeps up with it. May be NULL. */
	void (*history_changed)(void *arg, const struct thing_key *key, const uint8_t *bytes,
	    size_t len);
	void *history_arg;
	/* Where state_apply decodes the thing's old history and events
	 * instead of malloc: reset at each state_apply, so it holds one
	 * history at a time. May be NULL. */
	struct arena *scratch;
};

/* Put env (packed as bytes) into its thing's history; when ctx is not NULL,
 * keep the derived state with it; when change is not NULL, say where the
 * change shows. With ctx NULL only the histories move: remake the derived
 * state after (state_rebuild_derived). */
enum store_result state_apply(struct store_batch *batch, const struct state_context *ctx,
    const Commissioning__Envelope *env, const uint8_t *bytes, size_t len,
    struct state_change *change);

/* Bring the tallies to as_of_ms (never back: the later of it and theirs):
 * every unit whose part changes by then is worked out again. */
enum store_result state_advance(struct store_batch *batch, struct tallies *tallies,
    int64_t as_of_ms);

/* state_advance, a step of it: to as_of_ms, or, with limit (at least 1) or more
 * timers due by then, to the time of the limit-th (*more: not at as_of_ms
 * yet). *due: the timers due counted, up to limit (0: none moved). */
enum store_result state_advance_step(struct store_batch *batch, struct tallies *tallies,
    int64_t as_of_ms, size_t limit, size_t *due, bool *more);

/* Write the tallies changed since the last flush, and their as-of. */
enum store_result state_flush(struct store_batch *batch, struct tallies *tallies);

/*
 * Load the tallies as the store holds them. When the derived state does not
 * match the histories (a store written before it existed, or by a program
 * that moved only the histories), remake it first, as of as_of_ms; *remade
 * says so. The batch must then be committed.
 */
enum store_result state_load(struct store_batch *batch, struct tallies *tallies,
    int64_t as_of_ms, bool *remade);

/* Remake the whole derived state from the histories, as of as_of_ms, and
 * write it. */
enum store_result state_rebuild_derived(struct store_batch *batch, struct tallies *tallies,
    int64_t as_of_ms);

/* Incremented by every state_rebuild_derived: a writer that holds tallies
 * from an older generation must load them again. */
uint64_t state_generation(struct store_batch *batch);

/* The delayed-discharge cases of n persons (pseudonyms as 64 hex), at one
 * provider or (NULL) all, as of the tallies' as-of: a JSON array as the
 * figures list them, icb_of giving each provider's ICB. NULL when out of
 * memory or the store fails. */
json_t *state_persons_cases(struct store_batch *batch, const struct tallies *tallies,
    const char (*persons)[65], int n, const char *provider, tallies_icb_fn icb_of, void *arg);

/* The same cases as the text json_dumps(JSON_COMPACT) makes of that array,
 * written without the tree (for every update of the discharges area): a
 * new string to free(), or NULL as above. */
char *state_persons_cases_text(struct store_batch *batch, const struct tallies *tallies,
    const char (*persons)[65], int n, const char *provider, tallies_icb_fn icb_of, void *arg);

/* ---- the flow and delayed-discharge areas of the figures (picture.h),
 * read from the derived state and the few histories they need instead of
 * from every history, for the HTTP API. fig's picture gives the hierarchy
 * (the organisations), its as-of the cases' as-of. */

/*
 * A reading of an area in steps, so that a reader of a large store can let
 * others run between them (daemon/http.c), with the batch a read batch
 * kept open throughout (store_batch_begin_read). Its begin starts the
 * figures in fig (held by the reading until end); each step reads on
 * until the monotonic clock passes until (at least one thing a step: a
 * spell, a person, a package, a timer; INFINITY: all in one step) and sets *done
 * once all is read.
 */
struct state_reading;
enum store_result state_reading_step(struct state_reading *reading, double until, bool *done);
void state_reading_end(struct state_reading **reading);

/* The whole flow area folded from every spell's history, one spell at a
 * time (memory: the figures, not the spells): for an as-of before the
 * tallies', which only move forward. */
enum store_result state_flow_fold_begin(struct store_batch *batch, struct figures *fig,
    struct state_reading **reading);

/*
 * The whole flow area as of fig's as-of, at or after the tallies' (which
 * are not changed): the running totals moved on a copy by the timers that
 * fall due by then, each unit's part once, read without writing (so a read
 * batch will do), then the spells discharged but never admitted. A step
 * pauses at a timer, or at one of those spells.
 */
enum store_result state_flow_advance_begin(struct store_batch *batch,
    const struct tallies *tallies, struct figures *fig, struct state_reading **reading);

/* How many timers fall due by as_of_ms (the units state_advance, or a flow
 * advance, would move to it), counted up to limit: *n. */
enum store_result state_timers_due(struct store_batch *batch, int64_t as_of_ms, size_t limit,
    size_t *n);

/*
 * The discharges area, from the ready-for-discharge histories and the
 * indexes of discharges and packages by person (not every spell). With fn
 * NULL every case goes into discharges.cases; else each is handed to fn
 * with its provider's ICB (in order; discharges_case_json lists it;
 * non-zero: hand no more, the roll-ups still count them all) and
 * discharges.cases stays empty, so a caller can page without holding them
 * all, or making the JSON of those it does not show. A step pauses only at
 * a person's first key.
 */
typedef int (*state_case_fn)(void *arg, const struct discharges_case *c, const char *icb);
enum store_result state_discharges_begin(struct store_batch *batch, struct figures *fig,
    state_case_fn fn, void *arg, struct state_reading **reading);

#endif
