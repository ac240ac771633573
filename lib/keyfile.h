/*
 * keyfile: the small files that hold keys (the pseudonym key, CURVE key
 * pairs, public keys and allow-lists). Reads one with its mode checked and
 * writes a new one exclusively, in a 0700 directory when it makes one.
 */
#ifndef KEYFILE_H
#define KEYFILE_H

#include <stddef.h>
#include <sys/types.h>

enum keyfile_kind {
	KEYFILE_SECRET, /* none for others; for a group only when root owns it */
	KEYFILE_PUBLIC, /* anyone may read it; others may not write it */
};

/*
 * Read the whole of path, a regular file of at most max_bytes, into a new
 * NUL-terminated buffer (free it with keyfile_free, which zeroes it). A
 * secret file others may use, or a group while someone other than root
 * owns it, is refused, as is a public one others may write. NULL with err
 * naming the file and the rule.
 */
char *keyfile_read(const char *path, enum keyfile_kind kind, size_t max_bytes, size_t *len,
    char *err, size_t errlen);
void keyfile_free(char **text, size_t len);

/*
 * Write text to a new file path with mode (never over an existing one),
 * synced to disk. Missing directories on the way are made with mode 0700.
 * -1 with err; a half-written file is removed.
 */
int keyfile_create(const char *path, const char *text, mode_t mode, char *err, size_t errlen);

#endif
