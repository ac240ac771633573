/*
 * tallies: running totals of flow and delayed discharges per provider and
 * per council (tallies.h), their records in the store, and the figures an
 * update carries, cut the way place_figures cuts the whole picture's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "be64.h"
#include "dates.h"
#include "sorted.h"
#include "tallies.h"
#include "text.h"

#define TALLIES_UNMAPPED "unmapped" /* the roll-up of providers with no known ICB */

/* What a flow total keeps. */
enum { FLOW_LISTED, FLOW_IN_HOSPITAL, FLOW_SCALARS };
/* An open-case count: its days delayed are COUNTED x as-of day - READY_SUM. */
enum { OPEN_CASES, OPEN_WAITING, OPEN_COUNTED, OPEN_READY_SUM, OPEN_FIELDS };
/* What a delays total keeps: all its cases, its open ones, by pathway. */
enum {
	DELAYS_CASES,
	DELAYS_OPEN,
	DELAYS_BY_PATHWAY = DELAYS_OPEN + OPEN_FIELDS,
	DELAYS_SCALARS = DELAYS_BY_PATHWAY + OPEN_FIELDS * (DISCHARGES_PATHWAY_MAX + 1),
};
/* Per day: flow counts (admissions, discharges, attendances), or closed
 * cases (how many, their days delayed). */
#define TALLY_DAY_VALUES FLOW_N_COUNTS
enum { CLOSED_CASES, CLOSED_DAYS_DELAYED };

struct tally_day {
	int32_t day;
	int64_t v[TALLY_DAY_VALUES];
};

struct tally {
	enum tally_group group;
	char *code;
	int64_t v[DELAYS_SCALARS];
	struct tally_day *days; /* by day */
	size_t n_days, cap_days;
	bool dirty;
};

/* One group's totals, by code. */
struct tally_list {
	struct tally **items;
	size_t n, cap;
};

struct tallies {
	int64_t as_of_ms;
	/* An allocation failed while a part was added or taken away: the
	 * totals are no longer the sum of their parts, and tallies_flush
	 * refuses to write them until they are cleared and read afresh. */
	bool failed;
	struct tally_list flow, by_provider, by_council;
	struct tally_list sites, wards, spells; /* the flow area's places */
};

#define TALLY_SEPARATOR '|' /* in no organisation code */

const uint8_t tally_groups[TALLY_N_GROUPS] = { TALLY_FLOW, TALLY_DELAYS_BY_PROVIDER,
	TALLY_DELAYS_BY_COUNCIL, TALLY_FLOW_SITE, TALLY_FLOW_WARD, TALLY_SPELLS };

static size_t
tally_scalars(enum tally_group group)
{
	return group == TALLY_DELAYS_BY_PROVIDER || group == TALLY_DELAYS_BY_COUNCIL
	    ? DELAYS_SCALARS
	    : FLOW_SCALARS;
}

static struct tally_list *
tallies_list(struct tallies *t, enum tally_group group)
{
	switch (group) {
	case TALLY_FLOW:
		return &t->flow;
	case TALLY_DELAYS_BY_PROVIDER:
		return &t->by_provider;
	case TALLY_DELAYS_BY_COUNCIL:
		return &t->by_council;
	case TALLY_FLOW_SITE:
		return &t->sites;
	case TALLY_FLOW_WARD:
		return &t->wards;
	case TALLY_SPELLS:
		return &t->spells;
	default:
		return NULL;
	}
}

static void
tally_free(struct tally *tally)
{
	if (tally == NULL)
		return;
	free(tally->code);
	free(tally->days);
	free(tally);
}

static void
tally_list_clear(struct tally_list *list)
{
	for (size_t i = 0; i < list->n; i++)
		tally_free(list->items[i]);
	free(list->items);
	memset(list, 0, sizeof(*list));
}

struct tallies *
tallies_new(void)
{
	return calloc(1, sizeof(struct tallies));
}

void
tallies_clear(struct tallies *t)
{
	for (size_t i = 0; i < TALLY_N_GROUPS; i++)
		tally_list_clear(tallies_list(t, tally_groups[i]));
	t->as_of_ms = 0;
	t->failed = false;
}

void
tallies_destroy(struct tallies **tp)
{
	if (*tp == NULL)
		return;
	tallies_clear(*tp);
	free(*tp);
	*tp = NULL;
}

int64_t
tallies_as_of_ms(const struct tallies *t)
{
	return t->as_of_ms;
}

void
tallies_set_as_of_ms(struct tallies *t, int64_t as_of_ms)
{
	t->as_of_ms = as_of_ms;
}

static int
tally_compare(const void *key, const void *element)
{
	return strcmp(key, (*(const struct tally *const *)element)->code);
}

/* The index of code in list, or where it would go (*found false). */
static size_t
tally_list_find(const struct tally_list *list, const char *code, bool *found)
{
	return sorted_index(list->items, list->n, sizeof(list->items[0]), code, tally_compare,
	    found);
}

static const struct tally *
tally_get(const struct tally_list *list, const char *code)
{
	bool found;
	size_t at = tally_list_find(list, code, &found);

	return found ? list->items[at] : NULL;
}

/* The total of code in group, made at zero on first use; NULL when out of
 * memory. */
static struct tally *
tally_take(struct tallies *t, enum tally_group group, const char *code)
{
	struct tally_list *list = tallies_list(t, group);
	struct tally *tally;
	bool found;
	size_t at = tally_list_find(list, code, &found);

	if (found)
		return list->items[at];
	if (list->n == list->cap) {
		size_t cap = list->cap ? list->cap * 2 : 16;
		struct tally **grown = realloc(list->items, cap * sizeof(*grown));
		if (grown == NULL)
			return NULL;
		list->items = grown;
		list->cap = cap;
	}
	tally = calloc(1, sizeof(*tally));
	if (tally == NULL || (tally->code = strdup(code)) == NULL) {
		free(tally);
		return NULL;
	}
	tally->group = group;
	memmove(&list->items[at + 1], &list->items[at], (list->n - at) * sizeof(*list->items));
	list->items[at] = tally;
	list->n++;
	return tally;
}

/* The values of day in tally, made at zero on first use; NULL when out of
 * memory. */
static int64_t *
tally_day(struct tally *tally, int32_t day)
{
	size_t lo = 0, hi = tally->n_days;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (tally->days[mid].day == day)
			return tally->days[mid].v;
		if (tally->days[mid].day < day)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (tally->n_days == tally->cap_days) {
		size_t cap = tally->cap_days ? tally->cap_days * 2 : 4;
		struct tally_day *grown = realloc(tally->days, cap * sizeof(*grown));
		if (grown == NULL)
			return NULL;
		tally->days = grown;
		tally->cap_days = cap;
	}
	memmove(&tally->days[lo + 1], &tally->days[lo], (tally->n_days - lo) * sizeof(*tally->days));
	memset(&tally->days[lo], 0, sizeof(*tally->days));
	tally->days[lo].day = day;
	tally->n_days++;
	return tally->days[lo].v;
}

static const struct tally_day *
tally_day_get(const struct tally *tally, int32_t day)
{
	size_t lo = 0, hi = tally->n_days;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (tally->days[mid].day == day)
			return &tally->days[mid];
		if (tally->days[mid].day < day)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Add (sign 1) or take away (-1) a listed spell's flow to one total. */
static void
tally_add_flow(struct tallies *t, struct tally *total, const struct flow_tally *tally, int sign)
{
	total->dirty = true;
	total->v[FLOW_LISTED] += sign;
	total->v[FLOW_IN_HOSPITAL] += tally->in_hospital ? sign : 0;
	for (size_t i = 0; i < tally->n_counts; i++) {
		int64_t *v = tally_day(total, tally->counts[i].day);
		if (v == NULL)
			t->failed = true;
		else
			v[tally->counts[i].count] += sign;
	}
}

void
tallies_add_spell(struct tallies *t, const char *provider, const struct flow_tally *tally,
    int sign)
{
	struct tally *total;

	if (!tally->listed)
		return; /* counts nowhere */
	if ((total = tally_take(t, TALLY_FLOW, provider)) != NULL)
		tally_add_flow(t, total, tally, sign);
	else
		t->failed = true;
}

/* The code of a site's or ward's total: parts joined by TALLY_SEPARATOR.
 * False when it does not fit (cannot happen: codes and wards are bounded). */
static bool
tally_place_code(char *out, size_t outlen, const char *provider, const char *site,
    const char *ward)
{
	/* text_join, not snprintf: this runs for every spell an event moves,
	 * twice, and a format parse cost more than the rest of the tally. */
	return text_join(out, outlen, TALLY_SEPARATOR, provider, site, ward);
}

void
tallies_add_spell_places(struct tallies *t, const struct spell *spell,
    const struct flow_tally *tally, int sign)
{
	char code[THING_KEY_MAX * 2];
	struct tally *total;

	if (spell->provider[0] == '\0')
		return; /* no event: no spell */
	if ((total = tally_take(t, TALLY_SPELLS, spell->provider)) != NULL) {
		total->dirty = true;
		total->v[FLOW_LISTED] += sign;
	} else {
		t->failed = true;
	}
	if (!tally->listed || spell->site[0] == '\0')
		return;
	if (tally_place_code(code, sizeof(code), spell->provider, spell->site, NULL)) {
		if ((total = tally_take(t, TALLY_FLOW_SITE, code)) != NULL)
			tally_add_flow(t, total, tally, sign);
		else
			t->failed = true;
	}
	if (!tally->in_hospital || spell->ward[0] == '\0')
		return;
	if (tally_place_code(code, sizeof(code), spell->provider, spell->site, spell->ward)) {
		if ((total = tally_take(t, TALLY_FLOW_WARD, code)) != NULL) {
			total->dirty = true;
			total->v[FLOW_IN_HOSPITAL] += sign;
		} else {
			t->failed = true;
		}
	}
}

static int
tally_list_copy(struct tally_list *to, const struct tally_list *from)
{
	to->items = calloc(from->n ? from->n : 1, sizeof(*to->items));
	if (to->items == NULL)
		return -1;
	to->cap = from->n ? from->n : 1;
	for (size_t i = 0; i < from->n; i++) {
		const struct tally *a = from->items[i];
		struct tally *b = calloc(1, sizeof(*b));
		if (b == NULL)
			return -1;
		to->items[to->n++] = b;
		*b = *a;
		b->code = strdup(a->code);
		b->days = malloc((a->n_days ? a->n_days : 1) * sizeof(*b->days));
		b->cap_days = a->n_days;
		if (b->code == NULL || b->days == NULL) {
			b->n_days = 0; /* so that clearing frees what there is */
			return -1;
		}
		if (a->n_days > 0)
			memcpy(b->days, a->days, a->n_days * sizeof(*b->days));
	}
	return 0;
}

struct tallies *
tallies_copy(const struct tallies *t)
{
	struct tallies *c = tallies_new();

	if (c == NULL)
		return NULL;
	c->as_of_ms = t->as_of_ms;
	c->failed = t->failed;
	if (tally_list_copy(&c->flow, &t->flow) < 0 ||
	    tally_list_copy(&c->by_provider, &t->by_provider) < 0 ||
	    tally_list_copy(&c->by_council, &t->by_council) < 0 ||
	    tally_list_copy(&c->sites, &t->sites) < 0 || tally_list_copy(&c->wards, &t->wards) < 0 ||
	    tally_list_copy(&c->spells, &t->spells) < 0)
		tallies_destroy(&c);
	return c;
}

static void
open_add(int64_t *open, const struct discharges_case *c, int32_t as_of_day, int sign)
{
	open[OPEN_CASES] += sign;
	open[OPEN_WAITING] += c->waiting_on_social_care ? sign : 0;
	/* Days delayed count from the ready date once it has come. */
	if (c->ready_day <= as_of_day) {
		open[OPEN_COUNTED] += sign;
		open[OPEN_READY_SUM] += (int64_t)sign * c->ready_day;
	}
}

static void
delays_add(struct tallies *t, enum tally_group group, const char *code,
    const struct discharges_case *c, int32_t as_of_day, int sign)
{
	struct tally *total = tally_take(t, group, code);

	if (total == NULL) {
		t->failed = true;
		return;
	}
	total->dirty = true;
	total->v[DELAYS_CASES] += sign;
	if (c->closed) {
		int64_t *v = tally_day(total, c->discharge_day);
		if (v == NULL) {
			t->failed = true;
			return;
		}
		v[CLOSED_CASES] += sign;
		v[CLOSED_DAYS_DELAYED] += (int64_t)sign * c->days_delayed;
		return;
	}
	open_add(&total->v[DELAYS_OPEN], c, as_of_day, sign);
	if (c->has_pathway && c->pathway >= 0 && c->pathway <= DISCHARGES_PATHWAY_MAX)
		open_add(&total->v[DELAYS_BY_PATHWAY + OPEN_FIELDS * c->pathway], c, as_of_day,
		    sign);
}

void
tallies_add_case(struct tallies *t, const struct discharges_case *c, int32_t as_of_day, int sign)
{
	delays_add(t, TALLY_DELAYS_BY_PROVIDER, c->provider, c, as_of_day, sign);
	delays_add(t, TALLY_DELAYS_BY_COUNCIL, c->rollup_council, c, as_of_day, sign);
}

/* ------------------------------------------------------------ records */

/* Value: the scalars (8 bytes each, big-endian, two's complement), then
 * per day its number (4 bytes) and values. */
#define DAY_RECORD_BYTES (4 + 8 * TALLY_DAY_VALUES)

int
tallies_load_record(struct tallies *t, const uint8_t *key, size_t keylen, const uint8_t *bytes,
    size_t len)
{
	enum tally_group group;
	size_t scalars, at;
	struct tally *tally;

	if (keylen < 2 || key[keylen - 1] != '\0' || tallies_list(t, (enum tally_group)key[0]) == NULL)
		return -1;
	group = (enum tally_group)key[0];
	scalars = tally_scalars(group);
	if (len < 8 * scalars || (len - 8 * scalars) % DAY_RECORD_BYTES != 0)
		return -1;
	tally = tally_take(t, group, (const char *)key + 1);
	if (tally == NULL)
		goto no_memory;
	for (size_t i = 0; i < scalars; i++)
		tally->v[i] = (int64_t)be64_get(bytes + 8 * i);
	for (at = 8 * scalars; at < len; at += DAY_RECORD_BYTES) {
		int32_t day = (int32_t)(((uint32_t)bytes[at] << 24) | ((uint32_t)bytes[at + 1] << 16) |
		    ((uint32_t)bytes[at + 2] << 8) | bytes[at + 3]);
		int64_t *v = tally_day(tally, day);
		if (v == NULL)
			goto no_memory;
		for (size_t k = 0; k < TALLY_DAY_VALUES; k++)
			v[k] = (int64_t)be64_get(bytes + at + 4 + 8 * k);
	}
	tally->dirty = false;
	return 0;
no_memory:
	/* A total loaded in part is not the stored one. */
	t->failed = true;
	return -1;
}

bool
tallies_failed(const struct tallies *t)
{
	return t->failed;
}

static bool
tally_is_empty(const struct tally *tally)
{
	for (size_t i = 0; i < tally_scalars(tally->group); i++)
		if (tally->v[i] != 0)
			return false;
	return tally->n_days == 0;
}

/* Drop the days whose values are all back to zero. */
static void
tally_prune_days(struct tally *tally)
{
	size_t kept = 0;

	for (size_t i = 0; i < tally->n_days; i++) {
		bool zero = true;
		for (size_t k = 0; k < TALLY_DAY_VALUES; k++)
			zero = zero && tally->days[i].v[k] == 0;
		if (!zero)
			tally->days[kept++] = tally->days[i];
	}
	tally->n_days = kept;
}

static int
tally_flush_one(struct tally *tally, tallies_record_fn fn, void *arg)
{
	size_t codelen = strlen(tally->code), scalars = tally_scalars(tally->group);
	size_t keylen = codelen + 2, len = 8 * scalars + DAY_RECORD_BYTES * tally->n_days;
	uint8_t *key = malloc(keylen), *val = malloc(len);
	int rc = -1;

	if (key == NULL || val == NULL)
		goto done;
	key[0] = (uint8_t)tally->group;
	memcpy(key + 1, tally->code, codelen + 1);
	if (tally_is_empty(tally)) {
		rc = fn(arg, key, keylen, NULL, 0);
		goto done;
	}
	for (size_t i = 0; i < scalars; i++)
		be64_put(val + 8 * i, (uint64_t)tally->v[i]);
	for (size_t i = 0; i < tally->n_days; i++) {
		uint8_t *at = val + 8 * scalars + DAY_RECORD_BYTES * i;
		uint32_t day = (uint32_t)tally->days[i].day;
		at[0] = (uint8_t)(day >> 24);
		at[1] = (uint8_t)(day >> 16);
		at[2] = (uint8_t)(day >> 8);
		at[3] = (uint8_t)day;
		for (size_t k = 0; k < TALLY_DAY_VALUES; k++)
			be64_put(at + 4 + 8 * k, (uint64_t)tally->days[i].v[k]);
	}
	rc = fn(arg, key, keylen, val, len);
done:
	free(key);
	free(val);
	return rc;
}

static int
tally_list_flush(struct tally_list *list, tallies_record_fn fn, void *arg)
{
	size_t kept = 0;
	int rc = 0;

	for (size_t i = 0; i < list->n; i++) {
		struct tally *tally = list->items[i];
		if (rc == 0 && tally->dirty) {
			tally_prune_days(tally);
			rc = tally_flush_one(tally, fn, arg);
			if (rc == 0) {
				tally->dirty = false;
				if (tally_is_empty(tally)) {
					tally_free(tally);
					continue;
				}
			}
		}
		list->items[kept++] = tally;
	}
	list->n = kept;
	return rc;
}

int
tallies_flush(struct tallies *t, tallies_record_fn fn, void *arg)
{
	int rc = 0;

	if (t->failed)
		return -1; /* not the sum of their parts: the batch must not commit */
	for (size_t i = 0; rc == 0 && i < TALLY_N_GROUPS; i++)
		rc = tally_list_flush(tallies_list(t, tally_groups[i]), fn, arg);
	return rc;
}

/* ------------------------------------------------------------ figures */

static const char *
tallies_icb(const char *provider, tallies_icb_fn icb_of, void *arg)
{
	const char *icb = icb_of(arg, provider);

	return icb != NULL ? icb : TALLIES_UNMAPPED;
}

/* {code, in_hospital, day, counts} of one provider or ICB, as flow_slice. */
static json_t *
flow_place_json(const char *code, int64_t in_hospital, const char *date,
    const int64_t counts[FLOW_N_COUNTS])
{
	json_t *o = json_object(), *c = json_object();

	json_object_set_new(o, "code", json_string(code));
	json_object_set_new(o, "in_hospital", json_integer(in_hospital));
	json_object_set_new(o, "day", json_string(date));
	for (size_t k = 0; k < FLOW_N_COUNTS; k++)
		if (counts[k] > 0)
			json_object_set_new(c, flow_count_names[k], json_integer(counts[k]));
	json_object_set_new(o, "counts", c);
	return o;
}

static void
flow_add_day(int64_t counts[FLOW_N_COUNTS], const struct tally *tally, int32_t day)
{
	const struct tally_day *d = tally_day_get(tally, day);

	for (size_t k = 0; d != NULL && k < FLOW_N_COUNTS; k++)
		counts[k] += d->v[k];
}

json_t *
tallies_flow_figures(const struct tallies *t, const char *code, const char *icb, int32_t day,
    tallies_icb_fn icb_of, void *arg)
{
	const struct tally *p = tally_get(&t->flow, code);
	int64_t counts[FLOW_N_COUNTS] = { 0 }, icb_counts[FLOW_N_COUNTS] = { 0 };
	int64_t in_hospital = 0;
	char date[DATES_DATE_BUFSIZE];
	json_t *out;

	figures_date(day, date);
	if (p != NULL)
		flow_add_day(counts, p, day);
	for (size_t i = 0; i < t->flow.n; i++) {
		const struct tally *q = t->flow.items[i];
		if (q->v[FLOW_LISTED] <= 0 || strcmp(tallies_icb(q->code, icb_of, arg), icb) != 0)
			continue;
		in_hospital += q->v[FLOW_IN_HOSPITAL];
		flow_add_day(icb_counts, q, day);
	}
	out = json_object();
	/* A provider or ICB with no spell that counts has none in hospital. */
	json_object_set_new(out, "provider",
	    flow_place_json(code, p != NULL && p->v[FLOW_LISTED] > 0 ? p->v[FLOW_IN_HOSPITAL] : 0,
		date, counts));
	json_object_set_new(out, "icb", flow_place_json(icb, in_hospital, date, icb_counts));
	return out;
}

/* {cases, waiting_on_social_care, days_delayed} of an open count. */
static json_t *
open_json(const int64_t *open, int32_t as_of_day)
{
	return json_pack("{s:I, s:I, s:I}", "cases", (json_int_t)open[OPEN_CASES],
	    "waiting_on_social_care", (json_int_t)open[OPEN_WAITING], "days_delayed",
	    (json_int_t)(open[OPEN_COUNTED] * as_of_day - open[OPEN_READY_SUM]));
}

/* A roll-up of the totals whose code passes keep, as discharges_rollup
 * makes it; NULL when they hold no case. */
static json_t *
delays_rollup(const struct tally_list *list, bool (*keep)(const struct tally *, void *),
    void *arg, int32_t as_of_day)
{
	int64_t sums[DELAYS_SCALARS] = { 0 };
	json_t *closed = json_object(), *rollup, *open, *by_pathway;
	char date[DATES_DATE_BUFSIZE];

	for (size_t i = 0; i < list->n; i++) {
		const struct tally *tally = list->items[i];
		if (tally->v[DELAYS_CASES] <= 0 || !keep(tally, arg))
			continue;
		for (size_t k = 0; k < DELAYS_SCALARS; k++)
			sums[k] += tally->v[k];
		for (size_t d = 0; d < tally->n_days; d++) {
			json_t *day;
			if (tally->days[d].v[CLOSED_CASES] == 0)
				continue;
			figures_date(tally->days[d].day, date);
			day = figures_object(closed, date, NULL);
			figures_add_count(day, "cases", tally->days[d].v[CLOSED_CASES]);
			figures_add_count(day, "days_delayed", tally->days[d].v[CLOSED_DAYS_DELAYED]);
		}
	}
	if (sums[DELAYS_CASES] <= 0) {
		json_decref(closed);
		return NULL;
	}
	open = open_json(&sums[DELAYS_OPEN], as_of_day);
	by_pathway = json_object();
	for (int p = 0; p <= DISCHARGES_PATHWAY_MAX; p++) {
		const int64_t *count = &sums[DELAYS_BY_PATHWAY + OPEN_FIELDS * p];
		char key[2] = { (char)('0' + p), '\0' };
		if (count[OPEN_CASES] > 0)
			json_object_set_new(by_pathway, key, open_json(count, as_of_day));
	}
	json_object_set_new(open, "by_pathway", by_pathway);
	rollup = json_object();
	json_object_set_new(rollup, "open", open);
	json_object_set_new(rollup, "closed_by_date", closed);
	return rollup;
}

struct keep_icb {
	const char *icb;
	tallies_icb_fn icb_of;
	void *arg;
};

static bool
keep_icb(const struct tally *tally, void *arg)
{
	struct keep_icb *k = arg;

	return strcmp(tallies_icb(tally->code, k->icb_of, k->arg), k->icb) == 0;
}

static bool
keep_any(const struct tally *tally, void *arg)
{
	(void)tally;
	(void)arg;
	return true;
}

json_t *
tallies_delays_icb(const struct tallies *t, const char *icb, tallies_icb_fn icb_of, void *arg)
{
	struct keep_icb k = { icb, icb_of, arg };
	json_t *rollup = delays_rollup(&t->by_provider, keep_icb, &k,
	    dates_london_day_of_ms(t->as_of_ms));

	return rollup != NULL ? rollup : json_null();
}

json_t *
tallies_delays_councils(const struct tallies *t)
{
	json_t *out = json_object();
	int32_t as_of_day = dates_london_day_of_ms(t->as_of_ms);

	for (size_t i = 0; i < t->by_council.n; i++) {
		struct tally_list one = { &t->by_council.items[i], 1, 1 };
		json_t *rollup = delays_rollup(&one, keep_any, NULL, as_of_day);
		if (rollup != NULL)
			json_object_set_new(out, t->by_council.items[i]->code, rollup);
	}
	return out;
}

/* ------------------------------------------------------------ the flow area */

/* The counts of each day of tally into the place's days, as flow.c counts
 * them one spell at a time. */
static void
flow_area_days(json_t *place, const struct tally *tally)
{
	char date[DATES_DATE_BUFSIZE];

	for (size_t d = 0; d < tally->n_days; d++) {
		json_t *day = NULL;
		for (size_t k = 0; k < FLOW_N_COUNTS; k++) {
			if (tally->days[d].v[k] <= 0)
				continue;
			if (day == NULL) {
				figures_date(tally->days[d].day, date);
				day = figures_object(place, "days", date, NULL);
			}
			figures_add_count(day, flow_count_names[k], tally->days[d].v[k]);
		}
	}
}

static void
flow_area_place(json_t *place, const struct tally *tally)
{
	figures_add_count(place, "in_hospital", tally->v[FLOW_IN_HOSPITAL]);
	flow_area_days(place, tally);
}

/* The first total of list whose code starts with prefix, or list->n. */
static size_t
tally_list_prefix(const struct tally_list *list, const char *prefix)
{
	bool found;

	return tally_list_find(list, prefix, &found);
}

static bool
tally_has_prefix(const struct tally *tally, const char *prefix, size_t n)
{
	return strncmp(tally->code, prefix, n) == 0;
}

/* The sites of provider (with their wards) into its entry. */
static void
flow_area_sites(const struct tallies *t, json_t *entry, const char *provider)
{
	char prefix[THING_KEY_MAX + 2];
	size_t n;
	int len = snprintf(prefix, sizeof(prefix), "%s%c", provider, TALLY_SEPARATOR);

	if (len < 0 || (size_t)len >= sizeof(prefix))
		return;
	n = (size_t)len;
	for (size_t i = tally_list_prefix(&t->sites, prefix);
	     i < t->sites.n && tally_has_prefix(t->sites.items[i], prefix, n); i++) {
		const struct tally *s = t->sites.items[i];
		if (s->v[FLOW_LISTED] > 0)
			flow_area_place(flow_site(entry, s->code + n), s);
	}
	for (size_t i = tally_list_prefix(&t->wards, prefix);
	     i < t->wards.n && tally_has_prefix(t->wards.items[i], prefix, n); i++) {
		const struct tally *w = t->wards.items[i];
		const char *site = w->code + n, *bar = strchr(site, TALLY_SEPARATOR);
		char site_code[THING_KEY_MAX];
		if (w->v[FLOW_IN_HOSPITAL] <= 0 || bar == NULL ||
		    (size_t)(bar - site) >= sizeof(site_code))
			continue;
		memcpy(site_code, site, (size_t)(bar - site));
		site_code[bar - site] = '\0';
		figures_add_count(json_object_get(flow_site(entry, site_code), "wards"), bar + 1,
		    w->v[FLOW_IN_HOSPITAL]);
	}
}

void
tallies_flow_area(const struct tallies *t, struct figures *fig)
{
	json_t *providers, *icbs;

	flow_figures_begin(fig);
	providers = figures_object(fig->root, "flow", "providers", NULL);
	icbs = figures_object(fig->root, "flow", "icbs", NULL);
	/* Every provider used in ADT is checked for its ICB. */
	for (size_t i = 0; i < t->spells.n; i++)
		if (t->spells.items[i]->v[FLOW_LISTED] > 0)
			flow_icb_of(fig, t->spells.items[i]->code);
	/* Providers in code order, as the spells are: each ICB is listed where
	 * its first provider is. */
	for (size_t i = 0; i < t->flow.n; i++) {
		const struct tally *p = t->flow.items[i];
		const char *icb;
		json_t *entry;
		if (p->v[FLOW_LISTED] <= 0)
			continue;
		icb = flow_icb_of(fig, p->code);
		entry = flow_provider(providers, p->code, icb);
		flow_area_place(entry, p);
		flow_area_place(flow_place(icbs, icb), p);
		flow_area_sites(t, entry, p->code);
	}
}
