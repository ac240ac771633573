/*
 * zap: CURVE on the daemon's sockets and the ZAP handler (ZeroMQ RFC 27)
 * that admits a client only when its public key is in the allow-list of
 * the socket's domain: "ingest" (may send) or "subscribe" (may read the
 * publish and replay sockets). Owns the server key pair, the allow-lists
 * and the handler's REP socket, served in the daemon's loop.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <zmq.h>

#include "commissiond.h"
#include "curve.h"
#include "log.h"

#define ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define ZAP_FRAMES_MAX 8
#define ZAP_FRAME_MAX_BYTES 256
/* Requests answered per turn of the loop, so that no socket starves. */
#define ZAP_REQUESTS_PER_TURN 64
/* Refusals logged per minute at most; the rest are counted. */
#define ZAP_LOG_PER_MINUTE 10

static const struct zap_domain_info {
	const char *name;     /* the ZAP domain */
	const char *list_key; /* its allow-list's setting */
	size_t list_offset;
} zap_domains[] = {
	[ZAP_DOMAIN_INGEST] = { "ingest", "ingest_allow",
	    offsetof(struct config, curve_ingest_allow) },
	[ZAP_DOMAIN_SUBSCRIBE] = { "subscribe", "subscribe_allow",
	    offsetof(struct config, curve_subscribe_allow) },
};
#define ZAP_N_DOMAINS (sizeof(zap_domains) / sizeof(zap_domains[0]))

struct zap {
	bool enabled;
	char server_key_file[CONFIG_TEXT_MAX];
	struct curve_pair server;
	struct curve_allow allow[ZAP_N_DOMAINS];
	void *socket;
	struct zwatch *watch;
	double log_window_start;
	unsigned logged_in_window;
	uint64_t not_logged;
	uint64_t admitted, refused;
	struct metrics *metrics;
};

static const char *
zap_list_path(const struct config *cfg, enum zap_domain domain)
{
	return (const char *)cfg + zap_domains[domain].list_offset;
}

/* Read every allow-list of cfg into lists; -1 with err at the first bad one. */
static int
zap_read_list(const struct config *cfg, enum zap_domain domain, struct curve_allow *list,
    char *err, size_t errlen)
{
	char why[512];

	if (curve_allow_load(zap_list_path(cfg, domain), list, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "[curve] %s: %s", zap_domains[domain].list_key, why);
		return -1;
	}
	return 0;
}

static void
zap_log_list(const struct zap *zap, const struct config *cfg, enum zap_domain domain,
    const char *when)
{
	const struct curve_allow *list = &zap->allow[domain];

	if (list->n_keys == 0)
		log_warning("%s[curve] %s %s holds no key: every %s client is refused", when,
		    zap_domains[domain].list_key, zap_list_path(cfg, domain),
		    zap_domains[domain].name);
	else
		log_info("%s[curve] %s %s: %zu key(s)", when, zap_domains[domain].list_key,
		    zap_list_path(cfg, domain), list->n_keys);
}

struct zap *
zap_load(const struct config *cfg, char *err, size_t errlen)
{
	struct zap *zap = calloc(1, sizeof(*zap));

	if (zap == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	/* cfg has passed config_check: the key and both allow-lists are set
	 * together, or none of them. */
	if (cfg->curve_server_key_file[0] == '\0')
		return zap; /* plain */
	if (curve_pair_load(cfg->curve_server_key_file, &zap->server, err, errlen) < 0)
		goto fail;
	for (size_t d = 0; d < ZAP_N_DOMAINS; d++)
		if (zap_read_list(cfg, (enum zap_domain)d, &zap->allow[d], err, errlen) < 0)
			goto fail;
	snprintf(zap->server_key_file, sizeof(zap->server_key_file), "%s",
	    cfg->curve_server_key_file);
	zap->enabled = true;
	for (size_t d = 0; d < ZAP_N_DOMAINS; d++)
		zap_log_list(zap, cfg, (enum zap_domain)d, "");
	return zap;
fail:
	zap_destroy(&zap);
	return NULL;
}

/* Refusals are logged, at most ZAP_LOG_PER_MINUTE a minute: a client
 * retrying in a loop must not flood the journal. */
static void
zap_log_refusal(struct zap *zap, enum zap_domain domain, const char *why, const char *address,
    const char *key_z85)
{
	double now = clock_monotonic_seconds();

	if (now - zap->log_window_start >= 60) {
		if (zap->not_logged > 0)
			log_warning("zap: %" PRIu64 " more refusal(s) in the last minute not logged",
			    zap->not_logged);
		zap->log_window_start = now;
		zap->logged_in_window = 0;
		zap->not_logged = 0;
	}
	if (zap->logged_in_window >= ZAP_LOG_PER_MINUTE) {
		zap->not_logged++;
		return;
	}
	zap->logged_in_window++;
	log_warning("zap: refused public key %s from %s on the %s socket(s): %s",
	    key_z85[0] ? key_z85 : "-", address[0] ? address : "-",
	    domain < ZAP_N_DOMAINS ? zap_domains[domain].name : "unknown", why);
}

/* A frame's bytes as text, cut to fit (for the domain, address and
 * mechanism, which libzmq fills with short text). */
static void
zap_frame_text(zmq_msg_t *frame, char *out, size_t cap)
{
	size_t len = zmq_msg_size(frame);

	if (len >= cap)
		len = cap - 1;
	memcpy(out, zmq_msg_data(frame), len);
	out[len] = '\0';
}

/*
 * Decide one request. frames: version, request id, domain, address,
 * identity, mechanism, credentials (the client's public key for CURVE).
 * Returns the status code ("200" admits).
 */
static const char *
zap_decide(struct zap *zap, zmq_msg_t *frames, int n, const char **text,
    const char **domain_label)
{
	char version[8], domain_name[64], address[64], mechanism[16];
	char key_z85[CURVE_Z85_CHARS + 1] = "";
	enum zap_domain domain = ZAP_N_DOMAINS;

	*domain_label = "unknown";

	if (n < 6) {
		*text = "malformed request";
		zap_log_refusal(zap, domain, "a malformed ZAP request", "", "");
		return "500";
	}
	zap_frame_text(&frames[0], version, sizeof(version));
	zap_frame_text(&frames[2], domain_name, sizeof(domain_name));
	zap_frame_text(&frames[3], address, sizeof(address));
	zap_frame_text(&frames[5], mechanism, sizeof(mechanism));
	for (size_t d = 0; d < ZAP_N_DOMAINS; d++)
		if (strcmp(domain_name, zap_domains[d].name) == 0) {
			domain = (enum zap_domain)d;
			*domain_label = zap_domains[d].name;
		}
	if (strcmp(version, "1.0") != 0 || strcmp(mechanism, "CURVE") != 0 || n != 7 ||
	    zmq_msg_size(&frames[6]) != CURVE_KEY_BYTES) {
		*text = "only CURVE is accepted";
		zap_log_refusal(zap, domain, "not a CURVE handshake", address, "");
		return "400";
	}
	zmq_z85_encode(key_z85, zmq_msg_data(&frames[6]), CURVE_KEY_BYTES);
	if (domain == ZAP_N_DOMAINS) {
		*text = "unknown domain";
		zap_log_refusal(zap, domain, "an unknown ZAP domain", address, key_z85);
		return "400";
	}
	if (!curve_allow_has(&zap->allow[domain], zmq_msg_data(&frames[6]))) {
		char why[64];
		snprintf(why, sizeof(why), "not in [curve] %s", zap_domains[domain].list_key);
		*text = "key not allowed";
		zap_log_refusal(zap, domain, why, address, key_z85);
		return "400";
	}
	log_debug("zap: admitted public key %s from %s on the %s socket(s)", key_z85,
	    address[0] ? address : "-", zap_domains[domain].name);
	*text = "OK";
	return "200";
}

/* Receive one request's frames (at most ZAP_FRAMES_MAX; more are dropped).
 * 0 when nothing is waiting. */
static int
zap_receive(struct zap *zap, zmq_msg_t *frames, int *n)
{
	int more = 1;
	size_t len = sizeof(more);
	zmq_msg_t extra;

	*n = 0;
	zmq_msg_init(&frames[0]);
	if (zmq_msg_recv(&frames[0], zap->socket, ZMQ_DONTWAIT) < 0) {
		zmq_msg_close(&frames[0]);
		return 0;
	}
	*n = 1;
	for (;;) {
		if (zmq_getsockopt(zap->socket, ZMQ_RCVMORE, &more, &len) < 0 || !more)
			return 1;
		if (*n < ZAP_FRAMES_MAX) {
			zmq_msg_init(&frames[*n]);
			if (zmq_msg_recv(&frames[*n], zap->socket, 0) < 0) {
				zmq_msg_close(&frames[*n]);
				return 1;
			}
			(*n)++;
		} else {
			zmq_msg_init(&extra);
			zmq_msg_recv(&extra, zap->socket, 0);
			zmq_msg_close(&extra);
		}
	}
}

static void
zap_on_readable(void *arg)
{
	struct zap *zap = arg;

	for (int turn = 0; turn < ZAP_REQUESTS_PER_TURN; turn++) {
		zmq_msg_t frames[ZAP_FRAMES_MAX];
		const char *status, *text = "", *domain;
		int n;

		if (zap_receive(zap, frames, &n) == 0)
			return;
		status = zap_decide(zap, frames, n, &text, &domain);
		if (status[0] == '2')
			zap->admitted++;
		else
			zap->refused++;
		metrics_count_zap(zap->metrics, domain, status[0] == '2');
		/* The reply: version, request id, status code and text, user
		 * id, metadata. The REP socket routes it back to libzmq. */
		zmq_send(zap->socket, "1.0", 3, ZMQ_SNDMORE);
		if (n > 1)
			zmq_send(zap->socket, zmq_msg_data(&frames[1]),
			    zmq_msg_size(&frames[1]) <= ZAP_FRAME_MAX_BYTES ? zmq_msg_size(&frames[1]) : 0,
			    ZMQ_SNDMORE);
		else
			zmq_send(zap->socket, "", 0, ZMQ_SNDMORE);
		zmq_send(zap->socket, status, 3, ZMQ_SNDMORE);
		zmq_send(zap->socket, text, strlen(text), ZMQ_SNDMORE);
		zmq_send(zap->socket, "", 0, ZMQ_SNDMORE);
		zmq_send(zap->socket, "", 0, 0);
		for (int i = 0; i < n; i++)
			zmq_msg_close(&frames[i]);
	}
}

int
zap_start(struct zap *zap, struct event_base *base, void *zmq_ctx, struct metrics *metrics,
    char *err, size_t errlen)
{
	char public_z85[CURVE_Z85_CHARS + 1];
	int linger = 0;

	if (!zap->enabled)
		return 0;
	zap->metrics = metrics;
	zap->socket = zmq_socket(zmq_ctx, ZMQ_REP);
	if (zap->socket == NULL ||
	    zmq_setsockopt(zap->socket, ZMQ_LINGER, &linger, sizeof(linger)) < 0 ||
	    zmq_bind(zap->socket, ZAP_ENDPOINT) < 0) {
		snprintf(err, errlen, "zap: cannot bind %s: %s", ZAP_ENDPOINT,
		    zmq_strerror(zmq_errno()));
		return -1;
	}
	zap->watch = zwatch_new(base, zap->socket, zap_on_readable, zap);
	if (zap->watch == NULL) {
		snprintf(err, errlen, "zap: cannot watch the socket");
		return -1;
	}
	zmq_z85_encode(public_z85, zap->server.public_key, CURVE_KEY_BYTES);
	log_info("CURVE on the ingest, publish and replay sockets: server public key %s (%s)",
	    public_z85, zap->server_key_file);
	return 0;
}

/* Is a process listening on the ipc:// endpoint's path? ZeroMQ removes the
 * file and binds afresh, so a second daemon configured with the first's
 * path would take its senders from it, both running. A path with no one
 * behind it (a daemon that died) is free. */
static bool
zap_ipc_in_use(const char *endpoint)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	const char *path = endpoint + strlen("ipc://");
	bool in_use;
	int fd;

	if (strncmp(endpoint, "ipc://", strlen("ipc://")) != 0 || path[0] == '@' ||
	    strlen(path) >= sizeof(addr.sun_path))
		return false;
	memcpy(addr.sun_path, path, strlen(path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return false;
	in_use = connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0;
	close(fd);
	return in_use;
}

int
zap_bind(const struct zap *zap, void *socket, enum zap_domain domain, const char *endpoint)
{
	char err[256];

	if (zap->enabled &&
	    curve_server_socket(socket, &zap->server, zap_domains[domain].name, err,
		sizeof(err)) < 0)
		return -1;
	if (zap_ipc_in_use(endpoint)) {
		log_error("%s: another process is listening there (another commissiond?); "
			  "each daemon needs endpoints of its own",
		    endpoint);
		errno = EADDRINUSE;
		return -1;
	}
	if (zmq_bind(socket, endpoint) < 0)
		return -1;
	if (!zap->enabled && !curve_endpoint_is_local(endpoint))
		log_warning("%s is reachable from other hosts and CURVE is off ([curve] "
			    "server_key_file): anyone who reaches it can %s (docs/SECURITY.md)",
		    endpoint,
		    domain == ZAP_DOMAIN_INGEST ? "send events" : "read every update");
	return 0;
}

/* cfg is the running configuration: reload.c puts a new allow-list path
 * in it only while CURVE is on and the list reads, and never an empty one
 * or a new server key (they wait for a restart, and reload.c says so). */
void
zap_reload(struct zap *zap, const struct config *cfg)
{
	if (!zap->enabled)
		return;
	for (size_t d = 0; d < ZAP_N_DOMAINS; d++) {
		struct curve_allow fresh;
		char err[768];
		if (zap_read_list(cfg, (enum zap_domain)d, &fresh, err, sizeof(err)) < 0) {
			log_error("reload: %s; keeping the running list of %zu key(s)", err,
			    zap->allow[d].n_keys);
			continue;
		}
		curve_allow_clear(&zap->allow[d]);
		zap->allow[d] = fresh;
		zap_log_list(zap, cfg, (enum zap_domain)d, "reload: ");
	}
}

bool
zap_enabled(const struct zap *zap)
{
	return zap->enabled;
}

void
zap_destroy(struct zap **zapp)
{
	struct zap *zap = *zapp;

	if (zap == NULL)
		return;
	zwatch_destroy(&zap->watch);
	if (zap->socket != NULL)
		zmq_close(zap->socket);
	curve_pair_wipe(&zap->server);
	for (size_t d = 0; d < ZAP_N_DOMAINS; d++)
		curve_allow_clear(&zap->allow[d]);
	if (zap->enabled)
		log_info("zap: %" PRIu64 " client(s) admitted, %" PRIu64 " refused", zap->admitted,
		    zap->refused);
	free(zap);
	*zapp = NULL;
}
