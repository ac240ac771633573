/*
 * rows: the kinds of local-authority CSV file (care packages, discharge-
 * ready lists, care-home capacity, organisation reference data), told
 * apart by their header, and each row mapped to checked Envelopes with
 * stable event ids. Pure: no I/O, no clock. docs/SPOOL.md is the contract.
 */
#ifndef ROWS_H
#define ROWS_H

#include <stddef.h>
#include <stdint.h>

#include "commissioning.pb-c.h"
#include "csv.h"
#include "pseudonym.h"

enum spool_kind {
	SPOOL_KIND_NONE = 0,
	SPOOL_KIND_CARE_PACKAGES,      /* -> care_package_started (and _ended) */
	SPOOL_KIND_DISCHARGE_READY,    /* -> ready_for_discharge */
	SPOOL_KIND_CARE_HOME_CAPACITY, /* -> capacity_reported */
	SPOOL_KIND_ORGANISATIONS,      /* -> organisation_registered */
};

#define SPOOL_KIND_MAX_COLUMNS 12     /* the columns one kind knows */
#define SPOOL_COLUMN_NAME_BUFSIZE 65  /* a recognised header name, NUL included */
#define SPOOL_MAX_ENVELOPES_PER_ROW 2 /* started and ended */
#define SPOOL_REASON_BUFSIZE 256
#define SPOOL_SCHEMA_VERSION 1

/*
 * What a header said: the kind of file, and where each of the kind's
 * columns sits in a row (-1: not in this file). Filled by
 * spool_kind_of_header; read-only afterwards.
 */
struct spool_kind_info {
	enum spool_kind kind;
	const char *name;   /* "care_packages" */
	const char *source; /* the Envelope's source: "spool:care_packages" */
	size_t n_fields;    /* fields in the header: every row must have as many */
	size_t n_columns;   /* the kind's columns (docs/SPOOL.md order) */
	int column_index[SPOOL_KIND_MAX_COLUMNS];
	/* Each present column's name as the header wrote it, for errors. */
	char column_name[SPOOL_KIND_MAX_COLUMNS][SPOOL_COLUMN_NAME_BUFSIZE];
};

/*
 * A bad row: the physical line it starts on, the column (its name as the
 * file's header writes it; "" when the fault is the whole row's) and the
 * reason. Never holds an NHS number or other person data.
 */
struct spool_row_error {
	size_t line;
	char column[SPOOL_COLUMN_NAME_BUFSIZE];
	char reason[SPOOL_REASON_BUFSIZE];
};

/* The snake_case name of a kind ("care_packages"), or "none". */
const char *spool_kind_name(enum spool_kind kind);

/*
 * Recognise the kind of file from its header row (docs/SPOOL.md, "How a
 * kind is recognised"). Return 0 with out filled, or -1 with err saying
 * why the whole file cannot be read: no kind fits (and which columns the
 * nearest kind lacks), more than one fits, or a column appears twice.
 */
int spool_kind_of_header(
    const struct csv_row *header, struct spool_kind_info *out, char *err, size_t errlen);

/*
 * Map one data row to Envelopes: validate and pseudonymise the NHS number,
 * parse dates, times, money and counts, and pass each Envelope through
 * event_check, so a row the daemon would reject is reported here with its
 * column. Return how many Envelopes were written to out (0 for a blank
 * row, 1, or 2 for a care package with an end date); the caller owns them
 * and frees each with spool_envelope_free (or
 * commissioning__envelope__free_unpacked(env, NULL)). Return -1 with err
 * filled (and nothing in out) for a bad row. max_out must be at least
 * SPOOL_MAX_ENVELOPES_PER_ROW.
 */
int spool_row_to_envelopes(const struct spool_kind_info *info, const struct csv_row *row,
    const struct pseudonymiser *ps, Commissioning__Envelope **out, int max_out,
    struct spool_row_error *err);

/* Free an Envelope from spool_row_to_envelopes and null the pointer. */
void spool_envelope_free(Commissioning__Envelope **env);

/*
 * The errors file: RFC 4180 CSV with the header SPOOL_ERRORS_HEADER and
 * one line per bad row or unreadable record: line,column,reason, each
 * field quoted when it holds a comma, a quote or a line break, every line
 * ending in CRLF.
 */
#define SPOOL_ERRORS_HEADER "line,column,reason\r\n"

/* A buffer this size always holds one line, whatever the column and reason
 * (each byte doubled, quotes, the line number, CRLF and the NUL). */
#define SPOOL_ERRORS_LINE_BUFSIZE (2 * SPOOL_COLUMN_NAME_BUFSIZE + 2 * SPOOL_REASON_BUFSIZE + 32)

/* Write one errors-file line for err into buf. Return its length, or
 * -ENOSPC when buf is too small (buf then holds ""). */
int spool_errors_format_line(const struct spool_row_error *err, char *buf, size_t size);

/* The same for an unreadable record (column ""). */
void spool_row_error_from_csv(const struct csv_error *csv_err, struct spool_row_error *err);

/*
 * A whole file at once, for the spool's watcher: read buf as CSV, find its
 * kind from the header, map every row. on_envelope gets each Envelope
 * (borrowed: copy or pack it before returning); on_error each bad row or
 * record (either may be NULL). A callback returning non-zero stops the
 * reading and that value is returned: make it positive (an errno) to tell
 * it from -1. Return 0 when the file was read to its end (bad rows are
 * not a failure of the file), or -1 with err when the whole file fails
 * (empty, its header unreadable or of no kind, out of memory).
 */
struct spool_file_summary {
	enum spool_kind kind;
	size_t rows;      /* data records, blank ones excluded */
	size_t bad_rows;  /* rows and records reported to on_error */
	size_t envelopes; /* Envelopes passed to on_envelope */
};

typedef int (*spool_envelope_fn)(void *ctx, const Commissioning__Envelope *env, size_t line);
typedef int (*spool_error_fn)(void *ctx, const struct spool_row_error *err);

int spool_read_buffer(const char *buf, size_t len, const struct pseudonymiser *ps,
    spool_envelope_fn on_envelope, spool_error_fn on_error, void *ctx,
    struct spool_file_summary *summary, char *err, size_t errlen);

#endif
