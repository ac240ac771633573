/*
 * test_discharges: delayed-discharge cases, the social-care wait and their
 * roll-ups per ICB and council (DOMAIN.md, Delayed discharges; Edges,
 * settled; Now and today), through the write side (history_insert) and the
 * read side (picture_figures). Scenarios are those of
 * tests/examples/delayed-discharges, social-care-wait and clock-changes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "discharges.h"
#include "jtext.h"
#include "projections.h"
#include "picture_fixture.h"

#define ROLE(x) COMMISSIONING__ORG_ROLE__ORG_ROLE_##x
#define EVENT(x) COMMISSIONING__ENVELOPE__EVENT_##x

#define HOUR_MS 3600000LL
#define DAY_MS 86400000LL
#define JUNE_1_UTC 1780272000000LL /* 2026-06-01T00:00Z, 01:00 in London */
#define JUNE(d, h) (JUNE_1_UTC + ((d)-1) * DAY_MS + (int64_t)((h)*HOUR_MS))
#define REFERENCE_MS 1767225600000LL /* 2026-01-01T00:00Z, the ODS load */

/* ------------------------------------------------------------ events */

/* RAA and two councils under the ICB QNX, as in
 * tests/examples/delayed-discharges. */
static void
orgs_raa(struct events *ev)
{
	org(ev, "ods", "O1", REFERENCE_MS, "QNX", ROLE(ICB), "");
	org(ev, "ods", "O2", REFERENCE_MS, "RAA", ROLE(TRUST), "QNX");
	org(ev, "ods", "O3", REFERENCE_MS, "RAA01", ROLE(TRUST_SITE), "RAA");
	org(ev, "ods", "O4", REFERENCE_MS, "E10000011", ROLE(LOCAL_AUTHORITY), "QNX");
	org(ev, "ods", "O5", REFERENCE_MS, "E06000043", ROLE(LOCAL_AUTHORITY), "QNX");
}

/* An admission or discharge of patient's spell at RAA01 (fill bytes). */
static void
adt(struct events *ev, Commissioning__Envelope__EventCase kind, const char *id, int64_t at_ms,
    uint8_t patient, uint8_t spell, char cls)
{
	Commissioning__Envelope env = COMMISSIONING__ENVELOPE__INIT;
	Commissioning__PatientMovement m = COMMISSIONING__PATIENT_MOVEMENT__INIT;
	uint8_t spell_bytes[32], patient_bytes[32];

	m.spell_pseudonym = pseudonym(spell_bytes, spell);
	m.patient_pseudonym = pseudonym(patient_bytes, patient);
	m.provider = "RAA";
	m.site = "RAA01";
	m.ward = "W1";
	m.patient_class = class_of(cls);
	env.event_case = kind;
	env.patient_admitted = &m; /* the four movements share the slot */
	events_add(ev, &env, "hl7:RAA", id, at_ms);
}

/* A ready-for-discharge report; pathway -1 leaves it out, council "" too. */
static void
ready_at(struct events *ev, const char *id, int64_t at_ms, const char *provider, uint8_t patient,
    const char *ready_date, int pathway, const char *council)
{
	Commissioning__Envelope env = COMMISSIONING__ENVELOPE__INIT;
	Commissioning__ReadyForDischarge r = COMMISSIONING__READY_FOR_DISCHARGE__INIT;
	uint8_t patient_bytes[32];

	r.patient_pseudonym = pseudonym(patient_bytes, patient);
	r.provider = (char *)provider;
	r.ready_date = (char *)ready_date;
	if (pathway >= 0) {
		r.opt_pathway_case = COMMISSIONING__READY_FOR_DISCHARGE__OPT_PATHWAY_PATHWAY;
		r.pathway = pathway;
	}
	r.council = (char *)council;
	env.event_case = COMMISSIONING__ENVELOPE__EVENT_READY_FOR_DISCHARGE;
	env.ready_for_discharge = &r;
	events_add(ev, &env, "sitrep", id, at_ms);
}

static void
ready(struct events *ev, const char *id, int64_t at_ms, uint8_t patient, const char *ready_date,
    int pathway, const char *council)
{
	ready_at(ev, id, at_ms, "RAA", patient, ready_date, pathway, council);
}

/* A care package started (or ended) for patient. */
static void
package(struct events *ev, Commissioning__Envelope__EventCase kind, const char *id, int64_t at_ms,
    uint8_t patient, const char *council, const char *package_id, const char *start_date)
{
	Commissioning__Envelope env = COMMISSIONING__ENVELOPE__INIT;
	Commissioning__CarePackage p = COMMISSIONING__CARE_PACKAGE__INIT;
	uint8_t patient_bytes[32];

	p.patient_pseudonym = pseudonym(patient_bytes, patient);
	p.council = (char *)council;
	p.package_id = (char *)package_id;
	p.start_date = (char *)start_date;
	p.end_date = kind == COMMISSIONING__ENVELOPE__EVENT_CARE_PACKAGE_ENDED ? "2027-12-31" : "";
	env.event_case = kind;
	env.care_package_started = &p; /* started and ended share the slot */
	events_add(ev, &env, "spool", id, at_ms);
}

/* ------------------------------------------------------------ reading figures */

/* The case of patient (a fill byte) with this ready date, or NULL. */
static json_t *
case_of(json_t *root, uint8_t patient, const char *ready_date)
{
	char hex[65];
	size_t i;
	json_t *c;

	hex_of(patient, hex);
	json_array_foreach(at_path(root, "discharges.cases"), i,
	    c) if (strcmp(json_string_value(json_object_get(c, "patient")), hex) == 0 &&
	           strcmp(json_string_value(json_object_get(c, "ready_date")), ready_date) ==
	               0) return c;
	return NULL;
}

static const char *
text_at(json_t *root, const char *path)
{
	json_t *v = at_path(root, path);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

static void
assert_null_at(json_t *root, const char *path)
{
	assert_true(json_is_null(at_path(root, path)));
}

static size_t
n_cases(json_t *root)
{
	return json_array_size(at_path(root, "discharges.cases"));
}

/* ------------------------------------------------------------ tests */

/* delayed-discharges E0008-E0012: reports arriving after the discharge
 * belong to the case it closed; ready date the earliest, pathway the latest
 * report's, council the latest report's that names one; PK1, starting
 * before the discharge, ends the social-care wait. */
static void
test_discharges_reports_after_the_discharge_join_its_case(void **state)
{
	struct events ev = {.n = 0};
	json_t *f, *c;

	(void)state;
	orgs_raa(&ev);
	adt(&ev, EVENT(PATIENT_ADMITTED), "A1", JUNE(1, 10), 1, 1, 'I');
	adt(&ev, EVENT(PATIENT_DISCHARGED), "A2", JUNE(5, 14), 1, 1, 'I');
	ready(&ev, "R1", JUNE(6, 9), 1, "2026-06-02", 1, "E10000011");
	ready(&ev, "R2", JUNE(6, 10), 1, "2026-06-03", 2, "");
	package(&ev, EVENT(CARE_PACKAGE_STARTED), "P1", JUNE(5, 6), 1, "E10000011", "PK1",
	    "2026-06-04");
	f = figures_of(&ev, NULL, false, "discharges", JUNE(12, 12));
	assert_int_equal(n_cases(f), 1);
	c = case_of(f, 1, "2026-06-02");
	assert_non_null(c);
	assert_string_equal(text_at(c, "status"), "closed");
	assert_string_equal(text_at(c, "discharge_date"), "2026-06-05");
	assert_int_equal(count_at(c, "pathway"), 2);
	assert_string_equal(text_at(c, "council"), "E10000011");
	assert_string_equal(text_at(c, "rollup_council"), "E10000011");
	assert_int_equal(count_at(c, "days_delayed"), 3);
	assert_string_equal(text_at(c, "social_care_wait_ended_by"), "package");
	assert_string_equal(text_at(c, "package.package_id"), "PK1");
	assert_int_equal(count_at(c, "days_waiting_for_social_care"), 2);
	assert_false(json_is_true(at_path(c, "waiting_on_social_care")));
	json_decref(f);
	events_free(&ev);
}

/* Delayed discharges: each report belongs to the case closed by the
 * person's first discharge at that provider on or after its ready date. */
static void
test_discharges_report_joins_the_first_discharge_on_or_after_its_ready_date(void **state)
{
	struct events ev = {.n = 0};
	json_t *f, *c;

	(void)state;
	orgs_raa(&ev);
	adt(&ev, EVENT(PATIENT_ADMITTED), "A1", JUNE(1, 10), 1, 1, 'I');
	adt(&ev, EVENT(PATIENT_DISCHARGED), "A2", JUNE(5, 14), 1, 1, 'I');
	adt(&ev, EVENT(PATIENT_ADMITTED), "A3", JUNE(6, 10), 1, 2, 'I');
	adt(&ev, EVENT(PATIENT_DISCHARGED), "A4", JUNE(9, 14), 1, 2, 'I');
	ready(&ev, "R1", JUNE(7, 9), 1, "2026-06-07", 0, "E10000011");
	ready(&ev, "R2", JUNE(10, 9), 1, "2026-06-10", 0, "E10000011");
	f = figures_of(&ev, NULL, false, "discharges", JUNE(12, 12));
	assert_int_equal(n_cases(f), 2);
	c = case_of(f, 1, "2026-06-07");
	assert_string_equal(text_at(c, "discharge_date"), "2026-06-09");
	assert_int_equal(count_at(c, "days_delayed"), 2);
	c = case_of(f, 1, "2026-06-10");
	assert_string_equal(text_at(c, "status"), "open");
	assert_null_at(c, "discharge_date");
	assert_int_equal(count_at(c, "days_delayed"), 2);
	json_decref(f);
	events_free(&ev);
}

/* delayed-discharges E0013-E0015: an open case on pathway 3 waits on social
 * care until a package starts by the as-of date; with no council from a
 * report or a package, it is unattributed. */
static void
test_discharges_open_case_waits_until_a_package_starts_by_the_as_of(void **state)
{
	struct events ev = {.n = 0};
	json_t *f, *c;

	(void)state;
	orgs_raa(&ev);
	adt(&ev, EVENT(PATIENT_ADMITTED), "A1", JUNE(8, 10), 1, 2, 'I');
	ready(&ev, "R1", JUNE(10, 12), 1, "2026-06-10", 3, "");
	package(&ev, EVENT(CARE_PACKAGE_STARTED), "P1", JUNE(11, 6), 1, "E06000043", "PK2",
	    "2026-06-13");
	f = figures_of(&ev, NULL, false, "discharges", JUNE(12, 12));
	c = case_of(f, 1, "2026-06-10");
	assert_string_equal(text_at(c, "status"), "open");
	assert_true(json_is_true(at_path(c, "waiting_on_social_care")));
	assert_null_at(c, "social_care_wait_ended_by");
	assert_null_at(c, "package");
	assert_null_at(c, "council");
	assert_string_equal(text_at(c, "rollup_council"), "unattributed");
	assert_int_equal(count_at(c, "days_waiting_for_social_care"), 2);
	assert_int_equal(
	    count_at(f, "discharges.councils.unattributed.open.waiting_on_social_care"), 1);
	json_decref(f);
	/* Read two days later, the package has started: it ends the wait and
	 * gives the case its council. */
	f = figures_of(&ev, NULL, false, "discharges", JUNE(14, 12));
	c = case_of(f, 1, "2026-06-10");
	assert_false(json_is_true(at_path(c, "waiting_on_social_care")));
	assert_string_equal(text_at(c, "social_care_wait_ended_by"), "package");
	assert_string_equal(text_at(c, "rollup_council"), "E06000043");
	assert_int_equal(count_at(c, "days_waiting_for_social_care"), 3);
	assert_int_equal(count_at(c, "days_delayed"), 4);
	json_decref(f);
	events_free(&ev);
}

/* delayed-discharges E0016-E0019: the package starts after the discharge,
 * so the discharge ended the wait, and the package gives no council. */
static void
test_discharges_discharge_ends_the_wait_before_a_later_package(void **state)
{
	struct events ev = {.n = 0};
	json_t *f, *c;

	(void)state;
	orgs_raa(&ev);
	adt(&ev, EVENT(PATIENT_ADMITTED), "A1", JUNE(1, 8), 2, 2, 'I');
	adt(&ev, EVENT(PATIENT_DISCHARGED), "A2", JUNE(7, 10), 2, 2, 'I');
	ready(&ev, "R1", JUNE(3, 9), 2, "2026-06-03", 1, "");
	package(
	    &ev, EVENT(CARE_PACKAGE_STARTED), "P1", JUNE(9, 6), 2, "E06000043", "QK", "2026-06-09");
	f = figures_of(&ev, NULL, false, "discharges", JUNE(12, 12));
	c = case_of(f, 2, "2026-06-03");
	assert_int_equal(count_at(c, "days_delayed"), 4);
	assert_string_equal(text_at(c, "social_care_wait_ended_by"), "discharge");
	assert_null_at(c, "package");
	assert_int_equal(count_at(c, "days_waiting_for_social_care"), 4);
	assert_string_equal(text_at(c, "rollup_council"), "unattributed");
	json_decref(f);
	events_free(&ev);
}

/* delayed-discharges E0020: pathway 0 has no social-care wait. */
static void
test_discharges_pathway_0_has_no_social_care_wait(void **state)
{
	struct events ev = {.n = 0};
	json_t *f, *c;

	(void)state;
	orgs_raa(&ev);
	adt(&ev, EVENT(PATIENT_ADMITTED), "A1", JUNE(5, 10), 3, 3, 'I');
	ready(&ev, "R1", JUNE(11, 9), 3, "2026-06-11", 0, "E10000011");
	package(&ev, EVENT(CARE_PACKAGE_STARTED), "P1", JUNE(11, 9), 3, "E10000011", "PK",
	    "2026-06-11");
	f = figures_of(&ev, NULL, false, "discharges", JUNE(12, 12));
	c = case_of(f, 3, "2026-06-11");
	assert_int_equal(count_at(c, "days_delayed"), 1);
	assert_false(json_is_true(at_path(c, "waiting_on_social_care")));
	assert_null_at(c, "social_care_wait_ended_by");
	assert_null_at(c, "package");
	assert_null_at(c, "days_waiting_for_social_care");
	json_decref(f);
	events_free(&ev);
}

/* delayed-discharges E0022-E0024: discharged on the ready date: no delay,
 * and the discharge ends the wait at once. */
static void
test_discharges_discharge_on_the_ready_date_is_no_delay(void **state)
{
	struct events ev = {.n = 0};
	json_t *f, *c;

	(void)state;
	orgs_raa(&ev);
	adt(&ev, EVENT(PATIENT_ADMITTED), "A1", JUNE(2, 10), 4, 4, 'I');
	adt(&ev, EVENT(PATIENT_DISCHARGED), "A2", JUNE(9, 16), 4, 4, 'I');
	ready(&ev, "R1", JUNE(9, 8), 4, "2026-06-09", 1, "E06000043");
	f = figures_of(&ev, NULL, false, "discharges", JUNE(12, 12));
	c = case_of(f, 4, "2026-06-09");
	assert_string_equal(text_at(c, "status"), "closed");
	assert_int_equal(count_at(c, "days_delayed"), 0);
	assert_string_equal(text_at(c, "social_care_wait_ended_by"), "discharge");
	assert_int_equal(count_at(c, "days_waiting_for_social_care"), 0);
	json_decref(f);
	events_free(&ev);
}

/* delayed-discharges E0025-E0027: only inpatient discharges close cases;
 * an ED attendance's discharge leaves the case open. */
static void
test_discharges_only_inpatient_discharges_close_cases(void **state)
{
	struct events ev = {.n = 0};
	json_t *f, *c;

	(void)state;
	orgs_raa(&ev);
	adt(&ev, EVENT(PATIENT_ADMITTED), "A1", JUNE(8, 10), 5, 5, 'E');
	adt(&ev, EVENT(PATIENT_DISCHARGED), "A2", JUNE(8, 14), 5, 5, 'E');
	ready(&ev, "R1", JUNE(8, 11), 5, "2026-06-08", 0, "E10000011");
	f = figures_of(&ev, NULL, false, "discharges", JUNE(12, 12));
	c = case_of(f, 5, "2026-06-08");
	assert_string_equal(text_at(c, "status"), "open");
	assert_int_equal(count_at(c, "days_delayed"), 4);
	json_decref(f);
	events_free(&ev);
}

/* social-care-wait E0010: two packages start on the discharge day; the tie
 * goes by council, so E06000043's ends the wait and gives the council. */
static void
test_discharges_package_ties_go_by_council_then_package_id(void **state)
{
	struct events ev = {.n = 0};
	json_t *f, *c;

	(void)state;
	orgs_raa(&ev);
	adt(&ev, EVENT(PATIENT_ADMITTED), "A1", JUNE(1, 10), 6, 6, 'I');
	adt(&ev, EVENT(PATIENT_DISCHARGED), "A2", JUNE(7, 10), 6, 6, 'I');
	ready(&ev, "R1", JUNE(3, 9), 6, "2026-06-03", 3, "");
	package(&ev, EVENT(CARE_PACKAGE_STARTED), "P1", JUNE(7, 6), 6, "E10000011", "PKC-1",
	    "2026-06-07");
	package(&ev, EVENT(CARE_PACKAGE_STARTED), "P2", JUNE(7, 6), 6, "E06000043", "PKC-9",
	    "2026-06-07");
	package(&ev, EVENT(CARE_PACKAGE_STARTED), "P3", JUNE(7, 6), 6, "E06000043", "PKC-A",
	    "2026-06-07");
	f = figures_of(&ev, NULL, false, "discharges", JUNE(10, 12));
	c = case_of(f, 6, "2026-06-03");
	assert_string_equal(text_at(c, "package.package_id"), "PKC-9");
	assert_string_equal(text_at(c, "rollup_council"), "E06000043");
	assert_null_at(c, "council");
	assert_int_equal(count_at(c, "days_waiting_for_social_care"), 4);
	json_decref(f);
	events_free(&ev);
}

/* social-care-wait E0008, E0011: an as-of before the discharge: the
 * discharge still closes the case, and a package after the as-of but
 * before the discharge still ends a closed case's wait. */
static void
test_discharges_events_after_the_as_of_still_count(void **state)
{
	struct events ev = {.n = 0};
	json_t *f, *c;

	(void)state;
	orgs_raa(&ev);
	adt(&ev, EVENT(PATIENT_ADMITTED), "A1", JUNE(1, 10), 7, 7, 'I');
	adt(&ev, EVENT(PATIENT_DISCHARGED), "A2", JUNE(12, 10), 7, 7, 'I');
	ready(&ev, "R1", JUNE(5, 9), 7, "2026-06-05", 1, "E10000011");
	adt(&ev, EVENT(PATIENT_ADMITTED), "A3", JUNE(1, 10), 8, 8, 'I');
	adt(&ev, EVENT(PATIENT_DISCHARGED), "A4", JUNE(13, 10), 8, 8, 'I');
	ready(&ev, "R2", JUNE(4, 9), 8, "2026-06-04", 1, "E06000043");
	package(&ev, EVENT(CARE_PACKAGE_STARTED), "P1", JUNE(9, 6), 8, "E06000043", "PKD",
	    "2026-06-12");
	f = figures_of(&ev, NULL, false, "discharges", JUNE(10, 12));
	c = case_of(f, 7, "2026-06-05");
	assert_string_equal(text_at(c, "status"), "closed");
	assert_int_equal(count_at(c, "days_delayed"), 7);
	assert_string_equal(text_at(c, "social_care_wait_ended_by"), "discharge");
	assert_int_equal(count_at(c, "days_waiting_for_social_care"), 7);
	c = case_of(f, 8, "2026-06-04");
	assert_int_equal(count_at(c, "days_delayed"), 9);
	assert_string_equal(text_at(c, "social_care_wait_ended_by"), "package");
	assert_int_equal(count_at(c, "days_waiting_for_social_care"), 8);
	json_decref(f);
	events_free(&ev);
}

/* social-care-wait E0009: ready after the as-of date: 0 days, never below. */
static void
test_discharges_day_count_is_never_below_zero(void **state)
{
	struct events ev = {.n = 0};
	json_t *f, *c;

	(void)state;
	orgs_raa(&ev);
	adt(&ev, EVENT(PATIENT_ADMITTED), "A1", JUNE(1, 10), 9, 9, 'I');
	ready(&ev, "R1", JUNE(9, 9), 9, "2026-06-14", 2, "E10000011");
	f = figures_of(&ev, NULL, false, "discharges", JUNE(10, 12));
	c = case_of(f, 9, "2026-06-14");
	assert_int_equal(count_at(c, "days_delayed"), 0);
	assert_int_equal(count_at(c, "days_waiting_for_social_care"), 0);
	assert_true(json_is_true(at_path(c, "waiting_on_social_care")));
	json_decref(f);
	events_free(&ev);
}

/* clock-changes: ready 28 March, discharged 23:30 UTC on 29 March (00:30
 * BST on 30 March): 2 days, counted in midnights, though 29 March had 23
 * hours. */
static void
test_discharges_days_count_london_midnights_across_a_clock_change(void **state)
{
	struct events ev = {.n = 0};
	json_t *f, *c;

	(void)state;
	orgs_raa(&ev);
	adt(&ev, EVENT(PATIENT_ADMITTED), "A1", 1774740600000LL, 10, 10, 'I');
	adt(&ev, EVENT(PATIENT_DISCHARGED), "A2", 1774827000000LL, 10, 10, 'I');
	ready(&ev, "R1", 1774742400000LL, 10, "2026-03-28", 0, "");
	f = figures_of(&ev, NULL, false, "discharges", 1793491200000LL);
	c = case_of(f, 10, "2026-03-28");
	assert_string_equal(text_at(c, "discharge_date"), "2026-03-30");
	assert_int_equal(count_at(c, "days_delayed"), 2);
	json_decref(f);
	events_free(&ev);
}

/* delayed-discharges: roll-ups per ICB (the provider's) and per council:
 * open cases, waiting, days delayed, each by pathway; closed cases per
 * discharge date. */
static void
test_discharges_roll_up_per_icb_council_and_pathway(void **state)
{
	struct events ev = {.n = 0};
	json_t *f;

	(void)state;
	orgs_raa(&ev);
	adt(&ev, EVENT(PATIENT_ADMITTED), "A1", JUNE(1, 10), 1, 1, 'I');
	ready(&ev, "R1", JUNE(10, 9), 1, "2026-06-10", 3, "");
	adt(&ev, EVENT(PATIENT_ADMITTED), "A2", JUNE(1, 10), 2, 2, 'I');
	ready(&ev, "R2", JUNE(10, 9), 2, "2026-06-11", 0, "E10000011");
	adt(&ev, EVENT(PATIENT_ADMITTED), "A3", JUNE(1, 10), 3, 3, 'I');
	ready(&ev, "R3", JUNE(10, 9), 3, "2026-06-08", 0, "E10000011");
	adt(&ev, EVENT(PATIENT_ADMITTED), "A4", JUNE(1, 10), 4, 4, 'I');
	adt(&ev, EVENT(PATIENT_DISCHARGED), "A5", JUNE(5, 10), 4, 4, 'I');
	ready(&ev, "R4", JUNE(3, 9), 4, "2026-06-02", 2, "E10000011");
	f = figures_of(&ev, NULL, false, "discharges", JUNE(12, 12));
	assert_int_equal(count_at(f, "discharges.icbs.QNX.open.cases"), 3);
	assert_int_equal(count_at(f, "discharges.icbs.QNX.open.days_delayed"), 2 + 1 + 4);
	assert_int_equal(count_at(f, "discharges.icbs.QNX.open.waiting_on_social_care"), 1);
	assert_int_equal(count_at(f, "discharges.icbs.QNX.open.by_pathway.0.cases"), 2);
	assert_int_equal(count_at(f, "discharges.icbs.QNX.open.by_pathway.0.days_delayed"), 5);
	assert_int_equal(
	    count_at(f, "discharges.icbs.QNX.open.by_pathway.3.waiting_on_social_care"), 1);
	assert_int_equal(count_at(f, "discharges.icbs.QNX.closed_by_date.2026-06-05.cases"), 1);
	assert_int_equal(
	    count_at(f, "discharges.icbs.QNX.closed_by_date.2026-06-05.days_delayed"), 3);
	assert_int_equal(count_at(f, "discharges.councils.E10000011.open.cases"), 2);
	assert_int_equal(count_at(f, "discharges.councils.E10000011.open.days_delayed"), 5);
	assert_int_equal(
	    count_at(f, "discharges.councils.E10000011.closed_by_date.2026-06-05.cases"), 1);
	assert_int_equal(count_at(f, "discharges.councils.unattributed.open.cases"), 1);
	json_decref(f);
	events_free(&ev);
}

/* Places in the hierarchy: a provider with no known ICB rolls up under
 * unmapped and is listed there; so is a council with no known ICB. */
static void
test_discharges_unknown_provider_and_council_roll_up_under_unmapped(void **state)
{
	struct events ev = {.n = 0};
	json_t *f, *c;

	(void)state;
	orgs_raa(&ev);
	ready_at(&ev, "R1", JUNE(10, 9), "RCC", 1, "2026-06-10", 0, "E08000001");
	f = figures_of(&ev, NULL, false, "discharges", JUNE(12, 12));
	c = case_of(f, 1, "2026-06-10");
	assert_string_equal(text_at(c, "icb"), "unmapped");
	assert_true(unmapped_has(f, "RCC"));
	assert_true(unmapped_has(f, "E08000001"));
	assert_int_equal(count_at(f, "discharges.icbs.unmapped.open.cases"), 1);
	assert_int_equal(count_at(f, "discharges.councils.E08000001.open.cases"), 1);
	json_decref(f);
	events_free(&ev);
}

/* Delayed discharges: packages are one (council, package id), and the last
 * "started" gives the start date. */
static void
test_discharges_last_started_gives_the_package_start_date(void **state)
{
	struct events ev = {.n = 0};
	json_t *f, *c;

	(void)state;
	orgs_raa(&ev);
	adt(&ev, EVENT(PATIENT_ADMITTED), "A1", JUNE(1, 10), 1, 1, 'I');
	ready(&ev, "R1", JUNE(3, 9), 1, "2026-06-03", 1, "E10000011");
	package(
	    &ev, EVENT(CARE_PACKAGE_STARTED), "P1", JUNE(4, 6), 1, "E10000011", "PK", "2026-06-04");
	package(
	    &ev, EVENT(CARE_PACKAGE_STARTED), "P2", JUNE(5, 6), 1, "E10000011", "PK", "2026-06-13");
	package(&ev, EVENT(CARE_PACKAGE_ENDED), "P3", JUNE(6, 6), 1, "E10000011", "PK", "");
	f = figures_of(&ev, NULL, false, "discharges", JUNE(12, 12));
	c = case_of(f, 1, "2026-06-03");
	assert_true(json_is_true(at_path(c, "waiting_on_social_care")));
	assert_int_equal(count_at(c, "days_waiting_for_social_care"), 9);
	json_decref(f);
	events_free(&ev);
}

/* Order and repetition: the same set of events gives the same figures in
 * any arrival order. */
static void
test_discharges_same_events_in_any_order_give_the_same_figures(void **state)
{
	struct events ev = {.n = 0};
	size_t *backwards;
	json_t *forward, *backward;

	(void)state;
	orgs_raa(&ev);
	adt(&ev, EVENT(PATIENT_ADMITTED), "A1", JUNE(1, 10), 1, 1, 'I');
	adt(&ev, EVENT(PATIENT_DISCHARGED), "A2", JUNE(5, 14), 1, 1, 'I');
	ready(&ev, "R1", JUNE(6, 9), 1, "2026-06-02", 1, "E10000011");
	ready(&ev, "R2", JUNE(6, 10), 1, "2026-06-03", 2, "");
	adt(&ev, EVENT(PATIENT_ADMITTED), "A3", JUNE(8, 10), 1, 2, 'I');
	ready(&ev, "R3", JUNE(10, 12), 1, "2026-06-10", 3, "");
	package(&ev, EVENT(CARE_PACKAGE_STARTED), "P1", JUNE(5, 6), 1, "E10000011", "PK1",
	    "2026-06-04");
	package(&ev, EVENT(CARE_PACKAGE_STARTED), "P2", JUNE(11, 6), 1, "E06000043", "PK2",
	    "2026-06-11");
	adt(&ev, EVENT(PATIENT_ADMITTED), "A4", JUNE(2, 10), 2, 3, 'I');
	ready(&ev, "R4", JUNE(3, 9), 2, "2026-06-03", 0, "E06000043");
	forward = figures_of(&ev, NULL, false, "discharges", JUNE(12, 12));
	backwards = order_new(ev.n, true);
	backward = figures_of(&ev, backwards, true, "discharges", JUNE(12, 12));
	free(backwards);
	assert_true(json_equal(forward, backward));
	assert_int_equal(n_cases(forward), 3);
	json_decref(forward);
	json_decref(backward);
	events_free(&ev);
}

/* ------------------------------------------------------------ the text */

/* discharges_case_dump against json_dumps(discharges_case_json) for c. */
static void
expect_dump_as_jansson(const struct discharges_case *c, const char *icb)
{
	json_t *json = discharges_case_json(c, icb);
	char *dumped = json_dumps(json, JSON_COMPACT);
	struct jtext text = {0};

	jtext_raw(&text, "[");
	discharges_case_dump(&text, c, icb);
	jtext_raw(&text, "]");
	assert_false(text.failed);
	assert_non_null(dumped);
	assert_int_equal(text.text[0], '[');
	text.text[text.len - 1] = '\0';
	assert_string_equal(text.text + 1, dumped);
	free(text.text);
	free(dumped);
	json_decref(json);
}

/* Every field either way, every ASCII character (escaped as jansson
 * escapes it), text that is not ASCII and numbers of every sign: the text
 * written directly is the text jansson writes of the tree. */
static void
test_discharges_case_text_is_what_jansson_writes(void **state)
{
	struct discharges_package package = {"ab", "E10000011", "PK1", "2026-06-03", 0};
	const char *strange[] = {"", "a\"b\\c/d", "tab\there\nnl\rcr\bbs\fff", "\x01\x1f\x7f",
	    "caf\xc3\xa9", "\xe2\x80\x94 dash", "\xff not utf-8", "E10000011"};
	char every[128];
	size_t n = 0;

	(void)state;
	for (int ch = 1; ch < 128; ch++)
		every[n++] = (char)ch;
	every[n] = '\0';
	for (unsigned bits = 0; bits < 64; bits++) {
		struct discharges_case c = {0};
		c.patient = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";
		c.provider = "RAA";
		c.closed = bits & 1;
		c.ready_day = 20600 + (int32_t)bits;
		c.discharge_day = 20610 - (int32_t)bits;
		c.has_pathway = bits & 2;
		c.pathway = bits & 4 ? 3 : -12345678901LL;
		c.council = bits & 8 ? "E10000011" : NULL;
		c.rollup_council = c.council != NULL ? c.council : DISCHARGES_UNATTRIBUTED;
		c.days_delayed = bits & 16 ? -(int32_t)bits : (int32_t)bits * 1000;
		c.waiting_on_social_care = bits & 32;
		c.has_social_care_wait = bits & 4;
		c.days_waiting = (int32_t)bits - 7;
		c.package = bits & 16 ? &package : NULL;
		c.wait_ended_by = bits & 8 ? "package" : NULL;
		expect_dump_as_jansson(&c, bits & 1 ? "QNX" : "unmapped");
	}
	for (size_t i = 0; i < sizeof(strange) / sizeof(strange[0]) + 1; i++) {
		const char *s = i < sizeof(strange) / sizeof(strange[0]) ? strange[i] : every;
		struct discharges_case c = {0};
		struct discharges_package odd = {"ab", s, s, s, 0};
		c.patient = s;
		c.provider = s;
		c.council = s;
		c.rollup_council = s;
		c.wait_ended_by = s;
		c.package = &odd;
		c.has_pathway = true;
		c.pathway = 2;
		expect_dump_as_jansson(&c, s);
		c.patient = "ab";
		expect_dump_as_jansson(&c, "QNX");
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_discharges_reports_after_the_discharge_join_its_case),
	    cmocka_unit_test(test_discharges_case_text_is_what_jansson_writes),
	    cmocka_unit_test(
	        test_discharges_report_joins_the_first_discharge_on_or_after_its_ready_date),
	    cmocka_unit_test(test_discharges_open_case_waits_until_a_package_starts_by_the_as_of),
	    cmocka_unit_test(test_discharges_discharge_ends_the_wait_before_a_later_package),
	    cmocka_unit_test(test_discharges_pathway_0_has_no_social_care_wait),
	    cmocka_unit_test(test_discharges_discharge_on_the_ready_date_is_no_delay),
	    cmocka_unit_test(test_discharges_only_inpatient_discharges_close_cases),
	    cmocka_unit_test(test_discharges_package_ties_go_by_council_then_package_id),
	    cmocka_unit_test(test_discharges_events_after_the_as_of_still_count),
	    cmocka_unit_test(test_discharges_day_count_is_never_below_zero),
	    cmocka_unit_test(test_discharges_days_count_london_midnights_across_a_clock_change),
	    cmocka_unit_test(test_discharges_roll_up_per_icb_council_and_pathway),
	    cmocka_unit_test(test_discharges_unknown_provider_and_council_roll_up_under_unmapped),
	    cmocka_unit_test(test_discharges_last_started_gives_the_package_start_date),
	    cmocka_unit_test(test_discharges_same_events_in_any_order_give_the_same_figures),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
