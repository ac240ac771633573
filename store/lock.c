/*
 * lock: the store directory's lock file (commissiond.lock), held with an
 * exclusive flock by the one process that may own the store: a running
 * commissiond, or commissionctl restore or load. The kernel drops it when
 * the process dies, so a crash leaves nothing to clean up.
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

struct store_lock {
	int fd;
};

struct store_lock *
store_lock_take(const char *dir, const char *holder, char *err, size_t errlen)
{
	char path[4096], who[128] = "";
	struct stat st, dirst;
	struct store_lock *lock;
	int fd;
	ssize_t n;

	/* The store is the daemon's alone (docs/SECURITY.md). */
	if (store_make_directory(dir, err, errlen) < 0)
		return NULL;
	if (snprintf(path, sizeof(path), "%s/%s", dir, STORE_LOCK_FILE) >= (int)sizeof(path)) {
		snprintf(err, errlen, "%s: the store path is too long", dir);
		return NULL;
	}
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "%s: cannot open the lock file: %s", path, strerror(errno));
		return NULL;
	}
	/* Made by root (commissionctl restore or load under sudo) in a store
	 * that is another user's, it would keep commissiond, running as that
	 * user, from its own store: it is the directory owner's. */
	if (geteuid() == 0 && stat(dir, &dirst) == 0 && fstat(fd, &st) == 0 &&
	    (st.st_uid != dirst.st_uid || st.st_gid != dirst.st_gid) &&
	    fchown(fd, dirst.st_uid, dirst.st_gid) < 0) {
		snprintf(err, errlen, "%s: cannot give the lock file the store's owner: %s", path,
		    strerror(errno));
		close(fd);
		return NULL;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;
		n = pread(fd, who, sizeof(who) - 1, 0);
		who[n > 0 ? n : 0] = '\0';
		who[strcspn(who, "\n")] = '\0';
		close(fd);
		if (e == EWOULDBLOCK)
			snprintf(err, errlen, "%s: the store is in use by %s: stop it first", dir,
			    who[0] ? who : "another process");
		else
			snprintf(err, errlen, "%s: cannot lock: %s", path, strerror(e));
		return NULL;
	}
	/* Who holds it, for the message of the next one to try. */
	n = snprintf(who, sizeof(who), "%s (pid %ld)\n", holder, (long)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, who, (size_t)n, 0) != n) {
		snprintf(err, errlen, "%s: cannot write the lock file: %s", path, strerror(errno));
		close(fd);
		return NULL;
	}
	lock = malloc(sizeof(*lock));
	if (lock == NULL) {
		snprintf(err, errlen, "out of memory");
		close(fd);
		return NULL;
	}
	lock->fd = fd;
	return lock;
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
