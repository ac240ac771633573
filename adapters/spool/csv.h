/*
 * csv: an RFC 4180 reader over a buffer the caller holds (the whole file,
 * bounded). Pure: no I/O, no allocation; fixed bounds on every record.
 */
#ifndef CSV_H
#define CSV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CSV_MAX_COLUMNS 256        /* fields in one record */
#define CSV_MAX_FIELD_BYTES 1024   /* bytes in one field, NUL excluded */
#define CSV_MAX_RECORD_BYTES 65535 /* every field's bytes and NULs (offsets are 16 bits) */
#define CSV_REASON_BUFSIZE 160

/*
 * One record. Its fields are NUL-terminated texts kept inside the struct
 * (offsets, not pointers), so a row may be copied with = or memcpy.
 */
struct csv_row {
	size_t line;     /* the physical line (1-based) where the record starts */
	size_t n_fields; /* 1 or more */
	/* Bit i: field i was longer than CSV_MAX_FIELD_BYTES, and reads as
	 * "" (a free-text column the caller may not need). */
	uint64_t too_long[CSV_MAX_COLUMNS / 64];
	uint16_t offset[CSV_MAX_COLUMNS];
	char data[CSV_MAX_RECORD_BYTES];
};

/* A record that could not be read: where it starts and why. */
struct csv_error {
	size_t line;
	char reason[CSV_REASON_BUFSIZE];
};

struct csv_reader {
	const char *buf;
	size_t len;
	size_t pos;  /* next byte to read */
	size_t line; /* physical line of buf[pos] */
};

/* Start reading buf (len bytes; no NUL needed). A UTF-8 byte order mark
 * at the start is skipped. The reader borrows buf. */
void csv_reader_init(struct csv_reader *reader, const char *buf, size_t len);

/*
 * Read the next record into row. Records end at CRLF, LF or a lone CR, or
 * at the end of the buffer (a last line without a line break is a record);
 * empty lines between records are skipped. A field in double quotes may
 * hold commas, line breaks and doubled quotes ("").
 *
 * Return 1 with row filled; 0 at the end of the buffer; -1 with err filled
 * when the record is malformed: a quote inside an unquoted field, text
 * after a closing quote, a quote never closed, a NUL byte, more than
 * CSV_MAX_COLUMNS fields or a record over CSV_MAX_RECORD_BYTES. A field
 * over CSV_MAX_FIELD_BYTES is not a fault of the record: it is kept as ""
 * and marked (csv_row_field_too_long). After -1 the reader stands at the next record
 * (for a quote error: the next physical line; for a quote never closed:
 * the end of the buffer), so the caller may go on reading.
 */
int csv_reader_next(struct csv_reader *reader, struct csv_row *row, struct csv_error *err);

/* Field i of row (0-based): its text, or "" when i >= row->n_fields. */
const char *csv_row_field(const struct csv_row *row, size_t i);

/* Was field i of row longer than CSV_MAX_FIELD_BYTES (it reads as "")? */
bool csv_row_field_too_long(const struct csv_row *row, size_t i);

/* Is every field empty or only spaces and tabs (",,,," from a spreadsheet)? */
bool csv_row_is_blank(const struct csv_row *row);

#endif
