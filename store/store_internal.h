/*
 * store_internal: what the store's own files (store.c, retention.c,
 * archive.c, verify.c, migrate.c, lock.c) share: the environment, the
 * tables and the batch. Nothing outside store/ includes this.
 */
#ifndef STORE_INTERNAL_H
#define STORE_INTERNAL_H

#include <limits.h>
#include <stdint.h>

#include <lmdb.h>

#include "tailcache.h"

#include "config.h"
#include "store.h"

#define STORE_MAX_TABLES 10
#define STORE_DEDUPE_VALUE_BYTES (8 + STORE_HASH_BYTES)

/* The counters kept in meta, each a big-endian u64 under its name. */
struct store_meta {
	uint64_t last_event;
	uint64_t last_update;
	uint64_t first_update;
	uint64_t duplicates;
	uint64_t rejected;
	uint64_t dead_letters;
};

struct store {
	MDB_env *env;
	MDB_dbi meta, events, dedupe, updates, dead_letters, histories, derived;
	bool has_derived; /* false: a read-only store written before it */
	/* received: the commit time of each run of events, keyed by the
	 * first sequence of the run (format 2). */
	MDB_dbi received;
	bool has_received; /* false in a format 1 store opened read-only */
	struct store_options opt;
	char path[CONFIG_TEXT_MAX];
	uint64_t map_size;
	uint64_t format_version; /* as found on open (after any migration) */
	uint64_t migrated_from;	 /* 0: no migration on this open */
	struct store_meta counters; /* as of the last commit (writer only) */
	char data_file[PATH_MAX];   /* the map's file as /proc/self/maps names it */
	uintptr_t map_start;	    /* where it is mapped, found for map_found_size */
	size_t map_length;
	uint64_t map_found_size;
	uint64_t histories_read; /* records read from the histories, by any reader */
	uint64_t batches_pruned; /* updates dropped by committed batches */
	unsigned reads_unbounded; /* records read since the RSS bound was last checked */
	unsigned read_batches;	 /* open: the map may not move (store_on_remap) */
	void (*on_remap)(void *arg);
	void *on_remap_arg;
	bool unusable; /* LMDB said MDB_PANIC (store_on_unusable) */
	void (*on_unusable)(void *arg);
	void *on_unusable_arg;
	struct tailcache tail;	 /* the writer's: lib/tailcache.h */
	bool statm_opened;	 /* statm_fd: /proc/self/statm, or -1 */
	int statm_fd;
	char error[512];
};

struct store_batch {
	struct store *store;
	MDB_txn *txn;
	struct store_meta counters; /* copy, made real by commit */
	struct store_meta began;    /* as the transaction began: commit saves what differs */
	enum store_result failed;
	uint64_t appended_updates;
	uint64_t pruned_updates;       /* the oldest dropped at its commit */
	uint64_t first_appended_event; /* 0: none in this batch */
	int64_t received_at_ms;	       /* 0: the clock at commit */
	bool read_only;		       /* store_batch_begin_read's */
};

void store_set_error(struct store *store, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Map an LMDB return code to what the caller can act on, with the error
 * message set when it is not MDB_SUCCESS. */
enum store_result store_result_of(struct store *store, int rc, const char *what);
/* mdb_txn_begin, adopting a map the writer grew meanwhile. */
int store_txn_begin(struct store *store, unsigned flags, MDB_txn **txn);
int store_meta_get_u64(MDB_txn *txn, MDB_dbi dbi, const char *name, uint64_t *v);
int store_meta_put_u64(MDB_txn *txn, MDB_dbi dbi, const char *name, uint64_t v);
int store_meta_load(MDB_txn *txn, MDB_dbi dbi, struct store_meta *m);

/* Make directory path and every missing one above it, mode 0700 (those
 * already there are left as they are): -1 with err naming the level that
 * is not a directory or cannot be made. */
int store_make_directory(const char *path, char *err, size_t errlen);

/* Note rc in the batch: the first failure spoils it and commit reports it. */
enum store_result store_batch_check(struct store_batch *batch, int rc, const char *what);

/* retention.c: remove the oldest updates past r (count, and age as of
 * now_ms), at most budget of them; returns how many went. */
uint64_t store_retention_prune_updates(struct store_batch *batch, const struct store_retention *r,
    int64_t now_ms, uint64_t budget);

/* The first key of a sequence-keyed table (0: empty). */
int store_first_key(MDB_txn *txn, MDB_dbi dbi, uint64_t *first);
/* The commit time of event seq from the received table (0: unknown). */
int store_received_at(MDB_txn *txn, MDB_dbi dbi, uint64_t seq, int64_t *ms);
/* The same, *held false when no run holds seq (*ms 0 then too), so that a
 * run at time 0 is told from none. */
int store_run_holding(MDB_txn *txn, MDB_dbi dbi, uint64_t seq, bool *held, int64_t *ms);

/* migrate.c: bring a store of an older format to STORE_FORMAT_VERSION in
 * txn; -1 with the store's error set when it cannot be. */
int store_migrate(struct store *store, MDB_txn *txn, uint64_t from);

#endif
