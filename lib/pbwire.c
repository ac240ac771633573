/*
 * pbwire: see pbwire.h. The wire format is protobuf's: each field a varint
 * key (field number << 3 | wire type), then a varint, 8 bytes, 4 bytes, or
 * a varint length and that many bytes.
 */
#include <stdbool.h>

#include "pbwire.h"

#define WIRE_VARINT 0
#define WIRE_64BIT 1
#define WIRE_LENGTH_PREFIXED 2
#define WIRE_32BIT 5

/* The varint at *at, before end; false when cut short or too long. */
static bool
pbwire_varint(const uint8_t **at, const uint8_t *end, uint64_t *v)
{
	*v = 0;
	for (int shift = 0; shift < 64 && *at < end; shift += 7) {
		uint8_t b = *(*at)++;

		*v |= (uint64_t)(b & 0x7f) << shift;
		if ((b & 0x80) == 0)
			return true;
	}
	return false;
}

int
pbwire_bytes(const uint8_t *msg, size_t len, uint32_t field, const uint8_t **value,
    size_t *value_len)
{
	const uint8_t *at = msg, *end = msg + len;
	uint64_t key, v;
	int found = 0;

	*value = NULL;
	*value_len = 0;
	while (at < end) {
		if (!pbwire_varint(&at, end, &key))
			return -1;
		switch (key & 7) {
		case WIRE_VARINT:
			if (!pbwire_varint(&at, end, &v))
				return -1;
			break;
		case WIRE_64BIT:
			if (end - at < 8)
				return -1;
			at += 8;
			break;
		case WIRE_32BIT:
			if (end - at < 4)
				return -1;
			at += 4;
			break;
		case WIRE_LENGTH_PREFIXED:
			if (!pbwire_varint(&at, end, &v) || v > (uint64_t)(end - at))
				return -1;
			if (key >> 3 == field) {
				*value = at;
				*value_len = (size_t)v;
				found = 1;
			}
			at += v;
			break;
		default:
			return -1;
		}
	}
	return found;
}

/* Where the len bytes at s stop being UTF-8 without a NUL (no overlong
 * forms, no surrogates, nothing past U+10FFFF): the offset of the first
 * byte of the first fault, or len. */
static size_t
pbwire_utf8_fault_at(const uint8_t *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		uint8_t lead = s[i];
		uint32_t code_point;
		size_t more;

		if (lead < 0x80) {
			if (lead == 0)
				return i;
			i++;
			continue;
		}
		if (lead >= 0xc2 && lead <= 0xdf)
			more = 1;
		else if (lead >= 0xe0 && lead <= 0xef)
			more = 2;
		else if (lead >= 0xf0 && lead <= 0xf4)
			more = 3;
		else
			return i;
		if (len - i - 1 < more)
			return i;
		code_point = lead & (0x7fu >> (more + 1));
		for (size_t k = 1; k <= more; k++) {
			if ((s[i + k] & 0xc0u) != 0x80u)
				return i;
			code_point = code_point << 6 | (s[i + k] & 0x3fu);
		}
		if ((more == 2 && (code_point < 0x800 ||
			(code_point >= 0xd800 && code_point <= 0xdfff))) ||
		    (more == 3 && (code_point < 0x10000 || code_point > 0x10ffff)))
			return i;
		i += more + 1;
	}
	return len;
}

/* How many fields of a message pbwire_fault_find tracks for "given twice". */
#define PBWIRE_FIELDS_TRACKED 64

static int
pbwire_fault_find_in(const ProtobufCMessageDescriptor *desc, const uint8_t *msg, size_t len,
    struct pbwire_fault *fault, int depth)
{
	const uint8_t *at = msg, *end = msg + len;
	bool seen[PBWIRE_FIELDS_TRACKED] = { false };
	uint64_t key, v;

	if (depth >= PBWIRE_PATH_MAX)
		return -1;
	while (at < end) {
		const ProtobufCFieldDescriptor *field;
		size_t index;
		int rc;

		if (!pbwire_varint(&at, end, &key))
			return -1;
		switch (key & 7) {
		case WIRE_VARINT:
			if (!pbwire_varint(&at, end, &v))
				return -1;
			continue;
		case WIRE_64BIT:
			if (end - at < 8)
				return -1;
			at += 8;
			continue;
		case WIRE_32BIT:
			if (end - at < 4)
				return -1;
			at += 4;
			continue;
		case WIRE_LENGTH_PREFIXED:
			if (!pbwire_varint(&at, end, &v) || v > (uint64_t)(end - at))
				return -1;
			break;
		default:
			return -1;
		}
		/* A field this schema does not know is kept as bytes. */
		field = key >> 3 <= UINT32_MAX ?
		    protobuf_c_message_descriptor_get_field(desc, (unsigned)(key >> 3)) : NULL;
		if (field != NULL && field->type == PROTOBUF_C_TYPE_STRING) {
			size_t at_byte = pbwire_utf8_fault_at(at, (size_t)v);
			if (at_byte < v) {
				fault->path[depth] = field;
				fault->depth = depth + 1;
				fault->offset = at_byte;
				fault->kind = at[at_byte] == 0 ? PBWIRE_FAULT_NUL : PBWIRE_FAULT_NOT_UTF8;
				return 1;
			}
		} else if (field != NULL && field->type == PROTOBUF_C_TYPE_MESSAGE) {
			fault->path[depth] = field;
			/* protobuf merges the occurrences of a message field;
			 * protobuf-c keeps the last alone. */
			index = (size_t)(field - desc->fields);
			if (field->label != PROTOBUF_C_LABEL_REPEATED && index < PBWIRE_FIELDS_TRACKED) {
				if (seen[index]) {
					fault->depth = depth + 1;
					fault->kind = PBWIRE_FAULT_MESSAGE_TWICE;
					return 1;
				}
				seen[index] = true;
			}
			rc = pbwire_fault_find_in(field->descriptor, at, (size_t)v, fault, depth + 1);
			if (rc != 0)
				return rc;
		}
		at += v;
	}
	return 0;
}

int
pbwire_fault_find(const ProtobufCMessageDescriptor *desc, const uint8_t *msg, size_t len,
    struct pbwire_fault *fault)
{
	fault->depth = 0;
	fault->offset = 0;
	fault->kind = PBWIRE_FAULT_NUL;
	return pbwire_fault_find_in(desc, msg, len, fault, 0);
}
