/*
 * reload: SIGHUP. The configuration is made afresh (defaults, the file,
 * the --set options) and compared with the running one setting by setting.
 * Those in the table below change live, each logged; the rest (endpoints,
 * the store path, socket options) are bound for the life of the process:
 * each is logged as needing a restart and keeps its running value, once
 * for each change of the file. A file that does not parse changes nothing;
 * an allow-list that does not read keeps the running one, and the running
 * configuration keeps naming it.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "commissiond.h"
#include "curve.h"
#include "log.h"

/* Settings commissiond applies without a restart: those its modules read
 * from the running config at each use, and those the *_reconfigure
 * functions apply. */
static const char *const live_settings[] = {
	"log.level",
	"http.token",
	"http.hosts",
	"http.max_connections",
	"http.timeout_ms",
	"http.max_request_bytes",
	"http.sse_max_clients",
	"http.sse_buffer_bytes",
	"http.fold_wait_factor",
	"http.reading_slice_us",
	"ingest.batch_limit",
	"ingest.max_envelope_bytes",
	"replay.max_updates",
	"store.map_max",
	"store.update_retention",
	"store.update_max_age_days",
	"store.dead_letter_keep_bytes",
	"store.dead_letter_max_count",
	"store.dead_letter_max_age_days",
	"store.prune_batch_limit",
	"store.housekeeping_ms",
	"curve.ingest_allow",
	"curve.subscribe_allow",
};

/* The allow-lists: live only while CURVE runs, and only when the new file
 * reads. */
static const char *const allow_list_settings[] = {
	"curve.ingest_allow",
	"curve.subscribe_allow",
};

/* Sections only the adapters read: commissiond has nothing to apply. */
static const char *const adapter_sections[] = { "pseudonym.", "adapter.", "hl7.", "spool.",
	"curve.client_key_file", "curve.server_public_key_file" };

static bool
name_in(const char *name, const char *const *list, size_t n, bool prefix)
{
	for (size_t i = 0; i < n; i++)
		if (prefix ? strncmp(name, list[i], strlen(list[i])) == 0 : strcmp(name, list[i]) == 0)
			return true;
	return false;
}

#define IN(name, list, prefix) name_in(name, list, sizeof(list) / sizeof(list[0]), prefix)

/* The tables sized by the limits grow before the limits are used: a table
 * that cannot grow keeps its limit as it was (before's), so nothing ever
 * counts past what was allocated. */
static void
reload_grow(const struct reload_targets *t, const struct config *before)
{
	if (http_reconfigure(t->http) < 0) {
		log_error("reload: out of memory for %" PRIu64 " HTTP connections; "
			  "[http] max_connections stays %" PRIu64,
		    t->running->http_max_connections, before->http_max_connections);
		t->running->http_max_connections = before->http_max_connections;
		(void)http_reconfigure(t->http); /* the rest; the table is big enough */
	}
	if (ingest_reconfigure(t->ingest) < 0) {
		log_error("reload: out of memory for batches of %" PRIu64 " envelopes; "
			  "[ingest] batch_limit stays %" PRIu64,
		    t->running->ingest_batch_limit, before->ingest_batch_limit);
		t->running->ingest_batch_limit = before->ingest_batch_limit;
		(void)ingest_reconfigure(t->ingest);
	}
}

static void
reload_apply(const struct reload_targets *t, const struct config *before)
{
	struct store_options opt = {
		.map_max_bytes = t->running->store_map_max_bytes,
		.update_retention = t->running->store_update_retention,
		.dead_letter_keep_bytes = t->running->store_dead_letter_keep_bytes,
	};
	enum log_level level;

	if (log_level_parse(t->running->log_level, &level) == 0)
		log_set_level(level);
	store_reconfigure(t->store, &opt);
	reload_grow(t, before);
	housekeeping_reconfigure(t->housekeeping);
	/* The allow-lists are read again even when their paths are the same:
	 * the usual change is a key added to the file. */
	zap_reload(t->zap, t->running);
}

enum reload_verdict {
	RELOAD_LIVE,	/* applied now */
	RELOAD_RESTART, /* taken at the next start */
	RELOAD_REFUSED, /* kept as it runs; logged */
};

/* A changed allow-list path: applied when CURVE runs and the new list reads
 * (zap_reload reads it again to use it); with CURVE off, or the list emptied
 * to turn it off, it waits for a restart. A list that does not read is
 * refused here, so that the running configuration keeps naming the list
 * that is in force. */
static enum reload_verdict
reload_allow_list(const struct reload_targets *t, const char *name, const char *path,
    const char *was)
{
	struct curve_allow list;
	char err[768];

	if (!zap_enabled(t->zap) || path[0] == '\0')
		return RELOAD_RESTART;
	if (curve_allow_load(path, &list, err, sizeof(err)) < 0) {
		log_error("reload: %s \"%s\" is refused: %s; keeping \"%s\"", name, path, err, was);
		return RELOAD_REFUSED;
	}
	curve_allow_clear(&list);
	return RELOAD_LIVE;
}

/* The file as the last SIGHUP that read it made it: a setting that needs a
 * restart is reported once for each change of the file, not again at every
 * SIGHUP while the file differs from what runs. One daemon a process. */
static struct config reload_last_read;
static bool reload_have_last_read;

void
reload_config(const struct reload_targets *t)
{
	struct config fresh, before;
	char err[768], name[96], was[CONFIG_TEXT_MAX + 16], now[CONFIG_TEXT_MAX + 16];
	char waiting[512] = "";
	int said = 0, n_waiting = 0;

	if (config_read(&fresh, t->config_path, t->sets, t->n_sets, err, sizeof(err)) < 0) {
		log_error("reload: %s; keeping the running configuration", err);
		return;
	}
	before = *t->running;
	for (size_t i = 0; i < config_setting_count(); i++) {
		enum reload_verdict verdict = RELOAD_LIVE;

		if (!config_setting_differs(t->running, &fresh, i))
			continue;
		config_setting_name(i, name, sizeof(name));
		if (IN(name, adapter_sections, true))
			continue;
		config_setting_value(t->running, i, was, sizeof(was));
		config_setting_value(&fresh, i, now, sizeof(now));
		if (!IN(name, live_settings, false))
			verdict = RELOAD_RESTART;
		else if (IN(name, allow_list_settings, false))
			verdict = reload_allow_list(t, name, now, was);
		if (verdict == RELOAD_REFUSED) {
			said++;
			continue;
		}
		if (verdict == RELOAD_RESTART) {
			n_waiting++;
			if (strlen(waiting) + strlen(name) + 8 < sizeof(waiting))
				snprintf(waiting + strlen(waiting), sizeof(waiting) - strlen(waiting),
				    "%s%s", waiting[0] != '\0' ? ", " : "", name);
			else if (strstr(waiting, ", ...") == NULL)
				strcat(waiting, ", ..."); /* 8 bytes were kept for it */
			if (reload_have_last_read && !config_setting_differs(&reload_last_read, &fresh, i))
				continue; /* said at the SIGHUP that read this value */
			said++;
			config_warn_needs_restart(t->running, &fresh, i);
			continue;
		}
		said++;
		config_setting_copy(t->running, &fresh, i);
		/* A secret is named, never shown. */
		if (config_setting_is_secret(i))
			log_info("reload: %s changed", name);
		else
			log_info("reload: %s changed from \"%s\" to \"%s\"", name, was, now);
	}
	reload_last_read = fresh;
	reload_have_last_read = true;
	reload_apply(t, &before);
	if (said == 0 && n_waiting == 0)
		log_info("reload: the configuration is unchanged");
	else if (said == 0)
		log_info("reload: nothing new; %d setting(s) still wait for a restart: %s", n_waiting,
		    waiting);
}
