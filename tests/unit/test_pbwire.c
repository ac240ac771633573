/*
 * test_pbwire: a field read off the wire as protobuf would read it: the
 * last one given, none as empty, and bytes that are not a message refused.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "commissioning.pb-c.h"
#include "pbwire.h"

static int
field_of(const char *msg, size_t len, uint32_t field, char *out)
{
	const uint8_t *value;
	size_t n;
	int rc = pbwire_bytes((const uint8_t *)msg, len, field, &value, &n);

	memcpy(out, value != NULL ? (const char *)value : "", n);
	out[n] = '\0';
	return rc;
}

static void
test_the_last_field_given_is_read_past_every_wire_type(void **state)
{
	/* 1: "ab"; 3: varint 300; 4: fixed64; 5: fixed32; 2: "cd"; 2: "xyz" */
	static const char msg[] = "\x0a\x02" "ab" "\x18\xac\x02" "\x21" "12345678"
				  "\x2d" "1234" "\x12\x02" "cd" "\x12\x03" "xyz";
	char out[16];

	(void)state;
	assert_int_equal(field_of(msg, sizeof(msg) - 1, 1, out), 1);
	assert_string_equal(out, "ab");
	assert_int_equal(field_of(msg, sizeof(msg) - 1, 2, out), 1);
	assert_string_equal(out, "xyz");
	assert_int_equal(field_of(msg, sizeof(msg) - 1, 9, out), 0);
	assert_string_equal(out, "");
	assert_int_equal(field_of("", 0, 1, out), 0);
}

static void
test_bytes_that_are_not_a_message_are_refused(void **state)
{
	char out[16];

	(void)state;
	/* A length past the end; a varint cut short; a fixed64 cut short;
	 * wire types 3, 4 (groups), 6 and 7; a key of eleven bytes. */
	assert_int_equal(field_of("\x0a\x05" "ab", 4, 1, out), -1);
	assert_int_equal(field_of("\x18\xff", 2, 1, out), -1);
	assert_int_equal(field_of("\x21" "123", 4, 1, out), -1);
	assert_int_equal(field_of("\x0b", 1, 1, out), -1);
	assert_int_equal(field_of("\x0c", 1, 1, out), -1);
	assert_int_equal(field_of("\x0e", 1, 1, out), -1);
	assert_int_equal(field_of("\x0f", 1, 1, out), -1);
	assert_int_equal(field_of("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11, 1, out), -1);
	/* A field read before the fault is not taken as the message's. */
	assert_int_equal(field_of("\x0a\x02" "ab" "\xff", 5, 1, out), -1);
}

static void
test_a_string_is_judged_by_its_bytes_at_any_depth(void **state)
{
	/* Envelope: source "ab", then patient_admitted (18) whose ward (5)
	 * is "W", a NUL and "x"; its pseudonym (bytes, 1) of NULs is fine. */
	static const char nested[] = "\x0a\x02" "ab" "\x92\x01\x09" "\x0a\x02\x00\x00"
				     "\x2a\x03" "W\0x";
	struct pbwire_fault fault;

	(void)state;
	assert_int_equal(pbwire_fault_find(&commissioning__envelope__descriptor,
			     (const uint8_t *)nested, sizeof(nested) - 1, &fault),
	    1);
	assert_int_equal(fault.depth, 2);
	assert_string_equal(fault.path[0]->name, "patient_admitted");
	assert_string_equal(fault.path[1]->name, "ward");
	assert_int_equal(fault.offset, 1);
	assert_int_equal(fault.kind, PBWIRE_FAULT_NUL);
	/* Clean: nothing to say. Not a message: -1. */
	assert_int_equal(pbwire_fault_find(&commissioning__envelope__descriptor,
			     (const uint8_t *)nested, 4, &fault),
	    0);
	assert_int_equal(pbwire_fault_find(&commissioning__envelope__descriptor,
			     (const uint8_t *)nested, 3, &fault),
	    -1);
	/* A field of a newer schema is bytes, whatever they hold. */
	assert_int_equal(pbwire_fault_find(&commissioning__envelope__descriptor,
			     (const uint8_t *)"\xa2\x06\x02\x00\xff", 5, &fault),
	    0);
}

static void
test_a_message_given_twice_is_found_a_list_is_not(void **state)
{
	/* BudgetAllocated: two contributors (6, a list) are fine. */
	static const char list[] = "\x32\x05\x0a\x03QNX" "\x32\x05\x0a\x03QNQ";
	/* ServiceStatusChanged: proposed_change (9) in two parts. */
	static const char twice[] = "\x4a\x02\x10\x05" "\x4a\x02\x08\x02";
	struct pbwire_fault fault;

	(void)state;
	assert_int_equal(pbwire_fault_find(&commissioning__budget_allocated__descriptor,
			     (const uint8_t *)list, sizeof(list) - 1, &fault),
	    0);
	assert_int_equal(pbwire_fault_find(&commissioning__service_status_changed__descriptor,
			     (const uint8_t *)twice, sizeof(twice) - 1, &fault),
	    1);
	assert_int_equal(fault.kind, PBWIRE_FAULT_MESSAGE_TWICE);
	assert_int_equal(fault.depth, 1);
	assert_string_equal(fault.path[0]->name, "proposed_change");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_the_last_field_given_is_read_past_every_wire_type),
		cmocka_unit_test(test_bytes_that_are_not_a_message_are_refused),
		cmocka_unit_test(test_a_string_is_judged_by_its_bytes_at_any_depth),
		cmocka_unit_test(test_a_message_given_twice_is_found_a_list_is_not),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
