/*
 * seen: the spool watcher's memory of the files in the spool, a sorted
 * array by name (a spool holds files for seconds, so it stays small; names
 * no longer in the directory are forgotten at every look).
 */
#include <stdlib.h>
#include <string.h>

#include "seen.h"
#include "sorted.h"

void
spool_seen_id_of(const struct stat *st, struct spool_seen_id *id)
{
	*id = (struct spool_seen_id){
	    .dev = (uint64_t)st->st_dev,
	    .ino = (uint64_t)st->st_ino,
	    .size = (uint64_t)st->st_size,
	    .mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec,
	    .ctime_ns = (int64_t)st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec,
	    .type = (uint32_t)(st->st_mode & S_IFMT),
	};
}

bool
spool_seen_id_equal(const struct spool_seen_id *a, const struct spool_seen_id *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtime_ns == b->mtime_ns && a->ctime_ns == b->ctime_ns && a->type == b->type;
}

static int
spool_seen_compare(const void *key, const void *element)
{
	return strcmp(key, ((const struct spool_seen_file *)element)->name);
}

/* Where name is, or would go. */
static size_t
spool_seen_index(const struct spool_seen *seen, const char *name, bool *found)
{
	return sorted_index(seen->files, seen->n, sizeof(seen->files[0]), name,
	    spool_seen_compare, found);
}

struct spool_seen_file *
spool_seen_find(struct spool_seen *seen, const char *name)
{
	bool found;
	size_t i = spool_seen_index(seen, name, &found);

	return found ? &seen->files[i] : NULL;
}

void
spool_seen_reset(struct spool_seen_file *f, const struct spool_seen_id *id, int64_t now_ms)
{
	f->id = *id;
	f->first_seen_ms = now_ms;
	f->state = SPOOL_SEEN_SETTLING;
	f->pending_at_full = 0;
	free(f->report);
	f->report = NULL;
	f->report_len = 0;
}

struct spool_seen_file *
spool_seen_note(
    struct spool_seen *seen, const char *name, const struct spool_seen_id *id, int64_t now_ms)
{
	bool found;
	size_t i = spool_seen_index(seen, name, &found);
	struct spool_seen_file *f;

	if (!found) {
		char *copy = strdup(name);
		if (copy == NULL)
			return NULL;
		if (seen->n == seen->cap) {
			size_t cap = seen->cap ? seen->cap * 2 : 64;
			struct spool_seen_file *grown = realloc(seen->files, cap * sizeof(*grown));
			if (grown == NULL) {
				free(copy);
				return NULL;
			}
			seen->files = grown;
			seen->cap = cap;
		}
		memmove(
		    &seen->files[i + 1], &seen->files[i], (seen->n - i) * sizeof(seen->files[0]));
		seen->n++;
		seen->files[i] = (struct spool_seen_file){.name = copy};
		spool_seen_reset(&seen->files[i], id, now_ms);
	} else if (!spool_seen_id_equal(&seen->files[i].id, id)) {
		spool_seen_reset(&seen->files[i], id, now_ms);
	}
	f = &seen->files[i];
	f->listed = true;
	return f;
}

void
spool_seen_prune(struct spool_seen *seen)
{
	size_t kept = 0;

	for (size_t i = 0; i < seen->n; i++) {
		if (!seen->files[i].listed) {
			free(seen->files[i].name);
			free(seen->files[i].report);
			continue;
		}
		seen->files[i].listed = false;
		seen->files[kept++] = seen->files[i];
	}
	seen->n = kept;
}

void
spool_seen_free(struct spool_seen *seen)
{
	for (size_t i = 0; i < seen->n; i++) {
		free(seen->files[i].name);
		free(seen->files[i].report);
	}
	free(seen->files);
	*seen = (struct spool_seen){0};
}
