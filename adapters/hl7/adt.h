/*
 * adt: one HL7 v2 ADT message (A01 A02 A03 A04 A08 A11 A12 A13) as the
 * Envelope of a patient event, pseudonymised and checked. Pure.
 */
#ifndef ADT_H
#define ADT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "commissioning.pb-c.h"
#include "event_check.h"
#include "hl7.h"
#include "pseudonym.h"

#define ADT_SCHEMA_VERSION 1
#define ADT_SOURCE_PREFIX "hl7:"
/* An ODS code: 3 to 5 characters (a trust, an N-code or older-frame provider, a site). */
#define ADT_CODE_BUFSIZE 16
/* A control id longer than this is replaced by its hex BLAKE2b-256. */
#define ADT_EVENT_ID_MAX_BYTES EVENT_ID_MAX_BYTES

/*
 * Which provider a sending facility (MSH-4, its namespace id) speaks for:
 * an NHS trust or an independent provider (ODS code).
 */
struct adt_facility {
	const char *facility;
	const char *provider;
};

struct adt_options {
	const struct adt_facility *facilities; /* searched first, exact match */
	size_t n_facilities;
	/* A facility not in the table is its own provider when MSH-4 is a
	 * trust or independent provider code (RXC, NMJ, 8HA03). */
	bool facility_is_provider;
	/* MSH-11 processing ids taken ([hl7] processing_ids: "P", "P,T");
	 * NULL or "*": any, even none. */
	const char *processing_ids;
};

/*
 * The Envelope of one message and the storage it points into: the caller
 * owns it (on the stack is fine) and must not copy it, since envelope
 * points at the members below. Pack envelope with
 * commissioning__envelope__pack; nothing is allocated, nothing to free.
 * No member ever holds an NHS number, a name, an address or a birth date.
 */
struct adt_event {
	Commissioning__Envelope envelope;
	Commissioning__PatientMovement movement;   /* A01 A02 A03 A04 A08 */
	Commissioning__PatientCancelled cancelled; /* A11 A12 A13 */
	char trigger[4];			   /* "A01" */
	char source[sizeof(ADT_SOURCE_PREFIX) + EVENT_SOURCE_MAX_BYTES];
	char event_id[ADT_EVENT_ID_MAX_BYTES + 1];
	char provider[ADT_CODE_BUFSIZE];
	char site[ADT_CODE_BUFSIZE];
	char ward[EVENT_TEXT_MAX_BYTES + 1];
	char treatment_function[4];
	char discharge_destination[EVENT_TEXT_MAX_BYTES + 1];
	uint8_t patient_pseudonym[PSEUDONYM_BYTES];
	uint8_t spell_pseudonym[PSEUDONYM_BYTES];
};

/*
 * Map a parsed ADT message to event (see docs/HL7.md for every field), and
 * run event_check on it, so that what the daemon would reject is refused
 * here. Return 0, or -EBADMSG with err naming the HL7 field and the rule
 * (the message is wrong: acknowledge with AE).
 */
int adt_to_envelope(const struct hl7_message *msg, const struct adt_options *opts,
    const struct pseudonymiser *ps, struct adt_event *event, struct hl7_error *err);

/*
 * Check options at start-up: every facility named and every provider a
 * trust or independent provider code. Return 0, or -EINVAL with a sentence
 * in errbuf.
 */
int adt_options_check(const struct adt_options *opts, char *errbuf, size_t errlen);

#endif
