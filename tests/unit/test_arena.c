/*
 * test_arena: allocations are aligned, do not overlap and survive until a
 * reset; large ones get their own memory; a reset keeps at most its keep
 * bytes; and envelopes unpack through the arena as protobuf-c's allocator.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "commissioning.pb-c.h"

static void
test_allocations_are_aligned_and_apart(void **state)
{
	struct arena *a = arena_new(1 << 20);
	unsigned char *p[2000];

	(void)state;
	assert_non_null(a);
	for (int i = 0; i < 2000; i++) {
		size_t size = (size_t)(i % 300) + 1;
		p[i] = arena_alloc(a, size);
		assert_non_null(p[i]);
		assert_int_equal((uintptr_t)p[i] % alignof(max_align_t), 0);
		memset(p[i], i & 0xff, size);
	}
	for (int i = 0; i < 2000; i++) {
		size_t size = (size_t)(i % 300) + 1;
		for (size_t j = 0; j < size; j++)
			assert_int_equal(p[i][j], i & 0xff);
	}
	assert_true(arena_used(a) >= 2000);
	arena_destroy(&a);
	assert_null(a);
}

static void
test_large_allocations_and_reset(void **state)
{
	struct arena *a = arena_new(512 * 1024);
	unsigned char *small, *big, *after;

	(void)state;
	small = arena_alloc(a, 10);
	big = arena_alloc(a, 3 << 20); /* beyond any chunk */
	after = arena_alloc(a, 10);
	assert_non_null(small);
	assert_non_null(big);
	assert_non_null(after);
	memset(big, 7, 3 << 20);
	/* the small ones stay in the chunk that was current */
	assert_true(after > small && after < small + 1024);
	assert_true(arena_held(a) >= (3u << 20));
	arena_reset(a);
	assert_int_equal(arena_used(a), 0);
	/* the big chunk went back; at most keep bytes are held */
	assert_true(arena_held(a) <= 512 * 1024);
	for (int i = 0; i < 10000; i++)
		assert_non_null(arena_alloc(a, 200));
	arena_reset(a);
	assert_true(arena_held(a) <= 512 * 1024);
	assert_true(arena_held(a) > 0);
	arena_destroy(&a);
}

/* A size whose chunk (header and all) does not fit in a size_t is out of
 * memory, not a small chunk written past its end. */
static void
test_a_size_near_size_max_is_refused(void **state)
{
	struct arena *a = arena_new(1 << 20);

	(void)state;
	assert_non_null(a);
	assert_null(arena_alloc(a, SIZE_MAX));
	assert_null(arena_alloc(a, SIZE_MAX - 20));
	assert_int_equal(arena_used(a), 0);
	assert_non_null(arena_alloc(a, 10));
	arena_destroy(&a);
}

static void
test_unpacks_through_the_arena(void **state)
{
	Commissioning__Envelope in = COMMISSIONING__ENVELOPE__INIT, *out;
	struct arena *a = arena_new(1 << 20);
	uint8_t buf[256];
	size_t len;

	(void)state;
	in.source = "RXC";
	in.event_id = "e-1";
	in.occurred_at = 1234;
	len = commissioning__envelope__pack(&in, buf);
	out = commissioning__envelope__unpack(arena_allocator(a), len, buf);
	assert_non_null(out);
	assert_string_equal(out->source, "RXC");
	assert_string_equal(out->event_id, "e-1");
	assert_int_equal(out->occurred_at, 1234);
	assert_true(arena_used(a) > sizeof(*out));
	/* freeing through the arena's allocator is a no-op, and harmless */
	commissioning__envelope__free_unpacked(out, arena_allocator(a));
	arena_destroy(&a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_allocations_are_aligned_and_apart),
		cmocka_unit_test(test_large_allocations_and_reset),
		cmocka_unit_test(test_a_size_near_size_max_is_refused),
		cmocka_unit_test(test_unpacks_through_the_arena),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
