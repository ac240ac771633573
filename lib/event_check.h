/*
 * event_check: is an Envelope and the event in it acceptable (DOMAIN.md,
 * "What is REJECTED" and "Edges, settled")? Pure: no I/O, no clock, no state.
 */
#ifndef EVENT_CHECK_H
#define EVENT_CHECK_H

#include <stdint.h>

#include "commissioning.pb-c.h"

#define EVENT_SOURCE_MAX_BYTES 64
#define EVENT_ID_MAX_BYTES 128
#define EVENT_TEXT_MAX_BYTES 256

struct check_error {
	char field[64];	  /* the failing field, snake_case as in the proto */
	char reason[256]; /* one sentence naming the field and the rule */
};

/*
 * Return 0 when env is acceptable; otherwise -1 with err filled. The field
 * is the proto field name ("source", "event_id", "occurred_at", "event" when
 * no known event is set, or a field of the event such as "patient_pseudonym"
 * or "contributors.share").
 */
int event_check(const Commissioning__Envelope *env, struct check_error *err);

/*
 * A value as it may appear in a reason (logs, acks, dead letters, errors
 * files): quoted when short plain ASCII, else only its length, and never
 * ten digits that could be an NHS number. Written into buf; returns buf.
 */
const char *event_value_shown(const char *text, char *buf, size_t size);

/*
 * The snake_case name of the event set in env ("patient_admitted"), or
 * "unknown" when none is set.
 */
const char *event_kind_name(const Commissioning__Envelope *env);

#endif
