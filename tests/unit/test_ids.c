/*
 * test_ids: identifier formats (DOMAIN.md, Identifiers): every kind valid and
 * not, overlapping kinds, sites of providers, the NHS number check digit.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "ids.h"

static void
test_nhs_number_9434765919_is_valid(void **state)
{
	(void)state;
	assert_int_equal(ids_nhs_number_check_digit("943476591"), 9);
	assert_true(ids_is_nhs_number("9434765919"));
}

static void
test_nhs_number_with_wrong_check_digit_is_invalid(void **state)
{
	(void)state;
	assert_false(ids_is_nhs_number("9434765918"));
	assert_false(ids_is_nhs_number("9434765910"));
}

static void
test_nhs_number_remainder_11_gives_check_digit_0(void **state)
{
	(void)state;
	/* 9*10+4*9+3*8+4*7+7*6+6*5+5*4+0*3+8*2 = 286 = 26 * 11. */
	assert_int_equal(ids_nhs_number_check_digit("943476508"), 0);
	assert_true(ids_is_nhs_number("9434765080"));
	assert_false(ids_is_nhs_number("9434765081"));
}

static void
test_nhs_number_remainder_10_means_no_valid_number(void **state)
{
	(void)state;
	/* 6*2 = 12, 12 mod 11 = 1, 11 - 1 = 10: no digit can follow. */
	assert_int_equal(ids_nhs_number_check_digit("000000006"), -1);
	for (int last = 0; last <= 9; last++) {
		char number[11] = "000000006";

		number[9] = (char)('0' + last);
		number[10] = '\0';
		assert_false(ids_is_nhs_number(number));
	}
	assert_int_equal(ids_nhs_number_check_digit("999123456"), -1);
}

static void
test_nhs_number_needs_exactly_ten_digits(void **state)
{
	(void)state;
	assert_false(ids_is_nhs_number("943476591"));
	assert_false(ids_is_nhs_number("94347659190"));
	assert_false(ids_is_nhs_number("943 476 5919"));
	assert_false(ids_is_nhs_number("943476591X"));
	assert_false(ids_is_nhs_number(""));
	assert_false(ids_is_nhs_number(NULL));
	assert_int_equal(ids_nhs_number_check_digit("94347659"), -1);
	assert_int_equal(ids_nhs_number_check_digit(NULL), -1);
}

static void
test_nhs_number_test_range_is_999(void **state)
{
	(void)state;
	assert_true(ids_is_test_nhs_number("9990000018"));
	assert_false(ids_is_test_nhs_number("9990000017"));
	assert_false(ids_is_test_nhs_number("9434765919"));
}

static void
test_region_is_y_and_two_digits(void **state)
{
	(void)state;
	assert_true(ids_is_region("Y59"));
	assert_false(ids_is_region("Y5A"));
	assert_false(ids_is_region("y59"));
	assert_false(ids_is_region("Y590"));
	assert_false(ids_is_region("QNX"));
}

static void
test_icb_is_q_and_two_alphanumerics(void **state)
{
	(void)state;
	assert_true(ids_is_icb("QNX"));
	assert_true(ids_is_icb("QNQ"));
	assert_true(ids_is_icb("Q12"));
	assert_false(ids_is_icb("QN"));
	assert_false(ids_is_icb("QNXX"));
	assert_false(ids_is_icb("qnx"));
	assert_false(ids_is_icb("RXC"));
}

static void
test_sub_icb_has_a_three_and_a_five_character_form(void **state)
{
	(void)state;
	assert_true(ids_is_sub_icb("02P"));
	assert_true(ids_is_sub_icb("99E"));
	assert_true(ids_is_sub_icb("09D"));
	assert_true(ids_is_sub_icb("D4U1Y"));
	assert_true(ids_is_sub_icb("X2C4Y"));
	assert_false(ids_is_sub_icb("2PP"));
	assert_false(ids_is_sub_icb("029"));
	assert_false(ids_is_sub_icb("4DU1Y"));
	assert_false(ids_is_sub_icb("D4U1"));
	assert_false(ids_is_sub_icb("d4u1y"));
}

static void
test_trust_is_r_or_t_and_two_alphanumerics(void **state)
{
	(void)state;
	assert_true(ids_is_trust("RXC"));
	assert_true(ids_is_trust("TAK"));
	assert_true(ids_is_trust("R1A"));
	assert_false(ids_is_trust("NMJ"));
	assert_false(ids_is_trust("RXC01"));
	assert_false(ids_is_trust("R-C"));
}

static void
test_site_is_a_trust_or_n_code_and_two_characters(void **state)
{
	(void)state;
	assert_true(ids_is_site("RXC01"));
	assert_true(ids_is_site("TAK01"));
	assert_true(ids_is_site("NMJ01"));
	assert_true(ids_is_site("RXCAB"));
	assert_false(ids_is_site("8HA03"));
	assert_false(ids_is_site("X2C4Y"));
	assert_false(ids_is_site("RXC1"));
	assert_false(ids_is_site("RXC011"));
	assert_false(ids_is_site("RXC0a"));
}

static void
test_gp_practice_is_a_letter_and_five_digits(void **state)
{
	(void)state;
	assert_true(ids_is_gp_practice("G81001"));
	assert_false(ids_is_gp_practice("G8100A"));
	assert_false(ids_is_gp_practice("G8100"));
	assert_false(ids_is_gp_practice("081001"));
}

static void
test_independent_provider_is_n_code_or_older_frame(void **state)
{
	(void)state;
	assert_true(ids_is_independent_provider("NMJ"));
	assert_true(ids_is_independent_provider("NV7"));
	assert_true(ids_is_independent_provider("8HA03"));
	assert_true(ids_is_older_frame_provider("8HA03"));
	assert_false(ids_is_older_frame_provider("NMJ"));
	/* E0020 of the rejections example: N and four is a site, not this. */
	assert_false(ids_is_independent_provider("NV702"));
	assert_false(ids_is_independent_provider("8HA0"));
	assert_false(ids_is_independent_provider("RXC"));
}

static void
test_local_authority_is_an_upper_tier_gss_code(void **state)
{
	(void)state;
	assert_true(ids_is_local_authority("E10000011"));
	assert_true(ids_is_local_authority("E06000043"));
	assert_true(ids_is_local_authority("E08000025"));
	assert_true(ids_is_local_authority("E09000033"));
	assert_true(ids_is_local_authority("E07000061"));
	assert_false(ids_is_local_authority("E05000011"));
	assert_false(ids_is_local_authority("E11000011"));
	assert_false(ids_is_local_authority("W06000015"));
	assert_false(ids_is_local_authority("E1000001"));
	assert_false(ids_is_local_authority("E100000111"));
	assert_false(ids_is_local_authority("E1000001A"));
}

static void
test_care_home_is_a_cqc_location_of_nine_to_eleven_digits(void **state)
{
	(void)state;
	assert_true(ids_is_care_home("1-123039495"));
	assert_true(ids_is_care_home("1-1230394951"));
	assert_true(ids_is_care_home("1-12303949512"));
	assert_false(ids_is_care_home("1-12303949"));
	assert_false(ids_is_care_home("1-123039495123"));
	assert_false(ids_is_care_home("2-123039495"));
	assert_false(ids_is_care_home("1-12303949A"));
	assert_false(ids_is_care_home("1123039495"));
}

static void
test_five_character_code_may_be_site_and_sub_icb(void **state)
{
	(void)state;
	assert_int_equal(ids_kinds_of("RAA06"), IDS_KIND_SITE |
	    IDS_KIND_SUB_ICB);
	assert_int_equal(ids_kinds_of("NV701"), IDS_KIND_SITE |
	    IDS_KIND_SUB_ICB);
	assert_int_equal(ids_kinds_of("X2C4Y"), IDS_KIND_SUB_ICB);
	assert_int_equal(ids_kinds_of("8HA03"), IDS_KIND_INDEPENDENT_PROVIDER);
}

static void
test_kinds_of_gives_one_kind_for_unambiguous_codes(void **state)
{
	(void)state;
	assert_int_equal(ids_kinds_of("Y59"), IDS_KIND_REGION);
	assert_int_equal(ids_kinds_of("QNX"), IDS_KIND_ICB);
	assert_int_equal(ids_kinds_of("02P"), IDS_KIND_SUB_ICB);
	assert_int_equal(ids_kinds_of("RXC"), IDS_KIND_TRUST);
	assert_int_equal(ids_kinds_of("G81001"), IDS_KIND_GP_PRACTICE);
	assert_int_equal(ids_kinds_of("NMJ"), IDS_KIND_INDEPENDENT_PROVIDER);
	assert_int_equal(ids_kinds_of("E10000011"), IDS_KIND_LOCAL_AUTHORITY);
	assert_int_equal(ids_kinds_of("1-123039495"), IDS_KIND_CARE_HOME);
}

static void
test_kinds_of_gives_none_for_text_that_is_no_code(void **state)
{
	(void)state;
	assert_int_equal(ids_kinds_of("Acme Consulting Ltd"), 0);
	assert_int_equal(ids_kinds_of(""), 0);
	assert_int_equal(ids_kinds_of(NULL), 0);
	assert_int_equal(ids_kinds_of("rxc"), 0);
}

static void
test_field_kinds_decide_what_a_code_may_be(void **state)
{
	(void)state;
	assert_true(ids_is_kind("RAA01", IDS_KINDS_COMMISSIONER));
	assert_false(ids_is_kind("RAA", IDS_KINDS_COMMISSIONER));
	assert_false(ids_is_kind("RAA01", IDS_KINDS_HOSPITAL_PROVIDER));
	assert_true(ids_is_kind("8HA03", IDS_KINDS_HOSPITAL_PROVIDER));
	assert_true(ids_is_kind("1-123039495", IDS_KINDS_CARE_PROVIDER));
	assert_false(ids_is_kind("X2C4Y", IDS_KINDS_CARE_PROVIDER));
	assert_false(ids_is_kind("QNX", IDS_KINDS_CARE_PROVIDER));
	assert_true(ids_is_kind("Y59", IDS_KINDS_ANY_ORGANISATION));
}

static void
test_site_of_provider_is_its_code_and_two_characters(void **state)
{
	(void)state;
	assert_true(ids_is_site_of("RXC01", "RXC"));
	assert_true(ids_is_site_of("TAK01", "TAK"));
	assert_true(ids_is_site_of("NV701", "NV7"));
	assert_false(ids_is_site_of("RBB01", "RAA"));
	assert_false(ids_is_site_of("RXC", "RXC"));
	assert_false(ids_is_site_of("RXC001", "RXC"));
	assert_false(ids_is_site_of("RXC01", "QNX"));
	assert_false(ids_is_site_of(NULL, "RXC"));
}

static void
test_older_frame_provider_is_its_own_only_site(void **state)
{
	(void)state;
	assert_true(ids_is_site_of("8HA03", "8HA03"));
	assert_false(ids_is_site_of("8HA04", "8HA03"));
	assert_false(ids_is_site_of("8HA0301", "8HA03"));
}

static void
test_pseudonym_is_exactly_32_bytes(void **state)
{
	uint8_t bytes[65] = { 0 };

	(void)state;
	assert_true(ids_is_pseudonym(bytes, 32));
	assert_false(ids_is_pseudonym(bytes, 31));
	assert_false(ids_is_pseudonym(bytes, 33));
	assert_false(ids_is_pseudonym(bytes, 64));
	assert_false(ids_is_pseudonym(NULL, 32));
}

static void
test_kind_phrases_join_with_commas_and_or(void **state)
{
	char buf[200];

	(void)state;
	assert_int_equal(ids_format_kinds(IDS_KINDS_COMMISSIONER, buf,
	    sizeof(buf)), 0);
	assert_string_equal(buf, "an ICB, a sub-ICB location or a local "
	    "authority (ONS GSS code)");
	assert_int_equal(ids_format_kinds(IDS_KIND_ICB, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "an ICB");
	assert_int_equal(ids_format_kinds(IDS_KINDS_ANY_ORGANISATION, buf,
	    sizeof(buf)), 0);
	assert_string_equal(buf, "an organisation of any kind");
	assert_int_equal(ids_format_kinds(IDS_KINDS_COMMISSIONER, buf, 10),
	    -ENOSPC);
	assert_string_equal(ids_kind_name(IDS_KIND_CARE_HOME),
	    "a care home (CQC location)");
	assert_string_equal(ids_kind_name(IDS_KINDS_COMMISSIONER),
	    "an organisation");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nhs_number_9434765919_is_valid),
		cmocka_unit_test(test_nhs_number_with_wrong_check_digit_is_invalid),
		cmocka_unit_test(test_nhs_number_remainder_11_gives_check_digit_0),
		cmocka_unit_test(test_nhs_number_remainder_10_means_no_valid_number),
		cmocka_unit_test(test_nhs_number_needs_exactly_ten_digits),
		cmocka_unit_test(test_nhs_number_test_range_is_999),
		cmocka_unit_test(test_region_is_y_and_two_digits),
		cmocka_unit_test(test_icb_is_q_and_two_alphanumerics),
		cmocka_unit_test(test_sub_icb_has_a_three_and_a_five_character_form),
		cmocka_unit_test(test_trust_is_r_or_t_and_two_alphanumerics),
		cmocka_unit_test(test_site_is_a_trust_or_n_code_and_two_characters),
		cmocka_unit_test(test_gp_practice_is_a_letter_and_five_digits),
		cmocka_unit_test(test_independent_provider_is_n_code_or_older_frame),
		cmocka_unit_test(test_local_authority_is_an_upper_tier_gss_code),
		cmocka_unit_test(test_care_home_is_a_cqc_location_of_nine_to_eleven_digits),
		cmocka_unit_test(test_five_character_code_may_be_site_and_sub_icb),
		cmocka_unit_test(test_kinds_of_gives_one_kind_for_unambiguous_codes),
		cmocka_unit_test(test_kinds_of_gives_none_for_text_that_is_no_code),
		cmocka_unit_test(test_field_kinds_decide_what_a_code_may_be),
		cmocka_unit_test(test_site_of_provider_is_its_code_and_two_characters),
		cmocka_unit_test(test_older_frame_provider_is_its_own_only_site),
		cmocka_unit_test(test_pseudonym_is_exactly_32_bytes),
		cmocka_unit_test(test_kind_phrases_join_with_commas_and_or),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
