/*
 * test_keyindex: the index hands back, for a hash, exactly the slots put
 * in under it, through any sequence of adds and removes: checked against
 * a plain list after every step, with hashes that collide and wrap around
 * the end of the places on purpose.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "keyindex.h"

#define SLOTS 64

/* Every slot handed back for hash is in under it, and each once; all of
 * those in under it are handed back. */
static void
check_hash(const struct keyindex *x, uint32_t hash, const bool *in, const uint32_t *hashes)
{
	bool seen[SLOTS] = { false };
	size_t cursor = 0, slot, n = 0, want = 0;

	while ((slot = keyindex_next(x, hash, &cursor)) != SIZE_MAX) {
		assert_true(slot < SLOTS);
		assert_true(in[slot]);
		assert_int_equal(hashes[slot], hash);
		assert_false(seen[slot]);
		seen[slot] = true;
		n++;
	}
	for (size_t s = 0; s < SLOTS; s++)
		want += in[s] && hashes[s] == hash;
	assert_int_equal(n, want);
}

static void
test_the_slots_of_a_hash_are_those_put_in_under_it(void **state)
{
	struct keyindex *x = keyindex_new(SLOTS);
	bool in[SLOTS] = { false };
	uint32_t hashes[SLOTS] = { 0 };
	unsigned seed = 7;

	(void)state;
	assert_non_null(x);
	for (int step = 0; step < 200000; step++) {
		size_t slot = (size_t)rand_r(&seed) % SLOTS;
		if (in[slot]) {
			keyindex_remove(x, slot);
			in[slot] = false;
		} else {
			/* Few hashes, near the end of the 128 places: long
			 * clusters that wrap round to the start. */
			hashes[slot] = 120u + (uint32_t)rand_r(&seed) % 12u +
			    (rand_r(&seed) % 2 ? 0x10000u : 0);
			keyindex_add(x, slot, hashes[slot]);
			in[slot] = true;
		}
		check_hash(x, hashes[slot], in, hashes);
		if (step % 97 == 0)
			for (uint32_t h = 118; h < 134; h++) {
				check_hash(x, h, in, hashes);
				check_hash(x, h + 0x10000u, in, hashes);
			}
	}
	keyindex_destroy(&x);
	assert_null(x);
}

static void
test_removing_a_slot_not_in_and_adding_one_twice_change_nothing(void **state)
{
	struct keyindex *x = keyindex_new(4);
	size_t cursor = 0;

	(void)state;
	assert_non_null(x);
	keyindex_remove(x, 2);
	keyindex_add(x, 1, 5);
	keyindex_add(x, 1, 5);
	keyindex_add(x, 9, 5); /* no such slot */
	assert_int_equal(keyindex_next(x, 5, &cursor), 1);
	assert_int_equal(keyindex_next(x, 5, &cursor), SIZE_MAX);
	keyindex_remove(x, 1);
	cursor = 0;
	assert_int_equal(keyindex_next(x, 5, &cursor), SIZE_MAX);
	keyindex_destroy(&x);
	assert_null(keyindex_new((size_t)KEYINDEX_MAX_SLOTS + 1));
}

static void
test_keys_are_told_apart_however_they_split(void **state)
{
	(void)state;
	assert_int_not_equal(keyindex_hash("ab", ""), keyindex_hash("a", "b"));
	assert_int_not_equal(keyindex_hash("hl7:RXC", "E1"), keyindex_hash("hl7:RXC", "E2"));
	assert_int_equal(keyindex_hash("hl7:RXC", "E1"), keyindex_hash("hl7:RXC", "E1"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_the_slots_of_a_hash_are_those_put_in_under_it),
		cmocka_unit_test(test_removing_a_slot_not_in_and_adding_one_twice_change_nothing),
		cmocka_unit_test(test_keys_are_told_apart_however_they_split),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
