/*
 * pbjson: proto3 JSON mapping over protobuf-c descriptors and jansson.
 * One pair of walkers serves every message type of commissioning.proto.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "pbjson.h"

#define PBJSON_MAX_DEPTH 16

/* Where a field lives inside a message struct. */
#define FIELD_PTR(msg, offset) ((void *)((char *)(msg) + (offset)))

int
pbjson_field_json_name(const char *proto_name, char *out, size_t outlen)
{
	size_t n = 0;
	bool upper = false;

	for (const char *p = proto_name; *p != '\0'; p++) {
		if (*p == '_') {
			upper = true;
			continue;
		}
		if (n + 1 >= outlen)
			return -1;
		out[n++] = upper && *p >= 'a' && *p <= 'z' ? (char)(*p - 'a' + 'A') : *p;
		upper = false;
	}
	if (n >= outlen)
		return -1;
	out[n] = '\0';
	return 0;
}

static size_t
pbjson_type_size(ProtobufCType type)
{
	switch (type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		return 4;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return 8;
	case PROTOBUF_C_TYPE_FLOAT:
		return sizeof(float);
	case PROTOBUF_C_TYPE_DOUBLE:
		return sizeof(double);
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_ENUM:
		return sizeof(int);
	case PROTOBUF_C_TYPE_STRING:
		return sizeof(char *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(ProtobufCMessage *);
	}
	return 0;
}

/* ------------------------------------------------------------ JSON -> pb */

struct pbjson_parse {
	char *err;
	size_t errlen;
	char path[256]; /* dotted JSON path of the field being read */
};

static void __attribute__((format(printf, 2, 3)))
pbjson_fail(struct pbjson_parse *ps, const char *fmt, ...)
{
	char what[192];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(ps->err, ps->errlen, "%s: %s", ps->path[0] ? ps->path : "(message)", what);
}

static int
pbjson_parse_int(struct pbjson_parse *ps, const json_t *v, bool is_signed,
    int64_t *sval, uint64_t *uval)
{
	if (json_is_integer(v)) {
		json_int_t i = json_integer_value(v);
		if (!is_signed && i < 0) {
			pbjson_fail(ps, "must not be negative");
			return -1;
		}
		*sval = (int64_t)i;
		*uval = (uint64_t)i;
		return 0;
	}
	if (json_is_real(v)) {
		double d = json_real_value(v);
		/* JSON has one number type: 3.0 is the integer 3, 3.5 is not.
		 * The bounds are exact powers of two, so the comparisons are
		 * exact and the conversion below is defined. */
		if (d != floor(d)) {
			pbjson_fail(ps, "must be a whole number");
			return -1;
		}
		if (is_signed ? (d < -9223372036854775808.0 || d >= 9223372036854775808.0)
			      : (d < 0 || d >= 18446744073709551616.0)) {
			pbjson_fail(ps, "out of range for a 64-bit integer%s",
			    is_signed ? "" : " (must not be negative)");
			return -1;
		}
		if (is_signed) {
			*sval = (int64_t)d;
			*uval = (uint64_t)*sval;
		} else {
			*uval = (uint64_t)d;
			*sval = (int64_t)*uval;
		}
		return 0;
	}
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		char *end;
		/* strtoll would skip any leading white space: refuse it, and a
		 * sign other than '-', so that "12" is the only spelling of 12. */
		if (*s == '\0' || isspace((unsigned char)*s) || *s == '+') {
			pbjson_fail(ps, "must be an integer");
			return -1;
		}
		errno = 0;
		if (is_signed) {
			*sval = strtoll(s, &end, 10);
			*uval = (uint64_t)*sval;
		} else {
			if (*s == '-') {
				pbjson_fail(ps, "must not be negative");
				return -1;
			}
			*uval = strtoull(s, &end, 10);
			*sval = (int64_t)*uval;
		}
		if (errno != 0 || *end != '\0') {
			pbjson_fail(ps, "\"%s\" is not an integer in range", s);
			return -1;
		}
		return 0;
	}
	pbjson_fail(ps, "must be an integer (a number or a string of digits)");
	return -1;
}

static int
pbjson_parse_double(struct pbjson_parse *ps, const json_t *v, double *out)
{
	if (json_is_number(v)) {
		*out = json_number_value(v);
		return 0;
	}
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		if (strcmp(s, "NaN") == 0) {
			*out = NAN;
			return 0;
		}
		if (strcmp(s, "Infinity") == 0 || strcmp(s, "-Infinity") == 0) {
			*out = s[0] == '-' ? -INFINITY : INFINITY;
			return 0;
		}
		/* A number written as a string: digits, sign, point and
		 * exponent only. strtod alone takes "-NaN", "inf", "0x1p3"
		 * and leading spaces, none of which proto3 JSON writes. */
		if (*s != '\0' && strspn(s, "0123456789+-.eE") == strlen(s)) {
			char *end;
			errno = 0;
			*out = strtod(s, &end);
			if (*end == '\0' && errno == 0 && isfinite(*out))
				return 0;
		}
	}
	pbjson_fail(ps, "must be a number");
	return -1;
}

static int
pbjson_parse_bytes(struct pbjson_parse *ps, const json_t *v, ProtobufCBinaryData *out)
{
	static const int variants[] = {
		sodium_base64_VARIANT_ORIGINAL,
		sodium_base64_VARIANT_ORIGINAL_NO_PADDING,
		sodium_base64_VARIANT_URLSAFE,
		sodium_base64_VARIANT_URLSAFE_NO_PADDING,
	};
	const char *s;
	size_t slen, len;
	uint8_t *data;

	if (!json_is_string(v)) {
		pbjson_fail(ps, "must be a base64 string");
		return -1;
	}
	s = json_string_value(v);
	slen = json_string_length(v);
	data = malloc(slen / 4 * 3 + 3);
	if (data == NULL) {
		pbjson_fail(ps, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
		if (sodium_base642bin(data, slen / 4 * 3 + 3, s, slen, NULL, &len,
			NULL, variants[i]) == 0) {
			out->data = data;
			out->len = len;
			return 0;
		}
	}
	free(data);
	pbjson_fail(ps, "is not valid base64");
	return -1;
}

static ProtobufCMessage *pbjson_parse_message(struct pbjson_parse *ps,
    const json_t *json, const ProtobufCMessageDescriptor *desc, int depth);

/* Parse one JSON value of a field's type into the memory at dst. */
static int
pbjson_parse_value(struct pbjson_parse *ps, const ProtobufCFieldDescriptor *fd,
    const json_t *v, void *dst, int depth)
{
	int64_t s = 0;
	uint64_t u = 0;

	switch (fd->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		if (pbjson_parse_int(ps, v, true, &s, &u) < 0)
			return -1;
		if (s < INT32_MIN || s > INT32_MAX) {
			pbjson_fail(ps, "out of range for a 32-bit integer");
			return -1;
		}
		*(int32_t *)dst = (int32_t)s;
		return 0;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		if (pbjson_parse_int(ps, v, false, &s, &u) < 0)
			return -1;
		if (u > UINT32_MAX) {
			pbjson_fail(ps, "out of range for an unsigned 32-bit integer");
			return -1;
		}
		*(uint32_t *)dst = (uint32_t)u;
		return 0;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		if (pbjson_parse_int(ps, v, true, &s, &u) < 0)
			return -1;
		*(int64_t *)dst = s;
		return 0;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		if (pbjson_parse_int(ps, v, false, &s, &u) < 0)
			return -1;
		*(uint64_t *)dst = u;
		return 0;
	case PROTOBUF_C_TYPE_FLOAT: {
		double d;
		if (pbjson_parse_double(ps, v, &d) < 0)
			return -1;
		*(float *)dst = (float)d;
		return 0;
	}
	case PROTOBUF_C_TYPE_DOUBLE:
		return pbjson_parse_double(ps, v, (double *)dst);
	case PROTOBUF_C_TYPE_BOOL:
		if (!json_is_boolean(v)) {
			pbjson_fail(ps, "must be true or false");
			return -1;
		}
		*(protobuf_c_boolean *)dst = json_is_true(v);
		return 0;
	case PROTOBUF_C_TYPE_ENUM: {
		const ProtobufCEnumDescriptor *ed = fd->descriptor;
		if (json_is_string(v)) {
			const ProtobufCEnumValue *ev =
			    protobuf_c_enum_descriptor_get_value_by_name(ed, json_string_value(v));
			if (ev == NULL) {
				pbjson_fail(ps, "\"%s\" is not a value of %s",
				    json_string_value(v), ed->name);
				return -1;
			}
			*(int *)dst = ev->value;
			return 0;
		}
		/* A number is kept as is: proto3 enums are open, and the
		 * validation of the receiver decides what it accepts. */
		if (pbjson_parse_int(ps, v, true, &s, &u) < 0)
			return -1;
		if (s < INT32_MIN || s > INT32_MAX) {
			pbjson_fail(ps, "out of range for an enum");
			return -1;
		}
		*(int *)dst = (int)s;
		return 0;
	}
	case PROTOBUF_C_TYPE_STRING: {
		char *copy;
		if (!json_is_string(v)) {
			pbjson_fail(ps, "must be a string");
			return -1;
		}
		if (strlen(json_string_value(v)) != json_string_length(v)) {
			pbjson_fail(ps, "must not contain a NUL character");
			return -1;
		}
		copy = strdup(json_string_value(v));
		if (copy == NULL) {
			pbjson_fail(ps, "out of memory");
			return -1;
		}
		*(char **)dst = copy;
		return 0;
	}
	case PROTOBUF_C_TYPE_BYTES:
		return pbjson_parse_bytes(ps, v, (ProtobufCBinaryData *)dst);
	case PROTOBUF_C_TYPE_MESSAGE: {
		ProtobufCMessage *sub = pbjson_parse_message(ps, v, fd->descriptor, depth + 1);
		if (sub == NULL)
			return -1;
		*(ProtobufCMessage **)dst = sub;
		return 0;
	}
	}
	pbjson_fail(ps, "has a type this converter does not know");
	return -1;
}

static const ProtobufCFieldDescriptor *
pbjson_find_field(const ProtobufCMessageDescriptor *desc, const char *key)
{
	char json_name[128];

	for (unsigned i = 0; i < desc->n_fields; i++) {
		const ProtobufCFieldDescriptor *fd = &desc->fields[i];
		if (strcmp(fd->name, key) == 0)
			return fd;
		if (pbjson_field_json_name(fd->name, json_name, sizeof(json_name)) == 0 &&
		    strcmp(json_name, key) == 0)
			return fd;
	}
	return NULL;
}

static int
pbjson_parse_repeated(struct pbjson_parse *ps, const ProtobufCFieldDescriptor *fd,
    const json_t *v, ProtobufCMessage *msg, int depth)
{
	size_t n, elsize = pbjson_type_size(fd->type);
	char *array;

	if (!json_is_array(v)) {
		pbjson_fail(ps, "must be a list");
		return -1;
	}
	n = json_array_size(v);
	if (n == 0)
		return 0;
	array = calloc(n, elsize);
	if (array == NULL) {
		pbjson_fail(ps, "out of memory");
		return -1;
	}
	/* Attach first so that free_unpacked frees what was parsed so far. */
	*(void **)FIELD_PTR(msg, fd->offset) = array;
	for (size_t i = 0; i < n; i++) {
		if (pbjson_parse_value(ps, fd, json_array_get(v, i), array + i * elsize, depth) < 0)
			return -1;
		*(size_t *)FIELD_PTR(msg, fd->quantifier_offset) = i + 1;
	}
	return 0;
}

static ProtobufCMessage *
pbjson_parse_message(struct pbjson_parse *ps, const json_t *json,
    const ProtobufCMessageDescriptor *desc, int depth)
{
	ProtobufCMessage *msg;
	bool *seen;
	const char *key;
	json_t *v;
	size_t pathlen = strlen(ps->path);

	if (depth > PBJSON_MAX_DEPTH) {
		pbjson_fail(ps, "nested too deeply");
		return NULL;
	}
	if (!json_is_object(json)) {
		pbjson_fail(ps, "must be a JSON object (%s)", desc->name);
		return NULL;
	}
	msg = malloc(desc->sizeof_message);
	seen = calloc(desc->n_fields ? desc->n_fields : 1, sizeof(*seen));
	if (msg == NULL || seen == NULL) {
		free(msg);
		free(seen);
		pbjson_fail(ps, "out of memory");
		return NULL;
	}
	desc->message_init(msg);

	json_object_foreach((json_t *)json, key, v) {
		const ProtobufCFieldDescriptor *fd = pbjson_find_field(desc, key);
		void *dst;
		int rc;

		snprintf(ps->path + pathlen, sizeof(ps->path) - pathlen, "%s%s",
		    pathlen ? "." : "", key);
		if (fd == NULL) {
			pbjson_fail(ps, "no such field in %s", desc->name);
			goto fail;
		}
		/* A field given twice (as "eventId" and "event_id") is an
		 * error, as in Google's parser: neither value is taken. */
		if (seen[fd - desc->fields]) {
			pbjson_fail(ps, "the field %s is given twice", fd->name);
			goto fail;
		}
		seen[fd - desc->fields] = true;
		if (json_is_null(v))
			continue; /* proto3 JSON: null is the default */
		if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
			if (pbjson_parse_repeated(ps, fd, v, msg, depth) < 0)
				goto fail;
			continue;
		}
		if (fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
			uint32_t *which = FIELD_PTR(msg, fd->quantifier_offset);
			if (*which != 0) {
				pbjson_fail(ps, "more than one field of a oneof is set");
				goto fail;
			}
		}
		dst = FIELD_PTR(msg, fd->offset);
		rc = pbjson_parse_value(ps, fd, v, dst, depth);
		if (rc < 0)
			goto fail;
		if (fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
			*(uint32_t *)FIELD_PTR(msg, fd->quantifier_offset) = fd->id;
		else if (fd->label == PROTOBUF_C_LABEL_OPTIONAL &&
		    fd->type != PROTOBUF_C_TYPE_STRING &&
		    fd->type != PROTOBUF_C_TYPE_MESSAGE)
			*(protobuf_c_boolean *)FIELD_PTR(msg, fd->quantifier_offset) = 1;
	}
	ps->path[pathlen] = '\0';
	free(seen);
	return msg;
fail:
	free(seen);
	protobuf_c_message_free_unpacked(msg, NULL);
	return NULL;
}

ProtobufCMessage *
pbjson_to_message(const json_t *json, const ProtobufCMessageDescriptor *desc,
    char *err, size_t errlen)
{
	struct pbjson_parse ps = { .err = err, .errlen = errlen };

	return pbjson_parse_message(&ps, json, desc, 0);
}

/* ------------------------------------------------------------ pb -> JSON */

static json_t *pbjson_print_message(const ProtobufCMessage *msg, int depth);

static json_t *
pbjson_print_value(const ProtobufCFieldDescriptor *fd, const void *src, int depth)
{
	char buf[32];

	switch (fd->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		return json_integer(*(const int32_t *)src);
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		return json_integer(*(const uint32_t *)src);
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		snprintf(buf, sizeof(buf), "%" PRId64, *(const int64_t *)src);
		return json_string(buf);
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		snprintf(buf, sizeof(buf), "%" PRIu64, *(const uint64_t *)src);
		return json_string(buf);
	case PROTOBUF_C_TYPE_FLOAT:
	case PROTOBUF_C_TYPE_DOUBLE: {
		double d = fd->type == PROTOBUF_C_TYPE_FLOAT ? *(const float *)src
							     : *(const double *)src;
		if (isnan(d))
			return json_string("NaN");
		if (isinf(d))
			return json_string(d > 0 ? "Infinity" : "-Infinity");
		return json_real(d);
	}
	case PROTOBUF_C_TYPE_BOOL:
		return json_boolean(*(const protobuf_c_boolean *)src);
	case PROTOBUF_C_TYPE_ENUM: {
		const ProtobufCEnumValue *ev =
		    protobuf_c_enum_descriptor_get_value(fd->descriptor, *(const int *)src);
		return ev ? json_string(ev->name) : json_integer(*(const int *)src);
	}
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(char *const *)src;
		/* A string that is not UTF-8 (possible from the wire) is
		 * printed with replacement rather than dropped. */
		json_t *j = json_string(s ? s : "");
		return j ? j : json_string("\xef\xbf\xbd");
	}
	case PROTOBUF_C_TYPE_BYTES: {
		const ProtobufCBinaryData *b = src;
		size_t n = sodium_base64_encoded_len(b->len, sodium_base64_VARIANT_ORIGINAL);
		char *text = malloc(n);
		json_t *j;
		if (text == NULL)
			return NULL;
		sodium_bin2base64(text, n, b->data, b->len, sodium_base64_VARIANT_ORIGINAL);
		j = json_string(text);
		free(text);
		return j;
	}
	case PROTOBUF_C_TYPE_MESSAGE:
		return pbjson_print_message(*(ProtobufCMessage *const *)src, depth + 1);
	}
	return json_null();
}

/* Is a proto3 field without presence at its default (and so left out)? */
static bool
pbjson_is_default(const ProtobufCFieldDescriptor *fd, const void *src)
{
	switch (fd->type) {
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(char *const *)src;
		return s == NULL || s[0] == '\0';
	}
	case PROTOBUF_C_TYPE_BYTES:
		return ((const ProtobufCBinaryData *)src)->len == 0;
	case PROTOBUF_C_TYPE_MESSAGE:
		return *(ProtobufCMessage *const *)src == NULL;
	case PROTOBUF_C_TYPE_FLOAT:
		return *(const float *)src == 0.0f && !signbit(*(const float *)src);
	case PROTOBUF_C_TYPE_DOUBLE:
		return *(const double *)src == 0.0 && !signbit(*(const double *)src);
	default: {
		size_t size = pbjson_type_size(fd->type);
		static const char zero[8];
		return memcmp(src, zero, size) == 0;
	}
	}
}

static bool
pbjson_is_present(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *fd)
{
	const void *src = FIELD_PTR(msg, fd->offset);

	if (fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
		return *(const uint32_t *)FIELD_PTR(msg, fd->quantifier_offset) == fd->id;
	if (fd->label == PROTOBUF_C_LABEL_OPTIONAL) {
		if (fd->type == PROTOBUF_C_TYPE_STRING || fd->type == PROTOBUF_C_TYPE_MESSAGE)
			return *(void *const *)src != NULL;
		return *(const protobuf_c_boolean *)FIELD_PTR(msg, fd->quantifier_offset);
	}
	return !pbjson_is_default(fd, src);
}

static json_t *
pbjson_print_message(const ProtobufCMessage *msg, int depth)
{
	const ProtobufCMessageDescriptor *desc = msg->descriptor;
	json_t *obj;
	char name[128];

	if (depth > PBJSON_MAX_DEPTH)
		return json_null();
	obj = json_object();
	if (obj == NULL)
		return NULL;
	for (unsigned i = 0; i < desc->n_fields; i++) {
		const ProtobufCFieldDescriptor *fd = &desc->fields[i];
		json_t *value;

		if (pbjson_field_json_name(fd->name, name, sizeof(name)) < 0)
			continue;
		if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(const size_t *)FIELD_PTR(msg, fd->quantifier_offset);
			const char *array = *(char *const *)FIELD_PTR(msg, fd->offset);
			size_t elsize = pbjson_type_size(fd->type);
			if (n == 0)
				continue;
			value = json_array();
			for (size_t k = 0; value != NULL && k < n; k++)
				json_array_append_new(value,
				    pbjson_print_value(fd, array + k * elsize, depth));
		} else {
			if (!pbjson_is_present(msg, fd))
				continue;
			value = pbjson_print_value(fd, FIELD_PTR(msg, fd->offset), depth);
		}
		if (value == NULL || json_object_set_new(obj, name, value) < 0) {
			json_decref(obj);
			return NULL;
		}
	}
	return obj;
}

json_t *
pbjson_from_message(const ProtobufCMessage *msg)
{
	return pbjson_print_message(msg, 0);
}
