/*
 * rows: local-authority CSV rows to Envelopes (docs/SPOOL.md). A table of
 * file kinds, each a list of columns with the header names it accepts and
 * a function that maps one row. The NHS number is validated and replaced
 * by its pseudonym here and goes no further: not into an Envelope, an
 * event id or an error.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "dates.h"
#include "event_check.h"
#include "ids.h"
#include "rows.h"

#define nitems(a) (sizeof(a) / sizeof((a)[0]))

#define ROWS_DAY_MS 86400000LL
#define ROWS_HOUR_MS 3600000LL
#define ROWS_ID_HASH_BYTES 16 /* BLAKE2b-128: 32 hex characters */
#define ROWS_CANONICAL_BUFSIZE 72
#define ROWS_ALIASES_MAX 14
#define ROWS_NAME_MAX_BYTES 64 /* a longer header cell is no known column */

/* Events need a time in 2000-2099 (event_check); dates outside clamp. */
#define ROWS_OCCURRED_FIRST_DAY 10957 /* 2000-01-01 */
#define ROWS_OCCURRED_LAST_DAY 47481  /* 2099-12-31 */

/* A column's flags. */
#define COLUMN_IN_HEADER 0x1u /* the header must have it */

struct spool_column {
	const char *name;  /* snake_case, as docs/SPOOL.md names it */
	const char *field; /* the event field it fills, for event_check's faults */
	unsigned flags;
	unsigned group; /* non-zero: the header needs at least one of the group */
	const char *aliases[ROWS_ALIASES_MAX]; /* header names, normalised */
};

struct row_context;

struct spool_kind_def {
	enum spool_kind kind;
	const char *name;
	const char *source;
	const struct spool_column *columns;
	size_t n_columns;
	int (*map)(struct row_context *ctx);
};

/* One row being mapped. */
struct row_context {
	const struct spool_kind_info *info;
	const struct csv_row *row;
	const struct pseudonymiser *ps;
	struct spool_row_error *err;
	/* Each of the kind's columns: the row's value, trimmed ("" absent). */
	char value[SPOOL_KIND_MAX_COLUMNS][CSV_MAX_FIELD_BYTES + 1];
	/* Each column's normalised value, the input of the event id. */
	const char *canonical[SPOOL_KIND_MAX_COLUMNS];
	char canonical_buf[SPOOL_KIND_MAX_COLUMNS][ROWS_CANONICAL_BUFSIZE];
	char id[2 * ROWS_ID_HASH_BYTES + 1];
	Commissioning__Envelope *env[SPOOL_MAX_ENVELOPES_PER_ROW];
	int occurred_column[SPOOL_MAX_ENVELOPES_PER_ROW];
	int n_env;
	int available_column; /* capacity: where beds_available came from */
	bool out_of_memory;
};

/* ------------------------------------------------------------ the kinds */

enum {
	PACKAGE_NHS_NUMBER,
	PACKAGE_COUNCIL,
	PACKAGE_ID,
	PACKAGE_SERVICE_TYPE,
	PACKAGE_HOURS_PER_WEEK,
	PACKAGE_WEEKLY_COST,
	PACKAGE_START_DATE,
	PACKAGE_END_DATE,
	PACKAGE_REPORT_DATE,
};

enum {
	READY_NHS_NUMBER,
	READY_PROVIDER,
	READY_DATE,
	READY_PATHWAY,
	READY_COUNCIL,
	READY_REPORT_DATE,
};

enum {
	CAPACITY_ORGANISATION,
	CAPACITY_SECTOR,
	CAPACITY_BEDS_AVAILABLE,
	CAPACITY_MAXIMUM,
	CAPACITY_VACANT,
	CAPACITY_OCCUPIED,
	CAPACITY_AS_OF,
};

enum {
	ORG_CODE,
	ORG_NAME,
	ORG_ROLE,
	ORG_PARENT,
	ORG_OPEN_DATE,
	ORG_CLOSE_DATE,
	ORG_REPORT_DATE,
};

#define NHS_NUMBER_ALIASES                                                                         \
	"nhsnumber", "nhsno", "nhsnum", "nhs", "clientnhsnumber", "patientnhsnumber"
#define COUNCIL_ALIASES                                                                            \
	"council", "councilcode", "lacode", "la", "localauthority", "localauthoritycode",          \
	    "gsscode", "lagsscode", "councilgsscode"
#define REPORT_DATE_ALIASES                                                                        \
	"reportdate", "reportingdate", "extractdate", "snapshotdate", "reportingperiodenddate",    \
	    "lastchangedate", "lastupdated", "lastupdateddate"

static const struct spool_column care_package_columns[] = {
    [PACKAGE_NHS_NUMBER] = {"nhs_number", "patient_pseudonym", COLUMN_IN_HEADER, 0,
        {NHS_NUMBER_ALIASES}},
    [PACKAGE_COUNCIL] = {"council", "council", COLUMN_IN_HEADER, 0, {COUNCIL_ALIASES}},
    [PACKAGE_ID] = {"package_id", "package_id", COLUMN_IN_HEADER, 0,
        {"packageid", "package", "packagereference", "packageref", "eventreference", "serviceid",
            "servicepackageid"}},
    [PACKAGE_SERVICE_TYPE] = {"service_type", "service_type", 0, 0,
        {"servicetype", "packagetype", "supporttype"}},
    [PACKAGE_HOURS_PER_WEEK] = {"hours_per_week", "hours_per_week", 0, 0,
        {"hoursperweek", "weeklyhours", "hours", "plannedhoursperweek", "hoursaweek"}},
    [PACKAGE_WEEKLY_COST] = {"weekly_cost", "weekly_cost", 0, 0,
        {"weeklycost", "costperweek", "weeklycostgbp", "weeklycostpounds", "costaweek"}},
    [PACKAGE_START_DATE] = {"start_date", "start_date", COLUMN_IN_HEADER, 0,
        {"startdate", "packagestartdate", "eventstartdate", "servicestartdate"}},
    [PACKAGE_END_DATE] = {"end_date", "end_date", 0, 0,
        {"enddate", "packageenddate", "eventenddate", "serviceenddate"}},
    [PACKAGE_REPORT_DATE] = {"report_date", "", 0, 0, {REPORT_DATE_ALIASES, "asof", "asofdate"}},
};

static const struct spool_column ready_columns[] = {
    [READY_NHS_NUMBER] = {"nhs_number", "patient_pseudonym", COLUMN_IN_HEADER, 0,
        {NHS_NUMBER_ALIASES}},
    [READY_PROVIDER] = {"provider", "provider", COLUMN_IN_HEADER, 0,
        {"provider", "providercode", "trust", "trustcode", "providerodscode", "providerorgcode"}},
    [READY_DATE] = {"discharge_ready_date", "ready_date", COLUMN_IN_HEADER, 0,
        {"dischargereadydate", "readydate", "dischargeready", "datereadyfordischarge",
            "readyfordischargedate", "rfddate", "nctrdate", "ncrdate"}},
    [READY_PATHWAY] = {"pathway", "pathway", COLUMN_IN_HEADER, 0, {"pathway", "dischargepathway"}},
    [READY_COUNCIL] = {"council", "council", 0, 0, {COUNCIL_ALIASES}},
    [READY_REPORT_DATE] = {"report_date", "", 0, 0, {REPORT_DATE_ALIASES, "asof", "asofdate"}},
};

static const struct spool_column capacity_columns[] = {
    [CAPACITY_ORGANISATION] = {"location", "organisation", COLUMN_IN_HEADER, 0,
        {"cqclocationid", "locationid", "cqcid", "cqclocation", "cqclocationcode", "locationcode",
            "organisation", "organisationid"}},
    [CAPACITY_SECTOR] = {"sector", "sector", COLUMN_IN_HEADER, 0,
        {"sector", "type", "hometype", "caretype", "bedtype", "carehometype"}},
    [CAPACITY_BEDS_AVAILABLE] = {"beds_available", "beds_available", 0, 1,
        {"bedsavailable", "availablebeds", "available"}},
    [CAPACITY_MAXIMUM] = {"maximum_capacity", "", 0, 1,
        {"maximumcapacity", "maxcapacity", "capacity", "totalbeds"}},
    [CAPACITY_VACANT] = {"vacant_accepting_admissions", "", 0, 1,
        {"vacantbedsacceptingadmissions", "vacantacceptingadmissions",
            "vacanciesacceptingadmissions", "vacancies", "vacantbeds", "vacant"}},
    [CAPACITY_OCCUPIED] = {"occupied", "beds_occupied", COLUMN_IN_HEADER, 0,
        {"occupied", "occupiedbeds", "bedsoccupied", "occupancy"}},
    [CAPACITY_AS_OF] = {"as_of", "as_of", COLUMN_IN_HEADER, 0,
        {"asof", "asoftime", "asofdate", "asofdatetime", "lastupdated", "lastupdateddate",
            "lastupdatedtime", "updated", "reportdate", "snapshotdate", "snapshottime"}},
};

static const struct spool_column organisation_columns[] = {
    [ORG_CODE] = {"code", "code", COLUMN_IN_HEADER, 0,
        {"code", "organisationcode", "orgcode", "odscode"}},
    [ORG_NAME] = {"name", "name", COLUMN_IN_HEADER, 0, {"name", "organisationname", "orgname"}},
    [ORG_ROLE] = {"role", "role", 0, 0,
        {"role", "primaryrole", "roleid", "rolecode", "orgrole", "organisationrole"}},
    [ORG_PARENT] = {"parent_code", "parent_code", 0, 0,
        {"parentcode", "parent", "parentorganisationcode", "parentorgcode"}},
    [ORG_OPEN_DATE] = {"open_date", "active_from", 0, 0,
        {"opendate", "activefrom", "legalstartdate", "operationalstartdate"}},
    [ORG_CLOSE_DATE] = {"close_date", "active_to", 0, 0,
        {"closedate", "activeto", "legalenddate", "operationalenddate"}},
    [ORG_REPORT_DATE] = {"report_date", "", 0, 0, {REPORT_DATE_ALIASES}},
};

static int map_care_package(struct row_context *ctx);
static int map_ready_for_discharge(struct row_context *ctx);
static int map_capacity(struct row_context *ctx);
static int map_organisation(struct row_context *ctx);

static const struct spool_kind_def spool_kinds[] = {
    {SPOOL_KIND_CARE_PACKAGES, "care_packages", "spool:care_packages", care_package_columns,
        nitems(care_package_columns), map_care_package},
    {SPOOL_KIND_DISCHARGE_READY, "discharge_ready", "spool:discharge_ready", ready_columns,
        nitems(ready_columns), map_ready_for_discharge},
    {SPOOL_KIND_CARE_HOME_CAPACITY, "care_home_capacity", "spool:care_home_capacity",
        capacity_columns, nitems(capacity_columns), map_capacity},
    {SPOOL_KIND_ORGANISATIONS, "organisations", "spool:organisations", organisation_columns,
        nitems(organisation_columns), map_organisation},
};

_Static_assert(nitems(care_package_columns) <= SPOOL_KIND_MAX_COLUMNS, "too many columns");
_Static_assert(nitems(ready_columns) <= SPOOL_KIND_MAX_COLUMNS, "too many columns");
_Static_assert(nitems(capacity_columns) <= SPOOL_KIND_MAX_COLUMNS, "too many columns");
_Static_assert(nitems(organisation_columns) <= SPOOL_KIND_MAX_COLUMNS, "too many columns");

static const struct spool_kind_def *
spool_kind_def_of(enum spool_kind kind)
{
	for (size_t i = 0; i < nitems(spool_kinds); i++)
		if (spool_kinds[i].kind == kind)
			return &spool_kinds[i];
	return NULL;
}

const char *
spool_kind_name(enum spool_kind kind)
{
	const struct spool_kind_def *def = spool_kind_def_of(kind);

	return def != NULL ? def->name : "none";
}

/* ------------------------------------------------------------- helpers */

static bool
rows_is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static char
rows_to_lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static char
rows_to_upper(char c)
{
	return (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
}

/*
 * The letters and digits of text, lower case, nothing else: "NHS Number",
 * "nhs_number" and "NHSNumber" are all "nhsnumber". Return -1 when the
 * result does not fit out.
 */
static int
rows_normalise(const char *text, char *out, size_t size)
{
	size_t n = 0;

	for (; *text != '\0'; text++) {
		char c = rows_to_lower(*text);

		if (!rows_is_digit(c) && !(c >= 'a' && c <= 'z'))
			continue;
		if (n + 1 >= size)
			return -1;
		out[n++] = c;
	}
	out[n] = '\0';
	return 0;
}

/* Copy text without leading and trailing spaces and tabs. */
static void
rows_copy_trimmed(const char *text, char *out, size_t size)
{
	size_t len;

	while (*text == ' ' || *text == '\t')
		text++;
	len = strlen(text);
	while (len > 0 && (text[len - 1] == ' ' || text[len - 1] == '\t'))
		len--;
	if (len >= size)
		len = size - 1; /* cannot happen: fields are bounded by csv.h */
	memcpy(out, text, len);
	out[len] = '\0';
}

/* text as UTF-8 text: each byte that is not (a Windows-1252 "\xa3" from a
 * file not saved as UTF-8) and each control character made '?'. */
static void
rows_make_text(char *text)
{
	size_t len = strlen(text), at = 0;

	while (at < len) {
		size_t fault = event_text_fault_at(text + at, len - at);

		if (fault == len - at)
			break;
		text[at + fault] = '?';
		at += fault + 1;
	}
}

/* The header's name of a column, or the kind's own name when absent. */
static const char *
row_column_label(const struct row_context *ctx, int column)
{
	const struct spool_kind_def *def = spool_kind_def_of(ctx->info->kind);

	if (column < 0 || def == NULL || (size_t)column >= def->n_columns)
		return "";
	if (ctx->info->column_index[column] >= 0)
		return ctx->info->column_name[column];
	return def->columns[column].name;
}

static int row_fail(struct row_context *ctx, int column, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Fill the row's error for column (-1: the whole row) and return -1. */
static int
row_fail(struct row_context *ctx, int column, const char *fmt, ...)
{
	struct spool_row_error *err = ctx->err;
	va_list ap;
	int n;

	err->line = ctx->row->line;
	(void)snprintf(err->column, sizeof(err->column), "%s", row_column_label(ctx, column));
	va_start(ap, fmt);
	n = vsnprintf(err->reason, sizeof(err->reason), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(err->reason))
		memcpy(err->reason + sizeof(err->reason) - 4, "...", 4);
	return -1;
}

static char *
row_canonical_buf(struct row_context *ctx, int column)
{
	ctx->canonical[column] = ctx->canonical_buf[column];
	return ctx->canonical_buf[column];
}

/* ------------------------------------------------------ values of a row */

static int
row_required(struct row_context *ctx, int column)
{
	if (ctx->value[column][0] == '\0')
		return row_fail(ctx, column, "missing (required)");
	return 0;
}

/* Free text taken as it is (trimmed). */
static void
row_text(struct row_context *ctx, int column)
{
	ctx->canonical[column] = ctx->value[column];
}

/* An organisation code: upper case; its format is event_check's. */
static void
row_code(struct row_context *ctx, int column)
{
	for (char *p = ctx->value[column]; *p != '\0'; p++)
		*p = rows_to_upper(*p);
	ctx->canonical[column] = ctx->value[column];
}

/*
 * The NHS number: validated and replaced by its pseudonym. The reason
 * never shows the value, and the event id is made from the pseudonym.
 */
static int
row_nhs_number(struct row_context *ctx, int column, uint8_t pseudonym[PSEUDONYM_BYTES])
{
	char *canonical;
	int rc;

	if (row_required(ctx, column) != 0)
		return -1;
	rc = pseudonym_from_nhs_number(ctx->ps, ctx->value[column], pseudonym);
	sodium_memzero(ctx->value[column], sizeof(ctx->value[column]));
	if (rc != 0)
		return row_fail(ctx, column,
		    "not a valid NHS number (ten digits, the last a "
		    "modulus 11 check digit)");
	canonical = row_canonical_buf(ctx, column);
	sodium_bin2hex(canonical, ROWS_CANONICAL_BUFSIZE, pseudonym, PSEUDONYM_BYTES);
	return 0;
}

/* Exactly n digits at text; their value. */
static bool
rows_digits(const char *text, size_t n, int *value)
{
	*value = 0;
	for (size_t i = 0; i < n; i++) {
		if (!rows_is_digit(text[i]))
			return false;
		*value = *value * 10 + (text[i] - '0');
	}
	return true;
}

/* A real date from its parts. */
static int
rows_civil_day(int year, int month, int day, int32_t *day_number)
{
	if (year < DATES_YEAR_MIN || year > DATES_YEAR_MAX || day < 1 ||
	    day > dates_days_in_month(year, month))
		return -1;
	*day_number = dates_day_from_civil(year, month, day);
	return 0;
}

/*
 * A date in the first len bytes of text: YYYY-MM-DD, D/M/YYYY or
 * DD/MM/YYYY (the UK order, never the US one), or YYYYMMDD (ODS).
 */
static int
rows_parse_date_n(const char *text, size_t len, int32_t *day_number)
{
	int year, month, day;

	if (len == 10 && text[4] == '-' && text[7] == '-') {
		if (!rows_digits(text, 4, &year) || !rows_digits(text + 5, 2, &month) ||
		    !rows_digits(text + 8, 2, &day))
			return -1;
		return rows_civil_day(year, month, day, day_number);
	}
	if (len == 8 && rows_digits(text, 4, &year) && rows_digits(text + 4, 2, &month) &&
	    rows_digits(text + 6, 2, &day))
		return rows_civil_day(year, month, day, day_number);
	/* D/M/YYYY: one or two digits each for day and month. */
	{
		const char *slash1 = memchr(text, '/', len), *slash2;
		size_t day_len, month_len;

		if (slash1 == NULL)
			return -1;
		slash2 = memchr(slash1 + 1, '/', len - (size_t)(slash1 + 1 - text));
		if (slash2 == NULL)
			return -1;
		day_len = (size_t)(slash1 - text);
		month_len = (size_t)(slash2 - slash1 - 1);
		if (day_len < 1 || day_len > 2 || month_len < 1 || month_len > 2 ||
		    (size_t)(text + len - slash2 - 1) != 4)
			return -1;
		if (!rows_digits(text, day_len, &day) ||
		    !rows_digits(slash1 + 1, month_len, &month) ||
		    !rows_digits(slash2 + 1, 4, &year))
			return -1;
		return rows_civil_day(year, month, day, day_number);
	}
}

/*
 * The length of a date column's date: all of text, or the part before a
 * space or 'T' that a midnight time follows ("2026-04-01 00:00:00", as
 * SQL Server and Excel write a date held as a date and time: 00:00,
 * 00:00:00, 00:00:00.000). -1 for any other time: it is not a date, and
 * which day it falls on depends on whose clock it is.
 */
static ptrdiff_t
rows_date_len(const char *text)
{
	const char *sep = strpbrk(text, " T"), *t = sep != NULL ? sep + 1 : NULL;

	/* No time ("1 April 2026" is no date, said as such). */
	if (t == NULL || !(t[0] >= '0' && t[0] <= '9' && t[1] >= '0' && t[1] <= '9' && t[2] == ':'))
		return (ptrdiff_t)strlen(text);
	if (strncmp(t, "00:00", 5) != 0)
		return -1;
	t += 5;
	if (strncmp(t, ":00", 3) == 0) {
		t += 3;
		if (*t == '.' && t[1] == '0')
			for (t++; *t == '0'; t++)
				;
	}
	return *t == '\0' ? sep - text : -1;
}

/* An optional date column; *given says whether the row has one. */
static int
row_date(struct row_context *ctx, int column, bool required, int32_t *day, bool *given)
{
	const char *text = ctx->value[column];
	ptrdiff_t len;

	*given = false;
	*day = 0;
	if (text[0] == '\0') {
		if (required)
			return row_fail(ctx, column, "missing (required)");
		ctx->canonical[column] = "";
		return 0;
	}
	if ((len = rows_date_len(text)) < 0)
		return row_fail(ctx, column,
		    "a date with a time other than a plain midnight (00:00, 00:00:00): "
		    "write the date alone");
	if (rows_parse_date_n(text, (size_t)len, day) != 0)
		return row_fail(ctx, column,
		    "not a real calendar date written YYYY-MM-DD, "
		    "DD/MM/YYYY or YYYYMMDD");
	if (dates_format_date(*day, row_canonical_buf(ctx, column), ROWS_CANONICAL_BUFSIZE) != 0)
		return row_fail(ctx, column, "not a date this feed can carry");
	*given = true;
	return 0;
}

/*
 * Europe/London local time (ms since the epoch as if it were UTC) to UTC.
 * The hour that happens twice in October is read as the first (BST); the
 * hour that does not exist in March with the offset before the change
 * (GMT): the rules DOMAIN.md gives for HL7 times without an offset.
 */
static int64_t
rows_london_local_to_utc(int64_t local_ms)
{
	if (dates_london_offset_ms(local_ms - ROWS_HOUR_MS) == ROWS_HOUR_MS)
		return local_ms - ROWS_HOUR_MS;
	return local_ms;
}

static int64_t
rows_london_midnight_ms(int32_t day)
{
	return rows_london_local_to_utc((int64_t)day * ROWS_DAY_MS);
}

/* An event's time from a date: midnight London, the date kept in
 * 2000-2099 (where event_check wants occurred_at). */
static int64_t
rows_occurred_at_of_day(int32_t day)
{
	if (day < ROWS_OCCURRED_FIRST_DAY)
		day = ROWS_OCCURRED_FIRST_DAY;
	if (day > ROWS_OCCURRED_LAST_DAY)
		day = ROWS_OCCURRED_LAST_DAY;
	return rows_london_midnight_ms(day);
}

/* Parse up to max digits at *p; advance. Return how many were read. */
static size_t
rows_take_digits(const char **p, size_t max, int64_t *value)
{
	size_t n = 0;

	*value = 0;
	while (n < max && rows_is_digit(**p)) {
		*value = *value * 10 + (**p - '0');
		(*p)++;
		n++;
	}
	return n;
}

/*
 * A time: a date alone (midnight Europe/London), or a date, 'T' or a
 * space, HH:MM[:SS[.fff]], then Z, +HH:MM, +HHMM, +HH (or -) or nothing
 * (Europe/London local time).
 */
static int
rows_parse_time(const char *text, int64_t *utc_ms)
{
	const char *sep = strpbrk(text, "T ");
	const char *p;
	int32_t day;
	int64_t hours, minutes, seconds = 0, millis = 0, local_ms, offset_ms = 0;
	bool zoned = false;

	if (sep == NULL) {
		if (rows_parse_date_n(text, strlen(text), &day) != 0)
			return -1;
		*utc_ms = rows_london_midnight_ms(day);
		return 0;
	}
	if (rows_parse_date_n(text, (size_t)(sep - text), &day) != 0)
		return -1;
	p = sep + 1;
	if (rows_take_digits(&p, 2, &hours) != 2 || *p++ != ':' ||
	    rows_take_digits(&p, 2, &minutes) != 2 || hours > 23 || minutes > 59)
		return -1;
	if (*p == ':') {
		p++;
		if (rows_take_digits(&p, 2, &seconds) != 2 || seconds > 59)
			return -1;
		if (*p == '.' || *p == ',') {
			int64_t fraction;
			size_t n;

			p++;
			n = rows_take_digits(&p, 9, &fraction);
			if (n == 0 || rows_is_digit(*p))
				return -1;
			while (n > 3) {
				fraction /= 10;
				n--;
			}
			while (n < 3) {
				fraction *= 10;
				n++;
			}
			millis = fraction;
		}
	}
	if (*p == 'Z' || *p == 'z') {
		zoned = true;
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p == '-' ? -1 : 1;
		int64_t off_h, off_m = 0;

		p++;
		if (rows_take_digits(&p, 2, &off_h) != 2 || off_h > 14)
			return -1;
		/* +01, +0100 or +01:00; a colon needs its minutes (+01: is not
		 * an offset). */
		if (*p == ':') {
			p++;
			if (rows_take_digits(&p, 2, &off_m) != 2 || off_m > 59)
				return -1;
		} else if (rows_is_digit(*p) &&
		    (rows_take_digits(&p, 2, &off_m) != 2 || off_m > 59))
			return -1;
		offset_ms = sign * (off_h * ROWS_HOUR_MS + off_m * 60000);
		zoned = true;
	}
	if (*p != '\0')
		return -1;
	local_ms = (int64_t)day * ROWS_DAY_MS + hours * ROWS_HOUR_MS + minutes * 60000 +
	           seconds * 1000 + millis;
	*utc_ms = zoned ? local_ms - offset_ms : rows_london_local_to_utc(local_ms);
	return 0;
}

static int
row_time(struct row_context *ctx, int column, int64_t *utc_ms)
{
	if (row_required(ctx, column) != 0)
		return -1;
	if (rows_parse_time(ctx->value[column], utc_ms) != 0)
		return row_fail(ctx, column,
		    "not a time: write an ISO 8601 time with Z or an "
		    "offset (2026-05-10T09:30:00Z), a local London time "
		    "(2026-05-10 09:30) or a date");
	(void)snprintf(
	    row_canonical_buf(ctx, column), ROWS_CANONICAL_BUFSIZE, "%lld", (long long)*utc_ms);
	return 0;
}

/* A count of beds: a whole number, 0 or more. */
static int
row_count(struct row_context *ctx, int column, int64_t *count, bool *given)
{
	const char *p = ctx->value[column];
	size_t n;

	*given = false;
	*count = 0;
	if (*p == '\0') {
		ctx->canonical[column] = "";
		return 0;
	}
	if (*p == '-')
		return row_fail(ctx, column, "negative; a count of beds is 0 or more");
	n = rows_take_digits(&p, 10, count);
	if (n == 0 || *p != '\0')
		return row_fail(ctx, column, "not a whole number of beds");
	if (n > 9)
		return row_fail(ctx, column, "too large for a count of beds");
	(void)snprintf(
	    row_canonical_buf(ctx, column), ROWS_CANONICAL_BUFSIZE, "%lld", (long long)*count);
	*given = true;
	return 0;
}

/* Hours a week: a decimal number with up to 6 places, kept exact as
 * millionths for the event id. */
static int
row_hours(struct row_context *ctx, int column, double *hours, bool *given)
{
	const char *p = ctx->value[column];
	int64_t whole, fraction = 0;
	size_t n, places = 0;

	*given = false;
	*hours = 0;
	if (*p == '\0') {
		ctx->canonical[column] = "";
		return 0;
	}
	if (*p == '-')
		return row_fail(ctx, column, "negative; hours a week are 0 to 168");
	n = rows_take_digits(&p, 7, &whole);
	if (n > 6)
		return row_fail(ctx, column, "too large; hours a week are 0 to 168");
	if (*p == '.') {
		p++;
		places = rows_take_digits(&p, 7, &fraction);
		if (places == 0)
			return row_fail(ctx, column, "not a number of hours (write 10 or 10.5)");
		if (places > 6)
			return row_fail(ctx, column, "more than 6 decimal places");
	}
	if ((n == 0 && places == 0) || *p != '\0')
		return row_fail(ctx, column, "not a number of hours (write 10 or 10.5)");
	for (size_t i = places; i < 6; i++)
		fraction *= 10;
	*hours = (double)whole + (double)fraction / 1e6;
	(void)snprintf(row_canonical_buf(ctx, column), ROWS_CANONICAL_BUFSIZE, "%lld.%06lld",
	    (long long)whole, (long long)fraction);
	*given = true;
	return 0;
}

/*
 * Money in pounds and pence to whole pence, exactly: "412.50", "412.5",
 * "412", "£1,412.50" (thousands separated by commas in threes). More than
 * two decimal places is refused, never rounded.
 */
static int
row_money_pence(struct row_context *ctx, int column, int64_t *pence, bool *given)
{
	const char *p = ctx->value[column];
	int64_t pounds = 0, part, minor = 0;
	size_t n, groups = 0, digits = 0, places = 0, at;

	*given = false;
	*pence = 0;
	if (*p == '\0') {
		ctx->canonical[column] = "";
		return 0;
	}
	/* Excel's plain "CSV" is Windows-1252, whose pound sign is the byte
	 * 0xA3: say that, not "write 412.50" to whoever wrote £412.50. */
	at = event_text_fault_at(p, strlen(p));
	if ((unsigned char)p[at] >= 0x80)
		return row_fail(ctx, column,
		    "byte %zu is 0x%02x, not UTF-8 text%s: save the file as \"CSV UTF-8 "
		    "(Comma delimited)\"",
		    at + 1, (unsigned char)p[at],
		    (unsigned char)p[at] == 0xa3 ? " (a pound sign in Windows-1252)" : "");
	if (strncmp(p, "\xc2\xa3", 2) == 0) /* the pound sign in UTF-8 */
		p += 2;
	if (*p == '-' || strncmp(p, "-\xc2\xa3", 3) == 0)
		return row_fail(ctx, column, "negative; a weekly cost is 0 or more");
	/* Pounds: digits, or groups of three after a first of one to three. */
	for (;;) {
		n = rows_take_digits(&p, 16, &part);
		if (n == 0 || (groups > 0 && n != 3) || (*p == ',' && (n > 3 && groups == 0)))
			return row_fail(ctx, column,
			    "not an amount in pounds and pence (write "
			    "412.50)");
		digits += n;
		if (digits > 15)
			return row_fail(ctx, column, "too large for an amount of money");
		for (size_t i = 0; i < n; i++)
			pounds *= 10;
		pounds += part;
		groups++;
		if (*p != ',')
			break;
		p++;
	}
	if (*p == '.') {
		p++;
		places = rows_take_digits(&p, 3, &minor);
		if (places > 2)
			return row_fail(ctx, column,
			    "more than 2 decimal places; money is whole pence "
			    "(write 412.50)");
		if (places == 0)
			return row_fail(ctx, column,
			    "not an amount in pounds and pence (write "
			    "412.50)");
		if (places == 1)
			minor *= 10;
	}
	if (*p != '\0')
		return row_fail(ctx, column, "not an amount in pounds and pence (write 412.50)");
	*pence = pounds * 100 + minor;
	(void)snprintf(
	    row_canonical_buf(ctx, column), ROWS_CANONICAL_BUFSIZE, "%lld", (long long)*pence);
	*given = true;
	return 0;
}

/* A value of a fixed set: names (normalised) and the number each means. */
struct rows_name {
	const char *name;
	int value;
};

static int
rows_lookup(
    const struct rows_name *names, size_t n, const char *prefix, const char *text, int *value)
{
	char norm[ROWS_NAME_MAX_BYTES + 1];
	const char *key = norm;

	if (rows_normalise(text, norm, sizeof(norm)) != 0)
		return -1;
	/* The proto's own names too: SECTOR_NURSING is "nursing". */
	if (strncmp(norm, prefix, strlen(prefix)) == 0 && norm[strlen(prefix)] != '\0')
		key = norm + strlen(prefix);
	for (size_t i = 0; i < n; i++)
		if (strcmp(names[i].name, key) == 0) {
			*value = names[i].value;
			return 0;
		}
	return -1;
}

#define SERVICE(x) COMMISSIONING__CARE_PACKAGE_TYPE__CARE_PACKAGE_TYPE_##x
/* Adult Social Care Client Level Data wording, and plain words. */
static const struct rows_name service_type_names[] = {
    {"longtermsupportnursingcare", SERVICE(NURSING)},
    {"nursingcare", SERVICE(NURSING)},
    {"nursing", SERVICE(NURSING)},
    {"longtermsupportresidentialcare", SERVICE(RESIDENTIAL)},
    {"residentialcare", SERVICE(RESIDENTIAL)},
    {"residential", SERVICE(RESIDENTIAL)},
    {"longtermsupportcommunity", SERVICE(COMMUNITY)},
    {"community", SERVICE(COMMUNITY)},
    {"communitysupport", SERVICE(COMMUNITY)},
    {"shorttermsupportstmax", SERVICE(SHORT_TERM_REABLEMENT)},
    {"stmax", SERVICE(SHORT_TERM_REABLEMENT)},
    {"shorttermreablement", SERVICE(SHORT_TERM_REABLEMENT)},
    {"reablement", SERVICE(SHORT_TERM_REABLEMENT)},
};

#define SECTOR(x) COMMISSIONING__SECTOR__SECTOR_##x
static const struct rows_name sector_names[] = {
    {"generalandacute", SECTOR(GENERAL_AND_ACUTE)},
    {"generalacute", SECTOR(GENERAL_AND_ACUTE)},
    {"ganda", SECTOR(GENERAL_AND_ACUTE)},
    {"ga", SECTOR(GENERAL_AND_ACUTE)},
    {"mentalhealth", SECTOR(MENTAL_HEALTH)},
    {"learningdisability", SECTOR(LEARNING_DISABILITY)},
    {"learningdisabilities", SECTOR(LEARNING_DISABILITY)},
    {"maternity", SECTOR(MATERNITY)},
    {"dementiaemi", SECTOR(DEMENTIA_EMI)},
    {"dementia", SECTOR(DEMENTIA_EMI)},
    {"emi", SECTOR(DEMENTIA_EMI)},
    {"emidementia", SECTOR(DEMENTIA_EMI)},
    {"dementiacare", SECTOR(DEMENTIA_EMI)},
    {"residential", SECTOR(RESIDENTIAL)},
    {"residentialhome", SECTOR(RESIDENTIAL)},
    {"residentialcare", SECTOR(RESIDENTIAL)},
    {"nursing", SECTOR(NURSING)},
    {"nursinghome", SECTOR(NURSING)},
    {"nursingcare", SECTOR(NURSING)},
    {"carehomewithnursing", SECTOR(NURSING)},
};

#define ROLE(x) COMMISSIONING__ORG_ROLE__ORG_ROLE_##x
/* Our names, ODS's role names and ODS role codes (ORD "RO..."). */
static const struct rows_name role_names[] = {
    {"region", ROLE(REGION)},
    {"nhsenglandregion", ROLE(REGION)},
    {"ro209", ROLE(REGION)},
    {"icb", ROLE(ICB)},
    {"integratedcareboard", ROLE(ICB)},
    {"ro318", ROLE(ICB)},
    {"subicb", ROLE(SUB_ICB)},
    {"subicblocation", ROLE(SUB_ICB)},
    {"ccg", ROLE(SUB_ICB)},
    {"clinicalcommissioninggroup", ROLE(SUB_ICB)},
    {"ro98", ROLE(SUB_ICB)},
    {"ro319", ROLE(SUB_ICB)},
    {"trust", ROLE(TRUST)},
    {"nhstrust", ROLE(TRUST)},
    {"caretrust", ROLE(TRUST)},
    {"foundationtrust", ROLE(TRUST)},
    {"ro197", ROLE(TRUST)},
    {"ro107", ROLE(TRUST)},
    {"ro57", ROLE(TRUST)},
    {"trustsite", ROLE(TRUST_SITE)},
    {"site", ROLE(TRUST_SITE)},
    {"nhstrustsite", ROLE(TRUST_SITE)},
    {"caretrustsite", ROLE(TRUST_SITE)},
    {"independentsectorhcprovidersite", ROLE(TRUST_SITE)},
    {"ro198", ROLE(TRUST_SITE)},
    {"ro108", ROLE(TRUST_SITE)},
    {"ro176", ROLE(TRUST_SITE)},
    {"gppractice", ROLE(GP_PRACTICE)},
    {"gp", ROLE(GP_PRACTICE)},
    {"ro76", ROLE(GP_PRACTICE)},
    {"independentprovider", ROLE(INDEPENDENT_PROVIDER)},
    {"independentsectorprovider", ROLE(INDEPENDENT_PROVIDER)},
    {"independentsectorhealthcareprovider", ROLE(INDEPENDENT_PROVIDER)},
    {"ro172", ROLE(INDEPENDENT_PROVIDER)},
    {"localauthority", ROLE(LOCAL_AUTHORITY)},
    {"council", ROLE(LOCAL_AUTHORITY)},
    {"ro141", ROLE(LOCAL_AUTHORITY)},
    {"carehome", ROLE(CARE_HOME)},
    {"ro269", ROLE(CARE_HOME)},
};

/* The role a code's format gives it, where the format says. */
static const struct {
	unsigned kind;
	int role;
} role_of_kind[] = {
    {IDS_KIND_REGION, ROLE(REGION)},
    {IDS_KIND_ICB, ROLE(ICB)},
    {IDS_KIND_SUB_ICB, ROLE(SUB_ICB)},
    {IDS_KIND_TRUST, ROLE(TRUST)},
    {IDS_KIND_SITE, ROLE(TRUST_SITE)},
    {IDS_KIND_GP_PRACTICE, ROLE(GP_PRACTICE)},
    {IDS_KIND_INDEPENDENT_PROVIDER, ROLE(INDEPENDENT_PROVIDER)},
    {IDS_KIND_LOCAL_AUTHORITY, ROLE(LOCAL_AUTHORITY)},
    {IDS_KIND_CARE_HOME, ROLE(CARE_HOME)},
};

/*
 * A role from the code's format when the file gives none. Only a site and
 * a merged sub-ICB location share a format (RXC01, five characters): an
 * ICB parent makes it a sub-ICB location, anything else a site.
 */
static int
rows_infer_role(const char *code, const char *parent)
{
	unsigned kinds = ids_kinds_of(code);

	if ((kinds & IDS_KIND_SITE) && (kinds & IDS_KIND_SUB_ICB))
		kinds = ids_is_icb(parent) ? IDS_KIND_SUB_ICB : IDS_KIND_SITE;
	for (size_t i = 0; i < nitems(role_of_kind); i++)
		if (kinds == role_of_kind[i].kind)
			return role_of_kind[i].role;
	return 0;
}

/*
 * A fixed-set value must be clean text (event_text_fault_at): the names
 * are matched by rows_normalise, which skips every byte that is not an
 * ASCII letter or digit, so a Latin-1 "Nurs\xe9ing" (a file not saved as
 * UTF-8) would otherwise read as "nursing". UTF-8 text, a no-break space
 * pasted from a spreadsheet say, is skipped like punctuation. Fail naming
 * the first byte that is not clean.
 */
static int
row_fixed_set_text(struct row_context *ctx, int column, const char *what)
{
	const char *v = ctx->value[column];
	size_t len = strlen(v), at = event_text_fault_at(v, len);
	unsigned char byte = (unsigned char)v[at];

	if (at == len)
		return 0;
	if (byte < 0x80 || byte == 0xc2) /* C0, DEL; C1 as UTF-8 */
		return row_fail(ctx, column, "byte %zu begins a control character: not %s "
		    "this feed knows", at + 1, what);
	return row_fail(ctx, column, "byte %zu is 0x%02x, not UTF-8 text: not %s this feed "
	    "knows (is the file saved as UTF-8?)", at + 1, byte, what);
}

/* An optional value of a fixed set; *value 0 when the row has none. */
static int
row_enum(struct row_context *ctx, int column, const struct rows_name *names, size_t n,
    const char *prefix, const char *what, int *value)
{
	char shown[64];

	*value = 0;
	if (ctx->value[column][0] == '\0') {
		ctx->canonical[column] = "";
		return 0;
	}
	if (row_fixed_set_text(ctx, column, what) != 0)
		return -1;
	if (rows_lookup(names, n, prefix, ctx->value[column], value) != 0)
		return row_fail(ctx, column, "%s is not %s this feed knows (docs/SPOOL.md)",
		    event_value_shown(ctx->value[column], shown, sizeof(shown)), what);
	(void)snprintf(row_canonical_buf(ctx, column), ROWS_CANONICAL_BUFSIZE, "%d", *value);
	return 0;
}

/* The discharge pathway: 0-3, written "2", "P2" or "Pathway 2". */
static int
row_pathway(struct row_context *ctx, int column, int64_t *pathway)
{
	char norm[ROWS_NAME_MAX_BYTES + 1] = "", shown[64];
	const char *p = norm;

	if (row_required(ctx, column) != 0)
		return -1;
	if (row_fixed_set_text(ctx, column, "a discharge pathway") != 0)
		return -1;
	if (rows_normalise(ctx->value[column], norm, sizeof(norm)) != 0 || norm[0] == '\0')
		return row_fail(ctx, column, "not a discharge pathway (0, 1, 2 or 3)");
	if (memcmp(p, "pathway", 7) == 0) /* norm is zero-filled: no read past it */
		p += 7;
	else if (*p == 'p')
		p++;
	if (!(p[0] >= '0' && p[0] <= '3' && p[1] == '\0'))
		return row_fail(ctx, column, "%s is not a discharge pathway (0, 1, 2 or 3)",
		    event_value_shown(ctx->value[column], shown, sizeof(shown)));
	*pathway = p[0] - '0';
	(void)snprintf(
	    row_canonical_buf(ctx, column), ROWS_CANONICAL_BUFSIZE, "%lld", (long long)*pathway);
	return 0;
}

/*
 * A package id must not carry person data: ten digits that make a valid
 * NHS number (spaces between them allowed) are refused.
 */
static bool
rows_holds_nhs_number(const char *text)
{
	for (const char *start = text; *start != '\0'; start++) {
		char digits[IDS_NHS_NUMBER_DIGITS + 1];
		size_t n = 0;
		bool found;

		if (!rows_is_digit(*start) || (start > text && rows_is_digit(start[-1])))
			continue;
		for (const char *p = start; *p != '\0' && n < IDS_NHS_NUMBER_DIGITS; p++) {
			if (rows_is_digit(*p))
				digits[n++] = *p;
			else if (*p != ' ')
				break;
		}
		digits[n] = '\0';
		found = n == IDS_NHS_NUMBER_DIGITS && ids_is_nhs_number(digits);
		sodium_memzero(digits, sizeof(digits));
		if (found)
			return true;
		/* Also a number starting inside a longer run of digits. */
		for (const char *p = start + 1; rows_is_digit(*p); p++) {
			size_t m = 0;

			for (const char *q = p; rows_is_digit(*q) && m < IDS_NHS_NUMBER_DIGITS; q++)
				digits[m++] = *q;
			digits[m] = '\0';
			found = m == IDS_NHS_NUMBER_DIGITS && ids_is_nhs_number(digits);
			sodium_memzero(digits, sizeof(digits));
			if (found)
				return true;
		}
	}
	return false;
}

/* ---------------------------------------------------- building envelopes */

/* The event id: hex BLAKE2b-128 of the kind and every column's
 * normalised value, in the kind's column order, each ended by NUL. */
static void
row_make_id(struct row_context *ctx)
{
	const struct spool_kind_def *def = spool_kind_def_of(ctx->info->kind);
	crypto_generichash_state state;
	uint8_t hash[ROWS_ID_HASH_BYTES];

	crypto_generichash_init(&state, NULL, 0, sizeof(hash));
	crypto_generichash_update(&state, (const uint8_t *)def->name, strlen(def->name) + 1);
	for (size_t i = 0; i < def->n_columns; i++) {
		const char *v = ctx->canonical[i] != NULL ? ctx->canonical[i] : "";

		crypto_generichash_update(&state, (const uint8_t *)v, strlen(v) + 1);
	}
	crypto_generichash_final(&state, hash, sizeof(hash));
	sodium_bin2hex(ctx->id, sizeof(ctx->id), hash, sizeof(hash));
}

static char *
row_strdup(struct row_context *ctx, const char *text)
{
	char *copy = strdup(text);

	if (copy == NULL)
		ctx->out_of_memory = true;
	return copy;
}

static void *
row_alloc(struct row_context *ctx, size_t size)
{
	void *p = calloc(1, size);

	if (p == NULL)
		ctx->out_of_memory = true;
	return p;
}

/*
 * A new Envelope in ctx->env, event id "<id>:<suffix>", its occurred_at
 * taken from column occurred_column (for faults). NULL when out of memory.
 */
static Commissioning__Envelope *
row_envelope_new(
    struct row_context *ctx, const char *suffix, int64_t occurred_at, int occurred_column)
{
	Commissioning__Envelope *env;
	char event_id[EVENT_ID_MAX_BYTES + 1];

	env = row_alloc(ctx, sizeof(*env));
	if (env == NULL)
		return NULL;
	commissioning__envelope__init(env);
	ctx->occurred_column[ctx->n_env] = occurred_column;
	ctx->env[ctx->n_env++] = env;
	(void)snprintf(event_id, sizeof(event_id), "%s:%s", ctx->id, suffix);
	env->source = row_strdup(ctx, ctx->info->source);
	env->event_id = row_strdup(ctx, event_id);
	env->occurred_at = occurred_at;
	env->schema_version = SPOOL_SCHEMA_VERSION;
	return env;
}

/* A string field: the text, or left at the proto's default when empty. */
static void
row_set_text(struct row_context *ctx, char **field, const char *text)
{
	if (text[0] != '\0')
		*field = row_strdup(ctx, text);
}

static void
row_set_pseudonym(
    struct row_context *ctx, ProtobufCBinaryData *field, const uint8_t pseudonym[PSEUDONYM_BYTES])
{
	field->data = row_alloc(ctx, PSEUDONYM_BYTES);
	if (field->data == NULL)
		return;
	memcpy(field->data, pseudonym, PSEUDONYM_BYTES);
	field->len = PSEUDONYM_BYTES;
}

/* --------------------------------------------------------- care packages */

struct package_values {
	uint8_t pseudonym[PSEUDONYM_BYTES];
	int service_type;
	double hours;
	bool hours_given;
	int64_t cost;
	bool cost_given;
	int32_t start_day, end_day, report_day;
	bool start_given, end_given, report_given;
};

static Commissioning__CarePackage *
row_care_package_new(struct row_context *ctx, const struct package_values *v)
{
	Commissioning__CarePackage *p = row_alloc(ctx, sizeof(*p));

	if (p == NULL)
		return NULL;
	commissioning__care_package__init(p);
	row_set_pseudonym(ctx, &p->patient_pseudonym, v->pseudonym);
	row_set_text(ctx, &p->council, ctx->value[PACKAGE_COUNCIL]);
	row_set_text(ctx, &p->package_id, ctx->value[PACKAGE_ID]);
	p->service_type = v->service_type;
	if (v->hours_given) {
		p->opt_hours_per_week_case =
		    COMMISSIONING__CARE_PACKAGE__OPT_HOURS_PER_WEEK_HOURS_PER_WEEK;
		p->hours_per_week = v->hours;
	}
	if (v->cost_given) {
		p->opt_weekly_cost_case = COMMISSIONING__CARE_PACKAGE__OPT_WEEKLY_COST_WEEKLY_COST;
		p->weekly_cost = v->cost;
	}
	row_set_text(ctx, &p->start_date, ctx->canonical[PACKAGE_START_DATE]);
	row_set_text(ctx, &p->end_date, ctx->canonical[PACKAGE_END_DATE]);
	return p;
}

/*
 * Started at the start date, ended at the end date, both at midnight
 * London; a report date, when the file has one, times both instead.
 */
static int
map_care_package(struct row_context *ctx)
{
	struct package_values v;
	Commissioning__Envelope *env;
	int32_t day;
	int column;

	memset(&v, 0, sizeof(v));
	if (row_nhs_number(ctx, PACKAGE_NHS_NUMBER, v.pseudonym) != 0 ||
	    row_required(ctx, PACKAGE_COUNCIL) != 0 || row_required(ctx, PACKAGE_ID) != 0)
		return -1;
	row_code(ctx, PACKAGE_COUNCIL);
	row_text(ctx, PACKAGE_ID);
	if (rows_holds_nhs_number(ctx->value[PACKAGE_ID]))
		return row_fail(ctx, PACKAGE_ID,
		    "holds an NHS number; a package id must not "
		    "carry person data");
	if (row_enum(ctx, PACKAGE_SERVICE_TYPE, service_type_names, nitems(service_type_names),
	        "carepackagetype", "a service type", &v.service_type) != 0 ||
	    row_hours(ctx, PACKAGE_HOURS_PER_WEEK, &v.hours, &v.hours_given) != 0 ||
	    row_money_pence(ctx, PACKAGE_WEEKLY_COST, &v.cost, &v.cost_given) != 0 ||
	    row_date(ctx, PACKAGE_START_DATE, true, &v.start_day, &v.start_given) != 0 ||
	    row_date(ctx, PACKAGE_END_DATE, false, &v.end_day, &v.end_given) != 0 ||
	    row_date(ctx, PACKAGE_REPORT_DATE, false, &v.report_day, &v.report_given) != 0)
		return -1;
	row_make_id(ctx);

	day = v.report_given ? v.report_day : v.start_day;
	column = v.report_given ? PACKAGE_REPORT_DATE : PACKAGE_START_DATE;
	env = row_envelope_new(ctx, "started", rows_occurred_at_of_day(day), column);
	if (env == NULL)
		return 0;
	env->event_case = COMMISSIONING__ENVELOPE__EVENT_CARE_PACKAGE_STARTED;
	env->care_package_started = row_care_package_new(ctx, &v);
	if (!v.end_given)
		return 0;
	day = v.report_given ? v.report_day : v.end_day;
	column = v.report_given ? PACKAGE_REPORT_DATE : PACKAGE_END_DATE;
	env = row_envelope_new(ctx, "ended", rows_occurred_at_of_day(day), column);
	if (env == NULL)
		return 0;
	env->event_case = COMMISSIONING__ENVELOPE__EVENT_CARE_PACKAGE_ENDED;
	env->care_package_ended = row_care_package_new(ctx, &v);
	return 0;
}

/* ------------------------------------------------------ discharge ready */

/* Timed at the report date when the file has one (a daily list: the
 * latest report's pathway stands), else at the discharge ready date. */
static int
map_ready_for_discharge(struct row_context *ctx)
{
	uint8_t pseudonym[PSEUDONYM_BYTES];
	Commissioning__ReadyForDischarge *ready;
	Commissioning__Envelope *env;
	int32_t ready_day, report_day;
	bool ready_given, report_given;
	int64_t pathway = 0;

	if (row_nhs_number(ctx, READY_NHS_NUMBER, pseudonym) != 0 ||
	    row_required(ctx, READY_PROVIDER) != 0)
		return -1;
	row_code(ctx, READY_PROVIDER);
	if (row_date(ctx, READY_DATE, true, &ready_day, &ready_given) != 0 ||
	    row_pathway(ctx, READY_PATHWAY, &pathway) != 0)
		return -1;
	row_code(ctx, READY_COUNCIL);
	if (row_date(ctx, READY_REPORT_DATE, false, &report_day, &report_given) != 0)
		return -1;
	row_make_id(ctx);

	env = row_envelope_new(ctx, "ready",
	    rows_occurred_at_of_day(report_given ? report_day : ready_day),
	    report_given ? READY_REPORT_DATE : READY_DATE);
	if (env == NULL)
		return 0;
	ready = row_alloc(ctx, sizeof(*ready));
	if (ready == NULL)
		return 0;
	commissioning__ready_for_discharge__init(ready);
	env->event_case = COMMISSIONING__ENVELOPE__EVENT_READY_FOR_DISCHARGE;
	env->ready_for_discharge = ready;
	row_set_pseudonym(ctx, &ready->patient_pseudonym, pseudonym);
	row_set_text(ctx, &ready->provider, ctx->value[READY_PROVIDER]);
	row_set_text(ctx, &ready->ready_date, ctx->canonical[READY_DATE]);
	ready->opt_pathway_case = COMMISSIONING__READY_FOR_DISCHARGE__OPT_PATHWAY_PATHWAY;
	ready->pathway = pathway;
	row_set_text(ctx, &ready->council, ctx->value[READY_COUNCIL]);
	return 0;
}

/* ------------------------------------------------------------- capacity */

/*
 * Beds available: the beds-available column when the row gives it; else
 * occupied plus vacant beds accepting admissions (so the daemon's vacant
 * beds are the Capacity Tracker's vacancies that can take someone); else
 * the maximum capacity. Occupied is required. Timed at its as-of.
 */
static int
map_capacity(struct row_context *ctx)
{
	Commissioning__CapacityReported *capacity;
	Commissioning__Envelope *env;
	int64_t available, maximum, vacant, occupied, as_of = 0;
	bool available_given, maximum_given, vacant_given, occupied_given;
	int sector;

	if (row_required(ctx, CAPACITY_ORGANISATION) != 0)
		return -1;
	row_code(ctx, CAPACITY_ORGANISATION);
	if (row_required(ctx, CAPACITY_SECTOR) != 0 ||
	    row_enum(ctx, CAPACITY_SECTOR, sector_names, nitems(sector_names), "sector", "a sector",
	        &sector) != 0 ||
	    row_count(ctx, CAPACITY_BEDS_AVAILABLE, &available, &available_given) != 0 ||
	    row_count(ctx, CAPACITY_MAXIMUM, &maximum, &maximum_given) != 0 ||
	    row_count(ctx, CAPACITY_VACANT, &vacant, &vacant_given) != 0 ||
	    row_count(ctx, CAPACITY_OCCUPIED, &occupied, &occupied_given) != 0)
		return -1;
	if (!occupied_given)
		return row_fail(ctx, CAPACITY_OCCUPIED, "missing (required)");
	if (available_given) {
		ctx->available_column = CAPACITY_BEDS_AVAILABLE;
	} else if (vacant_given) {
		available = occupied + vacant;
		ctx->available_column = CAPACITY_VACANT;
	} else if (maximum_given) {
		available = maximum;
		ctx->available_column = CAPACITY_MAXIMUM;
	} else {
		int column = CAPACITY_BEDS_AVAILABLE;

		while (column < CAPACITY_VACANT && ctx->info->column_index[column] < 0)
			column++;
		return row_fail(ctx, column,
		    "missing (required): the row needs beds available, "
		    "maximum capacity or vacant beds accepting admissions");
	}
	if (row_time(ctx, CAPACITY_AS_OF, &as_of) != 0)
		return -1;
	row_make_id(ctx);

	env = row_envelope_new(ctx, "reported", as_of, CAPACITY_AS_OF);
	if (env == NULL)
		return 0;
	capacity = row_alloc(ctx, sizeof(*capacity));
	if (capacity == NULL)
		return 0;
	commissioning__capacity_reported__init(capacity);
	env->event_case = COMMISSIONING__ENVELOPE__EVENT_CAPACITY_REPORTED;
	env->capacity_reported = capacity;
	row_set_text(ctx, &capacity->organisation, ctx->value[CAPACITY_ORGANISATION]);
	capacity->sector = sector;
	capacity->opt_beds_available_case =
	    COMMISSIONING__CAPACITY_REPORTED__OPT_BEDS_AVAILABLE_BEDS_AVAILABLE;
	capacity->beds_available = available;
	capacity->opt_beds_occupied_case =
	    COMMISSIONING__CAPACITY_REPORTED__OPT_BEDS_OCCUPIED_BEDS_OCCUPIED;
	capacity->beds_occupied = occupied;
	capacity->as_of = as_of;
	return 0;
}

/* ---------------------------------------------------------- organisations */

/*
 * Registered; timed at the report (last change) date when the file has
 * one, else the later of the open and close dates (a record that closes
 * the organisation comes after the one that opened it), else 2000-01-01.
 */
static int
map_organisation(struct row_context *ctx)
{
	Commissioning__Organisation *org;
	Commissioning__Envelope *env;
	int32_t open_day, close_day, report_day, day = ROWS_OCCURRED_FIRST_DAY;
	bool open_given, close_given, report_given;
	int role, column = -1;

	if (row_required(ctx, ORG_CODE) != 0)
		return -1;
	row_code(ctx, ORG_CODE);
	row_text(ctx, ORG_NAME);
	row_code(ctx, ORG_PARENT);
	if (row_enum(ctx, ORG_ROLE, role_names, nitems(role_names), "orgrole", "a role", &role) !=
	    0)
		return -1;
	if (role == 0) {
		role = rows_infer_role(ctx->value[ORG_CODE], ctx->value[ORG_PARENT]);
		if (role == 0)
			return row_fail(ctx, ORG_CODE,
			    "no role given, and the code's format "
			    "fits no single kind of organisation");
	}
	if (row_date(ctx, ORG_OPEN_DATE, false, &open_day, &open_given) != 0 ||
	    row_date(ctx, ORG_CLOSE_DATE, false, &close_day, &close_given) != 0 ||
	    row_date(ctx, ORG_REPORT_DATE, false, &report_day, &report_given) != 0)
		return -1;
	if (report_given) {
		day = report_day;
		column = ORG_REPORT_DATE;
	} else if (close_given && (!open_given || close_day >= open_day)) {
		day = close_day;
		column = ORG_CLOSE_DATE;
	} else if (open_given) {
		day = open_day;
		column = ORG_OPEN_DATE;
	}
	row_make_id(ctx);

	env = row_envelope_new(ctx, "registered", rows_occurred_at_of_day(day), column);
	if (env == NULL)
		return 0;
	org = row_alloc(ctx, sizeof(*org));
	if (org == NULL)
		return 0;
	commissioning__organisation__init(org);
	env->event_case = COMMISSIONING__ENVELOPE__EVENT_ORGANISATION_REGISTERED;
	env->organisation_registered = org;
	row_set_text(ctx, &org->code, ctx->value[ORG_CODE]);
	org->role = role;
	row_set_text(ctx, &org->name, ctx->value[ORG_NAME]);
	row_set_text(ctx, &org->parent_code, ctx->value[ORG_PARENT]);
	row_set_text(ctx, &org->active_from, ctx->canonical[ORG_OPEN_DATE]);
	row_set_text(ctx, &org->active_to, ctx->canonical[ORG_CLOSE_DATE]);
	return 0;
}

/* ----------------------------------------------------------- the header */

struct header_match {
	int index[SPOOL_KIND_MAX_COLUMNS];
	int duplicate[SPOOL_KIND_MAX_COLUMNS]; /* a second header field, or -1 */
	size_t required, present;              /* IN_HEADER columns and groups */
	bool fits;
};

static void
header_match_kind(
    const struct spool_kind_def *def, const struct csv_row *header, struct header_match *m)
{
	unsigned groups_needed = 0, groups_present = 0;

	memset(m, 0, sizeof(*m));
	for (size_t c = 0; c < SPOOL_KIND_MAX_COLUMNS; c++)
		m->index[c] = m->duplicate[c] = -1;
	for (size_t h = 0; h < header->n_fields; h++) {
		char norm[ROWS_NAME_MAX_BYTES + 1];
		const char *text = csv_row_field(header, h);

		if (strlen(text) > ROWS_NAME_MAX_BYTES ||
		    rows_normalise(text, norm, sizeof(norm)) != 0 || norm[0] == '\0')
			continue;
		for (size_t c = 0; c < def->n_columns; c++) {
			bool match = false;

			for (size_t a = 0; a < ROWS_ALIASES_MAX && def->columns[c].aliases[a]; a++)
				if (strcmp(def->columns[c].aliases[a], norm) == 0)
					match = true;
			if (!match)
				continue;
			if (m->index[c] < 0)
				m->index[c] = (int)h;
			else if (m->duplicate[c] < 0)
				m->duplicate[c] = (int)h;
			break;
		}
	}
	for (size_t c = 0; c < def->n_columns; c++) {
		const struct spool_column *col = &def->columns[c];

		if (col->flags & COLUMN_IN_HEADER) {
			m->required++;
			if (m->index[c] >= 0)
				m->present++;
		}
		if (col->group != 0) {
			groups_needed |= 1u << col->group;
			if (m->index[c] >= 0)
				groups_present |= 1u << col->group;
		}
	}
	for (unsigned g = 1; g < 32; g++)
		if (groups_needed & (1u << g)) {
			m->required++;
			if (groups_present & (1u << g))
				m->present++;
		}
	m->fits = m->present == m->required;
}

/* "package_id, start_date": the columns def needs that the header lacks. */
static void
header_missing(
    const struct spool_kind_def *def, const struct header_match *m, char *buf, size_t size)
{
	size_t n = 0;
	unsigned groups_listed = 0;

	buf[0] = '\0';
	for (size_t c = 0; c < def->n_columns && n < size; c++) {
		const struct spool_column *col = &def->columns[c];
		bool group_missing = true;
		int w;

		if (col->group != 0) {
			if (groups_listed & (1u << col->group))
				continue;
			groups_listed |= 1u << col->group;
			for (size_t d = 0; d < def->n_columns; d++)
				if (def->columns[d].group == col->group && m->index[d] >= 0)
					group_missing = false;
			if (!group_missing)
				continue;
			w = snprintf(buf + n, size - n, "%sone of", n ? ", " : "");
			for (size_t d = 0; d < def->n_columns && w >= 0; d++)
				if (def->columns[d].group == col->group && (size_t)w < size - n)
					w += snprintf(buf + n + w, size - n - (size_t)w, " %s",
					    def->columns[d].name);
		} else if ((col->flags & COLUMN_IN_HEADER) && m->index[c] < 0) {
			w = snprintf(buf + n, size - n, "%s%s", n ? ", " : "", col->name);
		} else {
			continue;
		}
		if (w < 0)
			break;
		n += (size_t)w;
	}
}

static int header_fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
header_fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (err == NULL || errlen == 0)
		return -1;
	va_start(ap, fmt);
	n = vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	if ((n < 0 || (size_t)n >= errlen) && errlen >= 4)
		memcpy(err + errlen - 4, "...", 4);
	return -1;
}

/* The column of def named name ("nhs_number"), or -1. */
static int
header_kind_column(const struct spool_kind_def *def, const char *name)
{
	for (size_t c = 0; c < def->n_columns; c++)
		if (strcmp(def->columns[c].name, name) == 0)
			return (int)c;
	return -1;
}

int
spool_kind_of_header(
    const struct csv_row *header, struct spool_kind_info *out, char *err, size_t errlen)
{
	struct header_match match[nitems(spool_kinds)];
	size_t fitting = 0, chosen = 0, nearest = 0;
	const struct spool_kind_def *def;
	const char *refused = NULL; /* a kind without person data that fitted */
	int nhs_field = -1;         /* the header's NHS number column */
	char missing[200], why[160] = "";

	memset(out, 0, sizeof(*out));
	for (size_t k = 0; k < nitems(spool_kinds); k++) {
		int c = header_kind_column(&spool_kinds[k], "nhs_number");

		header_match_kind(&spool_kinds[k], header, &match[k]);
		if (c >= 0 && match[k].index[c] >= 0)
			nhs_field = match[k].index[c];
	}
	/* A file of people is never read as a kind without person data: a
	 * discharge list whose provider column is named otherwise fits
	 * organisations, and each person's name would go (and be published)
	 * as an organisation's. Such a kind is taken as matching nothing. */
	for (size_t k = 0; nhs_field >= 0 && k < nitems(spool_kinds); k++) {
		if (header_kind_column(&spool_kinds[k], "nhs_number") >= 0)
			continue;
		if (match[k].fits && refused == NULL)
			refused = spool_kinds[k].name;
		match[k].fits = false;
		match[k].present = 0;
	}
	for (size_t k = 0; k < nitems(spool_kinds); k++) {
		if (match[k].fits) {
			if (fitting == 0)
				chosen = k;
			fitting++;
		}
		if (match[k].present * match[nearest].required >
		    match[nearest].present * match[k].required)
			nearest = k;
	}
	if (refused != NULL)
		(void)snprintf(why, sizeof(why),
		    "; it has an NHS number column (field %d), so it is never read as %s, a kind "
		    "without person data",
		    nhs_field + 1, refused);
	if (fitting > 1) {
		size_t second = chosen + 1;

		while (!match[second].fits)
			second++;
		return header_fail(err, errlen,
		    "the header fits more than one kind of file (%s "
		    "and %s); see docs/SPOOL.md",
		    spool_kinds[chosen].name, spool_kinds[second].name);
	}
	if (fitting == 0 && match[nearest].present == 0 && header->n_fields == 1 &&
	    strpbrk(csv_row_field(header, 0), "\t;|") != NULL) {
		const char *cell = csv_row_field(header, 0);

		return header_fail(err, errlen,
		    "the header fits no kind of file: it is one field holding %s; the "
		    "file must be comma-separated (save it as \"CSV UTF-8 (Comma "
		    "delimited)\"; docs/SPOOL.md)",
		    strchr(cell, '\t') != NULL ? "tabs" :
		    strchr(cell, ';') != NULL  ? "semicolons" :
		                                 "pipes");
	}
	if (fitting == 0 && match[nearest].present == 0)
		return header_fail(err, errlen,
		    "the header fits no kind of file: it names none of the columns of "
		    "care_packages, discharge_ready, care_home_capacity or organisations "
		    "(docs/SPOOL.md)");
	if (fitting == 0) {
		header_missing(&spool_kinds[nearest], &match[nearest], missing, sizeof(missing));
		return header_fail(err, errlen,
		    "the header fits no kind of file: the nearest, "
		    "%s, needs the columns %s (docs/SPOOL.md)%s",
		    spool_kinds[nearest].name, missing, why);
	}
	def = &spool_kinds[chosen];
	for (size_t c = 0; c < def->n_columns; c++)
		if (match[chosen].duplicate[c] >= 0)
			return header_fail(err, errlen,
			    "%s: the column %s appears twice (fields %d "
			    "and %d)",
			    def->name, def->columns[c].name, match[chosen].index[c] + 1,
			    match[chosen].duplicate[c] + 1);
	out->kind = def->kind;
	out->name = def->name;
	out->source = def->source;
	out->n_fields = header->n_fields;
	out->n_columns = def->n_columns;
	for (size_t c = 0; c < SPOOL_KIND_MAX_COLUMNS; c++) {
		out->column_index[c] = c < def->n_columns ? match[chosen].index[c] : -1;
		if (out->column_index[c] < 0)
			continue;
		/* For the errors file, which is UTF-8. */
		rows_copy_trimmed(csv_row_field(header, (size_t)out->column_index[c]),
		    out->column_name[c], sizeof(out->column_name[c]));
		rows_make_text(out->column_name[c]);
	}
	return 0;
}

/* -------------------------------------------------------------- a row */

/* The column an event_check fault names, by the event field. */
static int
row_column_of_field(const struct row_context *ctx, const struct spool_kind_def *def,
    const char *field, int env_index)
{
	if (strcmp(field, "occurred_at") == 0)
		return ctx->occurred_column[env_index];
	if (strcmp(field, "beds_available") == 0)
		return ctx->available_column;
	for (size_t c = 0; c < def->n_columns; c++)
		if (strcmp(def->columns[c].field, field) == 0)
			return (int)c;
	return -1;
}

static void
row_free_envelopes(struct row_context *ctx)
{
	for (int i = 0; i < ctx->n_env; i++)
		spool_envelope_free(&ctx->env[i]);
	ctx->n_env = 0;
}

/* Every Envelope through event_check; a fault is the row's, by column. */
static int
row_check_envelopes(struct row_context *ctx, const struct spool_kind_def *def)
{
	for (int i = 0; i < ctx->n_env; i++) {
		struct check_error check;
		const char *reason;
		size_t field_len;
		int column;

		if (event_check(ctx->env[i], &check) == 0)
			continue;
		column = row_column_of_field(ctx, def, check.field, i);
		/* The reason starts "field: "; the errors file has the column. */
		reason = check.reason;
		field_len = strlen(check.field);
		if (strncmp(reason, check.field, field_len) == 0 &&
		    strncmp(reason + field_len, ": ", 2) == 0)
			reason += field_len + 2;
		return row_fail(ctx, column, "%s", reason);
	}
	return 0;
}

int
spool_row_to_envelopes(const struct spool_kind_info *info, const struct csv_row *row,
    const struct pseudonymiser *ps, Commissioning__Envelope **out, int max_out,
    struct spool_row_error *err)
{
	const struct spool_kind_def *def = spool_kind_def_of(info->kind);
	struct row_context *ctx;
	int n;

	memset(err, 0, sizeof(*err));
	err->line = row->line;
	if (def == NULL || max_out < SPOOL_MAX_ENVELOPES_PER_ROW) {
		(void)snprintf(err->reason, sizeof(err->reason),
		    "no file kind, or room for "
		    "fewer than %d events",
		    SPOOL_MAX_ENVELOPES_PER_ROW);
		return -1;
	}
	if (csv_row_is_blank(row))
		return 0;
	/* Large (a copy of each value): on the heap, not the stack. */
	ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL) {
		(void)snprintf(err->reason, sizeof(err->reason), "out of memory");
		return -1;
	}
	ctx->info = info;
	ctx->row = row;
	ctx->ps = ps;
	ctx->err = err;
	ctx->available_column = -1;
	if (row->n_fields != info->n_fields) {
		row_fail(ctx, -1,
		    "%zu fields; the header has %zu (every row has as many fields "
		    "as the header)",
		    row->n_fields, info->n_fields);
		goto fail;
	}
	for (size_t c = 0; c < def->n_columns; c++) {
		if (info->column_index[c] < 0)
			continue;
		/* Only in a column the kind reads: a long note elsewhere is
		 * no fault of the row. */
		if (csv_row_field_too_long(row, (size_t)info->column_index[c])) {
			row_fail(ctx, (int)c, "longer than %d bytes; no value of this column is",
			    CSV_MAX_FIELD_BYTES);
			goto fail;
		}
		rows_copy_trimmed(csv_row_field(row, (size_t)info->column_index[c]),
		    ctx->value[c], sizeof(ctx->value[c]));
	}
	if (def->map(ctx) != 0)
		goto fail;
	if (ctx->out_of_memory) {
		row_fail(ctx, -1, "out of memory");
		goto fail;
	}
	if (row_check_envelopes(ctx, def) != 0)
		goto fail;
	for (int i = 0; i < ctx->n_env; i++)
		out[i] = ctx->env[i];
	n = ctx->n_env;
	sodium_memzero(ctx, sizeof(*ctx));
	free(ctx);
	return n;
fail:
	row_free_envelopes(ctx);
	sodium_memzero(ctx, sizeof(*ctx));
	free(ctx);
	return -1;
}

void
spool_envelope_free(Commissioning__Envelope **env)
{
	if (*env != NULL)
		commissioning__envelope__free_unpacked(*env, NULL);
	*env = NULL;
}

/* ------------------------------------------------------ the errors file */

/* Append one RFC 4180 field: quoted when it holds a comma, a quote or a
 * line break; a leading = + - @ is made inert for spreadsheets. */
static int
errors_put_field(const char *text, char *buf, size_t size, size_t *n)
{
	bool quote = strpbrk(text, ",\"\r\n") != NULL;
	bool formula = text[0] == '=' || text[0] == '+' || text[0] == '-' || text[0] == '@';

#define PUT(c)                                                                                     \
	do {                                                                                       \
		if (*n + 1 >= size)                                                                \
			return -1;                                                                 \
		buf[(*n)++] = (c);                                                                 \
	} while (0)
	if (quote)
		PUT('"');
	if (formula)
		PUT('\'');
	for (const char *p = text; *p != '\0'; p++) {
		if (*p == '"')
			PUT('"');
		PUT(*p);
	}
	if (quote)
		PUT('"');
#undef PUT
	buf[*n] = '\0';
	return 0;
}

int
spool_errors_format_line(const struct spool_row_error *err, char *buf, size_t size)
{
	size_t n;
	int w;

	if (size == 0)
		return -ENOSPC;
	w = snprintf(buf, size, "%zu,", err->line);
	if (w < 0 || (size_t)w >= size)
		goto nospace;
	n = (size_t)w;
	if (errors_put_field(err->column, buf, size, &n) != 0 || n + 1 >= size)
		goto nospace;
	buf[n++] = ',';
	if (errors_put_field(err->reason, buf, size, &n) != 0 || n + 2 >= size)
		goto nospace;
	buf[n++] = '\r';
	buf[n++] = '\n';
	buf[n] = '\0';
	return (int)n;
nospace:
	buf[0] = '\0';
	return -ENOSPC;
}

void
spool_row_error_from_csv(const struct csv_error *csv_err, struct spool_row_error *err)
{
	memset(err, 0, sizeof(*err));
	err->line = csv_err->line;
	(void)snprintf(err->reason, sizeof(err->reason), "%s", csv_err->reason);
}

/* ----------------------------------------------------------- a whole file */

/*
 * Excel's "Unicode Text" and some exports write UTF-16: a byte order mark
 * (FF FE or FE FF), or, without one, a NUL beside every ASCII letter. Say
 * so, rather than that field 1 holds a NUL byte.
 */
static int
spool_utf16_fault(const char *buf, size_t len, char *err, size_t errlen)
{
	const unsigned char *b = (const unsigned char *)buf;

	if (len >= 2 && ((b[0] == 0xff && b[1] == 0xfe) || (b[0] == 0xfe && b[1] == 0xff)))
		return header_fail(err, errlen,
		    "the file is UTF-16 (it starts with a UTF-16 byte order mark), not "
		    "UTF-8: save it as \"CSV UTF-8 (Comma delimited)\" (docs/SPOOL.md)");
	if (len >= 4 && ((b[0] != 0 && b[1] == 0 && b[2] != 0 && b[3] == 0) ||
	                    (b[0] == 0 && b[1] != 0 && b[2] == 0 && b[3] != 0)))
		return header_fail(err, errlen,
		    "the file looks like UTF-16 (a NUL byte beside each of its first "
		    "letters), not UTF-8: save it as \"CSV UTF-8 (Comma delimited)\" "
		    "(docs/SPOOL.md)");
	return 0;
}

int
spool_read_buffer(const char *buf, size_t len, const struct pseudonymiser *ps,
    spool_envelope_fn on_envelope, spool_error_fn on_error, void *ctx,
    struct spool_file_summary *summary, char *err, size_t errlen)
{
	struct csv_reader reader;
	struct csv_row *header = NULL, *row = NULL;
	struct spool_kind_info info;
	struct csv_error csv_err;
	struct spool_row_error row_err;
	int rc = 0, got;

	memset(summary, 0, sizeof(*summary));
	header = malloc(sizeof(*header));
	row = malloc(sizeof(*row));
	if (header == NULL || row == NULL) {
		rc = header_fail(err, errlen, "out of memory");
		goto done;
	}
	if (spool_utf16_fault(buf, len, err, errlen) != 0) {
		rc = -1;
		goto done;
	}
	csv_reader_init(&reader, buf, len);
	got = csv_reader_next(&reader, header, &csv_err);
	if (got == 0) {
		rc = header_fail(err, errlen, "the file is empty: it needs a header row");
		goto done;
	}
	if (got < 0) {
		rc = header_fail(err, errlen, "line %zu: the header row cannot be read: %s",
		    csv_err.line, csv_err.reason);
		goto done;
	}
	if (spool_kind_of_header(header, &info, err, errlen) != 0) {
		rc = -1;
		goto done;
	}
	summary->kind = info.kind;
	while ((got = csv_reader_next(&reader, row, &csv_err)) != 0) {
		Commissioning__Envelope *envs[SPOOL_MAX_ENVELOPES_PER_ROW];
		int n;

		if (got < 0) {
			summary->rows++;
			summary->bad_rows++;
			spool_row_error_from_csv(&csv_err, &row_err);
			if (on_error != NULL && (rc = on_error(ctx, &row_err)) != 0)
				goto done;
			continue;
		}
		if (csv_row_is_blank(row))
			continue;
		summary->rows++;
		n = spool_row_to_envelopes(&info, row, ps, envs, (int)nitems(envs), &row_err);
		if (n < 0) {
			summary->bad_rows++;
			if (on_error != NULL && (rc = on_error(ctx, &row_err)) != 0)
				goto done;
			continue;
		}
		for (int i = 0; i < n; i++) {
			if (rc == 0 && (on_envelope == NULL ||
			                   (rc = on_envelope(ctx, envs[i], row->line)) == 0))
				summary->envelopes++;
			spool_envelope_free(&envs[i]);
		}
		if (rc != 0)
			goto done;
	}
done:
	if (row != NULL)
		sodium_memzero(row, sizeof(*row));
	free(header);
	free(row);
	return rc;
}
