/*
 * pbjson: the canonical proto3 JSON mapping for any protobuf-c message,
 * driven by its descriptor (no per-message code). Owns nothing.
 */
#ifndef PBJSON_H
#define PBJSON_H

#include <stddef.h>

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

/*
 * Build a message of type desc from a JSON object. Field names may be the
 * lowerCamelCase JSON name or the proto name; int64 values may be numbers or
 * strings; enums names or numbers; bytes base64 (standard or URL-safe,
 * padding optional). Unknown fields are an error. Returns a message owned by
 * the caller (free with protobuf_c_message_free_unpacked(msg, NULL)), or
 * NULL with err naming the field and what is wrong with it.
 */
ProtobufCMessage *pbjson_to_message(const json_t *json,
    const ProtobufCMessageDescriptor *desc, char *err, size_t errlen);

/*
 * The JSON object for msg as Google's printer writes it: fields at their
 * default left out, int64 as strings, enums by name, bytes base64. Returns
 * a new reference, or NULL when out of memory.
 */
json_t *pbjson_from_message(const ProtobufCMessage *msg);

/* Write "some_field_name" as "someFieldName" into out; -1 if it does not fit. */
int pbjson_field_json_name(const char *proto_name, char *out, size_t outlen);

#endif
