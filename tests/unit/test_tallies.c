/*
 * test_tallies: the figures the daemon's flow and delayed-discharge updates
 * carry, cut from the running totals that store/state.c keeps as events
 * apply (projections/tallies.h), are those that place_figures cuts from the
 * whole picture folded afresh, for every update (DOMAIN.md, What the daemon
 * publishes; How every figure is worked out). Random days of ADT events,
 * ready reports and care packages, late reference data and an as-of that
 * moves on, in batches through a real store; then the totals loaded again,
 * and remade from the histories, give the same figures. The flow and
 * discharges areas as the HTTP API reads them (from a moved copy of the
 * totals and the indexes, not every history) are the whole picture's too.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "picture_fixture.h"
#include "state.h"
#include "store.h"
#include "tmpdir_fixture.h"
#include "tallies.h"

#define ROLE(x) COMMISSIONING__ORG_ROLE__ORG_ROLE_##x
#define HOUR_MS 3600000LL
#define DAY0 1778371200000LL /* 2026-05-10T00:00Z */

/* ------------------------------------------------------------ randomness */

static uint64_t rng_state;

static unsigned
rnd(unsigned n)
{
	rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
	return (unsigned)((rng_state >> 33) % n);
}

/* ------------------------------------------------------------ a store */

struct fixture {
	char dir[64];
	char path[96];
	struct store_options opt;
	struct store *store;
	struct tallies *tallies;
	int next_id;
};


static int
setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	char err[256];

	assert_non_null(fx);
	strcpy(fx->dir, "/tmp/test_tallies.XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	snprintf(fx->path, sizeof(fx->path), "%s/store", fx->dir);
	fx->opt = (struct store_options){
		.path = fx->path,
		.map_size_bytes = 64 << 20,
		.map_max_bytes = 64 << 20,
		.sync_mode = STORE_SYNC_NONE,
		.update_retention = 1000,
		.dead_letter_keep_bytes = 64,
	};
	fx->store = store_open(&fx->opt, err, sizeof(err));
	if (fx->store == NULL)
		fail_msg("store_open: %s", err);
	fx->tallies = tallies_new();
	assert_non_null(fx->tallies);
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *fx = *state;

	tallies_destroy(&fx->tallies);
	store_close(&fx->store);
	remove_tree(fx->dir);
	free(fx);
	return 0;
}

/* ------------------------------------------------------------ events */

static const char *const providers[] = { "RAA", "RBB", "RCC" }; /* RCC registered late */
static const char *const sites[] = { "RAA01", "RBB01", "RCC01" };
static const char *const councils[] = { "E10000011", "E10000032", "E06000043" };
#define N_PATIENTS 40
#define N_SPELLS 40
#define N_PACKAGES 10

/* A packed event, fresh id from source. */
static struct packed
pack(struct fixture *fx, Commissioning__Envelope *env, const char *source, int64_t at_ms)
{
	char id[16];
	struct packed p;

	snprintf(id, sizeof(id), "E%05d", ++fx->next_id);
	env->source = (char *)source;
	env->event_id = id;
	env->occurred_at = at_ms;
	p.len = protobuf_c_message_get_packed_size(&env->base);
	p.bytes = malloc(p.len ? p.len : 1);
	assert_non_null(p.bytes);
	protobuf_c_message_pack(&env->base, p.bytes);
	return p;
}

static struct packed
org_event(struct fixture *fx, const char *code, Commissioning__OrgRole role, const char *parent,
    int64_t at_ms)
{
	Commissioning__Envelope env = COMMISSIONING__ENVELOPE__INIT;
	Commissioning__Organisation o = COMMISSIONING__ORGANISATION__INIT;

	o.code = (char *)code;
	o.role = role;
	o.parent_code = (char *)parent;
	env.event_case = COMMISSIONING__ENVELOPE__EVENT_ORGANISATION_REGISTERED;
	env.organisation_registered = &o;
	return pack(fx, &env, "ods", at_ms);
}

/* A time within the week around the as-of's start, to the minute. */
static int64_t
random_time(void)
{
	return DAY0 - 2 * 24 * HOUR_MS + (int64_t)rnd(6 * 24 * 60) * 60000;
}

static void
random_date(char out[11])
{
	figures_date(dates_london_day_of_ms(DAY0) - 2 + (int32_t)rnd(6), out);
}

static struct packed
adt_event(struct fixture *fx)
{
	static const Commissioning__Envelope__EventCase kinds[] = {
		COMMISSIONING__ENVELOPE__EVENT_PATIENT_ADMITTED,
		COMMISSIONING__ENVELOPE__EVENT_PATIENT_ADMITTED,
		COMMISSIONING__ENVELOPE__EVENT_PATIENT_TRANSFERRED,
		COMMISSIONING__ENVELOPE__EVENT_PATIENT_UPDATED,
		COMMISSIONING__ENVELOPE__EVENT_PATIENT_DISCHARGED,
		COMMISSIONING__ENVELOPE__EVENT_PATIENT_DISCHARGED,
		COMMISSIONING__ENVELOPE__EVENT_PATIENT_CANCELLED,
	};
	static const char classes[] = "IIIIIBEOP";
	Commissioning__Envelope env = COMMISSIONING__ENVELOPE__INIT;
	Commissioning__PatientMovement m = COMMISSIONING__PATIENT_MOVEMENT__INIT;
	Commissioning__PatientCancelled c = COMMISSIONING__PATIENT_CANCELLED__INIT;
	uint8_t spell_bytes[32], patient_bytes[32];
	unsigned spell = rnd(N_SPELLS), p = spell % 3;
	/* Mostly the spell's own patient; now and then another names it. */
	uint8_t patient = (uint8_t)(1 + (rnd(5) == 0 ? rnd(N_PATIENTS) : spell % N_PATIENTS));
	char ward[8];

	env.event_case = kinds[rnd(sizeof(kinds) / sizeof(kinds[0]))];
	if (env.event_case == COMMISSIONING__ENVELOPE__EVENT_PATIENT_CANCELLED) {
		c.provider = (char *)providers[p];
		c.spell_pseudonym = pseudonym(spell_bytes, (uint8_t)(100 + spell));
		if (rnd(2))
			c.patient_pseudonym = pseudonym(patient_bytes, patient);
		c.cancels = (Commissioning__CancelTarget)(1 + rnd(3));
		env.patient_cancelled = &c;
		return pack(fx, &env, "hl7", random_time());
	}
	snprintf(ward, sizeof(ward), "W%u", rnd(3));
	m.provider = (char *)providers[p];
	m.spell_pseudonym = pseudonym(spell_bytes, (uint8_t)(100 + spell));
	m.patient_pseudonym = pseudonym(patient_bytes, patient);
	m.site = (char *)(rnd(4) ? sites[p] : "");
	m.ward = rnd(4) ? ward : "";
	m.patient_class = class_of(classes[rnd(sizeof(classes) - 1)]);
	env.patient_admitted = &m; /* the four movements share the slot */
	return pack(fx, &env, "hl7", random_time());
}

static struct packed
ready_event(struct fixture *fx)
{
	Commissioning__Envelope env = COMMISSIONING__ENVELOPE__INIT;
	Commissioning__ReadyForDischarge r = COMMISSIONING__READY_FOR_DISCHARGE__INIT;
	uint8_t patient_bytes[32];
	char date[11];

	random_date(date);
	r.patient_pseudonym = pseudonym(patient_bytes, (uint8_t)(1 + rnd(N_PATIENTS)));
	r.provider = (char *)providers[rnd(3)];
	r.ready_date = date;
	if (rnd(5)) {
		r.opt_pathway_case = COMMISSIONING__READY_FOR_DISCHARGE__OPT_PATHWAY_PATHWAY;
		r.pathway = rnd(4);
	}
	r.council = (char *)(rnd(3) ? councils[rnd(3)] : "");
	env.event_case = COMMISSIONING__ENVELOPE__EVENT_READY_FOR_DISCHARGE;
	env.ready_for_discharge = &r;
	return pack(fx, &env, "sitrep", random_time());
}

static struct packed
package_event(struct fixture *fx)
{
	Commissioning__Envelope env = COMMISSIONING__ENVELOPE__INIT;
	Commissioning__CarePackage p = COMMISSIONING__CARE_PACKAGE__INIT;
	uint8_t patient_bytes[32];
	char start[11], end[11], id[16];
	unsigned n = rnd(N_PACKAGES);

	random_date(start);
	random_date(end);
	snprintf(id, sizeof(id), "PKG-%u", n);
	p.patient_pseudonym = pseudonym(patient_bytes, (uint8_t)(1 + rnd(N_PATIENTS)));
	p.council = (char *)councils[n % 3];
	p.package_id = id;
	p.start_date = start;
	p.end_date = end;
	env.event_case = rnd(4) ? COMMISSIONING__ENVELOPE__EVENT_CARE_PACKAGE_STARTED
				: COMMISSIONING__ENVELOPE__EVENT_CARE_PACKAGE_ENDED;
	env.care_package_started = &p; /* started and ended share the slot */
	return pack(fx, &env, p.council, random_time());
}

static struct packed
random_event(struct fixture *fx, int n)
{
	unsigned what = rnd(10);

	/* RCC and its site join QNX late: its figures move from unmapped. */
	if (n == 300)
		return org_event(fx, "RCC", ROLE(TRUST), "QNX", DAY0 - 24 * HOUR_MS);
	if (what < 6)
		return adt_event(fx);
	if (what < 8)
		return ready_event(fx);
	return package_event(fx);
}

/* ------------------------------------------------------------ the two sides */

static const char *
batch_icb_of(void *arg, const char *provider)
{
	return picture_icb_of(arg, provider);
}

static int
picture_take(void *arg, const uint8_t *key, size_t keylen, const uint8_t *bytes, size_t len)
{
	assert_int_equal(picture_add_history(arg, key, keylen, bytes, len), 0);
	return 0;
}

/* The whole picture as the batch holds it. */
static struct picture *
picture_of_batch(struct store_batch *batch)
{
	struct picture *p = picture_new();

	assert_non_null(p);
	assert_int_equal(store_batch_scan_prefix(batch, STORE_HISTORIES, NULL, 0, picture_take, p),
	    STORE_OK);
	picture_seal(p);
	return p;
}

static bool
is_package_event(const Commissioning__Envelope *env)
{
	return env->event_case == COMMISSIONING__ENVELOPE__EVENT_CARE_PACKAGE_STARTED ||
	    env->event_case == COMMISSIONING__ENVELOPE__EVENT_CARE_PACKAGE_ENDED;
}

/* The place's figures from the tallies, as the daemon composes them. */
static json_t *
tallied(struct store_batch *batch, struct tallies *t, struct picture *p, const char *area,
    const char *icb, const char *code, const Commissioning__Envelope *env,
    const struct state_change *change)
{
	const char *provider = is_package_event(env) ? NULL : code;
	json_t *cases;

	if (strcmp(area, "flow") == 0)
		return tallies_flow_figures(t, code, icb, dates_london_day_of_ms(env->occurred_at),
		    batch_icb_of, p);
	cases = state_persons_cases(batch, t, (const char (*)[65])change->persons,
	    change->n_persons, provider, batch_icb_of, p);
	assert_non_null(cases);
	/* The text the daemon publishes: the very bytes jansson makes of them. */
	{
		char *text = state_persons_cases_text(batch, t, (const char (*)[65])change->persons,
		    change->n_persons, provider, batch_icb_of, p);
		char *dumped = json_dumps(cases, JSON_COMPACT);
		assert_non_null(text);
		assert_non_null(dumped);
		assert_string_equal(text, dumped);
		free(text);
		free(dumped);
	}
	return json_pack("{s:o, s:o, s:o}", "cases", cases, "icb",
	    tallies_delays_icb(t, icb, batch_icb_of, p), "councils", tallies_delays_councils(t));
}

static void
expect_same(json_t *expected, json_t *actual, const char *what)
{
	if (!json_equal(expected, actual)) {
		char *e = json_dumps(expected, JSON_COMPACT | JSON_SORT_KEYS);
		char *a = json_dumps(actual, JSON_COMPACT | JSON_SORT_KEYS);
		fprintf(stderr, "%s:\n expected %s\n      got %s\n", what, e, a);
		free(e);
		free(a);
		fail();
	}
}

/* The delayed-discharge cases of the whole picture the batch holds, as of
 * the tallies' as-of, without their ICB: a registration moves that, and
 * is published on the organisations area. */
static json_t *
cases_of_batch(struct store_batch *batch, const struct tallies *t)
{
	struct picture *p = picture_of_batch(batch);
	json_t *figures = picture_figures(p, "discharges", tallies_as_of_ms(t));
	json_t *cases = json_incref(json_object_get(json_object_get(figures, "discharges"), "cases"));
	size_t i;
	json_t *c;

	assert_non_null(cases);
	json_array_foreach(cases, i, c)
		json_object_del(c, "icb");
	json_decref(figures);
	picture_destroy(&p);
	return cases;
}

static bool
list_has(json_t *list, json_t *item)
{
	size_t i;
	json_t *x;

	json_array_foreach(list, i, x)
		if (json_equal(x, item))
			return true;
	return false;
}

/* Did an update of the batch carry the case of patient at provider: a
 * discharges place whose persons include patient, at provider or (a care
 * package's) anywhere? */
static bool
case_published(const char *patient, const char *provider, struct packed *events,
    const struct state_change *changes, size_t n)
{
	bool found = false;

	for (size_t i = 0; i < n && !found; i++) {
		Commissioning__Envelope *env =
		    commissioning__envelope__unpack(NULL, events[i].len, events[i].bytes);
		assert_non_null(env);
		for (int k = 0; k < changes[i].n_places && !found; k++) {
			if (strcmp(changes[i].places[k].area, "discharges") != 0 ||
			    (!is_package_event(env) && strcmp(changes[i].places[k].code, provider) != 0))
				continue;
			for (int j = 0; j < changes[i].n_persons; j++)
				found = found || strcmp(changes[i].persons[j], patient) == 0;
		}
		commissioning__envelope__free_unpacked(env, NULL);
	}
	return found;
}

static size_t spell_cases_published; /* discharges places of ADT events */

/* Every case the batch changed (before: the cases as the batch found them,
 * at the same as-of) was carried by one of its updates: a subscriber to the
 * discharges area never keeps a case the batch changed as it was. */
static void
check_changed_cases_published(struct store_batch *batch, struct tallies *t, json_t *before,
    struct packed *events, struct state_change *changes, size_t n)
{
	json_t *after = cases_of_batch(batch, t);
	json_t *lists[2] = { before, after };

	for (int side = 0; side < 2; side++) {
		size_t i;
		json_t *c;

		json_array_foreach(lists[side], i, c) {
			const char *patient = json_string_value(json_object_get(c, "patient"));
			const char *provider = json_string_value(json_object_get(c, "provider"));
			if (list_has(lists[1 - side], c))
				continue;
			if (!case_published(patient, provider, events, changes, n)) {
				char *text = json_dumps(c, JSON_COMPACT | JSON_SORT_KEYS);
				fprintf(stderr, "a case the batch %s was not published: %s\n",
				    side == 0 ? "changed or closed" : "made or changed", text);
				free(text);
				fail();
			}
		}
	}
	json_decref(after);
	for (size_t i = 0; i < n; i++) {
		Commissioning__Envelope *env =
		    commissioning__envelope__unpack(NULL, events[i].len, events[i].bytes);
		assert_non_null(env);
		for (int k = 0; k < changes[i].n_places; k++)
			if (strcmp(changes[i].places[k].area, "discharges") == 0 &&
			    !place_event_person(env, (char[65]){ 0 }))
				spell_cases_published++;
		commissioning__envelope__free_unpacked(env, NULL);
	}
}

/* Every update of the batch: the tallies' figures are the picture's. */
static void
check_updates(struct store_batch *batch, struct tallies *t, struct packed *events,
    struct state_change *changes, size_t n)
{
	struct picture *p = picture_of_batch(batch);
	json_t *flow = picture_figures(p, "flow", tallies_as_of_ms(t));
	json_t *discharges = picture_figures(p, "discharges", tallies_as_of_ms(t));

	for (size_t i = 0; i < n; i++) {
		Commissioning__Envelope *env =
		    commissioning__envelope__unpack(NULL, events[i].len, events[i].bytes);
		assert_non_null(env);
		for (int k = 0; k < changes[i].n_places; k++) {
			const char *area = changes[i].places[k].area;
			const char *icb = changes[i].places[k].icb, *code = changes[i].places[k].code;
			json_t *expected, *actual;
			char what[512];

			if (strcmp(area, "flow") != 0 && strcmp(area, "discharges") != 0)
				continue;
			struct place_cut cut = { p, (const char (*)[65])changes[i].persons,
				changes[i].n_persons };

			expected = place_figures(strcmp(area, "flow") == 0 ? flow : discharges, area,
			    icb, code, env, &cut, dates_london_day_of_ms(env->occurred_at));
			actual = tallied(batch, t, p, area, icb, code, env, &changes[i]);
			snprintf(what, sizeof(what), "%s.%s.%s after %s/%s", area, icb, code,
			    env->source, env->event_id);
			expect_same(expected, actual, what);
			json_decref(expected);
			json_decref(actual);
		}
		commissioning__envelope__free_unpacked(env, NULL);
	}
	json_decref(flow);
	json_decref(discharges);
	picture_destroy(&p);
}

/* The flow and discharges areas as the HTTP API reads them (daemon/live.c):
 * flow from a copy of the tallies moved to as_of with the index of
 * discharge-only spells, discharges from the ready reports and the indexes
 * by person; with the cases handed one at a time when paged. */
static int
case_take(void *arg, const struct discharges_case *c, const char *icb)
{
	json_array_append_new(arg, discharges_case_json(c, icb));
	return 0;
}

/* Read a reading to its end, each step until (0: one thing a step,
 * INFINITY: all in one), and end it: the steps it took. */
static size_t
read_to_end(struct state_reading *reading, double until)
{
	bool done = false;
	size_t steps = 0;

	while (!done) {
		assert_int_equal(state_reading_step(reading, until, &done), STORE_OK);
		steps++;
	}
	state_reading_end(&reading);
	return steps;
}

static json_t *
area_read(struct store_batch *batch, const struct tallies *t, const struct picture *p,
    const char *area, int64_t as_of, bool handed)
{
	struct figures fig;
	json_t *cases = json_array();

	assert_int_equal(figures_begin(&fig, p, as_of), 0);
	if (strcmp(area, "flow") == 0) {
		/* Moved on by the timers due: in one step, or a timer (or a
		 * spell discharged but never admitted) a step. */
		struct state_reading *reading;

		assert_int_equal(state_flow_advance_begin(batch, t, &fig, &reading), STORE_OK);
		if (!handed)
			assert_int_equal(read_to_end(reading, INFINITY), 1);
		else
			read_to_end(reading, 0);
	} else {
		/* Listed in one step; or handed one at a time in steps, as the
		 * daemon reads them: one person (or package) a step, each going
		 * on from where the last paused. */
		struct state_reading *reading;

		assert_int_equal(state_discharges_begin(batch, &fig, handed ? case_take : NULL,
				     cases, &reading),
		    STORE_OK);
		if (!handed) {
			assert_int_equal(read_to_end(reading, INFINITY), 1);
		} else {
			assert_true(read_to_end(reading, 0) > 1);
			/* the list stays empty: put back what was handed */
			json_object_set(json_object_get(fig.root, "discharges"), "cases", cases);
		}
	}
	json_decref(cases);
	return fig.root;
}

/* The areas as the HTTP API reads them are the whole picture's, at the
 * tallies' as-of and after it (timers fall due on a copy of the tallies),
 * and a fold of the spells one at a time is the picture's at any as-of.
 * batch is a read batch: reading the areas writes nothing. */
static void
check_areas(struct store_batch *batch, struct tallies *t, int64_t later)
{
	struct picture *p = picture_of_batch(batch);
	int64_t as_ofs[] = { tallies_as_of_ms(t), later };
	json_t *before = area_read(batch, t, p, "flow", tallies_as_of_ms(t), false);

	for (size_t i = 0; i < sizeof(as_ofs) / sizeof(as_ofs[0]); i++) {
		static const char *const areas[] = { "flow", "discharges" };
		for (size_t a = 0; a < 2; a++) {
			json_t *expected = picture_figures(p, areas[a], as_ofs[i]);
			json_t *actual = area_read(batch, t, p, areas[a], as_ofs[i], i == 1);
			char what[64];
			snprintf(what, sizeof(what), "the %s area as read, as of %lld", areas[a],
			    (long long)as_ofs[i]);
			expect_same(expected, actual, what);
			json_decref(expected);
			json_decref(actual);
		}
	}
	/* Folded spell by spell, before the tallies' as-of: at once, and in
	 * steps of one spell, each going on from where the last paused. */
	{
		struct figures fig;
		struct state_reading *reading;
		int64_t earlier = tallies_as_of_ms(t) - (int64_t)rnd(48 * 60) * 60000;
		json_t *expected = picture_figures(p, "flow", earlier);

		assert_int_equal(figures_begin(&fig, p, earlier), 0);
		assert_int_equal(state_flow_fold_begin(batch, &fig, &reading), STORE_OK);
		assert_int_equal(read_to_end(reading, INFINITY), 1);
		expect_same(expected, fig.root, "the flow area folded spell by spell");
		json_decref(fig.root);
		assert_int_equal(figures_begin(&fig, p, earlier), 0);
		assert_int_equal(state_flow_fold_begin(batch, &fig, &reading), STORE_OK);
		assert_true(read_to_end(reading, 0) > 1);
		expect_same(expected, fig.root, "the flow area folded a spell a step");
		json_decref(expected);
		json_decref(fig.root);
	}
	/* The copy moved; the tallies did not. */
	{
		json_t *after = area_read(batch, t, p, "flow", tallies_as_of_ms(t), false);
		expect_same(before, after, "the tallies, after their copy moved on");
		json_decref(after);
	}
	json_decref(before);
	picture_destroy(&p);
}

/* Every figure the tallies can give, for comparing two sets of them. */
static json_t *
everything(struct store_batch *batch, struct tallies *t)
{
	struct picture *p = picture_of_batch(batch);
	json_t *all = json_object();
	int32_t day0 = dates_london_day_of_ms(DAY0);
	char key[64];

	for (size_t i = 0; i < 3; i++)
		for (int32_t d = day0 - 3; d <= day0 + 4; d++) {
			const char *icb = picture_icb_of(p, providers[i]);
			snprintf(key, sizeof(key), "flow %s %d", providers[i], (int)d);
			json_object_set_new(all, key,
			    tallies_flow_figures(t, providers[i], icb ? icb : "unmapped", d,
				batch_icb_of, p));
		}
	json_object_set_new(all, "icb QNX", tallies_delays_icb(t, "QNX", batch_icb_of, p));
	json_object_set_new(all, "icb unmapped", tallies_delays_icb(t, "unmapped", batch_icb_of, p));
	json_object_set_new(all, "councils", tallies_delays_councils(t));
	/* The flow area: the sites', wards' and spells' totals. */
	json_object_set_new(all, "flow area",
	    area_read(batch, t, p, "flow", tallies_as_of_ms(t), false));
	picture_destroy(&p);
	return all;
}

/* state_advance in steps of at most limit timers (but those due in the same
 * millisecond), as the daemon catches up after a long stop: each step but
 * the last moves limit and ends before as_of, each moves the as-of on.
 * The steps taken. */
static int
advance_in_steps(struct store_batch *batch, struct tallies *t, int64_t as_of, size_t limit)
{
	bool more = true;
	int steps = 0;

	while (more) {
		int64_t from = tallies_as_of_ms(t);
		size_t due;

		assert_int_equal(state_advance_step(batch, t, as_of, limit, &due, &more), STORE_OK);
		assert_true(due <= limit);
		assert_true(more == (tallies_as_of_ms(t) < as_of));
		if (more) {
			assert_int_equal(due, limit);
			assert_true(tallies_as_of_ms(t) > from);
		}
		steps++;
	}
	assert_true(tallies_as_of_ms(t) >= as_of);
	return steps;
}

static void
test_tallied_figures_are_those_of_the_whole_picture(void **state)
{
	struct fixture *fx = *state;
	struct state_context ctx = { .tallies = fx->tallies };
	struct store_batch *batch;
	struct packed events[64];
	struct state_change changes[64];
	int64_t as_of = DAY0 - 36 * HOUR_MS;
	json_t *kept, *loaded, *remade, *cases_before;
	bool was_remade;
	int n = 0, most_steps = 0;

	rng_state = 2026;
	/* Reference data first: QNX, RAA and RBB with their sites. */
	assert_int_equal(store_batch_begin(fx->store, &batch), STORE_OK);
	assert_int_equal(state_load(batch, fx->tallies, as_of, &was_remade), STORE_OK);
	{
		struct packed orgs[] = {
			org_event(fx, "QNX", ROLE(ICB), "Y59", DAY0 - 48 * HOUR_MS),
			org_event(fx, "RAA", ROLE(TRUST), "QNX", DAY0 - 48 * HOUR_MS),
			org_event(fx, "RBB", ROLE(TRUST), "QNX", DAY0 - 48 * HOUR_MS),
			org_event(fx, "E10000011", ROLE(LOCAL_AUTHORITY), "QNX", DAY0 - 48 * HOUR_MS),
		};
		for (size_t i = 0; i < sizeof(orgs) / sizeof(orgs[0]); i++) {
			Commissioning__Envelope *env =
			    commissioning__envelope__unpack(NULL, orgs[i].len, orgs[i].bytes);
			assert_int_equal(state_apply(batch, &ctx, env, orgs[i].bytes, orgs[i].len, NULL),
			    STORE_OK);
			commissioning__envelope__free_unpacked(env, NULL);
			free(orgs[i].bytes);
		}
	}
	assert_int_equal(state_flush(batch, fx->tallies), STORE_OK);
	assert_int_equal(store_batch_commit(&batch), STORE_OK);

	while (n < 1200) {
		size_t size = 1 + rnd(40);

		/* The as-of moves on by up to six hours: admissions, discharges
		 * and ready dates pass it. */
		as_of += (int64_t)rnd(6 * 60) * 60000;
		assert_int_equal(store_batch_begin(fx->store, &batch), STORE_OK);
		/* At once, as a batch does, or a few timers a step. */
		if (rnd(2) == 0)
			assert_int_equal(state_advance(batch, fx->tallies, as_of), STORE_OK);
		else {
			int steps = advance_in_steps(batch, fx->tallies, as_of, 1 + rnd(3));
			most_steps = steps > most_steps ? steps : most_steps;
		}
		cases_before = cases_of_batch(batch, fx->tallies);
		for (size_t i = 0; i < size; i++, n++) {
			Commissioning__Envelope *env;

			events[i] = random_event(fx, n);
			env = commissioning__envelope__unpack(NULL, events[i].len, events[i].bytes);
			assert_non_null(env);
			assert_int_equal(state_apply(batch, &ctx, env, events[i].bytes, events[i].len,
					     &changes[i]),
			    STORE_OK);
			commissioning__envelope__free_unpacked(env, NULL);
		}
		assert_int_equal(state_flush(batch, fx->tallies), STORE_OK);
		check_updates(batch, fx->tallies, events, changes, size);
		check_changed_cases_published(batch, fx->tallies, cases_before, events, changes, size);
		json_decref(cases_before);
		assert_int_equal(store_batch_commit(&batch), STORE_OK);
		/* Now and then, the areas as the HTTP API reads them, in a read
		 * batch (as the daemon reads them): reading them writes nothing. */
		if (rnd(4) == 0) {
			assert_int_equal(store_batch_begin_read(fx->store, &batch), STORE_OK);
			check_areas(batch, fx->tallies, as_of + (int64_t)rnd(72 * 60) * 60000);
			store_batch_abort(&batch);
		}
		for (size_t i = 0; i < size; i++)
			free(events[i].bytes);
	}

	assert_true(most_steps >= 3);
	/* ADT events that moved cases were published on discharges too. */
	assert_true(spell_cases_published >= 10);

	/* The same totals loaded afresh, and remade from the histories. */
	assert_int_equal(store_batch_begin(fx->store, &batch), STORE_OK);
	kept = everything(batch, fx->tallies);
	assert_int_equal(state_load(batch, fx->tallies, as_of, &was_remade), STORE_OK);
	assert_false(was_remade);
	loaded = everything(batch, fx->tallies);
	expect_same(kept, loaded, "the tallies loaded again");
	assert_int_equal(state_rebuild_derived(batch, fx->tallies, as_of), STORE_OK);
	remade = everything(batch, fx->tallies);
	expect_same(kept, remade, "the tallies remade from the histories");
	store_batch_abort(&batch);
	json_decref(kept);
	json_decref(loaded);
	json_decref(remade);
}

/* A store whose derived state lags its event log (written by a build
 * that kept only the histories) is remade when loaded. */
static void
test_derived_state_behind_the_log_is_remade(void **state)
{
	struct fixture *fx = *state;
	struct store_batch *batch;
	bool remade;
	uint64_t seq;
	uint8_t hash[STORE_HASH_BYTES] = { 0 };

	assert_int_equal(store_batch_begin(fx->store, &batch), STORE_OK);
	assert_int_equal(state_load(batch, fx->tallies, DAY0, &remade), STORE_OK);
	assert_true(remade); /* a new store: nothing derived yet */
	assert_int_equal(store_batch_commit(&batch), STORE_OK);
	assert_int_equal(store_batch_begin(fx->store, &batch), STORE_OK);
	assert_int_equal(state_load(batch, fx->tallies, DAY0, &remade), STORE_OK);
	assert_false(remade);
	/* An event logged with no derived state moved. */
	assert_int_equal(store_batch_append_event(batch, "s", "e1", hash, (const uint8_t *)"x", 1,
			     &seq),
	    STORE_OK);
	assert_int_equal(store_batch_commit(&batch), STORE_OK);
	assert_int_equal(store_batch_begin(fx->store, &batch), STORE_OK);
	assert_int_equal(state_load(batch, fx->tallies, DAY0, &remade), STORE_OK);
	assert_true(remade);
	assert_int_equal(store_batch_commit(&batch), STORE_OK);
	/* Derived state of format 2 (the indexes by person keyed by hex) is
	 * remade too. */
	assert_int_equal(store_batch_begin(fx->store, &batch), STORE_OK);
	{
		const uint8_t two[8] = { 0, 0, 0, 0, 0, 0, 0, 2 };
		assert_int_equal(store_batch_put_derived(batch, (const uint8_t *)"Mformat", 7, two, 8),
		    STORE_OK);
	}
	assert_int_equal(store_batch_commit(&batch), STORE_OK);
	assert_int_equal(store_batch_begin(fx->store, &batch), STORE_OK);
	assert_int_equal(state_load(batch, fx->tallies, DAY0, &remade), STORE_OK);
	assert_true(remade);
	store_batch_abort(&batch);
}

/* One batch as the daemon's ingest makes it, without the event log: the
 * tallies brought to as_of, the event applied, the tallies kept unless
 * flush is false. */
static void
commit_state_batch(struct fixture *fx, struct packed ev, int64_t as_of, bool flush)
{
	struct state_context ctx = { .tallies = fx->tallies };
	struct store_batch *batch;
	Commissioning__Envelope *env = commissioning__envelope__unpack(NULL, ev.len, ev.bytes);
	struct state_change change;

	assert_non_null(env);
	assert_int_equal(store_batch_begin(fx->store, &batch), STORE_OK);
	assert_int_equal(state_advance(batch, fx->tallies, as_of), STORE_OK);
	assert_int_equal(state_apply(batch, &ctx, env, ev.bytes, ev.len, &change), STORE_OK);
	assert_true(change.n_places > 0); /* its places are published all the same */
	if (flush)
		assert_int_equal(state_flush(batch, fx->tallies), STORE_OK);
	assert_int_equal(store_batch_commit(&batch), STORE_OK);
	commissioning__envelope__free_unpacked(env, NULL);
	free(ev.bytes);
}

/* An event that leaves its history as it was (an organisation's record
 * older than the one that stands) writes no page: neither the history
 * nor the derived state is put again. (The daemon's batch writes the
 * tallies' as-of all the same: it moves with every commit.) */
static void
test_an_event_that_changes_no_history_writes_no_page(void **state)
{
	struct fixture *fx = *state;
	struct store_batch *batch;
	const uint8_t key[] = { 'O', 'R', 'A', 'A', '\0' };
	const uint8_t *bytes;
	size_t len;
	uint8_t *stood;
	size_t stood_len;
	bool remade;
	uint64_t written;

	assert_int_equal(store_batch_begin(fx->store, &batch), STORE_OK);
	assert_int_equal(state_load(batch, fx->tallies, DAY0, &remade), STORE_OK);
	assert_int_equal(store_batch_commit(&batch), STORE_OK);
	commit_state_batch(fx, org_event(fx, "RAA", ROLE(TRUST), "QNX", DAY0), DAY0, true);
	written = store_last_write(fx->store);
	assert_true(written > 0);

	/* The same trust as it was registered an hour before: it does not stand. */
	commit_state_batch(fx, org_event(fx, "RAA", ROLE(TRUST), "QNY", DAY0 - HOUR_MS), DAY0,
	    false);
	assert_int_equal(store_last_write(fx->store), written);

	assert_int_equal(store_batch_begin(fx->store, &batch), STORE_OK);
	assert_int_equal(store_batch_get_history(batch, key, sizeof(key), &bytes, &len), STORE_OK);
	assert_true(len > 0);
	stood = malloc(len);
	assert_non_null(stood);
	memcpy(stood, bytes, len);
	stood_len = len;
	store_batch_abort(&batch);

	/* Registered again an hour after: it stands, and is written. */
	commit_state_batch(fx, org_event(fx, "RAA", ROLE(TRUST), "QNY", DAY0 + HOUR_MS), DAY0,
	    false);
	assert_true(store_last_write(fx->store) > written);
	assert_int_equal(store_batch_begin(fx->store, &batch), STORE_OK);
	assert_int_equal(store_batch_get_history(batch, key, sizeof(key), &bytes, &len), STORE_OK);
	assert_true(len != stood_len || memcmp(bytes, stood, len) != 0);
	store_batch_abort(&batch);
	free(stood);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_tallied_figures_are_those_of_the_whole_picture, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_derived_state_behind_the_log_is_remade, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_an_event_that_changes_no_history_writes_no_page, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
