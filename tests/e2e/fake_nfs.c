/*
 * fake_nfs.so: LD_PRELOADed into commissiond by test_faults.py. statfs of
 * a path under FAKE_NFS_DIR says the file system is NFS, as a store
 * directory on an NFS mount would. Every other call goes to the C library.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/vfs.h>

#include <linux/magic.h>

int
statfs(const char *path, struct statfs *buf)
{
	static int (*real)(const char *, struct statfs *);
	const char *dir = getenv("FAKE_NFS_DIR");
	int rc;

	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT, "statfs");
	rc = real(path, buf);
	if (rc == 0 && dir != NULL && strncmp(path, dir, strlen(dir)) == 0)
		buf->f_type = NFS_SUPER_MAGIC;
	return rc;
}
