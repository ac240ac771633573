/*
 * utf8: where bytes stop being the UTF-8 commissiond takes. Shortest
 * forms only, no surrogates, nothing past U+10FFFF, and never NUL (text
 * becomes C strings and LMDB keys); free text (UTF8_TEXT) takes no
 * control character either (C0, DEL, C1), so that it prints on one line.
 */
#ifndef UTF8_H
#define UTF8_H

#include <stddef.h>
#include <stdint.h>

enum utf8_rule {
	UTF8_NO_NUL, /* any UTF-8 but NUL (protobuf strings on the wire) */
	UTF8_TEXT,   /* nor any control character (an event's text) */
};

/* The offset of the first byte of the first fault in the len bytes at s,
 * or len when there is none. */
size_t utf8_fault_at(const uint8_t *s, size_t len, enum utf8_rule rule);

#endif
