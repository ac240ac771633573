/*
 * store: the LMDB environment and its tables (meta, events, dedupe, updates,
 * dead letters, histories). The only module that calls mdb_*. One write batch is one
 * transaction; read helpers are shared by commissiond and commissionctl.
 */
#ifndef STORE_H
#define STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "commissioning.pb-c.h"

/* On-disk format of the tables. Bump when a layout changes, and add the
 * migration from the version before to migrate.c. */
#define STORE_FORMAT_VERSION 2
/* The oldest format this build migrates. */
#define STORE_FORMAT_OLDEST 1
#define STORE_HASH_BYTES 16

enum store_result {
	STORE_OK = 0,
	STORE_MAP_FULL = -1,  /* the map is full: grow it, or answer RETRY_LATER */
	STORE_DISK_FULL = -2, /* the file system is full: RETRY_LATER */
	STORE_FAILED = -3,    /* anything else; the message says what */
};

struct store_options {
	const char *path;
	uint64_t map_size_bytes;
	uint64_t map_max_bytes;
	int sync_mode;	/* enum store_sync_mode of config.h */
	bool read_only; /* commissionctl: never writes, creates nothing */
	bool must_exist; /* a writer that makes nothing: no store there is an error */
	uint64_t update_retention;
	uint64_t dead_letter_keep_bytes;
};

struct store_counts {
	uint64_t last_event_sequence; /* events accepted: sequences are gap-free */
	uint64_t last_update_sequence;
	uint64_t first_update_sequence; /* oldest update kept (0: none yet) */
	uint64_t duplicates;
	uint64_t rejected;
	uint64_t dead_letters;	       /* the last dead letter's id */
	uint64_t first_event_sequence; /* the log begins here (older ones archived) */
	uint64_t first_dead_letter;    /* oldest dead letter kept (0: none) */
	uint64_t format_version;
	uint64_t map_size_bytes;
	uint64_t used_bytes;
};

struct store;
struct store_batch;

/* Called for each record in order; return non-zero to stop. */
typedef int (*store_record_fn)(void *arg, uint64_t key, const uint8_t *bytes, size_t len);

/* Open (creating for a writer, unless must_exist) the store at opt->path:
 * a writer makes every missing directory of the path, 0700. A reader of a
 * directory it cannot write (a backup on read-only media, or someone
 * else's) that holds no lock.mdb reads without LMDB's reader table, as
 * LMDB itself does on a read-only file system. NULL with err set. */
struct store *store_open(const struct store_options *opt, char *err, size_t errlen);
/* 0 when path holds a store (its data.mdb); -1 with err saying there is
 * none there, for a tool that must not make one. */
int store_check_exists(const char *path, char *err, size_t errlen);
void store_close(struct store **store);
const char *store_error(const struct store *store);

/* The settings that may change while the store is open (on SIGHUP):
 * map_max_bytes, update_retention, dead_letter_keep_bytes. */
void store_reconfigure(struct store *store, const struct store_options *opt);

/* Clear reader slots left by processes that died in a read transaction
 * (they pin old pages, so the file grows). *cleared gets how many. */
enum store_result store_check_readers(struct store *store, int *cleared);

/* Double the map size, up to map_max. STORE_OK, or STORE_MAP_FULL at the
 * limit. No transaction may be open: read batches are ended first, by the
 * function given to store_on_remap. */
enum store_result store_grow(struct store *store);

/* fn(arg) is called before the map moves (store_grow, or adopting a map
 * that another process grew) while a read batch is open, and must end them
 * all (store_batch_abort): LMDB's map may not move under a transaction of
 * this process. Without it, the map does not move while one is open: the
 * grow fails. */
void store_on_remap(struct store *store, void (*fn)(void *arg), void *arg);

/* fn(arg) is called once, when LMDB first says the store is unusable
 * (MDB_PANIC: a commit failed writing its meta page, on a disk error or a
 * full disk). From then on every transaction fails, whatever is freed,
 * until the store is closed and opened again: a daemon should exit and be
 * started again (nothing committed is lost). */
void store_on_unusable(struct store *store, void (*fn)(void *arg), void *arg);
bool store_unusable(const struct store *store);

/* ---- the write batch: everything between begin and commit is one
 * transaction; nothing is visible or durable until commit returns STORE_OK. */
enum store_result store_batch_begin(struct store *store, struct store_batch **batch);

/* A read batch: a read-only transaction, a snapshot of the store as it was
 * when it began, which commits made since do not change. The getters,
 * scans and store_batch_last_event_sequence work on it; writes fail. It
 * may stay open while write batches begin and commit on the same thread
 * (the store is opened MDB_NOTLS), for as long as a reader needs, at the
 * price of the pages it keeps from reuse. End it with store_batch_abort
 * (store_batch_commit ends it too, committing nothing). */
enum store_result store_batch_begin_read(struct store *store, struct store_batch **batch);

/* The commit time recorded for this batch's events (what `archive
 * --before` goes by); without it, the clock at commit. */
void store_batch_set_received_at(struct store_batch *batch, int64_t ms);

/* Look up (source, event_id): true and *sequence, hash filled when stored. */
bool store_batch_find_event(struct store_batch *batch, const char *source,
    const char *event_id, uint64_t *sequence, uint8_t hash[STORE_HASH_BYTES]);

/* Append an accepted event under the next sequence number (returned in
 * *sequence) and record its dedupe key with its content hash. */
enum store_result store_batch_append_event(struct store_batch *batch, const char *source,
    const char *event_id, const uint8_t hash[STORE_HASH_BYTES], const uint8_t *bytes,
    size_t len, uint64_t *sequence);

/*
 * The same when (source, event_id) is new, in one lookup of the dedupe key
 * instead of store_batch_find_event's and then the append's: *stored false
 * and the event appended; or *stored true, *sequence and stored_hash those
 * of the event already stored under it, and nothing written.
 */
enum store_result store_batch_append_new_event(struct store_batch *batch, const char *source,
    const char *event_id, const uint8_t hash[STORE_HASH_BYTES], const uint8_t *bytes,
    size_t len, uint64_t *sequence, bool *stored, uint8_t stored_hash[STORE_HASH_BYTES]);

/* Give update the next update sequence number and append it. */
enum store_result store_batch_append_update(struct store_batch *batch,
    Commissioning__Update *update);
/* The same, and a copy of the bytes stored in *copy (from alloc, or malloc
 * when alloc is NULL: free it so; NULL when out of memory, the update
 * stored all the same), for publishing after commit. */
enum store_result store_batch_append_update_copy(struct store_batch *batch,
    Commissioning__Update *update, ProtobufCAllocator *alloc, uint8_t **copy, size_t *len);

/* Give dead the next dead-letter id, keep at most dead_letter_keep_bytes of
 * its raw bytes (raw_size keeps the full size) and append it. Counts a
 * rejection. */
enum store_result store_batch_append_dead_letter(struct store_batch *batch,
    Commissioning__DeadLetter *dead);

void store_batch_count_duplicate(struct store_batch *batch);

/* The batch cannot go on for a reason of its caller's (memory ran out
 * moving the state): store_error says why from now on, for whoever
 * reports the failure. STORE_FAILED, to return. */
enum store_result store_batch_fail(struct store_batch *batch, const char *why);

/* Commit with the configured sync; frees the batch either way. */
enum store_result store_batch_commit(struct store_batch **batch);
void store_batch_abort(struct store_batch **batch);

/* ---- projection state: one History (see the proto) per thing, under a
 * binary key the projections make. */

/* The stored history of key: *bytes points into the transaction and stays
 * valid until the batch's next write; *len is 0 when there is none. */
enum store_result store_batch_get_history(struct store_batch *batch, const uint8_t *key,
    size_t keylen, const uint8_t **bytes, size_t *len);
enum store_result store_batch_put_history(struct store_batch *batch, const uint8_t *key,
    size_t keylen, const uint8_t *bytes, size_t len);

/* Remove every history (rebuild starts from nothing). */
enum store_result store_batch_clear_histories(struct store_batch *batch);

/* ---- derived state: records store/state.c keeps beside the histories
 * (running totals, indexes, timers), under keys it makes; remade from the
 * histories whenever in doubt. The same contract as the histories'. */
enum store_result store_batch_get_derived(struct store_batch *batch, const uint8_t *key,
    size_t keylen, const uint8_t **bytes, size_t *len);
enum store_result store_batch_put_derived(struct store_batch *batch, const uint8_t *key,
    size_t keylen, const uint8_t *bytes, size_t len);
/* Remove the record of key; one that is not there is no error. */
enum store_result store_batch_del_derived(struct store_batch *batch, const uint8_t *key,
    size_t keylen);
enum store_result store_batch_clear_derived(struct store_batch *batch);

/* The tables whose records can be visited by key prefix. */
enum store_keyed_table { STORE_HISTORIES, STORE_DERIVED };

/* Visit, in key order, the records of table whose key starts with prefix
 * (fn as store_scan_histories'; pointers valid during the call only). */
typedef int (*store_keyed_fn)(void *arg, const uint8_t *key, size_t keylen, const uint8_t *bytes,
    size_t len);
enum store_result store_batch_scan_prefix(struct store_batch *batch,
    enum store_keyed_table table, const uint8_t *prefix, size_t prefixlen, store_keyed_fn fn,
    void *arg);

/* The same from the first key at or after from (which starts with
 * prefix): where a scan stopped by fn goes on. */
enum store_result store_batch_scan_from(struct store_batch *batch,
    enum store_keyed_table table, const uint8_t *prefix, size_t prefixlen, const uint8_t *from,
    size_t fromlen, store_keyed_fn fn, void *arg);

/* How many history records this process has read from the store since it
 * opened it (got, scanned or visited), for the metrics. */
uint64_t store_histories_read(const struct store *store);
/* How many updates past update_retention the batches committed since the
 * store was opened dropped as they went (batch_prune_updates), beside
 * what store_prune removes. */
uint64_t store_batches_pruned(const struct store *store);

/* The sequence number of the last event accepted, this batch's included. */
uint64_t store_batch_last_event_sequence(const struct store_batch *batch);

/* Visit the event log in sequence order inside the batch's transaction. */
enum store_result store_batch_scan_events(struct store_batch *batch, store_record_fn fn,
    void *arg);

/* ---- reads: each opens and closes its own read transaction. */
enum store_result store_read_counts(struct store *store, struct store_counts *counts);
/* The id of the last transaction that wrote pages (0: it could not be
 * read, which an open store never does): a batch that put nothing and
 * moved no counter commits without writing and leaves it as it was. */
uint64_t store_last_write(struct store *store);


/* Visit updates from sequence from, at most max_visit of them; *next gets
 * the sequence after the last one visited. */
enum store_result store_scan_updates(struct store *store, uint64_t from, uint64_t max_visit,
    store_record_fn fn, void *arg, uint64_t *next);
enum store_result store_scan_events(struct store *store, uint64_t from, uint64_t max_visit,
    store_record_fn fn, void *arg, uint64_t *next);
enum store_result store_scan_dead_letters(struct store *store, uint64_t from,
    uint64_t max_visit, store_record_fn fn, void *arg, uint64_t *next);

/* Visit every history in key order. */
enum store_result store_scan_histories(struct store *store, store_keyed_fn fn, void *arg);
/* Visit the records of table whose key starts with prefix, in key order. */
enum store_result store_scan_prefix(struct store *store, enum store_keyed_table table,
    const uint8_t *prefix, size_t prefixlen, store_keyed_fn fn, void *arg);

/* Let go of the store's file pages mapped into this process: they stay in
 * the page cache and are mapped again when next read, so this costs page
 * faults, never reads; the process's RSS is then what it holds itself. */
enum store_result store_unmap_cached_pages(struct store *store);
/* The same, only when more than STORE_MAPPED_MAX_BYTES of file pages are
 * mapped into this process: called after reading much of the store (a
 * batch, a replay reply, an HTTP answer), so that the RSS stays what the
 * process holds itself, whatever the size of the store. */
#define STORE_MAPPED_MAX_BYTES (16u << 20)
enum store_result store_bound_mapped(struct store *store);
/* The writer, between batches and after answering what the last one
 * carried: the file's next pages put in the page cache as single pages,
 * which makes LMDB's later rewrites of them a third of the kernel's CPU
 * (lib/tailcache.h). Done on open too; a no-op on a read-only store. */
void store_cache_ahead(struct store *store);

/* fsync the file, or the directory (flags O_RDONLY | O_DIRECTORY), at
 * path; -1 with errno. */
int store_sync_path(const char *path, int flags);

/* A compacted, consistent copy of the store into the empty directory dir. */
enum store_result store_backup(struct store *store, const char *dir);

/* ---- retention (retention.c): pruning in small transactions. */
struct store_retention {
	uint64_t update_max_count;	/* 0: no limit */
	int64_t update_max_age_ms;	/* 0: no limit */
	uint64_t dead_letter_max_count; /* 0: no limit */
	int64_t dead_letter_max_age_ms; /* 0: no limit */
};
struct store_pruned {
	uint64_t updates, dead_letters;
	bool more; /* the budget ran out with more to remove */
};
/* One transaction removing the oldest updates and dead letters past the
 * limits as of now_ms, at most max_removals of them. */
enum store_result store_prune(struct store *store, const struct store_retention *retention,
    int64_t now_ms, uint64_t max_removals, struct store_pruned *pruned);

/* ---- archive (archive.c): moving the oldest events out of the log. */

/* The oldest events kept that were all committed before before_ms:
 * *first..*last (*last < *first: none). */
enum store_result store_events_before(struct store *store, int64_t before_ms, uint64_t *first,
    uint64_t *last);
/* Visit events first..last with their commit times (0: not known), in
 * one read transaction; fn returns non-zero to stop. */
typedef int (*store_event_fn)(void *arg, uint64_t seq, int64_t received_ms, const uint8_t *bytes,
    size_t len);
enum store_result store_scan_events_received(struct store *store, uint64_t first,
    uint64_t last, store_event_fn fn, void *arg);
/* Remove the oldest events of the log up to and including through, at
 * most max_per_txn a transaction; their dedupe keys and the state stay.
 * *removed counts them. */
enum store_result store_remove_events(struct store *store, uint64_t through,
    uint64_t max_per_txn, uint64_t *removed);
/* Is bytes, an event of an archive at seq, the one this store accepted
 * under seq? Its dedupe key, kept when it was archived, names seq with its
 * content hash, so another store's archive with the same sequences is
 * told apart. STORE_OK; else STORE_FAILED with the store's error saying
 * what differs (load and rebuild --archive refuse the archive). */
enum store_result store_batch_check_archived_event(struct store_batch *batch, uint64_t seq,
    const uint8_t *bytes, size_t len);
/* Put an archived event back at its sequence, which must be free and
 * below the log's last; it must pass store_batch_check_archived_event. */
enum store_result store_batch_put_archived_event(struct store_batch *batch, uint64_t seq,
    int64_t received_ms, const uint8_t *bytes, size_t len);

/* ---- verify (verify.c): what can be checked without the projections. */
/* Called once a problem; the check goes on to find the rest. */
typedef void (*store_problem_fn)(void *arg, const char *problem);
struct store_verify_report {
	uint64_t events, dedupe_keys, updates, dead_letters, histories, problems;
};
enum store_result store_verify(struct store *store, store_problem_fn fn, void *arg,
    struct store_verify_report *report);

/* ---- lock (lock.c): one commissiond, or one offline tool, a store. */
struct store_lock;
/* Take the exclusive lock of store directory dir (made if missing, with
 * every missing directory above it, 0700) for holder; NULL with err saying
 * who holds it. */
struct store_lock *store_lock_take(const char *dir, const char *holder, char *err,
    size_t errlen);
/* Take the lock of the commissionctl commands that change the store in
 * dir: whole (restore, load: exclusive) or beside others and the daemon
 * (rebuild, archive --prune: shared). NULL with err saying who holds it. */
struct store_lock *store_lock_changes(const char *dir, bool whole, const char *holder, char *err,
    size_t errlen);
void store_lock_release(struct store_lock **lock);

#endif
