/*
 * test_ratelimit: at most `burst` events of a kind a window; the rest
 * counted and reported once, when the kind is next seen or flushed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "ratelimit.h"

static const char kind_a[] = "a", kind_b[] = "b";

static void
test_a_burst_passes_then_the_rest_is_counted(void **state)
{
	struct ratelimit rl;
	struct ratelimit_verdict v;
	int allowed = 0;

	(void)state;
	ratelimit_init(&rl, 3, 10.0);
	for (int i = 0; i < 10; i++) {
		v = ratelimit_check(&rl, kind_a, 1.0 + i * 0.1);
		allowed += v.allow;
		assert_int_equal(v.report_suppressed, 0);
	}
	assert_int_equal(allowed, 3);
	/* Another kind has its own window. */
	assert_true(ratelimit_check(&rl, kind_b, 2.0).allow);
	/* The next window: the count of the last is reported, once. */
	v = ratelimit_check(&rl, kind_a, 11.5);
	assert_true(v.allow);
	assert_int_equal(v.report_suppressed, 7);
	assert_ptr_equal(v.report_kind, kind_a);
	v = ratelimit_check(&rl, kind_a, 11.6);
	assert_int_equal(v.report_suppressed, 0);
}

struct flushed {
	const void *kind;
	uint64_t n;
	int calls;
};

static void
on_flush(void *arg, const void *kind, uint64_t n)
{
	struct flushed *f = arg;

	f->kind = kind;
	f->n = n;
	f->calls++;
}

static void
test_flush_reports_windows_that_are_over(void **state)
{
	struct ratelimit rl;
	struct flushed f = { 0 };

	(void)state;
	ratelimit_init(&rl, 1, 10.0);
	for (int i = 0; i < 5; i++)
		ratelimit_check(&rl, kind_a, 0.0);
	ratelimit_flush(&rl, 5.0, on_flush, &f);
	assert_int_equal(f.calls, 0); /* the window is still open */
	ratelimit_flush(&rl, 10.0, on_flush, &f);
	assert_int_equal(f.calls, 1);
	assert_ptr_equal(f.kind, kind_a);
	assert_int_equal(f.n, 4);
	ratelimit_flush(&rl, 30.0, on_flush, &f);
	assert_int_equal(f.calls, 1); /* said once */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_burst_passes_then_the_rest_is_counted),
		cmocka_unit_test(test_flush_reports_windows_that_are_over),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
