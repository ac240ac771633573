/*
 * commissiond-spool: councils' CSV extracts (docs/SPOOL.md) to commissiond.
 * Owns the spool directory: complete files are read, their rows made
 * durable in the outbox, then the file is moved to done/ (with the bad rows
 * in NAME.errors.csv beside it) or, when it cannot be read at all, failed/.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "adapter.h"
#include "log.h"
#include "rows.h"

#define SPOOL_FILES_PER_TICK 64
#define SPOOL_NAME_MAX 255

struct spool {
	struct adapter *a;
	struct event *tick;
	bool stopping;
};

/* What one file gives: its packed envelopes and its error lines. */
struct spool_file {
	struct outbox_item *items;
	size_t n_items, cap_items;
	char *errors; /* the errors file's text */
	size_t errors_len, errors_cap;
};

static const char *
spool_outbox_path(const struct config *cfg)
{
	return cfg->spool_outbox;
}

static int
spool_path(char *out, size_t outlen, const char *dir, const char *sub, const char *name,
    const char *suffix)
{
	int n = snprintf(out, outlen, "%s%s%s/%s%s", dir, sub[0] ? "/" : "", sub, name, suffix);

	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

/* Complete files only: a sender writes NAME.part (or .tmp, or a dot-file)
 * and renames it when done. Our own errors files are never input. */
static bool
spool_is_candidate(const char *name)
{
	size_t n = strlen(name);

	if (name[0] == '.' || n > SPOOL_NAME_MAX)
		return false;
	if ((n > 5 && strcmp(name + n - 5, ".part") == 0) ||
	    (n > 4 && strcmp(name + n - 4, ".tmp") == 0))
		return false;
	return true;
}

static int
spool_on_envelope(void *ctx, const Commissioning__Envelope *env, size_t line)
{
	struct spool_file *f = ctx;
	size_t len = commissioning__envelope__get_packed_size(env);
	uint8_t *bytes;

	(void)line;
	if (f->n_items == f->cap_items) {
		size_t cap = f->cap_items ? f->cap_items * 2 : 64;
		struct outbox_item *grown = realloc(f->items, cap * sizeof(*grown));
		if (grown == NULL)
			return ENOMEM;
		f->items = grown;
		f->cap_items = cap;
	}
	bytes = malloc(len ? len : 1);
	if (bytes == NULL)
		return ENOMEM;
	commissioning__envelope__pack(env, bytes);
	f->items[f->n_items++] = (struct outbox_item){ bytes, len };
	return 0;
}

static int
spool_append_text(struct spool_file *f, const char *text, size_t len)
{
	if (f->errors_len + len + 1 > f->errors_cap) {
		size_t cap = (f->errors_cap ? f->errors_cap * 2 : 4096) + len;
		char *grown = realloc(f->errors, cap);
		if (grown == NULL)
			return ENOMEM;
		f->errors = grown;
		f->errors_cap = cap;
	}
	memcpy(f->errors + f->errors_len, text, len);
	f->errors_len += len;
	f->errors[f->errors_len] = '\0';
	return 0;
}

static int
spool_on_error(void *ctx, const struct spool_row_error *err)
{
	struct spool_file *f = ctx;
	char line[SPOOL_ERRORS_LINE_BUFSIZE];
	int n;

	if (f->errors_len == 0 &&
	    spool_append_text(f, SPOOL_ERRORS_HEADER, strlen(SPOOL_ERRORS_HEADER)) != 0)
		return ENOMEM;
	n = spool_errors_format_line(err, line, sizeof(line));
	if (n < 0)
		return EINVAL;
	return spool_append_text(f, line, (size_t)n);
}

static void
spool_file_free(struct spool_file *f)
{
	for (size_t i = 0; i < f->n_items; i++)
		free((void *)f->items[i].bytes);
	free(f->items);
	free(f->errors);
	memset(f, 0, sizeof(*f));
}

/* Write text to path durably: a temporary file, fsync, rename. */
static int
spool_write_file(const char *path, const char *text, size_t len)
{
	char tmp[PATH_MAX];
	int fd;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -1;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0)
		return -1;
	if (write(fd, text, len) != (ssize_t)len || fsync(fd) < 0) {
		close(fd);
		unlink(tmp);
		return -1;
	}
	close(fd);
	return rename(tmp, path);
}

/* Move name into sub/ (done or failed), never over an earlier file of
 * the same name: the same file dropped twice is kept twice. */
static void
spool_move(const char *dir, const char *name, const char *sub, const char *errors,
    size_t errors_len)
{
	char from[PATH_MAX], to[PATH_MAX], suffix[32] = "";
	struct stat st;

	if (spool_path(from, sizeof(from), dir, "", name, "") < 0 ||
	    spool_path(to, sizeof(to), dir, sub, name, "") < 0)
		return;
	if (stat(to, &st) == 0) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		snprintf(suffix, sizeof(suffix), ".%lld", (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
		spool_path(to, sizeof(to), dir, sub, name, suffix);
	}
	if (errors != NULL) {
		/* The errors (or the reason) first, so that when the file is
		 * seen in done/ or failed/ its report is there. */
		char report[PATH_MAX];
		if (snprintf(report, sizeof(report), "%s%s", to,
			strcmp(sub, "done") == 0 ? ".errors.csv" : ".reason.txt") < (int)sizeof(report) &&
		    spool_write_file(report, errors, errors_len) < 0)
			log_error("spool: %s: cannot write %s: %s", name, report, strerror(errno));
	}
	if (rename(from, to) < 0)
		log_error("spool: %s: cannot move it to %s/: %s", name, sub, strerror(errno));
}

/* 0: the file was dealt with; -1: leave it and try again later. */
static int
spool_take(struct spool *s, const char *name)
{
	const struct config *cfg = s->a->cfg;
	struct spool_file f = { 0 };
	struct spool_file_summary summary = { 0 };
	char path[PATH_MAX], err[512], reason[600];
	struct stat st;
	char *buf = NULL;
	ssize_t got;
	int fd, rc;

	if (spool_path(path, sizeof(path), cfg->spool_directory, "", name, "") < 0)
		return 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		if (fd >= 0)
			close(fd);
		return 0; /* gone, or not a file: not ours */
	}
	if ((uint64_t)st.st_size > cfg->spool_max_file_bytes) {
		close(fd);
		snprintf(reason, sizeof(reason), "the file is %lld bytes, above the limit of %" PRIu64
						 " ([spool] max_file_bytes)\n",
		    (long long)st.st_size, cfg->spool_max_file_bytes);
		log_warning("spool: %s: failed: %s", name, reason);
		spool_move(cfg->spool_directory, name, "failed", reason, strlen(reason));
		return 0;
	}
	buf = malloc((size_t)st.st_size + 1);
	got = buf ? read(fd, buf, (size_t)st.st_size) : -1;
	close(fd);
	if (got != st.st_size) {
		free(buf);
		log_error("spool: %s: cannot read it: %s", name, strerror(errno));
		return -1;
	}
	rc = spool_read_buffer(buf, (size_t)got, s->a->pseudonymiser, spool_on_envelope,
	    spool_on_error, &f, &summary, err, sizeof(err));
	free(buf);
	if (rc == -1) {
		snprintf(reason, sizeof(reason), "%s\n", err);
		log_warning("spool: %s: failed: %s", name, err);
		spool_move(cfg->spool_directory, name, "failed", reason, strlen(reason));
		spool_file_free(&f);
		return 0;
	}
	if (rc != 0) {
		log_error("spool: %s: out of memory reading it; trying again later", name);
		spool_file_free(&f);
		return -1;
	}
	/* Every row in the outbox, or the file stays where it is. */
	if (adapter_put(s->a, f.items, f.n_items) != OUTBOX_OK) {
		log_error("spool: %s: the outbox cannot take it now; trying again later", name);
		spool_file_free(&f);
		return -1;
	}
	log_info("spool: %s: %s: %zu rows, %zu bad, %zu events to deliver", name,
	    spool_kind_name(summary.kind), summary.rows, summary.bad_rows, summary.envelopes);
	spool_move(cfg->spool_directory, name, "done", f.errors_len ? f.errors : NULL,
	    f.errors_len);
	spool_file_free(&f);
	return 0;
}

static int
spool_name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Take the complete files waiting, oldest name first. */
static void
spool_on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct spool *s = arg;
	char *names[SPOOL_FILES_PER_TICK];
	size_t n = 0;
	struct dirent *de;
	DIR *d;

	(void)fd;
	(void)what;
	if (s->stopping)
		return;
	d = opendir(s->a->cfg->spool_directory);
	if (d == NULL) {
		log_error("spool: %s: %s", s->a->cfg->spool_directory, strerror(errno));
		return;
	}
	while ((de = readdir(d)) != NULL && n < SPOOL_FILES_PER_TICK) {
		if (de->d_type != DT_REG && de->d_type != DT_UNKNOWN)
			continue;
		if (spool_is_candidate(de->d_name) && (names[n] = strdup(de->d_name)) != NULL)
			n++;
	}
	closedir(d);
	qsort(names, n, sizeof(names[0]), spool_name_cmp);
	/* A file that cannot be taken now stays, and the next tick tries it. */
	for (size_t i = 0; i < n; i++) {
		if (!s->stopping)
			spool_take(s, names[i]);
		free(names[i]);
	}
}

static int
spool_start(struct adapter *a, char *err, size_t errlen)
{
	const struct config *cfg = a->cfg;
	struct spool *s = calloc(1, sizeof(*s));
	struct timeval every = { (time_t)(cfg->spool_poll_ms / 1000),
		(suseconds_t)(cfg->spool_poll_ms % 1000 * 1000) };
	char sub[PATH_MAX];

	if (s == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	s->a = a;
	a->source = s;
	if (mkdir(cfg->spool_directory, 0750) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "%s: cannot create the spool directory: %s",
		    cfg->spool_directory, strerror(errno));
		return -1;
	}
	for (int i = 0; i < 2; i++) {
		const char *name = i == 0 ? "done" : "failed";
		if (spool_path(sub, sizeof(sub), cfg->spool_directory, "", name, "") < 0 ||
		    (mkdir(sub, 0750) < 0 && errno != EEXIST)) {
			snprintf(err, errlen, "%s/%s: cannot create it: %s", cfg->spool_directory,
			    name, strerror(errno));
			return -1;
		}
	}
	s->tick = event_new(a->base, -1, EV_PERSIST, spool_on_tick, s);
	if (s->tick == NULL || event_add(s->tick, &every) < 0) {
		snprintf(err, errlen, "cannot start the spool timer");
		return -1;
	}
	log_info("spool: watching %s every %" PRIu64 " ms", cfg->spool_directory, cfg->spool_poll_ms);
	return 0;
}

static void
spool_stop(struct adapter *a)
{
	struct spool *s = a->source;

	/* A file is taken whole within one tick: nothing is half-read. */
	s->stopping = true;
}

static void
spool_destroy(struct adapter *a)
{
	struct spool *s = a->source;

	if (s == NULL)
		return;
	if (s->tick != NULL)
		event_free(s->tick);
	free(s);
	a->source = NULL;
}

int
main(int argc, char **argv)
{
	static const struct adapter_spec spec = {
		.name = "commissiond-spool",
		.summary = "Takes councils' CSV extracts (care packages, discharge-ready lists,\n"
			   "care-home capacity, organisation reference data) from a spool\n"
			   "directory and delivers them to commissiond (docs/SPOOL.md).",
		.outbox_path = spool_outbox_path,
		.start = spool_start,
		.stop = spool_stop,
		.destroy = spool_destroy,
	};

	return adapter_main(argc, argv, &spec);
}
