/*
 * test_event_check: which envelopes are accepted and which REJECTED with
 * which field: the worked examples (rejections, required-fields, codes) and
 * every rule of DOMAIN.md that one event can be judged on.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "event_check.h"

#define nitems(a) (sizeof(a) / sizeof((a)[0]))

/* 2026-05-10T10:00Z, when most of the examples' events happen. */
#define WHEN_MS 1778407200000LL
#define MONEY_MAX 10000000000000LL

#define ROLE(x) COMMISSIONING__ORG_ROLE__ORG_ROLE_##x
#define STATUS(x) COMMISSIONING__SERVICE_STATUS__SERVICE_STATUS_##x
#define CLASS(x) COMMISSIONING__PATIENT_CLASS__PATIENT_CLASS_##x
#define CHANGE(x) COMMISSIONING__PROPOSED_CHANGE_TYPE__PROPOSED_CHANGE_TYPE_##x
#define POOL(x) COMMISSIONING__BUDGET_POOL__BUDGET_POOL_##x
#define EVENT(x) COMMISSIONING__ENVELOPE__EVENT_##x

/* Two pseudonyms: 32 bytes each, as the adapters' keyed hash gives. */
static uint8_t patient_bytes[32] = "0123456789abcdef0123456789abcdef";
static uint8_t spell_bytes[32] = "fedcba9876543210fedcba9876543210";

/* One envelope and every message it may carry, built on the stack. */
struct fixture {
	Commissioning__Envelope env;
	Commissioning__Organisation organisation;
	Commissioning__ServiceStatusChanged service;
	Commissioning__ProposedChange change;
	Commissioning__ContractAwarded award;
	Commissioning__ContractVaried variation;
	Commissioning__ContractTerminated termination;
	Commissioning__BudgetAllocated budget;
	Commissioning__BudgetContributor contributor[4];
	Commissioning__BudgetContributor *contributors[4];
	Commissioning__SpendRecorded spend;
	Commissioning__PatientMovement movement;
	Commissioning__PatientCancelled cancel;
	Commissioning__ReadyForDischarge ready;
	Commissioning__CarePackage package;
	Commissioning__CapacityReported capacity;
	Commissioning__InterestDeclared declaration;
	Commissioning__InterestWithdrawn withdrawal;
	char *makers[2];
	char *recused[2];
	char text[600];
};

static void
fixture_init(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
	f->env = (Commissioning__Envelope)COMMISSIONING__ENVELOPE__INIT;
	f->env.source = (char *)"test";
	f->env.event_id = (char *)"E0001";
	f->env.occurred_at = WHEN_MS;
}

static void
pseudonym_set(ProtobufCBinaryData *field, uint8_t *bytes, size_t len)
{
	field->data = bytes;
	field->len = len;
}

static Commissioning__Organisation *
organisation(struct fixture *f, const char *code, int role, const char *parent)
{
	Commissioning__Organisation *o = &f->organisation;

	*o = (Commissioning__Organisation)COMMISSIONING__ORGANISATION__INIT;
	o->code = (char *)code;
	o->role = (Commissioning__OrgRole)role;
	o->name = (char *)"Name";
	if (parent != NULL)
		o->parent_code = (char *)parent;
	f->env.event_case = EVENT(ORGANISATION_REGISTERED);
	f->env.organisation_registered = o;
	return o;
}

static Commissioning__ServiceStatusChanged *
service(struct fixture *f, const char *commissioner, const char *provider,
    int from, int to)
{
	Commissioning__ServiceStatusChanged *s = &f->service;

	*s = (Commissioning__ServiceStatusChanged)
	    COMMISSIONING__SERVICE_STATUS_CHANGED__INIT;
	s->service_id = (char *)"S1";
	s->commissioner = (char *)commissioner;
	s->provider = (char *)provider;
	s->category = COMMISSIONING__SERVICE_CATEGORY__SERVICE_CATEGORY_ELECTIVE;
	s->from_status = (Commissioning__ServiceStatus)from;
	s->to_status = (Commissioning__ServiceStatus)to;
	s->effective_date = (char *)"2026-01-01";
	s->opt_places_case =
	    COMMISSIONING__SERVICE_STATUS_CHANGED__OPT_PLACES_PLACES;
	s->places = 10;
	f->env.event_case = EVENT(SERVICE_STATUS_CHANGED);
	f->env.service_status_changed = s;
	return s;
}

static Commissioning__ProposedChange *
proposed_change(struct fixture *f, int type)
{
	Commissioning__ProposedChange *c = &f->change;

	*c = (Commissioning__ProposedChange)COMMISSIONING__PROPOSED_CHANGE__INIT;
	c->type = (Commissioning__ProposedChangeType)type;
	f->service.proposed_change = c;
	return c;
}

static Commissioning__ContractAwarded *
award(struct fixture *f, const char *commissioner, const char *provider)
{
	Commissioning__ContractAwarded *a = &f->award;

	*a = (Commissioning__ContractAwarded)COMMISSIONING__CONTRACT_AWARDED__INIT;
	a->contract_id = (char *)"K1";
	a->commissioner = (char *)commissioner;
	a->provider = (char *)provider;
	a->opt_annual_value_case =
	    COMMISSIONING__CONTRACT_AWARDED__OPT_ANNUAL_VALUE_ANNUAL_VALUE;
	a->annual_value = 1000;
	a->start_date = (char *)"2026-06-01";
	a->end_date = (char *)"2027-05-31";
	a->decided_on = (char *)"2026-05-10";
	f->makers[0] = (char *)"S1";
	a->decision_makers = f->makers;
	a->n_decision_makers = 1;
	f->env.event_case = EVENT(CONTRACT_AWARDED);
	f->env.contract_awarded = a;
	return a;
}

static Commissioning__ContractVaried *
variation(struct fixture *f, int64_t number)
{
	Commissioning__ContractVaried *v = &f->variation;

	*v = (Commissioning__ContractVaried)COMMISSIONING__CONTRACT_VARIED__INIT;
	v->contract_id = (char *)"K1";
	v->variation_number = number;
	v->opt_new_annual_value_case =
	    COMMISSIONING__CONTRACT_VARIED__OPT_NEW_ANNUAL_VALUE_NEW_ANNUAL_VALUE;
	v->new_annual_value = 1000;
	v->effective_date = (char *)"2026-06-01";
	v->decided_on = (char *)"2026-05-10";
	f->makers[0] = (char *)"S1";
	v->decision_makers = f->makers;
	v->n_decision_makers = 1;
	f->env.event_case = EVENT(CONTRACT_VARIED);
	f->env.contract_varied = v;
	return v;
}

static Commissioning__ContractTerminated *
termination(struct fixture *f, const char *last_day)
{
	Commissioning__ContractTerminated *t = &f->termination;

	*t = (Commissioning__ContractTerminated)
	    COMMISSIONING__CONTRACT_TERMINATED__INIT;
	t->contract_id = (char *)"K1";
	t->last_day_of_service = (char *)last_day;
	f->env.event_case = EVENT(CONTRACT_TERMINATED);
	f->env.contract_terminated = t;
	return t;
}

static Commissioning__BudgetAllocated *
budget(struct fixture *f, const char *commissioner, const char *year,
    int pool, int64_t amount)
{
	Commissioning__BudgetAllocated *b = &f->budget;

	*b = (Commissioning__BudgetAllocated)COMMISSIONING__BUDGET_ALLOCATED__INIT;
	b->commissioner = (char *)commissioner;
	b->financial_year = (char *)year;
	b->pool = (Commissioning__BudgetPool)pool;
	b->opt_amount_case = COMMISSIONING__BUDGET_ALLOCATED__OPT_AMOUNT_AMOUNT;
	b->amount = amount;
	b->contributors = f->contributors;
	f->env.event_case = EVENT(BUDGET_ALLOCATED);
	f->env.budget_allocated = b;
	return b;
}

static void
contributor_add(struct fixture *f, const char *code, int64_t share)
{
	size_t i = f->budget.n_contributors;
	Commissioning__BudgetContributor *c = &f->contributor[i];

	assert_true(i < nitems(f->contributor));
	*c = (Commissioning__BudgetContributor)
	    COMMISSIONING__BUDGET_CONTRIBUTOR__INIT;
	c->code = (char *)code;
	c->opt_share_case = COMMISSIONING__BUDGET_CONTRIBUTOR__OPT_SHARE_SHARE;
	c->share = share;
	f->contributors[i] = c;
	f->budget.n_contributors = i + 1;
}

static Commissioning__SpendRecorded *
spend(struct fixture *f, const char *commissioner, const char *period,
    int64_t amount)
{
	Commissioning__SpendRecorded *s = &f->spend;

	*s = (Commissioning__SpendRecorded)COMMISSIONING__SPEND_RECORDED__INIT;
	s->commissioner = (char *)commissioner;
	s->contract_id = (char *)"K1";
	s->period = (char *)period;
	s->opt_amount_case = COMMISSIONING__SPEND_RECORDED__OPT_AMOUNT_AMOUNT;
	s->amount = amount;
	f->env.event_case = EVENT(SPEND_RECORDED);
	f->env.spend_recorded = s;
	return s;
}

/* A movement of kind (EVENT(PATIENT_*)); site and ward may be NULL. */
static Commissioning__PatientMovement *
movement(struct fixture *f, int kind, const char *provider, const char *site,
    const char *ward, int patient_class)
{
	Commissioning__PatientMovement *m = &f->movement;

	*m = (Commissioning__PatientMovement)COMMISSIONING__PATIENT_MOVEMENT__INIT;
	pseudonym_set(&m->patient_pseudonym, patient_bytes, 32);
	pseudonym_set(&m->spell_pseudonym, spell_bytes, 32);
	m->provider = (char *)provider;
	if (site != NULL)
		m->site = (char *)site;
	if (ward != NULL)
		m->ward = (char *)ward;
	m->patient_class = (Commissioning__PatientClass)patient_class;
	f->env.event_case = (Commissioning__Envelope__EventCase)kind;
	/* All four movements share the message type and the union slot. */
	f->env.patient_admitted = m;
	return m;
}

static Commissioning__PatientMovement *
admission(struct fixture *f, const char *provider, const char *site)
{
	return movement(f, EVENT(PATIENT_ADMITTED), provider, site, "W1",
	    CLASS(INPATIENT));
}

static Commissioning__PatientCancelled *
cancel(struct fixture *f, int cancels)
{
	Commissioning__PatientCancelled *c = &f->cancel;

	*c = (Commissioning__PatientCancelled)
	    COMMISSIONING__PATIENT_CANCELLED__INIT;
	pseudonym_set(&c->spell_pseudonym, spell_bytes, 32);
	c->provider = (char *)"RAA";
	c->cancels = (Commissioning__CancelTarget)cancels;
	f->env.event_case = EVENT(PATIENT_CANCELLED);
	f->env.patient_cancelled = c;
	return c;
}

static Commissioning__ReadyForDischarge *
ready(struct fixture *f, const char *provider, const char *date,
    int64_t pathway)
{
	Commissioning__ReadyForDischarge *r = &f->ready;

	*r = (Commissioning__ReadyForDischarge)
	    COMMISSIONING__READY_FOR_DISCHARGE__INIT;
	pseudonym_set(&r->patient_pseudonym, patient_bytes, 32);
	r->provider = (char *)provider;
	r->ready_date = (char *)date;
	r->opt_pathway_case =
	    COMMISSIONING__READY_FOR_DISCHARGE__OPT_PATHWAY_PATHWAY;
	r->pathway = pathway;
	f->env.event_case = EVENT(READY_FOR_DISCHARGE);
	f->env.ready_for_discharge = r;
	return r;
}

/* kind is EVENT(CARE_PACKAGE_STARTED) or _ENDED; dates may be NULL. */
static Commissioning__CarePackage *
package(struct fixture *f, int kind, const char *start, const char *end)
{
	Commissioning__CarePackage *p = &f->package;

	*p = (Commissioning__CarePackage)COMMISSIONING__CARE_PACKAGE__INIT;
	pseudonym_set(&p->patient_pseudonym, patient_bytes, 32);
	p->council = (char *)"E10000011";
	p->package_id = (char *)"P1";
	if (start != NULL)
		p->start_date = (char *)start;
	if (end != NULL)
		p->end_date = (char *)end;
	f->env.event_case = (Commissioning__Envelope__EventCase)kind;
	f->env.care_package_started = p;
	return p;
}

static void
package_hours(struct fixture *f, double hours)
{
	f->package.opt_hours_per_week_case =
	    COMMISSIONING__CARE_PACKAGE__OPT_HOURS_PER_WEEK_HOURS_PER_WEEK;
	f->package.hours_per_week = hours;
}

static Commissioning__CapacityReported *
capacity(struct fixture *f, const char *organisation_code, int64_t available,
    int64_t occupied)
{
	Commissioning__CapacityReported *c = &f->capacity;

	*c = (Commissioning__CapacityReported)
	    COMMISSIONING__CAPACITY_REPORTED__INIT;
	c->organisation = (char *)organisation_code;
	c->sector = COMMISSIONING__SECTOR__SECTOR_GENERAL_AND_ACUTE;
	c->opt_beds_available_case =
	    COMMISSIONING__CAPACITY_REPORTED__OPT_BEDS_AVAILABLE_BEDS_AVAILABLE;
	c->beds_available = available;
	c->opt_beds_occupied_case =
	    COMMISSIONING__CAPACITY_REPORTED__OPT_BEDS_OCCUPIED_BEDS_OCCUPIED;
	c->beds_occupied = occupied;
	c->as_of = WHEN_MS;
	f->env.event_case = EVENT(CAPACITY_REPORTED);
	f->env.capacity_reported = c;
	return c;
}

static Commissioning__InterestDeclared *
declaration(struct fixture *f, const char *interest_in, const char *from,
    const char *to)
{
	Commissioning__InterestDeclared *d = &f->declaration;

	*d = (Commissioning__InterestDeclared)
	    COMMISSIONING__INTEREST_DECLARED__INIT;
	d->declaration_id = (char *)"D1";
	d->person = (char *)"S1";
	d->organisation = (char *)"QNX";
	d->type = COMMISSIONING__INTEREST_TYPE__INTEREST_TYPE_FINANCIAL;
	d->interest_in = (char *)interest_in;
	d->from_date = (char *)from;
	if (to != NULL)
		d->to_date = (char *)to;
	f->env.event_case = EVENT(INTEREST_DECLARED);
	f->env.interest_declared = d;
	return d;
}

static Commissioning__InterestWithdrawn *
withdrawal(struct fixture *f, const char *to)
{
	Commissioning__InterestWithdrawn *w = &f->withdrawal;

	*w = (Commissioning__InterestWithdrawn)
	    COMMISSIONING__INTEREST_WITHDRAWN__INIT;
	w->declaration_id = (char *)"D1";
	if (to != NULL)
		w->to_date = (char *)to;
	f->env.event_case = EVENT(INTEREST_WITHDRAWN);
	f->env.interest_withdrawn = w;
	return w;
}

/* Fill f->text with n copies of unit (a UTF-8 character or a letter). */
static char *
text_repeat(struct fixture *f, const char *unit, size_t n)
{
	size_t len = strlen(unit);

	assert_true(n * len < sizeof(f->text));
	for (size_t i = 0; i < n; i++)
		memcpy(f->text + i * len, unit, len);
	f->text[n * len] = '\0';
	return f->text;
}

static void
assert_accepted(const struct fixture *f)
{
	struct check_error err;
	int rc = event_check(&f->env, &err);

	if (rc != 0)
		print_error("unexpected rejection: field %s: %s\n", err.field,
		    err.reason);
	assert_int_equal(rc, 0);
}

/* Rejected on field, with a reason that starts by naming it. */
static void
assert_rejected_on(const struct fixture *f, const char *field)
{
	struct check_error err;
	size_t len = strlen(field);

	assert_int_equal(event_check(&f->env, &err), -1);
	assert_string_equal(err.field, field);
	assert_true(strncmp(err.reason, field, len) == 0);
	assert_true(strncmp(err.reason + len, ": ", 2) == 0);
	assert_true(strlen(err.reason) > len + 2);
}

/* Rejected with exactly this reason. */
static void
assert_reason(const struct fixture *f, const char *reason)
{
	struct check_error err;

	assert_int_equal(event_check(&f->env, &err), -1);
	assert_string_equal(err.reason, reason);
}

/* ------------------------------------------------------------ envelope */

static void
test_envelope_without_source_is_rejected_on_source(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	organisation(&f, "QNX", ROLE(ICB), "Y59");
	f.env.source = (char *)"";
	assert_rejected_on(&f, "source");
	f.env.source = NULL;
	assert_rejected_on(&f, "source");
}

static void
test_source_is_at_most_64_bytes_of_ascii_without_spaces(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	organisation(&f, "QNX", ROLE(ICB), "Y59");
	f.env.source = text_repeat(&f, "s", 64);
	assert_accepted(&f);
	f.env.source = text_repeat(&f, "s", 65);
	assert_rejected_on(&f, "source");
	f.env.source = (char *)"hl7 RAA";
	assert_rejected_on(&f, "source");
	f.env.source = (char *)"hl7:\303\251";
	assert_rejected_on(&f, "source");
	f.env.source = (char *)"hl7:RAA\n";
	assert_rejected_on(&f, "source");
}

static void
test_event_id_is_required_and_at_most_128_bytes_of_ascii(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	organisation(&f, "QNX", ROLE(ICB), "Y59");
	f.env.event_id = (char *)"";
	assert_rejected_on(&f, "event_id");
	f.env.event_id = text_repeat(&f, "e", 128);
	assert_accepted(&f);
	f.env.event_id = text_repeat(&f, "e", 129);
	assert_rejected_on(&f, "event_id");
	f.env.event_id = (char *)"MSG 0001";
	assert_accepted(&f);
	f.env.event_id = (char *)"MSG\t0001";
	assert_rejected_on(&f, "event_id");
}

static void
test_occurred_at_must_fall_in_2000_to_2100(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	organisation(&f, "QNX", ROLE(ICB), "Y59");
	f.env.occurred_at = 946684800000LL;
	assert_accepted(&f);
	f.env.occurred_at = 946684800000LL - 1;
	assert_rejected_on(&f, "occurred_at");
	f.env.occurred_at = 4102444800000LL - 1;
	assert_accepted(&f);
	f.env.occurred_at = 4102444800000LL;
	assert_rejected_on(&f, "occurred_at");
	f.env.occurred_at = 0;
	assert_rejected_on(&f, "occurred_at");
	f.env.occurred_at = 1778407200; /* seconds, not ms */
	assert_rejected_on(&f, "occurred_at");
}

/* Rejections E0031: an unknown kind reaches the daemon as no event. */
static void
test_envelope_without_known_event_is_rejected_on_event(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	assert_rejected_on(&f, "event");
	assert_string_equal(event_kind_name(&f.env), "unknown");
	f.env.event_case = (Commissioning__Envelope__EventCase)99;
	assert_rejected_on(&f, "event");
	f.env.event_case = (Commissioning__Envelope__EventCase)5;
	assert_rejected_on(&f, "event");
	assert_string_equal(event_kind_name(&f.env), "unknown");
}

static void
test_event_case_without_its_message_is_rejected_on_event(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	f.env.event_case = EVENT(PATIENT_ADMITTED);
	f.env.patient_admitted = NULL;
	assert_rejected_on(&f, "event");
}

static void
test_null_envelope_is_rejected(void **state)
{
	struct check_error err;

	(void)state;
	assert_int_equal(event_check(NULL, &err), -1);
	assert_string_equal(err.field, "event");
	assert_int_equal(event_check(NULL, NULL), -1);
	assert_string_equal(event_kind_name(NULL), "unknown");
}

static void
test_event_kind_name_is_the_oneof_field_name(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	admission(&f, "RAA", "RAA01");
	assert_string_equal(event_kind_name(&f.env), "patient_admitted");
	movement(&f, EVENT(PATIENT_DISCHARGED), "RAA", NULL, NULL,
	    CLASS(INPATIENT));
	assert_string_equal(event_kind_name(&f.env), "patient_discharged");
	package(&f, EVENT(CARE_PACKAGE_ENDED), NULL, "2026-06-01");
	assert_string_equal(event_kind_name(&f.env), "care_package_ended");
	organisation(&f, "QNX", ROLE(ICB), NULL);
	f.env.event_case = EVENT(ORGANISATION_UPDATED);
	assert_string_equal(event_kind_name(&f.env), "organisation_updated");
}

/* -------------------------------------------- examples: rejections */

/* E0001-E0007: the reference data every example starts from. */
static void
test_reference_organisations_of_the_examples_are_accepted(void **state)
{
	static const struct {
		const char *code;
		int role;
		const char *parent;
	} orgs[] = {
		{ "Y59", ROLE(REGION), NULL },
		{ "QNX", ROLE(ICB), "Y59" },
		{ "E10000011", ROLE(LOCAL_AUTHORITY), "QNX" },
		{ "E06000043", ROLE(LOCAL_AUTHORITY), "QNX" },
		{ "RAA", ROLE(TRUST), "QNX" },
		{ "RAA01", ROLE(TRUST_SITE), "RAA" },
		{ "NV7", ROLE(INDEPENDENT_PROVIDER), "QNX" },
		{ "NV701", ROLE(TRUST_SITE), "NV7" },
		{ "D4U1Y", ROLE(SUB_ICB), "QNX" },
		{ "8HA03", ROLE(INDEPENDENT_PROVIDER), "QNX" },
		{ "1-100000001", ROLE(CARE_HOME), "E10000011" },
		{ "G81001", ROLE(GP_PRACTICE), "QNX" },
		{ "02P", ROLE(SUB_ICB), "QNX" },
		{ "TAK", ROLE(TRUST), "QNX" },
	};
	struct fixture f;

	(void)state;
	for (size_t i = 0; i < nitems(orgs); i++) {
		fixture_init(&f);
		organisation(&f, orgs[i].code, orgs[i].role, orgs[i].parent);
		assert_accepted(&f);
	}
}

/* E0008 accepted, E0009 rejected: 128 and 129 two-byte characters. */
static void
test_ward_of_256_bytes_is_accepted_and_258_rejected(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	admission(&f, "RAA", "RAA01")->ward = text_repeat(&f, "\303\251", 128);
	assert_accepted(&f);
	f.movement.ward = text_repeat(&f, "\303\251", 129);
	assert_rejected_on(&f, "ward");
}

/* E0010, E0011: an upper-case or short hex text is no 32-byte pseudonym. */
static void
test_pseudonym_not_32_bytes_is_rejected(void **state)
{
	static uint8_t upper_hex[] =
	    "73B601A03FC76B076A1FC4574D6F6F6F034AD09CD534FA259051C44855A9C1D4";
	struct fixture f;

	(void)state;
	fixture_init(&f);
	pseudonym_set(&admission(&f, "RAA", "RAA01")->patient_pseudonym,
	    upper_hex, 64);
	assert_rejected_on(&f, "patient_pseudonym");
	pseudonym_set(&f.movement.patient_pseudonym, upper_hex, 63);
	assert_rejected_on(&f, "patient_pseudonym");
	pseudonym_set(&f.movement.patient_pseudonym, patient_bytes, 31);
	assert_rejected_on(&f, "patient_pseudonym");
	pseudonym_set(&f.movement.patient_pseudonym, patient_bytes, 32);
	pseudonym_set(&f.movement.spell_pseudonym, upper_hex, 33);
	assert_rejected_on(&f, "spell_pseudonym");
}

/* E0012, and the reason's wording. */
static void
test_site_of_another_provider_is_rejected_on_site(void **state)
{
	struct fixture f;
	struct check_error err;

	(void)state;
	fixture_init(&f);
	admission(&f, "RAA", "RBB01");
	assert_rejected_on(&f, "site");
	assert_int_equal(event_check(&f.env, &err), -1);
	assert_string_equal(err.reason, "site: \"RBB01\" is not a site of "
	    "provider \"RAA\" (a site is its provider's code plus two "
	    "characters)");
}

/* E0013 (X) and E0033 (Q): letters outside HL7 table 0004. */
static void
test_unknown_patient_class_is_rejected(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	admission(&f, "RAA", "RAA01")->patient_class =
	    (Commissioning__PatientClass)'X';
	assert_rejected_on(&f, "patient_class");
	f.movement.patient_class = (Commissioning__PatientClass)8;
	assert_rejected_on(&f, "patient_class");
	f.movement.patient_class = CLASS(UNSPECIFIED);
	assert_rejected_on(&f, "patient_class");
}

/* E0033: the corrected resend is judged afresh and accepted. */
static void
test_every_known_patient_class_is_accepted(void **state)
{
	struct fixture f;

	(void)state;
	for (int c = CLASS(INPATIENT); c <= CLASS(UNKNOWN); c++) {
		fixture_init(&f);
		admission(&f, "RAA", "RAA01")->patient_class =
		    (Commissioning__PatientClass)c;
		assert_accepted(&f);
	}
}

/* E0014: 8HA03, in the older frame, is its own site; no other is. */
static void
test_older_frame_provider_is_its_own_site(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	admission(&f, "8HA03", "8HA03");
	assert_accepted(&f);
	f.movement.site = (char *)"8HA04";
	assert_rejected_on(&f, "site");
}

/* E0015 and the codes example E0026. */
static void
test_site_of_n_code_provider_is_accepted(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	admission(&f, "NV7", "NV701");
	assert_accepted(&f);
}

/* E0016. */
static void
test_care_home_with_icb_parent_is_rejected_on_parent_code(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	organisation(&f, "1-100000003", ROLE(CARE_HOME), "QNX");
	assert_rejected_on(&f, "parent_code");
}

/* E0017. */
static void
test_package_ending_before_it_starts_is_rejected_on_end_date(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	package(&f, EVENT(CARE_PACKAGE_STARTED), "2026-05-10", "2026-05-09");
	assert_rejected_on(&f, "end_date");
	f.package.end_date = (char *)"2026-05-10";
	assert_accepted(&f);
}

/* E0018 and the codes example E0020. */
static void
test_trust_as_commissioner_is_rejected(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	budget(&f, "RXC", "2026-27", POOL(CORE), 1);
	assert_rejected_on(&f, "commissioner");
	f.budget.commissioner = (char *)"RAA";
	assert_rejected_on(&f, "commissioner");
}

/* E0019. */
static void
test_site_as_admission_provider_is_rejected_on_provider(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	admission(&f, "RAA01", "RAA01");
	assert_rejected_on(&f, "provider");
}

/* E0020: N and four characters is a site, not an independent provider. */
static void
test_nv702_registered_as_independent_provider_is_rejected_on_code(
    void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	organisation(&f, "NV702", ROLE(INDEPENDENT_PROVIDER), NULL);
	f.organisation.name = (char *)"";
	assert_rejected_on(&f, "code");
}

/* E0021. */
static void
test_declaration_ending_before_it_starts_is_rejected_on_to_date(
    void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	declaration(&f, "RAA", "2026-05-10", "2026-05-01");
	assert_rejected_on(&f, "to_date");
}

/* E0022. */
static void
test_interest_in_a_name_is_rejected_on_interest_in(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	declaration(&f, "Acme Consulting Ltd", "2026-05-10", NULL);
	assert_rejected_on(&f, "interest_in");
}

/* E0023. */
static void
test_award_without_decided_on_is_rejected(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	award(&f, "QNX", "RAA")->decided_on = (char *)"";
	assert_rejected_on(&f, "decided_on");
}

/* E0024. */
static void
test_financial_year_2026_28_is_rejected(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	budget(&f, "QNX", "2026-28", POOL(CORE), 1);
	assert_rejected_on(&f, "financial_year");
	f.budget.financial_year = (char *)"2026-27";
	assert_accepted(&f);
}

/* E0025. */
static void
test_period_2026_13_is_rejected(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	spend(&f, "QNX", "2026-13", 1);
	assert_rejected_on(&f, "period");
}

/*
 * Dates, periods and financial years fall in the years 1900 to 2100: an
 * award ending 9999-12-31 would make its commissioner's figures list every
 * financial year to 9999.
 */
static void
test_dates_fall_in_the_years_1900_to_2100(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	award(&f, "QNX", "RAA")->end_date = (char *)"9999-12-31";
	assert_reason(&f, "end_date: \"9999-12-31\" is outside the years 1900 to 2100");
	f.award.end_date = (char *)"2100-12-31";
	assert_accepted(&f);
	f.award.start_date = (char *)"1899-12-31";
	assert_rejected_on(&f, "start_date");
	f.award.start_date = (char *)"1900-01-01";
	assert_accepted(&f);
	organisation(&f, "RAA", ROLE(TRUST), "QNX")->active_from = (char *)"0001-01-01";
	assert_rejected_on(&f, "active_from");
	f.organisation.active_from = (char *)"1974-04-01";
	assert_accepted(&f);
	spend(&f, "QNX", "2101-01", 1);
	assert_reason(&f, "period: \"2101-01\" is outside the years 1900 to 2100");
	f.spend.period = (char *)"2100-12";
	assert_accepted(&f);
	f.spend.period = (char *)"1899-12";
	assert_rejected_on(&f, "period");
	/* A financial year runs to 31 March of the next: 2099-00 ends in
	 * 2100, 2100-01 in 2101. */
	budget(&f, "QNX", "2100-01", POOL(CORE), 1);
	assert_rejected_on(&f, "financial_year");
	f.budget.financial_year = (char *)"2099-00";
	assert_accepted(&f);
	f.budget.financial_year = (char *)"1899-00";
	assert_rejected_on(&f, "financial_year");
	f.budget.financial_year = (char *)"1900-01";
	assert_accepted(&f);
}

/* E0026 accepted, E0027 rejected: spend may be a credit, down to -10^13. */
static void
test_spend_runs_from_minus_to_plus_10_13(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	spend(&f, "QNX", "2026-04", -MONEY_MAX);
	assert_accepted(&f);
	f.spend.amount = -MONEY_MAX - 1;
	assert_rejected_on(&f, "amount");
	assert_reason(&f, "amount: -10000000000001 pence (-\u00a3100,000,000,000.01) "
	    "is outside -\u00a3100,000,000,000.00 to \u00a3100,000,000,000.00");
	/* The most negative pence there are still read as pounds. */
	f.spend.amount = INT64_MIN;
	assert_reason(&f, "amount: -9223372036854775808 pence "
	    "(-\u00a392,233,720,368,547,758.08) is outside "
	    "-\u00a3100,000,000,000.00 to \u00a3100,000,000,000.00");
	f.spend.amount = MONEY_MAX;
	assert_accepted(&f);
	f.spend.amount = MONEY_MAX + 1;
	assert_rejected_on(&f, "amount");
	f.spend.opt_amount_case =
	    COMMISSIONING__SPEND_RECORDED__OPT_AMOUNT__NOT_SET;
	assert_rejected_on(&f, "amount");
}

/* E0028. */
static void
test_beds_over_100000_are_rejected(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	capacity(&f, "RAA01", 100001, 0);
	assert_rejected_on(&f, "beds_available");
	f.capacity.beds_available = 100000;
	assert_accepted(&f);
	f.capacity.beds_occupied = -1;
	assert_rejected_on(&f, "beds_occupied");
}

/* E0029. */
static void
test_pathway_outside_0_to_3_is_rejected(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	ready(&f, "RAA", "2026-05-10", 4);
	assert_rejected_on(&f, "pathway");
	f.ready.pathway = -1;
	assert_rejected_on(&f, "pathway");
	f.ready.pathway = 0;
	assert_accepted(&f);
	f.ready.pathway = 3;
	assert_accepted(&f);
	f.ready.opt_pathway_case =
	    COMMISSIONING__READY_FOR_DISCHARGE__OPT_PATHWAY__NOT_SET;
	assert_rejected_on(&f, "pathway");
}

/* E0030. */
static void
test_ready_date_30_february_is_rejected(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	ready(&f, "RAA", "2026-02-30", 1);
	assert_rejected_on(&f, "ready_date");
}

/* E0032. */
static void
test_sub_icb_location_as_commissioner_is_accepted(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	budget(&f, "09D", "2026-27", POOL(CORE), 1);
	assert_accepted(&f);
}

/* ---------------------------------------- examples: required-fields */

/* E0008, E0009 accepted; E0010 rejected. */
static void
test_hours_a_week_run_from_0_to_168_and_may_be_fractional(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	package(&f, EVENT(CARE_PACKAGE_STARTED), "2026-05-10", "2026-06-21");
	package_hours(&f, 168);
	assert_accepted(&f);
	package(&f, EVENT(CARE_PACKAGE_STARTED), "2026-05-10", NULL);
	package_hours(&f, 10.5);
	assert_accepted(&f);
	package_hours(&f, 0);
	assert_accepted(&f);
	package_hours(&f, 168.5);
	assert_rejected_on(&f, "hours_per_week");
	package_hours(&f, -0.5);
	assert_rejected_on(&f, "hours_per_week");
	package_hours(&f, NAN);
	assert_rejected_on(&f, "hours_per_week");
	package_hours(&f, INFINITY);
	assert_rejected_on(&f, "hours_per_week");
}

/* E0011 rejected; E0012 accepted; E0013 rejected. */
static void
test_package_started_needs_start_and_ended_needs_end(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	package(&f, EVENT(CARE_PACKAGE_STARTED), NULL, "2026-06-21");
	assert_rejected_on(&f, "start_date");
	package(&f, EVENT(CARE_PACKAGE_ENDED), NULL, "2026-06-01");
	assert_accepted(&f);
	package(&f, EVENT(CARE_PACKAGE_ENDED), "2026-05-10", NULL);
	assert_rejected_on(&f, "end_date");
}

static void
test_package_needs_patient_council_and_package_id(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	package(&f, EVENT(CARE_PACKAGE_STARTED), "2026-05-10", NULL);
	f.package.patient_pseudonym.len = 0;
	assert_rejected_on(&f, "patient_pseudonym");
	package(&f, EVENT(CARE_PACKAGE_STARTED), "2026-05-10", NULL)->council =
	    (char *)"QNX";
	assert_rejected_on(&f, "council");
	package(&f, EVENT(CARE_PACKAGE_STARTED), "2026-05-10", NULL)
	    ->package_id = (char *)"";
	assert_rejected_on(&f, "package_id");
}

static void
test_package_cost_and_service_type_are_optional_but_checked(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	package(&f, EVENT(CARE_PACKAGE_STARTED), "2026-05-10", NULL);
	f.package.service_type =
	    COMMISSIONING__CARE_PACKAGE_TYPE__CARE_PACKAGE_TYPE_NURSING;
	f.package.opt_weekly_cost_case =
	    COMMISSIONING__CARE_PACKAGE__OPT_WEEKLY_COST_WEEKLY_COST;
	f.package.weekly_cost = MONEY_MAX;
	assert_accepted(&f);
	f.package.weekly_cost = -1;
	assert_rejected_on(&f, "weekly_cost");
	f.package.weekly_cost = MONEY_MAX + 1;
	assert_rejected_on(&f, "weekly_cost");
	f.package.weekly_cost = 0;
	f.package.service_type = (Commissioning__CarePackageType)9;
	assert_rejected_on(&f, "service_type");
}

/* E0015: a cancel needs its provider, spell and what it cancels. */
static void
test_cancel_needs_only_provider_spell_and_what_it_cancels(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	cancel(&f, COMMISSIONING__CANCEL_TARGET__CANCEL_TARGET_ADMISSION);
	assert_accepted(&f);
	pseudonym_set(&f.cancel.patient_pseudonym, patient_bytes, 32);
	assert_accepted(&f);
	pseudonym_set(&f.cancel.patient_pseudonym, patient_bytes, 20);
	assert_rejected_on(&f, "patient_pseudonym");
	cancel(&f, COMMISSIONING__CANCEL_TARGET__CANCEL_TARGET_UNSPECIFIED);
	assert_rejected_on(&f, "cancels");
	cancel(&f, 4);
	assert_rejected_on(&f, "cancels");
	cancel(&f, COMMISSIONING__CANCEL_TARGET__CANCEL_TARGET_DISCHARGE)
	    ->spell_pseudonym.len = 0;
	assert_rejected_on(&f, "spell_pseudonym");
	cancel(&f, COMMISSIONING__CANCEL_TARGET__CANCEL_TARGET_TRANSFER)
	    ->provider = (char *)"";
	assert_rejected_on(&f, "provider");
	cancel(&f, COMMISSIONING__CANCEL_TARGET__CANCEL_TARGET_TRANSFER)
	    ->provider = (char *)"RAA01";
	assert_rejected_on(&f, "provider");
}

/* E0017: an empty ward is a missing one, and admissions need it. */
static void
test_admission_and_transfer_need_site_and_ward(void **state)
{
	static const int kinds[] = {
		EVENT(PATIENT_ADMITTED), EVENT(PATIENT_TRANSFERRED)
	};
	struct fixture f;

	(void)state;
	for (size_t i = 0; i < nitems(kinds); i++) {
		fixture_init(&f);
		movement(&f, kinds[i], "RAA", "RAA01", "", CLASS(INPATIENT));
		assert_rejected_on(&f, "ward");
		movement(&f, kinds[i], "RAA", NULL, "W1", CLASS(INPATIENT));
		assert_rejected_on(&f, "site");
		movement(&f, kinds[i], "RAA", "RAA01", "W1", CLASS(INPATIENT));
		assert_accepted(&f);
	}
}

/* E0018: a bare discharge, with an empty destination. */
static void
test_discharge_and_update_need_no_site_ward_or_destination(void **state)
{
	static const int kinds[] = {
		EVENT(PATIENT_DISCHARGED), EVENT(PATIENT_UPDATED)
	};
	struct fixture f;

	(void)state;
	for (size_t i = 0; i < nitems(kinds); i++) {
		fixture_init(&f);
		movement(&f, kinds[i], "RAA", NULL, NULL, CLASS(INPATIENT))
		    ->discharge_destination = (char *)"";
		assert_accepted(&f);
		f.movement.site = (char *)"RBB01";
		assert_rejected_on(&f, "site");
		f.movement.site = (char *)"RAA02";
		f.movement.discharge_destination = (char *)"Home";
		assert_accepted(&f);
		f.movement.patient_class = CLASS(UNSPECIFIED);
		assert_rejected_on(&f, "patient_class");
	}
}

static void
test_movement_needs_both_pseudonyms_and_a_provider(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	admission(&f, "RAA", "RAA01")->patient_pseudonym.len = 0;
	assert_rejected_on(&f, "patient_pseudonym");
	admission(&f, "RAA", "RAA01")->spell_pseudonym.len = 0;
	assert_rejected_on(&f, "spell_pseudonym");
	admission(&f, "", "RAA01");
	assert_rejected_on(&f, "provider");
}

static void
test_treatment_function_is_exactly_three_digits(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	admission(&f, "RAA", "RAA01")->treatment_function = (char *)"300";
	assert_accepted(&f);
	f.movement.treatment_function = (char *)"30";
	assert_rejected_on(&f, "treatment_function");
	f.movement.treatment_function = (char *)"3000";
	assert_rejected_on(&f, "treatment_function");
	f.movement.treatment_function = (char *)"30A";
	assert_rejected_on(&f, "treatment_function");
}

/* E0019: the council on a ready-for-discharge report is optional. */
static void
test_ready_for_discharge_council_is_optional_but_a_gss_code(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	ready(&f, "RAA", "2026-05-09", 1);
	assert_accepted(&f);
	f.ready.council = (char *)"E10000011";
	assert_accepted(&f);
	f.ready.council = (char *)"QNX";
	assert_rejected_on(&f, "council");
}

static void
test_ready_for_discharge_provider_is_trust_or_independent(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	ready(&f, "NV7", "2026-05-09", 1);
	assert_accepted(&f);
	ready(&f, "8HA03", "2026-05-09", 1);
	assert_accepted(&f);
	ready(&f, "RAA01", "2026-05-09", 1);
	assert_rejected_on(&f, "provider");
	ready(&f, "RAA", "2026-05-09", 1)->patient_pseudonym.len = 0;
	assert_rejected_on(&f, "patient_pseudonym");
}

/* E0020 (no recused list) and E0021 (an empty one) both accepted. */
static void
test_empty_recused_list_is_given(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	award(&f, "QNX", "RAA");
	assert_accepted(&f);
	variation(&f, 1);
	assert_accepted(&f);
	f.recused[0] = (char *)"S1";
	f.variation.recused = f.recused;
	f.variation.n_recused = 1;
	assert_accepted(&f);
}

/* E0022. */
static void
test_variation_numbers_start_at_1(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	variation(&f, 0);
	assert_rejected_on(&f, "variation_number");
	variation(&f, -1);
	assert_rejected_on(&f, "variation_number");
	variation(&f, 2);
	assert_accepted(&f);
}

/* E0023 accepted, E0024 rejected on contributors. */
static void
test_better_care_fund_shares_run_from_minus_to_plus_10_13(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	budget(&f, "QNX", "2026-27", POOL(BETTER_CARE_FUND), 5000);
	contributor_add(&f, "QNX", 6000);
	contributor_add(&f, "E10000011", -1000);
	assert_accepted(&f);
	budget(&f, "E10000011", "2026-27", POOL(BETTER_CARE_FUND), 5);
	contributor_add(&f, "QNX", -MONEY_MAX - 1);
	contributor_add(&f, "E10000011", MONEY_MAX + 6);
	assert_rejected_on(&f, "contributors");
}

/* E0025, E0026: no role, no to date; empty ones are missing. */
static void
test_declaration_role_and_to_date_are_optional(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	declaration(&f, "RAA", "2026-01-01", NULL);
	assert_accepted(&f);
	declaration(&f, "RAA", "2026-01-01", "")->role = (char *)"";
	assert_accepted(&f);
	f.declaration.role = (char *)"Chair";
	f.declaration.to_date = (char *)"2026-01-01";
	assert_accepted(&f);
}

/* E0027: a service first loaded, from status absent (new). */
static void
test_service_first_loaded_from_new_is_accepted(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	service(&f, "QNX", "RAA", STATUS(NEW), STATUS(COMMISSIONED))->places =
	    4;
	assert_accepted(&f);
}

/* -------------------------------------------------- examples: codes */

/* E0013 accepted, E0014 rejected: registration decides attribution. */
static void
test_site_may_register_under_another_trust_but_not_an_icb(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	organisation(&f, "RAA03", ROLE(TRUST_SITE), "RBB");
	assert_accepted(&f);
	organisation(&f, "RAA04", ROLE(TRUST_SITE), "QNX");
	assert_rejected_on(&f, "parent_code");
	organisation(&f, "RAA04", ROLE(TRUST_SITE), "8HA03");
	assert_rejected_on(&f, "parent_code");
}

/* E0015-E0019 accepted: five-character codes are sub-ICB locations here. */
static void
test_commissioner_field_takes_five_character_codes_as_sub_icb(void **state)
{
	static const char *const codes[] = {
		"D4U1Y", "X2C4Y", "RAA05", "RAA06", "RAA01", "QNX", "E10000011",
	};
	struct fixture f;

	(void)state;
	for (size_t i = 0; i < nitems(codes); i++) {
		fixture_init(&f);
		budget(&f, codes[i], "2026-27", POOL(CORE), 100);
		assert_accepted(&f);
	}
	/* E0021: spend for NV701. */
	spend(&f, "NV701", "2026-05", 5);
	assert_accepted(&f);
	spend(&f, "G81001", "2026-05", 5);
	assert_rejected_on(&f, "commissioner");
}

/* E0022 accepted, E0023 rejected: contributors are commissioners. */
static void
test_better_care_fund_contributor_must_be_a_commissioner(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	budget(&f, "QNX", "2026-27", POOL(BETTER_CARE_FUND), 100);
	contributor_add(&f, "QNX", 50);
	contributor_add(&f, "RAA02", 50);
	assert_accepted(&f);
	budget(&f, "QNX", "2026-27", POOL(BETTER_CARE_FUND), 100);
	contributor_add(&f, "QNX", 50);
	contributor_add(&f, "RAA", 50);
	assert_rejected_on(&f, "contributors");
}

/* E0024-E0028. */
static void
test_admission_sites_are_judged_by_the_provider_code(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	admission(&f, "RAA", "RAA07");
	assert_accepted(&f);
	admission(&f, "RAA", "RAA06");
	assert_accepted(&f);
	admission(&f, "NV7", "NV701");
	assert_accepted(&f);
	admission(&f, "8HA03", "8HA03");
	assert_accepted(&f);
	admission(&f, "RAA", "RBB01");
	assert_rejected_on(&f, "site");
	admission(&f, "TAK", "TAK01");
	assert_accepted(&f);
}

/* E0029-E0033: a capacity line is a site, provider or care home. */
static void
test_capacity_organisation_is_a_site_provider_or_care_home(void **state)
{
	static const char *const codes[] = {
		"RAA07", "NV701", "RAA06", "RAA03", "RAA", "NV7", "8HA03",
		"1-123039495",
	};
	struct fixture f;

	(void)state;
	for (size_t i = 0; i < nitems(codes); i++) {
		fixture_init(&f);
		capacity(&f, codes[i], 10, 5);
		assert_accepted(&f);
	}
	capacity(&f, "X2C4Y", 10, 5);
	assert_rejected_on(&f, "organisation");
	capacity(&f, "QNX", 10, 5);
	assert_rejected_on(&f, "organisation");
	capacity(&f, "E10000011", 10, 5);
	assert_rejected_on(&f, "organisation");
}

/* E0034, E0035. */
static void
test_contract_provider_and_commissioner_by_format(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	award(&f, "QNX", "RAA06");
	assert_accepted(&f);
	award(&f, "RAA06", "NV701");
	assert_accepted(&f);
	award(&f, "E10000011", "1-123039495");
	assert_accepted(&f);
	award(&f, "QNX", "QNQ");
	assert_rejected_on(&f, "provider");
	award(&f, "RAA", "RAA06");
	assert_rejected_on(&f, "commissioner");
}

/* E0036: an interest is in any organisation code. */
static void
test_interest_may_be_in_any_organisation(void **state)
{
	static const char *const codes[] = {
		"NV7", "Y59", "QNX", "02P", "RXC01", "G81001", "E10000011",
		"1-123039495", "8HA03",
	};
	struct fixture f;

	(void)state;
	for (size_t i = 0; i < nitems(codes); i++) {
		fixture_init(&f);
		declaration(&f, codes[i], "2026-01-01", NULL);
		assert_accepted(&f);
		f.declaration.organisation = (char *)codes[i];
		assert_accepted(&f);
	}
	declaration(&f, "RAA", "2026-01-01", NULL)->organisation =
	    (char *)"Board";
	assert_rejected_on(&f, "organisation");
}

/* E0037-E0039: a transfer may name a provider, and only a provider. */
static void
test_transfer_names_a_provider_or_none(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	service(&f, "RAA06", "RAA", STATUS(NEW), STATUS(COMMISSIONED));
	assert_accepted(&f);
	service(&f, "QNX", "RAA", STATUS(COMMISSIONED),
	    STATUS(CONSULTATION));
	proposed_change(&f, CHANGE(TRANSFER))->to_provider = (char *)"RAA06";
	assert_accepted(&f);
	f.change.to_provider = (char *)"";
	assert_accepted(&f);
	f.change.to_provider = (char *)"QNX";
	assert_rejected_on(&f, "proposed_change");
}

/* E0040: a five-character code registered as a sub-ICB location. */
static void
test_organisation_code_must_fit_its_role(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	organisation(&f, "RAA06", ROLE(SUB_ICB), "QNX");
	assert_accepted(&f);
	organisation(&f, "QNX", ROLE(TRUST), "QNX");
	assert_rejected_on(&f, "code");
	organisation(&f, "RAA", ROLE(TRUST_SITE), "RAA");
	assert_rejected_on(&f, "code");
	organisation(&f, "8HA03", ROLE(TRUST_SITE), NULL);
	assert_rejected_on(&f, "code");
	organisation(&f, "E10000011", ROLE(CARE_HOME), NULL);
	assert_rejected_on(&f, "code");
	organisation(&f, "", ROLE(TRUST), NULL);
	assert_rejected_on(&f, "code");
}

/* ------------------------------------------------------ other rules */

static void
test_organisation_role_must_be_known(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	organisation(&f, "QNX", ROLE(UNSPECIFIED), NULL);
	assert_rejected_on(&f, "role");
	organisation(&f, "QNX", 10, NULL);
	assert_rejected_on(&f, "role");
}

static void
test_organisation_parent_follows_the_catalogue(void **state)
{
	static const struct {
		const char *code;
		int role;
		const char *good, *bad;
	} cases[] = {
		{ "QNX", ROLE(ICB), "Y59", "QNQ" },
		{ "02P", ROLE(SUB_ICB), "QNX", "Y59" },
		{ "RAA", ROLE(TRUST), "QNX", "E10000011" },
		{ "G81001", ROLE(GP_PRACTICE), "QNX", "02P" },
		{ "NV7", ROLE(INDEPENDENT_PROVIDER), "QNX", "RAA" },
		{ "E10000011", ROLE(LOCAL_AUTHORITY), "QNX", "Y59" },
		{ "1-123039495", ROLE(CARE_HOME), "E10000011", "QNX" },
		{ "RAA01", ROLE(TRUST_SITE), "RAA", "QNX" },
	};
	struct fixture f;

	(void)state;
	for (size_t i = 0; i < nitems(cases); i++) {
		fixture_init(&f);
		organisation(&f, cases[i].code, cases[i].role, cases[i].good);
		assert_accepted(&f);
		organisation(&f, cases[i].code, cases[i].role, cases[i].bad);
		assert_rejected_on(&f, "parent_code");
		organisation(&f, cases[i].code, cases[i].role, NULL);
		assert_accepted(&f);
	}
	organisation(&f, "Y59", ROLE(REGION), "X24");
	assert_rejected_on(&f, "parent_code");
}

static void
test_organisation_active_to_before_active_from_is_rejected(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	organisation(&f, "RAA", ROLE(TRUST), "QNX");
	f.organisation.active_from = (char *)"2026-04-01";
	f.organisation.active_to = (char *)"2026-03-31";
	assert_rejected_on(&f, "active_to");
	f.organisation.active_to = (char *)"2026-04-01";
	assert_accepted(&f);
	f.organisation.active_from = (char *)"2026-04-31";
	assert_rejected_on(&f, "active_from");
	f.organisation.active_from = (char *)"";
	assert_accepted(&f);
	f.organisation.name = text_repeat(&f, "n", 257);
	assert_rejected_on(&f, "name");
}

/* DOMAIN.md, Services: the allowed moves, judged on the event alone. */
static void
test_service_moves_follow_the_allowed_list(void **state)
{
	static const int allowed[][2] = {
		{ STATUS(NEW), STATUS(PROPOSED) },
		{ STATUS(NEW), STATUS(COMMISSIONED) },
		{ STATUS(PROPOSED), STATUS(ENGAGEMENT) },
		{ STATUS(PROPOSED), STATUS(CONSULTATION) },
		{ STATUS(ENGAGEMENT), STATUS(CONSULTATION) },
		{ STATUS(CONSULTATION), STATUS(DECISION) },
		{ STATUS(DECISION), STATUS(COMMISSIONED) },
		{ STATUS(DECISION), STATUS(DECOMMISSIONED) },
		{ STATUS(DECISION), STATUS(CLOSED) },
		{ STATUS(COMMISSIONED), STATUS(CONSULTATION) },
		{ STATUS(COMMISSIONED), STATUS(DECOMMISSIONED) },
		{ STATUS(COMMISSIONED), STATUS(CLOSED) },
		{ STATUS(COMMISSIONED), STATUS(COMMISSIONED) },
	};
	struct fixture f;
	size_t accepted = 0;

	(void)state;
	for (int from = STATUS(NEW); from <= STATUS(CLOSED); from++) {
		for (int to = STATUS(PROPOSED); to <= STATUS(CLOSED); to++) {
			bool ok = false;

			for (size_t i = 0; i < nitems(allowed); i++)
				if (allowed[i][0] == from &&
				    allowed[i][1] == to)
					ok = true;
			fixture_init(&f);
			service(&f, "QNX", "RAA", from, to);
			if (ok) {
				assert_accepted(&f);
				accepted++;
			} else
				assert_rejected_on(&f, "to_status");
		}
	}
	assert_int_equal(accepted, nitems(allowed));
}

/* Services example E0024, and the reason names both states. */
static void
test_illegal_service_move_names_both_states(void **state)
{
	struct fixture f;
	struct check_error err;

	(void)state;
	fixture_init(&f);
	service(&f, "QNX", "RAA", STATUS(COMMISSIONED), STATUS(PROPOSED));
	assert_int_equal(event_check(&f.env, &err), -1);
	assert_string_equal(err.field, "to_status");
	assert_non_null(strstr(err.reason, "commissioned"));
	assert_non_null(strstr(err.reason, "proposed"));
}

static void
test_service_needs_to_status_category_places_and_date(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	service(&f, "QNX", "RAA", STATUS(NEW), STATUS(NEW));
	assert_rejected_on(&f, "to_status");
	service(&f, "QNX", "RAA", 8, STATUS(COMMISSIONED));
	assert_rejected_on(&f, "from_status");
	service(&f, "QNX", "RAA", STATUS(NEW), 9);
	assert_rejected_on(&f, "to_status");
	service(&f, "QNX", "RAA", STATUS(NEW), STATUS(COMMISSIONED))
	    ->category = COMMISSIONING__SERVICE_CATEGORY__SERVICE_CATEGORY_UNSPECIFIED;
	assert_rejected_on(&f, "category");
	service(&f, "QNX", "RAA", STATUS(NEW), STATUS(COMMISSIONED))
	    ->opt_places_case =
	    COMMISSIONING__SERVICE_STATUS_CHANGED__OPT_PLACES__NOT_SET;
	assert_rejected_on(&f, "places");
	service(&f, "QNX", "RAA", STATUS(NEW), STATUS(COMMISSIONED))->places =
	    100001;
	assert_rejected_on(&f, "places");
	service(&f, "QNX", "RAA", STATUS(NEW), STATUS(COMMISSIONED))->places = 0;
	assert_accepted(&f);
	service(&f, "QNX", "RAA", STATUS(NEW), STATUS(COMMISSIONED))
	    ->effective_date = (char *)"2026-1-1";
	assert_rejected_on(&f, "effective_date");
	service(&f, "QNX", "RAA", STATUS(NEW), STATUS(COMMISSIONED))
	    ->service_id = (char *)"";
	assert_rejected_on(&f, "service_id");
	service(&f, "RAA", "RAA", STATUS(NEW), STATUS(COMMISSIONED));
	assert_rejected_on(&f, "commissioner");
	service(&f, "QNX", "Q12", STATUS(NEW), STATUS(COMMISSIONED));
	assert_rejected_on(&f, "provider");
}

static void
test_proposed_change_needs_type_and_reduce_its_places(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	service(&f, "QNX", "RAA", STATUS(COMMISSIONED), STATUS(CONSULTATION));
	proposed_change(&f, CHANGE(CLOSE));
	assert_accepted(&f);
	proposed_change(&f, CHANGE(OTHER));
	assert_accepted(&f);
	proposed_change(&f, CHANGE(UNSPECIFIED));
	assert_rejected_on(&f, "proposed_change");
	proposed_change(&f, 7);
	assert_rejected_on(&f, "proposed_change");
	proposed_change(&f, CHANGE(REDUCE));
	assert_rejected_on(&f, "proposed_change");
	f.change.opt_places_case =
	    COMMISSIONING__PROPOSED_CHANGE__OPT_PLACES_PLACES;
	f.change.places = 16;
	assert_accepted(&f);
	/* Reduce to more than the places puts 0 at risk: accepted. */
	f.change.places = 40;
	assert_accepted(&f);
	f.change.places = 100001;
	assert_rejected_on(&f, "proposed_change");
	f.change.places = -1;
	assert_rejected_on(&f, "proposed_change");
}

/* Finance example E0023: an annual value over 10^13 pence. */
static void
test_annual_value_runs_from_0_to_10_13(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	award(&f, "QNX", "RAA")->annual_value = MONEY_MAX;
	assert_accepted(&f);
	f.award.annual_value = MONEY_MAX + 1;
	assert_rejected_on(&f, "annual_value");
	f.award.annual_value = -1;
	assert_rejected_on(&f, "annual_value");
	f.award.opt_annual_value_case =
	    COMMISSIONING__CONTRACT_AWARDED__OPT_ANNUAL_VALUE__NOT_SET;
	assert_rejected_on(&f, "annual_value");
	variation(&f, 1)->new_annual_value = MONEY_MAX + 1;
	assert_rejected_on(&f, "new_annual_value");
	variation(&f, 1)->opt_new_annual_value_case =
	    COMMISSIONING__CONTRACT_VARIED__OPT_NEW_ANNUAL_VALUE__NOT_SET;
	assert_rejected_on(&f, "new_annual_value");
}

static void
test_contract_ending_before_it_starts_is_rejected(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	award(&f, "QNX", "RAA")->end_date = (char *)"2026-05-31";
	assert_rejected_on(&f, "end_date");
	f.award.end_date = (char *)"2026-06-01";
	assert_accepted(&f);
	f.award.start_date = (char *)"";
	assert_rejected_on(&f, "start_date");
	award(&f, "QNX", "RAA")->end_date = (char *)"";
	assert_rejected_on(&f, "end_date");
	award(&f, "QNX", "RAA")->contract_id = (char *)"";
	assert_rejected_on(&f, "contract_id");
}

static void
test_decision_makers_are_non_empty_texts(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	award(&f, "QNX", "RAA");
	f.makers[1] = (char *)"";
	f.award.n_decision_makers = 2;
	assert_rejected_on(&f, "decision_makers");
	f.makers[1] = text_repeat(&f, "s", 257);
	assert_rejected_on(&f, "decision_makers");
	f.makers[1] = (char *)"S2";
	assert_accepted(&f);
	f.recused[0] = (char *)"";
	f.award.recused = f.recused;
	f.award.n_recused = 1;
	assert_rejected_on(&f, "recused");
	f.award.n_decision_makers = 0;
	f.award.n_recused = 0;
	assert_accepted(&f);
}

static void
test_variation_needs_its_dates(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	variation(&f, 1)->effective_date = (char *)"";
	assert_rejected_on(&f, "effective_date");
	variation(&f, 1)->decided_on = (char *)"2026-02-30";
	assert_rejected_on(&f, "decided_on");
	variation(&f, 1)->contract_id = (char *)"";
	assert_rejected_on(&f, "contract_id");
}

/* A termination is checked on its own fields: any real date will do. */
static void
test_termination_needs_its_last_day_only(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	termination(&f, "2000-01-01");
	assert_accepted(&f);
	termination(&f, "");
	assert_rejected_on(&f, "last_day_of_service");
	termination(&f, "2026-13-01");
	assert_rejected_on(&f, "last_day_of_service");
	termination(&f, "2026-05-10")->contract_id = (char *)"";
	assert_rejected_on(&f, "contract_id");
}

/* Finance examples E0027 and E0028. */
static void
test_better_care_fund_shares_must_add_up_to_the_amount(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	budget(&f, "QNX", "2026-27", POOL(BETTER_CARE_FUND), 5000);
	contributor_add(&f, "QNX", 3000);
	contributor_add(&f, "E10000011", 1999);
	assert_rejected_on(&f, "contributors");
	f.contributor[1].share = 2000;
	assert_accepted(&f);
	budget(&f, "E10000011", "2026-27", POOL(BETTER_CARE_FUND), 5000);
	assert_rejected_on(&f, "contributors");
}

static void
test_better_care_fund_contributor_needs_a_share_once(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	budget(&f, "QNX", "2026-27", POOL(BETTER_CARE_FUND), 100);
	contributor_add(&f, "QNX", 50);
	contributor_add(&f, "QNX", 50);
	assert_rejected_on(&f, "contributors");
	budget(&f, "QNX", "2026-27", POOL(BETTER_CARE_FUND), 100);
	contributor_add(&f, "QNX", 100);
	f.contributor[0].opt_share_case =
	    COMMISSIONING__BUDGET_CONTRIBUTOR__OPT_SHARE__NOT_SET;
	assert_rejected_on(&f, "contributors");
	budget(&f, "QNX", "2026-27", POOL(BETTER_CARE_FUND), 100);
	contributor_add(&f, "", 100);
	assert_rejected_on(&f, "contributors");
}

/* Our decision: a core allocation is the holder's own, with no shares. */
static void
test_core_allocation_with_contributors_is_rejected(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	budget(&f, "QNX", "2026-27", POOL(CORE), 100);
	contributor_add(&f, "QNX", 100);
	assert_rejected_on(&f, "contributors");
}

static void
test_allocation_needs_pool_and_amount_in_range(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	budget(&f, "QNX", "2026-27", POOL(UNSPECIFIED), 100);
	assert_rejected_on(&f, "pool");
	budget(&f, "QNX", "2026-27", 3, 100);
	assert_rejected_on(&f, "pool");
	budget(&f, "QNX", "2026-27", POOL(CORE), -1);
	assert_rejected_on(&f, "amount");
	budget(&f, "QNX", "2026-27", POOL(CORE), MONEY_MAX + 1);
	assert_rejected_on(&f, "amount");
	budget(&f, "QNX", "2026-27", POOL(CORE), MONEY_MAX);
	assert_accepted(&f);
	budget(&f, "QNX", "2026-27", POOL(CORE), 0)->opt_amount_case =
	    COMMISSIONING__BUDGET_ALLOCATED__OPT_AMOUNT__NOT_SET;
	assert_rejected_on(&f, "amount");
	budget(&f, "QNX", "", POOL(CORE), 1);
	assert_rejected_on(&f, "financial_year");
}

static void
test_spend_needs_contract_and_period(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	spend(&f, "QNX", "", 1);
	assert_rejected_on(&f, "period");
	spend(&f, "QNX", "2026-05", 1)->contract_id = (char *)"";
	assert_rejected_on(&f, "contract_id");
}

/* Occupied above available is over capacity, not an error. */
static void
test_capacity_over_available_is_accepted(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	capacity(&f, "RAA01", 10, 12);
	assert_accepted(&f);
}

static void
test_capacity_needs_sector_beds_and_a_sane_as_of(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	capacity(&f, "RAA01", 10, 5)->sector =
	    COMMISSIONING__SECTOR__SECTOR_UNSPECIFIED;
	assert_rejected_on(&f, "sector");
	capacity(&f, "RAA01", 10, 5)->sector = (Commissioning__Sector)8;
	assert_rejected_on(&f, "sector");
	capacity(&f, "RAA01", 10, 5)->opt_beds_occupied_case =
	    COMMISSIONING__CAPACITY_REPORTED__OPT_BEDS_OCCUPIED__NOT_SET;
	assert_rejected_on(&f, "beds_occupied");
	capacity(&f, "RAA01", 10, 5)->opt_beds_available_case =
	    COMMISSIONING__CAPACITY_REPORTED__OPT_BEDS_AVAILABLE__NOT_SET;
	assert_rejected_on(&f, "beds_available");
	capacity(&f, "RAA01", 10, 5)->as_of = 0;
	assert_rejected_on(&f, "as_of");
	capacity(&f, "RAA01", 10, 5)->as_of = 4102444800000LL;
	assert_rejected_on(&f, "as_of");
	capacity(&f, "RAA01", 0, 0);
	assert_accepted(&f);
}

static void
test_declaration_needs_id_person_type_and_from_date(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	declaration(&f, "RAA", "2026-01-01", NULL)->declaration_id =
	    (char *)"";
	assert_rejected_on(&f, "declaration_id");
	declaration(&f, "RAA", "2026-01-01", NULL)->person = (char *)"";
	assert_rejected_on(&f, "person");
	declaration(&f, "RAA", "2026-01-01", NULL)->type =
	    COMMISSIONING__INTEREST_TYPE__INTEREST_TYPE_UNSPECIFIED;
	assert_rejected_on(&f, "type");
	declaration(&f, "RAA", "2026-01-01", NULL)->type =
	    (Commissioning__InterestType)5;
	assert_rejected_on(&f, "type");
	declaration(&f, "RAA", "", NULL);
	assert_rejected_on(&f, "from_date");
	declaration(&f, "", "2026-01-01", NULL);
	assert_rejected_on(&f, "interest_in");
	declaration(&f, "RAA", "2026-01-01", "2026-1-31");
	assert_rejected_on(&f, "to_date");
}

/* A withdrawal is checked on its own fields: an early to date is fine. */
static void
test_withdrawal_needs_declaration_id_and_to_date(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	withdrawal(&f, "2000-01-01");
	assert_accepted(&f);
	withdrawal(&f, NULL);
	assert_rejected_on(&f, "to_date");
	withdrawal(&f, "2026-05-10")->declaration_id = (char *)"";
	assert_rejected_on(&f, "declaration_id");
}

static void
test_text_must_be_utf8_without_control_characters(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	admission(&f, "RAA", "RAA01")->ward = (char *)"Ward \342\202\254 1";
	assert_accepted(&f);
	f.movement.ward = (char *)"W1\r\nMSH|";
	assert_rejected_on(&f, "ward");
	f.movement.ward = (char *)"W\3031";
	assert_rejected_on(&f, "ward");
	f.movement.ward = (char *)"W\300\2011"; /* overlong '1' */
	assert_rejected_on(&f, "ward");
	f.movement.ward = (char *)"W\355\240\200"; /* a surrogate */
	assert_rejected_on(&f, "ward");
	f.movement.ward = (char *)"W\364\220\200\200"; /* above U+10FFFF */
	assert_rejected_on(&f, "ward");
	f.movement.ward = (char *)"\360\237\217\245"; /* U+1F3E5 hospital */
	assert_accepted(&f);
	/* C1 controls: U+0085 NEL is a line break to some readers. */
	f.movement.ward = (char *)"W1\302\205MSH|";
	assert_rejected_on(&f, "ward");
	f.movement.ward = (char *)"W\302\2001";
	assert_rejected_on(&f, "ward");
	f.movement.ward = (char *)"W\302\2371";
	assert_rejected_on(&f, "ward");
	f.movement.ward = (char *)"\302\240Ward \303\251"; /* NBSP, e acute */
	assert_accepted(&f);
}

/* Reasons go to logs and acks: no pseudonym, no long or odd value. */
static void
test_reasons_never_carry_person_data(void **state)
{
	static uint8_t printable[40] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklm";
	struct fixture f;
	struct check_error err;

	(void)state;
	fixture_init(&f);
	pseudonym_set(&admission(&f, "RAA", "RAA01")->patient_pseudonym,
	    printable, 39);
	assert_int_equal(event_check(&f.env, &err), -1);
	assert_null(strstr(err.reason, "ABCDEFGH"));
	admission(&f, "9434765919", "RAA01");
	assert_int_equal(event_check(&f.env, &err), -1);
	assert_string_equal(err.field, "provider");
	assert_null(strstr(err.reason, "9434765919"));
	declaration(&f, "Mrs Jane Patient of Hove", "2026-01-01", NULL);
	assert_int_equal(event_check(&f.env, &err), -1);
	assert_null(strstr(err.reason, "Jane"));
}

/* Short codes are quoted, so an operator sees what was wrong. */
static void
test_reasons_quote_short_codes(void **state)
{
	struct fixture f;
	struct check_error err;

	(void)state;
	fixture_init(&f);
	budget(&f, "1-123039495", "2026-27", POOL(CORE), 1);
	assert_int_equal(event_check(&f.env, &err), -1);
	assert_string_equal(err.reason, "commissioner: \"1-123039495\" is not "
	    "the code of an ICB, a sub-ICB location or a local authority (ONS "
	    "GSS code)");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_envelope_without_source_is_rejected_on_source),
		cmocka_unit_test(test_source_is_at_most_64_bytes_of_ascii_without_spaces),
		cmocka_unit_test(test_event_id_is_required_and_at_most_128_bytes_of_ascii),
		cmocka_unit_test(test_occurred_at_must_fall_in_2000_to_2100),
		cmocka_unit_test(test_envelope_without_known_event_is_rejected_on_event),
		cmocka_unit_test(test_event_case_without_its_message_is_rejected_on_event),
		cmocka_unit_test(test_null_envelope_is_rejected),
		cmocka_unit_test(test_event_kind_name_is_the_oneof_field_name),
		cmocka_unit_test(test_reference_organisations_of_the_examples_are_accepted),
		cmocka_unit_test(test_ward_of_256_bytes_is_accepted_and_258_rejected),
		cmocka_unit_test(test_pseudonym_not_32_bytes_is_rejected),
		cmocka_unit_test(test_site_of_another_provider_is_rejected_on_site),
		cmocka_unit_test(test_unknown_patient_class_is_rejected),
		cmocka_unit_test(test_every_known_patient_class_is_accepted),
		cmocka_unit_test(test_older_frame_provider_is_its_own_site),
		cmocka_unit_test(test_site_of_n_code_provider_is_accepted),
		cmocka_unit_test(test_care_home_with_icb_parent_is_rejected_on_parent_code),
		cmocka_unit_test(test_package_ending_before_it_starts_is_rejected_on_end_date),
		cmocka_unit_test(test_trust_as_commissioner_is_rejected),
		cmocka_unit_test(test_site_as_admission_provider_is_rejected_on_provider),
		cmocka_unit_test(test_nv702_registered_as_independent_provider_is_rejected_on_code),
		cmocka_unit_test(test_declaration_ending_before_it_starts_is_rejected_on_to_date),
		cmocka_unit_test(test_interest_in_a_name_is_rejected_on_interest_in),
		cmocka_unit_test(test_award_without_decided_on_is_rejected),
		cmocka_unit_test(test_financial_year_2026_28_is_rejected),
		cmocka_unit_test(test_period_2026_13_is_rejected),
		cmocka_unit_test(test_dates_fall_in_the_years_1900_to_2100),
		cmocka_unit_test(test_spend_runs_from_minus_to_plus_10_13),
		cmocka_unit_test(test_beds_over_100000_are_rejected),
		cmocka_unit_test(test_pathway_outside_0_to_3_is_rejected),
		cmocka_unit_test(test_ready_date_30_february_is_rejected),
		cmocka_unit_test(test_sub_icb_location_as_commissioner_is_accepted),
		cmocka_unit_test(test_hours_a_week_run_from_0_to_168_and_may_be_fractional),
		cmocka_unit_test(test_package_started_needs_start_and_ended_needs_end),
		cmocka_unit_test(test_package_needs_patient_council_and_package_id),
		cmocka_unit_test(test_package_cost_and_service_type_are_optional_but_checked),
		cmocka_unit_test(test_cancel_needs_only_provider_spell_and_what_it_cancels),
		cmocka_unit_test(test_admission_and_transfer_need_site_and_ward),
		cmocka_unit_test(test_discharge_and_update_need_no_site_ward_or_destination),
		cmocka_unit_test(test_movement_needs_both_pseudonyms_and_a_provider),
		cmocka_unit_test(test_treatment_function_is_exactly_three_digits),
		cmocka_unit_test(test_ready_for_discharge_council_is_optional_but_a_gss_code),
		cmocka_unit_test(test_ready_for_discharge_provider_is_trust_or_independent),
		cmocka_unit_test(test_empty_recused_list_is_given),
		cmocka_unit_test(test_variation_numbers_start_at_1),
		cmocka_unit_test(test_better_care_fund_shares_run_from_minus_to_plus_10_13),
		cmocka_unit_test(test_declaration_role_and_to_date_are_optional),
		cmocka_unit_test(test_service_first_loaded_from_new_is_accepted),
		cmocka_unit_test(test_site_may_register_under_another_trust_but_not_an_icb),
		cmocka_unit_test(test_commissioner_field_takes_five_character_codes_as_sub_icb),
		cmocka_unit_test(test_better_care_fund_contributor_must_be_a_commissioner),
		cmocka_unit_test(test_admission_sites_are_judged_by_the_provider_code),
		cmocka_unit_test(test_capacity_organisation_is_a_site_provider_or_care_home),
		cmocka_unit_test(test_contract_provider_and_commissioner_by_format),
		cmocka_unit_test(test_interest_may_be_in_any_organisation),
		cmocka_unit_test(test_transfer_names_a_provider_or_none),
		cmocka_unit_test(test_organisation_code_must_fit_its_role),
		cmocka_unit_test(test_organisation_role_must_be_known),
		cmocka_unit_test(test_organisation_parent_follows_the_catalogue),
		cmocka_unit_test(test_organisation_active_to_before_active_from_is_rejected),
		cmocka_unit_test(test_service_moves_follow_the_allowed_list),
		cmocka_unit_test(test_illegal_service_move_names_both_states),
		cmocka_unit_test(test_service_needs_to_status_category_places_and_date),
		cmocka_unit_test(test_proposed_change_needs_type_and_reduce_its_places),
		cmocka_unit_test(test_annual_value_runs_from_0_to_10_13),
		cmocka_unit_test(test_contract_ending_before_it_starts_is_rejected),
		cmocka_unit_test(test_decision_makers_are_non_empty_texts),
		cmocka_unit_test(test_variation_needs_its_dates),
		cmocka_unit_test(test_termination_needs_its_last_day_only),
		cmocka_unit_test(test_better_care_fund_shares_must_add_up_to_the_amount),
		cmocka_unit_test(test_better_care_fund_contributor_needs_a_share_once),
		cmocka_unit_test(test_core_allocation_with_contributors_is_rejected),
		cmocka_unit_test(test_allocation_needs_pool_and_amount_in_range),
		cmocka_unit_test(test_spend_needs_contract_and_period),
		cmocka_unit_test(test_capacity_over_available_is_accepted),
		cmocka_unit_test(test_capacity_needs_sector_beds_and_a_sane_as_of),
		cmocka_unit_test(test_declaration_needs_id_person_type_and_from_date),
		cmocka_unit_test(test_withdrawal_needs_declaration_id_and_to_date),
		cmocka_unit_test(test_text_must_be_utf8_without_control_characters),
		cmocka_unit_test(test_reasons_never_carry_person_data),
		cmocka_unit_test(test_reasons_quote_short_codes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
