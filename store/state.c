/*
 * state: the one place where the pure projections (thing keys, history
 * insertion, places, the hierarchy, the tallies) meet the store's write
 * batch.
 *
 * The derived table holds, beside the tallies' own records (tallies.h):
 *   'd' patient provider NUL spell -> discharged at (be64 ms): the inpatient
 *       discharges with a patient, by person (DOMAIN.md, Delayed
 *       discharges: only those close cases);
 *   'k' patient council NUL package NUL -> start date: the started
 *       packages, by person;
 *   'T' at (be64, sign bit flipped) unit -> nothing: a unit whose part of
 *       the tallies changes at that instant; a unit is a spell (its history
 *       key) or a person ('p' patient NUL);
 *   'o' provider NUL spell NUL -> nothing: the spells whose discharge
 *       stands with no admission on record (the flow area's pending
 *       discharge_only_spells), so that it is read without every spell;
 *   'M' name -> be64: as_of (the tallies'), events (the last event
 *       sequence they include), generation, format (of this table: a
 *       store whose derived state is of another format is remade).
 * In 'd' and 'k', the patient and the spell are their pseudonyms' 32 bytes:
 * these indexes are written at random places, and every byte of a key is
 * copied into the branch pages above its leaf, which the commit writes
 * too (half the bytes of hex: about 5% fewer bytes written an event).
 * Elsewhere, patients are the 64 hex characters of their pseudonym.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "be64.h"
#include "clock.h"
#include "dates.h"
#include "discharges.h"
#include "ids.h"
#include "jtext.h"
#include "log.h"
#include "state.h"
#include "text.h"

#define STATE_PARENTS_MAX 8 /* the hierarchy's depth limit */
#define DERIVED_KEY_MAX THING_KEY_MAX /* LMDB's key limit */

#define KEY_DISCHARGE 'd'
#define KEY_PACKAGE 'k'
#define KEY_TIMER 'T'
#define KEY_META 'M'
#define KEY_DISCHARGE_ONLY 'o'
#define UNIT_PERSON 'p'
/* The derived table's format: 2 added the flow area's places (the tallies
 * of sites, wards and spells, and the discharge-only spells); 3 keys the
 * indexes by person with the pseudonyms' bytes. */
#define DERIVED_FORMAT 3

static const char meta_as_of[] = "Mas_of";
static const char meta_events[] = "Mevents";
static const char meta_generation[] = "Mgeneration";
static const char meta_format[] = "Mformat";

/* ------------------------------------------------------------ keys */

/* Derived keys are made as thing keys are: a kind byte, then parts. */
static void
dkey_begin(struct thing_key *k, uint8_t kind)
{
	k->bytes[0] = kind;
	k->len = 1;
}

/* Add a pseudonym given as its 64 hex characters to k as its 32 bytes;
 * -1 when it is not one. */
static int
dkey_add_pseudonym(struct thing_key *k, const char *hex)
{
	if (k->len + IDS_PSEUDONYM_BYTES > sizeof(k->bytes) ||
	    pseudonym_from_hex(hex, k->bytes + k->len) < 0)
		return -1;
	k->len += IDS_PSEUDONYM_BYTES;
	return 0;
}

/* A person's index key: kind, then the patient's pseudonym bytes. */
static int
dkey_begin_person(struct thing_key *k, uint8_t kind, const char *patient_hex)
{
	dkey_begin(k, kind);
	return dkey_add_pseudonym(k, patient_hex);
}

/* The hex of the pseudonym bytes at bytes. */
static void
dkey_pseudonym_hex(const uint8_t *bytes, char out[65])
{
	ProtobufCBinaryData pseudonym = { IDS_PSEUDONYM_BYTES, (uint8_t *)bytes };

	pseudonym_hex(&pseudonym, out);
}

static enum store_result
meta_get(struct store_batch *batch, const char *name, uint64_t *v, bool *found)
{
	const uint8_t *bytes;
	size_t len;
	enum store_result r = store_batch_get_derived(batch, (const uint8_t *)name, strlen(name),
	    &bytes, &len);

	*found = r == STORE_OK && len == 8;
	*v = *found ? be64_get(bytes) : 0;
	return r;
}

static enum store_result
meta_put(struct store_batch *batch, const char *name, uint64_t v)
{
	uint8_t buf[8];

	be64_put(buf, v);
	return store_batch_put_derived(batch, (const uint8_t *)name, strlen(name), buf, 8);
}

/* ------------------------------------------------------------ timers */

/* Turn the timer of unit at at_ms on or off; INT64_MAX is never. */
static enum store_result
timer_set(struct store_batch *batch, int64_t at_ms, const uint8_t *unit, size_t unitlen, bool on)
{
	struct thing_key k;

	if (at_ms == INT64_MAX)
		return STORE_OK;
	if (unitlen + 9 > sizeof(k.bytes))
		return STORE_OK; /* cannot happen: units are thing keys or patients */
	k.bytes[0] = KEY_TIMER;
	be64_put(k.bytes + 1, (uint64_t)at_ms ^ (1ULL << 63));
	memcpy(k.bytes + 9, unit, unitlen);
	k.len = unitlen + 9;
	if (on)
		return store_batch_put_derived(batch, k.bytes, k.len, (const uint8_t *)"", 0);
	return store_batch_del_derived(batch, k.bytes, k.len);
}

static void
person_unit(struct thing_key *k, const char *patient)
{
	dkey_begin(k, UNIT_PERSON);
	thing_key_add_part(k, patient); /* 64 characters: fits */
}

/* ------------------------------------------------------------ spells */

/* A spell as its history leaves it. */
struct spell_view {
	struct thing_view view;
	struct spell spell;
};

/* Memory ran out doing what (a printf format): logged, and made the
 * store's error, which whoever reports the failure gives (not an older
 * error of the store's). The batch or reading fails: STORE_FAILED. */
static enum store_result __attribute__((format(printf, 2, 3)))
state_out_of_memory(struct store_batch *batch, const char *what, ...)
{
	char doing[200], why[256];
	va_list ap;

	va_start(ap, what);
	vsnprintf(doing, sizeof(doing), what, ap);
	va_end(ap);
	snprintf(why, sizeof(why), "state: out of memory %s", doing);
	log_error("%s", why);
	return store_batch_fail(batch, why);
}

/* A history a scan could not load (r: thing_view_load's): one that does
 * not decode is skipped, and said (false); true when memory ran out, for
 * the caller to fail the batch. */
static bool
history_no_memory(int r)
{
	if (r != THING_VIEW_NO_MEMORY)
		log_error("state: a stored history does not decode; skipped "
			  "(run commissionctl rebuild)");
	return r == THING_VIEW_NO_MEMORY;
}

/* 0, -1 when the history does not decode, or THING_VIEW_NO_MEMORY. */
static int
spell_view_load(struct spell_view *sv, const uint8_t *key, size_t keylen, const uint8_t *bytes,
    size_t len)
{
	int r = thing_view_load(&sv->view, key, keylen, bytes, len);

	if (r < 0)
		return r;
	if (spell_fold(&sv->view.thing, &sv->spell) < 0) {
		thing_view_release(&sv->view);
		return THING_VIEW_NO_MEMORY;
	}
	return 0;
}

/* The spell's entry in the discharges by person, or false for none. */
static bool
spell_discharge_key(const struct spell *spell, struct thing_key *k)
{
	if (!spell_has_inpatient_discharge(spell) || spell->patient[0] == '\0')
		return false;
	return dkey_begin_person(k, KEY_DISCHARGE, spell->patient) == 0 &&
	    thing_key_add_part(k, spell->provider) == 0 && dkey_add_pseudonym(k, spell->spell_hex) == 0;
}

/* ------------------------------------------------------------ persons */

/* One person's ready reports, inpatient discharges and started packages,
 * read from the batch, and the world their cases are made from. */
struct person {
	char patient[65];
	struct thing_view *ready;
	size_t n_ready, cap_ready;
	struct spell *spells;
	size_t n_spells, cap_spells;
	char **strings; /* owned copies the spells and packages point into */
	size_t n_strings, cap_strings;
	struct discharges_package *packages;
	size_t n_packages, cap_packages;
	struct discharges_world world;
	bool failed; /* out of memory: the person is not whole */
};

static void *
grow(void *array, size_t *cap, size_t n, size_t size)
{
	void *grown;
	size_t want;

	if (n < *cap)
		return array;
	want = *cap ? *cap * 2 : 4;
	grown = realloc(array, want * size);
	if (grown != NULL)
		*cap = want;
	return grown;
}

static char *
person_keep(struct person *p, const void *bytes, size_t len)
{
	char **strings = grow(p->strings, &p->cap_strings, p->n_strings, sizeof(*strings));
	char *s;

	if (strings == NULL)
		return NULL;
	p->strings = strings;
	s = malloc(len + 1);
	if (s == NULL)
		return NULL;
	memcpy(s, bytes, len);
	s[len] = '\0';
	p->strings[p->n_strings++] = s;
	return s;
}

static int
person_take_ready(void *arg, const uint8_t *key, size_t keylen, const uint8_t *bytes, size_t len)
{
	struct person *p = arg;
	struct thing_view *ready = grow(p->ready, &p->cap_ready, p->n_ready, sizeof(*ready));
	int r;

	if (ready == NULL) {
		p->failed = true;
		return 1;
	}
	p->ready = ready;
	r = thing_view_load(&p->ready[p->n_ready], key, keylen, bytes, len);
	if (r < 0) {
		if (!history_no_memory(r))
			return 0;
		p->failed = true;
		return 1;
	}
	p->n_ready++;
	return 0;
}

/* The parts of a person's index key after its kind byte and patient:
 * rest (len bytes) is n NUL-terminated texts, then tail bytes; -1 when it
 * is not. */
static int
key_parts(const uint8_t *rest, size_t len, int n, const char *part[2], size_t tail)
{
	size_t at = 0;

	for (int i = 0; i < n; i++) {
		const uint8_t *nul = at < len ? memchr(rest + at, '\0', len - at) : NULL;
		if (nul == NULL)
			return -1;
		part[i] = (const char *)rest + at;
		at = (size_t)(nul - rest) + 1;
	}
	return at + tail == len ? 0 : -1;
}

static int
person_take_discharge(void *arg, const uint8_t *key, size_t keylen, const uint8_t *bytes,
    size_t len)
{
	struct person *p = arg;
	struct spell *spells = grow(p->spells, &p->cap_spells, p->n_spells, sizeof(*spells));
	const char *part[2];
	char kept[THING_KEY_MAX + 2 * IDS_PSEUDONYM_BYTES + 1], *provider;
	size_t at;
	struct spell *s;

	if (spells == NULL) {
		p->failed = true;
		return 1;
	}
	p->spells = spells;
	if (len != 8 || keylen < 1 + IDS_PSEUDONYM_BYTES ||
	    key_parts(key + 1 + IDS_PSEUDONYM_BYTES, keylen - 1 - IDS_PSEUDONYM_BYTES, 1, part,
		IDS_PSEUDONYM_BYTES) < 0)
		return 0;
	/* The provider and the spell's hex, kept as one "provider NUL spell". */
	at = strlen(part[0]) + 1;
	memcpy(kept, part[0], at);
	dkey_pseudonym_hex(key + keylen - IDS_PSEUDONYM_BYTES, kept + at);
	if ((provider = person_keep(p, kept, at + 2 * IDS_PSEUDONYM_BYTES)) == NULL) {
		p->failed = true;
		return 1;
	}
	s = &p->spells[p->n_spells++];
	memset(s, 0, sizeof(*s));
	dkey_pseudonym_hex(key + 1, s->patient);
	s->provider = provider;
	s->spell_hex = provider + at;
	s->site = s->ward = "";
	/* What spell_has_inpatient_discharge asked of it when indexed. */
	s->patient_class = COMMISSIONING__PATIENT_CLASS__PATIENT_CLASS_INPATIENT;
	s->discharged = true;
	s->discharged_at_ms = (int64_t)be64_get(bytes);
	return 0;
}

static int
person_take_package(void *arg, const uint8_t *key, size_t keylen, const uint8_t *bytes,
    size_t len)
{
	struct person *p = arg;
	struct discharges_package *packages =
	    grow(p->packages, &p->cap_packages, p->n_packages, sizeof(*packages));
	const char *part[2];
	char *council, *date;
	struct discharges_package *pk;

	if (packages == NULL) {
		p->failed = true;
		return 1;
	}
	p->packages = packages;
	if (keylen < 1 + IDS_PSEUDONYM_BYTES ||
	    key_parts(key + 1 + IDS_PSEUDONYM_BYTES, keylen - 1 - IDS_PSEUDONYM_BYTES, 2, part, 0) < 0)
		return 0;
	/* "council NUL package NUL", kept as one. */
	if ((council = person_keep(p, part[0], keylen - 1 - IDS_PSEUDONYM_BYTES)) == NULL ||
	    (date = person_keep(p, bytes, len)) == NULL) {
		p->failed = true;
		return 1;
	}
	pk = &p->packages[p->n_packages];
	dkey_pseudonym_hex(key + 1, pk->patient);
	pk->council = council;
	pk->package_id = council + strlen(council) + 1;
	pk->start_date = date;
	if (dates_parse_date(date, &pk->start_day) == 0)
		p->n_packages++;
	return 0;
}

static void
person_release(struct person *p)
{
	for (size_t i = 0; i < p->n_ready; i++)
		thing_view_release(&p->ready[i]);
	for (size_t i = 0; i < p->n_strings; i++)
		free(p->strings[i]);
	free(p->ready);
	free(p->spells);
	free(p->strings);
	free(p->packages);
	free(p->world.discharges);
	memset(p, 0, sizeof(*p));
}

/* Read the person's things from the batch. One with no ready report has
 * no case: nothing more is read then. */
static enum store_result
person_load(struct store_batch *batch, const char *patient, struct person *p)
{
	struct thing_key k;
	enum store_result r;

	memset(p, 0, sizeof(*p));
	text_copy(p->patient, sizeof(p->patient), patient);
	dkey_begin(&k, THING_READY);
	thing_key_add_part(&k, patient);
	r = store_batch_scan_prefix(batch, STORE_HISTORIES, k.bytes, k.len, person_take_ready, p);
	if (r != STORE_OK || p->n_ready == 0)
		return r;
	if (dkey_begin_person(&k, KEY_DISCHARGE, patient) < 0)
		return STORE_OK; /* not a pseudonym: no index entry can be its */
	r = store_batch_scan_prefix(batch, STORE_DERIVED, k.bytes, k.len, person_take_discharge, p);
	if (r != STORE_OK)
		return r;
	k.bytes[0] = KEY_PACKAGE;
	r = store_batch_scan_prefix(batch, STORE_DERIVED, k.bytes, k.len, person_take_package, p);
	if (r != STORE_OK)
		return r;
	p->world.discharges = calloc(p->n_spells ? p->n_spells : 1, sizeof(*p->world.discharges));
	if (p->world.discharges == NULL) {
		p->failed = true;
		return STORE_OK;
	}
	for (size_t i = 0; i < p->n_spells; i++)
		p->world.discharges[i] = &p->spells[i];
	p->world.n_discharges = p->n_spells;
	p->world.packages = p->packages;
	p->world.n_packages = p->n_packages;
	discharges_world_sort(&p->world);
	return STORE_OK;
}

/* The person's cases at provider (NULL: every provider) for as_of_day. */
static void
person_cases_each(struct person *p, const char *provider, int32_t as_of_day,
    discharges_case_fn fn, void *arg)
{
	for (size_t i = 0; i < p->n_ready && !p->failed; i++)
		if (provider == NULL || strcmp(p->ready[i].thing.part[1], provider) == 0)
			if (discharges_cases_each(&p->world, &p->ready[i].thing, as_of_day, fn, arg) < 0)
				p->failed = true;
}

struct person_part {
	struct tallies *tallies;
	int32_t as_of_day;
	int sign;
	int32_t next_day;
	const char *provider; /* a case there sets *has_case; NULL: not asked */
	bool *has_case;
};

static void
person_part_case(void *arg, const struct discharges_case *c)
{
	struct person_part *part = arg;

	tallies_add_case(part->tallies, c, part->as_of_day, part->sign);
	if (c->changes_on_day < part->next_day)
		part->next_day = c->changes_on_day;
	if (part->provider != NULL && strcmp(c->provider, part->provider) == 0)
		*part->has_case = true;
}

/*
 * Add (sign 1) or take away (-1) the person's part of the tallies as of
 * as_of_ms; *next_ms is when that part changes next (INT64_MAX: never, or
 * the person could not be read). A case of the person at provider (when
 * not NULL) sets *has_case.
 */
static enum store_result
person_move(struct store_batch *batch, struct tallies *tallies, const char *patient,
    int64_t as_of_ms, int sign, int64_t *next_ms, const char *provider, bool *has_case)
{
	struct person p;
	struct person_part part = { tallies, dates_london_day_of_ms(as_of_ms), sign, INT32_MAX,
		provider, has_case };
	enum store_result r = person_load(batch, patient, &p);

	*next_ms = INT64_MAX;
	if (r == STORE_OK && !p.failed)
		person_cases_each(&p, NULL, part.as_of_day, person_part_case, &part);
	if (r == STORE_OK && p.failed) /* their part would be moved in part */
		r = state_out_of_memory(batch, "reading the cases of a person");
	if (r == STORE_OK && part.next_day != INT32_MAX)
		*next_ms = dates_london_midnight_ms(part.next_day);
	person_release(&p);
	return r;
}

/* person_move, turning the person's timer on or off with its part. */
static enum store_result
person_apply(struct store_batch *batch, struct tallies *tallies, const char *patient,
    int64_t as_of_ms, int sign, const char *provider, bool *has_case)
{
	struct thing_key unit;
	int64_t next_ms;
	enum store_result r =
	    person_move(batch, tallies, patient, as_of_ms, sign, &next_ms, provider, has_case);

	if (r != STORE_OK || next_ms == INT64_MAX)
		return r;
	person_unit(&unit, patient);
	return timer_set(batch, next_ms, unit.bytes, unit.len, sign > 0);
}

/* Persons whose cases one change moves: at most the one before and the
 * one after; whether either has a case at provider (when not NULL), before
 * or after the change. */
struct persons {
	char patient[2][65];
	int n;
	const char *provider;
	bool has_case;
};

static void
persons_add(struct persons *ps, const char *patient)
{
	if (patient[0] == '\0')
		return;
	for (int i = 0; i < ps->n; i++)
		if (strcmp(ps->patient[i], patient) == 0)
			return;
	text_copy(ps->patient[ps->n++], sizeof(ps->patient[0]), patient);
}

static enum store_result
persons_apply(struct store_batch *batch, struct tallies *tallies, struct persons *ps, int sign)
{
	enum store_result r = STORE_OK;

	for (int i = 0; r == STORE_OK && i < ps->n; i++)
		r = person_apply(batch, tallies, ps->patient[i], tallies_as_of_ms(tallies), sign,
		    ps->provider, &ps->has_case);
	return r;
}

/* Move one index entry of the cases' world from old to new (either may be
 * absent: len 0), taking the persons' parts away before and adding them
 * after. */
static enum store_result
index_move(struct store_batch *batch, struct tallies *tallies, struct persons *ps,
    const struct thing_key *old, const struct thing_key *new, const uint8_t *value,
    size_t value_len)
{
	enum store_result r = persons_apply(batch, tallies, ps, -1);

	if (r == STORE_OK && old->len > 0)
		r = store_batch_del_derived(batch, old->bytes, old->len);
	if (r == STORE_OK && new->len > 0)
		r = store_batch_put_derived(batch, new->bytes, new->len, value, value_len);
	if (r == STORE_OK)
		r = persons_apply(batch, tallies, ps, 1);
	return r;
}

static bool
dkey_equal(const struct thing_key *a, const struct thing_key *b)
{
	return a->len == b->len && memcmp(a->bytes, b->bytes, a->len) == 0;
}

/* ------------------------------------------------------------ changes */

/* The spell's entry among the discharge-only spells, or false for none. */
static bool
discharge_only_key(const struct spell *spell, struct thing_key *k)
{
	if (spell->provider[0] == '\0' || !flow_is_discharge_only(spell))
		return false;
	dkey_begin(k, KEY_DISCHARGE_ONLY);
	return thing_key_add_part(k, spell->provider) == 0 &&
	    thing_key_add_part(k, spell->spell_hex) == 0;
}

static enum store_result
discharge_only_move(struct store_batch *batch, const struct spell *old, const struct spell *new)
{
	struct thing_key old_key, new_key;
	bool was = discharge_only_key(old, &old_key), is = discharge_only_key(new, &new_key);

	if (was == is)
		return STORE_OK; /* the key is the spell's: it does not move */
	if (was)
		return store_batch_del_derived(batch, old_key.bytes, old_key.len);
	return store_batch_put_derived(batch, new_key.bytes, new_key.len, (const uint8_t *)"", 0);
}

/* A spell's part of the tallies moves from before (old's, as it was) to
 * after (new's): its provider's flow total and its places. */
static void
spell_tally_move(struct tallies *tallies, const struct spell *old,
    const struct flow_tally *before, const struct spell *new, const struct flow_tally *after)
{
	tallies_add_spell(tallies, old->provider, before, -1);
	tallies_add_spell(tallies, new->provider, after, 1);
	tallies_add_spell_places(tallies, old, before, -1);
	tallies_add_spell_places(tallies, new, after, 1);
}

/* A spell's history changed: its flow part, its timer, and its entry in
 * the discharges by person, moving the persons' parts with it into moved
 * (whose has_case then says whether they have cases at the spell's
 * provider) unless moved is NULL (remaking: the persons come after). */
static enum store_result
state_spell_changed(struct store_batch *batch, struct tallies *tallies, const uint8_t *unit,
    size_t unitlen, const struct spell *old, const struct spell *new, struct persons *moved)
{
	int64_t as_of = tallies_as_of_ms(tallies);
	struct flow_tally before = flow_tally_of(old, as_of);
	struct flow_tally after = flow_tally_of(new, as_of);
	int64_t next_before = spell_next_change_ms(old, as_of);
	int64_t next_after = spell_next_change_ms(new, as_of);
	struct thing_key old_key = { .len = 0 }, new_key = { .len = 0 };
	struct persons none = { .n = 0 }, *ps = moved != NULL ? moved : &none;
	uint8_t at[8];
	enum store_result r = STORE_OK;

	spell_tally_move(tallies, old, &before, new, &after);
	r = discharge_only_move(batch, old, new);
	if (r == STORE_OK && next_before != next_after) {
		r = timer_set(batch, next_before, unit, unitlen, false);
		if (r == STORE_OK)
			r = timer_set(batch, next_after, unit, unitlen, true);
	}
	if (!spell_discharge_key(old, &old_key))
		old_key.len = 0;
	if (!spell_discharge_key(new, &new_key))
		new_key.len = 0;
	if (r != STORE_OK ||
	    (dkey_equal(&old_key, &new_key) &&
		(new_key.len == 0 || old->discharged_at_ms == new->discharged_at_ms)))
		return r;
	if (moved != NULL) {
		moved->provider = new->provider[0] != '\0' ? new->provider : old->provider;
		if (old_key.len > 0)
			persons_add(moved, old->patient);
		if (new_key.len > 0)
			persons_add(moved, new->patient);
	}
	be64_put(at, (uint64_t)new->discharged_at_ms);
	return index_move(batch, tallies, ps, &old_key, &new_key, at, sizeof(at));
}

/* A package's entry in the packages by person, or false for none. */
static bool
package_key(const struct thing *t, struct discharges_package *pk, struct thing_key *k)
{
	if (!discharges_package_of(t, pk))
		return false;
	return dkey_begin_person(k, KEY_PACKAGE, pk->patient) == 0 &&
	    thing_key_add_part(k, pk->council) == 0 && thing_key_add_part(k, pk->package_id) == 0;
}

static enum store_result
state_package_changed(struct store_batch *batch, struct tallies *tallies,
    const struct thing *old, const struct thing *new, struct persons *ps)
{
	struct discharges_package before, after;
	struct thing_key old_key = { .len = 0 }, new_key = { .len = 0 };

	if (!package_key(old, &before, &old_key))
		old_key.len = 0;
	if (!package_key(new, &after, &new_key))
		new_key.len = 0;
	if (dkey_equal(&old_key, &new_key) &&
	    (new_key.len == 0 || strcmp(before.start_date, after.start_date) == 0))
		return STORE_OK;
	if (old_key.len > 0)
		persons_add(ps, before.patient);
	if (new_key.len > 0)
		persons_add(ps, after.patient);
	return index_move(batch, tallies, ps, &old_key, &new_key,
	    new_key.len > 0 ? (const uint8_t *)after.start_date : NULL,
	    new_key.len > 0 ? strlen(after.start_date) : 0);
}

/* ------------------------------------------------------------ topics */

/* Registered parents read from the batch, kept until the lookup ends. */
struct state_parents {
	struct store_batch *batch;
	char names[STATE_PARENTS_MAX][THING_KEY_MAX];
	int used;
};

static const char *
state_parent_of(void *arg, const char *code)
{
	struct state_parents *sp = arg;
	struct thing_key key;
	const uint8_t *bytes;
	size_t len, n = strlen(code);

	if (sp->used == STATE_PARENTS_MAX || n + 2 > sizeof(key.bytes))
		return NULL;
	key.bytes[0] = THING_ORGANISATION;
	memcpy(key.bytes + 1, code, n + 1);
	key.len = n + 2;
	if (store_batch_get_history(sp->batch, key.bytes, key.len, &bytes, &len) != STORE_OK ||
	    len == 0 ||
	    !history_organisation_parent(bytes, len, sp->names[sp->used], sizeof(sp->names[0])))
		return NULL;
	return sp->names[sp->used++];
}

/* Note patient among those whose cases the change's discharges place
 * carries, once. */
static void
change_add_person(struct state_change *change, const char *patient)
{
	const int most = (int)(sizeof(change->persons) / sizeof(change->persons[0]));

	for (int j = 0; j < change->n_persons; j++)
		if (strcmp(change->persons[j], patient) == 0)
			return;
	if (change->n_persons < most)
		text_copy(change->persons[change->n_persons++], sizeof(change->persons[0]),
		    patient);
}

/* Add place to places (n of them) unless one of the same area and code is
 * there. */
static int
places_add_new(struct place places[PLACES_MAX], int n, const struct place *place)
{
	for (int i = 0; i < n; i++)
		if (strcmp(places[i].area, place->area) == 0 &&
		    strcmp(places[i].code, place->code) == 0)
			return n;
	if (n < PLACES_MAX)
		places[n++] = *place;
	return n;
}

/* Where the change shows (thing_places), with the persons whose cases its
 * discharges place carries: a ready report's or a package's person, and
 * those whose cases a spell's or a package's change moved (cases); a
 * spell's change that moved persons with cases at its provider shows on
 * the "discharges" place too; a correction that moved its thing from
 * other places (before: thing_places_before) shows there too. */
static void
state_describe(struct store_batch *batch, const struct state_context *ctx,
    const Commissioning__Envelope *env, const struct thing_key *key, const uint8_t *bytes,
    size_t len, const struct persons *cases, const struct place *before, int n_before,
    struct state_change *change)
{
	Commissioning__Envelope *scratch = NULL;
	Commissioning__History *history =
	    thing_places_need_history(env) ? commissioning__history__unpack(NULL, len, bytes) : NULL;
	struct place places[PLACES_MAX];
	int n = thing_places(env, history, places, &scratch);
	/* A spell's change shows on discharges only when it moved a case at
	 * its provider; a package's always does. */
	bool carries = key->bytes[0] != THING_SPELL || cases->has_case;
	char hex[65];

	change->n_places = 0;
	change->n_persons = 0;
	thing_key_text(key, change->thing, sizeof(change->thing));
	if (place_event_person(env, hex))
		change_add_person(change, hex);
	for (int i = 0; carries && i < cases->n; i++)
		change_add_person(change, cases->patient[i]);
	if (key->bytes[0] == THING_SPELL && carries && n == 1 &&
	    strcmp(places[0].area, "flow") == 0)
		places[n++] = (struct place){ "discharges", places[0].code, false };
	for (int i = 0; i < n_before; i++)
		n = places_add_new(places, n, &before[i]);
	for (int i = 0; i < n; i++) {
		struct state_parents sp = { .batch = batch };
		parent_of_fn parent_of = ctx != NULL && ctx->parent_of != NULL ? ctx->parent_of
									      : state_parent_of;
		void *arg = ctx != NULL && ctx->parent_of != NULL ? ctx->parent_arg : &sp;
		const char *icb = places[i].commissioner
		    ? hierarchy_commissioner_icb(parent_of, arg, places[i].code)
		    : hierarchy_icb_of(parent_of, arg, places[i].code);
		text_copy(change->places[i].area, sizeof(change->places[i].area), places[i].area);
		text_copy(change->places[i].icb, sizeof(change->places[i].icb),
		    icb != NULL ? icb : "unmapped");
		text_copy(change->places[i].code, sizeof(change->places[i].code), places[i].code);
		change->n_places++;
	}
	if (scratch != NULL)
		commissioning__envelope__free_unpacked(scratch, NULL);
	if (history != NULL)
		commissioning__history__free_unpacked(history, NULL);
}

/* ------------------------------------------------------------ apply */

/*
 * A thing's history as it was and as the event leaves it, for the derived
 * state: the old history decoded once, and (spells and packages, whose
 * parts are folded from their events) the thing before and after, the
 * latter borrowing the former's events and the new one.
 */
struct state_edit {
	enum thing_kind kind;
	ProtobufCAllocator *alloc;   /* old and the view's events: ctx's scratch arena, or NULL */
	Commissioning__History *old; /* NULL: none yet; owned by view when viewed */
	bool viewed;
	struct thing_view view;
	struct thing with;	/* view's thing with the event in its place */
	struct persons persons; /* whose cases the change may move */
};

static bool
state_edit_folds(enum thing_kind kind)
{
	return kind == THING_SPELL || kind == THING_PACKAGE;
}

/* Decode the old history and view the thing before and after, when the
 * derived state folds it: 0, -1 when the history does not decode, or
 * THING_VIEW_NO_MEMORY. */
static int
state_edit_begin(struct state_edit *edit, const struct state_context *ctx,
    const struct thing_key *key, const Commissioning__Envelope *env, const uint8_t *old,
    size_t old_len)
{
	int r;

	memset(edit, 0, sizeof(*edit));
	edit->kind = (enum thing_kind)key->bytes[0];
	if (ctx != NULL && ctx->scratch != NULL) {
		/* One history at a time: what the last state_apply decoded
		 * there is done with. */
		arena_reset(ctx->scratch);
		edit->alloc = arena_allocator(ctx->scratch);
	}
	if (old_len > 0) {
		r = thing_history_unpack(old, old_len, edit->alloc, &edit->old);
		if (r < 0)
			return r;
	}
	if (ctx == NULL || ctx->tallies == NULL || !state_edit_folds(edit->kind))
		return 0;
	if (edit->old == NULL) {
		edit->old = edit->alloc != NULL
		    ? edit->alloc->alloc(edit->alloc->allocator_data, sizeof(*edit->old))
		    : malloc(sizeof(*edit->old));
		if (edit->old == NULL)
			return THING_VIEW_NO_MEMORY;
		commissioning__history__init(edit->old);
	}
	/* The view takes the history, and frees it even when it fails. */
	r = thing_view_adopt_with(&edit->view, key->bytes, key->len, edit->old, edit->alloc);
	if (r < 0) {
		edit->old = NULL;
		return r;
	}
	edit->old = edit->view.history;
	if (thing_with_event(&edit->view.thing, env, &edit->with) < 0) {
		thing_view_release(&edit->view);
		edit->old = NULL;
		return THING_VIEW_NO_MEMORY;
	}
	edit->viewed = true;
	return 0;
}

static void
state_edit_end(struct state_edit *edit)
{
	if (edit->viewed) {
		free(edit->with.events);
		thing_view_release(&edit->view);
	} else if (edit->old != NULL && edit->alloc == NULL) {
		commissioning__history__free_unpacked(edit->old, NULL); /* else the arena's */
	}
	memset(edit, 0, sizeof(*edit));
}

/* Before the history is written: a ready report's person loses their part,
 * which comes back once the history holds the report. */
static enum store_result
state_before_change(struct store_batch *batch, const struct state_context *ctx,
    const Commissioning__Envelope *env, struct state_edit *edit)
{
	char hex[65];

	if (ctx == NULL || ctx->tallies == NULL || edit->kind != THING_READY)
		return STORE_OK;
	pseudonym_hex(&env->ready_for_discharge->patient_pseudonym, hex);
	persons_add(&edit->persons, hex);
	return persons_apply(batch, ctx->tallies, &edit->persons, -1);
}

static enum store_result
state_after_change(struct store_batch *batch, const struct state_context *ctx,
    const struct thing_key *key, struct state_edit *edit)
{
	struct spell before, after;

	if (ctx == NULL || ctx->tallies == NULL)
		return STORE_OK;
	switch (edit->kind) {
	case THING_SPELL:
		if (spell_fold(&edit->view.thing, &before) < 0 || spell_fold(&edit->with, &after) < 0)
			return state_out_of_memory(batch, "folding a spell");
		if (edit->view.thing.n_events == 0)
			before.provider = ""; /* no spell before: nothing of it to take away */
		return state_spell_changed(batch, ctx->tallies, key->bytes, key->len, &before, &after,
		    &edit->persons);
	case THING_PACKAGE:
		return state_package_changed(batch, ctx->tallies, &edit->view.thing, &edit->with,
		    &edit->persons);
	case THING_READY:
		return persons_apply(batch, ctx->tallies, &edit->persons, 1);
	default:
		return STORE_OK;
	}
}

enum store_result
state_apply(struct store_batch *batch, const struct state_context *ctx,
    const Commissioning__Envelope *env, const uint8_t *bytes, size_t len,
    struct state_change *change)
{
	struct thing_key key;
	const uint8_t *old;
	size_t old_len;
	uint8_t stack[4096];
	ProtobufCBufferSimple out = PROTOBUF_C_BUFFER_SIMPLE_INIT(stack);
	struct state_edit edit;
	struct persons cases = { .n = 0 };
	struct place before[PLACES_MAX];
	int n_before = 0;
	Commissioning__Envelope *before_scratch = NULL;
	enum store_result r;
	int began;

	if (change != NULL)
		change->n_places = change->n_persons = 0;
	/* event_check bounds every text, so the key always fits. */
	if (thing_key_of(env, &key) < 0) {
		log_error("state: no projection key for %s/%s", env->source, env->event_id);
		return STORE_OK;
	}
	r = store_batch_get_history(batch, key.bytes, key.len, &old, &old_len);
	if (r != STORE_OK)
		return r;
	began = state_edit_begin(&edit, ctx, &key, env, old, old_len);
	if (began == THING_VIEW_NO_MEMORY) {
		state_edit_end(&edit);
		return state_out_of_memory(batch, "reading the history of %s/%s", env->source,
		    env->event_id);
	}
	if (began < 0) {
		/* Written by a build that this one cannot read: keep it as it is
		 * and say so; `commissionctl rebuild` remakes it from the log. */
		log_error("state: unreadable history for %s/%s; not updated", env->source,
		    env->event_id);
		state_edit_end(&edit);
		return STORE_OK;
	}
	if (history_insert_into(&key, edit.old, env, bytes, len, &out.base) < 0) {
		state_edit_end(&edit);
		PROTOBUF_C_BUFFER_SIMPLE_CLEAR(&out);
		return state_out_of_memory(batch, "putting %s/%s in its history", env->source,
		    env->event_id);
	}
	/* An event that leaves the history as it was (an older record where
	 * the last one stands) changes nothing the derived state is made of:
	 * neither is written, so that no page is copied for it. */
	if (old_len != out.len || (out.len > 0 && memcmp(old, out.data, out.len) != 0)) {
		/* Where the thing stood: a correction may move it away. */
		if (change != NULL)
			n_before = thing_places_before(env, edit.old, before, &before_scratch);
		r = state_before_change(batch, ctx, env, &edit);
		if (r == STORE_OK)
			r = store_batch_put_history(batch, key.bytes, key.len, out.data, out.len);
		if (r == STORE_OK)
			r = state_after_change(batch, ctx, &key, &edit);
		if (edit.kind == THING_SPELL || edit.kind == THING_PACKAGE)
			cases = edit.persons;
	}
	cases.provider = NULL; /* pointed into the edit */
	state_edit_end(&edit);
	if (r == STORE_OK && ctx != NULL && ctx->history_changed != NULL)
		ctx->history_changed(ctx->history_arg, &key, out.data, out.len);
	if (r == STORE_OK && change != NULL)
		state_describe(batch, ctx, env, &key, out.data, out.len, &cases, before, n_before,
		    change);
	if (before_scratch != NULL)
		commissioning__envelope__free_unpacked(before_scratch, NULL);
	PROTOBUF_C_BUFFER_SIMPLE_CLEAR(&out);
	return r;
}

/* ------------------------------------------------------------ time */

/* Timers are read and handled this many at a time, so that an as-of far
 * ahead (a restart after a long stop, an HTTP as_of) holds no more. */
#define DUE_TIMERS_AT_ONCE 1024

struct due_timers {
	int64_t until_ms;
	struct thing_key *keys;
	size_t n, cap;
	bool failed;
	bool more; /* DUE_TIMERS_AT_ONCE taken: there may be more due */
};

/* A spell's part moves from as-of from_ms to to_ms; *next_ms is when it
 * changes next (INT64_MAX: never, or the spell is gone). */
static enum store_result
spell_move(struct store_batch *batch, struct tallies *tallies, const uint8_t *unit,
    size_t unitlen, int64_t from_ms, int64_t to_ms, int64_t *next_ms)
{
	const uint8_t *bytes;
	size_t len;
	struct spell_view sv;
	struct flow_tally before, after;
	enum store_result r = store_batch_get_history(batch, unit, unitlen, &bytes, &len);
	int loaded;

	*next_ms = INT64_MAX;
	if (r != STORE_OK || len == 0)
		return r;
	loaded = spell_view_load(&sv, unit, unitlen, bytes, len);
	if (loaded < 0)
		return history_no_memory(loaded)
		    ? state_out_of_memory(batch, "reading a spell whose timer fell due")
		    : STORE_OK;
	before = flow_tally_of(&sv.spell, from_ms);
	after = flow_tally_of(&sv.spell, to_ms);
	spell_tally_move(tallies, &sv.spell, &before, &sv.spell, &after);
	*next_ms = spell_next_change_ms(&sv.spell, to_ms);
	thing_view_release(&sv.view);
	return STORE_OK;
}

/*
 * Move the part of the unit whose timer fell due (a spell, or a person's
 * cases) from as-of from_ms to to_ms, reading only; *next_ms is when its
 * part changes next, where its timer goes (INT64_MAX: none). Each unit has
 * one timer, at its part's next change after the tallies' as-of, so the
 * units whose timers fall due by to_ms, each moved once, are every part
 * that changes by then.
 */
static enum store_result
unit_move(struct store_batch *batch, struct tallies *tallies, const uint8_t *unit,
    size_t unitlen, int64_t from_ms, int64_t to_ms, int64_t *next_ms)
{
	enum store_result r;
	char patient[65];

	*next_ms = INT64_MAX;
	if (unit[0] == THING_SPELL)
		return spell_move(batch, tallies, unit, unitlen, from_ms, to_ms, next_ms);
	if (unit[0] != UNIT_PERSON || unitlen != 66)
		return STORE_OK;
	memcpy(patient, unit + 1, 64);
	patient[64] = '\0';
	r = person_move(batch, tallies, patient, from_ms, -1, next_ms, NULL, NULL);
	if (r == STORE_OK)
		r = person_move(batch, tallies, patient, to_ms, 1, next_ms, NULL, NULL);
	return r;
}

/* The time a timer's key says, or -1 for a key that is not a timer's. */
static int64_t
timer_at(const uint8_t *key, size_t keylen)
{
	if (keylen < 10 || keylen > DERIVED_KEY_MAX)
		return -1;
	return (int64_t)(be64_get(key + 1) ^ (1ULL << 63));
}

static int
due_take(void *arg, const uint8_t *key, size_t keylen, const uint8_t *bytes, size_t len)
{
	struct due_timers *due = arg;
	struct thing_key *keys;
	int64_t at = timer_at(key, keylen);

	(void)bytes;
	(void)len;
	if (at < 0)
		return 0;
	if (at > due->until_ms)
		return 1; /* timers are in time order: the rest are later */
	if (due->n == DUE_TIMERS_AT_ONCE) {
		due->more = true;
		return 1;
	}
	keys = grow(due->keys, &due->cap, due->n, sizeof(*keys));
	if (keys == NULL) {
		due->failed = true;
		return 1;
	}
	due->keys = keys;
	memcpy(due->keys[due->n].bytes, key, keylen);
	due->keys[due->n++].len = keylen;
	return 0;
}

/* Move each due unit's part from as-of from to as_of_ms, and its timer to
 * its next change. */
static enum store_result
state_advance_due(struct store_batch *batch, struct tallies *tallies,
    const struct due_timers *due, int64_t from, int64_t as_of_ms)
{
	enum store_result r = STORE_OK;
	int64_t next_ms;

	for (size_t i = 0; r == STORE_OK && i < due->n; i++) {
		const uint8_t *unit = due->keys[i].bytes + 9;
		size_t unitlen = due->keys[i].len - 9;

		r = store_batch_del_derived(batch, due->keys[i].bytes, due->keys[i].len);
		if (r == STORE_OK)
			r = unit_move(batch, tallies, unit, unitlen, from, as_of_ms, &next_ms);
		if (r == STORE_OK)
			r = timer_set(batch, next_ms, unit, unitlen, true);
	}
	return r;
}

enum store_result
state_advance(struct store_batch *batch, struct tallies *tallies, int64_t as_of_ms)
{
	int64_t from = tallies_as_of_ms(tallies);
	const uint8_t prefix = KEY_TIMER;
	struct due_timers due = { .until_ms = as_of_ms, .more = true };
	enum store_result r = STORE_OK;

	if (as_of_ms <= from)
		return STORE_OK; /* never back: a clock stepped back does not move figures */
	/* A unit handled has its timer deleted and its next one after as_of:
	 * each scan finds only timers not handled yet. */
	while (r == STORE_OK && due.more) {
		due.n = 0;
		due.more = false;
		r = store_batch_scan_prefix(batch, STORE_DERIVED, &prefix, 1, due_take, &due);
		if (r == STORE_OK && due.failed)
			r = state_out_of_memory(batch, "reading the timers due");
		if (r == STORE_OK)
			r = state_advance_due(batch, tallies, &due, from, as_of_ms);
	}
	free(due.keys);
	if (r == STORE_OK)
		tallies_set_as_of_ms(tallies, as_of_ms);
	return r;
}

/* How many timers fall due by as_of_ms, counted up to limit, and when the
 * last one counted does. */
struct due_count {
	int64_t until_ms;
	size_t n, limit;
	int64_t last_ms;
};

static int
due_count_take(void *arg, const uint8_t *key, size_t keylen, const uint8_t *bytes, size_t len)
{
	struct due_count *dc = arg;
	int64_t at = timer_at(key, keylen);

	(void)bytes;
	(void)len;
	if (at > dc->until_ms)
		return 1;
	if (at < 0)
		return 0;
	dc->last_ms = at;
	return ++dc->n >= dc->limit;
}

static enum store_result
due_count(struct store_batch *batch, struct due_count *dc)
{
	const uint8_t prefix = KEY_TIMER;

	if (dc->limit == 0)
		return STORE_OK;
	return store_batch_scan_prefix(batch, STORE_DERIVED, &prefix, 1, due_count_take, dc);
}

enum store_result
state_timers_due(struct store_batch *batch, int64_t as_of_ms, size_t limit, size_t *n)
{
	struct due_count dc = { .until_ms = as_of_ms, .limit = limit };
	enum store_result r = due_count(batch, &dc);

	*n = dc.n;
	return r;
}

enum store_result
state_advance_step(struct store_batch *batch, struct tallies *tallies, int64_t as_of_ms,
    size_t limit, size_t *due, bool *more)
{
	int64_t from = tallies_as_of_ms(tallies), until = as_of_ms;
	struct due_count dc = { .until_ms = as_of_ms, .limit = limit };
	enum store_result r = STORE_OK;

	if (as_of_ms > from)
		r = due_count(batch, &dc);
	/* limit due before as_of_ms: the step ends at the last one's time,
	 * and takes any others due then too. Past the tallies' as-of in any
	 * case, so that every step moves on. */
	if (r == STORE_OK && dc.n == limit && dc.last_ms < as_of_ms)
		until = dc.last_ms > from ? dc.last_ms : from + 1;
	*due = dc.n;
	*more = until < as_of_ms;
	if (r == STORE_OK)
		r = state_advance(batch, tallies, until);
	return r;
}

/* ------------------------------------------------------------ keeping */

static int
flush_record(void *arg, const uint8_t *key, size_t keylen, const uint8_t *bytes, size_t len)
{
	struct store_batch *batch = arg;
	enum store_result r = len == 0 ? store_batch_del_derived(batch, key, keylen)
				       : store_batch_put_derived(batch, key, keylen, bytes, len);

	return r != STORE_OK;
}

enum store_result
state_flush(struct store_batch *batch, struct tallies *tallies)
{
	enum store_result r;
	int rc = tallies_flush(tallies, flush_record, batch);

	if (rc < 0)
		return state_out_of_memory(batch, "writing the running totals");
	r = meta_put(batch, meta_as_of, (uint64_t)tallies_as_of_ms(tallies));
	if (r == STORE_OK)
		r = meta_put(batch, meta_events, store_batch_last_event_sequence(batch));
	return r;
}

static int
load_record(void *arg, const uint8_t *key, size_t keylen, const uint8_t *bytes, size_t len)
{
	/* Out of memory is not the record's: the load fails after the scan. */
	if (tallies_load_record(arg, key, keylen, bytes, len) < 0 && !tallies_failed(arg))
		log_error("state: a stored tally does not decode; skipped (run commissionctl rebuild)");
	return 0;
}

static enum store_result
state_load_tallies(struct store_batch *batch, struct tallies *tallies)
{
	enum store_result r = STORE_OK;
	uint64_t as_of;
	bool found;

	tallies_clear(tallies);
	for (size_t i = 0; r == STORE_OK && i < TALLY_N_GROUPS; i++)
		r = store_batch_scan_prefix(batch, STORE_DERIVED, &tally_groups[i], 1, load_record,
		    tallies);
	if (r == STORE_OK && tallies_failed(tallies))
		r = state_out_of_memory(batch, "loading the running totals");
	if (r == STORE_OK)
		r = meta_get(batch, meta_as_of, &as_of, &found);
	if (r == STORE_OK)
		tallies_set_as_of_ms(tallies, (int64_t)as_of);
	return r;
}

enum store_result
state_load(struct store_batch *batch, struct tallies *tallies, int64_t as_of_ms, bool *remade)
{
	uint64_t events, format;
	bool found, found_format;
	enum store_result r = meta_get(batch, meta_events, &events, &found);

	*remade = false;
	if (r == STORE_OK)
		r = meta_get(batch, meta_format, &format, &found_format);
	if (r != STORE_OK)
		return r;
	if (!found || events != store_batch_last_event_sequence(batch) || !found_format ||
	    format != DERIVED_FORMAT) {
		*remade = true;
		/* A new store has neither: that is no news. */
		if (found || store_batch_last_event_sequence(batch) != 0)
			log_info("state: the derived state does not match the histories; "
				 "remaking it");
		else
			log_debug("state: a new store: making its derived state");
		return state_rebuild_derived(batch, tallies, as_of_ms);
	}
	return state_load_tallies(batch, tallies);
}

uint64_t
state_generation(struct store_batch *batch)
{
	uint64_t generation;
	bool found;

	meta_get(batch, meta_generation, &generation, &found);
	return generation;
}

/* ------------------------------------------------------------ remaking */

struct rebuild {
	struct store_batch *batch;
	struct tallies *tallies;
	char last_patient[65];
	enum store_result r;
};

static int
rebuild_spell(void *arg, const uint8_t *key, size_t keylen, const uint8_t *bytes, size_t len)
{
	struct rebuild *rb = arg;
	struct spell_view empty, sv;
	int loaded;

	memset(&empty, 0, sizeof(empty));
	empty.spell.provider = empty.spell.spell_hex = empty.spell.site = empty.spell.ward = "";
	loaded = spell_view_load(&sv, key, keylen, bytes, len);
	if (loaded < 0) {
		if (history_no_memory(loaded))
			rb->r = state_out_of_memory(rb->batch, "reading a stored history");
		return rb->r != STORE_OK;
	}
	rb->r = state_spell_changed(rb->batch, rb->tallies, key, keylen, &empty.spell, &sv.spell,
	    NULL);
	thing_view_release(&sv.view);
	return rb->r != STORE_OK;
}

static int
rebuild_package(void *arg, const uint8_t *key, size_t keylen, const uint8_t *bytes, size_t len)
{
	struct rebuild *rb = arg;
	struct discharges_package pk;
	struct thing_key k;
	struct thing_view view;
	int loaded;

	loaded = thing_view_load(&view, key, keylen, bytes, len);
	if (loaded < 0) {
		if (history_no_memory(loaded))
			rb->r = state_out_of_memory(rb->batch, "reading a stored history");
		return rb->r != STORE_OK;
	}
	if (package_key(&view.thing, &pk, &k))
		rb->r = store_batch_put_derived(rb->batch, k.bytes, k.len,
		    (const uint8_t *)pk.start_date, strlen(pk.start_date));
	thing_view_release(&view);
	return rb->r != STORE_OK;
}

/* Is key a ready-thing key (kind byte, 64-hex pseudonym, ...) of a person
 * other than last? Ready things are by patient, then provider, so a scan
 * meets each person's in a run. */
static bool
ready_key_new_patient(const uint8_t *key, size_t keylen, const char last[65])
{
	return keylen >= 66 && memcmp(key + 1, last, 64) != 0;
}

/* At a new person's first key, copy the pseudonym to patient and to last;
 * false for a short key or the same person again. */
static bool
ready_key_next_patient(const uint8_t *key, size_t keylen, char last[65], char patient[65])
{
	if (!ready_key_new_patient(key, keylen, last))
		return false;
	memcpy(patient, key + 1, 64);
	patient[64] = '\0';
	memcpy(last, patient, 65);
	return true;
}

static int
rebuild_person(void *arg, const uint8_t *key, size_t keylen, const uint8_t *bytes, size_t len)
{
	struct rebuild *rb = arg;
	char patient[65];

	(void)bytes;
	(void)len;
	if (!ready_key_next_patient(key, keylen, rb->last_patient, patient))
		return 0;
	rb->r = person_apply(rb->batch, rb->tallies, patient, tallies_as_of_ms(rb->tallies), 1, NULL,
	    NULL);
	return rb->r != STORE_OK;
}

enum store_result
state_rebuild_derived(struct store_batch *batch, struct tallies *tallies, int64_t as_of_ms)
{
	struct rebuild rb = { batch, tallies, "", STORE_OK };
	const uint8_t spells = THING_SPELL, packages = THING_PACKAGE, ready = THING_READY;
	uint64_t generation = state_generation(batch);
	enum store_result r;

	tallies_clear(tallies);
	tallies_set_as_of_ms(tallies, as_of_ms);
	r = store_batch_clear_derived(batch);
	/* Spells write the discharges by person, packages the packages by
	 * person; persons read both, so their parts go in last. */
	if (r == STORE_OK)
		r = store_batch_scan_prefix(batch, STORE_HISTORIES, &packages, 1, rebuild_package, &rb);
	if (r == STORE_OK)
		r = store_batch_scan_prefix(batch, STORE_HISTORIES, &spells, 1, rebuild_spell, &rb);
	if (r == STORE_OK)
		r = store_batch_scan_prefix(batch, STORE_HISTORIES, &ready, 1, rebuild_person, &rb);
	if (r == STORE_OK)
		r = rb.r;
	if (r == STORE_OK)
		r = state_flush(batch, tallies);
	if (r == STORE_OK)
		r = meta_put(batch, meta_generation, generation + 1);
	if (r == STORE_OK)
		r = meta_put(batch, meta_format, DERIVED_FORMAT);
	return r;
}

/* ------------------------------------------------------------ cases */

struct cases_out {
	json_t *list;     /* the JSON array, or */
	struct jtext *text; /* its text */
	tallies_icb_fn icb_of;
	void *arg;
};

static void
cases_out_add(void *arg, const struct discharges_case *c)
{
	struct cases_out *co = arg;
	const char *icb = co->icb_of(co->arg, c->provider);

	if (icb == NULL)
		icb = "unmapped";
	if (co->list != NULL) {
		json_array_append_new(co->list, discharges_case_json(c, icb));
		return;
	}
	if (co->text->len > 1)
		jtext_raw(co->text, ",");
	discharges_case_dump(co->text, c, icb);
}

/* The person's cases handed to co. False when the store fails. */
static bool
person_cases_out(struct store_batch *batch, const struct tallies *tallies,
    const char *patient_hex, const char *provider, struct cases_out *co)
{
	struct person p;
	enum store_result r = person_load(batch, patient_hex, &p);
	bool ok;

	if (r == STORE_OK && !p.failed)
		person_cases_each(&p, provider, dates_london_day_of_ms(tallies_as_of_ms(tallies)),
		    cases_out_add, co);
	if (r == STORE_OK && p.failed)
		r = state_out_of_memory(batch, "reading the cases of a person");
	ok = r == STORE_OK;
	person_release(&p);
	return ok;
}

json_t *
state_persons_cases(struct store_batch *batch, const struct tallies *tallies,
    const char (*persons)[65], int n, const char *provider, tallies_icb_fn icb_of, void *arg)
{
	struct cases_out co = { json_array(), NULL, icb_of, arg };

	if (co.list == NULL)
		return NULL;
	for (int i = 0; i < n; i++) {
		if (!person_cases_out(batch, tallies, persons[i], provider, &co)) {
			json_decref(co.list);
			return NULL;
		}
	}
	return co.list;
}

char *
state_persons_cases_text(struct store_batch *batch, const struct tallies *tallies,
    const char (*persons)[65], int n, const char *provider, tallies_icb_fn icb_of, void *arg)
{
	struct jtext text = { 0 };
	struct cases_out co = { NULL, &text, icb_of, arg };

	jtext_raw(&text, "[");
	for (int i = 0; i < n && !text.failed; i++)
		if (!person_cases_out(batch, tallies, persons[i], provider, &co))
			text.failed = true;
	jtext_raw(&text, "]");
	if (text.failed) {
		free(text.text);
		return NULL;
	}
	return text.text;
}

/* ------------------------------------------------------------ areas */

static int
pending_take(void *arg, const uint8_t *key, size_t keylen, const uint8_t *bytes, size_t len)
{
	char copy[THING_KEY_MAX];
	const char *provider, *spell;

	(void)bytes;
	(void)len;
	if (keylen < 2 || keylen > sizeof(copy) || key[keylen - 1] != '\0')
		return 0;
	memcpy(copy, key + 1, keylen - 1);
	provider = copy;
	spell = copy + strlen(copy) + 1;
	if ((size_t)(spell - copy) >= keylen - 1)
		return 0;
	flow_note_discharge_only(arg, provider, spell);
	return 0;
}

/*
 * A reading of an area from the store, in steps: phases, each the records
 * of one prefix in key order, read by its take function; a step may pause
 * before a key where its take allows, once the clock passes until, and the
 * next goes on from that key. The flow fold is one phase (the spells), the
 * flow advance two (the timers due, then the spells discharged but never
 * admitted), the discharges two (the ready reports person by person, then
 * the packages).
 */
struct state_reading;
struct reading_phase {
	enum store_keyed_table table;
	uint8_t prefix;	    /* the kind of thing read */
	store_keyed_fn take; /* the reading its arg */
	void (*done)(struct state_reading *); /* once every record is read; may be NULL */
	const char *what;   /* for a failure: "reading <what>" */
};

struct state_reading {
	struct store_batch *batch;
	struct figures *fig;
	const struct reading_phase *phases;
	size_t n_phases, phase;
	enum store_result r; /* a take's failure */
	double until;	     /* monotonic: pause at the next key where it may */
	size_t taken;	     /* things (people, packages, spells) read in this step */
	uint8_t resume[THING_KEY_MAX];
	size_t resume_len; /* 0: from the phase's first key */
	/* the flow advance's: a copy of the tallies, moving from from_ms */
	struct tallies *tallies;
	int64_t from_ms;
	/* the discharges' */
	state_case_fn fn;
	void *arg;
	char last_patient[65];
	char last_council[THING_KEY_MAX];
	bool stopped;
};

/* Pause here, before key? Once the step has read something and its time
 * is up: key is then where the next step goes on. */
static bool
reading_pause(struct state_reading *sr, const uint8_t *key, size_t keylen)
{
	if (sr->taken == 0 || clock_monotonic_seconds() < sr->until || keylen > sizeof(sr->resume))
		return false;
	memcpy(sr->resume, key, keylen);
	sr->resume_len = keylen;
	return true;
}

static enum store_result
reading_begin(struct store_batch *batch, struct figures *fig, const struct reading_phase *phases,
    size_t n_phases, struct state_reading **out)
{
	struct state_reading *sr = calloc(1, sizeof(*sr));

	*out = sr;
	if (sr == NULL)
		return state_out_of_memory(batch, "reading %s", phases[0].what);
	sr->batch = batch;
	sr->fig = fig;
	sr->phases = phases;
	sr->n_phases = n_phases;
	sr->r = STORE_OK;
	return STORE_OK;
}

enum store_result
state_reading_step(struct state_reading *sr, double until, bool *done)
{
	const struct reading_phase *ph;
	enum store_result r;
	size_t from;

	*done = false;
	sr->until = until;
	sr->taken = 0;
	for (; sr->phase < sr->n_phases; sr->phase++) {
		ph = &sr->phases[sr->phase];
		from = sr->resume_len;
		sr->resume_len = 0;
		r = store_batch_scan_from(sr->batch, ph->table, &ph->prefix, 1, sr->resume, from,
		    ph->take, sr);
		if (r == STORE_OK)
			r = sr->r;
		if (r != STORE_OK) {
			/* a take's failure is said where it failed */
			return r;
		}
		if (sr->resume_len > 0)
			return STORE_OK; /* paused */
		if (ph->done != NULL)
			ph->done(sr);
	}
	*done = true;
	return STORE_OK;
}

void
state_reading_end(struct state_reading **sr)
{
	if (*sr == NULL)
		return;
	tallies_destroy(&(*sr)->tallies);
	free(*sr);
	*sr = NULL;
}

static int
flow_read_spell(void *arg, const uint8_t *key, size_t keylen, const uint8_t *bytes, size_t len)
{
	struct state_reading *sr = arg;
	struct spell_view sv;
	int loaded;

	if (reading_pause(sr, key, keylen))
		return 1;
	sr->taken++;
	loaded = spell_view_load(&sv, key, keylen, bytes, len);
	if (loaded < 0) {
		if (history_no_memory(loaded))
			sr->r = state_out_of_memory(sr->batch, "reading %s",
			    sr->phases[sr->phase].what);
		return sr->r != STORE_OK;
	}
	flow_figures_add_spell(sr->fig, &sv.spell);
	thing_view_release(&sv.view);
	return 0;
}

static const struct reading_phase flow_fold_phases[] = {
	{ STORE_HISTORIES, THING_SPELL, flow_read_spell, NULL, "the spells for the flow figures" },
};

enum store_result
state_flow_fold_begin(struct store_batch *batch, struct figures *fig,
    struct state_reading **reading)
{
	enum store_result r = reading_begin(batch, fig, flow_fold_phases, 1, reading);

	if (r == STORE_OK)
		flow_figures_begin(fig);
	return r;
}

/* A timer due by the figures' as-of: its unit's part moves on the copy.
 * Nothing is written, so each unit is moved once, as state_advance would
 * (unit_move). */
static int
advance_read_timer(void *arg, const uint8_t *key, size_t keylen, const uint8_t *bytes,
    size_t len)
{
	struct state_reading *sr = arg;
	int64_t at = timer_at(key, keylen), next_ms;

	(void)bytes;
	(void)len;
	if (at < 0)
		return 0;
	if (at > sr->fig->as_of_ms)
		return 1; /* timers are in time order: the rest are later */
	if (reading_pause(sr, key, keylen))
		return 1;
	sr->taken++;
	sr->r = unit_move(sr->batch, sr->tallies, key + 9, keylen - 9, sr->from_ms,
	    sr->fig->as_of_ms, &next_ms);
	if (sr->r == STORE_OK && tallies_failed(sr->tallies)) /* figures short of a part */
		sr->r = state_out_of_memory(sr->batch, "moving the running totals for %s",
		    sr->phases[sr->phase].what);
	return sr->r != STORE_OK;
}

/* Every timer due is read: the copy is as of the figures' as-of. */
static void
advance_timers_done(struct state_reading *sr)
{
	tallies_set_as_of_ms(sr->tallies, sr->fig->as_of_ms);
	tallies_flow_area(sr->tallies, sr->fig);
}

static int
advance_read_pending(void *arg, const uint8_t *key, size_t keylen, const uint8_t *bytes,
    size_t len)
{
	struct state_reading *sr = arg;

	if (reading_pause(sr, key, keylen))
		return 1;
	sr->taken++;
	return pending_take(sr->fig, key, keylen, bytes, len);
}

static const struct reading_phase flow_advance_phases[] = {
	{ STORE_DERIVED, KEY_TIMER, advance_read_timer, advance_timers_done,
	    "the timers for the flow figures" },
	{ STORE_DERIVED, KEY_DISCHARGE_ONLY, advance_read_pending, NULL,
	    "the spells discharged but never admitted" },
};

enum store_result
state_flow_advance_begin(struct store_batch *batch, const struct tallies *tallies,
    struct figures *fig, struct state_reading **reading)
{
	enum store_result r;

	if (fig->as_of_ms < tallies_as_of_ms(tallies)) {
		log_error("state: flow as of %" PRId64 " is before the running totals' as-of %" PRId64
			  ": it is folded (state_flow_fold_begin)",
		    fig->as_of_ms, tallies_as_of_ms(tallies));
		*reading = NULL;
		return STORE_FAILED;
	}
	r = reading_begin(batch, fig, flow_advance_phases, 2, reading);
	if (r != STORE_OK)
		return r;
	(*reading)->from_ms = tallies_as_of_ms(tallies);
	(*reading)->tallies = tallies_copy(tallies);
	if ((*reading)->tallies == NULL || tallies_failed((*reading)->tallies)) {
		state_reading_end(reading);
		return state_out_of_memory(batch, "reading the flow figures");
	}
	return STORE_OK;
}

static void
discharges_read_case(void *arg, const struct discharges_case *c)
{
	struct state_reading *sr = arg;
	const char *icb = discharges_figures_count_case(sr->fig, c);

	if (sr->fn == NULL)
		json_array_append_new(json_object_get(json_object_get(sr->fig->root, "discharges"),
					  "cases"),
		    discharges_case_json(c, icb));
	else if (!sr->stopped && sr->fn(sr->arg, c, icb) != 0)
		sr->stopped = true; /* the roll-ups still count every case */
}

/* One person, at their first ready thing: every ready thing of theirs
 * noted, every case counted, in key order. A step pauses only here, at a
 * person's first key. */
static int
discharges_read_ready(void *arg, const uint8_t *key, size_t keylen, const uint8_t *bytes,
    size_t len)
{
	struct state_reading *sr = arg;
	struct person p;
	char patient[65];

	(void)bytes;
	(void)len;
	if (ready_key_new_patient(key, keylen, sr->last_patient) && reading_pause(sr, key, keylen))
		return 1;
	if (!ready_key_next_patient(key, keylen, sr->last_patient, patient))
		return 0;
	sr->taken++;
	sr->r = person_load(sr->batch, patient, &p);
	if (sr->r == STORE_OK && p.failed)
		sr->r = state_out_of_memory(sr->batch, "reading %s", sr->phases[sr->phase].what);
	for (size_t i = 0; sr->r == STORE_OK && i < p.n_ready; i++) {
		discharges_figures_note_ready(sr->fig, &p.ready[i].thing);
		if (discharges_cases_each(&p.world, &p.ready[i].thing, sr->fig->as_of_day,
			discharges_read_case, sr) < 0)
			sr->r = state_out_of_memory(sr->batch, "reading %s",
			    sr->phases[sr->phase].what);
	}
	person_release(&p);
	return sr->r != STORE_OK;
}

static int
discharges_read_package(void *arg, const uint8_t *key, size_t keylen, const uint8_t *bytes,
    size_t len)
{
	struct state_reading *sr = arg;
	const char *council = (const char *)key + 1;

	(void)bytes;
	(void)len;
	if (reading_pause(sr, key, keylen))
		return 1;
	sr->taken++;
	if (keylen < 2 || memchr(council, '\0', keylen - 1) == NULL)
		return 0;
	if (strcmp(council, sr->last_council) != 0) { /* packages are by council */
		discharges_figures_note_council(sr->fig, council);
		text_copy(sr->last_council, sizeof(sr->last_council), council);
	}
	return 0;
}

static const struct reading_phase discharges_phases[] = {
	{ STORE_HISTORIES, THING_READY, discharges_read_ready, NULL, "the delayed-discharge cases" },
	{ STORE_HISTORIES, THING_PACKAGE, discharges_read_package, NULL,
	    "the delayed-discharge cases" },
};

enum store_result
state_discharges_begin(struct store_batch *batch, struct figures *fig, state_case_fn fn,
    void *arg, struct state_reading **reading)
{
	enum store_result r = reading_begin(batch, fig, discharges_phases, 2, reading);

	if (r == STORE_OK) {
		(*reading)->fn = fn;
		(*reading)->arg = arg;
		discharges_figures_begin(fig);
	}
	return r;
}
