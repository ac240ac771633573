/*
 * main: commissiond's start-up, signals and shutdown. Owns the event base,
 * the ZeroMQ context and the store; wires ingest, publish and replay to them.
 */
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <sodium.h>
#include <systemd/sd-daemon.h>
#include <zmq.h>

#include "commissiond.h"
#include "log.h"
#include "loop.h"
#include "sighup.h"

struct daemon {
	struct config cfg;
	const char *config_path;
	struct event_base *base;
	void *zmq_ctx;
	struct store *store;
	struct publish *pub;
	struct live *live;
	struct metrics *metrics;
	struct stream *stream;
	struct http *http;
	struct ingest *ingest;
	struct replay *replay;
	struct zap *zap;
	struct housekeeping *housekeeping;
	struct service *service;
	struct store_lock *lock;
	char **sets;
	int n_sets;
	struct event *sigterm, *sigint, *sighup;
	bool store_unusable; /* exit non-zero: the service manager starts it again */
};

static void
usage(FILE *out)
{
	fprintf(out,
	    "usage: commissiond [--config FILE] [--set SECTION.KEY=VALUE]... [--print-config]\n"
	    "\n"
	    "The commissioning integration daemon: takes Envelopes on a ZeroMQ ROUTER,\n"
	    "stores them durably in LMDB, acknowledges, and publishes updates.\n"
	    "\n"
	    "  -c, --config FILE    read settings from FILE (INI) over the embedded defaults\n"
	    "  -s, --set S.K=V      set one setting, after the file (e.g. store.path=/tmp/s)\n"
	    "  -p, --print-config   print the effective settings, documented, and exit\n"
	    "  -h, --help           this text\n");
}

static void
on_stop_signal(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;

	(void)what;
	/* Callbacks run one at a time: the batch in hand was committed,
	 * acked and published before this one runs. */
	log_info("signal %d: stopping", (int)sig);
	service_stopping(d->service);
	ingest_stop(d->ingest);
	event_base_loopbreak(d->base);
}

static void
on_reload_signal(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;
	struct reload_targets t = {
		.running = &d->cfg,
		.config_path = d->config_path,
		.sets = d->sets,
		.n_sets = d->n_sets,
		.http = d->http,
		.ingest = d->ingest,
		.store = d->store,
		.housekeeping = d->housekeeping,
		.zap = d->zap,
	};

	(void)sig;
	(void)what;
	sd_notify(0, "RELOADING=1");
	reload_config(&t);
	sd_notify(0, "READY=1");
}

/* LMDB's environment cannot be used again in this process (MDB_PANIC: a
 * commit failed writing its meta page). The batch in hand is answered
 * RETRY_LATER; the loop stops after it, and the exit status asks for a
 * restart, which opens the store afresh. */
static void
on_store_unusable(void *arg)
{
	struct daemon *d = arg;

	log_error("store: the store is unusable after a failed write (MDB_PANIC); exiting so "
		  "that the service manager starts commissiond again");
	d->store_unusable = true;
	service_stopping(d->service);
	event_base_loopbreak(d->base);
}

/* After each committed batch: stream it at once. */
static void
on_committed(void *stream)
{
	stream_pump(stream);
}

/* A socket that is readable again after each batch is made active at
 * once (zwatch): without a bound, libevent would run it again and again in
 * one pass under steady load, and never look at signals, timers or HTTP. */
static struct event_base *
daemon_event_base(void)
{
	struct event_config *ec = event_config_new();
	struct event_base *base;

	if (ec == NULL || event_config_set_max_dispatch_interval(ec, NULL, 8, 0) < 0)
		fatal("cannot configure the event loop");
	base = event_base_new_with_config(ec);
	event_config_free(ec);
	return base;
}

static void
daemon_start(struct daemon *d)
{
	struct store_options opt = {
		.path = d->cfg.store_path,
		.map_size_bytes = d->cfg.store_map_size_bytes,
		.map_max_bytes = d->cfg.store_map_max_bytes,
		.sync_mode = (int)d->cfg.store_sync,
		.update_retention = d->cfg.store_update_retention,
		.dead_letter_keep_bytes = d->cfg.store_dead_letter_keep_bytes,
	};
	struct store_counts counts;
	char err[768];

	service_status("starting");
	/* One daemon a store: a second one, or a restore, must not write
	 * under this one. */
	if ((d->lock = store_lock_take(d->cfg.store_path, "commissiond", err, sizeof(err))) == NULL)
		fatal("%s", err);
	service_status("opening store %s", d->cfg.store_path);
	d->store = store_open(&opt, err, sizeof(err));
	if (d->store == NULL)
		fatal("%s", err);
	if (store_read_counts(d->store, &counts) != STORE_OK)
		fatal("store: %s", store_error(d->store));
	d->base = daemon_event_base();
	d->zmq_ctx = zmq_ctx_new();
	if (d->base == NULL || d->zmq_ctx == NULL)
		fatal("cannot create the event loop or the ZeroMQ context");
	store_on_unusable(d->store, on_store_unusable, d);
	if ((d->metrics = metrics_new()) == NULL)
		fatal("out of memory");
	if (zap_start(d->zap, d->base, d->zmq_ctx, d->metrics, err, sizeof(err)) < 0)
		fatal("%s", err);
	/* The picture in memory, so that updates carry figures. */
	if ((d->live = live_new(d->store, err, sizeof(err))) == NULL)
		fatal("%s", err);
	if ((d->service = service_new(d->base, d->store)) == NULL ||
	    (d->housekeeping = housekeeping_new(d->base, &d->cfg, d->store, d->live, d->metrics)) == NULL)
		fatal("out of memory");
	if ((d->pub = publish_new(d->zmq_ctx, &d->cfg, d->zap, err, sizeof(err))) == NULL ||
	    (d->replay = replay_new(d->base, d->zmq_ctx, &d->cfg, d->zap, d->store, d->metrics, err,
		 sizeof(err))) == NULL ||
	    (d->ingest = ingest_new(d->base, d->zmq_ctx, &d->cfg, d->zap, d->store, d->pub, d->live,
		 d->housekeeping, d->metrics, err, sizeof(err))) == NULL)
		fatal("%s", err);
	if ((d->stream = stream_new(d->base, &d->cfg, d->store, d->metrics)) == NULL)
		fatal("cannot start the stream");
	/* A committed batch is streamed at once, not at the next tick. */
	ingest_on_committed(d->ingest, on_committed, d->stream);
	service_watch_stream(d->service, d->stream);
	if ((d->http = http_new(d->base, &d->cfg, d->store, d->live, d->ingest, d->metrics,
		 d->stream, err, sizeof(err))) == NULL)
		fatal("%s", err);

	d->sigterm = evsignal_new(d->base, SIGTERM, on_stop_signal, d);
	d->sigint = evsignal_new(d->base, SIGINT, on_stop_signal, d);
	d->sighup = evsignal_new(d->base, SIGHUP, on_reload_signal, d);
	if (d->sigterm == NULL || d->sigint == NULL || d->sighup == NULL ||
	    evsignal_add(d->sigterm, NULL) < 0 || evsignal_add(d->sigint, NULL) < 0 ||
	    evsignal_add(d->sighup, NULL) < 0)
		fatal("cannot install signal handlers");
	sighup_hold(false); /* held since main began */
	log_info("ready: store %s (%" PRIu64 " events, last update %" PRIu64
		 ", sync %s); ingest %s; publish %s; replay %s; http %s",
	    d->cfg.store_path, counts.last_event_sequence, counts.last_update_sequence,
	    config_sync_name(d->cfg.store_sync), d->cfg.ingest_endpoint,
	    d->cfg.publish_endpoint, d->cfg.replay_endpoint, d->cfg.http_listen);
	service_ready(d->service);
}

static void
daemon_stop(struct daemon *d)
{
	service_status("stopping: closing the store");
	housekeeping_destroy(&d->housekeeping);
	stream_destroy(&d->stream);
	http_destroy(&d->http);
	ingest_destroy(&d->ingest);
	replay_destroy(&d->replay);
	publish_destroy(&d->pub);
	live_destroy(&d->live);
	metrics_destroy(&d->metrics);
	zap_destroy(&d->zap); /* its socket too: zmq_ctx_term waits for every socket */
	/* zmq_ctx_term waits up to each socket's linger for the last acks. */
	zmq_ctx_term(d->zmq_ctx);
	service_destroy(&d->service);
	event_free(d->sigterm);
	event_free(d->sigint);
	event_free(d->sighup);
	event_base_free(d->base);
	store_close(&d->store);
	store_lock_release(&d->lock);
	log_flush_suppressed(true);
	log_info("stopped cleanly");
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "set", required_argument, NULL, 's' },
		{ "print-config", no_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct daemon d = { 0 };
	char *sets[64];
	int n_sets = 0, ch;
	bool print = false, loop_failed;
	enum log_level level;
	char err[768];

	log_init("commissiond", LOG_LEVEL_INFO);
	sighup_hold(true); /* until its handler is in place */
	while ((ch = getopt_long(argc, argv, "c:s:ph", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			d.config_path = optarg;
			break;
		case 's':
			if (n_sets == (int)(sizeof(sets) / sizeof(sets[0])))
				fatal("too many --set options (at most 64)");
			sets[n_sets++] = optarg;
			break;
		case 'p':
			print = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (config_read(&d.cfg, d.config_path, sets, n_sets, err, sizeof(err)) < 0)
		fatal("config: %s", err);
	d.sets = sets;
	d.n_sets = n_sets;
	if (print) {
		config_print(&d.cfg, stdout);
		return 0;
	}
	if (log_level_parse(d.cfg.log_level, &level) == 0)
		log_set_level(level);
	if (sodium_init() < 0)
		fatal("libsodium failed to initialise");
	/* Others never get at what it makes (ipc:// sockets); the group gets
	 * what the umask it was given allows (the unit's UMask). The store is
	 * 0700 and 0600 whatever the umask (store.c). */
	umask(umask(0) | 007);
	/* The keys are read first: they may be readable by root only. */
	if ((d.zap = zap_load(&d.cfg, err, sizeof(err))) == NULL)
		fatal("%s", err);
	if (privilege_settle(&d.cfg, err, sizeof(err)) < 0)
		fatal("%s", err);
	/* A subscriber or adapter that goes away must not kill the daemon. */
	signal(SIGPIPE, SIG_IGN);

	daemon_start(&d);
	loop_failed = loop_run(d.base) < 0;
	daemon_stop(&d);
	return d.store_unusable || loop_failed ? EXIT_FAILURE : 0;
}
