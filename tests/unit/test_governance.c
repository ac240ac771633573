/*
 * test_governance: conflict alerts and the register of interests of
 * DOMAIN.md (Governance; Edges, settled): decided_on, recusal, trusts
 * covering their sites, late declarations, backdated withdrawals, through
 * history_insert and the picture as the daemon builds them.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "projections.h"
#include "picture_fixture.h"

/* 2026-01-05T10:00Z, and the as-of 2026-10-01T00:00Z. */
#define WHEN_MS 1767607200000LL
#define AS_OF_MS 1790812800000LL
#define DAY_MS 86400000LL

#define ROLE(x) COMMISSIONING__ORG_ROLE__ORG_ROLE_##x
#define EVENT(x) COMMISSIONING__ENVELOPE__EVENT_##x

/* ------------------------------------------------------------ events */

/* A NULL-terminated list of staff ids. */
#define STAFF(...) ((const char *[]){ __VA_ARGS__, NULL })
#define NOBODY ((const char *[]){ NULL })

static size_t
staff_count(const char **list)
{
	size_t n = 0;

	while (list[n] != NULL)
		n++;
	return n;
}

static void
declaration(struct events *w, const char *id, const char *person, const char *organisation,
    const char *interest_in, const char *from, const char *to, int64_t at_ms)
{
	Commissioning__Envelope env = COMMISSIONING__ENVELOPE__INIT;
	Commissioning__InterestDeclared d = COMMISSIONING__INTEREST_DECLARED__INIT;

	d.declaration_id = (char *)id;
	d.person = (char *)person;
	d.role = (char *)"board member";
	d.organisation = (char *)organisation;
	d.type = COMMISSIONING__INTEREST_TYPE__INTEREST_TYPE_FINANCIAL;
	d.interest_in = (char *)interest_in;
	d.from_date = (char *)from;
	d.to_date = (char *)to;
	env.event_case = EVENT(INTEREST_DECLARED);
	env.interest_declared = &d;
	events_add(w, &env, "test", NULL, at_ms);
}

static void
withdrawal(struct events *w, const char *id, const char *to, int64_t at_ms)
{
	Commissioning__Envelope env = COMMISSIONING__ENVELOPE__INIT;
	Commissioning__InterestWithdrawn x = COMMISSIONING__INTEREST_WITHDRAWN__INIT;

	x.declaration_id = (char *)id;
	x.to_date = (char *)to;
	env.event_case = EVENT(INTEREST_WITHDRAWN);
	env.interest_withdrawn = &x;
	events_add(w, &env, "test", NULL, at_ms);
}

static void
award(struct events *w, const char *id, const char *provider, const char *decided_on,
    const char **makers, const char **recused, int64_t at_ms)
{
	Commissioning__Envelope env = COMMISSIONING__ENVELOPE__INIT;
	Commissioning__ContractAwarded a = COMMISSIONING__CONTRACT_AWARDED__INIT;

	a.contract_id = (char *)id;
	a.commissioner = (char *)"QNX";
	a.provider = (char *)provider;
	a.opt_annual_value_case = COMMISSIONING__CONTRACT_AWARDED__OPT_ANNUAL_VALUE_ANNUAL_VALUE;
	a.annual_value = 1000;
	a.start_date = (char *)"2026-07-01";
	a.end_date = (char *)"2027-06-30";
	a.decided_on = (char *)decided_on;
	a.n_decision_makers = staff_count(makers);
	a.decision_makers = (char **)makers;
	a.n_recused = staff_count(recused);
	a.recused = (char **)recused;
	env.event_case = EVENT(CONTRACT_AWARDED);
	env.contract_awarded = &a;
	events_add(w, &env, "test", NULL, at_ms);
}

static void
variation(struct events *w, const char *id, int64_t number, const char *decided_on,
    const char **makers, const char **recused, int64_t at_ms)
{
	Commissioning__Envelope env = COMMISSIONING__ENVELOPE__INIT;
	Commissioning__ContractVaried v = COMMISSIONING__CONTRACT_VARIED__INIT;

	v.contract_id = (char *)id;
	v.variation_number = number;
	v.opt_new_annual_value_case =
	    COMMISSIONING__CONTRACT_VARIED__OPT_NEW_ANNUAL_VALUE_NEW_ANNUAL_VALUE;
	v.new_annual_value = 1100;
	v.effective_date = (char *)"2026-10-01";
	v.decided_on = (char *)decided_on;
	v.n_decision_makers = staff_count(makers);
	v.decision_makers = (char **)makers;
	v.n_recused = staff_count(recused);
	v.recused = (char **)recused;
	env.event_case = EVENT(CONTRACT_VARIED);
	env.contract_varied = &v;
	events_add(w, &env, "test", NULL, at_ms);
}

static json_t *
governance_of(struct events *w)
{
	return figures_of(w, NULL, false, "governance", AS_OF_MS);
}

/* How many alerts match (contract, decision, maker, declaration). */
static size_t
alerts_matching(json_t *fig, const char *contract, const char *decision, const char *maker,
    const char *declaration_id)
{
	json_t *alerts = at_path(fig, "governance.conflict_alerts"), *a;
	size_t i, n = 0;

	assert_true(json_is_array(alerts));
	json_array_foreach(alerts, i, a) {
		if (strcmp(json_string_value(json_object_get(a, "contract_id")), contract) == 0 &&
		    strcmp(json_string_value(json_object_get(a, "decision")), decision) == 0 &&
		    strcmp(json_string_value(json_object_get(a, "decision_maker")), maker) == 0 &&
		    strcmp(json_string_value(json_object_get(a, "declaration_id")), declaration_id) == 0)
			n++;
	}
	return n;
}

static size_t
alert_count(json_t *fig)
{
	return json_array_size(at_path(fig, "governance.conflict_alerts"));
}

/* The register entry of declaration_id under organisation, or NULL. */
static json_t *
register_entry(json_t *fig, const char *organisation, const char *declaration_id)
{
	char path[128];
	json_t *list, *e;
	size_t i;

	snprintf(path, sizeof(path), "governance.register.%s", organisation);
	list = at_path(fig, path);
	json_array_foreach(list, i, e)
		if (strcmp(json_string_value(json_object_get(e, "declaration_id")), declaration_id) == 0)
			return e;
	return NULL;
}

static void
hierarchy(struct events *w)
{
	org(w, "test", NULL, WHEN_MS, "QNX", ROLE(ICB), "");
	org(w, "test", NULL, WHEN_MS, "RAA", ROLE(TRUST), "QNX");
	org(w, "test", NULL, WHEN_MS, "RAA01", ROLE(TRUST_SITE), "RAA");
}

/* ------------------------------------------------------------ the rules */

static void
an_alert_stands_for_a_declaration_current_on_the_decision_date(void **state)
{
	struct events w = { 0 };
	json_t *f;

	(void)state;
	hierarchy(&w);
	declaration(&w, "D1", "S1", "QNX", "RAA", "2026-01-01", "", WHEN_MS);
	award(&w, "C1", "RAA", "2026-06-15", STAFF("S1"), NOBODY, WHEN_MS + 100 * DAY_MS);
	f = governance_of(&w);
	assert_int_equal(alert_count(f), 1);
	assert_int_equal(alerts_matching(f, "C1", "award", "S1", "D1"), 1);
	assert_string_equal(
	    json_string_value(json_object_get(json_array_get(at_path(f, "governance.conflict_alerts"), 0),
		"decided_on")),
	    "2026-06-15");
	json_decref(f);
	events_free(&w);
}

static void
a_decision_maker_who_recused_raises_no_alert(void **state)
{
	struct events w = { 0 };
	json_t *f;

	(void)state;
	hierarchy(&w);
	declaration(&w, "D1", "S1", "QNX", "RAA", "2026-01-01", "", WHEN_MS);
	declaration(&w, "D2", "S2", "QNX", "RAA", "2026-01-01", "", WHEN_MS);
	award(&w, "C1", "RAA", "2026-06-15", STAFF("S1", "S2"), STAFF("S2"), WHEN_MS);
	f = governance_of(&w);
	assert_int_equal(alert_count(f), 1);
	assert_int_equal(alerts_matching(f, "C1", "award", "S1", "D1"), 1);
	json_decref(f);
	events_free(&w);
}

static void
a_declaration_naming_a_trust_covers_its_sites(void **state)
{
	struct events w = { 0 };
	json_t *f;

	(void)state;
	hierarchy(&w);
	declaration(&w, "D5", "S5", "QNX", "RAA", "2026-01-01", "", WHEN_MS);
	award(&w, "C5", "RAA01", "2026-06-20", STAFF("S5"), NOBODY, WHEN_MS);
	/* A site not registered still extends its trust's code. */
	award(&w, "C9", "RAA77", "2026-06-20", STAFF("S5"), NOBODY, WHEN_MS);
	/* RAB01 is not RAA's. */
	award(&w, "C10", "RAB01", "2026-06-20", STAFF("S5"), NOBODY, WHEN_MS);
	f = governance_of(&w);
	assert_int_equal(alert_count(f), 2);
	assert_int_equal(alerts_matching(f, "C5", "award", "S5", "D5"), 1);
	assert_int_equal(alerts_matching(f, "C9", "award", "S5", "D5"), 1);
	json_decref(f);
	events_free(&w);
}

static void
a_declaration_naming_an_independent_provider_covers_its_sites(void **state)
{
	struct events w = { 0 };
	json_t *f;

	(void)state;
	declaration(&w, "D1", "S1", "QNX", "NV7", "2026-01-01", "", WHEN_MS);
	award(&w, "K2", "NV701", "2026-05-10", STAFF("S1"), NOBODY, WHEN_MS);
	f = governance_of(&w);
	assert_int_equal(alerts_matching(f, "K2", "award", "S1", "D1"), 1);
	json_decref(f);
	events_free(&w);
}

static void
a_declaration_naming_a_site_covers_that_site_only(void **state)
{
	struct events w = { 0 };
	json_t *f;

	(void)state;
	hierarchy(&w);
	declaration(&w, "D6", "S6", "QNX", "RAA01", "2026-01-01", "", WHEN_MS);
	award(&w, "C6", "RAA", "2026-06-20", STAFF("S6"), NOBODY, WHEN_MS);
	award(&w, "C7", "RAA02", "2026-06-20", STAFF("S6"), NOBODY, WHEN_MS);
	award(&w, "C8", "RAA01", "2026-06-20", STAFF("S6"), NOBODY, WHEN_MS);
	f = governance_of(&w);
	assert_int_equal(alert_count(f), 1);
	assert_int_equal(alerts_matching(f, "C8", "award", "S6", "D6"), 1);
	json_decref(f);
	events_free(&w);
}

static void
a_declaration_naming_a_council_does_not_cover_its_care_homes(void **state)
{
	struct events w = { 0 };
	json_t *f;

	(void)state;
	org(&w, "test", NULL, WHEN_MS, "1-100000001", ROLE(CARE_HOME), "E10000011");
	declaration(&w, "D4", "S4", "QNX", "E10000011", "2026-01-01", "", WHEN_MS);
	award(&w, "C4", "1-100000001", "2026-06-20", STAFF("S4"), NOBODY, WHEN_MS);
	f = governance_of(&w);
	assert_int_equal(alert_count(f), 0);
	json_decref(f);
	events_free(&w);
}

static void
a_declaration_arriving_after_the_decision_raises_the_alert_then(void **state)
{
	struct events w = { 0 };
	json_t *f;

	(void)state;
	hierarchy(&w);
	award(&w, "C3", "RAA", "2026-06-20", STAFF("S3"), NOBODY, 1781949600000LL);
	f = governance_of(&w);
	assert_int_equal(alert_count(f), 0);
	json_decref(f);
	/* Declared in August, current from 1 February. */
	declaration(&w, "D3", "S3", "QNX", "RAA", "2026-02-01", "", 1785578400000LL);
	f = governance_of(&w);
	assert_int_equal(alerts_matching(f, "C3", "award", "S3", "D3"), 1);
	json_decref(f);
	events_free(&w);
}

static void
a_backdated_withdrawal_clears_the_alert(void **state)
{
	struct events w = { 0 };
	json_t *f;

	(void)state;
	hierarchy(&w);
	declaration(&w, "D1", "S1", "QNX", "RAA", "2026-01-01", "", WHEN_MS);
	award(&w, "C1", "RAA", "2026-06-15", STAFF("S1"), NOBODY, 1781517600000LL);
	f = governance_of(&w);
	assert_int_equal(alert_count(f), 1);
	json_decref(f);
	withdrawal(&w, "D1", "2026-05-31", 1788256800000LL);
	f = governance_of(&w);
	assert_int_equal(alert_count(f), 0);
	assert_string_equal(json_string_value(json_object_get(register_entry(f, "QNX", "D1"),
				"to_date")),
	    "2026-05-31");
	json_decref(f);
	events_free(&w);
}

static void
a_declaration_is_current_through_its_to_date_and_from_its_from_date(void **state)
{
	struct events w = { 0 };
	json_t *f;

	(void)state;
	org(&w, "test", NULL, WHEN_MS, "1-100000001", ROLE(CARE_HOME), "E10000011");
	hierarchy(&w);
	/* Ends on 16 June: a decision of 15 June alerts. */
	declaration(&w, "D7", "S7", "QNX", "1-100000001", "2026-01-01", "2026-06-16", WHEN_MS);
	award(&w, "C7", "1-100000001", "2026-06-15", STAFF("S7"), NOBODY, 1781949600000LL);
	/* Starts on 25 June: a decision of 20 June does not. */
	declaration(&w, "D8", "S8", "QNX", "RAA", "2026-06-25", "", 1782381600000LL);
	award(&w, "C8", "RAA", "2026-06-20", STAFF("S8"), NOBODY, 1782813600000LL);
	/* Ends on the decision day: still current. */
	declaration(&w, "D9", "S9", "QNX", "RAA", "2026-01-01", "2026-06-20", WHEN_MS);
	award(&w, "C9", "RAA", "2026-06-20", STAFF("S9"), NOBODY, WHEN_MS);
	f = governance_of(&w);
	assert_int_equal(alert_count(f), 2);
	assert_int_equal(alerts_matching(f, "C7", "award", "S7", "D7"), 1);
	assert_int_equal(alerts_matching(f, "C9", "award", "S9", "D9"), 1);
	json_decref(f);
	events_free(&w);
}

static void
a_variation_is_a_decision_with_its_own_date_and_makers(void **state)
{
	struct events w = { 0 };
	json_t *f;

	(void)state;
	hierarchy(&w);
	declaration(&w, "D3", "S3", "QNX", "RAA", "2026-02-01", "", WHEN_MS);
	declaration(&w, "D2", "S2", "QNX", "RAA", "2026-01-01", "", WHEN_MS);
	award(&w, "C3", "RAA", "2026-01-20", STAFF("S3"), NOBODY, WHEN_MS); /* before D3 */
	variation(&w, "C3", 1, "2026-09-15", STAFF("S3", "S2"), STAFF("S2"), WHEN_MS + DAY_MS);
	f = governance_of(&w);
	assert_int_equal(alert_count(f), 1);
	assert_int_equal(alerts_matching(f, "C3", "variation 1", "S3", "D3"), 1);
	json_decref(f);
	events_free(&w);
}

static void
a_variation_before_its_award_raises_no_alert_until_the_award(void **state)
{
	struct events w = { 0 };
	json_t *f;

	(void)state;
	hierarchy(&w);
	declaration(&w, "D3", "S3", "QNX", "RAA", "2026-01-01", "", WHEN_MS);
	variation(&w, "C3", 2, "2026-09-15", STAFF("S3"), NOBODY, WHEN_MS + DAY_MS);
	f = governance_of(&w);
	assert_int_equal(alert_count(f), 0);
	json_decref(f);
	award(&w, "C3", "RAA", "2026-06-20", STAFF("S4"), NOBODY, WHEN_MS + 2 * DAY_MS);
	f = governance_of(&w);
	assert_int_equal(alert_count(f), 1);
	assert_int_equal(alerts_matching(f, "C3", "variation 2", "S3", "D3"), 1);
	json_decref(f);
	events_free(&w);
}

static void
a_withdrawal_before_its_declaration_is_pending_then_applies(void **state)
{
	struct events w = { 0 };
	json_t *f, *e;

	(void)state;
	hierarchy(&w);
	withdrawal(&w, "D1", "2026-05-31", WHEN_MS);
	f = governance_of(&w);
	assert_int_equal(json_array_size(at_path(f, "pending.withdrawals_without_declaration")), 1);
	assert_null(at_path(f, "governance.register.QNX"));
	json_decref(f);
	/* The declaration happened later, yet the withdrawal still ends it. */
	declaration(&w, "D1", "S1", "QNX", "RAA", "2026-01-01", "", WHEN_MS + DAY_MS);
	award(&w, "C1", "RAA", "2026-06-15", STAFF("S1"), NOBODY, WHEN_MS);
	f = governance_of(&w);
	assert_int_equal(json_array_size(at_path(f, "pending.withdrawals_without_declaration")), 0);
	e = register_entry(f, "QNX", "D1");
	assert_non_null(e);
	assert_false(json_boolean_value(json_object_get(e, "current")));
	assert_int_equal(alert_count(f), 0);
	json_decref(f);
	events_free(&w);
}

static void
the_latest_withdrawal_sets_the_to_date(void **state)
{
	struct events w = { 0 };
	json_t *f;

	(void)state;
	declaration(&w, "D1", "S1", "QNX", "RAA", "2026-01-01", "2026-12-31", WHEN_MS);
	withdrawal(&w, "D1", "2026-03-31", WHEN_MS + 2 * DAY_MS);
	withdrawal(&w, "D1", "2026-11-30", WHEN_MS + DAY_MS);
	f = governance_of(&w);
	assert_string_equal(json_string_value(json_object_get(register_entry(f, "QNX", "D1"),
				"to_date")),
	    "2026-03-31");
	assert_false(json_boolean_value(json_object_get(register_entry(f, "QNX", "D1"), "current")));
	json_decref(f);
	events_free(&w);
}

static void
the_register_lists_every_declaration_current_on_the_as_of_or_not(void **state)
{
	struct events w = { 0 };
	json_t *f, *e;

	(void)state;
	declaration(&w, "D1", "S1", "QNX", "RAA", "2026-01-01", "2026-05-31", WHEN_MS);
	declaration(&w, "D2", "S2", "QNX", "RAA", "2026-01-01", "", WHEN_MS);
	declaration(&w, "D3", "S3", "QNX", "RAA", "2026-11-01", "", WHEN_MS); /* not yet */
	f = governance_of(&w);
	assert_int_equal(json_array_size(at_path(f, "governance.register.QNX")), 3);
	assert_false(json_boolean_value(json_object_get(register_entry(f, "QNX", "D1"), "current")));
	e = register_entry(f, "QNX", "D2");
	assert_true(json_boolean_value(json_object_get(e, "current")));
	assert_true(json_is_null(json_object_get(e, "to_date")));
	assert_string_equal(json_string_value(json_object_get(e, "person")), "S2");
	assert_string_equal(json_string_value(json_object_get(e, "type")), "financial");
	assert_false(json_boolean_value(json_object_get(register_entry(f, "QNX", "D3"), "current")));
	json_decref(f);
	events_free(&w);
}

static void
a_person_who_sits_in_two_organisations_is_on_both_registers(void **state)
{
	struct events w = { 0 };
	json_t *f;

	(void)state;
	declaration(&w, "D1", "S1", "QNX", "RAA", "2026-01-01", "", WHEN_MS);
	declaration(&w, "D2", "S1", "E10000011", "NV7", "2026-01-01", "", WHEN_MS);
	declaration(&w, "D3", "S2", "E10000011", "RAA", "2026-01-01", "", WHEN_MS);
	f = governance_of(&w);
	assert_int_equal(json_array_size(at_path(f, "governance.register.QNX")), 2);
	assert_non_null(register_entry(f, "QNX", "D2"));
	assert_int_equal(json_array_size(at_path(f, "governance.register.E10000011")), 3);
	json_decref(f);
	events_free(&w);
}

static void
governance_keeps_what_other_areas_put_in_its_section(void **state)
{
	struct events w = { 0 };
	struct histories h = { 0 };
	struct picture *p;
	struct figures fig = { .as_of_ms = AS_OF_MS };
	json_t *closures = json_array();

	(void)state;
	declaration(&w, "D1", "S1", "QNX", "RAA", "2026-01-01", "", WHEN_MS);
	histories_load(&h, &w, NULL);
	p = picture_of(&h, false);
	fig.picture = p;
	fig.root = json_pack("{s:[], s:{}}", "unmapped", "pending");
	json_object_set_new(figures_object(fig.root, "governance", NULL),
	    "closure_without_consultation", closures);
	json_array_append_new(closures, json_string("S1"));
	governance_figures(&fig);
	assert_ptr_equal(at_path(fig.root, "governance.closure_without_consultation"), closures);
	assert_int_equal(json_array_size(closures), 1);
	assert_non_null(at_path(fig.root, "governance.register.QNX"));
	json_decref(fig.root);
	picture_destroy(&p);
	histories_free(&h);
	events_free(&w);
}

static void
the_same_events_in_any_order_give_the_same_alerts_and_register(void **state)
{
	struct events a = { 0 }, b = { 0 };
	json_t *fa, *fb;
	char *ja, *jb;

	(void)state;
	hierarchy(&a);
	declaration(&a, "D1", "S1", "QNX", "RAA", "2026-01-01", "", WHEN_MS);
	declaration(&a, "D2", "S1", "QNX", "RAA01", "2026-01-01", "", WHEN_MS + 1);
	award(&a, "C1", "RAA01", "2026-06-15", STAFF("S1", "S2"), NOBODY, WHEN_MS + 2);
	variation(&a, "C1", 1, "2026-09-15", STAFF("S1"), NOBODY, WHEN_MS + 3);
	withdrawal(&a, "D2", "2026-07-01", WHEN_MS + 4);

	withdrawal(&b, "D2", "2026-07-01", WHEN_MS + 4);
	variation(&b, "C1", 1, "2026-09-15", STAFF("S1"), NOBODY, WHEN_MS + 3);
	award(&b, "C1", "RAA01", "2026-06-15", STAFF("S1", "S2"), NOBODY, WHEN_MS + 2);
	declaration(&b, "D2", "S1", "QNX", "RAA01", "2026-01-01", "", WHEN_MS + 1);
	declaration(&b, "D1", "S1", "QNX", "RAA", "2026-01-01", "", WHEN_MS);
	hierarchy(&b);

	fa = figures_of(&a, NULL, false, "governance", AS_OF_MS);
	fb = figures_of(&b, NULL, true, "governance", AS_OF_MS);
	assert_int_equal(alert_count(fa), 3); /* award: D1, D2; variation: D1 */
	ja = json_dumps(fa, JSON_SORT_KEYS);
	jb = json_dumps(fb, JSON_SORT_KEYS);
	assert_string_equal(ja, jb);
	free(ja);
	free(jb);
	json_decref(fa);
	json_decref(fb);
	events_free(&a);
	events_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(an_alert_stands_for_a_declaration_current_on_the_decision_date),
		cmocka_unit_test(a_decision_maker_who_recused_raises_no_alert),
		cmocka_unit_test(a_declaration_naming_a_trust_covers_its_sites),
		cmocka_unit_test(a_declaration_naming_an_independent_provider_covers_its_sites),
		cmocka_unit_test(a_declaration_naming_a_site_covers_that_site_only),
		cmocka_unit_test(a_declaration_naming_a_council_does_not_cover_its_care_homes),
		cmocka_unit_test(a_declaration_arriving_after_the_decision_raises_the_alert_then),
		cmocka_unit_test(a_backdated_withdrawal_clears_the_alert),
		cmocka_unit_test(a_declaration_is_current_through_its_to_date_and_from_its_from_date),
		cmocka_unit_test(a_variation_is_a_decision_with_its_own_date_and_makers),
		cmocka_unit_test(a_variation_before_its_award_raises_no_alert_until_the_award),
		cmocka_unit_test(a_withdrawal_before_its_declaration_is_pending_then_applies),
		cmocka_unit_test(the_latest_withdrawal_sets_the_to_date),
		cmocka_unit_test(the_register_lists_every_declaration_current_on_the_as_of_or_not),
		cmocka_unit_test(a_person_who_sits_in_two_organisations_is_on_both_registers),
		cmocka_unit_test(governance_keeps_what_other_areas_put_in_its_section),
		cmocka_unit_test(the_same_events_in_any_order_give_the_same_alerts_and_register),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
