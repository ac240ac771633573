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

#define ROLE(x) COMMISSIONING__ORG_ROLE__ORG_ROLE_##x
#define SECTOR(x) COMMISSIONING__SECTOR__SECTOR_##x
#define STATUS(x) COMMISSIONING__SERVICE_STATUS__SERVICE_STATUS_##x
#define CHANGE(x) COMMISSIONING__PROPOSED_CHANGE_TYPE__PROPOSED_CHANGE_TYPE_##x

#define DAY_MS 86400000LL
#define MAX_THINGS 64
#define MAX_EVENTS 64

/* ------------------------------------------------------------ a store in memory */

/* The histories as the store keeps them: one packed History per thing. */
struct histories {
	struct {
		struct thing_key key;
		uint8_t *bytes;
		size_t len;
	} item[MAX_THINGS];
	size_t n;
};

/* The events of a case, packed, so they can be put in any order. */
struct events {
	uint8_t *bytes[MAX_EVENTS];
	size_t len[MAX_EVENTS];
	size_t n;
};

static void
events_add(struct events *ev, const Commissioning__Envelope *env)
{
	size_t len = protobuf_c_message_get_packed_size(&env->base);

	assert_true(ev->n < MAX_EVENTS);
	ev->bytes[ev->n] = malloc(len ? len : 1);
	assert_non_null(ev->bytes[ev->n]);
	ev->len[ev->n] = protobuf_c_message_pack(&env->base, ev->bytes[ev->n]);
	ev->n++;
}

static void
events_free(struct events *ev)
{
	for (size_t i = 0; i < ev->n; i++)
		free(ev->bytes[i]);
	ev->n = 0;
}

/* What the ingest transaction does with one accepted event. */
static void
histories_put(struct histories *h, const uint8_t *bytes, size_t len)
{
	Commissioning__Envelope *env = commissioning__envelope__unpack(NULL, len, bytes);
	uint8_t stack[256];
	ProtobufCBufferSimple out = PROTOBUF_C_BUFFER_SIMPLE_INIT(stack);
	struct thing_key key;
	size_t at;

	assert_non_null(env);
	assert_int_equal(thing_key_of(env, &key), 0);
	for (at = 0; at < h->n; at++)
		if (h->item[at].key.len == key.len &&
		    memcmp(h->item[at].key.bytes, key.bytes, key.len) == 0)
			break;
	if (at == h->n) {
		assert_true(h->n < MAX_THINGS);
		h->item[h->n].key = key;
		h->item[h->n].bytes = NULL;
		h->item[h->n].len = 0;
		h->n++;
	}
	assert_int_equal(
	    history_insert(&key, h->item[at].bytes, h->item[at].len, env, bytes, len, &out.base),
	    0);
	free(h->item[at].bytes);
	h->item[at].bytes = malloc(out.len ? out.len : 1);
	assert_non_null(h->item[at].bytes);
	memcpy(h->item[at].bytes, out.data, out.len);
	h->item[at].len = out.len;
	PROTOBUF_C_BUFFER_SIMPLE_CLEAR(&out);
	commissioning__envelope__free_unpacked(env, NULL);
}

static void
histories_free(struct histories *h)
{
	for (size_t i = 0; i < h->n; i++)
		free(h->item[i].bytes);
	h->n = 0;
}

/* The figures of area as of as_of_ms, the events arriving in order[] (or
 * in their own order when order is NULL). */
static json_t *
figures_of(const struct events *ev, const size_t *order, const char *area, int64_t as_of_ms)
{
	struct histories h = {.n = 0};
	struct picture *p = picture_new();
	json_t *figures;

	assert_non_null(p);
	for (size_t i = 0; i < ev->n; i++) {
		size_t k = order != NULL ? order[i] : i;
		histories_put(&h, ev->bytes[k], ev->len[k]);
	}
	/* The store hands histories over in key order; add them backwards to
	 * show the picture does not care. */
	for (size_t i = h.n; i-- > 0;)
		assert_int_equal(picture_add_history(p, h.item[i].key.bytes, h.item[i].key.len,
		                     h.item[i].bytes, h.item[i].len),
		    0);
	picture_seal(p);
	figures = picture_figures(p, area, as_of_ms);
	assert_non_null(figures);
	picture_destroy(&p);
	histories_free(&h);
	return figures;
}

/* ------------------------------------------------------------ events */

static int64_t
ms_of(int year, int month, int day, int hour)
{
	return (int64_t)dates_day_from_civil(year, month, day) * DAY_MS + (int64_t)hour * 3600000LL;
}

static void
org(struct events *ev, const char *event_id, int64_t at, const char *code,
    Commissioning__OrgRole role, const char *parent)
{
	Commissioning__Envelope env = COMMISSIONING__ENVELOPE__INIT;
	Commissioning__Organisation o = COMMISSIONING__ORGANISATION__INIT;

	env.source = (char *)"ods";
	env.event_id = (char *)event_id;
	env.occurred_at = at;
	o.code = (char *)code;
	o.role = role;
	o.parent_code = (char *)(parent != NULL ? parent : "");
	env.event_case = COMMISSIONING__ENVELOPE__EVENT_ORGANISATION_REGISTERED;
	env.organisation_registered = &o;
	events_add(ev, &env);
}

static void
capacity(struct events *ev, const char *event_id, int64_t at, const char *organisation,
    Commissioning__Sector sector, int64_t available, int64_t occupied, int64_t as_of)
{
	Commissioning__Envelope env = COMMISSIONING__ENVELOPE__INIT;
	Commissioning__CapacityReported c = COMMISSIONING__CAPACITY_REPORTED__INIT;

	env.source = (char *)"capacity";
	env.event_id = (char *)event_id;
	env.occurred_at = at;
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
	events_add(ev, &env);
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

	env.source = (char *)"commissioner";
	env.event_id = (char *)event_id;
	env.occurred_at = ms_of(2024, 1, 1, 10);
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
	events_add(ev, &env);
}

/* The reference data of the examples: QNX with two councils and a trust. */
static void
reference_data(struct events *ev)
{
	int64_t at = ms_of(2026, 1, 1, 0);

	org(ev, "R1", at, "QNX", ROLE(ICB), "Y59");
	org(ev, "R2", at, "E10000011", ROLE(LOCAL_AUTHORITY), "QNX");
	org(ev, "R3", at, "E06000043", ROLE(LOCAL_AUTHORITY), "QNX");
	org(ev, "R4", at, "RAA", ROLE(TRUST), "QNX");
	org(ev, "R5", at, "RAA01", ROLE(TRUST_SITE), "RAA");
	org(ev, "R6", at, "1-100000001", ROLE(CARE_HOME), "E10000011");
}

/* ------------------------------------------------------------ reading */

static json_int_t
count_at(json_t *root, const char *group, const char *code, const char *key)
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

static bool
unmapped_has(json_t *root, const char *code)
{
	size_t i;
	json_t *v;

	json_array_foreach(json_object_get(root, "unmapped"), i,
	    v) if (strcmp(json_string_value(v), code) == 0) return true;
	return false;
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
	f = figures_of(&ev, NULL, "capacity", AS_OF_11_MAY);
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
	f = figures_of(&ev, NULL, "capacity", AS_OF_11_MAY);
	assert_int_equal(count_at(f, "icbs", "QNX", "occupied"), 95);
	json_decref(f);
	f = figures_of(&ev, backwards, "capacity", AS_OF_11_MAY);
	assert_int_equal(count_at(f, "icbs", "QNX", "occupied"), 95);
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
	f = figures_of(&ev, NULL, "capacity", AS_OF_11_MAY);
	line = line_of(f, "RAA01", "maternity");
	assert_true(json_is_true(json_object_get(line, "over_capacity")));
	assert_int_equal(json_integer_value(json_object_get(line, "vacant")), 0);
	assert_int_equal(count_at(f, "icbs", "QNX", "available"), 30);
	assert_int_equal(count_at(f, "icbs", "QNX", "occupied"), 29);
	assert_int_equal(count_at(f, "icbs", "QNX", "vacant"), 6);
	assert_int_equal(count_at(f, "icbs", "QNX", "over_capacity_lines"), 1);
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
	f = figures_of(&ev, NULL, "capacity", AS_OF_11_MAY);
	assert_int_equal(count_at(f, "icbs", "QNX", "available"), 130);
	assert_int_equal(count_at(f, "councils", "E10000011", "available"), 30);
	assert_int_equal(count_at(f, "councils", "E10000011", "vacant"), 2);
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
	org(&ev, "E0009", ms_of(2026, 1, 1, 0), "1-100000002", ROLE(CARE_HOME), "E10000011");
	org(&ev, "E0010", ms_of(2026, 2, 1, 0), "1-100000002", ROLE(CARE_HOME), "E06000043");
	capacity(&ev, "E0016", ms_of(2026, 5, 10, 9), "1-100000002", SECTOR(NURSING), 40, 41,
	    ms_of(2026, 5, 10, 9));
	f = figures_of(&ev, NULL, "capacity", AS_OF_11_MAY);
	assert_int_equal(count_at(f, "councils", "E06000043", "occupied"), 41);
	assert_int_equal(count_at(f, "councils", "E06000043", "over_capacity_lines"), 1);
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
	f = figures_of(&ev, NULL, "capacity", AS_OF_11_MAY);
	assert_int_equal(count_at(f, "icbs", "unmapped", "available"), 60);
	assert_int_equal(count_at(f, "icbs", "unmapped", "vacant"), 15);
	assert_int_equal(count_at(f, "councils", "unmapped", "available"), 10);
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
	org(&ev, "E3", ms_of(2026, 5, 12, 0), "RCC", ROLE(TRUST), "QNQ");
	f = figures_of(&ev, NULL, "capacity", AS_OF_11_MAY);
	assert_string_equal(
	    json_string_value(json_object_get(line_of(f, "RCC01", "general_and_acute"), "icb")),
	    "QNQ");
	assert_string_equal(
	    json_string_value(json_object_get(line_of(f, "RAA07", "general_and_acute"), "icb")),
	    "QNX");
	assert_int_equal(count_at(f, "icbs", "QNQ", "available"), 10);
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
	org(&ev, "R7", ms_of(2026, 1, 1, 0), "1-100000002", ROLE(CARE_HOME), "E06000043");
	service(&ev, "E0035", "S-HOME", "E10000011", "1-100000001", STATUS(NEW),
	    STATUS(COMMISSIONED), "2024-01-01", 20, CHANGE(UNSPECIFIED), 0);
	service(&ev, "E0036", "S-NHS-HOME", "QNX", "1-100000002", STATUS(NEW), STATUS(COMMISSIONED),
	    "2024-01-01", 7, CHANGE(UNSPECIFIED), 0);
	service(&ev, "E0037", "S-TRUST", "QNX", "RAA", STATUS(NEW), STATUS(COMMISSIONED),
	    "2024-01-01", 5, CHANGE(UNSPECIFIED), 0);
	f = figures_of(&ev, NULL, "capacity", ms_of(2026, 10, 1, 0));
	assert_int_equal(count_at(f, "icbs", "QNX", "commissioned_places"), 32);
	assert_int_equal(count_at(f, "councils", "E10000011", "commissioned_places"), 20);
	assert_int_equal(count_at(f, "councils", "E06000043", "commissioned_places"), 7);
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
	f = figures_of(&ev, NULL, "capacity", ms_of(2026, 10, 1, 0));
	assert_int_equal(count_at(f, "icbs", "QNX", "commissioned_places"), 12 + 24 + 18);
	assert_int_equal(count_at(f, "icbs", "QNX", "at_risk_places"), 12 + 8);
	assert_int_equal(count_at(f, "icbs", "QNX", "at_risk_transfer_places"), 18);
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
	f = figures_of(&ev, NULL, "capacity", AS_OF_11_MAY);
	assert_int_equal(count_at(f, "icbs", "QAA", "commissioned_places"), 9);
	assert_int_equal(count_at(f, "icbs", "unmapped", "commissioned_places"), 4);
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
	size_t order[MAX_EVENTS];
	char *first, *again;
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
	f = figures_of(&ev, NULL, "capacity", AS_OF_11_MAY);
	first = json_dumps(f, JSON_COMPACT);
	json_decref(f);
	for (unsigned seed = 1; seed <= 5; seed++) {
		for (size_t i = 0; i < ev.n; i++)
			order[i] = i;
		for (size_t i = ev.n; i-- > 1;) { /* a fixed shuffle per seed */
			size_t j = (i * 7919u + seed * 104729u) % (i + 1);
			size_t t = order[i];
			order[i] = order[j];
			order[j] = t;
		}
		f = figures_of(&ev, order, "capacity", AS_OF_11_MAY);
		again = json_dumps(f, JSON_COMPACT);
		assert_string_equal(first, again);
		free(again);
		json_decref(f);
	}
	free(first);
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
