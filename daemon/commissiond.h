/*
 * commissiond.h: the daemon's modules and what they share. Read this first:
 * main wires a libevent loop to three ZeroMQ sockets (ingest, publish,
 * replay) and the store.
 */
#ifndef COMMISSIOND_H
#define COMMISSIOND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "commissioning.pb-c.h"
#include "clock.h"
#include "config.h"
#include "projections.h"
#include "state.h"
#include "store.h"
#include "zwatch.h"

struct ingest;

/* ---- zap.c: CURVE on the daemon's sockets when [curve] server_key_file is
 * set, and the ZAP handler admitting only the client keys of each socket's
 * allow-list: "ingest" may send, "subscribe" may read (docs/SECURITY.md). */
enum zap_domain { ZAP_DOMAIN_INGEST, ZAP_DOMAIN_SUBSCRIBE };
struct zap;
struct metrics;
/* Read the server key pair and the allow-lists (before privileges are
 * dropped: the key may be root's). Plain when no key is configured. */
struct zap *zap_load(const struct config *cfg, char *err, size_t errlen);
/* Bind the ZAP handler in zmq_ctx, before any CURVE socket binds; each
 * decision is counted in metrics. */
int zap_start(struct zap *zap, struct event_base *base, void *zmq_ctx, struct metrics *metrics,
    char *err, size_t errlen);
/* Make socket a CURVE server of domain (when on) and bind it to endpoint;
 * a plain endpoint other hosts can reach is logged as a warning. -1 with
 * zmq_errno() set. */
int zap_bind(const struct zap *zap, void *socket, enum zap_domain domain, const char *endpoint);
/* SIGHUP: read cfg's allow-lists again; a broken one keeps the running one. */
void zap_reload(struct zap *zap, const struct config *cfg);
bool zap_enabled(const struct zap *zap);
void zap_destroy(struct zap **zap);

/* ---- privilege.c: who the daemon runs as. */
/* Refuse root unless [daemon] user names the account to switch to (it
 * switches, for good) or [daemon] allow_root is yes. -1 with err. */
int privilege_settle(const struct config *cfg, char *err, size_t errlen);
/* The account [daemon] user names is one to run as: not root, and not of
 * root's group. 0, or -1 with err. */
struct passwd;
int privilege_check_account(const struct passwd *pw, char *err, size_t errlen);

/* ---- metrics.c: counters and histograms, rendered for Prometheus. */
struct metrics;
struct evbuffer;
struct metrics_gauges {
	uint64_t last_sequence, last_update_sequence, store_used_bytes, store_map_bytes;
	uint64_t dead_letters, duplicates, refusing_input, stream_clients;
	uint64_t histories_read, figures_folds, figures_readings, figures_reading_slices;
	uint64_t totals_as_of_seconds, totals_steps, totals_catching_up;
	uint64_t batches_pruned; /* updates the batches dropped (store_batches_pruned) */
};
struct metrics *metrics_new(void);
void metrics_destroy(struct metrics **m);
void metrics_count_event(struct metrics *m, const char *source, const char *kind,
    const char *status);
void metrics_observe_batch(struct metrics *m, size_t size, double commit_seconds);
/* The store's commit of a batch alone (store_batch_commit), for each batch
 * that reached it. */
void metrics_observe_sync(struct metrics *m, double seconds);
void metrics_observe_ack_latency(struct metrics *m, double seconds);
void metrics_count_http(struct metrics *m, const char *route, int status);
void metrics_count_replay(struct metrics *m);
void metrics_count_published(struct metrics *m, uint64_t n);
void metrics_count_map_grown(struct metrics *m);
void metrics_count_stream_dropped(struct metrics *m);
/* One CURVE handshake decided by ZAP on domain ("ingest", "subscribe" or
 * "unknown"). */
void metrics_count_zap(struct metrics *m, const char *domain, bool admitted);
/* One retention transaction and what it removed. */
void metrics_count_pruned(struct metrics *m, uint64_t updates, uint64_t dead_letters);
void metrics_count_stale_readers(struct metrics *m, uint64_t cleared);
void metrics_render(const struct metrics *m, const struct metrics_gauges *g,
    struct evbuffer *out);

/* ---- publish.c: the PUB socket, frames [topic][Update]. */
struct publish;
struct publish *publish_new(void *zmq_ctx, const struct config *cfg, const struct zap *zap,
    char *err, size_t errlen);
void publish_destroy(struct publish **pub);
/* Send one packed Update under topic; never blocks (PUB drops at its HWM
 * and the subscriber heals the gap from replay). */
void publish_send(struct publish *pub, const char *topic, const uint8_t *update, size_t len);
uint64_t publish_sent_count(const struct publish *pub);

/* ---- live.c: what the daemon keeps in memory (the tallies of flow and
 * delayed discharges, the picture of the small kinds of thing) so that
 * updates carry their place's figures as of the commit. */
struct live;
struct live *live_new(struct store *store, char *err, size_t errlen);
void live_destroy(struct live **live);
/* A batch: begin (the tallies move to as_of_ms), note the alerts before
 * the first governance change, apply each event with live_context, flush,
 * ask for figures, end (or fail, and it reloads). */
enum store_result live_batch_begin(struct live *live, struct store_batch *batch,
    int64_t as_of_ms);
/* Are the tallies far enough behind the clock (a long stop, a long quiet)
 * that live_catch_up should bring them on before the next batch? */
bool live_behind(const struct live *live, int64_t now_ms);
/* Move the tallies towards now_ms in a batch of their own, committed (not
 * written when no timer was due): one step of at most about a thousand
 * timers, so that the loop runs between steps. A failure is logged, and
 * the tallies are no longer taken as behind (a batch moves them at once). */
enum store_result live_catch_up(struct live *live, int64_t now_ms);
/* For the metrics: the tallies' as-of, the steps of live_catch_up that
 * moved timers since start, and whether ingest waits for it to catch up. */
void live_running_totals(const struct live *live, int64_t *as_of_ms, uint64_t *steps,
    bool *catching_up);
const struct state_context *live_context(struct live *live);
/* Note the conflict alerts before the batch's first governance change;
 * out of memory they stay unknown, and its updates leave out the alerts
 * raised and cleared. A history state_apply writes that the picture could
 * not take for want of memory fails the batch (live_batch_flush answers
 * STORE_FAILED: its updates would be cut from a picture short of it) and
 * has the picture read again. */
void live_note_alerts(struct live *live);
enum store_result live_batch_flush(struct live *live);
/* The place's figures as JSON text, valid until the next call or the
 * batch's end; NULL when out of memory. persons: whose delayed-discharge
 * cases a discharges place carries (state_change's). */
const char *live_place_figures(struct live *live, const char *area, const char *icb, const char *code,
    const Commissioning__Envelope *env, const char (*persons)[65], int n_persons);
void live_batch_end(struct live *live);
void live_batch_failed(struct live *live);
/*
 * An area's figures as of as_of_ms, as committed (a new reference), or NULL
 * when they cannot be worked out: one area of the HTTP API, never "all"
 * (the whole picture is commissionctl show's, outside the daemon), and
 * never one that live_figures_in_steps says is read in steps. Flow at or
 * after the tallies' as-of comes from a copy of the tallies moved on by
 * the timers due; before it, from the fold kept (a live_reading's).
 */
json_t *live_figures(struct live *live, const char *area, int64_t as_of_ms);

/*
 * A reading of area "discharges" or "flow" as of as_of_ms, in steps: the
 * reading has its own snapshot of the store (a read batch) and of the
 * small kinds, so the loop may commit batches between its steps and the
 * figures stay those of the moment it began. The discharges are read from
 * the ready reports and the indexes of discharges and packages by person,
 * never from every spell; with case_fn, the cases are handed to it one at
 * a time (state_discharges_begin) instead of listed. Flow before the
 * tallies' as-of is a fold of every spell, which, once read, is kept for
 * its as-of until the next batch ends, if none has ended since it began;
 * at or after it, the tallies moved on by the timers due by as_of_ms
 * (state_flow_advance_begin). A reading must end before the store's map
 * moves (store_on_remap).
 *
 * step reads on until the monotonic clock passes until (one spell,
 * person or timer at least): 1 while there is more, 0 when done, -1 when
 * it failed (logged). figures gives the figures once done (a reference the
 * caller owns); last_sequence the last event the snapshot holds; fold
 * whether it is a fold of every spell.
 */
struct live_reading;
enum store_result live_reading_begin(struct live *live, const char *area, int64_t as_of_ms,
    state_case_fn case_fn, void *arg, struct live_reading **reading);
int live_reading_step(struct live_reading *reading, double until);
json_t *live_reading_figures(struct live_reading *reading);
uint64_t live_reading_last_sequence(const struct live_reading *reading);
bool live_reading_fold(const struct live_reading *reading);
void live_reading_end(struct live_reading **reading);
/* Would the figures of area as of as_of_ms fold every spell (flow, before
 * the tallies' as-of, that fold not kept)? */
bool live_figures_fold(const struct live *live, const char *area, int64_t as_of_ms);
/* Are the figures of area as of as_of_ms read in steps (a live_reading),
 * not at once (live_figures)? The discharges always are; flow when it is
 * a fold, or more than a few hundred timers fall due by as_of_ms. */
bool live_figures_in_steps(struct live *live, const char *area, int64_t as_of_ms);
/* How many flow figures have been folded from every spell so far. */
uint64_t live_figures_folds(const struct live *live);

/* ---- stream.c: /api/v1/stream, Server-Sent Events served from the
 * stored updates, each client by its own cursor. */
struct stream;
struct evhttp_request;
struct stream *stream_new(struct event_base *base, const struct config *cfg, struct store *store,
    struct metrics *metrics);
void stream_destroy(struct stream **stream);
/* Start streaming to req the updates after after_seq whose topic starts
 * with prefix; -1 (answer 503) when there are too many clients. */
int stream_add(struct stream *stream, struct evhttp_request *req, uint64_t after_seq,
    const char *prefix);
/* Send every client what has been stored since (after each commit). */
void stream_pump(struct stream *stream);
size_t stream_clients(const struct stream *stream);
/* Tell fn when a stream's connection goes (the stream holds its close
 * callback; the HTTP server counts connections). */
struct evhttp_connection;
void stream_on_connection_close(struct stream *stream,
    void (*fn)(void *arg, struct evhttp_connection *conn), void *arg);

/* ---- http.c: the HTTP API, metrics and dashboard (docs/HTTP.md). */
struct http;
struct http *http_new(struct event_base *base, const struct config *cfg, struct store *store,
    struct live *live, struct ingest *ingest, struct metrics *metrics, struct stream *stream,
    char *err, size_t errlen);
void http_destroy(struct http **http);
/* Apply the limits of cfg as they are now (after a reload). */
int http_reconfigure(struct http *http);

/* ---- ingest.c: the ROUTER of Envelopes and Acks, with group commit. */
struct ingest;
struct housekeeping;
struct ingest *ingest_new(struct event_base *base, void *zmq_ctx, const struct config *cfg,
    const struct zap *zap, struct store *store, struct publish *pub, struct live *live,
    struct housekeeping *hk, struct metrics *metrics, char *err, size_t errlen);
/* Call fn(arg) after every batch is committed, acked and published. */
void ingest_on_committed(struct ingest *ingest, void (*fn)(void *arg), void *arg);
/* Is the store refusing input (a batch answered RETRY_LATER in the last
 * 10 seconds)? */
bool ingest_refusing(const struct ingest *ingest);
/* The commit time of the last batch that stored events (0: none yet). */
int64_t ingest_last_commit_ms(const struct ingest *ingest);
/* Stop reading input; what was read has already been committed and acked. */
void ingest_stop(struct ingest *ingest);
void ingest_destroy(struct ingest **ingest);
/* Apply batch_limit and max_envelope_bytes as they are now (after a
 * reload; between batches). */
int ingest_reconfigure(struct ingest *ingest);

/* ---- replay.c: the ROUTER answering ReplayRequest with ReplayReply. */
struct replay;
struct replay *replay_new(struct event_base *base, void *zmq_ctx, const struct config *cfg,
    const struct zap *zap, struct store *store, struct metrics *metrics, char *err, size_t errlen);
void replay_destroy(struct replay **replay);

/* ---- housekeeping.c: retention, the LMDB reader table, and the running
 * totals kept up with the clock while no event comes, on timers, one
 * small transaction at a time between batches. */
struct housekeeping;
struct housekeeping *housekeeping_new(struct event_base *base, const struct config *cfg,
    struct store *store, struct live *live, struct metrics *metrics);
/* The running totals are behind (live_behind): catch them up now, a
 * committed step a loop turn, and then call fn(arg) once (also when a
 * step fails: the caller's batch then moves them at once). */
void housekeeping_catch_up(struct housekeeping *hk, void (*fn)(void *arg), void *arg);
void housekeeping_destroy(struct housekeeping **hk);
/* The interval or the limits changed (reload). */
void housekeeping_reconfigure(struct housekeeping *hk);

/* ---- service.c: what systemd is told (sd_notify): STATUS= lines, READY=1,
 * the watchdog, STOPPING=1. */
struct service;
struct service *service_new(struct event_base *base, struct store *store);
void service_destroy(struct service **service);
/* Stream clients to count in the periodic STATUS (NULL: none yet). */
void service_watch_stream(struct service *service, struct stream *stream);
void service_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* READY=1: the store is open and every socket is bound. */
void service_ready(struct service *service);
void service_stopping(struct service *service);

/* ---- reload.c: SIGHUP. The file is read again from the defaults, the
 * --set options applied over it, and each setting that changed is applied
 * live or reported as needing a restart. */
struct reload_targets {
	struct config *running;
	const char *config_path;
	char *const *sets;
	int n_sets;
	struct http *http;
	struct ingest *ingest;
	struct store *store;
	struct housekeeping *housekeeping;
	struct zap *zap;
};
void reload_config(const struct reload_targets *t);

#endif
