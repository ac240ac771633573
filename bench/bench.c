/*
 * bench: the pieces every benchmark program shares (bench.h). The corpus
 * owns its packed Envelopes and their keys; the rest owns nothing.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "commissioning.pb-c.h"
#include "pbjson.h"

#define CORPUS_LINE_MAX (1024 * 1024)

static int
corpus_grow(struct corpus *c, size_t *cap)
{
	size_t want = *cap ? *cap * 2 : 4096;
	uint8_t **bytes = realloc(c->bytes, want * sizeof(*bytes));

	if (bytes == NULL)
		return -1;
	c->bytes = bytes;
	size_t *len = realloc(c->len, want * sizeof(*len));
	if (len == NULL)
		return -1;
	c->len = len;
	char **source = realloc(c->source, want * sizeof(*source));
	if (source == NULL)
		return -1;
	c->source = source;
	char **event_id = realloc(c->event_id, want * sizeof(*event_id));
	if (event_id == NULL)
		return -1;
	c->event_id = event_id;
	*cap = want;
	return 0;
}

/* One JSON line into the corpus's next slot. */
static int
corpus_add_line(struct corpus *c, const char *line, size_t lineno, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *json = json_loads(line, JSON_REJECT_DUPLICATES, &jerr);
	Commissioning__Envelope *env;
	char why[512];
	size_t i = c->n;

	if (json == NULL) {
		snprintf(err, errlen, "line %zu: not JSON: %s", lineno, jerr.text);
		return -1;
	}
	env = (Commissioning__Envelope *)pbjson_to_message(
	    json, &commissioning__envelope__descriptor, why, sizeof(why));
	json_decref(json);
	if (env == NULL) {
		snprintf(err, errlen, "line %zu: not an Envelope: %s", lineno, why);
		return -1;
	}
	c->len[i] = commissioning__envelope__get_packed_size(env);
	c->bytes[i] = malloc(c->len[i] ? c->len[i] : 1);
	c->source[i] = strdup(env->source);
	c->event_id[i] = strdup(env->event_id);
	if (c->bytes[i] == NULL || c->source[i] == NULL || c->event_id[i] == NULL) {
		free(c->bytes[i]);
		free(c->source[i]);
		free(c->event_id[i]);
		commissioning__envelope__free_unpacked(env, NULL);
		snprintf(err, errlen, "out of memory at line %zu", lineno);
		return -1;
	}
	commissioning__envelope__pack(env, c->bytes[i]);
	commissioning__envelope__free_unpacked(env, NULL);
	c->n++;
	return 0;
}

/* A packed corpus: this line, then per envelope three little-endian u32
 * lengths (source, event id, envelope) and those bytes. */
#define CORPUS_MAGIC "commissiond bench corpus 1\n"
#define CORPUS_KEY_MAX 4096

static int
read_u32(FILE *in, uint32_t *v)
{
	uint8_t b[4];

	if (fread(b, 1, 4, in) != 4)
		return -1;
	*v = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
	return 0;
}

static char *
read_text(FILE *in, uint32_t len)
{
	char *text = len < CORPUS_KEY_MAX ? malloc(len + 1) : NULL;

	if (text == NULL || fread(text, 1, len, in) != len) {
		free(text);
		return NULL;
	}
	text[len] = '\0';
	return text;
}

static int
corpus_read_packed(struct corpus *c, FILE *in, size_t max, size_t *cap, char *err, size_t errlen)
{
	uint32_t source_len, id_len, len;

	while ((max == 0 || c->n < max) && read_u32(in, &source_len) == 0) {
		size_t i = c->n;
		if (c->n == *cap && corpus_grow(c, cap) < 0) {
			snprintf(err, errlen, "out of memory at envelope %zu", i + 1);
			return -1;
		}
		if (read_u32(in, &id_len) < 0 || read_u32(in, &len) < 0 || len > CORPUS_LINE_MAX) {
			snprintf(err, errlen, "envelope %zu: truncated or corrupt", i + 1);
			return -1;
		}
		c->source[i] = read_text(in, source_len);
		c->event_id[i] = read_text(in, id_len);
		c->bytes[i] = malloc(len ? len : 1);
		c->len[i] = len;
		if (c->source[i] == NULL || c->event_id[i] == NULL || c->bytes[i] == NULL ||
		    fread(c->bytes[i], 1, len, in) != len) {
			free(c->source[i]);
			free(c->event_id[i]);
			free(c->bytes[i]);
			snprintf(err, errlen, "envelope %zu: truncated or corrupt", i + 1);
			return -1;
		}
		c->n++;
	}
	return 0;
}

int
corpus_read_lines(struct corpus *c, FILE *in, size_t max, size_t *lineno, char *err, size_t errlen)
{
	char *line = NULL;
	size_t linecap = 0, cap = c->n, before = c->n;
	ssize_t got;
	int rc = 0;

	while ((max == 0 || c->n - before < max) && (got = getline(&line, &linecap, in)) >= 0) {
		(*lineno)++;
		if (got > CORPUS_LINE_MAX) {
			snprintf(err, errlen, "line %zu is longer than %d bytes", *lineno,
			    CORPUS_LINE_MAX);
			rc = -1;
			break;
		}
		if (line[strspn(line, " \t\r\n")] == '\0')
			continue;
		/* cap is only known to be at least n: grow whenever full. */
		if (c->n >= cap && corpus_grow(c, &cap) < 0) {
			snprintf(err, errlen, "out of memory at line %zu", *lineno);
			rc = -1;
			break;
		}
		if (corpus_add_line(c, line, *lineno, err, errlen) < 0) {
			rc = -1;
			break;
		}
	}
	free(line);
	if (rc == 0 && ferror(in)) {
		snprintf(err, errlen, "read error after line %zu", *lineno);
		rc = -1;
	}
	return rc < 0 ? -1 : (int)(c->n - before > 0);
}

int
corpus_load(struct corpus *c, const char *path, size_t max, char *err, size_t errlen)
{
	FILE *in = fopen(path, "r");
	char magic[sizeof(CORPUS_MAGIC)] = "";
	size_t cap = 0, lineno = 0;
	int rc;

	memset(c, 0, sizeof(*c));
	if (in == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	/* A packed corpus starts with its magic line; anything else is JSON. */
	if (fread(magic, 1, sizeof(magic) - 1, in) == sizeof(magic) - 1 &&
	    strcmp(magic, CORPUS_MAGIC) == 0) {
		rc = corpus_read_packed(c, in, max, &cap, err, errlen);
	} else if (fseek(in, 0, SEEK_SET) == 0) {
		rc = corpus_read_lines(c, in, max, &lineno, err, errlen);
	} else {
		snprintf(err, errlen, "%s", strerror(errno));
		rc = -1;
	}
	fclose(in);
	if (rc >= 0 && c->n == 0) {
		snprintf(err, errlen, "no envelopes");
		rc = -1;
	}
	if (rc < 0) {
		/* Name the file before what is wrong with it. */
		char why[512];
		snprintf(why, sizeof(why), "%s", err);
		snprintf(err, errlen, "%s: %s", path, why);
		corpus_free(c);
		return -1;
	}
	return 0;
}

static int
write_u32(FILE *out, size_t v)
{
	uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};

	return fwrite(b, 1, 4, out) == 4 ? 0 : -1;
}

int
corpus_save(const struct corpus *c, const char *path, char *err, size_t errlen)
{
	FILE *out = fopen(path, "w");
	int rc = 0;

	if (out == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fputs(CORPUS_MAGIC, out) < 0)
		rc = -1;
	for (size_t i = 0; rc == 0 && i < c->n; i++) {
		size_t source_len = strlen(c->source[i]), id_len = strlen(c->event_id[i]);
		if (write_u32(out, source_len) < 0 || write_u32(out, id_len) < 0 ||
		    write_u32(out, c->len[i]) < 0 ||
		    fwrite(c->source[i], 1, source_len, out) != source_len ||
		    fwrite(c->event_id[i], 1, id_len, out) != id_len ||
		    fwrite(c->bytes[i], 1, c->len[i], out) != c->len[i])
			rc = -1;
	}
	if (fclose(out) != 0)
		rc = -1;
	if (rc < 0)
		snprintf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
	return rc;
}

void
corpus_free(struct corpus *c)
{
	for (size_t i = 0; i < c->n; i++) {
		free(c->bytes[i]);
		free(c->source[i]);
		free(c->event_id[i]);
	}
	free(c->bytes);
	free(c->len);
	free(c->source);
	free(c->event_id);
	free(c->slots);
	memset(c, 0, sizeof(*c));
}

static int
compare_size(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;

	return x < y ? -1 : x > y;
}

size_t
corpus_median_bytes(const struct corpus *c)
{
	size_t *sizes = malloc(c->n * sizeof(*sizes)), median;

	if (sizes == NULL)
		return c->len[0];
	memcpy(sizes, c->len, c->n * sizeof(*sizes));
	qsort(sizes, c->n, sizeof(*sizes), compare_size);
	median = sizes[c->n / 2];
	free(sizes);
	return median;
}

/* FNV-1a over source, a NUL, event_id. */
static uint64_t
key_hash(const char *source, const char *event_id)
{
	uint64_t h = 1469598103934665603ULL;

	for (const char *p = source;; p++) {
		h = (h ^ (uint8_t)*p) * 1099511628211ULL;
		if (*p == '\0')
			break;
	}
	for (const char *p = event_id; *p != '\0'; p++)
		h = (h ^ (uint8_t)*p) * 1099511628211ULL;
	return h;
}

static int
corpus_build_index(struct corpus *c)
{
	c->n_slots = 16;
	while (c->n_slots < c->n * 2)
		c->n_slots *= 2;
	c->slots = malloc(c->n_slots * sizeof(*c->slots));
	if (c->slots == NULL)
		return -1;
	for (size_t s = 0; s < c->n_slots; s++)
		c->slots[s] = -1;
	for (size_t i = 0; i < c->n; i++) {
		size_t s = key_hash(c->source[i], c->event_id[i]) & (c->n_slots - 1);
		while (c->slots[s] >= 0)
			s = (s + 1) & (c->n_slots - 1);
		c->slots[s] = (int64_t)i;
	}
	return 0;
}

int64_t
corpus_find(struct corpus *c, const char *source, const char *event_id)
{
	size_t s;

	if (c->slots == NULL && corpus_build_index(c) < 0)
		return -1;
	s = key_hash(source, event_id) & (c->n_slots - 1);
	for (; c->slots[s] >= 0; s = (s + 1) & (c->n_slots - 1)) {
		int64_t i = c->slots[s];
		if (strcmp(c->event_id[i], event_id) == 0 && strcmp(c->source[i], source) == 0)
			return i;
	}
	return -1;
}

uint64_t
bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

void
bench_sleep_ns(uint64_t ns)
{
	struct timespec ts = {(time_t)(ns / 1000000000ULL), (long)(ns % 1000000000ULL)};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int
compare_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

double
bench_quantile(double *v, size_t n, double p)
{
	size_t rank;

	if (n == 0)
		return 0;
	qsort(v, n, sizeof(*v), compare_double);
	/* Nearest rank: the smallest value with at least p of them at or
	 * below it. */
	rank = (size_t)(p * (double)n + 0.999999);
	if (rank == 0)
		rank = 1;
	if (rank > n)
		rank = n;
	return v[rank - 1];
}

uint64_t
bench_parse_u64(const char *prog, const char *what, const char *text)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0' || text[0] == '-')
		bench_fail(prog, "%s: \"%s\" is not a whole number", what, text);
	return (uint64_t)v;
}

double
bench_parse_seconds(const char *prog, const char *what, const char *text)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(text, &end);
	if (errno != 0 || end == text || *end != '\0' || !(v > 0) || v > 1e6)
		bench_fail(prog, "%s: \"%s\" is not a number of seconds", what, text);
	return v;
}

/* The value of the line "name: N" of a /proc file's text, or -1. */
static int
proc_field(const char *text, const char *name, uint64_t *value)
{
	size_t len = strlen(name);

	for (const char *line = text; line != NULL && *line != '\0'; line = strchr(line, '\n')) {
		if (*line == '\n')
			line++;
		if (strncmp(line, name, len) == 0 && line[len] == ':')
			return sscanf(line + len + 1, "%" SCNu64, value) == 1 ? 0 : -1;
	}
	return -1;
}

/* The whole of a small /proc file as text, NUL-terminated, or -1. */
static int
proc_read(pid_t pid, const char *name, char *buf, size_t buflen, char *path, size_t pathlen)
{
	FILE *in;
	size_t got;

	if (pid == 0)
		snprintf(path, pathlen, "/proc/self/%s", name);
	else
		snprintf(path, pathlen, "/proc/%ld/%s", (long)pid, name);
	in = fopen(path, "r");
	if (in == NULL)
		return -1;
	got = fread(buf, 1, buflen - 1, in);
	fclose(in);
	buf[got] = '\0';
	return got > 0 ? 0 : -1;
}

void
bench_usage_read(const char *prog, pid_t pid, struct bench_usage *usage)
{
	char text[4096], path[64];
	unsigned long long utime, stime;
	const char *after_name;
	long ticks = sysconf(_SC_CLK_TCK);

	usage->at_ns = bench_now_ns();
	errno = 0;
	if (proc_read(pid, "io", text, sizeof(text), path, sizeof(path)) < 0 ||
	    proc_field(text, "write_bytes", &usage->write_bytes) < 0)
		bench_fail(prog, "%s: cannot read write_bytes: %s", path,
		    errno ? strerror(errno) : "not there");
	if (pid == 0) {
		/* This process: to the microsecond, where /proc counts ticks. */
		struct rusage ru;
		if (getrusage(RUSAGE_SELF, &ru) < 0)
			bench_fail(prog, "getrusage: %s", strerror(errno));
		usage->user_seconds =
		    (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
		usage->system_seconds =
		    (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
		return;
	}
	/* pid (comm) state ... : the name may hold spaces and parentheses, so
	 * count from the last ')'; skip fields 3 to 13 to utime and stime, 14 and 15. */
	if (proc_read(pid, "stat", text, sizeof(text), path, sizeof(path)) < 0 ||
	    (after_name = strrchr(text, ')')) == NULL || ticks <= 0 ||
	    sscanf(after_name + 1, "%*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %llu %llu", &utime,
	        &stime) != 2)
		bench_fail(prog, "%s: cannot read utime and stime", path);
	usage->user_seconds = (double)utime / (double)ticks;
	usage->system_seconds = (double)stime / (double)ticks;
}

json_t *
bench_usage_json(const struct bench_usage *start, const struct bench_usage *end)
{
	return json_pack("{s:I, s:f, s:f, s:f}", "write_bytes",
	    (json_int_t)(end->write_bytes - start->write_bytes), "user_seconds",
	    end->user_seconds - start->user_seconds, "system_seconds",
	    end->system_seconds - start->system_seconds, "seconds",
	    (double)(end->at_ns - start->at_ns) / 1e9);
}

void
bench_print(json_t *obj)
{
	char *text = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);

	if (text == NULL) {
		fprintf(stderr, "bench: out of memory printing the figures\n");
		exit(1);
	}
	printf("%s\n", text);
	fflush(stdout);
	free(text);
	json_decref(obj);
}

void
bench_fail(const char *prog, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}
