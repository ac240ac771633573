/*
 * keyfile: reading key files with their permissions checked, and writing
 * new ones with O_EXCL and fsync. Owns nothing past a call.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "keyfile.h"

char *
keyfile_read(const char *path, enum keyfile_kind kind, size_t max_bytes, size_t *len,
    char *err, size_t errlen)
{
	struct stat st;
	char *text;
	size_t got = 0;
	int fd;

	/* O_NONBLOCK: a FIFO in place of the file would block the open until
	 * a writer came, and a SIGHUP reads the allow-lists in the event loop;
	 * opened at once, it is refused below. Reads of a regular file are not
	 * changed by it. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		close(fd);
		return NULL;
	}
	/* PostgreSQL's rule for its key: others never; a group only when root
	 * owns the file, so that services running as different users can
	 * share one key through a group (systemd/commissiond.tmpfiles). */
	if (kind == KEYFILE_SECRET &&
	    ((st.st_mode & 007) != 0 || (st.st_uid != 0 && (st.st_mode & 070) != 0))) {
		snprintf(err, errlen,
		    "%s: mode %04o: a secret key must be readable by its owner only "
		    "(chmod 600 %s), or by root and a group (chmod 640, owned by root)",
		    path, (unsigned)(st.st_mode & 07777), path);
		close(fd);
		return NULL;
	}
	if (kind == KEYFILE_PUBLIC && (st.st_mode & 002) != 0) {
		snprintf(err, errlen,
		    "%s: mode %04o: anyone could change it (chmod o-w %s)", path,
		    (unsigned)(st.st_mode & 07777), path);
		close(fd);
		return NULL;
	}
	if ((uint64_t)st.st_size > max_bytes) {
		snprintf(err, errlen, "%s: %lld bytes, more than the %zu bytes a key file may hold", path,
		    (long long)st.st_size, max_bytes);
		close(fd);
		return NULL;
	}
	text = malloc(max_bytes + 1);
	if (text == NULL) {
		snprintf(err, errlen, "out of memory");
		close(fd);
		return NULL;
	}
	/* Read to the end, or one byte past the limit (it grew meanwhile). */
	for (;;) {
		ssize_t n = read(fd, text + got, max_bytes + 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;
		got += (size_t)n;
		if (got > max_bytes) {
			snprintf(err, errlen, "%s: more than the %zu bytes a key file may hold", path,
			    max_bytes);
			goto fail;
		}
	}
	close(fd);
	text[got] = '\0';
	if (strlen(text) != got) {
		snprintf(err, errlen, "%s: holds a NUL byte: not a text file", path);
		keyfile_free(&text, got);
		return NULL;
	}
	*len = got;
	return text;
fail:
	close(fd);
	keyfile_free(&text, max_bytes + 1);
	return NULL;
}

void
keyfile_free(char **text, size_t len)
{
	if (*text == NULL)
		return;
	sodium_memzero(*text, len);
	free(*text);
	*text = NULL;
}

/* Make each missing directory above path with mode 0700. */
static int
keyfile_make_parents(const char *path, char *err, size_t errlen)
{
	char dir[PATH_MAX];
	size_t n = strlen(path);

	if (n >= sizeof(dir)) {
		snprintf(err, errlen, "%s: path too long", path);
		return -1;
	}
	memcpy(dir, path, n + 1);
	for (char *p = dir + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
			snprintf(err, errlen, "%s: cannot make the directory: %s", dir,
			    strerror(errno));
			return -1;
		}
		*p = '/';
	}
	return 0;
}

int
keyfile_create(const char *path, const char *text, mode_t mode, char *err, size_t errlen)
{
	size_t len = strlen(text), done = 0;
	int fd;

	if (keyfile_make_parents(path, err, errlen) < 0)
		return -1;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s%s", path, strerror(errno),
		    errno == EEXIST ? " (a key exists: keep it, or move it away first)" : "");
		return -1;
	}
	/* The mode asked for, whatever the umask. */
	if (fchmod(fd, mode) < 0)
		goto fail;
	while (done < len) {
		ssize_t n = write(fd, text + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto fail;
		done += (size_t)n;
	}
	if (fsync(fd) < 0)
		goto fail;
	if (close(fd) < 0) {
		fd = -1;
		goto fail;
	}
	return 0;
fail:
	snprintf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	unlink(path);
	return -1;
}
