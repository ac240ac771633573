/*
 * test_pbjson: the canonical proto3 JSON mapping over commissioning.proto:
 * round trips through the wire format, what the printer writes, what the
 * parser accepts, and errors that name the field path.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "commissioning.pb-c.h"
#include "pbjson.h"

/* Bytes 0..31 and 100..131, as standard padded base64. */
#define PSEUDONYM_A "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#define PSEUDONYM_B "ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CBgoM="

static json_t *
json_from_text(const char *text)
{
	json_error_t jerr;
	json_t *json = json_loads(text, JSON_DECODE_ANY, &jerr);

	if (json == NULL)
		fail_msg("test JSON does not parse: %s (line %d): %s", jerr.text, jerr.line, text);
	return json;
}

/* Parse text as a message of desc; fail the test with the error if it does not. */
static ProtobufCMessage *
message_from_text(const char *text, const ProtobufCMessageDescriptor *desc)
{
	char err[256] = "";
	json_t *json = json_from_text(text);
	ProtobufCMessage *msg = pbjson_to_message(json, desc, err, sizeof(err));

	json_decref(json);
	if (msg == NULL)
		fail_msg("pbjson_to_message failed: %s", err);
	return msg;
}

static Commissioning__Envelope *
envelope_from_text(const char *text)
{
	return (Commissioning__Envelope *)message_from_text(
	    text, &commissioning__envelope__descriptor);
}

/* Pack msg and unpack it again as the wire would carry it. */
static ProtobufCMessage *
message_through_wire(const ProtobufCMessage *msg)
{
	size_t len = protobuf_c_message_get_packed_size(msg);
	uint8_t *buf = malloc(len ? len : 1);
	ProtobufCMessage *back;

	assert_non_null(buf);
	assert_int_equal(protobuf_c_message_pack(msg, buf), len);
	back = protobuf_c_message_unpack(msg->descriptor, NULL, len, buf);
	free(buf);
	assert_non_null(back);
	return back;
}

static void
assert_json_equal(const json_t *got, const json_t *want)
{
	if (!json_equal(got, want)) {
		char *g = json_dumps(got, JSON_SORT_KEYS | JSON_COMPACT);
		char *w = json_dumps(want, JSON_SORT_KEYS | JSON_COMPACT);
		print_error("got:  %s\nwant: %s\n", g ? g : "(null)", w ? w : "(null)");
		free(g);
		free(w);
		fail_msg("JSON differs");
	}
}

/*
 * text is canonical JSON for an Envelope: it must come back identical from
 * the parsed message and again after a pack and unpack.
 */
static void
assert_round_trip(const char *text)
{
	json_t *want = json_from_text(text);
	Commissioning__Envelope *env = envelope_from_text(text);
	ProtobufCMessage *back;
	json_t *first, *second;

	first = pbjson_from_message(&env->base);
	assert_non_null(first);
	assert_json_equal(first, want);
	back = message_through_wire(&env->base);
	second = pbjson_from_message(back);
	assert_non_null(second);
	assert_json_equal(second, want);
	json_decref(first);
	json_decref(second);
	json_decref(want);
	protobuf_c_message_free_unpacked(back, NULL);
	protobuf_c_message_free_unpacked(&env->base, NULL);
}

/* Parsing text as desc must fail, with err containing every given fragment. */
static void
assert_parse_error(const char *text, const ProtobufCMessageDescriptor *desc, const char *fragment,
    const char *fragment2)
{
	char err[256] = "";
	json_t *json = json_from_text(text);
	ProtobufCMessage *msg = pbjson_to_message(json, desc, err, sizeof(err));

	json_decref(json);
	if (msg != NULL) {
		protobuf_c_message_free_unpacked(msg, NULL);
		fail_msg("accepted, should not: %s", text);
	}
	if (strstr(err, fragment) == NULL || (fragment2 != NULL && strstr(err, fragment2) == NULL))
		fail_msg("error \"%s\" lacks \"%s\"%s%s", err, fragment, fragment2 ? " or " : "",
		    fragment2 ? fragment2 : "");
}

static void
assert_envelope_error(const char *text, const char *fragment, const char *fragment2)
{
	assert_parse_error(text, &commissioning__envelope__descriptor, fragment, fragment2);
}

/* ------------------------------------------------------------ round trips */

static void
test_round_trip_service_status_changed_keeps_nested_proposed_change(void **state)
{
	(void)state;
	assert_round_trip("{\"source\":\"service-register\",\"eventId\":\"ssc-1\","
	                  "\"occurredAt\":\"1778371200000\",\"schemaVersion\":1,"
	                  "\"serviceStatusChanged\":{\"serviceId\":\"SVC-0001\","
	                  "\"commissioner\":\"QWE\",\"provider\":\"RXX\","
	                  "\"category\":\"SERVICE_CATEGORY_COMMUNITY\","
	                  "\"fromStatus\":\"SERVICE_STATUS_CONSULTATION\","
	                  "\"toStatus\":\"SERVICE_STATUS_DECISION\","
	                  "\"effectiveDate\":\"2026-05-10\",\"places\":\"12\","
	                  "\"proposedChange\":{\"type\":\"PROPOSED_CHANGE_TYPE_TRANSFER\","
	                  "\"places\":\"0\",\"toProvider\":\"RYY\"}}}");
}

static void
test_round_trip_contract_awarded_keeps_repeated_strings(void **state)
{
	(void)state;
	assert_round_trip(
	    "{\"source\":\"contracts\",\"eventId\":\"ca-7\","
	    "\"occurredAt\":\"-5\",\"contractAwarded\":{\"contractId\":\"C-1\","
	    "\"commissioner\":\"QWE\",\"provider\":\"RXX\",\"serviceId\":\"SVC-0001\","
	    "\"annualValue\":\"9223372036854775807\",\"startDate\":\"2026-04-01\","
	    "\"endDate\":\"2029-03-31\",\"decidedOn\":\"2026-03-01\","
	    "\"decisionMakers\":[\"S001\",\"S002\",\"S003\"],"
	    "\"recused\":[\"S009\"]}}");
}

static void
test_round_trip_budget_allocated_keeps_repeated_messages(void **state)
{
	Commissioning__Envelope *env;

	(void)state;
	assert_round_trip("{\"source\":\"finance\",\"eventId\":\"ba-1\","
	                  "\"budgetAllocated\":{\"commissioner\":\"QWE\","
	                  "\"financialYear\":\"2026-27\",\"pool\":\"BUDGET_POOL_BETTER_CARE_FUND\","
	                  "\"amount\":\"1000000\",\"contributors\":["
	                  "{\"code\":\"QWE\",\"share\":\"600000\"},"
	                  "{\"code\":\"E08000001\",\"share\":\"0\"},"
	                  "{\"code\":\"E08000002\"}]}}");

	/* Presence of each contributor's share survives as parsed. */
	env = envelope_from_text("{\"budgetAllocated\":{\"contributors\":["
	                         "{\"code\":\"A\",\"share\":\"0\"},{\"code\":\"B\"}]}}");
	assert_int_equal(env->event_case, COMMISSIONING__ENVELOPE__EVENT_BUDGET_ALLOCATED);
	assert_int_equal(env->budget_allocated->n_contributors, 2);
	assert_string_equal(env->budget_allocated->contributors[0]->code, "A");
	assert_int_equal(env->budget_allocated->contributors[0]->opt_share_case,
	    COMMISSIONING__BUDGET_CONTRIBUTOR__OPT_SHARE_SHARE);
	assert_int_equal(env->budget_allocated->contributors[0]->share, 0);
	assert_int_equal(env->budget_allocated->contributors[1]->opt_share_case,
	    COMMISSIONING__BUDGET_CONTRIBUTOR__OPT_SHARE__NOT_SET);
	protobuf_c_message_free_unpacked(&env->base, NULL);
}

static void
test_round_trip_patient_movement_keeps_bytes_as_base64(void **state)
{
	Commissioning__Envelope *env;

	(void)state;
	assert_round_trip("{\"source\":\"hl7-adt\",\"eventId\":\"A01-1\","
	                  "\"occurredAt\":\"1778371200000\",\"patientAdmitted\":{"
	                  "\"patientPseudonym\":\"" PSEUDONYM_A "\","
	                  "\"spellPseudonym\":\"" PSEUDONYM_B "\","
	                  "\"provider\":\"RXX\",\"site\":\"RXX01\",\"ward\":\"W1\","
	                  "\"patientClass\":\"PATIENT_CLASS_INPATIENT\","
	                  "\"treatmentFunction\":\"300\"}}");

	env = envelope_from_text(
	    "{\"patientDischarged\":{\"patientPseudonym\":\"" PSEUDONYM_A "\"}}");
	assert_int_equal(env->patient_discharged->patient_pseudonym.len, 32);
	for (size_t i = 0; i < 32; i++)
		assert_int_equal(env->patient_discharged->patient_pseudonym.data[i], i);
	protobuf_c_message_free_unpacked(&env->base, NULL);
}

static void
test_round_trip_enums_by_name_and_int64_as_strings(void **state)
{
	(void)state;
	assert_round_trip("{\"source\":\"capacity\",\"eventId\":\"cap-1\","
	                  "\"occurredAt\":\"-9223372036854775808\","
	                  "\"capacityReported\":{\"organisation\":\"RXX\","
	                  "\"sector\":\"SECTOR_DEMENTIA_EMI\",\"bedsAvailable\":\"0\","
	                  "\"bedsOccupied\":\"31\",\"asOf\":\"1778371200000\"}}");
	assert_round_trip("{\"source\":\"care\",\"eventId\":\"cp-1\","
	                  "\"carePackageStarted\":{\"patientPseudonym\":\"" PSEUDONYM_B "\","
	                  "\"council\":\"E08000001\",\"packageId\":\"P1\","
	                  "\"serviceType\":\"CARE_PACKAGE_TYPE_SHORT_TERM_REABLEMENT\","
	                  "\"hoursPerWeek\":37.5,\"weeklyCost\":\"0\","
	                  "\"startDate\":\"2026-05-10\"}}");
}

static void
test_ready_for_discharge_pathway_0_is_present_and_printed(void **state)
{
	static const char text[] =
	    "{\"source\":\"hl7-adt\",\"eventId\":\"rfd-1\","
	    "\"readyForDischarge\":{\"patientPseudonym\":\"" PSEUDONYM_A "\","
	    "\"provider\":\"RXX\",\"readyDate\":\"2026-05-10\",\"pathway\":\"0\","
	    "\"council\":\"E08000001\"}}";
	Commissioning__Envelope *env, *back;
	json_t *json, *rfd;

	(void)state;
	assert_round_trip(text);
	env = envelope_from_text(text);
	assert_int_equal(env->event_case, COMMISSIONING__ENVELOPE__EVENT_READY_FOR_DISCHARGE);
	assert_int_equal(env->ready_for_discharge->opt_pathway_case,
	    COMMISSIONING__READY_FOR_DISCHARGE__OPT_PATHWAY_PATHWAY);
	assert_int_equal(env->ready_for_discharge->pathway, 0);

	back = (Commissioning__Envelope *)message_through_wire(&env->base);
	assert_int_equal(back->ready_for_discharge->opt_pathway_case,
	    COMMISSIONING__READY_FOR_DISCHARGE__OPT_PATHWAY_PATHWAY);
	assert_int_equal(back->ready_for_discharge->pathway, 0);

	json = pbjson_from_message(&back->base);
	rfd = json_object_get(json, "readyForDischarge");
	assert_non_null(rfd);
	assert_true(json_is_string(json_object_get(rfd, "pathway")));
	assert_string_equal(json_string_value(json_object_get(rfd, "pathway")), "0");
	json_decref(json);
	protobuf_c_message_free_unpacked(&back->base, NULL);
	protobuf_c_message_free_unpacked(&env->base, NULL);
}

static void
test_ready_for_discharge_without_pathway_stays_absent(void **state)
{
	static const char text[] =
	    "{\"source\":\"hl7-adt\",\"eventId\":\"rfd-2\","
	    "\"readyForDischarge\":{\"provider\":\"RXX\",\"readyDate\":\"2026-05-10\"}}";
	Commissioning__Envelope *env, *back;
	json_t *json;

	(void)state;
	assert_round_trip(text);
	env = envelope_from_text(text);
	assert_int_equal(env->ready_for_discharge->opt_pathway_case,
	    COMMISSIONING__READY_FOR_DISCHARGE__OPT_PATHWAY__NOT_SET);
	back = (Commissioning__Envelope *)message_through_wire(&env->base);
	assert_int_equal(back->ready_for_discharge->opt_pathway_case,
	    COMMISSIONING__READY_FOR_DISCHARGE__OPT_PATHWAY__NOT_SET);
	json = pbjson_from_message(&back->base);
	assert_null(json_object_get(json_object_get(json, "readyForDischarge"), "pathway"));
	json_decref(json);
	protobuf_c_message_free_unpacked(&back->base, NULL);
	protobuf_c_message_free_unpacked(&env->base, NULL);
}

static void
test_round_trip_through_nested_update_and_replay_reply(void **state)
{
	static const char text[] =
	    "{\"updates\":[{\"sequence\":\"1\",\"topic\":\"contract\","
	    "\"commitTime\":\"1778371200000\",\"eventSequence\":\"18446744073709551615\","
	    "\"eventAccepted\":{\"envelope\":{\"source\":\"s\",\"eventId\":\"e\","
	    "\"contractTerminated\":{\"contractId\":\"C-1\","
	    "\"lastDayOfService\":\"2027-03-31\"}}}},{\"sequence\":\"2\"}],"
	    "\"nextSequence\":\"3\",\"end\":true,\"lastSequence\":\"2\"}";
	json_t *want = json_from_text(text), *got;
	ProtobufCMessage *msg = message_from_text(text, &commissioning__replay_reply__descriptor);
	ProtobufCMessage *back = message_through_wire(msg);
	Commissioning__ReplayReply *reply = (Commissioning__ReplayReply *)back;

	(void)state;
	assert_int_equal(reply->n_updates, 2);
	assert_true(reply->updates[0]->event_sequence == UINT64_MAX);
	assert_true(reply->end);
	got = pbjson_from_message(back);
	assert_json_equal(got, want);
	json_decref(got);
	json_decref(want);
	protobuf_c_message_free_unpacked(back, NULL);
	protobuf_c_message_free_unpacked(msg, NULL);
}

/* ------------------------------------------------------------ the printer */

static void
test_output_uses_camel_case_int64_strings_enum_names_and_omits_defaults(void **state)
{
	Commissioning__Envelope env = COMMISSIONING__ENVELOPE__INIT;
	Commissioning__ServiceStatusChanged ssc = COMMISSIONING__SERVICE_STATUS_CHANGED__INIT;
	json_t *json, *inner;

	(void)state;
	env.source = "service-register";
	env.occurred_at = 1778371200000LL;
	env.event_case = COMMISSIONING__ENVELOPE__EVENT_SERVICE_STATUS_CHANGED;
	env.service_status_changed = &ssc;
	ssc.service_id = "SVC-0001";
	ssc.to_status = COMMISSIONING__SERVICE_STATUS__SERVICE_STATUS_COMMISSIONED;

	json = pbjson_from_message(&env.base);
	assert_non_null(json);
	/* Only the fields not at their default, under their JSON names. */
	assert_int_equal(json_object_size(json), 3);
	assert_string_equal(json_string_value(json_object_get(json, "source")), "service-register");
	assert_true(json_is_string(json_object_get(json, "occurredAt")));
	assert_string_equal(
	    json_string_value(json_object_get(json, "occurredAt")), "1778371200000");
	assert_null(json_object_get(json, "occurred_at"));
	assert_null(json_object_get(json, "eventId"));
	assert_null(json_object_get(json, "schemaVersion"));
	inner = json_object_get(json, "serviceStatusChanged");
	assert_non_null(inner);
	assert_int_equal(json_object_size(inner), 2);
	assert_string_equal(json_string_value(json_object_get(inner, "serviceId")), "SVC-0001");
	assert_string_equal(
	    json_string_value(json_object_get(inner, "toStatus")), "SERVICE_STATUS_COMMISSIONED");
	/* fromStatus NEW and category UNSPECIFIED are the 0 defaults. */
	assert_null(json_object_get(inner, "fromStatus"));
	assert_null(json_object_get(inner, "category"));
	assert_null(json_object_get(inner, "places"));
	assert_null(json_object_get(inner, "proposedChange"));
	json_decref(json);
}

static void
test_output_of_an_empty_message_is_an_empty_object(void **state)
{
	Commissioning__Envelope env = COMMISSIONING__ENVELOPE__INIT;
	json_t *json;

	(void)state;
	json = pbjson_from_message(&env.base);
	assert_true(json_is_object(json));
	assert_int_equal(json_object_size(json), 0);
	json_decref(json);
}

static void
test_output_of_uint_types_and_unknown_enum_numbers(void **state)
{
	Commissioning__Ack ack = COMMISSIONING__ACK__INIT;
	Commissioning__ReplayRequest req = COMMISSIONING__REPLAY_REQUEST__INIT;
	json_t *json;

	(void)state;
	ack.sequence = UINT64_MAX;
	ack.status = (Commissioning__AckStatus)99; /* open enum: not a name */
	json = pbjson_from_message(&ack.base);
	assert_string_equal(
	    json_string_value(json_object_get(json, "sequence")), "18446744073709551615");
	assert_true(json_is_integer(json_object_get(json, "status")));
	assert_int_equal(json_integer_value(json_object_get(json, "status")), 99);
	json_decref(json);

	/* uint32 is a JSON number, not a string. */
	req.max_updates = UINT32_MAX;
	req.topic_prefix = "contract.";
	json = pbjson_from_message(&req.base);
	assert_true(json_is_integer(json_object_get(json, "maxUpdates")));
	assert_int_equal(json_integer_value(json_object_get(json, "maxUpdates")), UINT32_MAX);
	assert_string_equal(json_string_value(json_object_get(json, "topicPrefix")), "contract.");
	assert_null(json_object_get(json, "fromSequence"));
	json_decref(json);
}

static void
test_output_writes_special_doubles_as_strings(void **state)
{
	Commissioning__CarePackage cp = COMMISSIONING__CARE_PACKAGE__INIT;
	json_t *json;
	ProtobufCMessage *msg;

	(void)state;
	cp.opt_hours_per_week_case = COMMISSIONING__CARE_PACKAGE__OPT_HOURS_PER_WEEK_HOURS_PER_WEEK;
	cp.hours_per_week = INFINITY;
	json = pbjson_from_message(&cp.base);
	assert_string_equal(json_string_value(json_object_get(json, "hoursPerWeek")), "Infinity");
	json_decref(json);

	msg = message_from_text(
	    "{\"hoursPerWeek\":\"-Infinity\"}", &commissioning__care_package__descriptor);
	assert_true(((Commissioning__CarePackage *)msg)->hours_per_week < -1e308);
	protobuf_c_message_free_unpacked(msg, NULL);
	msg = message_from_text(
	    "{\"hoursPerWeek\":\"NaN\"}", &commissioning__care_package__descriptor);
	json = pbjson_from_message(msg);
	assert_string_equal(json_string_value(json_object_get(json, "hoursPerWeek")), "NaN");
	json_decref(json);
	protobuf_c_message_free_unpacked(msg, NULL);
}

/* ------------------------------------------------------------ the parser */

static void
test_input_accepts_proto_names_as_well_as_json_names(void **state)
{
	Commissioning__Envelope *env;

	(void)state;
	env = envelope_from_text("{\"source\":\"s\",\"event_id\":\"e\",\"occurred_at\":7,"
	                         "\"schema_version\":2,\"ready_for_discharge\":{"
	                         "\"patient_pseudonym\":\"" PSEUDONYM_A "\","
	                         "\"ready_date\":\"2026-05-10\",\"pathway\":1}}");
	assert_string_equal(env->event_id, "e");
	assert_int_equal(env->occurred_at, 7);
	assert_int_equal(env->schema_version, 2);
	assert_int_equal(env->event_case, COMMISSIONING__ENVELOPE__EVENT_READY_FOR_DISCHARGE);
	assert_string_equal(env->ready_for_discharge->ready_date, "2026-05-10");
	assert_int_equal(env->ready_for_discharge->patient_pseudonym.len, 32);
	assert_int_equal(env->ready_for_discharge->pathway, 1);
	protobuf_c_message_free_unpacked(&env->base, NULL);
}

static void
test_input_int64_as_number_or_string(void **state)
{
	Commissioning__Envelope *env;

	(void)state;
	env = envelope_from_text("{\"occurredAt\":1778371200000}");
	assert_int_equal(env->occurred_at, 1778371200000LL);
	protobuf_c_message_free_unpacked(&env->base, NULL);
	env = envelope_from_text("{\"occurredAt\":\"1778371200000\"}");
	assert_int_equal(env->occurred_at, 1778371200000LL);
	protobuf_c_message_free_unpacked(&env->base, NULL);
	env = envelope_from_text("{\"occurredAt\":\"-9223372036854775808\"}");
	assert_true(env->occurred_at == INT64_MIN);
	protobuf_c_message_free_unpacked(&env->base, NULL);
	/* JSON has one number type: 3.0 is the integer 3. */
	env = envelope_from_text("{\"occurredAt\":3.0,\"schemaVersion\":4.0}");
	assert_int_equal(env->occurred_at, 3);
	assert_int_equal(env->schema_version, 4);
	protobuf_c_message_free_unpacked(&env->base, NULL);
}

static void
test_input_uint64_accepts_the_full_range_as_a_string(void **state)
{
	ProtobufCMessage *msg;

	(void)state;
	msg = message_from_text(
	    "{\"sequence\":\"18446744073709551615\"}", &commissioning__ack__descriptor);
	assert_true(((Commissioning__Ack *)msg)->sequence == UINT64_MAX);
	protobuf_c_message_free_unpacked(msg, NULL);
	assert_parse_error("{\"sequence\":\"18446744073709551616\"}",
	    &commissioning__ack__descriptor, "sequence:", "not an integer in range");
	assert_parse_error("{\"sequence\":\"-1\"}", &commissioning__ack__descriptor,
	    "sequence:", "must not be negative");
	assert_parse_error("{\"sequence\":-1}", &commissioning__ack__descriptor,
	    "sequence:", "must not be negative");
}

static void
test_input_enum_as_number_or_name(void **state)
{
	Commissioning__Envelope *env;

	(void)state;
	env = envelope_from_text("{\"serviceStatusChanged\":{\"category\":4,"
	                         "\"toStatus\":\"SERVICE_STATUS_CLOSED\"}}");
	assert_int_equal(env->service_status_changed->category,
	    COMMISSIONING__SERVICE_CATEGORY__SERVICE_CATEGORY_MENTAL_HEALTH);
	assert_int_equal(env->service_status_changed->to_status,
	    COMMISSIONING__SERVICE_STATUS__SERVICE_STATUS_CLOSED);
	protobuf_c_message_free_unpacked(&env->base, NULL);
	/* Enums are open: a number outside the enum is kept for validation. */
	env = envelope_from_text("{\"serviceStatusChanged\":{\"category\":42}}");
	assert_int_equal(env->service_status_changed->category, 42);
	protobuf_c_message_free_unpacked(&env->base, NULL);
	assert_envelope_error("{\"serviceStatusChanged\":{\"category\":\"ELECTIVE\"}}",
	    "serviceStatusChanged.category:", "\"ELECTIVE\" is not a value of");
	assert_envelope_error("{\"serviceStatusChanged\":{\"category\":true}}",
	    "serviceStatusChanged.category:", NULL);
	assert_envelope_error("{\"serviceStatusChanged\":{\"category\":4294967296}}",
	    "serviceStatusChanged.category:", "out of range");
}

static void
test_input_base64_url_safe_and_unpadded(void **state)
{
	/* 32 bytes fb ff bf ... fb ff: all of + / and a padding '='. */
	static const char *const spellings[] = {
	    "+/+/+/+/+/+/+/+/+/+/+/+/+/+/+/+/+/+/+/+/+/8=",
	    "+/+/+/+/+/+/+/+/+/+/+/+/+/+/+/+/+/+/+/+/+/8",
	    "-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_8=",
	    "-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_8",
	};
	static const uint8_t pattern[3] = {0xfb, 0xff, 0xbf};

	(void)state;
	for (size_t i = 0; i < sizeof(spellings) / sizeof(spellings[0]); i++) {
		char text[256];
		Commissioning__Envelope *env;
		json_t *json;
		int n = snprintf(text, sizeof(text),
		    "{\"patientCancelled\":{\"patientPseudonym\":\"%s\"}}", spellings[i]);

		assert_true(n > 0 && (size_t)n < sizeof(text));
		env = envelope_from_text(text);
		assert_int_equal(env->patient_cancelled->patient_pseudonym.len, 32);
		for (size_t k = 0; k < 32; k++)
			assert_int_equal(
			    env->patient_cancelled->patient_pseudonym.data[k], pattern[k % 3]);
		/* The printer always writes standard, padded base64. */
		json = pbjson_from_message(&env->base);
		assert_string_equal(
		    json_string_value(json_object_get(
		        json_object_get(json, "patientCancelled"), "patientPseudonym")),
		    spellings[0]);
		json_decref(json);
		protobuf_c_message_free_unpacked(&env->base, NULL);
	}
}

static void
test_input_null_means_default(void **state)
{
	Commissioning__Envelope *env;

	(void)state;
	env = envelope_from_text("{\"source\":null,\"occurredAt\":null,"
	                         "\"readyForDischarge\":{\"pathway\":null,\"provider\":\"RXX\"}}");
	assert_string_equal(env->source, "");
	assert_int_equal(env->occurred_at, 0);
	assert_int_equal(env->ready_for_discharge->opt_pathway_case,
	    COMMISSIONING__READY_FOR_DISCHARGE__OPT_PATHWAY__NOT_SET);
	protobuf_c_message_free_unpacked(&env->base, NULL);
}

static void
test_input_empty_list_leaves_repeated_field_empty(void **state)
{
	Commissioning__Envelope *env;
	json_t *json;

	(void)state;
	env = envelope_from_text("{\"contractAwarded\":{\"contractId\":\"C-1\","
	                         "\"decisionMakers\":[],\"recused\":[\"S1\"]}}");
	assert_int_equal(env->contract_awarded->n_decision_makers, 0);
	assert_int_equal(env->contract_awarded->n_recused, 1);
	json = pbjson_from_message(&env->base);
	assert_null(json_object_get(json_object_get(json, "contractAwarded"), "decisionMakers"));
	json_decref(json);
	protobuf_c_message_free_unpacked(&env->base, NULL);
}

/* ------------------------------------------------------------ errors */

static void
test_error_names_an_unknown_field_and_its_path(void **state)
{
	(void)state;
	assert_envelope_error("{\"source\":\"s\",\"colour\":\"red\"}",
	    "colour:", "no such field in commissioning.Envelope");
	assert_envelope_error("{\"readyForDischarge\":{\"pathway\":1,\"bogus\":1}}",
	    "readyForDischarge.bogus:", "no such field in commissioning.ReadyForDischarge");
	/* Names are matched exactly: neither another case nor a near miss. */
	assert_envelope_error("{\"EventId\":\"e\"}", "EventId:", "no such field");
	assert_envelope_error("{\"eventid\":\"e\"}", "eventid:", "no such field");
}

static void
test_error_names_a_field_of_the_wrong_type(void **state)
{
	(void)state;
	assert_envelope_error("{\"schemaVersion\":\"one\"}", "schemaVersion:", "not an integer");
	assert_envelope_error("{\"occurredAt\":true}", "occurredAt:", "must be an integer");
	assert_envelope_error("{\"occurredAt\":[1]}", "occurredAt:", "must be an integer");
	assert_envelope_error("{\"source\":5}", "source:", "must be a string");
	assert_envelope_error("{\"source\":{}}", "source:", "must be a string");
	assert_envelope_error("{\"contractAwarded\":{\"decisionMakers\":\"S001\"}}",
	    "contractAwarded.decisionMakers:", "must be a list");
	assert_envelope_error("{\"contractAwarded\":{\"decisionMakers\":[\"S001\",7]}}",
	    "contractAwarded.decisionMakers:", "must be a string");
	assert_envelope_error("{\"readyForDischarge\":{\"pathway\":1.5}}",
	    "readyForDischarge.pathway:", "whole number");
	assert_envelope_error("{\"carePackageStarted\":{\"hoursPerWeek\":\"lots\"}}",
	    "carePackageStarted.hoursPerWeek:", "must be a number");
	/* proto3 JSON's strings for doubles are numbers, NaN and
	 * [-]Infinity: not whatever else strtod reads (the fuzzer found
	 * "-NaN", which printed back as "NaN", another double). */
	for (const char *s = "-NaN\0nan\0inf\0-infinity\0 1.5\0" "0x1p3\0" "1e999\0\0";
	     *s != '\0'; s += strlen(s) + 1) {
		char text[128];

		snprintf(text, sizeof(text), "{\"carePackageStarted\":{\"hoursPerWeek\":\"%s\"}}", s);
		assert_envelope_error(text, "carePackageStarted.hoursPerWeek:", "must be a number");
	}
	for (const char *s = "1.5\0-2\0" "1e3\0+4.25E-1\0NaN\0-Infinity\0\0"; *s != '\0';
	     s += strlen(s) + 1) {
		char text[128];
		Commissioning__Envelope *env;

		snprintf(text, sizeof(text), "{\"carePackageStarted\":{\"hoursPerWeek\":\"%s\"}}", s);
		env = envelope_from_text(text);
		protobuf_c_message_free_unpacked(&env->base, NULL);
	}
	assert_parse_error("{\"end\":\"yes\"}", &commissioning__replay_reply__descriptor,
	    "end:", "must be true or false");
}

static void
test_error_two_members_of_one_oneof(void **state)
{
	(void)state;
	assert_envelope_error("{\"contractTerminated\":{\"contractId\":\"C-1\"},"
	                      "\"interestWithdrawn\":{\"declarationId\":\"D-1\"}}",
	    "more than one field of a oneof", NULL);
}

/* One field under its JSON name and its proto name is given twice: an
 * error, as in Google's parser, and neither value leaks. */
static void
test_error_one_field_under_both_names(void **state)
{
	(void)state;
	assert_envelope_error("{\"readyForDischarge\":{\"pathway\":1},"
	                      "\"ready_for_discharge\":{\"pathway\":2}}",
	    "given twice", NULL);
	assert_envelope_error("{\"eventId\":\"a\",\"event_id\":\"b\"}", "given twice", NULL);
	assert_envelope_error("{\"contractAwarded\":{\"decisionMakers\":[\"S1\"],"
	                      "\"decision_makers\":[\"S2\"]}}",
	    "given twice", NULL);
}

/* Whole-number doubles outside the 64-bit ranges are refused, never
 * converted (that would be undefined behaviour). */
static void
test_error_whole_number_doubles_out_of_64_bit_range(void **state)
{
	(void)state;
	assert_envelope_error("{\"occurredAt\":1e19}", "out of range", NULL);
	assert_envelope_error("{\"occurredAt\":9.3e18}", "out of range", NULL);
	assert_envelope_error("{\"readyForDischarge\":{\"pathway\":-1e19}}", "out of range", NULL);
	assert_envelope_error("{\"occurredAt\":\"\\t12\"}", "must be an integer", NULL);
}

static void
test_error_invalid_base64(void **state)
{
	(void)state;
	assert_envelope_error("{\"patientAdmitted\":{\"patientPseudonym\":\"not base64!\"}}",
	    "patientAdmitted.patientPseudonym:", "is not valid base64");
	/* Standard and URL-safe alphabets do not mix in one value. */
	assert_envelope_error("{\"patientAdmitted\":{\"spellPseudonym\":\"ab+_\"}}",
	    "patientAdmitted.spellPseudonym:", "is not valid base64");
	assert_envelope_error("{\"patientAdmitted\":{\"spellPseudonym\":\"A\"}}",
	    "patientAdmitted.spellPseudonym:", "is not valid base64");
	assert_envelope_error("{\"patientAdmitted\":{\"spellPseudonym\":7}}",
	    "patientAdmitted.spellPseudonym:", "must be a base64 string");
}

static void
test_error_int64_string_with_junk(void **state)
{
	static const char *const bad[] = {
	    "12x", "", " 12", "+12", "12 ", "1e3", "0x10", "-", "9223372036854775808"};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[128];
		int n = snprintf(
		    text, sizeof(text), "{\"readyForDischarge\":{\"pathway\":\"%s\"}}", bad[i]);

		assert_true(n > 0 && (size_t)n < sizeof(text));
		assert_envelope_error(text, "readyForDischarge.pathway:", "integer");
	}
	assert_envelope_error(
	    "{\"occurredAt\":\"12x\"}", "occurredAt:", "\"12x\" is not an integer in range");
}

static void
test_error_out_of_range_uint32(void **state)
{
	Commissioning__Envelope *env;

	(void)state;
	env = envelope_from_text("{\"schemaVersion\":4294967295}");
	assert_true(env->schema_version == UINT32_MAX);
	protobuf_c_message_free_unpacked(&env->base, NULL);
	assert_envelope_error("{\"schemaVersion\":4294967296}",
	    "schemaVersion:", "out of range for an unsigned 32-bit integer");
	assert_envelope_error(
	    "{\"schemaVersion\":\"4294967296\"}", "schemaVersion:", "out of range");
	assert_envelope_error("{\"schemaVersion\":-1}", "schemaVersion:", "must not be negative");
}

static void
test_error_non_object_where_a_message_is_expected(void **state)
{
	(void)state;
	assert_envelope_error("{\"readyForDischarge\":\"yes\"}",
	    "readyForDischarge:", "must be a JSON object (commissioning.ReadyForDischarge)");
	assert_envelope_error(
	    "{\"readyForDischarge\":[]}", "readyForDischarge:", "must be a JSON object");
	assert_envelope_error("{\"budgetAllocated\":{\"contributors\":[{\"code\":\"A\"},3]}}",
	    "budgetAllocated.contributors:", "must be a JSON object");
	/* The top level has no field name. */
	assert_envelope_error("[1,2]", "(message):", "must be a JSON object");
	assert_envelope_error("\"text\"", "(message):", "must be a JSON object");
}

static void
test_error_path_reaches_into_repeated_messages(void **state)
{
	(void)state;
	assert_envelope_error("{\"source\":\"finance\",\"budgetAllocated\":{"
	                      "\"commissioner\":\"QWE\",\"contributors\":["
	                      "{\"code\":\"A\",\"share\":\"1\"},"
	                      "{\"code\":\"B\",\"share\":\"lots\"}]}}",
	    "budgetAllocated.contributors.share:", "not an integer");
	assert_envelope_error("{\"budgetAllocated\":{\"contributors\":[{\"weight\":1}]}}",
	    "budgetAllocated.contributors.weight:",
	    "no such field in commissioning.BudgetContributor");
	/* After a nested message that parsed, the path is back at the parent. */
	assert_envelope_error("{\"budgetAllocated\":{\"contributors\":[{\"code\":\"A\"}],"
	                      "\"pool\":\"NO_POOL\"}}",
	    "budgetAllocated.pool:", "is not a value of");
}

static void
test_error_after_partly_built_message_frees_everything(void **state)
{
	(void)state;
	/* Every one fails after strings, bytes, lists and sub-messages were
	 * allocated; LeakSanitizer at exit checks that nothing is left. */
	assert_envelope_error("{\"source\":\"s\",\"eventId\":\"e\",\"contractVaried\":{"
	                      "\"contractId\":\"C-1\",\"decisionMakers\":[\"S1\",\"S2\"],"
	                      "\"recused\":[\"S3\",null]}}",
	    "contractVaried.recused:", "must be a string");
	assert_envelope_error("{\"source\":\"s\",\"patientTransferred\":{"
	                      "\"patientPseudonym\":\"" PSEUDONYM_A "\","
	                      "\"spellPseudonym\":\"" PSEUDONYM_B "\",\"ward\":\"W\","
	                      "\"patientClass\":\"PATIENT_CLASS_WARD\"}}",
	    "patientTransferred.patientClass:", "is not a value of");
	assert_envelope_error("{\"budgetAllocated\":{\"commissioner\":\"Q\",\"contributors\":["
	                      "{\"code\":\"A\",\"share\":\"1\"},{\"code\":\"B\",\"share\":2},"
	                      "{\"code\":\"C\",\"shares\":3}]}}",
	    "budgetAllocated.contributors.shares:", "no such field");
	assert_envelope_error("{\"eventId\":\"e\",\"readyForDischarge\":{\"provider\":\"RXX\"},"
	                      "\"organisationUpdated\":{\"code\":\"RXX\"}}",
	    "organisationUpdated:", "more than one field of a oneof");
}

static void
test_error_string_with_nul_character(void **state)
{
	char err[256] = "";
	json_t *json = json_object();
	ProtobufCMessage *msg;

	(void)state;
	json_object_set_new(json, "source", json_stringn("a\0b", 3));
	msg = pbjson_to_message(json, &commissioning__envelope__descriptor, err, sizeof(err));
	json_decref(json);
	assert_null(msg);
	assert_non_null(strstr(err, "source:"));
	assert_non_null(strstr(err, "NUL"));
}

static void
test_error_fits_a_small_buffer(void **state)
{
	char err[12];
	json_t *json = json_from_text("{\"readyForDischarge\":{\"pathway\":\"12x\"}}");
	ProtobufCMessage *msg;

	(void)state;
	memset(err, 'z', sizeof(err));
	msg = pbjson_to_message(json, &commissioning__envelope__descriptor, err, sizeof(err));
	json_decref(json);
	assert_null(msg);
	assert_int_equal(strlen(err), sizeof(err) - 1);
	assert_memory_equal(err, "readyForDis", sizeof(err) - 1);
}

/* ------------------------------------------------------------ names */

static void
test_field_json_name_is_lower_camel_case(void **state)
{
	static const struct {
		const char *proto, *json;
	} cases[] = {
	    {"source", "source"},
	    {"event_id", "eventId"},
	    {"patient_pseudonym", "patientPseudonym"},
	    {"opt_hours_per_week", "optHoursPerWeek"},
	    {"ready_for_discharge", "readyForDischarge"},
	    {"a_b_c", "aBC"},
	    {"field_2", "field2"},
	    {"", ""},
	};
	char out[64];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(out, 'x', sizeof(out));
		assert_int_equal(pbjson_field_json_name(cases[i].proto, out, sizeof(out)), 0);
		assert_string_equal(out, cases[i].json);
	}
}

static void
test_field_json_name_refuses_a_too_small_buffer(void **state)
{
	char out[16];

	(void)state;
	/* "eventId" needs 8 bytes with its NUL. */
	assert_int_equal(pbjson_field_json_name("event_id", out, 8), 0);
	assert_string_equal(out, "eventId");
	assert_int_equal(pbjson_field_json_name("event_id", out, 7), -1);
	assert_int_equal(pbjson_field_json_name("event_id", out, 1), -1);
	assert_int_equal(pbjson_field_json_name("x", out, 0), -1);
	assert_int_equal(pbjson_field_json_name("", out, 0), -1);
	assert_int_equal(pbjson_field_json_name("", out, 1), 0);
	assert_string_equal(out, "");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip_service_status_changed_keeps_nested_proposed_change),
	    cmocka_unit_test(test_round_trip_contract_awarded_keeps_repeated_strings),
	    cmocka_unit_test(test_round_trip_budget_allocated_keeps_repeated_messages),
	    cmocka_unit_test(test_round_trip_patient_movement_keeps_bytes_as_base64),
	    cmocka_unit_test(test_round_trip_enums_by_name_and_int64_as_strings),
	    cmocka_unit_test(test_ready_for_discharge_pathway_0_is_present_and_printed),
	    cmocka_unit_test(test_ready_for_discharge_without_pathway_stays_absent),
	    cmocka_unit_test(test_round_trip_through_nested_update_and_replay_reply),
	    cmocka_unit_test(
	        test_output_uses_camel_case_int64_strings_enum_names_and_omits_defaults),
	    cmocka_unit_test(test_output_of_an_empty_message_is_an_empty_object),
	    cmocka_unit_test(test_output_of_uint_types_and_unknown_enum_numbers),
	    cmocka_unit_test(test_output_writes_special_doubles_as_strings),
	    cmocka_unit_test(test_input_accepts_proto_names_as_well_as_json_names),
	    cmocka_unit_test(test_input_int64_as_number_or_string),
	    cmocka_unit_test(test_input_uint64_accepts_the_full_range_as_a_string),
	    cmocka_unit_test(test_input_enum_as_number_or_name),
	    cmocka_unit_test(test_input_base64_url_safe_and_unpadded),
	    cmocka_unit_test(test_input_null_means_default),
	    cmocka_unit_test(test_input_empty_list_leaves_repeated_field_empty),
	    cmocka_unit_test(test_error_names_an_unknown_field_and_its_path),
	    cmocka_unit_test(test_error_names_a_field_of_the_wrong_type),
	    cmocka_unit_test(test_error_two_members_of_one_oneof),
	    cmocka_unit_test(test_error_one_field_under_both_names),
	    cmocka_unit_test(test_error_whole_number_doubles_out_of_64_bit_range),
	    cmocka_unit_test(test_error_invalid_base64),
	    cmocka_unit_test(test_error_int64_string_with_junk),
	    cmocka_unit_test(test_error_out_of_range_uint32),
	    cmocka_unit_test(test_error_non_object_where_a_message_is_expected),
	    cmocka_unit_test(test_error_path_reaches_into_repeated_messages),
	    cmocka_unit_test(test_error_after_partly_built_message_frees_everything),
	    cmocka_unit_test(test_error_string_with_nul_character),
	    cmocka_unit_test(test_error_fits_a_small_buffer),
	    cmocka_unit_test(test_field_json_name_is_lower_camel_case),
	    cmocka_unit_test(test_field_json_name_refuses_a_too_small_buffer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
