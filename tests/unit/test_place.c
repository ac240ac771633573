/*
 * test_place: where an accepted event's update shows (thing_places: the
 * topic's area and code) and what it carries (place_figures), against
 * DOMAIN.md: "What the daemon publishes", and the rules of "How every
 * figure is worked out" that say which record of a thing stands.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envelope_json.h"
#include "picture_fixture.h"
#include "projections.h"
#include "tallies.h"

/* 2026-05-10T09:00Z, a Sunday in BST. */
#define AT_MS 1778403600000LL
#define HOUR_MS 3600000LL

/* ------------------------------------------------------------ a thing */

/* The events of one thing, as proto3 JSON lines, put into its history as
 * ingest does; the last line is the event whose places are asked. */
struct thing_case {
	Commissioning__Envelope *env[16];
	size_t n;
	struct histories h;
};

static void
case_add(struct thing_case *c, const char *json)
{
	Commissioning__Envelope *env = envelope_of_json(json);
	size_t len = protobuf_c_message_get_packed_size(&env->base);
	uint8_t *bytes = malloc(len ? len : 1);

	assert_true(c->n < sizeof(c->env) / sizeof(c->env[0]));
	assert_non_null(bytes);
	protobuf_c_message_pack(&env->base, bytes);
	histories_put(&c->h, bytes, len);
	free(bytes);
	c->env[c->n++] = env;
}

static void
case_free(struct thing_case *c)
{
	for (size_t i = 0; i < c->n; i++)
		protobuf_c_message_free_unpacked(&c->env[i]->base, NULL);
	histories_free(&c->h);
	memset(c, 0, sizeof(*c));
}

/* The places of the case's last event, with its thing's history. */
static int
case_places(struct thing_case *c, struct place places[PLACES_MAX],
    Commissioning__Envelope **scratch)
{
	const Commissioning__Envelope *env = c->env[c->n - 1];
	struct thing_key key;
	Commissioning__History *history;
	const struct stored *s = NULL;
	int n;

	assert_int_equal(thing_key_of(env, &key), 0);
	for (size_t i = 0; i < c->h.n; i++)
		if (c->h.item[i].key.len == key.len &&
		    memcmp(c->h.item[i].key.bytes, key.bytes, key.len) == 0)
			s = &c->h.item[i];
	assert_non_null(s);
	history = commissioning__history__unpack(NULL, s->len, s->bytes);
	assert_non_null(history);
	n = thing_places(env, history, places, scratch);
	commissioning__history__free_unpacked(history, NULL);
	return n;
}

/* ------------------------------------------------------------ tests */

/*
 * Finance: "the last award stands" (Order and repetition: two awards of one
 * contract, the last in fold order is a correction). A variation's update
 * is about the contract's commissioner: the one of the award that stands,
 * whose year its money is committed in, not of an award it corrected.
 */
static void
test_variation_shows_on_the_commissioner_of_the_award_that_stands(void **state)
{
	struct thing_case c = { .n = 0 };
	struct place places[PLACES_MAX];
	Commissioning__Envelope *scratch = NULL;
	int n;

	(void)state;
	case_add(&c, "{\"source\":\"fin\",\"eventId\":\"K1\",\"occurredAt\":\"1767607200000\","
		     "\"contractAwarded\":{\"contractId\":\"C1\",\"commissioner\":\"QNX\","
		     "\"provider\":\"RAA\",\"annualValue\":\"36500\",\"startDate\":\"2026-04-01\","
		     "\"endDate\":\"2027-03-31\",\"decidedOn\":\"2026-03-01\","
		     "\"decisionMakers\":[\"S1\"]}}");
	/* The commissioner was wrong: the award is sent again, corrected. */
	case_add(&c, "{\"source\":\"fin\",\"eventId\":\"K2\",\"occurredAt\":\"1767610800000\","
		     "\"contractAwarded\":{\"contractId\":\"C1\",\"commissioner\":\"QNQ\","
		     "\"provider\":\"RAA\",\"annualValue\":\"36500\",\"startDate\":\"2026-04-01\","
		     "\"endDate\":\"2027-03-31\",\"decidedOn\":\"2026-03-01\","
		     "\"decisionMakers\":[\"S1\"]}}");
	case_add(&c, "{\"source\":\"fin\",\"eventId\":\"K3\",\"occurredAt\":\"1778403600000\","
		     "\"contractVaried\":{\"contractId\":\"C1\",\"variationNumber\":\"1\","
		     "\"newAnnualValue\":\"73000\",\"effectiveDate\":\"2026-06-01\","
		     "\"decidedOn\":\"2026-05-01\",\"decisionMakers\":[\"S1\"]}}");
	n = thing_places(c.env[2], NULL, places, &scratch); /* no history: pending */
	assert_int_equal(n, 2);
	assert_string_equal(places[0].code, "C1");
	n = case_places(&c, places, &scratch);
	assert_int_equal(n, 2);
	assert_string_equal(places[0].area, "finance");
	assert_string_equal(places[0].code, "QNQ");
	assert_string_equal(places[1].area, "governance");
	assert_string_equal(places[1].code, "QNQ");
	assert_true(places[0].commissioner);
	if (scratch != NULL)
		commissioning__envelope__free_unpacked(scratch, NULL);
	case_free(&c);
}

/* The same for a termination, whichever order the awards arrived in. */
static void
test_termination_shows_on_the_award_that_stands_in_any_arrival_order(void **state)
{
	struct thing_case c = { .n = 0 };
	struct place places[PLACES_MAX];
	Commissioning__Envelope *scratch = NULL;

	(void)state;
	case_add(&c, "{\"source\":\"fin\",\"eventId\":\"K2\",\"occurredAt\":\"1767610800000\","
		     "\"contractAwarded\":{\"contractId\":\"C1\",\"commissioner\":\"E10000011\","
		     "\"provider\":\"RAA\",\"annualValue\":\"1\",\"startDate\":\"2026-04-01\","
		     "\"endDate\":\"2027-03-31\",\"decidedOn\":\"2026-03-01\"}}");
	case_add(&c, "{\"source\":\"fin\",\"eventId\":\"K1\",\"occurredAt\":\"1767607200000\","
		     "\"contractAwarded\":{\"contractId\":\"C1\",\"commissioner\":\"QNX\","
		     "\"provider\":\"RAA\",\"annualValue\":\"1\",\"startDate\":\"2026-04-01\","
		     "\"endDate\":\"2027-03-31\",\"decidedOn\":\"2026-03-01\"}}");
	case_add(&c, "{\"source\":\"fin\",\"eventId\":\"K3\",\"occurredAt\":\"1778403600000\","
		     "\"contractTerminated\":{\"contractId\":\"C1\","
		     "\"lastDayOfService\":\"2026-09-30\"}}");
	assert_int_equal(case_places(&c, places, &scratch), 1);
	assert_string_equal(places[0].code, "E10000011");
	if (scratch != NULL)
		commissioning__envelope__free_unpacked(scratch, NULL);
	case_free(&c);
}

/*
 * Governance: a declaration sent again (a correction: the last stands) may
 * name another organisation the person sits in; a withdrawal changes the
 * register where the declaration now stands.
 */
static void
test_withdrawal_shows_on_the_organisation_of_the_declaration_that_stands(void **state)
{
	struct thing_case c = { .n = 0 };
	struct place places[PLACES_MAX];
	Commissioning__Envelope *scratch = NULL;

	(void)state;
	case_add(&c, "{\"source\":\"gov\",\"eventId\":\"G1\",\"occurredAt\":\"1767607200000\","
		     "\"interestDeclared\":{\"declarationId\":\"D1\",\"person\":\"S1\","
		     "\"organisation\":\"QNX\",\"type\":\"INTEREST_TYPE_FINANCIAL\","
		     "\"interestIn\":\"RAA\",\"fromDate\":\"2026-01-01\"}}");
	case_add(&c, "{\"source\":\"gov\",\"eventId\":\"G2\",\"occurredAt\":\"1767610800000\","
		     "\"interestDeclared\":{\"declarationId\":\"D1\",\"person\":\"S1\","
		     "\"organisation\":\"E10000011\",\"type\":\"INTEREST_TYPE_FINANCIAL\","
		     "\"interestIn\":\"RAA\",\"fromDate\":\"2026-01-01\"}}");
	case_add(&c, "{\"source\":\"gov\",\"eventId\":\"G3\",\"occurredAt\":\"1778403600000\","
		     "\"interestWithdrawn\":{\"declarationId\":\"D1\",\"toDate\":\"2026-05-01\"}}");
	assert_int_equal(case_places(&c, places, &scratch), 1);
	assert_string_equal(places[0].area, "governance");
	assert_string_equal(places[0].code, "E10000011");
	assert_false(places[0].commissioner);
	if (scratch != NULL)
		commissioning__envelope__free_unpacked(scratch, NULL);
	case_free(&c);
}

/* A service's move, as proto3 JSON: eventId, commissioner, from, to,
 * effective date. */
static void
case_service_under(struct thing_case *c, const char *id, const char *commissioner,
    const char *from, const char *to, const char *effective)
{
	char json[1024];
	int n = snprintf(json, sizeof(json),
	    "{\"source\":\"icb\",\"eventId\":\"%s\",\"occurredAt\":\"%lld\","
	    "\"serviceStatusChanged\":{\"serviceId\":\"EMI-1\",\"commissioner\":\"%s\","
	    "\"provider\":\"1-123039495\",\"category\":\"SERVICE_CATEGORY_DEMENTIA_AND_RESPITE\","
	    "%s%s%s\"toStatus\":\"SERVICE_STATUS_%s\",\"effectiveDate\":\"%s\",\"places\":\"12\"}}",
	    id, (long long)(AT_MS + (int64_t)c->n * HOUR_MS), commissioner,
	    from ? "\"fromStatus\":\"SERVICE_STATUS_" : "", from ? from : "", from ? "\"," : "", to,
	    effective);

	assert_true(n > 0 && (size_t)n < sizeof(json));
	case_add(c, json);
}

/* The same under the council E10000011. */
static void
case_service(struct thing_case *c, const char *id, const char *from, const char *to,
    const char *effective)
{
	case_service_under(c, id, "E10000011", from, to, effective);
}

/*
 * Services: "A move commissioned -> decommissioned or closed raises a
 * governance alert: closure without consultation"; What the daemon
 * publishes: "Governance: alerts raised and cleared". Such a move shows on
 * the commissioner's governance place too, and its update carries the
 * alert; other moves do not.
 */
static void
test_closure_without_consultation_shows_on_governance_with_its_alert(void **state)
{
	struct thing_case c = { .n = 0 };
	struct place places[PLACES_MAX];
	Commissioning__Envelope *scratch = NULL;
	struct picture *p;
	json_t *figures, *slice, *alerts;
	struct place_cut cut = { NULL, NULL, 0 };

	(void)state;
	case_service(&c, "S1", NULL, "COMMISSIONED", "2026-04-01");
	assert_int_equal(case_places(&c, places, &scratch), 2);
	case_service(&c, "S2", "COMMISSIONED", "CLOSED", "2026-06-01");
	assert_int_equal(case_places(&c, places, &scratch), 3);
	assert_string_equal(places[0].area, "services");
	assert_string_equal(places[1].area, "capacity");
	assert_string_equal(places[2].area, "governance");
	assert_string_equal(places[2].code, "E10000011");
	assert_true(places[2].commissioner);

	p = picture_of(&c.h, false);
	cut.picture = p;
	figures = picture_figures(p, "governance", AT_MS + 24 * HOUR_MS);
	assert_non_null(figures);
	slice = place_figures(figures, "governance", "QNX", "E10000011", c.env[1], &cut,
	    dates_london_day_of_ms(c.env[1]->occurred_at));
	alerts = json_object_get(slice, "closure_without_consultation");
	assert_int_equal(json_array_size(alerts), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(alerts, 0),
				"service_id")), "EMI-1");
	assert_string_equal(json_string_value(json_object_get(json_array_get(alerts, 0),
				"event_id")), "S2");
	json_decref(slice);
	/* The move that raised none carries none. */
	slice = place_figures(figures, "governance", "QNX", "E10000011", c.env[0], &cut,
	    dates_london_day_of_ms(c.env[0]->occurred_at));
	assert_int_equal(json_array_size(json_object_get(slice, "closure_without_consultation")), 0);
	json_decref(slice);
	json_decref(figures);
	picture_destroy(&p);
	case_free(&c);
}

/*
 * What the daemon publishes: "Services: every status change, with the
 * places it moves". A move that takes effect after the commit date leaves
 * the service as it is on that date; its update still says which move it
 * is and the places it moves.
 */
static void
test_service_update_carries_its_move_though_not_effective_yet(void **state)
{
	struct thing_case c = { .n = 0 };
	struct picture *p;
	json_t *figures, *slice, *change;
	struct place_cut cut = { NULL, NULL, 0 };

	(void)state;
	case_service(&c, "S1", NULL, "COMMISSIONED", "2026-04-01");
	case_service(&c, "S2", "COMMISSIONED", "CLOSED", "2026-06-01");
	p = picture_of(&c.h, false);
	cut.picture = p;
	figures = picture_figures(p, "services", AT_MS + 24 * HOUR_MS); /* 11 May */
	assert_non_null(figures);
	slice = place_figures(figures, "services", "QNX", "E10000011", c.env[1], &cut,
	    dates_london_day_of_ms(c.env[1]->occurred_at));
	assert_string_equal(json_string_value(json_object_get(slice, "service_id")), "EMI-1");
	assert_string_equal(json_string_value(at_path(slice, "service.status")), "commissioned");
	change = json_object_get(slice, "change");
	assert_non_null(change);
	assert_string_equal(json_string_value(json_object_get(change, "from_status")),
	    "commissioned");
	assert_string_equal(json_string_value(json_object_get(change, "to_status")), "closed");
	assert_string_equal(json_string_value(json_object_get(change, "effective_date")),
	    "2026-06-01");
	assert_int_equal(json_integer_value(json_object_get(change, "places")), 12);
	assert_true(json_is_null(json_object_get(change, "proposed_change")));
	json_decref(slice);
	json_decref(figures);
	picture_destroy(&p);
	case_free(&c);
}

static const char *
no_icb(void *arg, const char *provider)
{
	(void)arg;
	(void)provider;
	return NULL;
}

/*
 * Flow: "Patients in hospital at T, per provider ... and per ICB:
 * inpatient spells, not void, ..." A provider whose only spell a
 * cancel-admission voided has 0 in hospital, and its update says so (as
 * the running totals' update does), not null: the update before said 1.
 */
static void
test_flow_update_after_the_only_spell_is_voided_says_zero_in_hospital(void **state)
{
	struct thing_case c = { .n = 0 };
	struct picture *p;
	struct tallies *t;
	json_t *figures, *slice;
	struct place_cut cut = { NULL, NULL, 0 };
	int32_t day;

	(void)state;
	case_add(&c, "{\"source\":\"hl7\",\"eventId\":\"A1\",\"occurredAt\":\"1778403600000\","
		     "\"patientAdmitted\":{\"patientPseudonym\":\"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\","
		     "\"spellPseudonym\":\"AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=\",\"provider\":\"RAA\","
		     "\"site\":\"RAA01\",\"ward\":\"W1\",\"patientClass\":\"PATIENT_CLASS_INPATIENT\"}}");
	case_add(&c, "{\"source\":\"hl7\",\"eventId\":\"A2\",\"occurredAt\":\"1778407200000\","
		     "\"patientCancelled\":{\"spellPseudonym\":\"AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=\","
		     "\"provider\":\"RAA\",\"cancels\":\"CANCEL_TARGET_ADMISSION\"}}");
	p = picture_of(&c.h, false);
	cut.picture = p;
	figures = picture_figures(p, "flow", AT_MS + 2 * HOUR_MS);
	assert_non_null(figures);
	day = dates_london_day_of_ms(c.env[1]->occurred_at);
	slice = place_figures(figures, "flow", "QNX", "RAA", c.env[1], &cut, day);
	assert_true(json_is_integer(at_path(slice, "provider.in_hospital")));
	assert_int_equal(json_integer_value(at_path(slice, "provider.in_hospital")), 0);
	assert_true(json_is_integer(at_path(slice, "icb.in_hospital")));
	assert_int_equal(json_integer_value(at_path(slice, "icb.in_hospital")), 0);
	json_decref(slice);
	/* The same from the running totals: the spell, void, adds nothing. */
	t = tallies_new();
	assert_non_null(t);
	slice = tallies_flow_figures(t, "RAA", "QNX", day, no_icb, NULL);
	assert_true(json_is_integer(at_path(slice, "provider.in_hospital")));
	assert_int_equal(json_integer_value(at_path(slice, "provider.in_hospital")), 0);
	assert_true(json_is_integer(at_path(slice, "icb.in_hospital")));
	assert_int_equal(json_integer_value(at_path(slice, "icb.in_hospital")), 0);
	json_decref(slice);
	tallies_destroy(&t);
	json_decref(figures);
	picture_destroy(&p);
	case_free(&c);
}

/*
 * Services: commissioned places roll up to the commissioner's ICB and
 * council; "A service decommissioned or closed stops counting on its
 * effective date". Closing the only service there leaves 0 commissioned
 * places in both roll-ups, and the capacity update of the closure says 0,
 * not null: the update before said 12.
 */
static void
test_capacity_update_of_a_closure_says_zero_places_not_null(void **state)
{
	struct thing_case c = { .n = 0 };
	struct picture *p;
	json_t *figures, *slice;
	struct place_cut cut = { NULL, NULL, 0 };

	(void)state;
	case_service(&c, "S1", NULL, "COMMISSIONED", "2026-04-01");
	case_service(&c, "S2", "COMMISSIONED", "CLOSED", "2026-05-10");
	p = picture_of(&c.h, false);
	cut.picture = p;
	figures = picture_figures(p, "capacity", AT_MS + 2 * HOUR_MS);
	assert_non_null(figures);
	slice = place_figures(figures, "capacity", "unmapped", "E10000011", c.env[1], &cut,
	    dates_london_day_of_ms(c.env[1]->occurred_at));
	assert_true(json_is_integer(at_path(slice, "icb.commissioned_places")));
	assert_int_equal(json_integer_value(at_path(slice, "icb.commissioned_places")), 0);
	assert_int_equal(json_integer_value(at_path(slice, "icb.at_risk_places")), 0);
	assert_int_equal(json_integer_value(at_path(slice, "icb.available")), 0);
	assert_true(json_is_integer(at_path(slice, "council.commissioned_places")));
	assert_int_equal(json_integer_value(at_path(slice, "council.commissioned_places")), 0);
	json_decref(slice);
	/* Before the closure took effect, the same place held its 12. */
	json_decref(figures);
	figures = picture_figures(p, "capacity", AT_MS - 24 * HOUR_MS);
	slice = place_figures(figures, "capacity", "unmapped", "E10000011", c.env[1], &cut,
	    dates_london_day_of_ms(c.env[1]->occurred_at));
	assert_int_equal(json_integer_value(at_path(slice, "icb.commissioned_places")), 12);
	assert_int_equal(json_integer_value(at_path(slice, "council.commissioned_places")), 12);
	json_decref(slice);
	json_decref(figures);
	picture_destroy(&p);
	case_free(&c);
}

/*
 * Finance: a contract's value runs "ending at its end date or at a
 * termination's last day of service, whichever is earlier"; Edges: "one
 * dated before the start is accepted, and ... the contract never runs".
 * The termination's update then has no year to show for the commissioner:
 * an empty object, not null (its update before showed the committed money).
 */
static void
test_finance_and_governance_updates_with_nothing_to_show_are_empty_not_null(void **state)
{
	struct thing_case c = { .n = 0 };
	struct picture *p;
	json_t *figures, *slice;
	struct place_cut cut = { NULL, NULL, 0 };

	(void)state;
	case_add(&c, "{\"source\":\"fin\",\"eventId\":\"K1\",\"occurredAt\":\"1767607200000\","
		     "\"contractAwarded\":{\"contractId\":\"C1\",\"commissioner\":\"QNX\","
		     "\"provider\":\"RAA\",\"annualValue\":\"36500\",\"startDate\":\"2026-04-01\","
		     "\"endDate\":\"2027-03-31\",\"decidedOn\":\"2026-03-01\"}}");
	case_add(&c, "{\"source\":\"fin\",\"eventId\":\"K2\",\"occurredAt\":\"1767610800000\","
		     "\"contractTerminated\":{\"contractId\":\"C1\","
		     "\"lastDayOfService\":\"2026-03-31\"}}");
	p = picture_of(&c.h, false);
	cut.picture = p;
	figures = picture_figures(p, "finance", AT_MS);
	assert_non_null(figures);
	slice = place_figures(figures, "finance", "QNX", "QNX", c.env[1], &cut,
	    dates_london_day_of_ms(c.env[1]->occurred_at));
	assert_true(json_is_object(json_object_get(slice, "years")));
	assert_int_equal(json_object_size(json_object_get(slice, "years")), 0);
	json_decref(slice);
	json_decref(figures);
	/* Its governance update: nobody at QNX has declared anything. */
	figures = picture_figures(p, "governance", AT_MS);
	slice = place_figures(figures, "governance", "QNX", "QNX", c.env[0], &cut,
	    dates_london_day_of_ms(c.env[0]->occurred_at));
	assert_true(json_is_array(json_object_get(slice, "register")));
	assert_int_equal(json_array_size(json_object_get(slice, "register")), 0);
	json_decref(slice);
	json_decref(figures);
	picture_destroy(&p);
	case_free(&c);
}

/* The history of the case's thing before its last event went in. */
static Commissioning__History *
case_history_before(struct thing_case *c)
{
	struct histories h = { .n = 0 };
	Commissioning__History *history = NULL;

	for (size_t i = 0; i + 1 < c->n; i++) {
		size_t len = protobuf_c_message_get_packed_size(&c->env[i]->base);
		uint8_t *bytes = malloc(len ? len : 1);

		assert_non_null(bytes);
		protobuf_c_message_pack(&c->env[i]->base, bytes);
		histories_put(&h, bytes, len);
		free(bytes);
	}
	if (h.n > 0)
		history = commissioning__history__unpack(NULL, h.item[0].len, h.item[0].bytes);
	histories_free(&h);
	return history;
}

/*
 * Order and repetition: a spend, an award or a declaration sent again is a
 * correction, and the last stands. One that names another commissioner
 * (or organisation) moves the money (or the declaration) away from the one
 * before, whose figures change too: those places are where it stood.
 */
static void
test_a_correction_shows_where_its_thing_stood_before(void **state)
{
	struct thing_case c = { .n = 0 };
	struct place places[PLACES_MAX];
	Commissioning__Envelope *scratch = NULL;
	Commissioning__History *before;

	(void)state;
	/* A spend recorded against QNX, then corrected to E10000011. */
	case_add(&c, "{\"source\":\"fin\",\"eventId\":\"X1\",\"occurredAt\":\"1767607200000\","
		     "\"spendRecorded\":{\"commissioner\":\"QNX\",\"contractId\":\"C1\","
		     "\"period\":\"2026-04\",\"amount\":\"500\"}}");
	case_add(&c, "{\"source\":\"fin\",\"eventId\":\"X2\",\"occurredAt\":\"1767610800000\","
		     "\"spendRecorded\":{\"commissioner\":\"E10000011\",\"contractId\":\"C1\","
		     "\"period\":\"2026-04\",\"amount\":\"500\"}}");
	before = case_history_before(&c);
	assert_int_equal(thing_places_before(c.env[1], before, places, &scratch), 1);
	assert_string_equal(places[0].area, "finance");
	assert_string_equal(places[0].code, "QNX");
	assert_true(places[0].commissioner);
	commissioning__envelope__free_unpacked(scratch, NULL);
	commissioning__history__free_unpacked(before, NULL);
	/* Nothing stood before the first. */
	assert_int_equal(thing_places_before(c.env[0], NULL, places, &scratch), 0);
	assert_null(scratch);
	case_free(&c);

	/* An award corrected to another commissioner. */
	case_add(&c, "{\"source\":\"fin\",\"eventId\":\"K1\",\"occurredAt\":\"1767607200000\","
		     "\"contractAwarded\":{\"contractId\":\"C1\",\"commissioner\":\"QNX\","
		     "\"provider\":\"RAA\",\"annualValue\":\"1\",\"startDate\":\"2026-04-01\","
		     "\"endDate\":\"2027-03-31\",\"decidedOn\":\"2026-03-01\"}}");
	case_add(&c, "{\"source\":\"fin\",\"eventId\":\"K2\",\"occurredAt\":\"1767610800000\","
		     "\"contractAwarded\":{\"contractId\":\"C1\",\"commissioner\":\"02P\","
		     "\"provider\":\"RAA\",\"annualValue\":\"1\",\"startDate\":\"2026-04-01\","
		     "\"endDate\":\"2027-03-31\",\"decidedOn\":\"2026-03-01\"}}");
	before = case_history_before(&c);
	assert_int_equal(thing_places_before(c.env[1], before, places, &scratch), 2);
	assert_string_equal(places[0].area, "finance");
	assert_string_equal(places[0].code, "QNX");
	assert_string_equal(places[1].area, "governance");
	assert_string_equal(places[1].code, "QNX");
	commissioning__envelope__free_unpacked(scratch, NULL);
	commissioning__history__free_unpacked(before, NULL);
	case_free(&c);

	/* A declaration corrected to the other organisation the person sits in. */
	case_add(&c, "{\"source\":\"gov\",\"eventId\":\"G1\",\"occurredAt\":\"1767607200000\","
		     "\"interestDeclared\":{\"declarationId\":\"D1\",\"person\":\"S1\","
		     "\"organisation\":\"RAA\",\"type\":\"INTEREST_TYPE_FINANCIAL\","
		     "\"interestIn\":\"RBB\",\"fromDate\":\"2026-01-01\"}}");
	case_add(&c, "{\"source\":\"gov\",\"eventId\":\"G2\",\"occurredAt\":\"1767610800000\","
		     "\"interestDeclared\":{\"declarationId\":\"D1\",\"person\":\"S1\","
		     "\"organisation\":\"QNX\",\"type\":\"INTEREST_TYPE_FINANCIAL\","
		     "\"interestIn\":\"RBB\",\"fromDate\":\"2026-01-01\"}}");
	before = case_history_before(&c);
	assert_int_equal(thing_places_before(c.env[1], before, places, &scratch), 1);
	assert_string_equal(places[0].area, "governance");
	assert_string_equal(places[0].code, "RAA");
	assert_false(places[0].commissioner);
	commissioning__envelope__free_unpacked(scratch, NULL);
	commissioning__history__free_unpacked(before, NULL);
	case_free(&c);
}

/*
 * A service's commissioner on date D is its last event's effective on or
 * before D (DOMAIN.md, How every figure is worked out): a move under another
 * commissioner hands the service over, and the one it leaves loses its
 * places and its capacity at risk, so it is published there too. A move
 * under the same commissioner stood nowhere else.
 */
static void
test_a_service_handed_to_another_commissioner_shows_where_it_was(void **state)
{
	struct thing_case c = { .n = 0 };
	struct place places[PLACES_MAX];
	Commissioning__Envelope *scratch = NULL;
	Commissioning__History *before;

	(void)state;
	case_service_under(&c, "S1", "E10000011", NULL, "COMMISSIONED", "2026-04-01");
	case_service_under(&c, "S2", "E10000011", NULL, "COMMISSIONED", "2026-05-01");
	before = case_history_before(&c);
	assert_int_equal(thing_places_before(c.env[1], before, places, &scratch), 0);
	assert_null(scratch);
	commissioning__history__free_unpacked(before, NULL);

	case_service_under(&c, "S3", "02P", NULL, "COMMISSIONED", "2026-06-01");
	before = case_history_before(&c);
	assert_int_equal(thing_places_before(c.env[2], before, places, &scratch), 2);
	assert_string_equal(places[0].area, "services");
	assert_string_equal(places[0].code, "E10000011");
	assert_true(places[0].commissioner);
	assert_string_equal(places[1].area, "capacity");
	assert_string_equal(places[1].code, "E10000011");
	assert_true(places[1].commissioner);
	commissioning__envelope__free_unpacked(scratch, NULL);
	commissioning__history__free_unpacked(before, NULL);
	case_free(&c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_variation_shows_on_the_commissioner_of_the_award_that_stands),
		cmocka_unit_test(
		    test_termination_shows_on_the_award_that_stands_in_any_arrival_order),
		cmocka_unit_test(
		    test_withdrawal_shows_on_the_organisation_of_the_declaration_that_stands),
		cmocka_unit_test(test_closure_without_consultation_shows_on_governance_with_its_alert),
		cmocka_unit_test(test_service_update_carries_its_move_though_not_effective_yet),
		cmocka_unit_test(test_flow_update_after_the_only_spell_is_voided_says_zero_in_hospital),
		cmocka_unit_test(test_capacity_update_of_a_closure_says_zero_places_not_null),
		cmocka_unit_test(
		    test_finance_and_governance_updates_with_nothing_to_show_are_empty_not_null),
		cmocka_unit_test(test_a_correction_shows_where_its_thing_stood_before),
		cmocka_unit_test(test_a_service_handed_to_another_commissioner_shows_where_it_was),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
