/*
 * flow: patients in hospital at the as-of, and admissions, discharges and
 * attendances per Europe/London day, per provider, site, ward and ICB
 * (DOMAIN.md, Flow). Every per-site figure uses the spell's latest site and
 * ward; every roll-up uses the hierarchy as it stands.
 */
#include <stdio.h>
#include <stdlib.h>

#include "dates.h"
#include "spell.h"

#define FLOW_UNMAPPED "unmapped" /* the ICB roll-up of a provider with no known ICB */

static void
flow_tally_add(struct flow_tally *tally, enum flow_count count, int64_t at_ms)
{
	tally->counts[tally->n_counts].count = count;
	tally->counts[tally->n_counts].day = dates_london_day_of_ms(at_ms);
	tally->n_counts++;
}

/*
 * Inpatient spells count their admission, their discharge (one with no
 * admission on record counts as a discharge only) and whether they are in
 * at the as-of; attendances count on their admission date; other classes
 * and void spells count nowhere.
 */
struct flow_tally
flow_tally_of(const struct spell *spell, int64_t as_of_ms)
{
	struct flow_tally tally = {0};

	if (spell->is_void)
		return tally;
	tally.listed = spell_is_inpatient(spell) || spell_is_attendance(spell);
	if (spell_is_inpatient(spell)) {
		if (spell->admitted)
			flow_tally_add(&tally, FLOW_ADMISSIONS, spell->admitted_at_ms);
		if (spell->discharged)
			flow_tally_add(&tally, FLOW_DISCHARGES, spell->discharged_at_ms);
		tally.in_hospital = spell_in_hospital_at(spell, as_of_ms);
	} else if (spell_is_attendance(spell) && spell->admitted) {
		flow_tally_add(&tally, FLOW_ATTENDANCES, spell->admitted_at_ms);
	}
	return tally;
}

const char *const flow_count_names[FLOW_N_COUNTS] = {
	[FLOW_ADMISSIONS] = "admissions",
	[FLOW_DISCHARGES] = "discharges",
	[FLOW_ATTENDANCES] = "attendances",
};

/* A place's figures start at zero, so every place listed has them all. */
json_t *
flow_place(json_t *parent, const char *key)
{
	json_t *place = json_object_get(parent, key);

	if (place != NULL)
		return place;
	place = json_pack("{s:i, s:{}}", "in_hospital", 0, "days");
	json_object_set_new(parent, key, place);
	return place;
}

static void
flow_place_count(json_t *place, const struct flow_tally *tally)
{
	char date[DATES_DATE_BUFSIZE];

	if (tally->in_hospital)
		figures_add_count(place, "in_hospital", 1);
	for (size_t i = 0; i < tally->n_counts; i++) {
		figures_date(tally->counts[i].day, date);
		figures_add_count(figures_object(place, "days", date, NULL),
		    flow_count_names[tally->counts[i].count], 1);
	}
}

/* Where provider rolls up: its ICB, or unmapped (and listed there). */
const char *
flow_icb_of(struct figures *fig, const char *provider)
{
	const char *icb = picture_icb_of(fig->picture, provider);

	if (icb != NULL)
		return icb;
	figures_add_unmapped(fig, provider);
	return FLOW_UNMAPPED;
}

/* The provider's entry, created on first use. */
json_t *
flow_provider(json_t *providers, const char *provider, const char *icb)
{
	json_t *place = json_object_get(providers, provider);

	if (place != NULL)
		return place;
	place = flow_place(providers, provider);
	json_object_set_new(place, "icb", json_string(icb));
	json_object_set_new(place, "sites", json_object());
	return place;
}

json_t *
flow_site(json_t *provider, const char *code)
{
	json_t *sites = json_object_get(provider, "sites");
	json_t *site = json_object_get(sites, code);

	if (site == NULL) {
		site = flow_place(sites, code);
		json_object_set_new(site, "wards", json_object());
	}
	return site;
}

/* The spell's latest site and ward: every per-site figure uses them. */
static void
flow_site_count(json_t *provider, const struct spell *spell, const struct flow_tally *tally)
{
	json_t *site;

	if (spell->site[0] == '\0')
		return;
	site = flow_site(provider, spell->site);
	flow_place_count(site, tally);
	if (tally->in_hospital && spell->ward[0] != '\0')
		figures_add_count(json_object_get(site, "wards"), spell->ward, 1);
}

bool
flow_is_discharge_only(const struct spell *spell)
{
	return !spell->admitted && spell->discharged;
}

void
flow_note_discharge_only(struct figures *fig, const char *provider, const char *spell_hex)
{
	char item[THING_KEY_MAX + 2];

	if (snprintf(item, sizeof(item), "%s/%s", provider, spell_hex) >= (int)sizeof(item))
		return; /* cannot happen: the key fits THING_KEY_MAX */
	figures_add_pending(fig, "discharge_only_spells", item);
}

/* Every provider used in ADT is checked for its ICB; only the spells that
 * can count (inpatient or attendance, not void) list their places. */
void
flow_figures_add_spell(struct figures *fig, const struct spell *spell)
{
	json_t *flow = figures_object(fig->root, "flow", NULL);
	struct flow_tally tally = flow_tally_of(spell, fig->as_of_ms);
	const char *icb = flow_icb_of(fig, spell->provider);
	json_t *provider;

	if (flow_is_discharge_only(spell))
		flow_note_discharge_only(fig, spell->provider, spell->spell_hex);
	if (!tally.listed)
		return;
	provider = flow_provider(json_object_get(flow, "providers"), spell->provider, icb);
	flow_place_count(provider, &tally);
	flow_place_count(flow_place(json_object_get(flow, "icbs"), icb), &tally);
	flow_site_count(provider, spell, &tally);
}

void
flow_figures_begin(struct figures *fig)
{
	figures_object(fig->root, "flow", "providers", NULL);
	figures_object(fig->root, "flow", "icbs", NULL);
}

void
flow_figures(struct figures *fig)
{
	size_t n;
	struct spell *spells = spell_fold_all(fig->picture, &n);

	if (spells == NULL)
		fig->failed = true;
	flow_figures_begin(fig);
	for (size_t i = 0; i < n; i++)
		flow_figures_add_spell(fig, &spells[i]);
	free(spells);
}
