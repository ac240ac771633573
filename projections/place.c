/*
 * place: where in the picture an accepted event shows, for the topic of
 * its update (<area>.<icb>.<code>, DOMAIN.md "What the daemon publishes").
 */
#include <stdio.h>
#include <string.h>

#include "projections.h"

static int
place_set(struct place *p, const char *area, const char *code, bool commissioner)
{
	p->area = area;
	p->code = code;
	p->commissioner = commissioner;
	return 1;
}

/* The earliest event of kind in history, unpacked into *scratch (the
 * caller frees it), or NULL. */
static Commissioning__Envelope *
history_find(const Commissioning__History *history, Commissioning__Envelope__EventCase kind,
    Commissioning__Envelope **scratch)
{
	for (size_t i = 0; history != NULL && i < history->n_entries; i++) {
		const ProtobufCBinaryData *b = &history->entries[i]->envelope;
		Commissioning__Envelope *env = commissioning__envelope__unpack(NULL, b->len, b->data);
		if (env == NULL)
			continue;
		if (env->event_case == kind) {
			*scratch = env;
			return env;
		}
		commissioning__envelope__free_unpacked(env, NULL);
	}
	return NULL;
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
	case COMMISSIONING__ENVELOPE__EVENT_SERVICE_STATUS_CHANGED:
		/* A service's move changes its commissioned places and the
		 * capacity at risk: both are published at once. */
		place_set(&places[0], "services", env->service_status_changed->commissioner, true);
		return 1 + place_set(&places[1], "capacity", env->service_status_changed->commissioner,
			       true);
	case COMMISSIONING__ENVELOPE__EVENT_CONTRACT_AWARDED:
		return place_set(&places[0], "finance", env->contract_awarded->commissioner, true);
	case COMMISSIONING__ENVELOPE__EVENT_CONTRACT_VARIED:
	case COMMISSIONING__ENVELOPE__EVENT_CONTRACT_TERMINATED:
		found = history_find(history, COMMISSIONING__ENVELOPE__EVENT_CONTRACT_AWARDED, scratch);
		if (found != NULL)
			return place_set(&places[0], "finance", found->contract_awarded->commissioner, true);
		/* Pending until its award: known by the contract alone. */
		return place_set(&places[0], "finance",
		    env->event_case == COMMISSIONING__ENVELOPE__EVENT_CONTRACT_VARIED
			? env->contract_varied->contract_id
			: env->contract_terminated->contract_id,
		    true);
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

void
thing_key_text(const struct thing_key *key, char *out, size_t outlen)
{
	const char *name = thing_kind_name(key->bytes[0]);
	size_t at;
	int n = snprintf(out, outlen, "%s ", name ? name : "thing");

	if (n < 0 || (size_t)n >= outlen)
		return;
	at = (size_t)n;
	/* The parts, NUL-separated in the key, joined by '/'. */
	for (size_t i = 1; i + 1 < key->len && at + 1 < outlen; i++)
		out[at++] = key->bytes[i] == '\0' ? '/' : (char)key->bytes[i];
	out[at] = '\0';
}
