/*
 * discharges: delayed-discharge cases and the social-care wait, with their
 * roll-ups per ICB and per council (DOMAIN.md, Delayed discharges; Edges,
 * settled). A case is one (patient, provider) and one inpatient discharge;
 * its ready reports, the person's spells and packages are all folded when
 * read, for the as-of.
 */
#include <stdlib.h>
#include <string.h>

#include "dates.h"
#include "discharges.h"
#include "jtext.h"

#define DISCHARGES_UNMAPPED "unmapped" /* the ICB of a provider not known */

/* The keys of the roll-ups by pathway, 0-3. */
static const char *const discharges_pathway_key[DISCHARGES_PATHWAY_MAX + 1] = {"0", "1", "2", "3"};

/* ------------------------------------------------------------ the world */

static int
discharges_spell_cmp(const void *pa, const void *pb)
{
	const struct spell *a = *(const struct spell *const *)pa;
	const struct spell *b = *(const struct spell *const *)pb;
	int c;

	if ((c = strcmp(a->provider, b->provider)) != 0)
		return c;
	if ((c = strcmp(a->patient, b->patient)) != 0)
		return c;
	if (a->discharged_at_ms != b->discharged_at_ms)
		return a->discharged_at_ms < b->discharged_at_ms ? -1 : 1;
	return strcmp(a->spell_hex, b->spell_hex);
}

/* A person's packages by start date; ties by council, then package id. */
static int
discharges_package_cmp(const void *pa, const void *pb)
{
	const struct discharges_package *a = pa, *b = pb;
	int c;

	if ((c = strcmp(a->patient, b->patient)) != 0)
		return c;
	if (a->start_day != b->start_day)
		return a->start_day < b->start_day ? -1 : 1;
	if ((c = strcmp(a->council, b->council)) != 0)
		return c;
	return strcmp(a->package_id, b->package_id);
}

/* Only inpatient discharges close cases; the spell's patient is the one its
 * latest event names. */
static int
discharges_index_spells(struct discharges_world *world, const struct spell *spells, size_t n)
{
	world->discharges = calloc(n ? n : 1, sizeof(*world->discharges));
	if (world->discharges == NULL)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (spell_has_inpatient_discharge(&spells[i]) && spells[i].patient[0] != '\0')
			world->discharges[world->n_discharges++] = &spells[i];
	return 0;
}

/* The last "started" of a package gives its start date (a package never
 * started has none and ends no wait); its patient is the one its latest
 * event names. */
bool
discharges_package_of(const struct thing *t, struct discharges_package *package)
{
	const Commissioning__CarePackage *started = NULL;

	package->patient[0] = '\0';
	for (size_t i = 0; i < t->n_events; i++) {
		/* Started and ended share one message, in the same union slot. */
		Commissioning__Envelope__EventCase kind = t->events[i]->event_case;
		const Commissioning__CarePackage *p = t->events[i]->care_package_started;
		if (kind != COMMISSIONING__ENVELOPE__EVENT_CARE_PACKAGE_STARTED &&
		    kind != COMMISSIONING__ENVELOPE__EVENT_CARE_PACKAGE_ENDED)
			continue;
		if (p->patient_pseudonym.len > 0)
			pseudonym_hex(&p->patient_pseudonym, package->patient);
		if (kind == COMMISSIONING__ENVELOPE__EVENT_CARE_PACKAGE_STARTED)
			started = p;
	}
	if (started == NULL || package->patient[0] == '\0' ||
	    dates_parse_date(started->start_date, &package->start_day) < 0)
		return false;
	package->council = t->part[0];
	package->package_id = t->part[1];
	package->start_date = started->start_date;
	return true;
}

static int
discharges_index_packages(struct discharges_world *world, const struct picture *picture)
{
	size_t n = picture_count(picture, THING_PACKAGE);

	world->packages = calloc(n ? n : 1, sizeof(*world->packages));
	if (world->packages == NULL)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (discharges_package_of(picture_thing(picture, THING_PACKAGE, i),
		        &world->packages[world->n_packages]))
			world->n_packages++;
	return 0;
}

void
discharges_world_sort(struct discharges_world *world)
{
	if (world->n_discharges > 1)
		qsort(world->discharges, world->n_discharges, sizeof(*world->discharges),
		    discharges_spell_cmp);
	if (world->n_packages > 1)
		qsort(world->packages, world->n_packages, sizeof(*world->packages),
		    discharges_package_cmp);
}

/* The person's inpatient discharges at provider, in time order. */
static const struct spell *const *
discharges_of(
    const struct discharges_world *world, const char *provider, const char *patient, size_t *n)
{
	size_t lo = 0, hi = world->n_discharges, end;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct spell *s = world->discharges[mid];
		int c = strcmp(s->provider, provider);
		if (c == 0)
			c = strcmp(s->patient, patient);
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (end = lo; end < world->n_discharges; end++)
		if (strcmp(world->discharges[end]->provider, provider) != 0 ||
		    strcmp(world->discharges[end]->patient, patient) != 0)
			break;
	*n = end - lo;
	return world->discharges + lo;
}

/* The person's first package starting on or after from_day, or NULL. */
static const struct discharges_package *
discharges_first_package(
    const struct discharges_world *world, const char *patient, int32_t from_day)
{
	size_t lo = 0, hi = world->n_packages;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct discharges_package *p = &world->packages[mid];
		int c = strcmp(p->patient, patient);
		if (c == 0)
			c = p->start_day < from_day ? -1 : 0;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < world->n_packages && strcmp(world->packages[lo].patient, patient) == 0)
		return &world->packages[lo];
	return NULL;
}

/* ------------------------------------------------------------ cases */

static int32_t
discharges_days_between(int32_t from_day, int32_t to_day)
{
	/* A day count is never below 0 (Edges, settled). */
	return to_day > from_day ? to_day - from_day : 0;
}

/* Put one ready report into its case: ready date the earliest, pathway the
 * latest report's, council the latest report's that names one. Reports come
 * in fold order, so "latest" is simply the last seen. */
static void
discharges_case_take_report(
    struct discharges_case *c, const Commissioning__ReadyForDischarge *r, int32_t ready_day)
{
	if (c->n_reports == 0 || ready_day < c->ready_day)
		c->ready_day = ready_day;
	if (r->opt_pathway_case == COMMISSIONING__READY_FOR_DISCHARGE__OPT_PATHWAY_PATHWAY) {
		c->has_pathway = true;
		c->pathway = r->pathway;
	}
	if (r->council[0] != '\0')
		c->council = r->council;
	c->n_reports++;
}

/* Which case a report with this ready date belongs to: the one closed by
 * the first discharge on or after it, else the open one (index n). */
static size_t
discharges_case_index(const struct spell *const *discharges, size_t n, int32_t ready_day)
{
	for (size_t i = 0; i < n; i++)
		if (dates_london_day_of_ms(discharges[i]->discharged_at_ms) >= ready_day)
			return i;
	return n;
}

/*
 * The social-care wait of pathways 1-3: it ends at the first package of the
 * person starting on or after the ready date if that starts on or before
 * the discharge date (for an open case, by the as-of date), else at the
 * discharge; an open case with no such package is still waiting.
 */
static void
discharges_case_social_care(
    struct discharges_case *c, const struct discharges_world *world, int32_t as_of_day)
{
	const struct discharges_package *first;
	int32_t limit_day = c->closed ? c->discharge_day : as_of_day, end_day;

	c->has_social_care_wait =
	    c->has_pathway && c->pathway >= 1 && c->pathway <= DISCHARGES_PATHWAY_MAX;
	if (!c->has_social_care_wait)
		return;
	first = discharges_first_package(world, c->patient, c->ready_day);
	if (first != NULL && first->start_day > limit_day && !c->closed &&
	    first->start_day < c->changes_on_day)
		c->changes_on_day = first->start_day; /* its start will end the wait */
	if (first != NULL && first->start_day <= limit_day) {
		c->package = first;
		c->wait_ended_by = "package";
		end_day = first->start_day;
	} else if (c->closed) {
		c->wait_ended_by = "discharge";
		end_day = c->discharge_day;
	} else {
		c->waiting_on_social_care = true;
		end_day = as_of_day;
	}
	c->days_waiting = discharges_days_between(c->ready_day, end_day);
}

static void
discharges_case_settle(
    struct discharges_case *c, const struct discharges_world *world, int32_t as_of_day)
{
	c->changes_on_day = INT32_MAX;
	if (!c->closed && c->ready_day > as_of_day)
		c->changes_on_day = c->ready_day; /* its days delayed start counting */
	c->days_delayed =
	    discharges_days_between(c->ready_day, c->closed ? c->discharge_day : as_of_day);
	discharges_case_social_care(c, world, as_of_day);
	if (c->council != NULL)
		c->rollup_council = c->council;
	else if (c->package != NULL)
		c->rollup_council = c->package->council;
	else
		c->rollup_council = DISCHARGES_UNATTRIBUTED;
}

/* ------------------------------------------------------------ figures */

static json_t *
discharges_string_or_null(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

static json_t *
discharges_date_json(int32_t day)
{
	char date[DATES_DATE_BUFSIZE];

	figures_date(day, date);
	return json_string(date);
}

json_t *
discharges_case_json(const struct discharges_case *c, const char *icb)
{
	json_t *o = json_object();

	json_object_set_new(o, "patient", json_string(c->patient));
	json_object_set_new(o, "provider", json_string(c->provider));
	json_object_set_new(o, "icb", json_string(icb));
	json_object_set_new(o, "status", json_string(c->closed ? "closed" : "open"));
	json_object_set_new(o, "ready_date", discharges_date_json(c->ready_day));
	json_object_set_new(
	    o, "discharge_date", c->closed ? discharges_date_json(c->discharge_day) : json_null());
	json_object_set_new(o, "pathway", c->has_pathway ? json_integer(c->pathway) : json_null());
	json_object_set_new(o, "council", discharges_string_or_null(c->council));
	json_object_set_new(o, "rollup_council", json_string(c->rollup_council));
	json_object_set_new(o, "days_delayed", json_integer(c->days_delayed));
	json_object_set_new(o, "waiting_on_social_care", json_boolean(c->waiting_on_social_care));
	json_object_set_new(
	    o, "social_care_wait_ended_by", discharges_string_or_null(c->wait_ended_by));
	json_object_set_new(o, "package",
	    c->package != NULL
	        ? json_pack("{s:s, s:s, s:s}", "council", c->package->council, "package_id",
	              c->package->package_id, "start_date", c->package->start_date)
	        : json_null());
	json_object_set_new(o, "days_waiting_for_social_care",
	    c->has_social_care_wait ? json_integer(c->days_waiting) : json_null());
	return o;
}

static bool
discharges_dump_date(struct jtext *out, int32_t day)
{
	char date[DATES_DATE_BUFSIZE];

	figures_date(day, date);
	return jtext_string(out, date);
}

static bool
discharges_dump_string_or_null(struct jtext *out, const char *s)
{
	if (s != NULL)
		return jtext_string(out, s);
	jtext_raw(out, "null");
	return true;
}

static void
discharges_dump_int_or_null(struct jtext *out, bool has, int64_t v)
{
	if (has)
		jtext_int(out, v);
	else
		jtext_raw(out, "null");
}

/* The same text by the fast way; false when a string was not ASCII. */
static bool
discharges_case_dump_ascii(struct jtext *out, const struct discharges_case *c, const char *icb)
{
	bool ok = true;

	jtext_raw(out, "{\"patient\":");
	ok = ok && jtext_string(out, c->patient);
	jtext_raw(out, ",\"provider\":");
	ok = ok && jtext_string(out, c->provider);
	jtext_raw(out, ",\"icb\":");
	ok = ok && jtext_string(out, icb);
	jtext_raw(out, c->closed ? ",\"status\":\"closed\",\"ready_date\":"
	                         : ",\"status\":\"open\",\"ready_date\":");
	ok = ok && discharges_dump_date(out, c->ready_day);
	jtext_raw(out, ",\"discharge_date\":");
	if (c->closed)
		ok = ok && discharges_dump_date(out, c->discharge_day);
	else
		jtext_raw(out, "null");
	jtext_raw(out, ",\"pathway\":");
	discharges_dump_int_or_null(out, c->has_pathway, c->pathway);
	jtext_raw(out, ",\"council\":");
	ok = ok && discharges_dump_string_or_null(out, c->council);
	jtext_raw(out, ",\"rollup_council\":");
	ok = ok && jtext_string(out, c->rollup_council);
	jtext_raw(out, ",\"days_delayed\":");
	jtext_int(out, c->days_delayed);
	jtext_raw(out, c->waiting_on_social_care
	                   ? ",\"waiting_on_social_care\":true,\"social_care_wait_ended_by\":"
	                   : ",\"waiting_on_social_care\":false,\"social_care_wait_ended_by\":");
	ok = ok && discharges_dump_string_or_null(out, c->wait_ended_by);
	jtext_raw(out, ",\"package\":");
	if (c->package != NULL) {
		jtext_raw(out, "{\"council\":");
		ok = ok && jtext_string(out, c->package->council);
		jtext_raw(out, ",\"package_id\":");
		ok = ok && jtext_string(out, c->package->package_id);
		jtext_raw(out, ",\"start_date\":");
		ok = ok && jtext_string(out, c->package->start_date);
		jtext_raw(out, "}");
	} else {
		jtext_raw(out, "null");
	}
	jtext_raw(out, ",\"days_waiting_for_social_care\":");
	discharges_dump_int_or_null(out, c->has_social_care_wait, c->days_waiting);
	jtext_raw(out, "}");
	return ok;
}

void
discharges_case_dump(struct jtext *out, const struct discharges_case *c, const char *icb)
{
	size_t start = out->len;
	json_t *json;
	char *text;

	if (discharges_case_dump_ascii(out, c, icb) || out->failed)
		return;
	/* Not ASCII: jansson checks and writes it, as it always did. */
	out->len = start;
	if (out->text != NULL)
		out->text[start] = '\0';
	json = discharges_case_json(c, icb);
	text = json != NULL ? json_dumps(json, JSON_COMPACT) : NULL;
	json_decref(json);
	if (text == NULL)
		out->failed = true;
	else
		jtext_raw(out, text);
	free(text);
}

/* A roll-up starts at zero, so every ICB and council listed has them all. */
static json_t *
discharges_rollup(json_t *parent, const char *key)
{
	json_t *place = json_object_get(parent, key);

	if (place != NULL)
		return place;
	place = json_pack("{s:{s:i, s:i, s:i, s:{}}, s:{}}", "open", "cases", 0,
	    "waiting_on_social_care", 0, "days_delayed", 0, "by_pathway", "closed_by_date");
	json_object_set_new(parent, key, place);
	return place;
}

static void
discharges_count_open(json_t *counts, const struct discharges_case *c)
{
	figures_add_count(counts, "cases", 1);
	figures_add_count(counts, "waiting_on_social_care", c->waiting_on_social_care ? 1 : 0);
	figures_add_count(counts, "days_delayed", c->days_delayed);
}

static void
discharges_rollup_count(json_t *place, const struct discharges_case *c)
{
	char key[DATES_DATE_BUFSIZE];

	if (c->closed) {
		figures_date(c->discharge_day, key);
		json_t *day = figures_object(place, "closed_by_date", key, NULL);
		figures_add_count(day, "cases", 1);
		figures_add_count(day, "days_delayed", c->days_delayed);
		return;
	}
	discharges_count_open(figures_object(place, "open", NULL), c);
	if (c->has_pathway && c->pathway >= 0 && c->pathway <= DISCHARGES_PATHWAY_MAX)
		discharges_count_open(figures_object(place, "open", "by_pathway",
		                          discharges_pathway_key[c->pathway], NULL),
		    c);
}

const char *
discharges_figures_count_case(struct figures *fig, const struct discharges_case *c)
{
	json_t *root = figures_object(fig->root, "discharges", NULL);
	const char *icb = picture_icb_of(fig->picture, c->provider);

	if (icb == NULL)
		icb = DISCHARGES_UNMAPPED;
	discharges_rollup_count(discharges_rollup(json_object_get(root, "icbs"), icb), c);
	discharges_rollup_count(
	    discharges_rollup(json_object_get(root, "councils"), c->rollup_council), c);
	return icb;
}

/* Publish one case and count it for its provider's ICB and its council. */
static void
discharges_publish_case(struct figures *fig, const struct discharges_case *c)
{
	json_t *root = figures_object(fig->root, "discharges", NULL);

	json_array_append_new(json_object_get(root, "cases"),
	    discharges_case_json(c, discharges_figures_count_case(fig, c)));
}

void
discharges_figures_note_council(struct figures *fig, const char *council)
{
	/* A council's ICB comes from its registered parents only. */
	if (council[0] != '\0' && picture_commissioner_icb(fig->picture, council) == NULL)
		figures_add_unmapped(fig, council);
}

void
discharges_figures_note_ready(struct figures *fig, const struct thing *t)
{
	if (picture_icb_of(fig->picture, t->part[1]) == NULL)
		figures_add_unmapped(fig, t->part[1]);
	for (size_t k = 0; k < t->n_events; k++)
		if (t->events[k]->event_case == COMMISSIONING__ENVELOPE__EVENT_READY_FOR_DISCHARGE)
			discharges_figures_note_council(fig, t->events[k]->ready_for_discharge->council);
}

/* The codes of this area whose ICB is not known: every ready report's
 * provider and council, and every package's council. */
static void
discharges_note_unmapped(struct figures *fig)
{
	const struct picture *p = fig->picture;

	for (size_t i = 0; i < picture_count(p, THING_READY); i++)
		discharges_figures_note_ready(fig, picture_thing(p, THING_READY, i));
	for (size_t i = 0; i < picture_count(p, THING_PACKAGE); i++)
		discharges_figures_note_council(fig, picture_thing(p, THING_PACKAGE, i)->part[0]);
}

int
discharges_cases_each(const struct discharges_world *world, const struct thing *t,
    int32_t as_of_day, discharges_case_fn fn, void *arg)
{
	const char *patient = t->part[0], *provider = t->part[1];
	size_t n_discharges;
	const struct spell *const *discharges =
	    discharges_of(world, provider, patient, &n_discharges);
	struct discharges_case *cases = calloc(n_discharges + 1, sizeof(*cases));

	if (cases == NULL)
		return -1;
	for (size_t i = 0; i < t->n_events; i++) {
		const Commissioning__ReadyForDischarge *r = t->events[i]->ready_for_discharge;
		int32_t ready_day;

		if (t->events[i]->event_case !=
		        COMMISSIONING__ENVELOPE__EVENT_READY_FOR_DISCHARGE ||
		    dates_parse_date(r->ready_date, &ready_day) < 0)
			continue;
		discharges_case_take_report(
		    &cases[discharges_case_index(discharges, n_discharges, ready_day)], r,
		    ready_day);
	}
	for (size_t i = 0; i <= n_discharges; i++) {
		struct discharges_case *c = &cases[i];

		if (c->n_reports == 0)
			continue;
		c->patient = patient;
		c->provider = provider;
		c->closed = i < n_discharges;
		if (c->closed)
			c->discharge_day = dates_london_day_of_ms(discharges[i]->discharged_at_ms);
		discharges_case_settle(c, world, as_of_day);
		fn(arg, c);
	}
	free(cases);
	return 0;
}

void
discharges_figures_begin(struct figures *fig)
{
	json_t *root = figures_object(fig->root, "discharges", NULL);

	json_object_set_new(root, "cases", json_array());
	json_object_set_new(root, "icbs", json_object());
	json_object_set_new(root, "councils", json_object());
}

static void
discharges_publish_each(void *arg, const struct discharges_case *c)
{
	discharges_publish_case(arg, c);
}

void
discharges_figures(struct figures *fig)
{
	const struct picture *p = fig->picture;
	struct discharges_world world = {0};
	size_t n_spells = 0;
	struct spell *spells = spell_fold_all(p, &n_spells);

	discharges_figures_begin(fig);
	discharges_note_unmapped(fig);
	if (spells == NULL || discharges_index_spells(&world, spells, n_spells) < 0 ||
	    discharges_index_packages(&world, p) < 0) {
		fig->failed = true; /* out of memory: no case can be told */
		goto done;
	}
	discharges_world_sort(&world);
	for (size_t i = 0; i < picture_count(p, THING_READY); i++)
		if (discharges_cases_each(&world, picture_thing(p, THING_READY, i), fig->as_of_day,
		        discharges_publish_each, fig) < 0) {
			fig->failed = true;
			break;
		}
done:
	free(world.packages);
	free(world.discharges);
	free(spells);
}
