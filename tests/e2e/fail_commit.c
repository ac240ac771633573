/*
 * fail_commit.so: LD_PRELOADed into commissiond by test_faults.py. When
 * the file FAIL_COMMIT_FILE names appears, holding a number N, the file is
 * removed and the N'th LMDB commit from then on fails with EIO, as a disk
 * that failed once would make it fail. As the real mdb_txn_commit does
 * whatever it returns, the transaction is freed (aborted). Every other
 * commit goes to LMDB. The daemon commits from its loop's thread only, so
 * a plain counter does.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int
mdb_txn_commit(MDB_txn *txn)
{
	static int (*real)(MDB_txn *);
	static void (*abort_txn)(MDB_txn *);
	static long countdown;
	const char *trigger = getenv("FAIL_COMMIT_FILE");
	FILE *f;

	if (real == NULL) {
		*(void **)&real = dlsym(RTLD_NEXT, "mdb_txn_commit");
		*(void **)&abort_txn = dlsym(RTLD_NEXT, "mdb_txn_abort");
	}
	if (trigger != NULL && (f = fopen(trigger, "r")) != NULL) {
		if (fscanf(f, "%ld", &countdown) != 1)
			countdown = 1;
		fclose(f);
		unlink(trigger);
	}
	if (countdown > 0 && --countdown == 0) {
		abort_txn(txn);
		return EIO;
	}
	return real(txn);
}
