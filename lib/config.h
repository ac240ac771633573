/*
 * config: the settings of commissiond and its adapters (one file serves
 * them all), read from an INI file over embedded defaults. Owns the key
 * table, so parsing, --print-config and the docs agree.
 */
#ifndef CONFIG_H
#define CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Debian's libinih reads lines of up to 199 characters: a setting and its
 * value must fit on one, so that what --print-config writes loads back. */
#define CONFIG_TEXT_MAX 161

enum store_sync_mode { STORE_SYNC_FULL, STORE_SYNC_NOMETA, STORE_SYNC_NONE };

#define CONFIG_PROVIDERS_MAX 64

/* An HL7 sending facility (MSH-4) and the ODS provider it sends for. */
struct config_provider {
	char facility[64];
	char provider[8];
};

struct config {
	char ingest_endpoint[CONFIG_TEXT_MAX];
	char publish_endpoint[CONFIG_TEXT_MAX];
	char replay_endpoint[CONFIG_TEXT_MAX];
	uint64_t ingest_batch_limit;
	uint64_t ingest_max_envelope_bytes;
	uint64_t ingest_high_water_mark;
	uint64_t publish_high_water_mark;
	uint64_t replay_max_updates;
	char store_path[CONFIG_TEXT_MAX];
	uint64_t store_map_size_bytes;
	uint64_t store_map_max_bytes;
	enum store_sync_mode store_sync;
	uint64_t store_update_retention;
	uint64_t store_dead_letter_keep_bytes;
	uint64_t store_update_max_age_days;	/* 0: no limit */
	uint64_t store_dead_letter_max_count;	/* 0: no limit */
	uint64_t store_dead_letter_max_age_days; /* 0: no limit */
	uint64_t store_prune_batch_limit;
	uint64_t store_housekeeping_ms;
	char log_level[16];
	/* the adapters (commissiond-hl7, commissiond-spool) */
	char pseudonym_key_file[CONFIG_TEXT_MAX];
	uint64_t adapter_window;
	uint64_t adapter_resend_ms;
	uint64_t adapter_outbox_map_bytes;
	char hl7_listen[CONFIG_TEXT_MAX];
	char hl7_outbox[CONFIG_TEXT_MAX];
	uint64_t hl7_max_message_bytes;
	uint64_t hl7_max_connections;
	uint64_t hl7_frame_timeout_ms;
	bool hl7_provider_from_facility;
	char hl7_processing_ids[CONFIG_TEXT_MAX];
	struct config_provider hl7_providers[CONFIG_PROVIDERS_MAX];
	size_t n_hl7_providers;
	char spool_directory[CONFIG_TEXT_MAX];
	char spool_outbox[CONFIG_TEXT_MAX];
	uint64_t spool_poll_ms;
	uint64_t spool_settle_ms;
	uint64_t spool_max_file_bytes;
	/* commissiond's HTTP interface (docs/HTTP.md) */
	char http_listen[CONFIG_TEXT_MAX];
	char http_token[CONFIG_TEXT_MAX];
	char http_hosts[CONFIG_TEXT_MAX];
	uint64_t http_max_connections;
	uint64_t http_timeout_ms;
	uint64_t http_max_request_bytes;
	uint64_t http_sse_max_clients;
	uint64_t http_fold_wait_factor;
	uint64_t http_reading_slice_us;
	uint64_t http_sse_buffer_bytes;
	/* ZeroMQ CURVE (docs/SECURITY.md): the daemon's side, then the clients' */
	char curve_server_key_file[CONFIG_TEXT_MAX];
	char curve_ingest_allow[CONFIG_TEXT_MAX];
	char curve_subscribe_allow[CONFIG_TEXT_MAX];
	char curve_client_key_file[CONFIG_TEXT_MAX];
	char curve_server_public_key_file[CONFIG_TEXT_MAX];
	/* who commissiond runs as */
	char daemon_user[CONFIG_TEXT_MAX];
	bool daemon_allow_root;
};

/* Fill cfg with the embedded defaults. */
void config_defaults(struct config *cfg);

/*
 * Read path over what cfg holds. Returns 0, or -1 with err naming the line,
 * the key and what is wrong (a line that is not INI, unknown section or key,
 * a key or section given twice, bad value, a rule of config_check broken).
 */
int config_load(struct config *cfg, const char *path, char *err, size_t errlen);

/*
 * The rules that tie settings together, which start-up would refuse
 * ([store] map_max at least map_size; [curve] allow-lists and
 * server_key_file set together). config_load applies them to what the file
 * makes; call this after the --set options too. 0, or -1 with err.
 */
int config_check(const struct config *cfg, char *err, size_t errlen);

/*
 * A listen setting ("HOST:PORT", as config_load has checked it) split
 * into its host (a NUL-terminated copy) and its port, 1 to 65535. -1 when
 * value is no such thing, or its host does not fit.
 */
int config_listen_split(const char *value, char *host, size_t hostsize, uint16_t *port);

/* Is host (a name or address, IPv6 with or without brackets) this host
 * itself: localhost, 127.0.0.0/8 or ::1? */
bool config_host_is_loopback(const char *host);

/* Is name one of the entries of list (comma-separated, spaces around
 * them allowed: [http] hosts, [hl7] processing_ids), compared without
 * regard to case? */
bool config_list_includes(const char *list, const char *name);

/*
 * The configuration as a start makes it: the defaults, the file at path
 * (NULL: none) over them, the n_sets --set options ("section.key=value")
 * over that, all held to config_check. The daemon and the adapters read it
 * so at start and again at SIGHUP. -1 with err, naming the first error.
 */
int config_read(struct config *cfg, const char *path, char *const *sets, int n_sets, char *err,
    size_t errlen);

/* Set one "section.key" to a text value, as the file would; -1 with err. */
int config_set(struct config *cfg, const char *section, const char *key,
    const char *value, char *err, size_t errlen);

/* Set one setting from "section.key=value" (the --set option); -1 with err. */
int config_set_argument(struct config *cfg, const char *arg, char *err, size_t errlen);

/* Write the effective configuration as an INI file, every key documented. */
void config_print(const struct config *cfg, FILE *out);

const char *config_sync_name(enum store_sync_mode mode);

/* ---- comparing two configurations setting by setting (reload). */
size_t config_setting_count(void);
/* "section.name" of setting i into buf. */
void config_setting_name(size_t i, char *buf, size_t size);
/* Is setting i a secret, whose value is never shown? */
bool config_setting_is_secret(size_t i);
bool config_setting_differs(const struct config *a, const struct config *b, size_t i);
/* Copy setting i from src to dst. */
void config_setting_copy(struct config *dst, const struct config *src, size_t i);
/* Setting i of cfg as text, as --print-config shows it ("(set)" for a
 * secret). */
void config_setting_value(const struct config *cfg, size_t i, char *buf, size_t size);
/* Log that setting i changed from running to fresh but needs a restart,
 * the running value kept (a secret named, never shown): what commissiond
 * and the adapters say on SIGHUP. */
void config_warn_needs_restart(const struct config *running, const struct config *fresh,
    size_t i);

#endif
