#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tailcache.h"

#define TAILCACHE_READ_BYTES (128u << 10)

int
tailcache_keep_ahead(struct tailcache *tc, int fd, uint64_t used_end, uint64_t limit)
{
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	uint64_t from, to;
	struct stat st;
	int rc;

	if (tc->prepared_end + TAILCACHE_STEP_BYTES >= used_end + TAILCACHE_AHEAD_BYTES)
		return 0;
	from = tc->prepared_end > used_end ? tc->prepared_end : used_end;
	from -= from % page;
	to = used_end + TAILCACHE_AHEAD_BYTES;
	if (to > limit)
		to = limit;
	to -= to % page;
	if (to <= from)
		return 0;
	if (fstat(fd, &st) < 0)
		return -1;
	if ((uint64_t)st.st_size < to && ftruncate(fd, (off_t)to) < 0)
		return -1;
	/* Reading ahead a hole: single zeroed pages, clean, no disk I/O. The
	 * kernel reads ahead at most the device's readahead window a call,
	 * 128 KiB by default: asked for in pieces of that. */
	for (uint64_t at = from; at < to; at += TAILCACHE_READ_BYTES) {
		uint64_t len = to - at < TAILCACHE_READ_BYTES ? to - at : TAILCACHE_READ_BYTES;
		rc = posix_fadvise(fd, (off_t)at, (off_t)len, POSIX_FADV_WILLNEED);
		if (rc != 0) {
			errno = rc;
			return -1;
		}
	}
	tc->prepared_end = to;
	return 0;
}

void
tailcache_follow_env(struct tailcache *tc, MDB_env *env)
{
	MDB_envinfo info;
	MDB_stat st;
	mdb_filehandle_t fd;

	if (mdb_env_info(env, &info) != MDB_SUCCESS || mdb_env_stat(env, &st) != MDB_SUCCESS ||
	    mdb_env_get_fd(env, &fd) != MDB_SUCCESS)
		return;
	(void)tailcache_keep_ahead(
	    tc, fd, (uint64_t)(info.me_last_pgno + 1) * st.ms_psize, info.me_mapsize);
}
