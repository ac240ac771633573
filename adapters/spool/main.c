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
#include "clock.h"
#include "log.h"
#include "rows.h"
#include "seen.h"

#define SPOOL_FILES_PER_TICK 64
#define SPOOL_NAME_MAX 255
/* A name in done/ or failed/ leaves room for ".errors.csv.tmp" (or
 * ".reason.txt.tmp") within NAME_MAX. */
#define SPOOL_ARCHIVE_NAME_MAX (SPOOL_NAME_MAX - 15)
/* The outbox room a file may need per byte of CSV: a compact care
 * package row with an end date gives two envelopes, about 7 times its
 * bytes, and LMDB's pages add to that (a list of bare organisation codes,
 * rarer, up to about 17: it fails with its reason). */
#define SPOOL_OUTBOX_PER_FILE_BYTE 8

struct spool {
	struct adapter *a;
	struct event *tick;
	struct spool_seen seen;
	bool stopping;
};

/* An errors file lists this many bad rows at most, and then one line for
 * the rest: a file of short bad rows would otherwise give an errors file
 * (held in memory until it is written) some 26 times its size. */
#define SPOOL_ERRORS_LISTED_MAX 10000

/* What one file gives: its packed envelopes and its error lines. */
struct spool_file {
	struct outbox_item *items;
	size_t n_items, cap_items;
	char *errors; /* the errors file's text */
	size_t errors_len, errors_cap;
	size_t n_listed;	   /* bad rows in errors */
	size_t n_unlisted;	   /* bad rows past SPOOL_ERRORS_LISTED_MAX */
	size_t first_unlisted_line; /* the first of those */
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

/* Names a sender writes while a file is not complete yet. */
static const char *const spool_incomplete_suffixes[] = {
	".part",
	".tmp",
	".filepart", /* WinSCP's upload, renamed when done */
};

/* Complete files only: a sender writes NAME.part (or .tmp, .filepart, or
 * a dot-file) and renames it when done. */
static bool
spool_is_candidate(const char *name)
{
	size_t n = strlen(name);

	if (name[0] == '.' || n > SPOOL_NAME_MAX)
		return false;
	for (size_t i = 0; i < sizeof(spool_incomplete_suffixes) / sizeof(spool_incomplete_suffixes[0]);
	     i++) {
		size_t k = strlen(spool_incomplete_suffixes[i]);

		if (n > k && strcmp(name + n - k, spool_incomplete_suffixes[i]) == 0)
			return false;
	}
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

/* Add err's line to the errors file (and its header before the first). */
static int
spool_errors_add(struct spool_file *f, const struct spool_row_error *err)
{
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

static int
spool_on_error(void *ctx, const struct spool_row_error *err)
{
	struct spool_file *f = ctx;
	int r;

	if (f->n_listed == SPOOL_ERRORS_LISTED_MAX) {
		if (f->n_unlisted++ == 0)
			f->first_unlisted_line = err->line;
		return 0;
	}
	if ((r = spool_errors_add(f, err)) == 0)
		f->n_listed++;
	return r;
}

/* The errors file's last line, when bad rows were left out of it: where
 * they start and how many they are. */
static int
spool_errors_close(struct spool_file *f)
{
	struct spool_row_error err = { .line = f->first_unlisted_line };

	if (f->n_unlisted == 0)
		return 0;
	(void)snprintf(err.reason, sizeof(err.reason),
	    "this bad row and the %zu after it are not listed: an errors file lists the "
	    "first %d",
	    f->n_unlisted - 1, SPOOL_ERRORS_LISTED_MAX);
	return spool_errors_add(f, &err);
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

/*
 * done/ and failed/, and the reports in them, are for the councils too:
 * their transfer accounts read them through the spool's group
 * (docs/SECURITY.md). These modes hold whatever the umask (the unit's is
 * 0077, which would leave them the adapter's alone).
 */
#define SPOOL_DIR_MODE 0750
#define SPOOL_REPORT_MODE 0640

/* Make path a directory of SPOOL_DIR_MODE (a setgid bit taken from the
 * spool kept). 0, or -1 with errno (EEXIST: it is there already). */
static int
spool_mkdir(const char *path)
{
	struct stat st;

	if (mkdir(path, SPOOL_DIR_MODE) < 0)
		return -1;
	if (stat(path, &st) < 0 || chmod(path, (st.st_mode & S_ISGID) | SPOOL_DIR_MODE) < 0)
		log_warning("spool: %s: made, but its mode cannot be set to 0750: %s", path,
		    strerror(errno));
	return 0;
}

/* Write text to path durably: a temporary file, fsync, rename. */
static int
spool_write_file(const char *path, const char *text, size_t len)
{
	char tmp[PATH_MAX];
	int fd, saved;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, SPOOL_REPORT_MODE);
	if (fd < 0)
		return -1;
	if (fchmod(fd, SPOOL_REPORT_MODE) < 0)
		goto fail;
	/* A short write says nothing in errno; the write after it does
	 * (ENOSPC, EIO). */
	while (len > 0) {
		ssize_t n = write(fd, text, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0)
			errno = ENOSPC;
		if (n <= 0)
			break;
		text += n;
		len -= (size_t)n;
	}
	if (len > 0 || fsync(fd) < 0)
		goto fail;
	close(fd);
	return rename(tmp, path);
fail:
	saved = errno ? errno : EIO;
	close(fd);
	unlink(tmp);
	errno = saved;
	return -1;
}

/* The first at most max bytes of name, cut between two UTF-8 characters. */
static size_t
spool_name_cut(const char *name, size_t max)
{
	size_t n = strlen(name);

	if (n <= max)
		return n;
	n = max;
	while (n > 0 && ((unsigned char)name[n] & 0xC0) == 0x80)
		n--;
	return n;
}

/* Whether subdir/base, or its report (base + report_suffix), is there. */
static bool
spool_archive_taken(const char *subdir, const char *base, const char *report_suffix)
{
	char path[PATH_MAX];
	struct stat st;

	if (spool_path(path, sizeof(path), subdir, "", base, "") < 0 || lstat(path, &st) == 0)
		return true;
	if (spool_path(path, sizeof(path), subdir, "", base, report_suffix) < 0 ||
	    lstat(path, &st) == 0)
		return true;
	return false;
}

/*
 * The name a file gets in subdir: its own, or when that (or its report)
 * is there already, its own and .<ms>; cut so that its report's temporary
 * name still fits NAME_MAX.
 */
static int
spool_archive_name(const char *subdir, const char *name, const char *report_suffix, char *out,
    size_t outlen)
{
	int64_t ms;
	size_t n = spool_name_cut(name, SPOOL_ARCHIVE_NAME_MAX);

	if (snprintf(out, outlen, "%.*s", (int)n, name) >= (int)outlen)
		return -1;
	if (!spool_archive_taken(subdir, out, report_suffix))
		return 0;
	ms = clock_now_ms();
	for (int i = 0; i < 1000; i++) {
		char suffix[32];
		snprintf(suffix, sizeof(suffix), ".%" PRId64, ms + i);
		n = spool_name_cut(name, SPOOL_ARCHIVE_NAME_MAX - strlen(suffix));
		if (snprintf(out, outlen, "%.*s%s", (int)n, name, suffix) >= (int)outlen)
			return -1;
		if (!spool_archive_taken(subdir, out, report_suffix))
			return 0;
	}
	return -1;
}

/*
 * Move name into sub/ (done or failed), with its report (the errors file
 * or the reason; none when report is NULL) beside it, never over an
 * earlier file or report: the same file dropped twice is kept twice. sub/
 * is made again when an operator removed it. 0, or -1 and (unless quiet)
 * logged; on -1 the file is where it was and no report is left behind.
 */
static int
spool_move(const char *dir, const char *name, const char *sub, const char *report,
    size_t report_len, bool quiet)
{
	const char *report_suffix = strcmp(sub, "done") == 0 ? ".errors.csv" : ".reason.txt";
	char from[PATH_MAX], subdir[PATH_MAX], to[PATH_MAX], report_path[PATH_MAX];
	char base[SPOOL_ARCHIVE_NAME_MAX + 1];

	if (spool_path(from, sizeof(from), dir, "", name, "") < 0 ||
	    spool_path(subdir, sizeof(subdir), dir, "", sub, "") < 0) {
		if (!quiet)
			log_error("spool: %s: cannot move it to %s/: the path is too long", name, sub);
		return -1;
	}
	if (spool_mkdir(subdir) == 0) {
		log_warning("spool: %s/ was missing: made it again", sub);
	} else if (errno != EEXIST) {
		if (!quiet)
			log_error("spool: %s: cannot move it: cannot make %s/: %s", name, sub,
			    strerror(errno));
		return -1;
	}
	if (spool_archive_name(subdir, name, report_suffix, base, sizeof(base)) < 0 ||
	    spool_path(to, sizeof(to), dir, sub, base, "") < 0 ||
	    spool_path(report_path, sizeof(report_path), dir, sub, base, report_suffix) < 0) {
		if (!quiet)
			log_error("spool: %s: cannot move it to %s/: no free name there", name, sub);
		return -1;
	}
	/* The report first, so that when the file is seen in done/ or failed/
	 * its report is there. */
	if (report != NULL && spool_write_file(report_path, report, report_len) < 0) {
		if (!quiet)
			log_error("spool: %s: cannot write %s/%s%s: %s; the file stays in the spool "
				  "until its report is written",
			    name, sub, base, report_suffix, strerror(errno));
		return -1;
	}
	if (rename(from, to) < 0) {
		int saved = errno;
		if (report != NULL)
			unlink(report_path);
		if (!quiet)
			log_error("spool: %s: cannot move it to %s/: %s", name, sub, strerror(saved));
		return -1;
	}
	if (strcmp(base, name) != 0)
		log_record("spool: %s: moved to %s/%s", name, sub, base);
	return 0;
}

/* The whole file fails: to failed/ with the reason, or (when it cannot be
 * moved) left and skipped from now on, logged once either way. */
static void
spool_fail(struct spool *s, struct spool_seen_file *e, const char *reason)
{
	log_record_warning("spool: %s: failed: %.*s", e->name, (int)strcspn(reason, "\n"), reason);
	if (spool_move(s->a->cfg->spool_directory, e->name, "failed", reason, strlen(reason),
		false) < 0) {
		log_warning("spool: %s: left in the spool and not taken again until it changes",
		    e->name);
		e->state = SPOOL_SEEN_SKIPPED;
	}
}

/* Read the whole of fd (size bytes) into a new buffer; NULL with errno
 * (0: the file's size changed under us). */
static char *
spool_read_all(int fd, size_t size)
{
	char *buf = malloc(size + 1);
	size_t got = 0;

	if (buf == NULL)
		return NULL;
	while (got < size) {
		ssize_t n = read(fd, buf + got, size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = 0;
			free(buf);
			return NULL;
		}
		got += (size_t)n;
	}
	return buf;
}

static const char *
spool_type_name(mode_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFLNK:
		return "a symbolic link";
	case S_IFDIR:
		return "a directory";
	case S_IFIFO:
		return "a FIFO";
	case S_IFSOCK:
		return "a socket";
	case S_IFCHR:
	case S_IFBLK:
		return "a device";
	default:
		return "not a regular file";
	}
}

/* What is in the spool but can never be taken (e->id: what it is now):
 * said once, then skipped. */
static void
spool_skip_not_file(struct spool_seen_file *e)
{
	log_warning("spool: %s: %s, not a regular file: left where it is and not taken", e->name,
	    spool_type_name((mode_t)e->id.type));
	e->state = SPOOL_SEEN_SKIPPED;
}

/* Its rows could not go into the outbox for lack of room. */
static void
spool_no_room(struct spool *s, struct spool_seen_file *e, const struct spool_file *f,
    size_t bytes)
{
	const struct config *cfg = s->a->cfg;
	struct outbox_counts counts = { 0 };
	char reason[700];

	if (outbox_counts(s->a->outbox, &counts) != OUTBOX_OK) {
		/* Whether it could ever fit is not known: not failed for it. */
		log_error("spool: %s: the outbox has no room for it, and what waits there cannot "
			  "be counted: taken again once the outbox is empty", e->name);
		e->state = SPOOL_SEEN_WAITING_ROOM;
		e->pending_at_full = 0;
		return;
	}
	if (bytes <= cfg->adapter_outbox_map_bytes && counts.pending > 0) {
		/* It may fit once what waits is delivered. */
		log_warning("spool: %s: the outbox has no room for its %zu events now (%" PRIu64
			    " waiting for commissiond): taken again once half of those are delivered",
		    e->name, f->n_items, counts.pending);
		e->state = SPOOL_SEEN_WAITING_ROOM;
		e->pending_at_full = counts.pending;
		return;
	}
	snprintf(reason, sizeof(reason),
	    "its %zu events (%zu bytes packed) do not fit in the outbox even with nothing else "
	    "waiting there ([adapter] outbox_map_size is %" PRIu64 " bytes%s): split the file, "
	    "or raise [adapter] outbox_map_size (and keep [spool] max_file_bytes at most an "
	    "eighth of it)\n",
	    f->n_items, bytes, cfg->adapter_outbox_map_bytes,
	    counts.dead_letters ? "; dead letters take part of it (commissionctl deadletters)" : "");
	spool_fail(s, e, reason);
}

/* Take one settled file: its rows into the outbox, then the file to done/
 * (or the whole file to failed/). e says what is remembered of it. */
static void
spool_take(struct spool *s, struct spool_seen_file *e)
{
	const struct config *cfg = s->a->cfg;
	struct spool_file f = { 0 };
	struct spool_file_summary summary = { 0 };
	struct spool_seen_id id, after;
	char path[PATH_MAX], err[512], reason[600];
	struct stat st, now;
	bool changed = false;
	size_t bytes = 0;
	enum outbox_result r;
	char *buf;
	int fd, rc;

	if (spool_path(path, sizeof(path), cfg->spool_directory, "", e->name, "") < 0)
		return;
	/* O_NONBLOCK: a FIFO put in its place since the look must not block
	 * the loop; O_NOFOLLOW: nor a symbolic link take us elsewhere. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW);
	if (fd < 0) {
		if (errno == ENOENT)
			return; /* gone: not ours */
		if (errno == ELOOP) {
			if (lstat(path, &st) == 0) {
				spool_seen_id_of(&st, &e->id);
				spool_skip_not_file(e);
			}
			return;
		}
		/* For now only: a lease another process holds (Samba takes one
		 * for a Windows client's oplock; O_NONBLOCK makes the open say
		 * so rather than wait), or our own resources. */
		if (errno == EWOULDBLOCK || errno == EAGAIN || errno == EINTR || errno == EMFILE ||
		    errno == ENFILE || errno == ENOMEM) {
			log_warning("spool: %s: cannot open it now: %s; trying again at the next look",
			    e->name, strerror(errno));
			return;
		}
		snprintf(reason, sizeof(reason),
		    "cannot be read: %s (the account commissiond-spool runs as must be able to "
		    "read it: have the sender give it group read permission)\n",
		    strerror(errno));
		spool_fail(s, e, reason);
		return;
	}
	if (fstat(fd, &st) < 0) {
		log_error("spool: %s: cannot look at it: %s; trying again later", e->name,
		    strerror(errno));
		close(fd);
		return;
	}
	if (!S_ISREG(st.st_mode)) {
		spool_seen_id_of(&st, &e->id);
		spool_skip_not_file(e);
		close(fd);
		return;
	}
	spool_seen_id_of(&st, &id);
	if (!spool_seen_id_equal(&id, &e->id) || fcntl(fd, F_SETFL, 0) < 0) {
		/* Replaced or written to since the look: let it settle again. */
		spool_seen_reset(e, &id, clock_monotonic_ms());
		close(fd);
		return;
	}
	if ((uint64_t)st.st_size > cfg->spool_max_file_bytes) {
		close(fd);
		snprintf(reason, sizeof(reason), "the file is %lld bytes, above the limit of %" PRIu64
						 " ([spool] max_file_bytes)\n",
		    (long long)st.st_size, cfg->spool_max_file_bytes);
		spool_fail(s, e, reason);
		return;
	}
	errno = 0;
	buf = spool_read_all(fd, (size_t)st.st_size);
	if (buf == NULL) {
		close(fd);
		if (errno == 0) {
			/* Shorter than it was: still being written. */
			spool_seen_reset(e, &id, clock_monotonic_ms());
			return;
		}
		log_error("spool: %s: cannot read it: %s; trying again later", e->name,
		    strerror(errno));
		return;
	}
	rc = spool_read_buffer(buf, (size_t)st.st_size, s->a->pseudonymiser, spool_on_envelope,
	    spool_on_error, &f, &summary, err, sizeof(err));
	free(buf);
	/*
	 * Is what was read still the file as it is? A writer that went on
	 * meanwhile (it paused longer than settle_ms) left us a file whose
	 * last row may be cut, and a cut row can read as a good one with
	 * another value (35 beds as 3): a new event, not a duplicate. Nothing
	 * is put then. Its size and mtime only: renaming another file over
	 * its name changes its ctime, yet what was read is whole (the new
	 * file is caught after the put, and taken too).
	 */
	if (fstat(fd, &now) == 0) {
		spool_seen_id_of(&now, &after);
		changed = after.size != id.size || after.mtime_ns != id.mtime_ns;
	}
	close(fd);
	if (changed) {
		log_warning("spool: %s: it changed while it was being read: taken once it has "
			    "settled (a sender should write NAME.part and rename it)",
		    e->name);
		spool_seen_reset(e, &after, clock_monotonic_ms());
		spool_file_free(&f);
		return;
	}
	if (rc == 0)
		rc = spool_errors_close(&f);
	if (rc == -1) {
		snprintf(reason, sizeof(reason), "%s\n", err);
		spool_fail(s, e, reason);
		spool_file_free(&f);
		return;
	}
	if (rc != 0) {
		log_error("spool: %s: out of memory reading it; trying again later", e->name);
		spool_file_free(&f);
		return;
	}
	for (size_t i = 0; i < f.n_items; i++)
		bytes += f.items[i].len;
	/* Every row in the outbox, or the file stays where it is. */
	r = bytes > cfg->adapter_outbox_map_bytes ? OUTBOX_FULL :
						  adapter_put(s->a, f.items, f.n_items);
	if (r == OUTBOX_FULL) {
		spool_no_room(s, e, &f, bytes);
		spool_file_free(&f);
		return;
	}
	if (r != OUTBOX_OK) {
		log_error("spool: %s: the outbox cannot take it now; trying again later", e->name);
		spool_file_free(&f);
		return;
	}
	log_record("spool: %s: %s: %zu rows, %zu bad, %zu events to deliver", e->name,
	    spool_kind_name(summary.kind), summary.rows, summary.bad_rows, summary.envelopes);
	/* From here its rows are in the outbox: it is never put again as it is. */
	e->state = SPOOL_SEEN_PUT;
	if (lstat(path, &st) < 0) {
		log_warning("spool: %s: gone before it could be moved to done/", e->name);
		spool_file_free(&f);
		return;
	}
	spool_seen_id_of(&st, &after);
	if (!spool_seen_id_equal(&after, &id)) {
		log_warning("spool: %s: it changed while it was being taken: taken again once it "
			    "has settled (a sender should write NAME.part and rename it)",
		    e->name);
		spool_seen_reset(e, &after, clock_monotonic_ms());
		spool_file_free(&f);
		return;
	}
	if (spool_move(cfg->spool_directory, e->name, "done", f.errors_len ? f.errors : NULL,
		f.errors_len, false) < 0) {
		log_warning("spool: %s: its rows are in the outbox: it is not taken again, and "
			    "moving it to done/ is tried again at each look",
		    e->name);
		e->report = f.errors_len ? f.errors : NULL;
		e->report_len = f.errors_len;
		f.errors = NULL;
	}
	spool_file_free(&f);
}

/* Whether the file e (as listed at this look) is to be taken now. */
static bool
spool_is_ready(struct spool *s, struct spool_seen_file *e, int64_t now_ms, int64_t now_real_ms)
{
	const int64_t settle_ms = (int64_t)s->a->cfg->spool_settle_ms;
	struct outbox_counts counts;

	switch (e->state) {
	case SPOOL_SEEN_SKIPPED:
		return false;
	case SPOOL_SEEN_PUT:
		if (spool_move(s->a->cfg->spool_directory, e->name, "done", e->report,
			e->report_len, true) == 0)
			log_record("spool: %s: moved to done/ at last", e->name);
		return false;
	case SPOOL_SEEN_WAITING_ROOM:
		return outbox_counts(s->a->outbox, &counts) == OUTBOX_OK &&
		       counts.pending <= e->pending_at_full / 2;
	case SPOOL_SEEN_SETTLING:
		break;
	}
	if (e->id.type != S_IFREG) {
		spool_skip_not_file(e);
		return false;
	}
	/* Settled: the same size and times for [spool] settle_ms, watched or
	 * told by its mtime, so that one written under its final name is not
	 * read half done (docs/SPOOL.md). */
	return now_ms - e->first_seen_ms >= settle_ms ||
	       now_real_ms - e->id.mtime_ns / 1000000 >= settle_ms;
}

/*
 * Take the settled files waiting, oldest name first (s->seen is kept in
 * name order), at most SPOOL_FILES_PER_TICK, and none once those taken
 * hold [spool] max_file_bytes: a file is read, mapped and put within the
 * tick, and the loop (the watchdog's ping, deliveries and their acks,
 * SIGTERM) must be back after about two files' worth, however many large
 * files wait. Those that cannot be taken do not count.
 */
static void
spool_on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct spool *s = arg;
	const char *dir = s->a->cfg->spool_directory;
	int64_t now_ms = clock_monotonic_ms(), now_real_ms = clock_now_ms();
	size_t taken = 0;
	uint64_t taken_bytes = 0;
	struct dirent *de;
	DIR *d;

	(void)fd;
	(void)what;
	if (s->stopping)
		return;
	d = opendir(dir);
	if (d == NULL) {
		log_error("spool: %s: %s", dir, strerror(errno));
		return;
	}
	while ((de = readdir(d)) != NULL) {
		struct spool_seen_id id;
		struct stat st;

		if (!spool_is_candidate(de->d_name) ||
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISDIR(st.st_mode) &&
		    (strcmp(de->d_name, "done") == 0 || strcmp(de->d_name, "failed") == 0))
			continue;
		spool_seen_id_of(&st, &id);
		(void)spool_seen_note(&s->seen, de->d_name, &id, now_ms); /* NULL: next look */
	}
	closedir(d);
	/* What is left is what this look listed. A file that cannot be taken
	 * now stays, and a later look tries it. */
	spool_seen_prune(&s->seen);
	for (size_t i = 0; i < s->seen.n; i++) {
		struct spool_seen_file *e = &s->seen.files[i];

		if (spool_is_ready(s, e, now_ms, now_real_ms) && !s->stopping &&
		    taken_bytes < s->a->cfg->spool_max_file_bytes &&
		    taken++ < SPOOL_FILES_PER_TICK) {
			taken_bytes += e->id.size;
			spool_take(s, e);
		}
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
		    (spool_mkdir(sub) < 0 && errno != EEXIST)) {
			snprintf(err, errlen, "%s/%s: cannot create it: %s", cfg->spool_directory,
			    name, strerror(errno));
			return -1;
		}
	}
	if (cfg->spool_max_file_bytes > cfg->adapter_outbox_map_bytes / SPOOL_OUTBOX_PER_FILE_BYTE)
		log_warning("spool: [spool] max_file_bytes (%" PRIu64 ") is more than an eighth of "
			    "[adapter] outbox_map_size (%" PRIu64 "): a file's events can take 7 "
			    "times its size in the outbox, so a file near the limit may not fit and "
			    "goes to failed/; lower max_file_bytes or raise outbox_map_size",
		    cfg->spool_max_file_bytes, cfg->adapter_outbox_map_bytes);
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
	spool_seen_free(&s->seen);
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
