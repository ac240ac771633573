/*
 * pseudonym: replaces an NHS number (or a visit number) with the keyed
 * BLAKE2b-256 hash the daemon joins on (DOMAIN.md, Person data). Owns the
 * key, read from a key file shared by the ICS's adapters.
 */
#ifndef PSEUDONYM_H
#define PSEUDONYM_H

#include <stddef.h>
#include <stdint.h>

#define PSEUDONYM_BYTES 32
#define PSEUDONYM_KEY_BYTES 32

struct pseudonymiser;

/* Read the key file: exactly 64 hex characters (a trailing newline
 * allowed), readable by its owner only, or by root and a group. NULL with
 * err when it is missing, malformed, open to others, or open to a group
 * while someone other than root owns it. */
struct pseudonymiser *pseudonymiser_open(const char *key_path, char *err, size_t errlen);
/* A pseudonymiser over a key in memory (tests). */
struct pseudonymiser *pseudonymiser_from_key(const uint8_t key[PSEUDONYM_KEY_BYTES]);
void pseudonymiser_destroy(struct pseudonymiser **ps);

/* Write a new random key file at path (mode 0600); -1 with err when it
 * exists already or cannot be written. */
int pseudonym_keygen(const char *path, char *err, size_t errlen);

/* The pseudonym of an NHS number: the number is validated first (10 digits,
 * modulus 11; spaces between the 3-3-4 groups allowed). -1 when invalid. */
int pseudonym_from_nhs_number(const struct pseudonymiser *ps, const char *nhs_number,
    uint8_t out[PSEUDONYM_BYTES]);

/* The pseudonym of another identifier (a visit number), in a domain of its
 * own so that it never equals a patient's: kind names the domain
 * ("spell"), the provider makes a visit number unique. */
void pseudonym_from_text(const struct pseudonymiser *ps, const char *kind, const char *scope,
    const char *text, uint8_t out[PSEUDONYM_BYTES]);

#endif
