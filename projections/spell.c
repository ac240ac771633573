/*
 * spell: one hospital spell (provider, spell pseudonym) folded from its ADT
 * events in their order (DOMAIN.md, Flow; Edges, settled). Shared by flow.c
 * and discharges.c so both read the same state.
 */
#include <stdlib.h>
#include <string.h>

#include "spell.h"

/* Where a transfer moved the spell from: a cancel-transfer puts it back. */
struct spell_place {
	const char *site;
	const char *ward;
};

struct spell_fold_state {
	struct spell *spell;
	struct spell_place *undo; /* the transfers still standing, latest last */
	size_t n_undo;
};

typedef void (*spell_step_fn)(struct spell_fold_state *state, const Commissioning__Envelope *env);

/* Admissions, transfers, updates and discharges all set the class, and
 * the site and ward when given (Edges, settled). */
static void
spell_take_movement(struct spell *spell, const Commissioning__PatientMovement *m)
{
	if (m->patient_class != COMMISSIONING__PATIENT_CLASS__PATIENT_CLASS_UNSPECIFIED)
		spell->patient_class = m->patient_class;
	if (m->site[0] != '\0')
		spell->site = m->site;
	if (m->ward[0] != '\0')
		spell->ward = m->ward;
}

/* The only event that sets the admission time. After a cancel-admission it
 * reopens the spell; it never clears a discharge that stands. */
static void
spell_step_admitted(struct spell_fold_state *state, const Commissioning__Envelope *env)
{
	struct spell *spell = state->spell;

	spell->is_void = false;
	spell->admitted = true;
	spell->admitted_at_ms = env->occurred_at;
	spell_take_movement(spell, env->patient_admitted);
}

static void
spell_step_transferred(struct spell_fold_state *state, const Commissioning__Envelope *env)
{
	struct spell *spell = state->spell;

	state->undo[state->n_undo++] = (struct spell_place){spell->site, spell->ward};
	spell_take_movement(spell, env->patient_transferred);
}

static void
spell_step_updated(struct spell_fold_state *state, const Commissioning__Envelope *env)
{
	spell_take_movement(state->spell, env->patient_updated);
}

static void
spell_step_discharged(struct spell_fold_state *state, const Commissioning__Envelope *env)
{
	struct spell *spell = state->spell;

	spell->discharged = true;
	spell->discharged_at_ms = env->occurred_at;
	spell_take_movement(spell, env->patient_discharged);
}

/*
 * A cancel-admission voids the spell: it counts nowhere until an admission
 * reopens it. It clears no discharge (only a cancel-discharge does, Edges,
 * settled) and undoes no transfer.
 */
static void
spell_cancel_admission(struct spell_fold_state *state)
{
	state->spell->is_void = true;
}

/* Undo the latest transfer still standing: site and ward back. */
static void
spell_cancel_transfer(struct spell_fold_state *state)
{
	struct spell_place back;

	if (state->n_undo == 0)
		return;
	back = state->undo[--state->n_undo];
	state->spell->site = back.site;
	state->spell->ward = back.ward;
}

static void
spell_cancel_discharge(struct spell_fold_state *state)
{
	state->spell->discharged = false;
}

static void
spell_step_cancelled(struct spell_fold_state *state, const Commissioning__Envelope *env)
{
	static void (*const cancel[])(struct spell_fold_state *) = {
	    [COMMISSIONING__CANCEL_TARGET__CANCEL_TARGET_ADMISSION] = spell_cancel_admission,
	    [COMMISSIONING__CANCEL_TARGET__CANCEL_TARGET_TRANSFER] = spell_cancel_transfer,
	    [COMMISSIONING__CANCEL_TARGET__CANCEL_TARGET_DISCHARGE] = spell_cancel_discharge,
	};
	unsigned target = (unsigned)env->patient_cancelled->cancels;

	if (target < sizeof(cancel) / sizeof(cancel[0]) && cancel[target] != NULL)
		cancel[target](state);
}

static const struct {
	Commissioning__Envelope__EventCase event_case;
	spell_step_fn step;
} spell_steps[] = {
    {COMMISSIONING__ENVELOPE__EVENT_PATIENT_ADMITTED, spell_step_admitted},
    {COMMISSIONING__ENVELOPE__EVENT_PATIENT_TRANSFERRED, spell_step_transferred},
    {COMMISSIONING__ENVELOPE__EVENT_PATIENT_UPDATED, spell_step_updated},
    {COMMISSIONING__ENVELOPE__EVENT_PATIENT_DISCHARGED, spell_step_discharged},
    {COMMISSIONING__ENVELOPE__EVENT_PATIENT_CANCELLED, spell_step_cancelled},
};

static spell_step_fn
spell_step_of(Commissioning__Envelope__EventCase event_case)
{
	for (size_t i = 0; i < sizeof(spell_steps) / sizeof(spell_steps[0]); i++)
		if (spell_steps[i].event_case == event_case)
			return spell_steps[i].step;
	return NULL;
}

static const ProtobufCBinaryData *
spell_event_patient(const Commissioning__Envelope *env)
{
	if (env->event_case == COMMISSIONING__ENVELOPE__EVENT_PATIENT_CANCELLED)
		return &env->patient_cancelled->patient_pseudonym;
	/* The four movements share one message, in the same union slot. */
	return &env->patient_admitted->patient_pseudonym;
}

int
spell_fold(const struct thing *t, struct spell *spell)
{
	struct spell_fold_state state = {.spell = spell};
	const ProtobufCBinaryData *patient = NULL;

	memset(spell, 0, sizeof(*spell));
	spell->provider = t->part[0] != NULL ? t->part[0] : "";
	spell->spell_hex = t->part[1] != NULL ? t->part[1] : "";
	spell->site = "";
	spell->ward = "";
	/* At most one transfer per event can stand. */
	state.undo = calloc(t->n_events ? t->n_events : 1, sizeof(*state.undo));
	if (state.undo == NULL)
		return -1;
	for (size_t i = 0; i < t->n_events; i++) {
		const Commissioning__Envelope *env = t->events[i];
		spell_step_fn step = spell_step_of(env->event_case);

		if (step == NULL)
			continue;
		/* The spell's patient is the one its latest event names. */
		if (spell_event_patient(env)->len > 0)
			patient = spell_event_patient(env);
		step(&state, env);
	}
	if (patient != NULL)
		pseudonym_hex(patient, spell->patient);
	free(state.undo);
	return 0;
}

struct spell *
spell_fold_all(const struct picture *picture, size_t *n)
{
	size_t count = picture_count(picture, THING_SPELL);
	struct spell *spells = calloc(count ? count : 1, sizeof(*spells));

	*n = 0;
	if (spells == NULL)
		return NULL;
	for (size_t i = 0; i < count; i++) {
		if (spell_fold(picture_thing(picture, THING_SPELL, i), &spells[i]) < 0) {
			free(spells);
			return NULL;
		}
	}
	*n = count;
	return spells;
}

bool
spell_is_inpatient(const struct spell *spell)
{
	return spell->patient_class == COMMISSIONING__PATIENT_CLASS__PATIENT_CLASS_INPATIENT ||
	       spell->patient_class == COMMISSIONING__PATIENT_CLASS__PATIENT_CLASS_OBSTETRICS;
}

bool
spell_is_attendance(const struct spell *spell)
{
	return spell->patient_class == COMMISSIONING__PATIENT_CLASS__PATIENT_CLASS_EMERGENCY ||
	       spell->patient_class == COMMISSIONING__PATIENT_CLASS__PATIENT_CLASS_OUTPATIENT;
}

bool
spell_in_hospital_at(const struct spell *spell, int64_t at_ms)
{
	if (spell->is_void || !spell_is_inpatient(spell) || !spell->admitted)
		return false;
	if (spell->admitted_at_ms > at_ms)
		return false;
	return !(spell->discharged && spell->discharged_at_ms <= at_ms);
}

bool
spell_has_inpatient_discharge(const struct spell *spell)
{
	return !spell->is_void && spell_is_inpatient(spell) && spell->discharged;
}

int64_t
spell_next_change_ms(const struct spell *spell, int64_t after_ms)
{
	int64_t next = INT64_MAX;

	if (spell->is_void || !spell_is_inpatient(spell) || !spell->admitted)
		return next;
	if (spell->admitted_at_ms > after_ms)
		next = spell->admitted_at_ms;
	if (spell->discharged && spell->discharged_at_ms > after_ms &&
	    spell->discharged_at_ms < next)
		next = spell->discharged_at_ms;
	return next;
}
