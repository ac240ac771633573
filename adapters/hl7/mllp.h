/*
 * mllp: the Minimal Lower Layer Protocol framing of HL7 v2 over TCP:
 * 0x0B, the message, 0x1C 0x0D. Pure: finds frames in a byte buffer.
 */
#ifndef MLLP_H
#define MLLP_H

#include <stddef.h>
#include <stdint.h>

#define MLLP_START 0x0B
#define MLLP_END 0x1C
#define MLLP_END2 0x0D

enum mllp_status {
	MLLP_FRAME = 1,	     /* a whole frame: the message is buf[*msg_at, *msg_at + *msg_len) */
	MLLP_MORE = 0,	     /* no whole frame yet: read more */
	MLLP_TOO_LARGE = -1, /* a frame longer than max_message bytes is coming */
	MLLP_UNENDED = -2    /* a frame cut short by the next start byte, before its end:
			      * what it held is buf[*msg_at, *msg_at + *msg_len) */
};

/*
 * Look for the first frame in buf[0, len). *consumed is how many bytes the
 * caller may drop afterwards: junk before a start byte, and the frame itself
 * when one is found. *skipped says how much of that was junk.
 *
 * A start byte inside a frame begins a new frame (neither 0x0B nor 0x1C
 * may be in a message): the one before it, which never had its end, is
 * MLLP_UNENDED and consumed up to the new start byte, so that a sender's
 * lost end block costs that message alone, not the next one too. A doubled
 * end byte (0x1C 0x1C 0x0D) ends the frame as one: the message is what
 * comes before the first 0x1C, and the frame is consumed to the 0x0D.
 */
enum mllp_status mllp_find(const uint8_t *buf, size_t len, size_t max_message,
    size_t *msg_at, size_t *msg_len, size_t *consumed, size_t *skipped);

/* Frame msg into out; the framed length, or 0 when out is too small. */
size_t mllp_wrap(const char *msg, size_t len, uint8_t *out, size_t outlen);

#endif
