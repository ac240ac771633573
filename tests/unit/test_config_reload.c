/*
 * test_config_reload: comparing two configurations setting by setting, as
 * SIGHUP does, and the limits where 0 means none.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "config.h"

static size_t
index_of(const char *name)
{
	char buf[96];

	for (size_t i = 0; i < config_setting_count(); i++) {
		config_setting_name(i, buf, sizeof(buf));
		if (strcmp(buf, name) == 0)
			return i;
	}
	fail_msg("no setting %s", name);
	return 0;
}

static void
test_only_the_settings_that_differ_are_found_and_copied(void **state)
{
	struct config a, b;
	char err[256], value[200];
	int differing = 0;

	(void)state;
	config_defaults(&a);
	config_defaults(&b);
	assert_int_equal(config_set(&b, "http", "token", "s3cret", err, sizeof(err)), 0);
	assert_int_equal(config_set(&b, "ingest", "batch_limit", "7", err, sizeof(err)), 0);
	for (size_t i = 0; i < config_setting_count(); i++)
		differing += config_setting_differs(&a, &b, i);
	assert_int_equal(differing, 2);
	assert_true(config_setting_is_secret(index_of("http.token")));
	config_setting_value(&b, index_of("http.token"), value, sizeof(value));
	assert_string_equal(value, "(set)");
	config_setting_value(&b, index_of("ingest.batch_limit"), value, sizeof(value));
	assert_string_equal(value, "7");
	config_setting_copy(&a, &b, index_of("http.token"));
	assert_string_equal(a.http_token, "s3cret");
	assert_false(config_setting_differs(&a, &b, index_of("http.token")));
	assert_true(config_setting_differs(&a, &b, index_of("ingest.batch_limit")));
}

static void
test_a_limit_takes_0_for_none_and_a_count_does_not(void **state)
{
	struct config cfg;
	char err[256];

	(void)state;
	config_defaults(&cfg);
	assert_int_equal(cfg.store_dead_letter_max_count, 1000000);
	assert_int_equal(config_set(&cfg, "store", "dead_letter_max_count", "0", err, sizeof(err)), 0);
	assert_int_equal(cfg.store_dead_letter_max_count, 0);
	assert_int_equal(config_set(&cfg, "store", "prune_batch_limit", "0", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not a positive whole number"));
	assert_int_equal(config_set(&cfg, "store", "update_max_age_days", "x", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "(0: no limit)"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_only_the_settings_that_differ_are_found_and_copied),
		cmocka_unit_test(test_a_limit_takes_0_for_none_and_a_count_does_not),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
