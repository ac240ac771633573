/*
 * publish: the PUB socket. Owns it; sends [topic][Update] without blocking.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "commissiond.h"
#include "log.h"

#define PUBLISH_SUBSCRIPTION_MAX_BYTES 4096

struct publish {
	void *socket;
	uint64_t sent;
	uint64_t dropped;
};

struct publish *
publish_new(void *zmq_ctx, const struct config *cfg, const struct zap *zap, char *err,
    size_t errlen)
{
	struct publish *pub = calloc(1, sizeof(*pub));
	int hwm = (int)cfg->publish_high_water_mark, linger = 0;
	/* What subscribers send is subscriptions (a topic prefix): a larger
	 * frame is no subscription, and is cut off before it takes memory. */
	int64_t max_frame = PUBLISH_SUBSCRIPTION_MAX_BYTES;

	if (pub == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pub->socket = zmq_socket(zmq_ctx, ZMQ_PUB);
	if (pub->socket == NULL ||
	    zmq_setsockopt(pub->socket, ZMQ_SNDHWM, &hwm, sizeof(hwm)) < 0 ||
	    zmq_setsockopt(pub->socket, ZMQ_LINGER, &linger, sizeof(linger)) < 0 ||
	    zmq_setsockopt(pub->socket, ZMQ_MAXMSGSIZE, &max_frame, sizeof(max_frame)) < 0 ||
	    zap_bind(zap, pub->socket, ZAP_DOMAIN_SUBSCRIBE, cfg->publish_endpoint) < 0) {
		snprintf(err, errlen, "publish: cannot bind %s: %s", cfg->publish_endpoint,
		    zmq_strerror(zmq_errno()));
		if (pub->socket != NULL)
			zmq_close(pub->socket);
		free(pub);
		return NULL;
	}
	return pub;
}

void
publish_destroy(struct publish **pubp)
{
	struct publish *pub = *pubp;

	if (pub == NULL)
		return;
	zmq_close(pub->socket);
	free(pub);
	*pubp = NULL;
}

void
publish_send(struct publish *pub, const char *topic, const uint8_t *update, size_t len)
{
	/* PUB never blocks: at the high-water mark a message is dropped for
	 * that subscriber, which sees the gap in sequence numbers. */
	if (zmq_send(pub->socket, topic, strlen(topic), ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
	    zmq_send(pub->socket, update, len, ZMQ_DONTWAIT) < 0) {
		pub->dropped++;
		return;
	}
	pub->sent++;
}

uint64_t
publish_sent_count(const struct publish *pub)
{
	return pub->sent;
}
