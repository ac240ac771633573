/*
 * pseudonym: keyed BLAKE2b-256 (libsodium crypto_generichash) of validated
 * NHS numbers and of visit numbers. The key never leaves this module.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "ids.h"
#include "keyfile.h"
#include "pseudonym.h"

struct pseudonymiser {
	uint8_t key[PSEUDONYM_KEY_BYTES];
};

struct pseudonymiser *
pseudonymiser_from_key(const uint8_t key[PSEUDONYM_KEY_BYTES])
{
	struct pseudonymiser *ps = sodium_malloc(sizeof(*ps));

	if (ps != NULL)
		memcpy(ps->key, key, sizeof(ps->key));
	return ps;
}

struct pseudonymiser *
pseudonymiser_open(const char *key_path, char *err, size_t errlen)
{
	uint8_t key[PSEUDONYM_KEY_BYTES];
	struct pseudonymiser *ps;
	size_t n, len, bin_len;
	char why[512];
	char *text = keyfile_read(key_path, KEYFILE_SECRET, 4 * PSEUDONYM_KEY_BYTES, &len, why,
	    sizeof(why));

	if (text == NULL) {
		snprintf(err, errlen, "[pseudonym] key_file: %s (the keygen command makes one)", why);
		return NULL;
	}
	n = len;
	while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r'))
		n--;
	if (n != 2 * PSEUDONYM_KEY_BYTES ||
	    sodium_hex2bin(key, sizeof(key), text, n, NULL, &bin_len, NULL) != 0 ||
	    bin_len != sizeof(key)) {
		snprintf(err, errlen, "%s: the pseudonym key must be 64 hex characters", key_path);
		keyfile_free(&text, len);
		return NULL;
	}
	keyfile_free(&text, len);
	ps = pseudonymiser_from_key(key);
	sodium_memzero(key, sizeof(key));
	if (ps == NULL)
		snprintf(err, errlen, "out of memory");
	return ps;
}

void
pseudonymiser_destroy(struct pseudonymiser **psp)
{
	if (*psp != NULL)
		sodium_free(*psp); /* zeroes the key */
	*psp = NULL;
}

int
pseudonym_keygen(const char *path, char *err, size_t errlen)
{
	uint8_t key[PSEUDONYM_KEY_BYTES];
	char text[2 * PSEUDONYM_KEY_BYTES + 2];
	int rc;

	randombytes_buf(key, sizeof(key));
	sodium_bin2hex(text, sizeof(text) - 1, key, sizeof(key));
	strcat(text, "\n");
	/* Never over an existing key: the stored pseudonyms depend on it. */
	rc = keyfile_create(path, text, 0600, err, errlen);
	sodium_memzero(key, sizeof(key));
	sodium_memzero(text, sizeof(text));
	return rc;
}

static void
pseudonym_hash(const struct pseudonymiser *ps, const char *domain, const char *scope,
    const char *text, uint8_t out[PSEUDONYM_BYTES])
{
	crypto_generichash_state st;

	/* Domain and scope are separated by NUL so that no two inputs meet. */
	crypto_generichash_init(&st, ps->key, sizeof(ps->key), PSEUDONYM_BYTES);
	crypto_generichash_update(&st, (const uint8_t *)domain, strlen(domain) + 1);
	crypto_generichash_update(&st, (const uint8_t *)scope, strlen(scope) + 1);
	crypto_generichash_update(&st, (const uint8_t *)text, strlen(text));
	crypto_generichash_final(&st, out, PSEUDONYM_BYTES);
}

int
pseudonym_from_nhs_number(const struct pseudonymiser *ps, const char *nhs_number,
    uint8_t out[PSEUDONYM_BYTES])
{
	char digits[IDS_NHS_NUMBER_DIGITS + 1];
	size_t n = 0;
	int rc = -1;

	/* "943 476 5919" and "9434765919" are the same number. */
	for (const char *p = nhs_number; *p != '\0'; p++) {
		if (*p == ' ')
			continue;
		if (!isdigit((unsigned char)*p) || n == IDS_NHS_NUMBER_DIGITS)
			goto out;
		digits[n++] = *p;
	}
	digits[n] = '\0';
	if (!ids_is_nhs_number(digits))
		goto out;
	/* The patient domain has no scope: the same person gets the same
	 * pseudonym from the hospital feed and from the council feed. */
	pseudonym_hash(ps, "nhs-number", "", digits, out);
	rc = 0;
out:
	/* A number refused is a patient's all the same, mistyped. */
	sodium_memzero(digits, sizeof(digits));
	return rc;
}

void
pseudonym_from_text(const struct pseudonymiser *ps, const char *kind, const char *scope,
    const char *text, uint8_t out[PSEUDONYM_BYTES])
{
	pseudonym_hash(ps, kind, scope, text, out);
}
