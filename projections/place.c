/*
 * place: where in the picture an accepted event shows, for the topic of
 * its update (<area>.<icb>.<code>, DOMAIN.md "What the daemon publishes").
 */
#include <stdio.h>
#include <string.h>

#include "projections.h"
#include "service.h"
#include "text.h"

static int
place_set(struct place *p, const char *area, const char *code, bool commissioner)
{
	p->area = area;
	p->code = code;
	p->commissioner = commissioner;
	return 1;
}

/* The last event of kind in history's fold order, unpacked into *scratch
 * (the caller frees it), or NULL; when commissioner is not NULL (kind is
 * then a service's move), the last under another commissioner than that.
 * The last award or declaration is the one that stands: one sent again is
 * a correction (DOMAIN.md, Order and repetition). */
static Commissioning__Envelope *
history_find_not_under(const Commissioning__History *history,
    Commissioning__Envelope__EventCase kind, const char *commissioner,
    Commissioning__Envelope **scratch)
{
	for (size_t i = history != NULL ? history->n_entries : 0; i-- > 0;) {
		const ProtobufCBinaryData *b = &history->entries[i]->envelope;
		Commissioning__Envelope *env = commissioning__envelope__unpack(NULL, b->len, b->data);
		if (env == NULL)
			continue;
		if (env->event_case == kind &&
		    (commissioner == NULL ||
			strcmp(env->service_status_changed->commissioner, commissioner) != 0)) {
			*scratch = env;
			return env;
		}
		commissioning__envelope__free_unpacked(env, NULL);
	}
	return NULL;
}

/* The event of kind that stands in history, as above. */
static Commissioning__Envelope *
history_find(const Commissioning__History *history, Commissioning__Envelope__EventCase kind,
    Commissioning__Envelope **scratch)
{
	return history_find_not_under(history, kind, NULL, scratch);
}

bool
thing_places_need_history(const Commissioning__Envelope *env)
{
	switch (env->event_case) {
	case COMMISSIONING__ENVELOPE__EVENT_CONTRACT_VARIED:
	case COMMISSIONING__ENVELOPE__EVENT_CONTRACT_TERMINATED:
	case COMMISSIONING__ENVELOPE__EVENT_INTEREST_WITHDRAWN:
		return true;
	default:
		return false;
	}
}

int
thing_places(const Commissioning__Envelope *env, const Commissioning__History *history,
    struct place places[PLACES_MAX], Commissioning__Envelope **scratch)
{
	const Commissioning__Envelope *found;

	*scratch = NULL;
	switch (env->event_case) {
	case COMMISSIONING__ENVELOPE__EVENT_ORGANISATION_REGISTERED:
	case COMMISSIONING__ENVELOPE__EVENT_ORGANISATION_UPDATED:
		return place_set(&places[0], "organisations", env->organisation_registered->code, false);
	case COMMISSIONING__ENVELOPE__EVENT_SERVICE_STATUS_CHANGED: {
		const Commissioning__ServiceStatusChanged *s = env->service_status_changed;
		/* A service's move changes its commissioned places and the
		 * capacity at risk: both are published at once. A move from
		 * commissioned to decommissioned or closed also raises a
		 * governance alert (DOMAIN.md, Services). */
		int n = place_set(&places[0], "services", s->commissioner, true);
		n += place_set(&places[1], "capacity", s->commissioner, true);
		if (service_move_is_closure_without_consultation(s))
			n += place_set(&places[2], "governance", s->commissioner, true);
		return n;
	}
	case COMMISSIONING__ENVELOPE__EVENT_CONTRACT_AWARDED:
		/* A decision: its money, and the conflict alerts it may raise. */
		place_set(&places[0], "finance", env->contract_awarded->commissioner, true);
		return 1 + place_set(&places[1], "governance", env->contract_awarded->commissioner, true);
	case COMMISSIONING__ENVELOPE__EVENT_CONTRACT_VARIED:
	case COMMISSIONING__ENVELOPE__EVENT_CONTRACT_TERMINATED: {
		bool decision = env->event_case == COMMISSIONING__ENVELOPE__EVENT_CONTRACT_VARIED;
		const char *code;
		found = history_find(history, COMMISSIONING__ENVELOPE__EVENT_CONTRACT_AWARDED, scratch);
		/* Pending until its award: known by the contract alone. */
		code = found != NULL ? found->contract_awarded->commissioner
		    : decision	     ? env->contract_varied->contract_id
				     : env->contract_terminated->contract_id;
		place_set(&places[0], "finance", code, true);
		return decision ? 1 + place_set(&places[1], "governance", code, true) : 1;
	}
	case COMMISSIONING__ENVELOPE__EVENT_BUDGET_ALLOCATED:
		return place_set(&places[0], "finance", env->budget_allocated->commissioner, true);
	case COMMISSIONING__ENVELOPE__EVENT_SPEND_RECORDED:
		return place_set(&places[0], "finance", env->spend_recorded->commissioner, true);
	case COMMISSIONING__ENVELOPE__EVENT_PATIENT_ADMITTED:
	case COMMISSIONING__ENVELOPE__EVENT_PATIENT_TRANSFERRED:
	case COMMISSIONING__ENVELOPE__EVENT_PATIENT_DISCHARGED:
	case COMMISSIONING__ENVELOPE__EVENT_PATIENT_UPDATED:
		return place_set(&places[0], "flow", env->patient_admitted->provider, false);
	case COMMISSIONING__ENVELOPE__EVENT_PATIENT_CANCELLED:
		return place_set(&places[0], "flow", env->patient_cancelled->provider, false);
	case COMMISSIONING__ENVELOPE__EVENT_READY_FOR_DISCHARGE:
		return place_set(&places[0], "discharges", env->ready_for_discharge->provider, false);
	case COMMISSIONING__ENVELOPE__EVENT_CARE_PACKAGE_STARTED:
	case COMMISSIONING__ENVELOPE__EVENT_CARE_PACKAGE_ENDED:
		return place_set(&places[0], "discharges", env->care_package_started->council, true);
	case COMMISSIONING__ENVELOPE__EVENT_CAPACITY_REPORTED:
		return place_set(&places[0], "capacity", env->capacity_reported->organisation, false);
	case COMMISSIONING__ENVELOPE__EVENT_INTEREST_DECLARED:
		return place_set(&places[0], "governance", env->interest_declared->organisation, false);
	case COMMISSIONING__ENVELOPE__EVENT_INTEREST_WITHDRAWN:
		found = history_find(history, COMMISSIONING__ENVELOPE__EVENT_INTEREST_DECLARED, scratch);
		return place_set(&places[0], "governance",
		    found != NULL ? found->interest_declared->organisation
				  : env->interest_withdrawn->declaration_id,
		    false);
	default:
		return 0;
	}
}

int
thing_places_before(const Commissioning__Envelope *env, const Commissioning__History *before,
    struct place places[PLACES_MAX], Commissioning__Envelope **scratch)
{
	const Commissioning__Envelope *found;

	*scratch = NULL;
	switch (env->event_case) {
	case COMMISSIONING__ENVELOPE__EVENT_CONTRACT_AWARDED:
		found = history_find(before, COMMISSIONING__ENVELOPE__EVENT_CONTRACT_AWARDED, scratch);
		if (found == NULL)
			return 0;
		place_set(&places[0], "finance", found->contract_awarded->commissioner, true);
		return 1 + place_set(&places[1], "governance", found->contract_awarded->commissioner,
			       true);
	case COMMISSIONING__ENVELOPE__EVENT_SPEND_RECORDED:
		found = history_find(before, COMMISSIONING__ENVELOPE__EVENT_SPEND_RECORDED, scratch);
		return found != NULL
		    ? place_set(&places[0], "finance", found->spend_recorded->commissioner, true)
		    : 0;
	case COMMISSIONING__ENVELOPE__EVENT_INTEREST_DECLARED:
		found = history_find(before, COMMISSIONING__ENVELOPE__EVENT_INTEREST_DECLARED, scratch);
		return found != NULL ? place_set(&places[0], "governance",
					   found->interest_declared->organisation, false)
				     : 0;
	case COMMISSIONING__ENVELOPE__EVENT_SERVICE_STATUS_CHANGED:
		/* A service handed to another commissioner leaves the last one
		 * it had: its commissioned places and capacity at risk change
		 * too (DOMAIN.md: a service's commissioner on D is its last
		 * event's effective on or before D). */
		found = history_find_not_under(before,
		    COMMISSIONING__ENVELOPE__EVENT_SERVICE_STATUS_CHANGED,
		    env->service_status_changed->commissioner, scratch);
		if (found == NULL)
			return 0;
		place_set(&places[0], "services", found->service_status_changed->commissioner, true);
		return 1 + place_set(&places[1], "capacity", found->service_status_changed->commissioner,
			       true);
	default:
		return 0;
	}
}

void
thing_key_text(const struct thing_key *key, char *out, size_t outlen)
{
	const char *name = thing_kind_name(key->bytes[0]);
	size_t at, n;
	char *p, *end;

	if (!text_join(out, outlen, ' ', name ? name : "thing", "", NULL))
		return;
	at = strlen(out);
	/* The parts, NUL-separated in the key (bytes 1 to the last but one),
	 * joined by '/', as much as fits. */
	n = key->len > 2 ? key->len - 2 : 0;
	if (n > outlen - 1 - at)
		n = outlen - 1 - at;
	memcpy(out + at, key->bytes + 1, n);
	end = out + at + n;
	*end = '\0';
	for (p = out + at; (p = memchr(p, '\0', (size_t)(end - p))) != NULL; p++)
		*p = '/';
}

/* ---- the figures an update carries */

static json_t *
copy_or_null(json_t *v)
{
	return v != NULL ? json_deep_copy(v) : json_null();
}

static json_t *
copy_or_empty_rollup(json_t *v)
{
	return v != NULL ? json_deep_copy(v) : capacity_rollup_empty();
}

/* A flow object (a provider's, an ICB's) cut to the as-of count and the
 * counts of one day. A place with no spell that counts (the only one
 * voided, or of a class that counts nowhere) has none in hospital: 0. */
static json_t *
flow_slice(json_t *obj, const char *code, const char *day)
{
	json_t *days = json_object_get(obj, "days");
	json_t *counts = days ? json_object_get(days, day) : NULL;

	return json_pack("{s:s, s:I, s:s, s:o}", "code", code, "in_hospital",
	    (json_int_t)json_integer_value(json_object_get(obj, "in_hospital")), "day", day,
	    "counts", counts ? json_deep_copy(counts) : json_object());
}

/* The items of a list whose field equals value. */
static json_t *
list_where(json_t *list, const char *field, const char *value, const char *field2,
    const char *value2)
{
	json_t *out = json_array(), *item;
	size_t i;

	json_array_foreach(list, i, item) {
		json_t *a = json_object_get(item, field);
		json_t *b = field2 ? json_object_get(item, field2) : NULL;
		if (json_is_string(a) && strcmp(json_string_value(a), value) == 0 &&
		    (field2 == NULL || (json_is_string(b) && strcmp(json_string_value(b), value2) == 0)))
			json_array_append(out, item);
	}
	return out;
}

static json_t *
figures_at(json_t *area, const char *a, const char *b)
{
	json_t *v = json_object_get(area, a);

	return b != NULL ? json_object_get(v, b) : v;
}

bool
place_event_person(const Commissioning__Envelope *env, char hex[65])
{
	switch (env->event_case) {
	case COMMISSIONING__ENVELOPE__EVENT_READY_FOR_DISCHARGE:
		pseudonym_hex(&env->ready_for_discharge->patient_pseudonym, hex);
		return true;
	case COMMISSIONING__ENVELOPE__EVENT_CARE_PACKAGE_STARTED:
	case COMMISSIONING__ENVELOPE__EVENT_CARE_PACKAGE_ENDED:
		pseudonym_hex(&env->care_package_started->patient_pseudonym, hex);
		return true;
	default:
		return false;
	}
}

bool
place_cases_anywhere(const Commissioning__Envelope *env)
{
	return env->event_case == COMMISSIONING__ENVELOPE__EVENT_CARE_PACKAGE_STARTED ||
	       env->event_case == COMMISSIONING__ENVELOPE__EVENT_CARE_PACKAGE_ENDED;
}

/* The council whose capacity roll-up an update shows at code: the line's,
 * or the one a service's places count in under the commissioner code (the
 * event's own, or the one it handed the service over from). */
static const char *
place_capacity_council(const struct picture *picture, const char *code,
    const Commissioning__Envelope *env)
{
	Commissioning__ServiceStatusChanged under;

	if (picture == NULL)
		return NULL;
	switch (env->event_case) {
	case COMMISSIONING__ENVELOPE__EVENT_CAPACITY_REPORTED:
		return capacity_line_council(picture, env->capacity_reported->organisation);
	case COMMISSIONING__ENVELOPE__EVENT_SERVICE_STATUS_CHANGED:
		under = *env->service_status_changed;
		under.commissioner = (char *)code; /* only read */
		return service_council(picture, &under);
	default:
		return NULL;
	}
}

json_t *
place_figures(json_t *figures, const char *area, const char *icb, const char *code,
    const Commissioning__Envelope *env, const struct place_cut *cut, int32_t event_day)
{
	json_t *top = json_object_get(figures, area);
	char day[11];

	figures_date(event_day, day);
	if (strcmp(area, "flow") == 0) {
		json_t *provider = figures_at(figures_at(top, "providers", NULL), code, NULL);
		json_t *roll = figures_at(figures_at(top, "icbs", NULL), icb, NULL);
		return json_pack("{s:o, s:o}", "provider", flow_slice(provider, code, day), "icb",
		    flow_slice(roll, icb, day));
	}
	if (strcmp(area, "discharges") == 0) {
		bool anywhere = place_cases_anywhere(env);
		json_t *cases = json_array();
		for (int i = 0; i < cut->n_persons; i++) {
			json_t *some = list_where(json_object_get(top, "cases"), "patient",
			    cut->persons[i], anywhere ? NULL : "provider", code);
			json_array_extend(cases, some);
			json_decref(some);
		}
		return json_pack("{s:o, s:o, s:o}", "cases", cases, "icb",
		    copy_or_null(figures_at(figures_at(top, "icbs", NULL), icb, NULL)), "councils",
		    json_deep_copy(figures_at(top, "councils", NULL) ? figures_at(top, "councils", NULL)
								      : json_object()));
	}
	if (strcmp(area, "capacity") == 0) {
		const char *council = place_capacity_council(cut->picture, code, env);
		json_t *lines = list_where(json_object_get(top, "lines"), "organisation", code, NULL, NULL);
		/* A roll-up left with nothing (the only service there closed)
		 * is all zeros, as it now is. */
		return json_pack("{s:o, s:o, s:o}", "lines", lines, "icb",
		    copy_or_empty_rollup(figures_at(figures_at(top, "icbs", NULL), icb, NULL)),
		    "council",
		    council != NULL ? copy_or_empty_rollup(
					  figures_at(figures_at(top, "councils", NULL), council, NULL))
				    : json_null());
	}
	if (strcmp(area, "services") == 0) {
		const char *id = env->service_status_changed->service_id;
		/* The service as of the commit date, and the move this event
		 * makes, which may take effect later (or earlier than the one
		 * that stands): every status change, with the places it moves. */
		return json_pack("{s:s, s:o, s:o}", "service_id", id, "service",
		    copy_or_null(figures_at(top, id, NULL)), "change",
		    service_move_json(env->service_status_changed));
	}
	if (strcmp(area, "finance") == 0) {
		/* A commissioner left with no year (its only contract
		 * terminated before it began) has none: {}, not null. */
		json_t *years = figures_at(figures_at(top, "commissioners", NULL), code, NULL);
		return json_pack("{s:s, s:o}", "commissioner", code, "years",
		    years != NULL ? json_deep_copy(years) : json_object());
	}
	if (strcmp(area, "governance") == 0) {
		json_t *reg = figures_at(figures_at(top, "register", NULL), code, NULL);
		json_t *slice = json_pack("{s:s, s:o}", "organisation", code, "register",
		    reg != NULL ? json_deep_copy(reg) : json_array());
		/* A service's move: the closure without consultation it raises. */
		if (env->event_case == COMMISSIONING__ENVELOPE__EVENT_SERVICE_STATUS_CHANGED)
			json_object_set_new(slice, "closure_without_consultation",
			    list_where(json_object_get(top, "closure_without_consultation"), "source",
				env->source, "event_id", env->event_id));
		return slice;
	}
	if (strcmp(area, "organisations") == 0)
		return json_pack("{s:o}", "organisation", copy_or_null(figures_at(top, code, NULL)));
	return json_object();
}
