/*
 * contract: one contract's events folded into the award, variations and
 * termination that stand, and its value over time as segments (DOMAIN.md,
 * Finance). Pure: reads the thing, allocates only the contract's arrays.
 */
#include <stdlib.h>

#include "contract.h"
#include "dates.h"

static int
variation_number_cmp(const void *pa, const void *pb)
{
	const Commissioning__ContractVaried *a = *(const Commissioning__ContractVaried *const *)pa;
	const Commissioning__ContractVaried *b = *(const Commissioning__ContractVaried *const *)pb;

	if (a->variation_number != b->variation_number)
		return a->variation_number < b->variation_number ? -1 : 1;
	return 0;
}

/* Keep v as the one that stands for its number: events come in event order,
 * so a later one of the same number is a correction and replaces it. */
static void
contract_keep_variation(struct contract *c, const Commissioning__ContractVaried *v)
{
	for (size_t i = 0; i < c->n_variations; i++) {
		if (c->variations[i]->variation_number == v->variation_number) {
			c->variations[i] = v;
			return;
		}
	}
	c->variations[c->n_variations++] = v;
}

/*
 * The award's value from its start date, replaced by each variation's value
 * from its effective date (number order; one effective before the start
 * applies from the start), ending at the end date or the last day of
 * service, whichever is earlier. Kept as change points (first day, value):
 * a variation drops every change point on or after its own.
 */
static int
contract_make_segments(struct contract *c)
{
	const Commissioning__ContractAwarded *a = c->award;
	int32_t start, end, last_day, effective;
	size_t n = 0;

	if (a == NULL || dates_parse_date(a->start_date, &start) < 0 ||
	    dates_parse_date(a->end_date, &end) < 0)
		return 0;
	if (c->termination != NULL &&
	    dates_parse_date(c->termination->last_day_of_service, &last_day) == 0 && last_day < end)
		end = last_day;
	if (end < start)
		return 0; /* terminated before it began: it never runs */
	c->segments = calloc(c->n_variations + 1, sizeof(*c->segments));
	if (c->segments == NULL)
		return -1;
	c->segments[n++] = (struct contract_segment){ start, end, a->annual_value };
	for (size_t i = 0; i < c->n_variations; i++) {
		const Commissioning__ContractVaried *v = c->variations[i];
		if (dates_parse_date(v->effective_date, &effective) < 0)
			continue;
		if (effective < start)
			effective = start;
		if (effective > end)
			continue; /* takes effect after the contract has ended */
		while (n > 0 && c->segments[n - 1].first_day >= effective)
			n--;
		c->segments[n++] = (struct contract_segment){ effective, end, v->new_annual_value };
	}
	for (size_t i = 0; i + 1 < n; i++)
		c->segments[i].last_day = c->segments[i + 1].first_day - 1;
	c->segments[n - 1].last_day = end;
	c->n_segments = n;
	return 0;
}

int
contract_fold(const struct thing *t, struct contract *c)
{
	*c = (struct contract){ .thing = t };
	c->variations = calloc(t->n_events ? t->n_events : 1, sizeof(*c->variations));
	if (c->variations == NULL)
		return -1;
	for (size_t i = 0; i < t->n_events; i++) {
		const Commissioning__Envelope *env = t->events[i];
		switch (env->event_case) {
		case COMMISSIONING__ENVELOPE__EVENT_CONTRACT_AWARDED:
			c->award = env->contract_awarded;
			break;
		case COMMISSIONING__ENVELOPE__EVENT_CONTRACT_VARIED:
			contract_keep_variation(c, env->contract_varied);
			break;
		case COMMISSIONING__ENVELOPE__EVENT_CONTRACT_TERMINATED:
			c->termination = env->contract_terminated;
			break;
		default:
			break;
		}
	}
	qsort(c->variations, c->n_variations, sizeof(*c->variations), variation_number_cmp);
	if (contract_make_segments(c) < 0) {
		contract_release(c);
		return -1;
	}
	return 0;
}

void
contract_release(struct contract *c)
{
	free(c->variations);
	free(c->segments);
	*c = (struct contract){ 0 };
}
