/*
 * dates: strict calendar dates ("YYYY-MM-DD"), periods ("YYYY-MM") and
 * financial years ("2026-27") as the wire carries them. Pure: no locale, no clock.
 */
#ifndef DATES_H
#define DATES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Buffer sizes for the formatters, terminating NUL included. */
#define DATES_DATE_BUFSIZE 11		  /* "2026-05-10" */
#define DATES_PERIOD_BUFSIZE 8		  /* "2026-05" */
#define DATES_FINANCIAL_YEAR_BUFSIZE 8	  /* "2026-27" */
#define DATES_INSTANT_BUFSIZE 25	  /* "2026-05-10T09:30:00.000Z" */

/* The years a date may name: four digits, and no year 0 (there is none). */
#define DATES_YEAR_MIN 1
#define DATES_YEAR_MAX 9999

/* The instants, in UTC milliseconds, an as-of may name: from the epoch to
 * the last millisecond of DATES_YEAR_MAX (9999-12-31T23:59:59.999Z). The
 * day numbers below are int32_t: far past this (day 2^31) they wrap, and
 * no event dates anything later, so a later as-of is refused at the edge
 * (the HTTP API, commissionctl show) rather than answered wrong. */
#define DATES_MS_MIN INT64_C(0)
#define DATES_MS_MAX INT64_C(253402300799999)

/*
 * Write the UTC instant utc_ms as "YYYY-MM-DDTHH:MM:SS.mmmZ", for people
 * to read (messages), not for the wire. Returns 0, -ERANGE outside
 * DATES_MS_MIN..DATES_MS_MAX, or -ENOSPC when size < DATES_INSTANT_BUFSIZE.
 */
int dates_format_instant(int64_t utc_ms, char *buf, size_t size);

/* Proleptic Gregorian calendar. */
bool dates_is_leap_year(int year);

/* Days in month (1-12) of year; 0 when month is out of range. */
int dates_days_in_month(int year, int month);

/*
 * Day number (days since 1970-01-01, negative before) of a civil date.
 * The date is not checked: use dates_parse_date for text from outside.
 */
int32_t dates_day_from_civil(int year, int month, int day);

/* The civil date of a day number. */
void dates_civil_from_day(int32_t day_number, int *year, int *month, int *day);

/*
 * Parse exactly "YYYY-MM-DD" naming a real date (2026-02-30 is not one).
 * Return 0 and set *day_number, or -EINVAL (nothing set).
 */
int dates_parse_date(const char *text, int32_t *day_number);

/*
 * Write day_number as "YYYY-MM-DD". Return 0, or -ERANGE for a year outside
 * DATES_YEAR_MIN..MAX, or -ENOSPC when size < DATES_DATE_BUFSIZE.
 */
int dates_format_date(int32_t day_number, char *buf, size_t size);

/*
 * Parse exactly "YYYY-MM" (month 01-12). Return 0 and set *year and *month,
 * or -EINVAL.
 */
int dates_parse_period(const char *text, int *year, int *month);

/* Write "YYYY-MM". Return 0, -ERANGE or -ENOSPC as dates_format_date. */
int dates_format_period(int year, int month, char *buf, size_t size);

/*
 * Parse exactly "YYYY-YY" where the second part is the first year plus one,
 * modulo 100 ("2026-27", "1999-00"; "2026-28" is not a financial year).
 * Return 0 and set *first_year (2026), or -EINVAL.
 */
int dates_parse_financial_year(const char *text, int *first_year);

/* Write "YYYY-YY" for the year starting 1 April first_year. */
int dates_format_financial_year(int first_year, char *buf, size_t size);

/* Financial years run 1 April to 31 March: the first year of day_number's. */
int dates_financial_year_of_day(int32_t day_number);

/* The first (1 April) and last (31 March) day of a financial year. */
int32_t dates_financial_year_first_day(int first_year);
int32_t dates_financial_year_last_day(int first_year);

/*
 * The Europe/London calendar day of a UTC time in milliseconds: British
 * Summer Time (UTC+1) runs from 01:00 UTC on the last Sunday of March to
 * 01:00 UTC on the last Sunday of October; GMT otherwise.
 */
int32_t dates_london_day_of_ms(int64_t utc_ms);

/* The UTC offset of Europe/London at utc_ms, in milliseconds (0 or 3600000). */
int64_t dates_london_offset_ms(int64_t utc_ms);

/* The first UTC millisecond of the Europe/London calendar day day_number:
 * dates_london_day_of_ms of it is day_number, of the one before it is not. */
int64_t dates_london_midnight_ms(int32_t day_number);

#endif
