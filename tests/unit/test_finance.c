/*
 * test_finance: the finance figures of DOMAIN.md (Finance): segments of a
 * contract's value, committed pro rata and rounded, allocations and the
 * Better Care Fund, spend, variance, pending and unmapped codes, through
 * history_insert and the picture as the daemon builds them.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "projections.h"
#include "picture_fixture.h"

#define nitems(a) (sizeof(a) / sizeof((a)[0]))

/* 2026-05-10T10:00Z and 2027-06-01T00:00Z. */
#define WHEN_MS 1778407200000LL
#define AS_OF_MS 1811808000000LL
#define MONEY_MAX 10000000000000LL

#define ROLE(x) COMMISSIONING__ORG_ROLE__ORG_ROLE_##x
#define EVENT(x) COMMISSIONING__ENVELOPE__EVENT_##x
#define POOL(x) COMMISSIONING__BUDGET_POOL__BUDGET_POOL_##x

/* ------------------------------------------------------------ reading figures */

static json_int_t
money(json_t *root, const char *path)
{
	json_t *v = at_path(root, path);

	if (!json_is_integer(v))
		fail_msg("%s: not an integer", path);
	return json_integer_value(v);
}

/* ------------------------------------------------------------ events */

static char *no_one[] = { NULL };
static char *maker_s9[] = { (char *)"S9" };

static void
award(struct events *w, const char *id, const char *commissioner, int64_t value, const char *start,
    const char *end, int64_t at_ms)
{
	Commissioning__Envelope env = COMMISSIONING__ENVELOPE__INIT;
	Commissioning__ContractAwarded a = COMMISSIONING__CONTRACT_AWARDED__INIT;

	a.contract_id = (char *)id;
	a.commissioner = (char *)commissioner;
	a.provider = (char *)"RAA";
	a.opt_annual_value_case = COMMISSIONING__CONTRACT_AWARDED__OPT_ANNUAL_VALUE_ANNUAL_VALUE;
	a.annual_value = value;
	a.start_date = (char *)start;
	a.end_date = (char *)end;
	a.decided_on = (char *)"2026-03-01";
	a.n_decision_makers = 1;
	a.decision_makers = maker_s9;
	a.recused = no_one;
	env.event_case = EVENT(CONTRACT_AWARDED);
	env.contract_awarded = &a;
	events_add(w, &env, "test", NULL, at_ms);
}

static void
variation(struct events *w, const char *event_id, const char *id, int64_t number, int64_t value,
    const char *effective, int64_t at_ms)
{
	Commissioning__Envelope env = COMMISSIONING__ENVELOPE__INIT;
	Commissioning__ContractVaried v = COMMISSIONING__CONTRACT_VARIED__INIT;

	v.contract_id = (char *)id;
	v.variation_number = number;
	v.opt_new_annual_value_case =
	    COMMISSIONING__CONTRACT_VARIED__OPT_NEW_ANNUAL_VALUE_NEW_ANNUAL_VALUE;
	v.new_annual_value = value;
	v.effective_date = (char *)effective;
	v.decided_on = (char *)"2026-08-28";
	v.n_decision_makers = 1;
	v.decision_makers = maker_s9;
	v.recused = no_one;
	env.event_case = EVENT(CONTRACT_VARIED);
	env.contract_varied = &v;
	events_add(w, &env, "test", event_id, at_ms);
}

static void
termination(struct events *w, const char *id, const char *last_day, int64_t at_ms)
{
	Commissioning__Envelope env = COMMISSIONING__ENVELOPE__INIT;
	Commissioning__ContractTerminated t = COMMISSIONING__CONTRACT_TERMINATED__INIT;

	t.contract_id = (char *)id;
	t.last_day_of_service = (char *)last_day;
	env.event_case = EVENT(CONTRACT_TERMINATED);
	env.contract_terminated = &t;
	events_add(w, &env, "test", NULL, at_ms);
}

/* A budget; contributors as code, share pairs ending with NULL. */
static void
budget(struct events *w, const char *commissioner, const char *year, Commissioning__BudgetPool pool,
    int64_t amount, int64_t at_ms, ...)
{
	Commissioning__Envelope env = COMMISSIONING__ENVELOPE__INIT;
	Commissioning__BudgetAllocated b = COMMISSIONING__BUDGET_ALLOCATED__INIT;
	Commissioning__BudgetContributor c[4], *cs[4];
	const char *code;
	va_list ap;

	b.commissioner = (char *)commissioner;
	b.financial_year = (char *)year;
	b.pool = pool;
	b.opt_amount_case = COMMISSIONING__BUDGET_ALLOCATED__OPT_AMOUNT_AMOUNT;
	b.amount = amount;
	va_start(ap, at_ms);
	while ((code = va_arg(ap, const char *)) != NULL && b.n_contributors < nitems(c)) {
		Commissioning__BudgetContributor *one = &c[b.n_contributors];
		commissioning__budget_contributor__init(one);
		one->code = (char *)code;
		one->opt_share_case = COMMISSIONING__BUDGET_CONTRIBUTOR__OPT_SHARE_SHARE;
		one->share = va_arg(ap, int64_t);
		cs[b.n_contributors++] = one;
	}
	va_end(ap);
	b.contributors = cs;
	env.event_case = EVENT(BUDGET_ALLOCATED);
	env.budget_allocated = &b;
	events_add(w, &env, "test", NULL, at_ms);
}

static void
spend(struct events *w, const char *commissioner, const char *contract, const char *period,
    int64_t amount, int64_t at_ms)
{
	Commissioning__Envelope env = COMMISSIONING__ENVELOPE__INIT;
	Commissioning__SpendRecorded s = COMMISSIONING__SPEND_RECORDED__INIT;

	s.commissioner = (char *)commissioner;
	s.contract_id = (char *)contract;
	s.period = (char *)period;
	s.opt_amount_case = COMMISSIONING__SPEND_RECORDED__OPT_AMOUNT_AMOUNT;
	s.amount = amount;
	env.event_case = EVENT(SPEND_RECORDED);
	env.spend_recorded = &s;
	events_add(w, &env, "test", NULL, at_ms);
}

/* QNX and the councils E10000011, E06000043 under it. */
static void
hierarchy(struct events *w)
{
	org(w, "test", NULL, WHEN_MS, "QNX", ROLE(ICB), "");
	org(w, "test", NULL, WHEN_MS, "E10000011", ROLE(LOCAL_AUTHORITY), "QNX");
	org(w, "test", NULL, WHEN_MS, "E06000043", ROLE(LOCAL_AUTHORITY), "QNX");
}

static json_t *
finance_of(struct events *w)
{
	return figures_of(w, NULL, false, "finance", AS_OF_MS);
}

/* ------------------------------------------------------------ the rules */

static void
committed_is_pro_rata_across_a_financial_year_boundary(void **state)
{
	struct events w = { 0 };
	json_t *f;

	(void)state;
	hierarchy(&w);
	/* 36,783 x 31/365 = 3,124.04; 36,783 x 1/366 = 100.5 (2027-28 holds
	 * 29 February 2028). */
	award(&w, "K1", "QNX", 36783, "2027-03-01", "2027-04-01", WHEN_MS);
	f = finance_of(&w);
	assert_int_equal(money(f, "finance.commissioners.QNX.2026-27.committed"), 3124);
	assert_int_equal(money(f, "finance.commissioners.QNX.2027-28.committed"), 101);
	json_decref(f);
	events_free(&w);
}

static void
committed_rounds_each_term_to_the_penny_halves_away_from_zero(void **state)
{
	struct events w = { 0 };
	json_t *f;

	(void)state;
	hierarchy(&w);
	award(&w, "K2", "E10000011", 183, "2027-04-01", "2027-04-01", WHEN_MS); /* 0.5 -> 1 */
	award(&w, "K7", "E06000043", 146, "2026-04-01", "2026-04-01", WHEN_MS); /* 0.4 -> 0 */
	f = finance_of(&w);
	assert_int_equal(money(f, "finance.commissioners.E10000011.2027-28.committed"), 1);
	assert_int_equal(money(f, "finance.commissioners.E06000043.2026-27.committed"), 0);
	json_decref(f);
	events_free(&w);
}

static void
committed_of_the_largest_annual_value_is_exact(void **state)
{
	struct events w = { 0 };
	json_t *f;

	(void)state;
	hierarchy(&w);
	award(&w, "K5", "QNX", MONEY_MAX, "2026-04-01", "2027-03-31", WHEN_MS);
	award(&w, "K8", "QNX", MONEY_MAX, "2027-04-01", "2027-04-30", WHEN_MS);
	f = finance_of(&w);
	assert_int_equal(money(f, "finance.commissioners.QNX.2026-27.committed"), MONEY_MAX);
	/* 10^13 x 30 / 366 = 819,672,131,147.54 */
	assert_int_equal(money(f, "finance.commissioners.QNX.2027-28.committed"), 819672131148LL);
	json_decref(f);
	events_free(&w);
}

static void
a_variation_replaces_the_value_from_its_effective_date(void **state)
{
	struct events w = { 0 };
	json_t *f, *segments;

	(void)state;
	hierarchy(&w);
	award(&w, "K3", "E06000043", 73000, "2026-04-01", "2027-03-31", WHEN_MS);
	variation(&w, NULL, "K3", 1, 146000, "2026-10-01", WHEN_MS + 1);
	f = finance_of(&w);
	/* 73,000 x 183/365 + 146,000 x 182/365 = 36,600 + 72,800 */
	assert_int_equal(money(f, "finance.commissioners.E06000043.2026-27.committed"), 109400);
	segments = at_path(f, "finance.contracts.K3.segments");
	assert_int_equal(json_array_size(segments), 2);
	assert_string_equal(json_string_value(at_path(json_array_get(segments, 0), "last")), "2026-09-30");
	assert_string_equal(json_string_value(at_path(json_array_get(segments, 1), "first")),
	    "2026-10-01");
	assert_int_equal(money(json_array_get(segments, 1), "annual_value"), 146000);
	json_decref(f);
	events_free(&w);
}

static void
variations_held_before_their_award_apply_and_the_last_of_one_number_stands(void **state)
{
	struct events w = { 0 };
	json_t *f, *segments;

	(void)state;
	hierarchy(&w);
	org(&w, "test", NULL, WHEN_MS, "09D", ROLE(SUB_ICB), "QNX");
	variation(&w, "E0011", "K9", 1, 146000, "2026-10-01", 1788256800000LL);
	variation(&w, "E0012", "K9", 1, 146000, "2026-10-01", 1788343200000LL);
	variation(&w, "E0013", "K9", 1, 219000, "2026-10-01", 1788429600000LL);
	variation(&w, "E0014", "K9", 1, 1, "2026-10-01", 1788170400000LL); /* happened first */
	f = finance_of(&w);
	assert_true(list_has_string(at_path(f, "pending.contracts_without_award"), "K9"));
	assert_null(at_path(f, "finance.contracts.K9"));
	json_decref(f);

	award(&w, "K9", "09D", 73000, "2026-04-01", "2027-03-31", 1789466400000LL);
	f = finance_of(&w);
	assert_int_equal(json_array_size(at_path(f, "pending.contracts_without_award")), 0);
	segments = at_path(f, "finance.contracts.K9.segments");
	assert_int_equal(json_array_size(segments), 2);
	assert_int_equal(money(json_array_get(segments, 1), "annual_value"), 219000);
	assert_int_equal(money(f, "finance.commissioners.09D.2026-27.committed"), 145800);
	json_decref(f);
	events_free(&w);
}

static void
a_variation_effective_before_the_start_applies_from_the_start(void **state)
{
	struct events w = { 0 };
	json_t *f, *segments;

	(void)state;
	hierarchy(&w);
	award(&w, "K1", "QNX", 36500, "2026-04-01", "2027-03-31", WHEN_MS);
	variation(&w, NULL, "K1", 1, 73000, "2026-01-01", WHEN_MS + 1);
	f = finance_of(&w);
	segments = at_path(f, "finance.contracts.K1.segments");
	assert_int_equal(json_array_size(segments), 1);
	assert_string_equal(json_string_value(at_path(json_array_get(segments, 0), "first")),
	    "2026-04-01");
	assert_int_equal(money(json_array_get(segments, 0), "annual_value"), 73000);
	assert_int_equal(money(f, "finance.commissioners.QNX.2026-27.committed"), 73000);
	json_decref(f);
	events_free(&w);
}

static void
variations_apply_in_number_order_not_date_order(void **state)
{
	struct events w = { 0 };
	json_t *f, *segments;

	(void)state;
	hierarchy(&w);
	award(&w, "K1", "QNX", 36500, "2026-04-01", "2027-03-31", WHEN_MS);
	/* Variation 2 takes effect before variation 1: from its date on, it
	 * replaces whatever came before, variation 1 included. */
	variation(&w, NULL, "K1", 2, 73000, "2026-07-01", WHEN_MS + 2);
	variation(&w, NULL, "K1", 1, 146000, "2026-10-01", WHEN_MS + 1);
	f = finance_of(&w);
	segments = at_path(f, "finance.contracts.K1.segments");
	assert_int_equal(json_array_size(segments), 2);
	assert_string_equal(json_string_value(at_path(json_array_get(segments, 1), "first")),
	    "2026-07-01");
	assert_string_equal(json_string_value(at_path(json_array_get(segments, 1), "last")),
	    "2027-03-31");
	assert_int_equal(money(json_array_get(segments, 1), "annual_value"), 73000);
	json_decref(f);
	events_free(&w);
}

static void
a_termination_ends_the_contract_at_its_last_day_of_service(void **state)
{
	struct events w = { 0 };
	json_t *f;

	(void)state;
	hierarchy(&w);
	award(&w, "K4", "QNX", 36500, "2026-04-01", "2028-03-31", WHEN_MS);
	termination(&w, "K4", "2026-04-10", WHEN_MS + 1);
	f = finance_of(&w);
	assert_int_equal(money(f, "finance.commissioners.QNX.2026-27.committed"), 1000);
	assert_null(at_path(f, "finance.commissioners.QNX.2027-28"));
	assert_string_equal(json_string_value(at_path(
				json_array_get(at_path(f, "finance.contracts.K4.segments"), 0), "last")),
	    "2026-04-10");
	json_decref(f);
	events_free(&w);
}

static void
a_termination_before_the_start_means_the_contract_never_runs(void **state)
{
	struct events w = { 0 };
	json_t *f;

	(void)state;
	hierarchy(&w);
	award(&w, "K4", "QNX", 36500, "2026-04-01", "2027-03-31", WHEN_MS);
	termination(&w, "K4", "2026-03-01", WHEN_MS + 1);
	f = finance_of(&w);
	assert_int_equal(json_array_size(at_path(f, "finance.contracts.K4.segments")), 0);
	assert_null(at_path(f, "finance.commissioners.QNX"));
	json_decref(f);
	events_free(&w);
}

static void
a_termination_before_its_award_is_pending_until_the_award(void **state)
{
	struct events w = { 0 };
	json_t *f;

	(void)state;
	hierarchy(&w);
	termination(&w, "K4", "2026-04-10", WHEN_MS);
	f = finance_of(&w);
	assert_true(list_has_string(at_path(f, "pending.contracts_without_award"), "K4"));
	json_decref(f);
	award(&w, "K4", "QNX", 36500, "2026-04-01", "2028-03-31", WHEN_MS + 1);
	f = finance_of(&w);
	assert_int_equal(json_array_size(at_path(f, "pending.contracts_without_award")), 0);
	assert_int_equal(money(f, "finance.commissioners.QNX.2026-27.committed"), 1000);
	json_decref(f);
	events_free(&w);
}

static void
allocated_is_the_last_allocation_of_each_pool_and_lists_bcf_contributors(void **state)
{
	struct events w = { 0 };
	json_t *f, *contributors;

	(void)state;
	hierarchy(&w);
	budget(&w, "QNX", "2026-27", POOL(CORE), 10000, 1772355600000LL, NULL);
	budget(&w, "QNX", "2026-27", POOL(CORE), 20000, 1777626000000LL, NULL);
	budget(&w, "QNX", "2026-27", POOL(BETTER_CARE_FUND), 5000, 1772442000000LL, "QNX",
	    (int64_t)3000, "E10000011", (int64_t)2000, NULL);
	f = finance_of(&w);
	assert_int_equal(money(f, "finance.commissioners.QNX.2026-27.allocated"), 25000);
	contributors = at_path(f, "finance.commissioners.QNX.2026-27.pools.better_care_fund.contributors");
	assert_int_equal(json_array_size(contributors), 2);
	assert_string_equal(json_string_value(at_path(json_array_get(contributors, 1), "code")),
	    "E10000011");
	assert_int_equal(money(json_array_get(contributors, 1), "share"), 2000);
	/* Nothing committed: all of it is left. */
	assert_int_equal(money(f, "finance.commissioners.QNX.2026-27.variance"), 25000);
	json_decref(f);
	events_free(&w);
}

static void
spent_is_the_last_spend_per_contract_and_month_in_the_year_of_the_month(void **state)
{
	struct events w = { 0 };
	json_t *f;

	(void)state;
	hierarchy(&w);
	award(&w, "K1", "QNX", 36783, "2027-03-01", "2027-04-01", WHEN_MS);
	spend(&w, "QNX", "K1", "2027-03", 500, 1806915600000LL);
	spend(&w, "QNX", "K1", "2027-03", 600, 1808643600000LL); /* revised */
	spend(&w, "QNX", "K1", "2027-02", -40, 1804237200000LL); /* a credit */
	spend(&w, "QNX", "K1", "2027-04", 50, 1809507600000LL);	 /* next year */
	f = finance_of(&w);
	assert_int_equal(money(f, "finance.commissioners.QNX.2026-27.spent"), 560);
	assert_int_equal(money(f, "finance.commissioners.QNX.2027-28.spent"), 50);
	assert_int_equal(json_array_size(at_path(f, "pending.spend_without_award")), 0);
	json_decref(f);
	events_free(&w);
}

static void
spend_without_award_counts_at_once_and_is_pending(void **state)
{
	struct events w = { 0 };
	json_t *f;

	(void)state;
	hierarchy(&w);
	spend(&w, "QNX", "KX", "2026-05", 7, WHEN_MS);
	f = finance_of(&w);
	assert_int_equal(money(f, "finance.commissioners.QNX.2026-27.spent"), 7);
	assert_true(list_has_string(at_path(f, "pending.spend_without_award"), "KX"));
	json_decref(f);
	events_free(&w);
}

static void
variance_is_allocated_minus_committed_with_spent_beside_it(void **state)
{
	struct events w = { 0 };
	json_t *f;

	(void)state;
	hierarchy(&w);
	award(&w, "K1", "QNX", 36783, "2027-03-01", "2027-04-01", WHEN_MS);
	budget(&w, "QNX", "2026-27", POOL(CORE), 20000, WHEN_MS, NULL);
	spend(&w, "QNX", "K1", "2027-04", 50, WHEN_MS);
	f = finance_of(&w);
	assert_int_equal(money(f, "finance.commissioners.QNX.2026-27.variance"), 20000 - 3124);
	/* A year with no allocation is over-committed by all it commits. */
	assert_int_equal(money(f, "finance.commissioners.QNX.2027-28.allocated"), 0);
	assert_int_equal(money(f, "finance.commissioners.QNX.2027-28.variance"), -101);
	assert_int_equal(money(f, "finance.commissioners.QNX.2027-28.spent"), 50);
	json_decref(f);
	events_free(&w);
}

static void
a_commissioner_with_no_known_icb_is_unmapped_until_registered(void **state)
{
	struct events w = { 0 };
	json_t *f;

	(void)state;
	budget(&w, "X2C4Y", "2026-27", POOL(CORE), 100, WHEN_MS, NULL);
	f = finance_of(&w);
	assert_true(list_has_string(at_path(f, "unmapped"), "X2C4Y"));
	assert_int_equal(money(f, "finance.commissioners.X2C4Y.2026-27.allocated"), 100);
	json_decref(f);
	org(&w, "test", NULL, WHEN_MS, "QNX", ROLE(ICB), "");
	org(&w, "test", NULL, WHEN_MS + 1, "X2C4Y", ROLE(SUB_ICB), "QNX");
	f = finance_of(&w);
	assert_false(list_has_string(at_path(f, "unmapped"), "X2C4Y"));
	json_decref(f);
	events_free(&w);
}

static void
the_same_events_in_any_order_give_the_same_figures(void **state)
{
	struct events a = { 0 }, b = { 0 };
	json_t *fa, *fb, *fc;
	char *ja, *jb, *jc;

	(void)state;
	hierarchy(&a);
	award(&a, "K3", "E06000043", 73000, "2026-04-01", "2027-03-31", WHEN_MS);
	variation(&a, "V1", "K3", 1, 146000, "2026-10-01", WHEN_MS + 5);
	termination(&a, "K3", "2027-01-31", WHEN_MS + 9);
	spend(&a, "E06000043", "K3", "2026-06", 900, WHEN_MS + 3);
	budget(&a, "E06000043", "2026-27", POOL(CORE), 5000, WHEN_MS + 1, NULL);

	/* Another arrival order (event ids are fresh per arrival; the
	 * occurred_at times order them). */
	budget(&b, "E06000043", "2026-27", POOL(CORE), 5000, WHEN_MS + 1, NULL);
	termination(&b, "K3", "2027-01-31", WHEN_MS + 9);
	spend(&b, "E06000043", "K3", "2026-06", 900, WHEN_MS + 3);
	variation(&b, "V1", "K3", 1, 146000, "2026-10-01", WHEN_MS + 5);
	award(&b, "K3", "E06000043", 73000, "2026-04-01", "2027-03-31", WHEN_MS);
	hierarchy(&b);

	fa = figures_of(&a, NULL, false, "finance", AS_OF_MS);
	fb = figures_of(&b, NULL, true, "finance", AS_OF_MS);
	fc = figures_of(&a, NULL, false, "finance", WHEN_MS); /* the as-of moves no money */
	ja = json_dumps(fa, JSON_SORT_KEYS);
	jb = json_dumps(fb, JSON_SORT_KEYS);
	jc = json_dumps(fc, JSON_SORT_KEYS);
	assert_string_equal(ja, jb);
	assert_string_equal(ja, jc);
	free(ja);
	free(jb);
	free(jc);
	json_decref(fa);
	json_decref(fb);
	json_decref(fc);
	events_free(&a);
	events_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(committed_is_pro_rata_across_a_financial_year_boundary),
		cmocka_unit_test(committed_rounds_each_term_to_the_penny_halves_away_from_zero),
		cmocka_unit_test(committed_of_the_largest_annual_value_is_exact),
		cmocka_unit_test(a_variation_replaces_the_value_from_its_effective_date),
		cmocka_unit_test(
		    variations_held_before_their_award_apply_and_the_last_of_one_number_stands),
		cmocka_unit_test(a_variation_effective_before_the_start_applies_from_the_start),
		cmocka_unit_test(variations_apply_in_number_order_not_date_order),
		cmocka_unit_test(a_termination_ends_the_contract_at_its_last_day_of_service),
		cmocka_unit_test(a_termination_before_the_start_means_the_contract_never_runs),
		cmocka_unit_test(a_termination_before_its_award_is_pending_until_the_award),
		cmocka_unit_test(
		    allocated_is_the_last_allocation_of_each_pool_and_lists_bcf_contributors),
		cmocka_unit_test(spent_is_the_last_spend_per_contract_and_month_in_the_year_of_the_month),
		cmocka_unit_test(spend_without_award_counts_at_once_and_is_pending),
		cmocka_unit_test(variance_is_allocated_minus_committed_with_spent_beside_it),
		cmocka_unit_test(a_commissioner_with_no_known_icb_is_unmapped_until_registered),
		cmocka_unit_test(the_same_events_in_any_order_give_the_same_figures),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
