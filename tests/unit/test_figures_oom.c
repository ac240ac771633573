/*
 * test_figures_oom: an area that cannot fold a thing for want of memory
 * (a spell, a case, a service, a contract, the declarations) must not
 * give figures that leave it out as if they were the figures: the
 * daemon publishes them, the HTTP API answers 200 with them, and a
 * governance fold without its alerts reads as every alert cleared. The
 * projections are compiled into this test with their own allocations
 * made to fail one at a time; after each, picture_figures gives either
 * NULL or the figures of the run where nothing failed.
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
#include "picture.c"
#include "organisations.c"
#include "spell.c"
#include "flow.c"
#include "discharges.c"
#include "capacity.c"
#include "service_fold.c"
#include "services.c"
#include "contract.c"
#include "finance.c"
#include "governance.c"
#undef malloc
#undef calloc
#undef realloc

#include "picture_fixture.h"

#define AS_OF_MS 1778630400000LL /* 2026-05-13T00:00Z, after the scenario day */

static void
add_line(void *arg, const char *line)
{
	events_add_json(arg, line);
}

static void
a_failed_allocation_never_gives_figures_that_leave_things_out(void **state)
{
	struct events ev = { 0 };
	struct histories h = { 0 };
	struct picture *p;
	json_t *whole, *f;
	long calls = 0;
	int refused = 0;

	(void)state;
	envelope_json_each_line(ENVELOPE_JSON_SCENARIO, add_line, &ev);
	histories_load(&h, &ev, NULL);
	p = picture_of(&h, false);
	whole = picture_figures(p, "all", AS_OF_MS);
	assert_non_null(whole);
	/* Every area has things to fold. */
	assert_true(json_array_size(at_path(whole, "discharges.cases")) > 0);
	assert_true(json_object_size(at_path(whole, "services")) > 0);
	assert_true(json_object_size(at_path(whole, "finance.contracts")) > 0);
	assert_true(json_object_size(at_path(whole, "governance.register")) > 0);

	for (long k = 1;; k++) {
		oom_countdown = k;
		oom_failed = false;
		f = picture_figures(p, "all", AS_OF_MS);
		oom_countdown = 0;
		if (!oom_failed) {
			/* Every allocation of the fold has been failed once. */
			assert_non_null(f);
			assert_true(json_equal(f, whole));
			json_decref(f);
			calls = k;
			break;
		}
		if (f != NULL && !json_equal(f, whole))
			fail_msg("allocation %ld of the fold failed, yet figures were given "
				 "without what it would have folded",
			    k);
		refused += f == NULL;
		json_decref(f);
	}
	assert_true(calls > 5);
	assert_true(refused > 0);
	json_decref(whole);
	picture_destroy(&p);
	histories_free(&h);
	events_free(&ev);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_failed_allocation_never_gives_figures_that_leave_things_out),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
