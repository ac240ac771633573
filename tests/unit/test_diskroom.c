/*
 * test_diskroom: a write error is called a full disk only when it is EIO
 * and the file's filesystem has next to no room; the e2e test test_faults
 * fills a real filesystem.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "diskroom.h"

static void
test_other_errors_and_no_file_pass_through(void **state)
{
	(void)state;
	assert_int_equal(diskroom_errno(-1, EIO), EIO);
	assert_int_equal(diskroom_errno(0, EACCES), EACCES);
	assert_int_equal(diskroom_errno(0, 0), 0);
}

static void
test_eio_on_a_filesystem_with_room_stays_eio(void **state)
{
	/* The root filesystem of a build machine has more than 1 MiB free. */
	int fd = open("/", O_RDONLY | O_DIRECTORY);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(diskroom_errno(fd, EIO), EIO);
	close(fd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_other_errors_and_no_file_pass_through),
		cmocka_unit_test(test_eio_on_a_filesystem_with_room_stays_eio),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
