/*
 * test_envelope: one ingest frame decoded and checked as the daemon takes
 * it. A string is judged by all of its bytes on the wire, not only by what
 * protobuf-c's C string shows up to a NUL, and a message field comes once:
 * the bytes are what is stored and published, and other readers read all
 * of them.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commissioning.pb-c.h"
#include "envelope.h"
#include "envelope_json.h"
#include "oom_fixture.h"

#define MAX_BYTES (1024 * 1024)

#define ENVELOPE_HEAD "{\"source\":\"feed\",\"eventId\":\"E1\",\"occurredAt\":\"1778371200000\","

static const char organisation[] = ENVELOPE_HEAD
    "\"organisationRegistered\":{\"code\":\"QNX\",\"role\":\"ORG_ROLE_ICB\","
    "\"name\":\"NAME@@@@@@@@\"}}";

static const char budget[] = ENVELOPE_HEAD
    "\"budgetAllocated\":{\"commissioner\":\"QNX\",\"financialYear\":\"2026-27\","
    "\"pool\":\"BUDGET_POOL_BETTER_CARE_FUND\",\"amount\":\"300\",\"contributors\":["
    "{\"code\":\"QNX\",\"share\":\"100\"},{\"code\":\"E10000011@\",\"share\":\"200\"}]}}";

/* The first occurrence of the n bytes at what in the frame's bytes. */
static uint8_t *
find(uint8_t *bytes, size_t len, const char *what, size_t n)
{
	for (size_t i = 0; i + n <= len; i++)
		if (memcmp(bytes + i, what, n) == 0)
			return bytes + i;
	return NULL;
}

struct frame {
	uint8_t bytes[1024];
	size_t len;
};

/* The envelope of json packed, then the first n bytes at the first
 * occurrence of marker replaced with with (the same length: the frame
 * stays a message). */
static void
frame_of(struct frame *f, const char *json, const char *marker, const char *with, size_t n)
{
	Commissioning__Envelope *env = envelope_of_json(json);
	uint8_t *at;

	f->len = protobuf_c_message_get_packed_size(&env->base);
	assert_true(f->len <= sizeof(f->bytes));
	protobuf_c_message_pack(&env->base, f->bytes);
	protobuf_c_message_free_unpacked(&env->base, NULL);
	if (marker == NULL)
		return;
	at = find(f->bytes, f->len, marker, strlen(marker));
	assert_non_null(at);
	memcpy(at, with, n);
}

static int
decode(const struct frame *f, struct check_error *why)
{
	Commissioning__Envelope *env;
	int rc = envelope_decode_frame(f->bytes, f->len, MAX_BYTES, &env, why);

	if (env != NULL)
		commissioning__envelope__free_unpacked(env, NULL);
	return rc;
}

static void
test_a_nul_in_a_text_is_rejected_naming_the_field(void **state)
{
	struct frame f;
	struct check_error why;

	(void)state;
	frame_of(&f, organisation, NULL, NULL, 0);
	assert_int_equal(decode(&f, &why), 0);
	/* "NAME", then a NUL, a line break and bytes that are not UTF-8:
	 * the C string reads "NAME", a clean name. */
	frame_of(&f, organisation, "NAME@@@@", "NAME\0\n\xff\xfe", 8);
	assert_int_equal(decode(&f, &why), -1);
	assert_string_equal(why.field, "name");
	assert_string_equal(why.reason, "name: byte 5 is NUL, which text may not hold");
}

static void
test_a_nul_in_the_source_is_rejected(void **state)
{
	struct frame f;
	struct check_error why;

	(void)state;
	frame_of(&f, organisation, "feed", "fe\0d", 4);
	assert_int_equal(decode(&f, &why), -1);
	assert_string_equal(why.field, "source");
}

/* A field given twice is read as its last; the first is still in the
 * bytes, and must be text too. */
static void
test_every_occurrence_of_a_string_must_be_utf8(void **state)
{
	static const char twice[] = ENVELOPE_HEAD
	    "\"organisationRegistered\":{\"code\":\"QNX\",\"role\":\"ORG_ROLE_ICB\","
	    "\"name\":\"NAME@@@@@@@@\"}}";
	struct frame f;
	struct check_error why;
	Commissioning__Envelope *env;
	uint8_t *at;

	(void)state;
	frame_of(&f, twice, NULL, NULL, 0);
	/* source "feed" becomes "\xff\xfe\xfd\xfc", and a clean source
	 * "feed" goes after it: protobuf-c reads the last one. */
	at = find(f.bytes, f.len, "feed", 4);
	assert_non_null(at);
	memcpy(at, "\xff\xfe\xfd\xfc", 4);
	memcpy(f.bytes + f.len, "\x0a\x04" "feed", 6);
	f.len += 6;
	assert_int_equal(envelope_decode_frame(f.bytes, f.len, MAX_BYTES, &env, &why), -1);
	assert_non_null(env);
	assert_string_equal(env->source, "feed");
	commissioning__envelope__free_unpacked(env, NULL);
	assert_string_equal(why.field, "source");
	assert_string_equal(why.reason, "source: not UTF-8 from byte 1 on (text is UTF-8)");
}

static void
test_a_nul_in_a_list_item_is_named_by_the_list(void **state)
{
	struct frame f;
	struct check_error why;

	(void)state;
	/* "E10000011@" is no code; "E10000011", then a NUL, reads as one. */
	frame_of(&f, budget, NULL, NULL, 0);
	assert_int_equal(decode(&f, &why), -1);
	assert_string_equal(why.field, "contributors");
	frame_of(&f, budget, "E10000011@", "E10000011", 10);
	assert_int_equal(decode(&f, &why), -1);
	assert_string_equal(why.field, "contributors");
	assert_string_equal(why.reason,
	    "contributors: code: byte 10 is NUL, which text may not hold");
}

/*
 * protobuf merges two copies of a message field; protobuf-c 1.4 keeps the
 * last (or fails to unpack). The first copy's fields would reach every
 * other reader of the bytes unchecked.
 */
static void
test_a_message_field_given_twice_is_rejected(void **state)
{
	static const char service[] = ENVELOPE_HEAD
	    "\"serviceStatusChanged\":{\"serviceId\":\"S1\",\"commissioner\":\"QNX\","
	    "\"provider\":\"RXC\",\"category\":\"SERVICE_CATEGORY_ELECTIVE\","
	    "\"fromStatus\":\"SERVICE_STATUS_COMMISSIONED\","
	    "\"toStatus\":\"SERVICE_STATUS_CONSULTATION\",\"effectiveDate\":\"2026-06-01\","
	    "\"places\":\"10\"}}";
	struct frame f, event;
	struct check_error why;
	Commissioning__Envelope *env;
	size_t head;

	(void)state;
	/* The event (field 10 of the Envelope, packed after the ids and the
	 * time) sent again: this copy is clean, and still refused. */
	frame_of(&f, organisation, NULL, NULL, 0);
	env = envelope_of_json(organisation);
	env->event_case = COMMISSIONING__ENVELOPE__EVENT__NOT_SET;
	head = protobuf_c_message_get_packed_size(&env->base);
	env->event_case = COMMISSIONING__ENVELOPE__EVENT_ORGANISATION_REGISTERED;
	protobuf_c_message_free_unpacked(&env->base, NULL);
	assert_int_equal(f.bytes[head], 0x52);
	memcpy(f.bytes + f.len, f.bytes + head, f.len - head);
	f.len += f.len - head;
	assert_int_equal(envelope_decode_frame(f.bytes, f.len, MAX_BYTES, &env, &why), -1);
	assert_non_null(env);
	commissioning__envelope__free_unpacked(env, NULL);
	assert_string_equal(why.field, "organisation_registered");
	assert_string_equal(why.reason, "organisation_registered: given twice; send it once");

	/* The proposed change (field 9 of the event) in two parts, places
	 * 5 then type reduce: the event packed alone, the parts added, and
	 * the envelope put around it. */
	frame_of(&f, service, NULL, NULL, 0);
	assert_int_equal(decode(&f, &why), 0);
	env = envelope_of_json(service);
	event.len = protobuf_c_message_get_packed_size(&env->service_status_changed->base);
	protobuf_c_message_pack(&env->service_status_changed->base, event.bytes);
	memcpy(event.bytes + event.len, "\x4a\x02\x10\x05\x4a\x02\x08\x02", 8);
	event.len += 8;
	assert_true(event.len < 0x80);
	env->event_case = COMMISSIONING__ENVELOPE__EVENT__NOT_SET;
	f.len = protobuf_c_message_get_packed_size(&env->base);
	protobuf_c_message_pack(&env->base, f.bytes);
	env->event_case = COMMISSIONING__ENVELOPE__EVENT_SERVICE_STATUS_CHANGED;
	protobuf_c_message_free_unpacked(&env->base, NULL);
	f.bytes[f.len++] = 0x62; /* field 12, length-prefixed */
	f.bytes[f.len++] = (uint8_t)event.len;
	memcpy(f.bytes + f.len, event.bytes, event.len);
	f.len += event.len;
	assert_int_equal(decode(&f, &why), -1);
	assert_string_equal(why.field, "proposed_change");
	assert_string_equal(why.reason, "proposed_change: given twice; send it once");
}

static void
test_utf8_text_bytes_and_unknown_fields_pass(void **state)
{
	static const char admitted[] = ENVELOPE_HEAD
	    "\"patientAdmitted\":{\"patientPseudonym\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\","
	    "\"spellPseudonym\":\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\",\"provider\":\"RXC\","
	    "\"site\":\"RXC01\",\"ward\":\"Caf\\u00e9 \\u4e2d \\ud83d\\ude00\","
	    "\"patientClass\":\"PATIENT_CLASS_INPATIENT\"}}";
	struct frame f;
	struct check_error why;

	(void)state;
	/* Pseudonyms of NUL bytes; a ward of two, three and four bytes a
	 * character. */
	frame_of(&f, admitted, NULL, NULL, 0);
	assert_int_equal(decode(&f, &why), 0);
	/* A field of a newer schema is kept as bytes, whatever they are. */
	memcpy(f.bytes + f.len, "\xa2\x06\x03" "\x00\xff\n", 6);
	f.len += 6;
	assert_int_equal(decode(&f, &why), 0);
}

static void
test_overlong_and_surrogate_forms_are_not_utf8(void **state)
{
	static const struct {
		const char *bytes;
	} cases[] = {
		{ "\xc0\xaf@@@@@@" }, /* overlong '/' */
		{ "\xe0\x80\xaf@@@@@" }, /* overlong, three bytes */
		{ "\xed\xa0\x80@@@@@" }, /* U+D800, a surrogate */
		{ "\xf4\x90\x80\x80@@@@" }, /* past U+10FFFF */
		{ "@@@@@@@\xe2" }, /* cut short at the end */
	};
	struct frame f;
	struct check_error why;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		frame_of(&f, organisation, "@@@@@@@@", cases[i].bytes, 8);
		assert_int_equal(decode(&f, &why), -1);
		assert_string_equal(why.field, "name");
		assert_non_null(strstr(why.reason, "not UTF-8"));
	}
}

/* Memory running out is no fault of the frame: it is not refused as one
 * (ingest would dead-letter it), but told apart, to be sent again. */
static void
test_running_out_of_memory_is_not_a_refusal(void **state)
{
	ProtobufCAllocator none = NO_MEMORY_ALLOCATOR;
	struct frame f;
	struct check_error why;
	Commissioning__Envelope *env;

	(void)state;
	frame_of(&f, organisation, NULL, NULL, 0);
	assert_int_equal(envelope_decode_frame_on(f.bytes, f.len, MAX_BYTES, &none, &env, &why),
	    ENVELOPE_NO_MEMORY);
	assert_null(env);
	assert_string_equal(why.reason,
	    "envelope: out of memory decoding the frame; send it again later");
	assert_int_equal(decode(&f, &why), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_running_out_of_memory_is_not_a_refusal),
		cmocka_unit_test(test_a_nul_in_a_text_is_rejected_naming_the_field),
		cmocka_unit_test(test_a_nul_in_the_source_is_rejected),
		cmocka_unit_test(test_every_occurrence_of_a_string_must_be_utf8),
		cmocka_unit_test(test_a_nul_in_a_list_item_is_named_by_the_list),
		cmocka_unit_test(test_a_message_field_given_twice_is_rejected),
		cmocka_unit_test(test_utf8_text_bytes_and_unknown_fields_pass),
		cmocka_unit_test(test_overlong_and_surrogate_forms_are_not_utf8),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
