/*
 * test_csv: the RFC 4180 reader: quotes, doubled quotes, embedded commas
 * and line breaks, CRLF/LF/CR, the byte order mark, empty fields, line
 * numbers, and each malformed record with the reader going on after it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"

struct fixture {
	struct csv_reader reader;
	struct csv_row row;
	struct csv_error err;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	free(*state);
	return 0;
}

static void
start(struct fixture *f, const char *text)
{
	csv_reader_init(&f->reader, text, strlen(text));
}

static int
next(struct fixture *f)
{
	return csv_reader_next(&f->reader, &f->row, &f->err);
}

static void
test_simple_record_splits_on_commas(void **state)
{
	struct fixture *f = *state;

	start(f, "a,b,c\n");
	assert_int_equal(next(f), 1);
	assert_int_equal(f->row.n_fields, 3);
	assert_string_equal(csv_row_field(&f->row, 0), "a");
	assert_string_equal(csv_row_field(&f->row, 1), "b");
	assert_string_equal(csv_row_field(&f->row, 2), "c");
	assert_int_equal(f->row.line, 1);
	assert_int_equal(next(f), 0);
}

static void
test_field_beyond_the_record_reads_empty(void **state)
{
	struct fixture *f = *state;

	start(f, "a\n");
	assert_int_equal(next(f), 1);
	assert_string_equal(csv_row_field(&f->row, 5), "");
}

static void
test_quoted_field_keeps_commas_and_doubled_quotes(void **state)
{
	struct fixture *f = *state;

	start(f, "\"Smith, J\",\"say \"\"hi\"\"\",\"\"\"\"\n");
	assert_int_equal(next(f), 1);
	assert_int_equal(f->row.n_fields, 3);
	assert_string_equal(csv_row_field(&f->row, 0), "Smith, J");
	assert_string_equal(csv_row_field(&f->row, 1), "say \"hi\"");
	assert_string_equal(csv_row_field(&f->row, 2), "\"");
}

static void
test_quoted_empty_field_is_empty(void **state)
{
	struct fixture *f = *state;

	start(f, "\"\",x\n");
	assert_int_equal(next(f), 1);
	assert_int_equal(f->row.n_fields, 2);
	assert_string_equal(csv_row_field(&f->row, 0), "");
}

static void
test_quoted_field_keeps_embedded_newlines_and_counts_lines(void **state)
{
	struct fixture *f = *state;

	start(f, "h1,h2\n\"line one\nline two\r\nline three\",x\nnext,y\n");
	assert_int_equal(next(f), 1);
	assert_int_equal(f->row.line, 1);
	assert_int_equal(next(f), 1);
	assert_int_equal(f->row.line, 2);
	assert_string_equal(csv_row_field(&f->row, 0), "line one\nline two\r\nline three");
	assert_string_equal(csv_row_field(&f->row, 1), "x");
	/* The record above took three physical lines. */
	assert_int_equal(next(f), 1);
	assert_int_equal(f->row.line, 5);
	assert_string_equal(csv_row_field(&f->row, 0), "next");
}

static void
test_crlf_and_lf_both_end_records(void **state)
{
	struct fixture *f = *state;

	start(f, "a,b\r\nc,d\ne,f\r\n");
	assert_int_equal(next(f), 1);
	assert_string_equal(csv_row_field(&f->row, 1), "b");
	assert_int_equal(next(f), 1);
	assert_int_equal(f->row.line, 2);
	assert_string_equal(csv_row_field(&f->row, 0), "c");
	assert_string_equal(csv_row_field(&f->row, 1), "d");
	assert_int_equal(next(f), 1);
	assert_int_equal(f->row.line, 3);
	assert_string_equal(csv_row_field(&f->row, 1), "f");
	assert_int_equal(next(f), 0);
}

static void
test_lone_cr_ends_a_record(void **state)
{
	struct fixture *f = *state;

	start(f, "a,b\rc,d\r");
	assert_int_equal(next(f), 1);
	assert_string_equal(csv_row_field(&f->row, 1), "b");
	assert_int_equal(next(f), 1);
	assert_int_equal(f->row.line, 2);
	assert_string_equal(csv_row_field(&f->row, 0), "c");
	assert_int_equal(next(f), 0);
}

static void
test_utf8_bom_is_skipped(void **state)
{
	struct fixture *f = *state;

	start(f, "\xef\xbb\xbfNHS Number,Council\r\n");
	assert_int_equal(next(f), 1);
	assert_string_equal(csv_row_field(&f->row, 0), "NHS Number");
	assert_int_equal(f->row.line, 1);
}

static void
test_bom_only_buffer_has_no_records(void **state)
{
	struct fixture *f = *state;

	start(f, "\xef\xbb\xbf");
	assert_int_equal(next(f), 0);
}

static void
test_empty_fields_are_kept(void **state)
{
	struct fixture *f = *state;

	start(f, "a,,c\n,\nx,y,\n");
	assert_int_equal(next(f), 1);
	assert_int_equal(f->row.n_fields, 3);
	assert_string_equal(csv_row_field(&f->row, 1), "");
	assert_int_equal(next(f), 1);
	assert_int_equal(f->row.n_fields, 2);
	assert_string_equal(csv_row_field(&f->row, 0), "");
	assert_string_equal(csv_row_field(&f->row, 1), "");
	assert_int_equal(next(f), 1);
	assert_int_equal(f->row.n_fields, 3);
	assert_string_equal(csv_row_field(&f->row, 2), "");
}

static void
test_comma_at_end_of_buffer_gives_an_empty_last_field(void **state)
{
	struct fixture *f = *state;

	start(f, "a,");
	assert_int_equal(next(f), 1);
	assert_int_equal(f->row.n_fields, 2);
	assert_string_equal(csv_row_field(&f->row, 1), "");
}

static void
test_last_record_without_trailing_newline_is_read(void **state)
{
	struct fixture *f = *state;

	start(f, "h\nlast,\"quoted\"");
	assert_int_equal(next(f), 1);
	assert_int_equal(next(f), 1);
	assert_int_equal(f->row.n_fields, 2);
	assert_string_equal(csv_row_field(&f->row, 1), "quoted");
	assert_int_equal(next(f), 0);
}

static void
test_trailing_newline_gives_no_extra_record(void **state)
{
	struct fixture *f = *state;

	start(f, "a\nb\n");
	assert_int_equal(next(f), 1);
	assert_int_equal(next(f), 1);
	assert_int_equal(next(f), 0);
	assert_int_equal(next(f), 0);
}

static void
test_empty_lines_are_skipped_and_still_counted(void **state)
{
	struct fixture *f = *state;

	start(f, "\r\n\na\n\n\r\nb\n\n");
	assert_int_equal(next(f), 1);
	assert_int_equal(f->row.line, 3);
	assert_int_equal(next(f), 1);
	assert_int_equal(f->row.line, 6);
	assert_string_equal(csv_row_field(&f->row, 0), "b");
	assert_int_equal(next(f), 0);
}

static void
test_empty_buffer_has_no_records(void **state)
{
	struct fixture *f = *state;

	start(f, "");
	assert_int_equal(next(f), 0);
}

static void
test_spaces_are_kept_as_data(void **state)
{
	struct fixture *f = *state;

	start(f, " a , b \n");
	assert_int_equal(next(f), 1);
	assert_string_equal(csv_row_field(&f->row, 0), " a ");
	assert_string_equal(csv_row_field(&f->row, 1), " b ");
}

static void
test_lone_quote_in_unquoted_field_is_an_error_and_reading_goes_on(void **state)
{
	struct fixture *f = *state;

	start(f, "h\nab\"c,d\nnext\n");
	assert_int_equal(next(f), 1);
	assert_int_equal(next(f), -1);
	assert_int_equal(f->err.line, 2);
	assert_non_null(strstr(f->err.reason, "field 1"));
	assert_non_null(strstr(f->err.reason, "quote inside an unquoted field"));
	assert_int_equal(next(f), 1);
	assert_int_equal(f->row.line, 3);
	assert_string_equal(csv_row_field(&f->row, 0), "next");
}

static void
test_text_after_closing_quote_is_an_error(void **state)
{
	struct fixture *f = *state;

	start(f, "x,\"ab\"c,d\nok\n");
	assert_int_equal(next(f), -1);
	assert_int_equal(f->err.line, 1);
	assert_non_null(strstr(f->err.reason, "field 2"));
	assert_non_null(strstr(f->err.reason, "after the closing quote"));
	assert_int_equal(next(f), 1);
	assert_string_equal(csv_row_field(&f->row, 0), "ok");
}

static void
test_unterminated_quote_is_an_error_at_the_record_start(void **state)
{
	struct fixture *f = *state;

	start(f, "h\nx,\"never closed\nmore\nlines\n");
	assert_int_equal(next(f), 1);
	assert_int_equal(next(f), -1);
	assert_int_equal(f->err.line, 2);
	assert_non_null(strstr(f->err.reason, "never closed"));
	/* The rest of the buffer was inside the quote. */
	assert_int_equal(next(f), 0);
}

/* A quote never closed with more than a field's worth of text after it
 * is reported as the quote, not as the field's length. */
static void
test_unterminated_quote_before_a_long_rest_is_reported_as_the_quote(void **state)
{
	struct fixture *f = *state;
	char text[8192];
	size_t n = (size_t)snprintf(text, sizeof(text), "h\nx,\"never closed\n");

	while (n + 16 < sizeof(text))
		n += (size_t)snprintf(text + n, sizeof(text) - n, "row,%05zu\n", n);
	start(f, text);
	assert_int_equal(next(f), 1);
	assert_int_equal(next(f), -1);
	assert_int_equal(f->err.line, 2);
	assert_non_null(strstr(f->err.reason, "field 2: the quote opened on line 2 is never closed"));
	assert_int_equal(next(f), 0);
}

static void
test_too_many_columns_is_an_error_and_reading_goes_on(void **state)
{
	struct fixture *f = *state;
	char text[CSV_MAX_COLUMNS * 2 + 32];
	size_t n = 0;

	for (int i = 0; i <= CSV_MAX_COLUMNS; i++) {
		text[n++] = 'x';
		text[n++] = i == CSV_MAX_COLUMNS ? '\n' : ',';
	}
	memcpy(text + n, "after\n", 7);
	start(f, text);
	assert_int_equal(next(f), -1);
	assert_int_equal(f->err.line, 1);
	assert_non_null(strstr(f->err.reason, "more than 256 fields"));
	assert_int_equal(next(f), 1);
	assert_string_equal(csv_row_field(&f->row, 0), "after");
}

static void
test_exactly_the_most_columns_is_read(void **state)
{
	struct fixture *f = *state;
	char text[CSV_MAX_COLUMNS * 2 + 1];
	size_t n = 0;

	for (int i = 0; i < CSV_MAX_COLUMNS; i++) {
		text[n++] = (char)('a' + i % 26);
		text[n++] = i == CSV_MAX_COLUMNS - 1 ? '\n' : ',';
	}
	text[n] = '\0';
	start(f, text);
	assert_int_equal(next(f), 1);
	assert_int_equal(f->row.n_fields, CSV_MAX_COLUMNS);
	assert_string_equal(csv_row_field(&f->row, CSV_MAX_COLUMNS - 1), "v"); /* 255 % 26 */
}

/* The mark of a long field far along a wide row is its own. */
static void
test_a_long_field_past_the_64th_is_marked(void **state)
{
	struct fixture *f = *state;
	size_t len = 200 * 2 + CSV_MAX_FIELD_BYTES + 16, n = 0;
	char *text = malloc(len);

	assert_non_null(text);
	for (int i = 0; i < 200; i++) {
		text[n++] = 'x';
		text[n++] = ',';
	}
	memset(text + n, 'y', CSV_MAX_FIELD_BYTES + 1);
	n += CSV_MAX_FIELD_BYTES + 1;
	memcpy(text + n, ",z\n", 4);
	start(f, text);
	assert_int_equal(next(f), 1);
	assert_int_equal(f->row.n_fields, 202);
	assert_true(csv_row_field_too_long(&f->row, 200));
	assert_false(csv_row_field_too_long(&f->row, 200 - 64));
	assert_false(csv_row_field_too_long(&f->row, 201));
	assert_string_equal(csv_row_field(&f->row, 201), "z");
	free(text);
}

/* A field past the limit (a free-text note) is no fault of its record:
 * it reads as "" and is marked, so that the caller decides whether it
 * needed it; its bytes do not count in the record's. */
static void
test_field_too_long_reads_empty_and_is_marked(void **state)
{
	struct fixture *f = *state;
	size_t len = CSV_MAX_FIELD_BYTES + 1;
	char *text = malloc(len + 32);

	assert_non_null(text);
	memcpy(text, "a,", 2);
	memset(text + 2, 'y', len);
	memcpy(text + 2 + len, ",z\n\"\",after\n", 13);
	start(f, text);
	assert_int_equal(next(f), 1);
	assert_int_equal(f->row.n_fields, 3);
	assert_string_equal(csv_row_field(&f->row, 0), "a");
	assert_string_equal(csv_row_field(&f->row, 1), "");
	assert_string_equal(csv_row_field(&f->row, 2), "z");
	assert_false(csv_row_field_too_long(&f->row, 0));
	assert_true(csv_row_field_too_long(&f->row, 1));
	assert_false(csv_row_field_too_long(&f->row, 2));
	assert_false(csv_row_is_blank(&f->row));
	/* The mark is the record's own. */
	assert_int_equal(next(f), 1);
	assert_string_equal(csv_row_field(&f->row, 1), "after");
	assert_false(csv_row_field_too_long(&f->row, 1));
	free(text);
}

static void
test_field_of_exactly_the_most_bytes_is_read(void **state)
{
	struct fixture *f = *state;
	char *text = malloc(CSV_MAX_FIELD_BYTES + 2);

	assert_non_null(text);
	memset(text, 'y', CSV_MAX_FIELD_BYTES);
	text[CSV_MAX_FIELD_BYTES] = '\0';
	start(f, text);
	assert_int_equal(next(f), 1);
	assert_int_equal(strlen(csv_row_field(&f->row, 0)), CSV_MAX_FIELD_BYTES);
	free(text);
}

static void
test_record_too_long_is_an_error(void **state)
{
	struct fixture *f = *state;
	/* Fields of 1000 bytes: each fits, the record does not. */
	int fields = CSV_MAX_RECORD_BYTES / 1000 + 1;
	size_t len = (size_t)fields * 1001 + 16;
	char *text = malloc(len);
	size_t n = 0;

	assert_non_null(text);
	for (int i = 0; i < fields; i++) {
		memset(text + n, 'q', 1000);
		n += 1000;
		text[n++] = i == fields - 1 ? '\n' : ',';
	}
	memcpy(text + n, "ok\n", 4);
	start(f, text);
	assert_int_equal(next(f), -1);
	assert_non_null(strstr(f->err.reason, "record is longer than"));
	assert_int_equal(next(f), 1);
	assert_string_equal(csv_row_field(&f->row, 0), "ok");
	free(text);
}

static void
test_nul_byte_is_an_error(void **state)
{
	struct fixture *f = *state;
	static const char text[] = "a,b\0c\nok\n";

	csv_reader_init(&f->reader, text, sizeof(text) - 1);
	assert_int_equal(next(f), -1);
	assert_non_null(strstr(f->err.reason, "NUL"));
	assert_int_equal(next(f), 1);
	assert_string_equal(csv_row_field(&f->row, 0), "ok");
}

static void
test_blank_row_is_only_empty_or_space_fields(void **state)
{
	struct fixture *f = *state;

	start(f, ",, ,\t\n,x,\n");
	assert_int_equal(next(f), 1);
	assert_true(csv_row_is_blank(&f->row));
	assert_int_equal(next(f), 1);
	assert_false(csv_row_is_blank(&f->row));
}

static void
test_a_copied_row_keeps_its_fields(void **state)
{
	struct fixture *f = *state;
	struct csv_row *copy = malloc(sizeof(*copy));

	assert_non_null(copy);
	start(f, "first,row\nsecond,one\n");
	assert_int_equal(next(f), 1);
	*copy = f->row;
	assert_int_equal(next(f), 1);
	assert_string_equal(csv_row_field(copy, 0), "first");
	assert_string_equal(csv_row_field(copy, 1), "row");
	assert_string_equal(csv_row_field(&f->row, 0), "second");
	free(copy);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_simple_record_splits_on_commas, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_field_beyond_the_record_reads_empty, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_quoted_field_keeps_commas_and_doubled_quotes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_quoted_empty_field_is_empty, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_quoted_field_keeps_embedded_newlines_and_counts_lines, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_crlf_and_lf_both_end_records, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_lone_cr_ends_a_record, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_utf8_bom_is_skipped, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bom_only_buffer_has_no_records, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_empty_fields_are_kept, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_comma_at_end_of_buffer_gives_an_empty_last_field, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_last_record_without_trailing_newline_is_read, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_trailing_newline_gives_no_extra_record, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_empty_lines_are_skipped_and_still_counted, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_empty_buffer_has_no_records, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_spaces_are_kept_as_data, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_lone_quote_in_unquoted_field_is_an_error_and_reading_goes_on, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_text_after_closing_quote_is_an_error, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_unterminated_quote_is_an_error_at_the_record_start, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_too_many_columns_is_an_error_and_reading_goes_on, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_exactly_the_most_columns_is_read, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_field_too_long_reads_empty_and_is_marked, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_field_of_exactly_the_most_bytes_is_read, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_a_long_field_past_the_64th_is_marked, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_record_too_long_is_an_error, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_nul_byte_is_an_error, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_blank_row_is_only_empty_or_space_fields, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_a_copied_row_keeps_its_fields, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_unterminated_quote_before_a_long_rest_is_reported_as_the_quote, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
