/*
 * client: delivers an adapter's outbox to commissiond (at least once):
 * a bounded window in flight on a DEALER, resent when not acknowledged in
 * time, settled in the outbox when the daemon answers.
 */
#ifndef CLIENT_H
#define CLIENT_H

#include <stdint.h>

#include <event2/event.h>

#include "curve.h"
#include "outbox.h"

struct client_options {
	const char *endpoint;	/* commissiond's ingest socket */
	uint64_t window;	/* envelopes in flight at most */
	uint64_t resend_ms;	/* not acknowledged in this time: sent again */
	const struct curve_client *curve; /* the keys when commissiond uses CURVE */
};

struct client_stats {
	uint64_t sent, resent, accepted, duplicates, rejected, retry_later, in_flight;
};

struct client;

struct client *client_new(struct event_base *base, void *zmq_ctx, struct outbox *outbox,
    const struct client_options *opt, char *err, size_t errlen);
void client_destroy(struct client **client);

/* New envelopes are in the outbox: send what the window allows. */
void client_kick(struct client *client);

void client_get_stats(const struct client *client, struct client_stats *stats);

#endif
