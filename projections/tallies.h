/*
 * tallies: the running totals that the daemon's flow and delayed-discharge
 * updates are cut from (DOMAIN.md, What the daemon publishes), kept as
 * events apply instead of folded again from every spell and case. Pure: no
 * I/O; store/state.c keeps them in the store beside the histories.
 *
 * Each total is the sum of the parts its units add as of the tallies'
 * as-of: a spell adds its flow_tally to its provider, a person each of
 * their delayed-discharge cases to the case's provider and council. When a
 * unit's events change, or the as-of passes an instant the unit names
 * (spell_next_change_ms, discharges_case.changes_on_day), its old part is
 * taken away and its new part added. Days delayed of open cases grow with
 * the as-of by themselves: a total keeps how many such cases it has and
 * the sum of their ready dates, and works the days out when read.
 */
#ifndef TALLIES_H
#define TALLIES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "discharges.h"
#include "spell.h"

/* The first byte of a tally's key in the store: which totals it is in. */
enum tally_group {
	TALLY_FLOW = 'F',		 /* a provider's flow */
	TALLY_DELAYS_BY_PROVIDER = 'I', /* a provider's cases: its ICB's roll-up */
	TALLY_DELAYS_BY_COUNCIL = 'C',	 /* a council's cases (rollup_council) */
	/* What the flow area adds to the updates' totals (tallies_add_spell_places): */
	TALLY_FLOW_SITE = 'S',	/* a site's flow, code "provider|site" */
	TALLY_FLOW_WARD = 'W',	/* a ward's patients in, code "provider|site|ward" */
	TALLY_SPELLS = 'P',	/* a provider's spells of any class, void or not */
};

/* Every group, in the order tallies_flush writes them: what the store
 * loads back (a record's first byte is its group). */
#define TALLY_N_GROUPS 6
extern const uint8_t tally_groups[TALLY_N_GROUPS];

struct tallies;

struct tallies *tallies_new(void);
void tallies_destroy(struct tallies **tallies);
/* Forget every total, and any failed allocation (before loading afresh). */
void tallies_clear(struct tallies *tallies);

/* The instant the totals are as of (UTC ms). */
int64_t tallies_as_of_ms(const struct tallies *tallies);
void tallies_set_as_of_ms(struct tallies *tallies, int64_t as_of_ms);

/* Add (sign 1) or take away (sign -1) one unit's part: a spell's flow
 * tally, or a case settled for as_of_day (the day it was worked out for). */
void tallies_add_spell(struct tallies *tallies, const char *provider,
    const struct flow_tally *tally, int sign);
void tallies_add_case(struct tallies *tallies, const struct discharges_case *c,
    int32_t as_of_day, int sign);

/* Add (sign 1) or take away (-1) one spell's part of the flow area's
 * places: its count in its provider's spells (none for a spell with no
 * event: provider ""), and tally at its latest site and ward. */
void tallies_add_spell_places(struct tallies *tallies, const struct spell *spell,
    const struct flow_tally *tally, int sign);

/* A copy of every total (to move it to another as-of without touching the
 * original); NULL when out of memory. */
struct tallies *tallies_copy(const struct tallies *tallies);

/* ---- keeping them: one record per (group, code), key = group byte, code,
 * NUL. */

/* Take one stored record. -1 when it is not a tally's, does not decode, or
 * memory ran out (tallies_failed then says so from then on). */
int tallies_load_record(struct tallies *tallies, const uint8_t *key, size_t keylen,
    const uint8_t *bytes, size_t len);

/* Called for each record changed since the last flush; len 0 (bytes NULL):
 * the total is back to nothing, remove the record. Non-zero stops. */
typedef int (*tallies_record_fn)(void *arg, const uint8_t *key, size_t keylen,
    const uint8_t *bytes, size_t len);
/* Hand every changed record to fn. 0, or fn's non-zero (then the records
 * not handed stay changed), or -1 when out of memory: now, or while a part
 * was added or taken away since the totals were cleared (they are then not
 * the sum of their parts; nothing is handed, and they stay refused until
 * tallies_clear and a fresh load). */
int tallies_flush(struct tallies *tallies, tallies_record_fn fn, void *arg);
/* Has an allocation failed since tallies_clear (a part added, taken away
 * or loaded): are the totals short of what they should be? */
bool tallies_failed(const struct tallies *tallies);

/* ---- the figures an update carries, as place_figures cuts them from the
 * whole picture's. icb_of gives a provider's ICB (NULL: not known). */
typedef const char *(*tallies_icb_fn)(void *arg, const char *provider);

/* flow: {"provider": {...}, "icb": {...}} for provider code, the ICB icb
 * ("unmapped": the providers with none) and the London day day. */
json_t *tallies_flow_figures(const struct tallies *tallies, const char *code, const char *icb,
    int32_t day, tallies_icb_fn icb_of, void *arg);
/* discharges: the roll-up of the ICB icb, or JSON null when it has no case. */
json_t *tallies_delays_icb(const struct tallies *tallies, const char *icb,
    tallies_icb_fn icb_of, void *arg);
/* discharges: every council's roll-up, by council code. */
json_t *tallies_delays_councils(const struct tallies *tallies);

/* The flow area of the picture's figures (flow_figures), from the totals
 * as of their as-of, the hierarchy from fig's picture: flow.providers with
 * their sites and wards, flow.icbs, and every spell's provider with no
 * known ICB in unmapped. (pending.discharge_only_spells is kept apart.) */
void tallies_flow_area(const struct tallies *tallies, struct figures *fig);

#endif
