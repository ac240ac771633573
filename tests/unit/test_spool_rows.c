/*
 * test_spool_rows: the spool's file kinds (docs/SPOOL.md): header
 * recognition, each kind's rows mapped to Envelopes, bad rows reported by
 * line and column, stable event ids, the errors file, and that no NHS
 * number leaves a row.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "pseudonym.h"
#include "rows.h"

#define MAX_COLLECTED 64

struct fixture {
	struct pseudonymiser *ps;
	struct csv_row header;
	struct csv_row row;
	struct spool_kind_info info;
	Commissioning__Envelope *env[SPOOL_MAX_ENVELOPES_PER_ROW];
	int n;
	struct spool_row_error err;
	char header_err[256];
};

/* What spool_read_buffer handed out, copied. */
struct collected {
	Commissioning__Envelope *env[MAX_COLLECTED];
	size_t env_line[MAX_COLLECTED];
	uint8_t *packed[MAX_COLLECTED];
	size_t packed_len[MAX_COLLECTED];
	int n_env;
	struct spool_row_error err[MAX_COLLECTED];
	int n_err;
};

static const uint8_t test_key[PSEUDONYM_KEY_BYTES] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
    15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

/* Every NHS number the test files and rows use. */
static const char *const nhs_numbers[] = {"9434765919", "9434765918", "9990000018", "9990000026",
    "9990000034", "9990000042", "9990000050", "9990000069", "9990000077", "9990000085"};

static void
free_envelopes(struct fixture *f)
{
	for (int i = 0; i < f->n; i++)
		spool_envelope_free(&f->env[i]);
	f->n = 0;
}

static int
setup(void **state)
{
	struct fixture *f;

	if (sodium_init() < 0)
		return -1;
	f = calloc(1, sizeof(*f));
	if (f == NULL)
		return -1;
	f->ps = pseudonymiser_from_key(test_key);
	if (f->ps == NULL) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	free_envelopes(f);
	pseudonymiser_destroy(&f->ps);
	free(f);
	return 0;
}

static void
read_one(const char *text, struct csv_row *row)
{
	struct csv_reader reader;
	struct csv_error err;

	csv_reader_init(&reader, text, strlen(text));
	assert_int_equal(csv_reader_next(&reader, row, &err), 1);
}

static int
kind_of(struct fixture *f, const char *header)
{
	read_one(header, &f->header);
	return spool_kind_of_header(&f->header, &f->info, f->header_err, sizeof(f->header_err));
}

/* Map one line under header; the Envelopes stay in f until the next. */
static int
map(struct fixture *f, const char *header, const char *line)
{
	assert_int_equal(kind_of(f, header), 0);
	read_one(line, &f->row);
	free_envelopes(f);
	f->n = spool_row_to_envelopes(
	    &f->info, &f->row, f->ps, f->env, SPOOL_MAX_ENVELOPES_PER_ROW, &f->err);
	if (f->n < 0) {
		f->n = 0;
		return -1;
	}
	return f->n;
}

static void
assert_bad(struct fixture *f, const char *header, const char *line, const char *column,
    const char *reason_part)
{
	assert_int_equal(map(f, header, line), -1);
	assert_string_equal(f->err.column, column);
	if (strstr(f->err.reason, reason_part) == NULL)
		fail_msg("reason \"%s\" lacks \"%s\"", f->err.reason, reason_part);
}

static void
assert_pseudonym_of(struct fixture *f, const ProtobufCBinaryData *got, const char *nhs_number)
{
	uint8_t want[PSEUDONYM_BYTES];

	assert_int_equal(pseudonym_from_nhs_number(f->ps, nhs_number, want), 0);
	assert_int_equal(got->len, PSEUDONYM_BYTES);
	assert_memory_equal(got->data, want, PSEUDONYM_BYTES);
}

static bool
find_bytes(const void *data, size_t len, const char *needle, size_t n)
{
	const char *d = data;

	for (size_t i = 0; n <= len && i <= len - n; i++)
		if (memcmp(d + i, needle, n) == 0)
			return true;
	return false;
}

/* Does text hold any of the NHS numbers the tests use? */
static bool
holds_nhs_number(const void *data, size_t len)
{
	for (size_t i = 0; i < sizeof(nhs_numbers) / sizeof(nhs_numbers[0]); i++)
		if (find_bytes(data, len, nhs_numbers[i], 10))
			return true;
	/* "999 000 0018" as one file writes it. */
	return find_bytes(data, len, "999 000", 7);
}

static bool
envelope_holds_nhs_number(const Commissioning__Envelope *env)
{
	size_t len = commissioning__envelope__get_packed_size(env);
	uint8_t *buf = malloc(len ? len : 1);
	bool found;

	assert_non_null(buf);
	commissioning__envelope__pack(env, buf);
	found = holds_nhs_number(buf, len);
	free(buf);
	return found;
}

static char *
read_test_file(const char *name, size_t *len)
{
	char path[256];
	FILE *fp;
	char *buf = malloc(65536);

	assert_non_null(buf);
	snprintf(path, sizeof(path), "tests/data/spool/%s", name);
	fp = fopen(path, "rb");
	if (fp == NULL)
		fail_msg("%s: %s", path, strerror(errno));
	*len = fread(buf, 1, 65536, fp);
	fclose(fp);
	return buf;
}

static int
collect_envelope(void *ctx, const Commissioning__Envelope *env, size_t line)
{
	struct collected *c = ctx;
	size_t len = commissioning__envelope__get_packed_size(env);
	uint8_t *buf = malloc(len ? len : 1);

	assert_non_null(buf);
	assert_true(c->n_env < MAX_COLLECTED);
	commissioning__envelope__pack(env, buf);
	c->env[c->n_env] = commissioning__envelope__unpack(NULL, len, buf);
	assert_non_null(c->env[c->n_env]);
	c->packed[c->n_env] = buf;
	c->packed_len[c->n_env] = len;
	c->env_line[c->n_env] = line;
	c->n_env++;
	return 0;
}

static int
collect_error(void *ctx, const struct spool_row_error *err)
{
	struct collected *c = ctx;

	assert_true(c->n_err < MAX_COLLECTED);
	c->err[c->n_err++] = *err;
	return 0;
}

static void
collected_free(struct collected *c)
{
	for (int i = 0; i < c->n_env; i++) {
		commissioning__envelope__free_unpacked(c->env[i], NULL);
		free(c->packed[i]);
	}
	memset(c, 0, sizeof(*c));
}

static int
read_file_into(struct fixture *f, const char *name, struct collected *c,
    struct spool_file_summary *summary, char *err, size_t errlen)
{
	size_t len;
	char *buf = read_test_file(name, &len);
	int rc;

	memset(c, 0, sizeof(*c));
	rc = spool_read_buffer(
	    buf, len, f->ps, collect_envelope, collect_error, c, summary, err, errlen);
	free(buf);
	return rc;
}

/* --------------------------------------------------------------- headers */

#define PACKAGE_HEADER                                                                             \
	"NHS Number,Council,Package ID,Service Type,Hours per week,Weekly cost,Start date,End "    \
	"date"
#define READY_HEADER "NHS Number,Provider Code,Discharge Ready Date,Pathway,LA Code"
#define CAPACITY_HEADER                                                                            \
	"CQC Location ID,Home Type,Maximum Capacity,Occupied Beds,Vacant Beds Accepting "          \
	"Admissions,Last Updated"
#define ORG_HEADER "Organisation Code,Name,Role,Parent Code,Open Date,Close Date"

static void
test_header_of_cld_extract_is_care_packages_and_extra_columns_are_ignored(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(kind_of(f, "LA_Code,Client_Type,Gender,NHS_Number,Event_Reference,"
	                            "Service_Type,Event_Start_Date,Event_End_Date"),
	    0);
	assert_int_equal(f->info.kind, SPOOL_KIND_CARE_PACKAGES);
	assert_string_equal(f->info.name, "care_packages");
	assert_string_equal(f->info.source, "spool:care_packages");
	assert_int_equal(f->info.n_fields, 8);
	assert_string_equal(spool_kind_name(f->info.kind), "care_packages");
}

static void
test_header_of_sitrep_is_discharge_ready(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(kind_of(f, READY_HEADER), 0);
	assert_int_equal(f->info.kind, SPOOL_KIND_DISCHARGE_READY);
	assert_string_equal(f->info.source, "spool:discharge_ready");
}

static void
test_header_of_capacity_tracker_needs_one_beds_column(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(kind_of(f, CAPACITY_HEADER), 0);
	assert_int_equal(f->info.kind, SPOOL_KIND_CARE_HOME_CAPACITY);
	assert_int_equal(kind_of(f, "cqc_location_id,sector,beds_available,occupied,as_of"), 0);
	assert_int_equal(f->info.kind, SPOOL_KIND_CARE_HOME_CAPACITY);
	assert_int_equal(kind_of(f, "CQC Location ID,Home Type,Occupied Beds,Last Updated"), -1);
	assert_non_null(strstr(f->header_err, "care_home_capacity"));
	assert_non_null(strstr(f->header_err, "one of beds_available maximum_capacity"));
}

static void
test_header_of_ods_extract_is_organisations(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(kind_of(f, ORG_HEADER), 0);
	assert_int_equal(f->info.kind, SPOOL_KIND_ORGANISATIONS);
	assert_string_equal(f->info.source, "spool:organisations");
}

static void
test_header_fitting_no_kind_fails_naming_the_missing_columns(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(kind_of(f, "NHS Number,Council,Start Date"), -1);
	assert_non_null(strstr(f->header_err, "fits no kind of file"));
	assert_non_null(strstr(f->header_err, "care_packages"));
	assert_non_null(strstr(f->header_err, "package_id"));
	assert_int_equal(kind_of(f, "Ward,Bed,Status"), -1);
	assert_non_null(strstr(f->header_err, "fits no kind of file"));
}

static void
test_header_fitting_two_kinds_fails(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(kind_of(f, PACKAGE_HEADER ",Provider,Discharge ready date,Pathway"), -1);
	assert_non_null(strstr(f->header_err, "more than one kind"));
}

/* A file of people is never read as a kind without person data: a
 * discharge list whose provider column is called "Organisation Code"
 * fits organisations, and each patient's name would be sent (and
 * published) as the name of the trust. */
static void
test_header_with_an_nhs_number_is_never_organisations_or_capacity(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(kind_of(f, "NHS Number,Name,Organisation Code,Discharge Ready Date,Pathway"),
	    -1);
	assert_non_null(strstr(f->header_err, "the nearest, discharge_ready, needs the columns provider"));
	assert_non_null(strstr(f->header_err, "NHS number column (field 1)"));
	assert_non_null(strstr(f->header_err, "never read as organisations"));
	assert_int_equal(kind_of(f, "Patient Name,CQC Location ID,Home Type,Occupied,Capacity,As Of,NHS"),
	    -1);
	assert_non_null(strstr(f->header_err, "NHS number column (field 7)"));
	assert_non_null(strstr(f->header_err, "never read as care_home_capacity"));
	/* Without one, as before. */
	assert_int_equal(kind_of(f, "Name,Organisation Code,Discharge Ready Date,Pathway"), 0);
	assert_int_equal(f->info.kind, SPOOL_KIND_ORGANISATIONS);
}

static void
test_header_with_a_column_twice_fails(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(kind_of(f, READY_HEADER ",NHS_No"), -1);
	assert_non_null(strstr(f->header_err, "nhs_number appears twice"));
}

/* ---------------------------------------------------------- care packages */

static void
test_care_package_row_maps_to_started_with_pence_and_type(void **state)
{
	struct fixture *f = *state;
	const Commissioning__CarePackage *p;

	assert_int_equal(map(f, PACKAGE_HEADER,
	                     "9434765919,E10000011,PKG-1,Long Term Support: Nursing Care,,412.50,"
	                     "2026-04-01,"),
	    1);
	assert_string_equal(f->env[0]->source, "spool:care_packages");
	assert_int_equal(
	    f->env[0]->event_case, COMMISSIONING__ENVELOPE__EVENT_CARE_PACKAGE_STARTED);
	assert_int_equal(f->env[0]->schema_version, SPOOL_SCHEMA_VERSION);
	/* Midnight Europe/London on 1 April 2026 (BST) is 23:00 UTC the day before. */
	assert_int_equal(f->env[0]->occurred_at, 1774998000000LL);
	p = f->env[0]->care_package_started;
	assert_pseudonym_of(f, &p->patient_pseudonym, "9434765919");
	assert_string_equal(p->council, "E10000011");
	assert_string_equal(p->package_id, "PKG-1");
	assert_int_equal(
	    p->service_type, COMMISSIONING__CARE_PACKAGE_TYPE__CARE_PACKAGE_TYPE_NURSING);
	assert_int_equal(
	    p->opt_hours_per_week_case, COMMISSIONING__CARE_PACKAGE__OPT_HOURS_PER_WEEK__NOT_SET);
	assert_int_equal(
	    p->opt_weekly_cost_case, COMMISSIONING__CARE_PACKAGE__OPT_WEEKLY_COST_WEEKLY_COST);
	assert_int_equal(p->weekly_cost, 41250);
	assert_string_equal(p->start_date, "2026-04-01");
	assert_string_equal(p->end_date, "");
	assert_int_equal(strlen(f->env[0]->event_id), 32 + strlen(":started"));
	assert_non_null(strstr(f->env[0]->event_id, ":started"));
}

static void
test_care_package_with_end_date_gives_started_and_ended(void **state)
{
	struct fixture *f = *state;
	char id0[64], id1[64];

	assert_int_equal(map(f, PACKAGE_HEADER,
	                     "999 000 0018,e10000011,PKG-2,Long Term Support: Community,10.5,"
	                     "412.5,05/04/2026,30/04/2026"),
	    2);
	assert_int_equal(
	    f->env[0]->event_case, COMMISSIONING__ENVELOPE__EVENT_CARE_PACKAGE_STARTED);
	assert_int_equal(f->env[1]->event_case, COMMISSIONING__ENVELOPE__EVENT_CARE_PACKAGE_ENDED);
	assert_int_equal(f->env[0]->occurred_at, 1775343600000LL); /* 2026-04-05 London */
	assert_int_equal(f->env[1]->occurred_at, 1777503600000LL); /* 2026-04-30 London */
	assert_string_equal(f->env[1]->care_package_ended->start_date, "2026-04-05");
	assert_string_equal(f->env[1]->care_package_ended->end_date, "2026-04-30");
	assert_string_equal(f->env[1]->care_package_ended->council, "E10000011");
	assert_true(f->env[0]->care_package_started->hours_per_week == 10.5);
	assert_int_equal(f->env[0]->care_package_started->weekly_cost, 41250);
	assert_pseudonym_of(f, &f->env[1]->care_package_ended->patient_pseudonym, "9990000018");
	/* One row, one hash: the two ids differ only in their suffix. */
	snprintf(id0, sizeof(id0), "%s", f->env[0]->event_id);
	snprintf(id1, sizeof(id1), "%s", f->env[1]->event_id);
	assert_memory_equal(id0, id1, 32);
	assert_string_equal(id0 + 32, ":started");
	assert_string_equal(id1 + 32, ":ended");
}

static void
test_service_type_cld_wording_maps_to_each_type(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *text;
		int type;
	} cases[] = {
	    {"Long Term Support: Nursing Care", 1},
	    {"Long Term Support: Residential Care", 2},
	    {"Long Term Support: Community", 3},
	    {"Short Term Support: ST-Max", 4},
	    {"short term support: st-max", 4},
	    {"Residential", 2},
	    {"", 0},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char line[256];

		snprintf(line, sizeof(line), "9434765919,E10000011,P,\"%s\",,,2026-04-01,",
		    cases[i].text);
		assert_int_equal(map(f, PACKAGE_HEADER, line), 1);
		assert_int_equal(f->env[0]->care_package_started->service_type, cases[i].type);
	}
}

static void
test_weekly_cost_is_parsed_exactly_to_pence(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *text;
		int64_t pence;
	} cases[] = {
	    {"412.50", 41250},
	    {"412.5", 41250},
	    {"412", 41200},
	    {"0.01", 1},
	    {"0", 0},
	    {"\"1,050.00\"", 105000},
	    {"\xc2\xa3"
	     "895.99",
	        89599},
	    {"\"\xc2\xa3"
	     "12,345,678.07\"",
	        1234567807},
	    {"999999.99", 99999999},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char line[256];

		snprintf(
		    line, sizeof(line), "9434765919,E10000011,P,,,%s,2026-04-01,", cases[i].text);
		assert_int_equal(map(f, PACKAGE_HEADER, line), 1);
		assert_int_equal(f->env[0]->care_package_started->weekly_cost, cases[i].pence);
	}
}

static void
test_weekly_cost_with_three_decimals_is_a_bad_row(void **state)
{
	struct fixture *f = *state;

	assert_bad(f, PACKAGE_HEADER, "9434765919,E10000011,P,,,412.505,2026-04-01,", "Weekly cost",
	    "more than 2 decimal places");
}

static void
test_malformed_money_is_a_bad_row(void **state)
{
	struct fixture *f = *state;
	static const char *const bad[] = {
	    "12.", "1.2.3", "abc", "\"1,23\"", "\"1234,567\"", "12 50", "1e3"};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char line[256];

		snprintf(line, sizeof(line), "9434765919,E10000011,P,,,%s,2026-04-01,", bad[i]);
		assert_bad(f, PACKAGE_HEADER, line, "Weekly cost", "pounds and pence");
	}
	assert_bad(f, PACKAGE_HEADER, "9434765919,E10000011,P,,,-5.00,2026-04-01,", "Weekly cost",
	    "negative");
	/* The limit is checked in pence; the message shows the pounds the
	 * sender wrote, so the value is recognisable. */
	assert_bad(f, PACKAGE_HEADER, "9434765919,E10000011,P,,,1000000000000.00,2026-04-01,",
	    "Weekly cost", "100000000000000 pence (\u00a31,000,000,000,000.00) is outside "
	    "\u00a30.00 to \u00a3100,000,000,000.00");
	assert_bad(f, PACKAGE_HEADER, "9434765919,E10000011,P,,,\"999,999,999,999,999.99\",2026-04-01,",
	    "Weekly cost", "(\u00a3999,999,999,999,999.99)");
}

/* Excel's plain "CSV" is Windows-1252: a currency cell's pound sign is the
 * one byte 0xA3. The reason says so, not "write 412.50". */
static void
test_a_windows_1252_pound_sign_is_named_as_such(void **state)
{
	struct fixture *f = *state;

	assert_bad(f, PACKAGE_HEADER, "9434765919,E10000011,P,,,\xa3" "412.50,2026-04-01,",
	    "Weekly cost", "byte 1 is 0xa3, not UTF-8 text (a pound sign in Windows-1252)");
	assert_bad(f, PACKAGE_HEADER, "9434765919,E10000011,P,,,\"\xa3" "1,050.00\",2026-04-01,",
	    "Weekly cost", "save the file as \"CSV UTF-8 (Comma delimited)\"");
	assert_bad(f, PACKAGE_HEADER, "9434765919,E10000011,P,,,412.50\x80,2026-04-01,",
	    "Weekly cost", "byte 7 is 0x80, not UTF-8 text:");
	assert_int_equal(map(f, PACKAGE_HEADER, "9434765919,E10000011,P,,,\xc2\xa3" "412.50,2026-04-01,"), 1);
}

/* The errors file is UTF-8 text: a header written in Windows-1252 ("Weekly
 * Cost (\xa3)", Excel's plain "CSV") names its column with '?' for each byte
 * that is not UTF-8 text, and a control character the same. */
static void
test_a_column_name_not_utf8_is_shown_with_question_marks(void **state)
{
	struct fixture *f = *state;

	assert_bad(f, "NHS Number,Council,Package ID,Weekly Cost (\xa3),Start date",
	    "9434765919,E10000011,P,abc,2026-04-01", "Weekly Cost (?)", "pounds and pence");
	assert_bad(f, "NHS Number,Council,Package ID,\"Weekly\tCost\x93\xe2\x82\",Start date",
	    "9434765919,E10000011,P,abc,2026-04-01", "Weekly?Cost???", "pounds and pence");
	assert_bad(f, "NHS Number,Council,Package ID,Weekly Cost (\xc2\xa3),Start date",
	    "9434765919,E10000011,P,abc,2026-04-01", "Weekly Cost (\xc2\xa3)", "pounds and pence");
}

static void
test_invalid_check_digit_is_a_bad_row_that_never_shows_the_number(void **state)
{
	struct fixture *f = *state;

	assert_bad(f, PACKAGE_HEADER, "9434765918,E10000011,P,,,,2026-04-01,", "NHS Number",
	    "not a valid NHS number");
	assert_null(strstr(f->err.reason, "943"));
	assert_bad(f, PACKAGE_HEADER, "943476591,E10000011,P,,,,2026-04-01,", "NHS Number",
	    "not a valid NHS number");
	assert_bad(
	    f, PACKAGE_HEADER, ",E10000011,P,,,,2026-04-01,", "NHS Number", "missing (required)");
}

static void
test_bad_date_is_a_bad_row(void **state)
{
	struct fixture *f = *state;
	static const char *const bad[] = {"2026-02-30", "31/04/2026", "04/31/2026", "2026/04/01",
	    "1 April 2026", "26-04-01", "2026-4-1"};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char line[256];

		snprintf(line, sizeof(line), "9434765919,E10000011,P,,,,%s,", bad[i]);
		assert_bad(f, PACKAGE_HEADER, line, "Start date", "not a real calendar date");
	}
	assert_bad(
	    f, PACKAGE_HEADER, "9434765919,E10000011,P,,,,,", "Start date", "missing (required)");
}

static void
test_uk_iso_and_ods_dates_give_the_same_event(void **state)
{
	struct fixture *f = *state;
	char id[128];

	assert_int_equal(map(f, PACKAGE_HEADER, "9434765919,E10000011,P,,,,2026-04-05,"), 1);
	snprintf(id, sizeof(id), "%s", f->env[0]->event_id);
	assert_int_equal(map(f, PACKAGE_HEADER, "9434765919,E10000011,P,,,,05/04/2026,"), 1);
	assert_string_equal(f->env[0]->event_id, id);
	assert_string_equal(f->env[0]->care_package_started->start_date, "2026-04-05");
	assert_int_equal(map(f, PACKAGE_HEADER, "9434765919,E10000011,P,,,,5/4/2026,"), 1);
	assert_string_equal(f->env[0]->event_id, id);
	assert_int_equal(map(f, PACKAGE_HEADER, "9434765919,E10000011,P,,,,20260405,"), 1);
	assert_string_equal(f->env[0]->event_id, id);
}

static void
test_unknown_service_type_is_a_bad_row(void **state)
{
	struct fixture *f = *state;

	assert_bad(f, PACKAGE_HEADER,
	    "9434765919,E10000011,P,Long Term Support: Prison,,,2026-04-01,", "Service Type",
	    /* Long or spaced values are never echoed: one could be a name. */
	    "a 25-byte value is not a service type");
}

static void
test_missing_package_id_is_a_bad_row(void **state)
{
	struct fixture *f = *state;

	assert_bad(f, PACKAGE_HEADER, "9434765919,E10000011,  ,,,,2026-04-01,", "Package ID",
	    "missing (required)");
	assert_bad(
	    f, PACKAGE_HEADER, "9434765919,,P,,,,2026-04-01,", "Council", "missing (required)");
}

static void
test_event_check_faults_are_reported_on_their_column(void **state)
{
	struct fixture *f = *state;

	assert_bad(f, PACKAGE_HEADER, "9434765919,E10000011,P,,,,2026-04-10,2026-04-01", "End date",
	    "before start_date");
	assert_bad(f, PACKAGE_HEADER, "9434765919,QNX,P,,,,2026-04-01,", "Council",
	    "not the code of a local authority");
	assert_bad(f, PACKAGE_HEADER, "9434765919,E10000011,P,,200,,2026-04-01,", "Hours per week",
	    "outside 0 to 168");
	/* Shown as written, not rounded to 168. */
	assert_bad(f, PACKAGE_HEADER, "9434765919,E10000011,P,,168.000001,,2026-04-01,",
	    "Hours per week", "168.000001 is outside 0 to 168");
}

static void
test_package_id_holding_an_nhs_number_is_refused(void **state)
{
	struct fixture *f = *state;

	assert_bad(f, PACKAGE_HEADER, "9434765919,E10000011,PKG-9990000018-1,,,,2026-04-01,",
	    "Package ID", "holds an NHS number");
	assert_bad(f, PACKAGE_HEADER, "9434765919,E10000011,X943 476 5919,,,,2026-04-01,",
	    "Package ID", "holds an NHS number");
	/* Ten digits that are no NHS number are an ordinary id. */
	assert_int_equal(
	    map(f, PACKAGE_HEADER, "9434765919,E10000011,1234567890,,,,2026-04-01,"), 1);
}

static void
test_row_with_another_field_count_is_a_bad_row(void **state)
{
	struct fixture *f = *state;

	assert_bad(f, PACKAGE_HEADER, "9434765919,E10000011,P,,,,2026-04-01", "",
	    "7 fields; the header has 8");
	assert_bad(f, PACKAGE_HEADER, "9434765919,E10000011,P,,,,2026-04-01,,x", "",
	    "9 fields; the header has 8");
}

static void
test_blank_row_gives_no_events(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(map(f, PACKAGE_HEADER, ",,,, ,,,"), 0);
	assert_int_equal(map(f, PACKAGE_HEADER, ","), 0);
}

static void
test_report_date_times_both_package_events(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(map(f, PACKAGE_HEADER ",Report Date",
	                     "9434765919,E10000011,P,,,,1998-01-05,2026-04-30,2026-05-10"),
	    2);
	assert_int_equal(f->env[0]->occurred_at, 1778367600000LL);
	assert_int_equal(f->env[1]->occurred_at, 1778367600000LL);
}

static void
test_start_date_before_2000_is_kept_and_its_time_clamped(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(map(f, PACKAGE_HEADER, "9434765919,E10000011,P,,,,1998-01-05,"), 1);
	assert_string_equal(f->env[0]->care_package_started->start_date, "1998-01-05");
	assert_int_equal(f->env[0]->occurred_at, 946684800000LL);
}

/* ------------------------------------------------------ discharge ready */

static void
test_ready_row_maps_with_pathway_and_council(void **state)
{
	struct fixture *f = *state;
	const Commissioning__ReadyForDischarge *r;

	assert_int_equal(map(f, READY_HEADER, "9434765919,rxc,2026-05-08,1,E10000011"), 1);
	assert_int_equal(f->env[0]->event_case, COMMISSIONING__ENVELOPE__EVENT_READY_FOR_DISCHARGE);
	assert_string_equal(f->env[0]->source, "spool:discharge_ready");
	assert_non_null(strstr(f->env[0]->event_id, ":ready"));
	assert_int_equal(f->env[0]->occurred_at, 1778194800000LL); /* 2026-05-08 London */
	r = f->env[0]->ready_for_discharge;
	assert_pseudonym_of(f, &r->patient_pseudonym, "9434765919");
	assert_string_equal(r->provider, "RXC");
	assert_string_equal(r->ready_date, "2026-05-08");
	assert_int_equal(
	    r->opt_pathway_case, COMMISSIONING__READY_FOR_DISCHARGE__OPT_PATHWAY_PATHWAY);
	assert_int_equal(r->pathway, 1);
	assert_string_equal(r->council, "E10000011");
}

static void
test_pathway_0_is_sent_and_council_is_optional(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(map(f, READY_HEADER, "9434765919,NMJ,2026-05-08,0,"), 1);
	assert_int_equal(f->env[0]->ready_for_discharge->opt_pathway_case,
	    COMMISSIONING__READY_FOR_DISCHARGE__OPT_PATHWAY_PATHWAY);
	assert_int_equal(f->env[0]->ready_for_discharge->pathway, 0);
	assert_string_equal(f->env[0]->ready_for_discharge->council, "");
}

static void
test_pathway_written_p2_or_pathway_3_is_accepted(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(map(f, READY_HEADER, "9434765919,RXC,2026-05-08,P2,"), 1);
	assert_int_equal(f->env[0]->ready_for_discharge->pathway, 2);
	assert_int_equal(map(f, READY_HEADER, "9434765919,RXC,2026-05-08,Pathway 3,"), 1);
	assert_int_equal(f->env[0]->ready_for_discharge->pathway, 3);
}

/* A date held as a date and time (SQL Server, SSRS and Excel write
 * "2026-04-05 00:00:00") is the date when the time is midnight; any other
 * time is refused, naming it, since its day depends on whose clock. */
static void
test_a_date_with_a_midnight_time_is_the_date(void **state)
{
	struct fixture *f = *state;
	static const char *const midnight[] = {"2026-04-05 00:00:00", "2026-04-05 00:00",
	    "2026-04-05T00:00:00", "05/04/2026 00:00", "2026-04-05 00:00:00.000"};
	static const char *const not_midnight[] = {"2026-04-05 13:30:00", "2026-04-05 00:00:01",
	    "2026-04-05T00:00:00Z", "2026-04-05 00:00:00.5", "2026-04-05 00:00:00.05"};
	char line[256], id[128];

	assert_int_equal(map(f, PACKAGE_HEADER, "9434765919,E10000011,P,,,,2026-04-05,"), 1);
	snprintf(id, sizeof(id), "%s", f->env[0]->event_id);
	for (size_t i = 0; i < sizeof(midnight) / sizeof(midnight[0]); i++) {
		snprintf(line, sizeof(line), "9434765919,E10000011,P,,,,%s,", midnight[i]);
		assert_int_equal(map(f, PACKAGE_HEADER, line), 1);
		assert_string_equal(f->env[0]->event_id, id);
		assert_string_equal(f->env[0]->care_package_started->start_date, "2026-04-05");
	}
	for (size_t i = 0; i < sizeof(not_midnight) / sizeof(not_midnight[0]); i++) {
		snprintf(line, sizeof(line), "9434765919,E10000011,P,,,,%s,", not_midnight[i]);
		assert_bad(f, PACKAGE_HEADER, line, "Start date",
		    "a date with a time other than a plain midnight");
	}
	assert_bad(f, PACKAGE_HEADER, "9434765919,E10000011,P,,,,2026-02-30 00:00,", "Start date",
	    "not a real calendar date");
}

static void
test_pathway_5_is_a_bad_row(void **state)
{
	struct fixture *f = *state;

	assert_bad(f, READY_HEADER, "9434765919,RXC,2026-05-08,5,", "Pathway",
	    "\"5\" is not a discharge pathway (0, 1, 2 or 3)");
	assert_bad(f, READY_HEADER, "9434765919,RXC,2026-05-08,,", "Pathway", "missing (required)");
	assert_bad(f, READY_HEADER, "9434765919,RXC,2026-05-08,1.5,", "Pathway",
	    "not a discharge pathway");
	/* A byte that is not UTF-8 is not skipped: "P\xa02" is no "P2". */
	assert_bad(f, READY_HEADER, "9434765919,RXC,2026-05-08,P\xa0" "2,", "Pathway",
	    "byte 2 is 0xa0, not UTF-8 text: not a discharge pathway");
}

static void
test_ready_provider_and_council_are_checked_by_kind(void **state)
{
	struct fixture *f = *state;

	assert_bad(f, READY_HEADER, "9434765919,E10000011,2026-05-08,1,", "Provider Code",
	    "is not the code of");
	assert_bad(f, READY_HEADER, "9434765919,RXC,2026-05-08,1,QNX", "LA Code",
	    "not the code of a local authority");
	assert_bad(f, READY_HEADER, "9434765919,RXC,08/13/2026,1,", "Discharge Ready Date",
	    "not a real calendar date");
}

static void
test_ready_occurred_at_is_the_report_date_when_given(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(
	    map(f, READY_HEADER ",Report Date", "9434765919,RXC,2026-05-08,1,,2026-05-10"), 1);
	assert_int_equal(f->env[0]->occurred_at, 1778367600000LL); /* 2026-05-10 London */
	assert_string_equal(f->env[0]->ready_for_discharge->ready_date, "2026-05-08");
}

/* ------------------------------------------------------------- capacity */

static void
test_capacity_available_is_occupied_plus_vacant_accepting_admissions(void **state)
{
	struct fixture *f = *state;
	const Commissioning__CapacityReported *c;

	assert_int_equal(
	    map(f, CAPACITY_HEADER, "1-123039495,Nursing,40,35,3,2026-05-10T09:30:00Z"), 1);
	assert_int_equal(f->env[0]->event_case, COMMISSIONING__ENVELOPE__EVENT_CAPACITY_REPORTED);
	assert_non_null(strstr(f->env[0]->event_id, ":reported"));
	c = f->env[0]->capacity_reported;
	assert_string_equal(c->organisation, "1-123039495");
	assert_int_equal(c->sector, COMMISSIONING__SECTOR__SECTOR_NURSING);
	assert_int_equal(c->beds_available, 38);
	assert_int_equal(c->beds_occupied, 35);
	assert_int_equal(c->opt_beds_available_case,
	    COMMISSIONING__CAPACITY_REPORTED__OPT_BEDS_AVAILABLE_BEDS_AVAILABLE);
	assert_int_equal(c->opt_beds_occupied_case,
	    COMMISSIONING__CAPACITY_REPORTED__OPT_BEDS_OCCUPIED_BEDS_OCCUPIED);
	assert_int_equal(c->as_of, 1778405400000LL);
	assert_int_equal(f->env[0]->occurred_at, c->as_of);
}

static void
test_capacity_available_is_maximum_when_no_vacancies_given(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(map(f, CAPACITY_HEADER, "1-123039495,Dementia/EMI,20,22,,2026-05-10"), 1);
	assert_int_equal(
	    f->env[0]->capacity_reported->sector, COMMISSIONING__SECTOR__SECTOR_DEMENTIA_EMI);
	assert_int_equal(f->env[0]->capacity_reported->beds_available, 20);
	assert_int_equal(f->env[0]->capacity_reported->beds_occupied, 22);
}

static void
test_capacity_beds_available_column_comes_first(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(map(f,
	                     "Location ID,Sector,Beds available,Maximum capacity,Vacant,"
	                     "Occupied,As of",
	                     "RXC01,general and acute,300,320,5,290,2026-05-10T09:30:00+01:00"),
	    1);
	assert_int_equal(f->env[0]->capacity_reported->beds_available, 300);
	assert_int_equal(
	    f->env[0]->capacity_reported->sector, COMMISSIONING__SECTOR__SECTOR_GENERAL_AND_ACUTE);
	assert_int_equal(f->env[0]->capacity_reported->as_of, 1778401800000LL);
}

static void
test_capacity_as_of_forms(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *text;
		int64_t ms;
	} cases[] = {
	    {"2026-05-10T09:30:00Z", 1778405400000LL},
	    {"2026-05-10T09:30:00.250Z", 1778405400250LL},
	    {"2026-05-10T10:30:00+01:00", 1778405400000LL},
	    {"2026-05-10T10:30+0100", 1778405400000LL},
	    {"2026-05-10T04:30:00-05", 1778405400000LL},
	    {"2026-05-10 10:30", 1778405400000LL}, /* London local, BST */
	    {"10/05/2026 10:30", 1778405400000LL},
	    {"2026-05-10", 1778367600000LL}, /* midnight London */
	    {"15/01/2026", 1768435200000LL}, /* midnight London, GMT */
	    /* The October hour that happens twice: the first (BST). */
	    {"2026-10-25 01:30", 1792888200000LL},
	    /* The March hour that does not exist: read as GMT. */
	    {"2026-03-29 01:30", 1774747800000LL},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char line[256];

		snprintf(line, sizeof(line), "1-123039495,Nursing,40,35,3,%s", cases[i].text);
		if (map(f, CAPACITY_HEADER, line) != 1)
			fail_msg("%s: %s", cases[i].text, f->err.reason);
		if (f->env[0]->capacity_reported->as_of != cases[i].ms)
			fail_msg("%s: %lld, want %lld", cases[i].text,
			    (long long)f->env[0]->capacity_reported->as_of, (long long)cases[i].ms);
	}
}

static void
test_capacity_bad_rows_name_their_column(void **state)
{
	struct fixture *f = *state;

	assert_bad(f, CAPACITY_HEADER, "1-123039495,Hospice,40,35,3,2026-05-10", "Home Type",
	    "\"Hospice\" is not a sector");
	/* Latin-1, where the file should be UTF-8: not read as "Nursing". */
	assert_bad(f, CAPACITY_HEADER, "1-123039495,Nurs\xe9ing,40,35,3,2026-05-10", "Home Type",
	    "byte 5 is 0xe9, not UTF-8 text: not a sector this feed knows (is the file saved as "
	    "UTF-8?)");
	/* A control character, C1 as UTF-8 too, is no space. */
	assert_bad(f, CAPACITY_HEADER, "1-123039495,Nursing\xc2\x85,40,35,3,2026-05-10",
	    "Home Type", "byte 8 begins a control character: not a sector");
	/* UTF-8 text is read as before: a no-break space pasted after the name
	 * is skipped like any space. */
	assert_int_equal(map(f, CAPACITY_HEADER,
	    "1-123039495,Nursing\xc2\xa0,40,35,3,2026-05-10"), 1);
	assert_bad(f, CAPACITY_HEADER, "1-123039495,Nursing,40,,3,2026-05-10", "Occupied Beds",
	    "missing (required)");
	assert_bad(f, CAPACITY_HEADER, "1-123039495,Nursing,40,-2,3,2026-05-10", "Occupied Beds",
	    "negative");
	assert_bad(f, CAPACITY_HEADER, "1-123039495,Nursing,40,3.5,3,2026-05-10", "Occupied Beds",
	    "not a whole number");
	assert_bad(f, CAPACITY_HEADER, "1-123039495,Nursing,40,35,3,2026-05-10T25:00Z",
	    "Last Updated", "not a time");
	/* An offset's colon needs its minutes, and minutes are two digits. */
	static const char *const bad_offsets[] = {"+01:", "+01:0", "+1", "+01:60", "+0160", "+15"};
	for (size_t i = 0; i < sizeof(bad_offsets) / sizeof(bad_offsets[0]); i++) {
		char line[128];

		snprintf(line, sizeof(line), "1-123039495,Nursing,40,35,3,2026-05-10T10:30%s",
		    bad_offsets[i]);
		assert_bad(f, CAPACITY_HEADER, line, "Last Updated", "not a time");
	}
	assert_bad(f, CAPACITY_HEADER, "1-123039495,Nursing,40,35,3,", "Last Updated",
	    "missing (required)");
	assert_bad(f, CAPACITY_HEADER, "123039495,Nursing,40,35,3,2026-05-10", "CQC Location ID",
	    "is not the code of");
	assert_bad(f, CAPACITY_HEADER, "1-123039495,Nursing,,35,,2026-05-10", "Maximum Capacity",
	    "the row needs beds available, maximum capacity or vacant");
	assert_bad(f, CAPACITY_HEADER, "1-123039495,Nursing,200000,35,,2026-05-10",
	    "Maximum Capacity", "outside 0 to 100000");
	/* The time is shown as a time, not as epoch milliseconds. */
	assert_bad(f, CAPACITY_HEADER, "1-123039495,Nursing,40,35,3,1999-12-31T12:00Z",
	    "Last Updated", "1999-12-31T12:00:00.000Z (946641600000 ms) is outside 2000-01-01");
}

/* ---------------------------------------------------------- organisations */

static void
test_organisation_roles_are_inferred_from_the_code(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *line;
		int role;
	} cases[] = {
	    {"Y59,South East,,,,", 1},
	    {"QNX,Sussex,,Y59,,", 2},
	    {"02P,Barnsley,,QNX,,", 3},
	    {"RXC,East Sussex Healthcare,,QNX,,", 4},
	    {"RXC01,Conquest,,RXC,,", 5},
	    {"RXC01,Conquest,,,,", 5},
	    {"G81001,Practice,,QNX,,", 6},
	    {"NMJ,Provider,,QNX,,", 7},
	    {"8HA03,Older frame,,QNX,,", 7},
	    {"E10000011,East Sussex,,QNX,,", 8},
	    {"1-123039495,Orchard House,,E10000011,,", 9},
	    /* A merged sub-ICB location shares the site format: an ICB parent says. */
	    {"R1A2B,Merged place,,QNX,,", 3},
	    {"D4U1Y,Merged place,,QNX,,", 3},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (map(f, ORG_HEADER, cases[i].line) != 1)
			fail_msg("%s: %s", cases[i].line, f->err.reason);
		assert_int_equal(
		    f->env[0]->event_case, COMMISSIONING__ENVELOPE__EVENT_ORGANISATION_REGISTERED);
		if ((int)f->env[0]->organisation_registered->role != cases[i].role)
			fail_msg("%s: role %d, want %d", cases[i].line,
			    f->env[0]->organisation_registered->role, cases[i].role);
	}
}

static void
test_organisation_role_column_takes_names_and_ods_role_codes(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(map(f, ORG_HEADER, "QNX,Sussex,RO318,Y59,,"), 1);
	assert_int_equal(
	    f->env[0]->organisation_registered->role, COMMISSIONING__ORG_ROLE__ORG_ROLE_ICB);
	assert_int_equal(map(f, ORG_HEADER, "RXC01,Conquest,NHS TRUST SITE,RXC,,"), 1);
	assert_int_equal(
	    f->env[0]->organisation_registered->role, COMMISSIONING__ORG_ROLE__ORG_ROLE_TRUST_SITE);
	assert_int_equal(map(f, ORG_HEADER, "09D,Brighton,Sub ICB Location,QNX,,"), 1);
	assert_int_equal(
	    f->env[0]->organisation_registered->role, COMMISSIONING__ORG_ROLE__ORG_ROLE_SUB_ICB);
	assert_bad(f, ORG_HEADER, "QNX,Sussex,Pharmacy,Y59,,", "Role", "not a role");
	/* A role that does not fit the code is event_check's, on the code. */
	assert_bad(
	    f, ORG_HEADER, "QNX,Sussex,trust,Y59,,", "Organisation Code", "as its role says");
}

static void
test_organisation_dates_parent_and_time(void **state)
{
	struct fixture *f = *state;
	const Commissioning__Organisation *o;

	assert_int_equal(map(f, ORG_HEADER,
	                     "g81001,\"THE \"\"OLD\"\" SURGERY\",,qnx,19740401,"
	                     "31/03/2024"),
	    1);
	o = f->env[0]->organisation_registered;
	assert_string_equal(o->code, "G81001");
	assert_string_equal(o->name, "THE \"OLD\" SURGERY");
	assert_string_equal(o->parent_code, "QNX");
	assert_string_equal(o->active_from, "1974-04-01");
	assert_string_equal(o->active_to, "2024-03-31");
	assert_string_equal(f->env[0]->source, "spool:organisations");
	assert_non_null(strstr(f->env[0]->event_id, ":registered"));
	/* Timed at its close date: midnight London, still GMT that night. */
	assert_int_equal(f->env[0]->occurred_at, 1711843200000LL);
	assert_int_equal(map(f, ORG_HEADER, "QNX,Sussex,,Y59,20220701,"), 1);
	assert_int_equal(f->env[0]->occurred_at, 1656630000000LL);
	assert_int_equal(map(f, ORG_HEADER, "QNX,Sussex,,Y59,,"), 1);
	assert_int_equal(f->env[0]->occurred_at, 946684800000LL);
}

static void
test_organisation_bad_rows(void **state)
{
	struct fixture *f = *state;

	assert_bad(
	    f, ORG_HEADER, "XYZ12345,Nowhere,,,,", "Organisation Code", "fits no single kind");
	assert_bad(f, ORG_HEADER, ",Nameless,,,,", "Organisation Code", "missing (required)");
	assert_bad(f, ORG_HEADER, "RXC,Trust,,QNX,2020-01-01,2019-01-01", "Close Date",
	    "before active_from");
	assert_bad(f, ORG_HEADER, "RXC,Trust,,E10000011,,", "Parent Code", "not the code of");
}

/* ------------------------------------------------------------- event ids */

static void
test_same_row_gives_the_same_event_id(void **state)
{
	struct fixture *f = *state;
	char id[128];
	const char *line = "9434765919,E10000011,P,Long Term Support: Community,7.5,120.00,"
	                   "2026-04-01,";

	assert_int_equal(map(f, PACKAGE_HEADER, line), 1);
	snprintf(id, sizeof(id), "%s", f->env[0]->event_id);
	assert_int_equal(map(f, PACKAGE_HEADER, line), 1);
	assert_string_equal(f->env[0]->event_id, id);
	/* Written another way, the values are the same: so is the id. */
	assert_int_equal(map(f, PACKAGE_HEADER,
	                     "943 476 5919 , e10000011,P,long term support: community,7.50,"
	                     "\xc2\xa3"
	                     "120,01/04/2026,"),
	    1);
	assert_string_equal(f->env[0]->event_id, id);
	/* Columns in another order, or columns the kind does not read, neither. */
	assert_int_equal(map(f,
	                     "Start date,Gender,Council,NHS Number,Package ID,Service Type,"
	                     "Hours per week,Weekly cost,End date",
	                     "2026-04-01,X,E10000011,9434765919,P,Long Term Support: Community,7.5,"
	                     "120.00,"),
	    1);
	assert_string_equal(f->env[0]->event_id, id);
}

static void
test_different_rows_give_different_event_ids(void **state)
{
	struct fixture *f = *state;
	static const char *const lines[] = {
	    "9434765919,E10000011,P,,7.5,120.00,2026-04-01,",
	    "9990000018,E10000011,P,,7.5,120.00,2026-04-01,",
	    "9434765919,E10000012,P,,7.5,120.00,2026-04-01,",
	    "9434765919,E10000011,Q,,7.5,120.00,2026-04-01,",
	    "9434765919,E10000011,P,Residential,7.5,120.00,2026-04-01,",
	    "9434765919,E10000011,P,,7.6,120.00,2026-04-01,",
	    "9434765919,E10000011,P,,7.5,120.01,2026-04-01,",
	    "9434765919,E10000011,P,,7.5,,2026-04-01,",
	    "9434765919,E10000011,P,,7.5,120.00,2026-04-02,",
	};
	char ids[sizeof(lines) / sizeof(lines[0])][128];

	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		assert_int_equal(map(f, PACKAGE_HEADER, lines[i]), 1);
		snprintf(ids[i], sizeof(ids[i]), "%s", f->env[0]->event_id);
		for (size_t j = 0; j < i; j++)
			if (strcmp(ids[i], ids[j]) == 0)
				fail_msg("rows %zu and %zu share an id", j, i);
	}
}

static void
test_same_file_twice_gives_the_same_events(void **state)
{
	struct fixture *f = *state;
	struct collected a, b;
	struct spool_file_summary summary;
	char err[256];

	assert_int_equal(
	    read_file_into(f, "care_packages_good.csv", &a, &summary, err, sizeof(err)), 0);
	assert_int_equal(
	    read_file_into(f, "care_packages_good.csv", &b, &summary, err, sizeof(err)), 0);
	assert_int_equal(a.n_env, b.n_env);
	for (int i = 0; i < a.n_env; i++) {
		assert_int_equal(a.packed_len[i], b.packed_len[i]);
		assert_memory_equal(a.packed[i], b.packed[i], a.packed_len[i]);
	}
	collected_free(&a);
	collected_free(&b);
}

static void
test_a_cumulative_extract_repeats_its_rows_ids_on_other_lines(void **state)
{
	struct fixture *f = *state;
	const char *first = PACKAGE_HEADER "\n9434765919,E10000011,P,,,,2026-04-01,\n";
	const char *second = PACKAGE_HEADER "\n9990000018,E10000011,Q,,,,2026-04-02,\n"
	                                    "9434765919,E10000011,P,,,,2026-04-01,\n";
	struct collected a, b;
	struct spool_file_summary summary;
	char err[256];

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	assert_int_equal(spool_read_buffer(first, strlen(first), f->ps, collect_envelope,
	                     collect_error, &a, &summary, err, sizeof(err)),
	    0);
	assert_int_equal(spool_read_buffer(second, strlen(second), f->ps, collect_envelope,
	                     collect_error, &b, &summary, err, sizeof(err)),
	    0);
	assert_int_equal(a.n_env, 1);
	assert_int_equal(b.n_env, 2);
	assert_int_equal(a.env_line[0], 2);
	assert_int_equal(b.env_line[1], 3);
	assert_string_equal(a.env[0]->event_id, b.env[1]->event_id);
	assert_string_not_equal(b.env[0]->event_id, b.env[1]->event_id);
	collected_free(&a);
	collected_free(&b);
}

/* A free-text column the kind does not read (a case note) may be longer
 * than a field's limit: the row is read all the same. The same length in
 * a column it reads is that column's fault. */
static void
test_a_long_note_in_a_column_not_read_is_no_fault_of_the_row(void **state)
{
	struct fixture *f = *state;
	size_t note = 3 * CSV_MAX_FIELD_BYTES, at = 0;
	char *text = malloc(2 * note + 512);
	struct collected c;
	struct spool_file_summary summary;
	char err[256];

	assert_non_null(text);
	at += (size_t)sprintf(text, "%s,Notes\n9434765919,RXC,2026-05-08,1,E10000011,\"",
	    READY_HEADER);
	memset(text + at, 'n', note);
	at += note;
	at += (size_t)sprintf(text + at, "\"\n");
	memset(text + at, '9', note);
	at += note;
	at += (size_t)sprintf(text + at, ",RXC,2026-05-08,1,E10000011,short\n");
	memset(&c, 0, sizeof(c));
	assert_int_equal(spool_read_buffer(text, at, f->ps, collect_envelope, collect_error, &c,
	                     &summary, err, sizeof(err)),
	    0);
	assert_int_equal(summary.rows, 2);
	assert_int_equal(c.n_env, 1);
	assert_int_equal(c.env_line[0], 2);
	assert_int_equal(c.n_err, 1);
	assert_int_equal(c.err[0].line, 3);
	assert_string_equal(c.err[0].column, "NHS Number");
	assert_non_null(strstr(c.err[0].reason, "longer than 1024 bytes"));
	collected_free(&c);
	free(text);
}

/* ----------------------------------------------------------- whole files */

static void
test_good_files_read_without_errors(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *name;
		enum spool_kind kind;
		size_t rows;
		int envelopes;
	} files[] = {
	    {"care_packages_good.csv", SPOOL_KIND_CARE_PACKAGES, 4, 5},
	    {"discharge_ready_good.csv", SPOOL_KIND_DISCHARGE_READY, 3, 3},
	    {"care_home_capacity_good.csv", SPOOL_KIND_CARE_HOME_CAPACITY, 3, 3},
	    {"organisations_good.csv", SPOOL_KIND_ORGANISATIONS, 8, 8},
	};

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		struct collected c;
		struct spool_file_summary summary;
		char err[256] = "";

		if (read_file_into(f, files[i].name, &c, &summary, err, sizeof(err)) != 0)
			fail_msg("%s: %s", files[i].name, err);
		if (c.n_err != 0)
			fail_msg("%s: line %zu, %s: %s", files[i].name, c.err[0].line,
			    c.err[0].column, c.err[0].reason);
		assert_int_equal(summary.kind, files[i].kind);
		assert_int_equal(summary.rows, files[i].rows);
		assert_int_equal(summary.bad_rows, 0);
		assert_int_equal(summary.envelopes, (size_t)files[i].envelopes);
		assert_int_equal(c.n_env, files[i].envelopes);
		collected_free(&c);
	}
}

static void
test_capacity_file_lines_and_figures(void **state)
{
	struct fixture *f = *state;
	struct collected c;
	struct spool_file_summary summary;
	char err[256];

	assert_int_equal(
	    read_file_into(f, "care_home_capacity_good.csv", &c, &summary, err, sizeof(err)), 0);
	assert_int_equal(c.n_env, 3);
	assert_int_equal(c.env_line[0], 2);
	assert_int_equal(c.env[0]->capacity_reported->beds_available, 38);
	assert_int_equal(c.env[0]->capacity_reported->as_of, 1778401800000LL);
	assert_int_equal(c.env[1]->capacity_reported->beds_available, 20);
	assert_int_equal(c.env[1]->capacity_reported->as_of, 1778401800000LL);
	assert_int_equal(c.env[2]->capacity_reported->beds_available, 31);
	assert_int_equal(c.env[2]->capacity_reported->beds_occupied, 31);
	assert_int_equal(c.env[2]->capacity_reported->as_of, 1778367600000LL);
	collected_free(&c);
}

struct expected_error {
	size_t line;
	const char *column;
	const char *reason_part;
};

static void
assert_file_errors(struct fixture *f, const char *name, const struct expected_error *want,
    int n_want, int n_envelopes)
{
	struct collected c;
	struct spool_file_summary summary;
	char err[256];

	assert_int_equal(read_file_into(f, name, &c, &summary, err, sizeof(err)), 0);
	for (int i = 0; i < c.n_err && i < n_want; i++) {
		if (c.err[i].line != want[i].line || strcmp(c.err[i].column, want[i].column) != 0 ||
		    strstr(c.err[i].reason, want[i].reason_part) == NULL)
			fail_msg(
			    "%s error %d: line %zu, \"%s\": %s; want line %zu, \"%s\": ...%s...",
			    name, i, c.err[i].line, c.err[i].column, c.err[i].reason, want[i].line,
			    want[i].column, want[i].reason_part);
	}
	assert_int_equal(c.n_err, n_want);
	assert_int_equal(summary.bad_rows, (size_t)n_want);
	assert_int_equal(c.n_env, n_envelopes);
	collected_free(&c);
}

static void
test_bad_care_packages_file_reports_each_row_by_line_and_column(void **state)
{
	static const struct expected_error want[] = {
	    {2, "NHS Number", "not a valid NHS number"},
	    {3, "Start date", "not a real calendar date"},
	    {4, "Service Type", "not a service type"},
	    {5, "Weekly cost", "more than 2 decimal places"},
	    {6, "Package ID", "missing (required)"},
	    {7, "End date", "before start_date"},
	    {8, "Council", "not the code of a local authority"},
	    {9, "Hours per week", "outside 0 to 168"},
	    {10, "", "quote inside an unquoted field"},
	    {12, "", "6 fields; the header has 8"},
	};

	assert_file_errors(*state, "care_packages_bad.csv", want, 10, 1);
}

static void
test_bad_discharge_file_reports_each_row_by_line_and_column(void **state)
{
	static const struct expected_error want[] = {
	    {2, "Pathway", "not a discharge pathway"},
	    {3, "NHS Number", "missing (required)"},
	    {4, "Provider Code", "not the code of"},
	    {5, "Discharge Ready Date", "not a real calendar date"},
	    {6, "LA Code", "not the code of a local authority"},
	};

	assert_file_errors(*state, "discharge_ready_bad.csv", want, 5, 1);
}

static void
test_bad_capacity_file_reports_each_row_by_line_and_column(void **state)
{
	static const struct expected_error want[] = {
	    {2, "Home Type", "not a sector"},
	    {3, "Occupied Beds", "missing (required)"},
	    {4, "Occupied Beds", "negative"},
	    {5, "Last Updated", "not a time"},
	    {6, "CQC Location ID", "not the code of"},
	    {7, "Maximum Capacity", "the row needs beds available"},
	};

	assert_file_errors(*state, "care_home_capacity_bad.csv", want, 6, 0);
}

static void
test_file_of_no_kind_fails_whole(void **state)
{
	struct fixture *f = *state;
	struct collected c;
	struct spool_file_summary summary;
	char err[256];

	assert_int_equal(read_file_into(f, "unknown_kind.csv", &c, &summary, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "fits no kind of file"));
	assert_int_equal(c.n_env, 0);
	assert_int_equal(spool_read_buffer("", 0, f->ps, collect_envelope, collect_error, &c,
	                     &summary, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "empty"));
	assert_int_equal(spool_read_buffer("\"open", 5, f->ps, collect_envelope, collect_error, &c,
	                     &summary, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "header row cannot be read"));
}

/* Read the whole buffer buf, which must fail as a file; its reason in err. */
static void
assert_file_refused(struct fixture *f, const char *buf, size_t len, const char *reason_part)
{
	struct collected c = {0};
	struct spool_file_summary summary;
	char err[256];

	assert_int_equal(spool_read_buffer(buf, len, f->ps, collect_envelope, collect_error, &c,
	                     &summary, err, sizeof(err)),
	    -1);
	if (strstr(err, reason_part) == NULL)
		fail_msg("reason \"%s\" lacks \"%s\"", err, reason_part);
	assert_int_equal(c.n_env, 0);
}

/* The common wrong exports get a hint, not "names none of the columns". */
static void
test_tab_semicolon_pipe_and_utf16_files_are_named_as_such(void **state)
{
	struct fixture *f = *state;
	static const char tabbed[] = READY_HEADER "\n";
	char buf[256];
	size_t n = 0;

	snprintf(buf, sizeof(buf), "%s\n", READY_HEADER);
	for (char *p = buf; *p != '\0'; p++)
		if (*p == ',')
			*p = '\t';
	assert_file_refused(f, buf, strlen(buf), "one field holding tabs; the file must be "
	                                         "comma-separated");
	for (char *p = buf; *p != '\0'; p++)
		if (*p == '\t')
			*p = ';';
	assert_file_refused(f, buf, strlen(buf), "one field holding semicolons");
	/* Pipes, as many NHS and social care systems' exports. */
	for (char *p = buf; *p != '\0'; p++)
		if (*p == ';')
			*p = '|';
	assert_file_refused(f, buf, strlen(buf), "one field holding pipes");
	/* UTF-16LE with its byte order mark, as Excel's "Unicode Text". */
	buf[n++] = (char)0xff;
	buf[n++] = (char)0xfe;
	for (size_t i = 0; i < sizeof(tabbed) - 1 && n + 2 <= sizeof(buf); i++) {
		buf[n++] = tabbed[i];
		buf[n++] = '\0';
	}
	assert_file_refused(f, buf, n, "the file is UTF-16");
	/* The same without the mark, and (a byte on) NUL first, as UTF-16BE. */
	assert_file_refused(f, buf + 2, n - 2, "looks like UTF-16");
	assert_file_refused(f, buf + 3, n - 3, "looks like UTF-16");
}

static int
stop_at_first(void *ctx, const Commissioning__Envelope *env, size_t line)
{
	(void)ctx;
	(void)env;
	(void)line;
	return 7;
}

static void
test_a_callback_can_stop_the_reading(void **state)
{
	struct fixture *f = *state;
	struct spool_file_summary summary;
	size_t len;
	char *buf = read_test_file("discharge_ready_good.csv", &len);
	char err[256];

	assert_int_equal(spool_read_buffer(buf, len, f->ps, stop_at_first, NULL, NULL, &summary,
	                     err, sizeof(err)),
	    7);
	assert_int_equal(summary.envelopes, 0);
	free(buf);
}

/* ---------------------------------------------------------------- privacy */

static void
test_no_nhs_number_in_any_envelope_or_error(void **state)
{
	struct fixture *f = *state;
	static const char *const names[] = {"care_packages_good.csv", "care_packages_bad.csv",
	    "discharge_ready_good.csv", "discharge_ready_bad.csv"};
	int envelopes = 0, errors = 0;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		struct collected c;
		struct spool_file_summary summary;
		char err[256];

		assert_int_equal(read_file_into(f, names[i], &c, &summary, err, sizeof(err)), 0);
		for (int e = 0; e < c.n_env; e++) {
			assert_false(holds_nhs_number(c.packed[e], c.packed_len[e]));
			assert_false(envelope_holds_nhs_number(c.env[e]));
		}
		for (int e = 0; e < c.n_err; e++) {
			char line[512];

			assert_false(holds_nhs_number(c.err[e].reason, strlen(c.err[e].reason)));
			assert_false(holds_nhs_number(c.err[e].column, strlen(c.err[e].column)));
			assert_true(spool_errors_format_line(&c.err[e], line, sizeof(line)) > 0);
			assert_false(holds_nhs_number(line, strlen(line)));
		}
		envelopes += c.n_env;
		errors += c.n_err;
		collected_free(&c);
	}
	assert_true(envelopes > 0);
	assert_true(errors > 0);
}

static void
test_nhs_number_in_a_code_column_is_never_echoed(void **state)
{
	struct fixture *f = *state;

	/* Columns swapped by mistake: the number lands in the council. */
	assert_bad(f, PACKAGE_HEADER, "E10000011,9434765919,P,,,,2026-04-01,", "NHS Number",
	    "not a valid NHS number");
	assert_bad(f, READY_HEADER, "9434765919,9990000018,2026-05-08,1,", "Provider Code",
	    "a 10-byte value");
	assert_false(holds_nhs_number(f->err.reason, strlen(f->err.reason)));
	assert_bad(f, PACKAGE_HEADER, "9434765919,E10000011,P,9990000018,,,2026-04-01,",
	    "Service Type", "a 10-byte value");
	assert_false(holds_nhs_number(f->err.reason, strlen(f->err.reason)));
}

/* ------------------------------------------------------------ errors file */

static void
test_errors_line_quotes_commas_quotes_and_line_breaks(void **state)
{
	struct spool_row_error err = {12, "Weekly cost", ""};
	char line[512];
	int n;

	(void)state;
	snprintf(err.reason, sizeof(err.reason),
	    "more than 2 decimal places; write \"412.50\", "
	    "not 412.505");
	n = spool_errors_format_line(&err, line, sizeof(line));
	assert_int_equal(n, (int)strlen(line));
	assert_string_equal(line, "12,Weekly cost,\"more than 2 decimal places; write "
	                          "\"\"412.50\"\", not 412.505\"\r\n");
	snprintf(err.column, sizeof(err.column), "a,b");
	snprintf(err.reason, sizeof(err.reason), "two\nlines");
	assert_true(spool_errors_format_line(&err, line, sizeof(line)) > 0);
	assert_string_equal(line, "12,\"a,b\",\"two\nlines\"\r\n");
	err.column[0] = '\0';
	snprintf(err.reason, sizeof(err.reason), "plain");
	assert_true(spool_errors_format_line(&err, line, sizeof(line)) > 0);
	assert_string_equal(line, "12,,plain\r\n");
	assert_string_equal(SPOOL_ERRORS_HEADER, "line,column,reason\r\n");
}

static void
test_errors_line_makes_formulas_inert(void **state)
{
	struct spool_row_error err = {3, "=HYPERLINK(1)", "-x"};
	char line[128];

	(void)state;
	assert_true(spool_errors_format_line(&err, line, sizeof(line)) > 0);
	assert_string_equal(line, "3,'=HYPERLINK(1),'-x\r\n");
}

static void
test_errors_line_reports_a_small_buffer(void **state)
{
	struct spool_row_error err = {123456, "Weekly cost", "a reason"};
	char line[16];

	(void)state;
	assert_int_equal(spool_errors_format_line(&err, line, sizeof(line)), -ENOSPC);
	assert_string_equal(line, "");
	assert_int_equal(spool_errors_format_line(&err, line, 0), -ENOSPC);
}

static void
test_errors_line_of_the_worst_case_fits_the_documented_buffer(void **state)
{
	struct spool_row_error err;
	char line[SPOOL_ERRORS_LINE_BUFSIZE];

	(void)state;
	memset(&err, '"', sizeof(err));
	err.line = (size_t)-1;
	err.column[0] = '=';
	err.column[sizeof(err.column) - 1] = '\0';
	err.reason[sizeof(err.reason) - 1] = '\0';
	assert_true(spool_errors_format_line(&err, line, sizeof(line)) > 0);
}

static void
test_errors_line_reads_back_as_three_csv_fields(void **state)
{
	struct spool_row_error err = {7, "Name, full", "say \"no\", twice"};
	struct csv_reader reader;
	struct csv_error csv_err;
	struct csv_row *row = malloc(sizeof(*row));
	char line[256];
	int n;

	(void)state;
	assert_non_null(row);
	n = spool_errors_format_line(&err, line, sizeof(line));
	assert_true(n > 0);
	csv_reader_init(&reader, line, (size_t)n);
	assert_int_equal(csv_reader_next(&reader, row, &csv_err), 1);
	assert_int_equal(row->n_fields, 3);
	assert_string_equal(csv_row_field(row, 0), "7");
	assert_string_equal(csv_row_field(row, 1), "Name, full");
	assert_string_equal(csv_row_field(row, 2), "say \"no\", twice");
	free(row);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_header_of_cld_extract_is_care_packages_and_extra_columns_are_ignored),
	    T(test_header_of_sitrep_is_discharge_ready),
	    T(test_header_of_capacity_tracker_needs_one_beds_column),
	    T(test_header_of_ods_extract_is_organisations),
	    T(test_header_fitting_no_kind_fails_naming_the_missing_columns),
	    T(test_header_fitting_two_kinds_fails),
	    T(test_header_with_a_column_twice_fails),
	    T(test_header_with_an_nhs_number_is_never_organisations_or_capacity),
	    T(test_care_package_row_maps_to_started_with_pence_and_type),
	    T(test_care_package_with_end_date_gives_started_and_ended),
	    T(test_service_type_cld_wording_maps_to_each_type),
	    T(test_weekly_cost_is_parsed_exactly_to_pence),
	    T(test_weekly_cost_with_three_decimals_is_a_bad_row),
	    T(test_malformed_money_is_a_bad_row),
	    T(test_a_column_name_not_utf8_is_shown_with_question_marks),
	    T(test_a_windows_1252_pound_sign_is_named_as_such),
	    T(test_invalid_check_digit_is_a_bad_row_that_never_shows_the_number),
	    T(test_bad_date_is_a_bad_row),
	    T(test_uk_iso_and_ods_dates_give_the_same_event),
	    T(test_unknown_service_type_is_a_bad_row),
	    T(test_missing_package_id_is_a_bad_row),
	    T(test_event_check_faults_are_reported_on_their_column),
	    T(test_package_id_holding_an_nhs_number_is_refused),
	    T(test_row_with_another_field_count_is_a_bad_row),
	    T(test_blank_row_gives_no_events),
	    T(test_report_date_times_both_package_events),
	    T(test_start_date_before_2000_is_kept_and_its_time_clamped),
	    T(test_ready_row_maps_with_pathway_and_council),
	    T(test_pathway_0_is_sent_and_council_is_optional),
	    T(test_pathway_written_p2_or_pathway_3_is_accepted),
	    T(test_a_date_with_a_midnight_time_is_the_date),
	    T(test_pathway_5_is_a_bad_row),
	    T(test_ready_provider_and_council_are_checked_by_kind),
	    T(test_ready_occurred_at_is_the_report_date_when_given),
	    T(test_capacity_available_is_occupied_plus_vacant_accepting_admissions),
	    T(test_capacity_available_is_maximum_when_no_vacancies_given),
	    T(test_capacity_beds_available_column_comes_first),
	    T(test_capacity_as_of_forms),
	    T(test_capacity_bad_rows_name_their_column),
	    T(test_organisation_roles_are_inferred_from_the_code),
	    T(test_organisation_role_column_takes_names_and_ods_role_codes),
	    T(test_organisation_dates_parent_and_time),
	    T(test_organisation_bad_rows),
	    T(test_same_row_gives_the_same_event_id),
	    T(test_different_rows_give_different_event_ids),
	    T(test_same_file_twice_gives_the_same_events),
	    T(test_a_cumulative_extract_repeats_its_rows_ids_on_other_lines),
	    T(test_a_long_note_in_a_column_not_read_is_no_fault_of_the_row),
	    T(test_good_files_read_without_errors),
	    T(test_capacity_file_lines_and_figures),
	    T(test_bad_care_packages_file_reports_each_row_by_line_and_column),
	    T(test_bad_discharge_file_reports_each_row_by_line_and_column),
	    T(test_bad_capacity_file_reports_each_row_by_line_and_column),
	    T(test_file_of_no_kind_fails_whole),
	    T(test_tab_semicolon_pipe_and_utf16_files_are_named_as_such),
	    T(test_a_callback_can_stop_the_reading),
	    T(test_no_nhs_number_in_any_envelope_or_error),
	    T(test_nhs_number_in_a_code_column_is_never_echoed),
	    T(test_errors_line_quotes_commas_quotes_and_line_breaks),
	    T(test_errors_line_makes_formulas_inert),
	    T(test_errors_line_reports_a_small_buffer),
	    T(test_errors_line_of_the_worst_case_fits_the_documented_buffer),
	    T(test_errors_line_reads_back_as_three_csv_fields),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
