/*
 * stream: /api/v1/stream, Server-Sent Events of the published updates.
 * Every client is served from the stored updates log by its own cursor, so
 * a resume (Last-Event-ID) and the live feed are one path, and nothing is
 * missed or sent twice. Owns the clients; a client that falls too far
 * behind is dropped with its position rather than buffered without bound.
 */
#include <errno.h>
#include <inttypes.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>

#include "commissiond.h"
#include "log.h"
#include "pbjson.h"

#define STREAM_UPDATES_PER_PUMP 512
#define STREAM_PUMP_MS 200
#define STREAM_PING_S 15
#define STREAM_STALL_MS 2000 /* full and not reading this long: dropped */
#define STREAM_SOCKET_SNDBUF (64 * 1024)
#define STREAM_PREFIX_MAX 256

struct stream_client {
	struct stream *stream;
	struct evhttp_request *req;
	uint64_t next_seq;
	char prefix[STREAM_PREFIX_MAX];
	/* Both on the monotonic clock: the ping and the stall time-out
	 * must not follow the wall clock when it is set. */
	int64_t last_write_ms;
	int64_t full_since_ms; /* its buffer full and not draining since (0: not) */
	size_t full_backlog;
	struct event *leave; /* the socket readable: the client left, or spoke */
	struct stream_client *prev, *next;
};

struct stream {
	struct event_base *base;
	const struct config *cfg;
	struct store *store;
	struct metrics *metrics;
	struct event *tick;
	void (*on_close)(void *arg, struct evhttp_connection *conn);
	void *on_close_arg;
	struct stream_client *clients;
	size_t n_clients;
};

static void
stream_remove(struct stream_client *c)
{
	struct stream *s = c->stream;
	struct evhttp_connection *conn = evhttp_request_get_connection(c->req);

	/* The stream took the connection's close callback: pass it on. */
	if (s->on_close != NULL && conn != NULL)
		s->on_close(s->on_close_arg, conn);

	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		s->clients = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	s->n_clients--;
	if (c->leave != NULL)
		event_free(c->leave);
	free(c);
}

/* End a client's stream ourselves and forget it: the request is done,
 * and with "Connection: close" the connection goes once its bytes are out. */
static void
stream_end(struct stream_client *c)
{
	struct evhttp_connection *conn = evhttp_request_get_connection(c->req);

	if (conn != NULL)
		evhttp_connection_set_closecb(conn, NULL, NULL);
	evhttp_send_reply_end(c->req);
	stream_remove(c);
}

static void
stream_on_readable(evutil_socket_t fd, short what, void *arg)
{
	struct stream_client *c = arg;
	char byte;
	ssize_t n = recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);

	(void)what;
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
		stream_end(c); /* it left */
		return;
	}
	if (n > 0) {
		/* A client has nothing to say on a stream: stop listening
		 * rather than spin; a failed write will tell if it leaves. */
		event_del(c->leave);
	}
}

static void
stream_on_close(struct evhttp_connection *conn, void *arg)
{
	struct stream_client *c = arg;
	struct stream *s = c->stream;

	if (s->on_close != NULL)
		s->on_close(s->on_close_arg, conn);
	/* The client went away mid-stream: evhttp frees a started reply's
	 * request only when told the reply is over. */
	evhttp_send_reply_end(c->req);
	stream_remove(c);
}

struct stream_batch {
	struct stream_client *c;
	struct evbuffer *out;
	size_t sent;
	size_t room; /* bytes this pump may add before the client's buffer is full */
};

static int
stream_write_update(void *arg, uint64_t seq, const uint8_t *bytes, size_t len)
{
	struct stream_batch *b = arg;
	Commissioning__Update *update = commissioning__update__unpack(NULL, len, bytes);
	json_t *json;
	char *text;

	if (update == NULL)
		return 0;
	if (strncmp(update->topic, b->c->prefix, strlen(b->c->prefix)) == 0) {
		json = pbjson_from_message(&update->base);
		text = json ? json_dumps(json, JSON_COMPACT) : NULL;
		if (text != NULL) {
			evbuffer_add_printf(b->out, "id: %" PRIu64 "\nevent: update\ndata: %s\n\n", seq,
			    text);
			b->sent++;
		}
		free(text);
		json_decref(json);
	}
	commissioning__update__free_unpacked(update, NULL);
	/* Never fill a client's buffer past its bound: the rest stays in
	 * the store until it has read. */
	return evbuffer_get_length(b->out) >= b->room;
}

/* Bytes waiting to go out to the client. */
static size_t
stream_backlog(struct stream_client *c)
{
	struct evhttp_connection *conn = evhttp_request_get_connection(c->req);
	struct bufferevent *bev = conn ? evhttp_connection_get_bufferevent(conn) : NULL;

	return bev ? evbuffer_get_length(bufferevent_get_output(bev)) : 0;
}

/* The oldest update the store keeps (0 when none was ever stored, or it
 * cannot be read). */
static uint64_t
stream_first_kept(struct stream *s)
{
	struct store_counts counts = { 0 };

	if (store_read_counts(s->store, &counts) != STORE_OK)
		return 0;
	return counts.first_update_sequence;
}

/* Send the client what is stored past its cursor, a bounded amount;
 * first is the oldest update kept. */
static void
stream_pump_client(struct stream_client *c, int64_t now_ms, uint64_t first)
{
	struct stream *s = c->stream;
	struct stream_batch b = { c, evbuffer_new(), 0, 0 };
	uint64_t next = c->next_seq;
	size_t backlog = stream_backlog(c), bound = s->cfg->http_sse_buffer_bytes;

	if (b.out == NULL)
		return;
	if (backlog >= bound) {
		/* Full: wait for it to read. One that reads nothing for a while
		 * is dropped with where to resume, so a stalled client holds
		 * neither memory nor a place for ever. */
		if (backlog < c->full_backlog || c->full_since_ms == 0) {
			c->full_since_ms = now_ms;
			c->full_backlog = backlog;
		}
		if (now_ms - c->full_since_ms >= STREAM_STALL_MS) {
			evbuffer_add_printf(b.out,
			    "event: dropped\ndata: {\"resume_after\":%" PRIu64 "}\n\n", c->next_seq - 1);
			evhttp_send_reply_chunk(c->req, b.out);
			metrics_count_stream_dropped(s->metrics);
			log_info("stream: dropped a client that read nothing for %d ms; it may resume "
				 "after %" PRIu64, STREAM_STALL_MS, c->next_seq - 1);
			stream_end(c);
		}
		evbuffer_free(b.out);
		return;
	}
	c->full_since_ms = 0;
	b.room = bound - backlog;
	/* Updates the client is owed that retention has pruned (it resumed
	 * after an id older than the oldest kept, or reads slower than the
	 * store prunes) are said, not skipped: with a topic filter it could
	 * not tell the jump in ids from updates filtered out. */
	if (first > c->next_seq) {
		evbuffer_add_printf(b.out,
		    "event: gap\ndata: {\"from\":%" PRIu64 ",\"to\":%" PRIu64 "}\n\n", c->next_seq,
		    first - 1);
		log_info("stream: a client is owed updates %" PRIu64 " to %" PRIu64
			 ", past retention: told so",
		    c->next_seq, first - 1);
		c->next_seq = first;
	}
	if (store_scan_updates(s->store, c->next_seq, STREAM_UPDATES_PER_PUMP, stream_write_update,
		&b, &next) == STORE_OK)
		c->next_seq = next > c->next_seq ? next : c->next_seq;
	if (b.sent == 0 && now_ms - c->last_write_ms >= STREAM_PING_S * 1000)
		evbuffer_add_printf(b.out, ": ping\n\n");
	if (evbuffer_get_length(b.out) > 0) {
		evhttp_send_reply_chunk(c->req, b.out);
		c->last_write_ms = now_ms;
	}
	evbuffer_free(b.out);
}

/* Let go of the store's pages the reads mapped, once a pump: looking costs
 * a read of /proc, not to be paid per client. */
static void
stream_bound_mapped(struct stream *s)
{
	if (store_bound_mapped(s->store) != STORE_OK)
		log_warning("stream: %s", store_error(s->store));
}

void
stream_pump(struct stream *s)
{
	int64_t now = clock_monotonic_ms();
	struct stream_client *c = s->clients, *next;
	bool pumped = false;
	uint64_t first = s->clients != NULL ? stream_first_kept(s) : 0;

	for (; c != NULL; c = next) {
		next = c->next; /* a dropped client goes away on its close */
		/* A connection that failed while streaming leaves its request
		 * detached (libevent 2.1): end it here if the close did not. */
		if (evhttp_request_get_connection(c->req) == NULL) {
			stream_end(c);
			continue;
		}
		stream_pump_client(c, now, first);
		pumped = true;
	}
	if (pumped)
		stream_bound_mapped(s);
}

static void
stream_on_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	stream_pump(arg);
}

int
stream_add(struct stream *s, struct evhttp_request *req, uint64_t after_seq, const char *prefix)
{
	struct stream_client *c;
	struct evkeyvalq *headers = evhttp_request_get_output_headers(req);
	uint64_t first;

	if (s->n_clients >= s->cfg->http_sse_max_clients)
		return -1;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -1;
	c->stream = s;
	c->req = req;
	/* No sequence follows UINT64_MAX: wait for ever rather than wrap to
	 * the first (http refuses it before this). */
	c->next_seq = after_seq == UINT64_MAX ? UINT64_MAX : after_seq + 1;
	/* No id to resume after: from the oldest kept, nothing owed. */
	first = stream_first_kept(s);
	if (after_seq == 0 && first > c->next_seq)
		c->next_seq = first;
	snprintf(c->prefix, sizeof(c->prefix), "%s", prefix);
	c->last_write_ms = clock_monotonic_ms();
	c->next = s->clients;
	if (s->clients != NULL)
		s->clients->prev = c;
	s->clients = c;
	s->n_clients++;
	evhttp_add_header(headers, "Content-Type", "text/event-stream");
	evhttp_add_header(headers, "Cache-Control", "no-store");
	evhttp_add_header(headers, "Connection", "close");
	evhttp_send_reply_start(req, 200, "OK");
	evhttp_connection_set_closecb(evhttp_request_get_connection(req), stream_on_close, c);
	/* A stream is quiet between updates: its pings keep it, not the
	 * request time-out, which would close it. */
	bufferevent_set_timeouts(
	    evhttp_connection_get_bufferevent(evhttp_request_get_connection(req)), NULL, NULL);
	/* The kernel's send buffer would otherwise absorb megabytes for a
	 * client that reads nothing, out of sight of the bound below. */
	{
		int fd = bufferevent_getfd(
		    evhttp_connection_get_bufferevent(evhttp_request_get_connection(req)));
		int sndbuf = STREAM_SOCKET_SNDBUF;
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	}
	/* Watch the socket for the client leaving (EOF), so that its place
	 * frees at once rather than at the next write that fails. */
	c->leave = event_new(s->base,
	    bufferevent_getfd(evhttp_connection_get_bufferevent(evhttp_request_get_connection(req))),
	    EV_READ | EV_PERSIST, stream_on_readable, c);
	if (c->leave != NULL)
		event_add(c->leave, NULL);
	stream_pump_client(c, c->last_write_ms, first);
	stream_bound_mapped(s);
	return 0;
}

size_t
stream_clients(const struct stream *s)
{
	return s->n_clients;
}

struct stream *
stream_new(struct event_base *base, const struct config *cfg, struct store *store,
    struct metrics *metrics)
{
	struct stream *s = calloc(1, sizeof(*s));
	struct timeval every = { 0, STREAM_PUMP_MS * 1000 };

	if (s == NULL)
		return NULL;
	s->base = base;
	s->cfg = cfg;
	s->store = store;
	s->metrics = metrics;
	s->tick = event_new(base, -1, EV_PERSIST, stream_on_tick, s);
	if (s->tick == NULL || event_add(s->tick, &every) < 0) {
		if (s->tick != NULL)
			event_free(s->tick);
		free(s);
		return NULL;
	}
	return s;
}

void
stream_destroy(struct stream **sp)
{
	struct stream *s = *sp;

	if (s == NULL)
		return;
	/* The connections are freed with the HTTP server; forget them. */
	while (s->clients != NULL) {
		struct evhttp_connection *conn = evhttp_request_get_connection(s->clients->req);
		if (conn != NULL)
			evhttp_connection_set_closecb(conn, NULL, NULL);
		stream_remove(s->clients);
	}
	event_free(s->tick);
	free(s);
	*sp = NULL;
}

void
stream_on_connection_close(struct stream *s, void (*fn)(void *arg, struct evhttp_connection *conn),
    void *arg)
{
	s->on_close = fn;
	s->on_close_arg = arg;
}
