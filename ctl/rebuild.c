/*
 * rebuild: commissionctl's consistency tools for the projections' state.
 * `digest` hashes every history; `rebuild --check` replays the event log
 * into a scratch store and compares digests; `rebuild` replaces the state
 * from the log in one transaction (after a projection change).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
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

static struct store *
rebuild_open(const struct config *cfg, const char *path, bool read_only, int sync_mode)
{
	struct store_options opt = {
		.path = path,
		.map_size_bytes = cfg->store_map_size_bytes,
		.map_max_bytes = cfg->store_map_max_bytes,
		.sync_mode = sync_mode,
		.read_only = read_only,
		.update_retention = cfg->store_update_retention,
		.dead_letter_keep_bytes = cfg->store_dead_letter_keep_bytes,
	};
	char err[768];
	struct store *store = store_open(&opt, err, sizeof(err));

	if (store == NULL)
		fprintf(stderr, "commissionctl: %s\n", err);
	return store;
}

int
ctl_digest(const struct config *cfg, int argc, char **argv)
{
	struct store *store;
	json_t *json;

	(void)argv;
	if (argc != 1) {
		fprintf(stderr, "usage: commissionctl digest\n");
		return CTL_USAGE;
	}
	if ((store = rebuild_open(cfg, cfg->store_path, true, STORE_SYNC_FULL)) == NULL)
		return CTL_STORE;
	json = digest_of(store);
	if (json == NULL)
		fprintf(stderr, "commissionctl: %s\n", store_error(store));
	else
		ctl_print_json(json);
	json_decref(json);
	store_close(&store);
	return json ? CTL_OK : CTL_STORE;
}

/* ---- replaying the log */

struct replay_state {
	struct store_batch *batch;
	uint64_t done, total, undecodable;
	bool progress;
	enum store_result failed;
};

static int
rebuild_apply(void *arg, uint64_t seq, const uint8_t *bytes, size_t len)
{
	struct replay_state *rs = arg;
	Commissioning__Envelope *env = commissioning__envelope__unpack(NULL, len, bytes);

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

/* Remake target's state from target's own event log, in one transaction,
 * growing the map when it fills. */
static enum store_result
rebuild_state(struct store *target, struct replay_state *rs)
{
	enum store_result r;

	for (;;) {
		rs->done = rs->undecodable = 0;
		rs->failed = STORE_OK;
		r = store_batch_begin(target, &rs->batch);
		if (r != STORE_OK)
			return r;
		store_batch_clear_histories(rs->batch);
		store_batch_scan_events(rs->batch, rebuild_apply, rs);
		/* Then what is kept beside the histories, from them. */
		if (rs->failed == STORE_OK)
			rs->failed = rebuild_derived(rs->batch);
		r = store_batch_commit(&rs->batch);
		if (rs->progress)
			fprintf(stderr, "\n");
		if (r != STORE_MAP_FULL || store_grow(target) != STORE_OK)
			return r;
	}
}

int
ctl_rebuild(const struct config *cfg, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "check", no_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 },
	};
	struct replay_state rs = { .progress = isatty(STDERR_FILENO) };
	struct store_counts counts;
	struct store *live, *scratch;
	char dir[] = "/tmp/commissiond-rebuild-XXXXXX";
	bool check = false;
	json_t *before, *after, *report;
	enum store_result r;
	int ch, status;

	optind = 0; /* 0: glibc starts afresh, forgetting the "+" of the global options */
	while ((ch = getopt_long(argc, argv, "c", longopts, NULL)) != -1) {
		if (ch != 'c') {
			fprintf(stderr, "usage: commissionctl rebuild [--check]\n");
			return CTL_USAGE;
		}
		check = true;
	}
	if (!check) {
		/* One write transaction: the daemon's ingest waits for it, and
		 * never sees half-rebuilt state. */
		if ((live = rebuild_open(cfg, cfg->store_path, false, STORE_SYNC_FULL)) == NULL)
			return CTL_STORE;
		store_read_counts(live, &counts);
		rs.total = counts.last_event_sequence;
		before = digest_of(live);
		r = rebuild_state(live, &rs);
		after = r == STORE_OK ? digest_of(live) : NULL;
		if (r != STORE_OK)
			fprintf(stderr, "commissionctl: rebuild: %s\n", store_error(live));
		report = json_pack("{s:I, s:I, s:b, s:O?, s:O?}", "events", (json_int_t)rs.done,
		    "undecodable", (json_int_t)rs.undecodable, "changed",
		    before && after && !json_equal(json_object_get(before, "digest"),
					     json_object_get(after, "digest")),
		    "before", before, "after", after);
		ctl_print_json(report);
		json_decref(report);
		json_decref(before);
		json_decref(after);
		store_close(&live);
		return r == STORE_OK ? CTL_OK : CTL_STORE;
	}

	/* --check: the same replay into a scratch copy of the log. */
	if ((live = rebuild_open(cfg, cfg->store_path, true, STORE_SYNC_FULL)) == NULL)
		return CTL_STORE;
	if (mkdtemp(dir) == NULL) {
		fprintf(stderr, "commissionctl: cannot make a scratch directory: %s\n", strerror(errno));
		store_close(&live);
		return CTL_STORE;
	}
	r = store_backup(live, dir); /* a consistent snapshot of the log and state */
	before = r == STORE_OK ? digest_of(live) : NULL;
	store_close(&live);
	scratch = r == STORE_OK ? rebuild_open(cfg, dir, false, STORE_SYNC_NONE) : NULL;
	if (scratch == NULL) {
		fprintf(stderr, "commissionctl: rebuild --check: cannot make the scratch store\n");
		json_decref(before);
		return CTL_STORE;
	}
	/* The snapshot's own digest, not the live one: the daemon may have
	 * moved on since. */
	json_decref(before);
	before = digest_of(scratch);
	store_read_counts(scratch, &counts);
	rs.total = counts.last_event_sequence;
	r = rebuild_state(scratch, &rs);
	after = r == STORE_OK ? digest_of(scratch) : NULL;
	if (r != STORE_OK)
		fprintf(stderr, "commissionctl: rebuild --check: %s\n", store_error(scratch));
	status = r != STORE_OK ? CTL_STORE
				: json_equal(before, after) ? CTL_OK
							     : CTL_REFUSED;
	report = json_pack("{s:I, s:b, s:O?, s:O?}", "events", (json_int_t)rs.done, "clean",
	    status == CTL_OK, "stored", before, "rebuilt", after);
	ctl_print_json(report);
	json_decref(report);
	json_decref(before);
	json_decref(after);
	store_close(&scratch);
	{
		char path[sizeof(dir) + 16];
		snprintf(path, sizeof(path), "%s/data.mdb", dir);
		unlink(path);
		snprintf(path, sizeof(path), "%s/lock.mdb", dir);
		unlink(path);
		rmdir(dir);
	}
	return status;
}
