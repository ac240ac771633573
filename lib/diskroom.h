/*
 * diskroom: tells a full filesystem from a failing one after a write error.
 * LMDB reports a write the disk cut short as EIO ("short write, filesystem
 * full?"), which would read to an operator as a failing disk.
 */
#ifndef DISKROOM_H
#define DISKROOM_H

/* Less room than this left on the filesystem: it is full. */
#define DISKROOM_FULL_BELOW_BYTES (1024 * 1024)

/* rc, an errno-style code from writing a file open as fd; ENOSPC instead
 * of EIO when that file's filesystem has next to no room left. */
int diskroom_errno(int fd, int rc);

#endif
