/*
 * lock: the store directory's lock files, flocks the kernel drops when
 * the process dies, so that a crash leaves nothing to clean up.
 * commissiond.lock is held exclusive by the one process that may own the
 * store: a running commissiond, or commissionctl restore or load.
 * commissionctl.lock keeps the tools that change a store beside the
 * daemon (rebuild, archive --prune: shared) from those that replace it or
 * put events back (restore, load: exclusive).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store_internal.h"

#define STORE_LOCK_FILE "commissiond.lock"
#define STORE_CHANGES_LOCK_FILE "commissionctl.lock"

struct store_lock {
	int fd;
};

/* Open (making it) the lock file name in dir, 0600; made by root in a
 * store that is another user's, it is given to that user, or it would keep
 * commissiond, running as that user, from its own store. -1 with err. */
static int
lock_open(const char *dir, const char *name, char *path, size_t pathlen, char *err,
    size_t errlen)
{
	struct stat st, dirst;
	int fd;

	if (snprintf(path, pathlen, "%s/%s", dir, name) >= (int)pathlen) {
		snprintf(err, errlen, "%s: the store path is too long", dir);
		return -1;
	}
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "%s: cannot open the lock file: %s", path, strerror(errno));
		return -1;
	}
	if (geteuid() == 0 && stat(dir, &dirst) == 0 && fstat(fd, &st) == 0 &&
	    (st.st_uid != dirst.st_uid || st.st_gid != dirst.st_gid) &&
	    fchown(fd, dirst.st_uid, dirst.st_gid) < 0) {
		snprintf(err, errlen, "%s: cannot give the lock file the store's owner: %s", path,
		    strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* flock fd as op (LOCK_EX or LOCK_SH) without waiting, and write holder
 * into it for the message of the next one to try. 0; -1 with errno set
 * when it is not had (who then says who holds it); -2 with errno set when
 * holder could not be written. */
static int
lock_flock(int fd, int op, const char *holder, char *who, size_t wholen)
{
	char line[128];
	ssize_t n;
	int e;

	if (flock(fd, op | LOCK_NB) < 0) {
		e = errno;
		n = pread(fd, who, wholen - 1, 0);
		who[n > 0 ? n : 0] = '\0';
		who[strcspn(who, "\n")] = '\0';
		errno = e;
		return -1;
	}
	n = snprintf(line, sizeof(line), "%s (pid %ld)\n", holder, (long)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, line, (size_t)n, 0) != n)
		return -2;
	return 0;
}

static struct store_lock *
lock_new(int fd, char *err, size_t errlen)
{
	struct store_lock *lock = malloc(sizeof(*lock));

	if (lock == NULL) {
		snprintf(err, errlen, "out of memory");
		close(fd);
		return NULL;
	}
	lock->fd = fd;
	return lock;
}

struct store_lock *
store_lock_take(const char *dir, const char *holder, char *err, size_t errlen)
{
	char path[4096], who[128] = "";
	int fd, rc;

	/* The store is the daemon's alone (docs/SECURITY.md). */
	if (store_make_directory(dir, err, errlen) < 0)
		return NULL;
	if ((fd = lock_open(dir, STORE_LOCK_FILE, path, sizeof(path), err, errlen)) < 0)
		return NULL;
	if ((rc = lock_flock(fd, LOCK_EX, holder, who, sizeof(who))) < 0) {
		if (rc == -2)
			snprintf(err, errlen, "%s: cannot write the lock file: %s", path,
			    strerror(errno));
		else if (errno == EWOULDBLOCK)
			snprintf(err, errlen, "%s: the store is in use by %s: stop it first", dir,
			    who[0] ? who : "another process");
		else
			snprintf(err, errlen, "%s: cannot lock: %s", path, strerror(errno));
		close(fd);
		return NULL;
	}
	return lock_new(fd, err, errlen);
}

struct store_lock *
store_lock_changes(const char *dir, bool whole, const char *holder, char *err, size_t errlen)
{
	char path[4096], who[128] = "";
	int fd, rc;

	if ((fd = lock_open(dir, STORE_CHANGES_LOCK_FILE, path, sizeof(path), err, errlen)) < 0)
		return NULL;
	if ((rc = lock_flock(fd, whole ? LOCK_EX : LOCK_SH, holder, who, sizeof(who))) < 0) {
		if (rc == -2)
			snprintf(err, errlen, "%s: cannot write the lock file: %s", path,
			    strerror(errno));
		else if (errno == EWOULDBLOCK)
			snprintf(err, errlen, "%s: %s is %s the store: wait for it to finish", dir,
			    who[0] ? who : "another commissionctl",
			    whole ? "changing" : "replacing or putting events back into");
		else
			snprintf(err, errlen, "%s: cannot lock: %s", path, strerror(errno));
		close(fd);
		return NULL;
	}
	return lock_new(fd, err, errlen);
}

void
store_lock_release(struct store_lock **lockp)
{
	struct store_lock *lock = *lockp;

	if (lock == NULL)
		return;
	close(lock->fd); /* drops the flock */
	free(lock);
	*lockp = NULL;
}
