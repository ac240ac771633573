/*
 * test_history: the projections' write side. Thing keys, sorted histories,
 * the things where the last event stands, and the property that matters
 * most (DOMAIN.md, Order and repetition): the same set of events gives
 * byte-identical state in any arrival order.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "oom_fixture.h"
#include "pbjson.h"
#include "projections.h"
#include "picture_fixture.h"
#include "envelope_json.h"

#define PERMUTATIONS 50

/* ---- the state table as bytes */

static int
stored_cmp(const void *a, const void *b)
{
	const struct stored *x = a, *y = b;
	size_t n = x->key.len < y->key.len ? x->key.len : y->key.len;
	int c = memcmp(x->key.bytes, y->key.bytes, n);

	return c != 0 ? c : (x->key.len > y->key.len) - (x->key.len < y->key.len);
}

/* The whole table as bytes, in key order, the way LMDB keeps it. */
static uint8_t *
table_serialise(struct histories *t, size_t *len)
{
	size_t total = 0, at = 0;
	uint8_t *out;

	qsort(t->item, t->n, sizeof(*t->item), stored_cmp);
	for (size_t i = 0; i < t->n; i++)
		total += t->item[i].key.len + t->item[i].len + 16;
	out = malloc(total ? total : 1);
	assert_non_null(out);
	for (size_t i = 0; i < t->n; i++) {
		const struct stored *e = &t->item[i];
		memcpy(out + at, &e->key.len, 8);
		memcpy(out + at + 8, e->key.bytes, e->key.len);
		at += 8 + e->key.len;
		memcpy(out + at, &e->len, 8);
		memcpy(out + at + 8, e->bytes, e->len);
		at += 8 + e->len;
	}
	*len = at;
	return out;
}

/* ---- events */

static void
add_line(void *arg, const char *line)
{
	events_add_json(arg, line);
}

/* The scenario: a generated day (tools/sample-day) with cancels, transfers,
 * updates, variations, a termination and a withdrawal. */
static void
load_scenario(struct events *ev)
{
	envelope_json_each_line(ENVELOPE_JSON_SCENARIO, add_line, ev);
}

static void
test_any_arrival_order_gives_byte_identical_state(void **state)
{
	struct events ev = { 0 };
	size_t n, first_len = 0;
	size_t *order;
	uint8_t *first = NULL;
	uint64_t seed = 2026;

	(void)state;
	load_scenario(&ev);
	n = ev.n;
	assert_true(n > 200);
	order = order_new(n, false);
	for (int perm = 0; perm < PERMUTATIONS; perm++) {
		struct histories t = { 0 };
		uint8_t *bytes;
		size_t len;

		if (perm > 0)
			order_shuffle(order, n, &seed);
		histories_load(&t, &ev, order);
		bytes = table_serialise(&t, &len);
		if (first == NULL) {
			first = bytes;
			first_len = len;
			assert_true(t.n > 100);
		} else {
			assert_int_equal(len, first_len);
			assert_memory_equal(bytes, first, len);
			free(bytes);
		}
		histories_free(&t);
	}
	free(first);
	free(order);
	events_free(&ev);
}

/* ---- the rules of the write side, one by one */

static Commissioning__History *
history_of(struct histories *t, const char *json_event)
{
	struct events ev = { 0 };
	Commissioning__Envelope *env;
	struct thing_key key;
	struct stored *e;

	events_add_json(&ev, json_event);
	env = commissioning__envelope__unpack(NULL, ev.item[0].len, ev.item[0].bytes);
	assert_int_equal(thing_key_of(env, &key), 0);
	commissioning__envelope__free_unpacked(env, NULL);
	events_free(&ev);
	e = histories_find(t, &key);
	return commissioning__history__unpack(NULL, e->len, e->bytes);
}

static void
apply_json(struct histories *t, const char *json_event)
{
	struct events ev = { 0 };

	events_add_json(&ev, json_event);
	histories_load(t, &ev, NULL);
	events_free(&ev);
}

#define SPELL "\"spellPseudonym\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\",\"provider\":\"RXC\""

static void
test_a_spell_keeps_its_events_sorted_by_time_source_and_id(void **state)
{
	struct histories t = { 0 };
	Commissioning__History *h;

	(void)state;
	apply_json(&t, "{\"source\":\"hl7\",\"eventId\":\"3\",\"occurredAt\":\"3000\","
		       "\"patientDischarged\":{" SPELL "}}");
	apply_json(&t, "{\"source\":\"hl7\",\"eventId\":\"1\",\"occurredAt\":\"1000\","
		       "\"patientAdmitted\":{" SPELL "}}");
	apply_json(&t, "{\"source\":\"hl7\",\"eventId\":\"2b\",\"occurredAt\":\"2000\","
		       "\"patientTransferred\":{" SPELL "}}");
	apply_json(&t, "{\"source\":\"hl7\",\"eventId\":\"2a\",\"occurredAt\":\"2000\","
		       "\"patientUpdated\":{" SPELL "}}");
	h = history_of(&t, "{\"source\":\"x\",\"eventId\":\"q\",\"occurredAt\":\"1\","
			   "\"patientCancelled\":{" SPELL "}}");
	assert_int_equal(h->n_entries, 4);
	assert_string_equal(h->entries[0]->event_id, "1");
	assert_string_equal(h->entries[1]->event_id, "2a"); /* same time: by event id */
	assert_string_equal(h->entries[2]->event_id, "2b");
	assert_string_equal(h->entries[3]->event_id, "3");
	commissioning__history__free_unpacked(h, NULL);
	histories_free(&t);
}

static void
test_an_organisation_keeps_only_the_record_that_stands(void **state)
{
	struct histories t = { 0 };
	Commissioning__History *h;

	(void)state;
	apply_json(&t, "{\"source\":\"ods\",\"eventId\":\"b\",\"occurredAt\":\"2000\","
		       "\"organisationUpdated\":{\"code\":\"RXC\",\"name\":\"later\"}}");
	apply_json(&t, "{\"source\":\"ods\",\"eventId\":\"a\",\"occurredAt\":\"1000\","
		       "\"organisationRegistered\":{\"code\":\"RXC\",\"name\":\"earlier\"}}");
	h = history_of(&t, "{\"source\":\"ods\",\"eventId\":\"z\",\"occurredAt\":\"1\","
			   "\"organisationRegistered\":{\"code\":\"RXC\"}}");
	assert_int_equal(h->n_entries, 1);
	assert_string_equal(h->entries[0]->event_id, "b"); /* the last one stands */
	commissioning__history__free_unpacked(h, NULL);
	histories_free(&t);
}

#define LINE "\"organisation\":\"RXC01\",\"sector\":\"SECTOR_MATERNITY\""

static void
test_a_capacity_line_keeps_the_report_with_the_latest_as_of(void **state)
{
	struct histories t = { 0 };
	Commissioning__History *h;

	(void)state;
	/* Sent later (occurred_at) but reporting an earlier as-of: it does not stand. */
	apply_json(&t, "{\"source\":\"c\",\"eventId\":\"new\",\"occurredAt\":\"1000\","
		       "\"capacityReported\":{" LINE ",\"asOf\":\"5000\"}}");
	apply_json(&t, "{\"source\":\"c\",\"eventId\":\"old\",\"occurredAt\":\"9000\","
		       "\"capacityReported\":{" LINE ",\"asOf\":\"4000\"}}");
	h = history_of(&t, "{\"source\":\"c\",\"eventId\":\"x\",\"occurredAt\":\"1\","
			   "\"capacityReported\":{" LINE "}}");
	assert_int_equal(h->n_entries, 1);
	assert_string_equal(h->entries[0]->event_id, "new");
	commissioning__history__free_unpacked(h, NULL);
	histories_free(&t);
}

static void
test_every_event_kind_has_a_thing_key(void **state)
{
	static const char *const events[] = {
		"\"organisationRegistered\":{\"code\":\"RXC\"}",
		"\"organisationUpdated\":{\"code\":\"RXC\"}",
		"\"serviceStatusChanged\":{\"serviceId\":\"S\"}",
		"\"contractAwarded\":{\"contractId\":\"K\"}",
		"\"contractVaried\":{\"contractId\":\"K\"}",
		"\"contractTerminated\":{\"contractId\":\"K\"}",
		"\"budgetAllocated\":{\"commissioner\":\"QNX\",\"financialYear\":\"2026-27\"}",
		"\"spendRecorded\":{\"contractId\":\"K\",\"period\":\"2026-05\"}",
		"\"patientAdmitted\":{" SPELL "}",
		"\"patientCancelled\":{" SPELL "}",
		"\"readyForDischarge\":{\"provider\":\"RXC\"}",
		"\"carePackageStarted\":{\"council\":\"E10000011\",\"packageId\":\"P\"}",
		"\"carePackageEnded\":{\"council\":\"E10000011\",\"packageId\":\"P\"}",
		"\"capacityReported\":{" LINE "}",
		"\"interestDeclared\":{\"declarationId\":\"D\"}",
		"\"interestWithdrawn\":{\"declarationId\":\"D\"}",
	};
	char text[512];
	struct thing_key key;

	(void)state;
	for (size_t i = 0; i < sizeof(events) / sizeof(events[0]); i++) {
		struct events ev = { 0 };
		Commissioning__Envelope *env;
		snprintf(text, sizeof(text), "{\"source\":\"s\",\"eventId\":\"e\",%s}", events[i]);
		events_add_json(&ev, text);
		env = commissioning__envelope__unpack(NULL, ev.item[0].len, ev.item[0].bytes);
		assert_int_equal(thing_key_of(env, &key), 0);
		assert_non_null(thing_kind_name(key.bytes[0]));
		commissioning__envelope__free_unpacked(env, NULL);
		events_free(&ev);
	}
	/* Cancels and movements of one spell share its key; started and
	 * ended of one package share theirs. */
}

/* A thing's key as updates name it: "<kind> part/part/part", cut to fit. */
static void
test_thing_key_text_joins_the_parts_and_cuts_to_fit(void **state)
{
	struct thing_key key = { { THING_SPELL, 'R', 'A', 'A', '\0', 'S', '1', '\0', 'x', '\0' },
		10 };
	const char *name = thing_kind_name(THING_SPELL);
	char out[64], want[64];
	size_t full;

	(void)state;
	snprintf(want, sizeof(want), "%s RAA/S1/x", name);
	thing_key_text(&key, out, sizeof(out));
	assert_string_equal(out, want);
	full = strlen(want);
	/* Every smaller buffer holds as much of it as fits. */
	for (size_t size = 1; size <= full; size++) {
		memset(out, '#', sizeof(out));
		thing_key_text(&key, out, size);
		if (size > strlen(name) + 1)
			assert_memory_equal(out, want, size - 1);
		assert_true(strlen(out) < size);
	}
	/* A key of the kind alone. */
	key.len = 1;
	thing_key_text(&key, out, sizeof(out));
	snprintf(want, sizeof(want), "%s ", name);
	assert_string_equal(out, want);
}

/* A pseudonym's hex: two lower-case digits a byte, at most 32 bytes. */
static void
test_pseudonym_hex_is_two_lower_case_digits_a_byte(void **state)
{
	uint8_t bytes[40];
	ProtobufCBinaryData p = { 0, bytes };
	char out[65], want[65];

	(void)state;
	for (unsigned first = 0; first < 256; first += 32) {
		for (size_t i = 0; i < sizeof(bytes); i++)
			bytes[i] = (uint8_t)(first + i * 7);
		for (p.len = 0; p.len <= sizeof(bytes); p.len++) {
			size_t n = p.len < 32 ? p.len : 32;
			for (size_t i = 0; i < n; i++)
				snprintf(want + 2 * i, 3, "%02x", bytes[i]);
			want[2 * n] = '\0';
			pseudonym_hex(&p, out);
			assert_string_equal(out, want);
		}
	}
}

/* pseudonym_from_hex reads back what pseudonym_hex wrote, in either case,
 * and refuses anything that is not 64 hex digits. */
static void
test_pseudonym_from_hex_reads_back_either_case_and_refuses_non_hex(void **state)
{
	uint8_t bytes[32], got[32];
	ProtobufCBinaryData p = { sizeof(bytes), bytes };
	char hex[65], bad[65];

	(void)state;
	for (size_t i = 0; i < sizeof(bytes); i++)
		bytes[i] = (uint8_t)(i * 37 + 11);
	pseudonym_hex(&p, hex);
	assert_int_equal(pseudonym_from_hex(hex, got), 0);
	assert_memory_equal(got, bytes, sizeof(bytes));
	for (size_t i = 0; i < 64; i++)
		bad[i] = hex[i] >= 'a' ? (char)(hex[i] - 'a' + 'A') : hex[i];
	bad[64] = '\0';
	memset(got, 0, sizeof(got));
	assert_int_equal(pseudonym_from_hex(bad, got), 0);
	assert_memory_equal(got, bytes, sizeof(bytes));
	for (size_t at = 0; at < 64; at += 21) {
		for (const char *c = "g/:@G`\0"; ; c++) {
			memcpy(bad, hex, sizeof(hex));
			bad[at] = *c;
			assert_int_equal(pseudonym_from_hex(bad, got), -1);
			if (*c == '\0')
				break;
		}
	}
	hex[63] = '\0'; /* 63 digits */
	assert_int_equal(pseudonym_from_hex(hex, got), -1);
}

/*
 * protobuf-c's simple buffer drops an append it cannot grow for, saying
 * nothing: a history packed into it was cut short, or had a later, smaller
 * piece put where the lost one belonged, and was stored as the thing's
 * history (then unreadable, or wrong). history_insert says it failed.
 */
static void
test_a_history_that_cannot_be_written_whole_is_an_error(void **state)
{
	ProtobufCAllocator none = NO_MEMORY_ALLOCATOR;
	struct events ev = { 0 };
	Commissioning__Envelope *env;
	struct thing_key key;
	uint8_t small[64], stack[4096];
	ProtobufCBufferSimple out = PROTOBUF_C_BUFFER_SIMPLE_INIT(small);
	ProtobufCBufferSimple roomy = PROTOBUF_C_BUFFER_SIMPLE_INIT(stack);

	(void)state;
	events_add_json(&ev, "{\"source\":\"hl7\",\"eventId\":\"1\",\"occurredAt\":\"1000\","
			     "\"patientAdmitted\":{" SPELL ",\"site\":\"RXC01\",\"ward\":\"Ward 1\"}}");
	env = commissioning__envelope__unpack(NULL, ev.item[0].len, ev.item[0].bytes);
	assert_non_null(env);
	assert_int_equal(thing_key_of(env, &key), 0);
	assert_true(ev.item[0].len > sizeof(small));
	out.allocator = &none;
	assert_int_equal(
	    history_insert(&key, NULL, 0, env, ev.item[0].bytes, ev.item[0].len, &out.base), -1);
	/* With room, the same history is written whole. */
	assert_int_equal(
	    history_insert(&key, NULL, 0, env, ev.item[0].bytes, ev.item[0].len, &roomy.base), 0);
	assert_true(roomy.len > ev.item[0].len);
	PROTOBUF_C_BUFFER_SIMPLE_CLEAR(&out);
	PROTOBUF_C_BUFFER_SIMPLE_CLEAR(&roomy);
	commissioning__envelope__free_unpacked(env, NULL);
	events_free(&ev);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_any_arrival_order_gives_byte_identical_state),
		cmocka_unit_test(test_thing_key_text_joins_the_parts_and_cuts_to_fit),
		cmocka_unit_test(test_pseudonym_hex_is_two_lower_case_digits_a_byte),
		cmocka_unit_test(test_pseudonym_from_hex_reads_back_either_case_and_refuses_non_hex),
		cmocka_unit_test(test_a_spell_keeps_its_events_sorted_by_time_source_and_id),
		cmocka_unit_test(test_an_organisation_keeps_only_the_record_that_stands),
		cmocka_unit_test(test_a_capacity_line_keeps_the_report_with_the_latest_as_of),
		cmocka_unit_test(test_every_event_kind_has_a_thing_key),
		cmocka_unit_test(test_a_history_that_cannot_be_written_whole_is_an_error),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
