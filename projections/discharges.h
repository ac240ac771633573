/*
 * discharges: delayed-discharge cases (DOMAIN.md, Delayed discharges) as the
 * figures and the daemon's running totals both work them out: one person's
 * ready reports, inpatient discharges and care packages make their cases.
 */
#ifndef DISCHARGES_H
#define DISCHARGES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spell.h"

#define DISCHARGES_PATHWAY_MAX 3
#define DISCHARGES_UNATTRIBUTED "unattributed" /* no council from a report or package */

/* A care package as its last "started" event gives it. */
struct discharges_package {
	char patient[65];
	const char *council;
	const char *package_id;
	const char *start_date;
	int32_t start_day;
};

/*
 * What cases are made from: the inpatient discharges with a patient
 * (sorted by discharges_world_sort) and the packages with a start date.
 * The figures make one of the whole picture; the daemon one per person.
 */
struct discharges_world {
	const struct spell **discharges;
	size_t n_discharges;
	struct discharges_package *packages;
	size_t n_packages;
};

struct discharges_case {
	const char *patient;
	const char *provider;
	size_t n_reports;
	bool closed;
	int32_t discharge_day;
	int32_t ready_day; /* the earliest of its reports' */
	bool has_pathway;
	int64_t pathway;     /* that of its latest report */
	const char *council; /* that of the latest report naming one, or NULL */
	/* Worked out for the as-of by discharges_cases_each. */
	int32_t days_delayed;
	bool has_social_care_wait;                /* pathways 1-3 */
	const struct discharges_package *package; /* the one that ended the wait */
	const char *wait_ended_by;                /* "package", "discharge" or NULL */
	bool waiting_on_social_care;
	int32_t days_waiting;
	const char *rollup_council;
	/* The first day after the as-of's on which any of the above changes
	 * (a ready date or a package's start still to come), or INT32_MAX. */
	int32_t changes_on_day;
};

/* The package thing t as the cases read it: false when it never started,
 * names no patient or has no start date that parses. */
bool discharges_package_of(const struct thing *t, struct discharges_package *package);

/* Sort the world's discharges and packages for the lookups. */
void discharges_world_sort(struct discharges_world *world);

typedef void (*discharges_case_fn)(void *arg, const struct discharges_case *c);

/*
 * The cases of the ready-for-discharge thing t (one patient, one provider)
 * for as_of_day, closed cases first in discharge order, then the open one:
 * each ready report joins the case closed by the person's first inpatient
 * discharge at the provider on or after its ready date, else the open case.
 * 0, or -1 when out of memory.
 */
int discharges_cases_each(const struct discharges_world *world, const struct thing *t,
    int32_t as_of_day, discharges_case_fn fn, void *arg);

/* A case as the figures list it; icb is its provider's. */
json_t *discharges_case_json(const struct discharges_case *c, const char *icb);

/* The same case appended to out as json_dumps(discharges_case_json(c, icb),
 * JSON_COMPACT) would write it, byte for byte, without building the tree
 * (jtext.h; out->failed when out of memory). */
struct jtext;
void discharges_case_dump(struct jtext *out, const struct discharges_case *c, const char *icb);

/* ---- the discharges area's figures, built by discharges_figures from the
 * whole picture, or piece by piece from one person at a time (store/state.c):
 * begin, then each ready thing noted and each case counted, in key order,
 * and each package's council noted. fig's picture gives the hierarchy. */
struct figures;
void discharges_figures_begin(struct figures *fig);
/* The ready thing's provider and councils, where their ICB is not known. */
void discharges_figures_note_ready(struct figures *fig, const struct thing *t);
/* A package's council, where its ICB is not known. */
void discharges_figures_note_council(struct figures *fig, const char *council);
/* Count c in the ICB and council roll-ups; its provider's ICB (as
 * discharges_case_json lists it), valid while fig's picture is. */
const char *discharges_figures_count_case(struct figures *fig, const struct discharges_case *c);

#endif
