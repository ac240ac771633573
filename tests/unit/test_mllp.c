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
/* The limit find() gives mllp_find: above every message here (the limit
 * itself is tested apart, with mllp_find). */
#define MAX_MESSAGE 1000

/* One call of mllp_find, and the message it found as text. */
struct found {
	enum mllp_status status;
	size_t at, len, consumed, skipped;
	char message[64];
};

/* mllp_find over buf[0, n), checked: a frame lies inside what it consumed. */
static struct found
find(const char *buf, size_t n)
{
	struct found f = { 0 };

	f.status = mllp_find((const uint8_t *)buf, n, MAX_MESSAGE, &f.at, &f.len, &f.consumed,
	    &f.skipped);
	assert_true(f.consumed <= n);
	assert_true(f.skipped <= f.consumed);
	if (f.status == MLLP_FRAME || f.status == MLLP_UNENDED) {
		assert_true(f.at + f.len <= f.consumed);
		assert_true(f.len < sizeof(f.message));
		memcpy(f.message, buf + f.at, f.len);
	}
	return f;
}

/*
 * Walk a stream of frames with no junk between them as hl7_on_read does:
 * mllp_find again past what each call consumed, until one asks for more.
 * The calls go in out (at most max_calls, the last one's status
 * MLLP_MORE); returns how many. Each frame must start where the one
 * before it was consumed to: nothing is skipped.
 */
static size_t
walk(const char *buf, struct found *out, size_t max_calls)
{
	size_t calls = 0, done = 0, n = strlen(buf);

	while (calls < max_calls) {
		out[calls] = find(buf + done, n - done);
		assert_int_equal(out[calls].skipped, 0);
		done += out[calls].consumed;
		if (out[calls++].status == MLLP_MORE)
			break;
	}
	assert_int_equal(done, n);
	return calls;
}

static void
assert_found(const struct found *f, enum mllp_status status, const char *message)
{
	assert_int_equal(f->status, status);
	assert_int_equal(f->len, strlen(message));
	assert_string_equal(f->message, message);
}

static void
test_a_whole_frame_is_found_and_consumed(void **state)
{
	const char *buf = FRAME("MSH|^~\\&|A");
	struct found f = find(buf, strlen(buf));

	(void)state;
	assert_found(&f, MLLP_FRAME, "MSH|^~\\&|A");
	assert_int_equal(f.at, 1);
	assert_int_equal(f.consumed, strlen(buf));
	assert_int_equal(f.skipped, 0);
}

static void
test_a_partial_frame_asks_for_more_and_consumes_nothing(void **state)
{
	const char *buf = "\x0bMSH|^~\\&|A\x1c";
	struct found f = find(buf, strlen(buf));

	(void)state;
	assert_int_equal(f.status, MLLP_MORE);
	assert_int_equal(f.consumed, 0);
}

static void
test_two_frames_in_one_read_come_one_after_the_other(void **state)
{
	struct found f[4];

	(void)state;
	assert_int_equal(walk(FRAME("ONE") FRAME("TWO"), f, 4), 3);
	assert_found(&f[0], MLLP_FRAME, "ONE");
	assert_found(&f[1], MLLP_FRAME, "TWO");
	assert_int_equal(f[2].status, MLLP_MORE);
}

static void
test_junk_before_a_frame_is_skipped(void **state)
{
	const char *buf = "\r\n  " FRAME("MSG");
	struct found f = find(buf, strlen(buf));

	(void)state;
	assert_found(&f, MLLP_FRAME, "MSG");
	assert_int_equal(f.skipped, 4);
	/* Only junk: all of it may go. */
	f = find("\r\n", 2);
	assert_int_equal(f.status, MLLP_MORE);
	assert_int_equal(f.consumed, 2);
	assert_int_equal(f.skipped, 2);
}

static void
test_a_start_byte_inside_a_frame_begins_the_next_frame(void **state)
{
	struct found f[4];

	(void)state;
	/* ONE lost its end block (or sent 1C 0A): TWO must still be read. */
	assert_int_equal(walk("\x0b" "ONE\x1c\x0a" FRAME("TWO"), f, 4), 3);
	assert_found(&f[0], MLLP_UNENDED, "ONE\x1c\x0a");
	assert_int_equal(f[0].at, 1);
	assert_int_equal(f[0].consumed, 6);
	assert_found(&f[1], MLLP_FRAME, "TWO");
	assert_int_equal(f[2].status, MLLP_MORE);
}

static void
test_a_doubled_start_byte_is_an_empty_unended_frame(void **state)
{
	struct found f[4];

	(void)state;
	assert_int_equal(walk("\x0b" FRAME("MSG"), f, 4), 3);
	assert_found(&f[0], MLLP_UNENDED, "");
	assert_int_equal(f[0].consumed, 1);
	assert_found(&f[1], MLLP_FRAME, "MSG");
	assert_int_equal(f[2].status, MLLP_MORE);
}

static void
test_a_doubled_end_byte_ends_the_frame_as_one(void **state)
{
	struct found f[4];

	(void)state;
	/* 0x1C is never data: the message is not "MSH|A\r\x1c". */
	assert_int_equal(walk("\x0b" "MSH|A\r\x1c" "\x1c\x0d" FRAME("TWO"), f, 4), 3);
	assert_found(&f[0], MLLP_FRAME, "MSH|A\r");
	assert_int_equal(f[0].consumed, 10);
	assert_found(&f[1], MLLP_FRAME, "TWO");
	assert_int_equal(f[2].status, MLLP_MORE);
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
		cmocka_unit_test(test_a_doubled_end_byte_ends_the_frame_as_one),
		cmocka_unit_test(test_a_frame_longer_than_the_limit_is_refused),
		cmocka_unit_test(test_wrap_frames_a_message),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
