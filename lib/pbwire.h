/*
 * pbwire: one field of a packed protobuf message, read off the wire with
 * no decoding and no allocation: for the few bytes a caller needs of a
 * message it would not (or cannot) unpack whole; and what the wire holds
 * that unpacking hides (a NUL in a string, a message given twice). Pure.
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

/* How deep pbwire_fault_find looks into nested messages. */
#define PBWIRE_PATH_MAX 8

enum pbwire_fault_kind {
	PBWIRE_FAULT_NUL,	    /* a string holds a NUL byte */
	PBWIRE_FAULT_NOT_UTF8,	    /* a string is not UTF-8 */
	PBWIRE_FAULT_MESSAGE_TWICE, /* a message field (not a list) comes twice */
};

struct pbwire_fault {
	/* The fields from the outer message down to the faulty one: path[0]
	 * is a field of the message given, path[depth - 1] the faulty one. */
	const ProtobufCFieldDescriptor *path[PBWIRE_PATH_MAX];
	int depth;
	enum pbwire_fault_kind kind;
	size_t offset; /* of the first faulty byte in a string */
};

/*
 * The first field, at any depth of the message desc describes, where the
 * bytes on the wire say more than protobuf-c's unpacking shows. A string
 * (in every occurrence: a field given twice is read as its last) that is
 * not UTF-8 or holds a NUL byte: protobuf-c checks neither and unpacks a
 * string as a C string, so what follows a NUL is never seen, yet it stays
 * in the bytes, and a stricter reader (Python, Go) refuses bytes that are
 * not UTF-8. A message field that is not a list given twice: protobuf
 * merges the two, protobuf-c keeps the last alone. Fields the schema does
 * not know are bytes, never faulty. 1 with *fault filled; 0 when there is
 * none; -1 when the bytes are not a message (or nest deeper than
 * PBWIRE_PATH_MAX).
 */
int pbwire_fault_find(const ProtobufCMessageDescriptor *desc, const uint8_t *msg, size_t len,
    struct pbwire_fault *fault);

#endif
