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
