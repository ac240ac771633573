/*
 * jtext: compact JSON text written straight into a growing buffer, byte for
 * byte as jansson's json_dumps(JSON_COMPACT) writes the same values, for the
 * hot path where building a json_t tree only to dump it costs more than the
 * figure itself. Strings are ASCII only: jtext_string says when one is not,
 * so that the caller can let jansson write that value instead.
 */
#ifndef JTEXT_H
#define JTEXT_H

#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct jtext {
	char *text; /* terminated; owned, free() it */
	size_t len, size;
	bool failed; /* out of memory: text is incomplete */
};

/* Room for n more bytes and the terminator. False when out of memory. */
static inline bool
jtext_room(struct jtext *j, size_t n)
{
	size_t size;
	char *grown;

	if (j->failed)
		return false;
	if (j->len + n + 1 <= j->size)
		return true;
	size = j->size > 0 ? j->size : 256;
	while (size < j->len + n + 1)
		size *= 2;
	grown = realloc(j->text, size);
	if (grown == NULL) {
		j->failed = true;
		return false;
	}
	j->text = grown;
	j->size = size;
	return true;
}

/* n bytes of s, as they are (JSON punctuation, or text already JSON). */
static inline void
jtext_raw_n(struct jtext *j, const char *s, size_t n)
{
	if (!jtext_room(j, n))
		return;
	memcpy(j->text + j->len, s, n);
	j->len += n;
	j->text[j->len] = '\0';
}

static inline void
jtext_raw(struct jtext *j, const char *s)
{
	jtext_raw_n(j, s, strlen(s));
}

/* s as a JSON string, escaped as jansson escapes it without
 * JSON_ENSURE_ASCII or JSON_ESCAPE_SLASH. False, with nothing written,
 * when s is not all ASCII (jansson checks UTF-8: leave that to it). */
static inline bool
jtext_string(struct jtext *j, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0;

	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p >= 0x80)
			return false;
		n += *p == '"' || *p == '\\' ? 2 : *p < 0x20 ? 6 : 1;
	}
	if (!jtext_room(j, n + 2))
		return true;
	j->text[j->len++] = '"';
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
		char *out = j->text + j->len;
		switch (*p) {
		case '"':
		case '\\':
			out[0] = '\\', out[1] = (char)*p, j->len += 2;
			break;
		case '\b':
			out[0] = '\\', out[1] = 'b', j->len += 2;
			break;
		case '\f':
			out[0] = '\\', out[1] = 'f', j->len += 2;
			break;
		case '\n':
			out[0] = '\\', out[1] = 'n', j->len += 2;
			break;
		case '\r':
			out[0] = '\\', out[1] = 'r', j->len += 2;
			break;
		case '\t':
			out[0] = '\\', out[1] = 't', j->len += 2;
			break;
		default:
			if (*p < 0x20) {
				/* jansson: "\u%04X" */
				memcpy(out, "\\u00", 4);
				out[4] = hex[*p >> 4], out[5] = hex[*p & 0xf];
				j->len += 6;
			} else {
				out[0] = (char)*p, j->len += 1;
			}
		}
	}
	j->text[j->len++] = '"';
	j->text[j->len] = '\0';
	return true;
}

/* v as JSON writes an integer. */
static inline void
jtext_int(struct jtext *j, int64_t v)
{
	char digits[24];
	uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;
	size_t n = sizeof(digits);

	do
		digits[--n] = (char)('0' + u % 10);
	while ((u /= 10) > 0);
	if (v < 0)
		digits[--n] = '-';
	jtext_raw_n(j, digits + n, sizeof(digits) - n);
}

#endif
