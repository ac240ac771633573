/*
 * test_tailcache: the stretch past a file's written end is extended
 * sparsely and read into the page cache, topped up once a step short,
 * never past the limit; the written bytes are never touched, the
 * file never shortened; a failure says so and changes nothing.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tailcache.h"
#include "tmpdir_fixture.h"

#define AHEAD ((uint64_t)TAILCACHE_AHEAD_BYTES)
#define LIMIT (64 * AHEAD)

TMPDIR_FIXTURE_FUNCTIONS("test_tailcache", "data.mdb")

static int
open_file(const struct tmpdir_fixture *fx, int flags)
{
	int fd = open(fx->file, flags | O_CREAT, 0600);

	assert_true(fd >= 0);
	return fd;
}

static struct stat
stat_of(int fd)
{
	struct stat st;

	assert_int_equal(fstat(fd, &st), 0);
	return st;
}

/* How many of the pages of [from, to) are in the page cache. */
static size_t
cached_pages(int fd, uint64_t from, uint64_t to)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE), n = (to - from) / page, cached = 0;
	unsigned char *vec = calloc(n, 1);
	void *map = mmap(NULL, to - from, PROT_READ, MAP_SHARED, fd, (off_t)from);

	assert_non_null(vec);
	assert_true(map != MAP_FAILED);
	assert_int_equal(mincore(map, to - from, vec), 0);
	for (size_t i = 0; i < n; i++)
		cached += vec[i] & 1;
	munmap(map, to - from);
	free(vec);
	return cached;
}

static void
test_a_new_file_is_extended_sparsely_and_cached(void **state)
{
	struct tmpdir_fixture *fx = *state;
	int fd = open_file(fx, O_RDWR);
	struct tailcache tc = {0};
	struct stat st;

	assert_int_equal(tailcache_keep_ahead(&tc, fd, 0, LIMIT), 0);
	assert_int_equal(tc.prepared_end, AHEAD);
	st = stat_of(fd);
	assert_int_equal(st.st_size, AHEAD);
	assert_int_equal(st.st_blocks, 0); /* a hole: no disk space taken */
	assert_int_equal(cached_pages(fd, 0, AHEAD), AHEAD / (uint64_t)sysconf(_SC_PAGESIZE));
	close(fd);
}

static void
test_it_tops_up_once_a_step_short(void **state)
{
	struct tmpdir_fixture *fx = *state;
	int fd = open_file(fx, O_RDWR);
	struct tailcache tc = {0};
	uint64_t step = TAILCACHE_STEP_BYTES;

	assert_int_equal(tailcache_keep_ahead(&tc, fd, 0, LIMIT), 0);
	/* Short by a step at most: nothing to do. */
	assert_int_equal(tailcache_keep_ahead(&tc, fd, step, LIMIT), 0);
	assert_int_equal(tc.prepared_end, AHEAD);
	assert_int_equal(stat_of(fd).st_size, AHEAD);
	/* More: the whole distance again, past the written end. */
	assert_int_equal(tailcache_keep_ahead(&tc, fd, step + 4096, LIMIT), 0);
	assert_int_equal(tc.prepared_end, step + 4096 + AHEAD);
	assert_int_equal(stat_of(fd).st_size, step + 4096 + AHEAD);
	assert_int_equal(cached_pages(fd, AHEAD, step + 4096 + AHEAD),
	    (step + 4096) / (uint64_t)sysconf(_SC_PAGESIZE));
	close(fd);
}

static void
test_it_stops_at_the_limit(void **state)
{
	struct tmpdir_fixture *fx = *state;
	int fd = open_file(fx, O_RDWR);
	struct tailcache tc = {0};
	uint64_t limit = AHEAD / 4 + 1000; /* not a whole page: rounded down */
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);

	assert_int_equal(tailcache_keep_ahead(&tc, fd, 0, limit), 0);
	assert_int_equal(tc.prepared_end, limit - limit % page);
	assert_int_equal(stat_of(fd).st_size, limit - limit % page);
	/* At the limit: nothing more, and no error. */
	assert_int_equal(tailcache_keep_ahead(&tc, fd, limit - limit % page, limit), 0);
	assert_int_equal(stat_of(fd).st_size, limit - limit % page);
	close(fd);
}

static void
test_written_bytes_are_kept_and_the_file_never_shortened(void **state)
{
	struct tmpdir_fixture *fx = *state;
	int fd = open_file(fx, O_RDWR);
	struct tailcache tc = {0};
	size_t len = 1 << 20;
	char *data = malloc(len), *back = malloc(len);

	assert_non_null(data);
	assert_non_null(back);
	memset(data, 0xab, len);
	assert_int_equal(pwrite(fd, data, len, 0), (ssize_t)len);
	/* Written up to 1 MiB of a file already longer than the distance. */
	assert_int_equal(ftruncate(fd, (off_t)(4 * AHEAD)), 0);
	assert_int_equal(tailcache_keep_ahead(&tc, fd, len, LIMIT), 0);
	assert_int_equal(tc.prepared_end, len + AHEAD);
	assert_int_equal(stat_of(fd).st_size, 4 * AHEAD);
	assert_int_equal(pread(fd, back, len, 0), (ssize_t)len);
	assert_memory_equal(back, data, len);
	free(data);
	free(back);
	close(fd);
}

static void
test_a_file_it_cannot_extend_is_an_error_that_changes_nothing(void **state)
{
	struct tmpdir_fixture *fx = *state;
	int fd = open_file(fx, O_RDONLY);
	struct tailcache tc = {0};

	errno = 0;
	assert_int_equal(tailcache_keep_ahead(&tc, fd, 0, LIMIT), -1);
	assert_int_not_equal(errno, 0);
	assert_int_equal(tc.prepared_end, 0);
	assert_int_equal(stat_of(fd).st_size, 0);
	close(fd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
	        test_a_new_file_is_extended_sparsely_and_cached, fixture_setup, fixture_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_it_tops_up_once_a_step_short, fixture_setup, fixture_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_it_stops_at_the_limit, fixture_setup, fixture_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_written_bytes_are_kept_and_the_file_never_shortened, fixture_setup,
	        fixture_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_a_file_it_cannot_extend_is_an_error_that_changes_nothing, fixture_setup,
	        fixture_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
