/*
 * utf8: where bytes stop being the UTF-8 commissiond takes (utf8.h).
 */
#include "utf8.h"

size_t
utf8_fault_at(const uint8_t *s, size_t len, enum utf8_rule rule)
{
	size_t i = 0;

	while (i < len) {
		uint8_t lead = s[i];
		uint32_t code_point;
		size_t more;

		if (lead < 0x80) {
			if (lead == 0 || (rule == UTF8_TEXT && (lead < 0x20 || lead == 0x7f)))
				return i;
			i++;
			continue;
		}
		if (lead >= 0xc2 && lead <= 0xdf)
			more = 1;
		else if (lead >= 0xe0 && lead <= 0xef)
			more = 2;
		else if (lead >= 0xf0 && lead <= 0xf4)
			more = 3;
		else
			return i;
		if (len - i - 1 < more)
			return i;
		code_point = lead & (0x7fu >> (more + 1));
		for (size_t k = 1; k <= more; k++) {
			if ((s[i + k] & 0xc0u) != 0x80u)
				return i;
			code_point = code_point << 6 | (s[i + k] & 0x3fu);
		}
		if (more == 1 && rule == UTF8_TEXT && code_point <= 0x9f)
			return i; /* C1 controls */
		if (more == 2 && (code_point < 0x800 || (code_point >= 0xd800 && code_point <= 0xdfff)))
			return i;
		if (more == 3 && (code_point < 0x10000 || code_point > 0x10ffff))
			return i;
		i += more + 1;
	}
	return len;
}
