/*
 * curve: CURVE key files and socket options. Key text is parsed here and
 * nowhere else; a secret key never appears in an error message.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>
#include <zmq.h>

#include "config.h"
#include "curve.h"
#include "keyfile.h"

/* A key pair file is a few lines; anything larger is not one. */
#define CURVE_PAIR_FILE_MAX_BYTES 4096
#define CURVE_LINE_MAX 256

struct curve_line {
	const char *next; /* where the next line starts */
	char text[CURVE_LINE_MAX + 1];
	int number;
};

/* The next line of text, trimmed, into line->text. 0 at the end, -1 when
 * a line is too long. */
static int
curve_next_line(struct curve_line *line)
{
	const char *p = line->next, *end;
	size_t len;

	if (*p == '\0')
		return 0;
	end = strchr(p, '\n');
	if (end == NULL)
		end = p + strlen(p);
	line->next = *end == '\n' ? end + 1 : end;
	line->number++;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	while (end > p && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
		end--;
	len = (size_t)(end - p);
	if (len > CURVE_LINE_MAX)
		return -1;
	memcpy(line->text, p, len);
	line->text[len] = '\0';
	return 1;
}

/* A 40-character Z85 key into 32 bytes. */
static int
curve_decode(const char *z85, uint8_t key[CURVE_KEY_BYTES])
{
	if (strlen(z85) != CURVE_Z85_CHARS)
		return -1;
	return zmq_z85_decode(key, z85) == NULL ? -1 : 0;
}

/* "name = value": the value, trimmed, when the line is that setting. */
static const char *
curve_setting(const char *text, const char *name)
{
	size_t n = strlen(name);
	const char *p = text + n;

	if (strncmp(text, name, n) != 0)
		return NULL;
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p != '=')
		return NULL;
	p++;
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

int
curve_pair_parse(const char *text, struct curve_pair *pair, char *err, size_t errlen)
{
	struct curve_line line = { .next = text };
	bool has_public = false;
	int rc = -1, more;

	memset(pair, 0, sizeof(*pair));
	while ((more = curve_next_line(&line)) != 0) {
		const char *value;
		if (more < 0) {
			snprintf(err, errlen, "line %d: longer than %d characters", line.number,
			    CURVE_LINE_MAX);
			goto out;
		}
		if (line.text[0] == '\0' || line.text[0] == '#')
			continue;
		if ((value = curve_setting(line.text, "public-key")) != NULL) {
			if (has_public || curve_decode(value, pair->public_key) < 0) {
				snprintf(err, errlen, "line %d: %s", line.number,
				    has_public ? "a second public-key"
					       : "public-key is not a 40-character Z85 key");
				goto out;
			}
			has_public = true;
		} else if ((value = curve_setting(line.text, "secret-key")) != NULL) {
			if (pair->has_secret || curve_decode(value, pair->secret_key) < 0) {
				snprintf(err, errlen, "line %d: %s", line.number,
				    pair->has_secret ? "a second secret-key"
						     : "secret-key is not a 40-character Z85 key");
				goto out;
			}
			pair->has_secret = true;
		} else {
			snprintf(err, errlen, "line %d: expected public-key = KEY or secret-key = KEY",
			    line.number);
			goto out;
		}
	}
	if (!has_public) {
		snprintf(err, errlen, "no public-key line");
		goto out;
	}
	if (pair->has_secret) {
		char secret[CURVE_Z85_CHARS + 1], derived[CURVE_Z85_CHARS + 1];
		uint8_t derived_key[CURVE_KEY_BYTES];
		zmq_z85_encode(secret, pair->secret_key, CURVE_KEY_BYTES);
		rc = zmq_curve_public(derived, secret);
		sodium_memzero(secret, sizeof(secret));
		if (rc < 0 || curve_decode(derived, derived_key) < 0 ||
		    memcmp(derived_key, pair->public_key, CURVE_KEY_BYTES) != 0) {
			rc = -1;
			snprintf(err, errlen, "the public key is not the secret key's");
			goto out;
		}
	}
	rc = 0;
out:
	sodium_memzero(line.text, sizeof(line.text));
	if (rc < 0)
		curve_pair_wipe(pair);
	return rc;
}

void
curve_pair_wipe(struct curve_pair *pair)
{
	sodium_memzero(pair->secret_key, sizeof(pair->secret_key));
	pair->has_secret = false;
}

static int
curve_key_compare(const void *a, const void *b)
{
	return memcmp(a, b, CURVE_KEY_BYTES);
}

int
curve_allow_parse(const char *text, struct curve_allow *allow, char *err, size_t errlen)
{
	struct curve_line line = { .next = text };
	struct curve_allow got = { 0 };
	size_t cap = 0;
	int more;

	while ((more = curve_next_line(&line)) != 0) {
		const char *value = line.text;
		if (more < 0) {
			snprintf(err, errlen, "line %d: longer than %d characters", line.number,
			    CURVE_LINE_MAX);
			goto fail;
		}
		if (line.text[0] == '\0' || line.text[0] == '#')
			continue;
		if (curve_setting(line.text, "secret-key") != NULL) {
			snprintf(err, errlen, "line %d: a secret key: an allow-list takes public "
					      "keys only (the NAME.pub files)", line.number);
			goto fail;
		}
		if (strncmp(line.text, "public-key", 10) == 0 &&
		    (value = curve_setting(line.text, "public-key")) == NULL)
			value = line.text;
		if (got.n_keys == CURVE_ALLOW_MAX) {
			snprintf(err, errlen, "more than %d keys", CURVE_ALLOW_MAX);
			goto fail;
		}
		if (got.n_keys == cap) {
			size_t want = cap ? cap * 2 : 16;
			void *grown = realloc(got.keys, want * CURVE_KEY_BYTES);
			if (grown == NULL) {
				snprintf(err, errlen, "out of memory");
				goto fail;
			}
			got.keys = grown;
			cap = want;
		}
		if (curve_decode(value, got.keys[got.n_keys]) < 0) {
			snprintf(err, errlen, "line %d: not a 40-character Z85 public key",
			    line.number);
			goto fail;
		}
		got.n_keys++;
	}
	if (got.n_keys > 0)
		qsort(got.keys, got.n_keys, CURVE_KEY_BYTES, curve_key_compare);
	*allow = got;
	return 0;
fail:
	curve_allow_clear(&got);
	return -1;
}

void
curve_allow_clear(struct curve_allow *allow)
{
	free(allow->keys);
	allow->keys = NULL;
	allow->n_keys = 0;
}

bool
curve_allow_has(const struct curve_allow *allow, const uint8_t key[CURVE_KEY_BYTES])
{
	return allow->n_keys > 0 &&
	    bsearch(key, allow->keys, allow->n_keys, CURVE_KEY_BYTES, curve_key_compare) != NULL;
}

/* Read path as kind and hand its text to parse; the error names the file. */
static int
curve_load(const char *path, enum keyfile_kind kind, size_t max_bytes,
    int (*parse)(const char *text, void *out, char *err, size_t errlen), void *out, char *err,
    size_t errlen)
{
	char why[256];
	size_t len;
	char *text = keyfile_read(path, kind, max_bytes, &len, err, errlen);
	int rc;

	if (text == NULL)
		return -1;
	rc = parse(text, out, why, sizeof(why));
	keyfile_free(&text, len);
	if (rc < 0)
		snprintf(err, errlen, "%s: %s", path, why);
	return rc;
}

static int
curve_parse_pair(const char *text, void *out, char *err, size_t errlen)
{
	struct curve_pair *pair = out;

	if (curve_pair_parse(text, pair, err, errlen) < 0)
		return -1;
	if (!pair->has_secret) {
		snprintf(err, errlen, "no secret-key line: give the key pair (NAME.key), not NAME.pub");
		return -1;
	}
	return 0;
}

static int
curve_parse_public(const char *text, void *out, char *err, size_t errlen)
{
	struct curve_pair pair;

	if (curve_pair_parse(text, &pair, err, errlen) < 0)
		return -1;
	if (pair.has_secret) {
		curve_pair_wipe(&pair);
		snprintf(err, errlen, "holds a secret key: give the public key (NAME.pub) "
				      "and keep NAME.key where it belongs");
		return -1;
	}
	memcpy(out, pair.public_key, CURVE_KEY_BYTES);
	return 0;
}

static int
curve_parse_allow(const char *text, void *out, char *err, size_t errlen)
{
	return curve_allow_parse(text, out, err, errlen);
}

int
curve_pair_load(const char *path, struct curve_pair *pair, char *err, size_t errlen)
{
	return curve_load(path, KEYFILE_SECRET, CURVE_PAIR_FILE_MAX_BYTES, curve_parse_pair, pair,
	    err, errlen);
}

int
curve_public_load(const char *path, uint8_t key[CURVE_KEY_BYTES], char *err, size_t errlen)
{
	return curve_load(path, KEYFILE_PUBLIC, CURVE_PAIR_FILE_MAX_BYTES, curve_parse_public, key,
	    err, errlen);
}

int
curve_allow_load(const char *path, struct curve_allow *allow, char *err, size_t errlen)
{
	return curve_load(path, KEYFILE_PUBLIC, CURVE_ALLOW_FILE_MAX_BYTES, curve_parse_allow, allow,
	    err, errlen);
}

int
curve_keygen(const char *name, char public_z85[CURVE_Z85_CHARS + 1], char *err, size_t errlen)
{
	char secret_z85[CURVE_Z85_CHARS + 1], path[4096], text[256];
	int rc = -1;

	if (zmq_curve_keypair(public_z85, secret_z85) < 0) {
		snprintf(err, errlen, "cannot make a key pair: %s%s", zmq_strerror(zmq_errno()),
		    zmq_errno() == ENOTSUP ? " (libzmq was built without CURVE)" : "");
		return -1;
	}
	if (snprintf(path, sizeof(path), "%s.key", name) >= (int)sizeof(path)) {
		snprintf(err, errlen, "%s: name too long", name);
		goto out;
	}
	snprintf(text, sizeof(text),
	    "# commissiond CURVE key pair: secret, keep it readable by its owner only\n"
	    "public-key = %s\nsecret-key = %s\n",
	    public_z85, secret_z85);
	if (keyfile_create(path, text, 0600, err, errlen) < 0)
		goto out;
	snprintf(path, sizeof(path), "%s.pub", name);
	snprintf(text, sizeof(text),
	    "# commissiond CURVE public key: give it to the other side (an allow-list, or\n"
	    "# [curve] server_public_key_file)\npublic-key = %s\n",
	    public_z85);
	if (keyfile_create(path, text, 0644, err, errlen) < 0) {
		snprintf(path, sizeof(path), "%s.key", name);
		unlink(path);
		goto out;
	}
	rc = 0;
out:
	sodium_memzero(secret_z85, sizeof(secret_z85));
	sodium_memzero(text, sizeof(text));
	return rc;
}

int
curve_client_load(const struct config *cfg, struct curve_client *client, char *err,
    size_t errlen)
{
	bool own = cfg->curve_client_key_file[0] != '\0';
	bool server = cfg->curve_server_public_key_file[0] != '\0';

	memset(client, 0, sizeof(*client));
	if (!own && !server)
		return 0;
	if (own != server) {
		snprintf(err, errlen, "[curve] client_key_file and server_public_key_file go together: "
				      "set both to use CURVE, or neither");
		return -1;
	}
	if (curve_pair_load(cfg->curve_client_key_file, &client->own, err, errlen) < 0 ||
	    curve_public_load(cfg->curve_server_public_key_file, client->server_public_key, err,
		errlen) < 0) {
		curve_pair_wipe(&client->own);
		return -1;
	}
	client->enabled = true;
	return 0;
}

int
curve_server_socket(void *socket, const struct curve_pair *server, const char *zap_domain,
    char *err, size_t errlen)
{
	int one = 1;

	if (zmq_setsockopt(socket, ZMQ_CURVE_SERVER, &one, sizeof(one)) < 0 ||
	    zmq_setsockopt(socket, ZMQ_CURVE_SECRETKEY, server->secret_key, CURVE_KEY_BYTES) < 0 ||
	    zmq_setsockopt(socket, ZMQ_ZAP_DOMAIN, zap_domain, strlen(zap_domain)) < 0) {
		snprintf(err, errlen, "cannot make a CURVE server socket: %s",
		    zmq_strerror(zmq_errno()));
		return -1;
	}
	return 0;
}

int
curve_client_socket(void *socket, const struct curve_client *client, char *err, size_t errlen)
{
	if (client == NULL || !client->enabled)
		return 0;
	if (zmq_setsockopt(socket, ZMQ_CURVE_SERVERKEY, client->server_public_key,
		CURVE_KEY_BYTES) < 0 ||
	    zmq_setsockopt(socket, ZMQ_CURVE_PUBLICKEY, client->own.public_key, CURVE_KEY_BYTES) < 0 ||
	    zmq_setsockopt(socket, ZMQ_CURVE_SECRETKEY, client->own.secret_key, CURVE_KEY_BYTES) < 0) {
		snprintf(err, errlen, "cannot make a CURVE client socket: %s",
		    zmq_strerror(zmq_errno()));
		return -1;
	}
	return 0;
}

bool
curve_endpoint_is_local(const char *endpoint)
{
	char host[256];
	const char *colon;
	size_t len;

	if (strncmp(endpoint, "ipc://", 6) == 0 || strncmp(endpoint, "inproc://", 9) == 0)
		return true;
	if (strncmp(endpoint, "tcp://", 6) != 0)
		return false;
	endpoint += 6;
	colon = strrchr(endpoint, ':');
	if (colon == NULL || (len = (size_t)(colon - endpoint)) == 0 || len >= sizeof(host))
		return false;
	memcpy(host, endpoint, len);
	host[len] = '\0';
	return config_host_is_loopback(host);
}
