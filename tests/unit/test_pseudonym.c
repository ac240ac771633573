/*
 * test_pseudonym: which key files the adapters accept (their mode and
 * owner), and that a keygen'd key opens.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "pseudonym.h"

struct keydir {
	char dir[64];
	char path[96];
};

static int
setup(void **state)
{
	struct keydir *k = calloc(1, sizeof(*k));

	if (k == NULL || sodium_init() < 0)
		return -1;
	strcpy(k->dir, "/tmp/test-pseudonym-XXXXXX");
	if (mkdtemp(k->dir) == NULL)
		return -1;
	snprintf(k->path, sizeof(k->path), "%s/pseudonym.key", k->dir);
	*state = k;
	return 0;
}

static int
teardown(void **state)
{
	struct keydir *k = *state;

	unlink(k->path);
	rmdir(k->dir);
	free(k);
	return 0;
}

/* Open the key made by keygen after chmod to mode: 0 when accepted. */
static int
open_with_mode(struct keydir *k, mode_t mode, char *err, size_t errlen)
{
	struct pseudonymiser *ps;

	assert_int_equal(pseudonym_keygen(k->path, err, errlen), 0);
	assert_int_equal(chmod(k->path, mode), 0);
	ps = pseudonymiser_open(k->path, err, errlen);
	if (ps == NULL)
		return -1;
	pseudonymiser_destroy(&ps);
	assert_null(ps);
	return 0;
}

static void
test_a_keygen_key_is_mode_0600_and_opens(void **state)
{
	struct keydir *k = *state;
	struct stat st;
	char err[256] = "";

	assert_int_equal(open_with_mode(k, 0600, err, sizeof(err)), 0);
	assert_int_equal(stat(k->path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
}

static void
test_a_key_others_may_read_is_refused(void **state)
{
	struct keydir *k = *state;
	char err[256] = "";

	assert_int_equal(open_with_mode(k, 0604, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "readable by its owner only"));
}

/* A group may read the key only when root owns it: the systemd units run
 * each adapter as its own user in a group that can read root's key. */
static void
test_a_group_readable_key_is_accepted_only_when_root_owns_it(void **state)
{
	struct keydir *k = *state;
	char err[256] = "";
	int rc = open_with_mode(k, 0640, err, sizeof(err));

	if (geteuid() == 0) {
		assert_int_equal(rc, 0);
	} else {
		assert_int_equal(rc, -1);
		assert_non_null(strstr(err, "by root and a group"));
	}
}

static void
test_a_second_keygen_keeps_the_first_key(void **state)
{
	struct keydir *k = *state;
	char err[256] = "";

	assert_int_equal(pseudonym_keygen(k->path, err, sizeof(err)), 0);
	assert_int_equal(pseudonym_keygen(k->path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "a key exists"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_a_keygen_key_is_mode_0600_and_opens, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_key_others_may_read_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_a_group_readable_key_is_accepted_only_when_root_owns_it, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_second_keygen_keeps_the_first_key, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
