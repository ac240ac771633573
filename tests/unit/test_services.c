/*
 * test_services: each service's status, places and history on the as-of
 * date, and the closure-without-consultation alerts (DOMAIN.md, Services;
 * Edges, settled), through history_insert and picture_figures. Scenarios
 * are those of tests/examples/services.
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

#define STATUS(x) COMMISSIONING__SERVICE_STATUS__SERVICE_STATUS_##x
#define CHANGE(x) COMMISSIONING__PROPOSED_CHANGE_TYPE__PROPOSED_CHANGE_TYPE_##x

#define DAY_MS 86400000LL

/* ------------------------------------------------------------ events */

/* One service event; left out: commissioner QNX, provider RAA, no
 * proposed change, occurred at 10:00 UTC on its effective date. */
struct move {
	const char *event_id, *service_id, *commissioner, *provider;
	Commissioning__ServiceStatus from, to;
	const char *effective_date;
	int64_t places;
	Commissioning__ProposedChangeType change;
	int64_t change_places;
	const char *to_provider;
	int64_t occurred_at;
};

static void
service(struct events *ev, struct move m)
{
	Commissioning__Envelope env = COMMISSIONING__ENVELOPE__INIT;
	Commissioning__ServiceStatusChanged s = COMMISSIONING__SERVICE_STATUS_CHANGED__INIT;
	Commissioning__ProposedChange change = COMMISSIONING__PROPOSED_CHANGE__INIT;
	int32_t day;

	assert_int_equal(dates_parse_date(m.effective_date, &day), 0);
	s.service_id = (char *)m.service_id;
	s.commissioner = (char *)(m.commissioner != NULL ? m.commissioner : "QNX");
	s.provider = (char *)(m.provider != NULL ? m.provider : "RAA");
	s.category = COMMISSIONING__SERVICE_CATEGORY__SERVICE_CATEGORY_DEMENTIA_AND_RESPITE;
	s.from_status = m.from;
	s.to_status = m.to;
	s.effective_date = (char *)m.effective_date;
	s.opt_places_case = COMMISSIONING__SERVICE_STATUS_CHANGED__OPT_PLACES_PLACES;
	s.places = m.places;
	if (m.change != CHANGE(UNSPECIFIED)) {
		change.type = m.change;
		if (m.change == CHANGE(REDUCE)) {
			change.opt_places_case = COMMISSIONING__PROPOSED_CHANGE__OPT_PLACES_PLACES;
			change.places = m.change_places;
		}
		change.to_provider = (char *)(m.to_provider != NULL ? m.to_provider : "");
		s.proposed_change = &change;
	}
	env.event_case = COMMISSIONING__ENVELOPE__EVENT_SERVICE_STATUS_CHANGED;
	env.service_status_changed = &s;
	events_add(ev, &env, "commissioner", m.event_id,
	    m.occurred_at != 0 ? m.occurred_at : (int64_t)day * DAY_MS + 36000000LL);
}

/* A running service first loaded on 2024-01-01. */
static void
commissioned(struct events *ev, const char *event_id, const char *service_id, int64_t places)
{
	service(ev, (struct move){.event_id = event_id,
	                .service_id = service_id,
	                .from = STATUS(NEW),
	                .to = STATUS(COMMISSIONED),
	                .effective_date = "2024-01-01",
	                .places = places});
}

/* ------------------------------------------------------------ reading */

static json_t *
service_of(json_t *root, const char *service_id)
{
	json_t *s = json_object_get(json_object_get(root, "services"), service_id);

	assert_non_null(s);
	return s;
}

static json_int_t
number(json_t *root, const char *service_id, const char *key)
{
	json_t *v = json_object_get(service_of(root, service_id), key);

	assert_true(json_is_integer(v));
	return json_integer_value(v);
}

static const char *
status(json_t *root, const char *service_id)
{
	return json_string_value(json_object_get(service_of(root, service_id), "status"));
}

static bool
flag(json_t *root, const char *service_id, const char *key)
{
	json_t *v = json_object_get(service_of(root, service_id), key);

	assert_true(json_is_boolean(v));
	return json_is_true(v);
}

/* How many closure-without-consultation alerts name service_id. */
static size_t
closures_of(json_t *root, const char *service_id)
{
	json_t *alerts =
	    json_object_get(json_object_get(root, "governance"), "closure_without_consultation");
	size_t i, n = 0;
	json_t *a;

	assert_true(json_is_array(alerts));
	json_array_foreach(alerts, i,
	    a) if (strcmp(json_string_value(json_object_get(a, "service_id")), service_id) == 0)
	    n++;
	return n;
}

static const int64_t AS_OF_1_OCTOBER = 1790812800000LL; /* 2026-10-01T00:00Z */

/* ------------------------------------------------------------ tests */

/* examples/services: S-FUTURE is proposed from 2027 and counts nowhere. */
static void
test_status_is_null_before_the_first_effective_date(void **state)
{
	struct events ev = {.n = 0};
	json_t *f;

	(void)state;
	service(&ev, (struct move){.event_id = "E0037",
	                 .service_id = "S-FUTURE",
	                 .from = STATUS(NEW),
	                 .to = STATUS(PROPOSED),
	                 .effective_date = "2027-01-01",
	                 .places = 4,
	                 .occurred_at = ms_of(2026, 9, 1, 10)});
	f = figures_of(&ev, NULL, true, "services", AS_OF_1_OCTOBER);
	assert_true(json_is_null(json_object_get(service_of(f, "S-FUTURE"), "status")));
	assert_int_equal(number(f, "S-FUTURE", "commissioned_places"), 0);
	assert_false(flag(f, "S-FUTURE", "history_gap"));
	json_decref(f);
	f = figures_of(&ev, NULL, true, "services", ms_of(2027, 1, 1, 0));
	assert_string_equal(status(f, "S-FUTURE"), "proposed");
	assert_int_equal(number(f, "S-FUTURE", "commissioned_places"), 0);
	json_decref(f);
	events_free(&ev);
}

/* examples/services: S-PLACES has 35 places on 1 October, 40 from 1 November. */
static void
test_status_and_places_are_those_of_the_last_event_effective_by_the_date(void **state)
{
	struct events ev = {.n = 0};
	json_t *f;

	(void)state;
	commissioned(&ev, "E0025", "S-PLACES", 30);
	service(&ev, (struct move){.event_id = "E0026",
	                 .service_id = "S-PLACES",
	                 .from = STATUS(COMMISSIONED),
	                 .to = STATUS(COMMISSIONED),
	                 .effective_date = "2026-09-01",
	                 .places = 35});
	service(&ev, (struct move){.event_id = "E0027",
	                 .service_id = "S-PLACES",
	                 .from = STATUS(COMMISSIONED),
	                 .to = STATUS(COMMISSIONED),
	                 .effective_date = "2026-11-01",
	                 .places = 40,
	                 .occurred_at = ms_of(2026, 8, 2, 10)});
	f = figures_of(&ev, NULL, true, "services", AS_OF_1_OCTOBER);
	assert_string_equal(status(f, "S-PLACES"), "commissioned");
	assert_int_equal(number(f, "S-PLACES", "commissioned_places"), 35);
	json_decref(f);
	f = figures_of(&ev, NULL, true, "services", ms_of(2026, 11, 1, 0));
	assert_int_equal(number(f, "S-PLACES", "commissioned_places"), 40);
	json_decref(f);
	events_free(&ev);
}

/* examples/services: S-LATE's first event arrives after its consultation
 * (and occurred later) but is effective earlier, so it sorts first. */
static void
test_events_are_ordered_by_effective_date_first(void **state)
{
	struct events ev = {.n = 0};
	json_t *f;

	(void)state;
	service(&ev, (struct move){.event_id = "E0028",
	                 .service_id = "S-LATE",
	                 .from = STATUS(COMMISSIONED),
	                 .to = STATUS(CONSULTATION),
	                 .effective_date = "2026-06-01",
	                 .places = 10,
	                 .change = CHANGE(CLOSE),
	                 .occurred_at = ms_of(2026, 5, 1, 10)});
	service(&ev, (struct move){.event_id = "E0029",
	                 .service_id = "S-LATE",
	                 .from = STATUS(NEW),
	                 .to = STATUS(COMMISSIONED),
	                 .effective_date = "2020-01-01",
	                 .places = 10,
	                 .occurred_at = ms_of(2026, 7, 1, 10)});
	f = figures_of(&ev, NULL, true, "services", AS_OF_1_OCTOBER);
	assert_false(flag(f, "S-LATE", "history_gap"));
	assert_string_equal(status(f, "S-LATE"), "consultation");
	assert_int_equal(number(f, "S-LATE", "at_risk_places"), 10);
	json_decref(f);
	events_free(&ev);
}

/* examples/services: S-GAP's second event comes from consultation though the
 * one before ended in commissioned; examples/codes: S2 starts from
 * commissioned, not (new). Both are kept and flag a gap. */
static void
test_from_other_than_previous_to_is_kept_and_flags_a_gap(void **state)
{
	struct events ev = {.n = 0};
	json_t *f;

	(void)state;
	commissioned(&ev, "E0022", "S-GAP", 5);
	service(&ev, (struct move){.event_id = "E0023",
	                 .service_id = "S-GAP",
	                 .from = STATUS(CONSULTATION),
	                 .to = STATUS(DECISION),
	                 .effective_date = "2026-06-01",
	                 .places = 5,
	                 .change = CHANGE(OTHER)});
	service(&ev, (struct move){.event_id = "E0038",
	                 .service_id = "S2",
	                 .from = STATUS(COMMISSIONED),
	                 .to = STATUS(CONSULTATION),
	                 .effective_date = "2026-01-01",
	                 .places = 10,
	                 .change = CHANGE(TRANSFER),
	                 .to_provider = "RAA06"});
	commissioned(&ev, "E0040", "S-FINE", 3);
	f = figures_of(&ev, NULL, true, "services", AS_OF_1_OCTOBER);
	assert_true(flag(f, "S-GAP", "history_gap"));
	assert_string_equal(status(f, "S-GAP"), "decision");
	assert_int_equal(number(f, "S-GAP", "commissioned_places"), 5);
	assert_int_equal(number(f, "S-GAP", "at_risk_places"), 0); /* proposal "other" */
	assert_true(flag(f, "S2", "history_gap"));
	assert_false(flag(f, "S-FINE", "history_gap"));
	json_decref(f);
	events_free(&ev);
}

/* examples/services: S-SHUT, commissioned -> closed; and the same to
 * decommissioned. Each raises one governance alert. */
static void
test_commissioned_to_closed_or_decommissioned_is_closure_without_consultation(void **state)
{
	struct events ev = {.n = 0};
	json_t *f, *alerts, *a;

	(void)state;
	commissioned(&ev, "E0020", "S-SHUT", 8);
	service(&ev, (struct move){.event_id = "E0021",
	                 .service_id = "S-SHUT",
	                 .from = STATUS(COMMISSIONED),
	                 .to = STATUS(CLOSED),
	                 .effective_date = "2026-06-01",
	                 .places = 8});
	commissioned(&ev, "E0050", "S-DECOM", 4);
	service(&ev, (struct move){.event_id = "E0051",
	                 .service_id = "S-DECOM",
	                 .from = STATUS(COMMISSIONED),
	                 .to = STATUS(DECOMMISSIONED),
	                 .effective_date = "2026-06-01",
	                 .places = 4});
	f = figures_of(&ev, NULL, true, "services", AS_OF_1_OCTOBER);
	assert_true(flag(f, "S-SHUT", "closure_without_consultation"));
	assert_true(flag(f, "S-DECOM", "closure_without_consultation"));
	assert_string_equal(status(f, "S-SHUT"), "closed");
	assert_string_equal(status(f, "S-DECOM"), "decommissioned");
	assert_int_equal(number(f, "S-SHUT", "commissioned_places"), 0);
	alerts = json_object_get(json_object_get(f, "governance"), "closure_without_consultation");
	assert_int_equal(json_array_size(alerts), 2);
	assert_int_equal(closures_of(f, "S-SHUT"), 1);
	a = json_array_get(alerts, 1); /* services in key order: S-DECOM, S-SHUT */
	assert_string_equal(json_string_value(json_object_get(a, "service_id")), "S-SHUT");
	assert_string_equal(json_string_value(json_object_get(a, "event_id")), "E0021");
	assert_string_equal(json_string_value(json_object_get(a, "effective_date")), "2026-06-01");
	json_decref(f);
	events_free(&ev);
}

/* examples/services: S-AGAIN went through consultation back to commissioned,
 * then closed without a new one: each move is judged alone. S-CLOSE closes
 * from decision: no alert. */
static void
test_each_move_is_judged_alone_for_closure_without_consultation(void **state)
{
	struct events ev = {.n = 0};
	json_t *f;

	(void)state;
	service(&ev, (struct move){.event_id = "E0030",
	                 .service_id = "S-AGAIN",
	                 .from = STATUS(NEW),
	                 .to = STATUS(COMMISSIONED),
	                 .effective_date = "2020-01-01",
	                 .places = 6});
	service(&ev, (struct move){.event_id = "E0031",
	                 .service_id = "S-AGAIN",
	                 .from = STATUS(COMMISSIONED),
	                 .to = STATUS(CONSULTATION),
	                 .effective_date = "2025-01-01",
	                 .places = 6,
	                 .change = CHANGE(OTHER)});
	service(&ev, (struct move){.event_id = "E0032",
	                 .service_id = "S-AGAIN",
	                 .from = STATUS(CONSULTATION),
	                 .to = STATUS(DECISION),
	                 .effective_date = "2025-03-01",
	                 .places = 6,
	                 .change = CHANGE(OTHER)});
	service(&ev, (struct move){.event_id = "E0033",
	                 .service_id = "S-AGAIN",
	                 .from = STATUS(DECISION),
	                 .to = STATUS(COMMISSIONED),
	                 .effective_date = "2025-06-01",
	                 .places = 6});
	service(&ev, (struct move){.event_id = "E0034",
	                 .service_id = "S-AGAIN",
	                 .from = STATUS(COMMISSIONED),
	                 .to = STATUS(CLOSED),
	                 .effective_date = "2026-05-01",
	                 .places = 6});
	commissioned(&ev, "E0010", "S-CLOSE", 12);
	service(&ev, (struct move){.event_id = "E0011",
	                 .service_id = "S-CLOSE",
	                 .from = STATUS(COMMISSIONED),
	                 .to = STATUS(CONSULTATION),
	                 .effective_date = "2026-06-01",
	                 .places = 12,
	                 .change = CHANGE(CLOSE)});
	service(&ev, (struct move){.event_id = "E0012",
	                 .service_id = "S-CLOSE",
	                 .from = STATUS(CONSULTATION),
	                 .to = STATUS(DECISION),
	                 .effective_date = "2026-09-01",
	                 .places = 12,
	                 .change = CHANGE(CLOSE)});
	service(&ev, (struct move){.event_id = "E0013",
	                 .service_id = "S-CLOSE",
	                 .from = STATUS(DECISION),
	                 .to = STATUS(CLOSED),
	                 .effective_date = "2026-12-01",
	                 .places = 12,
	                 .change = CHANGE(CLOSE)});
	f = figures_of(&ev, NULL, true, "services", AS_OF_1_OCTOBER);
	assert_true(flag(f, "S-AGAIN", "closure_without_consultation"));
	assert_int_equal(closures_of(f, "S-AGAIN"), 1);
	assert_false(flag(f, "S-AGAIN", "history_gap"));
	assert_false(flag(f, "S-CLOSE", "closure_without_consultation"));
	assert_int_equal(closures_of(f, "S-CLOSE"), 0);
	assert_string_equal(status(f, "S-CLOSE"), "decision");
	json_decref(f);
	events_free(&ev);
}

/* DOMAIN.md, Services: a service closed stops counting on its effective date. */
static void
test_closed_service_stops_counting_on_its_effective_date(void **state)
{
	struct events ev = {.n = 0};
	json_t *f;

	(void)state;
	commissioned(&ev, "E0020", "S-SHUT", 8);
	service(&ev, (struct move){.event_id = "E0021",
	                 .service_id = "S-SHUT",
	                 .from = STATUS(COMMISSIONED),
	                 .to = STATUS(CLOSED),
	                 .effective_date = "2026-06-01",
	                 .places = 8});
	f = figures_of(&ev, NULL, true, "services", ms_of(2026, 5, 31, 12));
	assert_string_equal(status(f, "S-SHUT"), "commissioned");
	assert_int_equal(number(f, "S-SHUT", "commissioned_places"), 8);
	json_decref(f);
	f = figures_of(&ev, NULL, true, "services", ms_of(2026, 6, 1, 12));
	assert_string_equal(status(f, "S-SHUT"), "closed");
	assert_int_equal(number(f, "S-SHUT", "commissioned_places"), 0);
	json_decref(f);
	events_free(&ev);
}

/* examples/services: S-CLOSE 12 of 12 at risk, S-REDUCE 24 to 16: 8; Edges,
 * settled: reduce to N above the places puts 0 at risk. */
static void
test_close_puts_all_places_at_risk_and_reduce_to_n_places_minus_n(void **state)
{
	struct events ev = {.n = 0};
	json_t *f;

	(void)state;
	service(&ev, (struct move){.event_id = "E0012",
	                 .service_id = "S-CLOSE",
	                 .from = STATUS(CONSULTATION),
	                 .to = STATUS(DECISION),
	                 .effective_date = "2026-09-01",
	                 .places = 12,
	                 .change = CHANGE(CLOSE)});
	service(&ev, (struct move){.event_id = "E0015",
	                 .service_id = "S-REDUCE",
	                 .from = STATUS(COMMISSIONED),
	                 .to = STATUS(CONSULTATION),
	                 .effective_date = "2026-06-01",
	                 .places = 24,
	                 .change = CHANGE(REDUCE),
	                 .change_places = 16});
	service(&ev, (struct move){.event_id = "E0016",
	                 .service_id = "S-GROW",
	                 .from = STATUS(COMMISSIONED),
	                 .to = STATUS(CONSULTATION),
	                 .effective_date = "2026-06-01",
	                 .places = 24,
	                 .change = CHANGE(REDUCE),
	                 .change_places = 30});
	f = figures_of(&ev, NULL, true, "services", AS_OF_1_OCTOBER);
	assert_int_equal(number(f, "S-CLOSE", "commissioned_places"), 12);
	assert_int_equal(number(f, "S-CLOSE", "at_risk_places"), 12);
	assert_int_equal(number(f, "S-REDUCE", "commissioned_places"), 24);
	assert_int_equal(number(f, "S-REDUCE", "at_risk_places"), 8);
	assert_int_equal(number(f, "S-GROW", "at_risk_places"), 0);
	assert_int_equal(number(f, "S-REDUCE", "at_risk_transfer_places"), 0);
	json_decref(f);
	events_free(&ev);
}

/* examples/services: S-MOVE (to RBB) and S-HANDOVER (no receiving provider)
 * show their places apart, as transfer places, not at risk. */
static void
test_transfer_places_are_shown_apart(void **state)
{
	struct events ev = {.n = 0};
	json_t *f;

	(void)state;
	service(&ev, (struct move){.event_id = "E0017",
	                 .service_id = "S-MOVE",
	                 .from = STATUS(COMMISSIONED),
	                 .to = STATUS(CONSULTATION),
	                 .effective_date = "2026-06-01",
	                 .places = 18,
	                 .change = CHANGE(TRANSFER),
	                 .to_provider = "RBB"});
	service(&ev, (struct move){.event_id = "E0019",
	                 .service_id = "S-HANDOVER",
	                 .from = STATUS(COMMISSIONED),
	                 .to = STATUS(CONSULTATION),
	                 .effective_date = "2026-06-01",
	                 .places = 6,
	                 .change = CHANGE(TRANSFER)});
	f = figures_of(&ev, NULL, true, "services", AS_OF_1_OCTOBER);
	assert_int_equal(number(f, "S-MOVE", "at_risk_transfer_places"), 18);
	assert_int_equal(number(f, "S-MOVE", "at_risk_places"), 0);
	assert_int_equal(number(f, "S-MOVE", "commissioned_places"), 18);
	assert_int_equal(number(f, "S-HANDOVER", "at_risk_transfer_places"), 6);
	assert_string_equal(
	    json_string_value(json_object_get(
	        json_object_get(service_of(f, "S-MOVE"), "proposed_change"), "to_provider")),
	    "RBB");
	json_decref(f);
	events_free(&ev);
}

/* Edges, settled: nothing carried over; a proposed change counts only while
 * in consultation or decision. */
static void
test_proposed_change_counts_only_in_consultation_or_decision(void **state)
{
	struct events ev = {.n = 0};
	json_t *f;

	(void)state;
	service(&ev, (struct move){.event_id = "E1",
	                 .service_id = "S1",
	                 .from = STATUS(NEW),
	                 .to = STATUS(COMMISSIONED),
	                 .effective_date = "2024-01-01",
	                 .places = 9,
	                 .change = CHANGE(CLOSE)});
	service(&ev, (struct move){.event_id = "E2",
	                 .service_id = "S2",
	                 .from = STATUS(COMMISSIONED),
	                 .to = STATUS(CONSULTATION),
	                 .effective_date = "2025-01-01",
	                 .places = 9,
	                 .change = CHANGE(CLOSE)});
	service(&ev, (struct move){.event_id = "E3",
	                 .service_id = "S2",
	                 .from = STATUS(CONSULTATION),
	                 .to = STATUS(DECISION),
	                 .effective_date = "2025-02-01",
	                 .places = 9});
	f = figures_of(&ev, NULL, true, "services", AS_OF_1_OCTOBER);
	assert_int_equal(number(f, "S1", "commissioned_places"), 9);
	assert_int_equal(number(f, "S1", "at_risk_places"), 0);
	assert_int_equal(number(f, "S2", "commissioned_places"), 9);
	assert_int_equal(number(f, "S2", "at_risk_places"), 0); /* not carried from E2 */
	json_decref(f);
	events_free(&ev);
}

/* DOMAIN.md, Now and today: 23:30 UTC on 31 May 2026 is 1 June in London. */
static void
test_the_as_of_date_is_the_london_calendar_date(void **state)
{
	struct events ev = {.n = 0};
	json_t *f;

	(void)state;
	commissioned(&ev, "E0020", "S-SHUT", 8);
	service(&ev, (struct move){.event_id = "E0021",
	                 .service_id = "S-SHUT",
	                 .from = STATUS(COMMISSIONED),
	                 .to = STATUS(CLOSED),
	                 .effective_date = "2026-06-01",
	                 .places = 8});
	f = figures_of(&ev, NULL, true, "services", ms_of(2026, 5, 31, 23) + 30 * 60000LL);
	assert_string_equal(status(f, "S-SHUT"), "closed");
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
	commissioned(&ev, "E0020", "S-SHUT", 8);
	service(&ev, (struct move){.event_id = "E0021",
	                 .service_id = "S-SHUT",
	                 .from = STATUS(COMMISSIONED),
	                 .to = STATUS(CLOSED),
	                 .effective_date = "2026-06-01",
	                 .places = 8});
	commissioned(&ev, "E0022", "S-GAP", 5);
	service(&ev, (struct move){.event_id = "E0023",
	                 .service_id = "S-GAP",
	                 .from = STATUS(CONSULTATION),
	                 .to = STATUS(DECISION),
	                 .effective_date = "2026-06-01",
	                 .places = 5,
	                 .change = CHANGE(OTHER)});
	/* Two events effective the same day: the usual key orders them. */
	service(&ev, (struct move){.event_id = "E0024",
	                 .service_id = "S-GAP",
	                 .from = STATUS(DECISION),
	                 .to = STATUS(COMMISSIONED),
	                 .effective_date = "2026-06-01",
	                 .places = 7});
	commissioned(&ev, "E0001", "S-AGAIN", 3);
	service(&ev, (struct move){.event_id = "E0002",
	                 .service_id = "S-AGAIN",
	                 .from = STATUS(COMMISSIONED),
	                 .to = STATUS(DECOMMISSIONED),
	                 .effective_date = "2026-02-01",
	                 .places = 3});
	service(&ev, (struct move){.event_id = "E0003",
	                 .service_id = "S-AGAIN",
	                 .from = STATUS(NEW),
	                 .to = STATUS(COMMISSIONED),
	                 .effective_date = "2026-03-01",
	                 .places = 3});
	service(&ev, (struct move){.event_id = "E0004",
	                 .service_id = "S-AGAIN",
	                 .from = STATUS(COMMISSIONED),
	                 .to = STATUS(CLOSED),
	                 .effective_date = "2026-04-01",
	                 .places = 3});
	f = figures_of(&ev, NULL, true, "services", AS_OF_1_OCTOBER);
	assert_int_equal(number(f, "S-GAP", "commissioned_places"), 7);
	assert_int_equal(closures_of(f, "S-AGAIN"), 2);
	figures_check_shuffled(&ev, f, "services", AS_OF_1_OCTOBER);
	json_decref(f);
	events_free(&ev);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_status_is_null_before_the_first_effective_date),
	    cmocka_unit_test(
	        test_status_and_places_are_those_of_the_last_event_effective_by_the_date),
	    cmocka_unit_test(test_events_are_ordered_by_effective_date_first),
	    cmocka_unit_test(test_from_other_than_previous_to_is_kept_and_flags_a_gap),
	    cmocka_unit_test(
	        test_commissioned_to_closed_or_decommissioned_is_closure_without_consultation),
	    cmocka_unit_test(test_each_move_is_judged_alone_for_closure_without_consultation),
	    cmocka_unit_test(test_closed_service_stops_counting_on_its_effective_date),
	    cmocka_unit_test(test_close_puts_all_places_at_risk_and_reduce_to_n_places_minus_n),
	    cmocka_unit_test(test_transfer_places_are_shown_apart),
	    cmocka_unit_test(test_proposed_change_counts_only_in_consultation_or_decision),
	    cmocka_unit_test(test_the_as_of_date_is_the_london_calendar_date),
	    cmocka_unit_test(test_figures_do_not_depend_on_arrival_order),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
