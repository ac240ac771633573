/*
 * hl7: an HL7 v2.x (2.2 to 2.8) message parser. Indexes the caller's buffer
 * (no copy); accessors unescape one value into a caller buffer. Pure.
 */
#ifndef HL7_H
#define HL7_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Fixed bounds on what a message may hold (the message size is the
 * caller's bound). A message over any of them is refused by hl7_parse.
 */
#define HL7_SEGMENTS_MAX 512	     /* segments in a message */
#define HL7_FIELDS_MAX 256	     /* fields in a segment */
#define HL7_REPETITIONS_MAX 128	     /* repetitions in a field */
#define HL7_COMPONENTS_MAX 64	     /* components in a repetition */
#define HL7_SUBCOMPONENTS_MAX 64     /* sub-components in a component */
#define HL7_FIELD_MAX_BYTES 65536    /* bytes in one field, escaped */

/* "PID-3", "PV1-3.4": a segment, a field and perhaps a component. */
#define HL7_FIELD_NAME_BUFSIZE 16

/*
 * An error, as an ACK reports it. field names where it is ("PID-3",
 * "PV1-3.4"; "" for the message as a whole); text is one sentence for the
 * sender's interface team and the operator's log. It never holds patient
 * data: values from PID are never echoed. code is from HL7 table 0357.
 */
struct hl7_error {
	char field[HL7_FIELD_NAME_BUFSIZE];
	char text[200];
	unsigned code;
};

/* HL7 table 0357, the message error condition codes this adapter uses. */
#define HL7_ERROR_SEGMENT_SEQUENCE 100	   /* a segment missing or out of place */
#define HL7_ERROR_REQUIRED_FIELD_MISSING 101
#define HL7_ERROR_DATA_TYPE 102		   /* a value of the wrong form */
#define HL7_ERROR_TABLE_VALUE_NOT_FOUND 103
#define HL7_ERROR_UNSUPPORTED_MESSAGE_TYPE 200
#define HL7_ERROR_UNSUPPORTED_EVENT_CODE 201
#define HL7_ERROR_UNSUPPORTED_PROCESSING_ID 202
#define HL7_ERROR_UNSUPPORTED_VERSION_ID 203
#define HL7_ERROR_UNKNOWN_KEY_IDENTIFIER 204
#define HL7_ERROR_APPLICATION_INTERNAL 207

/*
 * The delimiters of a message, from MSH-1 and MSH-2. A delimiter MSH-2 does
 * not give is '\0' (not used). truncation is the v2.7 truncation character,
 * read as data.
 */
struct hl7_encoding {
	char field;
	char component;
	char repetition;
	char escape;
	char subcomponent;
	char truncation;
};

struct hl7_segment {
	char id[4];	/* "PID", NUL-terminated */
	size_t offset;	/* of the segment in the buffer */
	size_t length;	/* up to, not including, its terminator */
};

/*
 * A parsed message: the buffer (the caller's; it must outlive the message)
 * and where each segment sits in it. MSH is segments[0].
 */
struct hl7_message {
	const char *buffer;
	size_t length;
	struct hl7_encoding encoding;
	bool has_header; /* MSH-1 and MSH-2 read: the encoding is known */
	size_t n_segments;
	struct hl7_segment segments[HL7_SEGMENTS_MAX];
};

/* Fill err (when given) with code, field and "field: sentence", the
 * sentence cut with "..." when it does not fit; returns -EBADMSG. */
int hl7_error_vset(struct hl7_error *err, unsigned code, const char *field, const char *fmt,
    va_list ap) __attribute__((format(printf, 4, 0)));

/*
 * Index buf (len bytes; MLLP framing already removed). Segments end in CR,
 * LF or CRLF; empty lines are skipped. Return 0, or -EBADMSG with err
 * filled (code, field and text). On failure the segments before the fault
 * stay indexed, and has_header tells whether the encoding is known, so an
 * AE acknowledgement can still mirror the header. A NUL byte is refused
 * naming the field it is in and its byte; a NUL in MSH-3 or later leaves
 * the header indexed up to the NUL.
 */
int hl7_parse(struct hl7_message *msg, const char *buf, size_t len, struct hl7_error *err);

/*
 * How much of buf (len bytes) hl7_parse needs to index the first segment
 * alone (the header): up to the end of it. Parsing that much of a message
 * hl7_parse accepted gives the same MSH, which is all an ACK mirrors.
 */
size_t hl7_header_length(const char *buf, size_t len);

/* How many segments with this id (3 characters) the message has. */
size_t hl7_count_segments(const struct hl7_message *msg, const char *segment);

/*
 * How many repetitions a field of the occurrence'th (1-based) segment has:
 * 0 when the segment or the field is absent or empty.
 */
size_t hl7_count_repetitions(const struct hl7_message *msg, const char *segment,
    unsigned occurrence, unsigned field);

/*
 * Unescape one value into out (outlen bytes, NUL-terminated): segment's
 * occurrence'th instance (1-based), its field (MSH-1 is the field
 * separator, MSH-2 the encoding characters, both read as they are), the
 * repetition, component and sub-component (all 1-based). A value with no
 * separator at a level is its own first part there.
 *
 * Return the length written. An absent value, an empty one and the HL7
 * null `""` are all 0 (an empty string). Errors: -ENOSPC when the value
 * does not fit (out is then ""), -EBADMSG for a malformed escape sequence
 * or one that gives a NUL byte, -EINVAL for bad arguments.
 *
 * Escapes: \F\ \S\ \T\ \R\ \E\ give the delimiters, \Xhh...\ the bytes
 * written in hex; \H\, \N\ and the other sequences of the standard
 * (formatting, character set changes, \Z...\) are dropped.
 */
int hl7_get(const struct hl7_message *msg, const char *segment, unsigned occurrence,
    unsigned field, unsigned repetition, unsigned component, unsigned subcomponent,
    char *out, size_t outlen);

/*
 * The raw (still escaped) text of a whole field, pointing into the buffer:
 * *value and *len, both 0 when absent. Return 0, or -EINVAL for bad
 * arguments. Used to mirror fields into an ACK with the same encoding.
 */
int hl7_get_raw_field(const struct hl7_message *msg, const char *segment,
    unsigned occurrence, unsigned field, const char **value, size_t *len);

/* Where text (len bytes) holds its first C0 control byte (CR and LF,
 * MLLP's 0x0B and 0x1C among them), or len for none: such a byte written
 * raw into an ACK would split its segment or break its framing. */
size_t hl7_control_byte_at(const char *text, size_t len);

/*
 * Read an HL7 time (TS/DTM): YYYY[MM[DD[HH[MM[SS[.S...]]]]]][+/-ZZZZ].
 * Parts left out are the first of their range. With no offset the time is
 * Europe/London local time: in the October hour that happens twice the
 * first (BST) one; a time in the March hour that does not exist is read
 * with the offset before the change (GMT). Return 0 and set *utc_ms, or
 * -EINVAL.
 */
int hl7_parse_time(const char *text, int64_t *utc_ms);

/*
 * Read a version id ("2.3.1", "2.5") as major, minor and patch (0 when not
 * given). Return 0, or -EINVAL.
 */
int hl7_parse_version(const char *text, unsigned *major, unsigned *minor, unsigned *patch);

/*
 * Escape text for a field with enc's delimiters (the inverse of hl7_get
 * for one value). A control byte (a line break, MLLP's 0x0B or 0x1C) is
 * written \Xhh\. When MSH-2 gave no escape character a delimiter or a
 * control byte cannot be data: each is written as a space. Return the
 * length written (NUL-terminated), or -ENOSPC.
 */
int hl7_escape(const struct hl7_encoding *enc, const char *text, char *out, size_t outlen);

#endif
