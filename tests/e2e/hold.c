/*
 * hold.so: LD_PRELOADed into commissiond or an adapter by the e2e tests,
 * to hold the calling thread in one LMDB call at will: HOLD_CALL names it,
 * mdb_env_open (a slow start-up: a long store migration, an outbox
 * recovering its log), mdb_txn_commit (the daemon's loop held while its
 * ZeroMQ threads go on taking what is sent) or mdb_env_close (a command
 * held between two steps). While the file HOLD_FILE
 * names exists, that call waits, after making the file HOLD_ENTERED names,
 * so that the test knows it is waiting. Every other call goes to LMDB.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <lmdb.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Wait while the hold file exists, if call is the one held. */
static void
hold(const char *call)
{
	const char *held = getenv("HOLD_CALL"), *file = getenv("HOLD_FILE");
	const char *entered = getenv("HOLD_ENTERED");
	int fd;

	if (held == NULL || strcmp(held, call) != 0 || file == NULL || entered == NULL ||
	    access(file, F_OK) != 0)
		return;
	if ((fd = open(entered, O_WRONLY | O_CREAT, 0600)) >= 0)
		close(fd);
	while (access(file, F_OK) == 0)
		usleep(10000);
}

int
mdb_env_open(MDB_env *env, const char *path, unsigned int flags, mdb_mode_t mode)
{
	static int (*real)(MDB_env *, const char *, unsigned int, mdb_mode_t);

	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT, "mdb_env_open");
	hold("mdb_env_open");
	return real(env, path, flags, mode);
}

int
mdb_txn_commit(MDB_txn *txn)
{
	static int (*real)(MDB_txn *);

	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT, "mdb_txn_commit");
	hold("mdb_txn_commit");
	return real(txn);
}

void
mdb_env_close(MDB_env *env)
{
	static void (*real)(MDB_env *);

	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT, "mdb_env_close");
	hold("mdb_env_close");
	real(env);
}
