/*
 * test_privilege: the account [daemon] user names (daemon/privilege.c) is
 * refused when it is root, or has root's group as its primary group: the
 * daemon could then read and write what root's group may (files of /etc
 * and devices with gid 0). Checked on made-up accounts, so that no test
 * has to make a system user.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pwd.h>
#include <string.h>

#include "privilege.c"

static struct passwd
account(const char *name, uid_t uid, gid_t gid)
{
	struct passwd pw = { .pw_name = (char *)name, .pw_uid = uid, .pw_gid = gid };

	return pw;
}

static void
an_unprivileged_account_is_taken(void **state)
{
	struct passwd pw = account("commissiond", 998, 998);
	char err[256] = "";

	(void)state;
	assert_int_equal(privilege_check_account(&pw, err, sizeof(err)), 0);
	assert_string_equal(err, "");
}

static void
root_is_refused(void **state)
{
	struct passwd pw = account("toor", 0, 0);
	char err[256] = "";

	(void)state;
	assert_int_equal(privilege_check_account(&pw, err, sizeof(err)), -1);
	assert_string_equal(err, "[daemon] user toor is root: name an unprivileged account");
}

static void
an_account_of_roots_group_is_refused(void **state)
{
	struct passwd pw = account("commissiond", 998, 0);
	char err[256] = "";

	(void)state;
	assert_int_equal(privilege_check_account(&pw, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "[daemon] user commissiond has root's group (gid 0) as its "
				    "primary group"));
	assert_non_null(strstr(err, "useradd --system --user-group"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(an_unprivileged_account_is_taken),
		cmocka_unit_test(root_is_refused),
		cmocka_unit_test(an_account_of_roots_group_is_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
