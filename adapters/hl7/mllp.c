/*
 * mllp: frame finding and wrapping. A sender's stray bytes between frames
 * (a keep-alive newline, a reset) are skipped, not fatal.
 */
#include <string.h>

#include "mllp.h"

enum mllp_status
mllp_find(const uint8_t *buf, size_t len, size_t max_message, size_t *msg_at, size_t *msg_len,
    size_t *consumed, size_t *skipped)
{
	const uint8_t *start = memchr(buf, MLLP_START, len);
	size_t from;

	*consumed = *skipped = 0;
	if (start == NULL) {
		*consumed = *skipped = len; /* nothing but junk */
		return MLLP_MORE;
	}
	from = (size_t)(start - buf) + 1;
	*skipped = from - 1;
	for (size_t i = from; i < len; i++) {
		if (i - from > max_message)
			break;
		if (buf[i] == MLLP_START) {
			*msg_at = from;
			*msg_len = i - from;
			*consumed = i;
			return MLLP_UNENDED;
		}
		if (buf[i] == MLLP_END && i + 1 < len && buf[i + 1] == MLLP_END2) {
			size_t end = i;

			/* 0x1C 0x1C 0x0D: a doubled end block, not data (0x1C
			 * is never in a message). */
			while (end > from && buf[end - 1] == MLLP_END)
				end--;
			*msg_at = from;
			*msg_len = end - from;
			*consumed = i + 2;
			return MLLP_FRAME;
		}
	}
	*consumed = *skipped;
	if (len - from > max_message + 1)
		return MLLP_TOO_LARGE;
	return MLLP_MORE;
}

size_t
mllp_wrap(const char *msg, size_t len, uint8_t *out, size_t outlen)
{
	if (len + 3 > outlen)
		return 0;
	out[0] = MLLP_START;
	memcpy(out + 1, msg, len);
	out[len + 1] = MLLP_END;
	out[len + 2] = MLLP_END2;
	return len + 3;
}
