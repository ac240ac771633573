/*
 * test_adt: ADT messages in several vendors' shapes to Envelopes (trigger,
 * source, event id, provider, site, ward, class, times in UTC, pseudonyms),
 * the errors that make an AE and the field they name, that no person data
 * reaches the Envelope, and the ACK (AA, AE, AR) for each version style.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "ack.h"
#include "adt.h"
#include "hl7.h"
#include "pseudonym.h"

#define SAMPLES "tests/data/hl7/"

/* 2026-01-15 09:15:00 UTC, and 2026-07-10 13:30:00 UTC (BST). */
#define WINTER_MS 1768468500000LL
#define SUMMER_MS 1783690200000LL

static struct pseudonymiser *ps;

static const struct adt_facility facilities[] = {
	{ "ESHT", "RXC" },
	{ "SYSTMONE-CHS", "NMJ" },
};
/* As shipped: [hl7] processing_ids = P. */
static const struct adt_options options = { facilities, 2, true, "P" };

/* One message, parsed and mapped. */
struct mapped {
	char *text;
	size_t len;
	struct hl7_message msg;
	int parse_rc;
	int map_rc;
	struct adt_event event;
	struct hl7_error err;
};

static int
setup(void **state)
{
	uint8_t key[PSEUDONYM_KEY_BYTES];

	(void)state;
	if (sodium_init() < 0)
		return -1;
	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)(i * 7 + 1);
	ps = pseudonymiser_from_key(key);
	return ps == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	(void)state;
	pseudonymiser_destroy(&ps);
	return 0;
}

static struct mapped *
map_text(const char *text, size_t len)
{
	struct mapped *m = calloc(1, sizeof(*m));

	assert_non_null(m);
	m->text = malloc(len + 1);
	assert_non_null(m->text);
	memcpy(m->text, text, len);
	m->text[len] = '\0';
	m->len = len;
	m->parse_rc = hl7_parse(&m->msg, m->text, len, &m->err);
	if (m->parse_rc == 0)
		m->map_rc = adt_to_envelope(&m->msg, &options, ps, &m->event, &m->err);
	else
		m->map_rc = m->parse_rc;
	return m;
}

static struct mapped *
map_string(const char *text)
{
	return map_text(text, strlen(text));
}

static struct mapped *
map_sample(const char *name)
{
	char path[256];
	struct mapped *m;
	char *buf;
	long size;
	FILE *f;

	snprintf(path, sizeof(path), SAMPLES "%s", name);
	f = fopen(path, "rb");
	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	size = ftell(f);
	rewind(f);
	buf = malloc((size_t)size + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)size, f), (size_t)size);
	fclose(f);
	m = map_text(buf, (size_t)size);
	free(buf);
	return m;
}

static void
mapped_free(struct mapped **m)
{
	free((*m)->text);
	free(*m);
	*m = NULL;
}

static void
assert_maps(const struct mapped *m)
{
	if (m->map_rc != 0)
		fail_msg("not mapped: [%s] %s", m->err.field, m->err.text);
}

static void
assert_refused(const struct mapped *m, const char *field, unsigned code)
{
	assert_int_equal(m->map_rc, -EBADMSG);
	assert_string_equal(m->err.field, field);
	assert_int_equal(m->err.code, code);
	assert_true(strlen(m->err.text) > strlen(field));
}

static void
assert_patient_is(const ProtobufCBinaryData *pseudonym, const char *nhs_number)
{
	uint8_t expected[PSEUDONYM_BYTES];

	assert_int_equal(pseudonym_from_nhs_number(ps, nhs_number, expected), 0);
	assert_int_equal(pseudonym->len, PSEUDONYM_BYTES);
	assert_memory_equal(pseudonym->data, expected, PSEUDONYM_BYTES);
}

static void
assert_spell_is(const ProtobufCBinaryData *pseudonym, const char *provider, const char *visit)
{
	uint8_t expected[PSEUDONYM_BYTES];

	pseudonym_from_text(ps, "spell", provider, visit, expected);
	assert_int_equal(pseudonym->len, PSEUDONYM_BYTES);
	assert_memory_equal(pseudonym->data, expected, PSEUDONYM_BYTES);
}

/* A minimal message: header fields, PID-3 and PV1 as given. */
static struct mapped *
map_message(const char *msh_9, const char *version, const char *pid_3, const char *pv1)
{
	char text[4096];

	snprintf(text, sizeof(text),
	    "MSH|^~\\&|PAS|ESHT|ICS|ICS|20260115093012||%s|CTRL-1|P|%s\r"
	    "EVN||20260115093012\r"
	    "PID|1||%s\r"
	    "%s\r",
	    msh_9, version, pid_3, pv1);
	return map_string(text);
}

/* PV1 with class, location, visit number, and PV1-44/45 (may be ""). */
static void
pv1(char *out, size_t size, const char *patient_class, const char *location, const char *visit,
    const char *admit, const char *discharge)
{
	snprintf(out, size, "PV1|1|%s|%s||||||||||||||||%s|||||||||||||||||||||||||%s|%s",
	    patient_class, location, visit, admit, discharge);
}

/* ------------------------------------------------------------ vendors */

static void
test_epic_style_admission_maps_to_patient_admitted(void **state)
{
	struct mapped *m = map_sample("a01_epic_v251.hl7");
	const Commissioning__Envelope *env = &m->event.envelope;
	const Commissioning__PatientMovement *mv;

	(void)state;
	assert_maps(m);
	assert_int_equal(env->event_case, COMMISSIONING__ENVELOPE__EVENT_PATIENT_ADMITTED);
	assert_string_equal(env->source, "hl7:ESHT");
	assert_string_equal(env->event_id, "EPIC0000123");
	assert_int_equal(env->schema_version, ADT_SCHEMA_VERSION);
	/* PV1-44 09:15, not EVN-6 09:10 nor EVN-2 09:30. */
	assert_int_equal(env->occurred_at, WINTER_MS);
	mv = env->patient_admitted;
	assert_string_equal(mv->provider, "RXC");
	assert_string_equal(mv->site, "RXC01");
	assert_string_equal(mv->ward, "CARDIO");
	assert_int_equal(mv->patient_class, COMMISSIONING__PATIENT_CLASS__PATIENT_CLASS_INPATIENT);
	assert_string_equal(mv->treatment_function, "300");
	assert_string_equal(mv->discharge_destination, "");
	assert_patient_is(&mv->patient_pseudonym, "9990000018");
	assert_spell_is(&mv->spell_pseudonym, "RXC", "V2026001");
	assert_string_equal(m->event.trigger, "A01");
	mapped_free(&m);
}

static void
test_cerner_style_discharge_in_summer_is_an_hour_behind_in_utc(void **state)
{
	struct mapped *m = map_sample("a03_cerner_v23_lf.hl7");
	const Commissioning__Envelope *env = &m->event.envelope;
	const Commissioning__PatientMovement *mv;

	(void)state;
	assert_maps(m);
	assert_int_equal(env->event_case, COMMISSIONING__ENVELOPE__EVENT_PATIENT_DISCHARGED);
	/* The facility is the provider's own code. */
	assert_string_equal(env->source, "hl7:RXC");
	assert_string_equal(env->event_id, "CER-556677");
	/* PV1-45 14:30 BST. */
	assert_int_equal(env->occurred_at, SUMMER_MS);
	mv = env->patient_discharged;
	assert_string_equal(mv->provider, "RXC");
	assert_string_equal(mv->site, "RXC01");
	/* PV1-37 is the destination, before PV1-36 (the discharge method). */
	assert_string_equal(mv->discharge_destination, "54");
	/* NHS number first, type "nh": the same patient as the Epic feed's. */
	assert_patient_is(&mv->patient_pseudonym, "9990000018");
	/* PV1-19 empty: the spell is PID-18. */
	assert_spell_is(&mv->spell_pseudonym, "RXC", "ACC778899");
	mapped_free(&m);
}

static void
test_systmone_style_transfer_reads_escaped_ward_and_event_time(void **state)
{
	struct mapped *m = map_sample("a02_systmone_v24_crlf.hl7");
	struct mapped *admission = map_sample("a01_epic_v251.hl7");
	const Commissioning__Envelope *env = &m->event.envelope;
	const Commissioning__PatientMovement *mv;

	(void)state;
	assert_maps(m);
	assert_maps(admission);
	assert_int_equal(env->event_case, COMMISSIONING__ENVELOPE__EVENT_PATIENT_TRANSFERRED);
	/* EVN-6 12:00 (event occurred), not EVN-2 12:05. */
	assert_int_equal(env->occurred_at, 1772366400000LL);
	mv = env->patient_transferred;
	assert_string_equal(mv->site, "RXC02");
	assert_string_equal(mv->ward, "Rye & Winchelsea | Level 2");
	assert_int_equal(mv->patient_class, COMMISSIONING__PATIENT_CLASS__PATIENT_CLASS_INPATIENT);
	/* "999 000 0018" with an empty authority: the same person. */
	assert_memory_equal(mv->patient_pseudonym.data,
	    admission->event.envelope.patient_admitted->patient_pseudonym.data, PSEUDONYM_BYTES);
	/* Same provider and visit number: the same spell as the admission. */
	assert_memory_equal(mv->spell_pseudonym.data,
	    admission->event.envelope.patient_admitted->spell_pseudonym.data, PSEUDONYM_BYTES);
	mapped_free(&m);
	mapped_free(&admission);
}

static void
test_v27_update_with_oid_authority_and_local_service_code(void **state)
{
	struct mapped *m = map_sample("a08_v27_truncation.hl7");
	const Commissioning__Envelope *env = &m->event.envelope;
	const Commissioning__PatientMovement *mv;

	(void)state;
	assert_maps(m);
	assert_int_equal(env->event_case, COMMISSIONING__ENVELOPE__EVENT_PATIENT_UPDATED);
	assert_string_equal(env->source, "hl7:NMJ");
	/* EVN-2 01:30+0100 on the October change day is 00:30 UTC. */
	assert_int_equal(env->occurred_at, 1792888200000LL);
	mv = env->patient_updated;
	assert_string_equal(mv->provider, "NMJ");
	assert_string_equal(mv->site, "NMJ01");
	assert_string_equal(mv->ward, "OPD #1");
	assert_int_equal(mv->patient_class, COMMISSIONING__PATIENT_CLASS__PATIENT_CLASS_OUTPATIENT);
	/* "GEN" is a local code, not a treatment function: left out. */
	assert_string_equal(mv->treatment_function, "");
	assert_patient_is(&mv->patient_pseudonym, "9990000018");
	mapped_free(&m);
}

static void
test_registration_with_star_components_is_an_emergency_attendance(void **state)
{
	struct mapped *m = map_sample("a04_star_components.hl7");
	const Commissioning__Envelope *env = &m->event.envelope;
	const Commissioning__PatientMovement *mv;

	(void)state;
	assert_maps(m);
	assert_int_equal(env->event_case, COMMISSIONING__ENVELOPE__EVENT_PATIENT_ADMITTED);
	assert_int_equal(env->occurred_at, 1768519200000LL);
	mv = env->patient_admitted;
	assert_int_equal(mv->patient_class, COMMISSIONING__PATIENT_CLASS__PATIENT_CLASS_EMERGENCY);
	assert_string_equal(mv->ward, "ED MAJORS");
	assert_string_equal(mv->site, "RXC01");
	assert_patient_is(&mv->patient_pseudonym, "9990000026");
	mapped_free(&m);
}

static void
test_cancel_admission_names_what_it_cancels(void **state)
{
	struct mapped *m = map_sample("a11_cancel_admit.hl7");
	const Commissioning__Envelope *env = &m->event.envelope;

	(void)state;
	assert_maps(m);
	assert_int_equal(env->event_case, COMMISSIONING__ENVELOPE__EVENT_PATIENT_CANCELLED);
	assert_int_equal(env->patient_cancelled->cancels,
	    COMMISSIONING__CANCEL_TARGET__CANCEL_TARGET_ADMISSION);
	assert_string_equal(env->patient_cancelled->provider, "RXC");
	assert_spell_is(&env->patient_cancelled->spell_pseudonym, "RXC", "V2026001");
	assert_patient_is(&env->patient_cancelled->patient_pseudonym, "9990000018");
	/* No EVN-6: EVN-2. */
	assert_int_equal(env->occurred_at, 1768550400000LL);
	mapped_free(&m);
}

static void
test_every_trigger_maps_through_the_table(void **state)
{
	static const struct {
		const char *msh_9;
		Commissioning__Envelope__EventCase event_case;
		Commissioning__CancelTarget cancels;
	} rows[] = {
		{ "ADT^A01", COMMISSIONING__ENVELOPE__EVENT_PATIENT_ADMITTED, 0 },
		{ "ADT^A04", COMMISSIONING__ENVELOPE__EVENT_PATIENT_ADMITTED, 0 },
		{ "ADT^A02", COMMISSIONING__ENVELOPE__EVENT_PATIENT_TRANSFERRED, 0 },
		{ "ADT^A03^ADT_A03", COMMISSIONING__ENVELOPE__EVENT_PATIENT_DISCHARGED, 0 },
		{ "ADT^A08^ADT_A01", COMMISSIONING__ENVELOPE__EVENT_PATIENT_UPDATED, 0 },
		{ "ADT^A11", COMMISSIONING__ENVELOPE__EVENT_PATIENT_CANCELLED,
		    COMMISSIONING__CANCEL_TARGET__CANCEL_TARGET_ADMISSION },
		{ "ADT^A12", COMMISSIONING__ENVELOPE__EVENT_PATIENT_CANCELLED,
		    COMMISSIONING__CANCEL_TARGET__CANCEL_TARGET_TRANSFER },
		{ "ADT^A13", COMMISSIONING__ENVELOPE__EVENT_PATIENT_CANCELLED,
		    COMMISSIONING__CANCEL_TARGET__CANCEL_TARGET_DISCHARGE },
	};
	char seg[512];

	(void)state;
	pv1(seg, sizeof(seg), "I", "W1^^^RXC01", "V1", "20260115091500", "");
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct mapped *m = map_message(rows[i].msh_9, "2.5", "9990000018^^^NHS^NH", seg);

		assert_maps(m);
		assert_int_equal(m->event.envelope.event_case, rows[i].event_case);
		if (rows[i].cancels != 0)
			assert_int_equal(m->event.envelope.patient_cancelled->cancels,
			    rows[i].cancels);
		mapped_free(&m);
	}
}

static void
test_v22_trigger_may_come_from_evn_1(void **state)
{
	struct mapped *m = map_string("MSH|^~\\&|PAS|ESHT|ICS|ICS|20260115093012||ADT|OLD-1|P|2.2\r"
				      "EVN|A03|20260115093012\r"
				      "PID|1||9990000018^^^NHS\r"
				      "PV1|1|I|W1^^^RXC01||||||||||||||||V1\r");

	(void)state;
	assert_maps(m);
	assert_int_equal(m->event.envelope.event_case,
	    COMMISSIONING__ENVELOPE__EVENT_PATIENT_DISCHARGED);
	/* No PV1-45, no EVN-6: EVN-2. */
	assert_int_equal(m->event.envelope.occurred_at, 1768469412000LL);
	assert_patient_is(&m->event.envelope.patient_discharged->patient_pseudonym, "9990000018");
	mapped_free(&m);
}

/* ------------------------------------------------------------ patients */

static void
test_nhs_number_with_spaces_or_not_is_the_same_pseudonym(void **state)
{
	char seg[512];
	struct mapped *a, *b;

	(void)state;
	pv1(seg, sizeof(seg), "I", "W1^^^RXC01", "V1", "20260115091500", "");
	a = map_message("ADT^A01", "2.5", "9434765919^^^NHS^NH", seg);
	b = map_message("ADT^A01", "2.5", "X1^^^RXC^MR~943 476 5919^^^nhs^Nh", seg);
	assert_maps(a);
	assert_maps(b);
	assert_memory_equal(a->event.patient_pseudonym, b->event.patient_pseudonym,
	    PSEUDONYM_BYTES);
	assert_patient_is(&a->event.envelope.patient_admitted->patient_pseudonym, "9434765919");
	mapped_free(&a);
	mapped_free(&b);
}

static void
test_different_visit_numbers_give_different_spells(void **state)
{
	char seg1[512], seg2[512];
	struct mapped *a, *b, *c;
	uint8_t other_provider[PSEUDONYM_BYTES];

	(void)state;
	pv1(seg1, sizeof(seg1), "I", "W1^^^RXC01", "V1", "20260115091500", "");
	pv1(seg2, sizeof(seg2), "I", "W1^^^RXC01", "V2", "20260115091500", "");
	a = map_message("ADT^A01", "2.5", "9990000018^^^NHS^NH", seg1);
	b = map_message("ADT^A01", "2.5", "9990000018^^^NHS^NH", seg2);
	c = map_message("ADT^A01", "2.5", "9990000018^^^NHS^NH", seg1);
	assert_maps(a);
	assert_maps(b);
	assert_maps(c);
	assert_memory_not_equal(a->event.spell_pseudonym, b->event.spell_pseudonym,
	    PSEUDONYM_BYTES);
	assert_memory_equal(a->event.spell_pseudonym, c->event.spell_pseudonym, PSEUDONYM_BYTES);
	/* The visit number is scoped by the provider, and never equals a patient. */
	pseudonym_from_text(ps, "spell", "NMJ", "V1", other_provider);
	assert_memory_not_equal(a->event.spell_pseudonym, other_provider, PSEUDONYM_BYTES);
	assert_memory_not_equal(a->event.spell_pseudonym, a->event.patient_pseudonym,
	    PSEUDONYM_BYTES);
	mapped_free(&a);
	mapped_free(&b);
	mapped_free(&c);
}

static void
test_nh_repetition_of_another_authority_is_not_the_nhs_number(void **state)
{
	char seg[512];
	struct mapped *m;

	(void)state;
	pv1(seg, sizeof(seg), "I", "W1^^^RXC01", "V1", "20260115091500", "");
	m = map_message("ADT^A01", "2.5", "9990000018^^^PAS^NH~H1^^^RXC^MR", seg);
	assert_refused(m, "PID-3", HL7_ERROR_REQUIRED_FIELD_MISSING);
	mapped_free(&m);
	/* An authority given only as its universal id (CX-4.2), not the NHS
	 * number's OID, is another authority, not an empty one. */
	m = map_message("ADT^A01", "2.5", "1234567881^^^&1.2.826.0.1.99&ISO^NH", seg);
	assert_refused(m, "PID-3", HL7_ERROR_REQUIRED_FIELD_MISSING);
	mapped_free(&m);
	m = map_message("ADT^A01", "2.5",
	    "1234567881^^^&1.2.826.0.1.99&ISO^NH~9990000026^^^&2.16.840.1.113883.2.1.4.1&ISO^NH",
	    seg);
	assert_maps(m);
	assert_patient_is(&m->event.envelope.patient_admitted->patient_pseudonym, "9990000026");
	mapped_free(&m);
	/* The first NHS repetition is empty: the next one is read. */
	m = map_message("ADT^A01", "2.5", "^^^NHS^NH~9990000026^^^NHS^NH", seg);
	assert_maps(m);
	assert_patient_is(&m->event.envelope.patient_admitted->patient_pseudonym, "9990000026");
	mapped_free(&m);
}

static void
test_no_nhs_number_is_refused_on_a_movement_but_not_on_a_cancel(void **state)
{
	char seg[512];
	struct mapped *m;

	(void)state;
	pv1(seg, sizeof(seg), "I", "W1^^^RXC01", "V1", "20260115091500", "");
	m = map_message("ADT^A01", "2.5", "H1^^^RXC^MR", seg);
	assert_refused(m, "PID-3", HL7_ERROR_REQUIRED_FIELD_MISSING);
	mapped_free(&m);
	m = map_message("ADT^A13", "2.5", "H1^^^RXC^MR", seg);
	assert_maps(m);
	assert_int_equal(m->event.envelope.patient_cancelled->patient_pseudonym.len, 0);
	assert_int_equal(m->event.envelope.patient_cancelled->cancels,
	    COMMISSIONING__CANCEL_TARGET__CANCEL_TARGET_DISCHARGE);
	mapped_free(&m);
}

static void
test_invalid_check_digit_is_refused_naming_pid_3(void **state)
{
	struct mapped *m = map_sample("bad_check_digit.hl7");

	(void)state;
	assert_refused(m, "PID-3", HL7_ERROR_DATA_TYPE);
	assert_null(strstr(m->err.text, "9434765918"));
	assert_null(strstr(m->err.text, "943476591"));
	mapped_free(&m);
}

/* Does the text appear anywhere in the bytes? */
static bool
bytes_contain(const uint8_t *bytes, size_t len, const char *text)
{
	size_t n = strlen(text);

	for (size_t i = 0; i + n <= len; i++)
		if (memcmp(bytes + i, text, n) == 0)
			return true;
	return false;
}

static void
test_no_person_data_reaches_the_envelope(void **state)
{
	static const char *samples[] = { "a01_epic_v251.hl7", "a03_cerner_v23_lf.hl7",
		"a02_systmone_v24_crlf.hl7", "a08_v27_truncation.hl7", "a11_cancel_admit.hl7" };
	static const char *person[] = { "9990000018", "999 000 0018", "0000018", "TESTPATIENT",
		"Alice", "19470312", "Seaview", "BN21", "01323000000" };

	(void)state;
	for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
		struct mapped *m = map_sample(samples[i]);
		size_t len;
		uint8_t *packed;

		assert_maps(m);
		len = commissioning__envelope__get_packed_size(&m->event.envelope);
		packed = malloc(len);
		assert_non_null(packed);
		assert_int_equal(commissioning__envelope__pack(&m->event.envelope, packed), len);
		for (size_t k = 0; k < sizeof(person) / sizeof(person[0]); k++) {
			if (bytes_contain(packed, len, person[k]))
				fail_msg("%s: \"%s\" in the Envelope", samples[i], person[k]);
			/* Nor anywhere in what the mapping keeps. */
			if (bytes_contain((const uint8_t *)&m->event, sizeof(m->event), person[k]))
				fail_msg("%s: \"%s\" in the adt_event", samples[i], person[k]);
		}
		free(packed);
		mapped_free(&m);
	}
}

/* ------------------------------------------------------------ places */

static void
test_site_must_be_a_site_of_the_provider(void **state)
{
	char seg[512];
	struct mapped *m;

	(void)state;
	pv1(seg, sizeof(seg), "I", "W1^^^RYR01", "V1", "20260115091500", "");
	m = map_message("ADT^A01", "2.5", "9990000018^^^NHS^NH", seg);
	assert_refused(m, "PV1-3.4", HL7_ERROR_DATA_TYPE);
	assert_non_null(strstr(m->err.text, "site"));
	mapped_free(&m);
}

static void
test_admission_without_facility_is_refused_naming_it(void **state)
{
	char seg[512];
	struct mapped *m;

	(void)state;
	pv1(seg, sizeof(seg), "I", "W1", "V1", "20260115091500", "");
	m = map_message("ADT^A01", "2.5", "9990000018^^^NHS^NH", seg);
	assert_refused(m, "PV1-3.4", HL7_ERROR_REQUIRED_FIELD_MISSING);
	mapped_free(&m);
	pv1(seg, sizeof(seg), "I", "^^^RXC01", "V1", "20260115091500", "");
	m = map_message("ADT^A02", "2.5", "9990000018^^^NHS^NH", seg);
	assert_refused(m, "PV1-3.1", HL7_ERROR_REQUIRED_FIELD_MISSING);
	mapped_free(&m);
}

static void
test_discharge_and_update_may_leave_the_location_out(void **state)
{
	char seg[512];
	struct mapped *m;

	(void)state;
	pv1(seg, sizeof(seg), "I", "", "V1", "", "20260710143000");
	m = map_message("ADT^A03", "2.5", "9990000018^^^NHS^NH", seg);
	assert_maps(m);
	assert_string_equal(m->event.envelope.patient_discharged->site, "");
	assert_string_equal(m->event.envelope.patient_discharged->ward, "");
	assert_int_equal(m->event.envelope.occurred_at, SUMMER_MS);
	mapped_free(&m);
	m = map_message("ADT^A08", "2.5", "9990000018^^^NHS^NH", seg);
	assert_maps(m);
	/* An update's time is the event's, not the discharge's. */
	assert_int_equal(m->event.envelope.occurred_at, 1768469412000LL);
	mapped_free(&m);
}

static void
test_ward_longer_than_a_text_field_is_refused(void **state)
{
	struct mapped *m = map_sample("bad_ward_too_long.hl7");

	(void)state;
	assert_refused(m, "PV1-3.1", HL7_ERROR_DATA_TYPE);
	mapped_free(&m);
}

static void
test_latin1_ward_is_made_utf8_and_raw_latin1_is_refused(void **state)
{
	struct mapped *m = map_string(
	    "MSH|^~\\&|PAS|ESHT|ICS|ICS|20260115093012||ADT^A02|L1|P|2.4||||||8859/1\r"
	    "EVN||20260115093012\r"
	    "PID|1||9990000018^^^NHS^NH\r"
	    "PV1|1|I|Salle \\XE9\\t\\XE9\\^^^RXC01||||||||||||||||V1\r");

	(void)state;
	assert_maps(m);
	assert_string_equal(m->event.envelope.patient_transferred->ward, "Salle \xc3\xa9t\xc3\xa9");
	mapped_free(&m);
	m = map_string("MSH|^~\\&|PAS|ESHT|ICS|ICS|20260115093012||ADT^A02|L1|P|2.4\r"
		       "EVN||20260115093012\r"
		       "PID|1||9990000018^^^NHS^NH\r"
		       "PV1|1|I|Salle \\XE9\\t\\XE9\\^^^RXC01||||||||||||||||V1\r");
	assert_refused(m, "PV1-3.1", HL7_ERROR_DATA_TYPE);
	assert_non_null(strstr(m->err.text, "(MSH-18 gives no character set, so UTF-8 is read: "
					    "ISO 8859-1 text needs MSH-18 8859/1)"));
	mapped_free(&m);
}

/* A ward in the character set MSH-18 gives (as sent, or escaped). */
static struct mapped *
map_ward_in(const char *charset, const char *ward)
{
	char text[1024];

	snprintf(text, sizeof(text),
	    "MSH|^~\\&|PAS|ESHT|ICS|ICS|20260115093012||ADT^A02|L2|P|2.4||||||%s\r"
	    "EVN||20260115093012\r"
	    "PID|1||9990000018^^^NHS^NH\r"
	    "PV1|1|I|%s^^^RXC01||||||||||||||||V1\r",
	    charset, ward);
	return map_string(text);
}

static void
test_text_not_in_a_character_set_read_here_says_msh_18_is_why(void **state)
{
	static const struct {
		const char *charset, *ward;
		const char *refusal; /* in the error text; NULL: taken */
	} cases[] = {
		/* 8859/15, or 8859/1 with a space: not read as 8859/1, and said so. */
		{ "8859/15", "Salle \\XE9\\t\\XE9\\",
		    "(MSH-18 \"8859/15\" is not a character set read here: 8859/1 or UTF-8)" },
		{ "8859/1 ", "Salle \xe9t\xe9", "MSH-18 \"8859/1 \" is not" },
		/* ASCII text in any set, and UTF-8 declared as such, are taken. */
		{ "8859/15", "Ward 1", NULL },
		{ "UNICODE UTF-8", "Salle \xc3\xa9t\xc3\xa9", NULL },
		/* 8859/1 has C1 control codes, not characters, at 0x80-0x9F: a
		 * Windows-1252 ellipsis is refused, not stored as U+0085. */
		{ "8859/1", "Ward\x85", "byte 0x85 at 5, a C1 control code" },
		{ "8859/1", "Ward\\X9F\\", "byte 0x9f at 5, a C1 control code" },
	};
	struct mapped *m;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		m = map_ward_in(cases[i].charset, cases[i].ward);
		if (cases[i].refusal == NULL) {
			assert_maps(m);
		} else {
			assert_refused(m, "PV1-3.1", HL7_ERROR_DATA_TYPE);
			if (strstr(m->err.text, cases[i].refusal) == NULL)
				fail_msg("case %zu: %s", i, m->err.text);
		}
		mapped_free(&m);
	}
	m = map_ward_in("8859/1", "Ward\xa0\xff");
	assert_maps(m);
	assert_string_equal(m->event.envelope.patient_transferred->ward, "Ward\xc2\xa0\xc3\xbf");
	mapped_free(&m);
}

static void
test_every_patient_class_letter_maps(void **state)
{
	static const struct {
		const char *letter;
		Commissioning__PatientClass patient_class;
	} rows[] = {
		{ "I", COMMISSIONING__PATIENT_CLASS__PATIENT_CLASS_INPATIENT },
		{ "E", COMMISSIONING__PATIENT_CLASS__PATIENT_CLASS_EMERGENCY },
		{ "O", COMMISSIONING__PATIENT_CLASS__PATIENT_CLASS_OUTPATIENT },
		{ "P", COMMISSIONING__PATIENT_CLASS__PATIENT_CLASS_PREADMIT },
		{ "R", COMMISSIONING__PATIENT_CLASS__PATIENT_CLASS_RECURRING },
		{ "B", COMMISSIONING__PATIENT_CLASS__PATIENT_CLASS_OBSTETRICS },
		{ "U", COMMISSIONING__PATIENT_CLASS__PATIENT_CLASS_UNKNOWN },
	};
	char seg[512];
	struct mapped *m;

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		pv1(seg, sizeof(seg), rows[i].letter, "W1^^^RXC01", "V1", "20260115091500", "");
		m = map_message("ADT^A04", "2.5", "9990000018^^^NHS^NH", seg);
		assert_maps(m);
		assert_int_equal(m->event.envelope.patient_admitted->patient_class,
		    rows[i].patient_class);
		mapped_free(&m);
	}
	pv1(seg, sizeof(seg), "X", "W1^^^RXC01", "V1", "20260115091500", "");
	m = map_message("ADT^A01", "2.5", "9990000018^^^NHS^NH", seg);
	assert_refused(m, "PV1-2", HL7_ERROR_TABLE_VALUE_NOT_FOUND);
	mapped_free(&m);
	pv1(seg, sizeof(seg), "", "W1^^^RXC01", "V1", "20260115091500", "");
	m = map_message("ADT^A01", "2.5", "9990000018^^^NHS^NH", seg);
	assert_refused(m, "PV1-2", HL7_ERROR_REQUIRED_FIELD_MISSING);
	mapped_free(&m);
}

/* ------------------------------------------------------------ header */

static void
test_unknown_trigger_is_refused_naming_msh_9(void **state)
{
	struct mapped *m = map_sample("bad_unknown_trigger.hl7");

	(void)state;
	assert_refused(m, "MSH-9.2", HL7_ERROR_UNSUPPORTED_EVENT_CODE);
	assert_non_null(strstr(m->err.text, "\"A05\""));
	mapped_free(&m);
}

static void
test_other_message_types_and_versions_are_refused(void **state)
{
	char seg[512];
	struct mapped *m;

	(void)state;
	pv1(seg, sizeof(seg), "I", "W1^^^RXC01", "V1", "20260115091500", "");
	m = map_message("ORU^R01", "2.5", "9990000018^^^NHS^NH", seg);
	assert_refused(m, "MSH-9", HL7_ERROR_UNSUPPORTED_MESSAGE_TYPE);
	mapped_free(&m);
	m = map_message("", "2.5", "9990000018^^^NHS^NH", seg);
	assert_refused(m, "MSH-9", HL7_ERROR_REQUIRED_FIELD_MISSING);
	mapped_free(&m);
	m = map_message("ADT^A01", "2.1", "9990000018^^^NHS^NH", seg);
	assert_refused(m, "MSH-12", HL7_ERROR_UNSUPPORTED_VERSION_ID);
	mapped_free(&m);
	m = map_message("ADT^A01", "3.0", "9990000018^^^NHS^NH", seg);
	assert_refused(m, "MSH-12", HL7_ERROR_UNSUPPORTED_VERSION_ID);
	mapped_free(&m);
	m = map_message("ADT^A01", "", "9990000018^^^NHS^NH", seg);
	assert_refused(m, "MSH-12", HL7_ERROR_REQUIRED_FIELD_MISSING);
	mapped_free(&m);
	for (const char *const *v = (const char *const[]){ "2.2", "2.3.1", "2.6", "2.8.2", NULL };
	     *v != NULL; v++) {
		m = map_message("ADT^A01", *v, "9990000018^^^NHS^NH", seg);
		assert_maps(m);
		mapped_free(&m);
	}
}

static void
test_unconfigured_facility_is_refused_naming_msh_4(void **state)
{
	struct mapped *m = map_string("MSH|^~\\&|PAS|ST MARYS|ICS|ICS|20260115093012||ADT^A01|C|P|2.5\r"
				      "PID|1||9990000018^^^NHS^NH\r"
				      "PV1|1|I|W1^^^RXC01||||||||||||||||V1\r");

	(void)state;
	assert_refused(m, "MSH-4", HL7_ERROR_UNKNOWN_KEY_IDENTIFIER);
	mapped_free(&m);
}

static void
test_facility_table_maps_a_local_name_to_a_provider(void **state)
{
	struct mapped *m = map_string(
	    "MSH|^~\\&|PAS|SYSTMONE-CHS|ICS|ICS|20260115093012||ADT^A08|C|P|2.5\r"
	    "PID|1||9990000018^^^NHS^NH\r"
	    "PV1|1|R|W1^^^NMJ02||||||||||||||||V1\r");

	(void)state;
	assert_maps(m);
	assert_string_equal(m->event.envelope.source, "hl7:SYSTMONE-CHS");
	assert_string_equal(m->event.envelope.patient_updated->provider, "NMJ");
	assert_string_equal(m->event.envelope.patient_updated->site, "NMJ02");
	/* No EVN: MSH-7. */
	assert_int_equal(m->event.envelope.occurred_at, 1768469412000LL);
	mapped_free(&m);
}

/* An A08 with the control id (MSH-10) and MSH-2 as given. */
static struct mapped *
map_with_control_id(const char *msh_2, const char *control_id)
{
	char text[4096], seg[512], c = msh_2[0];

	pv1(seg, sizeof(seg), "I", "", "V1", "", "");
	snprintf(text, sizeof(text),
	    "MSH|%s|PAS|ESHT|ICS|ICS|20260115093012||ADT%cA08|%s|P|2.5\r"
	    "PID|1||9990000018%c%c%cNHS%cNH\r%s\r",
	    msh_2, c, control_id, c, c, c, c, seg);
	return map_string(text);
}

static void
test_missing_control_id_is_refused_and_a_long_one_is_hashed(void **state)
{
	char id[201];
	struct mapped *m, *again;

	(void)state;
	m = map_with_control_id("^~\\&", "");
	assert_refused(m, "MSH-10", HL7_ERROR_REQUIRED_FIELD_MISSING);
	mapped_free(&m);
	memset(id, 'K', 200);
	id[200] = '\0';
	m = map_with_control_id("^~\\&", id);
	again = map_with_control_id("^~\\&", id);
	assert_maps(m);
	assert_int_equal(strlen(m->event.envelope.event_id), 64);
	assert_int_equal(strspn(m->event.envelope.event_id, "0123456789abcdef"), 64);
	assert_string_equal(m->event.envelope.event_id, again->event.envelope.event_id);
	mapped_free(&m);
	mapped_free(&again);
}

static void
test_control_id_with_separators_is_the_whole_field_as_sent(void **state)
{
	static const struct {
		const char *msh_2, *sent, *event_id;
	} cases[] = {
		{ "^~\\&", "CID^1", "CID^1" },
		{ "^~\\&", "CID^2", "CID^2" },
		{ "^~\\&", "RID~1", "RID~1" },
		{ "^~\\&", "SID&1", "SID&1" },
		{ "^~\\&", "A\\T\\B^C", "A\\T\\B^C" },
		{ "*~\\&", "CID*1", "CID*1" },
		/* With no separator: unescaped, exactly as before. */
		{ "^~\\&", "PLAIN-1", "PLAIN-1" },
		{ "^~\\&", "A\\T\\B", "A&B" },
	};
	char long_id[300];
	struct mapped *m, *other;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		m = map_with_control_id(cases[i].msh_2, cases[i].sent);
		assert_maps(m);
		assert_string_equal(m->event.envelope.event_id, cases[i].event_id);
		mapped_free(&m);
	}
	/* Ids that differ only after a separator are two events. */
	m = map_with_control_id("^~\\&", "CID^1");
	other = map_with_control_id("^~\\&", "CID^2");
	assert_string_not_equal(m->event.envelope.event_id, other->event.envelope.event_id);
	mapped_free(&m);
	mapped_free(&other);
	/* Long ones are hashed whole: a difference after the separator counts. */
	memset(long_id, 'L', 200);
	snprintf(long_id + 200, sizeof(long_id) - 200, "^1");
	m = map_with_control_id("^~\\&", long_id);
	long_id[201] = '2';
	other = map_with_control_id("^~\\&", long_id);
	assert_maps(m);
	assert_maps(other);
	assert_int_equal(strlen(m->event.envelope.event_id), 64);
	assert_string_not_equal(m->event.envelope.event_id, other->event.envelope.event_id);
	mapped_free(&m);
	mapped_free(&other);
	/* Separators alone are no id. */
	m = map_with_control_id("^~\\&", "^~&");
	assert_refused(m, "MSH-10", HL7_ERROR_REQUIRED_FIELD_MISSING);
	mapped_free(&m);
}

/* MSH-10 must be echoed in MSA-2 (an ACK mirrors up to 1024 bytes) and
 * be printable ASCII, however long: a hashed id gets no pass. */
static void
test_control_id_too_long_to_echo_or_not_ascii_is_refused_at_any_length(void **state)
{
	char id[1200];
	struct mapped *m;

	(void)state;
	/* 1023 bytes: hashed and taken, with a separator or without. */
	memset(id, 'M', 1023);
	id[1023] = '\0';
	m = map_with_control_id("^~\\&", id);
	assert_maps(m);
	mapped_free(&m);
	id[500] = '^';
	m = map_with_control_id("^~\\&", id);
	assert_maps(m);
	mapped_free(&m);
	/* 1024, either way: refused naming the limit, not answered AA with
	 * an empty MSA-2. */
	memset(id, 'M', 1024);
	id[1024] = '\0';
	m = map_with_control_id("^~\\&", id);
	assert_refused(m, "MSH-10", HL7_ERROR_DATA_TYPE);
	assert_non_null(strstr(m->err.text, "longer than 1023 bytes"));
	mapped_free(&m);
	memset(id, 'M', 1100);
	id[1100] = '\0';
	id[10] = '^';
	m = map_with_control_id("^~\\&", id);
	assert_refused(m, "MSH-10", HL7_ERROR_DATA_TYPE);
	mapped_free(&m);
	/* Not ASCII: refused short, and long (where it used to be hashed). */
	m = map_with_control_id("^~\\&", "CID\xc3\xa9");
	assert_refused(m, "MSH-10", HL7_ERROR_DATA_TYPE);
	assert_non_null(strstr(m->err.text, "byte 0xc3 at 4: it must be printable ASCII"));
	mapped_free(&m);
	memset(id, 'N', 200);
	memcpy(id + 200, "\xc3\xa9", 3);
	m = map_with_control_id("^~\\&", id);
	assert_refused(m, "MSH-10", HL7_ERROR_DATA_TYPE);
	mapped_free(&m);
	memcpy(id + 200, "\\XE9\\", 6);
	m = map_with_control_id("^~\\&", id);
	assert_refused(m, "MSH-10", HL7_ERROR_DATA_TYPE);
	assert_non_null(strstr(m->err.text, "byte 0xe9 at 201"));
	mapped_free(&m);
}

static void
test_missing_segments_are_refused_naming_them(void **state)
{
	struct mapped *m = map_sample("bad_truncated.hl7");

	(void)state;
	assert_refused(m, "PID", HL7_ERROR_SEGMENT_SEQUENCE);
	mapped_free(&m);
	m = map_string("MSH|^~\\&|PAS|ESHT|ICS|ICS|20260115093012||ADT^A01|C|P|2.5\r"
		       "PID|1||9990000018^^^NHS^NH\r");
	assert_refused(m, "PV1", HL7_ERROR_SEGMENT_SEQUENCE);
	mapped_free(&m);
}

static void
test_missing_visit_number_is_refused_naming_pv1_19(void **state)
{
	char seg[512];
	struct mapped *m;

	(void)state;
	pv1(seg, sizeof(seg), "I", "W1^^^RXC01", "", "20260115091500", "");
	m = map_message("ADT^A01", "2.5", "9990000018^^^NHS^NH", seg);
	assert_refused(m, "PV1-19", HL7_ERROR_REQUIRED_FIELD_MISSING);
	mapped_free(&m);
}

/* ------------------------------------------------------------ times */

static void
test_bad_time_is_refused_naming_its_field(void **state)
{
	struct mapped *m = map_sample("bad_time.hl7");
	char seg[512];

	(void)state;
	assert_refused(m, "PV1-44", HL7_ERROR_DATA_TYPE);
	mapped_free(&m);
	pv1(seg, sizeof(seg), "I", "W1^^^RXC01", "V1", "", "2026-07-10");
	m = map_message("ADT^A03", "2.5", "9990000018^^^NHS^NH", seg);
	assert_refused(m, "PV1-45", HL7_ERROR_DATA_TYPE);
	mapped_free(&m);
	/* Outside 2000 to 2100: event_check's rule, named at the HL7 field. */
	pv1(seg, sizeof(seg), "I", "W1^^^RXC01", "V1", "19991231", "");
	m = map_message("ADT^A01", "2.5", "9990000018^^^NHS^NH", seg);
	assert_refused(m, "PV1-44", HL7_ERROR_DATA_TYPE);
	mapped_free(&m);
}

static void
test_admission_times_across_both_clock_changes(void **state)
{
	static const struct {
		const char *local;
		int64_t utc_ms;
	} rows[] = {
		{ "20260329005900", 1774745940000LL }, /* GMT, before the change */
		{ "20260329013000", 1774747800000LL }, /* does not exist: GMT */
		{ "20260329020000", 1774746000000LL }, /* BST */
		{ "20261025013000", 1792888200000LL }, /* twice: the first (BST) */
		{ "20261025020000", 1792893600000LL }, /* GMT */
	};
	char seg[512];

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct mapped *m;

		pv1(seg, sizeof(seg), "I", "W1^^^RXC01", "V1", rows[i].local, "");
		m = map_message("ADT^A01", "2.5", "9990000018^^^NHS^NH", seg);
		assert_maps(m);
		assert_int_equal(m->event.envelope.occurred_at, rows[i].utc_ms);
		mapped_free(&m);
	}
}

static void
test_time_with_precision_component_is_read(void **state)
{
	char seg[512];
	struct mapped *m;

	(void)state;
	pv1(seg, sizeof(seg), "I", "W1^^^RXC01", "V1", "202601150915^M", "");
	m = map_message("ADT^A01", "2.4", "9990000018^^^NHS^NH", seg);
	assert_maps(m);
	assert_int_equal(m->event.envelope.occurred_at, WINTER_MS);
	mapped_free(&m);
}

/* ------------------------------------------------------------ options */

static void
test_options_are_checked_at_start_up(void **state)
{
	static const struct adt_facility bad_provider[] = { { "ESHT", "RXC01" } };
	static const struct adt_facility no_name[] = { { "", "RXC" } };
	struct adt_options opts = { bad_provider, 1, false, "P" };
	char err[200];

	(void)state;
	assert_int_equal(adt_options_check(&options, err, sizeof(err)), 0);
	assert_int_equal(adt_options_check(&opts, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "ESHT"));
	opts.facilities = no_name;
	assert_int_equal(adt_options_check(&opts, err, sizeof(err)), -EINVAL);
}

static void
test_facility_is_its_own_provider_only_when_allowed(void **state)
{
	static const struct adt_options strict = { NULL, 0, false, "P" };
	struct mapped *m = map_sample("a03_cerner_v23_lf.hl7");
	struct adt_event event;
	struct hl7_error err;

	(void)state;
	assert_maps(m);
	assert_int_equal(adt_to_envelope(&m->msg, &strict, ps, &event, &err), -EBADMSG);
	assert_string_equal(err.field, "MSH-4");
	mapped_free(&m);
}

/* MSH-11: a training (T) or debugging (D) message, or one with no
 * processing id, is refused naming MSH-11 unless the adapter is set to take
 * it; "*" takes any. */
static void
test_processing_id_is_one_the_adapter_takes(void **state)
{
	/* An admission with MSH-11 as given. */
	static const char *const text_of =
	    "MSH|^~\\&|PAS|ESHT|ICS|ICS|20260115093012||ADT^A01|CTRL-1|%s|2.4\r"
	    "EVN||20260115093012\r"
	    "PID|1||9434765919^^^NHS^NH\r"
	    "PV1|1|I|W1^^^RXC01||||||||||||||||V1\r";
	static const struct adt_options training = { facilities, 2, true, "P, T" };
	static const struct adt_options any = { facilities, 2, true, "*" };
	char text[512];
	struct mapped *m;
	struct adt_event event;
	struct hl7_error err;

	(void)state;
	snprintf(text, sizeof(text), text_of, "P");
	m = map_string(text);
	assert_maps(m);
	mapped_free(&m);

	snprintf(text, sizeof(text), text_of, "T");
	m = map_string(text);
	assert_int_equal(m->map_rc, -EBADMSG);
	assert_string_equal(m->err.field, "MSH-11");
	assert_int_equal(m->err.code, HL7_ERROR_UNSUPPORTED_PROCESSING_ID);
	assert_non_null(strstr(m->err.text, "processing id \"T\" is not one this adapter takes (P)"));
	assert_int_equal(adt_to_envelope(&m->msg, &training, ps, &event, &err), 0);
	mapped_free(&m);

	snprintf(text, sizeof(text), text_of, "D^A");
	m = map_string(text);
	assert_int_equal(m->map_rc, -EBADMSG);
	assert_string_equal(m->err.field, "MSH-11");
	assert_int_equal(adt_to_envelope(&m->msg, &training, ps, &event, &err), -EBADMSG);
	assert_int_equal(adt_to_envelope(&m->msg, &any, ps, &event, &err), 0);
	mapped_free(&m);

	snprintf(text, sizeof(text), text_of, "");
	m = map_string(text);
	assert_int_equal(m->map_rc, -EBADMSG);
	assert_string_equal(m->err.field, "MSH-11");
	assert_int_equal(m->err.code, HL7_ERROR_REQUIRED_FIELD_MISSING);
	assert_int_equal(adt_to_envelope(&m->msg, &any, ps, &event, &err), 0);
	mapped_free(&m);
}

/* ------------------------------------------------------------ ACK */

/* The ACK of m answered with code (and m's error, but for AA) is expected. */
static void
assert_ack_is(const struct mapped *m, enum ack_code code, const char *control_id,
    int64_t now_ms, const char *expected)
{
	char ack[ACK_BUFSIZE];

	assert_true(ack_build(&m->msg, code, code == ACK_CODE_ACCEPT ? NULL : &m->err, control_id,
			now_ms, ack, sizeof(ack)) > 0);
	assert_string_equal(ack, expected);
}

static void
test_ack_accepts_mirroring_sender_and_receiver(void **state)
{
	struct mapped *m = map_sample("a01_epic_v251.hl7");
	char ack[ACK_BUFSIZE];
	int len;

	(void)state;
	assert_maps(m);
	len = ack_build(&m->msg, ACK_CODE_ACCEPT, NULL, "ACK0001", WINTER_MS, ack, sizeof(ack));
	assert_string_equal(ack, "MSH|^~\\&|COMMISSIOND|SUSSEXICS|EPIC|ESHT|20260115091500+0000||"
				 "ACK^A01^ACK|ACK0001|P|2.5.1\r"
				 "MSA|AA|EPIC0000123\r");
	assert_int_equal(len, (int)strlen(ack));
	mapped_free(&m);
}

static void
test_ack_error_v25_names_the_field_in_err_2_and_the_text_in_err_8(void **state)
{
	struct mapped *m = map_sample("bad_check_digit.hl7");

	(void)state;
	assert_int_equal(m->map_rc, -EBADMSG);
	/* Whole, to the letter: so the NHS number (9434765918) is not in it. */
	assert_ack_is(m, ACK_CODE_ERROR, "A2", SUMMER_MS,
	    "MSH|^~\\&|ICS|ICS|EPIC|ESHT|20260710143000+0100||ACK^A01^ACK|A2|P|2.5.1\r"
	    "MSA|AE|EPIC0000125\r"
	    "ERR||PID^1^3|102^Data type error^HL70357|E||||PID-3: the NHS number is not valid "
	    "(10 digits whose last is the modulus 11 check digit)\r");
	mapped_free(&m);
}

static void
test_ack_error_location_carries_the_component(void **state)
{
	char seg[512], ack[ACK_BUFSIZE];
	struct mapped *m;

	(void)state;
	pv1(seg, sizeof(seg), "I", "W1", "V1", "20260115091500", "");
	m = map_message("ADT^A01", "2.6", "9990000018^^^NHS^NH", seg);
	assert_refused(m, "PV1-3.4", HL7_ERROR_REQUIRED_FIELD_MISSING);
	assert_true(ack_build(&m->msg, ACK_CODE_ERROR, &m->err, "A3", WINTER_MS, ack,
			sizeof(ack)) > 0);
	assert_non_null(strstr(ack, "\rERR||PV1^1^3^1^4|101^Required field missing^HL70357|E||||"
				    "PV1-3.4: site: missing (required)\r"));
	mapped_free(&m);
}

static void
test_ack_error_before_v25_uses_err_1_and_msa_3(void **state)
{
	char seg[512], ack[ACK_BUFSIZE];
	struct mapped *m;

	(void)state;
	pv1(seg, sizeof(seg), "X", "W1^^^RXC01", "V1", "20260115091500", "");
	m = map_message("ADT^A01", "2.4", "9990000018^^^NHS^NH", seg);
	assert_refused(m, "PV1-2", HL7_ERROR_TABLE_VALUE_NOT_FOUND);
	assert_true(ack_build(&m->msg, ACK_CODE_ERROR, &m->err, "A4", WINTER_MS, ack,
			sizeof(ack)) > 0);
	assert_string_equal(ack, "MSH|^~\\&|ICS|ICS|PAS|ESHT|20260115091500+0000||ACK^A01^ACK|A4|P|"
				 "2.4\r"
				 "MSA|AE|CTRL-1|PV1-2: patient class \"X\" is not one this adapter "
				 "takes (I E O P R B U of HL7 table 0004; its N and C are not taken)\r"
				 "ERR|PV1^1^2^103&Table value not found&HL70357\r");
	mapped_free(&m);
}

/* N (not applicable) and C (commercial account) are in table 0004 but are
 * not taken: the AE says so, not that they are not in the table. */
static void
test_patient_classes_n_and_c_are_named_as_not_taken(void **state)
{
	char seg[512];
	struct mapped *m;

	(void)state;
	for (const char *c = "N\0C\0"; *c != '\0'; c += 2) {
		char expected[64];

		pv1(seg, sizeof(seg), c, "W1^^^RXC01", "V1", "20260115091500", "");
		m = map_message("ADT^A01", "2.4", "9990000018^^^NHS^NH", seg);
		assert_refused(m, "PV1-2", HL7_ERROR_TABLE_VALUE_NOT_FOUND);
		snprintf(expected, sizeof(expected), "patient class \"%s\" is not one this", c);
		assert_non_null(strstr(m->err.text, expected));
		assert_non_null(strstr(m->err.text, "its N and C are not taken"));
		mapped_free(&m);
	}
}

static void
test_ack_v22_has_no_message_structure(void **state)
{
	char seg[512], ack[ACK_BUFSIZE];
	struct mapped *m;

	(void)state;
	pv1(seg, sizeof(seg), "I", "W1^^^RXC01", "V1", "20260115091500", "");
	m = map_message("ADT^A01", "2.2", "9990000018^^^NHS^NH", seg);
	assert_maps(m);
	assert_true(ack_build(&m->msg, ACK_CODE_ACCEPT, NULL, "A5", WINTER_MS, ack,
			sizeof(ack)) > 0);
	assert_non_null(strstr(ack, "||ACK^A01|A5|P|2.2\r"));
	mapped_free(&m);
}

/* The ACK of a message parsed only as far as its header (as the adapter
 * does for AA) needs EVN when the trigger is there alone. */
static void
test_ack_of_a_v22_header_alone_needs_evn_for_its_trigger(void **state)
{
	static const char v22[] = "MSH|^~\\&|PAS|ESHT|ICS|ICS|20260115093012||ADT|OLD-1|P|2.2\r"
				  "EVN|A03|20260115093012\r";
	static const char v24[] = "MSH|^~\\&|PAS|ESHT|ICS|ICS|20260115093012||ADT^A03|C-1|P|2.4\r"
				  "EVN|A03|20260115093012\r";
	struct hl7_message *msg = malloc(sizeof(*msg));
	struct hl7_error err;
	char ack[ACK_BUFSIZE];

	(void)state;
	assert_non_null(msg);
	assert_int_equal(hl7_parse(msg, v22, hl7_header_length(v22, strlen(v22)), &err), 0);
	assert_true(ack_needs_evn(msg));
	assert_int_equal(hl7_parse(msg, v22, strlen(v22), &err), 0);
	assert_true(ack_build(msg, ACK_CODE_ACCEPT, NULL, "A15", WINTER_MS, ack, sizeof(ack)) > 0);
	assert_non_null(strstr(ack, "||ACK^A03|A15|P|2.2\r"));
	assert_int_equal(hl7_parse(msg, v24, hl7_header_length(v24, strlen(v24)), &err), 0);
	assert_false(ack_needs_evn(msg));
	assert_false(ack_needs_evn(NULL));
	free(msg);
}

static void
test_ack_uses_the_message_encoding_characters(void **state)
{
	struct mapped *m = map_sample("a04_star_components.hl7");
	char ack[ACK_BUFSIZE];
	struct hl7_error err = { "PV1-3.4", "a | b * c", HL7_ERROR_DATA_TYPE };

	(void)state;
	assert_maps(m);
	assert_true(ack_build(&m->msg, ACK_CODE_ERROR, &err, "A6", WINTER_MS, ack,
			sizeof(ack)) > 0);
	assert_string_equal(ack, "MSH|*~\\&|ICS|ICS|EDIS|RXC|20260115091500+0000||ACK*A04*ACK|A6|P|"
				 "2.5\r"
				 "MSA|AE|ED-9\r"
				 "ERR||PV1*1*3*1*4|102*Data type error*HL70357|E||||a \\F\\ b \\S\\ "
				 "c\r");
	mapped_free(&m);
}

static void
test_ack_time_has_no_offset_when_plus_is_a_delimiter(void **state)
{
	/* '+' is punctuation, so a delimiter MSH-1 and MSH-2 may give. */
	static const char *const messages[] = {
		"MSH+^~\\&+PAS+ESHT+CD+ICS+20260115091500++ADT^A01^ADT_A01+PL-1+P+2.5\r",
		"MSH|+~\\&|PAS|ESHT|CD|ICS|20260115091500||ADT+A01+ADT_A01|PL-2|P|2.5\r",
	};
	static const char *const expected[] = {
		"MSH+^~\\&+CD+ICS+PAS+ESHT+20260115091500++ACK^A01^ACK+A9+P+2.5\rMSA+AA+PL-1\r",
		"MSH|+~\\&|CD|ICS|PAS|ESHT|20260115091500||ACK+A01+ACK|A9|P|2.5\rMSA|AA|PL-2\r",
	};

	(void)state;
	for (size_t i = 0; i < 2; i++) {
		struct hl7_message *msg = calloc(1, sizeof(*msg));
		char ack[ACK_BUFSIZE];

		assert_non_null(msg);
		assert_int_equal(hl7_parse(msg, messages[i], strlen(messages[i]), NULL), 0);
		assert_true(ack_build(msg, ACK_CODE_ACCEPT, NULL, "A9", WINTER_MS, ack,
				sizeof(ack)) > 0);
		assert_string_equal(ack, expected[i]);
		free(msg);
	}
}

static void
test_ack_of_unparseable_message_uses_defaults(void **state)
{
	struct mapped *m = map_sample("bad_no_msh.hl7");
	char ack[ACK_BUFSIZE];

	(void)state;
	assert_int_equal(m->parse_rc, -EBADMSG);
	assert_true(ack_build(&m->msg, ACK_CODE_ERROR, &m->err, "A7", WINTER_MS, ack,
			sizeof(ack)) > 0);
	assert_string_equal(ack, "MSH|^~\\&|||||20260115091500+0000||ACK|A7||2.5\r"
				 "MSA|AE|\r"
				 "ERR||MSH|100^Segment sequence error^HL70357|E||||MSH: the message "
				 "does not start with an MSH segment\r");
	assert_true(ack_build(NULL, ACK_CODE_REJECT, NULL, "A8", WINTER_MS, ack, sizeof(ack)) > 0);
	assert_string_equal(ack, "MSH|^~\\&|||||20260115091500+0000||ACK|A8||2.5\rMSA|AR|\r");
	mapped_free(&m);
}

static void
test_ack_reject_asks_for_a_resend(void **state)
{
	struct mapped *m = map_sample("a11_cancel_admit.hl7");
	struct hl7_error err = { "", "the outbox is full: send again later", 0 };
	char ack[ACK_BUFSIZE];

	(void)state;
	assert_maps(m);
	assert_true(ack_build(&m->msg, ACK_CODE_REJECT, &err, "A9", WINTER_MS, ack,
			sizeof(ack)) > 0);
	assert_non_null(strstr(ack, "||ACK^A11^ACK|A9|P|2.5.1\rMSA|AR|EPIC0000200\r"
				    "ERR|||207^Application internal error^HL70357|E||||the outbox "
				    "is full: send again later\r"));
	mapped_free(&m);
}

static void
test_ack_refuses_a_small_buffer_and_bad_arguments(void **state)
{
	struct mapped *m = map_sample("a01_epic_v251.hl7");
	char ack[ACK_BUFSIZE];

	(void)state;
	assert_int_equal(ack_build(&m->msg, ACK_CODE_ACCEPT, NULL, "A10", WINTER_MS, ack, 40), -1);
	assert_string_equal(ack, "");
	assert_int_equal(ack_build(&m->msg, ACK_CODE_ACCEPT, NULL, "", WINTER_MS, ack,
			     sizeof(ack)),
	    -1);
	assert_int_equal(ack_build(&m->msg, ACK_CODE_ACCEPT, NULL, "123456789012345678901",
			     WINTER_MS, ack, sizeof(ack)),
	    -1);
	mapped_free(&m);
}

static void
test_ack_leaves_out_oversized_header_fields_but_still_answers(void **state)
{
	char text[4096], app[2001], ack[ACK_BUFSIZE];
	struct hl7_message *msg = malloc(sizeof(*msg));
	struct hl7_error err;

	(void)state;
	memset(app, 'A', 2000);
	app[2000] = '\0';
	snprintf(text, sizeof(text), "MSH|^~\\&|%s|ESHT|ICS|ICS|20260115||ADT^A01|C9|P|2.5\r", app);
	assert_int_equal(hl7_parse(msg, text, strlen(text), &err), 0);
	assert_true(ack_build(msg, ACK_CODE_ACCEPT, NULL, "A11", WINTER_MS, ack, sizeof(ack)) > 0);
	assert_string_equal(ack, "MSH|^~\\&|ICS|ICS||ESHT|20260115091500+0000||ACK^A01^ACK|A11|P|"
				 "2.5\rMSA|AA|C9\r");
	free(msg);
}

static void
test_control_bytes_in_the_header_never_reach_the_ack_raw(void **state)
{
	char text[1024], seg[512], ack[ACK_BUFSIZE];
	struct mapped *m;
	int len;

	(void)state;
	pv1(seg, sizeof(seg), "I", "", "V1", "", "");
	/* MSH-10 ending in 0x1C (MLLP's end block), MSH-3 holding 0x0B. */
	snprintf(text, sizeof(text),
	    "MSH|^~\\&|P\x0b" "AS|ESHT|ICS|ICS|20260115093012||ADT^A08|FS-1\x1c|P|2.5\r"
	    "PID|1||9990000018^^^NHS^NH\r%s\r",
	    seg);
	m = map_string(text);
	assert_refused(m, "MSH-10", HL7_ERROR_DATA_TYPE);
	assert_non_null(strstr(m->err.text, "control byte 0x1c"));
	len = ack_build(&m->msg, ACK_CODE_ERROR, &m->err, "A12", WINTER_MS, ack, sizeof(ack));
	assert_true(len > 0);
	assert_null(memchr(ack, 0x1c, (size_t)len));
	assert_null(memchr(ack, 0x0b, (size_t)len));
	/* Left out, as a field too long is: MSH-5 (from MSH-3) and MSA-2. */
	assert_non_null(strstr(ack, "MSH|^~\\&|ICS|ICS||ESHT|"));
	assert_non_null(strstr(ack, "\rMSA|AE|\r"));
	mapped_free(&m);
	/* A trigger that unescapes to 0x1C is escaped again in MSH-9. */
	snprintf(text, sizeof(text),
	    "MSH|^~\\&|PAS|ESHT|ICS|ICS|20260115093012||ADT^A\\X1C\\1|C13|P|2.5\r");
	m = map_string(text);
	len = ack_build(&m->msg, ACK_CODE_ERROR, &m->err, "A13", WINTER_MS, ack, sizeof(ack));
	assert_true(len > 0);
	assert_null(memchr(ack, 0x1c, (size_t)len));
	assert_non_null(strstr(ack, "|ACK^A\\X1C\\1^ACK|A13|"));
	mapped_free(&m);
}

static void
test_ack_of_a_message_with_a_nul_byte_mirrors_its_header(void **state)
{
	static const char text[] = "MSH|^~\\&|PAS|ESHT|ICS|ICS|20260115093012||ADT^A01|NUL-1|P|2.4\r"
				   "EVN|A01|20260115093012\r"
				   "PID|1||9990000018^^^NHS^NH\r"
				   "ZZZ|x|a\0b\r";
	struct mapped *m = map_text(text, sizeof(text) - 1);

	(void)state;
	assert_int_equal(m->parse_rc, -EBADMSG);
	assert_string_equal(m->err.field, "ZZZ-2");
	assert_ack_is(m, ACK_CODE_ERROR, "A14", WINTER_MS,
	    "MSH|^~\\&|ICS|ICS|PAS|ESHT|20260115091500+0000||ACK^A01^ACK|A14|P|2.4\r"
	    "MSA|AE|NUL-1|ZZZ-2: a NUL byte (0x00) at byte 120 of the message (segment 4): HL7 "
	    "text never holds one\r"
	    "ERR|ZZZ^1^2^102&Data type error&HL70357\r");
	mapped_free(&m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_epic_style_admission_maps_to_patient_admitted),
		cmocka_unit_test(test_cerner_style_discharge_in_summer_is_an_hour_behind_in_utc),
		cmocka_unit_test(test_systmone_style_transfer_reads_escaped_ward_and_event_time),
		cmocka_unit_test(test_v27_update_with_oid_authority_and_local_service_code),
		cmocka_unit_test(test_registration_with_star_components_is_an_emergency_attendance),
		cmocka_unit_test(test_cancel_admission_names_what_it_cancels),
		cmocka_unit_test(test_every_trigger_maps_through_the_table),
		cmocka_unit_test(test_v22_trigger_may_come_from_evn_1),
		cmocka_unit_test(test_nhs_number_with_spaces_or_not_is_the_same_pseudonym),
		cmocka_unit_test(test_different_visit_numbers_give_different_spells),
		cmocka_unit_test(test_nh_repetition_of_another_authority_is_not_the_nhs_number),
		cmocka_unit_test(test_no_nhs_number_is_refused_on_a_movement_but_not_on_a_cancel),
		cmocka_unit_test(test_invalid_check_digit_is_refused_naming_pid_3),
		cmocka_unit_test(test_no_person_data_reaches_the_envelope),
		cmocka_unit_test(test_site_must_be_a_site_of_the_provider),
		cmocka_unit_test(test_admission_without_facility_is_refused_naming_it),
		cmocka_unit_test(test_discharge_and_update_may_leave_the_location_out),
		cmocka_unit_test(test_ward_longer_than_a_text_field_is_refused),
		cmocka_unit_test(test_latin1_ward_is_made_utf8_and_raw_latin1_is_refused),
		cmocka_unit_test(test_text_not_in_a_character_set_read_here_says_msh_18_is_why),
		cmocka_unit_test(test_every_patient_class_letter_maps),
		cmocka_unit_test(test_unknown_trigger_is_refused_naming_msh_9),
		cmocka_unit_test(test_other_message_types_and_versions_are_refused),
		cmocka_unit_test(test_unconfigured_facility_is_refused_naming_msh_4),
		cmocka_unit_test(test_facility_table_maps_a_local_name_to_a_provider),
		cmocka_unit_test(test_missing_control_id_is_refused_and_a_long_one_is_hashed),
		cmocka_unit_test(test_control_id_with_separators_is_the_whole_field_as_sent),
		cmocka_unit_test(test_control_id_too_long_to_echo_or_not_ascii_is_refused_at_any_length),
		cmocka_unit_test(test_missing_segments_are_refused_naming_them),
		cmocka_unit_test(test_missing_visit_number_is_refused_naming_pv1_19),
		cmocka_unit_test(test_bad_time_is_refused_naming_its_field),
		cmocka_unit_test(test_admission_times_across_both_clock_changes),
		cmocka_unit_test(test_time_with_precision_component_is_read),
		cmocka_unit_test(test_options_are_checked_at_start_up),
		cmocka_unit_test(test_facility_is_its_own_provider_only_when_allowed),
		cmocka_unit_test(test_processing_id_is_one_the_adapter_takes),
		cmocka_unit_test(test_patient_classes_n_and_c_are_named_as_not_taken),
		cmocka_unit_test(test_ack_accepts_mirroring_sender_and_receiver),
		cmocka_unit_test(test_ack_error_v25_names_the_field_in_err_2_and_the_text_in_err_8),
		cmocka_unit_test(test_ack_error_location_carries_the_component),
		cmocka_unit_test(test_ack_error_before_v25_uses_err_1_and_msa_3),
		cmocka_unit_test(test_ack_v22_has_no_message_structure),
		cmocka_unit_test(test_ack_of_a_v22_header_alone_needs_evn_for_its_trigger),
		cmocka_unit_test(test_ack_uses_the_message_encoding_characters),
		cmocka_unit_test(test_ack_time_has_no_offset_when_plus_is_a_delimiter),
		cmocka_unit_test(test_ack_of_unparseable_message_uses_defaults),
		cmocka_unit_test(test_ack_reject_asks_for_a_resend),
		cmocka_unit_test(test_ack_refuses_a_small_buffer_and_bad_arguments),
		cmocka_unit_test(test_ack_leaves_out_oversized_header_fields_but_still_answers),
		cmocka_unit_test(test_control_bytes_in_the_header_never_reach_the_ack_raw),
		cmocka_unit_test(test_ack_of_a_message_with_a_nul_byte_mirrors_its_header),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
