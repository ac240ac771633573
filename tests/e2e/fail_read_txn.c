/*
 * fail_read_txn.so: LD_PRELOADed into commissiond by test_metrics.py.
 * While the file FAIL_READ_TXN_FILE names exists, every read-only LMDB
 * transaction fails to begin with MDB_READERS_FULL, as a reader table
 * filled by other processes would make it. Every other call goes to LMDB.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <lmdb.h>
#include <stdlib.h>
#include <unistd.h>

int
mdb_txn_begin(MDB_env *env, MDB_txn *parent, unsigned int flags, MDB_txn **txn)
{
	static int (*real)(MDB_env *, MDB_txn *, unsigned int, MDB_txn **);
	const char *trigger = getenv("FAIL_READ_TXN_FILE");

	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT, "mdb_txn_begin");
	if ((flags & MDB_RDONLY) && trigger != NULL && access(trigger, F_OK) == 0)
		return MDB_READERS_FULL;
	return real(env, parent, flags, txn);
}
