/*
 * finance: each commissioner's financial years (allocated, committed, spent,
 * variance) and each contract's segments (DOMAIN.md, Finance). Money is
 * whole pence in 64-bit integers; every sum is exact.
 */
#include <stdlib.h>
#include <string.h>

#include "contract.h"
#include "dates.h"
#include "projections.h"

#define FINANCE_POOL_PREFIX "BUDGET_POOL_"

/* value x days / days_in_year to the nearest penny, halves away from zero.
 * |value| <= 10^13 and days <= 366, so 2 x value x days fits in 64 bits. */
static int64_t
finance_pro_rata(int64_t annual_value_pence, int64_t days, int64_t days_in_year)
{
	int64_t num = annual_value_pence * days;
	int64_t mag = num < 0 ? -num : num;
	int64_t q = (2 * mag + days_in_year) / (2 * days_in_year);

	return num < 0 ? -q : q;
}

/* finance.commissioners.<code>.<year>, made on first use; the code is
 * listed under unmapped when its ICB is not known. */
static json_t *
finance_year(struct figures *fig, const char *commissioner, const char *year)
{
	if (picture_commissioner_icb(fig->picture, commissioner) == NULL)
		figures_add_unmapped(fig, commissioner);
	return figures_object(fig->root, "finance", "commissioners", commissioner, year, NULL);
}

static json_t *
finance_year_of_first(struct figures *fig, const char *commissioner, int first_year)
{
	char year[DATES_FINANCIAL_YEAR_BUFSIZE];

	if (dates_format_financial_year(first_year, year, sizeof(year)) < 0)
		return NULL;
	return finance_year(fig, commissioner, year);
}

static void
finance_ensure_pending(struct figures *fig, const char *list)
{
	json_t *pending = json_object_get(fig->root, "pending");

	if (json_object_get(pending, list) == NULL)
		json_object_set_new(pending, list, json_array());
}

/* Commit one segment to every financial year it touches: one rounded term
 * per (segment, year). */
static void
finance_commit_segment(struct figures *fig, const char *commissioner,
    const struct contract_segment *s)
{
	int last_year = dates_financial_year_of_day(s->last_day);

	for (int y = dates_financial_year_of_day(s->first_day); y <= last_year; y++) {
		int32_t year_first = dates_financial_year_first_day(y);
		int32_t year_last = dates_financial_year_last_day(y);
		int32_t first = s->first_day > year_first ? s->first_day : year_first;
		int32_t last = s->last_day < year_last ? s->last_day : year_last;
		json_t *year = finance_year_of_first(fig, commissioner, y);

		if (year == NULL || last < first)
			continue;
		figures_add_count(year, "committed",
		    finance_pro_rata(s->annual_value_pence, (int64_t)last - first + 1,
			(int64_t)year_last - year_first + 1));
	}
}

static json_t *
finance_segments_json(const struct contract *c)
{
	json_t *list = json_array();
	char first[DATES_DATE_BUFSIZE], last[DATES_DATE_BUFSIZE];

	for (size_t i = 0; i < c->n_segments; i++) {
		figures_date(c->segments[i].first_day, first);
		figures_date(c->segments[i].last_day, last);
		json_array_append_new(list, json_pack("{s:s, s:s, s:I}", "first", first, "last", last,
						"annual_value", (json_int_t)c->segments[i].annual_value_pence));
	}
	return list;
}

/* Commitments: the segments of every awarded contract. Variations and
 * terminations with no award yet are pending. */
static void
finance_contracts(struct figures *fig)
{
	const struct picture *p = fig->picture;
	json_t *contracts = figures_object(fig->root, "finance", "contracts", NULL);

	for (size_t i = 0; i < picture_count(p, THING_CONTRACT); i++) {
		const struct thing *t = picture_thing(p, THING_CONTRACT, i);
		struct contract c;
		json_t *o;

		if (contract_fold(t, &c) < 0) {
			fig->failed = true;
			continue;
		}
		if (c.award == NULL) {
			figures_add_pending(fig, "contracts_without_award", t->part[0]);
			contract_release(&c);
			continue;
		}
		if (picture_commissioner_icb(p, c.award->commissioner) == NULL)
			figures_add_unmapped(fig, c.award->commissioner);
		o = json_pack("{s:s, s:s}", "commissioner", c.award->commissioner, "provider",
		    c.award->provider);
		json_object_set_new(o, "segments", finance_segments_json(&c));
		json_object_set_new(contracts, t->part[0], o);
		for (size_t k = 0; k < c.n_segments; k++)
			finance_commit_segment(fig, c.award->commissioner, &c.segments[k]);
		contract_release(&c);
	}
}

/* "BUDGET_POOL_BETTER_CARE_FUND" is shown as "better_care_fund". */
static void
finance_pool_name(Commissioning__BudgetPool pool, char *out, size_t size)
{
	const ProtobufCEnumValue *v =
	    protobuf_c_enum_descriptor_get_value(&commissioning__budget_pool__descriptor, (int)pool);
	const char *name = v != NULL ? v->name + sizeof(FINANCE_POOL_PREFIX) - 1 : "unknown";
	size_t n = 0;

	for (; name[n] != '\0' && n + 1 < size; n++)
		out[n] = (char)(name[n] >= 'A' && name[n] <= 'Z' ? name[n] - 'A' + 'a' : name[n]);
	out[n] = '\0';
}

/* Allocated: the allocation that stands for each (commissioner, year, pool);
 * a Better Care Fund one counts whole for its holder, shares listed. */
static void
finance_budgets(struct figures *fig)
{
	const struct picture *p = fig->picture;

	for (size_t i = 0; i < picture_count(p, THING_BUDGET); i++) {
		const struct thing *t = picture_thing(p, THING_BUDGET, i);
		const Commissioning__BudgetAllocated *b;
		json_t *year, *pool, *contributors;
		char name[64];

		if (t->n_events == 0 || t->events[t->n_events - 1]->budget_allocated == NULL)
			continue;
		b = t->events[t->n_events - 1]->budget_allocated;
		year = finance_year(fig, b->commissioner, b->financial_year);
		figures_add_count(year, "allocated", b->amount);
		finance_pool_name(b->pool, name, sizeof(name));
		pool = figures_object(year, "pools", name, NULL);
		figures_add_count(pool, "allocated", b->amount);
		if (b->n_contributors == 0)
			continue;
		contributors = json_array();
		for (size_t k = 0; k < b->n_contributors; k++)
			json_array_append_new(contributors,
			    json_pack("{s:s, s:I}", "code", b->contributors[k]->code, "share",
				(json_int_t)b->contributors[k]->share));
		json_object_set_new(pool, "contributors", contributors);
	}
}

static bool
finance_contract_awarded(const struct picture *p, const char *contract_id)
{
	const struct thing *t = picture_find(p, THING_CONTRACT, contract_id, NULL);

	for (size_t i = 0; t != NULL && i < t->n_events; i++)
		if (t->events[i]->event_case == COMMISSIONING__ENVELOPE__EVENT_CONTRACT_AWARDED)
			return true;
	return false;
}

/* Spent: the spend that stands for each (contract, period), in the year its
 * period falls in, for the commissioner it names; it counts at once, and is
 * pending while its contract has no award. */
static void
finance_spend(struct figures *fig)
{
	const struct picture *p = fig->picture;

	for (size_t i = 0; i < picture_count(p, THING_SPEND); i++) {
		const struct thing *t = picture_thing(p, THING_SPEND, i);
		const Commissioning__SpendRecorded *s;
		json_t *year;
		int y, m;

		if (t->n_events == 0 || t->events[t->n_events - 1]->spend_recorded == NULL)
			continue;
		s = t->events[t->n_events - 1]->spend_recorded;
		if (!finance_contract_awarded(p, s->contract_id))
			figures_add_pending(fig, "spend_without_award", s->contract_id);
		if (dates_parse_period(s->period, &y, &m) < 0)
			continue;
		year = finance_year_of_first(fig, s->commissioner, m >= 4 ? y : y - 1);
		if (year != NULL)
			figures_add_count(year, "spent", s->amount);
	}
}

/* Every year shows all four figures and its pools. */
static void
finance_complete_years(struct figures *fig)
{
	json_t *commissioners = figures_object(fig->root, "finance", "commissioners", NULL);
	const char *code, *name;
	json_t *years, *year;

	json_object_foreach(commissioners, code, years) {
		json_object_foreach(years, name, year) {
			json_int_t allocated, committed;

			figures_add_count(year, "allocated", 0);
			figures_add_count(year, "committed", 0);
			figures_add_count(year, "spent", 0);
			figures_object(year, "pools", NULL);
			allocated = json_integer_value(json_object_get(year, "allocated"));
			committed = json_integer_value(json_object_get(year, "committed"));
			json_object_set_new(year, "variance", json_integer(allocated - committed));
		}
	}
}

void
finance_figures(struct figures *fig)
{
	figures_object(fig->root, "finance", "commissioners", NULL);
	finance_ensure_pending(fig, "contracts_without_award");
	finance_ensure_pending(fig, "spend_without_award");
	finance_contracts(fig);
	finance_budgets(fig);
	finance_spend(fig);
	finance_complete_years(fig);
}
