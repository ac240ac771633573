/*
 * test_tallies_oom: an allocation that fails while the running totals are
 * moved (projections/tallies.c) must not leave totals that are written as
 * if whole. tallies.c is compiled into this test with its allocations
 * made to fail one at a time: after each, either the flush refuses
 * (-1, so the batch fails and the daemon reads the totals afresh) or the
 * records written are those of the run where nothing failed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oom_fixture.h"

#define malloc(n) oom_malloc(n)
#define calloc(n, size) oom_calloc(n, size)
#define realloc(p, n) oom_realloc(p, n)
#define strdup(s) oom_strdup(s)
#include "tallies.c"
#undef malloc
#undef calloc
#undef realloc
#undef strdup

/* ------------------------------------------------------------ the units */

#define DAY 20583 /* 2026-05-10 */

/* Spells and cases over several days and places, so that every kind of
 * total, day and place is made. */
static void
apply_units(struct tallies *t)
{
	static const char *const providers[] = { "RAA", "RBB", "RCC" };
	static const char *const sites[] = { "RAA01", "RBB01", "RCC01" };
	static const char *const councils[] = { "E10000011", "E06000043", "unattributed" };

	for (int i = 0; i < 12; i++) {
		struct flow_tally tally = { .listed = true, .in_hospital = i % 2 == 0 };
		struct spell spell = { .provider = providers[i % 3], .spell_hex = "00",
			.site = sites[i % 3], .ward = i % 4 == 0 ? "W1" : "W2" };
		struct discharges_case c = { .patient = "00", .provider = providers[i % 3],
			.rollup_council = councils[i % 3], .ready_day = DAY + i % 5,
			.has_pathway = true, .pathway = i % 4, .waiting_on_social_care = i % 3 == 1 };

		tally.counts[tally.n_counts].count = FLOW_ADMISSIONS;
		tally.counts[tally.n_counts++].day = DAY + i;
		if (i % 3 != 0) {
			tally.counts[tally.n_counts].count = FLOW_DISCHARGES;
			tally.counts[tally.n_counts++].day = DAY + i + 1;
		}
		tallies_add_spell(t, spell.provider, &tally, 1);
		tallies_add_spell_places(t, &spell, &tally, 1);
		c.closed = i % 2 == 1;
		c.discharge_day = DAY + 10 + i;
		c.days_delayed = c.closed ? c.discharge_day - c.ready_day : 0;
		tallies_add_case(t, &c, DAY + 3, 1);
	}
}

/* The records a flush writes, as a JSON object: key (hex) -> value (hex);
 * a removed record is taken out. */
static void
hex_of_bytes(const uint8_t *b, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
	out[2 * n] = '\0';
}

static int
record_take(void *arg, const uint8_t *key, size_t keylen, const uint8_t *bytes, size_t len)
{
	json_t *records = arg;
	char *k = malloc(2 * keylen + 1), *v = malloc(2 * len + 1);

	assert_non_null(k);
	assert_non_null(v);
	hex_of_bytes(key, keylen, k);
	if (len == 0)
		json_object_del(records, k);
	else {
		hex_of_bytes(bytes, len, v);
		json_object_set_new(records, k, json_string(v));
	}
	free(k);
	free(v);
	return 0;
}

/* ------------------------------------------------------------ tests */

static void
a_failed_allocation_never_writes_totals_that_are_not_whole(void **state)
{
	struct tallies *t;
	json_t *whole = json_object(), *records;
	long calls = 0;
	int rc, refused = 0;

	(void)state;
	t = tallies_new();
	assert_non_null(t);
	apply_units(t);
	assert_int_equal(tallies_flush(t, record_take, whole), 0);
	tallies_destroy(&t);
	assert_true(json_object_size(whole) > 10);

	for (long k = 1;; k++) {
		t = tallies_new();
		assert_non_null(t);
		oom_countdown = k;
		oom_failed = false;
		apply_units(t);
		records = json_object();
		rc = tallies_flush(t, record_take, records);
		oom_countdown = 0;
		if (!oom_failed) {
			/* Every allocation of the run has been failed once. */
			assert_int_equal(rc, 0);
			assert_true(json_equal(records, whole));
			json_decref(records);
			tallies_destroy(&t);
			calls = k;
			break;
		}
		if (rc == 0 && !json_equal(records, whole)) {
			char *got = json_dumps(records, JSON_COMPACT | JSON_SORT_KEYS);
			fail_msg("allocation %ld failed, yet the flush wrote other totals: %s", k,
			    got);
		}
		refused += rc != 0;
		/* Read afresh, as the daemon does after a failed batch: whole
		 * again. */
		tallies_clear(t);
		apply_units(t);
		json_decref(records);
		records = json_object();
		assert_int_equal(tallies_flush(t, record_take, records), 0);
		assert_true(json_equal(records, whole));
		json_decref(records);
		tallies_destroy(&t);
	}
	assert_true(calls > 20);
	assert_true(refused > 0);
	json_decref(whole);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_failed_allocation_never_writes_totals_that_are_not_whole),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
