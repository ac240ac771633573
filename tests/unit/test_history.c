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

#include "pbjson.h"
#include "projections.h"

#define PERMUTATIONS 50

/* ---- a state table in memory: key -> packed history */

struct entry {
	struct thing_key key;
	uint8_t *bytes;
	size_t len;
};

struct table {
	struct entry *entries;
	size_t n, cap;
};

static struct entry *
table_find(struct table *t, const struct thing_key *key)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->entries[i].key.len == key->len &&
		    memcmp(t->entries[i].key.bytes, key->bytes, key->len) == 0)
			return &t->entries[i];
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 64;
		t->entries = realloc(t->entries, t->cap * sizeof(*t->entries));
		assert_non_null(t->entries);
	}
	t->entries[t->n] = (struct entry){ .key = *key };
	return &t->entries[t->n++];
}

/* Apply one packed envelope, as the daemon's ingest does. */
static void
table_apply(struct table *t, const uint8_t *bytes, size_t len)
{
	Commissioning__Envelope *env = commissioning__envelope__unpack(NULL, len, bytes);
	struct thing_key key;
	struct entry *e;
	uint8_t stack[512];
	ProtobufCBufferSimple out = PROTOBUF_C_BUFFER_SIMPLE_INIT(stack);

	assert_non_null(env);
	assert_int_equal(thing_key_of(env, &key), 0);
	e = table_find(t, &key);
	assert_int_equal(history_insert(&key, e->bytes, e->len, env, bytes, len, &out.base), 0);
	free(e->bytes);
	e->bytes = malloc(out.len);
	assert_non_null(e->bytes);
	memcpy(e->bytes, out.data, out.len);
	e->len = out.len;
	PROTOBUF_C_BUFFER_SIMPLE_CLEAR(&out);
	commissioning__envelope__free_unpacked(env, NULL);
}

static int
entry_cmp(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	size_t n = x->key.len < y->key.len ? x->key.len : y->key.len;
	int c = memcmp(x->key.bytes, y->key.bytes, n);

	return c != 0 ? c : (x->key.len > y->key.len) - (x->key.len < y->key.len);
}

/* The whole table as bytes, in key order, the way LMDB keeps it. */
static uint8_t *
table_serialise(struct table *t, size_t *len)
{
	size_t total = 0, at = 0;
	uint8_t *out;

	qsort(t->entries, t->n, sizeof(*t->entries), entry_cmp);
	for (size_t i = 0; i < t->n; i++)
		total += t->entries[i].key.len + t->entries[i].len + 16;
	out = malloc(total ? total : 1);
	assert_non_null(out);
	for (size_t i = 0; i < t->n; i++) {
		const struct entry *e = &t->entries[i];
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

static void
table_free(struct table *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->entries[i].bytes);
	free(t->entries);
	memset(t, 0, sizeof(*t));
}

/* ---- events */

struct packed {
	uint8_t *bytes;
	size_t len;
};

static struct packed
pack_json(const char *text)
{
	json_error_t jerr;
	json_t *json = json_loads(text, 0, &jerr);
	char err[256];
	ProtobufCMessage *msg;
	struct packed p;

	assert_non_null(json);
	msg = pbjson_to_message(json, &commissioning__envelope__descriptor, err, sizeof(err));
	json_decref(json);
	if (msg == NULL)
		fail_msg("%s: %s", text, err);
	p.len = protobuf_c_message_get_packed_size(msg);
	p.bytes = malloc(p.len);
	assert_non_null(p.bytes);
	protobuf_c_message_pack(msg, p.bytes);
	protobuf_c_message_free_unpacked(msg, NULL);
	return p;
}

/* The scenario: a generated day (tools/sample-day) with cancels, transfers,
 * updates, variations, a termination and a withdrawal. */
static struct packed *
load_scenario(size_t *count)
{
	FILE *f = fopen("tests/data/scenario-day.jsonl", "r");
	struct packed *events = NULL;
	size_t n = 0, cap = 0, linecap = 0;
	char *line = NULL;

	assert_non_null(f);
	while (getline(&line, &linecap, f) > 0) {
		if (n == cap) {
			cap = cap ? cap * 2 : 256;
			events = realloc(events, cap * sizeof(*events));
			assert_non_null(events);
		}
		events[n++] = pack_json(line);
	}
	free(line);
	fclose(f);
	*count = n;
	return events;
}

/* A reproducible shuffle (Fisher-Yates over a fixed LCG). */
static void
shuffle(size_t *order, size_t n, uint64_t *seed)
{
	for (size_t i = n; i > 1; i--) {
		*seed = *seed * 6364136223846793005ULL + 1442695040888963407ULL;
		size_t j = (size_t)((*seed >> 33) % i);
		size_t tmp = order[i - 1];
		order[i - 1] = order[j];
		order[j] = tmp;
	}
}

static void
test_any_arrival_order_gives_byte_identical_state(void **state)
{
	size_t n, first_len = 0;
	struct packed *events = load_scenario(&n);
	size_t *order = malloc(n * sizeof(*order));
	uint8_t *first = NULL;
	uint64_t seed = 2026;

	(void)state;
	assert_true(n > 200);
	for (size_t i = 0; i < n; i++)
		order[i] = i;
	for (int perm = 0; perm < PERMUTATIONS; perm++) {
		struct table t = { 0 };
		uint8_t *bytes;
		size_t len;

		if (perm > 0)
			shuffle(order, n, &seed);
		for (size_t i = 0; i < n; i++)
			table_apply(&t, events[order[i]].bytes, events[order[i]].len);
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
		table_free(&t);
	}
	free(first);
	free(order);
	for (size_t i = 0; i < n; i++)
		free(events[i].bytes);
	free(events);
}

/* ---- the rules of the write side, one by one */

static Commissioning__History *
history_of(struct table *t, const char *json_event)
{
	struct packed p = pack_json(json_event);
	Commissioning__Envelope *env = commissioning__envelope__unpack(NULL, p.len, p.bytes);
	struct thing_key key;
	struct entry *e;

	assert_int_equal(thing_key_of(env, &key), 0);
	commissioning__envelope__free_unpacked(env, NULL);
	free(p.bytes);
	e = table_find(t, &key);
	return commissioning__history__unpack(NULL, e->len, e->bytes);
}

static void
apply_json(struct table *t, const char *json_event)
{
	struct packed p = pack_json(json_event);

	table_apply(t, p.bytes, p.len);
	free(p.bytes);
}

#define SPELL "\"spellPseudonym\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\",\"provider\":\"RXC\""

static void
test_a_spell_keeps_its_events_sorted_by_time_source_and_id(void **state)
{
	struct table t = { 0 };
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
	table_free(&t);
}

static void
test_an_organisation_keeps_only_the_record_that_stands(void **state)
{
	struct table t = { 0 };
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
	table_free(&t);
}

#define LINE "\"organisation\":\"RXC01\",\"sector\":\"SECTOR_MATERNITY\""

static void
test_a_capacity_line_keeps_the_report_with_the_latest_as_of(void **state)
{
	struct table t = { 0 };
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
	table_free(&t);
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
		struct packed p;
		Commissioning__Envelope *env;
		snprintf(text, sizeof(text), "{\"source\":\"s\",\"eventId\":\"e\",%s}", events[i]);
		p = pack_json(text);
		env = commissioning__envelope__unpack(NULL, p.len, p.bytes);
		assert_int_equal(thing_key_of(env, &key), 0);
		assert_non_null(thing_kind_name(key.bytes[0]));
		commissioning__envelope__free_unpacked(env, NULL);
		free(p.bytes);
	}
	/* Cancels and movements of one spell share its key; started and
	 * ended of one package share theirs. */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_any_arrival_order_gives_byte_identical_state),
		cmocka_unit_test(test_a_spell_keeps_its_events_sorted_by_time_source_and_id),
		cmocka_unit_test(test_an_organisation_keeps_only_the_record_that_stands),
		cmocka_unit_test(test_a_capacity_line_keeps_the_report_with_the_latest_as_of),
		cmocka_unit_test(test_every_event_kind_has_a_thing_key),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
