/*
 * fuzz_common: the settings, the key and the checks the fuzz targets share.
 */
#include <stdio.h>
#include <stdlib.h>

#include <sodium.h>

#include "envelope.h"
#include "fuzz.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	FUZZ_ASSERT(sodium_init() >= 0, "libsodium starts");
	return 0;
}

void
fuzz_fail(const char *file, int line, const char *cond, const char *what)
{
	fprintf(stderr, "%s:%d: invariant broken: %s (%s)\n", file, line, what, cond);
	abort();
}

const struct config *
fuzz_config(void)
{
	static struct config cfg;
	static int made;

	if (!made) {
		config_defaults(&cfg);
		made = 1;
	}
	return &cfg;
}

const struct pseudonymiser *
fuzz_pseudonymiser(void)
{
	static struct pseudonymiser *ps;

	if (ps == NULL) {
		static const uint8_t key[PSEUDONYM_KEY_BYTES] = {0x0f, 0x1e, 0x2d, 0x3c, 0x4b};
		ps = pseudonymiser_from_key(key);
		FUZZ_ASSERT(ps != NULL, "a pseudonymiser over a key in memory");
	}
	return ps;
}

void
fuzz_daemon_takes(const Commissioning__Envelope *env)
{
	size_t len = commissioning__envelope__get_packed_size(env);
	uint8_t *bytes = malloc(len ? len : 1);
	Commissioning__Envelope *back = NULL;
	struct check_error why;
	int rc;

	FUZZ_ASSERT(bytes != NULL, "memory for a packed envelope");
	commissioning__envelope__pack(env, bytes);
	rc = envelope_decode_frame(
	    bytes, len, fuzz_config()->ingest_max_envelope_bytes, &back, &why);
	if (rc != 0)
		fprintf(stderr, "fuzz: the daemon refuses an adapter's envelope: %s\n", why.reason);
	FUZZ_ASSERT(rc == 0, "an envelope an adapter sends is one the daemon takes");
	commissioning__envelope__free_unpacked(back, NULL);
	free(bytes);
}
