/*
 * pbwire: one field of a packed protobuf message, read off the wire with
 * no decoding and no allocation: for the few bytes a caller needs of a
 * message it would not (or cannot) unpack whole. Pure.
 */
#ifndef PBWIRE_H
#define PBWIRE_H

#include <stddef.h>
#include <stdint.h>

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

#endif
