/*
 * spell: the fold of one hospital spell's ADT events (DOMAIN.md, Flow), the
 * state flow.c counts and discharges.c reads its inpatient discharges from.
 */
#ifndef SPELL_H
#define SPELL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "projections.h"

/*
 * A spell as its events leave it. The strings point into the picture's
 * envelopes and the thing's key: valid while the picture lives.
 */
struct spell {
	const char *provider;  /* the key's provider */
	const char *spell_hex; /* the key's spell pseudonym */
	char patient[65];      /* the latest event that names one; "" when none */
	const char *site;      /* the latest given; "" when never given */
	const char *ward;      /* the latest given; "" when never given */
	Commissioning__PatientClass patient_class; /* the latest given */
	bool is_void;                              /* cancelled, and no admission since */
	bool admitted;                             /* an admission is on record */
	int64_t admitted_at_ms;                    /* the latest admission's time */
	bool discharged;
	int64_t discharged_at_ms; /* the discharge that stands */
};

/* Fold the THING_SPELL t into *spell. 0, or -1 when out of memory. */
int spell_fold(const struct thing *t, struct spell *spell);

/*
 * Fold every spell of the picture, in picture order: a new array of *n
 * spells (free it with free()), or NULL when out of memory (*n is then 0).
 */
struct spell *spell_fold_all(const struct picture *picture, size_t *n);

/* Classes I and B are inpatient classes. */
bool spell_is_inpatient(const struct spell *spell);
/* Classes E and O are attendances. */
bool spell_is_attendance(const struct spell *spell);
/* An inpatient spell, not void, admitted at or before at_ms and not
 * discharged at or before it. */
bool spell_in_hospital_at(const struct spell *spell, int64_t at_ms);
/* An inpatient spell, not void, whose discharge stands: the discharges
 * that count, and the only ones that close delayed-discharge cases. */
bool spell_has_inpatient_discharge(const struct spell *spell);

/* The first instant after after_ms at which spell_in_hospital_at changes,
 * or INT64_MAX when it never does. */
int64_t spell_next_change_ms(const struct spell *spell, int64_t after_ms);

/* ---- what one spell adds to the flow figures of its provider (flow.c) */

enum flow_count { FLOW_ADMISSIONS, FLOW_DISCHARGES, FLOW_ATTENDANCES, FLOW_N_COUNTS };
/* "admissions", "discharges", "attendances": the names the figures use. */
extern const char *const flow_count_names[FLOW_N_COUNTS];

#define FLOW_MAX_DAY_COUNTS 2 /* an admission and a discharge */

struct flow_tally {
	bool listed; /* an inpatient or attendance spell, not void */
	bool in_hospital;
	size_t n_counts;
	struct {
		enum flow_count count;
		int32_t day; /* the London date it falls on */
	} counts[FLOW_MAX_DAY_COUNTS];
};

/* The spell's tally as of as_of_ms (DOMAIN.md, Flow). */
struct flow_tally flow_tally_of(const struct spell *spell, int64_t as_of_ms);

/* ---- the flow area's figures, built by flow_figures from every spell of
 * the picture, or piece by piece: from spells read one at a time
 * (flow_figures_begin, then flow_figures_add_spell for each in key order),
 * or from running totals (tallies.c), with the same places. */
struct figures;
void flow_figures_begin(struct figures *fig);
void flow_figures_add_spell(struct figures *fig, const struct spell *spell);
/* A place of parent (a provider, site or ICB), made at zero on first use. */
json_t *flow_place(json_t *parent, const char *key);
/* Provider's entry under providers, made with its ICB on first use. */
json_t *flow_provider(json_t *providers, const char *provider, const char *icb);
/* The entry of site code under provider's sites, made on first use. */
json_t *flow_site(json_t *provider, const char *code);
/* Where provider rolls up: its ICB, or "unmapped" (listed in fig then). */
const char *flow_icb_of(struct figures *fig, const char *provider);
/* A standing discharge with no admission on record: it waits for its
 * admission, listed in pending.discharge_only_spells as provider/spell. */
bool flow_is_discharge_only(const struct spell *spell);
void flow_note_discharge_only(struct figures *fig, const char *provider, const char *spell_hex);

#endif
