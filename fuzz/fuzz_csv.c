/*
 * fuzz_csv: what commissiond-spool does with a council's extract. The input
 * is one file: read record by record with the CSV reader, then as
 * spool_take reads it (spool_read_buffer: the header's kind, every row
 * mapped to Envelopes), with each bad row written as its errors-file line.
 *
 * Invariants checked (each a promise of the code, not of this file):
 * - the reader moves forward on every record, keeps within its bounds
 *   (columns, field bytes) and its line numbers never go back;
 * - every Envelope a row maps to is one the daemon takes;
 * - an errors-file line always fits SPOOL_ERRORS_LINE_BUFSIZE, and reads
 *   back with the CSV reader as the line, column and reason written (a
 *   leading = + - @ behind a ', as rows.c makes it inert);
 * - the file's summary counts what the callbacks were given.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "fuzz.h"
#include "rows.h"

struct fuzz_counts {
	size_t envelopes;
	size_t errors;
};

/* Every record of buf through the reader, checking its promises. */
static void
read_records(const char *buf, size_t len)
{
	static struct csv_row row; /* 64 KiB: not on the stack */
	struct csv_reader reader;
	struct csv_error err;
	size_t last_line = 1;
	int got;

	csv_reader_init(&reader, buf, len);
	for (;;) {
		size_t pos = reader.pos;

		got = csv_reader_next(&reader, &row, &err);
		FUZZ_ASSERT(reader.pos <= len, "the reader stays inside its buffer");
		if (got == 0)
			break;
		FUZZ_ASSERT(reader.pos > pos, "the reader moves forward on every record");
		if (got < 0) {
			FUZZ_ASSERT(err.line >= last_line && err.reason[0] != '\0',
			    "a bad record says where and why");
			last_line = err.line;
			continue;
		}
		FUZZ_ASSERT(got == 1, "csv_reader_next returns 1, 0 or -1");
		FUZZ_ASSERT(row.line >= last_line, "line numbers never go back");
		last_line = row.line;
		FUZZ_ASSERT(row.n_fields >= 1 && row.n_fields <= CSV_MAX_COLUMNS,
		    "a record has 1 to CSV_MAX_COLUMNS fields");
		for (size_t i = 0; i < row.n_fields; i++)
			FUZZ_ASSERT(strlen(csv_row_field(&row, i)) <= CSV_MAX_FIELD_BYTES,
			    "a field holds at most CSV_MAX_FIELD_BYTES");
		FUZZ_ASSERT(
		    csv_row_field(&row, row.n_fields)[0] == '\0', "a field past the last is empty");
		(void)csv_row_is_blank(&row);
	}
}

/* Does field, read back from the errors file, say text? A leading
 * = + - @ is written after a ' so that a spreadsheet does not run it. */
static bool
reads_as(const char *field, const char *text)
{
	if (strchr("=+-@", text[0]) != NULL && text[0] != '\0')
		return field[0] == '\'' && strcmp(field + 1, text) == 0;
	return strcmp(field, text) == 0;
}

static int
on_envelope(void *ctx, const Commissioning__Envelope *env, size_t line)
{
	struct fuzz_counts *counts = ctx;

	FUZZ_ASSERT(line >= 1, "an Envelope comes from a line of the file");
	fuzz_daemon_takes(env);
	counts->envelopes++;
	return 0;
}

/* The errors-file line of err, as spool_on_error writes it, read back. */
static int
on_error(void *ctx, const struct spool_row_error *err)
{
	static struct csv_row row;
	struct fuzz_counts *counts = ctx;
	char line[SPOOL_ERRORS_LINE_BUFSIZE], number[32];
	struct csv_reader reader;
	struct csv_error csv_err;
	int n;

	n = spool_errors_format_line(err, line, sizeof(line));
	FUZZ_ASSERT(n > 0, "an errors-file line fits SPOOL_ERRORS_LINE_BUFSIZE");
	csv_reader_init(&reader, line, (size_t)n);
	FUZZ_ASSERT(csv_reader_next(&reader, &row, &csv_err) == 1 && row.n_fields == 3,
	    "an errors-file line is one CSV record of three fields");
	snprintf(number, sizeof(number), "%zu", err->line);
	FUZZ_ASSERT(strcmp(csv_row_field(&row, 0), number) == 0 &&
	                reads_as(csv_row_field(&row, 1), err->column) &&
	                reads_as(csv_row_field(&row, 2), err->reason),
	    "an errors-file line reads back as what was written");
	counts->errors++;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_counts counts = {0, 0};
	struct spool_file_summary summary;
	char err[512];
	int rc;

	if (size > fuzz_config()->spool_max_file_bytes)
		return 0;
	read_records((const char *)data, size);
	rc = spool_read_buffer((const char *)data, size, fuzz_pseudonymiser(), on_envelope,
	    on_error, &counts, &summary, err, sizeof(err));
	if (rc == -1) {
		FUZZ_ASSERT(err[0] != '\0', "a file refused whole says why");
		return 0;
	}
	FUZZ_ASSERT(rc == 0, "the callbacks never stop the reading here");
	FUZZ_ASSERT(summary.envelopes == counts.envelopes && summary.bad_rows == counts.errors &&
	                summary.bad_rows <= summary.rows,
	    "the summary counts what the callbacks were given");
	return 0;
}
