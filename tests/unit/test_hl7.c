/*
 * test_hl7: the HL7 v2 parser: encoding characters from MSH-1/MSH-2,
 * segment separators, fields, repetitions, components, escapes, nulls,
 * bounds and errors; HL7 times in Europe/London; version ids; escaping.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hl7.h"

#define SAMPLES "tests/data/hl7/"

/* A sample message file, read whole; the caller frees it. */
static char *
read_sample(const char *name, size_t *len)
{
	char path[256];
	FILE *f;
	char *buf;
	long size;

	snprintf(path, sizeof(path), SAMPLES "%s", name);
	f = fopen(path, "rb");
	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	size = ftell(f);
	assert_true(size > 0);
	rewind(f);
	buf = malloc((size_t)size + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)size, f), (size_t)size);
	buf[size] = '\0';
	fclose(f);
	*len = (size_t)size;
	return buf;
}

/* Parse a message held in a string; assert it parses. */
static struct hl7_message *
parse_ok(const char *text)
{
	struct hl7_message *msg = malloc(sizeof(*msg));
	struct hl7_error err;

	assert_non_null(msg);
	assert_int_equal(hl7_parse(msg, text, strlen(text), &err), 0);
	return msg;
}

static void
assert_get(const struct hl7_message *msg, const char *seg, unsigned field, unsigned rep,
    unsigned comp, unsigned sub, const char *expected)
{
	char out[512];
	int r = hl7_get(msg, seg, 1, field, rep, comp, sub, out, sizeof(out));

	assert_int_equal(r, (int)strlen(expected));
	assert_string_equal(out, expected);
}

/* ------------------------------------------------------------ structure */

static void
test_parse_reads_default_encoding_from_msh_1_and_msh_2(void **state)
{
	size_t len;
	char *text = read_sample("a01_epic_v251.hl7", &len);
	struct hl7_message *msg = malloc(sizeof(*msg));
	struct hl7_error err;

	(void)state;
	assert_int_equal(hl7_parse(msg, text, len, &err), 0);
	assert_true(msg->has_header);
	assert_int_equal(msg->encoding.field, '|');
	assert_int_equal(msg->encoding.component, '^');
	assert_int_equal(msg->encoding.repetition, '~');
	assert_int_equal(msg->encoding.escape, '\\');
	assert_int_equal(msg->encoding.subcomponent, '&');
	assert_int_equal(msg->encoding.truncation, '\0');
	assert_int_equal(msg->n_segments, 9);
	assert_string_equal(msg->segments[0].id, "MSH");
	assert_string_equal(msg->segments[8].id, "ZPV");
	assert_get(msg, "MSH", 1, 1, 1, 1, "|");
	assert_get(msg, "MSH", 2, 1, 1, 1, "^~\\&");
	assert_get(msg, "MSH", 3, 1, 1, 1, "EPIC");
	assert_get(msg, "MSH", 4, 1, 1, 1, "ESHT");
	assert_get(msg, "MSH", 9, 1, 1, 1, "ADT");
	assert_get(msg, "MSH", 9, 1, 2, 1, "A01");
	assert_get(msg, "MSH", 9, 1, 3, 1, "ADT_A01");
	assert_get(msg, "MSH", 10, 1, 1, 1, "EPIC0000123");
	assert_get(msg, "MSH", 12, 1, 1, 1, "2.5.1");
	free(msg);
	free(text);
}

/* What an ACK needs of a message taken: its header, found again cheaply. */
static void
test_header_length_covers_the_first_segment_alone(void **state)
{
	static const char text[] = "\r\nMSH|^~\\&|PAS|RXC|||20260510||ADT^A01|C1|P|2.4\r"
				   "EVN|A01|20260510\rPID|1\r";
	size_t len = hl7_header_length(text, strlen(text));
	struct hl7_message *msg = malloc(sizeof(*msg));
	struct hl7_error err;

	(void)state;
	assert_int_equal(len, strchr(text + 2, '\r') - text);
	assert_int_equal(hl7_parse(msg, text, len, &err), 0);
	assert_int_equal(msg->n_segments, 1);
	assert_get(msg, "MSH", 10, 1, 1, 1, "C1");
	assert_int_equal(hl7_header_length("MSH|^~\\&", 9), 9);
	assert_int_equal(hl7_header_length("\n\r", 2), 2);
	free(msg);
}

static void
test_get_reads_repetitions_components_and_subcomponents(void **state)
{
	size_t len;
	char *text = read_sample("a01_epic_v251.hl7", &len);
	struct hl7_message *msg = malloc(sizeof(*msg));
	struct hl7_error err;

	(void)state;
	assert_int_equal(hl7_parse(msg, text, len, &err), 0);
	assert_int_equal(hl7_count_repetitions(msg, "PID", 1, 3), 2);
	assert_get(msg, "PID", 3, 1, 1, 1, "H123456");
	assert_get(msg, "PID", 3, 1, 5, 1, "MR");
	assert_get(msg, "PID", 3, 2, 1, 1, "9990000018");
	assert_get(msg, "PID", 3, 2, 4, 1, "NHS");
	assert_get(msg, "PID", 3, 2, 5, 1, "NH");
	assert_get(msg, "PID", 3, 3, 1, 1, "");
	assert_get(msg, "PV1", 3, 1, 1, 1, "CARDIO");
	assert_get(msg, "PV1", 3, 1, 4, 1, "RXC01");
	assert_get(msg, "PV1", 3, 1, 9, 1, "Cardiology Ward");
	assert_get(msg, "PV1", 44, 1, 1, 1, "20260115091500");
	free(msg);
	free(text);
}

static void
test_field_without_separators_is_its_own_first_part(void **state)
{
	struct hl7_message *msg = parse_ok("MSH|^~\\&|A|B\rPV1|1|I|WARD9\r");

	(void)state;
	assert_get(msg, "PV1", 3, 1, 1, 1, "WARD9");
	assert_get(msg, "PV1", 3, 1, 2, 1, "");
	assert_get(msg, "PV1", 3, 2, 1, 1, "");
	free(msg);
}

static void
test_non_default_component_separator_is_read_from_msh_2(void **state)
{
	size_t len;
	char *text = read_sample("a04_star_components.hl7", &len);
	struct hl7_message *msg = malloc(sizeof(*msg));
	struct hl7_error err;

	(void)state;
	assert_int_equal(hl7_parse(msg, text, len, &err), 0);
	assert_int_equal(msg->encoding.component, '*');
	assert_get(msg, "MSH", 9, 1, 2, 1, "A04");
	assert_get(msg, "PID", 3, 1, 1, 1, "9990000026");
	assert_get(msg, "PID", 3, 1, 5, 1, "NH");
	assert_get(msg, "PV1", 3, 1, 1, 1, "ED MAJORS");
	assert_get(msg, "PV1", 3, 1, 2, 1, "CUBE 4");
	assert_get(msg, "PV1", 3, 1, 4, 1, "RXC01");
	free(msg);
	free(text);
}

static void
test_v27_truncation_character_is_data(void **state)
{
	size_t len;
	char *text = read_sample("a08_v27_truncation.hl7", &len);
	struct hl7_message *msg = malloc(sizeof(*msg));
	struct hl7_error err;

	(void)state;
	assert_int_equal(hl7_parse(msg, text, len, &err), 0);
	assert_int_equal(msg->encoding.truncation, '#');
	assert_get(msg, "MSH", 2, 1, 1, 1, "^~\\&#");
	assert_get(msg, "PV1", 3, 1, 1, 1, "OPD #1");
	assert_get(msg, "PID", 3, 1, 4, 2, "2.16.840.1.113883.2.1.4.1");
	free(msg);
	free(text);
}

static void
test_entirely_custom_delimiters_are_honoured(void **state)
{
	struct hl7_message *msg = parse_ok("MSH#$%@!#APP#FAC\rPV1#1#I#W1$$$S1%W2$$$S2#x@E@y\r");

	(void)state;
	assert_int_equal(msg->encoding.field, '#');
	assert_int_equal(msg->encoding.repetition, '%');
	assert_get(msg, "MSH", 4, 1, 1, 1, "FAC");
	assert_get(msg, "PV1", 3, 1, 4, 1, "S1");
	assert_get(msg, "PV1", 3, 2, 1, 1, "W2");
	assert_get(msg, "PV1", 4, 1, 1, 1, "x@y"); /* the escape is @: \E\ is @E@ here */
	free(msg);
}

static void
test_lf_crlf_and_cr_separate_segments_alike(void **state)
{
	const char *cr = "MSH|^~\\&|A|B\rEVN|A01\rPID|1\r";
	const char *lf = "MSH|^~\\&|A|B\nEVN|A01\nPID|1\n";
	const char *crlf = "MSH|^~\\&|A|B\r\nEVN|A01\r\nPID|1\r\n";
	const char *mixed = "\r\nMSH|^~\\&|A|B\n\n\rEVN|A01\r\n\r\nPID|1";
	const char *all[] = { cr, lf, crlf, mixed };

	(void)state;
	for (size_t i = 0; i < 4; i++) {
		struct hl7_message *msg = parse_ok(all[i]);

		assert_int_equal(msg->n_segments, 3);
		assert_int_equal(hl7_count_segments(msg, "EVN"), 1);
		assert_get(msg, "EVN", 1, 1, 1, 1, "A01");
		assert_get(msg, "PID", 1, 1, 1, 1, "1");
		free(msg);
	}
}

static void
test_empty_and_null_fields_read_as_empty(void **state)
{
	struct hl7_message *msg = parse_ok("MSH|^~\\&|A|B\rPV1|1|\"\"||\"\"^X|\"x\"\r");

	(void)state;
	assert_get(msg, "PV1", 2, 1, 1, 1, "");
	assert_get(msg, "PV1", 3, 1, 1, 1, "");
	assert_get(msg, "PV1", 4, 1, 1, 1, "");
	assert_get(msg, "PV1", 4, 1, 2, 1, "X");
	assert_get(msg, "PV1", 5, 1, 1, 1, "\"x\"");
	assert_get(msg, "PV1", 99, 1, 1, 1, "");
	assert_get(msg, "PID", 3, 1, 1, 1, "");
	assert_int_equal(hl7_count_repetitions(msg, "PV1", 1, 3), 0);
	assert_int_equal(hl7_count_repetitions(msg, "PID", 1, 3), 0);
	free(msg);
}

static void
test_z_segments_and_repeated_segments_are_indexed(void **state)
{
	struct hl7_message *msg = parse_ok("MSH|^~\\&|A|B\rZPV|a\rOBX|1|x\rOBX|2|y\rZ01|\r");
	char out[16];

	(void)state;
	assert_int_equal(hl7_count_segments(msg, "OBX"), 2);
	assert_int_equal(hl7_get(msg, "OBX", 2, 2, 1, 1, 1, out, sizeof(out)), 1);
	assert_string_equal(out, "y");
	assert_int_equal(hl7_count_segments(msg, "Z01"), 1);
	assert_int_equal(hl7_count_segments(msg, "NTE"), 0);
	free(msg);
}

static void
test_raw_field_points_into_the_buffer(void **state)
{
	const char *text = "MSH|^~\\&|APP^1.2^ISO|FAC\rPV1|1|I|A\\T\\B^^^RXC01\r";
	struct hl7_message *msg = parse_ok(text);
	const char *value;
	size_t len;

	(void)state;
	assert_int_equal(hl7_get_raw_field(msg, "MSH", 1, 3, &value, &len), 0);
	assert_int_equal(len, strlen("APP^1.2^ISO"));
	assert_memory_equal(value, "APP^1.2^ISO", len);
	assert_true(value >= text && value < text + strlen(text));
	assert_int_equal(hl7_get_raw_field(msg, "PV1", 1, 3, &value, &len), 0);
	assert_memory_equal(value, "A\\T\\B^^^RXC01", len);
	assert_int_equal(hl7_get_raw_field(msg, "PV1", 1, 40, &value, &len), 0);
	assert_null(value);
	assert_int_equal(len, 0);
	free(msg);
}

/* ------------------------------------------------------------ escapes */

static void
test_escapes_give_the_delimiters(void **state)
{
	struct hl7_message *msg =
	    parse_ok("MSH|^~\\&|A|B\rZZZ|a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f\r");

	(void)state;
	assert_get(msg, "ZZZ", 1, 1, 1, 1, "a|b^c&d~e\\f");
	free(msg);
}

static void
test_escapes_follow_the_message_delimiters(void **state)
{
	struct hl7_message *msg = parse_ok("MSH|*~\\&|A|B\rZZZ|x\\S\\y*z\r");

	(void)state;
	assert_get(msg, "ZZZ", 1, 1, 1, 1, "x*y");
	assert_get(msg, "ZZZ", 1, 1, 2, 1, "z");
	free(msg);
}

static void
test_hex_escape_gives_bytes(void **state)
{
	struct hl7_message *msg =
	    parse_ok("MSH|^~\\&|A|B\rZZZ|\\X41\\B|caf\\XC3A9\\|\\X7C\\\r");

	(void)state;
	assert_get(msg, "ZZZ", 1, 1, 1, 1, "AB");
	assert_get(msg, "ZZZ", 2, 1, 1, 1, "caf\xc3\xa9");
	assert_get(msg, "ZZZ", 3, 1, 1, 1, "|");
	free(msg);
}

static void
test_ward_name_escapes_are_unescaped(void **state)
{
	size_t len;
	char *text = read_sample("a02_systmone_v24_crlf.hl7", &len);
	struct hl7_message *msg = malloc(sizeof(*msg));
	struct hl7_error err;

	(void)state;
	assert_int_equal(hl7_parse(msg, text, len, &err), 0);
	assert_get(msg, "PV1", 3, 1, 1, 1, "Rye & Winchelsea | Level 2");
	assert_get(msg, "PV1", 3, 1, 4, 1, "RXC02");
	free(msg);
	free(text);
}

static void
test_formatting_escapes_are_dropped(void **state)
{
	struct hl7_message *msg =
	    parse_ok("MSH|^~\\&|A|B\rZZZ|\\H\\Bold\\N\\ text|a\\.br\\b|\\Zlocal\\x|\\C2842\\y\r");

	(void)state;
	assert_get(msg, "ZZZ", 1, 1, 1, 1, "Bold text");
	assert_get(msg, "ZZZ", 2, 1, 1, 1, "ab");
	assert_get(msg, "ZZZ", 3, 1, 1, 1, "x");
	assert_get(msg, "ZZZ", 4, 1, 1, 1, "y");
	free(msg);
}

static void
test_malformed_escapes_are_errors(void **state)
{
	struct hl7_message *msg = parse_ok(
	    "MSH|^~\\&|A|B\rZZZ|open\\F|\\X4\\|\\XZZ\\|\\X00\\|a\\\\b|ok\r");
	char out[32];

	(void)state;
	for (unsigned field = 1; field <= 5; field++) {
		assert_int_equal(hl7_get(msg, "ZZZ", 1, field, 1, 1, 1, out, sizeof(out)),
		    -EBADMSG);
		assert_string_equal(out, "");
	}
	assert_int_equal(hl7_get(msg, "ZZZ", 1, 6, 1, 1, 1, out, sizeof(out)), 2);
	free(msg);
}

static void
test_subcomponent_escape_without_subcomponent_separator_is_an_error(void **state)
{
	struct hl7_message *msg = parse_ok("MSH|^~\\|A|B\rZZZ|a&b|a\\T\\b\r");
	char out[32];

	(void)state;
	assert_int_equal(msg->encoding.subcomponent, '\0');
	assert_get(msg, "ZZZ", 1, 1, 1, 1, "a&b");
	assert_int_equal(hl7_get(msg, "ZZZ", 1, 2, 1, 1, 1, out, sizeof(out)), -EBADMSG);
	free(msg);
}

static void
test_value_too_long_for_the_buffer_is_enospc(void **state)
{
	struct hl7_message *msg = parse_ok("MSH|^~\\&|A|B\rZZZ|abcdef|a\\X4142\\\r");
	char out[6];

	(void)state;
	assert_int_equal(hl7_get(msg, "ZZZ", 1, 1, 1, 1, 1, out, sizeof(out)), -ENOSPC);
	assert_string_equal(out, "");
	assert_int_equal(hl7_get(msg, "ZZZ", 1, 2, 1, 1, 1, out, 3), -ENOSPC);
	assert_int_equal(hl7_get(msg, "ZZZ", 1, 2, 1, 1, 1, out, 4), 3);
	assert_string_equal(out, "aAB");
	free(msg);
}

static void
test_get_rejects_zero_positions(void **state)
{
	struct hl7_message *msg = parse_ok("MSH|^~\\&|A|B\r");
	char out[8];

	(void)state;
	assert_int_equal(hl7_get(msg, "MSH", 1, 0, 1, 1, 1, out, sizeof(out)), -EINVAL);
	assert_int_equal(hl7_get(msg, "MSH", 1, 3, 0, 1, 1, out, sizeof(out)), -EINVAL);
	assert_int_equal(hl7_get(msg, "MSH", 1, 3, 1, 0, 1, out, sizeof(out)), -EINVAL);
	assert_int_equal(hl7_get(msg, "MSH", 1, 3, 1, 1, 0, out, sizeof(out)), -EINVAL);
	assert_int_equal(hl7_get(msg, "MSH", 1, 3, 1, 1, 1, out, 0), -EINVAL);
	assert_int_equal(hl7_get(msg, "MSH", 0, 3, 1, 1, 1, out, sizeof(out)), 0);
	free(msg);
}

static void
test_escape_is_the_inverse_of_get(void **state)
{
	const char *plain = "A&B|C^D~E\\F\rG#H";
	struct hl7_encoding enc = { '|', '^', '~', '\\', '&', '#' };
	char escaped[128], message[256];
	struct hl7_message *msg;

	(void)state;
	assert_true(hl7_escape(&enc, plain, escaped, sizeof(escaped)) > 0);
	assert_string_equal(escaped, "A\\T\\B\\F\\C\\S\\D\\R\\E\\E\\F\\X0D\\G\\P\\H");
	snprintf(message, sizeof(message), "MSH|^~\\&#|A|B\rZZZ|%s\r", escaped);
	msg = parse_ok(message);
	assert_get(msg, "ZZZ", 1, 1, 1, 1, plain);
	assert_int_equal(hl7_escape(&enc, plain, escaped, 5), -ENOSPC);
	free(msg);
}

static void
test_escape_never_writes_a_control_byte_raw(void **state)
{
	/* 0x0B or 0x1C written raw would break the ACK's MLLP framing. */
	struct hl7_encoding with_escape = { '|', '^', '~', '\\', '&', '\0' };
	struct hl7_encoding without = { ':', '^', '~', '\0', '\0', '\0' };
	char escaped[64];

	(void)state;
	assert_true(hl7_escape(&with_escape, "A\x1c" "B\x0b" "C\x01", escaped, sizeof(escaped)) > 0);
	assert_string_equal(escaped, "A\\X1C\\B\\X0B\\C\\X01\\");
	assert_true(hl7_escape(&without, "A\x1c" "B\x0b" "C", escaped, sizeof(escaped)) > 0);
	assert_string_equal(escaped, "A B C");
}

static void
test_escape_without_an_escape_character_writes_delimiters_as_spaces(void **state)
{
	/* MSH:^~: gives no escape character: the ':' of our own text must not
	 * split the field it goes in. */
	struct hl7_encoding enc = { ':', '^', '~', '\0', '\0', '\0' };
	char escaped[64], message[128];
	struct hl7_message *msg;

	(void)state;
	assert_int_equal(hl7_escape(&enc, "PID-3: a^b~c\rd\\e", escaped, sizeof(escaped)), 16);
	assert_string_equal(escaped, "PID-3  a b c d\\e");
	snprintf(message, sizeof(message), "MSH:^~:A:B\rZZZ:%s:next\r", escaped);
	msg = parse_ok(message);
	assert_get(msg, "ZZZ", 1, 1, 1, 1, "PID-3  a b c d\\e");
	assert_get(msg, "ZZZ", 2, 1, 1, 1, "next");
	free(msg);
}

/* ------------------------------------------------------------ errors */

static void
assert_parse_fails(const char *text, size_t len, const char *field)
{
	struct hl7_message *msg = malloc(sizeof(*msg));
	struct hl7_error err;

	assert_non_null(msg);
	assert_int_equal(hl7_parse(msg, text, len, &err), -EBADMSG);
	assert_string_equal(err.field, field);
	assert_true(strlen(err.text) > 0);
	assert_true(err.code >= 100);
	free(msg);
}

static void
test_message_without_msh_is_refused(void **state)
{
	size_t len;
	char *text = read_sample("bad_no_msh.hl7", &len);

	(void)state;
	assert_parse_fails(text, len, "MSH");
	assert_parse_fails("", 0, "MSH");
	assert_parse_fails("\r\n\r\n", 4, "MSH");
	free(text);
}

static void
test_a_batch_is_refused_saying_so(void **state)
{
	static const char *const batches[] = {
		"FHS|^~\\&\rBHS|^~\\&\rMSH|^~\\&|A\rBTS|1\rFTS|1\r",
		"BHS|^~\\&\rMSH|^~\\&|A\rBTS|1\r",
	};
	struct hl7_message *msg = malloc(sizeof(*msg));
	struct hl7_error err;

	(void)state;
	assert_non_null(msg);
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(hl7_parse(msg, batches[i], strlen(batches[i]), &err), -EBADMSG);
		assert_string_equal(err.field, i == 0 ? "FHS" : "BHS");
		assert_int_equal(err.code, HL7_ERROR_SEGMENT_SEQUENCE);
		assert_non_null(strstr(err.text, "a batch"));
	}
	free(msg);
}

/* A byte order mark is invisible in most viewers: the error names it, so
 * that "does not start with MSH" does not send the sender looking at an
 * MSH that is there. */
static void
test_a_byte_order_mark_before_msh_is_named(void **state)
{
	static const char text[] = "\xEF\xBB\xBFMSH|^~\\&|PAS\r";
	struct hl7_message *msg = malloc(sizeof(*msg));
	struct hl7_error err;

	(void)state;
	assert_non_null(msg);
	assert_int_equal(hl7_parse(msg, text, strlen(text), &err), -EBADMSG);
	assert_string_equal(err.field, "MSH");
	assert_int_equal(err.code, HL7_ERROR_SEGMENT_SEQUENCE);
	assert_non_null(strstr(err.text, "byte order mark"));
	free(msg);
}

static void
test_bad_encoding_characters_are_refused(void **state)
{
	(void)state;
	assert_parse_fails("MSH", 3, "MSH-1");
	assert_parse_fails("MSHA^~\\&|", 9, "MSH-1");
	assert_parse_fails("MSH||A|B", 8, "MSH-2");
	assert_parse_fails("MSH|^|A|B", 9, "MSH-2");
	assert_parse_fails("MSH|^^\\&|A|B", 12, "MSH-2");
	assert_parse_fails("MSH|^~\\&#!|A|B", 14, "MSH-2");
	assert_parse_fails("MSH|^~a&|A|B", 12, "MSH-2");
}

static void
test_bad_segments_are_refused_naming_where(void **state)
{
	const char nul[] = "MSH|^~\\&|A|B\rPID|1\0x\r";

	(void)state;
	assert_parse_fails("MSH|^~\\&|A|B\rpid|1\r", 19, "");
	assert_parse_fails("MSH|^~\\&|A|B\rPI|1\r", 18, "");
	assert_parse_fails("MSH|^~\\&|A|B\rPIDX|1\r", 20, "");
	assert_parse_fails("MSH|^~\\&|A|B\rMSH|^~\\&|C|D\r", 26, "MSH");
	assert_parse_fails(nul, sizeof(nul) - 1, "PID-1");
}

/* A NUL byte is refused naming the field it is in and its byte, and the
 * header before it is read, so that the AE can be matched to the message. */
static void
test_a_nul_byte_is_refused_naming_its_place_with_the_header_read(void **state)
{
	static const struct {
		const char *text;
		size_t len;
		const char *field, *at, *msh_10;
		bool has_header;
		size_t segments;
	} cases[] = {
		/* In a Z-segment: MSH and EVN are read. */
		{ "MSH|^~\\&|PAS|RXC|||20260510||ADT^A01|C-NUL|P|2.4\rEVN|A01\rZZZ|a|b\0c\r", 67,
		    "ZZZ-2", "byte 65 ", "C-NUL", true, 2 },
		/* In MSH-12: the header is read as far as the NUL. */
		{ "MSH|^~\\&|PAS|RXC|||20260510||ADT^A01|C-NUL|P|2\0.4\rEVN|A01\r", 58, "MSH-12",
		    "byte 47 ", "C-NUL", true, 1 },
		/* In MSH-2 or MSH-1: no header to read. */
		{ "MSH|^~\0&|PAS\r", 13, "MSH-2", "byte 7 ", "", false, 0 },
		{ "MSH\0^~\\&|PAS\r", 13, "MSH-1", "byte 4 ", "", false, 0 },
		/* In a segment id: the segment's number says where. */
		{ "MSH|^~\\&|PAS\rEVN|A01\rP\0D|1\r", 27, "", "(segment 3)", "", true, 2 },
	};
	struct hl7_message *msg = malloc(sizeof(*msg));
	struct hl7_error err;

	(void)state;
	assert_non_null(msg);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(cases[i].text[cases[i].len - 1], '\r');
		assert_int_equal(hl7_parse(msg, cases[i].text, cases[i].len, &err), -EBADMSG);
		assert_string_equal(err.field, cases[i].field);
		assert_int_equal(err.code, HL7_ERROR_DATA_TYPE);
		if (strstr(err.text, "a NUL byte (0x00)") == NULL ||
		    strstr(err.text, cases[i].at) == NULL)
			fail_msg("case %zu: %s", i, err.text);
		assert_int_equal(msg->has_header, cases[i].has_header);
		assert_int_equal(msg->n_segments, cases[i].segments);
		if (cases[i].has_header)
			assert_get(msg, "MSH", 10, 1, 1, 1, cases[i].msh_10);
	}
	free(msg);
}

static void
test_failed_parse_keeps_the_header_for_the_ack(void **state)
{
	const char *text = "MSH|^~\\&|EPIC|ESHT|ICS|ICS|20260115||ADT^A01|C1|P|2.5\rpv1|x\r";
	struct hl7_message *msg = malloc(sizeof(*msg));
	struct hl7_error err;

	(void)state;
	assert_int_equal(hl7_parse(msg, text, strlen(text), &err), -EBADMSG);
	assert_true(msg->has_header);
	assert_int_equal(msg->n_segments, 1);
	assert_get(msg, "MSH", 10, 1, 1, 1, "C1");
	free(msg);
}

static void
test_truncated_message_parses_as_far_as_it_goes(void **state)
{
	size_t len;
	char *text = read_sample("bad_truncated.hl7", &len);
	struct hl7_message *msg = malloc(sizeof(*msg));
	struct hl7_error err;

	(void)state;
	assert_int_equal(hl7_parse(msg, text, len, &err), 0);
	assert_int_equal(msg->n_segments, 2);
	assert_int_equal(hl7_count_segments(msg, "PID"), 0);
	assert_get(msg, "EVN", 2, 1, 1, 1, "2026011509");
	free(msg);
	free(text);
}

/* A message of n copies of seg after its header; the caller frees it. */
static char *
repeated(const char *head, const char *seg, size_t n)
{
	size_t len = strlen(head) + n * strlen(seg) + 1;
	char *text = malloc(len);

	assert_non_null(text);
	strcpy(text, head);
	for (size_t i = 0; i < n; i++)
		strcat(text, seg);
	return text;
}

static void
test_bounds_on_segments_fields_repetitions_and_components(void **state)
{
	char *text;

	(void)state;
	text = repeated("MSH|^~\\&|A|B\r", "NTE|1\r", HL7_SEGMENTS_MAX - 1);
	free(parse_ok(text));
	free(text);
	text = repeated("MSH|^~\\&|A|B\r", "NTE|1\r", HL7_SEGMENTS_MAX);
	assert_parse_fails(text, strlen(text), "NTE");
	free(text);

	text = repeated("MSH|^~\\&|A|B\rZZZ", "|", HL7_FIELDS_MAX);
	free(parse_ok(text));
	free(text);
	text = repeated("MSH|^~\\&|A|B\rZZZ", "|", HL7_FIELDS_MAX + 1);
	assert_parse_fails(text, strlen(text), "ZZZ-257");
	free(text);
	/* MSH counts MSH-1 and MSH-2 among its fields. */
	text = repeated("MSH|^~\\&", "|", HL7_FIELDS_MAX - 2);
	free(parse_ok(text));
	free(text);
	text = repeated("MSH|^~\\&", "|", HL7_FIELDS_MAX - 1);
	assert_parse_fails(text, strlen(text), "MSH-257");
	free(text);

	text = repeated("MSH|^~\\&|A|B\rPID|1||", "~", HL7_REPETITIONS_MAX);
	assert_parse_fails(text, strlen(text), "PID-3");
	free(text);
	text = repeated("MSH|^~\\&|A|B\rPID|1||", "^", HL7_COMPONENTS_MAX);
	assert_parse_fails(text, strlen(text), "PID-3");
	free(text);
	text = repeated("MSH|^~\\&|A|B\rPID|1||", "&", HL7_SUBCOMPONENTS_MAX);
	assert_parse_fails(text, strlen(text), "PID-3");
	free(text);
}

static void
test_field_longer_than_the_bound_is_refused(void **state)
{
	size_t n = HL7_FIELD_MAX_BYTES + 1;
	char *text = malloc(n + 32);

	(void)state;
	strcpy(text, "MSH|^~\\&|A|B\rZZZ|1|");
	memset(text + strlen(text), 'x', n);
	text[19 + n] = '\0';
	assert_parse_fails(text, strlen(text), "ZZZ-2");
	text[19 + n - 1] = '\0';
	free(parse_ok(text));
	free(text);
}

/* ------------------------------------------------------------ times */

static void
assert_time(const char *text, int64_t expected)
{
	int64_t ms = 0;

	assert_int_equal(hl7_parse_time(text, &ms), 0);
	assert_int_equal(ms, expected);
}

static void
test_winter_local_time_is_utc(void **state)
{
	(void)state;
	assert_time("20260115091500", 1768468500000LL);
	assert_time("202601150915", 1768468500000LL);
}

static void
test_summer_local_time_is_an_hour_ahead_of_utc(void **state)
{
	(void)state;
	assert_time("20260710143000", 1783690200000LL);
}

static void
test_explicit_offsets_are_honoured(void **state)
{
	(void)state;
	assert_time("20260115091500+0000", 1768468500000LL);
	assert_time("20260710143000+0100", 1783690200000LL);
	assert_time("20260115041500-0500", 1768468500000LL);
	assert_time("20260115144500+0530", 1768468500000LL);
	/* An offset overrides London's rules, even in summer. */
	assert_time("20260710133000+0000", 1783690200000LL);
}

static void
test_partial_times_take_the_start_of_their_range(void **state)
{
	(void)state;
	assert_time("2026", 1767225600000LL);
	assert_time("202601", 1767225600000LL);
	assert_time("20260101", 1767225600000LL);
	assert_time("2026010100", 1767225600000LL);
}

static void
test_fractions_of_a_second_give_milliseconds(void **state)
{
	(void)state;
	assert_time("20260115091500.1", 1768468500100LL);
	assert_time("20260115091500.1234", 1768468500123LL);
	assert_time("20260115091500.123456789", 1768468500123LL);
	assert_time("20260115091500.5+0000", 1768468500500LL);
}

static void
test_october_repeated_hour_is_the_first_bst_one(void **state)
{
	(void)state;
	/* 25 October 2026: 01:30 happens at 00:30 UTC (BST), then 01:30 UTC. */
	assert_time("20261025013000", 1792888200000LL);
	assert_time("20261025005959", 1792886399000LL);
	assert_time("20261025020000", 1792893600000LL);
}

static void
test_march_missing_hour_is_read_as_gmt(void **state)
{
	(void)state;
	/* 29 March 2026: 01:00 GMT becomes 02:00 BST; 01:30 never happens. */
	assert_time("20260329005900", 1774745940000LL);
	assert_time("20260329013000", 1774747800000LL);
	assert_time("20260329020000", 1774746000000LL);
}

static void
test_malformed_times_are_refused(void **state)
{
	static const char *bad[] = {
		"",
		"abcd",
		"202",
		"20260",
		"2026011",
		"20261301",
		"20260231",
		"20260229",
		"2026011524",
		"202601150960",
		"20260115091560",
		"20260115 0915",
		"20260115091500.",
		"202601150915.5",
		"20260115091500+01",
		"20260115091500+1500",
		"20260115091500+0160",
		"20260115091500Z",
		"20260115091500.1234567890",
		"0000",
	};
	int64_t ms = 42;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (hl7_parse_time(bad[i], &ms) != -EINVAL)
			fail_msg("\"%s\" was accepted as a time", bad[i]);
	}
	assert_int_equal(ms, 42);
	assert_int_equal(hl7_parse_time(NULL, &ms), -EINVAL);
	assert_time("20280229", 1835395200000LL);
}

/* ------------------------------------------------------------ versions */

static void
test_version_ids_are_read(void **state)
{
	unsigned major, minor, patch;

	(void)state;
	assert_int_equal(hl7_parse_version("2.5.1", &major, &minor, &patch), 0);
	assert_int_equal(major, 2);
	assert_int_equal(minor, 5);
	assert_int_equal(patch, 1);
	assert_int_equal(hl7_parse_version("2.3", &major, &minor, &patch), 0);
	assert_int_equal(minor, 3);
	assert_int_equal(patch, 0);
	assert_int_equal(hl7_parse_version("2", &major, &minor, &patch), -EINVAL);
	assert_int_equal(hl7_parse_version("2.", &major, &minor, &patch), -EINVAL);
	assert_int_equal(hl7_parse_version("2.5.1.1", &major, &minor, &patch), -EINVAL);
	assert_int_equal(hl7_parse_version("v2.5", &major, &minor, &patch), -EINVAL);
	assert_int_equal(hl7_parse_version("", &major, &minor, &patch), -EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_reads_default_encoding_from_msh_1_and_msh_2),
		cmocka_unit_test(test_header_length_covers_the_first_segment_alone),
		cmocka_unit_test(test_get_reads_repetitions_components_and_subcomponents),
		cmocka_unit_test(test_field_without_separators_is_its_own_first_part),
		cmocka_unit_test(test_non_default_component_separator_is_read_from_msh_2),
		cmocka_unit_test(test_v27_truncation_character_is_data),
		cmocka_unit_test(test_entirely_custom_delimiters_are_honoured),
		cmocka_unit_test(test_lf_crlf_and_cr_separate_segments_alike),
		cmocka_unit_test(test_empty_and_null_fields_read_as_empty),
		cmocka_unit_test(test_z_segments_and_repeated_segments_are_indexed),
		cmocka_unit_test(test_raw_field_points_into_the_buffer),
		cmocka_unit_test(test_escapes_give_the_delimiters),
		cmocka_unit_test(test_escape_never_writes_a_control_byte_raw),
		cmocka_unit_test(test_escape_without_an_escape_character_writes_delimiters_as_spaces),
		cmocka_unit_test(test_escapes_follow_the_message_delimiters),
		cmocka_unit_test(test_hex_escape_gives_bytes),
		cmocka_unit_test(test_ward_name_escapes_are_unescaped),
		cmocka_unit_test(test_formatting_escapes_are_dropped),
		cmocka_unit_test(test_malformed_escapes_are_errors),
		cmocka_unit_test(test_subcomponent_escape_without_subcomponent_separator_is_an_error),
		cmocka_unit_test(test_value_too_long_for_the_buffer_is_enospc),
		cmocka_unit_test(test_get_rejects_zero_positions),
		cmocka_unit_test(test_escape_is_the_inverse_of_get),
		cmocka_unit_test(test_message_without_msh_is_refused),
		cmocka_unit_test(test_a_batch_is_refused_saying_so),
		cmocka_unit_test(test_a_byte_order_mark_before_msh_is_named),
		cmocka_unit_test(test_bad_encoding_characters_are_refused),
		cmocka_unit_test(test_bad_segments_are_refused_naming_where),
		cmocka_unit_test(test_a_nul_byte_is_refused_naming_its_place_with_the_header_read),
		cmocka_unit_test(test_failed_parse_keeps_the_header_for_the_ack),
		cmocka_unit_test(test_truncated_message_parses_as_far_as_it_goes),
		cmocka_unit_test(test_bounds_on_segments_fields_repetitions_and_components),
		cmocka_unit_test(test_field_longer_than_the_bound_is_refused),
		cmocka_unit_test(test_winter_local_time_is_utc),
		cmocka_unit_test(test_summer_local_time_is_an_hour_ahead_of_utc),
		cmocka_unit_test(test_explicit_offsets_are_honoured),
		cmocka_unit_test(test_partial_times_take_the_start_of_their_range),
		cmocka_unit_test(test_fractions_of_a_second_give_milliseconds),
		cmocka_unit_test(test_october_repeated_hour_is_the_first_bst_one),
		cmocka_unit_test(test_march_missing_hour_is_read_as_gmt),
		cmocka_unit_test(test_malformed_times_are_refused),
		cmocka_unit_test(test_version_ids_are_read),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
