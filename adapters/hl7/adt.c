/*
 * adt: ADT messages to patient events. The trigger table says which event
 * each trigger makes and where its time comes from; one function per kind
 * of event (movement, cancel) fills it. NHS numbers live only in a local
 * buffer here, wiped once hashed; names, addresses and birth dates (PID-5,
 * PID-7, PID-11) are never read.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "adt.h"
#include "config.h"
#include "ids.h"

/* The OID of the NHS number (CX-4's universal id, when sent). */
#define ADT_NHS_NUMBER_OID "2.16.840.1.113883.2.1.4.1"
/* An NHS number as sent: 10 digits, perhaps spaced 3-3-4. */
#define ADT_NHS_NUMBER_BUFSIZE 16
/* Control ids, visit numbers and other text we read. */
#define ADT_READ_BUFSIZE 1024
/* MSH-10 as sent, at most: an ACK echoes it in MSA-2 (ack.c mirrors a
 * field up to ACK_MIRRORED_FIELD_MAX_BYTES), and it fits ADT_READ_BUFSIZE
 * unescaped. */
#define ADT_CONTROL_ID_MAX_BYTES (ADT_READ_BUFSIZE - 1)
/* HL7 times, version ids, triggers, codes. */
#define ADT_SHORT_BUFSIZE 64
/* The versions this adapter reads: 2.2 to 2.8. */
#define ADT_VERSION_MINOR_FIRST 2
#define ADT_VERSION_MINOR_LAST 8

enum adt_time_rule {
	ADT_TIME_ADMIT,	    /* PV1-44, else the event's time */
	ADT_TIME_DISCHARGE, /* PV1-45, else the event's time */
	ADT_TIME_EVENT,	    /* EVN-6, EVN-2, MSH-7 */
};

struct adt_context;

/* One row per trigger: adding a trigger is a row (and at most a function). */
struct adt_trigger {
	const char *code;
	Commissioning__Envelope__EventCase event_case;
	enum adt_time_rule time_rule;
	Commissioning__CancelTarget cancels;
	int (*map)(struct adt_context *cx);
};

/* What one mapping works on, and which HL7 field each value came from. */
struct adt_context {
	const struct hl7_message *msg;
	const struct adt_options *opts;
	const struct pseudonymiser *ps;
	const struct adt_trigger *trigger;
	struct adt_event *event;
	struct hl7_error *err;
	bool latin1;		       /* MSH-18 is ISO 8859-1 */
	char charset[ADT_SHORT_BUFSIZE]; /* MSH-18 as sent, for errors */
	bool has_patient;	       /* an NHS number was found */
	const char *time_field;	       /* where occurred_at came from */
	const char *visit_field;       /* PV1-19 or PID-18 */
	const char *destination_field; /* PV1-37 or PV1-36 */
};

static int adt_map_movement(struct adt_context *cx);
static int adt_map_cancel(struct adt_context *cx);

#define ENVELOPE_EVENT(x) COMMISSIONING__ENVELOPE__EVENT_##x
#define CANCEL(x) COMMISSIONING__CANCEL_TARGET__CANCEL_TARGET_##x

static const struct adt_trigger adt_triggers[] = {
	{ "A01", ENVELOPE_EVENT(PATIENT_ADMITTED), ADT_TIME_ADMIT, CANCEL(UNSPECIFIED),
	    adt_map_movement },
	/* Register: an attendance unless its class is inpatient; an
	 * admission either way, and the class says which. */
	{ "A04", ENVELOPE_EVENT(PATIENT_ADMITTED), ADT_TIME_ADMIT, CANCEL(UNSPECIFIED),
	    adt_map_movement },
	{ "A02", ENVELOPE_EVENT(PATIENT_TRANSFERRED), ADT_TIME_EVENT, CANCEL(UNSPECIFIED),
	    adt_map_movement },
	{ "A03", ENVELOPE_EVENT(PATIENT_DISCHARGED), ADT_TIME_DISCHARGE, CANCEL(UNSPECIFIED),
	    adt_map_movement },
	{ "A08", ENVELOPE_EVENT(PATIENT_UPDATED), ADT_TIME_EVENT, CANCEL(UNSPECIFIED),
	    adt_map_movement },
	{ "A11", ENVELOPE_EVENT(PATIENT_CANCELLED), ADT_TIME_EVENT, CANCEL(ADMISSION),
	    adt_map_cancel },
	{ "A12", ENVELOPE_EVENT(PATIENT_CANCELLED), ADT_TIME_EVENT, CANCEL(TRANSFER),
	    adt_map_cancel },
	{ "A13", ENVELOPE_EVENT(PATIENT_CANCELLED), ADT_TIME_EVENT, CANCEL(DISCHARGE),
	    adt_map_cancel },
};

/* HL7 table 0004, patient class. */
static const struct {
	char letter;
	Commissioning__PatientClass patient_class;
} adt_classes[] = {
	{ 'I', COMMISSIONING__PATIENT_CLASS__PATIENT_CLASS_INPATIENT },
	{ 'E', COMMISSIONING__PATIENT_CLASS__PATIENT_CLASS_EMERGENCY },
	{ 'O', COMMISSIONING__PATIENT_CLASS__PATIENT_CLASS_OUTPATIENT },
	{ 'P', COMMISSIONING__PATIENT_CLASS__PATIENT_CLASS_PREADMIT },
	{ 'R', COMMISSIONING__PATIENT_CLASS__PATIENT_CLASS_RECURRING },
	{ 'B', COMMISSIONING__PATIENT_CLASS__PATIENT_CLASS_OBSTETRICS },
	{ 'U', COMMISSIONING__PATIENT_CLASS__PATIENT_CLASS_UNKNOWN },
};

#define nitems(a) (sizeof(a) / sizeof((a)[0]))

static int adt_fail(struct adt_context *cx, unsigned code, const char *field,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int
adt_fail(struct adt_context *cx, unsigned code, const char *field, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = hl7_error_vset(cx->err, code, field, fmt, ap);
	va_end(ap);
	return rc;
}

/*
 * A short code as it may appear in an error: itself when it is a few
 * letters and digits, else only its length. Codes only: never pass a value
 * from PID here.
 */
static const char *
adt_shown(const char *value, char *buf, size_t size)
{
	size_t len = strlen(value);
	bool plain = len > 0 && len <= 12;

	for (size_t i = 0; plain && i < len; i++) {
		char c = value[i];

		plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '_' || c == '-' || c == '.' || c == '/' || c == ' ';
	}
	if (plain)
		(void)snprintf(buf, size, "\"%s\"", value);
	else
		(void)snprintf(buf, size, "a %zu-byte value", len);
	return buf;
}

/*
 * Read one value (see hl7_get) into out. name is the field as an error
 * names it ("PV1-3.1"), what says what it is ("the ward"). Return its
 * length, or fail: too long for out, or a malformed escape sequence.
 */
static int
adt_read(struct adt_context *cx, const char *segment, unsigned field, unsigned component,
    unsigned subcomponent, const char *name, const char *what, char *out, size_t outlen)
{
	int r = hl7_get(cx->msg, segment, 1, field, 1, component, subcomponent, out, outlen);

	if (r == -ENOSPC)
		return adt_fail(cx, HL7_ERROR_DATA_TYPE, name, "%s is longer than %zu bytes", what,
		    outlen - 1);
	if (r < 0)
		return adt_fail(cx, HL7_ERROR_DATA_TYPE, name,
		    "%s has a malformed escape sequence", what);
	return r;
}

/*
 * ISO 8859-1 (MSH-18 "8859/1") to UTF-8, in place within size bytes.
 * Return the new length, -ENOSPC, or -EILSEQ with *at (0-based) at a byte
 * 0x80 to 0x9F: ISO 8859-1 has C1 control codes there, no characters (a
 * Windows-1252 sender's quotes and dashes), and U+0080 to U+009F would
 * reach the store as control characters.
 */
static int
latin1_to_utf8(char *text, size_t size, size_t *at)
{
	size_t len = strlen(text), extra = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];

		if (c >= 0x80 && c <= 0x9f) {
			*at = i;
			return -EILSEQ;
		}
		if (c >= 0x80)
			extra++;
	}
	if (len + extra >= size)
		return -ENOSPC;
	text[len + extra] = '\0';
	for (size_t i = len; i-- > 0;) {
		unsigned char c = (unsigned char)text[i];

		if (c < 0x80) {
			text[i + extra] = (char)c;
			continue;
		}
		text[i + extra] = (char)(0x80 | (c & 0x3f));
		extra--;
		text[i + extra] = (char)(0xc0 | (c >> 6));
	}
	return (int)strlen(text);
}

/* Read free text (a ward, a destination) and make it UTF-8. */
static int
adt_read_text(struct adt_context *cx, const char *segment, unsigned field, unsigned component,
    const char *name, const char *what, char *out, size_t outlen)
{
	int r = adt_read(cx, segment, field, component, 1, name, what, out, outlen);
	size_t at = 0;

	if (r <= 0 || !cx->latin1)
		return r;
	r = latin1_to_utf8(out, outlen, &at);
	if (r == -EILSEQ)
		return adt_fail(cx, HL7_ERROR_DATA_TYPE, name,
		    "%s holds byte 0x%02x at %zu, a C1 control code in ISO 8859-1 (MSH-18 "
		    "8859/1), not a character: Windows-1252 text is not ISO 8859-1", what,
		    (unsigned)(unsigned char)out[at], at + 1);
	if (r < 0)
		return adt_fail(cx, HL7_ERROR_DATA_TYPE, name,
		    "%s is longer than %zu bytes in UTF-8", what, outlen - 1);
	return r;
}

/* ------------------------------------------------------------ header */

static const struct adt_trigger *
adt_trigger_find(const char *code)
{
	for (size_t i = 0; i < nitems(adt_triggers); i++)
		if (strcmp(adt_triggers[i].code, code) == 0)
			return &adt_triggers[i];
	return NULL;
}

/* MSH-9: ADT and a trigger we take (EVN-1 where MSH-9 has none, as v2.2 allows). */
static int
adt_read_message_type(struct adt_context *cx)
{
	char type[ADT_SHORT_BUFSIZE], trigger[ADT_SHORT_BUFSIZE], shown[48];
	const char *trigger_field = "MSH-9.2";
	int r;

	if ((r = adt_read(cx, "MSH", 9, 1, 1, "MSH-9", "the message type", type,
	    sizeof(type))) < 0)
		return r;
	if (r == 0)
		return adt_fail(cx, HL7_ERROR_REQUIRED_FIELD_MISSING, "MSH-9",
		    "the message type is missing (required)");
	if (strcmp(type, "ADT") != 0)
		return adt_fail(cx, HL7_ERROR_UNSUPPORTED_MESSAGE_TYPE, "MSH-9",
		    "message type %s is not ADT", adt_shown(type, shown, sizeof(shown)));
	if ((r = adt_read(cx, "MSH", 9, 2, 1, "MSH-9.2", "the trigger event", trigger,
	    sizeof(trigger))) < 0)
		return r;
	if (r == 0) {
		trigger_field = "EVN-1";
		if ((r = adt_read(cx, "EVN", 1, 1, 1, "EVN-1", "the trigger event", trigger,
		    sizeof(trigger))) < 0)
			return r;
	}
	if (r == 0)
		return adt_fail(cx, HL7_ERROR_REQUIRED_FIELD_MISSING, "MSH-9.2",
		    "the trigger event is missing (required)");
	cx->trigger = adt_trigger_find(trigger);
	if (cx->trigger == NULL)
		return adt_fail(cx, HL7_ERROR_UNSUPPORTED_EVENT_CODE, trigger_field,
		    "trigger event %s is not one this adapter takes (A01 A02 A03 A04 A08 A11 "
		    "A12 A13)", adt_shown(trigger, shown, sizeof(shown)));
	memcpy(cx->event->trigger, cx->trigger->code, sizeof(cx->event->trigger));
	return 0;
}

/* MSH-11: a processing id the adapter is set to take, so that a training
 * or test system pointed at the live adapter is refused, not counted. */
static int
adt_read_processing_id(struct adt_context *cx)
{
	const char *ids = cx->opts->processing_ids;
	char id[ADT_SHORT_BUFSIZE], shown[48];
	int r;

	if (ids == NULL || strcmp(ids, "*") == 0)
		return 0;
	if ((r = adt_read(cx, "MSH", 11, 1, 1, "MSH-11", "the processing id", id,
	    sizeof(id))) < 0)
		return r;
	if (r == 0)
		return adt_fail(cx, HL7_ERROR_REQUIRED_FIELD_MISSING, "MSH-11",
		    "the processing id is missing (required: P for production)");
	if (!config_list_includes(ids, id))
		return adt_fail(cx, HL7_ERROR_UNSUPPORTED_PROCESSING_ID, "MSH-11",
		    "processing id %s is not one this adapter takes (%s): a training or test "
		    "system's messages are not counted",
		    adt_shown(id, shown, sizeof(shown)), ids);
	return 0;
}

/* MSH-12: 2.2 to 2.8 (any patch: 2.3.1, 2.5.1). MSH-18: the character set. */
static int
adt_read_version(struct adt_context *cx)
{
	char version[ADT_SHORT_BUFSIZE], shown[48];
	unsigned major, minor, patch;
	int r;

	if ((r = adt_read(cx, "MSH", 12, 1, 1, "MSH-12", "the version id", version,
	    sizeof(version))) < 0)
		return r;
	if (r == 0)
		return adt_fail(cx, HL7_ERROR_REQUIRED_FIELD_MISSING, "MSH-12",
		    "the version id is missing (required)");
	if (hl7_parse_version(version, &major, &minor, &patch) != 0 || major != 2 ||
	    minor < ADT_VERSION_MINOR_FIRST || minor > ADT_VERSION_MINOR_LAST)
		return adt_fail(cx, HL7_ERROR_UNSUPPORTED_VERSION_ID, "MSH-12",
		    "version %s is not one this adapter reads (2.2 to 2.8)",
		    adt_shown(version, shown, sizeof(shown)));
	if ((r = adt_read(cx, "MSH", 18, 1, 1, "MSH-18", "the character set", cx->charset,
	    sizeof(cx->charset))) < 0)
		return r;
	cx->latin1 = strcmp(cx->charset, "8859/1") == 0;
	return 0;
}

/* The provider a facility speaks for: the table, then the facility itself. */
static const char *
adt_provider_of(const struct adt_options *opts, const char *facility)
{
	for (size_t i = 0; i < opts->n_facilities; i++)
		if (strcmp(opts->facilities[i].facility, facility) == 0)
			return opts->facilities[i].provider;
	if (opts->facility_is_provider && ids_is_kind(facility, IDS_KINDS_HOSPITAL_PROVIDER))
		return facility;
	return NULL;
}

/* MSH-4: the source and the provider. */
static int
adt_read_facility(struct adt_context *cx)
{
	struct adt_event *event = cx->event;
	char facility[EVENT_SOURCE_MAX_BYTES + 1], shown[48];
	const char *provider;
	int r;

	if ((r = adt_read(cx, "MSH", 4, 1, 1, "MSH-4", "the sending facility", facility,
	    sizeof(facility) - strlen(ADT_SOURCE_PREFIX))) < 0)
		return r;
	if (r == 0)
		return adt_fail(cx, HL7_ERROR_REQUIRED_FIELD_MISSING, "MSH-4",
		    "the sending facility is missing (required: it names the provider)");
	(void)snprintf(event->source, sizeof(event->source), "%s%s", ADT_SOURCE_PREFIX,
	    facility);
	provider = adt_provider_of(cx->opts, facility);
	if (provider == NULL)
		return adt_fail(cx, HL7_ERROR_UNKNOWN_KEY_IDENTIFIER, "MSH-4",
		    "sending facility %s is not configured to a provider",
		    adt_shown(facility, shown, sizeof(shown)));
	if (strlen(provider) >= sizeof(event->provider))
		return adt_fail(cx, HL7_ERROR_APPLICATION_INTERNAL, "MSH-4",
		    "the provider configured for this facility is not an ODS code");
	memcpy(event->provider, provider, strlen(provider) + 1);
	return 0;
}

/*
 * How many of MSH-10's bytes, as sent, are component, repetition or
 * sub-component separators. (An escape sequence never holds one: \S\ is
 * a letter.)
 */
static size_t
adt_count_separators(const struct hl7_encoding *enc, const char *raw, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++)
		if (raw[i] == enc->component || raw[i] == enc->repetition ||
		    (enc->subcomponent != '\0' && raw[i] == enc->subcomponent))
			n++;
	return n;
}

/*
 * MSH-10: the control id, the same on a resend, so the same event.
 *
 * It is an ST: one value, read unescaped. A sender that puts a separator
 * in it (CID^1, CID~2) means the whole field as its id, so the whole field
 * as sent is the id: taking its first part would give CID^1 and CID^2 the
 * same event id, and the daemon would drop the second as a reuse after we
 * answered AA. Control bytes are refused: an ACK mirrors MSH-10, and 0x0B
 * or 0x1C in it would break the ACK's MLLP framing (ack.c leaves such a
 * field out). An id longer than an event id is replaced by the hex
 * BLAKE2b-256 of it.
 */
static int
adt_read_control_id(struct adt_context *cx)
{
	struct adt_event *event = cx->event;
	char control_id[ADT_READ_BUFSIZE];
	uint8_t hash[crypto_generichash_BYTES];
	const char *raw, *id;
	size_t raw_len, separators, at;
	int r;

	if (hl7_get_raw_field(cx->msg, "MSH", 1, 10, &raw, &raw_len) < 0)
		return adt_fail(cx, HL7_ERROR_APPLICATION_INTERNAL, "MSH-10",
		    "the message control id cannot be read");
	if ((at = hl7_control_byte_at(raw, raw_len)) < raw_len)
		return adt_fail(cx, HL7_ERROR_DATA_TYPE, "MSH-10",
		    "the message control id holds control byte 0x%02x at %zu (MLLP's 0x0B and "
		    "0x1C among them); it is left out of this ACK",
		    (unsigned)(unsigned char)raw[at], at + 1);
	if (raw_len > ADT_CONTROL_ID_MAX_BYTES)
		return adt_fail(cx, HL7_ERROR_DATA_TYPE, "MSH-10",
		    "the message control id is longer than %d bytes, too long to echo in the "
		    "ACK's MSA-2", ADT_CONTROL_ID_MAX_BYTES);
	separators = adt_count_separators(&cx->msg->encoding, raw, raw_len);
	if (separators > 0 && separators < raw_len) {
		id = raw;
		r = (int)raw_len;
	} else {
		/* Separators alone read as empty: missing. */
		if ((r = adt_read(cx, "MSH", 10, 1, 1, "MSH-10", "the message control id",
		    control_id, sizeof(control_id))) < 0)
			return r;
		if (r == 0)
			return adt_fail(cx, HL7_ERROR_REQUIRED_FIELD_MISSING, "MSH-10",
			    "the message control id is missing (required: it is the event id)");
		id = control_id;
	}
	/* Whatever its length, hashed or not: the daemon takes printable
	 * ASCII ids only, and a long id must not pass where a short one
	 * would be refused. */
	for (at = 0; at < (size_t)r; at++)
		if ((unsigned char)id[at] < 0x20 || (unsigned char)id[at] > 0x7e)
			return adt_fail(cx, HL7_ERROR_DATA_TYPE, "MSH-10",
			    "the message control id holds byte 0x%02x at %zu: it must be "
			    "printable ASCII", (unsigned)(unsigned char)id[at], at + 1);
	if ((size_t)r <= ADT_EVENT_ID_MAX_BYTES) {
		memcpy(event->event_id, id, (size_t)r);
		event->event_id[r] = '\0';
		return 0;
	}
	crypto_generichash(hash, sizeof(hash), (const uint8_t *)id, (size_t)r, NULL, 0);
	sodium_bin2hex(event->event_id, sizeof(event->event_id), hash, sizeof(hash));
	return 0;
}

/* ------------------------------------------------------------ patient */

/*
 * Is this PID-3 repetition the NHS number? Type NH (any case) with the
 * authority NHS (any case, or its OID) or none (neither a namespace id nor
 * a universal id: one given only as another OID is another authority); or
 * authority NHS with no type, as v2.2's CK type (no type component) is
 * sent.
 */
static int
adt_is_nhs_repetition(struct adt_context *cx, unsigned repetition, bool *is_nhs)
{
	char authority[ADT_SHORT_BUFSIZE], oid[ADT_SHORT_BUFSIZE], type[ADT_SHORT_BUFSIZE];

	*is_nhs = false;
	/* Too long for these buffers: not the NHS number's authority or type. */
	if (hl7_get(cx->msg, "PID", 1, 3, repetition, 4, 1, authority, sizeof(authority)) < 0 ||
	    hl7_get(cx->msg, "PID", 1, 3, repetition, 4, 2, oid, sizeof(oid)) < 0 ||
	    hl7_get(cx->msg, "PID", 1, 3, repetition, 5, 1, type, sizeof(type)) < 0)
		return 0;
	if (strcasecmp(type, "NH") == 0)
		*is_nhs = (authority[0] == '\0' && oid[0] == '\0') ||
		    strcasecmp(authority, "NHS") == 0 ||
		    strcmp(authority, ADT_NHS_NUMBER_OID) == 0 ||
		    strcmp(oid, ADT_NHS_NUMBER_OID) == 0;
	else if (type[0] == '\0')
		*is_nhs = strcasecmp(authority, "NHS") == 0;
	return 0;
}

/*
 * PID-3: find the NHS number and hash it into *pseudonym. cx->has_patient
 * says whether there was one. An NHS number that fails its check fails.
 */
static int
adt_read_patient(struct adt_context *cx, uint8_t pseudonym[PSEUDONYM_BYTES])
{
	size_t n = hl7_count_repetitions(cx->msg, "PID", 1, 3);
	char number[ADT_NHS_NUMBER_BUFSIZE];

	cx->has_patient = false;
	for (unsigned rep = 1; rep <= n; rep++) {
		bool is_nhs;
		int r, ok;

		if (adt_is_nhs_repetition(cx, rep, &is_nhs) != 0 || !is_nhs)
			continue;
		r = hl7_get(cx->msg, "PID", 1, 3, rep, 1, 1, number, sizeof(number));
		ok = r > 0 && pseudonym_from_nhs_number(cx->ps, number, pseudonym) == 0;
		sodium_memzero(number, sizeof(number));
		if (r == 0)
			continue; /* an empty NH repetition: look on */
		if (!ok)
			return adt_fail(cx, HL7_ERROR_DATA_TYPE, "PID-3",
			    "the NHS number is not valid (10 digits whose last is the "
			    "modulus 11 check digit)");
		cx->has_patient = true;
		return 0;
	}
	return 0;
}

/* PV1-19, else PID-18: the visit number, hashed with the provider. */
static int
adt_read_spell(struct adt_context *cx, uint8_t pseudonym[PSEUDONYM_BYTES])
{
	char visit[ADT_READ_BUFSIZE];
	int r;

	cx->visit_field = "PV1-19";
	if ((r = adt_read(cx, "PV1", 19, 1, 1, "PV1-19", "the visit number", visit,
	    sizeof(visit))) < 0)
		return r;
	if (r == 0) {
		cx->visit_field = "PID-18";
		if ((r = adt_read(cx, "PID", 18, 1, 1, "PID-18", "the account number", visit,
		    sizeof(visit))) < 0)
			return r;
	}
	if (r == 0)
		return adt_fail(cx, HL7_ERROR_REQUIRED_FIELD_MISSING, "PV1-19",
		    "the visit number is missing (PV1-19, or PID-18 where PV1-19 is empty): "
		    "it identifies the spell");
	pseudonym_from_text(cx->ps, "spell", cx->event->provider, visit, pseudonym);
	return 0;
}

/* ------------------------------------------------------------ time */

/*
 * occurred_at: the trigger's own field (PV1-44 admit, PV1-45 discharge),
 * else EVN-6 (event occurred), else EVN-2 (recorded), else MSH-7. A field
 * that is given but is not an HL7 time fails: no guessing past it.
 */
static int
adt_read_time(struct adt_context *cx)
{
	static const struct {
		const char *segment;
		unsigned field;
		const char *name;
	} candidates[] = {
		{ "PV1", 44, "PV1-44" },
		{ "PV1", 45, "PV1-45" },
		{ "EVN", 6, "EVN-6" },
		{ "EVN", 2, "EVN-2" },
		{ "MSH", 7, "MSH-7" },
	};
	char text[ADT_SHORT_BUFSIZE];

	for (size_t i = 0; i < nitems(candidates); i++) {
		int r;

		if ((i == 0 && cx->trigger->time_rule != ADT_TIME_ADMIT) ||
		    (i == 1 && cx->trigger->time_rule != ADT_TIME_DISCHARGE))
			continue;
		/* TS is time^precision (v2.3 to 2.5); DTM has no components. */
		if ((r = adt_read(cx, candidates[i].segment, candidates[i].field, 1, 1,
		    candidates[i].name, "the time", text, sizeof(text))) < 0)
			return r;
		if (r == 0)
			continue;
		cx->time_field = candidates[i].name;
		if (hl7_parse_time(text, &cx->event->envelope.occurred_at) != 0)
			return adt_fail(cx, HL7_ERROR_DATA_TYPE, candidates[i].name,
			    "not an HL7 time (YYYY[MM[DD[HH[MM[SS[.S]]]]]][+/-ZZZZ], a real "
			    "date and time)");
		return 0;
	}
	return adt_fail(cx, HL7_ERROR_REQUIRED_FIELD_MISSING, "MSH-7",
	    "no time for the event (%sEVN-6, EVN-2 or MSH-7)",
	    cx->trigger->time_rule == ADT_TIME_ADMIT	   ? "PV1-44, " :
		cx->trigger->time_rule == ADT_TIME_DISCHARGE ? "PV1-45, " :
								 "");
}

/* ------------------------------------------------------------ events */

static int
adt_read_class(struct adt_context *cx, Commissioning__PatientClass *patient_class)
{
	char letter[ADT_SHORT_BUFSIZE], shown[48];
	int r;

	if ((r = adt_read(cx, "PV1", 2, 1, 1, "PV1-2", "the patient class", letter,
	    sizeof(letter))) < 0)
		return r;
	if (r == 0)
		return adt_fail(cx, HL7_ERROR_REQUIRED_FIELD_MISSING, "PV1-2",
		    "the patient class is missing (required)");
	if (r == 1)
		for (size_t i = 0; i < nitems(adt_classes); i++)
			if (adt_classes[i].letter == letter[0]) {
				*patient_class = adt_classes[i].patient_class;
				return 0;
			}
	return adt_fail(cx, HL7_ERROR_TABLE_VALUE_NOT_FOUND, "PV1-2",
	    "patient class %s is not one this adapter takes (I E O P R B U of HL7 table "
	    "0004; its N and C are not taken)",
	    adt_shown(letter, shown, sizeof(shown)));
}

/* PV1-3: point of care (PL-1) is the ward, facility (PL-4) the site. */
static int
adt_read_location(struct adt_context *cx)
{
	struct adt_event *event = cx->event;
	int r;

	if ((r = adt_read_text(cx, "PV1", 3, 1, "PV1-3.1", "the ward (point of care)",
	    event->ward, sizeof(event->ward))) < 0)
		return r;
	/* PL-4 is an HD: the namespace id is its first sub-component. */
	if ((r = adt_read(cx, "PV1", 3, 4, 1, "PV1-3.4", "the site (facility)", event->site,
	    sizeof(event->site))) < 0)
		return r;
	return 0;
}

/* PV1-10: a treatment function code is 3 digits; a local code is left out. */
static int
adt_read_treatment_function(struct adt_context *cx)
{
	char code[ADT_SHORT_BUFSIZE];
	int r;

	if ((r = hl7_get(cx->msg, "PV1", 1, 10, 1, 1, 1, code, sizeof(code))) != 3 ||
	    strspn(code, "0123456789") != 3)
		return 0;
	memcpy(cx->event->treatment_function, code, 4);
	return 0;
}

/*
 * PV1-37 discharged to location (DLD-1; the NHS discharge destination),
 * else PV1-36 discharge disposition: the discharge destination.
 */
static int
adt_read_destination(struct adt_context *cx)
{
	struct adt_event *event = cx->event;
	int r;

	cx->destination_field = "PV1-37";
	if ((r = adt_read_text(cx, "PV1", 37, 1, "PV1-37", "the discharge destination",
	    event->discharge_destination, sizeof(event->discharge_destination))) != 0)
		return r < 0 ? r : 0;
	cx->destination_field = "PV1-36";
	r = adt_read_text(cx, "PV1", 36, 1, "PV1-36", "the discharge disposition",
	    event->discharge_destination, sizeof(event->discharge_destination));
	return r < 0 ? r : 0;
}

/* A01 A02 A03 A04 A08: who, which spell, where, what class. */
static int
adt_map_movement(struct adt_context *cx)
{
	struct adt_event *event = cx->event;
	Commissioning__PatientMovement *movement = &event->movement;
	int r;

	if (!cx->has_patient)
		return adt_fail(cx, HL7_ERROR_REQUIRED_FIELD_MISSING, "PID-3",
		    "no NHS number (a repetition with identifier type NH and assigning "
		    "authority NHS)");
	if ((r = adt_read_class(cx, &movement->patient_class)) != 0 ||
	    (r = adt_read_location(cx)) != 0 || (r = adt_read_treatment_function(cx)) != 0 ||
	    (r = adt_read_destination(cx)) != 0)
		return r;
	movement->patient_pseudonym.data = event->patient_pseudonym;
	movement->patient_pseudonym.len = sizeof(event->patient_pseudonym);
	movement->spell_pseudonym.data = event->spell_pseudonym;
	movement->spell_pseudonym.len = sizeof(event->spell_pseudonym);
	movement->provider = event->provider;
	movement->site = event->site;
	movement->ward = event->ward;
	movement->treatment_function = event->treatment_function;
	movement->discharge_destination = event->discharge_destination;
	switch (cx->trigger->event_case) {
	case ENVELOPE_EVENT(PATIENT_ADMITTED):
		event->envelope.patient_admitted = movement;
		break;
	case ENVELOPE_EVENT(PATIENT_TRANSFERRED):
		event->envelope.patient_transferred = movement;
		break;
	case ENVELOPE_EVENT(PATIENT_DISCHARGED):
		event->envelope.patient_discharged = movement;
		break;
	case ENVELOPE_EVENT(PATIENT_UPDATED):
		event->envelope.patient_updated = movement;
		break;
	default:
		return adt_fail(cx, HL7_ERROR_APPLICATION_INTERNAL, "MSH-9",
		    "trigger table names an event that is not a movement");
	}
	event->envelope.event_case = cx->trigger->event_case;
	return 0;
}

/* A11 A12 A13: the spell and what is cancelled; the patient when given. */
static int
adt_map_cancel(struct adt_context *cx)
{
	struct adt_event *event = cx->event;
	Commissioning__PatientCancelled *cancelled = &event->cancelled;

	if (cx->has_patient) {
		cancelled->patient_pseudonym.data = event->patient_pseudonym;
		cancelled->patient_pseudonym.len = sizeof(event->patient_pseudonym);
	}
	cancelled->spell_pseudonym.data = event->spell_pseudonym;
	cancelled->spell_pseudonym.len = sizeof(event->spell_pseudonym);
	cancelled->provider = event->provider;
	cancelled->cancels = cx->trigger->cancels;
	event->envelope.patient_cancelled = cancelled;
	event->envelope.event_case = ENVELOPE_EVENT(PATIENT_CANCELLED);
	return 0;
}

/* ------------------------------------------------------------ check */

/* The HL7 field an event_check field came from. */
static const char *
adt_hl7_field_of(const struct adt_context *cx, const char *check_field)
{
	static const struct {
		const char *check_field;
		const char *hl7_field;
	} fixed[] = {
		{ "source", "MSH-4" },
		{ "event_id", "MSH-10" },
		{ "provider", "MSH-4" },
		{ "patient_pseudonym", "PID-3" },
		{ "site", "PV1-3.4" },
		{ "ward", "PV1-3.1" },
		{ "patient_class", "PV1-2" },
		{ "treatment_function", "PV1-10" },
		{ "cancels", "MSH-9" },
	};

	if (strcmp(check_field, "occurred_at") == 0)
		return cx->time_field != NULL ? cx->time_field : "MSH-7";
	if (strcmp(check_field, "spell_pseudonym") == 0)
		return cx->visit_field != NULL ? cx->visit_field : "PV1-19";
	if (strcmp(check_field, "discharge_destination") == 0)
		return cx->destination_field != NULL ? cx->destination_field : "PV1-37";
	for (size_t i = 0; i < nitems(fixed); i++)
		if (strcmp(fixed[i].check_field, check_field) == 0)
			return fixed[i].hl7_field;
	return "";
}

/*
 * Why free text that is not UTF-8 may be so: the character set MSH-18
 * declares (or does not), or "" when the text is ASCII or MSH-18 is one
 * this adapter reads. HL7 table 0211: none given, ASCII and UTF-8 are all
 * read as UTF-8, 8859/1 is converted; another set is read as UTF-8 too
 * (text in ASCII is the same in all of them), and this says so.
 */
static const char *
adt_charset_note(const struct adt_context *cx, const char *check_field, char *buf, size_t size)
{
	const char *text = strcmp(check_field, "ward") == 0 ? cx->event->ward :
	    strcmp(check_field, "discharge_destination") == 0 ? cx->event->discharge_destination :
								  NULL;
	char shown[48];
	bool ascii = true;

	for (const char *p = text; p != NULL && *p != '\0'; p++)
		ascii = ascii && (unsigned char)*p < 0x80;
	if (text == NULL || ascii || cx->latin1)
		return "";
	if (cx->charset[0] == '\0')
		return " (MSH-18 gives no character set, so UTF-8 is read: ISO 8859-1 text "
		       "needs MSH-18 8859/1)";
	if (strcmp(cx->charset, "ASCII") == 0 || strcmp(cx->charset, "UNICODE UTF-8") == 0)
		return "";
	(void)snprintf(buf, size, " (MSH-18 %s is not a character set read here: 8859/1 or "
				  "UTF-8)", adt_shown(cx->charset, shown, sizeof(shown)));
	return buf;
}

/* What the daemon would reject is refused here, naming the HL7 field. */
static int
adt_check(struct adt_context *cx)
{
	struct check_error check;
	char note[128];

	if (event_check(&cx->event->envelope, &check) == 0)
		return 0;
	return adt_fail(cx,
	    strstr(check.reason, "missing") != NULL ? HL7_ERROR_REQUIRED_FIELD_MISSING :
						      HL7_ERROR_DATA_TYPE,
	    adt_hl7_field_of(cx, check.field), "%s%s", check.reason,
	    adt_charset_note(cx, check.field, note, sizeof(note)));
}

int
adt_to_envelope(const struct hl7_message *msg, const struct adt_options *opts,
    const struct pseudonymiser *ps, struct adt_event *event, struct hl7_error *err)
{
	static const Commissioning__Envelope envelope_init = COMMISSIONING__ENVELOPE__INIT;
	static const Commissioning__PatientMovement movement_init =
	    COMMISSIONING__PATIENT_MOVEMENT__INIT;
	static const Commissioning__PatientCancelled cancelled_init =
	    COMMISSIONING__PATIENT_CANCELLED__INIT;
	struct adt_context cx = { .msg = msg, .opts = opts, .ps = ps, .event = event,
		.err = err };
	int r;

	if (msg == NULL || opts == NULL || ps == NULL || event == NULL || err == NULL)
		return -EINVAL;
	memset(err, 0, sizeof(*err));
	memset(event, 0, sizeof(*event));
	event->envelope = envelope_init;
	event->movement = movement_init;
	event->cancelled = cancelled_init;
	event->envelope.source = event->source;
	event->envelope.event_id = event->event_id;
	event->envelope.schema_version = ADT_SCHEMA_VERSION;
	if (!msg->has_header || msg->n_segments == 0)
		return adt_fail(&cx, HL7_ERROR_SEGMENT_SEQUENCE, "MSH",
		    "the message header is missing");
	if ((r = adt_read_message_type(&cx)) != 0 || (r = adt_read_version(&cx)) != 0 ||
	    (r = adt_read_processing_id(&cx)) != 0 || (r = adt_read_facility(&cx)) != 0 ||
	    (r = adt_read_control_id(&cx)) != 0)
		return r;
	if (hl7_count_segments(msg, "PID") == 0)
		return adt_fail(&cx, HL7_ERROR_SEGMENT_SEQUENCE, "PID",
		    "the PID segment is missing (required)");
	if (hl7_count_segments(msg, "PV1") == 0)
		return adt_fail(&cx, HL7_ERROR_SEGMENT_SEQUENCE, "PV1",
		    "the PV1 segment is missing (required)");
	if ((r = adt_read_patient(&cx, event->patient_pseudonym)) != 0 ||
	    (r = adt_read_spell(&cx, event->spell_pseudonym)) != 0 ||
	    (r = adt_read_time(&cx)) != 0 || (r = cx.trigger->map(&cx)) != 0)
		return r;
	return adt_check(&cx);
}

int
adt_options_check(const struct adt_options *opts, char *errbuf, size_t errlen)
{
	if (opts == NULL || (opts->n_facilities > 0 && opts->facilities == NULL)) {
		(void)snprintf(errbuf, errlen, "no options");
		return -EINVAL;
	}
	for (size_t i = 0; i < opts->n_facilities; i++) {
		const struct adt_facility *f = &opts->facilities[i];

		if (f->facility == NULL || f->facility[0] == '\0' ||
		    strlen(f->facility) > EVENT_SOURCE_MAX_BYTES - strlen(ADT_SOURCE_PREFIX)) {
			(void)snprintf(errbuf, errlen, "facility %zu: a sending facility (MSH-4) "
						       "of 1 to %zu bytes is required", i + 1,
			    EVENT_SOURCE_MAX_BYTES - strlen(ADT_SOURCE_PREFIX));
			return -EINVAL;
		}
		if (f->provider == NULL || !ids_is_kind(f->provider, IDS_KINDS_HOSPITAL_PROVIDER)) {
			(void)snprintf(errbuf, errlen, "facility %s: the provider must be an NHS "
						       "trust or independent provider code (RXC, "
						       "NMJ, 8HA03)", f->facility);
			return -EINVAL;
		}
	}
	return 0;
}
