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
 * Where text (len bytes) stops being clean text: UTF-8 as the proto3
 * string type requires (no overlong forms, no surrogates, nothing above
 * U+10FFFF) with no control character, C0, DEL or C1 (U+0080..U+009F,
 * which holds NEL, a line break to some readers): a ward or a name with a
 * line break in it would split a log line or a CSV row downstream. The
 * offset of the first byte of the first fault, or len when there is none.
 */
size_t event_text_fault_at(const char *text, size_t len);

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
