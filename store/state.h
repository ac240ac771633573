/*
 * state: applies an accepted event to the projections' state inside a
 * write batch: the history of the thing it concerns (projections.h), and
 * where in the picture that change shows. Shared by the daemon's ingest and
 * commissionctl rebuild, so both build state the same way.
 */
#ifndef STATE_H
#define STATE_H

#include "projections.h"
#include "store.h"

/* Where one applied event shows: the topics of its updates. */
struct state_change {
	int n_places;
	struct {
		char area[16];
		char icb[16];	/* "unmapped" when not known */
		char code[260];
	} places[PLACES_MAX];
	char thing[THING_KEY_MAX + 32];
	struct thing_key key;	/* the thing whose history changed */
};

/* Put env (packed as bytes) into its thing's history; when change is not
 * NULL, say where the change shows (ICBs as registered in this batch). */
enum store_result state_apply(struct store_batch *batch, const Commissioning__Envelope *env,
    const uint8_t *bytes, size_t len, struct state_change *change);

#endif
