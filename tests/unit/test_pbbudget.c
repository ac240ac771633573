/*
 * test_pbbudget: every envelope of the scenario day unpacks within the
 * budget for its frame, and a frame of tiny unknown fields, which protobuf-c
 * would unpack into many times its size, is stopped by it.
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
#include "envelope_json.h"
#include "pbbudget.h"

/* Pack one JSON line as an Envelope; the caller frees. */
static uint8_t *
pack_line(const char *line, size_t *len)
{
	Commissioning__Envelope *env = envelope_of_json(line);
	uint8_t *buf;

	*len = commissioning__envelope__get_packed_size(env);
	buf = malloc(*len);
	assert_non_null(buf);
	commissioning__envelope__pack(env, buf);
	commissioning__envelope__free_unpacked(env, NULL);
	return buf;
}

static void
unpacks_within_its_budget(void *arg, const char *line)
{
	size_t *n = arg, len;
	struct pb_budget budget;
	uint8_t *buf = pack_line(line, &len);
	Commissioning__Envelope *env = commissioning__envelope__unpack(
	    pb_budget_init(&budget, pb_budget_for_frame(len)), len, buf);

	++*n;
	if (env == NULL)
		fail_msg("line %zu (%zu bytes) did not unpack within %zu bytes", *n, len,
		    budget.limit);
	assert_false(budget.exceeded);
	assert_true(budget.used > 0);
	/* malloc's memory: the default allocator frees it. */
	commissioning__envelope__free_unpacked(env, NULL);
	free(buf);
}

static void
test_every_scenario_envelope_unpacks_within_its_budget(void **state)
{
	size_t n = 0;

	(void)state;
	envelope_json_each_line(ENVELOPE_JSON_SCENARIO, unpacks_within_its_budget, &n);
	assert_true(n > 300);
}

static void
test_a_frame_of_tiny_unknown_fields_is_stopped_by_the_budget(void **state)
{
	static const char *line = "{\"source\":\"capacity\",\"eventId\":\"C1\","
				  "\"occurredAt\":\"1778371200000\",\"capacityReported\":{"
				  "\"organisation\":\"RXC01\",\"sector\":\"SECTOR_MATERNITY\","
				  "\"bedsAvailable\":\"1\",\"bedsOccupied\":\"1\","
				  "\"asOf\":\"1778371200000\"}}";
	size_t len, n_unknown = 100000, hostile_len;
	uint8_t *good = pack_line(line, &len), *hostile;
	struct pb_budget budget;
	Commissioning__Envelope *env;

	(void)state;
	/* Field 9 (unknown to this schema), varint 0: two bytes each. */
	hostile_len = len + 2 * n_unknown;
	hostile = malloc(hostile_len);
	assert_non_null(hostile);
	memcpy(hostile, good, len);
	for (size_t i = 0; i < n_unknown; i++) {
		hostile[len + 2 * i] = 9 << 3; /* field 9, varint: a one-byte tag */
		hostile[len + 2 * i + 1] = 0;
	}
	/* Without a ceiling protobuf-c takes many times the frame's size. */
	env = commissioning__envelope__unpack(pb_budget_init(&budget, SIZE_MAX), hostile_len,
	    hostile);
	assert_non_null(env);
	assert_int_equal(env->base.n_unknown_fields, n_unknown);
	assert_true(budget.used > pb_budget_for_frame(hostile_len));
	commissioning__envelope__free_unpacked(env, NULL);
	/* With the frame's budget it fails, and says why. */
	env = commissioning__envelope__unpack(
	    pb_budget_init(&budget, pb_budget_for_frame(hostile_len)), hostile_len, hostile);
	assert_null(env);
	assert_true(budget.exceeded);
	/* The good frame alone is fine. */
	env = commissioning__envelope__unpack(pb_budget_init(&budget, pb_budget_for_frame(len)),
	    len, good);
	assert_non_null(env);
	commissioning__envelope__free_unpacked(env, NULL);
	free(hostile);
	free(good);
}

static void
test_the_limit_is_exact(void **state)
{
	static const char *line = "{\"source\":\"s\",\"eventId\":\"e\",\"occurredAt\":\"1\","
				  "\"capacityReported\":{\"organisation\":\"RXC01\"}}";
	size_t len, need;
	uint8_t *buf = pack_line(line, &len);
	struct pb_budget budget;
	Commissioning__Envelope *env;

	(void)state;
	env = commissioning__envelope__unpack(pb_budget_init(&budget, SIZE_MAX), len, buf);
	assert_non_null(env);
	need = budget.used;
	commissioning__envelope__free_unpacked(env, NULL);
	env = commissioning__envelope__unpack(pb_budget_init(&budget, need), len, buf);
	assert_non_null(env);
	commissioning__envelope__free_unpacked(env, NULL);
	env = commissioning__envelope__unpack(pb_budget_init(&budget, need - 1), len, buf);
	assert_null(env);
	assert_true(budget.exceeded);
	assert_int_equal(pb_budget_for_frame(SIZE_MAX), SIZE_MAX);
	free(buf);
}

/* A backing allocator with n allocations left; then none (out of memory). */
static void *
failing_alloc(void *data, size_t size)
{
	int *left = data;

	return (*left)-- > 0 ? malloc(size) : NULL;
}

static void
failing_free(void *data, void *pointer)
{
	(void)data;
	free(pointer);
}

static void
test_memory_running_out_is_told_from_the_limit(void **state)
{
	static const char *line = "{\"source\":\"s\",\"eventId\":\"e\",\"occurredAt\":\"1\","
				  "\"capacityReported\":{\"organisation\":\"RXC01\"}}";
	int left = 1;
	ProtobufCAllocator backing = { failing_alloc, failing_free, &left };
	size_t len;
	uint8_t *buf = pack_line(line, &len);
	struct pb_budget budget;

	(void)state;
	/* Well within the budget, the second allocation fails. */
	assert_null(commissioning__envelope__unpack(
	    pb_budget_init_on(&budget, pb_budget_for_frame(len), &backing), len, buf));
	assert_true(budget.out_of_memory);
	assert_false(budget.exceeded);
	/* Past the budget, backing is not asked at all: no memory ran out. */
	left = 1000;
	assert_null(commissioning__envelope__unpack(pb_budget_init_on(&budget, 1, &backing), len,
	    buf));
	assert_true(budget.exceeded);
	assert_false(budget.out_of_memory);
	assert_int_equal(left, 1000);
	free(buf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_memory_running_out_is_told_from_the_limit),
		cmocka_unit_test(test_every_scenario_envelope_unpacks_within_its_budget),
		cmocka_unit_test(test_a_frame_of_tiny_unknown_fields_is_stopped_by_the_budget),
		cmocka_unit_test(test_the_limit_is_exact),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
