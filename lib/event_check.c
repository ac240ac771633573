/*
 * event_check: every rule of DOMAIN.md ("What is REJECTED", "Edges, settled")
 * that one envelope can be judged on alone; one check function per event type.
 *
 * The field named in an error is the envelope's or the event's own field,
 * snake_case as in the proto. A fault inside a nested message or a list
 * (a contributor's code or share, the proposed change's places) is reported
 * under the event's field that holds it ("contributors", "proposed_change"),
 * as the worked examples expect; the reason says which part failed.
 *
 * Rules that need other events (an event id reused with other content, a
 * gap in a service's history, a variation before its award) belong to the
 * store and the projections, not here.
 */
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "dates.h"
#include "event_check.h"
#include "ids.h"
#include "utf8.h"

#define nitems(a) (sizeof(a) / sizeof((a)[0]))

/* "Timestamps sane": a fixed window, so the check needs no clock. */
#define EVENT_TIME_MIN_MS 946684800000LL  /* 2000-01-01T00:00:00Z */
#define EVENT_TIME_END_MS 4102444800000LL /* 2100-01-01T00:00:00Z, excluded */

/*
 * The years a date, period or financial year may fall in. DOMAIN.md gives
 * no range, but the figures walk a contract year by year: one award from
 * 0001 to 9999 (9999-12-31, "open-ended" in some systems) made every
 * finance update of its commissioner list ten thousand years, 870 KB, on
 * every later finance event. Wide enough for any real record (the NHS
 * reorganisation of 1974, contracts of thirty years).
 */
#define EVENT_YEAR_MIN 1900
#define EVENT_YEAR_MAX 2100

#define EVENT_COUNT_MAX 100000			/* places, beds, reduce to N */
#define EVENT_MONEY_MAX_PENCE 10000000000000LL	/* 10^13 pence */
#define EVENT_HOURS_PER_WEEK_MAX 168.0		/* the hours in a week */
#define EVENT_PATHWAY_MAX 3			/* discharge pathways 0-3 */
#define EVENT_TREATMENT_FUNCTION_DIGITS 3

/*
 * Fixed upper bounds on lists from the network. A decision is taken by a
 * board or panel, and a Better Care Fund pools an ICB's and its councils'
 * money: far below these, which only stop a hostile message from making the
 * duplicate check below quadratic in megabytes.
 */
#define EVENT_LIST_MAX_ITEMS 1000
#define EVENT_CONTRIBUTORS_MAX 100

/* A value is printed in a reason only when it is short and plain ASCII. */
#define EVENT_SHOWN_VALUE_MAX_BYTES 16
#define EVENT_SHOWN_VALUE_BUFSIZE 48

#define ROLE(x) COMMISSIONING__ORG_ROLE__ORG_ROLE_##x
#define STATUS(x) COMMISSIONING__SERVICE_STATUS__SERVICE_STATUS_##x
#define CHANGE(x) COMMISSIONING__PROPOSED_CHANGE_TYPE__PROPOSED_CHANGE_TYPE_##x
#define POOL(x) COMMISSIONING__BUDGET_POOL__BUDGET_POOL_##x
#define EVENT(x) COMMISSIONING__ENVELOPE__EVENT_##x

enum presence {
	OPTIONAL,
	REQUIRED,
};

/* Flags of a row of the event table, for types shared by several kinds. */
#define MOVEMENT_NEEDS_SITE_AND_WARD 0x1u /* admission and transfer */
#define PACKAGE_NEEDS_START_DATE 0x2u	  /* care package started */
#define PACKAGE_NEEDS_END_DATE 0x4u	  /* care package ended */

static int check_fail(struct check_error *err, const char *field,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/*
 * Fill err with field and "field: " followed by the formatted rule, and
 * return -1. A reason cut short ends in "..." so that nobody reads it whole.
 */
static int
check_fail(struct check_error *err, const char *field, const char *fmt, ...)
{
	char rule[sizeof(err->reason)];
	va_list ap;
	int rule_len, n;

	va_start(ap, fmt);
	rule_len = vsnprintf(rule, sizeof(rule), fmt, ap);
	va_end(ap);
	if (err == NULL)
		return -1;
	(void)snprintf(err->field, sizeof(err->field), "%s", field);
	n = snprintf(err->reason, sizeof(err->reason), "%s: %s", field, rule);
	if (rule_len < 0 || (size_t)rule_len >= sizeof(rule) || n < 0 ||
	    (size_t)n >= sizeof(err->reason))
		memcpy(err->reason + sizeof(err->reason) - 4, "...", 4);
	return -1;
}

static bool
text_is_empty(const char *text)
{
	return text == NULL || text[0] == '\0';
}

/*
 * A value as it may appear in a reason: quoted when short plain ASCII,
 * else only its length. Reasons go to logs, acks and the dead-letter list,
 * so a long or odd value (a name, or patient data in the wrong field) is
 * never echoed, nor ten digits that could be an NHS number (a CQC
 * location's "1-" prefix tells it apart).
 */
const char *
event_value_shown(const char *text, char *buf, size_t size)
{
	size_t len = strlen(text);
	bool plain = len <= EVENT_SHOWN_VALUE_MAX_BYTES;
	size_t digits = 0;

	for (size_t i = 0; plain && i < len; i++) {
		unsigned char c = (unsigned char)text[i];

		if (c < 0x21 || c > 0x7e || c == '"' || c == '\\')
			plain = false;
		if (c >= '0' && c <= '9')
			digits++;
	}
	if (digits >= IDS_NHS_NUMBER_DIGITS && !ids_is_care_home(text))
		plain = false;
	if (plain)
		(void)snprintf(buf, size, "\"%s\"", text);
	else
		(void)snprintf(buf, size, "a %zu-byte value", len);
	return buf;
}

size_t
event_text_fault_at(const char *text, size_t len)
{
	return utf8_fault_at((const uint8_t *)text, len, UTF8_TEXT);
}

/* A date, period or financial year outside EVENT_YEAR_MIN..EVENT_YEAR_MAX. */
static int
check_outside_years(struct check_error *err, const char *field, const char *text)
{
	char shown[EVENT_SHOWN_VALUE_BUFSIZE];

	return check_fail(err, field, "%s is outside the years %d to %d",
	    event_value_shown(text, shown, sizeof(shown)), EVENT_YEAR_MIN, EVENT_YEAR_MAX);
}

/* Free text: empty is missing; at most 256 bytes of clean UTF-8. */
static int
check_text(struct check_error *err, const char *field, const char *text,
    enum presence presence)
{
	size_t len;

	if (text_is_empty(text)) {
		if (presence == REQUIRED)
			return check_fail(err, field, "missing (required)");
		return 0;
	}
	len = strlen(text);
	if (len > EVENT_TEXT_MAX_BYTES)
		return check_fail(err, field,
		    "%zu bytes; a text field holds at most %d bytes", len,
		    EVENT_TEXT_MAX_BYTES);
	if (event_text_fault_at(text, len) < len)
		return check_fail(err, field,
		    "not valid UTF-8 text without control characters");
	return 0;
}

/* A list of texts: absent is empty and given; each item non-empty text. */
static int
check_text_list(struct check_error *err, const char *field, char *const *items,
    size_t n_items)
{
	if (n_items > EVENT_LIST_MAX_ITEMS)
		return check_fail(err, field, "%zu items; a list holds at most %d",
		    n_items, EVENT_LIST_MAX_ITEMS);
	for (size_t i = 0; i < n_items; i++) {
		if (text_is_empty(items[i]))
			return check_fail(err, field,
			    "item %zu is empty; each item is a non-empty text",
			    i + 1);
		if (check_text(err, field, items[i], REQUIRED) != 0)
			return -1;
	}
	return 0;
}

/* An organisation code: its format must fit a kind the field accepts. */
static int
check_code(struct check_error *err, const char *field, const char *code,
    enum presence presence, unsigned kinds)
{
	char shown[EVENT_SHOWN_VALUE_BUFSIZE], expected[200];

	if (text_is_empty(code)) {
		if (presence == REQUIRED)
			return check_fail(err, field, "missing (required)");
		return 0;
	}
	if (ids_is_kind(code, kinds))
		return 0;
	(void)ids_format_kinds(kinds, expected, sizeof(expected));
	return check_fail(err, field, "%s is not the code of %s",
	    event_value_shown(code, shown, sizeof(shown)), expected);
}

static int
check_pseudonym(struct check_error *err, const char *field,
    const ProtobufCBinaryData *pseudonym, enum presence presence)
{
	/* Never the bytes themselves: a pseudonym is still person data. */
	if (pseudonym->len == 0) {
		if (presence == REQUIRED)
			return check_fail(err, field, "missing (required)");
		return 0;
	}
	if (!ids_is_pseudonym(pseudonym->data, pseudonym->len))
		return check_fail(err, field,
		    "%zu bytes; a pseudonym is exactly %d bytes (a keyed hash)",
		    pseudonym->len, IDS_PSEUDONYM_BYTES);
	return 0;
}

/* A calendar date; *given says whether one was sent, *day its number. */
static int
check_date(struct check_error *err, const char *field, const char *text,
    enum presence presence, bool *given, int32_t *day)
{
	char shown[EVENT_SHOWN_VALUE_BUFSIZE];

	*given = false;
	*day = 0;
	if (text_is_empty(text)) {
		if (presence == REQUIRED)
			return check_fail(err, field, "missing (required)");
		return 0;
	}
	if (dates_parse_date(text, day) != 0)
		return check_fail(err, field,
		    "%s is not a real calendar date written YYYY-MM-DD",
		    event_value_shown(text, shown, sizeof(shown)));
	if (*day < dates_day_from_civil(EVENT_YEAR_MIN, 1, 1) ||
	    *day > dates_day_from_civil(EVENT_YEAR_MAX, 12, 31))
		return check_outside_years(err, field, text);
	*given = true;
	return 0;
}

/* A required date whose value the caller does not need. */
static int
check_required_date(struct check_error *err, const char *field,
    const char *text)
{
	bool given;
	int32_t day;

	return check_date(err, field, text, REQUIRED, &given, &day);
}

/* An end date given with its start must not be before it (same day is fine). */
static int
check_not_before(struct check_error *err, const char *end_field,
    bool end_given, int32_t end_day, const char *start_field,
    bool start_given, int32_t start_day)
{
	if (end_given && start_given && end_day < start_day)
		return check_fail(err, end_field, "before %s; an end cannot "
		    "come before its start", start_field);
	return 0;
}

static int
check_period(struct check_error *err, const char *field, const char *text)
{
	char shown[EVENT_SHOWN_VALUE_BUFSIZE];
	int year, month;

	if (text_is_empty(text))
		return check_fail(err, field, "missing (required)");
	if (dates_parse_period(text, &year, &month) != 0)
		return check_fail(err, field,
		    "%s is not a period written YYYY-MM (month 01-12)",
		    event_value_shown(text, shown, sizeof(shown)));
	if (year < EVENT_YEAR_MIN || year > EVENT_YEAR_MAX)
		return check_outside_years(err, field, text);
	return 0;
}

static int
check_financial_year(struct check_error *err, const char *field,
    const char *text)
{
	char shown[EVENT_SHOWN_VALUE_BUFSIZE];
	int first_year;

	if (text_is_empty(text))
		return check_fail(err, field, "missing (required)");
	if (dates_parse_financial_year(text, &first_year) != 0)
		return check_fail(err, field, "%s is not a financial year "
		    "written YYYY-YY with consecutive years (2026-27)",
		    event_value_shown(text, shown, sizeof(shown)));
	/* 1 April first_year to 31 March the year after, both inside. */
	if (first_year < EVENT_YEAR_MIN || first_year >= EVENT_YEAR_MAX)
		return check_outside_years(err, field, text);
	return 0;
}

/* A value of a oneof opt_<field>: set says it was sent. */
static int
check_range(struct check_error *err, const char *field, bool set,
    int64_t value, enum presence presence, int64_t min, int64_t max)
{
	if (!set) {
		if (presence == REQUIRED)
			return check_fail(err, field, "missing (required)");
		return 0;
	}
	if (value < min || value > max)
		return check_fail(err, field,
		    "%lld is outside %lld to %lld", (long long)value,
		    (long long)min, (long long)max);
	return 0;
}

/* Pence as pounds for a person to read: -1234567 is "-£12,345.67". */
#define POUNDS_SHOWN_BUFSIZE 40

static const char *
pounds_shown(int64_t pence, char *buf, size_t size)
{
	char digits[24];
	uint64_t magnitude;
	size_t n, i, out = 0;

	magnitude = pence < 0 ? (uint64_t)0 - (uint64_t)pence :
	    (uint64_t)pence;
	n = (size_t)snprintf(digits, sizeof(digits), "%llu",
	    (unsigned long long)(magnitude / 100));
	out += (size_t)snprintf(buf + out, size - out, "%s\u00a3",
	    pence < 0 ? "-" : "");
	for (i = 0; i < n && out + 2 < size; i++) {
		if (i > 0 && (n - i) % 3 == 0)
			buf[out++] = ',';
		buf[out++] = digits[i];
	}
	buf[out] = '\0';
	snprintf(buf + out, size - out, ".%02u",
	    (unsigned)(magnitude % 100));
	return buf;
}

/*
 * An amount of money in pence, from min to EVENT_MONEY_MAX_PENCE: the
 * message shows pounds too, for a sender who wrote pounds (a CSV extract)
 * and sees its value come back a hundred times larger.
 */
static int
check_money(struct check_error *err, const char *field, bool set,
    int64_t value, enum presence presence, int64_t min)
{
	char shown[POUNDS_SHOWN_BUFSIZE], lo[POUNDS_SHOWN_BUFSIZE],
	    hi[POUNDS_SHOWN_BUFSIZE];

	if (set && (value < min || value > EVENT_MONEY_MAX_PENCE))
		return check_fail(err, field, "%lld pence (%s) is outside %s "
		    "to %s", (long long)value,
		    pounds_shown(value, shown, sizeof(shown)),
		    pounds_shown(min, lo, sizeof(lo)),
		    pounds_shown(EVENT_MONEY_MAX_PENCE, hi, sizeof(hi)));
	return check_range(err, field, set, value, presence, min,
	    EVENT_MONEY_MAX_PENCE);
}

static int
check_count(struct check_error *err, const char *field, bool set,
    int64_t value)
{
	return check_range(err, field, set, value, REQUIRED, 0,
	    EVENT_COUNT_MAX);
}

/* A UTC time in ms inside the fixed sane window; 0 is not sent. */
static int
check_time(struct check_error *err, const char *field, int64_t time_ms)
{
	if (time_ms == 0)
		return check_fail(err, field, "missing (required)");
	if (time_ms < EVENT_TIME_MIN_MS || time_ms >= EVENT_TIME_END_MS) {
		char shown[DATES_INSTANT_BUFSIZE];

		if (dates_format_instant(time_ms, shown, sizeof(shown)) != 0)
			return check_fail(err, field, "%lld ms is outside "
			    "2000-01-01 to 2100-01-01 UTC", (long long)time_ms);
		return check_fail(err, field, "%s (%lld ms) is outside "
		    "2000-01-01 to 2100-01-01 UTC", shown, (long long)time_ms);
	}
	return 0;
}

/*
 * An enum must hold a value its proto names: protobuf-c keeps the numbers
 * it does not know. 0 (UNSPECIFIED) is not sent.
 */
static int
check_enum(struct check_error *err, const char *field,
    const ProtobufCEnumDescriptor *descriptor, int value,
    enum presence presence)
{
	if (value == 0) {
		if (presence == REQUIRED)
			return check_fail(err, field, "missing (required)");
		return 0;
	}
	if (protobuf_c_enum_descriptor_get_value(descriptor, value) == NULL)
		return check_fail(err, field, "%d is not a known %s value",
		    value, descriptor->short_name);
	return 0;
}

/* -------------------------------------------------------- organisations */

/*
 * What an organisation's code must be for its role, and what its parent
 * must be (DOMAIN.md, the catalogue): site -> its trust or N-code
 * provider; trust, GP practice, independent provider, sub-ICB location and
 * council -> an ICB; care home -> its council; ICB -> a region; a region
 * has none.
 */
static const struct organisation_role {
	unsigned code_kinds;
	unsigned parent_kinds;
} organisation_roles[] = {
	[ROLE(REGION)] = { IDS_KIND_REGION, 0 },
	[ROLE(ICB)] = { IDS_KIND_ICB, IDS_KIND_REGION },
	[ROLE(SUB_ICB)] = { IDS_KIND_SUB_ICB, IDS_KIND_ICB },
	[ROLE(TRUST)] = { IDS_KIND_TRUST, IDS_KIND_ICB },
	[ROLE(TRUST_SITE)] = { IDS_KIND_SITE,
	    IDS_KIND_TRUST | IDS_KIND_INDEPENDENT_PROVIDER },
	[ROLE(GP_PRACTICE)] = { IDS_KIND_GP_PRACTICE, IDS_KIND_ICB },
	[ROLE(INDEPENDENT_PROVIDER)] = { IDS_KIND_INDEPENDENT_PROVIDER,
	    IDS_KIND_ICB },
	[ROLE(LOCAL_AUTHORITY)] = { IDS_KIND_LOCAL_AUTHORITY, IDS_KIND_ICB },
	[ROLE(CARE_HOME)] = { IDS_KIND_CARE_HOME, IDS_KIND_LOCAL_AUTHORITY },
};

/*
 * A site's parent is not required to be the provider its code extends:
 * registration decides attribution (a site that moved to another trust
 * keeps its code; DOMAIN.md, Edges, and the "codes" example, RAA03 under
 * RBB). But a provider in the older frame is its own and only site, so it
 * has none to parent.
 */
static int
check_organisation_parent(struct check_error *err,
    const Commissioning__Organisation *org, const struct organisation_role *role)
{
	char shown[EVENT_SHOWN_VALUE_BUFSIZE];

	if (text_is_empty(org->parent_code))
		return 0;
	if (role->parent_kinds == 0)
		return check_fail(err, "parent_code",
		    "a region has no parent in the hierarchy");
	if (check_code(err, "parent_code", org->parent_code, OPTIONAL,
	    role->parent_kinds) != 0)
		return -1;
	if (org->role == ROLE(TRUST_SITE) &&
	    ids_is_older_frame_provider(org->parent_code))
		return check_fail(err, "parent_code", "%s is in the older "
		    "frame, which is its own site and has no others",
		    event_value_shown(org->parent_code, shown, sizeof(shown)));
	return 0;
}

static int
check_organisation(const ProtobufCMessage *event, unsigned flags,
    struct check_error *err)
{
	const Commissioning__Organisation *org =
	    (const Commissioning__Organisation *)event;
	const struct organisation_role *role;
	char shown[EVENT_SHOWN_VALUE_BUFSIZE], expected[200];
	bool from_given, to_given;
	int32_t from_day = 0, to_day = 0;

	(void)flags;
	if (text_is_empty(org->code))
		return check_fail(err, "code", "missing (required)");
	if (check_enum(err, "role", &commissioning__org_role__descriptor,
	    org->role, REQUIRED) != 0)
		return -1;
	/* check_enum let only named roles through, all rows of the table. */
	role = &organisation_roles[org->role];
	if (!ids_is_kind(org->code, role->code_kinds)) {
		(void)ids_format_kinds(role->code_kinds, expected,
		    sizeof(expected));
		return check_fail(err, "code", "%s is not the code of %s, "
		    "as its role says", event_value_shown(org->code, shown,
		    sizeof(shown)), expected);
	}
	if (check_text(err, "name", org->name, OPTIONAL) != 0)
		return -1;
	if (check_organisation_parent(err, org, role) != 0)
		return -1;
	if (check_date(err, "active_from", org->active_from, OPTIONAL,
	    &from_given, &from_day) != 0)
		return -1;
	if (check_date(err, "active_to", org->active_to, OPTIONAL, &to_given,
	    &to_day) != 0)
		return -1;
	return check_not_before(err, "active_to", to_given, to_day,
	    "active_from", from_given, from_day);
}

/* ------------------------------------------------------------- services */

/*
 * The moves DOMAIN.md allows, judged on the event alone (Services): rows
 * are the from status, columns the to status.
 */
static const bool service_moves[8][8] = {
	[STATUS(NEW)] = {
	    [STATUS(PROPOSED)] = true, [STATUS(COMMISSIONED)] = true },
	[STATUS(PROPOSED)] = {
	    [STATUS(ENGAGEMENT)] = true, [STATUS(CONSULTATION)] = true },
	[STATUS(ENGAGEMENT)] = { [STATUS(CONSULTATION)] = true },
	[STATUS(CONSULTATION)] = { [STATUS(DECISION)] = true },
	[STATUS(DECISION)] = { [STATUS(COMMISSIONED)] = true,
	    [STATUS(DECOMMISSIONED)] = true, [STATUS(CLOSED)] = true },
	[STATUS(COMMISSIONED)] = { [STATUS(CONSULTATION)] = true,
	    [STATUS(DECOMMISSIONED)] = true, [STATUS(CLOSED)] = true,
	    [STATUS(COMMISSIONED)] = true },
};

static const char *const service_status_names[8] = {
	[STATUS(NEW)] = "(new)",
	[STATUS(PROPOSED)] = "proposed",
	[STATUS(ENGAGEMENT)] = "engagement",
	[STATUS(CONSULTATION)] = "consultation",
	[STATUS(DECISION)] = "decision",
	[STATUS(COMMISSIONED)] = "commissioned",
	[STATUS(DECOMMISSIONED)] = "decommissioned",
	[STATUS(CLOSED)] = "closed",
};

/*
 * The proposed change is optional. When sent it needs its type; reduce
 * needs the N it reduces to. A transfer may name the receiving provider,
 * which must then be a provider's code.
 */
static int
check_proposed_change(struct check_error *err,
    const Commissioning__ProposedChange *change)
{
	const char *field = "proposed_change";
	char shown[EVENT_SHOWN_VALUE_BUFSIZE];
	bool has_places;

	if (change == NULL)
		return 0;
	if (change->type == 0)
		return check_fail(err, field, "type missing (required)");
	if (protobuf_c_enum_descriptor_get_value(
	    &commissioning__proposed_change_type__descriptor,
	    change->type) == NULL)
		return check_fail(err, field, "type %d is not a known "
		    "ProposedChangeType value", change->type);
	has_places = change->opt_places_case ==
	    COMMISSIONING__PROPOSED_CHANGE__OPT_PLACES_PLACES;
	if (change->type == CHANGE(REDUCE) && !has_places)
		return check_fail(err, field,
		    "reduce needs the places it reduces to");
	if (has_places && (change->places < 0 ||
	    change->places > EVENT_COUNT_MAX))
		return check_fail(err, field, "places %lld is outside 0 to %d",
		    (long long)change->places, EVENT_COUNT_MAX);
	if (!text_is_empty(change->to_provider) &&
	    !ids_is_kind(change->to_provider, IDS_KINDS_CARE_PROVIDER))
		return check_fail(err, field, "to_provider %s is not a "
		    "provider's code (trust, site, independent provider or "
		    "care home)", event_value_shown(change->to_provider, shown,
		    sizeof(shown)));
	return 0;
}

static int
check_service_status_changed(const ProtobufCMessage *event, unsigned flags,
    struct check_error *err)
{
	const Commissioning__ServiceStatusChanged *service =
	    (const Commissioning__ServiceStatusChanged *)event;

	(void)flags;
	if (check_text(err, "service_id", service->service_id, REQUIRED) != 0)
		return -1;
	if (check_code(err, "commissioner", service->commissioner, REQUIRED,
	    IDS_KINDS_COMMISSIONER) != 0)
		return -1;
	if (check_code(err, "provider", service->provider, REQUIRED,
	    IDS_KINDS_CARE_PROVIDER) != 0)
		return -1;
	if (check_enum(err, "category",
	    &commissioning__service_category__descriptor, service->category,
	    REQUIRED) != 0)
		return -1;
	/* From status 0 is "(new)", a value; to status 0 is not sent. */
	if (check_enum(err, "from_status",
	    &commissioning__service_status__descriptor, service->from_status,
	    OPTIONAL) != 0)
		return -1;
	if (check_enum(err, "to_status",
	    &commissioning__service_status__descriptor, service->to_status,
	    REQUIRED) != 0)
		return -1;
	/* Both are now named values, 0-7: rows of the table. */
	if (!service_moves[service->from_status][service->to_status])
		return check_fail(err, "to_status", "a service cannot move "
		    "from %s to %s", service_status_names[service->from_status],
		    service_status_names[service->to_status]);
	if (check_required_date(err, "effective_date",
	    service->effective_date) != 0)
		return -1;
	if (check_count(err, "places", service->opt_places_case ==
	    COMMISSIONING__SERVICE_STATUS_CHANGED__OPT_PLACES_PLACES,
	    service->places) != 0)
		return -1;
	return check_proposed_change(err, service->proposed_change);
}

/* ------------------------------------------------------------ contracts */

static int
check_contract_awarded(const ProtobufCMessage *event, unsigned flags,
    struct check_error *err)
{
	const Commissioning__ContractAwarded *award =
	    (const Commissioning__ContractAwarded *)event;
	bool start_given, end_given;
	int32_t start_day = 0, end_day = 0;

	(void)flags;
	if (check_text(err, "contract_id", award->contract_id, REQUIRED) != 0)
		return -1;
	if (check_code(err, "commissioner", award->commissioner, REQUIRED,
	    IDS_KINDS_COMMISSIONER) != 0)
		return -1;
	if (check_code(err, "provider", award->provider, REQUIRED,
	    IDS_KINDS_CARE_PROVIDER) != 0)
		return -1;
	if (check_text(err, "service_id", award->service_id, OPTIONAL) != 0)
		return -1;
	if (check_money(err, "annual_value", award->opt_annual_value_case ==
	    COMMISSIONING__CONTRACT_AWARDED__OPT_ANNUAL_VALUE_ANNUAL_VALUE,
	    award->annual_value, REQUIRED, 0) != 0)
		return -1;
	if (check_date(err, "start_date", award->start_date, REQUIRED,
	    &start_given, &start_day) != 0)
		return -1;
	if (check_date(err, "end_date", award->end_date, REQUIRED, &end_given,
	    &end_day) != 0)
		return -1;
	if (check_not_before(err, "end_date", end_given, end_day,
	    "start_date", start_given, start_day) != 0)
		return -1;
	if (check_required_date(err, "decided_on", award->decided_on) != 0)
		return -1;
	if (check_text_list(err, "decision_makers", award->decision_makers,
	    award->n_decision_makers) != 0)
		return -1;
	return check_text_list(err, "recused", award->recused,
	    award->n_recused);
}

static int
check_contract_varied(const ProtobufCMessage *event, unsigned flags,
    struct check_error *err)
{
	const Commissioning__ContractVaried *variation =
	    (const Commissioning__ContractVaried *)event;

	(void)flags;
	if (check_text(err, "contract_id", variation->contract_id,
	    REQUIRED) != 0)
		return -1;
	/* proto3 cannot tell 0 from not sent: both fail, numbers start at 1. */
	if (variation->variation_number < 1)
		return check_fail(err, "variation_number", "%lld; variation "
		    "numbers start at 1", (long long)variation->variation_number);
	if (check_money(err, "new_annual_value",
	    variation->opt_new_annual_value_case ==
	    COMMISSIONING__CONTRACT_VARIED__OPT_NEW_ANNUAL_VALUE_NEW_ANNUAL_VALUE,
	    variation->new_annual_value, REQUIRED, 0) != 0)
		return -1;
	if (check_required_date(err, "effective_date",
	    variation->effective_date) != 0)
		return -1;
	if (check_required_date(err, "decided_on", variation->decided_on) != 0)
		return -1;
	if (check_text_list(err, "decision_makers", variation->decision_makers,
	    variation->n_decision_makers) != 0)
		return -1;
	return check_text_list(err, "recused", variation->recused,
	    variation->n_recused);
}

/* Checked on its own fields only: a last day before the start is fine. */
static int
check_contract_terminated(const ProtobufCMessage *event, unsigned flags,
    struct check_error *err)
{
	const Commissioning__ContractTerminated *termination =
	    (const Commissioning__ContractTerminated *)event;

	(void)flags;
	if (check_text(err, "contract_id", termination->contract_id,
	    REQUIRED) != 0)
		return -1;
	return check_required_date(err, "last_day_of_service",
	    termination->last_day_of_service);
}

/* -------------------------------------------------------------- finance */

/*
 * A Better Care Fund allocation lists its contributors: at least one, each
 * a commissioner named once with a share in -10^13..10^13, the shares
 * adding up to the amount. A core allocation is the commissioner's own
 * money, so it has no contributors: a list sent with one is REJECTED
 * rather than silently dropped, since it would mean the sender took it for
 * a pooled fund.
 */
static int
check_budget_contributors(struct check_error *err,
    const Commissioning__BudgetAllocated *budget)
{
	const char *field = "contributors";
	char shown[EVENT_SHOWN_VALUE_BUFSIZE];
	int64_t sum = 0;

	if (budget->pool != POOL(BETTER_CARE_FUND)) {
		if (budget->n_contributors > 0)
			return check_fail(err, field, "given for a core "
			    "allocation; only a Better Care Fund has "
			    "contributors");
		return 0;
	}
	if (budget->n_contributors == 0)
		return check_fail(err, field, "none given; a Better Care "
		    "Fund allocation lists its contributors");
	if (budget->n_contributors > EVENT_CONTRIBUTORS_MAX)
		return check_fail(err, field, "%zu given; at most %d",
		    budget->n_contributors, EVENT_CONTRIBUTORS_MAX);
	for (size_t i = 0; i < budget->n_contributors; i++) {
		const Commissioning__BudgetContributor *c =
		    budget->contributors[i];

		if (c == NULL || text_is_empty(c->code))
			return check_fail(err, field,
			    "contributor %zu has no code", i + 1);
		if (!ids_is_kind(c->code, IDS_KINDS_COMMISSIONER))
			return check_fail(err, field, "contributor %zu, %s, "
			    "is not a commissioner (ICB, sub-ICB location or "
			    "local authority)", i + 1,
			    event_value_shown(c->code, shown, sizeof(shown)));
		for (size_t j = 0; j < i; j++)
			if (strcmp(budget->contributors[j]->code,
			    c->code) == 0)
				return check_fail(err, field, "contributor "
				    "%zu, %s, is listed twice", i + 1,
				    event_value_shown(c->code, shown,
				    sizeof(shown)));
		if (c->opt_share_case !=
		    COMMISSIONING__BUDGET_CONTRIBUTOR__OPT_SHARE_SHARE)
			return check_fail(err, field,
			    "contributor %zu has no share", i + 1);
		if (c->share < -EVENT_MONEY_MAX_PENCE ||
		    c->share > EVENT_MONEY_MAX_PENCE)
			return check_fail(err, field, "the share of "
			    "contributor %zu, %lld, is outside -10^13 to "
			    "10^13 pence", i + 1, (long long)c->share);
		/* At most 100 shares of at most 10^13: no overflow. */
		sum += c->share;
	}
	if (sum != budget->amount)
		return check_fail(err, field, "the shares add up to %lld, not "
		    "the amount %lld", (long long)sum,
		    (long long)budget->amount);
	return 0;
}

static int
check_budget_allocated(const ProtobufCMessage *event, unsigned flags,
    struct check_error *err)
{
	const Commissioning__BudgetAllocated *budget =
	    (const Commissioning__BudgetAllocated *)event;

	(void)flags;
	if (check_code(err, "commissioner", budget->commissioner, REQUIRED,
	    IDS_KINDS_COMMISSIONER) != 0)
		return -1;
	if (check_financial_year(err, "financial_year",
	    budget->financial_year) != 0)
		return -1;
	if (check_enum(err, "pool", &commissioning__budget_pool__descriptor,
	    budget->pool, REQUIRED) != 0)
		return -1;
	if (check_money(err, "amount", budget->opt_amount_case ==
	    COMMISSIONING__BUDGET_ALLOCATED__OPT_AMOUNT_AMOUNT, budget->amount,
	    REQUIRED, 0) != 0)
		return -1;
	return check_budget_contributors(err, budget);
}

/* Spend may be negative: a credit. */
static int
check_spend_recorded(const ProtobufCMessage *event, unsigned flags,
    struct check_error *err)
{
	const Commissioning__SpendRecorded *spend =
	    (const Commissioning__SpendRecorded *)event;

	(void)flags;
	if (check_code(err, "commissioner", spend->commissioner, REQUIRED,
	    IDS_KINDS_COMMISSIONER) != 0)
		return -1;
	if (check_text(err, "contract_id", spend->contract_id, REQUIRED) != 0)
		return -1;
	if (check_period(err, "period", spend->period) != 0)
		return -1;
	return check_money(err, "amount", spend->opt_amount_case ==
	    COMMISSIONING__SPEND_RECORDED__OPT_AMOUNT_AMOUNT, spend->amount,
	    REQUIRED, -EVENT_MONEY_MAX_PENCE);
}

/* ----------------------------------------------------------------- flow */

static int
check_site_of_provider(struct check_error *err, const char *site,
    const char *provider)
{
	char shown_site[EVENT_SHOWN_VALUE_BUFSIZE];
	char shown_provider[EVENT_SHOWN_VALUE_BUFSIZE];

	if (ids_is_site_of(site, provider))
		return 0;
	event_value_shown(site, shown_site, sizeof(shown_site));
	event_value_shown(provider, shown_provider, sizeof(shown_provider));
	if (ids_is_older_frame_provider(provider))
		return check_fail(err, "site", "%s is not a site of provider "
		    "%s (a provider in the older frame is its own site)",
		    shown_site, shown_provider);
	return check_fail(err, "site", "%s is not a site of provider %s (a "
	    "site is its provider's code plus two characters)", shown_site,
	    shown_provider);
}

static int
check_treatment_function(struct check_error *err, const char *code)
{
	if (text_is_empty(code))
		return 0;
	if (strlen(code) != EVENT_TREATMENT_FUNCTION_DIGITS ||
	    strspn(code, "0123456789") != EVENT_TREATMENT_FUNCTION_DIGITS)
		return check_fail(err, "treatment_function",
		    "a treatment function code is exactly %d digits",
		    EVENT_TREATMENT_FUNCTION_DIGITS);
	return 0;
}

/*
 * Admitted, transferred, discharged, updated. Site and ward are required
 * on admission and transfer (flag); a site given is a site of the provider.
 */
static int
check_patient_movement(const ProtobufCMessage *event, unsigned flags,
    struct check_error *err)
{
	const Commissioning__PatientMovement *movement =
	    (const Commissioning__PatientMovement *)event;
	enum presence site_and_ward = (flags & MOVEMENT_NEEDS_SITE_AND_WARD) ?
	    REQUIRED : OPTIONAL;

	if (check_pseudonym(err, "patient_pseudonym",
	    &movement->patient_pseudonym, REQUIRED) != 0)
		return -1;
	if (check_pseudonym(err, "spell_pseudonym", &movement->spell_pseudonym,
	    REQUIRED) != 0)
		return -1;
	if (check_code(err, "provider", movement->provider, REQUIRED,
	    IDS_KINDS_HOSPITAL_PROVIDER) != 0)
		return -1;
	if (text_is_empty(movement->site)) {
		if (site_and_ward == REQUIRED)
			return check_fail(err, "site", "missing (required)");
	} else if (check_site_of_provider(err, movement->site,
	    movement->provider) != 0)
		return -1;
	if (check_text(err, "ward", movement->ward, site_and_ward) != 0)
		return -1;
	if (check_enum(err, "patient_class",
	    &commissioning__patient_class__descriptor, movement->patient_class,
	    REQUIRED) != 0)
		return -1;
	if (check_treatment_function(err, movement->treatment_function) != 0)
		return -1;
	return check_text(err, "discharge_destination",
	    movement->discharge_destination, OPTIONAL);
}

/* A cancel needs its provider, spell and what it cancels; nothing else. */
static int
check_patient_cancelled(const ProtobufCMessage *event, unsigned flags,
    struct check_error *err)
{
	const Commissioning__PatientCancelled *cancel =
	    (const Commissioning__PatientCancelled *)event;

	(void)flags;
	if (check_pseudonym(err, "patient_pseudonym",
	    &cancel->patient_pseudonym, OPTIONAL) != 0)
		return -1;
	if (check_pseudonym(err, "spell_pseudonym", &cancel->spell_pseudonym,
	    REQUIRED) != 0)
		return -1;
	if (check_code(err, "provider", cancel->provider, REQUIRED,
	    IDS_KINDS_HOSPITAL_PROVIDER) != 0)
		return -1;
	return check_enum(err, "cancels",
	    &commissioning__cancel_target__descriptor, cancel->cancels,
	    REQUIRED);
}

/* ----------------------------------------------------- delayed discharge */

static int
check_ready_for_discharge(const ProtobufCMessage *event, unsigned flags,
    struct check_error *err)
{
	const Commissioning__ReadyForDischarge *ready =
	    (const Commissioning__ReadyForDischarge *)event;

	(void)flags;
	if (check_pseudonym(err, "patient_pseudonym", &ready->patient_pseudonym,
	    REQUIRED) != 0)
		return -1;
	if (check_code(err, "provider", ready->provider, REQUIRED,
	    IDS_KINDS_HOSPITAL_PROVIDER) != 0)
		return -1;
	if (check_required_date(err, "ready_date", ready->ready_date) != 0)
		return -1;
	if (check_range(err, "pathway", ready->opt_pathway_case ==
	    COMMISSIONING__READY_FOR_DISCHARGE__OPT_PATHWAY_PATHWAY,
	    ready->pathway, REQUIRED, 0, EVENT_PATHWAY_MAX) != 0)
		return -1;
	return check_code(err, "council", ready->council, OPTIONAL,
	    IDS_KIND_LOCAL_AUTHORITY);
}

static int
check_hours_per_week(struct check_error *err,
    const Commissioning__CarePackage *package)
{
	if (package->opt_hours_per_week_case !=
	    COMMISSIONING__CARE_PACKAGE__OPT_HOURS_PER_WEEK_HOURS_PER_WEEK)
		return 0;
	/* Written so that NaN fails too. */
	if (!isfinite(package->hours_per_week) ||
	    !(package->hours_per_week >= 0.0 &&
	    package->hours_per_week <= EVENT_HOURS_PER_WEEK_MAX))
		return check_fail(err, "hours_per_week", "%.15g is outside 0 to "
		    "168 (the hours in a week)", package->hours_per_week);
	return 0;
}

/* Started needs its start date, ended its end date (flags). */
static int
check_care_package(const ProtobufCMessage *event, unsigned flags,
    struct check_error *err)
{
	const Commissioning__CarePackage *package =
	    (const Commissioning__CarePackage *)event;
	bool start_given, end_given;
	int32_t start_day = 0, end_day = 0;

	if (check_pseudonym(err, "patient_pseudonym",
	    &package->patient_pseudonym, REQUIRED) != 0)
		return -1;
	if (check_code(err, "council", package->council, REQUIRED,
	    IDS_KIND_LOCAL_AUTHORITY) != 0)
		return -1;
	if (check_text(err, "package_id", package->package_id, REQUIRED) != 0)
		return -1;
	if (check_enum(err, "service_type",
	    &commissioning__care_package_type__descriptor,
	    package->service_type, OPTIONAL) != 0)
		return -1;
	if (check_hours_per_week(err, package) != 0)
		return -1;
	if (check_money(err, "weekly_cost", package->opt_weekly_cost_case ==
	    COMMISSIONING__CARE_PACKAGE__OPT_WEEKLY_COST_WEEKLY_COST,
	    package->weekly_cost, OPTIONAL, 0) != 0)
		return -1;
	if (check_date(err, "start_date", package->start_date,
	    (flags & PACKAGE_NEEDS_START_DATE) ? REQUIRED : OPTIONAL,
	    &start_given, &start_day) != 0)
		return -1;
	if (check_date(err, "end_date", package->end_date,
	    (flags & PACKAGE_NEEDS_END_DATE) ? REQUIRED : OPTIONAL,
	    &end_given, &end_day) != 0)
		return -1;
	return check_not_before(err, "end_date", end_given, end_day,
	    "start_date", start_given, start_day);
}

/* ------------------------------------------------------------- capacity */

/* Occupied above available is accepted: escalation beds are real. */
static int
check_capacity_reported(const ProtobufCMessage *event, unsigned flags,
    struct check_error *err)
{
	const Commissioning__CapacityReported *capacity =
	    (const Commissioning__CapacityReported *)event;

	(void)flags;
	if (check_code(err, "organisation", capacity->organisation, REQUIRED,
	    IDS_KINDS_CARE_PROVIDER) != 0)
		return -1;
	if (check_enum(err, "sector", &commissioning__sector__descriptor,
	    capacity->sector, REQUIRED) != 0)
		return -1;
	if (check_count(err, "beds_available",
	    capacity->opt_beds_available_case ==
	    COMMISSIONING__CAPACITY_REPORTED__OPT_BEDS_AVAILABLE_BEDS_AVAILABLE,
	    capacity->beds_available) != 0)
		return -1;
	if (check_count(err, "beds_occupied",
	    capacity->opt_beds_occupied_case ==
	    COMMISSIONING__CAPACITY_REPORTED__OPT_BEDS_OCCUPIED_BEDS_OCCUPIED,
	    capacity->beds_occupied) != 0)
		return -1;
	return check_time(err, "as_of", capacity->as_of);
}

/* ----------------------------------------------------------- governance */

static int
check_interest_declared(const ProtobufCMessage *event, unsigned flags,
    struct check_error *err)
{
	const Commissioning__InterestDeclared *declaration =
	    (const Commissioning__InterestDeclared *)event;
	bool from_given, to_given;
	int32_t from_day = 0, to_day = 0;

	(void)flags;
	if (check_text(err, "declaration_id", declaration->declaration_id,
	    REQUIRED) != 0)
		return -1;
	if (check_text(err, "person", declaration->person, REQUIRED) != 0)
		return -1;
	if (check_text(err, "role", declaration->role, OPTIONAL) != 0)
		return -1;
	if (check_code(err, "organisation", declaration->organisation,
	    REQUIRED, IDS_KINDS_ANY_ORGANISATION) != 0)
		return -1;
	if (check_enum(err, "type", &commissioning__interest_type__descriptor,
	    declaration->type, REQUIRED) != 0)
		return -1;
	if (check_code(err, "interest_in", declaration->interest_in, REQUIRED,
	    IDS_KINDS_ANY_ORGANISATION) != 0)
		return -1;
	if (check_date(err, "from_date", declaration->from_date, REQUIRED,
	    &from_given, &from_day) != 0)
		return -1;
	if (check_date(err, "to_date", declaration->to_date, OPTIONAL,
	    &to_given, &to_day) != 0)
		return -1;
	return check_not_before(err, "to_date", to_given, to_day, "from_date",
	    from_given, from_day);
}

/* Checked on its own fields only: a to date before the from is fine. */
static int
check_interest_withdrawn(const ProtobufCMessage *event, unsigned flags,
    struct check_error *err)
{
	const Commissioning__InterestWithdrawn *withdrawal =
	    (const Commissioning__InterestWithdrawn *)event;

	(void)flags;
	if (check_text(err, "declaration_id", withdrawal->declaration_id,
	    REQUIRED) != 0)
		return -1;
	return check_required_date(err, "to_date", withdrawal->to_date);
}

/* ------------------------------------------------------------- the table */

typedef int event_check_fn(const ProtobufCMessage *event, unsigned flags,
    struct check_error *err);

/* One row per event of the envelope's oneof, indexed by its case. */
static const struct event_kind {
	const ProtobufCMessageDescriptor *descriptor;
	event_check_fn *check;
	unsigned flags;
} event_kinds[] = {
	[EVENT(ORGANISATION_REGISTERED)] = {
	    &commissioning__organisation__descriptor, check_organisation, 0 },
	[EVENT(ORGANISATION_UPDATED)] = {
	    &commissioning__organisation__descriptor, check_organisation, 0 },
	[EVENT(SERVICE_STATUS_CHANGED)] = {
	    &commissioning__service_status_changed__descriptor,
	    check_service_status_changed, 0 },
	[EVENT(CONTRACT_AWARDED)] = {
	    &commissioning__contract_awarded__descriptor,
	    check_contract_awarded, 0 },
	[EVENT(CONTRACT_VARIED)] = {
	    &commissioning__contract_varied__descriptor,
	    check_contract_varied, 0 },
	[EVENT(CONTRACT_TERMINATED)] = {
	    &commissioning__contract_terminated__descriptor,
	    check_contract_terminated, 0 },
	[EVENT(BUDGET_ALLOCATED)] = {
	    &commissioning__budget_allocated__descriptor,
	    check_budget_allocated, 0 },
	[EVENT(SPEND_RECORDED)] = {
	    &commissioning__spend_recorded__descriptor,
	    check_spend_recorded, 0 },
	[EVENT(PATIENT_ADMITTED)] = {
	    &commissioning__patient_movement__descriptor,
	    check_patient_movement, MOVEMENT_NEEDS_SITE_AND_WARD },
	[EVENT(PATIENT_TRANSFERRED)] = {
	    &commissioning__patient_movement__descriptor,
	    check_patient_movement, MOVEMENT_NEEDS_SITE_AND_WARD },
	[EVENT(PATIENT_DISCHARGED)] = {
	    &commissioning__patient_movement__descriptor,
	    check_patient_movement, 0 },
	[EVENT(PATIENT_UPDATED)] = {
	    &commissioning__patient_movement__descriptor,
	    check_patient_movement, 0 },
	[EVENT(PATIENT_CANCELLED)] = {
	    &commissioning__patient_cancelled__descriptor,
	    check_patient_cancelled, 0 },
	[EVENT(READY_FOR_DISCHARGE)] = {
	    &commissioning__ready_for_discharge__descriptor,
	    check_ready_for_discharge, 0 },
	[EVENT(CARE_PACKAGE_STARTED)] = {
	    &commissioning__care_package__descriptor, check_care_package,
	    PACKAGE_NEEDS_START_DATE },
	[EVENT(CARE_PACKAGE_ENDED)] = {
	    &commissioning__care_package__descriptor, check_care_package,
	    PACKAGE_NEEDS_END_DATE },
	[EVENT(CAPACITY_REPORTED)] = {
	    &commissioning__capacity_reported__descriptor,
	    check_capacity_reported, 0 },
	[EVENT(INTEREST_DECLARED)] = {
	    &commissioning__interest_declared__descriptor,
	    check_interest_declared, 0 },
	[EVENT(INTEREST_WITHDRAWN)] = {
	    &commissioning__interest_withdrawn__descriptor,
	    check_interest_withdrawn, 0 },
};

/* The row and the envelope's field for the event set in env, or NULL. */
static const struct event_kind *
event_kind_of(const Commissioning__Envelope *env,
    const ProtobufCFieldDescriptor **field)
{
	const struct event_kind *kind;
	const ProtobufCFieldDescriptor *f;

	if (env == NULL || env->event_case <= 0 ||
	    (size_t)env->event_case >= nitems(event_kinds))
		return NULL;
	kind = &event_kinds[env->event_case];
	if (kind->check == NULL)
		return NULL;
	f = protobuf_c_message_descriptor_get_field(
	    &commissioning__envelope__descriptor, (unsigned)env->event_case);
	if (f == NULL || f->type != PROTOBUF_C_TYPE_MESSAGE ||
	    f->descriptor != kind->descriptor)
		return NULL;
	*field = f;
	return kind;
}

const char *
event_kind_name(const Commissioning__Envelope *env)
{
	const ProtobufCFieldDescriptor *field;

	if (event_kind_of(env, &field) == NULL)
		return "unknown";
	return field->name;
}

/* Printable ASCII; spaces allowed or not. */
static bool
envelope_text_is_ascii(const char *text, bool spaces)
{
	for (; *text != '\0'; text++) {
		unsigned char c = (unsigned char)*text;

		if (c > 0x7e || c < 0x20 || (c == ' ' && !spaces))
			return false;
	}
	return true;
}

static int
check_envelope(const Commissioning__Envelope *env, struct check_error *err)
{
	if (text_is_empty(env->source))
		return check_fail(err, "source", "missing (required)");
	if (strlen(env->source) > EVENT_SOURCE_MAX_BYTES)
		return check_fail(err, "source", "%zu bytes; at most %d",
		    strlen(env->source), EVENT_SOURCE_MAX_BYTES);
	if (!envelope_text_is_ascii(env->source, false))
		return check_fail(err, "source",
		    "not printable ASCII without spaces");
	if (text_is_empty(env->event_id))
		return check_fail(err, "event_id", "missing (required)");
	if (strlen(env->event_id) > EVENT_ID_MAX_BYTES)
		return check_fail(err, "event_id", "%zu bytes; at most %d",
		    strlen(env->event_id), EVENT_ID_MAX_BYTES);
	if (!envelope_text_is_ascii(env->event_id, true))
		return check_fail(err, "event_id", "not printable ASCII");
	return check_time(err, "occurred_at", env->occurred_at);
}

int
event_check(const Commissioning__Envelope *env, struct check_error *err)
{
	const struct event_kind *kind;
	const ProtobufCFieldDescriptor *field;
	const ProtobufCMessage *event;

	if (err != NULL)
		err->field[0] = err->reason[0] = '\0';
	if (env == NULL)
		return check_fail(err, "event", "no envelope");
	if (check_envelope(env, err) != 0)
		return -1;
	kind = event_kind_of(env, &field);
	if (kind == NULL)
		return check_fail(err, "event", "no known event set (unknown "
		    "event kind or empty envelope)");
	/* Every event of the oneof is a message: read it where it sits. */
	event = *(const ProtobufCMessage *const *)(const void *)
	    ((const char *)env + field->offset);
	if (event == NULL || event->descriptor != kind->descriptor)
		return check_fail(err, "event", "%s set without its message",
		    field->name);
	return kind->check(event, kind->flags, err);
}
