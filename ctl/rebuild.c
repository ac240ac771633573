/*
 * rebuild: commissionctl's consistency tools for the projections' state.
 * `digest` hashes every history; `rebuild --check` replays the event log
 * into a scratch store and compares digests; `rebuild` replaces the state
 * from the log in one transaction (after a projection change).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "clock.h"
#include "config.h"
#include "ctl.h"
#include "projections.h"
#include "state.h"
#include "store.h"

#define REBUILD_PROGRESS_EVERY 10000

/* ---- digests: BLAKE2b-256 over (key length, key, value length, value) of
 * every history in key order, overall and per kind of thing. */

struct digest_kind {
	crypto_generichash_state state;
	uint64_t count;
	bool used;
};

struct digest {
	crypto_generichash_state all;
	uint64_t count;
	struct digest_kind kinds[128];
};

static void
digest_feed(crypto_generichash_state *st, const uint8_t *bytes, size_t len)
{
	uint8_t n[8];

	for (int i = 0; i < 8; i++)
		n[i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
	crypto_generichash_update(st, n, sizeof(n));
	crypto_generichash_update(st, bytes, len);
}

static int
digest_add(void *arg, const uint8_t *key, size_t keylen, const uint8_t *bytes, size_t len)
{
	struct digest *d = arg;
	struct digest_kind *k = &d->kinds[key[0] & 127];

	if (!k->used) {
		crypto_generichash_init(&k->state, NULL, 0, crypto_generichash_BYTES);
		k->used = true;
	}
	digest_feed(&d->all, key, keylen);
	digest_feed(&d->all, bytes, len);
	digest_feed(&k->state, key, keylen);
	digest_feed(&k->state, bytes, len);
	d->count++;
	k->count++;
	return 0;
}

static void
digest_hex(crypto_generichash_state *st, char out[2 * crypto_generichash_BYTES + 1])
{
	uint8_t h[crypto_generichash_BYTES];

	crypto_generichash_final(st, h, sizeof(h));
	sodium_bin2hex(out, 2 * crypto_generichash_BYTES + 1, h, sizeof(h));
}

/* The digest of store's state as JSON: {"histories", "digest", "kinds"}. */
static json_t *
digest_of(struct store *store)
{
	struct digest *d = calloc(1, sizeof(*d));
	char hex[2 * crypto_generichash_BYTES + 1];
	json_t *json, *kinds;

	if (d == NULL)
		return NULL;
	crypto_generichash_init(&d->all, NULL, 0, crypto_generichash_BYTES);
	if (store_scan_histories(store, digest_add, d) != STORE_OK) {
		free(d);
		return NULL;
	}
	digest_hex(&d->all, hex);
	kinds = json_object();
	for (int i = 0; i < 128; i++) {
		char khex[2 * crypto_generichash_BYTES + 1];
		const char *name = thing_kind_name(i);
		if (!d->kinds[i].used)
			continue;
		digest_hex(&d->kinds[i].state, khex);
		json_object_set_new(kinds, name ? name : "unknown",
		    json_pack("{s:I, s:s}", "histories", (json_int_t)d->kinds[i].count, "digest", khex));
	}
	json = json_pack("{s:I, s:s, s:o}", "histories", (json_int_t)d->count, "digest", hex,
	    "kinds", kinds);
	free(d);
	return json;
}

int
ctl_digest(const struct config *cfg, int argc, char **argv)
{
	struct store *store;
	json_t *json;
	int status = CTL_STORE;

	if (argc != 1)
		return ctl_usage_arguments("digest", "commissionctl digest", argc, argv, 1, NULL);
	if ((store = ctl_open_store(cfg, cfg->store_path, true, STORE_SYNC_FULL)) == NULL)
		return CTL_STORE;
	json = digest_of(store);
	if (json == NULL)
		fprintf(stderr, "commissionctl: %s\n", store_error(store));
	else if (ctl_output_failed("digest", ctl_print_json(json)) < 0)
		status = CTL_REFUSED;
	else
		status = CTL_OK;
	json_decref(json);
	store_close(&store);
	return status;
}

/* ---- replaying the log */

#define REBUILD_ARCHIVES_MAX 64

struct replay_state {
	struct store_batch *batch;
	uint64_t done, total, undecodable;
	bool progress;
	/* rebuild in place: an event that does not decode stops it, as
	 * the state made from it cannot be remade (--check counts it). */
	bool in_place;
	enum store_result failed;
	struct store *target; /* the store replayed into */
	const char *archive; /* the archive being replayed, or NULL */
	bool wrong_archive; /* it holds an event this store did not accept */
	char why[768];	    /* why the replay failed, when not the store's error */
};

static int
rebuild_apply(void *arg, uint64_t seq, const uint8_t *bytes, size_t len)
{
	struct replay_state *rs = arg;
	Commissioning__Envelope *env = commissioning__envelope__unpack(NULL, len, bytes);

	if (env == NULL && rs->in_place) {
		snprintf(rs->why, sizeof(rs->why), "event %" PRIu64 " does not decode: the state "
			 "it made cannot be remade from the log (commissionctl verify names the "
			 "damage); nothing was changed", seq);
		rs->undecodable++;
		rs->failed = STORE_FAILED;
		return 1;
	}
	if (env == NULL) {
		fprintf(stderr, "commissionctl: event %" PRIu64 " does not decode; skipped\n", seq);
		rs->undecodable++;
		return 0;
	}
	rs->failed = state_apply(rs->batch, NULL, env, bytes, len, NULL);
	commissioning__envelope__free_unpacked(env, NULL);
	if (++rs->done % REBUILD_PROGRESS_EVERY == 0 && rs->progress)
		fprintf(stderr, "\rrebuild: %" PRIu64 " of %" PRIu64 " events (%d%%)", rs->done,
		    rs->total, (int)(rs->total ? rs->done * 100 / rs->total : 100));
	return rs->failed != STORE_OK;
}

/* An archived event is replayed only when it is the one this store
 * accepted under seq (store_batch_check_archived_event): another store's
 * archive with the same sequences would otherwise remake the state from
 * events never accepted here. */
static int
rebuild_apply_archived(void *arg, uint64_t seq, int64_t received_ms, const uint8_t *bytes,
    size_t len)
{
	struct replay_state *rs = arg;

	(void)received_ms;
	if (store_batch_check_archived_event(rs->batch, seq, bytes, len) != STORE_OK) {
		snprintf(rs->why, sizeof(rs->why), "%s: %s", rs->archive,
		    store_error(rs->target));
		rs->wrong_archive = true;
		rs->failed = STORE_FAILED;
		return 1;
	}
	return rebuild_apply(arg, seq, bytes, len);
}

/* The archives to replay before the log, in order: together they must
 * hold events 1 to first_event - 1 with no gap and no overlap. *order
 * gets their indexes in sequence order; -1 with err when they do not fit. */
static int
rebuild_archives_fit(char *const *archives, int n, uint64_t first_event, int *order, char *err,
    size_t errlen)
{
	struct archive_info info[REBUILD_ARCHIVES_MAX];
	uint64_t expect = 1;

	for (int i = 0; i < n; i++) {
		if (archive_read(archives[i], NULL, NULL, &info[i], err, errlen) < 0)
			return -1;
		/* Insertion by first sequence: a handful of files. */
		int j = i;
		while (j > 0 && info[order[j - 1]].first > info[i].first) {
			order[j] = order[j - 1];
			j--;
		}
		order[j] = i;
	}
	for (int k = 0; k < n; k++) {
		const struct archive_info *a = &info[order[k]];
		if (a->count == 0 || a->first != expect) {
			snprintf(err, errlen, "%s holds events %" PRIu64 " to %" PRIu64
					      "; the replay needs the archive beginning at %" PRIu64,
			    archives[order[k]], a->first, a->last, expect);
			return -1;
		}
		expect = a->last + 1;
	}
	if (expect != first_event) {
		if (n == 0)
			snprintf(err, errlen, "the log begins at sequence %" PRIu64 ": events 1 to "
					      "%" PRIu64 " are archived; give their archive files "
					      "with --archive FILE, or put them back with commissionctl "
					      "load",
			    first_event, first_event - 1);
		else
			snprintf(err, errlen, "the archives end at %" PRIu64 " but the log begins at "
					      "%" PRIu64,
			    expect - 1, first_event);
		return -1;
	}
	return 0;
}

static enum store_result
rebuild_derived(struct store_batch *batch)
{
	struct tallies *tallies = tallies_new();
	enum store_result r = tallies != NULL
	    ? state_rebuild_derived(batch, tallies, clock_now_ms())
	    : STORE_FAILED;

	tallies_destroy(&tallies);
	return r;
}

/* Remake target's state from the archives (in order) and target's own
 * event log, in one transaction, growing the map when it fills. */
static enum store_result
rebuild_state(struct store *target, struct replay_state *rs, char *const *archives,
    const int *order, int n)
{
	enum store_result r;
	char err[768];

	for (;;) {
		rs->done = rs->undecodable = 0;
		rs->failed = STORE_OK;
		rs->target = target;
		rs->why[0] = '\0';
		r = store_batch_begin(target, &rs->batch);
		if (r != STORE_OK)
			return r;
		store_batch_clear_histories(rs->batch);
		for (int i = 0; i < n && rs->failed == STORE_OK; i++) {
			rs->archive = archives[order[i]];
			if (archive_read(archives[order[i]], rebuild_apply_archived, rs, &(struct archive_info){ 0 },
				err, sizeof(err)) < 0 &&
			    rs->failed == STORE_OK) {
				snprintf(rs->why, sizeof(rs->why), "%s", err);
				rs->failed = STORE_FAILED;
			}
		}
		if (rs->failed == STORE_OK)
			store_batch_scan_events(rs->batch, rebuild_apply, rs);
		/* Then what is kept beside the histories, from them. */
		if (rs->failed == STORE_OK)
			rs->failed = rebuild_derived(rs->batch);
		if (rs->failed != STORE_OK) {
			store_batch_abort(&rs->batch);
			r = rs->failed;
		} else {
			r = store_batch_commit(&rs->batch);
		}
		if (rs->progress)
			fprintf(stderr, "\n");
		if (r != STORE_MAP_FULL || store_grow(target) != STORE_OK)
			return r;
	}
}

/* The scratch copy of rebuild_check, removed even when a signal ends the
 * process (Ctrl-C on a long verify): left behind, each would hold a copy
 * of the store in TMPDIR. */
static struct {
	char dir[PATH_MAX], data[PATH_MAX + 16], lock[PATH_MAX + 16];
	volatile sig_atomic_t armed;
	struct sigaction old[3];
} scratch_copy;
static const int scratch_signals[] = { SIGINT, SIGTERM, SIGHUP };

static void
scratch_on_signal(int sig)
{
	/* unlink, rmdir, signal and raise are async-signal-safe. */
	if (scratch_copy.armed) {
		unlink(scratch_copy.data);
		unlink(scratch_copy.lock);
		rmdir(scratch_copy.dir);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

/* dir has been made: remove it and its files if a signal ends the
 * process, unless the signal was ignored (nohup). */
static void
scratch_arm(const char *dir)
{
	struct sigaction sa = { .sa_handler = scratch_on_signal };

	snprintf(scratch_copy.dir, sizeof(scratch_copy.dir), "%s", dir);
	snprintf(scratch_copy.data, sizeof(scratch_copy.data), "%s/data.mdb", dir);
	snprintf(scratch_copy.lock, sizeof(scratch_copy.lock), "%s/lock.mdb", dir);
	sigemptyset(&sa.sa_mask);
	scratch_copy.armed = 1;
	for (size_t i = 0; i < sizeof(scratch_signals) / sizeof(scratch_signals[0]); i++)
		if (sigaction(scratch_signals[i], NULL, &scratch_copy.old[i]) == 0 &&
		    scratch_copy.old[i].sa_handler != SIG_IGN)
			sigaction(scratch_signals[i], &sa, NULL);
}

static void
remove_scratch(void)
{
	unlink(scratch_copy.data);
	unlink(scratch_copy.lock);
	rmdir(scratch_copy.dir);
	scratch_copy.armed = 0;
	for (size_t i = 0; i < sizeof(scratch_signals) / sizeof(scratch_signals[0]); i++)
		sigaction(scratch_signals[i], &scratch_copy.old[i], NULL);
}

/* rebuild_check when the replay could not be made at all: no verdict on
 * the state (CTL_STORE), and why in the report's reason. */
static int __attribute__((format(printf, 2, 3)))
rebuild_not_made(json_t **report, const char *fmt, ...)
{
	char why[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	*report = json_pack("{s:b, s:o}", "clean", false, "reason", ctl_json_text(why));
	return CTL_STORE;
}

int
rebuild_check(const struct config *cfg, char *const *archives, int n, json_t **report)
{
	struct replay_state rs = { .progress = isatty(STDERR_FILENO) };
	struct store_counts counts;
	struct store *live, *scratch;
	const char *tmp = getenv("TMPDIR");
	char dir[PATH_MAX], err[768];
	sigset_t held, was;
	int order[REBUILD_ARCHIVES_MAX], status;
	json_t *before, *after;
	enum store_result r;

	*report = NULL;
	/* The scratch copy is as big as the store: TMPDIR can put it where
	 * there is room. */
	if (tmp == NULL || tmp[0] == '\0')
		tmp = "/tmp";
	if (snprintf(dir, sizeof(dir), "%s/commissiond-rebuild-XXXXXX", tmp) >= (int)sizeof(dir))
		return rebuild_not_made(report, "TMPDIR is too long for a scratch directory: %s",
		    tmp);
	if ((live = ctl_open_store(cfg, cfg->store_path, true, STORE_SYNC_FULL)) == NULL)
		return CTL_STORE;
	/* No signal between making the directory and being ready to remove
	 * it: one is held back until then. */
	sigemptyset(&held);
	for (size_t i = 0; i < sizeof(scratch_signals) / sizeof(scratch_signals[0]); i++)
		sigaddset(&held, scratch_signals[i]);
	sigprocmask(SIG_BLOCK, &held, &was);
	if (mkdtemp(dir) == NULL) {
		status = rebuild_not_made(report, "cannot make a scratch directory %s: %s (TMPDIR "
						  "says where to make it)",
		    dir, strerror(errno));
		sigprocmask(SIG_SETMASK, &was, NULL);
		store_close(&live);
		return status;
	}
	scratch_arm(dir);
	sigprocmask(SIG_SETMASK, &was, NULL);
	/* A consistent snapshot of the log and state, as big as the store
	 * compacted. */
	if (store_backup(live, dir) != STORE_OK) {
		status = rebuild_not_made(report, "cannot copy the store into the scratch directory "
						  "%s: %s (the copy needs room for the store; TMPDIR "
						  "says where to make it)",
		    dir, store_error(live));
		store_close(&live);
		remove_scratch();
		return status;
	}
	store_close(&live);
	if ((scratch = ctl_open_store(cfg, dir, false, STORE_SYNC_NONE)) == NULL) {
		remove_scratch();
		return rebuild_not_made(report, "cannot open the scratch copy in %s (said above)",
		    dir);
	}
	/* The snapshot's own digest, not the live one: the daemon may have
	 * moved on since. */
	before = digest_of(scratch);
	if (before == NULL || store_read_counts(scratch, &counts) != STORE_OK) {
		status = rebuild_not_made(report, "reading the scratch copy in %s: %s", dir,
		    store_error(scratch));
		json_decref(before);
		store_close(&scratch);
		remove_scratch();
		return status;
	}
	if (rebuild_archives_fit(archives, n, counts.first_event_sequence, order, err,
		sizeof(err)) < 0) {
		*report = json_pack("{s:b, s:o}", "clean", false, "reason", ctl_json_text(err));
		json_decref(before);
		store_close(&scratch);
		remove_scratch();
		return CTL_REFUSED;
	}
	rs.total = counts.last_event_sequence;
	r = rebuild_state(scratch, &rs, archives, order, n);
	after = r == STORE_OK ? digest_of(scratch) : NULL;
	if (rs.wrong_archive) {
		*report = json_pack("{s:b, s:o}", "clean", false, "reason", ctl_json_text(rs.why));
		status = CTL_REFUSED;
	} else if (r != STORE_OK || after == NULL) {
		status = rebuild_not_made(report, "replaying into the scratch copy: %s",
		    rs.why[0] != '\0' ? rs.why : store_error(scratch));
	} else {
		status = json_equal(before, after) ? CTL_OK : CTL_REFUSED;
		*report = json_pack("{s:I, s:b, s:O, s:O}", "events", (json_int_t)rs.done, "clean",
		    status == CTL_OK, "stored", before, "rebuilt", after);
	}
	json_decref(before);
	json_decref(after);
	store_close(&scratch);
	remove_scratch();
	return status;
}

/* Replace the store's state by the replay, in one write transaction: the
 * daemon's ingest waits for it, and never sees half-rebuilt state. */
static int
rebuild_in_place(const struct config *cfg, char *const *archives, int n)
{
	struct replay_state rs = { .progress = isatty(STDERR_FILENO), .in_place = true };
	struct store_counts counts;
	struct store *live;
	int order[REBUILD_ARCHIVES_MAX], written;
	char err[768];
	json_t *before, *after, *report;
	enum store_result r;

	if ((live = ctl_open_store(cfg, cfg->store_path, false, STORE_SYNC_FULL)) == NULL)
		return CTL_STORE;
	/* Where the log begins decides which archives it needs. */
	if (store_read_counts(live, &counts) != STORE_OK) {
		fprintf(stderr, "commissionctl: rebuild: %s; nothing was changed\n",
		    store_error(live));
		store_close(&live);
		return CTL_STORE;
	}
	if (rebuild_archives_fit(archives, n, counts.first_event_sequence, order, err,
		sizeof(err)) < 0) {
		fprintf(stderr, "commissionctl: rebuild: %s\n", err);
		store_close(&live);
		return CTL_REFUSED;
	}
	rs.total = counts.last_event_sequence;
	before = digest_of(live);
	r = rebuild_state(live, &rs, archives, order, n);
	after = r == STORE_OK ? digest_of(live) : NULL;
	if (r != STORE_OK)
		fprintf(stderr, "commissionctl: rebuild: %s%s\n",
		    rs.why[0] != '\0' ? rs.why : store_error(live),
		    rs.wrong_archive ? "; nothing was changed" : "");
	report = json_pack("{s:I, s:I, s:b, s:O?, s:O?}", "events", (json_int_t)rs.done,
	    "undecodable", (json_int_t)rs.undecodable, "changed",
	    before && after && !json_equal(json_object_get(before, "digest"),
				     json_object_get(after, "digest")),
	    "before", before, "after", after);
	written = ctl_print_json(report);
	json_decref(report);
	json_decref(before);
	json_decref(after);
	store_close(&live);
	if (r != STORE_OK)
		return rs.wrong_archive ? CTL_REFUSED : CTL_STORE;
	return ctl_output_failed("rebuild", written) < 0 ? CTL_REFUSED : CTL_OK;
}

int
ctl_rebuild(const struct config *cfg, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "check", no_argument, NULL, 'c' },
		{ "archive", required_argument, NULL, 'a' },
		{ NULL, 0, NULL, 0 },
	};
	char *archives[REBUILD_ARCHIVES_MAX];
	int n = 0, ch, status;
	bool check = false;
	json_t *report;

	optind = 0; /* 0: glibc starts afresh, forgetting the "+" of the global options */
	while ((ch = getopt_long(argc, argv, "ca:", longopts, NULL)) != -1) {
		if (ch == 'c') {
			check = true;
		} else if (ch == 'a' && n < REBUILD_ARCHIVES_MAX) {
			archives[n++] = optarg;
		} else if (ch == 'a') {
			fprintf(stderr, "commissionctl: rebuild: --archive %s: at most %d archives\n"
					"usage: commissionctl rebuild [--check] [--archive FILE]...\n",
			    optarg, REBUILD_ARCHIVES_MAX);
			return CTL_USAGE;
		} else {
			fprintf(stderr, "usage: commissionctl rebuild [--check] [--archive FILE]... "
					"(at most %d archives)\n",
			    REBUILD_ARCHIVES_MAX);
			return CTL_USAGE;
		}
	}
	if (optind != argc)
		return ctl_usage_arguments("rebuild",
		    "commissionctl rebuild [--check] [--archive FILE]...", argc, argv, optind, NULL);
	if (!check) {
		struct store_lock *changes;
		/* A restore or load must not replace the store, or put
		 * events back into it, while it is rebuilt. */
		if ((status = ctl_lock_changes(cfg, "rebuild", false, &changes)) != CTL_OK)
			return status;
		status = rebuild_in_place(cfg, archives, n);
		store_lock_release(&changes);
		return status;
	}
	status = rebuild_check(cfg, archives, n, &report);
	if (report != NULL) {
		if (json_object_get(report, "reason") != NULL)
			fprintf(stderr, "commissionctl: rebuild --check: %s\n",
			    json_string_value(json_object_get(report, "reason")));
		if (ctl_output_failed("rebuild", ctl_print_json(report)) < 0 && status == CTL_OK)
			status = CTL_REFUSED;
		json_decref(report);
	}
	return status;
}
