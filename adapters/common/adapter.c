/*
 * adapter: the program around an adapter's source side. Owns the event
 * base, the ZeroMQ context, the pseudonymiser, the outbox and the client.
 */
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <systemd/sd-daemon.h>
#include <zmq.h>

#include "adapter.h"
#include "log.h"
#include "loop.h"
#include "sighup.h"

static void
adapter_usage(const struct adapter_spec *spec, FILE *out)
{
	fprintf(out,
	    "usage: %s [--config FILE] [--set SECTION.KEY=VALUE]... [--print-config]\n"
	    "       %s keygen FILE\n"
	    "\n%s\n\n"
	    "  -c, --config FILE    read settings from FILE (INI; the file commissiond reads)\n"
	    "  -s, --set S.K=V      set one setting after the file\n"
	    "  -p, --print-config   print the effective settings, documented, and exit\n"
	    "  -h, --help           this text\n"
	    "  keygen FILE          write a new pseudonym key (mode 0600) to FILE; every\n"
	    "                       adapter of an ICS must use the same key\n",
	    spec->name, spec->name, spec->summary);
}

/* What a put's end means whoever waited for it: deliver, or say why not. */
static enum outbox_result
adapter_put_done(struct adapter *a, enum outbox_result r)
{
	if (r == OUTBOX_OK)
		client_kick(a->client);
	else
		log_error("%s", outbox_error(a->outbox));
	return r;
}

enum outbox_result
adapter_put(struct adapter *a, const struct outbox_item *items, size_t n)
{
	return adapter_put_done(a, outbox_put(a->outbox, items, n, NULL));
}

/* Finish the puts in flight that are done, oldest first, or (wait) all of
 * them, and tell each whoever started it. */
static void
adapter_put_collect(struct adapter *a, bool wait)
{
	while (a->n_puts > 0 && (wait || outbox_put_ready(a->outbox))) {
		struct adapter_put_waiter w = a->put_waiters[a->put_head];
		enum outbox_result r = adapter_put_done(a, outbox_put_finish(a->outbox, NULL));
		a->put_head = (a->put_head + 1) % OUTBOX_PIPELINE;
		a->n_puts--;
		/* Last: it may start the next put. */
		if (w.fn != NULL)
			w.fn(w.arg, r);
	}
}

void
adapter_put_wait(struct adapter *a)
{
	adapter_put_collect(a, true);
}

/* A lane of the outbox is done. */
static void
adapter_on_put_done(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	adapter_put_collect(arg, false);
}

enum outbox_result
adapter_put_start(struct adapter *a, const struct outbox_item *items, size_t n,
    void (*done)(void *arg, enum outbox_result r), void *arg)
{
	enum outbox_result r;

	if (a->put_done == NULL) {
		a->put_done = event_new(a->base, outbox_put_fd(a->outbox), EV_READ | EV_PERSIST,
		    adapter_on_put_done, a);
		if (a->put_done == NULL || event_add(a->put_done, NULL) < 0) {
			log_error("cannot watch the outbox's commit threads");
			return OUTBOX_FAILED;
		}
	}
	r = outbox_put_start(a->outbox, items, n);
	if (r == OUTBOX_BUSY)
		return r; /* not an error: the caller starts it again later */
	if (r != OUTBOX_OK)
		return adapter_put_done(a, r);
	a->put_waiters[(a->put_head + a->n_puts) % OUTBOX_PIPELINE] =
	    (struct adapter_put_waiter){ done, arg };
	a->n_puts++;
	return OUTBOX_OK;
}

bool
adapter_put_room(const struct adapter *a)
{
	return outbox_put_room(a->outbox);
}

#define ADAPTER_SETS_MAX 64

struct adapter_run {
	struct adapter a;
	const struct adapter_spec *spec;
	const char *config_path;
	/* The --set options, applied after the file at start and at SIGHUP. */
	char *sets[ADAPTER_SETS_MAX];
	int n_sets;
	struct event *sigterm, *sigint, *sighup, *watchdog, *log_flush;
	/* The file as the last SIGHUP read it: a setting that needs a restart
	 * is said once for each change of the file, not at every SIGHUP. */
	struct config last_read;
};

/* Whether the adapter reads setting name (a "section.key"): the sections
 * of both adapters, the one of its own source (its program's name after
 * "commissiond-"), and the client's endpoint and keys. */
static bool
adapter_reads_setting(const struct adapter_spec *spec, const char *name)
{
	static const char *const common[] = { "pseudonym.", "adapter.", "ingest.endpoint",
		"curve.client_key_file", "curve.server_public_key_file" };
	static const char prefix[] = "commissiond-";
	const char *own = spec->name;
	size_t n;

	for (size_t i = 0; i < sizeof(common) / sizeof(common[0]); i++)
		if (strncmp(name, common[i], strlen(common[i])) == 0)
			return true;
	if (strncmp(own, prefix, sizeof(prefix) - 1) == 0)
		own += sizeof(prefix) - 1;
	n = strlen(own);
	return strncmp(name, own, n) == 0 && name[n] == '.';
}

/* SIGHUP: read the file again; the log level changes live. Every other
 * setting the adapter reads (endpoints, paths, keys, the window) is bound
 * for the life of the process: a change is logged by name, as needing a
 * restart, and the running value stays. A bad file changes nothing. */
static void
adapter_on_reload(evutil_socket_t sig, short what, void *arg)
{
	struct adapter_run *run = arg;
	struct config fresh;
	enum log_level level;
	char err[768], name[96];

	(void)sig;
	(void)what;
	sd_notify(0, "RELOADING=1");
	if (config_read(&fresh, run->config_path, run->sets, run->n_sets, err, sizeof(err)) < 0) {
		log_error("reload: %s; keeping the running configuration", err);
		sd_notify(0, "READY=1");
		return;
	}
	if (log_level_parse(fresh.log_level, &level) == 0) {
		log_set_level(level);
		log_info("reload: log level %s", log_level_name(level));
	}
	for (size_t i = 0; i < config_setting_count(); i++) {
		if (!config_setting_differs(run->a.cfg, &fresh, i) ||
		    !config_setting_differs(&run->last_read, &fresh, i))
			continue;
		config_setting_name(i, name, sizeof(name));
		if (strcmp(name, "log.level") != 0 && adapter_reads_setting(run->spec, name))
			config_warn_needs_restart(run->a.cfg, &fresh, i);
	}
	run->last_read = fresh;
	sd_notify(0, "READY=1");
}

static void
adapter_on_stop(evutil_socket_t sig, short what, void *arg)
{
	struct adapter_run *run = arg;
	struct client_stats st;
	struct outbox_stats ost;

	(void)what;
	sd_notify(0, "STOPPING=1");
	run->spec->stop(&run->a);
	client_get_stats(run->a.client, &st);
	outbox_get_stats(run->a.outbox, &ost);
	log_info("signal %d: stopping; %" PRIu64 " sent, %" PRIu64 " sent again, %" PRIu64
		 " accepted, %" PRIu64 " duplicate, %" PRIu64 " rejected, %" PRIu64
		 " retry later, %" PRIu64 " in flight (kept in the outbox)",
	    (int)sig, st.sent, st.resent, st.accepted, st.duplicates, st.rejected, st.retry_later,
	    st.in_flight);
	/* Group commit at work: envelopes per fsync (docs/OPERATIONS.md). */
	log_info("outbox: %" PRIu64 " envelopes put in %" PRIu64 " commits; %" PRIu64
		 " settled; %" PRIu64 " commits (fsyncs) in all",
	    ost.put, ost.put_commits, ost.settled, ost.commits);
	event_base_loopbreak(run->a.base);
}

static void
adapter_on_watchdog(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	sd_notify(0, "WATCHDOG=1");
}

/* The rate-limited log's counts of what it held back, now and then. */
static void
adapter_on_log_flush(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	log_flush_suppressed(false);
}

static int
adapter_run(struct adapter_run *run)
{
	const struct config *cfg = run->a.cfg;
	struct client_options copt = {
		.endpoint = cfg->ingest_endpoint,
		.window = cfg->adapter_window,
		.resend_ms = cfg->adapter_resend_ms,
	};
	struct outbox_counts counts = { 0 };
	struct curve_client curve;
	uint64_t watchdog_usec;
	bool loop_failed;
	char err[768];

	if (curve_client_load(cfg, &curve, err, sizeof(err)) < 0)
		fatal("%s", err);
	copt.curve = &curve;
	run->a.pseudonymiser = pseudonymiser_open(cfg->pseudonym_key_file, err, sizeof(err));
	if (run->a.pseudonymiser == NULL)
		fatal("%s", err);
	run->a.outbox = outbox_open(run->spec->outbox_path(cfg), cfg->adapter_outbox_map_bytes,
	    err, sizeof(err));
	if (run->a.outbox == NULL)
		fatal("%s", err);
	run->a.base = event_base_new();
	run->a.zmq_ctx = zmq_ctx_new();
	if (run->a.base == NULL || run->a.zmq_ctx == NULL)
		fatal("cannot create the event loop or the ZeroMQ context");
	run->a.client = client_new(run->a.base, run->a.zmq_ctx, run->a.outbox, &copt, err,
	    sizeof(err));
	if (run->a.client == NULL)
		fatal("%s", err);
	if (run->spec->start(&run->a, err, sizeof(err)) < 0)
		fatal("%s", err);
	run->sigterm = evsignal_new(run->a.base, SIGTERM, adapter_on_stop, run);
	run->sigint = evsignal_new(run->a.base, SIGINT, adapter_on_stop, run);
	run->sighup = evsignal_new(run->a.base, SIGHUP, adapter_on_reload, run);
	if (run->sigterm == NULL || run->sigint == NULL || run->sighup == NULL ||
	    evsignal_add(run->sigterm, NULL) < 0 || evsignal_add(run->sigint, NULL) < 0 ||
	    evsignal_add(run->sighup, NULL) < 0)
		fatal("cannot install signal handlers");
	sighup_hold(false); /* held since adapter_main began */
	if (sd_watchdog_enabled(0, &watchdog_usec) > 0) {
		struct timeval half = { (time_t)(watchdog_usec / 2000000),
			(suseconds_t)(watchdog_usec / 2 % 1000000) };
		run->watchdog = event_new(run->a.base, -1, EV_PERSIST, adapter_on_watchdog, NULL);
		if (run->watchdog == NULL || event_add(run->watchdog, &half) < 0)
			fatal("cannot start the watchdog timer");
	}
	run->log_flush = event_new(run->a.base, -1, EV_PERSIST, adapter_on_log_flush, NULL);
	if (run->log_flush == NULL || event_add(run->log_flush, &(struct timeval){ 5, 0 }) < 0)
		fatal("cannot start the log timer");
	outbox_counts(run->a.outbox, &counts);
	log_info("ready: delivering to %s%s; outbox %s (%" PRIu64 " pending, %" PRIu64
		 " dead letters)",
	    cfg->ingest_endpoint, curve.enabled ? " with CURVE" : "", run->spec->outbox_path(cfg),
	    counts.pending,
	    counts.dead_letters);
	sd_notifyf(0, "READY=1\nSTATUS=Ready: %" PRIu64 " envelopes pending", counts.pending);
	client_kick(run->a.client);

	loop_failed = loop_run(run->a.base) < 0;

	run->spec->destroy(&run->a);
	adapter_put_wait(&run->a);
	if (run->a.put_done != NULL)
		event_free(run->a.put_done);
	client_destroy(&run->a.client);
	curve_pair_wipe(&curve.own);
	if (run->watchdog != NULL)
		event_free(run->watchdog);
	event_free(run->log_flush);
	event_free(run->sigterm);
	event_free(run->sigint);
	event_free(run->sighup);
	zmq_ctx_term(run->a.zmq_ctx);
	event_base_free(run->a.base);
	outbox_close(&run->a.outbox);
	pseudonymiser_destroy(&run->a.pseudonymiser);
	log_flush_suppressed(true);
	if (loop_failed)
		return EXIT_FAILURE;
	log_info("stopped cleanly");
	return 0;
}

int
adapter_main(int argc, char **argv, const struct adapter_spec *spec)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "set", required_argument, NULL, 's' },
		{ "print-config", no_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct config cfg;
	struct adapter_run run = { .spec = spec };
	enum log_level level;
	bool print = false;
	char err[768];
	int ch;

	log_init(spec->name, LOG_LEVEL_INFO);
	sighup_hold(true); /* until its handler is in place */
	while ((ch = getopt_long(argc, argv, "+c:s:ph", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			run.config_path = optarg;
			break;
		case 's':
			if (run.n_sets == ADAPTER_SETS_MAX)
				fatal("too many --set options (at most %d)", ADAPTER_SETS_MAX);
			run.sets[run.n_sets++] = optarg;
			break;
		case 'p':
			print = true;
			break;
		case 'h':
			adapter_usage(spec, stdout);
			return 0;
		default:
			adapter_usage(spec, stderr);
			return 2;
		}
	}
	if (config_read(&cfg, run.config_path, run.sets, run.n_sets, err, sizeof(err)) < 0)
		fatal("config: %s", err);
	if (sodium_init() < 0)
		fatal("libsodium failed to initialise");
	if (optind < argc && strcmp(argv[optind], "keygen") == 0) {
		if (optind + 2 != argc) {
			adapter_usage(spec, stderr);
			return 2;
		}
		if (pseudonym_keygen(argv[optind + 1], err, sizeof(err)) < 0) {
			fprintf(stderr, "%s: keygen: %s\n", spec->name, err);
			return 1;
		}
		fprintf(stderr, "%s: wrote a new pseudonym key to %s\n", spec->name, argv[optind + 1]);
		return 0;
	}
	if (optind != argc) {
		adapter_usage(spec, stderr);
		return 2;
	}
	if (print) {
		config_print(&cfg, stdout);
		return 0;
	}
	if (log_level_parse(cfg.log_level, &level) == 0)
		log_set_level(level);
	signal(SIGPIPE, SIG_IGN);
	run.a.cfg = &cfg;
	run.last_read = cfg;
	return adapter_run(&run);
}
