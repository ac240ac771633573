/*
 * curve: ZeroMQ CURVE for commissiond and its clients. Key files (a key
 * pair, a public key, an allow-list of client keys), making a key pair,
 * and the socket options of a CURVE server or client. Format: docs/SECURITY.md.
 */
#ifndef CURVE_H
#define CURVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define CURVE_KEY_BYTES 32
#define CURVE_Z85_CHARS 40
/* Most keys in one allow-list, and the size of its file. */
#define CURVE_ALLOW_MAX 10000
#define CURVE_ALLOW_FILE_MAX_BYTES (1024 * 1024)

/* A key pair (NAME.key) or a public key alone (NAME.pub). */
struct curve_pair {
	uint8_t public_key[CURVE_KEY_BYTES];
	uint8_t secret_key[CURVE_KEY_BYTES];
	bool has_secret;
};

/* The client public keys admitted to one kind of socket, sorted. */
struct curve_allow {
	size_t n_keys;
	uint8_t (*keys)[CURVE_KEY_BYTES];
};

/* What an adapter or commissionctl needs to reach a CURVE daemon. */
struct curve_client {
	bool enabled; /* false: plain ZeroMQ */
	struct curve_pair own;
	uint8_t server_public_key[CURVE_KEY_BYTES];
};

/*
 * Parse the text of a key file: "public-key = Z85" and, in a key pair,
 * "secret-key = Z85", each once; blank lines and "#" comments. The
 * public key must be the secret key's. -1 with err naming the line (never
 * quoting a key).
 */
int curve_pair_parse(const char *text, struct curve_pair *pair, char *err, size_t errlen);

/*
 * Parse an allow-list: one public key a line, bare or as
 * "public-key = Z85" (so NAME.pub files may be concatenated); blank lines
 * and "#" comments. A secret key is refused. Fills allow (free it with
 * curve_allow_clear) or returns -1 with err.
 */
int curve_allow_parse(const char *text, struct curve_allow *allow, char *err, size_t errlen);
void curve_allow_clear(struct curve_allow *allow);
bool curve_allow_has(const struct curve_allow *allow, const uint8_t key[CURVE_KEY_BYTES]);

/* Read a key pair file (mode 0600 at most) into pair. -1 with err. */
int curve_pair_load(const char *path, struct curve_pair *pair, char *err, size_t errlen);
/* Read a public key file (NAME.pub; a key pair file is refused). */
int curve_public_load(const char *path, uint8_t key[CURVE_KEY_BYTES], char *err, size_t errlen);
/* Read an allow-list file. */
int curve_allow_load(const char *path, struct curve_allow *allow, char *err, size_t errlen);

/*
 * Make a key pair: NAME.key (both keys, mode 0600) and NAME.pub (the public
 * key, 0644), never over existing files; a missing directory is made 0700.
 * The public key's Z85 text goes into public_z85.
 */
int curve_keygen(const char *name, char public_z85[CURVE_Z85_CHARS + 1], char *err,
    size_t errlen);

/* The client settings of cfg ([curve] client_key_file and
 * server_public_key_file: both or neither). -1 with err. */
int curve_client_load(const struct config *cfg, struct curve_client *client, char *err,
    size_t errlen);

/* Make socket (before its bind) a CURVE server with server's secret key,
 * asking the ZAP handler about each client under zap_domain. */
int curve_server_socket(void *socket, const struct curve_pair *server, const char *zap_domain,
    char *err, size_t errlen);
/* Make socket (before its connect) a CURVE client; nothing when plain. */
int curve_client_socket(void *socket, const struct curve_client *client, char *err,
    size_t errlen);

/* Is endpoint reachable only from this host (ipc://, inproc://, or tcp://
 * on 127.0.0.0/8, ::1 or localhost)? */
bool curve_endpoint_is_local(const char *endpoint);

/* Zero the secret key. */
void curve_pair_wipe(struct curve_pair *pair);

#endif
