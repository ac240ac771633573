/*
 * csv: RFC 4180 records from a buffer, one at a time, with the physical
 * line each starts on. The reader never allocates: a record's fields are
 * copied into the caller's struct csv_row, within fixed bounds.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "csv.h"

/* csv_row.too_long has a bit for each field. */
_Static_assert(CSV_MAX_COLUMNS % 64 == 0, "csv_row.too_long is whole 64-bit words");

/* A record being read: where its bytes go and the first fault seen. */
struct csv_record {
	struct csv_row *row;
	size_t used;      /* bytes of row->data taken */
	size_t field_no;  /* 1-based number of the field being read */
	size_t field_len; /* its bytes so far */
	bool too_long;	  /* it passed CSV_MAX_FIELD_BYTES: scan on, store nothing */
	bool failed;      /* a fault is held: scan on, store nothing */
	char reason[CSV_REASON_BUFSIZE];
};

static void csv_fail(struct csv_record *rec, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Hold the first fault of a record; later ones are consequences. */
static void
csv_fail(struct csv_record *rec, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (rec->failed)
		return;
	rec->failed = true;
	va_start(ap, fmt);
	n = vsnprintf(rec->reason, sizeof(rec->reason), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(rec->reason))
		memcpy(rec->reason + sizeof(rec->reason) - 4, "...", 4);
}

void
csv_reader_init(struct csv_reader *reader, const char *buf, size_t len)
{
	reader->buf = buf;
	reader->len = len;
	reader->pos = 0;
	reader->line = 1;
	if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
		reader->pos = 3;
}

static bool
csv_at_line_break(const struct csv_reader *reader)
{
	return reader->pos < reader->len &&
	       (reader->buf[reader->pos] == '\r' || reader->buf[reader->pos] == '\n');
}

/* Step over one line break: CRLF, LF or a lone CR. */
static void
csv_skip_line_break(struct csv_reader *reader)
{
	if (reader->buf[reader->pos] == '\r') {
		reader->pos++;
		if (reader->pos < reader->len && reader->buf[reader->pos] == '\n')
			reader->pos++;
	} else {
		reader->pos++;
	}
	reader->line++;
}

/* After a quote fault the quoting of the rest cannot be trusted: resume
 * at the next physical line. */
static void
csv_skip_rest_of_line(struct csv_reader *reader)
{
	while (reader->pos < reader->len && !csv_at_line_break(reader))
		reader->pos++;
	if (reader->pos < reader->len)
		csv_skip_line_break(reader);
}

static void
csv_field_begin(struct csv_record *rec)
{
	struct csv_row *row = rec->row;

	rec->field_no++;
	rec->field_len = 0;
	rec->too_long = false;
	if (rec->field_no > CSV_MAX_COLUMNS)
		csv_fail(rec, "more than %d fields in the record", CSV_MAX_COLUMNS);
	else if (rec->used >= CSV_MAX_RECORD_BYTES)
		csv_fail(rec, "the record is longer than %d bytes", CSV_MAX_RECORD_BYTES);
	if (!rec->failed)
		row->offset[row->n_fields] = (uint16_t)rec->used;
}

static void
csv_field_put(struct csv_record *rec, char c)
{
	if (c == '\0')
		csv_fail(rec, "field %zu holds a NUL byte (not a text file?)", rec->field_no);
	else if (rec->field_len >= CSV_MAX_FIELD_BYTES)
		rec->too_long = true;
	/* Keep one byte for the field's NUL. */
	else if (rec->used + 1 >= CSV_MAX_RECORD_BYTES)
		csv_fail(rec, "the record is longer than %d bytes", CSV_MAX_RECORD_BYTES);
	if (rec->failed || rec->too_long)
		return;
	rec->row->data[rec->used++] = c;
	rec->field_len++;
}

static void
csv_field_end(struct csv_record *rec)
{
	struct csv_row *row = rec->row;

	if (rec->failed)
		return;
	if (rec->too_long) {
		/* Its bytes are given back: it reads as "". */
		rec->used = row->offset[row->n_fields];
		row->too_long[row->n_fields / 64] |= UINT64_C(1) << (row->n_fields % 64);
	}
	row->data[rec->used++] = '\0';
	row->n_fields++;
}

/*
 * A quoted field, from its opening quote to just past its closing one.
 * Return 0, or -1 when the buffer ends inside it (the fault is held).
 */
static int
csv_read_quoted(struct csv_reader *reader, struct csv_record *rec)
{
	size_t open_line = reader->line;

	reader->pos++;
	for (;;) {
		char c;

		if (reader->pos >= reader->len) {
			/* The cause of any fault held (a field or record too
			 * long): the rest of the file ran into the quote. */
			rec->failed = false;
			csv_fail(rec, "field %zu: the quote opened on line %zu is never closed",
			    rec->field_no, open_line);
			return -1;
		}
		c = reader->buf[reader->pos];
		if (c == '"') {
			if (reader->pos + 1 < reader->len && reader->buf[reader->pos + 1] == '"') {
				csv_field_put(rec, '"');
				reader->pos += 2;
				continue;
			}
			reader->pos++;
			return 0;
		}
		/* Line breaks inside quotes are data; they still count as lines. */
		if (c == '\n' || (c == '\r' && !(reader->pos + 1 < reader->len &&
		                                   reader->buf[reader->pos + 1] == '\n')))
			reader->line++;
		csv_field_put(rec, c);
		reader->pos++;
	}
}

/* An unquoted field, up to a comma, a line break or the end. Return 0, or
 * -1 at a quote inside it (the fault is held). */
static int
csv_read_unquoted(struct csv_reader *reader, struct csv_record *rec)
{
	while (reader->pos < reader->len) {
		char c = reader->buf[reader->pos];

		if (c == ',' || c == '\r' || c == '\n')
			break;
		if (c == '"') {
			csv_fail(rec,
			    "field %zu: a quote inside an unquoted field (quote the whole "
			    "field and double the quote)",
			    rec->field_no);
			return -1;
		}
		csv_field_put(rec, c);
		reader->pos++;
	}
	return 0;
}

static int
csv_record_fail(const struct csv_record *rec, struct csv_error *err)
{
	if (err != NULL) {
		err->line = rec->row->line;
		memcpy(err->reason, rec->reason, sizeof(err->reason));
	}
	return -1;
}

int
csv_reader_next(struct csv_reader *reader, struct csv_row *row, struct csv_error *err)
{
	struct csv_record rec;

	while (csv_at_line_break(reader))
		csv_skip_line_break(reader);
	if (reader->pos >= reader->len)
		return 0;
	memset(&rec, 0, sizeof(rec));
	rec.row = row;
	row->line = reader->line;
	row->n_fields = 0;
	memset(row->too_long, 0, sizeof(row->too_long));
	for (;;) {
		csv_field_begin(&rec);
		if (reader->pos < reader->len && reader->buf[reader->pos] == '"') {
			if (csv_read_quoted(reader, &rec) != 0)
				return csv_record_fail(&rec, err);
			if (reader->pos < reader->len && reader->buf[reader->pos] != ',' &&
			    !csv_at_line_break(reader)) {
				csv_fail(&rec,
				    "field %zu: text after the closing quote (double a "
				    "quote inside a quoted field)",
				    rec.field_no);
				csv_skip_rest_of_line(reader);
				return csv_record_fail(&rec, err);
			}
		} else if (csv_read_unquoted(reader, &rec) != 0) {
			csv_skip_rest_of_line(reader);
			return csv_record_fail(&rec, err);
		}
		csv_field_end(&rec);
		if (reader->pos >= reader->len)
			break;
		if (reader->buf[reader->pos] == ',') {
			reader->pos++;
			continue;
		}
		csv_skip_line_break(reader);
		break;
	}
	if (rec.failed)
		return csv_record_fail(&rec, err);
	return 1;
}

const char *
csv_row_field(const struct csv_row *row, size_t i)
{
	if (i >= row->n_fields)
		return "";
	return row->data + row->offset[i];
}

bool
csv_row_field_too_long(const struct csv_row *row, size_t i)
{
	return i < row->n_fields && (row->too_long[i / 64] & (UINT64_C(1) << (i % 64))) != 0;
}

bool
csv_row_is_blank(const struct csv_row *row)
{
	for (size_t w = 0; w < CSV_MAX_COLUMNS / 64; w++)
		if (row->too_long[w] != 0)
			return false;
	for (size_t i = 0; i < row->n_fields; i++)
		for (const char *p = csv_row_field(row, i); *p != '\0'; p++)
			if (*p != ' ' && *p != '\t')
				return false;
	return true;
}
