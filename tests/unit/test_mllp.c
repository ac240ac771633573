/*
 * test_mllp: MLLP framing: whole frames, partial reads, several frames in
 * one read, junk between frames, a frame cut short by the next start
 * byte, and frames too large to take.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "mllp.h"

#define FRAME(text) "\x0b" text "\x1c\x0d"

static void
test_a_whole_frame_is_found_and_consumed(void **state)
{
	const char *buf = FRAME("MSH|^~\\&|A");
	size_t at, len, consumed, skipped;

	(void)state;
	assert_int_equal(mllp_find((const uint8_t *)buf, strlen(buf), 1000, &at, &len, &consumed,
			     &skipped),
	    MLLP_FRAME);
	assert_int_equal(at, 1);
	assert_int_equal(len, strlen("MSH|^~\\&|A"));
	assert_int_equal(consumed, strlen(buf));
	assert_int_equal(skipped, 0);
}

static void
test_a_partial_frame_asks_for_more_and_consumes_nothing(void **state)
{
	const char *buf = "\x0bMSH|^~\\&|A\x1c";
	size_t at, len, consumed, skipped;

	(void)state;
	assert_int_equal(mllp_find((const uint8_t *)buf, strlen(buf), 1000, &at, &len, &consumed,
			     &skipped),
	    MLLP_MORE);
	assert_int_equal(consumed, 0);
}

static void
test_two_frames_in_one_read_come_one_after_the_other(void **state)
{
	const char *buf = FRAME("ONE") FRAME("TWO");
	size_t at, len, consumed, skipped, n = strlen(buf);

	(void)state;
	assert_int_equal(mllp_find((const uint8_t *)buf, n, 1000, &at, &len, &consumed, &skipped),
	    MLLP_FRAME);
	assert_memory_equal(buf + at, "ONE", len);
	buf += consumed;
	n -= consumed;
	assert_int_equal(mllp_find((const uint8_t *)buf, n, 1000, &at, &len, &consumed, &skipped),
	    MLLP_FRAME);
	assert_memory_equal(buf + at, "TWO", len);
	assert_int_equal(consumed, n);
}

static void
test_junk_before_a_frame_is_skipped(void **state)
{
	const char *buf = "\r\n  " FRAME("MSG");
	size_t at, len, consumed, skipped;

	(void)state;
	assert_int_equal(mllp_find((const uint8_t *)buf, strlen(buf), 1000, &at, &len, &consumed,
			     &skipped),
	    MLLP_FRAME);
	assert_int_equal(skipped, 4);
	assert_memory_equal(buf + at, "MSG", 3);
	/* Only junk: all of it may go. */
	assert_int_equal(mllp_find((const uint8_t *)"\r\n", 2, 1000, &at, &len, &consumed,
			     &skipped),
	    MLLP_MORE);
	assert_int_equal(consumed, 2);
}

static void
test_a_start_byte_inside_a_frame_begins_the_next_frame(void **state)
{
	/* ONE lost its end block (or sent 1C 0A): TWO must still be read. */
	const char *buf = "\x0b" "ONE\x1c\x0a" FRAME("TWO");
	size_t at, len, consumed, skipped, n = strlen(buf);

	(void)state;
	assert_int_equal(mllp_find((const uint8_t *)buf, n, 1000, &at, &len, &consumed, &skipped),
	    MLLP_UNENDED);
	assert_int_equal(at, 1);
	assert_memory_equal(buf + at, "ONE\x1c\x0a", len);
	assert_int_equal(consumed, 6);
	buf += consumed;
	n -= consumed;
	assert_int_equal(mllp_find((const uint8_t *)buf, n, 1000, &at, &len, &consumed, &skipped),
	    MLLP_FRAME);
	assert_memory_equal(buf + at, "TWO", len);
	assert_int_equal(consumed, n);
}

static void
test_a_doubled_start_byte_is_an_empty_unended_frame(void **state)
{
	const char *buf = "\x0b" FRAME("MSG");
	size_t at, len, consumed, skipped;

	(void)state;
	assert_int_equal(mllp_find((const uint8_t *)buf, strlen(buf), 1000, &at, &len, &consumed,
			     &skipped),
	    MLLP_UNENDED);
	assert_int_equal(len, 0);
	assert_int_equal(consumed, 1);
	assert_int_equal(mllp_find((const uint8_t *)buf + 1, strlen(buf) - 1, 1000, &at, &len,
			     &consumed, &skipped),
	    MLLP_FRAME);
	assert_memory_equal(buf + 1 + at, "MSG", 3);
}

static void
test_a_frame_longer_than_the_limit_is_refused(void **state)
{
	uint8_t buf[64];
	size_t at, len, consumed, skipped;

	(void)state;
	memset(buf, 'x', sizeof(buf));
	buf[0] = MLLP_START;
	assert_int_equal(mllp_find(buf, sizeof(buf), 16, &at, &len, &consumed, &skipped),
	    MLLP_TOO_LARGE);
}

static void
test_wrap_frames_a_message(void **state)
{
	uint8_t out[16];

	(void)state;
	assert_int_equal(mllp_wrap("ACK", 3, out, sizeof(out)), 6);
	assert_memory_equal(out, "\x0b" "ACK\x1c\x0d", 6);
	assert_int_equal(mllp_wrap("ACK", 3, out, 5), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_whole_frame_is_found_and_consumed),
		cmocka_unit_test(test_a_partial_frame_asks_for_more_and_consumes_nothing),
		cmocka_unit_test(test_two_frames_in_one_read_come_one_after_the_other),
		cmocka_unit_test(test_junk_before_a_frame_is_skipped),
		cmocka_unit_test(test_a_start_byte_inside_a_frame_begins_the_next_frame),
		cmocka_unit_test(test_a_doubled_start_byte_is_an_empty_unended_frame),
		cmocka_unit_test(test_a_frame_longer_than_the_limit_is_refused),
		cmocka_unit_test(test_wrap_frames_a_message),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
