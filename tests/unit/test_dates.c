/*
 * test_dates: strict dates, periods and financial years; day numbers and
 * formatting back; financial-year boundaries.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "dates.h"

static void
test_date_day_numbers_count_from_1970(void **state)
{
	int32_t day;

	(void)state;
	assert_int_equal(dates_parse_date("1970-01-01", &day), 0);
	assert_int_equal(day, 0);
	assert_int_equal(dates_parse_date("1969-12-31", &day), 0);
	assert_int_equal(day, -1);
	assert_int_equal(dates_parse_date("2000-01-01", &day), 0);
	assert_int_equal(day, 10957);
	/* 1778371200000 ms is 2026-05-10T00:00Z. */
	assert_int_equal(dates_parse_date("2026-05-10", &day), 0);
	assert_int_equal(day, 1778371200000LL / 86400000);
}

static void
test_date_30_february_is_not_a_date(void **state)
{
	int32_t day = 42;

	(void)state;
	assert_int_equal(dates_parse_date("2026-02-30", &day), -EINVAL);
	assert_int_equal(day, 42);
	assert_int_equal(dates_parse_date("2026-04-31", &day), -EINVAL);
	assert_int_equal(dates_parse_date("2026-04-30", &day), 0);
}

static void
test_date_29_february_only_in_leap_years(void **state)
{
	int32_t day;

	(void)state;
	assert_int_equal(dates_parse_date("2024-02-29", &day), 0);
	assert_int_equal(dates_parse_date("2000-02-29", &day), 0);
	assert_int_equal(dates_parse_date("2026-02-29", &day), -EINVAL);
	assert_int_equal(dates_parse_date("2100-02-29", &day), -EINVAL);
	assert_true(dates_is_leap_year(2024));
	assert_true(dates_is_leap_year(2000));
	assert_false(dates_is_leap_year(1900));
	assert_false(dates_is_leap_year(2026));
	assert_int_equal(dates_days_in_month(2024, 2), 29);
	assert_int_equal(dates_days_in_month(2026, 2), 28);
	assert_int_equal(dates_days_in_month(2026, 13), 0);
}

static void
test_date_must_be_exactly_yyyy_mm_dd(void **state)
{
	static const char *const bad[] = {
		"", "2026-5-10", "2026-05-1", "26-05-10", "2026/05/10",
		"2026-05-10T00:00", " 2026-05-10", "2026-05-10 ", "2026-13-01",
		"2026-00-10", "2026-05-00", "2026-05-32", "0000-01-01",
		"+026-05-10", "2026-0a-10", "20260510",
	};
	int32_t day;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(dates_parse_date(bad[i], &day), -EINVAL);
	assert_int_equal(dates_parse_date(NULL, &day), -EINVAL);
}

static void
test_date_formats_back_to_the_same_text(void **state)
{
	char buf[DATES_DATE_BUFSIZE], again[DATES_DATE_BUFSIZE];
	int32_t day, parsed;

	(void)state;
	/* Every day from 1899 to 2101, through two centuries' leap rules. */
	for (day = dates_day_from_civil(1899, 1, 1);
	    day <= dates_day_from_civil(2101, 12, 31); day++) {
		assert_int_equal(dates_format_date(day, buf, sizeof(buf)), 0);
		assert_int_equal(dates_parse_date(buf, &parsed), 0);
		assert_int_equal(parsed, day);
		assert_int_equal(dates_format_date(parsed, again,
		    sizeof(again)), 0);
		assert_string_equal(buf, again);
	}
	assert_int_equal(dates_format_date(0, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "1970-01-01");
	/* The ends of the range: four digits of year, zero-padded. */
	assert_int_equal(dates_format_date(dates_day_from_civil(1, 1, 1), buf, sizeof(buf)), 0);
	assert_string_equal(buf, "0001-01-01");
	assert_int_equal(
	    dates_format_date(dates_day_from_civil(99, 10, 9), buf, sizeof(buf)), 0);
	assert_string_equal(buf, "0099-10-09");
	assert_int_equal(
	    dates_format_date(dates_day_from_civil(9999, 12, 31), buf, sizeof(buf)), 0);
	assert_string_equal(buf, "9999-12-31");
}

static void
test_date_format_refuses_small_buffers_and_far_years(void **state)
{
	char buf[DATES_DATE_BUFSIZE];

	(void)state;
	assert_int_equal(dates_format_date(0, buf, DATES_DATE_BUFSIZE - 1),
	    -ENOSPC);
	assert_int_equal(dates_format_date(dates_day_from_civil(10000, 1, 1),
	    buf, sizeof(buf)), -ERANGE);
	assert_int_equal(dates_format_date(dates_day_from_civil(0, 12, 31),
	    buf, sizeof(buf)), -ERANGE);
}

static void
test_civil_from_day_inverts_day_from_civil(void **state)
{
	int year, month, day;

	(void)state;
	dates_civil_from_day(dates_day_from_civil(2024, 2, 29), &year, &month,
	    &day);
	assert_int_equal(year, 2024);
	assert_int_equal(month, 2);
	assert_int_equal(day, 29);
	dates_civil_from_day(-719162, &year, &month, &day);
	assert_int_equal(year, 1);
	assert_int_equal(month, 1);
	assert_int_equal(day, 1);
}

static void
test_period_is_yyyy_mm_with_month_1_to_12(void **state)
{
	char buf[DATES_PERIOD_BUFSIZE];
	int year, month;

	(void)state;
	assert_int_equal(dates_parse_period("2026-04", &year, &month), 0);
	assert_int_equal(year, 2026);
	assert_int_equal(month, 4);
	assert_int_equal(dates_parse_period("2026-12", &year, &month), 0);
	assert_int_equal(dates_parse_period("2026-13", &year, &month),
	    -EINVAL);
	assert_int_equal(dates_parse_period("2026-00", &year, &month),
	    -EINVAL);
	assert_int_equal(dates_parse_period("2026-4", &year, &month), -EINVAL);
	assert_int_equal(dates_parse_period("2026-04-01", &year, &month),
	    -EINVAL);
	assert_int_equal(dates_parse_period(NULL, &year, &month), -EINVAL);
	assert_int_equal(dates_format_period(2026, 4, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "2026-04");
	assert_int_equal(dates_format_period(2026, 13, buf, sizeof(buf)),
	    -ERANGE);
	assert_int_equal(dates_format_period(2026, 4, buf, 7), -ENOSPC);
}

static void
test_financial_year_second_part_is_next_year_mod_100(void **state)
{
	int first;

	(void)state;
	assert_int_equal(dates_parse_financial_year("2026-27", &first), 0);
	assert_int_equal(first, 2026);
	assert_int_equal(dates_parse_financial_year("1999-00", &first), 0);
	assert_int_equal(first, 1999);
	assert_int_equal(dates_parse_financial_year("2099-00", &first), 0);
	assert_int_equal(dates_parse_financial_year("2026-28", &first),
	    -EINVAL);
	assert_int_equal(dates_parse_financial_year("2026-26", &first),
	    -EINVAL);
	assert_int_equal(dates_parse_financial_year("2026-2027", &first),
	    -EINVAL);
	assert_int_equal(dates_parse_financial_year("2026/27", &first),
	    -EINVAL);
	assert_int_equal(dates_parse_financial_year("9999-00", &first),
	    -EINVAL);
	assert_int_equal(dates_parse_financial_year(NULL, &first), -EINVAL);
}

static void
test_financial_year_formats_as_yyyy_yy(void **state)
{
	char buf[DATES_FINANCIAL_YEAR_BUFSIZE];

	(void)state;
	assert_int_equal(dates_format_financial_year(2026, buf, sizeof(buf)),
	    0);
	assert_string_equal(buf, "2026-27");
	assert_int_equal(dates_format_financial_year(1999, buf, sizeof(buf)),
	    0);
	assert_string_equal(buf, "1999-00");
	assert_int_equal(dates_format_financial_year(2026, buf, 7), -ENOSPC);
}

static void
test_financial_year_runs_1_april_to_31_march(void **state)
{
	int32_t day;

	(void)state;
	assert_int_equal(dates_parse_date("2026-03-31", &day), 0);
	assert_int_equal(dates_financial_year_of_day(day), 2025);
	assert_int_equal(dates_parse_date("2026-04-01", &day), 0);
	assert_int_equal(dates_financial_year_of_day(day), 2026);
	assert_int_equal(dates_financial_year_first_day(2026), day);
	assert_int_equal(dates_parse_date("2027-03-31", &day), 0);
	assert_int_equal(dates_financial_year_last_day(2026), day);
	assert_int_equal(dates_financial_year_of_day(day), 2026);
	/* 2027-28 holds 29 February 2028. */
	assert_int_equal(dates_financial_year_last_day(2027) -
	    dates_financial_year_first_day(2027) + 1, 366);
}

/* 2026: BST from 29 March 01:00 UTC to 25 October 01:00 UTC. */
static void
test_london_day_follows_british_summer_time(void **state)
{
	int32_t day;
	(void)state;
	/* 2026-03-29T00:59:59.999Z is still GMT: London date 2026-03-29. */
	assert_int_equal(dates_london_offset_ms(1774745999999), 0);
	assert_int_equal(dates_london_offset_ms(1774746000000), 3600000);
	/* 2026-05-09T23:30Z is 00:30 BST on 10 May. */
	assert_int_equal(dates_parse_date("2026-05-10", &day), 0);
	assert_int_equal(dates_london_day_of_ms(1778369400000), day);
	/* 2026-10-25T00:59:59.999Z is 01:59:59 BST; 01:00Z is 01:00 GMT. */
	assert_int_equal(dates_london_offset_ms(1792889999999), 3600000);
	assert_int_equal(dates_london_offset_ms(1792890000000), 0);
	/* 2026-12-31T23:30Z is still 31 December in London (GMT). */
	assert_int_equal(dates_parse_date("2026-12-31", &day), 0);
	assert_int_equal(dates_london_day_of_ms(1798759800000), day);
}

/* The first instant of each London day of 2026, across both clock changes:
 * its day is that day, the instant before it the day before. */
static void
test_london_midnight_starts_each_london_day(void **state)
{
	int32_t first, last;
	(void)state;
	assert_int_equal(dates_parse_date("2026-01-01", &first), 0);
	assert_int_equal(dates_parse_date("2027-01-01", &last), 0);
	for (int32_t day = first; day <= last; day++) {
		int64_t at = dates_london_midnight_ms(day);
		assert_int_equal(dates_london_day_of_ms(at), day);
		assert_int_equal(dates_london_day_of_ms(at - 1), day - 1);
	}
	/* 10 May 2026 (BST) starts at 23:00 UTC on 9 May. */
	assert_int_equal(dates_parse_date("2026-05-10", &first), 0);
	assert_int_equal(dates_london_midnight_ms(first), 1778367600000);
}

/* DATES_MS_MAX, the last as-of taken, is the last millisecond of 9999 in
 * London too (GMT in December), and its day number is far inside int32_t. */
static void
test_the_last_instant_taken_is_the_end_of_9999(void **state)
{
	int32_t day;
	(void)state;
	assert_int_equal(dates_parse_date("9999-12-31", &day), 0);
	assert_int_equal(dates_london_day_of_ms(DATES_MS_MAX), day);
	assert_int_equal(dates_london_day_of_ms(DATES_MS_MAX + 1), day + 1);
	assert_int_equal(dates_london_midnight_ms(day + 1), DATES_MS_MAX + 1);
	assert_int_equal(dates_london_day_of_ms(DATES_MS_MIN), 0);
}

/* An instant for a message: UTC, to the millisecond, inside the as-of
 * range only, and never past the buffer it is given. */
static void
test_instant_formats_utc_to_the_millisecond(void **state)
{
	char buf[DATES_INSTANT_BUFSIZE];
	(void)state;
	assert_int_equal(dates_format_instant(946681200000, buf, sizeof(buf)),
	    0);
	assert_string_equal(buf, "1999-12-31T23:00:00.000Z");
	assert_int_equal(dates_format_instant(0, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "1970-01-01T00:00:00.000Z");
	assert_int_equal(dates_format_instant(DATES_MS_MAX, buf, sizeof(buf)),
	    0);
	assert_string_equal(buf, "9999-12-31T23:59:59.999Z");
	assert_int_equal(dates_format_instant(1778416205042, buf, sizeof(buf)),
	    0);
	assert_string_equal(buf, "2026-05-10T12:30:05.042Z");
	assert_int_equal(dates_format_instant(-1, buf, sizeof(buf)), -ERANGE);
	assert_int_equal(dates_format_instant(DATES_MS_MAX + 1, buf,
	    sizeof(buf)), -ERANGE);
	assert_int_equal(dates_format_instant(0, buf, sizeof(buf) - 1),
	    -ENOSPC);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_date_day_numbers_count_from_1970),
		cmocka_unit_test(test_date_30_february_is_not_a_date),
		cmocka_unit_test(test_date_29_february_only_in_leap_years),
		cmocka_unit_test(test_date_must_be_exactly_yyyy_mm_dd),
		cmocka_unit_test(test_date_formats_back_to_the_same_text),
		cmocka_unit_test(test_date_format_refuses_small_buffers_and_far_years),
		cmocka_unit_test(test_civil_from_day_inverts_day_from_civil),
		cmocka_unit_test(test_period_is_yyyy_mm_with_month_1_to_12),
		cmocka_unit_test(test_financial_year_second_part_is_next_year_mod_100),
		cmocka_unit_test(test_financial_year_formats_as_yyyy_yy),
		cmocka_unit_test(test_financial_year_runs_1_april_to_31_march),
		cmocka_unit_test(test_london_day_follows_british_summer_time),
		cmocka_unit_test(test_london_midnight_starts_each_london_day),
		cmocka_unit_test(test_the_last_instant_taken_is_the_end_of_9999),
		cmocka_unit_test(test_instant_formats_utc_to_the_millisecond),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
