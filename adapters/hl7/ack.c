/*
 * ack: writes MSH, MSA and (for AE and AR with an error) ERR. Values from
 * the message are mirrored raw, which is right because the ACK keeps the
 * message's encoding characters; our own text is escaped with them.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "ack.h"
#include "dates.h"

#define ACK_CONTROL_ID_MAX_BYTES 20
#define ACK_DEFAULT_VERSION "2.5"
#define ACK_TEXT_BUFSIZE 1024
#define ACK_MS_PER_SECOND 1000LL
#define ACK_SECONDS_PER_DAY 86400LL

/* A writer over the caller's buffer: overflow is remembered, not fatal. */
struct ack_writer {
	char *out;
	size_t size;
	size_t len;
	bool overflow;
};

static void
ack_put(struct ack_writer *w, const char *text, size_t len)
{
	if (w->overflow || w->len + len >= w->size) {
		w->overflow = true;
		return;
	}
	memcpy(w->out + w->len, text, len);
	w->len += len;
	w->out[w->len] = '\0';
}

static void
ack_put_str(struct ack_writer *w, const char *text)
{
	ack_put(w, text, strlen(text));
}

static void
ack_put_char(struct ack_writer *w, char c)
{
	ack_put(w, &c, 1);
}

/* Our own text, escaped with the message's delimiters. */
static void
ack_put_escaped(struct ack_writer *w, const struct hl7_encoding *enc, const char *text)
{
	char escaped[ACK_TEXT_BUFSIZE];

	if (hl7_escape(enc, text, escaped, sizeof(escaped)) < 0)
		w->overflow = true;
	else
		ack_put_str(w, escaped);
}

/*
 * A field of the message as it came (escaped with the same delimiters).
 * One too long, or holding a control byte, is left out: 0x0B or 0x1C
 * written raw would break the ACK's MLLP framing, and every ACK after it
 * on the connection would be out of step.
 */
static void
ack_put_mirrored(struct ack_writer *w, const struct hl7_message *msg, const char *segment,
    unsigned field)
{
	const char *value;
	size_t len;

	if (msg != NULL && msg->n_segments > 0 &&
	    hl7_get_raw_field(msg, segment, 1, field, &value, &len) == 0 && value != NULL &&
	    len <= ACK_MIRRORED_FIELD_MAX_BYTES && hl7_control_byte_at(value, len) == len)
		ack_put(w, value, len);
}

/* MSH-2: the encoding characters MSH-2 gave, in their order. */
static void
ack_put_encoding_characters(struct ack_writer *w, const struct hl7_encoding *enc)
{
	const char chars[] = { enc->component, enc->repetition, enc->escape, enc->subcomponent,
		enc->truncation };

	for (size_t i = 0; i < sizeof(chars) && chars[i] != '\0'; i++)
		ack_put_char(w, chars[i]);
}

/*
 * MSH-7: the time in Europe/London with its offset, YYYYMMDDHHMMSS+ZZZZ;
 * without the offset (London time, as a time with none is read) when '+'
 * is one of the message's delimiters, as written raw it would split the
 * field or the segment.
 */
static void
ack_put_time(struct ack_writer *w, const struct hl7_encoding *enc, int64_t now_ms)
{
	const char delims[] = { enc->field, enc->component, enc->repetition, enc->escape,
		enc->subcomponent, enc->truncation };
	bool plus_is_delimiter = memchr(delims, '+', sizeof(delims)) != NULL;
	int64_t offset_ms = dates_london_offset_ms(now_ms);
	int64_t local_s = (now_ms + offset_ms) / ACK_MS_PER_SECOND;
	int64_t day = local_s / ACK_SECONDS_PER_DAY, second = local_s % ACK_SECONDS_PER_DAY;
	int year, month, mday;
	char text[32];

	if (second < 0) {
		second += ACK_SECONDS_PER_DAY;
		day--;
	}
	dates_civil_from_day((int32_t)day, &year, &month, &mday);
	(void)snprintf(text, sizeof(text), "%04d%02d%02d%02d%02d%02d+%02d00", year, month, mday,
	    (int)(second / 3600), (int)(second / 60 % 60), (int)(second % 60),
	    (int)(offset_ms / 3600000));
	if (plus_is_delimiter)
		text[14] = '\0';
	ack_put_str(w, text);
}

static const char *
ack_code_text(enum ack_code code)
{
	switch (code) {
	case ACK_CODE_ACCEPT:
		return "AA";
	case ACK_CODE_ERROR:
		return "AE";
	case ACK_CODE_REJECT:
		return "AR";
	}
	return NULL;
}

/* HL7 table 0357: the text of a code. */
static const char *
ack_error_code_text(unsigned code)
{
	static const struct {
		unsigned code;
		const char *text;
	} table[] = {
		{ HL7_ERROR_SEGMENT_SEQUENCE, "Segment sequence error" },
		{ HL7_ERROR_REQUIRED_FIELD_MISSING, "Required field missing" },
		{ HL7_ERROR_DATA_TYPE, "Data type error" },
		{ HL7_ERROR_TABLE_VALUE_NOT_FOUND, "Table value not found" },
		{ HL7_ERROR_UNSUPPORTED_MESSAGE_TYPE, "Unsupported message type" },
		{ HL7_ERROR_UNSUPPORTED_EVENT_CODE, "Unsupported event code" },
		{ HL7_ERROR_UNSUPPORTED_PROCESSING_ID, "Unsupported processing id" },
		{ HL7_ERROR_UNSUPPORTED_VERSION_ID, "Unsupported version id" },
		{ HL7_ERROR_UNKNOWN_KEY_IDENTIFIER, "Unknown key identifier" },
		{ HL7_ERROR_APPLICATION_INTERNAL, "Application internal error" },
	};

	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (table[i].code == code)
			return table[i].text;
	return "Application internal error";
}

/*
 * Split an error's field name ("PV1-3.4", "PID-3", "PID", "") into the
 * segment id, the field and the component (0 when not given).
 */
static void
ack_location(const char *name, char segment[4], unsigned *field, unsigned *component)
{
	unsigned f = 0, c = 0;
	const char *p = name;

	segment[0] = '\0';
	*field = *component = 0;
	if (strlen(name) < 3)
		return;
	memcpy(segment, name, 3);
	segment[3] = '\0';
	p += 3;
	if (*p++ != '-')
		return;
	while (*p >= '0' && *p <= '9' && f < 1000)
		f = f * 10 + (unsigned)(*p++ - '0');
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9' && c < 1000; p++)
			c = c * 10 + (unsigned)(*p - '0');
	*field = f;
	*component = c;
}

/* Write v2.5's ERL (PV1^1^3^1^4) or v2.2's CM_ELD head (PV1^1^3). */
static void
ack_put_location(struct ack_writer *w, const struct hl7_encoding *enc, const char *name,
    bool with_component)
{
	char segment[4], text[64];
	unsigned field, component;

	ack_location(name, segment, &field, &component);
	if (segment[0] == '\0')
		return;
	ack_put_str(w, segment);
	if (field == 0)
		return;
	(void)snprintf(text, sizeof(text), "%c1%c%u", enc->component, enc->component, field);
	ack_put_str(w, text);
	if (with_component && component > 0) {
		(void)snprintf(text, sizeof(text), "%c1%c%u", enc->component, enc->component,
		    component);
		ack_put_str(w, text);
	}
}

/* Is the message's version (MSH-12) before 2.5, or before 2.3.1? */
static void
ack_version_of(const struct hl7_message *msg, bool *before_2_5, bool *before_2_3_1)
{
	char version[32];
	unsigned major = 2, minor = 5, patch = 0;

	if (msg == NULL || msg->n_segments == 0 ||
	    hl7_get(msg, "MSH", 1, 12, 1, 1, 1, version, sizeof(version)) <= 0 ||
	    hl7_parse_version(version, &major, &minor, &patch) != 0) {
		major = 2;
		minor = 5;
		patch = 0;
	}
	*before_2_5 = major == 2 && minor < 5;
	*before_2_3_1 = major == 2 && (minor < 3 || (minor == 3 && patch < 1));
}

/* MSH-9.2 into trigger (size bytes); false when it gives none. */
static bool
ack_msh_trigger(const struct hl7_message *msg, char *trigger, size_t size)
{
	return hl7_get(msg, "MSH", 1, 9, 1, 2, 1, trigger, size) > 0;
}

bool
ack_needs_evn(const struct hl7_message *msg)
{
	char trigger[16];

	return msg != NULL && msg->has_header && msg->n_segments > 0 &&
	    !ack_msh_trigger(msg, trigger, sizeof(trigger));
}

/* The trigger: MSH-9.2, else EVN-1 (v2.2 style). */
static void
ack_trigger_of(const struct hl7_message *msg, char *trigger, size_t size)
{
	trigger[0] = '\0';
	if (msg == NULL || msg->n_segments == 0)
		return;
	if (!ack_msh_trigger(msg, trigger, size) &&
	    hl7_get(msg, "EVN", 1, 1, 1, 1, 1, trigger, size) <= 0)
		trigger[0] = '\0';
}

int
ack_build(const struct hl7_message *msg, enum ack_code code, const struct hl7_error *err,
    const char *control_id, int64_t now_ms, char *out, size_t outlen)
{
	static const struct hl7_encoding default_encoding = { '|', '^', '~', '\\', '&', '\0' };
	const struct hl7_encoding *enc = &default_encoding;
	struct ack_writer w = { out, outlen, 0, false };
	const char *code_text = ack_code_text(code);
	bool header, before_2_5, before_2_3_1, has_error;
	char trigger[16];

	if (out == NULL || outlen == 0 || code_text == NULL || control_id == NULL ||
	    control_id[0] == '\0' || strlen(control_id) > ACK_CONTROL_ID_MAX_BYTES)
		return -1;
	out[0] = '\0';
	header = msg != NULL && msg->has_header;
	if (header)
		enc = &msg->encoding;
	ack_version_of(header ? msg : NULL, &before_2_5, &before_2_3_1);
	ack_trigger_of(header ? msg : NULL, trigger, sizeof(trigger));
	has_error = err != NULL && code != ACK_CODE_ACCEPT;

	/* MSH: our side is the message's receiving side, and back. */
	ack_put_str(&w, "MSH");
	ack_put_char(&w, enc->field);
	ack_put_encoding_characters(&w, enc);
	for (unsigned field = 3; field <= 6; field++) {
		static const unsigned mirror[] = { 5, 6, 3, 4 };

		ack_put_char(&w, enc->field);
		if (header)
			ack_put_mirrored(&w, msg, "MSH", mirror[field - 3]);
	}
	ack_put_char(&w, enc->field);
	ack_put_time(&w, enc, now_ms);
	ack_put_char(&w, enc->field);
	ack_put_char(&w, enc->field);
	ack_put_str(&w, "ACK");
	if (trigger[0] != '\0') {
		ack_put_char(&w, enc->component);
		ack_put_escaped(&w, enc, trigger);
		if (!before_2_3_1) {
			ack_put_char(&w, enc->component);
			ack_put_str(&w, "ACK");
		}
	}
	ack_put_char(&w, enc->field);
	ack_put_escaped(&w, enc, control_id);
	ack_put_char(&w, enc->field);
	if (header)
		ack_put_mirrored(&w, msg, "MSH", 11);
	ack_put_char(&w, enc->field);
	if (header && msg->n_segments > 0)
		ack_put_mirrored(&w, msg, "MSH", 12);
	else
		ack_put_str(&w, ACK_DEFAULT_VERSION);
	ack_put_char(&w, '\r');

	/* MSA: the code and the message's control id (MSA-3 text up to v2.4). */
	ack_put_str(&w, "MSA");
	ack_put_char(&w, enc->field);
	ack_put_str(&w, code_text);
	ack_put_char(&w, enc->field);
	if (header)
		ack_put_mirrored(&w, msg, "MSH", 10);
	if (has_error && before_2_5 && err->text[0] != '\0') {
		ack_put_char(&w, enc->field);
		ack_put_escaped(&w, enc, err->text);
	}
	ack_put_char(&w, '\r');

	if (has_error) {
		unsigned error_code = err->code != 0 ? err->code : HL7_ERROR_APPLICATION_INTERNAL;
		char number[16];

		(void)snprintf(number, sizeof(number), "%u", error_code);
		ack_put_str(&w, "ERR");
		ack_put_char(&w, enc->field);
		if (before_2_5) {
			/* ERR-1: segment^sequence^field^code&text&HL70357 */
			char segment[4];
			unsigned field, component;

			ack_location(err->field, segment, &field, &component);
			ack_put_location(&w, enc, err->field, false);
			for (int k = field == 0 ? 0 : 2; k < 3; k++)
				ack_put_char(&w, enc->component);
			ack_put_str(&w, number);
			if (enc->subcomponent != '\0') {
				ack_put_char(&w, enc->subcomponent);
				ack_put_escaped(&w, enc, ack_error_code_text(error_code));
				ack_put_char(&w, enc->subcomponent);
				ack_put_str(&w, "HL70357");
			}
		} else {
			/* ERR-2 location, ERR-3 code, ERR-4 severity, ERR-8 text. */
			ack_put_char(&w, enc->field);
			ack_put_location(&w, enc, err->field, true);
			ack_put_char(&w, enc->field);
			ack_put_str(&w, number);
			ack_put_char(&w, enc->component);
			ack_put_escaped(&w, enc, ack_error_code_text(error_code));
			ack_put_char(&w, enc->component);
			ack_put_str(&w, "HL70357");
			ack_put_char(&w, enc->field);
			ack_put_char(&w, 'E');
			for (int k = 0; k < 4; k++)
				ack_put_char(&w, enc->field);
			ack_put_escaped(&w, enc, err->text);
		}
		ack_put_char(&w, '\r');
	}
	if (w.overflow) {
		out[0] = '\0';
		return -1;
	}
	return (int)w.len;
}
