/*
 * text: copying and joining bounded strings on the hot path, where
 * snprintf("%s") costs a format parse per call. Like snprintf, the result
 * is always terminated and cut to fit; the return says whether it fitted.
 * And the value of one hex digit, for hex read back on the hot path.
 */
#ifndef TEXT_H
#define TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

/* Copy src into out (size bytes, size > 0). False when it was cut. */
static inline bool
text_copy(char *out, size_t size, const char *src)
{
	size_t n = strlen(src);
	bool fits = n < size;

	if (!fits)
		n = size - 1;
	memcpy(out, src, n);
	out[n] = '\0';
	return fits;
}

/* The first len bytes of src (up to a NUL) into out (size bytes, size > 0),
 * cut to fit, every byte that is not printable ASCII written as '?': for
 * text quoted back to a peer that must be ASCII (an Ack's ids, a JSON
 * error). out may be src itself. */
static inline void
text_copy_ascii(char *out, size_t size, const char *src, size_t len)
{
	size_t n;

	for (n = 0; n + 1 < size && n < len && src[n] != '\0'; n++)
		out[n] = (unsigned char)src[n] >= 0x20 && (unsigned char)src[n] < 0x7f ? src[n] : '?';
	out[n] = '\0';
}

/* a, sep, b, sep, c into out (size bytes, size > 0): "flow.QNX.RXC".
 * c may be NULL for two parts. False when it was cut. */
static inline bool
text_join(char *out, size_t size, char sep, const char *a, const char *b, const char *c)
{
	const char *parts[3] = { a, b, c };
	size_t at = 0;

	for (int i = 0; i < 3 && parts[i] != NULL; i++) {
		size_t n = strlen(parts[i]);
		if (i > 0) {
			if (at + 1 >= size)
				goto cut;
			out[at++] = sep;
		}
		if (at + n >= size) {
			memcpy(out + at, parts[i], size - 1 - at);
			at = size - 1;
			goto cut;
		}
		memcpy(out + at, parts[i], n);
		at += n;
	}
	out[at] = '\0';
	return true;
cut:
	out[at] = '\0';
	return false;
}

/* The value of hex digit c (either case), or -1 when c is not one. */
static inline int
text_hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

#endif
