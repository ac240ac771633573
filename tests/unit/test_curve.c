/*
 * test_curve: CURVE key files (a pair, a public key, allow-lists) parsed
 * strictly and never quoting a key; the allow-list's bounds and lookup;
 * keygen's files loading back; and which endpoints count as local.
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

#include <zmq.h>

#include "curve.h"

/* A pair made by zmq_curve_keypair, so the public key is the secret's. */
struct z85_pair {
	char public_z85[CURVE_Z85_CHARS + 1];
	char secret_z85[CURVE_Z85_CHARS + 1];
};

static void
make_pair(struct z85_pair *p)
{
	assert_int_equal(zmq_curve_keypair(p->public_z85, p->secret_z85), 0);
}

static void
assert_contains(const char *text, const char *fragment)
{
	if (strstr(text, fragment) == NULL)
		fail_msg("\"%s\" lacks \"%s\"", text, fragment);
}

static void
assert_pair_error(const char *text, const char *fragment, const char *secret)
{
	struct curve_pair pair;
	char err[256] = "";

	assert_int_equal(curve_pair_parse(text, &pair, err, sizeof(err)), -1);
	assert_contains(err, fragment);
	if (secret != NULL && strstr(err, secret) != NULL)
		fail_msg("the error quotes the secret key: %s", err);
	assert_false(pair.has_secret);
}

static void
test_a_key_pair_parses_with_comments_blank_lines_and_spacing(void **state)
{
	struct z85_pair p;
	struct curve_pair pair;
	char text[512], err[256];
	uint8_t want[CURVE_KEY_BYTES];

	(void)state;
	make_pair(&p);
	snprintf(text, sizeof(text), "# made by keygen\n\n  public-key=%s  \r\n\tsecret-key =  %s\n",
	    p.public_z85, p.secret_z85);
	assert_int_equal(curve_pair_parse(text, &pair, err, sizeof(err)), 0);
	assert_true(pair.has_secret);
	zmq_z85_decode(want, p.public_z85);
	assert_memory_equal(pair.public_key, want, CURVE_KEY_BYTES);
	zmq_z85_decode(want, p.secret_z85);
	assert_memory_equal(pair.secret_key, want, CURVE_KEY_BYTES);
	curve_pair_wipe(&pair);
	assert_false(pair.has_secret);
	memset(want, 0, sizeof(want));
	assert_memory_equal(pair.secret_key, want, CURVE_KEY_BYTES);
}

static void
test_a_public_key_alone_parses_without_a_secret(void **state)
{
	struct z85_pair p;
	struct curve_pair pair;
	char text[128], err[256];

	(void)state;
	make_pair(&p);
	snprintf(text, sizeof(text), "public-key = %s", p.public_z85); /* no newline at the end */
	assert_int_equal(curve_pair_parse(text, &pair, err, sizeof(err)), 0);
	assert_false(pair.has_secret);
}

static void
test_a_wrong_key_file_is_refused_naming_the_line_never_the_key(void **state)
{
	struct z85_pair p, q;
	char text[512];

	(void)state;
	make_pair(&p);
	make_pair(&q);
	snprintf(text, sizeof(text), "public-key = %s\nsecret-key = %s\n", q.public_z85,
	    p.secret_z85);
	assert_pair_error(text, "the public key is not the secret key's", p.secret_z85);
	snprintf(text, sizeof(text), "secret-key = %s\n", p.secret_z85);
	assert_pair_error(text, "no public-key line", p.secret_z85);
	snprintf(text, sizeof(text), "public-key = %s\nsecret-key = %.39s\n", p.public_z85,
	    p.secret_z85);
	assert_pair_error(text, "line 2: secret-key is not a 40-character Z85 key", p.secret_z85);
	snprintf(text, sizeof(text), "public-key = %s\npublic-key = %s\n", p.public_z85,
	    p.public_z85);
	assert_pair_error(text, "line 2: a second public-key", NULL);
	snprintf(text, sizeof(text), "public-key = %s\nsecret-key = %s\nsecret-key = %s\n",
	    p.public_z85, p.secret_z85, p.secret_z85);
	assert_pair_error(text, "line 3: a second secret-key", p.secret_z85);
	snprintf(text, sizeof(text), "public-key = %s\nsecret: %s\n", p.public_z85, p.secret_z85);
	assert_pair_error(text, "line 2: expected public-key = KEY or secret-key = KEY",
	    p.secret_z85);
	/* Z85 has no space, quote or comma. */
	assert_pair_error("public-key = 0123456789012345678901234567890123456 \"\n",
	    "line 1: public-key is not a 40-character Z85 key", NULL);
	assert_pair_error("", "no public-key line", NULL);
	{
		char line[400];
		memset(line, 'a', sizeof(line) - 1);
		line[sizeof(line) - 1] = '\0';
		assert_pair_error(line, "line 1: longer than 256 characters", NULL);
	}
}

static void
test_an_allow_list_takes_bare_keys_and_pub_files_and_finds_them(void **state)
{
	struct z85_pair a, b, c;
	struct curve_allow allow;
	char text[1024], err[256];
	uint8_t key[CURVE_KEY_BYTES];

	(void)state;
	make_pair(&a);
	make_pair(&b);
	make_pair(&c);
	snprintf(text, sizeof(text),
	    "# adapters\n%s\n\n# commissiond CURVE public key\npublic-key = %s\n", a.public_z85,
	    b.public_z85);
	assert_int_equal(curve_allow_parse(text, &allow, err, sizeof(err)), 0);
	assert_int_equal(allow.n_keys, 2);
	zmq_z85_decode(key, a.public_z85);
	assert_true(curve_allow_has(&allow, key));
	zmq_z85_decode(key, b.public_z85);
	assert_true(curve_allow_has(&allow, key));
	zmq_z85_decode(key, c.public_z85);
	assert_false(curve_allow_has(&allow, key));
	curve_allow_clear(&allow);
	assert_int_equal(allow.n_keys, 0);
	assert_false(curve_allow_has(&allow, key));
	/* An empty list is a list: it admits no one. */
	assert_int_equal(curve_allow_parse("# nobody yet\n", &allow, err, sizeof(err)), 0);
	assert_int_equal(allow.n_keys, 0);
	assert_false(curve_allow_has(&allow, key));
}

static void
test_an_allow_list_refuses_secret_keys_bad_lines_and_too_many_keys(void **state)
{
	struct z85_pair a;
	struct curve_allow allow;
	char text[512], err[256];
	char *big;
	size_t line = CURVE_Z85_CHARS + 1, n = CURVE_ALLOW_MAX + 1;

	(void)state;
	make_pair(&a);
	snprintf(text, sizeof(text), "public-key = %s\nsecret-key = %s\n", a.public_z85,
	    a.secret_z85);
	assert_int_equal(curve_allow_parse(text, &allow, err, sizeof(err)), -1);
	assert_contains(err, "line 2: a secret key: an allow-list takes public keys only");
	assert_null(strstr(err, a.secret_z85));
	assert_int_equal(curve_allow_parse("hl7-rxc\n", &allow, err, sizeof(err)), -1);
	assert_contains(err, "line 1: not a 40-character Z85 public key");
	/* One key more than the bound. */
	big = malloc(n * line + 1);
	assert_non_null(big);
	for (size_t i = 0; i < n; i++) {
		memcpy(big + i * line, a.public_z85, CURVE_Z85_CHARS);
		big[i * line + CURVE_Z85_CHARS] = '\n';
	}
	big[n * line] = '\0';
	assert_int_equal(curve_allow_parse(big, &allow, err, sizeof(err)), -1);
	assert_contains(err, "more than 10000 keys");
	big[(n - 1) * line] = '\0'; /* exactly the bound */
	assert_int_equal(curve_allow_parse(big, &allow, err, sizeof(err)), 0);
	assert_int_equal(allow.n_keys, CURVE_ALLOW_MAX);
	curve_allow_clear(&allow);
	free(big);
}

static void
test_keygen_files_load_back_as_a_pair_and_a_public_key(void **state)
{
	char dir[] = "/tmp/test_curve.XXXXXX", name[128], path[160], err[512];
	char public_z85[CURVE_Z85_CHARS + 1];
	struct curve_pair pair;
	struct curve_allow allow;
	uint8_t public_key[CURVE_KEY_BYTES];

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(name, sizeof(name), "%s/k/adapter", dir);
	assert_int_equal(curve_keygen(name, public_z85, err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s.key", name);
	assert_int_equal(curve_pair_load(path, &pair, err, sizeof(err)), 0);
	assert_true(pair.has_secret);
	/* A key pair is not a public key file, nor an allow-list. */
	assert_int_equal(curve_public_load(path, public_key, err, sizeof(err)), -1);
	assert_contains(err, "holds a secret key");
	snprintf(path, sizeof(path), "%s.pub", name);
	assert_int_equal(curve_public_load(path, public_key, err, sizeof(err)), 0);
	assert_memory_equal(public_key, pair.public_key, CURVE_KEY_BYTES);
	/* Its mode would do for a secret key: the content is refused. */
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(curve_pair_load(path, &pair, err, sizeof(err)), -1);
	assert_contains(err, "no secret-key line");
	assert_int_equal(curve_allow_load(path, &allow, err, sizeof(err)), 0);
	assert_true(curve_allow_has(&allow, public_key));
	curve_allow_clear(&allow);
	zmq_z85_decode(public_key, public_z85);
	assert_memory_equal(public_key, pair.public_key, CURVE_KEY_BYTES);
	/* Never over an existing pair. */
	assert_int_equal(curve_keygen(name, public_z85, err, sizeof(err)), -1);
	assert_contains(err, "File exists");
	snprintf(path, sizeof(path), "%s.key", name);
	unlink(path);
	snprintf(path, sizeof(path), "%s.pub", name);
	unlink(path);
	snprintf(path, sizeof(path), "%s/k", dir);
	rmdir(path);
	rmdir(dir);
}

static void
test_client_settings_go_together(void **state)
{
	struct config cfg;
	struct curve_client client;
	char err[512];

	(void)state;
	config_defaults(&cfg);
	assert_int_equal(curve_client_load(&cfg, &client, err, sizeof(err)), 0);
	assert_false(client.enabled);
	strcpy(cfg.curve_client_key_file, "/nonexistent.key");
	assert_int_equal(curve_client_load(&cfg, &client, err, sizeof(err)), -1);
	assert_contains(err, "go together");
	strcpy(cfg.curve_server_public_key_file, "/nonexistent.pub");
	assert_int_equal(curve_client_load(&cfg, &client, err, sizeof(err)), -1);
	assert_contains(err, "/nonexistent.key: cannot open");
}

static void
test_local_endpoints_are_loopback_ipc_and_inproc_only(void **state)
{
	static const struct {
		const char *endpoint;
		bool local;
	} cases[] = {
		{ "ipc:///run/commissiond/ingest", true },
		{ "inproc://x", true },
		{ "tcp://127.0.0.1:7601", true },
		{ "tcp://127.8.9.10:7601", true },
		{ "tcp://localhost:7601", true },
		{ "tcp://[::1]:7601", true },
		{ "tcp://::1:7601", true },
		{ "tcp://*:7601", false },
		{ "tcp://0.0.0.0:7601", false },
		{ "tcp://10.0.0.5:7601", false },
		{ "tcp://128.0.0.1:7601", false },
		{ "tcp://[::]:7601", false },
		{ "tcp://eth0:7601", false },
		{ "tcp://127.0.0.1.example.org:7601", false },
		{ "tcp://:7601", false },
		{ "tcp://7601", false },
		{ "pgm://eth0;239.192.1.1:5555", false },
		{ "ws://127.0.0.1:80", false },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (curve_endpoint_is_local(cases[i].endpoint) != cases[i].local)
			fail_msg("%s: expected %s", cases[i].endpoint,
			    cases[i].local ? "local" : "not local");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_key_pair_parses_with_comments_blank_lines_and_spacing),
		cmocka_unit_test(test_a_public_key_alone_parses_without_a_secret),
		cmocka_unit_test(test_a_wrong_key_file_is_refused_naming_the_line_never_the_key),
		cmocka_unit_test(test_an_allow_list_takes_bare_keys_and_pub_files_and_finds_them),
		cmocka_unit_test(test_an_allow_list_refuses_secret_keys_bad_lines_and_too_many_keys),
		cmocka_unit_test(test_keygen_files_load_back_as_a_pair_and_a_public_key),
		cmocka_unit_test(test_client_settings_go_together),
		cmocka_unit_test(test_local_endpoints_are_loopback_ipc_and_inproc_only),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
