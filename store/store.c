/*
 * store: LMDB environment, tables and the write batch. Sequence-keyed tables
 * use 8-byte big-endian keys so that key order is number order (MDB_APPEND).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <linux/magic.h>
#include <lmdb.h>

#include "be64.h"
#include "clock.h"
#include "diskroom.h"
#include "store_internal.h"

/* Meta keys: each holds a big-endian u64. */
static const char *const meta_format = "format_version";
static const char *const meta_names[] = {
	"last_event_sequence",
	"last_update_sequence",
	"first_update_sequence",
	"duplicates",
	"rejected",
	"dead_letters",
};
#define META_COUNT (sizeof(meta_names) / sizeof(meta_names[0]))

void
store_set_error(struct store *store, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(store->error, sizeof(store->error), fmt, ap);
	va_end(ap);
}

enum store_result
store_batch_fail(struct store_batch *batch, const char *why)
{
	store_set_error(batch->store, "%s", why);
	return STORE_FAILED;
}

const char *
store_error(const struct store *store)
{
	return store->error;
}

/* LMDB's environment is unusable: say so once, to whoever asked. */
static void
store_note_unusable(struct store *store)
{
	if (store->unusable)
		return;
	store->unusable = true;
	if (store->on_unusable != NULL)
		store->on_unusable(store->on_unusable_arg);
}

enum store_result
store_result_of(struct store *store, int rc, const char *what)
{
	if (rc == MDB_SUCCESS)
		return STORE_OK;
	if (rc == MDB_PANIC)
		store_note_unusable(store);
	store_set_error(store, "%s: %s", what, mdb_strerror(rc));
	if (rc == MDB_MAP_FULL)
		return STORE_MAP_FULL;
	if (rc == ENOSPC || rc == EDQUOT)
		return STORE_DISK_FULL;
	return STORE_FAILED;
}

int
store_meta_get_u64(MDB_txn *txn, MDB_dbi dbi, const char *name, uint64_t *v)
{
	MDB_val key = { strlen(name), (void *)name }, val;
	int rc = mdb_get(txn, dbi, &key, &val);

	if (rc != MDB_SUCCESS)
		return rc;
	if (val.mv_size != 8)
		return MDB_CORRUPTED;
	*v = be64_get(val.mv_data);
	return MDB_SUCCESS;
}

int
store_meta_put_u64(MDB_txn *txn, MDB_dbi dbi, const char *name, uint64_t v)
{
	uint8_t buf[8];
	MDB_val key = { strlen(name), (void *)name }, val = { 8, buf };

	be64_put(buf, v);
	return mdb_put(txn, dbi, &key, &val, 0);
}

int
store_meta_load(MDB_txn *txn, MDB_dbi dbi, struct store_meta *m)
{
	uint64_t *fields = (uint64_t *)m;

	for (size_t i = 0; i < META_COUNT; i++) {
		int rc = store_meta_get_u64(txn, dbi, meta_names[i], &fields[i]);
		if (rc == MDB_NOTFOUND)
			fields[i] = 0;
		else if (rc != MDB_SUCCESS)
			return rc;
	}
	return MDB_SUCCESS;
}

/* Save the counters that differ from those the transaction began with:
 * a put of an unchanged value would still copy the table's page. */
static int
meta_save(MDB_txn *txn, MDB_dbi dbi, const struct store_meta *m, const struct store_meta *began)
{
	const uint64_t *fields = (const uint64_t *)m, *was = (const uint64_t *)began;

	for (size_t i = 0; i < META_COUNT; i++) {
		int rc = fields[i] == was[i] ? MDB_SUCCESS
					     : store_meta_put_u64(txn, dbi, meta_names[i], fields[i]);
		if (rc != MDB_SUCCESS)
			return rc;
	}
	return MDB_SUCCESS;
}

/* Before the map moves: every read batch ended (store_on_remap). EBUSY
 * when one is still open. */
static int
store_before_remap(struct store *store)
{
	if (store->read_batches > 0 && store->on_remap != NULL)
		store->on_remap(store->on_remap_arg);
	return store->read_batches > 0 ? EBUSY : MDB_SUCCESS;
}

void
store_on_remap(struct store *store, void (*fn)(void *arg), void *arg)
{
	store->on_remap = fn;
	store->on_remap_arg = arg;
}

void
store_on_unusable(struct store *store, void (*fn)(void *arg), void *arg)
{
	store->on_unusable = fn;
	store->on_unusable_arg = arg;
}

bool
store_unusable(const struct store *store)
{
	return store->unusable;
}

/* After a failed commit: did it leave LMDB's environment unusable? A
 * failed write of its meta page does (MDB_FATAL_ERROR, inside LMDB), and
 * every transaction begun from then on fails with MDB_PANIC. */
static void
store_check_usable(struct store *store)
{
	MDB_txn *txn;
	int rc = mdb_txn_begin(store->env, NULL, MDB_RDONLY, &txn);

	if (rc == MDB_SUCCESS)
		mdb_txn_abort(txn);
	else if (rc == MDB_PANIC)
		store_note_unusable(store);
}

/* A map smaller than the data another process wrote (a writer that grew
 * it: commissionctl rebuild beside the daemon, or the daemon beside a
 * reader): adopt the size that process gave it, for a write transaction
 * as for a read one. The size adopted is remembered: store_grow doubles
 * it (never less than the data), and store_find_map finds the map where
 * it now lies instead of advising pages it no longer holds. */
int
store_txn_begin(struct store *store, unsigned flags, MDB_txn **txn)
{
	int rc = mdb_txn_begin(store->env, NULL, flags, txn);

	if (rc == MDB_MAP_RESIZED && (rc = store_before_remap(store)) == MDB_SUCCESS) {
		MDB_envinfo info;
		rc = mdb_env_set_mapsize(store->env, 0);
		if (rc == MDB_SUCCESS && mdb_env_info(store->env, &info) == MDB_SUCCESS)
			store->map_size = info.me_mapsize;
		if (rc == MDB_SUCCESS)
			rc = mdb_txn_begin(store->env, NULL, flags, txn);
	}
	return rc;
}

int
store_first_key(MDB_txn *txn, MDB_dbi dbi, uint64_t *first)
{
	MDB_cursor *cur;
	MDB_val key, val;
	int rc = mdb_cursor_open(txn, dbi, &cur);

	if (rc != MDB_SUCCESS)
		return rc;
	rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST);
	mdb_cursor_close(cur);
	*first = 0;
	if (rc == MDB_NOTFOUND)
		return MDB_SUCCESS;
	if (rc == MDB_SUCCESS && key.mv_size != 8)
		rc = MDB_CORRUPTED;
	if (rc == MDB_SUCCESS)
		*first = be64_get(key.mv_data);
	return rc;
}

int
store_run_holding(MDB_txn *txn, MDB_dbi dbi, uint64_t seq, bool *held, int64_t *ms)
{
	uint8_t keybuf[8];
	MDB_val key = { 8, keybuf }, val;
	MDB_cursor *cur;
	int rc = mdb_cursor_open(txn, dbi, &cur);

	*held = false;
	*ms = 0;
	if (rc != MDB_SUCCESS)
		return rc;
	be64_put(keybuf, seq);
	/* The run holding seq starts at the greatest key <= seq. */
	rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
	if (rc == MDB_SUCCESS && be64_get(key.mv_data) != seq)
		rc = mdb_cursor_get(cur, &key, &val, MDB_PREV);
	else if (rc == MDB_NOTFOUND)
		rc = mdb_cursor_get(cur, &key, &val, MDB_LAST);
	mdb_cursor_close(cur);
	if (rc == MDB_NOTFOUND)
		return MDB_SUCCESS;
	if (rc == MDB_SUCCESS && (key.mv_size != 8 || val.mv_size != 8))
		rc = MDB_CORRUPTED;
	if (rc == MDB_SUCCESS) {
		*held = true;
		*ms = (int64_t)be64_get(val.mv_data);
	}
	return rc;
}

int
store_received_at(MDB_txn *txn, MDB_dbi dbi, uint64_t seq, int64_t *ms)
{
	bool held;

	return store_run_holding(txn, dbi, seq, &held, ms);
}

/* How many records the store's tables hold, in all and in the event log. */
static int
store_count_records(struct store *store, MDB_txn *txn, uint64_t *events, uint64_t *records)
{
	const MDB_dbi tables[] = { store->meta, store->events, store->dedupe, store->updates,
		store->dead_letters, store->histories };
	MDB_stat st;

	*events = *records = 0;
	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
		int rc = mdb_stat(txn, tables[i], &st);
		if (rc != MDB_SUCCESS)
			return rc;
		*records += st.ms_entries;
		if (tables[i] == store->events)
			*events = st.ms_entries;
	}
	return MDB_SUCCESS;
}

/* Check the format version: create it in a new store, migrate an older
 * one (writers only, in this same transaction), refuse what this build
 * cannot read. */
static int
store_check_format(struct store *store, MDB_txn *txn)
{
	uint64_t format, events, records;
	int rc = store_meta_get_u64(txn, store->meta, meta_format, &format);

	if (rc == MDB_NOTFOUND) {
		/* Every release writes the key in the transaction that makes the
		 * store: a store without it that holds anything is damaged, not
		 * old, and stamping it would hide that. */
		if ((rc = store_count_records(store, txn, &events, &records)) != MDB_SUCCESS) {
			store_set_error(store, "%s: cannot read the format version: %s", store->path,
			    mdb_strerror(rc));
			return -1;
		}
		if (records > 0 || store->opt.read_only) {
			store_set_error(store,
			    "%s: the store is damaged: its format key (format_version, in the meta "
			    "table) is missing, yet it holds %llu event(s) among %llu record(s); "
			    "every release writes the key when it makes a store: restore a backup",
			    store->path, (unsigned long long)events, (unsigned long long)records);
			return -1;
		}
		format = STORE_FORMAT_VERSION;
		rc = store_meta_put_u64(txn, store->meta, meta_format, format);
	}
	if (rc != MDB_SUCCESS) {
		store_set_error(store, "%s: cannot read the format version: %s", store->path,
		    mdb_strerror(rc));
		return -1;
	}
	if (format > STORE_FORMAT_VERSION) {
		store_set_error(store,
		    "%s: store format version %llu was written by a newer commissiond; "
		    "this one reads up to version %d: upgrade commissiond, or restore a backup",
		    store->path, (unsigned long long)format, STORE_FORMAT_VERSION);
		return -1;
	}
	if (format < STORE_FORMAT_OLDEST) {
		store_set_error(store,
		    "%s: store format version %llu is older than any this commissiond can "
		    "migrate (%d to %d): restore a backup made by a release that reads it, "
		    "or start that release once to migrate the store first",
		    store->path, (unsigned long long)format, STORE_FORMAT_OLDEST,
		    STORE_FORMAT_VERSION);
		return -1;
	}
	store->format_version = format;
	if (format < STORE_FORMAT_VERSION && !store->opt.read_only) {
		if (store_migrate(store, txn, format) < 0)
			return -1;
		store->migrated_from = format;
		store->format_version = STORE_FORMAT_VERSION;
	}
	return 0;
}

/* The derived table came after the others: a reader of a store written
 * before it finds none, and reads nothing from it. */
static int
store_open_derived(struct store *store, MDB_txn *txn, unsigned create)
{
	int rc = mdb_dbi_open(txn, "derived", create, &store->derived);

	if (rc == MDB_NOTFOUND && store->opt.read_only) {
		store->has_derived = false;
		return MDB_SUCCESS;
	}
	store->has_derived = rc == MDB_SUCCESS;
	return rc;
}

/* Is the data file as long as its newest meta page says? LMDB maps the
 * file and reads its pages in place: a file cut short (a copy interrupted,
 * a disk that filled) would kill the process with SIGBUS at the first page
 * past its end, instead of an error. */
static int
store_check_length(struct store *store, char *err, size_t errlen)
{
	MDB_envinfo info;
	MDB_stat st;
	struct stat sb;
	char file[PATH_MAX];
	uint64_t need;

	if (mdb_env_info(store->env, &info) != MDB_SUCCESS ||
	    mdb_env_stat(store->env, &st) != MDB_SUCCESS ||
	    snprintf(file, sizeof(file), "%s/data.mdb", store->path) >= (int)sizeof(file) ||
	    stat(file, &sb) < 0)
		return 0; /* nothing known to check against: LMDB's own checks stand */
	need = ((uint64_t)info.me_last_pgno + 1) * st.ms_psize;
	if ((uint64_t)sb.st_size >= need)
		return 0;
	snprintf(err, errlen,
	    "%s: the store is cut short: data.mdb has %llu bytes, but its last page ends at "
	    "%llu (a copy that did not finish, or a disk that filled): restore a backup",
	    store->path, (unsigned long long)sb.st_size, (unsigned long long)need);
	return -1;
}

/* Create or check the format version and open every table. */
static int
store_open_tables(struct store *store)
{
	unsigned create = store->opt.read_only ? 0 : MDB_CREATE;
	MDB_txn *txn;
	int rc;

	rc = store_txn_begin(store, store->opt.read_only ? MDB_RDONLY : 0, &txn);
	if (rc != MDB_SUCCESS) {
		store_set_error(store, "%s: cannot begin a transaction: %s", store->path,
		    mdb_strerror(rc));
		return -1;
	}
	if ((rc = mdb_dbi_open(txn, "meta", create, &store->meta)) != MDB_SUCCESS ||
	    (rc = mdb_dbi_open(txn, "events", create, &store->events)) != MDB_SUCCESS ||
	    (rc = mdb_dbi_open(txn, "dedupe", create, &store->dedupe)) != MDB_SUCCESS ||
	    (rc = mdb_dbi_open(txn, "updates", create, &store->updates)) != MDB_SUCCESS ||
	    (rc = mdb_dbi_open(txn, "dead_letters", create, &store->dead_letters)) != MDB_SUCCESS ||
	    (rc = mdb_dbi_open(txn, "histories", create, &store->histories)) != MDB_SUCCESS ||
	    (rc = store_open_derived(store, txn, create)) != MDB_SUCCESS) {
		store_set_error(store, "%s: cannot open tables: %s%s", store->path,
		    mdb_strerror(rc),
		    rc == MDB_NOTFOUND ? " (not a commissiond store, or never written)" : "");
		goto fail;
	}
	/* Format 1 had no received table: a reader of such a store goes
	 * without it; a writer makes it and migrates. */
	rc = mdb_dbi_open(txn, "received", create, &store->received);
	store->has_received = rc == MDB_SUCCESS;
	if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND) {
		store_set_error(store, "%s: cannot open tables: %s", store->path, mdb_strerror(rc));
		goto fail;
	}
	if (store_check_format(store, txn) < 0)
		goto fail;
	if ((rc = store_meta_load(txn, store->meta, &store->counters)) != MDB_SUCCESS) {
		store_set_error(store, "%s: cannot read counters: %s", store->path,
		    mdb_strerror(rc));
		goto fail;
	}
	rc = mdb_txn_commit(txn);
	if (rc != MDB_SUCCESS) {
		store_set_error(store, "%s: cannot commit: %s", store->path, mdb_strerror(rc));
		return -1;
	}
	return 0;
fail:
	mdb_txn_abort(txn);
	return -1;
}

void
store_cache_ahead(struct store *store)
{
	if (!store->opt.read_only)
		tailcache_follow_env(&store->tail, store->env);
}

int
store_make_directory(const char *path, char *err, size_t errlen)
{
	char dir[PATH_MAX];
	size_t n = strlen(path);
	struct stat st;

	if (n == 0 || n >= sizeof(dir)) {
		snprintf(err, errlen, "%s: the store path is %s", path, n == 0 ? "empty" : "too long");
		return -1;
	}
	memcpy(dir, path, n + 1);
	/* Each level from the top, "a", "a/b", ..., then the path itself. */
	for (char *p = dir + 1;; p++) {
		char c = *p;
		if (c != '/' && c != '\0')
			continue;
		*p = '\0';
		if (stat(dir, &st) < 0) {
			if (errno != ENOENT || (mkdir(dir, 0700) < 0 && errno != EEXIST)) {
				snprintf(err, errlen, "%s: cannot create the store directory %s: %s",
				    path, dir, strerror(errno));
				return -1;
			}
		} else if (!S_ISDIR(st.st_mode)) {
			snprintf(err, errlen,
			    "%s: cannot create the store directory: %s is not a directory", path, dir);
			return -1;
		}
		if (c == '\0')
			break;
		*p = c;
	}
	return 0;
}

int
store_check_exists(const char *path, char *err, size_t errlen)
{
	char file[PATH_MAX];
	struct stat st;

	if (snprintf(file, sizeof(file), "%s/data.mdb", path) >= (int)sizeof(file)) {
		snprintf(err, errlen, "%s: the store path is too long", path);
		return -1;
	}
	if (stat(file, &st) == 0)
		return 0;
	snprintf(err, errlen, "%s: cannot open the LMDB store: %s%s", path, strerror(errno),
	    errno == ENOENT ? " (no store there: has commissiond run with this path?)" : "");
	return -1;
}

/* mdb_env_open with the environment made afresh (a failed open leaves it
 * fit only for closing). */
static int
store_env_open(struct store *store, unsigned flags)
{
	int rc;

	if (store->env != NULL)
		mdb_env_close(store->env);
	store->env = NULL;
	if ((rc = mdb_env_create(&store->env)) != MDB_SUCCESS ||
	    (rc = mdb_env_set_maxdbs(store->env, STORE_MAX_TABLES)) != MDB_SUCCESS ||
	    (!(flags & MDB_RDONLY) &&
		(rc = mdb_env_set_mapsize(store->env, store->opt.map_size_bytes)) != MDB_SUCCESS))
		return rc;
	return mdb_env_open(store->env, store->path, flags, 0600);
}

/*
 * A reader refused (EACCES): is it its lock file? LMDB's reader table,
 * lock.mdb, is written by every process that opens the store, and cannot
 * be made in a directory this user cannot write. Where there is no
 * lock.mdb, no process has the store open (LMDB makes it with the first
 * open and leaves it), and none can write there without making it first:
 * reading without the table (MDB_NOLOCK) is then safe, as LMDB itself does
 * on a read-only file system. Where there is one this user cannot write, a
 * writer may be at work, and a reader outside its table could see pages
 * reused under it: refused, saying so. 0: read without locks; -1: refused,
 * err set; 1: not the lock file (data.mdb, say).
 */
static int
store_read_without_locks(struct store *store, char *err, size_t errlen)
{
	char lockfile[PATH_MAX];
	struct stat st;

	if (snprintf(lockfile, sizeof(lockfile), "%s/lock.mdb", store->path) >=
	    (int)sizeof(lockfile))
		return 1;
	if (lstat(lockfile, &st) < 0)
		return errno == ENOENT && access(store->path, W_OK) < 0 ? 0 : 1;
	if (access(lockfile, R_OK | W_OK) == 0)
		return 1;
	snprintf(err, errlen,
	    "%s: cannot open the LMDB store: this user cannot write %s, LMDB's reader table, "
	    "in which every reader records itself while a writer may be at work: run as the "
	    "store's owner, or copy data.mdb into a directory of your own and open that",
	    store->path, lockfile);
	return -1;
}

/*
 * LMDB needs a local file system: over NFS, SMB and the like its lock
 * file's locks and the memory map are not kept coherent, and the store is
 * corrupted (lmdb.h, "Caveats"). A writer refuses one, naming it; a reader
 * of a backup there, with no writer at work, is let be. 0, or -1 with err.
 */
static int
store_check_local(const char *path, char *err, size_t errlen)
{
	static const struct {
		unsigned long magic;
		const char *name;
	} network[] = {
		{ NFS_SUPER_MAGIC, "NFS" }, { SMB_SUPER_MAGIC, "SMB" },
		{ CIFS_SUPER_MAGIC, "CIFS/SMB" }, { SMB2_SUPER_MAGIC, "SMB2" },
		{ CEPH_SUPER_MAGIC, "CephFS" }, { V9FS_MAGIC, "9P" },
		{ AFS_SUPER_MAGIC, "AFS" }, { CODA_SUPER_MAGIC, "Coda" },
	};
	struct statfs fs;

	if (statfs(path, &fs) < 0)
		return 0; /* opening it says what is wrong */
	for (size_t i = 0; i < sizeof(network) / sizeof(network[0]); i++) {
		if ((unsigned long)fs.f_type != network[i].magic)
			continue;
		snprintf(err, errlen,
		    "%s: the store is on %s, a network file system: LMDB needs a local one (over "
		    "the network its locks and memory map are not kept coherent, and the store "
		    "would be corrupted); set [store] path to a directory on a local disk",
		    path, network[i].name);
		return -1;
	}
	return 0;
}

/* The store's files LMDB may make at open: data.mdb (a writer) and lock.mdb
 * (its reader table, made by the first process to open the store). */
static const char *const store_made_files[] = { "data.mdb", "lock.mdb" };
#define STORE_MADE_FILES (sizeof(store_made_files) / sizeof(store_made_files[0]))

static bool
store_has_file(const char *dir, const char *name)
{
	char path[PATH_MAX];
	struct stat st;

	return snprintf(path, sizeof(path), "%s/%s", dir, name) < (int)sizeof(path) &&
	    lstat(path, &st) == 0;
}

/*
 * Run by root (sudo commissionctl) on a store another user owns, LMDB
 * makes what was missing root's, 0600: a lock.mdb made so (after a
 * restore, which removes it) leaves commissiond, running as the store's
 * owner, unable to open its own store. What this open made is given to
 * the owner of the store's directory. Returns -1 with err set when that
 * fails: the store must not be left so.
 */
static int
store_give_made_files(const char *dir, const bool had[STORE_MADE_FILES], char *err,
    size_t errlen)
{
	struct stat owner;
	char path[PATH_MAX];

	if (geteuid() != 0 || stat(dir, &owner) < 0 || owner.st_uid == 0)
		return 0;
	for (size_t i = 0; i < STORE_MADE_FILES; i++) {
		if (had[i] || snprintf(path, sizeof(path), "%s/%s", dir, store_made_files[i]) >=
				  (int)sizeof(path))
			continue;
		if (lchown(path, owner.st_uid, owner.st_gid) < 0 && errno != ENOENT) {
			snprintf(err, errlen,
			    "%s: cannot give %s, made by this open as root, to the store directory's "
			    "owner (uid %lu): %s; commissiond, as that user, could not open the store",
			    dir, path, (unsigned long)owner.st_uid, strerror(errno));
			return -1;
		}
	}
	return 0;
}

struct store *
store_open(const struct store_options *opt, char *err, size_t errlen)
{
	struct store *store;
	unsigned flags = MDB_NOTLS;
	bool had[STORE_MADE_FILES];
	int rc;

	store = calloc(1, sizeof(*store));
	if (store == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	store->opt = *opt;
	if (snprintf(store->path, sizeof(store->path), "%s", opt->path) >= (int)sizeof(store->path)) {
		snprintf(err, errlen, "store path is too long");
		free(store);
		return NULL;
	}
	store->opt.path = store->path;
	store->map_size = opt->map_size_bytes;

	if (opt->read_only) {
		flags |= MDB_RDONLY;
	} else {
		/* The store is the daemon's alone: 0700, its files 0600. A
		 * tool that only changes a store makes none from a typo. */
		if ((opt->must_exist ? store_check_exists(opt->path, err, errlen) < 0
				     : store_make_directory(opt->path, err, errlen) < 0) ||
		    store_check_local(opt->path, err, errlen) < 0) {
			free(store);
			return NULL;
		}
		if (opt->sync_mode == STORE_SYNC_NOMETA)
			flags |= MDB_NOMETASYNC;
		else if (opt->sync_mode == STORE_SYNC_NONE)
			flags |= MDB_NOSYNC;
	}
	for (size_t i = 0; i < STORE_MADE_FILES; i++)
		had[i] = store_has_file(opt->path, store_made_files[i]);
	rc = store_env_open(store, flags);
	if (rc == EACCES && opt->read_only) {
		int without = store_read_without_locks(store, err, errlen);
		if (without < 0) {
			mdb_env_close(store->env);
			free(store);
			return NULL;
		}
		if (without == 0)
			rc = store_env_open(store, flags | MDB_NOLOCK);
	}
	if (rc != MDB_SUCCESS) {
		char data[PATH_MAX];
		bool unreadable = rc == EACCES &&
		    snprintf(data, sizeof(data), "%s/data.mdb", opt->path) < (int)sizeof(data) &&
		    access(data, opt->read_only ? R_OK : R_OK | W_OK) < 0;
		snprintf(err, errlen, "%s: cannot open the LMDB store: %s%s%s%s", opt->path,
		    mdb_strerror(rc),
		    rc == ENOENT ? " (no store there: has commissiond run with this path?)" : "",
		    unreadable ? " (this user cannot " : "",
		    unreadable ? (opt->read_only ? "read data.mdb)" : "read and write data.mdb)") : "");
		if (store->env != NULL)
			mdb_env_close(store->env);
		free(store);
		return NULL;
	}
	if (store_give_made_files(opt->path, had, err, errlen) < 0) {
		mdb_env_close(store->env);
		free(store);
		return NULL;
	}
	if (store_check_length(store, err, errlen) < 0 || store_open_tables(store) < 0) {
		if (store->error[0] != '\0')
			snprintf(err, errlen, "%s", store->error);
		mdb_env_close(store->env);
		free(store);
		return NULL;
	}
	{
		MDB_envinfo info;
		char real[PATH_MAX];
		if (mdb_env_info(store->env, &info) == MDB_SUCCESS)
			store->map_size = info.me_mapsize;
		if (realpath(opt->path, real) == NULL ||
		    snprintf(store->data_file, sizeof(store->data_file), "%s/data.mdb", real) >=
			(int)sizeof(store->data_file))
			store->data_file[0] = '\0';
	}
	store_cache_ahead(store);
	return store;
}

void
store_close(struct store **storep)
{
	struct store *store = *storep;

	if (store == NULL)
		return;
	mdb_env_close(store->env);
	if (store->statm_opened && store->statm_fd >= 0)
		close(store->statm_fd);
	free(store);
	*storep = NULL;
}

void
store_reconfigure(struct store *store, const struct store_options *opt)
{
	store->opt.map_max_bytes = opt->map_max_bytes;
	store->opt.update_retention = opt->update_retention;
	store->opt.dead_letter_keep_bytes = opt->dead_letter_keep_bytes;
}

enum store_result
store_check_readers(struct store *store, int *cleared)
{
	int dead = 0, rc = mdb_reader_check(store->env, &dead);

	*cleared = dead;
	return store_result_of(store, rc, "checking the reader table");
}

enum store_result
store_grow(struct store *store)
{
	uint64_t next = store->map_size * 2;
	int rc;

	if (store->map_size >= store->opt.map_max_bytes) {
		store_set_error(store, "the store map is full at its limit of %llu bytes "
				       "([store] map_max)",
		    (unsigned long long)store->map_size);
		return STORE_MAP_FULL;
	}
	if (next > store->opt.map_max_bytes)
		next = store->opt.map_max_bytes;
	if (store_before_remap(store) != MDB_SUCCESS) {
		store_set_error(store, "the store map cannot grow while a read batch is open");
		return STORE_FAILED;
	}
	rc = mdb_env_set_mapsize(store->env, next);
	if (rc != MDB_SUCCESS)
		return store_result_of(store, rc, "growing the map");
	store->map_size = next;
	return STORE_OK;
}

/* ------------------------------------------------------------ the batch */

/* Free a batch whose transaction has ended, a read batch no longer
 * counted as open. */
static void
batch_free(struct store_batch *batch)
{
	if (batch->read_only)
		batch->store->read_batches--;
	free(batch);
}

static enum store_result
batch_begin(struct store *store, bool read_only, struct store_batch **batchp)
{
	struct store_batch *batch;
	int rc;

	batch = calloc(1, sizeof(*batch));
	if (batch == NULL) {
		store_set_error(store, "out of memory");
		return STORE_FAILED;
	}
	rc = store_txn_begin(store, read_only ? MDB_RDONLY : 0, &batch->txn);
	if (rc != MDB_SUCCESS) {
		free(batch);
		return store_result_of(store, rc,
		    read_only ? "beginning a read transaction" : "beginning a write transaction");
	}
	batch->store = store;
	batch->read_only = read_only;
	if (read_only)
		store->read_batches++;
	/* From the transaction, not the cache: another process (commissionctl
	 * rebuild) may have committed since this one's last commit. */
	rc = store_meta_load(batch->txn, store->meta, &batch->counters);
	if (rc != MDB_SUCCESS) {
		store_batch_abort(&batch);
		return store_result_of(store, rc, "reading counters");
	}
	batch->began = batch->counters;
	*batchp = batch;
	return STORE_OK;
}

enum store_result
store_batch_begin(struct store *store, struct store_batch **batchp)
{
	return batch_begin(store, false, batchp);
}

enum store_result
store_batch_begin_read(struct store *store, struct store_batch **batchp)
{
	return batch_begin(store, true, batchp);
}

void
store_batch_set_received_at(struct store_batch *batch, int64_t ms)
{
	batch->received_at_ms = ms;
}

/* Remember the first failure: once a put fails the transaction is spoilt
 * and commit reports it. */
enum store_result
store_batch_check(struct store_batch *batch, int rc, const char *what)
{
	enum store_result r = store_result_of(batch->store, rc, what);

	if (r != STORE_OK && batch->failed == STORE_OK)
		batch->failed = r;
	return r;
}

static int
dedupe_key(const char *source, const char *event_id, uint8_t *buf, size_t buflen, MDB_val *key)
{
	size_t ls = strlen(source), le = strlen(event_id);

	/* source, NUL, event_id: NUL cannot occur in either (proto strings
	 * are checked UTF-8 without NUL before they get here). */
	if (ls + 1 + le > buflen)
		return -1;
	memcpy(buf, source, ls);
	buf[ls] = '\0';
	memcpy(buf + ls + 1, event_id, le);
	key->mv_size = ls + 1 + le;
	key->mv_data = buf;
	return 0;
}

bool
store_batch_find_event(struct store_batch *batch, const char *source, const char *event_id,
    uint64_t *sequence, uint8_t hash[STORE_HASH_BYTES])
{
	uint8_t buf[511];
	MDB_val key, val;

	if (batch->failed != STORE_OK)
		return false;
	if (dedupe_key(source, event_id, buf, sizeof(buf), &key) < 0)
		return false;
	if (mdb_get(batch->txn, batch->store->dedupe, &key, &val) != MDB_SUCCESS ||
	    val.mv_size != STORE_DEDUPE_VALUE_BYTES)
		return false;
	*sequence = be64_get(val.mv_data);
	memcpy(hash, (uint8_t *)val.mv_data + 8, STORE_HASH_BYTES);
	return true;
}

/* Append the event under the next sequence, its dedupe key put with
 * flags: MDB_NOOVERWRITE finds one already there (*stored true, its value
 * in *sequence and stored_hash, nothing written). */
static enum store_result
batch_append_event(struct store_batch *batch, const char *source, const char *event_id,
    const uint8_t hash[STORE_HASH_BYTES], const uint8_t *bytes, size_t len, uint64_t *sequence,
    unsigned flags, bool *stored, uint8_t stored_hash[STORE_HASH_BYTES])
{
	uint8_t keybuf[8], dkbuf[511], dvbuf[STORE_DEDUPE_VALUE_BYTES];
	uint64_t seq = batch->counters.last_event + 1;
	MDB_val key = { 8, keybuf }, val = { len, (void *)bytes }, dkey, dval = { sizeof(dvbuf), dvbuf };
	enum store_result r;
	int rc;

	*stored = false;
	if (batch->failed != STORE_OK)
		return batch->failed;
	if (dedupe_key(source, event_id, dkbuf, sizeof(dkbuf), &dkey) < 0) {
		store_set_error(batch->store, "source and event_id are too long for a key");
		return batch->failed = STORE_FAILED;
	}
	/* The dedupe key first: when it is there, nothing is written. */
	be64_put(dvbuf, seq);
	memcpy(dvbuf + 8, hash, STORE_HASH_BYTES);
	rc = mdb_put(batch->txn, batch->store->dedupe, &dkey, &dval, flags);
	if (rc == MDB_KEYEXIST && dval.mv_size == STORE_DEDUPE_VALUE_BYTES) {
		*sequence = be64_get(dval.mv_data);
		memcpy(stored_hash, (uint8_t *)dval.mv_data + 8, STORE_HASH_BYTES);
		*stored = true;
		return STORE_OK;
	}
	if (rc == MDB_KEYEXIST) {
		/* A value of another size: not an event's, as find_event
		 * reads it; record this one over it, as append_event does. */
		dval.mv_size = sizeof(dvbuf);
		dval.mv_data = dvbuf;
		rc = mdb_put(batch->txn, batch->store->dedupe, &dkey, &dval, 0);
	}
	r = store_batch_check(batch, rc, "recording a dedupe key");
	if (r != STORE_OK)
		return r;
	be64_put(keybuf, seq);
	r = store_batch_check(batch, mdb_put(batch->txn, batch->store->events, &key, &val, MDB_APPEND),
	    "appending an event");
	if (r != STORE_OK)
		return r;
	batch->counters.last_event = seq;
	if (batch->first_appended_event == 0)
		batch->first_appended_event = seq;
	*sequence = seq;
	return STORE_OK;
}

enum store_result
store_batch_append_event(struct store_batch *batch, const char *source, const char *event_id,
    const uint8_t hash[STORE_HASH_BYTES], const uint8_t *bytes, size_t len, uint64_t *sequence)
{
	uint8_t unused[STORE_HASH_BYTES];
	bool stored;

	return batch_append_event(batch, source, event_id, hash, bytes, len, sequence, 0, &stored,
	    unused);
}

enum store_result
store_batch_append_new_event(struct store_batch *batch, const char *source,
    const char *event_id, const uint8_t hash[STORE_HASH_BYTES], const uint8_t *bytes,
    size_t len, uint64_t *sequence, bool *stored, uint8_t stored_hash[STORE_HASH_BYTES])
{
	return batch_append_event(batch, source, event_id, hash, bytes, len, sequence,
	    MDB_NOOVERWRITE, stored, stored_hash);
}

/* Pack msg and append it under a new key of a sequence table; a copy of
 * what was packed in *copy when copy is not NULL. */
static enum store_result
batch_append_packed(struct store_batch *batch, MDB_dbi dbi, uint64_t seq,
    const ProtobufCMessage *msg, const char *what, ProtobufCAllocator *alloc, uint8_t **copy,
    size_t *copy_len)
{
	uint8_t keybuf[8];
	MDB_val key = { 8, keybuf }, val;
	size_t len = protobuf_c_message_get_packed_size(msg);
	int rc;

	be64_put(keybuf, seq);
	/* MDB_RESERVE: pack straight into the page, no copy. */
	val.mv_size = len;
	rc = mdb_put(batch->txn, dbi, &key, &val, MDB_APPEND | MDB_RESERVE);
	if (rc == MDB_SUCCESS)
		protobuf_c_message_pack(msg, val.mv_data);
	if (rc == MDB_SUCCESS && copy != NULL) {
		*copy = alloc != NULL ? alloc->alloc(alloc->allocator_data, len ? len : 1)
				      : malloc(len ? len : 1);
		*copy_len = len;
		if (*copy != NULL)
			memcpy(*copy, val.mv_data, len);
	}
	return store_batch_check(batch, rc, what);
}

enum store_result
store_batch_append_update(struct store_batch *batch, Commissioning__Update *update)
{
	return store_batch_append_update_copy(batch, update, NULL, NULL, NULL);
}

enum store_result
store_batch_append_update_copy(struct store_batch *batch, Commissioning__Update *update,
    ProtobufCAllocator *alloc, uint8_t **copy, size_t *len)
{
	uint64_t seq = batch->counters.last_update + 1;
	enum store_result r;

	if (copy != NULL)
		*copy = NULL;
	if (batch->failed != STORE_OK)
		return batch->failed;
	update->sequence = seq;
	r = batch_append_packed(batch, batch->store->updates, seq, &update->base,
	    "appending an update", alloc, copy, len);
	if (r != STORE_OK)
		return r;
	batch->counters.last_update = seq;
	if (batch->counters.first_update == 0)
		batch->counters.first_update = seq;
	batch->appended_updates++;
	return STORE_OK;
}

enum store_result
store_batch_append_dead_letter(struct store_batch *batch, Commissioning__DeadLetter *dead)
{
	uint64_t id = batch->counters.dead_letters + 1;
	size_t keep = batch->store->opt.dead_letter_keep_bytes;
	enum store_result r;

	if (batch->failed != STORE_OK)
		return batch->failed;
	dead->id = id;
	dead->raw_size = dead->raw.len;
	if (dead->raw.len > keep)
		dead->raw.len = keep;
	r = batch_append_packed(batch, batch->store->dead_letters, id, &dead->base,
	    "appending a dead letter", NULL, NULL, NULL);
	dead->raw.len = dead->raw_size;
	if (r != STORE_OK)
		return r;
	batch->counters.dead_letters = id;
	batch->counters.rejected++;
	return STORE_OK;
}

void
store_batch_count_duplicate(struct store_batch *batch)
{
	batch->counters.duplicates++;
}

/* Drop the oldest updates past the retention limit: at most twice as many
 * as this batch added, so that pruning keeps pace without a long stall. */
static void
batch_prune_updates(struct store_batch *batch)
{
	struct store_retention count_only = { .update_max_count = batch->store->opt.update_retention };

	batch->pruned_updates =
	    store_retention_prune_updates(batch, &count_only, 0, batch->appended_updates * 2);
}

/* The commit time of this batch's events, under its first sequence: what
 * `archive --before` goes by. */
static void
batch_note_received(struct store_batch *batch)
{
	uint8_t keybuf[8], valbuf[8];
	MDB_val key = { 8, keybuf }, val = { 8, valbuf };
	int64_t ms = batch->received_at_ms != 0 ? batch->received_at_ms : clock_now_ms();

	be64_put(keybuf, batch->first_appended_event);
	be64_put(valbuf, (uint64_t)ms);
	store_batch_check(batch, mdb_put(batch->txn, batch->store->received, &key, &val, 0),
	    "recording the commit time");
}

enum store_result
store_batch_commit(struct store_batch **batchp)
{
	struct store_batch *batch = *batchp;
	struct store *store = batch->store;
	enum store_result r = batch->failed;
	int rc;

	*batchp = NULL;
	if (batch->read_only) { /* nothing to commit: it ends */
		mdb_txn_abort(batch->txn);
		batch_free(batch);
		return r;
	}
	if (r == STORE_OK)
		batch_prune_updates(batch);
	if (batch->failed == STORE_OK && batch->first_appended_event != 0)
		batch_note_received(batch);
	if (batch->failed == STORE_OK)
		store_batch_check(batch,
		    meta_save(batch->txn, store->meta, &batch->counters, &batch->began),
		    "saving counters");
	r = batch->failed;
	if (r != STORE_OK) {
		mdb_txn_abort(batch->txn);
		batch_free(batch);
		return r;
	}
	/* mdb_txn_commit frees the transaction whatever it returns. */
	rc = mdb_txn_commit(batch->txn);
	if (rc == EIO) {
		mdb_filehandle_t fd;
		if (mdb_env_get_fd(store->env, &fd) == MDB_SUCCESS)
			rc = diskroom_errno(fd, rc);
	}
	r = store_result_of(store, rc, "committing");
	if (r == STORE_OK) {
		store->counters = batch->counters;
		store->batches_pruned += batch->pruned_updates;
	} else
		store_check_usable(store);
	batch_free(batch);
	return r;
}

void
store_batch_abort(struct store_batch **batchp)
{
	struct store_batch *batch = *batchp;

	if (batch == NULL)
		return;
	mdb_txn_abort(batch->txn);
	batch_free(batch);
	*batchp = NULL;
}

/*
 * A record is about to be read: every STORE_BOUND_EVERY, let go of the
 * store's mapped pages if more than STORE_MAPPED_MAX_BYTES are mapped, so
 * that one long read (a scan, its callback's reads, a batch) keeps the RSS
 * bound, not only the ends of batches and answers. The map is read-only:
 * the pages a cursor or a caller holds stay valid and fault in again. A
 * failure to let go is no read's failure; the readers' own checks at their
 * ends (a batch, a reply, an HTTP answer) meet it again and log it.
 *
 * A read at random maps more than its pages: the kernel maps the cached
 * pages around each fault too (64 KiB by default). Checked every 256
 * reads, the map grew far past the bound between checks: on the 1M bench
 * store, the first batch after an hour to a month without events peaked
 * at 71 to 85 MB of RSS, a flow reading of every timer at 55 MB; checked
 * every 64, at 31 to 41 MB (bench/README.md, "The daemon's memory over
 * one request").
 */
#define STORE_BOUND_EVERY 64

static void
store_note_read(struct store *store)
{
	if (++store->reads_unbounded < STORE_BOUND_EVERY)
		return;
	store->reads_unbounded = 0;
	(void)store_bound_mapped(store);
}

static enum store_result
batch_get(struct store_batch *batch, MDB_dbi dbi, const uint8_t *key, size_t keylen,
    const uint8_t **bytes, size_t *len, const char *what)
{
	MDB_val k = { keylen, (void *)key }, v;
	int rc;

	*bytes = NULL;
	*len = 0;
	if (batch->failed != STORE_OK)
		return batch->failed;
	store_note_read(batch->store);
	rc = mdb_get(batch->txn, dbi, &k, &v);
	if (rc == MDB_NOTFOUND)
		return STORE_OK;
	if (store_batch_check(batch, rc, what) != STORE_OK)
		return batch->failed;
	*bytes = v.mv_data;
	*len = v.mv_size;
	return STORE_OK;
}

static enum store_result
batch_put(struct store_batch *batch, MDB_dbi dbi, const uint8_t *key, size_t keylen,
    const uint8_t *bytes, size_t len, const char *what)
{
	MDB_val k = { keylen, (void *)key }, v = { len, (void *)bytes };

	if (batch->failed != STORE_OK)
		return batch->failed;
	return store_batch_check(batch, mdb_put(batch->txn, dbi, &k, &v, 0), what);
}

enum store_result
store_batch_get_history(struct store_batch *batch, const uint8_t *key, size_t keylen,
    const uint8_t **bytes, size_t *len)
{
	enum store_result r = batch_get(batch, batch->store->histories, key, keylen, bytes, len,
	    "reading a history");

	if (r == STORE_OK && *len > 0)
		batch->store->histories_read++;
	return r;
}

enum store_result
store_batch_put_history(struct store_batch *batch, const uint8_t *key, size_t keylen,
    const uint8_t *bytes, size_t len)
{
	return batch_put(batch, batch->store->histories, key, keylen, bytes, len,
	    "writing a history");
}

enum store_result
store_batch_get_derived(struct store_batch *batch, const uint8_t *key, size_t keylen,
    const uint8_t **bytes, size_t *len)
{
	return batch_get(batch, batch->store->derived, key, keylen, bytes, len,
	    "reading derived state");
}

enum store_result
store_batch_put_derived(struct store_batch *batch, const uint8_t *key, size_t keylen,
    const uint8_t *bytes, size_t len)
{
	return batch_put(batch, batch->store->derived, key, keylen, bytes, len,
	    "writing derived state");
}

enum store_result
store_batch_del_derived(struct store_batch *batch, const uint8_t *key, size_t keylen)
{
	MDB_val k = { keylen, (void *)key };
	int rc;

	if (batch->failed != STORE_OK)
		return batch->failed;
	rc = mdb_del(batch->txn, batch->store->derived, &k, NULL);
	return rc == MDB_NOTFOUND ? STORE_OK : store_batch_check(batch, rc, "removing derived state");
}

enum store_result
store_batch_clear_derived(struct store_batch *batch)
{
	if (batch->failed != STORE_OK)
		return batch->failed;
	return store_batch_check(batch, mdb_drop(batch->txn, batch->store->derived, 0),
	    "clearing derived state");
}

uint64_t
store_histories_read(const struct store *store)
{
	return store->histories_read;
}

uint64_t
store_batches_pruned(const struct store *store)
{
	return store->batches_pruned;
}

uint64_t
store_batch_last_event_sequence(const struct store_batch *batch)
{
	return batch->counters.last_event;
}

static MDB_dbi
store_keyed_dbi(const struct store *store, enum store_keyed_table table)
{
	return table == STORE_DERIVED ? store->derived : store->histories;
}

/* Visit the keys of table that start with prefix, from the first at or
 * after from (fromlen 0: from prefix), with a cursor of txn; the histories
 * visited counted in store_histories_read. */
static int
scan_prefix(struct store *store, MDB_txn *txn, enum store_keyed_table table,
    const uint8_t *prefix, size_t prefixlen, const uint8_t *from, size_t fromlen,
    store_keyed_fn fn, void *arg)
{
	MDB_cursor *cur;
	MDB_val key = { prefixlen, (void *)prefix }, val;
	uint64_t visited = 0;
	int rc = mdb_cursor_open(txn, store_keyed_dbi(store, table), &cur);

	if (rc != MDB_SUCCESS)
		return rc;
	if (fromlen > 0) {
		key.mv_size = fromlen;
		key.mv_data = (void *)from;
	}
	for (rc = mdb_cursor_get(cur, &key, &val, key.mv_size > 0 ? MDB_SET_RANGE : MDB_FIRST);
	     rc == MDB_SUCCESS; rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
		if (prefixlen > 0 &&
		    (key.mv_size < prefixlen || memcmp(key.mv_data, prefix, prefixlen) != 0))
			break;
		visited++;
		store_note_read(store);
		if (fn(arg, key.mv_data, key.mv_size, val.mv_data, val.mv_size) != 0)
			break;
	}
	mdb_cursor_close(cur);
	if (table == STORE_HISTORIES)
		store->histories_read += visited;
	return rc == MDB_NOTFOUND ? MDB_SUCCESS : rc;
}

enum store_result
store_batch_scan_prefix(struct store_batch *batch, enum store_keyed_table table,
    const uint8_t *prefix, size_t prefixlen, store_keyed_fn fn, void *arg)
{
	return store_batch_scan_from(batch, table, prefix, prefixlen, NULL, 0, fn, arg);
}

enum store_result
store_batch_scan_from(struct store_batch *batch, enum store_keyed_table table,
    const uint8_t *prefix, size_t prefixlen, const uint8_t *from, size_t fromlen,
    store_keyed_fn fn, void *arg)
{
	if (batch->failed != STORE_OK)
		return batch->failed;
	return store_batch_check(batch,
	    scan_prefix(batch->store, batch->txn, table, prefix, prefixlen, from, fromlen, fn,
		arg),
	    "reading by key prefix");
}

enum store_result
store_batch_clear_histories(struct store_batch *batch)
{
	if (batch->failed != STORE_OK)
		return batch->failed;
	return store_batch_check(batch, mdb_drop(batch->txn, batch->store->histories, 0),
	    "clearing histories");
}

enum store_result
store_batch_scan_events(struct store_batch *batch, store_record_fn fn, void *arg)
{
	MDB_cursor *cur;
	MDB_val key, val;
	int rc;

	if (batch->failed != STORE_OK)
		return batch->failed;
	rc = mdb_cursor_open(batch->txn, batch->store->events, &cur);
	if (store_batch_check(batch, rc, "opening a cursor") != STORE_OK)
		return batch->failed;
	for (rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST); rc == MDB_SUCCESS;
	     rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
		if (key.mv_size != 8) {
			rc = MDB_CORRUPTED;
			break;
		}
		if (fn(arg, be64_get(key.mv_data), val.mv_data, val.mv_size) != 0)
			break;
		if (batch->failed != STORE_OK)
			break;
	}
	mdb_cursor_close(cur);
	if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND)
		store_batch_check(batch, rc, "reading the event log");
	return batch->failed;
}

/* ------------------------------------------------------------ reads */

enum store_result
store_read_counts(struct store *store, struct store_counts *c)
{
	struct store_meta m;
	MDB_txn *txn;
	MDB_envinfo info;
	MDB_stat st;
	int rc;

	rc = store_txn_begin(store, MDB_RDONLY, &txn);
	if (rc != MDB_SUCCESS)
		return store_result_of(store, rc, "beginning a read transaction");
	memset(c, 0, sizeof(*c));
	rc = store_meta_load(txn, store->meta, &m);
	if (rc == MDB_SUCCESS)
		rc = store_first_key(txn, store->events, &c->first_event_sequence);
	if (rc == MDB_SUCCESS)
		rc = store_first_key(txn, store->dead_letters, &c->first_dead_letter);
	mdb_txn_abort(txn);
	if (rc != MDB_SUCCESS)
		return store_result_of(store, rc, "reading counters");
	/* A log emptied by archiving begins after its last. */
	if (c->first_event_sequence == 0)
		c->first_event_sequence = m.last_event + 1;
	c->format_version = store->format_version;
	c->last_event_sequence = m.last_event;
	c->last_update_sequence = m.last_update;
	c->first_update_sequence = m.first_update;
	c->duplicates = m.duplicates;
	c->rejected = m.rejected;
	c->dead_letters = m.dead_letters;
	if (mdb_env_info(store->env, &info) == MDB_SUCCESS &&
	    mdb_env_stat(store->env, &st) == MDB_SUCCESS) {
		c->map_size_bytes = info.me_mapsize;
		c->used_bytes = (uint64_t)(info.me_last_pgno + 1) * st.ms_psize;
	}
	return STORE_OK;
}

uint64_t
store_last_write(struct store *store)
{
	MDB_envinfo info;

	return mdb_env_info(store->env, &info) == MDB_SUCCESS ? info.me_last_txnid : 0;
}

static enum store_result
store_scan(struct store *store, MDB_dbi dbi, uint64_t from, uint64_t max_visit,
    store_record_fn fn, void *arg, uint64_t *next)
{
	uint8_t keybuf[8];
	MDB_val key = { 8, keybuf }, val;
	MDB_txn *txn;
	MDB_cursor *cur;
	uint64_t visited = 0, at = from;
	int rc;

	rc = store_txn_begin(store, MDB_RDONLY, &txn);
	if (rc != MDB_SUCCESS)
		return store_result_of(store, rc, "beginning a read transaction");
	rc = mdb_cursor_open(txn, dbi, &cur);
	if (rc != MDB_SUCCESS) {
		mdb_txn_abort(txn);
		return store_result_of(store, rc, "opening a cursor");
	}
	be64_put(keybuf, from);
	rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
	while (rc == MDB_SUCCESS && visited < max_visit) {
		if (key.mv_size != 8) {
			rc = MDB_CORRUPTED;
			break;
		}
		at = be64_get(key.mv_data);
		visited++;
		if (fn(arg, at, val.mv_data, val.mv_size) != 0) {
			at++;
			rc = MDB_NOTFOUND;
			goto done;
		}
		at++;
		rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT);
	}
done:
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	if (next != NULL)
		*next = at;
	if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND)
		return store_result_of(store, rc, "reading");
	return STORE_OK;
}

enum store_result
store_scan_updates(struct store *store, uint64_t from, uint64_t max_visit,
    store_record_fn fn, void *arg, uint64_t *next)
{
	return store_scan(store, store->updates, from, max_visit, fn, arg, next);
}

enum store_result
store_scan_events(struct store *store, uint64_t from, uint64_t max_visit,
    store_record_fn fn, void *arg, uint64_t *next)
{
	return store_scan(store, store->events, from, max_visit, fn, arg, next);
}

enum store_result
store_scan_dead_letters(struct store *store, uint64_t from, uint64_t max_visit,
    store_record_fn fn, void *arg, uint64_t *next)
{
	return store_scan(store, store->dead_letters, from, max_visit, fn, arg, next);
}

enum store_result
store_scan_histories(struct store *store, store_keyed_fn fn, void *arg)
{
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val key, val;
	int rc;

	rc = store_txn_begin(store, MDB_RDONLY, &txn);
	if (rc != MDB_SUCCESS)
		return store_result_of(store, rc, "beginning a read transaction");
	rc = mdb_cursor_open(txn, store->histories, &cur);
	if (rc != MDB_SUCCESS) {
		mdb_txn_abort(txn);
		return store_result_of(store, rc, "opening a cursor");
	}
	for (rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST); rc == MDB_SUCCESS;
	     rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
		store->histories_read++;
		store_note_read(store);
		if (fn(arg, key.mv_data, key.mv_size, val.mv_data, val.mv_size) != 0)
			break;
	}
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND)
		return store_result_of(store, rc, "reading histories");
	return STORE_OK;
}

enum store_result
store_scan_prefix(struct store *store, enum store_keyed_table table, const uint8_t *prefix,
    size_t prefixlen, store_keyed_fn fn, void *arg)
{
	MDB_txn *txn;
	int rc;

	if (table == STORE_DERIVED && !store->has_derived)
		return STORE_OK; /* written before the table was: nothing in it */
	rc = store_txn_begin(store, MDB_RDONLY, &txn);
	if (rc != MDB_SUCCESS)
		return store_result_of(store, rc, "beginning a read transaction");
	rc = scan_prefix(store, txn, table, prefix, prefixlen, NULL, 0, fn, arg);
	mdb_txn_abort(txn);
	return store_result_of(store, rc, "reading by key prefix");
}

/* Find where LMDB mapped the data file: LMDB does not say, /proc/self/maps
 * does. Found again when the map has been resized. */
static int
store_find_map(struct store *store)
{
	FILE *maps;
	char line[PATH_MAX + 128];
	size_t want = strlen(store->data_file);

	if (store->map_start != 0 && store->map_found_size == store->map_size)
		return 0;
	store->map_start = 0;
	if (want == 0 || (maps = fopen("/proc/self/maps", "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), maps) != NULL) {
		unsigned long start, end;
		size_t n = strlen(line);
		if (n > 0 && line[n - 1] == '\n')
			line[--n] = '\0';
		if (n < want || strcmp(line + n - want, store->data_file) != 0 ||
		    sscanf(line, "%lx-%lx", &start, &end) != 2)
			continue;
		store->map_start = start;
		store->map_length = end - start;
		store->map_found_size = store->map_size;
		break;
	}
	fclose(maps);
	return store->map_start != 0 ? 0 : -1;
}

enum store_result
store_unmap_cached_pages(struct store *store)
{
	/* The map is read-only (no MDB_WRITEMAP): no page is dirty in it, and
	 * the pages stay in the page cache for the next read. */
	if (store_find_map(store) < 0)
		return STORE_OK;
	if (madvise((void *)store->map_start, store->map_length, MADV_DONTNEED) < 0) {
		store_set_error(store, "letting go of mapped pages: %s", strerror(errno));
		return STORE_FAILED;
	}
	return STORE_OK;
}

/* The bytes of file pages mapped into this process (statm's "shared"); 0
 * when statm cannot be read. Its file is opened once and read again with
 * pread (the ingest batch asks every 64 envelopes): /proc makes the text
 * afresh on each read. */
static uint64_t
mapped_file_bytes(struct store *store)
{
	char text[128];
	unsigned long shared;
	ssize_t n;
	char *at;

	if (!store->statm_opened) {
		store->statm_opened = true;
		store->statm_fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
	}
	if (store->statm_fd < 0 ||
	    (n = pread(store->statm_fd, text, sizeof(text) - 1, 0)) <= 0)
		return 0;
	text[n] = '\0';
	/* size resident shared ...: the third number. */
	at = text;
	for (int field = 0; field < 2; field++) {
		at = strchr(at, ' ');
		if (at == NULL)
			return 0;
		at++;
	}
	shared = strtoul(at, NULL, 10);
	return (uint64_t)shared * (uint64_t)sysconf(_SC_PAGESIZE);
}

enum store_result
store_bound_mapped(struct store *store)
{
	if (mapped_file_bytes(store) <= STORE_MAPPED_MAX_BYTES)
		return STORE_OK;
	return store_unmap_cached_pages(store);
}

int
store_sync_path(const char *path, int flags)
{
	int fd = open(path, flags | O_CLOEXEC), rc, saved;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	saved = errno;
	close(fd);
	errno = saved;
	return rc;
}

/* fsync dir/name, or dir itself when name is NULL; -1 with the error set. */
static int
store_fsync_path(struct store *store, const char *dir, const char *name)
{
	char path[PATH_MAX];

	if (snprintf(path, sizeof(path), "%s%s%s", dir, name ? "/" : "", name ? name : "") >=
	    (int)sizeof(path)) {
		store_set_error(store, "%s: the path is too long", dir);
		return -1;
	}
	if (store_sync_path(path, name ? O_RDONLY : O_RDONLY | O_DIRECTORY) < 0) {
		store_set_error(store, "%s: cannot make the copy durable (fsync): %s", path,
		    strerror(errno));
		return -1;
	}
	return 0;
}

enum store_result
store_backup(struct store *store, const char *dir)
{
	int rc;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		store_set_error(store, "%s: cannot create the backup directory: %s", dir,
		    strerror(errno));
		return STORE_FAILED;
	}
	/* A read transaction inside mdb_env_copy2 gives the consistent
	 * snapshot; the writer goes on meanwhile. */
	rc = mdb_env_copy2(store->env, dir, MDB_CP_COMPACT);
	if (rc == EEXIST) {
		store_set_error(store, "%s: already holds a store: back up into an empty directory", dir);
		return STORE_FAILED;
	}
	if (rc != MDB_SUCCESS) {
		/* A copy cut short (a full disk) is no backup, and would keep a
		 * retry out of the directory: it goes. */
		char file[PATH_MAX];
		enum store_result r = store_result_of(store, rc, "copying the store");
		if (snprintf(file, sizeof(file), "%s/data.mdb", dir) < (int)sizeof(file) &&
		    unlink(file) == 0)
			store_set_error(store, "copying the store: %s; the partial copy %s was removed",
			    mdb_strerror(rc), file);
		return r;
	}
	/* mdb_env_copy2 writes and closes the file without fsync: a backup
	 * reported written must survive a power cut, its name too. */
	if (store_fsync_path(store, dir, "data.mdb") < 0 || store_fsync_path(store, dir, NULL) < 0) {
		char file[PATH_MAX];
		if (snprintf(file, sizeof(file), "%s/data.mdb", dir) < (int)sizeof(file))
			unlink(file); /* as a copy cut short: a retry may go there */
		return STORE_FAILED;
	}
	return STORE_OK;
}
