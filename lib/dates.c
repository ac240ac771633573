/*
 * dates: strict parsing and formatting of calendar dates, periods and
 * financial years; day numbers count days since 1970-01-01.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "dates.h"

/* Financial years start on 1 April (DOMAIN.md, Finance). */
#define FINANCIAL_YEAR_FIRST_MONTH 4

bool
dates_is_leap_year(int year)
{
	return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

int
dates_days_in_month(int year, int month)
{
	static const int days[12] = {
		31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
	};

	if (month < 1 || month > 12)
		return 0;
	if (month == 2 && dates_is_leap_year(year))
		return 29;
	return days[month - 1];
}

/*
 * Howard Hinnant's days_from_civil: eras of 400 years (146097 days) make
 * the arithmetic exact without tables; March-based years put the leap day
 * last.
 */
int32_t
dates_day_from_civil(int year, int month, int day)
{
	int64_t y = (int64_t)year - (month <= 2);
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t year_of_era = y - era * 400;
	int64_t day_of_year = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 +
	    day - 1;
	int64_t day_of_era = year_of_era * 365 + year_of_era / 4 -
	    year_of_era / 100 + day_of_year;

	return (int32_t)(era * 146097 + day_of_era - 719468);
}

void
dates_civil_from_day(int32_t day_number, int *year, int *month, int *day)
{
	int64_t z = (int64_t)day_number + 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t day_of_era = z - era * 146097;
	int64_t year_of_era = (day_of_era - day_of_era / 1460 +
	    day_of_era / 36524 - day_of_era / 146096) / 365;
	int64_t day_of_year = day_of_era -
	    (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
	int64_t month_from_march = (5 * day_of_year + 2) / 153;
	int64_t m = month_from_march < 10 ? month_from_march + 3 :
	    month_from_march - 9;

	*day = (int)(day_of_year - (153 * month_from_march + 2) / 5 + 1);
	*month = (int)m;
	*year = (int)(year_of_era + era * 400 + (m <= 2));
}

/* n ASCII digits at text, as a number; -1 when any is not a digit. */
static int
dates_parse_digits(const char *text, size_t n)
{
	int value = 0;

	for (size_t i = 0; i < n; i++) {
		if (text[i] < '0' || text[i] > '9')
			return -1;
		value = value * 10 + (text[i] - '0');
	}
	return value;
}

/* "YYYY-MM" at the start of text, with the year and month in range. */
static int
dates_parse_year_month(const char *text, int *year, int *month)
{
	int y, m;

	y = dates_parse_digits(text, 4);
	if (y < DATES_YEAR_MIN || text[4] != '-')
		return -EINVAL;
	m = dates_parse_digits(text + 5, 2);
	if (m < 1 || m > 12)
		return -EINVAL;
	*year = y;
	*month = m;
	return 0;
}

int
dates_parse_date(const char *text, int32_t *day_number)
{
	int year, month, day;

	if (text == NULL || strlen(text) != 10)
		return -EINVAL;
	if (dates_parse_year_month(text, &year, &month) != 0)
		return -EINVAL;
	if (text[7] != '-')
		return -EINVAL;
	day = dates_parse_digits(text + 8, 2);
	if (day < 1 || day > dates_days_in_month(year, month))
		return -EINVAL;
	*day_number = dates_day_from_civil(year, month, day);
	return 0;
}

int
dates_format_date(int32_t day_number, char *buf, size_t size)
{
	int year, month, day;

	dates_civil_from_day(day_number, &year, &month, &day);
	if (year < DATES_YEAR_MIN || year > DATES_YEAR_MAX)
		return -ERANGE;
	if (size < DATES_DATE_BUFSIZE)
		return -ENOSPC;
	/* "%04d-%02d-%02d" without a format parse: this is on every update
	 * that carries a date. The year is 1..9999, so four digits. */
	buf[0] = (char)('0' + year / 1000);
	buf[1] = (char)('0' + year / 100 % 10);
	buf[2] = (char)('0' + year / 10 % 10);
	buf[3] = (char)('0' + year % 10);
	buf[4] = '-';
	buf[5] = (char)('0' + month / 10);
	buf[6] = (char)('0' + month % 10);
	buf[7] = '-';
	buf[8] = (char)('0' + day / 10);
	buf[9] = (char)('0' + day % 10);
	buf[10] = '\0';
	return 0;
}

int
dates_format_instant(int64_t utc_ms, char *buf, size_t size)
{
	const int64_t day_ms = 86400000;
	int64_t in_day;
	int rc;

	if (utc_ms < DATES_MS_MIN || utc_ms > DATES_MS_MAX)
		return -ERANGE;
	if (size < DATES_INSTANT_BUFSIZE)
		return -ENOSPC;
	rc = dates_format_date((int32_t)(utc_ms / day_ms), buf, size);
	if (rc != 0)
		return rc;
	in_day = utc_ms % day_ms;
	snprintf(buf + DATES_DATE_BUFSIZE - 1, size - (DATES_DATE_BUFSIZE - 1),
	    "T%02d:%02d:%02d.%03dZ", (int)(in_day / 3600000),
	    (int)(in_day / 60000 % 60), (int)(in_day / 1000 % 60),
	    (int)(in_day % 1000));
	return 0;
}

int
dates_parse_period(const char *text, int *year, int *month)
{
	if (text == NULL || strlen(text) != 7)
		return -EINVAL;
	return dates_parse_year_month(text, year, month);
}

int
dates_format_period(int year, int month, char *buf, size_t size)
{
	if (year < DATES_YEAR_MIN || year > DATES_YEAR_MAX || month < 1 ||
	    month > 12)
		return -ERANGE;
	if (size < DATES_PERIOD_BUFSIZE)
		return -ENOSPC;
	(void)snprintf(buf, size, "%04d-%02d", year, month);
	return 0;
}

int
dates_parse_financial_year(const char *text, int *first_year)
{
	int first, second;

	if (text == NULL || strlen(text) != 7)
		return -EINVAL;
	first = dates_parse_digits(text, 4);
	/* The year must end inside the four-digit range as well. */
	if (first < DATES_YEAR_MIN || first >= DATES_YEAR_MAX ||
	    text[4] != '-')
		return -EINVAL;
	second = dates_parse_digits(text + 5, 2);
	if (second != (first + 1) % 100)
		return -EINVAL;
	*first_year = first;
	return 0;
}

int
dates_format_financial_year(int first_year, char *buf, size_t size)
{
	if (first_year < DATES_YEAR_MIN || first_year >= DATES_YEAR_MAX)
		return -ERANGE;
	if (size < DATES_FINANCIAL_YEAR_BUFSIZE)
		return -ENOSPC;
	(void)snprintf(buf, size, "%04d-%02d", first_year,
	    (first_year + 1) % 100);
	return 0;
}

int
dates_financial_year_of_day(int32_t day_number)
{
	int year, month, day;

	dates_civil_from_day(day_number, &year, &month, &day);
	return month >= FINANCIAL_YEAR_FIRST_MONTH ? year : year - 1;
}

int32_t
dates_financial_year_first_day(int first_year)
{
	return dates_day_from_civil(first_year, FINANCIAL_YEAR_FIRST_MONTH, 1);
}

int32_t
dates_financial_year_last_day(int first_year)
{
	return dates_financial_year_first_day(first_year + 1) - 1;
}

/* The day number of the last Sunday of month in year. 1970-01-01 was a
 * Thursday: day 0 has weekday 4 (Sunday = 0). */
static int32_t
dates_last_sunday(int year, int month)
{
	int32_t last = dates_day_from_civil(year, month, dates_days_in_month(year, month));
	int32_t weekday = ((last % 7) + 7 + 4) % 7;

	return last - weekday;
}

int64_t
dates_london_offset_ms(int64_t utc_ms)
{
	const int64_t day_ms = 86400000, hour_ms = 3600000;
	int64_t day = utc_ms >= 0 ? utc_ms / day_ms : -((-utc_ms + day_ms - 1) / day_ms);
	int year, month, mday;
	int64_t starts, ends;

	dates_civil_from_day((int32_t)day, &year, &month, &mday);
	starts = (int64_t)dates_last_sunday(year, 3) * day_ms + hour_ms;
	ends = (int64_t)dates_last_sunday(year, 10) * day_ms + hour_ms;
	return utc_ms >= starts && utc_ms < ends ? hour_ms : 0;
}

int32_t
dates_london_day_of_ms(int64_t utc_ms)
{
	const int64_t day_ms = 86400000;
	int64_t local = utc_ms + dates_london_offset_ms(utc_ms);

	return (int32_t)(local >= 0 ? local / day_ms : -((-local + day_ms - 1) / day_ms));
}

int64_t
dates_london_midnight_ms(int32_t day_number)
{
	const int64_t day_ms = 86400000, hour_ms = 3600000;
	int64_t utc_midnight = (int64_t)day_number * day_ms;

	/* Local midnight is 00:00 UTC in winter and 23:00 UTC the evening
	 * before in summer; the clocks change at 01:00 UTC, an hour after
	 * either, so the offset an hour before UTC midnight is the one. */
	return utc_midnight - dates_london_offset_ms(utc_midnight - hour_ms);
}
