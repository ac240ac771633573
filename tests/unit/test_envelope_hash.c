/*
 * test_envelope_hash: the content hash packed flat on the stack is the
 * hash fed field by field (the way it was always made, so that stored
 * dedupe hashes still match) for every envelope of the scenario day and
 * for one too large for the stack; it leaves schema_version out and as
 * it was, and tells different content apart.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "commissioning.pb-c.h"
#include "envelope_hash.h"
#include "envelope_json.h"

#define SCENARIO ENVELOPE_JSON_SCENARIO

static void
hash_both_ways(void *arg, const char *line)
{
	Commissioning__Envelope *env = envelope_of_json(line);
	uint8_t flat[ENVELOPE_HASH_BYTES], streamed[ENVELOPE_HASH_BYTES];
	uint32_t version = env->schema_version;

	(void)arg;
	envelope_content_hash(env, flat);
	assert_int_equal(env->schema_version, version);
	envelope_content_hash_streamed(env, streamed);
	assert_memory_equal(flat, streamed, sizeof(flat));
	protobuf_c_message_free_unpacked(&env->base, NULL);
}

static void
test_every_scenario_envelope_hashes_as_streamed(void **state)
{
	(void)state;
	assert_true(envelope_json_each_line(SCENARIO, hash_both_ways, NULL) > 100);
}

static void
test_a_large_envelope_hashes_as_streamed(void **state)
{
	FILE *f = fopen(SCENARIO, "r");
	char *line = NULL, *big = malloc(5000), *old;
	size_t cap = 0;
	Commissioning__Envelope *env;
	uint8_t flat[ENVELOPE_HASH_BYTES], streamed[ENVELOPE_HASH_BYTES];

	(void)state;
	assert_non_null(f);
	assert_non_null(big);
	assert_true(getline(&line, &cap, f) > 0);
	env = envelope_of_json(line);
	memset(big, 'x', 4999);
	big[4999] = '\0';
	old = env->event_id;
	env->event_id = big;
	assert_true(protobuf_c_message_get_packed_size(&env->base) > 4096);
	envelope_content_hash(env, flat);
	envelope_content_hash_streamed(env, streamed);
	assert_memory_equal(flat, streamed, sizeof(flat));
	env->event_id = old;
	protobuf_c_message_free_unpacked(&env->base, NULL);
	free(big);
	free(line);
	fclose(f);
}

static void
test_schema_version_aside_content_counts(void **state)
{
	FILE *f = fopen(SCENARIO, "r");
	char *line = NULL;
	size_t cap = 0;
	Commissioning__Envelope *env;
	uint8_t a[ENVELOPE_HASH_BYTES], b[ENVELOPE_HASH_BYTES];

	(void)state;
	assert_non_null(f);
	assert_true(getline(&line, &cap, f) > 0);
	env = envelope_of_json(line);
	envelope_content_hash(env, a);
	env->schema_version += 7;
	envelope_content_hash(env, b);
	assert_memory_equal(a, b, sizeof(a));
	env->occurred_at += 1;
	envelope_content_hash(env, b);
	assert_memory_not_equal(a, b, sizeof(a));
	protobuf_c_message_free_unpacked(&env->base, NULL);
	free(line);
	fclose(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_scenario_envelope_hashes_as_streamed),
		cmocka_unit_test(test_a_large_envelope_hashes_as_streamed),
		cmocka_unit_test(test_schema_version_aside_content_counts),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
