/*
 * test_log: one fact is one line. A value quoted into a message cannot
 * start a line of its own (journald would take "<0>" at its start as the
 * line's priority).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

/* What the calls of fn write to stderr, into out. */
static void
captured(void (*fn)(void), char *out, size_t size)
{
	FILE *tmp = tmpfile();
	int saved;
	size_t n;

	assert_non_null(tmp);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	assert_true(saved >= 0);
	assert_true(dup2(fileno(tmp), STDERR_FILENO) >= 0);
	fn();
	fflush(stderr);
	assert_true(dup2(saved, STDERR_FILENO) >= 0);
	close(saved);
	rewind(tmp);
	n = fread(out, 1, size - 1, tmp);
	out[n] = '\0';
	fclose(tmp);
}

static void
log_forged(void)
{
	/* An id as a sender might choose it, quoted into a warning. */
	log_warning("hl7: refused event id %s", "X\n<0>commissiond: store destroyed\r\x1b[2J\x7f");
	log_info("tabs\tstay");
}

static void
test_a_quoted_value_cannot_start_a_line_of_its_own(void **state)
{
	char out[1024];

	(void)state;
	log_init("test_log", LOG_LEVEL_INFO);
	captured(log_forged, out, sizeof(out));
	assert_string_equal(out, "<4>test_log: hl7: refused event id X?<0>commissiond: store "
				 "destroyed??[2J?\n"
				 "<6>test_log: tabs\tstay\n");
}

static void
log_backlog(void)
{
	for (int i = 0; i < 30; i++) {
		log_info("spool: file-%d: taken", i);
		log_record("spool: file-%d: 1 rows", i);
	}
}

/* Lines of one kind past 20 in 10 s are suppressed; a record of work
 * done (one a spool file) never is. */
static void
test_records_are_never_suppressed(void **state)
{
	static char out[16384];
	int taken = 0, rows = 0;

	(void)state;
	log_init("test_log", LOG_LEVEL_INFO);
	captured(log_backlog, out, sizeof(out));
	for (const char *p = out; (p = strstr(p, ": taken")) != NULL; p++)
		taken++;
	for (const char *p = out; (p = strstr(p, ": 1 rows")) != NULL; p++)
		rows++;
	assert_int_equal(taken, 20);
	assert_int_equal(rows, 30);
}

static void
log_long(void)
{
	/* "xy" then 1,000 two-byte characters: past the line, and the cut
	 * falls inside one of them. */
	static char value[2 + 2 * 1000 + 1];

	memcpy(value, "xy", 2);
	for (int i = 0; i < 1000; i++)
		memcpy(value + 2 + 2 * i, "\xc3\xa9", 2);
	log_info("spool: %s", value);
}

/* A line longer than the limit says that it was cut, and is cut between
 * characters of UTF-8. */
static void
test_a_line_cut_at_the_limit_says_so(void **state)
{
	static char out[4096], want[2048];
	size_t n = 0;

	(void)state;
	log_init("test_log", LOG_LEVEL_INFO);
	captured(log_long, out, sizeof(out));
	n += (size_t)snprintf(want, sizeof(want), "<6>test_log: spool: xy");
	/* 1,024 bytes less " [line cut]" with its NUL, less "spool: xy":
	 * 501 characters and the first byte of the next, which goes. */
	for (int i = 0; i < 501; i++, n += 2)
		memcpy(want + n, "\xc3\xa9", 2);
	snprintf(want + n, sizeof(want) - n, " [line cut]\n");
	assert_string_equal(out, want);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_quoted_value_cannot_start_a_line_of_its_own),
		cmocka_unit_test(test_records_are_never_suppressed),
		cmocka_unit_test(test_a_line_cut_at_the_limit_says_so),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
