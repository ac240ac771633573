/*
 * seen: what the spool watcher remembers about the files in the spool
 * between two looks: when each was first seen as it is now (to know when
 * it has settled), and those it must not take again (its rows are already
 * in the outbox, or it cannot be taken and that has been logged once).
 */
#ifndef SEEN_H
#define SEEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

/* What says a file is still the one seen: another inode, size, mtime or
 * ctime (a chmod, a rewrite) is another file to take. */
struct spool_seen_id {
	uint64_t dev, ino, size;
	int64_t mtime_ns, ctime_ns;
	uint32_t type; /* st_mode & S_IFMT */
};

enum spool_seen_state {
	SPOOL_SEEN_SETTLING,    /* watched until it has stopped changing */
	SPOOL_SEEN_PUT,         /* its rows are in the outbox; it could not be moved */
	SPOOL_SEEN_SKIPPED,     /* cannot be taken, and that is logged */
	SPOOL_SEEN_WAITING_ROOM /* the outbox had no room for it: taken again when
	                         * what was waiting there is half gone */
};

struct spool_seen_file {
	char *name;
	struct spool_seen_id id;
	int64_t first_seen_ms; /* monotonic clock: when id was first seen */
	enum spool_seen_state state;
	uint64_t pending_at_full; /* SPOOL_SEEN_WAITING_ROOM: the outbox's pending then */
	bool listed;              /* in the directory at this look */
	/* SPOOL_SEEN_PUT: its errors file's text still to write (NULL: none). */
	char *report;
	size_t report_len;
};

struct spool_seen {
	struct spool_seen_file *files; /* sorted by name */
	size_t n, cap;
};

void spool_seen_id_of(const struct stat *st, struct spool_seen_id *id);
bool spool_seen_id_equal(const struct spool_seen_id *a, const struct spool_seen_id *b);

/* The file of that name, or NULL. */
struct spool_seen_file *spool_seen_find(struct spool_seen *seen, const char *name);
/*
 * The file of that name as it is now (id): the one remembered when id is
 * the same, else remembered anew as SETTLING from now_ms. Marked listed.
 * NULL when out of memory.
 */
struct spool_seen_file *spool_seen_note(
    struct spool_seen *seen, const char *name, const struct spool_seen_id *id, int64_t now_ms);
/* Start again from now_ms with id, SETTLING (the file changed). */
void spool_seen_reset(struct spool_seen_file *f, const struct spool_seen_id *id, int64_t now_ms);
/* Forget the files not listed since the last prune, and clear the marks. */
void spool_seen_prune(struct spool_seen *seen);
void spool_seen_free(struct spool_seen *seen);

#endif
