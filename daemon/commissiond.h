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
#include "store.h"
#include "zwatch.h"

/* ---- publish.c: the PUB socket, frames [topic][Update]. */
struct publish;
struct publish *publish_new(void *zmq_ctx, const struct config *cfg, char *err, size_t errlen);
void publish_destroy(struct publish **pub);
/* Send one packed Update under topic; never blocks (PUB drops at its HWM
 * and the subscriber heals the gap from replay). */
void publish_send(struct publish *pub, const char *topic, const uint8_t *update, size_t len);
uint64_t publish_sent_count(const struct publish *pub);

/* ---- live.c: the projections' state in memory, kept in step with the
 * store, so that updates carry their place's figures as of the commit. */
struct live;
struct live *live_new(struct store *store, char *err, size_t errlen);
void live_destroy(struct live **live);
/* A batch: begin, note the alerts before any governance change, set each
 * changed history, ask for figures, end (or fail, and it reloads). */
void live_batch_begin(struct live *live, int64_t as_of_ms);
void live_note_alerts(struct live *live);
void live_set(struct live *live, const struct thing_key *key, const uint8_t *bytes, size_t len);
/* The place's figures as JSON text (free it), NULL when out of memory. */
char *live_place_figures(struct live *live, const char *area, const char *icb, const char *code,
    const Commissioning__Envelope *env);
void live_batch_end(struct live *live);
void live_batch_failed(struct live *live);

/* ---- ingest.c: the ROUTER of Envelopes and Acks, with group commit. */
struct ingest;
struct ingest *ingest_new(struct event_base *base, void *zmq_ctx, const struct config *cfg,
    struct store *store, struct publish *pub, struct live *live, char *err, size_t errlen);
/* Stop reading input; what was read has already been committed and acked. */
void ingest_stop(struct ingest *ingest);
void ingest_destroy(struct ingest **ingest);

/* ---- replay.c: the ROUTER answering ReplayRequest with ReplayReply. */
struct replay;
struct replay *replay_new(struct event_base *base, void *zmq_ctx, const struct config *cfg,
    struct store *store, char *err, size_t errlen);
void replay_destroy(struct replay **replay);


#endif
