/*
 * fail_meta_write.so: LD_PRELOADed into commissiond by test_faults.py.
 * When the file FAIL_META_WRITE_FILE names appears, it is removed and the
 * next write of an LMDB meta page (a pwrite into the file's first two
 * pages, which hold nothing else) fails with EIO, as a disk that failed
 * there would make it. LMDB then marks its environment unusable: every
 * transaction after fails with MDB_PANIC. Every other write goes to the C
 * library.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

ssize_t
pwrite(int fd, const void *buf, size_t count, off_t offset)
{
	static ssize_t (*real)(int, const void *, size_t, off_t);
	const char *trigger = getenv("FAIL_META_WRITE_FILE");
	long page = sysconf(_SC_PAGESIZE);

	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT, "pwrite");
	if (trigger != NULL && offset < 2 * (off_t)page && count < (size_t)page &&
	    unlink(trigger) == 0) {
		errno = EIO;
		return -1;
	}
	return real(fd, buf, count, offset);
}
