/*
 * test_capacity: capacity lines and their roll-ups per ICB and council, with
 * the places of services (DOMAIN.md, Capacity; Services; Places in the
 * hierarchy), through the write side (history_insert) and the read side
 * (picture_figures). Scenarios are those of tests/examples/capacity,
 * services, hierarchy and codes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "dates.h"
#include "projections.h"
#include "picture_fixture.h"

#define ROLE(x) COMMISSIONING__ORG_ROLE__ORG_ROLE_##x
#define SECTOR(x) COMMISSIONING__SECTOR__SECTOR_##x
#define STATUS(x) COMMISSIONING__SERVICE_STATUS__SERVICE_STATUS_##x
#define CHANGE(x) COMMISSIONING__PROPOSED_CHANGE_TYPE__PROPOSED_CHANGE_TYPE_##x

#define DAY_MS 86400000LL

/* ------------------------------------------------------------ events */

static void
capacity(struct events *ev, const char *event_id, int64_t at, const char *organisation,
    Commissioning__Sector sector, int64_t available, int64_t occupied, int64_t as_of)
{
	Commissioning__Envelope env = COMMISSIONING__ENVELOPE__INIT;
	Commissioning__CapacityReported c = COMMISSIONING__CAPACITY_REPORTED__INIT;

	c.organisation = (char *)organisation;
	c.sector = sector;
	c.opt_beds_available_case =
	    COMMISSIONING__CAPACITY_REPORTED__OPT_BEDS_AVAILABLE_BEDS_AVAILABLE;
	c.beds_available = available;
	c.opt_beds_occupied_case =
	    COMMISSIONING__CAPACITY_REPORTED__OPT_BEDS_OCCUPIED_BEDS_OCCUPIED;
	c.beds_occupied = occupied;
	c.as_of = as_of;
	env.event_case = COMMISSIONING__ENVELOPE__EVENT_CAPACITY_REPORTED;
	env.capacity_reported = &c;
	events_add(ev, &env, "capacity", event_id, at);
}

/* A service event; change_type UNSPECIFIED sends no proposed change. */
static void
service(struct events *ev, const char *event_id, const char *service_id, const char *commissioner,
    const char *provider, Commissioning__ServiceStatus from, Commissioning__ServiceStatus to,
    const char *effective_date, int64_t places, Commissioning__ProposedChangeType change_type,
    int64_t change_places)
{
	Commissioning__Envelope env = COMMISSIONING__ENVELOPE__INIT;
	Commissioning__ServiceStatusChanged s = COMMISSIONING__SERVICE_STATUS_CHANGED__INIT;
	Commissioning__ProposedChange change = COMMISSIONING__PROPOSED_CHANGE__INIT;

	s.service_id = (char *)service_id;
	s.commissioner = (char *)commissioner;
	s.provider = (char *)provider;
	s.category = COMMISSIONING__SERVICE_CATEGORY__SERVICE_CATEGORY_DEMENTIA_AND_RESPITE;
	s.from_status = from;
	s.to_status = to;
	s.effective_date = (char *)effective_date;
	s.opt_places_case = COMMISSIONING__SERVICE_STATUS_CHANGED__OPT_PLACES_PLACES;
	s.places = places;
	if (change_type != CHANGE(UNSPECIFIED)) {
		change.type = change_type;
		if (change_type == CHANGE(REDUCE)) {
			change.opt_places_case = COMMISSIONING__PROPOSED_CHANGE__OPT_PLACES_PLACES;
			change.places = change_places;
		}
		s.proposed_change = &change;
	}
	env.event_case = COMMISSIONING__ENVELOPE__EVENT_SERVICE_STATUS_CHANGED;
	env.service_status_changed = &s;
	events_add(ev, &env, "commissioner", event_id, ms_of(2024, 1, 1, 10));
}

/* The reference data of the examples: QNX with two councils and a trust. */
static void
reference_data(struct events *ev)
{
	int64_t at = ms_of(2026, 1, 1, 0);

	org(ev, "ods", "R1", at, "QNX", ROLE(ICB), "Y59");
	org(ev, "ods", "R2", at, "E10000011", ROLE(LOCAL_AUTHORITY), "QNX");
	org(ev, "ods", "R3", at, "E06000043", ROLE(LOCAL_AUTHORITY), "QNX");
	org(ev, "ods", "R4", at, "RAA", ROLE(TRUST), "QNX");
	org(ev, "ods", "R5", at, "RAA01", ROLE(TRUST_SITE), "RAA");
	org(ev, "ods", "R6", at, "1-100000001", ROLE(CARE_HOME), "E10000011");
}

/* ------------------------------------------------------------ reading */

/* The count key of the capacity roll-up of code in group; it must be there. */
static json_int_t
rollup_count(json_t *root, const char *group, const char *code, const char *key)
{
	json_t *v = json_object_get(
	    json_object_get(json_object_get(json_object_get(root, "capacity"), group), code), key);

	assert_true(json_is_integer(v));
	return json_integer_value(v);
}

static bool
has_rollup(json_t *root, const char *group, const char *code)
{
	return json_object_get(json_object_get(json_object_get(root, "capacity"), group), code) !=
	       NULL;
}

static json_t *
line_of(json_t *root, const char *organisation, const char *sector)
{
	json_t *lines = json_object_get(json_object_get(root, "capacity"), "lines");
	size_t i;
	json_t *line;

	json_array_foreach(lines, i,
	    line) if (strcmp(json_string_value(json_object_get(line, "organisation")),
	                  organisation) == 0 &&
	              strcmp(json_string_value(json_object_get(line, "sector")), sector) ==
	                  0) return line;
	fail_msg("no line %s %s", organisation, sector);
	return NULL;
}

static const int64_t AS_OF_11_MAY = 1778457600000LL; /* 2026-05-11T00:00Z */

/* ------------------------------------------------------------ tests */

/* examples/capacity: E0013 arrives last but reports an older as-of. */
static void
test_report_with_latest_as_of_stands(void **state)
{
	struct events ev = {.n = 0};
	json_t *f, *line;

	(void)state;
	reference_data(&ev);
	capacity(&ev, "E1", ms_of(2026, 5, 10, 10), "RAA01", SECTOR(GENERAL_AND_ACUTE), 100, 95,
	    ms_of(2026, 5, 10, 10));
	capacity(&ev, "E2", ms_of(2026, 5, 10, 12), "RAA01", SECTOR(GENERAL_AND_ACUTE), 80, 10,
	    ms_of(2026, 5, 10, 8));
	f = figures_of(&ev, NULL, true, "capacity", AS_OF_11_MAY);
	line = line_of(f, "RAA01", "general_and_acute");
	assert_int_equal(json_integer_value(json_object_get(line, "available")), 100);
	assert_int_equal(json_integer_value(json_object_get(line, "occupied")), 95);
	assert_int_equal(json_integer_value(json_object_get(line, "vacant")), 5);
	assert_string_equal(json_string_value(json_object_get(line, "icb")), "QNX");
	assert_int_equal(
	    json_array_size(json_object_get(json_object_get(f, "capacity"), "lines")), 1);
	json_decref(f);
	events_free(&ev);
}

/* examples/capacity: E0012 has E0011's as-of and comes later: a correction. */
static void
test_same_as_of_last_in_order_stands_as_a_correction(void **state)
{
	struct events ev = {.n = 0};
	size_t backwards[] = {7, 6, 5, 4, 3, 2, 1, 0};
	json_t *f;

	(void)state;
	reference_data(&ev);
	capacity(&ev, "E0011", ms_of(2026, 5, 10, 10), "RAA01", SECTOR(GENERAL_AND_ACUTE), 100, 90,
	    ms_of(2026, 5, 10, 10));
	capacity(&ev, "E0012", ms_of(2026, 5, 10, 11), "RAA01", SECTOR(GENERAL_AND_ACUTE), 100, 95,
	    ms_of(2026, 5, 10, 10));
	f = figures_of(&ev, NULL, true, "capacity", AS_OF_11_MAY);
	assert_int_equal(rollup_count(f, "icbs", "QNX", "occupied"), 95);
	json_decref(f);
	f = figures_of(&ev, backwards, true, "capacity", AS_OF_11_MAY);
	assert_int_equal(rollup_count(f, "icbs", "QNX", "occupied"), 95);
	json_decref(f);
	events_free(&ev);
}

/* examples/capacity: RAA01 maternity, 20 available and 25 occupied. */
static void
test_occupied_above_available_is_over_capacity_and_vacant_never_below_zero(void **state)
{
	struct events ev = {.n = 0};
	json_t *f, *line;

	(void)state;
	reference_data(&ev);
	capacity(&ev, "E1", ms_of(2026, 5, 10, 9), "RAA01", SECTOR(MATERNITY), 20, 25,
	    ms_of(2026, 5, 10, 9));
	capacity(&ev, "E2", ms_of(2026, 5, 10, 9), "RAA01", SECTOR(GENERAL_AND_ACUTE), 10, 4,
	    ms_of(2026, 5, 10, 9));
	f = figures_of(&ev, NULL, true, "capacity", AS_OF_11_MAY);
	line = line_of(f, "RAA01", "maternity");
	assert_true(json_is_true(json_object_get(line, "over_capacity")));
	assert_int_equal(json_integer_value(json_object_get(line, "vacant")), 0);
	assert_int_equal(rollup_count(f, "icbs", "QNX", "available"), 30);
	assert_int_equal(rollup_count(f, "icbs", "QNX", "occupied"), 29);
	assert_int_equal(rollup_count(f, "icbs", "QNX", "vacant"), 6);
	assert_int_equal(rollup_count(f, "icbs", "QNX", "over_capacity_lines"), 1);
	json_decref(f);
	events_free(&ev);
}

/* examples/capacity: councils count care-home lines only, ICBs every line. */
static void
test_councils_count_care_home_lines_only(void **state)
{
	struct events ev = {.n = 0};
	json_t *f, *line;

	(void)state;
	reference_data(&ev);
	capacity(&ev, "E1", ms_of(2026, 5, 10, 9), "RAA01", SECTOR(GENERAL_AND_ACUTE), 100, 95,
	    ms_of(2026, 5, 10, 9));
	capacity(&ev, "E2", ms_of(2026, 5, 10, 9), "1-100000001", SECTOR(RESIDENTIAL), 30, 28,
	    ms_of(2026, 5, 10, 9));
	f = figures_of(&ev, NULL, true, "capacity", AS_OF_11_MAY);
	assert_int_equal(rollup_count(f, "icbs", "QNX", "available"), 130);
	assert_int_equal(rollup_count(f, "councils", "E10000011", "available"), 30);
	assert_int_equal(rollup_count(f, "councils", "E10000011", "vacant"), 2);
	assert_false(has_rollup(f, "councils", "E06000043"));
	assert_false(has_rollup(f, "councils", "unmapped"));
	line = line_of(f, "1-100000001", "residential");
	assert_string_equal(json_string_value(json_object_get(line, "council")), "E10000011");
	assert_true(
	    json_is_null(json_object_get(line_of(f, "RAA01", "general_and_acute"), "council")));
	json_decref(f);
	events_free(&ev);
}

/* examples/capacity: 1-100000002 moved to E06000043 by an update (E0010). */
static void
test_care_home_moved_by_an_update_counts_for_its_new_council(void **state)
{
	struct events ev = {.n = 0};
	json_t *f;

	(void)state;
	reference_data(&ev);
	org(&ev, "ods", "E0009", ms_of(2026, 1, 1, 0), "1-100000002", ROLE(CARE_HOME), "E10000011");
	org(&ev, "ods", "E0010", ms_of(2026, 2, 1, 0), "1-100000002", ROLE(CARE_HOME), "E06000043");
	capacity(&ev, "E0016", ms_of(2026, 5, 10, 9), "1-100000002", SECTOR(NURSING), 40, 41,
	    ms_of(2026, 5, 10, 9));
	f = figures_of(&ev, NULL, true, "capacity", AS_OF_11_MAY);
	assert_int_equal(rollup_count(f, "councils", "E06000043", "occupied"), 41);
	assert_int_equal(rollup_count(f, "councils", "E06000043", "over_capacity_lines"), 1);
	assert_false(has_rollup(f, "councils", "E10000011"));
	json_decref(f);
	events_free(&ev);
}

/* examples/capacity: 1-100000009 and RBB01 are not registered (nor RBB). */
static void
test_lines_with_no_known_icb_roll_up_under_unmapped(void **state)
{
	struct events ev = {.n = 0};
	json_t *f;

	(void)state;
	reference_data(&ev);
	capacity(&ev, "E0017", ms_of(2026, 5, 10, 9), "1-100000009", SECTOR(NURSING), 10, 5,
	    ms_of(2026, 5, 10, 9));
	capacity(&ev, "E0018", ms_of(2026, 5, 10, 9), "RBB01", SECTOR(GENERAL_AND_ACUTE), 50, 40,
	    ms_of(2026, 5, 10, 9));
	f = figures_of(&ev, NULL, true, "capacity", AS_OF_11_MAY);
	assert_int_equal(rollup_count(f, "icbs", "unmapped", "available"), 60);
	assert_int_equal(rollup_count(f, "icbs", "unmapped", "vacant"), 15);
	assert_int_equal(rollup_count(f, "councils", "unmapped", "available"), 10);
	assert_false(has_rollup(f, "icbs", "QNX"));
	assert_true(unmapped_has(f, "1-100000009"));
	assert_true(unmapped_has(f, "RBB01"));
	assert_string_equal(
	    json_string_value(json_object_get(line_of(f, "RBB01", "general_and_acute"), "icb")),
	    "unmapped");
	json_decref(f);
	events_free(&ev);
}

/* examples/hierarchy and codes: a trust registered after its line's report
 * moves the line to its ICB; a site's ICB comes from the provider its code
 * extends (codes: RAA07). */
static void
test_late_reference_data_moves_a_line_to_its_icb(void **state)
{
	struct events ev = {.n = 0};
	json_t *f;

	(void)state;
	reference_data(&ev);
	capacity(&ev, "E1", ms_of(2026, 5, 10, 9), "RCC01", SECTOR(GENERAL_AND_ACUTE), 10, 5,
	    ms_of(2026, 5, 10, 9));
	capacity(&ev, "E2", ms_of(2026, 5, 10, 9), "RAA07", SECTOR(GENERAL_AND_ACUTE), 10, 5,
	    ms_of(2026, 5, 10, 9));
	org(&ev, "ods", "E3", ms_of(2026, 5, 12, 0), "RCC", ROLE(TRUST), "QNQ");
	f = figures_of(&ev, NULL, true, "capacity", AS_OF_11_MAY);
	assert_string_equal(
	    json_string_value(json_object_get(line_of(f, "RCC01", "general_and_acute"), "icb")),
	    "QNQ");
	assert_string_equal(
	    json_string_value(json_object_get(line_of(f, "RAA07", "general_and_acute"), "icb")),
	    "QNX");
	assert_int_equal(rollup_count(f, "icbs", "QNQ", "available"), 10);
	assert_false(has_rollup(f, "icbs", "unmapped"));
	assert_int_equal(json_array_size(json_object_get(f, "unmapped")), 0);
	json_decref(f);
	events_free(&ev);
}

/* examples/services: commissioned places roll up to the commissioner's ICB,
 * and to the commissioning council, else the provider's council. */
static void
test_service_places_roll_up_to_commissioner_icb_and_council(void **state)
{
	struct events ev = {.n = 0};
	json_t *f;

	(void)state;
	reference_data(&ev);
	org(&ev, "ods", "R7", ms_of(2026, 1, 1, 0), "1-100000002", ROLE(CARE_HOME), "E06000043");
	service(&ev, "E0035", "S-HOME", "E10000011", "1-100000001", STATUS(NEW),
	    STATUS(COMMISSIONED), "2024-01-01", 20, CHANGE(UNSPECIFIED), 0);
	service(&ev, "E0036", "S-NHS-HOME", "QNX", "1-100000002", STATUS(NEW), STATUS(COMMISSIONED),
	    "2024-01-01", 7, CHANGE(UNSPECIFIED), 0);
	service(&ev, "E0037", "S-TRUST", "QNX", "RAA", STATUS(NEW), STATUS(COMMISSIONED),
	    "2024-01-01", 5, CHANGE(UNSPECIFIED), 0);
	f = figures_of(&ev, NULL, true, "capacity", ms_of(2026, 10, 1, 0));
	assert_int_equal(rollup_count(f, "icbs", "QNX", "commissioned_places"), 32);
	assert_int_equal(rollup_count(f, "councils", "E10000011", "commissioned_places"), 20);
	assert_int_equal(rollup_count(f, "councils", "E06000043", "commissioned_places"), 7);
	json_decref(f);
	events_free(&ev);
}

/* examples/services: close puts all places at risk, reduce to N places - N,
 * a transfer is shown apart; a service closed stops counting. */
static void
test_places_at_risk_and_to_transfer_roll_up_per_icb(void **state)
{
	struct events ev = {.n = 0};
	json_t *f;

	(void)state;
	reference_data(&ev);
	service(&ev, "E1", "S-CLOSE", "QNX", "RAA", STATUS(NEW), STATUS(COMMISSIONED), "2024-01-01",
	    12, CHANGE(UNSPECIFIED), 0);
	service(&ev, "E2", "S-CLOSE", "QNX", "RAA", STATUS(COMMISSIONED), STATUS(CONSULTATION),
	    "2026-06-01", 12, CHANGE(CLOSE), 0);
	service(&ev, "E3", "S-REDUCE", "QNX", "RAA", STATUS(COMMISSIONED), STATUS(CONSULTATION),
	    "2026-06-01", 24, CHANGE(REDUCE), 16);
	service(&ev, "E4", "S-MOVE", "QNX", "RAA", STATUS(COMMISSIONED), STATUS(CONSULTATION),
	    "2026-06-01", 18, CHANGE(TRANSFER), 0);
	service(&ev, "E5", "S-SHUT", "QNX", "RAA", STATUS(COMMISSIONED), STATUS(CLOSED),
	    "2026-06-01", 8, CHANGE(UNSPECIFIED), 0);
	f = figures_of(&ev, NULL, true, "capacity", ms_of(2026, 10, 1, 0));
	assert_int_equal(rollup_count(f, "icbs", "QNX", "commissioned_places"), 12 + 24 + 18);
	assert_int_equal(rollup_count(f, "icbs", "QNX", "at_risk_places"), 12 + 8);
	assert_int_equal(rollup_count(f, "icbs", "QNX", "at_risk_transfer_places"), 18);
	json_decref(f);
	events_free(&ev);
}

/* examples/hierarchy: QAA, in ICB format and not registered, is its own ICB;
 * an unregistered sub-ICB location commissioner is unmapped (codes). */
static void
test_commissioner_in_icb_format_is_its_own_icb_else_unmapped(void **state)
{
	struct events ev = {.n = 0};
	json_t *f;

	(void)state;
	reference_data(&ev);
	service(&ev, "E1", "S1", "QAA", "RAA", STATUS(NEW), STATUS(COMMISSIONED), "2026-01-01", 9,
	    CHANGE(UNSPECIFIED), 0);
	service(&ev, "E2", "S2", "X2C4Y", "RAA", STATUS(NEW), STATUS(COMMISSIONED), "2026-01-01", 4,
	    CHANGE(UNSPECIFIED), 0);
	f = figures_of(&ev, NULL, true, "capacity", AS_OF_11_MAY);
	assert_int_equal(rollup_count(f, "icbs", "QAA", "commissioned_places"), 9);
	assert_int_equal(rollup_count(f, "icbs", "unmapped", "commissioned_places"), 4);
	assert_false(unmapped_has(f, "QAA"));
	assert_true(unmapped_has(f, "X2C4Y"));
	json_decref(f);
	events_free(&ev);
}

/* DOMAIN.md, Order and repetition: the same set in any order, the same bytes. */
static void
test_figures_do_not_depend_on_arrival_order(void **state)
{
	struct events ev = {.n = 0};
	json_t *f;

	(void)state;
	capacity(&ev, "E1", ms_of(2026, 5, 10, 10), "RAA01", SECTOR(GENERAL_AND_ACUTE), 100, 90,
	    ms_of(2026, 5, 10, 10));
	capacity(&ev, "E2", ms_of(2026, 5, 10, 11), "RAA01", SECTOR(GENERAL_AND_ACUTE), 100, 95,
	    ms_of(2026, 5, 10, 10));
	capacity(&ev, "E3", ms_of(2026, 5, 10, 12), "1-100000001", SECTOR(NURSING), 9, 3,
	    ms_of(2026, 5, 10, 10));
	service(&ev, "E4", "S1", "E10000011", "1-100000001", STATUS(NEW), STATUS(COMMISSIONED),
	    "2024-01-01", 3, CHANGE(UNSPECIFIED), 0);
	reference_data(&ev);
	f = figures_of(&ev, NULL, true, "capacity", AS_OF_11_MAY);
	figures_check_shuffled(&ev, f, "capacity", AS_OF_11_MAY);
	json_decref(f);
	events_free(&ev);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_report_with_latest_as_of_stands),
	    cmocka_unit_test(test_same_as_of_last_in_order_stands_as_a_correction),
	    cmocka_unit_test(
	        test_occupied_above_available_is_over_capacity_and_vacant_never_below_zero),
	    cmocka_unit_test(test_councils_count_care_home_lines_only),
	    cmocka_unit_test(test_care_home_moved_by_an_update_counts_for_its_new_council),
	    cmocka_unit_test(test_lines_with_no_known_icb_roll_up_under_unmapped),
	    cmocka_unit_test(test_late_reference_data_moves_a_line_to_its_icb),
	    cmocka_unit_test(test_service_places_roll_up_to_commissioner_icb_and_council),
	    cmocka_unit_test(test_places_at_risk_and_to_transfer_roll_up_per_icb),
	    cmocka_unit_test(test_commissioner_in_icb_format_is_its_own_icb_else_unmapped),
	    cmocka_unit_test(test_figures_do_not_depend_on_arrival_order),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
