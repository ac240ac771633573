/*
 * test_keyfile: a secret key file with any group or other permission is
 * refused, a public one others may write too; size limits; new key files
 * are written once, with their mode whatever the umask, in 0700 directories.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "keyfile.h"
#include "tmpdir_fixture.h"

TMPDIR_FIXTURE_FUNCTIONS("test_keyfile", "sub/dir/key")

static mode_t
mode_of(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return st.st_mode & 07777;
}

static void
assert_read_error(const char *path, enum keyfile_kind kind, size_t max, const char *fragment)
{
	char err[512] = "";
	size_t len;
	char *text = keyfile_read(path, kind, max, &len, err, sizeof(err));

	if (text != NULL)
		fail_msg("%s was read; expected \"%s\"", path, fragment);
	if (strstr(err, fragment) == NULL)
		fail_msg("\"%s\" lacks \"%s\"", err, fragment);
}

static void
test_a_new_key_file_gets_its_mode_and_0700_directories(void **state)
{
	struct tmpdir_fixture *fx = *state;
	char err[512], path[160];
	size_t len;
	char *text;
	mode_t old = umask(0);

	assert_int_equal(keyfile_create(fx->file, "secret\n", 0600, err, sizeof(err)), 0);
	umask(old);
	assert_int_equal(mode_of(fx->file), 0600);
	snprintf(path, sizeof(path), "%s/sub", fx->dir);
	assert_int_equal(mode_of(path), 0700);
	snprintf(path, sizeof(path), "%s/sub/dir", fx->dir);
	assert_int_equal(mode_of(path), 0700);
	text = keyfile_read(fx->file, KEYFILE_SECRET, 64, &len, err, sizeof(err));
	assert_non_null(text);
	assert_int_equal(len, 7);
	assert_string_equal(text, "secret\n");
	keyfile_free(&text, len);
	assert_null(text);
	/* Written once: never over an existing key. */
	assert_int_equal(keyfile_create(fx->file, "other\n", 0600, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "File exists"));
}

static void
test_a_public_file_gets_its_mode_whatever_the_umask(void **state)
{
	struct tmpdir_fixture *fx = *state;
	char err[512];
	mode_t old = umask(077);

	assert_int_equal(keyfile_create(fx->file, "public\n", 0644, err, sizeof(err)), 0);
	umask(old);
	assert_int_equal(mode_of(fx->file), 0644);
}

static void
test_modes_that_expose_a_key_are_refused(void **state)
{
	struct tmpdir_fixture *fx = *state;
	char err[512];
	size_t len;
	char *text;

	assert_int_equal(keyfile_create(fx->file, "k\n", 0600, err, sizeof(err)), 0);
	assert_int_equal(chmod(fx->file, 0604), 0);
	assert_read_error(fx->file, KEYFILE_SECRET, 64, "mode 0604: a secret key must be readable "
							"by its owner only (chmod 600");
	/* A group may read it only when root owns it (services of different
	 * users sharing one key through a group). */
	assert_int_equal(chmod(fx->file, 0640), 0);
	if (geteuid() == 0) {
		text = keyfile_read(fx->file, KEYFILE_SECRET, 64, &len, err, sizeof(err));
		assert_non_null(text);
		keyfile_free(&text, len);
		assert_int_equal(chown(fx->file, 65534, 65534), 0);
	}
	assert_read_error(fx->file, KEYFILE_SECRET, 64, "or by root and a group (chmod 640");
	/* A public file may be read by all, but written by others it could
	 * admit anyone. */
	text = keyfile_read(fx->file, KEYFILE_PUBLIC, 64, &len, err, sizeof(err));
	assert_non_null(text);
	keyfile_free(&text, len);
	assert_int_equal(chmod(fx->file, 0666), 0);
	assert_read_error(fx->file, KEYFILE_PUBLIC, 64, "mode 0666: anyone could change it");
	assert_int_equal(chmod(fx->file, 0400), 0);
	text = keyfile_read(fx->file, KEYFILE_SECRET, 64, &len, err, sizeof(err));
	assert_non_null(text);
	keyfile_free(&text, len);
}

static void
test_files_too_large_missing_or_not_regular_are_refused(void **state)
{
	struct tmpdir_fixture *fx = *state;
	char err[512];

	assert_int_equal(keyfile_create(fx->file, "0123456789\n", 0600, err, sizeof(err)), 0);
	assert_read_error(fx->file, KEYFILE_SECRET, 10, "more than the 10 bytes a key file may hold");
	assert_read_error("/nonexistent/key", KEYFILE_SECRET, 10, "/nonexistent/key: cannot open");
	assert_read_error(fx->dir, KEYFILE_PUBLIC, 10, "not a regular file");
}

static void
on_alarm(int sig)
{
	(void)sig;
	_exit(1); /* still blocked in keyfile_read */
}

/* A FIFO in place of a key file is refused at once: a SIGHUP reads the
 * allow-lists in the event loop, which an open waiting for a writer would
 * stop. */
static void
test_a_fifo_is_refused_without_waiting_for_a_writer(void **state)
{
	struct tmpdir_fixture *fx = *state;
	char err[512];

	assert_int_equal(keyfile_create(fx->file, "", 0600, err, sizeof(err)), 0);
	assert_int_equal(unlink(fx->file), 0);
	assert_int_equal(mkfifo(fx->file, 0600), 0);
	signal(SIGALRM, on_alarm);
	alarm(5);
	assert_read_error(fx->file, KEYFILE_PUBLIC, 64, "not a regular file");
	alarm(0);
}

static void
test_a_nul_byte_is_refused(void **state)
{
	struct tmpdir_fixture *fx = *state;
	char err[512];
	FILE *f;

	assert_int_equal(keyfile_create(fx->file, "", 0600, err, sizeof(err)), 0);
	f = fopen(fx->file, "w");
	assert_non_null(f);
	fwrite("ab\0cd", 1, 5, f);
	fclose(f);
	assert_read_error(fx->file, KEYFILE_SECRET, 64, "holds a NUL byte");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_a_new_key_file_gets_its_mode_and_0700_directories,
		    fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_a_public_file_gets_its_mode_whatever_the_umask,
		    fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_modes_that_expose_a_key_are_refused,
		    fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_files_too_large_missing_or_not_regular_are_refused,
		    fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_a_fifo_is_refused_without_waiting_for_a_writer,
		    fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_a_nul_byte_is_refused, fixture_setup,
		    fixture_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
