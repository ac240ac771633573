/*
 * The spool watcher's memory of the files between two looks (seen.c):
 * a file stays the one seen while its id is the same, starts settling
 * again when anything about it changes, and is forgotten once it is gone.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "seen.h"

static struct spool_seen_id
id_of(uint64_t ino, uint64_t size, int64_t mtime_ns)
{
	return (struct spool_seen_id){.dev = 8, .ino = ino, .size = size,
	    .mtime_ns = mtime_ns, .ctime_ns = mtime_ns, .type = S_IFREG};
}

/* The same id keeps what was learnt about the file; first sight settles. */
static void
test_a_file_as_it_was_keeps_its_state(void **state)
{
	struct spool_seen seen = {0};
	struct spool_seen_id id = id_of(1, 100, 5);
	struct spool_seen_file *f;

	(void)state;
	f = spool_seen_note(&seen, "a.csv", &id, 1000);
	assert_non_null(f);
	assert_int_equal(f->state, SPOOL_SEEN_SETTLING);
	assert_int_equal(f->first_seen_ms, 1000);
	f->state = SPOOL_SEEN_SKIPPED;
	f = spool_seen_note(&seen, "a.csv", &id, 9000);
	assert_int_equal(f->state, SPOOL_SEEN_SKIPPED);
	assert_int_equal(f->first_seen_ms, 1000);
	assert_int_equal(seen.n, 1);
	assert_ptr_equal(spool_seen_find(&seen, "a.csv"), f);
	assert_null(spool_seen_find(&seen, "b.csv"));
	spool_seen_free(&seen);
}

/* Any part of the id changing is another file: settling again from now,
 * its state and any report still to write dropped. */
static void
test_a_changed_file_settles_again(void **state)
{
	const struct spool_seen_id base = id_of(1, 100, 5);
	struct spool_seen_id changed[6];
	struct spool_seen seen = {0};

	(void)state;
	for (size_t i = 0; i < 6; i++)
		changed[i] = base;
	changed[0].dev++;
	changed[1].ino++;
	changed[2].size++;
	changed[3].mtime_ns++;
	changed[4].ctime_ns++; /* a chmod */
	changed[5].type = S_IFIFO;
	for (size_t i = 0; i < 6; i++) {
		struct spool_seen_file *f = spool_seen_note(&seen, "a.csv", &base, 10);

		f->state = SPOOL_SEEN_PUT;
		f->report = strdup("line,column,reason\r\n");
		assert_non_null(f->report);
		f->report_len = strlen(f->report);
		f = spool_seen_note(&seen, "a.csv", &changed[i], 20 + (int64_t)i);
		assert_int_equal(f->state, SPOOL_SEEN_SETTLING);
		assert_int_equal(f->first_seen_ms, 20 + (int64_t)i);
		assert_null(f->report);
		assert_int_equal(f->report_len, 0);
		assert_true(spool_seen_id_equal(&f->id, &changed[i]));
		assert_false(spool_seen_id_equal(&f->id, &base));
		/* Back to base for the next part: a change again. */
		spool_seen_reset(f, &base, 0);
	}
	assert_int_equal(seen.n, 1);
	spool_seen_free(&seen);
}

/* Many files, noted in no order: kept sorted by name and each found; a
 * prune forgets exactly those not listed since the last one. */
static void
test_files_not_listed_are_forgotten_at_the_prune(void **state)
{
	enum { N = 1000 };
	struct spool_seen seen = {0};
	struct spool_seen_id id = id_of(7, 1, 1);
	char name[32];

	(void)state;
	for (unsigned i = 0; i < N; i++) {
		unsigned k = (i * 7919u) % N; /* a permutation of 0..N-1 */

		snprintf(name, sizeof(name), "f%04u.csv", k);
		assert_non_null(spool_seen_note(&seen, name, &id, k));
	}
	assert_int_equal(seen.n, N);
	for (size_t i = 1; i < seen.n; i++)
		assert_true(strcmp(seen.files[i - 1].name, seen.files[i].name) < 0);
	spool_seen_prune(&seen);
	assert_int_equal(seen.n, N);
	/* The next look lists only the even ones; one of them gets a report. */
	for (unsigned k = 0; k < N; k += 2) {
		snprintf(name, sizeof(name), "f%04u.csv", k);
		assert_non_null(spool_seen_note(&seen, name, &id, 0));
	}
	spool_seen_find(&seen, "f0002.csv")->report = strdup("r");
	spool_seen_find(&seen, "f0003.csv")->report = strdup("r");
	spool_seen_prune(&seen);
	assert_int_equal(seen.n, N / 2);
	for (unsigned k = 0; k < N; k++) {
		struct spool_seen_file *f;

		snprintf(name, sizeof(name), "f%04u.csv", k);
		f = spool_seen_find(&seen, name);
		if (k % 2 == 1) {
			assert_null(f);
			continue;
		}
		assert_non_null(f);
		assert_int_equal(f->first_seen_ms, k); /* as first noted */
		assert_false(f->listed);
	}
	/* Nothing listed at all: everything goes (and ASan sees no leak). */
	spool_seen_prune(&seen);
	assert_int_equal(seen.n, 0);
	spool_seen_free(&seen);
	assert_null(seen.files);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_file_as_it_was_keeps_its_state),
		cmocka_unit_test(test_a_changed_file_settles_again),
		cmocka_unit_test(test_files_not_listed_are_forgotten_at_the_prune),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
