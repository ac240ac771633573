/*
 * archive: commissionctl archive and load, and the archive file they share
 * with rebuild and verify (docs/ARCHIVE.md): a header line, one record an
 * event (its sequence, commit time and Envelope bytes as stored), and a
 * trailer with the count, the range and a BLAKE2b-256 of everything before.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "be64.h"
#include "ctl.h"
#include "dates.h"
#include "store.h"

#define ARCHIVE_MAGIC "commissiond-archive 1\n"
#define ARCHIVE_RECORD 'E'
#define ARCHIVE_TRAILER 'Z'
#define ARCHIVE_RECORD_HEAD (1 + 8 + 8 + 4)
#define ARCHIVE_TRAILER_BYTES (1 + 8 + 8 + 8 + crypto_generichash_BYTES)
/* No stored envelope comes near this (ingest refuses frames above 16 times
 * max_envelope_bytes): a bigger length means a damaged file. */
#define ARCHIVE_RECORD_MAX (1u << 30)

/* ---------------------------------------------------------------- writing */

struct archive_writer {
	FILE *f;
	crypto_generichash_state hash;
	uint64_t count, first, last;
	bool failed;
};

static void
writer_put(struct archive_writer *w, const void *bytes, size_t len)
{
	crypto_generichash_update(&w->hash, bytes, len);
	if (fwrite(bytes, 1, len, w->f) != len)
		w->failed = true;
}

static int
writer_record(void *arg, uint64_t seq, int64_t received_ms, const uint8_t *bytes, size_t len)
{
	struct archive_writer *w = arg;
	uint8_t head[ARCHIVE_RECORD_HEAD];

	head[0] = ARCHIVE_RECORD;
	be64_put(head + 1, seq);
	be64_put(head + 9, (uint64_t)received_ms);
	for (int i = 0; i < 4; i++)
		head[17 + i] = (uint8_t)(len >> (24 - 8 * i));
	writer_put(w, head, sizeof(head));
	writer_put(w, bytes, len);
	if (w->count++ == 0)
		w->first = seq;
	w->last = seq;
	return w->failed;
}

static void
writer_trailer(struct archive_writer *w)
{
	uint8_t t[ARCHIVE_TRAILER_BYTES];
	size_t n = 1 + 24;

	t[0] = ARCHIVE_TRAILER;
	be64_put(t + 1, w->count);
	be64_put(t + 9, w->first);
	be64_put(t + 17, w->last);
	crypto_generichash_update(&w->hash, t, n);
	crypto_generichash_final(&w->hash, t + n, crypto_generichash_BYTES);
	if (fwrite(t, 1, sizeof(t), w->f) != sizeof(t))
		w->failed = true;
}

/* fsync the directory holding path, so that a rename in it is durable. */
static int
sync_directory_of(const char *path)
{
	char copy[4096];

	snprintf(copy, sizeof(copy), "%s", path);
	return store_sync_path(dirname(copy), O_RDONLY | O_DIRECTORY);
}

/* ---------------------------------------------------------------- reading */

static int
read_exact(FILE *f, crypto_generichash_state *hash, void *buf, size_t len)
{
	if (fread(buf, 1, len, f) != len)
		return -1;
	if (hash != NULL)
		crypto_generichash_update(hash, buf, len);
	return 0;
}

int
archive_read(const char *path, archive_record_fn fn, void *arg, struct archive_info *info,
    char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	crypto_generichash_state hash;
	uint8_t head[ARCHIVE_TRAILER_BYTES], sum[crypto_generichash_BYTES],
	    want[crypto_generichash_BYTES];
	char magic[sizeof(ARCHIVE_MAGIC) - 1];
	uint8_t *bytes = NULL;
	uint64_t count = 0, expect = 0;
	int rc = -1, extra;

	memset(info, 0, sizeof(*info));
	if (f == NULL) {
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	crypto_generichash_init(&hash, NULL, 0, sizeof(sum));
	if (read_exact(f, &hash, magic, sizeof(magic)) < 0 ||
	    memcmp(magic, ARCHIVE_MAGIC, sizeof(magic)) != 0) {
		snprintf(err, errlen, "%s: not a commissiond archive (format 1)", path);
		goto out;
	}
	for (;;) {
		uint32_t len = 0;
		uint64_t seq;
		if (read_exact(f, &hash, head, 1) < 0) {
			snprintf(err, errlen, "%s: cut short after %" PRIu64 " events (no trailer)",
			    path, count);
			goto out;
		}
		if (head[0] == ARCHIVE_TRAILER)
			break;
		if (head[0] != ARCHIVE_RECORD ||
		    read_exact(f, &hash, head + 1, ARCHIVE_RECORD_HEAD - 1) < 0) {
			snprintf(err, errlen, "%s: record %" PRIu64 " is damaged", path, count + 1);
			goto out;
		}
		seq = be64_get(head + 1);
		for (int i = 0; i < 4; i++)
			len = len << 8 | head[17 + i];
		if (len > ARCHIVE_RECORD_MAX || (count > 0 && seq != expect) || seq == 0) {
			snprintf(err, errlen, "%s: record %" PRIu64 " is damaged (sequence %" PRIu64
					      ", %u bytes)",
			    path, count + 1, seq, len);
			goto out;
		}
		free(bytes);
		bytes = malloc(len ? len : 1);
		if (bytes == NULL || read_exact(f, &hash, bytes, len) < 0) {
			snprintf(err, errlen, "%s: record %" PRIu64 " is cut short", path, count + 1);
			goto out;
		}
		if (count++ == 0)
			info->first = seq;
		info->last = seq;
		expect = seq + 1;
		if (fn != NULL && fn(arg, seq, (int64_t)be64_get(head + 9), bytes, len) != 0) {
			snprintf(err, errlen, "%s: stopped at event %" PRIu64, path, seq);
			goto out;
		}
	}
	if (read_exact(f, &hash, head + 1, 24) < 0 || read_exact(f, NULL, want, sizeof(want)) < 0) {
		snprintf(err, errlen, "%s: the trailer is cut short", path);
		goto out;
	}
	crypto_generichash_final(&hash, sum, sizeof(sum));
	extra = fgetc(f);
	if (be64_get(head + 1) != count || (count > 0 && (be64_get(head + 9) != info->first ||
							      be64_get(head + 17) != info->last))) {
		snprintf(err, errlen, "%s: the trailer says %" PRIu64 " events, the file holds %" PRIu64,
		    path, be64_get(head + 1), count);
		goto out;
	}
	if (sodium_memcmp(sum, want, sizeof(sum)) != 0 || extra != EOF) {
		snprintf(err, errlen, "%s: the checksum does not match: the file is damaged", path);
		goto out;
	}
	info->count = count;
	sodium_bin2hex(info->checksum, sizeof(info->checksum), sum, sizeof(sum));
	rc = 0;
out:
	free(bytes);
	fclose(f);
	return rc;
}

/* ---------------------------------------------------------------- archive */

/* "YYYY-MM-DD" (midnight UTC) or "YYYY-MM-DDTHH:MM:SSZ": UTC ms. */
static int
parse_before(const char *text, int64_t *ms)
{
	char day[11];
	int32_t days;
	unsigned h = 0, m = 0, s = 0;
	char z = 'Z', rest;

	if (strlen(text) < 10)
		return -1;
	memcpy(day, text, 10);
	day[10] = '\0';
	if (dates_parse_date(day, &days) < 0)
		return -1;
	if (text[10] != '\0' &&
	    (sscanf(text + 10, "T%2u:%2u:%2u%c%c", &h, &m, &s, &z, &rest) != 4 || z != 'Z' ||
		h > 23 || m > 59 || s > 59 || strlen(text) != 20))
		return -1;
	*ms = ((int64_t)days * 86400 + h * 3600 + m * 60 + s) * 1000;
	return 0;
}

/* Write events first..last of store to out, durably: a .part file made
 * whole, fsynced, then linked to its name (never over an existing file). */
static int
archive_write(struct store *store, uint64_t first, uint64_t last, const char *out,
    struct archive_writer *w)
{
	char part[4096];
	int fd, rc = -1;

	if (snprintf(part, sizeof(part), "%s.part", out) >= (int)sizeof(part)) {
		fprintf(stderr, "commissionctl: archive: the file name is too long\n");
		return -1;
	}
	fd = open(part, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	if (fd < 0 && errno == EEXIST) {
		fprintf(stderr, "commissionctl: archive: %s already exists: an archive to %s is "
				"being written, or one was interrupted (it is not a whole archive): "
				"remove it if none is running, and try again\n",
		    part, out);
		return -1;
	}
	if (fd < 0 || (w->f = fdopen(fd, "wb")) == NULL) {
		fprintf(stderr, "commissionctl: archive: %s: %s\n", part, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	crypto_generichash_init(&w->hash, NULL, 0, crypto_generichash_BYTES);
	writer_put(w, ARCHIVE_MAGIC, strlen(ARCHIVE_MAGIC));
	if (store_scan_events_received(store, first, last, writer_record, w) != STORE_OK) {
		fprintf(stderr, "commissionctl: archive: %s\n", store_error(store));
		fclose(w->f);
		unlink(part);
		return -1;
	}
	else if (!w->failed)
		writer_trailer(w);
	if (w->failed || fflush(w->f) != 0 || fsync(fileno(w->f)) != 0) {
		fprintf(stderr, "commissionctl: archive: %s not written whole: %s\n", part,
		    strerror(errno));
		goto out;
	}
	if (link(part, out) < 0) {
		fprintf(stderr, "commissionctl: archive: %s: %s\n", out,
		    errno == EEXIST ? "already exists: choose another name" : strerror(errno));
		goto out;
	}
	rc = sync_directory_of(out);
out:
	fclose(w->f);
	unlink(part);
	return rc;
}

/* archive's work, once its options are read: --before is before_ms. */
static int
archive_run(const struct config *cfg, const char *before_text, int64_t before_ms,
    const char *out, bool prune)
{
	struct archive_writer w = { 0 };
	struct archive_info check;
	struct store *store;
	int written;
	uint64_t first, last, removed = 0;
	char err[768];
	json_t *report;

	/* Said before the store is read: writing a large archive takes
	 * long, and only its last step (the link) would find out. */
	if (access(out, F_OK) == 0) {
		fprintf(stderr, "commissionctl: archive: %s: already exists: choose another name "
				"(nothing was read or written)%s\n",
		    out,
		    prune ? ". If an archive --prune to it was interrupted, keep it: the same "
			    "command with another --out finishes the prune, and that other file, "
			    "which holds only events this one holds, may then be deleted "
			    "(docs/ARCHIVE.md)"
			  : "");
		return CTL_STORE;
	}
	if ((store = ctl_open_store(cfg, cfg->store_path, true, STORE_SYNC_FULL)) == NULL)
		return CTL_STORE;
	if (store_events_before(store, before_ms, &first, &last) != STORE_OK) {
		fprintf(stderr, "commissionctl: archive: %s\n", store_error(store));
		store_close(&store);
		return CTL_STORE;
	}
	if (last < first) {
		fprintf(stderr, "commissionctl: archive: no event in the log was committed before "
				"%s; nothing written\n",
		    before_text);
		store_close(&store);
		return CTL_OK;
	}
	if (archive_write(store, first, last, out, &w) < 0) {
		store_close(&store);
		return CTL_STORE;
	}
	store_close(&store);
	/* Read back what was written before anything leaves the log. */
	if (archive_read(out, NULL, NULL, &check, err, sizeof(err)) < 0) {
		fprintf(stderr, "commissionctl: archive: reading it back: %s\n", err);
		return CTL_STORE;
	}
	if (check.first != first || check.last != last) {
		fprintf(stderr, "commissionctl: archive: reading it back: %s holds events %" PRIu64
				" to %" PRIu64 ", not the %" PRIu64 " to %" PRIu64 " written (was it "
				"replaced meanwhile?); nothing was removed from the log\n",
		    out, check.first, check.last, first, last);
		return CTL_STORE;
	}
	if (prune) {
		if ((store = ctl_open_store(cfg, cfg->store_path, false, STORE_SYNC_FULL)) == NULL)
			return CTL_STORE;
		if (store_remove_events(store, last, cfg->store_prune_batch_limit, &removed) !=
		    STORE_OK) {
			/* The same command again would find --out taken, and
			 * load refuses the file: its later events are still in
			 * the log. */
			fprintf(stderr, "commissionctl: archive: removing archived events: %s; %" PRIu64
					" of %" PRIu64 " removed. %s is whole and holds them all: keep "
					"it. To finish, run archive --prune again with the same --before "
					"and another --out; that file holds only events %s holds too, and "
					"may be deleted\n",
			    store_error(store), removed, check.count, out, out);
			store_close(&store);
			return CTL_STORE;
		}
		store_close(&store);
	}
	report = json_pack("{s:o, s:I, s:I, s:I, s:s, s:b, s:I}", "archive", ctl_json_text(out),
	    "first",
	    (json_int_t)first, "last", (json_int_t)last, "events", (json_int_t)check.count,
	    "checksum", check.checksum, "pruned", prune, "removed", (json_int_t)removed);
	written = ctl_print_json(report);
	json_decref(report);
	return ctl_output_failed("archive", written) < 0 ? CTL_REFUSED : CTL_OK;
}

int
ctl_archive(const struct config *cfg, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "before", required_argument, NULL, 'b' },
		{ "out", required_argument, NULL, 'o' },
		{ "prune", no_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	const char *usage = "usage: commissionctl archive --before DATE --out FILE [--prune]\n";
	const char *before_text = NULL, *out = NULL;
	int64_t before_ms = 0;
	bool prune = false;
	struct store_lock *changes = NULL;
	int status;
	int ch;

	optind = 0; /* 0: glibc starts afresh, forgetting the "+" of the global options */
	while ((ch = getopt_long(argc, argv, "b:o:p", longopts, NULL)) != -1) {
		if (ch == 'b')
			before_text = optarg;
		else if (ch == 'o')
			out = optarg;
		else if (ch == 'p')
			prune = true;
		else {
			fputs(usage, stderr);
			return CTL_USAGE;
		}
	}
	if (optind != argc || out == NULL || before_text == NULL) {
		fputs(usage, stderr);
		return CTL_USAGE;
	}
	if (parse_before(before_text, &before_ms) < 0) {
		fprintf(stderr, "commissionctl: archive: --before %s: not YYYY-MM-DD or "
				"YYYY-MM-DDTHH:MM:SSZ (UTC)\n",
		    before_text);
		return CTL_USAGE;
	}
	/* A restore or load must not replace the store, or put events back
	 * into it, between the archive written and the events pruned. */
	if (prune && (status = ctl_lock_changes(cfg, "archive", false, &changes)) != CTL_OK)
		return status;
	status = archive_run(cfg, before_text, before_ms, out, prune);
	store_lock_release(&changes);
	return status;
}

/* ---------------------------------------------------------------- load */

struct load_state {
	struct store_batch *batch;
	enum store_result r;
};

static int
load_record(void *arg, uint64_t seq, int64_t received_ms, const uint8_t *bytes, size_t len)
{
	struct load_state *ls = arg;

	ls->r = store_batch_put_archived_event(ls->batch, seq, received_ms, bytes, len);
	return ls->r != STORE_OK;
}

/* Does the archive at path (info) end where the log (c) begins? Says
 * why not on stderr: its events already there, past the log's end, or a
 * gap left between. */
static int
load_fits(const char *path, const struct archive_info *info, const struct store_counts *c)
{
	uint64_t begins = c->first_event_sequence;

	if (info->count > 0 && info->last + 1 == begins)
		return 0;
	if (info->count == 0)
		fprintf(stderr, "commissionctl: load: %s holds no events: nothing to load\n", path);
	else if (info->last > c->last_event_sequence)
		fprintf(stderr, "commissionctl: load: %s holds events %" PRIu64 " to %" PRIu64
				", past this store's last event, %" PRIu64 ": it is not an archive "
				"of this store\n",
		    path, info->first, info->last, c->last_event_sequence);
	else if (info->last >= begins)
		fprintf(stderr, "commissionctl: load: %s holds events %" PRIu64 " to %" PRIu64
				", and events %" PRIu64 " to %" PRIu64 " are already in the log "
				"(it holds %" PRIu64 " to %" PRIu64 "): nothing loaded\n",
		    path, info->first, info->last, info->first > begins ? info->first : begins,
		    info->last, begins, c->last_event_sequence);
	else
		fprintf(stderr, "commissionctl: load: %s holds events %" PRIu64 " to %" PRIu64
				", but the log begins at %" PRIu64 ": load the archive that ends at "
				"%" PRIu64 " first (the log stays gap-free)\n",
		    path, info->first, info->last, begins, begins - 1);
	return -1;
}

int
ctl_load(const struct config *cfg, int argc, char **argv)
{
	struct archive_info info;
	struct store_lock *lock, *changes;
	struct store *store;
	struct store_counts c;
	struct load_state ls = { 0 };
	char err[768];
	json_t *report;
	int written;

	if (argc != 2)
		return ctl_usage_arguments("load", "commissionctl load FILE", argc, argv, 2, "FILE");
	if (archive_read(argv[1], NULL, NULL, &info, err, sizeof(err)) < 0) {
		fprintf(stderr, "commissionctl: load: %s\n", err);
		return CTL_REFUSED;
	}
	/* No store there is a typo, not a place for one: the lock would
	 * make the directory. */
	if (store_check_exists(cfg->store_path, err, sizeof(err)) < 0) {
		fprintf(stderr, "commissionctl: load: %s\n", err);
		return CTL_STORE;
	}
	/* Offline: the daemon must not append while the log is put back. */
	if ((lock = store_lock_take(cfg->store_path, "commissionctl load", err, sizeof(err))) ==
	    NULL) {
		fprintf(stderr, "commissionctl: load: %s\n", err);
		return CTL_REFUSED;
	}
	/* Nor may a rebuild be at work: it would read the log as it grows
	 * at the front. */
	if (ctl_lock_changes(cfg, "load", true, &changes) != CTL_OK) {
		store_lock_release(&lock);
		return CTL_REFUSED;
	}
	if ((store = ctl_open_store(cfg, cfg->store_path, false, STORE_SYNC_FULL)) == NULL) {
		store_lock_release(&changes);
		store_lock_release(&lock);
		return CTL_STORE;
	}
	if (store_read_counts(store, &c) != STORE_OK) {
		fprintf(stderr, "commissionctl: load: %s\n", store_error(store));
		goto fail;
	}
	if (load_fits(argv[1], &info, &c) < 0)
		goto refused;
	for (;;) {
		if ((ls.r = store_batch_begin(store, &ls.batch)) != STORE_OK)
			break;
		ls.r = STORE_OK;
		if (archive_read(argv[1], load_record, &ls, &info, err, sizeof(err)) < 0 &&
		    ls.r == STORE_OK) {
			fprintf(stderr, "commissionctl: load: %s\n", err);
			store_batch_abort(&ls.batch);
			goto refused;
		}
		if (ls.r != STORE_OK)
			store_batch_abort(&ls.batch);
		else
			ls.r = store_batch_commit(&ls.batch);
		if (ls.r != STORE_MAP_FULL || store_grow(store) != STORE_OK)
			break;
	}
	if (ls.r != STORE_OK) {
		fprintf(stderr, "commissionctl: load: %s\n", store_error(store));
		goto fail;
	}
	report = json_pack("{s:o, s:I, s:I, s:I}", "loaded", ctl_json_text(argv[1]), "first",
	    (json_int_t)info.first, "last", (json_int_t)info.last, "events",
	    (json_int_t)info.count);
	written = ctl_print_json(report);
	json_decref(report);
	store_close(&store);
	store_lock_release(&changes);
	store_lock_release(&lock);
	return ctl_output_failed("load", written) < 0 ? CTL_REFUSED : CTL_OK;
refused:
	store_close(&store);
	store_lock_release(&changes);
	store_lock_release(&lock);
	return CTL_REFUSED;
fail:
	store_close(&store);
	store_lock_release(&changes);
	store_lock_release(&lock);
	return CTL_STORE;
}
