/*
 * pbwire: one field of a packed protobuf message, read off the wire with
 * no decoding and no allocation: for the few bytes a caller needs of a
 * message it would not (or cannot) unpack whole; and the string fields of
 * a message as they are on the wire, which unpacking hides. Pure.
 */
#ifndef PBWIRE_H
#define PBWIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

/*
 * The length-delimited field number `field` (a string, bytes or a
 * message) of the len bytes at msg: the last one given, as protobuf reads
 * it. 1 with *value and *value_len set; 0 when the message has none (then
 * *value is NULL and *value_len 0: proto3's empty default); -1 when the
 * bytes are not a message (a key or a length cut short, a wire type that
 * is not one).
 */
int pbwire_bytes(const uint8_t *msg, size_t len, uint32_t field, const uint8_t **value,
    size_t *value_len);

/* How deep pbwire_string_fault looks into nested messages. */
#define PBWIRE_PATH_MAX 8

struct pbwire_string_fault {
	/* The fields from the outer message down to the string: path[0] is
	 * a field of the message given, path[depth - 1] the string. */
	const ProtobufCFieldDescriptor *path[PBWIRE_PATH_MAX];
	int depth;
	size_t offset; /* of the first faulty byte in the string */
	bool nul;      /* the fault is a NUL byte, not a UTF-8 error */
};

/*
 * The first string field, at any depth of the message desc describes and
 * in every occurrence on the wire (a field given twice included), that is
 * not UTF-8 or holds a NUL byte. protobuf-c checks neither and unpacks a
 * string as a C string: what follows a NUL is never seen, yet it stays in
 * the bytes, and a stricter reader (Python, Go) refuses bytes that are not
 * UTF-8. 1 with *fault filled; 0 when every string is clean; -1 when the
 * bytes are not a message (or nest deeper than PBWIRE_PATH_MAX).
 */
int pbwire_string_fault(const ProtobufCMessageDescriptor *desc, const uint8_t *msg, size_t len,
    struct pbwire_string_fault *fault);

#endif
