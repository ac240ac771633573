/* tmpdir_fixture: a test's temporary directory, and removing its tree, for
 * the unit tests that write real files under one. Header only, static
 * inline. */
#ifndef TMPDIR_FIXTURE_H
#define TMPDIR_FIXTURE_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Remove path and everything under it (errors ignored: a test's leftovers). */
static inline void
remove_tree(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;

	if (d == NULL) {
		(void)unlink(path);
		return;
	}
	while ((e = readdir(d)) != NULL) {
		char child[512];
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (snprintf(child, sizeof(child), "%s/%s", path, e->d_name) >= (int)sizeof(child))
			continue;
		remove_tree(child);
	}
	closedir(d);
	(void)rmdir(path);
}

/* A fresh directory /tmp/NAME.XXXXXX, and file: a path name under it (not
 * created). What a cmocka setup hands the test as its state. */
struct tmpdir_fixture {
	char dir[64];
	char file[128];
};

/* A fixture for the tests of name, file being dir/file_name; NULL when the
 * directory cannot be made. */
static inline struct tmpdir_fixture *
tmpdir_fixture_new(const char *name, const char *file_name)
{
	struct tmpdir_fixture *fx = calloc(1, sizeof(*fx));

	if (fx == NULL)
		return NULL;
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/%s.XXXXXX", name);
	if (mkdtemp(fx->dir) == NULL) {
		free(fx);
		return NULL;
	}
	snprintf(fx->file, sizeof(fx->file), "%s/%s", fx->dir, file_name);
	return fx;
}

/* Remove the fixture's directory tree and free it. */
static inline void
tmpdir_fixture_free(struct tmpdir_fixture *fx)
{
	remove_tree(fx->dir);
	free(fx);
}

/* The cmocka setup and teardown of a test file whose every test gets a
 * fresh tmpdir_fixture: fixture_setup and fixture_teardown. */
#define TMPDIR_FIXTURE_FUNCTIONS(name, file_name)                      \
	static int fixture_setup(void **state)                         \
	{                                                              \
		*state = tmpdir_fixture_new((name), (file_name));      \
		return *state != NULL ? 0 : -1;                        \
	}                                                              \
	static int fixture_teardown(void **state)                      \
	{                                                              \
		tmpdir_fixture_free(*state);                           \
		return 0;                                              \
	}

#endif
