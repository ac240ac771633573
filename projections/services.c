/*
 * services: each service's status, places and history on the as-of date
 * (DOMAIN.md, Services), and the governance alert it owns: a closure
 * without consultation, one per such move.
 */
#include <string.h>

#include "service.h"

static const char *
proposed_change_type_name(Commissioning__ProposedChangeType type)
{
	switch (type) {
	case COMMISSIONING__PROPOSED_CHANGE_TYPE__PROPOSED_CHANGE_TYPE_CLOSE:
		return "close";
	case COMMISSIONING__PROPOSED_CHANGE_TYPE__PROPOSED_CHANGE_TYPE_REDUCE:
		return "reduce";
	case COMMISSIONING__PROPOSED_CHANGE_TYPE__PROPOSED_CHANGE_TYPE_TRANSFER:
		return "transfer";
	case COMMISSIONING__PROPOSED_CHANGE_TYPE__PROPOSED_CHANGE_TYPE_OTHER:
		return "other";
	default:
		return NULL;
	}
}

json_t *
service_proposed_change_json(const Commissioning__ProposedChange *change)
{
	const char *type = change != NULL ? proposed_change_type_name(change->type) : NULL;
	json_t *o;

	if (type == NULL)
		return json_null();
	o = json_pack("{s:s}", "type", type);
	if (change->opt_places_case == COMMISSIONING__PROPOSED_CHANGE__OPT_PLACES_PLACES)
		json_object_set_new(o, "places", json_integer(change->places));
	if (change->to_provider[0] != '\0')
		json_object_set_new(o, "to_provider", json_string(change->to_provider));
	return o;
}

static json_t *
string_or_null(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

/* One service's figures on the as-of date. */
static json_t *
service_json(struct figures *fig, const struct service_state *st)
{
	const Commissioning__ServiceStatusChanged *s = st->standing;
	const char *icb;
	json_t *o = json_object();

	json_object_set_new(
	    o, "status", s != NULL ? json_string(service_status_name(st->status)) : json_null());
	json_object_set_new(o, "history_gap", json_boolean(st->history_gap));
	json_object_set_new(
	    o, "closure_without_consultation", json_boolean(st->closure_without_consultation));
	json_object_set_new(o, "commissioned_places", json_integer(st->commissioned_places));
	json_object_set_new(o, "at_risk_places", json_integer(st->at_risk_places));
	json_object_set_new(
	    o, "at_risk_transfer_places", json_integer(st->at_risk_transfer_places));
	if (s == NULL)
		return o;
	/* What stands on the as-of date, nothing carried over. */
	json_object_set_new(o, "effective_date", json_string(s->effective_date));
	json_object_set_new(o, "commissioner", json_string(s->commissioner));
	json_object_set_new(o, "provider", json_string(s->provider));
	json_object_set_new(o, "places",
	    s->opt_places_case == COMMISSIONING__SERVICE_STATUS_CHANGED__OPT_PLACES_PLACES
	        ? json_integer(s->places)
	        : json_null());
	json_object_set_new(o, "proposed_change", service_proposed_change_json(s->proposed_change));
	icb = service_icb(fig->picture, s);
	json_object_set_new(o, "icb", json_string(icb != NULL ? icb : "unmapped"));
	json_object_set_new(o, "council", string_or_null(service_council(fig->picture, s)));
	return o;
}

json_t *
service_move_json(const Commissioning__ServiceStatusChanged *move)
{
	json_t *o = json_pack("{s:s, s:s, s:s}", "from_status",
	    service_status_name(move->from_status), "to_status", service_status_name(move->to_status),
	    "effective_date", move->effective_date);

	json_object_set_new(o, "places",
	    move->opt_places_case == COMMISSIONING__SERVICE_STATUS_CHANGED__OPT_PLACES_PLACES
	        ? json_integer(move->places)
	        : json_null());
	json_object_set_new(o, "proposed_change", service_proposed_change_json(move->proposed_change));
	return o;
}

/* Append an alert for each move of the service that closes it without
 * consultation, whenever effective: the alert is a fact of the events. */
static void
service_add_closures(json_t *alerts, const struct service_state *st)
{
	for (size_t i = 0; i < st->n_ordered; i++) {
		const Commissioning__Envelope *env = st->ordered[i];
		const Commissioning__ServiceStatusChanged *s = env->service_status_changed;

		if (!service_move_is_closure_without_consultation(s))
			continue;
		json_array_append_new(alerts,
		    json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "service_id",
		        st->service_id, "commissioner", s->commissioner, "provider", s->provider,
		        "from_status", service_status_name(s->from_status), "to_status",
		        service_status_name(s->to_status), "effective_date", s->effective_date,
		        "source", env->source, "event_id", env->event_id));
	}
}

void
services_figures(struct figures *fig)
{
	const struct picture *p = fig->picture;
	json_t *all = figures_object(fig->root, "services", NULL);
	json_t *governance = figures_object(fig->root, "governance", NULL);
	json_t *alerts = json_object_get(governance, "closure_without_consultation");

	if (!json_is_array(alerts)) {
		alerts = json_array();
		json_object_set_new(governance, "closure_without_consultation", alerts);
	}
	for (size_t i = 0; i < picture_count(p, THING_SERVICE); i++) {
		const struct thing *t = picture_thing(p, THING_SERVICE, i);
		struct service_state st;

		if (service_fold(t, fig->as_of_day, &st) != 0) {
			fig->failed = true;
			continue;
		}
		/* Every code used as a commissioner whose ICB is not known. */
		for (size_t k = 0; k < st.n_ordered; k++) {
			const Commissioning__ServiceStatusChanged *s =
			    st.ordered[k]->service_status_changed;
			if (service_icb(p, s) == NULL)
				figures_add_unmapped(fig, s->commissioner);
		}
		json_object_set_new(all, st.service_id, service_json(fig, &st));
		service_add_closures(alerts, &st);
		service_fold_release(&st);
	}
}
