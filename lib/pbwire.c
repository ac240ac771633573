/*
 * pbwire: see pbwire.h. The wire format is protobuf's: each field a varint
 * key (field number << 3 | wire type), then a varint, 8 bytes, 4 bytes, or
 * a varint length and that many bytes.
 */
#include <stdbool.h>

#include "pbwire.h"
#include "utf8.h"

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

/*
 * The field at *at, before end: its key in *key and, when it is length
 * prefixed, its bytes in *value and *value_len (else *value is NULL); *at
 * moves past it. False when the field is cut short or of no wire type.
 */
static bool
pbwire_field(const uint8_t **at, const uint8_t *end, uint64_t *key, const uint8_t **value,
    uint64_t *value_len)
{
	uint64_t v;

	*value = NULL;
	*value_len = 0;
	if (!pbwire_varint(at, end, key))
		return false;
	switch (*key & 7) {
	case WIRE_VARINT:
		return pbwire_varint(at, end, &v);
	case WIRE_64BIT:
	case WIRE_32BIT: {
		size_t n = (*key & 7) == WIRE_64BIT ? 8 : 4;
		if ((size_t)(end - *at) < n)
			return false;
		*at += n;
		return true;
	}
	case WIRE_LENGTH_PREFIXED:
		if (!pbwire_varint(at, end, &v) || v > (uint64_t)(end - *at))
			return false;
		*value = *at;
		*value_len = v;
		*at += v;
		return true;
	default:
		return false;
	}
}

int
pbwire_bytes(const uint8_t *msg, size_t len, uint32_t field, const uint8_t **value,
    size_t *value_len)
{
	const uint8_t *at = msg, *end = msg + len, *bytes;
	uint64_t key, n;
	int found = 0;

	*value = NULL;
	*value_len = 0;
	while (at < end) {
		if (!pbwire_field(&at, end, &key, &bytes, &n))
			return -1;
		if (bytes != NULL && key >> 3 == field) {
			*value = bytes;
			*value_len = (size_t)n;
			found = 1;
		}
	}
	return found;
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
		const uint8_t *bytes;
		size_t index;
		int rc;

		if (!pbwire_field(&at, end, &key, &bytes, &v))
			return -1;
		if (bytes == NULL)
			continue; /* a number: nothing to check on the wire */
		/* A field this schema does not know is kept as bytes. */
		field = key >> 3 <= UINT32_MAX ?
		    protobuf_c_message_descriptor_get_field(desc, (unsigned)(key >> 3)) : NULL;
		if (field != NULL && field->type == PROTOBUF_C_TYPE_STRING) {
			size_t at_byte = utf8_fault_at(bytes, (size_t)v, UTF8_NO_NUL);
			if (at_byte < v) {
				fault->path[depth] = field;
				fault->depth = depth + 1;
				fault->offset = at_byte;
				fault->kind = bytes[at_byte] == 0 ? PBWIRE_FAULT_NUL : PBWIRE_FAULT_NOT_UTF8;
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
			rc = pbwire_fault_find_in(field->descriptor, bytes, (size_t)v, fault, depth + 1);
			if (rc != 0)
				return rc;
		}
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
