/*
 * test_flow: spells folded from their ADT events and counted in hospital,
 * admitted, discharged and attended, per provider, site, ward and ICB
 * (DOMAIN.md, Flow; Edges, settled; Now and today; Places in the hierarchy),
 * through the write side (history_insert) and the read side
 * (picture_figures). Scenarios are those of tests/examples/flow,
 * flow-sites-and-classes, clock-changes and hierarchy.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "projections.h"
#include "picture_fixture.h"
#include "spell.h"

#define ROLE(x) COMMISSIONING__ORG_ROLE__ORG_ROLE_##x
#define EVENT(x) COMMISSIONING__ENVELOPE__EVENT_PATIENT_##x
#define CANCELS(x) COMMISSIONING__CANCEL_TARGET__CANCEL_TARGET_##x

#define HOUR_MS 3600000LL
#define MAY_10_UTC 1778371200000LL /* 2026-05-10T00:00Z, 01:00 in London */
#define AT(h) (MAY_10_UTC + (int64_t)((h)*HOUR_MS))
#define AS_OF AT(24) /* 2026-05-11T00:00Z, as in tests/examples/flow */
#define REFERENCE_MS 1767225600000LL /* 2026-01-01T00:00Z, the ODS load */

/* ------------------------------------------------------------ events */

/* RAA with two sites, under the ICB QNX, as in tests/examples/flow. */
static void
orgs_raa(struct events *ev)
{
	org(ev, "ods", "O1", REFERENCE_MS, "QNX", ROLE(ICB), "");
	org(ev, "ods", "O2", REFERENCE_MS, "RAA", ROLE(TRUST), "QNX");
	org(ev, "ods", "O3", REFERENCE_MS, "RAA01", ROLE(TRUST_SITE), "RAA");
	org(ev, "ods", "O4", REFERENCE_MS, "RAA02", ROLE(TRUST_SITE), "RAA");
}

/* An admission, transfer, update or discharge of spell (a fill byte; the
 * patient is the same byte) at provider RAA unless told. */
static void
adt_at(struct events *ev, Commissioning__Envelope__EventCase kind, const char *id, int64_t at_ms,
    const char *provider, uint8_t spell, const char *site, const char *ward, char cls)
{
	Commissioning__Envelope env = COMMISSIONING__ENVELOPE__INIT;
	Commissioning__PatientMovement m = COMMISSIONING__PATIENT_MOVEMENT__INIT;
	uint8_t spell_bytes[32], patient_bytes[32];

	m.spell_pseudonym = pseudonym(spell_bytes, spell);
	m.patient_pseudonym = pseudonym(patient_bytes, spell);
	m.provider = (char *)provider;
	m.site = (char *)site;
	m.ward = (char *)ward;
	m.patient_class = class_of(cls);
	env.event_case = kind;
	env.patient_admitted = &m; /* the four movements share the slot */
	events_add(ev, &env, "hl7:RAA", id, at_ms);
}

static void
adt(struct events *ev, Commissioning__Envelope__EventCase kind, const char *id, int64_t at_ms,
    uint8_t spell, const char *site, const char *ward, char cls)
{
	adt_at(ev, kind, id, at_ms, "RAA", spell, site, ward, cls);
}

static void
cancel(struct events *ev, const char *id, int64_t at_ms, uint8_t spell,
    Commissioning__CancelTarget target)
{
	Commissioning__Envelope env = COMMISSIONING__ENVELOPE__INIT;
	Commissioning__PatientCancelled c = COMMISSIONING__PATIENT_CANCELLED__INIT;
	uint8_t spell_bytes[32];

	c.spell_pseudonym = pseudonym(spell_bytes, spell);
	c.provider = "RAA";
	c.cancels = target;
	env.event_case = COMMISSIONING__ENVELOPE__EVENT_PATIENT_CANCELLED;
	env.patient_cancelled = &c;
	events_add(ev, &env, "hl7:RAA", id, at_ms);
}

/* ------------------------------------------------------------ reading figures */

static bool
pending_has(json_t *root, const char *item)
{
	return list_has_string(at_path(root, "pending.discharge_only_spells"), item);
}

/* ------------------------------------------------------------ tests */

/* flow E0008-E0010: admitted to W1, moved to W2, the move cancelled. */
static void
test_flow_cancel_transfer_puts_site_and_ward_back(void **state)
{
	struct events ev = {.n = 0};
	json_t *f;

	(void)state;
	orgs_raa(&ev);
	adt(&ev, EVENT(ADMITTED), "A1", AT(10), 1, "RAA01", "W1", 'I');
	adt(&ev, EVENT(TRANSFERRED), "A2", AT(11), 1, "RAA02", "W2", 'I');
	cancel(&ev, "A3", AT(11.5), 1, CANCELS(TRANSFER));
	f = figures_of(&ev, NULL, false, "flow", AS_OF);
	assert_int_equal(count_at(f, "flow.providers.RAA.sites.RAA01.wards.W1"), 1);
	assert_int_equal(count_at(f, "flow.providers.RAA.sites.RAA01.in_hospital"), 1);
	assert_null(at_path(f, "flow.providers.RAA.sites.RAA02"));
	json_decref(f);
	events_free(&ev);
}

/* flow E0017-E0020: two transfers and a cancel that undoes only the latest. */
static void
test_flow_cancel_transfer_undoes_only_the_latest_standing(void **state)
{
	struct events ev = {.n = 0};
	json_t *f;

	(void)state;
	orgs_raa(&ev);
	adt(&ev, EVENT(ADMITTED), "A1", AT(8), 1, "RAA01", "W1", 'I');
	adt(&ev, EVENT(TRANSFERRED), "A2", AT(9), 1, "RAA01", "W2", 'I');
	adt(&ev, EVENT(TRANSFERRED), "A3", AT(10), 1, "RAA01", "W3", 'I');
	cancel(&ev, "A4", AT(10.5), 1, CANCELS(TRANSFER));
	f = figures_of(&ev, NULL, false, "flow", AS_OF);
	assert_int_equal(count_at(f, "flow.providers.RAA.sites.RAA01.wards.W2"), 1);
	assert_int_equal(count_at(f, "flow.providers.RAA.sites.RAA01.wards.W3"), 0);
	json_decref(f);
	events_free(&ev);
}

/* flow E0011-E0012: an admission cancelled: the spell counts nowhere. */
static void
test_flow_cancel_admission_voids_the_spell(void **state)
{
	struct events ev = {.n = 0};
	json_t *f;

	(void)state;
	orgs_raa(&ev);
	adt(&ev, EVENT(ADMITTED), "A1", AT(10), 1, "RAA01", "W1", 'I');
	cancel(&ev, "A2", AT(10.25), 1, CANCELS(ADMISSION));
	f = figures_of(&ev, NULL, false, "flow", AS_OF);
	assert_int_equal(count_at(f, "flow.providers.RAA.in_hospital"), 0);
	assert_int_equal(count_at(f, "flow.providers.RAA.days.2026-05-10.admissions"), 0);
	assert_int_equal(count_at(f, "flow.icbs.QNX.in_hospital"), 0);
	assert_null(at_path(f, "flow.providers.RAA.sites.RAA01"));
	json_decref(f);
	events_free(&ev);
}

/* flow E0027-E0029: an admission cancelled, then admitted again. */
static void
test_flow_admission_after_cancel_admission_reopens_the_spell(void **state)
{
	struct events ev = {.n = 0};
	json_t *f;

	(void)state;
	orgs_raa(&ev);
	adt(&ev, EVENT(ADMITTED), "A1", AT(5), 1, "RAA01", "W4", 'I');
	cancel(&ev, "A2", AT(5.25), 1, CANCELS(ADMISSION));
	adt(&ev, EVENT(ADMITTED), "A3", AT(6.5), 1, "RAA01", "W4", 'I');
	f = figures_of(&ev, NULL, false, "flow", AS_OF);
	assert_int_equal(count_at(f, "flow.providers.RAA.in_hospital"), 1);
	assert_int_equal(count_at(f, "flow.providers.RAA.days.2026-05-10.admissions"), 1);
	assert_int_equal(count_at(f, "flow.providers.RAA.sites.RAA01.wards.W4"), 1);
	json_decref(f);
	events_free(&ev);
}

/* Edges, settled: only a cancel-discharge reopens a spell, so a discharge
 * stands through a cancel-admission and the admission that reopens it. */
static void
test_flow_cancel_admission_leaves_a_standing_discharge(void **state)
{
	struct events ev = {.n = 0};
	json_t *f;

	(void)state;
	orgs_raa(&ev);
	adt(&ev, EVENT(ADMITTED), "A1", AT(5), 1, "RAA01", "W1", 'I');
	adt(&ev, EVENT(DISCHARGED), "A2", AT(6), 1, "RAA01", "W1", 'I');
	cancel(&ev, "A3", AT(7), 1, CANCELS(ADMISSION));
	adt(&ev, EVENT(ADMITTED), "A4", AT(8), 1, "RAA01", "W1", 'I');
	f = figures_of(&ev, NULL, false, "flow", AS_OF);
	assert_int_equal(count_at(f, "flow.providers.RAA.in_hospital"), 0);
	assert_int_equal(count_at(f, "flow.providers.RAA.days.2026-05-10.admissions"), 1);
	assert_int_equal(count_at(f, "flow.providers.RAA.days.2026-05-10.discharges"), 1);
	json_decref(f);
	events_free(&ev);
}

/* flow E0013-E0015: a discharge that is cancelled: still in. */
static void
test_flow_cancel_discharge_reopens_the_spell(void **state)
{
	struct events ev = {.n = 0};
	json_t *f;

	(void)state;
	orgs_raa(&ev);
	adt(&ev, EVENT(ADMITTED), "A1", AT(9), 1, "RAA01", "W3", 'I');
	adt(&ev, EVENT(DISCHARGED), "A2", AT(15), 1, "RAA01", "W3", 'I');
	cancel(&ev, "A3", AT(15.5), 1, CANCELS(DISCHARGE));
	f = figures_of(&ev, NULL, false, "flow", AS_OF);
	assert_int_equal(count_at(f, "flow.providers.RAA.in_hospital"), 1);
	assert_int_equal(count_at(f, "flow.providers.RAA.days.2026-05-10.discharges"), 0);
	json_decref(f);
	events_free(&ev);
}

/* flow E0016 and flow-sites-and-classes E0012: a discharge with no
 * admission counts as a discharge only (at its site when it names one) and
 * the spell is pending. */
static void
test_flow_discharge_without_admission_counts_as_discharge_only(void **state)
{
	struct events ev = {.n = 0};
	char item[80];
	json_t *f;

	(void)state;
	orgs_raa(&ev);
	adt(&ev, EVENT(DISCHARGED), "A1", AT(12), 0x16, "RAA01", "W1", 'I');
	adt(&ev, EVENT(DISCHARGED), "A2", AT(13), 0x17, "", "", 'I');
	f = figures_of(&ev, NULL, false, "flow", AS_OF);
	assert_int_equal(count_at(f, "flow.providers.RAA.days.2026-05-10.discharges"), 2);
	assert_int_equal(count_at(f, "flow.icbs.QNX.days.2026-05-10.discharges"), 2);
	assert_int_equal(
	    count_at(f, "flow.providers.RAA.sites.RAA01.days.2026-05-10.discharges"), 1);
	assert_int_equal(count_at(f, "flow.providers.RAA.days.2026-05-10.admissions"), 0);
	assert_int_equal(count_at(f, "flow.providers.RAA.in_hospital"), 0);
	strcpy(item, "RAA/");
	hex_of(0x17, item + 4);
	assert_true(pending_has(f, item));
	json_decref(f);
	events_free(&ev);
}

/* flow: classes I and B are inpatient; E and O attendances; P, R and U
 * count nowhere (E0021-E0024, E0033, E0034). */
static void
test_flow_patient_classes_decide_what_counts(void **state)
{
	static const char letters[] = "IBEOPRU";
	struct events ev = {.n = 0};
	char id[8];
	json_t *f;

	(void)state;
	orgs_raa(&ev);
	for (size_t i = 0; i < sizeof(letters) - 1; i++) {
		snprintf(id, sizeof(id), "A%zu", i);
		adt(&ev, EVENT(ADMITTED), id, AT(3 + (double)i), (uint8_t)(i + 1), "RAA01", "W1",
		    letters[i]);
	}
	f = figures_of(&ev, NULL, false, "flow", AS_OF);
	assert_int_equal(count_at(f, "flow.providers.RAA.in_hospital"), 2);
	assert_int_equal(count_at(f, "flow.providers.RAA.days.2026-05-10.admissions"), 2);
	assert_int_equal(count_at(f, "flow.providers.RAA.days.2026-05-10.attendances"), 2);
	assert_int_equal(count_at(f, "flow.providers.RAA.sites.RAA01.wards.W1"), 2);
	json_decref(f);
	events_free(&ev);
}

/* flow E0025-E0026: an ED attendance updated to class I is an admission
 * instead, on the ward of the update. */
static void
test_flow_attendance_that_becomes_inpatient_is_an_admission(void **state)
{
	struct events ev = {.n = 0};
	json_t *f;

	(void)state;
	orgs_raa(&ev);
	adt(&ev, EVENT(ADMITTED), "A1", AT(4), 1, "RAA01", "ED", 'E');
	adt(&ev, EVENT(UPDATED), "A2", AT(5), 1, "RAA01", "AMU", 'I');
	f = figures_of(&ev, NULL, false, "flow", AS_OF);
	assert_int_equal(count_at(f, "flow.providers.RAA.days.2026-05-10.admissions"), 1);
	assert_int_equal(count_at(f, "flow.providers.RAA.days.2026-05-10.attendances"), 0);
	assert_int_equal(count_at(f, "flow.providers.RAA.sites.RAA01.wards.AMU"), 1);
	json_decref(f);
	events_free(&ev);
}

/* flow-sites-and-classes E0010-E0011: the discharge carries class O, so
 * the spell is an attendance on its admission date, neither an admission
 * nor a discharge. */
static void
test_flow_class_set_by_a_discharge_stands(void **state)
{
	struct events ev = {.n = 0};
	json_t *f;

	(void)state;
	orgs_raa(&ev);
	adt(&ev, EVENT(ADMITTED), "A1", AT(9), 1, "RAA01", "W1", 'I');
	adt(&ev, EVENT(DISCHARGED), "A2", AT(10), 1, "RAA01", "W1", 'O');
	f = figures_of(&ev, NULL, false, "flow", AS_OF);
	assert_int_equal(count_at(f, "flow.providers.RAA.days.2026-05-10.attendances"), 1);
	assert_int_equal(count_at(f, "flow.providers.RAA.days.2026-05-10.admissions"), 0);
	assert_int_equal(count_at(f, "flow.providers.RAA.days.2026-05-10.discharges"), 0);
	json_decref(f);
	events_free(&ev);
}

/* flow-sites-and-classes E0008-E0009: every per-site figure uses the
 * spell's latest site, the admission included. */
static void
test_flow_per_site_figures_use_the_latest_site(void **state)
{
	struct events ev = {.n = 0};
	json_t *f;

	(void)state;
	orgs_raa(&ev);
	adt(&ev, EVENT(ADMITTED), "A1", AT(10), 1, "RAA01", "W1", 'I');
	adt(&ev, EVENT(TRANSFERRED), "A2", AT(14), 1, "RAA02", "W5", 'I');
	f = figures_of(&ev, NULL, false, "flow", AS_OF);
	assert_int_equal(
	    count_at(f, "flow.providers.RAA.sites.RAA02.days.2026-05-10.admissions"), 1);
	assert_int_equal(count_at(f, "flow.providers.RAA.sites.RAA02.wards.W5"), 1);
	assert_null(at_path(f, "flow.providers.RAA.sites.RAA01"));
	json_decref(f);
	events_free(&ev);
}

/* flow-sites-and-classes E0013-E0015: an admission after a discharge does
 * not clear it; it sets the admission time. */
static void
test_flow_admission_never_clears_a_standing_discharge(void **state)
{
	struct events ev = {.n = 0};
	json_t *f;

	(void)state;
	orgs_raa(&ev);
	adt(&ev, EVENT(ADMITTED), "A1", AT(5), 1, "RAA01", "W2", 'I');
	adt(&ev, EVENT(DISCHARGED), "A2", AT(6), 1, "RAA01", "W2", 'I');
	adt(&ev, EVENT(ADMITTED), "A3", AT(12), 1, "RAA01", "W2", 'I');
	f = figures_of(&ev, NULL, false, "flow", AT(22));
	assert_int_equal(count_at(f, "flow.providers.RAA.in_hospital"), 0);
	assert_int_equal(count_at(f, "flow.providers.RAA.days.2026-05-10.admissions"), 1);
	assert_int_equal(count_at(f, "flow.providers.RAA.days.2026-05-10.discharges"), 1);
	json_decref(f);
	events_free(&ev);
}

/* Flow: in hospital at T means admitted at or before T and not discharged
 * at or before T; every event still counts for the day figures. */
static void
test_flow_in_hospital_is_read_at_the_as_of(void **state)
{
	struct events ev = {.n = 0};
	json_t *f;

	(void)state;
	orgs_raa(&ev);
	adt(&ev, EVENT(ADMITTED), "A1", AT(2), 1, "RAA01", "W1", 'I');
	adt(&ev, EVENT(DISCHARGED), "A2", AT(20), 1, "RAA01", "W1", 'I');
	adt(&ev, EVENT(ADMITTED), "A3", AT(15), 2, "RAA01", "W1", 'I');
	f = figures_of(&ev, NULL, false, "flow", AT(12));
	assert_int_equal(count_at(f, "flow.providers.RAA.in_hospital"), 1);
	assert_int_equal(count_at(f, "flow.providers.RAA.days.2026-05-10.admissions"), 2);
	assert_int_equal(count_at(f, "flow.providers.RAA.days.2026-05-10.discharges"), 1);
	json_decref(f);
	f = figures_of(&ev, NULL, false, "flow", AT(20));
	assert_int_equal(count_at(f, "flow.providers.RAA.in_hospital"), 1);
	json_decref(f);
	events_free(&ev);
}

/* flow E0030 and clock-changes: every date of a time is its Europe/London
 * date; 23:30 UTC on 10 May is 11 May, 00:59 UTC on 29 March (GMT) is 29
 * March, 23:00 UTC on 24 October (BST) is 25 October. */
static void
test_flow_days_are_london_dates(void **state)
{
	struct events ev = {.n = 0};
	json_t *f;

	(void)state;
	orgs_raa(&ev);
	adt(&ev, EVENT(ADMITTED), "A1", AT(23.5), 1, "RAA01", "OPD", 'O');
	adt(&ev, EVENT(ADMITTED), "A2", 1774745999999LL, 2, "RAA01", "W1", 'I');
	adt(&ev, EVENT(ADMITTED), "A3", 1774740600000LL, 3, "RAA01", "W1", 'I');
	adt(&ev, EVENT(ADMITTED), "A4", 1792882800000LL, 4, "RAA01", "W1", 'I');
	f = figures_of(&ev, NULL, false, "flow", AS_OF);
	assert_int_equal(count_at(f, "flow.providers.RAA.days.2026-05-11.attendances"), 1);
	assert_int_equal(count_at(f, "flow.providers.RAA.days.2026-03-29.admissions"), 1);
	assert_int_equal(count_at(f, "flow.providers.RAA.days.2026-03-28.admissions"), 1);
	assert_int_equal(count_at(f, "flow.providers.RAA.days.2026-10-25.admissions"), 1);
	json_decref(f);
	events_free(&ev);
}

/* hierarchy: a provider with no known ICB rolls up under unmapped and is
 * listed; once registered, its figures move to its ICB. */
static void
test_flow_provider_rolls_up_by_the_mapping_as_it_stands(void **state)
{
	struct events ev = {.n = 0};
	json_t *f;

	(void)state;
	org(&ev, "ods", "O1", REFERENCE_MS, "QNX", ROLE(ICB), "");
	adt_at(&ev, EVENT(ADMITTED), "A1", AT(10), "RCC", 1, "RCC01", "W1", 'I');
	f = figures_of(&ev, NULL, false, "flow", AS_OF);
	assert_string_equal(json_string_value(at_path(f, "flow.providers.RCC.icb")), "unmapped");
	assert_true(unmapped_has(f, "RCC"));
	assert_int_equal(count_at(f, "flow.icbs.unmapped.in_hospital"), 1);
	json_decref(f);
	org(&ev, "ods", "O2", REFERENCE_MS, "RCC", ROLE(TRUST), "QNX");
	f = figures_of(&ev, NULL, false, "flow", AS_OF);
	assert_string_equal(json_string_value(at_path(f, "flow.providers.RCC.icb")), "QNX");
	assert_false(unmapped_has(f, "RCC"));
	assert_int_equal(count_at(f, "flow.icbs.QNX.in_hospital"), 1);
	assert_null(at_path(f, "flow.icbs.unmapped"));
	json_decref(f);
	events_free(&ev);
}

/* Order and repetition: the same set of events gives the same figures in
 * any arrival order. */
static void
test_flow_same_events_in_any_order_give_the_same_figures(void **state)
{
	struct events ev = {.n = 0};
	size_t *backwards;
	json_t *forward, *backward;

	(void)state;
	orgs_raa(&ev);
	adt(&ev, EVENT(ADMITTED), "A1", AT(8), 1, "RAA01", "W1", 'I');
	adt(&ev, EVENT(TRANSFERRED), "A2", AT(9), 1, "RAA01", "W2", 'I');
	adt(&ev, EVENT(TRANSFERRED), "A3", AT(10), 1, "RAA02", "W3", 'I');
	cancel(&ev, "A4", AT(10.5), 1, CANCELS(TRANSFER));
	adt(&ev, EVENT(ADMITTED), "A5", AT(4), 2, "RAA01", "ED", 'E');
	adt(&ev, EVENT(UPDATED), "A6", AT(5), 2, "RAA02", "AMU", 'I');
	adt(&ev, EVENT(DISCHARGED), "A7", AT(12), 3, "RAA01", "W1", 'I');
	adt(&ev, EVENT(ADMITTED), "A8", AT(1), 4, "RAA01", "W4", 'I');
	cancel(&ev, "A9", AT(1.5), 4, CANCELS(ADMISSION));
	forward = figures_of(&ev, NULL, false, "flow", AS_OF);
	backwards = order_new(ev.n, true);
	backward = figures_of(&ev, backwards, true, "flow", AS_OF);
	free(backwards);
	assert_true(json_equal(forward, backward));
	assert_int_equal(count_at(forward, "flow.providers.RAA.in_hospital"), 2);
	json_decref(forward);
	json_decref(backward);
	events_free(&ev);
}

/*
 * Spells discharged but never admitted (a feed that lost its A01s, every
 * patient in hospital at go-live) are listed in pending, sorted and once
 * each, whatever order they come in; the daemon's flow reading hands them
 * in key order. Listing 20,000 took half a minute, the event loop held by
 * the request (each one scanned the list from its start); now in moments.
 */
static void
test_flow_discharge_only_spells_list_in_time(void **state)
{
	enum { N = 20000 };
	struct picture *p = picture_new();
	struct figures fig;
	struct timespec t0, t1;
	json_t *list;
	char item[80];
	double seconds;

	(void)state;
	assert_non_null(p);
	picture_seal(p);
	assert_int_equal(figures_begin(&fig, p, AS_OF), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < N; i++) {
		snprintf(item, sizeof(item), "RAA/%064d", i);
		flow_note_discharge_only(&fig, "RAA", item + 4);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	/* Out of order and again: each in its place, once. */
	snprintf(item, sizeof(item), "%064d", 5);
	flow_note_discharge_only(&fig, "RAA", item);
	flow_note_discharge_only(&fig, "NV7", "ff");
	flow_note_discharge_only(&fig, "RZZ", "00");
	flow_note_discharge_only(&fig, "NV7", "ff");
	list = at_path(fig.root, "pending.discharge_only_spells");
	assert_int_equal(json_array_size(list), N + 2);
	assert_string_equal(json_string_value(json_array_get(list, 0)), "NV7/ff");
	assert_string_equal(json_string_value(json_array_get(list, N + 1)), "RZZ/00");
	for (size_t i = 1; i < json_array_size(list); i++)
		assert_true(strcmp(json_string_value(json_array_get(list, i - 1)),
				json_string_value(json_array_get(list, i))) < 0);
	if (seconds > 5.0)
		fail_msg("listing %d spells discharged but never admitted took %.1f s", N, seconds);
	json_decref(fig.root);
	picture_destroy(&p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_flow_cancel_transfer_puts_site_and_ward_back),
	    cmocka_unit_test(test_flow_cancel_transfer_undoes_only_the_latest_standing),
	    cmocka_unit_test(test_flow_cancel_admission_voids_the_spell),
	    cmocka_unit_test(test_flow_admission_after_cancel_admission_reopens_the_spell),
	    cmocka_unit_test(test_flow_cancel_admission_leaves_a_standing_discharge),
	    cmocka_unit_test(test_flow_cancel_discharge_reopens_the_spell),
	    cmocka_unit_test(test_flow_discharge_without_admission_counts_as_discharge_only),
	    cmocka_unit_test(test_flow_patient_classes_decide_what_counts),
	    cmocka_unit_test(test_flow_attendance_that_becomes_inpatient_is_an_admission),
	    cmocka_unit_test(test_flow_class_set_by_a_discharge_stands),
	    cmocka_unit_test(test_flow_per_site_figures_use_the_latest_site),
	    cmocka_unit_test(test_flow_admission_never_clears_a_standing_discharge),
	    cmocka_unit_test(test_flow_in_hospital_is_read_at_the_as_of),
	    cmocka_unit_test(test_flow_days_are_london_dates),
	    cmocka_unit_test(test_flow_provider_rolls_up_by_the_mapping_as_it_stands),
	    cmocka_unit_test(test_flow_same_events_in_any_order_give_the_same_figures),
	    cmocka_unit_test(test_flow_discharge_only_spells_list_in_time),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
