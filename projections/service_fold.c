/*
 * service_fold: one service's state on a day (DOMAIN.md, Services; Edges,
 * settled). Its events are ordered by effective date first, then by the
 * usual key; the last one effective on or before the day stands whole.
 */
#include <stdlib.h>

#include "dates.h"
#include "ids.h"
#include "service.h"

#define STATUS(x) COMMISSIONING__SERVICE_STATUS__SERVICE_STATUS_##x
#define CHANGE(x) COMMISSIONING__PROPOSED_CHANGE_TYPE__PROPOSED_CHANGE_TYPE_##x

/* The lower-case names of the statuses, as published. */
static const char *const service_status_names[] = {
    [STATUS(NEW)] = "new",
    [STATUS(PROPOSED)] = "proposed",
    [STATUS(ENGAGEMENT)] = "engagement",
    [STATUS(CONSULTATION)] = "consultation",
    [STATUS(DECISION)] = "decision",
    [STATUS(COMMISSIONED)] = "commissioned",
    [STATUS(DECOMMISSIONED)] = "decommissioned",
    [STATUS(CLOSED)] = "closed",
};
#define N_STATUSES (sizeof(service_status_names) / sizeof(service_status_names[0]))

const char *
service_status_name(Commissioning__ServiceStatus status)
{
	if ((unsigned)status >= N_STATUSES)
		return "unknown";
	return service_status_names[status];
}

/* The day an event takes effect; a date that does not parse (validation
 * lets none through) never takes effect. */
static int32_t
service_effective_day(const Commissioning__Envelope *env)
{
	int32_t day;

	if (dates_parse_date(env->service_status_changed->effective_date, &day) != 0)
		return INT32_MAX;
	return day;
}

static int
service_event_cmp(const void *pa, const void *pb)
{
	const Commissioning__Envelope *a = *(const Commissioning__Envelope *const *)pa;
	const Commissioning__Envelope *b = *(const Commissioning__Envelope *const *)pb;
	int32_t da = service_effective_day(a), db = service_effective_day(b);

	if (da != db)
		return da < db ? -1 : 1;
	return event_order(a, b);
}

bool
service_move_is_closure_without_consultation(const Commissioning__ServiceStatusChanged *move)
{
	return move->from_status == STATUS(COMMISSIONED) &&
	       (move->to_status == STATUS(DECOMMISSIONED) || move->to_status == STATUS(CLOSED));
}

/* Still running: its places count as commissioned. */
static bool
service_status_is_running(Commissioning__ServiceStatus status)
{
	return status == STATUS(COMMISSIONED) || status == STATUS(CONSULTATION) ||
	       status == STATUS(DECISION);
}

/* The places the standing event puts at risk or to transfer. */
static void
service_places_at_risk(struct service_state *st)
{
	const Commissioning__ServiceStatusChanged *s = st->standing;
	const Commissioning__ProposedChange *change = s->proposed_change;

	if (change == NULL ||
	    (st->status != STATUS(CONSULTATION) && st->status != STATUS(DECISION)))
		return;
	switch (change->type) {
	case CHANGE(CLOSE):
		st->at_risk_places = st->commissioned_places;
		break;
	case CHANGE(REDUCE): {
		int64_t to =
		    change->opt_places_case == COMMISSIONING__PROPOSED_CHANGE__OPT_PLACES_PLACES
		        ? change->places
		        : 0;
		/* Reduce to N with N above the places puts 0 at risk. */
		st->at_risk_places =
		    st->commissioned_places > to ? st->commissioned_places - to : 0;
		break;
	}
	case CHANGE(TRANSFER):
		st->at_risk_transfer_places = st->commissioned_places;
		break;
	default:
		break;
	}
}

int
service_fold(const struct thing *t, int32_t day, struct service_state *st)
{
	Commissioning__ServiceStatus previous_to = STATUS(NEW);

	*st = (struct service_state){ 0 };
	st->service_id = t->part[0];
	st->ordered = calloc(t->n_events ? t->n_events : 1, sizeof(*st->ordered));
	if (st->ordered == NULL)
		return -1;
	for (size_t i = 0; i < t->n_events; i++)
		if (t->events[i]->service_status_changed != NULL)
			st->ordered[st->n_ordered++] = t->events[i];
	qsort(st->ordered, st->n_ordered, sizeof(*st->ordered), service_event_cmp);

	for (size_t i = 0; i < st->n_ordered; i++) {
		const Commissioning__ServiceStatusChanged *s =
		    st->ordered[i]->service_status_changed;

		/* The first event comes from (new); each next one from the
		 * previous one's to. Otherwise it is kept and flags a gap. */
		if (s->from_status != previous_to)
			st->history_gap = true;
		previous_to = s->to_status;
		if (service_move_is_closure_without_consultation(s))
			st->closure_without_consultation = true;
		if (service_effective_day(st->ordered[i]) <= day)
			st->standing = s;
	}
	if (st->standing == NULL)
		return 0;
	st->status = st->standing->to_status;
	if (service_status_is_running(st->status)) {
		st->commissioned_places =
		    st->standing->opt_places_case ==
		            COMMISSIONING__SERVICE_STATUS_CHANGED__OPT_PLACES_PLACES
		        ? st->standing->places
		        : 0;
		service_places_at_risk(st);
	}
	return 0;
}

void
service_fold_release(struct service_state *st)
{
	free(st->ordered);
	st->ordered = NULL;
	st->n_ordered = 0;
	st->standing = NULL;
}

const char *
service_icb(const struct picture *p, const Commissioning__ServiceStatusChanged *s)
{
	return picture_commissioner_icb(p, s->commissioner);
}

const char *
service_council(const struct picture *p, const Commissioning__ServiceStatusChanged *s)
{
	const char *council;

	if (ids_is_local_authority(s->commissioner))
		return s->commissioner;
	council = picture_council_of(p, s->provider);
	if (council != NULL)
		return council;
	/* A care home is always in a council: one not known yet is unmapped. */
	return ids_is_care_home(s->provider) ? "unmapped" : NULL;
}
