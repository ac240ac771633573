/*
 * capacity: beds by capacity line (organisation, sector) and their roll-ups
 * per ICB and per council, with the places of the services commissioned
 * there (DOMAIN.md, Capacity; Services; Places in the hierarchy).
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "ids.h"
#include "service.h"

#define SECTOR_PREFIX "SECTOR_"

/* The counts every roll-up has, present from the start at 0. */
static const char *const capacity_rollup_counts[] = {
    "available",
    "occupied",
    "vacant",
    "over_capacity_lines",
    "commissioned_places",
    "at_risk_places",
    "at_risk_transfer_places",
};
#define N_ROLLUP_COUNTS (sizeof(capacity_rollup_counts) / sizeof(capacity_rollup_counts[0]))

/* "general_and_acute" for SECTOR_GENERAL_AND_ACUTE, into out. */
static void
sector_name(Commissioning__Sector sector, char *out, size_t size)
{
	const ProtobufCEnumValue *v =
	    protobuf_c_enum_descriptor_get_value(&commissioning__sector__descriptor, (int)sector);
	const char *name = v != NULL ? v->name : "SECTOR_UNKNOWN";
	size_t n = 0;

	if (strncmp(name, SECTOR_PREFIX, sizeof(SECTOR_PREFIX) - 1) == 0)
		name += sizeof(SECTOR_PREFIX) - 1;
	for (; name[n] != '\0' && n + 1 < size; n++)
		out[n] = (char)tolower((unsigned char)name[n]);
	out[n] = '\0';
}

json_t *
capacity_rollup_empty(void)
{
	json_t *rollup = json_object();

	for (size_t i = 0; i < N_ROLLUP_COUNTS; i++)
		json_object_set_new(rollup, capacity_rollup_counts[i], json_integer(0));
	json_object_set_new(rollup, "sectors", json_object());
	return rollup;
}

/* group[code], created with every count at 0 and an empty sector map. */
static json_t *
capacity_rollup(json_t *group, const char *code)
{
	json_t *rollup = json_object_get(group, code);

	if (rollup != NULL)
		return rollup;
	rollup = capacity_rollup_empty();
	json_object_set_new(group, code, rollup);
	return rollup;
}

/* The beds of one line, counted into a roll-up and its sector. */
struct capacity_beds {
	int64_t available, occupied, vacant;
	bool over_capacity;
};

static void
capacity_add_beds(json_t *obj, const struct capacity_beds *beds)
{
	figures_add_count(obj, "available", beds->available);
	figures_add_count(obj, "occupied", beds->occupied);
	figures_add_count(obj, "vacant", beds->vacant);
	figures_add_count(obj, "over_capacity_lines", beds->over_capacity ? 1 : 0);
}

static void
capacity_add_line(
    json_t *group, const char *code, const char *sector, const struct capacity_beds *beds)
{
	json_t *rollup = capacity_rollup(group, code);

	capacity_add_beds(rollup, beds);
	capacity_add_beds(figures_object(rollup, "sectors", sector, NULL), beds);
}

/* The report that stands: the latest as-of, ties by fold order. The history
 * keeps only that one; choosing again costs nothing and needs no trust. */
static const Commissioning__CapacityReported *
capacity_standing_report(const struct thing *t)
{
	const Commissioning__CapacityReported *best = NULL;

	for (size_t i = 0; i < t->n_events; i++) {
		const Commissioning__CapacityReported *c = t->events[i]->capacity_reported;
		if (c != NULL && (best == NULL || c->as_of >= best->as_of))
			best = c;
	}
	return best;
}

const char *
capacity_line_council(const struct picture *p, const char *organisation)
{
	const char *council;

	if (!ids_is_care_home(organisation))
		return NULL;
	council = picture_council_of(p, organisation);
	return council != NULL ? council : "unmapped";
}

static void
capacity_lines(struct figures *fig, json_t *capacity)
{
	const struct picture *p = fig->picture;
	json_t *lines = json_array();
	json_t *icbs = figures_object(capacity, "icbs", NULL);
	json_t *councils = figures_object(capacity, "councils", NULL);

	json_object_set_new(capacity, "lines", lines);
	for (size_t i = 0; i < picture_count(p, THING_CAPACITY); i++) {
		const struct thing *t = picture_thing(p, THING_CAPACITY, i);
		const Commissioning__CapacityReported *c = capacity_standing_report(t);
		const char *icb, *council;
		struct capacity_beds beds;
		char sector[64];
		json_t *line;

		if (c == NULL)
			continue;
		sector_name(c->sector, sector, sizeof(sector));
		beds.available = c->beds_available;
		beds.occupied = c->beds_occupied;
		/* Occupied above available is over capacity; vacant never below 0. */
		beds.over_capacity = beds.occupied > beds.available;
		beds.vacant = beds.over_capacity ? 0 : beds.available - beds.occupied;
		icb = picture_icb_of(p, c->organisation);
		if (icb == NULL) {
			icb = "unmapped";
			figures_add_unmapped(fig, c->organisation);
		}
		capacity_add_line(icbs, icb, sector, &beds);
		council = capacity_line_council(p, c->organisation);
		if (council != NULL)
			capacity_add_line(councils, council, sector, &beds);
		line = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:b, s:I}", "organisation",
		    c->organisation, "sector", sector, "icb", icb, "available",
		    (json_int_t)beds.available, "occupied", (json_int_t)beds.occupied, "vacant",
		    (json_int_t)beds.vacant, "over_capacity", beds.over_capacity, "as_of",
		    (json_int_t)c->as_of);
		json_object_set_new(
		    line, "council", council != NULL ? json_string(council) : json_null());
		json_array_append_new(lines, line);
	}
}

static void
capacity_add_places(json_t *rollup, const struct service_state *st)
{
	figures_add_count(rollup, "commissioned_places", st->commissioned_places);
	figures_add_count(rollup, "at_risk_places", st->at_risk_places);
	figures_add_count(rollup, "at_risk_transfer_places", st->at_risk_transfer_places);
}

/* The places of the services still running on the as-of date. */
static void
capacity_service_places(struct figures *fig, json_t *capacity)
{
	const struct picture *p = fig->picture;
	json_t *icbs = figures_object(capacity, "icbs", NULL);
	json_t *councils = figures_object(capacity, "councils", NULL);

	for (size_t i = 0; i < picture_count(p, THING_SERVICE); i++) {
		struct service_state st;
		const char *icb, *council;

		if (service_fold(picture_thing(p, THING_SERVICE, i), fig->as_of_day, &st) != 0) {
			fig->failed = true;
			continue;
		}
		if (st.standing != NULL && st.commissioned_places > 0) {
			icb = service_icb(p, st.standing);
			if (icb == NULL) {
				icb = "unmapped";
				figures_add_unmapped(fig, st.standing->commissioner);
			}
			capacity_add_places(capacity_rollup(icbs, icb), &st);
			council = service_council(p, st.standing);
			if (council != NULL)
				capacity_add_places(capacity_rollup(councils, council), &st);
		}
		service_fold_release(&st);
	}
}

void
capacity_figures(struct figures *fig)
{
	json_t *capacity = figures_object(fig->root, "capacity", NULL);

	capacity_lines(fig, capacity);
	capacity_service_places(fig, capacity);
}
