/*
 * hl7: HL7 v2.x messages as a list of segments over the caller's buffer.
 * Fields, repetitions and components are found on demand by splitting a
 * segment's text on the message's own delimiters (MSH-1, MSH-2); values are
 * unescaped only when read. hl7_parse checks every bound up front so that
 * the accessors never meet a message larger than the limits.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "dates.h"
#include "hl7.h"
#include "text.h"

#define HL7_HEADER_ID "MSH"
/* What some Windows senders put before MSH when they write UTF-8. */
#define HL7_UTF8_BOM "\xEF\xBB\xBF"
#define HL7_MS_PER_SECOND 1000LL
#define HL7_MS_PER_MINUTE 60000LL
#define HL7_MS_PER_HOUR 3600000LL
#define HL7_MS_PER_DAY 86400000LL
#define HL7_OFFSET_HOURS_MAX 14 /* UTC+14 is the furthest zone there is */

/* A stretch of the buffer. */
struct span {
	const char *text;
	size_t len;
};

int
hl7_error_vset(struct hl7_error *err, unsigned code, const char *field, const char *fmt,
    va_list ap)
{
	char text[sizeof(err->text)];
	int n, text_len;

	if (err == NULL)
		return -EBADMSG;
	text_len = vsnprintf(text, sizeof(text), fmt, ap);
	err->code = code;
	(void)snprintf(err->field, sizeof(err->field), "%s", field);
	n = snprintf(err->text, sizeof(err->text), "%s%s%s", field, field[0] != '\0' ? ": " : "",
	    text);
	/* A sentence cut short ends in "..." so that nobody reads it as whole. */
	if (text_len < 0 || (size_t)text_len >= sizeof(text) || n < 0 ||
	    (size_t)n >= sizeof(err->text))
		memcpy(err->text + sizeof(err->text) - 4, "...", 4);
	return -EBADMSG;
}

static int hl7_fail(struct hl7_error *err, unsigned code, const char *field,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Fill err (when given) with the code, field and "field: sentence". */
static int
hl7_fail(struct hl7_error *err, unsigned code, const char *field, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = hl7_error_vset(err, code, field, fmt, ap);
	va_end(ap);
	return rc;
}

static bool
is_segment_terminator(char c)
{
	return c == '\r' || c == '\n';
}

/* A C0 control byte: CR and LF, and MLLP's 0x0B and 0x1C among them. */
static bool
is_control_byte(char c)
{
	return (unsigned char)c < 0x20;
}

size_t
hl7_control_byte_at(const char *text, size_t len)
{
	size_t i = 0;

	while (i < len && !is_control_byte(text[i]))
		i++;
	return i;
}

static bool
is_upper_or_digit(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* A delimiter is printable ASCII punctuation: never a letter, digit or space. */
static bool
is_delimiter_char(char c)
{
	return c > 0x20 && c < 0x7f && !is_upper_or_digit(c) && !(c >= 'a' && c <= 'z');
}

/* ------------------------------------------------------------ parsing */

/* Read MSH-1 and MSH-2 from the header at text (its first line). */
static int
hl7_parse_encoding(struct hl7_message *msg, struct span header, struct hl7_error *err)
{
	struct hl7_encoding *enc = &msg->encoding;
	char *slots[] = { &enc->component, &enc->repetition, &enc->escape, &enc->subcomponent,
		&enc->truncation };
	size_t n = 0;

	if (header.len < 4)
		return hl7_fail(err, HL7_ERROR_REQUIRED_FIELD_MISSING, "MSH-1",
		    "the header ends before its field separator");
	enc->field = header.text[3];
	if (!is_delimiter_char(enc->field))
		return hl7_fail(err, HL7_ERROR_DATA_TYPE, "MSH-1",
		    "the field separator must be a punctuation character");
	for (size_t i = 4; i < header.len && header.text[i] != enc->field; i++) {
		char c = header.text[i];

		if (n == sizeof(slots) / sizeof(slots[0]))
			return hl7_fail(err, HL7_ERROR_DATA_TYPE, "MSH-2",
			    "more than 5 encoding characters");
		if (!is_delimiter_char(c) || c == enc->field ||
		    memchr(header.text + 4, c, i - 4) != NULL)
			return hl7_fail(err, HL7_ERROR_DATA_TYPE, "MSH-2",
			    "encoding characters must be distinct punctuation characters, "
			    "none the field separator");
		*slots[n++] = c;
	}
	if (n < 2)
		return hl7_fail(err, HL7_ERROR_REQUIRED_FIELD_MISSING, "MSH-2",
		    "at least the component and repetition separators are required");
	return 0;
}

/* Write "SEG-N" into name. */
static void
field_name(char *name, size_t size, const char *segment, unsigned field)
{
	(void)snprintf(name, size, "%.3s-%u", segment, field);
}

/*
 * Check a segment's structure against the bounds: fields, then in each
 * field its length, repetitions, components and sub-components.
 */
static int
hl7_check_segment(const struct hl7_message *msg, struct span seg, struct hl7_error *err)
{
	const struct hl7_encoding *enc = &msg->encoding;
	char name[HL7_FIELD_NAME_BUFSIZE];
	unsigned field, reps = 1, comps = 1, subs = 1;
	size_t i, field_start;

	if (memcmp(seg.text, HL7_HEADER_ID, 3) == 0) {
		/* Fields from MSH-3 on: after the separator that ends MSH-2. */
		field = 2;
		for (i = 4; i < seg.len && seg.text[i] != enc->field; i++)
			;
	} else {
		field = 0;
		i = 3;
	}
	field_start = i; /* MSH: MSH-2, not checked; others: before the first field */
	for (; i <= seg.len; i++) {
		char c = i < seg.len ? seg.text[i] : enc->field;

		if (c == enc->field) {
			if (field > 0 && i - field_start > (size_t)HL7_FIELD_MAX_BYTES) {
				field_name(name, sizeof(name), seg.text, field);
				return hl7_fail(err, HL7_ERROR_DATA_TYPE, name,
				    "field longer than %d bytes", HL7_FIELD_MAX_BYTES);
			}
			if (i == seg.len)
				break;
			if (++field > HL7_FIELDS_MAX) {
				field_name(name, sizeof(name), seg.text, field);
				return hl7_fail(err, HL7_ERROR_DATA_TYPE, name,
				    "more than %d fields in a segment", HL7_FIELDS_MAX);
			}
			field_start = i + 1;
			reps = comps = subs = 1;
		} else if (c == enc->repetition) {
			reps++;
			comps = subs = 1;
		} else if (c == enc->component) {
			comps++;
			subs = 1;
		} else if (enc->subcomponent != '\0' && c == enc->subcomponent) {
			subs++;
		} else {
			continue;
		}
		if (reps > HL7_REPETITIONS_MAX || comps > HL7_COMPONENTS_MAX ||
		    subs > HL7_SUBCOMPONENTS_MAX) {
			field_name(name, sizeof(name), seg.text, field);
			return hl7_fail(err, HL7_ERROR_DATA_TYPE, name,
			    "more than %d repetitions, %d components or %d sub-components",
			    HL7_REPETITIONS_MAX, HL7_COMPONENTS_MAX, HL7_SUBCOMPONENTS_MAX);
		}
	}
	return 0;
}

/* Check a segment id and the structure after it, then index the segment. */
static int
hl7_add_segment(struct hl7_message *msg, struct span seg, struct hl7_error *err)
{
	struct hl7_segment *s;
	char shown[4] = "";

	if (seg.len < 3 || !is_upper_or_digit(seg.text[0]) || !is_upper_or_digit(seg.text[1]) ||
	    !is_upper_or_digit(seg.text[2]) || (seg.len > 3 && seg.text[3] != msg->encoding.field))
		return hl7_fail(err, HL7_ERROR_SEGMENT_SEQUENCE, "",
		    "segment %zu: a segment starts with a 3-character id (A-Z, 0-9) and the "
		    "field separator", msg->n_segments + 1);
	memcpy(shown, seg.text, 3);
	if (msg->n_segments > 0 && strcmp(shown, HL7_HEADER_ID) == 0)
		return hl7_fail(err, HL7_ERROR_SEGMENT_SEQUENCE, "MSH",
		    "a second message header (batches are not accepted: one message at a time)");
	if (msg->n_segments == HL7_SEGMENTS_MAX)
		return hl7_fail(err, HL7_ERROR_SEGMENT_SEQUENCE, shown,
		    "more than %d segments", HL7_SEGMENTS_MAX);
	if (hl7_check_segment(msg, seg, err) != 0)
		return -EBADMSG;
	s = &msg->segments[msg->n_segments++];
	memcpy(s->id, shown, sizeof(s->id));
	s->offset = (size_t)(seg.text - msg->buffer);
	s->length = seg.len;
	return 0;
}

/*
 * seg holds a NUL byte (at nul): refuse the message, naming the field the
 * NUL is in and its place. The segments before it are indexed already; of
 * the header itself, what comes before the NUL is read when that includes
 * MSH-2, so that the AE mirrors the sender's fields and MSH-10 (a NUL in
 * a Z-segment must not leave the sender unable to tell which message was
 * refused).
 */
static int
hl7_refuse_nul(struct hl7_message *msg, struct span seg, const char *nul, bool first,
    struct hl7_error *err)
{
	struct span before = { seg.text, (size_t)(nul - seg.text) };
	size_t at = (size_t)(nul - msg->buffer) + 1, number = msg->n_segments + 1;
	bool header = first && before.len >= 3 && memcmp(before.text, HL7_HEADER_ID, 3) == 0;
	/* MSH-1 is the field separator: in MSH a NUL in its place is in MSH-1. */
	char separator = !header ? msg->encoding.field : before.len > 3 ? before.text[3] : '\0';
	char name[HL7_FIELD_NAME_BUFSIZE] = "";
	unsigned field = header ? 1 : 0;

	if ((header || (!first && msg->has_header)) && before.len >= 3 &&
	    is_upper_or_digit(before.text[0]) && is_upper_or_digit(before.text[1]) &&
	    is_upper_or_digit(before.text[2]) && (before.len == 3 || before.text[3] == separator)) {
		for (size_t k = 3; k < before.len; k++)
			if (before.text[k] == separator)
				field++;
		if (field == 0)
			(void)snprintf(name, sizeof(name), "%.3s", before.text);
		else
			field_name(name, sizeof(name), before.text, field);
	}
	/* MSH-3 on: the encoding is whole, the header as far as the NUL. */
	if (header && field >= 3 && hl7_parse_encoding(msg, before, NULL) == 0) {
		msg->has_header = true;
		(void)hl7_add_segment(msg, before, NULL);
	}
	return hl7_fail(err, HL7_ERROR_DATA_TYPE, name,
	    "a NUL byte (0x00) at byte %zu of the message (segment %zu): HL7 text never "
	    "holds one", at, number);
}

int
hl7_parse(struct hl7_message *msg, const char *buf, size_t len, struct hl7_error *err)
{
	const char *nul;
	size_t i = 0;
	bool first = true;

	if (err != NULL)
		memset(err, 0, sizeof(*err));
	memset(&msg->encoding, 0, sizeof(msg->encoding));
	msg->buffer = buf;
	msg->length = len;
	msg->has_header = false;
	msg->n_segments = 0;
	if (buf == NULL || len == 0)
		return hl7_fail(err, HL7_ERROR_SEGMENT_SEQUENCE, "MSH", "empty message");
	nul = memchr(buf, '\0', len);
	while (i < len) {
		struct span seg = { buf + i, 0 };

		while (i + seg.len < len && !is_segment_terminator(buf[i + seg.len]))
			seg.len++;
		i += seg.len;
		while (i < len && is_segment_terminator(buf[i]))
			i++;
		if (seg.len == 0)
			continue;
		if (nul != NULL && nul < seg.text + seg.len)
			return hl7_refuse_nul(msg, seg, nul, first, err);
		if (first) {
			if (seg.len >= 3 && (memcmp(seg.text, "FHS", 3) == 0 ||
			    memcmp(seg.text, "BHS", 3) == 0))
				return hl7_fail(err, HL7_ERROR_SEGMENT_SEQUENCE,
				    memcmp(seg.text, "FHS", 3) == 0 ? "FHS" : "BHS",
				    "a batch (FHS/BHS) is not accepted: send one message a frame, "
				    "each starting with MSH");
			if (seg.len >= 3 && memcmp(seg.text, HL7_UTF8_BOM, 3) == 0)
				return hl7_fail(err, HL7_ERROR_SEGMENT_SEQUENCE, "MSH",
				    "the message starts with a UTF-8 byte order mark (EF BB BF) "
				    "before MSH: send it without one");
			if (seg.len < 3 || memcmp(seg.text, HL7_HEADER_ID, 3) != 0)
				return hl7_fail(err, HL7_ERROR_SEGMENT_SEQUENCE, "MSH",
				    "the message does not start with an MSH segment");
			if (hl7_parse_encoding(msg, seg, err) != 0)
				return -EBADMSG;
			msg->has_header = true;
			first = false;
		}
		if (hl7_add_segment(msg, seg, err) != 0)
			return -EBADMSG;
	}
	if (first)
		return hl7_fail(err, HL7_ERROR_SEGMENT_SEQUENCE, "MSH", "empty message");
	return 0;
}

size_t
hl7_header_length(const char *buf, size_t len)
{
	size_t i = 0;

	while (i < len && is_segment_terminator(buf[i]))
		i++;
	while (i < len && !is_segment_terminator(buf[i]))
		i++;
	return i;
}

/* ------------------------------------------------------------ access */

static const struct hl7_segment *
hl7_find_segment(const struct hl7_message *msg, const char *segment, unsigned occurrence)
{
	unsigned seen = 0;

	if (segment == NULL || strlen(segment) != 3 || occurrence == 0)
		return NULL;
	for (size_t i = 0; i < msg->n_segments; i++)
		if (strcmp(msg->segments[i].id, segment) == 0 && ++seen == occurrence)
			return &msg->segments[i];
	return NULL;
}

size_t
hl7_count_segments(const struct hl7_message *msg, const char *segment)
{
	size_t n = 0;

	if (segment == NULL)
		return 0;
	for (size_t i = 0; i < msg->n_segments; i++)
		if (strcmp(msg->segments[i].id, segment) == 0)
			n++;
	return n;
}

/* The n'th (1-based) part of in split on delim; false when there is none. */
static bool
span_part(struct span in, char delim, unsigned n, struct span *out)
{
	size_t start = 0;

	if (delim == '\0') {
		*out = in;
		return n == 1;
	}
	for (;;) {
		const char *at = memchr(in.text + start, delim, in.len - start);
		size_t end = at != NULL ? (size_t)(at - in.text) : in.len;
		if (--n == 0) {
			out->text = in.text + start;
			out->len = end - start;
			return true;
		}
		if (at == NULL)
			return false;
		start = end + 1;
	}
}

/*
 * The field'th field of seg. MSH counts its field separator as MSH-1 and
 * its encoding characters as MSH-2, so its later fields are one on.
 */
static bool
hl7_field_span(const struct hl7_message *msg, const struct hl7_segment *seg, unsigned field,
    struct span *out)
{
	struct span rest = { msg->buffer + seg->offset, seg->length };
	bool header = strcmp(seg->id, HL7_HEADER_ID) == 0;

	if (rest.len <= 3 || field == 0)
		return false;
	rest.text += 4;
	rest.len -= 4;
	if (header) {
		if (field == 1) {
			out->text = msg->buffer + seg->offset + 3;
			out->len = 1;
			return true;
		}
		field--;
	}
	return span_part(rest, msg->encoding.field, field, out);
}

size_t
hl7_count_repetitions(const struct hl7_message *msg, const char *segment, unsigned occurrence,
    unsigned field)
{
	const struct hl7_segment *seg = hl7_find_segment(msg, segment, occurrence);
	struct span value;
	size_t n = 1;

	if (seg == NULL || !hl7_field_span(msg, seg, field, &value) || value.len == 0)
		return 0;
	if (strcmp(seg->id, HL7_HEADER_ID) == 0 && field <= 2)
		return 1;
	for (size_t i = 0; i < value.len; i++)
		if (value.text[i] == msg->encoding.repetition)
			n++;
	return n;
}

int
hl7_get_raw_field(const struct hl7_message *msg, const char *segment, unsigned occurrence,
    unsigned field, const char **value, size_t *len)
{
	const struct hl7_segment *seg;
	struct span s;

	if (msg == NULL || value == NULL || len == NULL || field == 0)
		return -EINVAL;
	*value = NULL;
	*len = 0;
	seg = hl7_find_segment(msg, segment, occurrence);
	if (seg != NULL && hl7_field_span(msg, seg, field, &s)) {
		*value = s.text;
		*len = s.len;
	}
	return 0;
}

/* Append c to out unless full; false when full. */
static bool
out_put(char *out, size_t outlen, size_t *n, char c)
{
	if (*n + 1 >= outlen)
		return false;
	out[(*n)++] = c;
	return true;
}

/* The delimiter a one-letter escape (\F\ and the others) stands for, or -1. */
static int
escape_delimiter(const struct hl7_encoding *enc, char letter)
{
	switch (letter) {
	case 'F':
		return enc->field;
	case 'S':
		return enc->component;
	case 'T':
		return enc->subcomponent;
	case 'R':
		return enc->repetition;
	case 'E':
		return enc->escape;
	case 'P': /* v2.7: the truncation character */
		return enc->truncation;
	default:
		return -1;
	}
}

/* Write the bytes of a \Xhh...\ sequence (seq is what follows the X). */
static int
unescape_hex(struct span seq, char *out, size_t outlen, size_t *n)
{
	if (seq.len == 0 || seq.len % 2 != 0)
		return -EBADMSG;
	for (size_t i = 0; i < seq.len; i += 2) {
		int hi = text_hex_digit(seq.text[i]), lo = text_hex_digit(seq.text[i + 1]);

		if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
			return -EBADMSG;
		if (!out_put(out, outlen, n, (char)(hi << 4 | lo)))
			return -ENOSPC;
	}
	return 0;
}

/* Copy value into out, replacing escape sequences (HL7 v2 section 2.7). */
static int
hl7_unescape(const struct hl7_encoding *enc, struct span value, char *out, size_t outlen)
{
	size_t n = 0;

	for (size_t i = 0; i < value.len; i++) {
		char c = value.text[i];
		struct span seq;
		const char *end;
		int r;

		if (enc->escape == '\0' || c != enc->escape) {
			if (!out_put(out, outlen, &n, c))
				return -ENOSPC;
			continue;
		}
		end = memchr(value.text + i + 1, enc->escape, value.len - i - 1);
		if (end == NULL || end == value.text + i + 1)
			return -EBADMSG;
		seq.text = value.text + i + 1;
		seq.len = (size_t)(end - seq.text);
		i = (size_t)(end - value.text);
		if (seq.len == 1 && escape_delimiter(enc, seq.text[0]) > 0) {
			if (!out_put(out, outlen, &n, (char)escape_delimiter(enc, seq.text[0])))
				return -ENOSPC;
		} else if (seq.len == 1 && escape_delimiter(enc, seq.text[0]) == 0) {
			return -EBADMSG; /* \T\ where MSH-2 gives no such delimiter */
		} else if (seq.text[0] == 'X') {
			seq.text++;
			seq.len--;
			if ((r = unescape_hex(seq, out, outlen, &n)) != 0)
				return r;
		}
		/* \H\, \N\, \.br\, \Cxxyy\, \Mxxyyzz\, \Zxx\: formatting and
		 * character-set changes carry no data for us; the standard has
		 * a receiver ignore what it does not interpret. */
	}
	out[n] = '\0';
	return (int)n;
}

int
hl7_get(const struct hl7_message *msg, const char *segment, unsigned occurrence, unsigned field,
    unsigned repetition, unsigned component, unsigned subcomponent, char *out, size_t outlen)
{
	const struct hl7_encoding *enc;
	const struct hl7_segment *seg;
	struct span value;
	int r;

	if (out == NULL || outlen == 0 || msg == NULL)
		return -EINVAL;
	out[0] = '\0';
	if (field == 0 || repetition == 0 || component == 0 || subcomponent == 0)
		return -EINVAL;
	enc = &msg->encoding;
	seg = hl7_find_segment(msg, segment, occurrence);
	if (seg == NULL || !hl7_field_span(msg, seg, field, &value))
		return 0;
	if (strcmp(seg->id, HL7_HEADER_ID) == 0 && field <= 2) {
		/* The delimiters themselves: read as they are, never split. */
		if (repetition != 1 || component != 1 || subcomponent != 1)
			return 0;
		if (value.len >= outlen)
			return -ENOSPC;
		memcpy(out, value.text, value.len);
		out[value.len] = '\0';
		return (int)value.len;
	}
	if (!span_part(value, enc->repetition, repetition, &value) ||
	    !span_part(value, enc->component, component, &value) ||
	    !span_part(value, enc->subcomponent, subcomponent, &value))
		return 0;
	if (value.len == 2 && value.text[0] == '"' && value.text[1] == '"')
		return 0; /* the HL7 null: "delete the value"; empty to us */
	r = hl7_unescape(enc, value, out, outlen);
	if (r < 0)
		out[0] = '\0';
	return r;
}

int
hl7_escape(const struct hl7_encoding *enc, const char *text, char *out, size_t outlen)
{
	static const char letters[] = "FSRETP";
	const char delims[] = { enc->field, enc->component, enc->repetition, enc->escape,
		enc->subcomponent, enc->truncation };
	size_t n = 0;

	if (outlen == 0)
		return -ENOSPC;
	for (; *text != '\0'; text++) {
		char c = *text, seq[8];
		size_t k, seq_len = 0;

		for (k = 0; k < sizeof(delims); k++)
			if (delims[k] != '\0' && c == delims[k])
				break;
		if ((k < sizeof(delims) || is_control_byte(c)) && enc->escape == '\0') {
			/* Nothing can carry it as data: written raw it would
			 * split the field or the segment, or (0x0B, 0x1C)
			 * the MLLP frame. */
			seq[0] = ' ';
			seq_len = 1;
		} else if (k < sizeof(delims)) {
			seq[0] = enc->escape;
			seq[1] = letters[k];
			seq[2] = enc->escape;
			seq_len = 3;
		} else if (is_control_byte(c)) {
			seq_len = (size_t)snprintf(seq, sizeof(seq), "%cX%02X%c", enc->escape,
			    (unsigned char)c, enc->escape);
		} else {
			seq[0] = c;
			seq_len = 1;
		}
		for (k = 0; k < seq_len; k++)
			if (!out_put(out, outlen, &n, seq[k])) {
				out[0] = '\0';
				return -ENOSPC;
			}
	}
	out[n] = '\0';
	return (int)n;
}

/* ------------------------------------------------------------ values */

/* Read len digits at *p as a number and move past them; -1 when not digits. */
static int
read_digits(const char **p, size_t len)
{
	int v = 0;

	for (size_t i = 0; i < len; i++) {
		char c = (*p)[i];

		if (c < '0' || c > '9')
			return -1;
		v = v * 10 + (c - '0');
	}
	*p += len;
	return v;
}

/* Europe/London local time (as if it were UTC) to UTC: see hl7.h. */
static int64_t
london_local_to_utc_ms(int64_t local_ms)
{
	/* If an hour earlier in UTC London was on BST, the local time is
	 * BST: the first of the two October hours. In the March gap the hour
	 * before is GMT, so the offset before the change applies. */
	if (dates_london_offset_ms(local_ms - HL7_MS_PER_HOUR) == HL7_MS_PER_HOUR)
		return local_ms - HL7_MS_PER_HOUR;
	return local_ms;
}

int
hl7_parse_time(const char *text, int64_t *utc_ms)
{
	/* YYYY then up to five two-digit parts: month, day, hour, minute, second. */
	static const int part_min[] = { 1, 1, 0, 0, 0 };
	static const int part_max[] = { 12, 31, 23, 59, 59 };
	int parts[5] = { 1, 1, 0, 0, 0 };
	const char *p = text;
	int year, fraction_ms = 0, n_parts = 0;
	int64_t local_ms;

	if (text == NULL || (year = read_digits(&p, 4)) < DATES_YEAR_MIN)
		return -EINVAL;
	while (n_parts < 5 && *p >= '0' && *p <= '9') {
		int v = read_digits(&p, 2);

		if (v < part_min[n_parts] || v > part_max[n_parts])
			return -EINVAL;
		parts[n_parts++] = v;
	}
	if (parts[1] > dates_days_in_month(year, parts[0]))
		return -EINVAL;
	if (*p == '.') {
		int digits = 0, scale = 100;

		if (n_parts < 5)
			return -EINVAL; /* a fraction belongs to seconds */
		for (p++; *p >= '0' && *p <= '9'; p++, digits++) {
			if (digits == 9)
				return -EINVAL;
			fraction_ms += (*p - '0') * scale;
			scale /= 10;
		}
		if (digits == 0)
			return -EINVAL;
	}
	local_ms = (int64_t)dates_day_from_civil(year, parts[0], parts[1]) * HL7_MS_PER_DAY +
	    parts[2] * HL7_MS_PER_HOUR + parts[3] * HL7_MS_PER_MINUTE +
	    parts[4] * HL7_MS_PER_SECOND + fraction_ms;
	if (*p == '+' || *p == '-') {
		int sign = *p == '+' ? 1 : -1, hours, minutes;

		p++;
		hours = read_digits(&p, 2);
		minutes = hours < 0 ? -1 : read_digits(&p, 2);
		if (hours < 0 || hours > HL7_OFFSET_HOURS_MAX || minutes < 0 || minutes > 59 ||
		    *p != '\0')
			return -EINVAL;
		*utc_ms = local_ms - sign * (hours * HL7_MS_PER_HOUR + minutes * HL7_MS_PER_MINUTE);
		return 0;
	}
	if (*p != '\0')
		return -EINVAL;
	*utc_ms = london_local_to_utc_ms(local_ms);
	return 0;
}

int
hl7_parse_version(const char *text, unsigned *major, unsigned *minor, unsigned *patch)
{
	unsigned parts[3] = { 0, 0, 0 };
	size_t n = 0;
	const char *p = text;

	if (text == NULL)
		return -EINVAL;
	for (;;) {
		unsigned v = 0;
		size_t digits = 0;

		for (; *p >= '0' && *p <= '9'; p++, digits++) {
			if (digits == 3)
				return -EINVAL;
			v = v * 10 + (unsigned)(*p - '0');
		}
		if (digits == 0 || n == 3)
			return -EINVAL;
		parts[n++] = v;
		if (*p == '\0')
			break;
		if (*p++ != '.')
			return -EINVAL;
	}
	if (n < 2)
		return -EINVAL;
	*major = parts[0];
	*minor = parts[1];
	*patch = parts[2];
	return 0;
}
