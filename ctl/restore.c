/*
 * restore: commissionctl restore DIR puts a backup (commissionctl backup)
 * in place of the configured store, holding the store's lock so that no
 * commissiond can start meanwhile, and refusing while one runs. The store
 * it replaces is kept beside it as data.mdb.before-restore, or, when an
 * earlier restore's is still there, data.mdb.before-restore.N: a second
 * restore never destroys what the first one kept.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl.h"
#include "store.h"

/* A name beside the store that no file has yet, for the store replaced:
 * data.mdb.before-restore, else .2, .3, ... */
static void
restore_kept_name(const char *store_path, char *kept, size_t size)
{
	snprintf(kept, size, "%s/data.mdb.before-restore", store_path);
	for (unsigned n = 2; access(kept, F_OK) == 0 && n < 100000; n++)
		snprintf(kept, size, "%s/data.mdb.before-restore.%u", store_path, n);
}

/* Copy the backup into store_path/.restore, make it durable, then swap it
 * in by rename; kept: where the store replaced went ("" for none). */
static int
restore_swap(struct store *backup, const char *store_path, char kept[4096], char *err,
    size_t errlen)
{
	char staging[4096], staged[4096 + 16], live[4096], lockfile[4096];
	struct stat dir;

	snprintf(staging, sizeof(staging), "%s/.restore", store_path);
	snprintf(staged, sizeof(staged), "%s/data.mdb", staging);
	snprintf(live, sizeof(live), "%s/data.mdb", store_path);
	restore_kept_name(store_path, kept, 4096);
	snprintf(lockfile, sizeof(lockfile), "%s/lock.mdb", store_path);
	/* What an earlier restore left half done. */
	unlink(staged);
	rmdir(staging);
	if (store_backup(backup, staging) != STORE_OK) {
		snprintf(err, errlen, "copying: %s", store_error(backup));
		return -1;
	}
	/* Run by root (sudo), the copy would be root's, 0600, and a
	 * commissiond running as the store's owner could not open it: it
	 * gets the owner of the store directory. */
	if (geteuid() == 0 && (stat(store_path, &dir) < 0 ||
				  ((dir.st_uid != 0 || dir.st_gid != 0) &&
				      chown(staged, dir.st_uid, dir.st_gid) < 0))) {
		snprintf(err, errlen, "giving the copy the store directory's owner: %s",
		    strerror(errno));
		return -1;
	}
	if (access(live, F_OK) != 0)
		kept[0] = '\0';
	/* The store replaced is linked under its kept name, then the copy
	 * renamed over it: data.mdb is the old store or the new one at every
	 * instant. Renamed away first, a crash between the two left none,
	 * and the next commissiond made an empty store from sequence 1. */
	if (store_sync_path(staged, O_RDONLY) < 0 || (kept[0] != '\0' && link(live, kept) < 0) ||
	    rename(staged, live) < 0 ||
	    store_sync_path(store_path, O_RDONLY | O_DIRECTORY) < 0) {
		snprintf(err, errlen, "putting the copy in place: %s", strerror(errno));
		return -1;
	}
	rmdir(staging);
	/* The old reader table described the old file. */
	unlink(lockfile);
	return 0;
}

int
ctl_restore(const struct config *cfg, int argc, char **argv)
{
	struct store *backup;
	struct store_counts c;
	struct store_lock *lock, *changes = NULL;
	char err[768], kept[4096], from[PATH_MAX], to[PATH_MAX];
	json_t *report;
	int written;

	if (argc != 2)
		return ctl_usage_arguments("restore", "commissionctl restore DIR", argc, argv, 2, "DIR");
	if (realpath(argv[1], from) != NULL && realpath(cfg->store_path, to) != NULL &&
	    strcmp(from, to) == 0) {
		fprintf(stderr, "commissionctl: restore: %s is the configured store itself: "
				"name a backup (commissionctl backup DIR)\n",
		    argv[1]);
		return CTL_REFUSED;
	}
	if ((backup = ctl_open_store(cfg, argv[1], true, STORE_SYNC_FULL)) == NULL) {
		fprintf(stderr, "commissionctl: restore: %s is not a readable store\n", argv[1]);
		return CTL_REFUSED;
	}
	if (store_read_counts(backup, &c) != STORE_OK) {
		fprintf(stderr, "commissionctl: restore: %s\n", store_error(backup));
		store_close(&backup);
		return CTL_STORE;
	}
	if ((lock = store_lock_take(cfg->store_path, "commissionctl restore", err, sizeof(err))) ==
	    NULL) {
		fprintf(stderr, "commissionctl: restore: %s\n", err);
		store_close(&backup);
		return CTL_REFUSED;
	}
	/* Nor may a rebuild or archive --prune be at work: what it wrote
	 * would go into the file replaced. */
	if (ctl_lock_changes(cfg, "restore", true, &changes) != CTL_OK) {
		store_close(&backup);
		store_lock_release(&lock);
		return CTL_REFUSED;
	}
	if (restore_swap(backup, cfg->store_path, kept, err, sizeof(err)) < 0) {
		fprintf(stderr, "commissionctl: restore: %s: %s\n", cfg->store_path, err);
		store_close(&backup);
		store_lock_release(&changes);
		store_lock_release(&lock);
		return CTL_STORE;
	}
	store_close(&backup);
	store_lock_release(&changes);
	store_lock_release(&lock);
	report = json_pack("{s:o, s:o, s:I, s:I, s:I, s:o?}", "restored", ctl_json_text(argv[1]),
	    "store", ctl_json_text(cfg->store_path), "events", (json_int_t)c.last_event_sequence,
	    "lastUpdateSequence", (json_int_t)c.last_update_sequence, "formatVersion",
	    (json_int_t)c.format_version, "kept", kept[0] != '\0' ? ctl_json_text(kept) : NULL);
	written = ctl_print_json(report);
	json_decref(report);
	return ctl_output_failed("restore", written) < 0 ? CTL_REFUSED : CTL_OK;
}
