/*
 * config: one table of keys (section, name, type, default, meaning) drives
 * defaults, INI parsing (libinih) and --print-config.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/util.h>
#include <ini.h>

#include "config.h"
#include "log.h"

enum config_type {
	CONFIG_TEXT,
	CONFIG_COUNT,
	CONFIG_BYTES,
	CONFIG_SYNC,
	CONFIG_LEVEL,
	CONFIG_BOOL,
	CONFIG_PROVIDER, /* FACILITY=CODE, the key repeated once a mapping */
	CONFIG_SECRET,	 /* text that may be empty, never printed */
	CONFIG_OPTIONAL, /* text that may be empty */
	CONFIG_LIMIT,	 /* a whole number where 0 means no limit */
	CONFIG_LISTEN,	 /* HOST:PORT of a TCP listener (libevent's evhttp) */
	CONFIG_LISTEN_IP, /* ADDRESS:PORT, the address numeric (evutil_parse_sockaddr_port) */
	CONFIG_HOSTS,	 /* host names, comma-separated, or "*"; may be empty */
};

struct config_key {
	const char *section;
	const char *name;
	enum config_type type;
	size_t offset;
	const char *default_value;
	const char *meaning;
	uint64_t most; /* the largest value a number may take; 0: none */
};

#define KEY(section, name, type, member, def, meaning) \
	{ section, name, type, offsetof(struct config, member), def, meaning, 0 }
/* A count that sizes memory allocated for it (and grown on reload): bounded,
 * so that a typo cannot ask for more than the machine has. */
#define KEY_UPTO(section, name, member, def, most, meaning) \
	{ section, name, CONFIG_COUNT, offsetof(struct config, member), def, meaning, most }
#define COUNT_MOST 65536
/* A number the code narrows, or adds to or multiplies into a signed 64-bit
 * one: bounded so that no accepted value wraps (a high-water mark of 2^32
 * would be ZeroMQ's int 0, no limit at all; an age of 10^12 days a
 * negative one, removing every record). */
#define KEY_MOST(section, name, type, member, def, most, meaning) \
	{ section, name, type, offsetof(struct config, member), def, meaning, most }
#define HWM_MOST 2147483647	  /* ZeroMQ's high-water marks are ints */
#define FRAME_MOST 1073741824	  /* 1 GiB: a frame or request, times 16 at most */
#define MS_MOST 86400000	  /* a day, in milliseconds */
#define DAYS_MOST 36500		  /* a hundred years */

static const struct config_key config_keys[] = {
	KEY("ingest", "endpoint", CONFIG_TEXT, ingest_endpoint, "tcp://127.0.0.1:7601",
	    "ZeroMQ ROUTER where adapters send Envelopes and get Acks"),
	KEY_UPTO("ingest", "batch_limit", ingest_batch_limit, "1024", COUNT_MOST,
	    "most envelopes written in one LMDB transaction (group commit), up to 65536"),
	KEY_MOST("ingest", "max_envelope_bytes", CONFIG_BYTES, ingest_max_envelope_bytes, "1048576",
	    FRAME_MOST, "larger frames are REJECTED without being decoded; up to 1G"),
	KEY_MOST("ingest", "high_water_mark", CONFIG_COUNT, ingest_high_water_mark, "10000",
	    HWM_MOST, "ZeroMQ send and receive high-water mark of the ingest socket, up to "
	    "2147483647"),
	KEY("publish", "endpoint", CONFIG_TEXT, publish_endpoint, "tcp://127.0.0.1:7602",
	    "ZeroMQ PUB of [topic][Update]"),
	KEY_MOST("publish", "high_water_mark", CONFIG_COUNT, publish_high_water_mark, "100000",
	    HWM_MOST, "updates queued for a slow subscriber before PUB drops (replay heals), up "
	    "to 2147483647"),
	KEY("replay", "endpoint", CONFIG_TEXT, replay_endpoint, "tcp://127.0.0.1:7603",
	    "ZeroMQ ROUTER answering ReplayRequest with ReplayReply"),
	KEY("replay", "max_updates", CONFIG_COUNT, replay_max_updates, "1000",
	    "most updates in one ReplayReply"),
	KEY("store", "path", CONFIG_TEXT, store_path, "var/store",
	    "directory of the LMDB store (created if missing)"),
	KEY("store", "map_size", CONFIG_BYTES, store_map_size_bytes, "1073741824",
	    "initial LMDB map size in bytes"),
	KEY("store", "map_max", CONFIG_BYTES, store_map_max_bytes, "17179869184",
	    "the map doubles up to this when full; at least map_size, and equal to it: "
	    "never grow"),
	KEY("store", "sync", CONFIG_SYNC, store_sync, "full",
	    "full: fsync every commit (an ACCEPTED ack means durable); nometa: "
	    "skip the meta-page sync (a crash may lose the last batch, never "
	    "corrupt); none: no fsync (tests and benchmarks only)"),
	KEY("store", "update_retention", CONFIG_COUNT, store_update_retention, "10000000",
	    "updates kept for replay; older ones are removed"),
	KEY("store", "dead_letter_keep_bytes", CONFIG_BYTES, store_dead_letter_keep_bytes, "65536",
	    "raw bytes kept of each dead letter (its full size is recorded)"),
	KEY_MOST("store", "update_max_age_days", CONFIG_LIMIT, store_update_max_age_days, "0",
	    DAYS_MOST, "updates older than this many days (up to 36500) are removed too; 0: no "
	    "age limit"),
	KEY("store", "dead_letter_max_count", CONFIG_LIMIT, store_dead_letter_max_count, "1000000",
	    "dead letters kept; older ones are removed; 0: no limit"),
	KEY_MOST("store", "dead_letter_max_age_days", CONFIG_LIMIT, store_dead_letter_max_age_days,
	    "0", DAYS_MOST, "dead letters older than this many days (up to 36500) are removed; "
	    "0: no age limit"),
	KEY("store", "prune_batch_limit", CONFIG_COUNT, store_prune_batch_limit, "1000",
	    "most records one pruning transaction removes; ingest waits for at most one"),
	KEY_MOST("store", "housekeeping_ms", CONFIG_COUNT, store_housekeeping_ms, "10000", MS_MOST,
	    "how often retention is applied, dead readers are cleared from the LMDB "
	    "reader table, and the running totals move on with the clock (up to a day)"),
	KEY("log", "level", CONFIG_LEVEL, log_level, "info",
	    "error, warning, info or debug"),
	KEY("http", "listen", CONFIG_LISTEN, http_listen, "127.0.0.1:7680",
	    "address:port of the HTTP API, stream, metrics and dashboard (docs/HTTP.md)"),
	KEY("http", "token", CONFIG_SECRET, http_token, "",
	    "a bearer token every route under /api/, /metrics and /readyz then needs "
	    "(/healthz and the dashboard's files stay open); empty: none (loopback only); "
	    "printed as (set) when set"),
	KEY("http", "hosts", CONFIG_HOSTS, http_hosts, "",
	    "the names a request's Host header may give besides localhost, 127.x.x.x and "
	    "[::1], comma-separated, no ports (say dash.ics.example for a proxy that passes "
	    "its own); empty: those alone while listen is loopback, any otherwise; *: any. "
	    "Others get 403, so that a web page cannot read the API by making its own name "
	    "resolve to this host (DNS rebinding)"),
	KEY_UPTO("http", "max_connections", http_max_connections, "64", COUNT_MOST,
	    "connections that have made a request, open at once (up to 65536); a request "
	    "on one more gets 503 (Retry-After: 1) and that connection is closed"),
	KEY_MOST("http", "timeout_ms", CONFIG_COUNT, http_timeout_ms, "10000", MS_MOST,
	    "a request (line and headers) must arrive within this (up to a day) of its "
	    "connection's accept or previous answer; idle connections close"),
	KEY_MOST("http", "max_request_bytes", CONFIG_BYTES, http_max_request_bytes, "16384",
	    FRAME_MOST, "request line and headers, up to 1G; larger requests are refused (413)"),
	KEY_UPTO("http", "sse_max_clients", http_sse_max_clients, "32", COUNT_MOST,
	    "/api/v1/stream clients at once (up to 65536); more get 503"),
	KEY("http", "sse_buffer_bytes", CONFIG_BYTES, http_sse_buffer_bytes, "1048576",
	    "bytes waiting unread for one stream client at most; one full for 2 s is "
	    "dropped with its position"),
	KEY("http", "fold_wait_factor", CONFIG_LIMIT, http_fold_wait_factor, "9",
	    "flow figures for an as_of before the running totals' are folded from every "
	    "spell, in slices: after a fold that took T in its slices, the next waits T "
	    "times this (others get 429 with Retry-After), so folds take at most "
	    "1/(1+this) of the time; 0: no wait"),
	KEY("http", "reading_slice_us", CONFIG_COUNT, http_reading_slice_us, "5000",
	    "delayed-discharge figures, flow folds and flow with many timers due are read "
	    "from the store a slice at a time, ingest and other requests running between "
	    "the slices: the most one slice takes, in microseconds (one person's reports, "
	    "one spell or one timer, at least)"),
	KEY("curve", "server_key_file", CONFIG_OPTIONAL, curve_server_key_file, "",
	    "commissiond's CURVE key pair (NAME.key of commissionctl keygen NAME, mode "
	    "0600): the ingest, publish and replay sockets then take only clients whose "
	    "public key is allowed; empty: plain ZeroMQ, for loopback only"),
	KEY("curve", "ingest_allow", CONFIG_OPTIONAL, curve_ingest_allow, "",
	    "file of the client public keys that may send to the ingest socket (the "
	    "adapters' NAME.pub, one a line); read again on SIGHUP"),
	KEY("curve", "subscribe_allow", CONFIG_OPTIONAL, curve_subscribe_allow, "",
	    "file of the client public keys that may read the publish and replay sockets; "
	    "read again on SIGHUP"),
	KEY("curve", "client_key_file", CONFIG_OPTIONAL, curve_client_key_file, "",
	    "the adapters' and commissionctl's CURVE key pair (NAME.key, mode 0600) when "
	    "commissiond uses CURVE"),
	KEY("curve", "server_public_key_file", CONFIG_OPTIONAL, curve_server_public_key_file, "",
	    "commissiond's public key (its NAME.pub), for the adapters and commissionctl"),
	KEY("daemon", "user", CONFIG_OPTIONAL, daemon_user, "",
	    "started as root, commissiond reads its keys and then runs as this account; "
	    "empty: it refuses to run as root"),
	KEY("daemon", "allow_root", CONFIG_BOOL, daemon_allow_root, "no",
	    "yes: run as root all the same (development and throwaway containers only)"),
	KEY("pseudonym", "key_file", CONFIG_TEXT, pseudonym_key_file, "var/pseudonym.key",
	    "the adapters' shared key: 64 hex characters, mode 0600, or 0640 owned by "
	    "root (make one with commissiond-hl7 keygen FILE)"),
	KEY_UPTO("adapter", "window", adapter_window, "256", COUNT_MOST,
	    "envelopes an adapter keeps in flight to commissiond, up to 65536"),
	KEY_UPTO("adapter", "resend_ms", adapter_resend_ms, "3000", 3600000,
	    "an envelope not acknowledged in this time (up to an hour) is sent again; none "
	    "answered for "
	    "10 times this, the adapter logs that commissiond does not answer (and when it "
	    "does again)"),
	KEY("adapter", "outbox_map_size", CONFIG_BYTES, adapter_outbox_map_bytes, "268435456",
	    "size of an adapter's outbox (its LMDB table; its log is 4 MiB more); when full "
	    "the source is told to resend later"),
	KEY("hl7", "listen", CONFIG_LISTEN_IP, hl7_listen, "127.0.0.1:2575",
	    "address:port of the MLLP listener"),
	KEY("hl7", "outbox", CONFIG_TEXT, hl7_outbox, "var/hl7-outbox",
	    "directory of commissiond-hl7's outbox (LMDB)"),
	KEY_MOST("hl7", "max_message_bytes", CONFIG_BYTES, hl7_max_message_bytes, "1048576",
	    FRAME_MOST, "larger HL7 messages are refused (AE) and the connection closed; up to "
	    "1G"),
	KEY_UPTO("hl7", "max_connections", hl7_max_connections, "256", COUNT_MOST,
	    "MLLP connections open at once (up to 65536); more wait in the listen queue"),
	KEY_MOST("hl7", "frame_timeout_ms", CONFIG_COUNT, hl7_frame_timeout_ms, "60000", MS_MOST,
	    "a connection whose message was begun (0x0B) and not ended this long (up to a "
	    "day), while being read, is closed with a warning: the sender stalled mid-message"),
	KEY("hl7", "provider_from_facility", CONFIG_BOOL, hl7_provider_from_facility, "yes",
	    "take MSH-4 itself as the provider when it is an ODS provider code and no "
	    "provider line names it"),
	KEY("hl7", "processing_ids", CONFIG_TEXT, hl7_processing_ids, "P",
	    "MSH-11 processing ids taken, separated by commas: P production, T training, "
	    "D debugging, or * for any (even none); a message with another is answered AE "
	    "and not sent, so that a test system's messages never count"),
	KEY("hl7", "provider", CONFIG_PROVIDER, hl7_providers, "",
	    "FACILITY=CODE: messages from sending facility FACILITY (MSH-4) are for "
	    "provider CODE; repeat the line for each facility"),
	KEY("spool", "directory", CONFIG_TEXT, spool_directory, "var/spool",
	    "councils' CSV extracts are dropped here (see docs/SPOOL.md); done/ and "
	    "failed/ are made inside it"),
	KEY("spool", "outbox", CONFIG_TEXT, spool_outbox, "var/spool-outbox",
	    "directory of commissiond-spool's outbox (LMDB)"),
	KEY_MOST("spool", "poll_ms", CONFIG_COUNT, spool_poll_ms, "1000", MS_MOST,
	    "how often the spool directory is looked at (up to a day)"),
	KEY_MOST("spool", "settle_ms", CONFIG_COUNT, spool_settle_ms, "2000", MS_MOST,
	    "a file is taken once its size and times have not changed for this long, up "
	    "to a day (raise it for a share that writes slowly; a sender should still write "
	    "NAME.part and rename it)"),
	KEY("spool", "max_file_bytes", CONFIG_BYTES, spool_max_file_bytes, "33554432",
	    "larger files go to failed/ with the reason; at most an eighth of [adapter] "
	    "outbox_map_size, which a file's events take 4 to 7 times over (more for very short rows)"),
};

#define N_KEYS (sizeof(config_keys) / sizeof(config_keys[0]))

static const char *const config_sync_names[] = {
	[STORE_SYNC_FULL] = "full",
	[STORE_SYNC_NOMETA] = "nometa",
	[STORE_SYNC_NONE] = "none",
};

const char *
config_sync_name(enum store_sync_mode mode)
{
	return config_sync_names[mode];
}

/* Whole decimal number, optionally followed by k, M or G (powers of 1024
 * for byte sizes only). -1: not such a number; -2: one, but more than
 * UINT64_MAX. */
static int
config_parse_number(const char *value, bool bytes, uint64_t *out)
{
	char *end;
	unsigned long long n;
	bool too_large;

	if (value[0] < '0' || value[0] > '9')
		return -1;
	errno = 0;
	n = strtoull(value, &end, 10);
	too_large = errno == ERANGE;
	if (errno != 0 && !too_large)
		return -1;
	if (bytes && *end != '\0' && end[1] == '\0') {
		unsigned shift = *end == 'k' || *end == 'K' ? 10 : *end == 'M' ? 20 : *end == 'G' ? 30 : 0;
		if (shift == 0)
			return -1;
		too_large = too_large || n > (UINT64_MAX >> shift);
		n <<= shift;
		end++;
	}
	if (*end != '\0')
		return -1;
	if (too_large)
		return -2;
	*out = n;
	return 0;
}

/* "FACILITY=CODE": one more sending facility and its provider. */
static int
config_add_provider(struct config *cfg, const struct config_key *k, const char *value,
    char *err, size_t errlen)
{
	const char *eq = strchr(value, '=');
	struct config_provider *p;
	size_t flen;

	if (value[0] == '\0')
		return 0; /* the default: none */
	if (cfg->n_hl7_providers == CONFIG_PROVIDERS_MAX) {
		snprintf(err, errlen, "[%s] %s: more than %d lines", k->section, k->name,
		    CONFIG_PROVIDERS_MAX);
		return -1;
	}
	p = &cfg->hl7_providers[cfg->n_hl7_providers];
	flen = eq ? (size_t)(eq - value) : 0;
	if (eq == NULL || flen == 0 || flen >= sizeof(p->facility) || strlen(eq + 1) == 0 ||
	    strlen(eq + 1) >= sizeof(p->provider)) {
		snprintf(err, errlen, "[%s] %s: \"%s\" is not FACILITY=CODE (a facility of up to "
				      "63 characters, an ODS code of up to 7)",
		    k->section, k->name, value);
		return -1;
	}
	memcpy(p->facility, value, flen);
	p->facility[flen] = '\0';
	strcpy(p->provider, eq + 1);
	cfg->n_hl7_providers++;
	return 0;
}

int
config_listen_split(const char *value, char *host, size_t hostsize, uint16_t *port)
{
	const char *colon = strrchr(value, ':');
	uint64_t n;

	if (colon == NULL || colon == value || (size_t)(colon - value) >= hostsize ||
	    config_parse_number(colon + 1, false, &n) < 0 || n == 0 || n > 65535)
		return -1;
	snprintf(host, hostsize, "%.*s", (int)(colon - value), value);
	*port = (uint16_t)n;
	return 0;
}

/* "HOST:PORT" with a port of 1 to 65535, as the listeners take it; numeric:
 * as commissiond-hl7 reads it (evutil_parse_sockaddr_port), HOST an IPv4
 * address or an IPv6 one in brackets. */
static bool
config_listen_valid(const char *value, bool numeric)
{
	char host[CONFIG_TEXT_MAX];
	struct sockaddr_storage ss;
	int sslen = sizeof(ss);
	uint16_t port;

	if (config_listen_split(value, host, sizeof(host), &port) < 0)
		return false;
	if (!numeric)
		return true;
	if (evutil_parse_sockaddr_port(value, (struct sockaddr *)&ss, &sslen) < 0)
		return false;
	/* libevent reads "::1:2575", with no brackets, as an address alone:
	 * port 0. */
	return ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port != 0
				       : ((struct sockaddr_in6 *)&ss)->sin6_port != 0;
}

/* A host name as a Host header gives it: letters, digits, dots and hyphens,
 * or an IPv6 address in brackets; n bytes of name. */
static bool
config_host_name_valid(const char *name, size_t n)
{
	if (n == 0 || n > 253)
		return false;
	if (name[0] == '[')
		return n > 2 && name[n - 1] == ']' && strspn(name + 1, "0123456789abcdefABCDEF:.") ==
		    n - 2;
	for (size_t i = 0; i < n; i++)
		if (!(isalnum((unsigned char)name[i]) || name[i] == '.' || name[i] == '-'))
			return false;
	return true;
}

/* The entry of a comma-separated list that starts at *at, spaces around it
 * left out: its start, with its length in *n; *at moves past its comma, or
 * to the end. */
static const char *
config_list_entry(const char **at, size_t *n)
{
	const char *start = *at + strspn(*at, " ");
	size_t len = strcspn(start, ",");

	*at = start + len + (start[len] == ',');
	while (len > 0 && start[len - 1] == ' ')
		len--;
	*n = len;
	return start;
}

/* "*", or names separated by commas (spaces around them allowed); false,
 * with the first entry that is not a name quoted into bad. */
static bool
config_hosts_valid(const char *value, char *bad, size_t badsize)
{
	const char *at = value;

	if (strcmp(value, "*") == 0 || value[0] == '\0')
		return true;
	do {
		size_t n;
		const char *name = config_list_entry(&at, &n);
		if (!config_host_name_valid(name, n)) {
			snprintf(bad, badsize, "%.*s", (int)n, name);
			return false;
		}
	} while (at[0] != '\0' || at[-1] == ','); /* "a," ends in an empty one */
	return true;
}

bool
config_host_is_loopback(const char *host)
{
	struct in_addr v4;

	if (evutil_ascii_strcasecmp(host, "localhost") == 0 || strcmp(host, "[::1]") == 0 ||
	    strcmp(host, "::1") == 0)
		return true;
	/* 127.0.0.0/8: the first byte of the address in network order. */
	return inet_pton(AF_INET, host, &v4) == 1 && (ntohl(v4.s_addr) >> 24) == 127;
}

bool
config_list_includes(const char *list, const char *name)
{
	for (const char *at = list; *at != '\0';) {
		size_t n;
		const char *entry = config_list_entry(&at, &n);
		if (n == strlen(name) && evutil_ascii_strncasecmp(entry, name, n) == 0)
			return true;
	}
	return false;
}

static int
config_apply(struct config *cfg, const struct config_key *k, const char *value,
    char *err, size_t errlen)
{
	void *dst = (char *)cfg + k->offset;

	switch (k->type) {
	case CONFIG_LISTEN:
	case CONFIG_LISTEN_IP:
		if (strlen(value) >= CONFIG_TEXT_MAX ||
		    !config_listen_valid(value, k->type == CONFIG_LISTEN_IP)) {
			snprintf(err, errlen, "[%s] %s: \"%.*s\" is not ADDRESS:PORT (%sa port of 1 "
					      "to 65535)",
			    k->section, k->name, CONFIG_TEXT_MAX - 1, value,
			    k->type == CONFIG_LISTEN_IP ? "an IPv4 address or [IPv6 address], " : "");
			return -1;
		}
		strcpy(dst, value);
		return 0;
	case CONFIG_SECRET:
	case CONFIG_OPTIONAL:
	case CONFIG_HOSTS: {
		char bad[CONFIG_TEXT_MAX];
		if (k->type == CONFIG_HOSTS && strlen(value) < CONFIG_TEXT_MAX &&
		    !config_hosts_valid(value, bad, sizeof(bad))) {
			snprintf(err, errlen, "[%s] %s: \"%s\" is not a host name (letters, digits, "
					      "dots and hyphens, or [IPv6], with no port); names are "
					      "separated by commas, or the value is * for any",
			    k->section, k->name, bad);
			return -1;
		}
		if (strlen(value) >= CONFIG_TEXT_MAX) {
			snprintf(err, errlen, "[%s] %s: at most %d characters", k->section, k->name,
			    CONFIG_TEXT_MAX - 1);
			return -1;
		}
		strcpy(dst, value);
		return 0;
	}
	case CONFIG_TEXT:
		if (value[0] == '\0' || strlen(value) >= CONFIG_TEXT_MAX) {
			snprintf(err, errlen, "[%s] %s: must be 1 to %d characters",
			    k->section, k->name, CONFIG_TEXT_MAX - 1);
			return -1;
		}
		strcpy(dst, value);
		return 0;
	case CONFIG_COUNT:
	case CONFIG_BYTES:
	case CONFIG_LIMIT: {
		uint64_t n;
		/* Parsed aside: a refused value leaves the setting as it was. */
		int rc = config_parse_number(value, k->type == CONFIG_BYTES, &n);
		if (rc == -2) {
			snprintf(err, errlen, "[%s] %s: \"%s\" is more than %" PRIu64 ", the most "
					      "allowed",
			    k->section, k->name, value, k->most != 0 ? k->most : UINT64_MAX);
			return -1;
		}
		if (rc < 0 || (n == 0 && k->type != CONFIG_LIMIT)) {
			snprintf(err, errlen, "[%s] %s: \"%s\" is not a %swhole number%s",
			    k->section, k->name, value, k->type == CONFIG_LIMIT ? "" : "positive ",
			    k->type == CONFIG_BYTES ? " of bytes (k, M and G allowed)"
			    : k->type == CONFIG_LIMIT ? " (0: no limit)" : "");
			return -1;
		}
		if (k->most != 0 && n > k->most) {
			snprintf(err, errlen, "[%s] %s: %" PRIu64 " is more than %" PRIu64
					      ", the most allowed",
			    k->section, k->name, n, k->most);
			return -1;
		}
		*(uint64_t *)dst = n;
		return 0;
	}
	case CONFIG_SYNC:
		for (size_t i = 0; i < sizeof(config_sync_names) / sizeof(config_sync_names[0]); i++) {
			if (strcmp(value, config_sync_names[i]) == 0) {
				*(enum store_sync_mode *)dst = (enum store_sync_mode)i;
				return 0;
			}
		}
		snprintf(err, errlen, "[%s] %s: \"%s\" is not full, nometa or none",
		    k->section, k->name, value);
		return -1;
	case CONFIG_BOOL:
		if (strcmp(value, "yes") == 0 || strcmp(value, "no") == 0) {
			*(bool *)dst = value[0] == 'y';
			return 0;
		}
		snprintf(err, errlen, "[%s] %s: \"%s\" is not yes or no", k->section, k->name, value);
		return -1;
	case CONFIG_PROVIDER:
		return config_add_provider(cfg, k, value, err, errlen);
	case CONFIG_LEVEL: {
		enum log_level level;
		if (strlen(value) >= sizeof(cfg->log_level) || log_level_parse(value, &level) < 0) {
			snprintf(err, errlen, "[%s] %s: \"%s\" is not error, warning, info or debug",
			    k->section, k->name, value);
			return -1;
		}
		strcpy(dst, value);
		return 0;
	}
	}
	return -1;
}

/* The index of section.key in config_keys, or -1. */
static int
config_key_index(const char *section, const char *key)
{
	for (size_t i = 0; i < N_KEYS; i++)
		if (strcmp(config_keys[i].section, section) == 0 &&
		    strcmp(config_keys[i].name, key) == 0)
			return (int)i;
	return -1;
}

/* The index of the first key of section, which stands for the section in
 * the loader's bookkeeping, or -1. */
static int
config_section_index(const char *section)
{
	for (size_t i = 0; i < N_KEYS; i++)
		if (strcmp(config_keys[i].section, section) == 0)
			return (int)i;
	return -1;
}

int
config_set(struct config *cfg, const char *section, const char *key,
    const char *value, char *err, size_t errlen)
{
	int i = config_key_index(section, key);

	if (i < 0) {
		snprintf(err, errlen, "[%s] %s: no such setting", section, key);
		return -1;
	}
	return config_apply(cfg, &config_keys[i], value, err, errlen);
}

int
config_set_argument(struct config *cfg, const char *arg, char *err, size_t errlen)
{
	char section[64], key[64];
	const char *dot = strchr(arg, '.'), *eq = strchr(arg, '=');

	if (dot == NULL || eq == NULL || dot > eq || (size_t)(dot - arg) >= sizeof(section) ||
	    (size_t)(eq - dot - 1) >= sizeof(key)) {
		snprintf(err, errlen, "--set %s: expected SECTION.KEY=VALUE", arg);
		return -1;
	}
	memcpy(section, arg, (size_t)(dot - arg));
	section[dot - arg] = '\0';
	memcpy(key, dot + 1, (size_t)(eq - dot - 1));
	key[eq - dot - 1] = '\0';
	return config_set(cfg, section, key, eq + 1, err, errlen);
}

int
config_read(struct config *cfg, const char *path, char *const *sets, int n_sets, char *err,
    size_t errlen)
{
	config_defaults(cfg);
	if (path != NULL && config_load(cfg, path, err, errlen) < 0)
		return -1;
	for (int i = 0; i < n_sets; i++)
		if (config_set_argument(cfg, sets[i], err, errlen) < 0)
			return -1;
	/* What the --set options made is held to the rules the file is. */
	return config_check(cfg, err, errlen);
}

void
config_defaults(struct config *cfg)
{
	char err[256];

	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < N_KEYS; i++) {
		if (config_apply(cfg, &config_keys[i], config_keys[i].default_value,
			err, sizeof(err)) < 0)
			fatal("built-in default is invalid: %s", err);
	}
}

/* ---------------------------------------------------------------- rules
 * What start-up would refuse in settings taken together: checked whenever
 * a file is read (start, --print-config, SIGHUP), so that none of them
 * passes what a start refuses. What needs the running system (an account,
 * a free port, a readable key) stays at start. */

static bool
config_rule_map(const struct config *cfg, char *why, size_t size)
{
	if (cfg->store_map_max_bytes >= cfg->store_map_size_bytes)
		return true;
	snprintf(why, size, "[store] map_max (%" PRIu64 ") is less than map_size (%" PRIu64 "): "
			    "the map is never smaller than map_size; make map_max at least map_size "
			    "(equal: never grow)",
	    cfg->store_map_max_bytes, cfg->store_map_size_bytes);
	return false;
}

static bool
config_rule_curve_lists(const struct config *cfg, char *why, size_t size)
{
	bool lists = cfg->curve_ingest_allow[0] != '\0' || cfg->curve_subscribe_allow[0] != '\0';

	if (cfg->curve_server_key_file[0] != '\0' || !lists)
		return true;
	snprintf(why, size, "[curve] an allow-list is set but server_key_file is empty: set it "
			    "(CURVE on) or clear the allow-lists (plain)");
	return false;
}

static bool
config_rule_curve_key(const struct config *cfg, char *why, size_t size)
{
	if (cfg->curve_server_key_file[0] == '\0' ||
	    (cfg->curve_ingest_allow[0] != '\0' && cfg->curve_subscribe_allow[0] != '\0'))
		return true;
	snprintf(why, size, "[curve] server_key_file is set: ingest_allow and subscribe_allow "
			    "must each name an allow-list file");
	return false;
}

/* [hl7] processing_ids: "*", or ids of HL7 table 0103 separated by commas. */
static bool
config_rule_processing_ids(const struct config *cfg, char *why, size_t size)
{
	const char *at = cfg->hl7_processing_ids;

	if (strcmp(at, "*") == 0)
		return true;
	do {
		size_t n;
		const char *id = config_list_entry(&at, &n);
		if (n != 1 || strchr("PTD", id[0]) == NULL) {
			snprintf(why, size, "[hl7] processing_ids: \"%.*s\" is not a processing id "
					    "(P production, T training, D debugging); ids are separated "
					    "by commas, or the value is * for any",
			    (int)n, id);
			return false;
		}
	} while (at[0] != '\0' || at[-1] == ',');
	return true;
}

static const struct config_rule {
	bool (*holds)(const struct config *cfg, char *why, size_t size);
	/* the settings it ties: a file's error names the last line of them */
	const char *section;
	const char *names[3];
} config_rules[] = {
	{ config_rule_map, "store", { "map_size", "map_max" } },
	{ config_rule_curve_lists, "curve", { "ingest_allow", "subscribe_allow", "server_key_file" } },
	{ config_rule_curve_key, "curve", { "server_key_file", "ingest_allow", "subscribe_allow" } },
	{ config_rule_processing_ids, "hl7", { "processing_ids" } },
};

/* The first rule cfg breaks, with why; NULL: none. */
static const struct config_rule *
config_rule_broken(const struct config *cfg, char *why, size_t size)
{
	for (size_t i = 0; i < sizeof(config_rules) / sizeof(config_rules[0]); i++)
		if (!config_rules[i].holds(cfg, why, size))
			return &config_rules[i];
	return NULL;
}

int
config_check(const struct config *cfg, char *err, size_t errlen)
{
	return config_rule_broken(cfg, err, errlen) == NULL ? 0 : -1;
}

/*
 * Loading a file. libinih reads it through config_read_line, which counts
 * the lines, so that every message names its own line: inih is told to stop
 * at the first error (a line it cannot read, or one config_on_key refuses),
 * and the reader keeps the line in hand. inih does not tell the handler of
 * section headers, so the reader notes each one, for the rule that a section
 * is given once. inih's inline comments (after ';') and multi-line values
 * (indented lines) are turned off: a value is the rest of its line.
 */
#define CONFIG_LINE_MAX 200 /* libinih's INI_MAX_LINE, the newline and NUL included */

struct config_load_state {
	struct config *cfg;
	FILE *file;
	int line;			/* the line in hand */
	char text[CONFIG_LINE_MAX];	/* and its text */
	int block_line;			/* the header of the section in hand; 0: none */
	int block_repeats;		/* the line where that section was first given; 0: new */
	int block_section;		/* that section's index (config_section_index); -1 */
	bool block_has_keys;
	int key_line[N_KEYS];		/* where each key was given; 0: not yet */
	int section_line[N_KEYS];	/* a section's header, at its config_section_index */
	bool failed;
	int failed_line;
	char why[384];
};

static void
config_load_fail(struct config_load_state *st, int line, const char *why)
{
	st->failed = true;
	st->failed_line = line;
	snprintf(st->why, sizeof(st->why), "%s", why);
}

/* The section in hand was given before: refused at its header. */
static void
config_block_repeat_fail(struct config_load_state *st)
{
	char why[256];
	const char *section = config_keys[st->block_section].section;

	snprintf(why, sizeof(why), "[%s] is given a second time (first at line %d): put all its "
				   "settings under one [%s] line",
	    section, st->block_repeats, section);
	config_load_fail(st, st->block_line, why);
}

/* Ends the section in hand (a header or the end of the file): one given
 * again with no setting in it is refused too. */
static bool
config_block_end(struct config_load_state *st)
{
	if (st->block_repeats == 0 || st->block_has_keys)
		return false;
	config_block_repeat_fail(st);
	return true;
}

/* A header naming no section there is: refused, listing those there are. */
static void
config_unknown_section_fail(struct config_load_state *st, const char *name)
{
	char why[384];
	size_t at = (size_t)snprintf(why, sizeof(why), "[%s]: no such section (the sections are",
	    name);

	for (size_t i = 0; i < N_KEYS && at < sizeof(why); i++)
		if (config_section_index(config_keys[i].section) == (int)i)
			at += (size_t)snprintf(why + at, sizeof(why) - at, "%s %s",
			    i == 0 ? "" : ",", config_keys[i].section);
	if (at < sizeof(why))
		snprintf(why + at, sizeof(why) - at, ")");
	config_load_fail(st, st->line, why);
}

/* A header line: the section it opens, and whether it was given before. */
static void
config_note_header(struct config_load_state *st, const char *start)
{
	const char *close = strchr(start, ']');
	char name[64];
	int section;

	st->block_line = st->line;
	st->block_repeats = 0;
	st->block_section = -1;
	st->block_has_keys = false;
	if (close == NULL)
		return; /* inih's error */
	snprintf(name, sizeof(name), "%.*s", (int)(close - start - 1), start + 1);
	section = (size_t)(close - start - 1) < sizeof(name) ? config_section_index(name) : -1;
	if (section < 0) {
		/* Refused here even with nothing under it: a misspelt
		 * [curv] would leave what was meant at its defaults. */
		config_unknown_section_fail(st, name);
		return;
	}
	st->block_section = section;
	if (st->section_line[section] != 0)
		st->block_repeats = st->section_line[section];
	else
		st->section_line[section] = st->line;
}

/* fgets for inih, one line a call, as inih counts them. */
static char *
config_read_line(char *str, int num, void *stream)
{
	struct config_load_state *st = stream;
	const char *start = str;
	size_t len;

	if (st->failed)
		return NULL;
	if (fgets(str, num, st->file) == NULL) {
		(void)config_block_end(st);
		return NULL;
	}
	st->line++;
	len = strlen(str);
	/* A line of the most characters, ended by CR LF: only the LF was
	 * left unread. */
	if (len + 1 == (size_t)num && str[len - 1] == '\r') {
		int next = getc(st->file);
		if (next == '\n')
			str[len - 1] = '\n';
		else if (next != EOF)
			ungetc(next, st->file);
	}
	/* inih would read the rest of a long line as a line of its own. */
	if (len + 1 == (size_t)num && str[len - 1] != '\n' && !feof(st->file)) {
		char why[128];
		snprintf(why, sizeof(why), "the line is longer than %d characters, the most a "
					   "line may have",
		    num - 2);
		config_load_fail(st, st->line, why);
		return NULL;
	}
	snprintf(st->text, sizeof(st->text), "%s", str);
	if (st->line == 1 && strncmp(start, "\xef\xbb\xbf", 3) == 0)
		start += 3; /* a UTF-8 byte-order mark, which inih skips */
	while (*start == ' ' || *start == '\t')
		start++;
	if (*start == '[') {
		if (config_block_end(st))
			return NULL;
		config_note_header(st, start);
		if (st->failed)
			return NULL;
	}
	return str;
}

/* Does value hold what looks like a comment: '#' or ';' at its start or
 * after a blank? */
static bool
config_value_has_comment(const char *value)
{
	for (const char *p = value; *p != '\0'; p++)
		if ((*p == '#' || *p == ';') && (p == value || p[-1] == ' ' || p[-1] == '\t'))
			return true;
	return false;
}

static int
config_on_key(void *user, const char *section, const char *name, const char *value)
{
	struct config_load_state *st = user;
	char why[384];
	int key;

	if (st->failed)
		return 0;
	st->block_has_keys = true;
	if (config_value_has_comment(value)) {
		snprintf(why, sizeof(why), "[%s] %s: a comment after a value is not allowed: put "
					   "it on a line of its own, starting with # or ;",
		    section, name);
		config_load_fail(st, st->line, why);
		return 0;
	}
	/* What is wrong with the line itself first, then where it is. */
	if (config_set(st->cfg, section, name, value, why, sizeof(why)) < 0) {
		if (section[0] == '\0')
			strncat(why, " (it comes before any [section] line)",
			    sizeof(why) - strlen(why) - 1);
		config_load_fail(st, st->line, why);
		return 0;
	}
	if (st->block_repeats != 0) {
		config_block_repeat_fail(st);
		return 0;
	}
	key = config_key_index(section, name);
	if (config_keys[key].type != CONFIG_PROVIDER && st->key_line[key] != 0) {
		snprintf(why, sizeof(why), "[%s] %s is given a second time (first at line %d): "
					   "keep one",
		    section, name, st->key_line[key]);
		config_load_fail(st, st->line, why);
		return 0;
	}
	if (st->key_line[key] == 0)
		st->key_line[key] = st->line;
	return 1;
}

/* What is wrong with a line inih could not read (st->text). */
static void
config_describe_bad_line(const struct config_load_state *st, char *why, size_t size)
{
	const char *start = st->text;

	while (*start == ' ' || *start == '\t')
		start++;
	if (*start == '[')
		snprintf(why, size, "a section header with no closing ]");
	else
		snprintf(why, size, "not an INI line (expected [section] or key = value; a "
				    "comment is a line of its own, starting with # or ;)");
}

/* The rules over what the file made: an error names the last line of the
 * file that gave one of the settings the broken rule ties. */
static int
config_load_check(const struct config_load_state *st, const char *path, char *err, size_t errlen)
{
	char why[384];
	const struct config_rule *rule = config_rule_broken(st->cfg, why, sizeof(why));
	int line = 0;

	if (rule == NULL)
		return 0;
	for (size_t i = 0; i < sizeof(rule->names) / sizeof(rule->names[0]); i++) {
		int key = rule->names[i] ? config_key_index(rule->section, rule->names[i]) : -1;
		if (key >= 0 && st->key_line[key] > line)
			line = st->key_line[key];
	}
	if (line > 0)
		snprintf(err, errlen, "%s:%d: %s", path, line, why);
	else
		snprintf(err, errlen, "%s: %s", path, why);
	return -1;
}

int
config_load(struct config *cfg, const char *path, char *err, size_t errlen)
{
	struct config_load_state st = { .cfg = cfg, .block_section = -1 };
	struct config saved = *cfg;
	struct stat sb;
	int fd, rc;

	/* O_NONBLOCK: a FIFO would block the open (and SIGHUP's reload, in the
	 * event loop) until a writer came; opened at once, it is refused. */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) < 0) {
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	/* A directory opens, and reads as an empty file. */
	if (fstat(fd, &sb) == 0 && !S_ISREG(sb.st_mode)) {
		snprintf(err, errlen, "%s: not a file (a configuration is an INI file)", path);
		close(fd);
		return -1;
	}
	if ((st.file = fdopen(fd, "r")) == NULL) {
		snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	/* libinih's switches are the process's; config is their one user. */
	ini_stop_on_first_error = true;
	ini_allow_inline_comments = false;
	ini_allow_multiline = false;
	rc = ini_parse_stream(config_read_line, &st, config_on_key, &st);
	if (st.failed)
		snprintf(err, errlen, "%s:%d: %s", path, st.failed_line, st.why);
	else if (rc == -2)
		snprintf(err, errlen, "%s: out of memory", path);
	else if (rc > 0) {
		char why[256];
		config_describe_bad_line(&st, why, sizeof(why));
		snprintf(err, errlen, "%s:%d: %s", path, rc, why);
	} else if (ferror(st.file))
		snprintf(err, errlen, "%s:%d: cannot read", path, st.line + 1);
	else if (config_load_check(&st, path, err, errlen) == 0) {
		fclose(st.file);
		return 0;
	}
	fclose(st.file);
	*cfg = saved; /* all or nothing: a bad file changes no setting */
	return -1;
}

/* "# meaning (default: x)", wrapped at 76 columns: every line stays far
 * below what the INI reader takes. */
static void
config_print_comment(FILE *out, const char *meaning, const char *default_value)
{
	char text[512];
	const char *p = text;

	snprintf(text, sizeof(text), "%s (default: %s)", meaning, default_value);
	while (*p != '\0') {
		size_t len = strlen(p), cut = len;
		if (len > 74) {
			cut = 74;
			while (cut > 0 && p[cut] != ' ')
				cut--;
			if (cut == 0)
				cut = 74;
		}
		fprintf(out, "# %.*s\n", (int)cut, p);
		p += cut;
		while (*p == ' ')
			p++;
	}
}

void
config_print(const struct config *cfg, FILE *out)
{
	const char *section = "";
	char value[CONFIG_TEXT_MAX + 16];

	fprintf(out, "# commissiond configuration (effective values; see docs/CONFIG.md)\n");
	for (size_t i = 0; i < N_KEYS; i++) {
		const struct config_key *k = &config_keys[i];

		if (strcmp(section, k->section) != 0) {
			section = k->section;
			fprintf(out, "\n[%s]\n", section);
		}
		config_print_comment(out, k->meaning, k->default_value);
		if (k->type == CONFIG_PROVIDER) {
			/* One line a mapping; none: the key shown empty. */
			for (size_t p = 0; p < cfg->n_hl7_providers; p++)
				fprintf(out, "%s = %s=%s\n", k->name, cfg->hl7_providers[p].facility,
				    cfg->hl7_providers[p].provider);
			if (cfg->n_hl7_providers == 0)
				fprintf(out, "%s = \n", k->name);
			continue;
		}
		config_setting_value(cfg, i, value, sizeof(value));
		fprintf(out, "%s = %s\n", k->name, value);
	}
}

/* ---------------------------------------------------------------- reload */

size_t
config_setting_count(void)
{
	return N_KEYS;
}

void
config_setting_name(size_t i, char *buf, size_t size)
{
	snprintf(buf, size, "%s.%s", config_keys[i].section, config_keys[i].name);
}

bool
config_setting_is_secret(size_t i)
{
	return config_keys[i].type == CONFIG_SECRET;
}

/* Where setting i lives in a config, and how many bytes it takes. */
static size_t
config_setting_size(size_t i)
{
	switch (config_keys[i].type) {
	case CONFIG_TEXT:
	case CONFIG_OPTIONAL:
	case CONFIG_SECRET:
	case CONFIG_LISTEN:
	case CONFIG_LISTEN_IP:
	case CONFIG_HOSTS:
		return CONFIG_TEXT_MAX;
	case CONFIG_LEVEL:
		return sizeof(((struct config *)0)->log_level);
	case CONFIG_COUNT:
	case CONFIG_BYTES:
	case CONFIG_LIMIT:
		return sizeof(uint64_t);
	case CONFIG_SYNC:
		return sizeof(enum store_sync_mode);
	case CONFIG_BOOL:
		return sizeof(bool);
	case CONFIG_PROVIDER:
		return sizeof(((struct config *)0)->hl7_providers);
	}
	return 0;
}

bool
config_setting_differs(const struct config *a, const struct config *b, size_t i)
{
	const struct config_key *k = &config_keys[i];
	const char *pa = (const char *)a + k->offset, *pb = (const char *)b + k->offset;

	if (k->type == CONFIG_TEXT || k->type == CONFIG_OPTIONAL || k->type == CONFIG_SECRET ||
	    k->type == CONFIG_LEVEL || k->type == CONFIG_LISTEN || k->type == CONFIG_LISTEN_IP ||
	    k->type == CONFIG_HOSTS)
		return strcmp(pa, pb) != 0;
	if (k->type == CONFIG_PROVIDER && a->n_hl7_providers != b->n_hl7_providers)
		return true;
	return memcmp(pa, pb, k->type == CONFIG_PROVIDER
		? a->n_hl7_providers * sizeof(a->hl7_providers[0])
		: config_setting_size(i)) != 0;
}

void
config_setting_copy(struct config *dst, const struct config *src, size_t i)
{
	const struct config_key *k = &config_keys[i];

	memcpy((char *)dst + k->offset, (const char *)src + k->offset, config_setting_size(i));
	if (k->type == CONFIG_PROVIDER)
		dst->n_hl7_providers = src->n_hl7_providers;
}

void
config_setting_value(const struct config *cfg, size_t i, char *buf, size_t size)
{
	const struct config_key *k = &config_keys[i];
	const void *src = (const char *)cfg + k->offset;

	switch (k->type) {
	case CONFIG_TEXT:
	case CONFIG_OPTIONAL:
	case CONFIG_LEVEL:
	case CONFIG_LISTEN:
	case CONFIG_LISTEN_IP:
	case CONFIG_HOSTS:
		snprintf(buf, size, "%s", (const char *)src);
		break;
	case CONFIG_COUNT:
	case CONFIG_BYTES:
	case CONFIG_LIMIT:
		snprintf(buf, size, "%" PRIu64, *(const uint64_t *)src);
		break;
	case CONFIG_SYNC:
		snprintf(buf, size, "%s", config_sync_name(*(const enum store_sync_mode *)src));
		break;
	case CONFIG_BOOL:
		snprintf(buf, size, "%s", *(const bool *)src ? "yes" : "no");
		break;
	case CONFIG_SECRET:
		/* Never show a secret: say whether one is set. */
		snprintf(buf, size, "%s", *(const char *)src ? "(set)" : "");
		break;
	case CONFIG_PROVIDER:
		snprintf(buf, size, "%zu mapping(s)", cfg->n_hl7_providers);
		break;
	}
}

void
config_warn_needs_restart(const struct config *running, const struct config *fresh, size_t i)
{
	char name[96], was[CONFIG_TEXT_MAX + 16], now[CONFIG_TEXT_MAX + 16];

	config_setting_name(i, name, sizeof(name));
	if (config_setting_is_secret(i)) {
		log_warning("reload: %s changed, but it needs a restart; the running value stays",
		    name);
		return;
	}
	config_setting_value(running, i, was, sizeof(was));
	config_setting_value(fresh, i, now, sizeof(now));
	log_warning("reload: %s changed to \"%s\", but it needs a restart; keeping \"%s\"", name,
	    now, was);
}
