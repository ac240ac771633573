/*
 * diskroom: a write error on a full filesystem, named as such.
 */
#include <errno.h>
#include <stdint.h>
#include <sys/statvfs.h>

#include "diskroom.h"

int
diskroom_errno(int fd, int rc)
{
	struct statvfs fs;

	if (rc != EIO || fd < 0 || fstatvfs(fd, &fs) < 0)
		return rc;
	return (uint64_t)fs.f_bavail * fs.f_frsize < DISKROOM_FULL_BELOW_BYTES ? ENOSPC : rc;
}
