/*
 * replay: the ROUTER from which a subscriber fetches stored updates from a
 * sequence number on (the Clone pattern's catch-up). Owns the socket and
 * the streams. Each request gets one bounded reply, and the client asks
 * again until end is set; or it opens a stream with credit, and the
 * replies come back to back, one per unit of credit it grants.
 */
#include <inttypes.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "commissiond.h"
#include "log.h"
#include "pbwire.h"

#define REPLAY_MAX_ROUTE_FRAMES 4
/* The routing frames of a request, kept to answer it (and its stream):
 * a ZeroMQ routing id is at most 255 bytes. Requests with more are
 * dropped unanswered. */
#define REPLAY_ROUTE_MAX_BYTES 1024
#define REPLAY_REQUEST_MAX_BYTES 4096
/* Requests answered, and stream replies sent, per turn of the loop, so
 * ingest is never starved: a reply is at most [replay] max_updates. */
#define REPLAY_REQUESTS_PER_TURN 16
#define REPLAY_STREAM_REPLIES_PER_TURN 4
/* Records looked at per reply when a topic filter skips most of them. */
#define REPLAY_SCAN_FACTOR 64
/* A reply takes no more updates once it holds this many bytes of them (it
 * always takes one): an update may be as large as an envelope, so
 * max_updates of them would be gigabytes, built, kept (the reply buffer
 * keeps the size of the largest) and queued for every client. */
#define REPLAY_REPLY_MAX_BYTES (4u << 20)
/* Replies queued for one client that does not read them (more are
 * dropped: it asks again, and its stream is closed), and requests queued
 * from one client. A client has one request in flight (the Lazy Pirate
 * pattern), or a stream with at most REPLAY_MAX_CREDIT replies unread. */
#define REPLAY_SEND_HIGH_WATER_MARK 16
#define REPLAY_RECEIVE_HIGH_WATER_MARK 64
/* Streams (credit-based flow control, the ZeroMQ guide's chapter 7): the
 * replies one stream may have granted and not yet read, and the streams
 * open at once (one per connection; the least recently served is closed
 * to open another). */
#define REPLAY_MAX_CREDIT 8
#define REPLAY_MAX_STREAMS 64
/* A reply this large is handed to ZeroMQ, not copied into its message;
 * the buffers ZeroMQ has sent are kept for the next replies, this many. */
#define REPLAY_HAND_OVER_BYTES 65536
#define REPLAY_POOL_BUFFERS 8

struct replay_route {
	int n;
	size_t len[REPLAY_MAX_ROUTE_FRAMES];
	size_t bytes_len;
	uint8_t bytes[REPLAY_ROUTE_MAX_BYTES];
};

/* One connection's stream: where it is, what it asked for, and how many
 * replies it may still be sent before it grants more. */
struct replay_stream {
	bool open;
	struct replay_route route;
	char *prefix;
	uint64_t next;
	uint32_t max_updates;
	uint32_t credit;
	uint64_t last_served;
};

struct replay {
	void *socket;
	struct zwatch *watch;
	struct event *pump;
	struct store *store;
	struct metrics *metrics;
	const struct config *cfg;
	uint64_t requests;
	uint64_t clock;
	size_t next_stream;
	/* Each reply is built here; it keeps the size of the largest reply. */
	ProtobufCBufferSimple out;
	uint8_t out_first[4096];
	struct replay_pool *pool;
	struct replay_stream streams[REPLAY_MAX_STREAMS];
};

/* The reply is built as bytes: each stored update is already a packed
 * Update, and a repeated message field on the wire is just (tag, length,
 * bytes) per element, so the updates are copied in, never re-encoded. */
struct replay_build {
	ProtobufCBuffer *out;
	const char *prefix;
	size_t prefix_len;
	uint64_t wanted;
	uint64_t taken;
	size_t bytes; /* of the updates taken */
};

static bool
update_topic_matches(const uint8_t *bytes, size_t len, const char *prefix, size_t prefix_len)
{
	const uint8_t *topic;
	size_t topic_len;

	if (prefix_len == 0)
		return true;
	/* Read off the wire (pbwire.h): unpacking the update, its figures or
	 * its envelope, for each record a filtered reply looks at (64 x
	 * max_updates) held the loop for seconds. */
	return pbwire_bytes(bytes, len, 2, &topic, &topic_len) >= 0 && topic_len >= prefix_len &&
	    memcmp(topic, prefix, prefix_len) == 0;
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
	b->out->append(b->out, n, head);
	b->out->append(b->out, len, bytes);
	b->bytes += n + len;
	return ++b->taken >= b->wanted || b->bytes >= REPLAY_REPLY_MAX_BYTES;
}

/* Build in replay->out the reply for up to max_updates updates from
 * `from` on whose topic starts with prefix; *end when it holds the newest. */
static void
replay_answer(struct replay *replay, uint64_t from, const char *prefix, uint32_t max_updates,
    bool streamed, uint64_t *next, bool *end)
{
	Commissioning__ReplayReply reply = COMMISSIONING__REPLAY_REPLY__INIT;
	struct store_counts counts = { 0 };
	struct replay_build b = { .out = &replay->out.base, .prefix = prefix };
	enum store_result r;

	if (from == 0)
		from = 1;
	*next = from;
	replay->out.len = 0;
	b.prefix_len = strlen(prefix);
	b.wanted = max_updates == 0 || max_updates > replay->cfg->replay_max_updates
	    ? replay->cfg->replay_max_updates
	    : max_updates;
	r = store_read_counts(replay->store, &counts);
	if (r == STORE_OK)
		r = store_scan_updates(replay->store, from, b.wanted * REPLAY_SCAN_FACTOR,
		    replay_take, &b, next);
	if (r != STORE_OK) {
		reply.error = (char *)store_error(replay->store);
		log_error("replay: %s", reply.error);
	}
	reply.last_sequence = counts.last_update_sequence;
	reply.first_sequence = counts.first_update_sequence;
	/* The last update is the one counted before the scan began, or later:
	 * either way, past it there is nothing more to send now. */
	reply.next_sequence = *next;
	reply.streamed = streamed;
	reply.end = *end = r != STORE_OK || *next > counts.last_update_sequence;
	protobuf_c_message_pack_to_buffer(&reply.base, &replay->out.base);
	/* A catch-up reads the store end to end: its pages must not stay
	 * mapped and grow the RSS with it. */
	if (store_bound_mapped(replay->store) != STORE_OK)
		log_warning("replay: %s", store_error(replay->store));
}

/* Reply buffers handed to ZeroMQ come back here once it has sent them
 * (from its I/O thread, hence the lock), to build the next replies in: a
 * fresh megabyte for each reply would be fresh pages, faulted in and
 * zeroed, every time. At most REPLAY_POOL_BUFFERS are kept. The pool
 * lives until the replay and every buffer out with ZeroMQ let it go. */
struct replay_pool {
	pthread_mutex_t lock;
	int refs;
	size_t n;
	uint8_t *free[REPLAY_POOL_BUFFERS];
};

static struct replay_pool *
replay_pool_new(void)
{
	struct replay_pool *pool = calloc(1, sizeof(*pool));

	if (pool == NULL)
		return NULL;
	if (pthread_mutex_init(&pool->lock, NULL) != 0) {
		free(pool);
		return NULL;
	}
	pool->refs = 1;
	return pool;
}

static void
replay_pool_hold(struct replay_pool *pool)
{
	pthread_mutex_lock(&pool->lock);
	pool->refs++;
	pthread_mutex_unlock(&pool->lock);
}

/* Let the pool go, with a buffer to keep (or NULL); the last one frees it. */
static void
replay_pool_release(struct replay_pool *pool, uint8_t *buffer)
{
	bool last;

	pthread_mutex_lock(&pool->lock);
	if (buffer != NULL && pool->n < REPLAY_POOL_BUFFERS && pool->refs > 1) {
		pool->free[pool->n++] = buffer;
		buffer = NULL;
	}
	last = --pool->refs == 0;
	pthread_mutex_unlock(&pool->lock);
	free(buffer);
	if (!last)
		return;
	for (size_t i = 0; i < pool->n; i++)
		free(pool->free[i]);
	pthread_mutex_destroy(&pool->lock);
	free(pool);
}

/* ZeroMQ's free function for a reply handed over. */
static void
replay_pool_give_back(void *data, void *hint)
{
	replay_pool_release(hint, data);
}

/* A kept buffer, else a new one of size bytes; its usable size in *got (a
 * kept one may be smaller: the reply's buffer grows as it must). NULL when
 * out of memory. */
static uint8_t *
replay_pool_take(struct replay_pool *pool, size_t size, size_t *got)
{
	uint8_t *buffer = NULL;

	pthread_mutex_lock(&pool->lock);
	if (pool->n > 0)
		buffer = pool->free[--pool->n];
	pthread_mutex_unlock(&pool->lock);
	if (buffer == NULL)
		buffer = malloc(size);
	if (buffer != NULL)
		*got = malloc_usable_size(buffer);
	return buffer;
}

/* Send the reply built in replay->out to the route. With
 * ZMQ_ROUTER_MANDATORY the routing frame fails when the client is gone or
 * its queue is full: nothing is sent. A large reply's buffer is handed to
 * ZeroMQ rather than copied, and another taken from the pool. */
static int
replay_send(struct replay *replay, const struct replay_route *route)
{
	ProtobufCBufferSimple *out = &replay->out;
	const uint8_t *frame = route->bytes;
	uint8_t *fresh = NULL;
	size_t size = 0;
	zmq_msg_t msg;

	if (route->n == 0)
		return -1;
	for (int i = 0; i < route->n; i++) {
		if (zmq_send(replay->socket, frame, route->len[i], ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
			return -1;
		frame += route->len[i];
	}
	if (out->must_free_data && out->len >= REPLAY_HAND_OVER_BYTES)
		fresh = replay_pool_take(replay->pool, out->alloced, &size);
	if (fresh == NULL)
		return zmq_send(replay->socket, out->data, out->len, ZMQ_DONTWAIT) < 0 ? -1 : 0;
	replay_pool_hold(replay->pool);
	if (zmq_msg_init_data(&msg, out->data, out->len, replay_pool_give_back, replay->pool) < 0) {
		replay_pool_release(replay->pool, fresh);
		return zmq_send(replay->socket, out->data, out->len, ZMQ_DONTWAIT) < 0 ? -1 : 0;
	}
	out->data = fresh;
	out->alloced = size;
	out->len = 0;
	if (zmq_msg_send(&msg, replay->socket, ZMQ_DONTWAIT) < 0) {
		zmq_msg_close(&msg); /* the buffer goes back to the pool */
		return -1;
	}
	return 0;
}

static void
replay_send_error(struct replay *replay, const struct replay_route *route, const char *error)
{
	Commissioning__ReplayReply reply = COMMISSIONING__REPLAY_REPLY__INIT;

	reply.error = (char *)error;
	reply.end = true;
	replay->out.len = 0;
	protobuf_c_message_pack_to_buffer(&reply.base, &replay->out.base);
	if (replay_send(replay, route) < 0)
		log_debug("replay: reply not delivered: %s", zmq_strerror(zmq_errno()));
}

/* Read one request: its routing frames into route (route->n is -1 when
 * they do not fit, and the request is to be dropped) and its body. */
static int
replay_receive(struct replay *replay, struct replay_route *route, zmq_msg_t *body)
{
	int more;
	size_t len = sizeof(more);

	route->n = 0;
	route->bytes_len = 0;
	zmq_msg_init(body);
	if (zmq_msg_recv(body, replay->socket, ZMQ_DONTWAIT) < 0) {
		zmq_msg_close(body);
		return 0;
	}
	for (;;) {
		size_t size = zmq_msg_size(body);

		zmq_getsockopt(replay->socket, ZMQ_RCVMORE, &more, &len);
		if (!more)
			break;
		if (route->n >= 0 && route->n < REPLAY_MAX_ROUTE_FRAMES &&
		    size <= sizeof(route->bytes) - route->bytes_len) {
			memcpy(route->bytes + route->bytes_len, zmq_msg_data(body), size);
			route->bytes_len += size;
			route->len[route->n++] = size;
		} else if (route->n != REPLAY_MAX_ROUTE_FRAMES) {
			route->n = -1; /* too large to keep: drop the request */
		}
		/* Frames past the fourth are drained and dropped. */
		zmq_msg_close(body);
		zmq_msg_init(body);
		zmq_msg_recv(body, replay->socket, 0);
	}
	return 1;
}

/* ---- streams */

static void
replay_schedule(struct replay *replay)
{
	static const struct timeval now = { 0, 0 };

	/* A timer, not event_active: timers run after the loop has polled
	 * every socket, so a stream yields to ingest between turns. */
	if (!evtimer_pending(replay->pump, NULL))
		evtimer_add(replay->pump, &now);
}

static struct replay_stream *
replay_stream_find(struct replay *replay, const struct replay_route *route)
{
	for (size_t i = 0; i < REPLAY_MAX_STREAMS; i++) {
		struct replay_stream *s = &replay->streams[i];

		if (s->open && s->route.n == route->n && s->route.bytes_len == route->bytes_len &&
		    memcmp(s->route.len, route->len, sizeof(route->len[0]) * (size_t)route->n) == 0 &&
		    memcmp(s->route.bytes, route->bytes, route->bytes_len) == 0)
			return s;
	}
	return NULL;
}

static void
replay_stream_close(struct replay_stream *s)
{
	free(s->prefix);
	s->prefix = NULL;
	s->open = false;
}

/* The connection's stream, else a free one, else the least recently
 * served one, closed. */
static struct replay_stream *
replay_stream_slot(struct replay *replay, const struct replay_route *route)
{
	struct replay_stream *s = replay_stream_find(replay, route), *oldest = NULL;

	if (s != NULL) {
		replay_stream_close(s);
		return s;
	}
	for (size_t i = 0; i < REPLAY_MAX_STREAMS; i++) {
		s = &replay->streams[i];
		if (!s->open)
			return s;
		if (oldest == NULL || s->last_served < oldest->last_served)
			oldest = s;
	}
	log_info("replay: %d streams open: closing the least recently served", REPLAY_MAX_STREAMS);
	replay_stream_close(oldest);
	return oldest;
}

static void
replay_stream_open(struct replay *replay, const struct replay_route *route,
    const Commissioning__ReplayRequest *req)
{
	char error[128];
	struct replay_stream *s;

	if (req->credit > REPLAY_MAX_CREDIT) {
		snprintf(error, sizeof(error),
		    "credit: at most %d replies may be granted at once, not %" PRIu32,
		    REPLAY_MAX_CREDIT, req->credit);
		replay_send_error(replay, route, error);
		return;
	}
	s = replay_stream_slot(replay, route);
	s->prefix = strdup(req->topic_prefix);
	if (s->prefix == NULL) {
		replay_send_error(replay, route, "out of memory");
		return;
	}
	s->open = true;
	s->route = *route;
	s->next = req->from_sequence;
	s->max_updates = req->max_updates;
	s->credit = req->credit;
	s->last_served = ++replay->clock;
	replay_schedule(replay);
}

static void
replay_stream_grant(struct replay *replay, const struct replay_route *route, uint32_t more)
{
	char error[160];
	struct replay_stream *s = replay_stream_find(replay, route);

	/* The stream ended (or was closed) while the grant was on its way:
	 * the client has had, or will have, the reply with end. */
	if (s == NULL)
		return;
	if (more > REPLAY_MAX_CREDIT - s->credit) {
		snprintf(error, sizeof(error),
		    "more_credit: %" PRIu32 " more would pass %d replies unread (%" PRIu32
		    " granted and not yet sent); the stream is closed",
		    more, REPLAY_MAX_CREDIT, s->credit);
		replay_stream_close(s);
		replay_send_error(replay, route, error);
		return;
	}
	s->credit += more;
	replay_schedule(replay);
}

/* Send the stream its next reply; close it after the end, or when the
 * client is gone or does not read what it was granted. */
static void
replay_stream_serve(struct replay *replay, struct replay_stream *s)
{
	uint64_t next;
	bool end;

	replay_answer(replay, s->next, s->prefix, s->max_updates, true, &next, &end);
	s->last_served = ++replay->clock;
	if (replay_send(replay, &s->route) < 0) {
		log_debug("replay: stream closed, reply not delivered: %s", zmq_strerror(zmq_errno()));
		replay_stream_close(s);
		return;
	}
	s->credit--;
	s->next = next;
	if (end)
		replay_stream_close(s);
}

/* The next stream, round robin, that has a reply to be sent; NULL when
 * none has. */
static struct replay_stream *
replay_stream_due(struct replay *replay)
{
	for (size_t i = 0; i < REPLAY_MAX_STREAMS; i++) {
		size_t at = (replay->next_stream + i) % REPLAY_MAX_STREAMS;
		struct replay_stream *s = &replay->streams[at];

		if (s->open && s->credit > 0) {
			replay->next_stream = (at + 1) % REPLAY_MAX_STREAMS;
			return s;
		}
	}
	return NULL;
}

/* One turn of the streams: a few replies, round robin, then yield to the
 * loop; the timer brings the next turn. */
static void
replay_pump(evutil_socket_t fd, short what, void *arg)
{
	struct replay *replay = arg;

	(void)fd;
	(void)what;
	for (int sent = 0; sent < REPLAY_STREAM_REPLIES_PER_TURN; sent++) {
		struct replay_stream *s = replay_stream_due(replay);

		if (s == NULL)
			break;
		replay_stream_serve(replay, s);
		if (sent + 1 == REPLAY_STREAM_REPLIES_PER_TURN)
			replay_schedule(replay);
	}
	/* Sending may have taken in requests and reset the edge of ZMQ_FD:
	 * look for them, or they would wait for the next one. */
	zwatch_kick(replay->watch);
}

/* ---- requests */

static void
replay_handle(struct replay *replay, const struct replay_route *route,
    const Commissioning__ReplayRequest *req)
{
	uint64_t next;
	bool end;

	if (req->credit != 0 && req->more_credit != 0) {
		replay_send_error(replay, route, "credit and more_credit: set one, not both");
	} else if (req->more_credit != 0) {
		replay_stream_grant(replay, route, req->more_credit);
	} else if (req->credit != 0) {
		replay_stream_open(replay, route, req);
	} else {
		replay_answer(replay, req->from_sequence, req->topic_prefix, req->max_updates, false,
		    &next, &end);
		if (replay_send(replay, route) < 0)
			log_debug("replay: reply not delivered: %s", zmq_strerror(zmq_errno()));
	}
}

static void
replay_on_readable(void *arg)
{
	struct replay *replay = arg;

	for (int turn = 0; turn < REPLAY_REQUESTS_PER_TURN; turn++) {
		struct replay_route route;
		zmq_msg_t body;
		Commissioning__ReplayRequest *req = NULL;

		if (replay_receive(replay, &route, &body) == 0)
			return;
		replay->requests++;
		metrics_count_replay(replay->metrics);
		if (route.n < 0) {
			log_debug("replay: a request with routing frames too large, dropped");
			zmq_msg_close(&body);
			continue;
		}
		if (zmq_msg_size(&body) <= REPLAY_REQUEST_MAX_BYTES)
			req = commissioning__replay_request__unpack(NULL, zmq_msg_size(&body),
			    zmq_msg_data(&body));
		if (req == NULL) {
			replay_send_error(replay, &route, "request: not a commissioning.ReplayRequest");
		} else {
			replay_handle(replay, &route, req);
			commissioning__replay_request__free_unpacked(req, NULL);
		}
		zmq_msg_close(&body);
	}
}

struct replay *
replay_new(struct event_base *base, void *zmq_ctx, const struct config *cfg,
    const struct zap *zap, struct store *store, struct metrics *metrics, char *err, size_t errlen)
{
	struct replay *replay = calloc(1, sizeof(*replay));
	int linger = 0, sndhwm = REPLAY_SEND_HIGH_WATER_MARK,
	    rcvhwm = REPLAY_RECEIVE_HIGH_WATER_MARK, mandatory = 1;
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
	replay->out = (ProtobufCBufferSimple)PROTOBUF_C_BUFFER_SIMPLE_INIT(replay->out_first);
	replay->pump = evtimer_new(base, replay_pump, replay);
	replay->pool = replay_pool_new();
	if (replay->pump == NULL || replay->pool == NULL) {
		snprintf(err, errlen, "replay: out of memory");
		goto fail;
	}
	replay->socket = zmq_socket(zmq_ctx, ZMQ_ROUTER);
	if (replay->socket == NULL ||
	    zmq_setsockopt(replay->socket, ZMQ_LINGER, &linger, sizeof(linger)) < 0 ||
	    zmq_setsockopt(replay->socket, ZMQ_MAXMSGSIZE, &max_frame, sizeof(max_frame)) < 0 ||
	    zmq_setsockopt(replay->socket, ZMQ_SNDHWM, &sndhwm, sizeof(sndhwm)) < 0 ||
	    zmq_setsockopt(replay->socket, ZMQ_RCVHWM, &rcvhwm, sizeof(rcvhwm)) < 0 ||
	    zmq_setsockopt(replay->socket, ZMQ_ROUTER_MANDATORY, &mandatory, sizeof(mandatory)) < 0 ||
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
	if (replay->pump != NULL)
		event_free(replay->pump);
	if (replay->pool != NULL)
		replay_pool_release(replay->pool, NULL);
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
	event_free(replay->pump);
	for (size_t i = 0; i < REPLAY_MAX_STREAMS; i++)
		replay_stream_close(&replay->streams[i]);
	PROTOBUF_C_BUFFER_SIMPLE_CLEAR(&replay->out);
	zmq_close(replay->socket);
	/* Buffers still queued in ZeroMQ come back when the context ends. */
	replay_pool_release(replay->pool, NULL);
	free(replay);
	*replayp = NULL;
}
