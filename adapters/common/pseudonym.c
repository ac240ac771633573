/*
 * pseudonym: keyed BLAKE2b-256 (libsodium crypto_generichash) of validated
 * NHS numbers and of visit numbers. The key never leaves this module.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "ids.h"
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
	char text[2 * PSEUDONYM_KEY_BYTES + 3];
	uint8_t key[PSEUDONYM_KEY_BYTES];
	struct pseudonymiser *ps;
	struct stat st;
	size_t n, bin_len;
	int fd;

	fd = open(key_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "%s: cannot open the pseudonym key: %s (make one with "
				      "the keygen command)", key_path, strerror(errno));
		return NULL;
	}
	/* The rule PostgreSQL applies to its key: others never; the group only
	 * when root owns the file, so that the adapters' services, each its own
	 * user, can share one key through a group (systemd/commissiond.tmpfiles). */
	if (fstat(fd, &st) < 0 || (st.st_mode & 007) != 0 ||
	    (st.st_uid != 0 && (st.st_mode & 070) != 0)) {
		snprintf(err, errlen, "%s: the pseudonym key must be readable by its owner only "
				      "(chmod 600), or by root and a group (chmod 640)", key_path);
		close(fd);
		return NULL;
	}
	n = (size_t)read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n == (size_t)-1)
		n = 0;
	while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r'))
		n--;
	text[n] = '\0';
	if (n != 2 * PSEUDONYM_KEY_BYTES ||
	    sodium_hex2bin(key, sizeof(key), text, n, NULL, &bin_len, NULL) != 0 ||
	    bin_len != sizeof(key)) {
		snprintf(err, errlen, "%s: the pseudonym key must be 64 hex characters", key_path);
		sodium_memzero(text, sizeof(text));
		return NULL;
	}
	sodium_memzero(text, sizeof(text));
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
	int fd;
	ssize_t w;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s%s", path, strerror(errno),
		    errno == EEXIST ? " (a key exists: pseudonyms depend on it, keep it)" : "");
		return -1;
	}
	randombytes_buf(key, sizeof(key));
	sodium_bin2hex(text, sizeof(text) - 1, key, sizeof(key));
	strcat(text, "\n");
	w = write(fd, text, strlen(text));
	sodium_memzero(key, sizeof(key));
	sodium_memzero(text, sizeof(text));
	if (w != 2 * PSEUDONYM_KEY_BYTES + 1 || fsync(fd) < 0 || close(fd) < 0) {
		snprintf(err, errlen, "%s: cannot write the key: %s", path, strerror(errno));
		unlink(path);
		return -1;
	}
	return 0;
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

	/* "943 476 5919" and "9434765919" are the same number. */
	for (const char *p = nhs_number; *p != '\0'; p++) {
		if (*p == ' ')
			continue;
		if (!isdigit((unsigned char)*p) || n == IDS_NHS_NUMBER_DIGITS)
			return -1;
		digits[n++] = *p;
	}
	digits[n] = '\0';
	if (!ids_is_nhs_number(digits))
		return -1;
	/* The patient domain has no scope: the same person gets the same
	 * pseudonym from the hospital feed and from the council feed. */
	pseudonym_hash(ps, "nhs-number", "", digits, out);
	sodium_memzero(digits, sizeof(digits));
	return 0;
}

void
pseudonym_from_text(const struct pseudonymiser *ps, const char *kind, const char *scope,
    const char *text, uint8_t out[PSEUDONYM_BYTES])
{
	pseudonym_hash(ps, kind, scope, text, out);
}
