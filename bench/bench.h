/*
 * bench.h: what the benchmark programs share (bench/README.md): the corpus
 * of packed Envelopes converted once from sample-day JSON lines before any
 * timing, a clock, percentiles, and the JSON line each program prints.
 */
#ifndef BENCH_H
#define BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <jansson.h>

/* Packed Envelopes, in the order of the file, with their keys. */
struct corpus {
	size_t n;
	uint8_t **bytes;
	size_t *len;
	char **source;
	char **event_id;
	/* (source, event_id) -> index, open addressing; built on demand. */
	int64_t *slots;
	size_t n_slots;
};

/* Read at most max (0: all) envelopes from the file path: JSON lines of
 * Envelopes, each packed here with lib/pbjson, or a file corpus_save wrote
 * (told apart by its first line). -1 with err naming what is wrong. */
int corpus_load(struct corpus *c, const char *path, size_t max, char *err, size_t errlen);
/* Append up to max (0: all) more envelopes from JSON lines on in, counting
 * lines in *lineno: 1 when some were read, 0 at the end, -1 with err. */
int corpus_read_lines(
    struct corpus *c, FILE *in, size_t max, size_t *lineno, char *err, size_t errlen);
/* Write the corpus, packed, for corpus_load to read without converting. */
int corpus_save(const struct corpus *c, const char *path, char *err, size_t errlen);
void corpus_free(struct corpus *c);
/* The median packed size: the typical envelope of the mix. */
size_t corpus_median_bytes(const struct corpus *c);
/* The index of (source, event_id), or -1. Builds the index the first time. */
int64_t corpus_find(struct corpus *c, const char *source, const char *event_id);

/* Monotonic time in nanoseconds. */
uint64_t bench_now_ns(void);
void bench_sleep_ns(uint64_t ns);

/* The p-quantile (0..1) of v[0..n) (sorted in place), nearest rank. */
double bench_quantile(double *v, size_t n, double p);

/* Parse a whole decimal number or fail the program with usage. */
uint64_t bench_parse_u64(const char *prog, const char *what, const char *text);
/* Parse a positive number of seconds (0.5, 10) or fail the program. */
double bench_parse_seconds(const char *prog, const char *what, const char *text);

/* What a process had used when read: from /proc/PID/io the bytes it
 * caused to be written to storage (write_bytes: counted as it dirties the
 * page cache, a whole page cache folio at a time), and from /proc/PID/stat
 * its CPU time, every thread's, in user and in kernel mode (in clock ticks,
 * 10 ms; this process's own from getrusage, to the microsecond). */
struct bench_usage {
	uint64_t at_ns; /* bench_now_ns() when read */
	uint64_t write_bytes;
	double user_seconds, system_seconds;
};

/* Read the usage of process pid (0: this process), or fail the program
 * naming the file that could not be read. */
void bench_usage_read(const char *prog, pid_t pid, struct bench_usage *usage);
/* What was used from start to end, as JSON: {"write_bytes", "user_seconds",
 * "system_seconds", "seconds"} (seconds: wall time between the readings). */
json_t *bench_usage_json(const struct bench_usage *start, const struct bench_usage *end);

/* Print the program's figures as one JSON line on stdout (takes obj). */
void bench_print(json_t *obj);

/* Fail the program: the message on stderr, exit status 1. */
void bench_fail(const char *prog, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));

#endif
