/*
 * service: the fold of one service's events (DOMAIN.md, Services), shared by
 * the services area and the capacity area, which rolls its places up.
 */
#ifndef SERVICE_H
#define SERVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "projections.h"

/* One service on one day. */
struct service_state {
	const char *service_id;
	/* The service's events by (effective date, occurred_at, source,
	 * event_id): owned, the envelopes are the picture's. */
	const Commissioning__Envelope **ordered;
	size_t n_ordered;
	/* The last event effective on or before the day, or NULL: its places,
	 * proposed change, commissioner and provider are the service's. */
	const Commissioning__ServiceStatusChanged *standing;
	Commissioning__ServiceStatus status; /* NEW (no status) when standing is NULL */
	bool history_gap;                    /* a from that is not the previous to */
	bool closure_without_consultation;   /* any commissioned -> decommissioned/closed */
	int64_t commissioned_places;         /* commissioned, consultation or decision */
	int64_t at_risk_places;              /* close: all; reduce to N: places - N */
	int64_t at_risk_transfer_places;     /* transfer to another provider */
};

/* Fold the service t on day (a day number). 0, or -1 when out of memory
 * (nothing to release then). */
int service_fold(const struct thing *t, int32_t day, struct service_state *state);
void service_fold_release(struct service_state *state);

/* Is this one move, judged alone, a closure without consultation? */
bool service_move_is_closure_without_consultation(const Commissioning__ServiceStatusChanged *move);

/* A proposed change as the figures show it ({type, places, to_provider}),
 * or JSON null for none. */
json_t *service_proposed_change_json(const Commissioning__ProposedChange *change);

/* One move as its update carries it: from and to status, effective date,
 * places and proposed change. A new JSON object. */
json_t *service_move_json(const Commissioning__ServiceStatusChanged *move);

/* "consultation" for SERVICE_STATUS_CONSULTATION; "new" for NEW. */
const char *service_status_name(Commissioning__ServiceStatus status);

/*
 * Where the standing event's places roll up: the commissioner's ICB (NULL
 * when not known: unmapped), and the council (the commissioning council,
 * else the provider's; "unmapped" for a care home with no known council;
 * NULL when neither is a council's).
 */
const char *service_icb(
    const struct picture *picture, const Commissioning__ServiceStatusChanged *standing);
const char *service_council(
    const struct picture *picture, const Commissioning__ServiceStatusChanged *standing);

#endif
