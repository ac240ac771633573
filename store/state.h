/*
 * state: applies an accepted event to the projections' state inside a
 * write batch: the history of the thing it concerns (projections.h). Shared
 * by the daemon's ingest and commissionctl rebuild, so both build state the
 * same way.
 */
#ifndef STATE_H
#define STATE_H

#include "store.h"

/* Put env (packed as bytes) into its thing's history. */
enum store_result state_apply(struct store_batch *batch, const Commissioning__Envelope *env,
    const uint8_t *bytes, size_t len);

#endif
