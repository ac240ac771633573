/*
 * die_on_rename.so: LD_PRELOADed into commissionctl by test_restore.py.
 * A rename whose source path ends with DIE_ON_RENAME_FROM ends the
 * process at once (_exit 137, as kill -9 would leave it) before it is
 * made: a crash between two steps of a file swap. Every other rename goes
 * to the C library.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int
rename(const char *from, const char *to)
{
	static int (*real)(const char *, const char *);
	const char *suffix = getenv("DIE_ON_RENAME_FROM");
	size_t n = strlen(from), m = suffix != NULL ? strlen(suffix) : 0;

	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT, "rename");
	if (m > 0 && n >= m && strcmp(from + n - m, suffix) == 0)
		_exit(137);
	return real(from, to);
}
