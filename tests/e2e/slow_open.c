/*
 * slow_open.so: LD_PRELOADed into commissiond or an adapter by
 * test_config_file.py, to make a slow start-up (a long store migration,
 * an outbox recovering its log) at will. While the
 * file SLOW_OPEN_HOLD names exists, mdb_env_open waits, after making the
 * file SLOW_OPEN_ENTERED names, so the test knows it is waiting. Every
 * other call goes to LMDB.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <lmdb.h>
#include <stdlib.h>
#include <unistd.h>

int
mdb_env_open(MDB_env *env, const char *path, unsigned int flags, mdb_mode_t mode)
{
	static int (*real)(MDB_env *, const char *, unsigned int, mdb_mode_t);
	const char *hold = getenv("SLOW_OPEN_HOLD"), *entered = getenv("SLOW_OPEN_ENTERED");
	int fd;

	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT, "mdb_env_open");
	if (hold != NULL && entered != NULL && (fd = open(entered, O_WRONLY | O_CREAT, 0600)) >= 0) {
		close(fd);
		while (access(hold, F_OK) == 0)
			usleep(10000);
	}
	return real(env, path, flags, mode);
}
