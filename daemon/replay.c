/*
 * replay: the ROUTER from which a subscriber fetches stored updates from a
 * sequence number on (the Clone pattern's catch-up). Owns the socket. Each
 * request gets one bounded reply; the client asks again until end is set.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "commissiond.h"
#include "log.h"

#define REPLAY_MAX_ROUTE_FRAMES 4
#define REPLAY_REQUEST_MAX_BYTES 4096
/* Requests answered per turn of the loop, so ingest is never starved. */
#define REPLAY_REQUESTS_PER_TURN 16
/* Records looked at per reply when a topic filter skips most of them. */
#define REPLAY_SCAN_FACTOR 64
/* Replies queued for one client that does not read them (more are
 * dropped: it asks again), and requests queued from one client. A client
 * has one request in flight (the Lazy Pirate pattern). */
#define REPLAY_SEND_HIGH_WATER_MARK 8
#define REPLAY_RECEIVE_HIGH_WATER_MARK 64

struct replay {
	void *socket;
	struct zwatch *watch;
	struct store *store;
	struct metrics *metrics;
	const struct config *cfg;
	uint64_t requests;
};

/* The reply is built as bytes: each stored update is already a packed
 * Update, and a repeated message field on the wire is just (tag, length,
 * bytes) per element, so the updates are copied in, never re-encoded. */
struct replay_build {
	ProtobufCBufferSimple out;
	const char *prefix;
	size_t prefix_len;
	uint64_t wanted;
	uint64_t taken;
	bool bad_record;
};

static bool
update_topic_matches(const uint8_t *bytes, size_t len, const char *prefix, size_t prefix_len)
{
	Commissioning__Update *update;
	bool match;

	if (prefix_len == 0)
		return true;
	update = commissioning__update__unpack(NULL, len, bytes);
	if (update == NULL)
		return false;
	match = strncmp(update->topic, prefix, prefix_len) == 0;
	commissioning__update__free_unpacked(update, NULL);
	return match;
}

static int
replay_take(void *arg, uint64_t seq, const uint8_t *bytes, size_t len)
{
	struct replay_build *b = arg;
	uint8_t head[16];
	size_t n = 0;
	uint64_t v = len;

	(void)seq;
	if (!update_topic_matches(bytes, len, b->prefix, b->prefix_len))
		return 0;
	head[n++] = (1 << 3) | 2; /* field 1 (updates), length-delimited */
	do {
		head[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v != 0);
	b->out.base.append(&b->out.base, n, head);
	b->out.base.append(&b->out.base, len, bytes);
	return ++b->taken >= b->wanted;
}

static void
replay_answer(struct replay *replay, const Commissioning__ReplayRequest *req,
    ProtobufCBufferSimple *out)
{
	Commissioning__ReplayReply reply = COMMISSIONING__REPLAY_REPLY__INIT;
	struct store_counts counts;
	struct replay_build b = { .prefix = req->topic_prefix };
	uint64_t from = req->from_sequence == 0 ? 1 : req->from_sequence, next = from;
	enum store_result r;

	b.out = *out;
	b.prefix_len = strlen(req->topic_prefix);
	b.wanted = req->max_updates == 0 || req->max_updates > replay->cfg->replay_max_updates
	    ? replay->cfg->replay_max_updates
	    : req->max_updates;
	r = store_read_counts(replay->store, &counts);
	if (r == STORE_OK)
		r = store_scan_updates(replay->store, from, b.wanted * REPLAY_SCAN_FACTOR,
		    replay_take, &b, &next);
	if (r != STORE_OK) {
		reply.error = (char *)store_error(replay->store);
		log_error("replay: %s", reply.error);
	}
	reply.last_sequence = counts.last_update_sequence;
	reply.first_sequence = counts.first_update_sequence;
	/* The last update is the one counted before the scan began, or later:
	 * either way, past it there is nothing more to send now. */
	reply.next_sequence = next;
	reply.end = r != STORE_OK || next > counts.last_update_sequence;
	protobuf_c_message_pack_to_buffer(&reply.base, &b.out.base);
	*out = b.out;
}

static int
replay_receive(struct replay *replay, zmq_msg_t *route, int *n_route, zmq_msg_t *body)
{
	int more, n = 0;
	size_t len = sizeof(more);

	zmq_msg_init(body);
	if (zmq_msg_recv(body, replay->socket, ZMQ_DONTWAIT) < 0) {
		zmq_msg_close(body);
		return 0;
	}
	for (;;) {
		zmq_getsockopt(replay->socket, ZMQ_RCVMORE, &more, &len);
		if (!more)
			break;
		if (n == REPLAY_MAX_ROUTE_FRAMES) {
			zmq_msg_close(body);
			zmq_msg_init(body);
			zmq_msg_recv(body, replay->socket, 0); /* drain and drop */
			continue;
		}
		zmq_msg_init(&route[n]);
		zmq_msg_move(&route[n], body);
		n++;
		zmq_msg_init(body);
		zmq_msg_recv(body, replay->socket, 0);
	}
	*n_route = n;
	return 1;
}

static void
replay_on_readable(void *arg)
{
	struct replay *replay = arg;

	for (int turn = 0; turn < REPLAY_REQUESTS_PER_TURN; turn++) {
		zmq_msg_t route[REPLAY_MAX_ROUTE_FRAMES], body;
		int n_route = 0;
		Commissioning__ReplayRequest *req = NULL;
		Commissioning__ReplayReply bad = COMMISSIONING__REPLAY_REPLY__INIT;
		uint8_t stack[64];
		ProtobufCBufferSimple out = PROTOBUF_C_BUFFER_SIMPLE_INIT(stack);

		if (replay_receive(replay, route, &n_route, &body) == 0)
			return;
		replay->requests++;
		metrics_count_replay(replay->metrics);
		if (zmq_msg_size(&body) <= REPLAY_REQUEST_MAX_BYTES)
			req = commissioning__replay_request__unpack(NULL, zmq_msg_size(&body),
			    zmq_msg_data(&body));
		if (req == NULL) {
			bad.error = "request: not a commissioning.ReplayRequest";
			bad.end = true;
			protobuf_c_message_pack_to_buffer(&bad.base, &out.base);
		} else {
			replay_answer(replay, req, &out);
			commissioning__replay_request__free_unpacked(req, NULL);
		}
		for (int i = 0; i < n_route; i++) {
			zmq_msg_send(&route[i], replay->socket, ZMQ_SNDMORE | ZMQ_DONTWAIT);
			zmq_msg_close(&route[i]);
		}
		if (n_route > 0 && zmq_send(replay->socket, out.data, out.len, ZMQ_DONTWAIT) < 0)
			log_debug("replay: reply not delivered: %s", zmq_strerror(zmq_errno()));
		PROTOBUF_C_BUFFER_SIMPLE_CLEAR(&out);
		zmq_msg_close(&body);
	}
}

struct replay *
replay_new(struct event_base *base, void *zmq_ctx, const struct config *cfg,
    const struct zap *zap, struct store *store, struct metrics *metrics, char *err, size_t errlen)
{
	struct replay *replay = calloc(1, sizeof(*replay));
	int linger = 0, sndhwm = REPLAY_SEND_HIGH_WATER_MARK,
	    rcvhwm = REPLAY_RECEIVE_HIGH_WATER_MARK;
	/* Larger requests get an error reply; far larger ones are cut off by
	 * ZeroMQ before they take memory. */
	int64_t max_frame = REPLAY_REQUEST_MAX_BYTES * 4;

	if (replay == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	replay->cfg = cfg;
	replay->store = store;
	replay->metrics = metrics;
	replay->socket = zmq_socket(zmq_ctx, ZMQ_ROUTER);
	if (replay->socket == NULL ||
	    zmq_setsockopt(replay->socket, ZMQ_LINGER, &linger, sizeof(linger)) < 0 ||
	    zmq_setsockopt(replay->socket, ZMQ_MAXMSGSIZE, &max_frame, sizeof(max_frame)) < 0 ||
	    zmq_setsockopt(replay->socket, ZMQ_SNDHWM, &sndhwm, sizeof(sndhwm)) < 0 ||
	    zmq_setsockopt(replay->socket, ZMQ_RCVHWM, &rcvhwm, sizeof(rcvhwm)) < 0 ||
	    zap_bind(zap, replay->socket, ZAP_DOMAIN_SUBSCRIBE, cfg->replay_endpoint) < 0) {
		snprintf(err, errlen, "replay: cannot bind %s: %s", cfg->replay_endpoint,
		    zmq_strerror(zmq_errno()));
		goto fail;
	}
	replay->watch = zwatch_new(base, replay->socket, replay_on_readable, replay);
	if (replay->watch == NULL) {
		snprintf(err, errlen, "replay: cannot watch the socket");
		goto fail;
	}
	return replay;
fail:
	if (replay->socket != NULL)
		zmq_close(replay->socket);
	free(replay);
	return NULL;
}

void
replay_destroy(struct replay **replayp)
{
	struct replay *replay = *replayp;

	if (replay == NULL)
		return;
	zwatch_destroy(&replay->watch);
	zmq_close(replay->socket);
	free(replay);
	*replayp = NULL;
}
