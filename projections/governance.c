/*
 * governance: conflict alerts on contract decisions and the register of
 * interests of each organisation's people (DOMAIN.md, Governance). Alerts
 * are a function of the set of events: a late declaration raises one, a
 * backdated withdrawal clears it. Closures without consultation are the
 * services area's, in the same section.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contract.h"
#include "dates.h"
#include "ids.h"
#include "projections.h"

#define GOVERNANCE_TYPE_PREFIX "INTEREST_TYPE_"

/* One declaration as its events leave it. */
struct declaration {
	const char *id;
	const Commissioning__InterestDeclared *declared; /* the last declaration stands */
	const char *to_date;				 /* "" when open-ended */
	bool dates_valid;
	int32_t from_day, to_day; /* to_day meaningful when to_date[0] */
};

struct governance {
	struct figures *fig;
	struct declaration *declarations; /* by declaration id */
	size_t n_declarations;
	struct declaration **by_person; /* by (person, declaration id) */
};

/* A declaration's to date is the latest withdrawal's, whenever the
 * declaration arrives; else its own. */
static void
declaration_fold(const struct thing *t, struct declaration *d)
{
	const Commissioning__InterestWithdrawn *withdrawal = NULL;

	*d = (struct declaration){ .id = t->part[0] };
	for (size_t i = 0; i < t->n_events; i++) {
		const Commissioning__Envelope *env = t->events[i];
		if (env->event_case == COMMISSIONING__ENVELOPE__EVENT_INTEREST_DECLARED)
			d->declared = env->interest_declared;
		else if (env->event_case == COMMISSIONING__ENVELOPE__EVENT_INTEREST_WITHDRAWN)
			withdrawal = env->interest_withdrawn;
	}
	if (d->declared == NULL)
		return;
	d->to_date = withdrawal != NULL ? withdrawal->to_date : d->declared->to_date;
	d->dates_valid = dates_parse_date(d->declared->from_date, &d->from_day) == 0 &&
	    (d->to_date[0] == '\0' || dates_parse_date(d->to_date, &d->to_day) == 0);
}

/* Current on day: from <= day and (no to date, or day <= to). */
static bool
declaration_current_on(const struct declaration *d, int32_t day)
{
	if (!d->dates_valid || day < d->from_day)
		return false;
	return d->to_date[0] == '\0' || day <= d->to_day;
}

/* A declaration naming a trust or independent provider covers its code plus
 * two characters; any other (a site included) covers that code only. */
static bool
declaration_covers(const struct declaration *d, const char *provider)
{
	const char *interest = d->declared->interest_in;

	return strcmp(interest, provider) == 0 || ids_is_site_of(provider, interest);
}

static int
declaration_person_cmp(const void *pa, const void *pb)
{
	const struct declaration *a = *(const struct declaration *const *)pa;
	const struct declaration *b = *(const struct declaration *const *)pb;
	int c = strcmp(a->declared->person, b->declared->person);

	return c != 0 ? c : strcmp(a->id, b->id);
}

/* The first index in by_person of person's declarations. */
static size_t
governance_person_first(const struct governance *g, const char *person)
{
	size_t lo = 0, hi = g->n_declarations;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(g->by_person[mid]->declared->person, person) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Fold every declaration; a withdrawal whose declaration has not come is
 * pending. Only declared ones are kept. */
static int
governance_load(struct governance *g)
{
	const struct picture *p = g->fig->picture;
	size_t n = picture_count(p, THING_DECLARATION);

	g->declarations = calloc(n ? n : 1, sizeof(*g->declarations));
	g->by_person = calloc(n ? n : 1, sizeof(*g->by_person));
	if (g->declarations == NULL || g->by_person == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct declaration *d = &g->declarations[g->n_declarations];
		declaration_fold(picture_thing(p, THING_DECLARATION, i), d);
		if (d->declared == NULL) {
			figures_add_pending(g->fig, "withdrawals_without_declaration", d->id);
			continue;
		}
		g->by_person[g->n_declarations++] = d;
	}
	qsort(g->by_person, g->n_declarations, sizeof(*g->by_person), declaration_person_cmp);
	return 0;
}

/* "INTEREST_TYPE_NON_FINANCIAL_PERSONAL" is shown as "non_financial_personal". */
static json_t *
governance_type_json(Commissioning__InterestType type)
{
	const ProtobufCEnumValue *v =
	    protobuf_c_enum_descriptor_get_value(&commissioning__interest_type__descriptor, (int)type);
	char name[64];
	size_t n = 0;

	if (v == NULL)
		return json_null();
	for (const char *s = v->name + sizeof(GOVERNANCE_TYPE_PREFIX) - 1; *s && n + 1 < sizeof(name);
	     s++)
		name[n++] = (char)(*s >= 'A' && *s <= 'Z' ? *s - 'A' + 'a' : *s);
	name[n] = '\0';
	return json_string(name);
}

static json_t *
text_or_null(const char *text)
{
	return text[0] != '\0' ? json_string(text) : json_null();
}

static json_t *
governance_register_entry(const struct governance *g, const struct declaration *d)
{
	const Commissioning__InterestDeclared *x = d->declared;
	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s}", "declaration_id", d->id, "person",
	    x->person, "organisation", x->organisation, "interest_in", x->interest_in, "from_date",
	    x->from_date);

	json_object_set_new(o, "role", text_or_null(x->role));
	json_object_set_new(o, "type", governance_type_json(x->type));
	json_object_set_new(o, "to_date", text_or_null(d->to_date));
	json_object_set_new(o, "current", json_boolean(declaration_current_on(d, g->fig->as_of_day)));
	return o;
}

/*
 * The register of each organisation lists every declaration of the people
 * who sit there (who declared as a member of it), current and past, by
 * declaration id: a person who sits in two organisations is on both.
 */
static void
governance_register(struct governance *g)
{
	json_t *reg = figures_object(g->fig->root, "governance", "register", NULL);

	for (size_t i = 0; i < g->n_declarations; i++) {
		const struct declaration *d = &g->declarations[i];
		size_t first = governance_person_first(g, d->declared->person);

		for (size_t k = first; k < g->n_declarations &&
		     strcmp(g->by_person[k]->declared->person, d->declared->person) == 0;
		     k++) {
			const char *org = g->by_person[k]->declared->organisation;
			bool seen = false;
			json_t *list;

			for (size_t j = first; j < k && !seen; j++)
				seen = strcmp(g->by_person[j]->declared->organisation, org) == 0;
			if (seen)
				continue;
			list = json_object_get(reg, org);
			if (list == NULL) {
				list = json_array();
				json_object_set_new(reg, org, list);
			}
			json_array_append_new(list, governance_register_entry(g, d));
		}
	}
}

static bool
list_has(char *const *list, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(list[i], s) == 0)
			return true;
	return false;
}

/* One contract decision: when, who took it, who stood aside. */
struct decision {
	const char *contract_id;
	const char *provider;
	const char *name; /* "award", "variation N" */
	const char *decided_on;
	char *const *makers;
	size_t n_makers;
	char *const *recused;
	size_t n_recused;
};

/* An alert for each (decision maker who did not recuse, declaration of
 * theirs current on the decision date whose interest covers the provider). */
static void
governance_alert_decision(struct governance *g, json_t *alerts, const struct decision *dec)
{
	int32_t day;

	if (dates_parse_date(dec->decided_on, &day) < 0)
		return;
	for (size_t m = 0; m < dec->n_makers; m++) {
		const char *maker = dec->makers[m];

		if (list_has(dec->makers, m, maker) || list_has(dec->recused, dec->n_recused, maker))
			continue; /* named twice, or stood aside */
		for (size_t k = governance_person_first(g, maker); k < g->n_declarations &&
		     strcmp(g->by_person[k]->declared->person, maker) == 0;
		     k++) {
			const struct declaration *d = g->by_person[k];
			if (!declaration_current_on(d, day) || !declaration_covers(d, dec->provider))
				continue;
			json_array_append_new(alerts,
			    json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "contract_id",
				dec->contract_id, "decision", dec->name, "decided_on", dec->decided_on,
				"decision_maker", maker, "declaration_id", d->id, "provider",
				dec->provider, "interest_in", d->declared->interest_in));
		}
	}
}

/* The award and every variation that stands are decisions on the contract's
 * provider (the award's). Before the award there is no provider: no alert. */
static void
governance_alerts(struct governance *g)
{
	const struct picture *p = g->fig->picture;
	json_t *gov = figures_object(g->fig->root, "governance", NULL);
	json_t *alerts = json_array();

	for (size_t i = 0; i < picture_count(p, THING_CONTRACT); i++) {
		const struct thing *t = picture_thing(p, THING_CONTRACT, i);
		struct contract c;
		struct decision dec;
		char name[40];

		if (contract_fold(t, &c) < 0) {
			g->fig->failed = true; /* its alerts would look cleared */
			continue;
		}
		if (c.award == NULL) {
			contract_release(&c);
			continue;
		}
		dec = (struct decision){ t->part[0], c.award->provider, "award", c.award->decided_on,
			c.award->decision_makers, c.award->n_decision_makers, c.award->recused,
			c.award->n_recused };
		governance_alert_decision(g, alerts, &dec);
		for (size_t k = 0; k < c.n_variations; k++) {
			const Commissioning__ContractVaried *v = c.variations[k];
			snprintf(name, sizeof(name), "variation %lld", (long long)v->variation_number);
			dec = (struct decision){ t->part[0], c.award->provider, name, v->decided_on,
				v->decision_makers, v->n_decision_makers, v->recused, v->n_recused };
			governance_alert_decision(g, alerts, &dec);
		}
		contract_release(&c);
	}
	json_object_set_new(gov, "conflict_alerts", alerts);
}

void
governance_figures(struct figures *fig)
{
	struct governance g = { .fig = fig };
	json_t *pending = json_object_get(fig->root, "pending");

	if (json_object_get(pending, "withdrawals_without_declaration") == NULL)
		json_object_set_new(pending, "withdrawals_without_declaration", json_array());
	figures_object(fig->root, "governance", "register", NULL);
	if (governance_load(&g) == 0) {
		governance_register(&g);
		governance_alerts(&g);
	} else {
		fig->failed = true;
	}
	free(g.declarations);
	free(g.by_person);
}
